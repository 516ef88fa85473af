//! The socket server: one task per connection, peer credentials checked before any
//! request is read, a cap on open connections, and timeouts for slow clients.

pub mod admission;
pub mod error;
pub mod routes;
pub mod socket;
mod timeout_io;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::UnixListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::chrome::Chrome;
use crate::config::Settings;
use crate::metrics::Metrics;
use admission::Admission;
use error::{ApiError, Code};
use timeout_io::WriteTimeout;

/// Largest request head (request line plus headers) we buffer.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Who is on the other end of a connection, from `SO_PEERCRED`.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub uid: u32,
    pub gid: u32,
    pub pid: Option<i32>,
}

#[derive(Debug)]
pub struct App {
    pub settings: Arc<Settings>,
    pub chrome: Arc<Chrome>,
    pub metrics: Arc<Metrics>,
    pub admission: Arc<Admission>,
    pub egress: Arc<crate::egress::Egress>,
    /// Set on SIGTERM: new jobs are answered 503 while running ones finish.
    pub draining: AtomicBool,
}

impl App {
    /// Allowed when the peer's uid is an allowed uid or its primary gid an allowed gid.
    /// The kernel reports only the primary group of the peer, so membership through a
    /// supplementary group does not count.
    fn allows(&self, peer: &Peer) -> bool {
        self.settings.allowed_uids.contains(&peer.uid)
            || self.settings.allowed_gids.contains(&peer.gid)
    }
}

/// Serves until `stop` resolves, then gives open connections `linger` to finish.
pub async fn serve(
    listener: UnixListener,
    app: Arc<App>,
    stop: impl Future<Output = ()>,
    linger: Duration,
) {
    let router = routes::router(app.clone());
    let graceful = GracefulShutdown::new();
    let connections = Arc::new(Semaphore::new(app.settings.max_connections));
    tokio::pin!(stop);

    loop {
        // Beyond the cap, connections wait in the kernel's backlog rather than in memory.
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit.expect("never closed"),
            () = &mut stop => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Out of file descriptors or memory: back off instead of spinning.
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let peer = match stream.peer_cred() {
            Ok(cred) => Peer {
                uid: cred.uid(),
                gid: cred.gid(),
                pid: cred.pid(),
            },
            Err(err) => {
                tracing::warn!(%err, "cannot read peer credentials; closing");
                continue;
            }
        };
        let allowed = app.allows(&peer);
        if !allowed {
            app.metrics.unauthorized.inc();
            tracing::warn!(
                peer_uid = peer.uid,
                peer_gid = peer.gid,
                peer_pid = peer.pid,
                "refusing connection from a peer that is not allowed"
            );
        }

        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            let router = router.clone();
            async move {
                if !allowed {
                    let refused = ApiError::new(
                        Code::Unauthorized,
                        format!("uid {} gid {} may not use this socket", peer.uid, peer.gid),
                    );
                    let mut response = axum::response::IntoResponse::into_response(refused);
                    if let Some(id) = request.headers().get(routes::REQUEST_ID) {
                        response
                            .headers_mut()
                            .insert(routes::REQUEST_ID, id.clone());
                    }
                    return Ok::<_, Infallible>(response);
                }
                request.extensions_mut().insert(peer);
                router.oneshot(request.map(Body::new)).await
            }
        });
        let io = TokioIo::new(WriteTimeout::new(stream, app.settings.write_timeout));
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(app.settings.read_timeout)
            .max_buf_size(MAX_HEAD_BYTES)
            .serve_connection(io, service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%err, "connection ended with an error");
            }
            drop(permit);
        });
    }

    drop(listener);
    if tokio::time::timeout(linger, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(?linger, "connections still open at exit; closing them");
    }
}
