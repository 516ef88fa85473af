//! Building the image through the engine API.
//!
//! The context is two files, assembled in memory: the shipped Dockerfile and the
//! `render-supervisor` binary. The binary must carry `cargo auditable`'s dependency list, so
//! that scanners (ours included) can tell which crates the image runs; a plain
//! `cargo build` binary is refused before anything is sent to the engine.
//!
//! The classic builder is used: it needs no session, streams plain text, and the Dockerfile
//! uses nothing BuildKit alone understands.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bollard::Docker;
use bollard::query_parameters::{BuildImageOptionsBuilder, BuilderVersion};
use futures_util::StreamExt;

use super::{DOCKERFILE, is_not_found};

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildSpec {
    pub tag: String,
    /// The base image; the Dockerfile's default when `None`.
    pub base: Option<String>,
    /// Further build arguments (`KEEP_NODE`, `VERSION`, `REVISION`, `SOURCE`, ...).
    pub build_args: Vec<(String, String)>,
    pub supervisor_bin: PathBuf,
}

/// The image that came out.
#[derive(Debug, Clone)]
pub struct Built {
    pub tag: String,
    pub id: String,
    pub size: u64,
}

impl std::fmt::Display for Built {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mib = self.size as f64 / (1024.0 * 1024.0);
        write!(
            f,
            "{} {} {} bytes ({mib:.1} MiB)",
            self.tag, self.id, self.size
        )
    }
}

/// Why the image was not built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot read the supervisor binary {path}")]
    ReadBinary {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} carries no dependency list; build it with \
         `cargo auditable build --release -p render-supervisor`"
    )]
    NotAuditable {
        path: PathBuf,
        #[source]
        source: auditable_info::Error,
    },
    #[error("the build of {tag} failed at {step}: {message}\n{output}")]
    StepFailed {
        tag: String,
        step: String,
        message: String,
        output: String,
    },
    #[error("the docker engine failed while building {tag}")]
    Engine {
        tag: String,
        #[source]
        source: Box<bollard::errors::Error>,
    },
    #[error("the build of {tag} ended without an image")]
    NoImage { tag: String },
}

impl BuildError {
    /// True when the engine, not the build, is at fault.
    pub fn is_engine(&self) -> bool {
        matches!(self, BuildError::Engine { .. })
    }
}

/// Lines of a failing step's output kept for the error.
const STEP_OUTPUT_LINES: usize = 40;

/// Builds the image, passing each line of progress to `progress`.
pub async fn build(
    docker: &Docker,
    spec: &BuildSpec,
    progress: &mut dyn FnMut(&str),
) -> Result<Built, BuildError> {
    let binary = read_supervisor(&spec.supervisor_bin)?;
    let context = context_tar(&binary).map_err(|source| BuildError::ReadBinary {
        path: spec.supervisor_bin.clone(),
        source,
    })?;

    let mut args: HashMap<String, String> = HashMap::new();
    args.insert("VERSION".into(), env!("CARGO_PKG_VERSION").into());
    if let Some(base) = &spec.base {
        args.insert("BASE".into(), base.clone());
    }
    args.extend(spec.build_args.iter().cloned());
    let options = BuildImageOptionsBuilder::default()
        .dockerfile("Dockerfile")
        .t(&spec.tag)
        .buildargs(&args)
        .rm(true)
        .forcerm(true)
        .version(BuilderVersion::BuilderV1)
        .build();

    let engine = |source| BuildError::Engine {
        tag: spec.tag.clone(),
        source: Box::new(source),
    };
    let mut step = Step::default();
    let mut stream = docker.build_image(options, None, Some(bollard::body_full(context.into())));
    while let Some(item) = stream.next().await {
        let info = match item {
            Ok(info) => info,
            Err(bollard::errors::Error::DockerStreamError { error }) => {
                return Err(step.failed(&spec.tag, error));
            }
            Err(source) => return Err(engine(source)),
        };
        if let Some(detail) = info.error_detail {
            let message = detail.message.unwrap_or_else(|| "unknown error".into());
            return Err(step.failed(&spec.tag, message));
        }
        for text in [info.stream, info.status].into_iter().flatten() {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                step.record(line);
                progress(line);
            }
        }
    }

    let inspect = docker.inspect_image(&spec.tag).await.map_err(|source| {
        if is_not_found(&source) {
            BuildError::NoImage {
                tag: spec.tag.clone(),
            }
        } else {
            engine(source)
        }
    })?;
    Ok(Built {
        tag: spec.tag.clone(),
        id: inspect.id.unwrap_or_default(),
        size: inspect.size.unwrap_or_default().max(0) as u64,
    })
}

/// Reads the binary and checks that it carries its dependency list.
fn read_supervisor(path: &Path) -> Result<Vec<u8>, BuildError> {
    let bytes = std::fs::read(path).map_err(|source| BuildError::ReadBinary {
        path: path.into(),
        source,
    })?;
    auditable_info::audit_info_from_slice(&bytes, 8 << 20).map_err(|source| {
        BuildError::NotAuditable {
            path: path.into(),
            source,
        }
    })?;
    Ok(bytes)
}

/// The build context: the Dockerfile and the binary, as a tar in memory.
fn context_tar(binary: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data, mode) in [
        ("Dockerfile", DOCKERFILE.as_bytes(), 0o644),
        ("render-supervisor", binary, 0o755),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, name, data)?;
    }
    tar.into_inner()
}

/// The step being built and the tail of its output, for the error when it fails.
#[derive(Debug, Default)]
struct Step {
    title: String,
    output: Vec<String>,
}

impl Step {
    fn record(&mut self, line: &str) {
        if line.starts_with("Step ") {
            self.title = line.to_string();
            self.output.clear();
            return;
        }
        if self.output.len() == STEP_OUTPUT_LINES {
            self.output.remove(0);
        }
        self.output.push(line.to_string());
    }

    fn failed(&self, tag: &str, message: String) -> BuildError {
        let step = if self.title.is_empty() {
            "the start".to_string()
        } else {
            self.title.clone()
        };
        BuildError::StepFailed {
            tag: tag.into(),
            step,
            message,
            output: self.output.join("\n"),
        }
    }
}

/// Parses `KEY=VALUE`.
pub fn parse_build_arg(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.into(), value.into())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_step_keeps_its_title_and_the_tail_of_its_output() {
        let mut step = Step::default();
        step.record("Step 1/3 : FROM base");
        step.record("noise from step one");
        step.record("Step 2/3 : RUN false");
        for i in 0..50 {
            step.record(&format!("line {i}"));
        }
        let BuildError::StepFailed { step, output, .. } = step.failed("t", "exit 1".into()) else {
            panic!("wrong variant");
        };
        assert_eq!(step, "Step 2/3 : RUN false");
        assert!(!output.contains("noise"));
        assert!(output.ends_with("line 49"));
        assert_eq!(output.lines().count(), STEP_OUTPUT_LINES);
    }

    #[test]
    fn build_args_need_a_key() {
        assert_eq!(
            parse_build_arg("KEEP_NODE=false"),
            Ok(("KEEP_NODE".into(), "false".into()))
        );
        assert_eq!(parse_build_arg("A=b=c"), Ok(("A".into(), "b=c".into())));
        assert!(parse_build_arg("=x").is_err());
        assert!(parse_build_arg("nothing").is_err());
    }

    #[test]
    fn context_holds_the_dockerfile_and_an_executable_binary() {
        let tar = context_tar(b"\x7fELF").unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let entries: Vec<(String, u32)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let path = e.path().unwrap().display().to_string();
                (path, e.header().mode().unwrap())
            })
            .collect();
        assert_eq!(
            entries,
            [
                ("Dockerfile".to_string(), 0o644),
                ("render-supervisor".to_string(), 0o755)
            ]
        );
    }
}
