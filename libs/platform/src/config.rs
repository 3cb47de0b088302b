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
use crate::links::LinksConfig;
use crate::objects::ObjectsConfig;
use crate::pii::PiiConfig;
use crate::error::Error;
pub use crate::secret::Secret;

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
    /// Client request ids: how long a stored answer is kept for a retry.
    #[serde(default)]
    pub requests: RequestsConfig,
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
    /// `[links]`: keys of the signed links parties use (scheduling signs,
    /// the portal verifies); optional for services that use none.
    #[serde(default)]
    pub links: LinksConfig,
    /// Every other top-level section (`[scheduling]`, `[portal]`, …): a
    /// service's own settings, read with [`Config::section`].
    #[serde(flatten, default)]
    pub sections: std::collections::BTreeMap<String, serde_json::Value>,
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
    /// `postgres://user:password@host:port/db`; may carry a password. The
    /// service runs as this role (the runtime role).
    pub url: Secret,
    /// The migration owner's URL (same database). When set, schemas and
    /// migrations run as this role, which owns every table, and the runtime
    /// role of `url` gets only the rights it needs: on the audit tables it
    /// may read and append through `audit_append`, nothing else
    /// (docs/security.md). Unset (development only), the runtime role owns
    /// everything and could cut the audit log.
    pub owner_url: Option<Secret>,
    /// The service's own schema; defaults to the service name.
    pub schema: Option<String>,
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: Secret::new("postgres://postgres@127.0.0.1:5432/yuetan"),
            owner_url: None,
            schema: None,
            max_connections: 16,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct NatsConfig {
    /// `nats://[user:password@]host:port`; may carry credentials, so it is
    /// a [`Secret`] (printed only through [`crate::secret::redact_url`]).
    pub url: Secret,
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
            url: Secret::new("nats://127.0.0.1:4222"),
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

/// `[requests]`: stored answers to client request ids (sealed; see
/// `requests`). A retry after the window is a new call.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RequestsConfig {
    /// Hours a stored answer is kept before the pruner deletes it (1–720).
    pub replay_window_hours: u64,
}

impl Default for RequestsConfig {
    fn default() -> Self {
        Self { replay_window_hours: 24 }
    }
}

impl RequestsConfig {
    pub fn replay_window(&self) -> Duration {
        Duration::from_secs(self.replay_window_hours * 60 * 60)
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
            requests: RequestsConfig::default(),
            telemetry: TelemetryConfig::default(),
            auth: AuthConfig::default(),
            pii: PiiConfig::default(),
            objects: ObjectsConfig::default(),
            calendar: CalendarConfig::default(),
            links: LinksConfig::default(),
            sections: Default::default(),
        }
    }

    /// A service's own section, e.g. `[scheduling]`, typed; absent means
    /// its defaults. A bad value is an error naming `section.field`.
    pub fn section<T: serde::de::DeserializeOwned + Default>(&self, name: &str) -> Result<T, Error> {
        match self.sections.get(name) {
            None => Ok(T::default()),
            Some(value) => serde_json::from_value(value.clone()).map_err(|err| Error::invalid(name, err.to_string())),
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
        if let Some(owner) = &self.database.owner_url {
            let owner = owner.expose();
            if !(owner.starts_with("postgres://") || owner.starts_with("postgresql://")) {
                return Err(Error::invalid("database.owner_url", "must start with postgres://"));
            }
        }
        if self.database.max_connections == 0 {
            return Err(Error::invalid("database.max_connections", "must be at least 1"));
        }
        if !self.service.is_empty() || self.database.schema.is_some() {
            validate_identifier("database.schema", &self.schema())?;
        }
        let nats_url = self.nats.url.expose();
        if !nats_url.starts_with("nats://") && !nats_url.starts_with("tls://") {
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
        if !(1..=720).contains(&self.requests.replay_window_hours) {
            return Err(Error::invalid("requests.replay_window_hours", "must be between 1 and 720 (30 days)"));
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
        if self.auth.leeway_seconds > crate::auth::MAX_LEEWAY_SECONDS {
            return Err(Error::invalid(
                "auth.leeway_seconds",
                format!("must be at most {} (clock skew, not token lifetime)", crate::auth::MAX_LEEWAY_SECONDS),
            ));
        }
        if self.links.is_configured() {
            crate::links::LinkSigner::new(&self.links)?;
        }
        self.refuse_development_keys_off_loopback()
    }

    /// HS256 tokens and the keys published in `deploy/local/yuetan.toml` let
    /// anyone who has read the repository mint a token or unseal personal
    /// data: they are accepted only on a loopback address.
    fn refuse_development_keys_off_loopback(&self) -> Result<(), Error> {
        if self.grpc.listen.ip().is_loopback() {
            return Ok(());
        }
        let hs256 = self.auth.allow_hs256
            || self.auth.keys.iter().any(|key| key.algorithm == crate::auth::KeyAlgorithm::HS256);
        let published = self.auth.keys.iter().any(|key| key.secret.as_deref() == Some(DEV_HS256_SECRET))
            || self.pii.hash_key.expose() == DEV_PII_HASH_KEY
            || self.pii.keys.iter().any(|key| key.key.expose() == DEV_PII_KEY)
            || self.links.keys.iter().any(|key| key.secret.expose().trim() == crate::links::DEV_LINK_KEY);
        let what = match (hs256, published) {
            (_, true) => "the published development keys of deploy/local/yuetan.toml",
            (true, false) => "HS256 tokens (auth.allow_hs256 or an HS256 key)",
            (false, false) => return Ok(()),
        };
        Err(Error::invalid(
            "grpc.listen",
            format!(
                "{} is not a loopback address, and this configuration uses {what}, which are for local development only: \
                 listen on 127.0.0.1 or configure production keys",
                self.grpc.listen
            ),
        ))
    }
}

/// The keys published in `deploy/local/yuetan.toml` (a test checks they
/// still match the file): refused off loopback.
pub(crate) const DEV_HS256_SECRET: &str = "local-development-secret-not-for-production";
pub(crate) const DEV_PII_HASH_KEY: &str = "xXoijL4mSye+kLrSY3HDGTOhEgAu5J/gFTrY7D+2aiA=";
pub(crate) const DEV_PII_KEY: &str = "mcLDREn8Mvwi2TJoSFG8+8LGRuPsUnheaUpoYTi6doA=";

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
        assert_eq!(config.nats.url.expose(), "nats://10.0.0.1:4222");
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

    /// The configuration `deploy/local/up.sh` runs with.
    const DEV_CONFIG: &str = include_str!("../../../deploy/local/yuetan.toml");

    #[test]
    fn the_published_development_keys_are_the_ones_refused() {
        for key in [DEV_HS256_SECRET, DEV_PII_HASH_KEY, DEV_PII_KEY, crate::links::DEV_LINK_KEY] {
            assert!(DEV_CONFIG.contains(&format!("\"{key}\"")), "deploy/local/yuetan.toml no longer holds {key}");
        }
    }

    #[test]
    fn the_development_config_runs_on_loopback_only() {
        let config = Config::from_figment("all", figment(DEV_CONFIG)).unwrap();
        assert!(config.grpc.listen.ip().is_loopback());
        let ipv6 = figment(DEV_CONFIG).merge(Toml::string("[grpc]\nlisten = \"[::1]:50051\"\n"));
        Config::from_figment("all", ipv6).unwrap();

        let exposed = figment(DEV_CONFIG).merge(Toml::string("[grpc]\nlisten = \"0.0.0.0:50051\"\n"));
        let err = Config::from_figment("all", exposed).unwrap_err().to_string();
        assert!(err.contains("grpc.listen") && err.contains("0.0.0.0:50051"), "{err}");
        assert!(err.contains("published development keys") && err.contains("127.0.0.1"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }

    #[test]
    fn hs256_is_refused_off_loopback_even_with_a_new_secret() {
        let toml = "[grpc]\nlisten = \"10.1.2.3:50051\"\n[auth]\nallow_hs256 = true\n[[auth.keys]]\nkid = \"k\"\n\
                    algorithm = \"HS256\"\nsecret = \"a-fresh-secret-nobody-has-seen-yet-0123456789\"\n";
        let err = Config::from_figment("all", figment(toml)).unwrap_err().to_string();
        assert!(err.contains("grpc.listen") && err.contains("HS256"), "{err}");
        // The same on loopback is development, and accepted.
        let local = toml.replace("10.1.2.3", "127.0.0.1");
        Config::from_figment("all", figment(&local)).unwrap();
    }

    #[test]
    fn published_pii_keys_are_refused_off_loopback_without_hs256() {
        let toml = format!("[grpc]\nlisten = \"0.0.0.0:50051\"\n[pii]\nhash_key = \"{DEV_PII_HASH_KEY}\"\n");
        let err = Config::from_figment("all", figment(&toml)).unwrap_err().to_string();
        assert!(err.contains("published development keys"), "{err}");
        // Production-shaped: no HS256, no published key, any address.
        Config::from_figment("all", figment("[grpc]\nlisten = \"0.0.0.0:50051\"\n")).unwrap();
    }

    #[test]
    fn links_are_optional_checked_when_present_and_the_development_key_stays_on_loopback() {
        assert!(!Config::from_figment("all", figment("")).unwrap().links.is_configured());
        let err = Config::from_figment("all", figment("[links]\ncurrent_key = \"k1\"\n")).unwrap_err().to_string();
        assert!(err.contains("links.current_key"), "{err}");
        let dev = format!(
            "[links]\ncurrent_key = \"dev\"\nbase_url = \"http://127.0.0.1:7400\"\n[[links.keys]]\nid = \"dev\"\nsecret = \"{}\"\n",
            crate::links::DEV_LINK_KEY
        );
        let config = Config::from_figment("all", figment(&dev)).unwrap();
        assert_eq!(config.links.current_key, "dev");
        let exposed = format!("[grpc]\nlisten = \"0.0.0.0:50051\"\n{dev}");
        let err = Config::from_figment("all", figment(&exposed)).unwrap_err().to_string();
        assert!(err.contains("published development keys"), "{err}");
    }

    #[test]
    fn a_leeway_beyond_five_minutes_is_refused_naming_the_field() {
        let err = Config::from_figment("all", figment("[auth]\nleeway_seconds = 315360000\n")).unwrap_err();
        assert!(err.to_string().contains("auth.leeway_seconds"), "{err}");
        Config::from_figment("all", figment("[auth]\nleeway_seconds = 300\n")).unwrap();
    }

    #[test]
    fn the_replay_window_is_a_setting_bounded_to_thirty_days() {
        let config = Config::from_figment("all", figment("[requests]\nreplay_window_hours = 48\n")).unwrap();
        assert_eq!(config.requests.replay_window(), Duration::from_secs(48 * 3600));
        assert_eq!(Config::from_figment("all", figment("")).unwrap().requests.replay_window(), Duration::from_secs(24 * 3600));
        for bad in ["0", "721"] {
            let err = Config::from_figment("all", figment(&format!("[requests]\nreplay_window_hours = {bad}\n"))).unwrap_err();
            assert!(err.to_string().contains("requests.replay_window_hours"), "{err}");
        }
    }

    #[test]
    fn debug_output_never_contains_the_nats_or_owner_password() {
        let config = Config::from_figment(
            "intake",
            figment("[nats]\nurl = \"nats://u:n4ts-pw@nats:4222\"\n[database]\nowner_url = \"postgres://o:own3r-pw@db/y\"\n"),
        )
        .unwrap();
        let printed = format!("{config:?}");
        assert!(!printed.contains("n4ts-pw") && !printed.contains("own3r-pw"), "{printed}");
        let err = Config::from_figment("intake", figment("[database]\nowner_url = \"mysql://x\"\n")).unwrap_err();
        assert!(err.to_string().contains("database.owner_url"), "{err}");
    }
}
