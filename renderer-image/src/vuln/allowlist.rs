//! The reviewed allow-list: vulnerabilities someone accepted, with a reason and an end date.
//!
//! ```toml
//! [[allow]]
//! id = "CVE-2024-1234"
//! package = "openssl"        # optional: binary or source package name
//! versions = "< 3.0.15-1"    # optional: only while the installed version matches
//! reason = "only reachable through a tool the image does not run"
//! approved_by = "security@example.com"
//! expires = "2027-06-30"     # the last day the entry holds
//! link = "https://security-tracker.debian.org/tracker/CVE-2024-1234"
//! ```
//!
//! `id`, `reason` and `expires` are required; unknown keys are refused, so a typo
//! (`expire =`) cannot silently turn an entry into one that never ends. Version constraints
//! compare the way the package's own ecosystem does: dpkg order for Debian packages,
//! SemVer for the others.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::matcher::{Finding, dpkg_compare};
use crate::inventory::PackageKind;

/// Why an allow-list cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AllowListError {
    #[error("cannot read allow-list {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("allow-list {path} is not valid")]
    Syntax {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("allow-list {path}, entry {number} ({id}): {problem}")]
    Entry {
        path: PathBuf,
        number: usize,
        id: String,
        problem: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    allow: Vec<RawEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    id: String,
    #[serde(default)]
    package: Option<String>,
    #[serde(default)]
    versions: Option<String>,
    reason: String,
    #[serde(default)]
    approved_by: Option<String>,
    expires: RawDate,
    #[serde(default)]
    link: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawDate {
    Text(String),
    Date(toml::value::Datetime),
}

/// One checked entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AllowEntry {
    /// Position in the file, from 1.
    pub number: usize,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versions: Option<String>,
    #[serde(skip)]
    constraints: Vec<(Op, String)>,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    pub expires: NaiveDate,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
}

/// A checked allow-list.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    pub path: Option<PathBuf>,
    pub entries: Vec<AllowEntry>,
}

impl AllowList {
    pub fn load(path: &Path) -> Result<AllowList, AllowListError> {
        let text = std::fs::read_to_string(path).map_err(|source| AllowListError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        AllowList::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<AllowList, AllowListError> {
        let raw: RawFile = toml::from_str(text).map_err(|source| AllowListError::Syntax {
            path: path.to_path_buf(),
            source,
        })?;
        let mut entries = Vec::with_capacity(raw.allow.len());
        for (i, entry) in raw.allow.into_iter().enumerate() {
            let number = i + 1;
            let problem = |problem: String| AllowListError::Entry {
                path: path.to_path_buf(),
                number,
                id: entry.id.clone(),
                problem,
            };
            if entry.id.trim().is_empty() {
                return Err(problem("id is empty".into()));
            }
            if entry.reason.trim().is_empty() {
                return Err(problem("reason is empty".into()));
            }
            let expires = match &entry.expires {
                RawDate::Text(t) => NaiveDate::parse_from_str(t.trim(), "%Y-%m-%d")
                    .map_err(|_| problem(format!("expires {t:?} is not a YYYY-MM-DD date")))?,
                RawDate::Date(d) => {
                    let Some(date) = d.date.filter(|_| d.time.is_none()) else {
                        return Err(problem(format!("expires {d} is not a date")));
                    };
                    NaiveDate::from_ymd_opt(date.year.into(), date.month.into(), date.day.into())
                        .ok_or_else(|| problem(format!("expires {d} is not a date")))?
                }
            };
            let constraints = match &entry.versions {
                Some(v) => parse_constraints(v).map_err(problem)?,
                None => Vec::new(),
            };
            if entry
                .package
                .as_deref()
                .is_some_and(|p| p.trim().is_empty())
            {
                return Err(problem("package is empty".into()));
            }
            entries.push(AllowEntry {
                number,
                id: entry.id.trim().to_string(),
                package: entry.package,
                versions: entry.versions,
                constraints,
                reason: entry.reason,
                approved_by: entry.approved_by,
                expires,
                link: entry.link,
            });
        }
        Ok(AllowList {
            path: Some(path.to_path_buf()),
            entries,
        })
    }
}

fn parse_constraints(text: &str) -> Result<Vec<(Op, String)>, String> {
    let mut out = Vec::new();
    for clause in text.split(',') {
        let clause = clause.trim();
        let (op, rest) = if let Some(r) = clause.strip_prefix("<=") {
            (Op::Le, r)
        } else if let Some(r) = clause.strip_prefix(">=") {
            (Op::Ge, r)
        } else if let Some(r) = clause.strip_prefix('<') {
            (Op::Lt, r)
        } else if let Some(r) = clause.strip_prefix('>') {
            (Op::Gt, r)
        } else if let Some(r) = clause.strip_prefix('=') {
            (Op::Eq, r.trim_start_matches('='))
        } else {
            (Op::Eq, clause)
        };
        let version = rest.trim();
        if version.is_empty() || version.contains(char::is_whitespace) {
            return Err(format!(
                "versions {text:?} is not a list of constraints like \"< 1.2-3, >= 1.0\""
            ));
        }
        out.push((op, version.to_string()));
    }
    Ok(out)
}

impl AllowEntry {
    /// The entry no longer holds: its last day was before `today`.
    pub fn expired(&self, today: NaiveDate) -> bool {
        self.expires < today
    }

    /// Whether the entry speaks of this finding (its expiry aside).
    pub fn matches(&self, finding: &Finding) -> bool {
        let p = &finding.package;
        self.matches_parts(
            |id| finding.is_named(id),
            Subject {
                kind: p.kind,
                name: &p.name,
                version: &p.version,
                source_name: p.source_name.as_deref(),
                source_version: p.source_version.as_deref(),
            },
        )
    }

    /// Whether the entry speaks of a vulnerability (`named` tells whether an id names it)
    /// in a package described by its parts; used for other scanners' reports too.
    pub fn matches_parts(&self, named: impl Fn(&str) -> bool, package: Subject<'_>) -> bool {
        if !named(&self.id) {
            return false;
        }
        if let Some(name) = &self.package
            && package.name != name
            && package.source_name != Some(name.as_str())
        {
            return false;
        }
        if self.constraints.is_empty() {
            return true;
        }
        // A constraint on a source package's name speaks of the source version.
        let by_source = self.package.as_deref().is_some_and(|n| n != package.name);
        let version = match (package.source_version, by_source) {
            (Some(source), true) => source,
            _ => package.version,
        };
        self.constraints.iter().all(|(op, bound)| {
            let Some(order) = compare(package.kind, version, bound) else {
                return false;
            };
            match op {
                Op::Lt => order == Ordering::Less,
                Op::Le => order != Ordering::Greater,
                Op::Gt => order == Ordering::Greater,
                Op::Ge => order != Ordering::Less,
                Op::Eq => order == Ordering::Equal,
            }
        })
    }
}

/// The package side of an allow-list match.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub kind: PackageKind,
    pub name: &'a str,
    pub version: &'a str,
    pub source_name: Option<&'a str>,
    pub source_version: Option<&'a str>,
}

fn compare(kind: PackageKind, a: &str, b: &str) -> Option<Ordering> {
    match kind {
        PackageKind::Deb => dpkg_compare(a, b).ok(),
        _ => {
            let a = nodejs_semver::Version::parse(a.trim_start_matches('v')).ok()?;
            let b = nodejs_semver::Version::parse(b.trim_start_matches('v')).ok()?;
            Some(a.cmp(&b))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AllowList, AllowListError> {
        AllowList::parse(text, Path::new("allow.toml"))
    }

    #[test]
    fn reads_entries_with_string_or_date_expiry() {
        let list = parse(
            r#"
            [[allow]]
            id = "CVE-1"
            package = "openssl"
            versions = "< 3.0.15-1, >= 3.0"
            reason = "not reachable"
            approved_by = "sec@example.com"
            expires = "2027-06-30"

            [[allow]]
            id = "CVE-2"
            reason = "r"
            expires = 2027-01-01
            "#,
        )
        .unwrap();
        assert_eq!(list.entries.len(), 2);
        assert_eq!(
            list.entries[1].expires,
            NaiveDate::from_ymd_opt(2027, 1, 1).unwrap()
        );
        let today = NaiveDate::from_ymd_opt(2027, 6, 30).unwrap();
        assert!(!list.entries[0].expired(today));
        assert!(list.entries[0].expired(today.succ_opt().unwrap()));
    }

    #[test]
    fn refuses_malformed_entries() {
        let cases = [
            "[[allow]]\nid = \"CVE-1\"\nexpires = \"2027-01-01\"\n",
            "[[allow]]\nid = \"CVE-1\"\nreason = \"r\"\n",
            "[[allow]]\nid = \"CVE-1\"\nreason = \"r\"\nexpires = \"next year\"\n",
            "[[allow]]\nid = \"CVE-1\"\nreason = \"r\"\nexpires = \"2027-01-01\"\nexpire = 1\n",
            "[[allow]]\nid = \"\"\nreason = \"r\"\nexpires = \"2027-01-01\"\n",
            "[[allow]]\nid = \"C\"\nreason = \" \"\nexpires = \"2027-01-01\"\n",
            "[[allow]]\nid = \"C\"\nreason = \"r\"\nexpires = \"2027-01-01\"\nversions = \"<\"\n",
            "[[allow]\nid = \"C\"",
        ];
        for case in cases {
            assert!(parse(case).is_err(), "accepted: {case}");
        }
    }
}
