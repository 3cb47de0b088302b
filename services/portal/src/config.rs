//! `[portal]`: where the portal listens and the providers' callback secrets.
//!
//! The section is read from the same layers as the platform's [`Config`]
//! (defaults → TOML file → `YUETAN_PORTAL__…` environment variables) by
//! [`PortalConfig::load`] or, from a figment the caller already built,
//! [`PortalConfig::from_figment`]. The platform's `Config` ignores the
//! section, so the two read the same file side by side.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use yuetan_platform::config::Secret;
use yuetan_platform::{Config, Error};

/// The shortest callback secret accepted (bytes).
pub const MIN_SECRET_LEN: usize = 16;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct PortalConfig {
    /// Address the HTTP server listens on; port 0 picks a free port (tests).
    pub listen: SocketAddr,
    /// Six-digit division code of the events that have no link to name an
    /// organ (the providers' callbacks), and of links whose organ code does
    /// not start with a division code.
    pub division: String,
    /// HMAC-SHA-256 key of the SMS provider's delivery reports
    /// (`X-Yuetan-Signature: sha256=<hex>`).
    pub sms_callback_secret: Secret,
    /// The e-government platform's application id (`X-Egov-AppId`).
    pub egov_app_id: String,
    /// HMAC-SHA-256 key of the e-government platform's acknowledgements.
    pub egov_secret: Secret,
    /// HTTP Basic user name of the Janus event handler's posts
    /// (`backend_user` of `janus.eventhandler.sampleevh.jcfg`).
    pub janus_event_user: String,
    /// HTTP Basic password of the Janus event handler (`backend_pwd`);
    /// empty disables `POST /callbacks/janus` (it answers 503).
    pub janus_event_password: Secret,
    /// Reverse proxies whose `X-Forwarded-For` is believed; from any other
    /// peer the header is ignored and the connection's address is evidence.
    pub trusted_proxies: Vec<IpAddr>,
}

impl Default for PortalConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7400)),
            division: String::new(),
            sms_callback_secret: Secret::default(),
            egov_app_id: String::new(),
            egov_secret: Secret::default(),
            janus_event_user: String::new(),
            janus_event_password: Secret::default(),
            trusted_proxies: Vec::new(),
        }
    }
}

#[derive(Deserialize, Serialize, Default)]
struct Section {
    #[serde(default)]
    portal: PortalConfig,
}

impl PortalConfig {
    /// `[portal]` of `file` (if given) and of `YUETAN_PORTAL__…`, validated
    /// against the platform configuration already loaded from the same file.
    pub fn load(file: Option<&Path>, platform: &Config) -> Result<PortalConfig, Error> {
        let mut figment = Figment::new();
        if let Some(file) = file {
            if !file.is_file() {
                return Err(Error::invalid("config", format!("file {} does not exist", file.display())));
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment.merge(Env::prefixed("YUETAN_").split("__"));
        PortalConfig::from_figment(&figment, platform)
    }

    /// `[portal]` of an explicit figment (tests, the harness).
    pub fn from_figment(figment: &Figment, platform: &Config) -> Result<PortalConfig, Error> {
        let figment = Figment::from(Serialized::defaults(Section::default())).merge(figment.clone());
        let section: Section = figment.extract().map_err(|err| {
            let field = err.path.join(".");
            Error::invalid(if field.is_empty() { "portal".to_string() } else { field }, err.kind.to_string())
        })?;
        section.portal.validate(platform)?;
        Ok(section.portal)
    }

    /// Whether `POST /callbacks/janus` is on: a Janus event password is set.
    pub fn janus_events_enabled(&self) -> bool {
        !self.janus_event_password.expose().is_empty()
    }

    /// Errors name the field.
    pub fn validate(&self, platform: &Config) -> Result<(), Error> {
        if self.division.len() != 6 || !self.division.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::invalid("portal.division", "must be a six-digit division code"));
        }
        if self.sms_callback_secret.expose().len() < MIN_SECRET_LEN {
            return Err(Error::invalid(
                "portal.sms_callback_secret",
                format!("must be at least {MIN_SECRET_LEN} bytes"),
            ));
        }
        if self.egov_secret.expose().len() < MIN_SECRET_LEN {
            return Err(Error::invalid("portal.egov_secret", format!("must be at least {MIN_SECRET_LEN} bytes")));
        }
        if self.egov_app_id.is_empty() || self.egov_app_id.len() > 128 {
            return Err(Error::invalid("portal.egov_app_id", "must be 1–128 characters"));
        }
        if self.janus_events_enabled() {
            if self.janus_event_password.expose().len() < MIN_SECRET_LEN {
                return Err(Error::invalid(
                    "portal.janus_event_password",
                    format!("must be at least {MIN_SECRET_LEN} bytes (or empty: no Janus events)"),
                ));
            }
            if self.janus_event_password.expose().chars().any(char::is_control) {
                return Err(Error::invalid("portal.janus_event_password", "must hold no control characters"));
            }
            let user = &self.janus_event_user;
            if user.is_empty() || user.chars().count() > 128 || user.contains(':') || user.chars().any(char::is_control) {
                return Err(Error::invalid(
                    "portal.janus_event_user",
                    "must be 1–128 characters, no ':' and no control characters (HTTP Basic user name)",
                ));
            }
        }
        // The portal is what faces the public: the development link key
        // (like the platform's development keys) only on loopback.
        if !self.listen.ip().is_loopback()
            && platform
                .links
                .keys
                .iter()
                .any(|key| key.secret.expose().trim() == yuetan_platform::links::DEV_LINK_KEY)
        {
            return Err(Error::invalid(
                "portal.listen",
                format!(
                    "{} is not a loopback address, and links are signed with the published development key: \
                     listen on 127.0.0.1 or configure a production [links] key",
                    self.listen
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform(extra: &str) -> Config {
        Config::from_figment("portal", Figment::new().merge(Toml::string(extra))).unwrap()
    }

    const GOOD: &str = "[portal]\nlisten = \"127.0.0.1:0\"\ndivision = \"620102\"\nsms_callback_secret = \"0123456789abcdef0\"\n\
                        egov_app_id = \"app\"\negov_secret = \"fedcba9876543210f\"\n";

    #[test]
    fn the_section_is_read_beside_the_platform_config_and_checked() {
        let figment = Figment::new().merge(Toml::string(GOOD));
        let portal = PortalConfig::from_figment(&figment, &platform("")).unwrap();
        assert_eq!(portal.division, "620102");
        assert!(!format!("{portal:?}").contains("0123456789abcdef0"));
        let bad = Figment::new().merge(Toml::string(&GOOD.replace("620102", "62")));
        let err = PortalConfig::from_figment(&bad, &platform("")).unwrap_err().to_string();
        assert!(err.contains("portal.division"), "{err}");
        let short = Figment::new().merge(Toml::string(&GOOD.replace("0123456789abcdef0", "short")));
        let err = PortalConfig::from_figment(&short, &platform("")).unwrap_err().to_string();
        assert!(err.contains("portal.sms_callback_secret"), "{err}");
    }

    #[test]
    fn janus_events_are_off_without_a_password_and_checked_with_one() {
        let off = PortalConfig::from_figment(&Figment::new().merge(Toml::string(GOOD)), &platform("")).unwrap();
        assert!(!off.janus_events_enabled());
        let on = format!("{GOOD}janus_event_user = \"janus\"\njanus_event_password = \"janus-event-password-01\"\n");
        let portal = PortalConfig::from_figment(&Figment::new().merge(Toml::string(&on)), &platform("")).unwrap();
        assert!(portal.janus_events_enabled());
        assert!(!format!("{portal:?}").contains("janus-event-password-01"));
        for (bad, field) in [
            (on.replace("janus-event-password-01", "short"), "portal.janus_event_password"),
            (on.replace("\"janus\"\n", "\"\"\n"), "portal.janus_event_user"),
            (on.replace("\"janus\"\n", "\"ja:nus\"\n"), "portal.janus_event_user"),
        ] {
            let err = PortalConfig::from_figment(&Figment::new().merge(Toml::string(&bad)), &platform("")).unwrap_err().to_string();
            assert!(err.contains(field), "{err}");
        }
    }

    #[test]
    fn the_development_link_key_is_refused_off_loopback() {
        let links = format!(
            "[links]\ncurrent_key = \"dev\"\nbase_url = \"http://127.0.0.1:7400\"\n[[links.keys]]\nid = \"dev\"\nsecret = \"{}\"\n",
            yuetan_platform::links::DEV_LINK_KEY
        );
        let exposed = Figment::new().merge(Toml::string(&GOOD.replace("127.0.0.1:0", "0.0.0.0:7400")));
        let err = PortalConfig::from_figment(&exposed, &platform(&links)).unwrap_err().to_string();
        assert!(err.contains("portal.listen"), "{err}");
        PortalConfig::from_figment(&Figment::new().merge(Toml::string(GOOD)), &platform(&links)).unwrap();
    }
}
