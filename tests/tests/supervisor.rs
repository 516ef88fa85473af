//! render-supervisor end to end: the real daemon, real Chromium, jobs over the socket.

use std::time::{Duration, Instant};

use render_tests::{Canned, Supervisor, WebServer, group_gone, pdf_pages, pdf_text};
use serde_json::json;

fn decode(png: &[u8]) -> image::RgbaImage {
    image::load_from_memory(png)
        .expect("decodable image")
        .to_rgba8()
}

#[tokio::test(flavor = "multi_thread")]
async fn inline_html_becomes_a_pdf_with_its_text() {
    let sup = Supervisor::start(&[]).await;
    let answer = sup
        .pdf(&json!({"html": "<h1>Q3 revenue report</h1>"}))
        .await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(answer.header("content-type"), Some("application/pdf"));
    assert!(answer.header("x-job-id").is_some());
    assert!(answer.body.starts_with(b"%PDF-"));
    assert!(pdf_text(&answer.body).contains("Q3 revenue report"));
}

#[tokio::test(flavor = "multi_thread")]
async fn paper_landscape_and_page_ranges_shape_the_pdf() {
    let sup = Supervisor::start(&[]).await;
    let pages: String = (1..=5)
        .map(|i| format!("<div style='page-break-after: always'>page {i}</div>"))
        .collect();

    let a4 = sup
        .pdf(&json!({"html": pages, "pdf": {"paper": "A4"}}))
        .await;
    let (count, w, h) = pdf_pages(&a4.body);
    assert_eq!(count, 5);
    assert!(
        (w - 595.0).abs() < 2.0 && (h - 842.0).abs() < 2.0,
        "A4 is {w}x{h}"
    );

    let wide = sup
        .pdf(&json!({"html": pages, "pdf": {"paper": "Letter", "landscape": true}}))
        .await;
    let (_, w, h) = pdf_pages(&wide.body);
    assert!(
        (w - 792.0).abs() < 2.0 && (h - 612.0).abs() < 2.0,
        "Letter landscape is {w}x{h}"
    );

    let some = sup
        .pdf(&json!({"html": pages, "pdf": {"page_ranges": "2-3"}}))
        .await;
    assert_eq!(pdf_pages(&some.body).0, 2);
    let text = pdf_text(&some.body);
    assert!(
        text.contains("page 2") && !text.contains("page 1"),
        "{text}"
    );

    let custom = sup
        .pdf(&json!({"html": "x", "pdf": {"width": "100mm", "height": "2in"}}))
        .await;
    let (_, w, h) = pdf_pages(&custom.body);
    assert!(
        (w - 283.5).abs() < 2.0 && (h - 144.0).abs() < 2.0,
        "custom is {w}x{h}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn url_to_pdf_and_a_404_fails_the_job() {
    let web = WebServer::start().await;
    web.route("/report", Canned::html("<p>served over loopback</p>"));
    web.route("/gone", Canned::html("<p>missing</p>").with_status(404));
    let sup = Supervisor::start(&["--allow-private", &web.origin()]).await;

    let ok = sup.pdf(&json!({"url": web.url("/report")})).await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    assert!(pdf_text(&ok.body).contains("served over loopback"));

    let missing = sup.pdf(&json!({"url": web.url("/gone")})).await;
    assert_eq!(missing.status, 502);
    assert_eq!(missing.error_code(), "page_failed");
    assert!(
        missing.error_message().contains("404"),
        "{}",
        missing.error_message()
    );

    let tolerated = sup
        .pdf(&json!({"url": web.url("/gone"), "fail_on": {"http_status": null}}))
        .await;
    assert_eq!(tolerated.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn element_screenshot_is_right_on_a_page_scrolled_far_down() {
    let sup = Supervisor::start(&[]).await;
    let html = "<body style='margin:0'><div style='height:6000px'></div>\
        <div id='target' style='margin-left:37px;width:120px;height:80px;background:rgb(0,160,0)'>\
        </div><div style='height:3000px'></div><script>scrollTo(0, 5500)</script></body>";
    let job = json!({
        "html": html,
        "viewport": {"width": 800, "height": 600, "device_scale_factor": 2},
        "screenshot": {"selector": "#target"},
    });
    let answer = sup.screenshot(&job).await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(answer.header("content-type"), Some("image/png"));
    let image = decode(&answer.body);
    assert_eq!(image.dimensions(), (240, 160));
    for (x, y) in [(120, 80), (2, 2), (237, 157)] {
        let p = image.get_pixel(x, y);
        assert!(
            p[0] < 20 && p[1] > 140 && p[2] < 20,
            "pixel ({x},{y}) is {p:?}"
        );
    }
}

/// A chart that exists hidden at load and is drawn 500 ms later.
const LATE_CHART: &str = "<body style='margin:0;background:#fff'>\
    <div id='chart' style='visibility:hidden;width:400px;height:100px'>\
    <div id='bar' style='width:0;height:100px;background:rgb(0,0,255)'></div></div>\
    <script>addEventListener('load', () => setTimeout(() => {\
      document.getElementById('bar').style.width = '400px';\
      document.getElementById('chart').style.visibility = 'visible';\
      window.chartDone = true; }, 500));</script></body>";

fn blue_pixels(png: &[u8]) -> usize {
    decode(png)
        .pixels()
        .filter(|p| p[0] < 30 && p[1] < 30 && p[2] > 220)
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn waits_for_a_chart_drawn_after_load() {
    let sup = Supervisor::start(&[]).await;
    let shot = |wait: serde_json::Value| {
        let viewport = json!({"width": 400, "height": 100});
        json!({"html": LATE_CHART, "viewport": viewport, "wait": wait})
    };
    let complete = 400 * 100;

    let by_selector = sup.screenshot(&shot(json!({"selector": "#chart"}))).await;
    assert_eq!(by_selector.status, 200);
    assert_eq!(
        blue_pixels(&by_selector.body),
        complete,
        "selector wait captured it incomplete"
    );

    let by_expression = sup
        .screenshot(&shot(json!({"expression": "window.chartDone"})))
        .await;
    assert_eq!(by_expression.status, 200);
    assert_eq!(
        blue_pixels(&by_expression.body),
        complete,
        "expression wait captured it incomplete"
    );

    // The control: waiting for load alone captures the chart before it is drawn.
    let at_load = sup.screenshot(&shot(json!({"until": "load"}))).await;
    assert_eq!(at_load.status, 200);
    assert_eq!(
        blue_pixels(&at_load.body),
        0,
        "the control should capture an empty chart"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_that_never_finishes_times_out_and_the_next_job_works() {
    let web = WebServer::start().await;
    let sup = Supervisor::start(&["--allow-private", &web.origin()]).await;
    let started = Instant::now();
    let answer = sup
        .pdf(&json!({"url": web.url("/hang"), "timeout_ms": 2000}))
        .await;
    let elapsed = started.elapsed();
    assert_eq!(answer.status, 504);
    assert_eq!(answer.error_code(), "timeout");
    assert!(
        elapsed >= Duration::from_millis(2000),
        "answered early: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_millis(4000),
        "answered late: {elapsed:?}"
    );

    let next = sup.pdf(&json!({"html": "<p>after the timeout</p>"})).await;
    assert_eq!(next.status, 200);
    assert!(pdf_text(&next.body).contains("after the timeout"));
}

#[tokio::test(flavor = "multi_thread")]
async fn survives_chrome_being_killed_between_and_during_jobs() {
    let web = WebServer::start().await;
    let sup = Supervisor::start(&["--allow-private", &web.origin()]).await;

    // /livez is polled throughout and must never fail.
    let socket = sup.socket.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watching = stop.clone();
    let livez = tokio::spawn(async move {
        let mut failures = Vec::new();
        let mut polls = 0;
        while !watching.load(std::sync::atomic::Ordering::SeqCst) {
            match render_tests::request(&socket, "GET", "/livez", None, &[]).await {
                Ok(a) if a.status == 200 => {}
                other => failures.push(format!("{other:?}")),
            }
            polls += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (polls, failures)
    });

    // Between jobs.
    let first = sup.chrome_pid().await;
    render_tests::kill_group(first);
    sup.wait_healthy(Duration::from_secs(30)).await;
    let after_kill = sup.pdf(&json!({"html": "<p>after kill</p>"})).await;
    assert_eq!(
        after_kill.status,
        200,
        "{}",
        String::from_utf8_lossy(&after_kill.body)
    );
    let left = group_gone(first, Duration::from_secs(10)).await;
    assert!(left.is_empty(), "old chrome processes remain: {left:?}");

    // During a job: the page hangs, Chrome's main process is killed under it.
    let second = sup.chrome_pid().await;
    assert_ne!(first, second);
    let job = sup.submit_pdf(&json!({"url": web.url("/hang"), "timeout_ms": 20000}));
    web.wait_for_hit("/hang").await;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(second),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let failed = job.await.unwrap().unwrap();
    assert_eq!(
        failed.status,
        503,
        "{}",
        String::from_utf8_lossy(&failed.body)
    );
    assert_eq!(failed.error_code(), "chrome_unavailable");

    sup.wait_healthy(Duration::from_secs(30)).await;
    let later = sup.pdf(&json!({"html": "<p>later</p>"})).await;
    assert_eq!(later.status, 200);
    let left = group_gone(second, Duration::from_secs(10)).await;
    assert!(
        left.is_empty(),
        "processes of the killed chrome remain: {left:?}"
    );
    assert!(
        sup.metric("render_supervisor_chrome_restarts_total", "")
            .await
            >= 2.0
    );

    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (polls, failures) = livez.await.unwrap();
    assert!(polls > 10, "livez was polled only {polls} times");
    assert!(failures.is_empty(), "livez failed: {failures:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_queue_answers_429_at_once() {
    let web = WebServer::start().await;
    let sup = Supervisor::start(&[
        "--allow-private",
        &web.origin(),
        "--max-concurrency",
        "1",
        "--queue-size",
        "1",
    ])
    .await;
    let hanging = json!({"url": web.url("/hang"), "timeout_ms": 8000}).to_string();
    let mut held = Vec::new();
    for _ in 0..2 {
        let socket = sup.socket.clone();
        let body = hanging.clone();
        held.push(tokio::spawn(async move {
            render_tests::request(&socket, "POST", "/v1/pdf", Some(body.as_bytes()), &[]).await
        }));
    }
    // One job renders (its page request reached the server), one waits in the queue.
    while web.hits("/hang").is_empty() || sup.health().await["jobs"]["queued"] != 1 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = Instant::now();
    let refused = sup.pdf(&json!({"html": "x"})).await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.error_code(), "queue_full");
    assert!(refused.header("retry-after").is_some());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "429 was not immediate"
    );
    for job in held {
        job.abort();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_jobs_are_400s_naming_the_problem() {
    let sup = Supervisor::start(&["--max-job-timeout", "60s", "--max-viewport", "2000"]).await;
    let cases: &[(&str, &str)] = &[
        ("not json", "body"),
        (r#"{"html": "x", "colour": "red"}"#, "colour"),
        (r#"{"html": 42}"#, "html"),
        (r#"{"html": "x", "url": "http://127.0.0.1/"}"#, "url"),
        (r#"{"timeout_ms": 100}"#, "url"),
        (r#"{"html": "x", "timeout_ms": -1}"#, "timeout_ms"),
        (r#"{"html": "x", "timeout_ms": 60001}"#, "timeout_ms"),
        (
            r#"{"html": "x", "viewport": {"width": 2001}}"#,
            "viewport.width",
        ),
        (
            r#"{"html": "x", "pdf": {"margin": {"left": "3 furlongs"}}}"#,
            "pdf.margin.left",
        ),
        (r#"[1, 2]"#, "body"),
    ];
    for (body, field) in cases {
        let answer = sup.request("POST", "/v1/pdf", Some(body.as_bytes())).await;
        assert_eq!(answer.status, 400, "{body}");
        assert_eq!(answer.error_code(), "invalid_job", "{body}");
        let message = answer.error_message();
        assert!(
            message.starts_with(field),
            "{body}: message {message:?} should name {field}"
        );
    }
    // A body announced above the limit is refused from its length alone. A client that
    // sends it all before reading (as Python's http.client does) must still get the
    // answer, not a reset connection: the daemon reads and discards the rest first.
    let too_large = {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let stream = tokio::net::UnixStream::connect(&sup.socket).await.unwrap();
        let (mut reader, mut writer) = stream.into_split();
        let size = 11 << 20;
        let sending = tokio::spawn(async move {
            let head = format!(
                "POST /v1/pdf HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
                 Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
            );
            writer.write_all(head.as_bytes()).await?;
            writer.write_all(&vec![b'x'; size]).await?;
            Ok::<_, std::io::Error>(writer)
        });
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(20), reader.read_to_end(&mut answer))
            .await
            .expect("no answer to an oversized body")
            .unwrap();
        let _ = sending.await;
        String::from_utf8_lossy(&answer).into_owned()
    };
    assert!(too_large.starts_with("HTTP/1.1 413 "), "{too_large}");
    assert!(too_large.contains(r#""code":"too_large""#), "{too_large}");

    let fine = sup.pdf(&json!({"html": "<p>still serving</p>"})).await;
    assert_eq!(fine.status, 200);
}

/// Page for the isolation test: it reports what it finds of earlier jobs, then leaves
/// its own cookie, localStorage and IndexedDB entries, and loads a cacheable script.
const ISOLATION_PAGE: &str = r#"<body><script src="/cacheable.js"></script><script>
(async () => {
  const idb = await new Promise((resolve) => {
    const open = indexedDB.open('jobs', 1);
    open.onupgradeneeded = () => open.result.createObjectStore('s');
    open.onsuccess = () => {
      const tx = open.result.transaction('s', 'readwrite');
      const get = tx.objectStore('s').get('mark');
      get.onsuccess = () => { tx.objectStore('s').put('set', 'mark'); resolve(get.result || ''); };
    };
    open.onerror = () => resolve('error');
  });
  const seen = { cookie: document.cookie, local: localStorage.getItem('mark') || '', idb };
  document.cookie = 'mark=set; max-age=3600';
  localStorage.setItem('mark', 'set');
  await fetch('/report?' + new URLSearchParams(seen));
  window.reported = true;
})();
</script></body>"#;

#[tokio::test(flavor = "multi_thread")]
async fn jobs_do_not_see_each_others_cookies_storage_or_cache() {
    let web = WebServer::start().await;
    web.route("/isolation", Canned::html(ISOLATION_PAGE));
    web.route(
        "/cacheable.js",
        Canned::typed("text/javascript", "window.cached = 1;")
            .with_header("cache-control", "public, max-age=3600"),
    );
    web.route("/report", Canned::typed("text/plain", "ok"));
    let sup = Supervisor::start(&["--allow-private", &web.origin()]).await;
    let job = |delay: u64| {
        let wait = json!({"expression": "window.reported", "delay_ms": delay});
        json!({"url": web.url("/isolation"), "wait": wait})
    };

    // Sequentially: A, then B.
    assert_eq!(sup.pdf(&job(0)).await.status, 200);
    assert_eq!(sup.pdf(&job(0)).await.status, 200);
    // Concurrently: A holds its page open while B runs.
    let a = sup.submit_pdf(&job(1500));
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(sup.pdf(&job(0)).await.status, 200);
    assert_eq!(a.await.unwrap().unwrap().status, 200);

    let reports = web.hits("/report");
    assert_eq!(reports.len(), 4);
    for report in &reports {
        assert_eq!(
            report.query, "cookie=&local=&idb=",
            "a job saw an earlier job's state"
        );
    }
    for page in web.hits("/isolation") {
        assert!(
            page.headers.get("cookie").is_none(),
            "a cookie crossed jobs"
        );
    }
    assert_eq!(
        web.hits("/cacheable.js").len(),
        4,
        "a cached response crossed jobs"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn health_command_exits_0_when_up_and_1_when_not() {
    let sup = Supervisor::start(&[]).await;
    let bin = render_tests::supervisor_bin();
    let up = std::process::Command::new(&bin)
        .args(["health", "--socket"])
        .arg(&sup.socket)
        .output()
        .unwrap();
    assert_eq!(
        up.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&up.stdout)
    );
    let nowhere = sup.dir.join("nothing-here.sock");
    let down = std::process::Command::new(&bin)
        .args(["health", "--socket"])
        .arg(&nowhere)
        .output()
        .unwrap();
    assert_eq!(down.status.code(), Some(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn render_command_saves_output_and_reports_failures() {
    let sup = Supervisor::start(&[]).await;
    let bin = render_tests::supervisor_bin();
    let job = sup.dir.join("job.json");
    std::fs::write(&job, json!({"html": "<p>from the command</p>"}).to_string()).unwrap();
    let out = sup.dir.join("out.pdf");
    let ok = std::process::Command::new(&bin)
        .args(["render", "--socket"])
        .arg(&sup.socket)
        .arg(&job)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(pdf_text(&std::fs::read(&out).unwrap()).contains("from the command"));

    std::fs::write(&job, r#"{"html": "x", "nonsense": true}"#).unwrap();
    let failed = std::process::Command::new(&bin)
        .args(["render", "--socket"])
        .arg(&sup.socket)
        .arg(&job)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&failed.stderr).contains("nonsense"));
}

#[tokio::test(flavor = "multi_thread")]
async fn no_tcp_or_udp_socket_of_the_daemon_accepts_a_job() {
    let web = WebServer::start().await;
    let sup = Supervisor::start(&["--allow-private", &web.origin()]).await;
    // While a job runs its egress proxy listens on loopback; it must not take jobs.
    let running = sup.submit_pdf(&json!({"url": web.url("/hang"), "timeout_ms": 15000}));
    web.wait_for_hit("/hang").await;
    let open = render_tests::listening_inet_sockets(sup.pid());
    assert!(!open.is_empty(), "the running job's proxy was not found");
    assert!(
        open.iter().all(|(table, _)| table.starts_with("tcp")),
        "UDP sockets: {open:?}"
    );
    for (_, address) in &open {
        let body = r#"{"html":"<p>over tcp</p>"}"#;
        let request = format!(
            "POST /v1/pdf HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let answer = render_tests::raw_http(*address, &request).await;
        assert!(
            !answer.contains("%PDF"),
            "{address} accepted a job: {answer:.200}"
        );
    }
    running.abort();

    // Idle, the daemon listens on nothing but its Unix socket.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !render_tests::listening_inet_sockets(sup.pid()).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let idle = render_tests::listening_inet_sockets(sup.pid());
    assert!(
        idle.is_empty(),
        "idle, the supervisor still listens on {idle:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn answers_carry_the_callers_request_id_and_health_fields() {
    let sup = Supervisor::start(&[]).await;
    let answer = sup
        .try_request(
            "POST",
            "/v1/pdf",
            Some(br#"{"html":"x"}"#),
            &[("x-request-id", "abc-123")],
        )
        .await
        .unwrap();
    assert_eq!(answer.header("x-request-id"), Some("abc-123"));
    let health = sup.health().await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["chrome"]["sandbox"], true);
    assert!(
        health["chrome"]["version"]
            .as_str()
            .unwrap()
            .contains("Chrome/")
    );
    assert!(health["jobs"]["running"].is_number() && health["jobs"]["queued"].is_number());
}

#[tokio::test(flavor = "multi_thread")]
async fn recycling_chrome_after_n_jobs_fails_no_job() {
    let sup = Supervisor::start(&["--recycle-after", "2", "--max-concurrency", "2"]).await;
    let first = sup.chrome_pid().await;
    let mut jobs = Vec::new();
    for i in 0..6 {
        let socket = sup.socket.clone();
        let body =
            json!({"html": format!("<p>job {i}</p>"), "wait": {"delay_ms": 300}}).to_string();
        jobs.push(tokio::spawn(async move {
            render_tests::request(&socket, "POST", "/v1/pdf", Some(body.as_bytes()), &[]).await
        }));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for job in jobs {
        let answer = job.await.unwrap().unwrap();
        assert_eq!(
            answer.status,
            200,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
    }
    assert!(
        sup.metric("render_supervisor_chrome_recycles_total", "")
            .await
            >= 1.0
    );
    assert_eq!(
        sup.metric("render_supervisor_chrome_restarts_total", "")
            .await,
        0.0
    );
    sup.wait_healthy(Duration::from_secs(30)).await;
    assert_ne!(sup.chrome_pid().await, first);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_disconnects_cancels_its_job() {
    let web = WebServer::start().await;
    let sup = Supervisor::start(&["--allow-private", &web.origin()]).await;
    let job = sup.submit_pdf(&json!({"url": web.url("/hang"), "timeout_ms": 60000}));
    web.wait_for_hit("/hang").await;
    assert_eq!(sup.health().await["jobs"]["running"], 1);
    job.abort();
    let deadline = Instant::now() + Duration::from_secs(5);
    while sup.health().await["jobs"]["running"] != 0 {
        assert!(
            Instant::now() < deadline,
            "the job kept running after its client left"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        sup.metric("render_supervisor_jobs_total", "outcome=\"cancelled\"")
            .await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_selector_or_time_zone_is_a_400_at_once() {
    let sup = Supervisor::start(&[]).await;
    let started = Instant::now();
    let selector = sup
        .pdf(&json!({"html": "x", "wait": {"selector": "##x"}}))
        .await;
    assert_eq!(
        selector.status,
        400,
        "{}",
        String::from_utf8_lossy(&selector.body)
    );
    assert!(selector.error_message().starts_with("wait.selector"));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the bad selector was waited on"
    );
    let zone = sup
        .pdf(&json!({"html": "x", "timezone": "Mars/Olympus_Mons"}))
        .await;
    assert_eq!(zone.status, 400, "{}", String::from_utf8_lossy(&zone.body));
    assert!(zone.error_message().starts_with("timezone"));
    let good = sup
        .pdf(&json!({"html": "x", "timezone": "Europe/Paris"}))
        .await;
    assert_eq!(good.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_stops_reading_is_cut_off_by_the_write_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sup = Supervisor::start(&["--write-timeout", "2s"]).await;
    // One canvas of random pixels: a PDF of about 12 MB, far more than a socket buffers.
    let html = "<body><script>const c = document.createElement('canvas');\
        c.width = c.height = 2000;\
        const x = c.getContext('2d'); const d = x.createImageData(2000, 2000);\
        const w = new Uint32Array(d.data.buffer);\
        for (let i = 0; i < w.length; i += 16384) crypto.getRandomValues(w.subarray(i, i + 16384));\
        for (let i = 3; i < d.data.length; i += 4) d.data[i] = 255;\
        x.putImageData(d, 0, 0); document.body.appendChild(c);</script>";
    let body = json!({"html": html}).to_string();
    let mut stream = tokio::net::UnixStream::connect(&sup.socket).await.unwrap();
    let head = format!(
        "POST /v1/pdf HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut first = [0u8; 64];
    let read = stream.read(&mut first).await.unwrap();
    assert!(String::from_utf8_lossy(&first[..read]).starts_with("HTTP/1.1 200"));
    // Stop reading; the job must not hold its slot and browser context forever.
    let started = Instant::now();
    while sup.health().await["jobs"]["running"] != 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the stalled job was never cut off"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Ended by the timeout, not by the whole PDF fitting into the socket's buffers.
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    drop(stream);
    assert_eq!(sup.pdf(&json!({"html": "x"})).await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_that_navigates_while_loading_is_rendered_at_its_destination() {
    let web = WebServer::start().await;
    web.route(
        "/first",
        Canned::html("<p>first</p><script>location.href = '/second'</script>"),
    );
    web.route("/second", Canned::html("<p>second page</p>"));
    let sup = Supervisor::start(&["--allow-private", &web.origin()]).await;
    let answer = sup
        .pdf(&json!({"url": web.url("/first"), "timeout_ms": 10000}))
        .await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert!(pdf_text(&answer.body).contains("second page"));
}
