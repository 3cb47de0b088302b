//! `yuetan.review.v1.ReviewService`: one function per RPC. The caller's
//! role was checked by the platform's gate against `access::TABLE` before
//! the handler runs; each function authorises the rest (organ,
//! jurisdiction, the task's own role, separation of duties), validates
//! the request (a bad field is `INVALID_ARGUMENT` naming it, before anything
//! is written), then changes state in one transaction through `flow.rs`:
//! task, case, outbox event, timer, audit row and the answer to the
//! client's request id commit together or not at all.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use tonic::{Request, Response, Status};
use uuid::Uuid;
use yuetan_platform::auth;
use yuetan_platform::batch::WriteBatch;
use yuetan_platform::fields::{at_most, cst_date, optional, parse_date, parse_uuid, required};
use yuetan_platform::relief;
use yuetan_platform::requests::{self, RequestKey};
use yuetan_platform::{Actor, Error};
use yuetan_proto::review as pb;
use yuetan_proto::review::review_service_server::ReviewService;

use crate::convert::{check_from_proto, file_proto, outcome_from_proto, task_proto};
use crate::domain::{self, TaskKind};
use crate::store::{self, CaseRow, Collective, TaskRow};
use crate::State;

/// The legality-review checklist has five points (R-START-3); a request
/// with more entries is refused before any entry is read.
const MAX_CHECKLIST_ENTRIES: usize = 5;
/// A leading group's meeting: at least three members (checked below), at
/// most this many named, counted before any name is read.
const MAX_ATTENDEES: usize = 50;

#[derive(Debug, Clone)]
pub struct ReviewApi {
    state: Arc<State>,
}

impl ReviewApi {
    pub fn new(state: Arc<State>) -> Self {
        Self { state }
    }
}

type Tx = sqlx::Transaction<'static, sqlx::Postgres>;

/// The one who proposed a case never reviews or approves it, and the one
/// who submitted a document never reviews it (separation of duties).
fn require_not_proposer(actor: &Actor, task: &TaskRow) -> Result<(), Error> {
    if !task.proposed_by.is_empty() && task.proposed_by == actor.officer_id {
        return Err(Error::PermissionDenied(format!(
            "officer {} proposed this case (or submitted this document) and may not decide it",
            actor.officer_id
        )));
    }
    Ok(())
}

/// Only officers of the organ that owns the task decide it.
fn require_task_organ(actor: &Actor, task: &TaskRow) -> Result<(), Error> {
    if actor.organ != task.organ {
        return Err(Error::PermissionDenied(format!("task {} belongs to organ {}, not {}", task.id, task.organ, actor.organ)));
    }
    Ok(())
}

fn require_open(task: &TaskRow) -> Result<(), Error> {
    if task.status != "open" {
        return Err(Error::FailedPrecondition(format!("task {} was already decided ({})", task.id, task.decision)));
    }
    Ok(())
}

fn require_kind(task: &TaskRow, kind: TaskKind) -> Result<(), Error> {
    if task.kind != kind.as_str() {
        return Err(Error::invalid("task_id", format!("task {} is a {}, not a {}", task.id, task.kind, kind.as_str())));
    }
    Ok(())
}

fn parse_page_token(token: &str) -> Result<Option<(NaiveDate, Uuid)>, Error> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad = || Error::invalid("page_token", "is not a token from an earlier page");
    let (day, id) = token.split_once('/').ok_or_else(bad)?;
    Ok(Some((NaiveDate::parse_from_str(day, "%Y-%m-%d").map_err(|_| bad())?, Uuid::parse_str(id).map_err(|_| bad())?)))
}

impl ReviewApi {
    fn now(&self) -> DateTime<Utc> {
        self.state.clock.now()
    }

    /// A task as shown today: working days left to its deadline.
    fn show(&self, task: &TaskRow, case_number: &str) -> pb::Task {
        let today = cst_date(self.now());
        let remaining = if today <= task.deadline {
            self.state.calendar.current().working_days_between(today, task.deadline).map(|a| a.value).unwrap_or(0)
        } else {
            0
        };
        task_proto(task, case_number, today, remaining)
    }

    /// Starts a deciding call: the stored answer if the request id was used,
    /// else the case (locked, if the task has one) and the task (locked).
    async fn begin_decision(
        &self,
        key: &RequestKey<'_>,
        task_id: Uuid,
    ) -> Result<Result<(Tx, Option<CaseRow>, TaskRow), pb::Task>, Error> {
        let mut tx = self.state.pool.begin().await?;
        if let Some(done) = requests::replay(&mut tx, &self.state.vault, key).await? {
            return Ok(Err(done));
        }
        let peek = store::task(&mut tx, task_id, false).await?.ok_or_else(|| Error::NotFound(format!("task {task_id}")))?;
        // Lock order: the case, then the task (flow.rs).
        let case = if peek.kind == TaskKind::DocumentReview.as_str() { None } else { store::case(&mut tx, peek.case_id, true).await? };
        let task = store::task(&mut tx, task_id, true).await?.ok_or_else(|| Error::NotFound(format!("task {task_id}")))?;
        Ok(Ok((tx, case, task)))
    }

    async fn finish(&self, tx: Tx, key: &RequestKey<'_>, task: &TaskRow, case_number: &str) -> Result<pb::Task, Error> {
        let response = self.show(task, case_number);
        requests::commit(&self.state.pool, &self.state.vault, tx, WriteBatch::new(), key, response, self.now()).await
    }

    async fn list_my_tasks(&self, actor: &Actor, req: &pb::ListMyTasksRequest) -> Result<pb::ListMyTasksResponse, Error> {
        let limit = yuetan_platform::fields::page_size(req.page_size)?;
        let after = parse_page_token(&req.page_token)?;
        let mut conn = self.state.pool.acquire().await?;
        let mut rows = store::queue(&mut conn, &actor.organ, &actor.roles, req.include_decided, after, limit + 1).await?;
        let next_page_token = if rows.len() as i64 > limit {
            rows.truncate(usize::try_from(limit).unwrap_or(0));
            rows.last().map(|t| format!("{}/{}", t.deadline, t.id)).unwrap_or_default()
        } else {
            String::new()
        };
        let case_ids: Vec<Uuid> = rows.iter().map(|t| t.case_id).collect();
        let numbers = store::case_numbers(&mut conn, &case_ids).await?;
        let reliefs = relief::of_cases(&mut conn, &case_ids).await?;
        let tasks = rows
            .iter()
            .map(|t| {
                let mut task = self.show(t, numbers.get(&t.case_id).map(String::as_str).unwrap_or(""));
                if let Some(relief) = reliefs.get(&t.case_id) {
                    (task.under_relief, task.relief_reply_due, task.relief_outcome) = relief.fields();
                }
                task
            })
            .collect();
        Ok(pb::ListMyTasksResponse { tasks, next_page_token })
    }

    async fn get_task(&self, actor: &Actor, req: &pb::GetTaskRequest) -> Result<pb::Task, Error> {
        let task_id = parse_uuid("task_id", &req.task_id)?;
        let mut conn = self.state.pool.acquire().await?;
        let task = store::task(&mut conn, task_id, false).await?.ok_or_else(|| Error::NotFound(format!("task {task_id}")))?;
        let case = store::case(&mut conn, task.case_id, false).await?;
        let co = case.as_ref().map(|c| c.co_departments.clone()).unwrap_or_default();
        actor.require_scope_of(&task.division, &co)?;
        let mut shown = self.show(&task, case.as_ref().map(|c| c.number.as_str()).unwrap_or(""));
        (shown.under_relief, shown.relief_reply_due, shown.relief_outcome) = relief::of_case(&mut conn, task.case_id).await?.fields();
        Ok(shown)
    }

    async fn get_review(&self, actor: &Actor, req: &pb::GetReviewRequest) -> Result<pb::ReviewFile, Error> {
        let case_id = parse_uuid("case_id", &req.case_id)?;
        let mut conn = self.state.pool.acquire().await?;
        let case = store::case(&mut conn, case_id, false).await?.ok_or_else(|| Error::NotFound(format!("case {case_id}")))?;
        actor.require_scope_of(&case.division, &case.co_departments)?;
        let tasks = store::tasks_of_case(&mut conn, case_id).await?;
        // R-RELIEF-2: the file and each of its tasks show the relief marks.
        let relief = relief::of_case(&mut conn, case_id).await?;
        let tasks = tasks
            .iter()
            .map(|t| {
                let mut task = self.show(t, &case.number);
                (task.under_relief, task.relief_reply_due, task.relief_outcome) = relief.fields();
                task
            })
            .collect();
        let mut file = file_proto(&case, tasks);
        (file.under_relief, file.relief_reply_due, file.relief_outcome) = relief.fields();
        Ok(file)
    }

    async fn decide_review(&self, actor: &Actor, req: &pb::DecideReviewRequest) -> Result<pb::Task, Error> {
        let task_id = parse_uuid("task_id", &req.task_id)?;
        let outcome = outcome_from_proto(req.decision).ok_or_else(|| Error::invalid("decision", "pass, return or reject"))?;
        let missing = optional("missing", &req.missing, 5_000)?;
        let opinion = optional("opinion", &req.opinion, 5_000)?;
        at_most("checklist", &req.checklist, MAX_CHECKLIST_ENTRIES)?;
        let mut entries = Vec::with_capacity(req.checklist.len());
        for (i, c) in req.checklist.iter().enumerate() {
            entries.push((check_from_proto(c.item), c.passed, optional(&format!("checklist[{i}].comment"), &c.comment, 2_000)?));
        }
        let checklist = domain::check_review(&entries, outcome, &missing, &opinion)?;
        let key = RequestKey::new(&actor.officer_id, &req.request_id, "DecideReview", req)?;
        let (mut tx, case, task) = match self.begin_decision(&key, task_id).await? {
            Ok(found) => found,
            Err(done) => return Ok(done),
        };
        require_kind(&task, TaskKind::LegalityReview)?;
        require_task_organ(actor, &task)?;
        require_not_proposer(actor, &task)?;
        require_open(&task)?;
        let case = case.ok_or_else(|| Error::Internal(format!("task {task_id} has no case")))?;
        let number = case.number.clone();
        let task = self
            .state
            .decide_review(&mut tx, actor, case, task, outcome, checklist, &missing, &opinion, &req.request_id, self.now())
            .await?;
        self.finish(tx, &key, &task, &number).await
    }

    async fn extend_review(&self, actor: &Actor, req: &pb::ExtendReviewRequest) -> Result<pb::Task, Error> {
        let task_id = parse_uuid("task_id", &req.task_id)?;
        let reason = required("reason", &req.reason, 2_000)?;
        if req.working_days == 0 {
            return Err(Error::invalid("working_days", "at least 1"));
        }
        let key = RequestKey::new(&actor.officer_id, &req.request_id, "ExtendReview", req)?;
        let (mut tx, case, task) = match self.begin_decision(&key, task_id).await? {
            Ok(found) => found,
            Err(done) => return Ok(done),
        };
        require_kind(&task, TaskKind::LegalityReview)?;
        require_task_organ(actor, &task)?;
        require_not_proposer(actor, &task)?;
        require_open(&task)?;
        if req.working_days > u32::try_from(task.limit_days).unwrap_or(0) {
            return Err(Error::invalid("working_days", format!("at most the review's own limit, {} working days", task.limit_days)));
        }
        if task.extended {
            return Err(Error::FailedPrecondition(format!("task {task_id} was already extended once ({})", task.extension_reason)));
        }
        if task.deadline_missed {
            return Err(Error::FailedPrecondition(format!("task {task_id} passed its limit on {}; it can no longer be extended", task.deadline)));
        }
        let task = self.state.extend(&mut tx, actor, task, &reason, req.working_days, self.now()).await?;
        self.finish(tx, &key, &task, case.as_ref().map(|c| c.number.as_str()).unwrap_or("")).await
    }

    async fn decide_approval(&self, actor: &Actor, req: &pb::DecideApprovalRequest) -> Result<pb::Task, Error> {
        let task_id = parse_uuid("task_id", &req.task_id)?;
        let approve = match pb::ApprovalDecision::try_from(req.decision) {
            Ok(pb::ApprovalDecision::Approve) => true,
            Ok(pb::ApprovalDecision::Deny) => false,
            _ => return Err(Error::invalid("decision", "approve or deny")),
        };
        let opinion = required("opinion", &req.opinion, 5_000)?;
        let collective = match &req.collective {
            None => None,
            Some(c) => {
                let meeting_date = parse_date("collective.meeting_date", c.meeting_date.as_ref())?
                    .ok_or_else(|| Error::invalid("collective.meeting_date", "is required"))?;
                if meeting_date > cst_date(self.now()) {
                    return Err(Error::invalid("collective.meeting_date", "may not be in the future"));
                }
                at_most("collective.attendees", &c.attendees, MAX_ATTENDEES)?;
                let mut attendees = Vec::with_capacity(c.attendees.len());
                for (i, a) in c.attendees.iter().enumerate() {
                    attendees.push(required(&format!("collective.attendees[{i}]"), a, 64)?);
                }
                if attendees.len() < 3 {
                    return Err(Error::invalid("collective.attendees", "a leading-group decision needs at least three members present"));
                }
                Some(Collective { meeting_date, attendees, result: required("collective.result", &c.result, 5_000)? })
            }
        };
        let key = RequestKey::new(&actor.officer_id, &req.request_id, "DecideApproval", req)?;
        let (mut tx, case, task) = match self.begin_decision(&key, task_id).await? {
            Ok(found) => found,
            Err(done) => return Ok(done),
        };
        require_kind(&task, TaskKind::Approval)?;
        require_task_organ(actor, &task)?;
        // R-START-4: the deputy leader for a general case, the leader for a major one.
        actor.require_role(&task.role)?;
        if collective.is_some() && !task.major {
            return Err(Error::invalid("collective", "only a major case goes to the leading group"));
        }
        require_not_proposer(actor, &task)?;
        require_open(&task)?;
        let case = case.ok_or_else(|| Error::Internal(format!("task {task_id} has no case")))?;
        let number = case.number.clone();
        let task = self.state.decide_approval(&mut tx, actor, case, task, approve, &opinion, collective, &req.request_id, self.now()).await?;
        self.finish(tx, &key, &task, &number).await
    }

    async fn decide_document(&self, actor: &Actor, req: &pb::DecideDocumentRequest) -> Result<pb::Task, Error> {
        let task_id = parse_uuid("task_id", &req.task_id)?;
        let pass = match pb::DocumentDecision::try_from(req.decision) {
            Ok(pb::DocumentDecision::Pass) => true,
            Ok(pb::DocumentDecision::Return) => false,
            _ => return Err(Error::invalid("decision", "pass or return")),
        };
        let comments = if pass { optional("comments", &req.comments, 5_000)? } else { required("comments", &req.comments, 5_000)? };
        let key = RequestKey::new(&actor.officer_id, &req.request_id, "DecideDocument", req)?;
        let (mut tx, _, task) = match self.begin_decision(&key, task_id).await? {
            Ok(found) => found,
            Err(done) => return Ok(done),
        };
        require_kind(&task, TaskKind::DocumentReview)?;
        require_task_organ(actor, &task)?;
        require_not_proposer(actor, &task)?;
        require_open(&task)?;
        let task = self.state.decide_document(&mut tx, actor, task, pass, &comments, &req.request_id, self.now()).await?;
        self.finish(tx, &key, &task, "").await
    }

    async fn or_replay<Req: prost::Message>(
        &self,
        actor: &Actor,
        request_id: &str,
        method: &'static str,
        request: &Req,
        result: Result<pb::Task, Error>,
    ) -> Result<pb::Task, Error> {
        requests::or_replay(&self.state.pool, &self.state.vault, &actor.officer_id, request_id, method, request, result).await
    }
}

fn reply<T>(result: Result<T, Error>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

#[tonic::async_trait]
impl ReviewService for ReviewApi {
    async fn list_my_tasks(&self, request: Request<pb::ListMyTasksRequest>) -> Result<Response<pb::ListMyTasksResponse>, Status> {
        let actor = auth::actor(&request)?;
        reply(self.list_my_tasks(actor, request.get_ref()).await)
    }

    async fn get_task(&self, request: Request<pb::GetTaskRequest>) -> Result<Response<pb::Task>, Status> {
        let actor = auth::actor(&request)?;
        reply(self.get_task(actor, request.get_ref()).await)
    }

    async fn get_review(&self, request: Request<pb::GetReviewRequest>) -> Result<Response<pb::ReviewFile>, Status> {
        let actor = auth::actor(&request)?;
        reply(self.get_review(actor, request.get_ref()).await)
    }

    async fn decide_review(&self, request: Request<pb::DecideReviewRequest>) -> Result<Response<pb::Task>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = self.decide_review(actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "DecideReview", req, result).await)
    }

    async fn extend_review(&self, request: Request<pb::ExtendReviewRequest>) -> Result<Response<pb::Task>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = self.extend_review(actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "ExtendReview", req, result).await)
    }

    async fn decide_approval(&self, request: Request<pb::DecideApprovalRequest>) -> Result<Response<pb::Task>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = self.decide_approval(actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "DecideApproval", req, result).await)
    }

    async fn decide_document(&self, request: Request<pb::DecideDocumentRequest>) -> Result<Response<pb::Task>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = self.decide_document(actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "DecideDocument", req, result).await)
    }
}
