//! CycloneDX output is checked against the vendored CycloneDX 1.5 schema, SPDX output with
//! the SPDX project's own validator (`pyspdxtools`, from PyPI `spdx-tools`); a broken
//! document must fail the same check.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::Value;

const STATUS: &[u8] = b"Package: libc6\nStatus: install ok installed\nArchitecture: amd64\n\
Source: glibc\nVersion: 2.36-9+deb12u10\n\nPackage: bsdutils\nStatus: install ok installed\n\
Architecture: amd64\nSource: util-linux (2.38.1-5+deb12u3)\nVersion: 1:2.38.1-5+deb12u3\n";

/// A small image with one package of each kind the catalogues find without a compiler.
fn sample_archive(dir: &Path) -> std::path::PathBuf {
    let node = b"\x7fELF fake node binary ... node.js/v20.20.2\0".to_vec();
    let chrome = b"\x7fELF fake chrome ... Chrome/120.0.6099.109 Safari".to_vec();
    let base = tar_of(&[
        (
            "etc/os-release",
            b"ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n",
            0o644,
        ),
        ("etc/debian_version", b"12.10\n", 0o644),
        ("var/lib/dpkg/status", STATUS, 0o644),
        ("usr/local/bin/node", &node, 0o755),
    ]);
    let app = tar_of(&[
        (
            "app/node_modules/@scope/a/package.json",
            b"{\"name\":\"@scope/a\",\"version\":\"1.0.0\"}",
            0o644,
        ),
        (
            "app/node_modules/b/package.json",
            b"{\"name\":\"b\",\"version\":\"2.0.0\"}",
            0o644,
        ),
        ("opt/google/chrome/chrome", &chrome, 0o755),
        ("usr/local/bin/mystery", b"#!/bin/sh\necho hi\n", 0o755),
    ]);
    legacy_archive(dir, "sbom-sample:1", &[base, app])
}

fn render(format: &str) -> Value {
    let dir = temp_dir();
    let archive = sample_archive(dir.path());
    let out = cli(&[
        "inventory",
        "--archive",
        archive.to_str().unwrap(),
        "--format",
        format,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn cyclonedx_validator() -> jsonschema::Validator {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cyclonedx-1.5");
    let load = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(data.join(name)).unwrap()).unwrap()
    };
    let base = "http://cyclonedx.org/schema/";
    let registry = jsonschema::Registry::new()
        .add(
            format!("{base}spdx.SNAPSHOT.schema.json"),
            load("spdx.SNAPSHOT.schema.json"),
        )
        .unwrap()
        .add(
            format!("{base}jsf-0.82.SNAPSHOT.schema.json"),
            load("jsf-0.82.SNAPSHOT.schema.json"),
        )
        .unwrap()
        .prepare()
        .unwrap();
    jsonschema::options()
        .with_registry(&registry)
        .should_validate_formats(true)
        .build(&load("bom-1.5.SNAPSHOT.schema.json"))
        .unwrap()
}

fn schema_errors(validator: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn cyclonedx_output_validates_and_a_broken_one_does_not() {
    let doc = render("cyclonedx");
    assert_eq!(doc["specVersion"], "1.5");
    let validator = cyclonedx_validator();
    assert_eq!(schema_errors(&validator, &doc), Vec::<String>::new());

    let purls: Vec<&str> = doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["purl"].as_str())
        .collect();
    for expected in [
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u10?arch=amd64&distro=debian-12&upstream=glibc",
        "pkg:npm/%40scope/a@1.0.0",
        "pkg:generic/node@20.20.2",
        "pkg:generic/chrome@120.0.6099.109",
    ] {
        assert!(purls.contains(&expected), "{expected} not in {purls:#?}");
    }

    let mut broken = doc.clone();
    broken["components"][0]["type"] = Value::from("not-a-type");
    assert!(!schema_errors(&validator, &broken).is_empty());
    let mut broken = doc;
    broken.as_object_mut().unwrap().remove("bomFormat");
    assert!(!schema_errors(&validator, &broken).is_empty());
}

/// Runs `pyspdxtools -i` on a document; `None` means it found no problem.
fn spdx_problems(doc: &Value) -> Option<String> {
    let dir = temp_dir();
    let path = dir.path().join("doc.spdx.json");
    std::fs::write(&path, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
    let out = Command::new("pyspdxtools")
        .arg("-i")
        .arg(&path)
        .output()
        .expect("pyspdxtools (PyPI spdx-tools) is needed: run scripts/setup.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (!out.status.success() || !text.trim().is_empty()).then_some(text)
}

#[test]
fn spdx_output_validates_and_a_broken_one_does_not() {
    let doc = render("spdx");
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    assert_eq!(spdx_problems(&doc), None);
    let locators: Vec<&str> = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["externalRefs"].as_array().into_iter().flatten())
        .filter_map(|r| r["referenceLocator"].as_str())
        .collect();
    assert!(locators.contains(&"pkg:npm/b@2.0.0"), "{locators:#?}");

    let mut broken = doc.clone();
    broken["packages"][1]["SPDXID"] = Value::from("not an spdx id");
    assert!(spdx_problems(&broken).is_some());
    let mut broken = doc;
    broken.as_object_mut().unwrap().remove("dataLicense");
    assert!(spdx_problems(&broken).is_some());
}

#[test]
fn unaccounted_executable_is_listed_with_path_and_hash() {
    let inv = {
        let dir = temp_dir();
        let archive = sample_archive(dir.path());
        inventory_json(&["--archive", archive.to_str().unwrap()])
    };
    let listed: Vec<&str> = inv
        .unaccounted_executables
        .iter()
        .map(|e| e.path.as_str())
        .collect();
    assert_eq!(listed, ["/usr/local/bin/mystery"]);
    assert_eq!(inv.unaccounted_executables[0].sha256.len(), 64);
    assert_eq!(inv.unaccounted_executables[0].layer, 1);
}
