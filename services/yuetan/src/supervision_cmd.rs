//! `yuetan supervision rebuild|sample|report`.

use std::path::Path;
use std::process::ExitCode;

use yuetan_platform::Config;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Replay the whole stream into an empty schema and compare its board
    /// with the live one (exit 1 if they differ).
    Rebuild {
        /// The schema to build into (dropped first if it exists).
        #[arg(long, default_value = "supervision_rebuild")]
        schema: String,
    },
}

pub async fn run(config: Option<&Path>, command: Command) -> anyhow::Result<ExitCode> {
    let config = Config::load("supervision", config)?;
    match command {
        Command::Rebuild { schema } => {
            let report = yuetan_supervision::rebuild::run(&config, &schema).await?;
            println!("{report}");
            Ok(if report.equal { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    }
}
