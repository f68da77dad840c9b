//! What the Grafana client will and will not connect to: redirects are never followed (the
//! other host receives nothing, and never a credential), a certificate that is not trusted is
//! refused before a byte of the request is sent, and plain http reaches loopback only, and only
//! when configured.

mod hostile_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use chrono::Utc;
use hostile_support::{ATTEMPTS, TOKEN, client, serve_always, serve_answers, settings};
use keyshift_aws::{GrafanaHttpSettings, HttpGrafanaConnector};
use keyshift_core::model::GrafanaCredential;
use keyshift_core::ports::GrafanaApi;
use keyshift_core::secret::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// A self-signed certificate for 127.0.0.1 and localhost, made once with openssl for these
/// tests; no trust store holds it.
const CERT: &[u8] = include_bytes!("data/self_signed_cert.der");
const KEY: &[u8] = include_bytes!("data/self_signed_key.der");

#[tokio::test]
async fn redirects_are_refused_and_the_other_host_receives_nothing() {
    let other = serve_always(StatusCode::OK, "application/json", "{}").await;
    let statuses = [301u16, 302, 303, 307, 308];
    let mut refused = 0;
    for status in statuses {
        let location = format!("{}/steal?status={status}", other.base);
        let target = serve_answers(move |_| {
            let location = location.clone();
            async move {
                (
                    StatusCode::from_u16(status).unwrap(),
                    [(header::LOCATION, location)],
                    "",
                )
                    .into_response()
            }
        })
        .await;
        let api = client(&target.base, settings(Duration::from_secs(5)));
        let errors = [
            api.org().await.unwrap_err(),
            api.create_token(1, "t", 60, Utc::now()).await.unwrap_err(),
            api.delete_token(1, 2).await.unwrap_err(),
        ];
        for error in &errors {
            assert_eq!(error.asl_name(), "Grafana.BadRequest", "{status}: {error}");
            assert!(error.to_string().contains("redirect refused"), "{error}");
            assert!(!error.to_string().contains(&other.base), "{error}");
            refused += 1;
        }
        // A redirect is not transient: each call reached the target exactly once.
        let methods: Vec<String> = target.seen.all().into_iter().map(|r| r.method).collect();
        assert_eq!(methods, ["GET", "POST", "DELETE"], "{status}");
    }
    assert_eq!(refused, statuses.len() * 3);
    assert_eq!(other.seen.count(), 0, "{:?}", other.seen.all());

    // The other host's recorder works: a plain request without a credential is recorded.
    let probe = reqwest::get(format!("{}/probe", other.base)).await.unwrap();
    assert!(probe.status().is_success());
    let seen = other.seen.all();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].target, "/probe");
    assert!(seen.iter().all(|request| request.authorization.is_none()));
}

/// Handshakes a TLS listener saw start and complete, and request bytes it decrypted.
#[derive(Default)]
struct TlsCounts {
    started: AtomicUsize,
    completed: AtomicUsize,
    request_bytes: AtomicUsize,
}

/// An https server presenting [`CERT`]; it answers nothing, it only counts.
async fn serve_self_signed() -> (String, Arc<TlsCounts>) {
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(CERT.to_vec())],
            PrivateKeyDer::try_from(KEY.to_vec()).unwrap(),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let counts = Arc::new(TlsCounts::default());
    let recorder = Arc::clone(&counts);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let recorder = Arc::clone(&recorder);
            tokio::spawn(async move {
                recorder.started.fetch_add(1, Ordering::SeqCst);
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                recorder.completed.fetch_add(1, Ordering::SeqCst);
                let mut buffer = [0u8; 4096];
                if let Ok(read) = tls.read(&mut buffer).await {
                    recorder.request_bytes.fetch_add(read, Ordering::SeqCst);
                }
            });
        }
    });
    (format!("https://127.0.0.1:{port}"), counts)
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_before_the_request_is_sent() {
    let (base, counts) = serve_self_signed().await;
    let error = client(&base, settings(Duration::from_secs(5)))
        .org()
        .await
        .unwrap_err();
    assert_eq!(error.asl_name(), "Grafana.Unavailable", "{error}");
    assert!(
        error.to_string().contains("certificate is not trusted"),
        "{error}"
    );
    // A connection failure is transient, so each attempt of the budget tried and failed.
    assert_eq!(counts.started.load(Ordering::SeqCst), ATTEMPTS);
    assert_eq!(counts.completed.load(Ordering::SeqCst), 0);
    assert_eq!(counts.request_bytes.load(Ordering::SeqCst), 0);

    // The server is a working TLS server: a client that trusts the certificate completes
    // the handshake and its bytes arrive.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(CERT.to_vec())).unwrap();
    let trusting = tokio_rustls::TlsConnector::from(Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ));
    let address = base.trim_start_matches("https://");
    let tcp = tokio::net::TcpStream::connect(address).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = trusting.connect(name, tcp).await.unwrap();
    tls.write_all(b"ping").await.unwrap();
    tls.flush().await.unwrap();
    for _ in 0..100 {
        if counts.request_bytes.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(counts.completed.load(Ordering::SeqCst), 1);
    assert_eq!(counts.request_bytes.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn plain_http_reaches_loopback_only_and_only_when_configured() {
    let open = |allow: bool, url: &str| {
        HttpGrafanaConnector::new(GrafanaHttpSettings {
            allow_loopback_http: allow,
            ..GrafanaHttpSettings::default()
        })
        .unwrap()
        .open(url, 1, GrafanaCredential::Bearer(SecretString::new(TOKEN)))
        .map(|_| ())
    };
    let never = [
        "http://10.1.2.3:3000",
        "http://grafana.example.com",
        "http://127.0.0.1.nip.io",
        "http://localhost.example.com",
        "http://[::ffff:127.0.0.1]:3000",
        "http://0.0.0.0:3000",
    ];
    let loopback = [
        "http://127.0.0.1:3000",
        "http://127.5.6.7",
        "http://localhost:3000/grafana",
        "http://LOCALHOST",
        "http://[::1]:3000",
    ];
    let always = [
        "https://g-123.grafana-workspace.us-east-1.amazonaws.com",
        "g-123.grafana-workspace.us-east-1.amazonaws.com",
        "https://127.0.0.1:3000",
    ];
    let mut checked = 0;
    for allow in [false, true] {
        for url in never {
            let error = open(allow, url).unwrap_err();
            assert_eq!(error.asl_name(), "Input.Invalid", "{url}");
            assert!(error.to_string().contains("use https"), "{url}: {error}");
            checked += 1;
        }
        for url in loopback {
            match open(allow, url) {
                Ok(()) => assert!(allow, "{url} accepted while off"),
                Err(error) => {
                    assert!(!allow, "{url} refused while on: {error}");
                    assert_eq!(error.asl_name(), "Input.Invalid");
                    assert!(
                        error.to_string().contains("KEYSHIFT_ALLOW_LOOPBACK_HTTP=1"),
                        "{error}"
                    );
                }
            }
            checked += 1;
        }
        for url in always {
            open(allow, url).unwrap();
            checked += 1;
        }
    }
    assert_eq!(checked, 2 * (never.len() + loopback.len() + always.len()));
}
