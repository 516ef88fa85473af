//! `renderer-image db update | import | status`: fill and inspect the vulnerability database.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};

use super::scan::DbArg;
use crate::vuln::db::UpdateOutcome;
use crate::vuln::feeds::FeedName;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    db: DbArg,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Download the feeds. With --source, only the feeds named there are updated.
    Update {
        #[command(flatten)]
        db: DbArg,
        /// Fetch FEED from URL instead of its usual address (debian, osv-npm, osv-crates,
        /// nodejs); may be repeated.
        #[arg(long = "source", value_name = "FEED=URL", value_parser = feed_pair)]
        sources: Vec<(FeedName, String)>,
        /// Give up on a download after this long.
        #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
    /// Import feeds from files, directories or zips, for machines without network.
    Import {
        #[command(flatten)]
        db: DbArg,
        /// FEED=PATH, e.g. debian=tracker.json osv-npm=npm.zip nodejs=vuln/core.
        #[arg(value_name = "FEED=PATH", required = true, value_parser = feed_pair)]
        feeds: Vec<(FeedName, String)>,
    },
    /// Show which feeds are stored and how old they are.
    Status {
        #[command(flatten)]
        db: DbArg,
    },
}

fn feed_pair(text: &str) -> Result<(FeedName, String), String> {
    let (feed, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not FEED=VALUE"))?;
    Ok((feed.parse()?, value.to_string()))
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let pick = |inner: &DbArg| {
        if inner.dir.is_some() {
            inner.open()
        } else {
            args.db.open()
        }
    };
    match &args.command {
        Command::Update {
            db,
            sources,
            timeout,
        } => {
            let db = pick(db);
            let plan: Vec<(FeedName, String)> = if sources.is_empty() {
                FeedName::ALL
                    .iter()
                    .map(|f| (*f, f.default_url().to_string()))
                    .collect()
            } else {
                sources.clone()
            };
            let mut failed = Vec::new();
            for (feed, url) in plan {
                match db.update(feed, &url, *timeout) {
                    Ok(UpdateOutcome::NotModified) => eprintln!("{feed}: not modified"),
                    Ok(UpdateOutcome::Replaced { size }) => {
                        eprintln!("{feed}: updated ({size} bytes)")
                    }
                    Err(e) => {
                        eprintln!("{feed}: {:#}; the stored data is kept", anyhow!(e));
                        failed.push(feed.as_str());
                    }
                }
            }
            if !failed.is_empty() {
                bail!("feeds not updated: {}", failed.join(", "));
            }
            Ok(0)
        }
        Command::Import { db, feeds } => {
            let db = pick(db);
            for (feed, path) in feeds {
                let record = db
                    .import(*feed, &PathBuf::from(path))
                    .with_context(|| format!("importing {feed} from {path}"))?;
                eprintln!("{feed}: imported {} bytes from {path}", record.size);
            }
            Ok(0)
        }
        Command::Status { db } => {
            let db = pick(db);
            let now = chrono::Utc::now();
            println!("database: {}", db.dir().display());
            for feed in FeedName::ALL {
                match db.record(feed)? {
                    Some(r) => println!(
                        "{feed:<11} {:?} {} ago from {} ({} bytes)",
                        r.origin,
                        humantime::format_duration(Duration::from_secs(r.age(now).as_secs())),
                        r.source,
                        r.size
                    ),
                    None => println!("{feed:<11} missing"),
                }
            }
            Ok(0)
        }
    }
}
