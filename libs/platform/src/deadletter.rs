//! Dead letters, for operators: events a consumer gave up on (a handler that
//! failed `consumer.max_deliver` times, an event that waited past
//! `consumer.order_horizon_secs` for its case's previous version, a message
//! that does not decode). Each stays *open* until settled, and while open it
//! is visible: counted and aged by [`open`] (the platform's `GetStatus` RPC,
//! [`status`]), warned about in the log every minute by its consumer, and
//! listed by `yuetan deadletter list`.
//!
//! A replay ([`request_replay`], `yuetan deadletter replay`) does not
//! republish anything: it marks the row, and the running consumer it belongs
//! to applies the stored event through the same inbox transaction and
//! ordering guard as a live delivery, resolving the row in that
//! transaction ([`crate::consumer::Consumer::replay_requested`]). So a
//! replay applies an event at most once, however often it is asked for; an
//! event that was applied meanwhile (the inbox has it) is resolved as
//! "already applied" at once, without a consumer. A replay that still cannot
//! apply (the handler fails again, the predecessor is still missing) leaves
//! the row open with the reason, to be asked again.
//!
//! Order: an ordered consumer's later versions of a case wait (up to the
//! order horizon) for a dead-lettered earlier one; replaying it lets them
//! through. If they were dead-lettered too, replay the case's dead letters
//! oldest first (`yuetan deadletter replay review/3 review/4`).

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use prost::Message as _;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;
use yuetan_proto::events::Event;

use crate::config::validate_identifier;
use crate::delivery::Delivery;
use crate::error::Error;

/// Why an event was dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The handler failed `consumer.max_deliver` times.
    Failed,
    /// It waited for its case's previous version past the order horizon.
    Waited,
    /// The message is not an event.
    Undecodable,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Failed => "failed",
            Kind::Waited => "waited",
            Kind::Undecodable => "undecodable",
        }
    }
}

/// One row of `dead_letters`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeadLetter {
    pub id: i64,
    pub consumer: String,
    pub event_id: Option<Uuid>,
    pub event_type: Option<String>,
    pub subject: String,
    pub stream_seq: i64,
    /// JetStream deliveries when it was dead-lettered.
    pub deliveries: i64,
    /// `failed`, `waited` or `undecodable` ([`Kind`]).
    pub kind: String,
    pub error: String,
    pub failed_at: DateTime<Utc>,
    pub replay_requested_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// How it was settled, or why its last replay did not apply.
    pub resolution: Option<String>,
}

/// The open dead letters of one consumer.
#[derive(Debug, Clone, PartialEq)]
pub struct Open {
    pub consumer: String,
    pub count: i64,
    pub oldest_failed_at: DateTime<Utc>,
    pub oldest_age: Duration,
}

/// Open dead letters per consumer, in the pool's schema.
pub async fn open(pool: &PgPool) -> Result<Vec<Open>, Error> {
    open_in(pool, None).await
}

async fn open_in(pool: &PgPool, schema: Option<&str>) -> Result<Vec<Open>, Error> {
    let table = match schema {
        Some(schema) => {
            validate_identifier("schema", schema)?;
            format!("\"{schema}\".dead_letters")
        }
        None => "dead_letters".to_string(),
    };
    let rows: Vec<(String, i64, DateTime<Utc>, f64)> = sqlx::query_as(&format!(
        "SELECT consumer, count(*), min(failed_at), EXTRACT(EPOCH FROM now() - min(failed_at))::float8
         FROM {table} WHERE resolved_at IS NULL GROUP BY consumer ORDER BY consumer"
    ))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(consumer, count, oldest_failed_at, age)| Open {
            consumer,
            count,
            oldest_failed_at,
            oldest_age: Duration::from_secs_f64(age.max(0.0)),
        })
        .collect())
}

/// The schemas of the database that hold a `dead_letters` table (one per
/// service, plus `platform` under `serve all`).
pub async fn schemas(pool: &PgPool) -> Result<Vec<String>, Error> {
    Ok(sqlx::query_scalar(
        "SELECT table_schema::text FROM information_schema.tables WHERE table_name = 'dead_letters' ORDER BY 1",
    )
    .fetch_all(pool)
    .await?)
}

/// Open dead letters of every schema in the database, as `(schema, open)`.
pub async fn open_in_every_schema(pool: &PgPool) -> Result<Vec<(String, Open)>, Error> {
    let mut all = Vec::new();
    for schema in schemas(pool).await? {
        for open in open_in(pool, Some(&schema)).await? {
            all.push((schema.clone(), open));
        }
    }
    Ok(all)
}

/// The dead letters of the pool's schema, oldest first; settled ones only
/// with `include_resolved`.
pub async fn list(pool: &PgPool, include_resolved: bool) -> Result<Vec<DeadLetter>, Error> {
    Ok(sqlx::query_as(
        "SELECT id, consumer, event_id, event_type, subject, stream_seq, deliveries, kind, error, failed_at,
                replay_requested_at, resolved_at, resolution
         FROM dead_letters WHERE $1 OR resolved_at IS NULL ORDER BY id",
    )
    .bind(include_resolved)
    .fetch_all(pool)
    .await?)
}

/// What asking for a replay did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayRequest {
    /// Marked; the running `consumer` applies it within a second or so.
    Requested { consumer: String },
    /// Settled before (by an earlier replay, or applied meanwhile): nothing
    /// is applied again.
    AlreadySettled { resolution: String },
    NotFound,
}

/// Asks the dead letter's consumer to apply it once more (see the module
/// documentation). An event its consumer's inbox already holds is resolved
/// here as "already applied".
pub async fn request_replay(pool: &PgPool, id: i64) -> Result<ReplayRequest, Error> {
    let mut tx = pool.begin().await?;
    #[derive(sqlx::FromRow)]
    struct Row {
        consumer: String,
        event_id: Option<Uuid>,
        resolved_at: Option<DateTime<Utc>>,
        resolution: Option<String>,
    }
    let row: Option<Row> = sqlx::query_as(
        "SELECT consumer, event_id, resolved_at, resolution FROM dead_letters WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(Row { consumer, event_id, resolved_at, resolution }) = row else { return Ok(ReplayRequest::NotFound) };
    if let Some(resolved_at) = resolved_at {
        let resolution = resolution.unwrap_or_default();
        return Ok(ReplayRequest::AlreadySettled { resolution: format!("{resolution} at {}", resolved_at.to_rfc3339()) });
    }
    if let Some(event_id) = event_id {
        let in_inbox: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM inbox WHERE consumer = $1 AND event_id = $2)")
                .bind(&consumer)
                .bind(event_id)
                .fetch_one(&mut *tx)
                .await?;
        if in_inbox {
            resolve(&mut tx, id, "already applied").await?;
            tx.commit().await?;
            return Ok(ReplayRequest::AlreadySettled { resolution: "already applied".into() });
        }
    }
    sqlx::query("UPDATE dead_letters SET replay_requested_at = now(), resolution = NULL WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(ReplayRequest::Requested { consumer })
}

/// How a replay ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// This replay applied the event.
    Applied,
    /// Nothing applied: it had been applied before (the resolution says how).
    AlreadyApplied { resolution: String },
    /// The consumer tried and could not apply it; the row stays open.
    NotApplied { reason: String },
    /// The consumer did not take it up in time (is the service running?);
    /// the request stands.
    Pending { consumer: String },
    NotFound,
}

/// Requests a replay and waits up to `wait` for the consumer's answer.
pub async fn replay(pool: &PgPool, id: i64, wait: Duration) -> Result<Replay, Error> {
    let consumer = match request_replay(pool, id).await? {
        ReplayRequest::NotFound => return Ok(Replay::NotFound),
        ReplayRequest::AlreadySettled { resolution } => return Ok(Replay::AlreadyApplied { resolution }),
        ReplayRequest::Requested { consumer } => consumer,
    };
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let (requested, resolved, resolution): (Option<DateTime<Utc>>, Option<DateTime<Utc>>, Option<String>) =
            sqlx::query_as("SELECT replay_requested_at, resolved_at, resolution FROM dead_letters WHERE id = $1")
                .bind(id)
                .fetch_one(pool)
                .await?;
        let resolution = resolution.unwrap_or_default();
        match (requested, resolved) {
            (_, Some(_)) if resolution == RESOLVED_BY_REPLAY => return Ok(Replay::Applied),
            (_, Some(_)) => return Ok(Replay::AlreadyApplied { resolution }),
            (None, None) => return Ok(Replay::NotApplied { reason: resolution }),
            (Some(_), None) => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(Replay::Pending { consumer });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The resolution a replay that applied the event writes.
pub(crate) const RESOLVED_BY_REPLAY: &str = "applied by replay";

/// A dead letter whose replay was requested, as the consumer reads it.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct Requested {
    pub id: i64,
    subject: String,
    payload: Vec<u8>,
    headers: sqlx::types::Json<HashMap<String, String>>,
    stream_seq: i64,
    deliveries: i64,
}

impl Requested {
    /// The stored message as a delivery, or why it cannot be one.
    pub(crate) fn delivery(&self) -> Result<Delivery, String> {
        let event = Event::decode(self.payload.as_slice()).map_err(|err| format!("undecodable event: {err}"))?;
        let event_id = Uuid::parse_str(&event.id).map_err(|err| format!("event id {:?} is not a uuid: {err}", event.id))?;
        let mut headers = async_nats::HeaderMap::new();
        for (name, value) in self.headers.iter() {
            headers.insert(name.as_str(), value.as_str());
        }
        Ok(Delivery {
            event,
            event_id,
            subject: self.subject.clone(),
            headers,
            payload: bytes::Bytes::from(self.payload.clone()),
            stream_sequence: u64::try_from(self.stream_seq).unwrap_or(0),
            delivered: self.deliveries + 1,
        })
    }
}

/// Whether `consumer` has a replay to apply.
pub(crate) async fn replay_pending(pool: &PgPool, consumer: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM dead_letters
                        WHERE consumer = $1 AND replay_requested_at IS NOT NULL AND resolved_at IS NULL)",
    )
    .bind(consumer)
    .fetch_one(pool)
    .await
}

/// Locks up to `limit` requested replays of `consumer` (skipping rows
/// another replica holds).
pub(crate) async fn claim_requested(conn: &mut PgConnection, consumer: &str, limit: i64) -> Result<Vec<Requested>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, subject, payload, headers, stream_seq, deliveries FROM dead_letters
         WHERE consumer = $1 AND replay_requested_at IS NOT NULL AND resolved_at IS NULL
         ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(consumer)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Settles a dead letter.
pub(crate) async fn resolve(conn: &mut PgConnection, id: i64, resolution: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE dead_letters SET resolved_at = now(), resolution = $2, replay_requested_at = NULL WHERE id = $1",
    )
    .bind(id)
    .bind(resolution)
    .execute(conn)
    .await?;
    Ok(())
}

/// Ends a replay that did not apply: the row stays open with the reason.
pub(crate) async fn refuse_replay(conn: &mut PgConnection, id: i64, reason: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE dead_letters SET replay_requested_at = NULL, resolution = $2 WHERE id = $1")
        .bind(id)
        .bind(format!("replay not applied: {reason}"))
        .execute(conn)
        .await?;
    Ok(())
}

/// A small pool for the status RPC: connects on first use, to the
/// configured database, whatever schema (it reads every schema's table by
/// its qualified name).
pub fn status_pool(database_url: &str) -> Result<PgPool, Error> {
    use std::str::FromStr;
    let options = sqlx::postgres::PgConnectOptions::from_str(database_url)
        .map_err(|err| Error::invalid("database.url", err.to_string()))?;
    Ok(sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(options))
}

/// The platform's `GetStatus` answer: open dead letters of every schema.
/// For admins only.
pub async fn status(
    pool: Option<&PgPool>,
    service: &str,
    actor: &crate::Actor,
) -> Result<yuetan_proto::platform::GetStatusResponse, Error> {
    actor.require_role(crate::auth::roles::ADMIN)?;
    let mut response = yuetan_proto::platform::GetStatusResponse { service: service.to_string(), dead_letters: Vec::new() };
    let Some(pool) = pool else { return Ok(response) };
    for (schema, open) in open_in_every_schema(pool).await? {
        response.dead_letters.push(yuetan_proto::platform::DeadLetterStatus {
            schema,
            consumer: open.consumer,
            count: u64::try_from(open.count).unwrap_or(0),
            oldest_failed_at: Some(prost_types::Timestamp {
                seconds: open.oldest_failed_at.timestamp(),
                nanos: i32::try_from(open.oldest_failed_at.timestamp_subsec_nanos()).unwrap_or(0),
            }),
            oldest_age_seconds: open.oldest_age.as_secs(),
        });
    }
    Ok(response)
}
