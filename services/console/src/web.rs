//! Routes, the security headers every answer carries, the session
//! extractor, CSRF, sign-in (identity provider or, locally, the development
//! officers) and sign-out. Bodies are bounded before any work: forms by
//! `DefaultBodyLimit`, evidence uploads by `[console] max_upload_bytes`.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRequestParts, Query, State as AxumState};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::Utc;
use serde::Deserialize;

use crate::pages;
use crate::session::{cookie_value, random_token, same_token, LoginState, Session, LOGIN_COOKIE, SESSION_COOKIE};
use crate::State;

pub type Shared = AxumState<Arc<State>>;

/// Most bytes of an ordinary form.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// No inline script or style, nothing from elsewhere, never framed.
/// The only frames are the case page's PDF previews, from the console itself.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub fn router(state: Arc<State>) -> Router {
    let upload_limit = state.config.max_upload_bytes + MAX_FORM_BYTES;
    Router::new()
        .route("/", get(|| async { Redirect::to("/work") }))
        .route("/healthz", get(|| async { "ok" }))
        .route("/static/{file}", get(pages::assets::asset))
        .route("/signin", get(signin_page))
        .route("/signin/dev", post(dev_signin))
        .route("/auth/login", get(oidc_login))
        .route("/auth/callback", get(oidc_callback))
        .route("/signout", post(signout))
        .route("/work", get(pages::work::page))
        .route("/cases/{case_id}", get(pages::case::page))
        .route("/cases/{case_id}/act/{action}", post(pages::actions::act))
        .route("/cases/{case_id}/address", post(pages::actions::address).layer(DefaultBodyLimit::max(upload_limit)))
        .route("/cases/{case_id}/close", post(pages::actions::close).layer(DefaultBodyLimit::max(upload_limit * 5)))
        .route("/clues/new", get(pages::clue::new_page))
        .route("/clues", post(pages::clue::create).layer(DefaultBodyLimit::max(upload_limit)))
        .route("/clues/{clue_id}", get(pages::clue::page))
        .route("/clues/{clue_id}/verify", post(pages::clue::verify))
        .route("/documents/{source}/{document_id}", get(pages::documents::file))
        .route("/board", get(pages::board::page))
        .route("/board/report", get(pages::board::report))
        .route("/admin", get(pages::admin::page))
        .route("/admin/organs", post(pages::admin::put_organ))
        .fallback(|| async { pages::layout::not_found() })
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(state)
}

async fn security_headers(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    // A handler may set its own (the PDF preview may be framed by the console).
    headers.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.entry(header::X_FRAME_OPTIONS).or_insert(HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The signed-in officer's session; without one, a page sends the browser
/// to the sign-in page.
impl FromRequestParts<Arc<State>> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<State>) -> Result<Session, Response> {
        let session = parts
            .headers
            .get(header::COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|cookies| cookie_value(cookies, SESSION_COOKIE))
            .and_then(|value| state.signer.verify::<Session>(SESSION_COOKIE, value))
            .filter(|session| session.exp > Utc::now().timestamp());
        session.ok_or_else(|| Redirect::to("/signin").into_response())
    }
}

/// The refusal of a form whose CSRF token is not the session's; `None` when it is.
pub fn csrf_refusal(session: &Session, token: Option<&str>) -> Option<Response> {
    match token {
        Some(token) if same_token(token, &session.csrf) => None,
        _ => Some(pages::layout::csrf_refused()),
    }
}

fn start_session(state: &State, officer: crate::session::Officer, via: &str) -> Response {
    let minutes = state.config.session_minutes;
    let session = Session { officer, csrf: random_token(), exp: Utc::now().timestamp() + minutes * 60, via: via.into() };
    let value = state.signer.sign(SESSION_COOKIE, &session);
    tracing::info!(officer = %session.officer.id, via, "console sign-in");
    let mut response = Redirect::to("/work").into_response();
    response.headers_mut().append(header::SET_COOKIE, header_value(&state.signer.set_cookie(SESSION_COOKIE, &value, minutes * 60)));
    response.headers_mut().append(header::SET_COOKIE, header_value(&state.signer.clear_cookie(LOGIN_COOKIE)));
    response
}

fn header_value(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).expect("cookie values are base64url")
}

async fn signin_page(AxumState(state): Shared) -> Response {
    pages::layout::signin(state.oidc.is_some(), &state.config.dev_officers, None)
}

#[derive(Deserialize)]
struct DevSignin {
    officer: String,
}

/// Development sign-in: only the configured sample officers, only on loopback.
async fn dev_signin(AxumState(state): Shared, Form(form): Form<DevSignin>) -> Response {
    match state.config.dev_officers.iter().find(|o| o.id == form.officer) {
        Some(dev) => {
            let officer = crate::session::Officer { id: dev.id.clone(), name: dev.name.clone(), organ: dev.organ.clone(), division: dev.division.clone(), roles: dev.roles.clone() };
            start_session(&state, officer, "dev")
        }
        None => pages::layout::signin(state.oidc.is_some(), &state.config.dev_officers, Some("没有这个开发用账号。")),
    }
}

async fn oidc_login(AxumState(state): Shared) -> Response {
    let Some(oidc) = &state.oidc else {
        return pages::layout::signin(false, &state.config.dev_officers, Some("未配置统一身份认证。"));
    };
    let (url, login) = oidc.begin(Utc::now().timestamp());
    let mut response = Redirect::to(&url).into_response();
    let value = state.signer.sign(LOGIN_COOKIE, &login);
    // Lax would be needed if the provider posted back; it redirects with GET,
    // but a Strict cookie is not sent on a cross-site navigation, so the
    // login cookie alone is Lax (it holds no authority, only the PKCE verifier).
    let cookie = state.signer.set_cookie(LOGIN_COOKIE, &value, 600).replace("SameSite=Strict", "SameSite=Lax");
    response.headers_mut().append(header::SET_COOKIE, header_value(&cookie));
    response
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

async fn oidc_callback(AxumState(state): Shared, headers: axum::http::HeaderMap, Query(query): Query<Callback>) -> Response {
    let refuse = |message: &str| pages::layout::signin(state.oidc.is_some(), &state.config.dev_officers, Some(message));
    let Some(oidc) = &state.oidc else { return refuse("未配置统一身份认证。") };
    if let Some(error) = query.error {
        tracing::warn!(%error, "identity provider returned an error");
        return refuse("统一身份认证未通过，请重试。");
    }
    let login: Option<LoginState> = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| cookie_value(c, LOGIN_COOKIE))
        .and_then(|v| state.signer.verify(LOGIN_COOKIE, v))
        .filter(|l: &LoginState| l.exp > Utc::now().timestamp());
    let (Some(login), Some(code), Some(returned)) = (login, query.code, query.state) else {
        return refuse("登录请求已过期，请重新登录。");
    };
    if code.len() > 2048 || !same_token(&returned, &login.state) {
        return refuse("登录请求无效，请重新登录。");
    }
    match oidc.finish(&code, &login).await {
        Ok(officer) => start_session(&state, officer, "oidc"),
        Err(err) => {
            tracing::warn!(error = %err, "console sign-in refused");
            refuse("统一身份认证未通过：该账号未获授权使用本系统，或认证信息无效。")
        }
    }
}

#[derive(Deserialize)]
struct CsrfOnly {
    csrf: Option<String>,
}

async fn signout(AxumState(state): Shared, session: Session, Form(form): Form<CsrfOnly>) -> Response {
    if let Some(refused) = csrf_refusal(&session, form.csrf.as_deref()) {
        return refused;
    }
    let mut response = Redirect::to("/signin").into_response();
    response.headers_mut().append(header::SET_COOKIE, header_value(&state.signer.clear_cookie(SESSION_COOKIE)));
    response
}

/// 403/404 from a service become the 403 page; anything else the error page.
pub fn status_page(status: &tonic::Status) -> Response {
    match status.code() {
        tonic::Code::PermissionDenied | tonic::Code::NotFound => pages::layout::forbidden(),
        tonic::Code::Unauthenticated => Redirect::to("/signin").into_response(),
        _ => {
            let refusal = crate::zh::refusal(status);
            (StatusCode::BAD_GATEWAY, pages::layout::error_page(&refusal.message)).into_response()
        }
    }
}
