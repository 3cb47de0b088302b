//! Supervision's consumer (`supervision-events`): so far intake's clue
//! events (the clue-verification card). Applied once (the platform's inbox).

use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_platform::consumer::{Delivery, Handler, HandlerError};
use yuetan_platform::fields::{cst_date, from_timestamp};
use yuetan_proto::events::event::Payload;

use crate::flow::CLUE_VERIFICATION;
use crate::State;

#[derive(Debug, Clone)]
pub struct SupervisionEvents {
    pub state: std::sync::Arc<State>,
}

impl SupervisionEvents {
    async fn apply(&self, conn: &mut PgConnection, delivery: &Delivery) -> Result<(), HandlerError> {
        let event = &delivery.event;
        let now = self.state.clock.now();
        match &event.payload {
            Some(Payload::ClueRegistered(clue)) => {
                let Some(deadline) = clue.verification_deadline.as_ref().and_then(|d| d.iso.parse().ok()) else { return Ok(()) };
                let opened = clue
                    .received_on
                    .as_ref()
                    .and_then(|d| d.iso.parse().ok())
                    .unwrap_or_else(|| cst_date(from_timestamp(event.occurred_at.as_ref()).unwrap_or(now)));
                self.state.open_card(conn, CLUE_VERIFICATION, &clue.clue_id, &event.jurisdiction, &event.organ, &clue.section, opened, deadline, now).await?;
            }
            Some(Payload::ClueVerified(v)) => {
                self.state.close_card(conn, CLUE_VERIFICATION, &v.clue_id, Uuid::parse_str(&v.case_id).ok(), now).await?;
            }
            Some(Payload::ClueExcluded(x)) => {
                self.state.close_card(conn, CLUE_VERIFICATION, &x.clue_id, Uuid::parse_str(&x.case_id).ok(), now).await?;
            }
            _ => {}
        }
        Ok(())
    }
}

impl Handler for SupervisionEvents {
    async fn handle(&self, conn: &mut PgConnection, delivery: &Delivery) -> Result<(), HandlerError> {
        self.apply(conn, delivery).await
    }
}
