//! Helpers shared by the end-to-end tests: a real `render-supervisor` on a temporary
//! socket, a client for it, and a small web server on loopback for pages to load.
//!
//! The tests run as root (CI does), so the supervisor is started as root with
//! `--user render-test` and drops to that user, which is the path that keeps Chrome's own
//! sandbox on. The test process itself connects as uid 0, which it allows explicitly.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use serde_json::Value;

/// The unprivileged account the supervisor drops to in tests (made by `scripts/setup.sh`).
pub const TEST_USER: &str = "render-test";

/// The supervisor binary: `RENDER_SUPERVISOR_BIN`, else the one Cargo built beside the
/// test executable.
pub fn supervisor_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("RENDER_SUPERVISOR_BIN") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let bin = profile_dir.join("render-supervisor");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p render-supervisor` first",
        bin.display()
    );
    bin
}

pub fn temp_dir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rt-{label}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// A running supervisor, stopped (SIGTERM, then SIGKILL) when dropped.
#[derive(Debug)]
pub struct Supervisor {
    child: Option<Child>,
    pub dir: PathBuf,
    pub socket: PathBuf,
    pub log: PathBuf,
}

/// An answer from the supervisor.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn error_message(&self) -> String {
        self.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Supervisor {
    /// Starts `render-supervisor serve` with `args` on a fresh socket and waits until it is
    /// healthy.
    pub async fn start(args: &[&str]) -> Supervisor {
        let supervisor = Supervisor::spawn(args, &[]);
        supervisor.wait_healthy(Duration::from_secs(30)).await;
        supervisor
    }

    /// Starts it without waiting; `envs` are added to its environment.
    pub fn spawn(args: &[&str], envs: &[(&str, &str)]) -> Supervisor {
        Supervisor::spawn_wrapped(&[], args, envs)
    }

    /// Starts it inside the network namespace `netns` and waits until it is healthy.
    pub async fn start_in_netns(netns: &Netns, args: &[&str]) -> Supervisor {
        let supervisor = Supervisor::spawn_wrapped(&netns.exec_prefix(), args, &[]);
        supervisor.wait_healthy(Duration::from_secs(30)).await;
        supervisor
    }

    /// Starts it without waiting, as the last argument of `wrapper` (a command such as
    /// `ip netns exec NAME` that runs its arguments in place, keeping the pid).
    pub fn spawn_wrapped(wrapper: &[String], args: &[&str], envs: &[(&str, &str)]) -> Supervisor {
        let dir = temp_dir("sup");
        let given = args
            .iter()
            .position(|a| *a == "--socket")
            .map(|i| PathBuf::from(args[i + 1]));
        let socket = given
            .clone()
            .unwrap_or_else(|| dir.join("sock").join("render.sock"));
        let log = dir.join("supervisor.log");
        let mut command = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut command = Command::new(program);
                command.args(rest).arg(supervisor_bin());
                command
            }
            None => Command::new(supervisor_bin()),
        };
        command.arg("serve");
        if given.is_none() {
            command.arg("--socket").arg(&socket);
        }
        if nix::unistd::geteuid().is_root() {
            command.args(["--user", TEST_USER, "--allowed-uid", "0"]);
        }
        command.args(args).envs(envs.iter().copied());
        command.env(
            "RUST_LOG",
            "info,render_supervisor=debug,chromiumoxide=error",
        );
        let log_file = std::fs::File::create(&log).expect("log file");
        command
            .stdout(Stdio::null())
            .stderr(log_file.try_clone().unwrap())
            .stdin(Stdio::null());
        let child = command.spawn().expect("start render-supervisor");
        Supervisor {
            child: Some(child),
            dir,
            socket,
            log,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub async fn wait_healthy(&self, limit: Duration) {
        let started = Instant::now();
        loop {
            if let Ok(answer) = self.try_request("GET", "/healthz", None, &[]).await
                && answer.status == 200
            {
                return;
            }
            assert!(
                started.elapsed() < limit,
                "supervisor not healthy within {limit:?}; log:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn try_request(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        headers: &[(&str, &str)],
    ) -> Result<Answer, String> {
        request(&self.socket, method, path, body, headers).await
    }

    pub async fn request(&self, method: &str, path: &str, body: Option<&[u8]>) -> Answer {
        self.try_request(method, path, body, &[])
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "request {method} {path} failed: {e}; log:\n{}",
                    self.log_text()
                )
            })
    }

    /// Submits a PDF job in the background; the handle yields its answer.
    pub fn submit_pdf(&self, job: &Value) -> tokio::task::JoinHandle<Result<Answer, String>> {
        let socket = self.socket.clone();
        let body = job.to_string();
        tokio::spawn(async move {
            request(&socket, "POST", "/v1/pdf", Some(body.as_bytes()), &[]).await
        })
    }

    pub async fn pdf(&self, job: &Value) -> Answer {
        self.request("POST", "/v1/pdf", Some(job.to_string().as_bytes()))
            .await
    }

    pub async fn screenshot(&self, job: &Value) -> Answer {
        self.request("POST", "/v1/screenshot", Some(job.to_string().as_bytes()))
            .await
    }

    pub async fn health(&self) -> Value {
        self.request("GET", "/healthz", None).await.json()
    }

    /// The pid of Chrome's main process (the leader of its process group).
    pub async fn chrome_pid(&self) -> i32 {
        self.health().await["chrome"]["pid"]
            .as_i64()
            .expect("chrome pid") as i32
    }

    /// A metric's value from `/metrics` (sum over label sets that contain `labels`).
    pub async fn metric(&self, name: &str, labels: &str) -> f64 {
        let text = self.request("GET", "/metrics", None).await.body;
        let text = String::from_utf8_lossy(&text).into_owned();
        text.lines()
            .filter(|l| l.starts_with(name) && l.contains(labels))
            .filter(|l| l[name.len()..].starts_with(['{', ' ']))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn terminate(&mut self, limit: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            if started.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "supervisor did not exit within {limit:?}; log:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(10) {
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One HTTP/1.1 request over a Unix socket.
pub async fn request(
    socket: &Path,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    headers: &[(&str, &str)],
) -> Result<Answer, String> {
    let stream = tokio::net::UnixStream::connect(socket)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let mut builder = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .header("content-type", "application/json");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder
        .body(Full::new(Bytes::copy_from_slice(body.unwrap_or_default())))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// Waits up to `within` for every process of group `pgid` to vanish and answers those left.
/// Killed processes stay visible until whoever inherited them has reaped them.
pub async fn group_gone(pgid: i32, within: Duration) -> Vec<i32> {
    let deadline = Instant::now() + within;
    loop {
        let left = processes_in_group(pgid);
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Processes whose process group is `pgid`.
pub fn processes_in_group(pgid: i32) -> Vec<i32> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the command name (which may contain spaces) start after ") ".
        let Some(rest) = stat.rsplit_once(") ").map(|(_, r)| r) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(pgid) {
            found.push(pid);
        }
    }
    found
}

/// Kills a process group (used to clean up after a test that lost track of Chrome).
pub fn kill_group(pgid: i32) {
    let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
}

/// A canned answer of the test web server.
#[derive(Debug, Clone)]
pub struct Canned {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
}

impl Canned {
    pub fn html(body: impl Into<String>) -> Canned {
        Canned {
            status: 200,
            content_type: "text/html; charset=utf-8",
            headers: Vec::new(),
            body: Bytes::from(body.into()),
        }
    }

    pub fn with_status(mut self, status: u16) -> Canned {
        self.status = status;
        self
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Canned {
        self.headers.push((name, value.into()));
        self
    }

    pub fn typed(content_type: &'static str, body: impl Into<Bytes>) -> Canned {
        Canned {
            status: 200,
            content_type,
            headers: Vec::new(),
            body: body.into(),
        }
    }
}

/// A request the test server received.
#[derive(Debug, Clone)]
pub struct Hit {
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
}

#[derive(Debug, Default)]
struct ServerState {
    routes: Mutex<HashMap<String, Canned>>,
    hits: Mutex<Vec<Hit>>,
}

/// A web server on 127.0.0.1 serving canned pages. `/hang` never answers.
#[derive(Debug, Clone)]
pub struct WebServer {
    pub addr: SocketAddr,
    state: Arc<ServerState>,
}

impl WebServer {
    pub async fn start() -> WebServer {
        WebServer::start_on("127.0.0.1:0".parse().unwrap()).await
    }

    pub async fn start_on(address: SocketAddr) -> WebServer {
        let listener = tokio::net::TcpListener::bind(address).await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(ServerState::default());
        let app = axum::Router::new()
            .fallback(serve_canned)
            .with_state(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        WebServer { addr, state }
    }

    /// The origin to allow: `http://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn route(&self, path: &str, canned: Canned) {
        self.state
            .routes
            .lock()
            .unwrap()
            .insert(path.to_owned(), canned);
    }

    /// Waits until a request for `path` has arrived.
    pub async fn wait_for_hit(&self, path: &str) {
        while self.hits(path).is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn hits(&self, path: &str) -> Vec<Hit> {
        self.state
            .hits
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h.path == path)
            .cloned()
            .collect()
    }
}

async fn serve_canned(State(state): State<Arc<ServerState>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    state.hits.lock().unwrap().push(Hit {
        path: path.clone(),
        query,
        headers: request.headers().clone(),
    });
    if path == "/hang" {
        std::future::pending::<()>().await;
    }
    let canned = state.routes.lock().unwrap().get(&path).cloned();
    let Some(canned) = canned else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let mut response = (StatusCode::from_u16(canned.status).unwrap(), canned.body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        "content-type",
        HeaderValue::from_static(canned.content_type),
    );
    for (name, value) in canned.headers {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(&value).unwrap(),
        );
    }
    response
}

/// Text of a PDF, via poppler's `pdftotext`.
pub fn pdf_text(pdf: &[u8]) -> String {
    let dir = temp_dir("pdf");
    let path = dir.join("doc.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = Command::new("pdftotext")
        .arg(&path)
        .arg("-")
        .output()
        .expect("run pdftotext");
    assert!(
        out.status.success(),
        "pdftotext failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(dir);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Page count and the first page's size in points, via poppler's `pdfinfo`.
pub fn pdf_pages(pdf: &[u8]) -> (u32, f64, f64) {
    let dir = temp_dir("pdf");
    let path = dir.join("doc.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = Command::new("pdfinfo")
        .arg(&path)
        .output()
        .expect("run pdfinfo");
    let _ = std::fs::remove_dir_all(dir);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {name} in pdfinfo output: {text}"))
            .to_owned()
    };
    let pages = field("Pages:").parse().unwrap();
    let size = field("Page size:");
    let mut numbers = size
        .split_whitespace()
        .filter_map(|w| w.parse::<f64>().ok());
    (pages, numbers.next().unwrap(), numbers.next().unwrap())
}

/// The process's listening TCP sockets and bound UDP sockets, by table name.
pub fn listening_inet_sockets(pid: i32) -> Vec<(&'static str, SocketAddr)> {
    let mut inodes = std::collections::HashSet::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
    {
        if let Ok(target) = std::fs::read_link(fd.path()) {
            let target = target.to_string_lossy().into_owned();
            if let Some(inode) = target
                .strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'))
            {
                inodes.insert(inode.to_owned());
            }
        }
    }
    let mut found = Vec::new();
    for table in ["tcp", "tcp6", "udp", "udp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let listening = table.starts_with("udp") || fields.get(3) == Some(&"0A");
            if listening && fields.get(9).is_some_and(|i| inodes.contains(*i)) {
                let address = render_supervisor::egress::peer::parse_address(fields[1]).unwrap();
                found.push((table, address));
            }
        }
    }
    found
}

/// The process's listening TCP sockets.
pub fn listening_tcp(pid: i32) -> Vec<SocketAddr> {
    listening_inet_sockets(pid)
        .into_iter()
        .filter(|(table, _)| table.starts_with("tcp"))
        .map(|(_, address)| address)
        .collect()
}

/// Writes `request` to a TCP address and returns whatever comes back within a few
/// seconds (empty when the connection is refused or closed without an answer).
pub async fn raw_http(address: SocketAddr, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let connect = tokio::net::TcpStream::connect(address);
    let Ok(Ok(mut stream)) = tokio::time::timeout(Duration::from_secs(2), connect).await else {
        return String::new();
    };
    let _ = stream.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// A network namespace of its own, deleted when dropped. It starts with only `lo`, up, and
/// no route anywhere else, so nothing run inside it can reach beyond the machine.
#[derive(Debug)]
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn create(label: &str) -> Netns {
        let name = format!(
            "rt-{label}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let status = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("run ip");
        assert!(status.success(), "ip netns add {name} failed");
        let netns = Netns { name };
        netns.ip(&["link", "set", "lo", "up"]);
        netns
    }

    /// Runs `ip -n NAME args`, and says whether it succeeded.
    pub fn try_ip(&self, args: &[&str]) -> bool {
        Command::new("ip")
            .arg("-n")
            .arg(&self.name)
            .args(args)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Runs `ip -n NAME args`, panicking when it fails.
    pub fn ip(&self, args: &[&str]) {
        assert!(
            self.try_ip(args),
            "ip -n {} {} failed",
            self.name,
            args.join(" ")
        );
    }

    /// `ip netns exec NAME`, the words to put before a command to run it inside.
    pub fn exec_prefix(&self) -> Vec<String> {
        ["ip", "netns", "exec", &self.name]
            .map(str::to_owned)
            .to_vec()
    }

    /// A command for `program` that runs inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name, program]);
        command
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A DNS server on loopback that answers A queries for one name with a sequence of
/// addresses, one per query (the last one repeated), with a TTL of 0, as a rebinding
/// attacker's server would. Other queries get an empty answer.
#[derive(Debug)]
pub struct RebindingDns {
    pub addr: SocketAddr,
    pub queries: Arc<Mutex<Vec<std::net::Ipv4Addr>>>,
}

impl RebindingDns {
    pub async fn start(name: &str, answers: Vec<std::net::Ipv4Addr>) -> RebindingDns {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind dns");
        let addr = socket.local_addr().unwrap();
        let queries = Arc::new(Mutex::new(Vec::new()));
        let answered = queries.clone();
        let wanted: Vec<u8> = name
            .trim_end_matches('.')
            .split('.')
            .flat_map(|label| std::iter::once(label.len() as u8).chain(label.bytes()))
            .chain(std::iter::once(0))
            .collect();
        tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            loop {
                let Ok((len, from)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                let query = &buf[..len];
                // Header (12 bytes), then QNAME, QTYPE, QCLASS.
                let Some(name_end) = query[12..].iter().position(|b| *b == 0) else {
                    continue;
                };
                let question_end = 12 + name_end + 1 + 4;
                if question_end > len {
                    continue;
                }
                let qname = &query[12..12 + name_end + 1];
                let qtype = u16::from_be_bytes([query[question_end - 4], query[question_end - 3]]);
                let matches = qname.eq_ignore_ascii_case(&wanted) && qtype == 1;
                let mut reply = Vec::with_capacity(64);
                reply.extend_from_slice(&query[..2]);
                reply.extend_from_slice(&[0x81, 0x80, 0, 1, 0, u8::from(matches), 0, 0, 0, 0]);
                reply.extend_from_slice(&query[12..question_end]);
                if matches {
                    let mut seen = answered.lock().unwrap();
                    let ip = answers[seen.len().min(answers.len() - 1)];
                    seen.push(ip);
                    reply.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4]);
                    reply.extend_from_slice(&ip.octets());
                }
                let _ = socket.send_to(&reply, from).await;
            }
        });
        RebindingDns { addr, queries }
    }
}
