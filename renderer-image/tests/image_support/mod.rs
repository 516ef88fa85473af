//! Shared helpers for the tests of the renderer image against the real engine.
//!
//! The image is built once per test binary from the offline base, through the
//! `renderer-image build` command itself; the engine's layer cache makes the later builds of
//! other test binaries quick. The supervisor binary comes from `RENDER_SUPERVISOR_BIN`, or is
//! built with `cargo auditable` into its own target directory (`target/auditable`), so a
//! plain release build elsewhere never invalidates it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

#[path = "../common/mod.rs"]
mod common;

pub use common::{docker, ensure_base_image};

/// Tag the tests build and run.
pub const IMAGE: &str = "renderer-image-test:latest";

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `render-supervisor` binary, built with `cargo auditable` when not given.
pub fn supervisor_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(path) = std::env::var_os("RENDER_SUPERVISOR_BIN") {
            return path.into();
        }
        let target = workspace().join("target").join("auditable");
        let status = Command::new("cargo")
            .args(["auditable", "build", "--release", "-p", "render-supervisor"])
            .env("CARGO_TARGET_DIR", &target)
            .current_dir(workspace())
            .status()
            .expect("cargo auditable");
        assert!(status.success(), "cargo auditable build failed");
        target.join("release").join("render-supervisor")
    })
    .clone()
}

/// Runs the `renderer-image` binary.
pub fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_renderer-image"))
        .args(args)
        .output()
        .expect("renderer-image")
}

/// Builds the test image once per test binary and answers its tag.
pub fn ensure_image() -> &'static str {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let base = ensure_base_image();
        let bin = supervisor_bin();
        let out = cli(&[
            "build",
            "--base",
            &base,
            "--tag",
            IMAGE,
            "--supervisor-bin",
            bin.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "renderer-image build: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
    IMAGE
}

/// Containers in one test binary run one at a time: each holds a Chrome, and the machine
/// has two cores.
pub fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// A container removed when the test ends, however it ends.
pub struct Container {
    pub name: String,
}

impl Container {
    pub fn new(name: &str) -> Self {
        let _ = Command::new("docker").args(["rm", "-f", name]).output();
        Container { name: name.into() }
    }

    /// Runs a command inside the container through the engine.
    pub fn exec(&self, script: &str) -> Output {
        Command::new("docker")
            .args(["exec", &self.name, "sh", "-c", script])
            .output()
            .expect("docker exec")
    }

    pub fn exec_ok(&self, script: &str) -> String {
        let out = self.exec(script);
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn logs(&self) -> String {
        let out = Command::new("docker")
            .args(["logs", &self.name])
            .output()
            .expect("docker logs");
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        text
    }

    pub fn inspect(&self, format: &str) -> String {
        let out = docker(&["inspect", "--format", format, &self.name]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", "-v", &self.name])
            .output();
    }
}

/// A Docker network with no route out, removed at the end.
pub struct Network {
    pub name: String,
}

impl Network {
    pub fn internal(name: &str) -> Self {
        let _ = Command::new("docker")
            .args(["network", "rm", name])
            .output();
        docker(&["network", "create", "--internal", name]);
        Network { name: name.into() }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["network", "rm", &self.name])
            .output();
    }
}

/// Starts `renderer-image run` with the given extra arguments and answers its output.
pub fn run_renderer(name: &str, socket_dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        "--image",
        IMAGE,
        "--name",
        name,
        "--socket-dir",
        socket_dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    cli(&args)
}

/// A renderer started by `renderer-image run`, with its socket directory on the host.
pub struct Renderer {
    pub container: Container,
    pub socket: PathBuf,
    _dir: tempfile::TempDir,
}

/// Starts a renderer under `name` and fails the test unless `run` reports it healthy.
pub fn start_renderer(name: &str, extra: &[&str]) -> Renderer {
    let dir = socket_dir();
    let container = Container::new(name);
    let out = run_renderer(name, dir.path(), extra);
    assert!(
        out.status.success(),
        "{IMAGE}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Renderer {
        container,
        socket: dir.path().join("render.sock"),
        _dir: dir,
    }
}

/// An HTTP answer read off the socket.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 request over the Unix socket, with `Connection: close`.
pub fn request(socket: &Path, method: &str, path: &str, body: &str) -> std::io::Result<Answer> {
    let mut stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':') {
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim(), 16)
                .map_err(|_| std::io::Error::other(format!("bad chunk size {line:?}")))?;
            if size == 0 {
                break;
            }
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        reader.read_to_end(&mut body)?;
    }
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// Sends a job, retrying while Chrome is being replaced (503), for at most `within`.
pub fn job_within(socket: &Path, path: &str, body: &str, within: Duration) -> Answer {
    let started = Instant::now();
    loop {
        let answer = request(socket, "POST", path, body).expect("job request");
        if answer.status != 503 || started.elapsed() > within {
            return answer;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A temporary socket directory under the system's temp dir.
pub fn socket_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("renderer-sock-")
        .tempdir()
        .unwrap()
}
