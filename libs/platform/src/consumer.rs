//! The consumer runner (ARCHITECTURE §4): a durable JetStream pull consumer
//! with explicit acks, whose handler runs inside a PostgreSQL transaction that
//! first records the event id in `inbox`.
//!
//! - A duplicate (the id is already in the inbox) is acked and skipped, so a
//!   handler's effect is applied once however often the event arrives.
//! - A handler error rolls the transaction back and NAKs with backoff; on the
//!   `max_deliver`-th failure the event goes to `dead_letters` with the error
//!   and is terminated, so nothing is silently dropped.
//! - Events of one case always go to the same lane and are handled one after
//!   the other, in the order JetStream delivers them; different cases run in
//!   parallel lanes.
//! - Crash safety: the inbox row, the handler's writes (and any outbox rows it
//!   writes) commit together. A process that dies before commit leaves
//!   nothing; JetStream redelivers after `ack_wait`. A process that dies after
//!   commit but before the ack gets a redelivery that the inbox drops.
//! - Shutdown: stop pulling, finish what the lanes already hold, then return.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy};
use async_nats::jetstream::message::Acker;
use async_nats::jetstream::AckKind;
use futures::StreamExt;
use prost::Message as _;
use sqlx::{Acquire, PgConnection, PgPool};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;
use yuetan_proto::events::Event;

use crate::bus::Bus;
use crate::config::ConsumerConfig;
use crate::error::Error;
use crate::ordering::{self, Admission};
use crate::trace_context;

/// One delivered event, decoded.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub event: Event,
    pub event_id: Uuid,
    pub subject: String,
    pub headers: async_nats::HeaderMap,
    /// The message body as received (kept for the dead-letter table).
    pub payload: bytes::Bytes,
    /// The message's position in the stream.
    pub stream_sequence: u64,
    /// 1 on first delivery, then 2, 3, …
    pub delivered: i64,
}

/// Why a handler did not apply an event. The transaction is rolled back.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{reason}")]
pub struct HandlerError {
    pub reason: String,
    /// Ask for redelivery after this delay instead of the configured backoff
    /// (e.g. the event's predecessor has not arrived yet).
    pub retry_after: Option<Duration>,
}

impl HandlerError {
    pub fn failed(reason: impl Into<String>) -> Self {
        Self { reason: reason.into(), retry_after: None }
    }

    pub fn retry_after(reason: impl Into<String>, delay: Duration) -> Self {
        Self { reason: reason.into(), retry_after: Some(delay) }
    }
}

impl From<sqlx::Error> for HandlerError {
    fn from(err: sqlx::Error) -> Self {
        HandlerError::failed(err.to_string())
    }
}

impl From<Error> for HandlerError {
    fn from(err: Error) -> Self {
        HandlerError::failed(err.to_string())
    }
}

/// What a service does with an event. Runs inside the inbox transaction:
/// write through `conn` only, and announce follow-up events through the
/// outbox on the same connection; never publish or call out directly.
pub trait Handler: Send + Sync + 'static {
    fn handle<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        delivery: &'a Delivery,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send + 'a;

    /// Called after the inbox transaction committed (metrics, benchmarks).
    /// Must not fail and must not do I/O that matters: it is not retried.
    fn after_commit(&self, _delivery: &Delivery) {}
}

/// A durable consumer: its name (also the inbox key) and what it listens to.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    pub name: String,
    pub filter_subjects: Vec<String>,
    /// Producing services (`intake`, `review`, …) whose case events this
    /// consumer applies strictly in `case_version` order ([`ordering`]). The
    /// filter must then take *every* event of that producer.
    pub ordered_sources: Vec<String>,
}

impl ConsumerSpec {
    pub fn new(name: impl Into<String>, filter_subjects: Vec<String>) -> Self {
        Self { name: name.into(), filter_subjects, ordered_sources: Vec::new() }
    }

    /// Applies the case events of `sources` in order (see [`ordering`]).
    pub fn ordered(mut self, sources: &[&str]) -> Self {
        self.ordered_sources = sources.iter().map(|s| s.to_string()).collect();
        self
    }
}

/// Runs one durable consumer.
#[derive(Debug, Clone)]
pub struct Consumer {
    pool: PgPool,
    bus: Bus,
    config: ConsumerConfig,
    spec: ConsumerSpec,
}

/// Counts of what happened to one message; tests and metrics read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Duplicate,
    Retried,
    DeadLettered,
}

impl Consumer {
    pub fn new(pool: PgPool, bus: Bus, config: ConsumerConfig, spec: ConsumerSpec) -> Self {
        Self { pool, bus, config, spec }
    }

    /// Creates (or updates) the durable consumer on the stream.
    async fn pull_consumer(&self) -> Result<async_nats::jetstream::consumer::Consumer<pull::Config>, Error> {
        let stream = self
            .bus
            .jetstream
            .get_stream(&self.bus.stream)
            .await
            .map_err(|err| Error::Unavailable(format!("stream {}: {err}", self.bus.stream)))?;
        let lanes = i64::try_from(self.config.lanes).unwrap_or(8);
        let config = pull::Config {
            durable_name: Some(self.spec.name.clone()),
            filter_subjects: self.spec.filter_subjects.clone(),
            ack_policy: AckPolicy::Explicit,
            ack_wait: self.config.ack_wait(),
            max_deliver: self.config.max_deliver,
            max_ack_pending: (lanes * 128).max(256),
            ..Default::default()
        };
        stream
            .create_consumer(config)
            .await
            .map_err(|err| Error::Unavailable(format!("consumer {}: {err}", self.spec.name)))
    }

    /// Consumes until `shutdown`, then finishes in-flight work and returns.
    pub async fn run<H: Handler>(self, handler: Arc<H>, shutdown: CancellationToken) -> Result<(), Error> {
        let consumer = self.pull_consumer().await?;
        let mut messages = consumer
            .messages()
            .await
            .map_err(|err| Error::Unavailable(format!("consumer {} messages: {err}", self.spec.name)))?;

        let this = Arc::new(self);
        let mut lanes = Vec::with_capacity(this.config.lanes);
        let mut workers = Vec::with_capacity(this.config.lanes);
        for _ in 0..this.config.lanes {
            let (tx, mut rx) = mpsc::channel::<async_nats::jetstream::Message>(64);
            lanes.push(tx);
            let this = this.clone();
            let handler = handler.clone();
            workers.push(tokio::spawn(async move {
                while let Some(first) = rx.recv().await {
                    // Take whatever else is already waiting in this lane.
                    let mut batch = vec![first];
                    while batch.len() < this.config.batch {
                        match rx.try_recv() {
                            Ok(message) => batch.push(message),
                            Err(_) => break,
                        }
                    }
                    this.process_batch(handler.as_ref(), batch).await;
                }
            }));
        }
        tracing::info!(consumer = %this.spec.name, "consumer started");

        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => break,
                next = messages.next() => next,
            };
            match next {
                Some(Ok(message)) => {
                    let lane = lane_of(&message, lanes.len());
                    if lanes[lane].send(message).await.is_err() {
                        break;
                    }
                }
                Some(Err(err)) => {
                    tracing::warn!(consumer = %this.spec.name, error = %err, "consumer stream error");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                None => break,
            }
        }
        drop(lanes);
        for worker in workers {
            let _ = worker.await;
        }
        tracing::info!(consumer = %this.spec.name, "consumer stopped");
        Ok(())
    }

    /// Handles a batch of messages from one lane in one transaction (see
    /// [`Consumer::apply_batch`]), then acks. One commit per batch instead of
    /// per event is what lets the consumer keep up with many writers.
    async fn process_batch<H: Handler>(&self, handler: &H, messages: Vec<async_nats::jetstream::Message>) {
        let mut received: Vec<(Delivery, Acker)> = Vec::with_capacity(messages.len());
        for message in messages {
            if let Some(item) = self.receive(message).await {
                received.push(item);
            }
        }
        if received.is_empty() {
            return;
        }
        // A lane holds whole cases: put each case's events in version order
        // so an early event in the batch does not wait for a redelivery.
        received.sort_by(|(a, _), (b, _)| {
            (a.event.case_id.as_str(), a.event.case_version).cmp(&(b.event.case_id.as_str(), b.event.case_version))
        });
        let results = match self.apply_batch(handler, &received).await {
            Ok(results) => results,
            // The transaction itself failed (connection lost, commit
            // refused): nothing of the batch was applied; retry them all.
            Err(err) => received.iter().map(|_| Err(err.clone())).collect(),
        };
        for ((delivery, acker), result) in received.iter().zip(results) {
            let span = delivery_span(&self.spec.name, delivery);
            self.settle(handler, delivery, acker, result).instrument(span).await;
        }
    }

    /// Decodes a message; an undecodable one is dead-lettered at once (it
    /// will never improve with retries) and yields `None`.
    async fn receive(&self, message: async_nats::jetstream::Message) -> Option<(Delivery, Acker)> {
        let (stream_sequence, delivered) = match message.info() {
            Ok(info) => (info.stream_sequence, info.delivered),
            Err(_) => (0, 1),
        };
        let (message, acker) = message.split();
        let headers = message.headers.clone().unwrap_or_default();
        let decoded = Event::decode(message.payload.as_ref())
            .map_err(|err| format!("undecodable event: {err}"))
            .and_then(|event| match Uuid::parse_str(&event.id) {
                Ok(id) => Ok((event, id)),
                Err(err) => Err(format!("event id {:?} is not a uuid: {err}", event.id)),
            });
        match decoded {
            Ok((event, event_id)) => Some((
                Delivery {
                    event,
                    event_id,
                    subject: message.subject.to_string(),
                    headers,
                    payload: message.payload,
                    stream_sequence,
                    delivered,
                },
                acker,
            )),
            Err(reason) => {
                let poison = PoisonMessage { subject: &message.subject, headers: &headers, payload: &message.payload };
                self.dead_letter(&acker, None, None, &poison, stream_sequence, delivered, &reason).await;
                None
            }
        }
    }

    /// The inbox transaction. First optimistically: the whole batch in one
    /// transaction with no savepoints (the common case, and the cheapest:
    /// one inbox statement for the batch, the handlers, one commit). If any event fails, that
    /// attempt is rolled back whole and the batch is applied again with a
    /// savepoint per event, so only the failing events are left out.
    async fn apply_batch<H: Handler>(
        &self,
        handler: &H,
        received: &[(Delivery, Acker)],
    ) -> Result<Vec<Result<Outcome, HandlerError>>, HandlerError> {
        if received.len() > 1 {
            let mut tx = self.pool.begin().await?;
            // One statement records the whole batch in the inbox; it returns
            // the ids that were new (a duplicate, even one repeated inside
            // the batch, comes back at most once).
            let ids: Vec<Uuid> = received.iter().map(|(d, _)| d.event_id).collect();
            let types: Vec<String> = received.iter().map(|(d, _)| d.event.r#type.clone()).collect();
            let fresh: Vec<Uuid> = sqlx::query_scalar(
                "INSERT INTO inbox (consumer, event_id, event_type)
                 SELECT $1, id, kind FROM unnest($2::uuid[], $3::text[]) AS batch(id, kind)
                 ON CONFLICT DO NOTHING RETURNING event_id",
            )
            .bind(&self.spec.name)
            .bind(&ids)
            .bind(&types)
            .fetch_all(&mut *tx)
            .await?;
            let mut fresh: HashSet<Uuid> = fresh.into_iter().collect();
            let mut results = Vec::with_capacity(received.len());
            for (delivery, _) in received {
                if !fresh.remove(&delivery.event_id) {
                    results.push(Ok(Outcome::Duplicate));
                    continue;
                }
                match self.guard(&mut tx, delivery).await {
                    Ok(None) => {}
                    Ok(Some(skipped)) => {
                        results.push(Ok(skipped));
                        continue;
                    }
                    Err(_) => break,
                }
                let span = delivery_span(&self.spec.name, delivery);
                match handler.handle(&mut tx, delivery).instrument(span).await {
                    Ok(()) => results.push(Ok(Outcome::Applied)),
                    Err(_) => break,
                }
            }
            if results.len() == received.len() {
                tx.commit().await?;
                return Ok(results);
            }
            tx.rollback().await?;
        }

        let mut tx = self.pool.begin().await?;
        let mut results = Vec::with_capacity(received.len());
        for (delivery, _) in received {
            let mut savepoint = tx.begin().await?;
            match self.apply_one(&mut savepoint, handler, delivery).await {
                Ok(outcome) => {
                    savepoint.commit().await?;
                    results.push(Ok(outcome));
                }
                Err(err) => {
                    savepoint.rollback().await?;
                    results.push(Err(err));
                }
            }
        }
        tx.commit().await?;
        Ok(results)
    }

    /// Records the event in the inbox and, if it is new, runs the handler.
    async fn apply_one<H: Handler>(
        &self,
        conn: &mut PgConnection,
        handler: &H,
        delivery: &Delivery,
    ) -> Result<Outcome, HandlerError> {
        let inserted = sqlx::query(
            "INSERT INTO inbox (consumer, event_id, event_type) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(&self.spec.name)
        .bind(delivery.event_id)
        .bind(&delivery.event.r#type)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if inserted == 0 {
            tracing::debug!(event_id = %delivery.event_id, "duplicate event skipped");
            return Ok(Outcome::Duplicate);
        }
        if let Some(skipped) = self.guard(conn, delivery).await? {
            return Ok(skipped);
        }
        let span = delivery_span(&self.spec.name, delivery);
        handler.handle(conn, delivery).instrument(span).await?;
        Ok(Outcome::Applied)
    }

    /// The ordering guard, for a source this consumer applies in order:
    /// `None` to go on with the handler, `Some(Duplicate)` for a version
    /// already applied, an error asking for redelivery for an early one.
    async fn guard(&self, conn: &mut PgConnection, delivery: &Delivery) -> Result<Option<Outcome>, HandlerError> {
        let source = ordering::source_of(&delivery.event.r#type);
        if !self.spec.ordered_sources.iter().any(|s| s == source) {
            return Ok(None);
        }
        let Some((case_id, version)) = ordering::sequence_of(delivery) else { return Ok(None) };
        match ordering::admit(conn, &self.spec.name, source, case_id, version).await? {
            Admission::Apply => Ok(None),
            Admission::Stale { last } => {
                tracing::debug!(event_id = %delivery.event_id, version, last, "event of a version already applied skipped");
                Ok(Some(Outcome::Duplicate))
            }
            Admission::Early { last } => Err(HandlerError::retry_after(
                format!("case {case_id}: version {version} of {source} arrived before version {}; waiting for it", last + 1),
                self.config.backoff(delivery.delivered),
            )),
        }
    }

    /// After the commit: ack what was applied or duplicate; NAK or
    /// dead-letter what failed.
    async fn settle<H: Handler>(
        &self,
        handler: &H,
        delivery: &Delivery,
        acker: &Acker,
        result: Result<Outcome, HandlerError>,
    ) -> Outcome {
        match result {
            Ok(outcome) => {
                if outcome == Outcome::Applied {
                    handler.after_commit(delivery);
                }
                if let Err(err) = acker.ack().await {
                    // The work is committed; a redelivery will hit the inbox.
                    tracing::warn!(error = %err, "ack failed after commit");
                }
                outcome
            }
            Err(err) if delivery.delivered >= self.config.max_deliver => {
                let poison = PoisonMessage { subject: &delivery.subject, headers: &delivery.headers, payload: &delivery.payload };
                self.dead_letter(
                    acker,
                    Some(delivery.event_id),
                    Some(&delivery.event.r#type),
                    &poison,
                    delivery.stream_sequence,
                    delivery.delivered,
                    &err.reason,
                )
                .await
            }
            Err(err) => {
                let delay = err.retry_after.unwrap_or_else(|| self.config.backoff(delivery.delivered));
                tracing::info!(reason = %err.reason, delay_ms = delay.as_millis() as u64, "event not applied; will retry");
                if let Err(ack_err) = acker.ack_with(AckKind::Nak(Some(delay))).await {
                    tracing::warn!(error = %ack_err, "nak failed; redelivery after ack_wait");
                }
                Outcome::Retried
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn dead_letter(
        &self,
        acker: &Acker,
        event_id: Option<Uuid>,
        event_type: Option<&str>,
        message: &PoisonMessage<'_>,
        stream_sequence: u64,
        delivered: i64,
        reason: &str,
    ) -> Outcome {
        let mut headers = std::collections::HashMap::new();
        for (name, values) in message.headers.iter() {
            if let Some(value) = values.first() {
                headers.insert(name.to_string(), value.to_string());
            }
        }
        let stored = sqlx::query(
            "INSERT INTO dead_letters (consumer, event_id, event_type, subject, stream_seq, deliveries, error, payload, headers)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (consumer, stream_seq) DO NOTHING",
        )
        .bind(&self.spec.name)
        .bind(event_id)
        .bind(event_type)
        .bind(message.subject)
        .bind(i64::try_from(stream_sequence).unwrap_or(i64::MAX))
        .bind(delivered)
        .bind(reason)
        .bind(message.payload)
        .bind(sqlx::types::Json(&headers))
        .execute(&self.pool)
        .await;
        match stored {
            Ok(_) => {
                tracing::error!(reason, stream_sequence, delivered, "event dead-lettered");
                if let Err(err) = acker.ack_with(AckKind::Term).await {
                    tracing::warn!(error = %err, "term failed after dead-lettering");
                }
                Outcome::DeadLettered
            }
            Err(err) => {
                // Could not record it: keep the message alive rather than lose it.
                tracing::error!(error = %err, "dead-letter insert failed; will retry");
                let _ = acker.ack_with(AckKind::Nak(Some(self.config.backoff(delivered)))).await;
                Outcome::Retried
            }
        }
    }
}

struct PoisonMessage<'a> {
    subject: &'a str,
    headers: &'a async_nats::HeaderMap,
    payload: &'a [u8],
}

/// The span of one delivery, continuing the producer's trace.
fn delivery_span(consumer: &str, delivery: &Delivery) -> tracing::Span {
    let span = tracing::info_span!(
        "consume",
        consumer,
        event_type = %delivery.event.r#type,
        event_id = %delivery.event_id,
        stream_sequence = delivery.stream_sequence,
        delivered = delivery.delivered
    );
    trace_context::set_parent(&span, &trace_context::NatsHeaders(&delivery.headers));
    span
}

/// Events of one case share a lane (order); others spread by id. The case id
/// is the CloudEvents subject header, so the lane is chosen without decoding.
fn lane_of(message: &async_nats::jetstream::Message, lanes: usize) -> usize {
    let key = message
        .headers
        .as_ref()
        .and_then(|headers| headers.get("ce-subject").or_else(|| headers.get("Nats-Msg-Id")))
        .map(|value| value.to_string())
        .unwrap_or_else(|| message.subject.to_string());
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    (hasher.finish() % lanes as u64) as usize
}
