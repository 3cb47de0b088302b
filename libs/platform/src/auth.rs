//! Authentication and jurisdiction (ARCHITECTURE §6, DOMAIN §2).
//!
//! Every business RPC carries a bearer JWT signed by a configured issuer key
//! (EdDSA or RS256; HS256 only when `allow_hs256` is set, for local
//! development). The [`AuthInterceptor`] verifies it and puts the [`Actor`]
//! into the request; handlers then authorise by role ([`Actor::require_role`])
//! and by jurisdiction ([`Actor::require_scope`]): an officer sees their own
//! division and everything below it, and a co-department of a joint
//! interview sees that case.
//!
//! The key, never the token, decides the algorithm: a token is checked only
//! with the key its `kid` names and only with that key's algorithm, so an
//! HS256 token "signed" with a public key (algorithm confusion) is refused.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use tonic::metadata::MetadataMap;
use tonic::{Request, Status};

use crate::error::Error;

/// A six-digit administrative division code (GB/T 2260): `620000` Gansu
/// province, `620100` Lanzhou city, `620102` Chengguan district.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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
    /// Accepts exactly six ASCII digits with a non-zero province part.
    pub fn parse(value: &str) -> Result<DivisionCode, Error> {
        if value.len() != 6 || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::invalid(
                "division_code",
                format!("{value:?} is not a six-digit division code"),
            ));
        }
        if &value[0..2] == "00" {
            return Err(Error::invalid(
                "division_code",
                format!("{value:?} has no province"),
            ));
        }
        Ok(DivisionCode(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A province ends in `0000`, a city in `00`, anything else is a county.
    pub fn level(&self) -> DivisionLevel {
        if &self.0[2..6] == "0000" {
            DivisionLevel::Province
        } else if &self.0[4..6] == "00" {
            DivisionLevel::City
        } else {
            DivisionLevel::County
        }
    }

    /// The province token: `620102` → `62`.
    pub fn province(&self) -> &str {
        &self.0[0..2]
    }

    /// The city token: `620102` → `01` (`00` for a province).
    pub fn city(&self) -> &str {
        &self.0[2..4]
    }

    /// The county token: `620102` → `02` (`00` for a province or city).
    pub fn county(&self) -> &str {
        &self.0[4..6]
    }

    /// The tokens of an event subject (ARCHITECTURE §4), so that
    /// `yuetan.ev.62.>` is a province and `yuetan.ev.62.01.>` a city:
    /// `620102` → `["62", "01", "02"]`, `620100` → `["62", "01", "00"]`.
    pub fn subject_tokens(&self) -> [String; 3] {
        [
            self.province().to_string(),
            self.city().to_string(),
            self.county().to_string(),
        ]
    }

    /// "Own division and below": a province covers its cities and counties,
    /// a city its counties, a county only itself.
    pub fn covers(&self, other: &DivisionCode) -> bool {
        other.0.starts_with(self.scope_prefix())
    }

    /// The prefix every code this one covers starts with: `62` for a
    /// province, `6201` for a city, the whole code for a county (so a
    /// query can select a jurisdiction with `LIKE prefix || '%'`).
    pub fn scope_prefix(&self) -> &str {
        match self.level() {
            DivisionLevel::Province => &self.0[0..2],
            DivisionLevel::City => &self.0[0..4],
            DivisionLevel::County => &self.0,
        }
    }
}

impl FromStr for DivisionCode {
    type Err = Error;
    fn from_str(value: &str) -> Result<Self, Error> {
        DivisionCode::parse(value)
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

impl fmt::Display for DivisionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Role names of DOMAIN.md §2, plus the IT operator. Roles stay strings in
/// the [`Actor`] so that a role the identity provider adds later does not
/// make every token of that officer unreadable; it simply grants nothing.
pub mod roles {
    pub const CASE_OFFICER: &str = "case_officer";
    pub const SECTION_CHIEF: &str = "section_chief";
    pub const LEGAL_REVIEWER: &str = "legal_reviewer";
    pub const DEPUTY_LEADER: &str = "deputy_leader";
    pub const LEADER: &str = "leader";
    pub const OFFICE: &str = "office";
    pub const DISCIPLINE_INSPECTOR: &str = "discipline_inspector";
    pub const CO_DEPARTMENT_OFFICER: &str = "co_department_officer";
    /// IT operator: runs the platform, decides nothing in a case.
    pub const ADMIN: &str = "admin";
    /// A service account of an outside system (reconsideration intake,
    /// litigation, penalty): reads case files and registers relief in the
    /// divisions it serves, nothing else (issue 13).
    pub const SYSTEM: &str = "system";
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
        SYSTEM,
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
    /// Role names, see [`roles`].
    pub roles: Vec<String>,
    /// Law-enforcement qualifications (执法资格), e.g. a certificate number.
    pub qualifications: Vec<String>,
    /// Further divisions the caller serves beside `division` (a service
    /// account's `divisions` claim); empty for an officer.
    #[serde(default)]
    pub serves: Vec<DivisionCode>,
}

impl Actor {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// `PermissionDenied` naming the missing role.
    pub fn require_role(&self, role: &str) -> Result<(), Error> {
        if self.has_role(role) {
            return Ok(());
        }
        Err(Error::PermissionDenied(format!("role `{role}` required")))
    }

    /// Whether the actor may see a case owned by `division`, whose joint
    /// interview involves the organs `co_organs` (empty for an ordinary case).
    pub fn can_see(&self, division: &DivisionCode, co_organs: &[&str]) -> bool {
        self.division.covers(division) || self.serves.iter().any(|d| d.covers(division)) || co_organs.contains(&self.organ.as_str())
    }

    /// `PermissionDenied` unless [`Actor::can_see`].
    pub fn require_scope(&self, division: &DivisionCode, co_organs: &[&str]) -> Result<(), Error> {
        if self.can_see(division, co_organs) {
            return Ok(());
        }
        Err(Error::PermissionDenied(format!(
            "division {division} is outside the jurisdiction of {}",
            self.division
        )))
    }

    /// [`Actor::require_scope`] for a row as stored: its division code and
    /// the co-departments of its joint case.
    pub fn require_scope_of(&self, division: &str, co_departments: &[String]) -> Result<(), Error> {
        let division = DivisionCode::parse(division)?;
        let co: Vec<&str> = co_departments.iter().map(String::as_str).collect();
        self.require_scope(&division, &co)
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

/// The claims of a Yuetan officer token, as issued.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// Officer id.
    pub sub: String,
    pub name: String,
    /// Organ code.
    pub organ: String,
    /// Division code of the organ (six digits).
    pub division: String,
    pub roles: Vec<String>,
    #[serde(default)]
    pub quals: Vec<String>,
    /// A service account's further divisions (six digits each).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub divisions: Vec<String>,
    pub iss: String,
    pub aud: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
    /// Issued at, seconds since the Unix epoch.
    pub iat: i64,
}

impl Claims {
    /// Claims for one officer, valid from `now` for `ttl`, without
    /// qualifications (set `quals` afterwards if needed).
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
            divisions: Vec::new(),
            iss: issuer.to_string(),
            aud: audience.to_string(),
            exp: (now + ttl).timestamp(),
            iat: now.timestamp(),
        }
    }
}

/// What [`Verifier::verify`] reads from a token after the signature and the
/// registered claims (`exp`, `iss`, `aud`) have been checked by
/// `jsonwebtoken`. `aud` is left out on purpose: identity providers send it
/// as a string or an array, and it has already been checked.
#[derive(Deserialize)]
struct OfficerClaims {
    sub: String,
    name: String,
    organ: String,
    division: String,
    roles: Vec<String>,
    #[serde(default)]
    quals: Vec<String>,
    #[serde(default)]
    divisions: Vec<String>,
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

/// One issuer key. Public-key algorithms take `public_key_pem`, HS256 takes
/// `secret`; the other field must be absent.
#[derive(Clone, Serialize, Deserialize)]
pub struct KeyConfig {
    pub kid: String,
    pub algorithm: KeyAlgorithm,
    /// PEM public key (EdDSA: SPKI `PUBLIC KEY`; RS256: SPKI or PKCS#1).
    #[serde(default)]
    pub public_key_pem: Option<String>,
    /// HS256 shared secret, at least 32 bytes (RFC 7518 §3.2).
    #[serde(default)]
    pub secret: Option<String>,
}

/// Prints neither the secret nor the key material: config is logged at start.
impl fmt::Debug for KeyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyConfig")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field(
                "public_key_pem",
                &self.public_key_pem.as_ref().map(|_| "<pem>"),
            )
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Who may sign tokens, and for whom they are meant. `Debug` is safe to log:
/// [`KeyConfig`] redacts its key material.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// Expected `iss`.
    pub issuer: String,
    /// Expected `aud`.
    pub audience: String,
    pub keys: Vec<KeyConfig>,
    /// Accept HS256 keys (shared secrets). Local development only: anyone
    /// who can read the config could mint tokens.
    pub allow_hs256: bool,
    /// Clock skew tolerated on `exp` (and `nbf`), in seconds.
    pub leeway_seconds: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            issuer: "yuetan".into(),
            audience: "yuetan".into(),
            keys: Vec::new(),
            allow_hs256: false,
            leeway_seconds: 30,
        }
    }
}

/// The most clock skew `auth.leeway_seconds` may tolerate. Leeway is for
/// clocks that disagree by seconds; a larger one would let an expired
/// token live on (a 10-year leeway accepted one expired 5 years ago).
pub const MAX_LEEWAY_SECONDS: u64 = 300;

/// The shortest HS256 secret accepted: the size of the hash (RFC 7518 §3.2).
const MIN_HS256_SECRET_BYTES: usize = 32;

/// Verifies officer tokens against the configured keys.
pub struct Verifier {
    keys: HashMap<String, (KeyAlgorithm, DecodingKey)>,
    issuer: String,
    audience: String,
    leeway: u64,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kids: Vec<&String> = self.keys.keys().collect();
        kids.sort();
        f.debug_struct("Verifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("kids", &kids)
            .finish()
    }
}

impl Verifier {
    /// Checks the key configuration once, at start; errors name the
    /// offending field (`auth.keys[0].public_key_pem`).
    pub fn new(config: &AuthConfig) -> Result<Verifier, Error> {
        if config.issuer.trim().is_empty() {
            return Err(Error::invalid("auth.issuer", "must not be empty"));
        }
        if config.audience.trim().is_empty() {
            return Err(Error::invalid("auth.audience", "must not be empty"));
        }
        if config.leeway_seconds > MAX_LEEWAY_SECONDS {
            return Err(Error::invalid(
                "auth.leeway_seconds",
                format!("must be at most {MAX_LEEWAY_SECONDS} (clock skew, not token lifetime)"),
            ));
        }
        if config.keys.is_empty() {
            return Err(Error::invalid(
                "auth.keys",
                "at least one issuer key is required",
            ));
        }
        let mut keys = HashMap::new();
        for (index, key) in config.keys.iter().enumerate() {
            let field = |name: &str| format!("auth.keys[{index}].{name}");
            if key.kid.trim().is_empty() {
                return Err(Error::invalid(field("kid"), "must not be empty"));
            }
            let decoding = match key.algorithm {
                KeyAlgorithm::HS256 => {
                    if !config.allow_hs256 {
                        return Err(Error::invalid(
                            field("algorithm"),
                            "HS256 is for local development only (set auth.allow_hs256)",
                        ));
                    }
                    if key.public_key_pem.is_some() {
                        return Err(Error::invalid(
                            field("public_key_pem"),
                            "an HS256 key takes a secret",
                        ));
                    }
                    let secret = key
                        .secret
                        .as_deref()
                        .ok_or_else(|| Error::invalid(field("secret"), "missing"))?;
                    if secret.len() < MIN_HS256_SECRET_BYTES {
                        return Err(Error::invalid(
                            field("secret"),
                            format!(
                                "an HS256 secret needs at least {MIN_HS256_SECRET_BYTES} bytes"
                            ),
                        ));
                    }
                    DecodingKey::from_secret(secret.as_bytes())
                }
                KeyAlgorithm::EdDSA | KeyAlgorithm::RS256 => {
                    if key.secret.is_some() {
                        return Err(Error::invalid(
                            field("secret"),
                            "only HS256 keys take a secret",
                        ));
                    }
                    let pem = key
                        .public_key_pem
                        .as_deref()
                        .ok_or_else(|| Error::invalid(field("public_key_pem"), "missing"))?;
                    let parsed = if key.algorithm == KeyAlgorithm::EdDSA {
                        DecodingKey::from_ed_pem(pem.as_bytes())
                    } else {
                        DecodingKey::from_rsa_pem(pem.as_bytes())
                    };
                    parsed
                        .map_err(|err| Error::invalid(field("public_key_pem"), err.to_string()))?
                }
            };
            if keys
                .insert(key.kid.clone(), (key.algorithm, decoding))
                .is_some()
            {
                return Err(Error::invalid(
                    field("kid"),
                    format!("kid {:?} appears twice", key.kid),
                ));
            }
        }
        Ok(Verifier {
            keys,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            leeway: config.leeway_seconds,
        })
    }

    /// Verifies `token` and returns the caller. Every failure is
    /// `Unauthenticated` with a short reason that reveals nothing about the
    /// keys (unknown signing key, expired, bad signature, …).
    pub fn verify(&self, token: &str) -> Result<Actor, Error> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| unauthenticated("malformed token"))?;
        let (algorithm, key) = match header.kid.as_deref() {
            Some(kid) => self
                .keys
                .get(kid)
                .ok_or_else(|| unauthenticated("unknown signing key"))?,
            // Without a kid, a single configured key is unambiguous.
            None if self.keys.len() == 1 => self
                .keys
                .values()
                .next()
                .ok_or_else(|| unauthenticated("unknown signing key"))?,
            None => return Err(unauthenticated("token names no signing key (kid)")),
        };
        if header.alg != algorithm.jwt() {
            return Err(unauthenticated("algorithm does not match the signing key"));
        }
        let mut validation = Validation::new(algorithm.jwt());
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = self.leeway;
        let claims = jsonwebtoken::decode::<OfficerClaims>(token, key, &validation)
            .map_err(|err| unauthenticated(rejection_reason(err.kind())))?
            .claims;

        let division = DivisionCode::parse(&claims.division)
            .map_err(|_| unauthenticated("token has an invalid division"))?;
        if claims.sub.trim().is_empty() || claims.organ.trim().is_empty() {
            return Err(unauthenticated("token lacks the officer or the organ"));
        }
        if claims.divisions.len() > 64 {
            return Err(unauthenticated("token serves too many divisions"));
        }
        let serves = claims
            .divisions
            .iter()
            .map(|d| DivisionCode::parse(d).map_err(|_| unauthenticated("token has an invalid division")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Actor {
            officer_id: claims.sub,
            name: claims.name,
            organ: claims.organ,
            division,
            roles: claims.roles,
            qualifications: claims.quals,
            serves,
        })
    }
}

fn unauthenticated(reason: &str) -> Error {
    Error::Unauthenticated(reason.to_string())
}

fn rejection_reason(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ExpiredSignature => "token expired",
        ErrorKind::ImmatureSignature => "token not yet valid",
        ErrorKind::InvalidSignature => "bad signature",
        ErrorKind::InvalidIssuer => "wrong issuer",
        ErrorKind::InvalidAudience => "wrong audience",
        ErrorKind::InvalidAlgorithm => "algorithm does not match the signing key",
        ErrorKind::MissingRequiredClaim(_) => "token lacks a required claim",
        // The officer claims did not deserialize (missing or mistyped).
        ErrorKind::Json(_) => "token lacks officer claims",
        _ => "malformed token",
    }
}

/// Signs tokens: development keys (`yuetan token issue`) and tests.
/// Production tokens come from the province's identity provider.
pub struct TokenIssuer {
    kid: String,
    algorithm: Algorithm,
    key: EncodingKey,
}

impl fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl TokenIssuer {
    pub fn hs256(kid: &str, secret: &str) -> TokenIssuer {
        TokenIssuer {
            kid: kid.to_string(),
            algorithm: Algorithm::HS256,
            key: EncodingKey::from_secret(secret.as_bytes()),
        }
    }

    /// From a PKCS#8 `PRIVATE KEY` PEM.
    pub fn ed25519_pem(kid: &str, private_pkcs8_pem: &str) -> Result<TokenIssuer, Error> {
        let key = EncodingKey::from_ed_pem(private_pkcs8_pem.as_bytes())
            .map_err(|err| Error::invalid("private_key_pem", err.to_string()))?;
        Ok(TokenIssuer {
            kid: kid.to_string(),
            algorithm: Algorithm::EdDSA,
            key,
        })
    }

    /// From a PKCS#1 `RSA PRIVATE KEY` or PKCS#8 `PRIVATE KEY` PEM.
    pub fn rs256_pem(kid: &str, private_pem: &str) -> Result<TokenIssuer, Error> {
        let key = EncodingKey::from_rsa_pem(private_pem.as_bytes())
            .map_err(|err| Error::invalid("private_key_pem", err.to_string()))?;
        Ok(TokenIssuer {
            kid: kid.to_string(),
            algorithm: Algorithm::RS256,
            key,
        })
    }

    /// A signed token whose header names this issuer's `kid`.
    pub fn issue(&self, claims: &Claims) -> Result<String, Error> {
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key)
            .map_err(|err| Error::Internal(format!("signing token: {err}")))
    }
}

/// Verifies the bearer token of every call to the services it wraps and
/// puts the [`Actor`] into the request extensions (read it with [`actor`]).
///
/// The [gate](crate::gate) calls it first for every business service
/// (`server::Services::add_authenticated`), before the role check: gRPC
/// health and reflection are mounted beside them without it, so load
/// balancers and `grpcurl` work without a token.
#[derive(Clone)]
pub struct AuthInterceptor {
    pub verifier: Arc<Verifier>,
}

impl AuthInterceptor {
    pub fn new(verifier: Arc<Verifier>) -> Self {
        Self { verifier }
    }
}

impl fmt::Debug for AuthInterceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthInterceptor")
            .field("verifier", &self.verifier)
            .finish()
    }
}

impl tonic::service::Interceptor for AuthInterceptor {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let token = bearer_token(request.metadata())?;
        let actor = self.verifier.verify(token).map_err(|err| {
            tracing::info!(reason = %err, "token rejected");
            Status::from(err)
        })?;
        request.extensions_mut().insert(actor);
        Ok(request)
    }
}

/// The token of an `authorization: Bearer <jwt>` header (the scheme is
/// case-insensitive, RFC 7235).
fn bearer_token(metadata: &MetadataMap) -> Result<&str, Status> {
    let value = metadata
        .get("authorization")
        .ok_or_else(|| Status::unauthenticated("missing bearer token"))?
        .to_str()
        .map_err(|_| Status::unauthenticated("malformed authorization header"))?;
    let (scheme, token) = value
        .trim()
        .split_once(' ')
        .ok_or_else(|| Status::unauthenticated("authorization is not a bearer token"))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Status::unauthenticated(
            "authorization is not a bearer token",
        ));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(Status::unauthenticated("missing bearer token"));
    }
    Ok(token)
}

/// The caller of an authenticated RPC, for handlers. `Unauthenticated` if
/// the service was mounted without the [`AuthInterceptor`].
pub fn actor<T>(request: &Request<T>) -> Result<&Actor, Status> {
    request
        .extensions()
        .get::<Actor>()
        .ok_or_else(|| Status::unauthenticated("no verified caller"))
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
            serves: vec![],
        }
    }

    #[test]
    fn division_codes_are_six_ascii_digits_with_a_province() {
        for bad in [
            "",
            "6201",
            "6201020",
            "62010a",
            "６２０１０２",
            "000102",
            " 62010",
        ] {
            let err = DivisionCode::parse(bad).unwrap_err();
            assert!(err.to_string().contains("division_code"), "{bad:?}: {err}");
        }
        assert_eq!(code("620102").as_str(), "620102");
        assert_eq!("620102".parse::<DivisionCode>().unwrap(), code("620102"));
    }

    #[test]
    fn division_levels_and_tokens() {
        assert_eq!(code("620000").level(), DivisionLevel::Province);
        assert_eq!(code("620100").level(), DivisionLevel::City);
        assert_eq!(code("620102").level(), DivisionLevel::County);
        let county = code("620102");
        assert_eq!(
            (county.province(), county.city(), county.county()),
            ("62", "01", "02")
        );
        assert_eq!(county.subject_tokens(), ["62", "01", "02"]);
        assert_eq!(code("620100").subject_tokens(), ["62", "01", "00"]);
        assert_eq!(code("620000").subject_tokens(), ["62", "00", "00"]);
    }

    #[test]
    fn division_codes_round_trip_through_serde_and_reject_bad_values() {
        let json = serde_json::to_string(&code("620102")).unwrap();
        assert_eq!(json, "\"620102\"");
        assert_eq!(
            serde_json::from_str::<DivisionCode>(&json).unwrap(),
            code("620102")
        );
        assert!(serde_json::from_str::<DivisionCode>("\"62\"").is_err());
    }

    #[test]
    fn jurisdiction_covers_own_division_and_below_only() {
        let county_a = code("620102");
        let county_b = code("620103");
        assert!(code("620000").covers(&county_a));
        assert!(code("620000").covers(&code("620100")));
        assert!(code("620000").covers(&code("620000")));
        assert!(code("620100").covers(&county_a));
        assert!(code("620100").covers(&code("620100")));
        assert!(county_a.covers(&county_a));
        assert!(!county_a.covers(&county_b));
        assert!(
            !county_a.covers(&code("620100")),
            "a county does not see its city"
        );
        assert!(
            !code("620100").covers(&code("620000")),
            "a city does not see its province"
        );
        assert!(
            !code("620100").covers(&code("620201")),
            "a city does not see another city"
        );
        assert!(
            !code("620000").covers(&code("630102")),
            "a province does not see another province"
        );
    }

    #[test]
    fn a_county_officer_sees_only_cases_of_the_county() {
        let officer = officer("620102", "620102-SJ");
        assert!(officer.can_see(&code("620102"), &[]));
        assert!(!officer.can_see(&code("620103"), &[]));
        assert!(!officer.can_see(&code("620100"), &[]));
        assert!(!officer.can_see(&code("620000"), &[]));
    }

    #[test]
    fn a_city_officer_sees_the_city_and_its_counties() {
        let officer = officer("620100", "620100-SJ");
        assert!(officer.can_see(&code("620100"), &[]));
        assert!(officer.can_see(&code("620102"), &[]));
        assert!(officer.can_see(&code("620111"), &[]));
        assert!(!officer.can_see(&code("620201"), &[]));
        assert!(!officer.can_see(&code("620000"), &[]));
    }

    #[test]
    fn a_province_officer_sees_the_whole_province_only() {
        let officer = officer("620000", "620000-SJ");
        assert!(officer.can_see(&code("620000"), &[]));
        assert!(officer.can_see(&code("620100"), &[]));
        assert!(officer.can_see(&code("621102"), &[]));
        assert!(!officer.can_see(&code("630102"), &[]));
    }

    #[test]
    fn a_co_department_sees_the_joint_case_outside_its_jurisdiction() {
        let other_county = officer("620103", "620103-HB");
        let case_division = code("620102");
        assert!(!other_county.can_see(&case_division, &[]));
        assert!(!other_county.can_see(&case_division, &["620102-SJ", "620102-HB"]));
        assert!(other_county.can_see(&case_division, &["620102-SJ", "620103-HB"]));
        assert!(other_county
            .require_scope(&case_division, &["620103-HB"])
            .is_ok());
        let err = other_county.require_scope(&case_division, &[]).unwrap_err();
        assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    }

    #[test]
    fn roles_are_required_by_name() {
        let actor = officer("620102", "620102-SJ");
        assert!(actor.has_role(roles::CASE_OFFICER));
        assert!(actor.require_role(roles::CASE_OFFICER).is_ok());
        let err = actor.require_role(roles::LEGAL_REVIEWER).unwrap_err();
        assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
        assert!(err.to_string().contains("legal_reviewer"), "{err}");
    }

    #[test]
    fn bearer_tokens_are_read_case_insensitively_and_garbage_is_refused() {
        let mut metadata = MetadataMap::new();
        assert_eq!(
            bearer_token(&metadata).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        for (value, expected) in [
            ("Bearer abc", Some("abc")),
            ("bearer  abc ", Some("abc")),
            ("Basic abc", None),
            ("Bearer", None),
            ("Bearer   ", None),
        ] {
            metadata.insert("authorization", value.parse().unwrap());
            match expected {
                Some(token) => assert_eq!(bearer_token(&metadata).unwrap(), token, "{value:?}"),
                None => assert_eq!(
                    bearer_token(&metadata).unwrap_err().code(),
                    tonic::Code::Unauthenticated,
                    "{value:?}"
                ),
            }
        }
    }
}
