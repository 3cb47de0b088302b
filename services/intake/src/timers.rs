//! Intake's timers: the 3-working-day verification limit of a clue
//! (R-START-2). Registration schedules it in the registering transaction;
//! verification cancels it in the verifying one. When it fires on a clue
//! still waiting, the clue is marked overdue and
//! `intake.clue_verification_overdue` is written to the outbox, in the
//! sweeper's transaction: a sweeper that dies halfway fires it again later,
//! never twice (platform `timers`).

use std::sync::Arc;

use chrono::NaiveDate;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_platform::audit::{self, AuditEntry};
use yuetan_platform::outbox::NewEvent;
use yuetan_platform::timers::{Timer, TimerHandler};
use yuetan_proto::events::{event::Payload, ClueVerificationOverdue};

use crate::api::VERIFICATION_TIMER;
use crate::convert::date;
use crate::{store, State};

#[derive(Debug, Clone)]
pub struct IntakeTimers {
    pub state: Arc<State>,
}

impl IntakeTimers {
    async fn verification_overdue(&self, conn: &mut PgConnection, timer: &Timer) -> Result<(), yuetan_platform::Error> {
        let clue_id = Uuid::parse_str(&timer.key).map_err(|e| yuetan_platform::Error::Internal(e.to_string()))?;
        // Lock order: a verification locks the clue, then cancels this timer;
        // the sweeper has locked the timer. Waiting here for the clue would
        // deadlock, so a clue being verified right now is left to the next try.
        let Some(clue) = store::clue_unless_locked(conn, clue_id).await? else {
            if store::clue(conn, clue_id).await?.is_some() {
                return Err(yuetan_platform::Error::Unavailable(format!(
                    "clue {clue_id} is being verified; the verification limit is checked again later"
                )));
            }
            return Ok(());
        };
        if clue.status != "registered" || clue.verification_overdue {
            return Ok(());
        }
        store::mark_clue_overdue(conn, clue_id).await?;
        let deadline: NaiveDate = clue.verification_deadline;
        let event = NewEvent {
            event_type: "intake.clue_verification_overdue".into(),
            case_id: None,
            case_version: 0,
            jurisdiction: clue.division.clone(),
            organ: clue.organ.clone(),
            actor: None,
            correlation_id: None,
            causation_id: Some(timer.id.to_string()),
            payload: Payload::ClueVerificationOverdue(ClueVerificationOverdue {
                clue_id: clue_id.to_string(),
                verification_deadline: Some(date(deadline)),
            }),
        };
        let now = self.state.clock.now();
        self.state.outbox.write(conn, event, now).await?;
        let after = json!({ "clue_id": clue_id, "verification_overdue": true, "deadline": deadline });
        audit::append(
            conn,
            &AuditEntry {
                actor_id: "intake",
                actor_organ: &clue.organ,
                action: "clue.verification_overdue",
                subject: &format!("clue/{clue_id}"),
                before: None,
                after: Some(&after),
                at: now,
            },
        )
        .await?;
        Ok(())
    }
}

impl TimerHandler for IntakeTimers {
    async fn fire(&self, conn: &mut PgConnection, timer: &Timer) -> Result<(), String> {
        match timer.kind.as_str() {
            VERIFICATION_TIMER => self.verification_overdue(conn, timer).await.map_err(|e| e.to_string()),
            other => Err(format!("intake has no timer kind {other:?}")),
        }
    }
}
