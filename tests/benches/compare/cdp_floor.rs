//! The floor of the comparison benchmark: about the least a Rust program can do to turn the
//! benchmark's pages into PDFs and screenshots. It drives one warm Chromium directly over
//! CDP with chromiumoxide and gives each job a fresh browser context, and does nothing else:
//! no socket, no limits, no egress policy, no deadline beyond a timeout per CDP call.
//!
//! It is driven by the `compare` bench through standard input and output, one JSON object a
//! line, the same protocol as `playwright_bench.py`:
//!
//! - in: `{"job": {"url": URL, "output": "pdf" | "screenshot", "wait_selector": CSS or null,
//!   "selector": CSS or null}, "jobs": N, "concurrency": C, "save": PATH or null}` runs N
//!   jobs, C at a time, each started as soon as one finishes; `save` names a file for the
//!   first job's output, so the bench can check it.
//! - out: `{"results": [{"ms": 12.3, "bytes": 4567} or {"ms": 12.3, "error": "..."}],
//!   "wall_ms": 45.6}`, a result for each job in the order they finished.
//!
//! The process ends when its standard input does. Usage: `cdp-floor [CHROME]`.

use std::error::Error;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chromiumoxide::cdp::browser_protocol::browser::BrowserContextId;
use chromiumoxide::cdp::browser_protocol::page::{
    CaptureScreenshotFormat, PrintToPdfParams, Viewport,
};
use chromiumoxide::cdp::browser_protocol::target::{
    CreateBrowserContextParams, CreateTargetParams,
};
use chromiumoxide::page::ScreenshotParams;
use chromiumoxide::{Browser, BrowserConfig};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

/// Longest a single CDP call may take: a 50-page PDF on a busy machine needs more than
/// chromiumoxide's default of 30 s.
const CDP_TIMEOUT: Duration = Duration::from_secs(120);

const BACKGROUND_FEATURES: &str = "WebUIOmniboxPopup,WebUIOmniboxAimPopup,\
    OptimizationGuideModelDownloading,OptimizationGuideOnDeviceModel,OnDeviceModelService";

/// A4 and 10 mm margins, in inches, as the other systems are asked for.
const A4_INCHES: (f64, f64) = (210.0 / 25.4, 297.0 / 25.4);
const MARGIN_INCHES: f64 = 10.0 / 25.4;

#[derive(Debug, Deserialize)]
struct Batch {
    job: Job,
    jobs: usize,
    concurrency: usize,
    save: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
struct Job {
    url: String,
    output: Output,
    wait_selector: Option<String>,
    selector: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Output {
    Pdf,
    Screenshot,
}

#[derive(Debug, Serialize)]
struct JobResult {
    ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct BatchResult {
    results: Vec<JobResult>,
    wall_ms: f64,
}

fn main() -> Result<(), Box<dyn Error>> {
    let chrome = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/usr/lib/chromium/chromium".to_owned());
    let profile = std::env::temp_dir().join(format!("cdp-floor-{}", std::process::id()));
    let config = BrowserConfig::builder()
        .chrome_executable(chrome)
        .new_headless_mode()
        .user_data_dir(&profile)
        // The window is the viewport; no emulation on every page.
        .window_size(1280, 800)
        .viewport(None)
        .request_timeout(CDP_TIMEOUT)
        // Chromium 15x preloads the address bar's WebUI popups in renderers of their own for
        // every window (so for every job's context) and starts on-device model services;
        // headless, they are work for nothing, and several hundred milliseconds of each job
        // on a two-core machine. render-supervisor turns off the same features. (chromiumoxide
        // merges these with its own default --disable-features=TranslateUI.)
        .arg(("disable-features", BACKGROUND_FEATURES))
        .build()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let (browser, mut handler) = runtime.block_on(Browser::launch(config))?;
    let events = runtime.spawn(async move { while handler.next().await.is_some() {} });
    let browser = Arc::new(browser);

    let mut stdout = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let batch: Batch = serde_json::from_str(&line?)?;
        let answer = runtime.block_on(run_batch(&browser, batch));
        writeln!(stdout, "{}", serde_json::to_string(&answer)?)?;
        stdout.flush()?;
    }

    let mut browser = Arc::try_unwrap(browser).map_err(|_| "browser still in use")?;
    runtime.block_on(async {
        browser.close().await?;
        browser.wait().await?;
        Ok::<_, Box<dyn Error>>(())
    })?;
    events.abort();
    let _ = std::fs::remove_dir_all(profile);
    Ok(())
}

/// Runs `batch.jobs` jobs with `batch.concurrency` workers taking the next job as soon as
/// they finish one.
async fn run_batch(browser: &Arc<Browser>, batch: Batch) -> BatchResult {
    let next = Arc::new(AtomicUsize::new(0));
    let job = Arc::new(batch.job);
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..batch.concurrency.max(1) {
        let (browser, next, job) = (browser.clone(), next.clone(), job.clone());
        let (jobs, save) = (batch.jobs, batch.save.clone());
        workers.push(tokio::spawn(async move {
            let mut results = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= jobs {
                    return results;
                }
                let job_started = Instant::now();
                let rendered = render(&browser, &job).await;
                let ms = job_started.elapsed().as_secs_f64() * 1000.0;
                results.push(match rendered {
                    Ok(bytes) => {
                        if index == 0
                            && let Some(path) = &save
                        {
                            let _ = std::fs::write(path, &bytes);
                        }
                        JobResult {
                            ms,
                            bytes: Some(bytes.len()),
                            error: None,
                        }
                    }
                    Err(error) => JobResult {
                        ms,
                        bytes: None,
                        error: Some(error),
                    },
                });
            }
        }));
    }
    let mut results = Vec::new();
    for worker in workers {
        results.extend(worker.await.unwrap_or_default());
    }
    BatchResult {
        results,
        wall_ms: started.elapsed().as_secs_f64() * 1000.0,
    }
}

/// One job in a browser context of its own, disposed of whatever happened.
async fn render(browser: &Browser, job: &Job) -> Result<Vec<u8>, String> {
    let context = browser
        .create_browser_context(CreateBrowserContextParams::default())
        .await
        .map_err(|e| format!("creating a context: {e}"))?;
    let rendered = render_in(browser, &context, job).await;
    let _ = browser.dispose_browser_context(context).await;
    rendered
}

async fn render_in(
    browser: &Browser,
    context: &BrowserContextId,
    job: &Job,
) -> Result<Vec<u8>, String> {
    let target = CreateTargetParams::builder()
        .url("about:blank")
        .browser_context_id(context.clone())
        .build()?;
    let page = browser
        .new_page(target)
        .await
        .map_err(|e| format!("opening a page: {e}"))?;
    // Resolves once the document has fired `load`.
    page.goto(job.url.as_str())
        .await
        .map_err(|e| format!("loading {}: {e}", job.url))?;
    if let Some(selector) = &job.wait_selector {
        page.evaluate_expression(wait_for_selector(selector))
            .await
            .map_err(|e| format!("waiting for {selector}: {e}"))?;
    }
    match job.output {
        Output::Pdf => {
            let (width, height) = A4_INCHES;
            let params = PrintToPdfParams::builder()
                .paper_width(width)
                .paper_height(height)
                .margin_top(MARGIN_INCHES)
                .margin_right(MARGIN_INCHES)
                .margin_bottom(MARGIN_INCHES)
                .margin_left(MARGIN_INCHES)
                .print_background(true)
                // Chrome tags PDFs unless told not to; the others ask for untagged ones,
                // which are several times smaller and faster to print.
                .generate_tagged_pdf(false)
                .build();
            page.pdf(params).await.map_err(|e| format!("printing: {e}"))
        }
        Output::Screenshot => {
            let selector = job.selector.as_deref().unwrap_or("body");
            // The element's box in document coordinates. chromiumoxide's own element
            // screenshot adds the scroll offset twice, so the clip is computed here.
            let rect: Vec<f64> = page
                .evaluate_expression(element_box(selector))
                .await
                .map_err(|e| format!("finding {selector}: {e}"))?
                .into_value()
                .map_err(|e| format!("finding {selector}: {e}"))?;
            let [x, y, width, height] = rect[..] else {
                return Err(format!("no box for {selector}"));
            };
            let params = ScreenshotParams::builder()
                .format(CaptureScreenshotFormat::Png)
                .clip(Viewport {
                    x,
                    y,
                    width,
                    height,
                    scale: 1.0,
                })
                .capture_beyond_viewport(true)
                .build();
            page.screenshot(params)
                .await
                .map_err(|e| format!("capturing: {e}"))
        }
    }
}

/// A promise that resolves when an element matches `selector`, checked on every DOM change
/// rather than on a timer.
fn wait_for_selector(selector: &str) -> String {
    let selector = serde_json::to_string(selector).expect("a string serializes");
    format!(
        "new Promise(resolve => {{
            const found = () => document.querySelector({selector}) !== null;
            if (found()) return resolve(true);
            new MutationObserver((_, observer) => {{
                if (found()) {{ observer.disconnect(); resolve(true); }}
            }}).observe(document, {{subtree: true, childList: true, attributes: true}});
        }})"
    )
}

fn element_box(selector: &str) -> String {
    let selector = serde_json::to_string(selector).expect("a string serializes");
    format!(
        "(() => {{
            const r = document.querySelector({selector}).getBoundingClientRect();
            return [r.left + scrollX, r.top + scrollY, r.width, r.height];
        }})()"
    )
}
