//! The Node.js security working group's advisories for the runtime itself.
//!
//! Each advisory gives `vulnerable` and `patched` as node-semver ranges (`||` between
//! alternatives, `14.x`, `^16.17.1`, a bare version meaning that version only). A runtime is
//! affected when its version satisfies `vulnerable` and not `patched`. This is what covers a
//! `node` binary that no package manager knows about, as in the official `node:*-slim` images.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::vuln::Severity;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeAdvisory {
    /// The key of the advisory in the working group's index (its file name).
    #[serde(skip)]
    pub key: String,
    #[serde(default)]
    pub cve: Vec<String>,
    #[serde(default)]
    pub vulnerable: String,
    #[serde(default)]
    pub patched: String,
    #[serde(default)]
    pub overview: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default, rename = "ref")]
    pub reference: Option<String>,
}

/// Why an advisory's ranges could not be read.
#[derive(Debug, thiserror::Error)]
#[error("advisory {key}: range {range:?} is not node-semver")]
pub struct RangeError {
    pub key: String,
    pub range: String,
    #[source]
    pub source: nodejs_semver::SemverError,
}

/// A parsed advisory: ranges ready to test.
#[derive(Debug)]
pub struct NodeRule {
    pub advisory: NodeAdvisory,
    vulnerable: nodejs_semver::Range,
    patched: Option<nodejs_semver::Range>,
}

#[derive(Debug, Default)]
pub struct NodeFeed {
    pub rules: Vec<NodeRule>,
}

impl NodeAdvisory {
    /// The id to report: the first CVE, else the working group's own number.
    pub fn id(&self) -> String {
        self.cve
            .first()
            .cloned()
            .unwrap_or_else(|| format!("NSWG-CORE-{}", self.key))
    }

    pub fn rating(&self) -> Severity {
        self.severity
            .as_deref()
            .map(Severity::from_label)
            .unwrap_or(Severity::Unknown)
    }
}

impl NodeFeed {
    /// Parses the index (`{"<key>": advisory, ...}`) and every advisory's ranges.
    pub fn new(index: BTreeMap<String, NodeAdvisory>) -> Result<NodeFeed, RangeError> {
        let mut rules = Vec::with_capacity(index.len());
        for (key, mut advisory) in index {
            advisory.key = key;
            let parse = |range: &str| {
                nodejs_semver::Range::parse(range).map_err(|source| RangeError {
                    key: advisory.key.clone(),
                    range: range.to_string(),
                    source,
                })
            };
            let vulnerable = parse(&advisory.vulnerable)?;
            let patched = match advisory.patched.trim() {
                "" => None,
                p => Some(parse(p)?),
            };
            rules.push(NodeRule {
                advisory,
                vulnerable,
                patched,
            });
        }
        Ok(NodeFeed { rules })
    }

    /// Advisories that affect runtime `version` (a leading `v` is allowed).
    pub fn affecting(&self, version: &str) -> Vec<&NodeRule> {
        let Ok(version) = nodejs_semver::Version::parse(version.trim_start_matches('v')) else {
            return Vec::new();
        };
        self.rules
            .iter()
            .filter(|r| r.vulnerable.satisfies(&version))
            .filter(|r| !r.patched.as_ref().is_some_and(|p| p.satisfies(&version)))
            .collect()
    }
}

impl NodeRule {
    /// The patched range, the closest thing these advisories have to a fixed version.
    pub fn patched(&self) -> Option<&str> {
        self.patched
            .as_ref()
            .map(|_| self.advisory.patched.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(vulnerable: &str, patched: &str) -> NodeFeed {
        let advisory = NodeAdvisory {
            key: String::new(),
            cve: vec!["CVE-1".into()],
            vulnerable: vulnerable.into(),
            patched: patched.into(),
            overview: None,
            description: None,
            severity: Some("high".into()),
            reference: None,
        };
        NodeFeed::new(BTreeMap::from([("7".to_string(), advisory)])).unwrap()
    }

    #[test]
    fn applies_node_semver_ranges() {
        let f = feed("14.x || 16.x || 18.x", "^14.20.1 || ^16.17.1 || ^18.9.1");
        assert_eq!(f.affecting("v18.7.0").len(), 1);
        assert!(f.affecting("v18.9.1").is_empty());
        assert!(f.affecting("16.17.0").len() == 1);
        assert!(f.affecting("20.0.0").is_empty());
        assert_eq!(f.affecting("14.0.0")[0].advisory.id(), "CVE-1");
    }

    #[test]
    fn a_bare_version_means_only_that_version() {
        let f = feed("8.5.0", "");
        assert_eq!(f.affecting("8.5.0").len(), 1);
        assert!(f.affecting("8.5.1").is_empty());
        assert!(f.affecting("8.4.9").is_empty());
    }
}
