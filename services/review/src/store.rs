//! Review's PostgreSQL store (schema `review`): every query of the service.
//! Callers pass `&mut *tx`; a state change, its outbox rows, its timer and
//! its audit row are written in one transaction by the caller.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::migrate::Migrator;
use sqlx::types::Json;
use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_platform::Error;

use crate::domain::CheckResult;

/// Review's own tables; versions from 1000 (the platform's are below).
pub fn migrations() -> Migrator {
    sqlx::migrate!("./migrations")
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct CaseRow {
    pub case_id: Uuid,
    pub number: String,
    pub division: String,
    pub lead_organ: String,
    pub co_departments: Vec<String>,
    pub major: bool,
    pub proposed_by: String,
    pub party_name: String,
    pub violation_type: String,
    pub status: String,
    /// Review's own event sequence of the case.
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Collective {
    pub meeting_date: NaiveDate,
    pub attendees: Vec<String>,
    pub result: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Document {
    pub document_id: String,
    pub kind: String,
    pub title: String,
    pub content_sha256: String,
    pub submitted_by: String,
    pub source_service: String,
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct TaskRow {
    pub id: Uuid,
    pub case_id: Uuid,
    pub kind: String,
    pub round: i32,
    pub status: String,
    pub organ: String,
    pub division: String,
    pub role: String,
    pub major: bool,
    pub proposed_by: String,
    pub opened_on: NaiveDate,
    pub limit_days: i32,
    pub deadline: NaiveDate,
    pub deadline_missed: bool,
    pub extended: bool,
    pub extension_reason: String,
    pub decision: String,
    pub decided_by: String,
    pub decided_at: Option<DateTime<Utc>>,
    pub opinion: String,
    pub missing: String,
    pub checklist: Json<Vec<CheckResult>>,
    pub collective: Option<Json<Collective>>,
    pub proposal: String,
    pub supplement: String,
    pub document: Option<Json<Document>>,
    pub created_at: DateTime<Utc>,
}

const CASE_COLUMNS: &str =
    "case_id, number, division, lead_organ, co_departments, major, proposed_by, party_name, violation_type, status, version, updated_at";

const TASK_COLUMNS: &str = "id, case_id, kind, round, status, organ, division, role, major, proposed_by, opened_on, limit_days, \
     deadline, deadline_missed, extended, extension_reason, decision, decided_by, decided_at, opinion, missing, checklist, \
     collective, proposal, supplement, document, created_at";

pub async fn case(conn: &mut PgConnection, case_id: Uuid, for_update: bool) -> Result<Option<CaseRow>, Error> {
    let lock = if for_update { " FOR UPDATE" } else { "" };
    Ok(sqlx::query_as(&format!("SELECT {CASE_COLUMNS} FROM cases WHERE case_id = $1{lock}"))
        .bind(case_id)
        .fetch_optional(&mut *conn)
        .await?)
}

/// The document numbers of the given cases, in one query (a page of tasks).
pub async fn case_numbers(conn: &mut PgConnection, case_ids: &[Uuid]) -> Result<std::collections::HashMap<Uuid, String>, Error> {
    let rows: Vec<(Uuid, String)> = sqlx::query_as("SELECT case_id, number FROM cases WHERE case_id = ANY($1)")
        .bind(case_ids)
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows.into_iter().collect())
}

/// Writes the case as it is now (insert or replace).
pub async fn put_case(conn: &mut PgConnection, c: &CaseRow) -> Result<(), Error> {
    sqlx::query(&format!(
        "INSERT INTO cases ({CASE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (case_id) DO UPDATE SET number = EXCLUDED.number, division = EXCLUDED.division,
           lead_organ = EXCLUDED.lead_organ, co_departments = EXCLUDED.co_departments, major = EXCLUDED.major,
           proposed_by = EXCLUDED.proposed_by, party_name = EXCLUDED.party_name, violation_type = EXCLUDED.violation_type,
           status = EXCLUDED.status, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at"
    ))
    .bind(c.case_id)
    .bind(&c.number)
    .bind(&c.division)
    .bind(&c.lead_organ)
    .bind(&c.co_departments)
    .bind(c.major)
    .bind(&c.proposed_by)
    .bind(&c.party_name)
    .bind(&c.violation_type)
    .bind(&c.status)
    .bind(c.version)
    .bind(c.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Inserts a new task; `false` if its (case, kind, round) — or, for a
/// document, its (service, document, revision) — already has one.
pub async fn insert_task(conn: &mut PgConnection, t: &TaskRow) -> Result<bool, Error> {
    let inserted = sqlx::query(&format!(
        "INSERT INTO tasks ({TASK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
           $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27)
         ON CONFLICT DO NOTHING"
    ))
    .bind(t.id)
    .bind(t.case_id)
    .bind(&t.kind)
    .bind(t.round)
    .bind(&t.status)
    .bind(&t.organ)
    .bind(&t.division)
    .bind(&t.role)
    .bind(t.major)
    .bind(&t.proposed_by)
    .bind(t.opened_on)
    .bind(t.limit_days)
    .bind(t.deadline)
    .bind(t.deadline_missed)
    .bind(t.extended)
    .bind(&t.extension_reason)
    .bind(&t.decision)
    .bind(&t.decided_by)
    .bind(t.decided_at)
    .bind(&t.opinion)
    .bind(&t.missing)
    .bind(&t.checklist)
    .bind(&t.collective)
    .bind(&t.proposal)
    .bind(&t.supplement)
    .bind(&t.document)
    .bind(t.created_at)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Writes the mutable part of a task back.
pub async fn update_task(conn: &mut PgConnection, t: &TaskRow) -> Result<(), Error> {
    sqlx::query(
        "UPDATE tasks SET status = $2, deadline = $3, deadline_missed = $4, extended = $5, extension_reason = $6,
           decision = $7, decided_by = $8, decided_at = $9, opinion = $10, missing = $11, checklist = $12, collective = $13
         WHERE id = $1",
    )
    .bind(t.id)
    .bind(&t.status)
    .bind(t.deadline)
    .bind(t.deadline_missed)
    .bind(t.extended)
    .bind(&t.extension_reason)
    .bind(&t.decision)
    .bind(&t.decided_by)
    .bind(t.decided_at)
    .bind(&t.opinion)
    .bind(&t.missing)
    .bind(&t.checklist)
    .bind(&t.collective)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn task(conn: &mut PgConnection, id: Uuid, for_update: bool) -> Result<Option<TaskRow>, Error> {
    let lock = if for_update { " FOR UPDATE" } else { "" };
    Ok(sqlx::query_as(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1{lock}"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?)
}

/// The task, locked, unless another transaction holds it (`Err(true)`: it
/// exists but is held; `Err(false)`: no such task). Timer handlers use it:
/// they never wait for a row a call may hold (lock order).
pub async fn task_unless_locked(conn: &mut PgConnection, id: Uuid) -> Result<Result<TaskRow, bool>, Error> {
    let row: Option<TaskRow> = sqlx::query_as(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1 FOR UPDATE SKIP LOCKED"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(row) = row {
        return Ok(Ok(row));
    }
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM tasks WHERE id = $1)").bind(id).fetch_one(&mut *conn).await?;
    Ok(Err(exists))
}

/// The case's row, locked, unless another transaction holds it (as
/// [`task_unless_locked`]).
pub async fn case_unless_locked(conn: &mut PgConnection, case_id: Uuid) -> Result<Option<CaseRow>, Error> {
    Ok(sqlx::query_as(&format!("SELECT {CASE_COLUMNS} FROM cases WHERE case_id = $1 FOR UPDATE SKIP LOCKED"))
        .bind(case_id)
        .fetch_optional(&mut *conn)
        .await?)
}

pub async fn tasks_of_case(conn: &mut PgConnection, case_id: Uuid) -> Result<Vec<TaskRow>, Error> {
    Ok(sqlx::query_as(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE case_id = $1 ORDER BY created_at, id"))
        .bind(case_id)
        .fetch_all(&mut *conn)
        .await?)
}

/// A page of an organ's tasks for the given roles: open ones by deadline,
/// then (if asked) decided ones. `after` is the last (deadline, id) seen.
pub async fn queue(
    conn: &mut PgConnection,
    organ: &str,
    roles: &[String],
    include_decided: bool,
    after: Option<(NaiveDate, Uuid)>,
    limit: i64,
) -> Result<Vec<TaskRow>, Error> {
    let (after_deadline, after_id) = after.map(|(d, i)| (Some(d), Some(i))).unwrap_or((None, None));
    Ok(sqlx::query_as(&format!(
        "SELECT {TASK_COLUMNS} FROM tasks
         WHERE organ = $1 AND role = ANY($2) AND (status = 'open' OR $3)
           AND ($4::date IS NULL OR (deadline, id) > ($4, $5))
         ORDER BY deadline, id LIMIT $6"
    ))
    .bind(organ)
    .bind(roles)
    .bind(include_decided)
    .bind(after_deadline)
    .bind(after_id)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}
