//! The comparison benchmark: render-supervisor as shipped and with its egress proxy off,
//! beside a minimal chromiumoxide program (the floor) and Playwright for Python, on the same
//! Chromium, as the same unprivileged user, with Chrome's sandbox on, in the same run.
//!
//! ```sh
//! cargo bench -p render-tests --bench compare
//! ```
//!
//! Run it as root, as CI does: render-supervisor then drops to `render-test` itself and the
//! others are started as that user. Run as anyone else, everything runs as that user. The
//! Playwright side needs the virtual environment `scripts/setup.sh` makes.
//!
//! The run, with every system's batches interleaved (A B C D A B C D ...):
//!
//! 1. Cold start, once per round and system: a fresh process, timed from its start to the
//!    first small PDF in hand, then stopped. Each round starts with the next system
//!    (A B C D, B C D A, ...).
//! 2. One warm instance of each system; a few unrecorded jobs of every workload, the first
//!    of which is saved and checked (page count, image size), so that every system is seen
//!    to do the same work.
//! 3. For each round, workload and concurrency: a batch of jobs on every system in turn,
//!    each job's latency and the batch's throughput recorded, Chrome's memory sampled
//!    while it runs; the systems' own peak memory at the end of each round.
//!
//! Settings, from the environment:
//!
//! | variable            | default                             | meaning                     |
//! |---------------------|-------------------------------------|-----------------------------|
//! | `BENCH_ROUNDS`      | 3                                   | rounds                      |
//! | `BENCH_JOBS`        | 20                                  | jobs per batch              |
//! | `BENCH_WARMUP`      | 3                                   | unrecorded jobs per workload|
//! | `BENCH_CONCURRENCY` | `1,2,4`                             | jobs in flight per batch    |
//! | `BENCH_SYSTEMS`     | all                                 | names, comma-separated      |
//! | `BENCH_WORKLOADS`   | all                                 | names, comma-separated      |
//! | `BENCH_OUT`         | `benchmarks/compare.csv`            | the CSV, from the workspace |
//! | `BENCH_CHROME`      | `/usr/lib/chromium/chromium`        | the browser all systems use |
//! | `BENCH_PYTHON`      | `/opt/render-bench/venv/bin/python` | Python with Playwright      |
//! | `BENCH_USER`        | `render-test`                       | the user, when run as root  |
//!
//! A quick check that everything works:
//! `BENCH_ROUNDS=1 BENCH_JOBS=2 BENCH_WARMUP=1 cargo bench -p render-tests --bench compare`.

mod memory;
mod pages;
mod report;
mod systems;

use std::path::{Path, PathBuf};
use std::time::Instant;

use pages::Workload;
use report::Row;
use systems::{Instance, RunAs, Setup, System};

/// The report chart's element, 640 × 320 CSS pixels with a 1-pixel border, at scale 1.
pub const CHART_PNG_SIZE: (u32, u32) = (642, 322);

const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

#[derive(Debug)]
struct Config {
    rounds: usize,
    jobs: usize,
    warmup: usize,
    concurrency: Vec<usize>,
    systems: Vec<System>,
    workloads: Vec<Workload>,
    out: PathBuf,
    chrome: PathBuf,
    python: PathBuf,
    user: String,
}

impl Config {
    fn from_env() -> Result<Config, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let number = |name: &str, default: usize| -> Result<usize, String> {
            var(name).map_or(Ok(default), |v| {
                v.trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(format!("{name}={v}: expected a number above 0"))
            })
        };
        let list = |name: &str, default: &str| -> Vec<String> {
            var(name)
                .unwrap_or_else(|| default.to_owned())
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        };
        let concurrency = list("BENCH_CONCURRENCY", "1,2,4")
            .iter()
            .map(|c| c.parse().ok().filter(|c| *c > 0))
            .collect::<Option<Vec<usize>>>()
            .ok_or("BENCH_CONCURRENCY: expected numbers above 0, comma-separated")?;
        let all_systems: Vec<&str> = System::ALL.iter().map(|s| s.name()).collect();
        let systems = list("BENCH_SYSTEMS", &all_systems.join(","))
            .iter()
            .map(|name| {
                System::from_name(name).ok_or(format!(
                    "BENCH_SYSTEMS: no system {name} (there are {})",
                    all_systems.join(", ")
                ))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let all_workloads: Vec<&str> = Workload::ALL.iter().map(|w| w.name()).collect();
        let workloads = list("BENCH_WORKLOADS", &all_workloads.join(","))
            .iter()
            .map(|name| {
                Workload::from_name(name).ok_or(format!(
                    "BENCH_WORKLOADS: no workload {name} (there are {})",
                    all_workloads.join(", ")
                ))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = var("BENCH_OUT").map_or_else(
            || Path::new(WORKSPACE).join("benchmarks/compare.csv"),
            |p| Path::new(WORKSPACE).join(p),
        );
        Ok(Config {
            rounds: number("BENCH_ROUNDS", 3)?,
            jobs: number("BENCH_JOBS", 20)?,
            warmup: number("BENCH_WARMUP", 3)?,
            concurrency,
            systems,
            workloads,
            out,
            chrome: var("BENCH_CHROME")
                .unwrap_or_else(|| "/usr/lib/chromium/chromium".into())
                .into(),
            python: var("BENCH_PYTHON")
                .unwrap_or_else(|| "/opt/render-bench/venv/bin/python".into())
                .into(),
            user: var("BENCH_USER").unwrap_or_else(|| render_tests::TEST_USER.into()),
        })
    }
}

fn main() {
    // `cargo bench` passes --bench; anything else (`cargo test --all-targets`) only checks
    // that the harness builds, rather than starting a run of half an hour.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("compare: not run; start it with cargo bench -p render-tests --bench compare");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(error) = Config::from_env().and_then(|config| runtime.block_on(run(config))) {
        eprintln!("compare: {error}");
        std::process::exit(1);
    }
}

async fn run(config: Config) -> Result<(), String> {
    let started = Instant::now();
    let supervisor = build_supervisor()?;
    let run_as = if nix::unistd::geteuid().is_root() {
        let user = nix::unistd::User::from_name(&config.user)
            .map_err(|e| e.to_string())?
            .ok_or(format!(
                "no user {}: run scripts/setup.sh, or name one in BENCH_USER",
                config.user
            ))?;
        Some(RunAs {
            name: config.user.clone(),
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
        })
    } else {
        None
    };
    let setup = Setup {
        chrome: config.chrome.clone(),
        python: config.python.clone(),
        supervisor,
        floor: env!("CARGO_BIN_EXE_cdp-floor").into(),
        playwright_script: Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("benches/compare/playwright_bench.py"),
        max_concurrency: config.concurrency.iter().copied().max().unwrap_or(1),
        run_as,
        server: pages::serve().await,
    };
    let mut rows = Vec::new();

    eprintln!("cold starts");
    for round in 1..=config.rounds {
        // Each round starts with the next system: with a fixed order, a system's cold
        // start was seen to depend on its place in that order.
        for &system in rotated(&config.systems, round - 1) {
            let started = Instant::now();
            let mut instance = Instance::start(system, &setup).await?;
            let outcome = instance.batch(Workload::SmallPdf, 1, 1, None).await?;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            if let Some(error) = outcome.results.iter().find_map(|r| r.error.as_ref()) {
                return Err(format!("{}: first job failed: {error}", system.name()));
            }
            eprintln!("  round {round} {:<18} {ms:>8.0} ms", system.name());
            rows.push(Row {
                system: system.name(),
                workload: Workload::SmallPdf.name(),
                concurrency: Some(1),
                round,
                metric: report::COLD_START,
                value: ms,
                unit: "ms",
            });
            instance.stop().await;
        }
    }

    eprintln!("warm-up and checks");
    let mut instances = Vec::new();
    for &system in &config.systems {
        instances.push(Instance::start(system, &setup).await?);
    }
    for instance in &mut instances {
        for &workload in &config.workloads {
            let save = systems::save_path(instance, workload);
            let outcome = instance
                .batch(workload, config.warmup, 1, Some(&save))
                .await?;
            if let Some(error) = outcome.results.iter().find_map(|r| r.error.as_ref()) {
                return Err(format!(
                    "{}: {} failed in warm-up: {error}",
                    instance.system.name(),
                    workload.name()
                ));
            }
            systems::verify(instance.system, workload, &save)?;
        }
        eprintln!("  {} ok", instance.system.name());
    }

    for round in 1..=config.rounds {
        eprintln!("round {round} of {}", config.rounds);
        for &workload in &config.workloads {
            for &concurrency in &config.concurrency {
                for instance in &mut instances {
                    measure_batch(instance, workload, concurrency, round, &config, &mut rows)
                        .await?;
                }
            }
        }
        for instance in &instances {
            rows.push(Row {
                system: instance.system.name(),
                workload: "all",
                concurrency: None,
                round,
                metric: report::OWN_PEAK_RSS,
                value: memory::own_peak_kib(instance.pid()) as f64,
                unit: "KiB",
            });
        }
    }
    for instance in instances {
        instance.stop().await;
    }

    report::write_csv(&config.out, &rows)
        .map_err(|e| format!("writing {}: {e}", config.out.display()))?;
    let systems: Vec<&str> = config.systems.iter().map(|s| s.name()).collect();
    let workloads: Vec<&str> = config.workloads.iter().map(|w| w.name()).collect();
    let scope = report::Scope {
        systems: &systems,
        workloads: &workloads,
        concurrency: &config.concurrency,
        rounds: config.rounds,
    };
    println!("{}", report::summary(&rows, &scope));
    println!("{}", versions(&config));
    println!(
        "Rounds {}, jobs per batch {}, warm-up {}; raw data in {}; took {:.0} s.",
        config.rounds,
        config.jobs,
        config.warmup,
        config.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `items` starting at position `by`, wrapping round.
fn rotated<T>(items: &[T], by: usize) -> impl Iterator<Item = &T> {
    let by = by.checked_rem(items.len()).unwrap_or(0);
    items[by..].iter().chain(&items[..by])
}

async fn measure_batch(
    instance: &mut Instance,
    workload: Workload,
    concurrency: usize,
    round: usize,
    config: &Config,
    rows: &mut Vec<Row>,
) -> Result<(), String> {
    let system = instance.system.name();
    let sampler = memory::Sampler::start(instance.pid());
    let outcome = instance
        .batch(workload, config.jobs, concurrency, None)
        .await?;
    let memory = sampler.finish().await;
    let row = |metric, value, unit| Row {
        system,
        workload: workload.name(),
        concurrency: Some(concurrency),
        round,
        metric,
        value,
        unit,
    };
    let mut failed = 0;
    for result in &outcome.results {
        match &result.error {
            None => rows.push(row(report::LATENCY, result.ms, "ms")),
            Some(error) => {
                failed += 1;
                eprintln!("  {system} {}: job failed: {error}", workload.name());
            }
        }
    }
    let done = outcome.results.len() - failed;
    let throughput = done as f64 / (outcome.wall_ms / 1000.0);
    let bytes: usize = outcome.results.iter().filter_map(|r| r.bytes).sum();
    rows.push(row(report::THROUGHPUT, throughput, "jobs/s"));
    rows.push(row(report::FAILED, failed as f64, "jobs"));
    rows.push(row(
        report::OUTPUT_SIZE,
        bytes as f64 / done.max(1) as f64,
        "bytes",
    ));
    rows.push(row(report::CHROME_RSS_PEAK, memory.peak_kib as f64, "KiB"));
    rows.push(row(report::CHROME_RSS_MEAN, memory.mean_kib as f64, "KiB"));
    eprintln!(
        "  {:<16} c={concurrency} {system:<18} {throughput:>7.2} jobs/s",
        workload.name()
    );
    Ok(())
}

/// Builds render-supervisor's release binary beside this bench (the bench profile's
/// output directory), unless `RENDER_SUPERVISOR_BIN` names one.
fn build_supervisor() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("RENDER_SUPERVISOR_BIN") {
        return Ok(path.into());
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["build", "--release", "-p", "render-supervisor", "--bin"])
        .arg("render-supervisor")
        .current_dir(WORKSPACE)
        .status()
        .map_err(|e| format!("running cargo: {e}"))?;
    if !status.success() {
        return Err("building render-supervisor failed".into());
    }
    Ok(render_tests::supervisor_bin())
}

/// The versions of what was compared, for the record.
fn versions(config: &Config) -> String {
    let output = |program: &Path, args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_else(|| "unknown".to_owned())
    };
    let chrome = output(&config.chrome, &["--version"]);
    let script = "import importlib.metadata as m; print(m.version('playwright'))";
    let playwright = output(&config.python, &["-c", script]);
    format!(
        "{chrome}; render-supervisor {}; Playwright for Python {playwright}.",
        env!("CARGO_PKG_VERSION")
    )
}
