//! A running intake service for tests and the benchmark: its own database
//! and JetStream stream on the shared test servers, gRPC on a free port, a
//! test clock, and officer tokens for any organ.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use figment::providers::{Format, Toml};
use figment::Figment;
use tokio_util::sync::CancellationToken;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::Request;
use yuetan_calendar::{Calendar, SharedCalendar};
use yuetan_intake::Intake;
use yuetan_platform::auth::{Claims, TokenIssuer, Verifier};
use yuetan_platform::bus::Bus;
use yuetan_platform::server::{self, Services};
use yuetan_platform::{Config, TestClock};
use yuetan_proto::common::{Date, Organ};
use yuetan_proto::intake as pb;
use yuetan_proto::intake::intake_service_client::IntakeServiceClient;

pub const SECRET: &str = "intake-tests-secret-at-least-32-bytes-long";

pub struct Harness {
    pub config: Config,
    pub clock: Arc<TestClock>,
    pub intake: Intake,
    pub channel: Channel,
    pub shutdown: CancellationToken,
    pub database_url: String,
    pub bus: Bus,
    pub objects_dir: tempfile::TempDir,
}

/// An officer: organ code, division and roles.
#[derive(Debug, Clone)]
pub struct Officer {
    pub id: String,
    pub organ: String,
    pub division: String,
    pub roles: Vec<&'static str>,
}

impl Officer {
    pub fn new(id: &str, organ: &str, division: &str, roles: &[&'static str]) -> Officer {
        Officer { id: id.into(), organ: organ.into(), division: division.into(), roles: roles.to_vec() }
    }

    pub fn token(&self) -> String {
        let claims = Claims::for_officer(
            &self.id,
            "测试执法人员",
            &self.organ,
            &self.division,
            &self.roles,
            "yuetan-test",
            "yuetan",
            chrono::Duration::hours(2),
            Utc::now(),
        );
        TokenIssuer::hs256("test", SECRET).issue(&claims).unwrap()
    }
}

/// Wraps a message with the officer's bearer token.
pub fn req<T>(officer: &Officer, message: T) -> Request<T> {
    let mut request = Request::new(message);
    let value: MetadataValue<_> = format!("Bearer {}", officer.token()).parse().unwrap();
    request.metadata_mut().insert("authorization", value);
    request
}

pub async fn start_at(now: DateTime<Utc>) -> Harness {
    start_on(yuetan_testkit::stack().await, now).await
}

/// Intake on the given servers (the benchmark starts durable ones), with
/// the relay and the sweeper polling every 50 ms so tests see timers fire
/// quickly.
pub async fn start_on(stack: &yuetan_testkit::Stack, now: DateTime<Utc>) -> Harness {
    start_with(stack, now, Polls::Tests).await
}

/// How often the relay and the sweeper poll.
#[derive(Debug, Clone, Copy)]
pub enum Polls {
    /// Every 50 ms, so tests see timers fire quickly.
    Tests,
    /// The production defaults (relay 250 ms, sweeper 500 ms): the benchmark.
    Production,
}

pub async fn start_with(stack: &yuetan_testkit::Stack, now: DateTime<Utc>, polls: Polls) -> Harness {
    let (outbox_poll, timers_poll) = match polls {
        Polls::Tests => (50, 50),
        Polls::Production => (250, 500),
    };
    // YUETAN_TEST_LOG=<filter> prints the service's logs (e.g. `sqlx=debug`).
    if let Ok(filter) = std::env::var("YUETAN_TEST_LOG") {
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    }
    let database_url = stack.fresh_database().await.expect("fresh database");
    let unique = stack.unique_name("");
    let objects_dir = tempfile::tempdir().unwrap();
    let toml = format!(
        r#"
[database]
url = "{database_url}"
max_connections = 80
[nats]
url = "{nats}"
stream = "T{unique}"
subject_prefix = "t{unique}.ev"
[outbox]
poll_interval_ms = {outbox_poll}
[timers]
poll_interval_ms = {timers_poll}
[auth]
issuer = "yuetan-test"
audience = "yuetan"
allow_hs256 = true
[[auth.keys]]
kid = "test"
algorithm = "HS256"
secret = "{SECRET}"
[pii]
current_key = "k1"
hash_key = "xXoijL4mSye+kLrSY3HDGTOhEgAu5J/gFTrY7D+2aiA="
[[pii.keys]]
id = "k1"
key = "mcLDREn8Mvwi2TJoSFG8+8LGRuPsUnheaUpoYTi6doA="
[objects]
root = "{objects}"
"#,
        nats = stack.nats_url,
        objects = objects_dir.path().display(),
    );
    let config = Config::from_figment("intake", Figment::new().merge(Toml::string(&toml))).expect("config");
    let clock = Arc::new(TestClock::new(now));
    let shutdown = CancellationToken::new();
    let calendar = SharedCalendar::new(Calendar::builtin());
    let intake = Intake::start(&config, clock.clone(), calendar, shutdown.clone()).await.expect("intake starts");
    let bus = Bus::connect(&config.nats).await.unwrap();
    let verifier = Arc::new(Verifier::new(&config.auth).unwrap());
    let listener = server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(Services::new("intake", verifier).add_authenticated(intake.grpc()).serve(listener, shutdown.clone()));
    let channel = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
    Harness { config, clock, intake, channel, shutdown, database_url, bus, objects_dir }
}

pub async fn start() -> Harness {
    start_at(Utc::now()).await
}

impl Harness {
    pub fn client(&self) -> IntakeServiceClient<Channel> {
        IntakeServiceClient::new(self.channel.clone())
    }

    pub fn pool(&self) -> &sqlx::PgPool {
        &self.intake.state.pool
    }

    /// Registers an organ's document code (as the administrator does once).
    pub async fn organ(&self, code: &str, division: &str, document_code: &str) {
        let admin = Officer::new("admin-1", "62-ADMIN", "620000", &["admin"]);
        self.client()
            .put_organ(req(
                &admin,
                pb::PutOrganRequest {
                    request_id: String::new(),
                    organ: Some(Organ { code: code.into(), name: format!("{code} 局"), division_code: division.into() }),
                    document_code: document_code.into(),
                },
            ))
            .await
            .expect("put organ");
    }

    /// Counts rows of each table that a request could write, once the relay
    /// has published what is in the outbox (its rows leave once sent, so the
    /// events a call wrote show in `events_published` instead).
    pub async fn counts(&self) -> Vec<(&'static str, i64)> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox").fetch_one(self.pool()).await.unwrap();
            if pending == 0 || tokio::time::Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut out = Vec::new();
        let stream = self.bus.jetstream.get_stream(&self.config.nats.stream).await.unwrap().cached_info().state.messages;
        out.push(("events_published", i64::try_from(stream).unwrap()));
        for table in ["parties", "clues", "cases", "audit_log", "requests", "timers", "document_counters"] {
            let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}")).fetch_one(self.pool()).await.unwrap();
            out.push((table, n));
        }
        out
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        for task in self.intake.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

pub fn enterprise(name: &str, credit_code: &str) -> pb::PartyInput {
    pb::PartyInput {
        kind: pb::PartyKind::Enterprise as i32,
        name: name.into(),
        credit_code: credit_code.into(),
        address: "甘肃省兰州市城关区张掖路1号".into(),
        phone: "0931-8888888".into(),
        representative: Some(pb::Representative {
            name: "王五".into(),
            role: "legal_representative".into(),
            phone: "13800000000".into(),
        }),
        consent: Some(pb::ServiceConsent {
            channels: vec![pb::ServiceChannel::Sms as i32, pb::ServiceChannel::Email as i32],
            sms_number: "13900000000".into(),
            email: "legal@example.cn".into(),
            consented_on: Some(Date { iso: "2026-01-05".into() }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn person(name: &str, resident_id: &str) -> pb::PartyInput {
    pb::PartyInput {
        kind: pb::PartyKind::Person as i32,
        name: name.into(),
        resident_id: resident_id.into(),
        address: "甘肃省兰州市七里河区西津西路2号".into(),
        phone: "13700000000".into(),
        ..Default::default()
    }
}

pub fn clue(party_id: &str, violation_type: &str) -> pb::RegisterClueRequest {
    pb::RegisterClueRequest {
        request_id: uuid::Uuid::now_v7().to_string(),
        source: pb::ClueSource::DailyInspection as i32,
        section: "市场秩序科".into(),
        party_id: party_id.into(),
        facts: "日常检查发现该企业未按期报送2025年度报告。".into(),
        violation_type: violation_type.into(),
        evidence: Vec::new(),
        urgency: pb::Urgency::Normal as i32,
        received_on: None,
    }
}

pub fn verification(clue_id: &str) -> pb::VerifyClueRequest {
    pb::VerifyClueRequest {
        request_id: uuid::Uuid::now_v7().to_string(),
        clue_id: clue_id.into(),
        report: Some(pb::VerificationReport {
            facts: "经核实，该企业系首次未按期报送年度报告，尚未造成危害后果。".into(),
            provisions_violated: "《企业信息公示暂行条例》第八条".into(),
            necessity: "首次轻微违法，及时改正可不予处罚，宜约谈督促补报。".into(),
        }),
        situations: vec![pb::Situation::A1FirstMinor as i32, pb::Situation::A4ObligationNotPerformed as i32],
        exclusions: Vec::new(),
        major: false,
        co_departments: Vec::new(),
    }
}

pub fn approval_form() -> pb::ApprovalForm {
    pb::ApprovalForm {
        proposal: "拟约谈该企业法定代表人，督促其补报年度报告并建立报送制度。".into(),
        proposed_interviewers: vec!["officer-a".into(), "officer-b".into()],
        evidence: Vec::new(),
    }
}

/// A valid credit code registered in `division`.
pub fn credit_code(division: &str, serial: u32) -> String {
    yuetan_intake::domain::party_id::CreditCode::synthesize(division, serial).unwrap().as_str().to_string()
}

/// A valid resident ID of `division`.
pub fn resident_id(division: &str, serial: u32) -> String {
    let birth = chrono::NaiveDate::from_ymd_opt(1985, 3, 9).unwrap();
    yuetan_intake::domain::party_id::ResidentId::synthesize(division, birth, serial).unwrap().expose().to_string()
}

/// Registers a party and returns its id.
pub async fn register(h: &Harness, officer: &Officer, party: pb::PartyInput) -> String {
    let response = h
        .client()
        .register_party(req(officer, pb::RegisterPartyRequest { request_id: String::new(), party: Some(party) }))
        .await
        .expect("register party")
        .into_inner();
    response.party.unwrap().id
}
