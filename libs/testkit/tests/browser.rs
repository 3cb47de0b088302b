//! The browser driver against two small pages served with the console's
//! strict `Content-Security-Policy: default-src 'self'`: headless Chromium
//! reads Chinese text, takes screenshots, and axe-core (injected over
//! WebDriver, which the page's CSP does not govern) finds the violation on
//! the bad page and none that matter on the good one; and a browser logs in
//! through the OIDC peer's login page.

use std::path::PathBuf;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use fantoccini::Locator;
use serde_json::Value;
use sha2::Digest as _;
use yuetan_testkit::browser::{self, AxeViolation, Browser};
use yuetan_testkit::peers::oidc::{OidcClient, OidcPeer, OidcUser};

const CSP: &str = "default-src 'self'";

/// Accessible: language, title, landmark, heading, a labelled input. Its
/// inline script must not run under the CSP.
const GOOD_PAGE: &str = r#"<!DOCTYPE html>
<html lang="zh-CN">
<head><meta charset="utf-8"><title>约谈控制台 — 案件查询</title></head>
<body>
<main>
<h1>行政约谈案件查询</h1>
<form action="/good" method="get">
<label for="party">当事人名称</label>
<input id="party" name="party" type="text">
<button type="submit">查询</button>
</form>
<p>请输入当事人名称以查询约谈案件。</p>
</main>
<script>document.documentElement.dataset.inline = "ran";</script>
</body>
</html>"#;

/// An image without a text alternative: axe's `image-alt`, critical.
const BAD_PAGE: &str = r#"<!DOCTYPE html>
<html lang="zh-CN">
<head><meta charset="utf-8"><title>证据照片</title></head>
<body>
<main>
<h1>证据照片</h1>
<img src="/photo.png" width="40" height="40">
</main>
</body>
</html>"#;

fn html(body: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CONTENT_SECURITY_POLICY, CSP)], body)
}

/// Serves the two pages on 127.0.0.1:0 and answers the base URL.
async fn serve_pages() -> String {
    let router = axum::Router::new()
        .route("/good", get(|| async { html(GOOD_PAGE) }))
        .route("/bad", get(|| async { html(BAD_PAGE) }))
        .route(
            "/photo.png",
            get(|| async { ([(header::CONTENT_TYPE, "image/png"), (header::CONTENT_SECURITY_POLICY, CSP)], yuetan_testkit::PNG_1X1) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

fn out_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-test")
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// The width and height in a PNG's IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    (width, height)
}

fn serious(violations: &[AxeViolation]) -> Vec<&AxeViolation> {
    violations.iter().filter(|v| v.impact == "serious" || v.impact == "critical").collect()
}

#[test]
fn the_tools_are_installed() {
    for found in [browser::find_chromedriver(), browser::find_chromium(), browser::find_axe_js()] {
        let path = found.unwrap_or_else(|err| panic!("{err:#}"));
        assert!(path.is_file(), "{}", path.display());
    }
}

#[tokio::test]
async fn chromium_reads_chinese_takes_screenshots_and_axe_finds_violations_under_a_strict_csp() {
    let base = serve_pages().await;
    let browser = Browser::start(out_dir()).await.unwrap_or_else(|err| panic!("{err:#}"));

    browser.client.goto(&format!("{base}/good")).await.unwrap();
    assert_eq!(browser.client.title().await.unwrap(), "约谈控制台 — 案件查询");
    let heading = browser.client.find(Locator::Css("h1")).await.unwrap().text().await.unwrap();
    assert_eq!(heading, "行政约谈案件查询");
    let label = browser.client.find(Locator::Css("label[for=party]")).await.unwrap().text().await.unwrap();
    assert_eq!(label, "当事人名称");
    // The page's CSP is enforced: its inline script did not run...
    let inline = browser.client.execute("return document.documentElement.dataset.inline || null;", Vec::new()).await.unwrap();
    assert_eq!(inline, Value::Null, "the inline script ran: the CSP header was not enforced");
    let languages = browser.client.execute("return navigator.languages;", Vec::new()).await.unwrap();
    assert_eq!(languages[0], "zh-CN", "{languages}");

    let path = browser.screenshot("good-1366").await.unwrap();
    assert_eq!(path, out_dir().join("good-1366.png"));
    let png = std::fs::read(&path).unwrap();
    assert!(png.starts_with(PNG_SIGNATURE), "not a PNG");
    assert!(png.len() > 5_000, "a rendered page is more than {} bytes", png.len());
    assert_eq!(png_size(&png).0, 1366);

    // ...yet axe, injected over WebDriver, runs.
    let violations = browser.axe().await.unwrap();
    assert!(serious(&violations).is_empty(), "the good page has serious violations: {violations:#?}");

    browser.client.goto(&format!("{base}/bad")).await.unwrap();
    let violations = browser.axe().await.unwrap();
    let image_alt = violations
        .iter()
        .find(|v| v.id == "image-alt")
        .unwrap_or_else(|| panic!("axe did not report image-alt: {violations:#?}"));
    assert_eq!(image_alt.impact, "critical");
    assert_eq!(image_alt.targets, vec!["img".to_string()]);
    assert!(!image_alt.help.is_empty());

    browser.set_size(800, 600).await.unwrap();
    let width = browser.client.execute("return window.outerWidth;", Vec::new()).await.unwrap();
    assert_eq!(width, 800);
    let png = std::fs::read(browser.screenshot("bad-800").await.unwrap()).unwrap();
    assert!(png.starts_with(PNG_SIGNATURE));
    assert_eq!(png_size(&png).0, 800);

    browser.close().await.unwrap();
}

/// The processes whose process group is `group`, from /proc.
fn processes_in_group(group: u32) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // pid (comm) state ppid pgrp ...; comm may hold spaces, so split after ')'.
        let Some((head, rest)) = stat.rsplit_once(')') else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(2) == Some(&group.to_string().as_str()) {
            found.push(head.to_string());
        }
    }
    found
}

#[tokio::test]
async fn a_dropped_browser_leaves_no_chromedriver_or_chromium_behind() {
    let browser = Browser::start(out_dir().join("dropped")).await.unwrap_or_else(|err| panic!("{err:#}"));
    browser.client.goto("about:blank").await.unwrap();
    let group = browser.driver_pid().expect("a running chromedriver");
    assert!(processes_in_group(group).len() >= 2, "chromedriver and chromium run in its group: {:?}", processes_in_group(group));

    drop(browser);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !processes_in_group(group).is_empty() {
        assert!(std::time::Instant::now() < deadline, "still running after drop: {:?}", processes_in_group(group));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_browser_logs_in_by_clicking_a_user_on_the_oidc_login_page() {
    let base = serve_pages().await;
    let user = |sub: &str, name: &str| OidcUser { sub: sub.into(), name: name.into(), claims: serde_json::Map::new() };
    let peer = OidcPeer::start(Vec::new(), vec![user("wang.li", "王力"), user("zhao.min", "赵敏")]).await.unwrap();
    // The client is registered once its redirect URI is known.
    let redirect_uri = format!("{base}/good");
    peer.add_client(OidcClient { client_id: "console".into(), client_secret: "s3cret".into(), redirect_uris: vec![redirect_uri.clone()] });

    let verifier = "a-pkce-code-verifier-of-at-least-forty-three-characters-0123456789";
    let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier));
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", "console")
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("scope", "openid profile")
        .append_pair("state", "st-9")
        .append_pair("nonce", "n-9")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();

    let browser = Browser::start(out_dir().join("login")).await.unwrap_or_else(|err| panic!("{err:#}"));
    browser.client.goto(&format!("{}/authorize?{query}", peer.issuer())).await.unwrap();
    assert_eq!(browser.client.title().await.unwrap(), "统一身份认证 — 选择登录用户");
    browser.screenshot("oidc-login-page").await.unwrap();
    browser.client.find(Locator::Id("login-zhao.min")).await.unwrap().click().await.unwrap();
    browser.client.wait().for_element(Locator::Css("h1")).await.unwrap();

    let url = browser.client.current_url().await.unwrap();
    assert_eq!(url.path(), "/good", "{url}");
    let params: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(params.get("state").map(String::as_str), Some("st-9"));
    let code = params.get("code").expect("a code in the redirect");
    browser.close().await.unwrap();

    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("code_verifier", verifier)
        .append_pair("client_id", "console")
        .append_pair("client_secret", "s3cret")
        .finish();
    let tokens: Value = reqwest::Client::new()
        .post(format!("{}/token", peer.issuer()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id_token = tokens["id_token"].as_str().unwrap_or_else(|| panic!("no ID token: {tokens}"));
    let payload = id_token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!((claims["sub"].as_str(), claims["nonce"].as_str()), (Some("zhao.min"), Some("n-9")));
    assert_eq!(peer.codes_redeemed(), 1);
}
