//! Property tests (issue 14, "fuzzed inputs") over the identifiers of a
//! party (R-SCOPE-1): the unified social credit code (统一社会信用代码,
//! GB 32100-2015) and the resident identity number (GB 11643-1999).
//!
//! Never a panic on arbitrary input; a refusal becomes `INVALID_ARGUMENT`
//! naming the request field; a code generated with correct check characters
//! is accepted (also in lower case) and any one-character change is refused.

use chrono::NaiveDate;
use proptest::prelude::*;
use yuetan_intake::domain::party_id::{CreditCode, InvalidId, ResidentId};
use yuetan_platform::Error;

/// The 31 characters of GB 32100-2015.
const CREDIT_CHARSET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,30}",
        "[0-9A-Za-z \t\u{3000}\u{200b}\u{0}０-９]{16,20}",
        prop::collection::vec(any::<char>(), 0..40).prop_map(|c| c.into_iter().collect()),
        (any::<char>(), 0usize..50_000).prop_map(|(c, n)| std::iter::repeat_n(c, n).collect()),
        "[0-9]{17}[0-9Xx]",
        "[0-9A-HJ-NP-RT-UW-Y]{18}",
    ]
}

fn names_field(err: InvalidId, field: &str) -> Result<(), TestCaseError> {
    let err = err.at(field);
    prop_assert!(matches!(&err, Error::InvalidArgument { field: f, .. } if f == field), "{}", err);
    let status = tonic::Status::from(err);
    prop_assert_eq!(status.code(), tonic::Code::InvalidArgument);
    prop_assert!(status.message().contains(field));
    Ok(())
}

/// A credit code built from its parts: any registration authority and
/// category, any six-digit division, an organisation code with its GB 11714
/// check, and the final check character; through `synthesize` as well.
fn credit_code() -> impl Strategy<Value = String> {
    prop_oneof![
        ("[1-9][0-9]{5}", any::<u32>()).prop_map(|(division, serial)| CreditCode::synthesize(&division, serial).unwrap().to_string()),
        (
            prop::sample::select(b"123456789ABCDEFGHJKLMNY".to_vec()),
            prop::sample::select(CREDIT_CHARSET.as_bytes().to_vec()),
            "[0-9]{6}",
            prop::collection::vec(prop::sample::select(b"0123456789ABCDEFGHJKLMNPQRTUWXY".to_vec()), 8),
        )
            .prop_filter_map("organisation check outside the charset", |(authority, category, division, organisation)| {
                let mut code = vec![authority, category];
                code.extend(division.bytes());
                code.extend(&organisation);
                code.push(organisation_check(&organisation));
                let values: Vec<u32> = code.iter().map(|b| CREDIT_CHARSET.bytes().position(|c| c == *b).map(|v| v as u32)).collect::<Option<_>>()?;
                const WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
                let sum: u32 = values.iter().zip(WEIGHTS).map(|(v, w)| v * w).sum();
                code.push(CREDIT_CHARSET.as_bytes()[((31 - sum % 31) % 31) as usize]);
                String::from_utf8(code).ok()
            }),
    ]
}

/// GB 11714's check character of an organisation code's first 8 characters.
fn organisation_check(body: &[u8]) -> u8 {
    const WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .iter()
        .zip(WEIGHTS)
        .map(|(b, w)| w * if b.is_ascii_digit() { u32::from(b - b'0') } else { u32::from(b - b'A') + 10 })
        .sum();
    match 11 - sum % 11 {
        10 => b'X',
        11 => b'0',
        d => b'0' + d as u8,
    }
}

fn birth_date() -> impl Strategy<Value = NaiveDate> {
    (0i64..46_000).prop_map(|days| NaiveDate::from_ymd_opt(1900, 1, 1).unwrap() + chrono::Duration::days(days))
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 2, 12).unwrap()
}

/// `value` with character `at` replaced by `by`, unless that is the same
/// character in either case (the parsers normalise case).
fn substitute(value: &str, at: usize, by: char) -> Option<String> {
    let mut chars: Vec<char> = value.chars().collect();
    let at = at % chars.len();
    if chars[at].eq_ignore_ascii_case(&by) {
        return None;
    }
    chars[at] = by;
    Some(chars.into_iter().collect())
}

fn any_substitute() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => prop::sample::select("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ".chars().collect::<Vec<_>>()),
        1 => prop::sample::select(" \t\0-０Ｘ约\u{200b}".chars().collect::<Vec<_>>()),
        1 => any::<char>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn r_scope_1_a_credit_code_of_any_shape_is_refused_naming_the_field_or_is_well_formed(value in any_text()) {
        match CreditCode::parse(&value) {
            Ok(code) => {
                prop_assert_eq!(code.as_str().len(), 18);
                prop_assert!(code.as_str().bytes().all(|b| CREDIT_CHARSET.as_bytes().contains(&b)));
                prop_assert_eq!(code.to_string(), value.trim().to_ascii_uppercase());
                prop_assert!(code.division_code().bytes().all(|b| b.is_ascii_digit()));
            }
            Err(err) => names_field(err, "party.credit_code")?,
        }
    }

    #[test]
    fn r_scope_1_a_credit_code_with_correct_check_characters_is_accepted_in_either_case(code in credit_code()) {
        for spelling in [code.clone(), code.to_lowercase(), format!(" {code}\t")] {
            prop_assert_eq!(CreditCode::parse(&spelling).unwrap().to_string(), code.clone());
        }
    }

    #[test]
    fn r_scope_1_any_one_character_change_to_a_credit_code_is_refused(code in credit_code(), at in any::<usize>(), by in any_substitute()) {
        if let Some(changed) = substitute(&code, at, by) {
            match CreditCode::parse(&changed) {
                Ok(_) => prop_assert!(false, "{} accepted (from {})", changed, code),
                Err(err) => names_field(err, "party.credit_code")?,
            }
        }
        // One character less or more.
        prop_assert!(CreditCode::parse(&code[1..]).is_err());
        let longer = format!("{code}{by}");
        prop_assert!(CreditCode::parse(&longer).is_err() || by.is_whitespace());
    }

    #[test]
    fn r_scope_1_a_resident_id_of_any_shape_is_refused_naming_the_field_or_is_well_formed(value in any_text()) {
        match ResidentId::parse_on(&value, today()) {
            Ok(id) => {
                prop_assert_eq!(id.expose().to_string(), value.trim().to_ascii_uppercase());
                prop_assert!(id.birth_date() <= today());
                let masked = id.masked();
                prop_assert!(masked.contains("********") && !masked.contains(&id.expose()[6..14]), "{}", masked);
                prop_assert_eq!(format!("{id:?}"), format!("ResidentId({masked})"));
            }
            Err(err) => names_field(err, "party.resident_id")?,
        }
    }

    #[test]
    fn r_scope_1_a_generated_resident_id_is_accepted_with_its_birth_date(division in "[1-9][0-9]{5}", birth in birth_date(), serial in 0u32..1000) {
        let id = ResidentId::synthesize(&division, birth, serial).unwrap();
        let parsed = ResidentId::parse(&id.expose().to_lowercase()).unwrap();
        prop_assert_eq!(parsed.birth_date(), birth);
        prop_assert_eq!(ResidentId::parse_on(id.expose(), today()).is_ok(), birth <= today());
        if birth > today() {
            names_field(ResidentId::parse_on(id.expose(), today()).unwrap_err(), "party.resident_id")?;
        }
    }

    #[test]
    fn r_scope_1_any_one_character_change_to_a_resident_id_is_refused(
        division in "[1-9][0-9]{5}", birth in birth_date(), serial in 0u32..1000, at in any::<usize>(), by in any_substitute(),
    ) {
        let id = ResidentId::synthesize(&division, birth, serial).unwrap();
        if let Some(changed) = substitute(id.expose(), at, by) {
            match ResidentId::parse(&changed) {
                Ok(_) => prop_assert!(false, "{} accepted (from {:?})", changed, id),
                Err(err) => names_field(err, "party.resident_id")?,
            }
        }
    }
}
