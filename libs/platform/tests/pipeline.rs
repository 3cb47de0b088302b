//! Outbox → JetStream → consumer, against a real nats-server and PostgreSQL.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use prost::Message;
use sqlx::PgConnection;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use yuetan_platform::config::ConsumerConfig;
use yuetan_platform::consumer::{Consumer, ConsumerSpec, Handler, HandlerError};
use yuetan_platform::delivery::Delivery;
use yuetan_platform::outbox::{CrashPoint, NewEvent, Outbox, Relay};
use yuetan_platform::trace_context::is_valid_traceparent;
use yuetan_proto::events::{event::Payload, Event, PlatformPing};

use common::{env, eventually, TestEnv};

fn ping(seq: u64, case_id: Uuid) -> NewEvent {
    NewEvent {
        event_type: "platform.pinged".into(),
        case_id: Some(case_id),
        case_version: seq,
        jurisdiction: "620102".into(),
        organ: "620102-SJ".into(),
        actor: None,
        correlation_id: None,
        causation_id: None,
        payload: Payload::PlatformPing(PlatformPing { note: format!("ping {seq}"), seq }),
    }
}

fn relay(env: &TestEnv) -> Relay {
    Relay::new(env.pool.clone(), env.bus.clone(), env.schema.clone(), 256, Duration::from_secs(3600))
}

fn outbox(env: &TestEnv) -> Outbox {
    Outbox::new(env.nats.subject_prefix.clone(), "platform")
}

async fn stream_messages(env: &TestEnv) -> u64 {
    let mut stream = env.bus.jetstream.get_stream(&env.bus.stream).await.unwrap();
    stream.info().await.unwrap().state.messages
}

async fn unsent(env: &TestEnv) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbox").fetch_one(&env.pool).await.unwrap()
}

#[tokio::test]
async fn an_event_written_in_a_transaction_is_published_once_with_msg_id_cloudevents_headers_and_traceparent() {
    let env = env().await;
    let case_id = Uuid::now_v7();
    let mut tx = env.pool.begin().await.unwrap();
    let written = outbox(&env).write(&mut tx, ping(1, case_id), Utc::now()).await.unwrap();
    tx.commit().await.unwrap();

    let relay = relay(&env);
    assert_eq!(relay.publish_pending().await.unwrap(), 1);
    assert_eq!(relay.publish_pending().await.unwrap(), 0, "a sent row is not sent again");
    assert_eq!(stream_messages(&env).await, 1);
    assert_eq!(unsent(&env).await, 0);

    let stream = env.bus.jetstream.get_stream(&env.bus.stream).await.unwrap();
    let message = stream.get_raw_message(1).await.unwrap();
    assert_eq!(message.subject.as_str(), format!("{}.62.01.02.platform.pinged", env.nats.subject_prefix));
    let headers = &message.headers;
    let header = |name: &str| headers.get(name).map(|v| v.to_string()).unwrap_or_default();
    assert_eq!(header("Nats-Msg-Id"), written.id);
    assert_eq!(header("ce-specversion"), "1.0");
    assert_eq!(header("ce-id"), written.id);
    assert_eq!(header("ce-type"), "platform.pinged");
    assert_eq!(header("ce-source"), "/yuetan/platform");
    assert_eq!(header("ce-subject"), case_id.to_string());
    assert!(chrono::DateTime::parse_from_rfc3339(&header("ce-time")).is_ok(), "ce-time {}", header("ce-time"));
    assert!(is_valid_traceparent(&header("traceparent")), "traceparent {}", header("traceparent"));

    let event = Event::decode(message.payload.as_ref()).unwrap();
    assert_eq!(event.id, written.id);
    assert_eq!(event.case_id, case_id.to_string());
    assert_eq!(event.correlation_id, written.id, "a chain starts with its own id");
    assert!(matches!(event.payload, Some(Payload::PlatformPing(PlatformPing { seq: 1, .. }))));
}

#[tokio::test]
async fn a_rolled_back_transaction_publishes_nothing() {
    let env = env().await;
    let mut tx = env.pool.begin().await.unwrap();
    outbox(&env).write(&mut tx, ping(1, Uuid::now_v7()), Utc::now()).await.unwrap();
    tx.rollback().await.unwrap();

    assert_eq!(relay(&env).publish_pending().await.unwrap(), 0);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox").fetch_one(&env.pool).await.unwrap();
    assert_eq!(rows, 0);
    assert_eq!(stream_messages(&env).await, 0);
}

#[tokio::test]
async fn a_relay_killed_between_commit_and_publish_publishes_the_event_after_restart() {
    let env = env().await;
    let mut tx = env.pool.begin().await.unwrap();
    outbox(&env).write(&mut tx, ping(1, Uuid::now_v7()), Utc::now()).await.unwrap();
    tx.commit().await.unwrap();
    // The relay that should have published it is gone: nothing on the bus yet.
    assert_eq!(stream_messages(&env).await, 0);
    assert_eq!(unsent(&env).await, 1);

    // A new relay process starts (its own loop, woken by its first drain).
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(relay(&env).run(shutdown.clone()));
    assert!(eventually(Duration::from_secs(10), || async { stream_messages(&env).await == 1 }).await);
    assert!(eventually(Duration::from_secs(10), || async { unsent(&env).await == 0 }).await);
    shutdown.cancel();
    task.await.unwrap();
    assert_eq!(stream_messages(&env).await, 1);
}

#[tokio::test]
async fn a_relay_killed_after_publishing_but_before_marking_sent_causes_no_duplicate_on_the_stream() {
    let env = env().await;
    let mut tx = env.pool.begin().await.unwrap();
    outbox(&env).write(&mut tx, ping(1, Uuid::now_v7()), Utc::now()).await.unwrap();
    outbox(&env).write(&mut tx, ping(2, Uuid::now_v7()), Utc::now()).await.unwrap();
    tx.commit().await.unwrap();

    relay(&env).round(CrashPoint::AfterPublishBeforeMark).await.unwrap();
    assert_eq!(stream_messages(&env).await, 2);
    assert_eq!(unsent(&env).await, 2, "the crash lost the marks");

    // After restart the rows are published again and JetStream drops the
    // copies by Nats-Msg-Id.
    assert_eq!(relay(&env).publish_pending().await.unwrap(), 2);
    assert_eq!(unsent(&env).await, 0);
    assert_eq!(stream_messages(&env).await, 2);
}

#[tokio::test]
async fn the_running_relay_is_woken_by_notify_not_by_its_poll() {
    let env = env().await;
    let shutdown = CancellationToken::new();
    // Poll interval of an hour: only LISTEN/NOTIFY can make it publish in time.
    let task = tokio::spawn(relay(&env).run(shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;

    for seq in 1..=3 {
        let mut tx = env.pool.begin().await.unwrap();
        outbox(&env).write(&mut tx, ping(seq, Uuid::now_v7()), Utc::now()).await.unwrap();
        tx.commit().await.unwrap();
    }
    assert!(eventually(Duration::from_secs(20), || async { stream_messages(&env).await == 3 }).await);
    shutdown.cancel();
    task.await.unwrap();
}

/// Counts applications per event in the handler's own table, inside the
/// inbox transaction.
struct CountingHandler {
    calls: AtomicU64,
    fail_always: bool,
    delay: Duration,
}

impl CountingHandler {
    fn new(fail_always: bool, delay: Duration) -> Arc<Self> {
        Arc::new(Self { calls: AtomicU64::new(0), fail_always, delay })
    }
}

impl Handler for CountingHandler {
    async fn handle(&self, conn: &mut PgConnection, delivery: &Delivery) -> Result<(), HandlerError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        sqlx::query(
            "INSERT INTO applied (event_id, times) VALUES ($1, 1)
             ON CONFLICT (event_id) DO UPDATE SET times = applied.times + 1",
        )
        .bind(delivery.event_id)
        .execute(&mut *conn)
        .await?;
        if self.fail_always {
            return Err(HandlerError::failed("the handler refuses this event"));
        }
        Ok(())
    }
}

async fn create_applied_table(env: &TestEnv) {
    sqlx::query("CREATE TABLE applied (event_id UUID PRIMARY KEY, times INT NOT NULL)").execute(&env.pool).await.unwrap();
}

fn consumer(env: &TestEnv, config: ConsumerConfig) -> Consumer {
    Consumer::new(
        env.pool.clone(),
        env.bus.clone(),
        config,
        ConsumerSpec::new("test-consumer", vec![format!("{}.>", env.nats.subject_prefix)]),
    )
}

async fn publish_raw(env: &TestEnv, event: &Event, msg_id: &str) {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", msg_id);
    headers.insert("ce-subject", event.case_id.as_str());
    let subject = format!("{}.62.01.02.platform.pinged", env.nats.subject_prefix);
    env.bus.jetstream.publish_with_headers(subject, headers, event.encode_to_vec().into()).await.unwrap().await.unwrap();
}

async fn consumer_idle(env: &TestEnv) -> bool {
    let stream = env.bus.jetstream.get_stream(&env.bus.stream).await.unwrap();
    let Ok(mut consumer) = stream.get_consumer::<async_nats::jetstream::consumer::pull::Config>("test-consumer").await else {
        return false;
    };
    let info = consumer.info().await.unwrap();
    info.num_pending == 0 && info.num_ack_pending == 0 && info.delivered.stream_sequence >= 1
}

#[tokio::test]
async fn a_consumer_given_the_same_event_three_times_applies_it_once() {
    let env = env().await;
    create_applied_table(&env).await;
    let event = Event {
        id: Uuid::now_v7().to_string(),
        r#type: "platform.pinged".into(),
        case_id: Uuid::now_v7().to_string(),
        case_version: 1,
        jurisdiction: "620102".into(),
        payload: Some(Payload::PlatformPing(PlatformPing { note: "once".into(), seq: 1 })),
        ..Default::default()
    };
    // Three copies on the stream (distinct message ids defeat JetStream's
    // own dedup, as a republish after the duplicate window would).
    for copy in 0..3 {
        publish_raw(&env, &event, &format!("{}-{copy}", event.id)).await;
    }
    assert_eq!(stream_messages(&env).await, 3);

    let handler = CountingHandler::new(false, Duration::ZERO);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(consumer(&env, ConsumerConfig::default()).run(handler.clone(), shutdown.clone()));
    assert!(eventually(Duration::from_secs(20), || consumer_idle(&env)).await, "consumer did not finish");
    shutdown.cancel();
    task.await.unwrap().unwrap();

    let times: i32 = sqlx::query_scalar("SELECT times FROM applied WHERE event_id = $1")
        .bind(Uuid::parse_str(&event.id).unwrap())
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(times, 1);
    assert_eq!(handler.calls.load(Ordering::SeqCst), 1, "duplicates never reach the handler");
    let inbox: i64 = sqlx::query_scalar("SELECT count(*) FROM inbox").fetch_one(&env.pool).await.unwrap();
    assert_eq!(inbox, 1);
}

#[tokio::test]
async fn a_handler_that_keeps_failing_lands_its_event_in_the_dead_letter_table_after_max_deliver() {
    let env = env().await;
    create_applied_table(&env).await;
    let mut tx = env.pool.begin().await.unwrap();
    let written = outbox(&env).write(&mut tx, ping(1, Uuid::now_v7()), Utc::now()).await.unwrap();
    tx.commit().await.unwrap();
    relay(&env).publish_pending().await.unwrap();

    let handler = CountingHandler::new(true, Duration::ZERO);
    let config = ConsumerConfig { max_deliver: 3, backoff_ms: vec![10, 20], ..ConsumerConfig::default() };
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(consumer(&env, config).run(handler.clone(), shutdown.clone()));
    let pool = env.pool.clone();
    let dead = eventually(Duration::from_secs(30), || {
        let pool = pool.clone();
        async move {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letters").fetch_one(&pool).await.unwrap();
            n == 1
        }
    })
    .await;
    assert!(dead, "event never reached the dead-letter table");
    assert!(eventually(Duration::from_secs(10), || consumer_idle(&env)).await);
    shutdown.cancel();
    task.await.unwrap().unwrap();

    let (event_id, deliveries, error, kind): (Uuid, i64, String, String) =
        sqlx::query_as("SELECT event_id, deliveries, error, kind FROM dead_letters").fetch_one(&env.pool).await.unwrap();
    assert_eq!(event_id.to_string(), written.id);
    assert_eq!(deliveries, 3);
    assert!(error.contains("refuses"), "{error}");
    assert!(error.contains("failed 3 times"), "{error}");
    assert_eq!(kind, "failed");
    let retries: i64 = sqlx::query_scalar("SELECT count(*) FROM consumer_retries").fetch_one(&env.pool).await.unwrap();
    assert_eq!(retries, 0, "the failure count goes with the dead letter");
    assert_eq!(handler.calls.load(Ordering::SeqCst), 3);
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM applied").fetch_one(&env.pool).await.unwrap();
    assert_eq!(applied, 0, "every failed attempt was rolled back");
    let inbox: i64 = sqlx::query_scalar("SELECT count(*) FROM inbox").fetch_one(&env.pool).await.unwrap();
    assert_eq!(inbox, 0);
}

#[tokio::test]
async fn an_undecodable_message_is_dead_lettered_at_once() {
    let env = env().await;
    let subject = format!("{}.62.01.02.platform.pinged", env.nats.subject_prefix);
    env.bus.jetstream.publish(subject, vec![0xff, 0xff, 0xff].into()).await.unwrap().await.unwrap();
    let handler = CountingHandler::new(false, Duration::ZERO);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(consumer(&env, ConsumerConfig::default()).run(handler.clone(), shutdown.clone()));
    assert!(eventually(Duration::from_secs(20), || consumer_idle(&env)).await);
    shutdown.cancel();
    task.await.unwrap().unwrap();
    let (deliveries, error): (i64, String) =
        sqlx::query_as("SELECT deliveries, error FROM dead_letters").fetch_one(&env.pool).await.unwrap();
    assert_eq!(deliveries, 1);
    assert!(error.contains("undecodable"), "{error}");
    assert_eq!(handler.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn shutdown_finishes_the_event_in_flight() {
    let env = env().await;
    create_applied_table(&env).await;
    let mut tx = env.pool.begin().await.unwrap();
    outbox(&env).write(&mut tx, ping(1, Uuid::now_v7()), Utc::now()).await.unwrap();
    tx.commit().await.unwrap();
    relay(&env).publish_pending().await.unwrap();

    let handler = CountingHandler::new(false, Duration::from_millis(700));
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(consumer(&env, ConsumerConfig::default()).run(handler.clone(), shutdown.clone()));
    assert!(eventually(Duration::from_secs(20), || async { handler.calls.load(Ordering::SeqCst) == 1 }).await);
    // Shut down while the handler is still sleeping inside its transaction.
    shutdown.cancel();
    task.await.unwrap().unwrap();

    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM applied").fetch_one(&env.pool).await.unwrap();
    assert_eq!(applied, 1, "the in-flight event was completed, not abandoned");
    assert!(eventually(Duration::from_secs(5), || consumer_idle(&env)).await, "and acknowledged");
}

/// Fails every event whose ping has sequence `bad`; applies the others.
struct FailsOne {
    bad: u64,
}

impl Handler for FailsOne {
    async fn handle(&self, conn: &mut PgConnection, delivery: &Delivery) -> Result<(), HandlerError> {
        sqlx::query("INSERT INTO applied (event_id, times) VALUES ($1, 1)").bind(delivery.event_id).execute(&mut *conn).await?;
        match &delivery.event.payload {
            Some(Payload::PlatformPing(ping)) if ping.seq == self.bad => Err(HandlerError::failed("bad event")),
            _ => Ok(()),
        }
    }
}

#[tokio::test]
async fn one_failing_event_in_a_batch_does_not_hold_back_the_others() {
    let env = env().await;
    create_applied_table(&env).await;
    // Five events of one case on the stream before the consumer starts, so
    // its lane takes them as one batch.
    let case_id = Uuid::now_v7();
    let mut tx = env.pool.begin().await.unwrap();
    for seq in 1..=5 {
        outbox(&env).write(&mut tx, ping(seq, case_id), Utc::now()).await.unwrap();
    }
    tx.commit().await.unwrap();
    relay(&env).publish_pending().await.unwrap();

    let config = ConsumerConfig { max_deliver: 2, backoff_ms: vec![10], ..ConsumerConfig::default() };
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(consumer(&env, config).run(Arc::new(FailsOne { bad: 3 }), shutdown.clone()));
    let pool = env.pool.clone();
    let settled = eventually(Duration::from_secs(30), || {
        let pool = pool.clone();
        async move {
            let dead: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letters").fetch_one(&pool).await.unwrap();
            dead == 1
        }
    })
    .await;
    assert!(settled);
    assert!(eventually(Duration::from_secs(10), || consumer_idle(&env)).await);
    shutdown.cancel();
    task.await.unwrap().unwrap();

    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM applied").fetch_one(&env.pool).await.unwrap();
    assert_eq!(applied, 4, "the four good events are applied, the bad one's write rolled back");
    let inbox: i64 = sqlx::query_scalar("SELECT count(*) FROM inbox").fetch_one(&env.pool).await.unwrap();
    assert_eq!(inbox, 4);
}
