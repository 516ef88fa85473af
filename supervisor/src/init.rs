//! Running as PID 1, the entry point of a container.
//!
//! PID 1 inherits every orphan in its PID namespace (Chrome's renderers and zygotes when
//! Chrome dies) and must reap them, or they stay as zombies. A global `waitpid(-1)` loop in
//! the server would also reap the children tokio is waiting for and break its process
//! handling, so instead PID 1 forks: the child runs the server as before, and the parent
//! stays a tiny reaper that forwards SIGTERM and SIGINT to it and exits with its status.
//! The kernel also ignores signals with default action sent to PID 1, so the forwarding is
//! what makes `docker stop` work.

use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, getpid};

use crate::privileges::{self, Account};

/// When this process is PID 1, forks and turns the parent into the reaper, which never
/// returns. The child (and any process that is not PID 1) returns and runs the server.
/// `account` is the user the server will drop to; the reaper drops to it as well, so
/// nothing stays root.
pub fn become_reaper_if_pid1(account: Option<&Account>) -> anyhow::Result<()> {
    if getpid().as_raw() != 1 {
        return Ok(());
    }
    // Block the signals the reaper waits for before forking, so none is lost in between;
    // the child restores the mask at once.
    let mut signals = SigSet::empty();
    for signal in [Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGINT] {
        signals.add(signal);
    }
    let mut previous = SigSet::empty();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&signals), Some(&mut previous))?;

    // SAFETY: called at start-up before any thread exists, so the child is a complete copy
    // of a single-threaded process and may run arbitrary code.
    match unsafe { fork() }? {
        ForkResult::Child => {
            sigprocmask(SigmaskHow::SIG_SETMASK, Some(&previous), None)?;
            Ok(())
        }
        ForkResult::Parent { child } => {
            if let Some(account) = account {
                privileges::drop_to(account)?;
            }
            reap(child, &signals)
        }
    }
}

fn reap(server: Pid, signals: &SigSet) -> ! {
    loop {
        match signals.wait() {
            Ok(Signal::SIGTERM) => {
                let _ = kill(server, Signal::SIGTERM);
            }
            Ok(Signal::SIGINT) => {
                let _ = kill(server, Signal::SIGINT);
            }
            _ => {}
        }
        // Reap everything that has exited: the server, and any orphan handed to PID 1.
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == server => finish(code),
                Ok(WaitStatus::Signaled(pid, signal, _)) if pid == server => {
                    finish(128 + signal as i32)
                }
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    }
}

/// Exits with the server's status once the remaining orphans are reaped.
fn finish(code: i32) -> ! {
    while let Ok(status) = waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            break;
        }
    }
    std::process::exit(code)
}
