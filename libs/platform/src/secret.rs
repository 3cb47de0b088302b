//! [`Secret`]: a configuration value that must never appear in logs, `Debug`
//! output or error messages (passwords, keys, URLs carrying credentials).
//! Its own module, so `config`, `objects` and `pii` all use it without
//! importing each other.

use serde::{Deserialize, Serialize};

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

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_string())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A URL with its password (and user name) replaced, for log lines and
/// error messages: `nats://u:pw@host:4222` → `nats://<redacted>@host:4222`.
/// Anything that does not parse as a URL is redacted whole.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return "<redacted>".into() };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://<redacted>@{host}{tail}"),
        None => url.to_string(),
    }
}

/// `text` with every occurrence of `secret` (when not empty) replaced, for
/// error messages of client libraries that may echo what they were given.
pub fn scrub(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        return text.to_string();
    }
    text.replace(secret, "<redacted>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_prints_nothing_of_the_secret() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(<redacted>)");
    }

    #[test]
    fn urls_lose_their_credentials_only() {
        assert_eq!(redact_url("nats://u:pw@10.0.0.1:4222"), "nats://<redacted>@10.0.0.1:4222");
        assert_eq!(redact_url("nats://tok@h:1/x?y=@"), "nats://<redacted>@h:1/x?y=@");
        assert_eq!(redact_url("nats://10.0.0.1:4222"), "nats://10.0.0.1:4222");
        assert_eq!(redact_url("garbage pw"), "<redacted>");
        assert_eq!(scrub("bad url nats://u:pw@h", "nats://u:pw@h"), "bad url <redacted>");
    }
}
