//! Test-only helpers shared by every keyshift test crate: where the moto server and the Node
//! tools are, and what a test does when one is missing.
//!
//! A test needing an external tool skips with a `SKIPPED <test>: <why>` line on stderr when the
//! tool is absent, so `cargo test` works on a bare machine; with `KEYSHIFT_REQUIRE_TOOLS=1`
//! (set by `scripts/test.sh` and CI) a missing tool fails the test instead, never a skip, so a
//! broken tool set-up cannot pass silently. The crate depends on nothing of keyshift's, so
//! every crate (local-sfn included) can use it as a dev-dependency; the `aws` feature adds the
//! moto set-up the SDK-backed tests share.

#![warn(missing_docs)]

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "sim")]
pub mod leaks;

use std::fmt::Display;
use std::path::{Path, PathBuf};

/// The variable holding the moto server's URL (e.g. `http://127.0.0.1:5055`).
pub const MOTO_ENDPOINT_ENV: &str = "KEYSHIFT_MOTO_ENDPOINT";

/// The variable that, set to `1`, turns a missing tool from a skip into a failure.
pub const REQUIRE_TOOLS_ENV: &str = "KEYSHIFT_REQUIRE_TOOLS";

/// What a test does about a tool it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detection<T> {
    /// The tool is there: run with it.
    Found(T),
    /// The tool is missing and not required: skip, saying why.
    Skip(String),
    /// The tool is missing but required: fail, saying why.
    Fail(String),
}

/// The decision itself, free of the process environment so it can be tested.
pub fn decide<T>(
    test: &str,
    found: Option<T>,
    missing: impl Display,
    required: bool,
) -> Detection<T> {
    match found {
        Some(tool) => Detection::Found(tool),
        None if required => Detection::Fail(format!(
            "{test}: {missing}, but {REQUIRE_TOOLS_ENV}=1 requires it"
        )),
        None => Detection::Skip(format!("SKIPPED {test}: {missing}")),
    }
}

/// Whether missing tools must fail tests (`KEYSHIFT_REQUIRE_TOOLS=1`) rather than skip them.
pub fn tools_required() -> bool {
    std::env::var(REQUIRE_TOOLS_ENV).is_ok_and(|value| value.trim() == "1")
}

/// The tool when `found`; otherwise prints the skip notice and returns `None`, or panics
/// when tools are required. Every detection below ends here.
pub fn found_or_skip<T>(test: &str, found: Option<T>, missing: impl Display) -> Option<T> {
    match decide(test, found, missing, tools_required()) {
        Detection::Found(tool) => Some(tool),
        Detection::Skip(notice) => {
            eprintln!("{notice}");
            None
        }
        Detection::Fail(message) => panic!("{message}"),
    }
}

/// A non-blank value of the moto variable, trimmed.
fn moto_endpoint_from(value: Option<String>) -> Option<String> {
    value
        .map(|endpoint| endpoint.trim().to_owned())
        .filter(|endpoint| !endpoint.is_empty())
}

/// The moto server's URL from `KEYSHIFT_MOTO_ENDPOINT`, or `None` after a skip notice naming
/// `test`; panics when it is unset and tools are required.
pub fn moto_endpoint(test: &str) -> Option<String> {
    found_or_skip(
        test,
        moto_endpoint_from(std::env::var(MOTO_ENDPOINT_ENV).ok()),
        format_args!("{MOTO_ENDPOINT_ENV} is not set (no moto server)"),
    )
}

/// `let moto = moto_or_skip!(test_name);`: the moto URL, or a return from the test after the
/// skip notice (a panic when tools are required), in one line instead of a `let … else`.
#[macro_export]
macro_rules! moto_or_skip {
    ($test:ident) => {
        match $crate::moto_endpoint(stringify!($test)) {
            Some(endpoint) => endpoint,
            None => return,
        }
    };
}

/// The repository's `tools` directory (`npm ci` installs Node and the Node packages there),
/// found from any crate's manifest directory by walking up to the workspace root.
pub fn tools_dir(manifest_dir: &Path) -> PathBuf {
    manifest_dir
        .ancestors()
        .find(|dir| dir.join("tools").join("package.json").is_file())
        .unwrap_or(manifest_dir)
        .join("tools")
}

/// The Node binary the tools directory pins (`node_modules/node/bin/node`), when installed.
fn node_binary(tools: &Path) -> Option<PathBuf> {
    let candidate = tools
        .join("node_modules")
        .join("node")
        .join("bin")
        .join("node");
    candidate.is_file().then_some(candidate)
}

/// The Node binary under `tools` when it and the npm `package` are installed, or `None` after
/// a skip notice naming `test`; panics when they are missing and tools are required.
pub fn node_with_package(test: &str, tools: &Path, package: &str) -> Option<PathBuf> {
    let package_present = tools
        .join("node_modules")
        .join(package)
        .join("package.json")
        .is_file();
    let found = node_binary(tools).filter(|_| package_present);
    found_or_skip(
        test,
        found,
        format_args!(
            "{package} and node are not installed under {}; run `npm ci` there",
            tools.display()
        ),
    )
}

/// Runs a tool a test depends on and returns what it printed; a tool that fails fails the
/// test with its stderr, never a silent empty answer.
pub fn successful_stdout(command: &mut std::process::Command, what: &str) -> Vec<u8> {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("{what} did not run: {error}"));
    assert!(
        output.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// The crates a workspace package links in normal (non-dev) builds, from `cargo tree`: what a
/// deployed Lambda would carry, so its links test can check it holds only the clients it calls.
pub fn linked_crates(package: &str) -> std::collections::BTreeSet<String> {
    let mut cargo_tree = std::process::Command::new(env!("CARGO"));
    cargo_tree
        .args(["tree", "--package", package, "--edges", "normal"])
        .args(["--prefix", "none", "--format", "{p}", "--offline"]);
    let stdout = successful_stdout(&mut cargo_tree, "cargo tree");
    String::from_utf8_lossy(&stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// Asserts `package` links every crate of `needed` and none of `forbidden`, naming the
/// offender.
pub fn assert_links(package: &str, needed: &[&str], forbidden: &[&str]) {
    let linked = linked_crates(package);
    for name in needed {
        assert!(linked.contains(*name), "{name} missing from {linked:?}");
    }
    for name in forbidden {
        assert!(!linked.contains(*name), "{package} links {name}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_found_tool_is_used_whether_or_not_tools_are_required() {
        assert_eq!(decide("t", Some(5), "gone", false), Detection::Found(5));
        assert_eq!(decide("t", Some(5), "gone", true), Detection::Found(5));
    }

    #[test]
    fn a_missing_tool_skips_unless_required_then_fails() {
        assert_eq!(
            decide::<()>("t", None, "moto is gone", false),
            Detection::Skip("SKIPPED t: moto is gone".to_owned())
        );
        match decide::<()>("t", None, "moto is gone", true) {
            Detection::Fail(message) => {
                assert!(message.contains("t: moto is gone"), "{message}");
                assert!(message.contains("KEYSHIFT_REQUIRE_TOOLS=1"), "{message}");
            }
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn blank_moto_endpoints_count_as_unset_and_values_are_trimmed() {
        assert_eq!(moto_endpoint_from(None), None);
        assert_eq!(moto_endpoint_from(Some("  ".to_owned())), None);
        assert_eq!(
            moto_endpoint_from(Some(" http://127.0.0.1:5055\n".to_owned())),
            Some("http://127.0.0.1:5055".to_owned())
        );
    }

    #[test]
    fn node_is_missing_in_an_empty_tools_directory() {
        let empty =
            std::env::temp_dir().join(format!("keyshift-test-support-{}", std::process::id()));
        assert_eq!(node_binary(&empty), None);
    }
}
