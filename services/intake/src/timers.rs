//! Intake's timers: the 3-working-day verification limit of a clue
//! (R-START-2). Registration schedules it in the registering transaction;
//! verification cancels it in the verifying one. When it fires on a clue
//! still waiting, the clue is marked overdue and
//! `intake.clue_verification_overdue` is written to the outbox, in the
//! sweeper's transaction: a sweeper that dies halfway fires it again later,
//! never twice (platform `timers`).

use std::sync::Arc;

use sqlx::PgConnection;
use yuetan_platform::timers::{Timer, TimerHandler};

use crate::flow::VERIFICATION_TIMER;
use crate::State;

#[derive(Debug, Clone)]
pub struct IntakeTimers {
    pub state: Arc<State>,
}

impl TimerHandler for IntakeTimers {
    async fn fire(&self, conn: &mut PgConnection, timer: &Timer) -> Result<(), String> {
        match timer.kind.as_str() {
            VERIFICATION_TIMER => self.state.clue_verification_overdue(conn, timer).await.map_err(|e| e.to_string()),
            other => Err(format!("intake has no timer kind {other:?}")),
        }
    }
}
