//! Durable timers against a real PostgreSQL.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use sqlx::PgConnection;
use yuetan_platform::clock::{SharedClock, TestClock};
use yuetan_platform::config::TimerConfig;
use yuetan_platform::db;
use yuetan_platform::timers::{self, Sweeper, Timer, TimerHandler};
use yuetan_platform::Clock;

/// Records each firing in `fired` (primary key: a second firing of the same
/// timer would fail) and counts handler calls.
struct Recorder {
    calls: AtomicU64,
    failures_left: AtomicU64,
}

impl Recorder {
    fn new(failures: u64) -> Arc<Self> {
        Arc::new(Self { calls: AtomicU64::new(0), failures_left: AtomicU64::new(failures) })
    }
}

impl TimerHandler for Recorder {
    async fn fire(&self, conn: &mut PgConnection, timer: &Timer) -> Result<(), String> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        sqlx::query("INSERT INTO fired (timer_id) VALUES ($1)")
            .bind(timer.id)
            .execute(&mut *conn)
            .await
            .map_err(|err| err.to_string())?;
        if self.failures_left.load(Ordering::SeqCst) > 0 {
            self.failures_left.fetch_sub(1, Ordering::SeqCst);
            return Err("deliberate failure".into());
        }
        Ok(())
    }
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn setup() -> (sqlx::PgPool, String) {
    let stack = yuetan_testkit::stack().await;
    let url = stack.fresh_database().await.unwrap();
    let pool = db::connect_and_migrate(&url, "svc").await.unwrap();
    sqlx::query("CREATE TABLE fired (timer_id UUID PRIMARY KEY)").execute(&pool).await.unwrap();
    (pool, url)
}

#[tokio::test]
async fn two_sweepers_racing_over_10000_due_timers_fire_each_exactly_once() {
    let (pool, url) = setup().await;
    let clock = TestClock::new(at("2026-03-02T09:00:00Z"));
    sqlx::query(
        "INSERT INTO timers (id, kind, key, due_at)
         SELECT gen_random_uuid(), 'race', g::text, $1 - (g || ' seconds')::interval FROM generate_series(1, 10000) g",
    )
    .bind(clock.now())
    .execute(&pool)
    .await
    .unwrap();

    // Two sweepers with their own pools, as two replicas would have.
    let other_pool = db::connect(&url, "svc", 8).await.unwrap();
    let config = TimerConfig { batch: 100, ..TimerConfig::default() };
    let shared: SharedClock = Arc::new(clock.clone());
    let sweepers = [Sweeper::new(pool.clone(), shared.clone(), config.clone()), Sweeper::new(other_pool, shared, config)];
    let handler = Recorder::new(0);
    let mut tasks = Vec::new();
    for sweeper in sweepers {
        let handler = handler.clone();
        tasks.push(tokio::spawn(async move {
            let mut claimed = 0;
            loop {
                let n = sweeper.sweep_once(handler.as_ref()).await.unwrap();
                if n == 0 {
                    return claimed;
                }
                claimed += n;
            }
        }));
    }
    let mut per_sweeper = Vec::new();
    for task in tasks {
        per_sweeper.push(task.await.unwrap());
    }

    assert_eq!(per_sweeper.iter().sum::<usize>(), 10_000, "claims per sweeper: {per_sweeper:?}");
    assert!(per_sweeper.iter().all(|&n| n > 0), "both sweepers took part: {per_sweeper:?}");
    assert_eq!(handler.calls.load(Ordering::SeqCst), 10_000);
    let fired: i64 = sqlx::query_scalar("SELECT count(*) FROM fired").fetch_one(&pool).await.unwrap();
    assert_eq!(fired, 10_000);
    let unfired: i64 = sqlx::query_scalar("SELECT count(*) FROM timers WHERE fired_at IS NULL").fetch_one(&pool).await.unwrap();
    assert_eq!(unfired, 0);
}

#[tokio::test]
async fn a_timer_fires_only_when_the_clock_passes_its_deadline_and_then_only_once() {
    let (pool, _) = setup().await;
    let clock = TestClock::new(at("2026-02-12T09:00:00Z"));
    let mut tx = pool.begin().await.unwrap();
    timers::schedule(&mut tx, "verification", "clue-1", at("2026-02-24T16:00:00Z"), &serde_json::json!({"clue": 1}))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let sweeper = Sweeper::new(pool.clone(), Arc::new(clock.clone()), TimerConfig::default());
    let handler = Recorder::new(0);
    assert_eq!(sweeper.sweep_once(handler.as_ref()).await.unwrap(), 0, "not due yet");

    clock.set(at("2026-02-24T16:00:01Z"));
    assert_eq!(sweeper.sweep_once(handler.as_ref()).await.unwrap(), 1);
    clock.advance(Duration::days(30));
    assert_eq!(sweeper.sweep_once(handler.as_ref()).await.unwrap(), 0, "a fired timer never fires again");
    assert_eq!(handler.calls.load(Ordering::SeqCst), 1);

    // Rescheduling a fired timer is refused rather than silently re-armed.
    let mut tx = pool.begin().await.unwrap();
    let again = timers::schedule(&mut tx, "verification", "clue-1", at("2026-04-01T00:00:00Z"), &serde_json::json!({})).await;
    assert!(again.is_err());
}

#[tokio::test]
async fn a_failing_timer_handler_leaves_no_effect_and_is_retried_later() {
    let (pool, _) = setup().await;
    let clock = TestClock::new(at("2026-05-06T09:00:00Z"));
    let mut tx = pool.begin().await.unwrap();
    timers::schedule(&mut tx, "acceptance", "case-9", at("2026-05-06T08:00:00Z"), &serde_json::json!({})).await.unwrap();
    timers::schedule(&mut tx, "acceptance", "case-10", at("2026-05-06T08:30:00Z"), &serde_json::json!({})).await.unwrap();
    tx.commit().await.unwrap();

    let config = TimerConfig { retry_after_secs: 60, ..TimerConfig::default() };
    let sweeper = Sweeper::new(pool.clone(), Arc::new(clock.clone()), config);
    let handler = Recorder::new(1); // the first call fails
    assert_eq!(sweeper.sweep_once(handler.as_ref()).await.unwrap(), 2);
    let fired: i64 = sqlx::query_scalar("SELECT count(*) FROM fired").fetch_one(&pool).await.unwrap();
    assert_eq!(fired, 1, "the failed handler's write was rolled back, the other timer's kept");
    let (attempts, last_error): (i32, Option<String>) =
        sqlx::query_as("SELECT attempts, last_error FROM timers WHERE fired_at IS NULL").fetch_one(&pool).await.unwrap();
    assert_eq!(attempts, 1);
    assert_eq!(last_error.as_deref(), Some("deliberate failure"));

    assert_eq!(sweeper.sweep_once(handler.as_ref()).await.unwrap(), 0, "retry waits retry_after");
    clock.advance(Duration::seconds(61));
    assert_eq!(sweeper.sweep_once(handler.as_ref()).await.unwrap(), 1);
    let fired: i64 = sqlx::query_scalar("SELECT count(*) FROM fired").fetch_one(&pool).await.unwrap();
    assert_eq!(fired, 2);
}

#[tokio::test]
async fn a_cancelled_timer_never_fires() {
    let (pool, _) = setup().await;
    let clock = TestClock::new(at("2026-05-06T09:00:00Z"));
    let mut tx = pool.begin().await.unwrap();
    timers::schedule(&mut tx, "review", "task-1", at("2026-05-07T09:00:00Z"), &serde_json::json!({})).await.unwrap();
    assert!(timers::cancel(&mut tx, "review", "task-1", clock.now()).await.unwrap());
    tx.commit().await.unwrap();
    clock.advance(Duration::days(3));
    let sweeper = Sweeper::new(pool.clone(), Arc::new(clock), TimerConfig::default());
    let handler = Recorder::new(0);
    assert_eq!(sweeper.sweep_once(handler.as_ref()).await.unwrap(), 0);
    assert_eq!(handler.calls.load(Ordering::SeqCst), 0);
}

/// Takes the row of `cases` with the timer's key, blocking, as a service's
/// timer handler takes its case — once `go` is signalled, so that the test
/// can make the call wait for the claimed timer first.
struct CaseTaker {
    go: Arc<tokio::sync::Notify>,
}

impl TimerHandler for CaseTaker {
    async fn fire(&self, conn: &mut PgConnection, timer: &Timer) -> Result<(), String> {
        self.go.notified().await;
        sqlx::query("SELECT id FROM cases WHERE id = $1 FOR UPDATE")
            .bind(&timer.key)
            .fetch_optional(&mut *conn)
            .await
            .map_err(|err| err.to_string())?;
        Ok(())
    }
}

#[tokio::test]
async fn a_sweeper_never_deadlocks_with_a_call_that_holds_the_case_and_cancels_its_timer() {
    let (pool, _url) = setup().await;
    let clock = TestClock::new(at("2026-03-02T09:00:00Z"));
    sqlx::query("CREATE TABLE cases (id TEXT PRIMARY KEY)").execute(&pool).await.unwrap();
    sqlx::query("INSERT INTO cases VALUES ('c1')").execute(&pool).await.unwrap();
    let mut setup_conn = pool.acquire().await.unwrap();
    timers::schedule(&mut setup_conn, "deadline", "c1", clock.now() - Duration::minutes(1), &serde_json::json!({})).await.unwrap();
    drop(setup_conn);

    // The call holds the case, as an RPC's for_change does.
    let mut call = pool.begin().await.unwrap();
    sqlx::query("SELECT id FROM cases WHERE id = 'c1' FOR UPDATE").execute(&mut *call).await.unwrap();
    // The sweeper claims the due timer; its handler waits for the signal.
    let go = Arc::new(tokio::sync::Notify::new());
    let shared: SharedClock = Arc::new(clock.clone());
    let sweeper = Sweeper::new(pool.clone(), shared, TimerConfig::default());
    let handler = CaseTaker { go: go.clone() };
    let sweep = tokio::spawn(async move { sweeper.sweep_once(&handler).await });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    // The call cancels that timer and waits for the sweeper's claim …
    let now = clock.now();
    let cancel = tokio::spawn(async move {
        let cancelled = timers::cancel(&mut call, "deadline", "c1", now).await;
        (cancelled, call.commit().await)
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    // … and only then does the handler reach for the case: a cycle, which
    // PostgreSQL would break by aborting the older waiter, the call.
    go.notify_one();
    let (cancelled, committed) = cancel.await.unwrap();
    assert!(cancelled.is_ok(), "the call holding the case cancels its timer: {cancelled:?}");
    assert!(committed.is_ok(), "the call commits: {committed:?}");
    let swept = sweep.await.unwrap();
    assert!(swept.is_ok(), "the sweep ends without an error: {swept:?}");
    let (fired, cancelled_at): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) =
        sqlx::query_as("SELECT fired_at, cancelled_at FROM timers WHERE key = 'c1'").fetch_one(&pool).await.unwrap();
    assert!(fired.is_none(), "the timer gave way and did not fire");
    assert!(cancelled_at.is_some(), "the call's cancel is kept");
}

/// Records the lock wait each handler starts with; the `side-effect` timer
/// raises it for itself, as a handler does after a provider took a message.
struct LockWaits {
    seen: std::sync::Mutex<Vec<(String, String)>>,
}

impl TimerHandler for LockWaits {
    async fn fire(&self, conn: &mut PgConnection, timer: &Timer) -> Result<(), String> {
        let wait: String = sqlx::query_scalar("SHOW lock_timeout").fetch_one(&mut *conn).await.map_err(|e| e.to_string())?;
        if timer.kind == "side-effect" {
            timers::wait_for_locks_after_side_effect(conn).await.map_err(|e| e.to_string())?;
            let raised: String = sqlx::query_scalar("SHOW lock_timeout").fetch_one(&mut *conn).await.map_err(|e| e.to_string())?;
            self.seen.lock().unwrap().push((format!("{} raised", timer.kind), raised));
        }
        self.seen.lock().unwrap().push((timer.kind.clone(), wait));
        Ok(())
    }
}

#[tokio::test]
async fn a_handler_after_a_side_effect_waits_for_its_locks_and_the_next_handler_starts_with_the_short_wait() {
    let (pool, _) = setup().await;
    let clock = TestClock::new(at("2026-03-02T09:00:00Z"));
    // Due in this order within one sweep: the side effect first, then an ordinary timer.
    for (kind, seconds) in [("side-effect", 20), ("ordinary", 10)] {
        sqlx::query("INSERT INTO timers (id, kind, key, due_at) VALUES (gen_random_uuid(), $1, 'k', $2)")
            .bind(kind)
            .bind(clock.now() - Duration::seconds(seconds))
            .execute(&pool)
            .await
            .unwrap();
    }
    let handler = LockWaits { seen: std::sync::Mutex::new(Vec::new()) };
    let shared: SharedClock = Arc::new(clock.clone());
    let fired = Sweeper::new(pool.clone(), shared, TimerConfig::default()).sweep_once(&handler).await.unwrap();
    assert_eq!(fired, 2);
    let seen = handler.seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![
            ("side-effect raised".to_string(), "10s".to_string()),
            ("side-effect".to_string(), "400ms".to_string()),
            ("ordinary".to_string(), "400ms".to_string()),
        ],
        "each handler starts with 400 ms; only the one after its side effect waits 10 s"
    );
}
