//! `renderer-image inventory`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::ValueEnum;

use crate::image::archive::{Platform, Selector};
use crate::image::limits::Limits;
use crate::image::source::ImageSource;
use crate::inventory::{inventory, table};
use crate::sbom;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Image reference in the local engine, or the image to pick inside --archive.
    image: Option<String>,
    /// Read a `docker save` or OCI layout archive instead of asking the engine.
    #[arg(long, value_name = "FILE")]
    archive: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Pick one image of a multi-platform index, as OS/ARCH[/VARIANT].
    #[arg(long, value_name = "OS/ARCH")]
    platform: Option<Platform>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
    Cyclonedx,
    Spdx,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let source = match (args.archive, args.image) {
        (Some(path), reference) => ImageSource::Archive { path, reference },
        (None, Some(reference)) => ImageSource::Engine(reference),
        (None, None) => bail!("name an image, or pass --archive FILE"),
    };
    let selector = Selector {
        reference: None,
        platform: args.platform,
    };
    let tty = std::io::stderr().is_terminal();
    let progress: crate::image::engine::Progress = Arc::new(move |msg: &str| {
        if tty {
            eprintln!("{msg}");
        }
    });
    let inv = inventory(&source, &selector, &Limits::default(), progress)
        .await
        .with_context(|| format!("inventory of {}", source.describe()))?;
    let text = match args.format {
        Format::Table => table::render(&inv),
        Format::Json => serde_json::to_string_pretty(&inv)? + "\n",
        Format::Cyclonedx => sbom::cyclonedx::render(&inv)?,
        Format::Spdx => sbom::spdx::render(&inv),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .context("writing to stdout")?;
    out.flush().context("writing to stdout")?;
    Ok(())
}
