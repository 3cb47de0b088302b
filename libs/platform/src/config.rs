//! Typed, layered configuration: defaults → TOML file → `YUETAN_…`
//! environment variables (`YUETAN_DATABASE__URL`, `YUETAN_NATS__URL`, …: a
//! double underscore separates section and key). Validated once at load, so a
//! running service never meets a bad value. Secrets are wrapped in [`Secret`],
//! whose `Debug` prints nothing of them.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::auth::AuthConfig;
use crate::objects::ObjectsConfig;
use crate::pii::PiiConfig;
use crate::error::Error;

/// A value that must never appear in logs or `Debug` output.
#[derive(Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is handed to a client library.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Everything a service needs to start.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Config {
    /// The service this process runs ("intake", …, or "all"); set by the loader.
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub grpc: GrpcConfig,
    #[serde(default)]
    pub database: DatabaseConfig,
    #[serde(default)]
    pub nats: NatsConfig,
    #[serde(default)]
    pub outbox: OutboxConfig,
    #[serde(default)]
    pub consumer: ConsumerConfig,
    #[serde(default)]
    pub timers: TimerConfig,
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    #[serde(default)]
    pub auth: AuthConfig,
    /// Keys for personal identifiers; required by services that store them.
    #[serde(default)]
    pub pii: PiiConfig,
    /// Where evidence and documents are stored.
    #[serde(default)]
    pub objects: ObjectsConfig,
    #[serde(default)]
    pub calendar: CalendarConfig,
}

/// `[calendar]`: the State Council holiday data (R-TIME-1).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct CalendarConfig {
    /// A holidays TOML file (the format of `libs/calendar/data/holidays.toml`)
    /// to use instead of the data built into the binary; `yuetan serve`
    /// reads it again on SIGHUP, so a new year's notice needs no rebuild.
    pub holidays_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct GrpcConfig {
    /// Address to listen on; port 0 picks a free port (tests).
    pub listen: SocketAddr,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        Self { listen: SocketAddr::from(([127, 0, 0, 1], 50051)) }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct DatabaseConfig {
    /// `postgres://user:password@host:port/db`; may carry a password.
    pub url: Secret,
    /// The service's own schema; defaults to the service name.
    pub schema: Option<String>,
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: Secret::new("postgres://postgres@127.0.0.1:5432/yuetan"),
            schema: None,
            max_connections: 16,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct NatsConfig {
    pub url: String,
    /// JetStream stream name (`YUETAN`).
    pub stream: String,
    /// Subject prefix (`yuetan.ev`); the stream captures `<prefix>.>`.
    pub subject_prefix: String,
    /// Stream replicas: 1 on one machine, 3 in a provincial cluster.
    pub replicas: usize,
    /// JetStream publish deduplication window (on `Nats-Msg-Id`).
    pub duplicate_window_secs: u64,
}

impl Default for NatsConfig {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".into(),
            stream: "YUETAN".into(),
            subject_prefix: "yuetan.ev".into(),
            replicas: 1,
            duplicate_window_secs: 120,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct OutboxConfig {
    /// Rows published per round trip.
    pub batch: i64,
    /// Fallback poll when no NOTIFY arrives (a lost notification, a restart).
    pub poll_interval_ms: u64,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self { batch: 256, poll_interval_ms: 250 }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct ConsumerConfig {
    /// Failed handler attempts before an event goes to the dead-letter
    /// table. Counted by the runner: redeliveries after a crash and while an
    /// event waits for its predecessor do not count (see `order_horizon_secs`).
    pub max_deliver: i64,
    /// How long an event may wait for its case's previous version (the
    /// ordering guard) before it is dead-lettered naming the missing one.
    pub order_horizon_secs: u64,
    /// How long JetStream waits for an ack before redelivering.
    pub ack_wait_secs: u64,
    /// NAK delays by delivery attempt (the last repeats).
    pub backoff_ms: Vec<u64>,
    /// Parallel lanes; events of one case always share a lane (order). Few
    /// lanes make larger batches (fewer commits): 2 measured best on the
    /// 2-core machine (docs/benchmarks.md); raise it when handlers wait on
    /// slow I/O.
    pub lanes: usize,
    /// Most events a lane applies in one transaction (one savepoint each).
    pub batch: usize,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            max_deliver: 5,
            order_horizon_secs: 3600,
            ack_wait_secs: 30,
            backoff_ms: vec![100, 1000, 5000, 15000],
            lanes: 2,
            batch: 64,
        }
    }
}

impl ConsumerConfig {
    pub fn ack_wait(&self) -> Duration {
        Duration::from_secs(self.ack_wait_secs)
    }

    pub fn order_horizon(&self) -> Duration {
        Duration::from_secs(self.order_horizon_secs)
    }

    /// The NAK delay after the `delivered`-th failed attempt (1-based).
    pub fn backoff(&self, delivered: i64) -> Duration {
        let index = usize::try_from(delivered.max(1) - 1).unwrap_or(0);
        let ms = self.backoff_ms.get(index).or(self.backoff_ms.last()).copied().unwrap_or(1000);
        Duration::from_millis(ms)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct TimerConfig {
    pub poll_interval_ms: u64,
    /// Timers claimed per sweep transaction.
    pub batch: i64,
    /// Delay before a timer whose handler failed is tried again.
    pub retry_after_secs: u64,
}

impl Default for TimerConfig {
    fn default() -> Self {
        Self { poll_interval_ms: 500, batch: 100, retry_after_secs: 30 }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable, for a terminal.
    Pretty,
    /// One JSON object per line, for production log shipping.
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct TelemetryConfig {
    pub format: LogFormat,
    /// `tracing` filter directive, e.g. `info,yuetan_platform=debug`.
    pub filter: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self { format: LogFormat::Pretty, filter: "info".into() }
    }
}

impl Config {
    /// Loads the configuration of `service`: defaults, then `file` (if
    /// given), then `YUETAN_…` environment variables; then validates it.
    pub fn load(service: &str, file: Option<&Path>) -> Result<Config, Error> {
        let mut figment = Figment::from(Serialized::defaults(Config::defaults()));
        if let Some(file) = file {
            if !file.is_file() {
                return Err(Error::invalid("config", format!("file {} does not exist", file.display())));
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment.merge(Env::prefixed("YUETAN_").split("__"));
        Config::from_figment(service, figment)
    }

    /// Builds a configuration from an explicit figment (tests pass their
    /// values in this way and never touch the process environment).
    pub fn from_figment(service: &str, figment: Figment) -> Result<Config, Error> {
        let mut config: Config = figment.extract().map_err(|err| {
            let field = err.path.join(".");
            Error::invalid(if field.is_empty() { "config".to_string() } else { field }, err.kind.to_string())
        })?;
        config.service = service.to_string();
        config.validate()?;
        Ok(config)
    }

    fn defaults() -> Config {
        Config {
            service: String::new(),
            grpc: GrpcConfig::default(),
            database: DatabaseConfig::default(),
            nats: NatsConfig::default(),
            outbox: OutboxConfig::default(),
            consumer: ConsumerConfig::default(),
            timers: TimerConfig::default(),
            telemetry: TelemetryConfig::default(),
            auth: AuthConfig::default(),
            pii: PiiConfig::default(),
            objects: ObjectsConfig::default(),
            calendar: CalendarConfig::default(),
        }
    }

    /// The PostgreSQL schema of this service.
    pub fn schema(&self) -> String {
        self.database.schema.clone().unwrap_or_else(|| self.service.replace('-', "_"))
    }

    /// Checks every value a service relies on; errors name the field.
    pub fn validate(&self) -> Result<(), Error> {
        let url = self.database.url.expose();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(Error::invalid("database.url", "must start with postgres://"));
        }
        if self.database.max_connections == 0 {
            return Err(Error::invalid("database.max_connections", "must be at least 1"));
        }
        if !self.service.is_empty() || self.database.schema.is_some() {
            validate_identifier("database.schema", &self.schema())?;
        }
        if !self.nats.url.starts_with("nats://") && !self.nats.url.starts_with("tls://") {
            return Err(Error::invalid("nats.url", "must start with nats:// or tls://"));
        }
        if self.nats.stream.is_empty() || self.nats.stream.contains(['.', ' ', '*', '>']) {
            return Err(Error::invalid("nats.stream", "must be a non-empty name without '.', ' ', '*', '>'"));
        }
        if self.nats.subject_prefix.is_empty() || self.nats.subject_prefix.contains(['*', '>', ' ']) {
            return Err(Error::invalid("nats.subject_prefix", "must be a non-empty subject without wildcards"));
        }
        if !(1..=5).contains(&self.nats.replicas) {
            return Err(Error::invalid("nats.replicas", "must be between 1 and 5"));
        }
        if self.outbox.batch < 1 {
            return Err(Error::invalid("outbox.batch", "must be at least 1"));
        }
        if self.consumer.max_deliver < 1 {
            return Err(Error::invalid("consumer.max_deliver", "must be at least 1"));
        }
        if self.consumer.order_horizon_secs == 0 {
            return Err(Error::invalid("consumer.order_horizon_secs", "must be at least 1"));
        }
        if self.consumer.lanes == 0 {
            return Err(Error::invalid("consumer.lanes", "must be at least 1"));
        }
        if self.consumer.batch == 0 {
            return Err(Error::invalid("consumer.batch", "must be at least 1"));
        }
        if self.consumer.backoff_ms.is_empty() {
            return Err(Error::invalid("consumer.backoff_ms", "must list at least one delay"));
        }
        if self.timers.batch < 1 {
            return Err(Error::invalid("timers.batch", "must be at least 1"));
        }
        Ok(())
    }
}

/// A PostgreSQL identifier we are willing to interpolate into SQL.
pub fn validate_identifier(field: &str, value: &str) -> Result<(), Error> {
    let mut chars = value.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !first_ok || !rest_ok || value.len() > 63 {
        return Err(Error::invalid(field, "must be a lowercase identifier ([a-z_][a-z0-9_]*, at most 63 characters)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figment(toml: &str) -> Figment {
        Figment::from(Serialized::defaults(Config::defaults())).merge(Toml::string(toml))
    }

    #[test]
    fn file_values_override_defaults_and_schema_defaults_to_the_service() {
        let config = Config::from_figment("intake", figment("[nats]\nurl = \"nats://10.0.0.1:4222\"\n")).unwrap();
        assert_eq!(config.nats.url, "nats://10.0.0.1:4222");
        assert_eq!(config.nats.stream, "YUETAN");
        assert_eq!(config.schema(), "intake");
    }

    #[test]
    fn a_bad_value_is_rejected_naming_its_field() {
        let err = Config::from_figment("intake", figment("[database]\nurl = \"mysql://x\"\n")).unwrap_err();
        assert!(err.to_string().contains("database.url"), "{err}");
        let err = Config::from_figment("intake", figment("[consumer]\nmax_deliver = \"many\"\n")).unwrap_err();
        assert!(err.to_string().contains("consumer.max_deliver"), "{err}");
        let err = Config::from_figment("intake", figment("[database]\nschema = \"Robert'); drop\"\n")).unwrap_err();
        assert!(err.to_string().contains("database.schema"), "{err}");
    }

    #[test]
    fn debug_output_never_contains_the_database_password() {
        let config =
            Config::from_figment("intake", figment("[database]\nurl = \"postgres://u:s3cr3t-pw@db/yuetan\"\n")).unwrap();
        let printed = format!("{config:?}");
        assert!(!printed.contains("s3cr3t-pw"), "{printed}");
    }

    #[test]
    fn backoff_repeats_its_last_delay() {
        let consumer = ConsumerConfig { backoff_ms: vec![10, 20], ..ConsumerConfig::default() };
        assert_eq!(consumer.backoff(1), Duration::from_millis(10));
        assert_eq!(consumer.backoff(2), Duration::from_millis(20));
        assert_eq!(consumer.backoff(9), Duration::from_millis(20));
    }
}
