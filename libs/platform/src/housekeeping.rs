//! Housekeeping (ARCHITECTURE §4, "Housekeeping"): the tables that only
//! remember, pruned by age, in small batches, without breaking
//! deduplication.
//!
//! One task per service process ([`Housekeeper::run`], spawned beside the
//! relay) prunes its schema's
//!
//! - `inbox` rows received more than `[housekeeping] inbox_keep_hours` ago
//!   (default 168, a week). The inbox is what makes a redelivered event a
//!   duplicate, so a row may only go once no copy of its event can still
//!   arrive. The keep time is refused (a configuration error naming
//!   `housekeeping.inbox_keep_hours`) when it is shorter than the
//!   *deduplication horizon* ([`dedup_horizon`]): the JetStream duplicate
//!   window (`nats.duplicate_window_secs`) + the consumers' redelivery
//!   horizon (`consumer.ack_wait_secs` × `consumer.max_deliver` + the
//!   backoff delays of as many attempts) + the order horizon
//!   (`consumer.order_horizon_secs`, an event waiting for its
//!   predecessors). Refused rather than clamped: a setting that would
//!   silently apply events twice is an error, not a warning. The default
//!   week is far longer than that horizon (about 65 minutes with the default
//!   settings) because the one redelivery the horizon does not bound is a
//!   relay that died between publishing and deleting its rows and stays
//!   down: it publishes again when it comes back, past the duplicate window,
//!   and only the inbox drops the copy. A row whose event has an open dead
//!   letter of the same consumer is never pruned (a replay checks the
//!   inbox for "already applied").
//! - resolved `dead_letters` settled more than `dead_letter_keep_days` ago
//!   (default 30). An open dead letter waits for an operator and is never
//!   pruned.
//! - `requests` answers older than `[requests] replay_window_hours` by the
//!   service clock.
//!
//! Not pruned here: the audit log (never), `event_order` (the ordering
//! guard needs each case's last version for as long as the case may get
//! events), `outbox` (a published row is deleted by the relay; the table
//! holds only unsent rows), `consumer_retries` (the consumer's own
//! housekeeping drops counts of events long gone).
//!
//! Batches: each statement deletes at most `batch` rows (inbox: by the
//! primary key range of the time-ordered UUIDv7 event ids, per consumer;
//! dead letters: `ctid IN (… LIMIT n)`; requests: a walk over the heap in
//! ranges of blocks, a TID range scan each), so it holds row locks briefly
//! and never a long table scan inside one transaction. Event ids that are
//! not UUIDv7 (the outbox writes v7 ids; only hand-made events are not) are
//! left alone by the inbox pass.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::clock::SharedClock;
use crate::config::{Config, ConsumerConfig, NatsConfig};
use crate::error::Error;
use crate::requests;

/// `[housekeeping]` (env `YUETAN_HOUSEKEEPING__…`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default)]
pub struct HousekeepingSettings {
    /// Hours an inbox row is kept; at least the deduplication horizon.
    pub inbox_keep_hours: u64,
    /// Days a resolved dead letter is kept (open ones are kept until settled).
    pub dead_letter_keep_days: u64,
    /// Seconds between passes (one at start).
    pub interval_secs: u64,
    /// Most rows one statement deletes.
    pub batch: i64,
}

impl Default for HousekeepingSettings {
    fn default() -> Self {
        Self { inbox_keep_hours: 168, dead_letter_keep_days: 30, interval_secs: 600, batch: 1000 }
    }
}

/// How long after an event was applied another copy of it can still reach a
/// consumer, as bounded by the settings (see the module documentation).
pub fn dedup_horizon(nats: &NatsConfig, consumer: &ConsumerConfig) -> Duration {
    let attempts = consumer.max_deliver.max(1);
    let backoff: Duration = (1..=attempts).map(|attempt| consumer.backoff(attempt)).sum();
    Duration::from_secs(nats.duplicate_window_secs)
        + consumer.ack_wait() * u32::try_from(attempts).unwrap_or(u32::MAX)
        + backoff
        + consumer.order_horizon()
}

impl HousekeepingSettings {
    /// The `[housekeeping]` section, checked against the deduplication horizon.
    pub fn from_config(config: &Config) -> Result<Self, Error> {
        let settings: HousekeepingSettings = config.section("housekeeping")?;
        settings.check(dedup_horizon(&config.nats, &config.consumer))?;
        Ok(settings)
    }

    /// Errors name the field.
    pub fn check(&self, horizon: Duration) -> Result<(), Error> {
        let keep = self.inbox_keep();
        if keep < horizon {
            let hours = horizon.as_secs().div_ceil(3600);
            return Err(Error::invalid(
                "housekeeping.inbox_keep_hours",
                format!(
                    "{} h is shorter than the deduplication horizon ({} s: nats.duplicate_window_secs + consumer.ack_wait_secs × \
                     consumer.max_deliver + backoff + consumer.order_horizon_secs); a redelivered event would be applied again: \
                     keep at least {hours} h",
                    self.inbox_keep_hours,
                    horizon.as_secs()
                ),
            ));
        }
        if self.inbox_keep_hours > 24 * 3650 {
            return Err(Error::invalid("housekeeping.inbox_keep_hours", "must be at most 87600 (ten years)"));
        }
        if !(1..=3650).contains(&self.dead_letter_keep_days) {
            return Err(Error::invalid("housekeeping.dead_letter_keep_days", "must be between 1 and 3650"));
        }
        if !(1..=86_400).contains(&self.interval_secs) {
            return Err(Error::invalid("housekeeping.interval_secs", "must be between 1 and 86400"));
        }
        if !(1..=100_000).contains(&self.batch) {
            return Err(Error::invalid("housekeeping.batch", "must be between 1 and 100000"));
        }
        Ok(())
    }

    pub fn inbox_keep(&self) -> Duration {
        Duration::from_secs(self.inbox_keep_hours.saturating_mul(3600))
    }

    pub fn dead_letter_keep(&self) -> Duration {
        Duration::from_secs(self.dead_letter_keep_days.saturating_mul(86_400))
    }
}

/// What one pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub inbox: u64,
    pub dead_letters: u64,
    pub requests: u64,
}

/// The housekeeping task of one service process.
#[derive(Debug, Clone)]
pub struct Housekeeper {
    pub settings: HousekeepingSettings,
    /// `[requests] replay_window_hours`.
    pub replay_window: Duration,
}

impl Housekeeper {
    pub fn from_config(config: &Config) -> Result<Housekeeper, Error> {
        Ok(Housekeeper { settings: HousekeepingSettings::from_config(config)?, replay_window: config.requests.replay_window() })
    }

    /// A pass at start, then one every `interval_secs`, until `shutdown`. A
    /// failed pass is logged and tried again next time.
    pub async fn run(self, pool: PgPool, clock: SharedClock, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                pruned = self.prune_once(&pool, &clock, &shutdown) => match pruned {
                    Ok(Pruned { inbox: 0, dead_letters: 0, requests: 0 }) => {}
                    Ok(pruned) => tracing::info!(
                        inbox = pruned.inbox,
                        dead_letters = pruned.dead_letters,
                        requests = pruned.requests,
                        "housekeeping: old rows removed"
                    ),
                    Err(err) => tracing::warn!(error = %err, "housekeeping pass failed; trying again later"),
                },
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(self.settings.interval_secs)) => {}
            }
        }
    }

    /// One pass over the schema's tables (the pool's `search_path`).
    pub async fn prune_once(&self, pool: &PgPool, clock: &SharedClock, stop: &CancellationToken) -> Result<Pruned, Error> {
        let inbox = prune_inbox(pool, self.settings.inbox_keep(), self.settings.batch, stop).await?;
        let dead_letters = prune_dead_letters(pool, self.settings.dead_letter_keep(), self.settings.batch, stop).await?;
        let window = chrono::Duration::from_std(self.replay_window).unwrap_or(chrono::Duration::hours(24));
        let requests = if table_exists(pool, "requests").await? {
            requests::prune_in_batches(pool, clock.now() - window, REQUEST_BLOCKS, stop).await?
        } else {
            0
        };
        Ok(Pruned { inbox, dead_letters, requests })
    }
}

/// Heap blocks of `requests` one statement looks at (8 KiB each).
const REQUEST_BLOCKS: i64 = 64;

async fn table_exists(pool: &PgPool, table: &str) -> Result<bool, Error> {
    Ok(sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL").bind(table).fetch_one(pool).await?)
}

/// The smallest UUIDv7 of the millisecond `at`: every v7 id generated
/// before `at` sorts below it.
pub fn v7_floor(at: DateTime<Utc>) -> Uuid {
    let ms = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    bytes[6] = 0x70;
    bytes[8] = 0x80;
    Uuid::from_bytes(bytes)
}

/// Removes inbox rows received before `now() - keep` (database time, as
/// `received_at`), except those of events with an open dead letter of the
/// same consumer; `batch` rows per statement, by the primary key range.
pub async fn prune_inbox(pool: &PgPool, keep: Duration, batch: i64, stop: &CancellationToken) -> Result<u64, Error> {
    let cutoff: DateTime<Utc> =
        sqlx::query_scalar("SELECT now() - make_interval(secs => $1)").bind(keep.as_secs_f64()).fetch_one(pool).await?;
    let floor = v7_floor(cutoff);
    // The consumers, by a loose index scan of the primary key.
    let consumers: Vec<String> = sqlx::query_scalar(
        "WITH RECURSIVE c(consumer) AS (
             SELECT min(consumer) FROM inbox
             UNION ALL
             SELECT (SELECT min(consumer) FROM inbox WHERE consumer > c.consumer) FROM c WHERE c.consumer IS NOT NULL)
         SELECT consumer FROM c WHERE consumer IS NOT NULL",
    )
    .fetch_all(pool)
    .await?;
    let mut pruned = 0;
    for consumer in consumers {
        let mut after = Uuid::nil();
        loop {
            if stop.is_cancelled() {
                return Ok(pruned);
            }
            // Walk the consumer's old ids in key order; `after` moves past
            // rows kept (received late, or with an open dead letter).
            let (deleted, last): (i64, Option<Uuid>) = sqlx::query_as(
                "WITH candidates AS (
                     SELECT ctid, event_id, received_at FROM inbox
                     WHERE consumer = $1 AND event_id > $2 AND event_id < $3
                     ORDER BY event_id LIMIT $5),
                 gone AS (
                     DELETE FROM inbox WHERE ctid IN (
                         SELECT c.ctid FROM candidates c
                         WHERE c.received_at < $4
                           AND NOT EXISTS (SELECT 1 FROM dead_letters d
                                           WHERE d.consumer = $1 AND d.event_id = c.event_id AND d.resolved_at IS NULL))
                     RETURNING 1)
                 SELECT (SELECT count(*) FROM gone), (SELECT event_id FROM candidates ORDER BY event_id DESC LIMIT 1)",
            )
            .bind(&consumer)
            .bind(after)
            .bind(floor)
            .bind(cutoff)
            .bind(batch)
            .fetch_one(pool)
            .await?;
            pruned += u64::try_from(deleted).unwrap_or(0);
            match last {
                Some(last) => after = last,
                None => break,
            }
        }
    }
    Ok(pruned)
}

/// Removes dead letters resolved before `now() - keep`; open ones stay.
pub async fn prune_dead_letters(pool: &PgPool, keep: Duration, batch: i64, stop: &CancellationToken) -> Result<u64, Error> {
    let mut pruned = 0;
    loop {
        if stop.is_cancelled() {
            return Ok(pruned);
        }
        let deleted = sqlx::query(
            "DELETE FROM dead_letters WHERE ctid IN (
                 SELECT ctid FROM dead_letters
                 WHERE resolved_at IS NOT NULL AND resolved_at < now() - make_interval(secs => $1)
                 LIMIT $2)",
        )
        .bind(keep.as_secs_f64())
        .bind(batch)
        .execute(pool)
        .await?
        .rows_affected();
        pruned += deleted;
        if deleted < u64::try_from(batch).unwrap_or(0) {
            return Ok(pruned);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figment(toml: &str) -> figment::Figment {
        use figment::providers::{Format, Toml};
        figment::Figment::new().merge(Toml::string(toml))
    }

    #[test]
    fn the_v7_floor_sorts_above_earlier_ids_and_below_later_ones() {
        let at = Utc::now();
        let floor = v7_floor(at);
        assert_eq!(floor.get_version_num(), 7);
        let before = Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, (at.timestamp() - 1) as u64, 0));
        let after = Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, (at.timestamp() + 1) as u64, 0));
        assert!(before < floor, "{before} < {floor}");
        assert!(floor < after, "{floor} < {after}");
    }

    #[test]
    fn the_default_keep_is_longer_than_the_default_horizon_and_a_shorter_one_is_refused_by_name() {
        let horizon = dedup_horizon(&NatsConfig::default(), &ConsumerConfig::default());
        // 120 + 30 × 5 + (0.1 + 1 + 5 + 15 + 15) + 3600
        assert_eq!(horizon, Duration::from_millis(3_906_100));
        HousekeepingSettings::default().check(horizon).unwrap();
        let short = HousekeepingSettings { inbox_keep_hours: 1, ..HousekeepingSettings::default() };
        let err = short.check(horizon).unwrap_err().to_string();
        assert!(err.contains("housekeeping.inbox_keep_hours") && err.contains("at least 2 h"), "{err}");
        let err = HousekeepingSettings { dead_letter_keep_days: 0, ..HousekeepingSettings::default() }.check(horizon).unwrap_err();
        assert!(err.to_string().contains("housekeeping.dead_letter_keep_days"), "{err}");
    }

    #[test]
    fn the_section_is_read_from_the_config_and_checked_against_its_horizon() {
        let config = Config::from_figment(
            "intake",
            figment("[housekeeping]\ninbox_keep_hours = 3\n[consumer]\norder_horizon_secs = 10800\n"),
        )
        .unwrap();
        let err = Housekeeper::from_config(&config).unwrap_err().to_string();
        assert!(err.contains("housekeeping.inbox_keep_hours"), "{err}");
        let config = Config::from_figment(
            "intake",
            figment("[housekeeping]\ninbox_keep_hours = 3\n"),
        )
        .unwrap();
        assert_eq!(Housekeeper::from_config(&config).unwrap().settings.inbox_keep_hours, 3);
    }
}
