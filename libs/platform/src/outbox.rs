//! Transactional outbox (ARCHITECTURE §4).
//!
//! [`Outbox::write`] stores an event in the caller's transaction, beside the
//! state change it announces: both commit or neither does. The [`Relay`]
//! publishes committed rows to JetStream in `seq` order, waits for each ack
//! and deletes the published rows (JetStream is the record of what was sent).
//!
//! Crash safety, step by step:
//! - dies before the caller commits: the row never existed; nothing is sent;
//! - dies after commit, before publishing: the row is unsent; the next relay
//!   (after restart, or another replica) publishes it;
//! - dies after publishing, before deleting the rows: the row is published again;
//!   JetStream drops the copy because `Nats-Msg-Id` = event id is inside the
//!   duplicate window, and consumers' inboxes drop anything later.
//!
//! Wake-up: an insert trigger NOTIFYs the relay at commit, but only while the
//! relay is idle (`outbox_relay.listening`): a NOTIFY serialises commits
//! across the database, so a busy relay drains by itself instead. If a row
//! slips past the flip, the poll (`outbox.poll_interval_ms`) picks it up.
//!
//! Only one relay per schema works at a time (a transaction-scoped advisory
//! lock), so replicas never interleave and order is kept. Rows are ordered by
//! `seq`; a case's events are written under its row lock, so they commit, and
//! are published, in case order.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use prost::Message;
use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool, Row};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use yuetan_proto::common::Actor as ProtoActor;
use yuetan_proto::events::{event::Payload, Event};

use crate::batch::WriteBatch;
use crate::bus::{self, Bus};
use crate::error::Error;
use crate::trace_context;

/// An event to announce, before the outbox gives it an id and a time.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// `<service>.<event>` in the past tense, e.g. `intake.clue_registered`.
    pub event_type: String,
    pub case_id: Option<Uuid>,
    /// The case's event sequence (1, 2, …); 0 for events without a case.
    pub case_version: u64,
    /// Six-digit division code of the owning jurisdiction.
    pub jurisdiction: String,
    pub organ: String,
    pub actor: Option<ProtoActor>,
    /// Id of the first event or request of the chain; defaults to this event.
    pub correlation_id: Option<String>,
    /// Id of the event or request that caused this one.
    pub causation_id: Option<String>,
    pub payload: Payload,
}

/// Writes events into the outbox table of the connection's schema.
#[derive(Debug, Clone)]
pub struct Outbox {
    subject_prefix: String,
    /// CloudEvents `ce-source`, e.g. `/yuetan/intake`.
    source: String,
}

impl Outbox {
    pub fn new(subject_prefix: impl Into<String>, service: &str) -> Self {
        Self { subject_prefix: subject_prefix.into(), source: format!("/yuetan/{service}") }
    }

    /// Stores `event` in the caller's transaction and returns the envelope
    /// that will be published. Call it with `&mut *tx`.
    #[tracing::instrument(skip_all, fields(event_type = %event.event_type))]
    pub async fn write(&self, conn: &mut PgConnection, event: NewEvent, now: DateTime<Utc>) -> Result<Event, Error> {
        let mut batch = WriteBatch::new();
        let envelope = self.write_in(&mut batch, event, now)?;
        batch.execute(conn).await?;
        Ok(envelope)
    }

    /// [`Outbox::write`] as one write of a [`WriteBatch`] (count 1): the
    /// event is stored when the batch executes, in the caller's transaction.
    pub fn write_in(&self, batch: &mut WriteBatch, event: NewEvent, now: DateTime<Utc>) -> Result<Event, Error> {
        let id = Uuid::now_v7();
        let subject = bus::subject(&self.subject_prefix, &event.jurisdiction, &event.event_type)?;
        let envelope = Event {
            id: id.to_string(),
            r#type: event.event_type.clone(),
            case_id: event.case_id.map(|c| c.to_string()).unwrap_or_default(),
            case_version: event.case_version,
            jurisdiction: event.jurisdiction.clone(),
            organ: event.organ.clone(),
            occurred_at: Some(prost_types::Timestamp {
                seconds: now.timestamp(),
                nanos: i32::try_from(now.timestamp_subsec_nanos()).unwrap_or(0),
            }),
            actor: event.actor.clone(),
            correlation_id: event.correlation_id.clone().unwrap_or_else(|| id.to_string()),
            causation_id: event.causation_id.clone().unwrap_or_default(),
            payload: Some(event.payload),
        };
        let headers = self.headers(&envelope, &subject, now);
        let (event_type, body) = (envelope.r#type.clone(), envelope.encode_to_vec());
        batch.push(move |q| {
            q.push("INSERT INTO outbox (event_id, event_type, subject, payload, headers) VALUES (")
                .push_bind(id)
                .push(", ")
                .push_bind(event_type)
                .push(", ")
                .push_bind(subject)
                .push(", ")
                .push_bind(body)
                .push(", ")
                .push_bind(sqlx::types::Json(headers))
                .push(") RETURNING 1");
        });
        Ok(envelope)
    }

    /// CloudEvents binary-mode headers, the JetStream dedup id and the trace.
    fn headers(&self, envelope: &Event, subject: &str, now: DateTime<Utc>) -> HashMap<String, String> {
        let mut headers = HashMap::new();
        headers.insert("Nats-Msg-Id".to_string(), envelope.id.clone());
        headers.insert("ce-specversion".to_string(), "1.0".to_string());
        headers.insert("ce-id".to_string(), envelope.id.clone());
        headers.insert("ce-type".to_string(), envelope.r#type.clone());
        headers.insert("ce-source".to_string(), self.source.clone());
        let ce_subject = if envelope.case_id.is_empty() { subject.to_string() } else { envelope.case_id.clone() };
        headers.insert("ce-subject".to_string(), ce_subject);
        headers.insert("ce-time".to_string(), now.to_rfc3339_opts(SecondsFormat::Micros, true));
        headers.insert("ce-dataschema".to_string(), "yuetan.events.v1.Event".to_string());
        headers.insert("content-type".to_string(), "application/protobuf".to_string());
        headers.insert("traceparent".to_string(), trace_context::current_traceparent());
        headers
    }
}

/// Publishes committed outbox rows to JetStream.
#[derive(Debug, Clone)]
pub struct Relay {
    pool: PgPool,
    bus: Bus,
    schema: String,
    batch: i64,
    poll_interval: Duration,
}

/// Where a relay round stops early: only the crash tests use anything but `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    None,
    /// Publish and receive the acks, then die before marking the rows sent.
    AfterPublishBeforeMark,
}

impl Relay {
    pub fn new(pool: PgPool, bus: Bus, schema: impl Into<String>, batch: i64, poll_interval: Duration) -> Self {
        Self { pool, bus, schema: schema.into(), batch, poll_interval }
    }

    /// Relays until `shutdown`: drains while events come, and when idle
    /// waits for a NOTIFY (sent by writers only while `listening` is set) or
    /// the poll, the safety net for a notification lost or skipped.
    pub async fn run(self, shutdown: CancellationToken) {
        let channel = format!("outbox_{}", self.schema);
        let mut listener = match PgListener::connect_with(&self.pool).await {
            Ok(listener) => Some(listener),
            Err(err) => {
                tracing::warn!(error = %err, "outbox relay cannot listen; polling only");
                None
            }
        };
        if let Some(listener) = listener.as_mut() {
            if let Err(err) = listener.listen(&channel).await {
                tracing::warn!(error = %err, %channel, "outbox relay listen failed; polling only");
            }
        }
        tracing::info!(schema = %self.schema, "outbox relay started");
        loop {
            self.drain().await;
            // Going idle: ask writers to notify again, then drain once more
            // for rows committed before they could see the flag.
            self.set_listening(true).await;
            if self.drain().await > 0 {
                self.set_listening(false).await;
                continue;
            }
            let wake = async {
                match listener.as_mut() {
                    Some(listener) => {
                        if let Err(err) = listener.recv().await {
                            tracing::warn!(error = %err, "outbox listener error");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = wake => {}
                _ = tokio::time::sleep(self.poll_interval) => {}
            }
            // Busy: writers stop notifying (a NOTIFY serialises their commits)
            // until this relay is idle again.
            self.set_listening(false).await;
        }
        // Publish what is already committed before stopping, so a clean
        // shutdown leaves nothing behind for the next start; and leave the
        // flag set, so writers wake whichever relay listens next.
        self.drain().await;
        self.set_listening(true).await;
        tracing::info!(schema = %self.schema, "outbox relay stopped");
    }

    /// Publishes until a round finds the outbox empty (or an error stops
    /// it). Returns how many rows were published. While events keep coming
    /// the relay stays here, so the wake-up flag is flipped only when the
    /// traffic really stops; after a small round it waits a millisecond to
    /// let a larger batch gather (each round costs a commit).
    async fn drain(&self) -> usize {
        let mut published = 0;
        loop {
            match self.publish_pending().await {
                Ok(0) => return published,
                Ok(count) => {
                    published += count;
                    if count < (self.batch as usize) / 4 {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "outbox relay round failed; will retry");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    return published;
                }
            }
        }
    }

    /// Tells writers whether to NOTIFY on insert (only while the relay idles).
    async fn set_listening(&self, listening: bool) {
        let result = sqlx::query("UPDATE outbox_relay SET listening = $1 WHERE id AND listening <> $1")
            .bind(listening)
            .execute(&self.pool)
            .await;
        if let Err(err) = result {
            tracing::warn!(error = %err, listening, "outbox relay cannot set its wake-up flag");
        }
    }

    /// One round: publishes up to `batch` unsent rows in order and deletes the
    /// acknowledged ones. Returns how many were published.
    pub async fn publish_pending(&self) -> Result<usize, Error> {
        self.round(CrashPoint::None).await
    }

    /// One round that stops at `crash` as if the process died there.
    pub async fn round(&self, crash: CrashPoint) -> Result<usize, Error> {
        let mut tx = self.pool.begin().await?;
        let leader: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtext('yuetan.outbox.' || current_schema()))")
            .fetch_one(&mut *tx)
            .await?;
        if !leader {
            return Ok(0);
        }
        let rows = sqlx::query(
            "SELECT seq, subject, payload, headers FROM outbox ORDER BY seq LIMIT $1",
        )
        .bind(self.batch)
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }

        // Send every message first, then collect the acks in the same order:
        // pipelining keeps the round trip per batch, not per event.
        let mut pending = Vec::with_capacity(rows.len());
        for row in &rows {
            let seq: i64 = row.get("seq");
            let subject: String = row.get("subject");
            let payload: Vec<u8> = row.get("payload");
            let headers: sqlx::types::Json<HashMap<String, String>> = row.get("headers");
            let mut nats_headers = async_nats::HeaderMap::new();
            for (name, value) in headers.0.iter() {
                nats_headers.insert(name.as_str(), value.as_str());
            }
            match self.bus.jetstream.publish_with_headers(subject, nats_headers, payload.into()).await {
                Ok(ack) => pending.push((seq, Pending::Ack(ack))),
                Err(err) => {
                    pending.push((seq, Pending::Failed(err.to_string())));
                    break;
                }
            }
        }

        let mut sent: Vec<i64> = Vec::with_capacity(pending.len());
        let mut failure: Option<(i64, String)> = None;
        for (seq, ack) in pending {
            let result = match ack {
                Pending::Ack(ack) => ack.await.map(|_| ()).map_err(|err| err.to_string()),
                Pending::Failed(err) => Err(err),
            };
            match result {
                Ok(()) => sent.push(seq),
                Err(err) => {
                    failure = Some((seq, err));
                    break;
                }
            }
        }
        if crash == CrashPoint::AfterPublishBeforeMark {
            drop(tx);
            return Ok(0);
        }
        // Fault injection (the chaos run, tests/chaos): with this probability
        // the process dies here, published but not yet marked sent.
        if !sent.is_empty() && fault_relay_abort() {
            tracing::error!(count = sent.len(), "YUETAN_FAULT_RELAY_ABORT: aborting between publish and mark");
            std::process::abort();
        }
        sqlx::query("DELETE FROM outbox WHERE seq = ANY($1)")
            .bind(&sent)
            .execute(&mut *tx)
            .await?;
        if let Some((seq, err)) = &failure {
            tracing::warn!(seq, error = %err, "outbox publish failed; will retry");
            sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE seq = $1")
                .bind(seq)
                .bind(err)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        match failure {
            Some((_, err)) if sent.is_empty() => Err(Error::Unavailable(format!("publishing to jetstream: {err}"))),
            _ => Ok(sent.len()),
        }
    }
}

/// `YUETAN_FAULT_RELAY_ABORT=<probability>`: whether this round aborts the
/// process after publishing and before marking the rows sent (fault
/// injection for the chaos run only; unset or 0 = never).
fn fault_relay_abort() -> bool {
    static PROBABILITY: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    let p = *PROBABILITY.get_or_init(|| {
        std::env::var("YUETAN_FAULT_RELAY_ABORT").ok().and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
    });
    p > 0.0 && rand::random::<f64>() < p
}

/// A publish that was sent (ack to come) or could not be sent.
enum Pending {
    Ack(async_nats::jetstream::context::PublishAckFuture),
    Failed(String),
}
