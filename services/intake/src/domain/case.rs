//! The case state machine of intake. Review outcomes move it further: intake
//! mirrors them from review's events (issue 4), so the section sees where its
//! case stands and the repeat check (X2) knows which cases were closed.
//!
//! ```text
//! opened ──SubmitForReview──▶ submitted ──(review returns)──▶ returned_for_supplement
//!                              │  ▲                                   │
//!                              │  └──────────────Resubmit─────────────┘
//!                              ├──(review rejects)──▶ rejected                            (closed)
//!                              └──(review passes)───▶ in_approval ──(approved)──▶ approved
//!                                                                 └─(denied)────▶ denied  (closed)
//! (screening excluded) ──▶ referred_to_penalty                                            (closed)
//! ```

use yuetan_platform::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseStatus {
    Opened,
    Submitted,
    ReturnedForSupplement,
    ReferredToPenalty,
    /// Legality review passed; with the approver (R-START-4).
    InApproval,
    /// Approved: the interview may start (R-START-4).
    Approved,
    /// Approval refused; closed.
    Denied,
    /// Legality review rejected the proposal (R-START-3); closed.
    Rejected,
}

impl CaseStatus {
    pub const ALL: [CaseStatus; 8] = [
        CaseStatus::Opened,
        CaseStatus::Submitted,
        CaseStatus::ReturnedForSupplement,
        CaseStatus::ReferredToPenalty,
        CaseStatus::InApproval,
        CaseStatus::Approved,
        CaseStatus::Denied,
        CaseStatus::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Opened => "opened",
            CaseStatus::Submitted => "submitted",
            CaseStatus::ReturnedForSupplement => "returned_for_supplement",
            CaseStatus::ReferredToPenalty => "referred_to_penalty",
            CaseStatus::InApproval => "in_approval",
            CaseStatus::Approved => "approved",
            CaseStatus::Denied => "denied",
            CaseStatus::Rejected => "rejected",
        }
    }

    pub fn parse(value: &str) -> Result<CaseStatus, Error> {
        CaseStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == value)
            .ok_or_else(|| Error::Internal(format!("unknown case status {value:?} in the database")))
    }

    /// R-START-3: the approval form goes to review from an opened case only.
    pub fn submit(self) -> Result<CaseStatus, Error> {
        match self {
            CaseStatus::Opened => Ok(CaseStatus::Submitted),
            other => Err(Error::FailedPrecondition(format!(
                "a case is submitted for review once, from `opened`; this one is `{}`{}",
                other.as_str(),
                if other == CaseStatus::ReturnedForSupplement { " (use Resubmit)" } else { "" }
            ))),
        }
    }

    /// Back to review after a return for supplement.
    pub fn resubmit(self) -> Result<CaseStatus, Error> {
        match self {
            CaseStatus::ReturnedForSupplement => Ok(CaseStatus::Submitted),
            other => Err(Error::FailedPrecondition(format!(
                "only a case returned for supplement can be resubmitted; this one is `{}`",
                other.as_str()
            ))),
        }
    }

    /// R-START-3: legality review returned the case for supplement.
    pub fn review_returned(self) -> Result<CaseStatus, Error> {
        self.step(CaseStatus::Submitted, CaseStatus::ReturnedForSupplement, "review returns")
    }

    /// R-START-3: legality review passed; the case goes to approval (R-START-4).
    pub fn review_passed(self) -> Result<CaseStatus, Error> {
        self.step(CaseStatus::Submitted, CaseStatus::InApproval, "review passes")
    }

    /// R-START-3: legality review rejected the proposal; the case is closed.
    pub fn review_rejected(self) -> Result<CaseStatus, Error> {
        self.step(CaseStatus::Submitted, CaseStatus::Rejected, "review rejects")
    }

    /// R-START-4: the leader (or deputy) approved the interview.
    pub fn approved(self) -> Result<CaseStatus, Error> {
        self.step(CaseStatus::InApproval, CaseStatus::Approved, "approval")
    }

    /// R-START-4: approval refused; the case is closed.
    pub fn denied(self) -> Result<CaseStatus, Error> {
        self.step(CaseStatus::InApproval, CaseStatus::Denied, "a refused approval")
    }

    /// The one move a decision makes: `from` → `to`; from anywhere else it is
    /// refused, naming both ends, so a misrouted or repeated decision is
    /// never applied to a case in another state.
    fn step(self, from: CaseStatus, to: CaseStatus, what: &str) -> Result<CaseStatus, Error> {
        if self == from {
            return Ok(to);
        }
        Err(Error::FailedPrecondition(format!(
            "{what} moves a case from `{}` to `{}`; this one is `{}`",
            from.as_str(),
            to.as_str(),
            self.as_str()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(result: Result<CaseStatus, Error>) -> bool {
        matches!(result, Err(Error::FailedPrecondition(_)))
    }

    #[test]
    fn r_start_3_only_an_opened_case_is_submitted_and_only_a_returned_one_resubmitted() {
        assert_eq!(CaseStatus::Opened.submit().unwrap(), CaseStatus::Submitted);
        assert!(refused(CaseStatus::Submitted.submit()));
        assert!(refused(CaseStatus::ReferredToPenalty.submit()));
        assert_eq!(CaseStatus::ReturnedForSupplement.resubmit().unwrap(), CaseStatus::Submitted);
        assert!(refused(CaseStatus::Opened.resubmit()));
        assert!(refused(CaseStatus::Submitted.resubmit()));
        for s in [CaseStatus::InApproval, CaseStatus::Approved, CaseStatus::Denied, CaseStatus::Rejected] {
            assert!(refused(s.submit()), "{s:?} is not submitted again");
            assert!(refused(s.resubmit()), "{s:?} is not resubmitted");
        }
    }

    #[test]
    fn r_start_3_review_decides_a_submitted_case_only() {
        assert_eq!(CaseStatus::Submitted.review_returned().unwrap(), CaseStatus::ReturnedForSupplement);
        assert_eq!(CaseStatus::Submitted.review_passed().unwrap(), CaseStatus::InApproval);
        assert_eq!(CaseStatus::Submitted.review_rejected().unwrap(), CaseStatus::Rejected);
        for s in CaseStatus::ALL.into_iter().filter(|s| *s != CaseStatus::Submitted) {
            assert!(refused(s.review_returned()), "{s:?} is not returned");
            assert!(refused(s.review_passed()), "{s:?} does not pass");
            assert!(refused(s.review_rejected()), "{s:?} is not rejected");
        }
    }

    #[test]
    fn r_start_4_only_a_case_in_approval_is_approved_or_denied() {
        assert_eq!(CaseStatus::InApproval.approved().unwrap(), CaseStatus::Approved);
        assert_eq!(CaseStatus::InApproval.denied().unwrap(), CaseStatus::Denied);
        for s in CaseStatus::ALL.into_iter().filter(|s| *s != CaseStatus::InApproval) {
            assert!(refused(s.approved()), "{s:?} is not approved");
            assert!(refused(s.denied()), "{s:?} is not denied");
        }
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for s in CaseStatus::ALL {
            assert_eq!(CaseStatus::parse(s.as_str()).unwrap(), s);
        }
        assert!(CaseStatus::parse("closed").is_err());
    }
}
