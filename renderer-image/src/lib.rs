//! Building and inspecting the renderer's container image.
//!
//! - [`image`] reads images from the Docker engine or saved archives and merges their layers.
//! - [`catalog`] finds packages in the merged filesystem.
//! - [`inventory`] ties packages to layers and defines the JSON inventory model.
//! - [`sbom`] writes CycloneDX and SPDX documents.
//! - [`vuln`] matches an inventory against vulnerability feeds and gates CI on the result.
//! - [`base`] builds the offline Debian base image.
//! - [`hardened`] builds the renderer image and runs it locked down.
//! - [`cli`] holds one thin module per subcommand.

pub mod base;
pub mod catalog;
pub mod cli;
pub mod hardened;
pub mod image;
pub mod inventory;
pub mod sbom;
pub mod vuln;
