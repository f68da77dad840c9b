//! The conformance suite: every case under `conformance/cases` runs on local-sfn and must give
//! the outcome the specification predicts (`expected`), and the same case runs on the npm
//! engine aws-local-stepfunctions, whose outputs, errors and state paths must agree with
//! local-sfn's except on the fields where the case records a known deviation of that engine,
//! where it must give exactly the documented answer.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use local_sfn::{Engine, MockTestCase, MockedResponse, VirtualClock};
use serde_json::{Value, json};

struct Case {
    name: String,
    body: Value,
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn load_cases() -> Vec<Case> {
    let dir = manifest_dir().join("conformance").join("cases");
    let mut cases: Vec<Case> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| Case {
            name: path.file_stem().unwrap().to_string_lossy().into_owned(),
            body: serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        })
        .collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(cases.len() >= 30, "the suite lost cases: {}", cases.len());
    cases
}

/// The comparable outcome of one run: the same shape run.mjs prints.
async fn run_on_local_sfn(case: &Case) -> Value {
    let engine = Engine::from_value(&case.body["definition"])
        .unwrap_or_else(|e| panic!("{}: definition rejected: {e}", case.name))
        .with_clock(Arc::new(VirtualClock::starting_now()));
    let mut mocks = HashMap::new();
    if let Some(map) = case.body.get("mocks").and_then(Value::as_object) {
        for (state, response) in map {
            mocks.insert(
                state.clone(),
                MockedResponse::parse(state, response).unwrap(),
            );
        }
    }
    let input = case.body.get("input").cloned().unwrap_or(json!({}));
    let result = MockTestCase::new(mocks)
        .run(engine, &format!("conformance-{}", case.name), input)
        .await;
    json!({
        "status": result.status.as_str(),
        "output": result.output,
        "error": result.error,
        "cause": result.cause,
        "statesPath": result.states_path(),
    })
}

const COMPARED: [&str; 4] = ["status", "output", "error", "statesPath"];

#[tokio::test]
async fn local_sfn_gives_the_outcomes_the_specification_predicts() {
    let mut failures = Vec::new();
    for case in load_cases() {
        let actual = run_on_local_sfn(&case).await;
        let expected = &case.body["expected"];
        for key in COMPARED.iter().chain(["cause"].iter()) {
            if let Some(want) = expected.get(*key)
                && actual.get(*key) != Some(want)
            {
                failures.push(format!(
                    "{}: {key}: expected {want}, got {}",
                    case.name,
                    actual.get(*key).unwrap_or(&Value::Null)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn aws_local_stepfunctions_agrees_except_for_its_known_deviations() {
    let tools = keyshift_test_support::tools_dir(&manifest_dir());
    let Some(node) = keyshift_test_support::node_with_package(
        "conformance against aws-local-stepfunctions",
        &tools,
        "aws-local-stepfunctions",
    ) else {
        return;
    };
    let conformance = manifest_dir().join("conformance");
    let stdout = keyshift_test_support::successful_stdout(
        Command::new(&node)
            .arg(conformance.join("run.mjs"))
            .arg(&tools)
            .arg(conformance.join("cases")),
        "run.mjs",
    );
    let other: BTreeMap<String, Value> =
        serde_json::from_slice(&stdout).expect("run.mjs prints JSON");

    let mut problems = Vec::new();
    let (mut compared, mut deviations) = (0, 0);
    let all = load_cases();
    let cases = all.len();
    for case in all {
        let ours = run_on_local_sfn(&case).await;
        let Some(theirs) = other.get(&case.name) else {
            problems.push(format!("{}: missing from run.mjs output", case.name));
            continue;
        };
        if let Some(error) = theirs.get("runnerError") {
            problems.push(format!("{}: run.mjs could not run it: {error}", case.name));
            continue;
        }
        // A known deviation documents what the other engine answers on each field it gets
        // wrong (`knownDeviation.theirs`): those fields must differ exactly so, and every other
        // compared field must agree.
        let documented = case
            .body
            .pointer("/knownDeviation/theirs")
            .and_then(Value::as_object);
        if case.body.get("knownDeviation").is_some() {
            deviations += 1;
            if documented.is_none_or(|fields| fields.is_empty()) {
                problems.push(format!(
                    "{}: a known deviation must document the other engine's answer per field",
                    case.name
                ));
            }
        }
        for key in COMPARED {
            let (mine, other) = (ours.get(key), theirs.get(key));
            match documented.and_then(|fields| fields.get(key)) {
                Some(documented_value) => {
                    if other != Some(documented_value) {
                        problems.push(format!(
                            "{}: {key}: aws-local-stepfunctions now answers {} instead of the documented {documented_value}; update or remove the mark",
                            case.name,
                            other.unwrap_or(&Value::Null)
                        ));
                    }
                    if mine == other {
                        problems.push(format!(
                            "{}: {key}: both engines now agree; remove it from the deviation",
                            case.name
                        ));
                    }
                }
                None if mine != other => problems.push(format!(
                    "{}: {key}: local-sfn {} vs aws-local-stepfunctions {}",
                    case.name,
                    mine.unwrap_or(&Value::Null),
                    other.unwrap_or(&Value::Null)
                )),
                None => {}
            }
        }
        compared += 1;
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(compared, cases, "every case was compared");
    assert_eq!(
        deviations, 8,
        "the documented deviations of aws-local-stepfunctions"
    );
}

#[test]
fn every_known_deviation_cites_the_specification() {
    for case in load_cases() {
        if let Some(deviation) = case.body.get("knownDeviation") {
            let reference = deviation["reference"].as_str().unwrap_or_default();
            assert!(
                reference.starts_with("https://states-language.net/spec.html")
                    || reference.starts_with("https://docs.aws.amazon.com/step-functions/"),
                "{}: a deviation needs a spec or developer-guide reference",
                case.name
            );
            assert!(deviation["reason"].as_str().is_some_and(|r| !r.is_empty()));
        }
    }
}
