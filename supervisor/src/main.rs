use std::process::ExitCode;

use clap::{Parser, Subcommand};
use render_supervisor::{client, config, daemon};

/// A sandboxed PDF and screenshot renderer driving headless Chromium, served only over a
/// Unix socket.
#[derive(Debug, Parser)]
#[command(name = "render-supervisor", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon
    Serve(Box<config::ServeArgs>),
    /// Submit one job to a running daemon and save the result
    Render(client::RenderArgs),
    /// Ask a running daemon whether it is healthy (exit 0) or not (exit 1)
    Health(client::HealthArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::Serve(args) => match daemon::serve(*args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("render-supervisor: {err:#}");
                ExitCode::from(2)
            }
        },
        Command::Render(args) => ExitCode::from(client::render(args)),
        Command::Health(args) => ExitCode::from(client::health(args)),
    }
}
