//! The system for tests and benchmarks (in the spirit of zero2prod's
//! `spawn_app`): the services a test asks for, in-process, on the testkit
//! servers, as `yuetan serve all` runs them — one fresh database with each
//! service in its own schema, one JetStream stream, one [`TestClock`] —
//! each on its own gRPC port, with tokens for any officer and waits for
//! events and for the outboxes to drain.
//!
//! ```ignore
//! let sys = yuetan_harness::spawn(&[Service::Intake, Service::Review]).await;
//! let sys = System::builder().at(now).with(Service::Review).polls(Polls::Production).start_on(&stack).await;
//! sys.intake().register_party(req(&proposer(), …)).await?;
//! sys.wait_for_event(|e| e.r#type == "review.review_opened").await;
//! sys.clock.advance(chrono::Duration::days(3));
//! sys.restart(Service::Review).await;   // or kill(…) then start_service(…)
//! sys.stop().await;
//! ```
//!
//! The services it can start are one table in `services.rs`.

mod events;
pub mod floor;
pub mod interview;
pub mod intake;
pub mod rectification;
mod officers;
pub mod review;
pub mod scheduling;
mod services;

use std::any::Any;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use figment::providers::{Format, Toml};
use figment::Figment;
use sqlx::PgPool;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use yuetan_calendar::{Calendar, SharedCalendar};
use yuetan_platform::auth::Verifier;
use yuetan_platform::bus::Bus;
use yuetan_platform::server;
use yuetan_platform::{Config, TestClock};
use yuetan_testkit::Stack;

pub use officers::*;
pub use services::Service;

/// How long the waits of the harness wait before they fail the test.
pub const WAIT: Duration = Duration::from_secs(20);

/// How often the relays and the sweepers poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polls {
    /// Every 50 ms, so tests see events and timers quickly.
    Tests,
    /// The production defaults (relay 250 ms, sweeper 500 ms): the benchmarks.
    Production,
}

/// Starts `services` at the current time on the shared test servers.
pub async fn spawn(services: &[Service]) -> System {
    services.iter().fold(System::builder(), |b, s| b.with(*s)).start().await
}

/// What to start; see [`System::builder`].
#[derive(Debug, Clone)]
pub struct Builder {
    now: Option<DateTime<Utc>>,
    services: Vec<Service>,
    polls: Polls,
    toml: Vec<String>,
}

impl Builder {
    /// The test clock starts at `now` (default: the current time).
    pub fn at(mut self, now: DateTime<Utc>) -> Self {
        self.now = Some(now);
        self
    }

    /// Starts `service` too (in the order asked; the first one's pool is [`System::pool`]).
    pub fn with(mut self, service: Service) -> Self {
        if !self.services.contains(&service) {
            self.services.push(service);
        }
        self
    }

    pub fn polls(mut self, polls: Polls) -> Self {
        self.polls = polls;
        self
    }

    /// TOML merged over the harness's configuration, e.g.
    /// `"[consumer]\nack_wait_secs = 1"`.
    pub fn toml(mut self, toml: &str) -> Self {
        self.toml.push(toml.to_string());
        self
    }

    /// On the servers shared by this test binary.
    pub async fn start(self) -> System {
        self.start_on(yuetan_testkit::stack().await).await
    }

    /// On the given servers (a benchmark starts durable ones).
    pub async fn start_on(self, stack: &Stack) -> System {
        // YUETAN_TEST_LOG=<filter> prints the services' logs (e.g. `sqlx=debug`).
        if let Ok(filter) = std::env::var("YUETAN_TEST_LOG") {
            let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
        }
        let (outbox_poll, timers_poll) = match self.polls {
            Polls::Tests => (50, 50),
            Polls::Production => (250, 500),
        };
        // The services run as a runtime role that can only append to the
        // audit log; their migrations run as the database's owner (issue 16).
        let urls = stack.fresh_database_with_roles().await.expect("a fresh database with its two roles");
        let database_url = urls.runtime.clone();
        let unique = stack.unique_name("");
        let objects_dir = tempfile::tempdir().expect("a folder for objects");
        let toml = format!(
            r#"
[database]
url = "{database_url}"
owner_url = "{owner_url}"
max_connections = 80
[nats]
url = "{nats}"
stream = "T{unique}"
subject_prefix = "t{unique}.ev"
[outbox]
poll_interval_ms = {outbox_poll}
[timers]
poll_interval_ms = {timers_poll}
[auth]
issuer = "{ISSUER}"
audience = "{AUDIENCE}"
allow_hs256 = true
[[auth.keys]]
kid = "test"
algorithm = "HS256"
secret = "{SECRET}"
[pii]
current_key = "k1"
hash_key = "xXoijL4mSye+kLrSY3HDGTOhEgAu5J/gFTrY7D+2aiA="
[[pii.keys]]
id = "k1"
key = "mcLDREn8Mvwi2TJoSFG8+8LGRuPsUnheaUpoYTi6doA="
[objects]
root = "{objects}"
[links]
current_key = "dev"
base_url = "http://127.0.0.1:9"
[[links.keys]]
id = "dev"
secret = "{link_key}"
[scheduling]
lead_working_days = 1
[[scheduling.seal_keys]]
organ = "*"
id = "test-seal"
secret = "{seal_key}"
[supervision]
archive_key_id = "test-archive"
archive_key = "{archive_key}"
archive_delay_seconds = 60
"#,
            archive_key = TEST_ARCHIVE_KEY,
            link_key = yuetan_platform::links::DEV_LINK_KEY,
            seal_key = TEST_SEAL_KEY,
            nats = stack.nats_url,
            owner_url = urls.owner,
            objects = objects_dir.path().display(),
        );
        let mut figment = Figment::new().merge(Toml::string(&toml));
        for extra in &self.toml {
            figment = figment.merge(Toml::string(extra));
        }
        // "all", as `yuetan serve all`: each service takes its own name as its schema.
        let config = Config::from_figment("all", figment).expect("the harness's configuration");
        let bus = Bus::connect(&config.nats).await.expect("the bus");
        let verifier = Arc::new(Verifier::new(&config.auth).expect("the token verifier"));
        let mut sys = System {
            clock: Arc::new(TestClock::new(self.now.unwrap_or_else(Utc::now))),
            calendar: SharedCalendar::new(Calendar::builtin()),
            config,
            bus,
            database_url,
            owner_database_url: urls.owner,
            admin_database_url: urls.admin,
            shutdown: CancellationToken::new(),
            objects_dir,
            verifier,
            slots: Vec::new(),
            log: Default::default(),
        };
        for service in self.services {
            sys.start_service(service).await;
        }
        sys
    }
}

/// The archive key that signs the case files' manifests in tests (base64
/// of a 32-byte Ed25519 seed); the archive is assembled 60 s after a file
/// closes (on the test clock).
pub const TEST_ARCHIVE_KEY: &str = "dGVzdC1hcmNoaXZlLWtleS1mb3ItdGhlLWhhcm5lc3M=";

/// The seal key of every organ in tests (base64 of a 32-byte Ed25519 seed).
pub const TEST_SEAL_KEY: &str = "dGVzdC1zZWFsLWtleS1mb3ItdGhlLWhhcm5lc3MtMDE=";

/// A running system. Its services stop on [`System::stop`] (or when
/// `shutdown` is cancelled).
pub struct System {
    /// The configuration every service was started with (service `all`).
    pub config: Config,
    /// The one clock of every service: `set` and `advance` it.
    pub clock: Arc<TestClock>,
    pub calendar: SharedCalendar,
    /// A connection to the system's stream.
    pub bus: Bus,
    /// The services' runtime role's URL (`database.url`).
    pub database_url: String,
    /// The migration owner's URL (`database.owner_url`): for a test or a
    /// benchmark that needs tables of its own.
    pub owner_database_url: String,
    /// The superuser's URL, for a test that must look behind both roles.
    pub admin_database_url: String,
    /// Cancelling it stops everything.
    pub shutdown: CancellationToken,
    pub objects_dir: tempfile::TempDir,
    pub(crate) verifier: Arc<Verifier>,
    slots: Vec<Slot>,
    log: tokio::sync::Mutex<events::Log>,
}

/// A service of the system: where it listens, and its instance if running.
struct Slot {
    service: Service,
    addr: SocketAddr,
    channel: Channel,
    live: Option<Live>,
}

struct Live {
    pool: PgPool,
    handle: Arc<dyn Any + Send + Sync>,
    tasks: Vec<JoinHandle<()>>,
    server: JoinHandle<()>,
    stop: CancellationToken,
}

/// Another instance of a service on the same database, stream and clock
/// (a second replica), on its own port.
pub struct Replica {
    pub channel: Channel,
    pub tasks: Vec<JoinHandle<()>>,
    pub handle: Arc<dyn Any + Send + Sync>,
    pub stop: CancellationToken,
    server: JoinHandle<()>,
}

impl Replica {
    /// The service's own value (`Intake`, `Review`, …), its tasks taken out.
    pub fn handle<T: Any + Send + Sync>(&self) -> Arc<T> {
        self.handle.clone().downcast::<T>().unwrap_or_else(|_| panic!("the replica is not a {}", std::any::type_name::<T>()))
    }

    pub async fn stop(self) {
        self.stop.cancel();
        join(self.server, self.tasks).await;
    }
}

/// The portal's callback secrets in tests (the provider peers sign with them).
pub const PORTAL_SMS_SECRET: &str = "sms-callback-secret-for-tests-0001";
pub const PORTAL_EGOV_APP_ID: &str = "yuetan-test";
pub const PORTAL_EGOV_SECRET: &str = "egov-callback-secret-for-tests-001";
/// Janus's event handler authenticates to the portal with these.
pub const PORTAL_JANUS_USER: &str = "janus";
pub const PORTAL_JANUS_PASSWORD: &str = "janus-events-secret-for-tests-01";

/// A portal started on a system (its own schema, the system's stream and clock).
pub struct RunningPortal {
    pub addr: SocketAddr,
    pub portal: yuetan_portal::Portal,
    pub server: JoinHandle<()>,
}

impl RunningPortal {
    /// `http://127.0.0.1:port`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl System {
    /// Starts the party portal on a free port, with the test callback secrets.
    pub async fn start_portal(&self) -> RunningPortal {
        let toml = format!(
            "[portal]\nlisten = \"127.0.0.1:0\"\ndivision = \"620102\"\nsms_callback_secret = \"{PORTAL_SMS_SECRET}\"\negov_app_id = \"{PORTAL_EGOV_APP_ID}\"\negov_secret = \"{PORTAL_EGOV_SECRET}\"\njanus_event_user = \"{PORTAL_JANUS_USER}\"\njanus_event_password = \"{PORTAL_JANUS_PASSWORD}\"\n"
        );
        let figment = Figment::new().merge(Toml::string(&toml));
        let settings = yuetan_portal::PortalConfig::from_figment(&figment, &self.config).expect("the portal's test settings");
        let portal = yuetan_portal::Portal::start(&self.config, &settings, self.clock.clone(), self.shutdown.child_token()).await.expect("the portal starts");
        let (addr, server) = portal.listen().await.expect("the portal listens");
        RunningPortal { addr, portal, server }
    }

    /// Sets `[scheduling]` settings (channels, fonts…) before the service starts.
    pub fn set_scheduling(&mut self, settings: serde_json::Value) {
        let entry = self.config.sections.entry("scheduling".to_string()).or_insert_with(|| serde_json::json!({}));
        if let (Some(map), Some(extra)) = (entry.as_object_mut(), settings.as_object()) {
            for (k, v) in extra {
                map.insert(k.clone(), v.clone());
            }
        }
    }

    pub fn builder() -> Builder {
        Builder { now: None, services: Vec::new(), polls: Polls::Tests, toml: Vec::new() }
    }

    fn slot(&self, service: Service) -> &Slot {
        self.slots.iter().find(|s| s.service == service).unwrap_or_else(|| panic!("{} was not started", service.name()))
    }

    fn live(&self, service: Service) -> &Live {
        self.slot(service).live.as_ref().unwrap_or_else(|| panic!("{} is stopped", service.name()))
    }

    /// The services started so far that are running, in start order.
    pub fn running(&self) -> Vec<Service> {
        self.slots.iter().filter(|s| s.live.is_some()).map(|s| s.service).collect()
    }

    /// The channel to `service`'s gRPC port (kept across restarts).
    pub fn channel(&self, service: Service) -> Channel {
        self.slot(service).channel.clone()
    }

    /// The address `service` listens on.
    pub fn addr(&self, service: Service) -> SocketAddr {
        self.slot(service).addr
    }

    /// The pool of the first service started (its schema on the search path).
    pub fn pool(&self) -> &PgPool {
        let first = self.slots.first().expect("no service started");
        self.pool_of(first.service)
    }

    /// `service`'s pool (its schema on the search path).
    pub fn pool_of(&self, service: Service) -> &PgPool {
        &self.live(service).pool
    }

    /// `service`'s own value (`Intake`, `Review`, …), its tasks taken out:
    /// `sys.handle::<yuetan_intake::Intake>(Service::Intake).state`.
    pub fn handle<T: Any + Send + Sync>(&self, service: Service) -> Arc<T> {
        self.live(service)
            .handle
            .clone()
            .downcast::<T>()
            .unwrap_or_else(|_| panic!("{} is not a {}", service.name(), std::any::type_name::<T>()))
    }

    /// Starts `service` (again): on the port it had if it ran before.
    pub async fn start_service(&mut self, service: Service) {
        let index = self.slots.iter().position(|s| s.service == service);
        if let Some(i) = index {
            assert!(self.slots[i].live.is_none(), "{} is already running", service.name());
        }
        let stop = self.shutdown.child_token();
        let started = service.start(self, stop.clone()).await;
        let listener = match index {
            Some(i) => rebind(self.slots[i].addr).await,
            None => server::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("a free port"),
        };
        let addr = listener.local_addr().expect("the listener's address");
        let server = tokio::spawn(serve(service, started.grpc, listener, stop.clone()));
        let live = Live { pool: started.pool, handle: started.handle, tasks: started.tasks, server, stop };
        match index {
            Some(i) if self.slots[i].addr == addr => self.slots[i].live = Some(live),
            Some(i) => self.slots[i] = Slot { service, addr, channel: channel(addr), live: Some(live) },
            None => self.slots.push(Slot { service, addr, channel: channel(addr), live: Some(live) }),
        }
    }

    /// Stops `service` as SIGTERM does: in-flight calls finish, its
    /// background tasks stop at their next turn; the others keep running.
    pub async fn stop_service(&mut self, service: Service) {
        let live = self.take_live(service);
        live.stop.cancel();
        join(live.server, live.tasks).await;
        close(live.pool).await;
    }

    /// Stops `service` as SIGKILL would: its background tasks (consumers,
    /// relay, sweeper) are dropped wherever they are, so an event delivered
    /// but not yet acknowledged comes back after the consumer's ack wait,
    /// and an open transaction rolls back.
    pub async fn kill(&mut self, service: Service) {
        let live = self.take_live(service);
        for task in &live.tasks {
            task.abort();
        }
        live.stop.cancel();
        live.server.abort();
        join(live.server, live.tasks).await;
        close(live.pool).await;
    }

    /// Stops `service` and starts it again on the same database and port.
    pub async fn restart(&mut self, service: Service) {
        self.stop_service(service).await;
        self.start_service(service).await;
    }

    fn take_live(&mut self, service: Service) -> Live {
        let slot = self.slots.iter_mut().find(|s| s.service == service).unwrap_or_else(|| panic!("{} was not started", service.name()));
        slot.live.take().unwrap_or_else(|| panic!("{} is already stopped", service.name()))
    }

    /// Another instance of `service` (a replica) on its own port; it stops
    /// with the system or on [`Replica::stop`].
    pub async fn replica(&self, service: Service) -> Replica {
        let stop = self.shutdown.child_token();
        let started = service.start(self, stop.clone()).await;
        let listener = server::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("a free port");
        let addr = listener.local_addr().expect("the listener's address");
        let server = tokio::spawn(serve(service, started.grpc, listener, stop.clone()));
        Replica { channel: channel(addr), tasks: started.tasks, handle: started.handle, stop, server }
    }

    /// Stops every service and waits for their tasks (5 s each at most).
    pub async fn stop(self) {
        self.shutdown.cancel();
        for slot in self.slots {
            if let Some(live) = slot.live {
                join(live.server, live.tasks).await;
            }
        }
    }
}

async fn serve(service: Service, grpc: server::Services, listener: tokio::net::TcpListener, stop: CancellationToken) {
    if let Err(err) = grpc.serve(listener, stop).await {
        eprintln!("the gRPC server of {} stopped: {err}", service.name());
    }
}

/// Binds the address a stopped service had, so clients made before the
/// restart reach it again; another free port if it stays taken.
async fn rebind(addr: SocketAddr) -> tokio::net::TcpListener {
    for _ in 0..40 {
        if let Ok(listener) = server::bind(addr).await {
            return listener;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("a free port")
}

/// Closes a stopped service's connections, so its session locks and
/// listeners end as a stopped process's would.
async fn close(pool: PgPool) {
    let _ = tokio::time::timeout(Duration::from_secs(5), pool.close()).await;
}

fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}")).expect("a valid address").connect_lazy()
}

async fn join(server: JoinHandle<()>, tasks: Vec<JoinHandle<()>>) {
    for task in std::iter::once(server).chain(tasks) {
        let abort = task.abort_handle();
        if tokio::time::timeout(Duration::from_secs(5), task).await.is_err() {
            abort.abort();
        }
    }
}
