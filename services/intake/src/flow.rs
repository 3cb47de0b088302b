//! Every state change of intake, in one file: parties, organs, violation
//! types, clues and cases. The API (`api.rs`) authorises and validates and
//! then calls one function here; the timers (`timers.rs`) and the consumer
//! of review's decisions (`events.rs`) call here too.
//!
//! A function called by the API opens the transaction, answers an earlier
//! call with the same request id, reads what it needs under lock (through
//! `store.rs`), and writes everything the change implies — rows, outbox
//! event, timer, audit row and the answer to the request id — as one
//! [`WriteBatch`] before it commits: a process that dies halfway leaves
//! nothing. Functions called by timers and events run inside the caller's
//! transaction (`conn`).
//!
//! Lock order, everywhere: the clue, then the party, then the case, then the
//! timer. The timer handler, which holds its timer row, takes the clue with
//! SKIP LOCKED and steps aside when it is held.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde_json::json;
use sqlx::types::Json;
use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;
use yuetan_platform::audit::{self, AuditEntry};
use yuetan_platform::batch::WriteBatch;
use yuetan_platform::consumer::HandlerError;
use yuetan_platform::outbox::NewEvent;
use yuetan_platform::requests::{self, RequestKey};
use yuetan_platform::timers::{self, Timer};
use yuetan_platform::auth::DivisionCode;
use yuetan_platform::{Actor, Error};
use yuetan_proto::events::{self as ev, event::Payload};
use yuetan_proto::intake as pb;

use crate::convert::*;
use crate::domain::access::{require_same_province, same_province};
use crate::domain::case::CaseStatus;
use crate::domain::doc_number::DocumentNumber;
use crate::domain::party_id::{CreditCode, ResidentId};
use crate::domain::screening::{self, Decision, Exclusion, Situation};
use crate::store::{
    self, CaseFilter, CaseRow, ClueRow, Evidence, Form, OrganRow, PartyRow, Report, ReviewReturn, Scope, StoredExclusion,
    ViolationTypeRow,
};
use crate::State;

/// The document kind of a case's number, and the character it adds to the
/// organ's document code: `兰城市监` + `约` → `兰城市监约〔2026〕17号`.
pub const CASE_DOCUMENT_KIND: &str = "case";
pub const CASE_DOCUMENT_SUFFIX: &str = "约";
/// R-START-2: verification within 3 working days.
pub const VERIFICATION_WORKING_DAYS: u32 = 3;
/// The timer kind of the verification limit; the key is the clue id.
pub const VERIFICATION_TIMER: &str = "intake.clue_verification";

type Tx = Transaction<'static, Postgres>;

// ---------------------------------------------------------------------------
// Inputs: what the API hands over, validated

/// A party as it is written down: validated, identity resolved.
pub struct NewParty {
    pub kind: &'static str,
    pub identity: Identity,
    pub fields: PartyFields,
}

/// The changeable part of a party.
pub struct PartyFields {
    pub name: String,
    pub address: String,
    pub contacts: Contacts,
    pub details: Details,
}

pub enum Identity {
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

/// An update of a party: the kind and identifier the caller gave (checked
/// against the record, they never change) and the new fields.
pub struct PartyUpdate {
    pub party_id: Uuid,
    pub kind: Option<&'static str>,
    pub resident_id: String,
    pub credit_code: String,
    pub fields: PartyFields,
}

/// A clue to register (R-START-1).
pub struct NewClue {
    pub source: &'static str,
    pub section: String,
    pub party_id: Uuid,
    pub facts: String,
    pub violation_type: String,
    pub evidence: Vec<Evidence>,
    pub urgency: &'static str,
    pub received_on: NaiveDate,
    pub verification_deadline: NaiveDate,
}

/// A verification of a clue (R-START-2, R-SCOPE-2/3).
pub struct Verification {
    pub clue_id: Uuid,
    pub report: Report,
    pub situations: Vec<Situation>,
    pub declared: Vec<Exclusion>,
    pub co_departments: Vec<String>,
    pub major: bool,
}

/// A submission for legality review (R-START-3): the first, or again after a
/// return for supplement (`supplement` set).
pub struct Submission {
    pub case_id: Uuid,
    pub form: Option<Form>,
    pub supplement: Option<String>,
}

/// A decision of review that moves intake's case.
pub enum ReviewDecision<'a> {
    Returned(&'a ev::ReviewReturned),
    Passed,
    Rejected,
    Approved,
    Denied,
}

impl ReviewDecision<'_> {
    /// The audit action.
    fn action(&self) -> &'static str {
        match self {
            ReviewDecision::Returned(_) => "case.review_returned",
            ReviewDecision::Passed => "case.review_passed",
            ReviewDecision::Rejected => "case.review_rejected",
            ReviewDecision::Approved => "case.approved",
            ReviewDecision::Denied => "case.denied",
        }
    }

    /// The status the decision leads to, and the transition from `status`.
    fn apply(&self, status: CaseStatus) -> (CaseStatus, Result<CaseStatus, Error>) {
        match self {
            ReviewDecision::Returned(_) => (CaseStatus::ReturnedForSupplement, status.review_returned()),
            ReviewDecision::Passed => (CaseStatus::InApproval, status.review_passed()),
            ReviewDecision::Rejected => (CaseStatus::Rejected, status.review_rejected()),
            ReviewDecision::Approved => (CaseStatus::Approved, status.approved()),
            ReviewDecision::Denied => (CaseStatus::Denied, status.denied()),
        }
    }
}

/// What a verification read under lock, for its two outcomes.
struct Verifying<'a, 'k> {
    actor: &'a Actor,
    key: &'a RequestKey<'k>,
    clue: &'a ClueRow,
    party: &'a PartyRow,
    now: DateTime<Utc>,
}

/// The answer to `VerifyClue`: the outcome, the case, and the earlier cases
/// the repeat check found (R-SCOPE-3 X2).
fn verify_answer(outcome: pb::Outcome, case: &CaseRow, exclusions: &[StoredExclusion], prior_rows: &[CaseRow]) -> pb::VerifyClueResponse {
    pb::VerifyClueResponse {
        outcome: outcome as i32,
        case: Some(case_proto(case)),
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
    }
}

// ---------------------------------------------------------------------------
// Audit views

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

/// The audit view of a party: no identifier in plain text.
fn party_audit(p: &PartyRow) -> serde_json::Value {
    json!({
        "id": p.id, "kind": p.kind, "name": p.name, "credit_code": p.credit_code,
        "resident_id": p.resident_id_masked, "address": p.address, "details": p.details.0, "version": p.version,
    })
}

pub fn case_audit(c: &CaseRow) -> serde_json::Value {
    json!({
        "id": c.id, "number": c.number, "status": c.status, "clue_id": c.clue_id, "lead_organ": c.lead_organ,
        "co_departments": c.co_departments, "major": c.major, "party_id": c.party_id,
        "violation_type": c.violation_type, "situations": c.situations, "exclusions": c.exclusions.0,
        "report": c.report.0, "approval_form": c.approval_form.as_ref().map(|f| &f.0),
        "review_round": c.review_round, "version": c.version,
    })
}

/// The AES-GCM context of a party's previous contact data in the audit row
/// of the update that replaced version `version`.
pub fn party_audit_context(party_id: Uuid, version: i64) -> String {
    format!("audit/party/{party_id}/v{version}/previous")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The names of the contact and consent fields an update changes.
fn contact_changes(old: &Details, old_contacts: &Contacts, old_address: &str, new: &PartyFields) -> Vec<&'static str> {
    let c = &new.contacts;
    let d = &new.details;
    [
        ("address", old_address != new.address),
        ("phone", old_contacts.phone != c.phone),
        ("representative.phone", old_contacts.representative_phone != c.representative_phone),
        ("representative.name", old.representative_name != d.representative_name),
        ("representative.role", old.representative_role != d.representative_role),
        ("consent.channels", old.consent_channels != d.consent_channels),
        ("consent.sms_number", old_contacts.sms_number != c.sms_number),
        ("consent.email", old_contacts.email != c.email),
        ("consent.egov_account", old_contacts.egov_account != c.egov_account),
        ("consent.postal_address", old.consent_postal_address != d.consent_postal_address),
        ("consent.consented_on", old.consented_on != d.consented_on),
    ]
    .into_iter()
    .filter_map(|(name, differs)| differs.then_some(name))
    .collect()
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, Error> {
    serde_json::to_value(value).map_err(|e| Error::Internal(e.to_string()))
}

impl State {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    async fn begin(&self) -> Result<Tx, Error> {
        Ok(self.pool.begin().await?)
    }

    /// See [`requests::commit`].
    async fn commit<R: prost::Message + Default>(&self, tx: Tx, batch: WriteBatch, key: &RequestKey<'_>, response: R) -> Result<R, Error> {
        requests::commit(&self.pool, &self.vault, tx, batch, key, response, self.now()).await
    }

    /// See [`requests::or_replay`].
    pub async fn or_replay<Req: prost::Message, R: prost::Message + Default>(
        &self,
        actor: &Actor,
        request_id: &str,
        method: &'static str,
        request: &Req,
        result: Result<R, Error>,
    ) -> Result<R, Error> {
        requests::or_replay(&self.pool, &self.vault, &actor.officer_id, request_id, method, request, result).await
    }

    #[allow(clippy::too_many_arguments)]
    fn event(
        &self,
        event_type: &str,
        case_id: Option<Uuid>,
        version: i64,
        division: &str,
        organ: &str,
        actor: Option<&Actor>,
        causation: &str,
        payload: Payload,
    ) -> NewEvent {
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

    // -----------------------------------------------------------------------
    // Parties

    pub async fn register_party(&self, actor: &Actor, key: &RequestKey<'_>, party: NewParty) -> Result<pb::PartyResponse, Error> {
        let now = self.now();
        let identity_key = party.identity.key(self);
        let mut tx = self.begin().await?;
        let mut batch = WriteBatch::new();
        if let Some(done) = requests::replay(&mut tx, &self.vault, key).await? {
            return Ok(done);
        }
        let id = Uuid::now_v7();
        let (credit_code, resident_sealed, resident_masked) = match &party.identity {
            Identity::Credit(code) => (Some(code.as_str().to_string()), None, None),
            Identity::Resident(rid) => (None, Some(self.vault.seal(rid.expose(), &resident_id_context(id))?), Some(rid.masked())),
        };
        let fields = party.fields;
        let contacts = serde_json::to_string(&fields.contacts).map_err(|e| Error::Internal(e.to_string()))?;
        let row = PartyRow {
            id,
            kind: party.kind.to_string(),
            identity_key: identity_key.clone(),
            credit_code,
            resident_id_sealed: resident_sealed,
            resident_id_masked: resident_masked,
            name: fields.name,
            address: fields.address,
            contacts_sealed: self.vault.seal(&contacts, &contacts_context(id))?,
            details: Json(to_json(&fields.details)?),
            registered_by_organ: actor.organ.clone(),
            division: actor.division.to_string(),
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let response = if store::insert_party(&mut tx, &row).await? {
            let after = party_audit(&row);
            audit::append_in(&mut batch, &audit_entry(actor, "party.register", &format!("party/{id}"), None, Some(&after), now));
            pb::PartyResponse { party: Some(party_proto(&self.vault, &row)?), already_registered: false }
        } else {
            // The register is per province: the row found is the caller's
            // province's, never another's (not even its existence shows).
            let existing = store::party_by_identity(&mut tx, actor.division.province(), &identity_key)
                .await?
                .ok_or_else(|| Error::Unavailable("party registered concurrently; retry".into()))?;
            require_same_province(actor, &existing.division)?;
            pb::PartyResponse { party: Some(party_proto(&self.vault, &existing)?), already_registered: true }
        };
        self.commit(tx, batch, key, response).await
    }

    pub async fn update_party(&self, actor: &Actor, key: &RequestKey<'_>, update: PartyUpdate) -> Result<pb::PartyResponse, Error> {
        let now = self.now();
        let party_id = update.party_id;
        let mut tx = self.begin().await?;
        let mut batch = WriteBatch::new();
        if let Some(done) = requests::replay(&mut tx, &self.vault, key).await? {
            return Ok(done);
        }
        let mut row = store::party(&mut tx, party_id, true).await?.ok_or_else(|| Error::NotFound(format!("party {party_id}")))?;
        require_same_province(actor, &row.division)?;
        // The identifier never changes: refuse a different kind or identifier.
        let registered_kind = row.kind.clone();
        if update.kind.is_some_and(|k| k != registered_kind) {
            return Err(Error::invalid("party.kind", format!("the party is registered as {registered_kind}")));
        }
        if registered_kind == "person" {
            if !update.credit_code.is_empty() {
                return Err(Error::invalid("party.credit_code", "a person is identified by resident ID, not a credit code"));
            }
            let sealed = row.resident_id_sealed.as_deref().ok_or_else(|| Error::Internal("person without ID".into()))?;
            let registered = self.vault.open(sealed, &resident_id_context(row.id))?;
            if !update.resident_id.is_empty() && update.resident_id != registered {
                return Err(Error::invalid("party.resident_id", "the identifier of a party cannot change"));
            }
        } else {
            if !update.resident_id.is_empty() {
                return Err(Error::invalid("party.resident_id", "only a person has a resident ID; give the credit code"));
            }
            let registered = row.credit_code.clone().unwrap_or_default();
            if !update.credit_code.is_empty() && update.credit_code != registered {
                return Err(Error::invalid("party.credit_code", "the identifier of a party cannot change"));
            }
        }
        let mut fields = update.fields;
        let before = party_audit(&row);
        let old: Details = serde_json::from_value(row.details.0.clone()).unwrap_or_default();
        let old_contacts = Contacts::open(&self.vault, &row, &old)?;
        let consent_same = old.consent_channels == fields.details.consent_channels
            && old_contacts.email == fields.contacts.email
            && old_contacts.egov_account == fields.contacts.egov_account
            && old.consent_postal_address == fields.details.consent_postal_address
            && old.consented_on == fields.details.consented_on
            && old_contacts.sms_number == fields.contacts.sms_number;
        if consent_same {
            // Unchanged consent keeps who recorded it and when.
            fields.details.consent_recorded_by = old.consent_recorded_by.clone();
            fields.details.consent_recorded_at = old.consent_recorded_at;
        }
        // Who changed contact data or consent, and what was there before:
        // the field names in clear, the previous values sealed (they are
        // personal data), openable with the vault under `party_audit_context`.
        let changed = contact_changes(&old, &old_contacts, &row.address, &fields);
        let previous = json!({
            "address": row.address, "contacts": old_contacts, "representative_name": old.representative_name,
            "representative_role": old.representative_role, "consent_channels": old.consent_channels,
            "consent_postal_address": old.consent_postal_address, "consented_on": old.consented_on,
            "consent_recorded_by": old.consent_recorded_by, "consent_recorded_at": old.consent_recorded_at,
        });
        let previous_sealed = self.vault.seal(&previous.to_string(), &party_audit_context(row.id, row.version))?;
        let contacts = serde_json::to_string(&fields.contacts).map_err(|e| Error::Internal(e.to_string()))?;
        row.name = fields.name;
        row.address = fields.address;
        row.contacts_sealed = self.vault.seal(&contacts, &contacts_context(row.id))?;
        row.details = Json(to_json(&fields.details)?);
        row.version += 1;
        row.updated_at = now;
        store::update_party(&mut tx, &row).await?;
        let mut after = party_audit(&row);
        after["contact_change"] = json!({
            "changed": changed,
            "changed_by": actor.officer_id,
            "changed_by_organ": actor.organ,
            "previous_version": row.version - 1,
            "previous_sealed_hex": hex(&previous_sealed),
        });
        audit::append_in(&mut batch, &audit_entry(actor, "party.update", &format!("party/{}", row.id), Some(&before), Some(&after), now));
        let response = pb::PartyResponse { party: Some(party_proto(&self.vault, &row)?), already_registered: false };
        self.commit(tx, batch, key, response).await
    }

    // -----------------------------------------------------------------------
    // Reference data

    pub async fn put_violation_type(&self, actor: &Actor, key: &RequestKey<'_>, row: ViolationTypeRow) -> Result<pb::ViolationType, Error> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let mut batch = WriteBatch::new();
        if let Some(done) = requests::replay(&mut tx, &self.vault, key).await? {
            return Ok(done);
        }
        let before = store::put_violation_type(&mut tx, &row, now).await?.map(|b| json!(b));
        let after = json!(row);
        let subject = format!("violation_type/{}", row.code);
        audit::append_in(&mut batch, &audit_entry(actor, "violation_type.put", &subject, before.as_ref(), Some(&after), now));
        let response = violation_type_proto(&row);
        self.commit(tx, batch, key, response).await
    }

    pub async fn put_organ(&self, actor: &Actor, key: &RequestKey<'_>, row: OrganRow) -> Result<pb::OrganRecord, Error> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let mut batch = WriteBatch::new();
        if let Some(done) = requests::replay(&mut tx, &self.vault, key).await? {
            return Ok(done);
        }
        let before = store::organ_for_update(&mut tx, &row.code).await?;
        if let Some(old) = &before {
            // An admin may not take over an organ of another division by moving it into their own.
            actor.require_scope(&DivisionCode::parse(&old.division)?, &[])?;
        }
        // R-DOC-2: one organ per document code in the province.
        if let Some(holder) = store::document_code_holder(&mut tx, &row.division, &row.document_code, &row.code).await? {
            return Err(Error::AlreadyExists(format!(
                "document code {:?} is held by organ {} ({}) in division {} (R-DOC-2)",
                row.document_code, holder.code, holder.name, holder.division
            )));
        }
        store::put_organ(&mut tx, &row, now).await?;
        let before = before.map(|b| json!(b));
        let after = json!(row);
        audit::append_in(&mut batch, &audit_entry(actor, "organ.put", &format!("organ/{}", row.code), before.as_ref(), Some(&after), now));
        let response = organ_proto(&row);
        self.commit(tx, batch, key, response).await
    }

    /// Stores an evidence file in the object store (content-addressed: the
    /// same bytes twice are one object).
    pub async fn store_evidence(&self, actor: &Actor, content: Vec<u8>) -> Result<yuetan_platform::objects::Stored, Error> {
        let stored = self.objects.put(content).await?;
        tracing::info!(sha256 = %stored.sha256, size = stored.size, officer = %actor.officer_id, "evidence stored");
        Ok(stored)
    }

    // -----------------------------------------------------------------------
    // Clues

    pub async fn register_clue(&self, actor: &Actor, key: &RequestKey<'_>, new: NewClue) -> Result<pb::Clue, Error> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let mut batch = WriteBatch::new();
        // One round trip for the request id, the party and the violation type.
        let found = store::clue_lookup(&mut tx, new.party_id, &new.violation_type, key).await?;
        if let Some(stored) = found.replay {
            return store::decode_stored(&self.vault, key, stored);
        }
        // The register is per province: another province's party is as unknown as none.
        let party = found
            .party
            .filter(|p| same_province(actor, &p.division))
            .ok_or_else(|| Error::invalid("party_id", "no such party; register it first"))?;
        let violation_code = new.violation_type;
        let vt = found
            .violation_type
            .filter(|v| v.active)
            .ok_or_else(|| Error::invalid("violation_type", format!("{violation_code:?} is not in the catalogue")))?;
        let deadline = new.verification_deadline;
        let clue = ClueRow {
            id: Uuid::now_v7(),
            source: new.source.to_string(),
            organ: actor.organ.clone(),
            section: new.section,
            division: actor.division.to_string(),
            party_id: new.party_id,
            facts: new.facts,
            violation_type: vt.code.clone(),
            evidence: Json(new.evidence),
            urgency: new.urgency.to_string(),
            received_on: new.received_on,
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
            received_on: Some(date(clue.received_on)),
            verification_deadline: Some(date(deadline)),
            evidence_count: u32::try_from(clue.evidence.0.len()).unwrap_or(u32::MAX),
        });
        let event = self.event("intake.clue_registered", None, 0, &clue.division, &clue.organ, Some(actor), key.request_id, payload);
        self.outbox.write_in(&mut batch, event, now)?;
        let after = json!({
            "id": clue.id, "source": clue.source, "section": clue.section, "party_id": clue.party_id,
            "facts": clue.facts, "violation_type": clue.violation_type, "evidence": clue.evidence.0,
            "urgency": clue.urgency, "received_on": clue.received_on, "verification_deadline": deadline,
        });
        audit::append_in(&mut batch, &audit_entry(actor, "clue.register", &format!("clue/{}", clue.id), None, Some(&after), now));
        let response = clue_proto(&clue, Some(&vt));
        self.commit(tx, batch, key, response).await
    }

    /// Verifies a clue: screens it (R-SCOPE-2/3) and opens the case, with a
    /// number (R-DOC-2) if it is eligible, or refers it to the penalty
    /// procedure if an exclusion holds.
    pub async fn verify_clue(&self, actor: &Actor, key: &RequestKey<'_>, v: Verification) -> Result<pb::VerifyClueResponse, Error> {
        let now = self.now();
        let clue_id = v.clue_id;
        let mut tx = self.begin().await?;
        let mut batch = WriteBatch::new();
        // One round trip: the clue (locked), its organ's document code, an earlier answer.
        let found = store::clue_for_verify(&mut tx, clue_id, key).await?.ok_or_else(|| Error::NotFound(format!("clue {clue_id}")))?;
        if let Some(stored) = found.replay() {
            return store::decode_stored(&self.vault, key, stored);
        }
        let document_code = found.document_code.clone();
        let organ_name = found.organ_name.clone().unwrap_or_default();
        let clue = found.clue;
        if clue.organ != actor.organ {
            return Err(Error::PermissionDenied(format!("clue {clue_id} belongs to organ {}", clue.organ)));
        }
        if clue.status != "registered" {
            return Err(Error::FailedPrecondition(format!("clue {clue_id} was already verified ({})", clue.status)));
        }
        for (i, organ) in v.co_departments.iter().enumerate() {
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
        let decision = screening::decide(&v.situations, &v.declared, &prior)?;

        let case_id = Uuid::now_v7();
        let mut case = CaseRow {
            id: case_id,
            number: None,
            clue_id,
            lead_organ: clue.organ.clone(),
            division: clue.division.clone(),
            section: clue.section.clone(),
            co_departments: v.co_departments,
            major: v.major,
            status: String::new(),
            party_id: party.id,
            party_identity: party.identity_key.clone(),
            party_name: party.name.clone(),
            violation_type: clue.violation_type.clone(),
            situations: v.situations.iter().map(|s| s.code().to_string()).collect(),
            exclusions: Json(Vec::new()),
            report: Json(v.report),
            approval_form: None,
            review_round: 0,
            proposed_by: actor.officer_id.clone(),
            opened_at: now,
            updated_at: now,
            version: 0,
        };
        let verifying = Verifying { actor, key, clue: &clue, party: &party, now };
        let (outcome, exclusions) = match decision {
            Decision::Eligible { situations } => {
                self.open_case(&mut tx, &mut batch, &verifying, &mut case, &situations, document_code, &organ_name).await?;
                (pb::Outcome::Eligible, Vec::new())
            }
            Decision::Excluded { exclusions } => {
                let stored = self.refer_to_penalty(&mut batch, &verifying, &mut case, &exclusions, &prior)?;
                (pb::Outcome::Excluded, stored)
            }
        };
        let after = case_audit(&case);
        audit::append_in(&mut batch, &audit_entry(actor, "clue.verify", &format!("case/{case_id}"), None, Some(&after), now));
        let response = verify_answer(outcome, &case, &exclusions, &prior_rows);
        self.commit(tx, batch, key, response).await
    }

    /// R-SCOPE-2 holds and no exclusion: the clue opens a case, numbered
    /// with the next number of the organ's document code (R-DOC-2), and
    /// `intake.clue_verified` and `intake.case_opened` are written.
    #[allow(clippy::too_many_arguments)]
    async fn open_case(
        &self,
        tx: &mut PgConnection,
        batch: &mut WriteBatch,
        v: &Verifying<'_, '_>,
        case: &mut CaseRow,
        situations: &[Situation],
        document_code: Option<String>,
        organ_name: &str,
    ) -> Result<(), Error> {
        let (clue, now) = (v.clue, v.now);
        // Everything that does not need the number first: the number's
        // row lock is held to commit, so take it as late as possible.
        timers::cancel_in(batch, VERIFICATION_TIMER, &clue.id.to_string(), now);
        store::close_clue_in(batch, clue.id, "case_opened", case.id);
        let document_code = document_code.ok_or_else(|| {
            Error::FailedPrecondition(format!(
                "organ {} has no document code for case numbers; an administrator sets it with PutOrgan",
                clue.organ
            ))
        })?;
        // R-DOC-2: the number is taken in this transaction: unique and gap-free.
        let year = cst_date(now).year();
        let code = format!("{document_code}{CASE_DOCUMENT_SUFFIX}");
        let sequence = store::next_document_sequence(tx, &code, CASE_DOCUMENT_KIND, year).await?;
        let number = DocumentNumber::new(&code, year, sequence).map_err(|e| Error::Internal(e.0))?;
        case.number = Some(number.to_string());
        case.status = CaseStatus::Opened.as_str().into();
        case.situations = situations.iter().map(|s| s.code().to_string()).collect();
        case.version = 2;
        store::insert_case_in(batch, case);
        let verified = Payload::ClueVerified(ev::ClueVerified {
            clue_id: clue.id.to_string(),
            case_id: case.id.to_string(),
            situations: case.situations.clone(),
            verified_late: clue.verification_overdue,
        });
        let event = self.event("intake.clue_verified", Some(case.id), 1, &case.division, &case.lead_organ, Some(v.actor), v.key.request_id, verified);
        self.outbox.write_in(batch, event, now)?;
        let opened = Payload::CaseOpened(ev::CaseOpened {
            case_id: case.id.to_string(),
            clue_id: clue.id.to_string(),
            number: number.to_string(),
            lead_organ: case.lead_organ.clone(),
            co_departments: case.co_departments.clone(),
            major: case.major,
            party: Some(party_ref(v.party)),
            violation_type: case.violation_type.clone(),
            section: case.section.clone(),
            proposed_by: case.proposed_by.clone(),
            clue_received_on: Some(date(clue.received_on)),
            urgency: clue.urgency.clone(),
            lead_organ_name: organ_name.to_string(),
            lead_organ_document_code: document_code.clone(),
        });
        let event = self.event("intake.case_opened", Some(case.id), 2, &case.division, &case.lead_organ, Some(v.actor), v.key.request_id, opened);
        self.outbox.write_in(batch, event, now)?;
        Ok(())
    }

    /// An exclusion holds (R-SCOPE-3): the case is referred to the penalty
    /// procedure and `intake.clue_excluded` is written.
    fn refer_to_penalty(
        &self,
        batch: &mut WriteBatch,
        v: &Verifying<'_, '_>,
        case: &mut CaseRow,
        exclusions: &[Exclusion],
        prior: &[screening::PriorCase],
    ) -> Result<Vec<StoredExclusion>, Error> {
        let (clue, now) = (v.clue, v.now);
        let stored: Vec<StoredExclusion> =
            exclusions.iter().map(|e| StoredExclusion { code: e.code.code().into(), reason: e.reason.clone() }).collect();
        case.exclusions = Json(stored.clone());
        case.status = CaseStatus::ReferredToPenalty.as_str().into();
        case.version = 1;
        store::insert_case_in(batch, case);
        store::close_clue_in(batch, clue.id, "excluded", case.id);
        timers::cancel_in(batch, VERIFICATION_TIMER, &clue.id.to_string(), now);
        let excluded = Payload::ClueExcluded(ev::ClueExcluded {
            clue_id: clue.id.to_string(),
            case_id: case.id.to_string(),
            exclusions: stored.iter().map(|e| ev::ExclusionItem { code: e.code.clone(), reason: e.reason.clone() }).collect(),
            earlier_case_ids: prior.iter().map(|p| p.case_id.clone()).collect(),
            party: Some(party_ref(v.party)),
            violation_type: case.violation_type.clone(),
            facts: case.report.0.facts.clone(),
        });
        let event = self.event("intake.clue_excluded", Some(case.id), 1, &case.division, &case.lead_organ, Some(v.actor), v.key.request_id, excluded);
        self.outbox.write_in(batch, event, now)?;
        Ok(stored)
    }

    /// The verification limit of a clue ran out (R-START-2): a clue still
    /// waiting is marked overdue and `intake.clue_verification_overdue` is
    /// written, in the sweeper's transaction.
    pub async fn clue_verification_overdue(&self, conn: &mut PgConnection, timer: &Timer) -> Result<(), Error> {
        let clue_id = Uuid::parse_str(&timer.key).map_err(|e| Error::Internal(e.to_string()))?;
        // Lock order: a verification locks the clue, then cancels this timer;
        // the sweeper has locked the timer. Waiting here for the clue would
        // deadlock, so a clue being verified right now is left to the next try.
        let Some(clue) = store::clue_unless_locked(conn, clue_id).await? else {
            if store::clue(conn, clue_id).await?.is_some() {
                return Err(Error::Unavailable(format!(
                    "clue {clue_id} is being verified; the verification limit is checked again later"
                )));
            }
            return Ok(());
        };
        if clue.status != "registered" || clue.verification_overdue {
            return Ok(());
        }
        store::mark_clue_overdue(conn, clue_id).await?;
        let deadline: NaiveDate = clue.verification_deadline;
        let payload = Payload::ClueVerificationOverdue(ev::ClueVerificationOverdue {
            clue_id: clue_id.to_string(),
            verification_deadline: Some(date(deadline)),
        });
        let event = self.event("intake.clue_verification_overdue", None, 0, &clue.division, &clue.organ, None, &timer.id.to_string(), payload);
        let now = self.now();
        self.outbox.write(conn, event, now).await?;
        let after = json!({ "clue_id": clue_id, "verification_overdue": true, "deadline": deadline });
        audit::append(
            conn,
            &AuditEntry {
                actor_id: crate::SERVICE,
                actor_organ: &clue.organ,
                action: "clue.verification_overdue",
                subject: &format!("clue/{clue_id}"),
                before: None,
                after: Some(&after),
                at: now,
            },
        )
        .await?;
        Ok(())
    }

    // -----------------------------------------------------------------------
    // Cases

    /// Submits a case for legality review (R-START-3), or again after a return.
    pub async fn submit(&self, actor: &Actor, key: &RequestKey<'_>, s: Submission) -> Result<pb::Case, Error> {
        let now = self.now();
        let case_id = s.case_id;
        let supplement = s.supplement;
        let mut tx = self.begin().await?;
        let mut batch = WriteBatch::new();
        if let Some(done) = requests::replay(&mut tx, &self.vault, key).await? {
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
        let mut form = s.form.unwrap_or_else(|| previous.clone());
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
        let event = self.event(event_type, Some(case_id), case.version, &case.division, &case.lead_organ, Some(actor), key.request_id, payload);
        self.outbox.write_in(&mut batch, event, now)?;
        let after = case_audit(&case);
        let action = if supplement.is_some() { "case.resubmit" } else { "case.submit" };
        audit::append_in(&mut batch, &audit_entry(actor, action, &format!("case/{case_id}"), Some(&before), Some(&after), now));
        let response = case_proto(&case);
        self.commit(tx, batch, key, response).await
    }

    /// Mirrors a decision of review into the case's status, inside the
    /// consumer's inbox transaction (a decision already reflected is a no-op).
    pub async fn apply_review_decision(
        &self,
        conn: &mut PgConnection,
        event: &ev::Event,
        case_id: Uuid,
        decision: ReviewDecision<'_>,
    ) -> Result<(), HandlerError> {
        // Locked: an officer's Resubmit of the same case waits for this
        // transaction, so it sees the status this decision leaves.
        let Some(mut case) = store::case(conn, case_id, true).await? else {
            // Review only decides cases intake submitted; an unknown one is
            // retried (and dead-lettered if it stays unknown) rather than lost.
            return Err(HandlerError::failed(format!("{}: intake has no case {case_id}", event.r#type)));
        };
        let status = CaseStatus::parse(&case.status)?;
        let (target, next) = decision.apply(status);
        let next = match next {
            Ok(next) => next,
            Err(_) if status == target => {
                // Already reflected (e.g. applied under another event id):
                // nothing left to do.
                tracing::info!(%case_id, event_type = %event.r#type, status = status.as_str(), "review decision already reflected");
                return Ok(());
            }
            Err(err) => return Err(HandlerError::failed(format!("{}: case {case_id}: {err}", event.r#type))),
        };

        let before = case_audit(&case);
        let now = self.now();
        let officer = event.actor.as_ref().map(|a| a.officer_id.as_str()).filter(|id| !id.is_empty());
        if let ReviewDecision::Returned(returned) = &decision {
            let form = case.approval_form.get_or_insert_with(|| Json(Form::default()));
            form.0.returns.push(ReviewReturn {
                round: returned.round,
                missing: returned.missing.clone(),
                opinion: returned.opinion.clone(),
                returned_by: officer.unwrap_or_default().to_string(),
            });
        }
        case.status = next.as_str().into();
        case.updated_at = now;
        let after = case_audit(&case);

        let organ = event
            .actor
            .as_ref()
            .map(|a| a.organ_code.as_str())
            .filter(|o| !o.is_empty())
            .unwrap_or(if event.organ.is_empty() { case.lead_organ.as_str() } else { event.organ.as_str() });
        let mut batch = WriteBatch::new();
        store::update_case_in(&mut batch, &case);
        audit::append_in(
            &mut batch,
            &AuditEntry {
                actor_id: officer.unwrap_or("review"),
                actor_organ: organ,
                action: decision.action(),
                subject: &format!("case/{case_id}"),
                before: Some(&before),
                after: Some(&after),
                at: now,
            },
        );
        batch.execute(conn).await?;
        tracing::info!(%case_id, from = status.as_str(), to = next.as_str(), event_type = %event.r#type, "case status follows review");
        Ok(())
    }

    // -----------------------------------------------------------------------
    // Reads (no state change; the API checks scope on what they return)

    /// The party registered in `province` with this identifier.
    pub async fn party_by_identity(&self, province: &str, identity: &Identity) -> Result<Option<PartyRow>, Error> {
        let key = identity.key(self);
        let mut conn = self.pool.acquire().await?;
        store::party_by_identity(&mut conn, province, &key).await
    }

    pub async fn party(&self, id: Uuid) -> Result<Option<PartyRow>, Error> {
        let mut conn = self.pool.acquire().await?;
        store::party(&mut conn, id, false).await
    }

    pub async fn organs(&self, province: &str) -> Result<Vec<OrganRow>, Error> {
        let mut conn = self.pool.acquire().await?;
        store::list_organs(&mut conn, province).await
    }

    pub async fn violation_types(&self, department: &str, include_inactive: bool) -> Result<Vec<ViolationTypeRow>, Error> {
        let mut conn = self.pool.acquire().await?;
        store::list_violation_types(&mut conn, department, include_inactive).await
    }

    /// A clue and its violation type.
    pub async fn clue(&self, id: Uuid) -> Result<Option<(ClueRow, Option<ViolationTypeRow>)>, Error> {
        let mut conn = self.pool.acquire().await?;
        let Some(clue) = store::clue(&mut conn, id).await? else { return Ok(None) };
        let vt = store::get_violation_type(&mut conn, &clue.violation_type).await?;
        Ok(Some((clue, vt)))
    }

    pub async fn clues(
        &self,
        division_prefixes: &[String],
        status: Option<&str>,
        after: Option<(NaiveDate, Uuid)>,
        limit: i64,
    ) -> Result<Vec<ClueRow>, Error> {
        let mut conn = self.pool.acquire().await?;
        store::list_clues(&mut conn, division_prefixes, status, after, limit).await
    }

    pub async fn case(&self, id: Uuid) -> Result<Option<CaseRow>, Error> {
        let mut conn = self.pool.acquire().await?;
        store::case(&mut conn, id, false).await
    }

    pub async fn cases(&self, scope: &Scope, filter: &CaseFilter) -> Result<Vec<CaseRow>, Error> {
        let mut conn = self.pool.acquire().await?;
        store::list_cases(&mut conn, scope, filter).await
    }
}
