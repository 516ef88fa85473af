//! Reading a saved image: the legacy `docker save` layout (`manifest.json`, `<id>/layer.tar`)
//! and the OCI image layout (`index.json`, `blobs/sha256/…`) that Docker 25 and later write
//! beside it.
//!
//! The archive is read in one pass. Members are met in whatever order the writer chose, and
//! `manifest.json` often comes last, so every member that looks like a layer is scanned when
//! it streams past and the choice of image is made at the end. Nothing is extracted: member
//! names are only used as keys, yet names that climb out of the archive are still refused,
//! because they mark an archive built to attack extractors.

use std::collections::HashMap;
use std::io::{self, Read};
use std::sync::Arc;

use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MediaType};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::layer::{Compression, LayerError, LayerScan, hex, normalise_path, scan_layer};
use super::limits::Limits;

/// Why a saved image could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{archive}: member {member:?} has an unsafe path")]
    UnsafeMember { archive: String, member: String },
    #[error("{archive}: link {member:?} points outside the archive ({target:?})")]
    LinkEscape {
        archive: String,
        member: String,
        target: String,
    },
    #[error("{archive}: corrupt or truncated archive")]
    Corrupt {
        archive: String,
        #[source]
        source: io::Error,
    },
    #[error("{archive}: not an image archive (no manifest.json or index.json)")]
    NotAnImage { archive: String },
    #[error("{archive}: {file} is malformed")]
    BadMetadata {
        archive: String,
        file: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{archive}: {file} is malformed: {reason}")]
    BadOciMetadata {
        archive: String,
        file: String,
        reason: String,
    },
    #[error("{archive}: member {member:?} is missing")]
    MissingMember { archive: String, member: String },
    #[error("{archive}: holds several images ({choices}); name one")]
    Ambiguous { archive: String, choices: String },
    #[error("{archive}: no image matches {wanted}; it holds {choices}")]
    NoMatch {
        archive: String,
        wanted: String,
        choices: String,
    },
    #[error("{archive}: {member} has digest {actual}, expected {expected}")]
    DigestMismatch {
        archive: String,
        member: String,
        expected: String,
        actual: String,
    },
    #[error("{archive}: the image config lists {expected} layers but the manifest has {found}")]
    LayerCount {
        archive: String,
        expected: usize,
        found: usize,
    },
    #[error(transparent)]
    Layer(#[from] LayerError),
}

/// Which image to take from an archive or engine.
#[derive(Debug, Clone, Default)]
pub struct Selector {
    /// A repository tag such as `renderer:1.4.0`.
    pub reference: Option<String>,
    pub platform: Option<Platform>,
}

/// `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl std::str::FromStr for Platform {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split('/');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(os), Some(arch), variant, None) if !os.is_empty() && !arch.is_empty() => {
                Ok(Platform {
                    os: os.to_string(),
                    architecture: arch.to_string(),
                    variant: variant.filter(|v| !v.is_empty()).map(str::to_string),
                })
            }
            _ => Err(format!("platform {s:?} is not OS/ARCH[/VARIANT]")),
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl Platform {
    fn matches(&self, os: &str, arch: &str, variant: Option<&str>) -> bool {
        self.os == os
            && self.architecture == arch
            && (self.variant.is_none() || self.variant.as_deref() == variant)
    }
}

/// An image read from an archive or the engine: its config and its layers, in order.
#[derive(Debug)]
pub struct ImageData {
    pub config: ImageConfiguration,
    /// `sha256:<hex>` of the config blob, the image id.
    pub config_digest: String,
    pub repo_tags: Vec<String>,
    pub layers: Vec<Arc<LayerScan>>,
}

/// Everything of interest met in one pass over the archive.
#[derive(Debug, Default)]
struct Members {
    json: HashMap<String, Vec<u8>>,
    layers: HashMap<String, Arc<LayerScan>>,
    links: HashMap<String, String>,
}

impl Members {
    fn target<'a>(&'a self, member: &'a str) -> &'a str {
        let mut name = member;
        for _ in 0..8 {
            match self.links.get(name) {
                Some(t) => name = t,
                None => break,
            }
        }
        name
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LegacyManifest {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Reads an image archive from a stream. `archive` names it in errors.
pub fn read_archive<R: Read>(
    reader: R,
    archive: &str,
    selector: &Selector,
    limits: &Limits,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<ImageData, ArchiveError> {
    let members = collect(reader, archive, limits, progress)?;
    let ctx = Ctx {
        archive,
        members: &members,
    };
    let use_index = members.json.contains_key("index.json")
        && (selector.platform.is_some() || !members.json.contains_key("manifest.json"));
    if use_index {
        ctx.index_image(selector)
    } else if members.json.contains_key("manifest.json") {
        ctx.legacy_image(selector)
    } else {
        Err(ArchiveError::NotAnImage {
            archive: archive.to_string(),
        })
    }
}

fn collect<R: Read>(
    reader: R,
    archive: &str,
    limits: &Limits,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Members, ArchiveError> {
    let corrupt = |source| ArchiveError::Corrupt {
        archive: archive.to_string(),
        source,
    };
    let mut reader = io::BufReader::with_capacity(1 << 16, reader);
    let head = io::BufRead::fill_buf(&mut reader)
        .map_err(corrupt)?
        .to_vec();
    let outer: Box<dyn Read> = match Compression::sniff(&head) {
        Some(Compression::Gzip) => Box::new(flate2::read::MultiGzDecoder::new(reader)),
        Some(Compression::Zstd) => {
            Box::new(zstd::stream::read::Decoder::new(reader).map_err(corrupt)?)
        }
        _ => Box::new(reader),
    };
    let mut tar = tar::Archive::new(outer);
    let mut members = Members::default();
    for entry in tar.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let unsafe_member = || ArchiveError::UnsafeMember {
            archive: archive.to_string(),
            member: raw.clone(),
        };
        if raw.starts_with('/') {
            return Err(unsafe_member());
        }
        let name = normalise_path(&raw).ok_or_else(unsafe_member)?;
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            let target = entry
                .link_name_bytes()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            let base = if kind.is_symlink() {
                name.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
            } else {
                ""
            };
            let resolved = (!target.starts_with('/'))
                .then(|| normalise_path(&format!("{base}/{target}")))
                .flatten()
                .ok_or_else(|| ArchiveError::LinkEscape {
                    archive: archive.to_string(),
                    member: name.clone(),
                    target: target.clone(),
                })?;
            members.links.insert(name, resolved);
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        let size = entry.size();
        let mut head = Vec::with_capacity(512);
        (&mut entry)
            .take(512)
            .read_to_end(&mut head)
            .map_err(corrupt)?;
        let first = head.iter().find(|b| !b.is_ascii_whitespace());
        let looks_json = matches!(first, Some(b'{' | b'['));
        if looks_json && size <= limits.max_metadata_file {
            let mut body = head;
            entry.read_to_end(&mut body).map_err(corrupt)?;
            members.json.insert(name, body);
        } else if Compression::sniff(&head).is_some() || is_layer_candidate(&name, &head) {
            progress(&format!("reading layer {name}"));
            let scan = scan_layer(io::Cursor::new(head).chain(&mut entry), &name, limits)?;
            members.layers.insert(name, Arc::new(scan));
        }
    }
    Ok(members)
}

/// Legacy layers are named `layer.tar`; an OCI blob with no tar magic may still be an empty
/// layer (only the zero end-of-archive blocks). Other blobs, such as attestations an image
/// does not use, are skipped rather than failing the whole archive.
fn is_layer_candidate(name: &str, head: &[u8]) -> bool {
    let empty_tar = !head.is_empty() && head.iter().all(|b| *b == 0);
    name.ends_with("/layer.tar") || (name.starts_with("blobs/") && empty_tar)
}

struct Ctx<'a> {
    archive: &'a str,
    members: &'a Members,
}

impl Ctx<'_> {
    fn json(&self, member: &str) -> Result<&[u8], ArchiveError> {
        self.members
            .json
            .get(self.members.target(member))
            .map(Vec::as_slice)
            .ok_or_else(|| ArchiveError::MissingMember {
                archive: self.archive.into(),
                member: member.into(),
            })
    }

    fn parse<T: serde::de::DeserializeOwned>(&self, member: &str) -> Result<T, ArchiveError> {
        serde_json::from_slice(self.json(member)?).map_err(|source| ArchiveError::BadMetadata {
            archive: self.archive.into(),
            file: member.into(),
            source,
        })
    }

    fn oci<T>(
        &self,
        member: &str,
        read: impl Fn(&[u8]) -> oci_spec::Result<T>,
    ) -> Result<T, ArchiveError> {
        read(self.json(member)?).map_err(|e| ArchiveError::BadOciMetadata {
            archive: self.archive.into(),
            file: member.into(),
            reason: e.to_string(),
        })
    }

    fn layer(&self, member: &str) -> Result<Arc<LayerScan>, ArchiveError> {
        self.members
            .layers
            .get(self.members.target(member))
            .cloned()
            .ok_or_else(|| ArchiveError::MissingMember {
                archive: self.archive.into(),
                member: member.into(),
            })
    }

    fn legacy_image(&self, selector: &Selector) -> Result<ImageData, ArchiveError> {
        let manifests: Vec<LegacyManifest> = self.parse("manifest.json")?;
        let tags = |m: &LegacyManifest| m.repo_tags.clone().unwrap_or_default();
        let choices = || {
            manifests
                .iter()
                .map(|m| tags(m).join(","))
                .collect::<Vec<_>>()
                .join("; ")
        };
        let chosen = match &selector.reference {
            Some(wanted) => manifests
                .iter()
                .find(|m| tags(m).iter().any(|t| same_reference(t, wanted)))
                .or_else(|| (manifests.len() == 1).then(|| &manifests[0]))
                .ok_or_else(|| ArchiveError::NoMatch {
                    archive: self.archive.into(),
                    wanted: wanted.clone(),
                    choices: choices(),
                })?,
            None if manifests.len() == 1 => &manifests[0],
            None => {
                return Err(ArchiveError::Ambiguous {
                    archive: self.archive.into(),
                    choices: choices(),
                });
            }
        };
        let (config, config_digest) = self.config(&chosen.config)?;
        if let Some(p) = &selector.platform {
            let (os, arch) = (config.os().to_string(), config.architecture().to_string());
            if !p.matches(&os, &arch, config.variant().as_deref()) {
                return Err(ArchiveError::NoMatch {
                    archive: self.archive.into(),
                    wanted: p.to_string(),
                    choices: format!("{os}/{arch}"),
                });
            }
        }
        let layers = chosen
            .layers
            .iter()
            .map(|l| self.layer(l))
            .collect::<Result<Vec<_>, _>>()?;
        self.finish(config, config_digest, tags(chosen), layers, &chosen.layers)
    }

    fn config(&self, member: &str) -> Result<(ImageConfiguration, String), ArchiveError> {
        let bytes = self.json(member)?;
        let digest = format!("sha256:{}", hex(&Sha256::digest(bytes)));
        let config = self.oci(member, |b| ImageConfiguration::from_reader(b))?;
        Ok((config, digest))
    }

    fn index_image(&self, selector: &Selector) -> Result<ImageData, ArchiveError> {
        let mut candidates = Vec::new();
        self.walk_index("index.json", None, &mut candidates, 0)?;
        candidates.retain(|(d, _)| {
            d.platform()
                .as_ref()
                .is_none_or(|p| p.os().to_string() != "unknown")
        });
        if let Some(wanted) = &selector.reference {
            let named: Vec<_> = candidates
                .iter()
                .filter(|(_, name)| name.as_deref().is_some_and(|n| same_reference(n, wanted)))
                .cloned()
                .collect();
            if !named.is_empty() {
                candidates = named;
            }
        }
        let describe = |c: &[(Descriptor, Option<String>)]| {
            c.iter()
                .map(|(d, n)| {
                    let platform = d
                        .platform()
                        .as_ref()
                        .map(|p| format!("{}/{}", p.os(), p.architecture()))
                        .unwrap_or_else(|| "unknown platform".into());
                    format!("{} {platform}", n.as_deref().unwrap_or("<unnamed>"))
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        if let Some(p) = &selector.platform {
            let all = describe(&candidates);
            candidates.retain(|(d, _)| {
                d.platform().as_ref().is_none_or(|dp| {
                    p.matches(
                        &dp.os().to_string(),
                        &dp.architecture().to_string(),
                        dp.variant().as_deref(),
                    )
                })
            });
            if candidates.is_empty() {
                return Err(ArchiveError::NoMatch {
                    archive: self.archive.into(),
                    wanted: p.to_string(),
                    choices: all,
                });
            }
        }
        let (descriptor, name) = match candidates.len() {
            0 => {
                return Err(ArchiveError::NotAnImage {
                    archive: self.archive.into(),
                });
            }
            1 => candidates.remove(0),
            _ => {
                return Err(ArchiveError::Ambiguous {
                    archive: self.archive.into(),
                    choices: describe(&candidates),
                });
            }
        };
        let manifest_member = blob_member(&descriptor);
        let manifest = self.oci(&manifest_member, |b| ImageManifest::from_reader(b))?;
        let config_member = blob_member(manifest.config());
        let (config, config_digest) = self.config(&config_member)?;
        let mut members = Vec::new();
        let mut layers = Vec::new();
        for d in manifest.layers() {
            let member = blob_member(d);
            let scan = self.layer(&member)?;
            let expected = d.digest().to_string();
            if scan.blob_digest != expected {
                return Err(ArchiveError::DigestMismatch {
                    archive: self.archive.into(),
                    member,
                    expected,
                    actual: scan.blob_digest.clone(),
                });
            }
            members.push(member);
            layers.push(scan);
        }
        self.finish(
            config,
            config_digest,
            name.into_iter().collect(),
            layers,
            &members,
        )
    }

    fn walk_index(
        &self,
        member: &str,
        name: Option<String>,
        out: &mut Vec<(Descriptor, Option<String>)>,
        depth: usize,
    ) -> Result<(), ArchiveError> {
        if depth > 4 {
            return Err(ArchiveError::BadOciMetadata {
                archive: self.archive.into(),
                file: member.into(),
                reason: "indexes nested too deep".into(),
            });
        }
        let index = self.oci(member, |b| ImageIndex::from_reader(b))?;
        for d in index.manifests() {
            let annotated = d.annotations().as_ref().and_then(|a| {
                a.get("io.containerd.image.name")
                    .or_else(|| a.get("org.opencontainers.image.ref.name"))
                    .cloned()
            });
            let name = annotated.or_else(|| name.clone());
            match d.media_type() {
                MediaType::ImageIndex => {
                    self.walk_index(&blob_member(d), name, out, depth + 1)?;
                }
                MediaType::ImageManifest => out.push((d.clone(), name)),
                MediaType::Other(t) if t.contains("manifest.list") => {
                    self.walk_index(&blob_member(d), name, out, depth + 1)?;
                }
                MediaType::Other(t) if t.contains("manifest") => out.push((d.clone(), name)),
                _ => {}
            }
        }
        Ok(())
    }

    fn finish(
        &self,
        config: ImageConfiguration,
        config_digest: String,
        repo_tags: Vec<String>,
        layers: Vec<Arc<LayerScan>>,
        members: &[String],
    ) -> Result<ImageData, ArchiveError> {
        let diff_ids = config.rootfs().diff_ids();
        if diff_ids.len() != layers.len() {
            return Err(ArchiveError::LayerCount {
                archive: self.archive.into(),
                expected: diff_ids.len(),
                found: layers.len(),
            });
        }
        for ((expected, scan), member) in diff_ids.iter().zip(&layers).zip(members) {
            if &scan.diff_id != expected {
                return Err(ArchiveError::DigestMismatch {
                    archive: self.archive.into(),
                    member: member.clone(),
                    expected: expected.clone(),
                    actual: scan.diff_id.clone(),
                });
            }
        }
        Ok(ImageData {
            config,
            config_digest,
            repo_tags,
            layers,
        })
    }
}

fn blob_member(d: &Descriptor) -> String {
    format!("blobs/{}/{}", d.digest().algorithm(), d.digest().digest())
}

/// Compares references loosely: `name` means `name:latest`, and Docker Hub prefixes are
/// optional.
pub fn same_reference(a: &str, b: &str) -> bool {
    normalise_reference(a) == normalise_reference(b)
}

fn normalise_reference(r: &str) -> String {
    let r = r
        .trim_start_matches("docker.io/")
        .trim_start_matches("index.docker.io/")
        .trim_start_matches("library/");
    let last = r.rsplit('/').next().unwrap_or(r);
    if last.contains(':') || last.contains('@') {
        r.to_string()
    } else {
        format!("{r}:latest")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_platforms() {
        let p: Platform = "linux/arm64/v8".parse().unwrap();
        assert_eq!(p.variant.as_deref(), Some("v8"));
        assert!("linux".parse::<Platform>().is_err());
        assert!(
            "linux/amd64"
                .parse::<Platform>()
                .unwrap()
                .matches("linux", "amd64", None)
        );
    }

    #[test]
    fn references_match_loosely() {
        assert!(same_reference("docker.io/library/debian:latest", "debian"));
        assert!(same_reference("renderer:1.4.0", "renderer:1.4.0"));
        assert!(!same_reference("renderer:1.4.0", "renderer"));
        assert!(same_reference(
            "localhost:5000/x",
            "localhost:5000/x:latest"
        ));
    }
}
