//! `keyshift inventory` through the binary against grafana-sim with Secrets Manager on moto:
//! every legacy key and token of a self-hosted Grafana with role, expiry, last use, owner and
//! whether keyshift manages it (the token `secret create` stored is managed, the rest are
//! not), as JSON, CSV and a table; an AMG workspace below Grafana 9 is listed with the upgrade
//! advice instead of failing. No credential appears in any output.

mod common;

use std::net::{Ipv4Addr, SocketAddr};

use grafana_sim::{FleetSpec, RunningSim, Simulator};
use keyshift_aws::{AwsContext, EndpointOverrides};
use serde_json::{Value, json};

const INSTANCE: &str = "inv-104";
const OLD_AMG: &str = "g-0000000084";
const ADMIN_PASSWORD: &str = "inventory-admin-pass";
const AGENT_TOKEN: &str = "InventoryAgentToken0123456789abc";

async fn start_sim() -> RunningSim {
    let fleet = json!({"seed": 11, "workspaces": [
        {"kind": "selfHosted", "id": INSTANCE, "version": "10.4.0",
         "users": [{"login": "admin", "password": ADMIN_PASSWORD, "roles": {"1": "Admin"}}],
         "apiKeys": [
             {"name": "deployer", "role": "Editor", "lastUsed": "-2h"},
             {"name": "old-exporter", "role": "Viewer", "expires": "-2d"}
         ],
         "serviceAccounts": [{"name": "grafana-agent", "role": "Viewer",
                              "tokens": [{"name": "agent", "secret": AGENT_TOKEN}]}]},
        {"kind": "amg", "id": OLD_AMG, "region": "eu-west-1", "name": "legacy", "status": "ACTIVE",
         "version": "8.4", "apiKeys": [{"name": "ops", "role": "Admin"}]}
    ]});
    Simulator::from_fleet(FleetSpec::from_json(&fleet.to_string()).unwrap())
        .unwrap()
        .serve(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .unwrap()
}

struct World {
    sim: RunningSim,
    moto: String,
    config: tempfile::NamedTempFile,
    self_hosted: Vec<String>,
}

impl World {
    fn run(&self, verb: &[&str], target: &[String], extra: &[&str]) -> std::process::Output {
        let mut command = common::keyshift_on_moto(&self.moto);
        command
            .args(verb)
            .args(target)
            .args(["--config", &self.config.path().display().to_string()])
            .args(extra);
        command.output().unwrap()
    }

    fn inventory(&self, target: &[String], format: &str) -> std::process::Output {
        self.run(&["inventory"], target, &["--output", format])
    }

    fn old_amg(&self) -> Vec<String> {
        common::amg_target(&self.sim.base_url(), OLD_AMG, "eu-west-1")
    }
}

async fn world(moto: String) -> World {
    let sim = start_sim().await;
    let prefix = keyshift_test_support::aws::unique("inventory");
    let config = tempfile::NamedTempFile::new().unwrap();
    let policy = json!({"policy": {
        "secretNameTemplate": format!("{prefix}/{{workspace}}/{{org_id}}/{{service_account}}/token")
    }});
    std::fs::write(config.path(), policy.to_string()).unwrap();
    let admin = format!("{prefix}/admin/{INSTANCE}");
    AwsContext::for_emulator(EndpointOverrides::for_all(&moto))
        .await
        .secrets_manager_client()
        .create_secret()
        .name(&admin)
        .secret_string(json!({"username": "admin", "password": ADMIN_PASSWORD}).to_string())
        .send()
        .await
        .unwrap();
    let self_hosted = vec![
        "--url".into(),
        sim.instance_url(INSTANCE),
        "--admin-secret-id".into(),
        admin,
    ];
    World {
        sim,
        moto,
        config,
        self_hosted,
    }
}

fn rows(output: &std::process::Output) -> Vec<Value> {
    common::assert_exit_code(output, 0);
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("{error}: {}", common::stdout_and_stderr(output)))
}

fn row<'a>(rows: &'a [Value], name: &str) -> &'a Value {
    let found: Vec<&Value> = rows.iter().filter(|row| row["name"] == name).collect();
    assert_eq!(found.len(), 1, "one row named {name}: {rows:#?}");
    found[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_lists_every_key_and_token_and_marks_what_keyshift_manages() {
    let moto = keyshift_test_support::moto_or_skip!(
        inventory_lists_every_key_and_token_and_marks_what_keyshift_manages
    );
    let world = world(moto).await;
    let mut printed = Vec::new();

    let created = world.run(
        &[
            "secret",
            "create",
            "--account-name",
            "ci-bot",
            "--role",
            "Editor",
        ],
        &world.self_hosted,
        &["--output", "json"],
    );
    common::assert_exit_code(&created, 0);
    let created: Value = serde_json::from_slice(&created.stdout).unwrap();
    let secret_id = created["secretId"].as_str().unwrap().to_owned();
    let managed_token = created["created"]["token"]["name"]
        .as_str()
        .unwrap()
        .to_owned();

    let output = world.inventory(&world.self_hosted, "json");
    printed.push(common::stdout_and_stderr(&output));
    let listed = rows(&output);
    assert_eq!(listed.len(), 4, "2 legacy keys and 2 tokens: {listed:#?}");
    let deployer = row(&listed, "deployer");
    assert_eq!(deployer["kind"], "legacyKey");
    assert_eq!(deployer["role"], "Editor");
    assert_eq!(deployer["state"], "active");
    assert!(deployer["lastUsedAt"].is_string(), "{deployer}");
    assert_eq!(deployer["managed"], false);
    let expired = row(&listed, "old-exporter");
    assert_eq!(expired["state"], "expired");
    assert!(expired["expiresAt"].is_string());
    let agent = row(&listed, "agent");
    assert_eq!(agent["kind"], "serviceAccountToken");
    assert_eq!(agent["owner"], "grafana-agent");
    assert_eq!(agent["role"], "Viewer");
    assert_eq!(agent["managed"], false);
    let managed = row(&listed, &managed_token);
    assert_eq!(managed["owner"], "ci-bot");
    assert_eq!(managed["managed"], true);
    assert_eq!(managed["secretId"], secret_id.as_str());
    assert_eq!(
        listed.iter().filter(|row| row["managed"] == true).count(),
        1
    );

    let csv = world.inventory(&world.self_hosted, "csv");
    common::assert_exit_code(&csv, 0);
    printed.push(common::stdout_and_stderr(&csv));
    let text = String::from_utf8_lossy(&csv.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "a header and 4 rows: {text}");
    assert!(lines[0].starts_with("workspace,grafanaVersion,kind,name,id,owner,role,"));
    let managed_line = lines
        .iter()
        .find(|line| line.contains(&managed_token))
        .unwrap();
    assert!(
        managed_line.contains(",true,") && managed_line.contains(&secret_id),
        "{managed_line}"
    );

    let table = world.inventory(&world.self_hosted, "table");
    common::assert_exit_code(&table, 0);
    printed.push(common::stdout_and_stderr(&table));
    let text = String::from_utf8_lossy(&table.stdout).into_owned();
    assert!(text.contains(&format!("managed in {secret_id}")), "{text}");
    assert_eq!(text.matches("not managed").count(), 3, "{text}");

    // An AMG workspace on Grafana 8.4 is listed with the advice, not failed.
    let old = world.inventory(&world.old_amg(), "json");
    printed.push(common::stdout_and_stderr(&old));
    let listed = rows(&old);
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(listed[0]["grafanaVersion"], "8.4.0");
    let note = listed[0]["note"].as_str().unwrap();
    assert!(note.contains("upgrade to 9.4 or later first"), "{note}");

    for text in &printed {
        assert!(
            !text.contains(AGENT_TOKEN) && !text.contains(ADMIN_PASSWORD),
            "{text}"
        );
        assert!(!text.contains("glsa_"), "no token in the output: {text}");
    }
    world.sim.shutdown().await;
}
