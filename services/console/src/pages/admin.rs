//! Administration: an organ and its document code (intake's PutOrgan, the
//! administrator's), the organ's officers and their qualifications
//! (scheduling), the violation types (intake), and the holiday file's
//! years, provisional ones marked (the calendar the console counts
//! working days with).

use std::collections::HashMap;

use axum::extract::State as AxumState;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;
use yuetan_proto::common::Organ;
use yuetan_proto::{intake, scheduling};

use crate::backend::Calls;
use crate::pages::layout::{self, csrf, field_error, form_error, Nav};
use crate::session::{Session, CSRF_FIELD};
use crate::web::{csrf_refusal, Shared};
use crate::zh::{self, Refusal};
use crate::State;

pub async fn page(AxumState(state): Shared, session: Session) -> Response {
    show(&state, &session, None).await
}

async fn show(state: &State, session: &Session, error: Option<Refusal>) -> Response {
    let calls = match Calls::new(&state.channels, &state.tokens, &session.officer) {
        Ok(calls) => calls,
        Err(err) => return layout::error_page(&err.to_string()).into_response(),
    };
    let (organs, types, officers) = tokio::join!(
        async { calls.intake().list_organs(calls.req(intake::ListOrgansRequest {})).await },
        async { calls.intake().list_violation_types(calls.req(intake::ListViolationTypesRequest { department: String::new(), include_inactive: true })).await },
        async { calls.scheduling().list_officers(calls.req(scheduling::ListOfficersRequest { organ: session.officer.organ.clone() })).await },
    );
    let organs = organs.map(|o| o.into_inner().organs);
    let types = types.map(|t| t.into_inner().violation_types);
    let officers = officers.map(|o| o.into_inner().officers);
    let calendar = state.calendar.current();
    let e = error.as_ref();
    let body = html! {
        h1 { "系统管理" }
        section class="card" aria-labelledby="organ-h" {
            h2 id="organ-h" { "执法机关与文书字号" }
            @match &organs {
                Err(status) => { p class="muted" { (zh::refusal(status).message) } }
                Ok(organs) => {
                    table class="list" id="organs" {
                        thead { tr { th scope="col" { "机关代码" } th scope="col" { "名称" } th scope="col" { "行政区划" } th scope="col" { "文书字号" } } }
                        tbody { @for o in organs { tr {
                            td { (o.organ.as_ref().map(|x| x.code.as_str()).unwrap_or("")) }
                            td { (o.organ.as_ref().map(|x| x.name.as_str()).unwrap_or("")) }
                            td { (o.organ.as_ref().map(|x| x.division_code.as_str()).unwrap_or("")) }
                            td { @if o.document_code.is_empty() { span class="overdue" { "未设置" } } @else { (o.document_code) } }
                        } } }
                    }
                }
            }
            @if session.officer.has("admin") {
                form method="post" action="/admin/organs" id="form-organ" {
                    (csrf(session)) (form_error(e, &["code", "name", "division_code", "document_code"]))
                    label for="o-code" { "机关代码" } input id="o-code" name="code" required maxlength="32"; (field_error(e, "code"))
                    label for="o-name" { "机关名称" } input id="o-name" name="name" required maxlength="100"; (field_error(e, "name"))
                    label for="o-division" { "行政区划代码" } input id="o-division" name="division_code" required maxlength="6"; (field_error(e, "division_code"))
                    label for="o-doc" { "文书字号（如 兰城市监）" } input id="o-doc" name="document_code" required maxlength="20"; (field_error(e, "document_code"))
                    button type="submit" { "保存" }
                }
            } @else {
                p class="muted" { "机关与文书字号由系统管理员维护。" }
            }
        }
        section class="card" aria-labelledby="off-h" {
            h2 id="off-h" { "本机关执法人员与资格" }
            @match &officers {
                Err(status) => { p class="muted" { (zh::refusal(status).message) } }
                Ok(officers) => {
                    table class="list" id="officers" {
                        thead { tr { th scope="col" { "工号" } th scope="col" { "姓名" } th scope="col" { "执法证号" } th scope="col" { "执法证有效期至" } th scope="col" { "约谈资格有效期至" } th scope="col" { "法制审核资格" } th scope="col" { "在岗" } } }
                        tbody { @for o in officers { tr {
                            td { (o.officer_id) } td { (o.name) } td { (o.certificate_number) }
                            td { (zh::proto_date(o.certificate_valid_until.as_ref())) }
                            td { (zh::proto_date(o.interviewer_certification_valid_until.as_ref())) }
                            td { (if o.legal_review_qualified { "有" } else { "无" }) }
                            td { (if o.active { "是" } else { "否" }) }
                        } } }
                    }
                }
            }
        }
        section class="card" aria-labelledby="vt-h" {
            h2 id="vt-h" { "违法行为类型" }
            @match &types {
                Err(status) => { p class="muted" { (zh::refusal(status).message) } }
                Ok(types) => {
                    table class="list" id="violation-types" {
                        thead { tr { th scope="col" { "代码" } th scope="col" { "部门" } th scope="col" { "名称" } th scope="col" { "法律依据" } th scope="col" { "启用" } } }
                        tbody { @for t in types { tr { td { (t.code) } td { (t.department) } td { (t.name) } td { (t.legal_basis) } td { (if t.active { "是" } else { "否" }) } } } }
                    }
                }
            }
        }
        section class="card" aria-labelledby="cal-h" {
            h2 id="cal-h" { "节假日安排" }
            ul class="plain" id="holiday-years" {
                @for year in calendar.years() {
                    li { (year) " 年：" @if calendar.is_provisional_year(year) { span class="overdue" { "暂定（国务院办公厅通知尚未发布，按暂定数据计算期限）" } } @else { "已按国务院办公厅通知录入" } }
                }
            }
        }
    };
    let status = if error.is_some() { axum::http::StatusCode::UNPROCESSABLE_ENTITY } else { axum::http::StatusCode::OK };
    (status, layout::page(Some(session), Nav::Admin, "系统管理", body)).into_response()
}

pub async fn put_organ(AxumState(state): Shared, session: Session, Form(form): Form<HashMap<String, String>>) -> Response {
    if let Some(refused) = csrf_refusal(&session, form.get(CSRF_FIELD).map(String::as_str)) {
        return refused;
    }
    let v = |name: &str| form.get(name).map(|s| s.trim().chars().take(200).collect::<String>()).unwrap_or_default();
    let calls = match Calls::new(&state.channels, &state.tokens, &session.officer) {
        Ok(calls) => calls,
        Err(err) => return layout::error_page(&err.to_string()).into_response(),
    };
    let request = intake::PutOrganRequest {
        request_id: uuid::Uuid::parse_str(&v("request_id")).map(|u| u.to_string()).unwrap_or_default(),
        organ: Some(Organ { code: v("code"), name: v("name"), division_code: v("division_code") }),
        document_code: v("document_code"),
    };
    match calls.intake().put_organ(calls.req(request)).await {
        Ok(_) => Redirect::to("/admin").into_response(),
        Err(status) if matches!(status.code(), tonic::Code::PermissionDenied | tonic::Code::Unauthenticated) => crate::web::status_page(&status),
        Err(status) => show(&state, &session, Some(zh::refusal(&status))).await,
    }
}
