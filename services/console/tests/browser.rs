//! The console in a real browser (Debian's chromium through chromedriver),
//! against the whole system of the harness and the identity-provider peer:
//! officers sign in through OpenID Connect (code + PKCE), register a clue
//! with evidence, verify it, submit it, pass the legality review, approve,
//! plan the interview and issue the notice, have it document-reviewed; the
//! board turns a card red when the test clock passes its deadline. Another
//! county's officer gets the 403 page; a form without its CSRF token is
//! refused; axe-core finds no serious or critical violation on the main
//! pages. Each step asserts on what the page shows and saves a screenshot
//! into the test's folder (`target/browser/<test>`; with
//! `YUETAN_UPDATE_SCREENSHOTS=1` the README's three are copied to
//! `docs/screenshots/`).

use std::path::PathBuf;
use std::time::Duration;

mod common;

use fantoccini::Locator;
use serde_json::{json, Map, Value};
use yuetan_console::config::OidcConfig;
use yuetan_console::Console;
use yuetan_harness::{Officer, Service, System, CHENGGUAN, ORGAN_B, QILIHE};
use yuetan_harness::interview::{interviewer, recorder};
use yuetan_harness::scheduling::{INTERVIEWER, INTERVIEWER_LEGAL};
use yuetan_testkit::browser::Browser;
use yuetan_testkit::peers::oidc::{OidcClient, OidcPeer, OidcUser};

const CLIENT_ID: &str = "yuetan-console";
const CLIENT_SECRET: &str = "console-client-secret-for-tests";
/// How long a page may take to show what a step expects (events between services).
const STEP: Duration = Duration::from_secs(30);

/// The identity provider's view of an officer: its own claim names and groups.
fn idp_user(officer: &Officer, name: &str) -> OidcUser {
    let groups: Vec<Value> = officer
        .roles
        .iter()
        .map(|role| {
            Value::String(match *role {
                "case_officer" => "约谈-承办人".into(),
                "section_chief" => "约谈-科室负责人".into(),
                "legal_reviewer" => "约谈-法制审核".into(),
                "deputy_leader" => "约谈-分管负责人".into(),
                other => other.to_string(),
            })
        })
        .collect();
    let mut claims = Map::new();
    claims.insert("org_code".into(), json!(officer.organ));
    claims.insert("region".into(), json!(officer.division));
    claims.insert("groups".into(), Value::Array(groups));
    OidcUser { sub: officer.id.clone(), name: name.into(), claims }
}

fn oidc_config(issuer: String) -> OidcConfig {
    OidcConfig {
        issuer,
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        organ_claim: "org_code".into(),
        division_claim: "region".into(),
        roles_claim: "groups".into(),
        role_map: [
            ("约谈-承办人", "case_officer"),
            ("约谈-科室负责人", "section_chief"),
            ("约谈-法制审核", "legal_reviewer"),
            ("约谈-分管负责人", "deputy_leader"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect(),
        ..OidcConfig::default()
    }
}

/// The console on the harness's services, its tokens signed with the harness's key.
pub async fn start_console(sys: &System, oidc: Option<OidcConfig>) -> (String, tokio_util::sync::CancellationToken) {
    let config = common::harness_config("console-session-key-for-the-browser-tests-0001", oidc, Vec::new());
    let console = Console::bind(config, common::harness_channels(sys), sys.clock.clone(), sys.calendar.clone()).await.expect("the console starts");
    let url = format!("http://{}", console.local_addr());
    let stop = tokio_util::sync::CancellationToken::new();
    console.serve(stop.clone());
    (url, stop)
}

fn out_dir(test: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/browser").join(test)
}

async fn text(browser: &Browser, css: &str) -> String {
    match browser.client.find(Locator::Css(css)).await {
        Ok(element) => element.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Reloads `url` until the element `css` contains `expected` (events travel between services).
async fn until_text(browser: &Browser, url: &str, css: &str, expected: &str) {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        browser.client.goto(url).await.expect("the page opens");
        let found = text(browser, css).await;
        if found.contains(expected) {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            let source = browser.client.source().await.unwrap_or_default();
            panic!("{url}: {css} shows {found:?}, not {expected:?}, after {STEP:?}\n{source}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Waits (without reloading) until the element `css` of the page shown contains `expected`.
async fn shows(browser: &Browser, css: &str, expected: &str) -> String {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let found = text(browser, css).await;
        if found.contains(expected) {
            return found;
        }
        if tokio::time::Instant::now() > deadline {
            let source = browser.client.source().await.unwrap_or_default();
            panic!("{css} shows {found:?}, not {expected:?}, after {STEP:?}\n{source}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reloads `url` until the element `css` exists.
async fn until_present(browser: &Browser, url: &str, css: &str) {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        browser.client.goto(url).await.expect("the page opens");
        if browser.client.find(Locator::Css(css)).await.is_ok() {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            let source = browser.client.source().await.unwrap_or_default();
            panic!("{url}: no {css} after {STEP:?}\n{source}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn click(browser: &Browser, css: &str) {
    browser.client.find(Locator::Css(css)).await.unwrap_or_else(|err| panic!("no {css}: {err}")).click().await.unwrap_or_else(|err| panic!("clicking {css}: {err}"));
}

/// Submits a form and checks that the page that follows shows no refusal.
async fn submit(browser: &Browser, form: &str) {
    click(browser, &format!("{form} button[type=submit]")).await;
    browser.client.wait().for_element(Locator::Css("#main")).await.expect("a page after the form");
    let refusals = browser.client.find_all(Locator::Css("p.error")).await.unwrap_or_default();
    if let Some(refusal) = refusals.first() {
        panic!("{form} was refused: {}", refusal.text().await.unwrap_or_default());
    }
}

/// Sets an input's value directly (date inputs take their value, not typing).
async fn set_value(browser: &Browser, css: &str, value: &str) {
    browser.client.execute("document.querySelector(arguments[0]).value = arguments[1];", vec![json!(css), json!(value)]).await.unwrap_or_else(|err| panic!("setting {css}: {err}"));
}

async fn fill(browser: &Browser, css: &str, value: &str) {
    let element = browser.client.find(Locator::Css(css)).await.unwrap_or_else(|err| panic!("no {css}: {err}"));
    element.clear().await.expect("clear");
    element.send_keys(value).await.expect("type");
}

/// Signs out (if signed in) and in again as `sub` through the identity provider.
async fn sign_in(browser: &Browser, console: &str, sub: &str) {
    browser.client.goto(&format!("{console}/work")).await.unwrap();
    if browser.client.find(Locator::Css("form[action='/signout'] button")).await.is_ok() {
        click(browser, "form[action='/signout'] button").await;
    }
    browser.client.goto(&format!("{console}/signin")).await.unwrap();
    click(browser, "#oidc-signin").await;
    // The provider's own page: pick the account.
    click(browser, &format!("#login-{sub}")).await;
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let url = browser.client.current_url().await.unwrap();
        if url.as_str().starts_with(console) && url.path() == "/work" && browser.client.find(Locator::Css("#officer-name")).await.is_ok() {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "after signing in as {sub} the browser is at {url}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// GETs `url` from the page (with the session's cookie): status, type, disposition, first bytes.
async fn fetch(browser: &Browser, url: &str) -> Value {
    browser
        .client
        .execute_async(
            "const [url, done] = arguments; fetch(url).then(r => r.arrayBuffer().then(b => done({status: r.status, type: r.headers.get('content-type'), disposition: r.headers.get('content-disposition'), start: String.fromCharCode(...new Uint8Array(b.slice(0, 5)))}))).catch(e => done({status: 0, start: String(e)}));",
            vec![json!(url)],
        )
        .await
        .unwrap()
}

async fn no_serious_violations(browser: &Browser, page: &str) {
    let violations = browser.axe().await.expect("axe-core runs");
    let serious: Vec<_> = violations.iter().filter(|v| v.impact == "serious" || v.impact == "critical").collect();
    assert!(serious.is_empty(), "{page}: axe-core finds serious or critical violations: {serious:#?}");
}

fn keep_for_readme(browser: &Browser, shot: &str, name: &str) {
    if std::env::var("YUETAN_UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::copy(browser.out_dir().join(format!("{shot}.png")), docs.join(format!("{name}.png"))).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn officers_work_a_case_in_the_browser_from_clue_to_acceptance_and_the_board_turns_red() {
    let mut sys = System::builder().with(Service::Intake).with(Service::Review).with(Service::Rectification).with(Service::Supervision).start().await;
    sys.put_organs().await;
    let _peers = sys.start_scheduling_with_peers(false).await;

    let officer = yuetan_harness::proposer();
    let reviewer = yuetan_harness::reviewer();
    let deputy = yuetan_harness::deputy();
    let other_county = Officer::new("officer-b", ORGAN_B, QILIHE, &["case_officer"]);
    let idp = OidcPeer::start(
        Vec::new(),
        vec![
            idp_user(&officer, "张承办"),
            idp_user(&reviewer, "李审核"),
            idp_user(&deputy, "王局长"),
            idp_user(&other_county, "七里河承办人"),
            idp_user(&interviewer(INTERVIEWER_LEGAL), "李法制"),
            idp_user(&interviewer(INTERVIEWER), "张执法"),
        ],
    )
    .await
    .expect("the identity provider starts");
    let (console, _stop) = start_console(&sys, Some(oidc_config(idp.issuer()))).await;
    idp.add_client(OidcClient { client_id: CLIENT_ID.into(), client_secret: CLIENT_SECRET.into(), redirect_uris: vec![format!("{console}/auth/callback")] });
    let browser = Browser::start(out_dir("work_a_case")).await.expect("chromium starts (deploy/local/install.sh installs it)");

    // Not signed in: the sign-in page.
    browser.client.goto(&format!("{console}/work")).await.unwrap();
    assert!(browser.client.current_url().await.unwrap().as_str().ends_with("/signin"));
    browser.screenshot("00-signin").await.unwrap();
    no_serious_violations(&browser, "sign-in").await;

    // 1. The case officer signs in through the identity provider (PKCE).
    sign_in(&browser, &console, &officer.id).await;
    assert_eq!(text(&browser, "#officer-name").await, "张承办");
    assert_eq!(idp.codes_redeemed(), 1, "one code redeemed for one sign-in");

    // 2. A new clue with a party and an evidence file.
    browser.client.goto(&format!("{console}/clues/new")).await.unwrap();
    no_serious_violations(&browser, "new clue").await;
    let credit_code = yuetan_harness::intake::credit_code(CHENGGUAN, 7301);
    fill(&browser, "#name", "兰州某某商贸有限公司").await;
    fill(&browser, "#credit_code", &credit_code).await;
    fill(&browser, "#address", "甘肃省兰州市城关区张掖路1号").await;
    fill(&browser, "#phone", "0931-8888888").await;
    fill(&browser, "#sms_number", yuetan_harness::scheduling::PARTY_PHONE).await;
    fill(&browser, "#email", "legal@example.cn").await;
    fill(&browser, "#facts", "日常检查发现该企业未按期报送2025年度报告。").await;
    browser.client.find(Locator::Css("#violation_type")).await.unwrap().select_by_value("SJ-ANNUAL-REPORT").await.expect("the violation type is offered");
    let evidence = tempfile::Builder::new().prefix("现场检查照片").suffix(".png").tempfile().unwrap();
    std::fs::write(evidence.path(), yuetan_testkit::PNG_1X1).unwrap();
    browser.client.find(Locator::Css("#evidence")).await.unwrap().send_keys(&evidence.path().display().to_string()).await.unwrap();
    browser.screenshot("01-new-clue").await.unwrap();
    click(&browser, "#form-clue button[type=submit]").await;
    // The upload goes through console.js (XHR with progress), then the clue's page.
    let deadline = tokio::time::Instant::now() + STEP;
    while !browser.client.current_url().await.unwrap().path().starts_with("/clues/0") && !text(&browser, "#clue-status").await.contains("待核查") {
        assert!(tokio::time::Instant::now() < deadline, "the clue page never came: {}", browser.client.source().await.unwrap_or_default());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let clue_url = browser.client.current_url().await.unwrap().to_string();
    until_text(&browser, &clue_url, "#clue-status", "待核查").await;
    let evidence_shown = text(&browser, "#clue-evidence").await;
    assert!(evidence_shown.contains("现场检查照片") && evidence_shown.contains("字节"), "the evidence is listed: {evidence_shown}");
    browser.screenshot("02-clue").await.unwrap();

    // 3. Verification opens the case.
    submit(&browser, "#form-verify").await;
    let case_url = browser.client.current_url().await.unwrap().to_string();
    assert!(case_url.contains("/cases/"), "verification leads to the case: {case_url}");
    let case_id = case_url.rsplit('/').next().unwrap().to_string();
    until_text(&browser, &case_url, "#case-status", "已立案").await;
    assert!(text(&browser, "#case-party").await.contains("兰州某某商贸有限公司"));

    // 4. Submitted for the legality review.
    submit(&browser, "#form-submit").await;
    until_text(&browser, &case_url, "#case-status", "待法制审核").await;

    // The board shows the division's cards; another county's officer is refused the case.
    // 5. The legal reviewer sees the task in My work, passes the checklist.
    sign_in(&browser, &console, &reviewer.id).await;
    until_text(&browser, &format!("{console}/work"), "#tasks", "法制审核").await;
    browser.screenshot("03-my-work-reviewer").await.unwrap();
    no_serious_violations(&browser, "my work").await;
    until_present(&browser, &case_url, "#form-review").await;
    submit(&browser, "#form-review").await;
    until_text(&browser, &case_url, "#case-status", "待审批").await;

    // 6. The deputy approves.
    sign_in(&browser, &console, &deputy.id).await;
    until_text(&browser, &format!("{console}/work"), "#tasks", "审批").await;
    until_present(&browser, &case_url, "#form-approve").await;
    submit(&browser, "#form-approve").await;
    until_text(&browser, &case_url, "#case-status", "已批准约谈").await;

    // 7. The case officer plans the interview (a refusal first: no recorder) and issues the notice.
    sign_in(&browser, &console, &officer.id).await;
    until_present(&browser, &case_url, "#form-plan").await;
    fill(&browser, "#interviewers", &format!("{},{}", yuetan_harness::scheduling::INTERVIEWER_LEGAL, yuetan_harness::scheduling::INTERVIEWER)).await;
    click(&browser, "#form-plan button[type=submit]").await;
    // The service's refusal, next to the recorder field, in Chinese.
    shows(&browser, "#form-plan p.error[data-field='recorder']", "记录人").await;
    fill(&browser, "#interviewers", &format!("{},{}", yuetan_harness::scheduling::INTERVIEWER_LEGAL, yuetan_harness::scheduling::INTERVIEWER)).await;
    fill(&browser, "#recorder", yuetan_harness::scheduling::RECORDER).await;
    click(&browser, "#form-plan button[type=submit]").await;
    until_text(&browser, &case_url, "#plan-status", "已制定方案").await;
    submit(&browser, "#form-notice").await;
    until_text(&browser, &case_url, "#plan-status", "通知书审核中").await;
    until_text(&browser, &case_url, "#documents", "约谈通知书").await;
    browser.screenshot("04-case-notice").await.unwrap();
    no_serious_violations(&browser, "case").await;

    // 8. The reviewer passes the notice (document review); the officer serves it.
    sign_in(&browser, &console, &reviewer.id).await;
    until_present(&browser, &case_url, "#form-document").await;
    submit(&browser, "#form-document").await;
    // Scheduling finds no signed address confirmation for electronic
    // service and hands the notice to the officer, who records the party's
    // confirmation (its scan uploaded) and serves by SMS.
    sign_in(&browser, &console, &officer.id).await;
    until_text(&browser, &case_url, "#services", "待执法人员处理").await;
    fill(&browser, "#ad-sms", yuetan_harness::scheduling::PARTY_PHONE).await;
    fill(&browser, "#ad-email", "legal@example.cn").await;
    let scan = tempfile::Builder::new().prefix("送达地址确认书").suffix(".png").tempfile().unwrap();
    std::fs::write(scan.path(), yuetan_testkit::PNG_1X1).unwrap();
    browser.client.find(Locator::Css("#ad-file")).await.unwrap().send_keys(&scan.path().display().to_string()).await.unwrap();
    submit(&browser, "#form-address").await;
    until_present(&browser, &case_url, "#form-serve").await;
    submit(&browser, "#form-serve").await;
    until_text(&browser, &case_url, "#services", "短信").await;
    until_text(&browser, &case_url, "#plan-status", "已送达").await;

    // 9. The interview, held in the console at its time: the opening, the
    //    informing, the party's statement, two agreed items, then the close
    //    with the recording; the record is then signed in the console by an
    //    interviewer, then by the others.
    let plan = sys.plan_of(&case_id).await;
    let interview_at = yuetan_platform::fields::from_timestamp(plan.interview_at.as_ref()).expect("the plan's time");
    sys.clock.set(interview_at);
    let day = yuetan_platform::fields::cst_date(interview_at);
    let due = |days: i64| (day + chrono::Duration::days(days)).format("%Y-%m-%d").to_string();
    until_present(&browser, &case_url, "#form-start").await;
    submit(&browser, "#form-start").await;
    until_present(&browser, &case_url, "#form-informing").await;
    submit(&browser, "#form-informing").await;
    until_present(&browser, &case_url, "#form-listening").await;
    submit(&browser, "#form-listening").await;
    until_present(&browser, &case_url, "#form-agreeing").await;
    set_value(&browser, "#it-deadline-1", &due(14)).await;
    fill(&browser, "#it-content-2", "建立年度报告报送制度").await;
    set_value(&browser, "#it-deadline-2", &due(28)).await;
    fill(&browser, "#it-standard-2", "制度文本经核查合格").await;
    submit(&browser, "#form-agreeing").await;
    until_present(&browser, &case_url, "#form-close").await;
    let recording = tempfile::Builder::new().prefix("约谈录音").suffix(".mp4").tempfile().unwrap();
    std::fs::write(recording.path(), b"recording of the interview").unwrap();
    browser.client.find(Locator::Css("#c-recording")).await.unwrap().send_keys(&recording.path().display().to_string()).await.unwrap();
    submit(&browser, "#form-close").await;
    until_text(&browser, &case_url, "#main", "录音录像").await;
    let record = sys.record_of(&case_id).await;
    sign_in(&browser, &console, INTERVIEWER_LEGAL).await;
    until_text(&browser, &format!("{console}/work"), "#tasks", "签署笔录").await;
    until_present(&browser, &case_url, "#form-sign").await;
    submit(&browser, "#form-sign").await;
    until_text(&browser, &case_url, "#documents", "约谈笔录").await;
    assert!(browser.client.find(Locator::Css("#form-sign")).await.is_err(), "signed once, the form is gone");
    sys.sign(&interviewer(INTERVIEWER), &record.record_id).await.expect("the second interviewer signs");
    sys.sign(&recorder(), &record.record_id).await.expect("the recorder signs");
    sys.party_signs(&record.record_id).await.expect("the party signs");

    // 10. The rectification: its notice (reviewed), a ledger entry, the
    //     party's report, and acceptance by two officers.
    sign_in(&browser, &console, &officer.id).await;
    until_present(&browser, &case_url, "#form-rect-notice").await;
    submit(&browser, "#form-rect-notice").await;
    sign_in(&browser, &console, &reviewer.id).await;
    until_present(&browser, &case_url, "#form-document").await;
    submit(&browser, "#form-document").await;
    sign_in(&browser, &console, &officer.id).await;
    until_text(&browser, &case_url, "#documents", "责令整改通知书").await;
    submit(&browser, "#form-ledger").await;
    until_text(&browser, &case_url, "#ledger", "已按要求补报年度报告").await;
    let reported_at = interview_at + chrono::Duration::days(7);
    sys.clock.set(reported_at);
    sys.paper_report(&case_id, reported_at).await.expect("the party's report");
    until_text(&browser, &case_url, "#rect-status", "已报告，待验收").await;
    submit(&browser, "#form-acceptance").await;
    sign_in(&browser, &console, INTERVIEWER).await;
    until_present(&browser, &case_url, "#form-acceptance").await;
    submit(&browser, "#form-acceptance").await;
    until_text(&browser, &case_url, "#rect-status", "验收合格").await;
    // Every document's PDF, previewed in the page and downloadable.
    let previews = browser.client.find_all(Locator::Css("details.pdf iframe")).await.unwrap();
    assert!(previews.len() >= 4, "the notice, the record, the rectification notice and the certificate have previews: {}", previews.len());
    let record_link = browser.client.find(Locator::Css("#main a.download[href^='/documents/record/']")).await.unwrap().attr("href").await.unwrap().expect("the record's download link");
    let record_pdf = fetch(&browser, &record_link).await;
    assert!(record_pdf["status"] == 200 && record_pdf["start"].as_str().unwrap_or_default().starts_with("%PDF"), "the signed record's PDF: {record_pdf}");
    let link = browser.client.find(Locator::Css("#main a.download")).await.unwrap().attr("href").await.unwrap().expect("a download link");
    let pdf = fetch(&browser, &link).await;
    assert_eq!(pdf["status"], 200, "{pdf}");
    assert_eq!(pdf["type"], "application/pdf");
    assert!(pdf["start"].as_str().unwrap_or_default().starts_with("%PDF"), "{pdf}");
    assert!(pdf["disposition"].as_str().unwrap_or_default().starts_with("attachment"), "{pdf}");
    let document_url = format!("{console}{link}");
    // The whole case on a taller window, for the README.
    browser.set_size(1366, 1500).await.unwrap();
    browser.screenshot("05-case-accepted").await.unwrap();
    browser.set_size(1366, 768).await.unwrap();
    keep_for_readme(&browser, "05-case-accepted", "case");

    sign_in(&browser, &console, &officer.id).await;
    browser.client.goto(&format!("{console}/work")).await.unwrap();
    let number = text(&browser, "#cases").await;
    assert!(number.contains("兰城市监约〔") && number.contains("兰州某某商贸有限公司"), "My work lists the jurisdiction's cases: {number}");
    browser.screenshot("05-my-work").await.unwrap();

    // 11. A second clue is left unverified; when the clock passes its
    //    verification deadline the board shows its card red.
    //    The party is already registered: the new-clue page finds it by its
    //    credit code (an unknown code says so), and the clue goes under it.
    let supermarket = yuetan_harness::intake::credit_code(CHENGGUAN, 7302);
    sys.register_party(&officer, yuetan_harness::intake::enterprise("兰州某某超市", &supermarket)).await;
    browser.client.goto(&format!("{console}/clues/new")).await.unwrap();
    fill(&browser, "#lookup", &yuetan_harness::intake::credit_code(CHENGGUAN, 7399)).await;
    click(&browser, "#form-lookup button[type=submit]").await;
    shows(&browser, "#party-missing", "未找到").await;
    fill(&browser, "#lookup", &supermarket).await;
    click(&browser, "#form-lookup button[type=submit]").await;
    shows(&browser, "#party-found", "兰州某某超市").await;
    fill(&browser, "#facts", "群众举报该超市未按期报送年度报告。").await;
    submit(&browser, "#form-clue").await;
    shows(&browser, "#clue-party", "兰州某某超市").await;
    let late_id = browser.client.current_url().await.unwrap().path().rsplit('/').next().unwrap().to_string();
    until_present(&browser, &format!("{console}/board"), "#board-cards").await;
    sys.clock.advance(chrono::Duration::days(20));
    until_present(&browser, &format!("{console}/board"), &format!("#board-cards li.red[data-subject='{late_id}']")).await;
    let board_text = text(&browser, "#board-grid").await;
    assert!(board_text.contains("逾期"), "the grid has its red column: {board_text}");
    browser.screenshot("06-board").await.unwrap();
    no_serious_violations(&browser, "board").await;
    keep_for_readme(&browser, "06-board", "board");
    // My work: the overdue clue first, red, with its working days overdue.
    browser.client.goto(&format!("{console}/work")).await.unwrap();
    let first = text(&browser, "#tasks tbody tr:first-child").await;
    assert!(first.contains("待核查线索") && first.contains("逾期") && first.contains("已逾期"), "the overdue clue leads My work: {first}");
    browser.screenshot("06-my-work-overdue").await.unwrap();
    keep_for_readme(&browser, "06-my-work-overdue", "my-work");

    // The case reads on a phone: the narrow layout (one column, tables as
    // stacked rows) and no sideways scrolling. Headless Chromium keeps a
    // minimum window width, so the check is against the layout viewport it
    // really has, which is below the 700px breakpoint.
    browser.set_size(390, 844).await.unwrap();
    browser.client.goto(&case_url).await.unwrap();
    let widths = browser
        .client
        .execute("return [document.documentElement.scrollWidth, document.documentElement.clientWidth, getComputedStyle(document.querySelector('table.list thead')).display];", Vec::new())
        .await
        .unwrap();
    let (page, viewport) = (widths[0].as_i64().unwrap(), widths[1].as_i64().unwrap());
    assert!(viewport < 700 && widths[2] == "none", "the phone layout is in force at {viewport}px: {widths}");
    assert!(page <= viewport, "the case page is {page}px wide in a {viewport}px viewport");
    browser.screenshot("06-case-phone").await.unwrap();
    browser.set_size(1366, 768).await.unwrap();
    // Administration: the holiday file's years, the violation types.
    browser.client.goto(&format!("{console}/admin")).await.unwrap();
    assert!(text(&browser, "#holiday-years").await.contains("2026 年"), "the holiday years are listed");
    assert!(text(&browser, "#violation-types").await.contains("SJ-ANNUAL-REPORT"));
    assert!(text(&browser, "#organs").await.contains("兰城市监"), "the organs with their document codes");
    no_serious_violations(&browser, "administration").await;

    // 12. Another county's officer opening this case sees the 403 page.
    sign_in(&browser, &console, &other_county.id).await;
    browser.client.goto(&case_url).await.unwrap();
    assert!(text(&browser, "h1").await.contains("403"), "another county gets the 403 page: {}", browser.client.source().await.unwrap_or_default());
    browser.screenshot("07-forbidden").await.unwrap();
    let refused = fetch(&browser, &document_url).await;
    assert_eq!(refused["status"], 403, "another county's officer gets no document: {refused}");

    // 13. A form posted without its CSRF token is refused, and nothing changes.
    sign_in(&browser, &console, &officer.id).await;
    let posted: Value = browser
        .client
        .execute_async(
            "const [url, done] = arguments; fetch(url, {method: 'POST', headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: 'proposal=x', redirect: 'manual'}).then(r => r.text().then(t => done({status: r.status, body: t}))).catch(e => done({status: 0, body: String(e)}));",
            vec![json!(format!("{console}/cases/{case_id}/act/submit"))],
        )
        .await
        .unwrap();
    assert_eq!(posted["status"], 403, "a POST without the CSRF token is refused: {posted}");
    assert!(posted["body"].as_str().unwrap_or_default().contains("校验码"), "the refusal says why: {posted}");

    browser.close().await.unwrap();
}
