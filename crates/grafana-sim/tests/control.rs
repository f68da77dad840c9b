//! The `/_sim` control endpoints over real HTTP: faults of every kind, clock, reset, state
//! dump, request counts, and the binary's start-up output.

mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn a_status_fault_answers_429_with_retry_after_for_the_next_n_calls() {
    let sim = start().await;
    let added = sim
        .add_fault(json!({"workspace": SELF_115, "endpoint": "GET /api/org",
            "kind": "status", "status": 429, "retryAfterSeconds": 7, "times": 2}))
        .await;
    assert_eq!(added.status, 201, "{}", added.text);
    for _ in 0..2 {
        let answer = sim.get(SELF_115, "/api/org", &ADMIN_115).await;
        assert_eq!(answer.status, 429);
        assert_eq!(answer.headers["retry-after"], "7");
    }
    assert_eq!(sim.get(SELF_115, "/api/org", &ADMIN_115).await.status, 200);
    assert_eq!(sim.get(SELF_116, "/api/org", &ADMIN_116).await.status, 200);
}

#[tokio::test]
async fn a_503_fault_on_any_endpoint_and_clearing_faults() {
    let sim = start().await;
    sim.add_fault(json!({"workspace": SELF_115, "endpoint": "*", "kind": "status", "status": 503}))
        .await;
    let answer = sim.get(SELF_115, "/api/health", &Auth::None).await;
    assert_eq!(answer.status, 503);
    assert!(answer.headers.get("retry-after").is_none());
    let cleared = sim.send(sim.client.delete(sim.control("/faults"))).await;
    assert_eq!(cleared.status, 200);
    assert_eq!(
        sim.get(SELF_115, "/api/health", &Auth::None).await.status,
        200
    );
}

#[tokio::test]
async fn a_drop_fault_closes_the_connection_without_an_answer() {
    let sim = start().await;
    sim.add_fault(
        json!({"workspace": SELF_115, "endpoint": "GET /api/org", "kind": "drop", "times": 1}),
    )
    .await;
    let outcome = sim
        .request(reqwest::Method::GET, SELF_115, "/api/org", &ADMIN_115)
        .send()
        .await;
    let error = outcome.expect_err("no HTTP answer expected");
    assert!(error.status().is_none());
    assert_eq!(sim.get(SELF_115, "/api/org", &ADMIN_115).await.status, 200);
}

#[tokio::test]
async fn a_malformed_json_fault_truncates_the_body_but_keeps_the_status() {
    let sim = start().await;
    sim.add_fault(
        json!({"workspace": SELF_115, "endpoint": "GET /api/serviceaccounts/search",
        "kind": "malformedJson", "times": 1}),
    )
    .await;
    let answer = sim
        .get(SELF_115, "/api/serviceaccounts/search", &ADMIN_115)
        .await;
    assert_eq!(answer.status, 200);
    assert!(
        serde_json::from_str::<Value>(&answer.text).is_err(),
        "{}",
        answer.text
    );
    assert!(answer.text.starts_with('{'));
}

#[tokio::test]
async fn a_latency_fault_delays_but_still_serves_and_retires() {
    let sim = start().await;
    sim.add_fault(json!({"workspace": SELF_115, "endpoint": "GET /api/org", "kind": "latency", "ms": 50, "times": 1}))
        .await;
    let answer = sim.get(SELF_115, "/api/org", &ADMIN_115).await;
    assert_eq!(answer.status, 200);
    let faults = sim.control_get("/faults").await.json();
    assert_eq!(
        faults["faults"],
        json!([]),
        "the rule retired after firing once"
    );
}

#[tokio::test]
async fn a_seeded_probability_fault_fires_some_of_the_time_reproducibly() {
    let run = || async {
        let sim = start().await;
        sim.add_fault(json!({"workspace": SELF_115, "endpoint": "GET /api/health",
            "kind": "status", "status": 500, "probability": 0.5, "seed": 99}))
            .await;
        let mut statuses = Vec::new();
        for _ in 0..20 {
            statuses.push(
                sim.get(SELF_115, "/api/health", &Auth::None)
                    .await
                    .status
                    .as_u16(),
            );
        }
        statuses
    };
    let first = run().await;
    assert_eq!(first, run().await);
    assert!(first.contains(&500) && first.contains(&200), "{first:?}");
}

#[tokio::test]
async fn invalid_fault_rules_are_rejected() {
    let sim = start().await;
    let bad = sim
        .add_fault(json!({"workspace": "*", "endpoint": "*", "kind": "status", "status": 200}))
        .await;
    assert_eq!(bad.status, 400);
    let unknown_kind = sim
        .add_fault(json!({"workspace": "*", "endpoint": "*", "kind": "explode"}))
        .await;
    assert_eq!(unknown_kind.status, 400);
}

#[tokio::test]
async fn request_counts_are_kept_per_workspace_and_route_template() {
    let (sim, account) = start_with_account(SELF_115, &ADMIN_115, "counted", "Viewer").await;
    sim.create_token(SELF_115, &ADMIN_115, account, "c1", 0)
        .await;
    sim.create_token(SELF_115, &ADMIN_115, account, "c2", 0)
        .await;
    sim.get(SELF_115, "/api/nothing-here", &ADMIN_115).await;
    let counts = sim
        .control_get(&format!("/requests?workspace={SELF_115}"))
        .await
        .json();
    assert_eq!(counts["counts"]["POST /api/serviceaccounts"], 1);
    assert_eq!(counts["counts"]["POST /api/serviceaccounts/:id/tokens"], 2);
    assert_eq!(counts["counts"]["GET (unmatched)"], 1);
    let other = sim
        .control_get(&format!("/requests?workspace={SELF_116}"))
        .await
        .json();
    assert_eq!(other["counts"], json!({}));
}

#[tokio::test]
async fn the_clock_can_be_read_and_advanced() {
    let sim = start().await;
    let before = sim.control_get("/clock").await.json();
    assert_eq!(before["offsetSeconds"], 0);
    sim.advance_clock(86_400).await;
    let after = sim.control_get("/clock").await.json();
    assert_eq!(after["offsetSeconds"], 86_400);
    let bad = sim
        .control_post("/clock/advance", json!({"seconds": "soon"}))
        .await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn advancing_past_a_seeded_expiry_expires_that_token() {
    let (sim, soon) = start_as(AMG_104, "terraform-2025-q1").await;
    sim.assert_org_ok(AMG_104, &soon).await;
    sim.advance_clock(3 * 86_400).await;
    sim.assert_org_rejected(AMG_104, &soon, Errutil::ExpiredKey)
        .await;
}

#[tokio::test]
async fn reset_restores_the_fleet_and_its_secrets() {
    let (sim, key) = start_as(SELF_115, "backup-job").await;
    let id = sim
        .create_account(SELF_115, &ADMIN_115, "temporary", "Viewer")
        .await;
    sim.advance_clock(1000).await;
    let reset = sim.control_post("/reset", json!({})).await;
    assert_eq!(reset.status, 200);
    let gone = sim
        .get(SELF_115, &format!("/api/serviceaccounts/{id}"), &ADMIN_115)
        .await;
    assert_eq!(gone.status, 404);
    assert_eq!(sim.control_get("/clock").await.json()["offsetSeconds"], 0);
    assert_eq!(sim.secret(SELF_115, "backup-job").await, key);
    sim.assert_org_ok(SELF_115, &key).await;
}

#[tokio::test]
async fn the_state_dump_and_workspace_list_carry_no_secrets() {
    let sim = start().await;
    let (_, _, minted) = sim
        .account_with_token(SELF_115, &ADMIN_115, ("dumped", "Viewer"), ("dumped-1", 0))
        .await;
    let dump = sim.control_get("/state").await;
    assert_eq!(dump.status, 200);
    assert!(dump.text.contains("dumped-1"));
    assert!(!dump.text.contains(&minted));
    assert!(!dump.text.contains("admin-pass-115"));
    let secrets = sim.control_get("/secrets").await.json();
    for secret in secrets["secrets"].as_array().unwrap() {
        assert!(!dump.text.contains(secret["key"].as_str().unwrap()));
    }
    let list = sim.control_get("/workspaces").await.json();
    let amg = list["workspaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == AMG_104)
        .unwrap();
    assert_eq!(
        amg["endpoint"],
        "g-1f2e3d4c5b.grafana-workspace.us-east-1.amazonaws.com"
    );
    assert_eq!(amg["grafanaVersion"], "10.4");
    assert_eq!(amg["basePath"], "/g/g-1f2e3d4c5b");
}

#[tokio::test]
async fn in_process_fault_injection_and_clock_work_without_http_control() {
    let sim = start().await;
    sim.running
        .state()
        .faults()
        .add(grafana_sim::FaultSpec {
            workspace: SELF_115.into(),
            endpoint: "GET /api/org".into(),
            kind: grafana_sim::FaultKind::Status {
                status: 500,
                retry_after_seconds: None,
            },
            times: Some(1),
            probability: None,
            seed: None,
        })
        .unwrap();
    assert_eq!(sim.get(SELF_115, "/api/org", &ADMIN_115).await.status, 500);
    sim.running.state().clock().advance_seconds(60);
    assert_eq!(sim.control_get("/clock").await.json()["offsetSeconds"], 60);
}

#[tokio::test]
async fn the_binary_prints_every_workspace_and_the_amg_endpoint() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_grafana-sim"))
        .args(["--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        let done = line.starts_with("amg endpoint");
        seen.push(line);
        if done {
            break;
        }
    }
    child.kill().await.unwrap();
    let text = seen.join("\n");
    for id in [AMG_94, AMG_104, AMG_121, SELF_115, SELF_116, SELF_121] {
        assert!(text.contains(&format!("/g/{id}")), "{text}");
    }
    assert!(text.contains("grafana 12.1.0"));
    assert!(text.contains("amg endpoint http://127.0.0.1:"));
}

#[tokio::test]
async fn a_custom_fleet_is_validated() {
    let bad_id = grafana_sim::FleetSpec::from_json(
        r#"{"workspaces": [{"kind": "amg", "id": "g-XYZ", "version": "10.4"}]}"#,
    )
    .unwrap();
    assert!(grafana_sim::Simulator::from_fleet(bad_id).is_err());
    let unknown_field = grafana_sim::FleetSpec::from_json(
        r#"{"workspaces": [{"kind": "selfHosted", "id": "a", "version": "10.4", "colour": 1}]}"#,
    );
    assert!(unknown_field.is_err());
    let minimal = grafana_sim::FleetSpec::from_json(
        r#"{"workspaces": [{"kind": "selfHosted", "id": "mini", "version": "11.1",
            "apiKeys": [{"name": "k", "role": "Admin", "secret": "0123456789abcdefghijABCDEFGHIJkl"}]}]}"#,
    )
    .unwrap();
    let sim = start_with(minimal).await;
    let key = sim.secret("mini", "k").await;
    assert_eq!(
        sim.get("mini", "/api/org", &Auth::Bearer(&key))
            .await
            .status,
        200
    );
}
