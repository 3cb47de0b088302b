//! The OpenID Connect peer over plain HTTP: discovery in openidconnect's
//! shape, the code flow with PKCE, ID tokens that verify against the JWKS,
//! and the refusals a real provider gives. Each refused request is retried
//! right after with the one wrong thing put right, to show the refusal was
//! for that thing.

use std::io;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jsonwebtoken::{DecodingKey, Validation};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse as _, PkceCodeChallenge, ProviderMetadataWithLogout,
    RedirectUrl, Scope, TokenResponse as _,
};
use reqwest::StatusCode;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use yuetan_testkit::peers::oidc::{OidcClient, OidcPeer, OidcUser};

const CLIENT_ID: &str = "yuetan-console";
const CLIENT_SECRET: &str = "console-secret";
const REDIRECT_URI: &str = "http://127.0.0.1:9/auth/callback";
const VERIFIER: &str = "a-pkce-code-verifier-of-at-least-forty-three-characters-0123456789";

async fn start_peer() -> OidcPeer {
    let mut claims = Map::new();
    claims.insert("org_code".into(), json!("330106-GA"));
    claims.insert("region".into(), json!("杭州市西湖区"));
    claims.insert("groups".into(), json!(["interviewer", "reviewer"]));
    // An extra claim may not override a standard one.
    claims.insert("iss".into(), json!("https://forged.example"));
    let users = vec![
        OidcUser { sub: "wang.li".into(), name: "王力".into(), claims },
        OidcUser { sub: "zhao.min".into(), name: "赵敏".into(), claims: Map::new() },
    ];
    let clients = vec![OidcClient {
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        redirect_uris: vec![REDIRECT_URI.into()],
    }];
    OidcPeer::start(clients, users).await.expect("starting the OIDC peer")
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        serializer.append_pair(name, value);
    }
    serializer.finish()
}

/// `GET /authorize` for a `login_hint` user; answers the response, unfollowed.
async fn authorize(peer: &OidcPeer, params: &[(&str, &str)]) -> reqwest::Response {
    let url = format!("{}/authorize?{}", peer.issuer(), form(params));
    http().get(url).send().await.unwrap()
}

fn standard_request<'a>(redirect_uri: &'a str, nonce: &'a str, challenge: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", CLIENT_ID),
        ("redirect_uri", redirect_uri),
        ("scope", "openid profile"),
        ("state", "state-1"),
        ("nonce", nonce),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("login_hint", "wang.li"),
    ]
}

/// A code for wang.li with `nonce` and the challenge of [`VERIFIER`].
async fn code_for(peer: &OidcPeer, nonce: &str) -> String {
    let challenge = challenge(VERIFIER);
    let response = authorize(peer, &standard_request(REDIRECT_URI, nonce, &challenge)).await;
    assert_eq!(response.status(), StatusCode::FOUND, "the authorization request is approved at once");
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let (base, query) = location.split_once('?').expect("the redirect carries a query");
    assert_eq!(base, REDIRECT_URI);
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    assert!(params.contains(&("state".into(), "state-1".into())), "the state comes back: {location}");
    params.into_iter().find(|(name, _)| name == "code").map(|(_, code)| code).expect("a code")
}

/// `POST /token` with HTTP Basic client authentication.
async fn redeem(peer: &OidcPeer, pairs: &[(&str, &str)]) -> (StatusCode, Value) {
    let basic = STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    let response = http()
        .post(format!("{}/token", peer.issuer()))
        .header("authorization", format!("Basic {basic}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(pairs))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

fn exchange<'a>(code: &'a str, redirect_uri: &'a str, verifier: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier),
    ]
}

fn assert_invalid_grant(status: StatusCode, body: &Value, mentions: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");
    let description = body["error_description"].as_str().unwrap_or_default();
    assert!(description.contains(mentions), "refused for another reason: {body}");
}

/// Verifies `id_token` against the peer's JWKS (the key its header names).
async fn verify(peer: &OidcPeer, id_token: &str) -> Value {
    let header = jsonwebtoken::decode_header(id_token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    assert_eq!(header.kid.as_deref(), Some("testkit-oidc-1"));
    let jwks: Value = http().get(format!("{}/jwks", peer.issuer())).send().await.unwrap().json().await.unwrap();
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["kid"] == "testkit-oidc-1")
        .expect("the JWKS has the token's key");
    assert_eq!((key["kty"].as_str(), key["use"].as_str(), key["alg"].as_str()), (Some("RSA"), Some("sig"), Some("RS256")));
    let decoding = DecodingKey::from_rsa_components(key["n"].as_str().unwrap(), key["e"].as_str().unwrap()).unwrap();
    let mut validation = Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[CLIENT_ID]);
    validation.set_issuer(&[peer.issuer()]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<Value>(id_token, &decoding, &validation).expect("the ID token verifies against the JWKS").claims
}

#[tokio::test]
async fn discovery_parses_as_openidconnect_provider_metadata() {
    let peer = start_peer().await;
    let issuer = peer.issuer();
    assert!(issuer.starts_with("http://127.0.0.1:") && !issuer.ends_with('/'), "{issuer}");
    let body = http().get(format!("{issuer}/.well-known/openid-configuration")).send().await.unwrap().bytes().await.unwrap();

    let metadata: CoreProviderMetadata = serde_json::from_slice(&body).expect("discovery is CoreProviderMetadata");
    assert_eq!(metadata.issuer().as_str(), issuer);
    assert_eq!(metadata.authorization_endpoint().as_str(), format!("{issuer}/authorize"));
    assert_eq!(metadata.token_endpoint().unwrap().as_str(), format!("{issuer}/token"));
    assert_eq!(metadata.jwks_uri().as_str(), format!("{issuer}/jwks"));
    let with_logout: ProviderMetadataWithLogout = serde_json::from_slice(&body).unwrap();
    let end_session = with_logout.additional_metadata().end_session_endpoint.as_ref().expect("an end_session_endpoint");
    assert_eq!(end_session.as_str(), format!("{issuer}/logout"));
    let raw: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(raw["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(raw["token_endpoint_auth_methods_supported"], json!(["client_secret_basic", "client_secret_post"]));
}

#[tokio::test]
async fn a_login_hint_code_flow_yields_an_id_token_that_verifies_against_the_jwks() {
    let peer = start_peer().await;
    let code = code_for(&peer, "nonce-42").await;

    let (status, body) = redeem(&peer, &exchange(&code, REDIRECT_URI, VERIFIER)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 300);
    assert_eq!(body["scope"], "openid profile");
    assert!(body["access_token"].as_str().is_some_and(|token| token.len() >= 32), "{body}");
    let claims = verify(&peer, body["id_token"].as_str().unwrap()).await;

    assert_eq!(claims["iss"], peer.issuer().as_str(), "a user's extra claim cannot forge the issuer");
    assert_eq!(claims["sub"], "wang.li");
    assert_eq!(claims["aud"], CLIENT_ID);
    assert_eq!(claims["nonce"], "nonce-42");
    assert_eq!(claims["name"], "王力");
    assert_eq!(claims["org_code"], "330106-GA");
    assert_eq!(claims["region"], "杭州市西湖区");
    assert_eq!(claims["groups"], json!(["interviewer", "reviewer"]));
    let (iat, exp, auth_time) = (claims["iat"].as_i64().unwrap(), claims["exp"].as_i64().unwrap(), claims["auth_time"].as_i64().unwrap());
    assert_eq!(exp - iat, 300);
    assert!(auth_time <= iat && iat - auth_time < 60);
    assert_eq!(peer.codes_redeemed(), 1);
}

#[tokio::test]
async fn a_wrong_code_verifier_is_refused() {
    let peer = start_peer().await;
    let code = code_for(&peer, "n").await;
    let wrong = "another-pkce-code-verifier-of-at-least-forty-three-characters-99";

    let (status, body) = redeem(&peer, &exchange(&code, REDIRECT_URI, wrong)).await;
    assert_invalid_grant(status, &body, "code_verifier");
    let (status, body) = redeem(&peer, &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT_URI)]).await;
    assert_invalid_grant(status, &body, "code_verifier");
    assert_eq!(peer.codes_redeemed(), 0);

    let (status, body) = redeem(&peer, &exchange(&code, REDIRECT_URI, VERIFIER)).await;
    assert_eq!(status, StatusCode::OK, "the right verifier redeems the same code: {body}");
}

#[tokio::test]
async fn a_code_is_redeemed_once() {
    let peer = start_peer().await;
    let code = code_for(&peer, "n").await;
    let (status, body) = redeem(&peer, &exchange(&code, REDIRECT_URI, VERIFIER)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, body) = redeem(&peer, &exchange(&code, REDIRECT_URI, VERIFIER)).await;
    assert_invalid_grant(status, &body, "already used");
    assert_eq!(peer.codes_redeemed(), 1);
}

#[tokio::test]
async fn a_wrong_redirect_uri_is_refused_at_the_token_endpoint() {
    let peer = start_peer().await;
    let code = code_for(&peer, "n").await;

    let (status, body) = redeem(&peer, &exchange(&code, "http://127.0.0.1:9/auth/other", VERIFIER)).await;
    assert_invalid_grant(status, &body, "redirect_uri");
    assert_eq!(peer.codes_redeemed(), 0);

    let (status, body) = redeem(&peer, &exchange(&code, REDIRECT_URI, VERIFIER)).await;
    assert_eq!(status, StatusCode::OK, "the registered redirect_uri redeems the same code: {body}");
}

#[tokio::test]
async fn a_bad_client_secret_is_invalid_client() {
    let peer = start_peer().await;
    let code = code_for(&peer, "n").await;
    let body = form(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", VERIFIER),
        ("client_id", CLIENT_ID),
        ("client_secret", "wrong"),
    ]);
    let post = |body: String| {
        http()
            .post(format!("{}/token", peer.issuer()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let response = post(body.clone()).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_client");

    // client_secret_post with the right secret works.
    let response = post(body.replace("client_secret=wrong", &format!("client_secret={CLIENT_SECRET}"))).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_unregistered_redirect_uri_gets_an_error_page_not_a_redirect() {
    let peer = start_peer().await;
    let challenge = challenge(VERIFIER);
    let response = authorize(&peer, &standard_request("http://evil.example/cb", "n", &challenge)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get("location").is_none());

    // Without PKCE the request is refused back to the (registered) client.
    let mut request = standard_request(REDIRECT_URI, "n", &challenge);
    request.retain(|(name, _)| !name.starts_with("code_challenge"));
    let response = authorize(&peer, &request).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()["location"].to_str().unwrap();
    assert!(location.starts_with(REDIRECT_URI) && location.contains("error=invalid_request") && !location.contains("code="), "{location}");
}

#[tokio::test]
async fn the_login_page_lists_each_user_as_a_button_carrying_the_request() {
    let peer = start_peer().await;
    let challenge = challenge(VERIFIER);
    let mut request = standard_request(REDIRECT_URI, "nonce-7", &challenge);
    request.retain(|(name, _)| *name != "login_hint");
    let response = authorize(&peer, &request).await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    assert!(page.contains("统一身份认证 — 选择登录用户"));
    assert!(page.contains(r#"<form method="post" action="/authorize">"#));
    assert!(page.contains(r#"name="sub" value="wang.li" id="login-wang.li""#), "{page}");
    assert!(page.contains(r#"id="login-zhao.min""#));
    assert!(page.contains(r#"<input type="hidden" name="nonce" value="nonce-7">"#));

    // What the browser posts when zhao.min is clicked.
    let mut posted: Vec<(&str, &str)> = request.clone();
    posted.push(("sub", "zhao.min"));
    let response = http()
        .post(format!("{}/authorize", peer.issuer()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&posted))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()["location"].to_str().unwrap();
    let code = form_urlencoded::parse(location.split_once('?').unwrap().1.as_bytes())
        .find(|(name, _)| name == "code")
        .map(|(_, code)| code.into_owned())
        .unwrap();
    let (status, body) = redeem(&peer, &exchange(&code, REDIRECT_URI, VERIFIER)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let claims = verify(&peer, body["id_token"].as_str().unwrap()).await;
    assert_eq!((claims["sub"].as_str(), claims["nonce"].as_str()), (Some("zhao.min"), Some("nonce-7")));
}

/// openidconnect's HTTP client, over reqwest without redirects (as a
/// relying party must call the provider).
async fn send(request: openidconnect::HttpRequest) -> Result<openidconnect::HttpResponse, io::Error> {
    let (parts, body) = request.into_parts();
    let mut builder = http().request(parts.method, parts.uri.to_string()).body(body);
    for (name, value) in &parts.headers {
        builder = builder.header(name, value);
    }
    let response = builder.send().await.map_err(io::Error::other)?;
    let mut answer = openidconnect::http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        answer = answer.header(name, value);
    }
    let body = response.bytes().await.map_err(io::Error::other)?.to_vec();
    answer.body(body).map_err(io::Error::other)
}

#[tokio::test]
async fn openidconnects_core_client_completes_the_code_flow() {
    let peer = start_peer().await;
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(peer.issuer()).unwrap(), &send).await.expect("discovery");
    let client = CoreClient::from_provider_metadata(metadata, ClientId::new(CLIENT_ID.into()), Some(ClientSecret::new(CLIENT_SECRET.into())))
        .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.into()).unwrap());
    let (pkce_challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(pkce_challenge)
        .add_extra_param("login_hint", "wang.li")
        .url();

    let response = http().get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let params: Vec<(String, String)> = form_urlencoded::parse(location.split_once('?').unwrap().1.as_bytes()).into_owned().collect();
    assert!(params.contains(&("state".into(), csrf.secret().clone())));
    let code = params.into_iter().find(|(name, _)| name == "code").unwrap().1;

    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(pkce_verifier)
        .request_async(&send)
        .await
        .expect("the token request");
    assert!(!tokens.access_token().secret().is_empty());
    let id_token = tokens.id_token().expect("an ID token");
    let claims = id_token.claims(&client.id_token_verifier(), &nonce).expect("the ID token verifies");
    assert_eq!(claims.subject().as_str(), "wang.li");
    assert_eq!(claims.name().and_then(|name| name.get(None)).map(|name| name.as_str()), Some("王力"));
    assert!(id_token.claims(&client.id_token_verifier(), &Nonce::new("another".into())).is_err(), "the nonce is checked");
}

#[tokio::test]
async fn logout_sends_the_browser_back_with_its_state() {
    let peer = start_peer().await;
    let query = form(&[("post_logout_redirect_uri", "http://127.0.0.1:9/signed-out"), ("state", "s 1")]);
    let response = http().get(format!("{}/logout?{query}", peer.issuer())).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(response.headers()["location"], "http://127.0.0.1:9/signed-out?state=s+1");

    let response = http().get(format!("{}/logout", peer.issuer())).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("已退出"));
}
