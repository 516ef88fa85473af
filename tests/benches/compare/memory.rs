//! Memory of a system's processes, read from `/proc`.
//!
//! A system is the process the bench started and every process below it. Its Chrome is the
//! part of that tree whose command name starts with `chrom` (`chromium` for the browser,
//! zygotes, renderers and utilities, `chrome_crashpad` for the crash handler); the rest is
//! the system's own code (render-supervisor; the floor; Python and Playwright's Node.js
//! driver). Chrome's crash handler detaches from the tree and is not counted for any system.
//!
//! Chrome's total is a sum of resident set sizes, which counts pages shared between its
//! processes once per process, so it overstates the memory actually in use; it does so
//! alike for every system, which all run the same binary.

use std::collections::HashMap;
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How often Chrome's memory is sampled while a batch runs.
const SAMPLE_EVERY: Duration = Duration::from_millis(200);

#[derive(Debug, Clone)]
struct Process {
    pid: i32,
    ppid: i32,
    comm: String,
}

fn processes() -> Vec<Process> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<i32>().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // The command name is in parentheses and may itself contain spaces or ')'.
            let (head, rest) = stat.rsplit_once(") ")?;
            let comm = head.split_once(" (")?.1.to_owned();
            let ppid = rest.split_whitespace().nth(1)?.parse().ok()?;
            Some(Process { pid, ppid, comm })
        })
        .collect()
}

/// `root` and every process below it.
fn tree(root: i32) -> Vec<Process> {
    let all = processes();
    let mut children: HashMap<i32, Vec<&Process>> = HashMap::new();
    for process in &all {
        children.entry(process.ppid).or_default().push(process);
    }
    let mut found: Vec<Process> = all.iter().filter(|p| p.pid == root).cloned().collect();
    let mut next = 0;
    while next < found.len() {
        let pid = found[next].pid;
        if let Some(below) = children.get(&pid) {
            found.extend(below.iter().map(|p| (*p).clone()));
        }
        next += 1;
    }
    found
}

fn is_chrome(process: &Process) -> bool {
    process.comm.starts_with("chrom")
}

/// A field of `/proc/PID/status` given in kB.
fn status_kib(pid: i32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
}

/// Sum of the resident set sizes of the Chrome processes below `root`, in KiB.
pub fn chrome_rss_kib(root: i32) -> u64 {
    tree(root)
        .iter()
        .filter(|p| is_chrome(p))
        .filter_map(|p| status_kib(p.pid, "VmRSS"))
        .sum()
}

/// Peak resident set size (VmHWM) of the system's own processes, in KiB: for
/// render-supervisor the daemon alone. Where there are several (Python and Node.js), their
/// peaks are added, which may exceed the peak of their sum.
pub fn own_peak_kib(root: i32) -> u64 {
    tree(root)
        .iter()
        .filter(|p| !is_chrome(p))
        .filter_map(|p| status_kib(p.pid, "VmHWM"))
        .sum()
}

/// SIGKILLs `root` and everything below it, children first.
pub fn kill_tree(root: i32) {
    for process in tree(root).iter().rev() {
        let _ = kill(Pid::from_raw(process.pid), Signal::SIGKILL);
    }
}

/// SIGKILLs every process whose command line names `dir`: what a system started that left
/// its tree, such as Chrome's crash handler, which detaches and names its database there.
pub fn kill_naming(dir: &std::path::Path) {
    let needle = dir.as_os_str().as_encoded_bytes();
    for process in processes() {
        let Ok(cmdline) = std::fs::read(format!("/proc/{}/cmdline", process.pid)) else {
            continue;
        };
        if cmdline.windows(needle.len()).any(|w| w == needle) {
            let _ = kill(Pid::from_raw(process.pid), Signal::SIGKILL);
        }
    }
}

/// Samples Chrome's memory below `root` until stopped.
#[derive(Debug)]
pub struct Sampler {
    stop: mpsc::Sender<()>,
    task: tokio::task::JoinHandle<Vec<u64>>,
}

/// Peak and mean of the samples, in KiB.
#[derive(Debug, Clone, Copy)]
pub struct Sampled {
    pub peak_kib: u64,
    pub mean_kib: u64,
}

impl Sampler {
    pub fn start(root: i32) -> Sampler {
        let (stop, stopped) = mpsc::channel();
        let task = tokio::task::spawn_blocking(move || {
            let mut samples = vec![chrome_rss_kib(root)];
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(SAMPLE_EVERY) {
                samples.push(chrome_rss_kib(root));
            }
            samples.push(chrome_rss_kib(root));
            samples
        });
        Sampler { stop, task }
    }

    pub async fn finish(self) -> Sampled {
        drop(self.stop);
        let samples = self.task.await.unwrap_or_default();
        let peak_kib = samples.iter().copied().max().unwrap_or(0);
        let mean_kib = samples.iter().sum::<u64>() / samples.len().max(1) as u64;
        Sampled { peak_kib, mean_kib }
    }
}
