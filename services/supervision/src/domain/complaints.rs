//! Pure rules of complaints against officers (R-SUP-6): the kinds, the
//! investigation that must start within 3 working days of registration,
//! the decision (upheld or dismissed) and the officer's appeal within 5
//! working days of the decision.

use chrono::NaiveDate;
use yuetan_calendar::Calendar;

/// R-SUP-6: abuse, favouritism, leaking trade secrets or privacy, forging
/// records, fake rectification, rude conduct.
pub const KINDS: &[&str] = &["abuse", "favouritism", "leaking_secrets", "forged_record", "fake_rectification", "rude_conduct"];
/// R-SUP-6: the investigation starts within this many working days.
pub const INVESTIGATION_WORKING_DAYS: u32 = 3;
/// R-SUP-6: the officer may appeal within this many working days of the decision.
pub const APPEAL_WORKING_DAYS: u32 = 5;
/// The deadline card of the investigation's start (subject: the complaint id).
pub const INVESTIGATION_STEP: &str = "complaint_investigation";
/// Longest description, reasons and appeal reasons (characters).
pub const MAX_TEXT_CHARS: usize = 2000;

/// Who registered it.
pub const SOURCE_INSPECTOR: &str = "inspector";

/// The statuses, in order.
pub const REGISTERED: &str = "registered";
pub const INVESTIGATING: &str = "investigating";
pub const DECIDED: &str = "decided";
pub const APPEALED: &str = "appealed";
pub const STATUSES: &[&str] = &[REGISTERED, INVESTIGATING, DECIDED, APPEALED, "closed"];

pub const UPHELD: &str = "upheld";
pub const DISMISSED: &str = "dismissed";

pub fn is_kind(kind: &str) -> bool {
    KINDS.contains(&kind)
}

/// The last working day on which the investigation may start (R-SUP-6):
/// 3 working days after the day of registration, which is not counted.
pub fn investigation_deadline(calendar: &Calendar, registered_on: NaiveDate) -> Result<NaiveDate, String> {
    calendar.add_working_days(registered_on, INVESTIGATION_WORKING_DAYS).map(|a| a.value).map_err(|e| e.to_string())
}

/// The last day of the officer's appeal (R-SUP-6): 5 working days after the decision day.
pub fn appeal_deadline(calendar: &Calendar, decided_on: NaiveDate) -> Result<NaiveDate, String> {
    calendar.add_working_days(decided_on, APPEAL_WORKING_DAYS).map(|a| a.value).map_err(|e| e.to_string())
}

/// Whether an appeal on `today` is in time.
pub fn appeal_in_time(today: NaiveDate, deadline: NaiveDate) -> bool {
    today <= deadline
}

/// A status change allowed: registered → investigating → decided → appealed.
pub fn may_move(from: &str, to: &str) -> bool {
    matches!((from, to), (REGISTERED, INVESTIGATING) | (INVESTIGATING, DECIDED) | (DECIDED, APPEALED))
}

/// The status a complaint's facts give, whatever order they were learnt
/// in (a rebuild applies supervision's own events in parallel lanes).
pub fn status_of(started: bool, decided: bool, appealed: bool) -> &'static str {
    if appealed {
        APPEALED
    } else if decided {
        DECIDED
    } else if started {
        INVESTIGATING
    } else {
        REGISTERED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn r_sup_6_the_investigation_starts_within_three_working_days_across_the_weekend() {
        let calendar = Calendar::builtin();
        // Thursday 2026-09-10: Friday, (weekend), Monday, Tuesday.
        assert_eq!(investigation_deadline(&calendar, d("2026-09-10")).unwrap(), d("2026-09-15"));
        // Friday 2026-09-18: Monday 21 … but Sunday 09-20 is a make-up workday.
        assert_eq!(investigation_deadline(&calendar, d("2026-09-18")).unwrap(), d("2026-09-22"));
    }

    #[test]
    fn r_sup_6_an_appeal_is_in_time_until_the_fifth_working_day_after_the_decision() {
        let calendar = Calendar::builtin();
        // Monday 2026-09-07 → Monday 2026-09-14.
        let deadline = appeal_deadline(&calendar, d("2026-09-07")).unwrap();
        assert_eq!(deadline, d("2026-09-14"));
        assert!(appeal_in_time(d("2026-09-14"), deadline));
        assert!(!appeal_in_time(d("2026-09-15"), deadline));
    }

    #[test]
    fn r_sup_6_the_six_kinds_and_the_order_of_statuses() {
        assert_eq!(KINDS.len(), 6);
        assert!(is_kind("leaking_secrets") && !is_kind("other"));
        assert!(may_move(REGISTERED, INVESTIGATING) && may_move(INVESTIGATING, DECIDED) && may_move(DECIDED, APPEALED));
        assert!(!may_move(REGISTERED, DECIDED), "no decision without an investigation");
        assert!(!may_move(APPEALED, APPEALED) && !may_move(DECIDED, DECIDED));
        assert_eq!(status_of(false, true, false), DECIDED, "a decision learnt before the start");
        assert_eq!(status_of(true, true, true), APPEALED);
        assert_eq!(status_of(false, false, false), REGISTERED);
    }
}
