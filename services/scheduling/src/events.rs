//! The events scheduling reacts to. Each handler runs in the platform
//! consumer's inbox transaction (a duplicate never reaches it):
//! - `intake.case_opened`: scheduling learns the case (party, organ, urgency, co-departments);
//! - `review.case_approved`: the interview plan opens (R-NOTICE-1 limit);
//! - `review.document_review_decided` for scheduling's documents: seal and serve, or wait for a correction;
//! - `<service>.service_requested` from any other service: serve its sealed document;
//! - `portal.*`: delivery reports, e-gov acknowledgements, the party opening
//!   a link or confirming receipt;
//! - `supervision.relief_marked` / `relief.decided` (R-RELIEF-2): the relief
//!   marks the plan and interview reads show (platform `relief`).

use chrono::Utc;
use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_platform::consumer::{Delivery, Handler, HandlerError};
use yuetan_platform::fields::{from_timestamp, parse_date};
use yuetan_platform::ordering::source_of;
use yuetan_platform::relief;
use yuetan_proto::events::event::Payload;

use crate::domain::Channel;
use crate::flow::ServeRequest;
use crate::store::{self, CaseRow};
use crate::State;

#[derive(Debug, Clone)]
pub struct SchedulingEvents {
    pub state: std::sync::Arc<State>,
}

/// A provider's time: RFC 3339, or Alibaba Cloud's `2026-10-09 10:00:05`
/// in China Standard Time.
fn provider_time(text: &str) -> Option<chrono::DateTime<Utc>> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    let local = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").ok()?;
    Some(local.and_utc() - chrono::Duration::hours(8))
}

fn uuid(field: &str, value: &str) -> Result<Uuid, HandlerError> {
    Uuid::parse_str(value).map_err(|_| HandlerError::failed(format!("{field} {value:?} is not a UUID")))
}

impl SchedulingEvents {
    async fn apply(&self, conn: &mut PgConnection, delivery: &Delivery) -> Result<(), HandlerError> {
        let event = &delivery.event;
        let now = self.state.clock.now();
        let occurred_at = from_timestamp(event.occurred_at.as_ref()).unwrap_or_else(Utc::now);
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
                    major: opened.major,
                    urgent: opened.urgency == "urgent",
                    party_id: party.party_id,
                    party_name: party.name,
                    violation_type: opened.violation_type.clone(),
                    version: 0,
                    updated_at: now,
                };
                self.state.case_opened(conn, case).await?;
            }
            Some(Payload::CaseApproved(approved)) => {
                let id = delivery.case_id()?;
                let Some(case) = store::case(conn, id, true).await? else {
                    return Err(HandlerError::waiting(format!("case {id} approved before scheduling learned it (intake.case_opened)")));
                };
                let approved_on = parse_date("approved_on", approved.approved_on.as_ref())
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| yuetan_platform::fields::cst_date(occurred_at));
                self.state.case_approved(conn, case, approved_on, causation, now).await?;
            }
            Some(Payload::DocumentReviewDecided(decided)) => {
                if decided.source_service != crate::SERVICE {
                    return Ok(());
                }
                let document_id = uuid("document_id", &decided.document_id)?;
                let revision = i32::try_from(decided.revision).unwrap_or(1);
                self.state.notice_decided(conn, document_id, revision, decided.decision == "pass", causation, now).await?;
            }
            Some(Payload::ServiceRequested(request)) => {
                let source = source_of(&event.r#type).to_string();
                if source == crate::SERVICE {
                    return Ok(()); // our own announcement
                }
                if request.document_sha256.len() != 64 || request.document_id.is_empty() {
                    return Err(HandlerError::failed("service_requested needs document_id and a 64-hex document_sha256"));
                }
                let mut channels = Vec::new();
                for c in &request.channels {
                    channels.push(Channel::parse(c).ok_or_else(|| HandlerError::failed(format!("unknown channel {c:?}")))?);
                }
                let serve = ServeRequest {
                    case_id: delivery.case_id()?,
                    division: event.jurisdiction.clone(),
                    organ: event.organ.clone(),
                    document_id: request.document_id.clone(),
                    document_sha256: request.document_sha256.clone(),
                    document_name: request.document_name.clone(),
                    document_number: request.document_number.clone(),
                    document_kind: request.kind.clone(),
                    source_service: source,
                    channels,
                    requested_by: request.requested_by.clone(),
                };
                // A request that cannot be served electronically as asked
                // (no consent) is served by an officer instead of being lost.
                match self.state.start_service(conn, crate::flow::BY_SERVICE, serve.clone(), causation, now).await {
                    Err(yuetan_platform::Error::InvalidArgument { .. }) => {
                        let fallback = ServeRequest { channels: Vec::new(), ..serve };
                        self.state.start_service(conn, crate::flow::BY_SERVICE, fallback, causation, now).await?;
                    }
                    other => {
                        other?;
                    }
                }
            }
            Some(Payload::PortalSmsReportReceived(report)) => {
                let Ok(attempt) = Uuid::parse_str(&report.out_id) else { return Ok(()) };
                let at = provider_time(&report.report_time).unwrap_or(occurred_at);
                self.state.arrival_reported(conn, attempt, report.delivered, at, &report.biz_id, &report.err_code, causation, now).await?;
            }
            Some(Payload::PortalEgovAcknowledged(ack)) => {
                let Ok(attempt) = Uuid::parse_str(&ack.msg_id) else { return Ok(()) };
                let at = provider_time(&ack.delivered_at).unwrap_or(occurred_at);
                let detail = if ack.delivered { "DELIVERED".to_string() } else { format!("FAILED {}", ack.reason) };
                self.state.arrival_reported(conn, attempt, ack.delivered, at, &ack.receipt_id, &detail, causation, now).await?;
            }
            Some(Payload::PortalLinkOpened(opened)) => {
                let Ok(service) = Uuid::parse_str(&opened.service_id) else { return Ok(()) };
                let at = from_timestamp(opened.opened_at.as_ref()).unwrap_or(occurred_at);
                self.state.portal_evidence(conn, service, "link opened", at, &opened.evidence_sealed, causation, now).await?;
            }
            Some(Payload::PortalReceiptConfirmed(confirmed)) => {
                let Ok(service) = Uuid::parse_str(&confirmed.service_id) else { return Ok(()) };
                let at = from_timestamp(confirmed.confirmed_at.as_ref()).unwrap_or(occurred_at);
                self.state.portal_evidence(conn, service, "receipt confirmed", at, &confirmed.evidence_sealed, causation, now).await?;
                self.state.party_signed_on_portal(conn, service, &confirmed.link_id, at, causation, now).await?;
            }
            Some(Payload::PortalVideoEvent(video)) => {
                self.state.video_event(conn, video, causation).await?;
            }
            _ => {}
        }
        Ok(())
    }
}

impl Handler for SchedulingEvents {
    async fn handle(&self, conn: &mut PgConnection, delivery: &Delivery) -> Result<(), HandlerError> {
        self.apply(conn, delivery).await
    }
}
