//! `yuetan.scheduling.v1.SchedulingService`: one function per RPC. The
//! caller's role was checked by the platform's gate against
//! `access::TABLE`; each function checks jurisdiction (the case's division
//! within the caller's, co-departments of a joint case), validates the
//! request (a bad field is `INVALID_ARGUMENT` naming it, before anything is
//! written), then changes state in one transaction through `flow.rs`, with
//! the answer to the client's request id.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use tonic::{Request, Response, Status};
use uuid::Uuid;
use yuetan_platform::auth::{self, DivisionCode};
use yuetan_platform::batch::WriteBatch;
use yuetan_platform::fields::{sha256, at_most, from_timestamp, optional, parse_date, parse_uuid, required};
use yuetan_platform::relief;
use yuetan_platform::requests::{self, RequestKey};
use yuetan_platform::{Actor, Error};
use yuetan_proto::scheduling as pb;
use yuetan_proto::scheduling::scheduling_service_server::SchedulingService;

mod interview;

use crate::convert::{address_proto, channel_from_proto, document_proto, officer_proto, plan_proto, service_proto};
use crate::domain::{self, Channel};
use crate::flow::{By, DirectService, PlanInput, ServeRequest};
use crate::store::{self, AddressRow, CaseRow, OfficerRow, Person};
use crate::timers::address_context;
use crate::State;

const MAX_PEOPLE: usize = 20;
const MAX_MATERIALS: usize = 30;
const MAX_TEXT: usize = 2_000;

#[derive(Debug, Clone)]
pub struct SchedulingApi {
    state: Arc<State>,
}

impl SchedulingApi {
    pub fn new(state: Arc<State>) -> Self {
        Self { state }
    }
}

type Tx = sqlx::Transaction<'static, sqlx::Postgres>;

/// Changes are made by the lead organ's own officers.
fn require_lead_organ(actor: &Actor, case: &CaseRow) -> Result<(), Error> {
    actor.require_scope_of(&case.division, &[])?;
    if actor.organ != case.lead_organ {
        return Err(Error::PermissionDenied(format!("case {} is led by organ {}, not {}", case.case_id, case.lead_organ, actor.organ)));
    }
    Ok(())
}

/// An 11-digit mainland mobile number.
fn is_mobile_number(value: &str) -> bool {
    value.len() == 11 && value.starts_with('1') && value.bytes().all(|b| b.is_ascii_digit())
}

/// `local@domain.tld`, without spaces.
fn is_email_address(value: &str) -> bool {
    value.contains('@') && !value.contains(char::is_whitespace) && value.rsplit('@').next().is_some_and(|d| d.contains('.'))
}

fn people(field: &str, list: &[pb::Participant]) -> Result<Vec<Person>, Error> {
    at_most(field, list, MAX_PEOPLE)?;
    let mut out = Vec::new();
    for (i, p) in list.iter().enumerate() {
        out.push(Person {
            id: optional(&format!("{field}[{i}].id"), &p.id, 64)?,
            name: required(&format!("{field}[{i}].name"), &p.name, 100)?,
            organ: optional(&format!("{field}[{i}].organ"), &p.organ, 64)?,
        });
    }
    Ok(out)
}

impl SchedulingApi {
    fn now(&self) -> DateTime<Utc> {
        self.state.clock.now()
    }

    async fn begin(&self) -> Result<Tx, Error> {
        Ok(self.state.pool.begin().await?)
    }

    async fn finish<R: prost::Message + Default>(&self, tx: Tx, key: &RequestKey<'_>, response: R) -> Result<R, Error> {
        requests::commit(&self.state.pool, &self.state.vault, tx, WriteBatch::new(), key, response, self.now()).await
    }

    /// The case (locked) of a changing call, in the caller's reach.
    async fn case_for_change(&self, tx: &mut Tx, actor: &Actor, case_id: Uuid) -> Result<CaseRow, Error> {
        let case = store::case(tx, case_id, true).await?.ok_or_else(|| Error::NotFound(format!("case {case_id}")))?;
        require_lead_organ(actor, &case)?;
        Ok(case)
    }

    // ---- officer directory -------------------------------------------------

    async fn put_officer(&self, actor: &Actor, req: &pb::PutOfficerRequest) -> Result<pb::Officer, Error> {
        let officer_id = required("officer_id", &req.officer_id, 64)?;
        let division = DivisionCode::parse(&req.division).map_err(|_| Error::invalid("division", "a six-digit division code"))?;
        actor.require_scope(&division, &[])?;
        let row = OfficerRow {
            officer_id,
            name: required("name", &req.name, 100)?,
            organ: required("organ", &req.organ, 64)?,
            division: division.as_str().to_string(),
            certificate_number: required("certificate_number", &req.certificate_number, 64)?,
            certificate_valid_until: parse_date("certificate_valid_until", req.certificate_valid_until.as_ref())?
                .ok_or_else(|| Error::invalid("certificate_valid_until", "required"))?,
            experience_since: parse_date("experience_since", req.experience_since.as_ref())?.ok_or_else(|| Error::invalid("experience_since", "required"))?,
            interviewer_certified_on: parse_date("interviewer_certified_on", req.interviewer_certified_on.as_ref())?,
            legal_review_qualified: req.legal_review_qualified,
            active: req.active,
            version: 1,
            updated_at: self.now(),
        };
        let key = RequestKey::new(&actor.officer_id, &req.request_id, "PutOfficer", req)?;
        let mut tx = self.begin().await?;
        if let Some(done) = requests::replay(&mut tx, &self.state.vault, &key).await? {
            return Ok(done);
        }
        if let Some(existing) = store::officer(&mut tx, &row.officer_id, false).await? {
            actor.require_scope_of(&existing.division, &[])?;
        }
        let row = self.state.put_officer(&mut tx, actor, row, &req.request_id, self.now()).await?;
        self.finish(tx, &key, officer_proto(&row)).await
    }

    async fn get_officer(&self, actor: &Actor, req: &pb::GetOfficerRequest) -> Result<pb::Officer, Error> {
        let id = required("officer_id", &req.officer_id, 64)?;
        let mut conn = self.state.pool.acquire().await?;
        let row = store::officer(&mut conn, &id, false).await?.ok_or_else(|| Error::NotFound(format!("officer {id}")))?;
        actor.require_scope_of(&row.division, &[])?;
        Ok(officer_proto(&row))
    }

    async fn list_officers(&self, actor: &Actor, req: &pb::ListOfficersRequest) -> Result<pb::ListOfficersResponse, Error> {
        let organ = optional("organ", &req.organ, 64)?;
        let organ = if organ.is_empty() { actor.organ.clone() } else { organ };
        let mut conn = self.state.pool.acquire().await?;
        let rows = store::officers_of(&mut conn, &organ).await?;
        for row in &rows {
            actor.require_scope_of(&row.division, &[])?;
        }
        Ok(pb::ListOfficersResponse { officers: rows.iter().map(officer_proto).collect() })
    }

    // ---- address confirmation ----------------------------------------------

    async fn record_service_address(&self, actor: &Actor, req: &pb::RecordServiceAddressRequest) -> Result<pb::ServiceAddress, Error> {
        let case_id = parse_uuid("case_id", &req.case_id)?;
        at_most("channels", &req.channels, 3)?;
        let mut channels = Vec::new();
        for (i, c) in req.channels.iter().enumerate() {
            let c = channel_from_proto(*c).filter(|c| c.electronic()).ok_or_else(|| Error::invalid(format!("channels[{i}]"), "sms, email or egov"))?;
            channels.push(c);
        }
        let sms = optional("sms_number", &req.sms_number, 20)?;
        if !sms.is_empty() && !is_mobile_number(&sms) {
            return Err(Error::invalid("sms_number", "an 11-digit mainland mobile number"));
        }
        let email = optional("email", &req.email, 254)?;
        if !email.is_empty() && !is_email_address(&email) {
            return Err(Error::invalid("email", "not an e-mail address"));
        }
        let egov = optional("egov_account", &req.egov_account, 128)?;
        let postal = optional("postal_address", &req.postal_address, 300)?;
        for c in &channels {
            let missing = match c {
                Channel::Sms => sms.is_empty().then_some("sms_number"),
                Channel::Email => email.is_empty().then_some("email"),
                Channel::Egov => egov.is_empty().then_some("egov_account"),
                _ => None,
            };
            if let Some(field) = missing {
                return Err(Error::invalid(field, format!("required for consent to {} service", c.as_str())));
            }
        }
        let confirmation = if req.confirmation_sha256.is_empty() { String::new() } else { sha256("confirmation_sha256", &req.confirmation_sha256)? };
        let signed_on = parse_date("signed_on", req.signed_on.as_ref())?;
        if !confirmation.is_empty() && signed_on.is_none() {
            return Err(Error::invalid("signed_on", "the day the party signed the address-confirmation is required with it"));
        }
        if !confirmation.is_empty() && !self.state.objects.exists(&confirmation).await? {
            return Err(Error::invalid("confirmation_sha256", "no file with this SHA-256 in the object store; upload the signed form first"));
        }
        let key = RequestKey::new(&actor.officer_id, &req.request_id, "RecordServiceAddress", req)?;
        let mut tx = self.begin().await?;
        if let Some(done) = requests::replay(&mut tx, &self.state.vault, &key).await? {
            return Ok(done);
        }
        let case = self.case_for_change(&mut tx, actor, case_id).await?;
        let vault = &self.state.vault;
        let seal = |kind: &str, v: &str| -> Result<Option<Vec<u8>>, Error> {
            if v.is_empty() { Ok(None) } else { vault.seal(v, &address_context(case.case_id, kind)).map(Some) }
        };
        let mut masks = BTreeMap::new();
        if !sms.is_empty() {
            masks.insert("sms".to_string(), domain::mask_phone(&sms));
        }
        if !email.is_empty() {
            masks.insert("email".to_string(), domain::mask_email(&email));
        }
        if !egov.is_empty() {
            masks.insert("egov".to_string(), domain::mask_text(&egov, 3));
        }
        if !postal.is_empty() {
            masks.insert("postal".to_string(), domain::mask_text(&postal, 6));
        }
        let row = AddressRow {
            case_id,
            channels: channels.iter().map(|c| c.as_str().to_string()).collect(),
            sms_sealed: seal("sms", &sms)?,
            email_sealed: seal("email", &email)?,
            egov_sealed: seal("egov", &egov)?,
            postal_sealed: seal("postal", &postal)?,
            masks: Json(masks),
            confirmation_sha256: confirmation,
            signed_on,
            recorded_by: actor.officer_id.clone(),
            recorded_at: self.now(),
        };
        let row = self.state.record_address(&mut tx, actor, row, self.now()).await?;
        self.finish(tx, &key, address_proto(&row)).await
    }

    // ---- plans -----------------------------------------------------------

    fn plan_input(&self, req: &pb::PlanInterviewRequest) -> Result<PlanInput, Error> {
        let interview_at = from_timestamp(req.interview_at.as_ref()).ok_or_else(|| Error::invalid("interview_at", "required"))?;
        let mode = match pb::InterviewMode::try_from(req.mode) {
            Ok(pb::InterviewMode::InPerson) => "in_person",
            Ok(pb::InterviewMode::Video) => "video",
            _ => return Err(Error::invalid("mode", "in person or video")),
        };
        at_most("interviewers", &req.interviewers, MAX_PEOPLE)?;
        at_most("materials", &req.materials, MAX_MATERIALS)?;
        let mut interviewers = Vec::new();
        for (i, id) in req.interviewers.iter().enumerate() {
            let id = required(&format!("interviewers[{i}]"), id, 64)?;
            if interviewers.contains(&id) {
                return Err(Error::invalid(format!("interviewers[{i}]"), "named twice"));
            }
            interviewers.push(id);
        }
        let mut materials = Vec::new();
        for (i, m) in req.materials.iter().enumerate() {
            materials.push(required(&format!("materials[{i}]"), m, 200)?);
        }
        Ok(PlanInput {
            interview_at,
            mode: mode.into(),
            place: required("place", &req.place, 200)?,
            interviewers,
            recorder: required("recorder", &req.recorder, 64)?,
            experts: people("experts", &req.experts)?,
            co_participants: people("co_department_participants", &req.co_department_participants)?,
            materials,
            contact: required("contact", &req.contact, 200)?,
            matter: required("matter", &req.matter, MAX_TEXT)?,
            legal_basis: required("legal_basis", &req.legal_basis, MAX_TEXT)?,
        })
    }

    async fn plan_interview(&self, actor: &Actor, req: &pb::PlanInterviewRequest) -> Result<pb::Plan, Error> {
        let case_id = parse_uuid("case_id", &req.case_id)?;
        let input = self.plan_input(req)?;
        let key = RequestKey::new(&actor.officer_id, &req.request_id, "PlanInterview", req)?;
        let mut tx = self.begin().await?;
        if let Some(done) = requests::replay(&mut tx, &self.state.vault, &key).await? {
            return Ok(done);
        }
        let case = self.case_for_change(&mut tx, actor, case_id).await?;
        let plan = store::plan_of_case(&mut tx, case_id, true).await?.ok_or_else(|| Error::FailedPrecondition(format!("case {case_id} is not approved yet: no interview plan")))?;
        // After the party's absence the officer replans a served plan once (R-INT-3, no-show).
        let after_absence = plan.status == "served" && store::interview::interview_of_case(&mut tx, case_id, false).await?.is_some_and(|i| i.status == "absent");
        if !after_absence && !matches!(plan.status.as_str(), "open" | "planned" | "notice_returned" | "reschedule_needed") {
            return Err(Error::FailedPrecondition(format!("the notice is already issued (plan is {}); a served plan is moved with RecordRescheduleRequest", plan.status)));
        }
        let plan = self.state.plan_interview(&mut tx, actor, case.clone(), plan, input, None, &req.request_id, self.now()).await?;
        let answer = plan_proto(&plan, &case.number, &case.party_name, case.urgent);
        self.finish(tx, &key, answer).await
    }

    async fn record_reschedule_request(&self, actor: &Actor, req: &pb::RecordRescheduleRequestRequest) -> Result<pb::Plan, Error> {
        let case_id = parse_uuid("case_id", &req.case_id)?;
        let reason = required("reason", &req.reason, MAX_TEXT)?;
        let new_at = from_timestamp(req.new_interview_at.as_ref()).ok_or_else(|| Error::invalid("new_interview_at", "required"))?;
        let key = RequestKey::new(&actor.officer_id, &req.request_id, "RecordRescheduleRequest", req)?;
        let mut tx = self.begin().await?;
        if let Some(done) = requests::replay(&mut tx, &self.state.vault, &key).await? {
            return Ok(done);
        }
        let case = self.case_for_change(&mut tx, actor, case_id).await?;
        let plan = store::plan_of_case(&mut tx, case_id, true).await?.ok_or_else(|| Error::NotFound(format!("plan of case {case_id}")))?;
        if plan.reschedule_requested {
            return Err(Error::FailedPrecondition("the party already asked once to reschedule".into()));
        }
        if plan.interview_at.is_none() {
            return Err(Error::FailedPrecondition("nothing is planned yet".into()));
        }
        let input = PlanInput {
            interview_at: new_at,
            mode: plan.mode.clone(),
            place: plan.place.clone(),
            interviewers: plan.interviewers.clone(),
            recorder: plan.recorder.clone(),
            experts: plan.experts.0.clone(),
            co_participants: plan.co_participants.0.clone(),
            materials: plan.materials.clone(),
            contact: plan.contact.clone(),
            matter: plan.matter.clone(),
            legal_basis: plan.legal_basis.clone(),
        };
        let plan = self.state.plan_interview(&mut tx, actor, case.clone(), plan, input, Some(reason), &req.request_id, self.now()).await?;
        let answer = plan_proto(&plan, &case.number, &case.party_name, case.urgent);
        self.finish(tx, &key, answer).await
    }

    async fn get_plan(&self, actor: &Actor, req: &pb::GetPlanRequest) -> Result<pb::Plan, Error> {
        let case_id = parse_uuid("case_id", &req.case_id)?;
        let mut conn = self.state.pool.acquire().await?;
        let case = store::case(&mut conn, case_id, false).await?.ok_or_else(|| Error::NotFound(format!("case {case_id}")))?;
        actor.require_scope_of(&case.division, &case.co_departments)?;
        let plan = store::plan_of_case(&mut conn, case_id, false).await?.ok_or_else(|| Error::NotFound(format!("plan of case {case_id}")))?;
        let mut shown = plan_proto(&plan, &case.number, &case.party_name, case.urgent);
        // R-RELIEF-2: the case's relief marks.
        (shown.under_relief, shown.relief_reply_due, shown.relief_outcome) = relief::of_case(&mut conn, case_id).await?.fields();
        Ok(shown)
    }

    async fn list_plans(&self, actor: &Actor, req: &pb::ListPlansRequest) -> Result<pb::ListPlansResponse, Error> {
        let limit = yuetan_platform::fields::page_size(req.page_size)?;
        let mut conn = self.state.pool.acquire().await?;
        let rows = store::plans_of_organ(&mut conn, &actor.organ, req.awaiting_notice_only, limit).await?;
        let case_ids: Vec<Uuid> = rows.iter().map(|p| p.case_id).collect();
        let reliefs = relief::of_cases(&mut conn, &case_ids).await?;
        let mut plans = Vec::new();
        for p in rows {
            if let Some(case) = store::case(&mut conn, p.case_id, false).await? {
                let mut shown = plan_proto(&p, &case.number, &case.party_name, case.urgent);
                if let Some(relief) = reliefs.get(&p.case_id) {
                    (shown.under_relief, shown.relief_reply_due, shown.relief_outcome) = relief.fields();
                }
                plans.push(shown);
            }
        }
        Ok(pb::ListPlansResponse { plans })
    }

    // ---- notice -------------------------------------------------------------

    async fn issue_notice(&self, actor: &Actor, req: &pb::IssueNoticeRequest) -> Result<pb::Document, Error> {
        let case_id = parse_uuid("case_id", &req.case_id)?;
        let key = RequestKey::new(&actor.officer_id, &req.request_id, "IssueNotice", req)?;
        let mut tx = self.begin().await?;
        if let Some(done) = requests::replay(&mut tx, &self.state.vault, &key).await? {
            return Ok(done);
        }
        let case = self.case_for_change(&mut tx, actor, case_id).await?;
        let plan = store::plan_of_case(&mut tx, case_id, true).await?.ok_or_else(|| Error::FailedPrecondition(format!("case {case_id} is not approved yet: no interview plan")))?;
        let document = self.state.issue_notice(&mut tx, actor, case, plan, &req.request_id, self.now()).await?;
        self.finish(tx, &key, document_proto(&document)).await
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

    // ---- service ---------------------------------------------------------

    async fn request_service(&self, actor: &Actor, req: &pb::RequestServiceRequest) -> Result<pb::Service, Error> {
        let id = parse_uuid("document_id", &req.document_id)?;
        at_most("channels", &req.channels, 5)?;
        let mut channels = Vec::new();
        for (i, c) in req.channels.iter().enumerate() {
            channels.push(channel_from_proto(*c).ok_or_else(|| Error::invalid(format!("channels[{i}]"), "a channel"))?);
        }
        let key = RequestKey::new(&actor.officer_id, &req.request_id, "RequestService", req)?;
        let mut tx = self.begin().await?;
        if let Some(done) = requests::replay(&mut tx, &self.state.vault, &key).await? {
            return Ok(done);
        }
        let doc = store::document(&mut tx, id, false).await?.ok_or_else(|| Error::NotFound(format!("document {id}")))?;
        let case = self.case_for_change(&mut tx, actor, doc.case_id).await?;
        if doc.status != "sealed" {
            return Err(Error::FailedPrecondition(format!("document {id} is not sealed (it is {})", doc.status)));
        }
        let request = ServeRequest {
            case_id: case.case_id,
            division: case.division.clone(),
            organ: case.lead_organ.clone(),
            document_id: doc.id.to_string(),
            document_sha256: doc.sha256.clone(),
            document_name: doc.title.clone(),
            document_number: doc.number.clone(),
            document_kind: doc.kind.clone(),
            source_service: crate::SERVICE.into(),
            channels,
            requested_by: actor.officer_id.clone(),
        };
        let service = self.state.start_service(&mut tx, By::Officer(actor), request, &req.request_id, self.now()).await?;
        let attempts = store::attempts_of(&mut tx, &[service.id]).await?;
        self.finish(tx, &key, service_proto(&service, &attempts)).await
    }

    async fn record_direct_service(&self, actor: &Actor, req: &pb::RecordDirectServiceRequest) -> Result<pb::Service, Error> {
        let service_id = parse_uuid("service_id", &req.service_id)?;
        let method = match channel_from_proto(req.method) {
            Some(c @ (Channel::Direct | Channel::Mail)) => c,
            _ => return Err(Error::invalid("method", "direct delivery or mail")),
        };
        let served_at = from_timestamp(req.served_at.as_ref()).ok_or_else(|| Error::invalid("served_at", "required"))?;
        if served_at > self.now() + chrono::Duration::minutes(5) {
            return Err(Error::invalid("served_at", "is in the future"));
        }
        let input = DirectService {
            method,
            served_at,
            receiver_name: required("receiver_name", &req.receiver_name, 100)?,
            relationship: required("relationship", &req.relationship, 50)?,
            signature_sha256: if req.refused { optional("signature_sha256", &req.signature_sha256, 64)? } else { sha256("signature_sha256", &req.signature_sha256)? },
            refused: req.refused,
            refusal_reason: if req.refused { required("refusal_reason", &req.refusal_reason, MAX_TEXT)? } else { String::new() },
            witness: if req.refused { required("witness", &req.witness, 100)? } else { optional("witness", &req.witness, 100)? },
            photo_sha256: if req.refused { sha256("photo_sha256", &req.photo_sha256)? } else { String::new() },
            mail_number: if method == Channel::Mail { required("mail_number", &req.mail_number, 40)? } else { String::new() },
            place: optional("place", &req.place, 200)?,
        };
        let key = RequestKey::new(&actor.officer_id, &req.request_id, "RecordDirectService", req)?;
        let mut tx = self.begin().await?;
        if let Some(done) = requests::replay(&mut tx, &self.state.vault, &key).await? {
            return Ok(done);
        }
        let peek = store::service(&mut tx, service_id, false).await?.ok_or_else(|| Error::NotFound(format!("service {service_id}")))?;
        let case = store::case(&mut tx, peek.case_id, true).await?;
        match &case {
            Some(case) => require_lead_organ(actor, case)?,
            None => actor.require_scope_of(&peek.division, &[])?,
        }
        let service = store::service(&mut tx, service_id, true).await?.ok_or_else(|| Error::NotFound(format!("service {service_id}")))?;
        let service = self.state.record_direct(&mut tx, actor, service, input, &req.request_id, self.now()).await?;
        let service = store::service(&mut tx, service.id, false).await?.unwrap_or(service);
        let attempts = store::attempts_of(&mut tx, &[service.id]).await?;
        self.finish(tx, &key, service_proto(&service, &attempts)).await
    }

    async fn list_case_services(&self, actor: &Actor, req: &pb::ListCaseServicesRequest) -> Result<pb::ListCaseServicesResponse, Error> {
        let case_id = parse_uuid("case_id", &req.case_id)?;
        let mut conn = self.state.pool.acquire().await?;
        let rows = store::services_of_case(&mut conn, case_id).await?;
        match store::case(&mut conn, case_id, false).await? {
            Some(case) => actor.require_scope_of(&case.division, &case.co_departments)?,
            None => match rows.first() {
                Some(s) => actor.require_scope_of(&s.division, &[])?,
                None => return Err(Error::NotFound(format!("case {case_id}"))),
            },
        }
        let ids: Vec<Uuid> = rows.iter().map(|s| s.id).collect();
        let attempts = store::attempts_of(&mut conn, &ids).await?;
        Ok(pb::ListCaseServicesResponse { services: rows.iter().map(|s| service_proto(s, &attempts)).collect() })
    }

    async fn list_open_services(&self, actor: &Actor, req: &pb::ListOpenServicesRequest) -> Result<pb::ListOpenServicesResponse, Error> {
        let limit = yuetan_platform::fields::page_size(req.page_size)?;
        let mut conn = self.state.pool.acquire().await?;
        let rows = store::open_services(&mut conn, &actor.organ, limit).await?;
        let ids: Vec<Uuid> = rows.iter().map(|s| s.id).collect();
        let attempts = store::attempts_of(&mut conn, &ids).await?;
        Ok(pb::ListOpenServicesResponse { services: rows.iter().map(|s| service_proto(s, &attempts)).collect() })
    }

    async fn or_replay<Req: prost::Message, R: prost::Message + Default>(&self, actor: &Actor, request_id: &str, method: &'static str, request: &Req, result: Result<R, Error>) -> Result<R, Error> {
        requests::or_replay(&self.state.pool, &self.state.vault, &actor.officer_id, request_id, method, request, result).await
    }
}

fn reply<T>(result: Result<T, Error>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

#[tonic::async_trait]
impl SchedulingService for SchedulingApi {
    async fn put_officer(&self, request: Request<pb::PutOfficerRequest>) -> Result<Response<pb::Officer>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = SchedulingApi::put_officer(self, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "PutOfficer", req, result).await)
    }

    async fn get_officer(&self, request: Request<pb::GetOfficerRequest>) -> Result<Response<pb::Officer>, Status> {
        let actor = auth::actor(&request)?;
        reply(SchedulingApi::get_officer(self, actor, request.get_ref()).await)
    }

    async fn list_officers(&self, request: Request<pb::ListOfficersRequest>) -> Result<Response<pb::ListOfficersResponse>, Status> {
        let actor = auth::actor(&request)?;
        reply(SchedulingApi::list_officers(self, actor, request.get_ref()).await)
    }

    async fn record_service_address(&self, request: Request<pb::RecordServiceAddressRequest>) -> Result<Response<pb::ServiceAddress>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = SchedulingApi::record_service_address(self, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "RecordServiceAddress", req, result).await)
    }

    async fn plan_interview(&self, request: Request<pb::PlanInterviewRequest>) -> Result<Response<pb::Plan>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = SchedulingApi::plan_interview(self, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "PlanInterview", req, result).await)
    }

    async fn record_reschedule_request(&self, request: Request<pb::RecordRescheduleRequestRequest>) -> Result<Response<pb::Plan>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = SchedulingApi::record_reschedule_request(self, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "RecordRescheduleRequest", req, result).await)
    }

    async fn get_plan(&self, request: Request<pb::GetPlanRequest>) -> Result<Response<pb::Plan>, Status> {
        let actor = auth::actor(&request)?;
        reply(SchedulingApi::get_plan(self, actor, request.get_ref()).await)
    }

    async fn list_plans(&self, request: Request<pb::ListPlansRequest>) -> Result<Response<pb::ListPlansResponse>, Status> {
        let actor = auth::actor(&request)?;
        reply(SchedulingApi::list_plans(self, actor, request.get_ref()).await)
    }

    async fn issue_notice(&self, request: Request<pb::IssueNoticeRequest>) -> Result<Response<pb::Document>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = SchedulingApi::issue_notice(self, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "IssueNotice", req, result).await)
    }

    async fn get_document(&self, request: Request<pb::GetDocumentRequest>) -> Result<Response<pb::Document>, Status> {
        let actor = auth::actor(&request)?;
        reply(SchedulingApi::get_document(self, actor, request.get_ref()).await)
    }

    async fn get_document_file(&self, request: Request<pb::GetDocumentFileRequest>) -> Result<Response<pb::DocumentFile>, Status> {
        let actor = auth::actor(&request)?;
        reply(SchedulingApi::get_document_file(self, actor, request.get_ref()).await)
    }

    async fn request_service(&self, request: Request<pb::RequestServiceRequest>) -> Result<Response<pb::Service>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = SchedulingApi::request_service(self, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "RequestService", req, result).await)
    }

    async fn record_direct_service(&self, request: Request<pb::RecordDirectServiceRequest>) -> Result<Response<pb::Service>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = SchedulingApi::record_direct_service(self, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "RecordDirectService", req, result).await)
    }

    async fn list_case_services(&self, request: Request<pb::ListCaseServicesRequest>) -> Result<Response<pb::ListCaseServicesResponse>, Status> {
        let actor = auth::actor(&request)?;
        reply(SchedulingApi::list_case_services(self, actor, request.get_ref()).await)
    }

    async fn list_open_services(&self, request: Request<pb::ListOpenServicesRequest>) -> Result<Response<pb::ListOpenServicesResponse>, Status> {
        let actor = auth::actor(&request)?;
        reply(SchedulingApi::list_open_services(self, actor, request.get_ref()).await)
    }

    async fn issue_outline(&self, request: Request<pb::IssueOutlineRequest>) -> Result<Response<pb::Document>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = SchedulingApi::issue_outline(self, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "IssueOutline", req, result).await)
    }

    async fn get_video_room(&self, request: Request<pb::GetVideoRoomRequest>) -> Result<Response<pb::VideoRoom>, Status> {
        let actor = auth::actor(&request)?;
        reply(SchedulingApi::get_video_room(self, actor, request.get_ref()).await)
    }

    async fn join_video_room(&self, request: Request<pb::JoinVideoRoomRequest>) -> Result<Response<pb::JoinInfo>, Status> {
        let actor = auth::actor(&request)?;
        reply(SchedulingApi::join_video_room(self, actor, request.get_ref()).await)
    }

    async fn start_interview(&self, request: Request<pb::StartInterviewRequest>) -> Result<Response<pb::Interview>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = SchedulingApi::start_interview(self, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "StartInterview", req, result).await)
    }

    async fn check_in(&self, request: Request<pb::CheckInRequest>) -> Result<Response<pb::Interview>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = SchedulingApi::check_in(self, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "CheckIn", req, result).await)
    }

    async fn record_step(&self, request: Request<pb::RecordStepRequest>) -> Result<Response<pb::Interview>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = SchedulingApi::record_step(self, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "RecordStep", req, result).await)
    }

    async fn record_party_absent(&self, request: Request<pb::RecordPartyAbsentRequest>) -> Result<Response<pb::Interview>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = SchedulingApi::record_party_absent(self, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "RecordPartyAbsent", req, result).await)
    }

    async fn close_interview_as_refused(&self, request: Request<pb::CloseInterviewAsRefusedRequest>) -> Result<Response<pb::Interview>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = SchedulingApi::close_interview_as_refused(self, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "CloseInterviewAsRefused", req, result).await)
    }

    async fn flag_criminal_clue(&self, request: Request<pb::FlagCriminalClueRequest>) -> Result<Response<pb::Interview>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = SchedulingApi::flag_criminal_clue(self, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "FlagCriminalClue", req, result).await)
    }

    async fn close_interview(&self, request: Request<pb::CloseInterviewRequest>) -> Result<Response<pb::Interview>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = SchedulingApi::close_interview(self, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "CloseInterview", req, result).await)
    }

    async fn get_interview(&self, request: Request<pb::GetInterviewRequest>) -> Result<Response<pb::Interview>, Status> {
        let actor = auth::actor(&request)?;
        reply(SchedulingApi::get_interview(self, actor, request.get_ref()).await)
    }

    async fn sign_record(&self, request: Request<pb::SignRecordRequest>) -> Result<Response<pb::Record>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = SchedulingApi::sign_record(self, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "SignRecord", req, result).await)
    }

    async fn record_party_signature(&self, request: Request<pb::RecordPartySignatureRequest>) -> Result<Response<pb::Record>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = SchedulingApi::record_party_signature(self, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "RecordPartySignature", req, result).await)
    }

    async fn record_party_refusal(&self, request: Request<pb::RecordPartyRefusalRequest>) -> Result<Response<pb::Record>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = SchedulingApi::record_party_refusal(self, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "RecordPartyRefusal", req, result).await)
    }

    async fn correct_record(&self, request: Request<pb::CorrectRecordRequest>) -> Result<Response<pb::Record>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = SchedulingApi::correct_record(self, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "CorrectRecord", req, result).await)
    }

    async fn get_record(&self, request: Request<pb::GetRecordRequest>) -> Result<Response<pb::Record>, Status> {
        let actor = auth::actor(&request)?;
        reply(SchedulingApi::get_record(self, actor, request.get_ref()).await)
    }

    async fn get_record_file(&self, request: Request<pb::GetRecordFileRequest>) -> Result<Response<pb::DocumentFile>, Status> {
        let actor = auth::actor(&request)?;
        reply(SchedulingApi::get_record_file(self, actor, request.get_ref()).await)
    }

    async fn list_records(&self, request: Request<pb::ListRecordsRequest>) -> Result<Response<pb::ListRecordsResponse>, Status> {
        let actor = auth::actor(&request)?;
        reply(SchedulingApi::list_records(self, actor, request.get_ref()).await)
    }

    async fn send_record_for_signature(&self, request: Request<pb::SendRecordForSignatureRequest>) -> Result<Response<pb::Service>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = SchedulingApi::send_record_for_signature(self, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "SendRecordForSignature", req, result).await)
    }

    async fn list_records_to_sign(&self, request: Request<pb::ListRecordsToSignRequest>) -> Result<Response<pb::ListRecordsResponse>, Status> {
        let actor = auth::actor(&request)?;
        reply(SchedulingApi::list_records_to_sign(self, actor, request.get_ref()).await)
    }
}
