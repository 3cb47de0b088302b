//! Local stand-ins for the electronic-service providers, for tests and the
//! local demo: real servers on ephemeral ports that speak the providers'
//! shapes (see `yuetan-channels`).
//!
//! - [`SmtpPeer`]: a real SMTP server (Debian's `python3-aiosmtpd`) that
//!   keeps every accepted message and bounces `bounce…@` recipients;
//! - [`SmsPeer`]: an Alibaba-Cloud-SMS-shaped `SendSms` endpoint that checks
//!   the RPC signature, deduplicates on `OutId` and pushes signed delivery
//!   reports;
//! - [`EgovPeer`]: the government e-delivery platform's webhook, checking
//!   signatures, deduplicating on `msgId` and posting signed acknowledgements;
//! - [`CallbackSink`]: records what the peers push, for tests that have no
//!   portal to receive it.
//!
//! What a peer does for one recipient is scripted with [`Behaviour`].
//! Peers log what they receive with `tracing`, phone numbers and accounts masked.

mod egov;
pub mod oidc;
mod sink;
mod sms;
mod smtp;

pub use egov::{EgovAckSent, EgovMessage, EgovPeer, EgovPeerConfig};
pub use sink::{CallbackSink, ReceivedCallback};
pub use sms::{PushedReport, SmsMessage, SmsPeer, SmsPeerConfig};
pub use smtp::{ReceivedMail, SmtpPeer};

use std::time::Duration;

/// What a peer does with a message for one recipient (phone or account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    /// Accept, and report delivery after `delay` (the default, with [`DEFAULT_DELAY`]).
    Deliver { delay: Duration },
    /// Accept, then report a failed delivery with this operator code (SMS
    /// `err_code`) or reason (e-gov).
    Fail { err_code: String },
    /// Accept and report delivery twice (the provider retries its push).
    Duplicate,
    /// Accept and never report.
    Silent,
    /// Refuse the send itself with this error code (SMS `Code`, e-gov `code`).
    Reject { code: String },
}

/// The delay of [`Behaviour::Deliver`] when nothing is scripted.
pub const DEFAULT_DELAY: Duration = Duration::from_millis(50);

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour::Deliver { delay: DEFAULT_DELAY }
    }
}

/// A phone number for logs: `138****1234`.
pub fn mask_phone(phone: &str) -> String {
    mask(phone, 3, 4)
}

/// An account or address for logs: the first and last two characters.
pub fn mask_account(account: &str) -> String {
    mask(account, 2, 2)
}

fn mask(text: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= head + tail {
        return "*".repeat(chars.len().max(1));
    }
    let mut out: String = chars[..head].iter().collect();
    out.push_str("****");
    out.extend(&chars[chars.len() - tail..]);
    out
}

/// Binds `addr` (port 0: an ephemeral port) and serves `router` until the
/// returned handle is aborted.
async fn serve(router: axum::Router, addr: std::net::SocketAddr) -> anyhow::Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    use anyhow::Context as _;
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
    let local = listener.local_addr()?;
    let handle = tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, router).await {
            tracing::warn!(%err, "peer server stopped");
        }
    });
    Ok((local, handle))
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("building the HTTP client")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_only_the_ends() {
        assert_eq!(mask_phone("13800001234"), "138****1234");
        assert_eq!(mask_account("citizen-42"), "ci****42");
        assert_eq!(mask_phone("123"), "***");
    }
}
