//! `renderer-image scan`: match an image against the database and apply the gate.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::ValueEnum;

use crate::image::archive::{Platform, Selector};
use crate::image::limits::Limits;
use crate::image::source::ImageSource;
use crate::inventory::{Inventory, inventory};
use crate::vuln::allowlist::AllowList;
use crate::vuln::db::{Database, FeedRecord};
use crate::vuln::feeds::Feeds;
use crate::vuln::gate::{self, Policy};
use crate::vuln::matcher::{self, DebianDecision};
use crate::vuln::report::{self, ScanReport};
use crate::vuln::{Severity, compare};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Image reference in the local engine, or the image to pick inside --archive.
    image: Option<String>,
    /// The image reference (same as the positional argument).
    #[arg(long = "image", value_name = "REF", conflicts_with = "image")]
    image_flag: Option<String>,
    /// Read a `docker save` or OCI layout archive instead of asking the engine.
    #[arg(long, value_name = "FILE")]
    archive: Option<PathBuf>,
    /// Scan an inventory written by `inventory --format json` instead of an image.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["archive", "image", "image_flag"])]
    inventory: Option<PathBuf>,
    /// Pick one image of a multi-platform index, as OS/ARCH[/VARIANT].
    #[arg(long, value_name = "OS/ARCH")]
    platform: Option<Platform>,
    #[command(flatten)]
    pub db: DbArg,
    /// Reviewed allow-list (TOML) of accepted vulnerabilities.
    #[arg(long, value_name = "FILE")]
    allowlist: Option<PathBuf>,
    /// Lowest severity that fails the gate.
    #[arg(long, value_name = "SEVERITY", default_value = "high")]
    fail_on: Severity,
    /// Only findings with an installable fix can fail the gate.
    #[arg(long)]
    only_fixed: bool,
    /// Debian decisions that pass the gate: unimportant, no-dsa, postponed, ignored.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    accept_debian: Vec<DebianDecision>,
    /// Let findings nobody has rated pass instead of failing the gate.
    #[arg(long)]
    unknown_passes: bool,
    /// Refuse feeds fetched or imported longer ago than this (e.g. 36h, 7d).
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_age)]
    max_feed_age: Duration,
    /// Also write SARIF 2.1.0 to this file.
    #[arg(long, value_name = "FILE")]
    sarif: Option<PathBuf>,
    /// Also write a CycloneDX VEX document to this file.
    #[arg(long, value_name = "FILE")]
    cyclonedx_vex: Option<PathBuf>,
    /// Dockerfile of the image, to locate SARIF results at the instruction.
    #[arg(long, value_name = "FILE")]
    dockerfile: Option<PathBuf>,
    /// Compare with a Trivy or Grype JSON report of the same image.
    #[arg(long, value_name = "FILE")]
    compare: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// `--db DIR`, shared by every subcommand that uses the database.
#[derive(Debug, Clone, clap::Args)]
pub struct DbArg {
    /// Vulnerability database directory [default: $RENDERER_VULNDB or the user cache].
    #[arg(long = "db", value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

impl DbArg {
    pub fn open(&self) -> Database {
        Database::new(self.dir.clone().unwrap_or_else(Database::default_dir))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
}

/// What an image argument resolves to.
pub struct Target {
    pub image: Option<String>,
    pub archive: Option<PathBuf>,
    pub inventory: Option<PathBuf>,
    pub platform: Option<Platform>,
}

/// Reads the inventory of the target: from a JSON file, an archive or the engine.
pub async fn load_inventory(target: Target) -> anyhow::Result<Inventory> {
    if let Some(path) = &target.inventory {
        let data =
            std::fs::read(path).with_context(|| format!("reading inventory {}", path.display()))?;
        let inv: Inventory = serde_json::from_slice(&data)
            .with_context(|| format!("inventory {} is not inventory JSON", path.display()))?;
        if inv.schema_version != crate::inventory::SCHEMA_VERSION {
            bail!(
                "inventory {} has schema version {}, expected {}",
                path.display(),
                inv.schema_version,
                crate::inventory::SCHEMA_VERSION
            );
        }
        return Ok(inv);
    }
    let source = match (target.archive, target.image) {
        (Some(path), reference) => ImageSource::Archive { path, reference },
        (None, Some(reference)) => ImageSource::Engine(reference),
        (None, None) => bail!("name an image, or pass --archive FILE or --inventory FILE"),
    };
    let selector = Selector {
        reference: None,
        platform: target.platform,
    };
    let tty = std::io::stderr().is_terminal();
    let progress: crate::image::engine::Progress = Arc::new(move |msg: &str| {
        if tty {
            eprintln!("{msg}");
        }
    });
    inventory(&source, &selector, &Limits::default(), progress)
        .await
        .with_context(|| format!("inventory of {}", source.describe()))
}

/// Loads the feeds the inventory needs, refusing missing and outdated ones.
pub fn load_feeds(
    db: &Database,
    inv: &Inventory,
    max_age: Option<Duration>,
) -> anyhow::Result<(Feeds, Vec<FeedRecord>, Option<String>)> {
    let release = matcher::debian_release(inv)?;
    let _lock = db.lock_shared()?;
    let now = chrono::Utc::now();
    let mut feeds = Feeds::default();
    let mut records = Vec::new();
    for (feed, what) in matcher::required_feeds(inv) {
        let Some(record) = db.record(feed)? else {
            bail!(
                "the image has {what}, but the {feed} feed is not in {} (run `db update` or \
                 `db import`)",
                db.dir().display()
            );
        };
        if let Some(limit) = max_age {
            let age = record.age(now);
            if age > limit {
                bail!(
                    "the {feed} feed in {} is {} old, older than --max-feed-age {}",
                    db.dir().display(),
                    humantime::format_duration(Duration::from_secs(age.as_secs())),
                    humantime::format_duration(limit)
                );
            }
        }
        let data = db.read(feed)?;
        feeds.load(feed, &data, release.as_deref().unwrap_or(""))?;
        records.push(record);
    }
    Ok((feeds, records, release))
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    let allow = match &args.allowlist {
        Some(path) => AllowList::load(path)?,
        None => AllowList::default(),
    };
    let db = args.db.open();
    let target = Target {
        image: args.image.clone().or(args.image_flag.clone()),
        archive: args.archive.clone(),
        inventory: args.inventory.clone(),
        platform: args.platform.clone(),
    };
    let inv = load_inventory(target).await?;
    let (feeds, records, release) = load_feeds(&db, &inv, Some(args.max_feed_age))?;
    let findings = matcher::match_inventory(&inv, &feeds)?;
    let mut policy = Policy::new(chrono::Local::now().date_naive());
    policy.fail_on = args.fail_on;
    policy.only_fixed = args.only_fixed;
    policy.accept_debian = args.accept_debian.clone();
    policy.unknown_fails = !args.unknown_passes;
    let verdict = gate::judge(findings, &allow, &policy);
    let mut report = ScanReport {
        schema_version: report::SCHEMA_VERSION,
        generator: ScanReport::generator(),
        scanned_at: chrono::Utc::now(),
        image: inv.image.clone(),
        distro: inv.distro.clone(),
        release,
        layers: inv.layers.clone(),
        feeds: records,
        policy,
        allowlist: args.allowlist.as_ref().map(|p| p.display().to_string()),
        verdict,
        comparison: None,
    };
    if let Some(path) = &args.compare {
        let other = compare::OtherReport::load(path)?;
        report.comparison = Some(compare::compare(&report, &inv, &other, &allow));
    }
    if let Some(path) = &args.sarif {
        let dockerfile = match &args.dockerfile {
            Some(p) => Some((
                p.clone(),
                std::fs::read_to_string(p)
                    .with_context(|| format!("reading Dockerfile {}", p.display()))?,
            )),
            None => None,
        };
        let text = report::sarif::render(&report, dockerfile.as_ref())?;
        write_file(path, &text)?;
    }
    if let Some(path) = &args.cyclonedx_vex {
        write_file(path, &report::cyclonedx_vex::render(&report)?)?;
    }
    let text = match args.format {
        Format::Table => {
            let mut text = report::table::render(&report);
            if let Some(diff) = &report.comparison {
                text.push_str(&compare::render(diff));
            }
            text
        }
        Format::Json => report::json::render(&report)?,
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .context("writing to stdout")?;
    out.flush().context("writing to stdout")?;
    if args.format == Format::Json {
        eprintln!("{}", report.verdict.summary);
    }
    Ok(report.verdict.exit_code)
}

fn parse_age(text: &str) -> Result<Duration, humantime::DurationError> {
    humantime::parse_duration(text)
}

fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
