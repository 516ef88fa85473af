//! `serve`: the start-up and shutdown sequence.
//!
//! Order matters and each step says why. In short: bind the socket while we may still set
//! its owner, raise the descriptor limit while we may still raise the hard limit, drop
//! privileges while the process has a single thread, and only then start the runtime and
//! Chrome, so that nothing ever runs as root.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use tokio::signal::unix::{SignalKind, signal};

use crate::chrome::launch::LaunchOptions;
use crate::chrome::{Chrome, ChromeOptions};
use crate::config::{ServeArgs, Settings};
use crate::egress::Egress;
use crate::egress::resolver::Resolver;
use crate::metrics::Metrics;
use crate::privileges;
use crate::server::admission::Admission;
use crate::server::{self, App, socket};

/// Descriptors the daemon needs beyond one per connection: Chrome's pipes, the CDP
/// connection, log output, files.
const SPARE_DESCRIPTORS: u64 = 256;

/// Time open connections get to finish once the daemon stops serving.
const LINGER: Duration = Duration::from_secs(2);

pub fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut settings = args.resolve()?;
    crate::logging::init(settings.log_format);

    // 1. Decide who we run as. Chrome refuses to start its sandbox as root, and nothing
    //    here needs root after start-up, so root must name an unprivileged user.
    let account = if privileges::is_root() {
        let user = settings
            .user
            .as_deref()
            .ok_or(privileges::PrivilegeError::NoUser)?;
        Some(privileges::lookup(user)?)
    } else {
        if let Some(user) = &settings.user {
            let wanted = privileges::lookup(user)?;
            if wanted.uid != nix::unistd::getuid() {
                bail!("--user {user} needs the daemon to start as root");
            }
        }
        None
    };

    // 2. As PID 1, split into a reaper and the server (see `init`). This comes before
    //    anything that starts a thread or opens the socket.
    crate::init::become_reaper_if_pid1(account.as_ref())?;

    // 3. Bind the socket and give it to the account, before dropping the right to chown.
    let owner = account.as_ref().map(|a| (a.uid, a.gid));
    let listener = socket::bind(&settings.socket, settings.socket_mode, owner)?;

    // 4. Raise the descriptor limit to fit the connection cap; only root may raise the
    //    hard limit, so this comes before the drop.
    raise_descriptor_limit(settings.max_connections as u64 + SPARE_DESCRIPTORS);

    // 5. Drop privileges, while this is the only thread.
    if let Some(account) = &account {
        privileges::drop_to(account)?;
        tracing::info!(user = %account.name, uid = account.uid.as_raw(), "dropped privileges");
    }

    // 6. With no uid given, the daemon's own uid may call.
    if settings.allowed_uids.is_empty() {
        settings.allowed_uids.push(nix::unistd::getuid().as_raw());
    }
    if settings.allow_no_sandbox {
        tracing::warn!(
            "Chrome's sandbox is OFF (--allow-no-sandbox): a page that exploits the renderer \
             runs with the supervisor's rights"
        );
    }
    if settings.no_egress_proxy {
        tracing::warn!(
            "the egress proxy is OFF (--no-egress-proxy): pages connect directly, and nothing \
             they load after the job's url is checked against the allowed origins"
        );
    }

    // 7. Only now start threads.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run(settings, listener))
}

async fn run(settings: Settings, listener: std::os::unix::net::UnixListener) -> anyhow::Result<()> {
    let settings = Arc::new(settings);
    let runtime_dir = make_runtime_dir()?;
    let metrics = Arc::new(Metrics::new());
    let chrome = Chrome::start(
        ChromeOptions {
            launch: LaunchOptions {
                executable: settings.chrome.clone(),
                sandbox: !settings.allow_no_sandbox,
                runtime_dir: runtime_dir.clone(),
            },
            recycle_after: settings.recycle_after,
            health_interval: settings.health_interval,
            request_timeout: settings.limits.max_timeout + Duration::from_secs(30),
        },
        metrics.clone(),
    );
    let egress = Arc::new(Egress {
        resolver: Resolver::new(settings.dns_server)?,
        metrics: metrics.clone(),
        chrome_uid: nix::unistd::geteuid().as_raw(),
        direct: settings.no_egress_proxy,
    });
    let app = Arc::new(App {
        egress,
        settings: settings.clone(),
        chrome: chrome.clone(),
        admission: Admission::new(
            settings.max_concurrency,
            settings.queue_size,
            metrics.clone(),
        ),
        metrics,
        draining: AtomicBool::new(false),
    });

    let listener = tokio::net::UnixListener::from_std(listener).context("cannot use the socket")?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::serve(
        listener,
        app.clone(),
        async {
            let _ = stop_rx.await;
        },
        LINGER,
    ));
    tracing::info!(socket = %settings.socket.display(), "listening");

    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    tokio::select! {
        _ = terminate.recv() => {},
        _ = interrupt.recv() => {},
    }

    // Draining: new jobs get 503 while running ones finish within the grace period. A
    // second signal cuts the wait short.
    app.draining.store(true, Ordering::SeqCst);
    tracing::info!(
        grace_period = ?settings.grace_period,
        jobs = app.admission.in_flight(),
        "draining"
    );
    let drained = async {
        while app.admission.in_flight() > 0 {
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    };
    tokio::select! {
        finished = tokio::time::timeout(settings.grace_period, drained) => {
            if finished.is_err() {
                tracing::warn!(
                    jobs = app.admission.in_flight(),
                    "grace period over; stopping anyway"
                );
            }
        }
        _ = terminate.recv() => tracing::warn!("second signal; stopping now"),
        _ = interrupt.recv() => tracing::warn!("second signal; stopping now"),
    }

    let _ = stop_tx.send(());
    let _ = server.await;
    chrome.shutdown().await;
    socket::remove(&settings.socket);
    let _ = std::fs::remove_dir_all(&runtime_dir);
    tracing::info!("stopped");
    Ok(())
}

/// A private directory for Chrome profiles, removed at exit.
fn make_runtime_dir() -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let base = std::env::var_os("TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/tmp".into());
    let dir = base.join(format!("render-supervisor-{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).ok();
    }
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

fn raise_descriptor_limit(wanted: u64) {
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    if soft >= wanted {
        return;
    }
    let hard = if hard < wanted && privileges::is_root() {
        wanted
    } else {
        hard
    };
    let soft = wanted.min(hard);
    if let Err(err) = setrlimit(Resource::RLIMIT_NOFILE, soft, hard) {
        tracing::warn!(%err, wanted, "cannot raise the file descriptor limit");
    }
    if soft < wanted {
        tracing::warn!(
            soft,
            wanted,
            "file descriptor limit is below the connection cap"
        );
    }
}
