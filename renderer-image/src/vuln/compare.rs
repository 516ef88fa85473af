//! Setting a scan beside a Trivy or Grype JSON report of the same image.
//!
//! Both sides are reduced to pairs of (vulnerability, source package). The other tool's
//! binary packages are mapped to source packages by the upstream it names (Grype's
//! `upstreams`, Trivy's `SrcName`), else by the image's own inventory. The same allow-list is
//! applied to both sides, and ids are compared with their aliases, so a RustSec id on one
//! side meets its CVE on the other.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::allowlist::{AllowList, Subject};
use super::gate::Disposition;
use super::report::ScanReport;
use crate::inventory::{Inventory, PackageKind};

/// Why another tool's report could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("cannot read report {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("report {path} is not Trivy or Grype JSON")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("report {path} is JSON but neither Trivy's (Results) nor Grype's (matches)")]
    Unknown { path: PathBuf },
}

/// One finding of another tool.
#[derive(Debug, Clone, PartialEq)]
pub struct OtherFinding {
    pub ids: Vec<String>,
    pub package: String,
    pub version: String,
    pub source: Option<String>,
    pub kind: PackageKind,
}

#[derive(Debug, Clone)]
pub struct OtherReport {
    pub tool: String,
    pub findings: Vec<OtherFinding>,
}

#[derive(Debug, Deserialize)]
struct Trivy {
    #[serde(rename = "Results", default)]
    results: Vec<TrivyResult>,
}

#[derive(Debug, Deserialize)]
struct TrivyResult {
    #[serde(rename = "Type", default)]
    kind: String,
    #[serde(rename = "Vulnerabilities", default)]
    vulnerabilities: Vec<TrivyVuln>,
}

#[derive(Debug, Deserialize)]
struct TrivyVuln {
    #[serde(rename = "VulnerabilityID")]
    id: String,
    #[serde(rename = "PkgName")]
    package: String,
    #[serde(rename = "InstalledVersion", default)]
    version: String,
    #[serde(rename = "SrcName", default)]
    source: Option<String>,
    #[serde(rename = "VendorIDs", default)]
    vendor_ids: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Grype {
    matches: Vec<GrypeMatch>,
}

#[derive(Debug, Deserialize)]
struct GrypeMatch {
    vulnerability: GrypeVuln,
    #[serde(rename = "relatedVulnerabilities", default)]
    related: Vec<GrypeVuln>,
    artifact: GrypeArtifact,
}

#[derive(Debug, Deserialize)]
struct GrypeVuln {
    id: String,
}

#[derive(Debug, Deserialize)]
struct GrypeArtifact {
    name: String,
    #[serde(default)]
    version: String,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    upstreams: Vec<GrypeUpstream>,
}

#[derive(Debug, Deserialize)]
struct GrypeUpstream {
    name: String,
}

fn kind_of(label: &str) -> PackageKind {
    match label {
        "deb" | "debian" => PackageKind::Deb,
        "npm" | "node-pkg" => PackageKind::Npm,
        "rust-crate" | "rust-binary" | "cargo" | "rustbinary" => PackageKind::Cargo,
        "binary" => PackageKind::NodeRuntime,
        _ => PackageKind::Npm,
    }
}

impl OtherReport {
    pub fn load(path: &Path) -> Result<OtherReport, CompareError> {
        let data = std::fs::read(path).map_err(|source| CompareError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        OtherReport::parse(&data, path)
    }

    pub fn parse(data: &[u8], path: &Path) -> Result<OtherReport, CompareError> {
        let parse = |source| CompareError::Parse {
            path: path.to_path_buf(),
            source,
        };
        let value: serde_json::Value = serde_json::from_slice(data).map_err(parse)?;
        if value.get("matches").is_some() {
            let grype: Grype = serde_json::from_value(value).map_err(parse)?;
            let findings = grype
                .matches
                .into_iter()
                .map(|m| {
                    let mut ids = vec![m.vulnerability.id];
                    ids.extend(m.related.into_iter().map(|r| r.id));
                    OtherFinding {
                        ids,
                        package: m.artifact.name,
                        version: m.artifact.version,
                        source: m.artifact.upstreams.into_iter().next().map(|u| u.name),
                        kind: kind_of(&m.artifact.kind),
                    }
                })
                .collect();
            return Ok(OtherReport {
                tool: "grype".into(),
                findings,
            });
        }
        if value.get("Results").is_some() || value.get("SchemaVersion").is_some() {
            let trivy: Trivy = serde_json::from_value(value).map_err(parse)?;
            let mut findings = Vec::new();
            for result in trivy.results {
                let kind = match result.kind.as_str() {
                    "debian" => PackageKind::Deb,
                    "node-pkg" | "npm" => PackageKind::Npm,
                    "rustbinary" | "cargo" => PackageKind::Cargo,
                    _ => PackageKind::Npm,
                };
                for v in result.vulnerabilities {
                    let mut ids = vec![v.id];
                    ids.extend(v.vendor_ids);
                    findings.push(OtherFinding {
                        ids,
                        package: v.package,
                        version: v.version,
                        source: v.source,
                        kind,
                    });
                }
            }
            return Ok(OtherReport {
                tool: "trivy".into(),
                findings,
            });
        }
        Err(CompareError::Unknown {
            path: path.to_path_buf(),
        })
    }
}

/// A vulnerability in a source package that one side reported and the other did not.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Difference {
    pub id: String,
    pub source_package: String,
}

/// What each side found that the other did not, by vulnerability and source package.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Comparison {
    pub tool: String,
    pub only_ours: BTreeSet<Difference>,
    pub only_theirs: BTreeSet<Difference>,
    pub both: usize,
    /// Findings of the other tool the allow-list accepts, left out of the comparison.
    pub theirs_allowed: usize,
}

pub fn compare(
    report: &ScanReport,
    inv: &Inventory,
    other: &OtherReport,
    allow: &AllowList,
) -> Comparison {
    let today = report.policy.today;
    let valid: Vec<_> = allow.entries.iter().filter(|e| !e.expired(today)).collect();
    // Binary name to source name, from the image itself.
    let sources: HashMap<&str, (&str, &str)> = inv
        .packages
        .iter()
        .filter_map(|p| {
            p.deb.as_ref().map(|d| {
                (
                    p.name.as_str(),
                    (d.source_name.as_str(), d.source_version.as_str()),
                )
            })
        })
        .collect();
    // Ours: every finding not accepted by the allow-list, keyed by source and id set.
    let mut ours: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for judged in &report.verdict.findings {
        let allowed = matches!(&judged.disposition, Disposition::Accepted { by, .. }
            if by.starts_with("allow-list"));
        if allowed {
            continue;
        }
        let f = &judged.finding;
        let mut ids = vec![f.id.clone()];
        ids.extend(f.aliases.iter().cloned());
        ours.insert((f.id.clone(), f.package.group_name().to_string()), ids);
    }
    let mut theirs: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut theirs_allowed = 0;
    for f in &other.findings {
        let (source, source_version) = match (&f.source, sources.get(f.package.as_str())) {
            (Some(s), Some((_, v))) => (s.as_str(), Some(*v)),
            (Some(s), None) => (s.as_str(), None),
            (None, Some((s, v))) => (*s, Some(*v)),
            (None, None) => (f.package.as_str(), None),
        };
        let subject = Subject {
            kind: f.kind,
            name: &f.package,
            version: &f.version,
            source_name: Some(source),
            source_version,
        };
        let named = |id: &str| f.ids.iter().any(|i| i == id);
        if valid.iter().any(|e| e.matches_parts(named, subject)) {
            theirs_allowed += 1;
            continue;
        }
        theirs.insert((f.ids[0].clone(), source.to_string()), f.ids.clone());
    }
    let overlaps = |a: &[String], b: &[String]| a.iter().any(|x| b.contains(x));
    let mut result = Comparison {
        tool: other.tool.clone(),
        theirs_allowed,
        ..Comparison::default()
    };
    for ((id, source), ids) in &ours {
        let found = theirs
            .iter()
            .any(|((_, s), t)| s == source && overlaps(ids, t));
        if found {
            result.both += 1;
        } else {
            result.only_ours.insert(Difference {
                id: id.clone(),
                source_package: source.clone(),
            });
        }
    }
    for ((id, source), ids) in &theirs {
        let found = ours
            .iter()
            .any(|((_, s), o)| s == source && overlaps(ids, o));
        if !found {
            result.only_theirs.insert(Difference {
                id: id.clone(),
                source_package: source.clone(),
            });
        }
    }
    result
}

pub fn render(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "compared with {}: {} in both, {} only here, {} only in {} ({} of theirs allow-listed)",
        c.tool,
        c.both,
        c.only_ours.len(),
        c.only_theirs.len(),
        c.tool,
        c.theirs_allowed
    );
    for d in &c.only_ours {
        let _ = writeln!(out, "  only here:        {:<20} {}", d.id, d.source_package);
    }
    for d in &c.only_theirs {
        let tool = format!("{}:", c.tool);
        let _ = writeln!(out, "  only in {tool:<9} {:<20} {}", d.id, d.source_package);
    }
    out
}
