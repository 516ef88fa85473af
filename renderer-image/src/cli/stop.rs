//! `renderer-image stop`.

use std::time::Duration;

use crate::hardened::run::stop;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Container name.
    #[arg(long)]
    name: String,
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    // The engine answers only once the container has stopped, which can take its whole
    // stop timeout.
    let docker = crate::hardened::connect(Duration::from_secs(900)).await?;
    match stop(&docker, &args.name).await {
        Ok(0) => {
            println!("{} stopped cleanly", args.name);
            Ok(0)
        }
        Ok(code) => {
            eprintln!("error: {} exited with code {code}", args.name);
            Ok(1)
        }
        Err(e) if e.is_engine() => Err(e.into()),
        Err(e) => {
            eprintln!("error: {:#}", anyhow::Error::from(e));
            Ok(1)
        }
    }
}
