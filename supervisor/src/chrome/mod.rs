//! One warm Chromium, kept alive by a monitor task.
//!
//! Jobs borrow the current browser through a [`Lease`], which holds a read lock on the
//! slot the browser lives in. The monitor relaunches Chrome when it exits, when its CDP
//! connection ends, when a health probe goes unanswered, or after a number of jobs:
//!
//! - on a crash or hang it kills the process group *first*, so jobs in flight fail at
//!   once instead of waiting out their deadlines, then takes the write lock;
//! - on a planned recycle it takes the write lock *first*. tokio's lock queues new
//!   readers behind a waiting writer, so running jobs finish, new ones wait for the fresh
//!   browser, and no job fails because of the recycle.

mod devtools;
pub mod launch;
pub mod render;
mod wait;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use chromiumoxide::Browser;
use chromiumoxide::handler::HandlerConfig;
use futures::StreamExt;
use tokio::sync::{Mutex, Notify, OwnedRwLockReadGuard, RwLock, mpsc};

use crate::metrics::Metrics;
use launch::{ChromeProcess, LaunchOptions};

/// How long Chrome gets to accept the DevTools connection and answer a first call.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest wait between attempts when Chrome will not start.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// A connected Chrome.
#[derive(Debug)]
pub struct Instance {
    pub browser: Browser,
    pub version: String,
    pub sandbox: bool,
    pub pid: i32,
    liveness: Arc<Liveness>,
    served: AtomicU64,
}

/// Whether a Chrome's CDP connection is still alive. It is marked dead by the task that
/// drives the connection *before* that task drops it, so a job whose CDP call fails
/// because the connection ended always sees the instance as dead.
#[derive(Debug, Default)]
struct Liveness {
    dead: AtomicBool,
    died: Notify,
    /// The task driving the CDP connection. Aborting it drops the connection, which fails
    /// every pending call at once; chromiumoxide alone would leave calls pending forever
    /// once the socket has closed.
    connection: std::sync::Mutex<Option<tokio::task::AbortHandle>>,
}

impl Liveness {
    fn mark_dead(&self) {
        self.dead.store(true, Ordering::SeqCst);
        if let Some(connection) = self.connection.lock().expect("not poisoned").take() {
            connection.abort();
        }
        self.died.notify_one();
    }
}

impl Instance {
    /// True once the connection to this Chrome is gone or it was killed. A job whose CDP
    /// call fails on a dead instance failed because of Chrome, not because of its page.
    pub fn is_dead(&self) -> bool {
        self.liveness.dead.load(Ordering::SeqCst)
    }

    fn mark_dead(&self) {
        self.liveness.mark_dead();
    }
}

#[derive(Debug, Clone)]
pub struct ChromeOptions {
    pub launch: LaunchOptions,
    pub recycle_after: u64,
    pub health_interval: Duration,
    /// chromiumoxide's own limit on a CDP call; set above the longest job timeout so that
    /// the job's deadline is what ends a slow call.
    pub request_timeout: Duration,
}

#[derive(Debug)]
enum Command {
    Recycle,
    Shutdown,
}

/// What `/healthz` reports about Chrome.
#[derive(Debug, Clone)]
pub struct ChromeStatus {
    pub ready: bool,
    pub version: Option<String>,
    pub sandbox: bool,
    pub pid: Option<i32>,
    pub last_error: Option<String>,
}

#[derive(Debug)]
pub struct Chrome {
    options: ChromeOptions,
    slot: Arc<RwLock<Option<Arc<Instance>>>>,
    commands: mpsc::UnboundedSender<Command>,
    last_error: Mutex<Option<String>>,
    metrics: Arc<Metrics>,
}

/// A job's hold on the current browser. While any lease is alive, a recycle waits.
#[derive(Debug)]
pub struct Lease {
    _guard: OwnedRwLockReadGuard<Option<Arc<Instance>>>,
    pub instance: Arc<Instance>,
    chrome: Arc<Chrome>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let served = self.instance.served.fetch_add(1, Ordering::SeqCst) + 1;
        let limit = self.chrome.options.recycle_after;
        if limit > 0 && served == limit && !self.instance.is_dead() {
            let _ = self.chrome.commands.send(Command::Recycle);
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("chrome is not available: {0}")]
pub struct Unavailable(pub String);

impl Chrome {
    /// Starts the monitor, which launches the first Chrome in the background.
    pub fn start(options: ChromeOptions, metrics: Arc<Metrics>) -> Arc<Chrome> {
        let (commands, rx) = mpsc::unbounded_channel();
        let chrome = Arc::new(Chrome {
            options,
            slot: Arc::new(RwLock::new(None)),
            commands,
            last_error: Mutex::new(None),
            metrics,
        });
        // The monitor holds the write lock until the first launch settles, so that jobs
        // arriving during start-up wait for Chrome instead of failing.
        let first = chrome
            .slot
            .clone()
            .try_write_owned()
            .expect("new lock is free");
        tokio::spawn(chrome.clone().monitor(rx, first));
        chrome
    }

    /// Borrows the current browser, waiting while it is being relaunched. Fails at once
    /// when Chrome could not be started.
    pub async fn lease(self: &Arc<Self>) -> Result<Lease, Unavailable> {
        loop {
            let guard = self.slot.clone().read_owned().await;
            match guard.as_ref() {
                Some(instance) if !instance.is_dead() => {
                    return Ok(Lease {
                        instance: instance.clone(),
                        _guard: guard,
                        chrome: self.clone(),
                    });
                }
                // Dead but not yet replaced: the monitor is about to take the slot.
                Some(_) => {
                    drop(guard);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                None => {
                    let last = self.last_error.lock().await.clone();
                    return Err(Unavailable(
                        last.unwrap_or_else(|| "chrome is restarting".into()),
                    ));
                }
            }
        }
    }

    pub async fn status(&self) -> ChromeStatus {
        let last_error = self.last_error.lock().await.clone();
        let current = match self.slot.try_read() {
            Ok(guard) => guard.clone(),
            Err(_) => None,
        };
        match current {
            Some(i) if !i.is_dead() => ChromeStatus {
                ready: true,
                version: Some(i.version.clone()),
                sandbox: i.sandbox,
                pid: Some(i.pid),
                last_error,
            },
            _ => ChromeStatus {
                ready: false,
                version: None,
                sandbox: self.options.launch.sandbox,
                pid: None,
                last_error,
            },
        }
    }

    /// Kills Chrome and stops the monitor; waits until the process group is gone.
    pub async fn shutdown(&self) {
        let _ = self.commands.send(Command::Shutdown);
        // The monitor clears the slot under the write lock once Chrome is dead.
        loop {
            if let Ok(guard) = self.slot.try_read()
                && guard.is_none()
                && self.commands.is_closed()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn monitor(
        self: Arc<Self>,
        mut commands: mpsc::UnboundedReceiver<Command>,
        first: tokio::sync::OwnedRwLockWriteGuard<Option<Arc<Instance>>>,
    ) {
        let mut held = Some(first);
        let mut backoff = Duration::from_millis(250);
        loop {
            let launched = self.launch().await;
            let mut slot = match held.take() {
                Some(guard) => guard,
                None => self.slot.clone().write_owned().await,
            };
            let (instance, mut process) = match launched {
                Ok(pair) => pair,
                Err(message) => {
                    tracing::error!(error = %message, "chrome failed to start");
                    *self.last_error.lock().await = Some(message);
                    *slot = None;
                    drop(slot);
                    let stop = tokio::select! {
                        _ = tokio::time::sleep(backoff) => false,
                        cmd = commands.recv() => matches!(cmd, Some(Command::Shutdown) | None),
                    };
                    if stop {
                        commands.close();
                        return;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
            backoff = Duration::from_millis(250);
            *self.last_error.lock().await = None;
            *slot = Some(instance.clone());
            drop(slot);
            tracing::info!(
                pid = instance.pid,
                version = %instance.version,
                sandbox = instance.sandbox,
                "chrome ready"
            );

            let reason = tokio::select! {
                _ = process.exited() => "chrome exited",
                _ = instance.liveness.died.notified() => "devtools connection closed",
                _ = self.probe_until_unhealthy(&instance) => "health probe unanswered",
                cmd = commands.recv() => match cmd {
                    Some(Command::Recycle) => "recycle",
                    Some(Command::Shutdown) | None => "shutdown",
                },
            };

            let planned = matches!(reason, "recycle" | "shutdown");
            if !planned {
                tracing::warn!(pid = instance.pid, reason, "chrome lost; relaunching");
                // Kill first: jobs on this browser fail now rather than at their deadline.
                instance.mark_dead();
                process.kill().await;
                self.metrics.chrome_restarts.inc();
            }
            // Draining: this waits for every lease on the old browser to end.
            let mut slot = self.slot.clone().write_owned().await;
            instance.mark_dead();
            process.kill().await;
            *slot = None;
            if reason == "shutdown" {
                commands.close();
                return;
            }
            if reason == "recycle" {
                tracing::info!(pid = instance.pid, "recycling chrome");
                self.metrics.chrome_recycles.inc();
            }
            held = Some(slot);
        }
    }

    async fn launch(&self) -> Result<(Arc<Instance>, ChromeProcess), String> {
        let launch = &self.options.launch;
        let mut process = ChromeProcess::launch(launch)
            .await
            .map_err(|e| error_chain(&e))?;
        let config = HandlerConfig {
            // chromiumoxide ignores certificate errors unless told otherwise.
            ignore_https_errors: false,
            viewport: None,
            // Every call is bounded by its job's deadline instead.
            request_timeout: self.options.request_timeout,
            ..HandlerConfig::default()
        };
        let connected = tokio::time::timeout(
            LAUNCH_TIMEOUT,
            Browser::connect_with_config(process.ws_url().to_owned(), config),
        )
        .await;
        let (browser, mut handler) = match connected {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => {
                process.kill().await;
                return Err(format!("cannot connect to chrome: {e}"));
            }
            Err(_) => {
                process.kill().await;
                return Err("chrome did not accept the DevTools connection".into());
            }
        };
        let pid = process.pid();
        let liveness = Arc::new(Liveness::default());
        let watched = liveness.clone();
        let handler_task = tokio::spawn(async move {
            while let Some(event) = handler.next().await {
                if let Err(err) = event {
                    tracing::debug!(%err, "devtools connection ended");
                    break;
                }
            }
            watched.dead.store(true, Ordering::SeqCst);
            watched.died.notify_one();
            drop(handler);
        });
        *liveness.connection.lock().expect("not poisoned") = Some(handler_task.abort_handle());
        let version = match tokio::time::timeout(LAUNCH_TIMEOUT, browser.version()).await {
            Ok(Ok(v)) => v.product,
            _ => {
                handler_task.abort();
                // Let Chrome finish printing why it stopped before reading it.
                tokio::time::sleep(Duration::from_millis(200)).await;
                let stderr = process.stderr_head();
                process.kill().await;
                return Err(format!("chrome did not start: {stderr}"));
            }
        };
        let instance = Arc::new(Instance {
            browser,
            version,
            sandbox: launch.sandbox,
            pid,
            liveness,
            served: AtomicU64::new(0),
        });
        Ok((instance, process))
    }

    /// Returns when Chrome fails to answer a probe in time.
    async fn probe_until_unhealthy(&self, instance: &Instance) {
        let timeout = self.options.health_interval.max(Duration::from_secs(5));
        loop {
            tokio::time::sleep(self.options.health_interval).await;
            match tokio::time::timeout(timeout, instance.browser.version()).await {
                Ok(Ok(_)) => continue,
                Ok(Err(err)) => tracing::warn!(%err, "chrome health probe failed"),
                Err(_) => tracing::warn!(?timeout, "chrome health probe timed out"),
            }
            return;
        }
    }
}

pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
