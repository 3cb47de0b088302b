//! `yuetan.rectification.v1.RectificationService`: one function per RPC.
//! The caller's role was checked by the gate against `access::TABLE`; each
//! function checks jurisdiction (the lead organ changes; co-departments of a
//! joint case read and add ledger entries), validates the request (a bad
//! field is INVALID_ARGUMENT naming it, before anything is written), then
//! changes state in one transaction through `flow.rs`, with the answer to
//! the client's request id.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tonic::{Request, Response, Status};
use uuid::Uuid;
use yuetan_platform::auth;
use yuetan_platform::batch::WriteBatch;
use yuetan_platform::fields::{sha256, at_most, cst_date, from_timestamp, optional, page_size, parse_date, parse_uuid, required};
use yuetan_platform::relief;
use yuetan_platform::requests::{self, RequestKey};
use yuetan_platform::{Actor, Error};
use yuetan_proto::rectification as pb;
use yuetan_proto::rectification::rectification_service_server::RectificationService;

use crate::convert::{document_proto, ledger_proto, method_str, rect_proto};
use crate::flow::report_context;
use crate::store::{self, AnswerRow, CaseRow, LedgerRow, RectRow};
use crate::State;

const MAX_TEXT: usize = 2_000;
const MAX_REPORT: usize = 5_000;
const MAX_FILES: usize = 10;

#[derive(Debug, Clone)]
pub struct RectificationApi {
    state: Arc<State>,
}

impl RectificationApi {
    pub fn new(state: Arc<State>) -> Self {
        Self { state }
    }
}

type Tx = sqlx::Transaction<'static, sqlx::Postgres>;

impl RectificationApi {
    fn now(&self) -> DateTime<Utc> {
        self.state.clock.now()
    }

    async fn begin(&self) -> Result<Tx, Error> {
        Ok(self.state.pool.begin().await?)
    }

    async fn finish<R: prost::Message + Default>(&self, tx: Tx, key: &RequestKey<'_>, response: R) -> Result<R, Error> {
        requests::commit(&self.state.pool, &self.state.vault, tx, WriteBatch::new(), key, response, self.now()).await
    }

    async fn files(&self, field: &str, list: &[String]) -> Result<Vec<String>, Error> {
        at_most(field, list, MAX_FILES)?;
        let mut out = Vec::new();
        for (i, sha) in list.iter().enumerate() {
            let f = format!("{field}[{i}]");
            let sha = sha256(&f, sha)?;
            if !self.state.objects.exists(&sha).await? {
                return Err(Error::invalid(&f, "no file with this SHA-256 in the object store; upload it first"));
            }
            out.push(sha);
        }
        Ok(out)
    }

    /// The case (locked) and its rectification (locked), in the caller's
    /// reach: the lead organ's officers, or with `co` also co-departments.
    async fn for_change(&self, tx: &mut Tx, actor: &Actor, case_id: Uuid, co: bool) -> Result<(CaseRow, RectRow), Error> {
        let case = store::case(tx, case_id, true).await?.ok_or_else(|| Error::NotFound(format!("case {case_id}")))?;
        if co {
            actor.require_scope_of(&case.division, &case.co_departments)?;
            if actor.organ != case.lead_organ && !case.co_departments.contains(&actor.organ) {
                return Err(Error::PermissionDenied(format!("organ {} is neither the lead organ nor a co-department of case {case_id}", actor.organ)));
            }
        } else {
            actor.require_scope_of(&case.division, &[])?;
            if actor.organ != case.lead_organ {
                return Err(Error::PermissionDenied(format!("case {case_id} is led by organ {}, not {}", case.lead_organ, actor.organ)));
            }
        }
        let rect = store::rect_of_case(tx, case_id, true).await?.ok_or_else(|| Error::FailedPrecondition(format!("case {case_id} has no rectification (it opens when the interview is held)")))?;
        Ok((case, rect))
    }

    async fn answer(&self, conn: &mut sqlx::PgConnection, case: &CaseRow, rect: &RectRow) -> Result<pb::Rectification, Error> {
        let answers = store::answers(conn, rect.id).await?;
        let notice_number = match rect.notice_document_id {
            Some(id) => store::document(conn, id, false).await?.map(|d| d.number).unwrap_or_default(),
            None => String::new(),
        };
        let record = store::record_ref(conn, case.case_id).await?;
        let text = match &rect.report_text_sealed {
            Some(sealed) => self.state.vault.open(sealed, &report_context(rect.id))?,
            None => String::new(),
        };
        let mut answer = rect_proto(rect, &case.number, &case.party_name, &answers, &notice_number, record.as_ref(), text);
        // R-RELIEF-2: the case's relief marks.
        (answer.under_relief, answer.relief_reply_due, answer.relief_outcome) = relief::of_case(conn, case.case_id).await?.fields();
        Ok(answer)
    }

    async fn assign_tracker(&self, actor: &Actor, req: &pb::AssignTrackerRequest) -> Result<pb::Rectification, Error> {
        let case_id = parse_uuid("case_id", &req.case_id)?;
        let officer = required("officer_id", &req.officer_id, 64)?;
        let cadence = match req.cadence_days {
            0 => None,
            d @ 1..=60 => Some(d),
            _ => return Err(Error::invalid("cadence_days", "1 to 60 days")),
        };
        let key = RequestKey::new(&actor.officer_id, &req.request_id, "AssignTracker", req)?;
        let mut tx = self.begin().await?;
        if let Some(done) = requests::replay(&mut tx, &self.state.vault, &key).await? {
            return Ok(done);
        }
        let (case, rect) = self.for_change(&mut tx, actor, case_id, false).await?;
        let rect = self.state.assign_tracker(&mut tx, actor, rect, officer, cadence, self.now()).await?;
        let answer = self.answer(&mut tx, &case, &rect).await?;
        self.finish(tx, &key, answer).await
    }

    async fn get_rectification(&self, actor: &Actor, req: &pb::GetRectificationRequest) -> Result<pb::Rectification, Error> {
        let case_id = parse_uuid("case_id", &req.case_id)?;
        let mut conn = self.state.pool.acquire().await?;
        let case = store::case(&mut conn, case_id, false).await?.ok_or_else(|| Error::NotFound(format!("case {case_id}")))?;
        actor.require_scope_of(&case.division, &case.co_departments)?;
        let rect = store::rect_of_case(&mut conn, case_id, false).await?.ok_or_else(|| Error::NotFound(format!("rectification of case {case_id}")))?;
        self.answer(&mut conn, &case, &rect).await
    }

    async fn list_queue(&self, actor: &Actor, req: &pb::ListQueueRequest) -> Result<pb::ListQueueResponse, Error> {
        let limit = page_size(req.page_size)?;
        let mut conn = self.state.pool.acquire().await?;
        let mut out = Vec::new();
        for rect in store::queue(&mut conn, &actor.officer_id, &actor.organ, limit).await? {
            let Some(case) = store::case(&mut conn, rect.case_id, false).await? else { continue };
            if actor.require_scope_of(&case.division, &case.co_departments).is_ok() {
                out.push(self.answer(&mut conn, &case, &rect).await?);
            }
        }
        Ok(pb::ListQueueResponse { rectifications: out })
    }

    async fn issue_notice(&self, actor: &Actor, req: &pb::IssueNoticeRequest) -> Result<pb::Document, Error> {
        let case_id = parse_uuid("case_id", &req.case_id)?;
        let basis = optional("legal_basis", &req.legal_basis, MAX_TEXT)?;
        let consequence = optional("consequence", &req.consequence, MAX_TEXT)?;
        let contact = optional("contact", &req.contact, 200)?;
        let key = RequestKey::new(&actor.officer_id, &req.request_id, "IssueNotice", req)?;
        let mut tx = self.begin().await?;
        if let Some(done) = requests::replay(&mut tx, &self.state.vault, &key).await? {
            return Ok(done);
        }
        let (case, rect) = self.for_change(&mut tx, actor, case_id, false).await?;
        let document = self.state.issue_notice(&mut tx, actor, case, rect, basis, consequence, contact, &req.request_id, self.now()).await?;
        self.finish(tx, &key, document_proto(&document)).await
    }

    async fn add_ledger_entry(&self, actor: &Actor, req: &pb::AddLedgerEntryRequest) -> Result<pb::LedgerEntry, Error> {
        let case_id = parse_uuid("case_id", &req.case_id)?;
        let method = pb::Method::try_from(req.method).ok().and_then(method_str).ok_or_else(|| Error::invalid("method", "phone, site inspection or document review"))?;
        let on = parse_date("on", req.on.as_ref())?.ok_or_else(|| Error::invalid("on", "required"))?;
        if on > cst_date(self.now()) {
            return Err(Error::invalid("on", "lies in the future"));
        }
        let entry = LedgerRow {
            id: Uuid::now_v7(),
            rectification_id: Uuid::nil(),
            case_id,
            method: method.into(),
            entry_on: on,
            officer_id: actor.officer_id.clone(),
            organ: actor.organ.clone(),
            progress: required("progress", &req.progress, MAX_TEXT)?,
            problems: optional("problems", &req.problems, MAX_TEXT)?,
            measures: optional("measures", &req.measures, MAX_TEXT)?,
            attachments: self.files("attachment_sha256", &req.attachment_sha256).await?,
            recorded_at: self.now(),
        };
        let key = RequestKey::new(&actor.officer_id, &req.request_id, "AddLedgerEntry", req)?;
        let mut tx = self.begin().await?;
        if let Some(done) = requests::replay(&mut tx, &self.state.vault, &key).await? {
            return Ok(done);
        }
        let (case, rect) = self.for_change(&mut tx, actor, case_id, true).await?;
        let entry = self.state.add_ledger_entry(&mut tx, actor, case, rect, entry, &req.request_id, self.now()).await?;
        self.finish(tx, &key, ledger_proto(&entry)).await
    }

    async fn list_ledger(&self, actor: &Actor, req: &pb::ListLedgerRequest) -> Result<pb::ListLedgerResponse, Error> {
        let case_id = parse_uuid("case_id", &req.case_id)?;
        let mut conn = self.state.pool.acquire().await?;
        let case = store::case(&mut conn, case_id, false).await?.ok_or_else(|| Error::NotFound(format!("case {case_id}")))?;
        actor.require_scope_of(&case.division, &case.co_departments)?;
        let Some(rect) = store::rect_of_case(&mut conn, case_id, false).await? else { return Ok(pb::ListLedgerResponse { entries: Vec::new() }) };
        Ok(pb::ListLedgerResponse { entries: store::ledger(&mut conn, rect.id).await?.iter().map(ledger_proto).collect() })
    }

    async fn record_paper_report(&self, actor: &Actor, req: &pb::RecordPaperReportRequest) -> Result<pb::Rectification, Error> {
        let case_id = parse_uuid("case_id", &req.case_id)?;
        let text = required("text", &req.text, MAX_REPORT)?;
        let files = self.files("attachment_sha256", &req.attachment_sha256).await?;
        let at = from_timestamp(req.received_at.as_ref()).ok_or_else(|| Error::invalid("received_at", "required: when the paper report came in"))?;
        if at > self.now() + Duration::minutes(5) {
            return Err(Error::invalid("received_at", "lies in the future"));
        }
        let key = RequestKey::new(&actor.officer_id, &req.request_id, "RecordPaperReport", req)?;
        let mut tx = self.begin().await?;
        if let Some(done) = requests::replay(&mut tx, &self.state.vault, &key).await? {
            return Ok(done);
        }
        let (case, rect) = self.for_change(&mut tx, actor, case_id, false).await?;
        let rect = self.state.report_received(&mut tx, yuetan_platform::audit::By::Officer(actor), case.clone(), rect, "paper", at, &text, files, &req.request_id, self.now()).await?;
        let answer = self.answer(&mut tx, &case, &rect).await?;
        self.finish(tx, &key, answer).await
    }

    async fn request_extension(&self, actor: &Actor, req: &pb::RequestExtensionRequest) -> Result<pb::Rectification, Error> {
        let case_id = parse_uuid("case_id", &req.case_id)?;
        let reason = required("reason", &req.reason, MAX_TEXT)?;
        let new_deadline = parse_date("new_deadline", req.new_deadline.as_ref())?.ok_or_else(|| Error::invalid("new_deadline", "required"))?;
        let key = RequestKey::new(&actor.officer_id, &req.request_id, "RequestExtension", req)?;
        let mut tx = self.begin().await?;
        if let Some(done) = requests::replay(&mut tx, &self.state.vault, &key).await? {
            return Ok(done);
        }
        let (case, rect) = self.for_change(&mut tx, actor, case_id, false).await?;
        let rect = self.state.request_extension(&mut tx, actor, rect, reason, new_deadline, self.now()).await?;
        let answer = self.answer(&mut tx, &case, &rect).await?;
        self.finish(tx, &key, answer).await
    }

    async fn decide_extension(&self, actor: &Actor, req: &pb::DecideExtensionRequest) -> Result<pb::Rectification, Error> {
        let case_id = parse_uuid("case_id", &req.case_id)?;
        optional("comment", &req.comment, MAX_TEXT)?;
        let key = RequestKey::new(&actor.officer_id, &req.request_id, "DecideExtension", req)?;
        let mut tx = self.begin().await?;
        if let Some(done) = requests::replay(&mut tx, &self.state.vault, &key).await? {
            return Ok(done);
        }
        let (case, rect) = self.for_change(&mut tx, actor, case_id, false).await?;
        let rect = self.state.decide_extension(&mut tx, actor, case.clone(), rect, req.approve, &req.request_id, self.now()).await?;
        let answer = self.answer(&mut tx, &case, &rect).await?;
        self.finish(tx, &key, answer).await
    }

    async fn record_acceptance(&self, actor: &Actor, req: &pb::RecordAcceptanceRequest) -> Result<pb::Rectification, Error> {
        let case_id = parse_uuid("case_id", &req.case_id)?;
        let answer = AnswerRow {
            rectification_id: Uuid::nil(),
            officer_id: actor.officer_id.clone(),
            complete: req.complete,
            lawful: req.lawful,
            goal_reached: req.goal_reached,
            comments: optional("comments", &req.comments, MAX_TEXT)?,
            evidence: self.files("evidence_sha256", &req.evidence_sha256).await?,
            answered_at: self.now(),
        };
        let reinspect_on = parse_date("reinspect_on", req.reinspect_on.as_ref())?;
        if reinspect_on.is_some_and(|d| d <= cst_date(self.now())) {
            return Err(Error::invalid("reinspect_on", "must lie in the future"));
        }
        let follow_up = optional("follow_up", &req.follow_up, MAX_TEXT)?;
        let key = RequestKey::new(&actor.officer_id, &req.request_id, "RecordAcceptance", req)?;
        let mut tx = self.begin().await?;
        if let Some(done) = requests::replay(&mut tx, &self.state.vault, &key).await? {
            return Ok(done);
        }
        let (case, rect) = self.for_change(&mut tx, actor, case_id, false).await?;
        let answer = AnswerRow { rectification_id: rect.id, ..answer };
        let rect = self.state.record_acceptance(&mut tx, actor, case.clone(), rect, answer, reinspect_on, follow_up, &req.request_id, self.now()).await?;
        let reply = self.answer(&mut tx, &case, &rect).await?;
        self.finish(tx, &key, reply).await
    }

    async fn record_reinspection(&self, actor: &Actor, req: &pb::RecordReinspectionRequest) -> Result<pb::Rectification, Error> {
        let case_id = parse_uuid("case_id", &req.case_id)?;
        let notes = optional("notes", &req.notes, MAX_TEXT)?;
        let key = RequestKey::new(&actor.officer_id, &req.request_id, "RecordReinspection", req)?;
        let mut tx = self.begin().await?;
        if let Some(done) = requests::replay(&mut tx, &self.state.vault, &key).await? {
            return Ok(done);
        }
        let (case, rect) = self.for_change(&mut tx, actor, case_id, false).await?;
        let rect = self.state.record_reinspection(&mut tx, actor, case.clone(), rect, req.passed, notes, &req.request_id, self.now()).await?;
        let answer = self.answer(&mut tx, &case, &rect).await?;
        self.finish(tx, &key, answer).await
    }

    async fn get_document(&self, actor: &Actor, req: &pb::GetDocumentRequest) -> Result<pb::Document, Error> {
        Ok(document_proto(&self.readable_document(actor, &req.document_id).await?))
    }

    /// The document, if the caller may read its case.
    async fn readable_document(&self, actor: &Actor, document_id: &str) -> Result<store::DocumentRow, Error> {
        let id = parse_uuid("document_id", document_id)?;
        let mut conn = self.state.pool.acquire().await?;
        let doc = store::document(&mut conn, id, false).await?.ok_or_else(|| Error::NotFound(format!("document {id}")))?;
        let co = store::case(&mut conn, doc.case_id, false).await?.map(|c| c.co_departments).unwrap_or_default();
        actor.require_scope_of(&doc.division, &co)?;
        Ok(doc)
    }

    /// The document's PDF from the object store (the console's preview and download).
    async fn get_document_file(&self, actor: &Actor, req: &pb::GetDocumentFileRequest) -> Result<pb::DocumentFile, Error> {
        let doc = self.readable_document(actor, &req.document_id).await?;
        let pdf = self.state.objects.get(&doc.sha256).await?;
        Ok(pb::DocumentFile { document_id: doc.id.to_string(), title: doc.title, number: doc.number, sha256: doc.sha256, pdf })
    }

    async fn or_replay<Req: prost::Message, R: prost::Message + Default>(&self, actor: &Actor, request_id: &str, method: &'static str, request: &Req, result: Result<R, Error>) -> Result<R, Error> {
        requests::or_replay(&self.state.pool, &self.state.vault, &actor.officer_id, request_id, method, request, result).await
    }
}

fn reply<T>(result: Result<T, Error>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

#[tonic::async_trait]
impl RectificationService for RectificationApi {
    async fn assign_tracker(&self, request: Request<pb::AssignTrackerRequest>) -> Result<Response<pb::Rectification>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = RectificationApi::assign_tracker(self, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "AssignTracker", req, result).await)
    }

    async fn get_rectification(&self, request: Request<pb::GetRectificationRequest>) -> Result<Response<pb::Rectification>, Status> {
        let actor = auth::actor(&request)?;
        reply(RectificationApi::get_rectification(self, actor, request.get_ref()).await)
    }

    async fn list_queue(&self, request: Request<pb::ListQueueRequest>) -> Result<Response<pb::ListQueueResponse>, Status> {
        let actor = auth::actor(&request)?;
        reply(RectificationApi::list_queue(self, actor, request.get_ref()).await)
    }

    async fn issue_notice(&self, request: Request<pb::IssueNoticeRequest>) -> Result<Response<pb::Document>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = RectificationApi::issue_notice(self, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "IssueNotice", req, result).await)
    }

    async fn add_ledger_entry(&self, request: Request<pb::AddLedgerEntryRequest>) -> Result<Response<pb::LedgerEntry>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = RectificationApi::add_ledger_entry(self, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "AddLedgerEntry", req, result).await)
    }

    async fn list_ledger(&self, request: Request<pb::ListLedgerRequest>) -> Result<Response<pb::ListLedgerResponse>, Status> {
        let actor = auth::actor(&request)?;
        reply(RectificationApi::list_ledger(self, actor, request.get_ref()).await)
    }

    async fn record_paper_report(&self, request: Request<pb::RecordPaperReportRequest>) -> Result<Response<pb::Rectification>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = RectificationApi::record_paper_report(self, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "RecordPaperReport", req, result).await)
    }

    async fn request_extension(&self, request: Request<pb::RequestExtensionRequest>) -> Result<Response<pb::Rectification>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = RectificationApi::request_extension(self, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "RequestExtension", req, result).await)
    }

    async fn decide_extension(&self, request: Request<pb::DecideExtensionRequest>) -> Result<Response<pb::Rectification>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = RectificationApi::decide_extension(self, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "DecideExtension", req, result).await)
    }

    async fn record_acceptance(&self, request: Request<pb::RecordAcceptanceRequest>) -> Result<Response<pb::Rectification>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = RectificationApi::record_acceptance(self, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "RecordAcceptance", req, result).await)
    }

    async fn record_reinspection(&self, request: Request<pb::RecordReinspectionRequest>) -> Result<Response<pb::Rectification>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = RectificationApi::record_reinspection(self, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "RecordReinspection", req, result).await)
    }

    async fn get_document(&self, request: Request<pb::GetDocumentRequest>) -> Result<Response<pb::Document>, Status> {
        let actor = auth::actor(&request)?;
        reply(RectificationApi::get_document(self, actor, request.get_ref()).await)
    }

    async fn get_document_file(&self, request: Request<pb::GetDocumentFileRequest>) -> Result<Response<pb::DocumentFile>, Status> {
        let actor = auth::actor(&request)?;
        reply(RectificationApi::get_document_file(self, actor, request.get_ref()).await)
    }
}
