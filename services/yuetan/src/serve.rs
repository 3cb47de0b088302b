//! `yuetan serve <service>|all`: one service, or all of them in one process
//! (a small county). Runs the gRPC server (health, reflection, `WhoAmI` and
//! the service's API) and the outbox relay until SIGINT or SIGTERM.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio_util::sync::CancellationToken;
use yuetan_platform::auth::Verifier;
use yuetan_platform::bus::Bus;
use yuetan_platform::outbox::Relay;
use yuetan_platform::server::{self, Services};
use yuetan_platform::{db, Config};

/// Services that exist today. The business services arrive with their issues.
const AVAILABLE: &[&str] = &["all", "platform"];
const PLANNED: &[&str] = &["intake", "review", "scheduling", "rectification", "supervision"];

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
    // `all` keeps the platform's own tables in the `platform` schema.
    let schema = if service == "all" { "platform".to_string() } else { config.schema() };
    let pool = db::connect(config.database.url.expose(), &schema, config.database.max_connections).await?;
    db::migrate(&pool, db::platform_migrations()).await?;
    let bus = Bus::connect(&config.nats).await?;

    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    let relay = Relay::new(pool.clone(), bus, schema, config.outbox.batch, Duration::from_millis(config.outbox.poll_interval_ms));
    let relay_task = tokio::spawn(relay.run(shutdown.clone()));

    let listener = server::bind(config.grpc.listen).await?;
    println!("yuetan {service} serving gRPC on {}", listener.local_addr()?);
    Services::new(service, verifier).serve(listener, shutdown.clone()).await?;
    shutdown.cancel();
    let _ = relay_task.await;
    Ok(ExitCode::SUCCESS)
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
