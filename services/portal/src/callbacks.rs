//! The providers' callbacks: their signatures and their bodies, checked and
//! bounded before anything is stored. The signature schemes are
//! `yuetan-channels`' (the side that signs them); the bounded body types
//! are the portal's. The Janus event handler authenticates with HTTP Basic
//! and its posts are read by `yuetan_video::events`.

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// Largest callback body read (bytes).
pub const MAX_CALLBACK_BYTES: usize = 256 * 1024;
/// Most SMS reports in one callback.
pub const MAX_SMS_REPORTS: usize = 500;
/// Longest text field of a callback (characters).
pub const MAX_FIELD_CHARS: usize = 256;
/// Largest difference between the e-gov timestamp and our clock.
pub const MAX_EGOV_SKEW_SECS: i64 = 300;
/// Largest Janus event handler post read (bytes). Janus groups the events
/// queued since its last post into one array, and with `events = "all"` most
/// of them are not joins or leaves, so this is larger than the other bounds.
pub const MAX_JANUS_BYTES: usize = 1024 * 1024;
/// Longest `Authorization` header looked at (bytes).
pub const MAX_AUTHORIZATION_BYTES: usize = 1024;

/// Why a callback was refused: an unauthenticated one (401) tells nothing
/// more; a malformed one (400) names the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Unauthenticated,
    Invalid(String),
}

/// `X-Yuetan-Signature: sha256=<hex HMAC-SHA256(secret, body)>`, compared in
/// constant time (the scheme is `yuetan_channels::sms`'s, which signs it).
pub fn check_sms_signature(secret: &str, header: Option<&str>, body: &[u8]) -> Result<(), Refusal> {
    let header = header.ok_or(Refusal::Unauthenticated)?;
    if yuetan_channels::sms::verify_callback(secret.as_bytes(), body, header) {
        Ok(())
    } else {
        Err(Refusal::Unauthenticated)
    }
}

/// The e-gov headers: app id, timestamp within [`MAX_EGOV_SKEW_SECS`] of
/// `now`, and `base64(HMAC-SHA256(secret, appId\ntimestamp\nnonce\nbody))`
/// (the scheme is `yuetan_channels::egov`'s, which signs it); a nonce over 128
/// bytes is refused before any work.
pub fn check_egov_signature(app_id: &str, secret: &str, headers: &EgovHeaders<'_>, body: &[u8], now: DateTime<Utc>) -> Result<(), Refusal> {
    use yuetan_channels::egov::{verify_headers, HEADER_APP_ID, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP};
    if headers.nonce.is_some_and(|n| n.len() > 128) {
        return Err(Refusal::Unauthenticated);
    }
    let mut map = http::HeaderMap::new();
    for (name, value) in [(HEADER_APP_ID, headers.app_id), (HEADER_TIMESTAMP, headers.timestamp), (HEADER_NONCE, headers.nonce), (HEADER_SIGNATURE, headers.signature)] {
        let value = value.ok_or(Refusal::Unauthenticated)?;
        let value = http::HeaderValue::from_str(value).map_err(|_| Refusal::Unauthenticated)?;
        map.insert(name, value);
    }
    let max_skew = std::time::Duration::from_secs(MAX_EGOV_SKEW_SECS.unsigned_abs());
    verify_headers(&map, body, app_id, secret.as_bytes(), now, max_skew).map(|_| ()).map_err(|_| Refusal::Unauthenticated)
}

/// `Authorization: Basic base64(user ":" password)` (RFC 7617), as Janus's
/// `sampleevh` sends `backend_user`/`backend_pwd`. The decoded credentials
/// are compared whole, in constant time (HMAC tags compared with
/// `verify_slice`), so neither a wrong user nor a wrong password answers
/// sooner than the other.
pub fn check_basic_auth(user: &str, password: &str, header: Option<&str>) -> Result<(), Refusal> {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    let header = header.ok_or(Refusal::Unauthenticated)?;
    if header.len() > MAX_AUTHORIZATION_BYTES {
        return Err(Refusal::Unauthenticated);
    }
    let (scheme, credentials) = header.trim().split_once(' ').ok_or(Refusal::Unauthenticated)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(Refusal::Unauthenticated);
    }
    let given = STANDARD.decode(credentials.trim()).map_err(|_| Refusal::Unauthenticated)?;
    let tag = |bytes: &[u8]| {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"yuetan.portal.basic-auth").expect("HMAC takes any key length");
        mac.update(bytes);
        mac
    };
    let expected = tag(format!("{user}:{password}").as_bytes()).finalize().into_bytes();
    tag(&given).verify_slice(&expected).map_err(|_| Refusal::Unauthenticated)
}

/// One join or leave of a Janus post, bounded for storing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoEvent {
    pub room_id: u64,
    pub feed_id: u64,
    pub joined: bool,
    /// The participant's display name (joins; empty for leaves), control
    /// characters removed and cut to [`MAX_FIELD_CHARS`]: the participant
    /// chooses it, and one odd name must not lose the post's other events.
    pub display: String,
    pub at: DateTime<Utc>,
}

impl VideoEvent {
    /// The ids as the database keeps them (`BIGINT`): Janus keeps its ids
    /// below 2^53 (JavaScript-safe), scheduling assigns them below 2^53 too.
    pub fn db_ids(&self) -> Option<(i64, i64)> {
        Some((i64::try_from(self.room_id).ok()?, i64::try_from(self.feed_id).ok()?))
    }
}

/// The joins and leaves of a Janus event handler post (a JSON array of
/// events or one event; everything but VideoRoom joins and leaves is
/// skipped by `yuetan_video::events::parse`). A body that is not JSON is
/// refused naming the problem.
pub fn parse_janus_events(body: &[u8]) -> Result<Vec<VideoEvent>, Refusal> {
    use yuetan_video::events::RoomEvent;
    let events = yuetan_video::events::parse(body).map_err(|err| Refusal::Invalid(format!("body: not a Janus event handler post: {err}")))?;
    Ok(events
        .into_iter()
        .map(|event| match event {
            RoomEvent::Joined { room_id, feed_id, display, at } => VideoEvent {
                room_id,
                feed_id,
                joined: true,
                display: display.chars().filter(|c| !c.is_control()).take(MAX_FIELD_CHARS).collect(),
                at,
            },
            RoomEvent::Left { room_id, feed_id, at } => VideoEvent {
                room_id,
                feed_id,
                joined: false,
                display: String::new(),
                at,
            },
        })
        .collect())
}

/// The e-gov request headers, as received.
#[derive(Debug, Default, Clone, Copy)]
pub struct EgovHeaders<'a> {
    pub app_id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// One SMS delivery report (Alibaba Cloud SmsReport shape).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct SmsReport {
    #[serde(default)]
    pub phone_number: String,
    #[serde(default)]
    pub send_time: String,
    pub report_time: String,
    pub success: bool,
    #[serde(default)]
    pub err_code: String,
    #[serde(default)]
    pub err_msg: String,
    #[serde(default)]
    pub biz_id: String,
    #[serde(default)]
    pub out_id: String,
}

fn bounded(field: String, value: &str) -> Result<(), Refusal> {
    if value.chars().count() > MAX_FIELD_CHARS || value.chars().any(char::is_control) {
        return Err(Refusal::Invalid(format!(
            "{field}: at most {MAX_FIELD_CHARS} characters, no control characters"
        )));
    }
    Ok(())
}

/// The reports of a callback body, each with its JSON as received (kept
/// sealed as evidence).
pub fn parse_sms_reports(body: &[u8]) -> Result<(Vec<SmsReport>, Vec<serde_json::Value>), Refusal> {
    let raw: Vec<serde_json::Value> = serde_json::from_slice(body).map_err(|_| Refusal::Invalid("body: must be a JSON array of reports".into()))?;
    if raw.is_empty() || raw.len() > MAX_SMS_REPORTS {
        return Err(Refusal::Invalid(format!("body: 1 to {MAX_SMS_REPORTS} reports")));
    }
    let mut reports = Vec::with_capacity(raw.len());
    for (i, value) in raw.iter().enumerate() {
        let report: SmsReport = serde_json::from_value(value.clone()).map_err(|err| Refusal::Invalid(format!("[{i}]: {err}")))?;
        for (name, text) in [
            ("phone_number", &report.phone_number),
            ("send_time", &report.send_time),
            ("report_time", &report.report_time),
            ("err_code", &report.err_code),
            ("err_msg", &report.err_msg),
            ("biz_id", &report.biz_id),
            ("out_id", &report.out_id),
        ] {
            bounded(format!("[{i}].{name}"), text)?;
        }
        if report.biz_id.is_empty() && report.out_id.is_empty() {
            return Err(Refusal::Invalid(format!("[{i}].out_id: out_id or biz_id is required")));
        }
        if report.report_time.is_empty() {
            return Err(Refusal::Invalid(format!("[{i}].report_time: required")));
        }
        reports.push(report);
    }
    Ok((reports, raw))
}

/// An e-government acknowledgement.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EgovAck {
    pub msg_id: String,
    #[serde(default)]
    pub receipt_id: String,
    /// `DELIVERED` or `FAILED`.
    pub status: String,
    #[serde(default)]
    pub delivered_at: String,
    #[serde(default)]
    pub reason: String,
}

impl EgovAck {
    pub fn delivered(&self) -> bool {
        self.status == "DELIVERED"
    }
}

pub fn parse_egov_ack(body: &[u8]) -> Result<EgovAck, Refusal> {
    let ack: EgovAck = serde_json::from_slice(body).map_err(|err| Refusal::Invalid(format!("body: {err}")))?;
    for (name, text) in [
        ("msgId", &ack.msg_id),
        ("receiptId", &ack.receipt_id),
        ("status", &ack.status),
        ("deliveredAt", &ack.delivered_at),
        ("reason", &ack.reason),
    ] {
        bounded(name.to_string(), text)?;
    }
    if ack.msg_id.is_empty() {
        return Err(Refusal::Invalid("msgId: required".into()));
    }
    if ack.status != "DELIVERED" && ack.status != "FAILED" {
        return Err(Refusal::Invalid("status: must be DELIVERED or FAILED".into()));
    }
    Ok(ack)
}

#[cfg(test)]
mod tests {
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    use super::*;

    fn hmac(secret: &[u8]) -> Hmac<Sha256> {
        <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length")
    }

    #[test]
    fn the_sms_signature_covers_the_body() {
        let body = br#"[{"report_time":"2026-03-02 10:00:05","success":true,"biz_id":"b","out_id":"o"}]"#;
        let mut mac = hmac(b"0123456789abcdef");
        mac.update(body);
        let good = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        check_sms_signature("0123456789abcdef", Some(&good), body).unwrap();
        assert_eq!(check_sms_signature("0123456789abcdef", Some(&good), b"[]"), Err(Refusal::Unauthenticated));
        assert_eq!(check_sms_signature("0123456789abcdef", None, body), Err(Refusal::Unauthenticated));
        assert_eq!(
            check_sms_signature("0123456789abcdef", Some("sha256=zz"), body),
            Err(Refusal::Unauthenticated)
        );
    }

    #[test]
    fn sms_reports_are_bounded_and_name_the_field() {
        let (reports, _) = parse_sms_reports(
            r#"[{"phone_number":"13900000000","send_time":"2026-03-02 10:00:00","report_time":"2026-03-02 10:00:05","success":true,"err_code":"DELIVERED","err_msg":"用户接收成功","sms_size":"1","biz_id":"b1","out_id":"o1"}]"#
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(reports[0].out_id, "o1");
        let long = format!(r#"[{{"report_time":"t","success":true,"out_id":"{}"}}]"#, "x".repeat(300));
        let Err(Refusal::Invalid(why)) = parse_sms_reports(long.as_bytes()) else {
            panic!()
        };
        assert!(why.contains("[0].out_id"), "{why}");
        assert!(parse_sms_reports(b"{}").is_err());
        assert!(parse_sms_reports(b"[]").is_err());
    }

    #[test]
    fn basic_auth_needs_the_user_and_the_password() {
        use base64::engine::general_purpose::STANDARD;
        use base64::Engine;
        let header = |credentials: &str| format!("Basic {}", STANDARD.encode(credentials));
        let password = "janus-event-password-01";
        check_basic_auth("janus", password, Some(&header("janus:janus-event-password-01"))).unwrap();
        check_basic_auth("janus", password, Some(&format!("basic  {} ", STANDARD.encode("janus:janus-event-password-01")))).unwrap();
        for wrong in [
            Some(header("janus:janus-event-password-02")),
            Some(header("janis:janus-event-password-01")),
            Some(header("janus:")),
            Some(header("janus-event-password-01")),
            Some(format!("Bearer {}", STANDARD.encode("janus:janus-event-password-01"))),
            Some("Basic !!!".to_string()),
            Some("Basic".to_string()),
            Some(format!("Basic {}", "A".repeat(2000))),
            None,
        ] {
            assert_eq!(check_basic_auth("janus", password, wrong.as_deref()), Err(Refusal::Unauthenticated), "{wrong:?}");
        }
    }

    #[test]
    fn egov_status_must_be_known() {
        let Err(Refusal::Invalid(why)) = parse_egov_ack(br#"{"msgId":"m","status":"MAYBE"}"#) else {
            panic!()
        };
        assert!(why.contains("status"));
        assert!(parse_egov_ack(br#"{"msgId":"m","receiptId":"r","status":"FAILED","reason":"x"}"#).is_ok());
    }
}
