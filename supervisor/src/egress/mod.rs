//! Enforcing the egress policy on every request a page makes.

pub mod peer;
pub mod proxy;
