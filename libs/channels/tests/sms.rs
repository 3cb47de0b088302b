//! SMS against the testkit's Alibaba-Cloud-shaped peer, and its reports.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use serde_json::json;
use yuetan_channels::sms::CALLBACK_SIGNATURE_HEADER;
use yuetan_channels::{parse_sms_reports, sign_callback, verify_callback, SmsChannel, SmsConfig};
use yuetan_testkit::peers::{Behaviour, CallbackSink, SmsPeer, SmsPeerConfig};

const SECRET: &str = "callback-secret";

async fn peer(sink: Option<&CallbackSink>) -> SmsPeer {
    SmsPeer::start(SmsPeerConfig {
        access_key_id: "test-key".into(),
        access_key_secret: "test-secret".into(),
        callback_url: sink.map(|s| s.url("/callbacks/sms")),
        callback_secret: SECRET.into(),
    })
    .await
}

fn channel(peer: &SmsPeer, secret: &str) -> SmsChannel {
    SmsChannel::new(SmsConfig {
        endpoint: peer.endpoint(),
        access_key_id: "test-key".into(),
        access_key_secret: secret.into(),
        sign_name: "约谈平台".into(),
        template_code: "SMS_0001".into(),
        timeout_secs: 5,
    })
}

fn key() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[tokio::test]
async fn send_reaches_the_peer_with_a_valid_signature() {
    let peer = peer(None).await;
    let key = key();
    let params = json!({"link": "https://portal.test/s/a b*~"});
    let outcome = channel(&peer, "test-secret").send(&key, "13800001234", &params).await.expect("accepted");

    let messages = peer.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(outcome.provider_id, messages[0].biz_id);
    assert!(outcome.reply.contains("\"Code\":\"OK\""), "{}", outcome.reply);
    assert_eq!(messages[0].out_id, key);
    assert_eq!(messages[0].phone, "13800001234");
    assert_eq!(messages[0].sign_name, "约谈平台");
    assert_eq!(messages[0].template_code, "SMS_0001");
    assert_eq!(messages[0].template_param, params);
    assert_eq!(peer.bad_signatures(), 0);
}

#[tokio::test]
async fn a_wrong_secret_is_refused_by_the_signature_check() {
    let peer = peer(None).await;
    let err = channel(&peer, "not-the-secret")
        .send(&key(), "13800001234", &json!({}))
        .await
        .unwrap_err();
    assert!(err.detail.contains("SignatureDoesNotMatch"), "{err}");
    assert!(!err.permanent, "a configuration error is not the recipient's fault: {err}");
    assert_eq!(peer.bad_signatures(), 1);
    assert!(peer.messages().is_empty());
}

#[tokio::test]
async fn the_same_key_twice_is_one_message() {
    let peer = peer(None).await;
    let channel = channel(&peer, "test-secret");
    let key = key();
    let first = channel.send(&key, "13800001234", &json!({})).await.unwrap();
    let second = channel.send(&key, "13800001234", &json!({})).await.unwrap();
    assert_eq!(first.provider_id, second.provider_id, "same OutId, same BizId");
    assert_eq!(peer.request_count(), 2);
    assert_eq!(peer.sent_count("13800001234"), 1);
    channel.send(&self::key(), "13800001234", &json!({})).await.unwrap();
    assert_eq!(peer.sent_count("13800001234"), 2, "another key is another message");
}

#[tokio::test]
async fn isv_codes_are_permanent_and_other_codes_are_not() {
    let peer = peer(None).await;
    peer.script(
        "13900000000",
        Behaviour::Reject {
            code: "isv.MOBILE_NUMBER_ILLEGAL".into(),
        },
    );
    peer.script(
        "13900000001",
        Behaviour::Reject {
            code: "isp.SYSTEM_ERROR".into(),
        },
    );
    let channel = channel(&peer, "test-secret");
    let err = channel.send(&key(), "13900000000", &json!({})).await.unwrap_err();
    assert!(err.permanent && err.detail.contains("isv.MOBILE_NUMBER_ILLEGAL"), "{err}");
    assert!(!err.detail.contains("13900000000"), "no phone number in the error: {err}");
    let err = channel.send(&key(), "13900000001", &json!({})).await.unwrap_err();
    assert!(!err.permanent, "{err}");
    assert!(peer.messages().is_empty());
}

#[tokio::test]
async fn a_pushed_report_parses_to_delivered_with_its_time() {
    let sink = CallbackSink::start().await;
    let peer = peer(Some(&sink)).await;
    peer.script("13800001234", Behaviour::Silent);
    let key = key();
    let outcome = channel(&peer, "test-secret").send(&key, "13800001234", &json!({})).await.unwrap();
    let report_time = Utc.with_ymd_and_hms(2026, 10, 9, 2, 0, 5).unwrap();
    assert_eq!(peer.push_report(&key, true, report_time).await.unwrap(), 200);

    let requests = sink.wait_for_requests(1, Duration::from_secs(5)).await.unwrap();
    let request = &requests[0];
    assert_eq!(request.path, "/callbacks/sms");
    let signature = request.headers.get(CALLBACK_SIGNATURE_HEADER).unwrap().to_str().unwrap();
    assert!(verify_callback(SECRET.as_bytes(), &request.body, signature));
    assert!(
        String::from_utf8_lossy(&request.body).contains("\"report_time\":\"2026-10-09 10:00:05\""),
        "China Standard Time on the wire"
    );
    let reports = parse_sms_reports(&request.body).unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].out_id, key);
    assert_eq!(reports[0].biz_id, outcome.provider_id);
    assert!(reports[0].delivered);
    assert_eq!(reports[0].err_code, "DELIVERED");
    assert_eq!(reports[0].report_time, report_time);
}

#[tokio::test]
async fn scripted_behaviours_drive_the_reports() {
    let sink = CallbackSink::start().await;
    let peer = peer(Some(&sink)).await;
    peer.script("13800000002", Behaviour::Fail { err_code: "MK:0001".into() });
    peer.script("13800000003", Behaviour::Duplicate);
    peer.script("13800000004", Behaviour::Silent);
    let channel = channel(&peer, "test-secret");
    let (delivering, failing, duplicated, silent) = (key(), key(), key(), key());
    channel.send(&silent, "13800000004", &json!({})).await.unwrap();
    channel.send(&delivering, "13800000001", &json!({})).await.unwrap();
    channel.send(&failing, "13800000002", &json!({})).await.unwrap();
    channel.send(&duplicated, "13800000003", &json!({})).await.unwrap();

    let requests = sink.wait_for_requests(4, Duration::from_secs(5)).await.unwrap();
    let mut reports = Vec::new();
    for request in &requests {
        let signature = request.headers.get(CALLBACK_SIGNATURE_HEADER).unwrap().to_str().unwrap();
        assert!(verify_callback(SECRET.as_bytes(), &request.body, signature));
        reports.extend(parse_sms_reports(&request.body).unwrap());
    }
    let delivered: Vec<_> = reports.iter().filter(|r| r.out_id == delivering).collect();
    assert_eq!(delivered.len(), 1, "an unscripted phone gets one delivery report");
    assert!(delivered[0].delivered);
    assert_eq!(delivered[0].err_code, "DELIVERED");
    let failed: Vec<_> = reports.iter().filter(|r| r.out_id == failing).collect();
    assert_eq!(failed.len(), 1);
    assert!(!failed[0].delivered);
    assert_eq!(failed[0].err_code, "MK:0001");
    let twice: Vec<_> = reports.iter().filter(|r| r.out_id == duplicated).collect();
    assert_eq!(twice.len(), 2, "Duplicate pushes the same report twice");
    assert!(twice.iter().all(|r| r.delivered) && twice[0] == twice[1]);
    // The silent one was sent first and its report would have come first;
    // every other push arrived and none is for it.
    assert!(reports.iter().all(|r| r.out_id != silent));
    assert_eq!(peer.pushed_reports().len(), 4);
    assert_eq!(peer.messages().len(), 4);
}

#[test]
fn an_altered_report_fails_the_signature_check() {
    let body = br#"[{"phone_number":"13800001234","send_time":"2026-10-09 10:00:01","report_time":"2026-10-09 10:00:05","success":true,"err_code":"DELIVERED","err_msg":"ok","sms_size":"1","biz_id":"1^0","out_id":"k"}]"#;
    let signature = sign_callback(SECRET.as_bytes(), body);
    assert!(verify_callback(SECRET.as_bytes(), body, &signature));
    let altered = String::from_utf8_lossy(body).replace("\"success\":true", "\"success\":false");
    assert!(!verify_callback(SECRET.as_bytes(), altered.as_bytes(), &signature));
    assert!(!verify_callback(b"another secret", body, &signature));
    assert!(!verify_callback(SECRET.as_bytes(), body, signature.trim_start_matches("sha256=")));
    assert!(!verify_callback(SECRET.as_bytes(), body, "sha256=zz"));
}

#[test]
fn malformed_reports_are_refused_without_echoing_values() {
    let err = parse_sms_reports(br#"[{"phone_number":"13800001234","success":"yes","biz_id":"1","report_time":"x"}]"#).unwrap_err();
    assert!(!err.detail.contains("13800001234"), "{err}");
    let err = parse_sms_reports(br#"[{"biz_id":"1","success":true,"report_time":"2026-10-09T10:00:05","out_id":"k"}]"#).unwrap_err();
    assert!(err.detail.contains("report_time"), "{err}");
}
