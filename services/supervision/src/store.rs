//! Supervision's SQL.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use sqlx::migrate::Migrator;
use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_platform::Error;

pub mod complaints;
pub mod ratings;
pub mod sampling;

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

/// The month of the live gauges in `tallies` (open cases by stage, open cards by colour).
pub fn live() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("a date")
}

/// The first day of `day`'s month: the month key of `tallies`.
pub fn month_of(day: NaiveDate) -> NaiveDate {
    NaiveDate::from_ymd_opt(day.year(), day.month(), 1).expect("a month")
}

/// Adds `n` to a board counter (`metric` of [`crate::domain::metric`]) in the
/// caller's transaction: an appended delta, folded later by [`fold_tallies`].
pub async fn add_tally(conn: &mut PgConnection, division: &str, section: &str, month: NaiveDate, metric: &str, n: i64) -> Result<(), Error> {
    if n == 0 {
        return Ok(());
    }
    sqlx::query("INSERT INTO tally_deltas (division, section, month, metric, n) VALUES ($1, $2, $3, $4, $5)")
        .bind(division)
        .bind(section)
        .bind(month)
        .bind(metric)
        .bind(n)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Moves the committed deltas into `tallies`, in one statement (one
/// folder at a time: a transaction-level advisory lock). Returns how many.
pub async fn fold_tallies(pool: &sqlx::PgPool) -> Result<u64, Error> {
    let mut tx = pool.begin().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtext('supervision.fold'))").fetch_one(&mut *tx).await?;
    if !locked {
        return Ok(0);
    }
    let moved: i64 = sqlx::query_scalar(
        "WITH moved AS (DELETE FROM tally_deltas RETURNING division, section, month, metric, n),
              summed AS (SELECT division, section, month, metric, sum(n)::bigint AS n FROM moved GROUP BY 1, 2, 3, 4),
              done AS (INSERT INTO tallies (division, section, month, metric, n) SELECT * FROM summed
                       ON CONFLICT (division, section, month, metric) DO UPDATE SET n = tallies.n + EXCLUDED.n RETURNING 1)
         SELECT count(*) FROM moved",
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(moved as u64)
}

/// One summed counter of [`tally_sums`].
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TallySum {
    pub division: String,
    pub section: String,
    pub metric: String,
    pub n: i64,
}

/// The counters of every division under `prefix` for the months
/// `from..=to` (use [`live`] for both to read the gauges), folded or not.
pub async fn tally_sums(conn: &mut PgConnection, prefix: &str, from: NaiveDate, to: NaiveDate) -> Result<Vec<TallySum>, Error> {
    Ok(sqlx::query_as(
        "SELECT division, section, metric, sum(n)::bigint AS n FROM (
             SELECT division, section, metric, n FROM tallies WHERE division LIKE $1 || '%' AND month BETWEEN $2 AND $3
             UNION ALL
             SELECT division, section, metric, n FROM tally_deltas WHERE division LIKE $1 || '%' AND month BETWEEN $2 AND $3
         ) t GROUP BY 1, 2, 3",
    )
    .bind(prefix)
    .bind(from)
    .bind(to)
    .fetch_all(&mut *conn)
    .await?)
}

/// A file: a clue and, once verified, its case (`files`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FileRow {
    pub id: Uuid,
    pub case_id: Option<Uuid>,
    pub number: String,
    pub division: String,
    pub organ: String,
    pub section: String,
    pub urgent: bool,
    pub major: bool,
    pub stage: String,
    pub outcome: Option<String>,
    pub received_on: Option<NaiveDate>,
    pub opened_on: NaiveDate,
    pub approved_on: Option<NaiveDate>,
    pub closed_on: Option<NaiveDate>,
    pub interviewers: Vec<String>,
    pub updated_at: DateTime<Utc>,
}

/// The file of a case, locked for the change if `lock`.
pub async fn file_of_case(conn: &mut PgConnection, case_id: Uuid, lock: bool) -> Result<Option<FileRow>, Error> {
    let sql = if lock { "SELECT * FROM files WHERE case_id = $1 FOR UPDATE" } else { "SELECT * FROM files WHERE case_id = $1" };
    Ok(sqlx::query_as(sql).bind(case_id).fetch_optional(&mut *conn).await?)
}

/// Closed files of a division prefix and section closed within `from..=to`
/// (the monthly draw's and the return visits' population), by case id.
pub async fn closed_files(conn: &mut PgConnection, prefix: &str, from: NaiveDate, to: NaiveDate) -> Result<Vec<FileRow>, Error> {
    Ok(sqlx::query_as(
        "SELECT * FROM files WHERE closed_on BETWEEN $2 AND $3 AND division LIKE $1 || '%' AND case_id IS NOT NULL ORDER BY case_id",
    )
    .bind(prefix)
    .bind(from)
    .bind(to)
    .fetch_all(&mut *conn)
    .await?)
}

/// Open cards of a step for a case, locked.
pub async fn open_cards_of_case(conn: &mut PgConnection, step: &str, case_id: Uuid) -> Result<Vec<CardRow>, Error> {
    Ok(sqlx::query_as("SELECT * FROM cards WHERE case_id = $1 AND step = $2 AND NOT closed ORDER BY id FOR UPDATE").bind(case_id).bind(step).fetch_all(&mut *conn).await?)
}

/// One more red card in a row for the section this year; the run's length.
pub async fn add_red_run(conn: &mut PgConnection, division: &str, section: &str, year: i32) -> Result<i32, Error> {
    Ok(sqlx::query_scalar(
        "INSERT INTO section_years (division, section, year, red_run) VALUES ($1, $2, $3, 1)
         ON CONFLICT (division, section, year) DO UPDATE SET red_run = section_years.red_run + 1 RETURNING red_run",
    )
    .bind(division)
    .bind(section)
    .bind(year)
    .fetch_one(&mut *conn)
    .await?)
}

/// A step done in time ends the section's run of red cards.
pub async fn reset_red_run(conn: &mut PgConnection, division: &str, section: &str, year: i32) -> Result<(), Error> {
    sqlx::query("UPDATE section_years SET red_run = 0 WHERE division = $1 AND section = $2 AND year = $3 AND red_run <> 0").bind(division).bind(section).bind(year).execute(&mut *conn).await?;
    Ok(())
}

/// Marks the section's award lost for the year; `false` if it already was.
pub async fn lose_award(conn: &mut PgConnection, division: &str, section: &str, year: i32) -> Result<bool, Error> {
    let done = sqlx::query(
        "INSERT INTO section_years (division, section, year, award_lost) VALUES ($1, $2, $3, true)
         ON CONFLICT (division, section, year) DO UPDATE SET award_lost = true WHERE NOT section_years.award_lost",
    )
    .bind(division)
    .bind(section)
    .bind(year)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
