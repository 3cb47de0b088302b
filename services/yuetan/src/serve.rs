//! `yuetan serve <service>|all`: one service, or all of them in one process
//! (a small county). Runs the gRPC server (health, reflection, `WhoAmI` and
//! the services' APIs), each service's outbox relay, timer sweeper and event
//! consumers, until SIGINT or SIGTERM; in-flight calls finish, then the
//! background tasks stop.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio_util::sync::CancellationToken;
use yuetan_platform::auth::Verifier;
use yuetan_platform::bus::Bus;
use yuetan_platform::outbox::Relay;
use yuetan_calendar::{Calendar, SharedCalendar};
use yuetan_intake::Intake;
use yuetan_platform::clock::SharedClock;
use yuetan_review::Review;
use yuetan_rectification::Rectification;
use yuetan_scheduling::Scheduling;
use yuetan_supervision::Supervision;
use yuetan_portal::{Portal, PortalConfig};
use yuetan_console::config::ConsoleConfig;
use yuetan_console::Console;
use yuetan_platform::server::{self, Services};
use yuetan_platform::{db, Config, SystemClock};

/// Services that exist today. The business services arrive with their issues.
const AVAILABLE: &[&str] = &["all", "platform", "intake", "review", "scheduling", "rectification", "supervision", "portal", "console"];
const PLANNED: &[&str] = &[];

#[derive(Debug, clap::Args)]
pub struct Args {
    /// `all`, or one service name.
    service: String,
}

pub async fn run(config_file: Option<&Path>, args: Args) -> anyhow::Result<ExitCode> {
    let service = args.service.as_str();
    if PLANNED.contains(&service) {
        bail!("service `{service}` is not built yet; available: {}", AVAILABLE.join(", "));
    }
    if !AVAILABLE.contains(&service) {
        bail!("unknown service `{service}`; available: {}", AVAILABLE.join(", "));
    }
    let config = Config::load(service, config_file)?;
    let _telemetry = yuetan_platform::telemetry::init(service, &config.telemetry)?;
    let verifier = Arc::new(Verifier::new(&config.auth).context("auth configuration")?);
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    // The background tasks stop on `background`, after the server has drained.
    let background = CancellationToken::new();
    let mut tasks = Vec::new();
    // GetStatus reports the open dead letters of every schema (issue 16).
    let mut services = Services::new(service, verifier)
        .with_status_pool(yuetan_platform::deadletter::status_pool(config.database.url.expose())?);

    if service == "platform" || service == "all" {
        // `all` keeps the platform's own tables in the `platform` schema;
        // migrated as the owner role when `database.owner_url` is set.
        let (pool, schema) = db::open_service(&config, "platform", db::platform_migrations()).await?;
        let bus = Bus::connect(&config.nats).await?;
        let relay = Relay::new(pool, bus, schema, config.outbox.batch, Duration::from_millis(config.outbox.poll_interval_ms));
        tasks.push(tokio::spawn(relay.run(background.clone())));
    }
    let runs = |name: &str| service == name || service == "all";
    if runs("intake") || runs("review") || runs("scheduling") || runs("rectification") || runs("supervision") {
        // One clock and one calendar for every service of the process: a
        // SIGHUP reload reaches them all.
        let clock: SharedClock = Arc::new(SystemClock);
        let calendar = holiday_calendar(&config)?;
        if runs("intake") {
            let intake = Intake::start(&config, clock.clone(), calendar.clone(), background.clone())
                .await
                .context("starting intake")?;
            services = services.add_authenticated(intake.grpc());
            tasks.extend(intake.tasks);
        }
        if runs("review") {
            let review = Review::start(&config, clock.clone(), calendar.clone(), background.clone()).await.context("starting review")?;
            services = services.add_authenticated(review.grpc());
            tasks.extend(review.tasks);
        }
        if runs("scheduling") {
            let scheduling = Scheduling::start(&config, clock.clone(), calendar.clone(), background.clone()).await.context("starting scheduling")?;
            services = services.add_authenticated(scheduling.grpc());
            tasks.extend(scheduling.tasks);
        }
        if runs("rectification") {
            let rectification = Rectification::start(&config, clock.clone(), calendar.clone(), background.clone()).await.context("starting rectification")?;
            services = services.add_authenticated(rectification.grpc());
            tasks.extend(rectification.tasks);
        }
        if runs("supervision") {
            let supervision = Supervision::start(&config, clock, calendar, background.clone()).await.context("starting supervision")?;
            services = services.add_authenticated(supervision.grpc()).add_authenticated(supervision.casefile_grpc());
            tasks.extend(supervision.tasks);
        }
    }
    if runs("portal") {
        // The party's side over HTTP ([portal] listen), beside the gRPC server.
        let settings = PortalConfig::load(config_file, &config).context("[portal] configuration")?;
        let portal = Portal::start(&config, &settings, Arc::new(SystemClock), background.clone()).await.context("starting the portal")?;
        let (addr, server) = portal.listen().await.context("the portal's listener")?;
        println!("yuetan portal serving HTTP on {addr}");
        tasks.push(server);
        tasks.extend(portal.tasks);
    }

    // The officers' console over HTTP ([console] listen): with `serve
    // console`, or with `all` when the configuration has a [console] section.
    if service == "console" || (service == "all" && config.sections.contains_key("console")) {
        let settings = ConsoleConfig::from_config(&config).context("[console] configuration")?;
        let channels = yuetan_console::backend::Channels::from_config(&settings).context("[console] endpoints")?;
        let console = Console::bind(settings, channels, Arc::new(SystemClock), holiday_calendar(&config)?).await.context("starting the console")?;
        println!("yuetan console serving HTTP on http://{}", console.local_addr());
        tasks.push(console.serve(background.clone()));
    }

    // Metrics: the collector over the schemas served here and, with
    // `[metrics] listen`, GET /metrics (docs/operations.md).
    let served: Vec<&str> = AVAILABLE.iter().copied().filter(|name| *name != "all" && *name != "console" && runs(name)).collect();
    tasks.extend(yuetan_platform::metrics::start(&config, &served, background.clone()).await.context("[metrics]")?);

    let listener = server::bind(config.grpc.listen).await?;
    println!("yuetan {service} serving gRPC on {}", listener.local_addr()?);
    services.serve(listener, shutdown.clone()).await?;
    background.cancel();
    for task in tasks {
        let _ = task.await;
    }
    Ok(ExitCode::SUCCESS)
}

/// The holiday calendar the services share: `calendar.holidays_file` if
/// set (reloaded on SIGHUP), else the data built into the binary.
fn holiday_calendar(config: &Config) -> anyhow::Result<SharedCalendar> {
    let Some(path) = config.calendar.holidays_file.clone() else {
        return Ok(SharedCalendar::new(Calendar::builtin()));
    };
    let calendar = SharedCalendar::new(
        Calendar::load(&path).with_context(|| format!("calendar.holidays_file {}", path.display()))?,
    );
    tokio::spawn(reload_calendar_on_hangup(calendar.clone(), path));
    Ok(calendar)
}

/// SIGHUP reloads the holiday file: a new year's State Council notice goes
/// into the file and takes effect without a restart (R-TIME-1). A file that
/// does not load is refused and the calendar in use stays.
async fn reload_calendar_on_hangup(calendar: SharedCalendar, path: std::path::PathBuf) {
    #[cfg(unix)]
    {
        let Ok(mut hangup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else { return };
        while hangup.recv().await.is_some() {
            match calendar.reload_from(&path) {
                Ok(()) => tracing::info!(path = %path.display(), years = ?calendar.current().years(), "holiday calendar reloaded"),
                Err(err) => tracing::error!(path = %path.display(), %err, "holiday calendar not reloaded; the previous data stays"),
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (calendar, path);
}

async fn stop_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => {
                let _ = ctrl_c.await;
                shutdown.cancel();
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutdown signal received");
    shutdown.cancel();
}
