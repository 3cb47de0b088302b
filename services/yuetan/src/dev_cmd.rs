//! `yuetan dev generate`: development data.

use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum Command {}

pub async fn run(_config: Option<&Path>, command: Command) -> anyhow::Result<ExitCode> {
    match command {}
}
