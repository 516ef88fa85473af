//! The scan as a table, grouped by source package, ending in a one-line verdict.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::ScanReport;
use crate::vuln::gate::{Disposition, Judged};

const INSTRUCTION_WIDTH: usize = 70;

pub fn render(report: &ScanReport) -> String {
    let mut out = String::new();
    let verdict = &report.verdict;
    let _ = writeln!(out, "image: {}", report.image.reference);
    if let Some(release) = &report.release {
        let _ = writeln!(out, "debian release: {release}");
    }
    for feed in &report.feeds {
        let age = humantime::format_duration(std::time::Duration::from_secs(
            feed.age(report.scanned_at).as_secs(),
        ));
        let _ = writeln!(
            out,
            "feed {}: fetched {} ago from {}",
            feed.feed, age, feed.source
        );
    }
    let mut groups: BTreeMap<(&str, &str), Vec<&Judged>> = BTreeMap::new();
    for judged in &verdict.findings {
        let p = &judged.finding.package;
        let version = p.source_version.as_deref().unwrap_or(&p.version);
        groups
            .entry((p.group_name(), version))
            .or_default()
            .push(judged);
    }
    if !groups.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "  {:<20} {:<10} {:<16} {:<32} DEBIAN STATUS",
            "VULNERABILITY", "SEVERITY", "GATE", "FIXED IN"
        );
    }
    for ((name, version), items) in &groups {
        let mut binaries: Vec<&str> = items
            .iter()
            .map(|j| j.finding.package.name.as_str())
            .collect();
        binaries.sort_unstable();
        binaries.dedup();
        let layer = &items[0].finding.package.layer;
        let _ = writeln!(out);
        let _ = writeln!(out, "{name} {version}  [{}]", binaries.join(", "));
        let _ = writeln!(
            out,
            "  layer {}: {}",
            layer.index,
            shorten(&layer.instruction, INSTRUCTION_WIDTH)
        );
        let mut seen: Vec<&str> = Vec::new();
        for judged in items {
            let f = &judged.finding;
            if seen.contains(&f.id.as_str()) {
                continue;
            }
            seen.push(&f.id);
            let fix = match (&f.fixed_version, f.fix_available) {
                (Some(v), true) => v.clone(),
                (Some(v), false) => format!("{v} (pending)"),
                (None, _) => "-".to_string(),
            };
            let status = f
                .debian
                .as_ref()
                .map(|d| d.summary.clone())
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {:<20} {:<10} {:<16} {:<32} {}",
                f.id,
                f.severity.as_str(),
                judged.disposition.label(),
                shorten(&fix, 32),
                status
            );
            if let Disposition::Accepted { by, reason, .. } = &judged.disposition {
                let _ = writeln!(out, "    accepted by {by}: {reason}");
            }
            if let Some(n) = judged.expired_entry {
                let _ = writeln!(out, "    allow-list entry {n} expired");
            }
        }
    }
    let _ = writeln!(out);
    for e in &verdict.expired {
        let _ = writeln!(
            out,
            "allow-list entry {} ({}) EXPIRED on {}: review it again",
            e.number, e.id, e.expires
        );
    }
    for e in &verdict.stale {
        let _ = writeln!(
            out,
            "allow-list entry {} ({}) is stale: it matches nothing in this image",
            e.number, e.id
        );
    }
    for f in &verdict.fixable {
        let _ = writeln!(
            out,
            "allow-list entry {} ({}) accepts a risk that now has a fix; take it: {}",
            f.entry.number,
            f.entry.id,
            f.fixes.join(", ")
        );
    }
    let _ = writeln!(out, "{}", verdict.summary);
    out
}

fn shorten(text: &str, width: usize) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() <= width {
        text
    } else {
        let cut: String = text.chars().take(width.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}
