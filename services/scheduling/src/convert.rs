//! Rows to protobuf messages (what leaves the service: addresses only masked).

use yuetan_platform::fields::{date, timestamp};
use yuetan_proto::scheduling as pb;

use crate::domain::{certification_valid_until, Channel};
use crate::store::{AddressRow, AttemptRow, DocumentRow, OfficerRow, Person, PlanRow, ServiceRow};

pub fn channel_proto(c: &str) -> i32 {
    (match Channel::parse(c) {
        Some(Channel::Sms) => pb::Channel::Sms,
        Some(Channel::Email) => pb::Channel::Email,
        Some(Channel::Egov) => pb::Channel::Egov,
        Some(Channel::Direct) => pb::Channel::Direct,
        Some(Channel::Mail) => pb::Channel::Mail,
        None => pb::Channel::Unspecified,
    }) as i32
}

pub fn channel_from_proto(value: i32) -> Option<Channel> {
    match pb::Channel::try_from(value).ok()? {
        pb::Channel::Sms => Some(Channel::Sms),
        pb::Channel::Email => Some(Channel::Email),
        pb::Channel::Egov => Some(Channel::Egov),
        pb::Channel::Direct => Some(Channel::Direct),
        pb::Channel::Mail => Some(Channel::Mail),
        pb::Channel::Unspecified => None,
    }
}

pub fn officer_proto(o: &OfficerRow) -> pb::Officer {
    pb::Officer {
        officer_id: o.officer_id.clone(),
        name: o.name.clone(),
        organ: o.organ.clone(),
        division: o.division.clone(),
        certificate_number: o.certificate_number.clone(),
        certificate_valid_until: Some(date(o.certificate_valid_until)),
        experience_since: Some(date(o.experience_since)),
        interviewer_certified_on: o.interviewer_certified_on.map(date),
        interviewer_certification_valid_until: o.interviewer_certified_on.map(|d| date(certification_valid_until(d))),
        legal_review_qualified: o.legal_review_qualified,
        active: o.active,
        version: u64::try_from(o.version).unwrap_or(0),
    }
}

pub fn address_proto(a: &AddressRow) -> pb::ServiceAddress {
    let mask = |k: &str| a.masks.0.get(k).cloned().unwrap_or_default();
    pb::ServiceAddress {
        case_id: a.case_id.to_string(),
        channels: a.channels.iter().map(|c| channel_proto(c)).collect(),
        sms_number_masked: mask("sms"),
        email_masked: mask("email"),
        egov_account_masked: mask("egov"),
        postal_address_masked: mask("postal"),
        confirmation_sha256: a.confirmation_sha256.clone(),
        signed_on: a.signed_on.map(date),
        recorded_by: a.recorded_by.clone(),
        recorded_at: Some(timestamp(a.recorded_at)),
    }
}

fn person_proto(p: &Person) -> pb::Participant {
    pb::Participant { id: p.id.clone(), name: p.name.clone(), organ: p.organ.clone() }
}

pub fn plan_status(s: &str) -> i32 {
    (match s {
        "open" => pb::PlanStatus::Open,
        "planned" => pb::PlanStatus::Planned,
        "notice_in_review" => pb::PlanStatus::NoticeInReview,
        "notice_returned" => pb::PlanStatus::NoticeReturned,
        "serving" => pb::PlanStatus::Serving,
        "served" => pb::PlanStatus::Served,
        "reschedule_needed" => pb::PlanStatus::RescheduleNeeded,
        _ => pb::PlanStatus::Unspecified,
    }) as i32
}

pub fn plan_proto(p: &PlanRow, number: &str, party_name: &str, urgent: bool) -> pb::Plan {
    pb::Plan {
        plan_id: p.id.to_string(),
        case_id: p.case_id.to_string(),
        case_number: number.to_string(),
        party_name: party_name.to_string(),
        urgent,
        status: plan_status(&p.status),
        approved_on: Some(date(p.approved_on)),
        notice_deadline: Some(date(p.notice_deadline)),
        notice_deadline_missed: p.notice_deadline_missed,
        interview_at: p.interview_at.map(timestamp),
        mode: (match p.mode.as_str() {
            "in_person" => pb::InterviewMode::InPerson,
            "video" => pb::InterviewMode::Video,
            _ => pb::InterviewMode::Unspecified,
        }) as i32,
        place: p.place.clone(),
        interviewers: p.interviewers.clone(),
        recorder: p.recorder.clone(),
        experts: p.experts.0.iter().map(person_proto).collect(),
        co_department_participants: p.co_participants.0.iter().map(person_proto).collect(),
        materials: p.materials.clone(),
        notice_document_id: p.notice_document_id.map(|d| d.to_string()).unwrap_or_default(),
        served_at: p.served_at.map(timestamp),
        reschedule_requested: p.reschedule_requested,
        reschedule_reason: p.reschedule_reason.clone(),
        version: u64::try_from(p.version).unwrap_or(0),
        // Set by the reads from the relief marks (platform `relief`).
        under_relief: false,
        relief_reply_due: None,
        relief_outcome: String::new(),
    }
}

pub fn document_proto(d: &DocumentRow) -> pb::Document {
    pb::Document {
        document_id: d.id.to_string(),
        case_id: d.case_id.to_string(),
        kind: d.kind.clone(),
        title: d.title.clone(),
        number: d.number.clone(),
        sha256: d.sha256.clone(),
        revision: u32::try_from(d.revision).unwrap_or(1),
        status: (match d.status.as_str() {
            "in_review" => pb::DocumentStatus::InReview,
            "returned" => pb::DocumentStatus::Returned,
            "sealed" => pb::DocumentStatus::Sealed,
            _ => pb::DocumentStatus::Unspecified,
        }) as i32,
        seal_signature: d.seal_signature.clone(),
        seal_key_id: d.seal_key_id.clone(),
        sealed_at: d.sealed_at.map(timestamp),
        pages: u32::try_from(d.pages).unwrap_or(1),
    }
}

fn attempt_proto(a: &AttemptRow) -> pb::Attempt {
    pb::Attempt {
        attempt_id: a.id.to_string(),
        channel: channel_proto(&a.channel),
        address: a.address_masked.clone(),
        status: a.status.clone(),
        sent_at: a.sent_at.map(timestamp),
        provider_id: a.provider_id.clone(),
        reply: a.reply.clone(),
        failure: a.failure.clone(),
        arrived_at: a.arrived_at.map(timestamp),
    }
}

pub fn service_proto(s: &ServiceRow, attempts: &[AttemptRow]) -> pb::Service {
    pb::Service {
        service_id: s.id.to_string(),
        case_id: s.case_id.to_string(),
        document_id: s.document_id.clone(),
        document_name: s.document_name.clone(),
        document_number: s.document_number.clone(),
        document_sha256: s.document_sha256.clone(),
        source_service: s.source_service.clone(),
        status: (match s.status.as_str() {
            "in_progress" => pb::ServiceStatus::InProgress,
            "awaiting_officer" => pb::ServiceStatus::AwaitingOfficer,
            "served" => pb::ServiceStatus::Served,
            _ => pb::ServiceStatus::Unspecified,
        }) as i32,
        attempts: attempts.iter().filter(|a| a.service_id == s.id).map(attempt_proto).collect(),
        served_at: s.served_at.map(timestamp),
        served_by: channel_proto(&s.served_by),
        evidence: s.evidence.clone(),
        receipt_document_id: s.receipt_document_id.map(|d| d.to_string()).unwrap_or_default(),
        receipt_number: s.receipt_number.clone(),
    }
}
