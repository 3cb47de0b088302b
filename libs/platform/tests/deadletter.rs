//! Dead letters for operators, against a real nats-server and PostgreSQL:
//! counted and aged for the status RPC, replayed once through the consumer's
//! inbox however often a replay is asked for.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sqlx::PgConnection;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use yuetan_platform::auth::{roles, DivisionCode};
use yuetan_platform::config::ConsumerConfig;
use yuetan_platform::consumer::{Consumer, ConsumerSpec, Handler, HandlerError};
use yuetan_platform::deadletter::{self, Replay};
use yuetan_platform::delivery::Delivery;
use yuetan_platform::outbox::{NewEvent, Outbox, Relay};
use yuetan_platform::{Actor, Error};
use yuetan_proto::events::{event::Payload, PlatformPing};

use common::{env, eventually, TestEnv};

const CONSUMER: &str = "dl-consumer";

/// Applies events (counting them in `applied`) unless told to refuse.
struct Switchable {
    refuse: AtomicBool,
    calls: AtomicU64,
}

impl Switchable {
    fn new(refuse: bool) -> Arc<Self> {
        Arc::new(Self { refuse: AtomicBool::new(refuse), calls: AtomicU64::new(0) })
    }
}

impl Handler for Switchable {
    async fn handle(&self, conn: &mut PgConnection, delivery: &Delivery) -> Result<(), HandlerError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        sqlx::query(
            "INSERT INTO applied (event_id, times) VALUES ($1, 1)
             ON CONFLICT (event_id) DO UPDATE SET times = applied.times + 1",
        )
        .bind(delivery.event_id)
        .execute(&mut *conn)
        .await?;
        if self.refuse.load(Ordering::SeqCst) {
            return Err(HandlerError::failed("the handler refuses this event"));
        }
        Ok(())
    }
}

async fn setup(env: &TestEnv) -> Uuid {
    sqlx::query("CREATE TABLE applied (event_id UUID PRIMARY KEY, times INT NOT NULL)").execute(&env.pool).await.unwrap();
    let event = NewEvent {
        event_type: "platform.pinged".into(),
        case_id: Some(Uuid::now_v7()),
        case_version: 1,
        jurisdiction: "620102".into(),
        organ: "620102-SJ".into(),
        actor: None,
        correlation_id: None,
        causation_id: None,
        payload: Payload::PlatformPing(PlatformPing { note: "dead".into(), seq: 1 }),
    };
    let mut tx = env.pool.begin().await.unwrap();
    let written = Outbox::new(env.nats.subject_prefix.clone(), "platform").write(&mut tx, event, Utc::now()).await.unwrap();
    tx.commit().await.unwrap();
    let relay = Relay::new(env.pool.clone(), env.bus.clone(), env.schema.clone(), 256, Duration::from_secs(3600));
    relay.publish_pending().await.unwrap();
    Uuid::parse_str(&written.id).unwrap()
}

fn start(env: &TestEnv, handler: Arc<Switchable>) -> (CancellationToken, JoinHandle<Result<(), Error>>) {
    let config = ConsumerConfig { max_deliver: 2, backoff_ms: vec![10], ..ConsumerConfig::default() };
    let consumer = Consumer::new(
        env.pool.clone(),
        env.bus.clone(),
        config,
        ConsumerSpec::new(CONSUMER, vec![format!("{}.>", env.nats.subject_prefix)]).ordered(&["platform"]),
    );
    let stop = CancellationToken::new();
    (stop.clone(), tokio::spawn(consumer.run(handler, stop)))
}

/// Runs a consumer whose handler refuses until the event is dead-lettered;
/// returns the dead letter's id and the (still running) consumer.
async fn dead_lettered(env: &TestEnv, handler: Arc<Switchable>) -> (i64, CancellationToken, JoinHandle<Result<(), Error>>) {
    let (stop, task) = start(env, handler);
    let pool = env.pool.clone();
    let dead = eventually(Duration::from_secs(30), || {
        let pool = pool.clone();
        async move { !deadletter::list(&pool, false).await.unwrap().is_empty() }
    })
    .await;
    assert!(dead, "never dead-lettered");
    let id = deadletter::list(&env.pool, false).await.unwrap()[0].id;
    (id, stop, task)
}

async fn times_applied(env: &TestEnv, event_id: Uuid) -> i32 {
    sqlx::query_scalar("SELECT times FROM applied WHERE event_id = $1")
        .bind(event_id)
        .fetch_optional(&env.pool)
        .await
        .unwrap()
        .unwrap_or(0)
}

#[tokio::test]
async fn a_replayed_dead_letter_is_applied_once_and_a_second_replay_says_already_applied() {
    let env = env().await;
    let event_id = setup(&env).await;
    let handler = Switchable::new(true);
    let (id, stop, task) = dead_lettered(&env, handler.clone()).await;
    assert_eq!(times_applied(&env, event_id).await, 0);

    // The cause is fixed; the operator replays it.
    handler.refuse.store(false, Ordering::SeqCst);
    assert_eq!(deadletter::replay(&env.pool, id, Duration::from_secs(20)).await.unwrap(), Replay::Applied);
    assert_eq!(times_applied(&env, event_id).await, 1);

    let again = deadletter::replay(&env.pool, id, Duration::from_secs(20)).await.unwrap();
    let Replay::AlreadyApplied { resolution } = again else { panic!("second replay: {again:?}") };
    assert!(resolution.starts_with("applied by replay"), "{resolution}");
    // Give a (wrong) second application every chance to happen.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.cancel();
    task.await.unwrap().unwrap();

    assert_eq!(times_applied(&env, event_id).await, 1, "applied once");
    assert_eq!(handler.calls.load(Ordering::SeqCst), 3, "two failures, one replay");
    let inbox: i64 = sqlx::query_scalar("SELECT count(*) FROM inbox WHERE event_id = $1")
        .bind(event_id)
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(inbox, 1);
    assert!(deadletter::open(&env.pool).await.unwrap().is_empty(), "nothing open after the replay");
    assert!(deadletter::list(&env.pool, false).await.unwrap().is_empty());
    let all = deadletter::list(&env.pool, true).await.unwrap();
    assert_eq!(all.len(), 1);
    assert!(all[0].resolved_at.is_some());
}

#[tokio::test]
async fn a_replay_that_still_fails_leaves_the_dead_letter_open_with_the_reason() {
    let env = env().await;
    let event_id = setup(&env).await;
    let handler = Switchable::new(true);
    let (id, stop, task) = dead_lettered(&env, handler.clone()).await;

    let replay = deadletter::replay(&env.pool, id, Duration::from_secs(20)).await.unwrap();
    let Replay::NotApplied { reason } = replay else { panic!("{replay:?}") };
    assert!(reason.contains("refuses"), "{reason}");
    stop.cancel();
    task.await.unwrap().unwrap();

    assert_eq!(times_applied(&env, event_id).await, 0, "the failed replay was rolled back");
    let open = deadletter::open(&env.pool).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].count, 1);
    let listed = deadletter::list(&env.pool, false).await.unwrap();
    assert!(listed[0].resolution.as_deref().unwrap_or_default().contains("replay not applied"), "{listed:?}");
}

#[tokio::test]
async fn a_replay_asked_while_the_consumer_is_down_is_applied_when_it_runs_again() {
    let env = env().await;
    let event_id = setup(&env).await;
    let handler = Switchable::new(true);
    let (id, stop, task) = dead_lettered(&env, handler.clone()).await;
    stop.cancel();
    task.await.unwrap().unwrap();

    let replay = deadletter::replay(&env.pool, id, Duration::from_millis(300)).await.unwrap();
    assert_eq!(replay, Replay::Pending { consumer: CONSUMER.into() });
    assert_eq!(times_applied(&env, event_id).await, 0);

    handler.refuse.store(false, Ordering::SeqCst);
    let (stop, task) = start(&env, handler.clone());
    let pool = env.pool.clone();
    let settled = eventually(Duration::from_secs(20), || {
        let pool = pool.clone();
        async move { deadletter::open(&pool).await.unwrap().is_empty() }
    })
    .await;
    stop.cancel();
    task.await.unwrap().unwrap();
    assert!(settled, "the standing request was not taken up");
    assert_eq!(times_applied(&env, event_id).await, 1);
}

fn actor(roles: &[&str]) -> Actor {
    Actor {
        officer_id: "ops-1".into(),
        name: "运维".into(),
        organ: "620000-SJ".into(),
        division: DivisionCode::parse("620000").unwrap(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        qualifications: Vec::new(),
        serves: vec![],
    }
}

#[tokio::test]
async fn the_status_counts_and_ages_open_dead_letters_for_admins_only() {
    let env = env().await;
    setup(&env).await;
    let handler = Switchable::new(true);
    let (_id, stop, task) = dead_lettered(&env, handler).await;
    stop.cancel();
    task.await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let status = deadletter::status(Some(&env.pool), "all", &actor(&[roles::ADMIN])).await.unwrap();
    assert_eq!(status.service, "all");
    assert_eq!(status.dead_letters.len(), 1, "{status:?}");
    let entry = &status.dead_letters[0];
    assert_eq!(entry.schema, env.schema);
    assert_eq!(entry.consumer, CONSUMER);
    assert_eq!(entry.count, 1);
    assert!(entry.oldest_age_seconds >= 1, "{entry:?}");
    assert!(entry.oldest_failed_at.is_some());

    let refused = deadletter::status(Some(&env.pool), "all", &actor(&[roles::CASE_OFFICER])).await.unwrap_err();
    assert!(matches!(refused, Error::PermissionDenied(_)), "{refused:?}");
}
