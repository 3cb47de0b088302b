//! Intake's PostgreSQL store (schema `intake`). So far: migrations and the
//! document number sequence.

use sqlx::migrate::Migrator;
use sqlx::PgConnection;
use yuetan_platform::Error;

/// Intake's own tables; versions from 1000 (the platform's are below).
pub fn migrations() -> Migrator {
    sqlx::migrate!("./migrations")
}

/// The next sequence number for `(organ, kind, year)`, taken inside the
/// caller's transaction (R-DOC-2): unique under concurrency, and given back
/// if the transaction rolls back, so committed numbers have no gaps.
pub async fn next_document_sequence(conn: &mut PgConnection, organ: &str, kind: &str, year: i32) -> Result<u32, Error> {
    let last: i32 = sqlx::query_scalar(
        "INSERT INTO document_counters (organ, kind, year, last) VALUES ($1, $2, $3, 1)
         ON CONFLICT (organ, kind, year) DO UPDATE SET last = document_counters.last + 1
         RETURNING last",
    )
    .bind(organ)
    .bind(kind)
    .bind(year)
    .fetch_one(&mut *conn)
    .await?;
    u32::try_from(last).map_err(|_| Error::Internal(format!("document counter {organ}/{kind}/{year} is {last}")))
}
