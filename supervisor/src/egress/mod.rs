//! Enforcing the egress policy on every request a page makes.

pub mod peer;
pub mod proxy;
pub mod resolver;

use std::sync::Arc;

use crate::metrics::Metrics;

/// What every job's proxy shares: how names are resolved, where refusals are counted, and
/// whose connections are served.
#[derive(Debug)]
pub struct Egress {
    pub resolver: resolver::Resolver,
    pub metrics: Arc<Metrics>,
    /// The uid Chrome runs as (ours); connections of any other uid are refused.
    pub chrome_uid: u32,
    /// No proxy at all: pages connect directly, and nothing they load after the job's own
    /// URL is checked.
    pub direct: bool,
}
