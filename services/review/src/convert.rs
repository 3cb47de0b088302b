//! Stored rows → protobuf messages, and protobuf enums → domain values.

use chrono::NaiveDate;
use yuetan_platform::fields::{date, timestamp};
use yuetan_proto::review as pb;

use crate::domain::{Check, CheckResult, ReviewOutcome, TaskKind};
use crate::store::{CaseRow, TaskRow};

pub fn check_from_proto(value: i32) -> Option<Check> {
    match pb::ChecklistItem::try_from(value).ok()? {
        pb::ChecklistItem::ProperParty => Some(Check::ProperParty),
        pb::ChecklistItem::FactsClear => Some(Check::FactsClear),
        pb::ChecklistItem::EvidenceSufficient => Some(Check::EvidenceSufficient),
        pb::ChecklistItem::LawCorrectlyApplied => Some(Check::LawCorrectlyApplied),
        pb::ChecklistItem::ProcedureLawful => Some(Check::ProcedureLawful),
        pb::ChecklistItem::Unspecified => None,
    }
}

pub fn check_value(check: Check) -> pb::ChecklistItem {
    match check {
        Check::ProperParty => pb::ChecklistItem::ProperParty,
        Check::FactsClear => pb::ChecklistItem::FactsClear,
        Check::EvidenceSufficient => pb::ChecklistItem::EvidenceSufficient,
        Check::LawCorrectlyApplied => pb::ChecklistItem::LawCorrectlyApplied,
        Check::ProcedureLawful => pb::ChecklistItem::ProcedureLawful,
    }
}

pub fn outcome_from_proto(value: i32) -> Option<ReviewOutcome> {
    match pb::ReviewDecision::try_from(value).ok()? {
        pb::ReviewDecision::Pass => Some(ReviewOutcome::Pass),
        pb::ReviewDecision::Return => Some(ReviewOutcome::Return),
        pb::ReviewDecision::Reject => Some(ReviewOutcome::Reject),
        pb::ReviewDecision::Unspecified => None,
    }
}

fn kind_value(kind: &str) -> pb::TaskKind {
    match TaskKind::parse(kind) {
        Ok(TaskKind::LegalityReview) => pb::TaskKind::LegalityReview,
        Ok(TaskKind::Approval) => pb::TaskKind::Approval,
        Ok(TaskKind::DocumentReview) => pb::TaskKind::DocumentReview,
        Err(_) => pb::TaskKind::Unspecified,
    }
}

fn checklist_proto(items: &[CheckResult]) -> Vec<pb::ChecklistEntry> {
    items
        .iter()
        .map(|c| pb::ChecklistEntry { item: check_value(c.item) as i32, passed: c.passed, comment: c.comment.clone() })
        .collect()
}

/// A task as the API shows it on `today`: remaining working days and the
/// overdue flag come from the holiday calendar.
pub fn task_proto(t: &TaskRow, case_number: &str, today: NaiveDate, remaining: u32) -> pb::Task {
    let open = t.status == "open";
    pb::Task {
        id: t.id.to_string(),
        case_id: t.case_id.to_string(),
        case_number: case_number.to_string(),
        kind: kind_value(&t.kind) as i32,
        status: if open { pb::TaskStatus::Open } else { pb::TaskStatus::Decided } as i32,
        round: u32::try_from(t.round).unwrap_or(0),
        organ: t.organ.clone(),
        division: t.division.clone(),
        role: t.role.clone(),
        major: t.major,
        opened_on: Some(date(t.opened_on)),
        limit_working_days: u32::try_from(t.limit_days).unwrap_or(0),
        deadline: Some(date(t.deadline)),
        remaining_working_days: if open { remaining } else { 0 },
        overdue: open && today > t.deadline,
        deadline_missed: t.deadline_missed,
        extended: t.extended,
        extension_reason: t.extension_reason.clone(),
        proposed_by: t.proposed_by.clone(),
        decision: t.decision.clone(),
        decided_by: t.decided_by.clone(),
        decided_at: t.decided_at.map(timestamp),
        opinion: t.opinion.clone(),
        checklist: checklist_proto(&t.checklist.0),
        missing: t.missing.clone(),
        collective: t.collective.as_ref().map(|c| pb::CollectiveDecision {
            meeting_date: Some(date(c.0.meeting_date)),
            attendees: c.0.attendees.clone(),
            result: c.0.result.clone(),
        }),
        proposal: t.proposal.clone(),
        supplement: t.supplement.clone(),
        document: t.document.as_ref().map(|d| pb::DocumentUnderReview {
            document_id: d.0.document_id.clone(),
            kind: d.0.kind.clone(),
            title: d.0.title.clone(),
            content_sha256: d.0.content_sha256.clone(),
            submitted_by: d.0.submitted_by.clone(),
            source_service: d.0.source_service.clone(),
            revision: u32::try_from(t.round).unwrap_or(0),
        }),
        // Set by the reads from the relief marks (platform `relief`).
        under_relief: false,
        relief_reply_due: None,
        relief_outcome: String::new(),
    }
}

pub fn file_proto(c: &CaseRow, tasks: Vec<pb::Task>) -> pb::ReviewFile {
    pb::ReviewFile {
        case_id: c.case_id.to_string(),
        case_number: c.number.clone(),
        division: c.division.clone(),
        lead_organ: c.lead_organ.clone(),
        co_departments: c.co_departments.clone(),
        major: c.major,
        status: c.status.clone(),
        tasks,
        // Set by the read from the relief marks (platform `relief`).
        under_relief: false,
        relief_reply_due: None,
        relief_outcome: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_start_3_every_checklist_point_round_trips_through_protobuf() {
        for c in Check::ALL {
            assert_eq!(check_from_proto(check_value(c) as i32), Some(c));
        }
        assert_eq!(check_from_proto(0), None);
        assert_eq!(outcome_from_proto(pb::ReviewDecision::Return as i32), Some(ReviewOutcome::Return));
        assert_eq!(outcome_from_proto(0), None);
    }
}
