//! SQL of ratings (R-SUP-4). A row holds no party and no case in the clear:
//! the case id is sealed (opened only for the provincial discipline inspector).

use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_platform::Error;

/// One rating (`ratings`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RatingRow {
    pub id: Uuid,
    pub division: String,
    pub section: String,
    /// "2026-09".
    pub month: String,
    pub interviewers: Vec<String>,
    pub attitude: i32,
    pub professionalism: i32,
    pub communication: i32,
    pub comment_sealed: Option<Vec<u8>>,
    pub case_sealed: Vec<u8>,
    /// The case's keyed hash: one rating per case.
    pub case_hash: Option<Vec<u8>>,
}

/// `false` if the rating is there already, or one of its case.
pub async fn insert(conn: &mut PgConnection, r: &RatingRow) -> Result<bool, Error> {
    let done = sqlx::query(
        "INSERT INTO ratings (id, division, section, month, interviewers, attitude, professionalism, communication, comment_sealed, case_sealed, case_hash)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) ON CONFLICT DO NOTHING",
    )
    .bind(r.id)
    .bind(&r.division)
    .bind(&r.section)
    .bind(&r.month)
    .bind(&r.interviewers)
    .bind(r.attitude)
    .bind(r.professionalism)
    .bind(r.communication)
    .bind(&r.comment_sealed)
    .bind(&r.case_sealed)
    .bind(&r.case_hash)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ratings whose division starts with `prefix`, of the given months (all
/// with `None`), by month then id (an id says nothing of when it was given).
pub async fn list(conn: &mut PgConnection, prefix: &str, months: Option<&[String]>, limit: i64) -> Result<Vec<RatingRow>, Error> {
    Ok(sqlx::query_as(
        "SELECT * FROM ratings WHERE division LIKE $1 || '%' AND ($2::text[] IS NULL OR month = ANY($2))
          ORDER BY month DESC, id LIMIT $3",
    )
    .bind(prefix)
    .bind(months)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}
