//! `renderer-image build`.

use std::path::PathBuf;
use std::time::Duration;

use crate::hardened::build::{BuildSpec, build, parse_build_arg};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Base image (the Dockerfile's default, node:20-bookworm-slim, when not given); for
    /// air-gapped builds, an image made by `renderer-image base`.
    #[arg(long)]
    base: Option<String>,
    /// Tag for the built image.
    #[arg(long)]
    tag: String,
    /// A build argument, KEY=VALUE (KEEP_NODE, VERSION, REVISION, SOURCE); repeatable.
    #[arg(long = "build-arg", value_parser = parse_build_arg)]
    build_args: Vec<(String, String)>,
    /// The render-supervisor binary, built with `cargo auditable build --release`
    /// [default: $RENDER_SUPERVISOR_BIN, else the one next to this program].
    #[arg(long)]
    supervisor_bin: Option<PathBuf>,
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    let supervisor_bin = match args
        .supervisor_bin
        .or_else(|| std::env::var_os("RENDER_SUPERVISOR_BIN").map(PathBuf::from))
    {
        Some(path) => path,
        None => beside_this_program()?,
    };
    let spec = BuildSpec {
        tag: args.tag,
        base: args.base,
        build_args: args.build_args,
        supervisor_bin,
    };
    let docker = crate::hardened::connect(Duration::from_secs(600)).await?;
    let mut progress = |line: &str| eprintln!("{line}");
    match build(&docker, &spec, &mut progress).await {
        Ok(built) => {
            println!("{built}");
            Ok(0)
        }
        Err(e) if e.is_engine() => Err(e.into()),
        Err(e) => {
            eprintln!("error: {:#}", anyhow::Error::from(e));
            Ok(1)
        }
    }
}

fn beside_this_program() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe.with_file_name("render-supervisor");
    anyhow::ensure!(
        path.is_file(),
        "no render-supervisor next to {}; pass --supervisor-bin",
        exe.display()
    );
    Ok(path)
}
