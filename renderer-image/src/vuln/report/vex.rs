//! The allow-list as an OpenVEX 0.2.0 document, so Trivy and Grype users get the same
//! decisions (both read OpenVEX with `--vex`).
//!
//! Every unexpired entry becomes one `not_affected` statement whose impact statement is the
//! entry's reason. The product is the image (`pkg:oci/...@sha256:<image id>`); the
//! subcomponents are the package URLs, taken from the image's own inventory, of the packages
//! the entry applies to: those it matched in a scan, or, when no finding is at hand, those
//! its `package` key names. Expired entries are left out: they no longer stand.

use chrono::{DateTime, NaiveDate, Utc};
use packageurl::PackageUrl;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::inventory::Inventory;
use crate::vuln::allowlist::AllowList;
use crate::vuln::matcher::Finding;

/// Why no OpenVEX document could be made.
#[derive(Debug, thiserror::Error)]
pub enum VexError {
    #[error("the allow-list has no unexpired entries to state")]
    Empty,
    #[error("cannot serialise the document")]
    Json(#[from] serde_json::Error),
}

#[derive(Debug, Serialize)]
struct Document {
    #[serde(rename = "@context")]
    context: &'static str,
    #[serde(rename = "@id")]
    id: String,
    author: String,
    timestamp: String,
    version: u32,
    tooling: String,
    statements: Vec<Statement>,
}

#[derive(Debug, Serialize)]
struct Statement {
    vulnerability: Vulnerability,
    products: Vec<Component>,
    status: &'static str,
    impact_statement: String,
}

#[derive(Debug, Serialize)]
struct Vulnerability {
    name: String,
}

#[derive(Debug, Serialize)]
struct Component {
    #[serde(rename = "@id")]
    id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subcomponents: Vec<Subcomponent>,
}

#[derive(Debug, Serialize, PartialEq)]
struct Subcomponent {
    #[serde(rename = "@id")]
    id: String,
}

/// The package URL of the image: `pkg:oci/<name>@<image id>?tag=<tag>`.
pub fn image_purl(inv: &Inventory) -> String {
    let tagged = inv
        .image
        .repo_tags
        .first()
        .map(String::as_str)
        .unwrap_or("image");
    let (repo, tag) = match tagged.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, Some(t)),
        _ => (tagged, None),
    };
    let name = repo.rsplit('/').next().unwrap_or(repo).to_ascii_lowercase();
    let build = || -> Result<String, packageurl::Error> {
        let mut url = PackageUrl::new("oci", name.clone())?;
        url.with_version(inv.image.id.clone())?;
        if repo.contains('/') {
            url.add_qualifier("repository_url", repo.to_string())?;
        }
        if let Some(tag) = tag {
            url.add_qualifier("tag", tag.to_string())?;
        }
        Ok(url.to_string())
    };
    build().unwrap_or_else(|_| format!("pkg:oci/{name}"))
}

pub fn render(
    allow: &AllowList,
    inv: &Inventory,
    findings: &[Finding],
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<String, VexError> {
    let product = image_purl(inv);
    let mut statements = Vec::new();
    let mut authors: Vec<&str> = Vec::new();
    for entry in allow.entries.iter().filter(|e| !e.expired(today)) {
        let mut subs: Vec<Subcomponent> = Vec::new();
        let mut add = |purl: &str| {
            let sub = Subcomponent {
                id: purl.to_string(),
            };
            if !subs.contains(&sub) {
                subs.push(sub);
            }
        };
        let matched: Vec<&Finding> = findings.iter().filter(|f| entry.matches(f)).collect();
        for f in &matched {
            add(&f.package.purl);
        }
        if matched.is_empty()
            && let Some(name) = &entry.package
        {
            for p in &inv.packages {
                let source = p.deb.as_ref().map(|d| d.source_name.as_str());
                if &p.name == name || source == Some(name.as_str()) {
                    add(&p.purl);
                }
            }
        }
        if let Some(by) = entry.approved_by.as_deref()
            && !authors.contains(&by)
        {
            authors.push(by);
        }
        let mut impact = entry.reason.trim().to_string();
        if let Some(by) = &entry.approved_by {
            impact.push_str(&format!(" (approved by {by}, until {})", entry.expires));
        }
        statements.push(Statement {
            vulnerability: Vulnerability {
                name: entry.id.clone(),
            },
            products: vec![Component {
                id: product.clone(),
                subcomponents: subs,
            }],
            status: "not_affected",
            impact_statement: impact,
        });
    }
    if statements.is_empty() {
        return Err(VexError::Empty);
    }
    let timestamp = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut hasher = Sha256::new();
    hasher.update(product.as_bytes());
    hasher.update(serde_json::to_vec(&statements)?);
    let digest: String = hasher.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let doc = Document {
        context: "https://openvex.dev/ns/v0.2.0",
        id: format!("https://openvex.dev/docs/public/vex-{digest}"),
        author: if authors.is_empty() {
            "renderer-image".to_string()
        } else {
            authors.join(", ")
        },
        timestamp,
        version: 1,
        tooling: concat!("renderer-image ", env!("CARGO_PKG_VERSION")).to_string(),
        statements,
    };
    Ok(serde_json::to_string_pretty(&doc)? + "\n")
}
