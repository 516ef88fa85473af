//! The scan as JSON: the [`ScanReport`] model as is, with its `schema_version`.

use super::ScanReport;

pub fn render(report: &ScanReport) -> Result<String, serde_json::Error> {
    Ok(serde_json::to_string_pretty(report)? + "\n")
}
