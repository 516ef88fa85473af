//! The CI gate: which findings are accepted, which fail, and the exit code.
//!
//! Each finding gets exactly one disposition, decided in this order:
//! 1. a valid (unexpired) allow-list entry matches: accepted, with the entry's reason;
//! 2. its severity is known and below `--fail-on`: below the threshold;
//! 3. `--only-fixed` is set and no fix can be installed yet: waiting for a fix;
//! 4. Debian decided not to fix it (`unimportant`, no-DSA, postponed, ignored) and that
//!    decision is named in `--accept-debian`: accepted, with Debian's note;
//! 5. its severity is unknown and the policy does not count unknown as failing: set aside;
//! 6. otherwise it fails the gate.
//!
//! Besides failing findings, an expired allow-list entry fails the gate by itself: a decision
//! with an end date must be reviewed again, whether or not the vulnerability is still there.
//! Entries that match nothing are reported as stale, and entries that accept a vulnerability
//! that now has an installable fix are flagged; neither changes the exit code.

use chrono::NaiveDate;
use serde::Serialize;

use super::Severity;
use super::allowlist::{AllowEntry, AllowList};
use super::matcher::{DebianDecision, Finding};

/// Exit code: the gate passed.
pub const EXIT_PASS: u8 = 0;
/// Exit code: findings nobody accepted, or expired allow-list entries.
pub const EXIT_FAIL: u8 = 1;
/// Exit code: the scan itself could not be trusted.
pub const EXIT_ERROR: u8 = 2;

#[derive(Debug, Clone, Serialize)]
pub struct Policy {
    pub fail_on: Severity,
    pub only_fixed: bool,
    pub accept_debian: Vec<DebianDecision>,
    /// Whether a finding nobody has rated fails the gate (the default).
    pub unknown_fails: bool,
    /// The day allow-list expiry is judged against.
    pub today: NaiveDate,
}

impl Policy {
    pub fn new(today: NaiveDate) -> Policy {
        Policy {
            fail_on: Severity::High,
            only_fixed: false,
            accept_debian: Vec::new(),
            unknown_fails: true,
            today,
        }
    }
}

/// What the gate decided about one finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Disposition {
    Failing,
    Accepted {
        /// `allow-list entry 3` or `debian no-dsa`.
        by: String,
        reason: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        expires: Option<NaiveDate>,
    },
    BelowThreshold,
    NoFixAvailable,
    UnknownSetAside,
}

impl Disposition {
    pub fn label(&self) -> &'static str {
        match self {
            Disposition::Failing => "FAIL",
            Disposition::Accepted { .. } => "accepted",
            Disposition::BelowThreshold => "below threshold",
            Disposition::NoFixAvailable => "no fix yet",
            Disposition::UnknownSetAside => "unrated, passes",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Judged {
    #[serde(flatten)]
    pub finding: Finding,
    pub disposition: Disposition,
    /// An expired allow-list entry that would otherwise have accepted this finding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expired_entry: Option<usize>,
}

/// An allow-list entry accepting a vulnerability whose fix can now be installed.
#[derive(Debug, Clone, Serialize)]
pub struct FixableEntry {
    pub entry: AllowEntry,
    /// `package version -> fixed version` for each such finding.
    pub fixes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub findings: Vec<Judged>,
    pub expired: Vec<AllowEntry>,
    pub stale: Vec<AllowEntry>,
    pub fixable: Vec<FixableEntry>,
    pub failing: usize,
    pub accepted: usize,
    pub exit_code: u8,
    pub summary: String,
}

/// Judges every finding and the allow-list itself.
pub fn judge(findings: Vec<Finding>, allow: &AllowList, policy: &Policy) -> Verdict {
    let valid: Vec<&AllowEntry> = allow
        .entries
        .iter()
        .filter(|e| !e.expired(policy.today))
        .collect();
    let mut used = vec![false; allow.entries.len()];
    let mut fixes: Vec<Vec<String>> = vec![Vec::new(); allow.entries.len()];
    let mut judged = Vec::with_capacity(findings.len());
    for finding in findings {
        for entry in &allow.entries {
            if entry.matches(&finding) {
                used[entry.number - 1] = true;
            }
        }
        let entry = valid.iter().find(|e| e.matches(&finding));
        let expired_entry = allow
            .entries
            .iter()
            .find(|e| e.expired(policy.today) && e.matches(&finding))
            .map(|e| e.number)
            .filter(|_| entry.is_none());
        let debian = finding
            .debian
            .as_ref()
            .and_then(|d| d.decision)
            .filter(|d| policy.accept_debian.contains(d));
        let disposition = if let Some(entry) = entry {
            if finding.fix_available {
                let fixed = finding.fixed_version.as_deref().unwrap_or("?");
                fixes[entry.number - 1].push(format!(
                    "{} {} -> {fixed}",
                    finding.package.name, finding.package.version
                ));
            }
            Disposition::Accepted {
                by: format!("allow-list entry {}", entry.number),
                reason: entry.reason.clone(),
                expires: Some(entry.expires),
            }
        } else if finding.severity != Severity::Unknown && finding.severity < policy.fail_on {
            Disposition::BelowThreshold
        } else if policy.only_fixed && !finding.fix_available {
            Disposition::NoFixAvailable
        } else if let Some(decision) = debian {
            let note = finding.debian.as_ref().and_then(|d| d.nodsa.clone());
            let reason = match (decision, note) {
                (DebianDecision::Unimportant, _) => "Debian rates it unimportant".to_string(),
                (_, Some(note)) if !note.is_empty() => format!("Debian: {note}"),
                (d, _) => format!("Debian decided {}", d.as_str()),
            };
            Disposition::Accepted {
                by: format!("debian {}", decision.as_str()),
                reason,
                expires: None,
            }
        } else if finding.severity == Severity::Unknown && !policy.unknown_fails {
            Disposition::UnknownSetAside
        } else {
            Disposition::Failing
        };
        judged.push(Judged {
            finding,
            disposition,
            expired_entry,
        });
    }
    let expired: Vec<AllowEntry> = allow
        .entries
        .iter()
        .filter(|e| e.expired(policy.today))
        .cloned()
        .collect();
    let stale = allow
        .entries
        .iter()
        .filter(|e| !e.expired(policy.today) && !used[e.number - 1])
        .cloned()
        .collect();
    let fixable = allow
        .entries
        .iter()
        .filter(|e| !fixes[e.number - 1].is_empty())
        .map(|e| FixableEntry {
            entry: e.clone(),
            fixes: fixes[e.number - 1].clone(),
        })
        .collect();
    let failing = judged
        .iter()
        .filter(|j| j.disposition == Disposition::Failing)
        .count();
    let accepted = judged
        .iter()
        .filter(|j| matches!(j.disposition, Disposition::Accepted { .. }))
        .count();
    let exit_code = if failing > 0 || !expired.is_empty() {
        EXIT_FAIL
    } else {
        EXIT_PASS
    };
    let summary = summary(failing, accepted, judged.len(), &expired, policy);
    Verdict {
        findings: judged,
        expired,
        stale,
        fixable,
        failing,
        accepted,
        exit_code,
        summary,
    }
}

fn summary(
    failing: usize,
    accepted: usize,
    total: usize,
    expired: &[AllowEntry],
    policy: &Policy,
) -> String {
    let mut problems = Vec::new();
    if failing > 0 {
        problems.push(format!(
            "{failing} finding{} at or above {} not accepted",
            if failing == 1 { "" } else { "s" },
            policy.fail_on
        ));
    }
    if !expired.is_empty() {
        let names: Vec<String> = expired
            .iter()
            .map(|e| format!("{} (entry {}, expired {})", e.id, e.number, e.expires))
            .collect();
        problems.push(format!("expired allow-list entries: {}", names.join(", ")));
    }
    let counts = format!("{total} findings, {accepted} accepted");
    if problems.is_empty() {
        format!(
            "PASS: nothing at or above {} left unaccepted ({counts})",
            policy.fail_on
        )
    } else {
        format!("FAIL: {} ({counts})", problems.join("; "))
    }
}
