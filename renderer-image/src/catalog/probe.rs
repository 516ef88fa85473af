//! Decisions made while a layer streams past: which files to keep, and what to learn from
//! executables before their bytes are gone.

use memchr::memmem;

/// What an executable told us about itself.
#[derive(Debug, Default, Clone)]
pub struct ExecFacts {
    /// Hex SHA-256 of the file content.
    pub sha256: String,
    pub elf: bool,
    /// Set when the file is named like the Node.js runtime and embeds its release string.
    pub node_version: Option<String>,
    /// Set when the file is named like a Chrome or Chromium browser binary.
    pub chromium: Option<ChromiumFacts>,
    /// Crates recorded by `cargo auditable`, if the binary carries that section.
    pub cargo_crates: Option<Vec<EmbeddedCrate>>,
}

#[derive(Debug, Clone)]
pub struct ChromiumFacts {
    /// The browser version, if the binary states it.
    pub version: Option<String>,
}

/// A crate recorded in a binary's `cargo auditable` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedCrate {
    pub name: String,
    pub version: String,
    /// Build dependencies and proc macros are not linked into the binary.
    pub runtime: bool,
    /// From crates.io rather than a path, git or other source.
    pub from_registry: bool,
}

/// Names under which Chrome and Chromium builds ship their main binary.
const CHROMIUM_NAMES: &[&str] = &[
    "chrome",
    "chromium",
    "chromium-browser",
    "headless_shell",
    "chrome-headless-shell",
];

/// Whether a catalogue needs this file's content.
pub fn wants_content(path: &str) -> bool {
    if matches!(
        path,
        "var/lib/dpkg/status" | "etc/os-release" | "usr/lib/os-release" | "etc/debian_version"
    ) {
        return true;
    }
    if let Some(rest) = path.strip_prefix("var/lib/dpkg/status.d/") {
        return !rest.contains('/');
    }
    if let Some(rest) = path.strip_prefix("var/lib/dpkg/info/") {
        return !rest.contains('/') && rest.ends_with(".list");
    }
    is_npm_package_manifest(path)
}

/// `…/node_modules/<name>/package.json` or `…/node_modules/@scope/<name>/package.json`.
pub fn is_npm_package_manifest(path: &str) -> bool {
    let parts: Vec<&str> = path.rsplitn(5, '/').collect();
    if parts.first() != Some(&"package.json") || parts.len() < 3 {
        return false;
    }
    if parts[2] == "node_modules" && !parts[1].starts_with('@') {
        return true;
    }
    parts.len() >= 4 && parts[3] == "node_modules" && parts[2].starts_with('@')
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Looks inside an ELF binary held in memory.
pub fn probe_elf(path: &str, bytes: &[u8], sha256: String) -> ExecFacts {
    let name = file_name(path);
    let node_version = matches!(name, "node" | "nodejs")
        .then(|| version_after(bytes, b"node.js/v", 3))
        .flatten();
    let chromium = CHROMIUM_NAMES.contains(&name).then(|| ChromiumFacts {
        version: version_after(bytes, b"Chrome/", 4).or_else(|| chromium_version_string(bytes)),
    });
    ExecFacts {
        sha256,
        elf: true,
        node_version,
        chromium,
        cargo_crates: cargo_crates(bytes),
    }
}

/// Finds `marker` followed by a dotted version of exactly `parts` numbers.
fn version_after(bytes: &[u8], marker: &[u8], parts: usize) -> Option<String> {
    for at in memmem::find_iter(bytes, marker) {
        let tail = &bytes[at + marker.len()..];
        let len = tail
            .iter()
            .take(64)
            .take_while(|b| b.is_ascii_digit() || **b == b'.')
            .count();
        let candidate = std::str::from_utf8(&tail[..len])
            .unwrap_or("")
            .trim_end_matches('.');
        let numbers: Vec<&str> = candidate.split('.').collect();
        if numbers.len() == parts && numbers.iter().all(|n| !n.is_empty()) {
            return Some(candidate.to_string());
        }
    }
    None
}

/// Chromium builds its user agent at run time, but keeps its version as a bare string
/// (`156.0.8078.114`): NUL-delimited, a two- or three-digit major, then `.0.`, the build
/// and the patch number. The most frequent such string wins.
fn chromium_version_string(bytes: &[u8]) -> Option<String> {
    let mut counts: std::collections::HashMap<&[u8], usize> = std::collections::HashMap::new();
    for at in memmem::find_iter(bytes, b".0.") {
        let start = bytes[..at]
            .iter()
            .rev()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let start = at - start;
        let end = at
            + 3
            + bytes[at + 3..]
                .iter()
                .take(16)
                .take_while(|b| b.is_ascii_digit() || **b == b'.')
                .count();
        let bounded = start > 0 && bytes[start - 1] == 0 && bytes.get(end) == Some(&0);
        let candidate = &bytes[start..end];
        if bounded && is_chromium_version(candidate) {
            *counts.entry(candidate).or_default() += 1;
        }
    }
    let (best, _) = counts.into_iter().max_by_key(|(v, n)| (*n, v.len()))?;
    Some(String::from_utf8_lossy(best).into_owned())
}

fn is_chromium_version(s: &[u8]) -> bool {
    let parts: Vec<&[u8]> = s.split(|b| *b == b'.').collect();
    let digits =
        |p: &[u8], min, max| (min..=max).contains(&p.len()) && p.iter().all(u8::is_ascii_digit);
    parts.len() == 4
        && digits(parts[0], 2, 3)
        && parts[1] == b"0"
        && digits(parts[2], 4, 5)
        && digits(parts[3], 1, 4)
}

fn cargo_crates(bytes: &[u8]) -> Option<Vec<EmbeddedCrate>> {
    let info = auditable_info::audit_info_from_slice(bytes, 8 << 20).ok()?;
    let crates = info
        .packages
        .into_iter()
        .map(|p| EmbeddedCrate {
            runtime: p.kind == auditable_serde::DependencyKind::Runtime,
            from_registry: p.source == auditable_serde::Source::CratesIo,
            name: p.name,
            version: p.version.to_string(),
        })
        .collect();
    Some(crates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_package_databases_and_package_roots() {
        for path in [
            "var/lib/dpkg/status",
            "var/lib/dpkg/status.d/libc6",
            "var/lib/dpkg/info/bash.list",
            "usr/lib/node_modules/npm/package.json",
            "app/node_modules/@scope/pkg/package.json",
            "app/node_modules/a/node_modules/b/package.json",
        ] {
            assert!(wants_content(path), "{path}");
        }
        for path in [
            "var/lib/dpkg/info/bash.md5sums",
            "app/package.json",
            "app/node_modules/a/lib/package.json",
            "app/node_modules/@scope/package.json",
        ] {
            assert!(!wants_content(path), "{path}");
        }
    }

    #[test]
    fn reads_dotted_version_after_marker() {
        let blob = b"xx node.js/v1 node.js/v20.20.2\0rest";
        assert_eq!(
            version_after(blob, b"node.js/v", 3).as_deref(),
            Some("20.20.2")
        );
        assert_eq!(
            version_after(b"Chrome/120.0.6099.1 ", b"Chrome/", 4).as_deref(),
            Some("120.0.6099.1")
        );
    }

    #[test]
    fn finds_bare_chromium_version_string() {
        let blob = b"x\x001.0.0.1\x00156.0.8078.114\x00v8 12.0.1234.5a\x00156.0.8078.114\x00";
        assert_eq!(
            chromium_version_string(blob).as_deref(),
            Some("156.0.8078.114")
        );
        assert_eq!(chromium_version_string(b"\x0010.1.2.3\x00"), None);
    }
}
