//! The officers' console (issue 15): server-rendered Chinese pages over the
//! services' gRPC APIs. It owns no case state and decides nothing a service
//! decides: each page makes a short-lived token for the signed-in officer,
//! calls the services, and renders their answers — a refusal as a Chinese
//! sentence next to the field it names, a forbidden case as the 403 page.
//!
//! - `config.rs` — `[console]`;
//! - `session.rs` — signed `HttpOnly`, `SameSite=Strict` cookies, CSRF;
//! - `oidc.rs` — sign-in with the province's identity provider (code + PKCE);
//! - `backend.rs` — the services' clients with the officer's token;
//! - `web.rs` — routes, security headers, sign-in and sign-out;
//! - `pages/` — My work, Case (and its action forms), New clue, Board, Administration;
//! - `zh.rs` — dates, labels and refusals in Chinese.

pub mod backend;
pub mod config;
pub mod oidc;
pub mod pages;
pub mod session;
pub mod web;
pub mod zh;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use yuetan_calendar::SharedCalendar;
use yuetan_platform::clock::SharedClock;
use yuetan_platform::Error;

use crate::backend::{Channels, Tokens};
use crate::config::ConsoleConfig;
use crate::oidc::Oidc;
use crate::session::CookieSigner;

/// What every request handler shares.
pub struct State {
    pub config: ConsoleConfig,
    pub signer: CookieSigner,
    pub tokens: Tokens,
    pub channels: Channels,
    pub oidc: Option<Oidc>,
    pub clock: SharedClock,
    pub calendar: SharedCalendar,
    /// The address officers open (no trailing slash).
    pub base_url: String,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").field("base_url", &self.base_url).finish_non_exhaustive()
    }
}

/// A bound, not yet serving console.
pub struct Console {
    pub state: Arc<State>,
    listener: TcpListener,
}

impl Console {
    /// Binds `[console] listen`, reads the identity provider's metadata and
    /// prepares the services' channels (connected on first use).
    pub async fn bind(config: ConsoleConfig, channels: Channels, clock: SharedClock, calendar: SharedCalendar) -> Result<Console, Error> {
        config.validate()?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|err| Error::Unavailable(format!("console.listen {}: {err}", config.listen)))?;
        let bound = listener.local_addr().map_err(|err| Error::Internal(err.to_string()))?;
        let base_url = config.base_url(bound);
        let oidc = match &config.oidc {
            Some(oidc) => Some(Oidc::discover(oidc, &format!("{base_url}/auth/callback")).await?),
            None => None,
        };
        let state = State {
            signer: CookieSigner::new(config.session_key.expose(), base_url.starts_with("https://")),
            tokens: Tokens::new(&config)?,
            channels,
            oidc,
            clock,
            calendar,
            base_url,
            config,
        };
        Ok(Console { state: Arc::new(state), listener })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Serves until `shutdown`.
    pub fn serve(self, shutdown: CancellationToken) -> JoinHandle<()> {
        use axum::serve::ListenerExt;
        let router = web::router(self.state.clone());
        // Pages are small answers to small requests: no Nagle delay.
        let listener = self.listener.tap_io(|stream| {
            if let Err(err) = stream.set_nodelay(true) {
                tracing::trace!(%err, "TCP_NODELAY not set on a console connection");
            }
        });
        tokio::spawn(async move {
            let served = axum::serve(listener, router).with_graceful_shutdown(async move { shutdown.cancelled().await }).await;
            if let Err(err) = served {
                tracing::error!(error = %err, "console server stopped");
            }
        })
    }
}
