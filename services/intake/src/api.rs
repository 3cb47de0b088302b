//! `yuetan.intake.v1.IntakeService`: one function per RPC. Each one
//! authorises the caller, validates the request into domain values (a bad
//! field is `INVALID_ARGUMENT` naming it, before anything is written), and
//! then does its work in one transaction: state, outbox event, timer, audit
//! row and the answer to the client's request id commit together or not at
//! all. A process that dies halfway leaves nothing; the client retries with
//! the same request id and gets one result.

use std::sync::Arc;

use chrono::{DateTime, Datelike, Utc};
use serde_json::json;
use sqlx::types::Json;
use tonic::{Request, Response, Status};
use uuid::Uuid;
use yuetan_platform::audit::{self, AuditEntry};
use yuetan_platform::auth::{self, roles, DivisionCode};
use yuetan_platform::batch::WriteBatch;
use yuetan_platform::outbox::NewEvent;
use yuetan_platform::{requests, timers, Actor, Error};
use yuetan_proto::events::{self as ev, event::Payload};
use yuetan_proto::intake as pb;
use yuetan_proto::intake::intake_service_server::IntakeService;

use crate::convert::*;
use crate::domain::case::CaseStatus;
use crate::domain::doc_number::DocumentNumber;
use crate::domain::party_id::{CreditCode, ResidentId};
use crate::domain::screening::{self, Decision, Exclusion};
use yuetan_platform::requests::RequestKey;
use crate::store::{self, CaseFilter, CaseRow, ClueRow, Evidence, Form, OrganRow, PartyRow, Report, Scope, StoredExclusion, ViolationTypeRow};
use crate::State;

/// The document kind of a case's number, and the character it adds to the
/// organ's document code: `兰城市监` + `约` → `兰城市监约〔2026〕17号`.
pub const CASE_DOCUMENT_KIND: &str = "case";
const CASE_DOCUMENT_SUFFIX: &str = "约";
/// R-START-2: verification within 3 working days.
pub const VERIFICATION_WORKING_DAYS: u32 = 3;
/// The timer kind of the verification limit; the key is the clue id.
pub const VERIFICATION_TIMER: &str = "intake.clue_verification";

#[derive(Debug, Clone)]
pub struct IntakeApi {
    state: Arc<State>,
}

impl IntakeApi {
    pub fn new(state: Arc<State>) -> Self {
        Self { state }
    }
}

const PROPOSERS: &[&str] = &[roles::CASE_OFFICER, roles::SECTION_CHIEF];

fn audit_entry<'a>(
    actor: &'a Actor,
    action: &'a str,
    subject: &'a str,
    before: Option<&'a serde_json::Value>,
    after: Option<&'a serde_json::Value>,
    at: DateTime<Utc>,
) -> AuditEntry<'a> {
    AuditEntry { actor_id: &actor.officer_id, actor_organ: &actor.organ, action, subject, before, after, at }
}

/// A party as it is written down: validated, identity resolved.
struct ValidParty {
    kind: &'static str,
    name: String,
    identity: Identity,
    address: String,
    contacts: Contacts,
    details: Details,
}

enum Identity {
    Credit(CreditCode),
    Resident(ResidentId),
}

impl Identity {
    fn key(&self, state: &State) -> Vec<u8> {
        match self {
            Identity::Credit(code) => state.vault.lookup_hash("credit_code", code.as_str()),
            Identity::Resident(id) => state.vault.lookup_hash("resident_id", id.expose()),
        }
    }
}

fn validate_phone(field: &str, value: &str) -> Result<String, Error> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(String::new());
    }
    let digits = value.chars().filter(char::is_ascii_digit).count();
    if !value.chars().all(|c| c.is_ascii_digit() || "+- ".contains(c)) || !(5..=20).contains(&digits) {
        return Err(Error::invalid(field, format!("{value:?} is not a phone number")));
    }
    Ok(value.to_string())
}

fn validate_party(input: Option<&pb::PartyInput>, actor: &Actor, now: DateTime<Utc>) -> Result<ValidParty, Error> {
    let input = input.ok_or_else(|| Error::invalid("party", "is required"))?;
    let kind = party_kind_name(input.kind).ok_or_else(|| Error::invalid("party.kind", "choose the kind of party"))?;
    let name = required("party.name", &input.name, 200)?;
    let identity = if kind == "person" {
        if !input.credit_code.trim().is_empty() {
            return Err(Error::invalid("party.credit_code", "a person is identified by resident ID, not a credit code"));
        }
        Identity::Resident(ResidentId::parse(input.resident_id.trim()).map_err(|e| e.at("party.resident_id"))?)
    } else {
        if !input.resident_id.trim().is_empty() {
            return Err(Error::invalid("party.resident_id", "only a person has a resident ID; give the credit code"));
        }
        Identity::Credit(CreditCode::parse(input.credit_code.trim()).map_err(|e| e.at("party.credit_code"))?)
    };
    let address = optional("party.address", &input.address, 300)?;
    let phone = validate_phone("party.phone", &input.phone)?;
    let mut contacts = Contacts { phone, ..Contacts::default() };
    let mut details = Details::default();
    if let Some(rep) = &input.representative {
        details.representative_name = required("party.representative.name", &rep.name, 100)?;
        details.representative_role = match rep.role.trim() {
            "legal_representative" | "agent" => rep.role.trim().to_string(),
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
        // LAW.md §3: electronic service only with recorded consent, per channel and address.
        let mut channels = Vec::new();
        for (i, channel) in consent.channels.iter().enumerate() {
            let name = channel_name(*channel)
                .ok_or_else(|| Error::invalid(format!("party.consent.channels[{i}]"), "unknown channel"))?;
            if !channels.contains(&name.to_string()) {
                channels.push(name.to_string());
            }
        }
        if channels.iter().any(|c| c == "sms") {
            contacts.sms_number = validate_phone("party.consent.sms_number", &consent.sms_number)?;
            if contacts.sms_number.is_empty() {
                return Err(Error::invalid("party.consent.sms_number", "SMS service needs the consented number"));
            }
        }
        if channels.iter().any(|c| c == "email") {
            let email = consent.email.trim();
            if !email.contains('@') || email.len() > 200 || email.contains(char::is_whitespace) {
                return Err(Error::invalid("party.consent.email", "e-mail service needs the consented address"));
            }
            details.consent_email = email.to_string();
        }
        if channels.iter().any(|c| c == "egov") {
            details.consent_egov_account = required("party.consent.egov_account", &consent.egov_account, 100)?;
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
    Ok(ValidParty { kind, name, identity, address, contacts, details })
}

/// The audit view of a party: no identifier in plain text.
fn party_audit(p: &PartyRow) -> serde_json::Value {
    json!({
        "id": p.id, "kind": p.kind, "name": p.name, "credit_code": p.credit_code,
        "resident_id": p.resident_id_masked, "address": p.address, "details": p.details.0, "version": p.version,
    })
}

pub(crate) fn case_audit(c: &CaseRow) -> serde_json::Value {
    json!({
        "id": c.id, "number": c.number, "status": c.status, "clue_id": c.clue_id, "lead_organ": c.lead_organ,
        "co_departments": c.co_departments, "major": c.major, "party_id": c.party_id,
        "violation_type": c.violation_type, "situations": c.situations, "exclusions": c.exclusions.0,
        "report": c.report.0, "approval_form": c.approval_form.as_ref().map(|f| &f.0),
        "review_round": c.review_round, "version": c.version,
    })
}

fn validate_evidence(field: &str, items: &[pb::EvidenceRef]) -> Result<Vec<Evidence>, Error> {
    items
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let sha256 = e.sha256.trim().to_ascii_lowercase();
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

    async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, Error> {
        Ok(self.state.pool.begin().await?)
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

    fn write_event(&self, event_type: &str, case_id: Option<Uuid>, version: i64, division: &str, organ: &str, actor: Option<&Actor>, causation: &str, payload: Payload) -> NewEvent {
        NewEvent {
            event_type: event_type.to_string(),
            case_id,
            case_version: u64::try_from(version).unwrap_or(0),
            jurisdiction: division.to_string(),
            organ: organ.to_string(),
            actor: actor.map(Actor::to_proto),
            correlation_id: None,
            causation_id: (!causation.is_empty()).then(|| causation.to_string()),
            payload,
        }
    }

    /// See [`requests::commit`].
    async fn commit_batch<R: prost::Message + Default>(
        &self,
        tx: sqlx::Transaction<'static, sqlx::Postgres>,
        batch: WriteBatch,
        key: &RequestKey<'_>,
        response: R,
    ) -> Result<R, Error> {
        requests::commit(&self.state.pool, tx, batch, key, response, self.now()).await
    }

    /// See [`requests::or_replay`].
    async fn or_replay<Req: prost::Message, R: prost::Message + Default>(
        &self,
        actor: &Actor,
        request_id: &str,
        method: &'static str,
        request: &Req,
        result: Result<R, Error>,
    ) -> Result<R, Error> {
        requests::or_replay(&self.state.pool, &actor.officer_id, request_id, method, request, result).await
    }

    async fn register_party(&self, actor: &Actor, req: &pb::RegisterPartyRequest) -> Result<pb::PartyResponse, Error> {
        actor.require_any_role(PROPOSERS)?;
        let now = self.now();
        let party = validate_party(req.party.as_ref(), actor, now)?;
        let identity_key = party.identity.key(&self.state);
        let mut tx = self.begin().await?;
        let mut batch = WriteBatch::new();
        let key = RequestKey::new(&actor.officer_id, &req.request_id, "RegisterParty", req)?;
        if let Some(done) = store::replay(&mut tx, &key).await? {
            return Ok(done);
        }
        let id = Uuid::now_v7();
        let (credit_code, resident_sealed, resident_masked) = match &party.identity {
            Identity::Credit(code) => (Some(code.as_str().to_string()), None, None),
            Identity::Resident(rid) => {
                (None, Some(self.state.vault.seal(rid.expose(), &resident_id_context(id))?), Some(rid.masked()))
            }
        };
        let contacts = serde_json::to_string(&party.contacts).map_err(|e| Error::Internal(e.to_string()))?;
        let row = PartyRow {
            id,
            kind: party.kind.to_string(),
            identity_key: identity_key.clone(),
            credit_code,
            resident_id_sealed: resident_sealed,
            resident_id_masked: resident_masked,
            name: party.name,
            address: party.address,
            contacts_sealed: self.state.vault.seal(&contacts, &contacts_context(id))?,
            details: Json(serde_json::to_value(&party.details).map_err(|e| Error::Internal(e.to_string()))?),
            registered_by_organ: actor.organ.clone(),
            division: actor.division.to_string(),
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let response = if store::insert_party(&mut tx, &row).await? {
            let after = party_audit(&row);
            audit::append_in(&mut batch, &audit_entry(actor, "party.register", &format!("party/{id}"), None, Some(&after), now));
            pb::PartyResponse { party: Some(party_proto(&self.state.vault, &row)?), already_registered: false }
        } else {
            let existing = store::party_by_identity(&mut tx, &identity_key)
                .await?
                .ok_or_else(|| Error::Unavailable("party registered concurrently; retry".into()))?;
            pb::PartyResponse { party: Some(party_proto(&self.state.vault, &existing)?), already_registered: true }
        };
        self.commit_batch(tx, batch, &key, response).await
    }

    async fn update_party(&self, actor: &Actor, req: &pb::UpdatePartyRequest) -> Result<pb::PartyResponse, Error> {
        actor.require_any_role(PROPOSERS)?;
        let now = self.now();
        let party_id = parse_uuid("party_id", &req.party_id)?;
        let input = req.party.as_ref().ok_or_else(|| Error::invalid("party", "is required"))?;
        let mut tx = self.begin().await?;
        let mut batch = WriteBatch::new();
        let key = RequestKey::new(&actor.officer_id, &req.request_id, "UpdateParty", req)?;
        if let Some(done) = store::replay(&mut tx, &key).await? {
            return Ok(done);
        }
        let mut row = store::party(&mut tx, party_id, true).await?.ok_or_else(|| Error::NotFound(format!("party {party_id}")))?;
        require_same_province(actor, &row.division)?;
        // The identifier never changes: fill it in from the record, and refuse a different one.
        let mut input = input.clone();
        let registered_kind = row.kind.clone();
        if party_kind_name(input.kind).is_some_and(|k| k != registered_kind) {
            return Err(Error::invalid("party.kind", format!("the party is registered as {registered_kind}")));
        }
        input.kind = party_kind_value(&registered_kind) as i32;
        if registered_kind == "person" {
            let sealed = row.resident_id_sealed.as_deref().ok_or_else(|| Error::Internal("person without ID".into()))?;
            let registered = self.state.vault.open(sealed, &resident_id_context(row.id))?;
            if !input.resident_id.trim().is_empty() && input.resident_id.trim() != registered {
                return Err(Error::invalid("party.resident_id", "the identifier of a party cannot change"));
            }
            input.resident_id = registered;
        } else {
            let registered = row.credit_code.clone().unwrap_or_default();
            if !input.credit_code.trim().is_empty() && input.credit_code.trim() != registered {
                return Err(Error::invalid("party.credit_code", "the identifier of a party cannot change"));
            }
            input.credit_code = registered;
        }
        let mut party = validate_party(Some(&input), actor, now)?;
        let before = party_audit(&row);
        let old: Details = serde_json::from_value(row.details.0.clone()).unwrap_or_default();
        let old_contacts: Contacts = serde_json::from_str(&self.state.vault.open(&row.contacts_sealed, &contacts_context(row.id))?)
            .map_err(|e| Error::Internal(e.to_string()))?;
        let consent_same = old.consent_channels == party.details.consent_channels
            && old.consent_email == party.details.consent_email
            && old.consent_egov_account == party.details.consent_egov_account
            && old.consent_postal_address == party.details.consent_postal_address
            && old.consented_on == party.details.consented_on
            && old_contacts.sms_number == party.contacts.sms_number;
        if consent_same {
            // Unchanged consent keeps who recorded it and when.
            party.details.consent_recorded_by = old.consent_recorded_by;
            party.details.consent_recorded_at = old.consent_recorded_at;
        }
        let contacts = serde_json::to_string(&party.contacts).map_err(|e| Error::Internal(e.to_string()))?;
        row.name = party.name;
        row.address = party.address;
        row.contacts_sealed = self.state.vault.seal(&contacts, &contacts_context(row.id))?;
        row.details = Json(serde_json::to_value(&party.details).map_err(|e| Error::Internal(e.to_string()))?);
        row.version += 1;
        row.updated_at = now;
        store::update_party(&mut tx, &row).await?;
        let after = party_audit(&row);
        audit::append_in(&mut batch, &audit_entry(actor, "party.update", &format!("party/{}", row.id), Some(&before), Some(&after), now));
        let response = pb::PartyResponse { party: Some(party_proto(&self.state.vault, &row)?), already_registered: false };
        self.commit_batch(tx, batch, &key, response).await
    }

    async fn get_party(&self, actor: &Actor, req: &pb::GetPartyRequest) -> Result<pb::PartyResponse, Error> {
        let party_id = parse_uuid("party_id", &req.party_id)?;
        let mut conn = self.state.pool.acquire().await?;
        let row = store::party(&mut conn, party_id, false).await?.ok_or_else(|| Error::NotFound(format!("party {party_id}")))?;
        require_same_province(actor, &row.division)?;
        Ok(pb::PartyResponse { party: Some(party_proto(&self.state.vault, &row)?), already_registered: false })
    }

    async fn put_violation_type(&self, actor: &Actor, req: &pb::PutViolationTypeRequest) -> Result<pb::ViolationType, Error> {
        actor.require_any_role(&[roles::LEGAL_REVIEWER, roles::ADMIN])?;
        let now = self.now();
        let input = req.violation_type.as_ref().ok_or_else(|| Error::invalid("violation_type", "is required"))?;
        let code = input.code.trim();
        if !(2..=40).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-') {
            return Err(Error::invalid("violation_type.code", "2–40 characters of A–Z, 0–9 and -"));
        }
        let row = ViolationTypeRow {
            code: code.to_string(),
            department: required("violation_type.department", &input.department, 50)?,
            name: required("violation_type.name", &input.name, 200)?,
            legal_basis: required("violation_type.legal_basis", &input.legal_basis, 1000)?,
            active: input.active,
        };
        let mut tx = self.begin().await?;
        let mut batch = WriteBatch::new();
        let key = RequestKey::new(&actor.officer_id, &req.request_id, "PutViolationType", req)?;
        if let Some(done) = store::replay(&mut tx, &key).await? {
            return Ok(done);
        }
        let before = store::put_violation_type(&mut tx, &row, now).await?;
        let before = before.map(|b| json!(b));
        let after = json!(row);
        audit::append_in(&mut batch, &audit_entry(actor, "violation_type.put", &format!("violation_type/{code}"), before.as_ref(), Some(&after), now));
        let response = violation_type_proto(&row);
        self.commit_batch(tx, batch, &key, response).await
    }

    async fn put_organ(&self, actor: &Actor, req: &pb::PutOrganRequest) -> Result<pb::OrganRecord, Error> {
        actor.require_role(roles::ADMIN)?;
        let now = self.now();
        let organ = req.organ.as_ref().ok_or_else(|| Error::invalid("organ", "is required"))?;
        let division = DivisionCode::parse(organ.division_code.trim()).map_err(|_| {
            Error::invalid("organ.division_code", format!("{:?} is not a six-digit division code", organ.division_code))
        })?;
        let document_code = required("document_code", &req.document_code, 20)?;
        DocumentNumber::new(&format!("{document_code}{CASE_DOCUMENT_SUFFIX}"), 2026, 1).map_err(|e| e.at("document_code"))?;
        let row = OrganRow {
            code: required("organ.code", &organ.code, 50)?,
            name: required("organ.name", &organ.name, 200)?,
            division: division.to_string(),
            document_code,
        };
        let mut tx = self.begin().await?;
        let mut batch = WriteBatch::new();
        let key = RequestKey::new(&actor.officer_id, &req.request_id, "PutOrgan", req)?;
        if let Some(done) = store::replay(&mut tx, &key).await? {
            return Ok(done);
        }
        let before = store::put_organ(&mut tx, &row, now).await?.map(|b| json!(b));
        let after = json!(row);
        audit::append_in(&mut batch, &audit_entry(actor, "organ.put", &format!("organ/{}", row.code), before.as_ref(), Some(&after), now));
        let response = organ_proto(&row);
        self.commit_batch(tx, batch, &key, response).await
    }

    async fn upload_evidence(&self, actor: &Actor, req: pb::UploadEvidenceRequest) -> Result<pb::EvidenceRef, Error> {
        actor.require_any_role(PROPOSERS)?;
        let file_name = required("file_name", &req.file_name, 200)?;
        let media_type = optional("media_type", &req.media_type, 100)?;
        let stored = self.state.objects.put(req.content).await?;
        tracing::info!(sha256 = %stored.sha256, size = stored.size, officer = %actor.officer_id, "evidence stored");
        Ok(pb::EvidenceRef { sha256: stored.sha256, file_name, media_type, size: stored.size, kind: String::new() })
    }

    async fn register_clue(&self, actor: &Actor, req: &pb::RegisterClueRequest) -> Result<pb::Clue, Error> {
        actor.require_role(roles::CASE_OFFICER)?;
        let now = self.now();
        let source = source_name(req.source).ok_or_else(|| Error::invalid("source", "choose the source of the clue (R-START-1)"))?;
        let section = required("section", &req.section, 100)?;
        let party_id = parse_uuid("party_id", &req.party_id)?;
        let facts = required("facts", &req.facts, 10_000)?;
        let violation_code = required("violation_type", &req.violation_type, 40)?;
        let mut evidence = validate_evidence("evidence", &req.evidence)?;
        let urgency = match pb::Urgency::try_from(req.urgency) {
            Ok(pb::Urgency::Urgent) => "urgent",
            Ok(_) => "normal",
            Err(_) => return Err(Error::invalid("urgency", "unknown urgency")),
        };
        let today = cst_date(now);
        let received_on = parse_date("received_on", req.received_on.as_ref())?.unwrap_or(today);
        if received_on > today {
            return Err(Error::invalid("received_on", "may not be in the future"));
        }
        // R-START-2, R-TIME-2: 3 working days from the day after the clue came in.
        let deadline = self
            .state
            .calendar
            .current()
            .add_working_days(received_on, VERIFICATION_WORKING_DAYS)
            .map_err(|e| Error::invalid("received_on", e.to_string()))?
            .value;
        self.check_stored("evidence", &mut evidence).await?;

        let mut tx = self.begin().await?;
        let mut batch = WriteBatch::new();
        let key = RequestKey::new(&actor.officer_id, &req.request_id, "RegisterClue", req)?;
        // One round trip for the request id, the party and the violation type.
        let found = store::clue_lookup(&mut tx, party_id, &violation_code, &key).await?;
        if let Some(stored) = found.replay {
            return store::decode_stored(&key, stored);
        }
        let party = found.party.ok_or_else(|| Error::invalid("party_id", "no such party; register it first"))?;
        let vt = found
            .violation_type
            .filter(|v| v.active)
            .ok_or_else(|| Error::invalid("violation_type", format!("{violation_code:?} is not in the catalogue")))?;
        let clue = ClueRow {
            id: Uuid::now_v7(),
            source: source.to_string(),
            organ: actor.organ.clone(),
            section,
            division: actor.division.to_string(),
            party_id,
            facts,
            violation_type: vt.code.clone(),
            evidence: Json(evidence),
            urgency: urgency.to_string(),
            received_on,
            verification_deadline: deadline,
            status: "registered".into(),
            case_id: None,
            verification_overdue: false,
            registered_by: actor.officer_id.clone(),
            registered_at: now,
        };
        store::insert_clue_in(&mut batch, &clue);
        timers::schedule_in(&mut batch, VERIFICATION_TIMER, &clue.id.to_string(), end_of_cst_day(deadline), &json!({ "deadline": deadline }));
        let payload = Payload::ClueRegistered(ev::ClueRegistered {
            clue_id: clue.id.to_string(),
            source: clue.source.clone(),
            section: clue.section.clone(),
            party: Some(ev::PartyRef {
                party_id: party.id.to_string(),
                kind: party.kind.clone(),
                name: party.name.clone(),
                credit_code: party.credit_code.clone().unwrap_or_default(),
            }),
            violation_type: clue.violation_type.clone(),
            urgency: clue.urgency.clone(),
            received_on: Some(date(received_on)),
            verification_deadline: Some(date(deadline)),
            evidence_count: u32::try_from(clue.evidence.0.len()).unwrap_or(u32::MAX),
        });
        let event = self.write_event("intake.clue_registered", None, 0, &clue.division, &clue.organ, Some(actor), &req.request_id, payload);
        self.state.outbox.write_in(&mut batch, event, now)?;
        let after = json!({
            "id": clue.id, "source": clue.source, "section": clue.section, "party_id": clue.party_id,
            "facts": clue.facts, "violation_type": clue.violation_type, "evidence": clue.evidence.0,
            "urgency": clue.urgency, "received_on": clue.received_on, "verification_deadline": deadline,
        });
        audit::append_in(&mut batch, &audit_entry(actor, "clue.register", &format!("clue/{}", clue.id), None, Some(&after), now));
        let response = clue_proto(&clue, Some(&vt));
        self.commit_batch(tx, batch, &key, response).await
    }

    async fn get_clue(&self, actor: &Actor, req: &pb::GetClueRequest) -> Result<pb::Clue, Error> {
        let clue_id = parse_uuid("clue_id", &req.clue_id)?;
        let mut conn = self.state.pool.acquire().await?;
        let clue = store::clue(&mut conn, clue_id).await?.ok_or_else(|| Error::NotFound(format!("clue {clue_id}")))?;
        actor.require_scope(&DivisionCode::parse(&clue.division)?, &[])?;
        let vt = store::get_violation_type(&mut conn, &clue.violation_type).await?;
        Ok(clue_proto(&clue, vt.as_ref()))
    }

    async fn list_clues(&self, actor: &Actor, req: &pb::ListCluesRequest) -> Result<pb::ListCluesResponse, Error> {
        let limit = page_limit(req.page_size)?;
        let status = match pb::ClueStatus::try_from(req.status) {
            Ok(pb::ClueStatus::Unspecified) => None,
            Ok(pb::ClueStatus::Registered) => Some("registered"),
            Ok(pb::ClueStatus::CaseOpened) => Some("case_opened"),
            Ok(pb::ClueStatus::Excluded) => Some("excluded"),
            Err(_) => return Err(Error::invalid("status", "unknown status")),
        };
        let after = if req.page_token.is_empty() {
            None
        } else {
            let bad = || Error::invalid("page_token", "not a token from ListClues");
            let (day, id) = req.page_token.split_once('/').ok_or_else(bad)?;
            Some((chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").map_err(|_| bad())?, Uuid::parse_str(id).map_err(|_| bad())?))
        };
        let mut conn = self.state.pool.acquire().await?;
        let mut rows = store::list_clues(&mut conn, &scope_of(actor).division_prefix, status, after, limit + 1).await?;
        let next_page_token = next_page(&mut rows, limit, |c| format!("{}/{}", c.verification_deadline, c.id));
        Ok(pb::ListCluesResponse { clues: rows.iter().map(|c| clue_proto(c, None)).collect(), next_page_token })
    }

    async fn verify_clue(&self, actor: &Actor, req: &pb::VerifyClueRequest) -> Result<pb::VerifyClueResponse, Error> {
        actor.require_any_role(PROPOSERS)?;
        let now = self.now();
        let clue_id = parse_uuid("clue_id", &req.clue_id)?;
        let report = req.report.as_ref().ok_or_else(|| Error::invalid("report", "the verification report is required (R-START-2)"))?;
        let report = Report {
            facts: required("report.facts", &report.facts, 10_000)?,
            provisions_violated: required("report.provisions_violated", &report.provisions_violated, 2_000)?,
            necessity: required("report.necessity", &report.necessity, 5_000)?,
        };
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
        let mut co_departments: Vec<String> = Vec::new();
        for (i, organ) in req.co_departments.iter().enumerate() {
            let organ = required(&format!("co_departments[{i}]"), organ, 50)?;
            if organ == actor.organ {
                return Err(Error::invalid(format!("co_departments[{i}]"), "the lead organ is not its own co-department"));
            }
            if !co_departments.contains(&organ) {
                co_departments.push(organ);
            }
        }

        let mut tx = self.begin().await?;
        let mut batch = WriteBatch::new();
        let key = RequestKey::new(&actor.officer_id, &req.request_id, "VerifyClue", req)?;
        // One round trip: the clue (locked), its organ's document code, an earlier answer.
        let found = store::clue_for_verify(&mut tx, clue_id, &key).await?.ok_or_else(|| Error::NotFound(format!("clue {clue_id}")))?;
        if let Some(stored) = found.replay() {
            return store::decode_stored(&key, stored);
        }
        let document_code = found.document_code.clone();
        let clue = found.clue;
        if clue.organ != actor.organ {
            return Err(Error::PermissionDenied(format!("clue {clue_id} belongs to organ {}", clue.organ)));
        }
        if clue.status != "registered" {
            return Err(Error::FailedPrecondition(format!("clue {clue_id} was already verified ({})", clue.status)));
        }
        for (i, organ) in co_departments.iter().enumerate() {
            if store::get_organ(&mut tx, organ).await?.is_none() {
                return Err(Error::invalid(format!("co_departments[{i}]"), format!("unknown organ {organ:?}")));
            }
        }
        // The party row lock serialises screening of one party across the
        // province, so two clues verified at once cannot both miss each other (X2).
        let party = store::party(&mut tx, clue.party_id, true).await?.ok_or_else(|| Error::Internal("clue without party".into()))?;
        let prior_rows = store::prior_cases(&mut tx, &party.identity_key, &clue.violation_type).await?;
        let prior: Vec<screening::PriorCase> = prior_rows
            .iter()
            .map(|c| screening::PriorCase {
                case_id: c.id.to_string(),
                number: c.number.clone(),
                organ: c.lead_organ.clone(),
                division: c.division.clone(),
            })
            .collect();
        let decision = screening::decide(&situations, &declared, &prior)?;

        let case_id = Uuid::now_v7();
        let mut case = CaseRow {
            id: case_id,
            number: None,
            clue_id,
            lead_organ: clue.organ.clone(),
            division: clue.division.clone(),
            section: clue.section.clone(),
            co_departments: co_departments.clone(),
            major: req.major,
            status: String::new(),
            party_id: party.id,
            party_identity: party.identity_key.clone(),
            party_name: party.name.clone(),
            violation_type: clue.violation_type.clone(),
            situations: situations.iter().map(|s| s.code().to_string()).collect(),
            exclusions: Json(Vec::new()),
            report: Json(report),
            approval_form: None,
            review_round: 0,
            proposed_by: actor.officer_id.clone(),
            opened_at: now,
            updated_at: now,
            version: 0,
        };
        let (outcome, exclusions) = match decision {
            Decision::Eligible { situations } => {
                // Everything that does not need the number first: the number's
                // row lock is held to commit, so take it as late as possible.
                timers::cancel_in(&mut batch, VERIFICATION_TIMER, &clue_id.to_string(), now);
                store::close_clue_in(&mut batch, clue_id, "case_opened", case_id);
                let document_code = document_code.ok_or_else(|| {
                    Error::FailedPrecondition(format!(
                        "organ {} has no document code for case numbers; an administrator sets it with PutOrgan",
                        clue.organ
                    ))
                })?;
                // R-DOC-2: the number is taken in this transaction: unique and gap-free.
                let year = cst_date(now).year();
                let code = format!("{document_code}{CASE_DOCUMENT_SUFFIX}");
                let sequence = store::next_document_sequence(&mut tx, &code, CASE_DOCUMENT_KIND, year).await?;
                let number = DocumentNumber::new(&code, year, sequence).map_err(|e| Error::Internal(e.0))?;
                case.number = Some(number.to_string());
                case.status = CaseStatus::Opened.as_str().into();
                case.situations = situations.iter().map(|s| s.code().to_string()).collect();
                case.version = 2;
                store::insert_case_in(&mut batch, &case);
                let verified = Payload::ClueVerified(ev::ClueVerified {
                    clue_id: clue_id.to_string(),
                    case_id: case_id.to_string(),
                    situations: case.situations.clone(),
                    verified_late: clue.verification_overdue,
                });
                let event = self.write_event("intake.clue_verified", Some(case_id), 1, &case.division, &case.lead_organ, Some(actor), &req.request_id, verified);
                self.state.outbox.write_in(&mut batch, event, now)?;
                let opened = Payload::CaseOpened(ev::CaseOpened {
                    case_id: case_id.to_string(),
                    clue_id: clue_id.to_string(),
                    number: number.to_string(),
                    lead_organ: case.lead_organ.clone(),
                    co_departments: case.co_departments.clone(),
                    major: case.major,
                    party: Some(party_ref(&party)),
                    violation_type: case.violation_type.clone(),
                    section: case.section.clone(),
                    proposed_by: case.proposed_by.clone(),
                    clue_received_on: Some(date(clue.received_on)),
                });
                let event = self.write_event("intake.case_opened", Some(case_id), 2, &case.division, &case.lead_organ, Some(actor), &req.request_id, opened);
                self.state.outbox.write_in(&mut batch, event, now)?;
                (pb::Outcome::Eligible, Vec::new())
            }
            Decision::Excluded { exclusions } => {
                let stored: Vec<StoredExclusion> =
                    exclusions.iter().map(|e| StoredExclusion { code: e.code.code().into(), reason: e.reason.clone() }).collect();
                case.exclusions = Json(stored.clone());
                case.status = CaseStatus::ReferredToPenalty.as_str().into();
                case.version = 1;
                store::insert_case_in(&mut batch, &case);
                store::close_clue_in(&mut batch, clue_id, "excluded", case_id);
                timers::cancel_in(&mut batch, VERIFICATION_TIMER, &clue_id.to_string(), now);
                let excluded = Payload::ClueExcluded(ev::ClueExcluded {
                    clue_id: clue_id.to_string(),
                    case_id: case_id.to_string(),
                    exclusions: stored.iter().map(|e| ev::ExclusionItem { code: e.code.clone(), reason: e.reason.clone() }).collect(),
                    earlier_case_ids: prior.iter().map(|p| p.case_id.clone()).collect(),
                    party: Some(party_ref(&party)),
                    violation_type: case.violation_type.clone(),
                    facts: case.report.0.facts.clone(),
                });
                let event = self.write_event("intake.clue_excluded", Some(case_id), 1, &case.division, &case.lead_organ, Some(actor), &req.request_id, excluded);
                self.state.outbox.write_in(&mut batch, event, now)?;
                (pb::Outcome::Excluded, stored)
            }
        };
        let after = case_audit(&case);
        audit::append_in(&mut batch, &audit_entry(actor, "clue.verify", &format!("case/{case_id}"), None, Some(&after), now));
        let response = pb::VerifyClueResponse {
            outcome: outcome as i32,
            case: Some(case_proto(&case)),
            exclusions: exclusions.iter().map(|e| pb::Exclusion { code: exclusion_value(&e.code), reason: e.reason.clone() }).collect(),
            earlier_cases: prior_rows
                .iter()
                .map(|c| pb::EarlierCase {
                    case_id: c.id.to_string(),
                    number: c.number.clone().unwrap_or_default(),
                    organ_code: c.lead_organ.clone(),
                    division_code: c.division.clone(),
                    status: CaseStatus::parse(&c.status).map(case_status_value).unwrap_or_default() as i32,
                    opened_at: Some(timestamp(c.opened_at)),
                })
                .collect(),
        };
        self.commit_batch(tx, batch, &key, response).await
    }

    async fn submit(&self, actor: &Actor, req: SubmitKind<'_>) -> Result<pb::Case, Error> {
        actor.require_any_role(PROPOSERS)?;
        let now = self.now();
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
        let mut tx = self.begin().await?;
        let mut batch = WriteBatch::new();
        let key = match &req {
            SubmitKind::First(r) => RequestKey::new(&actor.officer_id, request_id, method, *r)?,
            SubmitKind::Again(r) => RequestKey::new(&actor.officer_id, request_id, method, *r)?,
        };
        if let Some(done) = store::replay(&mut tx, &key).await? {
            return Ok(done);
        }
        let mut case = store::case(&mut tx, case_id, true).await?.ok_or_else(|| Error::NotFound(format!("case {case_id}")))?;
        if case.lead_organ != actor.organ {
            return Err(Error::PermissionDenied(format!("only the lead organ {} submits case {case_id}", case.lead_organ)));
        }
        let before = case_audit(&case);
        let status = CaseStatus::parse(&case.status)?;
        let next = if supplement.is_some() { status.resubmit()? } else { status.submit()? };
        let previous = case.approval_form.take().map(|f| f.0).unwrap_or_default();
        let mut form = form.unwrap_or_else(|| previous.clone());
        form.supplements = previous.supplements;
        form.returns = previous.returns;
        if let Some(s) = &supplement {
            form.supplements.push(s.clone());
        }
        case.status = next.as_str().into();
        case.approval_form = Some(Json(form.clone()));
        case.review_round += 1;
        case.version += 1;
        case.updated_at = now;
        store::update_case_in(&mut batch, &case);
        let number = case.number.clone().unwrap_or_default();
        let evidence_sha256: Vec<String> = form.evidence.iter().map(|e| e.sha256.clone()).collect();
        let (event_type, payload) = match &supplement {
            None => {
                let party = store::party(&mut tx, case.party_id, false).await?;
                ("intake.case_submitted", Payload::CaseSubmitted(ev::CaseSubmitted {
                    case_id: case_id.to_string(),
                    number,
                    major: case.major,
                    proposed_by: case.proposed_by.clone(),
                    proposal: form.proposal.clone(),
                    evidence_sha256,
                    co_departments: case.co_departments.clone(),
                    party: party.as_ref().map(party_ref),
                    violation_type: case.violation_type.clone(),
                    round: u32::try_from(case.review_round).unwrap_or(0),
                }))
            }
            Some(s) => ("intake.case_resubmitted", Payload::CaseResubmitted(ev::CaseResubmitted {
                case_id: case_id.to_string(),
                number,
                major: case.major,
                proposed_by: case.proposed_by.clone(),
                supplement: s.clone(),
                proposal: form.proposal.clone(),
                evidence_sha256,
                round: u32::try_from(case.review_round).unwrap_or(0),
            })),
        };
        let event = self.write_event(event_type, Some(case_id), case.version, &case.division, &case.lead_organ, Some(actor), request_id, payload);
        self.state.outbox.write_in(&mut batch, event, now)?;
        let after = case_audit(&case);
        let action = if supplement.is_some() { "case.resubmit" } else { "case.submit" };
        audit::append_in(&mut batch, &audit_entry(actor, action, &format!("case/{case_id}"), Some(&before), Some(&after), now));
        let response = case_proto(&case);
        self.commit_batch(tx, batch, &key, response).await
    }

    async fn get_case(&self, actor: &Actor, req: &pb::GetCaseRequest) -> Result<pb::Case, Error> {
        let case_id = parse_uuid("case_id", &req.case_id)?;
        let mut conn = self.state.pool.acquire().await?;
        let case = store::case(&mut conn, case_id, false).await?.ok_or_else(|| Error::NotFound(format!("case {case_id}")))?;
        require_case_scope(actor, &case)?;
        Ok(case_proto(&case))
    }

    async fn list_cases(&self, actor: &Actor, req: &pb::ListCasesRequest) -> Result<pb::ListCasesResponse, Error> {
        let limit = page_limit(req.page_size)?;
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
            violation_type: (!req.violation_type.is_empty()).then(|| req.violation_type.clone()),
            before,
            limit: limit + 1,
        };
        let mut conn = self.state.pool.acquire().await?;
        let mut rows = store::list_cases(&mut conn, &scope_of(actor), &filter).await?;
        let next_page_token = next_page(&mut rows, limit, |c| c.id.to_string());
        Ok(pb::ListCasesResponse { cases: rows.iter().map(case_proto).collect(), next_page_token })
    }

    async fn party_history(&self, actor: &Actor, req: &pb::PartyHistoryRequest) -> Result<pb::PartyHistoryResponse, Error> {
        let party_id = parse_uuid("party_id", &req.party_id)?;
        let mut conn = self.state.pool.acquire().await?;
        let party = store::party(&mut conn, party_id, false).await?.ok_or_else(|| Error::NotFound(format!("party {party_id}")))?;
        require_same_province(actor, &party.division)?;
        let filter = CaseFilter { party_id: Some(party_id), limit: 1000, ..CaseFilter::default() };
        let rows = store::list_cases(&mut conn, &scope_of(actor), &filter).await?;
        Ok(pb::PartyHistoryResponse {
            party: Some(party_proto(&self.state.vault, &party)?),
            cases: rows.iter().map(case_proto).collect(),
        })
    }
}

enum SubmitKind<'a> {
    First(&'a pb::SubmitForReviewRequest),
    Again(&'a pb::ResubmitRequest),
}

/// Parties are one register for the deployment (the repeat check spans the
/// province): any officer of the same province may read one.
fn require_same_province(actor: &Actor, division: &str) -> Result<(), Error> {
    if division.get(0..2) == Some(actor.division.province()) {
        return Ok(());
    }
    Err(Error::PermissionDenied("the party is registered in another province".into()))
}

/// An officer sees the cases of their division and below, and joint cases
/// their organ takes part in.
fn require_case_scope(actor: &Actor, case: &CaseRow) -> Result<(), Error> {
    let co: Vec<&str> = case.co_departments.iter().map(String::as_str).collect();
    actor.require_scope(&DivisionCode::parse(&case.division)?, &co)
}

/// A list call's page size: 1..=200, 0 meaning 50.
fn page_limit(page_size: u32) -> Result<i64, Error> {
    match page_size {
        0 => Ok(50),
        n @ 1..=200 => Ok(i64::from(n)),
        _ => Err(Error::invalid("page_size", "at most 200")),
    }
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

fn scope_of(actor: &Actor) -> Scope {
    Scope { division_prefix: actor.division.scope_prefix().to_string(), organ: actor.organ.clone() }
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
        reply(self.or_replay(actor, &req.request_id, "RegisterParty", req, result).await)
    }

    async fn update_party(&self, request: Request<pb::UpdatePartyRequest>) -> Result<Response<pb::PartyResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.get_ref();
        let result = self.update_party(actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "UpdateParty", req, result).await)
    }

    async fn get_party(&self, request: Request<pb::GetPartyRequest>) -> Result<Response<pb::PartyResponse>, Status> {
        let actor = auth::actor(&request)?;
        reply(self.get_party(actor, request.get_ref()).await)
    }

    async fn put_violation_type(&self, request: Request<pb::PutViolationTypeRequest>) -> Result<Response<pb::ViolationType>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.get_ref();
        let result = self.put_violation_type(actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "PutViolationType", req, result).await)
    }

    async fn list_violation_types(
        &self,
        request: Request<pb::ListViolationTypesRequest>,
    ) -> Result<Response<pb::ListViolationTypesResponse>, Status> {
        auth::actor(&request)?;
        let req = request.get_ref();
        let result = async {
            let mut conn = self.state.pool.acquire().await?;
            let rows = store::list_violation_types(&mut conn, req.department.trim(), req.include_inactive).await?;
            Ok(pb::ListViolationTypesResponse { violation_types: rows.iter().map(violation_type_proto).collect() })
        }
        .await;
        reply(result)
    }

    async fn put_organ(&self, request: Request<pb::PutOrganRequest>) -> Result<Response<pb::OrganRecord>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.get_ref();
        let result = self.put_organ(actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "PutOrgan", req, result).await)
    }

    async fn upload_evidence(&self, request: Request<pb::UploadEvidenceRequest>) -> Result<Response<pb::EvidenceRef>, Status> {
        let actor = auth::actor(&request)?.clone();
        reply(self.upload_evidence(&actor, request.into_inner()).await)
    }

    async fn register_clue(&self, request: Request<pb::RegisterClueRequest>) -> Result<Response<pb::Clue>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.get_ref();
        let result = self.register_clue(actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "RegisterClue", req, result).await)
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
        reply(self.or_replay(actor, &req.request_id, "VerifyClue", req, result).await)
    }

    async fn submit_for_review(&self, request: Request<pb::SubmitForReviewRequest>) -> Result<Response<pb::Case>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.get_ref();
        let result = self.submit(actor, SubmitKind::First(req)).await;
        reply(self.or_replay(actor, &req.request_id, "SubmitForReview", req, result).await)
    }

    async fn resubmit(&self, request: Request<pb::ResubmitRequest>) -> Result<Response<pb::Case>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.get_ref();
        let result = self.submit(actor, SubmitKind::Again(req)).await;
        reply(self.or_replay(actor, &req.request_id, "Resubmit", req, result).await)
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
