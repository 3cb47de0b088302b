//! The state changes of scheduling, shared by the event handlers, the API
//! and the timers. Each function runs inside the caller's transaction and
//! writes everything a change implies — rows, events (outbox), timers, the
//! audit row — so a process that dies halfway leaves nothing.
//!
//! Lock order, everywhere: the case row, then the plan, then the service,
//! then the attempt. Timer handlers take theirs with SKIP LOCKED.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde_json::json;
use sqlx::types::Json;
use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_documents::{DeliveryReceipt, Document, InterviewNotice};
use yuetan_platform::audit::{self, AuditEntry};
use yuetan_platform::fields::{cst_date, cst_datetime, date, end_of_cst_day, timestamp};
use yuetan_platform::links::LinkClaims;
use yuetan_platform::numbering::next_number;
use yuetan_platform::outbox::NewEvent;
use yuetan_platform::{timers, Actor, Error};
use yuetan_proto::events::{self as ev, event::Payload};

pub mod interview;

use crate::domain::{self, Channel, OFFICER_STEP};
use crate::store::{self, AddressRow, AttemptRow, CaseRow, DocumentRow, OfficerRow, Person, PlanRow, ServiceRow};
use crate::State;

/// The notice limit of a plan (R-NOTICE-1); the key is the plan id.
pub const NOTICE_TIMER: &str = "scheduling.notice_deadline";
/// Hand an attempt to its channel; the key is the attempt id.
pub const SEND_TIMER: &str = "scheduling.send";
/// No arrival within the window: the attempt failed; the key is the attempt id.
pub const ARRIVAL_TIMER: &str = "scheduling.arrival";

pub const NOTICE_KIND: &str = "interview_notice";
pub const NOTICE_TITLE: &str = "行政约谈通知书";
/// The character the notice adds to the organ's document code: 兰城市监 + 约通.
pub const NOTICE_SUFFIX: &str = "约通";
pub const RECEIPT_KIND: &str = "delivery_receipt";
pub const RECEIPT_TITLE: &str = "送达回证";
pub const RECEIPT_SUFFIX: &str = "送回";

/// Who caused a change (the platform's).
pub use yuetan_platform::audit::By;

/// The service itself, as the author of a change (events, timers).
pub const BY_SERVICE: By<'static> = By::Service(crate::SERVICE);

/// A plan as the officer sets it (validated by the API).
#[derive(Debug, Clone)]
pub struct PlanInput {
    pub interview_at: DateTime<Utc>,
    pub mode: String,
    pub place: String,
    pub interviewers: Vec<String>,
    pub recorder: String,
    pub experts: Vec<Person>,
    pub co_participants: Vec<Person>,
    pub materials: Vec<String>,
    pub contact: String,
    pub matter: String,
    pub legal_basis: String,
}

/// What the serving officer records for direct delivery or mail.
#[derive(Debug, Clone)]
pub struct DirectService {
    pub method: Channel,
    pub served_at: DateTime<Utc>,
    pub receiver_name: String,
    pub relationship: String,
    pub signature_sha256: String,
    pub refused: bool,
    pub refusal_reason: String,
    pub witness: String,
    pub photo_sha256: String,
    pub mail_number: String,
    pub place: String,
}

/// How a document reached the party: what the delivery receipt records.
#[derive(Debug, Clone)]
struct Arrival {
    channel: Channel,
    /// Where it was served (a masked address, a place, a mail number).
    address: String,
    at: DateTime<Utc>,
    evidence: String,
    /// The portal's evidence (client address, user agent), sealed.
    evidence_sealed: Option<Vec<u8>>,
    witness: String,
}

impl Arrival {
    fn electronic(channel: Channel, address: &str, at: DateTime<Utc>, evidence: String, evidence_sealed: Option<Vec<u8>>) -> Arrival {
        Arrival { channel, address: address.to_string(), at, evidence, evidence_sealed, witness: String::new() }
    }
}

/// A document to serve, from scheduling itself or another service's event.
#[derive(Debug, Clone)]
pub struct ServeRequest {
    pub case_id: Uuid,
    pub division: String,
    pub organ: String,
    pub document_id: String,
    pub document_sha256: String,
    pub document_name: String,
    pub document_number: String,
    pub document_kind: String,
    pub source_service: String,
    pub channels: Vec<Channel>,
    pub requested_by: String,
}

pub fn audit_plan(p: &PlanRow) -> serde_json::Value {
    json!({
        "plan_id": p.id, "case_id": p.case_id, "status": p.status, "interview_at": p.interview_at, "mode": p.mode, "place": p.place,
        "interviewers": p.interviewers, "recorder": p.recorder, "notice_deadline": p.notice_deadline,
        "notice_document_id": p.notice_document_id, "served_at": p.served_at, "reschedule_requested": p.reschedule_requested,
        "version": p.version,
    })
}

fn audit_service(s: &ServiceRow) -> serde_json::Value {
    json!({
        "service_id": s.id, "document_id": s.document_id, "status": s.status, "step": s.step, "plan": s.plan,
        "served_at": s.served_at, "served_by": s.served_by, "receipt_number": s.receipt_number,
    })
}

impl State {
    pub fn working_days_after(&self, from: NaiveDate, days: u32) -> Result<NaiveDate, Error> {
        self.calendar.current().add_working_days(from, days).map(|a| a.value).map_err(|e| Error::Internal(format!("calendar: {e}")))
    }

    #[allow(clippy::too_many_arguments)]
    fn event(&self, event_type: &str, case_id: Option<Uuid>, version: i64, division: &str, organ: &str, by: By<'_>, causation: &str, payload: Payload) -> NewEvent {
        NewEvent {
            event_type: event_type.to_string(),
            case_id,
            case_version: u64::try_from(version).unwrap_or(0),
            jurisdiction: division.to_string(),
            organ: organ.to_string(),
            actor: by.proto(),
            correlation_id: None,
            causation_id: (!causation.is_empty()).then(|| causation.to_string()),
            payload,
        }
    }

    /// Writes an event of a case: the next of scheduling's sequence for it.
    #[allow(clippy::too_many_arguments)]
    async fn emit(&self, conn: &mut PgConnection, case: &mut CaseRow, event_type: &str, by: By<'_>, causation: &str, payload: Payload, now: DateTime<Utc>) -> Result<(), Error> {
        case.version += 1;
        case.updated_at = now;
        let event = self.event(event_type, Some(case.case_id), case.version, &case.division, &case.lead_organ, by, causation, payload);
        self.outbox.write(conn, event, now).await?;
        store::put_case(conn, case).await
    }

    /// An event of a service: in the case's sequence when scheduling knows the case.
    #[allow(clippy::too_many_arguments)]
    async fn emit_for_service(&self, conn: &mut PgConnection, service: &ServiceRow, event_type: &str, by: By<'_>, causation: &str, payload: Payload, now: DateTime<Utc>) -> Result<(), Error> {
        match store::case(conn, service.case_id, true).await? {
            Some(mut case) => self.emit(conn, &mut case, event_type, by, causation, payload, now).await,
            None => {
                let event = self.event(event_type, Some(service.case_id), 0, &service.division, &service.organ, by, causation, payload);
                self.outbox.write(conn, event, now).await.map(|_| ())
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn audit(&self, conn: &mut PgConnection, by: By<'_>, organ: &str, action: &str, subject: &str, before: Option<&serde_json::Value>, after: Option<&serde_json::Value>, now: DateTime<Utc>) -> Result<(), Error> {
        audit::append(conn, &AuditEntry { actor_id: by.id(), actor_organ: organ, action, subject, before, after, at: now }).await?;
        Ok(())
    }

    // -----------------------------------------------------------------------
    // Cases and plans

    /// intake.case_opened: scheduling learns the case.
    pub async fn case_opened(&self, conn: &mut PgConnection, mut case: CaseRow) -> Result<(), Error> {
        if let Some(known) = store::case(conn, case.case_id, true).await? {
            case.version = known.version;
        }
        store::put_case(conn, &case).await
    }

    /// review.case_approved: the plan opens and the notice limit runs (R-NOTICE-1).
    pub async fn case_approved(&self, conn: &mut PgConnection, mut case: CaseRow, approved_on: NaiveDate, causation: &str, now: DateTime<Utc>) -> Result<(), Error> {
        if store::plan_of_case(conn, case.case_id, false).await?.is_some() {
            return Ok(());
        }
        let deadline = self.working_days_after(approved_on, domain::NOTICE_LIMIT_WORKING_DAYS)?;
        let plan = PlanRow {
            id: Uuid::now_v7(),
            case_id: case.case_id,
            status: "open".into(),
            approved_on,
            notice_deadline: deadline,
            notice_deadline_missed: false,
            interview_at: None,
            mode: String::new(),
            place: String::new(),
            interviewers: Vec::new(),
            recorder: String::new(),
            experts: Json(Vec::new()),
            co_participants: Json(Vec::new()),
            materials: Vec::new(),
            contact: String::new(),
            matter: String::new(),
            legal_basis: String::new(),
            notice_document_id: None,
            served_at: None,
            reschedule_requested: false,
            reschedule_reason: String::new(),
            organ: case.lead_organ.clone(),
            division: case.division.clone(),
            version: 1,
            updated_at: now,
        };
        if !store::insert_plan(conn, &plan).await? {
            return Ok(());
        }
        timers::schedule(conn, NOTICE_TIMER, &plan.id.to_string(), end_of_cst_day(deadline), &json!({ "case_id": case.case_id })).await?;
        let payload = Payload::PlanOpened(ev::PlanOpened {
            case_id: case.case_id.to_string(),
            plan_id: plan.id.to_string(),
            number: case.number.clone(),
            urgent: case.urgent,
            approved_on: Some(date(approved_on)),
            notice_deadline: Some(date(deadline)),
        });
        self.emit(conn, &mut case, "scheduling.plan_opened", BY_SERVICE, causation, payload, now).await?;
        self.audit(conn, BY_SERVICE, &plan.organ, "plan.open", &format!("plan/{}", plan.id), None, Some(&audit_plan(&plan)), now).await
    }

    /// The notice limit passed with no notice issued (R-NOTICE-1): once.
    pub async fn notice_deadline_missed(&self, conn: &mut PgConnection, mut case: CaseRow, mut plan: PlanRow, timer_id: Uuid, now: DateTime<Utc>) -> Result<(), Error> {
        let before = audit_plan(&plan);
        plan.notice_deadline_missed = true;
        plan.updated_at = now;
        store::update_plan(conn, &plan).await?;
        let payload = Payload::NoticeDeadlineMissed(ev::NoticeDeadlineMissed {
            case_id: plan.case_id.to_string(),
            plan_id: plan.id.to_string(),
            deadline: Some(date(plan.notice_deadline)),
        });
        self.emit(conn, &mut case, "scheduling.notice_deadline_missed", BY_SERVICE, &timer_id.to_string(), payload, now).await?;
        self.audit(conn, BY_SERVICE, &plan.organ, "plan.notice_deadline_missed", &format!("plan/{}", plan.id), Some(&before), Some(&audit_plan(&plan)), now).await
    }

    /// Plans (or replans) the interview: R-INT-1 panel, double booking,
    /// R-NOTICE-3 window from service (or from now, if not yet served).
    #[allow(clippy::too_many_arguments)]
    pub async fn plan_interview(
        &self,
        conn: &mut PgConnection,
        actor: &Actor,
        mut case: CaseRow,
        mut plan: PlanRow,
        input: PlanInput,
        reschedule_reason: Option<String>,
        causation: &str,
        now: DateTime<Utc>,
    ) -> Result<PlanRow, Error> {
        let before = audit_plan(&plan);
        let lead = self.settings.lead();
        let calendar = self.calendar.current();
        // R-NOTICE-3: counted from service when served, else from now (service cannot be earlier).
        let basis = plan.served_at.unwrap_or(now);
        domain::check_interview_time(&calendar, basis, input.interview_at, case.urgent, lead).map_err(|m| Error::invalid("interview_at", m))?;
        // R-INT-1 on the interview day.
        let day = cst_date(input.interview_at);
        let rows = store::officers_by_id(conn, &input.interviewers).await?;
        let mut panel = Vec::new();
        for id in &input.interviewers {
            let row = rows.iter().find(|r| &r.officer_id == id).ok_or_else(|| Error::invalid("interviewers", format!("officer {id} is not in the directory")))?;
            panel.push(qualifications(row));
        }
        domain::check_panel(&panel, day).map_err(|m| Error::invalid("interviewers", m))?;
        if input.interviewers.contains(&input.recorder) {
            return Err(Error::invalid("recorder", "the recorder may not be one of the interviewers"));
        }
        if store::officer(conn, &input.recorder, false).await?.is_none_or(|r| !r.active) {
            return Err(Error::invalid("recorder", format!("officer {} is not an active officer in the directory", input.recorder)));
        }
        // A joint case: someone from every co-department.
        for organ in &case.co_departments {
            if !input.co_participants.iter().any(|p| &p.organ == organ) {
                return Err(Error::invalid("co_department_participants", format!("the joint case needs a participant from co-department {organ}")));
            }
        }
        // No double booking of a person or the room.
        let ends = input.interview_at + Duration::minutes(self.settings.interview_minutes);
        let mut resources: Vec<String> = input.interviewers.iter().map(|i| format!("officer:{i}")).collect();
        resources.push(format!("officer:{}", input.recorder));
        if input.mode == "in_person" {
            resources.push(format!("room:{}:{}", case.lead_organ, input.place));
        }
        store::lock_resources(conn, &resources).await?;
        if let Some(taken) = store::conflicting_booking(conn, plan.id, &resources, input.interview_at, ends).await? {
            let (field, what) = match taken.split_once(':') {
                Some(("room", rest)) => ("place", format!("room {} is already booked at that time", rest.split_once(':').map_or(rest, |r| r.1))),
                Some((_, id)) => ("interviewers", format!("officer {id} is already booked for another interview at that time")),
                None => ("interview_at", "already booked".to_string()),
            };
            return Err(Error::invalid(field, what));
        }
        store::replace_bookings(conn, plan.id, &resources, input.interview_at, ends).await?;
        let replanned = plan.interview_at.is_some();
        // After the party's absence, once (R-INT-3: no-show and refusal).
        self.rescheduled_after_absence(conn, actor, case.case_id, now).await?;
        plan.interview_at = Some(input.interview_at);
        plan.mode = input.mode.clone();
        plan.place = input.place.clone();
        plan.interviewers = input.interviewers.clone();
        plan.recorder = input.recorder.clone();
        plan.experts = Json(input.experts.clone());
        plan.co_participants = Json(input.co_participants.clone());
        plan.materials = input.materials.clone();
        plan.contact = input.contact.clone();
        plan.matter = input.matter.clone();
        plan.legal_basis = input.legal_basis.clone();
        if let Some(reason) = &reschedule_reason {
            plan.reschedule_requested = true;
            plan.reschedule_reason = reason.clone();
        }
        plan.status = match plan.status.as_str() {
            "open" => "planned".into(),
            "reschedule_needed" => "served".into(),
            other => other.to_string(),
        };
        plan.version += 1;
        plan.updated_at = now;
        store::update_plan(conn, &plan).await?;
        if input.mode == "video" {
            self.open_room(conn, &case, &plan, now).await?;
        } else {
            self.drop_room(conn, &case, now).await?;
        }
        let payload = Payload::InterviewPlanned(ev::InterviewPlanned {
            case_id: case.case_id.to_string(),
            plan_id: plan.id.to_string(),
            interview_at: Some(timestamp(input.interview_at)),
            mode: input.mode.clone(),
            place: input.place.clone(),
            interviewers: input.interviewers.clone(),
            recorder: input.recorder.clone(),
            replanned,
            reschedule_reason: reschedule_reason.unwrap_or_default(),
        });
        self.emit(conn, &mut case, "scheduling.interview_planned", By::Officer(actor), causation, payload, now).await?;
        self.audit(conn, By::Officer(actor), &actor.organ, "plan.interview", &format!("plan/{}", plan.id), Some(&before), Some(&audit_plan(&plan)), now).await?;
        Ok(plan)
    }

    // -----------------------------------------------------------------------
    // The notice

    /// Numbers (R-DOC-2) and renders the interview notice (R-NOTICE-1) and
    /// asks the legal section to review it. A returned notice is issued
    /// again under the same number, as the next revision.
    pub async fn issue_notice(&self, conn: &mut PgConnection, actor: &Actor, mut case: CaseRow, mut plan: PlanRow, causation: &str, now: DateTime<Utc>) -> Result<DocumentRow, Error> {
        let before = audit_plan(&plan);
        let interview_at = match (plan.status.as_str(), plan.interview_at) {
            ("planned" | "notice_returned", Some(at)) => at,
            ("open", _) | (_, None) => return Err(Error::FailedPrecondition("the interview is not planned yet (PlanInterview first)".into())),
            (other, _) => return Err(Error::FailedPrecondition(format!("the notice was already issued (plan is {other})"))),
        };
        // Intake opens no case without the organ's document code: an empty one
        // here means intake.case_opened has not reached scheduling yet. Retryable.
        if case.document_code.is_empty() {
            return Err(Error::Unavailable(format!(
                "case {}: intake's case_opened (with the organ's document code) has not reached scheduling yet; try again shortly",
                case.case_id
            )));
        }
        let (number, revision) = match plan.notice_document_id {
            Some(previous) => {
                let prev = store::document(conn, previous, false).await?.ok_or_else(|| Error::Internal(format!("notice {previous} is missing")))?;
                (prev.number, prev.revision + 1)
            }
            None => {
                // R-DOC-2: taken in this transaction, so unique and gap-free.
                (next_number(conn, &format!("{}{NOTICE_SUFFIX}", case.document_code), NOTICE_KIND, cst_date(now).year()).await?, 1)
            }
        };
        let names = self.officer_names(conn, &plan.interviewers).await?;
        let mut participants: Vec<String> = plan.co_participants.0.iter().map(|p| format!("{}（{}）", p.name, p.organ)).collect();
        participants.extend(plan.experts.0.iter().map(|p| format!("{}（专家）", p.name)));
        let notice = InterviewNotice {
            issuing_organ: case.organ_name.clone(),
            number: number.clone(),
            party_name: case.party_name.clone(),
            case_number: case.number.clone(),
            matter: plan.matter.clone(),
            legal_basis: plan.legal_basis.clone(),
            interview_at: cst_datetime(interview_at),
            place: if plan.mode == "video" { self.video_place(conn, &case, &plan).await? } else { plan.place.clone() },
            video: plan.mode == "video",
            interviewers: names,
            participants,
            materials: plan.materials.clone(),
            contact: plan.contact.clone(),
            issued_on: cst_date(now),
        };
        let rendered = self.renderer.render(&Document::InterviewNotice(notice)).map_err(|e| Error::Internal(format!("rendering the notice: {e}")))?;
        let stored = self.objects.put(rendered.pdf).await?;
        let document = DocumentRow {
            id: Uuid::now_v7(),
            case_id: case.case_id,
            kind: NOTICE_KIND.into(),
            title: NOTICE_TITLE.into(),
            number: number.clone(),
            organ: case.lead_organ.clone(),
            division: case.division.clone(),
            sha256: stored.sha256.clone(),
            pages: i32::try_from(rendered.pages).unwrap_or(1),
            revision,
            status: "in_review".into(),
            seal_signature: String::new(),
            seal_key_id: String::new(),
            sealed_at: None,
            issued_by: actor.officer_id.clone(),
            created_at: now,
        };
        store::insert_document(conn, &document).await?;
        let late = cst_date(now) > plan.notice_deadline;
        plan.notice_document_id = Some(document.id);
        plan.status = "notice_in_review".into();
        plan.version += 1;
        plan.updated_at = now;
        store::update_plan(conn, &plan).await?;
        timers::cancel(conn, NOTICE_TIMER, &plan.id.to_string(), now).await?;
        let review = Payload::DocumentReviewRequested(ev::DocumentReviewRequested {
            document_id: document.id.to_string(),
            kind: NOTICE_KIND.into(),
            title: format!("{NOTICE_TITLE} {number}"),
            content_sha256: document.sha256.clone(),
            submitted_by: actor.officer_id.clone(),
            revision: u32::try_from(revision).unwrap_or(1),
        });
        // Outside the case's sequence (review answers by document id).
        let event = self.event("scheduling.document_review_requested", Some(case.case_id), 0, &case.division, &case.lead_organ, By::Officer(actor), causation, review);
        self.outbox.write(conn, event, now).await?;
        let issued = Payload::NoticeIssued(ev::NoticeIssued {
            case_id: case.case_id.to_string(),
            plan_id: plan.id.to_string(),
            document_id: document.id.to_string(),
            number,
            sha256: document.sha256.clone(),
            revision: u32::try_from(revision).unwrap_or(1),
            issued_on: Some(date(cst_date(now))),
            late,
        });
        self.emit(conn, &mut case, "scheduling.notice_issued", By::Officer(actor), causation, issued, now).await?;
        self.audit(conn, By::Officer(actor), &actor.organ, "notice.issue", &format!("document/{}", document.id), Some(&before), Some(&json!({ "document": document, "plan": audit_plan(&plan) })), now)
            .await?;
        Ok(document)
    }

    async fn officer_names(&self, conn: &mut PgConnection, ids: &[String]) -> Result<Vec<String>, Error> {
        let rows = store::officers_by_id(conn, ids).await?;
        Ok(ids.iter().map(|id| rows.iter().find(|r| &r.officer_id == id).map_or_else(|| id.clone(), |r| r.name.clone())).collect())
    }

    /// review.document_review_decided for one of scheduling's documents:
    /// passed → sealed by the organ's key and served; returned → the plan
    /// waits for a corrected notice.
    pub async fn notice_decided(&self, conn: &mut PgConnection, document_id: Uuid, revision: i32, pass: bool, causation: &str, now: DateTime<Utc>) -> Result<(), Error> {
        let Some(peek) = store::document(conn, document_id, false).await? else { return Ok(()) };
        let Some(mut case) = store::case(conn, peek.case_id, true).await? else { return Ok(()) };
        let Some(mut plan) = store::plan_of_case(conn, peek.case_id, true).await? else { return Ok(()) };
        let mut document = store::document(conn, document_id, true).await?.ok_or_else(|| Error::Internal("document vanished".into()))?;
        if document.revision != revision || document.status != "in_review" || plan.notice_document_id != Some(document.id) {
            return Ok(()); // an answer to an older revision, or a repeat
        }
        let before = audit_plan(&plan);
        if !pass {
            document.status = "returned".into();
            store::update_document(conn, &document).await?;
            plan.status = "notice_returned".into();
            plan.version += 1;
            plan.updated_at = now;
            store::update_plan(conn, &plan).await?;
            return self.audit(conn, BY_SERVICE, &plan.organ, "notice.returned", &format!("document/{}", document.id), Some(&before), Some(&audit_plan(&plan)), now).await;
        }
        self.seal(&mut document, now)?;
        store::update_document(conn, &document).await?;
        plan.status = "serving".into();
        plan.version += 1;
        plan.updated_at = now;
        store::update_plan(conn, &plan).await?;
        self.audit(conn, BY_SERVICE, &plan.organ, "notice.seal", &format!("document/{}", document.id), Some(&before), Some(&json!({ "sha256": document.sha256, "seal_key_id": document.seal_key_id })), now)
            .await?;
        let request = ServeRequest {
            case_id: case.case_id,
            division: case.division.clone(),
            organ: case.lead_organ.clone(),
            document_id: document.id.to_string(),
            document_sha256: document.sha256.clone(),
            document_name: NOTICE_TITLE.into(),
            document_number: document.number.clone(),
            document_kind: NOTICE_KIND.into(),
            source_service: crate::SERVICE.into(),
            channels: Vec::new(),
            requested_by: document.issued_by.clone(),
        };
        case.updated_at = now;
        self.start_service(conn, BY_SERVICE, request, causation, now).await.map(|_| ())
    }

    /// R-DOC-2: the organ's Ed25519 key signs the file's sha256.
    fn seal(&self, document: &mut DocumentRow, now: DateTime<Utc>) -> Result<(), Error> {
        let (key_id, key) = self.seals.of(&document.organ)?;
        document.seal_signature = yuetan_documents::seal::seal(key, &document.sha256);
        document.seal_key_id = key_id.clone();
        document.sealed_at = Some(now);
        document.status = "sealed".into();
        Ok(())
    }

    // -----------------------------------------------------------------------
    // Service of documents

    /// Starts serving a sealed document: the channel plan from the request
    /// and the party's consent (R-NOTICE-2), the first attempt queued.
    pub async fn start_service(&self, conn: &mut PgConnection, by: By<'_>, request: ServeRequest, causation: &str, now: DateTime<Utc>) -> Result<ServiceRow, Error> {
        let address = store::address(conn, request.case_id).await?;
        let consent = address.as_ref().map(|a| domain::Consent {
            channels: a.channels.iter().filter_map(|c| Channel::parse(c)).collect(),
            confirmation_signed: !a.confirmation_sha256.is_empty() && a.signed_on.is_some(),
        });
        let plan = domain::service_plan(&request.channels, consent.as_ref()).map_err(|m| Error::invalid("channels", m))?;
        let mut service = ServiceRow {
            id: Uuid::now_v7(),
            case_id: request.case_id,
            document_id: request.document_id.clone(),
            document_sha256: request.document_sha256.clone(),
            document_name: request.document_name.clone(),
            document_number: request.document_number.clone(),
            document_kind: request.document_kind.clone(),
            source_service: request.source_service.clone(),
            organ: request.organ.clone(),
            division: request.division.clone(),
            plan: plan.clone(),
            step: 0,
            status: "in_progress".into(),
            served_at: None,
            served_by: String::new(),
            evidence: String::new(),
            evidence_sealed: None,
            receipt_document_id: None,
            receipt_number: String::new(),
            requested_by: request.requested_by.clone(),
            created_at: now,
            updated_at: now,
        };
        store::insert_service(conn, &service).await?;
        let payload = Payload::ServiceRequested(ev::ServiceRequested {
            service_id: service.id.to_string(),
            document_id: service.document_id.clone(),
            document_sha256: service.document_sha256.clone(),
            document_name: service.document_name.clone(),
            document_number: service.document_number.clone(),
            kind: service.document_kind.clone(),
            channels: plan.clone(),
            requested_by: service.requested_by.clone(),
        });
        self.emit_for_service(conn, &service, "scheduling.service_requested", by, causation, payload, now).await?;
        self.audit(conn, by, &service.organ, "service.start", &format!("service/{}", service.id), None, Some(&audit_service(&service)), now).await?;
        self.begin_step(conn, &mut service, address.as_ref(), now).await?;
        Ok(service)
    }

    /// Queues the attempt of the service's current step, or hands the
    /// service to a serving officer after the last channel.
    async fn begin_step(&self, conn: &mut PgConnection, service: &mut ServiceRow, address: Option<&AddressRow>, now: DateTime<Utc>) -> Result<(), Error> {
        let step = service.plan.get(usize::try_from(service.step).unwrap_or(usize::MAX)).cloned().unwrap_or_else(|| OFFICER_STEP.to_string());
        let channel = Channel::parse(&step).filter(|c| c.electronic());
        let sealed = match (channel, address) {
            (Some(Channel::Sms), Some(a)) => a.sms_sealed.clone(),
            (Some(Channel::Email), Some(a)) => a.email_sealed.clone(),
            (Some(Channel::Egov), Some(a)) => a.egov_sealed.clone(),
            _ => None,
        };
        match (channel, sealed) {
            (Some(channel), Some(sealed)) => {
                let masked = address.and_then(|a| a.masks.0.get(channel.as_str()).cloned()).unwrap_or_default();
                let attempt = AttemptRow {
                    id: Uuid::now_v7(),
                    service_id: service.id,
                    channel: channel.as_str().into(),
                    address_sealed: Some(sealed),
                    address_masked: masked,
                    status: "queued".into(),
                    sent_at: None,
                    provider_id: String::new(),
                    reply: String::new(),
                    failure: String::new(),
                    arrived_at: None,
                    created_at: now,
                };
                store::insert_attempt(conn, &attempt).await?;
                timers::schedule(conn, SEND_TIMER, &attempt.id.to_string(), now, &json!({ "service_id": service.id })).await?;
            }
            _ => {
                service.status = "awaiting_officer".into();
                service.updated_at = now;
                store::update_service(conn, service).await?;
            }
        }
        Ok(())
    }

    /// The provider took the message: wait for its arrival report (SMS,
    /// e-gov), or — for e-mail, accepted by the recipient's server — served now.
    pub async fn attempt_sent(&self, conn: &mut PgConnection, mut service: ServiceRow, mut attempt: AttemptRow, outcome: crate::send::Sent, causation: &str, now: DateTime<Utc>) -> Result<(), Error> {
        attempt.status = "sent".into();
        attempt.sent_at = Some(now);
        attempt.provider_id = outcome.provider_id.clone();
        attempt.reply = outcome.reply.clone();
        if outcome.arrived {
            attempt.status = "delivered".into();
            attempt.arrived_at = Some(now);
            store::update_attempt(conn, &attempt).await?;
            let channel = Channel::parse(&attempt.channel).unwrap_or(Channel::Email);
            let evidence = format!("SMTP reply {}; queue id {}; Message-ID <{}@yuetan>", outcome.reply, outcome.provider_id, attempt.id);
            let arrival = Arrival::electronic(channel, &attempt.address_masked, now, evidence, None);
            return self.served(conn, &mut service, arrival, BY_SERVICE, causation, now).await;
        }
        store::update_attempt(conn, &attempt).await?;
        let window = if attempt.channel == "sms" { self.settings.sms_arrival_minutes } else { self.settings.egov_arrival_minutes };
        timers::schedule(conn, ARRIVAL_TIMER, &attempt.id.to_string(), now + Duration::minutes(window), &json!({ "service_id": service.id })).await?;
        self.audit(conn, BY_SERVICE, &service.organ, "service.sent", &format!("attempt/{}", attempt.id), None, Some(&json!({ "channel": attempt.channel, "provider_id": attempt.provider_id })), now)
            .await
    }

    /// A channel failed (R-NOTICE-2): visible as `scheduling.service_failed`,
    /// and the next channel is tried; after the last, an officer.
    pub async fn attempt_failed(&self, conn: &mut PgConnection, mut service: ServiceRow, mut attempt: AttemptRow, reason: &str, causation: &str, now: DateTime<Utc>) -> Result<(), Error> {
        if attempt.status == "failed" || attempt.status == "delivered" || service.status == "served" {
            return Ok(());
        }
        attempt.status = "failed".into();
        attempt.failure = reason.to_string();
        store::update_attempt(conn, &attempt).await?;
        timers::cancel(conn, ARRIVAL_TIMER, &attempt.id.to_string(), now).await?;
        service.step += 1;
        service.updated_at = now;
        store::update_service(conn, &service).await?;
        let address = store::address(conn, service.case_id).await?;
        self.begin_step(conn, &mut service, address.as_ref(), now).await?;
        let next = service.plan.get(usize::try_from(service.step).unwrap_or(usize::MAX)).cloned().unwrap_or_default();
        let awaiting_officer = service.status == "awaiting_officer";
        let payload = Payload::ServiceFailed(ev::ServiceFailed {
            service_id: service.id.to_string(),
            document_id: service.document_id.clone(),
            attempt_id: attempt.id.to_string(),
            channel: attempt.channel.clone(),
            reason: reason.to_string(),
            next_channel: if awaiting_officer { String::new() } else { next },
            awaiting_officer,
            source_service: service.source_service.clone(),
        });
        self.emit_for_service(conn, &service, "scheduling.service_failed", BY_SERVICE, causation, payload, now).await?;
        self.audit(conn, BY_SERVICE, &service.organ, "service.attempt_failed", &format!("attempt/{}", attempt.id), None, Some(&json!({ "channel": attempt.channel, "reason": reason, "service": audit_service(&service) })), now)
            .await
    }

    /// A provider report or acknowledgement for an attempt: arrival at the
    /// report's time (LAW.md §3), or failure. A repeated report changes nothing.
    #[allow(clippy::too_many_arguments)]
    pub async fn arrival_reported(&self, conn: &mut PgConnection, attempt_id: Uuid, delivered: bool, at: DateTime<Utc>, provider_id: &str, detail: &str, causation: &str, now: DateTime<Utc>) -> Result<(), Error> {
        let Some(peek) = store::attempt(conn, attempt_id, false).await? else { return Ok(()) };
        let Some(service) = store::service(conn, peek.service_id, true).await? else { return Ok(()) };
        let Some(mut attempt) = store::attempt(conn, attempt_id, true).await? else { return Ok(()) };
        if attempt.status == "delivered" || attempt.status == "failed" {
            return Ok(());
        }
        if !delivered {
            return self.attempt_failed(conn, service, attempt, &format!("the provider reported a failure: {detail}"), causation, now).await;
        }
        let mut service = service;
        attempt.status = "delivered".into();
        attempt.arrived_at = Some(at);
        if attempt.provider_id.is_empty() {
            attempt.provider_id = provider_id.to_string();
        }
        store::update_attempt(conn, &attempt).await?;
        timers::cancel(conn, ARRIVAL_TIMER, &attempt.id.to_string(), now).await?;
        if service.status == "served" {
            return Ok(());
        }
        let channel = Channel::parse(&attempt.channel).unwrap_or(Channel::Sms);
        let evidence = format!("{} delivery report {detail} at {}; provider message id {}; out id {}", attempt.channel, domain::cst(at), attempt.provider_id, attempt.id);
        self.served(conn, &mut service, Arrival::electronic(channel, &attempt.address_masked, at, evidence, None), BY_SERVICE, causation, now).await
    }

    /// The party opened the link or confirmed receipt on the portal: the
    /// evidence is kept (sealed); if nothing proved arrival yet, this does.
    #[allow(clippy::too_many_arguments)]
    pub async fn portal_evidence(&self, conn: &mut PgConnection, service_id: Uuid, what: &str, at: DateTime<Utc>, sealed: &[u8], causation: &str, now: DateTime<Utc>) -> Result<(), Error> {
        let Some(mut service) = store::service(conn, service_id, true).await? else { return Ok(()) };
        let line = format!("{what} on the portal at {}", domain::cst(at));
        if service.evidence.contains(&line) {
            return Ok(());
        }
        self.audit(conn, BY_SERVICE, &service.organ, &format!("service.{}", what.replace(' ', "_")), &format!("service/{}", service.id), None, Some(&json!({ "at": at })), now).await?;
        if service.status == "served" {
            service.evidence = format!("{}; {line}", service.evidence);
            if service.evidence_sealed.is_none() && !sealed.is_empty() {
                service.evidence_sealed = Some(sealed.to_vec());
            }
            service.updated_at = now;
            return store::update_service(conn, &service).await;
        }
        let attempt = store::attempts_of(conn, &[service.id]).await?.into_iter().rev().find(|a| a.status == "sent" || a.status == "queued");
        let (channel, address) = attempt.as_ref().map_or((Channel::Sms, String::new()), |a| (Channel::parse(&a.channel).unwrap_or(Channel::Sms), a.address_masked.clone()));
        let sealed = (!sealed.is_empty()).then(|| sealed.to_vec());
        self.served(conn, &mut service, Arrival::electronic(channel, &address, at, line, sealed), BY_SERVICE, causation, now).await
    }

    /// The serving officer records direct delivery or mail (CPL 87–89, 91).
    pub async fn record_direct(&self, conn: &mut PgConnection, actor: &Actor, mut service: ServiceRow, input: DirectService, causation: &str, now: DateTime<Utc>) -> Result<ServiceRow, Error> {
        if service.status == "served" {
            return Err(Error::FailedPrecondition(format!("service {} is already complete", service.id)));
        }
        let evidence = if input.refused {
            format!(
                "留置送达: refused by {} ({}), reason: {}; witness {}; photo/video sha256 {}",
                input.receiver_name, input.relationship, input.refusal_reason, input.witness, input.photo_sha256
            )
        } else if input.method == Channel::Mail {
            format!("registered mail {}; return card signed by {} ({}), signature sha256 {}", input.mail_number, input.receiver_name, input.relationship, input.signature_sha256)
        } else {
            format!("received by {} ({}) at {}, signature sha256 {}", input.receiver_name, input.relationship, input.place, input.signature_sha256)
        };
        let address = if input.method == Channel::Mail { format!("挂号信 {}", input.mail_number) } else { input.place.clone() };
        let arrival = Arrival { channel: input.method, address, at: input.served_at, evidence, evidence_sealed: None, witness: input.witness.clone() };
        self.served(conn, &mut service, arrival, By::Officer(actor), causation, now).await?;
        Ok(service)
    }

    /// The document reached the party (LAW.md §3): the moment and evidence
    /// recorded, the delivery receipt (送达回证) numbered, rendered and sealed,
    /// `scheduling.document_served` written; for the notice, R-NOTICE-3 is
    /// checked against the planned time.
    async fn served(&self, conn: &mut PgConnection, service: &mut ServiceRow, arrival: Arrival, by: By<'_>, causation: &str, now: DateTime<Utc>) -> Result<(), Error> {
        let Arrival { channel, address, at, evidence, evidence_sealed, witness } = arrival;
        let (address, evidence) = (address.as_str(), evidence.as_str());
        let before = audit_service(service);
        let case = store::case(conn, service.case_id, true).await?;
        let (organ_name, document_code, party_name) = case.as_ref().map_or((service.organ.clone(), String::new(), String::new()), |c| (c.organ_name.clone(), c.document_code.clone(), c.party_name.clone()));
        // The receipt, numbered like the notice (R-DOC-2).
        let code = if document_code.is_empty() { format!("{}{RECEIPT_SUFFIX}", service.organ) } else { format!("{document_code}{RECEIPT_SUFFIX}") };
        let number = next_number(conn, &code, RECEIPT_KIND, cst_date(now).year()).await?;
        let server = match by {
            By::Officer(a) => a.name.clone(),
            By::Service(_) => format!("{organ_name}（电子送达系统）"),
        };
        let receipt = DeliveryReceipt {
            issuing_organ: organ_name.clone(),
            number: number.clone(),
            document_name: service.document_name.clone(),
            document_number: service.document_number.clone(),
            recipient: party_name,
            method: channel.method_zh().into(),
            address: address.to_string(),
            served_at: cst_datetime(at),
            receiver_or_evidence: evidence.to_string(),
            server,
            witness,
            remarks: String::new(),
        };
        let rendered = self.renderer.render(&Document::DeliveryReceipt(receipt)).map_err(|e| Error::Internal(format!("rendering the receipt: {e}")))?;
        let stored = self.objects.put(rendered.pdf).await?;
        let mut document = DocumentRow {
            id: Uuid::now_v7(),
            case_id: service.case_id,
            kind: RECEIPT_KIND.into(),
            title: RECEIPT_TITLE.into(),
            number: number.clone(),
            organ: service.organ.clone(),
            division: service.division.clone(),
            sha256: stored.sha256.clone(),
            pages: i32::try_from(rendered.pages).unwrap_or(1),
            revision: 1,
            status: "in_review".into(),
            seal_signature: String::new(),
            seal_key_id: String::new(),
            sealed_at: None,
            issued_by: by.id().to_string(),
            created_at: now,
        };
        self.seal(&mut document, now)?;
        store::insert_document(conn, &document).await?;
        service.status = "served".into();
        service.served_at = Some(at);
        service.served_by = channel.as_str().into();
        service.evidence = evidence.to_string();
        if evidence_sealed.is_some() {
            service.evidence_sealed = evidence_sealed;
        }
        service.receipt_document_id = Some(document.id);
        service.receipt_number = number.clone();
        service.updated_at = now;
        store::update_service(conn, service).await?;
        // Other attempts still waiting are moot now.
        for other in store::attempts_of(conn, &[service.id]).await? {
            if other.status == "queued" || other.status == "sent" {
                timers::cancel(conn, SEND_TIMER, &other.id.to_string(), now).await?;
                timers::cancel(conn, ARRIVAL_TIMER, &other.id.to_string(), now).await?;
            }
        }
        let payload = Payload::DocumentServed(ev::DocumentServed {
            service_id: service.id.to_string(),
            document_id: service.document_id.clone(),
            document_number: service.document_number.clone(),
            channel: channel.as_str().into(),
            served_at: Some(timestamp(at)),
            evidence: evidence.to_string(),
            receipt_document_id: document.id.to_string(),
            receipt_number: number,
            source_service: service.source_service.clone(),
            receipt_sha256: document.sha256.clone(),
        });
        self.emit_for_service(conn, service, "scheduling.document_served", by, causation, payload, now).await?;
        self.audit(conn, by, &service.organ, "service.served", &format!("service/{}", service.id), Some(&before), Some(&audit_service(service)), now).await?;
        if service.source_service == crate::SERVICE && service.document_kind == NOTICE_KIND {
            self.notice_served(conn, service, at, causation, now).await?;
        }
        Ok(())
    }

    /// R-NOTICE-3 once the notice is served: a planned time that no longer
    /// fits the window is flagged for rescheduling, never silently kept.
    async fn notice_served(&self, conn: &mut PgConnection, service: &ServiceRow, at: DateTime<Utc>, causation: &str, now: DateTime<Utc>) -> Result<(), Error> {
        let Some(mut case) = store::case(conn, service.case_id, true).await? else { return Ok(()) };
        let Some(mut plan) = store::plan_of_case(conn, service.case_id, true).await? else { return Ok(()) };
        let before = audit_plan(&plan);
        plan.served_at = Some(at);
        plan.status = "served".into();
        let calendar = self.calendar.current();
        let lead = self.settings.lead();
        if let Some(interview_at) = plan.interview_at {
            if let Err(reason) = domain::check_interview_time(&calendar, at, interview_at, case.urgent, lead) {
                let (earliest, latest) = domain::interview_window(&calendar, at, case.urgent, lead).map_err(Error::Internal)?;
                plan.status = "reschedule_needed".into();
                let payload = Payload::RescheduleNeeded(ev::RescheduleNeeded {
                    case_id: case.case_id.to_string(),
                    plan_id: plan.id.to_string(),
                    interview_at: Some(timestamp(interview_at)),
                    served_at: Some(timestamp(at)),
                    earliest: Some(timestamp(earliest)),
                    latest: Some(timestamp(latest)),
                    reason,
                });
                self.emit(conn, &mut case, "scheduling.reschedule_needed", BY_SERVICE, causation, payload, now).await?;
            }
        }
        plan.version += 1;
        plan.updated_at = now;
        store::update_plan(conn, &plan).await?;
        self.audit(conn, BY_SERVICE, &plan.organ, "plan.served", &format!("plan/{}", plan.id), Some(&before), Some(&audit_plan(&plan)), now).await
    }

    /// The link a message carries: one document, one purpose, expiring.
    pub fn link_for(&self, service: &ServiceRow, attempt: &AttemptRow, now: DateTime<Utc>) -> String {
        let claims = LinkClaims {
            link_id: attempt.id.to_string(),
            document_sha256: service.document_sha256.clone(),
            document_name: format!("{} {}", service.document_name, service.document_number),
            service_id: service.id.to_string(),
            purpose: if service.document_kind == interview::RECORD_KIND { yuetan_platform::links::PURPOSE_SIGN.into() } else { yuetan_platform::links::PURPOSE_SERVE.into() },
            organ: service.organ.clone(),
            expires_at: now + Duration::days(self.settings.link_valid_days),
        };
        self.links.url(&claims)
    }
}

pub fn qualifications(row: &OfficerRow) -> domain::Qualifications {
    domain::Qualifications {
        officer_id: row.officer_id.clone(),
        active: row.active,
        certificate_valid_until: row.certificate_valid_until,
        experience_since: row.experience_since,
        interviewer_certified_on: row.interviewer_certified_on,
        legal_review_qualified: row.legal_review_qualified,
    }
}

impl State {
    /// The officer directory (admin): writes the entry and announces it.
    pub async fn put_officer(&self, conn: &mut PgConnection, actor: &Actor, mut officer: OfficerRow, causation: &str, now: DateTime<Utc>) -> Result<OfficerRow, Error> {
        let before = store::officer(conn, &officer.officer_id, true).await?;
        officer.version = before.as_ref().map_or(1, |b| b.version + 1);
        officer.updated_at = now;
        store::put_officer(conn, &officer).await?;
        let payload = Payload::OfficerUpdated(ev::OfficerUpdated {
            officer_id: officer.officer_id.clone(),
            name: officer.name.clone(),
            organ: officer.organ.clone(),
            division: officer.division.clone(),
            certificate_valid_until: Some(date(officer.certificate_valid_until)),
            interviewer_certification_valid_until: officer.interviewer_certified_on.map(|d| date(domain::certification_valid_until(d))),
            legal_review_qualified: officer.legal_review_qualified,
            active: officer.active,
            version: u64::try_from(officer.version).unwrap_or(0),
        });
        let event = self.event("scheduling.officer_updated", None, 0, &officer.division, &officer.organ, By::Officer(actor), causation, payload);
        self.outbox.write(conn, event, now).await?;
        let before = before.map(|b| serde_json::to_value(b).unwrap_or_default());
        self.audit(conn, By::Officer(actor), &actor.organ, "officer.put", &format!("officer/{}", officer.officer_id), before.as_ref(), Some(&serde_json::to_value(&officer).unwrap_or_default()), now)
            .await?;
        Ok(officer)
    }

    /// The party's signed address-confirmation for a case (送达地址确认书).
    /// The audit row holds the masks and the form's hash, never an address.
    pub async fn record_address(&self, conn: &mut PgConnection, actor: &Actor, address: AddressRow, now: DateTime<Utc>) -> Result<AddressRow, Error> {
        let before = store::address(conn, address.case_id).await?;
        store::put_address(conn, &address).await?;
        let view = |a: &AddressRow| json!({ "channels": a.channels, "masks": a.masks.0, "confirmation_sha256": a.confirmation_sha256, "signed_on": a.signed_on });
        self.audit(conn, By::Officer(actor), &actor.organ, "address.record", &format!("case/{}", address.case_id), before.as_ref().map(view).as_ref(), Some(&view(&address)), now)
            .await?;
        Ok(address)
    }
}
