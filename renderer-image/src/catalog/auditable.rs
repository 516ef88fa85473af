//! Rust binaries built with `cargo auditable`: the crates recorded in their `.dep-v0` section.

use super::PackageRecord;
use crate::image::layers::{MergedView, NodeKind};
use crate::inventory::{CargoDetails, PackageKind};

/// One record per crate embedded in each auditable binary.
pub fn crates(view: &MergedView) -> Vec<PackageRecord> {
    let mut out = Vec::new();
    for (path, node) in view.iter() {
        let NodeKind::File(facts) = &node.kind else {
            continue;
        };
        let Some(exec) = &facts.exec else { continue };
        let Some(crates) = &exec.cargo_crates else {
            continue;
        };
        for c in crates {
            out.push(PackageRecord {
                kind: PackageKind::Cargo,
                name: c.name.clone(),
                version: c.version.clone(),
                path: path.clone(),
                deb: None,
                cargo: Some(CargoDetails {
                    dependency_kind: if c.runtime { "runtime" } else { "build" }.into(),
                    from_registry: c.from_registry,
                }),
                sha256: Some(exec.sha256.clone()),
            });
        }
    }
    out
}
