//! The state changes of rectification, shared by the event handlers, the
//! API and the timers. Each function runs inside the caller's transaction
//! and writes everything a change implies — rows, events (outbox), timers,
//! documents, the audit row — so a process that dies halfway leaves nothing:
//! an acceptance and its certificate (or its penalty draft) are one
//! transaction, so a crash between them cannot happen.
//!
//! Lock order: the case row, then the rectification, then the document.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde_json::json;
use sqlx::types::Json;
use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_documents::{AcceptanceAnswer, AcceptanceCertificate, AcceptanceOpinion, Document, PenaltyPriorNotice, RectItem, RectificationNotice};
use yuetan_platform::audit::{self, AuditEntry, By};
use yuetan_platform::fields::{cst_date, date, end_of_cst_day, timestamp};
use yuetan_platform::links::{LinkClaims, PURPOSE_REPORT};
use yuetan_platform::numbering::organ_number;
use yuetan_platform::outbox::NewEvent;
use yuetan_platform::{timers, Actor, Error};
use yuetan_proto::events::{self as ev, event::Payload};

use crate::domain::{self, Item, Outcome};
use crate::store::{self, AnswerRow, CaseRow, DocumentRow, LedgerRow, RectRow};
use crate::State;

/// One item's deadline; the key is `<rectification id>/<item no>`.
pub const ITEM_TIMER: &str = "rectification.item_deadline";
/// R-RECT-3: the report's due day; the key is the rectification id.
pub const REPORT_TIMER: &str = "rectification.report_due";
/// R-RECT-2: the follow-up cadence; the key is the rectification id.
pub const FOLLOW_UP_TIMER: &str = "rectification.follow_up";
/// R-RECT-3: the reminder 2 working days before the report's due day; the key is the rectification id.
pub const REMINDER_TIMER: &str = "rectification.report_reminder";
/// How many working days before the report's due day the party is reminded.
pub const REMINDER_WORKING_DAYS: u32 = 2;

pub const NOTICE_KIND: &str = "rectification_notice";
pub const NOTICE_TITLE: &str = "整改通知书";
pub const NOTICE_SUFFIX: &str = "整改";
pub const OPINION_KIND: &str = "acceptance_opinion";
pub const OPINION_TITLE: &str = "整改验收意见书";
pub const OPINION_SUFFIX: &str = "验意";
pub const CERTIFICATE_KIND: &str = "acceptance_certificate";
pub const CERTIFICATE_TITLE: &str = "整改验收合格书";
pub const CERTIFICATE_SUFFIX: &str = "验合";
pub const PENALTY_KIND: &str = "penalty_prior_notice_draft";
pub const PENALTY_TITLE: &str = "行政处罚告知书（草稿）";

pub const BY_SERVICE: By<'static> = By::Service(crate::SERVICE);

/// The standard consequence printed on the notice (R-RECT-6).
pub const STANDARD_CONSEQUENCE: &str = "逾期未整改或者整改不到位的，本机关将依法启动行政处罚程序，本次约谈记录将作为证据使用。";

pub fn audit_rect(r: &RectRow) -> serde_json::Value {
    json!({
        "rectification_id": r.id, "case_id": r.case_id, "status": r.status, "tracker": r.tracker, "cadence_days": r.cadence_days,
        "items": r.items.0, "deadline": r.deadline, "report_due": r.report_due, "notice_document_id": r.notice_document_id,
        "report_channel": r.report_channel, "report_received_at": r.report_received_at, "report_attachments": r.report_attachments,
        "report_late": r.report_late, "acceptance_due": r.acceptance_due, "extension_decision": r.extension_decision,
        "certificate_document_id": r.certificate_document_id, "penalty_draft_document_id": r.penalty_draft_document_id,
        "follow_up_overdue": r.follow_up_overdue, "reinspection": r.reinspection, "version": r.version,
    })
}

fn agreed(items: &[Item]) -> Vec<ev::AgreedItem> {
    items
        .iter()
        .map(|i| ev::AgreedItem {
            item_no: i.item_no,
            content: i.content.clone(),
            deadline: Some(date(i.deadline)),
            acceptance_standard: i.acceptance_standard.clone(),
            check_method: i.check_method.clone(),
            approved_by: String::new(),
            approval_reason: String::new(),
        })
        .collect()
}

fn rect_items(items: &[Item]) -> Vec<RectItem> {
    items.iter().map(|i| RectItem { content: i.content.clone(), deadline: i.deadline, acceptance_standard: i.acceptance_standard.clone() }).collect()
}

pub fn report_context(rect_id: Uuid) -> String {
    format!("rectification.report/{rect_id}")
}

impl State {
    fn event(&self, event_type: &str, case: &CaseRow, by: By<'_>, causation: &str, payload: Payload) -> NewEvent {
        NewEvent {
            event_type: event_type.to_string(),
            case_id: Some(case.case_id),
            case_version: u64::try_from(case.version).unwrap_or(0),
            jurisdiction: case.division.clone(),
            organ: case.lead_organ.clone(),
            actor: by.proto(),
            correlation_id: None,
            causation_id: (!causation.is_empty()).then(|| causation.to_string()),
            payload,
        }
    }

    /// Writes an event of the case: the next of rectification's sequence for it.
    #[allow(clippy::too_many_arguments)]
    async fn emit(&self, conn: &mut PgConnection, case: &mut CaseRow, event_type: &str, by: By<'_>, causation: &str, payload: Payload, now: DateTime<Utc>) -> Result<(), Error> {
        case.version += 1;
        case.updated_at = now;
        let event = self.event(event_type, case, by, causation, payload);
        self.outbox.write(conn, event, now).await?;
        store::put_case(conn, case).await
    }

    /// An event outside the case's sequence (document review requests, service requests).
    #[allow(clippy::too_many_arguments)]
    async fn emit_side(&self, conn: &mut PgConnection, case: &CaseRow, event_type: &str, by: By<'_>, causation: &str, payload: Payload, now: DateTime<Utc>) -> Result<(), Error> {
        let mut event = self.event(event_type, case, by, causation, payload);
        event.case_version = 0;
        self.outbox.write(conn, event, now).await.map(|_| ())
    }

    #[allow(clippy::too_many_arguments)]
    async fn audit(&self, conn: &mut PgConnection, by: By<'_>, organ: &str, action: &str, subject: &str, before: Option<&serde_json::Value>, after: Option<&serde_json::Value>, now: DateTime<Utc>) -> Result<(), Error> {
        audit::append(conn, &AuditEntry { actor_id: by.id(), actor_organ: organ, action, subject, before, after, at: now }).await?;
        Ok(())
    }

    async fn save(&self, conn: &mut PgConnection, by: By<'_>, before: serde_json::Value, rect: &mut RectRow, action: &str, now: DateTime<Utc>) -> Result<(), Error> {
        rect.version += 1;
        rect.updated_at = now;
        store::update_rect(conn, rect).await?;
        let organ = rect.organ.clone();
        self.audit(conn, by, &organ, action, &format!("rectification/{}", rect.id), Some(&before), Some(&audit_rect(rect)), now).await
    }

    fn working_days_after(&self, from: NaiveDate, days: u32) -> Result<NaiveDate, Error> {
        self.calendar.current().add_working_days(from, days).map(|a| a.value).map_err(|e| Error::Internal(format!("calendar: {e}")))
    }

    /// The next number of a kind (R-DOC-2: gap-free, in this transaction).
    async fn take_number(&self, conn: &mut PgConnection, case: &CaseRow, suffix: &str, kind: &str, now: DateTime<Utc>) -> Result<String, Error> {
        // Intake opens no case without the organ's document code: an empty one
        // here means intake.case_opened has not reached this service yet (the
        // case was recorded from scheduling's event). Retryable, not the organ's fault.
        if case.document_code.is_empty() {
            return Err(Error::Unavailable(format!(
                "case {}: intake's case_opened (with the organ's document code) has not reached rectification yet; try again shortly",
                case.case_id
            )));
        }
        organ_number(conn, &case.document_code, &case.lead_organ, suffix, kind, cst_date(now).year()).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn store_document(&self, conn: &mut PgConnection, case: &CaseRow, kind: &str, title: &str, number: &str, doc: &Document, status: &str, issued_by: &str, now: DateTime<Utc>) -> Result<DocumentRow, Error> {
        let rendered = self.renderer.render(doc).map_err(|e| Error::Internal(format!("rendering {title}: {e}")))?;
        let stored = self.objects.put(rendered.pdf).await?;
        let row = DocumentRow {
            id: Uuid::now_v7(),
            case_id: case.case_id,
            kind: kind.into(),
            title: title.into(),
            number: number.into(),
            organ: case.lead_organ.clone(),
            division: case.division.clone(),
            sha256: stored.sha256,
            pages: i32::try_from(rendered.pages).unwrap_or(1),
            revision: 1,
            status: status.into(),
            seal_signature: String::new(),
            seal_key_id: String::new(),
            sealed_at: None,
            issued_by: issued_by.into(),
            created_at: now,
        };
        store::insert_document(conn, &row).await?;
        Ok(row)
    }

    /// R-DOC-2: the organ's key seals the file's sha256.
    fn seal(&self, document: &mut DocumentRow, now: DateTime<Utc>) -> Result<(), Error> {
        let (key_id, signature) = self.seals.seal(&document.organ, &document.sha256)?;
        document.seal_signature = signature;
        document.seal_key_id = key_id;
        document.sealed_at = Some(now);
        document.status = "sealed".into();
        Ok(())
    }

    /// Asks scheduling to serve a sealed document (`rectification.service_requested`).
    async fn request_service(&self, conn: &mut PgConnection, case: &CaseRow, document: &DocumentRow, causation: &str, now: DateTime<Utc>) -> Result<(), Error> {
        let payload = Payload::ServiceRequested(ev::ServiceRequested {
            service_id: String::new(),
            document_id: document.id.to_string(),
            document_sha256: document.sha256.clone(),
            document_name: document.title.clone(),
            document_number: document.number.clone(),
            kind: document.kind.clone(),
            channels: Vec::new(),
            requested_by: document.issued_by.clone(),
        });
        self.emit_side(conn, case, "rectification.service_requested", BY_SERVICE, causation, payload, now).await
    }

    /// The party's report link (purpose `report`), valid until the deadline's
    /// end. It names the signed interview record, where the agreed items
    /// are (the notice that prints the link cannot name its own sha256).
    pub fn report_link(&self, rect: &RectRow, record: Option<&store::RecordRef>, now: DateTime<Utc>) -> String {
        let claims = LinkClaims {
            link_id: Uuid::now_v7().to_string(),
            document_sha256: record.map(|r| r.sha256.clone()).unwrap_or_default(),
            document_name: record.map_or_else(|| "行政约谈记录".to_string(), |r| format!("行政约谈记录 {}", r.number)),
            service_id: rect.id.to_string(),
            purpose: PURPOSE_REPORT.into(),
            organ: rect.organ.clone(),
            expires_at: end_of_cst_day(rect.deadline).max(now + Duration::days(1)),
        };
        self.links.url(&claims)
    }

    // -----------------------------------------------------------------------
    // Events from other services

    pub async fn case_opened(&self, conn: &mut PgConnection, mut case: CaseRow) -> Result<(), Error> {
        if let Some(known) = store::case(conn, case.case_id, true).await? {
            case.version = known.version;
        }
        store::put_case(conn, &case).await
    }

    /// scheduling.interview_held: the rectification opens with its items, a
    /// tracker (the officer who closed the interview, until the chief names
    /// another), one deadline timer per item, the report's due day and the
    /// follow-up cadence. A case held for a criminal transfer does not open.
    pub async fn interview_held(&self, conn: &mut PgConnection, mut case: CaseRow, held: &ev::InterviewHeld, closed_by: &str, causation: &str, now: DateTime<Utc>) -> Result<(), Error> {
        if held.held_for_transfer || store::rect_of_case(conn, case.case_id, false).await?.is_some() {
            return Ok(());
        }
        // intake.case_opened may not have reached this service yet (delayed
        // behind a redelivery): record the case as the event describes it, so
        // the rectification's row has its case; case_opened completes it later.
        if store::case(conn, case.case_id, false).await?.is_none() {
            store::put_case(conn, &case).await?;
        }
        let mut items = Vec::new();
        for i in &held.items {
            let deadline = i.deadline.as_ref().and_then(|d| d.iso.parse().ok()).ok_or_else(|| Error::Internal(format!("item {} without a deadline", i.item_no)))?;
            items.push(Item { item_no: i.item_no, content: i.content.clone(), deadline, acceptance_standard: i.acceptance_standard.clone(), check_method: i.check_method.clone() });
        }
        let Some(deadline) = domain::deadline(&items) else { return Ok(()) };
        let calendar = self.calendar.current();
        let report_due = domain::report_due(&calendar, deadline).map_err(Error::Internal)?;
        let rect = RectRow {
            id: Uuid::now_v7(),
            case_id: case.case_id,
            interview_id: held.interview_id.clone(),
            organ: case.lead_organ.clone(),
            division: case.division.clone(),
            status: "open".into(),
            tracker: closed_by.to_string(),
            cadence_days: i32::try_from(self.settings.cadence_days).unwrap_or(7),
            items: Json(items.clone()),
            provisions: held.provisions.clone(),
            deadline,
            report_due,
            notice_document_id: None,
            report_channel: String::new(),
            report_received_at: None,
            report_text_sealed: None,
            report_attachments: Vec::new(),
            report_late: false,
            acceptance_due: None,
            extension_requested: false,
            extension_reason: String::new(),
            extension_new_deadline: None,
            extension_decision: String::new(),
            certificate_document_id: None,
            penalty_draft_document_id: None,
            follow_up_overdue: false,
            last_entry_on: None,
            reinspect_on: None,
            reinspection: String::new(),
            follow_up: String::new(),
            version: 1,
            updated_at: now,
        };
        if !store::insert_rect(conn, &rect).await? {
            return Ok(());
        }
        self.schedule_deadlines(conn, &rect).await?;
        let first_check = cst_date(now) + Duration::days(i64::from(rect.cadence_days));
        timers::schedule(conn, FOLLOW_UP_TIMER, &rect.id.to_string(), end_of_cst_day(first_check), &json!({ "case_id": case.case_id })).await?;
        let payload = Payload::RectificationOpened(ev::RectificationOpened {
            case_id: case.case_id.to_string(),
            rectification_id: rect.id.to_string(),
            tracker: rect.tracker.clone(),
            items: agreed(&items),
            deadline: Some(date(deadline)),
            report_due: Some(date(report_due)),
            cadence_days: u32::try_from(rect.cadence_days).unwrap_or(7),
        });
        self.emit(conn, &mut case, "rectification.opened", BY_SERVICE, causation, payload, now).await?;
        self.audit(conn, BY_SERVICE, &rect.organ, "rectification.open", &format!("rectification/{}", rect.id), None, Some(&audit_rect(&rect)), now).await
    }

    async fn schedule_deadlines(&self, conn: &mut PgConnection, rect: &RectRow) -> Result<(), Error> {
        for item in &rect.items.0 {
            timers::schedule(conn, ITEM_TIMER, &format!("{}/{}", rect.id, item.item_no), end_of_cst_day(item.deadline), &json!({ "case_id": rect.case_id })).await?;
        }
        timers::schedule(conn, REPORT_TIMER, &rect.id.to_string(), end_of_cst_day(rect.report_due), &json!({ "case_id": rect.case_id })).await?;
        // 09:00 CST on the reminder day.
        let remind_on = domain::working_days_before(&self.calendar.current(), rect.report_due, REMINDER_WORKING_DAYS).map_err(Error::Internal)?;
        let remind_at = end_of_cst_day(remind_on) - Duration::hours(15);
        timers::schedule(conn, REMINDER_TIMER, &rect.id.to_string(), remind_at, &json!({ "case_id": rect.case_id })).await?;
        Ok(())
    }

    async fn cancel_deadlines(&self, conn: &mut PgConnection, rect: &RectRow, now: DateTime<Utc>) -> Result<(), Error> {
        for item in &rect.items.0 {
            timers::cancel(conn, ITEM_TIMER, &format!("{}/{}", rect.id, item.item_no), now).await?;
        }
        timers::cancel(conn, REPORT_TIMER, &rect.id.to_string(), now).await?;
        timers::cancel(conn, REMINDER_TIMER, &rect.id.to_string(), now).await?;
        Ok(())
    }

    pub async fn record_signed(&self, conn: &mut PgConnection, signed: &ev::RecordSigned) -> Result<(), Error> {
        let Ok(case_id) = Uuid::parse_str(&signed.case_id) else { return Ok(()) };
        let r = store::RecordRef {
            case_id,
            record_id: signed.record_id.clone(),
            number: signed.number.clone(),
            sha256: signed.signed_sha256.clone(),
            version: i32::try_from(signed.version).unwrap_or(1),
        };
        store::put_record_ref(conn, &r).await
    }

    // -----------------------------------------------------------------------
    // Officers' changes

    pub async fn assign_tracker(&self, conn: &mut PgConnection, actor: &Actor, mut rect: RectRow, officer_id: String, cadence_days: Option<u32>, now: DateTime<Utc>) -> Result<RectRow, Error> {
        let before = audit_rect(&rect);
        rect.tracker = officer_id;
        if let Some(days) = cadence_days {
            rect.cadence_days = i32::try_from(days).unwrap_or(7);
            let from = rect.last_entry_on.unwrap_or_else(|| cst_date(now));
            timers::cancel(conn, FOLLOW_UP_TIMER, &rect.id.to_string(), now).await?;
            timers::schedule(conn, FOLLOW_UP_TIMER, &rect.id.to_string(), end_of_cst_day(from + Duration::days(i64::from(days))), &json!({ "case_id": rect.case_id })).await?;
        }
        self.save(conn, By::Officer(actor), before, &mut rect, "rectification.assign_tracker", now).await?;
        Ok(rect)
    }

    /// Numbers and renders the rectification notice (R-RECT-1) and asks the
    /// legal section to review it; once passed it is sealed and served.
    #[allow(clippy::too_many_arguments)]
    pub async fn issue_notice(&self, conn: &mut PgConnection, actor: &Actor, mut case: CaseRow, mut rect: RectRow, legal_basis: String, consequence: String, contact: String, causation: &str, now: DateTime<Utc>) -> Result<DocumentRow, Error> {
        if rect.notice_document_id.is_some() {
            return Err(Error::FailedPrecondition("the rectification notice was already issued".into()));
        }
        if rect.status != "open" {
            return Err(Error::FailedPrecondition(format!("the rectification is {}", rect.status)));
        }
        let before = audit_rect(&rect);
        let record = store::record_ref(conn, case.case_id).await?;
        let number = self.take_number(conn, &case, NOTICE_SUFFIX, NOTICE_KIND, now).await?;
        let link = self.report_link(&rect, record.as_ref(), now);
        let notice = RectificationNotice {
            issuing_organ: case.organ_name.clone(),
            number: number.clone(),
            party_name: case.party_name.clone(),
            case_number: case.number.clone(),
            record_number: record.as_ref().map(|r| r.number.clone()).unwrap_or_default(),
            legal_basis: if legal_basis.is_empty() { rect.provisions.join("；") } else { legal_basis },
            items: rect_items(&rect.items.0),
            deadline: rect.deadline,
            report_due: rect.report_due,
            consequence: if consequence.is_empty() { STANDARD_CONSEQUENCE.into() } else { consequence },
            report_channel: link,
            contact,
            issued_on: cst_date(now),
        };
        let document = self.store_document(conn, &case, NOTICE_KIND, NOTICE_TITLE, &number, &Document::RectificationNotice(notice), "in_review", &actor.officer_id, now).await?;
        rect.notice_document_id = Some(document.id);
        self.save(conn, By::Officer(actor), before, &mut rect, "rectification.notice_issue", now).await?;
        let review = Payload::DocumentReviewRequested(ev::DocumentReviewRequested {
            document_id: document.id.to_string(),
            kind: NOTICE_KIND.into(),
            title: format!("{NOTICE_TITLE} {number}"),
            content_sha256: document.sha256.clone(),
            submitted_by: actor.officer_id.clone(),
            revision: 1,
        });
        self.emit_side(conn, &case, "rectification.document_review_requested", By::Officer(actor), causation, review, now).await?;
        let payload = Payload::RectificationNoticeIssued(ev::RectificationNoticeIssued {
            case_id: case.case_id.to_string(),
            rectification_id: rect.id.to_string(),
            document_id: document.id.to_string(),
            number,
            sha256: document.sha256.clone(),
            revision: 1,
        });
        self.emit(conn, &mut case, "rectification.notice_issued", By::Officer(actor), causation, payload, now).await?;
        Ok(document)
    }

    /// review.document_review_decided for the notice: passed → sealed and served.
    pub async fn document_decided(&self, conn: &mut PgConnection, document_id: Uuid, pass: bool, causation: &str, now: DateTime<Utc>) -> Result<(), Error> {
        let Some(peek) = store::document(conn, document_id, false).await? else { return Ok(()) };
        let Some(case) = store::case(conn, peek.case_id, true).await? else { return Ok(()) };
        let Some(mut document) = store::document(conn, document_id, true).await? else { return Ok(()) };
        if document.status != "in_review" {
            return Ok(());
        }
        if !pass {
            document.status = "returned".into();
            store::update_document(conn, &document).await?;
            if let Some(mut rect) = store::rect_of_case(conn, case.case_id, true).await? {
                let before = audit_rect(&rect);
                rect.notice_document_id = None;
                self.save(conn, BY_SERVICE, before, &mut rect, "rectification.notice_returned", now).await?;
            }
            return Ok(());
        }
        self.seal(&mut document, now)?;
        store::update_document(conn, &document).await?;
        self.audit(conn, BY_SERVICE, &document.organ, "document.seal", &format!("document/{}", document.id), None, Some(&json!({ "sha256": document.sha256, "seal_key_id": document.seal_key_id })), now)
            .await?;
        self.request_service(conn, &case, &document, causation, now).await
    }

    /// R-RECT-2: a ledger entry; the follow-up clock restarts from its day.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_ledger_entry(&self, conn: &mut PgConnection, actor: &Actor, mut case: CaseRow, mut rect: RectRow, mut entry: LedgerRow, causation: &str, now: DateTime<Utc>) -> Result<LedgerRow, Error> {
        if matches!(rect.status.as_str(), "handed_off") {
            return Err(Error::FailedPrecondition("the case was handed to the penalty procedure".into()));
        }
        let before = audit_rect(&rect);
        entry.rectification_id = rect.id;
        entry.case_id = rect.case_id;
        store::insert_ledger(conn, &entry).await?;
        if rect.last_entry_on.is_none_or(|d| d < entry.entry_on) {
            rect.last_entry_on = Some(entry.entry_on);
        }
        rect.follow_up_overdue = false;
        let next = rect.last_entry_on.unwrap_or(entry.entry_on) + Duration::days(i64::from(rect.cadence_days));
        timers::cancel(conn, FOLLOW_UP_TIMER, &rect.id.to_string(), now).await?;
        timers::schedule(conn, FOLLOW_UP_TIMER, &rect.id.to_string(), end_of_cst_day(next), &json!({ "case_id": rect.case_id })).await?;
        self.save(conn, By::Officer(actor), before, &mut rect, "rectification.ledger_entry", now).await?;
        let payload = Payload::LedgerEntryAdded(ev::LedgerEntryAdded {
            case_id: case.case_id.to_string(),
            rectification_id: rect.id.to_string(),
            entry_id: entry.id.to_string(),
            method: entry.method.clone(),
            on: Some(date(entry.entry_on)),
            officer_id: entry.officer_id.clone(),
            organ: entry.organ.clone(),
        });
        self.emit(conn, &mut case, "rectification.ledger_entry_added", By::Officer(actor), causation, payload, now).await?;
        Ok(entry)
    }

    /// R-RECT-3: the party's report (portal or paper); late if after the due day.
    #[allow(clippy::too_many_arguments)]
    pub async fn report_received(&self, conn: &mut PgConnection, by: By<'_>, mut case: CaseRow, mut rect: RectRow, channel: &str, at: DateTime<Utc>, text: &str, attachments: Vec<String>, causation: &str, now: DateTime<Utc>) -> Result<RectRow, Error> {
        if rect.status != "open" {
            return Err(Error::FailedPrecondition(format!("a report is taken while the rectification is open (it is {})", rect.status)));
        }
        let before = audit_rect(&rect);
        let day = cst_date(at);
        let late = domain::report_is_late(day, rect.report_due);
        let acceptance_due = domain::acceptance_due(&self.calendar.current(), day).map_err(Error::Internal)?;
        rect.status = "reported".into();
        rect.report_channel = channel.into();
        rect.report_received_at = Some(at);
        rect.report_text_sealed = Some(self.vault.seal(text, &report_context(rect.id))?);
        rect.report_attachments = attachments.clone();
        rect.report_late = late;
        rect.acceptance_due = Some(acceptance_due);
        self.save(conn, by, before, &mut rect, "rectification.report", now).await?;
        let payload = Payload::ReportSubmitted(ev::ReportSubmitted {
            case_id: case.case_id.to_string(),
            rectification_id: rect.id.to_string(),
            channel: channel.into(),
            received_at: Some(timestamp(at)),
            attachment_sha256: attachments,
            late,
            acceptance_due: Some(date(acceptance_due)),
        });
        self.emit(conn, &mut case, "rectification.report_submitted", by, causation, payload, now).await?;
        Ok(rect)
    }

    /// The party asks for more time: once, with a reason, before the deadline.
    pub async fn request_extension(&self, conn: &mut PgConnection, actor: &Actor, mut rect: RectRow, reason: String, new_deadline: NaiveDate, now: DateTime<Utc>) -> Result<RectRow, Error> {
        if rect.extension_requested {
            return Err(Error::FailedPrecondition("an extension was already requested once for this rectification".into()));
        }
        if rect.status != "open" || cst_date(now) > rect.deadline {
            return Err(Error::FailedPrecondition("an extension is asked for before the deadline, while the rectification is open".into()));
        }
        if new_deadline <= rect.deadline {
            return Err(Error::invalid("new_deadline", format!("must be after the current deadline {}", rect.deadline)));
        }
        let before = audit_rect(&rect);
        rect.extension_requested = true;
        rect.extension_reason = reason;
        rect.extension_new_deadline = Some(new_deadline);
        self.save(conn, By::Officer(actor), before, &mut rect, "rectification.extension_request", now).await?;
        Ok(rect)
    }

    /// The section chief's decision; approved: every item moves by the same
    /// number of days and the timers with them.
    #[allow(clippy::too_many_arguments)]
    pub async fn decide_extension(&self, conn: &mut PgConnection, actor: &Actor, mut case: CaseRow, mut rect: RectRow, approve: bool, causation: &str, now: DateTime<Utc>) -> Result<RectRow, Error> {
        if !rect.extension_requested || !rect.extension_decision.is_empty() {
            return Err(Error::FailedPrecondition("no extension request is waiting for a decision".into()));
        }
        let before = audit_rect(&rect);
        let old = rect.deadline;
        let new = rect.extension_new_deadline.unwrap_or(old);
        rect.extension_decision = if approve { "approved".into() } else { "refused".into() };
        if approve && rect.status == "open" {
            self.cancel_deadlines(conn, &rect, now).await?;
            let shift = new - old;
            let mut items = rect.items.0.clone();
            for i in &mut items {
                i.deadline += shift;
            }
            rect.items = Json(items);
            rect.deadline = new;
            rect.report_due = domain::report_due(&self.calendar.current(), new).map_err(Error::Internal)?;
            rect.report_late = false;
            self.schedule_deadlines(conn, &rect).await?;
        }
        self.save(conn, By::Officer(actor), before, &mut rect, "rectification.extension_decide", now).await?;
        let payload = Payload::RectificationExtended(ev::RectificationExtended {
            case_id: case.case_id.to_string(),
            rectification_id: rect.id.to_string(),
            approved: approve,
            old_deadline: Some(date(old)),
            new_deadline: Some(date(if approve { new } else { old })),
            reason: rect.extension_reason.clone(),
            decided_by: actor.officer_id.clone(),
        });
        self.emit(conn, &mut case, "rectification.extended", By::Officer(actor), causation, payload, now).await?;
        Ok(rect)
    }

    /// R-RECT-4: one officer's answers. Two distinct officers decide: all
    /// pass → the opinion and the certificate (R-RECT-5), sealed and served;
    /// otherwise the opinion and the penalty hand-off (R-RECT-6). The
    /// acceptance, its documents and its events are one transaction.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_acceptance(&self, conn: &mut PgConnection, actor: &Actor, mut case: CaseRow, mut rect: RectRow, answer: AnswerRow, reinspect_on: Option<NaiveDate>, follow_up: String, causation: &str, now: DateTime<Utc>) -> Result<RectRow, Error> {
        if rect.status != "reported" {
            return Err(Error::FailedPrecondition(format!("acceptance follows the party's report (the rectification is {})", rect.status)));
        }
        let before = audit_rect(&rect);
        if !store::insert_answer(conn, &answer).await? {
            return Ok(rect); // the same officer twice counts once
        }
        self.audit(conn, By::Officer(actor), &actor.organ, "rectification.acceptance_answer", &format!("rectification/{}", rect.id), None, Some(&json!(answer)), now).await?;
        let answers = store::answers(conn, rect.id).await?;
        let rules: Vec<domain::Answer> = answers
            .iter()
            .map(|a| domain::Answer { officer_id: a.officer_id.clone(), complete: a.complete, lawful: a.lawful, goal_reached: a.goal_reached })
            .collect();
        let outcome = domain::outcome(&rules);
        if outcome == Outcome::Pending {
            return Ok(rect);
        }
        let passed = outcome == Outcome::Passed;
        let opinion_number = self.take_number(conn, &case, OPINION_SUFFIX, OPINION_KIND, now).await?;
        let notice_number = match rect.notice_document_id {
            Some(id) => store::document(conn, id, false).await?.map(|d| d.number).unwrap_or_default(),
            None => String::new(),
        };
        let conclusion = if passed { "经验收，整改内容完整、合法，达到整改目的，验收合格。".to_string() } else { "经验收，整改未达到要求，验收不合格，依法移送行政处罚程序。".to_string() };
        let opinion = AcceptanceOpinion {
            issuing_organ: case.organ_name.clone(),
            number: opinion_number.clone(),
            party_name: case.party_name.clone(),
            case_number: case.number.clone(),
            notice_number: notice_number.clone(),
            report_received_on: rect.report_received_at.map_or_else(|| cst_date(now), cst_date),
            items: rect_items(&rect.items.0),
            answers: answers
                .iter()
                .map(|a| AcceptanceAnswer {
                    officer: a.officer_id.clone(),
                    complete: a.complete,
                    lawful: a.lawful,
                    goal_reached: a.goal_reached,
                    comments: a.comments.clone(),
                    answered_at: yuetan_platform::fields::cst_datetime(a.answered_at),
                })
                .collect(),
            passed,
            conclusion: conclusion.clone(),
            issued_on: cst_date(now),
        };
        let opinion = self.store_document(conn, &case, OPINION_KIND, OPINION_TITLE, &opinion_number, &Document::AcceptanceOpinion(opinion), "issued", &actor.officer_id, now).await?;
        let officers: Vec<String> = answers.iter().map(|a| a.officer_id.clone()).collect();
        if passed {
            let number = self.take_number(conn, &case, CERTIFICATE_SUFFIX, CERTIFICATE_KIND, now).await?;
            let certificate = AcceptanceCertificate {
                issuing_organ: case.organ_name.clone(),
                number: number.clone(),
                party_name: case.party_name.clone(),
                case_number: case.number.clone(),
                notice_number,
                items: rect_items(&rect.items.0),
                conclusion,
                follow_up: follow_up.clone(),
                issued_on: cst_date(now),
            };
            let mut document =
                self.store_document(conn, &case, CERTIFICATE_KIND, CERTIFICATE_TITLE, &number, &Document::AcceptanceCertificate(certificate), "issued", &actor.officer_id, now).await?;
            self.seal(&mut document, now)?;
            store::update_document(conn, &document).await?;
            if self.settings.hang_before_acceptance_commit {
                tracing::warn!(rectification = %rect.id, "fault injection: hanging after the certificate was stored, before the acceptance commits");
                std::future::pending::<()>().await;
            }
            rect.status = "accepted".into();
            rect.certificate_document_id = Some(document.id);
            rect.reinspect_on = reinspect_on;
            rect.follow_up = follow_up;
            self.cancel_deadlines(conn, &rect, now).await?;
            timers::cancel(conn, FOLLOW_UP_TIMER, &rect.id.to_string(), now).await?;
            self.save(conn, By::Officer(actor), before, &mut rect, "rectification.accepted", now).await?;
            self.request_service(conn, &case, &document, causation, now).await?;
            let payload = Payload::RectificationAccepted(ev::RectificationAccepted {
                case_id: case.case_id.to_string(),
                rectification_id: rect.id.to_string(),
                officers,
                certificate_document_id: document.id.to_string(),
                certificate_number: number,
                certificate_sha256: document.sha256.clone(),
                reinspect_on: reinspect_on.map(date),
                opinion_document_id: opinion.id.to_string(),
                opinion_number: opinion.number.clone(),
                opinion_sha256: opinion.sha256.clone(),
            });
            self.emit(conn, &mut case, "rectification.accepted", By::Officer(actor), causation, payload, now).await?;
        } else {
            rect.status = "failed".into();
            self.save(conn, By::Officer(actor), before, &mut rect, "rectification.acceptance_failed", now).await?;
            let comments = answers.iter().filter(|a| !a.comments.is_empty()).map(|a| format!("{}：{}", a.officer_id, a.comments)).collect::<Vec<_>>().join("；");
            let payload = Payload::AcceptanceFailed(ev::AcceptanceFailed {
                case_id: case.case_id.to_string(),
                rectification_id: rect.id.to_string(),
                officers,
                comments,
                opinion_document_id: opinion.id.to_string(),
                opinion_number: opinion.number.clone(),
                opinion_sha256: opinion.sha256.clone(),
            });
            self.emit(conn, &mut case, "rectification.acceptance_failed", By::Officer(actor), causation, payload, now).await?;
            self.hand_off(conn, By::Officer(actor), &mut case, &mut rect, "acceptance_failed", causation, now).await?;
        }
        Ok(rect)
    }

    /// R-RECT-6: the penalty hand-off with everything a penalty system needs
    /// and a draft prior notice of penalty for the legal section. Once: the
    /// rectification is marked handed off; nothing is deleted.
    #[allow(clippy::too_many_arguments)]
    pub async fn hand_off(&self, conn: &mut PgConnection, by: By<'_>, case: &mut CaseRow, rect: &mut RectRow, reason: &str, causation: &str, now: DateTime<Utc>) -> Result<(), Error> {
        if rect.status == "handed_off" {
            return Ok(());
        }
        let before = audit_rect(rect);
        let mut references = Vec::new();
        let mut evidence = Vec::new();
        if let Some(r) = store::record_ref(conn, case.case_id).await? {
            evidence.push(format!("行政约谈记录 {}（sha256 {}）", r.number, r.sha256));
            references.push(ev::DocumentRef { kind: "interview_record".into(), document_id: r.record_id, number: r.number, sha256: r.sha256 });
        }
        if let Some(id) = rect.notice_document_id {
            if let Some(d) = store::document(conn, id, false).await? {
                evidence.push(format!("{} {}（sha256 {}）", d.title, d.number, d.sha256));
                references.push(ev::DocumentRef { kind: d.kind, document_id: d.id.to_string(), number: d.number, sha256: d.sha256 });
            }
        }
        let ledger = store::ledger(conn, rect.id).await?;
        let ledger_json = serde_json::to_vec(&ledger).map_err(|e| Error::Internal(e.to_string()))?;
        // Stored like any document, so the archive (R-DOC-3) holds the
        // ledger the hand-off names (content-addressed: a retry stores it once).
        let ledger_sha = self.objects.put(ledger_json).await?.sha256;
        evidence.push(format!("整改跟踪台账（{} 条记录）", ledger.len()));
        references.push(ev::DocumentRef { kind: "ledger".into(), document_id: rect.id.to_string(), number: format!("{} entries", ledger.len()), sha256: ledger_sha });
        for sha in ledger.iter().flat_map(|l| l.attachments.iter()).chain(rect.report_attachments.iter()) {
            references.push(ev::DocumentRef { kind: "evidence".into(), document_id: String::new(), number: String::new(), sha256: sha.clone() });
        }
        let failed_items = rect.items.0.clone();
        let facts = match reason {
            "deadline_passed" => format!("当事人经行政约谈承诺整改，逾期（{}）未提交整改报告、未完成整改。", rect.deadline),
            "acceptance_failed" => "当事人经行政约谈承诺整改，经两名执法人员验收，整改未达到要求。".to_string(),
            _ => "当事人拒不接受行政约谈。".to_string(),
        };
        let draft = PenaltyPriorNotice {
            issuing_organ: case.organ_name.clone(),
            number: String::new(),
            party_name: case.party_name.clone(),
            case_number: case.number.clone(),
            facts,
            provisions: rect.provisions.clone(),
            failed_items: rect_items(&failed_items),
            evidence,
            proposed_penalty: "（由法制机构审核后拟定）".into(),
            rights: "当事人有权在收到本告知书之日起五个工作日内进行陈述、申辩；符合听证条件的，有权要求举行听证。".into(),
            issued_on: cst_date(now),
        };
        let document = self.store_document(conn, case, PENALTY_KIND, PENALTY_TITLE, "", &Document::PenaltyPriorNotice(draft), "issued", by.id(), now).await?;
        references.push(ev::DocumentRef { kind: PENALTY_KIND.into(), document_id: document.id.to_string(), number: String::new(), sha256: document.sha256.clone() });
        rect.status = "handed_off".into();
        rect.penalty_draft_document_id = Some(document.id);
        self.cancel_deadlines(conn, rect, now).await?;
        timers::cancel(conn, FOLLOW_UP_TIMER, &rect.id.to_string(), now).await?;
        self.save(conn, by, before, rect, "rectification.penalty_handoff", now).await?;
        let payload = Payload::PenaltyHandoff(ev::PenaltyHandoff {
            case_id: case.case_id.to_string(),
            number: case.number.clone(),
            party_name: case.party_name.clone(),
            party_id: case.party_id.clone(),
            provisions: rect.provisions.clone(),
            failed_items: agreed(&failed_items),
            reason: reason.into(),
            references,
            draft_document_id: document.id.to_string(),
            draft_sha256: document.sha256.clone(),
        });
        self.emit(conn, case, "rectification.penalty_handoff", by, causation, payload, now).await
    }

    /// The re-inspection after a pass.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_reinspection(&self, conn: &mut PgConnection, actor: &Actor, mut case: CaseRow, mut rect: RectRow, passed: bool, notes: String, causation: &str, now: DateTime<Utc>) -> Result<RectRow, Error> {
        if rect.status != "accepted" || !rect.reinspection.is_empty() {
            return Err(Error::FailedPrecondition("a re-inspection follows a passed acceptance, once".into()));
        }
        let before = audit_rect(&rect);
        rect.reinspection = if passed { "passed".into() } else { "failed".into() };
        self.save(conn, By::Officer(actor), before, &mut rect, "rectification.reinspect", now).await?;
        let payload = Payload::Reinspected(ev::Reinspected { case_id: case.case_id.to_string(), rectification_id: rect.id.to_string(), passed, notes, on: Some(date(cst_date(now))) });
        self.emit(conn, &mut case, "rectification.reinspected", By::Officer(actor), causation, payload, now).await?;
        Ok(rect)
    }

    // -----------------------------------------------------------------------
    // Timers

    /// An item's deadline passed. The party reports once for all items, so
    /// an earlier item's deadline is recorded (audit) and the hand-off waits
    /// for the last one: the deadline passing with no report hands off, once.
    #[allow(clippy::too_many_arguments)]
    pub async fn item_deadline_passed(&self, conn: &mut PgConnection, mut case: CaseRow, mut rect: RectRow, item_no: u32, timer_id: Uuid, now: DateTime<Utc>) -> Result<(), Error> {
        if rect.status != "open" {
            return Ok(());
        }
        let due = rect.items.0.iter().find(|i| i.item_no == item_no).map(|i| i.deadline);
        if due.is_some_and(|d| d < rect.deadline) {
            let subject = format!("rectification/{}", rect.id);
            let organ = rect.organ.clone();
            return self.audit(conn, BY_SERVICE, &organ, "rectification.item_deadline_passed", &subject, None, Some(&json!({ "item_no": item_no, "deadline": due })), now).await;
        }
        self.hand_off(conn, BY_SERVICE, &mut case, &mut rect, "deadline_passed", &timer_id.to_string(), now).await
    }

    /// R-RECT-3: the report's due day passed without it: late, once.
    #[allow(clippy::too_many_arguments)]
    pub async fn report_overdue(&self, conn: &mut PgConnection, mut case: CaseRow, mut rect: RectRow, timer_id: Uuid, now: DateTime<Utc>) -> Result<(), Error> {
        if rect.status != "open" || rect.report_late {
            return Ok(());
        }
        let before = audit_rect(&rect);
        rect.report_late = true;
        self.save(conn, BY_SERVICE, before, &mut rect, "rectification.report_late", now).await?;
        let payload = Payload::ReportLate(ev::ReportLate { case_id: case.case_id.to_string(), rectification_id: rect.id.to_string(), report_due: Some(date(rect.report_due)) });
        self.emit(conn, &mut case, "rectification.report_late", BY_SERVICE, &timer_id.to_string(), payload, now).await
    }

    /// R-RECT-2: no ledger entry within the cadence → overdue (once per
    /// period); the next check is one cadence later.
    #[allow(clippy::too_many_arguments)]
    pub async fn follow_up_due(&self, conn: &mut PgConnection, mut case: CaseRow, mut rect: RectRow, timer_id: Uuid, now: DateTime<Utc>) -> Result<(), Error> {
        if !matches!(rect.status.as_str(), "open" | "reported") {
            return Ok(());
        }
        let today = cst_date(now);
        let cadence = Duration::days(i64::from(rect.cadence_days));
        let due = rect.last_entry_on.map_or(today, |d| d + cadence);
        if rect.last_entry_on.is_some_and(|d| d + cadence > today) {
            timers::schedule(conn, FOLLOW_UP_TIMER, &rect.id.to_string(), end_of_cst_day(due), &json!({ "case_id": rect.case_id })).await?;
            return Ok(());
        }
        let before = audit_rect(&rect);
        rect.follow_up_overdue = true;
        self.save(conn, BY_SERVICE, before, &mut rect, "rectification.follow_up_overdue", now).await?;
        timers::schedule(conn, FOLLOW_UP_TIMER, &rect.id.to_string(), end_of_cst_day(today + cadence), &json!({ "case_id": rect.case_id })).await?;
        let payload = Payload::FollowUpOverdue(ev::FollowUpOverdue {
            case_id: case.case_id.to_string(),
            rectification_id: rect.id.to_string(),
            tracker: rect.tracker.clone(),
            last_entry_on: rect.last_entry_on.map(date),
            due: Some(date(due)),
        });
        self.emit(conn, &mut case, "rectification.follow_up_overdue", BY_SERVICE, &timer_id.to_string(), payload, now).await
    }

    /// R-RECT-3: 2 working days before the report's due day the party is
    /// reminded through its channels: the sealed notice is served again as
    /// a reminder (`rectification.service_requested`, kind
    /// `rectification_reminder`). No report yet and a sealed notice only.
    pub async fn remind(&self, conn: &mut PgConnection, case: CaseRow, rect: RectRow, timer_id: Uuid, now: DateTime<Utc>) -> Result<(), Error> {
        if rect.status != "open" {
            return Ok(());
        }
        let Some(notice) = rect.notice_document_id else { return Ok(()) };
        let Some(mut document) = store::document(conn, notice, false).await?.filter(|d| d.status == "sealed") else {
            return self.audit(conn, BY_SERVICE, &rect.organ, "rectification.reminder_skipped", &format!("rectification/{}", rect.id), None, Some(&json!({ "reason": "the notice is not sealed" })), now).await;
        };
        document.kind = "rectification_reminder".into();
        document.title = format!("{}（提醒：请于{}前提交整改报告）", document.title, yuetan_documents::format_date(rect.report_due));
        self.audit(conn, BY_SERVICE, &rect.organ, "rectification.reminder", &format!("rectification/{}", rect.id), None, Some(&json!({ "report_due": rect.report_due })), now).await?;
        self.request_service(conn, &case, &document, &timer_id.to_string(), now).await
    }

    pub fn acceptance_limit(&self, day: NaiveDate) -> Result<NaiveDate, Error> {
        self.working_days_after(day, domain::ACCEPTANCE_WORKING_DAYS)
    }
}
