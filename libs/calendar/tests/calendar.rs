//! The calendar against LAW.md §1 (every day off and adjusted workday of
//! 2024–2026) and §2 (counting of periods).

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use proptest::prelude::*;
use yuetan_calendar::{Calendar, CalendarError, SharedCalendar, MAX_WORKING_DAYS};

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn range(from: &str, to: &str) -> Vec<NaiveDate> {
    let mut days = Vec::new();
    let mut day = d(from);
    while day <= d(to) {
        days.push(day);
        day += Duration::days(1);
    }
    days
}

/// Checks every listed day off and adjusted workday, and that every other day
/// of the year follows the weekend rule.
fn check_year(year: i32, days_off: &[(&str, &str)], working_weekends: &[&str]) {
    let calendar = Calendar::builtin();
    let mut off = Vec::new();
    for (from, to) in days_off {
        off.extend(range(from, to));
    }
    let working: Vec<NaiveDate> = working_weekends.iter().map(|s| d(s)).collect();
    for day in &off {
        let answer = calendar.is_working_day(*day).unwrap();
        assert!(!answer.value, "{day} is a day off");
        assert!(!answer.provisional);
    }
    for day in &working {
        assert!(matches!(day.weekday(), Weekday::Sat | Weekday::Sun), "{day} is a weekend day in the notice");
        assert!(calendar.is_working_day(*day).unwrap().value, "{day} is an adjusted workday");
    }
    let mut day = NaiveDate::from_ymd_opt(year, 1, 1).unwrap();
    while day.year() == year {
        if !off.contains(&day) && !working.contains(&day) {
            let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
            assert_eq!(calendar.is_working_day(day).unwrap().value, !weekend, "{day}");
        }
        day += Duration::days(1);
    }
}

#[test]
fn r_time_1_every_2024_holiday_and_adjusted_workday() {
    check_year(
        2024,
        &[
            ("2024-01-01", "2024-01-01"),
            ("2024-02-10", "2024-02-17"),
            ("2024-04-04", "2024-04-06"),
            ("2024-05-01", "2024-05-05"),
            ("2024-06-10", "2024-06-10"),
            ("2024-09-15", "2024-09-17"),
            ("2024-10-01", "2024-10-07"),
        ],
        &["2024-02-04", "2024-02-18", "2024-04-07", "2024-04-28", "2024-05-11", "2024-09-14", "2024-09-29", "2024-10-12"],
    );
}

#[test]
fn r_time_1_every_2025_holiday_and_adjusted_workday() {
    check_year(
        2025,
        &[
            ("2025-01-01", "2025-01-01"),
            ("2025-01-28", "2025-02-04"),
            ("2025-04-04", "2025-04-06"),
            ("2025-05-01", "2025-05-05"),
            ("2025-05-31", "2025-06-02"),
            ("2025-10-01", "2025-10-08"),
        ],
        &["2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28", "2025-10-11"],
    );
}

#[test]
fn r_time_1_every_2026_holiday_and_adjusted_workday() {
    check_year(
        2026,
        &[
            ("2026-01-01", "2026-01-03"),
            ("2026-02-15", "2026-02-23"),
            ("2026-04-04", "2026-04-06"),
            ("2026-05-01", "2026-05-05"),
            ("2026-06-19", "2026-06-21"),
            ("2026-09-25", "2026-09-27"),
            ("2026-10-01", "2026-10-07"),
        ],
        &["2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"],
    );
}

#[test]
fn r_time_1_each_year_cites_its_source_notice() {
    let calendar = Calendar::builtin();
    assert_eq!(calendar.years(), vec![2024, 2025, 2026]);
    assert!(calendar.year_data(2024).unwrap().source.contains("国办发明电〔2023〕7号"));
    assert!(calendar.year_data(2025).unwrap().source.contains("国办发明电〔2024〕12号"));
    assert!(calendar.year_data(2026).unwrap().source.contains("2026"));
}

#[test]
fn r_time_2_three_working_days_from_2026_02_12_end_on_2026_02_24() {
    // Feb 13 (Fri) 1, Feb 14 (Sat, adjusted workday) 2, Feb 15–23 off, Feb 24 3.
    let answer = Calendar::builtin().add_working_days(d("2026-02-12"), 3).unwrap();
    assert_eq!(answer.value, d("2026-02-24"));
    assert!(!answer.provisional);
    assert!(Calendar::builtin().is_working_day(d("2026-02-14")).unwrap().value);
}

#[test]
fn r_time_2_five_working_days_from_2025_09_30_end_on_2025_10_14() {
    // Oct 1–8 off; Oct 9, 10, 11 (Sat, adjusted), 13, 14.
    let answer = Calendar::builtin().add_working_days(d("2025-09-30"), 5).unwrap();
    assert_eq!(answer.value, d("2025-10-14"));
}

#[test]
fn r_time_2_the_trigger_day_is_never_counted() {
    let calendar = Calendar::builtin();
    // Monday 2026-03-02 is a working day; one working day after it is Tuesday.
    assert_eq!(calendar.add_working_days(d("2026-03-02"), 1).unwrap().value, d("2026-03-03"));
    // Triggered on a Saturday: the count starts on Sunday, so Monday is day 1.
    assert_eq!(calendar.add_working_days(d("2026-03-07"), 1).unwrap().value, d("2026-03-09"));
    assert_eq!(calendar.add_working_days(d("2026-03-02"), 0).unwrap().value, d("2026-03-02"));
    assert_eq!(calendar.working_days_between(d("2026-03-02"), d("2026-03-03")).unwrap().value, 1);
    assert_eq!(calendar.working_days_between(d("2026-03-03"), d("2026-03-02")).unwrap().value, 0);
}

#[test]
fn r_time_2_a_calendar_day_period_ending_on_a_day_off_moves_to_the_next_working_day() {
    let calendar = Calendar::builtin();
    // 2026-09-01 + 30 days = 2026-10-01, National Day: the period ends on
    // Thursday 2026-10-08, the first working day after the holiday.
    assert_eq!(calendar.calendar_day_deadline(d("2026-09-01"), 30).unwrap().value, d("2026-10-08"));
    // 2026-03-10 + 30 = 2026-04-09, a Thursday working day: unchanged.
    assert_eq!(calendar.calendar_day_deadline(d("2026-03-10"), 30).unwrap().value, d("2026-04-09"));
    // Ending on an ordinary Saturday moves to Monday.
    assert_eq!(calendar.calendar_day_deadline(d("2026-03-07"), 7).unwrap().value, d("2026-03-16"));
}

#[test]
fn r_time_1_a_year_without_a_notice_is_provisional_with_only_fixed_date_holidays() {
    let calendar = Calendar::builtin();
    let answer = calendar.add_working_days(d("2026-12-30"), 3).unwrap();
    // Dec 31 (Thu) 1, Jan 1 2027 off (fixed), Jan 2–3 weekend, Jan 4 2, Jan 5 3.
    assert_eq!(answer.value, d("2027-01-05"));
    assert!(answer.provisional);
    let new_year = calendar.is_working_day(d("2027-01-01")).unwrap();
    assert!(!new_year.value && new_year.provisional);
    for fixed in ["2027-05-03", "2027-10-01", "2027-10-02", "2027-10-03"] {
        let day = d(fixed);
        let weekday = !matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
        // May 3 is not a fixed-date holiday: only the weekend rule applies to it.
        assert_eq!(calendar.is_working_day(day).unwrap().value, fixed == "2027-05-03" && weekday, "{fixed}");
    }
    // A zero-length period returns its start, provisional if that lies in 2027.
    let zero = calendar.add_working_days(d("2027-03-01"), 0).unwrap();
    assert_eq!(zero.value, d("2027-03-01"));
    assert!(zero.provisional);
    // A calendar-day period ending in 2027 is provisional too.
    assert!(calendar.calendar_day_deadline(d("2026-12-15"), 30).unwrap().provisional);
    assert!(!calendar.is_working_day(d("2027-10-02")).unwrap().value);
    // Spring Festival 2027 is not guessed: a weekday in it is a working day, provisionally.
    let guessless = calendar.is_working_day(d("2027-02-08")).unwrap();
    assert!(guessless.value && guessless.provisional);
    assert!(!calendar.add_working_days(d("2026-03-02"), 3).unwrap().provisional);
}

#[test]
fn loading_a_new_year_replaces_the_provisional_answer() {
    let mut data = yuetan_calendar::BUILTIN_DATA.to_string();
    data.push_str(
        "\n[[year]]\nyear = 2027\nsource = \"test notice\"\npublished = \"2026-11-01\"\nworking_weekends = []\nholidays = [{ name = \"春节\", from = \"2027-02-06\", to = \"2027-02-12\" }]\n",
    );
    let shared = SharedCalendar::new(Calendar::builtin());
    assert!(shared.current().is_working_day(d("2027-02-08")).unwrap().value);
    let dir = std::env::temp_dir().join(format!("yuetan-cal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("holidays.toml");
    std::fs::write(&path, data).unwrap();
    shared.reload_from(&path).unwrap();
    let answer = shared.current().is_working_day(d("2027-02-08")).unwrap();
    assert!(!answer.value && !answer.provisional);
    // A broken file is refused and the calendar in force stays.
    std::fs::write(&path, "[[year]]\nyear = 2028\n").unwrap();
    assert!(shared.reload_from(&path).is_err());
    assert_eq!(shared.current().years(), vec![2024, 2025, 2026, 2027]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn invalid_data_is_rejected_naming_the_year_and_field() {
    let not_weekend = "[[year]]\nyear = 2026\nsource = \"x\"\npublished = \"2025-11-04\"\nworking_weekends = [\"2026-03-02\"]\n";
    let err = Calendar::from_toml_str(not_weekend).unwrap_err();
    assert!(matches!(&err, CalendarError::Data(m) if m.contains("year 2026") && m.contains("working_weekends")), "{err}");
    let bad_date = "[[year]]\nyear = 2026\nsource = \"x\"\npublished = \"2025-13-04\"\n";
    assert!(Calendar::from_toml_str(bad_date).unwrap_err().to_string().contains("published"));
    let twice = "[[year]]\nyear = 2026\nsource = \"x\"\npublished = \"2025-11-04\"\n[[year]]\nyear = 2026\nsource = \"y\"\npublished = \"2025-11-04\"\n";
    assert!(Calendar::from_toml_str(twice).unwrap_err().to_string().contains("year 2026: listed twice"));
    let missing = std::env::temp_dir().join("yuetan-calendar-no-such-file.toml");
    assert!(matches!(Calendar::load(&missing), Err(CalendarError::Io { .. })));
}

#[test]
fn absurd_periods_are_refused_rather_than_computed() {
    let calendar = Calendar::builtin();
    assert_eq!(calendar.add_working_days(d("2026-01-01"), 100_000), Err(CalendarError::TooManyWorkingDays(100_000)));
    assert_eq!(calendar.add_working_days(d("2026-01-01"), u32::MAX), Err(CalendarError::TooManyWorkingDays(u32::MAX)));
    assert_eq!(calendar.calendar_day_deadline(d("2026-01-01"), 4000), Err(CalendarError::TooManyCalendarDays(4000)));
    assert!(matches!(calendar.working_days_between(d("2000-01-01"), d("2100-01-01")), Err(CalendarError::SpanTooLong(_))));
}

#[test]
fn r_time_2_the_longest_allowed_period_can_be_counted_back() {
    let calendar = Calendar::builtin();
    let end = calendar.add_working_days(d("2024-01-01"), MAX_WORKING_DAYS).unwrap();
    assert!(end.provisional);
    assert_eq!(calendar.working_days_between(d("2024-01-01"), end.value).unwrap().value, MAX_WORKING_DAYS);
}

fn any_date() -> impl Strategy<Value = NaiveDate> {
    // 2023-06-01 .. 2028-06-01: published and provisional years alike.
    (0i64..1827).prop_map(|offset| d("2023-06-01") + Duration::days(offset))
}

proptest! {
    #[test]
    fn r_time_2_a_working_day_period_ends_on_a_working_day_and_counts_back_to_n(start in any_date(), n in 1u32..60) {
        let calendar = Calendar::builtin();
        let end = calendar.add_working_days(start, n).unwrap().value;
        prop_assert!(calendar.is_working_day(end).unwrap().value);
        prop_assert_eq!(calendar.working_days_between(start, end).unwrap().value, n);
        prop_assert!(end > start);
    }

    #[test]
    fn r_time_2_longer_periods_never_end_earlier(start in any_date(), n in 0u32..60) {
        let calendar = Calendar::builtin();
        let shorter = calendar.add_working_days(start, n).unwrap().value;
        let longer = calendar.add_working_days(start, n + 1).unwrap().value;
        prop_assert!(longer > shorter);
    }

    #[test]
    fn r_time_2_calendar_day_deadlines_are_working_days_not_before_the_plain_sum(start in any_date(), days in 0u32..90) {
        let calendar = Calendar::builtin();
        let deadline = calendar.calendar_day_deadline(start, days).unwrap().value;
        prop_assert!(deadline >= start + Duration::days(i64::from(days)));
        prop_assert!(calendar.is_working_day(deadline).unwrap().value);
    }

    #[test]
    fn r_time_1_weekends_of_provisional_years_are_never_working_days(offset in 0i64..730) {
        let day = d("2027-01-01") + Duration::days(offset);
        let answer = Calendar::builtin().is_working_day(day).unwrap();
        prop_assert!(answer.provisional);
        if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            prop_assert!(!answer.value);
        }
    }
}
