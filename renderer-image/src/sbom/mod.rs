//! Software bills of materials written from an inventory.

pub mod cyclonedx;
pub mod spdx;
