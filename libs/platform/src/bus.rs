//! The event backbone: NATS JetStream stream `YUETAN` on `yuetan.ev.>`.
//!
//! Subjects are `<prefix>.<province>.<city>.<county>.<service>.<event>`
//! (ARCHITECTURE §4): the six-digit division code split into two-digit
//! tokens, so `yuetan.ev.62.>` is a province and `yuetan.ev.62.01.>` a city.

use std::time::Duration;

use async_nats::jetstream::{self, stream};

use crate::config::NatsConfig;
use crate::error::Error;
use crate::secret::{redact_url, scrub};

/// A connected JetStream context plus the naming rules of the deployment.
#[derive(Clone, Debug)]
pub struct Bus {
    pub client: async_nats::Client,
    pub jetstream: jetstream::Context,
    pub stream: String,
    pub subject_prefix: String,
}

impl Bus {
    /// Connects to NATS and makes sure the stream exists with the configured
    /// replicas and duplicate window (creating or updating it). `nats.url`
    /// may list a cluster's servers separated by commas
    /// (`nats://n1:4222,nats://n2:4222,nats://n3:4222`, see [`servers`]).
    pub async fn connect(config: &NatsConfig) -> Result<Bus, Error> {
        let client = client_options(config.url.expose())
            .name("yuetan")
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(5))
            .connect(servers(config.url.expose()))
            .await
            .map_err(|err| {
                // The client's error may echo the URL it was given; neither
                // it nor the log may show the password.
                let mut detail = err.to_string();
                for server in servers(config.url.expose()) {
                    detail = scrub(&detail, server);
                }
                Error::Unavailable(format!("connecting to nats at {}: {detail}", redact_urls(config.url.expose())))
            })?;
        let bus = Bus {
            jetstream: jetstream::new(client.clone()),
            client,
            stream: config.stream.clone(),
            subject_prefix: config.subject_prefix.clone(),
        };
        bus.ensure_stream(config).await?;
        Ok(bus)
    }

    async fn ensure_stream(&self, config: &NatsConfig) -> Result<(), Error> {
        let stream_config = stream::Config {
            name: config.stream.clone(),
            subjects: vec![format!("{}.>", config.subject_prefix)],
            storage: stream::StorageType::File,
            num_replicas: config.replicas,
            duplicate_window: Duration::from_secs(config.duplicate_window_secs),
            retention: stream::RetentionPolicy::Limits,
            ..Default::default()
        };
        self.jetstream
            .create_or_update_stream(stream_config)
            .await
            .map_err(|err| Error::Unavailable(format!("creating stream {}: {err}", config.stream)))?;
        Ok(())
    }
}

/// The servers of a `nats.url`: one URL, or a cluster's URLs separated by
/// commas (the client connects to one and fails over to the others, and
/// learns the rest of the cluster from the server it reaches).
pub fn servers(url: &str) -> Vec<&str> {
    url.split(',').map(str::trim).filter(|s| !s.is_empty()).collect()
}

/// Options carrying the credentials a `nats.url` names
/// (`nats://user:password@host:4222`, percent-encoded; a lone user is a
/// token): the client does not read them from the URL itself, it would
/// connect without them. The first server that names any gives them.
pub fn client_options(url: &str) -> async_nats::ConnectOptions {
    let options = async_nats::ConnectOptions::new();
    for server in servers(url) {
        let Ok(addr) = server.parse::<async_nats::ServerAddr>() else { continue };
        match (addr.username(), addr.password()) {
            (Some(user), Some(password)) => return options.user_and_password(percent_decoded(user), percent_decoded(password)),
            (Some(token), None) => return options.token(percent_decoded(token)),
            _ => {}
        }
    }
    options
}

/// `%XX` escapes of a URL's user or password decoded (an invalid escape stays as written).
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A `nats.url` (one URL or a comma-separated list) with each password hidden.
pub fn redact_urls(url: &str) -> String {
    servers(url).into_iter().map(redact_url).collect::<Vec<_>>().join(",")
}

/// The subject of an event: `<prefix>.<pp>.<cc>.<dd>.<service>.<event>`,
/// from a six-digit division code and a type `<service>.<event>`.
pub fn subject(prefix: &str, division_code: &str, event_type: &str) -> Result<String, Error> {
    if division_code.len() != 6 || !division_code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::invalid("jurisdiction", "must be a six-digit division code"));
    }
    let Some((service, event)) = event_type.split_once('.') else {
        return Err(Error::invalid("type", "must be <service>.<event>"));
    };
    let token_ok = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !token_ok(service) || !token_ok(event) {
        return Err(Error::invalid("type", "service and event must be lowercase tokens"));
    }
    Ok(format!(
        "{prefix}.{}.{}.{}.{service}.{event}",
        &division_code[0..2],
        &division_code[2..4],
        &division_code[4..6]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn subject_splits_the_division_code_into_two_digit_tokens() {
        let s = subject("yuetan.ev", "620102", "intake.clue_registered").unwrap();
        assert_eq!(s, "yuetan.ev.62.01.02.intake.clue_registered");
    }

    #[test]
    fn subject_rejects_bad_division_and_type() {
        assert!(subject("yuetan.ev", "6201", "intake.x").is_err());
        assert!(subject("yuetan.ev", "620102", "intake").is_err());
        assert!(subject("yuetan.ev", "620102", "intake.a.b>").is_err());
    }

    #[test]
    fn a_cluster_url_lists_its_servers() {
        let url = "nats://a:pw@10.0.0.1:4222, nats://10.0.0.2:4222,nats://10.0.0.3:4222";
        assert_eq!(servers(url), ["nats://a:pw@10.0.0.1:4222", "nats://10.0.0.2:4222", "nats://10.0.0.3:4222"]);
        assert_eq!(servers("nats://127.0.0.1:4222"), ["nats://127.0.0.1:4222"]);
        assert!(!redact_urls(url).contains("pw"));
        assert!(redact_urls(url).ends_with("nats://10.0.0.3:4222"));
    }

    #[test]
    fn credentials_are_read_from_the_url() {
        assert_eq!(percent_decoded("p%40ss%2Fw%3Ard%"), "p@ss/w:rd%");
        assert_eq!(percent_decoded("%4"), "%4");
        assert_eq!(percent_decoded("plain"), "plain");
    }

    /// The server refuses a client without the password; the URL's is sent.
    #[tokio::test]
    async fn a_password_in_the_url_is_used() {
        let Some(nats) = std::env::var_os("YUETAN_NATS_SERVER") else { return };
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut server = std::process::Command::new(nats)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "--user", "yuetan", "--pass", "s3cr3t/pw"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("nats://127.0.0.1:1,nats://yuetan:s3cr3t%2Fpw@127.0.0.1:{port}");
        let mut connected = None;
        for _ in 0..50 {
            match client_options(&url).connection_timeout(Duration::from_secs(1)).connect(servers(&url)).await {
                Ok(client) => {
                    connected = Some(client);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let without = async_nats::ConnectOptions::new().connection_timeout(Duration::from_secs(1)).connect(format!("nats://127.0.0.1:{port}")).await;
        server.kill().ok();
        server.wait().ok();
        assert!(connected.is_some(), "connected with the URL's password");
        assert!(without.is_err(), "the server does ask for a password");
    }

    #[tokio::test]
    async fn a_connection_error_shows_no_password() {
        let config = NatsConfig { url: Secret::new("nats://yuetan:s3cr3t-pw@127.0.0.1:99999"), ..NatsConfig::default() };
        let err = tokio::time::timeout(Duration::from_secs(20), Bus::connect(&config))
            .await
            .expect("connect gave up")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("s3cr3t-pw"), "{err}");
        assert!(err.contains("127.0.0.1:99999"), "the error still says where: {err}");
        assert!(!format!("{config:?}").contains("s3cr3t-pw"));
    }
}
