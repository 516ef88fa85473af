//! Vulnerability matching on top of an image inventory.
//!
//! The pipeline has four stages, one module each, and the types say which stage data is in:
//!
//! 1. [`db`] keeps the feeds on disk: one normalised file per feed plus a record of when it
//!    was fetched or imported. Downloads are conditional, replace files atomically and keep
//!    the old data when anything fails; a lock keeps an update and a scan apart.
//! 2. [`feeds`] parses each feed into records: the Debian Security Tracker, OSV for npm and
//!    crates.io, and the Node.js runtime advisories.
//! 3. [`matcher`] turns inventory packages plus records into [`matcher::Finding`]s.
//! 4. [`allowlist`] and [`gate`] decide which findings are accepted, and why, and what the
//!    exit code is; [`report`] renders the outcome, [`compare`] sets it beside another
//!    scanner's report.

pub mod allowlist;
pub mod compare;
pub mod db;
pub mod feeds;
pub mod gate;
pub mod matcher;
pub mod report;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How bad a finding is. The order is the gate's order; `Unknown` sits apart from it and
/// the policy decides whether it fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Debian's `unimportant`.
    Negligible,
    Low,
    Medium,
    High,
    Critical,
    /// No urgency, no score: nobody has rated it yet.
    Unknown,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Negligible => "negligible",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
            Severity::Unknown => "unknown",
        }
    }

    /// Reads a rating as the feeds and other scanners spell it (`MODERATE`, `unimportant`,
    /// `high**`); anything else is unknown.
    pub fn from_label(label: &str) -> Severity {
        let label = label.trim().trim_end_matches('*').to_ascii_lowercase();
        match label.as_str() {
            "negligible" | "unimportant" | "none" | "info" | "informational" => {
                Severity::Negligible
            }
            "low" => Severity::Low,
            "medium" | "moderate" => Severity::Medium,
            "high" | "important" => Severity::High,
            "critical" => Severity::Critical,
            _ => Severity::Unknown,
        }
    }

    /// Severity from a CVSS vector, using its base score.
    pub fn from_cvss(vector: &str) -> Option<(Severity, f64)> {
        let cvss = cvss::Cvss::from_str(vector.trim()).ok()?;
        let severity = match cvss.severity() {
            cvss::Severity::None => Severity::Negligible,
            cvss::Severity::Low => Severity::Low,
            cvss::Severity::Medium => Severity::Medium,
            cvss::Severity::High => Severity::High,
            cvss::Severity::Critical => Severity::Critical,
        };
        Some((severity, cvss.score()))
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A threshold the user named on the command line; `unknown` is not a threshold.
impl FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match Severity::from_label(s) {
            Severity::Unknown => Err(format!(
                "unknown severity {s:?}: use negligible (or unimportant), low, medium, high or \
                 critical"
            )),
            known => Ok(known),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_labels_from_every_source() {
        assert_eq!(Severity::from_label("unimportant"), Severity::Negligible);
        assert_eq!(Severity::from_label("high**"), Severity::High);
        assert_eq!(Severity::from_label("MODERATE"), Severity::Medium);
        assert_eq!(Severity::from_label("not yet assigned"), Severity::Unknown);
        assert_eq!(Severity::from_label("end-of-life"), Severity::Unknown);
        assert!("negligible".parse::<Severity>().is_ok());
        assert!("unknown".parse::<Severity>().is_err());
    }

    #[test]
    fn rates_cvss_vectors_by_base_score() {
        let (s, score) = Severity::from_cvss("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
            .expect("valid vector");
        assert_eq!(s, Severity::Critical);
        assert!((score - 9.8).abs() < 0.01);
        assert!(Severity::from_cvss("not a vector").is_none());
    }

    #[test]
    fn orders_severities_for_the_gate() {
        assert!(Severity::Negligible < Severity::Low);
        assert!(Severity::High < Severity::Critical);
    }
}
