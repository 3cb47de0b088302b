//! Property tests (issue 14, "fuzzed inputs") over the reporting periods a
//! request names (R-SUP-1, R-SUP-4, R-SUP-7): `period` ("2026-09",
//! "2026Q3", "2026H1", "2026"), `month` and `quarter`. The API refuses what
//! these parsers do not read as `INVALID_ARGUMENT` naming the field
//! (`api/sampling.rs`); here: never a panic on any text, only the printed
//! form is read (no second spelling of a period), and every period read has
//! whole months, days and quarters.

use chrono::Datelike;
use proptest::prelude::*;
use yuetan_supervision::domain::sampling::{month_key, parse_month, parse_quarter, quarter_key, Period};

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,12}",
        "[0-9QH+ -]{0,9}",
        "[+ ]?[0-9]{3,5}([-QH][+ 0-9]{0,3})?",
        prop::collection::vec(any::<char>(), 0..20).prop_map(|c| c.into_iter().collect()),
        (any::<char>(), 0usize..20_000).prop_map(|(c, n)| std::iter::repeat_n(c, n).collect()),
    ]
}

fn period() -> impl Strategy<Value = Period> {
    (2000i32..=2100).prop_flat_map(|y| {
        prop_oneof![
            (1u32..=12).prop_map(move |m| Period::Month(y, m)),
            (1u32..=4).prop_map(move |q| Period::Quarter(y, q)),
            (1u32..=2).prop_map(move |h| Period::Half(y, h)),
            Just(Period::Year(y)),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn r_sup_7_a_period_of_any_text_is_read_only_in_its_printed_form(text in any_text()) {
        if let Some(period) = Period::parse(&text) {
            prop_assert_eq!(period.key(), text.clone());
            // Everything a period offers is defined for it.
            let (first, last) = period.days();
            prop_assert!(first <= last && first.day() == 1);
            prop_assert!(!period.quarters().is_empty() && !period.label().is_empty() && !period.title().is_empty());
        }
        if let Some((y, m)) = parse_month(&text) {
            prop_assert_eq!(month_key(y, m), text.clone());
        }
        if let Some((y, q)) = parse_quarter(&text) {
            prop_assert_eq!(quarter_key(y, q), text);
        }
    }

    #[test]
    fn r_sup_7_every_period_reads_back_and_covers_whole_months(period in period()) {
        prop_assert_eq!(Period::parse(&period.key()), Some(period));
        let months = period.months();
        prop_assert!(matches!(months.len(), 1 | 3 | 6 | 12));
        prop_assert!(months.windows(2).all(|w| w[1].1 == w[0].1 + 1));
        let (first, last) = period.days();
        prop_assert_eq!((first.year(), first.month()), months[0]);
        prop_assert_eq!((last.year(), last.month()), months[months.len() - 1]);
        prop_assert!(last.succ_opt().unwrap().day() == 1);
    }
}
