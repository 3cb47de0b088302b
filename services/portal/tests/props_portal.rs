//! Property tests (issue 14, "fuzzed inputs") over the portal's edge: the
//! providers' callbacks (SMS reports, e-gov acknowledgements, Janus events
//! and their Basic credentials), the party's uploads (the report's text and
//! files, judged by content) and forms (rating, complaint), and the
//! forwarded client address.
//!
//! Pure properties first: never a panic on arbitrary bytes; a refusal names
//! the field; what is accepted is bounded. Then one end-to-end property
//! against a real PostgreSQL and NATS: 64 random refused requests per route
//! leave no row in any table of the portal's schema, no stored object and no
//! event ("nothing written").

use std::net::IpAddr;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use figment::providers::{Format, Toml};
use figment::Figment;
use hmac::{Hmac, Mac};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use sha2::Sha256;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use yuetan_platform::links::{LinkClaims, LinkSigner, PURPOSE_REPORT};
use yuetan_platform::{Clock, Config, TestClock};
use yuetan_portal::callbacks::{self, EgovHeaders, Refusal, MAX_FIELD_CHARS, MAX_SMS_REPORTS};
use yuetan_portal::rating::{self, ComplaintFormRaw, RatingFormRaw, MAX_COMMENT_CHARS, MAX_COMPLAINT_CHARS, PURPOSE_RATE};
use yuetan_portal::report::{self, FileKind, MAX_TEXT_CHARS};
use yuetan_portal::{web, Portal, PortalConfig};

// ---- strategies ----

fn any_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..600),
        ".{0,200}".prop_map(String::into_bytes),
        "[\\[\\]{}\",:0-9a-z_ \\\\]{0,200}".prop_map(String::into_bytes),
        (0usize..300).prop_map(|n| format!("{}{}", "[{\"a\":".repeat(n), "1}]".repeat(n)).into_bytes()),
        prop::collection::vec(json_value(), 0..5).prop_map(|v| serde_json::to_vec(&v).unwrap()),
        json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
    ]
}

/// JSON with the keys of the callbacks, and values of every type.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        ".{0,20}".prop_map(serde_json::Value::from),
        "[\\x00-\\x1f\u{7f}\u{85}a]{0,4}".prop_map(serde_json::Value::from),
        (300usize..400).prop_map(|n| serde_json::Value::from("长".repeat(n))),
        Just(serde_json::Value::from(64)),
        Just(serde_json::Value::from("janus.plugin.videoroom")),
        Just(serde_json::Value::from("joined")),
        Just(serde_json::Value::from("DELIVERED")),
    ];
    let keys = prop::sample::select(vec![
        "out_id", "biz_id", "success", "err_code", "err_msg", "report_time", "phone_number", "msgId", "receiptId", "status", "deliveredAt", "reason",
        "type", "timestamp", "event", "plugin", "data", "room", "id", "display",
    ]);
    leaf.prop_recursive(4, 96, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(keys.clone().prop_map(String::from), inner, 0..8)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A Janus VideoRoom join as `sampleevh` posts it, with any display name.
fn janus_join() -> impl Strategy<Value = (u64, u64, String, i64)> {
    (0u64..(1 << 53), 0u64..(1 << 53), prop_oneof![".{0,40}", "[\\x00-\\x1f长a]{0,400}"], 0i64..4_000_000_000_000_000)
}

fn bounded(text: &str) -> bool {
    text.chars().count() <= MAX_FIELD_CHARS && !text.chars().any(char::is_control)
}

fn invalid(refusal: Refusal) -> Result<String, TestCaseError> {
    match refusal {
        Refusal::Invalid(why) => Ok(why),
        Refusal::Unauthenticated => Err(TestCaseError::fail("a parser refused as unauthenticated")),
    }
}

// ---- pure properties ----

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn sms_reports_of_any_body_are_bounded_or_refused_naming_the_field(body in any_bytes()) {
        match callbacks::parse_sms_reports(&body) {
            Ok((reports, raw)) => {
                prop_assert!(!reports.is_empty() && reports.len() <= MAX_SMS_REPORTS && reports.len() == raw.len());
                for r in &reports {
                    for text in [&r.phone_number, &r.send_time, &r.report_time, &r.err_code, &r.err_msg, &r.biz_id, &r.out_id] {
                        prop_assert!(bounded(text), "{:?}", text);
                    }
                    prop_assert!(!r.out_id.is_empty() || !r.biz_id.is_empty());
                    prop_assert!(!r.report_time.is_empty());
                }
            }
            Err(refusal) => {
                let why = invalid(refusal)?;
                prop_assert!(why.starts_with("body:") || why.starts_with('['), "{}", why);
            }
        }
    }

    #[test]
    fn egov_acks_of_any_body_are_bounded_or_refused_naming_the_field(body in any_bytes()) {
        match callbacks::parse_egov_ack(&body) {
            Ok(ack) => {
                for text in [&ack.msg_id, &ack.receipt_id, &ack.status, &ack.delivered_at, &ack.reason] {
                    prop_assert!(bounded(text));
                }
                prop_assert!(!ack.msg_id.is_empty() && (ack.status == "DELIVERED" || ack.status == "FAILED"));
            }
            Err(refusal) => {
                let why = invalid(refusal)?;
                let named = ["body:", "msgId", "receiptId", "status", "deliveredAt", "reason"].iter().any(|f| why.starts_with(f));
                prop_assert!(named, "{}", why);
            }
        }
    }

    #[test]
    fn janus_posts_of_any_body_give_bounded_events_or_a_refusal_of_the_body(body in any_bytes()) {
        match callbacks::parse_janus_events(&body) {
            Ok(events) => {
                for e in events {
                    prop_assert!(bounded(&e.display));
                    prop_assert!(e.joined || e.display.is_empty());
                }
            }
            Err(refusal) => prop_assert!(invalid(refusal)?.starts_with("body:")),
        }
    }

    #[test]
    fn a_janus_join_is_read_with_its_room_feed_time_and_a_cleaned_display(joins in prop::collection::vec(janus_join(), 1..10)) {
        let post: Vec<serde_json::Value> = joins
            .iter()
            .map(|(room, id, display, at)| serde_json::json!({
                "emitter": "j", "type": 64, "timestamp": at, "session_id": 1, "handle_id": 2,
                "event": { "plugin": "janus.plugin.videoroom", "data": { "event": "joined", "room": room, "id": id, "display": display } },
            }))
            .collect();
        let events = callbacks::parse_janus_events(&serde_json::to_vec(&post).unwrap()).unwrap();
        prop_assert_eq!(events.len(), joins.len());
        for (e, (room, id, display, at)) in events.iter().zip(&joins) {
            prop_assert_eq!((e.room_id, e.feed_id, e.joined), (*room, *id, true));
            prop_assert_eq!(e.at, DateTime::<Utc>::from_timestamp_micros(*at).unwrap());
            let cleaned: String = display.chars().filter(|c| !c.is_control()).take(MAX_FIELD_CHARS).collect();
            prop_assert_eq!(&e.display, &cleaned);
            prop_assert!(e.db_ids().is_some());
        }
    }

    #[test]
    fn basic_auth_of_any_header_is_refused_unless_it_is_the_exact_credentials(
        header in prop_oneof![".{0,80}", "Basic [A-Za-z0-9+/=]{0,60}", (1500usize..3000).prop_map(|n| format!("Basic {}", "A".repeat(n)))],
        password in "[!-~]{8,32}", at in any::<usize>(), by in "[!-~]",
    ) {
        let encoded = STANDARD.encode(format!("janus:{password}"));
        prop_assert!(callbacks::check_basic_auth("janus", &password, Some(&header)).is_err() || header.contains(&encoded));
        let good = format!("Basic {}", STANDARD.encode(format!("janus:{password}")));
        prop_assert!(callbacks::check_basic_auth("janus", &password, Some(&good)).is_ok());
        prop_assert!(callbacks::check_basic_auth("janus", &password, Some(&good.to_lowercase().replacen("basic", "BASIC", 1))).is_err() || good.to_lowercase() == good);
        // Any one character of the password changed.
        let mut chars: Vec<char> = password.chars().collect();
        let i = at % chars.len();
        let by = by.chars().next().unwrap();
        if chars[i] != by {
            chars[i] = by;
            let other: String = chars.into_iter().collect();
            let wrong = format!("Basic {}", STANDARD.encode(format!("janus:{other}")));
            prop_assert_eq!(callbacks::check_basic_auth("janus", &password, Some(&wrong)), Err(Refusal::Unauthenticated));
        }
        prop_assert_eq!(callbacks::check_basic_auth("janus", &password, None), Err(Refusal::Unauthenticated));
    }

    #[test]
    fn provider_signatures_with_any_header_values_are_unauthenticated(
        body in any_bytes(), sms in prop::option::of(".{0,100}"), app in prop::option::of(".{0,20}"), ts in prop::option::of(".{0,20}"),
        nonce in prop::option::of(prop_oneof![".{0,20}", "[a-z]{129,200}"]), sig in prop::option::of(".{0,60}"),
    ) {
        prop_assert_eq!(callbacks::check_sms_signature("sms-secret-0123456789", sms.as_deref(), &body), Err(Refusal::Unauthenticated));
        let headers = EgovHeaders { app_id: app.as_deref(), timestamp: ts.as_deref(), nonce: nonce.as_deref(), signature: sig.as_deref() };
        prop_assert_eq!(callbacks::check_egov_signature("app", "egov-secret-0123456789", &headers, &body, Utc::now()), Err(Refusal::Unauthenticated));
    }

    #[test]
    fn the_report_text_of_any_bytes_is_bounded_or_refused_naming_text(raw in prop::option::of(prop_oneof![
        any_bytes(),
        (any::<char>(), 4990usize..5010).prop_map(|(c, n)| c.to_string().repeat(n).into_bytes()),
        "[\r\n\t a整改\u{200b}]{0,50}".prop_map(String::into_bytes),
    ])) {
        match report::check_text(raw.as_deref()) {
            Ok(text) => {
                prop_assert!(!text.trim().is_empty() && text.chars().count() <= MAX_TEXT_CHARS);
                prop_assert!(!text.contains('\r') && !text.chars().any(|c| c.is_control() && c != '\n' && c != '\t'));
            }
            Err(refusal) => {
                prop_assert_eq!(refusal.field, "text");
                prop_assert_eq!(refusal.status, axum::http::StatusCode::BAD_REQUEST);
            }
        }
    }

    #[test]
    fn an_uploaded_file_is_judged_by_its_first_bytes_only(bytes in any_bytes()) {
        let kind = FileKind::sniff(&bytes);
        let expected = if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(FileKind::Jpeg)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(FileKind::Png)
        } else if bytes.starts_with(b"%PDF-") {
            Some(FileKind::Pdf)
        } else {
            None
        };
        // The name and declared type are not inputs: the bytes alone decide.
        prop_assert_eq!(kind, expected);
    }

    #[test]
    fn a_rating_form_of_any_values_is_in_range_or_refused_naming_the_first_bad_field(
        a in prop::option::of(".{0,4}"), p in prop::option::of("[0-9 ]{0,3}"), c in prop::option::of(prop_oneof!["[1-5]", ".{0,3}"]),
        comment in prop::option::of(prop_oneof![".{0,40}", (490usize..510).prop_map(|n| "好".repeat(n)), "[\\x00-\\x1f a]{0,5}"]),
    ) {
        let raw = RatingFormRaw { attitude: a.clone(), professionalism: p.clone(), communication: c.clone(), comment };
        let ok = |v: &Option<String>| v.as_deref().map(str::trim).is_some_and(|v| v.len() == 1 && ("1"..="5").contains(&v));
        match rating::check(&raw) {
            Ok(form) => {
                prop_assert!(ok(&a) && ok(&p) && ok(&c));
                prop_assert!([form.attitude, form.professionalism, form.communication].iter().all(|m| (1..=5).contains(m)));
                prop_assert!(form.comment.chars().count() <= MAX_COMMENT_CHARS);
            }
            Err(refusal) => {
                let first = if !ok(&a) { "attitude" } else if !ok(&p) { "professionalism" } else if !ok(&c) { "communication" } else { "comment" };
                prop_assert_eq!(refusal.field, first);
            }
        }
    }

    #[test]
    fn a_complaint_of_any_values_is_bounded_or_refused_naming_the_field(
        kind in prop::option::of(prop_oneof![prop::sample::select(vec!["abuse", " rude_conduct ", "bribery", ""]).prop_map(String::from), ".{0,12}"]),
        description in prop::option::of(prop_oneof![".{0,60}", (1990usize..2010).prop_map(|n| "诉".repeat(n)), "[\\x00-\\x1f a]{0,5}"]),
    ) {
        match rating::check_complaint(&ComplaintFormRaw { kind, description }) {
            Ok(form) => {
                prop_assert!(rating::COMPLAINT_KINDS.iter().any(|(k, _)| *k == form.kind));
                prop_assert!(!form.description.is_empty() && form.description.chars().count() <= MAX_COMPLAINT_CHARS);
            }
            Err(refusal) => prop_assert!(refusal.field == "kind" || refusal.field == "description"),
        }
    }

    #[test]
    fn the_client_address_from_any_forwarded_for_is_the_peer_or_a_listed_address(forwarded in prop::collection::vec(prop_oneof![".{0,20}", "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}", "[0-9a-f:]{2,20}"], 0..50)) {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let peer: IpAddr = "198.51.100.2".parse().unwrap();
        let mut headers = axum::http::HeaderMap::new();
        for entry in &forwarded {
            if let Ok(value) = axum::http::HeaderValue::from_str(entry) {
                headers.append("x-forwarded-for", value);
            }
        }
        prop_assert_eq!(web::client_ip(peer, &headers, &[proxy]), peer);
        let ip = web::client_ip(proxy, &headers, &[proxy]);
        prop_assert!(ip == proxy || forwarded.iter().flat_map(|f| f.split(',')).any(|e| e.trim().parse::<IpAddr>().ok() == Some(ip)));
    }
}

// ---- nothing written: random refused requests against a running portal ----

const SMS_SECRET: &str = "sms-callback-secret-0123456789";
const EGOV_APP: &str = "yuetan-test-app";
const EGOV_SECRET: &str = "egov-callback-secret-0123456789";
const JANUS_USER: &str = "janus";
const JANUS_PASSWORD: &str = "janus-event-password-0123";
const BOUNDARY: &str = "yuetan-props-boundary-7MA4YWxkTrZu0gW";
/// Random requests per route.
const CASES: usize = 64;

struct Setup {
    base: String,
    clock: Arc<TestClock>,
    signer: LinkSigner,
    admin: PgPool,
    nats: async_nats::Client,
    stream: String,
    objects_dir: tempfile::TempDir,
    http: reqwest::Client,
    shutdown: CancellationToken,
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn setup() -> Setup {
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
stream = "P{unique}"
subject_prefix = "p{unique}.ev"
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
janus_event_user = "{JANUS_USER}"
janus_event_password = "{JANUS_PASSWORD}"
"#,
        runtime = urls.runtime,
        owner = urls.owner,
        nats = stack.nats_url,
        objects = objects_dir.path().display(),
    );
    let figment = Figment::new().merge(Toml::string(&toml));
    let config = Config::from_figment("portal", figment.clone()).expect("platform config");
    let portal_config = PortalConfig::from_figment(&figment, &config).expect("portal config");
    let clock = Arc::new(TestClock::new(Utc::now()));
    let shutdown = CancellationToken::new();
    let portal = Portal::start(&config, &portal_config, clock.clone(), shutdown.clone()).await.expect("the portal starts");
    let (addr, _server) = portal.listen().await.expect("the portal listens");
    Setup {
        base: format!("http://{addr}"),
        clock,
        signer: LinkSigner::new(&config.links).unwrap(),
        admin: PgPool::connect(&urls.admin).await.unwrap(),
        nats: async_nats::connect(&stack.nats_url).await.unwrap(),
        stream: config.nats.stream.clone(),
        objects_dir,
        http: reqwest::Client::new(),
        shutdown,
    }
}

impl Setup {
    /// Rows in every table of the portal's schema (migration bookkeeping
    /// aside), files in the object store, and messages on the stream.
    async fn written(&self) -> (Vec<(String, i64)>, usize, u64) {
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'portal' AND table_type = 'BASE TABLE' \
             AND table_name NOT LIKE '%migrations%' ORDER BY 1",
        )
        .fetch_all(&self.admin)
        .await
        .unwrap();
        // The count covers the tables that would hold what was refused.
        for table in ["reports", "ratings", "outbox", "audit_log", "link_opens", "video_events"] {
            assert!(tables.iter().any(|t| t == table), "no table portal.{table} in {tables:?}");
        }
        let mut rows = Vec::new();
        for table in tables {
            let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM portal.\"{table}\"")).fetch_one(&self.admin).await.unwrap();
            if n > 0 {
                rows.push((table, n));
            }
        }
        let files = walk(self.objects_dir.path());
        let js = async_nats::jetstream::new(self.nats.clone());
        let messages = match js.get_stream(&self.stream).await {
            Ok(mut stream) => stream.info().await.unwrap().state.messages,
            Err(_) => 0,
        };
        (rows, files, messages)
    }

    fn claims(&self, purpose: &str) -> LinkClaims {
        LinkClaims {
            link_id: uuid::Uuid::now_v7().to_string(),
            document_sha256: "ab".repeat(32),
            document_name: "责令整改通知书 兰城市监整〔2026〕3号".into(),
            service_id: "rect-0001".into(),
            purpose: purpose.into(),
            organ: "620102-SJ".into(),
            expires_at: self.clock.now() + chrono::Duration::days(7),
        }
    }
}

fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| if e.path().is_dir() { walk(&e.path()) } else { 1 })
                .sum()
        })
        .unwrap_or(0)
}

/// An `application/x-www-form-urlencoded` body.
fn urlencoded(pairs: &[(&str, &str)]) -> String {
    let encode = |text: &str| -> String {
        text.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
    };
    pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

fn sample<S: Strategy>(runner: &mut TestRunner, strategy: &S) -> S::Value {
    strategy.new_tree(runner).expect("a value").current()
}

fn hmac_sha256(secret: &str, parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// A multipart body of random parts: text of any bytes, files with any
/// name and content that is no JPEG, PNG or PDF, fields of any name; at
/// least one part is always refused.
fn refused_form() -> impl Strategy<Value = Vec<u8>> {
    let part = prop_oneof![
        any_bytes().prop_map(|t| (String::from("text"), None, t)),
        (".{0,40}", any_bytes()).prop_map(|(name, mut bytes)| {
            bytes.insert(0, b'x');
            (String::from("files"), Some(name), bytes)
        }),
        ("[a-z\u{4e00}-\u{4e10}\\x00-\\x1f]{0,20}", any_bytes()).prop_map(|(field, bytes)| (field, None, bytes)),
    ];
    (prop::collection::vec(part, 0..6), any::<bool>()).prop_map(|(mut parts, text_first)| {
        // Always one file that is no JPEG, PNG or PDF.
        let refused = (String::from("files"), Some(String::from("photo.png")), b"GIF89a not accepted".to_vec());
        if text_first {
            parts.push(refused);
        } else {
            parts.insert(0, refused);
        }
        let mut body = Vec::new();
        for (field, file_name, bytes) in parts {
            let field: String = field.chars().filter(|c| *c != '"' && *c != '\r' && *c != '\n').collect();
            body.extend_from_slice(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"").as_bytes());
            if let Some(name) = file_name {
                let name: String = name.chars().filter(|c| *c != '"' && *c != '\r' && *c != '\n').collect();
                body.extend_from_slice(format!("; filename=\"{name}\"\r\nContent-Type: image/png").as_bytes());
            }
            body.extend_from_slice(b"\r\n\r\n");
            body.extend_from_slice(&bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        body
    })
}

#[tokio::test]
async fn random_refused_callbacks_uploads_forms_and_links_write_nothing() {
    let s = setup().await;
    let before = s.written().await;
    assert_eq!(before.1, 0, "a fresh object store: {before:?}");
    let mut runner = TestRunner::deterministic();
    let report_token = s.signer.sign(&s.claims(PURPOSE_REPORT));
    let rate_token = s.signer.sign(&s.claims(PURPOSE_RATE));
    let mut statuses = std::collections::BTreeMap::<String, usize>::new();
    let mut seen = |route: &str, status: reqwest::StatusCode| {
        assert!(!status.is_success() || route == "janus", "{route}: {status}");
        assert!(!status.is_server_error(), "{route}: {status}");
        *statuses.entry(format!("{route} {}", status.as_u16())).or_default() += 1;
    };

    for _ in 0..CASES {
        // SMS: correctly signed bodies the parser refuses, and bad signatures.
        let body = sample(&mut runner, &any_bytes());
        let signed = format!("sha256={}", hex::encode(hmac_sha256(SMS_SECRET, &[&body])));
        if callbacks::parse_sms_reports(&body).is_err() {
            let r = s.http.post(format!("{}/callbacks/sms", s.base)).header("x-yuetan-signature", &signed).body(body.clone()).send().await.unwrap();
            seen("sms", r.status());
        }
        let forged = sample(&mut runner, &".{0,80}");
        let mut request = s.http.post(format!("{}/callbacks/sms", s.base)).body(body.clone());
        if let Ok(value) = reqwest::header::HeaderValue::from_str(&forged) {
            request = request.header("x-yuetan-signature", value);
        }
        seen("sms", request.send().await.unwrap().status());

        // E-gov: signed refused bodies, and random headers.
        let ts = s.clock.now().timestamp().to_string();
        let nonce = uuid::Uuid::now_v7().to_string();
        let signature = STANDARD.encode(hmac_sha256(EGOV_SECRET, &[EGOV_APP.as_bytes(), b"\n", ts.as_bytes(), b"\n", nonce.as_bytes(), b"\n", &body]));
        if callbacks::parse_egov_ack(&body).is_err() {
            let r = s
                .http
                .post(format!("{}/callbacks/egov", s.base))
                .header("x-egov-appid", EGOV_APP)
                .header("x-egov-timestamp", &ts)
                .header("x-egov-nonce", &nonce)
                .header("x-egov-signature", &signature)
                .body(body.clone())
                .send()
                .await
                .unwrap();
            seen("egov", r.status());
        }
        let (app, stamp, sig) = sample(&mut runner, &("[ -~]{0,20}", "[ -~]{0,12}", "[ -~]{0,50}"));
        let r = s
            .http
            .post(format!("{}/callbacks/egov", s.base))
            .header("x-egov-appid", app)
            .header("x-egov-timestamp", stamp)
            .header("x-egov-nonce", &nonce)
            .header("x-egov-signature", sig)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        seen("egov", r.status());

        // Janus: authenticated posts with no join or leave (refused, or
        // accepted with nothing to record), and random credentials.
        if callbacks::parse_janus_events(&body).map_or(true, |events| events.is_empty()) {
            let r = s
                .http
                .post(format!("{}/callbacks/janus", s.base))
                .basic_auth(JANUS_USER, Some(JANUS_PASSWORD))
                .body(body.clone())
                .send()
                .await
                .unwrap();
            seen("janus", r.status());
        }
        let credentials = sample(&mut runner, &"[ -~]{0,40}");
        let r = s.http.post(format!("{}/callbacks/janus", s.base)).header("authorization", format!("Basic {}", STANDARD.encode(credentials))).body(body.clone()).send().await.unwrap();
        assert_eq!(r.status(), 401);

        // The report: a genuine link and a form that is not in order.
        let form = sample(&mut runner, &refused_form());
        let r = s
            .http
            .post(format!("{}/r/{report_token}", s.base))
            .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
            .body(form)
            .send()
            .await
            .unwrap();
        seen("report", r.status());

        // The rating and complaint: a genuine link and a refused form.
        let (bad_mark, comment, kind) = sample(&mut runner, &(prop_oneof!["[06-9]", "[a-z%+&=]{0,4}", Just(String::new())], ".{0,30}", "[a-z_%&=]{0,12}"));
        let r = s
            .http
            .post(format!("{}/rate/{rate_token}", s.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(urlencoded(&[("attitude", bad_mark.as_str()), ("professionalism", "3"), ("communication", "3"), ("comment", comment.as_str())]))
            .send()
            .await
            .unwrap();
        seen("rate", r.status());
        if !rating::COMPLAINT_KINDS.iter().any(|(k, _)| *k == kind.trim()) {
            let r = s.http.post(format!("{}/rate/{rate_token}/complaint", s.base)).header("content-type", "application/x-www-form-urlencoded").body(urlencoded(&[("kind", kind.as_str()), ("description", comment.as_str())])).send().await.unwrap();
            seen("complaint", r.status());
        }

        // Links: any token on every route that records something.
        let token = sample(&mut runner, &prop_oneof!["[A-Za-z0-9_.-]{0,300}", (2040usize..2100).prop_map(|n| "A".repeat(n))]);
        for (method, path) in [("GET", format!("/d/{token}")), ("GET", format!("/d/{token}/file")), ("POST", format!("/d/{token}/confirm")), ("POST", format!("/r/{token}")), ("POST", format!("/rate/{token}"))] {
            let request = if method == "GET" { s.http.get(format!("{}{path}", s.base)) } else { s.http.post(format!("{}{path}", s.base)) };
            seen("link", request.send().await.unwrap().status());
        }
    }

    let after = s.written().await;
    assert_eq!(after, before, "random refused requests wrote something; statuses: {statuses:?}");
    // The requests reached the parsers: most signed callbacks were 400, not 401.
    for route in ["sms 400", "sms 401", "egov 400", "egov 401", "report 400", "rate 400", "link 403"] {
        assert!(statuses.get(route).copied().unwrap_or(0) > 0, "no {route}: {statuses:?}");
    }
    // The report link was not used up: the form is still there.
    let page = s.http.get(format!("{}/r/{report_token}", s.base)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<form"), "{page}");
}
