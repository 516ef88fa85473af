//! The Unix socket: created safely, owned by the daemon's user, mode set before anyone can
//! connect, and removed on exit.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::unistd::{Gid, Uid, chown};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SocketError {
    #[error("cannot create socket directory {path}")]
    Directory {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} exists and is not a socket; refusing to replace it")]
    NotASocket { path: PathBuf },
    #[error("cannot remove stale socket {path}")]
    Stale {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("another server is listening on {path}")]
    InUse { path: PathBuf },
    #[error("cannot bind {path}")]
    Bind {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot set owner or mode of {path}")]
    Permissions {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Binds the socket. `owner` is the uid and gid the daemon will run as (it may be about
/// to drop privileges): the socket and, when we create it, its directory are given to it.
pub fn bind(
    path: &Path,
    mode: u32,
    owner: Option<(Uid, Gid)>,
) -> Result<std::os::unix::net::UnixListener, SocketError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(|source| SocketError::Directory {
            path: dir.into(),
            source,
        })?;
        let perms = std::fs::Permissions::from_mode(0o750);
        std::fs::set_permissions(dir, perms).map_err(|source| SocketError::Directory {
            path: dir.into(),
            source,
        })?;
        if let Some((uid, gid)) = owner {
            chown(dir, Some(uid), Some(gid)).map_err(|e| SocketError::Directory {
                path: dir.into(),
                source: e.into(),
            })?;
        }
    }

    // A stale socket from an earlier run is replaced. lstat, never stat: a symlink planted
    // at the path is not followed, and anything that is not a socket is left alone.
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(SocketError::InUse { path: path.into() });
            }
            std::fs::remove_file(path).map_err(|source| SocketError::Stale {
                path: path.into(),
                source,
            })?;
        }
        Ok(_) => return Err(SocketError::NotASocket { path: path.into() }),
        Err(_) => {}
    }

    // Nobody may connect in the window between bind and chmod: the umask makes the new
    // socket private to its creator until its mode is set.
    let old_umask = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let bound = std::os::unix::net::UnixListener::bind(path);
    nix::sys::stat::umask(old_umask);
    let listener = bound.map_err(|source| SocketError::Bind {
        path: path.into(),
        source,
    })?;

    let permissions = |source| SocketError::Permissions {
        path: path.into(),
        source,
    };
    if let Some((uid, gid)) = owner {
        chown(path, Some(uid), Some(gid)).map_err(|e| permissions(e.into()))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(permissions)?;
    listener
        .set_nonblocking(true)
        .map_err(|source| SocketError::Bind {
            path: path.into(),
            source,
        })?;
    Ok(listener)
}

/// Removes the socket file if it is still ours (a socket, not something put in its place).
pub fn remove(path: &Path) {
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && meta.file_type().is_socket()
    {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rs-socket-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn sets_the_mode_and_replaces_a_stale_socket() {
        let dir = temp_dir();
        let path = dir.join("s.sock");
        drop(bind(&path, 0o660, None).unwrap());
        let listener = bind(&path, 0o600, None).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        drop(listener);
        remove(&path);
        assert!(!path.exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn refuses_to_replace_a_symlink_or_file() {
        let dir = temp_dir();
        let target = dir.join("precious");
        std::fs::write(&target, "keep").unwrap();
        let link = dir.join("s.sock");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(matches!(
            bind(&link, 0o660, None),
            Err(SocketError::NotASocket { .. })
        ));
        assert!(matches!(
            bind(&target, 0o660, None),
            Err(SocketError::NotASocket { .. })
        ));
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
