//! The working-day calendar (LAW.md §1–2, R-TIME-1, R-TIME-2).
//!
//! Working days follow the State Council's yearly holiday notice: statutory
//! holidays are days off and some weekend days are working days (调休). The
//! schedule is data (`data/holidays.toml`, each year citing its notice),
//! loaded at start and replaceable at run time ([`SharedCalendar`]).
//!
//! A year without a notice is *provisional*: weekends are off, plus the
//! fixed-date statutory holidays (Jan 1, May 1–2, Oct 1–3); nothing else is
//! guessed, and every [`Answer`] that touched such a year says so.
//!
//! Counting (CPL art. 85, R-TIME-2): a period starts the day *after* its
//! trigger; "N working days" counts working days; a calendar-day period whose
//! last day is a day off ends on the next working day.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, RwLock};

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use serde::Deserialize;

/// The holiday data built into this release.
pub const BUILTIN_DATA: &str = include_str!("../data/holidays.toml");

/// Longest period we compute, in days: ten years. Guards against a typo
/// (or a hostile request) looping for a very long time.
pub const MAX_PERIOD_DAYS: u32 = 3660;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CalendarError {
    #[error("holiday data: {0}")]
    Data(String),
    #[error("cannot read holiday data {path}: {reason}")]
    Io { path: String, reason: String },
    #[error("period of {0} days is longer than the {MAX_PERIOD_DAYS}-day limit")]
    PeriodTooLong(u32),
    #[error("date out of range")]
    OutOfRange,
}

/// A result plus whether it relied on a provisional year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer<T> {
    pub value: T,
    /// True if any year the computation touched has no published notice.
    pub provisional: bool,
}

/// One published year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YearData {
    pub year: i32,
    /// The notice the data comes from.
    pub source: String,
    pub published: NaiveDate,
    pub holidays: BTreeSet<NaiveDate>,
    pub working_weekends: BTreeSet<NaiveDate>,
}

/// Working-day arithmetic over a set of published years.
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

fn parse_date(year: i32, field: &str, value: &str) -> Result<NaiveDate, CalendarError> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|_| CalendarError::Data(format!("year {year}: {field} {value:?} is not a YYYY-MM-DD date")))
}

impl Calendar {
    /// The data shipped with this release.
    pub fn builtin() -> Calendar {
        Calendar::from_toml_str(BUILTIN_DATA).expect("the built-in holiday data is valid (tested)")
    }

    /// Reads a holiday data file.
    pub fn load(path: &Path) -> Result<Calendar, CalendarError> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| CalendarError::Io { path: path.display().to_string(), reason: err.to_string() })?;
        Calendar::from_toml_str(&text)
    }

    /// Parses and validates holiday data; errors name the year and field.
    pub fn from_toml_str(text: &str) -> Result<Calendar, CalendarError> {
        let file: FileData = toml::from_str(text).map_err(|err| CalendarError::Data(err.to_string()))?;
        let mut years = BTreeMap::new();
        for entry in file.year {
            let year = entry.year;
            if entry.source.trim().is_empty() {
                return Err(CalendarError::Data(format!("year {year}: source must cite the notice")));
            }
            let published = parse_date(year, "published", &entry.published)?;
            let mut holidays = BTreeSet::new();
            for holiday in &entry.holidays {
                let from = parse_date(year, &format!("holiday {} from", holiday.name), &holiday.from)?;
                let to = parse_date(year, &format!("holiday {} to", holiday.name), &holiday.to)?;
                if from > to {
                    return Err(CalendarError::Data(format!("year {year}: holiday {} ends before it starts", holiday.name)));
                }
                if from.year() != year || to.year() != year {
                    return Err(CalendarError::Data(format!("year {year}: holiday {} lies outside {year}", holiday.name)));
                }
                let mut day = from;
                while day <= to {
                    holidays.insert(day);
                    day += Duration::days(1);
                }
            }
            let mut working_weekends = BTreeSet::new();
            for value in &entry.working_weekends {
                let day = parse_date(year, "working_weekends", value)?;
                if day.year() != year {
                    return Err(CalendarError::Data(format!("year {year}: working weekend {day} lies outside {year}")));
                }
                if !is_weekend(day) {
                    return Err(CalendarError::Data(format!("year {year}: working weekend {day} is not a Saturday or Sunday")));
                }
                if holidays.contains(&day) {
                    return Err(CalendarError::Data(format!("year {year}: {day} is both a holiday and a working day")));
                }
                working_weekends.insert(day);
            }
            let data = YearData { year, source: entry.source, published, holidays, working_weekends };
            if years.insert(year, data).is_some() {
                return Err(CalendarError::Data(format!("year {year} appears twice")));
            }
        }
        Ok(Calendar { years })
    }

    /// The years with published data.
    pub fn years(&self) -> Vec<i32> {
        self.years.keys().copied().collect()
    }

    pub fn year_data(&self, year: i32) -> Option<&YearData> {
        self.years.get(&year)
    }

    pub fn is_provisional_year(&self, year: i32) -> bool {
        !self.years.contains_key(&year)
    }

    /// Whether `date` is a working day (R-TIME-1).
    pub fn is_working_day(&self, date: NaiveDate) -> Result<Answer<bool>, CalendarError> {
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

    /// The day on which a period of `days` working days after `start` ends:
    /// counting starts the day after `start` (R-TIME-2). `days = 0` is
    /// `start` itself.
    pub fn add_working_days(&self, start: NaiveDate, days: u32) -> Result<Answer<NaiveDate>, CalendarError> {
        if days > MAX_PERIOD_DAYS {
            return Err(CalendarError::PeriodTooLong(days));
        }
        let mut provisional = false;
        let mut day = start;
        let mut counted = 0;
        while counted < days {
            day = day.succ_opt().ok_or(CalendarError::OutOfRange)?;
            provisional |= self.is_provisional_year(day.year());
            if self.working(day) {
                counted += 1;
            }
        }
        Ok(Answer { value: day, provisional })
    }

    /// Working days in `(from, to]`: the trigger day is not counted, the
    /// last day is. Zero when `to <= from`.
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> Result<Answer<u32>, CalendarError> {
        if to <= from {
            return Ok(Answer { value: 0, provisional: false });
        }
        let span = (to - from).num_days();
        if span > i64::from(MAX_PERIOD_DAYS) {
            return Err(CalendarError::PeriodTooLong(u32::try_from(span).unwrap_or(u32::MAX)));
        }
        let mut provisional = false;
        let mut count = 0;
        let mut day = from;
        while day < to {
            day = day.succ_opt().ok_or(CalendarError::OutOfRange)?;
            provisional |= self.is_provisional_year(day.year());
            if self.working(day) {
                count += 1;
            }
        }
        Ok(Answer { value: count, provisional })
    }

    /// The last day of a calendar-day period (e.g. the 30-day rectification
    /// deadline): `start + days`, moved to the next working day if that day
    /// is a day off (CPL art. 85, R-TIME-2).
    pub fn calendar_day_deadline(&self, start: NaiveDate, days: u32) -> Result<Answer<NaiveDate>, CalendarError> {
        if days > MAX_PERIOD_DAYS {
            return Err(CalendarError::PeriodTooLong(days));
        }
        let mut day = start.checked_add_signed(Duration::days(i64::from(days))).ok_or(CalendarError::OutOfRange)?;
        let mut provisional = self.is_provisional_year(day.year());
        while !self.working(day) {
            day = day.succ_opt().ok_or(CalendarError::OutOfRange)?;
            provisional |= self.is_provisional_year(day.year());
        }
        Ok(Answer { value: day, provisional })
    }
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The statutory holidays with fixed dates, the only ones assumed for a year
/// without a notice: Jan 1, May 1–2, Oct 1–3 (《全国年节及纪念日放假办法》).
fn is_fixed_statutory_holiday(date: NaiveDate) -> bool {
    matches!((date.month(), date.day()), (1, 1) | (5, 1) | (5, 2) | (10, 1) | (10, 2) | (10, 3))
}

/// A calendar that operators can replace while services run: readers take a
/// cheap snapshot ([`SharedCalendar::current`]); a reload swaps it whole.
#[derive(Debug, Clone)]
pub struct SharedCalendar {
    inner: Arc<RwLock<Arc<Calendar>>>,
}

impl SharedCalendar {
    pub fn new(calendar: Calendar) -> Self {
        Self { inner: Arc::new(RwLock::new(Arc::new(calendar))) }
    }

    /// The calendar in force now.
    pub fn current(&self) -> Arc<Calendar> {
        self.inner.read().map(|guard| guard.clone()).unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    pub fn replace(&self, calendar: Calendar) {
        let mut guard = self.inner.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        *guard = Arc::new(calendar);
    }

    /// Loads `path` and, only if it is valid, puts it in force.
    pub fn reload_from(&self, path: &Path) -> Result<(), CalendarError> {
        let calendar = Calendar::load(path)?;
        self.replace(calendar);
        Ok(())
    }
}
