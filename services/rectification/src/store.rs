//! Rectification's SQL.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::migrate::Migrator;
use sqlx::types::Json;
use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_platform::Error;

use crate::domain::Item;

pub fn migrations() -> Migrator {
    sqlx::migrate!("./migrations")
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct CaseRow {
    pub case_id: Uuid,
    pub number: String,
    pub division: String,
    pub lead_organ: String,
    pub organ_name: String,
    pub document_code: String,
    pub co_departments: Vec<String>,
    pub party_id: String,
    pub party_name: String,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

pub async fn case(conn: &mut PgConnection, id: Uuid, lock: bool) -> Result<Option<CaseRow>, Error> {
    let sql = format!("SELECT * FROM cases WHERE case_id = $1{}", if lock { " FOR UPDATE" } else { "" });
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(&mut *conn).await?)
}

/// The case unless another transaction holds it (`Err(true)`), or gone
/// (`Err(false)`). Timers take it this way: a sweeper holding its timer row
/// must not wait for a case whose holder (an RPC) is about to cancel that
/// very timer — the two would deadlock.
pub async fn case_unless_locked(conn: &mut PgConnection, id: Uuid) -> Result<Result<CaseRow, bool>, Error> {
    let row: Option<CaseRow> = sqlx::query_as("SELECT * FROM cases WHERE case_id = $1 FOR UPDATE SKIP LOCKED").bind(id).fetch_optional(&mut *conn).await?;
    match row {
        Some(c) => Ok(Ok(c)),
        None => Ok(Err(case(conn, id, false).await?.is_some())),
    }
}

pub async fn put_case(conn: &mut PgConnection, c: &CaseRow) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO cases (case_id, number, division, lead_organ, organ_name, document_code, co_departments, party_id, party_name, version, updated_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)
         ON CONFLICT (case_id) DO UPDATE SET number = EXCLUDED.number, division = EXCLUDED.division, lead_organ = EXCLUDED.lead_organ,
           organ_name = EXCLUDED.organ_name, document_code = EXCLUDED.document_code, co_departments = EXCLUDED.co_departments,
           party_id = EXCLUDED.party_id, party_name = EXCLUDED.party_name, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at",
    )
    .bind(c.case_id)
    .bind(&c.number)
    .bind(&c.division)
    .bind(&c.lead_organ)
    .bind(&c.organ_name)
    .bind(&c.document_code)
    .bind(&c.co_departments)
    .bind(&c.party_id)
    .bind(&c.party_name)
    .bind(c.version)
    .bind(c.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RecordRef {
    pub case_id: Uuid,
    pub record_id: String,
    pub number: String,
    pub sha256: String,
    pub version: i32,
}

/// Keeps the newest signed version.
pub async fn put_record_ref(conn: &mut PgConnection, r: &RecordRef) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO record_refs (case_id, record_id, number, sha256, version) VALUES ($1,$2,$3,$4,$5)
         ON CONFLICT (case_id) DO UPDATE SET record_id = EXCLUDED.record_id, number = EXCLUDED.number, sha256 = EXCLUDED.sha256, version = EXCLUDED.version
         WHERE record_refs.version < EXCLUDED.version",
    )
    .bind(r.case_id)
    .bind(&r.record_id)
    .bind(&r.number)
    .bind(&r.sha256)
    .bind(r.version)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn record_ref(conn: &mut PgConnection, case_id: Uuid) -> Result<Option<RecordRef>, Error> {
    Ok(sqlx::query_as("SELECT * FROM record_refs WHERE case_id = $1").bind(case_id).fetch_optional(&mut *conn).await?)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RectRow {
    pub id: Uuid,
    pub case_id: Uuid,
    pub interview_id: String,
    pub organ: String,
    pub division: String,
    pub status: String,
    pub tracker: String,
    pub cadence_days: i32,
    pub items: Json<Vec<Item>>,
    pub provisions: Vec<String>,
    pub deadline: NaiveDate,
    pub report_due: NaiveDate,
    pub notice_document_id: Option<Uuid>,
    pub report_channel: String,
    pub report_received_at: Option<DateTime<Utc>>,
    pub report_text_sealed: Option<Vec<u8>>,
    pub report_attachments: Vec<String>,
    pub report_late: bool,
    pub acceptance_due: Option<NaiveDate>,
    pub extension_requested: bool,
    pub extension_reason: String,
    pub extension_new_deadline: Option<NaiveDate>,
    pub extension_decision: String,
    pub certificate_document_id: Option<Uuid>,
    pub penalty_draft_document_id: Option<Uuid>,
    pub follow_up_overdue: bool,
    pub last_entry_on: Option<NaiveDate>,
    pub reinspect_on: Option<NaiveDate>,
    pub reinspection: String,
    pub follow_up: String,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

/// Inserts a new rectification; `false` if the case already has one.
pub async fn insert_rect(conn: &mut PgConnection, r: &RectRow) -> Result<bool, Error> {
    let done = sqlx::query(
        "INSERT INTO rectifications (id, case_id, interview_id, organ, division, status, tracker, cadence_days, items, provisions, deadline, report_due, version, updated_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14) ON CONFLICT (case_id) DO NOTHING",
    )
    .bind(r.id)
    .bind(r.case_id)
    .bind(&r.interview_id)
    .bind(&r.organ)
    .bind(&r.division)
    .bind(&r.status)
    .bind(&r.tracker)
    .bind(r.cadence_days)
    .bind(&r.items)
    .bind(&r.provisions)
    .bind(r.deadline)
    .bind(r.report_due)
    .bind(r.version)
    .bind(r.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn update_rect(conn: &mut PgConnection, r: &RectRow) -> Result<(), Error> {
    sqlx::query(
        "UPDATE rectifications SET status = $2, tracker = $3, cadence_days = $4, items = $5, deadline = $6, report_due = $7, notice_document_id = $8,
           report_channel = $9, report_received_at = $10, report_text_sealed = $11, report_attachments = $12, report_late = $13, acceptance_due = $14,
           extension_requested = $15, extension_reason = $16, extension_new_deadline = $17, extension_decision = $18, certificate_document_id = $19,
           penalty_draft_document_id = $20, follow_up_overdue = $21, last_entry_on = $22, reinspect_on = $23, reinspection = $24, follow_up = $25,
           version = $26, updated_at = $27
         WHERE id = $1",
    )
    .bind(r.id)
    .bind(&r.status)
    .bind(&r.tracker)
    .bind(r.cadence_days)
    .bind(&r.items)
    .bind(r.deadline)
    .bind(r.report_due)
    .bind(r.notice_document_id)
    .bind(&r.report_channel)
    .bind(r.report_received_at)
    .bind(&r.report_text_sealed)
    .bind(&r.report_attachments)
    .bind(r.report_late)
    .bind(r.acceptance_due)
    .bind(r.extension_requested)
    .bind(&r.extension_reason)
    .bind(r.extension_new_deadline)
    .bind(&r.extension_decision)
    .bind(r.certificate_document_id)
    .bind(r.penalty_draft_document_id)
    .bind(r.follow_up_overdue)
    .bind(r.last_entry_on)
    .bind(r.reinspect_on)
    .bind(&r.reinspection)
    .bind(&r.follow_up)
    .bind(r.version)
    .bind(r.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn rect_of_case(conn: &mut PgConnection, case_id: Uuid, lock: bool) -> Result<Option<RectRow>, Error> {
    let sql = format!("SELECT * FROM rectifications WHERE case_id = $1{}", if lock { " FOR UPDATE" } else { "" });
    Ok(sqlx::query_as(&sql).bind(case_id).fetch_optional(&mut *conn).await?)
}

pub async fn rect(conn: &mut PgConnection, id: Uuid, lock: bool) -> Result<Option<RectRow>, Error> {
    let sql = format!("SELECT * FROM rectifications WHERE id = $1{}", if lock { " FOR UPDATE" } else { "" });
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(&mut *conn).await?)
}

/// The rectification unless another transaction holds it (`Err(true)`), or gone (`Err(false)`).
pub async fn rect_unless_locked(conn: &mut PgConnection, id: Uuid) -> Result<Result<RectRow, bool>, Error> {
    let row: Option<RectRow> = sqlx::query_as("SELECT * FROM rectifications WHERE id = $1 FOR UPDATE SKIP LOCKED").bind(id).fetch_optional(&mut *conn).await?;
    match row {
        Some(r) => Ok(Ok(r)),
        None => Ok(Err(rect(conn, id, false).await?.is_some())),
    }
}

/// The caller's queue: tracked by `officer`, or open in `organ` awaiting acceptance; nearest deadline first.
pub async fn queue(conn: &mut PgConnection, officer: &str, organ: &str, limit: i64) -> Result<Vec<RectRow>, Error> {
    Ok(sqlx::query_as(
        "SELECT * FROM rectifications
          WHERE status IN ('open', 'reported') AND (tracker = $1 OR (organ = $2 AND status = 'reported'))
          ORDER BY COALESCE(acceptance_due, deadline), id LIMIT $3",
    )
    .bind(officer)
    .bind(organ)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct AnswerRow {
    pub rectification_id: Uuid,
    pub officer_id: String,
    pub complete: bool,
    pub lawful: bool,
    pub goal_reached: bool,
    pub comments: String,
    pub evidence: Vec<String>,
    pub answered_at: DateTime<Utc>,
}

/// Records an officer's answer; `false` if that officer already answered.
pub async fn insert_answer(conn: &mut PgConnection, a: &AnswerRow) -> Result<bool, Error> {
    let done = sqlx::query(
        "INSERT INTO answers (rectification_id, officer_id, complete, lawful, goal_reached, comments, evidence, answered_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (rectification_id, officer_id) DO NOTHING",
    )
    .bind(a.rectification_id)
    .bind(&a.officer_id)
    .bind(a.complete)
    .bind(a.lawful)
    .bind(a.goal_reached)
    .bind(&a.comments)
    .bind(&a.evidence)
    .bind(a.answered_at)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn answers(conn: &mut PgConnection, rect_id: Uuid) -> Result<Vec<AnswerRow>, Error> {
    Ok(sqlx::query_as("SELECT * FROM answers WHERE rectification_id = $1 ORDER BY answered_at, officer_id").bind(rect_id).fetch_all(&mut *conn).await?)
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct LedgerRow {
    pub id: Uuid,
    pub rectification_id: Uuid,
    pub case_id: Uuid,
    pub method: String,
    pub entry_on: NaiveDate,
    pub officer_id: String,
    pub organ: String,
    pub progress: String,
    pub problems: String,
    pub measures: String,
    pub attachments: Vec<String>,
    pub recorded_at: DateTime<Utc>,
}

pub async fn insert_ledger(conn: &mut PgConnection, l: &LedgerRow) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO ledger (id, rectification_id, case_id, method, entry_on, officer_id, organ, progress, problems, measures, attachments, recorded_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
    )
    .bind(l.id)
    .bind(l.rectification_id)
    .bind(l.case_id)
    .bind(&l.method)
    .bind(l.entry_on)
    .bind(&l.officer_id)
    .bind(&l.organ)
    .bind(&l.progress)
    .bind(&l.problems)
    .bind(&l.measures)
    .bind(&l.attachments)
    .bind(l.recorded_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn ledger(conn: &mut PgConnection, rect_id: Uuid) -> Result<Vec<LedgerRow>, Error> {
    Ok(sqlx::query_as("SELECT * FROM ledger WHERE rectification_id = $1 ORDER BY entry_on, recorded_at").bind(rect_id).fetch_all(&mut *conn).await?)
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct DocumentRow {
    pub id: Uuid,
    pub case_id: Uuid,
    pub kind: String,
    pub title: String,
    pub number: String,
    pub organ: String,
    pub division: String,
    pub sha256: String,
    pub pages: i32,
    pub revision: i32,
    pub status: String,
    pub seal_signature: String,
    pub seal_key_id: String,
    pub sealed_at: Option<DateTime<Utc>>,
    pub issued_by: String,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_document(conn: &mut PgConnection, d: &DocumentRow) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO documents (id, case_id, kind, title, number, organ, division, sha256, pages, revision, status, seal_signature, seal_key_id, sealed_at, issued_by, created_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)",
    )
    .bind(d.id)
    .bind(d.case_id)
    .bind(&d.kind)
    .bind(&d.title)
    .bind(&d.number)
    .bind(&d.organ)
    .bind(&d.division)
    .bind(&d.sha256)
    .bind(d.pages)
    .bind(d.revision)
    .bind(&d.status)
    .bind(&d.seal_signature)
    .bind(&d.seal_key_id)
    .bind(d.sealed_at)
    .bind(&d.issued_by)
    .bind(d.created_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn update_document(conn: &mut PgConnection, d: &DocumentRow) -> Result<(), Error> {
    sqlx::query("UPDATE documents SET status = $2, seal_signature = $3, seal_key_id = $4, sealed_at = $5 WHERE id = $1")
        .bind(d.id)
        .bind(&d.status)
        .bind(&d.seal_signature)
        .bind(&d.seal_key_id)
        .bind(d.sealed_at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn document(conn: &mut PgConnection, id: Uuid, lock: bool) -> Result<Option<DocumentRow>, Error> {
    let sql = format!("SELECT * FROM documents WHERE id = $1{}", if lock { " FOR UPDATE" } else { "" });
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(&mut *conn).await?)
}
