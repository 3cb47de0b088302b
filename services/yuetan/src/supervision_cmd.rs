//! `yuetan supervision rebuild|sample|report`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};
use yuetan_platform::{db, Config};
use yuetan_supervision::domain::sampling::Period;
use yuetan_supervision::flow::sampling;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Replay the whole stream into an empty schema and compare its board
    /// with the live one (exit 1 if they differ).
    Rebuild {
        /// The schema to build into (dropped first if it exists).
        #[arg(long, default_value = "supervision_rebuild")]
        schema: String,
    },
    /// R-SUP-1: recompute a month's stored draws from their published seed
    /// and the month's closed files; prints `verified` or `MISMATCH` per
    /// section (exit 1 on a mismatch).
    Sample {
        /// Verify the stored draws (the only action).
        #[arg(long)]
        verify: bool,
        /// The division (a city or province covers the divisions under it).
        #[arg(long)]
        division: String,
        /// The drawn month, e.g. 2026-09.
        #[arg(long)]
        month: String,
    },
    /// R-SUP-7: write a division's report for a period as PDF and CSV;
    /// prints their paths and SHA-256. Give exactly one period.
    Report {
        #[arg(long)]
        division: String,
        /// A quarter, e.g. 2026Q3 (约谈工作季度报告).
        #[arg(long)]
        quarter: Option<String>,
        /// A month, e.g. 2026-09 (月度督查报告).
        #[arg(long)]
        month: Option<String>,
        /// A half year, e.g. 2026H1 (半年效果评估).
        #[arg(long)]
        half: Option<String>,
        /// A year, e.g. 2026 (年度社会效果评估).
        #[arg(long)]
        year: Option<String>,
        /// The folder to write into (default: the current one).
        #[arg(long, default_value = ".")]
        out: PathBuf,
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
        Command::Sample { verify, division, month } => {
            if !verify {
                bail!("`yuetan supervision sample` only verifies: pass --verify");
            }
            sample_verify(&config, &division, &month).await
        }
        Command::Report { division, quarter, month, half, year, out } => {
            let given: Vec<String> = [quarter, month, half, year].into_iter().flatten().collect();
            let [period] = given.as_slice() else { bail!("give exactly one of --quarter, --month, --half, --year") };
            report(&config, &division, period, &out).await
        }
    }
}

async fn pool(config: &Config) -> anyhow::Result<sqlx::PgPool> {
    db::connect(config.database.url.expose(), &config.schema(), 2).await.context("connecting to postgres")
}

async fn sample_verify(config: &Config, division: &str, month: &str) -> anyhow::Result<ExitCode> {
    yuetan_platform::auth::DivisionCode::parse(division).map_err(|_| anyhow::anyhow!("--division: a six-digit division code"))?;
    let pool = pool(config).await?;
    let mut conn = pool.acquire().await?;
    let checked = sampling::verify_samples(&mut conn, division, month).await?;
    drop(conn);
    pool.close().await;
    if checked.is_empty() {
        println!("no draw of {month} under {division}");
        return Ok(ExitCode::SUCCESS);
    }
    let mut ok = true;
    for v in &checked {
        let s = &v.sample;
        let verdict = if v.verified() { "verified" } else { "MISMATCH" };
        ok &= v.verified();
        println!("{} {} section {:?} month {}", verdict, s.division, s.section, s.month);
        println!("  seed {}{}", s.seed, if v.seed_ok { "" } else { " (does not follow from the month, division and previous digest)" });
        println!("  previous digest {:?}", s.previous_digest);
        println!("  population {} (stored {}), {}%", v.population, s.population, s.percent);
        println!("  drawn      {}", v.stored.join(" "));
        if v.stored != v.recomputed {
            println!("  recomputed {}", v.recomputed.join(" "));
        }
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn report(config: &Config, division: &str, period: &str, out: &Path) -> anyhow::Result<ExitCode> {
    yuetan_platform::auth::DivisionCode::parse(division).map_err(|_| anyhow::anyhow!("--division: a six-digit division code"))?;
    let Some(parsed) = Period::parse(period) else { bail!("{period:?} is not a period like 2026-09, 2026Q3, 2026H1 or 2026") };
    let pool = pool(config).await?;
    let mut conn = pool.acquire().await?;
    let report = sampling::build_report(&mut conn, division, parsed).await?;
    drop(conn);
    pool.close().await;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let stem = format!("supervision-{division}-{}", parsed.key());
    let pdf = out.join(format!("{stem}.pdf"));
    let csv = out.join(format!("{stem}.csv"));
    std::fs::write(&pdf, &report.pdf).with_context(|| format!("writing {}", pdf.display()))?;
    std::fs::write(&csv, &report.csv).with_context(|| format!("writing {}", csv.display()))?;
    println!("{} {}", report.title, parsed.key());
    println!("{}  {}", report.sha256, pdf.display());
    println!("{}  {}", hex::encode(Sha256::digest(report.csv.as_bytes())), csv.display());
    Ok(ExitCode::SUCCESS)
}
