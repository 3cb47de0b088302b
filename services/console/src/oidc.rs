//! Sign-in through the province's identity provider: OpenID Connect
//! authorization code flow with PKCE (S256), a state and a nonce
//! (openidconnect crate). The ID token is verified (signature against the
//! provider's JWKS, issuer, audience, expiry, nonce); then its claims become
//! an officer by `[console.oidc]`: which claim is the officer's id, name,
//! organ, division and groups, and which group is which Yuetan role.

use std::future::Future;
use std::pin::Pin;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, HttpRequest, HttpResponse, IssuerUrl, Nonce,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde_json::{Map, Value};
use yuetan_platform::Error;

use crate::config::OidcConfig;
use crate::session::{LoginState, Officer};

type Rp = CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

/// The relying party: the provider's metadata, read once at start.
pub struct Oidc {
    client: Rp,
    http: reqwest::Client,
    config: OidcConfig,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc").field("issuer", &self.config.issuer).finish_non_exhaustive()
    }
}

/// HTTP for openidconnect through our reqwest: no redirects followed (the
/// crate's advice against SSRF), 10 s per call.
#[derive(Clone)]
struct Http(reqwest::Client);

#[derive(Debug)]
struct HttpError(String);
impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for HttpError {}

impl<'c> openidconnect::AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let response = self
                .0
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(|err| HttpError(err.to_string()))?;
            let mut builder = http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let bytes = response.bytes().await.map_err(|err| HttpError(err.to_string()))?;
            builder.body(bytes.to_vec()).map_err(|err| HttpError(err.to_string()))
        })
    }
}

impl Oidc {
    /// Reads the provider's discovery document; `redirect` is the console's
    /// `/auth/callback` as the provider has it registered.
    pub async fn discover(config: &OidcConfig, redirect: &str) -> Result<Oidc, Error> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|err| Error::Internal(err.to_string()))?;
        let issuer = IssuerUrl::new(config.issuer.clone()).map_err(|err| Error::invalid("console.oidc.issuer", err.to_string()))?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &Http(http.clone()))
            .await
            .map_err(|err| Error::Unavailable(format!("console.oidc.issuer {}: discovery failed: {err}", config.issuer)))?;
        let redirect = RedirectUrl::new(redirect.to_string()).map_err(|err| Error::invalid("console.public_url", err.to_string()))?;
        let client = CoreClient::from_provider_metadata(metadata, ClientId::new(config.client_id.clone()), Some(ClientSecret::new(config.client_secret.expose().to_string())))
            .set_redirect_uri(redirect);
        Ok(Oidc { client, http, config: config.clone() })
    }

    /// Where to send the browser, and what to keep for the callback.
    pub fn begin(&self, now: i64) -> (String, LoginState) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = self
            .client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        let login = LoginState { state: state.secret().clone(), nonce: nonce.secret().clone(), pkce_verifier: verifier.secret().clone(), exp: now + 600 };
        (url.to_string(), login)
    }

    /// Redeems the code (with the PKCE verifier), verifies the ID token and
    /// maps its claims to an officer.
    pub async fn finish(&self, code: &str, login: &LoginState) -> Result<Officer, Error> {
        let http = Http(self.http.clone());
        let response = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|err| Error::Internal(err.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(login.pkce_verifier.clone()))
            .request_async(&http)
            .await
            .map_err(|err| Error::Unauthenticated(format!("the identity provider refused the code: {err}")))?;
        let id_token = response.id_token().ok_or_else(|| Error::Unauthenticated("the identity provider sent no ID token".into()))?;
        id_token
            .claims(&self.client.id_token_verifier(), &Nonce::new(login.nonce.clone()))
            .map_err(|err| Error::Unauthenticated(format!("ID token refused: {err}")))?;
        // Verified: its payload is the provider's word.
        let payload = id_token.to_string();
        let payload = payload.split('.').nth(1).ok_or_else(|| Error::Unauthenticated("ID token is not a JWS".into()))?;
        let claims: Map<String, Value> = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).map_err(|err| Error::Unauthenticated(err.to_string()))?)
            .map_err(|err| Error::Unauthenticated(err.to_string()))?;
        map_claims(&self.config, &claims)
    }
}

/// The officer an ID token's claims describe under `[console.oidc]`.
pub fn map_claims(config: &OidcConfig, claims: &Map<String, Value>) -> Result<Officer, Error> {
    let text = |name: &str| -> Result<String, Error> {
        claims
            .get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty() && v.len() <= 128)
            .map(str::to_string)
            .ok_or_else(|| Error::Unauthenticated(format!("the ID token has no claim `{name}`")))
    };
    let groups: Vec<String> = match claims.get(&config.roles_claim) {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        Some(Value::String(one)) => one.split([' ', ',']).filter(|s| !s.is_empty()).map(str::to_string).collect(),
        _ => Vec::new(),
    };
    let mut roles: Vec<String> = groups
        .iter()
        .filter_map(|group| {
            if config.role_map.is_empty() {
                yuetan_platform::auth::roles::ALL.contains(&group.as_str()).then(|| group.clone())
            } else {
                config.role_map.get(group).cloned()
            }
        })
        .collect();
    roles.sort();
    roles.dedup();
    if roles.is_empty() {
        return Err(Error::PermissionDenied("the identity provider gives this account no role in Yuetan".into()));
    }
    let division = text(&config.division_claim)?;
    yuetan_platform::auth::DivisionCode::parse(&division)?;
    Ok(Officer { id: text(&config.officer_claim)?, name: text(&config.name_claim)?, organ: text(&config.organ_claim)?, division, roles })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> OidcConfig {
        OidcConfig {
            organ_claim: "org_code".into(),
            division_claim: "region".into(),
            roles_claim: "groups".into(),
            role_map: [("yt-case".to_string(), "case_officer".to_string()), ("yt-review".to_string(), "legal_reviewer".to_string())].into(),
            ..OidcConfig::default()
        }
    }

    #[test]
    fn claims_become_an_officer_through_the_configured_names_and_role_map() {
        let claims = json!({"sub": "u1", "name": "李四", "org_code": "620102-SJ", "region": "620102", "groups": ["yt-case", "other"]});
        let officer = map_claims(&config(), claims.as_object().unwrap()).unwrap();
        assert_eq!(officer.organ, "620102-SJ");
        assert_eq!(officer.division, "620102");
        assert_eq!(officer.roles, vec!["case_officer".to_string()]);
    }

    #[test]
    fn an_account_without_a_mapped_group_gets_no_session() {
        let claims = json!({"sub": "u1", "name": "李四", "org_code": "620102-SJ", "region": "620102", "groups": ["other"]});
        assert!(matches!(map_claims(&config(), claims.as_object().unwrap()), Err(Error::PermissionDenied(_))));
    }

    #[test]
    fn a_bad_division_claim_is_refused() {
        let claims = json!({"sub": "u1", "name": "李四", "org_code": "620102-SJ", "region": "62-x", "groups": ["yt-case"]});
        assert!(map_claims(&config(), claims.as_object().unwrap()).is_err());
    }
}
