//! Debian packages, from dpkg's status database (`var/lib/dpkg/status`) and the one-file-per-
//! package form distroless images use (`var/lib/dpkg/status.d/<name>`).

use std::collections::{HashMap, HashSet};

use crate::image::layers::{MergeError, MergedView};

/// Why the dpkg database could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DpkgError {
    #[error("{file}:{line}: malformed status entry: {reason}")]
    Malformed {
        file: String,
        line: usize,
        reason: String,
    },
    #[error("resolving {path}")]
    Resolve {
        path: String,
        #[source]
        source: MergeError,
    },
}

/// One installed binary package as dpkg records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebRecord {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// The source package; the binary's own name when the `Source:` field is absent.
    pub source_name: String,
    /// The source version; the binary's version unless `Source:` names its own.
    pub source_version: String,
    /// The database file the record came from.
    pub file: String,
}

const STATUS: &str = "var/lib/dpkg/status";
const STATUS_D: &str = "var/lib/dpkg/status.d/";

/// Reads every package dpkg considers installed (`install ok installed`).
pub fn installed(view: &MergedView) -> Result<Vec<DebRecord>, DpkgError> {
    let mut out = Vec::new();
    let resolve = |source| DpkgError::Resolve {
        path: STATUS.into(),
        source,
    };
    if let Some(text) = view.read(STATUS).map_err(resolve)? {
        out.extend(parse_status(&String::from_utf8_lossy(text), STATUS)?);
    }
    for (path, _) in view.with_prefix(STATUS_D) {
        let name = &path[STATUS_D.len()..];
        if name.contains('/') || name.ends_with(".md5sums") {
            continue;
        }
        if let Some(text) = view.read(path).map_err(resolve)? {
            out.extend(parse_status(&String::from_utf8_lossy(text), path)?);
        }
    }
    Ok(out)
}

/// Parses a status file and keeps the installed packages.
pub fn parse_status(text: &str, file: &str) -> Result<Vec<DebRecord>, DpkgError> {
    let mut out = Vec::new();
    let mut fields: HashMap<String, String> = HashMap::new();
    let mut last: Option<String> = None;
    let mut start = 1;
    let malformed = |line, reason: &str| DpkgError::Malformed {
        file: file.into(),
        line,
        reason: reason.into(),
    };
    for (n, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l)) {
        if line.trim().is_empty() {
            if !fields.is_empty() {
                out.extend(record(&fields, file, start)?);
            }
            fields.clear();
            last = None;
            start = n + 1;
            continue;
        }
        if line.starts_with([' ', '\t']) {
            let Some(key) = &last else {
                return Err(malformed(n, "continuation line without a field"));
            };
            if let Some(v) = fields.get_mut(key) {
                v.push('\n');
                v.push_str(line.trim());
            }
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(malformed(n, "line is neither a field nor a continuation"));
        };
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(malformed(n, "field name is empty or has spaces"));
        }
        fields.insert(key.to_ascii_lowercase(), value.trim().to_string());
        last = Some(key.to_ascii_lowercase());
    }
    if !fields.is_empty() {
        out.extend(record(&fields, file, start)?);
    }
    Ok(out)
}

fn record(
    fields: &HashMap<String, String>,
    file: &str,
    line: usize,
) -> Result<Option<DebRecord>, DpkgError> {
    let malformed = |reason: &str| DpkgError::Malformed {
        file: file.into(),
        line,
        reason: reason.into(),
    };
    let name = fields
        .get("package")
        .ok_or_else(|| malformed("entry has no Package field"))?;
    // Distroless status.d entries carry no Status field: their presence means installed.
    let status = fields
        .get("status")
        .map(String::as_str)
        .unwrap_or("install ok installed");
    if status.split_whitespace().collect::<Vec<_>>() != ["install", "ok", "installed"] {
        return Ok(None);
    }
    let version = fields
        .get("version")
        .ok_or_else(|| malformed("installed entry has no Version"))?;
    if version.is_empty() || version.contains(char::is_whitespace) {
        return Err(malformed("version is empty or has spaces"));
    }
    let architecture = fields.get("architecture").cloned().unwrap_or_default();
    let (source_name, source_version) = match fields.get("source") {
        Some(src) => match src.split_once('(') {
            Some((n, v)) => (
                n.trim().to_string(),
                v.trim().trim_end_matches(')').trim().to_string(),
            ),
            None => (src.trim().to_string(), version.clone()),
        },
        None => (name.clone(), version.clone()),
    };
    Ok(Some(DebRecord {
        name: name.clone(),
        version: version.clone(),
        architecture,
        source_name,
        source_version,
        file: file.into(),
    }))
}

/// Canonical paths of every file a package owns, from `info/*.list` and `status.d/*.md5sums`.
pub fn owned_paths(view: &MergedView) -> Result<HashSet<String>, DpkgError> {
    let mut parents: HashMap<String, String> = HashMap::new();
    let mut owned = HashSet::new();
    let mut add = |path: &str| -> Result<(), DpkgError> {
        let path = path.trim().trim_start_matches('/');
        let (dir, base) = path.rsplit_once('/').unwrap_or(("", path));
        if base.is_empty() {
            return Ok(());
        }
        let canonical_dir = match parents.get(dir) {
            Some(c) => c.clone(),
            None => {
                let c = view.canonical(dir).map_err(|source| DpkgError::Resolve {
                    path: dir.into(),
                    source,
                })?;
                parents.insert(dir.to_string(), c.clone());
                c
            }
        };
        owned.insert(if canonical_dir.is_empty() {
            base.to_string()
        } else {
            format!("{canonical_dir}/{base}")
        });
        Ok(())
    };
    for (path, node) in view.with_prefix("var/lib/dpkg/info/") {
        if !path.ends_with(".list") {
            continue;
        }
        if let crate::image::layers::NodeKind::File(f) = &node.kind {
            for line in String::from_utf8_lossy(f.content.as_deref().unwrap_or(&[])).lines() {
                add(line)?;
            }
        }
    }
    for (path, _) in view.with_prefix(STATUS_D) {
        if !path.ends_with(".md5sums") {
            continue;
        }
        if let Some(text) = view.read(path).ok().flatten() {
            for line in String::from_utf8_lossy(text).lines() {
                if let Some((_, file)) = line.split_once("  ") {
                    add(file)?;
                }
            }
        }
    }
    Ok(owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS_TEXT: &str = "\
Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: 2.36-9+deb12u10
Description: GNU C Library
 continuation line

Package: bsdutils
Status: install ok installed
Architecture: amd64
Source: util-linux (2.38.1-5+deb12u3)
Version: 1:2.38.1-5+deb12u3

Package: removed
Status: deinstall ok config-files
Version: 1.0

Package: tzdata
Status: install ok installed
Architecture: all
Version: 2025b-0+deb12u1
";

    #[test]
    fn keeps_installed_packages_with_their_source() {
        let pkgs = parse_status(STATUS_TEXT, "status").unwrap();
        let names: Vec<_> = pkgs.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["libc6", "bsdutils", "tzdata"]);
        assert_eq!(
            (
                pkgs[0].source_name.as_str(),
                pkgs[0].source_version.as_str()
            ),
            ("glibc", "2.36-9+deb12u10")
        );
        assert_eq!(
            (
                pkgs[1].source_name.as_str(),
                pkgs[1].source_version.as_str()
            ),
            ("util-linux", "2.38.1-5+deb12u3")
        );
        assert_eq!(pkgs[2].source_name, "tzdata");
    }

    #[test]
    fn malformed_status_names_file_and_line() {
        let err =
            parse_status("Package: a\nStatus: install ok installed\ngarbage\n", "s").unwrap_err();
        assert_eq!(
            err.to_string(),
            "s:3: malformed status entry: line is neither a field nor a continuation"
        );
        let err = parse_status("Package: a\nStatus: install ok installed\n", "s").unwrap_err();
        assert!(err.to_string().contains("no Version"));
    }
}
