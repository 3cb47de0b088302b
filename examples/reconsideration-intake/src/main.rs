//! `reconsideration-intake`: a province's reconsideration-intake system
//! attached to Yuetan by its events and its export API (see README.md).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::NaiveDate;
use clap::{Parser, Subcommand};
use reconsideration_intake::{apply, book, parse_day, pull, sync, today, Bus, Identity};
use yuetan_calendar::Calendar;

#[derive(Debug, Parser)]
#[command(name = "reconsideration-intake", about = "An outside reconsideration-intake system attached to Yuetan by events and the case-file export API")]
struct Cli {
    /// This system's own folder (its book, intake.json).
    #[arg(long, global = true, env = "RECONSIDERATION_DATA", default_value = ".local/reconsideration-intake")]
    data: PathBuf,
    /// The platform's NATS server.
    #[arg(long, global = true, env = "RECONSIDERATION_NATS", default_value = "nats://127.0.0.1:4222")]
    nats: String,
    /// The platform's JetStream stream (nats.stream of its configuration).
    #[arg(long, global = true, env = "RECONSIDERATION_STREAM", default_value = "YUETAN")]
    stream: String,
    /// The platform's subject prefix (nats.subject_prefix).
    #[arg(long, global = true, env = "RECONSIDERATION_PREFIX", default_value = "yuetan.ev")]
    prefix: String,
    /// The platform's gRPC address (the case-file export API).
    #[arg(long, global = true, env = "RECONSIDERATION_GRPC", default_value = "http://127.0.0.1:50051")]
    grpc: String,
    /// A file holding this system's service-account token (`yuetan token issue … --roles system`).
    #[arg(long, global = true, env = "RECONSIDERATION_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// The archive key's public key, standard base64 (`yuetan casefile public-key`).
    #[arg(long, global = true, env = "RECONSIDERATION_PUBLIC_KEY")]
    public_key: Option<String>,
    /// The name of this system's durable consumer on the stream.
    #[arg(long, global = true, env = "RECONSIDERATION_CONSUMER", default_value = "reconsideration-intake")]
    consumer: String,
    /// This system's id: the source of its applications and the actor of its events.
    #[arg(long, global = true, env = "RECONSIDERATION_SYSTEM_ID", default_value = "gs-fuyi")]
    system_id: String,
    /// Its name on its events.
    #[arg(long, global = true, env = "RECONSIDERATION_SYSTEM_NAME", default_value = "甘肃省行政复议平台")]
    system_name: String,
    /// The organ code it publishes as.
    #[arg(long, global = true, env = "RECONSIDERATION_ORGAN", default_value = "620000-FY")]
    organ: String,
    /// Its own division.
    #[arg(long, global = true, env = "RECONSIDERATION_DIVISION", default_value = "620000")]
    division: String,
    /// Holiday data (the platform's format); default: the data built in.
    #[arg(long, global = true, env = "RECONSIDERATION_HOLIDAYS")]
    holidays: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read the platform's events with this system's durable consumer: decided
    /// cases, archives, relief marks.
    Sync {
        /// Return once no message came for about 2 seconds.
        #[arg(long)]
        until_idle: bool,
    },
    /// The decided cases a party could challenge, with the last day to apply.
    List,
    /// Register a reconsideration application: publishes relief.application_received.
    Apply {
        /// Case id, clue id or document number.
        #[arg(long)]
        case: String,
        #[arg(long)]
        applicant: String,
        /// The day the respondent organ received the application copy (YYYY-MM-DD).
        #[arg(long, value_parser = parse_day)]
        received_on: NaiveDate,
        /// The day the party applied (default: today, China Standard Time).
        #[arg(long, value_parser = parse_day)]
        applied_on: Option<NaiveDate>,
        /// This system's id of the application (default: a new UUIDv7).
        #[arg(long)]
        relief_id: Option<String>,
        /// The reconsideration organ.
        #[arg(long, default_value = apply::DEFAULT_BODY)]
        body: String,
    },
    /// Download the case file through the export API and verify it.
    Pull {
        /// Case id, clue id or document number.
        #[arg(long)]
        case: String,
        /// Folder for the archive.
        #[arg(long)]
        out: PathBuf,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("reconsideration-intake: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let bus = Bus { url: cli.nats.clone(), stream: cli.stream.clone(), prefix: cli.prefix.clone() };
    let calendar = match &cli.holidays {
        Some(path) => Calendar::load(path).with_context(|| format!("--holidays {}", path.display()))?,
        None => Calendar::builtin(),
    };
    match cli.command {
        Command::Sync { until_idle } => {
            let mut note = |line: String| println!("{line}");
            let work = sync::sync(&bus, &cli.data, &cli.consumer, &calendar, until_idle, &mut note);
            let report = tokio::select! {
                report = work => report?,
                _ = tokio::signal::ctrl_c() => {
                    println!("stopped");
                    return Ok(());
                }
            };
            println!("{} messages read, {} changed the book, {} decided cases", report.received, report.changed, report.cases);
        }
        Command::List => {
            let book = book::Book::load(&cli.data)?;
            print!("{}", book::table(&book, today()));
        }
        Command::Apply { case, applicant, received_on, applied_on, relief_id, body } => {
            let me = Identity { id: cli.system_id, name: cli.system_name, organ: cli.organ, division: cli.division };
            let request = apply::Request { case, applicant, received_on, applied_on, relief_id, body };
            println!("{}", apply::apply(&bus, &cli.data, &me, &request).await?);
        }
        Command::Pull { case, out } => {
            let token_file = cli.token_file.context("--token-file (or RECONSIDERATION_TOKEN_FILE): the service-account token")?;
            let token = std::fs::read_to_string(&token_file).with_context(|| format!("reading {}", token_file.display()))?;
            let public_key = cli.public_key.context("--public-key (or RECONSIDERATION_PUBLIC_KEY): the archive public key, `yuetan casefile public-key`")?;
            let export = pull::Export { grpc: cli.grpc, token: token.trim().to_string(), public_key };
            print!("{}", pull::pull(&export, Some(&cli.data), &case, &out).await?);
        }
    }
    Ok(())
}
