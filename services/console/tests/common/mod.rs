//! The console on the harness's services, as the browser test and the pages
//! benchmark start it: tokens signed with the harness's key (kid `test`),
//! one channel per service.

use yuetan_console::backend::Channels;
use yuetan_console::config::{ConsoleConfig, DevOfficer, OidcConfig, TokenKey};
use yuetan_harness::{Service, System, AUDIENCE, ISSUER, SECRET};
use yuetan_platform::auth::KeyAlgorithm;

/// `[console]` on an ephemeral loopback port.
pub fn harness_config(session_key: &str, oidc: Option<OidcConfig>, dev_officers: Vec<DevOfficer>) -> ConsoleConfig {
    ConsoleConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        session_key: session_key.into(),
        token: TokenKey { kid: "test".into(), algorithm: KeyAlgorithm::HS256, secret: SECRET.into(), issuer: ISSUER.into(), audience: AUDIENCE.into(), ..TokenKey::default() },
        oidc,
        dev_officers,
        ..ConsoleConfig::default()
    }
}

/// The services' channels of the harness.
pub fn harness_channels(sys: &System) -> Channels {
    Channels {
        intake: sys.channel(Service::Intake),
        review: sys.channel(Service::Review),
        scheduling: sys.channel(Service::Scheduling),
        rectification: sys.channel(Service::Rectification),
        supervision: sys.channel(Service::Supervision),
    }
}
