//! Command-line entry: parse, run one subcommand, print errors once.
//!
//! Exit codes: 0 on success, 1 when `scan` finds vulnerabilities nobody accepted (or expired
//! allow-list entries) and when `build`, `run` or `stop` could not do what was asked (a
//! failed build step, a missing image, a container that never became healthy), 2 on any
//! other error (a bad argument, an unreachable or too old engine).

mod base;
mod build;
mod db;
mod inventory;
mod run;
mod scan;
mod stop;
mod vex;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "renderer-image",
    version,
    about = "Builds and inspects the renderer image"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List everything installed in an image, layer by layer.
    Inventory(inventory::Args),
    /// Build the offline Debian bookworm base image with Node.js and Chromium.
    Base(base::Args),
    /// Match an image against the vulnerability database and gate on the result.
    Scan(scan::Args),
    /// Fill or inspect the vulnerability database.
    Db(db::Args),
    /// Write the allow-list as an OpenVEX document for an image.
    Vex(vex::Args),
    /// Build the renderer image through the engine.
    Build(build::Args),
    /// Start the renderer image locked down and wait until it is healthy.
    Run(run::Args),
    /// Stop a renderer container within its stop timeout and remove it.
    Stop(stop::Args),
}

/// Runs the command line and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Inventory(args) => inventory::run(args).await.map(|()| 0),
            Command::Base(args) => base::run(args).await.map(|()| 0),
            Command::Scan(args) => scan::run(args).await,
            Command::Db(args) => db::run(args),
            Command::Vex(args) => vex::run(args).await,
            Command::Build(args) => build::run(args).await,
            Command::Run(args) => run::run(args).await,
            Command::Stop(args) => stop::run(args).await,
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
