//! The ordering guard across a crash, against a real nats-server and
//! PostgreSQL (issue 16, "a crash can leave a case stuck for good").
//!
//! A consumer replica receives versions 1 and 2 of a case and dies between
//! delivery and ack; version 3 then reaches a new replica first and must wait
//! until JetStream redelivers 1 and 2 after `ack_wait`. Waiting is not a
//! failed delivery: however many times version 3 is redelivered while it
//! waits, it is not dead-lettered, only bounded by `consumer.order_horizon_secs`.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sqlx::PgConnection;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use yuetan_platform::config::ConsumerConfig;
use yuetan_platform::consumer::{Consumer, ConsumerSpec, Handler, HandlerError};
use yuetan_platform::delivery::Delivery;
use yuetan_platform::outbox::{NewEvent, Outbox, Relay};
use yuetan_proto::events::{event::Payload, PlatformPing};

use common::{env, eventually, TestEnv};

const CONSUMER: &str = "ordered-consumer";

fn ping(version: u64, case_id: Uuid) -> NewEvent {
    NewEvent {
        event_type: "platform.pinged".into(),
        case_id: Some(case_id),
        case_version: version,
        jurisdiction: "620102".into(),
        organ: "620102-SJ".into(),
        actor: None,
        correlation_id: None,
        causation_id: None,
        payload: Payload::PlatformPing(PlatformPing { note: format!("version {version}"), seq: version }),
    }
}

async fn publish(env: &TestEnv, case_id: Uuid, versions: &[u64]) {
    let outbox = Outbox::new(env.nats.subject_prefix.clone(), "platform");
    let mut tx = env.pool.begin().await.unwrap();
    for version in versions {
        outbox.write(&mut tx, ping(*version, case_id), Utc::now()).await.unwrap();
    }
    tx.commit().await.unwrap();
    let relay = Relay::new(env.pool.clone(), env.bus.clone(), env.schema.clone(), 256, Duration::from_secs(3600));
    assert_eq!(relay.publish_pending().await.unwrap(), versions.len());
}

fn consumer(env: &TestEnv, config: ConsumerConfig) -> Consumer {
    Consumer::new(
        env.pool.clone(),
        env.bus.clone(),
        config,
        ConsumerSpec::new(CONSUMER, vec![format!("{}.>", env.nats.subject_prefix)]).ordered(&["platform"]),
    )
}

async fn create_applied_table(env: &TestEnv) {
    sqlx::query("CREATE TABLE applied (seq BIGSERIAL PRIMARY KEY, event_id UUID NOT NULL, version BIGINT NOT NULL)")
        .execute(&env.pool)
        .await
        .unwrap();
}

/// The versions applied, in the order they were applied.
async fn applied(env: &TestEnv) -> Vec<i64> {
    sqlx::query_scalar("SELECT version FROM applied ORDER BY seq").fetch_all(&env.pool).await.unwrap()
}

async fn dead_letters(env: &TestEnv) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM dead_letters").fetch_one(&env.pool).await.unwrap()
}

async fn ack_pending(env: &TestEnv) -> u64 {
    let stream = env.bus.jetstream.get_stream(&env.bus.stream).await.unwrap();
    let Ok(mut consumer) = stream.get_consumer::<async_nats::jetstream::consumer::pull::Config>(CONSUMER).await else {
        return 0;
    };
    consumer.info().await.unwrap().num_ack_pending as u64
}

async fn idle(env: &TestEnv) -> bool {
    let stream = env.bus.jetstream.get_stream(&env.bus.stream).await.unwrap();
    let Ok(mut consumer) = stream.get_consumer::<async_nats::jetstream::consumer::pull::Config>(CONSUMER).await else {
        return false;
    };
    let info = consumer.info().await.unwrap();
    info.num_pending == 0 && info.num_ack_pending == 0 && info.delivered.stream_sequence >= 1
}

/// Records each application (in the inbox transaction).
struct Recorder {
    calls: AtomicU64,
}

impl Handler for Recorder {
    async fn handle(&self, conn: &mut PgConnection, delivery: &Delivery) -> Result<(), HandlerError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        sqlx::query("INSERT INTO applied (event_id, version) VALUES ($1, $2)")
            .bind(delivery.event_id)
            .bind(delivery.event.case_version as i64)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}

/// A replica that dies inside its first handler call: it holds the
/// transaction open until told to die, then panics, so the transaction is
/// rolled back and nothing is acked (as with SIGKILL).
struct Dying {
    entered: AtomicU64,
    die: Arc<Notify>,
}

impl Handler for Dying {
    async fn handle(&self, _conn: &mut PgConnection, _delivery: &Delivery) -> Result<(), HandlerError> {
        self.entered.fetch_add(1, Ordering::SeqCst);
        self.die.notified().await;
        panic!("simulated crash between delivery and ack");
    }
}

#[tokio::test]
async fn a_replica_killed_between_delivery_and_ack_leaves_no_dead_letter_and_every_version_applied_once_in_order() {
    let env = env().await;
    create_applied_table(&env).await;
    let case_id = Uuid::now_v7();
    // Few real failures allowed, short waits: version 3 will be redelivered
    // many more times than max_deliver while it waits for 1 and 2.
    let config = ConsumerConfig {
        max_deliver: 3,
        ack_wait_secs: 3,
        backoff_ms: vec![100, 200],
        lanes: 1,
        ..ConsumerConfig::default()
    };

    publish(&env, case_id, &[1, 2]).await;

    // Replica A takes versions 1 and 2 and dies before acking either.
    let die = Arc::new(Notify::new());
    let dying = Arc::new(Dying { entered: AtomicU64::new(0), die: die.clone() });
    let stop_a = CancellationToken::new();
    let a = tokio::spawn(consumer(&env, config.clone()).run(dying.clone(), stop_a.clone()));
    assert!(eventually(Duration::from_secs(20), || async { dying.entered.load(Ordering::SeqCst) == 1 }).await);
    assert!(eventually(Duration::from_secs(10), || async { ack_pending(&env).await == 2 }).await, "A holds 1 and 2");
    stop_a.cancel();
    die.notify_one();
    a.await.unwrap().unwrap();

    // Version 3 reaches replica B first; 1 and 2 come back after ack_wait.
    publish(&env, case_id, &[3]).await;
    let recorder = Arc::new(Recorder { calls: AtomicU64::new(0) });
    let stop_b = CancellationToken::new();
    let b = tokio::spawn(consumer(&env, config).run(recorder.clone(), stop_b.clone()));
    let done = eventually(Duration::from_secs(40), || async { applied(&env).await.len() == 3 && idle(&env).await }).await;
    let dead = dead_letters(&env).await;
    stop_b.cancel();
    b.await.unwrap().unwrap();

    assert_eq!(dead, 0, "waiting for a predecessor is not a failed delivery");
    assert!(done, "applied: {:?}", applied(&env).await);
    assert_eq!(applied(&env).await, vec![1, 2, 3], "each version once, in order");
    assert_eq!(recorder.calls.load(Ordering::SeqCst), 3);
    let last: i64 = sqlx::query_scalar("SELECT version FROM event_order WHERE consumer = $1 AND case_id = $2")
        .bind(CONSUMER)
        .bind(case_id)
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(last, 3);
}

#[tokio::test]
async fn an_event_whose_predecessor_never_comes_is_dead_lettered_after_the_order_horizon_naming_the_missing_version() {
    let env = env().await;
    create_applied_table(&env).await;
    let case_id = Uuid::now_v7();
    // Version 1 never comes; version 2 waits, far more often than max_deliver.
    publish(&env, case_id, &[2]).await;
    let config = ConsumerConfig {
        max_deliver: 2,
        order_horizon_secs: 2,
        backoff_ms: vec![50, 100],
        lanes: 1,
        ..ConsumerConfig::default()
    };
    let recorder = Arc::new(Recorder { calls: AtomicU64::new(0) });
    let stop = CancellationToken::new();
    let started = std::time::Instant::now();
    let task = tokio::spawn(consumer(&env, config).run(recorder.clone(), stop.clone()));
    assert!(eventually(Duration::from_secs(30), || async { dead_letters(&env).await == 1 }).await, "never dead-lettered");
    let waited = started.elapsed();
    assert!(eventually(Duration::from_secs(10), || idle(&env)).await);
    stop.cancel();
    task.await.unwrap().unwrap();

    assert!(waited >= Duration::from_secs(2), "dead-lettered after {waited:?}, before the horizon");
    let (kind, error, deliveries): (String, String, i64) =
        sqlx::query_as("SELECT kind, error, deliveries FROM dead_letters").fetch_one(&env.pool).await.unwrap();
    assert_eq!(kind, "waited");
    assert!(error.contains(&format!("case {case_id}: version 2 of platform arrived before version 1")), "{error}");
    assert!(error.contains("order_horizon_secs = 2"), "{error}");
    assert!(deliveries > 2, "it waited through more deliveries ({deliveries}) than max_deliver allows failures");
    assert_eq!(recorder.calls.load(Ordering::SeqCst), 0, "never applied out of order");
    assert!(applied(&env).await.is_empty());
    let retries: i64 = sqlx::query_scalar("SELECT count(*) FROM consumer_retries").fetch_one(&env.pool).await.unwrap();
    assert_eq!(retries, 0, "the retry count goes with the dead letter");
}

#[tokio::test]
async fn a_durable_consumer_created_with_a_delivery_limit_loses_it_when_the_runner_starts() {
    // A deployment upgraded from the runner that let JetStream count
    // deliveries: its durable consumer still says max_deliver = 5.
    let env = env().await;
    let stream = env.bus.jetstream.get_stream(&env.bus.stream).await.unwrap();
    stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            durable_name: Some(CONSUMER.into()),
            filter_subjects: vec![format!("{}.>", env.nats.subject_prefix)],
            ack_policy: async_nats::jetstream::consumer::AckPolicy::Explicit,
            max_deliver: 5,
            ..Default::default()
        })
        .await
        .unwrap();
    let recorder = Arc::new(Recorder { calls: AtomicU64::new(0) });
    let stop = CancellationToken::new();
    let task = tokio::spawn(consumer(&env, ConsumerConfig::default()).run(recorder, stop.clone()));
    let unlimited = eventually(Duration::from_secs(10), || async {
        let mut consumer =
            stream.get_consumer::<async_nats::jetstream::consumer::pull::Config>(CONSUMER).await.unwrap();
        consumer.info().await.unwrap().config.max_deliver == -1
    })
    .await;
    stop.cancel();
    task.await.unwrap().unwrap();
    assert!(unlimited, "JetStream would still drop an event after five deliveries");
}
