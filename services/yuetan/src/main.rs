//! The `yuetan` command: run services, the demo, and operator verbs.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod audit_cmd;
mod calendar_cmd;
mod casefile_cmd;
mod deadletter_cmd;
mod document_cmd;
mod demo_archive;
mod demo_case;
mod demo_interview;
mod demo_rectification;
mod demo_scheduling;
mod demo_supervision;
mod demo_pipeline;
mod dev_cmd;
mod serve;
mod supervision_cmd;
mod token;

#[derive(Debug, Parser)]
#[command(name = "yuetan", version, about = "Yuetan (约谈): administrative interview case platform")]
struct Cli {
    /// Configuration file (TOML); `YUETAN_…` environment variables override it.
    #[arg(long, global = true, env = "YUETAN_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a service (`all` runs every service in one process).
    Serve(serve::Args),
    /// Sample runs: a case through a running platform, or events through the pipeline.
    #[command(subcommand)]
    Demo(DemoCommand),
    /// Development tokens.
    #[command(subcommand)]
    Token(token::Command),
    /// The hash-chained audit log.
    #[command(subcommand)]
    Audit(audit_cmd::Command),
    /// Sealed documents: check a file against its record and the organ's seal.
    #[command(subcommand)]
    Document(document_cmd::Command),
    /// Working-day arithmetic on the State Council holiday schedule.
    #[command(subcommand)]
    Calendar(calendar_cmd::Command),
    /// Events a consumer gave up on: list them, replay one once its cause is fixed.
    #[command(subcommand)]
    Deadletter(deadletter_cmd::Command),
    /// Supervision: rebuild the read model from the stream, verify a monthly draw, generate a report.
    #[command(subcommand)]
    Supervision(supervision_cmd::Command),
    /// Case-file archives (R-DOC-3): verify one against its signed manifest, print the archive key's public half.
    #[command(subcommand)]
    Casefile(casefile_cmd::Command),
    /// Development tools: fill a province with generated cases.
    #[command(subcommand)]
    Dev(dev_cmd::Command),
}

#[derive(Debug, Subcommand)]
enum DemoCommand {
    /// A sample case through a running `yuetan serve all`: party, clue, verification, submission, legality review, approval; prints the case number and its events.
    Case(demo_case::Args),
    /// Sample events through the outbox, JetStream and a consumer (the backbone alone).
    Pipeline(demo_pipeline::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Calendar(command) => calendar_cmd::run(command),
        Command::Token(command) => token::run(cli.config.as_deref(), command),
        Command::Casefile(command) => casefile_cmd::run(cli.config.as_deref(), command),
        command => {
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(runtime) => runtime,
                Err(err) => return fail(&anyhow::anyhow!("starting the runtime: {err}")),
            };
            runtime.block_on(async {
                match command {
                    Command::Serve(args) => serve::run(cli.config.as_deref(), args).await,
                    Command::Demo(DemoCommand::Case(args)) => demo_case::run(cli.config.as_deref(), args).await,
                    Command::Demo(DemoCommand::Pipeline(args)) => demo_pipeline::run(cli.config.as_deref(), args).await,
                    Command::Audit(command) => audit_cmd::run(cli.config.as_deref(), command).await,
                    Command::Document(command) => document_cmd::run(cli.config.as_deref(), command).await,
                    Command::Deadletter(command) => deadletter_cmd::run(cli.config.as_deref(), command).await,
                    Command::Supervision(command) => supervision_cmd::run(cli.config.as_deref(), command).await,
                    Command::Dev(command) => dev_cmd::run(cli.config.as_deref(), command).await,
                    Command::Calendar(_) | Command::Token(_) | Command::Casefile(_) => unreachable!("handled above"),
                }
            })
        }
    };
    match result {
        Ok(code) => code,
        Err(err) => fail(&err),
    }
}

/// One line on stderr, exit code 1: scripts read the first line only.
fn fail(err: &anyhow::Error) -> ExitCode {
    let mut message = err.to_string();
    for cause in err.chain().skip(1) {
        message.push_str(": ");
        message.push_str(&cause.to_string());
    }
    eprintln!("error: {}", message.replace('\n', " "));
    ExitCode::FAILURE
}
