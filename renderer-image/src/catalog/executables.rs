//! Executables nothing else accounts for, so that an unknown binary can be traced by hash.

use std::collections::HashSet;

use crate::image::layers::{MergedView, NodeKind};
use crate::inventory::Executable;

/// Regular files with an execute bit that no package owns and no catalogue claimed.
///
/// Files inside `node_modules` belong to their npm package, and dpkg's maintainer scripts
/// belong to dpkg's own database.
pub fn unaccounted(view: &MergedView, accounted: &HashSet<String>) -> Vec<Executable> {
    let mut out = Vec::new();
    for (path, node) in view.iter() {
        let NodeKind::File(facts) = &node.kind else {
            continue;
        };
        let Some(exec) = &facts.exec else { continue };
        if accounted.contains(path)
            || path.contains("node_modules/")
            || path.starts_with("var/lib/dpkg/")
        {
            continue;
        }
        out.push(Executable {
            path: format!("/{path}"),
            sha256: exec.sha256.clone(),
            size: facts.size,
            elf: exec.elf,
            layer: node.layer,
        });
    }
    out
}
