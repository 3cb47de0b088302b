//! `yuetan audit verify`: walks every service's hash-chained audit log and
//! reports any row that was altered or removed (R-DOC-5).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use sqlx::Connection;
use yuetan_platform::{audit, db, Config};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Verify the audit chain of one schema, or of every schema that has one.
    Verify {
        /// Only this service schema (default: all).
        #[arg(long)]
        schema: Option<String>,
    },
}

pub async fn run(config_file: Option<&Path>, command: Command) -> anyhow::Result<ExitCode> {
    let Command::Verify { schema } = command;
    let config = Config::load("audit", config_file)?;
    let url = config.database.url.expose();
    let schemas = match schema {
        Some(schema) => vec![schema],
        None => {
            let mut conn = sqlx::PgConnection::connect(url).await.context("connecting to postgres")?;
            let schemas: Vec<String> = sqlx::query_scalar(
                "SELECT table_schema::text FROM information_schema.tables WHERE table_name = 'audit_log' ORDER BY 1",
            )
            .fetch_all(&mut conn)
            .await?;
            schemas
        }
    };
    if schemas.is_empty() {
        println!("no audit logs found");
        return Ok(ExitCode::SUCCESS);
    }
    let mut intact = true;
    for schema in schemas {
        let pool = db::connect(url, &schema, 2).await?;
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
    }
    Ok(if intact { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
