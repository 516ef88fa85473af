//! `renderer-image run`.

use std::path::PathBuf;
use std::time::Duration;

use crate::hardened::run::{RunSpec, Seccomp, run as run_container};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The image to run.
    #[arg(long)]
    image: String,
    /// Host directory for the socket; created if missing and given to the image's user.
    #[arg(long)]
    socket_dir: PathBuf,
    /// Container name.
    #[arg(long)]
    name: String,
    /// `none` (no network at all), or the name of a Docker network the pages may use.
    #[arg(long, default_value = "none")]
    network: String,
    /// Host uid that may submit jobs [default: the caller's].
    #[arg(long)]
    allowed_uid: Option<u32>,
    /// Seccomp profile file instead of the shipped one; `engine-default` for the engine's
    /// own profile, under which Chrome's sandbox cannot start (for diagnosis only).
    #[arg(long)]
    seccomp: Option<String>,
    /// Time running jobs get after SIGTERM; the stop timeout is set above it.
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    grace_period: Duration,
    /// Memory limit in MiB (swap included: no swap).
    #[arg(long, default_value_t = 2048)]
    memory_mib: i64,
    /// Most tasks (processes and threads) the container may hold.
    #[arg(long, default_value_t = 512)]
    pids_limit: i64,
    /// Size of /dev/shm in MiB.
    #[arg(long, default_value_t = 256)]
    shm_mib: i64,
    /// How long to wait for the health check to pass.
    #[arg(long, default_value = "90s", value_parser = humantime::parse_duration)]
    wait_timeout: Duration,
    /// Further arguments for `render-supervisor serve`, after `--` (e.g. `--allow ORIGIN`).
    #[arg(last = true)]
    supervisor_args: Vec<String>,
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    let mut spec = RunSpec::new(&args.image, &args.name, &args.socket_dir);
    spec.network = args.network;
    if let Some(uid) = args.allowed_uid {
        spec.allowed_uid = uid;
    }
    spec.seccomp = match args.seccomp.as_deref() {
        None => Seccomp::Shipped,
        Some("engine-default") => Seccomp::EngineDefault,
        Some(path) => Seccomp::File(path.into()),
    };
    spec.grace_period = args.grace_period;
    spec.memory_bytes = args.memory_mib << 20;
    spec.pids_limit = args.pids_limit;
    spec.shm_bytes = args.shm_mib << 20;
    spec.wait_timeout = args.wait_timeout;
    spec.supervisor_args = args.supervisor_args;

    let docker = crate::hardened::connect(Duration::from_secs(120)).await?;
    match run_container(&docker, &spec).await {
        Ok(running) => {
            println!(
                "{} healthy, as {}, socket {}",
                running.name,
                running.user,
                running.socket.display()
            );
            Ok(0)
        }
        Err(e) if e.is_engine() => Err(e.into()),
        Err(e) => {
            eprintln!("error: {:#}", anyhow::Error::from(e));
            Ok(1)
        }
    }
}
