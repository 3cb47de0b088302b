//! The government e-delivery platform: checks the signed webhook,
//! deduplicates on `msgId`, and posts a signed acknowledgement to the
//! request's `callbackUrl`.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use yuetan_channels::egov::{sign_headers, verify_headers, EgovAckBody, EgovDelivery, HEADER_NONCE, MAX_SKEW};

use super::{http_client, mask_account, serve, Behaviour};

#[derive(Debug, Clone)]
pub struct EgovPeerConfig {
    pub app_id: String,
    pub secret: String,
}

/// One delivery the platform accepted (one per `msgId`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgovMessage {
    pub msg_id: String,
    pub receipt_id: String,
    pub recipient_account: String,
    pub title: String,
    pub link: String,
    pub callback_url: String,
    pub received_at: DateTime<Utc>,
}

/// One acknowledgement the peer posted, and what the receiver answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgovAckSent {
    pub msg_id: String,
    pub delivered: bool,
    /// The receiver's HTTP status; `None` if it could not be reached.
    pub status: Option<u16>,
}

/// A running e-gov peer; stopped on drop.
pub struct EgovPeer {
    addr: SocketAddr,
    inner: Arc<Inner>,
    server: JoinHandle<()>,
}

struct Inner {
    config: EgovPeerConfig,
    client: reqwest::Client,
    state: Mutex<PeerState>,
}

#[derive(Default)]
struct PeerState {
    messages: Vec<EgovMessage>,
    nonces: HashSet<String>,
    scripts: HashMap<String, Behaviour>,
    requests: usize,
    bad_signatures: usize,
    acks: Vec<EgovAckSent>,
}

impl EgovPeer {
    /// Starts the peer on an ephemeral port of 127.0.0.1.
    pub async fn start(config: EgovPeerConfig) -> EgovPeer {
        EgovPeer::start_on(config, ([127, 0, 0, 1], 0).into())
            .await
            .unwrap_or_else(|err| panic!("cannot start the e-gov peer: {err:#}"))
    }

    pub async fn start_on(config: EgovPeerConfig, addr: SocketAddr) -> Result<EgovPeer> {
        let inner = Arc::new(Inner {
            config,
            client: http_client(),
            state: Mutex::default(),
        });
        let router = axum::Router::new().fallback(deliver).with_state(inner.clone());
        let (addr, server) = serve(router, addr).await?;
        Ok(EgovPeer { addr, inner, server })
    }

    /// The endpoint for `EgovConfig::endpoint`: `http://127.0.0.1:<port>/`.
    pub fn endpoint(&self) -> String {
        format!("http://{}/", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// What the peer does with deliveries to `account` from now on.
    pub fn script(&self, account: &str, behaviour: Behaviour) {
        self.inner.state.lock().unwrap().scripts.insert(account.to_string(), behaviour);
    }

    pub fn messages(&self) -> Vec<EgovMessage> {
        self.inner.state.lock().unwrap().messages.clone()
    }

    /// How many deliveries reached `account`.
    pub fn sent_count(&self, account: &str) -> usize {
        self.inner
            .state
            .lock()
            .unwrap()
            .messages
            .iter()
            .filter(|m| m.recipient_account == account)
            .count()
    }

    pub fn request_count(&self) -> usize {
        self.inner.state.lock().unwrap().requests
    }

    pub fn bad_signatures(&self) -> usize {
        self.inner.state.lock().unwrap().bad_signatures
    }

    pub fn acks_sent(&self) -> Vec<EgovAckSent> {
        self.inner.state.lock().unwrap().acks.clone()
    }

    /// Posts an acknowledgement for the delivery `msg_id` now, by hand, and
    /// returns the receiver's HTTP status.
    pub async fn push_ack(&self, msg_id: &str, delivered: bool, at: DateTime<Utc>) -> Result<u16> {
        let message = self.inner.state.lock().unwrap().messages.iter().find(|m| m.msg_id == msg_id).cloned();
        let Some(message) = message else {
            bail!("the e-gov peer has no delivery with msgId {msg_id}")
        };
        let reason = (!delivered).then(|| "RECIPIENT_UNREACHABLE".to_string());
        ack(&self.inner, &message, delivered, reason, at).await
    }
}

impl Drop for EgovPeer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

type Reply = (StatusCode, Json<Value>);

fn reply(status: StatusCode, code: &str, message: &str) -> Reply {
    (status, Json(json!({"code": code, "message": message})))
}

async fn deliver(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Reply {
    inner.state.lock().unwrap().requests += 1;
    let secret = inner.config.secret.as_bytes();
    if let Err(err) = verify_headers(&headers, &body, &inner.config.app_id, secret, Utc::now(), MAX_SKEW) {
        inner.state.lock().unwrap().bad_signatures += 1;
        tracing::info!(target: "yuetan_peers", "egov: request refused: {}", err.detail);
        return reply(StatusCode::UNAUTHORIZED, "401", &err.detail);
    }
    let nonce = headers.get(HEADER_NONCE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    if !inner.state.lock().unwrap().nonces.insert(nonce) {
        return reply(StatusCode::UNAUTHORIZED, "401", "nonce used already");
    }
    let delivery: EgovDelivery = match serde_json::from_slice(&body) {
        Ok(delivery) => delivery,
        Err(_) => return reply(StatusCode::BAD_REQUEST, "400", "body is not a delivery"),
    };
    if delivery.msg_id.is_empty() || delivery.recipient_account.is_empty() || delivery.callback_url.is_empty() {
        return reply(StatusCode::BAD_REQUEST, "400", "msgId, recipientAccount and callbackUrl are required");
    }
    let account = mask_account(&delivery.recipient_account);
    let (message, behaviour) = {
        let mut state = inner.state.lock().unwrap();
        if let Some(known) = state.messages.iter().find(|m| m.msg_id == delivery.msg_id) {
            tracing::info!(target: "yuetan_peers", %account, msg_id = %known.msg_id, receipt_id = %known.receipt_id, "egov: known msgId; same receipt, no new delivery");
            return (StatusCode::OK, Json(json!({"code": "0", "receiptId": known.receipt_id})));
        }
        let behaviour = state.scripts.get(&delivery.recipient_account).cloned().unwrap_or_default();
        if let Behaviour::Reject { code } = &behaviour {
            tracing::info!(target: "yuetan_peers", %account, msg_id = %delivery.msg_id, %code, "egov: delivery refused (scripted)");
            return reply(StatusCode::OK, code, "rejected by the peer's script");
        }
        let message = EgovMessage {
            msg_id: delivery.msg_id,
            receipt_id: format!("R{}", uuid::Uuid::now_v7().simple()),
            recipient_account: delivery.recipient_account,
            title: delivery.title,
            link: delivery.link,
            callback_url: delivery.callback_url,
            received_at: Utc::now(),
        };
        state.messages.push(message.clone());
        (message, behaviour)
    };
    tracing::info!(target: "yuetan_peers", %account, msg_id = %message.msg_id, receipt_id = %message.receipt_id, "egov: accepted; {behaviour:?}");

    let receipt_id = message.receipt_id.clone();
    let inner = inner.clone();
    tokio::spawn(async move {
        let (delivered, reason, times, delay) = match behaviour {
            Behaviour::Deliver { delay } => (true, None, 1, delay),
            Behaviour::Fail { err_code } => (false, Some(err_code), 1, super::DEFAULT_DELAY),
            Behaviour::Duplicate => (true, None, 2, super::DEFAULT_DELAY),
            Behaviour::Silent | Behaviour::Reject { .. } => return,
        };
        tokio::time::sleep(delay).await;
        let at = Utc::now();
        for _ in 0..times {
            if let Err(err) = ack(&inner, &message, delivered, reason.clone(), at).await {
                tracing::warn!(target: "yuetan_peers", msg_id = %message.msg_id, "egov: acknowledgement failed: {err:#}");
            }
        }
    });
    (StatusCode::OK, Json(json!({"code": "0", "receiptId": receipt_id})))
}

/// Posts one signed acknowledgement to the delivery's callbackUrl.
async fn ack(inner: &Inner, message: &EgovMessage, delivered: bool, reason: Option<String>, at: DateTime<Utc>) -> Result<u16> {
    let body = EgovAckBody {
        msg_id: message.msg_id.clone(),
        receipt_id: message.receipt_id.clone(),
        status: if delivered { "DELIVERED" } else { "FAILED" }.to_string(),
        delivered_at: at.to_rfc3339_opts(SecondsFormat::Secs, true),
        reason,
    };
    let body = serde_json::to_vec(&body)?;
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let headers = sign_headers(
        &inner.config.app_id,
        inner.config.secret.as_bytes(),
        Utc::now().timestamp(),
        &nonce,
        &body,
    );
    let mut request = inner.client.post(&message.callback_url).header("Content-Type", "application/json");
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let result = request.body(body).send().await;
    let status = result.as_ref().ok().map(|r| r.status().as_u16());
    inner.state.lock().unwrap().acks.push(EgovAckSent {
        msg_id: message.msg_id.clone(),
        delivered,
        status,
    });
    tracing::info!(target: "yuetan_peers", msg_id = %message.msg_id, delivered, status = ?status, "egov: acknowledgement posted");
    let response = result.context("posting the acknowledgement")?;
    Ok(response.status().as_u16())
}
