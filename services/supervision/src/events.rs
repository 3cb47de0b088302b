//! Supervision's consumer (`supervision-events`): every event of every
//! service, its own included, applied once (the platform's inbox), each
//! case's events in order per producer.
//!
//! - The other services' case events build the files, their timelines,
//!   stages, tallies and deadline cards ([`crate::flow::files`]).
//! - Supervision's own events are its decisions (roll-ups, draws, scores,
//!   ratings, complaints, card changes): live they find their rows already
//!   written by the transaction that published them and change nothing; in
//!   a rebuild (`yuetan supervision rebuild`) they write them.

use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_platform::consumer::{Delivery, Handler, HandlerError};
use yuetan_platform::ordering::source_of;
use yuetan_platform::Error;

use crate::flow::{archive, complaints, ratings, relief, sampling};
use crate::State;

#[derive(Debug, Clone)]
pub struct SupervisionEvents {
    pub state: std::sync::Arc<State>,
}

impl SupervisionEvents {
    async fn apply(&self, conn: &mut PgConnection, delivery: &Delivery) -> Result<(), HandlerError> {
        let event = &delivery.event;
        let id = Uuid::parse_str(&event.id).map_err(|e| HandlerError::failed(format!("event id: {e}")))?;
        match source_of(&event.r#type) {
            "supervision" => {
                self.state.apply_own_event(conn, event).await?;
                complaints::on_event(&self.state, conn, event, id).await.map_err(early)?;
                ratings::on_event(&self.state, conn, event, id).await.map_err(early)?;
                sampling::on_event(&self.state, conn, event, id).await.map_err(early)?;
                archive::on_event(&self.state, conn, event, id).await.map_err(early)?;
                relief::on_event(&self.state, conn, event, id).await.map_err(early)?;
            }
            // Outside systems' relief.application_received, lawsuit_filed, decided.
            "relief" => relief::on_event(&self.state, conn, event, id).await.map_err(early)?,
            "portal" => {
                ratings::on_event(&self.state, conn, event, id).await.map_err(early)?;
                complaints::on_event(&self.state, conn, event, id).await.map_err(early)?;
            }
            "platform" => {}
            _ => {
                self.state.apply_file_event(conn, event, id).await?;
                // The documents the event names, for the file's archive.
                archive::on_event(&self.state, conn, event, id).await.map_err(early)?;
            }
        }
        Ok(())
    }
}

/// `Unavailable` from an `on_event`: a row the event needs is not there yet
/// (another lane holds the event that writes it) — the event waits, bounded
/// by the order horizon, instead of counting as a failure.
fn early(err: Error) -> HandlerError {
    match err {
        Error::Unavailable(reason) => HandlerError::waiting(reason),
        other => other.into(),
    }
}

impl Handler for SupervisionEvents {
    async fn handle(&self, conn: &mut PgConnection, delivery: &Delivery) -> Result<(), HandlerError> {
        self.apply(conn, delivery).await
    }
}
