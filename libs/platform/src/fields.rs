//! The small value parsers and conversions every service API shares: dates
//! in China Standard Time (R-TIME-3), protobuf dates and timestamps, ids and
//! text fields. Parsers return `INVALID_ARGUMENT` naming the field.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use uuid::Uuid;
use yuetan_proto::common::Date;

use crate::error::Error;

/// China Standard Time (UTC+8), the time of the documents (R-TIME-3).
pub fn cst_date(at: DateTime<Utc>) -> NaiveDate {
    (at + Duration::hours(8)).date_naive()
}

/// The wall-clock time in China Standard Time, for printed documents.
pub fn cst_datetime(at: DateTime<Utc>) -> chrono::NaiveDateTime {
    (at + Duration::hours(8)).naive_utc()
}

/// The end of a deadline day (24:00 China Standard Time) in UTC.
pub fn end_of_cst_day(day: NaiveDate) -> DateTime<Utc> {
    let next = day.succ_opt().unwrap_or(day).and_hms_opt(0, 0, 0).unwrap_or_default();
    DateTime::<Utc>::from_naive_utc_and_offset(next, Utc) - Duration::hours(8)
}

pub fn date(day: NaiveDate) -> Date {
    Date { iso: day.format("%Y-%m-%d").to_string() }
}

pub fn parse_date(field: &str, value: Option<&Date>) -> Result<Option<NaiveDate>, Error> {
    match value {
        None => Ok(None),
        Some(d) if d.iso.is_empty() => Ok(None),
        Some(d) => NaiveDate::parse_from_str(&d.iso, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| Error::invalid(field, format!("{:?} is not a date like 2026-02-12", d.iso))),
    }
}

pub fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: at.timestamp(), nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0) }
}

/// A protobuf timestamp as UTC (absent or out of range: `None`).
pub fn from_timestamp(at: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    at.and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
}

pub fn parse_uuid(field: &str, value: &str) -> Result<Uuid, Error> {
    if value.is_empty() {
        return Err(Error::invalid(field, "is required"));
    }
    Uuid::parse_str(value).map_err(|_| Error::invalid(field, format!("{value:?} is not an id")))
}

/// Refuses a text field that holds a C0 control character other than tab,
/// line feed and carriage return (U+0000 above all: PostgreSQL refuses it
/// in `text`, which would surface as INTERNAL after work was done). Every
/// text field of every RPC passes through here, directly or through
/// [`required`] and [`optional`], before anything is written.
pub fn text<'a>(field: &str, value: &'a str) -> Result<&'a str, Error> {
    if let Some((at, c)) = value.chars().enumerate().find(|(_, c)| is_forbidden_control(*c)) {
        return Err(Error::invalid(field, format!("holds the control character U+{:04X} at position {}", c as u32, at + 1)));
    }
    Ok(value)
}

fn is_forbidden_control(c: char) -> bool {
    c < '\u{20}' && !matches!(c, '\t' | '\n' | '\r')
}

/// Characters that print nothing: Unicode format characters (general
/// category Cf: zero-width space, ZWNJ, ZWJ, word joiner, BOM, bidi marks,
/// soft hyphen, tag characters, …), plus the combining grapheme joiner,
/// variation selectors and Hangul fillers, which render as nothing on
/// their own. Whitespace is handled by `char::is_whitespace`.
pub fn is_invisible(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180E | 0x3164 | 0xFEFF | 0xFFA0
        | 0x0600..=0x0605 | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2 | 0x180B..=0x180D | 0x180F
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F
        | 0xFE00..=0xFE0F | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F
        | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F | 0xE0100..=0xE01EF)
}

/// Whether the text shows at least one character: something other than
/// whitespace, invisible characters ([`is_invisible`]) and control characters.
pub fn has_visible(value: &str) -> bool {
    value.chars().any(|c| !c.is_whitespace() && !is_invisible(c) && !c.is_control())
}

/// Trims Unicode whitespace and invisible characters from both ends.
fn trim_text(value: &str) -> &str {
    value.trim_matches(|c: char| c.is_whitespace() || is_invisible(c))
}

/// A required text field (names, titles, facts, …), trimmed: no control
/// characters, at least one visible character, at most `max` characters.
pub fn required(field: &str, value: &str, max: usize) -> Result<String, Error> {
    let value = optional(field, value, max)?;
    if value.is_empty() {
        return Err(Error::invalid(field, "is required and may not be empty"));
    }
    if !has_visible(&value) {
        return Err(Error::invalid(field, "is required and holds no visible character"));
    }
    Ok(value)
}

/// An optional text field (phone, address, e-mail, comments, …), trimmed of
/// whitespace and invisible characters at both ends: no control
/// characters, at most `max` characters (the length is checked in bytes
/// first, so an oversize value is refused without walking it).
pub fn optional(field: &str, value: &str, max: usize) -> Result<String, Error> {
    if value.len() > max.saturating_mul(4).saturating_add(64) {
        return Err(Error::invalid(field, format!("is longer than {max} characters")));
    }
    text(field, value)?;
    let value = trim_text(value);
    if value.chars().count() > max {
        return Err(Error::invalid(field, format!("is longer than {max} characters")));
    }
    Ok(value.to_string())
}

/// A SHA-256 as the object store names it: 64 lowercase hex characters.
pub fn sha256(field: &str, value: &str) -> Result<String, Error> {
    if value.len() != 64 || !value.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
        return Err(Error::invalid(field, "must be 64 lowercase hex characters (a SHA-256)"));
    }
    Ok(value.to_string())
}

/// Refuses a repeated field with more than `max` entries, before any of
/// them is looked at.
pub fn at_most<T>(field: &str, items: &[T], max: usize) -> Result<(), Error> {
    if items.len() > max {
        return Err(Error::invalid(field, format!("has {} entries; at most {max}", items.len())));
    }
    Ok(())
}

/// A list call's page size: 1..=200, 0 meaning 50.
pub fn page_size(value: u32) -> Result<i64, Error> {
    match value {
        0 => Ok(50),
        n @ 1..=200 => Ok(i64::from(n)),
        _ => Err(Error::invalid("page_size", "at most 200")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_time_3_dates_are_china_standard_time_and_a_deadline_runs_to_2400() {
        let late_evening_utc = DateTime::parse_from_rfc3339("2026-02-12T17:30:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(cst_date(late_evening_utc), NaiveDate::from_ymd_opt(2026, 2, 13).unwrap());
        let end = end_of_cst_day(NaiveDate::from_ymd_opt(2026, 2, 24).unwrap());
        assert_eq!(end.to_rfc3339(), "2026-02-24T16:00:00+00:00");
        assert_eq!(from_timestamp(Some(&timestamp(end))), Some(end));
    }

    #[test]
    fn parsers_name_the_field() {
        assert!(parse_uuid("clue_id", "nope").unwrap_err().to_string().contains("`clue_id`"));
        assert!(required("facts", "  ", 10).unwrap_err().to_string().contains("`facts`"));
        let bad = Date { iso: "2026/02/12".into() };
        assert!(parse_date("received_on", Some(&bad)).unwrap_err().to_string().contains("`received_on`"));
    }

    #[test]
    fn a_nul_or_other_control_character_is_refused_naming_the_field() {
        for bad in ["测试\u{0}公司", "事实\u{0}", "\u{1}", "a\u{1b}[31m", "\u{7}x"] {
            let err = required("party.name", bad, 200).unwrap_err();
            assert!(matches!(err, Error::InvalidArgument { ref field, .. } if field == "party.name"), "{bad:?}: {err}");
            let err = optional("party.address", bad, 300).unwrap_err();
            assert!(err.to_string().contains("`party.address`"), "{bad:?}: {err}");
            assert!(text("filter", bad).is_err());
        }
        assert_eq!(required("facts", "第一行\n第二行\t\r\n", 100).unwrap(), "第一行\n第二行");
        assert_eq!(text("x", "tab\there").unwrap(), "tab\there");
    }

    #[test]
    fn required_text_of_only_invisible_characters_is_refused() {
        for invisible in ["\u{200b}\u{200d}\u{feff}", "\u{200c}", "\u{2060}\u{3000} ", "\u{00ad}\u{202e}", "\u{e0041}"] {
            let err = required("party.name", invisible, 200).unwrap_err();
            assert!(err.to_string().contains("`party.name`"), "{invisible:?}: {err}");
            assert!(!has_visible(invisible));
        }
        assert_eq!(required("party.name", "\u{feff} 兰州某公司\u{200b} ", 200).unwrap(), "兰州某公司");
        assert!(has_visible("a\u{200d}b"));
        assert_eq!(optional("phone", "\u{200b}", 20).unwrap(), "");
    }

    #[test]
    fn oversize_text_and_lists_are_refused_before_any_work() {
        let huge = "x".repeat(10_000);
        assert!(optional("address", &huge, 300).unwrap_err().to_string().contains("longer than 300"));
        assert!(required("name", &"字".repeat(201), 200).is_err());
        assert_eq!(required("name", &"字".repeat(200), 200).unwrap().chars().count(), 200);
        let many = vec![String::new(); 40_000];
        let err = at_most("co_departments", &many, 50).unwrap_err();
        assert!(err.to_string().contains("`co_departments`") && err.to_string().contains("40000"), "{err}");
        assert!(at_most("co_departments", &many[..50], 50).is_ok());
    }
}
