//! The gate's exit codes: severity × fix available × allow-list × policy, one case a line.
//!
//! The synthetic bookworm feed gives these findings for the inventory below:
//! 0001 low no-dsa, 0002 medium postponed, 0003 high ignored, 0010 high fix pending,
//! 0011 negligible unimportant, 0012 medium fix available, 0020 high fix available,
//! 0030 unrated (not yet assigned).

mod vuln_support;

use std::path::{Path, PathBuf};

use chrono::{Days, Local};
use vuln_support::*;

/// Allow-list entries: (id, expiry, extra TOML lines).
type Entries = &'static [(&'static str, Expiry, &'static str)];

#[derive(Clone, Copy)]
enum Expiry {
    Today,
    Yesterday,
    Later,
}

struct Case {
    name: &'static str,
    args: &'static [&'static str],
    allow: Entries,
    code: i32,
}

const PASS_UNKNOWN: &[&str] = &["--unknown-passes"];

#[rustfmt::skip]
const CASES: &[Case] = &[
    Case { name: "high findings, no allow-list", args: &[], allow: &[], code: 1 },
    Case { name: "critical threshold, unknown passes", args: &["--fail-on", "critical", "--unknown-passes"], allow: &[], code: 0 },
    Case { name: "critical threshold, unknown still fails", args: &["--fail-on", "critical"], allow: &[], code: 1 },
    Case { name: "only fixed: one high with a fix", args: &["--only-fixed", "--unknown-passes"], allow: &[], code: 1 },
    Case { name: "only fixed, entry expires today", args: &["--only-fixed", "--unknown-passes"], allow: &[("CVE-2099-0020", Expiry::Today, "")], code: 0 },
    Case { name: "only fixed, entry expired yesterday", args: &["--only-fixed", "--unknown-passes"], allow: &[("CVE-2099-0020", Expiry::Yesterday, "")], code: 1 },
    Case { name: "debian ignored accepted plus entries", args: &["--unknown-passes", "--accept-debian", "ignored"], allow: &[("CVE-2099-0010", Expiry::Later, ""), ("CVE-2099-0020", Expiry::Later, "")], code: 0 },
    Case { name: "debian decision not accepted", args: &["--unknown-passes"], allow: &[("CVE-2099-0010", Expiry::Later, ""), ("CVE-2099-0020", Expiry::Later, "")], code: 1 },
    Case { name: "entries for all highs", args: &["--unknown-passes"], allow: &[("CVE-2099-0003", Expiry::Later, ""), ("CVE-2099-0010", Expiry::Later, ""), ("CVE-2099-0020", Expiry::Later, "")], code: 0 },
    Case { name: "stale entry keeps the exit code", args: &["--unknown-passes", "--accept-debian", "ignored"], allow: &[("CVE-2099-0010", Expiry::Later, ""), ("CVE-2099-0020", Expiry::Later, ""), ("CVE-2099-9999", Expiry::Later, "")], code: 0 },
    Case { name: "expired entry matching nothing fails", args: &["--unknown-passes", "--accept-debian", "ignored"], allow: &[("CVE-2099-0010", Expiry::Later, ""), ("CVE-2099-0020", Expiry::Later, ""), ("CVE-2099-9999", Expiry::Yesterday, "")], code: 1 },
    Case { name: "unrated accepted by entry", args: &["--fail-on", "critical"], allow: &[("CVE-2099-0030", Expiry::Later, "")], code: 0 },
    Case { name: "entry for another package", args: &["--only-fixed", "--unknown-passes"], allow: &[("CVE-2099-0020", Expiry::Later, "package = \"curl\"")], code: 1 },
    Case { name: "entry by source name and version", args: &["--only-fixed", "--unknown-passes"], allow: &[("CVE-2099-0020", Expiry::Later, "package = \"tzdata\"\nversions = \"< 1:2024b-1\"")], code: 0 },
    Case { name: "entry version range misses", args: &["--only-fixed", "--unknown-passes"], allow: &[("CVE-2099-0020", Expiry::Later, "package = \"tzdata\"\nversions = \"< 2024a-0\"")], code: 1 },
    Case { name: "negligible threshold, all debian decisions", args: &["--fail-on", "negligible", "--unknown-passes", "--accept-debian", "unimportant,no-dsa,postponed,ignored"], allow: &[("CVE-2099-0010", Expiry::Later, ""), ("CVE-2099-0012", Expiry::Later, ""), ("CVE-2099-0020", Expiry::Later, "")], code: 0 },
    Case { name: "medium threshold, medium with a fix", args: &["--fail-on", "medium", "--unknown-passes", "--accept-debian", "no-dsa,postponed,ignored"], allow: &[("CVE-2099-0010", Expiry::Later, ""), ("CVE-2099-0020", Expiry::Later, "")], code: 1 },
];

fn allowlist(dir: &Path, entries: Entries) -> PathBuf {
    let today = Local::now().date_naive();
    let mut text = String::new();
    for (id, expiry, extra) in entries {
        let date = match expiry {
            Expiry::Today => today,
            Expiry::Yesterday => today.checked_sub_days(Days::new(1)).unwrap(),
            Expiry::Later => today.checked_add_days(Days::new(365)).unwrap(),
        };
        text.push_str(&format!(
            "[[allow]]\nid = \"{id}\"\nreason = \"reviewed\"\nexpires = \"{date}\"\n{extra}\n\n"
        ));
    }
    let path = dir.join("allow.toml");
    std::fs::write(&path, text).unwrap();
    path
}

struct Setup {
    dir: tempfile::TempDir,
    db: PathBuf,
    inventory: PathBuf,
}

fn setup() -> Setup {
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
            deb(
                "zlib1g",
                "1:1.2.13.dfsg-1",
                Some(("zlib", "1:1.2.13.dfsg-1")),
            ),
        ],
    );
    let inventory = write_inventory(dir.path(), &inv);
    Setup { dir, db, inventory }
}

#[test]
fn gate_exit_codes_follow_the_policy_table() {
    let s = setup();
    let mut failures = Vec::new();
    for case in CASES {
        let allow = allowlist(s.dir.path(), case.allow);
        let mut args = case.args.to_vec();
        args.extend_from_slice(&["--allowlist", allow.to_str().unwrap()]);
        let (code, out, err) = scan(&s.inventory, &s.db, &args);
        if code != case.code {
            failures.push(format!(
                "{}: exit {code}, want {}\n{out}\n{err}",
                case.name, case.code
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn stale_expired_and_fixable_entries_are_named() {
    let s = setup();
    let allow = allowlist(
        s.dir.path(),
        &[
            ("CVE-2099-0020", Expiry::Later, ""),
            ("CVE-2099-9999", Expiry::Later, ""),
            ("CVE-2099-0010", Expiry::Yesterday, ""),
        ],
    );
    let mut args = PASS_UNKNOWN.to_vec();
    args.extend_from_slice(&["--allowlist", allow.to_str().unwrap()]);
    let (code, out, _) = scan(&s.inventory, &s.db, &args);
    assert_eq!(code, 1);
    assert!(out.contains("entry 2 (CVE-2099-9999) is stale"), "{out}");
    assert!(out.contains("entry 3 (CVE-2099-0010) EXPIRED"), "{out}");
    assert!(
        out.contains("entry 1 (CVE-2099-0020) accepts a risk that now has a fix"),
        "{out}"
    );
    assert!(
        out.contains("accepted by allow-list entry 1: reviewed"),
        "{out}"
    );
    let verdict = out.lines().last().unwrap();
    assert!(verdict.starts_with("FAIL: "), "{verdict}");
    assert!(verdict.contains("CVE-2099-0010 (entry 3"), "{verdict}");
}

#[test]
fn malformed_allowlist_is_exit_2() {
    let s = setup();
    for text in [
        "[[allow]]\nid = \"CVE-1\"\n",
        "not toml [",
        "[[allow]]\nid=\"x\"\nreason=\"r\"\nexpires=\"soon\"\n",
    ] {
        let path = s.dir.path().join("bad.toml");
        std::fs::write(&path, text).unwrap();
        let (code, _, err) = scan(
            &s.inventory,
            &s.db,
            &["--allowlist", path.to_str().unwrap()],
        );
        assert_eq!(code, 2, "{text}: {err}");
        assert!(err.contains("bad.toml"), "{err}");
    }
}

#[test]
fn corrupt_feed_is_exit_2() {
    let s = setup();
    std::fs::write(s.db.join("debian.json"), b"{\"openssl\": {\"CVE-1\": ").unwrap();
    let (code, _, err) = scan(&s.inventory, &s.db, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("debian"), "{err}");
}

#[test]
fn missing_feed_is_exit_2() {
    let s = setup();
    let empty = s.dir.path().join("empty-db");
    let (code, _, err) = scan(&s.inventory, &empty, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("debian feed is not in"), "{err}");
}

#[test]
fn feed_older_than_the_limit_is_exit_2() {
    let s = setup();
    let meta_path = s.db.join("debian.meta.json");
    let mut meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta_path).unwrap()).unwrap();
    let old = chrono::Utc::now() - chrono::Duration::days(10);
    meta["fetched_at"] = serde_json::json!(old.to_rfc3339());
    std::fs::write(&meta_path, serde_json::to_vec(&meta).unwrap()).unwrap();
    let args = ["--fail-on", "critical", "--unknown-passes"];
    let (code, _, err) = scan(&s.inventory, &s.db, &args);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("older than --max-feed-age"), "{err}");
    let mut longer = args.to_vec();
    longer.extend_from_slice(&["--max-feed-age", "30d"]);
    let (code, _, err) = scan(&s.inventory, &s.db, &longer);
    assert_eq!(code, 0, "{err}");
}
