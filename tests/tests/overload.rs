//! Ten times the capacity at once: the excess is refused at once, the rest is served.

use std::time::{Duration, Instant};

use render_tests::Supervisor;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn ten_times_the_capacity_gets_429s_at_once_and_the_admitted_jobs_finish() {
    let sup = Supervisor::start(&["--max-concurrency", "2", "--queue-size", "4"]).await;
    let capacity = 6;
    let job = json!({"html": "<p>overload</p>", "wait": {"delay_ms": 300}}).to_string();
    let mut answers = Vec::new();
    for _ in 0..capacity * 10 {
        let socket = sup.socket.clone();
        let body = job.clone();
        answers.push(tokio::spawn(async move {
            let started = Instant::now();
            let answer =
                render_tests::request(&socket, "POST", "/v1/pdf", Some(body.as_bytes()), &[])
                    .await
                    .unwrap();
            (answer, started.elapsed())
        }));
    }
    let (mut served, mut refused) = (0, 0);
    for answer in answers {
        let (answer, took) = answer.await.unwrap();
        match answer.status {
            200 => served += 1,
            429 => {
                refused += 1;
                assert!(answer.header("retry-after").is_some());
                assert!(took < Duration::from_secs(2), "a 429 took {took:?}");
            }
            other => panic!(
                "unexpected {other}: {}",
                String::from_utf8_lossy(&answer.body)
            ),
        }
    }
    assert!(served >= capacity, "only {served} jobs were served");
    assert_eq!(served + refused, capacity * 10);
    assert!(
        refused >= capacity * 8,
        "only {refused} of {} were refused",
        capacity * 10
    );
    let health = sup.health().await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["jobs"]["running"], 0);
    assert_eq!(
        sup.metric("render_supervisor_jobs_total", "outcome=\"queue_full\"")
            .await,
        refused as f64
    );
    assert_eq!(sup.pdf(&json!({"html": "after"})).await.status, 200);
}
