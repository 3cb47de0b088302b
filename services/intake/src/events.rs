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
//! Intake writes no event for these mirror updates, so the case's `version`
//! (intake's own event sequence) stays as it is.

use std::sync::Arc;

use sqlx::types::Json;
use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_platform::audit::{self, AuditEntry};
use yuetan_platform::batch::WriteBatch;
use yuetan_platform::consumer::{ConsumerSpec, Delivery, Handler, HandlerError};
use yuetan_platform::Error;
use yuetan_proto::events::event::Payload;

use crate::api::case_audit;
use crate::domain::case::CaseStatus;
use crate::store::{self, Form, ReviewReturn};
use crate::State;

/// The durable consumer's name (also its key in `inbox` and `event_order`).
pub const REVIEW_OUTCOMES: &str = "intake-review-outcomes";

/// Every review event of the deployment: the ordering guard needs all of
/// them, not only the decisions intake applies.
pub fn review_outcomes_spec(subject_prefix: &str) -> ConsumerSpec {
    ConsumerSpec::new(REVIEW_OUTCOMES, vec![format!("{subject_prefix}.*.*.*.review.>")]).ordered(&["review"])
}

/// Applies review's decisions to intake's cases.
#[derive(Debug, Clone)]
pub struct ReviewOutcomes {
    pub state: Arc<State>,
}

/// A decision of review that moves intake's case.
enum Decision<'a> {
    Returned(&'a yuetan_proto::events::ReviewReturned),
    Passed,
    Rejected,
    Approved,
    Denied,
}

impl Decision<'_> {
    /// The audit action.
    fn action(&self) -> &'static str {
        match self {
            Decision::Returned(_) => "case.review_returned",
            Decision::Passed => "case.review_passed",
            Decision::Rejected => "case.review_rejected",
            Decision::Approved => "case.approved",
            Decision::Denied => "case.denied",
        }
    }

    /// The status the decision leads to, and the transition from `status`.
    fn apply(&self, status: CaseStatus) -> (CaseStatus, Result<CaseStatus, Error>) {
        match self {
            Decision::Returned(_) => (CaseStatus::ReturnedForSupplement, status.review_returned()),
            Decision::Passed => (CaseStatus::InApproval, status.review_passed()),
            Decision::Rejected => (CaseStatus::Rejected, status.review_rejected()),
            Decision::Approved => (CaseStatus::Approved, status.approved()),
            Decision::Denied => (CaseStatus::Denied, status.denied()),
        }
    }
}

impl ReviewOutcomes {
    async fn apply(&self, conn: &mut PgConnection, delivery: &Delivery, decision: Decision<'_>, payload_case_id: &str) -> Result<(), HandlerError> {
        let event = &delivery.event;
        let case_id = Uuid::parse_str(&event.case_id)
            .map_err(|err| HandlerError::failed(format!("{}: case_id {:?} is not a uuid: {err}", event.r#type, event.case_id)))?;
        if !payload_case_id.is_empty() && payload_case_id != event.case_id {
            return Err(HandlerError::failed(format!(
                "{}: the payload's case_id {payload_case_id} is not the envelope's {case_id}",
                event.r#type
            )));
        }
        // Locked: an officer's Resubmit of the same case waits for this
        // transaction, so it sees the status this decision leaves.
        let Some(mut case) = store::case(conn, case_id, true).await? else {
            // Review only decides cases intake submitted; an unknown one is
            // retried (and dead-lettered if it stays unknown) rather than lost.
            return Err(HandlerError::failed(format!("{}: intake has no case {case_id}", event.r#type)));
        };
        let status = CaseStatus::parse(&case.status)?;
        let (target, next) = decision.apply(status);
        let next = match next {
            Ok(next) => next,
            Err(_) if status == target => {
                // Already reflected (e.g. applied under another event id):
                // nothing left to do.
                tracing::info!(%case_id, event_type = %event.r#type, status = status.as_str(), "review decision already reflected");
                return Ok(());
            }
            Err(err) => return Err(HandlerError::failed(format!("{}: case {case_id}: {err}", event.r#type))),
        };

        let before = case_audit(&case);
        let now = self.state.clock.now();
        let officer = event.actor.as_ref().map(|a| a.officer_id.as_str()).filter(|id| !id.is_empty());
        if let Decision::Returned(returned) = &decision {
            let form = case.approval_form.get_or_insert_with(|| Json(Form::default()));
            form.0.returns.push(ReviewReturn {
                round: returned.round,
                missing: returned.missing.clone(),
                opinion: returned.opinion.clone(),
                returned_by: officer.unwrap_or_default().to_string(),
            });
        }
        case.status = next.as_str().into();
        case.updated_at = now;
        let after = case_audit(&case);

        let organ = event
            .actor
            .as_ref()
            .map(|a| a.organ_code.as_str())
            .filter(|o| !o.is_empty())
            .unwrap_or(if event.organ.is_empty() { case.lead_organ.as_str() } else { event.organ.as_str() });
        let mut batch = WriteBatch::new();
        store::update_case_in(&mut batch, &case);
        audit::append_in(
            &mut batch,
            &AuditEntry {
                actor_id: officer.unwrap_or("review"),
                actor_organ: organ,
                action: decision.action(),
                subject: &format!("case/{case_id}"),
                before: Some(&before),
                after: Some(&after),
                at: now,
            },
        );
        batch.execute(conn).await?;
        tracing::info!(%case_id, from = status.as_str(), to = next.as_str(), event_type = %event.r#type, "case status follows review");
        Ok(())
    }
}

impl Handler for ReviewOutcomes {
    async fn handle(&self, conn: &mut PgConnection, delivery: &Delivery) -> Result<(), HandlerError> {
        let (decision, payload_case_id) = match &delivery.event.payload {
            Some(Payload::ReviewReturned(p)) => (Decision::Returned(p), p.case_id.as_str()),
            Some(Payload::ReviewPassed(p)) => (Decision::Passed, p.case_id.as_str()),
            Some(Payload::ReviewRejected(p)) => (Decision::Rejected, p.case_id.as_str()),
            Some(Payload::CaseApproved(p)) => (Decision::Approved, p.case_id.as_str()),
            Some(Payload::CaseDenied(p)) => (Decision::Denied, p.case_id.as_str()),
            // review_opened, review_deadline_missed, document_review_decided,
            // and anything newer: nothing in intake changes. They are still
            // taken, so the ordering guard sees review's whole sequence.
            _ => return Ok(()),
        };
        self.apply(conn, delivery, decision, payload_case_id).await
    }
}
