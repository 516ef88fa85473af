//! `renderer-image vex`: the allow-list as an OpenVEX document for the image.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use super::scan::{DbArg, Target, load_feeds, load_inventory};
use crate::image::archive::Platform;
use crate::vuln::allowlist::AllowList;
use crate::vuln::matcher;
use crate::vuln::report::vex;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Reviewed allow-list (TOML) to state.
    #[arg(long, value_name = "FILE")]
    allowlist: PathBuf,
    /// Image reference in the local engine, or the image to pick inside --archive.
    #[arg(long, value_name = "REF")]
    image: Option<String>,
    /// Read a `docker save` or OCI layout archive instead of asking the engine.
    #[arg(long, value_name = "FILE")]
    archive: Option<PathBuf>,
    /// Use an inventory written by `inventory --format json`.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["archive", "image"])]
    inventory: Option<PathBuf>,
    #[arg(long, value_name = "OS/ARCH")]
    platform: Option<Platform>,
    #[command(flatten)]
    db: DbArg,
    /// Name packages only from the allow-list's `package` keys, without the database.
    #[arg(long)]
    no_match: bool,
    /// Write to this file instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    let allow = AllowList::load(&args.allowlist)?;
    let inv = load_inventory(Target {
        image: args.image,
        archive: args.archive,
        inventory: args.inventory,
        platform: args.platform,
    })
    .await?;
    let findings = if args.no_match {
        Vec::new()
    } else {
        let (feeds, _, _) = load_feeds(&args.db.open(), &inv, None)?;
        matcher::match_inventory(&inv, &feeds)?
    };
    let today = chrono::Local::now().date_naive();
    for e in allow.entries.iter().filter(|e| e.expired(today)) {
        eprintln!(
            "allow-list entry {} ({}) expired on {} and is left out",
            e.number, e.id, e.expires
        );
    }
    let text = vex::render(&allow, &inv, &findings, today, chrono::Utc::now())?;
    match &args.output {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .context("writing to stdout")?;
            out.flush().context("writing to stdout")?;
        }
    }
    Ok(0)
}
