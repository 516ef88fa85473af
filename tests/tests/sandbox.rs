//! The supervisor as a sandbox: who may call, Chrome's own sandbox, a clean environment
//! for Chrome, secrets kept out of logs, and a clean shutdown.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use render_tests::{
    Supervisor, TEST_USER, WebServer, group_gone, processes_in_group, supervisor_bin,
};
use serde_json::json;

const NOBODY: u32 = 65534;

fn account(name: &str) -> (u32, u32) {
    let out = Command::new("id").args(["-u", name]).output().unwrap();
    let uid = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let out = Command::new("id").args(["-g", name]).output().unwrap();
    let gid = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    (uid, gid)
}

/// A socket directory anyone may enter, so that the peer check is what decides.
fn open_socket_dir() -> std::path::PathBuf {
    let dir = render_tests::temp_dir("open").join("sock");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(
        dir.parent().unwrap(),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// Runs `render-supervisor render` as another uid and gid; returns its exit code and
/// stderr.
fn render_as(uid: u32, gid: u32, socket: &std::path::Path) -> (i32, String) {
    let dir = render_tests::temp_dir("client");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let job = dir.join("job.json");
    std::fs::write(&job, json!({"html": "<p>peer</p>"}).to_string()).unwrap();
    std::fs::set_permissions(&job, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = Command::new(supervisor_bin())
        .args(["render", "--socket"])
        .arg(socket)
        .arg(&job)
        .arg("-o")
        .arg(dir.join("out.pdf"))
        .uid(uid)
        .gid(gid)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(dir);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn only_allowed_uids_and_primary_gids_may_call() {
    let (_, test_gid) = account(TEST_USER);
    let dir = open_socket_dir();
    let socket = dir.join("render.sock");
    let sup = Supervisor::spawn(
        &[
            "--socket",
            socket.to_str().unwrap(),
            "--socket-mode",
            "0666",
            "--allowed-uid",
            "0",
            "--allowed-gid",
            &test_gid.to_string(),
        ],
        &[],
    );
    let started = Instant::now();
    while render_tests::request(&socket, "GET", "/healthz", None, &[])
        .await
        .map(|a| a.status)
        != Ok(200)
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{}",
            sup.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let (code, stderr) = render_as(NOBODY, NOBODY, &socket);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("403") && stderr.contains("unauthorized"),
        "{stderr}"
    );

    let (code, stderr) = render_as(NOBODY, test_gid, &socket);
    assert_eq!(
        code, 0,
        "a peer whose primary gid is allowed was refused: {stderr}"
    );

    let log = sup.log_text();
    assert!(
        log.contains(&format!("peer_uid={NOBODY}")) && log.contains("peer_pid="),
        "the refusal was not logged with the peer's uid and pid:\n{log}"
    );
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

/// Renderer processes of a Chrome process group.
fn renderers(chrome_pid: i32) -> Vec<i32> {
    processes_in_group(chrome_pid)
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains("--type=renderer"))
                .unwrap_or(false)
        })
        .collect()
}

fn assert_renderers_sandboxed(chrome_pid: i32) {
    let renderers = renderers(chrome_pid);
    assert!(!renderers.is_empty(), "no renderer process found");
    let browser_ns = std::fs::read_link(format!("/proc/{chrome_pid}/ns/user")).unwrap();
    for pid in renderers {
        let ns = std::fs::read_link(format!("/proc/{pid}/ns/user")).unwrap();
        assert_ne!(
            ns, browser_ns,
            "renderer {pid} shares the browser's user namespace"
        );
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let seccomp = status
            .lines()
            .find_map(|l| l.strip_prefix("Seccomp:"))
            .unwrap()
            .trim();
        assert_eq!(seccomp, "2", "renderer {pid} has no seccomp filter");
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        assert!(!String::from_utf8_lossy(&cmdline).contains("--no-sandbox"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn chrome_sandbox_is_on_when_started_as_root_with_user() {
    let sup = Supervisor::start(&[]).await;
    // A page keeps a renderer alive while we look at it.
    let page = sup.submit_pdf(&json!({"html": "<p>x</p>", "wait": {"delay_ms": 3000}}));
    let chrome = sup.chrome_pid().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while renderers(chrome).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_renderers_sandboxed(chrome);
    assert_eq!(sup.health().await["chrome"]["sandbox"], true);
    assert_eq!(page.await.unwrap().unwrap().status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn chrome_sandbox_is_on_when_started_unprivileged() {
    let (uid, gid) = account(TEST_USER);
    let dir = render_tests::temp_dir("unpriv");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let socket = dir.join("render.sock");
    let log = dir.join("log");
    let mut child = Command::new(supervisor_bin())
        .args(["serve", "--socket"])
        .arg(&socket)
        .args(["--allowed-uid", "0", "--socket-mode", "0666"])
        .env("TMPDIR", "/tmp")
        .stderr(std::fs::File::create(&log).unwrap())
        .uid(uid)
        .gid(gid)
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        let health = render_tests::request(&socket, "GET", "/healthz", None, &[]).await;
        if health.as_ref().map(|a| a.status) == Ok(200) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let job = json!({"html": "<p>x</p>", "wait": {"delay_ms": 3000}}).to_string();
    let page = tokio::spawn({
        let socket = socket.clone();
        let body = job.into_bytes();
        async move { render_tests::request(&socket, "POST", "/v1/pdf", Some(&body), &[]).await }
    });
    let health = render_tests::request(&socket, "GET", "/healthz", None, &[])
        .await
        .unwrap()
        .json();
    let chrome = health["chrome"]["pid"].as_i64().unwrap() as i32;
    let deadline = Instant::now() + Duration::from_secs(10);
    while renderers(chrome).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_renderers_sandboxed(chrome);
    assert_eq!(page.await.unwrap().unwrap().status, 200);
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    assert!(child.wait().unwrap().success());
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_the_running_job_finish_then_exits_cleanly() {
    let mut sup = Supervisor::start(&[]).await;
    let chrome = sup.chrome_pid().await;
    let running = sup.submit_pdf(&json!({"html": "<p>finishing</p>", "wait": {"delay_ms": 2500}}));
    while sup.health().await["jobs"]["running"] != 1 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sup.pid()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = sup.pdf(&json!({"html": "late"})).await;
    assert_eq!(refused.status, 503);
    assert_eq!(refused.error_code(), "shutting_down");
    assert!(refused.header("retry-after").is_some());

    let finished = running.await.unwrap().unwrap();
    assert_eq!(
        finished.status,
        200,
        "{}",
        String::from_utf8_lossy(&finished.body)
    );
    assert!(render_tests::pdf_text(&finished.body).contains("finishing"));

    let socket = sup.socket.clone();
    let status = tokio::task::spawn_blocking(move || {
        let status = sup.terminate(Duration::from_secs(30));
        (status, sup)
    })
    .await
    .unwrap()
    .0;
    assert!(status.success(), "exit status {status:?}");
    assert!(!socket.exists(), "the socket file is still there");
    let left = group_gone(chrome, Duration::from_secs(10)).await;
    assert!(left.is_empty(), "chrome processes are left: {left:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn chrome_never_sees_the_supervisors_environment_and_logs_hold_no_secrets() {
    let web = WebServer::start().await;
    web.route("/page", render_tests::Canned::html("<p>page</p>"));
    let sup = Supervisor::spawn(
        &["--allow-private", &web.origin()],
        &[("DATABASE_PASSWORD", "hunter2-env-secret")],
    );
    sup.wait_healthy(Duration::from_secs(30)).await;
    let job = json!({
        "url": web.url("/page"),
        "headers": {"authorization": "Bearer header-secret-77"},
        "cookies": [{"name": "session", "value": "cookie-secret-88"}],
    });
    assert_eq!(sup.pdf(&job).await.status, 200);
    let seen = web.hits("/page");
    let auth = seen[0]
        .headers
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap();
    assert_eq!(
        auth, "Bearer header-secret-77",
        "the job's header did not reach the page"
    );

    let chrome = sup.chrome_pid().await;
    let processes = processes_in_group(chrome);
    assert!(processes.len() > 1);
    for pid in processes {
        let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&env).contains("hunter2-env-secret"),
            "chrome process {pid} inherited the supervisor's environment"
        );
    }
    let log = sup.log_text();
    for secret in ["header-secret-77", "cookie-secret-88", "hunter2-env-secret"] {
        assert!(!log.contains(secret), "{secret} appears in the log");
    }
}

/// Host pids of the processes in the PID namespace whose init is `init_pid`.
fn namespace_members(init_pid: i32) -> Vec<i32> {
    let ns = std::fs::read_link(format!("/proc/{init_pid}/ns/pid")).unwrap();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/ns/pid"))
                .ok()
                .as_ref()
                == Some(&ns)
        })
        .collect()
}

fn state_and_cmdline(pid: i32) -> (char, String) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit_once(") ")
        .and_then(|(_, r)| r.chars().next())
        .unwrap_or('?');
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    (state, String::from_utf8_lossy(&cmdline).replace('\0', " "))
}

#[tokio::test(flavor = "multi_thread")]
async fn as_pid_1_it_leaves_no_zombie_after_timeouts_and_a_chrome_kill() {
    let web = WebServer::start().await;
    let dir = render_tests::temp_dir("pid1");
    let socket = dir.join("sock").join("render.sock");
    let log = dir.join("log");
    let mut unshare = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc"])
        .arg(supervisor_bin())
        .args(["serve", "--socket"])
        .arg(&socket)
        .args([
            "--user",
            TEST_USER,
            "--allowed-uid",
            "0",
            "--allow-private",
            &web.origin(),
        ])
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let logged = || std::fs::read_to_string(&log).unwrap_or_default();
    let started = Instant::now();
    while render_tests::request(&socket, "GET", "/healthz", None, &[])
        .await
        .map(|a| a.status)
        != Ok(200)
    {
        assert!(started.elapsed() < Duration::from_secs(30), "{}", logged());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let init = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
        .find(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let ppid = stat
                .rsplit_once(") ")
                .and_then(|(_, r)| r.split(' ').nth(1)?.parse().ok());
            ppid == Some(unshare.id() as i32)
        })
        .expect("the namespace's init");

    let post = |body: serde_json::Value| {
        let socket = socket.clone();
        async move {
            render_tests::request(
                &socket,
                "POST",
                "/v1/pdf",
                Some(body.to_string().as_bytes()),
                &[],
            )
            .await
            .unwrap()
        }
    };
    assert_eq!(
        post(json!({"url": web.url("/hang"), "timeout_ms": 1500}))
            .await
            .status,
        504
    );
    assert_eq!(post(json!({"html": "<p>one</p>"})).await.status, 200);

    // Kill Chrome's main process from outside the namespace.
    let chrome = namespace_members(init)
        .into_iter()
        .find(|pid| {
            let (_, cmd) = state_and_cmdline(*pid);
            cmd.contains("chromium") && !cmd.contains("--type=")
        })
        .expect("chrome's main process");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(chrome),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    loop {
        let answer = post(json!({"html": "<p>two</p>"})).await;
        if answer.status == 200 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{}", logged());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        post(json!({"url": web.url("/hang"), "timeout_ms": 1500}))
            .await
            .status,
        504
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;

    let zombies: Vec<(i32, String)> = namespace_members(init)
        .into_iter()
        .map(|pid| (pid, state_and_cmdline(pid)))
        .filter(|(_, (state, _))| *state == 'Z')
        .map(|(pid, (_, cmd))| (pid, cmd))
        .collect();
    assert!(zombies.is_empty(), "zombies in the namespace: {zombies:?}");

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(init),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = unshare.wait().unwrap();
    assert!(status.success(), "exit {status:?}; log:\n{}", logged());
    assert!(!socket.exists());
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn another_process_cannot_drive_chrome_over_devtools() {
    let sup = Supervisor::start(&[]).await;
    let chrome = sup.chrome_pid().await;
    // Chrome has no DevTools port of its own: no process of its group listens on TCP.
    for pid in processes_in_group(chrome) {
        let open = render_tests::listening_tcp(pid);
        assert!(open.is_empty(), "chrome process {pid} listens on {open:?}");
    }
    // The supervisor's relay to Chrome's pipe took its one client (the supervisor itself)
    // and listens no more; anything else trying a DevTools handshake gets nothing.
    for address in render_tests::listening_tcp(sup.pid()) {
        let handshake = "GET /devtools/browser/x HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\n\
            connection: upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
            sec-websocket-version: 13\r\n\r\n";
        let answer = render_tests::raw_http(address, handshake).await;
        assert!(
            !answer.contains("101"),
            "{address} accepted a DevTools client: {answer}"
        );
    }
    let cmdline = std::fs::read(format!("/proc/{chrome}/cmdline")).unwrap();
    let cmdline = String::from_utf8_lossy(&cmdline);
    assert!(cmdline.contains("--remote-debugging-pipe"));
    assert!(!cmdline.contains("--remote-debugging-port"));
    assert_eq!(
        sup.pdf(&json!({"html": "<p>still driven</p>"}))
            .await
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_client_is_cut_off_by_the_read_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sup = Supervisor::start(&["--read-timeout", "3s"]).await;

    // Headers at one byte per second never complete.
    let mut slow = tokio::net::UnixStream::connect(&sup.socket).await.unwrap();
    let started = Instant::now();
    let mut cut_off = false;
    for byte in b"POST /v1/pdf HTTP/1.1\r\nhost: x\r\n" {
        if slow.write_all(&[*byte]).await.is_err() {
            cut_off = true;
            break;
        }
        let mut buf = [0u8; 256];
        match tokio::time::timeout(Duration::from_secs(1), slow.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                cut_off = true;
                break;
            }
            _ => {}
        }
    }
    assert!(cut_off, "the slow client was never cut off");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "cut off late: {:?}",
        started.elapsed()
    );

    // A body that trickles in after complete headers gets a 400 naming the cause.
    let mut trickle = tokio::net::UnixStream::connect(&sup.socket).await.unwrap();
    let head = "POST /v1/pdf HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{";
    trickle.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), trickle.read_to_end(&mut answer));
    let _ = read.await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("read timeout"), "{answer}");

    assert_eq!(sup.pdf(&json!({"html": "x"})).await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_idle_connections_do_not_stop_a_well_behaved_client() {
    // The test process needs more descriptors than the usual 1024.
    let (_, hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    let wanted = 4096.max(hard);
    nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, wanted, wanted)
        .unwrap();
    let sup = Supervisor::start(&["--read-timeout", "60s"]).await;
    let mut idle = Vec::new();
    for _ in 0..1000 {
        idle.push(tokio::net::UnixStream::connect(&sup.socket).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let answer = sup
        .pdf(&json!({"html": "<p>served beside a thousand idle clients</p>"}))
        .await;
    assert_eq!(answer.status, 200);
    assert!(render_tests::pdf_text(&answer.body).contains("a thousand idle clients"));
    let status = std::fs::read_to_string(format!("/proc/{}/status", sup.pid())).unwrap();
    let rss_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    assert!(
        rss_kb < 100 * 1024,
        "supervisor RSS is {rss_kb} kB with 1000 idle connections"
    );
    drop(idle);
}
