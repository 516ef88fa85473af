//! Shared helpers for tests that use the real Docker engine.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

use renderer_image::base::{BaseSpec, ensure_base};
use renderer_image::inventory::Inventory;

/// Tag of the offline bookworm base image; built on first use and then reused.
pub fn base_tag() -> String {
    std::env::var("RENDERER_BASE_TAG").unwrap_or_else(|_| "renderer-base:bookworm".into())
}

static BASE: Mutex<bool> = Mutex::new(false);

/// Makes sure the base image exists, building it (minutes) the first time.
pub fn ensure_base_image() -> String {
    let tag = base_tag();
    let mut ready = BASE.lock().unwrap_or_else(|p| p.into_inner());
    if !*ready {
        let spec = BaseSpec {
            tag: tag.clone(),
            node_version: None,
            force: false,
            chromium: true,
        };
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(ensure_base(&spec))
            .expect("building the base image");
        *ready = true;
    }
    tag
}

/// A build context assembled in memory.
#[derive(Default)]
pub struct Context {
    files: Vec<(String, Vec<u8>, u32)>,
}

impl Context {
    pub fn file(mut self, path: &str, data: impl Into<Vec<u8>>) -> Self {
        self.files.push((path.into(), data.into(), 0o644));
        self
    }

    pub fn exec(mut self, path: &str, data: impl Into<Vec<u8>>) -> Self {
        self.files.push((path.into(), data.into(), 0o755));
        self
    }

    fn tar(&self) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data, mode) in &self.files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(*mode);
            h.set_cksum();
            b.append_data(&mut h, path, data.as_slice()).unwrap();
        }
        b.into_inner().unwrap()
    }
}

static BUILD: Mutex<()> = Mutex::new(());

/// Builds an image with the classic builder, so every step shows in the history.
pub fn build_image(tag: &str, context: Context) {
    let _serial = BUILD.lock().unwrap_or_else(|p| p.into_inner());
    let mut child = Command::new("docker")
        .args(["build", "-q", "-t", tag, "-"])
        .env("DOCKER_BUILDKIT", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docker build");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&context.tar())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "docker build {tag}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn docker(args: &[&str]) -> Output {
    let out = Command::new("docker").args(args).output().expect("docker");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs the `renderer-image` binary.
pub fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_renderer-image"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs `renderer-image inventory … --format json` and parses the result.
pub fn inventory_json(args: &[&str]) -> Inventory {
    let mut all = vec!["inventory"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let out = cli(&all);
    assert!(
        out.status.success(),
        "inventory {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("inventory JSON")
}

pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Saves an image from the engine into `dir`.
pub fn save_image(tag: &str, dir: &Path) -> PathBuf {
    let path = dir.join("image.tar");
    docker(&["save", "-o", path.to_str().unwrap(), tag]);
    path
}

/// A tar of regular files, each with the given mode.
pub fn tar_of(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data, mode) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(*mode);
        h.set_cksum();
        b.append_data(&mut h, path, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes a legacy `docker save` archive with uncompressed layers, one history step each.
pub fn legacy_archive(dir: &Path, tag: &str, layers: &[Vec<u8>]) -> PathBuf {
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| format!("sha256:{}", sha256_hex(l)))
        .collect();
    let history: Vec<_> = (0..layers.len())
        .map(|i| serde_json::json!({"created_by": format!("/bin/sh -c step-{i}")}))
        .collect();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids}, "history": history,
    })
    .to_string();
    let config_name = format!("{}.json", sha256_hex(config.as_bytes()));
    let layer_names: Vec<String> = diff_ids
        .iter()
        .map(|d| format!("{}/layer.tar", &d[7..]))
        .collect();
    let manifest = serde_json::json!([
        {"Config": config_name, "RepoTags": [tag], "Layers": layer_names}
    ])
    .to_string();
    let mut files: Vec<(&str, &[u8], u32)> = vec![
        (config_name.as_str(), config.as_bytes(), 0o644),
        ("manifest.json", manifest.as_bytes(), 0o644),
    ];
    for (name, layer) in layer_names.iter().zip(layers) {
        files.push((name.as_str(), layer.as_slice(), 0o644));
    }
    let path = dir.join("legacy.tar");
    std::fs::write(&path, tar_of(&files)).unwrap();
    path
}
