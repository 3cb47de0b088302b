//! The services the console calls, with the officer's token. The console
//! decides nothing a service decides: it makes a short-lived token for the
//! signed-in officer (the claims the identity provider gave), calls, and
//! renders the answer — a refusal included.

use std::time::Duration;

use chrono::Utc;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};
use tonic::Request;
use yuetan_platform::auth::{Claims, TokenIssuer};
use yuetan_platform::Error;
use yuetan_proto::intake::intake_service_client::IntakeServiceClient;
use yuetan_proto::rectification::rectification_service_client::RectificationServiceClient;
use yuetan_proto::review::review_service_client::ReviewServiceClient;
use yuetan_proto::scheduling::scheduling_service_client::SchedulingServiceClient;
use yuetan_proto::supervision::supervision_service_client::SupervisionServiceClient;

use crate::config::ConsoleConfig;
use crate::session::Officer;

/// One channel per service (lazily connected, shared by every page).
#[derive(Clone, Debug)]
pub struct Channels {
    pub intake: Channel,
    pub review: Channel,
    pub scheduling: Channel,
    pub rectification: Channel,
    pub supervision: Channel,
}

impl Channels {
    /// From `[console] grpc` / `endpoints`.
    pub fn from_config(config: &ConsoleConfig) -> Result<Channels, Error> {
        let channel = |service: &str| -> Result<Channel, Error> {
            let url = config.endpoint(service).to_string();
            Ok(Endpoint::from_shared(url)
                .map_err(|err| Error::invalid(format!("console.endpoints.{service}"), err.to_string()))?
                .connect_timeout(Duration::from_secs(3))
                .timeout(Duration::from_secs(30))
                .connect_lazy())
        };
        Ok(Channels {
            intake: channel("intake")?,
            review: channel("review")?,
            scheduling: channel("scheduling")?,
            rectification: channel("rectification")?,
            supervision: channel("supervision")?,
        })
    }
}

/// Signs the officer's service tokens.
pub struct Tokens {
    issuer: TokenIssuer,
    iss: String,
    aud: String,
    ttl: chrono::Duration,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens").field("iss", &self.iss).finish_non_exhaustive()
    }
}

impl Tokens {
    pub fn new(config: &ConsoleConfig) -> Result<Tokens, Error> {
        Ok(Tokens {
            issuer: config.issuer()?,
            iss: config.token.issuer.clone(),
            aud: config.token.audience.clone(),
            ttl: chrono::Duration::seconds(config.token.ttl_seconds),
        })
    }

    pub fn token(&self, officer: &Officer) -> Result<String, Error> {
        let roles: Vec<&str> = officer.roles.iter().map(String::as_str).collect();
        let claims = Claims::for_officer(&officer.id, &officer.name, &officer.organ, &officer.division, &roles, &self.iss, &self.aud, self.ttl, Utc::now());
        self.issuer.issue(&claims)
    }
}

/// The clients of one page, all carrying one officer's token.
pub struct Calls {
    bearer: MetadataValue<tonic::metadata::Ascii>,
    channels: Channels,
}

impl Calls {
    pub fn new(channels: &Channels, tokens: &Tokens, officer: &Officer) -> Result<Calls, Error> {
        let token = tokens.token(officer)?;
        let bearer = format!("Bearer {token}").parse().map_err(|_| Error::Internal("token is not a header value".into()))?;
        Ok(Calls { bearer, channels: channels.clone() })
    }

    /// `message` with the officer's token.
    pub fn req<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request.metadata_mut().insert("authorization", self.bearer.clone());
        request
    }

    pub fn intake(&self) -> IntakeServiceClient<Channel> {
        IntakeServiceClient::new(self.channels.intake.clone())
    }
    pub fn review(&self) -> ReviewServiceClient<Channel> {
        ReviewServiceClient::new(self.channels.review.clone())
    }
    pub fn scheduling(&self) -> SchedulingServiceClient<Channel> {
        SchedulingServiceClient::new(self.channels.scheduling.clone())
    }
    pub fn rectification(&self) -> RectificationServiceClient<Channel> {
        RectificationServiceClient::new(self.channels.rectification.clone())
    }
    pub fn supervision(&self) -> SupervisionServiceClient<Channel> {
        SupervisionServiceClient::new(self.channels.supervision.clone())
    }
}
