//! Property tests of Grafana answer parsing, over real HTTP: one server answers each case with
//! a generated status and body (Grafana-shaped JSON with hostile values, or not JSON at all),
//! and every operation of the client must return a model or a named `Grafana.*` error, never
//! panic; a 2xx answer it cannot use is `Grafana.BadResponse` (or, for `/api/health`, an
//! unsupported version), never another class.

mod hostile_support;

use std::cell::Cell;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use chrono::Utc;
use hostile_support::{client, serve_answers, settings};
use keyshift_aws::RetryPolicy;
use keyshift_core::model::Role;
use keyshift_core::ports::GrafanaApi;
use keyshift_core::{KeyshiftError, Result};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::{Map, Value, json};

const FIELDS: &[&str] = &[
    "id",
    "uid",
    "name",
    "login",
    "orgId",
    "role",
    "isDisabled",
    "tokens",
    "totalCount",
    "serviceAccounts",
    "page",
    "perPage",
    "key",
    "created",
    "expiration",
    "lastUsedAt",
    "hasExpired",
    "isRevoked",
    "version",
    "message",
    "messageId",
    "title",
    "total",
    "migrated",
    "failed",
    "failedApikeyIDs",
    "failedDetails",
    "serviceaccount",
    "secondsToLive",
];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|n| json!(n)),
        prop::sample::select(vec![
            json!(-1),
            json!(0),
            json!(100_001),
            json!(i64::MAX),
            json!(1e300),
            json!("Admin"),
            json!("Viewer"),
            json!("Superuser"),
            json!(""),
            json!("10.4.1"),
            json!("v12"),
            json!("2025-01-01T00:00:00Z"),
            json!("0001-01-01T00:00:00Z"),
            json!("9999-99-99T99:99:99Z"),
            json!("glsa_x"),
            json!("a".repeat(300)),
        ]),
        "\\PC{0,16}".prop_map(Value::from),
    ]
}

fn grafana_like() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(FIELDS), inner), 0..8).prop_map(
                |members| {
                    Value::Object(
                        members
                            .into_iter()
                            .map(|(key, value)| (key.to_owned(), value))
                            .collect::<Map<_, _>>(),
                    )
                }
            ),
        ]
    })
}

/// One answer: a status, a content type and a body (JSON-shaped, cut short, or raw bytes).
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
}

fn answer() -> impl Strategy<Value = Answer> {
    let body = prop_oneof![
        6 => grafana_like().prop_map(|value| value.to_string().into_bytes()),
        1 => (grafana_like(), any::<prop::sample::Index>()).prop_map(|(value, cut)| {
            let text = value.to_string().into_bytes();
            let keep = cut.index(text.len() + 1);
            text[..keep].to_vec()
        }),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ];
    (
        prop::sample::select(vec![
            200u16, 200, 200, 200, 201, 204, 400, 401, 403, 404, 409, 410, 418, 429, 500, 503,
        ]),
        prop::sample::select(vec!["application/json", "application/json", "text/html"]),
        body,
    )
        .prop_map(|(status, content_type, body)| Answer {
            status,
            content_type,
            body,
        })
}

/// Runs operation `which` of the client, discarding the model.
async fn operation(api: &dyn GrafanaApi, which: usize) -> Result<()> {
    match which {
        0 => api.health().await.map(drop),
        1 => api.org().await.map(drop),
        2 => api.permissions().await.map(drop),
        3 => api.list_legacy_keys(true).await.map(drop),
        4 => api.search_service_accounts("q").await.map(drop),
        5 => api.get_service_account(1).await.map(drop),
        6 => api.list_tokens(1).await.map(drop),
        7 => api.create_token(1, "t", 3600, Utc::now()).await.map(drop),
        8 => api.migrate_all_legacy_keys().await.map(drop),
        9 => api
            .update_service_account_role(1, Role::Viewer)
            .await
            .map(drop),
        10 => api
            .create_service_account("sa", Role::Admin)
            .await
            .map(drop),
        _ => api.delete_token(1, 2).await,
    }
}

const OPERATIONS: usize = 12;
const CASES: u32 = 1_200;

fn assert_named(answer: &Answer, which: usize, error: &KeyshiftError) {
    let name = error.asl_name();
    assert!(name.starts_with("Grafana."), "{which} {answer:?}: {error}");
    if (200..300).contains(&answer.status) {
        assert!(
            name == "Grafana.BadResponse" || (which == 0 && name == "Grafana.UnsupportedVersion"),
            "operation {which} on {answer:?}: {error}"
        );
    }
}

#[test]
fn any_answer_to_any_operation_is_a_model_or_a_named_error() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let current: Arc<Mutex<Option<Answer>>> = Arc::default();
    let serving = Arc::clone(&current);
    let server = runtime.block_on(serve_answers(move |_| {
        let answer = serving.lock().unwrap().clone().unwrap();
        async move {
            (
                StatusCode::from_u16(answer.status).unwrap(),
                [(header::CONTENT_TYPE, answer.content_type)],
                answer.body,
            )
                .into_response()
        }
    }));
    let mut test_settings = settings(Duration::from_secs(5));
    // One attempt: a retried 429 or 5xx would only repeat the same answer more slowly.
    test_settings.retry = RetryPolicy::none();
    let api = client(&server.base, test_settings);

    let mut runner = TestRunner::new(ProptestConfig::with_cases(CASES));
    let (cases, models, errors) = (Cell::new(0u32), Cell::new(0u32), Cell::new(0u32));
    runner
        .run(&(answer(), 0..OPERATIONS), |(answer, which)| {
            cases.set(cases.get() + 1);
            *current.lock().unwrap() = Some(answer.clone());
            match runtime.block_on(operation(&api, which)) {
                Ok(()) => models.set(models.get() + 1),
                Err(error) => {
                    assert_named(&answer, which, &error);
                    errors.set(errors.get() + 1);
                }
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(cases.get(), CASES);
    assert!(
        server.seen.count() >= CASES as usize,
        "every case reached the server"
    );
    assert!(
        models.get() > 0 && errors.get() > 0,
        "{} models",
        models.get()
    );
}
