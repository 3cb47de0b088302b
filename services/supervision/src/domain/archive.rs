//! The archive's pure rules (R-DOC-3, R-DOC-4).
//!
//! - **R-DOC-3.** The electronic file is due 10 working days after the
//!   file closes; the paper file within 30 days.
//! - **R-DOC-4.** Retention: ordinary 5 years, major 10, people's
//!   livelihood permanently (the longest class a case falls under wins: a
//!   major case about livelihood is kept permanently). Destruction only
//!   after the retention period, with the leading group's approval (at
//!   least three attendees) and at least three supervising officers.
//! - **R-RELIEF-2.** A case ever under relief is never destroyed (checked
//!   by the caller against the reliefs).

use chrono::{Duration, Months, NaiveDate};
use yuetan_calendar::Calendar;

/// R-DOC-3: the electronic archive within this many working days of closing.
pub const ARCHIVE_WORKING_DAYS: u32 = 10;
/// R-DOC-3: the paper archive within this many days of closing.
pub const PAPER_DAYS: i64 = 30;
/// R-DOC-4: the leading group's meeting has at least this many attendees.
pub const MIN_ATTENDEES: usize = 3;
/// R-DOC-4: at least this many officers supervise a destruction.
pub const MIN_SUPERVISORS: usize = 3;

pub const CLOSED: &str = "closed";
pub const ARCHIVED: &str = "archived";
pub const DESTROYED: &str = "destroyed";

/// R-DOC-4's retention classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    Ordinary,
    Major,
    Livelihood,
}

impl Retention {
    pub fn as_str(self) -> &'static str {
        match self {
            Retention::Ordinary => "ordinary",
            Retention::Major => "major",
            Retention::Livelihood => "livelihood",
        }
    }

    pub fn from_name(name: &str) -> Option<Retention> {
        match name {
            "ordinary" => Some(Retention::Ordinary),
            "major" => Some(Retention::Major),
            "livelihood" => Some(Retention::Livelihood),
            _ => None,
        }
    }

    /// Years kept; `None`: permanently.
    pub fn years(self) -> Option<u32> {
        match self {
            Retention::Ordinary => Some(5),
            Retention::Major => Some(10),
            Retention::Livelihood => None,
        }
    }

    /// The last day of retention (`None`: kept permanently).
    pub fn retain_until(self, closed_on: NaiveDate) -> Option<NaiveDate> {
        self.years().and_then(|y| closed_on.checked_add_months(Months::new(12 * y)))
    }
}

/// R-DOC-4: the class of a file — livelihood when its violation type (or
/// its section) is one of the configured livelihood types, else major for
/// a major case, else ordinary.
pub fn retention(major: bool, violation_type: &str, section: &str, livelihood: &[String]) -> Retention {
    let is = |v: &str| !v.is_empty() && livelihood.iter().any(|l| l == v);
    if is(violation_type) || is(section) {
        Retention::Livelihood
    } else if major {
        Retention::Major
    } else {
        Retention::Ordinary
    }
}

/// R-DOC-3: the electronic archive's due day, 10 working days after closing.
pub fn archive_due(calendar: &Calendar, closed_on: NaiveDate) -> Result<NaiveDate, String> {
    calendar.add_working_days(closed_on, ARCHIVE_WORKING_DAYS).map(|a| a.value).map_err(|e| e.to_string())
}

/// R-DOC-3: a paper archive recorded on `archived_on` is timely within 30 days of closing.
pub fn paper_timely(closed_on: NaiveDate, archived_on: NaiveDate) -> bool {
    archived_on <= closed_on + Duration::days(PAPER_DAYS)
}

/// R-DOC-4: whether the retention period has run on `today` (refusal text if not).
pub fn retention_passed(class: Retention, retain_until: Option<NaiveDate>, today: NaiveDate) -> Result<(), String> {
    match (class, retain_until) {
        (Retention::Livelihood, _) | (_, None) => Err("a file about people's livelihood is kept permanently (R-DOC-4)".into()),
        (_, Some(until)) if today <= until => Err(format!("the {} retention period runs until {until} (R-DOC-4)", class.as_str())),
        _ => Ok(()),
    }
}

/// At least `min` distinct, non-empty officer ids (trimmed), in the order given.
pub fn distinct_people(ids: &[String], min: usize) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for id in ids {
        let id = id.trim();
        if id.is_empty() {
            return Err("an empty officer id".into());
        }
        if !out.iter().any(|o| o == id) {
            out.push(id.to_string());
        }
    }
    if out.len() < min {
        return Err(format!("at least {min} different officers (R-DOC-4), got {}", out.len()));
    }
    Ok(out)
}

/// Whether `s` is a lowercase hex SHA-256.
pub fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A recording as scheduling names it, `"path (sha256 <hex>)"`: its path
/// and SHA-256 (`None` without a SHA-256).
pub fn recording(s: &str) -> Option<(String, String)> {
    let sha = s.split(|c: char| !c.is_ascii_hexdigit()).rev().find(|t| is_sha256(t))?;
    let path = match s.find(" (") {
        Some(i) => s[..i].trim().to_string(),
        None => String::new(),
    };
    Some((path, sha.to_string()))
}

/// The extension of a file by its first bytes (documents are PDFs).
pub fn extension(bytes: &[u8]) -> &'static str {
    const KINDS: &[(&[u8], &str)] = &[
        (b"%PDF", ".pdf"),
        (b"\x89PNG", ".png"),
        (b"\xFF\xD8\xFF", ".jpg"),
        (b"PK\x03\x04", ".zip"),
        (b"RIFF", ".wav"),
        (b"ID3", ".mp3"),
        (b"OggS", ".ogg"),
        (b"\x1A\x45\xDF\xA3", ".webm"),
    ];
    if bytes.len() > 8 && &bytes[4..8] == b"ftyp" {
        return ".mp4";
    }
    KINDS.iter().find(|(magic, _)| bytes.starts_with(magic)).map_or(".bin", |(_, ext)| ext)
}

/// The name of the `seq`th document inside the archive, e.g. `documents/03-interview-notice.pdf`.
pub fn entry_name(seq: usize, kind: &str, ext: &str) -> String {
    let kind: String = kind.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    format!("documents/{seq:02}-{kind}{ext}")
}

/// The document list's and the timeline's names inside the archive.
pub const DOCUMENT_LIST_NAME: &str = "document-list.pdf";
pub const TIMELINE_NAME: &str = "timeline.json";
/// The destruction record's name (it and the manifest stay forever).
pub const DESTRUCTION_RECORD_NAME: &str = "destruction-record.json";

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn r_doc_3_archive_due_is_ten_working_days_after_closing() {
        let calendar = Calendar::builtin();
        // Closed Wednesday 2026-09-30; National Day 10-01..10-07 is not
        // counted, Saturday 10-10 is a working day: 10-08, 09, 10, 12, 13,
        // 14, 15, 16, 19, 20.
        assert_eq!(archive_due(&calendar, d("2026-09-30")).unwrap(), d("2026-10-20"));
        // An ordinary fortnight: Monday 2026-06-01 → Monday 06-15 (no holiday).
        assert_eq!(archive_due(&calendar, d("2026-06-01")).unwrap(), d("2026-06-15"));
    }

    #[test]
    fn r_doc_3_paper_archive_within_thirty_days() {
        assert!(paper_timely(d("2026-09-30"), d("2026-10-30")));
        assert!(!paper_timely(d("2026-09-30"), d("2026-10-31")));
    }

    #[test]
    fn r_doc_4_retention_ordinary_five_years_major_ten_livelihood_permanent() {
        let livelihood = vec!["SJ-FOOD-SAFETY".to_string()];
        let closed = d("2026-09-30");
        let ordinary = retention(false, "SJ-ANNUAL-REPORT", "registration", &livelihood);
        assert_eq!(ordinary, Retention::Ordinary);
        assert_eq!(ordinary.retain_until(closed), Some(d("2031-09-30")));
        let major = retention(true, "SJ-ANNUAL-REPORT", "registration", &livelihood);
        assert_eq!(major, Retention::Major);
        assert_eq!(major.retain_until(closed), Some(d("2036-09-30")));
        let food = retention(false, "SJ-FOOD-SAFETY", "registration", &livelihood);
        assert_eq!(food, Retention::Livelihood);
        assert_eq!(food.retain_until(closed), None);
        assert_eq!(retention(true, "SJ-FOOD-SAFETY", "", &livelihood), Retention::Livelihood, "a major livelihood case is kept permanently");
        assert_eq!(retention(false, "", "SJ-FOOD-SAFETY", &livelihood), Retention::Livelihood, "a section named as livelihood");
        assert_eq!(retention(false, "", "", &livelihood), Retention::Ordinary);
        // A leap day closes into 28 February.
        assert_eq!(Retention::Ordinary.retain_until(d("2028-02-29")), Some(d("2033-02-28")));
    }

    #[test]
    fn r_doc_4_retention_must_have_run_before_destruction() {
        let until = Retention::Ordinary.retain_until(d("2026-09-30"));
        assert!(retention_passed(Retention::Ordinary, until, d("2031-09-30")).is_err(), "the last day of retention is still kept");
        assert!(retention_passed(Retention::Ordinary, until, d("2031-10-01")).is_ok());
        assert!(retention_passed(Retention::Livelihood, None, d("2099-01-01")).unwrap_err().contains("permanently"));
    }

    #[test]
    fn r_doc_4_at_least_three_different_people() {
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(distinct_people(&ids(&["a", "b"]), MIN_SUPERVISORS).is_err());
        assert!(distinct_people(&ids(&["a", "b", " a "]), MIN_SUPERVISORS).is_err(), "the same officer twice counts once");
        assert!(distinct_people(&ids(&["a", "b", ""]), MIN_SUPERVISORS).is_err());
        assert_eq!(distinct_people(&ids(&["a", "b", "c"]), MIN_SUPERVISORS).unwrap(), ids(&["a", "b", "c"]));
    }

    #[test]
    fn recordings_names_and_extensions() {
        let sha = "ab".repeat(32);
        assert_eq!(recording(&format!("/rec/room-1.webm (sha256 {sha})")), Some(("/rec/room-1.webm".into(), sha.clone())));
        assert_eq!(recording(&format!(" (sha256 {sha})")), Some((String::new(), sha.clone())));
        assert_eq!(recording("/rec/room-1.webm"), None);
        assert_eq!(entry_name(3, "interview_notice", ".pdf"), "documents/03-interview-notice.pdf");
        assert_eq!(extension(b"%PDF-1.7 ..."), ".pdf");
        assert_eq!(extension(b"hello"), ".bin");
    }
}
