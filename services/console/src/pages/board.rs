//! The board: for a division (the officer's own by default), the
//! red/yellow/green grid of its units (county → city → province: a row's
//! division opens its own board), KPIs beside their targets, the open cards,
//! the daily roll-up of any date (htmx swaps the roll-up alone; without
//! JavaScript the form reloads the page), the month's sample, and the
//! period's report as PDF or CSV. Which divisions the officer may see is
//! supervision's answer.

use axum::extract::{Query, State as AxumState};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use maud::{html, Markup};
use serde::Deserialize;
use yuetan_proto::supervision as pb;

use crate::backend::Calls;
use crate::pages::layout::{self, Nav};
use crate::session::Session;
use crate::web::Shared;
use crate::zh;

#[derive(Debug, Deserialize, Default)]
pub struct BoardQuery {
    division: Option<String>,
    date: Option<String>,
    period: Option<String>,
    format: Option<String>,
}

fn bounded(value: Option<&String>, max: usize) -> Option<String> {
    value.filter(|v| !v.is_empty() && v.len() <= max && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')).cloned()
}

pub async fn page(AxumState(state): Shared, session: Session, headers: HeaderMap, Query(query): Query<BoardQuery>) -> Response {
    let division = bounded(query.division.as_ref(), 6).unwrap_or_else(|| session.officer.division.clone());
    let today = yuetan_platform::fields::cst_date(state.clock.now());
    let day = bounded(query.date.as_ref(), 10).and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()).unwrap_or(today);
    let month = day.format("%Y-%m").to_string();
    let period = bounded(query.period.as_ref(), 7).unwrap_or_else(|| month.clone());
    let calls = match Calls::new(&state.channels, &state.tokens, &session.officer) {
        Ok(calls) => calls,
        Err(err) => return layout::error_page(&err.to_string()).into_response(),
    };
    let rollup = calls.supervision().get_rollup(calls.req(pb::GetRollupRequest { division: division.clone(), date: Some(yuetan_platform::fields::date(day)) })).await.map(tonic::Response::into_inner);
    // htmx asks for the roll-up alone.
    if headers.get("hx-request").is_some() {
        return rollup_section(day, rollup.as_ref().ok()).into_response();
    }
    let (board, cards, samples) = tokio::join!(
        async { calls.supervision().get_board(calls.req(pb::GetBoardRequest { division: division.clone(), period: period.clone() })).await },
        async { calls.supervision().list_cards(calls.req(pb::ListCardsRequest { division: division.clone(), page_size: 200, ..Default::default() })).await },
        async { calls.supervision().list_samples(calls.req(pb::ListSamplesRequest { division: division.clone(), month: month.clone() })).await },
    );
    let board = match board {
        Ok(board) => board.into_inner(),
        Err(status) => return crate::web::status_page(&status),
    };
    let cards = cards.map(|c| c.into_inner().cards).unwrap_or_default();
    let samples = samples.map(|s| s.into_inner().samples).unwrap_or_default();
    let body = html! {
        h1 { "督办看板 · " (division) }
        form method="get" action="/board" class="inline-form" {
            input type="hidden" name="division" value=(division);
            label for="period" { "统计期间" } input id="period" name="period" value=(period) size="8";
            button type="submit" { "查看" }
            " "
            a class="button" href={ "/board/report?division=" (division) "&period=" (period) "&format=pdf" } { "下载报告（PDF）" }
            " "
            a class="button" href={ "/board/report?division=" (division) "&period=" (period) "&format=csv" } { "下载报告（CSV）" }
        }
        section class="card" aria-labelledby="grid-h" {
            h2 id="grid-h" { "红黄绿督办" }
            table class="list grid" id="board-grid" {
                thead { tr { th scope="col" { "单位" } th scope="col" { "正常" } th scope="col" { "临期" } th scope="col" { "逾期" } th scope="col" { "得分" } } }
                tbody {
                    @for row in board.rows.iter().chain(board.total.iter()) {
                        tr {
                            th scope="row" {
                                @if !row.division.is_empty() && row.division != division { a href={ "/board?division=" (row.division) } { (unit(row)) } } @else { (unit(row)) }
                            }
                            td class="green" { (row.green) } td class="yellow" { (row.yellow) } td class="red" { (row.red) }
                            td { (format!("{:.1}", row.score)) @if row.warned { " · 预警" } }
                        }
                    }
                }
            }
        }
        @if let Some(total) = &board.total {
            section class="card" aria-labelledby="kpi-h" {
                h2 id="kpi-h" { "考核指标" }
                table class="list" id="kpis" {
                    thead { tr { th scope="col" { "指标" } th scope="col" { "实际" } th scope="col" { "目标" } th scope="col" { "达标" } } }
                    tbody { @for kpi in &total.kpis { tr {
                        @let points = kpi.name == "satisfaction";
                        td { (zh::kpi(&kpi.name)) }
                        td { @if !kpi.has_value { "—" } @else if points { (format!("{:.1}", kpi.value)) } @else { (format!("{:.1}%", kpi.value * 100.0)) " （" (kpi.numerator) "/" (kpi.denominator) "）" } }
                        td { @if kpi.target == 0.0 { "逐年下降" } @else if points { (format!("{:.0}", kpi.target)) } @else { (format!("{:.0}%", kpi.target * 100.0)) } }
                        td { @if !kpi.has_value { "—" } @else if kpi.meets_target { "达标" } @else { span class="overdue" { "未达标" } } }
                    } } }
                }
            }
        }
        section class="card" aria-labelledby="cards-h" {
            h2 id="cards-h" { "在办督办卡片" }
            @if cards.is_empty() { p class="muted" { "暂无在办卡片。" } } @else {
                ul class="cards" id="board-cards" {
                    @for card in cards.iter().filter(|c| !c.closed) {
                        li class={ "cardlet " (zh::colour(card.colour).0) } data-subject=(card.subject_id) {
                            // A clue's card has no case yet: it opens the clue.
                            a href=(if card.case_id.is_empty() { format!("/clues/{}", card.subject_id) } else { format!("/cases/{}", card.case_id) }) { (zh::step(&card.step)) }
                            " · " (zh::colour(card.colour).1) " · 期限 " (zh::proto_date(card.deadline.as_ref()))
                        }
                    }
                }
            }
        }
        form method="get" action="/board" class="inline-form" hx-get="/board" hx-target="#rollup" hx-swap="outerHTML" {
            input type="hidden" name="division" value=(division);
            label for="date" { "日报日期" } input id="date" name="date" type="date" value=(day.format("%Y-%m-%d"));
            button type="submit" { "查看日报" }
        }
        (rollup_section(day, rollup.as_ref().ok()))
        section class="card" aria-labelledby="sample-h" {
            h2 id="sample-h" { (month) " 案卷抽查" }
            @if samples.is_empty() { p class="muted" { "本月尚未抽取。" } }
            @for sample in &samples {
                p { (sample.section) "：从 " (sample.population) " 件中抽取 " (sample.files.len()) " 件（随机种子 " code { (sample.seed) } "）" }
                ul { @for file in &sample.files { li { a href={ "/cases/" (file.case_id) } { (file.number) } @if file.scored { " · 已评分" } } } }
            }
        }
    };
    layout::page(Some(&session), Nav::Board, "督办看板", body).into_response()
}

/// A row's name: its section (承办科室), its division, or the total.
fn unit(row: &pb::BoardRow) -> String {
    if !row.section.is_empty() {
        row.section.clone()
    } else if row.unit.is_empty() || row.unit == row.division {
        if row.division.is_empty() { "合计".into() } else { format!("{} 合计", row.division) }
    } else {
        row.unit.clone()
    }
}

fn rollup_section(day: NaiveDate, rollup: Option<&pb::GetRollupResponse>) -> Markup {
    html! {
        section class="card" id="rollup" aria-labelledby="rollup-h" {
            h2 id="rollup-h" { (zh::date(day)) " 日报" }
            @match rollup.and_then(|r| r.total.as_ref().map(|t| (r, t))) {
                None => p class="muted" { "该日尚无汇总。" },
                Some((rollup, total)) => {
                    p { "在办 " strong { (total.open) } " 件 · 新增 " (total.new_cases) " · 办结 " (total.closed) " · 临期 " (total.yellow) " · 逾期 " (total.red) " · 逾期率 " (format!("{:.1}%", total.overdue_rate * 100.0)) }
                    @if !rollup.children.is_empty() {
                        table class="list" {
                            thead { tr { th scope="col" { "下级区划" } th scope="col" { "在办" } th scope="col" { "临期" } th scope="col" { "逾期" } } }
                            tbody { @for line in &rollup.children { tr { td { a href={ "/board?division=" (line.division) } { (line.division) } } td { (line.open) } td { (line.yellow) } td { (line.red) } } } }
                        }
                    }
                    p class="muted" { "汇总生成于 " (zh::time(rollup.made_at.as_ref())) "，摘要 " code { (&rollup.digest[..rollup.digest.len().min(12)]) } }
                }
            }
        }
    }
}

/// The period's report (supervision renders it), as a download.
pub async fn report(AxumState(state): Shared, session: Session, Query(query): Query<BoardQuery>) -> Response {
    let division = bounded(query.division.as_ref(), 6).unwrap_or_else(|| session.officer.division.clone());
    let Some(period) = bounded(query.period.as_ref(), 7) else {
        return (StatusCode::BAD_REQUEST, layout::error_page("请填写统计期间，例如 2026-11、2026Q4、2026H2 或 2026。")).into_response();
    };
    let calls = match Calls::new(&state.channels, &state.tokens, &session.officer) {
        Ok(calls) => calls,
        Err(err) => return layout::error_page(&err.to_string()).into_response(),
    };
    let report = match calls.supervision().get_report(calls.req(pb::GetReportRequest { division: division.clone(), period: period.clone() })).await {
        Ok(report) => report.into_inner(),
        Err(status) => return crate::web::status_page(&status),
    };
    let csv = query.format.as_deref() == Some("csv");
    let (body, kind, ext) = if csv { (report.csv.into_bytes(), "text/csv; charset=utf-8", "csv") } else { (report.pdf, "application/pdf", "pdf") };
    let disposition = format!("attachment; filename=\"report-{division}-{period}.{ext}\"");
    (StatusCode::OK, [(header::CONTENT_TYPE, kind.to_string()), (header::CONTENT_DISPOSITION, disposition)], body).into_response()
}
