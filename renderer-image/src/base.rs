//! The offline base image: Debian bookworm built with `mmdebstrap` from the host's apt
//! sources, the host's Node.js runtime copied to `/usr/local/bin/node` (as the official
//! `node:*-bookworm-slim` images do), and Debian's Chromium with the fonts the renderer needs.
//! Without Chromium and the fonts it stands in for `node:*-bookworm-slim` itself.
//!
//! No registry is reachable where this runs, so nothing is pulled: the root filesystem is
//! wrapped in a one-layer `docker save` archive and loaded into the engine under the tag.
//! An existing tag is kept unless a rebuild is forced, because the build takes minutes.

use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use bollard::Docker;
use bollard::query_parameters::ImportImageOptionsBuilder;
use futures_util::StreamExt;
use oci_spec::image::{
    Arch, ConfigBuilder, HistoryBuilder, ImageConfigurationBuilder, Os, RootFsBuilder,
};
use sha2::{Digest, Sha256};
use tokio_util::io::ReaderStream;

use crate::image::engine::{self, EngineError};
use crate::image::layer::hex;

/// Debian packages installed on top of `minbase` in every base: what Node.js needs.
pub const NODE_PACKAGES: &[&str] = &["ca-certificates", "libstdc++6"];

/// Debian packages the renderer adds: Chromium and the fonts a report needs.
pub const RENDERER_PACKAGES: &[&str] = &[
    "chromium",
    "fonts-liberation",
    "fonts-noto-cjk",
    "fonts-noto-color-emoji",
];

const HOST_NODE: &str = "/usr/bin/node";
const HOST_NPM: &str = "/usr/lib/node_modules/npm";

/// What to build.
#[derive(Debug, Clone)]
pub struct BaseSpec {
    pub tag: String,
    /// If set, the host's Node.js must be this version (with or without a leading `v`).
    pub node_version: Option<String>,
    pub force: bool,
    /// Chromium and the fonts too; without them the base is a `node:*-bookworm-slim`
    /// equivalent, and the Dockerfile's package step installs them from the network.
    pub chromium: bool,
}

impl BaseSpec {
    fn packages(&self) -> Vec<&'static str> {
        let mut packages = NODE_PACKAGES.to_vec();
        if self.chromium {
            packages.extend_from_slice(RENDERER_PACKAGES);
        }
        packages
    }
}

/// Why the base image could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BaseError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("cannot run {program}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{program} failed with {status}")]
    Failed {
        program: String,
        status: std::process::ExitStatus,
    },
    #[error("the host's node is {found}, not the requested {wanted}; install that version")]
    NodeVersion { found: String, wanted: String },
    #[error("writing the image archive under {dir}")]
    Io {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("building the image config")]
    Config(#[from] oci_spec::OciSpecError),
    #[error("loading {tag} into the docker engine: {message}")]
    Load { tag: String, message: String },
}

/// What `ensure_base` did.
#[derive(Debug)]
pub enum BaseOutcome {
    Existing(String),
    Built {
        tag: String,
        node_version: String,
        chromium: bool,
    },
}

impl fmt::Display for BaseOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BaseOutcome::Existing(tag) => write!(f, "{tag} already exists; kept it"),
            BaseOutcome::Built {
                tag,
                node_version,
                chromium,
            } => {
                let with = if *chromium { ", chromium" } else { "" };
                write!(
                    f,
                    "built {tag} (Debian bookworm, node {node_version}{with})"
                )
            }
        }
    }
}

/// Builds the base image unless the tag already exists.
pub async fn ensure_base(spec: &BaseSpec) -> Result<BaseOutcome, BaseError> {
    let docker = engine::connect().await?;
    if !spec.force && docker.inspect_image(&spec.tag).await.is_ok() {
        return Ok(BaseOutcome::Existing(spec.tag.clone()));
    }

    // Check the runtime we will copy before spending minutes on the root filesystem.
    let node_version = host_node_version().await?;
    if let Some(wanted) = &spec.node_version
        && node_version.trim_start_matches('v') != wanted.trim_start_matches('v')
    {
        return Err(BaseError::NodeVersion {
            found: node_version,
            wanted: wanted.clone(),
        });
    }

    let work = std::env::temp_dir().join(format!("renderer-base-{}", std::process::id()));
    let io = |source| BaseError::Io {
        dir: work.clone(),
        source,
    };
    std::fs::create_dir_all(&work).map_err(io)?;
    let result = build_and_load(&docker, spec, &node_version, &work).await;
    let _ = std::fs::remove_dir_all(&work);
    result?;
    Ok(BaseOutcome::Built {
        tag: spec.tag.clone(),
        node_version,
        chromium: spec.chromium,
    })
}

async fn build_and_load(
    docker: &Docker,
    spec: &BaseSpec,
    node_version: &str,
    work: &Path,
) -> Result<(), BaseError> {
    let io = |source| BaseError::Io {
        dir: work.to_path_buf(),
        source,
    };
    let rootfs = work.join("rootfs.tar");
    let packages = spec.packages();
    run_mmdebstrap(&rootfs, &packages).await?;

    let diff_id = format!("sha256:{}", sha256_file(&rootfs).map_err(io)?);
    let config = image_config(&diff_id, node_version, &packages)?;
    let config_hex = hex(&Sha256::digest(&config));
    let layer_dir = diff_id.trim_start_matches("sha256:").to_string();
    let manifest = serde_json::json!([{
        "Config": format!("{config_hex}.json"),
        "RepoTags": [spec.tag],
        "Layers": [format!("{layer_dir}/layer.tar")],
    }]);

    let archive = work.join("image.tar");
    let file = std::fs::File::create(&archive).map_err(io)?;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
    append_bytes(&mut tar, &format!("{config_hex}.json"), &config).map_err(io)?;
    append_bytes(&mut tar, "manifest.json", manifest.to_string().as_bytes()).map_err(io)?;
    tar.append_path_with_name(&rootfs, format!("{layer_dir}/layer.tar"))
        .map_err(io)?;
    tar.into_inner().and_then(|mut w| w.flush()).map_err(io)?;
    std::fs::remove_file(&rootfs).map_err(io)?;

    let file = tokio::fs::File::open(&archive).await.map_err(io)?;
    let options = ImportImageOptionsBuilder::default().quiet(true).build();
    let mut stream = docker.import_image_stream(options, ReaderStream::new(file), None);
    while let Some(item) = stream.next().await {
        let load = |message: String| BaseError::Load {
            tag: spec.tag.clone(),
            message,
        };
        let info = item.map_err(|e| load(e.to_string()))?;
        if let Some(message) = info.error_detail.and_then(|d| d.message) {
            return Err(load(message));
        }
    }
    docker
        .inspect_image(&spec.tag)
        .await
        .map_err(|e| BaseError::Load {
            tag: spec.tag.clone(),
            message: format!("the engine does not list it after loading: {e}"),
        })?;
    Ok(())
}

async fn host_node_version() -> Result<String, BaseError> {
    let spawn = |source| BaseError::Spawn {
        program: HOST_NODE.into(),
        source,
    };
    let out = tokio::process::Command::new(HOST_NODE)
        .arg("--version")
        .output()
        .await
        .map_err(spawn)?;
    if !out.status.success() {
        return Err(BaseError::Failed {
            program: HOST_NODE.into(),
            status: out.status,
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .trim()
        .trim_start_matches('v')
        .to_string())
}

/// The host's apt source files, so the image comes from the same mirror and suites.
fn host_sources() -> Vec<String> {
    let mut files = Vec::new();
    if Path::new("/etc/apt/sources.list").is_file() {
        files.push("/etc/apt/sources.list".to_string());
    }
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut found: Vec<String> = dir
            .flatten()
            .map(|e| e.path().display().to_string())
            .filter(|p| p.ends_with(".list") || p.ends_with(".sources"))
            .collect();
        found.sort();
        files.extend(found);
    }
    files
}

async fn run_mmdebstrap(rootfs: &Path, packages: &[&str]) -> Result<(), BaseError> {
    let program = "mmdebstrap";
    let mut cmd = tokio::process::Command::new(program);
    cmd.arg("--variant=minbase")
        .arg(format!("--include={}", packages.join(",")))
        .arg("--aptopt=Apt::Install-Recommends \"false\"")
        .arg(format!(
            "--customize-hook=copy-in {HOST_NODE} /usr/local/bin"
        ))
        .arg("--customize-hook=mkdir -p \"$1/usr/local/lib/node_modules\"")
        .arg(format!(
            "--customize-hook=copy-in {HOST_NPM} /usr/local/lib/node_modules"
        ))
        .arg(
            "--customize-hook=ln -sf ../lib/node_modules/npm/bin/npm-cli.js \
             \"$1/usr/local/bin/npm\"",
        )
        .arg("bookworm")
        .arg(rootfs)
        .args(host_sources())
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    let status = cmd.status().await.map_err(|source| BaseError::Spawn {
        program: program.into(),
        source,
    })?;
    if !status.success() {
        return Err(BaseError::Failed {
            program: program.into(),
            status,
        });
    }
    Ok(())
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn image_config(
    diff_id: &str,
    node_version: &str,
    packages: &[&str],
) -> Result<Vec<u8>, BaseError> {
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let arch = match std::env::consts::ARCH {
        "aarch64" => Arch::ARM64,
        _ => Arch::Amd64,
    };
    let config = ImageConfigurationBuilder::default()
        .created(now.clone())
        .architecture(arch)
        .os(Os::Linux)
        .config(
            ConfigBuilder::default()
                .env(vec![
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
                    format!("NODE_VERSION={node_version}"),
                ])
                .cmd(vec!["node".to_string()])
                .build()?,
        )
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(vec![diff_id.to_string()])
                .build()?,
        )
        .history(vec![
            HistoryBuilder::default()
                .created(now)
                .created_by(format!(
                    "mmdebstrap --variant=minbase --include={} bookworm; node {node_version} \
                     copied to /usr/local/bin/node",
                    packages.join(",")
                ))
                .build()?,
        ])
        .build()?;
    Ok(serde_json::to_vec(&config).unwrap_or_default())
}

fn append_bytes<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    data: &[u8],
) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, name, data)
}
