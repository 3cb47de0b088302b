//! SQL of sampling: the monthly draws and their scores (R-SUP-1), the
//! return visits (R-SUP-4) and the numbers of the reports (R-SUP-7).

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_platform::Error;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SampleRow {
    pub id: Uuid,
    pub division: String,
    pub section: String,
    pub month: String,
    pub seed: String,
    pub previous_digest: String,
    pub population: i32,
    pub percent: i32,
    pub drawn_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SampledFileRow {
    pub sample_id: Uuid,
    pub case_id: Uuid,
    pub number: String,
    pub scored: bool,
    pub lawful_start: Option<i32>,
    pub standard_documents: Option<i32>,
    pub timely_tracking: Option<i32>,
    pub comment: Option<String>,
    pub scored_by: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReturnVisitRow {
    pub id: Uuid,
    pub division: String,
    pub section: String,
    pub quarter: String,
    pub case_id: Uuid,
    pub number: String,
    pub assigned_to: String,
    pub done: bool,
    pub method: Option<String>,
    pub outcome: Option<String>,
    pub visited_on: Option<NaiveDate>,
}

/// `false` if the sample (or the draw of its division, section and month) is already there.
pub async fn insert_sample(conn: &mut PgConnection, s: &SampleRow) -> Result<bool, Error> {
    let done = sqlx::query(
        "INSERT INTO samples (id, division, section, month, seed, previous_digest, population, percent, drawn_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT DO NOTHING",
    )
    .bind(s.id)
    .bind(&s.division)
    .bind(&s.section)
    .bind(&s.month)
    .bind(&s.seed)
    .bind(&s.previous_digest)
    .bind(s.population)
    .bind(s.percent)
    .bind(s.drawn_at)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn insert_sampled_file(conn: &mut PgConnection, sample_id: Uuid, case_id: Uuid, number: &str) -> Result<(), Error> {
    sqlx::query("INSERT INTO sampled_files (sample_id, case_id, number) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        .bind(sample_id)
        .bind(case_id)
        .bind(number)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn sample(conn: &mut PgConnection, id: Uuid) -> Result<Option<SampleRow>, Error> {
    Ok(sqlx::query_as("SELECT * FROM samples WHERE id = $1").bind(id).fetch_optional(&mut *conn).await?)
}

/// A drawn file, locked for its score.
pub async fn sampled_file(conn: &mut PgConnection, sample_id: Uuid, case_id: Uuid) -> Result<Option<SampledFileRow>, Error> {
    Ok(sqlx::query_as("SELECT * FROM sampled_files WHERE sample_id = $1 AND case_id = $2 FOR UPDATE")
        .bind(sample_id)
        .bind(case_id)
        .fetch_optional(&mut *conn)
        .await?)
}

/// Scores a drawn file not yet scored; `false` if it was (or is not drawn).
pub async fn score_file(conn: &mut PgConnection, f: &SampledFileRow) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE sampled_files SET scored = true, lawful_start = $3, standard_documents = $4, timely_tracking = $5, comment = $6, scored_by = $7
          WHERE sample_id = $1 AND case_id = $2 AND NOT scored",
    )
    .bind(f.sample_id)
    .bind(f.case_id)
    .bind(f.lawful_start)
    .bind(f.standard_documents)
    .bind(f.timely_tracking)
    .bind(&f.comment)
    .bind(&f.scored_by)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The draws under a division prefix, of one month (or all: `None`).
pub async fn samples(conn: &mut PgConnection, prefix: &str, month: Option<&str>) -> Result<Vec<SampleRow>, Error> {
    Ok(sqlx::query_as("SELECT * FROM samples WHERE division LIKE $1 || '%' AND ($2::text IS NULL OR month = $2) ORDER BY month, division, section")
        .bind(prefix)
        .bind(month)
        .fetch_all(&mut *conn)
        .await?)
}

/// The drawn files of the samples, by sample then case id.
pub async fn files_of_samples(conn: &mut PgConnection, ids: &[Uuid]) -> Result<Vec<SampledFileRow>, Error> {
    Ok(sqlx::query_as("SELECT * FROM sampled_files WHERE sample_id = ANY($1) ORDER BY sample_id, case_id").bind(ids).fetch_all(&mut *conn).await?)
}

/// The digest of the last daily roll-up before `day` ("" if none).
pub async fn digest_before(conn: &mut PgConnection, day: NaiveDate) -> Result<String, Error> {
    let digest: Option<String> = sqlx::query_scalar("SELECT digest FROM rollup_days WHERE day < $1 ORDER BY day DESC LIMIT 1").bind(day).fetch_optional(&mut *conn).await?;
    Ok(digest.unwrap_or_default())
}

/// The number of a case's file (`None`: no file of that case).
pub async fn number_of_case(conn: &mut PgConnection, case_id: Uuid) -> Result<Option<String>, Error> {
    Ok(sqlx::query_scalar("SELECT number FROM files WHERE case_id = $1").bind(case_id).fetch_optional(&mut *conn).await?)
}

/// The case ids of a division's section closed within `from..=to` (the
/// population of a draw, recomputed to verify it).
pub async fn closed_case_ids(conn: &mut PgConnection, division: &str, section: &str, from: NaiveDate, to: NaiveDate) -> Result<Vec<Uuid>, Error> {
    Ok(sqlx::query_scalar("SELECT case_id FROM files WHERE division = $1 AND section = $2 AND closed_on BETWEEN $3 AND $4 AND case_id IS NOT NULL ORDER BY case_id")
        .bind(division)
        .bind(section)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *conn)
        .await?)
}

/// `false` if the visit (or the quarter's visit of that case) is already there.
pub async fn insert_return_visit(conn: &mut PgConnection, v: &ReturnVisitRow) -> Result<bool, Error> {
    let done = sqlx::query(
        "INSERT INTO return_visits (id, division, section, quarter, case_id, number, assigned_to, done, method, outcome, visited_on)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) ON CONFLICT DO NOTHING",
    )
    .bind(v.id)
    .bind(&v.division)
    .bind(&v.section)
    .bind(&v.quarter)
    .bind(v.case_id)
    .bind(&v.number)
    .bind(&v.assigned_to)
    .bind(v.done)
    .bind(&v.method)
    .bind(&v.outcome)
    .bind(v.visited_on)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether a quarter's visits of a division were drawn.
pub async fn visits_drawn(conn: &mut PgConnection, division: &str, quarter: &str) -> Result<bool, Error> {
    let n: Option<i32> = sqlx::query_scalar("SELECT 1 FROM return_visits WHERE division = $1 AND quarter = $2 LIMIT 1").bind(division).bind(quarter).fetch_optional(&mut *conn).await?;
    Ok(n.is_some())
}

pub async fn return_visit(conn: &mut PgConnection, id: Uuid, lock: bool) -> Result<Option<ReturnVisitRow>, Error> {
    let sql = if lock { "SELECT * FROM return_visits WHERE id = $1 FOR UPDATE" } else { "SELECT * FROM return_visits WHERE id = $1" };
    Ok(sqlx::query_as(sql).bind(id).fetch_optional(&mut *conn).await?)
}

/// Records a visit not yet done; `false` if it was.
pub async fn record_visit(conn: &mut PgConnection, id: Uuid, method: &str, outcome: &str, visited_on: NaiveDate) -> Result<bool, Error> {
    let done = sqlx::query("UPDATE return_visits SET done = true, method = $2, outcome = $3, visited_on = $4 WHERE id = $1 AND NOT done")
        .bind(id)
        .bind(method)
        .bind(outcome)
        .bind(visited_on)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The return visits under a division prefix, of one quarter (or all).
pub async fn return_visits(conn: &mut PgConnection, prefix: &str, quarter: Option<&str>) -> Result<Vec<ReturnVisitRow>, Error> {
    Ok(sqlx::query_as("SELECT * FROM return_visits WHERE division LIKE $1 || '%' AND ($2::text IS NULL OR quarter = $2) ORDER BY quarter, division, section, case_id")
        .bind(prefix)
        .bind(quarter)
        .fetch_all(&mut *conn)
        .await?)
}

/// A report's tally of draws per division and section for some months.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SampleTally {
    pub division: String,
    pub section: String,
    pub population: i64,
    pub drawn: i64,
    pub scored: i64,
    /// Sum of the three points of the scored files.
    pub points: i64,
}

pub async fn sample_tallies(conn: &mut PgConnection, prefix: &str, months: &[String]) -> Result<Vec<SampleTally>, Error> {
    Ok(sqlx::query_as(
        "SELECT s.division, s.section, sum(s.population)::bigint AS population,
                coalesce(sum(f.drawn), 0)::bigint AS drawn, coalesce(sum(f.scored), 0)::bigint AS scored, coalesce(sum(f.points), 0)::bigint AS points
           FROM samples s
           LEFT JOIN (SELECT sample_id, count(*) AS drawn, count(*) FILTER (WHERE scored) AS scored,
                             sum(coalesce(lawful_start, 0) + coalesce(standard_documents, 0) + coalesce(timely_tracking, 0)) AS points
                        FROM sampled_files GROUP BY sample_id) f ON f.sample_id = s.id
          WHERE s.division LIKE $1 || '%' AND s.month = ANY($2)
          GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .bind(prefix)
    .bind(months)
    .fetch_all(&mut *conn)
    .await?)
}

/// Complaints registered in `from..=to` per division: registered, decided, upheld.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ComplaintTally {
    pub division: String,
    pub registered: i64,
    pub decided: i64,
    pub upheld: i64,
}

pub async fn complaint_tallies(conn: &mut PgConnection, prefix: &str, from: NaiveDate, to: NaiveDate) -> Result<Vec<ComplaintTally>, Error> {
    Ok(sqlx::query_as(
        "SELECT division, count(*)::bigint AS registered, count(decision)::bigint AS decided,
                count(*) FILTER (WHERE decision = 'upheld')::bigint AS upheld
           FROM complaints WHERE division LIKE $1 || '%' AND registered_on BETWEEN $2 AND $3 GROUP BY 1 ORDER BY 1",
    )
    .bind(prefix)
    .bind(from)
    .bind(to)
    .fetch_all(&mut *conn)
    .await?)
}

/// Ratings received in some months ("2026-09") per division.
pub async fn rating_counts(conn: &mut PgConnection, prefix: &str, months: &[String]) -> Result<Vec<(String, i64)>, Error> {
    Ok(sqlx::query_as("SELECT division, count(*)::bigint FROM ratings WHERE division LIKE $1 || '%' AND month = ANY($2) GROUP BY 1 ORDER BY 1")
        .bind(prefix)
        .bind(months)
        .fetch_all(&mut *conn)
        .await?)
}

/// Return visits of some quarters per division: drawn, done.
pub async fn visit_counts(conn: &mut PgConnection, prefix: &str, quarters: &[String]) -> Result<Vec<(String, i64, i64)>, Error> {
    Ok(sqlx::query_as("SELECT division, count(*)::bigint, count(*) FILTER (WHERE done)::bigint FROM return_visits WHERE division LIKE $1 || '%' AND quarter = ANY($2) GROUP BY 1 ORDER BY 1")
        .bind(prefix)
        .bind(quarters)
        .fetch_all(&mut *conn)
        .await?)
}
