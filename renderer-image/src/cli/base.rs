//! `renderer-image base`.

use crate::base::{BaseSpec, ensure_base};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Tag for the base image, e.g. `renderer-base:bookworm`.
    #[arg(long)]
    tag: String,
    /// Expected Node.js version of the host's `node` binary that is copied in.
    #[arg(long)]
    node_version: Option<String>,
    /// Rebuild even if the tag already exists.
    #[arg(long)]
    force: bool,
    /// Leave out Chromium and the fonts: a stand-in for `node:*-bookworm-slim`, for
    /// building the Dockerfile's default path where build containers reach Debian's mirror.
    #[arg(long)]
    node_only: bool,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let spec = BaseSpec {
        tag: args.tag,
        node_version: args.node_version,
        force: args.force,
        chromium: !args.node_only,
    };
    let outcome = ensure_base(&spec).await?;
    println!("{outcome}");
    Ok(())
}
