//! Closing and archiving (R-DOC-3), retention and destruction (R-DOC-4).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_platform::timers::Timer;
use yuetan_platform::Error;
use yuetan_proto::events::Event;

use crate::store::FileRow;
use crate::State;

/// A file has just closed (its row as it will be written, in the
/// consumer's transaction): `supervision.case_closed`, the archive card and timer.
pub async fn file_closed(state: &State, conn: &mut PgConnection, file: &FileRow, now: DateTime<Utc>) -> Result<(), Error> {
    let _ = (state, conn, file, now);
    Ok(())
}

/// Supervision's own archive events (a rebuild writes their rows) and any
/// other service's event that names a document of a file.
pub async fn on_event(state: &State, conn: &mut PgConnection, event: &Event, id: Uuid) -> Result<(), Error> {
    let _ = (state, conn, event, id);
    Ok(())
}

/// Timers of kind `supervision.archive*`.
pub async fn fire(state: &State, conn: &mut PgConnection, timer: &Timer) -> Result<(), Error> {
    let _ = (state, conn, timer);
    Ok(())
}
