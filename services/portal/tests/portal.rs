//! The portal over HTTP against a real PostgreSQL and NATS (libs/testkit):
//! each accepted open, confirmation and callback leaves its row and one
//! event on the stream; refused ones leave nothing.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use figment::providers::{Format, Toml};
use figment::Figment;
use hmac::{Hmac, Mac};
use prost::Message;
use sha2::Sha256;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use yuetan_platform::bus::Bus;
use yuetan_platform::links::{LinkClaims, LinkSigner, PURPOSE_SERVE};
use yuetan_platform::objects::Objects;
use yuetan_platform::pii::PiiVault;
use yuetan_platform::{Clock, Config, TestClock};
use yuetan_portal::{Portal, PortalConfig};
use yuetan_proto::events::{event::Payload, Event};

const SMS_SECRET: &str = "sms-callback-secret-0123456789";
const EGOV_APP: &str = "yuetan-test-app";
const EGOV_SECRET: &str = "egov-callback-secret-0123456789";
const JANUS_USER: &str = "janus";
const JANUS_PASSWORD: &str = "janus-event-password-0123";
const WAIT: Duration = Duration::from_secs(20);

struct Setup {
    base: String,
    clock: Arc<TestClock>,
    signer: LinkSigner,
    objects: Objects,
    vault: PiiVault,
    bus: Bus,
    stream: String,
    admin: PgPool,
    http: reqwest::Client,
    shutdown: CancellationToken,
    _objects_dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    setup_with(true).await
}

/// `janus`: whether the Janus event handler's credentials are configured.
async fn setup_with(janus: bool) -> Setup {
    if let Ok(filter) = std::env::var("YUETAN_TEST_LOG") {
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    }
    let stack = yuetan_testkit::stack().await;
    let urls = stack.fresh_database_with_roles().await.expect("a database");
    let unique = stack.unique_name("");
    let objects_dir = tempfile::tempdir().unwrap();
    let link_key = STANDARD.encode([7u8; 32]);
    let toml = format!(
        r#"
[database]
url = "{runtime}"
owner_url = "{owner}"
[nats]
url = "{nats}"
stream = "T{unique}"
subject_prefix = "t{unique}.ev"
[outbox]
poll_interval_ms = 50
[pii]
current_key = "k1"
hash_key = "xXoijL4mSye+kLrSY3HDGTOhEgAu5J/gFTrY7D+2aiA="
[[pii.keys]]
id = "k1"
key = "mcLDREn8Mvwi2TJoSFG8+8LGRuPsUnheaUpoYTi6doA="
[objects]
root = "{objects}"
[links]
current_key = "l1"
base_url = "http://127.0.0.1:7400"
[[links.keys]]
id = "l1"
secret = "{link_key}"
[portal]
listen = "127.0.0.1:0"
division = "620100"
sms_callback_secret = "{SMS_SECRET}"
egov_app_id = "{EGOV_APP}"
egov_secret = "{EGOV_SECRET}"
{janus}
"#,
        runtime = urls.runtime,
        owner = urls.owner,
        nats = stack.nats_url,
        objects = objects_dir.path().display(),
        janus = if janus {
            format!("janus_event_user = \"{JANUS_USER}\"\njanus_event_password = \"{JANUS_PASSWORD}\"")
        } else {
            String::new()
        },
    );
    let figment = Figment::new().merge(Toml::string(&toml));
    let config = Config::from_figment("portal", figment.clone()).expect("platform config");
    let portal_config = PortalConfig::from_figment(&figment, &config).expect("portal config");
    let clock = Arc::new(TestClock::new(Utc::now()));
    let shutdown = CancellationToken::new();
    let portal = Portal::start(&config, &portal_config, clock.clone(), shutdown.clone())
        .await
        .expect("the portal starts");
    let (addr, _server) = portal.listen().await.expect("the portal listens");
    Setup {
        base: format!("http://{addr}"),
        clock,
        signer: LinkSigner::new(&config.links).unwrap(),
        objects: Objects::new(&config.objects).unwrap(),
        vault: PiiVault::new(&config.pii).unwrap(),
        bus: Bus::connect(&config.nats).await.unwrap(),
        stream: config.nats.stream.clone(),
        admin: PgPool::connect(&urls.admin).await.unwrap(),
        http: reqwest::Client::new(),
        shutdown,
        _objects_dir: objects_dir,
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Setup {
    fn claims(&self, sha256: &str, expires_at: DateTime<Utc>) -> LinkClaims {
        LinkClaims {
            link_id: uuid::Uuid::now_v7().to_string(),
            document_sha256: sha256.to_string(),
            document_name: "约谈通知书 兰城市监约〔2026〕17号".into(),
            service_id: "svc-0001".into(),
            purpose: PURPOSE_SERVE.into(),
            organ: "620102-SJ".into(),
            expires_at,
        }
    }

    /// Every event in the stream, in order.
    async fn events(&self) -> Vec<(String, Event)> {
        let mut stream = self.bus.jetstream.get_stream(&self.stream).await.unwrap();
        let last = stream.info().await.unwrap().state.last_sequence;
        let mut events = Vec::new();
        for seq in 1..=last {
            if let Ok(message) = stream.get_raw_message(seq).await {
                events.push((message.subject.to_string(), Event::decode(message.payload.as_ref()).unwrap()));
            }
        }
        events
    }

    /// Waits until `n` events of `event_type` are in the stream and the
    /// outbox is empty (nothing more to come); returns them.
    async fn settled(&self, event_type: &str, n: usize) -> Vec<(String, Event)> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let found: Vec<_> = self.events().await.into_iter().filter(|(_, e)| e.r#type == event_type).collect();
            let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM portal.outbox")
                .fetch_one(&self.admin)
                .await
                .unwrap();
            if found.len() >= n && pending == 0 {
                assert_eq!(found.len(), n, "{event_type}: more events than expected");
                return found;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{event_type}: {} of {n} events, {pending} in the outbox",
                found.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT count(*) FROM portal.{table}"))
            .fetch_one(&self.admin)
            .await
            .unwrap()
    }

    async fn audit_actors(&self) -> Vec<String> {
        sqlx::query_scalar("SELECT actor_id FROM portal.audit_log ORDER BY at")
            .fetch_all(&self.admin)
            .await
            .unwrap()
    }

    async fn sms(&self, body: &str, signature: Option<String>) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}/callbacks/sms", self.base))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(signature) = signature {
            request = request.header("x-yuetan-signature", signature);
        }
        request.send().await.unwrap()
    }

    async fn egov(&self, body: &str, timestamp: i64, sign_body: &str) -> reqwest::Response {
        let ts = timestamp.to_string();
        let nonce = uuid::Uuid::now_v7().to_string();
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(EGOV_SECRET.as_bytes()).unwrap();
        mac.update(format!("{EGOV_APP}\n{ts}\n{nonce}\n{sign_body}").as_bytes());
        let signature = STANDARD.encode(mac.finalize().into_bytes());
        self.http
            .post(format!("{}/callbacks/egov", self.base))
            .header("content-type", "application/json")
            .header("x-egov-appid", EGOV_APP)
            .header("x-egov-timestamp", ts)
            .header("x-egov-nonce", nonce)
            .header("x-egov-signature", signature)
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }
}

impl Setup {
    /// A post of Janus's event handler, with HTTP Basic `credentials`
    /// (`user:password`) if given.
    async fn janus(&self, body: &str, credentials: Option<&str>) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}/callbacks/janus", self.base))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(credentials) = credentials {
            request = request.header("authorization", format!("Basic {}", STANDARD.encode(credentials)));
        }
        request.send().await.unwrap()
    }
}

/// A `sampleevh` post (an array, as Janus groups events) of one VideoRoom
/// event, with a session event beside it that is no join or leave.
fn janus_post(event: &str, room: u64, id: u64, display: Option<&str>, timestamp: i64) -> String {
    let display = display.map(|d| format!(r#","display":"{d}""#)).unwrap_or_default();
    format!(
        r#"[{{"emitter":"MyJanusInstance","type":1,"timestamp":{timestamp},"session_id":1,"event":{{"name":"created","transport":{{"transport":"janus.transport.http"}}}}}},
{{"emitter":"MyJanusInstance","type":64,"timestamp":{timestamp},"session_id":1,"handle_id":2,"event":{{"plugin":"janus.plugin.videoroom","data":{{"event":"{event}","room":{room},"id":{id}{display}}}}}}}]"#
    )
}

fn sms_signature(body: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(SMS_SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn the_first_open_of_a_link_is_recorded_with_sealed_evidence_and_announced_once() {
    let s = setup().await;
    let claims = s.claims(&"ab".repeat(32), s.clock.now() + chrono::Duration::days(7));
    let url = format!("{}/d/{}", s.base, s.signer.sign(&claims));

    // A HEAD is no open (a link checker).
    assert_eq!(s.http.head(&url).send().await.unwrap().status(), 200);
    assert_eq!(s.count("link_opens").await, 0);
    let page = s
        .http
        .get(&url)
        .header("user-agent", "TestPhone/1.0")
        .header("x-forwarded-for", "9.9.9.9")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let html = page.text().await.unwrap();
    assert!(html.contains("约谈通知书 兰城市监约〔2026〕17号") && html.contains("620102-SJ"), "{html}");
    assert!(
        html.contains("查看 / 下载") && html.contains("确认收到") && html.contains("method=\"post\""),
        "{html}"
    );

    // Opened again: the page again, no second record.
    assert_eq!(s.http.get(&url).send().await.unwrap().status(), 200);
    let events = s.settled("portal.link_opened", 1).await;
    assert_eq!(s.count("link_opens").await, 1);
    let (subject, event) = &events[0];
    assert!(subject.ends_with(".62.01.02.portal.link_opened"), "{subject}");
    assert_eq!(
        (
            event.jurisdiction.as_str(),
            event.organ.as_str(),
            event.case_id.as_str(),
            event.case_version
        ),
        ("620102", "620102-SJ", "", 0)
    );
    let Some(Payload::PortalLinkOpened(opened)) = &event.payload else {
        panic!("{event:?}")
    };
    assert_eq!(
        (opened.link_id.as_str(), opened.service_id.as_str()),
        (claims.link_id.as_str(), "svc-0001")
    );
    assert_eq!(opened.document_sha256, claims.document_sha256);
    // The evidence travels sealed; scheduling opens it with the same keys.
    // X-Forwarded-For from an untrusted peer is ignored.
    assert!(!String::from_utf8_lossy(&opened.evidence_sealed).contains("TestPhone"));
    let evidence: serde_json::Value = serde_json::from_str(&s.vault.open(&opened.evidence_sealed, "portal.evidence").unwrap()).unwrap();
    assert_eq!(evidence, serde_json::json!({ "ip": "127.0.0.1", "user_agent": "TestPhone/1.0" }));
    assert_eq!(s.audit_actors().await, vec!["party"]);
}

#[tokio::test]
async fn expired_altered_or_overlong_links_are_refused_and_leave_nothing() {
    let s = setup().await;
    let expired = s.claims(&"ab".repeat(32), s.clock.now() + chrono::Duration::hours(1));
    let token = s.signer.sign(&expired);
    s.clock.advance(chrono::Duration::hours(2));
    let page = s.http.get(format!("{}/d/{token}", s.base)).send().await.unwrap();
    assert_eq!(page.status(), 403);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("链接无效或已过期") && !html.contains("约谈通知书"),
        "no detail leaks: {html}"
    );
    assert_eq!(s.http.post(format!("{}/d/{token}/confirm", s.base)).send().await.unwrap().status(), 403);
    assert_eq!(s.http.get(format!("{}/d/{token}/file", s.base)).send().await.unwrap().status(), 403);

    // A valid link with its claims altered (another service id), MAC kept.
    let claims = s.claims(&"ab".repeat(32), s.clock.now() + chrono::Duration::days(7));
    let good = s.signer.sign(&claims);
    let (body, mac) = good.split_once('.').unwrap();
    let mut json: serde_json::Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap();
    json["service_id"] = "svc-9999".into();
    let altered = format!("{}.{mac}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json.to_string()));
    assert_eq!(s.http.get(format!("{}/d/{altered}", s.base)).send().await.unwrap().status(), 403);
    assert_eq!(s.http.get(format!("{}/d/not-a-token", s.base)).send().await.unwrap().status(), 403);
    let long = "a".repeat(3000);
    assert_eq!(s.http.get(format!("{}/d/{long}", s.base)).send().await.unwrap().status(), 414);

    // Nothing stored, nothing in the outbox, nothing published.
    assert_eq!(
        (s.count("link_opens").await, s.count("receipts").await, s.count("outbox").await),
        (0, 0, 0)
    );
    assert!(s.events().await.is_empty());
    assert!(s.audit_actors().await.is_empty());
}

#[tokio::test]
async fn confirming_receipt_twice_is_one_receipt_and_one_event() {
    let s = setup().await;
    let claims = s.claims(&"ab".repeat(32), s.clock.now() + chrono::Duration::days(7));
    let token = s.signer.sign(&claims);
    let confirm = format!("{}/d/{token}/confirm", s.base);
    let first = s.http.post(&confirm).header("user-agent", "TestPhone/2.0").send().await.unwrap();
    assert_eq!(first.status(), 200);
    assert!(first.text().await.unwrap().contains("已确认收到"));
    assert_eq!(s.http.post(&confirm).send().await.unwrap().status(), 200);

    let confirmed = s.settled("portal.receipt_confirmed", 1).await;
    // Confirming without opening the page first records the open too.
    s.settled("portal.link_opened", 1).await;
    assert_eq!((s.count("receipts").await, s.count("link_opens").await), (1, 1));
    let Some(Payload::PortalReceiptConfirmed(receipt)) = &confirmed[0].1.payload else {
        panic!()
    };
    assert_eq!(receipt.link_id, claims.link_id);
    let evidence = s.vault.open(&receipt.evidence_sealed, "portal.evidence").unwrap();
    assert!(evidence.contains("TestPhone/2.0"), "{evidence}");

    // The page now says it was confirmed, with no button.
    let html = s.http.get(format!("{}/d/{token}", s.base)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("确认收到本文书") && !html.contains("<button"), "{html}");
}

#[tokio::test]
async fn the_file_is_the_stored_document() {
    let s = setup().await;
    let pdf = b"%PDF-1.7\n% a served document\n%%EOF\n".to_vec();
    let stored = s.objects.put(pdf.clone()).await.unwrap();
    let claims = s.claims(&stored.sha256, s.clock.now() + chrono::Duration::days(7));
    let response = s.http.get(format!("{}/d/{}/file", s.base, s.signer.sign(&claims))).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/pdf");
    assert!(response.headers()["content-disposition"].to_str().unwrap().contains("filename*=UTF-8''"));
    assert_eq!(response.bytes().await.unwrap().as_ref(), pdf.as_slice());
    // Downloading counts as the first open.
    s.settled("portal.link_opened", 1).await;

    let missing = s.claims(&"cd".repeat(32), s.clock.now() + chrono::Duration::days(7));
    assert_eq!(
        s.http
            .get(format!("{}/d/{}/file", s.base, s.signer.sign(&missing)))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn sms_reports_are_checked_recorded_once_and_announced_without_the_phone_number() {
    let s = setup().await;
    let body = r#"[{"phone_number":"13900001111","send_time":"2026-03-02 10:00:00","report_time":"2026-03-02 10:00:05","success":true,"err_code":"DELIVERED","err_msg":"用户接收成功","sms_size":"1","biz_id":"biz-1","out_id":"svc-0001"}]"#;

    // Bad signature: 401, nothing stored.
    assert_eq!(s.sms(body, Some(sms_signature("[]"))).await.status(), 401);
    assert_eq!(s.sms(body, None).await.status(), 401);
    assert_eq!((s.count("sms_reports").await, s.count("outbox").await), (0, 0));

    let answer = s.sms(body, Some(sms_signature(body))).await;
    assert_eq!(answer.status(), 200);
    let answer: serde_json::Value = serde_json::from_str(&answer.text().await.unwrap()).unwrap();
    assert_eq!(answer, serde_json::json!({ "code": 0, "msg": "成功" }));
    // The provider retries the same report: recorded once.
    assert_eq!(s.sms(body, Some(sms_signature(body))).await.status(), 200);

    let events = s.settled("portal.sms_report_received", 1).await;
    assert_eq!(s.count("sms_reports").await, 1);
    let (subject, event) = &events[0];
    assert!(
        subject.ends_with(".62.01.00.portal.sms_report_received"),
        "the configured division: {subject}"
    );
    let Some(Payload::PortalSmsReportReceived(report)) = &event.payload else {
        panic!()
    };
    assert_eq!(
        (report.out_id.as_str(), report.biz_id.as_str(), report.delivered, report.err_code.as_str()),
        ("svc-0001", "biz-1", true, "DELIVERED")
    );
    assert!(!format!("{event:?}").contains("13900001111"), "no phone number in the event");
    assert_eq!(s.audit_actors().await, vec!["provider:sms"]);

    // A malformed body with a good signature: 400 naming the field.
    let bad = r#"[{"report_time":"t","success":"yes"}]"#;
    let answer = s.sms(bad, Some(sms_signature(bad))).await;
    assert_eq!(answer.status(), 400);
    assert!(answer.text().await.unwrap().contains("[0]"));
}

#[tokio::test]
async fn egov_acknowledgements_need_a_fresh_genuine_signature_and_are_recorded_once() {
    let s = setup().await;
    let now = s.clock.now().timestamp();
    let body = r#"{"msgId":"svc-0001","receiptId":"r-77","status":"DELIVERED","deliveredAt":"2026-03-02T10:00:05+08:00","reason":""}"#;

    // Altered body (signature of another), stale timestamp: 401, nothing stored.
    let altered = body.replace("DELIVERED", "FAILED");
    assert_eq!(s.egov(&altered, now, body).await.status(), 401);
    assert_eq!(s.egov(body, now - 301, body).await.status(), 401);
    assert_eq!(s.egov(body, now + 301, body).await.status(), 401);
    assert_eq!((s.count("egov_acks").await, s.count("outbox").await), (0, 0));

    assert_eq!(s.egov(body, now - 299, body).await.status(), 200);
    assert_eq!(s.egov(body, now, body).await.status(), 200);
    let events = s.settled("portal.egov_acknowledged", 1).await;
    assert_eq!(s.count("egov_acks").await, 1);
    let Some(Payload::PortalEgovAcknowledged(ack)) = &events[0].1.payload else {
        panic!()
    };
    assert_eq!((ack.msg_id.as_str(), ack.receipt_id.as_str(), ack.delivered), ("svc-0001", "r-77", true));
    assert_eq!(s.audit_actors().await, vec!["provider:egov"]);
}

#[tokio::test]
async fn janus_joins_and_leaves_need_basic_auth_and_are_recorded_once_each() {
    let s = setup().await;
    let good = format!("{JANUS_USER}:{JANUS_PASSWORD}");
    let joined_at = 1_764_150_000_123_456_i64;
    let left_at = 1_764_150_900_654_321_i64;
    let join = janus_post("joined", 1234, 5, Some("张三"), joined_at);
    let leave = janus_post("leaving", 1234, 5, None, left_at);

    // Missing or wrong credentials: 401 (with a Basic challenge), nothing stored.
    let refused = s.janus(&join, None).await;
    assert_eq!(refused.status(), 401);
    assert!(refused.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    for wrong in [format!("{JANUS_USER}:wrong-password-0123456"), format!("other:{JANUS_PASSWORD}"), JANUS_PASSWORD.to_string()] {
        assert_eq!(s.janus(&join, Some(&wrong)).await.status(), 401, "{wrong}");
    }
    assert_eq!((s.count("video_events").await, s.count("outbox").await), (0, 0));

    // A body that is not JSON: 400 naming the problem; nothing stored.
    let answer = s.janus("not json", Some(&good)).await;
    assert_eq!(answer.status(), 400);
    assert!(answer.text().await.unwrap().contains("body"));
    assert_eq!(s.count("video_events").await, 0);
    // A post over the bound: 413 before anything is read.
    let huge = format!("[{}]", " ".repeat(yuetan_portal::callbacks::MAX_JANUS_BYTES));
    assert_eq!(s.janus(&huge, Some(&good)).await.status(), 413);

    // A join, the same join posted again (Janus retransmits), a leave.
    let answer = s.janus(&join, Some(&good)).await;
    assert_eq!(answer.status(), 200);
    let answer: serde_json::Value = serde_json::from_str(&answer.text().await.unwrap()).unwrap();
    assert_eq!(answer, serde_json::json!({ "code": 0, "msg": "成功" }));
    assert_eq!(s.janus(&join, Some(&good)).await.status(), 200);
    assert_eq!(s.janus(&leave, Some(&good)).await.status(), 200);
    assert_eq!(s.janus(&leave, Some(&good)).await.status(), 200);
    // A post with no join or leave is answered and stores nothing.
    let session_only = r#"[{"emitter":"MyJanusInstance","type":1,"timestamp":1764150000000000,"session_id":1,"event":{"name":"destroyed"}}]"#;
    assert_eq!(s.janus(session_only, Some(&good)).await.status(), 200);

    let events = s.settled("portal.video_event", 2).await;
    assert_eq!(s.count("video_events").await, 2);
    let at = |micros: i64| prost_types::Timestamp { seconds: micros.div_euclid(1_000_000), nanos: i32::try_from(micros.rem_euclid(1_000_000) * 1000).unwrap() };
    let mut seen = Vec::new();
    for (subject, event) in &events {
        assert!(subject.ends_with(".62.01.00.portal.video_event"), "the configured division: {subject}");
        assert_eq!(
            (event.jurisdiction.as_str(), event.organ.as_str(), event.case_id.as_str(), event.case_version),
            ("620100", "", "", 0)
        );
        let Some(Payload::PortalVideoEvent(video)) = &event.payload else {
            panic!("{event:?}")
        };
        seen.push(video.clone());
    }
    seen.sort_by_key(|video| !video.joined);
    assert_eq!(
        seen,
        vec![
            yuetan_proto::events::PortalVideoEvent {
                provider: "janus".into(),
                room_id: 1234,
                feed_id: 5,
                joined: true,
                display: "张三".into(),
                at: Some(at(joined_at)),
            },
            yuetan_proto::events::PortalVideoEvent {
                provider: "janus".into(),
                room_id: 1234,
                feed_id: 5,
                joined: false,
                display: String::new(),
                at: Some(at(left_at)),
            },
        ]
    );
    assert_eq!(s.audit_actors().await, vec!["provider:janus", "provider:janus"]);
}

#[tokio::test]
async fn janus_events_without_a_configured_password_are_refused_as_unavailable() {
    let s = setup_with(false).await;
    let answer = s.janus(&janus_post("joined", 1234, 5, Some("张三"), 1_764_150_000_123_456), Some("janus:")).await;
    assert_eq!(answer.status(), 503);
    assert!(answer.text().await.unwrap().contains("janus_event_password"));
    assert_eq!((s.count("video_events").await, s.count("outbox").await), (0, 0));
}

#[tokio::test]
async fn health_answers() {
    let s = setup().await;
    let answer = s.http.get(format!("{}/healthz", s.base)).send().await.unwrap();
    assert_eq!(answer.status(), 200);
}

// ---- the rectification report (POST /r/{token}) ----

const BOUNDARY: &str = "yuetan-test-boundary-7MA4YWxkTrZu0gW";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89 a photo";
const PDF: &[u8] = b"%PDF-1.7\n% a test report\n%%EOF\n";
const REPORT_TEXT: &str = "已更换过期灭火器 12 具，并建立每月巡查制度。<b>负责人：李四</b>";

/// A multipart/form-data body: the text (if given), then each file
/// (`files`, with its file name and declared type).
fn report_form(text: Option<&str>, files: &[(&str, &str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    if let Some(text) = text {
        body.extend_from_slice(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\n{text}\r\n").as_bytes());
    }
    for (name, content_type, bytes) in files {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\nContent-Type: {content_type}\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(Sha256::digest(bytes))
}

impl Setup {
    /// A report link for rectification `rect-0001` on the notice `notice_sha256`.
    fn report_claims(&self, notice_sha256: &str, expires_at: DateTime<Utc>) -> LinkClaims {
        LinkClaims {
            document_name: "责令整改通知书 兰城市监整〔2026〕3号".into(),
            service_id: "rect-0001".into(),
            purpose: yuetan_platform::links::PURPOSE_REPORT.into(),
            ..self.claims(notice_sha256, expires_at)
        }
    }

    async fn post_report(&self, token: &str, body: Vec<u8>) -> (reqwest::StatusCode, String) {
        let answer = self
            .http
            .post(format!("{}/r/{token}", self.base))
            .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
            .header("user-agent", "TestPhone/3.0")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = answer.status();
        (status, answer.text().await.unwrap())
    }

    /// Nothing of a report stored, queued, published or audited.
    async fn assert_no_report(&self) {
        assert_eq!((self.count("reports").await, self.count("outbox").await), (0, 0));
        assert!(self.events().await.is_empty());
        assert!(self.audit_actors().await.is_empty());
    }
}

#[tokio::test]
async fn a_report_is_stored_sealed_and_announced_once_per_link() {
    let s = setup().await;
    let notice = s.objects.put(b"%PDF-1.7\n% the rectification notice\n%%EOF\n".to_vec()).await.unwrap();
    let claims = s.report_claims(&notice.sha256, s.clock.now() + chrono::Duration::days(30));
    let token = s.signer.sign(&claims);

    // The page: the organ, the notice and its PDF, the form; security headers.
    let page = s.http.get(format!("{}/r/{token}", s.base)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    assert!(page.headers()["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
    let html = page.text().await.unwrap();
    assert!(html.contains("620102-SJ") && html.contains("责令整改通知书 兰城市监整〔2026〕3号"), "{html}");
    assert!(
        html.contains("enctype=\"multipart/form-data\"") && html.contains("name=\"text\"") && html.contains("name=\"files\""),
        "{html}"
    );
    assert!(html.contains(&format!("href=\"{token}/notice\"")), "{html}");
    let pdf = s.http.get(format!("{}/r/{token}/notice", s.base)).send().await.unwrap();
    assert_eq!((pdf.status(), pdf.headers()["content-type"].to_str().unwrap()), (reqwest::StatusCode::OK, "application/pdf"));
    assert!(pdf.bytes().await.unwrap().starts_with(b"%PDF-1.7\n% the rectification notice"));

    let (status, html) = s
        .post_report(&token, report_form(Some(REPORT_TEXT), &[("灭火器.png", "image/png", PNG), ("检测报告.pdf", "application/pdf", PDF)]))
        .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("整改报告已提交") && html.contains("2 个文件"), "{html}");

    let events = s.settled("portal.report_submitted", 1).await;
    let (subject, event) = &events[0];
    assert!(subject.ends_with(".62.01.02.portal.report_submitted"), "{subject}");
    assert_eq!(
        (event.jurisdiction.as_str(), event.organ.as_str(), event.case_id.as_str()),
        ("620102", "620102-SJ", "")
    );
    let Some(Payload::PortalReportSubmitted(report)) = &event.payload else {
        panic!("{event:?}")
    };
    assert_eq!((report.link_id.as_str(), report.rectification_id.as_str()), (claims.link_id.as_str(), "rect-0001"));
    assert_eq!(report.attachment_sha256, vec![sha256_hex(PNG), sha256_hex(PDF)]);
    for (sha256, bytes) in report.attachment_sha256.iter().zip([PNG, PDF]) {
        assert_eq!(s.objects.get(sha256).await.unwrap(), bytes);
    }
    // The text travels only sealed; the rectification service opens it.
    assert!(!format!("{event:?}").contains("灭火器") && !String::from_utf8_lossy(&report.text_sealed).contains("灭火器"));
    assert_eq!(s.vault.open(&report.text_sealed, "portal.report").unwrap(), REPORT_TEXT);
    let evidence = s.vault.open(&report.evidence_sealed, "portal.evidence").unwrap();
    assert!(evidence.contains("TestPhone/3.0"), "{evidence}");
    assert!(report.submitted_at.is_some());
    assert_eq!(s.count("reports").await, 1);
    assert_eq!(s.audit_actors().await, vec!["party"]);
    // The report link is no served document: no open is recorded.
    assert_eq!(s.count("link_opens").await, 0);

    // The same link again: 409, nothing more written.
    let other = [0xFF, 0xD8, 0xFF, 0xE0, b'j', b'p', b'g'];
    let (status, html) = s.post_report(&token, report_form(Some("再次提交"), &[("x.jpg", "image/jpeg", &other)])).await;
    assert_eq!(status, 409, "{html}");
    assert!(html.contains("已提交过"), "{html}");
    s.settled("portal.report_submitted", 1).await;
    assert_eq!(s.count("reports").await, 1);
    assert!(!s.objects.exists(&sha256_hex(&other)).await.unwrap());
    assert_eq!(s.audit_actors().await, vec!["party"]);

    // The page now says when, and has no form.
    let html = s.http.get(format!("{}/r/{token}", s.base)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("提交整改报告。") && !html.contains("<form") && !html.contains("<button"), "{html}");
}

#[tokio::test]
async fn a_report_not_in_order_is_refused_naming_the_field_and_writes_nothing() {
    let s = setup().await;
    let notice = "ab".repeat(32);
    let files = |png: &'static [u8]| vec![("a.png", "image/png", png)];

    // An expired report link: the refusal page of every link.
    let expired = s.signer.sign(&s.report_claims(&notice, s.clock.now() + chrono::Duration::hours(1)));
    s.clock.advance(chrono::Duration::hours(2));
    let (status, html) = s.post_report(&expired, report_form(Some(REPORT_TEXT), &files(PNG))).await;
    assert_eq!(status, 403);
    assert!(html.contains("链接无效或已过期") && !html.contains("整改"), "{html}");
    assert_eq!(s.http.get(format!("{}/r/{expired}", s.base)).send().await.unwrap().status(), 403);

    // A link of another purpose, either way round.
    let serve = s.signer.sign(&s.claims(&notice, s.clock.now() + chrono::Duration::days(7)));
    let (status, html) = s.post_report(&serve, report_form(Some(REPORT_TEXT), &files(PNG))).await;
    assert_eq!(status, 403);
    assert!(html.contains("链接无效或已过期"), "{html}");
    assert_eq!(s.http.get(format!("{}/r/{serve}", s.base)).send().await.unwrap().status(), 403);
    assert_eq!(s.http.get(format!("{}/r/{serve}/notice", s.base)).send().await.unwrap().status(), 403);
    let report = s.signer.sign(&s.report_claims(&notice, s.clock.now() + chrono::Duration::days(7)));
    assert_eq!(s.http.get(format!("{}/d/{report}", s.base)).send().await.unwrap().status(), 403);
    assert_eq!(s.http.post(format!("{}/d/{report}/confirm", s.base)).send().await.unwrap().status(), 403);

    // A good link and a form not in order.
    let text_named_png: &[u8] = b"this is text, not a picture";
    let over = {
        let mut big = PNG.to_vec();
        big.resize(10 * 1024 * 1024 + 1, 0);
        big
    };
    let eleven: Vec<(&str, &str, &[u8])> = vec![("a.png", "image/png", PNG); 11];
    let long = "整".repeat(5001);
    for (body, expected, field) in [
        (report_form(Some(REPORT_TEXT), &[("photo.png", "image/png", text_named_png)]), 400, "files[0]"),
        (report_form(Some(REPORT_TEXT), &[("a.pdf", "application/pdf", PDF), ("b.png", "image/png", text_named_png)]), 400, "files[1]"),
        (report_form(Some(REPORT_TEXT), &[("big.png", "image/png", &over)]), 413, "files[0]"),
        (report_form(None, &files(PNG)), 400, "text"),
        (report_form(Some(" \r\n "), &files(PNG)), 400, "text"),
        (report_form(Some(&long), &files(PNG)), 400, "text"),
        (report_form(Some(REPORT_TEXT), &eleven), 400, "files"),
    ] {
        let (status, html) = s.post_report(&report, body).await;
        assert_eq!(status, expected, "{field}: {html}");
        assert!(html.contains(&format!("<code>{field}</code>")), "{field}: {html}");
    }
    // Not multipart at all.
    let answer = s.http.post(format!("{}/r/{report}", s.base)).header("content-type", "application/x-www-form-urlencoded")
        .body("text=done")
        .send().await.unwrap();
    assert_eq!(answer.status(), 400);
    assert!(answer.text().await.unwrap().contains("<code>body</code>"));

    s.assert_no_report().await;
    for bytes in [PNG, PDF, text_named_png, &over] {
        assert!(!s.objects.exists(&sha256_hex(bytes)).await.unwrap());
    }
    // The link is still unused: the page still has the form.
    let html = s.http.get(format!("{}/r/{report}", s.base)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("<form"), "{html}");
}
