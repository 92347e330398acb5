//! The `commwatch` command: parses the arguments and hands over to the library's `cli`, where
//! every command lives (tests call it there).

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    commwatch::cli::main(commwatch::cli::Cli::parse()).await
}
