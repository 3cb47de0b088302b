//! Relief's pure rules (R-RELIEF-1, R-RELIEF-2).
//!
//! - **Reply deadline.** A reconsideration's respondent replies within 10
//!   working days of receiving the application copy (ARL 2023 arts. 48 and
//!   88: periods in working days), counted from the next day (R-TIME-2). A
//!   lawsuit's defendant answers within 15 days of receiving the complaint
//!   copy (Administrative Litigation Law art. 67): calendar days, the last
//!   one moved to the next working day if it is a day off (R-TIME-2).
//! - **Outcomes.** upheld, revoked, changed, confirmed_unlawful, settled;
//!   the organ lost the case when the act was revoked, changed or
//!   confirmed unlawful (counted on the board, R-SUP-5).

use chrono::NaiveDate;
use sha2::{Digest, Sha256};
use uuid::Uuid;
use yuetan_calendar::Calendar;

pub const RECONSIDERATION: &str = "reconsideration";
pub const LITIGATION: &str = "litigation";
pub const KINDS: &[&str] = &[RECONSIDERATION, LITIGATION];

pub const UPHELD: &str = "upheld";
pub const REVOKED: &str = "revoked";
pub const CHANGED: &str = "changed";
pub const CONFIRMED_UNLAWFUL: &str = "confirmed_unlawful";
pub const SETTLED: &str = "settled";
pub const OUTCOMES: &[&str] = &[UPHELD, REVOKED, CHANGED, CONFIRMED_UNLAWFUL, SETTLED];

/// ARL 2023 arts. 48 and 88: the reply within 10 working days.
pub const RECONSIDERATION_REPLY_WORKING_DAYS: u32 = 10;
/// Administrative Litigation Law art. 67: the defence within 15 days.
pub const LITIGATION_DEFENCE_DAYS: u32 = 15;

/// The card step of the organ's reply (R-SUP-3 colours it).
pub const REPLY_STEP: &str = "relief_reply";

/// Longest relief id, source, body and summary (characters).
pub const MAX_RELIEF_ID: usize = 100;
pub const MAX_SOURCE: usize = 100;
pub const MAX_BODY: usize = 200;
pub const MAX_SUMMARY: usize = 2000;

pub fn is_kind(kind: &str) -> bool {
    KINDS.contains(&kind)
}

pub fn is_outcome(outcome: &str) -> bool {
    OUTCOMES.contains(&outcome)
}

/// The organ lost: the act revoked, changed or confirmed unlawful.
pub fn is_lost(outcome: &str) -> bool {
    matches!(outcome, REVOKED | CHANGED | CONFIRMED_UNLAWFUL)
}

/// R-RELIEF-2: the last day of the organ's reply (reconsideration) or
/// defence (litigation) for a copy received on `received_on`.
pub fn reply_due(calendar: &Calendar, kind: &str, received_on: NaiveDate) -> Result<NaiveDate, String> {
    match kind {
        RECONSIDERATION => calendar.add_working_days(received_on, RECONSIDERATION_REPLY_WORKING_DAYS).map(|a| a.value).map_err(|e| e.to_string()),
        LITIGATION => calendar.calendar_day_deadline(received_on, LITIGATION_DEFENCE_DAYS).map(|a| a.value).map_err(|e| e.to_string()),
        other => Err(format!("relief kind {other:?} is neither {RECONSIDERATION} nor {LITIGATION}")),
    }
}

/// The relief row's id, a function of `(source, relief_id)` only: the same
/// relief told twice (or replayed in a rebuild) has the same id, the
/// subject of its reply card and the key of its overdue timer.
pub fn relief_key(source: &str, relief_id: &str) -> Uuid {
    let digest = Sha256::digest(format!("yuetan-relief\n{}\n{source}{relief_id}", source.len()).as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn r_relief_2_reply_to_an_application_received_on_2026_09_30_is_due_2026_10_20() {
        // LAW.md 2026: Oct 1–7 off, Saturday Oct 10 a working day. From Oct 1:
        // Oct 8, 9, 10 (Sat), 12, 13, 14, 15, 16, 19, 20 → the 10th working day.
        let calendar = Calendar::builtin();
        assert_eq!(reply_due(&calendar, RECONSIDERATION, d("2026-09-30")).unwrap(), d("2026-10-20"));
    }

    #[test]
    fn r_relief_2_a_lawsuit_defence_is_due_15_days_later_moved_past_the_national_day_holiday() {
        let calendar = Calendar::builtin();
        // 2026-09-16 + 15 days = Thursday 2026-10-01, a holiday (Oct 1–7):
        // moved to Thursday 2026-10-08.
        assert_eq!(reply_due(&calendar, LITIGATION, d("2026-09-16")).unwrap(), d("2026-10-08"));
        // An ordinary one: 2026-11-02 + 15 = Tuesday 2026-11-17.
        assert_eq!(reply_due(&calendar, LITIGATION, d("2026-11-02")).unwrap(), d("2026-11-17"));
        assert!(reply_due(&calendar, "mediation", d("2026-11-02")).is_err());
    }

    #[test]
    fn r_relief_2_outcomes_are_named_and_three_of_them_count_as_lost() {
        for o in OUTCOMES {
            assert!(is_outcome(o));
        }
        assert!(!is_outcome("dismissed"));
        assert!(is_lost(REVOKED) && is_lost(CHANGED) && is_lost(CONFIRMED_UNLAWFUL));
        assert!(!is_lost(UPHELD) && !is_lost(SETTLED));
    }

    #[test]
    fn r_sup_5_the_board_counts_reliefs_per_file_closed_outside_the_section_score() {
        use crate::domain::metric::{CLOSED, RELIEF_RECEIVED};
        let with = |reliefs: u64| {
            crate::domain::kpis(|m| match m {
                CLOSED => 10,
                RELIEF_RECEIVED => reliefs,
                _ => 0,
            })
        };
        let (kpis, score) = with(2);
        let k = kpis.iter().find(|k| k.name == "relief_rate").expect("the relief_rate indicator");
        assert_eq!((k.numerator, k.denominator, k.value), (2, 10, Some(0.2)));
        assert_eq!(score, with(0).1, "reliefs do not change the section score");
    }

    #[test]
    fn r_relief_2_the_same_relief_from_the_same_source_has_one_key() {
        assert_eq!(relief_key("gs-fuyi", "FY-1"), relief_key("gs-fuyi", "FY-1"));
        assert_ne!(relief_key("gs-fuyi", "FY-1"), relief_key("court", "FY-1"));
        assert_ne!(relief_key("gs-fuyi\nFY", "1"), relief_key("gs-fuyi", "FY\n1"));
    }
}
