//! Property tests (issue 14, "fuzzed inputs") over dates and periods at the
//! edge of the working-day calendar (R-TIME-1, R-TIME-2): any date chrono
//! can hold (years -262143 to 262142) and any period length, and any text
//! given as holiday data.
//!
//! Never a panic and never an endless loop: a date outside 0001–9999 or a
//! period past the limits is the matching `CalendarError`; every answer lies
//! in the supported range; periods counted forward count back.

use chrono::{Datelike, Duration, NaiveDate};
use proptest::prelude::*;
use yuetan_calendar::{Calendar, CalendarError, MAX_CALENDAR_DAYS, MAX_DATE, MAX_SPAN_DAYS, MAX_WORKING_DAYS, MIN_DATE};

/// Any date chrono can represent, with extra weight on the edges of the
/// supported range and on the years with published notices.
fn any_date() -> impl Strategy<Value = NaiveDate> {
    let edge = |date: NaiveDate| (-40i64..40).prop_map(move |d| date.checked_add_signed(Duration::days(d)).unwrap_or(date));
    prop_oneof![
        (NaiveDate::MIN.num_days_from_ce()..=NaiveDate::MAX.num_days_from_ce()).prop_map(|d| NaiveDate::from_num_days_from_ce_opt(d).unwrap()),
        edge(MIN_DATE),
        edge(MAX_DATE),
        edge(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()).prop_flat_map(move |d| (0i64..800).prop_map(move |o| d + Duration::days(o))),
    ]
}

fn any_days() -> impl Strategy<Value = u32> {
    prop_oneof![0u32..40, 3600u32..3700, any::<u32>()]
}

fn in_range(date: NaiveDate) -> bool {
    (MIN_DATE..=MAX_DATE).contains(&date)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn r_time_2_a_working_day_period_from_any_date_ends_in_range_or_says_why(start in any_date(), days in any_days()) {
        let calendar = Calendar::builtin();
        match calendar.add_working_days(start, days) {
            Ok(end) => {
                prop_assert!(in_range(start) && days <= MAX_WORKING_DAYS && in_range(end.value));
                if days > 0 {
                    prop_assert!(end.value > start && calendar.is_working_day(end.value).unwrap().value);
                    // Every period this crate produces counts back (MAX_SPAN_DAYS covers the longest).
                    prop_assert_eq!(calendar.working_days_between(start, end.value).unwrap().value, days);
                    // Counting back from the end lands on or before the start — or, from a
                    // start in the first years of the data, before its first day.
                    match calendar.working_days_before(end.value, days) {
                        Ok(back) => prop_assert!(back.value <= start),
                        Err(CalendarError::DateOutOfRange(_)) => prop_assert!(start.year() < MIN_DATE.year() + 15),
                        Err(other) => prop_assert!(false, "{other}"),
                    }
                }
            }
            Err(CalendarError::DateOutOfRange(_)) => prop_assert!(!in_range(start) || (days > 0 && start.year() > MAX_DATE.year() - 15)),
            Err(CalendarError::TooManyWorkingDays(n)) => prop_assert!(n == days && days > MAX_WORKING_DAYS),
            Err(other) => prop_assert!(false, "{other}"),
        }
    }

    #[test]
    fn r_time_2_counting_back_from_any_date_ends_in_range_or_says_why(deadline in any_date(), days in any_days()) {
        let calendar = Calendar::builtin();
        match calendar.working_days_before(deadline, days) {
            Ok(day) => {
                prop_assert!(in_range(day.value) && day.value <= deadline);
                if days > 0 {
                    prop_assert!(day.value < deadline && calendar.is_working_day(day.value).unwrap().value);
                }
            }
            Err(CalendarError::DateOutOfRange(_)) => prop_assert!(!in_range(deadline) || (days > 0 && deadline.year() < MIN_DATE.year() + 15)),
            Err(CalendarError::TooManyWorkingDays(_)) => prop_assert!(days > MAX_WORKING_DAYS),
            Err(other) => prop_assert!(false, "{other}"),
        }
    }

    #[test]
    fn r_time_2_a_calendar_day_deadline_from_any_date_is_a_working_day_not_before_the_sum(start in any_date(), days in any_days()) {
        let calendar = Calendar::builtin();
        match calendar.calendar_day_deadline(start, days) {
            Ok(deadline) => {
                prop_assert!(days <= MAX_CALENDAR_DAYS && in_range(deadline.value));
                prop_assert!(deadline.value >= start + Duration::days(i64::from(days)));
                prop_assert!(calendar.is_working_day(deadline.value).unwrap().value);
            }
            Err(CalendarError::DateOutOfRange(_)) => {
                let late = start.checked_add_signed(Duration::days(i64::from(days) + 10)).is_none_or(|d| d > MAX_DATE);
                prop_assert!(!in_range(start) || late);
            }
            Err(CalendarError::TooManyCalendarDays(_)) => prop_assert!(days > MAX_CALENDAR_DAYS),
            Err(other) => prop_assert!(false, "{other}"),
        }
    }

    #[test]
    fn r_time_2_working_days_between_any_two_dates_is_bounded(from in any_date(), to in any_date()) {
        let calendar = Calendar::builtin();
        match calendar.working_days_between(from, to) {
            Ok(count) => {
                prop_assert!(in_range(from) && in_range(to));
                let span = (to - from).num_days().max(0);
                prop_assert!(i64::from(count.value) <= span && span <= i64::from(MAX_SPAN_DAYS));
            }
            Err(CalendarError::DateOutOfRange(_)) => prop_assert!(!in_range(from) || !in_range(to)),
            Err(CalendarError::SpanTooLong(span)) => prop_assert!(span > i64::from(MAX_SPAN_DAYS)),
            Err(other) => prop_assert!(false, "{other}"),
        }
    }

    #[test]
    fn r_time_1_whether_any_date_is_a_working_day_is_answered_or_out_of_range(date in any_date()) {
        match Calendar::builtin().is_working_day(date) {
            Ok(answer) => prop_assert!(in_range(date) && answer.provisional != Calendar::builtin().years().contains(&date.year())),
            Err(err) => prop_assert_eq!(err, CalendarError::DateOutOfRange(date)),
        }
    }
}

/// Holiday data as an operator might mistype it: arbitrary text, and TOML
/// shaped like `data/holidays.toml` with arbitrary values.
fn holiday_text() -> impl Strategy<Value = String> {
    let value = prop_oneof!["\"[0-9-]{0,12}\"", "\"[0-9]{4}-[0-9]{2}-[0-9]{2}\"", "-?[0-9]{1,12}", "\".{0,10}\"", "\\[\\]", "true"];
    prop_oneof![
        ".{0,200}",
        prop::collection::vec(any::<char>(), 0..200).prop_map(|c| c.into_iter().collect()),
        (value.clone(), value.clone(), value.clone(), value.clone(), value.clone(), value).prop_map(|(year, published, name, from, to, weekend)| {
            format!(
                "[[year]]\nyear = {year}\nsource = \"notice\"\npublished = {published}\n\
                 [[year.holidays]]\nname = {name}\nfrom = {from}\nto = {to}\n\
                 [[year]]\nyear = 2031\nsource = \"s\"\npublished = \"2030-11-01\"\nworking_weekends = [{weekend}]\n"
            )
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn r_time_1_any_holiday_data_is_loaded_or_refused_as_data_error(text in holiday_text()) {
        match Calendar::from_toml_str(&text) {
            Ok(calendar) => {
                for year in calendar.years() {
                    let data = calendar.year_data(year).unwrap();
                    prop_assert!(data.holidays.iter().chain(&data.working_weekends).all(|d| d.year() == year));
                    prop_assert!(data.working_weekends.is_disjoint(&data.holidays));
                }
            }
            Err(err) => prop_assert!(matches!(err, CalendarError::Data(_)), "{err}"),
        }
    }
}

#[test]
fn r_time_1_a_holiday_range_across_the_whole_supported_range_is_refused_quickly() {
    let text = "[[year]]\nyear = 9999\nsource = \"s\"\npublished = \"9999-01-01\"\n[[year.holidays]]\nname = \"n\"\nfrom = \"0001-01-01\"\nto = \"9999-12-31\"\n";
    assert!(matches!(Calendar::from_toml_str(text), Err(CalendarError::Data(_))));
}
