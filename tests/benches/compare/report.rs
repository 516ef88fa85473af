//! Raw measurements as CSV, and the summary printed at the end.

use std::fmt::Write as _;
use std::path::Path;

/// One measurement. `concurrency` is `None` for what belongs to no batch (a system's peak
/// memory over a round).
#[derive(Debug, Clone)]
pub struct Row {
    pub system: &'static str,
    pub workload: &'static str,
    pub concurrency: Option<usize>,
    pub round: usize,
    pub metric: &'static str,
    pub value: f64,
    pub unit: &'static str,
}

pub const LATENCY: &str = "latency";
pub const THROUGHPUT: &str = "throughput";
pub const FAILED: &str = "failed_jobs";
/// Mean size of a batch's outputs, to show that every system produced the same documents.
pub const OUTPUT_SIZE: &str = "output_size";
pub const COLD_START: &str = "cold_start";
pub const CHROME_RSS_PEAK: &str = "chrome_rss_peak";
pub const CHROME_RSS_MEAN: &str = "chrome_rss_mean";
pub const OWN_PEAK_RSS: &str = "own_peak_rss";

pub fn write_csv(path: &Path, rows: &[Row]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut text = String::from("system,workload,concurrency,round,metric,value,unit\n");
    for row in rows {
        let concurrency = row.concurrency.map(|c| c.to_string()).unwrap_or_default();
        let _ = writeln!(
            text,
            "{},{},{},{},{},{:.3},{}",
            row.system, row.workload, concurrency, row.round, row.metric, row.value, row.unit
        );
    }
    std::fs::write(path, text)
}

/// The nearest-rank percentile of `values` (not empty).
fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// "mean [min-max]" of one value per round.
fn spread(per_round: &[f64], digits: usize) -> String {
    if per_round.is_empty() {
        return "-".to_owned();
    }
    let mean = per_round.iter().sum::<f64>() / per_round.len() as f64;
    let min = per_round.iter().copied().fold(f64::INFINITY, f64::min);
    let max = per_round.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if per_round.len() == 1 {
        format!("{mean:.digits$}")
    } else {
        format!("{mean:.digits$} [{min:.digits$}-{max:.digits$}]")
    }
}

/// What the summary is about: the systems, workloads, concurrencies and rounds measured.
#[derive(Debug)]
pub struct Scope<'a> {
    pub systems: &'a [&'static str],
    pub workloads: &'a [&'static str],
    pub concurrency: &'a [usize],
    pub rounds: usize,
}

pub fn summary(rows: &[Row], scope: &Scope) -> String {
    let select = |system: &str, workload: &str, concurrency: Option<usize>, metric: &str| {
        rows.iter()
            .filter(move |r| {
                r.system == system
                    && (workload.is_empty() || r.workload == workload)
                    && (concurrency.is_none() || r.concurrency == concurrency)
                    && r.metric == metric
            })
            .collect::<Vec<_>>()
    };
    let per_round =
        |system: &str, workload: &str, concurrency, metric: &str, of: &dyn Fn(&[f64]) -> f64| {
            (1..=scope.rounds)
                .filter_map(|round| {
                    let values: Vec<f64> = select(system, workload, concurrency, metric)
                        .iter()
                        .filter(|r| r.round == round)
                        .map(|r| r.value)
                        .collect();
                    (!values.is_empty()).then(|| of(&values))
                })
                .collect::<Vec<f64>>()
        };
    let p50 = |v: &[f64]| percentile(v, 50.0);
    let p95 = |v: &[f64]| percentile(v, 95.0);
    let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;

    let mut out = String::new();
    let _ = writeln!(
        out,
        "Values are the mean over {} round(s), [min-max] of the rounds where there are \
         several.\n",
        scope.rounds
    );

    let _ = writeln!(
        out,
        "Latency at concurrency 1, ms (p50 and p95 of each round's jobs)\n"
    );
    let _ = writeln!(
        out,
        "| workload | system | p50 | p95 |\n| --- | --- | --- | --- |"
    );
    for workload in scope.workloads {
        for system in scope.systems {
            let _ = writeln!(
                out,
                "| {workload} | {system} | {} | {} |",
                spread(&per_round(system, workload, Some(1), LATENCY, &p50), 0),
                spread(&per_round(system, workload, Some(1), LATENCY, &p95), 0),
            );
        }
    }

    let _ = writeln!(out, "\nThroughput, jobs/s\n");
    let mut header = String::from("| workload | system |");
    let mut rule = String::from("| --- | --- |");
    for c in scope.concurrency {
        let _ = write!(header, " c={c} |");
        rule.push_str(" --- |");
    }
    let _ = writeln!(out, "{header}\n{rule}");
    for workload in scope.workloads {
        for system in scope.systems {
            let mut line = format!("| {workload} | {system} |");
            for c in scope.concurrency {
                let values = per_round(system, workload, Some(*c), THROUGHPUT, &mean);
                let _ = write!(line, " {} |", spread(&values, 2));
            }
            let _ = writeln!(out, "{line}");
        }
    }

    let _ = writeln!(
        out,
        "\nStart and memory: cold start is process start to the first PDF (small_pdf); own \
         peak is the\nsystem's own processes' VmHWM, Chrome's is the sum of RSS over its \
         processes, sampled during batches\n"
    );
    let _ = writeln!(
        out,
        "| system | cold start, ms | own peak RSS, MiB | Chrome RSS peak, MiB | \
         Chrome RSS mean, MiB | failed jobs |\n| --- | --- | --- | --- | --- | --- |"
    );
    for system in scope.systems {
        let mib = |values: Vec<f64>| values.into_iter().map(|v| v / 1024.0).collect::<Vec<_>>();
        let failed: f64 = select(system, "", None, FAILED)
            .iter()
            .map(|r| r.value)
            .sum();
        let _ = writeln!(
            out,
            "| {system} | {} | {} | {} | {} | {failed} |",
            spread(&per_round(system, "", None, COLD_START, &mean), 0),
            spread(&mib(per_round(system, "", None, OWN_PEAK_RSS, &max)), 0),
            spread(&mib(per_round(system, "", None, CHROME_RSS_PEAK, &max)), 0),
            spread(&mib(per_round(system, "", None, CHROME_RSS_MEAN, &mean)), 0),
        );
    }
    out
}
