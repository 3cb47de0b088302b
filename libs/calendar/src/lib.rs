//! The working-day calendar (LAW.md §1–2, DOMAIN.md R-TIME-1, R-TIME-2).
//!
//! Working days follow the State Council's yearly holiday notice
//! (国务院办公厅关于YYYY年部分节假日安排的通知): statutory holidays are days off
//! and some weekend days are working days (调休). R-TIME-1 says the schedule is
//! data, not code, so it lives in `data/holidays.toml`, one entry per year
//! citing its notice. That file is built in ([`Calendar::builtin`]) as the
//! default, any other file can be loaded at run time ([`Calendar::load`]), and
//! services hold a [`SharedCalendar`] so operators can swap the data without a
//! rebuild when a new notice is published.
//!
//! A year without a notice is *provisional* (LAW.md §1): weekends are off,
//! plus the fixed-date statutory holidays (Jan 1, May 1–2, Oct 1–3); nothing
//! else is guessed, and every [`Answer`] that touched such a year says so, so
//! that callers can mark the deadline and recompute it once the notice is
//! loaded.
//!
//! Counting (CPL art. 85, LAW.md §2, R-TIME-2): a period starts the day
//! *after* its trigger; "N working days" counts working days; a calendar-day
//! period whose last day is a day off ends on the next working day.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, RwLock};

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use serde::Deserialize;

/// The holiday data built into this release (`data/holidays.toml`), used when
/// no other file is configured. It holds only published notices (LAW.md §1:
/// "never compiled-in guesses").
pub const BUILTIN_DATA: &str = include_str!("../data/holidays.toml");

/// The longest working-day period [`Calendar::add_working_days`] computes:
/// ten years' worth. The statutes count at most 10 working days (LAW.md §2);
/// anything near this limit is a typo or a hostile request, and refusing it
/// keeps every computation short.
pub const MAX_WORKING_DAYS: u32 = 3650;

/// The longest calendar-day period [`Calendar::calendar_day_deadline`]
/// computes: ten years. The longest period in LAW.md is one year (ARL art. 20).
pub const MAX_CALENDAR_DAYS: u32 = 3650;

/// The longest span [`Calendar::working_days_between`] counts over, in
/// calendar days (twenty years). It is longer than any result of
/// `add_working_days(d, MAX_WORKING_DAYS)` (about 14.3 years even with only
/// provisional years), so every period this crate produces can be counted back.
pub const MAX_SPAN_DAYS: u32 = 7305;

/// The first date this crate accepts (dates are written `YYYY-MM-DD`).
pub const MIN_DATE: NaiveDate = match NaiveDate::from_ymd_opt(1, 1, 1) {
    Some(date) => date,
    None => panic!("0001-01-01 is a valid date"),
};

/// The last date this crate accepts or returns: a computation that would go
/// beyond it is an error, never a silent wrap or an endless loop.
pub const MAX_DATE: NaiveDate = match NaiveDate::from_ymd_opt(9999, 12, 31) {
    Some(date) => date,
    None => panic!("9999-12-31 is a valid date"),
};

/// Why holiday data was refused or a computation was not done.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CalendarError {
    /// The holiday data is malformed or inconsistent; the message names the
    /// year and field (or the TOML position) so an operator can fix the file.
    #[error("holiday data: {0}")]
    Data(String),
    /// The holiday data file could not be read.
    #[error("cannot read holiday data {path}: {reason}")]
    Io {
        /// The file that was asked for.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
    /// A working-day period longer than [`MAX_WORKING_DAYS`].
    #[error("period of {0} working days is longer than the {MAX_WORKING_DAYS}-day limit")]
    TooManyWorkingDays(u32),
    /// A calendar-day period longer than [`MAX_CALENDAR_DAYS`].
    #[error("period of {0} calendar days is longer than the {MAX_CALENDAR_DAYS}-day limit")]
    TooManyCalendarDays(u32),
    /// A span of more than [`MAX_SPAN_DAYS`] calendar days to count over.
    #[error("span of {0} days is longer than the {MAX_SPAN_DAYS}-day limit")]
    SpanTooLong(i64),
    /// A date given, or a date the computation would reach, lies outside
    /// [`MIN_DATE`]..=[`MAX_DATE`].
    #[error("date {0} is outside the supported range 0001-01-01 to 9999-12-31")]
    DateOutOfRange(NaiveDate),
}

/// A result plus whether it relied on a provisional year (LAW.md §1): callers
/// must show a provisional deadline as such and recompute it when the year's
/// notice is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer<T> {
    /// The computed value.
    pub value: T,
    /// True if any year the computation touched (including the year of the
    /// returned date) has no published notice in the data.
    pub provisional: bool,
}

/// One year's published notice, as loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YearData {
    /// The calendar year the notice is for.
    pub year: i32,
    /// The notice the data comes from (title and document number), so every
    /// deadline can be traced to its legal source (LAW.md §1).
    pub source: String,
    /// The day the notice was published.
    pub published: NaiveDate,
    /// Every day off the notice lists (ranges expanded).
    pub holidays: BTreeSet<NaiveDate>,
    /// The Saturdays and Sundays the notice makes working days (调休).
    pub working_weekends: BTreeSet<NaiveDate>,
}

/// Working-day arithmetic over a set of published years (R-TIME-1, R-TIME-2).
///
/// Immutable once built; to change the data, build a new one and put it in a
/// [`SharedCalendar`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    years: BTreeMap<i32, YearData>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileData {
    #[serde(default)]
    year: Vec<FileYear>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileYear {
    year: i32,
    source: String,
    published: String,
    #[serde(default)]
    holidays: Vec<FileHoliday>,
    #[serde(default)]
    working_weekends: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileHoliday {
    name: String,
    from: String,
    to: String,
}

fn data_error(year: i32, message: String) -> CalendarError {
    CalendarError::Data(format!("year {year}: {message}"))
}

fn parse_date(year: i32, field: &str, value: &str) -> Result<NaiveDate, CalendarError> {
    match NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        Ok(date) if in_range(date) => Ok(date),
        _ => Err(data_error(year, format!("{field} {value:?} is not a YYYY-MM-DD date"))),
    }
}

fn in_range(date: NaiveDate) -> bool {
    date >= MIN_DATE && date <= MAX_DATE
}

fn check_range(date: NaiveDate) -> Result<NaiveDate, CalendarError> {
    if in_range(date) {
        Ok(date)
    } else {
        Err(CalendarError::DateOutOfRange(date))
    }
}

/// The day after `date`, if it is still within [`MAX_DATE`].
fn next_day(date: NaiveDate) -> Result<NaiveDate, CalendarError> {
    match date.succ_opt() {
        Some(next) => check_range(next),
        None => Err(CalendarError::DateOutOfRange(date)),
    }
}

/// The day before `date`, if it is still within the supported range.
fn previous_day(date: NaiveDate) -> Result<NaiveDate, CalendarError> {
    match date.pred_opt() {
        Some(previous) => check_range(previous),
        None => Err(CalendarError::DateOutOfRange(date)),
    }
}

fn parse_year(entry: FileYear) -> Result<YearData, CalendarError> {
    let year = entry.year;
    if year < MIN_DATE.year() || year > MAX_DATE.year() {
        return Err(CalendarError::Data(format!("year {year}: year must be between 1 and 9999")));
    }
    if entry.source.trim().is_empty() {
        return Err(data_error(year, "source must cite the notice".to_string()));
    }
    let published = parse_date(year, "published", &entry.published)?;

    let mut holidays = BTreeSet::new();
    for holiday in &entry.holidays {
        let name = holiday.name.trim();
        if name.is_empty() {
            return Err(data_error(year, format!("holidays: the entry from {:?} has no name", holiday.from)));
        }
        let from = parse_date(year, &format!("holiday {name} from"), &holiday.from)?;
        let to = parse_date(year, &format!("holiday {name} to"), &holiday.to)?;
        if from > to {
            return Err(data_error(year, format!("holiday {name} ends ({to}) before it starts ({from})")));
        }
        if from.year() != year || to.year() != year {
            return Err(data_error(year, format!("holiday {name} ({from} to {to}) lies outside {year}")));
        }
        let mut day = from;
        while day <= to {
            if !holidays.insert(day) {
                return Err(data_error(year, format!("holiday {name}: {day} is listed in two holidays")));
            }
            day = next_day(day)?;
        }
    }

    let mut working_weekends = BTreeSet::new();
    for value in &entry.working_weekends {
        let day = parse_date(year, "working_weekends", value)?;
        if day.year() != year {
            return Err(data_error(year, format!("working_weekends: {day} lies outside {year}")));
        }
        if !is_weekend(day) {
            return Err(data_error(year, format!("working_weekends: {day} is a {}, not a Saturday or Sunday", day.weekday())));
        }
        if holidays.contains(&day) {
            return Err(data_error(year, format!("working_weekends: {day} is also listed as a holiday")));
        }
        if !working_weekends.insert(day) {
            return Err(data_error(year, format!("working_weekends: {day} is listed twice")));
        }
    }

    Ok(YearData { year, source: entry.source, published, holidays, working_weekends })
}

impl Calendar {
    /// The data shipped with this release ([`BUILTIN_DATA`]). It is the
    /// default when no data file is configured; its validity is checked by
    /// this crate's tests, so it cannot fail at run time.
    pub fn builtin() -> Calendar {
        Calendar::from_toml_str(BUILTIN_DATA).expect("the built-in holiday data is valid (tested)")
    }

    /// Reads and validates a holiday data file, so operators can load a new
    /// year's notice at run time without a rebuild (R-TIME-1).
    pub fn load(path: impl AsRef<Path>) -> Result<Calendar, CalendarError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|err| CalendarError::Io { path: path.display().to_string(), reason: err.to_string() })?;
        Calendar::from_toml_str(&text)
    }

    /// Parses and validates holiday data in the format of
    /// `data/holidays.toml`. Refused, with an error naming the year and field:
    /// a date that is not `YYYY-MM-DD` or lies outside its year, a holiday
    /// range that ends before it starts, a day listed in two holidays, a
    /// "working weekend" that is not a Saturday or Sunday or is also a
    /// holiday, a missing source, and a year listed twice.
    pub fn from_toml_str(text: &str) -> Result<Calendar, CalendarError> {
        let file: FileData = toml::from_str(text).map_err(|err| CalendarError::Data(err.to_string()))?;
        let mut years = BTreeMap::new();
        for entry in file.year {
            let data = parse_year(entry)?;
            let year = data.year;
            if years.insert(year, data).is_some() {
                return Err(CalendarError::Data(format!("year {year}: listed twice")));
            }
        }
        Ok(Calendar { years })
    }

    /// The years with a published notice in the data, ascending. Every other
    /// year is provisional.
    pub fn years(&self) -> Vec<i32> {
        let mut years = Vec::new();
        for year in self.years.keys() {
            years.push(*year);
        }
        years
    }

    /// The loaded notice for `year`, if there is one (for showing the source
    /// of a deadline).
    pub fn year_data(&self, year: i32) -> Option<&YearData> {
        self.years.get(&year)
    }

    /// True if `year` has no published notice in the data, so its days follow
    /// only the weekend and fixed-date holiday rules (LAW.md §1).
    pub fn is_provisional_year(&self, year: i32) -> bool {
        !self.years.contains_key(&year)
    }

    /// Whether `date` is a working day (R-TIME-1): not a listed holiday, and
    /// either a weekday or a listed working weekend. In a provisional year:
    /// not a weekend and not Jan 1, May 1–2 or Oct 1–3.
    pub fn is_working_day(&self, date: NaiveDate) -> Result<Answer<bool>, CalendarError> {
        check_range(date)?;
        Ok(Answer { value: self.working(date), provisional: self.is_provisional_year(date.year()) })
    }

    fn working(&self, date: NaiveDate) -> bool {
        match self.years.get(&date.year()) {
            Some(data) => {
                if data.holidays.contains(&date) {
                    false
                } else if data.working_weekends.contains(&date) {
                    true
                } else {
                    !is_weekend(date)
                }
            }
            None => !is_weekend(date) && !is_fixed_statutory_holiday(date),
        }
    }

    /// The last day of a period of `days` working days triggered on `start`
    /// (APL art. 85, ARL art. 88; R-TIME-2): counting starts the day *after*
    /// `start`, so the trigger day is never counted, whatever kind of day it
    /// is. The result is always a working day when `days >= 1`.
    ///
    /// `days = 0` returns `start` itself (no period at all), marked
    /// provisional if `start` lies in a provisional year.
    ///
    /// Errors: `days > MAX_WORKING_DAYS`, or a date outside 0001–9999.
    pub fn add_working_days(&self, start: NaiveDate, days: u32) -> Result<Answer<NaiveDate>, CalendarError> {
        check_range(start)?;
        if days > MAX_WORKING_DAYS {
            return Err(CalendarError::TooManyWorkingDays(days));
        }
        let mut provisional = self.is_provisional_year(start.year()) && days == 0;
        let mut day = start;
        let mut counted = 0;
        while counted < days {
            day = next_day(day)?;
            if self.is_provisional_year(day.year()) {
                provisional = true;
            }
            if self.working(day) {
                counted += 1;
            }
        }
        Ok(Answer { value: day, provisional })
    }

    /// Counting back from `deadline`: the `days`-th working day before it
    /// (a report due three working days before the deadline, R-RECT-3).
    /// `days = 0` returns `deadline` itself.
    ///
    /// Errors: `days > MAX_WORKING_DAYS`, or a date outside 0001–9999.
    pub fn working_days_before(&self, deadline: NaiveDate, days: u32) -> Result<Answer<NaiveDate>, CalendarError> {
        check_range(deadline)?;
        if days > MAX_WORKING_DAYS {
            return Err(CalendarError::TooManyWorkingDays(days));
        }
        let mut provisional = self.is_provisional_year(deadline.year()) && days == 0;
        let mut day = deadline;
        let mut counted = 0;
        while counted < days {
            day = previous_day(day)?;
            if self.is_provisional_year(day.year()) {
                provisional = true;
            }
            if self.working(day) {
                counted += 1;
            }
        }
        Ok(Answer { value: day, provisional })
    }

    /// The number of working days in `(from, to]`: the trigger day `from` is
    /// not counted, the last day `to` is (R-TIME-2). So
    /// `working_days_between(d, add_working_days(d, n)) == n`. Zero (and not
    /// provisional) when `to <= from`.
    ///
    /// Errors: a span longer than [`MAX_SPAN_DAYS`], or a date outside
    /// 0001–9999.
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> Result<Answer<u32>, CalendarError> {
        check_range(from)?;
        check_range(to)?;
        if to <= from {
            return Ok(Answer { value: 0, provisional: false });
        }
        let span = (to - from).num_days();
        if span > i64::from(MAX_SPAN_DAYS) {
            return Err(CalendarError::SpanTooLong(span));
        }
        let mut provisional = false;
        let mut count = 0;
        let mut day = from;
        while day < to {
            day = next_day(day)?;
            if self.is_provisional_year(day.year()) {
                provisional = true;
            }
            if self.working(day) {
                count += 1;
            }
        }
        Ok(Answer { value: count, provisional })
    }

    /// The last day of a period of `days` calendar days triggered on `start`
    /// (e.g. the 30-day rectification deadline): `start + days` (the trigger
    /// day is not counted), moved forward to the next working day if that day
    /// is a day off (CPL art. 85, R-TIME-2). `days = 0` gives `start`, or the
    /// next working day if `start` is a day off.
    ///
    /// Provisional if the plain sum or any day it was moved over lies in a
    /// provisional year. Errors: `days > MAX_CALENDAR_DAYS`, or a date
    /// outside 0001–9999.
    pub fn calendar_day_deadline(&self, start: NaiveDate, days: u32) -> Result<Answer<NaiveDate>, CalendarError> {
        check_range(start)?;
        if days > MAX_CALENDAR_DAYS {
            return Err(CalendarError::TooManyCalendarDays(days));
        }
        let sum = start.checked_add_signed(Duration::days(i64::from(days))).ok_or(CalendarError::DateOutOfRange(start))?;
        let mut day = check_range(sum)?;
        let mut provisional = self.is_provisional_year(day.year());
        while !self.working(day) {
            day = next_day(day)?;
            if self.is_provisional_year(day.year()) {
                provisional = true;
            }
        }
        Ok(Answer { value: day, provisional })
    }
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The statutory holidays with fixed dates, the only ones assumed for a year
/// without a notice: Jan 1, May 1–2, Oct 1–3 (《全国年节及纪念日放假办法》,
/// LAW.md §1). The lunar holidays and the 调休 swaps are never guessed.
fn is_fixed_statutory_holiday(date: NaiveDate) -> bool {
    matches!((date.month(), date.day()), (1, 1) | (5, 1) | (5, 2) | (10, 1) | (10, 2) | (10, 3))
}

/// A calendar that operators can replace while services run (R-TIME-1: the
/// schedule is updated every year without a rebuild). Readers take a cheap
/// snapshot with [`SharedCalendar::current`] and compute on it without
/// holding a lock; a reload swaps the whole calendar at once, so no
/// computation ever sees half of an old and half of a new file. Clones share
/// the same calendar.
#[derive(Debug, Clone)]
pub struct SharedCalendar {
    inner: Arc<RwLock<Arc<Calendar>>>,
}

impl SharedCalendar {
    /// Puts `calendar` in force.
    pub fn new(calendar: Calendar) -> Self {
        Self { inner: Arc::new(RwLock::new(Arc::new(calendar))) }
    }

    /// The calendar in force now. Use one snapshot for a whole computation
    /// so that its answers stay consistent even if a reload happens meanwhile.
    pub fn current(&self) -> Arc<Calendar> {
        match self.inner.read() {
            Ok(guard) => Arc::clone(&guard),
            // The lock only guards a pointer swap; a panic elsewhere cannot
            // leave it half-written, so a poisoned lock is still usable.
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Puts `calendar` in force for every clone of this handle; computations
    /// already running keep their snapshot.
    pub fn replace(&self, calendar: Calendar) {
        let mut guard = match self.inner.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = Arc::new(calendar);
    }

    /// Loads `path` and, only if it is valid, puts it in force; on error the
    /// calendar in force stays unchanged.
    pub fn reload_from(&self, path: impl AsRef<Path>) -> Result<(), CalendarError> {
        let calendar = Calendar::load(path)?;
        self.replace(calendar);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn year_with(fields: &str) -> String {
        format!("[[year]]\nyear = 2026\nsource = \"test\"\npublished = \"2025-11-04\"\n{fields}\n")
    }

    fn data_error_message(text: &str) -> String {
        match Calendar::from_toml_str(text) {
            Err(CalendarError::Data(message)) => message,
            other => panic!("expected a data error, got {other:?}"),
        }
    }

    #[test]
    fn r_time_2_counting_back_working_days_skips_holidays_and_undoes_adding_them() {
        let calendar = Calendar::builtin();
        // Three working days before Friday 2026-05-08: the May Day holiday (May 1–5) is skipped.
        assert_eq!(calendar.working_days_before(d("2026-05-08"), 3).unwrap().value, d("2026-04-30"));
        assert_eq!(calendar.working_days_before(d("2026-05-08"), 0).unwrap().value, d("2026-05-08"));
        for (start, n) in [("2026-09-18", 3), ("2026-01-30", 10), ("2026-12-24", 5)] {
            let end = calendar.add_working_days(d(start), n).unwrap().value;
            let back = calendar.working_days_before(end, n).unwrap().value;
            assert_eq!(calendar.working_days_between(back, end).unwrap().value, n, "{start} + {n}");
        }
        assert!(calendar.working_days_before(d("2027-03-01"), 1).unwrap().provisional);
        assert!(matches!(calendar.working_days_before(d("2026-05-08"), MAX_WORKING_DAYS + 1), Err(CalendarError::TooManyWorkingDays(_))));
    }

    #[test]
    fn r_time_1_the_builtin_data_is_valid_and_holds_2024_to_2026() {
        let calendar = Calendar::builtin();
        assert_eq!(calendar.years(), vec![2024, 2025, 2026]);
        for year in [2024, 2025, 2026] {
            assert!(!calendar.is_provisional_year(year));
        }
        assert!(calendar.is_provisional_year(2023));
        assert!(calendar.is_provisional_year(2027));
    }

    #[test]
    fn r_time_1_provisional_years_assume_only_the_fixed_date_holidays() {
        let mut fixed = Vec::new();
        let mut day = d("2031-01-01");
        while day.year() == 2031 {
            if is_fixed_statutory_holiday(day) {
                fixed.push(day.format("%m-%d").to_string());
            }
            day = day.succ_opt().unwrap();
        }
        assert_eq!(fixed, vec!["01-01", "05-01", "05-02", "10-01", "10-02", "10-03"]);
    }

    #[test]
    fn r_time_1_a_range_that_ends_before_it_starts_is_refused() {
        let message = data_error_message(&year_with("holidays = [{ name = \"春节\", from = \"2026-02-23\", to = \"2026-02-15\" }]"));
        assert!(message.contains("year 2026") && message.contains("春节") && message.contains("before"), "{message}");
    }

    #[test]
    fn r_time_1_a_holiday_outside_its_year_is_refused() {
        let message = data_error_message(&year_with("holidays = [{ name = \"元旦\", from = \"2025-12-31\", to = \"2026-01-01\" }]"));
        assert!(message.contains("year 2026") && message.contains("元旦") && message.contains("outside"), "{message}");
        let message = data_error_message(&year_with("working_weekends = [\"2027-01-02\"]"));
        assert!(message.contains("year 2026") && message.contains("working_weekends"), "{message}");
    }

    #[test]
    fn r_time_1_a_working_weekend_must_be_a_saturday_or_sunday() {
        let message = data_error_message(&year_with("working_weekends = [\"2026-03-02\"]"));
        assert!(message.contains("year 2026") && message.contains("working_weekends") && message.contains("Mon"), "{message}");
    }

    #[test]
    fn r_time_1_a_day_cannot_be_both_off_and_working_or_listed_twice() {
        let both = year_with("holidays = [{ name = \"春节\", from = \"2026-02-14\", to = \"2026-02-15\" }]\nworking_weekends = [\"2026-02-14\"]");
        assert!(data_error_message(&both).contains("also listed as a holiday"));
        let overlap = year_with(
            "holidays = [{ name = \"a\", from = \"2026-02-14\", to = \"2026-02-15\" }, { name = \"b\", from = \"2026-02-15\", to = \"2026-02-16\" }]",
        );
        assert!(data_error_message(&overlap).contains("two holidays"));
        assert!(data_error_message(&year_with("working_weekends = [\"2026-02-14\", \"2026-02-14\"]")).contains("twice"));
    }

    #[test]
    fn r_time_1_a_year_listed_twice_a_missing_source_or_an_unknown_field_is_refused() {
        let twice = format!("{}{}", year_with(""), year_with(""));
        assert_eq!(data_error_message(&twice), "year 2026: listed twice");
        let no_source = "[[year]]\nyear = 2026\nsource = \" \"\npublished = \"2025-11-04\"\n";
        assert!(data_error_message(no_source).contains("source"));
        let unknown = year_with("holiday = []");
        assert!(data_error_message(&unknown).contains("unknown field `holiday`"));
        let bad_published = "[[year]]\nyear = 2026\nsource = \"x\"\npublished = \"2025-11-31\"\n";
        assert!(data_error_message(bad_published).contains("published"));
    }

    #[test]
    fn an_empty_file_gives_a_calendar_where_every_year_is_provisional() {
        let calendar = Calendar::from_toml_str("").unwrap();
        assert!(calendar.years().is_empty());
        let answer = calendar.is_working_day(d("2026-02-16")).unwrap();
        assert!(answer.value && answer.provisional);
    }

    #[test]
    fn dates_beyond_9999_are_errors_not_loops() {
        let calendar = Calendar::builtin();
        let last = d("9999-12-31");
        let beyond = NaiveDate::from_ymd_opt(10000, 1, 1).unwrap();
        assert_eq!(calendar.add_working_days(last, 1), Err(CalendarError::DateOutOfRange(beyond)));
        assert!(calendar.calendar_day_deadline(d("9999-12-01"), 40).is_err());
        assert!(calendar.is_working_day(beyond).is_err());
        assert!(calendar.working_days_between(d("9999-12-01"), beyond).is_err());
        // 9999-12-31 is a Friday: still answerable.
        assert!(calendar.is_working_day(last).unwrap().value);
        assert!(calendar.is_working_day(NaiveDate::from_ymd_opt(0, 12, 31).unwrap()).is_err());
        assert!(calendar.add_working_days(NaiveDate::from_ymd_opt(-5, 1, 1).unwrap(), 1).is_err());
    }

    #[test]
    fn shared_calendar_is_send_sync_and_clones_share_the_calendar() {
        fn send_sync<T: Send + Sync + Clone>() {}
        send_sync::<SharedCalendar>();
        let shared = SharedCalendar::new(Calendar::builtin());
        let clone = shared.clone();
        let snapshot = shared.current();
        clone.replace(Calendar::from_toml_str("").unwrap());
        assert!(shared.current().years().is_empty());
        assert_eq!(snapshot.years(), vec![2024, 2025, 2026]);
    }
}
