//! Electronic service of documents (送达, LAW §3): handing a notice over to
//! an e-mail relay (SMTP), an SMS provider shaped like Alibaba Cloud SMS
//! (dysmsapi `SendSms`), or a government e-delivery platform (a signed
//! webhook), and reading the providers' callbacks (SMS delivery reports,
//! e-gov acknowledgements) after checking their signatures.
//!
//! Every send carries an **idempotency key** (the service-attempt id) that
//! the provider sees, so a resend after a crash is recognisable: SMS `OutId`,
//! e-gov `msgId`, e-mail `Message-ID: <key@yuetan>`.
//!
//! Nothing here logs or returns personal data: error details carry codes and
//! field names, never a phone number, address or account.

pub mod egov;
pub mod email;
pub mod sms;

pub use egov::{parse_egov_ack, EgovAck, EgovChannel, EgovConfig};
pub use email::{EmailChannel, EmailConfig};
pub use sms::{parse_sms_reports, sign_callback, verify_callback, SmsChannel, SmsConfig, SmsReport};

use std::fmt;

/// What the provider (or mail relay) said when it took the message over.
/// Acceptance is not delivery: delivery comes later in a callback (SMS,
/// e-gov) or not at all (e-mail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendOutcome {
    /// The provider's id for the message: the SMS `BizId`, the e-gov
    /// `receiptId`, or the SMTP queue id (the whole reply line when the relay
    /// names none).
    pub provider_id: String,
    /// The provider's raw answer (reply line or JSON); no personal data.
    pub reply: String,
}

/// A send that did not go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelError {
    /// The provider refused the message for good (a bounce, an invalid
    /// number, a rejected request): do not retry this channel for this
    /// recipient. `false`: a timeout, connection error or temporary
    /// refusal, worth retrying with the same key.
    pub permanent: bool,
    /// What went wrong, without personal data.
    pub detail: String,
}

impl ChannelError {
    pub fn permanent(detail: impl Into<String>) -> Self {
        ChannelError {
            permanent: true,
            detail: detail.into(),
        }
    }

    pub fn transient(detail: impl Into<String>) -> Self {
        ChannelError {
            permanent: false,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for ChannelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.permanent { "permanent" } else { "temporary" };
        write!(f, "{kind} channel error: {}", self.detail)
    }
}

impl std::error::Error for ChannelError {}

/// Checks the idempotency key every send takes: non-empty, at most 64
/// characters of `[A-Za-z0-9-_.]` (a UUID string passes), since it goes
/// into a Message-ID, a form parameter and JSON unchanged.
pub(crate) fn check_key(key: &str) -> Result<(), ChannelError> {
    if key.is_empty() || key.len() > 64 || !key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
        return Err(ChannelError::permanent("key: must be 1 to 64 characters of A-Z a-z 0-9 - _ ."));
    }
    Ok(())
}

/// Checks that a required text input is present.
pub(crate) fn require(field: &str, value: &str) -> Result<(), ChannelError> {
    if value.trim().is_empty() {
        return Err(ChannelError::permanent(format!("{field}: must not be empty")));
    }
    Ok(())
}

/// A serde_json error as text without the offending value (which may be a
/// phone number): missing/unknown field messages name only the field.
pub(crate) fn json_error(what: &str, err: &serde_json::Error) -> ChannelError {
    let text = err.to_string();
    let detail = if text.starts_with("missing field") || text.starts_with("unknown field") || text.starts_with("duplicate field") {
        format!("{what}: {text}")
    } else {
        format!(
            "{what}: invalid JSON ({:?} error at line {} column {})",
            err.classify(),
            err.line(),
            err.column()
        )
    };
    ChannelError::permanent(detail)
}

/// The HTTP client the SMS and e-gov channels share: rustls, a request
/// timeout, no redirects (a provider answers, it does not send us elsewhere).
pub(crate) fn http_client(timeout_secs: u64) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(timeout_secs.max(1)))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("building the HTTP client (TLS backend available)")
}

/// A transport-level error of reqwest as a retryable ChannelError. reqwest's
/// error text names the URL (the provider's endpoint), never the recipient.
pub(crate) fn http_error(what: &str, err: reqwest::Error) -> ChannelError {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    ChannelError::transient(format!("{what}: {kind}: {}", err.without_url()))
}
