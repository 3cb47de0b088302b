//! Review's timers: the limit of every open task (R-START-3 legality review,
//! R-START-4 approval, document review). A task opens with its timer in the
//! same transaction; a decision cancels it; an extension moves it. When it
//! fires on a task still open, the task is marked and
//! `review.review_deadline_missed` is written in the sweeper's transaction:
//! a sweeper that dies halfway fires it again later, never twice, and two
//! replicas never both fire it (platform `timers`: SKIP LOCKED claims).

use std::sync::Arc;

use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_platform::timers::{Timer, TimerHandler};
use yuetan_platform::Error;

use crate::flow::DEADLINE_TIMER;
use crate::{store, State};

#[derive(Debug, Clone)]
pub struct ReviewTimers {
    pub state: Arc<State>,
}

impl ReviewTimers {
    async fn task_deadline(&self, conn: &mut PgConnection, timer: &Timer) -> Result<(), Error> {
        let task_id = Uuid::parse_str(&timer.key).map_err(|e| Error::Internal(format!("timer key: {e}")))?;
        let held = || Error::Unavailable(format!("task {task_id} is being decided; its limit is checked again later"));
        // Lock order: a call locks the case, then the task, then cancels this
        // timer, which the sweeper holds. Waiting here would deadlock, so a
        // row held right now sends the timer round again.
        let Some(peek) = store::task(conn, task_id, false).await? else { return Ok(()) };
        let case = if peek.kind == "document_review" {
            None
        } else {
            match store::case_unless_locked(conn, peek.case_id).await? {
                Some(case) => Some(case),
                None if store::case(conn, peek.case_id, false).await?.is_some() => return Err(held()),
                None => None,
            }
        };
        let task = match store::task_unless_locked(conn, task_id).await? {
            Ok(task) => task,
            Err(true) => return Err(held()),
            Err(false) => return Ok(()),
        };
        if task.status != "open" || task.deadline_missed {
            return Ok(());
        }
        let now = self.state.clock.now();
        self.state.deadline_missed(conn, case, task, timer.id, now).await
    }
}

impl TimerHandler for ReviewTimers {
    async fn fire(&self, conn: &mut PgConnection, timer: &Timer) -> Result<(), String> {
        match timer.kind.as_str() {
            DEADLINE_TIMER => self.task_deadline(conn, timer).await.map_err(|e| e.to_string()),
            other => Err(format!("review has no timer kind {other:?}")),
        }
    }
}
