//! Starting Chromium ourselves, so that we own its whole process tree.
//!
//! chromiumoxide's own launcher spawns Chrome without a process group and kills only the
//! main pid, which leaves the zygote and renderers behind. Here Chrome starts as the leader
//! of a new process group, with a clean environment, no core dumps and a fresh profile
//! directory; [`ChromeProcess::kill`] signals the whole group and removes the profile.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use thiserror::Error;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

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
    #[error("chrome exited before it was ready: {stderr}")]
    Exited { stderr: String },
    #[error("chrome did not announce its DevTools endpoint within {0:?}")]
    Timeout(Duration),
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
    // The supervisor drives Chrome over CDP; port 0 lets the kernel pick a free port.
    "--remote-debugging-port=0",
    "--remote-debugging-address=127.0.0.1",
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
    "--disable-features=Translate,MediaRouter,DialMediaRouteProvider,OptimizationHints,\
     AutofillServerCommunication,InterestFeedContentSuggestions,CalculateNativeWinOcclusion",
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
    pub ws_url: String,
}

impl ChromeProcess {
    pub async fn launch(options: &LaunchOptions, timeout: Duration) -> Result<Self, LaunchError> {
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

        // No core dumps: a crashing renderer must not write page contents to disk.
        // SAFETY: the closure runs between fork and exec and only calls setrlimit, which is
        // async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0)
                    .map_err(std::io::Error::from)
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
        let pgid = Pid::from_raw(child.id().map(|id| id as i32).unwrap_or(0));
        let stderr = child.stderr.take().expect("stderr is piped");

        let mut process = ChromeProcess {
            child,
            pgid,
            profile,
            ws_url: String::new(),
        };
        let mut lines = BufReader::new(stderr).lines();
        let mut seen = Vec::new();
        let found = tokio::time::timeout(timeout, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    return Some(url.trim().to_owned());
                }
                if seen.len() < 20 {
                    seen.push(line);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(url)) => process.ws_url = url,
            Ok(None) => {
                process.kill().await;
                return Err(LaunchError::Exited {
                    stderr: seen.join("\n"),
                });
            }
            Err(_) => {
                process.kill().await;
                return Err(LaunchError::Timeout(timeout));
            }
        }

        // Keep draining stderr so Chrome never blocks on a full pipe; its lines are for
        // debugging only.
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::trace!(target: "chrome", "{line}");
            }
        });
        Ok(process)
    }

    pub fn pid(&self) -> i32 {
        self.pgid.as_raw()
    }

    /// Kills every process of the group, reaps the leader and removes the profile.
    pub async fn kill(&mut self) {
        if self.pgid.as_raw() > 0 {
            let _ = killpg(self.pgid, Signal::SIGKILL);
        }
        let _ = self.child.wait().await;
        remove_profile(&self.profile);
    }

    /// Resolves when the group leader exits.
    pub async fn exited(&mut self) {
        let _ = self.child.wait().await;
    }
}

impl Drop for ChromeProcess {
    fn drop(&mut self) {
        if self.pgid.as_raw() > 0 {
            let _ = killpg(self.pgid, Signal::SIGKILL);
        }
        remove_profile(&self.profile);
    }
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
