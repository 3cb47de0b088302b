//! The government e-delivery platform: a signed JSON webhook to send, and a
//! signed acknowledgement the platform posts back to `callbackUrl`.
//!
//! Both directions carry four headers: `X-Egov-AppId`, `X-Egov-Timestamp`
//! (unix seconds), `X-Egov-Nonce` and `X-Egov-Signature` =
//! base64(HMAC-SHA256(secret, appId + "\n" + timestamp + "\n" + nonce + "\n" + body)).

use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use http::HeaderMap;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::{check_key, http_client, http_error, json_error, require, ChannelError, SendOutcome};

pub const HEADER_APP_ID: &str = "X-Egov-AppId";
pub const HEADER_TIMESTAMP: &str = "X-Egov-Timestamp";
pub const HEADER_NONCE: &str = "X-Egov-Nonce";
pub const HEADER_SIGNATURE: &str = "X-Egov-Signature";

/// The largest difference between a signed timestamp and our clock that an
/// acknowledgement may have.
pub const MAX_SKEW: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
pub struct EgovConfig {
    /// The platform's delivery endpoint (the local peer's `http://127.0.0.1:7402/`).
    pub endpoint: String,
    pub app_id: String,
    pub secret: String,
    /// Where the platform posts its acknowledgement (the portal's callback).
    pub callback_url: String,
    pub timeout_secs: u64,
}

pub struct EgovChannel {
    config: EgovConfig,
    client: reqwest::Client,
}

/// The request body of a delivery.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EgovDelivery {
    pub msg_id: String,
    pub recipient_account: String,
    pub title: String,
    pub link: String,
    pub callback_url: String,
    pub sent_at: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EgovResponse {
    code: String,
    #[serde(default)]
    receipt_id: Option<String>,
}

impl EgovChannel {
    pub fn new(config: EgovConfig) -> EgovChannel {
        let client = http_client(config.timeout_secs);
        EgovChannel { config, client }
    }

    /// Delivers `title` and `link` to the platform account `account`, with
    /// `msgId` = `key`. Answer `code` "0" gives the `receiptId`; a code
    /// starting with `4` (the platform refuses the request or the account)
    /// is permanent, anything else (or a transport error) retryable.
    pub async fn send(&self, key: &str, account: &str, title: &str, link: &str) -> Result<SendOutcome, ChannelError> {
        check_key(key)?;
        require("account", account)?;
        require("title", title)?;
        require("link", link)?;
        let delivery = EgovDelivery {
            msg_id: key.to_string(),
            recipient_account: account.to_string(),
            title: title.to_string(),
            link: link.to_string(),
            callback_url: self.config.callback_url.clone(),
            sent_at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        let body = serde_json::to_vec(&delivery).expect("a struct of strings serialises");
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let headers = sign_headers(&self.config.app_id, self.config.secret.as_bytes(), Utc::now().timestamp(), &nonce, &body);

        let mut request = self
            .client
            .post(&self.config.endpoint)
            .header(http::header::CONTENT_TYPE, "application/json");
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.body(body).send().await.map_err(|err| http_error("egov send", err))?;
        let status = response.status();
        let text = response.text().await.map_err(|err| http_error("egov send", err))?;
        let parsed: EgovResponse = match serde_json::from_str(&text) {
            Ok(parsed) => parsed,
            Err(_) if status.is_client_error() => return Err(ChannelError::permanent(format!("egov send: HTTP {status} without a JSON answer"))),
            Err(_) => return Err(ChannelError::transient(format!("egov send: HTTP {status} without a JSON answer"))),
        };
        if parsed.code == "0" {
            let Some(receipt_id) = parsed.receipt_id.filter(|id| !id.is_empty()) else {
                return Err(ChannelError::transient("egov send: code 0 without a receiptId"));
            };
            return Ok(SendOutcome {
                provider_id: receipt_id,
                reply: text,
            });
        }
        let detail = format!("egov send: HTTP {status}, code {}", parsed.code);
        if parsed.code.starts_with('4') {
            Err(ChannelError::permanent(detail))
        } else {
            Err(ChannelError::transient(detail))
        }
    }
}

/// base64(HMAC-SHA256(secret, appId "\n" timestamp "\n" nonce "\n" body)).
pub fn egov_signature(app_id: &str, secret: &[u8], timestamp: i64, nonce: &str, body: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(mac(app_id, secret, &timestamp.to_string(), nonce, body).finalize().into_bytes())
}

fn mac(app_id: &str, secret: &[u8], timestamp: &str, nonce: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256>>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(app_id.as_bytes());
    mac.update(b"\n");
    mac.update(timestamp.as_bytes());
    mac.update(b"\n");
    mac.update(nonce.as_bytes());
    mac.update(b"\n");
    mac.update(body);
    mac
}

/// The four signed headers for `body` (the sender's side; the peers use it
/// to sign acknowledgements).
pub fn sign_headers(app_id: &str, secret: &[u8], timestamp: i64, nonce: &str, body: &[u8]) -> [(&'static str, String); 4] {
    [
        (HEADER_APP_ID, app_id.to_string()),
        (HEADER_TIMESTAMP, timestamp.to_string()),
        (HEADER_NONCE, nonce.to_string()),
        (HEADER_SIGNATURE, egov_signature(app_id, secret, timestamp, nonce, body)),
    ]
}

/// Checks the four headers of a request or acknowledgement: the app id is
/// `app_id`, the timestamp within `max_skew` of `now`, the signature right
/// (compared in constant time). Returns the signed timestamp.
pub fn verify_headers(
    headers: &HeaderMap,
    body: &[u8],
    app_id: &str,
    secret: &[u8],
    now: DateTime<Utc>,
    max_skew: Duration,
) -> Result<i64, ChannelError> {
    let header = |name: &str| -> Result<&str, ChannelError> {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ChannelError::permanent(format!("{name}: missing")))
    };
    let got_app_id = header(HEADER_APP_ID)?;
    if got_app_id != app_id {
        return Err(ChannelError::permanent(format!("{HEADER_APP_ID}: not our app id")));
    }
    let timestamp_text = header(HEADER_TIMESTAMP)?;
    let timestamp: i64 = timestamp_text
        .parse()
        .map_err(|_| ChannelError::permanent(format!("{HEADER_TIMESTAMP}: not unix seconds")))?;
    let nonce = header(HEADER_NONCE)?;
    let signature = header(HEADER_SIGNATURE)?;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signature)
        .map_err(|_| ChannelError::permanent(format!("{HEADER_SIGNATURE}: not base64")))?;
    if mac(got_app_id, secret, timestamp_text, nonce, body).verify_slice(&signature).is_err() {
        return Err(ChannelError::permanent(format!("{HEADER_SIGNATURE}: does not match the body")));
    }
    let skew = now.timestamp().abs_diff(timestamp);
    if skew > max_skew.as_secs() {
        return Err(ChannelError::permanent(format!(
            "{HEADER_TIMESTAMP}: {skew} s away from our clock (at most {} s)",
            max_skew.as_secs()
        )));
    }
    Ok(timestamp)
}

/// The platform's acknowledgement of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgovAck {
    /// Our idempotency key, as sent in `msgId`.
    pub msg_id: String,
    pub receipt_id: String,
    /// `status` was `DELIVERED` (else `FAILED`).
    pub delivered: bool,
    /// `deliveredAt`: when the platform delivered (or gave up).
    pub at: DateTime<Utc>,
    /// The platform's reason for a failure (empty when delivered).
    pub reason: String,
}

/// The acknowledgement body as the platform (and the peer) writes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EgovAckBody {
    pub msg_id: String,
    pub receipt_id: String,
    pub status: String,
    pub delivered_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Checks an acknowledgement's signature and timestamp (at most `max_skew`,
/// itself capped at [`MAX_SKEW`], from `now`), then parses it.
pub fn parse_egov_ack(
    headers: &HeaderMap,
    body: &[u8],
    app_id: &str,
    secret: &[u8],
    now: DateTime<Utc>,
    max_skew: Duration,
) -> Result<EgovAck, ChannelError> {
    verify_headers(headers, body, app_id, secret, now, max_skew.min(MAX_SKEW))?;
    let raw: EgovAckBody = serde_json::from_slice(body).map_err(|err| json_error("egov ack", &err))?;
    if raw.msg_id.is_empty() {
        return Err(ChannelError::permanent("egov ack msgId: must not be empty"));
    }
    let delivered = match raw.status.as_str() {
        "DELIVERED" => true,
        "FAILED" => false,
        _ => return Err(ChannelError::permanent("egov ack status: expected DELIVERED or FAILED")),
    };
    let at = DateTime::parse_from_rfc3339(&raw.delivered_at)
        .map_err(|_| ChannelError::permanent("egov ack deliveredAt: expected an RFC 3339 time"))?
        .with_timezone(&Utc);
    Ok(EgovAck {
        msg_id: raw.msg_id,
        receipt_id: raw.receipt_id,
        delivered,
        at,
        reason: raw.reason.unwrap_or_default(),
    })
}
