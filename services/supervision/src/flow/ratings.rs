//! Ratings (R-SUP-4): the portal's rating and: changes, timers and the rebuild from supervision's own events.

use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_platform::timers::Timer;
use yuetan_platform::Error;
use yuetan_proto::events::Event;

use crate::State;

/// Applies supervision's own rating events (and portal.rating_submitted) to the read model (a no-op
/// when the row is already there: live; the rebuild fills it).
pub async fn on_event(_state: &State, _conn: &mut PgConnection, _event: &Event, _event_id: Uuid) -> Result<(), Error> {
    Ok(())
}

/// Timers of kind `supervision.rating…`.
pub async fn fire(_state: &State, _conn: &mut PgConnection, timer: &Timer) -> Result<(), Error> {
    Err(Error::Internal(format!("no rating timer {}", timer.kind)))
}
