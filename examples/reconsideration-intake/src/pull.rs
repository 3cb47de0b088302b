//! `pull`: the case file through the export API (`yuetan.casefile.v1`,
//! served by the platform's supervision service) with this system's
//! service-account token (`authorization: Bearer <jwt>`, role `system`, the
//! divisions it serves): `GetCaseFile` for the manifest, timeline and relief,
//! `DownloadCaseFile` for the whole archive (tar), then the archive verified
//! against its signed manifest with the archive public key.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use yuetan_casefile::Verified;
use yuetan_proto::casefile::case_file_service_client::CaseFileServiceClient;
use yuetan_proto::casefile::{CaseFile, DownloadCaseFileRequest, GetCaseFileRequest};

use crate::book::Book;

/// Where and as whom to pull.
#[derive(Debug, Clone)]
pub struct Export {
    /// e.g. `http://127.0.0.1:50051`.
    pub grpc: String,
    /// The service account's JWT.
    pub token: String,
    /// Standard base64 of the archive key's Ed25519 public key.
    pub public_key: String,
}

/// What was received and verified.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub file: CaseFile,
    pub archive: PathBuf,
    pub bytes: u64,
    pub verified: Verified,
}

impl std::fmt::Display for Pulled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let file = &self.file;
        let day = |d: &Option<yuetan_proto::common::Date>| d.as_ref().map(|d| d.iso.clone()).unwrap_or_else(|| "-".into());
        writeln!(f, "case file {} ({})", file.number, file.case_id)?;
        writeln!(f, "  division {}  status {}  outcome {}  closed on {}", file.division, file.status, file.outcome, day(&file.closed_on))?;
        writeln!(f, "  archive  {} ({} bytes)", self.archive.display(), self.bytes)?;
        let manifest = &self.verified.manifest;
        writeln!(
            f,
            "  verified: manifest sha256 {} signed by key {}, {} files checked",
            self.verified.signature.manifest_sha256, self.verified.signature.key_id, self.verified.files
        )?;
        let until = manifest.retain_until.map(|d| d.to_string()).unwrap_or_else(|| "permanent".into());
        writeln!(f, "  retention {} (until {until})", manifest.retention_class)?;
        writeln!(f, "  manifest: {} entries", manifest.entries.len())?;
        for entry in &manifest.entries {
            writeln!(
                f,
                "    {:>3}  {:<22} {:<14} {:>9}  {}{}{}",
                entry.seq,
                entry.kind,
                entry.service,
                entry.size,
                entry.name,
                if entry.number.is_empty() { String::new() } else { format!("  {}", entry.number) },
                if entry.reference_only { "  (reference only)" } else { "" }
            )?;
        }
        writeln!(f, "  timeline: {} lines", file.timeline.len())?;
        writeln!(f, "  under relief: {}", if file.under_relief { "yes" } else { "no" })?;
        for relief in &file.relief {
            writeln!(
                f,
                "    {} {} from {}: received {}, reply due {}{}{}",
                relief.kind,
                relief.relief_id,
                relief.source,
                day(&relief.received_on),
                day(&relief.reply_due),
                if relief.replied { ", replied" } else { "" },
                if relief.outcome.is_empty() { String::new() } else { format!(", decided {} on {}", relief.outcome, day(&relief.decided_on)) }
            )?;
        }
        Ok(())
    }
}

fn authorised<T>(message: T, token: &str) -> anyhow::Result<tonic::Request<T>> {
    let mut request = tonic::Request::new(message);
    let value: MetadataValue<_> = format!("Bearer {token}").parse().context("the token is not a valid header value")?;
    request.metadata_mut().insert("authorization", value);
    Ok(request)
}

/// A file name from the document number (or the id): no path separators.
fn file_name(file: &CaseFile) -> String {
    let base = if file.number.is_empty() { &file.case_id } else { &file.number };
    let name: String = base.chars().map(|c| if c == '/' || c == '\\' || c.is_control() { '_' } else { c }).collect();
    format!("{name}.tar")
}

/// Pulls the case `case` (its case id, or the clue id of a file closed before
/// it became a case) into `out` and verifies it. With the book in `data`,
/// the manifest must also be the one `supervision.case_archived` announced.
pub async fn pull(export: &Export, data: Option<&Path>, case: &str, out: &Path) -> anyhow::Result<Pulled> {
    let key = yuetan_casefile::public_key(export.public_key.trim()).map_err(|err| anyhow::anyhow!("--public-key: {err}"))?;
    let book = match data {
        Some(data) => Some(Book::load(data)?),
        None => None,
    };
    let case_id = book.as_ref().and_then(|b| b.find(case)).map(|c| c.key().to_string()).unwrap_or_else(|| case.to_string());

    let channel = Channel::from_shared(export.grpc.clone())
        .with_context(|| format!("--grpc {:?}", export.grpc))?
        .connect()
        .await
        .with_context(|| format!("connecting to {}", export.grpc))?;
    let mut client = CaseFileServiceClient::new(channel).max_decoding_message_size(16 * 1024 * 1024);
    let file = client
        .get_case_file(authorised(GetCaseFileRequest { case_id: case_id.clone() }, &export.token)?)
        .await
        .map_err(|status| anyhow::anyhow!("GetCaseFile {case_id}: {:?}: {}", status.code(), status.message()))?
        .into_inner();
    if file.status != "archived" {
        bail!("case {case_id} is {:?}, not archived yet: its file is assembled within 10 working days of closing", file.status);
    }

    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let archive = out.join(file_name(&file));
    let partial = out.join(format!("{}.part", file_name(&file)));
    let mut stream = client
        .download_case_file(authorised(DownloadCaseFileRequest { case_id: case_id.clone(), name: String::new(), format: "tar".into() }, &export.token)?)
        .await
        .map_err(|status| anyhow::anyhow!("DownloadCaseFile {case_id}: {:?}: {}", status.code(), status.message()))?
        .into_inner();
    let mut written: u64 = 0;
    let mut total: Option<u64> = None;
    {
        let mut writer = std::io::BufWriter::new(std::fs::File::create(&partial).with_context(|| format!("writing {}", partial.display()))?);
        while let Some(chunk) = stream.message().await.map_err(|status| anyhow::anyhow!("DownloadCaseFile {case_id}: {:?}: {}", status.code(), status.message()))? {
            if total.is_none() && chunk.total_size > 0 {
                total = Some(chunk.total_size);
            }
            writer.write_all(&chunk.data)?;
            written += chunk.data.len() as u64;
        }
        writer.flush()?;
        writer.get_ref().sync_all()?;
    }
    if let Some(total) = total {
        if total != written {
            bail!("the download stopped at {written} of {total} bytes");
        }
    }
    std::fs::rename(&partial, &archive)?;

    let verified = yuetan_casefile::verify_archive(&archive, &key).map_err(|err| anyhow::anyhow!("{} does not verify: {err}", archive.display()))?;
    if !file.manifest_sha256.is_empty() && verified.signature.manifest_sha256 != file.manifest_sha256 {
        bail!("the archive's manifest {} is not the one GetCaseFile describes ({})", verified.signature.manifest_sha256, file.manifest_sha256);
    }
    if let Some(announced) = book.as_ref().and_then(|b| b.find(&case_id)).and_then(|c| c.archive.as_ref()) {
        if announced.manifest_sha256 != verified.signature.manifest_sha256 {
            bail!(
                "the archive's manifest {} is not the one supervision.case_archived announced ({})",
                verified.signature.manifest_sha256,
                announced.manifest_sha256
            );
        }
    }
    Ok(Pulled { file, archive, bytes: written, verified })
}
