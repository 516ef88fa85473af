//! Catalogues: each reads one kind of evidence from the merged filesystem and reports raw
//! package records. Attributing records to layers and naming them with package URLs happens
//! later, in the inventory.

pub mod auditable;
pub mod binaries;
pub mod distro;
pub mod dpkg;
pub mod executables;
pub mod npm;
pub mod probe;

use std::collections::HashSet;

use crate::image::layers::{MergeError, MergedView};
use crate::inventory::{CargoDetails, DebDetails, PackageKind};

/// Why a catalogue could not read the image.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(transparent)]
    Dpkg(#[from] dpkg::DpkgError),
    #[error(transparent)]
    Resolve(#[from] MergeError),
}

/// A package as a catalogue found it, before it is tied to a layer.
#[derive(Debug, Clone, PartialEq)]
pub struct PackageRecord {
    pub kind: PackageKind,
    pub name: String,
    pub version: String,
    pub path: String,
    pub deb: Option<DebDetails>,
    pub cargo: Option<CargoDetails>,
    pub sha256: Option<String>,
}

impl PackageRecord {
    /// What stays the same when a package is upgraded in place.
    pub fn identity(&self) -> String {
        match self.kind {
            PackageKind::Deb => {
                let arch = self
                    .deb
                    .as_ref()
                    .map(|d| d.architecture.as_str())
                    .unwrap_or("");
                format!("deb:{}:{arch}", self.name)
            }
            PackageKind::Cargo => format!("cargo:{}:{}:{}", self.path, self.name, self.version),
            kind => format!("{kind:?}:{}", self.path),
        }
    }
}

/// Everything catalogued from one state of the filesystem.
#[derive(Debug, Default)]
pub struct Catalogue {
    pub packages: Vec<PackageRecord>,
    /// Canonical paths the package databases and catalogues account for.
    pub accounted: HashSet<String>,
}

/// Runs every package catalogue over the view.
pub fn catalogue(view: &MergedView) -> Result<Catalogue, CatalogError> {
    let mut out = Catalogue::default();
    for deb in dpkg::installed(view)? {
        out.packages.push(PackageRecord {
            kind: PackageKind::Deb,
            path: deb.file.clone(),
            deb: Some(DebDetails {
                architecture: deb.architecture,
                source_name: deb.source_name,
                source_version: deb.source_version,
            }),
            name: deb.name,
            version: deb.version,
            cargo: None,
            sha256: None,
        });
    }
    let owned = dpkg::owned_paths(view)?;
    out.packages.extend(npm::packages(view));
    for record in binaries::unpackaged(view, &owned)
        .into_iter()
        .chain(auditable::crates(view))
    {
        out.accounted.insert(record.path.clone());
        out.packages.push(record);
    }
    out.accounted.extend(owned);
    Ok(out)
}
