//! Where an image comes from: the engine or a saved archive.

use std::path::PathBuf;

use super::archive::{ArchiveError, ImageData, Selector, read_archive};
use super::engine::{self, EngineError, Progress};
use super::limits::Limits;

/// What the user asked to inventory.
#[derive(Debug, Clone)]
pub enum ImageSource {
    /// An image reference or id in the local engine.
    Engine(String),
    /// A `docker save` or OCI layout archive; the reference picks one image inside it.
    Archive {
        path: PathBuf,
        reference: Option<String>,
    },
}

/// Why an image could not be read from its source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot open archive {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl ImageSource {
    /// The reference or file name to show to the user.
    pub fn describe(&self) -> String {
        match self {
            ImageSource::Engine(r) => r.clone(),
            ImageSource::Archive {
                path,
                reference: Some(r),
            } => format!("{r} in {}", path.display()),
            ImageSource::Archive {
                path,
                reference: None,
            } => path.display().to_string(),
        }
    }

    /// Reads the image and all its layers.
    pub async fn load(
        &self,
        selector: &Selector,
        limits: &Limits,
        progress: Progress,
    ) -> Result<ImageData, SourceError> {
        match self {
            ImageSource::Engine(reference) => {
                let docker = engine::connect().await?;
                let platform = selector.platform.as_ref();
                Ok(engine::read_image(&docker, reference, platform, limits, progress).await?)
            }
            ImageSource::Archive { path, reference } => {
                let file = std::fs::File::open(path).map_err(|source| SourceError::Open {
                    path: path.clone(),
                    source,
                })?;
                let name = path.display().to_string();
                let selector = Selector {
                    reference: reference.clone(),
                    platform: selector.platform.clone(),
                };
                let limits = limits.clone();
                let task = tokio::task::spawn_blocking(move || {
                    read_archive(file, &name, &selector, &limits, &*progress)
                });
                match task.await {
                    Ok(result) => Ok(result?),
                    Err(join) => std::panic::resume_unwind(join.into_panic()),
                }
            }
        }
    }
}
