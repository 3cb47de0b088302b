//! `yuetan document verify FILE`: checks a file against scheduling's record
//! of sealed documents and the organ's seal (R-DOC-2).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use yuetan_platform::{db, Config};
use yuetan_scheduling::{SchedulingConfig, Seals};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Is FILE a sealed document of ours, unaltered?
    Verify {
        /// The file (e.g. a notice's PDF as the party received it).
        file: PathBuf,
    },
}

pub async fn run(config_file: Option<&Path>, command: Command) -> anyhow::Result<ExitCode> {
    let Command::Verify { file } = command;
    let config = Config::load("scheduling", config_file)?;
    let settings: SchedulingConfig = config.section("scheduling")?;
    let seals = Seals::new("scheduling.seal_keys", &settings.seal_keys, config.grpc.listen.ip().is_loopback())?;
    let content = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    let pool = db::connect(config.database.url.expose(), &config.schema(), 1).await?;
    let mut conn = pool.acquire().await?;
    match yuetan_scheduling::verify::verify_file(&mut conn, &seals, &content).await {
        Ok(document) => {
            println!(
                "ok: {} {} (revision {}), sha256 {}, sealed {} with key {}",
                document.title,
                document.number,
                document.revision,
                document.sha256,
                document.sealed_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                document.seal_key_id
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            println!("NOT VERIFIED: {} — {err}", file.display());
            Ok(ExitCode::FAILURE)
        }
    }
}
