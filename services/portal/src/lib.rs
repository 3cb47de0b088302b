//! The portal (`yuetan-portal`): the party's side of service of documents
//! (送达, LAW.md §3) and the delivery providers' callbacks, over plain HTTP
//! (axum), server-rendered Chinese pages that need no JavaScript.
//!
//! Parties never hold officer tokens: scheduling sends them a signed,
//! expiring, single-purpose link (`yuetan_platform::links`); the portal
//! verifies it and lets them view and download the document and confirm its
//! receipt, or sign the interview record. Through a link of purpose
//! `report` the party submits the rectification report (整改报告) with its
//! proofs (`report.rs`); through a link of purpose `rate` the party rates
//! the interview, anonymously (`rating.rs`). The SMS and e-government providers report
//! deliveries here.
//! Every accepted open, confirmation and callback is one transaction of the
//! portal's own schema `portal`: its row, its outbox event and its audit
//! row (`flow.rs`); the answer goes out only after the commit. See
//! docs/portal.md.

pub mod callbacks;
pub mod config;
pub mod flow;
pub mod rating;
pub mod report;
pub mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use yuetan_platform::bus::Bus;
use yuetan_platform::clock::SharedClock;
use yuetan_platform::links::LinkSigner;
use yuetan_platform::objects::Objects;
use yuetan_platform::outbox::{Outbox, Relay};
use yuetan_platform::pii::PiiVault;
use yuetan_platform::{db, Config, Error};

pub use config::PortalConfig;

pub const SERVICE: &str = "portal";

/// What every handler works with.
#[derive(Debug)]
pub struct State {
    pub pool: PgPool,
    pub outbox: Outbox,
    pub clock: SharedClock,
    /// Seals the evidence (client address, user agent) and SMS reports.
    pub vault: PiiVault,
    pub signer: LinkSigner,
    pub objects: Objects,
    pub portal: PortalConfig,
}

/// A running portal: its state and background tasks (the outbox relay).
pub struct Portal {
    pub state: Arc<State>,
    pub tasks: Vec<JoinHandle<()>>,
    shutdown: CancellationToken,
}

impl Portal {
    /// Connects, migrates schema `portal` and starts the outbox relay; it
    /// stops on `shutdown`. Needs `[links]`, `[pii]` and `[objects]` of the
    /// platform configuration and the `[portal]` section.
    pub async fn start(config: &Config, portal: &PortalConfig, clock: SharedClock, shutdown: CancellationToken) -> Result<Portal, Error> {
        portal.validate(config)?;
        let signer = LinkSigner::new(&config.links)?;
        let vault = PiiVault::new(&config.pii)?;
        let objects = Objects::new(&config.objects)?;
        let (pool, schema) = db::open_service(config, SERVICE, flow::migrations()).await?;
        let bus = Bus::connect(&config.nats).await?;
        let state = Arc::new(State {
            pool: pool.clone(),
            outbox: Outbox::new(&config.nats.subject_prefix, SERVICE),
            clock,
            vault,
            signer,
            objects,
            portal: portal.clone(),
        });
        let relay = Relay::new(
            pool,
            bus,
            schema,
            config.outbox.batch,
            Duration::from_millis(config.outbox.poll_interval_ms),
        );
        let tasks = vec![
            tokio::spawn(relay.run(shutdown.clone())),
            tokio::spawn(yuetan_platform::housekeeping::Housekeeper::from_config(config)?.run(state.pool.clone(), state.clock.clone(), shutdown.clone())),
            tokio::spawn(yuetan_platform::anchors::Anchorer::from_config(config, SERVICE)?.run(state.pool.clone(), state.clock.clone(), shutdown.clone())),
        ];
        Ok(Portal { state, tasks, shutdown })
    }

    /// The HTTP routes (docs/portal.md). Serve it with connection info
    /// (`into_make_service_with_connect_info::<SocketAddr>`, as [`Portal::serve`]
    /// does), or the client address is recorded as unknown.
    pub fn router(&self) -> axum::Router {
        web::router(self.state.clone())
    }

    /// Serves the routes on `listener` until the portal's shutdown.
    pub async fn serve(&self, listener: TcpListener) -> std::io::Result<()> {
        let shutdown = self.shutdown.clone();
        axum::serve(listener, self.router().into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
    }

    /// Binds `[portal] listen` and serves in a task: the bound address (port
    /// 0 picks one) and the task, which ends at the portal's shutdown.
    pub async fn listen(&self) -> Result<(SocketAddr, JoinHandle<()>), Error> {
        let listener = TcpListener::bind(self.state.portal.listen)
            .await
            .map_err(|err| Error::Unavailable(format!("portal.listen {}: {err}", self.state.portal.listen)))?;
        let addr = listener.local_addr().map_err(|err| Error::Internal(err.to_string()))?;
        let shutdown = self.shutdown.clone();
        let router = self.router();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(async move { shutdown.cancelled().await })
                .await;
            if let Err(err) = served {
                tracing::error!(error = %err, "portal server stopped");
            }
        });
        tracing::info!(%addr, "portal listening");
        Ok((addr, task))
    }
}
