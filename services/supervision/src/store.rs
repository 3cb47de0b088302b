//! Supervision's SQL.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use sqlx::migrate::Migrator;
use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_platform::Error;

pub mod archive;
pub mod complaints;
pub mod ratings;
pub mod relief;
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

/// A filter of [`cards`].
#[derive(Debug, Clone, Default)]
pub struct CardFilter<'a> {
    pub colour: Option<&'a str>,
    pub include_closed: bool,
    pub step: Option<&'a str>,
    pub section: Option<&'a str>,
    pub case_id: Option<Uuid>,
}

/// Cards whose division starts with `prefix` (a county's six digits, a
/// city's four, a province's two), reddest then nearest first.
pub async fn cards(conn: &mut PgConnection, prefix: &str, f: &CardFilter<'_>, limit: i64) -> Result<Vec<CardRow>, Error> {
    Ok(sqlx::query_as(
        "SELECT * FROM cards WHERE division LIKE $1 || '%' AND ($2::text IS NULL OR colour = $2) AND ($3 OR NOT closed)
            AND ($5::text IS NULL OR step = $5) AND ($6::text IS NULL OR section = $6) AND ($7::uuid IS NULL OR case_id = $7)
          ORDER BY CASE colour WHEN 'red' THEN 0 WHEN 'yellow' THEN 1 ELSE 2 END, deadline, id LIMIT $4",
    )
    .bind(prefix)
    .bind(f.colour)
    .bind(f.include_closed)
    .bind(limit)
    .bind(f.step)
    .bind(f.section)
    .bind(f.case_id)
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
    let moved: i64 = sqlx::query_scalar(&format!(
        "WITH moved AS (DELETE FROM tally_deltas RETURNING division, section, month, metric, n),
              summed AS (SELECT division, section, month, metric, sum(n)::bigint AS n FROM moved GROUP BY 1, 2, 3, 4),
              done AS (INSERT INTO tallies (division, section, month, metric, n) SELECT * FROM summed
                       ON CONFLICT (division, section, month, metric) DO UPDATE SET n = tallies.n + EXCLUDED.n RETURNING 1),
              units AS (INSERT INTO tally_units (level, division, month, metric, n) {}
                        ON CONFLICT (level, division, month, metric) DO UPDATE SET n = tally_units.n + EXCLUDED.n RETURNING 1)
         SELECT count(*) FROM moved",
        units_of("summed")
    ))
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(moved as u64)
}

/// The rows of `tally_units` from counters in `source` (division, month,
/// metric, n): each county's, city's and province's sums over the sections.
fn units_of(source: &str) -> String {
    format!(
        "SELECT level, division, month, metric, sum(n)::bigint FROM (
             SELECT 'county' AS level, division, month, metric, n FROM {source}
             UNION ALL SELECT 'city', left(division, 4) || '00', month, metric, n FROM {source}
             UNION ALL SELECT 'province', left(division, 2) || '0000', month, metric, n FROM {source}
         ) u GROUP BY 1, 2, 3, 4"
    )
}

/// Recomputes `tally_units` from `tallies` (after a bulk load that wrote
/// `tallies` directly, e.g. the generator), in the caller's transaction.
pub async fn refresh_units(conn: &mut PgConnection) -> Result<(), Error> {
    sqlx::query("DELETE FROM tally_units").execute(&mut *conn).await?;
    sqlx::query(&format!("INSERT INTO tally_units (level, division, month, metric, n) {}", units_of("tallies"))).execute(&mut *conn).await?;
    Ok(())
}

/// The folded counters of the units of one level (`county`, `city`,
/// `province`) whose code starts with `prefix`, for the months
/// `from..=to`, summed per unit and metric (`section` empty).
pub async fn unit_sums(conn: &mut PgConnection, level: &str, prefix: &str, from: NaiveDate, to: NaiveDate) -> Result<Vec<TallySum>, Error> {
    Ok(sqlx::query_as(
        "SELECT division, '' AS section, metric, sum(n)::bigint AS n FROM tally_units
          WHERE level = $1 AND division BETWEEN $2 AND $5 AND month BETWEEN $3 AND $4 GROUP BY 1, 3",
    )
    .bind(level)
    .bind(code_bounds(prefix).0)
    .bind(from)
    .bind(to)
    .bind(code_bounds(prefix).1)
    .fetch_all(&mut *conn)
    .await?)
}

/// The lowest and highest six-digit codes starting with `prefix` (a range
/// the primary keys serve, whatever the collation: codes are digits of one length).
pub fn code_bounds(prefix: &str) -> (String, String) {
    (format!("{prefix:0<6}"), format!("{prefix:9<6}"))
}

/// The folded counters of one county per section, for the months `from..=to`.
pub async fn section_sums(conn: &mut PgConnection, county: &str, from: NaiveDate, to: NaiveDate) -> Result<Vec<TallySum>, Error> {
    Ok(sqlx::query_as("SELECT division, section, metric, sum(n)::bigint AS n FROM tallies WHERE division = $1 AND month BETWEEN $2 AND $3 GROUP BY 1, 2, 3")
        .bind(county)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *conn)
        .await?)
}

/// The deltas not folded yet under `prefix`, for the months `from..=to`.
pub async fn delta_sums(conn: &mut PgConnection, prefix: &str, from: NaiveDate, to: NaiveDate) -> Result<Vec<TallySum>, Error> {
    Ok(sqlx::query_as(
        "SELECT division, section, metric, sum(n)::bigint AS n FROM tally_deltas WHERE division BETWEEN $1 AND $4 AND month BETWEEN $2 AND $3 GROUP BY 1, 2, 3",
    )
    .bind(code_bounds(prefix).0)
    .bind(from)
    .bind(to)
    .bind(code_bounds(prefix).1)
    .fetch_all(&mut *conn)
    .await?)
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
    /// Organ codes of the joint case's co-departments.
    pub co_departments: Vec<String>,
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

/// A file by its id (the clue id), locked for the change.
pub async fn file(conn: &mut PgConnection, id: Uuid) -> Result<Option<FileRow>, Error> {
    Ok(sqlx::query_as("SELECT * FROM files WHERE id = $1 FOR UPDATE").bind(id).fetch_optional(&mut *conn).await?)
}

/// Inserts a new file; `false` if it exists.
pub async fn insert_file(conn: &mut PgConnection, f: &FileRow) -> Result<bool, Error> {
    let done = sqlx::query(
        "INSERT INTO files (id, case_id, number, division, organ, section, urgent, major, stage, outcome, received_on, opened_on, approved_on, closed_on, interviewers, updated_at, co_departments)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17) ON CONFLICT (id) DO NOTHING",
    )
    .bind(f.id)
    .bind(f.case_id)
    .bind(&f.number)
    .bind(&f.division)
    .bind(&f.organ)
    .bind(&f.section)
    .bind(f.urgent)
    .bind(f.major)
    .bind(&f.stage)
    .bind(&f.outcome)
    .bind(f.received_on)
    .bind(f.opened_on)
    .bind(f.approved_on)
    .bind(f.closed_on)
    .bind(&f.interviewers)
    .bind(f.updated_at)
    .bind(&f.co_departments)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn update_file(conn: &mut PgConnection, f: &FileRow) -> Result<(), Error> {
    sqlx::query(
        "UPDATE files SET case_id = $2, number = $3, section = $4, urgent = $5, major = $6, stage = $7, outcome = $8, approved_on = $9, closed_on = $10,
                interviewers = $11, updated_at = $12, organ = $13, co_departments = $14 WHERE id = $1",
    )
    .bind(f.id)
    .bind(f.case_id)
    .bind(&f.number)
    .bind(&f.section)
    .bind(f.urgent)
    .bind(f.major)
    .bind(&f.stage)
    .bind(&f.outcome)
    .bind(f.approved_on)
    .bind(f.closed_on)
    .bind(&f.interviewers)
    .bind(f.updated_at)
    .bind(&f.organ)
    .bind(&f.co_departments)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One line of a file's timeline.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TimelineRow {
    pub event_id: Uuid,
    pub file_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub event_type: String,
    pub actor: String,
    pub actor_name: String,
    pub summary: String,
    pub deadline: Option<NaiveDate>,
    pub met: Option<bool>,
}

pub async fn insert_timeline(conn: &mut PgConnection, t: &TimelineRow) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO timeline (event_id, file_id, occurred_at, event_type, actor, actor_name, summary, deadline, met)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(t.event_id)
    .bind(t.file_id)
    .bind(t.occurred_at)
    .bind(&t.event_type)
    .bind(&t.actor)
    .bind(&t.actor_name)
    .bind(&t.summary)
    .bind(t.deadline)
    .bind(t.met)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn timeline(conn: &mut PgConnection, file_id: Uuid) -> Result<Vec<TimelineRow>, Error> {
    Ok(sqlx::query_as("SELECT * FROM timeline WHERE file_id = $1 ORDER BY occurred_at, event_id").bind(file_id).fetch_all(&mut *conn).await?)
}

/// Has the file an earlier timeline entry of this type?
pub async fn has_entry(conn: &mut PgConnection, file_id: Uuid, event_type: &str) -> Result<bool, Error> {
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM timeline WHERE file_id = $1 AND event_type = $2 LIMIT 1").bind(file_id).bind(event_type).fetch_optional(&mut *conn).await?;
    Ok(found.is_some())
}

/// Moves an open card's deadline (an approved extension): colour as of
/// `today`, the caller reschedules its timers.
pub async fn set_card_deadline(conn: &mut PgConnection, id: Uuid, deadline: NaiveDate, colour: &str, at: DateTime<Utc>) -> Result<(), Error> {
    sqlx::query("UPDATE cards SET deadline = $2, colour = $3, changed_at = $4 WHERE id = $1").bind(id).bind(deadline).bind(colour).bind(at).execute(&mut *conn).await?;
    Ok(())
}

/// R-SUP-2: a section's warning for a month (once).
pub async fn insert_warning(conn: &mut PgConnection, division: &str, section: &str, month: &str, scores: &[f64], baseline: f64) -> Result<bool, Error> {
    let done = sqlx::query("INSERT INTO warnings (division, section, month, scores, baseline) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING")
        .bind(division)
        .bind(section)
        .bind(month)
        .bind(scores)
        .bind(baseline)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The live gauges summed per division (open files by stage, open cards by colour).
pub async fn gauges_by_division(conn: &mut PgConnection) -> Result<Vec<TallySum>, Error> {
    Ok(sqlx::query_as(
        "SELECT division, '' AS section, metric, sum(n)::bigint AS n FROM (
             SELECT division, metric, n FROM tallies WHERE month = '1970-01-01'
             UNION ALL SELECT division, metric, n FROM tally_deltas WHERE month = '1970-01-01'
         ) t GROUP BY 1, 3",
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// Per division: files opened and closed on `day`.
pub async fn files_of_day(conn: &mut PgConnection, day: NaiveDate) -> Result<Vec<(String, i64, i64)>, Error> {
    Ok(sqlx::query_as(
        "SELECT division, sum(new)::bigint, sum(closed)::bigint FROM (
             SELECT division, count(*) AS new, 0 AS closed FROM files WHERE opened_on = $1 GROUP BY division
             UNION ALL SELECT division, 0, count(*) FROM files WHERE closed_on = $1 GROUP BY division
         ) t GROUP BY division",
    )
    .bind(day)
    .fetch_all(&mut *conn)
    .await?)
}

/// The stored lines of a day's roll-up under `prefix` (`None`: no roll-up that day).
pub async fn rollup_lines(conn: &mut PgConnection, day: NaiveDate, prefix: &str) -> Result<Option<Vec<crate::flow::rollup::Line>>, Error> {
    if rollup_digest(conn, day).await?.is_none() {
        return Ok(None);
    }
    let rows: Vec<sqlx::types::Json<crate::flow::rollup::Line>> =
        sqlx::query_scalar("SELECT line FROM rollups WHERE day = $1 AND division LIKE $2 || '%' ORDER BY division").bind(day).bind(prefix).fetch_all(&mut *conn).await?;
    Ok(Some(rows.into_iter().map(|j| j.0).collect()))
}

pub async fn rollup_digest(conn: &mut PgConnection, day: NaiveDate) -> Result<Option<String>, Error> {
    Ok(sqlx::query_scalar("SELECT digest FROM rollup_days WHERE day = $1").bind(day).fetch_optional(&mut *conn).await?)
}

/// When the day's roll-up was made.
pub async fn rollup_made_at(conn: &mut PgConnection, day: NaiveDate) -> Result<Option<DateTime<Utc>>, Error> {
    Ok(sqlx::query_scalar("SELECT made_at FROM rollup_days WHERE day = $1").bind(day).fetch_optional(&mut *conn).await?)
}

pub async fn insert_rollup(conn: &mut PgConnection, day: NaiveDate, lines: &[crate::flow::rollup::Line], digest: &str, at: DateTime<Utc>) -> Result<(), Error> {
    sqlx::query("INSERT INTO rollup_days (day, digest, made_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING").bind(day).bind(digest).bind(at).execute(&mut *conn).await?;
    for l in lines {
        sqlx::query("INSERT INTO rollups (day, division, line) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(day)
            .bind(&l.division)
            .bind(sqlx::types::Json(l))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Per section under `prefix`: award lost in a year of the period, warned in a month of it.
pub async fn section_flags(conn: &mut PgConnection, prefix: &str, year_from: i32, year_to: i32, month_from: &str, month_to: &str) -> Result<Vec<(String, String, bool, bool)>, Error> {
    Ok(sqlx::query_as(
        "SELECT division, section, bool_or(award_lost), bool_or(warned) FROM (
             SELECT division, section, award_lost, false AS warned FROM section_years WHERE division LIKE $1 || '%' AND year BETWEEN $2 AND $3 AND award_lost
             UNION ALL SELECT division, section, false, true FROM warnings WHERE division LIKE $1 || '%' AND month BETWEEN $4 AND $5
         ) f GROUP BY 1, 2",
    )
    .bind(prefix)
    .bind(year_from)
    .bind(year_to)
    .bind(month_from)
    .bind(month_to)
    .fetch_all(&mut *conn)
    .await?)
}
