//! Rectification's pure rules: R-RECT-3 (the report is due 3 working days
//! before the deadline), R-RECT-4 (acceptance within 5 working days, by at
//! least two distinct officers: complete, lawful, goal reached), the
//! follow-up cadence (R-RECT-2).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use yuetan_calendar::Calendar;

/// R-RECT-3: the report no later than 3 working days before the deadline.
pub const REPORT_WORKING_DAYS_BEFORE: u32 = 3;
/// R-RECT-4: acceptance within 5 working days of the report.
pub const ACCEPTANCE_WORKING_DAYS: u32 = 5;
/// R-RECT-4: at least two officers.
pub const MIN_ACCEPTANCE_OFFICERS: usize = 2;
/// R-RECT-2: a follow-up every 7 days unless the chief sets another cadence.
pub const DEFAULT_CADENCE_DAYS: u32 = 7;

/// An agreed item (from scheduling.interview_held).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub item_no: u32,
    pub content: String,
    pub deadline: NaiveDate,
    pub acceptance_standard: String,
    pub check_method: String,
}

/// The day `n` working days before `deadline` (R-RECT-3): counting back,
/// the n-th working day before it ([`Calendar::working_days_before`]).
pub fn working_days_before(calendar: &Calendar, deadline: NaiveDate, n: u32) -> Result<NaiveDate, String> {
    calendar.working_days_before(deadline, n).map(|a| a.value).map_err(|e| e.to_string())
}

/// R-RECT-3: the day the report is due for this deadline.
pub fn report_due(calendar: &Calendar, deadline: NaiveDate) -> Result<NaiveDate, String> {
    working_days_before(calendar, deadline, REPORT_WORKING_DAYS_BEFORE)
}

/// A report received on `received_on` is late after the due day.
pub fn report_is_late(received_on: NaiveDate, due: NaiveDate) -> bool {
    received_on > due
}

/// R-RECT-4: the day acceptance is due after a report on `received_on`.
pub fn acceptance_due(calendar: &Calendar, received_on: NaiveDate) -> Result<NaiveDate, String> {
    calendar.add_working_days(received_on, ACCEPTANCE_WORKING_DAYS).map(|a| a.value).map_err(|e| e.to_string())
}

/// One officer's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub officer_id: String,
    pub complete: bool,
    pub lawful: bool,
    pub goal_reached: bool,
}

impl Answer {
    pub fn passes(&self) -> bool {
        self.complete && self.lawful && self.goal_reached
    }
}

/// The acceptance's outcome so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Fewer than two distinct officers have answered.
    Pending,
    Passed,
    Failed,
}

/// R-RECT-4: decided once two distinct officers answered; passed only if
/// every answer passes. (Answers are one per officer: the same officer
/// twice counts once.)
pub fn outcome(answers: &[Answer]) -> Outcome {
    let mut officers: Vec<&str> = answers.iter().map(|a| a.officer_id.as_str()).collect();
    officers.sort_unstable();
    officers.dedup();
    if officers.len() < MIN_ACCEPTANCE_OFFICERS {
        return Outcome::Pending;
    }
    if answers.iter().all(Answer::passes) {
        Outcome::Passed
    } else {
        Outcome::Failed
    }
}

/// The overall deadline: the latest item's.
pub fn deadline(items: &[Item]) -> Option<NaiveDate> {
    items.iter().map(|i| i.deadline).max()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn r_rect_3_a_deadline_on_monday_2026_10_12_makes_the_report_due_on_2026_10_08_across_the_make_up_saturday() {
        let calendar = Calendar::builtin();
        let due = report_due(&calendar, d("2026-10-12")).unwrap();
        assert_eq!(due, d("2026-10-08"));
        assert!(!report_is_late(d("2026-10-08"), due));
        assert!(report_is_late(d("2026-10-09"), due));
    }

    #[test]
    fn r_rect_4_acceptance_needs_two_distinct_officers_and_every_answer_passing() {
        let yes = |o: &str| Answer { officer_id: o.into(), complete: true, lawful: true, goal_reached: true };
        assert_eq!(outcome(&[yes("a")]), Outcome::Pending);
        assert_eq!(outcome(&[yes("a"), yes("a")]), Outcome::Pending, "the same officer twice counts once");
        assert_eq!(outcome(&[yes("a"), yes("b")]), Outcome::Passed);
        let no = Answer { goal_reached: false, ..yes("b") };
        assert_eq!(outcome(&[yes("a"), no]), Outcome::Failed);
    }

    #[test]
    fn r_rect_4_acceptance_is_due_five_working_days_after_the_report() {
        let calendar = Calendar::builtin();
        // Friday 2026-10-09 + 5 working days: Sat 10-10 is a make-up workday.
        let due = acceptance_due(&calendar, d("2026-10-09")).unwrap();
        assert_eq!(due, d("2026-10-15"));
    }
}
