//! Rectification's timers:
//! - `rectification.item_deadline`: an item's deadline passed with the
//!   rectification still open (no report): an earlier item is recorded, the
//!   last (the rectification's deadline) → the penalty hand-off, once;
//! - `rectification.report_due` (R-RECT-3): the report's due day passed
//!   without it → `rectification.report_late`, once;
//! - `rectification.follow_up` (R-RECT-2): no ledger entry within the
//!   cadence → `rectification.follow_up_overdue`; then every cadence again;
//! - `rectification.report_reminder` (R-RECT-3): 09:00 CST 2 working days
//!   before the report's due day, no report yet → the sealed notice is
//!   served again as a reminder through the party's channels.

use std::sync::Arc;

use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_platform::timers::{Timer, TimerHandler};
use yuetan_platform::Error;

use crate::flow::{FOLLOW_UP_TIMER, ITEM_TIMER, REMINDER_TIMER, REPORT_TIMER};
use crate::{store, State};

#[derive(Debug, Clone)]
pub struct RectificationTimers {
    pub state: Arc<State>,
}

impl RectificationTimers {
    async fn fire_for(&self, conn: &mut PgConnection, timer: &Timer) -> Result<(), Error> {
        let id = timer.key.split('/').next().unwrap_or_default();
        let rect_id = Uuid::parse_str(id).map_err(|e| Error::Internal(format!("timer key: {e}")))?;
        let Some(peek) = store::rect(conn, rect_id, false).await? else { return Ok(()) };
        // Neither the case nor the rectification is waited for while this
        // timer row is held: an acceptance holding the case cancels timers.
        let case = match store::case_unless_locked(conn, peek.case_id).await? {
            Ok(c) => c,
            Err(true) => return Err(Error::Unavailable(format!("case {} is being changed; checked again later", peek.case_id))),
            Err(false) => return Ok(()),
        };
        let rect = match store::rect_unless_locked(conn, rect_id).await? {
            Ok(r) => r,
            Err(true) => return Err(Error::Unavailable(format!("rectification {rect_id} is being changed; checked again later"))),
            Err(false) => return Ok(()),
        };
        let now = self.state.clock.now();
        match timer.kind.as_str() {
            ITEM_TIMER => {
                let item_no = timer.key.rsplit('/').next().and_then(|n| n.parse().ok()).unwrap_or(0);
                self.state.item_deadline_passed(conn, case, rect, item_no, timer.id, now).await
            }
            REPORT_TIMER => self.state.report_overdue(conn, case, rect, timer.id, now).await,
            FOLLOW_UP_TIMER => self.state.follow_up_due(conn, case, rect, timer.id, now).await,
            REMINDER_TIMER => self.state.remind(conn, case, rect, timer.id, now).await,
            other => Err(Error::Internal(format!("rectification has no timer kind {other:?}"))),
        }
    }
}

impl TimerHandler for RectificationTimers {
    async fn fire(&self, conn: &mut PgConnection, timer: &Timer) -> Result<(), String> {
        self.fire_for(conn, timer).await.map_err(|e| e.to_string())
    }
}
