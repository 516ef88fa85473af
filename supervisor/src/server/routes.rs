//! The HTTP API: jobs, health, metrics.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::json;
use tokio::time::Instant;
use tracing::Instrument;

use super::error::{ApiError, Code};
use super::{App, Peer};
use crate::chrome::render::{self, Rendered};
use crate::config::Settings;
use crate::job::{Endpoint, Job, JobRequest, Source};
use crate::metrics::{EndpointLabel, JobLabels};

pub const JOB_ID: &str = "x-job-id";
pub const REQUEST_ID: &str = "x-request-id";
/// How many requests of the page the egress policy refused: a caller can tell a page
/// that is broken from one that reached for places it may not go.
pub const BLOCKED_REQUESTS: &str = "x-blocked-requests";

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v1/pdf", post(pdf))
        .route("/v1/screenshot", post(screenshot))
        .route("/healthz", get(healthz))
        .route("/livez", get(livez))
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::new(Code::NotFound, "no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                Code::MethodNotAllowed,
                "method not allowed on this endpoint",
            )
        })
        .layer(middleware::from_fn(echo_request_id))
        .with_state(app)
}

/// Every answer echoes the caller's `x-request-id`, so logs on both sides line up.
async fn echo_request_id(request: Request, next: Next) -> Response {
    let request_id = request.headers().get(REQUEST_ID).cloned();
    let mut response = next.run(request).await;
    if let Some(id) = request_id {
        response.headers_mut().insert(REQUEST_ID, id);
    }
    response
}

async fn livez() -> impl IntoResponse {
    axum::Json(json!({"status": "alive"}))
}

async fn healthz(State(app): State<Arc<App>>) -> Response {
    let chrome = app.chrome.status().await;
    let draining = app.draining.load(Ordering::SeqCst);
    let status = if draining {
        "draining"
    } else if chrome.ready {
        "ok"
    } else {
        "chrome_unavailable"
    };
    let sandbox_off_reason = (!chrome.sandbox).then_some("started with --allow-no-sandbox");
    let body = json!({
        "status": status,
        "chrome": {
            "ready": chrome.ready,
            "version": chrome.version,
            "pid": chrome.pid,
            "sandbox": chrome.sandbox,
            "sandbox_off_reason": sandbox_off_reason,
            "last_error": chrome.last_error,
        },
        "egress": {
            "proxy": !app.egress.direct,
            "proxy_off_reason": app.egress.direct.then_some("started with --no-egress-proxy"),
        },
        "jobs": {
            "running": app.admission.running(),
            "queued": app.admission.queued(),
        },
    });
    let code = if status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(body)).into_response()
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    ([(header::CONTENT_TYPE, content_type)], app.metrics.encode()).into_response()
}

async fn pdf(State(app): State<Arc<App>>, request: Request) -> Response {
    job(app, Endpoint::Pdf, request).await
}

async fn screenshot(State(app): State<Arc<App>>, request: Request) -> Response {
    job(app, Endpoint::Screenshot, request).await
}

/// Records a job's outcome in the metrics and the log once, also when the client goes
/// away and the job's future is dropped.
struct Outcome {
    app: Arc<App>,
    endpoint: Endpoint,
    started: Instant,
    span: tracing::Span,
    code: Option<&'static str>,
}

impl Drop for Outcome {
    fn drop(&mut self) {
        let outcome = self.code.unwrap_or("cancelled");
        let elapsed = self.started.elapsed();
        let endpoint = self.endpoint.as_str();
        self.app
            .metrics
            .jobs
            .get_or_create(&JobLabels { endpoint, outcome })
            .inc();
        self.app
            .metrics
            .latency
            .get_or_create(&EndpointLabel { endpoint })
            .observe(elapsed.as_secs_f64());
        let ms = elapsed.as_millis() as u64;
        self.span
            .in_scope(|| tracing::info!(outcome, duration_ms = ms, "job finished"));
    }
}

async fn job(app: Arc<App>, endpoint: Endpoint, request: Request) -> Response {
    let job_id = uuid::Uuid::new_v4().simple().to_string();
    let peer = request.extensions().get::<Peer>().copied();
    let span = tracing::info_span!(
        "job",
        job_id = %job_id,
        endpoint = endpoint.as_str(),
        peer_uid = peer.map(|p| p.uid),
        url_host = tracing::field::Empty,
    );
    let mut outcome = Outcome {
        app: app.clone(),
        endpoint,
        started: Instant::now(),
        span: span.clone(),
        code: None,
    };
    let result = run(&app, endpoint, request).instrument(span).await;
    let mut response = match result {
        Ok(response) => {
            outcome.code = Some("ok");
            response
        }
        Err(err) => {
            outcome.code = Some(err.code.as_str());
            outcome
                .span
                .in_scope(|| tracing::debug!(message = %err.message, "job failed"));
            err.into_response()
        }
    };
    if let Ok(value) = HeaderValue::from_str(&job_id) {
        response.headers_mut().insert(JOB_ID, value);
    }
    response
}

async fn read_body(app: &App, request: Request) -> Result<Bytes, ApiError> {
    let limit = app.settings.max_body_bytes;
    let too_large = || {
        ApiError::new(
            Code::TooLarge,
            format!("the body is above max_body_bytes {limit}"),
        )
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let waits_for_continue = request
        .headers()
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let read_timeout = app.settings.read_timeout;
    if declared.is_some_and(|n| n > limit) {
        // A client that asked for `100 Continue` has sent nothing yet and reads the answer
        // at once; any other is still sending, and would see the connection reset, not
        // the answer, if it were closed with its body unread.
        if !waits_for_continue {
            drain(request.into_body(), limit, read_timeout).await;
        }
        return Err(too_large());
    }
    let mut body = request.into_body();
    let mut collected = Vec::new();
    let read = async {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| ApiError::new(Code::InvalidJob, format!("body: {e}")))?;
            if let Ok(data) = frame.into_data() {
                if collected.len() + data.len() > limit {
                    return Ok(false);
                }
                collected.extend_from_slice(&data);
            }
        }
        Ok(true)
    };
    match tokio::time::timeout(read_timeout, read).await {
        Err(_) => Err(ApiError::new(
            Code::InvalidJob,
            "body: not received within the read timeout",
        )),
        Ok(Err(err)) => Err(err),
        Ok(Ok(false)) => {
            drain(body, limit, read_timeout).await;
            Err(too_large())
        }
        Ok(Ok(true)) => Ok(Bytes::from(collected)),
    }
}

/// Reads and discards what is left of a refused body, so that its sender gets to read the
/// answer. Bounded: at most four times the limit, within the read timeout; past either the
/// connection is closed anyway.
async fn drain<B: hyper::body::Body + Unpin>(mut body: B, limit: usize, within: Duration) {
    let mut left = limit.saturating_mul(4);
    let _ = tokio::time::timeout(within, async {
        while let Some(Ok(frame)) = body.frame().await {
            let Some(data) = frame.data_ref() else {
                continue;
            };
            let Some(rest) = left.checked_sub(hyper::body::Buf::remaining(data)) else {
                break;
            };
            left = rest;
        }
    })
    .await;
}

/// Everything a body goes through before its job may queue for a render slot: parsing,
/// validation against the limits, and the page's own URL against the allowed origins.
pub(crate) fn checked_job(
    body: &[u8],
    endpoint: Endpoint,
    settings: &Settings,
) -> Result<Job, ApiError> {
    let job =
        JobRequest::from_json(body)?.validate(endpoint, &settings.limits, &settings.origins)?;
    if let Source::Url(url) = &job.source {
        tracing::Span::current().record("url_host", url.host_str());
        if job.origins.find(url).is_none() {
            return Err(ApiError::new(
                Code::BlockedUrl,
                format!(
                    "url: {} is not within an allowed origin",
                    url.origin().ascii_serialization()
                ),
            ));
        }
    }
    Ok(job)
}

async fn run(app: &Arc<App>, endpoint: Endpoint, request: Request) -> Result<Response, ApiError> {
    if app.draining.load(Ordering::SeqCst) {
        return Err(ApiError::new(
            Code::ShuttingDown,
            "the renderer is shutting down",
        ));
    }
    let body = read_body(app, request).await?;
    let job = checked_job(&body, endpoint, &app.settings)?;

    let ticket = app.admission.admit().ok_or_else(|| {
        ApiError::new(
            Code::QueueFull,
            "every render slot is busy and the queue is full",
        )
    })?;
    let deadline = Instant::now() + job.timeout;
    let timeout_ms = job.timeout.as_millis();
    let timed_out = || {
        ApiError::new(
            Code::Timeout,
            format!("the job did not finish within {timeout_ms} ms"),
        )
    };
    let work = async {
        let running = ticket.start().await;
        // A job that found Chrome already dead is tried once more on the relaunched one;
        // a job Chrome died under fails.
        let mut retried = false;
        loop {
            let lease = app
                .chrome
                .lease()
                .await
                .map_err(|e| ApiError::new(Code::ChromeUnavailable, e.to_string()))?;
            match render::render(lease.instance.clone(), &job, deadline, &app.egress).await {
                Ok(rendered) => return Ok::<_, ApiError>((rendered, running, lease)),
                Err(render::RenderError::NotStarted(message)) if !retried => {
                    tracing::debug!(%message, "chrome was gone before the job started; retrying");
                    retried = true;
                }
                Err(err) => return Err(err.into()),
            }
        }
    };
    let (rendered, running, lease) = tokio::time::timeout_at(deadline, work)
        .await
        .map_err(|_| timed_out())??;

    match rendered {
        Rendered::Image {
            bytes,
            format,
            width,
            height,
            blocked,
        } => {
            let mut headers = HeaderMap::new();
            headers.insert(BLOCKED_REQUESTS, HeaderValue::from(blocked));
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            );
            headers.insert("x-image-width", HeaderValue::from(width));
            headers.insert("x-image-height", HeaderValue::from(height));
            Ok((headers, bytes).into_response())
        }
        Rendered::Pdf(mut stream) => {
            // Status and headers go out only once the first bytes are ready; a failure
            // after that can only abort the chunked body.
            let first = tokio::time::timeout_at(deadline, stream.next_chunk())
                .await
                .map_err(|_| timed_out())??
                .unwrap_or_default();
            let blocked = stream.blocked();
            let state = Some((stream, running, lease, Some(first)));
            let chunks = futures::stream::unfold(state, |state| async move {
                let (mut stream, running, lease, first) = state?;
                if let Some(first) = first {
                    return Some((Ok(first), Some((stream, running, lease, None))));
                }
                match stream.next_chunk().await {
                    Ok(Some(chunk)) => Some((Ok(chunk), Some((stream, running, lease, None)))),
                    Ok(None) => None,
                    Err(err) => {
                        tracing::warn!(error = %err, "PDF stream aborted");
                        Some((Err(std::io::Error::other(err.to_string())), None))
                    }
                }
            });
            let body = Body::from_stream(chunks);
            let headers = [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/pdf"),
                ),
                (
                    header::HeaderName::from_static(BLOCKED_REQUESTS),
                    HeaderValue::from(blocked),
                ),
            ];
            Ok((headers, body).into_response())
        }
    }
}
