//! `yuetan deadletter list|replay`: the events a consumer gave up on, and
//! applying one again once its cause is fixed (platform `deadletter`).
//!
//! A dead letter is named `<schema>/<id>` (each service schema numbers its
//! own). A replay is applied by the running consumer it belongs to, through
//! its inbox: at most once, however often it is asked for.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use chrono::Utc;
use yuetan_platform::deadletter::{self, DeadLetter, Replay};
use yuetan_platform::{db, Config};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// The open dead letters of every service schema (or of one), oldest first.
    List {
        /// Only this service schema (default: all).
        #[arg(long)]
        schema: Option<String>,
        /// Also the settled ones, with how they were settled.
        #[arg(long)]
        all: bool,
    },
    /// Apply a dead letter once more, through its consumer's inbox; prints
    /// `applied`, or `already applied` if it was (nothing is applied twice).
    Replay {
        /// Dead letters as `list` names them, `<schema>/<id>` (e.g.
        /// `review/3`), replayed one after the other in the order given.
        #[arg(required = true)]
        dead_letters: Vec<String>,
        /// How long to wait for the running consumer to apply it.
        #[arg(long, default_value_t = 30)]
        wait_secs: u64,
    },
}

pub async fn run(config_file: Option<&Path>, command: Command) -> anyhow::Result<ExitCode> {
    let config = Config::load("deadletter", config_file)?;
    let url = config.database.url.expose();
    match command {
        Command::List { schema, all } => list(url, schema, all).await,
        Command::Replay { dead_letters, wait_secs } => {
            let mut code = ExitCode::SUCCESS;
            for name in &dead_letters {
                if replay(url, name, Duration::from_secs(wait_secs)).await? != ExitCode::SUCCESS {
                    code = ExitCode::FAILURE;
                }
            }
            Ok(code)
        }
    }
}

/// The schemas with a dead-letter table, or `only` if it is one of them.
async fn schemas(url: &str, only: Option<&str>) -> anyhow::Result<Vec<String>> {
    let pool = deadletter::status_pool(url)?;
    let schemas = deadletter::schemas(&pool).await.context("connecting to postgres")?;
    pool.close().await;
    match only {
        None => Ok(schemas),
        Some(only) if schemas.iter().any(|s| s == only) => Ok(vec![only.to_string()]),
        Some(only) => bail!("schema `{only}` has no dead-letter table; schemas with one: {}", schemas.join(", ")),
    }
}

async fn list(url: &str, schema: Option<String>, all: bool) -> anyhow::Result<ExitCode> {
    let schemas = schemas(url, schema.as_deref()).await?;
    let mut shown = 0;
    for schema in schemas {
        let pool = db::connect(url, &schema, 2).await?;
        for letter in deadletter::list(&pool, all).await? {
            print_letter(&schema, &letter);
            shown += 1;
        }
        pool.close().await;
    }
    if shown == 0 {
        println!("{}", if all { "no dead letters" } else { "no open dead letters" });
    }
    Ok(ExitCode::SUCCESS)
}

fn print_letter(schema: &str, letter: &DeadLetter) {
    let age = (Utc::now() - letter.failed_at).num_seconds().max(0);
    let state = match (&letter.resolved_at, &letter.replay_requested_at) {
        (Some(_), _) => "settled",
        (None, Some(_)) => "replay requested",
        (None, None) => "open",
    };
    println!(
        "{schema}/{} {state} consumer={} kind={} age={} type={} event={} stream_seq={} deliveries={}",
        letter.id,
        letter.consumer,
        letter.kind,
        human_age(age),
        letter.event_type.as_deref().unwrap_or("-"),
        letter.event_id.map(|id| id.to_string()).unwrap_or_else(|| "-".into()),
        letter.stream_seq,
        letter.deliveries,
    );
    println!("  error: {}", letter.error.replace('\n', " "));
    if let Some(resolution) = &letter.resolution {
        println!("  resolution: {}", resolution.replace('\n', " "));
    }
}

fn human_age(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d{}h", s / 86_400, (s % 86_400) / 3600),
    }
}

async fn replay(url: &str, name: &str, wait: Duration) -> anyhow::Result<ExitCode> {
    let Some((schema, id)) = name.split_once('/') else {
        bail!("dead letter `{name}`: expected <schema>/<id> as `yuetan deadletter list` prints it, e.g. review/3");
    };
    let id: i64 = id.parse().with_context(|| format!("dead letter `{name}`: the id after '/' must be a number"))?;
    schemas(url, Some(schema)).await?;
    let pool = db::connect(url, schema, 2).await?;
    let outcome = deadletter::replay(&pool, id, wait).await?;
    pool.close().await;
    match outcome {
        Replay::Applied => {
            println!("{name}: applied");
            Ok(ExitCode::SUCCESS)
        }
        Replay::AlreadyApplied { resolution } => {
            println!("{name}: already applied ({resolution}); nothing applied again");
            Ok(ExitCode::SUCCESS)
        }
        Replay::NotApplied { reason } => {
            println!("{name}: not applied, still open: {reason}");
            Ok(ExitCode::FAILURE)
        }
        Replay::Pending { consumer } => {
            println!(
                "{name}: replay requested; consumer {consumer} has not taken it up within {} s (is its service running?); it will when it runs",
                wait.as_secs()
            );
            Ok(ExitCode::FAILURE)
        }
        Replay::NotFound => bail!("dead letter {name} not found"),
    }
}
