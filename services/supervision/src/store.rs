//! Supervision's SQL.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::migrate::Migrator;
use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_platform::Error;

pub fn migrations() -> Migrator {
    sqlx::migrate!("./migrations")
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct CardRow {
    pub id: Uuid,
    pub step: String,
    pub subject_id: String,
    pub case_id: Option<Uuid>,
    pub division: String,
    pub organ: String,
    pub section: String,
    pub opened_on: NaiveDate,
    pub deadline: NaiveDate,
    pub colour: String,
    pub closed: bool,
    pub changed_at: DateTime<Utc>,
    /// Closed: done by the deadline.
    pub met: Option<bool>,
}

/// `false` if the step of this subject already has its card.
pub async fn insert_card(conn: &mut PgConnection, c: &CardRow) -> Result<bool, Error> {
    let done = sqlx::query(
        "INSERT INTO cards (id, step, subject_id, case_id, division, organ, section, opened_on, deadline, colour, closed, changed_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) ON CONFLICT (step, subject_id) DO NOTHING",
    )
    .bind(c.id)
    .bind(&c.step)
    .bind(&c.subject_id)
    .bind(c.case_id)
    .bind(&c.division)
    .bind(&c.organ)
    .bind(&c.section)
    .bind(c.opened_on)
    .bind(c.deadline)
    .bind(&c.colour)
    .bind(c.closed)
    .bind(c.changed_at)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn update_card(conn: &mut PgConnection, c: &CardRow) -> Result<(), Error> {
    sqlx::query("UPDATE cards SET colour = $2, closed = $3, changed_at = $4, case_id = $5, met = $6 WHERE id = $1")
        .bind(c.id)
        .bind(&c.colour)
        .bind(c.closed)
        .bind(c.changed_at)
        .bind(c.case_id)
        .bind(c.met)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The card unless another transaction holds it (`Err(true)`), or gone (`Err(false)`).
pub async fn card_unless_locked(conn: &mut PgConnection, id: Uuid) -> Result<Result<CardRow, bool>, Error> {
    let row: Option<CardRow> = sqlx::query_as("SELECT * FROM cards WHERE id = $1 FOR UPDATE SKIP LOCKED").bind(id).fetch_optional(&mut *conn).await?;
    match row {
        Some(c) => Ok(Ok(c)),
        None => {
            let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM cards WHERE id = $1").bind(id).fetch_optional(&mut *conn).await?;
            Ok(Err(exists.is_some()))
        }
    }
}

pub async fn card_of(conn: &mut PgConnection, step: &str, subject_id: &str) -> Result<Option<CardRow>, Error> {
    Ok(sqlx::query_as("SELECT * FROM cards WHERE step = $1 AND subject_id = $2 FOR UPDATE").bind(step).bind(subject_id).fetch_optional(&mut *conn).await?)
}

/// Cards whose division starts with `prefix` (a county's six digits, a
/// city's four, a province's two), reddest then nearest first.
pub async fn cards(conn: &mut PgConnection, prefix: &str, colour: Option<&str>, include_closed: bool, limit: i64) -> Result<Vec<CardRow>, Error> {
    Ok(sqlx::query_as(
        "SELECT * FROM cards WHERE division LIKE $1 || '%' AND ($2::text IS NULL OR colour = $2) AND ($3 OR NOT closed)
          ORDER BY CASE colour WHEN 'red' THEN 0 WHEN 'yellow' THEN 1 ELSE 2 END, deadline, id LIMIT $4",
    )
    .bind(prefix)
    .bind(colour)
    .bind(include_closed)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}
