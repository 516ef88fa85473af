//! Settings for `serve`, gathered from three places.
//!
//! Each setting can come from a command-line flag, a `RENDER_SUPERVISOR_*` environment
//! variable or a TOML file given with `--config`; a flag wins over the environment and the
//! environment over the file. clap handles the first two (every flag is an `Option`, so an
//! absent flag is distinguishable from a default), the file fills what both left empty, and
//! [`Settings`] holds the result with defaults applied. `Settings` is the only type the rest
//! of the daemon reads.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde::Deserialize;
use thiserror::Error;

use crate::policy::OriginList;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration file {path}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("invalid duration {value:?} for {name} (expected e.g. \"30s\" or \"1m\")")]
    Duration { name: &'static str, value: String },
    #[error("invalid value for {name}: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("no Chrome or Chromium found; give one with --chrome (looked in {looked})")]
    NoChrome { looked: String },
}

/// Flags of `render-supervisor serve`. Every value is optional here so that the file can
/// fill what neither a flag nor the environment set; the defaults are stated in the help.
#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    /// Unix socket to listen on, the only way to reach the API [default:
    /// /run/renderer/render.sock]
    #[arg(long, env = "RENDER_SUPERVISOR_SOCKET", value_name = "PATH")]
    pub socket: Option<PathBuf>,

    /// Mode of the socket file, in octal [default: 0660]
    #[arg(long, env = "RENDER_SUPERVISOR_SOCKET_MODE", value_name = "OCTAL")]
    pub socket_mode: Option<String>,

    /// TOML file with any of these settings (flags and environment win over it)
    #[arg(long, env = "RENDER_SUPERVISOR_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Chrome or Chromium binary [default: found in the usual places, Debian's
    /// /usr/lib/chromium/chromium first]
    #[arg(long, env = "RENDER_SUPERVISOR_CHROME", value_name = "PATH")]
    pub chrome: Option<PathBuf>,

    /// User (name or numeric uid) to drop to when started as root; required then
    #[arg(long, env = "RENDER_SUPERVISOR_USER", value_name = "USER")]
    pub user: Option<String>,

    /// Peer uid allowed to submit jobs; repeatable [default: the uid the daemon runs as]
    #[arg(
        long = "allowed-uid",
        env = "RENDER_SUPERVISOR_ALLOWED_UID",
        value_delimiter = ','
    )]
    pub allowed_uids: Vec<u32>,

    /// Peer primary gid allowed to submit jobs; repeatable. Only the peer's primary group is
    /// visible through the socket, supplementary groups are not
    #[arg(
        long = "allowed-gid",
        env = "RENDER_SUPERVISOR_ALLOWED_GID",
        value_delimiter = ','
    )]
    pub allowed_gids: Vec<u32>,

    /// Origin pages may reach (scheme://host[:port], *.name for subdomains), on globally
    /// routable addresses only; repeatable
    #[arg(long = "allow", env = "RENDER_SUPERVISOR_ALLOW", value_delimiter = ',')]
    pub allow: Vec<String>,

    /// Origin pages may reach also on loopback, private and link-local addresses; repeatable
    #[arg(
        long = "allow-private",
        env = "RENDER_SUPERVISOR_ALLOW_PRIVATE",
        value_delimiter = ','
    )]
    pub allow_private: Vec<String>,

    /// DNS server (IP:PORT) the egress proxy resolves page host names with [default: the
    /// system's resolver configuration]
    #[arg(long, env = "RENDER_SUPERVISOR_DNS_SERVER", value_name = "ADDR")]
    pub dns_server: Option<std::net::SocketAddr>,

    /// Start Chrome without its own sandbox (logged as a warning at every start)
    #[arg(long, env = "RENDER_SUPERVISOR_ALLOW_NO_SANDBOX")]
    pub allow_no_sandbox: bool,

    /// Let pages connect directly, with no egress proxy: only a job's own url is checked
    /// against the allowed origins, nothing the page loads after it (logged as a warning at
    /// every start; for measuring what the policy costs, not for production)
    #[arg(long, env = "RENDER_SUPERVISOR_NO_EGRESS_PROXY")]
    pub no_egress_proxy: bool,

    /// Jobs rendered at the same time [default: 2]
    #[arg(long, env = "RENDER_SUPERVISOR_MAX_CONCURRENCY", value_name = "N")]
    pub max_concurrency: Option<usize>,

    /// Jobs waiting for a slot before new ones get 429 [default: 16]
    #[arg(long, env = "RENDER_SUPERVISOR_QUEUE_SIZE", value_name = "N")]
    pub queue_size: Option<usize>,

    /// Default job timeout, queueing included [default: 30s]
    #[arg(long, env = "RENDER_SUPERVISOR_JOB_TIMEOUT", value_name = "DURATION")]
    pub job_timeout: Option<String>,

    /// Longest timeout a job may ask for [default: 120s]
    #[arg(
        long,
        env = "RENDER_SUPERVISOR_MAX_JOB_TIMEOUT",
        value_name = "DURATION"
    )]
    pub max_job_timeout: Option<String>,

    /// Time running jobs get to finish after SIGTERM [default: the maximum job timeout]
    #[arg(long, env = "RENDER_SUPERVISOR_GRACE_PERIOD", value_name = "DURATION")]
    pub grace_period: Option<String>,

    /// Largest request body in bytes [default: 10485760]
    #[arg(long, env = "RENDER_SUPERVISOR_MAX_BODY_BYTES", value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,

    /// Largest viewport width and height in CSS pixels [default: 4096]
    #[arg(long, env = "RENDER_SUPERVISOR_MAX_VIEWPORT", value_name = "PX")]
    pub max_viewport: Option<u32>,

    /// Largest device scale factor [default: 4]
    #[arg(
        long,
        env = "RENDER_SUPERVISOR_MAX_SCALE_FACTOR",
        value_name = "FACTOR"
    )]
    pub max_scale_factor: Option<f64>,

    /// Tallest full-page screenshot in CSS pixels; Chrome cannot capture beyond 16384
    /// [default: 16384]
    #[arg(long, env = "RENDER_SUPERVISOR_MAX_PAGE_HEIGHT", value_name = "PX")]
    pub max_page_height: Option<u32>,

    /// Largest output (PDF or image) in bytes [default: 268435456]
    #[arg(long, env = "RENDER_SUPERVISOR_MAX_OUTPUT_BYTES", value_name = "BYTES")]
    pub max_output_bytes: Option<u64>,

    /// Relaunch Chrome after this many jobs, draining first; 0 never [default: 500]
    #[arg(long, env = "RENDER_SUPERVISOR_RECYCLE_AFTER", value_name = "JOBS")]
    pub recycle_after: Option<u64>,

    /// How often Chrome is probed for health [default: 5s]
    #[arg(
        long,
        env = "RENDER_SUPERVISOR_HEALTH_INTERVAL",
        value_name = "DURATION"
    )]
    pub health_interval: Option<String>,

    /// Time a client gets to send a request's headers and body [default: 10s]
    #[arg(long, env = "RENDER_SUPERVISOR_READ_TIMEOUT", value_name = "DURATION")]
    pub read_timeout: Option<String>,

    /// Time a client gets to take each part of a response before it is cut off
    /// [default: 30s]
    #[arg(long, env = "RENDER_SUPERVISOR_WRITE_TIMEOUT", value_name = "DURATION")]
    pub write_timeout: Option<String>,

    /// Open connections at most; further ones wait in the kernel's backlog [default: 1024]
    #[arg(long, env = "RENDER_SUPERVISOR_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,

    /// Log format: text or json [default: text]
    #[arg(long, env = "RENDER_SUPERVISOR_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<String>,
}

/// The same settings as read from the TOML file (keys use underscores).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    socket: Option<PathBuf>,
    socket_mode: Option<String>,
    chrome: Option<PathBuf>,
    user: Option<String>,
    allowed_uid: Option<Vec<u32>>,
    allowed_gid: Option<Vec<u32>>,
    allow: Option<Vec<String>>,
    allow_private: Option<Vec<String>>,
    dns_server: Option<std::net::SocketAddr>,
    allow_no_sandbox: Option<bool>,
    no_egress_proxy: Option<bool>,
    max_concurrency: Option<usize>,
    queue_size: Option<usize>,
    job_timeout: Option<String>,
    max_job_timeout: Option<String>,
    grace_period: Option<String>,
    max_body_bytes: Option<usize>,
    max_viewport: Option<u32>,
    max_scale_factor: Option<f64>,
    max_page_height: Option<u32>,
    max_output_bytes: Option<u64>,
    recycle_after: Option<u64>,
    health_interval: Option<String>,
    read_timeout: Option<String>,
    write_timeout: Option<String>,
    max_connections: Option<usize>,
    log_format: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Limits a job is checked against before it reaches Chrome.
#[derive(Debug, Clone)]
pub struct JobLimits {
    pub default_timeout: Duration,
    pub max_timeout: Duration,
    pub max_viewport: u32,
    pub max_scale_factor: f64,
    pub max_page_height: u32,
    pub max_output_bytes: u64,
}

/// Every setting of `serve`, resolved and validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub socket: PathBuf,
    pub socket_mode: u32,
    pub chrome: PathBuf,
    pub user: Option<String>,
    /// Empty means "the uid the daemon runs as", filled in once privileges are dropped.
    pub allowed_uids: Vec<u32>,
    pub allowed_gids: Vec<u32>,
    pub origins: OriginList,
    pub dns_server: Option<std::net::SocketAddr>,
    pub allow_no_sandbox: bool,
    /// Pages connect directly: the egress proxy, and with it the policy on everything a
    /// page loads, is off.
    pub no_egress_proxy: bool,
    pub max_concurrency: usize,
    pub queue_size: usize,
    pub grace_period: Duration,
    pub max_body_bytes: usize,
    pub limits: JobLimits,
    pub recycle_after: u64,
    pub health_interval: Duration,
    pub read_timeout: Duration,
    pub write_timeout: Duration,
    pub max_connections: usize,
    pub log_format: LogFormat,
}

/// Where Chrome is looked for when `--chrome` is not given, best first. Debian's real
/// binary comes before its `/usr/bin/chromium` wrapper, which adds flags from
/// `/etc/chromium.d` that we do not want.
const CHROME_CANDIDATES: &[&str] = &[
    "/usr/lib/chromium/chromium",
    "/opt/google/chrome/chrome",
    "/usr/bin/google-chrome-stable",
    "/usr/bin/google-chrome",
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
];

impl ServeArgs {
    pub fn resolve(self) -> Result<Settings, ConfigError> {
        let file = match &self.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let duration = |name, cli: Option<String>, file: Option<String>, default: &str| {
            let text = cli.or(file).unwrap_or_else(|| default.to_owned());
            humantime::parse_duration(&text)
                .map_err(|_| ConfigError::Duration { name, value: text })
        };

        let default_timeout = duration("job_timeout", self.job_timeout, file.job_timeout, "30s")?;
        let max_timeout = duration(
            "max_job_timeout",
            self.max_job_timeout,
            file.max_job_timeout,
            "120s",
        )?;
        if default_timeout > max_timeout {
            return Err(ConfigError::Invalid {
                name: "job_timeout",
                reason: format!(
                    "{} is above max_job_timeout {}",
                    humantime::format_duration(default_timeout),
                    humantime::format_duration(max_timeout)
                ),
            });
        }
        let grace_period = match self.grace_period.or(file.grace_period) {
            Some(text) => duration("grace_period", Some(text), None, "")?,
            None => max_timeout,
        };

        let mode_text = self
            .socket_mode
            .or(file.socket_mode)
            .unwrap_or_else(|| "0660".into());
        let socket_mode = u32::from_str_radix(mode_text.trim_start_matches("0o"), 8)
            .ok()
            .filter(|mode| *mode <= 0o777)
            .ok_or_else(|| ConfigError::Invalid {
                name: "socket_mode",
                reason: format!("{mode_text:?} is not an octal file mode"),
            })?;

        let chrome = match self.chrome.or(file.chrome) {
            Some(path) => path,
            None => find_chrome()?,
        };

        let allow = list(self.allow, file.allow);
        let allow_private = list(self.allow_private, file.allow_private);
        let origins =
            OriginList::parse(&allow, &allow_private).map_err(|e| ConfigError::Invalid {
                name: "allow",
                reason: e.to_string(),
            })?;

        let max_concurrency = self.max_concurrency.or(file.max_concurrency).unwrap_or(2);
        if max_concurrency == 0 {
            return Err(ConfigError::Invalid {
                name: "max_concurrency",
                reason: "must be at least 1".into(),
            });
        }
        let max_page_height = self
            .max_page_height
            .or(file.max_page_height)
            .unwrap_or(16_384);
        if max_page_height > 16_384 {
            return Err(ConfigError::Invalid {
                name: "max_page_height",
                reason: "Chrome cannot capture beyond 16384 px".into(),
            });
        }

        let log_format = match self.log_format.or(file.log_format).as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "log_format",
                    reason: format!("{other:?} is neither text nor json"),
                });
            }
        };

        Ok(Settings {
            socket: self
                .socket
                .or(file.socket)
                .unwrap_or_else(|| "/run/renderer/render.sock".into()),
            socket_mode,
            chrome,
            user: self.user.or(file.user),
            allowed_uids: list(self.allowed_uids, file.allowed_uid),
            allowed_gids: list(self.allowed_gids, file.allowed_gid),
            origins,
            dns_server: self.dns_server.or(file.dns_server),
            allow_no_sandbox: self.allow_no_sandbox || file.allow_no_sandbox.unwrap_or(false),
            no_egress_proxy: self.no_egress_proxy || file.no_egress_proxy.unwrap_or(false),
            max_concurrency,
            queue_size: self.queue_size.or(file.queue_size).unwrap_or(16),
            grace_period,
            max_body_bytes: self
                .max_body_bytes
                .or(file.max_body_bytes)
                .unwrap_or(10 << 20),
            limits: JobLimits {
                default_timeout,
                max_timeout,
                max_viewport: self.max_viewport.or(file.max_viewport).unwrap_or(4096),
                max_scale_factor: self
                    .max_scale_factor
                    .or(file.max_scale_factor)
                    .unwrap_or(4.0),
                max_page_height,
                max_output_bytes: self
                    .max_output_bytes
                    .or(file.max_output_bytes)
                    .unwrap_or(256 << 20),
            },
            recycle_after: self.recycle_after.or(file.recycle_after).unwrap_or(500),
            health_interval: duration(
                "health_interval",
                self.health_interval,
                file.health_interval,
                "5s",
            )?,
            read_timeout: duration("read_timeout", self.read_timeout, file.read_timeout, "10s")?,
            write_timeout: duration(
                "write_timeout",
                self.write_timeout,
                file.write_timeout,
                "30s",
            )?,
            max_connections: self
                .max_connections
                .or(file.max_connections)
                .unwrap_or(1024),
            log_format,
        })
    }
}

/// A list setting: the flags or environment when they give any entry, else the file.
fn list<T>(cli: Vec<T>, file: Option<Vec<T>>) -> Vec<T> {
    if cli.is_empty() {
        file.unwrap_or_default()
    } else {
        cli
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.into(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| ConfigError::Parse {
        path: path.into(),
        source: Box::new(source),
    })
}

fn find_chrome() -> Result<PathBuf, ConfigError> {
    CHROME_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
        .ok_or_else(|| ConfigError::NoChrome {
            looked: CHROME_CANDIDATES.join(", "),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn resolve(args: &[&str], file: Option<&str>) -> Result<Settings, ConfigError> {
        let dir = std::env::temp_dir().join(format!("rs-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut argv = vec!["x", "--chrome", "/bin/true"];
        argv.extend_from_slice(args);
        let path = dir.join("c.toml");
        let path_text = path.to_string_lossy().into_owned();
        if let Some(text) = file {
            std::fs::write(&path, text).unwrap();
            argv.extend_from_slice(&["--config", &path_text]);
        }
        let result = Cli::try_parse_from(argv).unwrap().serve.resolve();
        std::fs::remove_dir_all(&dir).unwrap();
        result
    }

    #[test]
    fn defaults_work_without_any_setting() {
        let s = resolve(&[], None).unwrap();
        assert_eq!(s.socket_mode, 0o660);
        assert_eq!(s.max_concurrency, 2);
        assert_eq!(s.limits.default_timeout, Duration::from_secs(30));
        assert_eq!(s.grace_period, s.limits.max_timeout);
        assert!(!s.allow_no_sandbox && !s.no_egress_proxy);
    }

    #[test]
    fn the_egress_proxy_is_turned_off_only_when_asked() {
        assert!(
            resolve(&["--no-egress-proxy"], None)
                .unwrap()
                .no_egress_proxy
        );
        let file = resolve(&[], Some("no_egress_proxy = true\n")).unwrap();
        assert!(file.no_egress_proxy);
        assert!(
            !resolve(&[], Some("no_egress_proxy = false\n"))
                .unwrap()
                .no_egress_proxy
        );
    }

    #[test]
    fn flag_wins_over_file() {
        let s = resolve(
            &["--queue-size", "3"],
            Some("queue_size = 9\nmax_concurrency = 4\n"),
        )
        .unwrap();
        assert_eq!(s.queue_size, 3);
        assert_eq!(s.max_concurrency, 4);
    }

    #[test]
    fn rejects_unknown_file_keys_and_bad_durations() {
        assert!(matches!(
            resolve(&[], Some("queue = 1\n")),
            Err(ConfigError::Parse { .. })
        ));
        assert!(matches!(
            resolve(&["--job-timeout", "soon"], None),
            Err(ConfigError::Duration {
                name: "job_timeout",
                ..
            })
        ));
        assert!(matches!(
            resolve(&["--job-timeout", "10m"], None),
            Err(ConfigError::Invalid {
                name: "job_timeout",
                ..
            })
        ));
    }
}
