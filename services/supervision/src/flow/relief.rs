//! Relief (R-RELIEF-1, R-RELIEF-2): reconsideration applications and
//! lawsuits told by outside systems; the mark, the reply card and timer,
//! the outcome on the board.

use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_platform::timers::Timer;
use yuetan_platform::Error;
use yuetan_proto::events::Event;

use crate::State;

/// `relief.*` events from outside systems, and supervision's own relief
/// events (a rebuild writes their rows).
pub async fn on_event(state: &State, conn: &mut PgConnection, event: &Event, id: Uuid) -> Result<(), Error> {
    let _ = (state, conn, event, id);
    Ok(())
}

/// Timers of kind `supervision.relief*`.
pub async fn fire(state: &State, conn: &mut PgConnection, timer: &Timer) -> Result<(), Error> {
    let _ = (state, conn, timer);
    Ok(())
}
