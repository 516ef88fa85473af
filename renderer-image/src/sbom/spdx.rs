//! SPDX 2.3 JSON.
//!
//! No maintained crate writes SPDX 2.3, so the document is built here with serde. The image
//! is the described package; every inventory package is a package it contains, with its
//! package URL as a `PACKAGE-MANAGER` external reference.

use serde_json::{Value, json};

use crate::inventory::{Inventory, PackageKind};

/// Renders the inventory as an SPDX 2.3 JSON document.
pub fn render(inv: &Inventory) -> String {
    let created = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let id_hex = inv.image.id.trim_start_matches("sha256:");
    let mut packages = vec![json!({
        "SPDXID": "SPDXRef-Image",
        "name": inv.image.reference,
        "versionInfo": inv.image.id,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "CONTAINER",
        "checksums": [{"algorithm": "SHA256", "checksumValue": id_hex}],
    })];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": "SPDXRef-Image",
    })];
    for (i, p) in inv.packages.iter().enumerate() {
        let id = format!("SPDXRef-Package-{i}");
        let purpose = match p.kind {
            PackageKind::NodeRuntime | PackageKind::Chromium => "APPLICATION",
            _ => "LIBRARY",
        };
        let mut pkg = json!({
            "SPDXID": id,
            "name": p.name,
            "versionInfo": p.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "primaryPackagePurpose": purpose,
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": p.purl,
            }],
            "comment": format!(
                "found at {} in layer {} ({}): {}",
                p.path, p.layer.index, p.layer.diff_id, p.layer.instruction
            ),
        });
        if let Some(deb) = &p.deb {
            pkg["sourceInfo"] = Value::from(format!(
                "built from {} {}",
                deb.source_name, deb.source_version
            ));
        }
        if let Some(sha) = &p.sha256 {
            pkg["checksums"] = json!([{"algorithm": "SHA256", "checksumValue": sha}]);
        }
        packages.push(pkg);
        relationships.push(json!({
            "spdxElementId": "SPDXRef-Image",
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
    }
    let doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("inventory of {}", inv.image.reference),
        "documentNamespace": format!(
            "https://renderer-image.invalid/spdx/{id_hex}/{}",
            created.replace(':', "")
        ),
        "creationInfo": {
            "created": created,
            "creators": [format!("Tool: {}-{}", inv.generator.name, inv.generator.version)],
        },
        "documentDescribes": ["SPDXRef-Image"],
        "packages": packages,
        "relationships": relationships,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}
