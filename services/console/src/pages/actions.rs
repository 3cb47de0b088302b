//! The case page's forms: each posts here, is checked for its CSRF token,
//! becomes one call of the service that decides it (with the request id the
//! form was rendered with, so a resent form changes nothing twice), and
//! then either goes back to the case (POST-redirect-GET) or shows the case
//! again with the service's refusal next to the field it names.

use std::collections::HashMap;

use axum::extract::{Path, State as AxumState};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::{NaiveDate, NaiveDateTime, TimeZone};
use yuetan_proto::common::Date;
use yuetan_proto::{intake, rectification, review, scheduling};

use crate::backend::Calls;
use crate::pages::layout;
use crate::session::{Session, CSRF_FIELD};
use crate::web::{csrf_refusal, Shared};
use crate::zh::{self, Refusal};

use super::upload::MAX_TEXT_CHARS as MAX_FIELD_CHARS;

pub async fn act(AxumState(state): Shared, session: Session, Path((case_id, action)): Path<(String, String)>, Form(form): Form<HashMap<String, String>>) -> Response {
    if let Some(refused) = csrf_refusal(&session, form.get(CSRF_FIELD).map(String::as_str)) {
        return refused;
    }
    if case_id.len() > 64 {
        return layout::not_found();
    }
    if let Some((field, _)) = form.iter().find(|(_, v)| v.chars().count() > MAX_FIELD_CHARS) {
        let refusal = Refusal::of_field(field, format!("“{}”过长，最多 {MAX_FIELD_CHARS} 字。", zh::field(field)));
        return super::case::show(&state, &session, &case_id, Some((action.as_str(), refusal))).await;
    }
    let calls = match Calls::new(&state.channels, &state.tokens, &session.officer) {
        Ok(calls) => calls,
        Err(err) => return layout::error_page(&err.to_string()).into_response(),
    };
    let done = call(&calls, &case_id, &action, &form).await;
    answer(&state, &session, &case_id, &action, done).await
}

/// Back to the case after a change; the case with the refusal in the
/// action's form after a refusal; the 403 page when the case is not the
/// officer's.
async fn answer(state: &crate::State, session: &Session, case_id: &str, action: &str, done: Result<(), Failure>) -> Response {
    match done {
        Ok(()) => Redirect::to(&format!("/cases/{case_id}")).into_response(),
        Err(Failure::Unknown) => layout::not_found(),
        Err(Failure::Refused(status)) => match status.code() {
            tonic::Code::PermissionDenied | tonic::Code::NotFound | tonic::Code::Unauthenticated => crate::web::status_page(&status),
            _ => super::case::show(state, session, case_id, Some((action, zh::refusal(&status)))).await,
        },
    }
}

/// A case form with files (multipart): read and bounded, its CSRF token
/// checked, then `work` with the officer's calls, the form and the files;
/// answered like every action.
#[allow(clippy::too_many_arguments)]
async fn upload_action<F, Fut>(state: &crate::State, session: &Session, case_id: &str, action: &str, file_field: &str, max_files: usize, multipart: axum::extract::Multipart, work: F) -> Response
where
    F: FnOnce(Calls, HashMap<String, String>, Vec<super::upload::Upload>) -> Fut,
    Fut: std::future::Future<Output = Result<(), Failure>>,
{
    let (form, files) = match super::upload::read_form(state, multipart, file_field, max_files).await {
        Ok(read) => read,
        Err(refusal) => return super::case::show(state, session, case_id, Some((action, refusal))).await,
    };
    if let Some(refused) = csrf_refusal(session, form.get(CSRF_FIELD).map(String::as_str)) {
        return refused;
    }
    if case_id.len() > 64 {
        return layout::not_found();
    }
    let calls = match Calls::new(&state.channels, &state.tokens, &session.officer) {
        Ok(calls) => calls,
        Err(err) => return layout::error_page(&err.to_string()).into_response(),
    };
    let done = work(calls, form, files).await;
    answer(state, session, case_id, action, done).await
}

/// Stores uploaded files in the evidence store (intake); their SHA-256s.
async fn store_files(calls: &Calls, files: Vec<super::upload::Upload>) -> Result<Vec<String>, Failure> {
    let mut stored = Vec::new();
    for (file_name, media_type, content) in files {
        stored.push(calls.intake().upload_evidence(calls.req(intake::UploadEvidenceRequest { file_name, media_type, content })).await?.into_inner().sha256);
    }
    Ok(stored)
}

/// The party's signed address confirmation: the scan is stored, then
/// scheduling records the consented channels with it.
pub async fn address(AxumState(state): Shared, session: Session, Path(case_id): Path<String>, multipart: axum::extract::Multipart) -> Response {
    let id = case_id.clone();
    upload_action(&state, &session, &case_id, "address", "confirmation", 1, multipart, |calls, form, files| async move {
        let Some(scan) = store_files(&calls, files).await?.into_iter().next() else {
            return Err(invalid("confirmation_sha256", "请上传签字后的送达地址确认书"));
        };
        let channels = [("sms", scheduling::Channel::Sms), ("email", scheduling::Channel::Email), ("egov", scheduling::Channel::Egov)]
            .into_iter()
            .filter(|(name, _)| on(&form, name))
            .map(|(_, channel)| channel as i32)
            .collect();
        calls
            .scheduling()
            .record_service_address(calls.req(scheduling::RecordServiceAddressRequest {
                request_id: request_id(&form),
                case_id: id,
                channels,
                sms_number: text(&form, "sms_number"),
                email: text(&form, "email"),
                egov_account: text(&form, "egov_account"),
                postal_address: text(&form, "postal_address"),
                confirmation_sha256: scan,
                signed_on: Some(date("signed_on", &text(&form, "signed_on"))?),
            }))
            .await?;
        Ok(())
    })
    .await
}

/// The interview's end: the recordings stored, then scheduling closes the
/// interview and draws up the record.
pub async fn close(AxumState(state): Shared, session: Session, Path(case_id): Path<String>, multipart: axum::extract::Multipart) -> Response {
    let id = case_id.clone();
    upload_action(&state, &session, &case_id, "close", "recording", 5, multipart, |calls, form, files| async move {
        let recording_sha256 = store_files(&calls, files).await?;
        calls.scheduling().close_interview(calls.req(scheduling::CloseInterviewRequest { request_id: request_id(&form), case_id: id, recording_sha256 })).await?;
        Ok(())
    })
    .await
}

pub enum Failure {
    Unknown,
    Refused(tonic::Status),
}

impl From<tonic::Status> for Failure {
    fn from(status: tonic::Status) -> Self {
        Failure::Refused(status)
    }
}

fn text(form: &HashMap<String, String>, name: &str) -> String {
    form.get(name).map(|v| v.trim().to_string()).unwrap_or_default()
}

fn on(form: &HashMap<String, String>, name: &str) -> bool {
    form.get(name).is_some_and(|v| v == "on")
}

/// Comma- or space-separated officer ids.
pub fn list(value: &str) -> Vec<String> {
    value.split([',', '，', ' ', '、']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// The form's request id if it is a UUID, else a fresh one.
fn request_id(form: &HashMap<String, String>) -> String {
    form.get("request_id").and_then(|v| uuid::Uuid::parse_str(v).ok()).unwrap_or_else(uuid::Uuid::now_v7).to_string()
}

fn invalid(field: &str, reason: &str) -> Failure {
    Failure::Refused(yuetan_platform::Error::invalid(field, reason).into())
}

/// `2026-11-30T10:00` in China Standard Time.
pub fn local_time(field: &str, value: &str) -> Result<prost_types::Timestamp, Failure> {
    let naive = NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M").map_err(|_| invalid(field, "请填写日期和时间"))?;
    let cst = chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8");
    let at = cst.from_local_datetime(&naive).single().ok_or_else(|| invalid(field, "时间无效"))?;
    Ok(yuetan_platform::fields::timestamp(at.with_timezone(&chrono::Utc)))
}

fn date(field: &str, value: &str) -> Result<Date, Failure> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d").map(yuetan_platform::fields::date).map_err(|_| invalid(field, "请填写日期"))
}

async fn call(calls: &Calls, case_id: &str, action: &str, form: &HashMap<String, String>) -> Result<(), Failure> {
    let request_id = request_id(form);
    match action {
        "submit" => {
            calls
                .intake()
                .submit_for_review(calls.req(intake::SubmitForReviewRequest {
                    request_id,
                    case_id: case_id.into(),
                    approval_form: Some(intake::ApprovalForm { proposal: text(form, "proposal"), proposed_interviewers: list(&text(form, "proposed_interviewers")), evidence: Vec::new() }),
                }))
                .await?;
        }
        "review" => {
            let checklist = (1..=5i32).map(|item| review::ChecklistEntry { item, passed: on(form, &format!("item{item}")), comment: if on(form, &format!("item{item}")) { String::new() } else { text(form, "missing") } }).collect();
            let decision = match text(form, "decision").as_str() {
                "pass" => review::ReviewDecision::Pass,
                "return" => review::ReviewDecision::Return,
                "reject" => review::ReviewDecision::Reject,
                _ => return Err(invalid("decision", "请选择审核结论")),
            };
            calls
                .review()
                .decide_review(calls.req(review::DecideReviewRequest { request_id, task_id: text(form, "task_id"), checklist, decision: decision as i32, missing: text(form, "missing"), opinion: text(form, "opinion") }))
                .await?;
        }
        "approve" => {
            let decision = match text(form, "decision").as_str() {
                "approve" => review::ApprovalDecision::Approve,
                "deny" => review::ApprovalDecision::Deny,
                _ => return Err(invalid("decision", "请选择审批意见")),
            };
            calls
                .review()
                .decide_approval(calls.req(review::DecideApprovalRequest { request_id, task_id: text(form, "task_id"), decision: decision as i32, opinion: text(form, "opinion"), collective: None }))
                .await?;
        }
        "document" => {
            let decision = match text(form, "decision").as_str() {
                "pass" => review::DocumentDecision::Pass,
                "return" => review::DocumentDecision::Return,
                _ => return Err(invalid("decision", "请选择审核结论")),
            };
            calls
                .review()
                .decide_document(calls.req(review::DecideDocumentRequest { request_id, task_id: text(form, "task_id"), decision: decision as i32, comments: text(form, "comments") }))
                .await?;
        }
        "plan" => {
            let mode = if text(form, "mode") == "video" { scheduling::InterviewMode::Video } else { scheduling::InterviewMode::InPerson };
            calls
                .scheduling()
                .plan_interview(calls.req(scheduling::PlanInterviewRequest {
                    request_id,
                    case_id: case_id.into(),
                    interview_at: Some(local_time("interview_at", &text(form, "interview_at"))?),
                    mode: mode as i32,
                    place: text(form, "place"),
                    interviewers: list(&text(form, "interviewers")),
                    recorder: text(form, "recorder"),
                    experts: Vec::new(),
                    co_department_participants: Vec::new(),
                    materials: Vec::new(),
                    contact: text(form, "contact"),
                    matter: text(form, "matter"),
                    legal_basis: text(form, "legal_basis"),
                }))
                .await?;
        }
        "start" => {
            calls
                .scheduling()
                .start_interview(calls.req(scheduling::StartInterviewRequest {
                    request_id,
                    case_id: case_id.into(),
                    interviewers_present: list(&text(form, "interviewers_present")),
                    opening: Some(scheduling::Opening { certificates_shown: on(form, "certificates_shown"), purpose: text(form, "purpose"), basis: text(form, "basis"), participants_announced: on(form, "participants_announced") }),
                    party_representative: text(form, "party_representative"),
                    agent: String::new(),
                }))
                .await?;
        }
        "informing" | "listening" | "agreeing" => {
            use scheduling::record_step_request::Step;
            let lines = |name: &str| text(form, name).lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect::<Vec<_>>();
            let step = match action {
                "informing" => Step::Informing(scheduling::Informing {
                    facts: text(form, "facts"),
                    provisions: lines("provisions"),
                    evidence: lines("evidence"),
                    rights_explained: on(form, "rights_explained"),
                    consequences_explained: on(form, "consequences_explained"),
                    notes: String::new(),
                }),
                "listening" => Step::Listening(scheduling::Listening { statement: text(form, "statement"), difficulties: text(form, "difficulties"), commitments: text(form, "commitments") }),
                _ => {
                    let mut items = Vec::new();
                    for n in 1..=3 {
                        let content = text(form, &format!("item{n}_content"));
                        if content.is_empty() {
                            continue;
                        }
                        items.push(scheduling::RectificationItem {
                            content,
                            deadline: Some(date(&format!("items[{}].deadline", items.len()), &text(form, &format!("item{n}_deadline")))?),
                            acceptance_standard: text(form, &format!("item{n}_standard")),
                            check_method: "书面审查＋现场检查".into(),
                            chief_approval: None,
                        });
                    }
                    Step::Agreeing(scheduling::Agreeing { items })
                }
            };
            calls.scheduling().record_step(calls.req(scheduling::RecordStepRequest { request_id, case_id: case_id.into(), step: Some(step) })).await?;
        }
        "notice" => {
            calls.scheduling().issue_notice(calls.req(scheduling::IssueNoticeRequest { request_id, case_id: case_id.into() })).await?;
        }
        "serve" => {
            let channels: Vec<i32> = [("sms", scheduling::Channel::Sms), ("email", scheduling::Channel::Email), ("egov", scheduling::Channel::Egov)]
                .into_iter()
                .filter(|(name, _)| on(form, name))
                .map(|(_, channel)| channel as i32)
                .collect();
            calls.scheduling().request_service(calls.req(scheduling::RequestServiceRequest { request_id, document_id: text(form, "document_id"), channels })).await?;
        }
        "sign" => {
            calls.scheduling().sign_record(calls.req(scheduling::SignRecordRequest { request_id, record_id: text(form, "record_id") })).await?;
        }
        "rect-notice" => {
            calls
                .rectification()
                .issue_notice(calls.req(rectification::IssueNoticeRequest { request_id, case_id: case_id.into(), legal_basis: text(form, "legal_basis"), consequence: text(form, "consequence"), contact: text(form, "contact") }))
                .await?;
        }
        "ledger" => {
            let method = match text(form, "method").as_str() {
                "phone" => rectification::Method::Phone,
                "site" => rectification::Method::SiteInspection,
                "document" => rectification::Method::DocumentReview,
                _ => return Err(invalid("method", "请选择跟踪方式")),
            };
            calls
                .rectification()
                .add_ledger_entry(calls.req(rectification::AddLedgerEntryRequest {
                    request_id,
                    case_id: case_id.into(),
                    method: method as i32,
                    on: Some(date("on", &text(form, "on"))?),
                    progress: text(form, "progress"),
                    problems: text(form, "problems"),
                    measures: text(form, "measures"),
                    attachment_sha256: Vec::new(),
                }))
                .await?;
        }
        "acceptance" => {
            calls
                .rectification()
                .record_acceptance(calls.req(rectification::RecordAcceptanceRequest {
                    request_id,
                    case_id: case_id.into(),
                    complete: on(form, "complete"),
                    lawful: on(form, "lawful"),
                    goal_reached: on(form, "goal_reached"),
                    comments: text(form, "comments"),
                    evidence_sha256: Vec::new(),
                    reinspect_on: None,
                    follow_up: text(form, "follow_up"),
                }))
                .await?;
        }
        _ => return Err(Failure::Unknown),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn officer_lists_split_on_chinese_and_ascii_separators() {
        assert_eq!(list("officer-a，officer-b、 officer-c"), vec!["officer-a", "officer-b", "officer-c"]);
    }

    #[test]
    fn a_local_time_is_china_standard_time() {
        let at = local_time("interview_at", "2026-12-01T10:00").ok().unwrap();
        assert_eq!(yuetan_platform::fields::from_timestamp(Some(&at)).unwrap().to_rfc3339(), "2026-12-01T02:00:00+00:00");
        assert!(local_time("interview_at", "明天").is_err());
    }
}
