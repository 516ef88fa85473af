//! Runtimes installed as bare binaries: the Node.js runtime (`node:*-slim` copies it to
//! `/usr/local/bin/node`) and Chrome or Chromium builds no package owns. A binary a package
//! owns is already listed as that package, so it is not listed twice.

use std::collections::HashSet;

use super::PackageRecord;
use crate::image::layers::{MergedView, NodeKind};
use crate::inventory::PackageKind;

/// Node.js and Chromium binaries no package owns.
pub fn unpackaged(view: &MergedView, owned: &HashSet<String>) -> Vec<PackageRecord> {
    let mut out = Vec::new();
    for (path, node) in view.iter() {
        let NodeKind::File(facts) = &node.kind else {
            continue;
        };
        let Some(exec) = &facts.exec else { continue };
        if owned.contains(path) {
            continue;
        }
        let record = |kind, name: &str, version: &str| PackageRecord {
            kind,
            name: name.to_string(),
            version: version.to_string(),
            path: path.clone(),
            deb: None,
            cargo: None,
            sha256: Some(exec.sha256.clone()),
        };
        if let Some(version) = &exec.node_version {
            out.push(record(PackageKind::NodeRuntime, "node", version));
        }
        if let Some(chromium) = &exec.chromium {
            let name = if path.contains("google/chrome") || path.ends_with("/chrome") {
                "chrome"
            } else {
                "chromium"
            };
            let version = chromium.version.as_deref().unwrap_or("unknown");
            out.push(record(PackageKind::Chromium, name, version));
        }
    }
    out
}
