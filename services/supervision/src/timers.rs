//! Supervision's timers: `supervision.card` turns a card yellow or red at
//! the start of its day (CST), once, whatever the number of replicas (the
//! card row is taken with SKIP LOCKED and a colour never goes back).

use std::sync::Arc;

use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_platform::timers::{Timer, TimerHandler};
use yuetan_platform::Error;

use crate::domain::Colour;
use crate::flow::rollup::{ROLLUP_TIMER, WARN_TIMER};
use crate::flow::{archive, complaints, ratings, relief, sampling, CARD_TIMER};
use crate::{store, State};

#[derive(Debug, Clone)]
pub struct SupervisionTimers {
    pub state: Arc<State>,
}

impl SupervisionTimers {
    async fn card(&self, conn: &mut PgConnection, timer: &Timer) -> Result<(), Error> {
        let mut parts = timer.key.split('/');
        let (Some(id), Some(colour), deadline) = (parts.next(), parts.next(), parts.next()) else {
            return Err(Error::Internal(format!("card timer key {:?}", timer.key)));
        };
        let id = Uuid::parse_str(id).map_err(|e| Error::Internal(format!("card timer key: {e}")))?;
        let to = match Colour::from_name(colour) {
            Some(to) if to != Colour::Green => to,
            _ => return Err(Error::Internal(format!("card timer colour {colour:?}"))),
        };
        let card = match store::card_unless_locked(conn, id).await? {
            Ok(c) => c,
            Err(true) => return Err(Error::Unavailable(format!("card {id} is being changed"))),
            Err(false) => return Ok(()),
        };
        if deadline.is_some_and(|d| d != card.deadline.to_string()) {
            return Ok(()); // the deadline moved; the new timers turn it
        }
        let now = self.state.clock.now();
        self.state.turn_card(conn, card, to, timer.id, now).await
    }
}

impl TimerHandler for SupervisionTimers {
    async fn fire(&self, conn: &mut PgConnection, timer: &Timer) -> Result<(), String> {
        let result = match timer.kind.as_str() {
            CARD_TIMER => self.card(conn, timer).await,
            ROLLUP_TIMER => self.state.daily_rollup(conn, timer).await,
            WARN_TIMER => self.state.warn_sections(conn, timer).await,
            k if k.starts_with("supervision.complaint") => complaints::fire(&self.state, conn, timer).await,
            k if k.starts_with("supervision.rating") => ratings::fire(&self.state, conn, timer).await,
            "supervision.monthly" | "supervision.quarterly" => sampling::fire(&self.state, conn, timer).await,
            k if k.starts_with("supervision.archive") => archive::fire(&self.state, conn, timer).await,
            k if k.starts_with("supervision.relief") => relief::fire(&self.state, conn, timer).await,
            other => return Err(format!("supervision has no timer kind {other:?}")),
        };
        result.map_err(|e| e.to_string())
    }
}
