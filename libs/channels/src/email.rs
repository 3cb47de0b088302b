//! E-mail through an SMTP relay (lettre). The relay's acceptance (`250 …
//! queued as ID`) is what we record; a 5xx at RCPT or DATA is a bounce.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::{check_key, require, ChannelError, SendOutcome};

#[derive(Debug, Clone)]
pub struct EmailConfig {
    pub host: String,
    pub port: u16,
    /// The sender's address, e.g. `送达 <service@court.example>` or `service@court.example`.
    pub from: String,
    /// `true`: TLS (implicit on port 465, STARTTLS required otherwise);
    /// `false`: plain SMTP, for the local peer only.
    pub tls: bool,
    pub timeout_secs: u64,
}

pub struct EmailChannel {
    transport: Result<AsyncSmtpTransport<Tokio1Executor>, String>,
    from: Result<Mailbox, String>,
}

impl EmailChannel {
    /// Builds the transport (no connection yet: each send connects). A bad
    /// `from` or TLS setup is reported by every send, naming the field.
    pub fn new(config: EmailConfig) -> EmailChannel {
        let timeout = Some(Duration::from_secs(config.timeout_secs.max(1)));
        let builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.as_str())
            .port(config.port)
            .timeout(timeout);
        let transport = if config.tls {
            match TlsParameters::new(config.host.clone()) {
                Ok(params) if config.port == 465 => Ok(builder.tls(Tls::Wrapper(params)).build()),
                Ok(params) => Ok(builder.tls(Tls::Required(params)).build()),
                // Never fall back to plain text.
                Err(err) => Err(format!("tls: cannot set up TLS for the relay: {err}")),
            }
        } else {
            Ok(builder.tls(Tls::None).build())
        };
        let from = config.from.parse::<Mailbox>().map_err(|_| "from: not a valid e-mail address".to_string());
        EmailChannel { transport, from }
    }

    /// Sends a plain-text mail with `Message-ID: <key@yuetan>`. The body is
    /// the integrator's text (a signed link, no personal data).
    pub async fn send(&self, key: &str, to: &str, subject: &str, body_text: &str) -> Result<SendOutcome, ChannelError> {
        check_key(key)?;
        require("to", to)?;
        require("subject", subject)?;
        let from = self.from.clone().map_err(ChannelError::permanent)?;
        let to: Mailbox = to.parse().map_err(|_| ChannelError::permanent("to: not a valid e-mail address"))?;
        let message = Message::builder()
            .from(from)
            .to(to)
            .subject(subject)
            .message_id(Some(message_id(key)))
            .header(ContentType::TEXT_PLAIN)
            .body(body_text.to_string())
            .map_err(|err| ChannelError::permanent(format!("building the message: {err}")))?;
        let transport = self.transport.as_ref().map_err(|err| ChannelError::permanent(err.clone()))?;
        match transport.send(message).await {
            Ok(response) => {
                let text = response.message().collect::<Vec<_>>().join(" ");
                let reply = format!("{} {}", response.code(), text);
                let provider_id = queue_id(&text).unwrap_or_else(|| reply.clone());
                Ok(SendOutcome { provider_id, reply })
            }
            Err(err) => Err(smtp_error(&err)),
        }
    }
}

/// The Message-ID a send with `key` carries.
pub fn message_id(key: &str) -> String {
    format!("<{key}@yuetan>")
}

/// The queue id in a reply such as `2.0.0 Ok: queued as 4BC2A1`.
fn queue_id(reply: &str) -> Option<String> {
    let (_, rest) = reply.split_once("queued as ")?;
    let id: String = rest
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
        .collect();
    (!id.is_empty()).then_some(id)
}

/// An SMTP failure without personal data: a server's reply text may echo
/// the recipient's address, so words with an `@` are masked.
fn smtp_error(err: &lettre::transport::smtp::Error) -> ChannelError {
    let text: String = err
        .to_string()
        .split(' ')
        .map(|word| if word.contains('@') { "<address>" } else { word })
        .collect::<Vec<_>>()
        .join(" ");
    let code = err.status().map(|c| c.to_string());
    if err.is_permanent() {
        ChannelError::permanent(format!("smtp {}: rejected: {text}", code.unwrap_or_default()))
    } else if err.is_transient() {
        ChannelError::transient(format!("smtp {}: temporarily refused: {text}", code.unwrap_or_default()))
    } else if err.is_timeout() {
        ChannelError::transient(format!("smtp: timed out: {text}"))
    } else {
        ChannelError::transient(format!("smtp: {text}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_id_is_read_from_the_reply() {
        assert_eq!(queue_id("2.0.0 Ok: queued as 4BC2A1").as_deref(), Some("4BC2A1"));
        assert_eq!(queue_id("Ok: queued as <ABC.1@x>").as_deref(), None);
        assert_eq!(queue_id("Ok"), None);
    }
}
