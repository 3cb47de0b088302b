//! Relief rows (R-RELIEF-2): SQL only.

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
