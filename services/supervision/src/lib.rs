//! The supervision service (`yuetan.supervision.v1.SupervisionService`,
//! issue 12). It follows every service's events into its own read model
//! and changes no other service's state: files and their timelines, the
//! deadline cards of every step (R-SUP-3, R-START-5), the board's counters
//! and KPIs (R-SUP-2, R-SUP-5), the daily roll-up, monthly warnings and
//! draws (R-SUP-1), return visits and ratings (R-SUP-4), complaints
//! (R-SUP-6) and reports (R-SUP-7); `rebuild` replays the stream into an
//! empty schema. See docs/architecture.md §3f.
//!
//! Shaped like review: `events.rs` consumes, `timers.rs` fires, `api.rs`
//! reads and validates, `flow.rs` makes every change (row, event, audit in
//! one transaction), `store.rs` is SQL, `domain.rs` the pure rules.

pub mod access;
pub mod api;
pub mod domain;
pub mod events;
pub mod flow;
pub mod generate;
pub mod rebuild;
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
use yuetan_platform::links::LinkSigner;
use yuetan_platform::objects::Objects;
use yuetan_platform::secret::Secret;
use yuetan_platform::outbox::{Outbox, Relay};
use yuetan_platform::pii::PiiVault;
use yuetan_platform::timers::Sweeper;
use yuetan_platform::{db, Config, Error};

pub const SERVICE: &str = "supervision";
pub const CONSUMER: &str = "supervision-events";

#[derive(Debug)]
pub struct State {
    pub pool: PgPool,
    pub outbox: Outbox,
    pub clock: SharedClock,
    pub calendar: SharedCalendar,
    pub settings: Settings,
    pub vault: PiiVault,
    /// Signs the party's rating links (portal).
    pub links: LinkSigner,
    /// The shared object store: every service's documents, and the archive's
    /// manifests and document lists (R-DOC-3).
    pub objects: Objects,
    /// Signs the archive's manifests; None when `[supervision] archive_key`
    /// is not configured (assembly then fails, and waits, naming the setting).
    pub archive_key: Option<yuetan_casefile::ArchiveKey>,
}

impl State {
    /// The service's state on `pool` (the live schema, or a rebuild's),
    /// with the configured `[supervision]` settings, PII keys and link keys.
    pub fn new(config: &Config, pool: PgPool, clock: SharedClock, calendar: SharedCalendar) -> Result<State, Error> {
        Ok(State {
            pool,
            outbox: Outbox::new(&config.nats.subject_prefix, SERVICE),
            clock,
            calendar,
            settings: config.section(SERVICE)?,
            vault: PiiVault::new(&config.pii)?,
            links: LinkSigner::new(&config.links)?,
            objects: Objects::new(&config.objects)?,
            archive_key: archive_key(config)?,
        })
    }
}

/// The archive key published in `deploy/local/yuetan.toml`.
pub const DEV_ARCHIVE_KEY: &str = "bG9jYWwtZGV2LWFyY2hpdmUta2V5LW5vdC1zZWNyZXQ=";

/// The configured archive key, if any; the published development key only
/// on a loopback address.
fn archive_key(config: &Config) -> Result<Option<yuetan_casefile::ArchiveKey>, Error> {
    let settings: Settings = config.section(SERVICE)?;
    if settings.archive_key.expose().trim().is_empty() {
        return Ok(None);
    }
    if settings.archive_key.expose().trim() == DEV_ARCHIVE_KEY && !config.grpc.listen.ip().is_loopback() {
        return Err(Error::invalid("supervision.archive_key", "the published development archive key of deploy/local/yuetan.toml is for local development only (grpc.listen on a loopback address)"));
    }
    let id = if settings.archive_key_id.is_empty() { "archive" } else { &settings.archive_key_id };
    yuetan_casefile::ArchiveKey::from_base64("supervision.archive_key", id, settings.archive_key.expose()).map(Some).map_err(|e| Error::invalid("supervision.archive_key", e))
}

pub struct Supervision {
    pub state: Arc<State>,
    pub tasks: Vec<JoinHandle<()>>,
}

/// `[supervision]` in the configuration.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Yellow when at most this many working days remain (default 1).
    pub yellow_days: u32,
    /// R-SUP-2: a section scoring below this two months running is warned.
    pub baseline_score: f64,
    /// The daily roll-up's hour, China Standard Time (seed 001: 18:00).
    pub rollup_hour: u32,
    /// How often the tally folder runs, in milliseconds.
    pub fold_interval_ms: u64,
    /// R-DOC-3: the electronic file is assembled this long after the file
    /// closes (so the last documents' events are in), well within its
    /// 10-working-day limit.
    pub archive_delay_seconds: u64,
    /// The archive key that signs manifests: its id and the base64 of its
    /// 32-byte Ed25519 seed.
    pub archive_key_id: String,
    pub archive_key: Secret,
    /// R-DOC-4: violation types about people's livelihood (kept permanently).
    pub livelihood_violation_types: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            yellow_days: domain::DEFAULT_YELLOW_DAYS,
            baseline_score: domain::DEFAULT_BASELINE_SCORE,
            rollup_hour: 18,
            fold_interval_ms: 500,
            archive_delay_seconds: 3600,
            archive_key_id: String::new(),
            archive_key: Secret::default(),
            livelihood_violation_types: Vec::new(),
        }
    }
}

impl Supervision {
    pub async fn start(config: &Config, clock: SharedClock, calendar: SharedCalendar, shutdown: CancellationToken) -> Result<Supervision, Error> {
        let settings: Settings = config.section(SERVICE)?;
        let (pool, schema) = db::open_service(config, SERVICE, store::migrations()).await?;
        let bus = Bus::connect(&config.nats).await?;
        let state = Arc::new(State::new(config, pool.clone(), clock.clone(), calendar)?);
        let prefix = &config.nats.subject_prefix;
        let relay = Relay::new(pool.clone(), bus.clone(), schema, config.outbox.batch, Duration::from_millis(config.outbox.poll_interval_ms));
        let sweeper = Sweeper::new(pool.clone(), clock, config.timers.clone());
        let consumer = Consumer::new(pool, bus, config.consumer.clone(), spec(prefix, CONSUMER));
        let handler = Arc::new(events::SupervisionEvents { state: state.clone() });
        {
            let mut conn = state.pool.acquire().await?;
            state.seed_timers(&mut conn).await?;
            flow::sampling::seed_timers(&state, &mut conn).await?;
        }
        let folder = {
            let (pool, every, shutdown) = (state.pool.clone(), Duration::from_millis(settings.fold_interval_ms.max(50)), shutdown.clone());
            async move {
                loop {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(every) => {}
                    }
                    if let Err(err) = store::fold_tallies(&pool).await {
                        tracing::warn!(error = %err, "folding the board's counters");
                    }
                }
            }
        };
        let tasks = vec![
            tokio::spawn(folder),
            tokio::spawn(relay.run(shutdown.clone())),
            tokio::spawn(yuetan_platform::housekeeping::Housekeeper::from_config(config)?.run(state.pool.clone(), state.clock.clone(), shutdown.clone())),
            tokio::spawn(yuetan_platform::anchors::Anchorer::from_config(config, SERVICE)?.run(state.pool.clone(), state.clock.clone(), shutdown.clone())),
            tokio::spawn(sweeper.run(Arc::new(timers::SupervisionTimers { state: state.clone() }), shutdown.clone())),
            tokio::spawn(consumer.run_until_stopped(handler, shutdown)),
        ];
        Ok(Supervision { state, tasks })
    }
}

/// Supervision follows every event (`<prefix>.>`), its own included (so a
/// rebuild replays its decisions), each case's events in order per producer.
pub fn spec(prefix: &str, name: &str) -> ConsumerSpec {
    ConsumerSpec::new(name, vec![format!("{prefix}.>")]).ordered(&["intake", "review", "scheduling", "rectification"])
}
