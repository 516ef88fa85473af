//! Where pages may go.

pub mod origin;

pub use origin::{Origin, OriginError, OriginList};
