//! Files (clue → case) and their timeline, stage, tallies and cards from every service's events.

use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_platform::Error;
use yuetan_proto::events::Event;

use crate::State;

impl State {
    /// An event of intake, review, scheduling or rectification.
    pub async fn apply_file_event(&self, _conn: &mut PgConnection, _event: &Event, _event_id: Uuid) -> Result<(), Error> {
        Ok(())
    }

    /// Supervision's own card, roll-up, award and warning events.
    pub async fn apply_own_event(&self, _conn: &mut PgConnection, _event: &Event) -> Result<(), Error> {
        Ok(())
    }
}
