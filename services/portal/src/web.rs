//! The HTTP routes: the party's pages (server-rendered, Chinese, no
//! JavaScript: the served documents under `/d/`, the rectification report
//! under `/r/`, the rating of the interview under `/rate/`) and the providers' callbacks (SMS, e-gov, the Janus video
//! server's event handler). Every input is bounded before
//! any work: tokens by length, bodies by `DefaultBodyLimit`, callback fields
//! by `callbacks.rs`. A refused link gets one page that says only that the
//! link is invalid or expired.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Multipart, Path, State as AxumState};
use axum::http::{header, Extensions, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use chrono::{DateTime, FixedOffset, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;
use yuetan_platform::links::{LinkClaims, MAX_TOKEN_LEN, PURPOSE_REPORT, PURPOSE_SERVE, PURPOSE_SIGN};
use yuetan_platform::Error;

use crate::callbacks::{self, EgovHeaders, Refusal, MAX_CALLBACK_BYTES, MAX_JANUS_BYTES};
use crate::flow::{Evidence, ReportRecorded};
use crate::rating::{self, ComplaintFormRaw, RatingFormRaw, RatingRefusal, COMPLAINT_KINDS, MAX_COMMENT_CHARS, MAX_COMPLAINT_BODY_BYTES, MAX_COMPLAINT_CHARS, MAX_RATING_BODY_BYTES, PURPOSE_RATE};
use crate::report::{self, FieldRefusal, MAX_FILES, MAX_FILE_BYTES, MAX_REPORT_BODY_BYTES, MAX_TEXT_CHARS};
use crate::State;

/// Longest user agent kept as evidence (characters); the rest is cut.
pub const MAX_USER_AGENT_CHARS: usize = 512;
/// The purposes of the links `/d/` serves.
const DOCUMENT_PURPOSES: &[&str] = &[PURPOSE_SERVE, PURPOSE_SIGN];
/// The purpose of the links `/r/` serves.
const REPORT_PURPOSES: &[&str] = &[PURPOSE_REPORT];
/// The purpose of the links `/rate/` serves.
const RATING_PURPOSES: &[&str] = &[PURPOSE_RATE];
/// Most `X-Forwarded-For` entries looked at.
const MAX_FORWARDED: usize = 32;

type Shared = AxumState<Arc<State>>;

pub fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/d/{token}", get(open_page))
        .route("/d/{token}/file", get(file))
        .route("/d/{token}/confirm", post(confirm).layer(DefaultBodyLimit::max(4096)))
        .route(
            "/r/{token}",
            get(report_page).post(submit_report).layer(DefaultBodyLimit::max(MAX_REPORT_BODY_BYTES)),
        )
        .route("/r/{token}/notice", get(notice))
        .route(
            "/rate/{token}",
            get(rating_page).post(submit_rating).layer(DefaultBodyLimit::max(MAX_RATING_BODY_BYTES)),
        )
        .route("/rate/{token}/complaint", post(submit_complaint).layer(DefaultBodyLimit::max(MAX_COMPLAINT_BODY_BYTES)))
        .route("/callbacks/sms", post(sms))
        .route("/callbacks/egov", post(egov))
        .route("/callbacks/janus", post(janus).layer(DefaultBodyLimit::max(MAX_JANUS_BYTES)))
        // yuetan_portal_requests_total{route, status}, by route template
        .route_layer(axum::middleware::from_fn(yuetan_platform::metrics::count_portal_request))
        .layer(DefaultBodyLimit::max(MAX_CALLBACK_BYTES))
        .with_state(state)
}

async fn healthz(AxumState(state): Shared) -> Response {
    match sqlx::query("SELECT 1").execute(&state.pool).await {
        Ok(_) => (StatusCode::OK, "ok").into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "portal health: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

// ---- pages ----

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

fn cst(at: DateTime<Utc>) -> String {
    let offset = FixedOffset::east_opt(8 * 3600).expect("UTC+8");
    at.with_timezone(&offset).format("%Y年%m月%d日 %H:%M").to_string()
}

/// A page with the headers every page carries: nothing cached, no referrer
/// (the token is in the URL), no framing, no scripts.
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>\
         body{{font-family:system-ui,\"PingFang SC\",\"Microsoft YaHei\",sans-serif;margin:0 auto;max-width:36rem;padding:1rem;line-height:1.6;color:#222}}\
         h1{{font-size:1.3rem}} .doc{{border:1px solid #ccc;border-radius:.5rem;padding:1rem;margin:1rem 0}}\
         a.button,button{{display:block;width:100%;box-sizing:border-box;text-align:center;font-size:1.1rem;padding:.8rem;margin:.6rem 0;\
         border-radius:.5rem;border:1px solid #1a5fb4;background:#fff;color:#1a5fb4;text-decoration:none}}\
         button{{background:#1a5fb4;color:#fff}} .note{{color:#666;font-size:.9rem}}\
         </style></head><body>{body}</body></html>",
        title = escape(title),
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    secure(headers);
    response
}

fn secure(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"),
    );
}

fn invalid_link() -> Response {
    page(
        StatusCode::FORBIDDEN,
        "链接无效或已过期",
        "<h1>链接无效或已过期</h1><p>您打开的链接无效或已过期。如需查看文书，请联系送达文书的机关。</p>",
    )
}

fn unavailable(err: &Error) -> Response {
    tracing::error!(error = %err, "portal request failed");
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "服务暂时不可用",
        "<h1>服务暂时不可用</h1><p>请稍后再试。</p>",
    )
}

/// The verified claims of a link of one of `purposes`, or the page that
/// refuses it (a genuine link of another purpose is refused like a forged one).
#[allow(clippy::result_large_err)] // built once per refused request; boxing buys nothing
fn check_link(state: &State, token: &str, purposes: &[&str]) -> Result<(Uuid, LinkClaims), Response> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(page(StatusCode::URI_TOO_LONG, "链接无效", "<h1>链接无效</h1><p>链接过长。</p>"));
    }
    match state.signer.verify(token, state.clock.now()) {
        Ok(claims) if purposes.contains(&claims.purpose.as_str()) => match Uuid::parse_str(&claims.link_id) {
            Ok(id) => Ok((id, claims)),
            Err(_) => {
                tracing::warn!("a genuine link whose link_id is no UUID");
                Err(invalid_link())
            }
        },
        Ok(_) => Err(invalid_link()),
        Err(reason) => {
            tracing::info!(%reason, "link refused");
            Err(invalid_link())
        }
    }
}

/// The client's address and user agent. `X-Forwarded-For` counts only when
/// the connection comes from a trusted proxy: the address is then the
/// rightmost entry that is not itself a trusted proxy.
fn evidence(state: &State, extensions: &Extensions, headers: &HeaderMap) -> Evidence {
    let peer = extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip());
    let ip = match peer {
        None => "unknown".to_string(),
        Some(peer) => client_ip(peer, headers, &state.portal.trusted_proxies).to_string(),
    };
    let user_agent = headers
        .get(header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let user_agent: String = user_agent.chars().filter(|c| !c.is_control()).take(MAX_USER_AGENT_CHARS).collect();
    Evidence { ip, user_agent }
}

pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    let mut ip = peer;
    for entry in entries.iter().rev().take(MAX_FORWARDED) {
        match entry.trim().parse::<IpAddr>() {
            Ok(forwarded) => {
                ip = forwarded;
                if !trusted.contains(&forwarded) {
                    return forwarded;
                }
            }
            Err(_) => return ip,
        }
    }
    ip
}

async fn open_page(AxumState(state): Shared, Path(token): Path<String>, method: Method, extensions: Extensions, headers: HeaderMap) -> Response {
    let (link_id, claims) = match check_link(&state, &token, DOCUMENT_PURPOSES) {
        Ok(checked) => checked,
        Err(refused) => return refused,
    };
    // A HEAD (a link checker, a preview) shows nothing to anyone: not an open.
    if method != Method::HEAD {
        if let Err(err) = state.record_open(link_id, &claims, &evidence(&state, &extensions, &headers)).await {
            return unavailable(&err);
        }
    }
    let confirmed = match state.confirmed_at(link_id).await {
        Ok(at) => at,
        Err(err) => return unavailable(&err),
    };
    let token = escape(&token);
    let sign = claims.purpose == PURPOSE_SIGN;
    let action = match (confirmed, sign) {
        (Some(at), false) => format!("<p><strong>您已于 {} 确认收到本文书。</strong></p>", cst(at)),
        (Some(at), true) => format!("<p><strong>您已于 {} 阅读并签字确认本记录。</strong></p>", cst(at)),
        (None, false) => format!(
            "<form method=\"post\" action=\"{token}/confirm\"><button type=\"submit\">确认收到</button></form>\
             <p class=\"note\">阅读文书后，请点击“确认收到”。</p>"
        ),
        (None, true) => format!(
            "<form method=\"post\" action=\"{token}/confirm\"><button type=\"submit\">已阅读，确认无误并签字</button></form>\
             <p class=\"note\">请先点击“查看 / 下载”完整阅读记录。确认即视为您在本记录上签字；如有异议，请勿确认，并联系约谈机关。</p>"
        ),
    };
    let heading = if sign { "约谈记录签字" } else { "文书送达" };
    let body = format!(
        "<h1>{heading}</h1><div class=\"doc\"><p>送达机关：{organ}</p><p>文书：{name}</p></div>\
         <a class=\"button\" href=\"{token}/file\">查看 / 下载</a>{action}\
         <p class=\"note\">本链接仅供受送达人使用，有效期至 {expires}（北京时间）。请勿转发。</p>",
        organ = escape(&claims.organ),
        name = escape(&claims.document_name),
        expires = cst(claims.expires_at),
    );
    page(StatusCode::OK, heading, &body)
}

/// `filename*=` of RFC 6266/5987: UTF-8, percent-encoded.
fn content_disposition(name: &str) -> String {
    let mut name: String = name.chars().filter(|c| !c.is_control() && !matches!(c, '/' | '\\')).take(120).collect();
    if !name.to_lowercase().ends_with(".pdf") {
        name.push_str(".pdf");
    }
    let mut encoded = String::new();
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("inline; filename=\"document.pdf\"; filename*=UTF-8''{encoded}")
}

async fn file(AxumState(state): Shared, Path(token): Path<String>, extensions: Extensions, headers: HeaderMap) -> Response {
    let (link_id, claims) = match check_link(&state, &token, DOCUMENT_PURPOSES) {
        Ok(checked) => checked,
        Err(refused) => return refused,
    };
    let bytes = match linked_pdf(&state, link_id, &claims).await {
        Ok(bytes) => bytes,
        Err(refused) => return refused,
    };
    // Downloading the file is opening the link too (the first open counts).
    if let Err(err) = state.record_open(link_id, &claims, &evidence(&state, &extensions, &headers)).await {
        return unavailable(&err);
    }
    pdf_response(bytes, &claims.document_name)
}

/// The linked PDF (`document_sha256`) from the object store, checked
/// against the link's SHA-256, or the page that says why not.
#[allow(clippy::result_large_err)] // built once per refused request; boxing buys nothing
async fn linked_pdf(state: &State, link_id: Uuid, claims: &LinkClaims) -> Result<Vec<u8>, Response> {
    let bytes = match state.objects.get(&claims.document_sha256).await {
        Ok(bytes) => bytes,
        Err(Error::NotFound(_)) => {
            tracing::warn!(link_id = %link_id, "the linked document is not in the object store");
            return Err(page(StatusCode::NOT_FOUND, "文书不存在", "<h1>文书暂不可用</h1><p>请联系送达文书的机关。</p>"));
        }
        Err(err) => return Err(unavailable(&err)),
    };
    // The store checks its address; this checks that it is the linked document.
    if hex::encode(Sha256::digest(&bytes)) != claims.document_sha256 {
        return Err(unavailable(&Error::Internal(format!(
            "object for link {link_id} does not match the link's sha256"
        ))));
    }
    Ok(bytes)
}

fn pdf_response(bytes: Vec<u8>, name: &str) -> Response {
    let mut response = (StatusCode::OK, bytes).into_response();
    let headers = response.headers_mut();
    secure(headers);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/pdf"));
    if let Ok(value) = HeaderValue::from_str(&content_disposition(name)) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

async fn confirm(AxumState(state): Shared, Path(token): Path<String>, extensions: Extensions, headers: HeaderMap) -> Response {
    let (link_id, claims) = match check_link(&state, &token, DOCUMENT_PURPOSES) {
        Ok(checked) => checked,
        Err(refused) => return refused,
    };
    let evidence = evidence(&state, &extensions, &headers);
    // Confirming implies opening: a confirmation never stands without its open.
    if let Err(err) = state.record_open(link_id, &claims, &evidence).await {
        return unavailable(&err);
    }
    if let Err(err) = state.record_receipt(link_id, &claims, &evidence).await {
        return unavailable(&err);
    }
    let at = match state.confirmed_at(link_id).await {
        Ok(Some(at)) => at,
        Ok(None) => return unavailable(&Error::Internal("receipt missing after commit".into())),
        Err(err) => return unavailable(&err),
    };
    let title = if claims.purpose == PURPOSE_SIGN { "已签字确认" } else { "已确认收到" };
    let body = format!(
        "<h1>{title}</h1><div class=\"doc\"><p>送达机关：{organ}</p><p>文书：{name}</p>\
         <p>确认时间：{at}（北京时间）</p></div><a class=\"button\" href=\"file\">查看 / 下载</a>",
        organ = escape(&claims.organ),
        name = escape(&claims.document_name),
        at = cst(at),
    );
    page(StatusCode::OK, title, &body)
}

// ---- the rectification report (整改报告) ----

/// `GET /r/{token}`: the organ, the notice (and its PDF), and the form, or
/// when the report was submitted if it was. Records nothing.
async fn report_page(AxumState(state): Shared, Path(token): Path<String>) -> Response {
    let (link_id, claims) = match check_link(&state, &token, REPORT_PURPOSES) {
        Ok(checked) => checked,
        Err(refused) => return refused,
    };
    let submitted = match state.report_submitted_at(link_id).await {
        Ok(at) => at,
        Err(err) => return unavailable(&err),
    };
    let token = escape(&token);
    let action = match submitted {
        Some(at) => format!(
            "<p><strong>您已于 {}（北京时间）通过本链接提交整改报告。</strong></p>\
             <p class=\"note\">如需补充材料，请联系作出整改通知的机关。</p>",
            cst(at)
        ),
        None => format!(
            "<form method=\"post\" action=\"{token}\" enctype=\"multipart/form-data\">\
             <p><label for=\"text\">整改情况说明</label><br>\
             <textarea id=\"text\" name=\"text\" rows=\"10\" maxlength=\"{MAX_TEXT_CHARS}\" required \
             style=\"width:100%;box-sizing:border-box;font-size:1rem\"></textarea></p>\
             <p><label for=\"files\">证明材料（照片、检测报告、制度文件）</label><br>\
             <input id=\"files\" type=\"file\" name=\"files\" multiple accept=\"image/jpeg,image/png,application/pdf\"></p>\
             <p class=\"note\">整改情况说明不超过 {MAX_TEXT_CHARS} 字；最多 {MAX_FILES} 个文件，每个不超过 {file_mib} MiB，\
             限 JPEG、PNG 图片或 PDF 文件。每个链接只能提交一次，提交后不能修改。</p>\
             <button type=\"submit\">提交整改报告</button></form>",
            file_mib = MAX_FILE_BYTES / (1024 * 1024),
        ),
    };
    let body = format!(
        "<h1>提交整改报告</h1><div class=\"doc\"><p>机关：{organ}</p><p>整改事项：{name}</p></div>\
         <a class=\"button\" href=\"{token}/notice\">查看整改事项</a>{action}\
         <p class=\"note\">本链接仅供被约谈方使用，有效期至 {expires}（北京时间）。请勿转发。</p>",
        organ = escape(&claims.organ),
        name = escape(&claims.document_name),
        expires = cst(claims.expires_at),
    );
    page(StatusCode::OK, "提交整改报告", &body)
}

/// `GET /r/{token}/notice`: the rectification notice's PDF, checked
/// against the link's SHA-256. Records nothing.
async fn notice(AxumState(state): Shared, Path(token): Path<String>) -> Response {
    let (link_id, claims) = match check_link(&state, &token, REPORT_PURPOSES) {
        Ok(checked) => checked,
        Err(refused) => return refused,
    };
    match linked_pdf(&state, link_id, &claims).await {
        Ok(bytes) => pdf_response(bytes, &claims.document_name),
        Err(refused) => refused,
    }
}

/// A field of the report refused (400, 413): the page names it.
fn report_refused(refusal: &FieldRefusal) -> Response {
    let body = format!(
        "<h1>提交未成功</h1><div class=\"doc\"><p>字段 <code>{field}</code>：{why}</p></div>\
         <p>整改报告没有提交，也没有保存任何内容。请返回修改后重新提交。</p>",
        field = escape(&refusal.field),
        why = escape(&refusal.why),
    );
    page(refusal.status, "提交未成功", &body)
}

/// A report link through which a report was submitted already: 409.
fn report_already_submitted(at: DateTime<Utc>) -> Response {
    let body = format!(
        "<h1>整改报告已提交过</h1><p>您已于 {}（北京时间）通过本链接提交整改报告，本次提交未被接受，也没有保存任何内容。</p>\
         <p class=\"note\">每个链接只能提交一次。如需补充材料，请联系作出整改通知的机关。</p>",
        cst(at)
    );
    page(StatusCode::CONFLICT, "整改报告已提交过", &body)
}

/// `POST /r/{token}`: the link (forged, expired, another purpose: the
/// refusal page; used: 409), then the whole form (`report::read_form`),
/// all before anything is written; then the files into the object store
/// and the report, its event and its audit row in one transaction.
async fn submit_report(
    AxumState(state): Shared,
    Path(token): Path<String>,
    extensions: Extensions,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let (link_id, claims) = match check_link(&state, &token, REPORT_PURPOSES) {
        Ok(checked) => checked,
        Err(refused) => return refused,
    };
    match state.report_submitted_at(link_id).await {
        Ok(Some(at)) => return report_already_submitted(at),
        Ok(None) => {}
        Err(err) => return unavailable(&err),
    }
    let mut multipart = match multipart {
        Ok(multipart) => multipart,
        Err(rejection) => {
            tracing::info!(%rejection, "report not posted as multipart/form-data");
            return report_refused(&FieldRefusal {
                status: StatusCode::BAD_REQUEST,
                field: "body".into(),
                why: "提交的内容不是有效的表单（multipart/form-data）".into(),
            });
        }
    };
    let form = match report::read_form(&mut multipart).await {
        Ok(form) => form,
        Err(refusal) => {
            tracing::info!(field = %refusal.field, status = %refusal.status, "report refused");
            return report_refused(&refusal);
        }
    };
    let files = form.files.len();
    let mut attachments = Vec::with_capacity(files);
    for (i, file) in form.files.into_iter().enumerate() {
        match state.objects.put(file.bytes).await {
            Ok(stored) => attachments.push(stored.sha256),
            // The store's own bound ([objects] max_object_bytes) is lower.
            Err(Error::InvalidArgument { reason, .. }) => {
                tracing::warn!(%reason, "the object store refused a report file");
                return report_refused(&FieldRefusal {
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                    field: format!("files[{i}]"),
                    why: "文件过大，无法保存".into(),
                });
            }
            Err(err) => return unavailable(&err),
        }
    }
    let evidence = evidence(&state, &extensions, &headers);
    let at = match state.record_report(link_id, &claims, &form.text, &attachments, &evidence).await {
        Ok(ReportRecorded::New(at)) => at,
        Ok(ReportRecorded::Before(at)) => return report_already_submitted(at),
        Err(err) => return unavailable(&err),
    };
    tracing::info!(link_id = %link_id, files, "rectification report submitted");
    let body = format!(
        "<h1>整改报告已提交</h1><div class=\"doc\"><p>机关：{organ}</p><p>整改事项：{name}</p>\
         <p>提交时间：{at}（北京时间）</p><p>证明材料：{files} 个文件</p></div>\
         <p class=\"note\">机关将审查您的整改报告。如需补充材料，请联系作出整改通知的机关。</p>",
        organ = escape(&claims.organ),
        name = escape(&claims.document_name),
        at = cst(at),
    );
    page(StatusCode::OK, "整改报告已提交", &body)
}

// ---- the rating of the interview (R-SUP-4) ----

/// The three marks of a rating: form field and label.
const MARKS: &[(&str, &str)] = &[("attitude", "态度"), ("professionalism", "专业"), ("communication", "沟通")];

/// `GET /rate/{token}`: the form (three marks of 1–5 and a comment), or
/// when the rating was submitted if it was. Records nothing.
async fn rating_page(AxumState(state): Shared, Path(token): Path<String>) -> Response {
    let (link_id, claims) = match check_link(&state, &token, RATING_PURPOSES) {
        Ok(checked) => checked,
        Err(refused) => return refused,
    };
    let submitted = match state.rating_submitted_at(link_id).await {
        Ok(at) => at,
        Err(err) => return unavailable(&err),
    };
    let action = match submitted {
        Some(at) => format!("<p><strong>您已于 {}（北京时间）提交评价，感谢您的参与。</strong></p>", cst(at)),
        None => {
            let mut marks = String::new();
            for (field, label) in MARKS {
                marks.push_str(&format!("<fieldset style=\"border:1px solid #ccc;border-radius:.5rem;margin:.6rem 0\"><legend>{label}</legend>"));
                for n in 1..=5 {
                    marks.push_str(&format!(
                        "<label style=\"margin-right:1rem\"><input type=\"radio\" name=\"{field}\" value=\"{n}\" required> {n} 分</label>"
                    ));
                }
                marks.push_str("</fieldset>");
            }
            format!(
                "<form method=\"post\" action=\"{token}\">{marks}\
                 <p><label for=\"comment\">意见建议（选填）</label><br>\
                 <textarea id=\"comment\" name=\"comment\" rows=\"5\" maxlength=\"{MAX_COMMENT_CHARS}\" \
                 style=\"width:100%;box-sizing:border-box;font-size:1rem\"></textarea></p>\
                 <p class=\"note\">1 分最低，5 分最高；意见建议不超过 {MAX_COMMENT_CHARS} 字。评价匿名，不显示您的姓名或案件；\
                 每个链接只能评价一次，提交后不能修改。</p>\
                 <button type=\"submit\">提交评价</button></form>",
                token = escape(&token),
            )
        }
    };
    let complained = match state.complaint_submitted_at(link_id).await {
        Ok(at) => at,
        Err(err) => return unavailable(&err),
    };
    let complaint = match complained {
        Some(at) => format!("<h2>投诉</h2><p>您已于 {}（北京时间）提交投诉，纪检监察人员将在 3 个工作日内开始调查。</p>", cst(at)),
        None => {
            let kinds: String = COMPLAINT_KINDS.iter().map(|(k, label)| format!("<option value=\"{k}\">{label}</option>")).collect();
            format!(
                "<h2>投诉约谈人员</h2><form method=\"post\" action=\"{token}/complaint\">\
                 <p><label for=\"kind\">投诉事项</label><br><select id=\"kind\" name=\"kind\" required><option value=\"\">请选择</option>{kinds}</select></p>\
                 <p><label for=\"description\">被投诉人员及具体情况</label><br>\
                 <textarea id=\"description\" name=\"description\" rows=\"6\" maxlength=\"{MAX_COMPLAINT_CHARS}\" required \
                 style=\"width:100%;box-sizing:border-box;font-size:1rem\"></textarea></p>\
                 <p class=\"note\">投诉由纪检监察人员受理，3 个工作日内开始调查。每个链接可投诉一次，不超过 {MAX_COMPLAINT_CHARS} 字。</p>\
                 <button type=\"submit\">提交投诉</button></form>",
                token = escape(token.rsplit('/').next().unwrap_or(&token)),
            )
        }
    };
    let body = format!(
        "<h1>约谈满意度评价</h1><div class=\"doc\"><p>机关：{organ}</p><p>请对约谈人员的态度、专业水平和沟通情况作出评价。</p></div>{action}{complaint}\
         <p class=\"note\">本链接仅供被约谈方使用，有效期至 {expires}（北京时间）。请勿转发。</p>",
        organ = escape(&claims.organ),
        expires = cst(claims.expires_at),
    );
    page(StatusCode::OK, "约谈满意度评价", &body)
}

fn rating_refused(refusal: &RatingRefusal) -> Response {
    let body = format!(
        "<h1>提交未成功</h1><div class=\"doc\"><p>字段 <code>{field}</code>：{why}</p></div>\
         <p>评价没有提交，也没有保存任何内容。请返回修改后重新提交。</p>",
        field = escape(refusal.field),
        why = escape(&refusal.why),
    );
    page(StatusCode::BAD_REQUEST, "提交未成功", &body)
}

fn rating_already_submitted(at: DateTime<Utc>) -> Response {
    let body = format!(
        "<h1>已评价过</h1><p>您已于 {}（北京时间）通过本链接提交评价，本次提交未被接受，也没有保存任何内容。</p>\
         <p class=\"note\">每个链接只能评价一次。</p>",
        cst(at)
    );
    page(StatusCode::CONFLICT, "已评价过", &body)
}

/// `POST /rate/{token}`: the link (forged, expired, another purpose: the
/// refusal page; used: 409), then the form (`rating::check`), then the
/// rating, its event and its audit row in one transaction.
async fn submit_rating(AxumState(state): Shared, Path(token): Path<String>, form: Result<Form<RatingFormRaw>, FormRejection>) -> Response {
    let (link_id, claims) = match check_link(&state, &token, RATING_PURPOSES) {
        Ok(checked) => checked,
        Err(refused) => return refused,
    };
    match state.rating_submitted_at(link_id).await {
        Ok(Some(at)) => return rating_already_submitted(at),
        Ok(None) => {}
        Err(err) => return unavailable(&err),
    }
    let raw = match form {
        Ok(Form(raw)) => raw,
        Err(rejection) => {
            tracing::info!(%rejection, "rating not posted as a form");
            return rating_refused(&RatingRefusal { field: "body", why: "提交的内容不是有效的表单".into() });
        }
    };
    let form = match rating::check(&raw) {
        Ok(form) => form,
        Err(refusal) => return rating_refused(&refusal),
    };
    let at = match state.record_rating(link_id, &claims, &form).await {
        Ok(ReportRecorded::New(at)) => at,
        Ok(ReportRecorded::Before(at)) => return rating_already_submitted(at),
        Err(err) => return unavailable(&err),
    };
    tracing::info!(link_id = %link_id, "rating submitted");
    let body = format!(
        "<h1>评价已提交</h1><div class=\"doc\"><p>机关：{organ}</p><p>提交时间：{at}（北京时间）</p></div>\
         <p class=\"note\">感谢您的评价。评价匿名统计，用于改进约谈工作。</p>",
        organ = escape(&claims.organ),
        at = cst(at),
    );
    page(StatusCode::OK, "评价已提交", &body)
}

/// `POST /rate/{token}/complaint`: the link (as for the rating; one
/// complaint per link: 409), the form (`rating::check_complaint`), then the
/// complaint's row, event and audit row in one transaction.
async fn submit_complaint(AxumState(state): Shared, Path(token): Path<String>, form: Result<Form<ComplaintFormRaw>, FormRejection>) -> Response {
    let (link_id, claims) = match check_link(&state, &token, RATING_PURPOSES) {
        Ok(checked) => checked,
        Err(refused) => return refused,
    };
    let already = |at: DateTime<Utc>| {
        let body = format!("<h1>已投诉过</h1><p>您已于 {}（北京时间）通过本链接提交投诉，本次提交未被接受，也没有保存任何内容。</p>", cst(at));
        page(StatusCode::CONFLICT, "已投诉过", &body)
    };
    match state.complaint_submitted_at(link_id).await {
        Ok(Some(at)) => return already(at),
        Ok(None) => {}
        Err(err) => return unavailable(&err),
    }
    let raw = match form {
        Ok(Form(raw)) => raw,
        Err(rejection) => {
            tracing::info!(%rejection, "complaint not posted as a form");
            return rating_refused(&RatingRefusal { field: "body", why: "提交的内容不是有效的表单".into() });
        }
    };
    let form = match rating::check_complaint(&raw) {
        Ok(form) => form,
        Err(refusal) => return rating_refused(&refusal),
    };
    let at = match state.record_complaint(link_id, &claims, &form).await {
        Ok(ReportRecorded::New(at)) => at,
        Ok(ReportRecorded::Before(at)) => return already(at),
        Err(err) => return unavailable(&err),
    };
    tracing::info!(link_id = %link_id, "complaint submitted");
    let body = format!(
        "<h1>投诉已提交</h1><div class=\"doc\"><p>机关：{organ}</p><p>提交时间：{at}（北京时间）</p></div>\
         <p class=\"note\">纪检监察人员将在 3 个工作日内开始调查。</p>",
        organ = escape(&claims.organ),
        at = cst(at),
    );
    page(StatusCode::OK, "投诉已提交", &body)
}

// ---- providers ----

fn refused(refusal: Refusal) -> Response {
    match refusal {
        Refusal::Unauthenticated => (StatusCode::UNAUTHORIZED, Json(json!({ "code": 401, "msg": "签名无效" }))).into_response(),
        Refusal::Invalid(why) => (StatusCode::BAD_REQUEST, Json(json!({ "code": 400, "msg": why }))).into_response(),
    }
}

fn provider_failed(err: &Error) -> Response {
    tracing::error!(error = %err, "callback not stored; the provider will retry");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({ "code": 500, "msg": "暂时无法处理，请重试" })),
    )
        .into_response()
}

fn accepted() -> Response {
    Json(json!({ "code": 0, "msg": "成功" })).into_response()
}

async fn sms(AxumState(state): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let signature = headers.get("x-yuetan-signature").and_then(|v| v.to_str().ok());
    if let Err(refusal) = callbacks::check_sms_signature(state.portal.sms_callback_secret.expose(), signature, &body) {
        tracing::warn!("sms callback with a bad signature refused");
        return refused(refusal);
    }
    let (reports, raw) = match callbacks::parse_sms_reports(&body) {
        Ok(parsed) => parsed,
        Err(refusal) => return refused(refusal),
    };
    match state.record_sms_reports(&reports, &raw).await {
        Ok(new) => {
            tracing::info!(reports = reports.len(), new, "sms delivery reports received");
            accepted()
        }
        Err(err) => provider_failed(&err),
    }
}

async fn egov(AxumState(state): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let egov_headers = EgovHeaders {
        app_id: get("x-egov-appid"),
        timestamp: get("x-egov-timestamp"),
        nonce: get("x-egov-nonce"),
        signature: get("x-egov-signature"),
    };
    let portal = &state.portal;
    if let Err(refusal) = callbacks::check_egov_signature(&portal.egov_app_id, portal.egov_secret.expose(), &egov_headers, &body, state.clock.now()) {
        tracing::warn!("e-gov callback with a bad signature, app id or timestamp refused");
        return refused(refusal);
    }
    let ack = match callbacks::parse_egov_ack(&body) {
        Ok(ack) => ack,
        Err(refusal) => return refused(refusal),
    };
    match state.record_egov_ack(&ack).await {
        Ok(new) => {
            tracing::info!(new, "e-gov acknowledgement received");
            accepted()
        }
        Err(err) => provider_failed(&err),
    }
}

/// The Janus video server's event handler (`janus.eventhandler.sampleevh`
/// with `backend_user`/`backend_pwd`): HTTP Basic, then the VideoRoom joins
/// and leaves of the post, one `portal.video_event` each (deduplicated).
async fn janus(AxumState(state): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let portal = &state.portal;
    if !portal.janus_events_enabled() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "code": 503, "msg": "Janus events are not enabled here: [portal] janus_event_password is not set" })),
        )
            .into_response();
    }
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if callbacks::check_basic_auth(&portal.janus_event_user, portal.janus_event_password.expose(), authorization).is_err() {
        tracing::warn!("janus event post with missing or wrong credentials refused");
        let mut response = (StatusCode::UNAUTHORIZED, Json(json!({ "code": 401, "msg": "认证失败" }))).into_response();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"yuetan-portal\", charset=\"UTF-8\""));
        return response;
    }
    let events = match callbacks::parse_janus_events(&body) {
        Ok(events) => events,
        Err(refusal) => return refused(refusal),
    };
    // Most of what Janus posts (sessions, handles, media) is no join or leave.
    if events.is_empty() {
        return accepted();
    }
    match state.record_video_events("janus", &events).await {
        Ok(new) => {
            tracing::info!(events = events.len(), new, "janus room events received");
            accepted()
        }
        Err(err) => provider_failed(&err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("1.1.1.1, 203.0.113.7, 10.0.0.1"));
        let stranger: IpAddr = "198.51.100.2".parse().unwrap();
        assert_eq!(client_ip(stranger, &headers, &[proxy]), stranger);
        assert_eq!(client_ip(proxy, &headers, &[proxy]), "203.0.113.7".parse::<IpAddr>().unwrap());
        assert_eq!(client_ip(proxy, &HeaderMap::new(), &[proxy]), proxy);
    }

    #[test]
    fn pages_escape_what_they_show_and_filenames_are_encoded() {
        assert_eq!(escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        let value = content_disposition("约谈通知书\"; x=");
        assert!(value.is_ascii() && value.contains("filename*=UTF-8''%E7%BA%A6"), "{value}");
        assert!(value.ends_with(".pdf"));
    }
}
