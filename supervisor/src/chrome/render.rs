//! Running one job in Chrome: a fresh browser context, one page, navigation, waiting, and
//! the PDF or image.
//!
//! Every job gets its own browser context (not just a tab), created here and disposed when
//! the [`JobPage`] is dropped, so cookies, storage and cache never cross jobs. The caller
//! bounds the whole of [`render`] by the job's deadline; dropping the future tears the
//! context down.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use chromiumoxide::Page;
use chromiumoxide::cdp::browser_protocol::browser::{
    BrowserContextId, SetDownloadBehaviorBehavior, SetDownloadBehaviorParams,
};
use chromiumoxide::cdp::browser_protocol::dom::Rgba;
use chromiumoxide::cdp::browser_protocol::emulation::{
    SetDefaultBackgroundColorOverrideParams, SetDeviceMetricsOverrideParams,
    SetEmulatedMediaParams, SetLocaleOverrideParams, SetTimezoneOverrideParams,
};
use chromiumoxide::cdp::browser_protocol::fetch::{
    self, EventRequestPaused, FulfillRequestParams, HeaderEntry, RequestPattern, RequestStage,
};
use chromiumoxide::cdp::browser_protocol::inspector::EventTargetCrashed;
use chromiumoxide::cdp::browser_protocol::io::{CloseParams, ReadParams, StreamHandle};
use chromiumoxide::cdp::browser_protocol::network::{
    CookieParam, EventResponseReceived, Headers, SetCookiesParams, SetExtraHttpHeadersParams,
    SetUserAgentOverrideParams,
};
use chromiumoxide::cdp::browser_protocol::page::{
    CaptureScreenshotFormat, CaptureScreenshotParams, EventLifecycleEvent, GetLayoutMetricsParams,
    NavigateParams, PrintToPdfParams, PrintToPdfTransferMode, Viewport,
};
use chromiumoxide::cdp::browser_protocol::target::{
    CloseTargetParams, CreateBrowserContextParams, CreateTargetParams, EventTargetCreated,
};
use chromiumoxide::cdp::js_protocol::runtime::{
    ConsoleApiCalledType, EvaluateParams, EventConsoleApiCalled, EventExceptionThrown,
};
use chromiumoxide::error::CdpError;
use futures::StreamExt;
use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::Instance;
use super::wait::{self, WaitError};
use crate::egress::Egress;
use crate::egress::proxy::{BLOCKED_HEADER, EgressProxy};
use crate::job::{
    Clip, ImageFormat, InvalidJob, Job, Media, Output, PdfOptions, ScreenshotOptions, Source,
    Target, Until,
};

/// Inline HTML is served to the page under this URL by intercepting its request, so that
/// it loads like any other document: real `load` and network-idle events, an HTTP status,
/// and an origin of its own. `.invalid` can never resolve, so the name cannot reach the
/// network even if interception failed.
pub const INLINE_URL: &str = "http://inline.render-supervisor.invalid/";

/// Bytes asked of Chrome per `IO.read` while streaming a PDF.
const PDF_CHUNK: i64 = 1 << 20;

#[derive(Debug, Error)]
pub enum RenderError {
    #[error(transparent)]
    Invalid(#[from] InvalidJob),
    #[error("{0}")]
    PageFailed(String),
    #[error("{0}")]
    Blocked(String),
    #[error("{0}")]
    ChromeUnavailable(String),
    /// Chrome was gone before the job touched it; the job can run on the next browser.
    #[error("{0}")]
    NotStarted(String),
    #[error("the job did not finish within its deadline")]
    Timeout,
}

/// A finished render.
#[derive(Debug)]
pub enum Rendered {
    Pdf(PdfStream),
    Image {
        bytes: Bytes,
        format: ImageFormat,
        width: u32,
        height: u32,
        /// Requests the egress proxy refused.
        blocked: u64,
    },
}

/// A page living in its own browser context; disposing of the context on drop closes the
/// page and throws away everything the job's page stored.
#[derive(Debug)]
struct JobPage {
    instance: Arc<Instance>,
    context: Option<BrowserContextId>,
    page: Page,
    watcher: Option<JoinHandle<()>>,
    popups: Option<JoinHandle<()>>,
    /// The job's egress proxy; none when pages connect directly.
    proxy: Option<EgressProxy>,
}

impl JobPage {
    /// Requests the egress proxy refused so far.
    fn blocked(&self) -> u64 {
        self.proxy.as_ref().map_or(0, EgressProxy::blocked)
    }
}

impl Drop for JobPage {
    fn drop(&mut self) {
        for task in [self.watcher.take(), self.popups.take()]
            .into_iter()
            .flatten()
        {
            task.abort();
        }
        if let Some(context) = self.context.take() {
            let instance = self.instance.clone();
            tokio::spawn(async move {
                if instance.is_dead() {
                    return;
                }
                let disposed = tokio::time::timeout(
                    Duration::from_secs(5),
                    instance.browser.dispose_browser_context(context),
                )
                .await;
                // A browser stopped meanwhile (shutdown, recycling, a crash) took its
                // contexts with it.
                if !matches!(disposed, Ok(Ok(_))) && !instance.is_dead() {
                    tracing::warn!("browser context was not disposed");
                }
            });
        }
    }
}

/// What the page watcher saw that fails the job.
#[derive(Debug, Clone)]
enum PageFailure {
    Crashed,
    ConsoleError(String),
}

/// Turns a CDP error into the job's error: Chrome's fault when the browser is gone,
/// otherwise the page's.
///
/// chromiumoxide gives up on any single page command after 30 s whatever the job's
/// deadline, so one Chrome operation (printing a huge document, say) cannot take longer.
fn cdp_error(instance: &Instance, step: &str, err: CdpError) -> RenderError {
    if instance.is_dead() {
        RenderError::ChromeUnavailable(format!("chrome stopped while {step}"))
    } else if matches!(err, CdpError::Timeout) {
        RenderError::PageFailed(format!("{step}: chrome did not answer within 30 s"))
    } else {
        RenderError::PageFailed(format!("{step}: {err}"))
    }
}

pub async fn render(
    instance: Arc<Instance>,
    job: &Job,
    deadline: Instant,
    egress: &Arc<Egress>,
) -> Result<Rendered, RenderError> {
    let proxy =
        if egress.direct {
            None
        } else {
            let started = EgressProxy::start(job.origins.clone(), egress.clone()).await;
            Some(started.map_err(|e| {
                RenderError::PageFailed(format!("cannot start the egress proxy: {e}"))
            })?)
        };
    let (context, page) = open_page(&instance, proxy.as_ref())
        .await
        .map_err(|err| match err {
            RenderError::ChromeUnavailable(message) => RenderError::NotStarted(message),
            other => other,
        })?;
    let mut page = JobPage {
        instance: instance.clone(),
        context: Some(context),
        page,
        watcher: None,
        popups: None,
        proxy,
    };
    page.popups = Some(
        close_popups(&instance, &page)
            .await
            .map_err(|e| cdp_error(&instance, "subscribing", e))?,
    );
    let fail = |step: &str| {
        let instance = instance.clone();
        let step = step.to_owned();
        move |err| cdp_error(&instance, &step, err)
    };

    // Subscribe before anything can happen, so that no event is missed.
    let mut lifecycle = page
        .page
        .event_listener::<EventLifecycleEvent>()
        .await
        .map_err(fail("subscribing"))?;
    let mut responses = page
        .page
        .event_listener::<EventResponseReceived>()
        .await
        .map_err(fail("subscribing"))?;
    let (failure_tx, mut failures) = watch::channel(None);
    page.watcher = Some(
        watch_page(&page.page, job, failure_tx)
            .await
            .map_err(fail("subscribing"))?,
    );

    prepare(&page.page, job)
        .await
        .map_err(fail("preparing the page"))?;
    if let Some(timezone) = &job.timezone {
        let set = page
            .page
            .execute(SetTimezoneOverrideParams::new(timezone.clone()))
            .await;
        if let Err(err) = set {
            if instance.is_dead() {
                return Err(cdp_error(&instance, "setting the time zone", err));
            }
            return Err(RenderError::Invalid(InvalidJob {
                field: "timezone".into(),
                message: format!("{timezone:?} is not a time zone chrome knows: {err}"),
            }));
        }
    }

    let url = match &job.source {
        Source::Url(url) => url.to_string(),
        Source::Html(_) => INLINE_URL.to_owned(),
    };
    let navigation = async {
        let nav = page
            .page
            .execute(NavigateParams::new(url.clone()))
            .await
            .map_err(fail("navigating"))?
            .result;
        if let Some(error) = nav.error_text {
            if page.blocked() > 0 && error.contains("TUNNEL_CONNECTION_FAILED") {
                return Err(RenderError::Blocked(format!(
                    "loading {url} led to an origin that is not allowed ({error})"
                )));
            }
            return Err(RenderError::PageFailed(format!(
                "loading {url} failed: {error}"
            )));
        }
        let Some(loader) = nav.loader_id else {
            return Ok(());
        };
        let wanted = match job.wait.until {
            Until::Load => "load",
            Until::Networkidle => "networkIdle",
        };
        let mut ours_started = false;
        let mut successors = Vec::new();
        loop {
            // Responses first: Chrome reports the document's response before its load
            // event, and the status must be checked before the load counts.
            tokio::select! {
                biased;
                Some(event) = responses.next() => {
                    if event.request_id.inner() != loader.inner() {
                        continue;
                    }
                    if event.response.headers.inner().get(BLOCKED_HEADER).is_some() {
                        return Err(RenderError::Blocked(format!(
                            "loading {url} led to {}, which is not allowed",
                            event.response.url
                        )));
                    }
                    let status = event.response.status;
                    if let Some(threshold) = job.fail_on_status
                        && status >= i64::from(threshold)
                    {
                        return Err(RenderError::PageFailed(format!(
                            "{url} answered HTTP {status} (fail_on.http_status is {threshold})"
                        )));
                    }
                }
                Some(event) = lifecycle.next() => {
                    // The main frame's document may be replaced while loading (a script
                    // setting location, a form submitted): a document that starts after
                    // ours counts as its successor, and its load counts too. Events of
                    // the blank page the tab opened with come before ours and never count.
                    if event.frame_id != nav.frame_id {
                        continue;
                    }
                    if event.loader_id == loader {
                        ours_started = true;
                    } else if ours_started && event.name == "init" {
                        successors.push(event.loader_id.clone());
                    }
                    let ours = event.loader_id == loader || successors.contains(&event.loader_id);
                    if ours && event.name == wanted {
                        return Ok(());
                    }
                }
                else => return Err(cdp_error(&instance, "loading", CdpError::NoResponse)),
            }
        }
    };
    watched(navigation, &mut failures).await?;
    drop(lifecycle);
    drop(responses);

    let waiting = async {
        if let Some(selector) = &job.wait.selector {
            let check = EvaluateParams::builder()
                .expression(wait::selector_check(selector))
                .build()
                .expect("expression is set");
            let checked = page
                .page
                .execute(check)
                .await
                .map_err(fail("checking wait.selector"))?;
            if let Some(details) = checked.result.exception_details {
                let text = details
                    .exception
                    .and_then(|e| e.description)
                    .unwrap_or(details.text);
                return Err(RenderError::Invalid(InvalidJob {
                    field: "wait.selector".into(),
                    message: text.lines().next().unwrap_or_default().to_owned(),
                }));
            }
            wait_for(
                &instance,
                &page.page,
                &wait::selector_visible(selector),
                "wait.selector",
            )
            .await?;
        }
        if let Some(expression) = &job.wait.expression {
            wait_for(&instance, &page.page, expression, "wait.expression").await?;
        }
        if !job.wait.delay.is_zero() {
            tokio::time::sleep(job.wait.delay).await;
        }
        Ok(())
    };
    watched(waiting, &mut failures).await?;

    let output = async {
        match &job.output {
            Output::Pdf(options) => print_pdf(&instance, &page.page, options).await,
            Output::Screenshot(options) => capture(&instance, &page.page, job, options).await,
        }
    };
    match watched(output, &mut failures).await? {
        Produced::Pdf(handle) => Ok(Rendered::Pdf(PdfStream {
            page,
            handle,
            eof: false,
            sent: 0,
            limit: job.max_output_bytes,
            deadline,
        })),
        Produced::Image {
            bytes,
            format,
            width,
            height,
        } => {
            let blocked = page.blocked();
            if bytes.len() as u64 > job.max_output_bytes {
                return Err(InvalidJob {
                    field: "screenshot".into(),
                    message: format!(
                        "the image is {} bytes, above max_output_bytes {}",
                        bytes.len(),
                        job.max_output_bytes
                    ),
                }
                .into());
            }
            Ok(Rendered::Image {
                bytes,
                format,
                width,
                height,
                blocked,
            })
        }
    }
}

/// A fresh browser context whose traffic all goes through the job's proxy (or, with no
/// proxy, straight out), with one blank page in it.
async fn open_page(
    instance: &Instance,
    proxy: Option<&EgressProxy>,
) -> Result<(BrowserContextId, Page), RenderError> {
    let params = match proxy {
        Some(proxy) => CreateBrowserContextParams::builder()
            .proxy_server(proxy.url())
            // Without this Chrome sends loopback requests directly, around the proxy.
            .proxy_bypass_list("<-loopback>")
            .build(),
        // Said outright, so that no proxy setting of the system's applies either.
        None => CreateBrowserContextParams::builder()
            .proxy_server("direct://")
            .build(),
    };
    let context = instance
        .browser
        .create_browser_context(params)
        .await
        .map_err(|e| cdp_error(instance, "creating a browser context", e))?;
    let opened = async {
        // A page that triggers a download gets nothing written anywhere.
        let deny = SetDownloadBehaviorParams::builder()
            .behavior(SetDownloadBehaviorBehavior::Deny)
            .browser_context_id(context.clone())
            .build()
            .expect("behavior is set");
        instance.browser.execute(deny).await?;
        let params = CreateTargetParams::builder()
            .url("about:blank")
            .browser_context_id(context.clone())
            .build()
            .expect("url is set");
        instance.browser.new_page(params).await
    };
    match opened.await {
        Ok(page) => Ok((context, page)),
        Err(err) => {
            let _ = instance.browser.dispose_browser_context(context).await;
            Err(cdp_error(instance, "opening a page", err))
        }
    }
}

/// Closes any window the job's page opens (popups, `target=_blank` links), so that a
/// page cannot start a second, unwatched page.
async fn close_popups(
    instance: &Arc<Instance>,
    page: &JobPage,
) -> Result<JoinHandle<()>, CdpError> {
    let mut created = instance
        .browser
        .event_listener::<EventTargetCreated>()
        .await?;
    let context = page.context.clone();
    let own = page.page.target_id().clone();
    let instance = instance.clone();
    Ok(tokio::spawn(async move {
        while let Some(event) = created.next().await {
            let target = &event.target_info;
            // Only windows: frames of other sites are targets too, and must live.
            let window = target.r#type == "page";
            if window && target.browser_context_id == context && target.target_id != own {
                tracing::debug!(url = %target.url, "closing a window the page opened");
                let close = CloseTargetParams::new(target.target_id.clone());
                let _ = instance.browser.execute(close).await;
            }
        }
    }))
}

/// Emulation and request settings, applied before navigation.
async fn prepare(page: &Page, job: &Job) -> Result<(), CdpError> {
    let v = job.viewport;
    page.execute(SetDeviceMetricsOverrideParams::new(
        i64::from(v.width),
        i64::from(v.height),
        v.device_scale_factor,
        false,
    ))
    .await?;
    if let Some(media) = job.media {
        let media = match media {
            Media::Print => "print",
            Media::Screen => "screen",
        };
        page.execute(SetEmulatedMediaParams::builder().media(media).build())
            .await?;
    }
    if job.user_agent.is_some() || job.locale.is_some() {
        let user_agent = match &job.user_agent {
            Some(ua) => ua.clone(),
            None => page.user_agent().await?,
        };
        let mut params = SetUserAgentOverrideParams::new(user_agent);
        params.accept_language = job.locale.clone();
        page.execute(params).await?;
    }
    if let Some(locale) = &job.locale {
        page.execute(
            SetLocaleOverrideParams::builder()
                .locale(locale.clone())
                .build(),
        )
        .await?;
    }
    if !job.headers.is_empty() {
        let headers: serde_json::Map<String, serde_json::Value> = job
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into()))
            .collect();
        page.execute(SetExtraHttpHeadersParams::new(Headers::new(headers)))
            .await?;
    }
    if !job.cookies.is_empty() {
        let cookies = job
            .cookies
            .iter()
            .map(|c| {
                let mut param = CookieParam::new(c.name.clone(), c.value.clone());
                param.url = c.url.clone();
                param.domain = c.domain.clone();
                param.path = c.path.clone();
                param.secure = c.secure;
                param.http_only = c.http_only;
                param
            })
            .collect();
        page.execute(SetCookiesParams::new(cookies)).await?;
    }
    let omit_background = matches!(&job.output, Output::Screenshot(s) if s.omit_background);
    if omit_background {
        let transparent = Rgba {
            r: 0,
            g: 0,
            b: 0,
            a: Some(0.0),
        };
        page.execute(
            SetDefaultBackgroundColorOverrideParams::builder()
                .color(transparent)
                .build(),
        )
        .await?;
    }
    Ok(())
}

/// Starts the task that serves inline HTML and watches for crashes and console errors for
/// the whole job.
async fn watch_page(
    page: &Page,
    job: &Job,
    failures: watch::Sender<Option<PageFailure>>,
) -> Result<JoinHandle<()>, CdpError> {
    let mut crashed = page.event_listener::<EventTargetCrashed>().await?;
    let mut console = page.event_listener::<EventConsoleApiCalled>().await?;
    let mut exceptions = page.event_listener::<EventExceptionThrown>().await?;
    let inline = match &job.source {
        Source::Html(html) => {
            let paused = page.event_listener::<EventRequestPaused>().await?;
            // The whole inline origin is answered here: the document at its root, and a 404
            // for anything else (the favicon Chrome asks for), which never reaches the proxy.
            let pattern = RequestPattern::builder()
                .url_pattern(format!("{INLINE_URL}*"))
                .request_stage(RequestStage::Request)
                .build();
            page.execute(fetch::EnableParams::builder().pattern(pattern).build())
                .await?;
            Some((paused, Bytes::from(html.clone().into_bytes())))
        }
        Source::Url(_) => None,
    };
    let console_errors = job.fail_on_console_errors;
    let page = page.clone();
    Ok(tokio::spawn(async move {
        let (mut paused, html) = match inline {
            Some((paused, html)) => (Some(paused), html),
            None => (None, Bytes::new()),
        };
        loop {
            tokio::select! {
                Some(_) = crashed.next() => {
                    let _ = failures.send(Some(PageFailure::Crashed));
                    return;
                }
                Some(event) = console.next() => {
                    if console_errors && event.r#type == ConsoleApiCalledType::Error {
                        let text = event
                            .args
                            .iter()
                            .filter_map(|a| {
                                a.value.as_ref().map(|v| v.to_string()).or(a.description.clone())
                            })
                            .collect::<Vec<_>>()
                            .join(" ");
                        let _ = failures.send(Some(PageFailure::ConsoleError(text)));
                    }
                }
                Some(event) = exceptions.next() => {
                    if console_errors {
                        let details = &event.exception_details;
                        let text = details
                            .exception
                            .as_ref()
                            .and_then(|e| e.description.clone())
                            .unwrap_or_else(|| details.text.clone());
                        let _ = failures.send(Some(PageFailure::ConsoleError(text)));
                    }
                }
                Some(event) = async { paused.as_mut()?.next().await } => {
                    let headers =
                        vec![HeaderEntry::new("content-type", "text/html; charset=utf-8")];
                    let document = event.request.url == INLINE_URL;
                    let status = if document { 200 } else { 404 };
                    let mut fulfil = FulfillRequestParams::new(event.request_id.clone(), status);
                    fulfil.response_headers = Some(headers);
                    if document {
                        fulfil.body = Some(BASE64.encode(&html).into());
                    }
                    if let Err(err) = page.execute(fulfil).await {
                        tracing::debug!(%err, "cannot serve inline html");
                    }
                }
                else => return,
            }
        }
    }))
}

/// Runs a step of the job unless the page crashes or logs an error first.
async fn watched<T>(
    step: impl Future<Output = Result<T, RenderError>>,
    failures: &mut watch::Receiver<Option<PageFailure>>,
) -> Result<T, RenderError> {
    let failed = async {
        loop {
            if let Some(failure) = failures.borrow_and_update().clone() {
                return failure;
            }
            if failures.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        result = step => result,
        failure = failed => Err(match failure {
            PageFailure::Crashed => RenderError::PageFailed("the page crashed".into()),
            PageFailure::ConsoleError(text) => RenderError::PageFailed(format!(
                "the page logged an error (fail_on.console_errors): {text}"
            )),
        }),
    }
}

async fn wait_for(
    instance: &Instance,
    page: &Page,
    test: &str,
    field: &str,
) -> Result<(), RenderError> {
    match wait::until(page, test).await {
        Ok(()) => Ok(()),
        Err(WaitError::Broken(message)) => {
            Err(RenderError::PageFailed(format!("{field}: {message}")))
        }
        Err(WaitError::Cdp(err)) => Err(cdp_error(instance, field, err)),
    }
}

enum Produced {
    Pdf(StreamHandle),
    Image {
        bytes: Bytes,
        format: ImageFormat,
        width: u32,
        height: u32,
    },
}

async fn print_pdf(
    instance: &Instance,
    page: &Page,
    o: &PdfOptions,
) -> Result<Produced, RenderError> {
    let header_footer = o.header_html.is_some() || o.footer_html.is_some();
    let params = PrintToPdfParams {
        landscape: Some(o.landscape),
        display_header_footer: Some(header_footer),
        print_background: Some(o.print_background),
        scale: Some(o.scale),
        paper_width: Some(o.width),
        paper_height: Some(o.height),
        margin_top: Some(o.margin[0]),
        margin_right: Some(o.margin[1]),
        margin_bottom: Some(o.margin[2]),
        margin_left: Some(o.margin[3]),
        page_ranges: o.page_ranges.clone(),
        // An empty template would print Chrome's default date and title.
        header_template: header_footer.then(|| {
            o.header_html
                .clone()
                .unwrap_or_else(|| "<span></span>".into())
        }),
        footer_template: header_footer.then(|| {
            o.footer_html
                .clone()
                .unwrap_or_else(|| "<span></span>".into())
        }),
        prefer_css_page_size: Some(o.prefer_css_page_size),
        transfer_mode: Some(PrintToPdfTransferMode::ReturnAsStream),
        generate_tagged_pdf: Some(o.tagged),
        generate_document_outline: Some(o.outline),
    };
    let printed = page.execute(params).await.map_err(|err| {
        let text = err.to_string();
        if text.contains("Page range") || text.contains("page range") {
            RenderError::Invalid(InvalidJob {
                field: "pdf.page_ranges".into(),
                message: text,
            })
        } else {
            cdp_error(instance, "printing", err)
        }
    })?;
    let handle = printed
        .result
        .stream
        .clone()
        .ok_or_else(|| RenderError::PageFailed("chrome returned no PDF stream".into()))?;
    Ok(Produced::Pdf(handle))
}

/// A PDF being read from Chrome in chunks. The browser context stays alive until the
/// stream is finished or dropped.
#[derive(Debug)]
pub struct PdfStream {
    page: JobPage,
    handle: StreamHandle,
    eof: bool,
    sent: u64,
    limit: u64,
    deadline: Instant,
}

impl PdfStream {
    /// Requests the egress proxy refused so far.
    pub fn blocked(&self) -> u64 {
        self.page.blocked()
    }

    /// The next chunk, or `None` at the end. Each read is bounded by the job's deadline.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, RenderError> {
        if self.eof {
            return Ok(None);
        }
        let read = ReadParams::builder()
            .handle(self.handle.clone())
            .size(PDF_CHUNK)
            .build()
            .expect("handle is set");
        let chunk = tokio::time::timeout_at(self.deadline, self.page.page.execute(read))
            .await
            .map_err(|_| RenderError::Timeout)?
            .map_err(|e| cdp_error(&self.page.instance, "reading the PDF", e))?
            .result;
        self.eof = chunk.eof;
        if self.eof {
            let _ = self
                .page
                .page
                .execute(CloseParams::new(self.handle.clone()))
                .await;
        }
        let bytes = if chunk.base64_encoded == Some(true) {
            BASE64.decode(chunk.data.as_bytes()).map_err(|e| {
                RenderError::PageFailed(format!("chrome sent a corrupt PDF chunk: {e}"))
            })?
        } else {
            chunk.data.into_bytes()
        };
        self.sent += bytes.len() as u64;
        if self.sent > self.limit {
            return Err(InvalidJob {
                field: "pdf".into(),
                message: format!("the PDF is above max_output_bytes {}", self.limit),
            }
            .into());
        }
        Ok(Some(Bytes::from(bytes)))
    }
}

/// The document area to capture, in CSS pixels, for a screenshot target.
async fn clip_for(
    instance: &Instance,
    page: &Page,
    job: &Job,
    target: &Target,
) -> Result<Option<Clip>, RenderError> {
    match target {
        Target::Viewport => Ok(None),
        Target::Clip(clip) => Ok(Some(*clip)),
        Target::FullPage => {
            let metrics = page
                .execute(GetLayoutMetricsParams::default())
                .await
                .map_err(|e| cdp_error(instance, "measuring the page", e))?
                .result;
            let size = metrics.css_content_size;
            if size.height > f64::from(job.max_page_height) {
                return Err(InvalidJob {
                    field: "screenshot.full_page".into(),
                    message: format!(
                        "the page is {} px tall, above max_page_height {}",
                        size.height.ceil(),
                        job.max_page_height
                    ),
                }
                .into());
            }
            Ok(Some(Clip {
                x: 0.0,
                y: 0.0,
                width: size.width.ceil(),
                height: size.height.ceil(),
            }))
        }
        Target::Selector(selector) => {
            // Document coordinates from the page itself: chromiumoxide's element screenshot
            // adds the scroll offset twice and misses elements on a scrolled page.
            let quoted = serde_json::to_string(selector).expect("strings serialize");
            let script = format!(
                "(() => {{ const el = document.querySelector({quoted}); if (!el) return null; \
                 const r = el.getBoundingClientRect(); \
                 return [r.left + window.scrollX, r.top + window.scrollY, r.width, r.height]; }})()"
            );
            let params = EvaluateParams::builder()
                .expression(script)
                .return_by_value(true)
                .build()
                .expect("expression is set");
            let result = page
                .execute(params)
                .await
                .map_err(|e| cdp_error(instance, "finding the element", e))?
                .result;
            if let Some(details) = result.exception_details {
                return Err(RenderError::PageFailed(format!(
                    "screenshot.selector: {}",
                    details.text
                )));
            }
            let rect: Option<[f64; 4]> = result
                .result
                .value
                .and_then(|v| serde_json::from_value(v).ok());
            match rect {
                Some([x, y, w, h]) if w > 0.0 && h > 0.0 => Ok(Some(Clip {
                    x,
                    y,
                    width: w,
                    height: h,
                })),
                Some(_) => Err(RenderError::PageFailed(format!(
                    "screenshot.selector: {selector:?} matches an element with no size"
                ))),
                None => Err(RenderError::PageFailed(format!(
                    "screenshot.selector: {selector:?} matches no element"
                ))),
            }
        }
    }
}

async fn capture(
    instance: &Instance,
    page: &Page,
    job: &Job,
    o: &ScreenshotOptions,
) -> Result<Produced, RenderError> {
    let v = job.viewport;
    let clip = clip_for(instance, page, job, &o.target).await?;
    let area = clip.unwrap_or(Clip {
        x: 0.0,
        y: 0.0,
        width: f64::from(v.width),
        height: f64::from(v.height),
    });

    // Downscaling is done by Chrome (the clip's scale), so JPEG and WebP keep their
    // quality setting on every path; the image crate's WebP encoder is lossless only.
    let full_width = area.width * v.device_scale_factor;
    let full_height = area.height * v.device_scale_factor;
    let mut scale: f64 = 1.0;
    if let Some(max) = o.max_width {
        scale = scale.min(f64::from(max) / full_width);
    }
    if let Some(max) = o.max_height {
        scale = scale.min(f64::from(max) / full_height);
    }
    let needs_clip = clip.is_some() || scale < 1.0;

    let format = match o.format {
        ImageFormat::Png => CaptureScreenshotFormat::Png,
        ImageFormat::Jpeg => CaptureScreenshotFormat::Jpeg,
        ImageFormat::Webp => CaptureScreenshotFormat::Webp,
    };
    let mut params = CaptureScreenshotParams::builder().format(format);
    if let Some(q) = o.quality {
        params = params.quality(i64::from(q));
    }
    if needs_clip {
        let viewport = Viewport {
            x: area.x,
            y: area.y,
            width: area.width,
            height: area.height,
            scale,
        };
        params = params.clip(viewport).capture_beyond_viewport(true);
    }
    let shot = page
        .execute(params.build())
        .await
        .map_err(|e| cdp_error(instance, "capturing the screenshot", e))?
        .result;
    let bytes: Vec<u8> = BASE64
        .decode(AsRef::<str>::as_ref(&shot.data))
        .map_err(|e| RenderError::PageFailed(format!("chrome sent a corrupt image: {e}")))?;
    let (width, height) = crate::image_post::dimensions(&bytes)
        .map_err(|e| RenderError::PageFailed(format!("chrome sent an unreadable image: {e}")))?;
    let (bytes, width, height) = crate::image_post::fit_within(
        bytes,
        o.format,
        o.quality,
        width,
        height,
        o.max_width,
        o.max_height,
    )
    .map_err(|e| RenderError::PageFailed(format!("cannot downscale the image: {e}")))?;
    Ok(Produced::Image {
        bytes: Bytes::from(bytes),
        format: o.format,
        width,
        height,
    })
}
