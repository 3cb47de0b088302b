//! `yuetan.intake.v1.IntakeService`: one function per RPC. The caller's
//! role was checked by the platform's gate against `access::TABLE` (the one
//! table of who may call what) before the handler runs; each function here
//! authorises the rest (organ, jurisdiction) and validates the
//! request into domain values (a bad field is `INVALID_ARGUMENT` naming it,
//! before anything is written), then hands over to `flow.rs`, which makes
//! the state change in one transaction: state, outbox event, timer, audit
//! row and the answer to the client's request id commit together or not at
//! all. A process that dies halfway leaves nothing; the client retries with
//! the same request id and gets one result. This file holds no SQL.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tonic::{Request, Response, Status};
use uuid::Uuid;
use yuetan_platform::auth::{self, DivisionCode};
use yuetan_platform::relief;
use yuetan_platform::requests::RequestKey;
use yuetan_platform::{fields, Actor, Error};
use yuetan_proto::intake as pb;
use yuetan_proto::intake::intake_service_server::IntakeService;

use crate::convert::*;
use crate::domain::access::{require_case_scope, require_same_province};
use crate::domain::doc_number::DocumentNumber;
use crate::domain::party_id::{CreditCode, ResidentId};
use crate::domain::screening::Exclusion;
use crate::flow::{Identity, NewClue, NewParty, PartyFields, PartyUpdate, Submission, Verification, CASE_DOCUMENT_SUFFIX, VERIFICATION_WORKING_DAYS};
use crate::store::{CaseFilter, CaseRow, Evidence, Form, OrganRow, Report, Scope, ViolationTypeRow};
use crate::State;

pub use crate::flow::{CASE_DOCUMENT_KIND, VERIFICATION_TIMER};

#[derive(Debug, Clone)]
pub struct IntakeApi {
    state: Arc<State>,
}

impl IntakeApi {
    pub fn new(state: Arc<State>) -> Self {
        Self { state }
    }
}


// Bounds of the repeated fields, checked before any entry is looked at (a
// request of 40,000 co-departments is refused at once, not deduplicated).
// Text fields are bounded where they are parsed (`required`/`optional`).
/// Co-departments of a joint interview: a handful in practice.
const MAX_CO_DEPARTMENTS: usize = 50;
/// Situations A1–A5 (R-SCOPE-2); a few repeats are tolerated.
const MAX_SITUATIONS: usize = 10;
/// Exclusions X1–X4 (R-SCOPE-3), each with its reason.
const MAX_EXCLUSIONS: usize = 10;
/// Evidence files of a clue or an approval form.
const MAX_EVIDENCE: usize = 100;
/// Officers proposed for the interview (R-START-3: at least two).
const MAX_INTERVIEWERS: usize = 20;
/// Service channels of a consent (three kinds).
const MAX_CHANNELS: usize = 10;

fn validate_phone(field: &str, value: &str) -> Result<String, Error> {
    let value = optional(field, value, 40)?;
    if value.is_empty() {
        return Ok(String::new());
    }
    let digits = value.chars().filter(char::is_ascii_digit).count();
    if !value.chars().all(|c| c.is_ascii_digit() || "+- ".contains(c)) || !(5..=20).contains(&digits) {
        return Err(Error::invalid(field, format!("{value:?} is not a phone number")));
    }
    Ok(value)
}

/// A party to register: kind, identifier and the changeable fields.
fn validate_party(input: Option<&pb::PartyInput>, actor: &Actor, now: DateTime<Utc>) -> Result<NewParty, Error> {
    let input = input.ok_or_else(|| Error::invalid("party", "is required"))?;
    let kind = party_kind_name(input.kind).ok_or_else(|| Error::invalid("party.kind", "choose the kind of party"))?;
    let name = required("party.name", &input.name, 200)?;
    let identity = if kind == "person" {
        if !optional("party.credit_code", &input.credit_code, 18)?.is_empty() {
            return Err(Error::invalid("party.credit_code", "a person is identified by resident ID, not a credit code"));
        }
        let id = optional("party.resident_id", &input.resident_id, 18)?;
        // R-SCOPE-1: born between 1900-01-01 and today (the service clock, CST).
        Identity::Resident(ResidentId::parse_on(&id, cst_date(now)).map_err(|e| e.at("party.resident_id"))?)
    } else {
        if !optional("party.resident_id", &input.resident_id, 18)?.is_empty() {
            return Err(Error::invalid("party.resident_id", "only a person has a resident ID; give the credit code"));
        }
        let code = optional("party.credit_code", &input.credit_code, 18)?;
        Identity::Credit(CreditCode::parse(&code).map_err(|e| e.at("party.credit_code"))?)
    };
    let fields = validate_party_fields(input, name, actor, now)?;
    Ok(NewParty { kind, identity, fields })
}

/// The changeable fields of a party (`name` already validated).
fn validate_party_fields(input: &pb::PartyInput, name: String, actor: &Actor, now: DateTime<Utc>) -> Result<PartyFields, Error> {
    let address = optional("party.address", &input.address, 300)?;
    let phone = validate_phone("party.phone", &input.phone)?;
    let mut contacts = Contacts { phone, ..Contacts::default() };
    let mut details = Details::default();
    if let Some(rep) = &input.representative {
        details.representative_name = required("party.representative.name", &rep.name, 100)?;
        details.representative_role = match optional("party.representative.role", &rep.role, 30)?.as_str() {
            role @ ("legal_representative" | "agent") => role.to_string(),
            other => {
                return Err(Error::invalid(
                    "party.representative.role",
                    format!("{other:?}: use legal_representative or agent"),
                ))
            }
        };
        contacts.representative_phone = validate_phone("party.representative.phone", &rep.phone)?;
    }
    if let Some(consent) = &input.consent {
        // Every text field is checked, also those of channels not chosen.
        let sms_number = optional("party.consent.sms_number", &consent.sms_number, 40)?;
        let email = optional("party.consent.email", &consent.email, 200)?;
        let egov_account = optional("party.consent.egov_account", &consent.egov_account, 100)?;
        // LAW.md §3: electronic service only with recorded consent, per channel and address.
        at_most("party.consent.channels", &consent.channels, MAX_CHANNELS)?;
        let mut channels = Vec::new();
        for (i, channel) in consent.channels.iter().enumerate() {
            let name = channel_name(*channel)
                .ok_or_else(|| Error::invalid(format!("party.consent.channels[{i}]"), "unknown channel"))?;
            if !channels.contains(&name.to_string()) {
                channels.push(name.to_string());
            }
        }
        if channels.iter().any(|c| c == "sms") {
            contacts.sms_number = validate_phone("party.consent.sms_number", &sms_number)?;
            if contacts.sms_number.is_empty() {
                return Err(Error::invalid("party.consent.sms_number", "SMS service needs the consented number"));
            }
        }
        if channels.iter().any(|c| c == "email") {
            if !email.contains('@') || email.contains(char::is_whitespace) || email.contains(fields::is_invisible) {
                return Err(Error::invalid("party.consent.email", "e-mail service needs the consented address"));
            }
            contacts.email = email;
        }
        if channels.iter().any(|c| c == "egov") {
            contacts.egov_account = required("party.consent.egov_account", &egov_account, 100)?;
        }
        details.consent_postal_address = optional("party.consent.postal_address", &consent.postal_address, 300)?;
        let consented_on = parse_date("party.consent.consented_on", consent.consented_on.as_ref())?;
        if !channels.is_empty() {
            let day = consented_on
                .ok_or_else(|| Error::invalid("party.consent.consented_on", "the day the party signed the confirmation"))?;
            if day > cst_date(now) {
                return Err(Error::invalid("party.consent.consented_on", "may not be in the future"));
            }
        }
        details.consent_channels = channels;
        details.consented_on = consented_on;
        if !details.consent_channels.is_empty() || !details.consent_postal_address.is_empty() {
            details.consent_recorded_by = actor.officer_id.clone();
            details.consent_recorded_at = Some(now);
        }
    }
    Ok(PartyFields { name, address, contacts, details })
}

fn validate_evidence(field: &str, items: &[pb::EvidenceRef]) -> Result<Vec<Evidence>, Error> {
    at_most(field, items, MAX_EVIDENCE)?;
    items
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let sha256 = optional(&format!("{field}[{i}].sha256"), &e.sha256, 64)?.to_ascii_lowercase();
            if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Error::invalid(format!("{field}[{i}].sha256"), "is not a SHA-256 from UploadEvidence"));
            }
            Ok(Evidence {
                sha256,
                file_name: required(&format!("{field}[{i}].file_name"), &e.file_name, 200)?,
                media_type: optional(&format!("{field}[{i}].media_type"), &e.media_type, 100)?,
                size: e.size,
                kind: optional(&format!("{field}[{i}].kind"), &e.kind, 50)?,
            })
        })
        .collect()
}

impl IntakeApi {
    fn now(&self) -> DateTime<Utc> {
        self.state.clock.now()
    }

    /// Checks every evidence file is in the object store, and takes its size from there.
    async fn check_stored(&self, field: &str, evidence: &mut [Evidence]) -> Result<(), Error> {
        for (i, e) in evidence.iter_mut().enumerate() {
            match self.state.objects.size_of(&e.sha256).await? {
                Some(size) => e.size = size,
                None => return Err(Error::invalid(format!("{field}[{i}].sha256"), "no such file; upload it first")),
            }
        }
        Ok(())
    }

    async fn register_party(&self, actor: &Actor, req: &pb::RegisterPartyRequest) -> Result<pb::PartyResponse, Error> {
        let party = validate_party(req.party.as_ref(), actor, self.now())?;
        let key = RequestKey::new(&actor.officer_id, &req.request_id, "RegisterParty", req)?;
        self.state.register_party(actor, &key, party).await
    }

    async fn update_party(&self, actor: &Actor, req: &pb::UpdatePartyRequest) -> Result<pb::PartyResponse, Error> {
        let party_id = parse_uuid("party_id", &req.party_id)?;
        let input = req.party.as_ref().ok_or_else(|| Error::invalid("party", "is required"))?;
        let name = required("party.name", &input.name, 200)?;
        let update = PartyUpdate {
            party_id,
            kind: party_kind_name(input.kind),
            resident_id: optional("party.resident_id", &input.resident_id, 18)?,
            credit_code: optional("party.credit_code", &input.credit_code, 18)?,
            fields: validate_party_fields(input, name, actor, self.now())?,
        };
        let key = RequestKey::new(&actor.officer_id, &req.request_id, "UpdateParty", req)?;
        // The register is read province-wide, but a party is changed only
        // within the jurisdiction of the division that registered it (a
        // party's division never changes, so it is checked before the
        // flow, which checks the province again under lock).
        let party = self.state.party(party_id).await?.ok_or_else(|| Error::NotFound(format!("party {party_id}")))?;
        require_same_province(actor, &party.division)?;
        let registered_in = DivisionCode::parse(&party.division)?;
        if !actor.can_see(&registered_in, &[]) {
            return Err(Error::PermissionDenied(format!(
                "party {party_id} was registered in division {registered_in}, outside the jurisdiction of {}: \
                 only that division and those above it change the party",
                actor.division
            )));
        }
        self.state.update_party(actor, &key, update).await
    }

    async fn get_party(&self, actor: &Actor, req: &pb::GetPartyRequest) -> Result<pb::PartyResponse, Error> {
        let party_id = parse_uuid("party_id", &req.party_id)?;
        let row = self.state.party(party_id).await?.ok_or_else(|| Error::NotFound(format!("party {party_id}")))?;
        require_same_province(actor, &row.division)?;
        Ok(pb::PartyResponse { party: Some(party_proto(&self.state.vault, &row)?), already_registered: false })
    }

    async fn find_party(&self, actor: &Actor, req: &pb::FindPartyRequest) -> Result<pb::PartyResponse, Error> {
        let credit_code = optional("credit_code", &req.credit_code, 18)?;
        let resident_id = optional("resident_id", &req.resident_id, 18)?;
        let identity = match (credit_code.is_empty(), resident_id.is_empty()) {
            (false, true) => Identity::Credit(CreditCode::parse(&credit_code).map_err(|e| e.at("credit_code"))?),
            (true, false) => Identity::Resident(ResidentId::parse_on(&resident_id, cst_date(self.now())).map_err(|e| e.at("resident_id"))?),
            _ => return Err(Error::invalid("credit_code", "give exactly one of credit_code and resident_id")),
        };
        let row = self.state.party_by_identity(actor.division.province(), &identity).await?.ok_or_else(|| Error::NotFound("no party with that identifier in this province".into()))?;
        Ok(pb::PartyResponse { party: Some(party_proto(&self.state.vault, &row)?), already_registered: true })
    }

    async fn put_violation_type(&self, actor: &Actor, req: &pb::PutViolationTypeRequest) -> Result<pb::ViolationType, Error> {
        let input = req.violation_type.as_ref().ok_or_else(|| Error::invalid("violation_type", "is required"))?;
        let code = optional("violation_type.code", &input.code, 40)?;
        if !(2..=40).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-') {
            return Err(Error::invalid("violation_type.code", "2–40 characters of A–Z, 0–9 and -"));
        }
        let row = ViolationTypeRow {
            code: code.clone(),
            department: required("violation_type.department", &input.department, 50)?,
            name: required("violation_type.name", &input.name, 200)?,
            legal_basis: required("violation_type.legal_basis", &input.legal_basis, 1000)?,
            active: input.active,
        };
        let key = RequestKey::new(&actor.officer_id, &req.request_id, "PutViolationType", req)?;
        self.state.put_violation_type(actor, &key, row).await
    }

    async fn list_violation_types(&self, req: &pb::ListViolationTypesRequest) -> Result<pb::ListViolationTypesResponse, Error> {
        let department = optional("department", &req.department, 50)?;
        let rows = self.state.violation_types(&department, req.include_inactive).await?;
        Ok(pb::ListViolationTypesResponse { violation_types: rows.iter().map(violation_type_proto).collect() })
    }

    async fn put_organ(&self, actor: &Actor, req: &pb::PutOrganRequest) -> Result<pb::OrganRecord, Error> {
        let organ = req.organ.as_ref().ok_or_else(|| Error::invalid("organ", "is required"))?;
        let division = DivisionCode::parse(&optional("organ.division_code", &organ.division_code, 6)?).map_err(|_| {
            Error::invalid("organ.division_code", format!("{:?} is not a six-digit division code", organ.division_code))
        })?;
        // Admins are scoped like every officer: their own division and below.
        actor.require_scope(&division, &[])?;
        let document_code = required("document_code", &req.document_code, 20)?;
        DocumentNumber::new(&format!("{document_code}{CASE_DOCUMENT_SUFFIX}"), 2026, 1).map_err(|e| e.at("document_code"))?;
        let row = OrganRow {
            code: required("organ.code", &organ.code, 50)?,
            name: required("organ.name", &organ.name, 200)?,
            division: division.to_string(),
            document_code,
        };
        let key = RequestKey::new(&actor.officer_id, &req.request_id, "PutOrgan", req)?;
        self.state.put_organ(actor, &key, row).await
    }

    async fn upload_evidence(&self, actor: &Actor, req: pb::UploadEvidenceRequest) -> Result<pb::EvidenceRef, Error> {
        let file_name = required("file_name", &req.file_name, 200)?;
        let media_type = optional("media_type", &req.media_type, 100)?;
        let stored = self.state.store_evidence(actor, req.content).await?;
        Ok(pb::EvidenceRef { sha256: stored.sha256, file_name, media_type, size: stored.size, kind: String::new() })
    }

    async fn register_clue(&self, actor: &Actor, req: &pb::RegisterClueRequest) -> Result<pb::Clue, Error> {
        let source = source_name(req.source).ok_or_else(|| Error::invalid("source", "choose the source of the clue (R-START-1)"))?;
        let section = required("section", &req.section, 100)?;
        let party_id = parse_uuid("party_id", &req.party_id)?;
        let facts = required("facts", &req.facts, 10_000)?;
        let violation_type = required("violation_type", &req.violation_type, 40)?;
        let mut evidence = validate_evidence("evidence", &req.evidence)?;
        let urgency = match pb::Urgency::try_from(req.urgency) {
            Ok(pb::Urgency::Urgent) => "urgent",
            Ok(_) => "normal",
            Err(_) => return Err(Error::invalid("urgency", "unknown urgency")),
        };
        let today = cst_date(self.now());
        let received_on = parse_date("received_on", req.received_on.as_ref())?.unwrap_or(today);
        if received_on > today {
            return Err(Error::invalid("received_on", "may not be in the future"));
        }
        // R-START-2, R-TIME-2: 3 working days from the day after the clue came in.
        let verification_deadline = self
            .state
            .calendar
            .current()
            .add_working_days(received_on, VERIFICATION_WORKING_DAYS)
            .map_err(|e| Error::invalid("received_on", e.to_string()))?
            .value;
        self.check_stored("evidence", &mut evidence).await?;
        let key = RequestKey::new(&actor.officer_id, &req.request_id, "RegisterClue", req)?;
        let clue = NewClue { source, section, party_id, facts, violation_type, evidence, urgency, received_on, verification_deadline };
        self.state.register_clue(actor, &key, clue).await
    }

    async fn get_clue(&self, actor: &Actor, req: &pb::GetClueRequest) -> Result<pb::Clue, Error> {
        let clue_id = parse_uuid("clue_id", &req.clue_id)?;
        let (clue, vt) = self.state.clue(clue_id).await?.ok_or_else(|| Error::NotFound(format!("clue {clue_id}")))?;
        actor.require_scope(&DivisionCode::parse(&clue.division)?, &[])?;
        Ok(clue_proto(&clue, vt.as_ref()))
    }

    async fn list_clues(&self, actor: &Actor, req: &pb::ListCluesRequest) -> Result<pb::ListCluesResponse, Error> {
        let limit = yuetan_platform::fields::page_size(req.page_size)?;
        let status = match pb::ClueStatus::try_from(req.status) {
            Ok(pb::ClueStatus::Unspecified) => None,
            Ok(pb::ClueStatus::Registered) => Some("registered"),
            Ok(pb::ClueStatus::CaseOpened) => Some("case_opened"),
            Ok(pb::ClueStatus::Excluded) => Some("excluded"),
            Err(_) => return Err(Error::invalid("status", "unknown status")),
        };
        let after = if text("page_token", &req.page_token)?.is_empty() {
            None
        } else {
            let bad = || Error::invalid("page_token", "not a token from ListClues");
            let (day, id) = req.page_token.split_once('/').ok_or_else(bad)?;
            Some((chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").map_err(|_| bad())?, Uuid::parse_str(id).map_err(|_| bad())?))
        };
        let mut rows = self.state.clues(&scope_of(actor).division_prefixes, status, after, limit + 1).await?;
        let next_page_token = next_page(&mut rows, limit, |c| format!("{}/{}", c.verification_deadline, c.id));
        Ok(pb::ListCluesResponse { clues: rows.iter().map(|c| clue_proto(c, None)).collect(), next_page_token })
    }

    async fn verify_clue(&self, actor: &Actor, req: &pb::VerifyClueRequest) -> Result<pb::VerifyClueResponse, Error> {
        let clue_id = parse_uuid("clue_id", &req.clue_id)?;
        let report = req.report.as_ref().ok_or_else(|| Error::invalid("report", "the verification report is required (R-START-2)"))?;
        let report = Report {
            facts: required("report.facts", &report.facts, 10_000)?,
            provisions_violated: required("report.provisions_violated", &report.provisions_violated, 2_000)?,
            necessity: required("report.necessity", &report.necessity, 5_000)?,
        };
        at_most("situations", &req.situations, MAX_SITUATIONS)?;
        at_most("exclusions", &req.exclusions, MAX_EXCLUSIONS)?;
        at_most("co_departments", &req.co_departments, MAX_CO_DEPARTMENTS)?;
        let mut situations = Vec::new();
        for (i, s) in req.situations.iter().enumerate() {
            situations.push(
                situation_from_proto(*s)
                    .ok_or_else(|| Error::invalid(format!("situations[{i}]"), "unknown situation; use A1–A5"))?,
            );
        }
        let mut declared = Vec::new();
        for (i, x) in req.exclusions.iter().enumerate() {
            let code = exclusion_from_proto(x.code)
                .ok_or_else(|| Error::invalid(format!("exclusions[{i}].code"), "unknown exclusion; use X1–X4"))?;
            declared.push(Exclusion { code, reason: optional(&format!("exclusions[{i}].reason"), &x.reason, 2_000)? });
        }
        // Deduplicated in linear time, first occurrence first.
        let mut co_departments: Vec<String> = Vec::with_capacity(req.co_departments.len());
        let mut seen = HashSet::with_capacity(req.co_departments.len());
        for (i, organ) in req.co_departments.iter().enumerate() {
            let organ = required(&format!("co_departments[{i}]"), organ, 50)?;
            if organ == actor.organ {
                return Err(Error::invalid(format!("co_departments[{i}]"), "the lead organ is not its own co-department"));
            }
            if seen.insert(organ.clone()) {
                co_departments.push(organ);
            }
        }
        let key = RequestKey::new(&actor.officer_id, &req.request_id, "VerifyClue", req)?;
        let verification = Verification { clue_id, report, situations, declared, co_departments, major: req.major };
        self.state.verify_clue(actor, &key, verification).await
    }

    async fn submit(&self, actor: &Actor, req: SubmitKind<'_>) -> Result<pb::Case, Error> {
        let (request_id, case_id_text, form_input, supplement) = match &req {
            SubmitKind::First(r) => (r.request_id.as_str(), r.case_id.as_str(), r.approval_form.as_ref(), None),
            SubmitKind::Again(r) => (r.request_id.as_str(), r.case_id.as_str(), r.approval_form.as_ref(), Some(r.supplement.as_str())),
        };
        let case_id = parse_uuid("case_id", case_id_text)?;
        let supplement = supplement.map(|s| required("supplement", s, 5_000)).transpose()?;
        let form = match form_input {
            Some(f) if !(supplement.is_some() && f.proposal.trim().is_empty() && f.evidence.is_empty()) => {
                let mut evidence = validate_evidence("approval_form.evidence", &f.evidence)?;
                self.check_stored("approval_form.evidence", &mut evidence).await?;
                at_most("approval_form.proposed_interviewers", &f.proposed_interviewers, MAX_INTERVIEWERS)?;
                let mut interviewers = Vec::new();
                for (i, officer) in f.proposed_interviewers.iter().enumerate() {
                    interviewers.push(required(&format!("approval_form.proposed_interviewers[{i}]"), officer, 64)?);
                }
                Some(Form {
                    proposal: required("approval_form.proposal", &f.proposal, 10_000)?,
                    proposed_interviewers: interviewers,
                    evidence,
                    supplements: Vec::new(),
                    returns: Vec::new(),
                })
            }
            Some(_) => None,
            None if supplement.is_none() => {
                return Err(Error::invalid("approval_form", "the approval form is required (R-START-3)"))
            }
            None => None,
        };
        let method = if supplement.is_some() { "Resubmit" } else { "SubmitForReview" };
        let key = match &req {
            SubmitKind::First(r) => RequestKey::new(&actor.officer_id, request_id, method, *r)?,
            SubmitKind::Again(r) => RequestKey::new(&actor.officer_id, request_id, method, *r)?,
        };
        self.state.submit(actor, &key, Submission { case_id, form, supplement }).await
    }

    async fn get_case(&self, actor: &Actor, req: &pb::GetCaseRequest) -> Result<pb::Case, Error> {
        let case_id = parse_uuid("case_id", &req.case_id)?;
        let case = self.state.case(case_id).await?.ok_or_else(|| Error::NotFound(format!("case {case_id}")))?;
        require_case_scope(actor, &case.division, &case.co_departments)?;
        Ok(self.shown(std::slice::from_ref(&case)).await?.remove(0))
    }

    /// Cases as read: with their relief marks (R-RELIEF-2, platform `relief`).
    async fn shown(&self, rows: &[CaseRow]) -> Result<Vec<pb::Case>, Error> {
        let ids: Vec<Uuid> = rows.iter().map(|c| c.id).collect();
        let reliefs = relief::of_cases(&mut *self.state.pool.acquire().await?, &ids).await?;
        Ok(rows
            .iter()
            .map(|row| {
                let mut case = case_proto(row);
                if let Some(relief) = reliefs.get(&row.id) {
                    (case.under_relief, case.relief_reply_due, case.relief_outcome) = relief.fields();
                }
                case
            })
            .collect())
    }

    async fn list_cases(&self, actor: &Actor, req: &pb::ListCasesRequest) -> Result<pb::ListCasesResponse, Error> {
        let limit = yuetan_platform::fields::page_size(req.page_size)?;
        let status = if req.status == 0 {
            None
        } else {
            Some(case_status_from_proto(req.status).ok_or_else(|| Error::invalid("status", "unknown status"))?.as_str().to_string())
        };
        let division = if req.division_code.is_empty() {
            None
        } else {
            Some(
                DivisionCode::parse(&req.division_code)
                    .map_err(|_| Error::invalid("division_code", "not a six-digit division code"))?
                    .to_string(),
            )
        };
        let party_id = (!req.party_id.is_empty()).then(|| parse_uuid("party_id", &req.party_id)).transpose()?;
        let before = (!req.page_token.is_empty()).then(|| parse_uuid("page_token", &req.page_token)).transpose()?;
        let filter = CaseFilter {
            status,
            division,
            party_id,
            violation_type: Some(optional("violation_type", &req.violation_type, 40)?).filter(|v| !v.is_empty()),
            before,
            limit: limit + 1,
        };
        let mut rows = self.state.cases(&scope_of(actor), &filter).await?;
        let next_page_token = next_page(&mut rows, limit, |c| c.id.to_string());
        Ok(pb::ListCasesResponse { cases: self.shown(&rows).await?, next_page_token })
    }

    async fn party_history(&self, actor: &Actor, req: &pb::PartyHistoryRequest) -> Result<pb::PartyHistoryResponse, Error> {
        let party_id = parse_uuid("party_id", &req.party_id)?;
        let party = self.state.party(party_id).await?.ok_or_else(|| Error::NotFound(format!("party {party_id}")))?;
        require_same_province(actor, &party.division)?;
        let filter = CaseFilter { party_id: Some(party_id), limit: 1000, ..CaseFilter::default() };
        let rows = self.state.cases(&scope_of(actor), &filter).await?;
        Ok(pb::PartyHistoryResponse {
            party: Some(party_proto(&self.state.vault, &party)?),
            cases: self.shown(&rows).await?,
        })
    }
}

enum SubmitKind<'a> {
    First(&'a pb::SubmitForReviewRequest),
    Again(&'a pb::ResubmitRequest),
}

/// `rows` was fetched with `limit + 1`: cuts it to the page and returns the
/// token of the next page (empty on the last one).
fn next_page<T>(rows: &mut Vec<T>, limit: i64, token: impl Fn(&T) -> String) -> String {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if rows.len() <= limit {
        return String::new();
    }
    rows.truncate(limit);
    rows.last().map(token).unwrap_or_default()
}

/// What a list shows the caller: its own division and below, each
/// division its `divisions` claim serves and below (as
/// [`Actor::can_see`] admits them one by one), and the joint cases of its
/// organ.
fn scope_of(actor: &Actor) -> Scope {
    let mut division_prefixes: Vec<String> = Vec::with_capacity(1 + actor.serves.len());
    for division in std::iter::once(&actor.division).chain(&actor.serves) {
        let prefix = division.scope_prefix().to_string();
        if !division_prefixes.contains(&prefix) {
            division_prefixes.push(prefix);
        }
    }
    Scope { division_prefixes, organ: actor.organ.clone() }
}

fn reply<T>(result: Result<T, Error>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

#[tonic::async_trait]
impl IntakeService for IntakeApi {
    async fn register_party(&self, request: Request<pb::RegisterPartyRequest>) -> Result<Response<pb::PartyResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.get_ref();
        let result = self.register_party(actor, req).await;
        reply(self.state.or_replay(actor, &req.request_id, "RegisterParty", req, result).await)
    }

    async fn update_party(&self, request: Request<pb::UpdatePartyRequest>) -> Result<Response<pb::PartyResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.get_ref();
        let result = self.update_party(actor, req).await;
        reply(self.state.or_replay(actor, &req.request_id, "UpdateParty", req, result).await)
    }

    async fn find_party(&self, request: Request<pb::FindPartyRequest>) -> Result<Response<pb::PartyResponse>, Status> {
        let actor = auth::actor(&request)?;
        reply(self.find_party(actor, request.get_ref()).await)
    }

    async fn get_party(&self, request: Request<pb::GetPartyRequest>) -> Result<Response<pb::PartyResponse>, Status> {
        let actor = auth::actor(&request)?;
        reply(self.get_party(actor, request.get_ref()).await)
    }

    async fn put_violation_type(&self, request: Request<pb::PutViolationTypeRequest>) -> Result<Response<pb::ViolationType>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.get_ref();
        let result = self.put_violation_type(actor, req).await;
        reply(self.state.or_replay(actor, &req.request_id, "PutViolationType", req, result).await)
    }

    async fn list_violation_types(
        &self,
        request: Request<pb::ListViolationTypesRequest>,
    ) -> Result<Response<pb::ListViolationTypesResponse>, Status> {
        auth::actor(&request)?;
        reply(self.list_violation_types(request.get_ref()).await)
    }

    async fn list_organs(&self, request: Request<pb::ListOrgansRequest>) -> Result<Response<pb::ListOrgansResponse>, Status> {
        let actor = auth::actor(&request)?;
        let organs = self.state.organs(actor.division.province()).await;
        reply(organs.map(|rows| pb::ListOrgansResponse { organs: rows.iter().map(organ_proto).collect() }))
    }

    async fn put_organ(&self, request: Request<pb::PutOrganRequest>) -> Result<Response<pb::OrganRecord>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.get_ref();
        let result = self.put_organ(actor, req).await;
        reply(self.state.or_replay(actor, &req.request_id, "PutOrgan", req, result).await)
    }

    async fn upload_evidence(&self, request: Request<pb::UploadEvidenceRequest>) -> Result<Response<pb::EvidenceRef>, Status> {
        let actor = auth::actor(&request)?.clone();
        reply(self.upload_evidence(&actor, request.into_inner()).await)
    }

    async fn register_clue(&self, request: Request<pb::RegisterClueRequest>) -> Result<Response<pb::Clue>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.get_ref();
        let result = self.register_clue(actor, req).await;
        reply(self.state.or_replay(actor, &req.request_id, "RegisterClue", req, result).await)
    }

    async fn get_clue(&self, request: Request<pb::GetClueRequest>) -> Result<Response<pb::Clue>, Status> {
        let actor = auth::actor(&request)?;
        reply(self.get_clue(actor, request.get_ref()).await)
    }

    async fn list_clues(&self, request: Request<pb::ListCluesRequest>) -> Result<Response<pb::ListCluesResponse>, Status> {
        let actor = auth::actor(&request)?;
        reply(self.list_clues(actor, request.get_ref()).await)
    }

    async fn verify_clue(&self, request: Request<pb::VerifyClueRequest>) -> Result<Response<pb::VerifyClueResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.get_ref();
        let result = self.verify_clue(actor, req).await;
        reply(self.state.or_replay(actor, &req.request_id, "VerifyClue", req, result).await)
    }

    async fn submit_for_review(&self, request: Request<pb::SubmitForReviewRequest>) -> Result<Response<pb::Case>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.get_ref();
        let result = self.submit(actor, SubmitKind::First(req)).await;
        reply(self.state.or_replay(actor, &req.request_id, "SubmitForReview", req, result).await)
    }

    async fn resubmit(&self, request: Request<pb::ResubmitRequest>) -> Result<Response<pb::Case>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.get_ref();
        let result = self.submit(actor, SubmitKind::Again(req)).await;
        reply(self.state.or_replay(actor, &req.request_id, "Resubmit", req, result).await)
    }

    async fn get_case(&self, request: Request<pb::GetCaseRequest>) -> Result<Response<pb::Case>, Status> {
        let actor = auth::actor(&request)?;
        reply(self.get_case(actor, request.get_ref()).await)
    }

    async fn list_cases(&self, request: Request<pb::ListCasesRequest>) -> Result<Response<pb::ListCasesResponse>, Status> {
        let actor = auth::actor(&request)?;
        reply(self.list_cases(actor, request.get_ref()).await)
    }

    async fn party_history(&self, request: Request<pb::PartyHistoryRequest>) -> Result<Response<pb::PartyHistoryResponse>, Status> {
        let actor = auth::actor(&request)?;
        reply(self.party_history(actor, request.get_ref()).await)
    }
}
