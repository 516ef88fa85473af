//! Inventories of real images in the local Docker engine, checked against the tools that
//! own each kind of data: dpkg-query, the image history, `node --version` and the npm tree.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use common::*;
use renderer_image::inventory::{Inventory, PackageKind};

const LAYERED: &str = "renderer-inventory-test:layers";

/// A small Debian package made on the host, to install in a later layer.
fn probe_deb(dir: &Path) -> Vec<u8> {
    let root = dir.join("inv-probe");
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(root.join("usr/share/inv-probe")).unwrap();
    std::fs::write(
        root.join("DEBIAN/control"),
        "Package: inv-probe\nVersion: 1.0-1\nSource: inv-probe-src (0.9-2)\nArchitecture: all\n\
         Maintainer: Test <test@example.invalid>\nDescription: inventory test package\n",
    )
    .unwrap();
    std::fs::write(root.join("usr/share/inv-probe/README"), "probe\n").unwrap();
    let deb = dir.join("inv-probe.deb");
    let out = Command::new("dpkg-deb")
        .args(["--build", "--root-owner-group"])
        .arg(&root)
        .arg(&deb)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(deb).unwrap()
}

/// Base image plus layers: a package installed, one removed, an npm tree copied, with
/// metadata-only steps in between.
fn layered_image() -> &'static str {
    static IMAGE: OnceLock<()> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let base = ensure_base_image();
        let dir = temp_dir();
        let dockerfile = format!(
            "FROM {base}\n\
             ENV INVENTORY_TEST=1\n\
             COPY inv-probe.deb /tmp/inv-probe.deb\n\
             RUN dpkg -i /tmp/inv-probe.deb && rm /tmp/inv-probe.deb\n\
             LABEL inventory.test=layers\n\
             RUN dpkg --purge fonts-noto-color-emoji\n\
             COPY app /opt/app\n\
             CMD [\"node\"]\n"
        );
        let pkg = |name: &str, version: &str| {
            format!("{{\"name\":\"{name}\",\"version\":\"{version}\"}}")
        };
        let ctx = Context::default()
            .file("Dockerfile", dockerfile)
            .file("inv-probe.deb", probe_deb(dir.path()))
            .file("app/package.json", pkg("app", "0.0.1"))
            .file(
                "app/node_modules/left-pad/package.json",
                pkg("left-pad", "1.3.0"),
            )
            .file(
                "app/node_modules/left-pad/lib/package.json",
                "{\"type\":\"module\"}",
            )
            .file(
                "app/node_modules/left-pad/node_modules/nested/package.json",
                pkg("nested", "2.0.0"),
            )
            .file(
                "app/node_modules/@scope/util/package.json",
                pkg("@scope/util", "0.4.1"),
            );
        build_image(LAYERED, ctx);
    });
    LAYERED
}

fn layered_inventory() -> &'static Inventory {
    static INV: OnceLock<Inventory> = OnceLock::new();
    INV.get_or_init(|| inventory_json(&[layered_image()]))
}

/// `dpkg-query` run against the image's own dpkg database, exported from a container.
fn dpkg_query_installed(image: &str) -> Vec<(String, String)> {
    let dir = temp_dir();
    let cid = String::from_utf8(docker(&["create", image]).stdout)
        .unwrap()
        .trim()
        .to_string();
    let script = format!(
        "docker export {cid} | tar -x -C {} var/lib/dpkg",
        dir.path().display()
    );
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    docker(&["rm", &cid]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("dpkg-query")
        .arg(format!("--admindir={}/var/lib/dpkg", dir.path().display()))
        .args(["-W", "-f=${db:Status-Abbrev} ${Package} ${Version}\n"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut rows: Vec<(String, String)> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("ii "))
        .map(|l| {
            let (name, version) = l.trim_start().split_once(' ').unwrap();
            (name.to_string(), version.to_string())
        })
        .collect();
    rows.sort();
    rows
}

fn debs(inv: &Inventory) -> Vec<(String, String)> {
    let mut rows: Vec<_> = inv
        .packages
        .iter()
        .filter(|p| p.kind == PackageKind::Deb)
        .map(|p| (p.name.clone(), p.version.clone()))
        .collect();
    rows.sort();
    rows
}

#[test]
fn debian_packages_equal_dpkg_query_on_the_same_filesystem() {
    let image = layered_image();
    let expected = dpkg_query_installed(image);
    assert!(
        expected.iter().any(|(n, _)| n == "chromium"),
        "base image lacks chromium"
    );
    assert_eq!(debs(layered_inventory()), expected);
}

#[test]
fn reports_debian_release_and_source_packages() {
    let inv = layered_inventory();
    let distro = inv.distro.as_ref().expect("distro");
    assert_eq!(
        (distro.id.as_str(), distro.codename.as_deref()),
        ("debian", Some("bookworm"))
    );
    assert_eq!(distro.version_id.as_deref(), Some("12"));
    assert!(
        distro
            .point_release
            .as_deref()
            .unwrap_or("")
            .starts_with("12.")
    );
    let probe = inv
        .packages
        .iter()
        .find(|p| p.name == "inv-probe")
        .expect("inv-probe");
    let deb = probe.deb.as_ref().unwrap();
    assert_eq!(
        (deb.source_name.as_str(), deb.source_version.as_str()),
        ("inv-probe-src", "0.9-2")
    );
    assert!(
        probe.purl.starts_with("pkg:deb/debian/inv-probe@1.0-1?"),
        "{}",
        probe.purl
    );
    assert!(probe.purl.contains("distro=debian-12"), "{}", probe.purl);
}

/// Layers that hold files, in order, from the engine's own history (newest first there).
fn history_instructions(image: &str) -> Vec<String> {
    let out = docker(&["history", "--no-trunc", "--format", "{{.CreatedBy}}", image]);
    let mut steps: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .filter(|s| !s.contains("#(nop) ") || s.contains("#(nop) COPY") || s.contains("#(nop) ADD"))
        .collect();
    steps.reverse();
    steps
}

#[test]
fn removed_package_disappears_and_layers_match_history() {
    let inv = layered_inventory();
    assert!(
        inv.packages
            .iter()
            .all(|p| p.name != "fonts-noto-color-emoji")
    );
    assert!(inv.packages.iter().any(|p| p.name == "fonts-noto-cjk"));

    let history = history_instructions(layered_image());
    assert_eq!(inv.layers.len(), history.len(), "layers {:#?}", inv.layers);
    assert!(inv.layers.len() >= 5);
    for (layer, step) in inv.layers.iter().zip(&history) {
        let step = step
            .trim_start_matches("/bin/sh -c #(nop) ")
            .trim_start_matches("/bin/sh -c ");
        assert!(
            layer.instruction.ends_with(step.trim()),
            "{} vs {step}",
            layer.instruction
        );
    }
    for p in &inv.packages {
        let layer = &inv.layers[p.layer.index];
        assert_eq!(
            (&p.layer.diff_id, &p.layer.instruction),
            (&layer.diff_id, &layer.instruction)
        );
    }
    let layer_of = |name: &str| {
        let p = inv.packages.iter().find(|p| p.name == name).unwrap();
        (p.layer.index, p.layer.instruction.clone())
    };
    let (index, instruction) = layer_of("inv-probe");
    assert_eq!(index, 2);
    assert!(
        instruction.starts_with("RUN dpkg -i /tmp/inv-probe.deb"),
        "{instruction}"
    );
    let (index, instruction) = layer_of("libc6");
    assert_eq!(index, 0);
    assert!(instruction.contains("mmdebstrap"), "{instruction}");
    let (index, instruction) = layer_of("left-pad");
    assert_eq!(index, 4);
    assert!(instruction.starts_with("COPY "), "{instruction}");
    assert!(
        inv.unaccounted_executables
            .iter()
            .all(|e| !e.path.starts_with("/tmp/")),
        "deleted files must not appear"
    );
}

#[test]
fn node_binary_reports_the_same_version_as_node_version() {
    let inv = layered_inventory();
    let out = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        layered_image(),
        "node",
        "--version",
    ]);
    let expected = String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .trim_start_matches('v')
        .to_string();
    let node: Vec<_> = inv
        .packages
        .iter()
        .filter(|p| p.kind == PackageKind::NodeRuntime)
        .collect();
    assert_eq!(node.len(), 1, "{node:#?}");
    assert_eq!(
        (node[0].path.as_str(), node[0].version.as_str()),
        ("/usr/local/bin/node", &*expected)
    );
    assert_eq!(node[0].purl, format!("pkg:generic/node@{expected}"));
}

/// Package roots under `node_modules` in a host directory, found by walking it.
fn npm_roots(dir: &Path, shown_as: &str, out: &mut BTreeSet<(String, String, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !entry.file_type().unwrap().is_dir() {
            continue;
        }
        let shown = format!("{shown_as}/{}", entry.file_name().to_string_lossy());
        let parent = dir.file_name().unwrap().to_string_lossy().to_string();
        let grand = dir
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().to_string());
        let is_root = parent == "node_modules"
            || (parent.starts_with('@') && grand.as_deref() == Some("node_modules"));
        if is_root && let Ok(text) = std::fs::read_to_string(path.join("package.json")) {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            if let (Some(n), Some(ver)) = (v["name"].as_str(), v["version"].as_str()) {
                out.insert((n.into(), ver.into(), format!("{shown}/package.json")));
            }
        }
        npm_roots(&path, &shown, out);
    }
}

#[test]
fn npm_tree_with_scoped_and_nested_packages_is_found_whole() {
    let inv = layered_inventory();
    let found: BTreeSet<(String, String, String)> = inv
        .packages
        .iter()
        .filter(|p| p.kind == PackageKind::Npm)
        .map(|p| (p.name.clone(), p.version.clone(), p.path.clone()))
        .collect();
    let mut expected = BTreeSet::new();
    npm_roots(
        Path::new("/usr/lib/node_modules/npm"),
        "/usr/local/lib/node_modules/npm",
        &mut expected,
    );
    let npm_version = |t: &str| {
        let v: serde_json::Value = serde_json::from_str(t).unwrap();
        v["version"].as_str().unwrap().to_string()
    };
    let own = std::fs::read_to_string("/usr/lib/node_modules/npm/package.json").unwrap();
    expected.insert((
        "npm".into(),
        npm_version(&own),
        "/usr/local/lib/node_modules/npm/package.json".into(),
    ));
    for (n, v, p) in [
        (
            "left-pad",
            "1.3.0",
            "/opt/app/node_modules/left-pad/package.json",
        ),
        (
            "nested",
            "2.0.0",
            "/opt/app/node_modules/left-pad/node_modules/nested/package.json",
        ),
        (
            "@scope/util",
            "0.4.1",
            "/opt/app/node_modules/@scope/util/package.json",
        ),
    ] {
        expected.insert((n.into(), v.into(), p.into()));
    }
    assert!(expected.iter().any(|(n, _, _)| n.starts_with("@npmcli/")));
    assert_eq!(found, expected);
    let scoped = inv
        .packages
        .iter()
        .find(|p| p.name == "@scope/util")
        .unwrap();
    assert_eq!(scoped.purl, "pkg:npm/%40scope/util@0.4.1");
}

#[test]
fn saved_legacy_archive_gives_the_same_inventory_as_the_engine() {
    let dir = temp_dir();
    let archive = save_image(layered_image(), dir.path());
    let from_archive = inventory_json(&["--archive", archive.to_str().unwrap()]);
    let from_engine = layered_inventory();
    assert_eq!(from_archive.packages, from_engine.packages);
    assert_eq!(from_archive.layers, from_engine.layers);
    assert_eq!(from_archive.image.id, from_engine.image.id);
}
