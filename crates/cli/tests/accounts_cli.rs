//! `keyshift plan` and `keyshift status` over a fleet config with an `accounts` entry, through
//! the binary: STS on the moto server assumes the account's role, grafana-sim serves AMG and
//! records the access key id of every call, and moto says whose key it is. The account's
//! workspaces are listed, and planned, under its role; this account's with its own credentials.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::Output;

mod common;

use grafana_sim::{FleetSpec, RunningSim, Simulator};
use keyshift_test_support::aws::caller_arn_on_moto;
use serde_json::{Value, json};

const OWN: &str = "g-00000000f1";
const ACCOUNT: &str = "g-00000000f2";
const ROLE: &str = "arn:aws:iam::210987654321:role/keyshift-target";
/// What moto says the CLI's keys for [`ROLE`] are.
const ROLE_SESSION: &str = "arn:aws:sts::210987654321:assumed-role/keyshift-target/keyshift-cli";
/// The access key id `common::keyshift_on_moto` gives the binary.
const BASE_KEY: &str = "testing";

/// This account's workspaces in us-east-1, the other account's in eu-west-1 (grafana-sim has
/// one account, so the role's listing is told apart by region), one of them untagged.
async fn start_sim() -> RunningSim {
    let tagged = json!({"keyshift": "managed"});
    let fleet = json!({"workspaces": [
        {"kind": "amg", "id": OWN, "region": "us-east-1", "version": "10.4", "tags": tagged},
        {"kind": "amg", "id": ACCOUNT, "region": "eu-west-1", "version": "11.5", "tags": tagged},
        {"kind": "amg", "id": "g-00000000f3", "region": "eu-west-1", "version": "11.5"}
    ]});
    Simulator::from_fleet(FleetSpec::from_json(&fleet.to_string()).unwrap())
        .unwrap()
        .with_amg_signer_log()
        .serve(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .unwrap()
}

fn config_file(dir: &tempfile::TempDir) -> String {
    let path = dir.path().join("fleet.json");
    std::fs::write(
        &path,
        json!({
            "amg": {"regions": ["us-east-1"], "tags": {"keyshift": "managed"}},
            "accounts": [{"roleArn": ROLE, "externalId": "keyshift-prod",
                          "regions": ["eu-west-1"], "tags": {"keyshift": "managed"}}]
        })
        .to_string(),
    )
    .unwrap();
    path.display().to_string()
}

/// `verb --config … --secret-store memory --output json` with AMG on the simulator.
fn keyshift(verb: &str, config: &str, moto: &str, sim: &RunningSim) -> Output {
    let template = format!("{}/g/{{workspace_id}}", sim.base_url());
    common::keyshift_on_moto(moto)
        .args([verb, "--config", config, "--amg-endpoint"])
        .arg(sim.amg_endpoint_url())
        .args(["--amg-url-template", &template, "--secret-store", "memory"])
        .args(["--output", "json"])
        .output()
        .unwrap()
}

fn json_of(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("{error}: {}", common::stdout_and_stderr(output)))
}

/// Who signed the AMG calls about `scope`, as moto names the keys; also how many calls.
async fn signers(sim: &RunningSim, moto: &str, scope: &str) -> (BTreeSet<String>, usize) {
    let calls = sim.amg_signers().unwrap().calls_about(scope);
    let mut identities = BTreeSet::new();
    for call in &calls {
        match call.access_key_id.as_deref() {
            Some(BASE_KEY) => identities.insert(BASE_KEY.to_owned()),
            Some(key) => identities.insert(caller_arn_on_moto(moto, key).await),
            None => panic!("{} was not signed", call.operation),
        };
    }
    (identities, calls.len())
}

/// Runs `verb` over the config with an account (exit 0 expected) and checks the listing:
/// one ListWorkspaces per selection, this account's signed with the base key and the
/// account's with the role's. Returns the report with moto and the simulator, or `None` when
/// moto is not available and the test may skip.
async fn listed_with_the_account(test: &str, verb: &str) -> Option<(String, RunningSim, Value)> {
    let moto = keyshift_test_support::moto_endpoint(test)?;
    let sim = start_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let output = keyshift(verb, &config_file(&dir), &moto, &sim);
    common::assert_exit_code(&output, 0);
    let (listing, listings) = signers(&sim, &moto, "(account)").await;
    assert_eq!(listings, 2, "one ListWorkspaces per selection");
    assert_eq!(
        listing,
        BTreeSet::from([BASE_KEY.to_owned(), ROLE_SESSION.to_owned()])
    );
    Some((moto, sim, json_of(&output)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_over_a_config_with_an_account_plans_its_workspaces_under_the_role() {
    let test = "plan_over_a_config_with_an_account_plans_its_workspaces_under_the_role";
    let Some((moto, sim, plans)) = listed_with_the_account(test, "plan").await else {
        return;
    };
    let planned: Vec<&str> = plans
        .as_array()
        .unwrap()
        .iter()
        .map(|plan| {
            assert!(plan["error"].is_null(), "{plan:#}");
            plan["workspace"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        planned,
        [
            format!("amg:us-east-1:{OWN}:1"),
            format!("amg:eu-west-1:{ACCOUNT}:1")
        ]
    );
    let (own, own_calls) = signers(&sim, &moto, OWN).await;
    let (account, account_calls) = signers(&sim, &moto, ACCOUNT).await;
    assert_eq!(own, BTreeSet::from([BASE_KEY.to_owned()]));
    assert_eq!(account, BTreeSet::from([ROLE_SESSION.to_owned()]));
    // discover-keys: describe, find and create the bootstrap account, look for a stale token,
    // mint one; the plan's clean-up: check the account, delete the token, sweep expired ones.
    assert_eq!(
        (own_calls, account_calls),
        (8, 8),
        "calls checked per workspace"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_over_a_config_with_an_account_lists_its_workspaces() {
    let test = "status_over_a_config_with_an_account_lists_its_workspaces";
    let Some((_, sim, report)) = listed_with_the_account(test, "status").await else {
        return;
    };
    let workspaces: BTreeSet<&str> = report["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["workspace"].as_str().unwrap())
        .collect();
    let own = format!("amg:us-east-1:{OWN}:1");
    let account = format!("amg:eu-west-1:{ACCOUNT}:1");
    assert_eq!(workspaces, BTreeSet::from([own.as_str(), account.as_str()]));
    sim.shutdown().await;
}
