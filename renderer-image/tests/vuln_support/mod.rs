//! Shared helpers for the vulnerability tests: inventories, databases, the binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use renderer_image::inventory::{
    DebDetails, Distro, Generator, ImageInfo, Inventory, Layer, LayerRef, Package, PackageKind,
    SCHEMA_VERSION,
};

/// The real feed data, from `$RENDERER_VULNDATA`.
///
/// In CI (`CI` set) a missing variable fails the test. Elsewhere the shared folder beside the
/// repository is used when it is there, and the test is skipped (returns `None`) when not.
pub fn vulndata() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("RENDERER_VULNDATA") {
        let dir = PathBuf::from(dir);
        assert!(
            dir.is_dir(),
            "RENDERER_VULNDATA={} is not a directory",
            dir.display()
        );
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "RENDERER_VULNDATA must point at the real vulnerability data in CI"
    );
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vulndata");
    if beside.is_dir() {
        return Some(beside);
    }
    eprintln!("skipped: RENDERER_VULNDATA is not set and no shared data beside the repository");
    None
}

pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

pub fn layer(index: usize, instruction: &str) -> LayerRef {
    LayerRef {
        index,
        diff_id: format!("sha256:{index:064x}"),
        instruction: instruction.into(),
    }
}

/// A Debian binary package; `source` is `(name, version)` when it differs from the binary.
pub fn deb(name: &str, version: &str, source: Option<(&str, &str)>) -> Package {
    let (source_name, source_version) = source.unwrap_or((name, version));
    Package {
        kind: PackageKind::Deb,
        name: name.into(),
        version: version.into(),
        purl: format!("pkg:deb/debian/{name}@{version}?arch=amd64&distro=debian-12"),
        path: "var/lib/dpkg/status".into(),
        layer: layer(1, "RUN /bin/sh -c apt-get install -y curl # buildkit"),
        deb: Some(DebDetails {
            architecture: "amd64".into(),
            source_name: source_name.into(),
            source_version: source_version.into(),
        }),
        cargo: None,
        sha256: None,
    }
}

pub fn other(kind: PackageKind, name: &str, version: &str, purl_type: &str) -> Package {
    Package {
        kind,
        name: name.into(),
        version: version.into(),
        purl: format!("pkg:{purl_type}/{name}@{version}"),
        path: format!("usr/lib/{name}"),
        layer: layer(2, "COPY app /app # buildkit"),
        deb: None,
        cargo: None,
        sha256: None,
    }
}

pub fn inventory(codename: &str, packages: Vec<Package>) -> Inventory {
    Inventory {
        schema_version: SCHEMA_VERSION,
        generator: Generator {
            name: "test".into(),
            version: "0".into(),
        },
        image: ImageInfo {
            reference: "renderer:test".into(),
            id: format!("sha256:{:064x}", 7),
            repo_tags: vec!["renderer:test".into()],
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        },
        distro: Some(Distro {
            id: "debian".into(),
            version_id: None,
            codename: Some(codename.into()),
            point_release: None,
            pretty_name: None,
        }),
        layers: (0..3)
            .map(|i| Layer {
                index: i,
                diff_id: format!("sha256:{i:064x}"),
                digest: format!("sha256:{i:064x}"),
                instruction: format!("step {i}"),
                created: None,
            })
            .collect(),
        packages,
        unaccounted_executables: Vec::new(),
    }
}

pub fn write_inventory(dir: &Path, inv: &Inventory) -> PathBuf {
    let path = dir.join("inventory.json");
    std::fs::write(&path, serde_json::to_vec_pretty(inv).unwrap()).unwrap();
    path
}

/// Runs the `renderer-image` binary.
pub fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_renderer-image"))
        .args(args)
        .env_remove("RENDERER_VULNDB")
        .output()
        .unwrap()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Imports `FEED=PATH` pairs into a new database under `dir`.
pub fn import(dir: &Path, feeds: &[(&str, &Path)]) -> PathBuf {
    let db = dir.join("db");
    for (feed, path) in feeds {
        let pair = format!("{feed}={}", path.display());
        let out = cli(&["db", "import", "--db", db.to_str().unwrap(), &pair]);
        assert!(out.status.success(), "import {pair}: {}", stderr(&out));
    }
    db
}

/// `scan --inventory` with the given extra arguments; returns the exit code and output.
pub fn scan(inventory: &Path, db: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "scan",
        "--inventory",
        inventory.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = cli(&args);
    (out.status.code().unwrap_or(-1), stdout(&out), stderr(&out))
}

/// `scan … --format json`, parsed; panics unless the exit code is `code`.
pub fn scan_json(inventory: &Path, db: &Path, extra: &[&str], code: i32) -> serde_json::Value {
    let mut args = extra.to_vec();
    args.extend_from_slice(&["--format", "json"]);
    let (got, out, err) = scan(inventory, db, &args);
    assert_eq!(got, code, "exit code; stderr: {err}\nstdout: {out}");
    serde_json::from_str(&out).expect("scan JSON")
}

/// The findings of a JSON scan as `(id, binary package)` pairs.
pub fn ids(report: &serde_json::Value) -> Vec<(String, String)> {
    report["verdict"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_string(),
                f["package"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

pub fn finding<'a>(
    report: &'a serde_json::Value,
    id: &str,
    package: &str,
) -> &'a serde_json::Value {
    report["verdict"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id && f["package"]["name"] == package)
        .unwrap_or_else(|| panic!("no finding {id} in {package}"))
}
