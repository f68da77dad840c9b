//! Grafana answers as raw bytes on the wire: a loopback listener answers every request with
//! the fuzz input (status line, headers and body, whatever they are) and closes; the first
//! byte picks the client operation. Every outcome must be a model or a named `Grafana.*`
//! error; a panic or another error class is a finding. Build with `--features grafana`.

#![no_main]

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use keyshift_aws::{GrafanaHttpSettings, HttpGrafanaApi, HttpGrafanaConnector, RetryPolicy};
use keyshift_core::model::{GrafanaCredential, Role};
use keyshift_core::ports::GrafanaApi;
use keyshift_core::secret::SecretString;
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The runtime, the bytes the listener answers with, and a client of the listener.
struct Harness {
    runtime: tokio::runtime::Runtime,
    answer: Arc<Mutex<Vec<u8>>>,
    api: HttpGrafanaApi,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let answer: Arc<Mutex<Vec<u8>>> = Arc::default();
        let serving = Arc::clone(&answer);
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let address = listener.local_addr().unwrap();
        runtime.spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let bytes = serving.lock().unwrap().clone();
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    let _ = stream.read(&mut request).await;
                    let _ = stream.write_all(&bytes).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        let settings = GrafanaHttpSettings {
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(2),
            retry: RetryPolicy::none(),
            max_body_bytes: 64 * 1024,
            allow_loopback_http: true,
            ..GrafanaHttpSettings::default()
        };
        let api = HttpGrafanaConnector::new(settings)
            .unwrap()
            .open(
                &format!("http://{address}"),
                1,
                GrafanaCredential::Bearer(SecretString::new("glsa_fuzzToken0123456789_abcdef01")),
            )
            .unwrap();
        Harness {
            runtime,
            answer,
            api,
        }
    })
}

async fn operation(api: &HttpGrafanaApi, which: u8) -> keyshift_core::Result<()> {
    match which % 10 {
        0 => api.health().await.map(drop),
        1 => api.org().await.map(drop),
        2 => api.list_legacy_keys(true).await.map(drop),
        3 => api.search_service_accounts("").await.map(drop),
        4 => api.list_tokens(1).await.map(drop),
        5 => api
            .create_token(1, "t", 60, chrono::Utc::now())
            .await
            .map(drop),
        6 => api.migrate_all_legacy_keys().await.map(drop),
        7 => api
            .update_service_account_role(1, Role::Viewer)
            .await
            .map(drop),
        8 => api.permissions().await.map(drop),
        _ => api.delete_token(1, 2).await,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, answer)) = data.split_first() else {
        return;
    };
    let harness = harness();
    *harness.answer.lock().unwrap() = answer.to_vec();
    if let Err(error) = harness.runtime.block_on(operation(&harness.api, which)) {
        assert!(error.asl_name().starts_with("Grafana."), "{error}");
    }
});
