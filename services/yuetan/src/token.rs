//! `yuetan token issue`: a development token for an officer or for the
//! service account of an outside system (role `system`, with `--divisions`
//! for the further divisions it serves), signed with the configured HS256
//! development key (or an EdDSA/RS256 private key file). Production tokens
//! come from the province's identity provider.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use yuetan_platform::auth::{roles, Claims, DivisionCode, KeyAlgorithm, TokenIssuer};
use yuetan_platform::Config;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print a JWT for the given officer or service account.
    Issue(IssueArgs),
}

#[derive(Debug, clap::Args)]
pub struct IssueArgs {
    /// Officer id (the token subject).
    #[arg(long)]
    officer: String,
    /// Officer's name.
    #[arg(long)]
    name: String,
    /// Organ code, e.g. 620102-SJ.
    #[arg(long)]
    organ: String,
    /// Six-digit jurisdiction division code, e.g. 620102.
    #[arg(long)]
    division: String,
    /// Comma-separated roles, e.g. case_officer,section_chief.
    #[arg(long, value_delimiter = ',', required = true)]
    roles: Vec<String>,
    /// Comma-separated qualifications, e.g. legal_review,interviewer.
    #[arg(long, value_delimiter = ',')]
    quals: Vec<String>,
    /// A service account's further divisions (role `system` only),
    /// comma-separated six-digit codes, e.g. 620200,620300: the token serves
    /// `--division` and these.
    #[arg(long, value_delimiter = ',')]
    divisions: Vec<String>,
    /// Lifetime in minutes.
    #[arg(long, default_value_t = 480)]
    ttl_minutes: i64,
    /// Key id to sign with (default: the first configured key).
    #[arg(long)]
    kid: Option<String>,
    /// PEM private key for an EdDSA or RS256 key (HS256 keys use the configured secret).
    #[arg(long)]
    private_key: Option<PathBuf>,
}

pub fn run(config_file: Option<&Path>, command: Command) -> anyhow::Result<ExitCode> {
    let Command::Issue(args) = command;
    let config = Config::load("token", config_file)?;
    DivisionCode::parse(&args.division)?;
    for role in &args.roles {
        if !roles::ALL.contains(&role.as_str()) {
            bail!("unknown role {role:?}; known roles: {}", roles::ALL.join(", "));
        }
    }
    for division in &args.divisions {
        DivisionCode::parse(division).with_context(|| format!("--divisions: {division:?}"))?;
    }
    if !args.divisions.is_empty() && !args.roles.iter().any(|r| r == roles::SYSTEM) {
        bail!("--divisions is for service accounts: add the role {:?}", roles::SYSTEM);
    }
    if args.divisions.len() > 64 {
        bail!("--divisions: at most 64 divisions (the services refuse more)");
    }
    if args.ttl_minutes <= 0 {
        bail!("--ttl-minutes must be positive");
    }
    let key = match &args.kid {
        Some(kid) => config.auth.keys.iter().find(|k| &k.kid == kid).with_context(|| format!("no key with kid {kid:?} in auth.keys"))?,
        None => config.auth.keys.first().context("auth.keys is empty: configure a key")?,
    };
    let issuer = match key.algorithm {
        KeyAlgorithm::HS256 => {
            if !config.auth.allow_hs256 {
                bail!("key {:?} is HS256 but auth.allow_hs256 is off", key.kid);
            }
            TokenIssuer::hs256(&key.kid, key.secret.as_deref().context("the HS256 key has no secret")?)
        }
        algorithm => {
            let path = args.private_key.as_ref().context("an EdDSA or RS256 key needs --private-key <PEM file>")?;
            let pem = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            if algorithm == KeyAlgorithm::EdDSA {
                TokenIssuer::ed25519_pem(&key.kid, &pem)?
            } else {
                TokenIssuer::rs256_pem(&key.kid, &pem)?
            }
        }
    };
    let roles: Vec<&str> = args.roles.iter().map(String::as_str).collect();
    let mut claims = Claims::for_officer(
        &args.officer,
        &args.name,
        &args.organ,
        &args.division,
        &roles,
        &config.auth.issuer,
        &config.auth.audience,
        chrono::Duration::minutes(args.ttl_minutes),
        chrono::Utc::now(),
    );
    claims.quals = args.quals;
    claims.divisions = args.divisions;
    println!("{}", issuer.issue(&claims)?);
    Ok(ExitCode::SUCCESS)
}
