//! Complaints (R-SUP-6): changes, timers and the rebuild from supervision's own events.

use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_platform::timers::Timer;
use yuetan_platform::Error;
use yuetan_proto::events::Event;

use crate::State;

/// Applies supervision's own complaint events to the read model (a no-op
/// when the row is already there: live; the rebuild fills it).
pub async fn on_event(_state: &State, _conn: &mut PgConnection, _event: &Event, _event_id: Uuid) -> Result<(), Error> {
    Ok(())
}

/// Timers of kind `supervision.complaint…`.
pub async fn fire(_state: &State, _conn: &mut PgConnection, timer: &Timer) -> Result<(), Error> {
    Err(Error::Internal(format!("no complaint timer {}", timer.kind)))
}
