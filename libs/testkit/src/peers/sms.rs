//! An SMS provider shaped like Alibaba Cloud SMS (dysmsapi `SendSms`).
//!
//! It checks the RPC signature with its own implementation of Alibaba
//! Cloud's rules (form-encoding then `+`→`%20`, `*`→`%2A`, `%7E`→`~`, as
//! the provider's Java SDK does), so a wrong signature in `yuetan-channels`
//! is caught rather than mirrored.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha1::Sha1;
use tokio::task::JoinHandle;

use super::{http_client, mask_phone, serve, Behaviour};

#[derive(Debug, Clone)]
pub struct SmsPeerConfig {
    pub access_key_id: String,
    pub access_key_secret: String,
    /// Where delivery reports are pushed (`None`: no reports).
    pub callback_url: Option<String>,
    /// The key of the reports' `X-Yuetan-Signature`.
    pub callback_secret: String,
}

/// One message the peer accepted (one per `OutId`).
#[derive(Debug, Clone, PartialEq)]
pub struct SmsMessage {
    pub out_id: String,
    pub biz_id: String,
    pub phone: String,
    pub sign_name: String,
    pub template_code: String,
    pub template_param: Value,
    pub received_at: DateTime<Utc>,
}

/// One delivery report the peer pushed, and what the receiver answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedReport {
    pub out_id: String,
    pub delivered: bool,
    /// The receiver's HTTP status; `None` if it could not be reached.
    pub status: Option<u16>,
}

/// A running SMS peer; stopped on drop.
pub struct SmsPeer {
    addr: SocketAddr,
    inner: Arc<Inner>,
    server: JoinHandle<()>,
}

struct Inner {
    config: SmsPeerConfig,
    client: reqwest::Client,
    state: Mutex<PeerState>,
}

#[derive(Default)]
struct PeerState {
    messages: Vec<SmsMessage>,
    biz_by_out_id: HashMap<String, String>,
    nonces: HashSet<String>,
    scripts: HashMap<String, Behaviour>,
    requests: usize,
    bad_signatures: usize,
    pushed: Vec<PushedReport>,
}

impl SmsPeer {
    /// Starts the peer on an ephemeral port of 127.0.0.1.
    pub async fn start(config: SmsPeerConfig) -> SmsPeer {
        SmsPeer::start_on(config, ([127, 0, 0, 1], 0).into())
            .await
            .unwrap_or_else(|err| panic!("cannot start the SMS peer: {err:#}"))
    }

    pub async fn start_on(config: SmsPeerConfig, addr: SocketAddr) -> Result<SmsPeer> {
        let inner = Arc::new(Inner {
            config,
            client: http_client(),
            state: Mutex::default(),
        });
        let router = axum::Router::new().fallback(send_sms).with_state(inner.clone());
        let (addr, server) = serve(router, addr).await?;
        Ok(SmsPeer { addr, inner, server })
    }

    /// The endpoint for `SmsConfig::endpoint`: `http://127.0.0.1:<port>/`.
    pub fn endpoint(&self) -> String {
        format!("http://{}/", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// What the peer does with messages to `phone` from now on.
    pub fn script(&self, phone: &str, behaviour: Behaviour) {
        self.inner.state.lock().unwrap().scripts.insert(phone.to_string(), behaviour);
    }

    /// Every message accepted, in order (a resend with the same `OutId` is not a new message).
    pub fn messages(&self) -> Vec<SmsMessage> {
        self.inner.state.lock().unwrap().messages.clone()
    }

    /// How many messages went "to the phone".
    pub fn sent_count(&self, phone: &str) -> usize {
        self.inner.state.lock().unwrap().messages.iter().filter(|m| m.phone == phone).count()
    }

    /// How many `SendSms` requests came, accepted or not.
    pub fn request_count(&self) -> usize {
        self.inner.state.lock().unwrap().requests
    }

    /// How many requests were refused with `SignatureDoesNotMatch`.
    pub fn bad_signatures(&self) -> usize {
        self.inner.state.lock().unwrap().bad_signatures
    }

    /// Every delivery report pushed so far.
    pub fn pushed_reports(&self) -> Vec<PushedReport> {
        self.inner.state.lock().unwrap().pushed.clone()
    }

    /// Pushes a delivery report for the message with `out_id` now, by hand,
    /// and returns the receiver's HTTP status.
    pub async fn push_report(&self, out_id: &str, delivered: bool, report_time: DateTime<Utc>) -> Result<u16> {
        let message = self.inner.state.lock().unwrap().messages.iter().find(|m| m.out_id == out_id).cloned();
        let Some(message) = message else {
            bail!("the SMS peer has no message with OutId {out_id}")
        };
        let err_code = if delivered { "DELIVERED" } else { "UNDELIV" };
        push(&self.inner, &message, delivered, err_code, report_time).await
    }
}

impl Drop for SmsPeer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

type Reply = (StatusCode, Json<Value>);

fn error(status: StatusCode, code: &str, message: &str) -> Reply {
    (
        status,
        Json(json!({"Code": code, "Message": message, "RequestId": uuid::Uuid::now_v7().to_string().to_uppercase()})),
    )
}

async fn send_sms(State(inner): State<Arc<Inner>>, body: Bytes) -> Reply {
    let params: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    inner.state.lock().unwrap().requests += 1;
    if let Err(reply) = check_signature(&inner, &params) {
        return reply;
    }
    let get = |name: &str| params.get(name).map(String::as_str).unwrap_or_default();
    if get("Action") != "SendSms" {
        return error(StatusCode::BAD_REQUEST, "InvalidAction.NotFound", "Specified api is not found");
    }
    if get("Version") != "2017-05-25" {
        return error(StatusCode::BAD_REQUEST, "InvalidVersion", "Specified parameter Version is not valid.");
    }
    for required in ["PhoneNumbers", "SignName", "TemplateCode"] {
        if get(required).is_empty() {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("Missing{required}"),
                &format!("{required} is mandatory for this action."),
            );
        }
    }
    let phone = get("PhoneNumbers").to_string();
    let digits = phone.trim_start_matches('+');
    if digits.len() < 5 || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return error(StatusCode::OK, "isv.MOBILE_NUMBER_ILLEGAL", "非法手机号");
    }
    let template_param: Value = match get("TemplateParam") {
        "" => json!({}),
        text => match serde_json::from_str(text) {
            Ok(value) => value,
            Err(_) => return error(StatusCode::OK, "isv.INVALID_JSON_PARAM", "JSON参数不合法"),
        },
    };
    let out_id = get("OutId").to_string();

    let (message, behaviour) = {
        let mut state = inner.state.lock().unwrap();
        if let Some(biz_id) = state.biz_by_out_id.get(&out_id).filter(|_| !out_id.is_empty()) {
            tracing::info!(target: "yuetan_peers", phone = %mask_phone(&phone), %out_id, %biz_id, "sms: SendSms again for a known OutId; same BizId, no new message");
            return ok(biz_id);
        }
        let behaviour = state.scripts.get(&phone).cloned().unwrap_or_default();
        if let Behaviour::Reject { code } = &behaviour {
            tracing::info!(target: "yuetan_peers", phone = %mask_phone(&phone), %out_id, %code, "sms: SendSms refused (scripted)");
            return error(StatusCode::OK, code, "rejected by the peer's script");
        }
        let biz_id = format!("{}^0", rand_digits());
        let message = SmsMessage {
            out_id: out_id.clone(),
            biz_id: biz_id.clone(),
            phone: phone.clone(),
            sign_name: get("SignName").to_string(),
            template_code: get("TemplateCode").to_string(),
            template_param,
            received_at: Utc::now(),
        };
        if !out_id.is_empty() {
            state.biz_by_out_id.insert(out_id.clone(), biz_id);
        }
        state.messages.push(message.clone());
        (message, behaviour)
    };
    tracing::info!(target: "yuetan_peers", phone = %mask_phone(&phone), out_id = %message.out_id, biz_id = %message.biz_id,
        template = %message.template_code, "sms: accepted; {behaviour:?}");

    if inner.config.callback_url.is_some() {
        let (inner, message, biz_id) = (inner.clone(), message.clone(), message.biz_id.clone());
        tokio::spawn(async move {
            let (delivered, err_code, times, delay) = match behaviour {
                Behaviour::Deliver { delay } => (true, "DELIVERED".to_string(), 1, delay),
                Behaviour::Fail { err_code } => (false, err_code, 1, super::DEFAULT_DELAY),
                Behaviour::Duplicate => (true, "DELIVERED".to_string(), 2, super::DEFAULT_DELAY),
                Behaviour::Silent | Behaviour::Reject { .. } => return,
            };
            tokio::time::sleep(delay).await;
            for _ in 0..times {
                if let Err(err) = push(&inner, &message, delivered, &err_code, Utc::now()).await {
                    tracing::warn!(target: "yuetan_peers", %biz_id, "sms: report push failed: {err:#}");
                }
            }
        });
    }
    ok(&message.biz_id)
}

fn ok(biz_id: &str) -> Reply {
    (
        StatusCode::OK,
        Json(json!({"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": uuid::Uuid::now_v7().to_string().to_uppercase()})),
    )
}

fn rand_digits() -> String {
    let n = uuid::Uuid::now_v7().as_u128() ^ (uuid::Uuid::new_v4().as_u128() >> 64);
    format!("{:018}", n % 1_000_000_000_000_000_000)
}

/// Alibaba Cloud's checks, in its order: the key, the signature method and
/// version, the timestamp (15 minutes), the nonce (used once), the signature.
fn check_signature(inner: &Inner, params: &HashMap<String, String>) -> Result<(), Reply> {
    let get = |name: &str| params.get(name).map(String::as_str).unwrap_or_default();
    let refuse = |code: &str, message: &str| {
        inner.state.lock().unwrap().bad_signatures += usize::from(code == "SignatureDoesNotMatch");
        tracing::info!(target: "yuetan_peers", %code, "sms: request refused");
        Err(error(StatusCode::BAD_REQUEST, code, message))
    };
    if get("AccessKeyId") != inner.config.access_key_id {
        return refuse("InvalidAccessKeyId.NotFound", "Specified access key is not found.");
    }
    if get("SignatureMethod") != "HMAC-SHA1" || get("SignatureVersion") != "1.0" {
        return refuse("InvalidSignatureMethod", "Specified signature method or version is not supported.");
    }
    let fresh = DateTime::parse_from_rfc3339(get("Timestamp")).is_ok_and(|t| (Utc::now() - t.with_timezone(&Utc)).num_seconds().abs() <= 900);
    if !fresh {
        return refuse("InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.");
    }
    let mut sorted: Vec<(&String, &String)> = params.iter().filter(|(k, _)| k.as_str() != "Signature").collect();
    sorted.sort();
    let canonical = sorted
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let string_to_sign = format!("POST&{}&{}", encode("/"), encode(&canonical));
    let mut mac = <Hmac<Sha1>>::new_from_slice(format!("{}&", inner.config.access_key_secret).as_bytes()).expect("any key length");
    mac.update(string_to_sign.as_bytes());
    let Ok(given) = base64::engine::general_purpose::STANDARD.decode(get("Signature")) else {
        return refuse("SignatureDoesNotMatch", "Specified signature is not matched with our calculation.");
    };
    if mac.verify_slice(&given).is_err() {
        return refuse("SignatureDoesNotMatch", "Specified signature is not matched with our calculation.");
    }
    if !inner.state.lock().unwrap().nonces.insert(get("SignatureNonce").to_string()) || get("SignatureNonce").is_empty() {
        return refuse("SignatureNonceUsed", "Specified signature nonce was used already.");
    }
    Ok(())
}

/// Alibaba Cloud's percent-encoding as its SDKs compute it.
fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
        .replace('*', "%2A")
        .replace("%7E", "~")
}

/// Pushes one report for `message`, signed, and records the answer.
async fn push(inner: &Inner, message: &SmsMessage, delivered: bool, err_code: &str, report_time: DateTime<Utc>) -> Result<u16> {
    let Some(url) = inner.config.callback_url.clone() else {
        bail!("the SMS peer has no callback_url")
    };
    let report = json!([{
        "phone_number": message.phone,
        "send_time": yuetan_channels::sms::format_cst(message.received_at),
        "report_time": yuetan_channels::sms::format_cst(report_time),
        "success": delivered,
        "err_code": err_code,
        "err_msg": if delivered { "用户接收成功" } else { "用户接收失败" },
        "sms_size": "1",
        "biz_id": message.biz_id,
        "out_id": message.out_id,
    }]);
    let body = serde_json::to_vec(&report)?;
    let signature = yuetan_channels::sign_callback(inner.config.callback_secret.as_bytes(), &body);
    let result = inner
        .client
        .post(&url)
        .header("Content-Type", "application/json")
        .header(yuetan_channels::sms::CALLBACK_SIGNATURE_HEADER, signature)
        .body(body)
        .send()
        .await;
    let status = result.as_ref().ok().map(|r| r.status().as_u16());
    inner.state.lock().unwrap().pushed.push(PushedReport {
        out_id: message.out_id.clone(),
        delivered,
        status,
    });
    tracing::info!(target: "yuetan_peers", out_id = %message.out_id, delivered, status = ?status, "sms: report pushed");
    let response = result.context("pushing the delivery report")?;
    Ok(response.status().as_u16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_encoding_is_rfc3986() {
        assert_eq!(encode("a b*c~d+e/f:é"), "a%20b%2Ac~d%2Be%2Ff%3A%C3%A9");
    }
}
