//! The review service (`yuetan.review.v1.ReviewService`): legality review of
//! submitted cases (R-START-3), approval (R-START-4) and the legal section's
//! review of other services' documents (R-DOC-1).
//!
//! It is the first service driven by another's events, and the pattern the
//! others copy: [`Review::start`] runs two durable consumers of the platform
//! (`consumer`): one takes every intake event, applied per case strictly in
//! intake's `case_version` order by the platform's ordering guard, the other
//! takes document-review requests from any service; its timer sweeper fires
//! the limits of open tasks; its outbox relay publishes review's events. The
//! handlers (`events.rs`), the API (`api.rs`) and the timers (`timers.rs`)
//! all change state through `flow.rs`, one transaction per change.

pub mod access;
pub mod api;
pub mod convert;
pub mod domain;
pub mod events;
pub mod flow;
pub mod store;
pub mod timers;

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use yuetan_calendar::SharedCalendar;
use yuetan_platform::bus::Bus;
use yuetan_platform::clock::SharedClock;
use yuetan_platform::consumer::{Consumer, ConsumerSpec};
use yuetan_platform::outbox::{Outbox, Relay};
use yuetan_platform::timers::Sweeper;
use yuetan_platform::pii::PiiVault;
use yuetan_platform::relief;
use yuetan_platform::{db, Config, Error};

pub const SERVICE: &str = "review";
/// The durable consumer of intake's events (also its inbox key).
pub const INTAKE_CONSUMER: &str = "review-intake";
/// The durable consumer of document-review requests and of the relief
/// events (the name kept: it is the inbox key of a running deployment).
pub const DOCUMENTS_CONSUMER: &str = "review-documents";

/// What every RPC, event handler and timer of review works with.
#[derive(Debug)]
pub struct State {
    pub pool: PgPool,
    pub outbox: Outbox,
    pub clock: SharedClock,
    pub calendar: SharedCalendar,
    /// Seals the stored answers to request ids (they may hold personal data).
    pub vault: PiiVault,
}

/// A running review: its gRPC service and its background tasks.
pub struct Review {
    pub state: Arc<State>,
    pub tasks: Vec<JoinHandle<()>>,
}

impl Review {
    /// Connects, migrates, and starts the relay, the sweeper and the two
    /// consumers; they stop on `shutdown`.
    pub async fn start(
        config: &Config,
        clock: SharedClock,
        calendar: SharedCalendar,
        shutdown: CancellationToken,
    ) -> Result<Review, Error> {
        let (pool, schema) = db::open_service(config, SERVICE, store::migrations()).await?;
        let bus = Bus::connect(&config.nats).await?;
        let state = Arc::new(State {
            pool: pool.clone(),
            outbox: Outbox::new(&config.nats.subject_prefix, SERVICE),
            clock: clock.clone(),
            calendar,
            vault: PiiVault::new(&config.pii)?,
        });
        let prefix = &config.nats.subject_prefix;
        let relay = Relay::new(pool.clone(), bus.clone(), schema, config.outbox.batch, Duration::from_millis(config.outbox.poll_interval_ms));
        let sweeper = Sweeper::new(pool.clone(), clock, config.timers.clone());
        let handler = Arc::new(events::ReviewEvents { state: state.clone() });
        // Every intake event, so the ordering guard sees intake's whole
        // sequence of each case (most are ignored).
        let intake = Consumer::new(
            pool.clone(),
            bus.clone(),
            config.consumer.clone(),
            ConsumerSpec::new(INTAKE_CONSUMER, vec![format!("{prefix}.*.*.*.intake.>")]).ordered(&["intake"]),
        );
        // Document reviews, and the relief events the reads show (R-RELIEF-2):
        // none is in a case's sequence, so this consumer is unordered.
        let mut unordered = vec![format!("{prefix}.*.*.*.*.document_review_requested")];
        unordered.extend(relief::subjects(prefix));
        let documents = Consumer::new(pool, bus, config.consumer.clone(), ConsumerSpec::new(DOCUMENTS_CONSUMER, unordered));
        let tasks = vec![
            tokio::spawn(relay.run(shutdown.clone())),
            tokio::spawn(yuetan_platform::housekeeping::Housekeeper::from_config(config)?.run(state.pool.clone(), state.clock.clone(), shutdown.clone())),
            tokio::spawn(yuetan_platform::anchors::Anchorer::from_config(config, SERVICE)?.run(state.pool.clone(), state.clock.clone(), shutdown.clone())),
            tokio::spawn(sweeper.run(Arc::new(timers::ReviewTimers { state: state.clone() }), shutdown.clone())),
            tokio::spawn(intake.run_until_stopped(handler.clone(), shutdown.clone())),
            tokio::spawn(documents.run_until_stopped(handler, shutdown)),
        ];
        Ok(Review { state, tasks })
    }
}

