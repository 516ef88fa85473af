//! The scan as a CycloneDX 1.5 VEX document: the packages with findings as components, and
//! one vulnerability per finding with its analysis.
//!
//! Analysis states: a finding the allow-list accepts is `not_affected` with the entry's
//! reason; one Debian decided not to fix and the policy accepts is `exploitable` with the
//! response `will_not_fix`; every other finding is `in_triage`, with `update` as the
//! response when a fix can be installed.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::ScanReport;
use crate::vuln::Severity;
use crate::vuln::gate::Disposition;

pub fn render(report: &ScanReport) -> Result<String, serde_json::Error> {
    let mut components: Vec<Value> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    let mut vulnerabilities = Vec::new();
    for judged in &report.verdict.findings {
        let f = &judged.finding;
        let p = &f.package;
        if !seen.contains(&p.purl.as_str()) {
            seen.push(&p.purl);
            components.push(json!({
                "type": "library", "bom-ref": p.purl, "name": p.name,
                "version": p.version, "purl": p.purl,
            }));
        }
        let severity = match f.severity {
            Severity::Negligible => "info",
            s => s.as_str(),
        };
        let mut rating = json!({"severity": severity});
        if let Some(score) = f.cvss_score {
            rating["score"] = json!(score);
            rating["method"] = json!("CVSSv31");
        } else {
            rating["method"] = json!("other");
        }
        let analysis = match &judged.disposition {
            Disposition::Accepted { by, reason, .. } if by.starts_with("allow-list") => {
                json!({"state": "not_affected", "detail": format!("{by}: {reason}")})
            }
            Disposition::Accepted { by, reason, .. } => json!({
                "state": "exploitable", "response": ["will_not_fix"],
                "detail": format!("{by}: {reason}"),
            }),
            _ if f.fix_available => json!({"state": "in_triage", "response": ["update"]}),
            _ => json!({"state": "in_triage"}),
        };
        let source = match f.feed {
            crate::vuln::feeds::FeedName::Debian => json!({
                "name": "Debian Security Tracker",
                "url": format!("https://security-tracker.debian.org/tracker/{}", f.id),
            }),
            other => json!({"name": other.as_str()}),
        };
        vulnerabilities.push(json!({
            "bom-ref": format!("{}/{}", f.id, p.purl),
            "id": f.id,
            "source": source,
            "ratings": [rating],
            "analysis": analysis,
            "affects": [{"ref": p.purl}],
        }));
    }
    let mut hasher = Sha256::new();
    hasher.update(report.image.id.as_bytes());
    hasher.update(report.scanned_at.to_rfc3339().as_bytes());
    let h = hasher.finalize();
    let hex: String = h[..16].iter().map(|b| format!("{b:02x}")).collect();
    let uuid = format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    );
    let doc = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": format!("urn:uuid:{uuid}"),
        "version": 1,
        "metadata": {
            "timestamp": report.scanned_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "tools": {"components": [{"type": "application", "name": "renderer-image",
                                      "version": env!("CARGO_PKG_VERSION")}]},
            "component": {"type": "container", "bom-ref": report.image.id,
                          "name": report.image.reference},
        },
        "components": components,
        "vulnerabilities": vulnerabilities,
    });
    Ok(serde_json::to_string_pretty(&doc)? + "\n")
}
