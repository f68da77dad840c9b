//! Many executions on one [`FleetClock`]: time passes only when every execution and every
//! branch sleeps, so a fleet's Waits overlap instead of adding up, and no Wait moves time
//! under a task that is still doing I/O.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use local_sfn::{Clock, Engine, ExecutionStatus, FleetClock, StartOptions, TaskContext};
use serde_json::{Value, json};

/// When a task started and when it finished, on the virtual clock.
type TaskWindow = (DateTime<Utc>, DateTime<Utc>);

const EXECUTIONS: usize = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_of_executions_waits_once_and_io_never_sees_time_jump() {
    let start = DateTime::parse_from_rfc3339("2025-03-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let clock = FleetClock::new(start);
    let definition = json!({
        "StartAt": "Work",
        "States": {
            "Work": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "Nap", "States": {"Nap": {"Type": "Wait", "Seconds": 3600, "End": true}}},
                    {"StartAt": "Io", "States": {"Io": {"Type": "Task", "Resource": "io", "End": true}}}
                ],
                "Next": "Grace"
            },
            "Grace": {"Type": "Wait", "Seconds": 86400, "End": true}
        }
    });
    let mut engine = Engine::from_value(&definition)
        .unwrap()
        .with_clock(Arc::new(clock.clone()));
    let seen: Arc<Mutex<Vec<TaskWindow>>> = Arc::default();
    {
        let clock = clock.clone();
        let seen = seen.clone();
        engine.register_task("io", move |_input: Value, _ctx: TaskContext| {
            let clock = clock.clone();
            let seen = seen.clone();
            async move {
                let before = clock.now();
                // Real waiting, as on an HTTP call: the sibling branch sleeps meanwhile.
                tokio::time::sleep(Duration::from_millis(30)).await;
                seen.lock().unwrap().push((before, clock.now()));
                Ok(json!({}))
            }
        });
    }
    // Every execution is registered before any starts, as the clock asks.
    let runs: Vec<_> = (0..EXECUTIONS)
        .map(|index| {
            let participation = clock.participate();
            let engine = engine.clone();
            async move {
                let result = engine
                    .start(&format!("exec-{index}"), json!({}), StartOptions::default())
                    .await;
                drop(participation);
                result
            }
        })
        .collect();
    let results = futures::future::join_all(runs).await;

    assert_eq!(results.len(), EXECUTIONS);
    for result in &results {
        assert_eq!(
            result.status,
            ExecutionStatus::Succeeded,
            "{:?}",
            result.cause
        );
        assert_eq!(
            result.stop_date - result.start_date,
            chrono::Duration::seconds(3600 + 86400)
        );
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), EXECUTIONS, "every I/O task ran once");
    for (before, after) in seen.iter() {
        assert_eq!(*before, start);
        assert_eq!(*after, start, "time moved while a task was doing I/O");
    }
    assert_eq!(
        clock.now() - start,
        chrono::Duration::seconds(3600 + 86400),
        "the fleet's Waits overlap: one hour and one day in all, not one per execution"
    );
}
