//! Streaming one layer tar into a compact record of what it changes.
//!
//! A layer is read once, front to back, and never written anywhere. For every entry we keep
//! its normalised path and kind; file contents are kept only for the few files a catalogue
//! needs (package databases, release files, `package.json` of package roots), and every
//! executable is hashed and probed while it streams past. Compression is detected from the
//! magic bytes, not from media types, because `docker save` does not record them.

use std::io::{self, BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use sha2::{Digest, Sha256};

use super::limits::{CountingReader, Limits, RatioGuard};
use crate::catalog::probe::{self, ExecFacts};

/// Why a layer could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("layer {layer}: entry {path:?} has an absolute path")]
    AbsolutePath { layer: String, path: String },
    #[error("layer {layer}: entry {path:?} climbs out of the image root")]
    PathTraversal { layer: String, path: String },
    #[error("layer {layer}: symlink {path:?} points outside the image root ({target:?})")]
    SymlinkEscape {
        layer: String,
        path: String,
        target: String,
    },
    #[error("layer {layer}: hardlink {path:?} points outside the image root ({target:?})")]
    HardlinkEscape {
        layer: String,
        path: String,
        target: String,
    },
    #[error("layer {layer}: decompressed size passes the limit (decompression bomb?)")]
    DecompressionBomb { layer: String },
    #[error("layer {layer}: file {path:?} is larger than the {limit} bytes allowed for it")]
    FileTooLarge {
        layer: String,
        path: String,
        limit: u64,
    },
    #[error("layer {layer}: corrupt or truncated data")]
    Corrupt {
        layer: String,
        #[source]
        source: io::Error,
    },
}

/// How a layer blob is compressed, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// Sniffs the compression from the start of a blob.
    pub fn sniff(head: &[u8]) -> Option<Compression> {
        if head.starts_with(&[0x1f, 0x8b]) {
            Some(Compression::Gzip)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Compression::Zstd)
        } else if head.len() >= 262 && &head[257..262] == b"ustar" {
            Some(Compression::None)
        } else {
            None
        }
    }
}

/// One change a layer makes to the filesystem.
#[derive(Debug, Clone)]
pub struct LayerEntry {
    /// Normalised path relative to the image root, without leading or trailing slash.
    pub path: String,
    pub kind: EntryKind,
}

#[derive(Debug, Clone)]
pub enum EntryKind {
    /// `.wh.<name>`: the named path of lower layers is deleted.
    Whiteout,
    /// `.wh..wh..opq`: everything lower layers put below this directory is hidden.
    Opaque,
    Dir,
    File(Arc<FileFacts>),
    /// Target exactly as stored; relative targets are checked not to leave the root.
    Symlink(String),
    /// Normalised path of the entry this one links to.
    Hardlink(String),
    /// Devices, fifos and other entries that hold no content.
    Other,
}

/// What we learned about a regular file while it streamed past.
#[derive(Debug, Default)]
pub struct FileFacts {
    pub size: u64,
    pub mode: u32,
    /// Kept only for files some catalogue reads.
    pub content: Option<Vec<u8>>,
    /// Present for files with an execute bit.
    pub exec: Option<ExecFacts>,
}

/// The result of streaming one layer.
#[derive(Debug)]
pub struct LayerScan {
    /// `sha256:<hex>` of the uncompressed tar, comparable with the config's `diff_ids`.
    pub diff_id: String,
    /// `sha256:<hex>` of the blob as stored (equal to `diff_id` when uncompressed).
    pub blob_digest: String,
    pub compression: Compression,
    pub entries: Vec<LayerEntry>,
}

/// Streams a layer blob (any supported compression) and records its entries.
///
/// `name` identifies the layer in error messages (archive member or digest).
pub fn scan_layer<R: Read>(blob: R, name: &str, limits: &Limits) -> Result<LayerScan, LayerError> {
    let mut raw = CountingReader::new(BufReader::with_capacity(1 << 16, blob), true);
    let compressed = raw.tally();
    let mut head = [0u8; 512];
    let got = read_up_to(&mut raw, &mut head).map_err(|source| LayerError::Corrupt {
        layer: name.to_string(),
        source,
    })?;
    let compression = Compression::sniff(&head[..got]).unwrap_or(Compression::None);
    if compression == Compression::None {
        compressed.stop_hashing();
    }
    let raw = io::Cursor::new(head[..got].to_vec()).chain(raw);
    let decoded: Box<dyn Read> = match compression {
        Compression::None => Box::new(raw),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(raw)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(raw).map_err(|source| {
            LayerError::Corrupt {
                layer: name.to_string(),
                source,
            }
        })?),
    };
    let guard = RatioGuard::new(decoded, compressed.clone(), limits.clone());
    let tripped = guard.tripped();
    let mut tar_stream = CountingReader::new(guard, true);
    let uncompressed = tar_stream.tally();
    let fail = |source: io::Error| {
        if tripped.load(Ordering::Relaxed) {
            LayerError::DecompressionBomb {
                layer: name.to_string(),
            }
        } else {
            LayerError::Corrupt {
                layer: name.to_string(),
                source,
            }
        }
    };

    let entries = read_entries(&mut tar_stream, name, limits, &fail)?;
    // Hash the tar's trailing padding too, so the digest covers the whole stream.
    io::copy(&mut tar_stream, &mut io::sink()).map_err(fail)?;

    let diff_id = format!("sha256:{}", uncompressed.finish_hash());
    let blob_digest = match compression {
        Compression::None => diff_id.clone(),
        _ => format!("sha256:{}", compressed.finish_hash()),
    };
    Ok(LayerScan {
        diff_id,
        blob_digest,
        compression,
        entries,
    })
}

fn read_up_to<R: Read>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

type Fail<'a> = &'a dyn Fn(io::Error) -> LayerError;

fn read_entries<R: Read>(
    stream: &mut R,
    layer: &str,
    limits: &Limits,
    fail: Fail<'_>,
) -> Result<Vec<LayerEntry>, LayerError> {
    let mut archive = tar::Archive::new(stream);
    let mut out = Vec::new();
    for entry in archive.entries().map_err(fail)? {
        let mut entry = entry.map_err(fail)?;
        let raw_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Some(path) = normalise_entry_path(&raw_path, layer)? else {
            continue;
        };
        let header = entry.header();
        let kind = match header.entry_type() {
            tar::EntryType::Directory => EntryKind::Dir,
            tar::EntryType::Symlink => {
                let target = link_target(&entry);
                check_symlink(&path, &target, layer)?;
                EntryKind::Symlink(target)
            }
            tar::EntryType::Link => {
                let target = link_target(&entry);
                match normalise_path(&target) {
                    Some(t) if !t.is_empty() && !target.starts_with('/') => EntryKind::Hardlink(t),
                    _ => {
                        return Err(LayerError::HardlinkEscape {
                            layer: layer.to_string(),
                            path,
                            target,
                        });
                    }
                }
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                let mode = header.mode().unwrap_or(0o644);
                let size = entry.size();
                let facts = read_file(&mut entry, &path, mode, size, layer, limits, fail)?;
                EntryKind::File(Arc::new(facts))
            }
            _ => EntryKind::Other,
        };
        out.push(classify_whiteout(path, kind));
    }
    Ok(out)
}

fn link_target<R: Read>(entry: &tar::Entry<'_, R>) -> String {
    entry
        .link_name_bytes()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Turns `.wh.` marker files into whiteout and opaque entries.
fn classify_whiteout(path: String, kind: EntryKind) -> LayerEntry {
    let (dir, base) = match path.rsplit_once('/') {
        Some((d, b)) => (d, b),
        None => ("", path.as_str()),
    };
    if base == ".wh..wh..opq" {
        return LayerEntry {
            path: dir.to_string(),
            kind: EntryKind::Opaque,
        };
    }
    if let Some(name) = base.strip_prefix(".wh.") {
        let target = if dir.is_empty() {
            name.to_string()
        } else {
            format!("{dir}/{name}")
        };
        return LayerEntry {
            path: target,
            kind: EntryKind::Whiteout,
        };
    }
    LayerEntry { path, kind }
}

/// Normalises a layer entry path; `None` for the root itself.
fn normalise_entry_path(raw: &str, layer: &str) -> Result<Option<String>, LayerError> {
    if raw.starts_with('/') {
        return Err(LayerError::AbsolutePath {
            layer: layer.to_string(),
            path: raw.to_string(),
        });
    }
    match normalise_path(raw) {
        Some(p) if p.is_empty() => Ok(None),
        Some(p) => Ok(Some(p)),
        None => Err(LayerError::PathTraversal {
            layer: layer.to_string(),
            path: raw.to_string(),
        }),
    }
}

/// Removes `.` and empty components; `None` if any `..` would climb above the start.
pub fn normalise_path(raw: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// A relative symlink must not climb above the root from where it sits.
fn check_symlink(path: &str, target: &str, layer: &str) -> Result<(), LayerError> {
    if target.starts_with('/') {
        return Ok(());
    }
    let parent = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    if normalise_path(&format!("{parent}/{target}")).is_none() {
        return Err(LayerError::SymlinkEscape {
            layer: layer.to_string(),
            path: path.to_string(),
            target: target.to_string(),
        });
    }
    Ok(())
}

fn read_file<R: Read>(
    entry: &mut R,
    path: &str,
    mode: u32,
    size: u64,
    layer: &str,
    limits: &Limits,
    fail: Fail<'_>,
) -> Result<FileFacts, LayerError> {
    let too_large = |limit| LayerError::FileTooLarge {
        layer: layer.to_string(),
        path: path.to_string(),
        limit,
    };
    let mut facts = FileFacts {
        size,
        mode,
        ..FileFacts::default()
    };
    if probe::wants_content(path) {
        if size > limits.max_metadata_file {
            return Err(too_large(limits.max_metadata_file));
        }
        let mut buf = Vec::with_capacity(size as usize);
        entry.read_to_end(&mut buf).map_err(fail)?;
        facts.content = Some(buf);
    } else if mode & 0o111 != 0 {
        facts.exec = Some(probe_executable(entry, path, size, limits, fail)?);
    }
    Ok(facts)
}

/// Hashes an executable and, for ELF files small enough to hold, looks inside it.
fn probe_executable<R: Read>(
    entry: &mut R,
    path: &str,
    size: u64,
    limits: &Limits,
    fail: Fail<'_>,
) -> Result<ExecFacts, LayerError> {
    let mut head = [0u8; 4];
    let got = read_up_to(entry, &mut head).map_err(fail)?;
    let is_elf = got == 4 && head == *b"\x7fELF";
    let mut hasher = Sha256::new();
    hasher.update(&head[..got]);
    if is_elf && size <= limits.max_probed_binary {
        let mut buf = Vec::with_capacity(size as usize);
        buf.extend_from_slice(&head[..got]);
        entry.read_to_end(&mut buf).map_err(fail)?;
        hasher.update(&buf[got..]);
        let sha256 = hex(&hasher.finalize());
        return Ok(probe::probe_elf(path, &buf, sha256));
    }
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        let n = entry.read(&mut chunk).map_err(fail)?;
        if n == 0 {
            break;
        }
        hasher.update(&chunk[..n]);
    }
    Ok(ExecFacts {
        sha256: hex(&hasher.finalize()),
        elf: is_elf,
        ..ExecFacts::default()
    })
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_dot_and_empty_components() {
        assert_eq!(
            normalise_path("./usr//bin/./x/").as_deref(),
            Some("usr/bin/x")
        );
        assert_eq!(normalise_path("a/../b").as_deref(), Some("b"));
        assert_eq!(normalise_path("../etc"), None);
        assert_eq!(normalise_path("a/../../etc"), None);
    }

    #[test]
    fn recognises_whiteouts_and_opaque_markers() {
        let e = classify_whiteout("usr/.wh.bin".into(), EntryKind::Other);
        assert!(matches!(e.kind, EntryKind::Whiteout) && e.path == "usr/bin");
        let e = classify_whiteout("etc/x/.wh..wh..opq".into(), EntryKind::Other);
        assert!(matches!(e.kind, EntryKind::Opaque) && e.path == "etc/x");
        let e = classify_whiteout(".wh.top".into(), EntryKind::Other);
        assert!(matches!(e.kind, EntryKind::Whiteout) && e.path == "top");
    }

    #[test]
    fn refuses_relative_symlink_above_root() {
        assert!(check_symlink("usr/lib/x", "../../etc/passwd", "l").is_ok());
        assert!(check_symlink("usr/lib/x", "../../../etc/passwd", "l").is_err());
        assert!(check_symlink("usr/lib/x", "/etc/passwd", "l").is_ok());
    }

    #[test]
    fn sniffs_compression_from_magic_bytes() {
        assert_eq!(
            Compression::sniff(&[0x1f, 0x8b, 8]),
            Some(Compression::Gzip)
        );
        assert_eq!(
            Compression::sniff(&[0x28, 0xb5, 0x2f, 0xfd]),
            Some(Compression::Zstd)
        );
        assert_eq!(Compression::sniff(b"{}"), None);
    }
}
