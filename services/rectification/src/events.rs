//! Rectification's consumer (`rectification-events`): intake's case_opened
//! (what the case is), scheduling's interview_held (opens the
//! rectification) and record_signed (the record it refers to), review's
//! decisions on rectification's documents, the portal's reports, and the
//! relief events (`supervision.relief_marked`, `relief.decided`) whose marks
//! the rectification reads show (R-RELIEF-2, platform `relief`). Each
//! delivery is applied once (the platform's inbox) in one transaction.

use chrono::Utc;
use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_platform::audit::By;
use yuetan_platform::consumer::{Delivery, Handler, HandlerError};
use yuetan_platform::fields::from_timestamp;
use yuetan_platform::relief;
use yuetan_proto::events::event::Payload;

use crate::store::{self, CaseRow};
use crate::State;

#[derive(Debug, Clone)]
pub struct RectificationEvents {
    pub state: std::sync::Arc<State>,
}

impl RectificationEvents {
    async fn apply(&self, conn: &mut PgConnection, delivery: &Delivery) -> Result<(), HandlerError> {
        let event = &delivery.event;
        let now = self.state.clock.now();
        let causation = event.id.as_str();
        if relief::apply(conn, event).await? {
            return Ok(());
        }
        match &event.payload {
            Some(Payload::CaseOpened(opened)) => {
                let party = opened.party.clone().unwrap_or_default();
                let case = CaseRow {
                    case_id: delivery.case_id()?,
                    number: opened.number.clone(),
                    division: event.jurisdiction.clone(),
                    lead_organ: opened.lead_organ.clone(),
                    organ_name: opened.lead_organ_name.clone(),
                    document_code: opened.lead_organ_document_code.clone(),
                    co_departments: opened.co_departments.clone(),
                    party_id: party.party_id,
                    party_name: party.name,
                    version: 0,
                    updated_at: now,
                };
                self.state.case_opened(conn, case).await?;
            }
            Some(Payload::InterviewHeld(held)) => {
                let case_id = delivery.case_id()?;
                let case = match store::case(conn, case_id, true).await? {
                    Some(c) => c,
                    // Intake's case_opened not seen (a deployment without it): what the event says.
                    None => CaseRow {
                        case_id,
                        number: held.number.clone(),
                        division: event.jurisdiction.clone(),
                        lead_organ: event.organ.clone(),
                        organ_name: String::new(),
                        document_code: String::new(),
                        co_departments: held.co_departments.clone(),
                        party_id: String::new(),
                        party_name: held.party_name.clone(),
                        version: 0,
                        updated_at: now,
                    },
                };
                let closed_by = event.actor.as_ref().map(|a| a.officer_id.clone()).unwrap_or_default();
                self.state.interview_held(conn, case, held, &closed_by, causation, now).await?;
            }
            Some(Payload::RecordSigned(signed)) => {
                self.state.record_signed(conn, signed).await?;
            }
            Some(Payload::DocumentReviewDecided(decided)) => {
                if decided.source_service != crate::SERVICE {
                    return Ok(());
                }
                let Ok(id) = Uuid::parse_str(&decided.document_id) else { return Ok(()) };
                self.state.document_decided(conn, id, decided.decision == "pass", causation, now).await?;
            }
            Some(Payload::PortalReportSubmitted(report)) => {
                let Ok(rect_id) = Uuid::parse_str(&report.rectification_id) else { return Ok(()) };
                let Some(peek) = store::rect(conn, rect_id, false).await? else { return Ok(()) };
                let Some(case) = store::case(conn, peek.case_id, true).await? else { return Ok(()) };
                let Some(rect) = store::rect(conn, rect_id, true).await? else { return Ok(()) };
                if rect.status != "open" {
                    tracing::info!(rectification = %rect_id, status = %rect.status, "a portal report for a rectification that is not open; kept by the portal, not applied");
                    return Ok(());
                }
                let text = self.state.vault.open(&report.text_sealed, "portal.report")?;
                let at = from_timestamp(report.submitted_at.as_ref()).unwrap_or_else(Utc::now);
                self.state.report_received(conn, By::Service("portal"), case, rect, "portal", at, &text, report.attachment_sha256.clone(), causation, now).await?;
            }
            _ => {}
        }
        Ok(())
    }
}

impl Handler for RectificationEvents {
    async fn handle(&self, conn: &mut PgConnection, delivery: &Delivery) -> Result<(), HandlerError> {
        self.apply(conn, delivery).await
    }
}
