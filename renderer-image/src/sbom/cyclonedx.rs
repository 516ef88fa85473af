//! CycloneDX 1.5 JSON, written through the CycloneDX project's own model crate.
//!
//! Layer attribution and the file each package was read from travel as component
//! properties, so nothing in the inventory is lost in the document.

use std::str::FromStr;

use cyclonedx_bom::external_models::normalized_string::NormalizedString;
use cyclonedx_bom::external_models::uri::Purl;
use cyclonedx_bom::models::bom::Bom;
use cyclonedx_bom::models::component::{Classification, Component, Components};
use cyclonedx_bom::models::hash::{Hash, HashAlgorithm, HashValue, Hashes};
use cyclonedx_bom::models::metadata::Metadata;
use cyclonedx_bom::models::property::{Properties, Property};
use cyclonedx_bom::models::tool::{Tool, Tools};
use cyclonedx_bom::validation::Validate;

use crate::inventory::{Inventory, Package, PackageKind};

/// Why the CycloneDX document could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CycloneDxError {
    #[error("cyclonedx metadata")]
    Metadata(#[source] cyclonedx_bom::models::metadata::MetadataError),
    #[error("the cyclonedx document does not validate: {0}")]
    Invalid(String),
    #[error("writing cyclonedx json")]
    Write(#[source] cyclonedx_bom::errors::JsonWriteError),
}

/// Renders the inventory as a CycloneDX 1.5 JSON document.
pub fn render(inv: &Inventory) -> Result<String, CycloneDxError> {
    let mut metadata = Metadata::new().map_err(CycloneDxError::Metadata)?;
    metadata.tools = Some(Tools::List(vec![Tool {
        vendor: None,
        name: Some(NormalizedString::new(&inv.generator.name)),
        version: Some(NormalizedString::new(&inv.generator.version)),
        hashes: None,
        external_references: None,
    }]));
    let mut image = Component::new(
        Classification::Container,
        &inv.image.reference,
        &inv.image.id,
        None,
    );
    image.bom_ref = Some("image".into());
    let mut image_props = vec![
        Property::new("renderer-image:os", &inv.image.os),
        Property::new("renderer-image:architecture", &inv.image.architecture),
    ];
    if let Some(d) = &inv.distro {
        image_props.push(Property::new("renderer-image:distro:id", &d.id));
        for (key, value) in [
            ("version_id", &d.version_id),
            ("codename", &d.codename),
            ("point_release", &d.point_release),
        ] {
            if let Some(v) = value {
                image_props.push(Property::new(format!("renderer-image:distro:{key}"), v));
            }
        }
    }
    image.properties = Some(Properties(image_props));
    metadata.component = Some(image);

    let components = inv
        .packages
        .iter()
        .enumerate()
        .map(|(i, p)| component(i, p))
        .collect();
    let bom = Bom {
        spec_version: cyclonedx_bom::models::bom::SpecVersion::V1_5,
        metadata: Some(metadata),
        components: Some(Components(components)),
        ..Bom::default()
    };
    let report = bom.validate_version(cyclonedx_bom::models::bom::SpecVersion::V1_5);
    if report.has_errors() {
        return Err(CycloneDxError::Invalid(format!("{report:?}")));
    }
    let mut out = Vec::new();
    bom.output_as_json_v1_5(&mut out)
        .map_err(CycloneDxError::Write)?;
    out.push(b'\n');
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn component(index: usize, p: &Package) -> Component {
    let class = match p.kind {
        PackageKind::NodeRuntime | PackageKind::Chromium => Classification::Application,
        _ => Classification::Library,
    };
    let mut c = Component::new(class, &p.name, &p.version, Some(format!("pkg-{index}")));
    c.purl = Purl::from_str(&p.purl).ok();
    if let Some(sha) = &p.sha256 {
        c.hashes = Some(Hashes(vec![Hash {
            alg: HashAlgorithm::SHA_256,
            content: HashValue(sha.clone()),
        }]));
    }
    let mut props = vec![
        Property::new("renderer-image:path", &p.path),
        Property::new("renderer-image:layer:index", &p.layer.index.to_string()),
        Property::new("renderer-image:layer:diff_id", &p.layer.diff_id),
        Property::new("renderer-image:layer:instruction", &p.layer.instruction),
    ];
    if let Some(deb) = &p.deb {
        props.push(Property::new(
            "renderer-image:deb:architecture",
            &deb.architecture,
        ));
        props.push(Property::new(
            "renderer-image:deb:source_name",
            &deb.source_name,
        ));
        props.push(Property::new(
            "renderer-image:deb:source_version",
            &deb.source_version,
        ));
    }
    if let Some(cargo) = &p.cargo {
        props.push(Property::new(
            "renderer-image:cargo:dependency_kind",
            &cargo.dependency_kind,
        ));
    }
    c.properties = Some(Properties(props));
    c
}
