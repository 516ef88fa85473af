//! Building an inventory: apply the layers one by one, catalogue after each, and remember in
//! which layer every package's current version first appeared.

use std::collections::HashMap;

use super::purl::purl;
use super::{Generator, ImageInfo, Inventory, Layer, LayerRef, Package, SCHEMA_VERSION};
use crate::catalog::{self, CatalogError, distro, executables};
use crate::image::archive::{ImageData, Selector};
use crate::image::engine::Progress;
use crate::image::layers::{MergeError, MergedView};
use crate::image::limits::Limits;
use crate::image::source::{ImageSource, SourceError};

/// Why an inventory could not be made.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("{image}: merging layers")]
    Merge {
        image: String,
        #[source]
        source: MergeError,
    },
    #[error("{image}: layer {layer}")]
    Catalog {
        image: String,
        layer: usize,
        #[source]
        source: CatalogError,
    },
}

/// Reads the image from its source and inventories it.
pub async fn inventory(
    source: &ImageSource,
    selector: &Selector,
    limits: &Limits,
    progress: Progress,
) -> Result<Inventory, InventoryError> {
    let image = source.load(selector, limits, progress.clone()).await?;
    progress("cataloguing");
    build(&image, &source.describe())
}

/// Inventories an image already read into memory.
pub fn build(image: &ImageData, reference: &str) -> Result<Inventory, InventoryError> {
    let layers = layer_list(image);
    let mut view = MergedView::new();
    let mut first_seen: HashMap<String, (String, usize)> = HashMap::new();
    let mut last = catalog::Catalogue::default();
    for (index, scan) in image.layers.iter().enumerate() {
        let merge = |source| InventoryError::Merge {
            image: reference.into(),
            source,
        };
        view.apply(index, scan).map_err(merge)?;
        last = catalog::catalogue(&view).map_err(|source| InventoryError::Catalog {
            image: reference.into(),
            layer: index,
            source,
        })?;
        let mut seen = HashMap::with_capacity(last.packages.len());
        for record in &last.packages {
            let key = record.identity();
            let layer = match first_seen.get(&key) {
                Some((version, layer)) if *version == record.version => *layer,
                _ => index,
            };
            seen.insert(key, (record.version.clone(), layer));
        }
        first_seen = seen;
    }
    let distro = distro::release(&view).map_err(|source| InventoryError::Merge {
        image: reference.into(),
        source,
    })?;
    let mut packages: Vec<Package> = last
        .packages
        .iter()
        .map(|record| {
            let index = first_seen
                .get(&record.identity())
                .map(|(_, l)| *l)
                .unwrap_or(0);
            let layer = layers.get(index);
            Package {
                kind: record.kind,
                name: record.name.clone(),
                version: record.version.clone(),
                purl: purl(record, distro.as_ref()),
                path: format!("/{}", record.path),
                layer: LayerRef {
                    index,
                    diff_id: layer.map(|l| l.diff_id.clone()).unwrap_or_default(),
                    instruction: layer.map(|l| l.instruction.clone()).unwrap_or_default(),
                },
                deb: record.deb.clone(),
                cargo: record.cargo.clone(),
                sha256: record.sha256.clone(),
            }
        })
        .collect();
    packages.sort_by(|a, b| {
        (a.kind, &a.name, &a.version, &a.path).cmp(&(b.kind, &b.name, &b.version, &b.path))
    });
    let unaccounted_executables = executables::unaccounted(&view, &last.accounted);
    let config = &image.config;
    Ok(Inventory {
        schema_version: SCHEMA_VERSION,
        generator: Generator {
            name: env!("CARGO_PKG_NAME").into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        image: ImageInfo {
            reference: reference.into(),
            id: image.config_digest.clone(),
            repo_tags: image.repo_tags.clone(),
            os: config.os().to_string(),
            architecture: config.architecture().to_string(),
            variant: config.variant().clone(),
        },
        distro,
        layers,
        packages,
        unaccounted_executables,
    })
}

/// Pairs each layer with the history step that made it, skipping metadata-only steps.
fn layer_list(image: &ImageData) -> Vec<Layer> {
    let history: Vec<_> = image
        .config
        .history()
        .as_ref()
        .map(|h| {
            h.iter()
                .filter(|s| !s.empty_layer().unwrap_or(false))
                .collect()
        })
        .unwrap_or_default();
    image
        .layers
        .iter()
        .enumerate()
        .map(|(index, scan)| {
            let step = history.get(index);
            Layer {
                index,
                diff_id: scan.diff_id.clone(),
                digest: scan.blob_digest.clone(),
                instruction: step
                    .and_then(|s| s.created_by().clone())
                    .map(|s| clean_instruction(&s))
                    .unwrap_or_default(),
                created: step.and_then(|s| s.created().clone()),
            }
        })
        .collect()
}

/// Drops the shell wrapper the classic builder records around `RUN` steps.
fn clean_instruction(created_by: &str) -> String {
    let s = created_by.trim();
    if let Some(rest) = s.strip_prefix("/bin/sh -c #(nop) ") {
        return rest.trim().to_string();
    }
    if let Some(rest) = s.strip_prefix("/bin/sh -c ") {
        return format!("RUN {}", rest.trim());
    }
    s.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_classic_builder_instructions() {
        assert_eq!(
            clean_instruction("/bin/sh -c #(nop) COPY file:abc in /x "),
            "COPY file:abc in /x"
        );
        assert_eq!(
            clean_instruction("/bin/sh -c apt-get update"),
            "RUN apt-get update"
        );
        assert_eq!(
            clean_instruction("RUN /bin/sh -c x # buildkit"),
            "RUN /bin/sh -c x # buildkit"
        );
    }
}
