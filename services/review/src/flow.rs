//! The state changes of review, shared by the event handlers, the API and
//! the timers. Each function runs inside the caller's transaction and writes
//! everything a change implies: the rows, the events (outbox), the timer and
//! the audit row, so a process that dies halfway leaves nothing.
//!
//! Lock order, everywhere: the case row, then the task row, then the timer.
//! Timer handlers, which hold their timer row, take the others with SKIP
//! LOCKED and step aside when they are held (see `timers.rs`).

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;
use sqlx::types::Json;
use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_platform::audit::{self, AuditEntry};
use yuetan_platform::fields::{cst_date, date, end_of_cst_day};
use yuetan_platform::outbox::NewEvent;
use yuetan_platform::{timers, Actor, Error};
use yuetan_proto::events::{self as ev, event::Payload};

use crate::domain::{self, CaseState, CheckResult, TaskKind};
use crate::store::{self, CaseRow, Collective, Document, TaskRow};
use crate::State;

/// The timer of a task's limit; the key is the task id.
pub const DEADLINE_TIMER: &str = "review.task_deadline";

/// Who caused a change (the platform's).
pub use yuetan_platform::audit::By;

/// The service itself, as the author of a change (events, timers).
pub const BY_SERVICE: By<'static> = By::Service(crate::SERVICE);

pub fn audit_case(c: &CaseRow) -> serde_json::Value {
    json!({ "case_id": c.case_id, "number": c.number, "status": c.status, "version": c.version, "major": c.major })
}

pub fn audit_task(t: &TaskRow) -> serde_json::Value {
    json!({
        "task_id": t.id, "case_id": t.case_id, "kind": t.kind, "round": t.round, "status": t.status,
        "deadline": t.deadline, "deadline_missed": t.deadline_missed, "extended": t.extended,
        "extension_reason": t.extension_reason, "decision": t.decision, "decided_by": t.decided_by,
        "opinion": t.opinion, "missing": t.missing, "checklist": t.checklist.0, "collective": t.collective.as_ref().map(|c| &c.0),
    })
}

impl State {
    /// `days` working days after `from` on the holiday calendar (R-TIME-1/2).
    pub fn deadline(&self, from: NaiveDate, days: u32) -> Result<NaiveDate, Error> {
        self.calendar
            .current()
            .add_working_days(from, days)
            .map(|answer| answer.value)
            .map_err(|e| Error::Internal(format!("calendar: {e}")))
    }

    /// Review's event envelope; `case_version` 0 is outside the case's sequence.
    #[allow(clippy::too_many_arguments)]
    fn event(
        &self,
        event_type: &str,
        case_id: Uuid,
        case_version: i64,
        jurisdiction: &str,
        organ: &str,
        by: By<'_>,
        causation: &str,
        payload: Payload,
    ) -> NewEvent {
        NewEvent {
            event_type: event_type.to_string(),
            case_id: Some(case_id),
            case_version: u64::try_from(case_version).unwrap_or(0),
            jurisdiction: jurisdiction.to_string(),
            organ: organ.to_string(),
            actor: by.proto(),
            correlation_id: None,
            causation_id: (!causation.is_empty()).then(|| causation.to_string()),
            payload,
        }
    }

    /// Writes an event of the case: the next of review's sequence for it.
    #[allow(clippy::too_many_arguments)]
    async fn emit(
        &self,
        conn: &mut PgConnection,
        case: &mut CaseRow,
        event_type: &str,
        by: By<'_>,
        causation: &str,
        payload: Payload,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        case.version += 1;
        let event = self.event(event_type, case.case_id, case.version, &case.division, &case.lead_organ, by, causation, payload);
        self.outbox.write(conn, event, now).await?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn audit(
        &self,
        conn: &mut PgConnection,
        by: By<'_>,
        organ: &str,
        action: &str,
        subject: &str,
        before: Option<&serde_json::Value>,
        after: Option<&serde_json::Value>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        audit::append(conn, &AuditEntry { actor_id: by.id(), actor_organ: organ, action, subject, before, after, at: now }).await?;
        Ok(())
    }

    /// Opens a task and starts its timer; `None` if it was already open
    /// (a redelivered request).
    async fn open_task(&self, conn: &mut PgConnection, task: TaskRow, now: DateTime<Utc>) -> Result<Option<TaskRow>, Error> {
        if !store::insert_task(conn, &task).await? {
            return Ok(None);
        }
        timers::schedule(conn, DEADLINE_TIMER, &task.id.to_string(), end_of_cst_day(task.deadline), &json!({ "kind": task.kind }))
            .await?;
        self.audit(conn, BY_SERVICE, &task.organ, &format!("{}.open", task.kind), &format!("task/{}", task.id), None, Some(&audit_task(&task)), now)
            .await?;
        Ok(Some(task))
    }

    /// A new task row, open, with its limit counted from `opened_on`.
    #[allow(clippy::too_many_arguments)]
    fn new_task(
        &self,
        case: &CaseRow,
        kind: TaskKind,
        round: i32,
        role: &str,
        limit: u32,
        opened_on: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<TaskRow, Error> {
        Ok(TaskRow {
            id: Uuid::now_v7(),
            case_id: case.case_id,
            kind: kind.as_str().into(),
            round,
            status: "open".into(),
            organ: case.lead_organ.clone(),
            division: case.division.clone(),
            role: role.into(),
            major: case.major,
            proposed_by: case.proposed_by.clone(),
            opened_on,
            limit_days: i32::try_from(limit).unwrap_or(i32::MAX),
            deadline: self.deadline(opened_on, limit)?,
            deadline_missed: false,
            extended: false,
            extension_reason: String::new(),
            decision: String::new(),
            decided_by: String::new(),
            decided_at: None,
            opinion: String::new(),
            missing: String::new(),
            checklist: Json(Vec::new()),
            collective: None,
            proposal: String::new(),
            supplement: String::new(),
            document: None,
            created_at: now,
        })
    }

    /// Records an officer's decision on an open task and stops its timer.
    async fn close_task(&self, conn: &mut PgConnection, actor: &Actor, task: &mut TaskRow, decision: &str, opinion: &str, now: DateTime<Utc>) -> Result<(), Error> {
        task.status = "decided".into();
        task.decision = decision.into();
        task.decided_by = actor.officer_id.clone();
        task.decided_at = Some(now);
        task.opinion = opinion.to_string();
        store::update_task(conn, task).await?;
        timers::cancel(conn, DEADLINE_TIMER, &task.id.to_string(), now).await?;
        Ok(())
    }

    /// intake.case_opened: review learns the case (awaiting submission).
    pub async fn case_opened(&self, conn: &mut PgConnection, case: CaseRow) -> Result<(), Error> {
        if store::case(conn, case.case_id, true).await?.is_some() {
            return Ok(());
        }
        store::put_case(conn, &case).await?;
        self.audit(conn, BY_SERVICE, &case.lead_organ, "case.learn", &format!("case/{}", case.case_id), None, Some(&audit_case(&case)), case.updated_at)
            .await
    }

    /// intake.case_submitted / case_resubmitted: a legality-review round
    /// opens (R-START-3), its limit counted from the day of submission.
    #[allow(clippy::too_many_arguments)]
    pub async fn submitted(
        &self,
        conn: &mut PgConnection,
        mut case: CaseRow,
        round: i32,
        proposal: &str,
        supplement: &str,
        submitted_at: DateTime<Utc>,
        causation: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let before = store::case(conn, case.case_id, true).await?;
        let state = match &before {
            Some(known) => {
                case.version = known.version;
                CaseState::parse(&known.status)?
            }
            None => CaseState::AwaitingSubmission,
        };
        case.status = state.submitted()?.as_str().into();
        case.updated_at = now;
        let opened_on = cst_date(submitted_at);
        let limit = domain::legality_limit(case.major);
        let mut task = self.new_task(&case, TaskKind::LegalityReview, round, yuetan_platform::auth::roles::LEGAL_REVIEWER, limit, opened_on, now)?;
        task.proposal = proposal.to_string();
        task.supplement = supplement.to_string();
        let Some(task) = self.open_task(conn, task, now).await? else {
            return Err(Error::FailedPrecondition(format!("case {} already has review round {round}", case.case_id)));
        };
        let payload = Payload::ReviewOpened(ev::ReviewOpened {
            case_id: case.case_id.to_string(),
            task_id: task.id.to_string(),
            round: u32::try_from(round).unwrap_or(0),
            number: case.number.clone(),
            major: case.major,
            opened_on: Some(date(opened_on)),
            limit_working_days: limit,
            deadline: Some(date(task.deadline)),
        });
        self.emit(conn, &mut case, "review.review_opened", BY_SERVICE, causation, payload, now).await?;
        store::put_case(conn, &case).await?;
        self.audit(conn, BY_SERVICE, &case.lead_organ, "case.submitted", &format!("case/{}", case.case_id), before.as_ref().map(audit_case).as_ref(), Some(&audit_case(&case)), now)
            .await
    }

    /// The reviewer's decision (R-START-3). On a pass the approval task
    /// opens in the same transaction (R-START-4).
    #[allow(clippy::too_many_arguments)]
    pub async fn decide_review(
        &self,
        conn: &mut PgConnection,
        actor: &Actor,
        mut case: CaseRow,
        mut task: TaskRow,
        outcome: domain::ReviewOutcome,
        checklist: Vec<CheckResult>,
        missing: &str,
        opinion: &str,
        causation: &str,
        now: DateTime<Utc>,
    ) -> Result<TaskRow, Error> {
        let before = audit_task(&task);
        case.status = CaseState::parse(&case.status)?.reviewed(outcome)?.as_str().into();
        case.updated_at = now;
        task.missing = missing.to_string();
        task.checklist = Json(checklist.clone());
        self.close_task(conn, actor, &mut task, outcome.as_str(), opinion, now).await?;
        let results: Vec<ev::ChecklistResult> = checklist
            .iter()
            .map(|c| ev::ChecklistResult { item: c.item.as_str().into(), passed: c.passed, comment: c.comment.clone() })
            .collect();
        let (round, case_id, task_id) = (u32::try_from(task.round).unwrap_or(0), case.case_id.to_string(), task.id.to_string());
        let (event_type, payload) = match outcome {
            domain::ReviewOutcome::Pass => {
                let (role, limit) = domain::approver(case.major);
                let mut approval = self.new_task(&case, TaskKind::Approval, 1, role, limit, cst_date(now), now)?;
                approval.proposal = task.proposal.clone();
                let approval = self
                    .open_task(conn, approval, now)
                    .await?
                    .ok_or_else(|| Error::FailedPrecondition(format!("case {} already has an approval task", case.case_id)))?;
                ("review.review_passed", Payload::ReviewPassed(ev::ReviewPassed {
                    case_id,
                    task_id,
                    round,
                    checklist: results,
                    opinion: opinion.to_string(),
                    approval_task_id: approval.id.to_string(),
                    approver_role: role.into(),
                    approval_deadline: Some(date(approval.deadline)),
                }))
            }
            domain::ReviewOutcome::Return => ("review.review_returned", Payload::ReviewReturned(ev::ReviewReturned {
                case_id,
                task_id,
                round,
                checklist: results,
                missing: missing.to_string(),
                opinion: opinion.to_string(),
            })),
            domain::ReviewOutcome::Reject => ("review.review_rejected", Payload::ReviewRejected(ev::ReviewRejected {
                case_id,
                task_id,
                round,
                checklist: results,
                opinion: opinion.to_string(),
            })),
        };
        self.emit(conn, &mut case, event_type, By::Officer(actor), causation, payload, now).await?;
        store::put_case(conn, &case).await?;
        self.audit(conn, By::Officer(actor), &actor.organ, "legality_review.decide", &format!("task/{}", task.id), Some(&before), Some(&audit_task(&task)), now)
            .await?;
        Ok(task)
    }

    /// The approval (R-START-4): approve or deny, possibly by collective decision.
    #[allow(clippy::too_many_arguments)]
    pub async fn decide_approval(
        &self,
        conn: &mut PgConnection,
        actor: &Actor,
        mut case: CaseRow,
        mut task: TaskRow,
        approve: bool,
        opinion: &str,
        collective: Option<Collective>,
        causation: &str,
        now: DateTime<Utc>,
    ) -> Result<TaskRow, Error> {
        let before = audit_task(&task);
        case.status = CaseState::parse(&case.status)?.decided(approve)?.as_str().into();
        case.updated_at = now;
        task.collective = collective.clone().map(Json);
        self.close_task(conn, actor, &mut task, if approve { "approve" } else { "deny" }, opinion, now).await?;
        let record = collective.map(|c| ev::CollectiveDecisionRecord {
            meeting_date: Some(date(c.meeting_date)),
            attendees: c.attendees,
            result: c.result,
        });
        let (event_type, payload) = if approve {
            ("review.case_approved", Payload::CaseApproved(ev::CaseApproved {
                case_id: case.case_id.to_string(),
                task_id: task.id.to_string(),
                number: case.number.clone(),
                major: case.major,
                approved_by: actor.officer_id.clone(),
                opinion: opinion.to_string(),
                collective: record,
                approved_on: Some(date(cst_date(now))),
            }))
        } else {
            ("review.case_denied", Payload::CaseDenied(ev::CaseDenied {
                case_id: case.case_id.to_string(),
                task_id: task.id.to_string(),
                number: case.number.clone(),
                denied_by: actor.officer_id.clone(),
                opinion: opinion.to_string(),
                collective: record,
            }))
        };
        self.emit(conn, &mut case, event_type, By::Officer(actor), causation, payload, now).await?;
        store::put_case(conn, &case).await?;
        self.audit(conn, By::Officer(actor), &actor.organ, "approval.decide", &format!("task/{}", task.id), Some(&before), Some(&audit_task(&task)), now)
            .await?;
        Ok(task)
    }

    /// A reviewer extends a legality review's limit, once (R-START-3).
    pub async fn extend(&self, conn: &mut PgConnection, actor: &Actor, mut task: TaskRow, reason: &str, days: u32, now: DateTime<Utc>) -> Result<TaskRow, Error> {
        let before = audit_task(&task);
        task.deadline = self.deadline(task.deadline, days)?;
        task.extended = true;
        task.extension_reason = reason.to_string();
        task.deadline_missed = false;
        store::update_task(conn, &task).await?;
        timers::schedule(conn, DEADLINE_TIMER, &task.id.to_string(), end_of_cst_day(task.deadline), &json!({ "kind": task.kind }))
            .await
            .map_err(|_| Error::FailedPrecondition("the limit has already passed and was reported missed; it cannot be extended".into()))?;
        self.audit(conn, By::Officer(actor), &actor.organ, "legality_review.extend", &format!("task/{}", task.id), Some(&before), Some(&audit_task(&task)), now)
            .await?;
        Ok(task)
    }

    /// `<service>.document_review_requested`: a document-review task for the
    /// organ that produced the event (R-DOC-1).
    #[allow(clippy::too_many_arguments)]
    pub async fn document_requested(
        &self,
        conn: &mut PgConnection,
        case_id: Uuid,
        division: &str,
        organ: &str,
        document: Document,
        revision: i32,
        submitted_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let case = CaseRow {
            case_id,
            number: String::new(),
            division: division.into(),
            lead_organ: organ.into(),
            co_departments: Vec::new(),
            major: false,
            proposed_by: document.submitted_by.clone(),
            party_name: String::new(),
            violation_type: String::new(),
            status: String::new(),
            version: 0,
            updated_at: now,
        };
        let mut task = self.new_task(
            &case,
            TaskKind::DocumentReview,
            revision,
            yuetan_platform::auth::roles::LEGAL_REVIEWER,
            domain::DOCUMENT_REVIEW_LIMIT,
            cst_date(submitted_at),
            now,
        )?;
        task.document = Some(Json(document));
        // A second request for the same revision is the same request.
        self.open_task(conn, task, now).await?;
        Ok(())
    }

    /// The legal section's answer on a document (R-DOC-1), by event to the
    /// service that asked. Outside the case's sequence: version 0.
    #[allow(clippy::too_many_arguments)]
    pub async fn decide_document(
        &self,
        conn: &mut PgConnection,
        actor: &Actor,
        mut task: TaskRow,
        pass: bool,
        comments: &str,
        causation: &str,
        now: DateTime<Utc>,
    ) -> Result<TaskRow, Error> {
        let before = audit_task(&task);
        let document = task.document.clone().map(|d| d.0).ok_or_else(|| Error::Internal(format!("task {} has no document", task.id)))?;
        self.close_task(conn, actor, &mut task, if pass { "pass" } else { "return" }, comments, now).await?;
        let payload = Payload::DocumentReviewDecided(ev::DocumentReviewDecided {
                document_id: document.document_id,
                revision: u32::try_from(task.round).unwrap_or(0),
                task_id: task.id.to_string(),
                kind: document.kind,
                decision: task.decision.clone(),
                comments: comments.to_string(),
                decided_by: actor.officer_id.clone(),
                source_service: document.source_service,
        });
        let event = self.event("review.document_review_decided", task.case_id, 0, &task.division, &task.organ, By::Officer(actor), causation, payload);
        self.outbox.write(conn, event, now).await?;
        self.audit(conn, By::Officer(actor), &actor.organ, "document_review.decide", &format!("task/{}", task.id), Some(&before), Some(&audit_task(&task)), now)
            .await?;
        Ok(task)
    }

    /// A task's limit passed without a decision: marked, and announced once
    /// (R-SUP-3 counts it). The task stays open.
    pub async fn deadline_missed(&self, conn: &mut PgConnection, case: Option<CaseRow>, mut task: TaskRow, timer_id: Uuid, now: DateTime<Utc>) -> Result<(), Error> {
        let before = audit_task(&task);
        task.deadline_missed = true;
        store::update_task(conn, &task).await?;
        let payload = Payload::ReviewDeadlineMissed(ev::ReviewDeadlineMissed {
            case_id: task.case_id.to_string(),
            task_id: task.id.to_string(),
            task_kind: task.kind.clone(),
            round: u32::try_from(task.round).unwrap_or(0),
            deadline: Some(date(task.deadline)),
            role: task.role.clone(),
        });
        let causation = timer_id.to_string();
        match case {
            Some(mut case) => {
                self.emit(conn, &mut case, "review.review_deadline_missed", BY_SERVICE, &causation, payload, now).await?;
                store::put_case(conn, &case).await?;
            }
            None => {
                let event = self.event("review.review_deadline_missed", task.case_id, 0, &task.division, &task.organ, BY_SERVICE, &causation, payload);
                self.outbox.write(conn, event, now).await?;
            }
        }
        self.audit(conn, BY_SERVICE, &task.organ, &format!("{}.deadline_missed", task.kind), &format!("task/{}", task.id), Some(&before), Some(&audit_task(&task)), now)
            .await
    }
}
