//! The scheduling service (`yuetan.scheduling.v1.SchedulingService`): after
//! approval it plans the interview (R-INT-1, R-NOTICE-3), issues the
//! interview notice as a numbered, sealed PDF (R-NOTICE-1, R-DOC-2) and
//! serves documents (送达, R-NOTICE-2, LAW.md §3) by SMS, e-mail, the
//! e-government platform, or a serving officer, recording with evidence
//! when the party received them and producing the delivery receipt.
//!
//! Shaped like review: one durable consumer (`events.rs`: intake's
//! case_opened, review's case_approved and document decisions, any service's
//! service_requested, the portal's link and provider events), a timer
//! sweeper (`timers.rs`: the notice limit, sending, arrival windows) and the
//! API (`api.rs`), all changing state through `flow.rs`, one transaction
//! per change. Sending to a provider happens inside the send timer's
//! transaction with the attempt id as the provider's idempotency key: a
//! process that dies after the provider accepted and before the commit
//! sends again with the same key, which the provider recognises (see
//! `docs/architecture.md`, service of documents).

pub mod access;
pub mod api;
pub mod convert;
pub mod domain;
pub mod events;
pub mod flow;
pub mod send;
pub mod store;
pub mod timers;
pub mod verify;
pub mod video;

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
use yuetan_platform::secret::Secret;
use yuetan_platform::timers::Sweeper;
use yuetan_platform::{db, Config, Error};

use crate::domain::LeadTime;

pub const SERVICE: &str = "scheduling";
/// The one durable consumer of scheduling (also its inbox key).
pub const CONSUMER: &str = "scheduling-events";

/// The e-mail relay (SMTP) that takes the party's mail.
#[derive(Debug, Clone, Deserialize)]
pub struct EmailSettings {
    pub host: String,
    pub port: u16,
    pub from: String,
    #[serde(default)]
    pub tls: bool,
}

/// The SMS gateway (Alibaba Cloud dysmsapi-shaped).
#[derive(Debug, Clone, Deserialize)]
pub struct SmsSettings {
    pub endpoint: String,
    pub access_key_id: String,
    pub access_key_secret: Secret,
    pub sign_name: String,
    pub template_code: String,
}

/// The government e-delivery platform.
#[derive(Debug, Clone, Deserialize)]
pub struct EgovSettings {
    pub endpoint: String,
    pub app_id: String,
    pub secret: Secret,
    /// Where the platform sends its acknowledgements: the portal.
    pub callback_url: String,
}

/// Fonts of the rendered documents (absent: Debian's fonts-noto-cjk).
#[derive(Debug, Clone, Deserialize)]
pub struct FontSettings {
    pub files: Vec<std::path::PathBuf>,
    pub body_family: String,
    pub title_family: String,
}

/// `[scheduling]`: the service's own settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SchedulingConfig {
    /// R-NOTICE-3 minimum lead time between service and interview.
    pub lead_working_days: u32,
    pub urgent_lead_minutes: i64,
    /// How long an interview occupies its interviewers and room.
    pub interview_minutes: i64,
    /// No delivery report within this long: the SMS failed.
    pub sms_arrival_minutes: i64,
    pub egov_arrival_minutes: i64,
    /// How long a party's link to a document is valid.
    pub link_valid_days: i64,
    pub seal_keys: Vec<SealKey>,
    pub fonts: Option<FontSettings>,
    pub email: Option<EmailSettings>,
    pub sms: Option<SmsSettings>,
    pub egov: Option<EgovSettings>,
    /// Fault injection for the crash test: after a provider accepted a
    /// message, hang before recording it (the test then kills the process).
    pub hang_after_send: bool,
    /// `[scheduling.video]`: the video provider of video interviews.
    pub video: video::VideoSettings,
    /// How long before its planned time an interview may start (the party
    /// was served for the planned time, R-NOTICE-3).
    pub start_early_minutes: i64,
}

impl Default for SchedulingConfig {
    fn default() -> Self {
        SchedulingConfig {
            lead_working_days: 1,
            urgent_lead_minutes: 120,
            interview_minutes: 120,
            sms_arrival_minutes: 30,
            egov_arrival_minutes: 60,
            link_valid_days: 15,
            seal_keys: Vec::new(),
            fonts: None,
            email: None,
            sms: None,
            egov: None,
            hang_after_send: false,
            video: video::VideoSettings::default(),
            start_early_minutes: 30,
        }
    }
}

impl SchedulingConfig {
    pub fn lead(&self) -> LeadTime {
        LeadTime { working_days: self.lead_working_days, urgent: chrono::Duration::minutes(self.urgent_lead_minutes) }
    }
}

pub use yuetan_platform::seals::{SealKey, Seals, DEV_SEAL_KEY};

/// What every RPC, event handler and timer of scheduling works with.
pub struct State {
    pub pool: PgPool,
    pub outbox: Outbox,
    pub clock: SharedClock,
    pub calendar: SharedCalendar,
    /// Seals addresses, evidence and stored answers.
    pub vault: PiiVault,
    pub objects: Objects,
    pub renderer: Arc<Renderer>,
    pub seals: Seals,
    pub links: LinkSigner,
    pub channels: send::Channels,
    /// The video provider (absent: video interviews cannot be planned).
    pub video: Option<std::sync::Arc<dyn yuetan_video::VideoProvider>>,
    pub settings: SchedulingConfig,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").finish_non_exhaustive()
    }
}

/// A running scheduling service.
pub struct Scheduling {
    pub state: Arc<State>,
    pub tasks: Vec<JoinHandle<()>>,
}

impl Scheduling {
    /// Connects, migrates, and starts the relay, the sweeper and the consumer.
    pub async fn start(config: &Config, clock: SharedClock, calendar: SharedCalendar, shutdown: CancellationToken) -> Result<Scheduling, Error> {
        let settings: SchedulingConfig = config.section(SERVICE)?;
        let fonts = match &settings.fonts {
            Some(f) => FontConfig { files: f.files.clone(), body_family: f.body_family.clone(), title_family: f.title_family.clone() },
            None => FontConfig::default(),
        };
        let renderer = Arc::new(Renderer::new(&fonts).map_err(|e| Error::invalid("scheduling.fonts", e.to_string()))?);
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
            seals: Seals::new("scheduling.seal_keys", &settings.seal_keys, config.grpc.listen.ip().is_loopback())?,
            links: LinkSigner::new(&config.links)?,
            channels: send::Channels::new(&settings),
            video: video::provider(&settings.video)?,
            settings,
        });
        let prefix = &config.nats.subject_prefix;
        let relay = Relay::new(pool.clone(), bus.clone(), schema, config.outbox.batch, Duration::from_millis(config.outbox.poll_interval_ms));
        let sweeper = Sweeper::new(pool.clone(), clock, config.timers.clone());
        let handler = Arc::new(events::SchedulingEvents { state: state.clone() });
        let consumer = Consumer::new(
            pool,
            bus,
            config.consumer.clone(),
            ConsumerSpec::new(
                CONSUMER,
                [
                    format!("{prefix}.*.*.*.intake.case_opened"),
                    format!("{prefix}.*.*.*.review.case_approved"),
                    format!("{prefix}.*.*.*.review.document_review_decided"),
                    format!("{prefix}.*.*.*.*.service_requested"),
                    format!("{prefix}.*.*.*.portal.link_opened"),
                    format!("{prefix}.*.*.*.portal.receipt_confirmed"),
                    format!("{prefix}.*.*.*.portal.sms_report_received"),
                    format!("{prefix}.*.*.*.portal.egov_acknowledged"),
                    format!("{prefix}.*.*.*.portal.video_event"),
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
            tokio::spawn(sweeper.run(Arc::new(timers::SchedulingTimers { state: state.clone() }), shutdown.clone())),
            tokio::spawn(video::run_reconciler(state.clone(), shutdown.clone())),
            tokio::spawn(consumer.run_until_stopped(handler, shutdown)),
        ];
        Ok(Scheduling { state, tasks })
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_seal_key_is_the_one_in_the_local_config() {
        let config = include_str!("../../../deploy/local/yuetan.toml");
        assert!(config.contains(&format!("\"{DEV_SEAL_KEY}\"")));
    }
}
