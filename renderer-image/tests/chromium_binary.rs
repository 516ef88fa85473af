//! A Chromium binary no package owns is listed with the version the browser states; the same
//! binary owned by Debian's package is listed once, as that package.

mod common;

use common::*;
use renderer_image::inventory::PackageKind;

#[test]
fn bare_chromium_binary_reports_its_version_and_packaged_one_is_listed_once() {
    let base = ensure_base_image();
    let out = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &base,
        "cat",
        "/usr/lib/chromium/chromium",
    ]);
    let binary = out.stdout;
    let out = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &base,
        "dpkg-query",
        "-W",
        "-f=${Version}",
        "chromium",
    ]);
    let deb_version = String::from_utf8(out.stdout).unwrap();
    let upstream = deb_version.split('-').next().unwrap().to_string();

    let dir = temp_dir();
    let layer = tar_of(&[("opt/chrome-linux64/chrome", &binary, 0o755)]);
    let archive = legacy_archive(dir.path(), "bare-chrome:1", &[layer]);
    let inv = inventory_json(&["--archive", archive.to_str().unwrap()]);
    let found: Vec<_> = inv
        .packages
        .iter()
        .filter(|p| p.kind == PackageKind::Chromium)
        .collect();
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].version, upstream);
    assert_eq!(found[0].path, "/opt/chrome-linux64/chrome");
    assert!(inv.unaccounted_executables.is_empty());

    let packaged = inventory_json(&[&base]);
    assert!(
        packaged
            .packages
            .iter()
            .all(|p| p.kind != PackageKind::Chromium)
    );
    let debs = packaged
        .packages
        .iter()
        .filter(|p| p.name == "chromium")
        .count();
    assert_eq!(debs, 1);
}
