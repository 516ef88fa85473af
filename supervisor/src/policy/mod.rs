//! Where pages may go.

pub mod address;
pub mod origin;

pub use origin::{Origin, OriginError, OriginList};
