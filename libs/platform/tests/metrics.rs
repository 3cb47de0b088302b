//! Metrics operators can watch (issue 14), against a real nats-server and
//! PostgreSQL: the gRPC server's latency histogram carries the method and
//! the status code; the collector reports an outbox row, then 0 once the
//! relay published it; a consumer's lag; a dead letter; a late timer; the
//! portal's request counter; all read through `GET /metrics` as Prometheus
//! would.
//!
//! One test function: the gauges are process-wide and every test database
//! names its schema `svc`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::pull;
use chrono::Utc;
use sqlx::PgConnection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use uuid::Uuid;
use yuetan_platform::auth::{AuthConfig, KeyAlgorithm, KeyConfig, Verifier};
use yuetan_platform::config::ConsumerConfig;
use yuetan_platform::consumer::{Consumer, ConsumerSpec, Handler, HandlerError};
use yuetan_platform::delivery::Delivery;
use yuetan_platform::metrics::{self, Collector, Consumers};
use yuetan_platform::outbox::{NewEvent, Outbox, Relay};
use yuetan_platform::server::{self, Services};
use yuetan_proto::events::{event::Payload, PlatformPing};
use yuetan_proto::platform::platform_service_client::PlatformServiceClient;
use yuetan_proto::platform::WhoAmIRequest;

use common::{env, eventually};

const IDLE: &str = "metrics-idle";
const REFUSING: &str = "metrics-refusing";
const WHO_AM_I: &str = "/yuetan.platform.v1.PlatformService/WhoAmI";
const HEALTH: &str = "/grpc.health.v1.Health/Check";

/// A handler that never applies anything: its events are dead-lettered.
struct Refusing;

impl Handler for Refusing {
    async fn handle(&self, _conn: &mut PgConnection, _delivery: &Delivery) -> Result<(), HandlerError> {
        Err(HandlerError::failed("refused on purpose"))
    }
}

/// `GET /metrics` over plain HTTP/1.1, as a scraper does.
async fn scrape(addr: std::net::SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("the metrics endpoint accepts");
    stream
        .write_all(format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_ascii_lowercase().contains("content-type: text/plain; version=0.0.4"), "{head}");
    body.to_string()
}

/// The value of the sample `name{labels}` (labels as rendered, sorted).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

fn event() -> NewEvent {
    NewEvent {
        event_type: "platform.pinged".into(),
        case_id: Some(Uuid::now_v7()),
        case_version: 1,
        jurisdiction: "620102".into(),
        organ: "620102-SJ".into(),
        actor: None,
        correlation_id: None,
        causation_id: None,
        payload: Payload::PlatformPing(PlatformPing { note: "metrics".into(), seq: 1 }),
    }
}

async fn grpc_server() -> (Channel, CancellationToken) {
    let config = AuthConfig {
        keys: vec![KeyConfig {
            kid: "k".into(),
            algorithm: KeyAlgorithm::HS256,
            public_key_pem: None,
            secret: Some("metrics-tests-secret-at-least-32-bytes".into()),
        }],
        allow_hs256: true,
        ..AuthConfig::default()
    };
    let verifier = Arc::new(Verifier::new(&config).unwrap());
    let listener = server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(Services::new("all", verifier).serve(listener, shutdown.clone()));
    let channel = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
    (channel, shutdown)
}

#[tokio::test]
async fn each_metric_reads_what_happened_through_the_scrape_endpoint() {
    let env = env().await;
    let stop = CancellationToken::new();
    let listener = metrics::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let endpoint = listener.local_addr().unwrap();
    tokio::spawn(metrics::serve(listener, stop.clone()));

    // RPCs: one refused (no token), one answered.
    let (channel, grpc_stop) = grpc_server().await;
    let refused = PlatformServiceClient::new(channel.clone()).who_am_i(WhoAmIRequest {}).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.unwrap();

    // An event committed and not yet published; a timer due for 2 minutes.
    let mut tx = env.pool.begin().await.unwrap();
    Outbox::new(env.nats.subject_prefix.clone(), "platform").write(&mut tx, event(), Utc::now()).await.unwrap();
    sqlx::query("INSERT INTO timers (id, kind, key, due_at) VALUES ($1, 'metrics.test', 'late', now() - interval '2 minutes')")
        .bind(Uuid::now_v7())
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    // A durable consumer nobody reads (its lag grows), made before the publish.
    let stream = env.bus.jetstream.get_stream(&env.bus.stream).await.unwrap();
    stream
        .create_consumer(pull::Config { durable_name: Some(IDLE.into()), ..Default::default() })
        .await
        .unwrap();

    let mut collector = Collector::new(env.pool.clone(), vec![env.schema.clone()], Duration::from_secs(60))
        .unwrap()
        .with_bus(env.bus.clone(), Consumers::Prefixed(vec!["metrics-".into()]));
    collector.collect_once().await.unwrap();
    let before = scrape(endpoint).await;

    let refused_count = format!("yuetan_rpc_duration_seconds_count{{code=\"UNAUTHENTICATED\",method=\"{WHO_AM_I}\"}}");
    assert_eq!(value(&before, &refused_count), Some(1.0), "{before}");
    let answered_count = format!("yuetan_rpc_duration_seconds_count{{code=\"OK\",method=\"{HEALTH}\"}}");
    assert!(value(&before, &answered_count).unwrap_or(0.0) >= 1.0, "{before}");
    let inf_bucket = format!("yuetan_rpc_duration_seconds_bucket{{code=\"UNAUTHENTICATED\",method=\"{WHO_AM_I}\",le=\"+Inf\"}}");
    assert_eq!(value(&before, &inf_bucket), Some(1.0), "{before}");
    assert!(before.contains("# TYPE yuetan_rpc_duration_seconds histogram"), "{before}");

    assert_eq!(value(&before, "yuetan_outbox_backlog{schema=\"svc\"}"), Some(1.0), "{before}");
    assert!(value(&before, "yuetan_outbox_oldest_unsent_seconds{schema=\"svc\"}").is_some(), "{before}");
    assert_eq!(value(&before, "yuetan_timers_due{schema=\"svc\"}"), Some(1.0), "{before}");
    assert_eq!(value(&before, "yuetan_timers_late{schema=\"svc\"}"), Some(1.0), "{before}");
    assert_eq!(value(&before, &format!("yuetan_consumer_lag{{consumer=\"{IDLE}\"}}")), Some(0.0), "{before}");
    assert!(value(&before, "yuetan_process_resident_bytes").unwrap_or(0.0) > 0.0, "{before}");

    // The relay publishes it: the backlog is 0, the idle consumer lags by one.
    let relay = Relay::new(env.pool.clone(), env.bus.clone(), env.schema.clone(), 256, Duration::from_secs(3600));
    relay.publish_pending().await.unwrap();
    collector.collect_once().await.unwrap();
    let after = scrape(endpoint).await;
    assert_eq!(value(&after, "yuetan_outbox_backlog{schema=\"svc\"}"), Some(0.0), "{after}");
    assert_eq!(value(&after, "yuetan_outbox_oldest_unsent_seconds{schema=\"svc\"}"), Some(0.0), "{after}");
    assert_eq!(value(&after, &format!("yuetan_consumer_lag{{consumer=\"{IDLE}\"}}")), Some(1.0), "{after}");

    // A consumer that refuses it dead-letters it.
    let config = ConsumerConfig { max_deliver: 1, backoff_ms: vec![10], ..ConsumerConfig::default() };
    let spec = ConsumerSpec::new(REFUSING, vec![format!("{}.>", env.nats.subject_prefix)]);
    let consumer = Consumer::new(env.pool.clone(), env.bus.clone(), config, spec);
    let consumer_stop = CancellationToken::new();
    let task = tokio::spawn(consumer.run(Arc::new(Refusing), consumer_stop.clone()));
    let pool = env.pool.clone();
    let dead = eventually(Duration::from_secs(30), || {
        let pool = pool.clone();
        async move { !yuetan_platform::deadletter::list(&pool, false).await.unwrap().is_empty() }
    })
    .await;
    assert!(dead, "the refused event was never dead-lettered");
    collector.collect_once().await.unwrap();
    let dead_text = scrape(endpoint).await;
    let series = format!("yuetan_dead_letters{{consumer=\"{REFUSING}\",schema=\"svc\"}}");
    assert_eq!(value(&dead_text, &series), Some(1.0), "{dead_text}");

    // Settled: the series stays and reads 0.
    sqlx::query("UPDATE dead_letters SET resolved_at = now(), resolution = 'test'").execute(&env.pool).await.unwrap();
    collector.collect_once().await.unwrap();
    let settled = scrape(endpoint).await;
    assert_eq!(value(&settled, &series), Some(0.0), "{settled}");

    consumer_stop.cancel();
    task.await.unwrap().unwrap();
    grpc_stop.cancel();
    stop.cancel();
}

#[tokio::test]
async fn the_portal_layer_counts_requests_by_route_template_and_status() {
    let app = axum::Router::new()
        .route("/d/{token}", axum::routing::get(|| async { "page" }))
        .route_layer(axum::middleware::from_fn(metrics::count_portal_request));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    for token in ["a-secret-token", "another-token"] {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(format!("GET /d/{token} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    }
    let text = metrics::scrape().unwrap();
    assert_eq!(value(&text, "yuetan_portal_requests_total{route=\"/d/{token}\",status=\"200\"}"), Some(2.0), "{text}");
    assert!(text.contains("# TYPE yuetan_portal_requests_total counter"), "{text}");
    assert!(!text.contains("a-secret-token"), "a link token must never be a label: {text}");
}
