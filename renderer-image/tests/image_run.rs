//! The image run locked down on an internal network: jobs through the bind-mounted socket,
//! pages confined to the allowed origin, and Chrome's sandbox on only thanks to the shipped
//! seccomp profile.

mod image_support;

use std::time::Duration;

use image_support::*;

/// An HTTP server on port 8080 answering a few fixed pages and logging each request.
const ORIGIN_SERVER: &str = r#"
const pages = {
  '/': '<h1>Allowed origin</h1><p>Quarterly numbers</p>',
  '/reach': `<h1>Reaching out</h1>
    <img src="http://canary:8080/img.png">
    <img src="http://${process.env.CANARY_IP}:8080/by-address.png">
    <iframe src="http://canary:8080/frame"></iframe>
    <script>fetch('http://canary:8080/fetch').catch(() => {});</script>`,
};
require('http').createServer((req, res) => {
  console.log('request ' + req.url);
  res.writeHead(200, {'content-type': 'text/html'});
  res.end(pages[req.url] || '<p>other</p>');
}).listen(8080);
"#;

/// Logs every TCP connection it is offered, whatever is sent on it.
const CANARY_SERVER: &str = r#"
require('net').createServer(c => {
  console.log('connection from ' + c.remoteAddress);
  c.destroy();
}).listen(8080);
"#;

fn start_server(name: &str, network: &str, script: &str, env: &[&str]) -> Container {
    let container = Container::new(name);
    let mut args = vec![
        "run",
        "-d",
        "--name",
        name,
        "--network",
        network,
        "--network-alias",
        name.rsplit('-').next().unwrap(),
        "--user",
        "65534:65534",
    ];
    for e in env {
        args.extend_from_slice(&["-e", e]);
    }
    let base = ensure_base_image();
    args.extend_from_slice(&[&base, "node", "-e", script]);
    docker(&args);
    container
}

/// The user namespaces of Chrome's renderer processes and of PID 1, read from /proc.
fn renderer_namespaces(renderer: &Container) -> (Vec<String>, String) {
    // Matched on the whole command line from its start, so this shell, whose own command
    // line holds the pattern too, is not taken for a renderer.
    let out = renderer.exec_ok(
        "for p in /proc/[0-9]*; do \
           c=$(tr '\\0' ' ' < $p/cmdline 2>/dev/null); \
           case \"$c\" in /usr/lib/chromium/chromium*--type=renderer*) \
             echo renderer $(readlink $p/ns/user);; esac; \
         done; echo init $(readlink /proc/1/ns/user)",
    );
    let mut renderers = Vec::new();
    let mut init = String::new();
    for line in out.lines() {
        match line.split_once(' ') {
            Some(("renderer", ns)) => renderers.push(ns.to_string()),
            Some(("init", ns)) => init = ns.to_string(),
            _ => {}
        }
    }
    (renderers, init)
}

#[test]
fn renders_allowed_origin_and_never_reaches_the_canary() {
    ensure_image();
    let _serial = one_at_a_time();
    let network = Network::internal("renderer-image-test-net");
    let canary = start_server(
        "renderer-image-test-canary",
        &network.name,
        CANARY_SERVER,
        &[],
    );
    let canary_ip = canary.inspect("{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}");
    let origin = start_server(
        "renderer-image-test-origin",
        &network.name,
        ORIGIN_SERVER,
        &[&format!("CANARY_IP={canary_ip}")],
    );

    let run = start_renderer(
        "renderer-image-test-run",
        &[
            "--network",
            &network.name,
            "--grace-period",
            "20s",
            "--",
            "--allow-private",
            "http://origin:8080",
        ],
    );
    let socket = run.socket.clone();

    let pdf = job_within(
        &socket,
        "/v1/pdf",
        r#"{"url": "http://origin:8080/", "pdf": {"paper": "A4"}}"#,
        Duration::from_secs(20),
    );
    assert_eq!(pdf.status, 200, "{}", pdf.text());
    assert!(pdf.body.starts_with(b"%PDF-"));

    let png = job_within(
        &socket,
        "/v1/screenshot",
        r#"{"url": "http://origin:8080/"}"#,
        Duration::from_secs(20),
    );
    assert_eq!(png.status, 200, "{}", png.text());
    assert!(png.body.starts_with(b"\x89PNG\r\n\x1a\n"));

    // A page of the allowed origin reaching for the canary by name, by address, in a
    // frame and by script: the page renders, every one of those requests is blocked.
    let reach = job_within(
        &socket,
        "/v1/pdf",
        r#"{"url": "http://origin:8080/reach", "wait": {"until": "networkidle"}}"#,
        Duration::from_secs(20),
    );
    assert_eq!(reach.status, 200, "{}", reach.text());
    let blocked: u32 = reach
        .header("x-blocked-requests")
        .expect("blocked count")
        .parse()
        .unwrap();
    assert!(blocked >= 3, "only {blocked} requests blocked");

    // The canary as the main document is refused outright.
    let direct = job_within(
        &socket,
        "/v1/screenshot",
        r#"{"url": "http://canary:8080/"}"#,
        Duration::from_secs(20),
    );
    assert_eq!(direct.status, 403, "{}", direct.text());
    assert!(direct.text().contains("blocked_url"));

    std::thread::sleep(Duration::from_secs(1));
    assert!(
        origin.logs().contains("request /reach"),
        "{}",
        origin.logs()
    );
    assert_eq!(canary.logs().trim(), "", "the canary was reached");
}

#[test]
fn runs_unprivileged_read_only_with_chrome_sandboxed() {
    ensure_image();
    let _serial = one_at_a_time();
    let run = start_renderer("renderer-image-test-inside", &["--grace-period", "20s"]);
    let (renderer, socket) = (&run.container, run.socket.clone());

    // No process in the container runs as root, PID 1 included.
    let uids = renderer.exec_ok("for s in /proc/[0-9]*/status; do grep '^Uid:' $s; done");
    assert!(uids.lines().count() >= 3, "{uids}");
    for line in uids.lines() {
        assert!(
            line.split_whitespace().skip(1).all(|id| id != "0"),
            "a process runs as root: {line}"
        );
    }

    // The root filesystem is mounted read-only and refuses writes.
    let mounts = renderer.exec_ok("grep '^[^ ]* / ' /proc/mounts");
    let options = mounts.split_whitespace().nth(3).unwrap_or_default();
    assert!(options.split(',').any(|o| o == "ro"), "{mounts}");
    assert!(
        !renderer
            .exec("touch /usr/local/bin/dropped")
            .status
            .success()
    );

    // Chrome reports its sandbox on, and its renderers really live in a user namespace of
    // their own: look while a job keeps a page open.
    let health = request(&socket, "GET", "/healthz", "").unwrap();
    assert_eq!(health.status, 200, "{}", health.text());
    let health: serde_json::Value = serde_json::from_slice(&health.body).unwrap();
    assert_eq!(health["chrome"]["sandbox"], true, "{health}");
    let job_socket = socket.clone();
    let job = std::thread::spawn(move || {
        job_within(
            &job_socket,
            "/v1/pdf",
            r#"{"html": "<h1>held open</h1>", "wait": {"delay_ms": 4000}}"#,
            Duration::from_secs(20),
        )
    });
    std::thread::sleep(Duration::from_millis(2000));
    let (renderers, init) = renderer_namespaces(renderer);
    assert!(!renderers.is_empty(), "no renderer process seen");
    for ns in &renderers {
        assert_ne!(
            ns, &init,
            "a renderer shares the container's user namespace"
        );
    }
    assert_eq!(job.join().unwrap().status, 200);
    let cmdlines = renderer.exec_ok("cat /proc/[0-9]*/cmdline | tr '\\0' ' '");
    assert!(!cmdlines.contains("--no-sandbox"), "{cmdlines}");
}

#[test]
fn chrome_sandbox_cannot_start_under_the_engine_default_profile() {
    ensure_image();
    let _serial = one_at_a_time();
    let dir = socket_dir();
    let renderer = Container::new("renderer-image-test-control");
    let out = run_renderer(
        &renderer.name,
        dir.path(),
        &["--seccomp", "engine-default", "--wait-timeout", "15s"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is not healthy"), "{stderr}");

    let health = request(&dir.path().join("render.sock"), "GET", "/healthz", "").unwrap();
    assert_eq!(health.status, 503, "{}", health.text());
    assert!(
        renderer.logs().contains("No usable sandbox"),
        "{}",
        renderer.logs()
    );
    let (renderers, _) = renderer_namespaces(&renderer);
    assert!(renderers.is_empty());

    // Not ready, yet alive: a liveness probe must not restart a daemon that serves HTTP.
    let ready = renderer.exec("render-supervisor health");
    assert_eq!(ready.status.code(), Some(1));
    let live = renderer.exec("render-supervisor health --live");
    assert!(
        live.status.success(),
        "{}",
        String::from_utf8_lossy(&live.stdout)
    );
}
