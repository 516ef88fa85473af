//! Node.js runtime, npm and crates.io matching, on the real Node.js and RustSec data.

mod vuln_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use renderer_image::inventory::PackageKind;
use sha2::{Digest, Sha256};
use vuln_support::*;

#[test]
fn node_binary_is_matched_with_node_semver_ranges() {
    let Some(real) = vulndata() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = import(dir.path(), &[("nodejs", &real.join("nodejs-core"))]);
    let node = |version: &str| {
        let inv = inventory(
            "bookworm",
            vec![other(PackageKind::NodeRuntime, "node", version, "generic")],
        );
        let path = write_inventory(dir.path(), &inv);
        let (code, out, err) = scan(&path, &db, &["--format", "json"]);
        assert!(code == 0 || code == 1, "exit {code}: {err}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()
    };
    // Advisory 100: vulnerable "14.x || 16.x || 18.x", patched "^14.20.1 || ^16.17.1 ||
    // ^18.9.1".
    let old = node("v18.7.0");
    assert!(ids(&old).iter().any(|(id, _)| id == "CVE-2022-35256"));
    let f = finding(&old, "CVE-2022-35256", "node");
    assert_eq!(f["fixed_version"], "^14.20.1 || ^16.17.1 || ^18.9.1");
    assert_eq!(f["severity"], "medium");
    let patched = node("v18.9.1");
    assert!(!ids(&patched).iter().any(|(id, _)| id == "CVE-2022-35256"));
    // A version line the advisory does not name at all.
    let other_line = node("v19.0.0");
    assert!(
        !ids(&other_line)
            .iter()
            .any(|(id, _)| id == "CVE-2022-35256")
    );
}

fn sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A legacy `docker save` archive of one layer holding `files`.
fn docker_save(dir: &Path, files: &[(&str, &[u8], u32)]) -> PathBuf {
    let mut layer = tar::Builder::new(Vec::new());
    for (path, data, mode) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(*mode);
        h.set_cksum();
        layer.append_data(&mut h, path, *data).unwrap();
    }
    let layer = layer.into_inner().unwrap();
    let diff_id = format!("sha256:{}", sha256(&layer));
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "COPY . / # buildkit"}],
    })
    .to_string();
    let config_name = format!("{}.json", sha256(config.as_bytes()));
    let manifest = serde_json::json!([{
        "Config": config_name, "RepoTags": ["probe:1"], "Layers": ["layer/layer.tar"],
    }])
    .to_string();
    let mut archive = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("layer/layer.tar", layer),
        (config_name.as_str(), config.into_bytes()),
        ("manifest.json", manifest.into_bytes()),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        archive.append_data(&mut h, name, data.as_slice()).unwrap();
    }
    let path = dir.join("image.tar");
    std::fs::write(&path, archive.into_inner().unwrap()).unwrap();
    path
}

/// Builds a tiny binary with `cargo auditable` that depends on smallvec 1.6.0, which
/// RUSTSEC-2021-0003 affects. Fetches the crate from the registry on first use.
fn auditable_binary(dir: &Path) -> Vec<u8> {
    let krate = dir.join("probe");
    std::fs::create_dir_all(krate.join("src")).unwrap();
    std::fs::write(
        krate.join("Cargo.toml"),
        "[package]\nname = \"vulnprobe\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [dependencies]\nsmallvec = \"=1.6.0\"\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(
        krate.join("src/main.rs"),
        "fn main() {\n    let v: smallvec::SmallVec<[u8; 4]> = smallvec::smallvec![1, 2];\n    \
         println!(\"{}\", v.len());\n}\n",
    )
    .unwrap();
    let out = Command::new("cargo")
        .args(["auditable", "build", "--quiet"])
        .current_dir(&krate)
        .env("CARGO_TARGET_DIR", krate.join("target"))
        .output()
        .expect("cargo auditable (install it with `cargo install cargo-auditable`)");
    assert!(
        out.status.success(),
        "cargo auditable build: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(krate.join("target/debug/vulnprobe")).unwrap()
}

#[test]
fn auditable_crates_and_npm_packages_in_an_archive_are_matched() {
    let Some(real) = vulndata() else { return };
    let dir = tempfile::tempdir().unwrap();
    let binary = auditable_binary(dir.path());
    let os_release = b"ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n";
    let scoped = br#"{"name": "@scope/merge", "version": "2.1.3"}"#;
    let nested = br#"{"name": "semver-lite", "version": "6.3.1"}"#;
    let plain = br#"{"name": "semver-lite", "version": "5.7.1"}"#;
    let archive = docker_save(
        dir.path(),
        &[
            ("etc/os-release", os_release, 0o644),
            ("usr/local/bin/vulnprobe", &binary, 0o755),
            ("app/node_modules/@scope/merge/package.json", scoped, 0o644),
            ("app/node_modules/semver-lite/package.json", plain, 0o644),
            (
                "app/node_modules/@scope/merge/node_modules/semver-lite/package.json",
                nested,
                0o644,
            ),
        ],
    );
    let db = import(
        dir.path(),
        &[
            ("osv-crates", &real.join("rustsec-osv")),
            ("osv-npm", &data("vuln/synthetic-osv-npm.json")),
        ],
    );
    let out = cli(&[
        "scan",
        "--archive",
        archive.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let found = ids(&report);
    assert!(
        found.contains(&("RUSTSEC-2021-0003".into(), "smallvec".into())),
        "{found:?}"
    );
    let smallvec = finding(&report, "RUSTSEC-2021-0003", "smallvec");
    assert_eq!(smallvec["fixed_version"], "1.6.1");
    assert_eq!(smallvec["feed"], "osv-crates");
    let merge = finding(&report, "GHSA-2099-aaaa-0001", "@scope/merge");
    assert_eq!(merge["severity"], "critical");
    assert_eq!(merge["severity_source"], "cvss");
    assert_eq!(merge["fixed_version"], "2.1.4");
    // 5.7.1 is inside [5.0.0, 5.7.2); the nested 6.3.1 is at the fix of its range.
    let semver: Vec<_> = report["verdict"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["package"]["name"] == "semver-lite")
        .map(|f| f["package"]["version"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(semver, vec!["5.7.1"]);
    assert_eq!(
        finding(&report, "GHSA-2099-aaaa-0002", "semver-lite")["severity"],
        "medium"
    );
}
