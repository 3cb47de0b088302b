//! Conversions between stored rows and protobuf messages, and the small
//! value parsers the API shares. Parsers return `INVALID_ARGUMENT` naming
//! the field.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;
use yuetan_platform::pii::PiiVault;
use yuetan_platform::Error;
use yuetan_proto::events::PartyRef;
use yuetan_proto::intake as pb;

use crate::domain::case::CaseStatus;
use crate::domain::screening::{ExclusionCode, Situation};
use crate::store::{CaseRow, ClueRow, Evidence, OrganRow, PartyRow, ViolationTypeRow};

pub use yuetan_platform::fields::{at_most, cst_date, date, end_of_cst_day, optional, parse_date, parse_uuid, required, text, timestamp};

pub fn party_kind_name(kind: i32) -> Option<&'static str> {
    match pb::PartyKind::try_from(kind).ok()? {
        pb::PartyKind::Enterprise => Some("enterprise"),
        pb::PartyKind::IndividualBusiness => Some("individual_business"),
        pb::PartyKind::SocialOrganisation => Some("social_organisation"),
        pb::PartyKind::Person => Some("person"),
        pb::PartyKind::Unspecified => None,
    }
}

pub fn party_kind_value(name: &str) -> pb::PartyKind {
    match name {
        "enterprise" => pb::PartyKind::Enterprise,
        "individual_business" => pb::PartyKind::IndividualBusiness,
        "social_organisation" => pb::PartyKind::SocialOrganisation,
        "person" => pb::PartyKind::Person,
        _ => pb::PartyKind::Unspecified,
    }
}

pub fn source_name(source: i32) -> Option<&'static str> {
    match pb::ClueSource::try_from(source).ok()? {
        pb::ClueSource::DailyInspection => Some("daily_inspection"),
        pb::ClueSource::PublicComplaint => Some("public_complaint"),
        pb::ClueSource::SuperiorAssignment => Some("superior_assignment"),
        pb::ClueSource::DepartmentTransfer => Some("department_transfer"),
        pb::ClueSource::SelfReport => Some("self_report"),
        pb::ClueSource::Unspecified => None,
    }
}

fn source_value(name: &str) -> pb::ClueSource {
    match name {
        "daily_inspection" => pb::ClueSource::DailyInspection,
        "public_complaint" => pb::ClueSource::PublicComplaint,
        "superior_assignment" => pb::ClueSource::SuperiorAssignment,
        "department_transfer" => pb::ClueSource::DepartmentTransfer,
        "self_report" => pb::ClueSource::SelfReport,
        _ => pb::ClueSource::Unspecified,
    }
}

pub fn case_status_value(status: CaseStatus) -> pb::CaseStatus {
    match status {
        CaseStatus::Opened => pb::CaseStatus::Opened,
        CaseStatus::Submitted => pb::CaseStatus::Submitted,
        CaseStatus::ReturnedForSupplement => pb::CaseStatus::ReturnedForSupplement,
        CaseStatus::ReferredToPenalty => pb::CaseStatus::ReferredToPenalty,
        CaseStatus::InApproval => pb::CaseStatus::InApproval,
        CaseStatus::Approved => pb::CaseStatus::Approved,
        CaseStatus::Denied => pb::CaseStatus::Denied,
        CaseStatus::Rejected => pb::CaseStatus::Rejected,
    }
}

pub fn case_status_from_proto(value: i32) -> Option<CaseStatus> {
    match pb::CaseStatus::try_from(value).ok()? {
        pb::CaseStatus::Opened => Some(CaseStatus::Opened),
        pb::CaseStatus::Submitted => Some(CaseStatus::Submitted),
        pb::CaseStatus::ReturnedForSupplement => Some(CaseStatus::ReturnedForSupplement),
        pb::CaseStatus::ReferredToPenalty => Some(CaseStatus::ReferredToPenalty),
        pb::CaseStatus::InApproval => Some(CaseStatus::InApproval),
        pb::CaseStatus::Approved => Some(CaseStatus::Approved),
        pb::CaseStatus::Denied => Some(CaseStatus::Denied),
        pb::CaseStatus::Rejected => Some(CaseStatus::Rejected),
        pb::CaseStatus::Unspecified => None,
    }
}

pub fn situation_value(code: &str) -> i32 {
    (match code {
        "A1" => pb::Situation::A1FirstMinor,
        "A2" => pb::Situation::A2Hazard,
        "A3" => pb::Situation::A3PublicAttention,
        "A4" => pb::Situation::A4ObligationNotPerformed,
        "A5" => pb::Situation::A5OtherLawful,
        _ => pb::Situation::Unspecified,
    }) as i32
}

/// The domain situation of a protobuf value (the inverse of [`situation_value`]).
pub fn situation_from_proto(value: i32) -> Option<Situation> {
    Situation::ALL.into_iter().find(|s| value != 0 && situation_value(s.code()) == value)
}

/// The domain exclusion of a protobuf value (the inverse of [`exclusion_value`]).
pub fn exclusion_from_proto(value: i32) -> Option<ExclusionCode> {
    ExclusionCode::ALL.into_iter().find(|x| value != 0 && exclusion_value(x.code()) == value)
}

pub fn exclusion_value(code: &str) -> i32 {
    (match code {
        "X1" => pb::ExclusionCode::X1Serious,
        "X2" => pb::ExclusionCode::X2Repeat,
        "X3" => pb::ExclusionCode::X3Refused,
        "X4" => pb::ExclusionCode::X4DirectPenalty,
        _ => pb::ExclusionCode::Unspecified,
    }) as i32
}

pub fn evidence_proto(e: &Evidence) -> pb::EvidenceRef {
    pb::EvidenceRef {
        sha256: e.sha256.clone(),
        file_name: e.file_name.clone(),
        media_type: e.media_type.clone(),
        size: e.size,
        kind: e.kind.clone(),
    }
}

pub fn violation_type_proto(v: &ViolationTypeRow) -> pb::ViolationType {
    pb::ViolationType {
        code: v.code.clone(),
        department: v.department.clone(),
        name: v.name.clone(),
        legal_basis: v.legal_basis.clone(),
        active: v.active,
    }
}

pub fn organ_proto(o: &OrganRow) -> pb::OrganRecord {
    pb::OrganRecord {
        organ: Some(yuetan_proto::common::Organ {
            code: o.code.clone(),
            name: o.name.clone(),
            division_code: o.division.clone(),
        }),
        document_code: o.document_code.clone(),
    }
}

/// The sealed part of a party (ARCHITECTURE §6): phone numbers and the
/// electronic addresses of service (e-mail, e-government account).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Contacts {
    pub phone: String,
    pub representative_phone: String,
    pub sms_number: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub egov_account: String,
}

impl Contacts {
    /// The contacts of a party, with the e-mail and e-government account
    /// that rows written before they were sealed keep in `details`.
    pub fn with_legacy(mut self, details: &Details) -> Contacts {
        if self.email.is_empty() {
            self.email.clone_from(&details.consent_email);
        }
        if self.egov_account.is_empty() {
            self.egov_account.clone_from(&details.consent_egov_account);
        }
        self
    }

    /// Opens a party's sealed contacts.
    pub fn open(vault: &PiiVault, p: &PartyRow, details: &Details) -> Result<Contacts, Error> {
        let contacts: Contacts = serde_json::from_str(&vault.open(&p.contacts_sealed, &contacts_context(p.id))?)
            .map_err(|err| Error::Internal(format!("party contacts: {err}")))?;
        Ok(contacts.with_legacy(details))
    }
}

/// The plain part of a party's details.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Details {
    pub representative_name: String,
    pub representative_role: String,
    pub consent_channels: Vec<String>,
    /// Only in rows written before e-mail addresses were sealed ([`Contacts::email`]).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub consent_email: String,
    /// Only in rows written before accounts were sealed ([`Contacts::egov_account`]).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub consent_egov_account: String,
    pub consent_postal_address: String,
    pub consented_on: Option<NaiveDate>,
    pub consent_recorded_by: String,
    pub consent_recorded_at: Option<DateTime<Utc>>,
}

pub fn contacts_context(party_id: Uuid) -> String {
    format!("party/{party_id}/contacts")
}

pub fn resident_id_context(party_id: Uuid) -> String {
    format!("party/{party_id}/resident_id")
}

pub fn channel_name(channel: i32) -> Option<&'static str> {
    match pb::ServiceChannel::try_from(channel).ok()? {
        pb::ServiceChannel::Sms => Some("sms"),
        pb::ServiceChannel::Email => Some("email"),
        pb::ServiceChannel::Egov => Some("egov"),
        pb::ServiceChannel::Unspecified => None,
    }
}

fn channel_value(name: &str) -> i32 {
    (match name {
        "sms" => pb::ServiceChannel::Sms,
        "email" => pb::ServiceChannel::Email,
        "egov" => pb::ServiceChannel::Egov,
        _ => pb::ServiceChannel::Unspecified,
    }) as i32
}

pub fn party_proto(vault: &PiiVault, p: &PartyRow) -> Result<pb::Party, Error> {
    let details: Details = serde_json::from_value(p.details.0.clone())
        .map_err(|err| Error::Internal(format!("party details: {err}")))?;
    let contacts = Contacts::open(vault, p, &details)?;
    let representative = (!details.representative_name.is_empty()).then(|| pb::Representative {
        name: details.representative_name.clone(),
        role: details.representative_role.clone(),
        phone: contacts.representative_phone.clone(),
    });
    let consent = pb::ServiceConsent {
        channels: details.consent_channels.iter().map(|c| channel_value(c)).collect(),
        sms_number: contacts.sms_number.clone(),
        email: contacts.email.clone(),
        egov_account: contacts.egov_account.clone(),
        consented_on: details.consented_on.map(date),
        recorded_by: details.consent_recorded_by.clone(),
        recorded_at: details.consent_recorded_at.map(timestamp),
        postal_address: details.consent_postal_address.clone(),
    };
    Ok(pb::Party {
        id: p.id.to_string(),
        kind: party_kind_value(&p.kind) as i32,
        name: p.name.clone(),
        credit_code: p.credit_code.clone().unwrap_or_default(),
        resident_id_masked: p.resident_id_masked.clone().unwrap_or_default(),
        address: p.address.clone(),
        phone: contacts.phone,
        representative,
        consent: Some(consent),
        registered_by_organ: p.registered_by_organ.clone(),
        division_code: p.division.clone(),
        version: u64::try_from(p.version).unwrap_or(0),
    })
}

pub fn party_ref(p: &PartyRow) -> PartyRef {
    PartyRef {
        party_id: p.id.to_string(),
        kind: p.kind.clone(),
        name: p.name.clone(),
        credit_code: p.credit_code.clone().unwrap_or_default(),
    }
}

pub fn clue_proto(c: &ClueRow, violation_type: Option<&ViolationTypeRow>) -> pb::Clue {
    let status = match c.status.as_str() {
        "registered" => pb::ClueStatus::Registered,
        "case_opened" => pb::ClueStatus::CaseOpened,
        "excluded" => pb::ClueStatus::Excluded,
        _ => pb::ClueStatus::Unspecified,
    };
    let urgency = if c.urgency == "urgent" { pb::Urgency::Urgent } else { pb::Urgency::Normal };
    pb::Clue {
        id: c.id.to_string(),
        source: source_value(&c.source) as i32,
        organ_code: c.organ.clone(),
        section: c.section.clone(),
        division_code: c.division.clone(),
        party_id: c.party_id.to_string(),
        facts: c.facts.clone(),
        violation_type: Some(violation_type.map(violation_type_proto).unwrap_or_else(|| pb::ViolationType {
            code: c.violation_type.clone(),
            ..Default::default()
        })),
        evidence: c.evidence.0.iter().map(evidence_proto).collect(),
        urgency: urgency as i32,
        received_on: Some(date(c.received_on)),
        verification_deadline: Some(date(c.verification_deadline)),
        status: status as i32,
        case_id: c.case_id.map(|id| id.to_string()).unwrap_or_default(),
        verification_overdue: c.verification_overdue,
        registered_by: c.registered_by.clone(),
        registered_at: Some(timestamp(c.registered_at)),
    }
}

pub fn case_proto(c: &CaseRow) -> pb::Case {
    let status = CaseStatus::parse(&c.status).map(case_status_value).unwrap_or(pb::CaseStatus::Unspecified);
    pb::Case {
        id: c.id.to_string(),
        number: c.number.clone().unwrap_or_default(),
        clue_id: c.clue_id.to_string(),
        lead_organ: c.lead_organ.clone(),
        division_code: c.division.clone(),
        section: c.section.clone(),
        co_departments: c.co_departments.clone(),
        major: c.major,
        status: status as i32,
        party_id: c.party_id.to_string(),
        party_name: c.party_name.clone(),
        violation_type: c.violation_type.clone(),
        situations: c.situations.iter().map(|s| situation_value(s)).collect(),
        exclusions: c
            .exclusions
            .0
            .iter()
            .map(|e| pb::Exclusion { code: exclusion_value(&e.code), reason: e.reason.clone() })
            .collect(),
        report: Some(pb::VerificationReport {
            facts: c.report.0.facts.clone(),
            provisions_violated: c.report.0.provisions_violated.clone(),
            necessity: c.report.0.necessity.clone(),
        }),
        approval_form: c.approval_form.as_ref().map(|f| pb::ApprovalForm {
            proposal: f.0.proposal.clone(),
            proposed_interviewers: f.0.proposed_interviewers.clone(),
            evidence: f.0.evidence.iter().map(evidence_proto).collect(),
        }),
        review_round: u32::try_from(c.review_round).unwrap_or(0),
        proposed_by: c.proposed_by.clone(),
        opened_at: Some(timestamp(c.opened_at)),
        updated_at: Some(timestamp(c.updated_at)),
        version: u64::try_from(c.version).unwrap_or(0),
        review_missing: c
            .approval_form
            .as_ref()
            .and_then(|f| f.0.returns.last())
            .map(|r| r.missing.clone())
            .unwrap_or_default(),
        // Set by the reads from the relief marks (api `shown`).
        under_relief: false,
        relief_reply_due: None,
        relief_outcome: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_scope_2_r_scope_3_every_situation_and_exclusion_round_trips_through_protobuf() {
        for s in Situation::ALL {
            assert_eq!(situation_from_proto(situation_value(s.code())), Some(s));
        }
        for x in ExclusionCode::ALL {
            assert_eq!(exclusion_from_proto(exclusion_value(x.code())), Some(x));
        }
        assert_eq!(situation_from_proto(0), None);
        assert_eq!(exclusion_from_proto(99), None);
    }

    #[test]
    fn r_start_3_r_start_4_every_case_status_round_trips_through_protobuf() {
        for s in CaseStatus::ALL {
            assert_eq!(case_status_from_proto(case_status_value(s) as i32), Some(s), "{s:?}");
        }
        assert_eq!(case_status_from_proto(0), None);
        assert_eq!(case_status_from_proto(99), None);
    }
}
