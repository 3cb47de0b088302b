//! The interview's pure rules: R-INT-3 (the steps, the rectification items
//! and their deadline), R-INT-4 (who signs; the party's refusal needs two or
//! more witnesses; the record is due 5 working days after the interview).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use yuetan_calendar::Calendar;

/// R-INT-3 (4): a rectification deadline is normally no more than 30 days.
pub const MAX_ITEM_DAYS: i64 = 30;
/// R-INT-4: the record reaches the office within 5 working days.
pub const RECORD_WORKING_DAYS: u32 = 5;
/// R-INT-4: a refusal to sign needs two or more witnesses.
pub const MIN_WITNESSES: usize = 2;

/// An agreed rectification item, as validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub content: String,
    pub deadline: NaiveDate,
    pub acceptance_standard: String,
    pub check_method: String,
    /// The section chief who approved a deadline beyond 30 days, and why.
    pub approved_by: String,
    pub approval_reason: String,
}

/// R-INT-3 (4): every item has content, an acceptance standard and a
/// deadline after the interview day and at most 30 days after it, unless
/// the section chief approved a longer one with a reason. `Err` names the
/// item's field.
pub fn check_items(items: &[Item], interview_day: NaiveDate) -> Result<(), (String, String)> {
    if items.is_empty() {
        return Err(("items".into(), "at least one rectification item is agreed (R-INT-3)".into()));
    }
    for (i, item) in items.iter().enumerate() {
        let field = |f: &str| format!("items[{i}].{f}");
        if item.deadline <= interview_day {
            return Err((field("deadline"), format!("must be after the interview day {interview_day}")));
        }
        let days = (item.deadline - interview_day).num_days();
        if days > MAX_ITEM_DAYS && (item.approved_by.is_empty() || item.approval_reason.is_empty()) {
            return Err((
                field("deadline"),
                format!("{days} days after the interview; more than {MAX_ITEM_DAYS} days needs the section chief's approval with a reason (R-INT-3)"),
            ));
        }
    }
    Ok(())
}

/// R-INT-4: the day the record is due, 5 working days after the interview.
pub fn record_due(calendar: &Calendar, interview_day: NaiveDate) -> Result<NaiveDate, String> {
    calendar.add_working_days(interview_day, RECORD_WORKING_DAYS).map(|a| a.value).map_err(|e| e.to_string())
}

/// Who must sign a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signer {
    /// Officer id, or "party".
    pub signer: String,
    pub name: String,
    /// 约谈人, 记录人, 联合约谈部门, 当事人.
    pub role: String,
}

pub const PARTY: &str = "party";

/// What is on the record so far.
#[derive(Debug, Clone, Default)]
pub struct Signed {
    /// Signers (officer ids, "party") who signed.
    pub signers: Vec<String>,
    pub party_refused: bool,
    pub witnesses: usize,
}

/// R-INT-4: who still has to sign. The party signs, or refuses and then two
/// or more witnesses sign.
pub fn missing_signatures(required: &[Signer], signed: &Signed) -> Vec<String> {
    let mut missing = Vec::new();
    for r in required {
        if r.signer == PARTY {
            if signed.party_refused {
                if signed.witnesses < MIN_WITNESSES {
                    missing.push(format!("witnesses ({} of at least {MIN_WITNESSES}: the party refused to sign, R-INT-4)", signed.witnesses));
                }
            } else if !signed.signers.iter().any(|s| s == PARTY) {
                missing.push(format!("{PARTY} ({})", r.name));
            }
        } else if !signed.signers.contains(&r.signer) {
            missing.push(format!("{} ({}, {})", r.signer, r.name, r.role));
        }
    }
    missing
}

/// The text an officer's electronic signature covers: the record's content
/// hash, the signer and the time (so a signature cannot be moved to another
/// record, person or moment).
pub fn signature_message(content_sha256: &str, signer: &str, signed_at: &str) -> String {
    format!("{content_sha256}\n{signer}\n{signed_at}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use yuetan_calendar::Calendar;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn item(deadline: &str) -> Item {
        Item { content: "整改".into(), deadline: d(deadline), acceptance_standard: "合格".into(), check_method: "书面审查".into(), approved_by: String::new(), approval_reason: String::new() }
    }

    #[test]
    fn r_int_3_a_deadline_of_31_days_needs_the_chiefs_approval_and_30_does_not() {
        let day = d("2026-05-11");
        assert!(check_items(&[item("2026-06-10")], day).is_ok(), "30 days");
        let (field, why) = check_items(&[item("2026-06-10"), item("2026-06-11")], day).unwrap_err();
        assert_eq!(field, "items[1].deadline");
        assert!(why.contains("31 days"), "{why}");
        let mut approved = item("2026-06-11");
        approved.approved_by = "chief".into();
        assert!(check_items(&[approved.clone()], day).is_err(), "approval without a reason");
        approved.approval_reason = "设备更换周期长".into();
        assert!(check_items(&[approved], day).is_ok());
        assert_eq!(check_items(&[item("2026-05-11")], day).unwrap_err().0, "items[0].deadline");
        assert_eq!(check_items(&[], day).unwrap_err().0, "items");
    }

    #[test]
    fn r_int_4_record_due_five_working_days_after_an_interview_on_2026_04_30_is_2026_05_11() {
        let calendar = Calendar::builtin();
        assert_eq!(record_due(&calendar, d("2026-04-30")).unwrap(), d("2026-05-11"));
    }

    #[test]
    fn r_int_4_a_refusing_party_needs_two_witnesses() {
        let required = vec![
            Signer { signer: "o1".into(), name: "甲".into(), role: "约谈人".into() },
            Signer { signer: PARTY.into(), name: "某公司".into(), role: "当事人".into() },
        ];
        let mut signed = Signed { signers: vec!["o1".into()], ..Signed::default() };
        assert_eq!(missing_signatures(&required, &signed).len(), 1, "the party has not signed");
        signed.party_refused = true;
        signed.witnesses = 1;
        assert!(missing_signatures(&required, &signed)[0].contains("witnesses"));
        signed.witnesses = 2;
        assert!(missing_signatures(&required, &signed).is_empty());
        signed.signers.clear();
        assert_eq!(missing_signatures(&required, &signed).len(), 1, "the interviewer still signs");
    }
}
