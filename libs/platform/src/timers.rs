//! Durable timers (ARCHITECTURE §5): every legal time limit is a row in
//! `timers`, written in the same transaction as the state change that starts
//! the limit.
//!
//! The [`Sweeper`] claims due rows with `FOR UPDATE SKIP LOCKED`, so several
//! replicas share the work without waiting on each other, and runs each
//! timer's handler in a savepoint of the claiming transaction together with
//! `fired_at`: the handler's effect and the "fired" mark commit together, so
//! a timer fires exactly once. A sweeper that dies mid-batch rolls back; its
//! rows are unlocked and the next sweep fires them. Time comes from the
//! [`Clock`](crate::clock::Clock), so tests move a test clock past a deadline.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{Acquire, PgConnection, PgPool, Row};
use tracing::Instrument;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::batch::{Counted, WriteBatch};
use crate::clock::SharedClock;
use crate::config::TimerConfig;
use crate::error::Error;

/// A timer that is due.
#[derive(Debug, Clone)]
pub struct Timer {
    pub id: Uuid,
    pub kind: String,
    pub key: String,
    pub due_at: DateTime<Utc>,
    pub payload: serde_json::Value,
    /// Earlier failed attempts.
    pub attempts: i32,
}

/// After a timer's `INSERT … VALUES (…)`: move a pending timer with the same
/// `(kind, key)`; leave one that already fired alone (no row returned).
const RESCHEDULE_PENDING: &str = " ON CONFLICT (kind, key) DO UPDATE
       SET due_at = EXCLUDED.due_at, payload = EXCLUDED.payload, cancelled_at = NULL
       WHERE timers.fired_at IS NULL
     RETURNING id";

/// Starts (or moves) the timer `(kind, key)` to `due_at`, in the caller's
/// transaction. A timer that already fired is left alone. Returns its id.
pub async fn schedule(
    conn: &mut PgConnection,
    kind: &str,
    key: &str,
    due_at: DateTime<Utc>,
    payload: &serde_json::Value,
) -> Result<Uuid, Error> {
    let sql = format!("INSERT INTO timers (id, kind, key, due_at, payload) VALUES ($1, $2, $3, $4, $5){RESCHEDULE_PENDING}");
    let id: Uuid = sqlx::query_scalar(&sql)
    .bind(Uuid::now_v7())
    .bind(kind)
    .bind(key)
    .bind(due_at)
    .bind(sqlx::types::Json(payload))
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::FailedPrecondition(format!("timer {kind}/{key} has already fired")))?;
    Ok(id)
}

/// [`schedule`] as one write of a [`WriteBatch`]. Its count is 0 if the
/// timer has already fired (then nothing changed): check it.
pub fn schedule_in(
    batch: &mut WriteBatch,
    kind: &str,
    key: &str,
    due_at: DateTime<Utc>,
    payload: &serde_json::Value,
) -> Counted {
    let (kind, key, payload) = (kind.to_string(), key.to_string(), payload.clone());
    batch.push(move |q| {
        q.push("INSERT INTO timers (id, kind, key, due_at, payload) VALUES (")
            .push_bind(Uuid::now_v7())
            .push(", ")
            .push_bind(kind)
            .push(", ")
            .push_bind(key)
            .push(", ")
            .push_bind(due_at)
            .push(", ")
            .push_bind(sqlx::types::Json(payload))
            .push(")")
            .push(RESCHEDULE_PENDING);
    })
}

/// [`cancel`] as one write of a [`WriteBatch`]; its count says whether a
/// pending timer was cancelled.
pub fn cancel_in(batch: &mut WriteBatch, kind: &str, key: &str, now: DateTime<Utc>) -> Counted {
    let (kind, key) = (kind.to_string(), key.to_string());
    batch.push(move |q| {
        // Found by its unique (kind, key), and "pending" written so that it
        // does not match the partial index of pending timers: with
        // `fired_at IS NULL AND cancelled_at IS NULL` the planner chose that
        // index and scanned every pending timer (13 ms at 9 000 pending,
        // seen with auto_explain).
        q.push("UPDATE timers SET cancelled_at = ")
            .push_bind(now)
            .push(" WHERE id = (SELECT id FROM timers WHERE kind = ")
            .push_bind(kind)
            .push(" AND key = ")
            .push_bind(key)
            .push(") AND coalesce(fired_at, cancelled_at) IS NULL RETURNING id");
    })
}

/// Cancels the timer `(kind, key)` if it has not fired; returns whether it did.
pub async fn cancel(conn: &mut PgConnection, kind: &str, key: &str, now: DateTime<Utc>) -> Result<bool, Error> {
    let mut batch = WriteBatch::new();
    let cancelled = cancel_in(&mut batch, kind, key, now);
    Ok(batch.execute(conn).await?.get(cancelled) == 1)
}

/// What happens when a timer is due. Runs inside the sweeper's transaction:
/// write through `conn` (and the outbox) only.
pub trait TimerHandler: Send + Sync + 'static {
    fn fire<'a>(&'a self, conn: &'a mut PgConnection, timer: &'a Timer)
        -> impl Future<Output = Result<(), String>> + Send + 'a;
}

/// How long a timer handler waits for a lock (see `sweep_once`).
const HANDLER_LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = '400ms'";

/// For a handler that has just done something outside the database (a
/// message handed to a provider, a room created on a video server): from
/// here on it waits up to 10 s for its locks instead of 400 ms. Giving up
/// would roll its savepoint back and fire the timer again, repeating the
/// side effect (an idempotency key makes the repeat recognisable, but an
/// SMTP server still delivers it twice). A real deadlock is still broken by
/// PostgreSQL's deadlock check after 1 s.
pub async fn wait_for_locks_after_side_effect(conn: &mut PgConnection) -> Result<(), Error> {
    sqlx::query("SET LOCAL lock_timeout = '10s'").execute(&mut *conn).await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct Sweeper {
    pool: PgPool,
    clock: SharedClock,
    config: TimerConfig,
}

impl Sweeper {
    pub fn new(pool: PgPool, clock: SharedClock, config: TimerConfig) -> Self {
        Self { pool, clock, config }
    }

    /// Sweeps until `shutdown`; each round fires everything due.
    pub async fn run<H: TimerHandler>(self, handler: Arc<H>, shutdown: CancellationToken) {
        let interval = Duration::from_millis(self.config.poll_interval_ms);
        loop {
            loop {
                match self.sweep_once(handler.as_ref()).await {
                    Ok(fired) if fired > 0 && !shutdown.is_cancelled() => continue,
                    Ok(_) => break,
                    Err(err) => {
                        tracing::warn!(error = %err, "timer sweep failed; will retry");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(interval) => {}
            }
        }
    }

    /// Claims up to `batch` due timers and fires them. Returns how many were
    /// claimed (fired or failed), so a caller can loop until nothing is due.
    pub async fn sweep_once<H: TimerHandler>(&self, handler: &H) -> Result<usize, Error> {
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        // The sweep holds its claimed timer rows while a handler takes the
        // rows of a case; an RPC holding that case may be cancelling one of
        // these timers. Neither may wait for the other: a handler gives up a
        // lock it cannot get within HANDLER_LOCK_TIMEOUT (before PostgreSQL's
        // deadlock check at 1 s would abort either side), its savepoint rolls
        // back and the timer is tried again later; the RPC goes through.
        sqlx::query(HANDLER_LOCK_TIMEOUT).execute(&mut *tx).await?;
        let rows = sqlx::query(
            "SELECT id, kind, key, due_at, payload, attempts FROM timers
             WHERE fired_at IS NULL AND cancelled_at IS NULL AND due_at <= $1
             ORDER BY due_at
             LIMIT $2
             FOR UPDATE SKIP LOCKED",
        )
        .bind(now)
        .bind(self.config.batch)
        .fetch_all(&mut *tx)
        .await?;
        let claimed = rows.len();
        for row in rows {
            let payload: sqlx::types::Json<serde_json::Value> = row.get("payload");
            let timer = Timer {
                id: row.get("id"),
                kind: row.get("kind"),
                key: row.get("key"),
                due_at: row.get("due_at"),
                payload: payload.0,
                attempts: row.get("attempts"),
            };
            // A savepoint per timer: one failing handler does not undo the others.
            // Each handler starts with the short lock wait (one may have raised
            // it for itself, see [`wait_for_locks_after_side_effect`]).
            let mut savepoint = tx.begin().await?;
            sqlx::query(HANDLER_LOCK_TIMEOUT).execute(&mut *savepoint).await?;
            let span = tracing::info_span!("timer", kind = %timer.kind, key = %timer.key);
            let result = handler.fire(&mut savepoint, &timer).instrument(span).await;
            match result {
                Ok(()) => {
                    sqlx::query("UPDATE timers SET fired_at = $2 WHERE id = $1")
                        .bind(timer.id)
                        .bind(now)
                        .execute(&mut *savepoint)
                        .await?;
                    savepoint.commit().await?;
                }
                Err(reason) => {
                    savepoint.rollback().await?;
                    tracing::warn!(kind = %timer.kind, key = %timer.key, %reason, "timer handler failed; will retry");
                    let retry_at = now + chrono::Duration::seconds(self.config.retry_after_secs as i64);
                    sqlx::query("UPDATE timers SET attempts = attempts + 1, last_error = $2, due_at = $3 WHERE id = $1")
                        .bind(timer.id)
                        .bind(&reason)
                        .bind(retry_at)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(claimed)
    }
}
