//! Getting at an image's files: reading archives and engine exports, streaming layers, and
//! merging them into the filesystem a container would see.

pub mod archive;
pub mod engine;
pub mod layer;
pub mod layers;
pub mod limits;
pub mod source;
