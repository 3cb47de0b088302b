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

/// A required text field, trimmed; at most `max` characters.
pub fn required(field: &str, value: &str, max: usize) -> Result<String, Error> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Error::invalid(field, "is required and may not be empty"));
    }
    optional(field, value, max)
}

pub fn optional(field: &str, value: &str, max: usize) -> Result<String, Error> {
    let value = value.trim();
    if value.chars().count() > max {
        return Err(Error::invalid(field, format!("is longer than {max} characters")));
    }
    Ok(value.to_string())
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
}
