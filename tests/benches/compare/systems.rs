//! The systems under comparison, each started as its own process on the same Chromium, as
//! the same unprivileged user, with Chrome's sandbox on, and driven one batch at a time.
//!
//! render-supervisor is started as root and drops to the user itself, as in production; the
//! bench is its client over the Unix socket. The floor and the Playwright program are
//! started directly as the user and answer batches on standard input and output (the
//! protocol is described at the top of `cdp_floor.rs` and `playwright_bench.py`); they time
//! their own jobs, since in those designs the caller is the process that holds the browser.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::Deserialize;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::memory;
use crate::pages::Workload;
use render_tests::WebServer;

/// How long a system may take to start, and to answer one batch.
const START_LIMIT: Duration = Duration::from_secs(60);
const BATCH_LIMIT: Duration = Duration::from_secs(1800);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    /// render-supervisor as shipped: its egress proxy filters every request of a page.
    Supervisor,
    /// render-supervisor with `--no-egress-proxy`: what the policy costs is the difference.
    SupervisorNoProxy,
    /// chromiumoxide driving Chromium directly: the floor.
    CdpFloor,
    /// Playwright for Python.
    Playwright,
}

impl System {
    pub const ALL: [System; 4] = [
        System::Supervisor,
        System::SupervisorNoProxy,
        System::CdpFloor,
        System::Playwright,
    ];

    pub fn name(self) -> &'static str {
        match self {
            System::Supervisor => "render-supervisor",
            System::SupervisorNoProxy => "supervisor-no-proxy",
            System::CdpFloor => "cdp-floor",
            System::Playwright => "playwright-python",
        }
    }

    pub fn from_name(name: &str) -> Option<System> {
        System::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether this is render-supervisor, driven over its socket.
    fn is_supervisor(self) -> bool {
        matches!(self, System::Supervisor | System::SupervisorNoProxy)
    }
}

/// The account every browser runs as, when the bench runs as root.
#[derive(Debug, Clone)]
pub struct RunAs {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// What every system is started with.
#[derive(Debug)]
pub struct Setup {
    pub chrome: PathBuf,
    pub python: PathBuf,
    pub supervisor: PathBuf,
    pub floor: PathBuf,
    pub playwright_script: PathBuf,
    /// Highest concurrency measured: render-supervisor may render that many jobs at once.
    pub max_concurrency: usize,
    pub run_as: Option<RunAs>,
    pub server: WebServer,
}

/// One finished job: its latency as the caller saw it, and its size or what went wrong.
#[derive(Debug, Clone, Deserialize)]
pub struct JobOutcome {
    pub ms: f64,
    #[serde(default)]
    pub bytes: Option<usize>,
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct BatchOutcome {
    pub results: Vec<JobOutcome>,
    pub wall_ms: f64,
}

/// A running system.
#[derive(Debug)]
pub struct Instance {
    pub system: System,
    child: Child,
    /// A directory of its own, owned by the user it runs as: profile, temporary files,
    /// saved outputs, log.
    pub dir: PathBuf,
    driver: Driver,
    server: WebServer,
}

#[derive(Debug)]
enum Driver {
    Socket(PathBuf),
    Pipes {
        stdin: Option<ChildStdin>,
        stdout: Lines<BufReader<ChildStdout>>,
    },
}

impl Instance {
    /// Starts `system`. For render-supervisor this returns once its socket accepts
    /// connections (a job sent then waits for Chrome); the others read their first batch
    /// as soon as their browser is up.
    pub async fn start(system: System, setup: &Setup) -> Result<Instance, String> {
        let dir = render_tests::temp_dir(&format!("cmp-{}", system.name()));
        if let Some(user) = &setup.run_as {
            let owner = Some(nix::unistd::Uid::from_raw(user.uid));
            let group = Some(nix::unistd::Gid::from_raw(user.gid));
            nix::unistd::chown(&dir, owner, group).map_err(|e| format!("chown: {e}"))?;
        }
        let log = std::fs::File::create(dir.join("stderr.log")).map_err(|e| e.to_string())?;
        let mut command = match system {
            System::Supervisor => supervisor_command(setup, &dir),
            System::SupervisorNoProxy => {
                let mut command = supervisor_command(setup, &dir);
                command.arg("--no-egress-proxy");
                command
            }
            System::CdpFloor => {
                let mut command = Command::new(&setup.floor);
                command.arg(&setup.chrome);
                command
            }
            System::Playwright => {
                let mut command = Command::new(&setup.python);
                command
                    .arg(&setup.playwright_script)
                    .arg("--chrome")
                    .arg(&setup.chrome);
                command
            }
        };
        if !system.is_supervisor() {
            // A clean environment with a home of its own, as the user.
            command
                .env_clear()
                .env("PATH", "/usr/local/bin:/usr/bin:/bin")
                .env("HOME", &dir)
                .env("TMPDIR", &dir)
                .env("LANG", "C.UTF-8")
                .env("PYTHONDONTWRITEBYTECODE", "1");
            if let Some(user) = &setup.run_as {
                command.uid(user.uid).gid(user.gid);
            }
        }
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true);
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                let program = command
                    .as_std()
                    .get_program()
                    .to_string_lossy()
                    .into_owned();
                return Err(format!(
                    "starting {} ({program}): {e}; scripts/setup.sh installs what it needs",
                    system.name()
                ));
            }
        };
        let driver = if system.is_supervisor() {
            Driver::Socket(dir.join("sock").join("render.sock"))
        } else {
            Driver::Pipes {
                stdin: child.stdin.take(),
                stdout: BufReader::new(child.stdout.take().expect("piped")).lines(),
            }
        };
        let instance = Instance {
            system,
            child,
            dir,
            driver,
            server: setup.server.clone(),
        };
        if let Driver::Socket(socket) = &instance.driver {
            instance.wait_for_socket(socket).await?;
        }
        Ok(instance)
    }

    pub fn pid(&self) -> i32 {
        self.child.id().map_or(0, |id| id as i32)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    async fn wait_for_socket(&self, socket: &Path) -> Result<(), String> {
        let started = Instant::now();
        while tokio::net::UnixStream::connect(socket).await.is_err() {
            if started.elapsed() > START_LIMIT {
                return Err(format!("no socket within {START_LIMIT:?}:\n{}", self.log()));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }

    /// Runs `jobs` jobs of `workload`, `concurrency` at a time; `save` receives the first
    /// job's output.
    pub async fn batch(
        &mut self,
        workload: Workload,
        jobs: usize,
        concurrency: usize,
        save: Option<&Path>,
    ) -> Result<BatchOutcome, String> {
        let server = self.server.clone();
        let run = async {
            match &mut self.driver {
                Driver::Socket(socket) => {
                    supervisor_batch(socket, workload, &server, jobs, concurrency, save).await
                }
                Driver::Pipes { stdin, stdout } => {
                    let batch = json!({
                        "job": workload.spec(&server),
                        "jobs": jobs,
                        "concurrency": concurrency,
                        "save": save,
                    });
                    let stdin = stdin.as_mut().ok_or("input already closed")?;
                    let line = format!("{batch}\n");
                    stdin
                        .write_all(line.as_bytes())
                        .await
                        .map_err(|e| e.to_string())?;
                    stdin.flush().await.map_err(|e| e.to_string())?;
                    let answer = stdout
                        .next_line()
                        .await
                        .map_err(|e| e.to_string())?
                        .ok_or("the program exited")?;
                    serde_json::from_str(&answer).map_err(|e| format!("{e}: {answer}"))
                }
            }
        };
        match tokio::time::timeout(BATCH_LIMIT, run).await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(error)) => Err(format!("{}: {error}\n{}", self.system.name(), self.log())),
            Err(_) => Err(format!(
                "{}: batch took over {BATCH_LIMIT:?}",
                self.system.name()
            )),
        }
    }

    /// Asks the system to stop and waits for it; kills whatever is left of its process
    /// tree after a grace period.
    pub async fn stop(mut self) {
        match &mut self.driver {
            Driver::Socket(_) => {
                let _ = kill(Pid::from_raw(self.pid()), Signal::SIGTERM);
            }
            Driver::Pipes { stdin, .. } => drop(stdin.take()),
        }
        let exited = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await;
        if exited.is_err() {
            memory::kill_tree(self.pid());
            let _ = self.child.wait().await;
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            memory::kill_tree(self.pid());
        }
        memory::kill_naming(&self.dir);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn supervisor_command(setup: &Setup, dir: &Path) -> Command {
    let mut command = Command::new(&setup.supervisor);
    command
        .arg("serve")
        .arg("--socket")
        .arg(dir.join("sock").join("render.sock"))
        .arg("--chrome")
        .arg(&setup.chrome)
        // The pages are on loopback, which only --allow-private reaches.
        .arg("--allow-private")
        .arg(setup.server.origin())
        .arg("--max-concurrency")
        .arg(setup.max_concurrency.to_string());
    if let Some(user) = &setup.run_as {
        command
            .arg("--user")
            .arg(&user.name)
            .arg("--allowed-uid")
            .arg("0");
    }
    // Its default log filter, as shipped.
    command.env_remove("RUST_LOG");
    command
}

async fn supervisor_batch(
    socket: &Path,
    workload: Workload,
    server: &WebServer,
    jobs: usize,
    concurrency: usize,
    save: Option<&Path>,
) -> Result<BatchOutcome, String> {
    let endpoint = if workload.is_pdf() {
        "/v1/pdf"
    } else {
        "/v1/screenshot"
    };
    let body = Arc::new(workload.supervisor_job(server).to_string());
    let next = Arc::new(AtomicUsize::new(0));
    let save = save.map(Path::to_path_buf);
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (socket, body, next, save) = (
            socket.to_path_buf(),
            body.clone(),
            next.clone(),
            save.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut results = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= jobs {
                    return results;
                }
                let job_started = Instant::now();
                let answer =
                    render_tests::request(&socket, "POST", endpoint, Some(body.as_bytes()), &[])
                        .await;
                let ms = job_started.elapsed().as_secs_f64() * 1000.0;
                results.push(match answer {
                    Ok(answer) if answer.status == 200 => {
                        if index == 0
                            && let Some(path) = &save
                        {
                            let _ = std::fs::write(path, &answer.body);
                        }
                        JobOutcome {
                            ms,
                            bytes: Some(answer.body.len()),
                            error: None,
                        }
                    }
                    Ok(answer) => JobOutcome {
                        ms,
                        bytes: None,
                        error: Some(format!(
                            "{} {}",
                            answer.status,
                            String::from_utf8_lossy(&answer.body)
                        )),
                    },
                    Err(error) => JobOutcome {
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
        results.extend(worker.await.map_err(|e| e.to_string())?);
    }
    let wall_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(BatchOutcome { results, wall_ms })
}

/// Checks that a system's output is what the workload asks for, so that no system is
/// measured doing less than the others.
pub fn verify(system: System, workload: Workload, path: &Path) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| {
        format!(
            "{}: no output saved for {}: {e}",
            system.name(),
            workload.name()
        )
    })?;
    let problem = if workload.is_pdf() {
        if !bytes.starts_with(b"%PDF-") {
            Some("not a PDF".to_owned())
        } else {
            let (pages, _, _) = render_tests::pdf_pages(&bytes);
            (pages != workload.expected_pages())
                .then(|| format!("{pages} pages, not {}", workload.expected_pages()))
        }
    } else {
        match image::load_from_memory_with_format(&bytes, image::ImageFormat::Png) {
            // One pixel more is a rounding choice: Playwright rounds a box at a fractional
            // position outwards.
            Ok(image)
                if (image.width().abs_diff(crate::CHART_PNG_SIZE.0) <= 1)
                    && (image.height().abs_diff(crate::CHART_PNG_SIZE.1) <= 1) =>
            {
                None
            }
            Ok(image) => Some(format!("a {}x{} image", image.width(), image.height())),
            Err(e) => Some(format!("not a PNG: {e}")),
        }
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(format!(
            "{} rendered {} wrongly: {problem}",
            system.name(),
            workload.name()
        )),
    }
}

/// Where a system saves a workload's output for [`verify`]: in its own directory, which
/// the user it runs as may write.
pub fn save_path(instance: &Instance, workload: Workload) -> PathBuf {
    instance.dir.join(format!("{}.out", workload.name()))
}
