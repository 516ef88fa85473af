//! Debian semantics against the real tracker excerpt and labelled synthetic records.

mod vuln_support;

use vuln_support::*;

fn real_tracker() -> Option<std::path::PathBuf> {
    vulndata().map(|d| d.join("debian-tracker/sample-vunnel.json"))
}

#[test]
fn reports_below_fixed_version_through_source_package_and_binnmu() {
    let Some(tracker) = real_tracker() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = import(dir.path(), &[("debian", &tracker)]);
    let inv = inventory(
        "bookworm",
        vec![
            deb("chromium", "97.0.4692.99-1", None),
            deb(
                "chromium-common",
                "98.0.4758.80-1",
                Some(("chromium", "98.0.4758.80-1")),
            ),
            // A binNMU binary: its own version has +b1, its source version does not.
            deb("libsope1", "5.8.0-1+b1", Some(("sope", "5.8.0-1"))),
            // Only other releases have records for prototypejs.
            deb(
                "libjs-prototype",
                "1.6.0-1",
                Some(("prototypejs", "1.6.0-1")),
            ),
        ],
    );
    let path = write_inventory(dir.path(), &inv);
    let report = scan_json(
        &path,
        &db,
        &["--fail-on", "critical", "--unknown-passes"],
        0,
    );
    assert_eq!(
        ids(&report),
        vec![
            ("CVE-2022-0456".to_string(), "chromium".to_string()),
            ("CVE-2025-53603".to_string(), "libsope1".to_string()),
        ]
    );
    let chromium = finding(&report, "CVE-2022-0456", "chromium");
    assert_eq!(chromium["fixed_version"], "98.0.4758.80-1");
    assert_eq!(chromium["fix_available"], true);
    assert_eq!(chromium["severity"], "unknown");
    let sope = finding(&report, "CVE-2025-53603", "libsope1");
    assert_eq!(sope["package"]["source_name"], "sope");
    assert_eq!(sope["matched_version"], "5.8.0-1");
    assert_eq!(
        sope["fix_available"], true,
        "bookworm-security carries the fix"
    );
    assert_eq!(report["release"], "bookworm");
    assert_eq!(report["schema_version"], 1);
    assert!(
        sope["package"]["layer"]["instruction"]
            .as_str()
            .unwrap()
            .contains("apt-get")
    );
}

#[test]
fn never_reports_not_affected_and_compares_at_the_fixed_version() {
    let Some(tracker) = real_tracker() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = import(dir.path(), &[("debian", &tracker)]);
    let inv = inventory(
        "stretch",
        vec![
            deb(
                "libjs-prototype",
                "1.6.0-1",
                Some(("prototypejs", "1.6.0-1")),
            ),
            deb("backupninja", "0.8-1", None),
            deb("txt2man", "1.5.5-4.1", None),
        ],
    );
    let path = write_inventory(dir.path(), &inv);
    let report = scan_json(&path, &db, &["--fail-on", "critical"], 0);
    assert_eq!(
        ids(&report),
        vec![
            ("CVE-2005-3111".to_string(), "backupninja".to_string()),
            ("CVE-2008-7220".to_string(), "libjs-prototype".to_string()),
        ],
        "CVE-2007-2383 is fixed_version 0 and txt2man is at its fixed version"
    );
    assert_eq!(
        finding(&report, "CVE-2008-7220", "libjs-prototype")["severity"],
        "high"
    );
    assert_eq!(
        finding(&report, "CVE-2005-3111", "backupninja")["severity"],
        "medium"
    );

    let at_fix = inventory(
        "stretch",
        vec![deb(
            "libjs-prototype",
            "1.6.0.2-1",
            Some(("prototypejs", "1.6.0.2-1")),
        )],
    );
    let path = write_inventory(dir.path(), &at_fix);
    assert!(ids(&scan_json(&path, &db, &[], 0)).is_empty());
}

fn synthetic_scan(extra: &[&str], code: i32) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let db = import(
        dir.path(),
        &[("debian", &data("vuln/synthetic-debian-bookworm.json"))],
    );
    let inv = inventory(
        "bookworm",
        vec![
            deb(
                "libssl3",
                "3.0.15-1~deb12u1",
                Some(("openssl", "3.0.15-1~deb12u1")),
            ),
            deb("curl", "7.88.1-10+deb12u8", None),
            deb("tzdata", "2024a-0+deb12u1", None),
        ],
    );
    let path = write_inventory(dir.path(), &inv);
    scan_json(&path, &db, extra, code)
}

#[test]
fn shows_debian_decisions_with_their_reasons() {
    let report = synthetic_scan(&["--fail-on", "critical"], 0);
    let nodsa = finding(&report, "CVE-2099-0001", "libssl3");
    assert_eq!(nodsa["debian"]["decision"], "no-dsa");
    assert_eq!(nodsa["debian"]["nodsa"], "Minor issue");
    assert_eq!(nodsa["debian"]["summary"], "no-dsa: Minor issue");
    let postponed = finding(&report, "CVE-2099-0002", "libssl3");
    assert_eq!(postponed["debian"]["decision"], "postponed");
    let ignored = finding(&report, "CVE-2099-0003", "libssl3");
    assert_eq!(ignored["debian"]["decision"], "ignored");
    assert!(
        !ids(&report).iter().any(|(id, _)| id == "CVE-2099-0013"),
        "undetermined entries are not reported"
    );
}

#[test]
fn a_fix_not_yet_in_the_archive_is_not_available() {
    let report = synthetic_scan(&["--fail-on", "critical"], 0);
    let pending = finding(&report, "CVE-2099-0010", "curl");
    assert_eq!(pending["fixed_version"], "7.88.1-10+deb12u9");
    assert_eq!(pending["fix_available"], false);
    assert_eq!(
        finding(&report, "CVE-2099-0012", "curl")["fix_available"],
        true
    );
    // The epoch makes 1:2024b-1 newer than 2024a-0+deb12u1.
    assert_eq!(
        finding(&report, "CVE-2099-0020", "tzdata")["severity"],
        "high"
    );
}

#[test]
fn unimportant_is_negligible_and_passes_when_accepted() {
    let failing = synthetic_scan(&["--fail-on", "negligible", "--unknown-passes"], 1);
    let unimportant = finding(&failing, "CVE-2099-0011", "curl");
    assert_eq!(unimportant["severity"], "negligible");
    assert_eq!(unimportant["disposition"]["state"], "failing");
    let accepted = synthetic_scan(
        &["--fail-on", "unimportant", "--accept-debian", "unimportant"],
        1,
    );
    let unimportant = finding(&accepted, "CVE-2099-0011", "curl");
    assert_eq!(unimportant["disposition"]["state"], "accepted");
    assert_eq!(unimportant["disposition"]["by"], "debian unimportant");
}
