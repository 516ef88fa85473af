//! The renderer image itself: building it and running it locked down, through the engine API.
//!
//! The Dockerfile and the seccomp profile are compiled into this crate, so the command works
//! from any directory and always builds and runs the files it was released with.
//!
//! - [`build`] assembles the build context (the Dockerfile and a `render-supervisor` binary
//!   built with `cargo auditable`) in memory and builds it with the classic builder.
//! - [`run`] starts a container with every restriction the image is designed for, waits
//!   until it reports healthy, and stops it within its stop timeout.

pub mod build;
pub mod run;

use std::time::Duration;

use bollard::Docker;

use crate::image::engine::{self, EngineError};

/// The Dockerfile, as shipped.
pub const DOCKERFILE: &str = include_str!("../../Dockerfile");

/// Docker's default seccomp profile plus what Chrome's own sandbox needs.
pub const SECCOMP_PROFILE: &str = include_str!("../../seccomp.json");

/// Where the supervisor listens inside the container.
pub const SOCKET_DIR: &str = "/run/renderer";
pub const SOCKET_PATH: &str = "/run/renderer/render.sock";

/// Oldest engine API this code is tested against (Docker 20.10).
pub const MIN_API_VERSION: (u32, u32) = (1, 41);

/// Why talking to the engine failed before the work itself could start.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("cannot ask the docker engine at {host} for its version")]
    Version {
        host: String,
        #[source]
        source: Box<bollard::errors::Error>,
    },
    #[error(
        "the docker engine at {host} speaks API {found}; at least {}.{} (Docker 20.10) is needed",
        MIN_API_VERSION.0,
        MIN_API_VERSION.1
    )]
    TooOld { host: String, found: String },
}

/// Connects to the local engine and refuses one older than [`MIN_API_VERSION`].
///
/// `timeout` bounds the wait for each answer's head; stopping a container waits for its
/// whole stop timeout before the engine answers, so callers pass more than that.
pub async fn connect(timeout: Duration) -> Result<Docker, ConnectError> {
    let docker = engine::connect().await?.with_timeout(timeout);
    let version = docker
        .version()
        .await
        .map_err(|source| ConnectError::Version {
            host: engine::engine_host(),
            source: Box::new(source),
        })?;
    let found = version.api_version.unwrap_or_default();
    if parse_api_version(&found).is_none_or(|v| v < MIN_API_VERSION) {
        return Err(ConnectError::TooOld {
            host: engine::engine_host(),
            found,
        });
    }
    Ok(docker)
}

fn parse_api_version(text: &str) -> Option<(u32, u32)> {
    let (major, minor) = text.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Whether an engine error is a 404 (no such image or container).
pub(crate) fn is_not_found(error: &bollard::errors::Error) -> bool {
    matches!(
        error,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_api_versions_numerically() {
        assert_eq!(parse_api_version("1.41"), Some((1, 41)));
        assert!(parse_api_version("1.9").unwrap() < MIN_API_VERSION);
        assert!(parse_api_version("1.100").unwrap() > MIN_API_VERSION);
        assert_eq!(parse_api_version("garbage"), None);
    }

    #[test]
    fn shipped_profile_is_json_with_the_chrome_rules() {
        let profile: serde_json::Value = serde_json::from_str(SECCOMP_PROFILE).unwrap();
        let names: Vec<&str> = profile["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|rule| {
                rule["comment"]
                    .as_str()
                    .is_some_and(|c| c.starts_with("chrome sandbox"))
            })
            .flat_map(|rule| rule["names"].as_array().unwrap())
            .map(|name| name.as_str().unwrap())
            .collect();
        assert_eq!(names, ["clone", "unshare", "chroot"]);
    }
}
