//! The rectification service (`yuetan.rectification.v1.RectificationService`,
//! R-RECT-1..6): after the interview it opens the case's rectification with
//! its items, a tracking officer and one deadline timer per item; issues the
//! rectification notice (numbered, reviewed by the legal section, sealed by
//! the organ's key, served through scheduling — `rectification.service_requested`,
//! no second delivery implementation); keeps the tracking ledger with its
//! follow-up cadence; takes the party's report (the portal's report link or
//! on paper); runs the acceptance by at least two officers; and ends with
//! the acceptance certificate or the penalty hand-off with a draft prior
//! notice of penalty.
//!
//! Shaped like review and scheduling: one durable consumer (`events.rs`), a
//! timer sweeper (`timers.rs`) and the API (`api.rs`), all changing state
//! through `flow.rs`, one transaction per change.

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

use serde::Deserialize;
use sqlx::PgPool;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use yuetan_calendar::SharedCalendar;
use yuetan_documents::{FontConfig, Renderer};
use yuetan_platform::bus::Bus;
use yuetan_platform::clock::SharedClock;
use yuetan_platform::consumer::{Consumer, ConsumerSpec};
use yuetan_platform::relief;
use yuetan_platform::links::LinkSigner;
use yuetan_platform::objects::Objects;
use yuetan_platform::outbox::{Outbox, Relay};
use yuetan_platform::pii::PiiVault;
use yuetan_platform::seals::{SealKey, Seals};
use yuetan_platform::timers::Sweeper;
use yuetan_platform::{db, Config, Error};

pub const SERVICE: &str = "rectification";
/// The one durable consumer of rectification (also its inbox key).
pub const CONSUMER: &str = "rectification-events";

/// `[rectification]`: the service's own settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct RectificationConfig {
    /// R-RECT-2: the default follow-up cadence in days.
    pub cadence_days: u32,
    /// Fonts of the documents (absent: Debian's fonts-noto-cjk).
    pub fonts: Option<FontSettings>,
    /// Fault injection for the crash test: after the certificate is
    /// rendered and stored, hang before the acceptance commits (the test
    /// then kills the process).
    pub hang_before_acceptance_commit: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FontSettings {
    pub files: Vec<std::path::PathBuf>,
    pub body_family: String,
    pub title_family: String,
}

impl Default for RectificationConfig {
    fn default() -> Self {
        RectificationConfig { cadence_days: domain::DEFAULT_CADENCE_DAYS, fonts: None, hang_before_acceptance_commit: false }
    }
}

/// The organs' seal keys are configured once, under `[scheduling] seal_keys`;
/// every service that seals reads them there.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
struct SealSettings {
    seal_keys: Vec<SealKey>,
}

/// What every RPC, event handler and timer of rectification works with.
pub struct State {
    pub pool: PgPool,
    pub outbox: Outbox,
    pub clock: SharedClock,
    pub calendar: SharedCalendar,
    pub vault: PiiVault,
    pub objects: Objects,
    pub renderer: Arc<Renderer>,
    pub seals: Seals,
    pub links: LinkSigner,
    pub settings: RectificationConfig,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").finish_non_exhaustive()
    }
}

/// A running rectification service.
pub struct Rectification {
    pub state: Arc<State>,
    pub tasks: Vec<JoinHandle<()>>,
}

impl Rectification {
    /// Connects, migrates, and starts the relay, the sweeper and the consumer.
    pub async fn start(config: &Config, clock: SharedClock, calendar: SharedCalendar, shutdown: CancellationToken) -> Result<Rectification, Error> {
        let settings: RectificationConfig = config.section(SERVICE)?;
        let seal_settings: SealSettings = config.section("scheduling")?;
        let fonts = match &settings.fonts {
            Some(f) => FontConfig { files: f.files.clone(), body_family: f.body_family.clone(), title_family: f.title_family.clone() },
            None => FontConfig::default(),
        };
        let renderer = Arc::new(Renderer::new(&fonts).map_err(|e| Error::invalid("rectification.fonts", e.to_string()))?);
        let (pool, schema) = db::open_service(config, SERVICE, store::migrations()).await?;
        let bus = Bus::connect(&config.nats).await?;
        let state = Arc::new(State {
            pool: pool.clone(),
            outbox: Outbox::new(&config.nats.subject_prefix, SERVICE),
            clock: clock.clone(),
            calendar,
            vault: PiiVault::new(&config.pii)?,
            objects: Objects::new(&config.objects)?,
            renderer,
            seals: Seals::new("scheduling.seal_keys", &seal_settings.seal_keys, config.grpc.listen.ip().is_loopback())?,
            links: LinkSigner::new(&config.links)?,
            settings,
        });
        let prefix = &config.nats.subject_prefix;
        let relay = Relay::new(pool.clone(), bus.clone(), schema, config.outbox.batch, Duration::from_millis(config.outbox.poll_interval_ms));
        let sweeper = Sweeper::new(pool.clone(), clock, config.timers.clone());
        let handler = Arc::new(events::RectificationEvents { state: state.clone() });
        let consumer = Consumer::new(
            pool,
            bus,
            config.consumer.clone(),
            ConsumerSpec::new(
                CONSUMER,
                [
                    format!("{prefix}.*.*.*.intake.case_opened"),
                    format!("{prefix}.*.*.*.scheduling.interview_held"),
                    format!("{prefix}.*.*.*.scheduling.record_signed"),
                    format!("{prefix}.*.*.*.review.document_review_decided"),
                    format!("{prefix}.*.*.*.portal.report_submitted"),
                ]
                .into_iter()
                .chain(relief::subjects(prefix))
                .collect(),
            ),
        );
        let tasks = vec![
            tokio::spawn(relay.run(shutdown.clone())),
            tokio::spawn(yuetan_platform::housekeeping::Housekeeper::from_config(config)?.run(state.pool.clone(), state.clock.clone(), shutdown.clone())),
            tokio::spawn(yuetan_platform::anchors::Anchorer::from_config(config, SERVICE)?.run(state.pool.clone(), state.clock.clone(), shutdown.clone())),
            tokio::spawn(sweeper.run(Arc::new(timers::RectificationTimers { state: state.clone() }), shutdown.clone())),
            tokio::spawn(consumer.run_until_stopped(handler, shutdown)),
        ];
        Ok(Rectification { state, tasks })
    }
}
