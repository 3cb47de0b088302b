//! Every state change of the portal, one transaction each: the row (an
//! insert that finds its key taken writes nothing more: a duplicate), then
//! one `WriteBatch` with the outbox event and the audit row, then commit.
//! The caller answers the party or the provider only after this returns.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::migrate::Migrator;
use uuid::Uuid;
use yuetan_platform::audit::{self, AuditEntry};
use yuetan_platform::batch::WriteBatch;
use yuetan_platform::links::LinkClaims;
use yuetan_platform::outbox::NewEvent;
use yuetan_platform::Error;
use yuetan_proto::events::{self as ev, event::Payload};

use crate::callbacks::{EgovAck, SmsReport, VideoEvent};
use crate::rating::{ComplaintForm, RatingForm};
use crate::State;

/// The PII vault context of the evidence of an open or a confirmation.
pub const EVIDENCE_CONTEXT: &str = "portal.evidence";
/// The PII vault context of a stored SMS report (it holds the phone number).
pub const SMS_REPORT_CONTEXT: &str = "portal.sms_report";
/// The PII vault context of the text of a rectification report.
pub const REPORT_CONTEXT: &str = "portal.report";
/// The PII vault context of a rating's case id and comment.
pub const RATING_CONTEXT: &str = "portal.rating";
/// The PII vault context of a party complaint's case id and description.
pub const COMPLAINT_CONTEXT: &str = "portal.complaint";
/// Most events (each with its audit row) sent in one statement while
/// recording a Janus post: the post stays one transaction, in statements of
/// at most this many events.
const VIDEO_BATCH_EVENTS: usize = 256;

pub fn migrations() -> Migrator {
    sqlx::migrate!("./migrations")
}

/// Where a request came from: personal data, stored and sent only sealed.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Evidence {
    pub ip: String,
    pub user_agent: String,
}

fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

impl State {
    /// The division of a link's events: the organ code's six-digit prefix
    /// (`620102-SJ`), else the configured `[portal] division`.
    fn division_of(&self, organ: &str) -> String {
        match organ.get(..6) {
            Some(prefix) if prefix.bytes().all(|b| b.is_ascii_digit()) => prefix.to_string(),
            _ => self.portal.division.clone(),
        }
    }

    fn event(&self, event_type: &str, jurisdiction: String, organ: &str, payload: Payload) -> NewEvent {
        NewEvent {
            event_type: event_type.to_string(),
            case_id: None,
            case_version: 0,
            jurisdiction,
            organ: organ.to_string(),
            actor: None,
            correlation_id: None,
            causation_id: None,
            payload,
        }
    }

    fn seal_evidence(&self, evidence: &Evidence) -> Result<Vec<u8>, Error> {
        let text = serde_json::to_string(evidence).map_err(|err| Error::Internal(err.to_string()))?;
        self.vault.seal(&text, EVIDENCE_CONTEXT)
    }

    /// Records the first open of a link; `false` if it was opened before.
    pub async fn record_open(&self, link_id: Uuid, claims: &LinkClaims, evidence: &Evidence) -> Result<bool, Error> {
        self.record_once(LinkAction::Open, link_id, claims, evidence).await
    }

    /// Records the party's confirmation of receipt; `false` if the link's
    /// receipt was confirmed before (idempotent).
    pub async fn record_receipt(&self, link_id: Uuid, claims: &LinkClaims, evidence: &Evidence) -> Result<bool, Error> {
        self.record_once(LinkAction::Confirm, link_id, claims, evidence).await
    }

    /// The row of a link's open or confirmation (once per link), its event
    /// and its audit row, in one transaction; `false` if already recorded.
    async fn record_once(&self, action: LinkAction, link_id: Uuid, claims: &LinkClaims, evidence: &Evidence) -> Result<bool, Error> {
        let now = self.clock.now();
        let sealed = self.seal_evidence(evidence)?;
        let mut tx = self.pool.begin().await?;
        let (table, at_column) = match action {
            LinkAction::Open => ("link_opens", "opened_at"),
            LinkAction::Confirm => ("receipts", "confirmed_at"),
        };
        let inserted: Option<i32> = sqlx::query_scalar(&format!(
            "INSERT INTO {table} (link_id, service_id, document_sha256, organ, {at_column}, evidence_sealed)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (link_id) DO NOTHING RETURNING 1"
        ))
        .bind(link_id)
        .bind(&claims.service_id)
        .bind(&claims.document_sha256)
        .bind(&claims.organ)
        .bind(now)
        .bind(&sealed)
        .fetch_optional(&mut *tx)
        .await?;
        if inserted.is_none() {
            return Ok(false);
        }
        let (link, service, sha256) = (claims.link_id.clone(), claims.service_id.clone(), claims.document_sha256.clone());
        let (event_type, audit_action, payload) = match action {
            LinkAction::Open => (
                "portal.link_opened",
                "link.open",
                Payload::PortalLinkOpened(ev::PortalLinkOpened {
                    link_id: link,
                    service_id: service,
                    document_sha256: sha256,
                    opened_at: Some(timestamp(now)),
                    evidence_sealed: sealed,
                }),
            ),
            LinkAction::Confirm => (
                "portal.receipt_confirmed",
                "receipt.confirm",
                Payload::PortalReceiptConfirmed(ev::PortalReceiptConfirmed {
                    link_id: link,
                    service_id: service,
                    document_sha256: sha256,
                    confirmed_at: Some(timestamp(now)),
                    evidence_sealed: sealed,
                }),
            ),
        };
        let after =
            json!({ "link_id": claims.link_id, "service_id": claims.service_id, "document_sha256": claims.document_sha256, at_column: now });
        self.commit_with(
            tx,
            event_type,
            self.division_of(&claims.organ),
            &claims.organ,
            payload,
            "party",
            audit_action,
            &format!("link/{link_id}"),
            &after,
            now,
        )
        .await?;
        Ok(true)
    }

    /// When the link's receipt was confirmed, if it was.
    pub async fn confirmed_at(&self, link_id: Uuid) -> Result<Option<DateTime<Utc>>, Error> {
        Ok(sqlx::query_scalar("SELECT confirmed_at FROM receipts WHERE link_id = $1")
            .bind(link_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// When a rectification report was submitted through the link, if one was.
    pub async fn report_submitted_at(&self, link_id: Uuid) -> Result<Option<DateTime<Utc>>, Error> {
        Ok(sqlx::query_scalar("SELECT submitted_at FROM reports WHERE link_id = $1")
            .bind(link_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Records the party's rectification report submitted through a
    /// `report` link: the row (once per link: its primary key), the
    /// `portal.report_submitted` event and the audit row in one
    /// transaction. The text is sealed (context [`REPORT_CONTEXT`]), and so
    /// is the evidence; the attachments are already in the object store
    /// (`attachment_sha256`). A link that has a report already records
    /// nothing and answers when that one was submitted.
    pub async fn record_report(
        &self,
        link_id: Uuid,
        claims: &LinkClaims,
        text: &str,
        attachment_sha256: &[String],
        evidence: &Evidence,
    ) -> Result<ReportRecorded, Error> {
        let now = self.clock.now();
        let text_sealed = self.vault.seal(text, REPORT_CONTEXT)?;
        let evidence_sealed = self.seal_evidence(evidence)?;
        let mut tx = self.pool.begin().await?;
        let inserted: Option<i32> = sqlx::query_scalar(
            "INSERT INTO reports (link_id, rectification_id, notice_sha256, organ, submitted_at, attachment_sha256, text_sealed, evidence_sealed)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (link_id) DO NOTHING RETURNING 1",
        )
        .bind(link_id)
        .bind(&claims.service_id)
        .bind(&claims.document_sha256)
        .bind(&claims.organ)
        .bind(now)
        .bind(attachment_sha256)
        .bind(&text_sealed)
        .bind(&evidence_sealed)
        .fetch_optional(&mut *tx)
        .await?;
        if inserted.is_none() {
            drop(tx);
            let before = self
                .report_submitted_at(link_id)
                .await?
                .ok_or_else(|| Error::Internal(format!("report of link {link_id} neither inserted nor found")))?;
            return Ok(ReportRecorded::Before(before));
        }
        let payload = Payload::PortalReportSubmitted(ev::PortalReportSubmitted {
            link_id: claims.link_id.clone(),
            rectification_id: claims.service_id.clone(),
            text_sealed,
            attachment_sha256: attachment_sha256.to_vec(),
            submitted_at: Some(timestamp(now)),
            evidence_sealed,
        });
        // Ids, hashes and the time: the text and the evidence only travel sealed.
        let after = json!({
            "link_id": claims.link_id,
            "rectification_id": claims.service_id,
            "notice_sha256": claims.document_sha256,
            "attachment_sha256": attachment_sha256,
            "submitted_at": now,
        });
        self.commit_with(
            tx,
            "portal.report_submitted",
            self.division_of(&claims.organ),
            &claims.organ,
            payload,
            "party",
            "report.submit",
            &format!("link/{link_id}"),
            &after,
            now,
        )
        .await?;
        Ok(ReportRecorded::New(now))
    }

    /// When a rating was submitted through the link, if one was.
    pub async fn rating_submitted_at(&self, link_id: Uuid) -> Result<Option<DateTime<Utc>>, Error> {
        Ok(sqlx::query_scalar("SELECT submitted_at FROM ratings WHERE link_id = $1")
            .bind(link_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// The one row a `rate` link may leave in `table` (`ratings` or
    /// `party_complaints`, keyed by the link), inserted in `tx`: `None` when
    /// it is new, else when the earlier one was submitted.
    async fn once_per_link(tx: &mut sqlx::PgConnection, table: OncePerLink, link_id: Uuid, organ: &str, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, Error> {
        let table = table.name();
        let inserted: Option<i32> = sqlx::query_scalar(&format!("INSERT INTO {table} (link_id, organ, submitted_at) VALUES ($1, $2, $3) ON CONFLICT (link_id) DO NOTHING RETURNING 1"))
            .bind(link_id)
            .bind(organ)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
        if inserted.is_some() {
            return Ok(None);
        }
        let before: Option<DateTime<Utc>> = sqlx::query_scalar(&format!("SELECT submitted_at FROM {table} WHERE link_id = $1")).bind(link_id).fetch_optional(&mut *tx).await?;
        before.map(Some).ok_or_else(|| Error::Internal(format!("{table} row of link {link_id} neither inserted nor found")))
    }

    /// Records the party's rating submitted through a `rate` link: the row
    /// (once per link: its primary key), `portal.rating_submitted` and the
    /// audit row in one transaction. The event's envelope names no case
    /// (its jurisdiction is the organ's division); the case id (the link's
    /// `service_id`) and the comment travel sealed (context
    /// [`RATING_CONTEXT`]). Neither the audit row nor the row names the case.
    pub async fn record_rating(&self, link_id: Uuid, claims: &LinkClaims, form: &RatingForm) -> Result<ReportRecorded, Error> {
        let now = self.clock.now();
        let case_sealed = self.vault.seal(&claims.service_id, RATING_CONTEXT)?;
        let comment_sealed = if form.comment.is_empty() { Vec::new() } else { self.vault.seal(&form.comment, RATING_CONTEXT)? };
        let mut tx = self.pool.begin().await?;
        if let Some(before) = Self::once_per_link(&mut tx, OncePerLink::Rating, link_id, &claims.organ, now).await? {
            return Ok(ReportRecorded::Before(before));
        }
        let payload = Payload::PortalRatingSubmitted(ev::PortalRatingSubmitted {
            link_id: claims.link_id.clone(),
            case_sealed,
            attitude: form.attitude,
            professionalism: form.professionalism,
            communication: form.communication,
            comment_sealed,
            submitted_at: Some(timestamp(now)),
        });
        let after = json!({ "link_id": claims.link_id, "submitted_at": now });
        self.commit_with(
            tx,
            "portal.rating_submitted",
            self.division_of(&claims.organ),
            &claims.organ,
            payload,
            "party",
            "rating.submit",
            &format!("link/{link_id}"),
            &after,
            now,
        )
        .await?;
        Ok(ReportRecorded::New(now))
    }

    /// When a complaint was submitted through the link, if one was.
    pub async fn complaint_submitted_at(&self, link_id: Uuid) -> Result<Option<DateTime<Utc>>, Error> {
        Ok(sqlx::query_scalar("SELECT submitted_at FROM party_complaints WHERE link_id = $1").bind(link_id).fetch_optional(&self.pool).await?)
    }

    /// Records the party's complaint against an officer (R-SUP-6) submitted
    /// through its `rate` link: the row (once per link), the event
    /// `portal.complaint_submitted` and the audit row in one transaction;
    /// as with the rating, the envelope names no case and the case id and
    /// the description travel sealed (context [`COMPLAINT_CONTEXT`]).
    pub async fn record_complaint(&self, link_id: Uuid, claims: &LinkClaims, form: &ComplaintForm) -> Result<ReportRecorded, Error> {
        let now = self.clock.now();
        let case_sealed = self.vault.seal(&claims.service_id, COMPLAINT_CONTEXT)?;
        let description_sealed = self.vault.seal(&form.description, COMPLAINT_CONTEXT)?;
        let mut tx = self.pool.begin().await?;
        if let Some(before) = Self::once_per_link(&mut tx, OncePerLink::Complaint, link_id, &claims.organ, now).await? {
            return Ok(ReportRecorded::Before(before));
        }
        let payload = Payload::PortalComplaintSubmitted(ev::PortalComplaintSubmitted {
            link_id: claims.link_id.clone(),
            case_sealed,
            kind: form.kind.clone(),
            description_sealed,
            submitted_at: Some(timestamp(now)),
        });
        let after = json!({ "link_id": claims.link_id, "kind": form.kind, "submitted_at": now });
        self.commit_with(
            tx,
            "portal.complaint_submitted",
            self.division_of(&claims.organ),
            &claims.organ,
            payload,
            "party",
            "complaint.submit",
            &format!("link/{link_id}"),
            &after,
            now,
        )
        .await?;
        Ok(ReportRecorded::New(now))
    }

    /// Records SMS delivery reports, all in one transaction; returns how
    /// many were new (the others were received before).
    pub async fn record_sms_reports(&self, reports: &[SmsReport], raw: &[serde_json::Value]) -> Result<usize, Error> {
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        let mut batch = WriteBatch::new();
        let mut new = 0;
        for (report, raw) in reports.iter().zip(raw) {
            let sealed = self.vault.seal(&raw.to_string(), SMS_REPORT_CONTEXT)?;
            let inserted: Option<i64> = sqlx::query_scalar(
                "INSERT INTO sms_reports (out_id, biz_id, success, report_time, err_code, received_at, report_sealed)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (out_id, biz_id, success, report_time) DO NOTHING RETURNING id",
            )
            .bind(&report.out_id)
            .bind(&report.biz_id)
            .bind(report.success)
            .bind(&report.report_time)
            .bind(&report.err_code)
            .bind(now)
            .bind(&sealed)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(id) = inserted else { continue };
            new += 1;
            let payload = Payload::PortalSmsReportReceived(ev::PortalSmsReportReceived {
                out_id: report.out_id.clone(),
                biz_id: report.biz_id.clone(),
                delivered: report.success,
                err_code: report.err_code.clone(),
                report_time: report.report_time.clone(),
            });
            self.outbox.write_in(
                &mut batch,
                self.event("portal.sms_report_received", self.portal.division.clone(), "", payload),
                now,
            )?;
            let after = json!({ "out_id": report.out_id, "biz_id": report.biz_id, "success": report.success, "err_code": report.err_code, "report_time": report.report_time });
            let subject = format!("sms_report/{id}");
            audit::append_in(
                &mut batch,
                &AuditEntry {
                    actor_id: "provider:sms",
                    actor_organ: "",
                    action: "sms_report.receive",
                    subject: &subject,
                    before: None,
                    after: Some(&after),
                    at: now,
                },
            );
        }
        batch.execute(&mut tx).await?;
        tx.commit().await?;
        Ok(new)
    }

    /// Records the joins and leaves of one Janus event handler post, all in
    /// one transaction; returns how many were new (the others were posted
    /// before: same provider, room, feed, join or leave, and time). An event
    /// whose ids do not fit a `BIGINT` (Janus keeps them below 2^53) is
    /// skipped with a warning.
    pub async fn record_video_events(&self, provider: &str, events: &[VideoEvent]) -> Result<usize, Error> {
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        let mut batch = WriteBatch::new();
        let (mut new, mut pending) = (0, 0);
        for event in events {
            let Some((room_id, feed_id)) = event.db_ids() else {
                tracing::warn!(room_id = event.room_id, feed_id = event.feed_id, "video event with ids beyond 2^63 skipped");
                continue;
            };
            let inserted: Option<i64> = sqlx::query_scalar(
                "INSERT INTO video_events (provider, room_id, feed_id, joined, display, at, received_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (provider, room_id, feed_id, joined, at) DO NOTHING RETURNING id",
            )
            .bind(provider)
            .bind(room_id)
            .bind(feed_id)
            .bind(event.joined)
            .bind(&event.display)
            .bind(event.at)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(id) = inserted else { continue };
            new += 1;
            if pending >= VIDEO_BATCH_EVENTS {
                // Still one transaction; only the statement is bounded.
                std::mem::take(&mut batch).execute(&mut tx).await?;
                pending = 0;
            }
            pending += 1;
            let payload = Payload::PortalVideoEvent(ev::PortalVideoEvent {
                provider: provider.to_string(),
                room_id: event.room_id,
                feed_id: event.feed_id,
                joined: event.joined,
                display: event.display.clone(),
                at: Some(timestamp(event.at)),
            });
            self.outbox.write_in(
                &mut batch,
                self.event("portal.video_event", self.portal.division.clone(), "", payload),
                now,
            )?;
            // Ids and times only: the display name travels in the event.
            let after = json!({ "provider": provider, "room_id": event.room_id, "feed_id": event.feed_id, "joined": event.joined, "at": event.at });
            let actor = format!("provider:{provider}");
            let subject = format!("video_event/{id}");
            audit::append_in(
                &mut batch,
                &AuditEntry {
                    actor_id: &actor,
                    actor_organ: "",
                    action: "video_event.receive",
                    subject: &subject,
                    before: None,
                    after: Some(&after),
                    at: now,
                },
            );
        }
        batch.execute(&mut tx).await?;
        tx.commit().await?;
        Ok(new)
    }

    /// Records an e-government acknowledgement; `false` if received before.
    pub async fn record_egov_ack(&self, ack: &EgovAck) -> Result<bool, Error> {
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO egov_acks (msg_id, receipt_id, status, delivered_at, reason, received_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (msg_id, receipt_id, status, delivered_at) DO NOTHING RETURNING id",
        )
        .bind(&ack.msg_id)
        .bind(&ack.receipt_id)
        .bind(&ack.status)
        .bind(&ack.delivered_at)
        .bind(&ack.reason)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = inserted else { return Ok(false) };
        let payload = Payload::PortalEgovAcknowledged(ev::PortalEgovAcknowledged {
            msg_id: ack.msg_id.clone(),
            receipt_id: ack.receipt_id.clone(),
            delivered: ack.delivered(),
            delivered_at: ack.delivered_at.clone(),
            reason: ack.reason.clone(),
        });
        let after = json!({ "msg_id": ack.msg_id, "receipt_id": ack.receipt_id, "status": ack.status, "delivered_at": ack.delivered_at, "reason": ack.reason });
        self.commit_with(
            tx,
            "portal.egov_acknowledged",
            self.portal.division.clone(),
            "",
            payload,
            "provider:egov",
            "egov_ack.receive",
            &format!("egov_ack/{id}"),
            &after,
            now,
        )
        .await?;
        Ok(true)
    }

    /// The event and the audit row in one batch, then commit.
    #[allow(clippy::too_many_arguments)]
    async fn commit_with(
        &self,
        mut tx: sqlx::Transaction<'static, sqlx::Postgres>,
        event_type: &str,
        jurisdiction: String,
        organ: &str,
        payload: Payload,
        actor: &str,
        action: &str,
        subject: &str,
        after: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let mut batch = WriteBatch::new();
        self.outbox
            .write_in(&mut batch, self.event(event_type, jurisdiction, organ, payload), now)?;
        audit::append_in(
            &mut batch,
            &AuditEntry {
                actor_id: actor,
                actor_organ: organ,
                action,
                subject,
                before: None,
                after: Some(after),
                at: now,
            },
        );
        batch.execute(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// What [`State::record_report`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportRecorded {
    /// Recorded now, at this time.
    New(DateTime<Utc>),
    /// The link had a report already, submitted then; nothing written.
    Before(DateTime<Utc>),
}

/// What a party did with a link.
#[derive(Debug, Clone, Copy)]
enum LinkAction {
    Open,
    Confirm,
}

/// What a party submits at most once through a `rate` link, and its table.
#[derive(Debug, Clone, Copy)]
enum OncePerLink {
    Rating,
    Complaint,
}

impl OncePerLink {
    fn name(self) -> &'static str {
        match self {
            OncePerLink::Rating => "ratings",
            OncePerLink::Complaint => "party_complaints",
        }
    }
}
