//! Stopping the container during a job, and Chrome dying inside it.

mod image_support;

use std::time::{Duration, Instant};

use image_support::*;

/// Pids of processes in state Z, read from /proc through `docker exec`.
fn zombies(renderer: &Container) -> Vec<String> {
    let stats = renderer.exec_ok("cat /proc/[0-9]*/stat 2>/dev/null; true");
    stats
        .lines()
        .filter(|line| {
            // The state follows the command name, which is in parentheses.
            line.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                == Some("Z")
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn docker_stop_lets_the_running_job_finish_and_exits_0() {
    ensure_image();
    let _serial = one_at_a_time();
    let run = start_renderer("renderer-image-test-stop", &["--grace-period", "30s"]);
    let (renderer, socket) = (&run.container, run.socket.clone());
    let stop_timeout: u64 = renderer.inspect("{{.Config.StopTimeout}}").parse().unwrap();
    assert!(stop_timeout > 30, "stop timeout {stop_timeout}");

    let job = std::thread::spawn(move || {
        job_within(
            &socket,
            "/v1/pdf",
            r#"{"html": "<h1>late chart</h1>", "wait": {"delay_ms": 5000}}"#,
            Duration::from_secs(20),
        )
    });
    std::thread::sleep(Duration::from_millis(2000));

    let started = Instant::now();
    docker(&["stop", &renderer.name]);
    let took = started.elapsed();
    let answer = job.join().unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(answer.body.starts_with(b"%PDF-"));
    assert_eq!(
        renderer.inspect("{{.State.ExitCode}}"),
        "0",
        "{}",
        renderer.logs()
    );
    assert_eq!(renderer.inspect("{{.State.OOMKilled}}"), "false");
    assert!(
        took < Duration::from_secs(stop_timeout),
        "stop took {took:?}, timeout {stop_timeout}s"
    );
    assert!(!run.socket.exists(), "socket left behind");
}

#[test]
fn killed_chrome_is_replaced_and_leaves_no_zombie() {
    ensure_image();
    let _serial = one_at_a_time();
    let run = start_renderer("renderer-image-test-kill", &["--grace-period", "20s"]);
    let (renderer, socket) = (&run.container, run.socket.clone());
    let first = job_within(
        &socket,
        "/v1/pdf",
        r#"{"html": "<p>one</p>"}"#,
        Duration::ZERO,
    );
    assert_eq!(first.status, 200, "{}", first.text());

    // The browser process: chromium without a --type, found through the engine's view of
    // the container's processes. The shell's built-in `kill` does it, so no `kill` or `ps`
    // binary is needed in the image.
    let top = docker(&["top", &renderer.name, "-o", "pid,args"]);
    let host_view = String::from_utf8_lossy(&top.stdout).into_owned();
    assert!(host_view.contains("chromium"), "{host_view}");
    let pids = renderer.exec_ok(
        "for p in /proc/[0-9]*; do \
           c=$(tr '\\0' ' ' < $p/cmdline 2>/dev/null); \
           case \"$c\" in /usr/lib/chromium/chromium*) \
             case \"$c\" in *--type=*) ;; *) echo ${p#/proc/};; esac;; esac; \
         done",
    );
    let browser = pids.split_whitespace().next().expect("no browser process");
    renderer.exec_ok(&format!("kill -KILL {browser}"));

    let next = job_within(
        &socket,
        "/v1/screenshot",
        r#"{"html": "<p>two</p>"}"#,
        Duration::from_secs(30),
    );
    assert_eq!(next.status, 200, "{}", next.text());

    // The dead browser's children are orphans that PID 1 must reap; give it a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut left = zombies(renderer);
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        left = zombies(renderer);
    }
    assert!(left.is_empty(), "zombies: {left:?}");
}
