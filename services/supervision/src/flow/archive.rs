//! Closing and archiving (R-DOC-3), retention and destruction (R-DOC-4).
//!
//! - Every event of a file that names a document, evidence file or
//!   recording records it (`file_documents`, once per object), in the
//!   consumer's transaction ([`on_event`]).
//! - When the file closes ([`file_closed`]): the archive row (status
//!   `closed`, retention class and, once archived, its end), the `archive`
//!   card due 10 working days after closing, the `supervision.archive`
//!   timer `archive_delay_seconds` later, `supervision.case_closed`.
//! - The timer assembles the electronic file ([`fire`]): every document in
//!   time order, fetched from the object store and checked; the document
//!   list (文书清单) rendered as a numbered PDF and the timeline as JSON,
//!   both stored; the manifest signed with the archive key and stored with
//!   its signature; the row `archived`, the card closed (met or missed),
//!   `supervision.case_archived` — one transaction (the objects are
//!   content-addressed: a crash after a put leaves only an unreferenced
//!   object, and the timer assembles again).
//! - Paper archive, the leading group's approval and the destruction are
//!   RPCs (`api/archive.rs`) that change the row here.
//!
//! Supervision's own archive events write the same rows in a rebuild.

use std::sync::OnceLock;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_casefile::{Entry, Manifest, FORMAT};
use yuetan_platform::audit::{self, AuditEntry, By};
use yuetan_platform::fields::{cst_date, cst_datetime, date, from_timestamp};
use yuetan_platform::ordering::source_of;
use yuetan_platform::timers::{self, Timer};
use yuetan_platform::{Actor, Error};
use yuetan_proto::events::{self as ev, event::Payload, Event};

use crate::domain::archive::{self as rules, Retention, ARCHIVED, CLOSED, DESTROYED};
use crate::flow::files::day_of;
use crate::flow::NewCard;
use crate::store::archive::{self as sql, ArchiveRow, DocumentRow, FactsRow};
use crate::store::{self, FileRow};
use crate::State;

/// The assembly timer; the key is the file id.
pub const ARCHIVE_TIMER: &str = "supervision.archive";
/// The archive's deadline card (subject: the file id).
pub const ARCHIVE_STEP: &str = "archive";
const BY: By<'static> = By::Service(crate::SERVICE);

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(e.to_string())
}

/// The Chinese title of a kind of document.
pub fn title_of(kind: &str) -> &'static str {
    match kind {
        "interview_notice" => "行政约谈通知书",
        "delivery_receipt" => "送达回证",
        "interview_outline" => "行政约谈提纲",
        "interview_record_draft" => "行政约谈记录（签署前）",
        "interview_record" => "行政约谈记录",
        "recording" => "约谈录音录像",
        "evidence" => "证据材料",
        "absence_evidence" => "当事人未到场证据",
        "transfer_record" => "涉嫌犯罪线索移送记录",
        "rectification_notice" => "整改通知书",
        "attachment" => "整改报告附件",
        "acceptance_opinion" => "整改验收意见书",
        "acceptance_certificate" => "整改验收合格书",
        "penalty_prior_notice_draft" => "行政处罚告知书（草稿）",
        "document_list" => "文书清单",
        "timeline" => "案件办理时间线",
        _ => "",
    }
}

/// One object an event names.
struct Named {
    sha256: String,
    kind: String,
    title: String,
    number: String,
    /// Evidence and recordings: kept as a reference when the store lacks them.
    reference_only: bool,
    reference: String,
}

fn named(sha256: &str, kind: &str, number: &str) -> Named {
    Named { sha256: sha256.to_string(), kind: kind.to_string(), title: title_of(kind).to_string(), number: number.to_string(), reference_only: false, reference: String::new() }
}

fn reference(sha256: &str, kind: &str) -> Named {
    Named { reference_only: true, ..named(sha256, kind, "") }
}

/// Every document, evidence file and recording the payload names.
fn documents_of(payload: &Payload) -> Vec<Named> {
    let mut out = Vec::new();
    match payload {
        Payload::CaseSubmitted(s) => out.extend(s.evidence_sha256.iter().map(|e| reference(e, "evidence"))),
        Payload::CaseResubmitted(s) => out.extend(s.evidence_sha256.iter().map(|e| reference(e, "evidence"))),
        Payload::DocumentReviewRequested(d) => {
            let title = if title_of(&d.kind).is_empty() { d.title.clone() } else { title_of(&d.kind).to_string() };
            out.push(Named { title, ..named(&d.content_sha256, &d.kind, "") });
        }
        Payload::NoticeIssued(n) => out.push(named(&n.sha256, "interview_notice", &n.number)),
        Payload::ServiceRequested(s) => {
            let kind = if s.kind.is_empty() { "document" } else { s.kind.as_str() };
            let title = if title_of(kind).is_empty() { s.document_name.clone() } else { title_of(kind).to_string() };
            out.push(Named { title, ..named(&s.document_sha256, kind, &s.document_number) });
        }
        Payload::DocumentServed(d) => out.push(named(&d.receipt_sha256, "delivery_receipt", &d.receipt_number)),
        Payload::PartyAbsent(a) => out.push(reference(&a.evidence_sha256, "absence_evidence")),
        Payload::RecordSigned(r) => {
            out.push(named(&r.outline_sha256, "interview_outline", &r.outline_number));
            out.push(named(&r.content_sha256, "interview_record_draft", &r.number));
            out.push(named(&r.signed_sha256, "interview_record", &r.number));
            for rec in &r.recordings {
                if let Some((path, sha)) = rules::recording(rec) {
                    out.push(Named { reference: path, ..reference(&sha, "recording") });
                }
            }
        }
        Payload::CriminalClueTransferred(t) => out.push(reference(&t.transfer_record_sha256, "transfer_record")),
        Payload::RectificationNoticeIssued(n) => out.push(named(&n.sha256, "rectification_notice", &n.number)),
        Payload::ReportSubmitted(r) => out.extend(r.attachment_sha256.iter().map(|a| reference(a, "attachment"))),
        Payload::RectificationAccepted(a) => {
            out.push(named(&a.opinion_sha256, "acceptance_opinion", &a.opinion_number));
            out.push(named(&a.certificate_sha256, "acceptance_certificate", &a.certificate_number));
        }
        Payload::AcceptanceFailed(f) => out.push(named(&f.opinion_sha256, "acceptance_opinion", &f.opinion_number)),
        Payload::PenaltyHandoff(p) => {
            out.push(named(&p.draft_sha256, "penalty_prior_notice_draft", ""));
            for r in &p.references {
                let kind = if r.kind.is_empty() { "document" } else { r.kind.as_str() };
                let mut n = named(&r.sha256, kind, &r.number);
                n.reference_only = kind == "evidence";
                out.push(n);
            }
        }
        _ => {}
    }
    out.retain(|n| rules::is_sha256(&n.sha256));
    out
}

/// The facts the archive keeps that `files` does not.
fn facts_of(payload: &Payload) -> Option<(&str, FactsRow)> {
    let party = |p: &Option<ev::PartyRef>| p.as_ref().map(|p| p.name.clone()).unwrap_or_default();
    match payload {
        Payload::ClueRegistered(c) => Some((&c.clue_id, FactsRow { violation_type: c.violation_type.clone(), party_name: party(&c.party), ..FactsRow::default() })),
        Payload::ClueExcluded(x) => Some((&x.clue_id, FactsRow { violation_type: x.violation_type.clone(), party_name: party(&x.party), ..FactsRow::default() })),
        Payload::CaseOpened(o) => Some((&o.clue_id, FactsRow { violation_type: o.violation_type.clone(), organ_name: o.lead_organ_name.clone(), party_name: party(&o.party), ..FactsRow::default() })),
        _ => None,
    }
}

/// Supervision's own archive events (a rebuild writes their rows) and any
/// other service's event that names a document of a file.
pub async fn on_event(state: &State, conn: &mut PgConnection, event: &Event, id: Uuid) -> Result<(), Error> {
    let Some(payload) = &event.payload else { return Ok(()) };
    let service = source_of(&event.r#type);
    if service == crate::SERVICE {
        return replay(state, conn, event, payload).await;
    }
    if let Some((clue_id, mut facts)) = facts_of(payload) {
        if let Ok(file_id) = Uuid::parse_str(clue_id) {
            facts.file_id = file_id;
            sql::put_facts(conn, &facts).await?;
        }
    }
    let named = documents_of(payload);
    if named.is_empty() {
        return Ok(());
    }
    let Ok(case_id) = Uuid::parse_str(&event.case_id) else { return Ok(()) };
    // The file is there: the consumer applied the event to it just before.
    let Some(file) = store::file_of_case(conn, case_id, false).await? else { return Ok(()) };
    let produced_at = from_timestamp(event.occurred_at.as_ref()).unwrap_or_else(|| state.clock.now());
    for n in named {
        let row = DocumentRow {
            file_id: file.id,
            sha256: n.sha256,
            kind: n.kind,
            title: n.title,
            number: n.number,
            service: service.to_string(),
            produced_at,
            event_id: id,
            reference_only: n.reference_only,
            reference: n.reference,
        };
        sql::put_document(conn, &row).await?;
    }
    Ok(())
}

/// What the audit log keeps of an archive.
fn audit_view(a: &ArchiveRow) -> serde_json::Value {
    json!(a)
}

async fn audit_row(conn: &mut PgConnection, actor_id: &str, organ: &str, action: &str, before: Option<&ArchiveRow>, after: &ArchiveRow, now: DateTime<Utc>) -> Result<(), Error> {
    let before = before.map(audit_view);
    audit::append(conn, &AuditEntry { actor_id, actor_organ: organ, action, subject: &format!("archive/{}", after.file_id), before: before.as_ref(), after: Some(&audit_view(after)), at: now }).await?;
    Ok(())
}

/// Writes an archive event to the outbox; `actor` None: the service.
#[allow(clippy::too_many_arguments)]
async fn publish(state: &State, conn: &mut PgConnection, event_type: &str, a: &ArchiveRow, actor: Option<&Actor>, causation: Option<Uuid>, payload: Payload, now: DateTime<Utc>) -> Result<(), Error> {
    let actor = actor.map_or_else(|| BY.proto(), |a| Some(a.to_proto()));
    state.publish_as(conn, event_type, a.case_id, &a.division, &a.organ, actor, causation, payload, now).await.map(|_| ())
}

fn case_str(a: &ArchiveRow) -> String {
    a.case_id.map(|c| c.to_string()).unwrap_or_default()
}

/// A file has just closed (its row as it will be written, in the
/// consumer's transaction): `supervision.case_closed`, the archive card and timer.
/// Once per file (a redelivery or a rebuild finds the row).
pub async fn file_closed(state: &State, conn: &mut PgConnection, file: &FileRow, now: DateTime<Utc>) -> Result<(), Error> {
    let Some(closed_on) = file.closed_on else { return Ok(()) };
    if sql::of_file(conn, file.id, false).await?.is_some() {
        return Ok(());
    }
    let facts = sql::facts(conn, file.id).await?;
    let class = rules::retention(file.major, &facts.violation_type, &file.section, &state.settings.livelihood_violation_types);
    let archive_due = rules::archive_due(&state.calendar.current(), closed_on).map_err(Error::Internal)?;
    let row = ArchiveRow {
        file_id: file.id,
        case_id: file.case_id,
        number: file.number.clone(),
        division: file.division.clone(),
        organ: file.organ.clone(),
        section: file.section.clone(),
        outcome: file.outcome.clone().unwrap_or_default(),
        closed_on,
        archive_due,
        status: CLOSED.into(),
        retention_class: class.as_str().into(),
        retain_until: class.retain_until(closed_on),
        violation_type: facts.violation_type,
        archived_at: None,
        timely: None,
        manifest_sha256: None,
        signature: None,
        key_id: None,
        documents: 0,
        paper_location: None,
        paper_box: None,
        paper_on: None,
        paper_by: None,
        paper_timely: None,
        approval_id: None,
        approval_meeting_on: None,
        approval_attendees: None,
        approval_minutes: None,
        approved_by: None,
        destroyed_on: None,
        destroyed_by: None,
        destruction_record_sha256: None,
        updated_at: now,
    };
    if !sql::insert(conn, &row).await? {
        return Ok(());
    }
    let subject = file.id.to_string();
    let card = NewCard {
        step: ARCHIVE_STEP,
        subject_id: &subject,
        case_id: file.case_id,
        division: &file.division,
        organ: &file.organ,
        section: &file.section,
        opened_on: closed_on,
        deadline: archive_due,
    };
    state.open_card(conn, card, now).await?;
    let fire_at = now + Duration::seconds(i64::try_from(state.settings.archive_delay_seconds).unwrap_or(i64::MAX / 2).min(86_400 * 365));
    timers::schedule(conn, ARCHIVE_TIMER, &subject, fire_at, &json!({})).await?;
    let payload = Payload::CaseClosed(ev::CaseClosed {
        file_id: subject.clone(),
        case_id: case_str(&row),
        number: row.number.clone(),
        outcome: row.outcome.clone(),
        closed_on: Some(date(closed_on)),
        archive_due: Some(date(archive_due)),
        retention_class: row.retention_class.clone(),
    });
    publish(state, conn, "supervision.case_closed", &row, None, None, payload, now).await?;
    audit_row(conn, BY.id(), &row.organ, "archive.close", None, &row, now).await
}

/// Timers of kind `supervision.archive*`.
pub async fn fire(state: &State, conn: &mut PgConnection, timer: &Timer) -> Result<(), Error> {
    match timer.kind.as_str() {
        ARCHIVE_TIMER => {
            let file_id = Uuid::parse_str(&timer.key).map_err(|e| Error::Internal(format!("archive timer key {:?}: {e}", timer.key)))?;
            assemble(state, conn, file_id, timer.id).await
        }
        other => Err(Error::Internal(format!("no archive timer kind {other:?}"))),
    }
}

static RENDERER: OnceLock<Result<yuetan_documents::document_list::DocumentListRenderer, String>> = OnceLock::new();

fn renderer() -> Result<&'static yuetan_documents::document_list::DocumentListRenderer, Error> {
    RENDERER
        .get_or_init(|| yuetan_documents::document_list::DocumentListRenderer::new(&yuetan_documents::FontConfig::default()).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| Error::Unavailable(format!("document list fonts: {e}")))
}

/// A size for the document list, e.g. "12.3 KB".
fn size_text(size: u64) -> String {
    match size {
        0 => "—".into(),
        s if s < 1024 => format!("{s} B"),
        s if s < 1024 * 1024 => format!("{:.1} KB", s as f64 / 1024.0),
        s => format!("{:.1} MB", s as f64 / (1024.0 * 1024.0)),
    }
}

/// The timeline of a file as stored in its archive (JSON).
async fn timeline_json(conn: &mut PgConnection, a: &ArchiveRow) -> Result<Vec<u8>, Error> {
    let lines: Vec<serde_json::Value> = store::timeline(conn, a.file_id)
        .await?
        .into_iter()
        .map(|t| json!({ "at": t.occurred_at, "event_type": t.event_type, "actor": t.actor, "actor_name": t.actor_name, "summary": t.summary, "deadline": t.deadline, "met": t.met }))
        .collect();
    serde_json::to_vec_pretty(&json!({ "format": "yuetan.casefile.v1.timeline", "file_id": a.file_id, "case_id": a.case_id, "number": a.number, "lines": lines })).map_err(internal)
}

/// R-DOC-3: assembles and signs the electronic file.
async fn assemble(state: &State, conn: &mut PgConnection, file_id: Uuid, timer_id: Uuid) -> Result<(), Error> {
    let Some(before) = sql::of_file(conn, file_id, true).await? else { return Ok(()) };
    if before.status != CLOSED {
        return Ok(());
    }
    let key = state
        .archive_key
        .as_ref()
        .ok_or_else(|| Error::FailedPrecondition("supervision.archive_key is not configured: the archive's manifest cannot be signed (R-DOC-3); set it and the timer assembles again".into()))?;
    let now = state.clock.now();
    let today = cst_date(now);
    let facts = sql::facts(conn, file_id).await?;
    let documents = sql::documents(conn, file_id).await?;
    let mut entries = Vec::with_capacity(documents.len() + 2);
    let mut list = Vec::with_capacity(documents.len() + 2);
    for (i, d) in documents.iter().enumerate() {
        let seq = i + 1;
        let (size, ext, reference_only) = match state.objects.get(&d.sha256).await {
            Ok(bytes) => (bytes.len() as u64, rules::extension(&bytes), false),
            Err(Error::NotFound(_)) => {
                if !d.reference_only {
                    tracing::warn!(file = %file_id, sha256 = %d.sha256, kind = %d.kind, "a document of the file is not in the object store: listed as a reference");
                }
                (0, "", true)
            }
            Err(e) => return Err(e),
        };
        let title = if d.title.is_empty() { d.kind.clone() } else { d.title.clone() };
        entries.push(Entry {
            seq: seq as u32,
            name: rules::entry_name(seq, &d.kind, ext),
            kind: d.kind.clone(),
            number: d.number.clone(),
            sha256: d.sha256.clone(),
            size,
            service: d.service.clone(),
            produced_at: d.produced_at,
            title: if d.reference.is_empty() { title.clone() } else { format!("{title}（{}）", d.reference) },
            reference_only,
        });
        list.push(yuetan_documents::document_list::DocumentListEntry {
            seq: seq as u32,
            title: if reference_only { format!("{title}（仅引用）") } else { title },
            number: d.number.clone(),
            produced_at: cst_datetime(d.produced_at),
            service: d.service.clone(),
            pages_or_size: size_text(size),
            sha256: d.sha256.clone(),
        });
    }
    // The document list (文书清单), numbered, and the timeline.
    let document_list = yuetan_documents::document_list::DocumentList {
        organ_name: if facts.organ_name.is_empty() { before.organ.clone() } else { facts.organ_name.clone() },
        case_number: before.number.clone(),
        party: facts.party_name.clone(),
        closed_on: before.closed_on,
        entries: list,
    };
    let renderer = renderer()?;
    let rendered = tokio::task::spawn_blocking(move || renderer.render(&document_list)).await.map_err(internal)?.map_err(|e| Error::Internal(format!("rendering the document list: {e}")))?;
    let list_pdf = rendered.pdf;
    let list_stored = state.objects.put(list_pdf).await?;
    let timeline = timeline_json(conn, &before).await?;
    let timeline_stored = state.objects.put(timeline).await?;
    let n = entries.len();
    for (offset, (name, kind, stored)) in [(rules::DOCUMENT_LIST_NAME, "document_list", &list_stored), (rules::TIMELINE_NAME, "timeline", &timeline_stored)].into_iter().enumerate() {
        entries.push(Entry {
            seq: (n + offset + 1) as u32,
            name: name.into(),
            kind: kind.into(),
            number: String::new(),
            sha256: stored.sha256.clone(),
            size: stored.size,
            service: crate::SERVICE.into(),
            produced_at: now,
            title: title_of(kind).into(),
            reference_only: false,
        });
    }
    let class = Retention::from_name(&before.retention_class).unwrap_or(Retention::Ordinary);
    let manifest = Manifest {
        format: FORMAT.into(),
        case_id: before.case_id.unwrap_or(file_id).to_string(),
        number: before.number.clone(),
        division: before.division.clone(),
        organ: before.organ.clone(),
        assembled_at: now,
        retention_class: class.as_str().into(),
        retain_until: class.retain_until(before.closed_on),
        entries,
    };
    let manifest_json = manifest.to_json();
    let signature = key.sign(&manifest_json);
    let manifest_stored = state.objects.put(manifest_json).await?;
    if manifest_stored.sha256 != signature.manifest_sha256 {
        return Err(Error::Internal("the signed manifest's sha256 is not the stored one's".into()));
    }
    state.objects.put(signature_json(&signature)?).await?;
    let mut a = before.clone();
    a.status = ARCHIVED.into();
    a.archived_at = Some(now);
    a.timely = Some(today <= a.archive_due);
    a.manifest_sha256 = Some(signature.manifest_sha256.clone());
    a.signature = Some(signature.signature.clone());
    a.key_id = Some(signature.key_id.clone());
    a.documents = i32::try_from(documents.len()).unwrap_or(i32::MAX);
    a.retain_until = manifest.retain_until;
    a.updated_at = now;
    sql::update(conn, &a).await?;
    state.close_card(conn, ARCHIVE_STEP, &file_id.to_string(), a.case_id, today, now).await?;
    publish(state, conn, "supervision.case_archived", &a, None, Some(timer_id), archived_payload(&a, today), now).await?;
    audit_row(conn, BY.id(), &a.organ, "archive.assemble", Some(&before), &a, now).await
}

fn archived_payload(a: &ArchiveRow, archived_on: NaiveDate) -> Payload {
    Payload::CaseArchived(ev::CaseArchived {
        file_id: a.file_id.to_string(),
        case_id: case_str(a),
        number: a.number.clone(),
        manifest_sha256: a.manifest_sha256.clone().unwrap_or_default(),
        documents: u32::try_from(a.documents).unwrap_or(0),
        key_id: a.key_id.clone().unwrap_or_default(),
        signature: a.signature.clone().unwrap_or_default(),
        retention_class: a.retention_class.clone(),
        retain_until: a.retain_until.map(date),
        archived_on: Some(date(archived_on)),
        timely: a.timely.unwrap_or(false),
    })
}

/// `manifest.sig` as stored and shipped.
pub fn signature_json(signature: &yuetan_casefile::Signature) -> Result<Vec<u8>, Error> {
    serde_json::to_vec_pretty(signature).map_err(internal)
}

/// The signature of an archived file, from its row.
pub fn signature_of(a: &ArchiveRow) -> Option<yuetan_casefile::Signature> {
    Some(yuetan_casefile::Signature { key_id: a.key_id.clone()?, manifest_sha256: a.manifest_sha256.clone()?, signature: a.signature.clone()? })
}

/// RecordPaperArchive: the paper file's location and box (R-DOC-3).
#[allow(clippy::too_many_arguments)]
pub async fn record_paper(state: &State, conn: &mut PgConnection, actor: &Actor, before: &ArchiveRow, location: String, box_number: String, archived_on: NaiveDate, now: DateTime<Utc>) -> Result<ArchiveRow, Error> {
    let mut a = before.clone();
    a.paper_location = Some(location);
    a.paper_box = Some(box_number);
    a.paper_on = Some(archived_on);
    a.paper_by = Some(actor.officer_id.clone());
    a.paper_timely = Some(rules::paper_timely(a.closed_on, archived_on));
    a.updated_at = now;
    sql::update(conn, &a).await?;
    let payload = Payload::PaperArchived(ev::PaperArchived {
        file_id: a.file_id.to_string(),
        case_id: case_str(&a),
        location: a.paper_location.clone().unwrap_or_default(),
        box_number: a.paper_box.clone().unwrap_or_default(),
        archived_on: Some(date(archived_on)),
        recorded_by: actor.officer_id.clone(),
        timely: a.paper_timely.unwrap_or(false),
    });
    publish(state, conn, "supervision.paper_archived", &a, Some(actor), None, payload, now).await?;
    audit_row(conn, &actor.officer_id, &actor.organ, "archive.paper", Some(before), &a, now).await?;
    Ok(a)
}

/// ApproveDestruction: the leading group's approval (R-DOC-4), checked by the caller.
#[allow(clippy::too_many_arguments)]
pub async fn approve(state: &State, conn: &mut PgConnection, actor: &Actor, before: &ArchiveRow, meeting_on: NaiveDate, attendees: Vec<String>, minutes: String, now: DateTime<Utc>) -> Result<ArchiveRow, Error> {
    let mut a = before.clone();
    a.approval_id = Some(Uuid::now_v7());
    a.approval_meeting_on = Some(meeting_on);
    a.approval_attendees = Some(attendees);
    a.approval_minutes = Some(minutes);
    a.approved_by = Some(actor.officer_id.clone());
    a.updated_at = now;
    sql::update(conn, &a).await?;
    publish(state, conn, "supervision.destruction_approved", &a, Some(actor), None, approved_payload(&a), now).await?;
    audit_row(conn, &actor.officer_id, &actor.organ, "archive.approve_destruction", Some(before), &a, now).await?;
    Ok(a)
}

fn approved_payload(a: &ArchiveRow) -> Payload {
    Payload::DestructionApproved(ev::DestructionApproved {
        file_id: a.file_id.to_string(),
        case_id: case_str(a),
        approval_id: a.approval_id.map(|x| x.to_string()).unwrap_or_default(),
        meeting_on: a.approval_meeting_on.map(date),
        attendees: a.approval_attendees.clone().unwrap_or_default(),
        minutes_reference: a.approval_minutes.clone().unwrap_or_default(),
    })
}

/// DestroyCaseFile (R-DOC-4), checked by the caller: the destruction record
/// (who, when, the approval, the method, every destroyed object) stored;
/// the documents' objects deleted — never the manifest, its signature or
/// the record, nor an object another file not destroyed names; the row
/// destroyed; `supervision.case_destroyed`. The objects go before the
/// commit: a failed commit leaves the row archived and a retry deletes
/// nothing more than it had.
pub async fn destroy(state: &State, conn: &mut PgConnection, actor: &Actor, before: &ArchiveRow, supervisors: Vec<String>, method: String, now: DateTime<Utc>) -> Result<ArchiveRow, Error> {
    let manifest_sha = before.manifest_sha256.clone().ok_or_else(|| Error::FailedPrecondition("the file has no manifest".into()))?;
    let manifest = Manifest::from_json(&state.objects.get(&manifest_sha).await?).map_err(|e| Error::Internal(format!("the stored manifest: {e}")))?;
    let signature_sha = match signature_of(before) {
        Some(s) => Some(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(signature_json(&s)?))),
        None => None,
    };
    let today = cst_date(now);
    let mut destroyed = Vec::new();
    let mut kept = Vec::new();
    for e in manifest.entries.iter().filter(|e| !e.reference_only) {
        if e.sha256 == manifest_sha || Some(&e.sha256) == signature_sha.as_ref() {
            kept.push(json!({ "name": e.name, "sha256": e.sha256, "reason": "the manifest and its signature stay" }));
        } else if sql::listed_elsewhere(conn, &e.sha256, before.file_id).await? {
            kept.push(json!({ "name": e.name, "sha256": e.sha256, "reason": "another file not destroyed lists the same object" }));
        } else {
            destroyed.push(e);
        }
    }
    let record = json!({
        "format": "yuetan.casefile.v1.destruction",
        "file_id": before.file_id,
        "case_id": before.case_id,
        "number": before.number,
        "division": before.division,
        "organ": before.organ,
        "retention_class": before.retention_class,
        "retain_until": before.retain_until,
        "manifest_sha256": manifest_sha,
        "approval": {
            "approval_id": before.approval_id,
            "meeting_on": before.approval_meeting_on,
            "attendees": before.approval_attendees,
            "minutes_reference": before.approval_minutes,
            "approved_by": before.approved_by,
        },
        "supervisors": supervisors,
        "method": method,
        "destroyed_by": actor.officer_id,
        "destroyed_by_organ": actor.organ,
        "destroyed_at": now,
        "destroyed": destroyed.iter().map(|e| json!({ "name": e.name, "kind": e.kind, "number": e.number, "sha256": e.sha256, "size": e.size })).collect::<Vec<_>>(),
        "kept": kept,
    });
    let record_stored = state.objects.put(serde_json::to_vec_pretty(&record).map_err(internal)?).await?;
    for e in &destroyed {
        if e.sha256 != record_stored.sha256 {
            state.objects.delete(&e.sha256).await?;
        }
    }
    let mut a = before.clone();
    a.status = DESTROYED.into();
    a.destroyed_on = Some(today);
    a.destroyed_by = Some(supervisors);
    a.destruction_record_sha256 = Some(record_stored.sha256.clone());
    a.updated_at = now;
    sql::update(conn, &a).await?;
    publish(state, conn, "supervision.case_destroyed", &a, Some(actor), None, destroyed_payload(&a, u32::try_from(destroyed.len()).unwrap_or(u32::MAX)), now).await?;
    audit_row(conn, &actor.officer_id, &actor.organ, "archive.destroy", Some(before), &a, now).await?;
    Ok(a)
}

fn destroyed_payload(a: &ArchiveRow, destroyed_files: u32) -> Payload {
    Payload::CaseDestroyed(ev::CaseDestroyed {
        file_id: a.file_id.to_string(),
        case_id: case_str(a),
        approval_id: a.approval_id.map(|x| x.to_string()).unwrap_or_default(),
        supervisors: a.destroyed_by.clone().unwrap_or_default(),
        manifest_sha256: a.manifest_sha256.clone().unwrap_or_default(),
        record_sha256: a.destruction_record_sha256.clone().unwrap_or_default(),
        destroyed_files,
        destroyed_on: a.destroyed_on.map(date),
    })
}

/// Supervision's own archive events. Live their rows are there (the same
/// transaction wrote them); in a rebuild they write them, waiting for the
/// archive row the closing event makes.
async fn replay(state: &State, conn: &mut PgConnection, event: &Event, payload: &Payload) -> Result<(), Error> {
    let file_id = match payload {
        Payload::CaseClosed(c) => &c.file_id,
        Payload::CaseArchived(c) => &c.file_id,
        Payload::PaperArchived(p) => &p.file_id,
        Payload::DestructionApproved(d) => &d.file_id,
        Payload::CaseDestroyed(d) => &d.file_id,
        _ => return Ok(()),
    };
    let file_id = Uuid::parse_str(file_id).map_err(|e| Error::Internal(format!("file_id {file_id:?}: {e}")))?;
    let Some(before) = sql::of_file(conn, file_id, true).await? else {
        return Err(Error::Unavailable(format!("the archive of file {file_id}")));
    };
    let at = from_timestamp(event.occurred_at.as_ref()).unwrap_or_else(|| state.clock.now());
    let by = event.actor.as_ref().map(|a| a.officer_id.clone()).unwrap_or_default();
    let mut a = before.clone();
    match payload {
        // Supervision's own events are not ordered among themselves: in a
        // replay the destruction may come before the archiving it followed
        // (the archiving waited for the file to close). The status only
        // moves forward; the archive card closes whatever came first.
        Payload::CaseArchived(c) if a.manifest_sha256.is_none() => {
            let on = day_of(c.archived_on.as_ref()).unwrap_or_else(|| cst_date(at));
            if a.status == CLOSED {
                a.status = ARCHIVED.into();
            }
            a.archived_at = Some(at);
            a.timely = Some(c.timely);
            a.manifest_sha256 = Some(c.manifest_sha256.clone());
            a.signature = Some(c.signature.clone());
            a.key_id = Some(c.key_id.clone());
            a.documents = i32::try_from(c.documents).unwrap_or(i32::MAX);
            a.retain_until = day_of(c.retain_until.as_ref());
            a.updated_at = at;
            sql::update(conn, &a).await?;
            state.close_card(conn, ARCHIVE_STEP, &file_id.to_string(), a.case_id, on, state.clock.now()).await?;
        }
        Payload::PaperArchived(p) if a.paper_on.is_none() => {
            a.paper_location = Some(p.location.clone());
            a.paper_box = Some(p.box_number.clone());
            a.paper_on = day_of(p.archived_on.as_ref());
            a.paper_by = Some(p.recorded_by.clone());
            a.paper_timely = Some(p.timely);
            a.updated_at = at;
            sql::update(conn, &a).await?;
        }
        Payload::DestructionApproved(d) if a.approval_id.is_none() => {
            a.approval_id = Uuid::parse_str(&d.approval_id).ok();
            a.approval_meeting_on = day_of(d.meeting_on.as_ref());
            a.approval_attendees = Some(d.attendees.clone());
            a.approval_minutes = Some(d.minutes_reference.clone());
            a.approved_by = Some(by);
            a.updated_at = at;
            sql::update(conn, &a).await?;
        }
        Payload::CaseDestroyed(d) if a.status != DESTROYED => {
            a.status = DESTROYED.into();
            a.destroyed_on = day_of(d.destroyed_on.as_ref());
            a.destroyed_by = Some(d.supervisors.clone());
            a.destruction_record_sha256 = Some(d.record_sha256.clone());
            a.updated_at = at;
            sql::update(conn, &a).await?;
        }
        _ => {}
    }
    Ok(())
}
