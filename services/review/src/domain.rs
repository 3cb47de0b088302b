//! Review's rules, without I/O: the kinds of task and their time limits
//! (R-START-3, R-START-4, R-DOC-1), who decides them, the legality-review
//! checklist, and the case states review keeps.
//!
//! ```text
//! case_opened ─▶ awaiting_submission ─case_submitted─▶ in_review ─pass─▶ in_approval ─approve─▶ approved
//!                                                       │   ▲   └reject─▶ rejected      └─deny──▶ denied
//!                                                 return│   │case_resubmitted
//!                                                       ▼   │
//!                                               returned_for_supplement
//! ```

use yuetan_platform::auth::roles;
use yuetan_platform::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    LegalityReview,
    Approval,
    DocumentReview,
}

impl TaskKind {
    pub const ALL: [TaskKind; 3] = [TaskKind::LegalityReview, TaskKind::Approval, TaskKind::DocumentReview];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::LegalityReview => "legality_review",
            TaskKind::Approval => "approval",
            TaskKind::DocumentReview => "document_review",
        }
    }

    pub fn parse(value: &str) -> Result<TaskKind, Error> {
        TaskKind::ALL
            .into_iter()
            .find(|k| k.as_str() == value)
            .ok_or_else(|| Error::Internal(format!("unknown task kind {value:?} in the database")))
    }
}

/// R-START-3: legality review within 2 working days, 5 for a major or
/// difficult case. R-DOC-1 sets no limit for document review; the legal
/// section is held to the same 2 working days.
pub fn legality_limit(major: bool) -> u32 {
    if major {
        5
    } else {
        2
    }
}

pub const DOCUMENT_REVIEW_LIMIT: u32 = 2;

/// R-START-4: a general case is approved by the deputy leader within 1
/// working day, a major case by the leader within 3 (or collectively by the
/// leading group, recorded by the leader).
pub fn approver(major: bool) -> (&'static str, u32) {
    if major {
        (roles::LEADER, 3)
    } else {
        (roles::DEPUTY_LEADER, 1)
    }
}

/// The five points of a legality review (R-START-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    ProperParty,
    FactsClear,
    EvidenceSufficient,
    LawCorrectlyApplied,
    ProcedureLawful,
}

impl Check {
    pub const ALL: [Check; 5] =
        [Check::ProperParty, Check::FactsClear, Check::EvidenceSufficient, Check::LawCorrectlyApplied, Check::ProcedureLawful];

    pub fn as_str(self) -> &'static str {
        match self {
            Check::ProperParty => "proper_party",
            Check::FactsClear => "facts_clear",
            Check::EvidenceSufficient => "evidence_sufficient",
            Check::LawCorrectlyApplied => "law_correctly_applied",
            Check::ProcedureLawful => "procedure_lawful",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CheckResult {
    pub item: Check,
    pub passed: bool,
    pub comment: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewOutcome {
    Pass,
    Return,
    Reject,
}

impl ReviewOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewOutcome::Pass => "pass",
            ReviewOutcome::Return => "return",
            ReviewOutcome::Reject => "reject",
        }
    }
}

/// R-START-3: the checklist holds each of the five points once; a failed
/// point says why; a pass needs every point passed; a return says what is
/// missing; a rejection gives the reviewer's opinion. Errors name the field.
pub fn check_review(
    checklist: &[(Option<Check>, bool, String)],
    outcome: ReviewOutcome,
    missing: &str,
    opinion: &str,
) -> Result<Vec<CheckResult>, Error> {
    let mut results: Vec<CheckResult> = Vec::with_capacity(5);
    for (i, (item, passed, comment)) in checklist.iter().enumerate() {
        let Some(item) = item else {
            return Err(Error::invalid(format!("checklist[{i}].item"), "is not one of the five review points"));
        };
        if results.iter().any(|r| r.item == *item) {
            return Err(Error::invalid(format!("checklist[{i}].item"), format!("{} is listed twice", item.as_str())));
        }
        if !passed && comment.trim().is_empty() {
            return Err(Error::invalid(format!("checklist[{i}].comment"), "a failed point needs a comment saying why"));
        }
        results.push(CheckResult { item: *item, passed: *passed, comment: comment.trim().to_string() });
    }
    if let Some(absent) = Check::ALL.into_iter().find(|c| !results.iter().any(|r| r.item == *c)) {
        return Err(Error::invalid("checklist", format!("{} is not decided; every one of the five points is", absent.as_str())));
    }
    match outcome {
        ReviewOutcome::Pass => {
            if let Some(i) = results.iter().position(|r| !r.passed) {
                return Err(Error::invalid(format!("checklist[{i}].passed"), "a review passes only when every point passes"));
            }
        }
        ReviewOutcome::Return if missing.trim().is_empty() => {
            return Err(Error::invalid("missing", "a return says what the section must supply"));
        }
        ReviewOutcome::Reject if opinion.trim().is_empty() => {
            return Err(Error::invalid("opinion", "a rejection gives the reviewer's reasons"));
        }
        _ => {}
    }
    Ok(results)
}

/// The state of a case as review sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseState {
    AwaitingSubmission,
    InReview,
    ReturnedForSupplement,
    Rejected,
    InApproval,
    Approved,
    Denied,
}

impl CaseState {
    pub const ALL: [CaseState; 7] = [
        CaseState::AwaitingSubmission,
        CaseState::InReview,
        CaseState::ReturnedForSupplement,
        CaseState::Rejected,
        CaseState::InApproval,
        CaseState::Approved,
        CaseState::Denied,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseState::AwaitingSubmission => "awaiting_submission",
            CaseState::InReview => "in_review",
            CaseState::ReturnedForSupplement => "returned_for_supplement",
            CaseState::Rejected => "rejected",
            CaseState::InApproval => "in_approval",
            CaseState::Approved => "approved",
            CaseState::Denied => "denied",
        }
    }

    pub fn parse(value: &str) -> Result<CaseState, Error> {
        CaseState::ALL
            .into_iter()
            .find(|s| s.as_str() == value)
            .ok_or_else(|| Error::Internal(format!("unknown case state {value:?} in the database")))
    }

    /// A submission (first, or again after a return) opens a review round.
    pub fn submitted(self) -> Result<CaseState, Error> {
        match self {
            CaseState::AwaitingSubmission | CaseState::ReturnedForSupplement => Ok(CaseState::InReview),
            other => Err(Error::FailedPrecondition(format!("a case `{}` cannot be submitted for review", other.as_str()))),
        }
    }

    pub fn reviewed(self, outcome: ReviewOutcome) -> Result<CaseState, Error> {
        match self {
            CaseState::InReview => Ok(match outcome {
                ReviewOutcome::Pass => CaseState::InApproval,
                ReviewOutcome::Return => CaseState::ReturnedForSupplement,
                ReviewOutcome::Reject => CaseState::Rejected,
            }),
            other => Err(Error::FailedPrecondition(format!("the case is `{}`, not in review", other.as_str()))),
        }
    }

    pub fn decided(self, approve: bool) -> Result<CaseState, Error> {
        match self {
            CaseState::InApproval => Ok(if approve { CaseState::Approved } else { CaseState::Denied }),
            other => Err(Error::FailedPrecondition(format!("the case is `{}`, not awaiting approval", other.as_str()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_passed() -> Vec<(Option<Check>, bool, String)> {
        Check::ALL.into_iter().map(|c| (Some(c), true, String::new())).collect()
    }

    #[test]
    fn r_start_3_review_limit_is_two_working_days_and_five_for_major_cases() {
        assert_eq!(legality_limit(false), 2);
        assert_eq!(legality_limit(true), 5);
    }

    #[test]
    fn r_start_4_general_cases_go_to_the_deputy_leader_in_one_day_major_to_the_leader_in_three() {
        assert_eq!(approver(false), (roles::DEPUTY_LEADER, 1));
        assert_eq!(approver(true), (roles::LEADER, 3));
    }

    #[test]
    fn r_start_3_a_pass_needs_all_five_points_passed() {
        assert_eq!(check_review(&all_passed(), ReviewOutcome::Pass, "", "").unwrap().len(), 5);
        let mut one_failed = all_passed();
        one_failed[2] = (Some(Check::EvidenceSufficient), false, "现场照片不清晰".into());
        let err = check_review(&one_failed, ReviewOutcome::Pass, "", "").unwrap_err().to_string();
        assert!(err.contains("checklist[2].passed"), "{err}");
        assert!(check_review(&one_failed, ReviewOutcome::Return, "补充清晰的现场照片", "").is_ok());
    }

    #[test]
    fn r_start_3_the_checklist_has_each_point_once_and_failures_say_why() {
        let four = &all_passed()[..4];
        assert!(check_review(four, ReviewOutcome::Pass, "", "").unwrap_err().to_string().contains("procedure_lawful"));
        let mut twice = all_passed();
        twice[4] = (Some(Check::ProperParty), true, String::new());
        assert!(check_review(&twice, ReviewOutcome::Pass, "", "").unwrap_err().to_string().contains("checklist[4].item"));
        let mut silent = all_passed();
        silent[1] = (Some(Check::FactsClear), false, " ".into());
        assert!(check_review(&silent, ReviewOutcome::Return, "x", "").unwrap_err().to_string().contains("checklist[1].comment"));
        let mut unknown = all_passed();
        unknown[0].0 = None;
        assert!(check_review(&unknown, ReviewOutcome::Pass, "", "").unwrap_err().to_string().contains("checklist[0].item"));
    }

    #[test]
    fn r_start_3_a_return_names_what_is_missing_and_a_rejection_gives_reasons() {
        assert!(check_review(&all_passed(), ReviewOutcome::Return, " ", "").unwrap_err().to_string().contains("`missing`"));
        assert!(check_review(&all_passed(), ReviewOutcome::Reject, "", "").unwrap_err().to_string().contains("`opinion`"));
    }

    #[test]
    fn r_start_3_r_start_4_case_states_move_only_forward() {
        use CaseState::*;
        assert_eq!(AwaitingSubmission.submitted().unwrap(), InReview);
        assert_eq!(ReturnedForSupplement.submitted().unwrap(), InReview);
        assert!(InReview.submitted().is_err());
        assert_eq!(InReview.reviewed(ReviewOutcome::Return).unwrap(), ReturnedForSupplement);
        assert_eq!(InReview.reviewed(ReviewOutcome::Reject).unwrap(), Rejected);
        assert_eq!(InReview.reviewed(ReviewOutcome::Pass).unwrap(), InApproval);
        assert!(InApproval.reviewed(ReviewOutcome::Pass).is_err());
        assert_eq!(InApproval.decided(true).unwrap(), Approved);
        assert_eq!(InApproval.decided(false).unwrap(), Denied);
        assert!(Approved.decided(false).is_err());
        for s in CaseState::ALL {
            assert_eq!(CaseState::parse(s.as_str()).unwrap(), s);
        }
        for k in TaskKind::ALL {
            assert_eq!(TaskKind::parse(k.as_str()).unwrap(), k);
        }
    }
}
