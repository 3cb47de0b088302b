//! A case: its header (number, party, organ, co-departments, status,
//! relief mark), supervision's timeline and cards, the documents, the
//! service evidence, the interview's participants and recordings, the
//! rectification and its ledger, and the forms of the actions the officer
//! may take now. Whether the officer may see the case is intake's answer:
//! a refusal is the 403 page.

use axum::extract::{Path, State as AxumState};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use yuetan_proto::{intake, rectification, review, scheduling, supervision};

use crate::backend::Calls;
use crate::pages::layout::{self, csrf, field_error, form_error, Nav};
use crate::session::Session;
use crate::web::Shared;
use crate::zh::{self, Refusal};
use crate::State;

/// Everything the page shows, as the services answered.
pub struct CaseView {
    pub case: intake::Case,
    pub timeline: Option<supervision::GetTimelineResponse>,
    pub cards: Vec<supervision::Card>,
    pub review: Option<review::ReviewFile>,
    pub plan: Option<scheduling::Plan>,
    pub notice: Option<scheduling::Document>,
    pub services: Vec<scheduling::Service>,
    pub interview: Option<scheduling::Interview>,
    pub records: Vec<scheduling::Record>,
    pub rectification: Option<rectification::Rectification>,
    pub ledger: Vec<rectification::LedgerEntry>,
}

fn some<T>(answer: Result<tonic::Response<T>, tonic::Status>) -> Option<T> {
    answer.ok().map(tonic::Response::into_inner)
}

/// Loads the case; `Err` is intake's refusal.
pub async fn load(calls: &Calls, case_id: &str) -> Result<CaseView, tonic::Status> {
    let case = calls.intake().get_case(calls.req(intake::GetCaseRequest { case_id: case_id.to_string() })).await?.into_inner();
    let id = || case_id.to_string();
    let (timeline, cards, review, plan, services, interview, records, rect, ledger) = tokio::join!(
        async { calls.supervision().get_timeline(calls.req(supervision::GetTimelineRequest { case_id: id() })).await },
        async { calls.supervision().list_cards(calls.req(supervision::ListCardsRequest { case_id: id(), include_closed: true, page_size: 100, ..Default::default() })).await },
        async { calls.review().get_review(calls.req(review::GetReviewRequest { case_id: id() })).await },
        async { calls.scheduling().get_plan(calls.req(scheduling::GetPlanRequest { case_id: id() })).await },
        async { calls.scheduling().list_case_services(calls.req(scheduling::ListCaseServicesRequest { case_id: id() })).await },
        async { calls.scheduling().get_interview(calls.req(scheduling::GetInterviewRequest { case_id: id() })).await },
        async { calls.scheduling().list_records(calls.req(scheduling::ListRecordsRequest { case_id: id() })).await },
        async { calls.rectification().get_rectification(calls.req(rectification::GetRectificationRequest { case_id: id() })).await },
        async { calls.rectification().list_ledger(calls.req(rectification::ListLedgerRequest { case_id: id() })).await },
    );
    let plan = some(plan);
    let notice = match plan.as_ref().map(|p| p.notice_document_id.clone()).filter(|d| !d.is_empty()) {
        Some(document_id) => some(calls.scheduling().get_document(calls.req(scheduling::GetDocumentRequest { document_id })).await),
        None => None,
    };
    Ok(CaseView {
        case,
        timeline: some(timeline),
        cards: some(cards).map(|c| c.cards).unwrap_or_default(),
        review: some(review),
        plan,
        notice,
        services: some(services).map(|s| s.services).unwrap_or_default(),
        interview: some(interview),
        records: some(records).map(|r| r.records).unwrap_or_default(),
        rectification: some(rect),
        ledger: some(ledger).map(|l| l.entries).unwrap_or_default(),
    })
}

pub async fn page(AxumState(state): Shared, session: Session, Path(case_id): Path<String>) -> Response {
    if case_id.len() > 64 {
        return layout::not_found();
    }
    show(&state, &session, &case_id, None).await
}

/// The page, with `error` shown in the form of the action that failed.
pub async fn show(state: &State, session: &Session, case_id: &str, error: Option<(&str, Refusal)>) -> Response {
    let calls = match Calls::new(&state.channels, &state.tokens, &session.officer) {
        Ok(calls) => calls,
        Err(err) => return layout::error_page(&err.to_string()).into_response(),
    };
    let view = match load(&calls, case_id).await {
        Ok(view) => view,
        Err(status) => return crate::web::status_page(&status),
    };
    let status = if error.is_some() { axum::http::StatusCode::UNPROCESSABLE_ENTITY } else { axum::http::StatusCode::OK };
    let title = if view.case.number.is_empty() { "案件".to_string() } else { view.case.number.clone() };
    (status, layout::page(Some(session), Nav::None, &title, render(state, session, &view, error.as_ref().map(|(a, r)| (*a, r))))).into_response()
}

fn render(state: &State, session: &Session, view: &CaseView, error: Option<(&str, &Refusal)>) -> Markup {
    let case = &view.case;
    let today = yuetan_platform::fields::cst_date(state.clock.now());
    html! {
        h1 id="case-number" { (if case.number.is_empty() { "（未编号）" } else { &case.number }) }
        dl class="header" {
            dt { "当事人" } dd id="case-party" { (case.party_name) }
            dt { "主办机关" } dd { (case.lead_organ) " · " (case.section) }
            dt { "联合约谈部门" } dd { @if case.co_departments.is_empty() { "无" } @else { (case.co_departments.join("、")) } }
            dt { "立案审批" } dd id="case-status" { (zh::case_status(case.status)) @if case.major { " · 重大案件" } }
            dt { "当前环节" } dd id="case-stage" { (view.timeline.as_ref().map(|t| zh::step(&t.stage).to_string()).unwrap_or_else(|| "—".into())) }
            @if case.under_relief {
                dt { "救济" } dd class="relief" { "行政复议/诉讼中，答复期限 " (zh::proto_date(case.relief_reply_due.as_ref())) }
            } @else if !case.relief_outcome.is_empty() {
                dt { "救济" } dd { "救济结果：" (case.relief_outcome) }
            }
        }
        (actions(state, session, view, error))
        section class="card" aria-labelledby="docs-h" {
            h2 id="docs-h" { "文书" }
            ul class="plain" id="documents" {
                @if let Some(notice) = &view.notice {
                    li { (notice.title) " " (notice.number) " · " (notice.pages) " 页 · SHA-256 " code { (&notice.sha256[..notice.sha256.len().min(16)]) "…" } @if !notice.seal_signature.is_empty() { " · 已签章" } }
                }
                @for record in &view.records {
                    li { "约谈笔录 " (record.number) " · 第 " (record.version) " 版 · " (zh::status_word(&record.status)) @if !record.missing.is_empty() { " · 待签：" (record.missing.join("、")) } }
                }
                @if let Some(rect) = &view.rectification {
                    @if !rect.notice_number.is_empty() { li { "责令整改通知书 " (rect.notice_number) } }
                    @if !rect.certificate_document_id.is_empty() { li { "整改验收合格证明" } }
                    @if !rect.penalty_draft_document_id.is_empty() { li { "移送处罚程序文书（草稿）" } }
                }
                @if view.notice.is_none() && view.records.is_empty() && view.rectification.is_none() { li class="muted" { "暂无文书。" } }
            }
            @for (source, id, label) in files(view) {
                details class="pdf" {
                    summary { "预览：" (label) }
                    iframe loading="lazy" src={ "/documents/" (source) "/" (id) } title={ (label) "（PDF 预览）" } {}
                }
                a class="download" href={ "/documents/" (source) "/" (id) "?download=1" } { "下载 PDF：" (label) }
            }
        }
        @if !view.services.is_empty() {
            section class="card" aria-labelledby="svc-h" {
                h2 id="svc-h" { "送达情况" }
                table class="list" id="services" {
                    thead { tr { th scope="col" { "文书" } th scope="col" { "状态" } th scope="col" { "送达方式与回执" } } }
                    tbody { @for service in &view.services { tr {
                        td { (service.document_name) " " (service.document_number) }
                        td { (zh::service_status(service.status)) @if service.served_at.is_some() { " · " (zh::time(service.served_at.as_ref())) } }
                        td { ul class="plain" { @for attempt in &service.attempts { li { (zh::channel(attempt.channel)) " → " (attempt.address) " · " (zh::status_word(&attempt.status)) @if attempt.arrived_at.is_some() { " · 到达 " (zh::time(attempt.arrived_at.as_ref())) } } } } @if !service.evidence.is_empty() { p class="muted" { "证据：" (service.evidence) } } }
                    } } }
                }
            }
        }
        @if let Some(plan) = &view.plan {
            section class="card" aria-labelledby="plan-h" {
                h2 id="plan-h" { "约谈方案" }
                dl class="header" id="plan" {
                    dt { "状态" } dd id="plan-status" { (zh::plan_status(plan.status)) }
                    dt { "通知期限" } dd { (zh::proto_date(plan.notice_deadline.as_ref())) }
                    dt { "约谈时间" } dd { (zh::time(plan.interview_at.as_ref())) }
                    dt { "方式与地点" } dd { (if plan.mode == 2 { "视频约谈" } else { "现场约谈" }) " · " (plan.place) }
                    dt { "约谈人员" } dd { (plan.interviewers.join("、")) " · 记录人 " (plan.recorder) }
                }
            }
        }
        @if let Some(interview) = &view.interview {
            section class="card" aria-labelledby="iv-h" {
                h2 id="iv-h" { "约谈" }
                p { "状态：" (zh::status_word(&interview.status)) " · 开始 " (zh::time(interview.started_at.as_ref())) " · 结束 " (zh::time(interview.ended_at.as_ref())) }
                p { "到场人员：" (interview.interviewers_present.join("、")) }
                @for record in &view.records { @if !record.recordings.is_empty() { p { "录音录像：" (record.recordings.join("、")) } } }
            }
        }
        @if let Some(rect) = &view.rectification {
            section class="card" aria-labelledby="rect-h" {
                h2 id="rect-h" { "整改" }
                p id="rect-status" { "状态：" (rect_status(&rect.status)) " · 整改期限 " (zh::proto_date(rect.deadline.as_ref())) " · 跟踪人 " (rect.tracker) }
                @if !rect.items.is_empty() { ol { @for item in &rect.items { li { (item.content) " （" (zh::proto_date(item.deadline.as_ref())) "）" } } } }
                h3 { "整改台账" }
                @if view.ledger.is_empty() { p class="muted" { "暂无记录。" } } @else {
                    table class="list" id="ledger" {
                        thead { tr { th scope="col" { "日期" } th scope="col" { "方式" } th scope="col" { "进展" } th scope="col" { "问题" } th scope="col" { "措施" } } }
                        tbody { @for entry in &view.ledger { tr {
                            td { (zh::proto_date(entry.on.as_ref())) } td { (method(entry.method)) } td { (entry.progress) } td { (entry.problems) } td { (entry.measures) }
                        } } }
                    }
                }
                @if !rect.answers.is_empty() {
                    h3 { "验收意见" }
                    ul { @for answer in &rect.answers { li { (answer.officer_id) "：" (if answer.complete && answer.lawful && answer.goal_reached { "合格" } else { "不合格" }) " " (answer.comments) } } }
                }
            }
        }
        section class="card" aria-labelledby="cards-h" {
            h2 id="cards-h" { "督办卡片" }
            @if view.cards.is_empty() { p class="muted" { "暂无。" } } @else {
                table class="list" id="case-cards" {
                    thead { tr { th scope="col" { "环节" } th scope="col" { "期限" } th scope="col" { "督办" } th scope="col" { "剩余时间" } } }
                    tbody { @for card in &view.cards {
                        @let deadline = zh::parse(card.deadline.as_ref());
                        tr {
                            td { (zh::step(&card.step)) @if card.closed { " （已完成）" } }
                            td { (zh::proto_date(card.deadline.as_ref())) }
                            td { (layout::colour_mark(card.colour)) }
                            td { @if card.closed { "—" } @else { (super::work::days_left_words(deadline.map(|d| super::work::working_days_left(state, today, d)))) } }
                        }
                    } }
                }
            }
        }
        @if let Some(timeline) = &view.timeline {
            section class="card" aria-labelledby="tl-h" {
                h2 id="tl-h" { "办案时间线" }
                ol class="timeline" id="timeline" {
                    @for entry in &timeline.entries {
                        li { time { (zh::time(entry.occurred_at.as_ref())) } " " (entry.summary) @if !entry.actor_name.is_empty() { " · " (entry.actor_name) } }
                    }
                }
            }
        }
    }
}

/// The case's documents whose PDF the services give: `(service, document id, label)`.
pub fn files(view: &CaseView) -> Vec<(&'static str, String, String)> {
    let mut files = Vec::new();
    if let Some(notice) = &view.notice {
        files.push(("scheduling", notice.document_id.clone(), format!("{} {}", notice.title, notice.number)));
    }
    for record in &view.records {
        files.push(("record", record.record_id.clone(), format!("约谈笔录 {}", record.number)));
    }
    for service in &view.services {
        if !service.receipt_document_id.is_empty() {
            files.push(("scheduling", service.receipt_document_id.clone(), format!("送达回证 {}", service.receipt_number)));
        }
    }
    if let Some(rect) = &view.rectification {
        for (id, label) in [(&rect.notice_document_id, format!("责令整改通知书 {}", rect.notice_number)), (&rect.certificate_document_id, "整改验收合格证明".to_string()), (&rect.penalty_draft_document_id, "移送处罚程序文书（草稿）".to_string())] {
            if !id.is_empty() {
                files.push(("rectification", id.clone(), label));
            }
        }
    }
    files
}

pub fn rect_status(status: &str) -> &str {
    match status {
        "open" => "整改中",
        "reported" => "已报告，待验收",
        "accepted" => "验收合格",
        "penalty" | "failed" => "验收不合格，移送处罚",
        other => other,
    }
}

fn method(method: i32) -> &'static str {
    match method {
        1 => "电话回访",
        2 => "现场检查",
        3 => "书面审查",
        _ => "—",
    }
}

/// The forms of what the officer may do now. The services decide whether it
/// is allowed: the form is offered by state and role, and a refusal comes
/// back next to its field.
fn actions(state: &State, session: &Session, view: &CaseView, error: Option<(&str, &Refusal)>) -> Markup {
    let case = &view.case;
    let err = |action: &str| error.filter(|(a, _)| *a == action).map(|(_, r)| r);
    let post = |action: &str| format!("/cases/{}/act/{action}", case.id);
    let officer = &session.officer;
    let open_task = |kind: review::TaskKind| view.review.as_ref().and_then(|r| r.tasks.iter().find(|t| t.kind == kind as i32 && t.status == review::TaskStatus::Open as i32));
    let today = yuetan_platform::fields::cst_date(state.clock.now());
    html! {
        section class="card actions" aria-labelledby="act-h" {
            h2 id="act-h" { "可办理事项" }
            @if (case.status == intake::CaseStatus::Opened as i32 || case.status == intake::CaseStatus::ReturnedForSupplement as i32) && officer.has("case_officer") {
                @let e = err("submit");
                form method="post" action=(post("submit")) id="form-submit" {
                    h3 { "提交法制审核" }
                    (csrf(session)) (form_error(e, &["proposal", "proposed_interviewers"]))
                    label for="proposal" { "约谈建议" } textarea id="proposal" name="proposal" rows="3" required { "拟约谈当事人，督促其限期整改。" } (field_error(e, "proposal"))
                    label for="proposed_interviewers" { "拟任约谈人员（工号，以逗号分隔）" } input id="proposed_interviewers" name="proposed_interviewers" value=(officer.id); (field_error(e, "proposed_interviewers"))
                    button type="submit" { "提交审核" }
                }
            }
            @if let Some(task) = open_task(review::TaskKind::LegalityReview).filter(|_| officer.has("legal_reviewer")) {
                @let e = err("review");
                form method="post" action=(post("review")) id="form-review" {
                    h3 { "法制审核（第 " (task.round) " 轮）" }
                    (csrf(session)) input type="hidden" name="task_id" value=(task.id); (form_error(e, &["checklist", "decision", "opinion", "missing"]))
                    fieldset { legend { "审核要点" }
                        @for (i, point) in ["当事人适格", "事实清楚", "证据充分", "适用法律正确", "程序合法"].iter().enumerate() {
                            label class="check" { input type="checkbox" name={ "item" (i + 1) } value="on" checked; " " (point) }
                        }
                        (field_error(e, "checklist"))
                    }
                    fieldset { legend { "审核结论" }
                        label class="check" { input type="radio" name="decision" value="pass" checked; " 通过" }
                        label class="check" { input type="radio" name="decision" value="return"; " 退回补充" }
                        label class="check" { input type="radio" name="decision" value="reject"; " 不予约谈" }
                    }
                    label for="opinion" { "审核意见" } textarea id="opinion" name="opinion" rows="2" { "同意约谈" } (field_error(e, "opinion"))
                    label for="missing" { "需补充的材料（退回时填写）" } input id="missing" name="missing"; (field_error(e, "missing"))
                    button type="submit" { "提交审核意见" }
                }
            }
            @if let Some(task) = open_task(review::TaskKind::Approval).filter(|_| officer.has("deputy_leader") || officer.has("leader")) {
                @let e = err("approve");
                form method="post" action=(post("approve")) id="form-approve" {
                    h3 { "审批" }
                    (csrf(session)) input type="hidden" name="task_id" value=(task.id); (form_error(e, &["decision", "opinion"]))
                    p { "约谈建议：" (task.proposal) }
                    label class="check" { input type="radio" name="decision" value="approve" checked; " 同意约谈" }
                    label class="check" { input type="radio" name="decision" value="deny"; " 不同意" }
                    label for="approval-opinion" { "审批意见" } textarea id="approval-opinion" name="opinion" rows="2" { "同意" } (field_error(e, "opinion"))
                    button type="submit" { "提交审批" }
                }
            }
            @if let Some(task) = open_task(review::TaskKind::DocumentReview).filter(|_| officer.has("legal_reviewer")) {
                @let e = err("document");
                form method="post" action=(post("document")) id="form-document" {
                    h3 { "文书审核：" (task.document.as_ref().map(|d| d.title.as_str()).unwrap_or("")) }
                    (csrf(session)) input type="hidden" name="task_id" value=(task.id); (form_error(e, &["decision", "comments"]))
                    label class="check" { input type="radio" name="decision" value="pass" checked; " 通过" }
                    label class="check" { input type="radio" name="decision" value="return"; " 退回修改" }
                    label for="doc-comments" { "意见" } input id="doc-comments" name="comments" value="文书内容规范"; (field_error(e, "comments"))
                    button type="submit" { "提交文书审核" }
                }
            }
            @if case.status == intake::CaseStatus::Approved as i32 && officer.has("case_officer") && view.plan.as_ref().is_some_and(|p| p.status == scheduling::PlanStatus::Open as i32 || p.status == scheduling::PlanStatus::RescheduleNeeded as i32) {
                @let e = err("plan");
                @let suggested = state.calendar.current().add_working_days(today, 5).map(|a| a.value).unwrap_or(today);
                form method="post" action=(post("plan")) id="form-plan" {
                    h3 { "制定约谈方案" }
                    (csrf(session)) (form_error(e, &["interview_at", "place", "interviewers", "recorder", "matter", "legal_basis", "contact", "mode"]))
                    label for="interview_at" { "约谈时间" } input id="interview_at" name="interview_at" type="datetime-local" value={ (suggested.format("%Y-%m-%d")) "T10:00" } required; (field_error(e, "interview_at"))
                    label for="mode" { "约谈方式" } select id="mode" name="mode" { option value="in_person" { "现场约谈" } option value="video" { "视频约谈" } }
                    label for="place" { "约谈地点" } input id="place" name="place" value="本局三楼约谈室"; (field_error(e, "place"))
                    label for="interviewers" { "约谈人员（工号，以逗号分隔，至少两名）" } input id="interviewers" name="interviewers" value=(case.approval_form.as_ref().map(|f| f.proposed_interviewers.join(",")).unwrap_or_default()); (field_error(e, "interviewers"))
                    label for="recorder" { "记录人（工号）" } input id="recorder" name="recorder"; (field_error(e, "recorder"))
                    label for="matter" { "约谈事项" } input id="matter" name="matter" value="督促依法履行义务并限期整改"; (field_error(e, "matter"))
                    label for="legal_basis" { "法律依据" } input id="legal_basis" name="legal_basis" value="《市场监督管理行政约谈工作规定》"; (field_error(e, "legal_basis"))
                    label for="contact" { "联系人及电话" } input id="contact" name="contact" value="办公室 0931-1234567"; (field_error(e, "contact"))
                    button type="submit" { "保存方案" }
                }
            }
            @if view.plan.as_ref().is_some_and(|p| p.status == scheduling::PlanStatus::Planned as i32 || p.status == scheduling::PlanStatus::NoticeReturned as i32) && officer.has("case_officer") {
                @let e = err("notice");
                form method="post" action=(post("notice")) id="form-notice" {
                    h3 { "制发约谈通知书" }
                    (csrf(session)) (form_error(e, &[]))
                    p { "按方案生成《约谈通知书》，提交文书审核后签章送达。" }
                    button type="submit" { "生成通知书" }
                }
            }
            @if let Some(notice) = view.notice.as_ref().filter(|n| !n.seal_signature.is_empty() && view.services.iter().filter(|s| s.document_id == n.document_id).all(|s| s.status == scheduling::ServiceStatus::AwaitingOfficer as i32)).filter(|_| officer.has("case_officer")) {
                @let e = err("address");
                form method="post" action={ "/cases/" (case.id) "/address" } enctype="multipart/form-data" id="form-address" {
                    h3 { "登记送达地址确认书" }
                    p class="muted" { "电子送达须经当事人签署送达地址确认书同意（民事诉讼法第九十条）。请上传签字后的确认书扫描件。" }
                    (csrf(session)) (form_error(e, &["channels", "sms_number", "email", "egov_account", "postal_address", "confirmation_sha256", "signed_on"]))
                    fieldset { legend { "当事人同意的送达方式" }
                        label class="check" { input type="checkbox" name="sms" value="on" checked; " 短信" }
                        label class="check" { input type="checkbox" name="email" value="on" checked; " 电子邮件" }
                        label class="check" { input type="checkbox" name="egov" value="on"; " 政务服务平台" }
                        (field_error(e, "channels"))
                    }
                    label for="ad-sms" { "手机号" } input id="ad-sms" name="sms_number" maxlength="20"; (field_error(e, "sms_number"))
                    label for="ad-email" { "电子邮箱" } input id="ad-email" name="email" type="email" maxlength="200"; (field_error(e, "email"))
                    label for="ad-egov" { "政务服务平台账号" } input id="ad-egov" name="egov_account" maxlength="100"; (field_error(e, "egov_account"))
                    label for="ad-postal" { "邮寄地址" } input id="ad-postal" name="postal_address" maxlength="300"; (field_error(e, "postal_address"))
                    label for="ad-signed" { "签署日期" } input id="ad-signed" name="signed_on" type="date" value=(today.format("%Y-%m-%d")); (field_error(e, "signed_on"))
                    label for="ad-file" { "确认书扫描件" } input id="ad-file" name="confirmation" type="file" required; (field_error(e, "confirmation_sha256"))
                    button type="submit" { "登记确认书" }
                }
                @let e = err("serve");
                form method="post" action=(post("serve")) id="form-serve" {
                    h3 { "送达 " (notice.title) }
                    (csrf(session)) input type="hidden" name="document_id" value=(notice.document_id); (form_error(e, &["channels"]))
                    fieldset { legend { "送达方式（按顺序尝试）" }
                        label class="check" { input type="checkbox" name="sms" value="on" checked; " 短信" }
                        label class="check" { input type="checkbox" name="email" value="on"; " 电子邮件" }
                        label class="check" { input type="checkbox" name="egov" value="on"; " 政务服务平台" }
                        (field_error(e, "channels"))
                    }
                    button type="submit" { "发起送达" }
                }
            }
            // Scheduling lists a missing signer as "<officer id> (<name>, <role>)".
            @for record in view.records.iter().filter(|r| r.missing.iter().any(|m| m.split_whitespace().next() == Some(officer.id.as_str()))) {
                @let e = err("sign");
                form method="post" action=(post("sign")) id="form-sign" {
                    h3 { "签署约谈笔录 " (record.number) }
                    (csrf(session)) input type="hidden" name="record_id" value=(record.record_id); (form_error(e, &[]))
                    button type="submit" { "签署" }
                }
            }
            // The interview, step by step (R-INT): opened once the notice is served.
            @if let Some(plan) = view.plan.as_ref().filter(|p| p.status == scheduling::PlanStatus::Served as i32 && view.interview.is_none()).filter(|_| officer.has("case_officer")) {
                @let e = err("start");
                form method="post" action=(post("start")) id="form-start" {
                    h3 { "开始约谈（第一步：开场）" }
                    (csrf(session)) (form_error(e, &["interviewers_present", "opening", "purpose", "basis", "party_representative"]))
                    label for="i-present" { "到场约谈人员（工号，以逗号分隔）" } input id="i-present" name="interviewers_present" value=(plan.interviewers.join(",")); (field_error(e, "interviewers_present"))
                    label class="check" { input type="checkbox" name="certificates_shown" value="on" checked; " 已出示执法证件" }
                    label class="check" { input type="checkbox" name="participants_announced" value="on" checked; " 已介绍参加人员" }
                    label for="i-purpose" { "约谈目的" } input id="i-purpose" name="purpose" value="督促依法履行义务并限期整改"; (field_error(e, "purpose"))
                    label for="i-basis" { "约谈依据" } input id="i-basis" name="basis" value="《企业信息公示暂行条例》第八条"; (field_error(e, "basis"))
                    label for="i-party" { "当事人到场人员" } input id="i-party" name="party_representative" value="法定代表人"; (field_error(e, "party_representative"))
                    button type="submit" { "开始约谈" }
                }
            }
            @if let Some(interview) = view.interview.as_ref().filter(|i| i.ended_at.is_none() && !i.party_absent).filter(|_| officer.has("case_officer")) {
                @if interview.informing.is_none() {
                    @let e = err("informing");
                    form method="post" action=(post("informing")) id="form-informing" {
                        h3 { "第二步：告知" }
                        (csrf(session)) (form_error(e, &["facts", "provisions", "evidence"]))
                        label for="s-facts" { "违法事实" } textarea id="s-facts" name="facts" rows="2" { "未按期报送年度报告" } (field_error(e, "facts"))
                        label for="s-provisions" { "违反的规定（每行一条）" } textarea id="s-provisions" name="provisions" rows="2" { "《企业信息公示暂行条例》第八条" } (field_error(e, "provisions"))
                        label for="s-evidence" { "证据（每行一项）" } textarea id="s-evidence" name="evidence" rows="2" { "日常检查记录" } (field_error(e, "evidence"))
                        label class="check" { input type="checkbox" name="rights_explained" value="on" checked; " 已告知陈述、申辩等权利" }
                        label class="check" { input type="checkbox" name="consequences_explained" value="on" checked; " 已告知不整改的后果" }
                        button type="submit" { "记录告知" }
                    }
                } @else if interview.listening.is_none() {
                    @let e = err("listening");
                    form method="post" action=(post("listening")) id="form-listening" {
                        h3 { "第三步：听取陈述" }
                        (csrf(session)) (form_error(e, &["statement", "difficulties", "commitments"]))
                        label for="s-statement" { "当事人陈述" } textarea id="s-statement" name="statement" rows="2" { "财务人员变动，遗漏报送。" } (field_error(e, "statement"))
                        label for="s-difficulties" { "困难与诉求" } input id="s-difficulties" name="difficulties" value="不熟悉系统"; (field_error(e, "difficulties"))
                        label for="s-commitments" { "整改承诺" } input id="s-commitments" name="commitments" value="十五日内补报并建立报送制度"; (field_error(e, "commitments"))
                        button type="submit" { "记录陈述" }
                    }
                } @else if interview.items.is_empty() {
                    @let e = err("agreeing");
                    form method="post" action=(post("agreeing")) id="form-agreeing" {
                        h3 { "第四步：商定整改事项" }
                        (csrf(session)) (form_error(e, &["items"]))
                        @for n in 1..=3 {
                            fieldset { legend { "整改事项 " (n) }
                                label for={ "it-content-" (n) } { "内容" } input id={ "it-content-" (n) } name={ "item" (n) "_content" } value=(if n == 1 { "补报年度报告" } else { "" });
                                label for={ "it-deadline-" (n) } { "期限" } input id={ "it-deadline-" (n) } name={ "item" (n) "_deadline" } type="date" value=(if n == 1 { state.calendar.current().add_working_days(today, 10).map(|a| a.value).unwrap_or(today).format("%Y-%m-%d").to_string() } else { String::new() });
                                label for={ "it-standard-" (n) } { "验收标准" } input id={ "it-standard-" (n) } name={ "item" (n) "_standard" } value=(if n == 1 { "提交书面材料并经核查合格" } else { "" });
                            }
                        }
                        (field_error(e, "items"))
                        button type="submit" { "记录整改事项" }
                    }
                } @else {
                    @let e = err("close");
                    form method="post" action={ "/cases/" (case.id) "/close" } enctype="multipart/form-data" id="form-close" {
                        h3 { "结束约谈" }
                        (csrf(session)) (form_error(e, &["recording_sha256"]))
                        label for="c-recording" { "录音录像文件" } input id="c-recording" name="recording" type="file" multiple; (field_error(e, "recording_sha256"))
                        button type="submit" { "结束约谈并生成笔录" }
                    }
                }
            }
            @if let Some(rect) = view.rectification.as_ref().filter(|r| r.status == "open" && r.notice_document_id.is_empty()).filter(|_| officer.has("case_officer")) {
                @let e = err("rect-notice");
                form method="post" action=(post("rect-notice")) id="form-rect-notice" {
                    h3 { "制发责令整改通知书（" (rect.items.len()) " 项整改内容）" }
                    (csrf(session)) (form_error(e, &["legal_basis", "consequence", "contact"]))
                    label for="r-legal_basis" { "法律依据" } input id="r-legal_basis" name="legal_basis" value="《企业信息公示暂行条例》第八条"; (field_error(e, "legal_basis"))
                    label for="r-consequence" { "逾期未整改的后果" } input id="r-consequence" name="consequence" value="逾期未整改的，将依法移送处罚程序"; (field_error(e, "consequence"))
                    label for="r-contact" { "联系人及电话" } input id="r-contact" name="contact" value="办公室 0931-1234567"; (field_error(e, "contact"))
                    button type="submit" { "生成整改通知书" }
                }
            }
            @if view.rectification.as_ref().is_some_and(|r| r.status == "open" || r.status == "reported") && officer.has("case_officer") {
                @let e = err("ledger");
                form method="post" action=(post("ledger")) id="form-ledger" {
                    h3 { "登记整改跟踪" }
                    (csrf(session)) (form_error(e, &["method", "on", "progress", "problems", "measures"]))
                    label for="l-method" { "跟踪方式" } select id="l-method" name="method" { option value="phone" { "电话回访" } option value="site" { "现场检查" } option value="document" { "书面审查" } }
                    label for="l-on" { "日期" } input id="l-on" name="on" type="date" value=(today.format("%Y-%m-%d")); (field_error(e, "on"))
                    label for="l-progress" { "整改进展" } textarea id="l-progress" name="progress" rows="2" { "已按要求补报年度报告。" } (field_error(e, "progress"))
                    label for="l-problems" { "存在问题" } input id="l-problems" name="problems" value="无"; (field_error(e, "problems"))
                    label for="l-measures" { "措施" } input id="l-measures" name="measures" value="继续跟踪"; (field_error(e, "measures"))
                    button type="submit" { "登记" }
                }
            }
            @if view.rectification.as_ref().is_some_and(|r| r.status == "reported" && !r.answers.iter().any(|a| a.officer_id == officer.id)) && officer.has("case_officer") {
                @let e = err("acceptance");
                form method="post" action=(post("acceptance")) id="form-acceptance" {
                    h3 { "整改验收" }
                    (csrf(session)) (form_error(e, &["comments", "follow_up"]))
                    label class="check" { input type="checkbox" name="complete" value="on" checked; " 整改内容已全部完成" }
                    label class="check" { input type="checkbox" name="lawful" value="on" checked; " 整改措施合法" }
                    label class="check" { input type="checkbox" name="goal_reached" value="on" checked; " 达到整改目标" }
                    label for="a-comments" { "验收意见" } input id="a-comments" name="comments" value="经现场核查，整改到位。"; (field_error(e, "comments"))
                    label for="a-follow" { "后续跟踪安排（合格时填写）" } input id="a-follow" name="follow_up" value="三个月内回访一次"; (field_error(e, "follow_up"))
                    button type="submit" { "提交验收意见" }
                }
            }
            p class="muted" { "是否允许办理以业务系统的校验为准；不符合条件时，会在对应栏目下方说明原因。" }
        }
    }
}
