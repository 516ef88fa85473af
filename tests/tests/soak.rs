//! A soak: a long mixed run with Chrome killed at random points, after which nothing may be
//! lost, leaked or left behind. `SOAK_JOBS` sets the number of jobs (200 by default; the
//! long form is 2000), `SOAK_SEED` the seed that decides the mix and the kills.

use std::collections::BTreeMap;
use std::time::Duration;

use render_tests::{Canned, Supervisor, WebServer, processes_in_group};
use serde_json::{Value, json};

/// A small deterministic generator (xorshift64*), so a failing run can be repeated.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn status_field(pid: i32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn open_files(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn disk_usage(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => disk_usage(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Processes in state Z whose parent is `pid`.
fn zombie_children(pid: i32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
        .filter(|child| {
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            let Some((_, rest)) = stat.rsplit_once(") ") else {
                return false;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            fields.first() == Some(&"Z") && fields.get(1) == Some(&pid.to_string().as_str())
        })
        .collect()
}

/// Processes whose command line names the supervisor's runtime directory: every Chrome it
/// ever started, dead ones' leftovers included.
fn chrome_processes(runtime_dir: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(runtime_dir))
                .unwrap_or(false)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mixed_soak_with_chrome_kills_loses_and_leaks_nothing() {
    let jobs = env_number("SOAK_JOBS", 200);
    let mut rng = Rng(env_number("SOAK_SEED", 0x5eed_2026).max(1));
    let web = WebServer::start().await;
    web.route(
        "/report",
        Canned::html(
            "<h1>report</h1><div id='c' style='width:50px;height:50px;background:red'></div>",
        ),
    );
    web.route(
        "/throws",
        Canned::html("<p>x</p><script>throw new Error('page bug')</script>"),
    );
    web.route(
        "/reaches-out",
        Canned::html("<img src='http://10.255.255.1/x.png'><img src='http://127.0.0.1:9/y.png'>"),
    );
    let sup = Supervisor::start(&[
        "--allow-private",
        &web.origin(),
        "--max-concurrency",
        "2",
        "--queue-size",
        "64",
    ])
    .await;
    let runtime_dir = format!("/tmp/render-supervisor-{}", sup.pid());

    // Warm up, then take the baseline.
    for _ in 0..3 {
        assert_eq!(
            sup.pdf(&json!({"url": web.url("/report")})).await.status,
            200
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let base_rss = status_field(sup.pid(), "VmRSS:");
    let base_files = open_files(sup.pid());
    let base_chrome = processes_in_group(sup.chrome_pid().await).len();
    let base_disk = disk_usage(std::path::Path::new(&runtime_dir));

    let mut expected: BTreeMap<u16, u64> = BTreeMap::new();
    let mut sent = 0;
    let mut kills = 0;
    while sent < jobs {
        // A batch of jobs in flight together, and now and then a kill among them.
        let batch = (1 + rng.below(4)).min(jobs - sent);
        let mut running = Vec::new();
        for _ in 0..batch {
            let (path, job): (&str, Value) = match rng.below(6) {
                0 => ("/v1/pdf", json!({"url": web.url("/report")})),
                1 => (
                    "/v1/screenshot",
                    json!({"url": web.url("/report"), "screenshot": {"selector": "#c"}}),
                ),
                2 => (
                    "/v1/pdf",
                    json!({"url": web.url("/hang"), "timeout_ms": 1000}),
                ),
                3 => (
                    "/v1/pdf",
                    json!({"url": web.url("/throws"), "fail_on": {"console_errors": true}}),
                ),
                4 => ("/v1/pdf", json!({"url": web.url("/reaches-out")})),
                _ => (
                    "/v1/screenshot",
                    json!({
                        "html": "<p>inline</p>",
                        "screenshot": {"format": "jpeg", "quality": 70},
                    }),
                ),
            };
            let socket = sup.socket.clone();
            running.push(tokio::spawn(async move {
                let body = job.to_string();
                render_tests::request(&socket, "POST", path, Some(body.as_bytes()), &[]).await
            }));
        }
        if rng.below(8) == 0 {
            kills += 1;
            tokio::time::sleep(Duration::from_millis(rng.below(400))).await;
            let chrome = sup.health().await["chrome"]["pid"].as_i64();
            if let Some(pid) = chrome {
                render_tests::kill_group(pid as i32);
            }
        }
        for job in running {
            let answer = tokio::time::timeout(Duration::from_secs(60), job)
                .await
                .expect("a job got no answer within 60 s")
                .unwrap()
                .expect("a job's connection failed");
            assert!(
                matches!(answer.status, 200 | 502 | 503 | 504),
                "unexpected {}: {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            );
            *expected.entry(answer.status).or_default() += 1;
        }
        sent += batch;
    }

    // Every job is accounted for in the metrics, outcome by outcome.
    let outcome = |status: u16| match status {
        200 => "ok",
        502 => "page_failed",
        503 => "chrome_unavailable",
        _ => "timeout",
    };
    for (status, count) in &expected {
        let label = format!("outcome=\"{}\"", outcome(*status));
        let counted = sup.metric("render_supervisor_jobs_total", &label).await as u64;
        let warmup = if *status == 200 { 3 } else { 0 };
        assert_eq!(
            counted,
            count + warmup,
            "{label}: metrics {counted}, client {count}"
        );
    }
    assert_eq!(expected.values().sum::<u64>(), jobs);
    assert!(
        kills > 0,
        "the run never killed Chrome; try another SOAK_SEED"
    );

    // Nothing left behind.
    sup.wait_healthy(Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let chrome = sup.chrome_pid().await;
    // Processes of a Chrome killed moments ago may still be on their way out; the current
    // Chrome may start new ones meanwhile.
    // Chrome's crash handler runs outside its process group; it is recognised by the
    // current profile directory on its command line.
    let profile = std::fs::read(format!("/proc/{chrome}/cmdline")).unwrap_or_default();
    let profile = String::from_utf8_lossy(&profile)
        .split('\0')
        .find_map(|arg| arg.strip_prefix("--user-data-dir=").map(str::to_owned))
        .expect("chrome's profile directory");
    let stray = || -> Vec<i32> {
        let mut current = processes_in_group(chrome);
        current.extend(chrome_processes(&profile));
        chrome_processes(&runtime_dir)
            .into_iter()
            .filter(|p| !current.contains(p))
            .collect()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !stray().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let described: Vec<String> = stray()
        .into_iter()
        .map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            format!("{stat:.80} {cmd:.160}")
        })
        .collect();
    assert!(
        described.is_empty(),
        "processes of earlier Chromes remain: {described:#?}"
    );
    assert!(
        zombie_children(sup.pid()).is_empty(),
        "zombies under the supervisor"
    );
    let rss = status_field(sup.pid(), "VmRSS:");
    assert!(
        rss < base_rss + 20 * 1024,
        "RSS grew from {base_rss} kB to {rss} kB"
    );
    let files = open_files(sup.pid());
    assert!(
        files <= base_files + 8,
        "open files grew from {base_files} to {files}"
    );
    let current = processes_in_group(chrome);
    assert!(
        current.len() <= base_chrome + 4,
        "chrome has {} processes, {base_chrome} at start",
        current.len()
    );
    let disk = disk_usage(std::path::Path::new(&runtime_dir));
    assert!(
        disk <= base_disk + (8 << 20),
        "temporary disk grew from {base_disk} to {disk} bytes"
    );
    eprintln!(
        "soak: {jobs} jobs, {kills} chrome kills, answers {expected:?}, rss {base_rss} -> {rss} kB"
    );
}
