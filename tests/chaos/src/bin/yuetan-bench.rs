//! `yuetan-bench`: the whole-lifecycle benchmark (issue 14) — see
//! [`yuetan_chaos::bench`]. Run it with `deploy/local/bench.sh`.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let report = yuetan_chaos::bench::main_with(yuetan_chaos::bench::Args::parse()).await?;
    Ok(if report.batch.completed > 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
