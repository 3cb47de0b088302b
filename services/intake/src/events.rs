//! What intake takes from other services' events. Review (issue 4) decides a
//! submitted case: it returns it for supplement, passes or rejects it
//! (R-START-3), and the approver approves or denies it (R-START-4). Intake
//! mirrors each decision into its case's status, so the section sees where
//! its case stands, `Resubmit` works after a return, and the repeat check
//! (X2) leaves out cases that never became interviews.
//!
//! The handler runs inside the consumer runner's inbox transaction (platform
//! `consumer`): a redelivered event is dropped by the inbox, and the runner's
//! ordering guard applies a case's review events strictly in review's
//! `case_version` order. That is why the consumer takes *every* review event
//! (the guard needs the whole sequence) and ignores those that do not move
//! intake's status.
//!
//! The same consumer takes the relief events (R-RELIEF-2) into the relief
//! marks the case reads show (platform `relief`).
//!
//! Intake writes no event for these mirror updates, so the case's `version`
//! (intake's own event sequence) stays as it is.

use std::sync::Arc;

use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_platform::consumer::{ConsumerSpec, Delivery, Handler, HandlerError};
use yuetan_platform::relief;
use yuetan_proto::events::event::Payload;

use crate::flow::ReviewDecision;
use crate::State;

/// The durable consumer's name (also its key in `inbox` and `event_order`).
pub const REVIEW_OUTCOMES: &str = "intake-review-outcomes";

/// Every review event of the deployment: the ordering guard needs all of
/// them, not only the decisions intake applies. And the relief events
/// (R-RELIEF-2: `supervision.relief_marked`, `relief.decided`), which the
/// case's reads show (platform `relief`); they are outside any case's
/// sequence (`case_version` 0) and from sources the guard does not order,
/// so they never wait.
pub fn review_outcomes_spec(subject_prefix: &str) -> ConsumerSpec {
    let mut subjects = vec![format!("{subject_prefix}.*.*.*.review.>")];
    subjects.extend(relief::subjects(subject_prefix));
    ConsumerSpec::new(REVIEW_OUTCOMES, subjects).ordered(&["review"])
}

/// Applies review's decisions to intake's cases (`flow::apply_review_decision`).
#[derive(Debug, Clone)]
pub struct ReviewOutcomes {
    pub state: Arc<State>,
}

impl Handler for ReviewOutcomes {
    async fn handle(&self, conn: &mut PgConnection, delivery: &Delivery) -> Result<(), HandlerError> {
        let event = &delivery.event;
        if relief::apply(conn, event).await? {
            return Ok(());
        }
        let (decision, payload_case_id) = match &event.payload {
            Some(Payload::ReviewReturned(p)) => (ReviewDecision::Returned(p), p.case_id.as_str()),
            Some(Payload::ReviewPassed(p)) => (ReviewDecision::Passed, p.case_id.as_str()),
            Some(Payload::ReviewRejected(p)) => (ReviewDecision::Rejected, p.case_id.as_str()),
            Some(Payload::CaseApproved(p)) => (ReviewDecision::Approved, p.case_id.as_str()),
            Some(Payload::CaseDenied(p)) => (ReviewDecision::Denied, p.case_id.as_str()),
            // review_opened, review_deadline_missed, document_review_decided,
            // and anything newer: nothing in intake changes. They are still
            // taken, so the ordering guard sees review's whole sequence.
            _ => return Ok(()),
        };
        let case_id = Uuid::parse_str(&event.case_id)
            .map_err(|err| HandlerError::failed(format!("{}: case_id {:?} is not a uuid: {err}", event.r#type, event.case_id)))?;
        if !payload_case_id.is_empty() && payload_case_id != event.case_id {
            return Err(HandlerError::failed(format!(
                "{}: the payload's case_id {payload_case_id} is not the envelope's {case_id}",
                event.r#type
            )));
        }
        self.state.apply_review_decision(conn, event, case_id, decision).await
    }
}
