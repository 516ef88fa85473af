//! Archives crafted by hand: OCI layouts with gzip and zstd layers, several platforms, and
//! hostile or broken input that must be refused with exit code 2 and a message saying what
//! and where.

mod common;

use std::path::{Path, PathBuf};

use common::{cli, temp_dir};
use renderer_image::inventory::Inventory;
use sha2::{Digest, Sha256};

enum Item<'a> {
    File(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
}

#[derive(Clone, Copy)]
enum Comp {
    None,
    Gzip,
    Zstd,
}

/// Writes a tar header with the name set byte for byte, so unsafe names survive.
fn raw_tar(items: &[Item]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for item in items {
        let mut h = tar::Header::new_gnu();
        let (name, data, kind, link): (&str, &[u8], _, Option<&str>) = match item {
            Item::File(n, d) => (n, d, tar::EntryType::Regular, None),
            Item::Symlink(n, t) => (n, b"", tar::EntryType::Symlink, Some(t)),
            Item::Hardlink(n, t) => (n, b"", tar::EntryType::Link, Some(t)),
        };
        h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(t) = link {
            h.as_gnu_mut().unwrap().linkname[..t.len()].copy_from_slice(t.as_bytes());
        }
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

fn compress(data: &[u8], comp: Comp) -> Vec<u8> {
    use std::io::Write;
    match comp {
        Comp::None => data.to_vec(),
        Comp::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Comp::Zstd => zstd::encode_all(data, 3).unwrap(),
    }
}

fn digest(data: &[u8]) -> String {
    let hex: String = Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// An OCI image layout: one manifest per platform, each with the given layers.
struct Oci {
    blobs: Vec<(String, Vec<u8>)>,
    manifests: Vec<serde_json::Value>,
}

impl Oci {
    fn new() -> Self {
        Oci {
            blobs: Vec::new(),
            manifests: Vec::new(),
        }
    }

    fn blob(&mut self, data: Vec<u8>) -> String {
        let d = digest(&data);
        self.blobs.push((d.clone(), data));
        d
    }

    fn image(mut self, arch: &str, layers: Vec<(Vec<u8>, Comp)>) -> Self {
        let mut diff_ids = Vec::new();
        let mut descriptors = Vec::new();
        for (tar, comp) in layers {
            diff_ids.push(digest(&tar));
            let blob = compress(&tar, comp);
            let size = blob.len();
            let media = match comp {
                Comp::None => "application/vnd.oci.image.layer.v1.tar",
                Comp::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
                Comp::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
            };
            let d = self.blob(blob);
            descriptors.push(serde_json::json!({"mediaType": media, "digest": d, "size": size}));
        }
        let history: Vec<_> = (0..diff_ids.len())
            .map(|i| serde_json::json!({"created_by": format!("step {i}")}))
            .collect();
        let config = serde_json::json!({
            "architecture": arch, "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": history,
        })
        .to_string()
        .into_bytes();
        let config_size = config.len();
        let config_digest = self.blob(config);
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": config_digest, "size": config_size},
            "layers": descriptors,
        })
        .to_string()
        .into_bytes();
        let size = manifest.len();
        let d = self.blob(manifest);
        self.manifests.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": d, "size": size,
            "platform": {"architecture": arch, "os": "linux"},
        }));
        self
    }

    fn write(self, dir: &Path) -> PathBuf {
        let index = serde_json::json!({"schemaVersion": 2, "manifests": self.manifests});
        let mut files: Vec<(String, Vec<u8>)> = vec![
            (
                "oci-layout".into(),
                b"{\"imageLayoutVersion\":\"1.0.0\"}".to_vec(),
            ),
            ("index.json".into(), index.to_string().into_bytes()),
        ];
        for (d, data) in self.blobs {
            files.push((
                format!("blobs/sha256/{}", d.trim_start_matches("sha256:")),
                data,
            ));
        }
        let items: Vec<Item> = files.iter().map(|(n, d)| Item::File(n, d)).collect();
        let path = dir.join("oci.tar");
        std::fs::write(&path, raw_tar(&items)).unwrap();
        path
    }
}

const STATUS: &[u8] = b"Package: hello\nStatus: install ok installed\nArchitecture: amd64\n\
Version: 2.10-3\n\nPackage: gone\nStatus: install ok installed\nArchitecture: all\nVersion: 1\n";
const STATUS_AFTER: &[u8] =
    b"Package: hello\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.10-3\n";
const OS_RELEASE: &[u8] = b"ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n";

fn base_layer() -> Vec<u8> {
    raw_tar(&[
        Item::File("usr/lib/os-release", OS_RELEASE),
        Item::Symlink("etc/os-release", "../usr/lib/os-release"),
        Item::File("var/lib/dpkg/status", STATUS),
        Item::File("usr/share/gone/file", b"x"),
    ])
}

fn inventory(archive: &Path, extra: &[&str]) -> Inventory {
    let mut args = vec![
        "inventory",
        "--archive",
        archive.to_str().unwrap(),
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = cli(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs the inventory and expects exit code 2 with `needle` in the message.
fn refused(archive: &Path, needle: &str) {
    let out = cli(&["inventory", "--archive", archive.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
    assert!(out.stdout.is_empty());
}

fn one_layer(layer: Vec<u8>, comp: Comp) -> (tempfile::TempDir, PathBuf) {
    let dir = temp_dir();
    let path = Oci::new()
        .image("amd64", vec![(layer, comp)])
        .write(dir.path());
    (dir, path)
}

#[test]
fn reads_oci_layout_with_gzip_and_zstd_layers_and_whiteouts() {
    let dir = temp_dir();
    let upper = raw_tar(&[
        Item::File("var/lib/dpkg/status", STATUS_AFTER),
        Item::File("usr/share/.wh.gone", b""),
    ]);
    let archive = Oci::new()
        .image(
            "amd64",
            vec![(base_layer(), Comp::Gzip), (upper, Comp::Zstd)],
        )
        .write(dir.path());
    let inv = inventory(&archive, &[]);
    let names: Vec<_> = inv.packages.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["hello"]);
    assert_eq!(inv.packages[0].layer.index, 0);
    assert_eq!(inv.packages[0].layer.instruction, "step 0");
    assert_eq!(
        inv.distro.as_ref().unwrap().codename.as_deref(),
        Some("bookworm")
    );
    assert_eq!(inv.layers.len(), 2);
    assert_ne!(
        inv.layers[1].digest, inv.layers[1].diff_id,
        "zstd blob digest differs"
    );
}

#[test]
fn picks_one_platform_from_a_multi_platform_index() {
    let dir = temp_dir();
    let archive = Oci::new()
        .image("amd64", vec![(base_layer(), Comp::Gzip)])
        .image("arm64", vec![(base_layer(), Comp::Zstd)])
        .write(dir.path());
    let inv = inventory(&archive, &["--platform", "linux/arm64"]);
    assert_eq!(inv.image.architecture, "arm64");
    refused(&archive, "holds several images");
    let out = cli(&[
        "inventory",
        "--archive",
        archive.to_str().unwrap(),
        "--platform",
        "linux/s390x",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no image matches linux/s390x"));
}

#[test]
fn refuses_layer_entry_that_climbs_out_of_the_root() {
    let (_d, archive) = one_layer(raw_tar(&[Item::File("../../etc/passwd", b"x")]), Comp::Gzip);
    refused(&archive, "climbs out of the image root");
}

#[test]
fn refuses_layer_entry_with_absolute_path() {
    let (_d, archive) = one_layer(raw_tar(&[Item::File("/etc/passwd", b"x")]), Comp::None);
    refused(&archive, "has an absolute path");
}

#[test]
fn refuses_symlink_pointing_outside_the_root() {
    let layer = raw_tar(&[Item::Symlink("usr/lib/evil", "../../../etc/shadow")]);
    let (_d, archive) = one_layer(layer, Comp::Zstd);
    refused(
        &archive,
        "symlink \"usr/lib/evil\" points outside the image root",
    );
}

#[test]
fn refuses_hardlink_pointing_outside_the_root() {
    let layer = raw_tar(&[Item::Hardlink("usr/lib/evil", "../../etc/shadow")]);
    let (_d, archive) = one_layer(layer, Comp::Gzip);
    refused(
        &archive,
        "hardlink \"usr/lib/evil\" points outside the image root",
    );
}

#[test]
fn refuses_gzip_decompression_bomb() {
    let zeros = vec![0u8; 200 << 20];
    let layer = raw_tar(&[Item::File("zeros", &zeros)]);
    let (_d, archive) = one_layer(layer, Comp::Gzip);
    refused(&archive, "decompression bomb");
}

#[test]
fn refuses_zstd_decompression_bomb() {
    let zeros = vec![0u8; 200 << 20];
    let layer = raw_tar(&[Item::File("zeros", &zeros)]);
    let (_d, archive) = one_layer(layer, Comp::Zstd);
    refused(&archive, "decompression bomb");
}

#[test]
fn refuses_truncated_archive() {
    let (dir, archive) = one_layer(base_layer(), Comp::Gzip);
    let bytes = std::fs::read(&archive).unwrap();
    let cut = dir.path().join("cut.tar");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = cli(&["inventory", "--archive", cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cut.tar"));
}

#[test]
fn refuses_layer_whose_content_does_not_match_its_digest() {
    let dir = temp_dir();
    let mut oci = Oci::new().image("amd64", vec![(base_layer(), Comp::None)]);
    let layer = oci.blobs.iter_mut().find(|(_, d)| d.len() > 1000).unwrap();
    let at = layer.1.iter().position(|b| *b == b'h').unwrap();
    layer.1[at] = b'j';
    let archive = oci.write(dir.path());
    refused(&archive, "has digest sha256:");
}

#[test]
fn refuses_malformed_status_file_naming_it() {
    let layer = raw_tar(&[Item::File(
        "var/lib/dpkg/status",
        b"Package: a\nnot a field\n",
    )]);
    let (_d, archive) = one_layer(layer, Comp::Gzip);
    refused(&archive, "var/lib/dpkg/status:2: malformed status entry");
}

#[test]
fn refuses_archive_member_that_climbs_out() {
    let dir = temp_dir();
    let path = dir.path().join("evil.tar");
    std::fs::write(&path, raw_tar(&[Item::File("../../evil", b"{}")])).unwrap();
    refused(&path, "member \"../../evil\" has an unsafe path");
    let path = dir.path().join("link.tar");
    std::fs::write(
        &path,
        raw_tar(&[Item::Symlink("manifest.json", "/etc/passwd")]),
    )
    .unwrap();
    refused(&path, "points outside the archive");
}

#[test]
fn refuses_missing_archive_and_non_archive() {
    let dir = temp_dir();
    refused(&dir.path().join("absent.tar"), "cannot open archive");
    let path = dir.path().join("empty.tar");
    std::fs::write(&path, raw_tar(&[Item::File("hello.txt", b"hi")])).unwrap();
    refused(&path, "not an image archive");
}

#[test]
fn missing_image_and_unreachable_engine_exit_2() {
    let out = cli(&["inventory", "renderer-inventory-test:does-not-exist"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not in the docker engine"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_renderer-image"))
        .args(["inventory", "anything"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot reach the docker engine at unix:///nonexistent"),
        "{stderr}"
    );
}

#[test]
fn ignores_unreferenced_blobs_that_are_not_layers_and_reads_empty_layers() {
    let dir = temp_dir();
    let empty = vec![0u8; 1024];
    let mut oci = Oci::new().image(
        "amd64",
        vec![(base_layer(), Comp::Gzip), (empty, Comp::None)],
    );
    oci.blob(b"\x89PNG not a layer, e.g. an attestation payload".to_vec());
    let inv = inventory(&oci.write(dir.path()), &[]);
    assert_eq!(inv.layers.len(), 2);
    assert_eq!(inv.packages.len(), 2);
}
