//! The frame of every page (Chinese, `lang="zh-CN"`, no inline script or
//! style), the sign-in page, and the refusal pages: 403, 404, CSRF, error.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::config::DevOfficer;
use crate::session::{Session, CSRF_FIELD};
use crate::zh;

/// Which navigation entry is current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Work,
    NewClue,
    Board,
    Admin,
    None,
}

pub fn page(session: Option<&Session>, nav: Nav, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // htmx would otherwise inject an inline <style>, which the CSP refuses.
                meta name="htmx-config" content=r#"{"includeIndicatorStyles":false}"#;
                title { (title) " · 约谈管理系统" }
                link rel="stylesheet" href="/static/console.css";
                script src="/static/htmx.min.js" defer {}
                script src="/static/console.js" defer {}
            }
            body {
                a class="skip" href="#main" { "跳到正文" }
                header class="top" {
                    span class="brand" { "约谈管理系统" }
                    @if let Some(session) = session {
                        nav aria-label="主导航" {
                            a href="/work" aria-current=[(nav == Nav::Work).then_some("page")] { "我的工作" }
                            a href="/clues/new" aria-current=[(nav == Nav::NewClue).then_some("page")] { "登记线索" }
                            a href="/board" aria-current=[(nav == Nav::Board).then_some("page")] { "督办看板" }
                            a href="/admin" aria-current=[(nav == Nav::Admin).then_some("page")] { "系统管理" }
                        }
                        div class="who" {
                            span id="officer-name" { (session.officer.name) }
                            span class="muted" { " · " (session.officer.organ) " · " (roles(&session.officer.roles)) }
                            form method="post" action="/signout" class="inline" {
                                (csrf(session))
                                button type="submit" class="link" { "退出" }
                            }
                        }
                    }
                }
                main id="main" { (body) }
            }
        }
    }
}

pub fn roles(roles: &[String]) -> String {
    roles.iter().map(|r| zh::role(r)).collect::<Vec<_>>().join("、")
}

/// The hidden fields of every form: the session's CSRF token, and a request
/// id made when the form is shown, so that submitting the same form twice
/// (a double click, a resent POST) is one change at the service.
pub fn csrf(session: &Session) -> Markup {
    html! {
        input type="hidden" name=(CSRF_FIELD) value=(session.csrf);
        input type="hidden" name="request_id" value=(uuid::Uuid::now_v7().to_string());
    }
}

/// A refusal shown next to its field (or above the form without one).
pub fn field_error(error: Option<&zh::Refusal>, field: &str) -> Markup {
    match error.filter(|e| e.field.as_deref().is_some_and(|f| f == field || f.ends_with(&format!(".{field}")))) {
        Some(error) => refusal(error, Some(field)),
        None => html! {},
    }
}

/// A refusal that names no field of the form, shown at the form's top.
pub fn form_error(error: Option<&zh::Refusal>, fields: &[&str]) -> Markup {
    match error.filter(|e| !e.field.as_deref().is_some_and(|f| fields.iter().any(|x| f == *x || f.ends_with(&format!(".{x}"))))) {
        Some(error) => refusal(error, None),
        None => html! {},
    }
}

/// The sentence, and the service's own words folded under it.
fn refusal(error: &zh::Refusal, field: Option<&str>) -> Markup {
    html! {
        p class="error" role="alert" data-field=[field] { (error.message) }
        @if !error.detail.is_empty() {
            details class="detail" { summary { "系统说明" } p { (error.detail) } }
        }
    }
}

pub fn signin(oidc: bool, dev: &[DevOfficer], message: Option<&str>) -> Response {
    let body = html! {
        section class="card narrow" {
            h1 { "登录" }
            @if let Some(message) = message { p class="error" role="alert" { (message) } }
            @if oidc {
                p { a class="button" id="oidc-signin" href="/auth/login" { "通过统一身份认证登录" } }
            }
            @if !dev.is_empty() {
                h2 { "开发用登录" }
                p class="muted" { "仅供本机开发与演示使用，生产环境不开放。" }
                ul class="plain" {
                    @for officer in dev {
                        li {
                            form method="post" action="/signin/dev" class="inline" {
                                input type="hidden" name="officer" value=(officer.id);
                                button type="submit" id={ "dev-" (officer.id) } { (officer.name) }
                            }
                            span class="muted" { " " (officer.organ) " · " (roles(&officer.roles)) }
                        }
                    }
                }
            }
        }
    };
    let status = if message.is_some() { StatusCode::UNAUTHORIZED } else { StatusCode::OK };
    (status, page(None, Nav::None, "登录", body)).into_response()
}

/// A page that only says something: a heading, a sentence, the way back.
fn notice(title: &str, heading: &str, text: Option<&str>) -> Markup {
    page(None, Nav::None, title, html! {
        section class="card narrow" {
            h1 { (heading) }
            @if let Some(text) = text { p { (text) } }
            p { a href="/work" { "返回我的工作" } }
        }
    })
}

pub fn forbidden() -> Response {
    let text = "您没有权限查看此页面：该案件或事项不在您的管辖范围内，或您的岗位无此职责。";
    (StatusCode::FORBIDDEN, notice("无权访问", "403 无权访问", Some(text))).into_response()
}

pub fn not_found() -> Response {
    (StatusCode::NOT_FOUND, notice("页面不存在", "404 页面不存在", None)).into_response()
}

pub fn csrf_refused() -> Response {
    let text = "表单校验码缺失或已失效（可能是页面停留过久或来自其他网站）。请返回上一页刷新后重新提交。";
    (StatusCode::FORBIDDEN, notice("请求已被拒绝", "请求已被拒绝", Some(text))).into_response()
}

pub fn error_page(message: &str) -> Markup {
    notice("出错了", "出错了", Some(message))
}

/// A coloured card mark with its words (the colour is never the only sign).
pub fn colour_mark(colour: i32) -> Markup {
    let (class, words) = zh::colour(colour);
    html! { span class={ "mark " (class) } { (words) } }
}

/// Non-breaking text for empty cells.
pub fn dash() -> Markup {
    PreEscaped("—".to_string())
}
