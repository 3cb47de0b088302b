//! A small OpenID Connect provider standing in for the province's identity
//! provider: discovery, the authorization endpoint (code flow with S256
//! PKCE only), the token endpoint, the JWKS and an end-session endpoint.
//!
//! It checks what a real provider checks — the client and its exact
//! redirect URI, the client secret, a one-time code that expires after
//! 60 s, and the PKCE verifier — so a relying party that skips a step is
//! refused here rather than in production. ID tokens are RS256 JWTs signed
//! with a committed, test-only RSA key ([`TEST_KEY_PEM`]); never trust it
//! anywhere but in tests.
//!
//! A browser logs in by clicking a user on the login page
//! (`#login-<sub>`); a test without a browser adds `login_hint=<sub>` to
//! the authorization request and is sent straight back with a code.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Json};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::RngCore as _;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;

/// The test-only RSA key (2048 bits, PKCS#1 PEM) the peer signs ID tokens with.
pub const TEST_KEY_PEM: &str = include_str!("oidc_test_key.pem");
/// The `kid` of [`TEST_KEY_PEM`] in the ID tokens' header and the JWKS.
pub const KEY_ID: &str = "testkit-oidc-1";
/// The modulus of [`TEST_KEY_PEM`], base64url without padding (computed once
/// with `openssl rsa -noout -modulus`; the tests verify tokens against it).
const KEY_N: &str = "0E5E_xoEsNlSwyg0CBlmAbGuTbZbRKcfvl7yxctYLoAZCSTHhp2Fz7wbCdn_EQp9zgVjW69NVCvUFrAzDSMuvAIACMGo707Q3-0ejpjCT0D-lTugsYFhvSZvudM-yjZbZkFPJAzji1ghieMWmr7PIRtX6zRNoxyPh83S5aTaG1rfz1HkuoNP8DBEMy-M6PuS07tdbayu6lrPZS3wgv52o2G4VaW7_woK-qnHYfLTuIA3XoWhj2xNDfkvkuOr6dFS6O6WM_aUpnU1N6lU9KMkb8ARFPYNNL-PfBXExa0Kc-c5H7ftkW6Oby4xXiwgwC-c8CWKqHZqsL6_HuJqX7YYlQ";
/// The public exponent 65537, base64url.
const KEY_E: &str = "AQAB";

/// How long an authorization code can be redeemed.
const CODE_LIFETIME: Duration = Duration::from_secs(60);
/// How long ID and access tokens are valid.
const TOKEN_LIFETIME_SECS: i64 = 300;

/// A user who can log in. `claims` are added to the ID token as they are
/// (e.g. `org_code`, `region`, `groups`); they cannot override the
/// standard claims (`iss`, `sub`, `aud`, `exp`, `iat`, `auth_time`,
/// `nonce`, `name`).
#[derive(Debug, Clone, PartialEq)]
pub struct OidcUser {
    pub sub: String,
    pub name: String,
    pub claims: Map<String, Value>,
}

/// A registered relying party (a confidential client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcClient {
    pub client_id: String,
    pub client_secret: String,
    /// Compared exactly, as OpenID Connect requires.
    pub redirect_uris: Vec<String>,
}

/// A running provider on an ephemeral port of 127.0.0.1; stopped on drop.
pub struct OidcPeer {
    addr: SocketAddr,
    inner: Arc<Inner>,
    server: JoinHandle<()>,
}

struct Inner {
    issuer: String,
    key: EncodingKey,
    state: Mutex<PeerState>,
}

#[derive(Default)]
struct PeerState {
    clients: HashMap<String, OidcClient>,
    users: Vec<OidcUser>,
    codes: HashMap<String, Grant>,
    redeemed: usize,
}

/// What an authorization code was issued for.
struct Grant {
    client_id: String,
    redirect_uri: String,
    nonce: Option<String>,
    code_challenge: String,
    sub: String,
    auth_time: i64,
    issued: Instant,
    used: bool,
}

impl OidcPeer {
    /// Starts the provider with these clients and users.
    pub async fn start(clients: Vec<OidcClient>, users: Vec<OidcUser>) -> Result<OidcPeer> {
        let key = EncodingKey::from_rsa_pem(TEST_KEY_PEM.as_bytes()).context("reading the test-only OIDC signing key")?;
        // The issuer contains the port, so bind first and build the router after.
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.context("binding the OIDC peer")?;
        let addr = listener.local_addr()?;
        let state = PeerState {
            clients: clients.into_iter().map(|c| (c.client_id.clone(), c)).collect(),
            users,
            ..PeerState::default()
        };
        let inner = Arc::new(Inner {
            issuer: format!("http://{addr}"),
            key,
            state: Mutex::new(state),
        });
        let router = axum::Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/authorize", get(authorize_page).post(authorize_approve))
            .route("/token", axum::routing::post(token))
            .route("/jwks", get(jwks))
            .route("/logout", get(logout))
            .with_state(inner.clone());
        let server = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, router).await {
                tracing::warn!(%err, "oidc peer stopped");
            }
        });
        Ok(OidcPeer { addr, inner, server })
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash: the `iss` of the
    /// tokens and the base of the discovery document.
    pub fn issuer(&self) -> String {
        self.inner.issuer.clone()
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Registers a client, or replaces the one with the same `client_id`
    /// (a test learns the console's redirect URI after it started the peer).
    pub fn add_client(&self, client: OidcClient) {
        self.inner.state.lock().unwrap().clients.insert(client.client_id.clone(), client);
    }

    /// How many authorization codes were exchanged for tokens.
    pub fn codes_redeemed(&self) -> usize {
        self.inner.state.lock().unwrap().redeemed
    }
}

impl Drop for OidcPeer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn discovery(State(inner): State<Arc<Inner>>) -> Json<Value> {
    let issuer = &inner.issuer;
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "end_session_endpoint": format!("{issuer}/logout"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "name", "org_code", "region", "groups"],
    }))
}

async fn jwks() -> Json<Value> {
    Json(json!({
        "keys": [{ "kty": "RSA", "use": "sig", "alg": "RS256", "kid": KEY_ID, "n": KEY_N, "e": KEY_E }]
    }))
}

/// The parameters of an authorization request, from the query (GET) or
/// from the login page's hidden fields (POST).
#[derive(Debug, Default, serde::Deserialize)]
struct AuthorizeParams {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    login_hint: Option<String>,
    /// The user chosen on the login page (POST only).
    sub: Option<String>,
}

/// Why an authorization request is refused.
enum AuthorizeError {
    /// The client or its redirect URI is unknown: the user sees an error
    /// page and is never redirected (RFC 6749 §4.1.2.1).
    Page(String),
    /// Anything else: redirected back to the client with `error`.
    Redirect { redirect_uri: String, error: &'static str, description: String, state: Option<String> },
}

impl IntoResponse for AuthorizeError {
    fn into_response(self) -> Response {
        match self {
            AuthorizeError::Page(message) => (StatusCode::BAD_REQUEST, Html(page("登录请求无效", &format!("<p>{}</p>", escape(&message))))).into_response(),
            AuthorizeError::Redirect { redirect_uri, error, description, state } => {
                let mut params = vec![("error", error.to_string()), ("error_description", description)];
                if let Some(state) = state {
                    params.push(("state", state));
                }
                found(&with_query(&redirect_uri, &params))
            }
        }
    }
}

/// A request that passed [`validate`]: the client and redirect URI are
/// registered and PKCE S256 is there.
struct ValidRequest {
    client_id: String,
    redirect_uri: String,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: String,
}

fn validate(inner: &Inner, params: &AuthorizeParams) -> Result<ValidRequest, AuthorizeError> {
    let Some(client_id) = params.client_id.clone() else {
        return Err(AuthorizeError::Page("缺少 client_id".into()));
    };
    let Some(redirect_uri) = params.redirect_uri.clone() else {
        return Err(AuthorizeError::Page("缺少 redirect_uri".into()));
    };
    {
        let state = inner.state.lock().unwrap();
        let Some(client) = state.clients.get(&client_id) else {
            return Err(AuthorizeError::Page(format!("未注册的客户端：{client_id}")));
        };
        if !client.redirect_uris.contains(&redirect_uri) {
            return Err(AuthorizeError::Page(format!("回调地址未登记：{redirect_uri}")));
        }
    }
    let refuse = |error: &'static str, description: &str| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.clone(),
        error,
        description: description.to_string(),
        state: params.state.clone(),
    };
    if params.response_type.as_deref() != Some("code") {
        return Err(refuse("unsupported_response_type", "only response_type=code is supported"));
    }
    let scopes = params.scope.as_deref().unwrap_or_default();
    if !scopes.split(' ').any(|scope| scope == "openid") {
        return Err(refuse("invalid_scope", "the scope must include openid"));
    }
    let Some(code_challenge) = params.code_challenge.clone() else {
        return Err(refuse("invalid_request", "PKCE is required: code_challenge is missing"));
    };
    if params.code_challenge_method.as_deref() != Some("S256") {
        return Err(refuse("invalid_request", "PKCE code_challenge_method must be S256"));
    }
    Ok(ValidRequest {
        client_id,
        redirect_uri,
        state: params.state.clone(),
        nonce: params.nonce.clone(),
        code_challenge,
    })
}

/// `GET /authorize`: the login page, or a code at once for a `login_hint`
/// naming a known user.
async fn authorize_page(State(inner): State<Arc<Inner>>, Query(params): Query<AuthorizeParams>) -> Result<Response, AuthorizeError> {
    let request = validate(&inner, &params)?;
    let users = inner.state.lock().unwrap().users.clone();
    if let Some(hint) = &params.login_hint {
        if users.iter().any(|user| user.sub == *hint) {
            return Ok(approve(&inner, request, hint.clone()));
        }
    }

    let mut hidden = String::new();
    let fields = [
        ("response_type", &params.response_type),
        ("client_id", &params.client_id),
        ("redirect_uri", &params.redirect_uri),
        ("scope", &params.scope),
        ("state", &params.state),
        ("nonce", &params.nonce),
        ("code_challenge", &params.code_challenge),
        ("code_challenge_method", &params.code_challenge_method),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            hidden.push_str(&format!(r#"<input type="hidden" name="{name}" value="{}">"#, escape(value)));
        }
    }
    let mut buttons = String::new();
    for user in &users {
        let sub = escape(&user.sub);
        buttons.push_str(&format!(
            r#"<li><button type="submit" name="sub" value="{sub}" id="login-{sub}">{}（{sub}）</button></li>"#,
            escape(&user.name)
        ));
    }
    let body = format!(
        r#"<p>客户端 {} 请求登录。请选择登录用户：</p><form method="post" action="/authorize">{hidden}<ul>{buttons}</ul></form>"#,
        escape(&request.client_id)
    );
    Ok(Html(page("统一身份认证 — 选择登录用户", &body)).into_response())
}

/// `POST /authorize`: the user chose `sub` on the login page.
async fn authorize_approve(State(inner): State<Arc<Inner>>, Form(params): Form<AuthorizeParams>) -> Result<Response, AuthorizeError> {
    let request = validate(&inner, &params)?;
    let known = {
        let state = inner.state.lock().unwrap();
        params.sub.as_ref().filter(|sub| state.users.iter().any(|user| user.sub == **sub)).cloned()
    };
    let Some(sub) = known else {
        return Err(AuthorizeError::Page("未知的用户".into()));
    };
    Ok(approve(&inner, request, sub))
}

/// Issues a one-time code for `sub` and sends the browser back to the client.
fn approve(inner: &Inner, request: ValidRequest, sub: String) -> Response {
    let code = random_token();
    let grant = Grant {
        client_id: request.client_id,
        redirect_uri: request.redirect_uri.clone(),
        nonce: request.nonce,
        code_challenge: request.code_challenge,
        sub,
        auth_time: chrono::Utc::now().timestamp(),
        issued: Instant::now(),
        used: false,
    };
    inner.state.lock().unwrap().codes.insert(code.clone(), grant);
    let mut params = vec![("code", code)];
    if let Some(state) = request.state {
        params.push(("state", state));
    }
    found(&with_query(&request.redirect_uri, &params))
}

/// An RFC 6749 §5.2 error of the token endpoint.
struct TokenError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl TokenError {
    fn grant(description: &str) -> TokenError {
        TokenError { status: StatusCode::BAD_REQUEST, error: "invalid_grant", description: description.into() }
    }

    fn request(description: &str) -> TokenError {
        TokenError { status: StatusCode::BAD_REQUEST, error: "invalid_request", description: description.into() }
    }

    fn client(description: &str) -> TokenError {
        TokenError { status: StatusCode::UNAUTHORIZED, error: "invalid_client", description: description.into() }
    }
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let body = Json(json!({ "error": self.error, "error_description": self.description }));
        let mut response = (self.status, [(header::CACHE_CONTROL, "no-store")], body).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static(r#"Basic realm="testkit-oidc""#));
        }
        response
    }
}

/// `POST /token`: exchanges a code for an ID token.
async fn token(State(inner): State<Arc<Inner>>, headers: HeaderMap, Form(form): Form<HashMap<String, String>>) -> Result<Response, TokenError> {
    let (client_id, client_secret) = client_credentials(&headers, &form)?;
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return Err(TokenError {
            status: StatusCode::BAD_REQUEST,
            error: "unsupported_grant_type",
            description: "only authorization_code is supported".into(),
        });
    }
    let Some(code) = form.get("code") else {
        return Err(TokenError::request("code is missing"));
    };

    let mut state = inner.state.lock().unwrap();
    match state.clients.get(&client_id) {
        Some(client) if client.client_secret == client_secret => {}
        _ => return Err(TokenError::client("unknown client or wrong client secret")),
    }
    let Some(grant) = state.codes.get_mut(code) else {
        return Err(TokenError::grant("unknown authorization code"));
    };
    // A failed check leaves the code redeemable, so that a test can show
    // each refusal was for the one thing it got wrong.
    if grant.used {
        return Err(TokenError::grant("the authorization code was already used"));
    }
    if grant.issued.elapsed() > CODE_LIFETIME {
        return Err(TokenError::grant("the authorization code expired"));
    }
    if grant.client_id != client_id {
        return Err(TokenError::grant("the authorization code was issued to another client"));
    }
    if form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return Err(TokenError::grant("redirect_uri does not match the authorization request"));
    }
    let Some(verifier) = form.get("code_verifier") else {
        return Err(TokenError::grant("code_verifier is missing (PKCE)"));
    };
    if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != grant.code_challenge {
        return Err(TokenError::grant("code_verifier does not match the code_challenge"));
    }
    grant.used = true;
    let (sub, nonce, auth_time) = (grant.sub.clone(), grant.nonce.clone(), grant.auth_time);
    let Some(user) = state.users.iter().find(|user| user.sub == sub).cloned() else {
        return Err(TokenError::grant("the user no longer exists"));
    };
    state.redeemed += 1;
    drop(state);

    let now = chrono::Utc::now().timestamp();
    let mut claims = user.claims.clone();
    let standard = [
        ("iss", json!(inner.issuer)),
        ("sub", json!(user.sub)),
        ("aud", json!(client_id)),
        ("exp", json!(now + TOKEN_LIFETIME_SECS)),
        ("iat", json!(now)),
        ("auth_time", json!(auth_time)),
        ("name", json!(user.name)),
    ];
    for (name, value) in standard {
        claims.insert(name.to_string(), value);
    }
    match nonce {
        Some(nonce) => claims.insert("nonce".into(), json!(nonce)),
        None => claims.remove("nonce"),
    };
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(KEY_ID.to_string());
    let id_token = jsonwebtoken::encode(&header, &claims, &inner.key).map_err(|err| TokenError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        error: "server_error",
        description: format!("signing the ID token: {err}"),
    })?;
    tracing::info!(client_id, sub = %user.sub, "oidc peer issued an id token");
    let body = Json(json!({
        "access_token": random_token(),
        "token_type": "Bearer",
        "expires_in": TOKEN_LIFETIME_SECS,
        "scope": "openid profile",
        "id_token": id_token,
    }));
    Ok(([(header::CACHE_CONTROL, "no-store"), (header::PRAGMA, "no-cache")], body).into_response())
}

/// The client's id and secret: HTTP Basic (`client_secret_basic`, both
/// form-encoded before base64 as RFC 6749 §2.3.1 says) or the form
/// (`client_secret_post`), never both.
fn client_credentials(headers: &HeaderMap, form: &HashMap<String, String>) -> Result<(String, String), TokenError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic "));
    if let Some(encoded) = basic {
        if form.contains_key("client_secret") {
            return Err(TokenError::request("use one client authentication method, not two"));
        }
        let decoded = STANDARD.decode(encoded.trim()).map_err(|_| TokenError::client("malformed Basic credentials"))?;
        let decoded = String::from_utf8(decoded).map_err(|_| TokenError::client("malformed Basic credentials"))?;
        let Some((id, secret)) = decoded.split_once(':') else {
            return Err(TokenError::client("malformed Basic credentials"));
        };
        let (id, secret) = (form_decode(id), form_decode(secret));
        if form.get("client_id").is_some_and(|form_id| *form_id != id) {
            return Err(TokenError::request("client_id differs from the Basic credentials"));
        }
        return Ok((id, secret));
    }
    match (form.get("client_id"), form.get("client_secret")) {
        (Some(id), Some(secret)) => Ok((id.clone(), secret.clone())),
        _ => Err(TokenError::client("client authentication is missing")),
    }
}

#[derive(Debug, serde::Deserialize)]
struct LogoutParams {
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
}

/// `GET /logout`: the provider keeps no session, so this only sends the
/// browser back where the client asked.
async fn logout(Query(params): Query<LogoutParams>) -> Response {
    match params.post_logout_redirect_uri {
        Some(uri) => {
            let state: Vec<(&str, String)> = params.state.into_iter().map(|state| ("state", state)).collect();
            found(&with_query(&uri, &state))
        }
        None => Html(page("统一身份认证 — 已退出", "<p>您已退出登录。</p>")).into_response(),
    }
}

/// A 302 to `location`, the redirect OAuth providers send (axum's
/// `Redirect` has 303 and 307 only; a 307 after the login form's POST
/// would post the form on to the client).
fn found(location: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location.to_string())]).into_response()
}

/// `uri` with `params` appended to its query.
fn with_query(uri: &str, params: &[(&str, String)]) -> String {
    if params.is_empty() {
        return uri.to_string();
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        query.append_pair(name, value);
    }
    let separator = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{separator}{}", query.finish())
}

/// 32 random bytes, base64url: codes and access tokens.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes `application/x-www-form-urlencoded` text (`+` is a space).
fn form_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex_digit(bytes[i + 1]), hex_digit(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high * 16 + low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_digit(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|digit| digit as u8)
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        r#"<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>{title}</title></head><body><main><h1>{title}</h1>{body}</main></body></html>"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding_undoes_basic_auth_encoding() {
        assert_eq!(form_decode("a%3Ab+c%25"), "a:b c%");
        assert_eq!(form_decode("50%"), "50%");
        assert_eq!(form_decode("%zz"), "%zz");
    }

    #[test]
    fn query_is_appended_after_an_existing_one() {
        assert_eq!(with_query("http://x/cb", &[("code", "a b".into())]), "http://x/cb?code=a+b");
        assert_eq!(with_query("http://x/cb?k=1", &[("state", "s".into())]), "http://x/cb?k=1&state=s");
    }
}
