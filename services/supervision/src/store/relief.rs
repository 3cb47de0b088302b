//! Relief rows (R-RELIEF-2): SQL only.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_platform::Error;

/// Whether a relief was ever registered for the case (undecided or not):
/// such a case's file is never destroyed (R-RELIEF-2, R-DOC-4).
pub async fn ever_under_relief(conn: &mut PgConnection, case_id: Uuid) -> Result<bool, Error> {
    Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM reliefs WHERE case_id = $1)").bind(case_id).fetch_one(conn).await?)
}

/// Whether a relief about the case is undecided (the case shows "under relief").
pub async fn under_relief(conn: &mut PgConnection, case_id: Uuid) -> Result<bool, Error> {
    Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM reliefs WHERE case_id = $1 AND outcome IS NULL)").bind(case_id).fetch_one(conn).await?)
}

/// A reconsideration application or a lawsuit about a case (`reliefs`).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ReliefRow {
    /// [`crate::domain::relief::relief_key`] of (source, relief_id).
    pub id: Uuid,
    pub source: String,
    pub relief_id: String,
    pub case_id: Uuid,
    pub file_id: Uuid,
    pub division: String,
    pub organ: String,
    pub section: String,
    pub kind: String,
    pub body: String,
    /// The summary, sealed (context `supervision.relief_summary`); None when empty.
    pub summary_sealed: Option<Vec<u8>>,
    pub applied_on: Option<NaiveDate>,
    pub received_on: NaiveDate,
    pub reply_due: NaiveDate,
    pub replied_on: Option<NaiveDate>,
    pub outcome: Option<String>,
    pub decided_on: Option<NaiveDate>,
    pub marked_by: String,
    pub marked_at: DateTime<Utc>,
    pub overdue_at: Option<DateTime<Utc>>,
}

/// Inserts the relief; `false` if this (source, relief_id) is already there.
pub async fn insert(conn: &mut PgConnection, r: &ReliefRow) -> Result<bool, Error> {
    let done = sqlx::query(
        "INSERT INTO reliefs (id, source, relief_id, case_id, file_id, division, organ, section, kind, body, summary_sealed, applied_on, received_on, reply_due,
                              replied_on, outcome, decided_on, marked_by, marked_at, overdue_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20) ON CONFLICT DO NOTHING",
    )
    .bind(r.id)
    .bind(&r.source)
    .bind(&r.relief_id)
    .bind(r.case_id)
    .bind(r.file_id)
    .bind(&r.division)
    .bind(&r.organ)
    .bind(&r.section)
    .bind(&r.kind)
    .bind(&r.body)
    .bind(&r.summary_sealed)
    .bind(r.applied_on)
    .bind(r.received_on)
    .bind(r.reply_due)
    .bind(r.replied_on)
    .bind(&r.outcome)
    .bind(r.decided_on)
    .bind(&r.marked_by)
    .bind(r.marked_at)
    .bind(r.overdue_at)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The relief of `(source, relief_id)`, locked for the change if `lock`.
pub async fn by_key(conn: &mut PgConnection, source: &str, relief_id: &str, lock: bool) -> Result<Option<ReliefRow>, Error> {
    let sql = if lock { "SELECT * FROM reliefs WHERE source = $1 AND relief_id = $2 FOR UPDATE" } else { "SELECT * FROM reliefs WHERE source = $1 AND relief_id = $2" };
    Ok(sqlx::query_as(sql).bind(source).bind(relief_id).fetch_optional(&mut *conn).await?)
}

/// The relief by its row id, locked.
pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Option<ReliefRow>, Error> {
    Ok(sqlx::query_as("SELECT * FROM reliefs WHERE id = $1 FOR UPDATE").bind(id).fetch_optional(&mut *conn).await?)
}

/// Every relief about a case, oldest first (a case file's relief list).
pub async fn of_case(conn: &mut PgConnection, case_id: Uuid) -> Result<Vec<ReliefRow>, Error> {
    Ok(sqlx::query_as("SELECT * FROM reliefs WHERE case_id = $1 ORDER BY received_on, source, relief_id").bind(case_id).fetch_all(&mut *conn).await?)
}

/// Records the outcome; `false` if it was already decided.
pub async fn decide(conn: &mut PgConnection, id: Uuid, outcome: &str, decided_on: NaiveDate) -> Result<bool, Error> {
    let done = sqlx::query("UPDATE reliefs SET outcome = $2, decided_on = $3 WHERE id = $1 AND outcome IS NULL").bind(id).bind(outcome).bind(decided_on).execute(&mut *conn).await?;
    Ok(done.rows_affected() == 1)
}

/// Notes the reply overdue; `false` if it already was.
pub async fn set_overdue(conn: &mut PgConnection, id: Uuid, at: DateTime<Utc>) -> Result<bool, Error> {
    let done = sqlx::query("UPDATE reliefs SET overdue_at = $2 WHERE id = $1 AND overdue_at IS NULL").bind(id).bind(at).execute(&mut *conn).await?;
    Ok(done.rows_affected() == 1)
}
