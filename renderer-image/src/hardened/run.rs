//! Starting the renderer container locked down, and stopping it cleanly.
//!
//! A rendered page is untrusted code; the container is the layer around Chrome's own
//! sandbox. Each setting below removes something a compromised renderer or supervisor could
//! otherwise use. The socket directory is the only thing shared with the host.

use std::collections::HashMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HealthStatusEnum, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
};
use futures_util::StreamExt;

use super::{SECCOMP_PROFILE, SOCKET_DIR, is_not_found};

/// Which seccomp profile the container gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seccomp {
    /// The profile shipped with the image: Docker's default plus Chrome's sandbox calls.
    Shipped,
    /// The engine's built-in default, under which Chrome's sandbox cannot start. Only for
    /// showing that the shipped profile is what makes the sandbox work.
    EngineDefault,
    /// A profile read from a file.
    File(PathBuf),
}

/// How to run the container.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub image: String,
    pub name: String,
    /// Host directory mounted on the container's socket directory.
    pub socket_dir: PathBuf,
    /// `none`, or the name of a Docker network.
    pub network: String,
    /// Host uid that may submit jobs through the socket.
    pub allowed_uid: u32,
    pub seccomp: Seccomp,
    /// Time the supervisor gives running jobs after SIGTERM.
    pub grace_period: Duration,
    pub memory_bytes: i64,
    pub pids_limit: i64,
    pub shm_bytes: i64,
    pub tmp_bytes: u64,
    /// How long to wait for the health check to pass.
    pub wait_timeout: Duration,
    /// Further arguments for `render-supervisor serve` (`--allow ...`).
    pub supervisor_args: Vec<String>,
}

impl RunSpec {
    /// Defaults for everything but the image, name and socket directory.
    pub fn new(image: &str, name: &str, socket_dir: &Path) -> Self {
        RunSpec {
            image: image.into(),
            name: name.into(),
            socket_dir: socket_dir.into(),
            network: "none".into(),
            allowed_uid: current_ids().0,
            seccomp: Seccomp::Shipped,
            grace_period: Duration::from_secs(120),
            memory_bytes: 2 << 30,
            pids_limit: 512,
            shm_bytes: 256 << 20,
            tmp_bytes: 512 << 20,
            wait_timeout: Duration::from_secs(90),
            supervisor_args: Vec::new(),
        }
    }

    /// Time the engine waits after SIGTERM before it kills: above the grace period, so a
    /// drain that uses all of it still ends in a clean exit.
    pub fn stop_timeout(&self) -> Duration {
        self.grace_period + STOP_MARGIN
    }
}

/// What the supervisor needs beyond its grace period to stop Chrome and exit.
const STOP_MARGIN: Duration = Duration::from_secs(15);

/// A container that passed its health check.
#[derive(Debug, Clone)]
pub struct Running {
    pub name: String,
    pub id: String,
    /// The socket on the host.
    pub socket: PathBuf,
    /// `uid:gid` the supervisor runs as.
    pub user: String,
}

/// Why the container is not running healthy.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("image {image:?} is not in the docker engine; build it with `renderer-image build`")]
    ImageNotFound { image: String },
    #[error("image {image:?} runs as {user:?}; it must name a numeric non-root user")]
    ImageUser { image: String, user: String },
    #[error(
        "cannot prepare the socket directory {path} (owner {uid}:{gid}, mode 0750); \
         run as root or create it so beforehand"
    )]
    SocketDir {
        path: PathBuf,
        uid: u32,
        gid: u32,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is a symbolic link; give the real directory")]
    SocketDirSymlink { path: PathBuf },
    #[error("cannot read the seccomp profile {path}")]
    Seccomp {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("a container named {name:?} already exists; stop it first")]
    NameTaken { name: String },
    #[error(
        "container {name} exited with code {code} before it was healthy; its last output:\n{logs}"
    )]
    Exited {
        name: String,
        code: i64,
        logs: String,
    },
    #[error(
        "container {name} is not healthy after {waited:?} (left running for inspection; \
         `renderer-image stop --name {name}` removes it); its last output:\n{logs}"
    )]
    NotHealthy {
        name: String,
        waited: Duration,
        logs: String,
    },
    #[error("no container named {name:?}")]
    NoContainer { name: String },
    #[error("the docker engine failed on container {name}")]
    Engine {
        name: String,
        #[source]
        source: Box<bollard::errors::Error>,
    },
}

impl RunError {
    /// True when the engine, not the container, is at fault.
    pub fn is_engine(&self) -> bool {
        matches!(self, RunError::Engine { .. })
    }
}

/// Starts the container and waits until its health check passes.
pub async fn run(docker: &Docker, spec: &RunSpec) -> Result<Running, RunError> {
    let engine = |source| RunError::Engine {
        name: spec.name.clone(),
        source: Box::new(source),
    };

    // The image must say who it runs as, as numbers: the socket directory is given to that
    // uid, and a name could map to root.
    let image =
        docker
            .inspect_image(&spec.image)
            .await
            .map_err(|source| match is_not_found(&source) {
                true => RunError::ImageNotFound {
                    image: spec.image.clone(),
                },
                false => engine(source),
            })?;
    let image_user = image.config.and_then(|c| c.user).unwrap_or_default();
    let (uid, image_gid) = parse_user(&image_user).ok_or_else(|| RunError::ImageUser {
        image: spec.image.clone(),
        user: image_user.clone(),
    })?;

    // The supervisor runs with the allowed uid's primary group, so the socket it creates
    // (mode 0660, its own group) is usable by that uid and nobody else. Root needs no
    // group, and its group is never handed to the container.
    let gid = match primary_gid(spec.allowed_uid) {
        Some(gid) if gid != 0 => gid,
        _ => image_gid,
    };
    prepare_socket_dir(&spec.socket_dir, uid, gid)?;
    let security_opt = security_options(&spec.seccomp)?;

    let mut cmd = vec![
        // The host caller, and the image's own uid for the health check run inside.
        "--allowed-uid".to_string(),
        format!("{},{uid}", spec.allowed_uid),
        "--grace-period".to_string(),
        format!("{}s", spec.grace_period.as_secs()),
    ];
    cmd.extend(spec.supervisor_args.iter().cloned());

    let host = HostConfig {
        // Nothing in the image can be changed: no dropped tool, no modified binary survives
        // into the next exec.
        readonly_rootfs: Some(true),
        // Scratch space for Chrome's profile and the font cache, gone with the container.
        tmpfs: Some(HashMap::from([(
            "/tmp".to_string(),
            format!("rw,nosuid,nodev,noexec,size={},mode=1777", spec.tmp_bytes),
        )])),
        // Chrome's renderers share memory through /dev/shm; the engine's 64 MiB default
        // makes large pages crash.
        shm_size: Some(spec.shm_bytes),
        // No capability at all: Chrome's sandbox works inside its own user namespace.
        cap_drop: Some(vec!["ALL".into()]),
        security_opt: Some(security_opt),
        // A fork bomb in a page, or a leak of renderers, stops at this many tasks.
        pids_limit: Some(spec.pids_limit),
        // Swap equal to memory: no swap, so a runaway page is killed rather than slowing
        // the host down.
        memory: Some(spec.memory_bytes),
        memory_swap: Some(spec.memory_bytes),
        network_mode: Some(spec.network.clone()),
        binds: Some(vec![format!(
            "{}:{SOCKET_DIR}:rw",
            spec.socket_dir.display()
        )]),
        // The supervisor is PID 1 and reaps orphans itself.
        init: Some(false),
        publish_all_ports: Some(false),
        ..Default::default()
    };
    let body = ContainerCreateBody {
        image: Some(spec.image.clone()),
        user: Some(format!("{uid}:{gid}")),
        cmd: Some(cmd),
        stop_signal: Some("SIGTERM".into()),
        stop_timeout: Some(spec.stop_timeout().as_secs() as i64),
        host_config: Some(host),
        ..Default::default()
    };
    let options = CreateContainerOptionsBuilder::default()
        .name(&spec.name)
        .build();
    let created =
        docker
            .create_container(Some(options), body)
            .await
            .map_err(|source| match &source {
                bollard::errors::Error::DockerResponseServerError {
                    status_code: 409, ..
                } => RunError::NameTaken {
                    name: spec.name.clone(),
                },
                _ => engine(source),
            })?;
    docker
        .start_container(&created.id, None)
        .await
        .map_err(engine)?;

    wait_healthy(docker, &spec.name, spec.wait_timeout).await?;
    Ok(Running {
        name: spec.name.clone(),
        id: created.id,
        socket: spec.socket_dir.join("render.sock"),
        user: format!("{uid}:{gid}"),
    })
}

/// Stops the container (SIGTERM, then the engine's kill after its stop timeout), removes
/// it, and answers its exit code.
pub async fn stop(docker: &Docker, name: &str) -> Result<i64, RunError> {
    let engine = |source| RunError::Engine {
        name: name.into(),
        source: Box::new(source),
    };
    let missing = |source: bollard::errors::Error| match is_not_found(&source) {
        true => RunError::NoContainer { name: name.into() },
        false => engine(source),
    };
    docker
        .inspect_container(name, None)
        .await
        .map_err(missing)?;
    // Without an explicit timeout the engine uses the container's own stop timeout.
    match docker.stop_container(name, None).await {
        Ok(()) => {}
        // 304: already stopped.
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 304, ..
        }) => {}
        Err(source) => return Err(missing(source)),
    }
    let state = docker
        .inspect_container(name, None)
        .await
        .map_err(missing)?
        .state
        .unwrap_or_default();
    let code = state.exit_code.unwrap_or(-1);
    let options = RemoveContainerOptionsBuilder::default().v(true).build();
    docker
        .remove_container(name, Some(options))
        .await
        .map_err(missing)?;
    Ok(code)
}

/// Polls the engine until the container's health check passes, it exits, or time is up.
async fn wait_healthy(docker: &Docker, name: &str, timeout: Duration) -> Result<(), RunError> {
    let started = Instant::now();
    loop {
        let inspect = docker
            .inspect_container(name, None)
            .await
            .map_err(|source| RunError::Engine {
                name: name.into(),
                source: Box::new(source),
            })?;
        let state = inspect.state.unwrap_or_default();
        if state.running != Some(true) {
            return Err(RunError::Exited {
                name: name.into(),
                code: state.exit_code.unwrap_or(-1),
                logs: last_logs(docker, name).await,
            });
        }
        let health = state.health.and_then(|h| h.status);
        if health == Some(HealthStatusEnum::HEALTHY) {
            return Ok(());
        }
        if health == Some(HealthStatusEnum::UNHEALTHY) || started.elapsed() >= timeout {
            return Err(RunError::NotHealthy {
                name: name.into(),
                waited: started.elapsed(),
                logs: last_logs(docker, name).await,
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The container's last lines of output, for an error message.
async fn last_logs(docker: &Docker, name: &str) -> String {
    let options = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .tail("20")
        .build();
    let mut out = String::new();
    let mut logs = docker.logs(name, Some(options));
    while let Some(Ok(chunk)) = logs.next().await {
        out.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
    }
    out
}

/// `no-new-privileges` and the seccomp profile, as the engine wants them: the profile's
/// JSON text, not a path.
fn security_options(seccomp: &Seccomp) -> Result<Vec<String>, RunError> {
    // No setuid binary can raise privileges; Chrome's sandbox needs none, since it uses
    // user namespaces rather than a setuid helper.
    let mut options = vec!["no-new-privileges:true".to_string()];
    match seccomp {
        Seccomp::Shipped => options.push(format!("seccomp={SECCOMP_PROFILE}")),
        Seccomp::EngineDefault => {}
        Seccomp::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| RunError::Seccomp {
                path: path.clone(),
                source,
            })?;
            options.push(format!("seccomp={text}"));
        }
    }
    Ok(options)
}

/// Creates the socket directory if needed and gives it to the container's user: the
/// supervisor must create the socket there, members of `gid` must reach it, nobody else.
fn prepare_socket_dir(path: &Path, uid: u32, gid: u32) -> Result<(), RunError> {
    let fail = |source| RunError::SocketDir {
        path: path.into(),
        uid,
        gid,
        source,
    };
    std::fs::create_dir_all(path).map_err(fail)?;
    // Never follow a link: the chown below would hand its target to the container.
    let meta = std::fs::symlink_metadata(path).map_err(fail)?;
    if meta.file_type().is_symlink() {
        return Err(RunError::SocketDirSymlink { path: path.into() });
    }
    if meta.uid() != uid || meta.gid() != gid {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(fail)?;
    }
    if meta.mode() & 0o7777 != 0o750 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o750)).map_err(fail)?;
    }
    Ok(())
}

/// `uid[:gid]` as numbers, refusing names and root.
fn parse_user(user: &str) -> Option<(u32, u32)> {
    let (uid, gid) = match user.split_once(':') {
        Some((uid, gid)) => (uid.parse().ok()?, gid.parse().ok()?),
        None => {
            let uid = user.parse().ok()?;
            (uid, uid)
        }
    };
    (uid != 0).then_some((uid, gid))
}

/// The effective uid and gid of this process.
pub fn current_ids() -> (u32, u32) {
    std::fs::metadata("/proc/self")
        .map(|m| (m.uid(), m.gid()))
        .unwrap_or((0, 0))
}

/// The primary group of `uid`: ours when it is us, else from the host's `/etc/passwd`.
fn primary_gid(uid: u32) -> Option<u32> {
    let (own_uid, own_gid) = current_ids();
    if uid == own_uid {
        return Some(own_gid);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    gid_in_passwd(&passwd, uid)
}

fn gid_in_passwd(passwd: &str, uid: u32) -> Option<u32> {
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.as_slice() {
            [_, _, u, g, ..] if u.parse() == Ok(uid) => g.parse().ok(),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_user_must_be_numeric_and_not_root() {
        assert_eq!(parse_user("10001:10001"), Some((10001, 10001)));
        assert_eq!(parse_user("10001"), Some((10001, 10001)));
        assert_eq!(parse_user("10001:20"), Some((10001, 20)));
        assert_eq!(parse_user(""), None);
        assert_eq!(parse_user("node"), None);
        assert_eq!(parse_user("0:0"), None);
        assert_eq!(parse_user("renderer:10001"), None);
    }

    #[test]
    fn finds_primary_group_in_passwd() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1003::/home/alice:/bin/sh\n";
        assert_eq!(gid_in_passwd(passwd, 1000), Some(1003));
        assert_eq!(gid_in_passwd(passwd, 0), Some(0));
        assert_eq!(gid_in_passwd(passwd, 42), None);
    }

    #[test]
    fn stop_timeout_exceeds_grace_period() {
        let mut spec = RunSpec::new("img", "name", Path::new("/tmp/x"));
        spec.grace_period = Duration::from_secs(30);
        assert!(spec.stop_timeout() > spec.grace_period);
    }

    #[test]
    fn seccomp_goes_to_the_engine_as_json_text() {
        let options = security_options(&Seccomp::Shipped).unwrap();
        assert_eq!(options[0], "no-new-privileges:true");
        let profile = options[1].strip_prefix("seccomp=").unwrap();
        assert!(serde_json::from_str::<serde_json::Value>(profile).is_ok());
        assert_eq!(security_options(&Seccomp::EngineDefault).unwrap().len(), 1);
    }
}
