//! SMS, shaped like Alibaba Cloud SMS (dysmsapi `SendSms`, RPC-style API,
//! signature version 1.0), and its delivery reports (`SmsReport`), which the
//! provider pushes to the portal signed with `X-Yuetan-Signature`.

use std::collections::BTreeMap;

use base64::Engine as _;
use chrono::{DateTime, FixedOffset, NaiveDateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha1::Sha1;
use sha2::Sha256;

use crate::{check_key, http_client, http_error, json_error, require, ChannelError, SendOutcome};

/// The header the SMS provider (and its local peer) signs delivery reports with.
pub const CALLBACK_SIGNATURE_HEADER: &str = "X-Yuetan-Signature";

#[derive(Debug, Clone)]
pub struct SmsConfig {
    /// The provider's RPC endpoint, e.g. `https://dysmsapi.aliyuncs.com/`
    /// or the local peer's `http://127.0.0.1:7401/`.
    pub endpoint: String,
    pub access_key_id: String,
    pub access_key_secret: String,
    /// The approved signature (签名) shown in front of the text.
    pub sign_name: String,
    /// The approved template (模板) the text is made from.
    pub template_code: String,
    pub timeout_secs: u64,
}

pub struct SmsChannel {
    config: SmsConfig,
    client: reqwest::Client,
}

#[derive(Debug, Deserialize)]
struct SendSmsResponse {
    #[serde(rename = "Code")]
    code: String,
    #[serde(rename = "BizId", default)]
    biz_id: Option<String>,
}

impl SmsChannel {
    pub fn new(config: SmsConfig) -> SmsChannel {
        let client = http_client(config.timeout_secs);
        SmsChannel { config, client }
    }

    /// Sends the template `template_code` with `template_param` to `phone`,
    /// with `OutId` = `key`. The provider's answer `Code` "OK" gives the
    /// `BizId`; `isv.*` codes (invalid number, template, signature…) are
    /// permanent, any other code or a transport error is retryable.
    pub async fn send(&self, key: &str, phone: &str, template_param: &serde_json::Value) -> Result<SendOutcome, ChannelError> {
        check_key(key)?;
        require("phone", phone)?;
        if !template_param.is_object() {
            return Err(ChannelError::permanent("template_param: must be a JSON object"));
        }
        let nonce = uuid::Uuid::new_v4().to_string();
        let timestamp = Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let template_param = template_param.to_string();
        let params: BTreeMap<&str, &str> = BTreeMap::from([
            ("AccessKeyId", self.config.access_key_id.as_str()),
            ("Action", "SendSms"),
            ("Format", "JSON"),
            ("OutId", key),
            ("PhoneNumbers", phone),
            ("SignName", self.config.sign_name.as_str()),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", nonce.as_str()),
            ("SignatureVersion", "1.0"),
            ("TemplateCode", self.config.template_code.as_str()),
            ("TemplateParam", template_param.as_str()),
            ("Timestamp", timestamp.as_str()),
            ("Version", "2017-05-25"),
        ]);
        let signature = aliyun_signature("POST", &params, &self.config.access_key_secret);
        let body = format!("{}&Signature={}", canonicalized_query(&params), percent_encode(&signature));

        let response = self
            .client
            .post(&self.config.endpoint)
            .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(http::header::ACCEPT, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|err| http_error("sms SendSms", err))?;
        let status = response.status();
        let text = response.text().await.map_err(|err| http_error("sms SendSms", err))?;
        let parsed: SendSmsResponse = match serde_json::from_str(&text) {
            Ok(parsed) => parsed,
            Err(_) => return Err(ChannelError::transient(format!("sms SendSms: HTTP {status} without a JSON answer"))),
        };
        // The provider's answer has no personal data (Code, Message, BizId,
        // RequestId); keep it as it came.
        if parsed.code == "OK" {
            let Some(biz_id) = parsed.biz_id.filter(|id| !id.is_empty()) else {
                return Err(ChannelError::transient("sms SendSms: Code OK without a BizId"));
            };
            return Ok(SendOutcome {
                provider_id: biz_id,
                reply: text,
            });
        }
        let detail = format!("sms SendSms: HTTP {status}, Code {}", parsed.code);
        if parsed.code.starts_with("isv.") {
            Err(ChannelError::permanent(detail))
        } else {
            Err(ChannelError::transient(detail))
        }
    }
}

/// Alibaba Cloud's percent-encoding for signatures: RFC 3986 (everything
/// but `A-Z a-z 0-9 - _ . ~` encoded as `%XX`, UTF-8, upper-case hex), which
/// is what the SDKs get from form-encoding with `+`→`%20`, `*`→`%2A`, `%7E`→`~`.
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `k=v&k=v…` with keys in byte order and both sides percent-encoded.
fn canonicalized_query(params: &BTreeMap<&str, &str>) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The Alibaba Cloud RPC signature (version 1.0, HMAC-SHA1) of `params`
/// (without `Signature`): base64(HMAC-SHA1(secret + "&",
/// method + "&%2F&" + percentEncode(canonicalized query))).
pub fn aliyun_signature(method: &str, params: &BTreeMap<&str, &str>, access_key_secret: &str) -> String {
    let string_to_sign = format!("{method}&{}&{}", percent_encode("/"), percent_encode(&canonicalized_query(params)));
    let mut mac = <Hmac<Sha1>>::new_from_slice(format!("{access_key_secret}&").as_bytes()).expect("HMAC takes a key of any length");
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// One delivery report, without the phone number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsReport {
    /// Our idempotency key (the service-attempt id) as sent in `OutId`.
    pub out_id: String,
    pub biz_id: String,
    /// The handset received the message (`success: true`).
    pub delivered: bool,
    /// The operator's status, e.g. `DELIVERED`, `MK:0001`, `UNDELIV`.
    pub err_code: String,
    /// When the operator reported (the report's `report_time`, China Standard Time).
    pub report_time: DateTime<Utc>,
}

#[derive(Deserialize)]
struct RawReport {
    #[serde(default)]
    out_id: Option<String>,
    biz_id: String,
    success: bool,
    #[serde(default)]
    err_code: Option<String>,
    report_time: String,
}

/// Parses a pushed body of delivery reports (a JSON array shaped like
/// Alibaba Cloud's `SmsReport` messages). Check the signature first
/// ([`verify_callback`]). Times are China Standard Time (UTC+8).
pub fn parse_sms_reports(body: &[u8]) -> Result<Vec<SmsReport>, ChannelError> {
    let raw: Vec<RawReport> = serde_json::from_slice(body).map_err(|err| json_error("sms report", &err))?;
    raw.into_iter()
        .enumerate()
        .map(|(i, r)| {
            let report_time = parse_cst(&r.report_time).ok_or_else(|| {
                ChannelError::permanent(format!(
                    "sms report [{i}].report_time: expected YYYY-MM-DD HH:MM:SS (China Standard Time)"
                ))
            })?;
            let out_id = r.out_id.unwrap_or_default();
            if out_id.is_empty() {
                return Err(ChannelError::permanent(format!(
                    "sms report [{i}].out_id: missing (every send sets OutId)"
                )));
            }
            Ok(SmsReport {
                out_id,
                biz_id: r.biz_id,
                delivered: r.success,
                err_code: r.err_code.unwrap_or_default(),
                report_time,
            })
        })
        .collect()
}

/// China Standard Time, the zone of the provider's report times.
pub fn china_standard_time() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

fn parse_cst(text: &str) -> Option<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S").ok()?;
    Some(naive.and_local_timezone(china_standard_time()).single()?.with_timezone(&Utc))
}

/// Formats a time as the provider's report times are written
/// (`YYYY-MM-DD HH:MM:SS`, China Standard Time); for the peers.
pub fn format_cst(at: DateTime<Utc>) -> String {
    at.with_timezone(&china_standard_time()).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// The `X-Yuetan-Signature` value for a callback body: `sha256=<hex
/// HMAC-SHA256(secret, body)>`.
pub fn sign_callback(secret: &[u8], body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256>>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks an `X-Yuetan-Signature` header value (`sha256=<hex>`) against the
/// body, in constant time. A missing prefix, bad hex or wrong MAC is `false`.
pub fn verify_callback(secret: &[u8], body: &[u8], header: &str) -> bool {
    let value = header.trim();
    // Tolerate the whole header line as well as its value.
    let value = value
        .strip_prefix(CALLBACK_SIGNATURE_HEADER)
        .map(|rest| rest.trim_start_matches(':').trim())
        .unwrap_or(value);
    let Some(hex_mac) = value.strip_prefix("sha256=") else { return false };
    let Ok(expected) = hex::decode(hex_mac) else { return false };
    let mut mac = <Hmac<Sha256>>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of Alibaba Cloud's RPC signature documentation
    /// (ECS DescribeRegions, AccessKey `testid` / `testsecret`).
    #[test]
    fn signature_matches_the_documented_example() {
        let params = BTreeMap::from([
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("Format", "XML"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Version", "2014-05-26"),
        ]);
        assert_eq!(aliyun_signature("GET", &params, "testsecret"), "OLeaidS1JvxuMvnyHOwuJ+uX5qY=");
    }

    /// The worked example of the SMS documentation (SendSms, AccessKey
    /// `testId` / `testSecret`, a Chinese SignName and a JSON TemplateParam).
    #[test]
    fn signature_matches_the_documented_sms_example() {
        let params = BTreeMap::from([
            ("AccessKeyId", "testId"),
            ("Action", "SendSms"),
            ("Format", "XML"),
            ("OutId", "123"),
            ("PhoneNumbers", "15300000001"),
            ("RegionId", "cn-hangzhou"),
            ("SignName", "阿里云短信测试专用"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "45e25e9b-0a6f-4070-8c85-2956eda1b466"),
            ("SignatureVersion", "1.0"),
            ("TemplateCode", "SMS_71390007"),
            ("TemplateParam", r#"{"customer":"test"}"#),
            ("Timestamp", "2017-07-12T02:42:19Z"),
            ("Version", "2017-05-25"),
        ]);
        assert_eq!(aliyun_signature("GET", &params, "testSecret"), "zJDF+Lrzhj/ThnlvIToysFRq6t4=");
    }

    #[test]
    fn percent_encoding_follows_aliyun() {
        assert_eq!(percent_encode("a b*c~d+e/f:é"), "a%20b%2Ac~d%2Be%2Ff%3A%C3%A9");
    }

    #[test]
    fn report_times_are_china_standard_time() {
        let at = parse_cst("2026-10-09 10:00:05").unwrap();
        assert_eq!(at.to_rfc3339(), "2026-10-09T02:00:05+00:00");
        assert_eq!(format_cst(at), "2026-10-09 10:00:05");
    }
}
