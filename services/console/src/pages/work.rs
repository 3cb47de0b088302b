//! My work: every task the officer holds across the services — clues to
//! verify, reviews, approvals and document reviews, interview plans and
//! notices, services needing an officer, records to sign, rectifications
//! (ledger, report, acceptance) and complaints — sorted by least time
//! left, each with its card colour and working days left, with counts by
//! kind. A service that refuses the officer's role simply contributes no
//! tasks: what the officer holds is what the services give them.

use std::collections::HashMap;

use axum::extract::State as AxumState;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use maud::html;
use tonic::Code;
use yuetan_proto::{intake, rectification, review, scheduling, supervision};

use crate::backend::Calls;
use crate::pages::layout::{self, Nav};
use crate::session::Session;
use crate::web::Shared;
use crate::{zh, State};

/// One task on the list.
#[derive(Debug, Clone)]
pub struct Item {
    pub kind: &'static str,
    pub title: String,
    pub href: String,
    /// The case (or, for a clue, the clue) whose card colours the task.
    pub case_id: String,
    pub deadline: Option<NaiveDate>,
}

/// Working days from `today` to `deadline`: positive left, negative overdue.
pub fn working_days_left(state: &State, today: NaiveDate, deadline: NaiveDate) -> i64 {
    let calendar = state.calendar.current();
    if deadline >= today {
        calendar.working_days_between(today, deadline).map(|a| i64::from(a.value)).unwrap_or(0)
    } else {
        -calendar.working_days_between(deadline, today).map(|a| i64::from(a.value)).unwrap_or(0)
    }
}

pub fn days_left_words(days: Option<i64>) -> String {
    match days {
        None => "—".into(),
        Some(0) => "今日到期".into(),
        Some(d) if d > 0 => format!("剩余 {d} 个工作日"),
        Some(d) => format!("已逾期 {} 个工作日", -d),
    }
}

/// Collects the officer's tasks from every service, concurrently.
pub async fn collect(calls: &Calls, session: &Session) -> Result<(Vec<Item>, HashMap<String, i32>), tonic::Status> {
    let (clues, tasks, plans, services, records, queue, complaints, cards) = tokio::join!(
        async { calls.intake().list_clues(calls.req(intake::ListCluesRequest { status: intake::ClueStatus::Registered as i32, page_size: 100, page_token: String::new() })).await },
        async { calls.review().list_my_tasks(calls.req(review::ListMyTasksRequest { include_decided: false, page_size: 100, page_token: String::new() })).await },
        async { calls.scheduling().list_plans(calls.req(scheduling::ListPlansRequest { page_size: 100, awaiting_notice_only: false })).await },
        async { calls.scheduling().list_open_services(calls.req(scheduling::ListOpenServicesRequest { page_size: 100 })).await },
        async { calls.scheduling().list_records_to_sign(calls.req(scheduling::ListRecordsToSignRequest { page_size: 100 })).await },
        async { calls.rectification().list_queue(calls.req(rectification::ListQueueRequest { page_size: 100 })).await },
        async { calls.supervision().list_complaints(calls.req(supervision::ListComplaintsRequest { division: session.officer.division.clone(), status: String::new() })).await },
        async { calls.supervision().list_cards(calls.req(supervision::ListCardsRequest { division: session.officer.division.clone(), page_size: 500, ..Default::default() })).await },
    );
    // An expired token ends the session; a refused role gives no tasks.
    fn ok<T>(answer: Result<tonic::Response<T>, tonic::Status>) -> Result<Option<T>, tonic::Status> {
        match answer {
            Ok(response) => Ok(Some(response.into_inner())),
            Err(status) if status.code() == Code::Unauthenticated => Err(status),
            Err(status) => {
                if !matches!(status.code(), Code::PermissionDenied | Code::NotFound) {
                    tracing::warn!(code = ?status.code(), message = status.message(), "my work: a service did not answer");
                }
                Ok(None)
            }
        }
    }
    let mut items = Vec::new();
    for clue in ok(clues)?.map(|r| r.clues).unwrap_or_default() {
        items.push(Item { kind: "待核查线索", title: format!("{} {}", zh::clue_status(clue.status), clue.facts.chars().take(30).collect::<String>()), href: format!("/clues/{}", clue.id), case_id: clue.id.clone(), deadline: zh::parse(clue.verification_deadline.as_ref()) });
    }
    for task in ok(tasks)?.map(|r| r.tasks).unwrap_or_default() {
        let kind = match task.kind {
            1 => "法制审核",
            2 => "审批",
            _ => "文书审核",
        };
        let title = match &task.document {
            Some(document) => format!("{} {}", task.case_number, document.title),
            None => task.case_number.clone(),
        };
        items.push(Item { kind, title, href: format!("/cases/{}", task.case_id), case_id: task.case_id.clone(), deadline: zh::parse(task.deadline.as_ref()) });
    }
    for plan in ok(plans)?.map(|r| r.plans).unwrap_or_default() {
        let kind = match plan.status {
            1 => "制定约谈方案",
            2 | 4 => "制发约谈通知",
            7 => "约谈改期",
            _ => continue,
        };
        items.push(Item { kind, title: format!("{} {}", plan.case_number, plan.party_name), href: format!("/cases/{}", plan.case_id), case_id: plan.case_id.clone(), deadline: zh::parse(plan.notice_deadline.as_ref()) });
    }
    for service in ok(services)?.map(|r| r.services).unwrap_or_default() {
        if service.status != scheduling::ServiceStatus::AwaitingOfficer as i32 {
            continue;
        }
        items.push(Item { kind: "文书送达", title: format!("{} {}", service.document_number, service.document_name), href: format!("/cases/{}", service.case_id), case_id: service.case_id.clone(), deadline: None });
    }
    for record in ok(records)?.map(|r| r.records).unwrap_or_default() {
        items.push(Item { kind: "签署笔录", title: format!("笔录 {}", record.number), href: format!("/cases/{}", record.case_id), case_id: record.case_id.clone(), deadline: None });
    }
    for rect in ok(queue)?.map(|r| r.rectifications).unwrap_or_default() {
        let (kind, due) = match rect.status.as_str() {
            "reported" => ("整改验收", rect.acceptance_due.as_ref()),
            "open" if rect.notice_document_id.is_empty() => ("制发整改通知", rect.deadline.as_ref()),
            "open" => ("整改跟踪", rect.report_due.as_ref().or(rect.deadline.as_ref())),
            _ => continue,
        };
        items.push(Item { kind, title: format!("{} {}", rect.case_number, rect.party_name), href: format!("/cases/{}", rect.case_id), case_id: rect.case_id.clone(), deadline: zh::parse(due) });
    }
    for complaint in ok(complaints)?.map(|r| r.complaints).unwrap_or_default() {
        if complaint.status == "decided" || complaint.status == "closed" {
            continue;
        }
        items.push(Item { kind: "投诉处理", title: complaint.description.chars().take(30).collect(), href: if complaint.case_id.is_empty() { "/board".into() } else { format!("/cases/{}", complaint.case_id) }, case_id: complaint.case_id.clone(), deadline: zh::parse(complaint.investigation_deadline.as_ref()) });
    }
    // The worst open card of each case.
    let mut colours: HashMap<String, i32> = HashMap::new();
    for card in ok(cards)?.map(|r| r.cards).unwrap_or_default() {
        if card.closed {
            continue;
        }
        // A clue's card has no case yet: it is found by the clue's id.
        for key in [&card.case_id, &card.subject_id] {
            if !key.is_empty() {
                let worst = colours.entry(key.clone()).or_insert(0);
                *worst = (*worst).max(card.colour);
            }
        }
    }
    items.sort_by_key(|item| (item.deadline.is_none(), item.deadline));
    Ok((items, colours))
}

/// Everything the page shows: the tasks, their colours, and the newest
/// cases of the officer's jurisdiction.
pub struct MyWork {
    pub items: Vec<Item>,
    pub colours: HashMap<String, i32>,
    pub cases: Vec<intake::Case>,
}

/// Every gRPC call the page makes, concurrently.
pub async fn load(calls: &Calls, session: &Session) -> Result<MyWork, tonic::Status> {
    let (work, cases) = tokio::join!(
        collect(calls, session),
        async { calls.intake().list_cases(calls.req(intake::ListCasesRequest { page_size: 20, ..Default::default() })).await },
    );
    let (items, colours) = work?;
    let cases = match cases {
        Ok(cases) => cases.into_inner().cases,
        Err(status) if status.code() == Code::Unauthenticated => return Err(status),
        Err(_) => Vec::new(),
    };
    Ok(MyWork { items, colours, cases })
}

pub async fn page(AxumState(state): Shared, session: Session) -> Response {
    let calls = match Calls::new(&state.channels, &state.tokens, &session.officer) {
        Ok(calls) => calls,
        Err(err) => return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, layout::error_page(&err.to_string())).into_response(),
    };
    let MyWork { items, colours, cases } = match load(&calls, &session).await {
        Ok(found) => found,
        Err(status) => return crate::web::status_page(&status),
    };
    let today = yuetan_platform::fields::cst_date(state.clock.now());
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for item in &items {
        match counts.iter_mut().find(|(kind, _)| *kind == item.kind) {
            Some((_, n)) => *n += 1,
            None => counts.push((item.kind, 1)),
        }
    }
    let body = html! {
        h1 { "我的工作" }
        p class="muted" { "今天是 " (zh::date(today)) "，共 " span id="task-total" { (items.len()) } " 项待办。" }
        @if !counts.is_empty() {
            ul class="counts" aria-label="按类型统计" {
                @for (kind, n) in &counts { li { (kind) " " strong { (n) } } }
            }
        }
        @if items.is_empty() {
            p class="card" { "暂无待办事项。" }
        } @else {
            table class="list" id="tasks" {
                caption class="sr" { "待办事项，按剩余时间排序" }
                thead { tr { th scope="col" { "督办" } th scope="col" { "事项" } th scope="col" { "案件 / 内容" } th scope="col" { "期限" } th scope="col" { "剩余时间" } } }
                tbody {
                    @for item in &items {
                        @let days = item.deadline.map(|d| working_days_left(&state, today, d));
                        tr {
                            td { (layout::colour_mark(colours.get(&item.case_id).copied().unwrap_or(0))) }
                            td { (item.kind) }
                            td { a href=(item.href) { (item.title) } }
                            td { (item.deadline.map(zh::date).unwrap_or_else(|| "—".into())) }
                            td class=[days.filter(|d| *d < 0).map(|_| "overdue")] { (days_left_words(days)) }
                        }
                    }
                }
            }
        }
        section class="card" aria-labelledby="cases-h" {
            h2 id="cases-h" { "本辖区最近的案件" }
            @if cases.is_empty() { p class="muted" { "暂无案件。" } } @else {
                table class="list" id="cases" {
                    thead { tr { th scope="col" { "督办" } th scope="col" { "案号" } th scope="col" { "当事人" } th scope="col" { "状态" } th scope="col" { "立案时间" } } }
                    tbody { @for case in &cases { tr {
                        td { (layout::colour_mark(colours.get(&case.id).copied().unwrap_or(0))) }
                        td { a href={ "/cases/" (case.id) } { (if case.number.is_empty() { "（未编号）" } else { &case.number }) } }
                        td { (case.party_name) }
                        td { (zh::case_status(case.status)) @if case.under_relief { " · 救济中" } }
                        td { (zh::time(case.opened_at.as_ref())) }
                    } } }
                }
            }
        }
    };
    layout::page(Some(&session), Nav::Work, "我的工作", body).into_response()
}
