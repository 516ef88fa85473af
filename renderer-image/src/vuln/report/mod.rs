//! Rendering a scan: a table for people, JSON for programs, SARIF for code scanning, and
//! VEX documents (OpenVEX from the allow-list, CycloneDX VEX from a scan).

pub mod cyclonedx_vex;
pub mod json;
pub mod sarif;
pub mod table;
pub mod vex;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::compare::Comparison;
use super::db::FeedRecord;
use super::gate::{Policy, Verdict};
use crate::inventory::{Distro, ImageInfo, Layer};

/// Version of the scan JSON format; bumped on changes that break readers.
pub const SCHEMA_VERSION: u32 = 1;

/// Everything a scan produced, ready to render.
#[derive(Debug, Clone, Serialize)]
pub struct ScanReport {
    pub schema_version: u32,
    pub generator: String,
    pub scanned_at: DateTime<Utc>,
    pub image: ImageInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distro: Option<Distro>,
    /// The Debian release matched against, when the image has Debian packages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    pub layers: Vec<Layer>,
    pub feeds: Vec<FeedRecord>,
    pub policy: Policy,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowlist: Option<String>,
    pub verdict: Verdict,
    /// The differences from another scanner's report, with `--compare`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Comparison>,
}

impl ScanReport {
    pub fn generator() -> String {
        concat!("renderer-image ", env!("CARGO_PKG_VERSION")).to_string()
    }
}
