//! `yuetan dev generate`: development data.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use chrono::{NaiveDate, Utc};
use yuetan_calendar::Calendar;
use yuetan_platform::fields::cst_date;
use yuetan_platform::{db, Config};
use yuetan_supervision::generate::{self, Options};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Fill supervision's read model with a generated province (Gansu: 14
    /// cities, 86 counties, 5 sections each): files over the two years before
    /// `--today`, their open deadline cards and timers, the board's counters.
    /// Written with COPY in one transaction; refuses a non-empty read model
    /// unless `--append`.
    Generate {
        /// How many files (clues, most of them cases).
        #[arg(long)]
        cases: u64,
        /// The day the province is seen on (default: today, China Standard Time).
        #[arg(long)]
        today: Option<NaiveDate>,
        /// The same seed gives the same province.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Add to the files already there.
        #[arg(long)]
        append: bool,
        /// Files per COPY statement.
        #[arg(long, default_value_t = 100_000)]
        chunk: usize,
    },
}

pub async fn run(config: Option<&Path>, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Generate { cases, today, seed, append, chunk } => {
            let config = Config::load("supervision", config)?;
            let settings: yuetan_supervision::Settings = config.section(yuetan_supervision::SERVICE)?;
            let calendar = match &config.calendar.holidays_file {
                Some(path) => Calendar::load(path).with_context(|| format!("loading {}", path.display()))?,
                None => Calendar::builtin(),
            };
            let (pool, schema) = db::open_service(&config, yuetan_supervision::SERVICE, yuetan_supervision::store::migrations()).await?;
            let options = Options { cases, today: today.unwrap_or_else(|| cst_date(Utc::now())), seed, append, chunk, yellow_days: settings.yellow_days };
            println!("generating {cases} files into schema {schema} as of {} (seed {seed})", options.today);
            let mut progress = |written: u64, elapsed: std::time::Duration| {
                println!("  {written:>10} files  {:>7.1} s  {:>8.0} files/s", elapsed.as_secs_f64(), written as f64 / elapsed.as_secs_f64().max(1e-9));
            };
            let summary = generate::generate(&pool, &calendar, &options, &mut progress).await?;
            println!(
                "{} files ({} open), {} open cards, {} timers, {} tally rows in {:.1} s: {:.0} files/s (rows {:.1} s, tallies {:.1} s)",
                summary.files,
                summary.open_files,
                summary.cards,
                summary.timers,
                summary.tallies,
                summary.elapsed.as_secs_f64(),
                summary.files_per_second(),
                summary.copy_time.as_secs_f64(),
                summary.tally_time.as_secs_f64(),
            );
            println!("open files by stage: {:?}", summary.by_stage);
            println!("open cards by colour: {:?}", summary.by_colour);
            pool.close().await;
            Ok(ExitCode::SUCCESS)
        }
    }
}
