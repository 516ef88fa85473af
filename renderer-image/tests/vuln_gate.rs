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

/// One case: name, scan arguments, allow-list entries, expected exit code.
///
/// Entries are `NNNN[:EXPIRY[:PACKAGE[:VERSIONS]]]` for `CVE-2099-NNNN`, where EXPIRY is
/// `today`, `yesterday` or `later` (the default).
type Case = (&'static str, &'static str, &'static str, i32);

const IGN: &str = "--unknown-passes --accept-debian ignored";

#[rustfmt::skip]
const CASES: &[Case] = &[
    ("high findings, no allow-list", "", "", 1),
    ("critical threshold, unknown passes", "--fail-on critical --unknown-passes", "", 0),
    ("critical threshold, unknown fails", "--fail-on critical", "", 1),
    ("only fixed: a high with a fix", "--only-fixed --unknown-passes", "", 1),
    ("only fixed, entry expires today", "--only-fixed --unknown-passes", "0020:today", 0),
    ("only fixed, entry expired yesterday", "--only-fixed --unknown-passes", "0020:yesterday", 1),
    ("debian ignored accepted, entries", IGN, "0010 0020", 0),
    ("debian decision not accepted", "--unknown-passes", "0010 0020", 1),
    ("entries for every high", "--unknown-passes", "0003 0010 0020", 0),
    ("stale entry keeps the exit code", IGN, "0010 0020 9999", 0),
    ("expired entry matching nothing", IGN, "0010 0020 9999:yesterday", 1),
    ("unrated finding accepted by entry", "--fail-on critical", "0030", 0),
    ("entry for another package", "--only-fixed --unknown-passes", "0020:later:curl", 1),
    ("package, version match", "--only-fixed --unknown-passes", "0020:later:tzdata:<1:2024b-1", 0),
    ("version range misses", "--only-fixed --unknown-passes", "0020:later:tzdata:<2024a-0", 1),
    ("negligible, all decisions", "--fail-on negligible --unknown-passes --accept-debian \
      unimportant,no-dsa,postponed,ignored", "0010 0012 0020", 0),
    ("medium threshold, medium with a fix", "--fail-on medium --unknown-passes --accept-debian \
      no-dsa,postponed,ignored", "0010 0020", 1),
];

fn allowlist(dir: &Path, entries: &str) -> PathBuf {
    let today = Local::now().date_naive();
    let mut text = String::new();
    for entry in entries.split_whitespace() {
        let mut parts = entry.splitn(4, ':');
        let id = parts.next().unwrap();
        let date = match parts.next().unwrap_or("later") {
            "today" => today,
            "yesterday" => today.checked_sub_days(Days::new(1)).unwrap(),
            _ => today.checked_add_days(Days::new(365)).unwrap(),
        };
        text.push_str(&format!(
            "[[allow]]\nid = \"CVE-2099-{id}\"\nreason = \"reviewed\"\nexpires = \"{date}\"\n"
        ));
        if let Some(package) = parts.next() {
            text.push_str(&format!("package = \"{package}\"\n"));
        }
        if let Some(versions) = parts.next() {
            text.push_str(&format!("versions = \"{versions}\"\n"));
        }
        text.push('\n');
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
    for (name, args, entries, want) in CASES {
        let allow = allowlist(s.dir.path(), entries);
        let mut args: Vec<&str> = args.split_whitespace().collect();
        args.extend_from_slice(&["--allowlist", allow.to_str().unwrap()]);
        let (code, out, err) = scan(&s.inventory, &s.db, &args);
        if code != *want {
            failures.push(format!("{name}: exit {code}, want {want}\n{out}\n{err}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn stale_expired_and_fixable_entries_are_named() {
    let s = setup();
    let allow = allowlist(s.dir.path(), "0020 9999 0010:yesterday");
    let mut args = vec!["--unknown-passes"];
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
