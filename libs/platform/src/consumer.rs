//! The consumer runner (ARCHITECTURE §4): a durable JetStream pull consumer
//! with explicit acks, whose handler runs inside a PostgreSQL transaction that
//! first records the event id in `inbox`.
//!
//! - A duplicate (the id is already in the inbox) is acked and skipped, so a
//!   handler's effect is applied once however often the event arrives.
//! - A handler error rolls the transaction back and NAKs with backoff; on the
//!   `max_deliver`-th *failure* the event goes to `dead_letters` with the
//!   error and is terminated, so nothing is silently dropped.
//! - Events of one case always go to the same lane and are handled one after
//!   the other, in the order JetStream delivers them; different cases run in
//!   parallel lanes. An ordered consumer ([`ConsumerSpec::ordered`]) applies a
//!   case's events in `case_version` order ([`ordering`]); an early one waits.
//! - Crash safety: the inbox row, the handler's writes (and any outbox rows it
//!   writes) commit together. A process that dies before commit leaves
//!   nothing; JetStream redelivers after `ack_wait`. A process that dies after
//!   commit but before the ack gets a redelivery that the inbox drops.
//! - Dead letters stay visible until settled: a warning in the log every
//!   minute while any is open, [`deadletter::open`] for the status RPC, and
//!   `yuetan deadletter list|replay`; a replay requested there is applied by
//!   the running consumer through the same inbox transaction (once).
//! - Shutdown: stop pulling, finish what the lanes already hold, then return.
//!
//! # Counting failures, not deliveries
//!
//! JetStream's delivery count mixes three things: handler failures,
//! redeliveries after a replica died between delivery and ack, and NAKs of
//! an event waiting for its case's previous version. Only the first says
//! anything about the event. If the others counted, a crash could make a
//! later version wait through its whole `max_deliver` budget while its
//! predecessors were still held by the dead replica for `ack_wait`, and the
//! later version was dead-lettered and its case stuck (issue 16). So:
//!
//! - the JetStream consumer has no delivery limit (`max_deliver = -1`): it
//!   never drops a message on its own, behind our back;
//! - the runner counts per message, in `consumer_retries`, the handler's
//!   failures and, separately, the ordering guard's waits with the time of
//!   the first one. `consumer.max_deliver` is compared with the failures
//!   only; a wait is bounded by time, `consumer.order_horizon_secs` (default
//!   one hour) from the first early delivery, past which the event is
//!   dead-lettered with the reason naming the missing version;
//! - the counts live in PostgreSQL, beside the inbox, so they survive the
//!   crash of a replica and are shared by all replicas; a row is written
//!   only when an event is retried (the first-delivery path writes
//!   nothing more) and goes when the event is settled;
//! - a failure that could not even be counted (PostgreSQL away) is NAKed
//!   without counting: an outage never dead-letters events.

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
use crate::deadletter;
use crate::error::Error;
use crate::ordering::{self, Admission};
use crate::trace_context;

pub use crate::delivery::Delivery;

/// Why a handler did not apply an event. The transaction is rolled back.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{reason}")]
pub struct HandlerError {
    pub reason: String,
    /// Ask for redelivery after this delay instead of the configured backoff.
    pub retry_after: Option<Duration>,
    /// The event is not wrong, it is early: it waits for something that has
    /// not happened yet (the ordering guard's missing predecessor). Not a
    /// failure: bounded by `consumer.order_horizon_secs`, not `max_deliver`.
    pub waiting: bool,
}

impl HandlerError {
    pub fn failed(reason: impl Into<String>) -> Self {
        Self { reason: reason.into(), retry_after: None, waiting: false }
    }

    /// A failure, retried after `delay` instead of the configured backoff.
    pub fn retry_after(reason: impl Into<String>, delay: Duration) -> Self {
        Self { reason: reason.into(), retry_after: Some(delay), waiting: false }
    }

    /// Not applicable yet; redelivered with the configured backoff until
    /// the order horizon passes (see the module documentation).
    pub fn waiting(reason: impl Into<String>) -> Self {
        Self { reason: reason.into(), retry_after: None, waiting: true }
    }
}

impl Delivery {
    /// The event's case id, which a case event must carry.
    pub fn case_id(&self) -> Result<Uuid, HandlerError> {
        Uuid::parse_str(&self.event.case_id).map_err(|_| HandlerError::failed(format!("{} without a case id", self.event.r#type)))
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
            // Unbounded: the runner counts failures itself (module docs).
            max_deliver: -1,
            max_ack_pending: (lanes * 128).max(256),
            ..Default::default()
        };
        stream
            .create_consumer(config)
            .await
            .map_err(|err| Error::Unavailable(format!("consumer {}: {err}", self.spec.name)))
    }

    /// Consumes until `shutdown`, then finishes in-flight work and returns.
    /// Runs until `shutdown`; if it stops with an error (NATS away when it
    /// starts, the stream gone), logs it and starts again a second later, so a
    /// service that came up before NATS still consumes once NATS is back.
    pub async fn run_until_stopped<H: Handler>(self, handler: Arc<H>, shutdown: CancellationToken) {
        loop {
            match self.clone().run(handler.clone(), shutdown.clone()).await {
                Ok(()) => return,
                Err(err) => {
                    tracing::error!(consumer = %self.spec.name, error = %err, "consumer stopped; restarting");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
    }

    pub async fn run<H: Handler>(self, handler: Arc<H>, shutdown: CancellationToken) -> Result<(), Error> {
        let consumer = self.pull_consumer().await?;
        let mut messages = consumer
            .messages()
            .await
            .map_err(|err| Error::Unavailable(format!("consumer {} messages: {err}", self.spec.name)))?;

        let this = Arc::new(self);
        let mut lanes = Vec::with_capacity(this.config.lanes);
        // A JoinSet: if this future is dropped (the task running it aborted,
        // as the harness's `kill` does), the lanes and the housekeeping die
        // with it, mid-transaction, as in a killed process; they must not
        // go on to commit and ack what the dead consumer held.
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..this.config.lanes {
            let (tx, mut rx) = mpsc::channel::<async_nats::jetstream::Message>(64);
            lanes.push(tx);
            let this = this.clone();
            let handler = handler.clone();
            workers.spawn(async move {
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
            });
        }
        let stop_maintenance = CancellationToken::new();
        let mut maintenance = tokio::task::JoinSet::new();
        maintenance.spawn(this.clone().maintain(handler.clone(), stop_maintenance.clone()));
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
        while workers.join_next().await.is_some() {}
        stop_maintenance.cancel();
        while maintenance.join_next().await.is_some() {}
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
                self.dead_letter(&acker, None, None, &poison, stream_sequence, delivered, deadletter::Kind::Undecodable, &reason)
                    .await;
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
            Admission::Early { last } => Err(HandlerError::waiting(format!(
                "case {case_id}: version {version} of {source} arrived before version {}; waiting for it",
                last + 1
            ))),
        }
    }

    /// After the commit: ack what was applied or duplicate; NAK or
    /// dead-letter what failed or waited.
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
                if delivery.delivered > 1 {
                    // It may have been counted while retried: settled now.
                    if let Err(err) = self.forget_retries(delivery.stream_sequence).await {
                        tracing::warn!(error = %err, "could not clear the retry count of a settled event");
                    }
                }
                outcome
            }
            Err(err) if err.waiting => self.wait(delivery, acker, err).await,
            Err(err) => self.fail(delivery, acker, err).await,
        }
    }

    /// A handler failure: counted; dead-lettered at `max_deliver` failures.
    async fn fail(&self, delivery: &Delivery, acker: &Acker, err: HandlerError) -> Outcome {
        let counted: Result<i32, sqlx::Error> = sqlx::query_scalar(
            "INSERT INTO consumer_retries (consumer, stream_seq, event_id, failures, last_error)
             VALUES ($1, $2, $3, 1, $4)
             ON CONFLICT (consumer, stream_seq) DO UPDATE
                SET failures = consumer_retries.failures + 1, last_error = $4, updated_at = now()
             RETURNING failures",
        )
        .bind(&self.spec.name)
        .bind(seq_i64(delivery.stream_sequence))
        .bind(delivery.event_id)
        .bind(&err.reason)
        .fetch_one(&self.pool)
        .await;
        let failures = match counted {
            Ok(failures) => i64::from(failures),
            Err(db) => {
                // Not even counted (PostgreSQL away?): an outage must not use
                // up the event's failures; retry it uncounted.
                tracing::warn!(reason = %err.reason, error = %db, "event failed and its failure could not be counted; will retry");
                self.nak(acker, self.config.backoff(delivery.delivered)).await;
                return Outcome::Retried;
            }
        };
        if failures >= self.config.max_deliver {
            let reason = format!("{} (failed {failures} times)", err.reason);
            return self.dead_letter_delivery(acker, delivery, deadletter::Kind::Failed, &reason).await;
        }
        let delay = err.retry_after.unwrap_or_else(|| self.config.backoff(failures));
        tracing::info!(reason = %err.reason, failures, delay_ms = delay.as_millis() as u64, "event not applied; will retry");
        self.nak(acker, delay).await;
        Outcome::Retried
    }

    /// An early event: counted as a wait, not a failure; dead-lettered only
    /// once it has waited longer than `order_horizon_secs`.
    async fn wait(&self, delivery: &Delivery, acker: &Acker, err: HandlerError) -> Outcome {
        let counted: Result<(i32, f64), sqlx::Error> = sqlx::query_as(
            "INSERT INTO consumer_retries (consumer, stream_seq, event_id, waits, waiting_since, last_error)
             VALUES ($1, $2, $3, 1, now(), $4)
             ON CONFLICT (consumer, stream_seq) DO UPDATE
                SET waits = consumer_retries.waits + 1,
                    waiting_since = COALESCE(consumer_retries.waiting_since, now()),
                    last_error = $4, updated_at = now()
             RETURNING waits, EXTRACT(EPOCH FROM now() - waiting_since)::float8",
        )
        .bind(&self.spec.name)
        .bind(seq_i64(delivery.stream_sequence))
        .bind(delivery.event_id)
        .bind(&err.reason)
        .fetch_one(&self.pool)
        .await;
        let (waits, waited_secs) = match counted {
            Ok(counted) => counted,
            Err(db) => {
                tracing::warn!(reason = %err.reason, error = %db, "early event's wait could not be recorded; will retry");
                self.nak(acker, self.config.backoff(delivery.delivered)).await;
                return Outcome::Retried;
            }
        };
        let horizon = self.config.order_horizon();
        if waited_secs >= horizon.as_secs_f64() {
            let reason = format!(
                "{}; gave up after waiting {waited_secs:.0} s ({waits} deliveries), past consumer.order_horizon_secs = {}",
                err.reason,
                horizon.as_secs()
            );
            return self.dead_letter_delivery(acker, delivery, deadletter::Kind::Waited, &reason).await;
        }
        let delay = err.retry_after.unwrap_or_else(|| self.config.backoff(i64::from(waits)));
        tracing::debug!(reason = %err.reason, waits, delay_ms = delay.as_millis() as u64, "early event waits for its predecessor");
        self.nak(acker, delay).await;
        Outcome::Retried
    }

    async fn nak(&self, acker: &Acker, delay: Duration) {
        if let Err(err) = acker.ack_with(AckKind::Nak(Some(delay))).await {
            tracing::warn!(error = %err, "nak failed; redelivery after ack_wait");
        }
    }

    async fn forget_retries(&self, stream_sequence: u64) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM consumer_retries WHERE consumer = $1 AND stream_seq = $2")
            .bind(&self.spec.name)
            .bind(seq_i64(stream_sequence))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn dead_letter_delivery(&self, acker: &Acker, delivery: &Delivery, kind: deadletter::Kind, reason: &str) -> Outcome {
        let poison = PoisonMessage { subject: &delivery.subject, headers: &delivery.headers, payload: &delivery.payload };
        self.dead_letter(
            acker,
            Some(delivery.event_id),
            Some(&delivery.event.r#type),
            &poison,
            delivery.stream_sequence,
            delivery.delivered,
            kind,
            reason,
        )
        .await
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
        kind: deadletter::Kind,
        reason: &str,
    ) -> Outcome {
        let mut headers = std::collections::HashMap::new();
        for (name, values) in message.headers.iter() {
            if let Some(value) = values.first() {
                headers.insert(name.to_string(), value.to_string());
            }
        }
        // The dead letter and the end of its retry count, together.
        let stored = sqlx::query(
            "WITH settled AS (DELETE FROM consumer_retries WHERE consumer = $1 AND stream_seq = $5)
             INSERT INTO dead_letters (consumer, event_id, event_type, subject, stream_seq, deliveries, error, payload, headers, kind)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (consumer, stream_seq) DO NOTHING",
        )
        .bind(&self.spec.name)
        .bind(event_id)
        .bind(event_type)
        .bind(message.subject)
        .bind(seq_i64(stream_sequence))
        .bind(delivered)
        .bind(reason)
        .bind(message.payload)
        .bind(sqlx::types::Json(&headers))
        .bind(kind.as_str())
        .execute(&self.pool)
        .await;
        match stored {
            Ok(_) => {
                tracing::error!(
                    consumer = %self.spec.name,
                    kind = kind.as_str(),
                    reason,
                    stream_sequence,
                    delivered,
                    "event dead-lettered; see `yuetan deadletter list`"
                );
                if let Err(err) = acker.ack_with(AckKind::Term).await {
                    tracing::warn!(error = %err, "term failed after dead-lettering");
                }
                Outcome::DeadLettered
            }
            Err(err) => {
                // Could not record it: keep the message alive rather than lose it.
                tracing::error!(error = %err, "dead-letter insert failed; will retry");
                self.nak(acker, self.config.backoff(delivered)).await;
                Outcome::Retried
            }
        }
    }

    /// The consumer's housekeeping beside the lanes, until `stop`: applies
    /// the dead letters an operator asked to replay, warns every minute
    /// while dead letters are open, and drops retry counts of events long
    /// gone (a crash between ack and cleanup).
    async fn maintain<H: Handler>(self: Arc<Self>, handler: Arc<H>, stop: CancellationToken) {
        let mut replay_tick = tokio::time::interval(REPLAY_POLL);
        replay_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut warn_tick = tokio::time::interval(WARN_EVERY);
        warn_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = replay_tick.tick() => {
                    if let Err(err) = self.replay_requested(handler.as_ref()).await {
                        tracing::warn!(consumer = %self.spec.name, error = %err.reason, "replaying dead letters failed; will try again");
                    }
                }
                _ = warn_tick.tick() => self.housekeeping().await,
            }
        }
    }

    async fn housekeeping(&self) {
        match deadletter::open(&self.pool).await {
            Ok(open) => {
                for open in open.iter().filter(|o| o.consumer == self.spec.name) {
                    tracing::warn!(
                        consumer = %open.consumer,
                        dead_letters = open.count,
                        oldest_age_secs = open.oldest_age.as_secs(),
                        "dead letters wait for an operator: `yuetan deadletter list`, then `yuetan deadletter replay`"
                    );
                }
            }
            Err(err) => tracing::warn!(consumer = %self.spec.name, error = %err, "could not count dead letters"),
        }
        let keep = self.config.order_horizon().as_secs_f64() + 86_400.0;
        let pruned = sqlx::query(
            "DELETE FROM consumer_retries WHERE consumer = $1 AND updated_at < now() - make_interval(secs => $2)",
        )
        .bind(&self.spec.name)
        .bind(keep)
        .execute(&self.pool)
        .await;
        if let Err(err) = pruned {
            tracing::debug!(error = %err, "pruning retry counts failed");
        }
    }

    /// Applies the dead letters of this consumer whose replay an operator
    /// requested ([`deadletter::request_replay`]): each through the inbox and
    /// the ordering guard, in one transaction with the row's resolution, so
    /// a replay applies an event at most once however often it is asked
    /// for, and by one replica only (`SKIP LOCKED`). Returns how many were
    /// settled.
    pub async fn replay_requested<H: Handler>(&self, handler: &H) -> Result<usize, HandlerError> {
        // One cheap look (a partial index) before a locking transaction.
        if !deadletter::replay_pending(&self.pool, &self.spec.name).await? {
            return Ok(0);
        }
        let mut tx = self.pool.begin().await?;
        let requested = deadletter::claim_requested(&mut tx, &self.spec.name, 16).await?;
        if requested.is_empty() {
            tx.rollback().await?;
            return Ok(0);
        }
        let mut applied = Vec::new();
        for stored in &requested {
            let delivery = match stored.delivery() {
                Ok(delivery) => delivery,
                Err(reason) => {
                    deadletter::refuse_replay(&mut tx, stored.id, &reason).await?;
                    continue;
                }
            };
            let mut savepoint = tx.begin().await?;
            match self.apply_one(&mut savepoint, handler, &delivery).await {
                Ok(outcome) => {
                    savepoint.commit().await?;
                    let resolution = if outcome == Outcome::Applied { deadletter::RESOLVED_BY_REPLAY } else { "already applied" };
                    deadletter::resolve(&mut tx, stored.id, resolution).await?;
                    tracing::info!(consumer = %self.spec.name, dead_letter = stored.id, resolution, "dead letter replayed");
                    if outcome == Outcome::Applied {
                        applied.push(delivery);
                    }
                }
                Err(err) => {
                    savepoint.rollback().await?;
                    tracing::warn!(consumer = %self.spec.name, dead_letter = stored.id, reason = %err.reason, "dead letter replay not applied");
                    deadletter::refuse_replay(&mut tx, stored.id, &err.reason).await?;
                }
            }
        }
        tx.commit().await?;
        for delivery in &applied {
            handler.after_commit(delivery);
        }
        Ok(requested.len())
    }
}

/// How often a consumer looks for replays an operator requested.
const REPLAY_POLL: Duration = Duration::from_secs(1);
/// How often a consumer with open dead letters says so in the log.
const WARN_EVERY: Duration = Duration::from_secs(60);

fn seq_i64(stream_sequence: u64) -> i64 {
    i64::try_from(stream_sequence).unwrap_or(i64::MAX)
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
