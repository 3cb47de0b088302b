//! The rectification part of `yuetan demo case`, after the signed record:
//! rectification opened the case's rectification on `scheduling.interview_held`;
//! the case officer issues the rectification notice (整改通知书), the legal
//! reviewer passes it, rectification seals it and scheduling serves it; one
//! ledger entry (整改跟踪台账, by phone); the party submits its report
//! (整改报告) through the portal over HTTP with the link printed in the
//! notice; two officers accept it → the acceptance certificate (整改验收合格书).
//! A second sample case ends otherwise: its paper report fails acceptance
//! (one officer finds the goal not reached) → the penalty hand-off with a
//! draft prior notice of penalty.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use chrono::{Duration as Span, Utc};
use sha2::{Digest, Sha256};
use yuetan_platform::client::Routed;
use uuid::Uuid;
use yuetan_platform::fields::{cst_date, date, end_of_cst_day, from_timestamp, timestamp};
use yuetan_platform::links::{LinkClaims, LinkSigner, PURPOSE_REPORT};
use yuetan_platform::Config;
use yuetan_proto::events::{event::Payload, Event};
use yuetan_proto::intake as ipb;
use yuetan_proto::intake::intake_service_client::IntakeServiceClient;
use yuetan_proto::rectification as pb;
use yuetan_proto::rectification::rectification_service_client::RectificationServiceClient;
use yuetan_proto::review as review_pb;
use yuetan_proto::review::review_service_client::ReviewServiceClient;
use yuetan_proto::scheduling as spb;
use yuetan_proto::scheduling::scheduling_service_client::SchedulingServiceClient;

use crate::demo_case::{wait_for_task, Tokens, DIVISION, ORGAN, PROPOSER};
use crate::demo_scheduling::wait;

/// The second acceptance officer (the first is the case officer, [`PROPOSER`]).
const SECOND_ACCEPTOR: &str = "demo-officer-2";

/// What the accepted rectification produced, for the summary.
pub struct Accepted {
    pub rectification_id: String,
    pub notice_number: String,
    pub certificate_number: String,
    pub certificate_sha256: String,
    pub certificate_pdf: Option<PathBuf>,
}

/// What the handed-off rectification produced, for the summary.
pub struct HandedOff {
    pub rectification_id: String,
    pub notice_number: String,
    pub draft_sha256: String,
    pub draft_pdf: Option<PathBuf>,
}

struct Clients {
    rectification: RectificationServiceClient<Routed>,
    review: ReviewServiceClient<Routed>,
    scheduling: SchedulingServiceClient<Routed>,
    intake: IntakeServiceClient<Routed>,
}

impl Clients {
    fn new(channel: Routed) -> Clients {
        Clients {
            rectification: RectificationServiceClient::new(channel.clone()),
            review: ReviewServiceClient::new(channel.clone()),
            scheduling: SchedulingServiceClient::new(channel.clone()),
            intake: IntakeServiceClient::new(channel),
        }
    }
}

/// As the second acceptance officer: another case officer of the organ.
fn second_officer<T>(tokens: &Tokens, message: T) -> anyhow::Result<tonic::Request<T>> {
    tokens.bearer(SECOND_ACCEPTOR, ORGAN, DIVISION, &["case_officer"], message)
}

/// Where a stored file lies in the folder object store (`None` for S3).
pub(crate) fn stored_path(config: &Config, sha256: &str) -> Option<PathBuf> {
    (config.objects.s3.is_none() && sha256.len() > 2).then(|| config.objects.root.join("sha256").join(&sha256[..2]).join(sha256))
}

fn iso(d: Option<&yuetan_proto::common::Date>) -> String {
    d.map(|d| d.iso.clone()).unwrap_or_default()
}

fn cst(at: Option<&prost_types::Timestamp>) -> String {
    from_timestamp(at).map(|t| (t + Span::hours(8)).format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_else(|| "—".into())
}

/// Waits until rectification shows the case's rectification with `status`.
async fn rectification_in(clients: &Clients, tokens: &Tokens, case_id: &str, status: &'static str) -> anyhow::Result<pb::Rectification> {
    wait(|| {
        let mut rectification = clients.rectification.clone();
        let request = tokens.officer(pb::GetRectificationRequest { case_id: case_id.into() });
        async move {
            match rectification.get_rectification(request?).await {
                Ok(r) => {
                    let r = r.into_inner();
                    Ok((r.status == status).then_some(r))
                }
                Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
                Err(s) => Err(s.into()),
            }
        }
    })
    .await
    .with_context(|| format!("waiting for the case's rectification to be {status}"))
}

/// Opened on the interview; the notice issued, reviewed, sealed and served.
async fn opened_and_noticed(config: &Config, clients: &mut Clients, tokens: &Tokens, case_id: &str, serial: u32) -> anyhow::Result<(pb::Rectification, pb::Document)> {
    let rect = rectification_in(clients, tokens, case_id, "open").await.context("is `yuetan serve all` running rectification?")?;
    println!(
        "rectify    {} opened on the interview: tracker {}, {} item(s), deadline {}, report due {} (R-RECT-3), follow-up every {} days",
        rect.rectification_id,
        rect.tracker,
        rect.items.len(),
        iso(rect.deadline.as_ref()),
        iso(rect.report_due.as_ref()),
        rect.cadence_days
    );
    let notice = clients
        .rectification
        .issue_notice(tokens.officer(pb::IssueNoticeRequest {
            request_id: format!("demo-rect-notice-{serial}"),
            case_id: case_id.into(),
            legal_basis: String::new(),
            consequence: String::new(),
            contact: "信用监管科 0931-8000001".into(),
        })?)
        .await
        .context("IssueNotice (rectification)")?
        .into_inner();
    println!("rectify    notice {} issued ({} page(s), sha256 {})", notice.number, notice.pages, notice.sha256);
    if let Some(path) = stored_path(config, &notice.sha256) {
        println!("rectify    notice PDF at {}", path.display());
    }
    let (_, task) = wait_for_task(&mut clients.review, tokens, case_id, |t| {
        t.kind == review_pb::TaskKind::DocumentReview as i32
            && t.status == review_pb::TaskStatus::Open as i32
            && t.document.as_ref().is_some_and(|d| d.content_sha256 == notice.sha256)
    })
    .await
    .context("waiting for the rectification notice's document review")?;
    clients
        .review
        .decide_document(tokens.reviewer(review_pb::DecideDocumentRequest {
            request_id: format!("demo-rect-document-{serial}"),
            task_id: task.id,
            decision: review_pb::DocumentDecision::Pass as i32,
            comments: "整改事项明确，期限合理，文书要素齐全。".into(),
        })?)
        .await
        .context("DecideDocument (rectification notice)")?;
    println!("rectify    notice {} passed document review; rectification seals it, scheduling serves it", notice.number);
    let service = served(clients, tokens, case_id, &notice.number).await?;
    let sealed = clients.rectification.get_document(tokens.officer(pb::GetDocumentRequest { document_id: notice.document_id.clone() })?).await?.into_inner();
    if sealed.status != pb::DocumentStatus::Sealed as i32 {
        bail!("the served rectification notice {} is not sealed (status {})", notice.number, sealed.status);
    }
    println!(
        "rectify    notice {} sealed (key {}) and served by {} at {} CST; receipt {}",
        sealed.number,
        sealed.seal_key_id,
        channel_name(service.served_by),
        cst(service.served_at.as_ref()),
        service.receipt_number
    );
    Ok((rect, notice))
}

fn channel_name(channel: i32) -> String {
    match spb::Channel::try_from(channel) {
        Ok(spb::Channel::Sms) => "SMS".into(),
        Ok(spb::Channel::Email) => "e-mail".into(),
        Ok(other) => format!("{other:?}").to_lowercase(),
        Err(_) => "an unknown channel".into(),
    }
}

/// Waits until scheduling served the rectification's document `number`.
async fn served(clients: &Clients, tokens: &Tokens, case_id: &str, number: &str) -> anyhow::Result<spb::Service> {
    wait(|| {
        let mut scheduling = clients.scheduling.clone();
        let request = tokens.officer(spb::ListCaseServicesRequest { case_id: case_id.into() });
        async move {
            let services = scheduling.list_case_services(request?).await?.into_inner().services;
            let ours = services.into_iter().find(|s| s.source_service == "rectification" && s.document_number == number);
            if let Some(s) = ours.as_ref().filter(|s| s.status == spb::ServiceStatus::AwaitingOfficer as i32) {
                bail!("every channel failed for the service of {number} ({:?}); are the local provider peers running?", s.attempts);
            }
            Ok(ours.filter(|s| s.status == spb::ServiceStatus::Served as i32))
        }
    })
    .await
    .with_context(|| format!("waiting for scheduling to serve {number} (rectification.service_requested)"))
}

/// The first case: notice, one ledger entry, the party's report through the
/// portal, acceptance by two officers → the certificate.
pub async fn accepted(config: &Config, channel: Routed, tokens: &Tokens, case_id: &str, serial: u32) -> anyhow::Result<Accepted> {
    let mut clients = Clients::new(channel);
    let (rect, notice) = opened_and_noticed(config, &mut clients, tokens, case_id, serial).await?;
    let today = cst_date(Utc::now());

    // R-RECT-2: the tracking officer phones the party.
    let entry = clients
        .rectification
        .add_ledger_entry(tokens.officer(pb::AddLedgerEntryRequest {
            request_id: format!("demo-ledger-{serial}"),
            case_id: case_id.into(),
            method: pb::Method::Phone as i32,
            on: Some(date(today)),
            progress: "电话回访：企业已登录公示系统着手补报年度报告，报送制度正在起草。".into(),
            problems: "财务人员对公示系统操作不熟悉。".into(),
            measures: "告知公示系统操作指引及咨询电话。".into(),
            attachment_sha256: Vec::new(),
        })?)
        .await
        .context("AddLedgerEntry")?
        .into_inner();
    println!("ledger     entry {} on {} by phone, officer {}", entry.entry_id, iso(entry.on.as_ref()), entry.officer_id);

    // R-RECT-3: the party reports through the portal, with the link printed in the notice.
    let link = report_link(config, &notice, &rect)?;
    let page = http().get(&link.url).send().await.with_context(|| format!("GET {}", link.url))?;
    let status = page.status();
    let body = page.text().await?;
    if !status.is_success() || !body.contains("提交整改报告") {
        bail!("the portal's report page answered {status}: {}", body.chars().take(300).collect::<String>());
    }
    println!("portal     GET /r/… {status}: the report form ({})", link.source);
    let linked = http().get(format!("{}/notice", link.url)).send().await?;
    let linked_status = linked.status();
    let linked_pdf = linked.bytes().await?;
    let linked_sha = hex::encode(Sha256::digest(&linked_pdf));
    let what = if linked_sha == notice.sha256 {
        "the rectification notice".to_string()
    } else if linked_sha == rect.record_sha256 {
        format!("the signed interview record {} with the agreed items", rect.record_number)
    } else {
        "another file".to_string()
    };
    println!("portal     GET /r/…/notice (查看整改事项) {linked_status}: {} bytes, sha256 {linked_sha}: {what}", linked_pdf.len());
    let form = reqwest::multipart::Form::new()
        .text("text", "已通过国家企业信用信息公示系统补报上一年度年度报告；已制定《年度报告报送制度》，指定财务负责人专人负责。")
        .part("files", reqwest::multipart::Part::bytes(PNG.to_vec()).file_name("公示截图.png").mime_str("image/png")?)
        .part("files", reqwest::multipart::Part::bytes(tiny_pdf("Annual report filing rules (demo)")).file_name("报送制度.pdf").mime_str("application/pdf")?);
    let posted = http().post(&link.url).multipart(form).send().await.with_context(|| format!("POST {}", link.url))?;
    let status = posted.status();
    let body = posted.text().await?;
    if !status.is_success() || !body.contains("整改报告已提交") {
        bail!("the portal refused the report ({status}): {}", body.chars().take(400).collect::<String>());
    }
    println!("portal     POST /r/… {status}: the report with 2 files (a PNG photo, a PDF) submitted");
    let reported = rectification_in(&clients, tokens, case_id, "reported").await.context("portal.report_submitted → rectification")?;
    if let Some(r) = &reported.report {
        println!(
            "report     by {} at {} CST, {} attachment(s), late {}; acceptance due {} (R-RECT-4)",
            r.channel,
            cst(r.received_at.as_ref()),
            r.attachment_sha256.len(),
            r.late,
            iso(reported.acceptance_due.as_ref())
        );
    }

    // R-RECT-4: two distinct officers answer; all yes → the certificate (R-RECT-5).
    let answer = |reinspect: bool| pb::RecordAcceptanceRequest {
        request_id: String::new(),
        case_id: case_id.into(),
        complete: true,
        lawful: true,
        goal_reached: true,
        comments: "年度报告已公示，报送制度已建立并落实专人。".into(),
        evidence_sha256: Vec::new(),
        reinspect_on: reinspect.then(|| date(today + Span::days(90))),
        follow_up: "三个月内回访一次，核查年度报告报送制度执行情况。".into(),
    };
    let first = clients
        .rectification
        .record_acceptance(tokens.officer(pb::RecordAcceptanceRequest { request_id: format!("demo-accept-{serial}-1"), ..answer(true) })?)
        .await
        .context("RecordAcceptance (first officer)")?
        .into_inner();
    println!("accept     {PROPOSER}: complete, lawful, goal reached; status {}", first.status);
    let done = clients
        .rectification
        .record_acceptance(second_officer(tokens, pb::RecordAcceptanceRequest { request_id: format!("demo-accept-{serial}-2"), ..answer(true) })?)
        .await
        .context("RecordAcceptance (second officer)")?
        .into_inner();
    println!("accept     {SECOND_ACCEPTOR}: complete, lawful, goal reached; status {}", done.status);
    if done.status != "accepted" {
        bail!("two officers passed the acceptance but the rectification is {}", done.status);
    }
    let certificate = clients.rectification.get_document(tokens.officer(pb::GetDocumentRequest { document_id: done.certificate_document_id.clone() })?).await?.into_inner();
    println!(
        "certificate {} ({}) sealed (key {}), {} page(s), sha256 {}; re-inspection on {}",
        certificate.number,
        certificate.title,
        certificate.seal_key_id,
        certificate.pages,
        certificate.sha256,
        iso(done.reinspect_on.as_ref())
    );
    let certificate_pdf = stored_path(config, &certificate.sha256);
    // The certificate is served like the notice.
    let service = served(&clients, tokens, case_id, &certificate.number).await?;
    println!("certificate {} served by {} at {} CST; receipt {}", certificate.number, channel_name(service.served_by), cst(service.served_at.as_ref()), service.receipt_number);
    Ok(Accepted {
        rectification_id: rect.rectification_id,
        notice_number: notice.number,
        certificate_number: certificate.number,
        certificate_sha256: certificate.sha256,
        certificate_pdf,
    })
}

/// The second case: notice, a paper report, acceptance failed by one of two
/// officers → the penalty hand-off.
pub async fn handed_off(config: &Config, channel: Routed, tokens: &Tokens, case_id: &str, serial: u32) -> anyhow::Result<HandedOff> {
    let mut clients = Clients::new(channel);
    let (rect, notice) = opened_and_noticed(config, &mut clients, tokens, case_id, serial).await?;
    let photo = clients
        .intake
        .upload_evidence(tokens.officer(ipb::UploadEvidenceRequest {
            file_name: "整改情况说明（纸质）.txt".into(),
            media_type: "text/plain".into(),
            content: format!("整改情况说明（演示{serial}）：已补报年度报告，报送制度尚在制定中。").into_bytes(),
        })?)
        .await?
        .into_inner();
    let reported = clients
        .rectification
        .record_paper_report(tokens.officer(pb::RecordPaperReportRequest {
            request_id: format!("demo-paper-report-{serial}"),
            case_id: case_id.into(),
            text: "已补报年度报告，报送制度尚在制定中。".into(),
            attachment_sha256: vec![photo.sha256],
            received_at: Some(timestamp(Utc::now() - Span::minutes(1))),
        })?)
        .await
        .context("RecordPaperReport")?
        .into_inner();
    println!("report     on paper; status {}, acceptance due {}", reported.status, iso(reported.acceptance_due.as_ref()));
    let answer = |goal_reached: bool, comments: &str| pb::RecordAcceptanceRequest {
        request_id: String::new(),
        case_id: case_id.into(),
        complete: true,
        lawful: true,
        goal_reached,
        comments: comments.into(),
        evidence_sha256: Vec::new(),
        reinspect_on: None,
        follow_up: String::new(),
    };
    let first = clients
        .rectification
        .record_acceptance(tokens.officer(pb::RecordAcceptanceRequest { request_id: format!("demo-accept-{serial}-1"), ..answer(true, "年度报告已补报。") })?)
        .await
        .context("RecordAcceptance (first officer)")?
        .into_inner();
    println!("accept     {PROPOSER}: complete, lawful, goal reached; status {}", first.status);
    let done = clients
        .rectification
        .record_acceptance(second_officer(tokens, pb::RecordAcceptanceRequest {
            request_id: format!("demo-accept-{serial}-2"),
            ..answer(false, "年度报告报送制度未建立，未指定专人，整改目的未达到。")
        })?)
        .await
        .context("RecordAcceptance (second officer)")?
        .into_inner();
    println!("accept     {SECOND_ACCEPTOR}: goal NOT reached; status {}", done.status);
    if done.status != "handed_off" {
        bail!("a failed acceptance left the rectification {} (expected handed_off)", done.status);
    }
    let draft = clients.rectification.get_document(tokens.officer(pb::GetDocumentRequest { document_id: done.penalty_draft_document_id.clone() })?).await?.into_inner();
    println!("penalty    draft {} ({}), {} page(s), sha256 {}", draft.title, draft.kind, draft.pages, draft.sha256);
    let draft_pdf = stored_path(config, &draft.sha256);
    if let Some(path) = &draft_pdf {
        println!("penalty    draft PDF at {}", path.display());
    }
    Ok(HandedOff { rectification_id: rect.rectification_id, notice_number: notice.number, draft_sha256: draft.sha256, draft_pdf })
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap_or_default()
}

struct Link {
    url: String,
    source: &'static str,
}

/// The party's report link: read from the notice's PDF (what the party
/// gets), else signed here the way rectification signs it.
fn report_link(config: &Config, notice: &pb::Document, rect: &pb::Rectification) -> anyhow::Result<Link> {
    let signer = LinkSigner::new(&config.links).context("the demo needs the [links] section of the configuration")?;
    let from_pdf = stored_path(config, &notice.sha256).and_then(|path| link_in_pdf(&path, &signer, &rect.rectification_id));
    if let Some(url) = from_pdf {
        return Ok(Link { url, source: "link read from the notice PDF with pdftotext" });
    }
    let deadline = rect.deadline.as_ref().and_then(|d| d.iso.parse().ok()).unwrap_or_else(|| cst_date(Utc::now()) + Span::days(30));
    let claims = LinkClaims {
        link_id: Uuid::now_v7().to_string(),
        document_sha256: rect.record_sha256.clone(),
        document_name: format!("行政约谈记录 {}", rect.record_number),
        service_id: rect.rectification_id.clone(),
        purpose: PURPOSE_REPORT.into(),
        organ: ORGAN.into(),
        expires_at: end_of_cst_day(deadline).max(Utc::now() + Span::days(1)),
    };
    Ok(Link { url: signer.url(&claims), source: "the notice PDF's link could not be read; link signed with the [links] key" })
}

/// The `…/r/<token>` link in the PDF's text, checked with the link key
/// (the token may be broken over lines: the longest run that verifies).
fn link_in_pdf(path: &Path, signer: &LinkSigner, rectification_id: &str) -> Option<String> {
    let output = std::process::Command::new("pdftotext").args(["-enc", "UTF-8"]).arg(path).arg("-").output().ok()?;
    if !output.status.success() {
        return None;
    }
    link_in_text(&String::from_utf8_lossy(&output.stdout), signer, rectification_id)
}

/// The verified report link in a PDF's text (see [`link_in_pdf`]).
fn link_in_text(text: &str, signer: &LinkSigner, rectification_id: &str) -> Option<String> {
    let at = text.find("/r/")?;
    let base_start = text[..at].rfind("http")?;
    let base = &text[base_start..at];
    if base.chars().any(char::is_whitespace) {
        return None;
    }
    let token_chars = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    // A page footer ("—1—") between the token's lines, where the link crosses a page.
    let footer = |line: &str| {
        let dashes = |c: char| matches!(c, '—' | '-' | '–' | ' ');
        line.starts_with(dashes) && line.ends_with(dashes) && line.trim_matches(dashes).chars().all(|c| c.is_ascii_digit())
    };
    let mut token = String::new();
    let mut ends = Vec::new();
    for line in text[at + 3..].lines() {
        let line = line.trim_matches(|c: char| c.is_whitespace() || matches!(c, '\u{c}' | '\u{200b}' | '\u{ad}'));
        if line.is_empty() || (!token.is_empty() && footer(line)) {
            continue;
        }
        let run: String = line.chars().take_while(|c| token_chars(*c)).collect();
        for c in run.chars() {
            token.push(c);
            ends.push(token.len());
        }
        if run.len() < line.len() {
            break;
        }
    }
    ends.into_iter().rev().find_map(|end| {
        let claims = signer.verify(&token[..end], Utc::now()).ok()?;
        (claims.purpose == PURPOSE_REPORT && claims.service_id == rectification_id).then(|| format!("{base}/r/{}", &token[..end]))
    })
}

/// A 1×1 PNG (a photo of the rectified state, for the demo).
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00,
    0x00, 0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D,
    0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

/// A one-page PDF with one line of text, its cross-reference offsets right.
fn tiny_pdf(line: &str) -> Vec<u8> {
    let content = format!("BT /F1 12 Tf 72 720 Td ({line}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_string(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{object}\nendobj\n", i + 1).as_bytes());
    }
    let xref = pdf.len();
    pdf.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for offset in offsets {
        pdf.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes());
    pdf
}

/// The rectification events of the contract, with when each is published.
pub const RECTIFICATION_EVENTS: &[(&str, &str)] = &[
    ("rectification.opened", "on scheduling.interview_held"),
    ("rectification.notice_issued", "on IssueNotice"),
    ("rectification.document_review_requested", "on IssueNotice: the legal section's review"),
    ("rectification.service_requested", "when the notice or the certificate is sealed"),
    ("rectification.ledger_entry_added", "on AddLedgerEntry"),
    ("rectification.report_submitted", "on portal.report_submitted or RecordPaperReport"),
    ("rectification.accepted", "when two officers passed the acceptance"),
    ("rectification.acceptance_failed", "when two officers answered and one did not pass"),
    ("rectification.penalty_handoff", "on a failed acceptance (or the deadline passing without a report)"),
    ("rectification.follow_up_overdue", "not in this run: no ledger entry within the cadence"),
    ("rectification.report_late", "not in this run: no report 3 working days before the deadline"),
    ("rectification.extended", "not in this run: on DecideExtension"),
    ("rectification.reinspected", "not in this run: on RecordReinspection"),
];

/// The payload's gist for the rectification events.
pub fn detail(event: &Event) -> Option<String> {
    Some(match &event.payload {
        Some(Payload::RectificationOpened(e)) => format!(" tracker={} items={} deadline={}", e.tracker, e.items.len(), iso(e.deadline.as_ref())),
        Some(Payload::RectificationNoticeIssued(e)) => format!(" {} sha256={}…", e.number, e.sha256.chars().take(12).collect::<String>()),
        Some(Payload::LedgerEntryAdded(e)) => format!(" {} on {} by {}", e.method, iso(e.on.as_ref()), e.officer_id),
        Some(Payload::ReportSubmitted(e)) => format!(" channel={} files={} late={} acceptance_due={}", e.channel, e.attachment_sha256.len(), e.late, iso(e.acceptance_due.as_ref())),
        Some(Payload::RectificationAccepted(e)) => format!(" {} officers={}", e.certificate_number, e.officers.join(",")),
        Some(Payload::AcceptanceFailed(e)) => format!(" officers={} comments={}", e.officers.join(","), e.comments),
        Some(Payload::PenaltyHandoff(e)) => format!(" reason={} references={}", e.reason, e.references.len()),
        Some(Payload::PortalReportSubmitted(e)) => format!(" rectification={} files={}", e.rectification_id, e.attachment_sha256.len()),
        _ => return None,
    })
}

/// The two outcomes, from the answers and the events seen on the bus.
pub fn print_outcomes(accepted: &Accepted, handed: &HandedOff, events: &[Event]) {
    let officers = events
        .iter()
        .find_map(|e| match &e.payload {
            Some(Payload::RectificationAccepted(a)) if a.rectification_id == accepted.rectification_id => Some(a.officers.join(", ")),
            _ => None,
        })
        .unwrap_or_default();
    println!(
        "rectification accepted: certificate {} (notice {}), accepted by {officers}; sha256 {}{}",
        accepted.certificate_number,
        accepted.notice_number,
        accepted.certificate_sha256,
        accepted.certificate_pdf.as_ref().map(|p| format!(", PDF at {}", p.display())).unwrap_or_default()
    );
    let handoff = events.iter().find_map(|e| match &e.payload {
        Some(Payload::PenaltyHandoff(h)) if e.case_id == h.case_id && handed_case(events, &handed.rectification_id).as_deref() == Some(h.case_id.as_str()) => Some(h.clone()),
        _ => None,
    });
    let (reason, references, number) = match &handoff {
        Some(h) => (
            h.reason.clone(),
            h.references.iter().map(|r| if r.number.is_empty() { r.kind.clone() } else { format!("{} {}", r.kind, r.number) }).collect::<Vec<_>>().join(", "),
            h.number.clone(),
        ),
        None => ("(no rectification.penalty_handoff seen)".into(), String::new(), String::new()),
    };
    println!(
        "rectification handed off: reason {reason}, case {number} (notice {}), draft prior notice sha256 {}{}, references {references}",
        handed.notice_number,
        handed.draft_sha256,
        handed.draft_pdf.as_ref().map(|p| format!(" (PDF at {})", p.display())).unwrap_or_default()
    );
    println!("rectification the deadline passing without a report hands off too: that path is covered by tests/e2e/tests/rectification_flow.rs (the demo runs on the real clock)");
}

/// The case of a rectification, from its `rectification.opened`.
fn handed_case(events: &[Event], rectification_id: &str) -> Option<String> {
    events.iter().find_map(|e| match &e.payload {
        Some(Payload::RectificationOpened(o)) if o.rectification_id == rectification_id => Some(o.case_id.clone()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use yuetan_platform::links::{LinkKey, LinksConfig};

    #[test]
    fn the_report_link_is_read_across_lines_and_a_page_footer_and_verified() {
        let config = LinksConfig {
            current_key: "k".into(),
            keys: vec![LinkKey { id: "k".into(), secret: yuetan_platform::secret::Secret::new("Q2hhbmdlLW1lLWxvY2FsLWxpbmstc2lnbmluZy1rZXktMDE=") }],
            base_url: "http://127.0.0.1:7400".into(),
        };
        let signer = LinkSigner::new(&config).unwrap();
        let claims = LinkClaims {
            link_id: "l".into(),
            document_sha256: "0".repeat(64),
            document_name: "整改报告".into(),
            service_id: "rect-1".into(),
            purpose: PURPOSE_REPORT.into(),
            organ: ORGAN.into(),
            expires_at: Utc::now() + Span::days(2),
        };
        let url = signer.url(&claims);
        let token = url.rsplit("/r/").next().unwrap();
        let (a, rest) = token.split_at(30);
        let (b, c) = rest.split_at(40);
        let text = format!("二、整改报告：应当于前\n通 过 http://127.0.0.1:7400/r/{a}\n{b}\n\n—1—\n\n\u{c}{c}提交书面整改报告\n三、");
        assert_eq!(link_in_text(&text, &signer, "rect-1").as_deref(), Some(url.as_str()));
        assert_eq!(link_in_text(&text, &signer, "rect-2"), None, "another rectification's link");
        assert_eq!(link_in_text("no link here", &signer, "rect-1"), None);
    }

    #[test]
    fn the_generated_files_pass_the_portals_sniffing() {
        assert!(PNG.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]));
        let pdf = tiny_pdf("x");
        assert!(pdf.starts_with(b"%PDF-") && pdf.ends_with(b"%%EOF\n"));
    }
}
