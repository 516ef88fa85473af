//! npm packages: every package root under a `node_modules` directory, nested and scoped ones
//! included, wherever it sits (an application tree or npm's own bundled dependencies).

use serde::Deserialize;

use super::PackageRecord;
use super::probe::is_npm_package_manifest;
use crate::image::layers::{MergedView, NodeKind};
use crate::inventory::PackageKind;

#[derive(Deserialize)]
struct Manifest {
    name: Option<String>,
    version: Option<String>,
}

/// Lists package roots whose `package.json` names a version.
///
/// A manifest that is not valid JSON or has no version is not a package npm could have
/// installed, so it is skipped rather than failing the inventory.
pub fn packages(view: &MergedView) -> Vec<PackageRecord> {
    let mut out = Vec::new();
    for (path, node) in view.iter() {
        if !path.ends_with("/package.json") || !is_npm_package_manifest(path) {
            continue;
        }
        let NodeKind::File(facts) = &node.kind else {
            continue;
        };
        let Some(content) = facts.content.as_deref() else {
            continue;
        };
        let Ok(manifest) = serde_json::from_slice::<Manifest>(content) else {
            continue;
        };
        let Some(version) = manifest.version.filter(|v| !v.is_empty()) else {
            continue;
        };
        let name = manifest
            .name
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| name_from_path(path));
        out.push(PackageRecord {
            kind: PackageKind::Npm,
            name,
            version,
            path: path.clone(),
            deb: None,
            cargo: None,
            sha256: None,
        });
    }
    out
}

/// `…/node_modules/@scope/name/package.json` → `@scope/name`.
fn name_from_path(path: &str) -> String {
    let dir = path.trim_end_matches("/package.json");
    let (_, after) = dir.rsplit_once("node_modules/").unwrap_or(("", dir));
    after.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_packages_from_their_path() {
        assert_eq!(name_from_path("a/node_modules/@s/p/package.json"), "@s/p");
        assert_eq!(
            name_from_path("a/node_modules/x/node_modules/y/package.json"),
            "y"
        );
    }
}
