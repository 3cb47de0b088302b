//! The e-gov platform webhook against the testkit's peer, and its signed acknowledgements.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use http::{HeaderMap, HeaderName, HeaderValue};
use yuetan_channels::egov::{sign_headers, EgovAckBody, MAX_SKEW};
use yuetan_channels::{parse_egov_ack, EgovChannel, EgovConfig};
use yuetan_testkit::peers::{Behaviour, CallbackSink, EgovPeer, EgovPeerConfig};

const APP: &str = "yuetan-app";
const SECRET: &str = "egov-secret";

async fn setup() -> (EgovPeer, CallbackSink, EgovChannel) {
    let peer = EgovPeer::start(EgovPeerConfig {
        app_id: APP.into(),
        secret: SECRET.into(),
    })
    .await;
    let sink = CallbackSink::start().await;
    let channel = EgovChannel::new(EgovConfig {
        endpoint: peer.endpoint(),
        app_id: APP.into(),
        secret: SECRET.into(),
        callback_url: sink.url("/callbacks/egov"),
        timeout_secs: 5,
    });
    (peer, sink, channel)
}

fn key() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[tokio::test]
async fn send_is_acknowledged_with_a_signed_callback() {
    let (peer, sink, channel) = setup().await;
    let key = key();
    let outcome = channel
        .send(&key, "citizen-0042", "约谈通知书", "https://portal.test/s/abc")
        .await
        .expect("accepted");
    let messages = peer.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].msg_id, key);
    assert_eq!(messages[0].receipt_id, outcome.provider_id);
    assert_eq!(messages[0].recipient_account, "citizen-0042");
    assert_eq!(messages[0].link, "https://portal.test/s/abc");
    assert_eq!(peer.bad_signatures(), 0);

    let requests = sink.wait_for_requests(1, Duration::from_secs(5)).await.unwrap();
    assert_eq!(requests[0].path, "/callbacks/egov");
    let ack = parse_egov_ack(&requests[0].headers, &requests[0].body, APP, SECRET.as_bytes(), Utc::now(), MAX_SKEW).unwrap();
    assert_eq!(ack.msg_id, key);
    assert_eq!(ack.receipt_id, outcome.provider_id);
    assert!(ack.delivered);
    assert!(ack.reason.is_empty());
}

#[tokio::test]
async fn the_same_key_twice_is_one_delivery() {
    let (peer, _sink, channel) = setup().await;
    let key = key();
    let first = channel.send(&key, "citizen-0042", "t", "https://portal.test/s/1").await.unwrap();
    let second = channel.send(&key, "citizen-0042", "t", "https://portal.test/s/1").await.unwrap();
    assert_eq!(first.provider_id, second.provider_id);
    assert_eq!(peer.request_count(), 2);
    assert_eq!(peer.sent_count("citizen-0042"), 1);
}

#[tokio::test]
async fn a_wrong_secret_is_refused_and_4xx_codes_are_permanent() {
    let (peer, sink, _channel) = setup().await;
    let wrong = EgovChannel::new(EgovConfig {
        endpoint: peer.endpoint(),
        app_id: APP.into(),
        secret: "wrong".into(),
        callback_url: sink.url("/callbacks/egov"),
        timeout_secs: 5,
    });
    let err = wrong.send(&key(), "citizen-0042", "t", "https://portal.test/s/1").await.unwrap_err();
    assert!(err.detail.contains("401"), "{err}");
    assert_eq!(peer.bad_signatures(), 1);
    assert!(peer.messages().is_empty());

    peer.script("nobody", Behaviour::Reject { code: "404".into() });
    peer.script("busy", Behaviour::Reject { code: "503".into() });
    let channel = EgovChannel::new(EgovConfig {
        endpoint: peer.endpoint(),
        app_id: APP.into(),
        secret: SECRET.into(),
        callback_url: sink.url("/callbacks/egov"),
        timeout_secs: 5,
    });
    let err = channel.send(&key(), "nobody", "t", "https://portal.test/s/1").await.unwrap_err();
    assert!(err.permanent, "{err}");
    let err = channel.send(&key(), "busy", "t", "https://portal.test/s/1").await.unwrap_err();
    assert!(!err.permanent, "{err}");
}

#[tokio::test]
async fn a_failed_delivery_is_acknowledged_as_failed() {
    let (peer, sink, channel) = setup().await;
    peer.script(
        "citizen-0043",
        Behaviour::Fail {
            err_code: "ACCOUNT_CLOSED".into(),
        },
    );
    let key = key();
    channel.send(&key, "citizen-0043", "t", "https://portal.test/s/1").await.unwrap();
    let requests = sink.wait_for_requests(1, Duration::from_secs(5)).await.unwrap();
    let ack = parse_egov_ack(&requests[0].headers, &requests[0].body, APP, SECRET.as_bytes(), Utc::now(), MAX_SKEW).unwrap();
    assert_eq!(ack.msg_id, key);
    assert!(!ack.delivered);
    assert_eq!(ack.reason, "ACCOUNT_CLOSED");
}

#[tokio::test]
async fn duplicate_and_silent_acknowledgements() {
    let (peer, sink, channel) = setup().await;
    peer.script("silent", Behaviour::Silent);
    peer.script("twice", Behaviour::Duplicate);
    let (silent, twice) = (key(), key());
    channel.send(&silent, "silent", "t", "https://portal.test/s/1").await.unwrap();
    channel.send(&twice, "twice", "t", "https://portal.test/s/2").await.unwrap();
    let requests = sink.wait_for_requests(2, Duration::from_secs(5)).await.unwrap();
    let acks: Vec<_> = requests
        .iter()
        .map(|r| parse_egov_ack(&r.headers, &r.body, APP, SECRET.as_bytes(), Utc::now(), MAX_SKEW).unwrap())
        .collect();
    assert_eq!(acks.len(), 2);
    assert!(acks.iter().all(|a| a.msg_id == twice && a.delivered));
    assert_eq!(acks[0], acks[1], "the same acknowledgement twice");
    assert_eq!(peer.acks_sent().len(), 2, "nothing for the silent account");
    assert_eq!(peer.sent_count("silent"), 1);
}

fn signed(body: &[u8], timestamp: i64, secret: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in sign_headers(APP, secret.as_bytes(), timestamp, "nonce-1", body) {
        headers.insert(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(&value).unwrap());
    }
    headers
}

fn ack_body(status: &str) -> Vec<u8> {
    serde_json::to_vec(&EgovAckBody {
        msg_id: "k-1".into(),
        receipt_id: "R1".into(),
        status: status.into(),
        delivered_at: "2026-10-09T02:00:05Z".into(),
        reason: None,
    })
    .unwrap()
}

#[test]
fn altered_or_stale_acknowledgements_are_refused() {
    let now = Utc.with_ymd_and_hms(2026, 10, 9, 2, 0, 10).unwrap();
    let body = ack_body("DELIVERED");
    let headers = signed(&body, now.timestamp(), SECRET);
    let ack = parse_egov_ack(&headers, &body, APP, SECRET.as_bytes(), now, MAX_SKEW).unwrap();
    assert!(ack.delivered);
    assert_eq!(ack.at, Utc.with_ymd_and_hms(2026, 10, 9, 2, 0, 5).unwrap());

    // The body changed after signing.
    let err = parse_egov_ack(&headers, &ack_body("FAILED"), APP, SECRET.as_bytes(), now, MAX_SKEW).unwrap_err();
    assert!(err.detail.contains("X-Egov-Signature"), "{err}");
    // Signed with another secret.
    let err = parse_egov_ack(&signed(&body, now.timestamp(), "other"), &body, APP, SECRET.as_bytes(), now, MAX_SKEW).unwrap_err();
    assert!(err.detail.contains("X-Egov-Signature"), "{err}");
    // Another app id.
    let err = parse_egov_ack(&headers, &body, "another-app", SECRET.as_bytes(), now, MAX_SKEW).unwrap_err();
    assert!(err.detail.contains("X-Egov-AppId"), "{err}");
    // Timestamp 301 s old, and 301 s ahead; 300 s is still fine.
    let stale = signed(&body, now.timestamp() - 301, SECRET);
    let err = parse_egov_ack(&stale, &body, APP, SECRET.as_bytes(), now, MAX_SKEW).unwrap_err();
    assert!(err.detail.contains("X-Egov-Timestamp"), "{err}");
    let ahead = signed(&body, now.timestamp() + 301, SECRET);
    assert!(parse_egov_ack(&ahead, &body, APP, SECRET.as_bytes(), now, MAX_SKEW).is_err());
    let edge = signed(&body, now.timestamp() - 300, SECRET);
    assert!(parse_egov_ack(&edge, &body, APP, SECRET.as_bytes(), now, MAX_SKEW).is_ok());
    // A caller's larger window is capped at 300 s.
    assert!(parse_egov_ack(&stale, &body, APP, SECRET.as_bytes(), now, Duration::from_secs(3600)).is_err());
    // A missing header is named.
    let mut missing = headers.clone();
    missing.remove("x-egov-nonce");
    let err = parse_egov_ack(&missing, &body, APP, SECRET.as_bytes(), now, MAX_SKEW).unwrap_err();
    assert!(err.detail.contains("X-Egov-Nonce"), "{err}");
}
