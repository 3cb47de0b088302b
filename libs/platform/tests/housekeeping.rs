//! Housekeeping and the ordering horizon (issue 14), against a real
//! nats-server and PostgreSQL:
//!
//! - pruning keeps deduplication within the window: an applied event's inbox
//!   row survives a pass, and a copy of the event published again past
//!   JetStream's duplicate window (a relay that died between publishing and
//!   deleting its row) is still dropped; rows older than the keep time go,
//!   except one whose event has an open dead letter; open dead letters
//!   stay, old resolved ones go; an answer inside the replay window is still
//!   replayed after a pass, an older one is gone;
//! - a producer down for two minutes delays its case's later events but
//!   does not dead-letter them: the real order horizon (one hour) bounds the
//!   wait, not the number of deliveries.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use chrono::Utc;
use prost::Message as _;
use sqlx::PgConnection;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use yuetan_platform::clock::{Clock, SharedClock, TestClock};
use yuetan_platform::config::{ConsumerConfig, Secret};
use yuetan_platform::consumer::{Consumer, ConsumerSpec, Handler, HandlerError};
use yuetan_platform::delivery::Delivery;
use yuetan_platform::housekeeping::{Housekeeper, HousekeepingSettings, Pruned};
use yuetan_platform::outbox::{NewEvent, Outbox, Relay};
use yuetan_platform::pii::{PiiConfig, PiiKeyConfig, PiiVault};
use yuetan_platform::requests::{self, RequestKey};
use yuetan_proto::events::{event::Payload, PlatformPing};

use common::{env, eventually, TestEnv};

const CONSUMER: &str = "kept-consumer";

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

/// Writes the versions to the outbox in one transaction and publishes them.
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

/// Publishes the stream's message `seq` again under another message id, as
/// a relay does that died between publishing and deleting its row and came
/// back after the duplicate window: JetStream stores a second copy, and only
/// the consumer's inbox can tell it is the same event.
async fn publish_again(env: &TestEnv, seq: u64) {
    let stream = env.bus.jetstream.get_stream(&env.bus.stream).await.unwrap();
    let message = stream.get_raw_message(seq).await.unwrap();
    let mut headers = async_nats::HeaderMap::new();
    for (name, values) in message.headers.iter() {
        if name.to_string().eq_ignore_ascii_case("Nats-Msg-Id") {
            continue;
        }
        if let Some(value) = values.first() {
            headers.insert(name.to_string().as_str(), value.to_string().as_str());
        }
    }
    headers.insert("Nats-Msg-Id", format!("again-{}", Uuid::now_v7()).as_str());
    env.bus
        .jetstream
        .publish_with_headers(message.subject.to_string(), headers, message.payload)
        .await
        .unwrap()
        .await
        .unwrap();
}

fn consumer(env: &TestEnv, config: ConsumerConfig, ordered: bool) -> Consumer {
    let spec = ConsumerSpec::new(CONSUMER, vec![format!("{}.>", env.nats.subject_prefix)]);
    let spec = if ordered { spec.ordered(&["platform"]) } else { spec };
    Consumer::new(env.pool.clone(), env.bus.clone(), config, spec)
}

async fn create_applied_table(env: &TestEnv) {
    sqlx::query("CREATE TABLE applied (seq BIGSERIAL PRIMARY KEY, event_id UUID NOT NULL, version BIGINT NOT NULL)")
        .execute(&env.pool)
        .await
        .unwrap();
}

async fn applied(env: &TestEnv) -> Vec<i64> {
    sqlx::query_scalar("SELECT version FROM applied ORDER BY seq").fetch_all(&env.pool).await.unwrap()
}

async fn count(env: &TestEnv, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&env.pool).await.unwrap()
}

/// Nothing pending or unacked, and at least `seq` delivered.
async fn idle(env: &TestEnv, seq: u64) -> bool {
    let stream = env.bus.jetstream.get_stream(&env.bus.stream).await.unwrap();
    let Ok(mut consumer) = stream.get_consumer::<async_nats::jetstream::consumer::pull::Config>(CONSUMER).await else {
        return false;
    };
    let info = consumer.info().await.unwrap();
    info.num_pending == 0 && info.num_ack_pending == 0 && info.ack_floor.stream_sequence >= seq
}

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

fn vault() -> PiiVault {
    let key = |b: u8| Secret::new(base64::engine::general_purpose::STANDARD.encode([b; 32]));
    PiiVault::new(&PiiConfig { current_key: "k".into(), keys: vec![PiiKeyConfig { id: "k".into(), key: key(1) }], hash_key: key(2) })
        .unwrap()
}

/// A service's `requests` table (as the services' migrations create it).
async fn create_requests_table(env: &TestEnv) {
    sqlx::query(
        "CREATE TABLE requests (officer_id TEXT NOT NULL, request_id TEXT NOT NULL, method TEXT NOT NULL,
                                digest BYTEA NOT NULL, response BYTEA, created_at TIMESTAMPTZ NOT NULL,
                                PRIMARY KEY (officer_id, request_id))",
    )
    .execute(&env.pool)
    .await
    .unwrap();
}

async fn store_answer(env: &TestEnv, vault: &PiiVault, key: &RequestKey<'_>, answer: &prost_types::Timestamp, at: chrono::DateTime<Utc>) {
    sqlx::query("INSERT INTO requests (officer_id, request_id, method, digest, response, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(key.officer_id)
        .bind(key.request_id)
        .bind(key.method)
        .bind(&key.digest)
        .bind(requests::seal_answer(vault, key, &answer.encode_to_vec()).unwrap())
        .bind(at)
        .execute(&env.pool)
        .await
        .unwrap();
}

/// A UUIDv7 of `ago` before now, as the outbox wrote it then.
fn v7_of(ago: chrono::Duration) -> Uuid {
    let at = Utc::now() - ago;
    Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, at.timestamp() as u64, at.timestamp_subsec_nanos()))
}

#[tokio::test]
async fn pruning_keeps_deduplication_within_the_window_and_removes_only_what_is_old_and_settled() {
    let env = env().await;
    create_applied_table(&env).await;
    create_requests_table(&env).await;
    let housekeeper = Housekeeper { settings: HousekeepingSettings::default(), replay_window: Duration::from_secs(24 * 3600) };
    let clock = TestClock::new(Utc::now());
    let shared: SharedClock = Arc::new(clock.clone());
    let never = CancellationToken::new();

    // An event applied once.
    let case_id = Uuid::now_v7();
    publish(&env, case_id, &[1]).await;
    let recorder = Arc::new(Recorder { calls: AtomicU64::new(0) });
    let stop = CancellationToken::new();
    let config = ConsumerConfig { backoff_ms: vec![20, 50], lanes: 1, ..ConsumerConfig::default() };
    let task = tokio::spawn(consumer(&env, config, false).run(recorder.clone(), stop.clone()));
    assert!(eventually(Duration::from_secs(20), || async { applied(&env).await.len() == 1 && idle(&env, 1).await }).await);

    // Old rows beside it: a week and a day old (gone), the same but with an
    // open dead letter (kept), an old id received only an hour ago (a
    // consumer that caught up late: kept).
    let (old, old_dead, late) = (v7_of(chrono::Duration::days(8)), v7_of(chrono::Duration::days(8)), v7_of(chrono::Duration::days(9)));
    for (id, received) in [(old, "8 days"), (old_dead, "8 days"), (late, "1 hour")] {
        sqlx::query("INSERT INTO inbox (consumer, event_id, event_type, received_at) VALUES ($1, $2, 'platform.pinged', now() - $3::interval)")
            .bind(CONSUMER)
            .bind(id)
            .bind(received)
            .execute(&env.pool)
            .await
            .unwrap();
    }
    // Dead letters: open and old (kept), resolved 31 days ago (gone),
    // resolved yesterday (kept).
    for (event_id, failed, resolved) in
        [(Some(old_dead), "60 days", None), (None, "40 days", Some("31 days")), (None, "3 days", Some("1 day"))]
    {
        sqlx::query(
            "INSERT INTO dead_letters (consumer, event_id, subject, stream_seq, deliveries, error, payload, headers, failed_at,
                                       resolved_at, resolution)
             VALUES ($1, $2, 's', nextval('dead_letters_id_seq'), 1, 'e', '\\x00', '{}', now() - $3::interval,
                     now() - $4::interval, CASE WHEN $4 IS NULL THEN NULL ELSE 'applied by replay' END)",
        )
        .bind(CONSUMER)
        .bind(event_id)
        .bind(failed)
        .bind(resolved)
        .execute(&env.pool)
        .await
        .unwrap();
    }
    // Request answers: one an hour old (inside the window), one 25 hours old.
    let vault = vault();
    let request = prost_types::Timestamp { seconds: 5, nanos: 0 };
    let recent = RequestKey::new("officer-a", "recent", "RegisterClue", &request).unwrap();
    let stale = RequestKey::new("officer-a", "stale", "RegisterClue", &request).unwrap();
    let answer = prost_types::Timestamp { seconds: 13_900_000_000, nanos: 1 };
    store_answer(&env, &vault, &recent, &answer, clock.now() - chrono::Duration::hours(1)).await;
    store_answer(&env, &vault, &stale, &answer, clock.now() - chrono::Duration::hours(25)).await;

    let pruned = housekeeper.prune_once(&env.pool, &shared, &never).await.unwrap();
    assert_eq!(pruned, Pruned { inbox: 1, dead_letters: 1, requests: 1 });

    // The applied event's row is still there, and a copy of the event
    // published again is dropped by it: applied once.
    let inbox: Vec<Uuid> = sqlx::query_scalar("SELECT event_id FROM inbox ORDER BY event_id").fetch_all(&env.pool).await.unwrap();
    assert!(!inbox.contains(&old), "the old row is pruned");
    assert!(inbox.contains(&old_dead), "an event with an open dead letter keeps its inbox row");
    assert!(inbox.contains(&late), "a row received an hour ago is kept whatever its id says");
    assert_eq!(inbox.len(), 3, "{inbox:?}");
    publish_again(&env, 1).await;
    assert!(eventually(Duration::from_secs(20), || idle(&env, 2)).await, "the copy was not settled");
    assert_eq!(recorder.calls.load(Ordering::SeqCst), 1, "the copy was applied again");
    assert_eq!(applied(&env).await, vec![1]);

    // A second pass changes nothing; the copy is still a duplicate after it.
    assert_eq!(housekeeper.prune_once(&env.pool, &shared, &never).await.unwrap(), Pruned::default());
    publish_again(&env, 1).await;
    assert!(eventually(Duration::from_secs(20), || idle(&env, 3)).await);
    stop.cancel();
    task.await.unwrap().unwrap();
    assert_eq!(recorder.calls.load(Ordering::SeqCst), 1);

    // Dead letters: the open one and yesterday's resolved one remain.
    assert_eq!(count(&env, "SELECT count(*) FROM dead_letters WHERE resolved_at IS NULL").await, 1, "an open dead letter is never pruned");
    assert_eq!(count(&env, "SELECT count(*) FROM dead_letters WHERE resolved_at IS NOT NULL").await, 1);
    assert_eq!(count(&env, "SELECT count(*) FROM dead_letters WHERE resolved_at < now() - interval '30 days'").await, 0);

    // The answer inside the window is still replayed; the older one is gone.
    let mut conn = env.pool.acquire().await.unwrap();
    let replayed: Option<prost_types::Timestamp> = requests::replay(&mut conn, &vault, &recent).await.unwrap();
    assert_eq!(replayed, Some(answer));
    let gone: Option<prost_types::Timestamp> = requests::replay(&mut conn, &vault, &stale).await.unwrap();
    assert_eq!(gone, None);

    // When the service clock passes the window, the answer goes too.
    clock.advance(chrono::Duration::hours(24));
    assert_eq!(housekeeper.prune_once(&env.pool, &shared, &never).await.unwrap().requests, 1);
}

#[tokio::test]
async fn a_producer_down_for_two_minutes_delays_but_does_not_dead_letter_its_successors() {
    let env = env().await;
    create_applied_table(&env).await;
    let case_id = Uuid::now_v7();
    // The real order horizon (an hour); few failures allowed and short
    // backoffs, so version 2 is delivered far more often than max_deliver
    // while it waits.
    let config = ConsumerConfig { max_deliver: 2, backoff_ms: vec![50, 100], lanes: 1, ..ConsumerConfig::default() };
    assert_eq!(config.order_horizon(), Duration::from_secs(3600));

    // The producer's version 1 is held (its relay is down); version 2 of
    // the case reaches the consumer.
    publish(&env, case_id, &[2]).await;
    let recorder = Arc::new(Recorder { calls: AtomicU64::new(0) });
    let stop = CancellationToken::new();
    let task = tokio::spawn(consumer(&env, config, true).run(recorder.clone(), stop.clone()));
    let waits = || async { count(&env, "SELECT COALESCE(max(waits), 0)::bigint FROM consumer_retries").await };
    assert!(eventually(Duration::from_secs(20), || async { waits().await >= 3 }).await, "version 2 never waited");

    // Two minutes pass: the wait's start moves two minutes back in the
    // database, whose clock measures the horizon (`now() - waiting_since`).
    sqlx::query("UPDATE consumer_retries SET waiting_since = waiting_since - interval '2 minutes'")
        .execute(&env.pool)
        .await
        .unwrap();
    let before = waits().await;
    assert!(eventually(Duration::from_secs(20), || async { waits().await >= before + 3 }).await, "version 2 stopped waiting");
    let waited: f64 = sqlx::query_scalar("SELECT EXTRACT(EPOCH FROM now() - waiting_since)::float8 FROM consumer_retries")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert!(waited >= 120.0, "waited {waited} s");
    assert_eq!(count(&env, "SELECT count(*) FROM dead_letters").await, 0, "dead-lettered while its predecessor was late");
    assert!(applied(&env).await.is_empty(), "applied before its predecessor");

    // The producer comes back: version 1, then 2, each once, in order.
    publish(&env, case_id, &[1]).await;
    let done = eventually(Duration::from_secs(20), || async { applied(&env).await.len() == 2 && idle(&env, 2).await }).await;
    stop.cancel();
    task.await.unwrap().unwrap();
    assert!(done, "applied: {:?}", applied(&env).await);
    assert_eq!(applied(&env).await, vec![1, 2], "in case order");
    assert_eq!(recorder.calls.load(Ordering::SeqCst), 2);
    assert_eq!(count(&env, "SELECT count(*) FROM dead_letters").await, 0, "no dead letter");
    assert_eq!(count(&env, "SELECT count(*) FROM consumer_retries").await, 0, "the wait is settled");
}

/// A figure, not a check (`cargo test -p yuetan-platform --test housekeeping
/// -- --ignored --nocapture`): rows pruned per second from a large inbox and
/// requests table.
#[tokio::test]
#[ignore]
async fn measure_pruning_rate_on_a_large_table() {
    let env = env().await;
    create_requests_table(&env).await;
    let rows: i64 = std::env::var("HOUSEKEEPING_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    // Half old, half recent, as after a week of work; ids time-ordered.
    sqlx::query(
        "INSERT INTO inbox (consumer, event_id, event_type, received_at)
         SELECT 'c' || (i % 3), ('0' || lpad(to_hex(i), 11, '0') || '7000800000000000' || lpad(to_hex(i % 65536), 4, '0'))::uuid,
                'platform.pinged', CASE WHEN i <= $1 / 2 THEN now() - interval '10 days' ELSE now() END
         FROM generate_series(1, $1) AS i",
    )
    .bind(rows)
    .execute(&env.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO requests (officer_id, request_id, method, digest, response, created_at)
         SELECT 'o' || (i % 50), 'r' || i, 'M', '\\x00', repeat('x', 200)::bytea,
                CASE WHEN i % 2 = 0 THEN now() - interval '2 days' ELSE now() END
         FROM generate_series(1, $1) AS i",
    )
    .bind(rows)
    .execute(&env.pool)
    .await
    .unwrap();
    sqlx::query("VACUUM ANALYZE inbox").execute(&env.pool).await.unwrap();
    sqlx::query("VACUUM ANALYZE requests").execute(&env.pool).await.unwrap();
    let never = CancellationToken::new();
    let started = std::time::Instant::now();
    let inbox = yuetan_platform::housekeeping::prune_inbox(&env.pool, Duration::from_secs(168 * 3600), 1000, &never).await.unwrap();
    let inbox_secs = started.elapsed().as_secs_f64();
    let started = std::time::Instant::now();
    let answers = requests::prune_in_batches(&env.pool, Utc::now() - chrono::Duration::hours(24), 64, &never).await.unwrap();
    let answers_secs = started.elapsed().as_secs_f64();
    println!(
        "{rows} rows each: inbox pruned {inbox} in {inbox_secs:.2} s ({:.0} rows/s); requests pruned {answers} in {answers_secs:.2} s ({:.0} rows/s)",
        inbox as f64 / inbox_secs,
        answers as f64 / answers_secs
    );
    assert_eq!(inbox, (rows / 2) as u64);
    assert_eq!(answers, (rows / 2) as u64);
}
