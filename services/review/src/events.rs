//! The events review reacts to. Each handler runs in the platform
//! consumer's inbox transaction (a duplicate never reaches it) and, for
//! intake's events, behind the ordering guard (a case's events arrive here
//! in intake's `case_version` order, each once).
//!
//! - `intake.case_opened`: review learns the case (number, organ, jurisdiction,
//!   co-departments, major flag, proposer);
//! - `intake.case_submitted` / `intake.case_resubmitted`: a legality-review round opens;
//! - `<service>.document_review_requested`: a document-review task opens;
//! - `supervision.relief_marked` / `relief.decided` (R-RELIEF-2): the relief
//!   marks the task and file reads show (platform `relief`);
//! - every other intake event is ignored (the guard still counts it).

use chrono::Utc;
use sqlx::PgConnection;
use yuetan_platform::consumer::{Delivery, Handler, HandlerError};
use yuetan_platform::fields::from_timestamp;
use yuetan_platform::ordering::source_of;
use yuetan_platform::relief;
use yuetan_proto::events::event::Payload;

use crate::domain::CaseState;
use crate::store::{self, CaseRow, Document};
use crate::State;

#[derive(Debug, Clone)]
pub struct ReviewEvents {
    pub state: std::sync::Arc<State>,
}

impl ReviewEvents {
    async fn apply(&self, conn: &mut PgConnection, delivery: &Delivery) -> Result<(), HandlerError> {
        let event = &delivery.event;
        if relief::apply(conn, event).await? {
            return Ok(());
        }
        let now = self.state.clock.now();
        let occurred_at = from_timestamp(event.occurred_at.as_ref()).unwrap_or_else(Utc::now);
        let causation = event.id.as_str();
        match &event.payload {
            Some(Payload::CaseOpened(opened)) => {
                let case = CaseRow {
                    case_id: delivery.case_id()?,
                    number: opened.number.clone(),
                    division: event.jurisdiction.clone(),
                    lead_organ: opened.lead_organ.clone(),
                    co_departments: opened.co_departments.clone(),
                    major: opened.major,
                    proposed_by: opened.proposed_by.clone(),
                    party_name: opened.party.as_ref().map(|p| p.name.clone()).unwrap_or_default(),
                    violation_type: opened.violation_type.clone(),
                    status: CaseState::AwaitingSubmission.as_str().into(),
                    version: 0,
                    updated_at: now,
                };
                self.state.case_opened(conn, case).await?;
            }
            Some(Payload::CaseSubmitted(submitted)) => {
                // Status and version come from the stored case, read under
                // its lock by `submitted`.
                let case = CaseRow {
                    case_id: delivery.case_id()?,
                    number: submitted.number.clone(),
                    division: event.jurisdiction.clone(),
                    lead_organ: event.organ.clone(),
                    co_departments: submitted.co_departments.clone(),
                    major: submitted.major,
                    proposed_by: submitted.proposed_by.clone(),
                    party_name: submitted.party.as_ref().map(|p| p.name.clone()).unwrap_or_default(),
                    violation_type: submitted.violation_type.clone(),
                    status: String::new(),
                    version: 0,
                    updated_at: now,
                };
                let round = i32::try_from(submitted.round).unwrap_or(1);
                self.state.submitted(conn, case, round, &submitted.proposal, "", occurred_at, causation, now).await?;
            }
            Some(Payload::CaseResubmitted(again)) => {
                let case_id = delivery.case_id()?;
                let Some(mut case) = store::case(conn, case_id, false).await? else {
                    return Err(HandlerError::failed(format!("case {case_id} resubmitted but never submitted")));
                };
                case.major = again.major;
                let round = i32::try_from(again.round).unwrap_or(1);
                self.state.submitted(conn, case, round, &again.proposal, &again.supplement, occurred_at, causation, now).await?;
            }
            Some(Payload::DocumentReviewRequested(request)) => {
                let document = Document {
                    document_id: request.document_id.clone(),
                    kind: request.kind.clone(),
                    title: request.title.clone(),
                    content_sha256: request.content_sha256.clone(),
                    submitted_by: request.submitted_by.clone(),
                    source_service: source_of(&event.r#type).to_string(),
                };
                if document.document_id.is_empty() {
                    return Err(HandlerError::failed("document_review_requested without a document_id"));
                }
                let revision = i32::try_from(request.revision.max(1)).unwrap_or(1);
                self.state
                    .document_requested(conn, delivery.case_id()?, &event.jurisdiction, &event.organ, document, revision, occurred_at, now)
                    .await?;
            }
            // clue events, exclusions and the rest: nothing for review.
            _ => {}
        }
        Ok(())
    }
}

impl Handler for ReviewEvents {
    async fn handle(&self, conn: &mut PgConnection, delivery: &Delivery) -> Result<(), HandlerError> {
        self.apply(conn, delivery).await
    }
}
