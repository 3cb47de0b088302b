//! `[console]`: where the console listens, where the services are, how it
//! signs its sessions and the tokens it calls the services with, and how an
//! officer signs in (the province's OpenID Connect provider; a development
//! sign-in only when configured and only on a loopback address).
//!
//! Read from the same layers as every section (defaults → TOML file →
//! `YUETAN_CONSOLE__…` variables) through [`Config::section`].

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use yuetan_platform::auth::{KeyAlgorithm, TokenIssuer};
use yuetan_platform::config::Secret;
use yuetan_platform::{Config, Error};

/// The shortest session key accepted (bytes).
pub const MIN_SESSION_KEY_LEN: usize = 32;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Address of the HTTP server; port 0 picks a free port (tests).
    pub listen: SocketAddr,
    /// The address officers open (the OIDC redirect URI is built on it),
    /// e.g. `https://yuetan.gansu.gov.cn`; empty = `http://<listen>`.
    pub public_url: String,
    /// gRPC address of every service (`yuetan serve all`), e.g.
    /// `http://127.0.0.1:50051`; `endpoints` overrides it per service.
    pub grpc: String,
    /// Per service: `intake`, `review`, `scheduling`, `rectification`, `supervision`.
    pub endpoints: BTreeMap<String, String>,
    /// HMAC-SHA-256 key of the session and sign-in cookies (≥ 32 bytes).
    pub session_key: Secret,
    /// How long a session lasts without signing in again (minutes).
    pub session_minutes: i64,
    /// The key the console signs the officer's service tokens with; the
    /// services' `[auth]` must trust its `kid`.
    pub token: TokenKey,
    /// The province's identity provider; absent = no OIDC sign-in.
    pub oidc: Option<OidcConfig>,
    /// Development sign-in: officers offered on the sign-in page without a
    /// password. Refused unless `listen` is a loopback address.
    pub dev_officers: Vec<DevOfficer>,
    /// Largest evidence file accepted on the new-clue page (bytes).
    pub max_upload_bytes: usize,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 7500)),
            public_url: String::new(),
            grpc: "http://127.0.0.1:50051".into(),
            endpoints: BTreeMap::new(),
            session_key: Secret::default(),
            session_minutes: 480,
            token: TokenKey::default(),
            oidc: None,
            dev_officers: Vec::new(),
            max_upload_bytes: 20 * 1024 * 1024,
        }
    }
}

/// The signing key of the service tokens the console issues for a signed-in officer.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenKey {
    pub kid: String,
    pub algorithm: KeyAlgorithm,
    /// HS256 only (local development).
    pub secret: Secret,
    /// EdDSA or RS256: the private key (PKCS#8 PEM).
    pub private_key_pem: Secret,
    /// `iss` of the tokens; the services' `auth.issuer`.
    pub issuer: String,
    /// `aud` of the tokens; the services' `auth.audience`.
    pub audience: String,
    /// Lifetime of one token (seconds); a fresh one is made per page.
    pub ttl_seconds: i64,
}

impl Default for TokenKey {
    fn default() -> Self {
        TokenKey {
            kid: String::new(),
            algorithm: KeyAlgorithm::EdDSA,
            secret: Secret::default(),
            private_key_pem: Secret::default(),
            issuer: String::new(),
            audience: String::new(),
            ttl_seconds: 300,
        }
    }
}

/// The identity provider and how its ID token's claims become an officer.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcConfig {
    /// The issuer URL; its `/.well-known/openid-configuration` is read at start.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// Claim names: the officer's id, name, organ code, division code and roles.
    pub officer_claim: String,
    pub name_claim: String,
    pub organ_claim: String,
    pub division_claim: String,
    pub roles_claim: String,
    /// The provider's group names → Yuetan roles (`case_officer`, …);
    /// a group not listed gives no role.
    pub role_map: BTreeMap<String, String>,
}

impl Default for OidcConfig {
    fn default() -> Self {
        OidcConfig {
            issuer: String::new(),
            client_id: String::new(),
            client_secret: Secret::default(),
            officer_claim: "sub".into(),
            name_claim: "name".into(),
            organ_claim: "organ".into(),
            division_claim: "division".into(),
            roles_claim: "roles".into(),
            role_map: BTreeMap::new(),
        }
    }
}

/// A sample officer the development sign-in offers.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DevOfficer {
    pub id: String,
    pub name: String,
    pub organ: String,
    pub division: String,
    pub roles: Vec<String>,
}

/// The services the console calls.
pub const SERVICES: &[&str] = &["intake", "review", "scheduling", "rectification", "supervision"];

impl ConsoleConfig {
    /// `[console]` of the platform configuration, checked.
    pub fn from_config(config: &Config) -> Result<ConsoleConfig, Error> {
        let console: ConsoleConfig = config.section("console")?;
        console.validate()?;
        Ok(console)
    }

    /// Every value the console relies on; errors name the field.
    pub fn validate(&self) -> Result<(), Error> {
        if self.session_key.expose().len() < MIN_SESSION_KEY_LEN {
            return Err(Error::invalid("console.session_key", format!("must be at least {MIN_SESSION_KEY_LEN} bytes")));
        }
        if !(1..=24 * 60).contains(&self.session_minutes) {
            return Err(Error::invalid("console.session_minutes", "must be 1 to 1440"));
        }
        for name in self.endpoints.keys() {
            if !SERVICES.contains(&name.as_str()) {
                return Err(Error::invalid(format!("console.endpoints.{name}"), format!("unknown service; known: {}", SERVICES.join(", "))));
            }
        }
        self.issuer()?;
        if !self.dev_officers.is_empty() && !self.listen.ip().is_loopback() {
            return Err(Error::invalid("console.dev_officers", "the development sign-in is only allowed on a loopback listen address"));
        }
        if self.oidc.is_none() && self.dev_officers.is_empty() {
            return Err(Error::invalid("console.oidc", "no way to sign in: configure [console.oidc] (or dev_officers for local use)"));
        }
        if let Some(oidc) = &self.oidc {
            if oidc.issuer.is_empty() {
                return Err(Error::invalid("console.oidc.issuer", "is required"));
            }
            if oidc.client_id.is_empty() {
                return Err(Error::invalid("console.oidc.client_id", "is required"));
            }
        }
        if !(30..=3600).contains(&self.token.ttl_seconds) {
            return Err(Error::invalid("console.token.ttl_seconds", "must be 30 to 3600"));
        }
        if self.token.issuer.is_empty() || self.token.audience.is_empty() {
            return Err(Error::invalid("console.token.issuer", "issuer and audience are required (the services' auth.issuer and auth.audience)"));
        }
        Ok(())
    }

    /// The signer of the officers' service tokens.
    pub fn issuer(&self) -> Result<TokenIssuer, Error> {
        let key = &self.token;
        if key.kid.is_empty() {
            return Err(Error::invalid("console.token.kid", "is required"));
        }
        match key.algorithm {
            KeyAlgorithm::HS256 => {
                if key.secret.expose().len() < 32 {
                    return Err(Error::invalid("console.token.secret", "an HS256 secret of at least 32 bytes is required"));
                }
                if !self.listen.ip().is_loopback() {
                    return Err(Error::invalid("console.token.algorithm", "HS256 is for local development on a loopback address only"));
                }
                Ok(TokenIssuer::hs256(&key.kid, key.secret.expose()))
            }
            KeyAlgorithm::EdDSA => TokenIssuer::ed25519_pem(&key.kid, key.private_key_pem.expose())
                .map_err(|err| Error::invalid("console.token.private_key_pem", err.to_string())),
            KeyAlgorithm::RS256 => TokenIssuer::rs256_pem(&key.kid, key.private_key_pem.expose())
                .map_err(|err| Error::invalid("console.token.private_key_pem", err.to_string())),
        }
    }

    /// The gRPC address of `service`.
    pub fn endpoint(&self, service: &str) -> &str {
        self.endpoints.get(service).map(String::as_str).unwrap_or(&self.grpc)
    }

    /// The base URL officers open.
    pub fn base_url(&self, bound: SocketAddr) -> String {
        if self.public_url.is_empty() {
            format!("http://{bound}")
        } else {
            self.public_url.trim_end_matches('/').to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> ConsoleConfig {
        ConsoleConfig {
            session_key: "s".repeat(32).as_str().into(),
            token: TokenKey { kid: "local-dev".into(), algorithm: KeyAlgorithm::HS256, secret: "t".repeat(32).as_str().into(), issuer: "yuetan-local".into(), audience: "yuetan".into(), ..TokenKey::default() },
            dev_officers: vec![DevOfficer { id: "o1".into(), name: "张三".into(), organ: "620102-SJ".into(), division: "620102".into(), roles: vec!["case_officer".into()] }],
            ..ConsoleConfig::default()
        }
    }

    #[test]
    fn the_local_configuration_is_accepted() {
        local().validate().unwrap();
    }

    #[test]
    fn the_development_sign_in_is_refused_off_loopback() {
        let mut config = local();
        config.listen = "0.0.0.0:7500".parse().unwrap();
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("console.dev_officers") || err.contains("console.token.algorithm"), "{err}");
        config.dev_officers.clear();
        config.oidc = Some(OidcConfig { issuer: "https://idp.example".into(), client_id: "c".into(), ..OidcConfig::default() });
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("console.token.algorithm"), "HS256 off loopback: {err}");
    }

    #[test]
    fn a_short_session_key_or_no_way_to_sign_in_is_refused() {
        let mut config = local();
        config.session_key = "short".into();
        assert!(config.validate().unwrap_err().to_string().contains("console.session_key"));
        let mut config = local();
        config.dev_officers.clear();
        assert!(config.validate().unwrap_err().to_string().contains("console.oidc"));
    }

    #[test]
    fn an_unknown_service_endpoint_is_named() {
        let mut config = local();
        config.endpoints.insert("billing".into(), "http://127.0.0.1:1".into());
        assert!(config.validate().unwrap_err().to_string().contains("console.endpoints.billing"));
        let mut config = local();
        config.endpoints.insert("review".into(), "http://127.0.0.1:50052".into());
        assert_eq!(config.endpoint("review"), "http://127.0.0.1:50052");
        assert_eq!(config.endpoint("intake"), "http://127.0.0.1:50051");
    }
}
