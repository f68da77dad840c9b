//! Grafana's credential string formats and stored hashes.
//!
//! keyshift must cope with both kinds of credential a real Grafana hands out: legacy API keys
//! (base64 of a small JSON document, reference §3.4) and service-account tokens (`glsa_…` with
//! a CRC32 checksum, §6.4). The simulator produces and checks exactly those formats so a
//! client that mangles or mis-parses them is caught here rather than in production.

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lru::LruCache;
use rand::Rng;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const PBKDF2_ROUNDS: u32 = 10_000;
const PBKDF2_OUTPUT_BYTES: usize = 50;
const SECRET_LENGTH: usize = 32;
const TOKEN_PREFIX: &str = "glsa_";

/// Random 32-character `[0-9A-Za-z]` secret, the shape both credential formats embed.
pub fn random_secret(rng: &mut impl Rng) -> String {
    rng.sample_iter(Alphanumeric)
        .take(SECRET_LENGTH)
        .map(char::from)
        .collect()
}

/// PBKDF2 hashes computed by this process, and the nanoseconds spent in them.
static HASHES_COMPUTED: AtomicU64 = AtomicU64::new(0);
static HASHING_NANOS: AtomicU64 = AtomicU64::new(0);

/// What the simulator's own PBKDF2 hashing (Grafana's 10,000 rounds per stored credential
/// and per new credential presented) has cost this process so far: a benchmark of keyshift
/// against the simulator subtracts it to tell keyshift's time from the simulator's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HashingCost {
    /// Hashes computed (cache hits are free and not counted).
    pub hashes: u64,
    /// CPU seconds spent computing them, summed over threads.
    pub seconds: f64,
}

impl HashingCost {
    /// The process's totals so far.
    pub fn so_far() -> Self {
        Self {
            hashes: HASHES_COMPUTED.load(Ordering::Relaxed),
            seconds: HASHING_NANOS.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }

    /// What was spent between `earlier` and `self`.
    pub fn since(self, earlier: Self) -> Self {
        Self {
            hashes: self.hashes.saturating_sub(earlier.hashes),
            seconds: (self.seconds - earlier.seconds).max(0.0),
        }
    }
}

/// This thread's CPU time in nanoseconds: what a hash costs, whatever else the machine runs
/// (wall time would count the moments another thread held the core).
fn thread_cpu_nanos() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec, and CLOCK_THREAD_CPUTIME_ID exists on
    // every Linux and macOS the simulator builds for; on failure `now` stays zero.
    let _ = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    let seconds = u64::try_from(now.tv_sec).unwrap_or_default();
    let nanos = u64::try_from(now.tv_nsec).unwrap_or_default();
    seconds.saturating_mul(1_000_000_000).saturating_add(nanos)
}

/// Lowercase-hex PBKDF2-HMAC-SHA256 as Grafana's `EncodePassword` computes it.
pub fn encode_password(password: &str, salt: &str) -> String {
    let started = thread_cpu_nanos();
    let mut output = [0u8; PBKDF2_OUTPUT_BYTES];
    pbkdf2::pbkdf2_hmac::<Sha256>(
        password.as_bytes(),
        salt.as_bytes(),
        PBKDF2_ROUNDS,
        &mut output,
    );
    let nanos = thread_cpu_nanos().saturating_sub(started);
    HASHES_COMPUTED.fetch_add(1, Ordering::Relaxed);
    HASHING_NANOS.fetch_add(nanos, Ordering::Relaxed);
    hex::encode(output)
}

/// How many hashes [`HashCache`] keeps: far more than any fleet seeds or a test issues, and a
/// bound on what a client presenting endless wrong credentials can make the process hold
/// (each entry is about 200 bytes, so under a megabyte at most).
const HASH_CACHE_CAPACITY: usize = 4096;

/// Memoises [`encode_password`]: 10 000 PBKDF2 rounds per request would make every
/// authenticated call slow in debug builds, and tests reuse the same few credentials (fleet
/// secrets are seeded, so every simulator in a test process shares them: see [`HashCache::global`]).
/// Keyed by a SHA-256 digest of the inputs so the cache never holds a plaintext secret.
/// Least-recently-used entries are dropped beyond its capacity, so wrong credentials (which
/// are hashed too, before the lookup that rejects them) cannot grow it without limit.
pub struct HashCache {
    entries: Mutex<LruCache<[u8; 32], String>>,
}

impl Default for HashCache {
    fn default() -> Self {
        Self::with_capacity(HASH_CACHE_CAPACITY)
    }
}

impl fmt::Debug for HashCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HashCache(..)")
    }
}

static GLOBAL_HASH_CACHE: std::sync::OnceLock<HashCache> = std::sync::OnceLock::new();

impl HashCache {
    /// The process-wide cache, shared by every simulator so seeded fleets hash only once.
    pub fn global() -> &'static HashCache {
        GLOBAL_HASH_CACHE.get_or_init(HashCache::default)
    }

    /// A cache holding at most `capacity` hashes (at least one), for tests of the bound.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(LruCache::new(
                NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN),
            )),
        }
    }

    /// How many hashes are held now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn key(password: &str, salt: &str) -> [u8; 32] {
        let mut digest = Sha256::new();
        digest.update(password.as_bytes());
        digest.update([0u8]);
        digest.update(salt.as_bytes());
        digest.finalize().into()
    }

    fn lock(&self) -> MutexGuard<'_, LruCache<[u8; 32], String>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Same result as [`encode_password`], computed at most once per (password, salt) while it
    /// stays among the recently used.
    pub fn encode(&self, password: &str, salt: &str) -> String {
        let cache_key = Self::key(password, salt);
        if let Some(hash) = self.lock().get(&cache_key) {
            return hash.clone();
        }
        let hash = encode_password(password, salt);
        self.lock().put(cache_key, hash.clone());
        hash
    }

    /// [`HashCache::encode`] for a credential the simulator is issuing (seeded, or created
    /// through an API by an authenticated caller), which also raises the bound by one when
    /// the hash is new. Issued credentials are the ones clients present again, so they must
    /// not evict each other: a demo fleet of 1,000 workspaces issues some 16,000, and with a
    /// fixed bound of 4,096 the ones issued earliest were hashed again when presented.
    /// Presented credentials go through `encode`, so wrong ones still cannot grow the cache.
    pub fn encode_issued(&self, password: &str, salt: &str) -> String {
        let cache_key = Self::key(password, salt);
        if let Some(hash) = self.lock().get(&cache_key) {
            return hash.clone();
        }
        let hash = encode_password(password, salt);
        let mut entries = self.lock();
        let room = entries.cap().saturating_add(1);
        entries.resize(room);
        entries.put(cache_key, hash.clone());
        hash
    }
}

#[derive(Serialize, Deserialize)]
struct LegacyKeyJson {
    k: String,
    n: String,
    id: i64,
}

/// Builds the legacy key string handed to the user: base64 of `{"k","n","id"}` in that order.
pub fn legacy_key_string(secret: &str, name: &str, org_id: i64) -> String {
    let document = LegacyKeyJson {
        k: secret.to_string(),
        n: name.to_string(),
        id: org_id,
    };
    let json = serde_json::to_string(&document).unwrap_or_default();
    STANDARD.encode(json)
}

/// CRC32 (IEEE) of `glsa_<secret>`, little-endian, hex: the checksum suffix of a token.
pub fn token_checksum(secret: &str) -> String {
    let crc = crc32fast::hash(format!("{TOKEN_PREFIX}{secret}").as_bytes());
    hex::encode(crc.to_le_bytes())
}

/// Builds a `glsa_` token string from its secret part.
pub fn service_account_token_string(secret: &str) -> String {
    format!("{TOKEN_PREFIX}{secret}_{}", token_checksum(secret))
}

/// What a presented credential string decodes to, before any lookup.
#[derive(PartialEq, Eq)]
pub enum ParsedCredential {
    /// A legacy key: looked up by (org, name), then the hash of `secret` salted with the name.
    LegacyKey {
        /// The `k` part.
        secret: String,
        /// The `n` part (key name, also the salt).
        name: String,
        /// The `id` part (org id).
        org_id: i64,
    },
    /// A `glsa_` token with a valid checksum: looked up by hash of secret salted with checksum.
    ServiceAccountToken {
        /// The 32-character secret.
        secret: String,
        /// The 8-hex-digit checksum (the salt).
        checksum: String,
    },
}

impl fmt::Debug for ParsedCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LegacyKey { name, org_id, .. } => f
                .debug_struct("LegacyKey")
                .field("name", name)
                .field("org_id", org_id)
                .finish_non_exhaustive(),
            Self::ServiceAccountToken { .. } => f.write_str("ServiceAccountToken(..)"),
        }
    }
}

impl ParsedCredential {
    /// Parses a presented string; `None` when it is neither format (or the checksum is wrong),
    /// which Grafana answers with `Invalid API key`.
    pub fn parse(presented: &str) -> Option<Self> {
        if let Some(rest) = presented.strip_prefix(TOKEN_PREFIX) {
            let (secret, checksum) = rest.rsplit_once('_')?;
            let well_formed = secret.len() == SECRET_LENGTH
                && secret.chars().all(|c| c.is_ascii_alphanumeric())
                && checksum.len() == 8
                && checksum.chars().all(|c| c.is_ascii_hexdigit());
            if !well_formed || token_checksum(secret) != checksum {
                return None;
            }
            return Some(Self::ServiceAccountToken {
                secret: secret.to_string(),
                checksum: checksum.to_string(),
            });
        }
        let decoded = STANDARD.decode(presented.trim()).ok()?;
        let document: LegacyKeyJson = serde_json::from_slice(&decoded).ok()?;
        if document.k.is_empty() || document.n.is_empty() {
            return None;
        }
        Some(Self::LegacyKey {
            secret: document.k,
            name: document.n,
            org_id: document.id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_strings_have_grafana_shape_and_parse_back() {
        let token = service_account_token_string("abcdefghijklmnopqrstuvwxyz012345");
        assert_eq!(token.len(), 46);
        assert!(token.starts_with("glsa_"));
        match ParsedCredential::parse(&token) {
            Some(ParsedCredential::ServiceAccountToken { secret, .. }) => {
                assert_eq!(secret, "abcdefghijklmnopqrstuvwxyz012345")
            }
            other => panic!("unexpected parse {other:?}"),
        }
    }

    #[test]
    fn a_token_with_a_wrong_checksum_is_rejected() {
        let token = service_account_token_string("abcdefghijklmnopqrstuvwxyz012345");
        let tampered = format!("{}00000000", &token[..token.len() - 8]);
        assert!(ParsedCredential::parse(&tampered).is_none());
    }

    #[test]
    fn legacy_keys_round_trip_with_field_order_k_n_id() {
        let key = legacy_key_string("0123456789abcdefghijABCDEFGHIJkl", "ci-deploy", 3);
        let json = String::from_utf8(STANDARD.decode(&key).unwrap()).unwrap();
        assert_eq!(
            json,
            r#"{"k":"0123456789abcdefghijABCDEFGHIJkl","n":"ci-deploy","id":3}"#
        );
        assert_eq!(
            ParsedCredential::parse(&key),
            Some(ParsedCredential::LegacyKey {
                secret: "0123456789abcdefghijABCDEFGHIJkl".into(),
                name: "ci-deploy".into(),
                org_id: 3
            })
        );
    }

    #[test]
    fn password_encoding_is_100_hex_chars_and_cached_consistently() {
        let cache = HashCache::default();
        let first = cache.encode("secret", "salt");
        assert_eq!(first.len(), 100);
        assert_eq!(first, encode_password("secret", "salt"));
        assert_eq!(cache.encode("secret", "salt"), first);
        assert_ne!(cache.encode("secret", "other"), first);
    }

    #[test]
    fn the_cache_keeps_at_most_its_capacity_and_the_recently_used() {
        let cache = HashCache::with_capacity(3);
        let kept = cache.encode("kept", "salt");
        for index in 0..10 {
            cache.encode(&format!("wrong-{index}"), "salt");
            assert_eq!(cache.encode("kept", "salt"), kept);
            assert!(cache.len() <= 3, "{} entries after {index}", cache.len());
        }
        assert_eq!(cache.len(), 3);
        assert!(cache.lock().contains(&HashCache::key("kept", "salt")));
        assert!(!cache.lock().contains(&HashCache::key("wrong-0", "salt")));
    }

    #[test]
    fn issued_credentials_make_room_for_themselves_and_wrong_ones_do_not() {
        let cache = HashCache::with_capacity(2);
        let issued: Vec<String> = (0..5)
            .map(|index| cache.encode_issued(&format!("issued-{index}"), "salt"))
            .collect();
        assert_eq!(cache.len(), issued.len(), "an issued hash was evicted");
        for index in 0..5 {
            let key = HashCache::key(&format!("issued-{index}"), "salt");
            assert!(cache.lock().contains(&key), "issued-{index} was evicted");
        }
        // Issuing a credential already held is no reason for more room.
        assert_eq!(cache.encode_issued("issued-0", "salt"), issued[0]);
        for index in 0..20 {
            cache.encode(&format!("wrong-{index}"), "salt");
        }
        assert_eq!(
            cache.len(),
            2 + issued.len(),
            "the bound is 2 plus 5 issued"
        );
        assert_eq!(issued[0], encode_password("issued-0", "salt"));
    }
}
