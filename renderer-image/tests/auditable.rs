//! A Rust binary built with `cargo auditable` reports the same crates as `rust-audit-info`.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::*;
use renderer_image::inventory::PackageKind;

#[test]
fn auditable_binary_crates_equal_rust_audit_info() {
    let dir = temp_dir();
    let krate = dir.path().join("audit-probe");
    std::fs::create_dir_all(krate.join("src")).unwrap();
    std::fs::write(
        krate.join("Cargo.toml"),
        "[package]\nname = \"audit-probe\"\nversion = \"0.3.0\"\nedition = \"2021\"\n\n\
         [dependencies]\nitoa = \"1\"\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(
        krate.join("src/main.rs"),
        "fn main() { println!(\"{}\", itoa::Buffer::new().format(42)); }\n",
    )
    .unwrap();
    let out = Command::new("cargo")
        .args(["auditable", "build", "--release", "--quiet"])
        .current_dir(&krate)
        .env("CARGO_TARGET_DIR", dir.path().join("target"))
        .output()
        .expect("cargo auditable (run scripts/setup.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let binary = dir.path().join("target/release/audit-probe");

    let out = Command::new("rust-audit-info")
        .arg(&binary)
        .output()
        .expect("rust-audit-info");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let expected: BTreeSet<(String, String)> = info["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().into(),
                p["version"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(expected.iter().any(|(n, _)| n == "itoa"));

    let bytes = std::fs::read(&binary).unwrap();
    let layer = tar_of(&[("usr/local/bin/audit-probe", &bytes, 0o755)]);
    let archive = legacy_archive(dir.path(), "audit-probe:1", &[layer]);
    let inv = inventory_json(&["--archive", archive.to_str().unwrap()]);
    let found: BTreeSet<(String, String)> = inv
        .packages
        .iter()
        .filter(|p| p.kind == PackageKind::Cargo && p.path == "/usr/local/bin/audit-probe")
        .map(|p| (p.name.clone(), p.version.clone()))
        .collect();
    assert_eq!(found, expected);
    assert!(
        inv.packages
            .iter()
            .any(|p| p.purl.starts_with("pkg:cargo/itoa@"))
    );
    assert!(
        inv.unaccounted_executables.is_empty(),
        "{:?}",
        inv.unaccounted_executables
    );
}
