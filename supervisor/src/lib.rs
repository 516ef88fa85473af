//! `render-supervisor`: a sandboxed PDF and screenshot renderer that drives headless
//! Chromium and takes jobs only over a Unix socket.
//!
//! - [`server`]: the socket, peer credentials, the HTTP API and admission;
//! - [`job`]: the job format and its validation;
//! - [`chrome`]: launching and supervising Chrome, and rendering a job in it;
//! - [`policy`]: which origins and addresses pages may reach;
//! - [`egress`]: the per-job proxy that enforces it;
//! - [`daemon`]: the start-up and shutdown sequence of `serve`;
//! - [`client`]: the `render` and `health` commands for scripts and health checks.

pub mod chrome;
pub mod client;
pub mod config;
pub mod daemon;
pub mod egress;
#[doc(hidden)]
pub mod fuzzing;
pub mod image_post;
pub mod init;
pub mod job;
pub mod logging;
pub mod metrics;
pub mod policy;
pub mod privileges;
pub mod server;
