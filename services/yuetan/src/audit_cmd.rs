//! `yuetan audit verify`: walks every service's hash-chained audit log and
//! reports any row that was altered or removed (R-DOC-5); with `--anchors`
//! also checks the logs against the signed heads on the stream
//! (`platform.audit_anchored`, libs/platform/src/anchors.rs), which catches
//! rows rewritten with every later hash recomputed. `yuetan audit
//! public-key` prints the public half of the configured anchor key.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use sqlx::Connection;
use yuetan_platform::anchors::{self, AnchorKey};
use yuetan_platform::{audit, db, Config};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Verify the audit chain of one schema, or of every schema that has one.
    Verify {
        /// Only this service schema (default: all).
        #[arg(long)]
        schema: Option<String>,
        /// Also check every chain against the signed anchors on the stream.
        #[arg(long)]
        anchors: bool,
        /// The anchor key's public half (base64; repeat for several keys).
        /// Default: the public half of the configured `audit.anchor_key`.
        #[arg(long = "public-key", requires = "anchors")]
        public_keys: Vec<String>,
    },
    /// Print the public half (base64) of the configured anchor key.
    PublicKey,
}

pub async fn run(config_file: Option<&Path>, command: Command) -> anyhow::Result<ExitCode> {
    let config = Config::load("audit", config_file)?;
    let (schema, with_anchors, public_keys) = match command {
        Command::PublicKey => {
            println!("{}", AnchorKey::from_config(&config)?.public_base64());
            return Ok(ExitCode::SUCCESS);
        }
        Command::Verify { schema, anchors, public_keys } => (schema, anchors, public_keys),
    };
    let url = config.database.url.expose();
    let all_schemas: Vec<String> = {
        let mut conn = sqlx::PgConnection::connect(url).await.context("connecting to postgres")?;
        sqlx::query_scalar(
            "SELECT table_schema::text FROM information_schema.tables WHERE table_name = 'audit_log' ORDER BY 1",
        )
        .fetch_all(&mut conn)
        .await?
    };
    let schemas = match schema {
        Some(schema) => vec![schema],
        None => all_schemas.clone(),
    };
    if schemas.is_empty() && !with_anchors {
        println!("no audit logs found");
        return Ok(ExitCode::SUCCESS);
    }

    let anchored = match with_anchors {
        false => None,
        true => {
            let keys = match public_keys.is_empty() {
                true => vec![AnchorKey::from_config(&config)?.verifying_key()],
                false => public_keys.iter().map(|k| anchors::public_key_from_base64(k)).collect::<Result<_, _>>()?,
            };
            let bus = anchors::connect_reader(&config.nats).await?;
            Some((anchors::read_anchors(&bus).await?, keys))
        }
    };

    let mut intact = true;
    for schema in &schemas {
        let pool = db::connect(url, schema, 2).await?;
        let report = audit::verify(&pool).await?;
        if report.is_intact() {
            println!("{schema}: {} rows, intact", report.rows_checked);
        } else {
            intact = false;
            println!("{schema}: {} rows, {} problems", report.rows_checked, report.problems.len());
            for problem in &report.problems {
                println!("  chain {} seq {}: {:?}", problem.chain, problem.seq, problem.kind);
            }
        }
        if let Some((stored, keys)) = &anchored {
            let report = anchors::check_anchors(&pool, schema, stored, keys).await?;
            match &report.newest {
                None if report.problems.is_empty() => println!("{schema}: no anchors on the stream"),
                None => println!("{schema}: no anchor holds"),
                Some(newest) => println!(
                    "{schema}: anchors {} checked, newest sequence {} head {} at {} (stream seq {}): {}",
                    report.anchors_checked,
                    newest.sequence,
                    newest.head_hash,
                    newest.anchored_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)).unwrap_or_default(),
                    newest.stream_seq,
                    if report.is_intact() { "matches the database" } else { "DOES NOT MATCH" }
                ),
            }
            for problem in &report.problems {
                intact = false;
                println!("  {problem}");
            }
        }
        pool.close().await;
    }
    if let Some((stored, _)) = &anchored {
        for problem in anchors::schemas_missing(stored, &all_schemas) {
            if schemas.len() == all_schemas.len() || schemas.contains(&problem.schema) {
                intact = false;
                println!("{problem}");
            }
        }
    }
    Ok(if intact { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
