//! The merged filesystem view: layers applied in order, as an overlay mount would show them.
//!
//! Whiteouts of a layer act only on the layers below it, so each layer's deletions are
//! applied before its additions. A non-directory that replaces a directory hides everything
//! the directory held. Paths are kept sorted, so a directory's descendants are one range.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use super::layer::{EntryKind, FileFacts, LayerScan, normalise_path};

/// Why layers could not be merged or a path could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("layer {layer}: hardlink {path:?} points at {target:?}, which does not exist")]
    DanglingHardlink {
        layer: usize,
        path: String,
        target: String,
    },
    #[error("too many symlinks resolving {path:?}")]
    SymlinkLoop { path: String },
}

/// One path in the merged view.
#[derive(Debug, Clone)]
pub struct Node {
    /// Index of the layer (among non-empty layers) that last wrote this path.
    pub layer: usize,
    pub kind: NodeKind,
}

#[derive(Debug, Clone)]
pub enum NodeKind {
    Dir,
    File(Arc<FileFacts>),
    Symlink(String),
    Other,
}

/// The filesystem as seen after applying some prefix of an image's layers.
#[derive(Debug, Default)]
pub struct MergedView {
    nodes: BTreeMap<String, Node>,
}

/// Paths a layer touched, for catalogues that only need to look at what changed.
#[derive(Debug, Default)]
pub struct Touched {
    pub paths: Vec<String>,
}

impl MergedView {
    pub fn new() -> Self {
        MergedView::default()
    }

    /// Applies one layer on top of the current view.
    pub fn apply(&mut self, layer: usize, scan: &LayerScan) -> Result<Touched, MergeError> {
        let mut touched = Touched::default();
        for entry in &scan.entries {
            match entry.kind {
                EntryKind::Whiteout => {
                    self.remove_tree(&entry.path, true);
                    touched.paths.push(entry.path.clone());
                }
                EntryKind::Opaque => {
                    self.remove_tree(&entry.path, false);
                    touched.paths.push(entry.path.clone());
                }
                _ => {}
            }
        }
        for entry in &scan.entries {
            let kind = match &entry.kind {
                EntryKind::Whiteout | EntryKind::Opaque => continue,
                EntryKind::Dir => NodeKind::Dir,
                EntryKind::File(facts) => NodeKind::File(facts.clone()),
                EntryKind::Symlink(target) => NodeKind::Symlink(target.clone()),
                EntryKind::Other => NodeKind::Other,
                EntryKind::Hardlink(target) => match self.nodes.get(target) {
                    Some(node) => node.kind.clone(),
                    None => {
                        return Err(MergeError::DanglingHardlink {
                            layer,
                            path: entry.path.clone(),
                            target: target.clone(),
                        });
                    }
                },
            };
            if !matches!(kind, NodeKind::Dir) {
                self.remove_tree(&entry.path, false);
            }
            self.nodes.insert(entry.path.clone(), Node { layer, kind });
            touched.paths.push(entry.path.clone());
        }
        Ok(touched)
    }

    /// Removes everything below `path`, and `path` itself when `inclusive`.
    fn remove_tree(&mut self, path: &str, inclusive: bool) {
        if inclusive {
            self.nodes.remove(path);
        }
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        };
        let doomed: Vec<String> = self
            .nodes
            .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        for key in doomed {
            self.nodes.remove(&key);
        }
    }

    /// The node stored at exactly this path, without following symlinks.
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }

    /// All nodes in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Node)> {
        self.nodes.iter()
    }

    /// Nodes whose path starts with `prefix`.
    pub fn with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a String, &'a Node)> {
        self.nodes
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(move |(k, _)| k.starts_with(prefix))
    }

    /// Resolves every symlink along `path`, as the kernel would inside a chroot.
    ///
    /// Returns the canonical path; the node there may be absent.
    pub fn canonical(&self, path: &str) -> Result<String, MergeError> {
        let mut hops = 0;
        let mut done: Vec<String> = Vec::new();
        let mut pending: Vec<String> = path.split('/').rev().map(str::to_string).collect();
        while let Some(part) = pending.pop() {
            match part.as_str() {
                "" | "." => continue,
                ".." => {
                    done.pop();
                    continue;
                }
                _ => {}
            }
            done.push(part);
            let here = done.join("/");
            if let Some(Node {
                kind: NodeKind::Symlink(target),
                ..
            }) = self.nodes.get(&here)
            {
                hops += 1;
                if hops > 40 {
                    return Err(MergeError::SymlinkLoop {
                        path: path.to_string(),
                    });
                }
                done.pop();
                if target.starts_with('/') {
                    done.clear();
                }
                pending.extend(target.split('/').rev().map(str::to_string));
            }
        }
        Ok(normalise_path(&done.join("/")).unwrap_or_default())
    }

    /// The node `path` leads to after following symlinks.
    pub fn resolve(&self, path: &str) -> Result<Option<(String, &Node)>, MergeError> {
        let canonical = self.canonical(path)?;
        Ok(self.nodes.get(&canonical).map(|n| (canonical, n)))
    }

    /// Content of the regular file `path` leads to, if it was kept.
    pub fn read(&self, path: &str) -> Result<Option<&[u8]>, MergeError> {
        Ok(match self.resolve(path)? {
            Some((
                _,
                Node {
                    kind: NodeKind::File(f),
                    ..
                },
            )) => f.content.as_deref(),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::layer::{Compression, LayerEntry};

    fn file(path: &str) -> LayerEntry {
        let facts = FileFacts {
            content: Some(path.as_bytes().to_vec()),
            ..FileFacts::default()
        };
        LayerEntry {
            path: path.into(),
            kind: EntryKind::File(Arc::new(facts)),
        }
    }

    fn entry(path: &str, kind: EntryKind) -> LayerEntry {
        LayerEntry {
            path: path.into(),
            kind,
        }
    }

    fn scan(entries: Vec<LayerEntry>) -> LayerScan {
        LayerScan {
            diff_id: String::new(),
            blob_digest: String::new(),
            compression: Compression::None,
            entries,
        }
    }

    #[test]
    fn whiteout_removes_lower_file_and_its_children() {
        let mut view = MergedView::new();
        view.apply(0, &scan(vec![file("a/b/c"), file("a/x"), file("ab")]))
            .unwrap();
        view.apply(1, &scan(vec![entry("a/b", EntryKind::Whiteout)]))
            .unwrap();
        assert!(view.get("a/b/c").is_none());
        assert!(view.get("a/x").is_some() && view.get("ab").is_some());
    }

    #[test]
    fn opaque_dir_hides_lower_children_but_keeps_same_layer_ones() {
        let mut view = MergedView::new();
        view.apply(0, &scan(vec![file("d/old")])).unwrap();
        view.apply(1, &scan(vec![file("d/new"), entry("d", EntryKind::Opaque)]))
            .unwrap();
        assert!(view.get("d/old").is_none());
        assert_eq!(view.get("d/new").unwrap().layer, 1);
    }

    #[test]
    fn resolves_symlinks_inside_the_root() {
        let mut view = MergedView::new();
        view.apply(
            0,
            &scan(vec![
                entry("bin", EntryKind::Symlink("usr/bin".into())),
                file("usr/bin/sh"),
                entry(
                    "etc/os-release",
                    EntryKind::Symlink("../usr/lib/os-release".into()),
                ),
                file("usr/lib/os-release"),
                entry("loop", EntryKind::Symlink("loop".into())),
                entry("up", EntryKind::Symlink("/../../usr/bin".into())),
            ]),
        )
        .unwrap();
        assert_eq!(view.canonical("bin/sh").unwrap(), "usr/bin/sh");
        assert_eq!(view.canonical("up/sh").unwrap(), "usr/bin/sh");
        assert_eq!(
            view.read("etc/os-release").unwrap().unwrap(),
            b"usr/lib/os-release"
        );
        assert!(view.canonical("loop/x").is_err());
    }

    #[test]
    fn hardlink_copies_the_target_and_dangling_one_fails() {
        let mut view = MergedView::new();
        view.apply(
            0,
            &scan(vec![file("a"), entry("b", EntryKind::Hardlink("a".into()))]),
        )
        .unwrap();
        assert_eq!(view.read("b").unwrap().unwrap(), b"a");
        let err = view.apply(1, &scan(vec![entry("c", EntryKind::Hardlink("zz".into()))]));
        assert!(matches!(err, Err(MergeError::DanglingHardlink { .. })));
    }
}
