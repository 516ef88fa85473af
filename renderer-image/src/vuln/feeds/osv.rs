//! OSV records for npm and crates.io (RustSec publishes its advisories as OSV).
//!
//! A record affects a package version when the version is listed in `versions`, or falls in
//! one of the `ranges`: walking the events in version order, `introduced` opens a range and
//! `fixed` (exclusive) or `last_affected` (inclusive) closes it. npm versions compare by
//! node-semver's rules and crates.io versions by Cargo's SemVer; `GIT` ranges name commits,
//! not versions, and are not used.

use std::cmp::Ordering;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::vuln::Severity;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OsvRecord {
    pub id: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub withdrawn: Option<String>,
    #[serde(default)]
    pub severity: Vec<OsvSeverity>,
    #[serde(default)]
    pub affected: Vec<OsvAffected>,
    #[serde(default)]
    pub database_specific: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OsvSeverity {
    #[serde(rename = "type")]
    pub kind: String,
    pub score: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OsvAffected {
    pub package: OsvPackage,
    #[serde(default)]
    pub ranges: Vec<OsvRange>,
    #[serde(default)]
    pub versions: Vec<String>,
    #[serde(default)]
    pub database_specific: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OsvPackage {
    pub ecosystem: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OsvRange {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub events: Vec<OsvEvent>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OsvEvent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introduced: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_affected: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
}

/// Which package ecosystem's version rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ecosystem {
    Npm,
    CratesIo,
}

impl Ecosystem {
    /// The ecosystem name OSV uses.
    pub fn osv_name(self) -> &'static str {
        match self {
            Ecosystem::Npm => "npm",
            Ecosystem::CratesIo => "crates.io",
        }
    }

    /// Compares two versions; `None` when either is not a version of this ecosystem.
    fn compare(self, a: &str, b: &str) -> Option<Ordering> {
        match self {
            Ecosystem::Npm => {
                let a = nodejs_semver::Version::parse(a).ok()?;
                let b = nodejs_semver::Version::parse(b).ok()?;
                Some(a.cmp(&b))
            }
            Ecosystem::CratesIo => {
                let a = semver::Version::parse(a).ok()?;
                let b = semver::Version::parse(b).ok()?;
                Some(a.cmp(&b))
            }
        }
    }
}

/// What matching one version against one record found.
#[derive(Debug, Clone, PartialEq)]
pub struct OsvHit {
    /// The first fixed version above the installed one, if the record names one.
    pub fixed: Option<String>,
}

/// OSV records of one ecosystem, indexed by package name.
#[derive(Debug, Default)]
pub struct OsvFeed {
    pub records: Vec<OsvRecord>,
    by_package: HashMap<String, Vec<usize>>,
}

impl OsvFeed {
    /// Builds the index; withdrawn records and records of other ecosystems are dropped.
    pub fn new(ecosystem: Ecosystem, records: Vec<OsvRecord>) -> OsvFeed {
        let mut feed = OsvFeed::default();
        for record in records {
            if record.withdrawn.is_some() {
                continue;
            }
            let index = feed.records.len();
            let mut named = false;
            for affected in &record.affected {
                if affected.package.ecosystem == ecosystem.osv_name() {
                    let list = feed
                        .by_package
                        .entry(affected.package.name.clone())
                        .or_default();
                    if list.last() != Some(&index) {
                        list.push(index);
                    }
                    named = true;
                }
            }
            if named {
                feed.records.push(record);
            }
        }
        feed
    }

    pub fn records_for(&self, name: &str) -> impl Iterator<Item = &OsvRecord> {
        self.by_package
            .get(name)
            .into_iter()
            .flatten()
            .map(|&i| &self.records[i])
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

impl OsvRecord {
    /// Whether `version` of package `name` is affected, and by which entry.
    pub fn affects(&self, ecosystem: Ecosystem, name: &str, version: &str) -> Option<OsvHit> {
        self.affected
            .iter()
            .filter(|a| a.package.ecosystem == ecosystem.osv_name() && a.package.name == name)
            .find_map(|a| a.affects(ecosystem, version))
    }

    /// Whether the advisory is informational (unmaintained, unsound, notice) rather than a
    /// vulnerability, as RustSec marks them.
    pub fn informational(&self) -> bool {
        let marked = |v: &Option<serde_json::Value>| {
            v.as_ref()
                .and_then(|v| v.get("informational"))
                .is_some_and(|i| !i.is_null())
        };
        self.affected.iter().any(|a| marked(&a.database_specific))
    }

    /// The rating: a CVSS vector when the record has one, else a severity label from the
    /// database-specific part (GitHub's `MODERATE` and the like), else unknown.
    pub fn rating(&self) -> (Severity, Option<f64>) {
        let best = self
            .severity
            .iter()
            .filter(|s| s.kind.starts_with("CVSS"))
            .filter_map(|s| Severity::from_cvss(&s.score))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((severity, score)) = best {
            return (severity, Some(score));
        }
        let label = self
            .database_specific
            .as_ref()
            .and_then(|d| d.get("severity"))
            .and_then(|s| s.as_str());
        (
            label.map(Severity::from_label).unwrap_or(Severity::Unknown),
            None,
        )
    }
}

impl OsvAffected {
    fn affects(&self, ecosystem: Ecosystem, version: &str) -> Option<OsvHit> {
        let listed = self.versions.iter().any(|v| v == version);
        for range in &self.ranges {
            if range.kind != "SEMVER" && range.kind != "ECOSYSTEM" {
                continue;
            }
            if let Some(hit) = range.affects(ecosystem, version) {
                return Some(hit);
            }
        }
        listed.then_some(OsvHit { fixed: None })
    }
}

impl OsvRange {
    fn affects(&self, ecosystem: Ecosystem, version: &str) -> Option<OsvHit> {
        // Sort the events by the version they name; "0" (from the start) sorts first.
        let key = |e: &OsvEvent| -> Option<String> {
            e.introduced
                .clone()
                .or_else(|| e.fixed.clone())
                .or_else(|| e.last_affected.clone())
        };
        let mut events: Vec<(&OsvEvent, String)> = self
            .events
            .iter()
            .filter_map(|e| key(e).map(|k| (e, k)))
            .collect();
        let cmp = |a: &str, b: &str| -> Ordering {
            match (a, b) {
                ("0", "0") => Ordering::Equal,
                ("0", _) => Ordering::Less,
                (_, "0") => Ordering::Greater,
                _ => ecosystem.compare(a, b).unwrap_or(Ordering::Equal),
            }
        };
        events.sort_by(|a, b| cmp(&a.1, &b.1));
        ecosystem.compare(version, version)?;
        let mut affected = false;
        for (event, at) in &events {
            if event.introduced.is_some() && cmp(version, at) != Ordering::Less {
                affected = true;
            } else if event.fixed.is_some() {
                if cmp(version, at) != Ordering::Less {
                    affected = false;
                } else if affected {
                    return Some(OsvHit {
                        fixed: event.fixed.clone(),
                    });
                }
            } else if event.last_affected.is_some() {
                if cmp(version, at) == Ordering::Greater {
                    affected = false;
                } else if affected {
                    return Some(OsvHit { fixed: None });
                }
            }
        }
        affected.then_some(OsvHit { fixed: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(json: serde_json::Value) -> OsvRecord {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn crates_ranges_follow_introduced_and_fixed() {
        let r = record(serde_json::json!({
            "id": "RUSTSEC-X", "affected": [{"package": {"ecosystem": "crates.io", "name": "a"},
              "ranges": [{"type": "SEMVER", "events": [
                {"introduced": "0.0.0-0"}, {"fixed": "0.9.0"},
                {"introduced": "1.0.0"}, {"fixed": "1.2.3"}]}]}]}));
        let hit = |v| r.affects(Ecosystem::CratesIo, "a", v);
        assert_eq!(hit("0.8.9").unwrap().fixed.as_deref(), Some("0.9.0"));
        assert!(hit("0.9.0").is_none());
        assert!(hit("0.10.0").is_none());
        assert_eq!(hit("1.2.2").unwrap().fixed.as_deref(), Some("1.2.3"));
        assert!(hit("1.2.3").is_none());
        assert!(r.affects(Ecosystem::CratesIo, "b", "0.1.0").is_none());
    }

    #[test]
    fn npm_last_affected_and_listed_versions() {
        let r = record(serde_json::json!({
            "id": "GHSA-x", "affected": [{"package": {"ecosystem": "npm", "name": "@s/p"},
              "ranges": [{"type": "ECOSYSTEM", "events": [
                {"introduced": "0"}, {"last_affected": "2.0.0"}]}],
              "versions": ["3.0.0-beta.1"]}]}));
        assert!(r.affects(Ecosystem::Npm, "@s/p", "2.0.0").is_some());
        assert!(r.affects(Ecosystem::Npm, "@s/p", "2.0.1").is_none());
        assert!(r.affects(Ecosystem::Npm, "@s/p", "3.0.0-beta.1").is_some());
    }
}
