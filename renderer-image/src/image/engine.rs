//! Fetching an image from the local Docker engine.
//!
//! The engine is asked first whether the image exists and for which platform, so a missing
//! image fails before any export starts. The export is then streamed straight into the
//! archive reader: it is never stored on disk.

use std::sync::Arc;

use bollard::Docker;
use futures_util::TryStreamExt;
use tokio_util::io::{StreamReader, SyncIoBridge};

use super::archive::{ArchiveError, ImageData, Platform, Selector, read_archive};
use super::limits::Limits;

/// Why the engine could not give us the image.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot reach the docker engine at {host}")]
    Unreachable {
        host: String,
        #[source]
        source: Box<bollard::errors::Error>,
    },
    #[error("image {reference:?} is not in the docker engine at {host}")]
    ImageNotFound { reference: String, host: String },
    #[error("image {reference:?} is {actual}, not the requested {wanted}")]
    WrongPlatform {
        reference: String,
        actual: String,
        wanted: String,
    },
    #[error("docker engine request about {reference:?} failed")]
    Request {
        reference: String,
        #[source]
        source: Box<bollard::errors::Error>,
    },
    #[error("export of {reference:?} from the docker engine")]
    Export {
        reference: String,
        #[source]
        source: Box<ArchiveError>,
    },
}

/// The engine address bollard will use, for messages.
pub fn engine_host() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
}

/// Connects to the local engine and agrees on an API version it supports.
pub async fn connect() -> Result<Docker, EngineError> {
    let host = engine_host();
    let unreachable = |source| EngineError::Unreachable {
        host: host.clone(),
        source: Box::new(source),
    };
    let docker = Docker::connect_with_local_defaults().map_err(unreachable)?;
    docker.negotiate_version().await.map_err(unreachable)
}

/// Progress callback shared with the blocking reader thread.
pub type Progress = Arc<dyn Fn(&str) + Send + Sync>;

/// Inspects, exports and reads one image from the engine.
pub async fn read_image(
    docker: &Docker,
    reference: &str,
    platform: Option<&Platform>,
    limits: &Limits,
    progress: Progress,
) -> Result<ImageData, EngineError> {
    let inspect = docker
        .inspect_image(reference)
        .await
        .map_err(|source| match source {
            bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            } => EngineError::ImageNotFound {
                reference: reference.into(),
                host: engine_host(),
            },
            source => EngineError::Request {
                reference: reference.into(),
                source: Box::new(source),
            },
        })?;
    if let Some(wanted) = platform {
        let os = inspect.os.clone().unwrap_or_default();
        let arch = inspect.architecture.clone().unwrap_or_default();
        let variant = inspect.variant.clone();
        let same = wanted.os == os
            && wanted.architecture == arch
            && (wanted.variant.is_none() || wanted.variant == variant);
        if !same {
            return Err(EngineError::WrongPlatform {
                reference: reference.into(),
                actual: format!("{os}/{arch}"),
                wanted: wanted.to_string(),
            });
        }
    }
    let id = inspect.id.clone().unwrap_or_else(|| reference.to_string());
    progress(&format!("exporting {reference} from the engine"));

    let stream = docker.export_image(&id).map_err(std::io::Error::other);
    let reader = SyncIoBridge::new(StreamReader::new(stream));
    let limits = limits.clone();
    let name = format!("engine export of {reference}");
    let task = tokio::task::spawn_blocking(move || {
        read_archive(reader, &name, &Selector::default(), &limits, &*progress)
    });
    let mut image = match task.await {
        Ok(result) => result,
        Err(join) => std::panic::resume_unwind(join.into_panic()),
    }
    .map_err(|source| EngineError::Export {
        reference: reference.into(),
        source: Box::new(source),
    })?;
    if image.repo_tags.is_empty() {
        image.repo_tags = inspect.repo_tags.unwrap_or_default();
    }
    Ok(image)
}
