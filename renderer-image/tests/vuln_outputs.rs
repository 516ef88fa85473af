//! SARIF, OpenVEX and CycloneDX VEX outputs checked against their JSON schemas (a broken
//! document must fail the same check), and `--compare` against Trivy and Grype reports.

mod vuln_support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use renderer_image::inventory::PackageKind;
use serde_json::Value;
use vuln_support::*;

const DOCKERFILE: &str = "FROM debian:bookworm-slim\n\
                          RUN apt-get install -y curl\n\
                          COPY app /app\n";

const ALLOW: &str = r#"
[[allow]]
id = "CVE-2099-0001"
package = "openssl"
reason = "the affected API is not used by the renderer"
approved_by = "security@example.com"
expires = "2099-12-31"

[[allow]]
id = "CVE-2099-0020"
reason = "tzdata is refreshed with every image build"
expires = "2099-12-31"
"#;

struct Setup {
    dir: tempfile::TempDir,
    db: PathBuf,
    inventory: PathBuf,
    allow: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let db = import(
        dir.path(),
        &[
            ("debian", &data("vuln/synthetic-debian-bookworm.json")),
            ("osv-npm", &data("vuln/synthetic-osv-npm.json")),
        ],
    );
    let mut merge = other(PackageKind::Npm, "@scope/merge", "2.1.3", "npm");
    merge.purl = "pkg:npm/%40scope/merge@2.1.3".into();
    let inv = inventory(
        "bookworm",
        vec![
            deb(
                "libssl3",
                "3.0.15-1~deb12u1",
                Some(("openssl", "3.0.15-1~deb12u1")),
            ),
            deb("openssl", "3.0.15-1~deb12u1", None),
            deb("curl", "7.88.1-10+deb12u8", None),
            deb(
                "libcurl4",
                "7.88.1-10+deb12u8",
                Some(("curl", "7.88.1-10+deb12u8")),
            ),
            deb("tzdata", "2024a-0+deb12u1", None),
            merge,
        ],
    );
    let inventory = write_inventory(dir.path(), &inv);
    let allow = dir.path().join("allow.toml");
    std::fs::write(&allow, ALLOW).unwrap();
    Setup {
        dir,
        db,
        inventory,
        allow,
    }
}

fn load(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn schema(name: &str) -> Value {
    load(&data(&format!("schemas/{name}")))
}

fn errors(validator: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    validator
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .unwrap()
}

#[test]
fn sarif_validates_locates_instructions_and_a_broken_one_does_not() {
    let s = setup();
    let sarif = s.dir.path().join("scan.sarif");
    let dockerfile = s.dir.path().join("Dockerfile");
    std::fs::write(&dockerfile, DOCKERFILE).unwrap();
    let args = [
        "--allowlist",
        s.allow.to_str().unwrap(),
        "--sarif",
        sarif.to_str().unwrap(),
        "--dockerfile",
        dockerfile.to_str().unwrap(),
    ];
    let (code, _, err) = scan(&s.inventory, &s.db, &args);
    assert_eq!(code, 1, "{err}");
    let doc = load(&sarif);
    let v = validator(&schema("sarif-2.1.0.json"));
    assert_eq!(errors(&v, &doc), Vec::<String>::new());
    let results = doc["runs"][0]["results"].as_array().unwrap();
    let rule_ids: BTreeSet<&str> = results
        .iter()
        .map(|r| r["ruleId"].as_str().unwrap())
        .collect();
    assert!(rule_ids.contains("CVE-2099-0010"));
    assert!(rule_ids.contains("GHSA-2099-aaaa-0001"));
    let line = |id: &str| {
        results.iter().find(|r| r["ruleId"] == id).unwrap()["locations"][0]["physicalLocation"]
            ["region"]["startLine"]
            .as_i64()
    };
    assert_eq!(line("CVE-2099-0010"), Some(2), "apt-get install is line 2");
    assert_eq!(line("GHSA-2099-aaaa-0001"), Some(3), "COPY app is line 3");
    let accepted = results
        .iter()
        .find(|r| r["ruleId"] == "CVE-2099-0001")
        .unwrap();
    assert!(
        accepted["suppressions"][0]["justification"]
            .as_str()
            .unwrap()
            .contains("not used by the renderer")
    );

    let mut broken = doc.clone();
    broken["runs"][0]["results"][0]["level"] = "fatal".into();
    assert!(!errors(&v, &broken).is_empty());
    let mut broken = doc.clone();
    broken.as_object_mut().unwrap().remove("version");
    assert!(!errors(&v, &broken).is_empty());
}

#[test]
fn sarif_without_dockerfile_points_at_the_image() {
    let s = setup();
    let sarif = s.dir.path().join("scan.sarif");
    let (_, _, err) = scan(&s.inventory, &s.db, &["--sarif", sarif.to_str().unwrap()]);
    let doc = load(&sarif);
    let v = validator(&schema("sarif-2.1.0.json"));
    assert_eq!(errors(&v, &doc), Vec::<String>::new(), "{err}");
    let location = &doc["runs"][0]["results"][0]["locations"][0];
    assert_eq!(
        location["physicalLocation"]["artifactLocation"]["uri"],
        "renderer%3Atest"
    );
    assert!(
        location["logicalLocations"][0]["name"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
}

#[test]
fn openvex_validates_with_real_package_urls_and_a_broken_one_does_not() {
    let s = setup();
    let out = cli(&[
        "vex",
        "--allowlist",
        s.allow.to_str().unwrap(),
        "--inventory",
        s.inventory.to_str().unwrap(),
        "--db",
        s.db.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let v = validator(&schema("openvex-0.2.0.json"));
    assert_eq!(errors(&v, &doc), Vec::<String>::new());
    let statements = doc["statements"].as_array().unwrap();
    assert_eq!(statements.len(), 2);
    let first = &statements[0];
    assert_eq!(first["vulnerability"]["name"], "CVE-2099-0001");
    assert_eq!(first["status"], "not_affected");
    let product = &first["products"][0];
    assert!(
        product["@id"]
            .as_str()
            .unwrap()
            .starts_with("pkg:oci/renderer@sha256:")
    );
    let subs: Vec<&str> = product["subcomponents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["@id"].as_str().unwrap())
        .collect();
    assert_eq!(
        subs,
        vec![
            "pkg:deb/debian/libssl3@3.0.15-1~deb12u1?arch=amd64&distro=debian-12",
            "pkg:deb/debian/openssl@3.0.15-1~deb12u1?arch=amd64&distro=debian-12",
        ]
    );

    let mut broken = doc.clone();
    broken["statements"][0]
        .as_object_mut()
        .unwrap()
        .remove("impact_statement");
    assert!(
        !errors(&v, &broken).is_empty(),
        "not_affected needs a reason"
    );
    let mut broken = doc.clone();
    broken["statements"][0]["status"] = "ignored".into();
    assert!(!errors(&v, &broken).is_empty());
}

#[test]
fn cyclonedx_vex_validates_against_the_cyclonedx_schema() {
    let s = setup();
    let path = s.dir.path().join("vex.cdx.json");
    let args = [
        "--allowlist",
        s.allow.to_str().unwrap(),
        "--cyclonedx-vex",
        path.to_str().unwrap(),
    ];
    scan(&s.inventory, &s.db, &args);
    let doc = load(&path);
    let dir = data("cyclonedx-1.5");
    let read = |name: &str| load(&dir.join(name));
    let base = "http://cyclonedx.org/schema/";
    let registry = jsonschema::Registry::new()
        .add(
            format!("{base}spdx.SNAPSHOT.schema.json"),
            read("spdx.SNAPSHOT.schema.json"),
        )
        .unwrap()
        .add(
            format!("{base}jsf-0.82.SNAPSHOT.schema.json"),
            read("jsf-0.82.SNAPSHOT.schema.json"),
        )
        .unwrap()
        .prepare()
        .unwrap();
    let v = jsonschema::options()
        .with_registry(&registry)
        .should_validate_formats(true)
        .build(&read("bom-1.5.SNAPSHOT.schema.json"))
        .unwrap();
    assert_eq!(errors(&v, &doc), Vec::<String>::new());
    let accepted = doc["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == "CVE-2099-0001")
        .unwrap();
    assert_eq!(accepted["analysis"]["state"], "not_affected");
    let mut broken = doc.clone();
    broken["vulnerabilities"][0]["analysis"]["state"] = "fine".into();
    assert!(!errors(&v, &broken).is_empty());
}

/// The `(id, source)` pairs listed under `only here` and `only in <tool>`.
fn differences(text: &str, tool: &str) -> (Vec<String>, Vec<String>) {
    let pick = |prefix: &str| {
        text.lines()
            .filter_map(|l| l.trim().strip_prefix(prefix))
            .map(|rest| rest.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
    };
    (pick("only here:"), pick(&format!("only in {tool}:")))
}

#[test]
fn compare_with_trivy_lists_what_each_side_missed() {
    let s = setup();
    let report = data("vuln/trivy-report.json");
    let args = [
        "--allowlist",
        s.allow.to_str().unwrap(),
        "--compare",
        report.to_str().unwrap(),
    ];
    let (code, out, err) = scan(&s.inventory, &s.db, &args);
    assert_eq!(code, 1, "{err}");
    let (ours, theirs) = differences(&out, "trivy");
    assert_eq!(
        ours,
        vec!["CVE-2099-0002 openssl", "CVE-2099-0011 curl"],
        "allow-listed CVE-2099-0001 and CVE-2099-0020 are left out\n{out}"
    );
    assert_eq!(theirs, vec!["CVE-2099-0500 openssl"], "{out}");
    assert!(out.contains("compared with trivy: 4 in both"), "{out}");
}

#[test]
fn compare_with_grype_maps_upstreams_and_aliases() {
    let s = setup();
    let report = data("vuln/grype-report.json");
    let args = [
        "--allowlist",
        s.allow.to_str().unwrap(),
        "--compare",
        report.to_str().unwrap(),
    ];
    let (_, out, err) = scan(&s.inventory, &s.db, &args);
    let (ours, theirs) = differences(&out, "grype");
    assert_eq!(
        ours,
        vec![
            "CVE-2099-0003 openssl",
            "CVE-2099-0011 curl",
            "CVE-2099-0012 curl"
        ],
        "{out}\n{err}"
    );
    assert_eq!(theirs, vec!["CVE-2099-0600 openssl"], "{out}");
    assert!(out.contains("compared with grype: 3 in both"), "{out}");
    assert!(out.contains("(1 of theirs allow-listed)"), "{out}");

    let mut json_args = args.to_vec();
    json_args.extend_from_slice(&["--format", "json"]);
    let (_, out, _) = scan(&s.inventory, &s.db, &json_args);
    let doc: Value = serde_json::from_str(&out).expect("JSON stays JSON with --compare");
    let theirs = &doc["comparison"]["only_theirs"];
    assert_eq!(theirs[0]["id"], "CVE-2099-0600");
    assert_eq!(theirs[0]["source_package"], "openssl");
}

#[test]
fn table_groups_by_source_package_and_ends_in_a_verdict() {
    let s = setup();
    let (code, out, _) = scan(
        &s.inventory,
        &s.db,
        &["--allowlist", s.allow.to_str().unwrap()],
    );
    assert_eq!(code, 1);
    let groups: Vec<&str> = out
        .lines()
        .filter(|l| !l.starts_with(' ') && l.contains("  ["))
        .collect();
    assert_eq!(
        groups,
        vec![
            "@scope/merge 2.1.3  [@scope/merge]",
            "curl 7.88.1-10+deb12u8  [curl, libcurl4]",
            "openssl 3.0.15-1~deb12u1  [libssl3, openssl]",
            "tzdata 2024a-0+deb12u1  [tzdata]",
        ]
    );
    assert!(out.contains("  layer 1: RUN /bin/sh -c apt-get install -y curl # buildkit"));
    assert!(
        out.contains("accepted by allow-list entry 2: tzdata is refreshed"),
        "{out}"
    );
    let verdict = out.lines().last().unwrap();
    assert!(
        verdict.starts_with("FAIL: 5 findings at or above high not accepted"),
        "{verdict}"
    );
}
