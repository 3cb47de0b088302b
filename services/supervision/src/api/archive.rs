//! The archive's RPCs: `ListArchive`, `RecordPaperArchive`,
//! `ApproveDestruction`, `DestroyCaseFile` (supervision.v1) and the case-file
//! export `GetCaseFile`, `DownloadCaseFile` (casefile.v1).
//!
//! Every call is scoped to the file's division (a service account's served
//! divisions included); every change and every export read writes an audit
//! row with the caller.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;
use yuetan_platform::audit::{self, AuditEntry};
use yuetan_platform::auth::DivisionCode;
use yuetan_platform::batch::WriteBatch;
use yuetan_platform::fields::{cst_date, date, optional, page_size, parse_date, parse_uuid, required, timestamp};
use yuetan_platform::requests::{self, RequestKey};
use yuetan_platform::{Actor, Error};
use yuetan_proto::casefile as cf;
use yuetan_proto::supervision as pb;

use crate::api::prefix_of;
use crate::domain::archive::{self as rules, Retention, ARCHIVED, CLOSED, DESTROYED, MIN_ATTENDEES, MIN_SUPERVISORS};
use crate::flow::archive as flow;
use crate::store::archive::{self as sql, ArchiveRow};
use crate::store::{self, relief};
use crate::State;

type Tx = sqlx::Transaction<'static, sqlx::Postgres>;

/// Longest location, box number, minutes reference (characters).
const MAX_TEXT_CHARS: usize = 200;
/// Longest destruction method (characters).
const MAX_METHOD_CHARS: usize = 500;
/// Longest officer id (characters), and most attendees or supervisors.
const MAX_ID_CHARS: usize = 64;
const MAX_PEOPLE: usize = 50;
/// Longest entry name asked for.
const MAX_NAME_CHARS: usize = 300;
/// Largest chunk of a download.
pub const CHUNK_BYTES: usize = 256 * 1024;

async fn file_proto(conn: &mut sqlx::PgConnection, a: &ArchiveRow) -> Result<pb::ArchivedFile, Error> {
    let under_relief = match a.case_id {
        Some(case_id) => relief::under_relief(conn, case_id).await?,
        None => false,
    };
    Ok(pb::ArchivedFile {
        file_id: a.file_id.to_string(),
        case_id: a.case_id.map(|c| c.to_string()).unwrap_or_default(),
        number: a.number.clone(),
        division: a.division.clone(),
        outcome: a.outcome.clone(),
        closed_on: Some(date(a.closed_on)),
        archive_due: Some(date(a.archive_due)),
        status: a.status.clone(),
        manifest_sha256: a.manifest_sha256.clone().unwrap_or_default(),
        documents: u32::try_from(a.documents).unwrap_or(0),
        retention_class: a.retention_class.clone(),
        retain_until: a.retain_until.map(date),
        paper_location: a.paper_location.clone().unwrap_or_default(),
        paper_box: a.paper_box.clone().unwrap_or_default(),
        under_relief,
        approval_id: a.approval_id.map(|x| x.to_string()).unwrap_or_default(),
        destruction_record_sha256: a.destruction_record_sha256.clone().unwrap_or_default(),
    })
}

/// The archive of a case (its id or its clue id) in the caller's scope.
async fn in_scope(conn: &mut sqlx::PgConnection, actor: &Actor, id: Uuid, lock: bool) -> Result<ArchiveRow, Error> {
    let Some(a) = sql::of_case(conn, id, lock).await? else {
        let file = match store::file_of_case(conn, id, false).await? {
            Some(f) => Some(f),
            None => store::file(conn, id).await?,
        };
        return match file {
            Some(f) => {
                actor.require_scope_of(&f.division, &[])?;
                Err(Error::FailedPrecondition(format!("case {id} is not closed (stage {}): it has no archive yet", f.stage)))
            }
            None => Err(Error::NotFound(format!("case {id}"))),
        };
    };
    actor.require_scope_of(&a.division, &[])?;
    Ok(a)
}

async fn begin<R: prost::Message + Default>(state: &State, key: &RequestKey<'_>) -> Result<Result<Tx, R>, Error> {
    let mut tx = state.pool.begin().await?;
    if let Some(done) = requests::replay(&mut tx, &state.vault, key).await? {
        return Ok(Err(done));
    }
    Ok(Ok(tx))
}

async fn finish(state: &State, mut tx: Tx, key: &RequestKey<'_>, a: &ArchiveRow) -> Result<pb::ArchiveResponse, Error> {
    let response = pb::ArchiveResponse { file: Some(file_proto(&mut tx, a).await?) };
    requests::commit(&state.pool, &state.vault, tx, WriteBatch::new(), key, response, state.clock.now()).await
}

fn people(field: &str, ids: &[String], min: usize) -> Result<Vec<String>, Error> {
    if ids.len() > MAX_PEOPLE {
        return Err(Error::invalid(field, format!("at most {MAX_PEOPLE} officers")));
    }
    for (i, id) in ids.iter().enumerate() {
        if id.chars().count() > MAX_ID_CHARS {
            return Err(Error::invalid(format!("{field}[{i}]"), format!("is longer than {MAX_ID_CHARS} characters")));
        }
    }
    rules::distinct_people(ids, min).map_err(|reason| Error::invalid(field, reason))
}

pub async fn list_archive(state: &State, actor: &Actor, req: &pb::ListArchiveRequest) -> Result<pb::ListArchiveResponse, Error> {
    let division = if req.division.is_empty() { actor.division.clone() } else { DivisionCode::parse(&req.division).map_err(|_| Error::invalid("division", "a six-digit division code"))? };
    actor.require_scope(&division, &[])?;
    let status = match req.status.as_str() {
        "" => None,
        s @ (CLOSED | ARCHIVED | DESTROYED) => Some(s),
        _ => return Err(Error::invalid("status", "closed, archived or destroyed")),
    };
    let limit = page_size(req.page_size)?;
    let mut conn = state.pool.acquire().await?;
    let rows = sql::list(&mut conn, prefix_of(division.as_str()), status, limit).await?;
    let mut files = Vec::with_capacity(rows.len());
    for a in &rows {
        files.push(file_proto(&mut conn, a).await?);
    }
    Ok(pb::ListArchiveResponse { files })
}

pub async fn record_paper_archive(state: &State, actor: &Actor, req: &pb::RecordPaperArchiveRequest) -> Result<pb::ArchiveResponse, Error> {
    let case_id = parse_uuid("case_id", &req.case_id)?;
    let location = required("location", &req.location, MAX_TEXT_CHARS)?;
    let box_number = required("box_number", &req.box_number, MAX_TEXT_CHARS)?;
    let now = state.clock.now();
    let today = cst_date(now);
    let archived_on = parse_date("archived_on", req.archived_on.as_ref())?.unwrap_or(today);
    if archived_on > today {
        return Err(Error::invalid("archived_on", "may not be in the future"));
    }
    let key = RequestKey::new(&actor.officer_id, &req.request_id, "RecordPaperArchive", req)?;
    let mut tx = match begin(state, &key).await? {
        Ok(tx) => tx,
        Err(done) => return Ok(done),
    };
    let before = in_scope(&mut tx, actor, case_id, true).await?;
    if before.status == DESTROYED {
        return Err(Error::FailedPrecondition(format!("the file of case {case_id} was destroyed on {}", before.destroyed_on.map(|d| d.to_string()).unwrap_or_default())));
    }
    if let Some(on) = before.paper_on {
        return Err(Error::FailedPrecondition(format!("the paper file was recorded on {on} ({}, box {})", before.paper_location.clone().unwrap_or_default(), before.paper_box.clone().unwrap_or_default())));
    }
    if archived_on < before.closed_on {
        return Err(Error::invalid("archived_on", format!("is before the file closed ({})", before.closed_on)));
    }
    let a = flow::record_paper(state, &mut tx, actor, &before, location, box_number, archived_on, now).await?;
    finish(state, tx, &key, &a).await
}

/// R-DOC-4 and R-RELIEF-2: what must hold before the leading group
/// approves, and again before the file is destroyed.
async fn may_destroy(conn: &mut sqlx::PgConnection, a: &ArchiveRow, today: chrono::NaiveDate) -> Result<(), Error> {
    match a.status.as_str() {
        ARCHIVED => {}
        DESTROYED => return Err(Error::FailedPrecondition(format!("the file was destroyed on {}", a.destroyed_on.map(|d| d.to_string()).unwrap_or_default()))),
        _ => return Err(Error::FailedPrecondition("the electronic file is not archived yet".into())),
    }
    let class = Retention::from_name(&a.retention_class).unwrap_or(Retention::Livelihood);
    rules::retention_passed(class, a.retain_until, today).map_err(Error::FailedPrecondition)?;
    if let Some(case_id) = a.case_id {
        if relief::ever_under_relief(conn, case_id).await? {
            return Err(Error::FailedPrecondition(format!("case {case_id} has been under reconsideration or litigation: its file is never destroyed (R-RELIEF-2)")));
        }
    }
    Ok(())
}

pub async fn approve_destruction(state: &State, actor: &Actor, req: &pb::ApproveDestructionRequest) -> Result<pb::ArchiveResponse, Error> {
    let case_id = parse_uuid("case_id", &req.case_id)?;
    let attendees = people("attendees", &req.attendees, MIN_ATTENDEES)?;
    let minutes = required("minutes_reference", &req.minutes_reference, MAX_TEXT_CHARS)?;
    let now = state.clock.now();
    let today = cst_date(now);
    let meeting_on = parse_date("meeting_on", req.meeting_on.as_ref())?.ok_or_else(|| Error::invalid("meeting_on", "the leading group's meeting day is required"))?;
    if meeting_on > today {
        return Err(Error::invalid("meeting_on", "may not be in the future"));
    }
    let key = RequestKey::new(&actor.officer_id, &req.request_id, "ApproveDestruction", req)?;
    let mut tx = match begin(state, &key).await? {
        Ok(tx) => tx,
        Err(done) => return Ok(done),
    };
    let before = in_scope(&mut tx, actor, case_id, true).await?;
    may_destroy(&mut tx, &before, today).await?;
    if let Some(id) = before.approval_id {
        return Err(Error::FailedPrecondition(format!("destruction was approved already ({id})")));
    }
    let a = flow::approve(state, &mut tx, actor, &before, meeting_on, attendees, minutes, now).await?;
    finish(state, tx, &key, &a).await
}

pub async fn destroy_case_file(state: &State, actor: &Actor, req: &pb::DestroyCaseFileRequest) -> Result<pb::ArchiveResponse, Error> {
    let case_id = parse_uuid("case_id", &req.case_id)?;
    let supervisors = people("supervisors", &req.supervisors, MIN_SUPERVISORS)?;
    let method = required("method", &req.method, MAX_METHOD_CHARS)?;
    let now = state.clock.now();
    let key = RequestKey::new(&actor.officer_id, &req.request_id, "DestroyCaseFile", req)?;
    let mut tx = match begin(state, &key).await? {
        Ok(tx) => tx,
        Err(done) => return Ok(done),
    };
    let before = in_scope(&mut tx, actor, case_id, true).await?;
    may_destroy(&mut tx, &before, cst_date(now)).await?;
    if before.approval_id.is_none() {
        return Err(Error::FailedPrecondition("the leading group has not approved the destruction (ApproveDestruction first, R-DOC-4)".into()));
    }
    let a = flow::destroy(state, &mut tx, actor, &before, supervisors, method, now).await?;
    finish(state, tx, &key, &a).await
}

/// An export read or download, audited with the caller.
async fn audit_read(conn: &mut sqlx::PgConnection, actor: &Actor, action: &str, a: &ArchiveRow, detail: serde_json::Value, now: DateTime<Utc>) -> Result<(), Error> {
    let after = serde_json::json!({ "case_id": a.case_id, "file_id": a.file_id, "status": a.status, "roles": actor.roles, "detail": detail });
    audit::append(conn, &AuditEntry { actor_id: &actor.officer_id, actor_organ: &actor.organ, action, subject: &format!("archive/{}", a.file_id), before: None, after: Some(&after), at: now }).await?;
    Ok(())
}

fn manifest_proto(m: &yuetan_casefile::Manifest) -> cf::Manifest {
    cf::Manifest {
        format: m.format.clone(),
        case_id: m.case_id.clone(),
        number: m.number.clone(),
        division: m.division.clone(),
        organ: m.organ.clone(),
        assembled_at: Some(timestamp(m.assembled_at)),
        entries: m
            .entries
            .iter()
            .map(|e| cf::ManifestEntry {
                seq: e.seq,
                name: e.name.clone(),
                kind: e.kind.clone(),
                number: e.number.clone(),
                sha256: e.sha256.clone(),
                size: e.size,
                service: e.service.clone(),
                produced_at: Some(timestamp(e.produced_at)),
                title: e.title.clone(),
                reference_only: e.reference_only,
            })
            .collect(),
        retention_class: m.retention_class.clone(),
        retain_until: m.retain_until.map(date),
    }
}

/// The stored manifest of an archived (or destroyed) file: its bytes and parsed.
async fn manifest_of(state: &State, a: &ArchiveRow) -> Result<(Vec<u8>, yuetan_casefile::Manifest), Error> {
    let sha = a.manifest_sha256.clone().ok_or_else(|| Error::FailedPrecondition("the electronic file is not archived yet".into()))?;
    let bytes = state.objects.get(&sha).await?;
    let manifest = yuetan_casefile::Manifest::from_json(&bytes).map_err(|e| Error::Internal(format!("the stored manifest: {e}")))?;
    Ok((bytes, manifest))
}

pub async fn get_case_file(state: &State, actor: &Actor, req: &cf::GetCaseFileRequest) -> Result<cf::CaseFile, Error> {
    let id = parse_uuid("case_id", &req.case_id)?;
    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;
    let a = in_scope(&mut tx, actor, id, false).await?;
    let timeline = store::timeline(&mut tx, a.file_id)
        .await?
        .into_iter()
        .map(|t| cf::TimelineLine {
            at: Some(timestamp(t.occurred_at)),
            event_type: t.event_type,
            actor: if t.actor_name.is_empty() { t.actor } else { format!("{}（{}）", t.actor_name, t.actor) },
            summary: t.summary,
            deadline: t.deadline.map(date),
            met: t.met.unwrap_or(false),
        })
        .collect();
    let (reliefs, under_relief) = match a.case_id {
        Some(case_id) => (relief::of_case(&mut tx, case_id).await?, relief::under_relief(&mut tx, case_id).await?),
        None => (Vec::new(), false),
    };
    let relief = reliefs.iter().map(crate::api::relief::relief_state).collect();
    let (manifest_json, manifest) = if a.status == CLOSED { (Vec::new(), None) } else { let (b, m) = manifest_of(state, &a).await?; (b, Some(manifest_proto(&m))) };
    audit_read(&mut tx, actor, "casefile.read", &a, serde_json::json!({}), now).await?;
    tx.commit().await?;
    Ok(cf::CaseFile {
        case_id: a.case_id.unwrap_or(a.file_id).to_string(),
        number: a.number.clone(),
        division: a.division.clone(),
        status: a.status.clone(),
        outcome: a.outcome.clone(),
        closed_on: Some(date(a.closed_on)),
        archive_due: Some(date(a.archive_due)),
        manifest,
        manifest_json,
        manifest_sha256: a.manifest_sha256.clone().unwrap_or_default(),
        signature: a.signature.clone().unwrap_or_default(),
        key_id: a.key_id.clone().unwrap_or_default(),
        timeline,
        paper_location: a.paper_location.clone().unwrap_or_default(),
        paper_box: a.paper_box.clone().unwrap_or_default(),
        under_relief,
        relief,
    })
}

/// The chunks of a download, in order (validated, authorised and audited
/// before the first is sent).
pub type ChunkStream = std::pin::Pin<Box<dyn futures::Stream<Item = Result<cf::Chunk, tonic::Status>> + Send + 'static>>;

type Sender = tokio::sync::mpsc::Sender<Result<cf::Chunk, tonic::Status>>;

/// Cuts bytes into chunks of [`CHUNK_BYTES`]; the first carries the total
/// size, the name and the sha256.
struct Chunker {
    tx: Sender,
    buf: Vec<u8>,
    first: Option<(u64, String, String)>,
}

impl Chunker {
    fn new(tx: Sender, total: u64, name: String, sha256: String) -> Chunker {
        Chunker { tx, buf: Vec::with_capacity(CHUNK_BYTES), first: Some((total, name, sha256)) }
    }

    /// `false` when the client has gone.
    async fn send(&mut self, data: Vec<u8>) -> bool {
        let (total_size, name, sha256) = self.first.take().unwrap_or_default();
        self.tx.send(Ok(cf::Chunk { data, total_size, name, sha256 })).await.is_ok()
    }

    async fn push(&mut self, mut bytes: &[u8]) -> bool {
        while !bytes.is_empty() {
            let take = (CHUNK_BYTES - self.buf.len()).min(bytes.len());
            self.buf.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.buf.len() == CHUNK_BYTES {
                let data = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_BYTES));
                if !self.send(data).await {
                    return false;
                }
            }
        }
        true
    }

    async fn finish(mut self) {
        if !self.buf.is_empty() || self.first.is_some() {
            let data = std::mem::take(&mut self.buf);
            self.send(data).await;
        }
    }
}

fn stream_of(rx: tokio::sync::mpsc::Receiver<Result<cf::Chunk, tonic::Status>>) -> ChunkStream {
    Box::pin(futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) }))
}

/// One whole file's bytes as a stream of chunks.
fn bytes_stream(bytes: Vec<u8>, name: String) -> ChunkStream {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let sha = yuetan_casefile::sha256_hex(&bytes);
    tokio::spawn(async move {
        let mut c = Chunker::new(tx, bytes.len() as u64, name, sha);
        if c.push(&bytes).await {
            c.finish().await;
        }
    });
    stream_of(rx)
}

pub async fn download_case_file(state: Arc<State>, actor: &Actor, req: &cf::DownloadCaseFileRequest) -> Result<ChunkStream, Error> {
    let id = parse_uuid("case_id", &req.case_id)?;
    let name = optional("name", &req.name, MAX_NAME_CHARS)?;
    if !matches!(req.format.as_str(), "" | "tar") {
        return Err(Error::invalid("format", "tar (the only format of casefile.v1), or empty"));
    }
    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;
    let a = in_scope(&mut tx, actor, id, false).await?;
    if a.status == CLOSED {
        return Err(Error::FailedPrecondition(format!("the electronic file of case {id} is not archived yet (due {})", a.archive_due)));
    }
    audit_read(&mut tx, actor, "casefile.download", &a, serde_json::json!({ "name": name }), now).await?;
    tx.commit().await?;
    let (manifest_json, manifest) = manifest_of(&state, &a).await?;
    let signature = flow::signature_of(&a).ok_or_else(|| Error::Internal("an archived file without its signature".into()))?;
    let signature_json = flow::signature_json(&signature)?;
    let destroyed_on = a.destroyed_on.map(|d| d.to_string()).unwrap_or_default();
    if !name.is_empty() {
        return match name.as_str() {
            yuetan_casefile::MANIFEST => Ok(bytes_stream(manifest_json, name)),
            yuetan_casefile::SIGNATURE => Ok(bytes_stream(signature_json, name)),
            rules::DESTRUCTION_RECORD_NAME => match &a.destruction_record_sha256 {
                Some(sha) => Ok(bytes_stream(state.objects.get(sha).await?, name)),
                None => Err(Error::NotFound(format!("{name}: the file is not destroyed"))),
            },
            _ => {
                let entry = manifest.entries.iter().find(|e| e.name == name).ok_or_else(|| Error::NotFound(format!("{name}: not an entry of the manifest")))?;
                if a.status == DESTROYED {
                    return Err(Error::NotFound(format!("{name}: destroyed on {destroyed_on} (R-DOC-4); the manifest and the destruction record remain")));
                }
                if entry.reference_only {
                    return Err(Error::NotFound(format!("{name}: a reference only, its bytes are not in the archive")));
                }
                let bytes = state.objects.get(&entry.sha256).await.map_err(|e| match e {
                    Error::NotFound(_) => Error::NotFound(format!("{name}: its object {} is not in the store", entry.sha256)),
                    other => other,
                })?;
                Ok(bytes_stream(bytes, name))
            }
        };
    }
    if a.status == DESTROYED {
        return Err(Error::FailedPrecondition(format!(
            "the file was destroyed on {destroyed_on} (R-DOC-4): only {}, {} and {} remain; download them by name",
            yuetan_casefile::MANIFEST,
            yuetan_casefile::SIGNATURE,
            rules::DESTRUCTION_RECORD_NAME
        )));
    }
    // The whole archive: manifest.json, manifest.sig, then every entry with bytes.
    let members: Vec<(String, u64, String)> = manifest.entries.iter().filter(|e| !e.reference_only).map(|e| (e.name.clone(), e.size, e.sha256.clone())).collect();
    let member_size = |size: u64| 512 + size + yuetan_casefile::tar_padding(size) as u64;
    let total = member_size(manifest_json.len() as u64) + member_size(signature_json.len() as u64) + members.iter().map(|m| member_size(m.1)).sum::<u64>() + yuetan_casefile::TAR_END.len() as u64;
    let mtime = manifest.assembled_at;
    let archive_name = format!("casefile-{}.tar", a.case_id.unwrap_or(a.file_id));
    let (sender, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        let mut c = Chunker::new(sender.clone(), total, archive_name, String::new());
        let failed = |e: Error| tonic::Status::from(e);
        let mut fixed = vec![(yuetan_casefile::MANIFEST.to_string(), manifest_json), (yuetan_casefile::SIGNATURE.to_string(), signature_json)];
        for (name, bytes) in fixed.drain(..) {
            let header = match yuetan_casefile::tar_header(&name, bytes.len() as u64, mtime) {
                Ok(h) => h,
                Err(e) => {
                    let _ = sender.send(Err(failed(Error::Internal(format!("{name}: {e}"))))).await;
                    return;
                }
            };
            if !(c.push(&header).await && c.push(&bytes).await && c.push(&vec![0; yuetan_casefile::tar_padding(bytes.len() as u64)]).await) {
                return;
            }
        }
        for (name, size, sha) in members {
            let bytes = match state.objects.get(&sha).await {
                Ok(b) if b.len() as u64 == size => b,
                Ok(b) => {
                    let _ = sender.send(Err(failed(Error::Internal(format!("{name}: {} bytes in the store, {size} in the manifest", b.len()))))).await;
                    return;
                }
                Err(Error::NotFound(_)) => {
                    let _ = sender.send(Err(failed(Error::NotFound(format!("{name}: its object {sha} is not in the store"))))).await;
                    return;
                }
                Err(e) => {
                    let _ = sender.send(Err(failed(e))).await;
                    return;
                }
            };
            let header = match yuetan_casefile::tar_header(&name, size, mtime) {
                Ok(h) => h,
                Err(e) => {
                    let _ = sender.send(Err(failed(Error::Internal(format!("{name}: {e}"))))).await;
                    return;
                }
            };
            if !(c.push(&header).await && c.push(&bytes).await && c.push(&vec![0; yuetan_casefile::tar_padding(size)]).await) {
                return;
            }
        }
        if c.push(&yuetan_casefile::TAR_END).await {
            c.finish().await;
        }
    });
    Ok(stream_of(rx))
}
