//! The case state machine of intake. Review outcomes move it further once
//! the review service reports them (issue 4).
//!
//! ```text
//! opened ──SubmitForReview──▶ submitted ──(review returns)──▶ returned_for_supplement
//!                                 ▲                                  │
//!                                 └─────────────Resubmit─────────────┘
//! (screening excluded) ──▶ referred_to_penalty   (closed)
//! ```

use yuetan_platform::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseStatus {
    Opened,
    Submitted,
    ReturnedForSupplement,
    ReferredToPenalty,
}

impl CaseStatus {
    pub const ALL: [CaseStatus; 4] =
        [CaseStatus::Opened, CaseStatus::Submitted, CaseStatus::ReturnedForSupplement, CaseStatus::ReferredToPenalty];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Opened => "opened",
            CaseStatus::Submitted => "submitted",
            CaseStatus::ReturnedForSupplement => "returned_for_supplement",
            CaseStatus::ReferredToPenalty => "referred_to_penalty",
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_start_3_only_an_opened_case_is_submitted_and_only_a_returned_one_resubmitted() {
        assert_eq!(CaseStatus::Opened.submit().unwrap(), CaseStatus::Submitted);
        assert!(matches!(CaseStatus::Submitted.submit(), Err(Error::FailedPrecondition(_))));
        assert!(matches!(CaseStatus::ReferredToPenalty.submit(), Err(Error::FailedPrecondition(_))));
        assert_eq!(CaseStatus::ReturnedForSupplement.resubmit().unwrap(), CaseStatus::Submitted);
        assert!(matches!(CaseStatus::Opened.resubmit(), Err(Error::FailedPrecondition(_))));
        assert!(matches!(CaseStatus::Submitted.resubmit(), Err(Error::FailedPrecondition(_))));
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for s in CaseStatus::ALL {
            assert_eq!(CaseStatus::parse(s.as_str()).unwrap(), s);
        }
    }
}
