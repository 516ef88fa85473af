//! The egress suite: every way a page can make Chrome open a connection, each run twice.
//!
//! Everything runs inside a network namespace the test creates: the supervisor, Chrome,
//! an allowed witness server and canary listeners on loopback, on the cloud metadata
//! address and on private (RFC 1918, CGNAT, ULA) addresses held by an interface of the
//! namespace. The namespace has no route out, so a broken policy cannot send anything off
//! the machine.
//!
//! Each vector runs once aimed at the witness, where it must arrive (proving that the
//! vector really makes a request), and once aimed at a canary, where nothing may ever
//! arrive. The canaries record every TCP connection as soon as it is accepted and every
//! UDP datagram, so even a connection that never sends a byte is caught.

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use render_tests::{Netns, Supervisor};
use serde_json::{Value, json};

/// The allowed witness (HTTP, on 127.0.0.1, [::1] and as `localhost`).
const WITNESS: u16 = 8080;
/// The loopback canary port: the same address as the witness, a port that is not allowed.
const CANARY: u16 = 9090;
const STUN: u16 = 3478;

/// Addresses the namespace's interface holds, each with a canary on port 80.
const PRIVATE_V4: &[&str] = &[
    "169.254.169.254",
    "10.0.0.1",
    "192.168.1.1",
    "172.16.0.1",
    "100.64.0.1",
];
const PRIVATE_V6: &str = "fd00::1";

/// One way of making a request. `page` is HTML with placeholders: `{T}` the target URL,
/// `{Q}` the same URL percent-encoded, `{WS}` it with a WebSocket scheme, `{B}` the target
/// origin, `{X}` the cross-site origin of the witness (`localhost`); its scripts may use
/// the helpers of [`PRELUDE`]. `aim` is the pair of target origins, allowed then not
/// allowed, where `{W}` and `{C}` stand for the witness and canary ports; an empty second
/// one means the first with `{W}` replaced by `{C}`. A page starting with `/` is a URL on
/// the witness given to the job itself.
struct Vector {
    name: &'static str,
    aim: (&'static str, &'static str),
    page: &'static str,
}

impl Vector {
    fn allowed(&self) -> String {
        ports(self.aim.0)
    }

    fn refused(&self) -> String {
        match self.aim.1 {
            "" => ports(&self.aim.0.replace("{W}", "{C}")),
            other => ports(other),
        }
    }
}

/// Script every vector page starts with: `f` fetches, `xhr` sends an XMLHttpRequest,
/// `later` runs code once the page has loaded (a navigation during parsing would cancel
/// the load the job waits for), `go` navigates then, `post` submits a form then, `w`
/// starts a worker from source text.
const PRELUDE: &str = r#"<script>
const f = (u, o) => fetch(u, {mode: "no-cors", ...o}).catch(() => 0);
const xhr = u => { const x = new XMLHttpRequest(); x.open("GET", u); x.send(); };
const later = g => onload = g;
const go = u => later(() => location.href = u);
const post = u => later(() => {
  document.body.insertAdjacentHTML("beforeend", `<form method="post" action="${u}"></form>`);
  document.forms[0].submit();
});
const w = code => new Worker(URL.createObjectURL(new Blob([code], {type: "text/javascript"})));
</script>"#;

const WITNESS_V4: &str = "http://127.0.0.1:{W}";
const MAPPED: &str = "http://[::ffff:127.0.0.1]:{W}";
const PORT: (&str, &str) = (WITNESS_V4, "");
const META: (&str, &str) = (WITNESS_V4, "http://169.254.169.254");
const IMG: &str = r#"<img src="{T}">"#;
const GO: &str = r#"<script>go("{T}")</script>"#;
const WS: &str = r#"<script>new WebSocket("{WS}")</script>"#;

/// The same spelling, with the witness's port and with the canary's.
const fn at(spelling: &'static str) -> (&'static str, &'static str) {
    (spelling, "")
}

/// The witness, and a canary on another address.
const fn to(canary: &'static str) -> (&'static str, &'static str) {
    (WITNESS_V4, canary)
}

const fn v(name: &'static str, aim: (&'static str, &'static str), page: &'static str) -> Vector {
    Vector { name, aim, page }
}

#[rustfmt::skip]
const VECTORS: &[Vector] = &[
    v("img", PORT, IMG),
    v("img srcset", PORT, r#"<img srcset="{T} 1x">"#),
    v("svg image", PORT, r#"<svg><image href="{T}" width="9" height="9"/></svg>"#),
    v("video poster", PORT, r#"<video poster="{T}"></video>"#),
    v("audio", PORT, r#"<audio src="{T}" preload="auto"></audio>"#),
    v("object", PORT, r#"<object data="{T}"></object>"#),
    v("script", PORT, r#"<script src="{T}?js"></script>"#),
    v("module import", PORT, r#"<script type="module">import("{T}?js").catch(() => 0)</script>"#),
    v("stylesheet link", PORT, r#"<link rel="stylesheet" href="{T}?css">"#),
    v("css @import", PORT, r#"<style>@import url("{T}?css");</style>"#),
    v("css url()", PORT, r#"<div style="width:9px;height:9px;background:url('{T}')"></div>"#),
    v("css list-style-image", PORT, r#"<ul style="list-style-image:url('{T}')"><li>x</ul>"#),
    v("font", PORT, r#"<style>@font-face{font-family:v;src:url("{T}")}*{font:9px v}</style>"#),
    v("base href", PORT, r#"<base href="{T}/"><img src="x">"#),
    v("fetch", PORT, r#"<script>f("{T}")</script>"#),
    v("keepalive fetch", PORT, r#"<script>f("{T}", {method: "POST", keepalive: true})</script>"#),
    v("xhr", PORT, r#"<script>xhr("{T}")</script>"#),
    v("websocket", PORT, WS),
    v("eventsource", PORT, r#"<script>new EventSource("{T}")</script>"#),
    v("sendBeacon", PORT, r#"<script>navigator.sendBeacon("{T}", "x")</script>"#),
    v("meta refresh", PORT, r#"<meta http-equiv="refresh" content="0;url={T}">"#),
    v("window.location", PORT, GO),
    v("form auto-submit", PORT, r#"<script>post("{T}")</script>"#),
    v("worker fetch", PORT, r#"<script>new Worker("/p/worker.js?t={Q}")</script>"#),
    v("blob worker fetch", PORT, r#"<script>w('fetch("{T}")')</script>"#),
    v("worker importScripts", PORT, r#"<script>w('importScripts("{T}?js")')</script>"#),
    v("prefetch", PORT, r#"<link rel="prefetch" href="{T}">"#),
    v("preload", PORT, r#"<link rel="preload" as="image" href="{T}">"#),
    v("same-site iframe", PORT, r#"<iframe src="{T}"></iframe>"#),
    v("srcdoc iframe", PORT, r#"<iframe srcdoc="<img src='{T}'>"></iframe>"#),
    v("cross-site iframe fetch", PORT, r#"<iframe src="{X}/p/fetcher.html?t={Q}"></iframe>"#),
    v("cross-site navigation", PORT, r#"<iframe src="{X}/p/navigator.html?t={Q}"></iframe>"#),
    v("javascript: navigation", PORT, r#"<script>go("javascript:void f('{T}')")</script>"#),
    v("javascript: iframe", PORT, r#"<iframe src="javascript:'<img src={T}>'"></iframe>"#),
    v("redirect of the document", PORT, "/redirect?to={Q}"),
    v("redirect of an img", PORT, r#"<img src="/redirect?to={Q}">"#),
    v("redirect of a fetch", PORT, r#"<script>f("/redirect?to={Q}")</script>"#),
    v("redirect of an iframe", PORT, r#"<iframe src="/redirect?to={Q}"></iframe>"#),
    v("decimal IPv4", at("http://2130706433:{W}"), IMG),
    v("hex IPv4", at("http://0x7f000001:{W}"), IMG),
    v("octal IPv4", at("http://0177.0.0.1:{W}"), IMG),
    v("short IPv4", at("http://127.1:{W}"), IMG),
    v("hex dotted IPv4", at("http://0x7f.0.0.0x1:{W}"), IMG),
    v("IPv6 literal", at("http://[::1]:{W}"), IMG),
    v("IPv6 long form", at("http://[0:0:0:0:0:0:0:1]:{W}"), IMG),
    v("IPv4-mapped IPv6", at("http://[::ffff:127.0.0.1]:{W}"), IMG),
    v("upper-case scheme", at("HTTP://127.0.0.1:{W}"), IMG),
    v("upper-case name", at("http://LOCALHOST:{W}"), IMG),
    v("userinfo", ("http://u@127.0.0.1:{W}", "http://127.0.0.1:{W}@127.0.0.1:{C}"), GO),
    v("trailing dot IPv4", at("http://127.0.0.1.:{W}"), IMG),
    v("trailing dot name", at("http://localhost.:{W}"), IMG),
    v("percent-encoded host", at("http://%31%32%37.0.0.1:{W}"), IMG),
    v("backslashes", at(r"http:\\127.0.0.1:{W}"), IMG),
    v("metadata img", META, IMG),
    v("metadata fetch", META, r#"<script>f("{T}")</script>"#),
    v("metadata navigation", META, GO),
    v("metadata redirect", META, "/redirect?to={Q}"),
    v("metadata decimal", ("http://2130706433:{W}", "http://2852039166"), IMG),
    v("metadata userinfo", ("http://u@127.0.0.1:{W}", "http://127.0.0.1:{W}@169.254.169.254"), GO),
    v("metadata IPv4-mapped", (MAPPED, "http://[::ffff:169.254.169.254]"), IMG),
    v("RFC 1918 10/8", to("http://10.0.0.1"), IMG),
    v("RFC 1918 192.168/16", to("http://192.168.1.1"), r#"<script>f("{T}")</script>"#),
    v("RFC 1918 172.16/12", to("http://172.16.0.1"), r#"<iframe src="{T}"></iframe>"#),
    v("CGNAT 100.64/10", to("http://100.64.0.1"), IMG),
    v("ULA fd00::/8", ("http://[::1]:{W}", "http://[fd00::1]"), IMG),
    v("ULA websocket", ("http://[::1]:{W}", "http://[fd00::1]"), WS),
    v("RFC 1918 IPv4-mapped", (MAPPED, "http://[::ffff:10.0.0.1]"), IMG),
];

/// Vectors with nothing to observe at the witness, run only against canaries: through a
/// proxy a preconnect opens a connection to the proxy alone, Chrome's popup blocker stops
/// `window.open` without a user gesture before any request, and no origin may reach the
/// unspecified address. A canary would still record a connection made around the proxy.
#[rustfmt::skip]
const UNOBSERVABLE: &[Vector] = &[
    v("preconnect https", ("https://127.0.0.1:{W}", ""), r#"<link rel="preconnect" href="{B}">"#),
    v("preconnect http", PORT, r#"<link rel="preconnect" href="{B}">"#),
    v("preconnect metadata", META, r#"<link rel="preconnect" href="{B}">"#),
    v("dns-prefetch", PORT, r#"<link rel="dns-prefetch" href="{B}">"#),
    v("window.open", PORT, r#"<script>window.open("{T}")</script>"#),
    v("window.open metadata", META, r#"<script>window.open("{T}")</script>"#),
    v("unspecified address", at("http://0.0.0.0:{W}"), IMG),
];

/// Reading a local file, in every spelling. There is no positive control: no origin a
/// job can be allowed makes `file:` readable, so the check is that a random token written
/// into the file never reaches the PDF. Each row is script run once the page has loaded,
/// `put` adds HTML to the page, `read` sends a synchronous XMLHttpRequest and adds the
/// answer, and `{F}` is the file's path.
#[rustfmt::skip]
const FILE_VECTORS: &[(&str, &str)] = &[
    ("iframe file:///", r#"put('<iframe src="file://{F}"></iframe>')"#),
    ("iframe FILE:///", r#"put('<iframe src="FILE://{F}"></iframe>')"#),
    ("iframe file:/", r#"put('<iframe src="file:{F}"></iframe>')"#),
    ("iframe file://localhost/", r#"put('<iframe src="file://localhost{F}"></iframe>')"#),
    ("iframe view-source:file:", r#"put('<iframe src="view-source:file://{F}"></iframe>')"#),
    ("iframe filesystem:file:", r#"put('<iframe src="filesystem:file://{F}"></iframe>')"#),
    ("object file:", r#"put('<object data="file://{F}" type="text/plain"></object>')"#),
    ("embed file:", r#"put('<embed src="file://{F}" type="text/plain">')"#),
    ("img file:", r#"put('<img src="file://{F}" alt="no image">')"#),
    ("link import file:", r#"put('<link rel="stylesheet" href="file://{F}">')"#),
    ("fetch file:", r#"fetch("file://{F}").then(r => r.text()).then(put, () => 0)"#),
    ("xhr file:", r#"read("file://{F}")"#),
    ("location file:", r#"location.href = "file://{F}""#),
    ("location FILE:", r#"location.href = "FILE://{F}""#),
    ("location file:/", r#"location.href = "file:{F}""#),
    ("location view-source:", r#"location.href = "view-source:file://{F}""#),
    ("location filesystem:", r#"location.href = "filesystem:file://{F}""#),
    ("meta refresh file:", r#"put('<meta http-equiv="refresh" content="0;url=file://{F}">')"#),
    ("window.open file:", r#"window.open("file://{F}")"#),
    ("form to file:", r#"put('<form action="file://{F}"></form>'); document.forms[0].submit()"#),
    ("redirect to file:", r#"put('<iframe src="/redirect?to=file://{F}"></iframe>')"#),
    ("javascript: file:", r#"put('<iframe src="javascript:fetch(`file://{F}`)"></iframe>')"#),
];

/// A frame, object or embed of a `file:` URL makes the job time out instead of printing;
/// no output is no leak either.
const FILE_TIMEOUT_MS: u64 = 4000;

/// Jobs the supervisor renders at once, and the test sends at once: a job's timeout counts
/// its time in the queue, so none should wait there.
const CONCURRENCY: usize = 4;

const FILE_PAGE: &str = r#"<p>{N}</p><script>
const put = html => document.body.insertAdjacentHTML("beforeend", html);
const read = u => {
  const x = new XMLHttpRequest(); x.open("GET", u, false); x.send(); put(x.response);
};
addEventListener("load", () => setTimeout(() => { try { {JS} } catch (e) {} }, 0));
</script>"#;

/// Job URLs that are not http(s): refused before Chrome sees them.
const FILE_JOB_URLS: &[&str] = &[
    "file://{F}",
    "FILE://{F}",
    "file:{F}",
    "view-source:file://{F}",
    "filesystem:file://{F}",
    "javascript:location.href='file://{F}'",
];

/// WebRTC: STUN over UDP and TURN over TCP, to loopback and private canaries. There is no
/// positive control through the supervisor: its Chrome may not send UDP at all, and TURN
/// servers are not origins. Each page reports that ICE gathering finished, which proves
/// the script ran to the point where candidates would have been sent.
#[rustfmt::skip]
const WEBRTC_SERVERS: &[(&str, &str)] = &[
    ("STUN to loopback", "stun:127.0.0.1:{S}"),
    ("STUN to RFC 1918", "stun:10.0.0.1:{S}"),
    ("STUN to metadata", "stun:169.254.169.254:{S}"),
    ("TURN over TCP to loopback", "turn:127.0.0.1:{C}?transport=tcp"),
    ("TURN over UDP to RFC 1918", "turn:10.0.0.1:{S}?transport=udp"),
];

const WEBRTC_PAGE: &str = r#"<script>
const pc = new RTCPeerConnection({iceServers: [{urls: "{U}", username: "u", credential: "p"}]});
pc.createDataChannel("x");
pc.onicegatheringstatechange = () => {
  if (pc.iceGatheringState === "complete") fetch("/ran/{ID}");
};
pc.createOffer().then(o => pc.setLocalDescription(o));
</script>"#;

/// Addresses every canary listens on, TCP.
fn canary_listeners() -> Vec<(String, u16)> {
    let mut all = vec![("127.0.0.1".to_owned(), CANARY), ("::1".to_owned(), CANARY)];
    all.extend(PRIVATE_V4.iter().map(|a| (a.to_string(), 80)));
    all.push((PRIVATE_V6.to_owned(), 80));
    all
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

fn ports(text: &str) -> String {
    text.replace("{W}", &WITNESS.to_string())
        .replace("{C}", &CANARY.to_string())
        .replace("{S}", &STUN.to_string())
}

/// The namespace with the private addresses on an interface of its own: a dummy one, or a
/// veth pair with both ends inside when the kernel has no dummy driver.
fn namespace() -> Netns {
    let netns = Netns::create("egress");
    if !netns.try_ip(&["link", "add", "d0", "type", "dummy"]) {
        netns.ip(&["link", "add", "d0", "type", "veth", "peer", "name", "d1"]);
        netns.ip(&["link", "set", "d1", "up"]);
    }
    for address in PRIVATE_V4 {
        netns.ip(&["addr", "add", &format!("{address}/32"), "dev", "d0"]);
    }
    netns.ip(&[
        "addr",
        "add",
        &format!("{PRIVATE_V6}/128"),
        "dev",
        "d0",
        "nodad",
    ]);
    netns.ip(&["link", "set", "d0", "up"]);
    netns
}

/// The witness and canary servers, one Python process inside the namespace.
struct Servers {
    child: Child,
    log: PathBuf,
}

impl Servers {
    fn start(netns: &Netns, dir: &Path, pages: &Path) -> Servers {
        let log = dir.join("events.jsonl");
        let ready = dir.join("ready");
        let witness: Vec<(&str, u16)> = vec![("127.0.0.1", WITNESS), ("::1", WITNESS)];
        let tcp = canary_listeners();
        let udp = [
            ("127.0.0.1", STUN),
            ("10.0.0.1", STUN),
            ("169.254.169.254", STUN),
        ];
        let config = json!({
            "log": log, "pages": pages, "ready": ready,
            "witness": witness, "tcp": tcp, "udp": udp,
        });
        let child = netns
            .command("python3")
            .arg(fixture("egress_servers.py"))
            .arg(config.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start the witness and canary servers");
        let mut servers = Servers { child, log };
        let started = Instant::now();
        while !ready.exists() {
            if let Ok(Some(status)) = servers.child.try_wait() {
                panic!("the servers exited early: {status}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "servers not ready"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        servers
    }

    fn events(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One job of the suite and what it is for.
struct Run {
    label: String,
    job: Value,
}

struct Outcome {
    label: String,
    status: u16,
    blocked: String,
    text: String,
    body: String,
}

async fn run_all(supervisor: &Supervisor, runs: Vec<Run>) -> Vec<Outcome> {
    futures::stream::iter(runs)
        .map(|run| async move {
            let body = run.job.to_string();
            let answer = match supervisor
                .try_request("POST", "/v1/pdf", Some(body.as_bytes()), &[])
                .await
            {
                Ok(answer) => answer,
                Err(err) => {
                    return Outcome {
                        label: run.label,
                        status: 0,
                        blocked: "-".into(),
                        text: String::new(),
                        body: format!("request failed: {err}"),
                    };
                }
            };
            let text = if answer.status == 200 {
                render_tests::pdf_text(&answer.body)
            } else {
                String::new()
            };
            Outcome {
                label: run.label,
                status: answer.status,
                blocked: answer
                    .header("x-blocked-requests")
                    .unwrap_or("-")
                    .to_owned(),
                text,
                body: String::from_utf8_lossy(&answer.body).into_owned(),
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await
}

fn page_job(url: String) -> Value {
    json!({"url": url, "wait": {"until": "load", "delay_ms": 400}, "timeout_ms": 45000})
}

/// Writes the page of `vector` aimed at `base` and returns the job that loads it.
fn vector_job(pages: &Path, id: &str, vector: &Vector, base: &str) -> Value {
    let target = format!("{base}/hit/{id}");
    let websocket = match target.split_once(':') {
        Some((_, rest)) => format!("ws:{rest}"),
        None => target.clone(),
    };
    let fill = |text: &str| {
        text.replace("{T}", &target)
            .replace("{Q}", &percent_encode(&target))
            .replace("{WS}", &websocket)
            .replace("{B}", base)
            .replace("{X}", &format!("http://localhost:{WITNESS}"))
    };
    let witness = format!("http://127.0.0.1:{WITNESS}");
    if vector.page.starts_with('/') {
        return page_job(format!("{witness}{}", fill(vector.page)));
    }
    let html = format!(
        "<!doctype html><meta charset=\"utf-8\"><title>{id}</title><p>{}</p>{PRELUDE}{}",
        vector.name,
        fill(vector.page)
    );
    std::fs::write(pages.join(format!("{id}.html")), html).unwrap();
    page_job(format!("{witness}/p/{id}.html"))
}

fn write_helper_pages(pages: &Path) {
    let target = "new URLSearchParams(location.search).get('t')";
    std::fs::write(
        pages.join("worker.js"),
        format!("fetch({target}, {{mode: 'no-cors'}}).catch(() => 0);\n"),
    )
    .unwrap();
    std::fs::write(
        pages.join("fetcher.html"),
        format!("<script>fetch({target}, {{mode: 'no-cors'}}).catch(() => 0)</script>"),
    )
    .unwrap();
    std::fs::write(
        pages.join("navigator.html"),
        format!("<script>location.href = {target}</script>"),
    )
    .unwrap();
}

fn hit_paths(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["kind"] == "witness")
        .filter_map(|e| e["path"].as_str().map(str::to_owned))
        .collect::<Vec<_>>()
}

fn arrived(events: &[Value], id: &str) -> bool {
    hit_paths(events)
        .iter()
        .any(|p| p.contains(&format!("/hit/{id}")))
}

/// Everything that reached a canary: a connection, a datagram, or a request to the
/// witness that was meant for a canary.
fn canary_events(events: &[Value]) -> Vec<String> {
    let mut found: Vec<String> = events
        .iter()
        .filter(|e| matches!(e["kind"].as_str(), Some("tcp" | "tcp-data" | "udp")))
        .map(Value::to_string)
        .collect();
    found.extend(
        hit_paths(events)
            .into_iter()
            .filter(|p| p.starts_with("/hit/") && p.contains("-neg"))
            .map(|p| format!("the witness got {p}, which was aimed at a canary")),
    );
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn no_vector_reaches_a_canary_and_every_vector_reaches_the_allowed_witness() {
    let started = Instant::now();
    let netns = namespace();
    let dir = render_tests::temp_dir("egress-vectors");
    let pages = dir.join("pages");
    std::fs::create_dir_all(&pages).unwrap();
    write_helper_pages(&pages);
    let servers = Servers::start(&netns, &dir, &pages);

    // The secret file Chrome's user could read, if a page could make it.
    let token = format!("secret-{}", uuid::Uuid::new_v4().simple());
    let secret_dir = render_tests::temp_dir("egress-secret");
    std::fs::set_permissions(&secret_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let secret = secret_dir.join("token.txt");
    std::fs::write(&secret, &token).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let secret_path = secret.display().to_string();

    // The mapped spelling is a host of its own to the policy, so it is allowed in that
    // form. Chrome tunnels every WebSocket through the proxy with CONNECT, which the
    // proxy admits for https and wss origins only, so the witness is a wss origin too.
    let allowed = [
        "http://127.0.0.1:{W}",
        "http://[::1]:{W}",
        "http://localhost:{W}",
        "http://[::ffff:127.0.0.1]:{W}",
        "wss://127.0.0.1:{W}",
        "wss://[::1]:{W}",
    ]
    .map(ports);
    let concurrency = CONCURRENCY.to_string();
    let mut args = vec!["--max-concurrency", concurrency.as_str()];
    for origin in &allowed {
        args.extend(["--allow-private", origin.as_str()]);
    }
    let supervisor = Supervisor::start_in_netns(&netns, &args).await;

    let mut positive = Vec::new();
    let mut negative = Vec::new();
    for (index, vector) in VECTORS.iter().enumerate() {
        let id = format!("v{index:02}-pos");
        let job = vector_job(&pages, &id, vector, &vector.allowed());
        positive.push(Run {
            label: format!("{id} {}", vector.name),
            job,
        });
        let id = format!("v{index:02}-neg");
        let job = vector_job(&pages, &id, vector, &vector.refused());
        negative.push(Run {
            label: format!("{id} {}", vector.name),
            job,
        });
    }
    for (index, vector) in UNOBSERVABLE.iter().enumerate() {
        let id = format!("n{index:02}-neg");
        let job = vector_job(&pages, &id, vector, &vector.refused());
        negative.push(Run {
            label: format!("{id} {}", vector.name),
            job,
        });
    }
    for (index, (name, page)) in FILE_VECTORS.iter().enumerate() {
        let id = format!("f{index:02}-neg");
        let script = page.replace("{F}", &secret_path);
        let html = FILE_PAGE.replace("{N}", name).replace("{JS}", &script);
        std::fs::write(pages.join(format!("{id}.html")), &html).unwrap();
        let url = format!("http://127.0.0.1:{WITNESS}/p/{id}.html");
        let mut job = page_job(url);
        job["timeout_ms"] = FILE_TIMEOUT_MS.into();
        negative.push(Run {
            label: format!("{id} {name}"),
            job,
        });
        let wait = json!({"until": "load", "delay_ms": 400});
        let inline = json!({"html": html, "wait": wait, "timeout_ms": FILE_TIMEOUT_MS});
        negative.push(Run {
            label: format!("{id} {name} (inline html)"),
            job: inline,
        });
    }
    for (index, url) in FILE_JOB_URLS.iter().enumerate() {
        let url = url.replace("{F}", &secret_path);
        negative.push(Run {
            label: format!("u{index:02}-neg job url {url}"),
            job: json!({"url": url}),
        });
    }
    for (index, (name, server)) in WEBRTC_SERVERS.iter().enumerate() {
        let id = format!("r{index:02}-neg");
        let html = WEBRTC_PAGE
            .replace("{U}", &ports(server))
            .replace("{ID}", &id);
        std::fs::write(pages.join(format!("{id}.html")), html).unwrap();
        let url = format!("http://127.0.0.1:{WITNESS}/p/{id}.html");
        let job = page_job(url);
        negative.push(Run {
            label: format!("{id} {name}"),
            job,
        });
    }

    // EGRESS_FILTER=TEXT runs only the jobs whose label contains TEXT.
    if let Ok(filter) = std::env::var("EGRESS_FILTER") {
        positive.retain(|r| r.label.contains(&filter));
        negative.retain(|r| r.label.contains(&filter));
    }
    let positive_outcomes = run_all(&supervisor, positive).await;
    let negative_outcomes = run_all(&supervisor, negative).await;
    // Anything still in flight lands within this grace period.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let events = servers.events();

    let mut report = String::new();
    for outcome in positive_outcomes.iter().chain(&negative_outcomes) {
        let body = if outcome.status == 200 {
            ""
        } else {
            outcome.body.as_str()
        };
        let (label, status, blocked) = (&outcome.label, outcome.status, &outcome.blocked);
        let _ = writeln!(report, "{label} -> {status} blocked={blocked} {body:.160}");
    }
    eprintln!("{report}took {:?}", started.elapsed());

    let mut problems = Vec::new();
    for reached in canary_events(&events) {
        problems.push(format!("a canary was reached: {reached}"));
    }
    for outcome in &negative_outcomes {
        if outcome.text.contains(&token) || outcome.body.contains(&token) {
            problems.push(format!(
                "{}: the secret file reached the output",
                outcome.label
            ));
        }
    }
    for outcome in &positive_outcomes {
        let id = &outcome.label[..7];
        if !arrived(&events, id) {
            let (status, blocked) = (outcome.status, &outcome.blocked);
            problems.push(format!(
                "{}: did not reach the witness (status {status}, blocked {blocked}) {:.160}",
                outcome.label, outcome.body
            ));
        }
    }
    let ran = hit_paths(&events);
    for outcome in negative_outcomes
        .iter()
        .filter(|o| o.label.starts_with('r'))
    {
        if !ran.contains(&format!("/ran/{}", &outcome.label[..7])) {
            problems.push(format!("{}: ICE gathering did not finish", outcome.label));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&secret_dir);
}
