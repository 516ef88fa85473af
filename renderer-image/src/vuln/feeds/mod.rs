//! The vulnerability feeds: what each one is, how it is imported, how it is parsed.
//!
//! Every feed is stored in the database as one JSON file in a normalised form, whatever it
//! was imported from (a file, a directory of records, a zip):
//! - `debian`: the tracker JSON as published;
//! - `osv-npm`, `osv-crates`: a JSON array of OSV records of that ecosystem;
//! - `nodejs`: the working group's index, an object of advisories keyed by number.

pub mod debian;
pub mod nodejs;
pub mod osv;

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use debian::{DebianFeed, DebianRecord};
pub use nodejs::{NodeAdvisory, NodeFeed};
pub use osv::{Ecosystem, OsvFeed, OsvRecord};

/// The feeds this tool knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum FeedName {
    #[serde(rename = "debian")]
    Debian,
    #[serde(rename = "osv-npm")]
    OsvNpm,
    #[serde(rename = "osv-crates")]
    OsvCrates,
    #[serde(rename = "nodejs")]
    Nodejs,
}

impl FeedName {
    pub const ALL: [FeedName; 4] = [
        FeedName::Debian,
        FeedName::OsvNpm,
        FeedName::OsvCrates,
        FeedName::Nodejs,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FeedName::Debian => "debian",
            FeedName::OsvNpm => "osv-npm",
            FeedName::OsvCrates => "osv-crates",
            FeedName::Nodejs => "nodejs",
        }
    }

    /// Where `db update` fetches the feed unless told otherwise.
    pub fn default_url(self) -> &'static str {
        match self {
            FeedName::Debian => "https://security-tracker.debian.org/tracker/data/json",
            FeedName::OsvNpm => "https://osv-vulnerabilities.storage.googleapis.com/npm/all.zip",
            FeedName::OsvCrates => {
                "https://osv-vulnerabilities.storage.googleapis.com/crates.io/all.zip"
            }
            FeedName::Nodejs => {
                "https://raw.githubusercontent.com/nodejs/security-wg/main/vuln/core/index.json"
            }
        }
    }

    fn ecosystem(self) -> Option<Ecosystem> {
        match self {
            FeedName::OsvNpm => Some(Ecosystem::Npm),
            FeedName::OsvCrates => Some(Ecosystem::CratesIo),
            _ => None,
        }
    }
}

impl fmt::Display for FeedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for FeedName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FeedName::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| format!("unknown feed {s:?}: use debian, osv-npm, osv-crates or nodejs"))
    }
}

/// Why feed data could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{feed}: {what} is not valid feed data")]
    Parse {
        feed: FeedName,
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{feed}: cannot read zip {what}")]
    Zip {
        feed: FeedName,
        what: String,
        #[source]
        source: zip::result::ZipError,
    },
    #[error("{feed}: {what} holds no records")]
    Empty { feed: FeedName, what: String },
    #[error("{feed}: bad advisory range")]
    Range {
        feed: FeedName,
        #[source]
        source: nodejs::RangeError,
    },
}

/// Turns imported or downloaded data into the stored form, checking it on the way.
///
/// `data` is the content of a file (JSON or zip); `what` names it in errors.
pub fn normalise(feed: FeedName, data: &[u8], what: &str) -> Result<Vec<u8>, FeedError> {
    let parse = |source| FeedError::Parse {
        feed,
        what: what.to_string(),
        source,
    };
    let is_zip = data.starts_with(b"PK\x03\x04");
    match feed {
        FeedName::Debian => {
            let bytes = if is_zip {
                let mut entries = zip_entries(feed, data, what)?;
                if entries.len() != 1 {
                    return Err(FeedError::Empty {
                        feed,
                        what: format!("{what} (expected one JSON file)"),
                    });
                }
                entries.remove(0).1
            } else {
                data.to_vec()
            };
            DebianFeed::validate(&bytes).map_err(parse)?;
            Ok(bytes)
        }
        FeedName::OsvNpm | FeedName::OsvCrates => {
            let mut records = Vec::new();
            if is_zip {
                for (name, bytes) in zip_entries(feed, data, what)? {
                    records.extend(osv_values(feed, &bytes, &format!("{what}:{name}"))?);
                }
            } else {
                records = osv_values(feed, data, what)?;
            }
            osv_output(feed, records, what)
        }
        FeedName::Nodejs => {
            let index = if is_zip {
                let mut index = BTreeMap::new();
                for (name, bytes) in zip_entries(feed, data, what)? {
                    node_entries(feed, &name, &bytes, &mut index)?;
                }
                index
            } else {
                serde_json::from_slice(data).map_err(parse)?
            };
            node_output(feed, index, what)
        }
    }
}

/// Imports a feed from a file or a directory of JSON files.
pub fn import_path(feed: FeedName, path: &Path) -> Result<Vec<u8>, FeedError> {
    let what = path.display().to_string();
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| FeedError::Read {
            path: p.to_path_buf(),
            source,
        })
    };
    if !path.is_dir() {
        return normalise(feed, &read(path)?, &what);
    }
    let mut files = Vec::new();
    collect_json(path, &mut files).map_err(|source| FeedError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    files.sort();
    match feed {
        FeedName::Debian => Err(FeedError::Empty {
            feed,
            what: format!("{what} (a directory; give the tracker JSON file)"),
        }),
        FeedName::OsvNpm | FeedName::OsvCrates => {
            let mut records = Vec::new();
            for file in &files {
                records.extend(osv_values(feed, &read(file)?, &file.display().to_string())?);
            }
            osv_output(feed, records, &what)
        }
        FeedName::Nodejs => {
            let mut index = BTreeMap::new();
            for file in &files {
                let name = file
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .to_string();
                node_entries(feed, &name, &read(file)?, &mut index)?;
            }
            node_output(feed, index, &what)
        }
    }
}

fn collect_json(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            collect_json(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    Ok(())
}

/// The `.json` members of a zip, by name.
fn zip_entries(
    feed: FeedName,
    data: &[u8],
    what: &str,
) -> Result<Vec<(String, Vec<u8>)>, FeedError> {
    let zip_err = |source| FeedError::Zip {
        feed,
        what: what.to_string(),
        source,
    };
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(data)).map_err(zip_err)?;
    let mut out = Vec::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).map_err(zip_err)?;
        let name = file.name().map(|n| n.to_string()).unwrap_or_default();
        if !file.is_file() || !name.ends_with(".json") {
            continue;
        }
        let mut bytes = Vec::with_capacity(file.size().min(64 << 20) as usize);
        file.read_to_end(&mut bytes)
            .map_err(|source| FeedError::Zip {
                feed,
                what: format!("{what}:{name}"),
                source: zip::result::ZipError::Io(source),
            })?;
        out.push((name, bytes));
    }
    Ok(out)
}

/// One OSV record or an array of them, checked against the record shape.
fn osv_values(feed: FeedName, data: &[u8], what: &str) -> Result<Vec<OsvRecord>, FeedError> {
    let parse = |source| FeedError::Parse {
        feed,
        what: what.to_string(),
        source,
    };
    let value: serde_json::Value = serde_json::from_slice(data).map_err(parse)?;
    if value.is_array() {
        serde_json::from_value(value).map_err(parse)
    } else {
        Ok(vec![serde_json::from_value(value).map_err(parse)?])
    }
}

fn osv_output(feed: FeedName, records: Vec<OsvRecord>, what: &str) -> Result<Vec<u8>, FeedError> {
    let ecosystem = feed
        .ecosystem()
        .map(Ecosystem::osv_name)
        .unwrap_or_default();
    let records: Vec<OsvRecord> = records
        .into_iter()
        .filter(|r| r.affected.iter().any(|a| a.package.ecosystem == ecosystem))
        .collect();
    if records.is_empty() {
        return Err(FeedError::Empty {
            feed,
            what: what.to_string(),
        });
    }
    serde_json::to_vec(&records).map_err(|source| FeedError::Parse {
        feed,
        what: what.to_string(),
        source,
    })
}

/// Adds the advisories of one working-group file: `index.json` holds all of them, `<n>.json`
/// holds advisory `n`.
fn node_entries(
    feed: FeedName,
    name: &str,
    data: &[u8],
    index: &mut BTreeMap<String, NodeAdvisory>,
) -> Result<(), FeedError> {
    let parse = |source| FeedError::Parse {
        feed,
        what: name.to_string(),
        source,
    };
    let base = name.rsplit('/').next().unwrap_or(name);
    let stem = base.trim_end_matches(".json");
    if stem == "index" {
        let all: BTreeMap<String, NodeAdvisory> = serde_json::from_slice(data).map_err(parse)?;
        index.extend(all);
    } else if stem.chars().all(|c| c.is_ascii_digit()) && !stem.is_empty() {
        let advisory: NodeAdvisory = serde_json::from_slice(data).map_err(parse)?;
        index.insert(stem.to_string(), advisory);
    }
    Ok(())
}

fn node_output(
    feed: FeedName,
    index: BTreeMap<String, NodeAdvisory>,
    what: &str,
) -> Result<Vec<u8>, FeedError> {
    if index.is_empty() {
        return Err(FeedError::Empty {
            feed,
            what: what.to_string(),
        });
    }
    NodeFeed::new(index.clone()).map_err(|source| FeedError::Range { feed, source })?;
    serde_json::to_vec(&index).map_err(|source| FeedError::Parse {
        feed,
        what: what.to_string(),
        source,
    })
}

/// The feeds a scan matches against, parsed.
#[derive(Debug, Default)]
pub struct Feeds {
    pub debian: Option<DebianFeed>,
    pub npm: Option<OsvFeed>,
    pub crates: Option<OsvFeed>,
    pub nodejs: Option<NodeFeed>,
}

impl Feeds {
    /// Parses one stored feed into place; `release` is the Debian codename to keep.
    pub fn load(&mut self, feed: FeedName, data: &[u8], release: &str) -> Result<(), FeedError> {
        let what = format!("stored {feed} data");
        let parse = |source| FeedError::Parse {
            feed,
            what: what.clone(),
            source,
        };
        match feed {
            FeedName::Debian => {
                self.debian = Some(DebianFeed::parse(data, release).map_err(parse)?);
            }
            FeedName::OsvNpm | FeedName::OsvCrates => {
                let records: Vec<OsvRecord> = serde_json::from_slice(data).map_err(parse)?;
                let ecosystem = feed.ecosystem().unwrap_or(Ecosystem::Npm);
                let parsed = Some(OsvFeed::new(ecosystem, records));
                if feed == FeedName::OsvNpm {
                    self.npm = parsed;
                } else {
                    self.crates = parsed;
                }
            }
            FeedName::Nodejs => {
                let index: BTreeMap<String, NodeAdvisory> =
                    serde_json::from_slice(data).map_err(parse)?;
                self.nodejs =
                    Some(NodeFeed::new(index).map_err(|source| FeedError::Range { feed, source })?);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osv_import_keeps_only_its_ecosystem() {
        let data = br#"[
            {"id": "A", "affected": [{"package": {"ecosystem": "npm", "name": "x"}}]},
            {"id": "B", "affected": [{"package": {"ecosystem": "PyPI", "name": "y"}}]}]"#;
        let out = normalise(FeedName::OsvNpm, data, "test").unwrap();
        let records: Vec<OsvRecord> = serde_json::from_slice(&out).unwrap();
        assert_eq!(records.len(), 1);
        assert!(matches!(
            normalise(FeedName::OsvCrates, data, "test"),
            Err(FeedError::Empty { .. })
        ));
    }

    #[test]
    fn corrupt_data_is_refused() {
        for feed in FeedName::ALL {
            assert!(normalise(feed, b"{\"truncated", "test").is_err(), "{feed}");
        }
    }
}
