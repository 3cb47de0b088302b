//! Authentication and jurisdiction (ARCHITECTURE §6).
//!
//! Every business RPC carries a bearer JWT signed by a configured issuer key
//! (EdDSA or RS256; HS256 only when `allow_hs256` is set, for local
//! development). The [`AuthInterceptor`] verifies it and puts the [`Actor`]
//! into the request; handlers then authorise by role ([`Actor::require_role`])
//! and by jurisdiction ([`Actor::can_see`]): an officer sees their own
//! division and everything below it, and a co-department of a joint
//! interview sees that case.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use tonic::{Request, Status};

use crate::error::Error;

/// A six-digit administrative division code (GB/T 2260), e.g. `620102`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DivisionCode(String);

/// Province (`620000`), city (`620100`) or county (`620102`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DivisionLevel {
    Province,
    City,
    County,
}

impl DivisionCode {
    pub fn parse(value: &str) -> Result<DivisionCode, Error> {
        if value.len() != 6 || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::invalid("division_code", format!("{value:?} is not a six-digit division code")));
        }
        if &value[0..2] == "00" {
            return Err(Error::invalid("division_code", format!("{value:?} has no province")));
        }
        Ok(DivisionCode(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn level(&self) -> DivisionLevel {
        if &self.0[2..6] == "0000" {
            DivisionLevel::Province
        } else if &self.0[4..6] == "00" {
            DivisionLevel::City
        } else {
            DivisionLevel::County
        }
    }

    /// The two-digit subject tokens: `620102` → `["62", "01", "02"]`.
    pub fn subject_tokens(&self) -> [&str; 3] {
        [&self.0[0..2], &self.0[2..4], &self.0[4..6]]
    }

    /// "Own division and below": a province covers its cities and counties,
    /// a city its counties, a county only itself.
    pub fn covers(&self, other: &DivisionCode) -> bool {
        match self.level() {
            DivisionLevel::Province => self.0[0..2] == other.0[0..2],
            DivisionLevel::City => self.0[0..4] == other.0[0..4],
            DivisionLevel::County => self.0 == other.0,
        }
    }
}

impl TryFrom<String> for DivisionCode {
    type Error = Error;
    fn try_from(value: String) -> Result<Self, Error> {
        DivisionCode::parse(&value)
    }
}

impl From<DivisionCode> for String {
    fn from(code: DivisionCode) -> String {
        code.0
    }
}

impl std::fmt::Display for DivisionCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Roles of DOMAIN.md §2, plus the IT operator.
pub mod roles {
    pub const CASE_OFFICER: &str = "case_officer";
    pub const SECTION_CHIEF: &str = "section_chief";
    pub const LEGAL_REVIEWER: &str = "legal_reviewer";
    pub const DEPUTY_LEADER: &str = "deputy_leader";
    pub const LEADER: &str = "leader";
    pub const OFFICE: &str = "office";
    pub const DISCIPLINE_INSPECTOR: &str = "discipline_inspector";
    pub const CO_DEPARTMENT_OFFICER: &str = "co_department_officer";
    pub const ADMIN: &str = "admin";
    pub const ALL: &[&str] = &[
        CASE_OFFICER,
        SECTION_CHIEF,
        LEGAL_REVIEWER,
        DEPUTY_LEADER,
        LEADER,
        OFFICE,
        DISCIPLINE_INSPECTOR,
        CO_DEPARTMENT_OFFICER,
        ADMIN,
    ];
}

/// The verified caller of an RPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub officer_id: String,
    pub name: String,
    /// Organ code, e.g. `620102-SJ`.
    pub organ: String,
    pub division: DivisionCode,
    pub roles: Vec<String>,
    pub qualifications: Vec<String>,
}

impl Actor {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    pub fn require_role(&self, role: &str) -> Result<(), Error> {
        if self.has_role(role) {
            Ok(())
        } else {
            Err(Error::PermissionDenied(format!("role `{role}` required")))
        }
    }

    /// Whether the actor may see a case owned by `division`, whose joint
    /// interview involves the organs `co_organs`.
    pub fn can_see(&self, division: &DivisionCode, co_organs: &[&str]) -> bool {
        self.division.covers(division) || co_organs.contains(&self.organ.as_str())
    }

    pub fn require_scope(&self, division: &DivisionCode, co_organs: &[&str]) -> Result<(), Error> {
        if self.can_see(division, co_organs) {
            Ok(())
        } else {
            Err(Error::PermissionDenied(format!("division {division} is outside the caller's jurisdiction")))
        }
    }

    pub fn to_proto(&self) -> yuetan_proto::common::Actor {
        yuetan_proto::common::Actor {
            officer_id: self.officer_id.clone(),
            name: self.name.clone(),
            organ_code: self.organ.clone(),
            division_code: self.division.to_string(),
            roles: self.roles.clone(),
        }
    }
}

/// The claims of a Yuetan officer token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// Officer id.
    pub sub: String,
    pub name: String,
    pub organ: String,
    pub division: String,
    pub roles: Vec<String>,
    #[serde(default)]
    pub quals: Vec<String>,
    pub iss: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
}

impl Claims {
    #[allow(clippy::too_many_arguments)]
    pub fn for_officer(
        officer_id: &str,
        name: &str,
        organ: &str,
        division: &str,
        roles: &[&str],
        issuer: &str,
        audience: &str,
        ttl: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Claims {
        Claims {
            sub: officer_id.to_string(),
            name: name.to_string(),
            organ: organ.to_string(),
            division: division.to_string(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            quals: Vec::new(),
            iss: issuer.to_string(),
            aud: audience.to_string(),
            exp: (now + ttl).timestamp(),
            iat: now.timestamp(),
        }
    }
}

/// Accepted signature algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyAlgorithm {
    EdDSA,
    RS256,
    /// Shared secret: local development only.
    HS256,
}

impl KeyAlgorithm {
    fn jwt(self) -> Algorithm {
        match self {
            KeyAlgorithm::EdDSA => Algorithm::EdDSA,
            KeyAlgorithm::RS256 => Algorithm::RS256,
            KeyAlgorithm::HS256 => Algorithm::HS256,
        }
    }
}

/// One issuer key.
#[derive(Clone, Serialize, Deserialize)]
pub struct KeyConfig {
    pub kid: String,
    pub algorithm: KeyAlgorithm,
    /// PEM public key (EdDSA: SPKI; RS256: PKCS#1 or SPKI).
    #[serde(default)]
    pub public_key_pem: Option<String>,
    /// HS256 shared secret.
    #[serde(default)]
    pub secret: Option<String>,
}

impl std::fmt::Debug for KeyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyConfig")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("public_key_pem", &self.public_key_pem.as_ref().map(|_| "<pem>"))
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Who may sign tokens, and for whom they are meant.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    pub issuer: String,
    pub audience: String,
    pub keys: Vec<KeyConfig>,
    /// Accept HS256 keys (shared secrets). Local development only.
    pub allow_hs256: bool,
    /// Clock skew tolerated on `exp`.
    pub leeway_seconds: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self { issuer: "yuetan".into(), audience: "yuetan".into(), keys: Vec::new(), allow_hs256: false, leeway_seconds: 30 }
    }
}

/// Verifies officer tokens against the configured keys.
pub struct Verifier {
    keys: HashMap<String, (KeyAlgorithm, DecodingKey)>,
    issuer: String,
    audience: String,
    leeway: u64,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").field("kids", &self.keys.keys().collect::<Vec<_>>()).finish()
    }
}

impl Verifier {
    /// Checks the key configuration; errors name the offending field.
    pub fn new(config: &AuthConfig) -> Result<Verifier, Error> {
        if config.keys.is_empty() {
            return Err(Error::invalid("auth.keys", "at least one issuer key is required"));
        }
        let mut keys = HashMap::new();
        for (index, key) in config.keys.iter().enumerate() {
            let field = |name: &str| format!("auth.keys[{index}].{name}");
            let decoding = match key.algorithm {
                KeyAlgorithm::HS256 => {
                    if !config.allow_hs256 {
                        return Err(Error::invalid(field("algorithm"), "HS256 is for local development only (set auth.allow_hs256)"));
                    }
                    let secret = key.secret.as_deref().filter(|s| s.len() >= 16).ok_or_else(|| {
                        Error::invalid(field("secret"), "an HS256 key needs a secret of at least 16 bytes")
                    })?;
                    DecodingKey::from_secret(secret.as_bytes())
                }
                KeyAlgorithm::EdDSA => {
                    let pem = key.public_key_pem.as_deref().ok_or_else(|| Error::invalid(field("public_key_pem"), "missing"))?;
                    DecodingKey::from_ed_pem(pem.as_bytes()).map_err(|err| Error::invalid(field("public_key_pem"), err.to_string()))?
                }
                KeyAlgorithm::RS256 => {
                    let pem = key.public_key_pem.as_deref().ok_or_else(|| Error::invalid(field("public_key_pem"), "missing"))?;
                    DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|err| Error::invalid(field("public_key_pem"), err.to_string()))?
                }
            };
            if keys.insert(key.kid.clone(), (key.algorithm, decoding)).is_some() {
                return Err(Error::invalid(field("kid"), format!("kid {:?} appears twice", key.kid)));
            }
        }
        Ok(Verifier { keys, issuer: config.issuer.clone(), audience: config.audience.clone(), leeway: config.leeway_seconds })
    }

    /// Verifies `token` and returns the caller. Every failure is
    /// `Unauthenticated` with a short reason.
    pub fn verify(&self, token: &str) -> Result<Actor, Error> {
        let unauthenticated = |reason: &str| Error::Unauthenticated(reason.to_string());
        let header = jsonwebtoken::decode_header(token).map_err(|_| unauthenticated("malformed token"))?;
        let (algorithm, key) = match header.kid.as_deref() {
            Some(kid) => self.keys.get(kid).ok_or_else(|| unauthenticated("unknown signing key"))?,
            None if self.keys.len() == 1 => self.keys.values().next().ok_or_else(|| unauthenticated("unknown signing key"))?,
            None => return Err(unauthenticated("token names no key (kid)")),
        };
        // The key decides the algorithm, never the token (no alg confusion).
        if header.alg != algorithm.jwt() {
            return Err(unauthenticated("algorithm does not match the key"));
        }
        let mut validation = Validation::new(algorithm.jwt());
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.leeway = self.leeway;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|err| {
            use jsonwebtoken::errors::ErrorKind;
            match err.kind() {
                ErrorKind::ExpiredSignature => unauthenticated("token expired"),
                ErrorKind::InvalidSignature => unauthenticated("bad signature"),
                ErrorKind::InvalidIssuer => unauthenticated("wrong issuer"),
                ErrorKind::InvalidAudience => unauthenticated("wrong audience"),
                _ => unauthenticated("invalid token"),
            }
        })?;
        let claims = data.claims;
        let division = DivisionCode::parse(&claims.division).map_err(|_| unauthenticated("token has an invalid division"))?;
        if claims.sub.is_empty() || claims.organ.is_empty() {
            return Err(unauthenticated("token lacks officer or organ"));
        }
        Ok(Actor {
            officer_id: claims.sub,
            name: claims.name,
            organ: claims.organ,
            division,
            roles: claims.roles,
            qualifications: claims.quals,
        })
    }
}

/// Signs tokens: development keys and tests. Production tokens come from
/// the province's identity provider.
pub struct TokenIssuer {
    kid: String,
    algorithm: Algorithm,
    key: EncodingKey,
}

impl TokenIssuer {
    pub fn hs256(kid: &str, secret: &str) -> TokenIssuer {
        TokenIssuer { kid: kid.to_string(), algorithm: Algorithm::HS256, key: EncodingKey::from_secret(secret.as_bytes()) }
    }

    pub fn ed25519_pem(kid: &str, private_pkcs8_pem: &str) -> Result<TokenIssuer, Error> {
        let key = EncodingKey::from_ed_pem(private_pkcs8_pem.as_bytes())
            .map_err(|err| Error::invalid("private_key_pem", err.to_string()))?;
        Ok(TokenIssuer { kid: kid.to_string(), algorithm: Algorithm::EdDSA, key })
    }

    pub fn rs256_pem(kid: &str, private_pem: &str) -> Result<TokenIssuer, Error> {
        let key = EncodingKey::from_rsa_pem(private_pem.as_bytes())
            .map_err(|err| Error::invalid("private_key_pem", err.to_string()))?;
        Ok(TokenIssuer { kid: kid.to_string(), algorithm: Algorithm::RS256, key })
    }

    pub fn issue(&self, claims: &Claims) -> Result<String, Error> {
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).map_err(|err| Error::Internal(format!("signing token: {err}")))
    }
}

/// Verifies the bearer token of every call to the services it wraps.
/// Health and reflection are mounted without it (load balancers, grpcurl).
#[derive(Clone)]
pub struct AuthInterceptor {
    verifier: Arc<Verifier>,
}

impl AuthInterceptor {
    pub fn new(verifier: Arc<Verifier>) -> Self {
        Self { verifier }
    }
}

impl tonic::service::Interceptor for AuthInterceptor {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .ok_or_else(|| Status::unauthenticated("missing bearer token"))?;
        let value = header.to_str().map_err(|_| Status::unauthenticated("malformed authorization header"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| Status::unauthenticated("authorization is not a bearer token"))?;
        let actor = self.verifier.verify(token.trim()).map_err(Status::from)?;
        tracing::Span::current().record("officer", actor.officer_id.as_str());
        request.extensions_mut().insert(actor);
        Ok(request)
    }
}

/// The caller of an authenticated RPC.
pub fn actor<T>(request: &Request<T>) -> Result<&Actor, Status> {
    request.extensions().get::<Actor>().ok_or_else(|| Status::unauthenticated("no verified caller"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> DivisionCode {
        DivisionCode::parse(s).unwrap()
    }

    fn officer(division: &str, organ: &str) -> Actor {
        Actor {
            officer_id: "o1".into(),
            name: "张三".into(),
            organ: organ.into(),
            division: code(division),
            roles: vec![roles::CASE_OFFICER.into()],
            qualifications: vec![],
        }
    }

    #[test]
    fn division_codes_are_six_digits_with_a_level() {
        assert!(DivisionCode::parse("6201").is_err());
        assert!(DivisionCode::parse("62010a").is_err());
        assert_eq!(code("620000").level(), DivisionLevel::Province);
        assert_eq!(code("620100").level(), DivisionLevel::City);
        assert_eq!(code("620102").level(), DivisionLevel::County);
        assert_eq!(code("620102").subject_tokens(), ["62", "01", "02"]);
    }

    #[test]
    fn jurisdiction_covers_own_division_and_below_only() {
        let county_a = code("620102");
        let county_b = code("620103");
        assert!(code("620000").covers(&county_a));
        assert!(code("620100").covers(&county_a));
        assert!(county_a.covers(&county_a));
        assert!(!county_a.covers(&county_b));
        assert!(!county_a.covers(&code("620100")), "a county does not see its city");
        assert!(!code("620100").covers(&code("620201")), "a city does not see another city");
        assert!(!code("620000").covers(&code("630102")), "a province does not see another province");
    }

    #[test]
    fn a_co_department_sees_the_joint_case_outside_its_jurisdiction() {
        let other_county = officer("620103", "620103-HB");
        let case_division = code("620102");
        assert!(!other_county.can_see(&case_division, &[]));
        assert!(other_county.can_see(&case_division, &["620102-SJ", "620103-HB"]));
        assert!(other_county.require_scope(&case_division, &[]).is_err());
    }

    #[test]
    fn roles_are_required_by_name() {
        let actor = officer("620102", "620102-SJ");
        assert!(actor.require_role(roles::CASE_OFFICER).is_ok());
        let err = actor.require_role(roles::LEGAL_REVIEWER).unwrap_err();
        assert!(err.to_string().contains("legal_reviewer"));
    }
}
