//! Rows to the contract's messages.

use yuetan_platform::fields::{date, timestamp};
use yuetan_proto::rectification as pb;

use crate::store::{AnswerRow, DocumentRow, LedgerRow, RectRow, RecordRef};

pub fn method_str(m: pb::Method) -> Option<&'static str> {
    match m {
        pb::Method::Phone => Some("phone"),
        pb::Method::SiteInspection => Some("site_inspection"),
        pb::Method::DocumentReview => Some("document_review"),
        pb::Method::Unspecified => None,
    }
}

fn method_proto(m: &str) -> i32 {
    (match m {
        "phone" => pb::Method::Phone,
        "site_inspection" => pb::Method::SiteInspection,
        "document_review" => pb::Method::DocumentReview,
        _ => pb::Method::Unspecified,
    }) as i32
}

/// `report_text`: the opened report (only to the case's readers).
pub fn rect_proto(r: &RectRow, number: &str, party: &str, answers: &[AnswerRow], notice_number: &str, record: Option<&RecordRef>, report_text: String) -> pb::Rectification {
    pb::Rectification {
        rectification_id: r.id.to_string(),
        case_id: r.case_id.to_string(),
        case_number: number.into(),
        party_name: party.into(),
        status: r.status.clone(),
        tracker: r.tracker.clone(),
        cadence_days: u32::try_from(r.cadence_days).unwrap_or(0),
        items: r
            .items
            .0
            .iter()
            .map(|i| pb::Item { item_no: i.item_no, content: i.content.clone(), deadline: Some(date(i.deadline)), acceptance_standard: i.acceptance_standard.clone(), check_method: i.check_method.clone() })
            .collect(),
        deadline: Some(date(r.deadline)),
        report_due: Some(date(r.report_due)),
        notice_document_id: r.notice_document_id.map(|d| d.to_string()).unwrap_or_default(),
        notice_number: notice_number.into(),
        report: r.report_received_at.map(|at| pb::Report {
            channel: r.report_channel.clone(),
            received_at: Some(timestamp(at)),
            text: report_text,
            attachment_sha256: r.report_attachments.clone(),
            late: r.report_late,
        }),
        acceptance_due: r.acceptance_due.map(date),
        answers: answers
            .iter()
            .map(|a| pb::Answer {
                officer_id: a.officer_id.clone(),
                complete: a.complete,
                lawful: a.lawful,
                goal_reached: a.goal_reached,
                comments: a.comments.clone(),
                evidence_sha256: a.evidence.clone(),
                answered_at: Some(timestamp(a.answered_at)),
            })
            .collect(),
        extension_requested: r.extension_requested,
        extension_reason: r.extension_reason.clone(),
        extension_decision: r.extension_decision.clone(),
        certificate_document_id: r.certificate_document_id.map(|d| d.to_string()).unwrap_or_default(),
        penalty_draft_document_id: r.penalty_draft_document_id.map(|d| d.to_string()).unwrap_or_default(),
        follow_up_overdue: r.follow_up_overdue,
        reinspect_on: r.reinspect_on.map(date),
        reinspection: r.reinspection.clone(),
        record_id: record.map(|x| x.record_id.clone()).unwrap_or_default(),
        record_number: record.map(|x| x.number.clone()).unwrap_or_default(),
        record_sha256: record.map(|x| x.sha256.clone()).unwrap_or_default(),
        version: u64::try_from(r.version).unwrap_or(0),
        // Set by the reads from the relief marks (api `answer`, platform `relief`).
        under_relief: false,
        relief_reply_due: None,
        relief_outcome: String::new(),
    }
}

pub fn ledger_proto(l: &LedgerRow) -> pb::LedgerEntry {
    pb::LedgerEntry {
        entry_id: l.id.to_string(),
        case_id: l.case_id.to_string(),
        method: method_proto(&l.method),
        on: Some(date(l.entry_on)),
        officer_id: l.officer_id.clone(),
        organ: l.organ.clone(),
        progress: l.progress.clone(),
        problems: l.problems.clone(),
        measures: l.measures.clone(),
        attachment_sha256: l.attachments.clone(),
        recorded_at: Some(timestamp(l.recorded_at)),
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
            "issued" => pb::DocumentStatus::Issued,
            _ => pb::DocumentStatus::Unspecified,
        }) as i32,
        seal_signature: d.seal_signature.clone(),
        seal_key_id: d.seal_key_id.clone(),
        sealed_at: d.sealed_at.map(timestamp),
        pages: u32::try_from(d.pages).unwrap_or(1),
    }
}
