//! The intake system's own record: the decided cases a party could challenge
//! (from the platform's events) and the applications it received. One JSON
//! file, `<data>/intake.json`, replaced atomically (a temporary file, synced,
//! then renamed over the old one), so a crash leaves the old or the new
//! book, never half of one.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use yuetan_calendar::Calendar;

/// ARL 2023 art. 20: a party applies within 60 days of knowing of the act.
pub const APPLICATION_DAYS: u32 = 60;

/// The file's name inside the data folder.
pub const FILE: &str = "intake.json";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Book {
    /// By key: the case id, or the clue id of a file closed before it became a case.
    pub cases: BTreeMap<String, Case>,
    /// By relief id.
    pub applications: BTreeMap<String, Application>,
}

/// A decided case, as the platform's events told it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    /// Empty for a clue excluded before it became a case.
    pub case_id: String,
    /// The platform's file id (the clue id).
    pub file_id: String,
    pub number: String,
    pub division: String,
    /// The organ that decided (the respondent of a reconsideration).
    pub organ: String,
    /// accepted, penalty, excluded, rejected, denied, refused, transferred.
    pub outcome: String,
    pub closed_on: NaiveDate,
    /// The last day to apply: `closed_on` + 60 days, moved to the next
    /// working day when it falls on a day off (R-TIME-2).
    pub apply_until: NaiveDate,
    /// The holiday data of that year is not published yet: recompute later.
    #[serde(default)]
    pub apply_until_provisional: bool,
    #[serde(default)]
    pub archive: Option<Archive>,
    /// What the platform said when it marked the case under relief.
    #[serde(default)]
    pub relief: Vec<Mark>,
}

impl Case {
    /// The key the platform's export API takes.
    pub fn key(&self) -> &str {
        if self.case_id.is_empty() {
            &self.file_id
        } else {
            &self.case_id
        }
    }

    /// Whether a party applying on `day` is within the window.
    pub fn open_on(&self, day: NaiveDate) -> bool {
        day <= self.apply_until
    }
}

/// `supervision.case_archived`: the electronic file is assembled and signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Archive {
    pub manifest_sha256: String,
    pub documents: u32,
    pub key_id: String,
    pub archived_on: Option<NaiveDate>,
}

/// `supervision.relief_marked`: the platform marked the case under relief.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    pub relief_id: String,
    pub kind: String,
    pub source: String,
    pub received_on: Option<NaiveDate>,
    /// The organ's reply deadline (10 working days for a reconsideration).
    pub reply_due: Option<NaiveDate>,
}

/// An application this system received and told the platform of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    pub relief_id: String,
    /// The envelope id it was published with (kept: a retry republishes the
    /// same event, which JetStream deduplicates).
    pub event_id: String,
    /// The case's key.
    pub case: String,
    /// The applicant stays here: the event does not carry the name.
    pub applicant: String,
    pub applied_on: NaiveDate,
    pub received_on: NaiveDate,
    pub body: String,
    pub occurred_at: DateTime<Utc>,
    /// Set once JetStream acknowledged the publication.
    pub published: bool,
}

/// The last day to apply for reconsideration of an act known on `closed_on`
/// (ARL 2023 art. 20; calendar days, a last day off moved to the next
/// working day), and whether it rests on a provisional year.
pub fn apply_until(calendar: &Calendar, closed_on: NaiveDate) -> anyhow::Result<(NaiveDate, bool)> {
    let answer = calendar
        .calendar_day_deadline(closed_on, APPLICATION_DAYS)
        .with_context(|| format!("the 60-day window from {closed_on}"))?;
    Ok((answer.value, answer.provisional))
}

impl Book {
    /// The book in `data`, or an empty one if there is none yet.
    pub fn load(data: &Path) -> anyhow::Result<Book> {
        let path = data.join(FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| format!("reading {}", path.display())),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Book::default()),
            Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Writes the book atomically: temporary file, fsync, rename, fsync of the folder.
    pub fn save(&self, data: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
        let path = data.join(FILE);
        let temporary: PathBuf = data.join(format!("{FILE}.tmp"));
        let bytes = serde_json::to_vec_pretty(self)?;
        {
            let mut file = std::fs::File::create(&temporary).with_context(|| format!("writing {}", temporary.display()))?;
            file.write_all(&bytes)?;
            file.sync_all()?;
        }
        std::fs::rename(&temporary, &path).with_context(|| format!("replacing {}", path.display()))?;
        if let Ok(folder) = std::fs::File::open(data) {
            // The rename itself durable (POSIX); not possible on every platform.
            let _ = folder.sync_all();
        }
        Ok(())
    }

    /// The case with this case id, clue id or document number.
    pub fn find(&self, wanted: &str) -> Option<&Case> {
        self.cases.get(wanted).or_else(|| self.cases.values().find(|c| c.file_id == wanted || c.case_id == wanted || (!c.number.is_empty() && c.number == wanted)))
    }

    /// Cases by closing day, then number.
    pub fn cases_in_order(&self) -> Vec<&Case> {
        let mut cases: Vec<&Case> = self.cases.values().collect();
        cases.sort_by(|a, b| (a.closed_on, &a.number, a.key()).cmp(&(b.closed_on, &b.number, b.key())));
        cases
    }
}

/// `list`: one line per case — number, outcome, closed on, apply until
/// (marked `passed` once the window closed on `today`), archived, relief —
/// and under it the id the other commands take.
pub fn table(book: &Book, today: NaiveDate) -> String {
    let mut out = String::new();
    let header = ["number", "outcome", "closed on", "apply until", "archived", "relief"].map(String::from);
    out.push_str(&row(&header));
    for case in book.cases_in_order() {
        let number = if case.number.is_empty() { case.key() } else { &case.number };
        let until = format!(
            "{}{}",
            case.apply_until,
            if !case.open_on(today) {
                " passed"
            } else if case.apply_until_provisional {
                " prov."
            } else {
                ""
            }
        );
        let archived = if case.archive.is_some() { "yes" } else { "no" };
        let relief = case
            .relief
            .iter()
            .map(|m| format!("{} {}, reply due {}", m.kind, m.relief_id, m.reply_due.map(|d| d.to_string()).unwrap_or_else(|| "?".into())))
            .collect::<Vec<_>>()
            .join("; ");
        out.push_str(&row(&[number.to_string(), case.outcome.clone(), case.closed_on.to_string(), until, archived.to_string(), relief]));
        out.push_str(&format!("  {}\n", case.key()));
    }
    if book.cases.is_empty() {
        out.push_str("(no decided case yet: run `sync`)\n");
    }
    out
}

/// Columns of 26, 10, 10, 17 and 8 terminal cells (a CJK character takes two).
fn row(cells: &[String; 6]) -> String {
    let widths: [usize; 5] = [26, 10, 10, 17, 8];
    let mut line = String::new();
    for (cell, width) in cells.iter().zip(widths) {
        line.push_str(cell);
        line.push_str(&" ".repeat(width.saturating_sub(cells_of(cell)) + 1));
    }
    line.push_str(&cells[5]);
    format!("{}\n", line.trim_end())
}

fn cells_of(text: &str) -> usize {
    text.chars().map(|c| if matches!(c as u32, 0x1100..=0x115F | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6) { 2 } else { 1 }).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn r_relief_1_the_window_is_60_calendar_days_moved_off_a_day_off() {
        let calendar = Calendar::builtin();
        // 2026-11-02 + 60 = 2027-01-01, New Year's Day: moved to the next working day.
        let (until, _) = apply_until(&calendar, day("2026-11-02")).unwrap();
        assert!(until > day("2027-01-01"), "{until}");
        assert!(calendar.is_working_day(until).unwrap().value);
        // 2026-09-01 + 60 = 2026-10-31, a Saturday (no make-up workday that day): Monday 11-02.
        let (until, provisional) = apply_until(&calendar, day("2026-09-01")).unwrap();
        assert_eq!(until, day("2026-11-02"));
        assert!(!provisional);
        // 2026-10-05 + 60 = 2026-12-04, a Friday: kept.
        assert_eq!(apply_until(&calendar, day("2026-10-05")).unwrap().0, day("2026-12-04"));
    }

    #[test]
    fn the_book_is_replaced_whole_and_read_back() {
        let folder = tempfile::tempdir().unwrap();
        assert_eq!(Book::load(folder.path()).unwrap(), Book::default());
        let mut book = Book::default();
        book.cases.insert(
            "c1".into(),
            Case {
                case_id: "c1".into(),
                file_id: "f1".into(),
                number: "兰城市监约〔2026〕17号".into(),
                division: "620102".into(),
                organ: "620102-SJ".into(),
                outcome: "accepted".into(),
                closed_on: day("2026-10-05"),
                apply_until: day("2026-12-04"),
                apply_until_provisional: false,
                archive: None,
                relief: Vec::new(),
            },
        );
        book.save(folder.path()).unwrap();
        assert_eq!(Book::load(folder.path()).unwrap(), book);
        assert!(!folder.path().join("intake.json.tmp").exists());
        assert_eq!(book.find("兰城市监约〔2026〕17号").map(|c| c.key()), Some("c1"));
        assert_eq!(book.find("f1").map(|c| c.key()), Some("c1"));
        let table = table(&book, day("2026-12-05"));
        assert!(table.contains("兰城市监约〔2026〕17号     accepted   2026-10-05 2026-12-04 passed no"), "{table}");
    }
}
