//! The scan as SARIF 2.1.0, for code-scanning dashboards.
//!
//! One rule per vulnerability id (`ruleId` is the id), one result per finding. A result is
//! located at the Dockerfile instruction that brought the package in when a Dockerfile is
//! given and the layer's history entry can be found in it, else at the image itself, with
//! the layer as a logical location. Accepted findings carry an external suppression with the
//! acceptance's reason, so dashboards show them as reviewed rather than dropping them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_sarif::sarif::{
    ArtifactLocation, Location, LogicalLocation, Message, MultiformatMessageString,
    PhysicalLocation, PropertyBag, Region, ReportingDescriptor, Result as SarifResult, ResultLevel,
    Run, Sarif, Suppression, Tool, ToolComponent,
};

use super::ScanReport;
use crate::vuln::Severity;
use crate::vuln::gate::Disposition;

pub fn render(
    report: &ScanReport,
    dockerfile: Option<&(PathBuf, String)>,
) -> Result<String, serde_json::Error> {
    let instructions = dockerfile
        .map(|(_, text)| instructions(text))
        .unwrap_or_default();
    let mut rules: BTreeMap<String, ReportingDescriptor> = BTreeMap::new();
    let mut results = Vec::new();
    for judged in &report.verdict.findings {
        let f = &judged.finding;
        rules.entry(f.id.clone()).or_insert_with(|| {
            let text = f.title.clone().unwrap_or_else(|| f.id.clone());
            let mut props = BTreeMap::new();
            props.insert("security-severity".to_string(), security_severity(f).into());
            ReportingDescriptor::builder()
                .id(f.id.clone())
                .short_description(MultiformatMessageString::builder().text(text).build())
                .help_uri(help_uri(&f.id))
                .properties(
                    PropertyBag::builder()
                        .tags(vec!["security".to_string(), "vulnerability".to_string()])
                        .additional_properties(props)
                        .build(),
                )
                .build()
        });
        let p = &f.package;
        let fix = match (&f.fixed_version, f.fix_available) {
            (Some(v), true) => format!("fixed in {v}"),
            (Some(v), false) => format!("fixed in {v}, not yet installable"),
            (None, _) => "no fix yet".to_string(),
        };
        let text = format!(
            "{} in {} {} (source {} {}): {} severity, {}; layer {}: {}",
            f.id,
            p.name,
            p.version,
            p.group_name(),
            p.source_version.as_deref().unwrap_or(&p.version),
            f.severity,
            fix,
            p.layer.index,
            p.layer.instruction.trim()
        );
        let level = match judged.disposition {
            Disposition::Failing => ResultLevel::Error,
            Disposition::Accepted { .. } => ResultLevel::Note,
            _ => ResultLevel::Warning,
        };
        let line = instructions
            .iter()
            .find(|i| same_instruction(&i.text, &p.layer.instruction))
            .map(|i| i.line);
        let location = match (dockerfile, line) {
            (Some((path, _)), Some(line)) => Location::builder()
                .physical_location(
                    PhysicalLocation::builder()
                        .artifact_location(
                            ArtifactLocation::builder()
                                .uri(uri(&path.to_string_lossy()))
                                .build(),
                        )
                        .region(Region::builder().start_line(line as i64).build())
                        .build(),
                )
                .build(),
            _ => Location::builder()
                .physical_location(
                    PhysicalLocation::builder()
                        .artifact_location(
                            ArtifactLocation::builder()
                                .uri(uri(&report.image.reference))
                                .build(),
                        )
                        .build(),
                )
                .logical_locations(vec![
                    LogicalLocation::builder()
                        .name(p.layer.diff_id.clone())
                        .kind("module".to_string())
                        .build(),
                ])
                .build(),
        };
        let mut result = SarifResult::builder()
            .rule_id(f.id.clone())
            .level(level)
            .message(Message::builder().text(text).build())
            .locations(vec![location])
            .build();
        if let Disposition::Accepted { by, reason, .. } = &judged.disposition {
            result.suppressions = Some(vec![
                Suppression::builder()
                    .kind(serde_json::json!("external"))
                    .justification(format!("{by}: {reason}"))
                    .build(),
            ]);
        }
        results.push(result);
    }
    let driver = ToolComponent::builder()
        .name("renderer-image".to_string())
        .version(env!("CARGO_PKG_VERSION").to_string())
        .rules(rules.into_values().collect::<Vec<_>>())
        .build();
    let run = Run::builder()
        .tool(Tool::builder().driver(driver).build())
        .results(results)
        .build();
    let sarif = Sarif::builder()
        .schema(serde_sarif::sarif::SCHEMA_URL.to_string())
        .version(serde_json::json!("2.1.0"))
        .runs(vec![run])
        .build();
    Ok(serde_json::to_string_pretty(&sarif)? + "\n")
}

/// The numeric severity code-scanning dashboards sort by.
fn security_severity(f: &crate::vuln::matcher::Finding) -> String {
    if let Some(score) = f.cvss_score {
        return format!("{score:.1}");
    }
    match f.severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "2.0",
        Severity::Negligible => "0.5",
        Severity::Unknown => "5.0",
    }
    .to_string()
}

fn help_uri(id: &str) -> String {
    if id.starts_with("CVE-") || id.starts_with("TEMP-") {
        format!("https://security-tracker.debian.org/tracker/{id}")
    } else if id.starts_with("RUSTSEC-") {
        format!("https://rustsec.org/advisories/{id}.html")
    } else {
        format!("https://osv.dev/vulnerability/{id}")
    }
}

/// Percent-encodes what a URI reference cannot hold as is.
fn uri(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One Dockerfile instruction with its continuation lines joined.
#[derive(Debug, PartialEq)]
struct Instruction {
    line: usize,
    text: String,
}

fn instructions(dockerfile: &str) -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut current: Option<Instruction> = None;
    for (i, raw) in dockerfile.lines().enumerate() {
        let line = raw.trim();
        if current.is_none() && (line.is_empty() || line.starts_with('#')) {
            continue;
        }
        if current.is_some() && line.starts_with('#') {
            continue;
        }
        let (body, continues) = match line.strip_suffix('\\') {
            Some(b) => (b, true),
            None => (line, false),
        };
        let item = current.get_or_insert(Instruction {
            line: i + 1,
            text: String::new(),
        });
        item.text.push_str(body);
        item.text.push(' ');
        if !continues {
            out.extend(current.take());
        }
    }
    out.extend(current);
    out
}

/// Whether a history `created_by` entry was made by a Dockerfile instruction.
///
/// The classic builder writes `/bin/sh -c #(nop)  COPY file:<hash> in /dest` or `/bin/sh -c
/// <command>` for RUN; BuildKit writes `RUN /bin/sh -c <command> # buildkit` and `COPY src
/// /dest # buildkit`. Both are reduced to the keyword and the words after it.
fn same_instruction(dockerfile: &str, created_by: &str) -> bool {
    let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    let mut history = created_by.trim();
    history = history.strip_suffix("# buildkit").unwrap_or(history).trim();
    history = history.strip_prefix("|").map_or(history, |h| {
        h.split_once(' ').map_or(h, |(_, rest)| rest).trim()
    });
    let mut keyword = "RUN";
    if let Some(rest) = history.strip_prefix("/bin/sh -c #(nop)") {
        history = rest.trim();
        keyword = "";
    } else if let Some(rest) = history.strip_prefix("RUN ") {
        history = rest.trim();
    }
    if let Some(rest) = history.strip_prefix("/bin/sh -c ") {
        history = rest.trim();
    }
    let docker = words(dockerfile);
    let Some((first, args)) = docker.split_first() else {
        return false;
    };
    let dkey = first.to_ascii_uppercase();
    let hist = words(history);
    if keyword.is_empty() {
        // `COPY file:<hash> in /dest`: compare the keyword and the destination.
        let Some((hkey, hargs)) = hist.split_first() else {
            return false;
        };
        return hkey.eq_ignore_ascii_case(&dkey)
            && (hargs.last() == args.last() || hargs.join(" ") == args.join(" "));
    }
    if let Some((hkey, hargs)) = hist.split_first()
        && hkey.eq_ignore_ascii_case(&dkey)
        && dkey != "RUN"
    {
        return hargs.last() == args.last();
    }
    dkey == "RUN" && hist == args
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKERFILE: &str = "FROM debian:bookworm\n\n# tools\nRUN apt-get update && \\\n    \
                              apt-get install -y curl\nCOPY app /usr/local/bin/app\n";

    #[test]
    fn joins_continuation_lines() {
        let list = instructions(DOCKERFILE);
        assert_eq!(list.len(), 3);
        assert_eq!(list[1].line, 4);
        assert_eq!(list[2].line, 6);
    }

    #[test]
    fn finds_classic_and_buildkit_history_entries() {
        let list = instructions(DOCKERFILE);
        let run = "/bin/sh -c apt-get update &&     apt-get install -y curl";
        assert!(same_instruction(&list[1].text, run));
        let bk = "RUN /bin/sh -c apt-get update && apt-get install -y curl # buildkit";
        assert!(same_instruction(&list[1].text, bk));
        let copy = "/bin/sh -c #(nop) COPY file:0a1b in /usr/local/bin/app ";
        assert!(same_instruction(&list[2].text, copy));
        assert!(!same_instruction(&list[1].text, copy));
        assert!(same_instruction(
            &list[2].text,
            "COPY app /usr/local/bin/app # buildkit"
        ));
    }
}
