//! The egress proxy: the only way a job's pages reach the network.
//!
//! Each job's browser context gets its own proxy (Chrome accepts a proxy per context), so
//! each job has its own allow-list and its own count of blocked requests. Chrome sends
//! every request of the context here, loopback included (`<-loopback>` in the bypass list),
//! as `CONNECT host:port` for TLS and WebSockets and as absolute-form requests for plain
//! HTTP. For each one the proxy:
//!
//! 1. refuses connections that do not come from a process of Chrome's uid;
//! 2. checks scheme, host and port against the allowed origins, before any DNS lookup, so
//!    names that are not allowed are never resolved;
//! 3. resolves the name once and keeps only addresses the origin may reach (global ones,
//!    or private ones too for `--allow-private` origins);
//! 4. connects to exactly the address it checked, so a second, different DNS answer
//!    (rebinding) can never be what is connected to.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use url::Url;

use super::{Egress, peer};
use crate::policy::address;
use crate::policy::{Origin, OriginList};

/// Header on the proxy's own refusals, so the renderer can tell "blocked by policy" from
/// a page that answered 403 itself.
pub const BLOCKED_HEADER: &str = "x-render-supervisor-blocked";

/// Refusals logged per job; the rest are only counted.
const LOGGED_REFUSALS: u64 = 5;

type ProxyBody = BoxBody<Bytes, hyper::Error>;

#[derive(Debug)]
struct State {
    origins: OriginList,
    egress: Arc<Egress>,
    listen: SocketAddr,
    blocked: AtomicU64,
    /// The address each name resolved to the first time in this job. Later requests to
    /// the name connect there again, whatever DNS answers by then (rebinding).
    pinned: Mutex<HashMap<String, IpAddr>>,
}

/// A job's proxy, listening on loopback until dropped.
#[derive(Debug)]
pub struct EgressProxy {
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl Drop for EgressProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Why a request was refused.
#[derive(Debug)]
pub(crate) struct Refusal(pub(crate) String);

impl EgressProxy {
    pub async fn start(origins: OriginList, egress: Arc<Egress>) -> std::io::Result<EgressProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let listen = listener.local_addr()?;
        let state = Arc::new(State {
            origins,
            egress,
            listen,
            blocked: AtomicU64::new(0),
            pinned: Mutex::new(HashMap::new()),
        });
        let task = tokio::spawn(accept(listener, state.clone()));
        Ok(EgressProxy { state, task })
    }

    /// `http://127.0.0.1:PORT`, for the browser context's `proxyServer`.
    pub fn url(&self) -> String {
        format!("http://{}", self.state.listen)
    }

    pub fn blocked(&self) -> u64 {
        self.state.blocked.load(Ordering::SeqCst)
    }
}

async fn accept(listener: TcpListener, state: Arc<State>) {
    loop {
        let Ok((stream, client)) = listener.accept().await else {
            continue;
        };
        // Only Chrome, which runs as our uid, may use the proxy: any other process in the
        // network namespace (another container of the pod) gets the connection closed.
        match peer::tcp_owner(client, state.listen) {
            Some(owner) if owner.uid == state.egress.chrome_uid => {}
            owner => {
                tracing::warn!(
                    ?client,
                    uid = owner.map(|o| o.uid),
                    "proxy: foreign connection"
                );
                continue;
            }
        }
        // Answers are written in pieces (head, then body): with Nagle's algorithm on, a
        // piece can wait for the delayed ACK of the one before, tens of milliseconds each.
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(request, state).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
}

async fn handle(request: Request<Incoming>, state: Arc<State>) -> Response<ProxyBody> {
    let target = if request.method() == Method::CONNECT {
        tunnel_target(request.uri(), &state.origins)
    } else {
        forward_target(request.uri(), &state.origins)
    };
    let (origin, host, port) = match target {
        Ok(target) => target,
        Err(refusal) => return refuse(&state, request.uri().to_string(), refusal),
    };
    let address = match resolve(&state, &origin, &host, port).await {
        Ok(address) => address,
        Err(refusal) => return refuse(&state, request.uri().to_string(), refusal),
    };
    let upstream = match TcpStream::connect(address).await {
        Ok(stream) => {
            let _ = stream.set_nodelay(true);
            stream
        }
        Err(err) => return answer(StatusCode::BAD_GATEWAY, format!("cannot connect: {err}")),
    };
    if request.method() == Method::CONNECT {
        tokio::spawn(async move {
            if let Ok(upgraded) = hyper::upgrade::on(request).await {
                let mut upgraded = TokioIo::new(upgraded);
                let mut upstream = upstream;
                let _ = tokio::io::copy_bidirectional(&mut upgraded, &mut upstream).await;
            }
        });
        return Response::new(empty());
    }
    forward(request, upstream).await
}

/// Target of a `CONNECT host:port` tunnel: TLS or a WebSocket, so https, wss or ws origins.
/// Host and port are the ones the url crate reads from the authority, never the raw text.
pub(crate) fn tunnel_target(
    uri: &Uri,
    origins: &OriginList,
) -> Result<(Origin, String, u16), Refusal> {
    let authority = uri
        .authority()
        .ok_or_else(|| Refusal("CONNECT without host".into()))?;
    // The http crate keeps a port it cannot read (`host:65536`, `host:x`) in the authority
    // and reports it as no port at all, which would be taken for 443. The url crate refuses
    // such a port; with none, https gives TLS's 443.
    let read = Url::parse(&format!("https://{authority}/"))
        .map_err(|e| Refusal(format!("bad target {authority}: {e}")))?;
    let host = read.host_str().unwrap_or_default();
    let port = read.port_or_known_default().unwrap_or(443);
    // Chrome tunnels TLS and every WebSocket, plain ws included, through CONNECT.
    for scheme in ["https", "wss", "ws"] {
        let url = Url::parse(&format!("{scheme}://{host}:{port}/"))
            .map_err(|e| Refusal(format!("bad host {host}: {e}")))?;
        if let Some(origin) = origins.find(&url) {
            return Ok((
                origin.clone(),
                url.host_str().unwrap_or_default().to_owned(),
                port,
            ));
        }
    }
    Err(Refusal(format!(
        "{authority} is not within an allowed origin"
    )))
}

/// Target of a plain-HTTP request in absolute form.
pub(crate) fn forward_target(
    uri: &Uri,
    origins: &OriginList,
) -> Result<(Origin, String, u16), Refusal> {
    let url =
        Url::parse(&uri.to_string()).map_err(|e| Refusal(format!("bad request target: {e}")))?;
    let origin = origins.find(&url).ok_or_else(|| {
        Refusal(format!(
            "{} is not within an allowed origin",
            url.origin().ascii_serialization()
        ))
    })?;
    let port = url.port_or_known_default().unwrap_or(80);
    Ok((
        origin.clone(),
        url.host_str().unwrap_or_default().to_owned(),
        port,
    ))
}

/// Resolves once per job and picks the first address the origin may reach.
async fn resolve(
    state: &State,
    origin: &Origin,
    host: &str,
    port: u16,
) -> Result<SocketAddr, Refusal> {
    let (bare, literal) = literal_address(host);
    let pinned = state
        .pinned
        .lock()
        .expect("not poisoned")
        .get(bare)
        .copied();
    let candidates: Vec<IpAddr> = match (literal, pinned) {
        (Some(ip), _) => vec![ip],
        (None, Some(ip)) => vec![ip],
        (None, None) => state
            .egress
            .resolver
            .lookup(bare)
            .await
            .map_err(|e| Refusal(format!("cannot resolve {bare}: {e}")))?,
    };
    let chosen = candidates
        .iter()
        .copied()
        .find(|ip| !address::is_unreachable(*ip) && (origin.private || address::is_global(*ip)))
        .ok_or_else(|| {
            Refusal(format!(
                "{bare} resolves only to addresses {origin} may not reach: {candidates:?}"
            ))
        })?;
    if literal.is_none() {
        state
            .pinned
            .lock()
            .expect("not poisoned")
            .entry(bare.to_owned())
            .or_insert(chosen);
    }
    Ok(SocketAddr::new(chosen, port))
}

/// A host as the url crate writes it (`example.com`, `127.0.0.1`, `[::1]`), without the
/// brackets of an IPv6 literal, and the address when it is an IP literal.
pub(crate) fn literal_address(host: &str) -> (&str, Option<IpAddr>) {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    (bare, bare.parse().ok())
}

async fn forward(mut request: Request<Incoming>, upstream: TcpStream) -> Response<ProxyBody> {
    let (mut sender, connection) =
        match hyper::client::conn::http1::handshake(TokioIo::new(upstream)).await {
            Ok(pair) => pair,
            Err(err) => return answer(StatusCode::BAD_GATEWAY, format!("upstream: {err}")),
        };
    tokio::spawn(connection);
    // Origin form towards the server; proxy-only headers stay here.
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    *request.uri_mut() = path.parse().expect("a path and query is a valid URI");
    request.headers_mut().remove("proxy-connection");
    request.headers_mut().remove("proxy-authorization");
    match sender.send_request(request).await {
        Ok(response) => response.map(|b| b.boxed()),
        Err(err) => answer(StatusCode::BAD_GATEWAY, format!("upstream: {err}")),
    }
}

fn refuse(state: &State, target: String, refusal: Refusal) -> Response<ProxyBody> {
    let count = state.blocked.fetch_add(1, Ordering::SeqCst) + 1;
    state.egress.metrics.blocked_requests.inc();
    // A page decides how many requests it makes: only the first few are logged, the rest
    // are counted.
    if count <= LOGGED_REFUSALS {
        tracing::debug!(target = %target, reason = %refusal.0, "blocked");
    }
    let mut response = answer(
        StatusCode::FORBIDDEN,
        format!("blocked by policy: {}", refusal.0),
    );
    response
        .headers_mut()
        .insert(BLOCKED_HEADER, hyper::header::HeaderValue::from_static("1"));
    response
}

fn answer(status: StatusCode, text: String) -> Response<ProxyBody> {
    let mut response = Response::new(
        Full::new(Bytes::from(text))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = status;
    response
}

fn empty() -> ProxyBody {
    Empty::new().map_err(|never| match never {}).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(origins: &[&str]) -> OriginList {
        let own: Vec<String> = origins.iter().map(|s| s.to_string()).collect();
        OriginList::parse(&own, &[]).unwrap()
    }

    fn tunnel(target: &str, origins: &OriginList) -> Result<(String, u16), Refusal> {
        let uri: Uri = target.parse().unwrap();
        assert!(uri.authority().is_some(), "{target} is no CONNECT target");
        tunnel_target(&uri, origins).map(|(_, host, port)| (host, port))
    }

    #[test]
    fn tunnel_without_port_goes_to_443() {
        let l = allow(&["https://example.com"]);
        assert_eq!(
            tunnel("example.com", &l).unwrap(),
            ("example.com".into(), 443)
        );
        assert_eq!(
            tunnel("example.com:443", &l).unwrap(),
            ("example.com".into(), 443)
        );
    }

    #[test]
    fn tunnel_refuses_a_port_it_cannot_read() {
        let l = allow(&["https://example.com", "https://x"]);
        assert!(tunnel("example.com:65536", &l).is_err());
        assert!(tunnel("example.com:99999", &l).is_err());
        assert!(tunnel("x:ax", &l).is_err());
    }

    #[test]
    fn tunnel_host_is_read_by_the_url_parser() {
        let l = allow(&["https://127.0.0.1"]);
        assert_eq!(tunnel("0x7f.1:443", &l).unwrap(), ("127.0.0.1".into(), 443));
        assert_eq!(
            tunnel("2130706433:443", &l).unwrap(),
            ("127.0.0.1".into(), 443)
        );
    }

    #[test]
    fn literal_addresses_lose_their_brackets() {
        assert_eq!(
            literal_address("[::1]"),
            ("::1", Some("::1".parse().unwrap()))
        );
        assert_eq!(
            literal_address("10.0.0.1").1,
            Some("10.0.0.1".parse().unwrap())
        );
        assert_eq!(literal_address("example.com"), ("example.com", None));
    }
}
