//! Starting Chromium ourselves, so that we own its whole process tree.
//!
//! chromiumoxide's own launcher spawns Chrome without a process group and kills only the
//! main pid, which leaves the zygote and renderers behind. Here Chrome starts as the leader
//! of a new process group, with a clean environment, no core dumps and a fresh profile
//! directory; [`ChromeProcess::kill`] signals the whole group and removes the profile.

use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use nix::fcntl::OFlag;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::{Pid, pipe2};
use thiserror::Error;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::devtools;

/// Lines of Chrome's stderr kept to explain a failed start.
const STDERR_LINES_KEPT: usize = 20;

#[derive(Debug, Error)]
pub enum LaunchError {
    #[error("cannot create profile directory {path}")]
    Profile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start {path}")]
    Spawn {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What Chrome needs to start.
#[derive(Debug, Clone)]
pub struct LaunchOptions {
    pub executable: PathBuf,
    pub sandbox: bool,
    /// Parent of the per-launch profile directories.
    pub runtime_dir: PathBuf,
}

/// Flags every launch gets, each with the reason it is there.
const FLAGS: &[&str] = &[
    // No window, and the same renderer as headful Chrome (old headless was split out).
    "--headless=new",
    // The supervisor drives Chrome over CDP on pipes: no DevTools port anyone could reach.
    "--remote-debugging-pipe",
    // Start on a blank page instead of a new-tab page that loads remote content.
    "about:blank",
    // No first-run dialogs, default-browser checks or sign-in prompts.
    "--no-first-run",
    "--no-default-browser-check",
    "--no-service-autorun",
    "--password-store=basic",
    "--use-mock-keychain",
    // Nothing talks to Google's services in the background: update checks, field trials,
    // component downloads, sync, crash and metrics upload, safe-browsing lookups. Each is a
    // request a page did not ask for and our egress policy would have to explain.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-domain-reliability",
    "--disable-breakpad",
    "--disable-crash-reporter",
    "--metrics-recording-only",
    "--disable-client-side-phishing-detection",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-pings",
    "--safebrowsing-disable-auto-update",
    // A renderer's timers must not be throttled while it waits for a chart to draw.
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-renderer-backgrounding",
    // Permission prompts (camera, notifications, geolocation) are answered "no".
    "--deny-permission-prompts",
    // Translate, media router and optimization hints open connections of their own.
    // The address-bar popups are WebUI pages Chrome preloads in a renderer of their own
    // for every window, a job's included: memory and CPU for nothing in headless mode.
    // The on-device model service starts a utility process of its own.
    // Chrome honours only the last --disable-features, so every feature is in this one.
    "--disable-features=Translate,MediaRouter,DialMediaRouteProvider,OptimizationHints,\
     AutofillServerCommunication,InterestFeedContentSuggestions,CalculateNativeWinOcclusion,\
     WebUIOmniboxPopup,WebUIOmniboxAimPopup,OptimizationGuideModelDownloading,\
     OptimizationGuideOnDeviceModel,OnDeviceModelService",
    // Every request goes through the job's egress proxy, which speaks TCP only: QUIC
    // would leave over UDP, and WebRTC would send STUN over UDP to any address a page
    // names. Prefetching DNS would resolve names the policy never allowed.
    "--disable-quic",
    "--force-webrtc-ip-handling-policy",
    "--webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--dns-prefetch-disable",
    // Consistent glyph shapes in PDFs regardless of the host's font configuration.
    "--font-render-hinting=none",
    "--hide-scrollbars",
    "--mute-audio",
    // No GPU in a container; software rendering is deterministic.
    "--disable-gpu",
];

/// A running Chrome: the group leader's handle and its profile directory.
#[derive(Debug)]
pub struct ChromeProcess {
    child: Child,
    pgid: Pid,
    profile: PathBuf,
    bridge: devtools::Bridge,
    stderr_head: Arc<Mutex<Vec<String>>>,
}

impl ChromeProcess {
    pub async fn launch(options: &LaunchOptions) -> Result<Self, LaunchError> {
        // A fresh profile per launch: nothing from an earlier Chrome (cookies, cache, a
        // SingletonLock left by a crash) can reach a new one.
        let profile = options
            .runtime_dir
            .join(format!("chrome-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&profile).map_err(|source| LaunchError::Profile {
            path: profile.clone(),
            source,
        })?;

        let mut command = Command::new(&options.executable);
        command
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!(
                "--disk-cache-dir={}",
                profile.join("cache").display()
            ));
        if !options.sandbox {
            command.arg("--no-sandbox");
        }

        // A clean environment: no secret the supervisor was given reaches Chrome or a page.
        command.env_clear().envs(clean_env(&profile));

        // Its own process group, so the whole tree (zygotes, renderers, utilities) can be
        // signalled at once.
        command.process_group(0);

        // No core dumps (set in the pre-exec step below): a crashing renderer must not
        // write page contents to disk.

        // CDP over two pipes instead of a port: Chrome reads commands on fd 3 and writes
        // answers and events on fd 4 (see `devtools`).
        let (chrome_reads, to_chrome) = pipe2(OFlag::O_CLOEXEC).map_err(spawn_error(options))?;
        let (from_chrome, chrome_writes) = pipe2(OFlag::O_CLOEXEC).map_err(spawn_error(options))?;
        let (reads_fd, writes_fd) = (chrome_reads.as_raw_fd(), chrome_writes.as_raw_fd());
        // SAFETY: the closure runs between fork and exec and only calls fcntl, dup2 and
        // setrlimit, which are async-signal-safe. Both pipe ends are first copied above fd
        // 10 so that placing one on 3 cannot overwrite the other.
        unsafe {
            command.pre_exec(move || {
                let high_reads = dup_above(reads_fd, 10)?;
                let high_writes = dup_above(writes_fd, 10)?;
                dup2_raw(high_reads, 3)?;
                dup2_raw(high_writes, 4)?;
                nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0)?;
                Ok(())
            });
        }

        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        command.kill_on_drop(true);
        let mut child = command.spawn().map_err(|source| LaunchError::Spawn {
            path: options.executable.clone(),
            source,
        })?;
        // Chrome holds its ends now; ours must close so that its exit is seen as EOF.
        drop(chrome_reads);
        drop(chrome_writes);
        let pgid = Pid::from_raw(child.id().map(|id| id as i32).unwrap_or(0));
        let stderr = child.stderr.take().expect("stderr is piped");

        // Keep draining stderr so Chrome never blocks on a full pipe; the first lines are
        // kept to explain a failed start.
        let stderr_head = Arc::new(Mutex::new(Vec::new()));
        let head = stderr_head.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::trace!(target: "chrome", "{line}");
                let mut head = head.lock().expect("not poisoned");
                if head.len() < STDERR_LINES_KEPT {
                    head.push(line);
                }
            }
        });

        let bridge = devtools::Bridge::start(to_chrome, from_chrome)
            .await
            .map_err(|source| LaunchError::Spawn {
                path: options.executable.clone(),
                source,
            })?;
        Ok(ChromeProcess {
            child,
            pgid,
            profile,
            bridge,
            stderr_head,
        })
    }

    /// The WebSocket URL the supervisor connects to (see `devtools`).
    pub fn ws_url(&self) -> &str {
        &self.bridge.ws_url
    }

    /// What Chrome printed first, for error messages.
    pub fn stderr_head(&self) -> String {
        self.stderr_head.lock().expect("not poisoned").join("\n")
    }

    pub fn pid(&self) -> i32 {
        self.pgid.as_raw()
    }

    /// Kills every process of the group, reaps the leader and removes the profile.
    pub async fn kill(&mut self) {
        self.kill_all();
        let _ = self.child.wait().await;
        remove_profile(&self.profile);
    }

    /// Kills the process group, then every process that still names this launch's profile
    /// on its command line: Chrome's crash handler daemonizes into a session of its own
    /// (even with crash reporting off), outside the group, and would outlive every
    /// Chrome otherwise.
    fn kill_all(&self) {
        if self.pgid.as_raw() > 0 {
            let _ = killpg(self.pgid, Signal::SIGKILL);
        }
        for pid in processes_naming(&self.profile) {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
        }
    }

    /// Resolves when the group leader exits.
    pub async fn exited(&mut self) {
        let _ = self.child.wait().await;
    }
}

impl Drop for ChromeProcess {
    fn drop(&mut self) {
        self.kill_all();
        remove_profile(&self.profile);
    }
}

/// Processes whose command line contains `path`. Only processes of our own uid can be
/// read and signalled; Chrome's are.
fn processes_naming(path: &Path) -> Vec<Pid> {
    let needle = path.as_os_str().as_encoded_bytes();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| cmdline.windows(needle.len()).any(|w| w == needle))
        })
        .map(Pid::from_raw)
        .collect()
}

fn remove_profile(profile: &Path) {
    if profile.exists()
        && let Err(err) = std::fs::remove_dir_all(profile)
    {
        tracing::warn!(path = %profile.display(), %err, "cannot remove chrome profile");
    }
}

/// The only environment Chrome sees. `HOME` and the XDG directories point into the
/// profile so that fontconfig and Chrome's own caches work on a read-only root.
fn clean_env(profile: &Path) -> Vec<(&'static str, String)> {
    let dir = |name: &str| profile.join(name).display().to_string();
    vec![
        ("PATH", "/usr/local/bin:/usr/bin:/bin".into()),
        ("HOME", profile.display().to_string()),
        ("XDG_CONFIG_HOME", dir("config")),
        ("XDG_CACHE_HOME", dir("cache")),
        ("XDG_DATA_HOME", dir("data")),
        ("LANG", "C.UTF-8".into()),
        ("TZ", "UTC".into()),
    ]
}

fn spawn_error(options: &LaunchOptions) -> impl Fn(nix::Error) -> LaunchError + '_ {
    move |err| LaunchError::Spawn {
        path: options.executable.clone(),
        source: err.into(),
    }
}

/// A close-on-exec copy of `fd` numbered at least `floor`, for the pre-exec step.
fn dup_above(fd: RawFd, floor: RawFd) -> std::io::Result<RawFd> {
    // SAFETY: fcntl on a descriptor valid in the child; it is async-signal-safe.
    let copy = unsafe { nix::libc::fcntl(fd, nix::libc::F_DUPFD_CLOEXEC, floor) };
    if copy < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(copy)
}

/// `dup2` on raw descriptors, for the pre-exec step where no owned handles exist.
fn dup2_raw(from: RawFd, to: RawFd) -> std::io::Result<()> {
    // SAFETY: dup2 on two descriptors valid in the child; it is async-signal-safe.
    if unsafe { nix::libc::dup2(from, to) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
