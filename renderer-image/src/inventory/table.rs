//! The human-readable table.

use std::fmt::Write;

use super::{Inventory, PackageKind};

/// Renders the inventory as aligned text columns.
pub fn render(inv: &Inventory) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "image:  {} ({})", inv.image.reference, inv.image.id);
    if let Some(d) = &inv.distro {
        let release = d
            .point_release
            .as_deref()
            .or(d.version_id.as_deref())
            .unwrap_or("?");
        let codename = d.codename.as_deref().unwrap_or("?");
        let _ = writeln!(out, "distro: {} {release} ({codename})", d.id);
    }
    let _ = writeln!(out, "layers: {}", inv.layers.len());
    for l in &inv.layers {
        let _ = writeln!(
            out,
            "  {:>2}  {}  {}",
            l.index,
            short(&l.diff_id),
            clip(&l.instruction, 70)
        );
    }
    let _ = writeln!(out);
    let rows: Vec<[String; 5]> = inv
        .packages
        .iter()
        .map(|p| {
            let source = match &p.deb {
                Some(d) if d.source_name != p.name || d.source_version != p.version => {
                    format!("{} {}", d.source_name, d.source_version)
                }
                _ if p.kind != PackageKind::Deb => p.path.clone(),
                _ => String::new(),
            };
            [
                kind(p.kind).into(),
                p.name.clone(),
                p.version.clone(),
                p.layer.index.to_string(),
                source,
            ]
        })
        .collect();
    let header = ["TYPE", "NAME", "VERSION", "LAYER", "SOURCE / PATH"].map(String::from);
    let mut widths = [0usize; 5];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    let _ = writeln!(
        out,
        "\n{} packages, {} unaccounted executables",
        inv.packages.len(),
        inv.unaccounted_executables.len()
    );
    for e in &inv.unaccounted_executables {
        let _ = writeln!(
            out,
            "  {}  {}",
            short(&format!("sha256:{}", e.sha256)),
            e.path
        );
    }
    out
}

fn kind(k: PackageKind) -> &'static str {
    match k {
        PackageKind::Deb => "deb",
        PackageKind::NodeRuntime => "node",
        PackageKind::Chromium => "chromium",
        PackageKind::Npm => "npm",
        PackageKind::Cargo => "cargo",
    }
}

fn short(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    &hex[..hex.len().min(12)]
}

fn clip(s: &str, max: usize) -> String {
    let one_line = s.replace(['\n', '\t'], " ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        format!("{}…", one_line.chars().take(max - 1).collect::<String>())
    }
}
