//! Matching inventory packages against the feeds.
//!
//! - Debian binary packages are looked up by their **source** package and compared by
//!   **source** version, because the tracker speaks of source packages only; a binNMU
//!   binary (`1.2-3+b1`) is built from source `1.2-3` and matches as that. Versions order
//!   the way dpkg orders them (epochs, `~`, revisions).
//! - npm packages and crates.io crates embedded by `cargo auditable` are matched against OSV;
//!   path and git dependencies are not, as only their name is shared with crates.io.
//! - A Node.js runtime no package owns is matched against the Node.js core advisories.
//! - A bare Chrome or Chromium binary has no feed that speaks of it by version and is not
//!   matched; a packaged one is matched through its Debian source package.
//!
//! Tracker entries whose status is `undetermined` are not reported: the tracker has not yet
//! decided whether the release is affected, and reporting them would fail gates on guesses.

use std::cmp::Ordering;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::Severity;
use super::feeds::{DebianRecord, Ecosystem, FeedName, Feeds, OsvFeed};
use crate::inventory::{Inventory, LayerRef, Package, PackageKind};

/// Why findings could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum MatchError {
    #[error("the image has Debian packages but its release is unknown")]
    NoRelease,
    #[error("the image is {distro}, but only Debian's data is known for dpkg packages")]
    OtherDistro { distro: String },
    #[error("the image has {what}, but the {feed} feed is not in the database")]
    MissingFeed { feed: FeedName, what: &'static str },
    #[error("{package}: version {version:?} is not a dpkg version")]
    BadVersion {
        package: String,
        version: String,
        #[source]
        source: debversion::ParseError,
    },
}

/// Debian's own decision about a vulnerability in a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DebianDecision {
    /// Rated `unimportant`: not a security problem worth a fix in a stable release.
    Unimportant,
    /// Minor issue, fixed (if ever) in a point release rather than an advisory.
    NoDsa,
    Postponed,
    Ignored,
}

impl DebianDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            DebianDecision::Unimportant => "unimportant",
            DebianDecision::NoDsa => "no-dsa",
            DebianDecision::Postponed => "postponed",
            DebianDecision::Ignored => "ignored",
        }
    }
}

impl FromStr for DebianDecision {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "unimportant" | "negligible" => Ok(DebianDecision::Unimportant),
            "no-dsa" | "nodsa" => Ok(DebianDecision::NoDsa),
            "postponed" => Ok(DebianDecision::Postponed),
            "ignored" => Ok(DebianDecision::Ignored),
            other => Err(format!(
                "unknown Debian decision {other:?}: use unimportant, no-dsa, postponed or ignored"
            )),
        }
    }
}

/// What the tracker says about the vulnerability in the image's release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DebianStatus {
    /// `open` or `resolved`.
    pub status: String,
    /// The urgency as written, e.g. `low**`, `not yet assigned`, `end-of-life`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urgency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<DebianDecision>,
    /// The tracker's note for a no-DSA decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodsa: Option<String>,
    /// One-line summary: `unfixed`, `no-dsa: Minor issue`, `fixed in 1.2-3`, `end-of-life`.
    pub summary: String,
}

/// The package a finding is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AffectedPackage {
    pub kind: PackageKind,
    pub name: String,
    pub version: String,
    /// Source package and version (Debian only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    pub purl: String,
    pub path: String,
    /// The layer where this version entered the image, with its Dockerfile instruction.
    pub layer: LayerRef,
}

impl AffectedPackage {
    fn from(p: &Package) -> AffectedPackage {
        AffectedPackage {
            kind: p.kind,
            name: p.name.clone(),
            version: p.version.clone(),
            source_name: p.deb.as_ref().map(|d| d.source_name.clone()),
            source_version: p.deb.as_ref().map(|d| d.source_version.clone()),
            purl: p.purl.clone(),
            path: p.path.clone(),
            layer: p.layer.clone(),
        }
    }

    /// The name findings are grouped by: the source package for Debian, else the package.
    pub fn group_name(&self) -> &str {
        self.source_name.as_deref().unwrap_or(&self.name)
    }

    /// Whether an allow-list's `package` names this package, as binary or source.
    pub fn is_named(&self, name: &str) -> bool {
        self.name == name || self.source_name.as_deref() == Some(name)
    }
}

/// One vulnerability in one installed package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub id: String,
    /// Other names of the same vulnerability (CVE and GHSA ids of an OSV record).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    pub feed: FeedName,
    pub package: AffectedPackage,
    /// The version compared: the source version for Debian packages.
    pub matched_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_version: Option<String>,
    /// Whether the fix can be installed now (for Debian: a suite of the release carries it).
    pub fix_available: bool,
    pub severity: Severity,
    /// Where the severity came from: `debian urgency`, `cvss`, `advisory`, or `none`.
    pub severity_source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss_score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debian: Option<DebianStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

impl Finding {
    /// Whether `id` names this vulnerability, by its id or an alias.
    pub fn is_named(&self, id: &str) -> bool {
        self.id == id || self.aliases.iter().any(|a| a == id)
    }
}

/// Compares two dpkg versions.
pub fn dpkg_compare(a: &str, b: &str) -> Result<Ordering, debversion::ParseError> {
    let a = debversion::Version::from_str(a)?;
    let b = debversion::Version::from_str(b)?;
    Ok(a.cmp(&b))
}

/// The Debian codename to match against, when the image has Debian packages.
pub fn debian_release(inv: &Inventory) -> Result<Option<String>, MatchError> {
    if !inv.packages.iter().any(|p| p.kind == PackageKind::Deb) {
        return Ok(None);
    }
    let distro = inv.distro.as_ref().ok_or(MatchError::NoRelease)?;
    if distro.id != "debian" {
        return Err(MatchError::OtherDistro {
            distro: distro.id.clone(),
        });
    }
    // Unstable shares testing's os-release; only `debian_version` (`trixie/sid`) tells them
    // apart, and the tracker keeps separate records for `sid`.
    if distro
        .point_release
        .as_deref()
        .is_some_and(|p| p.ends_with("/sid"))
    {
        return Ok(Some("sid".to_string()));
    }
    if let Some(codename) = distro.codename.as_ref().filter(|c| !c.is_empty()) {
        return Ok(Some(codename.clone()));
    }
    let by_number = match distro.version_id.as_deref() {
        Some("10") => "buster",
        Some("11") => "bullseye",
        Some("12") => "bookworm",
        Some("13") => "trixie",
        Some("14") => "forky",
        _ => return Err(MatchError::NoRelease),
    };
    Ok(Some(by_number.to_string()))
}

/// The feeds an inventory needs, with what in the image needs each.
pub fn required_feeds(inv: &Inventory) -> Vec<(FeedName, &'static str)> {
    let has = |kind| inv.packages.iter().any(|p| p.kind == kind);
    let mut out = Vec::new();
    if has(PackageKind::Deb) {
        out.push((FeedName::Debian, "Debian packages"));
    }
    if has(PackageKind::Npm) {
        out.push((FeedName::OsvNpm, "npm packages"));
    }
    if has(PackageKind::Cargo) {
        out.push((FeedName::OsvCrates, "Rust crates"));
    }
    if has(PackageKind::NodeRuntime) {
        out.push((FeedName::Nodejs, "a Node.js runtime"));
    }
    out
}

/// Every finding for every package of the inventory, in a stable order.
pub fn match_inventory(inv: &Inventory, feeds: &Feeds) -> Result<Vec<Finding>, MatchError> {
    for (feed, what) in required_feeds(inv) {
        let present = match feed {
            FeedName::Debian => feeds.debian.is_some(),
            FeedName::OsvNpm => feeds.npm.is_some(),
            FeedName::OsvCrates => feeds.crates.is_some(),
            FeedName::Nodejs => feeds.nodejs.is_some(),
        };
        if !present {
            return Err(MatchError::MissingFeed { feed, what });
        }
    }
    let mut findings = Vec::new();
    for package in &inv.packages {
        match package.kind {
            PackageKind::Deb => {
                if let Some(feed) = &feeds.debian {
                    for record in feed.records(source_of(package).0) {
                        if let Some(f) = match_debian(package, record)? {
                            findings.push(f);
                        }
                    }
                }
            }
            PackageKind::Npm => {
                if let Some(feed) = &feeds.npm {
                    findings.extend(match_osv(package, feed, Ecosystem::Npm, FeedName::OsvNpm));
                }
            }
            PackageKind::Cargo => {
                // A path or git dependency shares only its name with the crates.io crate.
                let local = package.cargo.as_ref().is_some_and(|c| !c.from_registry);
                if let Some(feed) = feeds.crates.as_ref().filter(|_| !local) {
                    let eco = Ecosystem::CratesIo;
                    findings.extend(match_osv(package, feed, eco, FeedName::OsvCrates));
                }
            }
            PackageKind::NodeRuntime => {
                if let Some(feed) = &feeds.nodejs {
                    findings.extend(match_node(package, feed));
                }
            }
            PackageKind::Chromium => {}
        }
    }
    findings.sort_by(|a, b| {
        (
            a.package.group_name(),
            &a.id,
            &a.package.name,
            &a.package.path,
        )
            .cmp(&(
                b.package.group_name(),
                &b.id,
                &b.package.name,
                &b.package.path,
            ))
    });
    Ok(findings)
}

fn source_of(p: &Package) -> (&str, &str) {
    match &p.deb {
        Some(d) => (d.source_name.as_str(), d.source_version.as_str()),
        None => (p.name.as_str(), p.version.as_str()),
    }
}

fn match_debian(package: &Package, record: &DebianRecord) -> Result<Option<Finding>, MatchError> {
    let (source, version) = source_of(package);
    let compare = |a: &str, b: &str| {
        dpkg_compare(a, b).map_err(|e| MatchError::BadVersion {
            package: format!("{} ({source}, {})", package.name, record.id),
            version: if debversion::Version::from_str(a).is_err() {
                a.to_string()
            } else {
                b.to_string()
            },
            source: e,
        })
    };
    let urgency = record.urgency.clone();
    let unimportant = urgency
        .as_deref()
        .is_some_and(|u| u.trim_end_matches('*') == "unimportant");
    let (fixed_version, fix_available) = match record.status.as_str() {
        "resolved" => {
            let Some(fixed) = record.fixed_version.as_deref() else {
                return Ok(None);
            };
            if fixed == "0" || compare(version, fixed)? != Ordering::Less {
                return Ok(None);
            }
            let mut available = false;
            for carried in record.repositories.values() {
                if compare(carried, fixed)? != Ordering::Less {
                    available = true;
                }
            }
            (Some(fixed.to_string()), available)
        }
        "open" => (None, false),
        _ => return Ok(None),
    };
    let decision = if unimportant {
        Some(DebianDecision::Unimportant)
    } else if record.status == "open" && record.nodsa.is_some() {
        Some(match record.nodsa_reason.as_deref() {
            Some("postponed") => DebianDecision::Postponed,
            Some("ignored") => DebianDecision::Ignored,
            _ => DebianDecision::NoDsa,
        })
    } else {
        None
    };
    let nodsa = record.nodsa.clone().filter(|_| record.status == "open");
    let summary = match (&fixed_version, decision, &nodsa) {
        (Some(fixed), _, _) if fix_available => format!("fixed in {fixed}"),
        (Some(fixed), _, _) => format!("fixed in {fixed}, not yet in the archive"),
        (None, Some(d), Some(note)) if d != DebianDecision::Unimportant => {
            format!("{}: {note}", d.as_str())
        }
        (None, Some(d), None) if d != DebianDecision::Unimportant => d.as_str().to_string(),
        _ if urgency.as_deref() == Some("end-of-life") => "end-of-life".to_string(),
        _ => "unfixed".to_string(),
    };
    let severity = urgency
        .as_deref()
        .map(Severity::from_label)
        .unwrap_or(Severity::Unknown);
    Ok(Some(Finding {
        id: record.id.clone(),
        aliases: Vec::new(),
        feed: FeedName::Debian,
        package: AffectedPackage::from(package),
        matched_version: version.to_string(),
        fixed_version,
        fix_available,
        severity,
        severity_source: if severity == Severity::Unknown {
            "none".into()
        } else {
            "debian urgency".into()
        },
        cvss_score: None,
        debian: Some(DebianStatus {
            status: record.status.clone(),
            urgency,
            decision,
            nodsa,
            summary,
        }),
        title: None,
    }))
}

fn match_osv(package: &Package, feed: &OsvFeed, eco: Ecosystem, name: FeedName) -> Vec<Finding> {
    let mut out = Vec::new();
    for record in feed.records_for(&package.name) {
        if record.informational() {
            continue;
        }
        let Some(hit) = record.affects(eco, &package.name, &package.version) else {
            continue;
        };
        let (severity, score) = record.rating();
        let source = match (score, severity) {
            (Some(_), _) => "cvss",
            (None, Severity::Unknown) => "none",
            (None, _) => "advisory",
        };
        out.push(Finding {
            id: record.id.clone(),
            aliases: record.aliases.clone(),
            feed: name,
            package: AffectedPackage::from(package),
            matched_version: package.version.clone(),
            fix_available: hit.fixed.is_some(),
            fixed_version: hit.fixed,
            severity,
            severity_source: source.into(),
            cvss_score: score,
            debian: None,
            title: record.summary.clone(),
        });
    }
    out
}

fn match_node(package: &Package, feed: &super::feeds::NodeFeed) -> Vec<Finding> {
    feed.affecting(&package.version)
        .into_iter()
        .map(|rule| {
            let advisory = &rule.advisory;
            let severity = advisory.rating();
            let mut aliases: Vec<String> = advisory.cve.iter().skip(1).cloned().collect();
            aliases.push(format!("NSWG-CORE-{}", advisory.key));
            Finding {
                id: advisory.id(),
                aliases,
                feed: FeedName::Nodejs,
                package: AffectedPackage::from(package),
                matched_version: package.version.trim_start_matches('v').to_string(),
                fixed_version: rule.patched().map(str::to_string),
                fix_available: rule.patched().is_some(),
                severity,
                severity_source: if severity == Severity::Unknown {
                    "none".into()
                } else {
                    "advisory".into()
                },
                cvss_score: None,
                debian: None,
                title: advisory
                    .description
                    .clone()
                    .or_else(|| advisory.overview.clone())
                    .map(|t| t.lines().next().unwrap_or_default().to_string()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{DebDetails, Distro, Generator, ImageInfo};

    fn image(distro: Distro) -> Inventory {
        Inventory {
            schema_version: 1,
            generator: Generator {
                name: "t".into(),
                version: "0".into(),
            },
            image: ImageInfo {
                reference: "t".into(),
                id: "sha256:0".into(),
                repo_tags: Vec::new(),
                os: "linux".into(),
                architecture: "amd64".into(),
                variant: None,
            },
            distro: Some(distro),
            layers: Vec::new(),
            packages: vec![Package {
                kind: PackageKind::Deb,
                name: "bash".into(),
                version: "5.2-1".into(),
                purl: String::new(),
                path: String::new(),
                layer: LayerRef {
                    index: 0,
                    diff_id: String::new(),
                    instruction: String::new(),
                },
                deb: Some(DebDetails {
                    architecture: "amd64".into(),
                    source_name: "bash".into(),
                    source_version: "5.2-1".into(),
                }),
                cargo: None,
                sha256: None,
            }],
            unaccounted_executables: Vec::new(),
        }
    }

    fn distro(version_id: Option<&str>, codename: Option<&str>, point: Option<&str>) -> Distro {
        Distro {
            id: "debian".into(),
            version_id: version_id.map(Into::into),
            codename: codename.map(Into::into),
            point_release: point.map(Into::into),
            pretty_name: None,
        }
    }

    #[test]
    fn picks_the_tracker_release_of_the_image() {
        let release = |d| debian_release(&image(d)).unwrap();
        let bookworm = distro(Some("12"), Some("bookworm"), Some("12.10"));
        assert_eq!(release(bookworm).as_deref(), Some("bookworm"));
        let by_number = distro(Some("11"), None, None);
        assert_eq!(release(by_number).as_deref(), Some("bullseye"));
        let unstable = distro(None, Some("trixie"), Some("trixie/sid"));
        assert_eq!(release(unstable).as_deref(), Some("sid"));
        assert!(debian_release(&image(distro(None, None, None))).is_err());
        let mut ubuntu = distro(Some("24.04"), Some("noble"), None);
        ubuntu.id = "ubuntu".into();
        assert!(matches!(
            debian_release(&image(ubuntu)),
            Err(MatchError::OtherDistro { .. })
        ));
    }
}
