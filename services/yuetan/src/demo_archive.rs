//! The end of `yuetan demo case` (issue 13): the first case's electronic
//! file, assembled by supervision after the case closed (R-DOC-3), read and
//! downloaded through the case-file export API as the office would, and the
//! archive verified against the archive key — then what an outside
//! reconsideration system does next (README "Attaching another system").

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use yuetan_platform::client::Routed;
use yuetan_platform::Config;
use yuetan_proto::casefile as pb;
use yuetan_proto::casefile::case_file_service_client::CaseFileServiceClient;

use crate::demo_case::{Tokens, DIVISION, ORGAN};
use crate::demo_rectification::stored_path;

/// The archive and relief events issue 13 fixes, and when each is published.
pub const ARCHIVE_EVENTS: &[(&str, &str)] = &[
    ("supervision.case_closed", "when a file closes (seen above for both cases)"),
    ("supervision.case_archived", "[supervision] archive_delay_seconds after closing"),
    ("supervision.paper_archived", "RecordPaperArchive (the office, within 30 days)"),
    ("supervision.destruction_approved", "ApproveDestruction, after the retention period"),
    ("supervision.case_destroyed", "DestroyCaseFile, under three supervisors"),
    ("supervision.relief_marked", "relief.application_received / lawsuit_filed / RegisterRelief"),
    ("supervision.relief_reply_overdue", "the day after an unanswered reply deadline"),
    ("relief.application_received", "an outside reconsideration system (examples/reconsideration-intake)"),
    ("relief.lawsuit_filed", "an outside litigation system"),
    ("relief.decided", "the outside system, when decided"),
];

/// What the demo found archived.
pub struct Archived {
    pub documents: usize,
    pub tar: PathBuf,
}

fn office<T>(tokens: &Tokens, message: T) -> anyhow::Result<tonic::Request<T>> {
    tokens.bearer("demo-office", ORGAN, DIVISION, &["office"], message)
}

/// Waits for the case's archive, prints its manifest and downloads and
/// verifies the whole file.
pub async fn print(config: &Config, channel: Routed, tokens: &Tokens, case_id: &str, number: &str) -> anyhow::Result<Archived> {
    let mut casefile = CaseFileServiceClient::new(channel);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let file = loop {
        match casefile.get_case_file(office(tokens, pb::GetCaseFileRequest { case_id: case_id.into() })?).await {
            Ok(file) if file.get_ref().status == "archived" => break file.into_inner(),
            Ok(_) => {}
            Err(status) if matches!(status.code(), tonic::Code::NotFound | tonic::Code::FailedPrecondition) => {}
            Err(status) => return Err(status).context("GetCaseFile"),
        }
        if tokio::time::Instant::now() > deadline {
            bail!("supervision did not archive case {number} within 120 s (see [supervision] archive_delay_seconds and the log)");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let manifest = file.manifest.as_ref().context("an archived file without its manifest")?;
    let until = manifest.retain_until.as_ref().map(|d| format!("until {}", d.iso)).unwrap_or_else(|| "permanently".into());
    let path = stored_path(config, &file.manifest_sha256).map(|p| p.display().to_string()).unwrap_or_else(|| format!("object {}", file.manifest_sha256));
    println!("archive    {number}: archived, {} documents, retention {} {until}; manifest {path} signed by key {}", manifest.entries.len(), manifest.retention_class, file.key_id);
    for e in &manifest.entries {
        let what = if e.reference_only { " (reference)" } else { "" };
        println!("archive    {:>2}. {:<12} {:<14} {} {}{what}", e.seq, e.title, e.service, if e.number.is_empty() { "-" } else { &e.number }, &e.sha256[..12]);
    }
    println!("archive    timeline of {} lines; under relief: {}", file.timeline.len(), if file.under_relief { "yes" } else { "no" });

    // The whole file as one tar, verified as an outside system would.
    let mut stream = casefile.download_case_file(office(tokens, pb::DownloadCaseFileRequest { case_id: case_id.into(), name: String::new(), format: "tar".into() })?).await.context("DownloadCaseFile")?.into_inner();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.message().await.context("DownloadCaseFile")? {
        bytes.extend_from_slice(&chunk.data);
    }
    // Beside the local object store (`.local/casefiles` for up.sh).
    let folder = config.objects.root.with_file_name("casefiles");
    std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
    let tar = folder.join(format!("{case_id}.tar"));
    std::fs::write(&tar, &bytes).with_context(|| format!("writing {}", tar.display()))?;
    let settings: yuetan_supervision::Settings = config.section(yuetan_supervision::SERVICE)?;
    let key = yuetan_casefile::ArchiveKey::from_base64("supervision.archive_key", &settings.archive_key_id, settings.archive_key.expose()).map_err(anyhow::Error::msg)?;
    let public = yuetan_casefile::public_key(&key.public_base64()).map_err(anyhow::Error::msg)?;
    let verified = yuetan_casefile::verify_archive(&tar, &public).map_err(|e| anyhow::anyhow!("the downloaded archive does not verify: {e}"))?;
    println!("archive    downloaded {} ({} bytes): verified, {} files against the signed manifest (yuetan casefile verify {})", tar.display(), bytes.len(), verified.files, tar.display());
    for (event_type, when) in ARCHIVE_EVENTS {
        println!("contract   {event_type:<38} {when}");
    }
    println!("next       an outside reconsideration system: README \"Attaching another system\" (examples/reconsideration-intake) with case {case_id}");
    Ok(Archived { documents: manifest.entries.len(), tar })
}
