//! The intake service (`yuetan.intake.v1.IntakeService`): parties, the
//! violation-type catalogue, clues, verification and screening with the
//! province-wide repeat check, cases and their numbers, and the hand-over to
//! legality review (DOMAIN §3–4, R-DOC-2).
//!
//! [`Intake::start`] builds the state (pool with intake's migrations, bus,
//! vault, object store, calendar, clock), and returns the gRPC service plus
//! the background tasks: the outbox relay, the timer sweeper and the consumer
//! of review's decisions ([`events`]).

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
use yuetan_platform::consumer::Consumer;
use yuetan_platform::objects::Objects;
use yuetan_platform::outbox::{Outbox, Relay};
use yuetan_platform::pii::PiiVault;
use yuetan_platform::timers::Sweeper;
use yuetan_platform::{db, Config, Error};

pub const SERVICE: &str = "intake";

/// What every RPC and timer of intake works with.
#[derive(Debug)]
pub struct State {
    pub pool: PgPool,
    pub outbox: Outbox,
    pub clock: SharedClock,
    pub calendar: SharedCalendar,
    pub vault: PiiVault,
    pub objects: Objects,
}

/// A running intake: its gRPC service and its background tasks.
pub struct Intake {
    pub state: Arc<State>,
    pub tasks: Vec<JoinHandle<()>>,
    /// Largest request accepted: an evidence file of `objects.max_object_bytes`
    /// plus room for the rest of the message (tonic's default is 4 MiB).
    max_request_bytes: usize,
}

impl Intake {
    /// Connects, migrates and starts the relay, the sweeper and the consumer
    /// of review's decisions; they stop on `shutdown`.
    pub async fn start(
        config: &Config,
        clock: SharedClock,
        calendar: SharedCalendar,
        shutdown: CancellationToken,
    ) -> Result<Intake, Error> {
        let (pool, schema) = db::open_service(config, SERVICE, store::migrations()).await?;
        let bus = Bus::connect(&config.nats).await?;
        let state = Arc::new(State {
            pool: pool.clone(),
            outbox: Outbox::new(&config.nats.subject_prefix, SERVICE),
            clock: clock.clone(),
            calendar,
            vault: PiiVault::new(&config.pii)?,
            objects: Objects::new(&config.objects)?,
        });
        let relay = Relay::new(pool.clone(), bus.clone(), schema, config.outbox.batch, Duration::from_millis(config.outbox.poll_interval_ms));
        let sweeper = Sweeper::new(pool.clone(), clock, config.timers.clone());
        let timers = Arc::new(timers::IntakeTimers { state: state.clone() });
        let consumer = Consumer::new(pool, bus, config.consumer.clone(), events::review_outcomes_spec(&config.nats.subject_prefix));
        let outcomes = Arc::new(events::ReviewOutcomes { state: state.clone() });
        let consumer_shutdown = shutdown.clone();
        let tasks = vec![
            tokio::spawn(relay.run(shutdown.clone())),
            // Old inbox rows, settled dead letters and request answers past their windows (platform `housekeeping`).
            tokio::spawn(yuetan_platform::housekeeping::Housekeeper::from_config(config)?.run(state.pool.clone(), state.clock.clone(), shutdown.clone())),
            tokio::spawn(yuetan_platform::anchors::Anchorer::from_config(config, SERVICE)?.run(state.pool.clone(), state.clock.clone(), shutdown.clone())),
            tokio::spawn(sweeper.run(timers, shutdown)),
            tokio::spawn(async move {
                if let Err(err) = consumer.run(outcomes, consumer_shutdown).await {
                    // Without it case statuses stop following review; say so loudly.
                    tracing::error!(consumer = events::REVIEW_OUTCOMES, error = %err, "consumer of review outcomes failed");
                }
            }),
        ];
        Ok(Intake { state, tasks, max_request_bytes: config.objects.max_object_bytes.saturating_add(64 * 1024) })
    }
}
