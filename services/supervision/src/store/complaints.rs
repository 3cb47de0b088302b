//! SQL of complaints (R-SUP-6).

use chrono::NaiveDate;
use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_platform::Error;

/// A complaint against an officer (`complaints`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ComplaintRow {
    pub id: Uuid,
    pub division: String,
    pub organ: String,
    pub section: String,
    pub officer_id: String,
    pub case_id: Option<Uuid>,
    pub kind: String,
    pub description_sealed: Vec<u8>,
    pub source: String,
    pub status: String,
    pub registered_by: String,
    pub registered_on: NaiveDate,
    pub investigation_deadline: NaiveDate,
    pub started_on: Option<NaiveDate>,
    pub decision: Option<String>,
    pub reasons: Option<String>,
    pub decided_by: Option<String>,
    pub decided_on: Option<NaiveDate>,
    pub appeal_deadline: Option<NaiveDate>,
    pub appeal_reasons: Option<String>,
    pub appealed_on: Option<NaiveDate>,
}

/// `false` if a complaint with this id is there already.
pub async fn insert(conn: &mut PgConnection, c: &ComplaintRow) -> Result<bool, Error> {
    let done = sqlx::query(
        "INSERT INTO complaints (id, division, organ, section, officer_id, case_id, kind, description_sealed, source, status,
                                 registered_by, registered_on, investigation_deadline, started_on, decision, reasons, decided_by,
                                 decided_on, appeal_deadline, appeal_reasons, appealed_on)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21) ON CONFLICT (id) DO NOTHING",
    )
    .bind(c.id)
    .bind(&c.division)
    .bind(&c.organ)
    .bind(&c.section)
    .bind(&c.officer_id)
    .bind(c.case_id)
    .bind(&c.kind)
    .bind(&c.description_sealed)
    .bind(&c.source)
    .bind(&c.status)
    .bind(&c.registered_by)
    .bind(c.registered_on)
    .bind(c.investigation_deadline)
    .bind(c.started_on)
    .bind(&c.decision)
    .bind(&c.reasons)
    .bind(&c.decided_by)
    .bind(c.decided_on)
    .bind(c.appeal_deadline)
    .bind(&c.appeal_reasons)
    .bind(c.appealed_on)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The complaint, locked for the change if `lock`.
pub async fn get(conn: &mut PgConnection, id: Uuid, lock: bool) -> Result<Option<ComplaintRow>, Error> {
    let sql = if lock { "SELECT * FROM complaints WHERE id = $1 FOR UPDATE" } else { "SELECT * FROM complaints WHERE id = $1" };
    Ok(sqlx::query_as(sql).bind(id).fetch_optional(&mut *conn).await?)
}

/// Writes the complaint's changing columns (status, start, decision, appeal).
pub async fn update(conn: &mut PgConnection, c: &ComplaintRow) -> Result<(), Error> {
    sqlx::query(
        "UPDATE complaints SET status = $2, started_on = $3, decision = $4, reasons = $5, decided_by = $6, decided_on = $7,
                appeal_deadline = $8, appeal_reasons = $9, appealed_on = $10 WHERE id = $1",
    )
    .bind(c.id)
    .bind(&c.status)
    .bind(c.started_on)
    .bind(&c.decision)
    .bind(&c.reasons)
    .bind(&c.decided_by)
    .bind(c.decided_on)
    .bind(c.appeal_deadline)
    .bind(&c.appeal_reasons)
    .bind(c.appealed_on)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Complaints whose division starts with `prefix` (a county's six digits, a
/// city's four, a province's two), of one status or all, newest first.
pub async fn list(conn: &mut PgConnection, prefix: &str, status: Option<&str>, limit: i64) -> Result<Vec<ComplaintRow>, Error> {
    Ok(sqlx::query_as(
        "SELECT * FROM complaints WHERE division LIKE $1 || '%' AND ($2::text IS NULL OR status = $2)
          ORDER BY registered_on DESC, id DESC LIMIT $3",
    )
    .bind(prefix)
    .bind(status)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}
