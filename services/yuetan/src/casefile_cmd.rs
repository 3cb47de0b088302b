//! `yuetan casefile verify|public-key`: check a downloaded case-file
//! archive (R-DOC-3) against its signed manifest, and print the archive
//! key's public half for the outside systems that verify.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use yuetan_casefile::{ArchiveKey, VerifyingKey};
use yuetan_platform::Config;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Check an archive (tar, yuetan.casefile.v1): the manifest's signature,
    /// then every listed file's size and sha256, and no unlisted file.
    /// Exit 0 when it verifies, 1 with the failing file named on stderr.
    Verify {
        /// The archive (as downloaded with DownloadCaseFile).
        archive: PathBuf,
        /// The archive key's public half (standard base64, 32 bytes);
        /// default: derived from the configured `[supervision] archive_key`.
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Print the configured archive key's public half (standard base64) and
    /// its id: what outside systems are given to verify archives.
    PublicKey,
}

pub fn run(config: Option<&Path>, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Verify { archive, public_key } => {
            let (key, shown) = match public_key {
                Some(b64) => (yuetan_casefile::public_key(&b64).map_err(|e| anyhow::anyhow!("--public-key: {e}"))?, b64.trim().to_owned()),
                None => {
                    let key = configured_key(config)?;
                    (key.verifying_key(), key.public_base64())
                }
            };
            verify(&archive, &key, &shown)
        }
        Command::PublicKey => {
            let key = configured_key(config)?;
            println!("{}", key.public_base64());
            eprintln!("key id: {}", key.id);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `[supervision] archive_key` (and its id), as the supervision service reads it.
fn configured_key(config: Option<&Path>) -> anyhow::Result<ArchiveKey> {
    let config = Config::load("supervision", config)?;
    let settings: yuetan_supervision::Settings = config.section("supervision").context("reading [supervision]")?;
    if settings.archive_key.expose().trim().is_empty() {
        bail!("supervision.archive_key: not configured; give --public-key or configure [supervision] archive_key");
    }
    let id = if settings.archive_key_id.is_empty() { "archive" } else { &settings.archive_key_id };
    ArchiveKey::from_base64("supervision.archive_key", id, settings.archive_key.expose()).map_err(anyhow::Error::msg)
}

fn verify(archive: &Path, key: &VerifyingKey, shown: &str) -> anyhow::Result<ExitCode> {
    match yuetan_casefile::verify_archive(archive, key) {
        Ok(verified) => {
            for entry in &verified.manifest.entries {
                if entry.reference_only {
                    println!("reference  {}  {}  {} bytes (listed, not in the archive)", entry.name, entry.sha256, entry.size);
                } else {
                    println!("ok         {}  {}  {} bytes", entry.name, entry.sha256, entry.size);
                }
            }
            println!(
                "verified: {} files, manifest sha256 {}, signed by key {} ({}), case {} ({})",
                verified.files,
                verified.signature.manifest_sha256,
                verified.signature.key_id,
                shown,
                verified.manifest.number,
                verified.manifest.case_id,
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            eprintln!("error: {}: {}", archive.display(), err.to_string().replace('\n', " "));
            Ok(ExitCode::FAILURE)
        }
    }
}
