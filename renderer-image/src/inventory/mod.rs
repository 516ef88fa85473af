//! The inventory of an image: what it is made of, layer by layer.
//!
//! This is the stable, serialisable model other tools read (the JSON output is this model
//! as is). Changes that break readers bump [`SCHEMA_VERSION`].

mod build;
mod purl;
pub mod table;

use serde::{Deserialize, Serialize};

pub use build::{InventoryError, build, inventory};

/// Version of the JSON inventory format.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Inventory {
    pub schema_version: u32,
    pub generator: Generator,
    pub image: ImageInfo,
    /// The distribution the image's own release files name, if any.
    pub distro: Option<Distro>,
    /// Layers that hold files, in order; metadata-only history steps are left out.
    pub layers: Vec<Layer>,
    pub packages: Vec<Package>,
    /// Executables no package database or catalogue accounts for.
    pub unaccounted_executables: Vec<Executable>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Generator {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ImageInfo {
    /// What the user asked for: a reference or an archive path.
    pub reference: String,
    /// `sha256:<hex>` of the image config.
    pub id: String,
    pub repo_tags: Vec<String>,
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Distro {
    /// `ID` from os-release, e.g. `debian`.
    pub id: String,
    /// `VERSION_ID`, e.g. `12`.
    pub version_id: Option<String>,
    /// `VERSION_CODENAME`, e.g. `bookworm`.
    pub codename: Option<String>,
    /// The point release from `/etc/debian_version`, e.g. `12.10`.
    pub point_release: Option<String>,
    pub pretty_name: Option<String>,
}

impl Distro {
    /// The `distro` qualifier package URLs use, e.g. `debian-12`.
    pub fn purl_qualifier(&self) -> Option<String> {
        self.version_id.as_ref().map(|v| format!("{}-{v}", self.id))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Layer {
    /// Position among the layers that hold files.
    pub index: usize,
    /// `sha256:<hex>` of the uncompressed layer.
    pub diff_id: String,
    /// `sha256:<hex>` of the layer blob as stored (compressed or not).
    pub digest: String,
    /// The Dockerfile instruction (history `created_by`) that made the layer.
    pub instruction: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
}

/// Which catalogue found a package.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum PackageKind {
    /// A Debian binary package from dpkg's database.
    Deb,
    /// The Node.js runtime installed without a package.
    NodeRuntime,
    /// A Chrome or Chromium binary no package owns.
    Chromium,
    /// A package root under `node_modules`.
    Npm,
    /// A crate embedded in a binary by `cargo auditable`.
    Cargo,
}

/// Where a package's current version entered the image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LayerRef {
    pub index: usize,
    pub diff_id: String,
    pub instruction: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Package {
    pub kind: PackageKind,
    pub name: String,
    pub version: String,
    pub purl: String,
    /// The file the package was read from: a status file, `package.json` or binary.
    pub path: String,
    pub layer: LayerRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deb: Option<DebDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cargo: Option<CargoDetails>,
    /// SHA-256 of the binary, for packages identified from a binary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DebDetails {
    pub architecture: String,
    pub source_name: String,
    pub source_version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CargoDetails {
    /// `runtime`, or `build` for build scripts and proc macros that are not linked in.
    pub dependency_kind: String,
    /// Whether the crate came from crates.io.
    pub from_registry: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Executable {
    pub path: String,
    pub sha256: String,
    pub size: u64,
    pub elf: bool,
    pub layer: usize,
}
