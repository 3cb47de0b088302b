//! Property tests (issue 14, "fuzzed inputs") over the providers' callbacks
//! as this crate reads them: SMS delivery reports and their
//! `X-Yuetan-Signature`, and e-delivery (e-gov) acknowledgements with their
//! four signed headers.
//!
//! Never a panic on arbitrary bytes (non-UTF-8, huge, unicode, control
//! characters) or arbitrary header values; a refusal is a permanent
//! `ChannelError` naming what it read (`sms report [3].report_time`,
//! `egov ack status`, `X-Egov-Signature`); a report or acknowledgement
//! generated and signed as the provider would is accepted with its values,
//! and any change to a signed body or header is refused.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use yuetan_channels::egov::{sign_headers, HEADER_APP_ID, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use yuetan_channels::sms::{format_cst, CALLBACK_SIGNATURE_HEADER};
use yuetan_channels::{parse_egov_ack, parse_sms_reports, sign_callback, verify_callback};

const APP: &str = "yuetan-app";
const SECRET: &[u8] = b"callback-secret-0123456789abcdef";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 5).unwrap()
}

/// Arbitrary bodies: random bytes, random text, JSON-ish fragments.
fn any_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        ".{0,200}".prop_map(String::into_bytes),
        "[\\[\\]{}\",:0-9a-z_ \\\\]{0,200}".prop_map(String::into_bytes),
        (0usize..200).prop_map(|n| format!("{}{}", "[".repeat(n * 10), "]".repeat(n * 10)).into_bytes()),
        prop::collection::vec(json_value(), 0..6).prop_map(|v| serde_json::to_vec(&v).unwrap()),
    ]
}

/// JSON values with the fields of a report or an acknowledgement, holding
/// values of every type.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        ".{0,20}".prop_map(serde_json::Value::from),
        Just(serde_json::Value::from("2026-03-02 10:00:05")),
        Just(serde_json::Value::from("2026-03-02T10:00:05+08:00")),
        Just(serde_json::Value::from("DELIVERED")),
    ];
    let keys = prop::sample::select(vec![
        "out_id", "biz_id", "success", "err_code", "report_time", "phone_number", "msgId", "receiptId", "status", "deliveredAt", "reason", "x",
    ]);
    leaf.prop_recursive(3, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(keys.clone().prop_map(String::from), inner, 0..8)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A report as the provider pushes it.
fn report() -> impl Strategy<Value = (String, String, bool, String, i64)> {
    ("[A-Za-z0-9_.-]{1,64}", "[0-9]{1,20}", any::<bool>(), "[A-Z:0-9]{0,12}", 0i64..4_000_000_000)
}

fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(value) {
            map.insert(*name, value);
        }
    }
    map
}

fn ack_body(msg_id: &str, status: &str, at: DateTime<Utc>, reason: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "msgId": msg_id, "receiptId": "r-1", "status": status, "deliveredAt": at.to_rfc3339(), "reason": reason,
    }))
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn sms_reports_of_any_body_are_refused_as_permanent_naming_what_was_read(body in any_body()) {
        if let Err(err) = parse_sms_reports(&body) {
            prop_assert!(err.permanent);
            prop_assert!(err.detail.starts_with("sms report"), "{}", err.detail);
        }
    }

    #[test]
    fn generated_sms_reports_are_read_with_their_values(reports in prop::collection::vec(report(), 1..20)) {
        let body: Vec<serde_json::Value> = reports
            .iter()
            .map(|(out_id, biz_id, success, err_code, secs)| serde_json::json!({
                "out_id": out_id, "biz_id": biz_id, "success": success, "err_code": err_code,
                "report_time": format_cst(DateTime::from_timestamp(*secs, 0).unwrap()), "phone_number": "13900000000",
            }))
            .collect();
        let parsed = parse_sms_reports(&serde_json::to_vec(&body).unwrap()).unwrap();
        prop_assert_eq!(parsed.len(), reports.len());
        for (got, (out_id, biz_id, success, err_code, secs)) in parsed.iter().zip(&reports) {
            prop_assert_eq!(&got.out_id, out_id);
            prop_assert_eq!(&got.biz_id, biz_id);
            prop_assert_eq!(got.delivered, *success);
            prop_assert_eq!(&got.err_code, err_code);
            prop_assert_eq!(got.report_time.timestamp(), *secs);
        }
    }

    #[test]
    fn a_report_with_a_bad_time_or_no_out_id_is_refused_naming_its_index_and_field(
        reports in prop::collection::vec(report(), 1..6), bad_at in any::<usize>(), bad_time in ".{0,24}", drop_out_id in any::<bool>(),
    ) {
        let i = bad_at % reports.len();
        let mut body: Vec<serde_json::Value> = reports
            .iter()
            .map(|(out_id, biz_id, success, _, secs)| serde_json::json!({
                "out_id": out_id, "biz_id": biz_id, "success": success,
                "report_time": format_cst(DateTime::from_timestamp(*secs, 0).unwrap()),
            }))
            .collect();
        let field = if drop_out_id {
            body[i]["out_id"] = serde_json::Value::from("");
            "out_id"
        } else {
            prop_assume!(chrono::NaiveDateTime::parse_from_str(bad_time.trim(), "%Y-%m-%d %H:%M:%S").is_err());
            body[i]["report_time"] = serde_json::Value::from(bad_time);
            "report_time"
        };
        let err = parse_sms_reports(&serde_json::to_vec(&body).unwrap()).unwrap_err();
        prop_assert!(err.permanent && err.detail.contains(&format!("[{i}].{field}")), "{}", err.detail);
    }

    #[test]
    fn the_sms_signature_covers_every_byte_of_the_body(body in prop::collection::vec(any::<u8>(), 1..300), at in any::<usize>(), flip in 1u8..=255, header in ".{0,120}") {
        let signature = sign_callback(SECRET, &body);
        prop_assert!(verify_callback(SECRET, &body, &signature));
        let line = format!("{CALLBACK_SIGNATURE_HEADER}: {signature}");
        prop_assert!(verify_callback(SECRET, &body, &line));
        let mut changed = body.clone();
        let i = at % changed.len();
        changed[i] ^= flip;
        prop_assert!(!verify_callback(SECRET, &changed, &signature));
        prop_assert!(!verify_callback(b"another-secret", &body, &signature));
        // Any header string: an answer, no panic; a random one never verifies.
        prop_assert!(!verify_callback(SECRET, &body, &header));
        let truncated = &signature[..signature.len() - 2];
        prop_assert!(!verify_callback(SECRET, &body, truncated));
    }

    #[test]
    fn an_egov_ack_with_any_headers_and_body_is_refused_as_permanent(
        body in any_body(), app in ".{0,20}", ts in prop_oneof![".{0,20}", any::<i64>().prop_map(|t| t.to_string())], nonce in ".{0,40}", sig in ".{0,60}",
    ) {
        let map = headers(&[(HEADER_APP_ID, app), (HEADER_TIMESTAMP, ts), (HEADER_NONCE, nonce), (HEADER_SIGNATURE, sig)]);
        let err = parse_egov_ack(&map, &body, APP, SECRET, now(), Duration::from_secs(300)).unwrap_err();
        prop_assert!(err.permanent);
    }

    #[test]
    fn a_signed_egov_ack_is_read_and_any_change_to_it_is_refused(
        msg_id in "[A-Za-z0-9-]{1,40}", delivered in any::<bool>(), reason in ".{0,30}", skew in -300i64..=300, nonce in "[a-z0-9]{8,32}",
        at in any::<usize>(), flip in 1u8..=255, far in 301i64..i64::from(u32::MAX),
    ) {
        let status = if delivered { "DELIVERED" } else { "FAILED" };
        let when = now() - chrono::Duration::minutes(3);
        let body = ack_body(&msg_id, status, when, &reason);
        let ts = now().timestamp() + skew;
        let map = headers(&sign_headers(APP, SECRET, ts, &nonce, &body));
        let ack = parse_egov_ack(&map, &body, APP, SECRET, now(), Duration::from_secs(300)).unwrap();
        prop_assert_eq!(&ack.msg_id, &msg_id);
        prop_assert_eq!(ack.delivered, delivered);
        prop_assert_eq!(ack.at, when);
        prop_assert_eq!(&ack.reason, &reason);

        // One byte of the body changed.
        let mut changed = body.clone();
        let i = at % changed.len();
        changed[i] ^= flip;
        let err = parse_egov_ack(&map, &changed, APP, SECRET, now(), Duration::from_secs(300)).unwrap_err();
        prop_assert!(err.permanent && err.detail.contains(HEADER_SIGNATURE), "{}", err.detail);
        // Another app, another nonce, a timestamp too far off (signed right).
        let other_app = headers(&sign_headers("another-app", SECRET, ts, &nonce, &body));
        prop_assert!(parse_egov_ack(&other_app, &body, APP, SECRET, now(), Duration::from_secs(300)).unwrap_err().detail.contains(HEADER_APP_ID));
        let mut other_nonce = map.clone();
        other_nonce.insert(HEADER_NONCE, HeaderValue::from_str(&format!("{nonce}x")).unwrap());
        prop_assert!(parse_egov_ack(&other_nonce, &body, APP, SECRET, now(), Duration::from_secs(300)).is_err());
        let stale = headers(&sign_headers(APP, SECRET, now().timestamp() - far, &nonce, &body));
        prop_assert!(parse_egov_ack(&stale, &body, APP, SECRET, now(), Duration::from_secs(300)).unwrap_err().detail.contains(HEADER_TIMESTAMP));
        // A caller's skew larger than the cap is capped.
        prop_assert!(parse_egov_ack(&stale, &body, APP, SECRET, now(), Duration::from_secs(u64::MAX)).is_err());
    }

    #[test]
    fn a_signed_egov_ack_with_bad_content_is_refused_naming_the_field(
        msg_id in prop_oneof![Just(String::new()), "[a-z]{1,8}"], status in ".{0,12}", delivered_at in ".{0,30}", nonce in "[a-z0-9]{8}",
    ) {
        let body = serde_json::to_vec(&serde_json::json!({ "msgId": msg_id, "receiptId": "r", "status": status, "deliveredAt": delivered_at })).unwrap();
        let map = headers(&sign_headers(APP, SECRET, now().timestamp(), &nonce, &body));
        match parse_egov_ack(&map, &body, APP, SECRET, now(), Duration::from_secs(300)) {
            Ok(ack) => {
                prop_assert!(!msg_id.is_empty() && (status == "DELIVERED" || status == "FAILED"));
                prop_assert_eq!(ack.at, DateTime::parse_from_rfc3339(&delivered_at).unwrap().with_timezone(&Utc));
            }
            Err(err) => {
                let field = if msg_id.is_empty() { "msgId" } else if status != "DELIVERED" && status != "FAILED" { "status" } else { "deliveredAt" };
                prop_assert!(err.permanent && err.detail.contains(field), "{}: {}", field, err.detail);
            }
        }
    }
}
