//! New clue: the party (registered, or found again by its credit code or
//! resident ID — intake answers `already_registered` and the masked
//! identifier), the clue and its evidence (multipart, streamed field by
//! field with a size limit; `console.js` shows the upload's progress). Then
//! the clue's page with its verification form.

use std::collections::HashMap;

use axum::extract::{Multipart, Path, Query, State as AxumState};
use serde::Deserialize;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use yuetan_proto::common::Date;
use yuetan_proto::intake;

use crate::backend::Calls;
use crate::pages::layout::{self, csrf, field_error, form_error, Nav};
use crate::session::{Session, CSRF_FIELD};
use crate::web::{csrf_refusal, Shared};
use crate::zh::{self, Refusal};
use crate::State;

/// Most evidence files on one clue.
pub const MAX_FILES: usize = 10;

#[derive(Debug, Deserialize)]
pub struct Lookup {
    /// A credit code or resident ID to look the party up by.
    lookup: Option<String>,
    /// `enterprise` (credit code) or `person` (resident ID).
    kind: Option<String>,
}

/// What the party lookup found.
enum Found {
    None,
    Party(Box<intake::Party>),
    Missing(String),
}

pub async fn new_page(AxumState(state): Shared, session: Session, Query(query): Query<Lookup>) -> Response {
    let mut values = HashMap::new();
    let mut found = Found::None;
    let mut error = None;
    if let Some(code) = query.lookup.map(|c| c.trim().to_string()).filter(|c| !c.is_empty()) {
        if code.chars().count() > 18 {
            return layout::not_found();
        }
        let person = query.kind.as_deref() == Some("person");
        values.insert("kind".to_string(), if person { "person" } else { "enterprise" }.to_string());
        let calls = match Calls::new(&state.channels, &state.tokens, &session.officer) {
            Ok(calls) => calls,
            Err(err) => return layout::error_page(&err.to_string()).into_response(),
        };
        let request = if person {
            intake::FindPartyRequest { resident_id: code.clone(), credit_code: String::new() }
        } else {
            intake::FindPartyRequest { credit_code: code.clone(), resident_id: String::new() }
        };
        match calls.intake().find_party(calls.req(request)).await {
            Ok(answer) => found = answer.into_inner().party.map(|p| Found::Party(Box::new(p))).unwrap_or(Found::None),
            Err(status) if status.code() == tonic::Code::NotFound => {
                values.insert(if person { "resident_id" } else { "credit_code" }.to_string(), code.clone());
                found = Found::Missing(code);
            }
            Err(status) if matches!(status.code(), tonic::Code::PermissionDenied | tonic::Code::Unauthenticated) => return crate::web::status_page(&status),
            Err(status) => error = Some(zh::refusal(&status)),
        }
    }
    render_new(&state, &session, &values, &found, error).await
}

async fn render_new(state: &State, session: &Session, values: &HashMap<String, String>, found: &Found, error: Option<Refusal>) -> Response {
    let calls = match Calls::new(&state.channels, &state.tokens, &session.officer) {
        Ok(calls) => calls,
        Err(err) => return layout::error_page(&err.to_string()).into_response(),
    };
    let types = calls
        .intake()
        .list_violation_types(calls.req(intake::ListViolationTypesRequest { department: String::new(), include_inactive: false }))
        .await
        .map(|r| r.into_inner().violation_types)
        .unwrap_or_default();
    let v = |name: &str, default: &str| values.get(name).cloned().unwrap_or_else(|| default.to_string());
    let e = error.as_ref();
    let all_fields = ["name", "credit_code", "resident_id", "address", "phone", "sms_number", "email", "facts", "section", "violation_type", "evidence", "source"];
    let body = html! {
        h1 { "登记线索" }
        // Party lookup: a plain GET (the whole page) or, with htmx, the form alone.
        form method="get" action="/clues/new" class="inline-form" id="form-lookup" role="search" hx-get="/clues/new" hx-select="#form-clue" hx-target="#form-clue" hx-swap="outerHTML" {
            label for="lookup-kind" { "查找当事人" }
            select id="lookup-kind" name="kind" { option value="enterprise" { "统一社会信用代码" } option value="person" { "居民身份证号码" } }
            input id="lookup" name="lookup" maxlength="18" autocomplete="off" aria-label="代码或证件号";
            button type="submit" { "查找" }
        }
        form method="post" action="/clues" enctype="multipart/form-data" id="form-clue" data-progress="upload-progress" {
            (csrf(session))
            (form_error(e, &all_fields))
            @match found {
                Found::Party(party) => {
                    section class="card" id="party-found" {
                        p { "已登记的当事人：" strong { (party.name) } " · " (if party.credit_code.is_empty() { party.resident_id_masked.as_str() } else { party.credit_code.as_str() }) " · " (party.address) }
                        input type="hidden" name="party_id" value=(party.id);
                        p class="muted" { "线索将登记在该当事人名下；如需修改联系方式，请由登记机关更新当事人信息。" }
                    }
                }
                Found::Missing(code) => {
                    p class="card" id="party-missing" role="status" { "未找到代码或证件号为 " (code) " 的当事人，请在下方登记。" }
                }
                Found::None => {}
            }
            @if !matches!(found, Found::Party(_)) {
            fieldset { legend { "当事人" }
                label for="kind" { "类型" } select id="kind" name="kind" {
                    option value="enterprise" selected[v("kind", "enterprise") == "enterprise"] { "企业" }
                    option value="person" selected[v("kind", "") == "person"] { "个人" }
                }
                label for="name" { "名称 / 姓名" } input id="name" name="name" value=(v("name", "")) required maxlength="200"; (field_error(e, "name"))
                label for="credit_code" { "统一社会信用代码（企业）" } input id="credit_code" name="credit_code" value=(v("credit_code", "")) maxlength="18" autocomplete="off"; (field_error(e, "credit_code"))
                label for="resident_id" { "居民身份证号码（个人）" } input id="resident_id" name="resident_id" maxlength="18" autocomplete="off"; (field_error(e, "resident_id"))
                p class="muted" { "已登记的当事人按代码或证件号自动找到，页面只显示脱敏后的证件号。" }
                label for="address" { "地址" } input id="address" name="address" value=(v("address", "")) maxlength="300"; (field_error(e, "address"))
                label for="phone" { "联系电话" } input id="phone" name="phone" value=(v("phone", "")) maxlength="30"; (field_error(e, "phone"))
                label for="sms_number" { "同意电子送达的手机号" } input id="sms_number" name="sms_number" value=(v("sms_number", "")) maxlength="20"; (field_error(e, "sms_number"))
                label for="email" { "同意电子送达的电子邮箱" } input id="email" name="email" type="email" value=(v("email", "")) maxlength="200"; (field_error(e, "email"))
            }
            }
            fieldset { legend { "线索" }
                label for="source" { "来源" } select id="source" name="source" {
                    option value="1" { "日常检查" } option value="2" { "群众投诉举报" } option value="3" { "上级交办" } option value="4" { "部门移送" } option value="5" { "当事人自查报告" }
                }
                label for="section" { "承办科室" } input id="section" name="section" value=(v("section", "市场秩序科")) required maxlength="100"; (field_error(e, "section"))
                label for="violation_type" { "违法行为类型" } select id="violation_type" name="violation_type" {
                    @for t in &types { option value=(t.code) selected[v("violation_type", "") == t.code] { (t.name) } }
                }
                (field_error(e, "violation_type"))
                label for="facts" { "事实" } textarea id="facts" name="facts" rows="4" required maxlength="4000" { (v("facts", "")) } (field_error(e, "facts"))
                label for="urgent" class="check" { input type="checkbox" id="urgent" name="urgent" value="on"; " 紧急" }
                label for="evidence" { "证据材料（可多选，单个文件不超过 " (state.config.max_upload_bytes / 1024 / 1024) " MB，最多 " (MAX_FILES) " 个）" }
                input id="evidence" name="evidence" type="file" multiple; (field_error(e, "evidence"))
                progress id="upload-progress" max="100" value="0" hidden {}
            }
            button type="submit" { "登记线索" }
        }
    };
    let status = if error.is_some() { axum::http::StatusCode::UNPROCESSABLE_ENTITY } else { axum::http::StatusCode::OK };
    (status, layout::page(Some(session), Nav::NewClue, "登记线索", body)).into_response()
}

pub async fn create(AxumState(state): Shared, session: Session, multipart: Multipart) -> Response {
    let (values, files) = match super::upload::read_form(&state, multipart, "evidence", MAX_FILES).await {
        Ok(read) => read,
        Err(refusal) => return render_new(&state, &session, &HashMap::new(), &Found::None, Some(refusal)).await,
    };
    if let Some(refused) = csrf_refusal(&session, values.get(CSRF_FIELD).map(String::as_str)) {
        return refused;
    }
    let calls = match Calls::new(&state.channels, &state.tokens, &session.officer) {
        Ok(calls) => calls,
        Err(err) => return layout::error_page(&err.to_string()).into_response(),
    };
    match register(&state, &calls, &values, files).await {
        Ok(clue_id) => Redirect::to(&format!("/clues/{clue_id}")).into_response(),
        Err(status) if matches!(status.code(), tonic::Code::PermissionDenied | tonic::Code::Unauthenticated) => crate::web::status_page(&status),
        Err(status) => render_new(&state, &session, &values, &Found::None, Some(zh::refusal(&status))).await,
    }
}

async fn register(state: &State, calls: &Calls, values: &HashMap<String, String>, files: Vec<(String, String, Vec<u8>)>) -> Result<String, tonic::Status> {
    let v = |name: &str| values.get(name).map(|s| s.trim().to_string()).unwrap_or_default();
    let request_id = v("request_id");
    let today = yuetan_platform::fields::cst_date(state.clock.now());
    let mut channels = Vec::new();
    if !v("sms_number").is_empty() {
        channels.push(intake::ServiceChannel::Sms as i32);
    }
    if !v("email").is_empty() {
        channels.push(intake::ServiceChannel::Email as i32);
    }
    let kind = if v("kind") == "person" { intake::PartyKind::Person } else { intake::PartyKind::Enterprise };
    let party = intake::PartyInput {
        kind: kind as i32,
        name: v("name"),
        credit_code: v("credit_code"),
        resident_id: v("resident_id"),
        address: v("address"),
        phone: v("phone"),
        representative: None,
        consent: (!channels.is_empty()).then(|| intake::ServiceConsent {
            channels,
            sms_number: v("sms_number"),
            email: v("email"),
            consented_on: Some(Date { iso: today.format("%Y-%m-%d").to_string() }),
            ..Default::default()
        }),
    };
    // The party found by the lookup, or registered now (found again if it
    // already is), then each file.
    let party_id = match v("party_id") {
        found if !found.is_empty() => found,
        _ => calls.intake().register_party(calls.req(intake::RegisterPartyRequest { request_id: String::new(), party: Some(party) })).await?.into_inner().party.map(|p| p.id).unwrap_or_default(),
    };
    let mut evidence = Vec::new();
    for (file_name, media_type, content) in files {
        let stored = calls.intake().upload_evidence(calls.req(intake::UploadEvidenceRequest { file_name, media_type, content })).await?.into_inner();
        evidence.push(stored);
    }
    let source: i32 = v("source").parse().unwrap_or(intake::ClueSource::DailyInspection as i32);
    let urgency = if v("urgent") == "on" { intake::Urgency::Urgent } else { intake::Urgency::Normal };
    let clue = calls
        .intake()
        .register_clue(calls.req(intake::RegisterClueRequest {
            request_id: uuid::Uuid::parse_str(&request_id).map(|u| u.to_string()).unwrap_or_else(|_| uuid::Uuid::now_v7().to_string()),
            source,
            section: v("section"),
            party_id,
            facts: v("facts"),
            violation_type: v("violation_type"),
            evidence,
            urgency: urgency as i32,
            received_on: None,
        }))
        .await?
        .into_inner();
    Ok(clue.id)
}

pub async fn page(AxumState(state): Shared, session: Session, Path(clue_id): Path<String>) -> Response {
    if clue_id.len() > 64 {
        return layout::not_found();
    }
    show(&state, &session, &clue_id, None).await
}

async fn show(state: &State, session: &Session, clue_id: &str, error: Option<Refusal>) -> Response {
    let calls = match Calls::new(&state.channels, &state.tokens, &session.officer) {
        Ok(calls) => calls,
        Err(err) => return layout::error_page(&err.to_string()).into_response(),
    };
    let clue = match calls.intake().get_clue(calls.req(intake::GetClueRequest { clue_id: clue_id.to_string() })).await {
        Ok(clue) => clue.into_inner(),
        Err(status) => return crate::web::status_page(&status),
    };
    let party = calls.intake().get_party(calls.req(intake::GetPartyRequest { party_id: clue.party_id.clone() })).await.ok().and_then(|p| p.into_inner().party);
    let status = if error.is_some() { axum::http::StatusCode::UNPROCESSABLE_ENTITY } else { axum::http::StatusCode::OK };
    (status, layout::page(Some(session), Nav::None, "线索", render(session, &clue, party.as_ref(), error.as_ref()))).into_response()
}

fn render(session: &Session, clue: &intake::Clue, party: Option<&intake::Party>, e: Option<&Refusal>) -> Markup {
    html! {
        h1 { "线索" }
        dl class="header" id="clue" {
            dt { "状态" } dd id="clue-status" { (zh::clue_status(clue.status)) }
            dt { "当事人" } dd id="clue-party" {
                @if let Some(party) = party {
                    (party.name) " · " (if party.credit_code.is_empty() { party.resident_id_masked.as_str() } else { party.credit_code.as_str() })
                }
            }
            dt { "事实" } dd { (clue.facts) }
            dt { "违法行为类型" } dd { (clue.violation_type.as_ref().map(|t| t.name.as_str()).unwrap_or("")) }
            dt { "核查期限" } dd { (zh::proto_date(clue.verification_deadline.as_ref())) @if clue.verification_overdue { " · " span class="overdue" { "已逾期" } } }
            dt { "证据材料" } dd id="clue-evidence" {
                @if clue.evidence.is_empty() { "无" }
                ul class="plain" { @for file in &clue.evidence { li { (file.file_name) " （" (file.size) " 字节）" } } }
            }
        }
        @if !clue.case_id.is_empty() {
            p { a id="case-link" href={ "/cases/" (clue.case_id) } { "已立案，查看案件" } }
        }
        @if clue.status == intake::ClueStatus::Registered as i32 && session.officer.has("case_officer") {
            form method="post" action={ "/clues/" (clue.id) "/verify" } id="form-verify" class="card" {
                h2 { "核查" }
                (csrf(session))
                (form_error(e, &["facts", "provisions_violated", "necessity", "situations"]))
                label for="v-facts" { "核查认定的事实" } textarea id="v-facts" name="facts" rows="3" required { "经核实，当事人系首次违法，尚未造成危害后果。" } (field_error(e, "facts"))
                label for="provisions" { "违反的规定" } input id="provisions" name="provisions_violated" value="《企业信息公示暂行条例》第八条"; (field_error(e, "provisions_violated"))
                label for="necessity" { "约谈必要性" } textarea id="necessity" name="necessity" rows="2" { "首次轻微违法，及时改正可不予处罚，宜约谈督促整改。" } (field_error(e, "necessity"))
                fieldset { legend { "适用情形" }
                    label class="check" { input type="checkbox" name="a1" value="on" checked; " 首次轻微违法" }
                    label class="check" { input type="checkbox" name="a2" value="on"; " 存在风险隐患" }
                    label class="check" { input type="checkbox" name="a3" value="on"; " 社会关注" }
                    label class="check" { input type="checkbox" name="a4" value="on" checked; " 未履行法定义务" }
                    (field_error(e, "situations"))
                }
                label class="check" { input type="checkbox" name="major" value="on"; " 重大案件（需主要负责人审批）" }
                button type="submit" { "提交核查结论" }
            }
        }
    }
}

pub async fn verify(AxumState(state): Shared, session: Session, Path(clue_id): Path<String>, Form(form): Form<HashMap<String, String>>) -> Response {
    if let Some(refused) = csrf_refusal(&session, form.get(CSRF_FIELD).map(String::as_str)) {
        return refused;
    }
    if clue_id.len() > 64 || form.values().any(|v| v.chars().count() > super::upload::MAX_TEXT_CHARS) {
        return layout::not_found();
    }
    let calls = match Calls::new(&state.channels, &state.tokens, &session.officer) {
        Ok(calls) => calls,
        Err(err) => return layout::error_page(&err.to_string()).into_response(),
    };
    let v = |name: &str| form.get(name).map(|s| s.trim().to_string()).unwrap_or_default();
    let on = |name: &str| form.get(name).is_some_and(|s| s == "on");
    let situations = [("a1", intake::Situation::A1FirstMinor), ("a2", intake::Situation::A2Hazard), ("a3", intake::Situation::A3PublicAttention), ("a4", intake::Situation::A4ObligationNotPerformed)]
        .into_iter()
        .filter(|(name, _)| on(name))
        .map(|(_, s)| s as i32)
        .collect();
    let request = intake::VerifyClueRequest {
        request_id: uuid::Uuid::parse_str(&v("request_id")).map(|u| u.to_string()).unwrap_or_else(|_| uuid::Uuid::now_v7().to_string()),
        clue_id: clue_id.clone(),
        report: Some(intake::VerificationReport { facts: v("facts"), provisions_violated: v("provisions_violated"), necessity: v("necessity") }),
        situations,
        exclusions: Vec::new(),
        major: on("major"),
        co_departments: Vec::new(),
    };
    match calls.intake().verify_clue(calls.req(request)).await {
        Ok(answer) => match answer.into_inner().case {
            Some(case) => Redirect::to(&format!("/cases/{}", case.id)).into_response(),
            None => Redirect::to(&format!("/clues/{clue_id}")).into_response(),
        },
        Err(status) if matches!(status.code(), tonic::Code::PermissionDenied | tonic::Code::NotFound | tonic::Code::Unauthenticated) => crate::web::status_page(&status),
        Err(status) => show(&state, &session, &clue_id, Some(zh::refusal(&status))).await,
    }
}
