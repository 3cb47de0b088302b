//! The monthly draw (R-SUP-1), file scores, return visits (R-SUP-4) and reports (R-SUP-7).

use std::collections::BTreeMap;

use uuid::Uuid;
use yuetan_platform::auth::DivisionCode;
use yuetan_platform::batch::WriteBatch;
use yuetan_platform::fields::{cst_date, date, optional, parse_date, parse_uuid, required, timestamp};
use yuetan_platform::requests::{self, RequestKey};
use yuetan_platform::{Actor, Error};
use yuetan_proto::supervision as pb;

use crate::api::prefix_of;
use crate::domain::sampling::{self as rules, Period};
use crate::flow::sampling as flow;
use crate::store::sampling::{self as sql, ReturnVisitRow, SampleRow, SampledFileRow};
use crate::State;

fn division_of(actor: &Actor, field: &str, value: &str) -> Result<DivisionCode, Error> {
    let division = if value.is_empty() { actor.division.clone() } else { DivisionCode::parse(value).map_err(|_| Error::invalid(field, "a six-digit division code"))? };
    actor.require_scope(&division, &[])?;
    Ok(division)
}

/// The sample or return visit `row` (found by `id`), if the caller's
/// jurisdiction covers its division. One of another jurisdiction and one
/// that does not exist get the same answer, word for word — permission
/// denied, naming the caller's jurisdiction — so the answer is no oracle
/// of what other divisions hold.
fn within_jurisdiction<T>(actor: &Actor, what: &str, id: Uuid, row: Option<T>, division: impl Fn(&T) -> &str) -> Result<T, Error> {
    match row {
        Some(row) if actor.require_scope_of(division(&row), &[]).is_ok() => Ok(row),
        _ => Err(Error::PermissionDenied(format!("no {what} {id} within the jurisdiction of {}", actor.division))),
    }
}

fn file_proto(f: &SampledFileRow, section: &str) -> pb::SampledFile {
    let point = |p: Option<i32>| p.map(|p| p.max(0) as u32).unwrap_or(0);
    pb::SampledFile {
        case_id: f.case_id.to_string(),
        number: f.number.clone(),
        section: section.to_string(),
        scored: f.scored,
        lawful_start: point(f.lawful_start),
        standard_documents: point(f.standard_documents),
        timely_tracking: point(f.timely_tracking),
        comment: f.comment.clone().unwrap_or_default(),
        scored_by: f.scored_by.clone().unwrap_or_default(),
    }
}

fn sample_proto(s: &SampleRow, files: Vec<pb::SampledFile>) -> pb::Sample {
    pb::Sample {
        sample_id: s.id.to_string(),
        division: s.division.clone(),
        section: s.section.clone(),
        month: s.month.clone(),
        seed: s.seed.clone(),
        population: s.population.max(0) as u32,
        files,
        drawn_at: Some(timestamp(s.drawn_at)),
    }
}

fn visit_proto(v: &ReturnVisitRow) -> pb::ReturnVisit {
    pb::ReturnVisit {
        visit_id: v.id.to_string(),
        case_id: v.case_id.to_string(),
        number: v.number.clone(),
        division: v.division.clone(),
        section: v.section.clone(),
        quarter: v.quarter.clone(),
        assigned_to: v.assigned_to.clone(),
        done: v.done,
        method: v.method.clone().unwrap_or_default(),
        outcome: v.outcome.clone().unwrap_or_default(),
        visited_on: v.visited_on.map(date),
    }
}

pub async fn list_samples(state: &State, actor: &Actor, req: &pb::ListSamplesRequest) -> Result<pb::ListSamplesResponse, Error> {
    let month = if req.month.is_empty() { None } else { Some(rules::parse_month(&req.month).map(|(y, m)| rules::month_key(y, m)).ok_or_else(|| Error::invalid("month", "a month like 2026-09"))?) };
    let division = division_of(actor, "division", &req.division)?;
    let mut conn = state.pool.acquire().await?;
    let samples = sql::samples(&mut conn, prefix_of(division.as_str()), month.as_deref()).await?;
    let ids: Vec<Uuid> = samples.iter().map(|s| s.id).collect();
    let mut files: BTreeMap<Uuid, Vec<SampledFileRow>> = BTreeMap::new();
    for f in sql::files_of_samples(&mut conn, &ids).await? {
        files.entry(f.sample_id).or_default().push(f);
    }
    let samples = samples
        .iter()
        .map(|s| sample_proto(s, files.get(&s.id).map(|fs| fs.iter().map(|f| file_proto(f, &s.section)).collect()).unwrap_or_default()))
        .collect();
    Ok(pb::ListSamplesResponse { samples })
}

fn point(field: &str, value: u32) -> Result<i32, Error> {
    if value > rules::MAX_POINT_SCORE {
        return Err(Error::invalid(field, format!("{value} is out of range; a score is 0–{}", rules::MAX_POINT_SCORE)));
    }
    Ok(value as i32)
}

pub async fn score_file(state: &State, actor: &Actor, req: &pb::ScoreFileRequest) -> Result<pb::ScoreFileResponse, Error> {
    let sample_id = parse_uuid("sample_id", &req.sample_id)?;
    let case_id = parse_uuid("case_id", &req.case_id)?;
    let lawful_start = point("lawful_start", req.lawful_start)?;
    let standard_documents = point("standard_documents", req.standard_documents)?;
    let timely_tracking = point("timely_tracking", req.timely_tracking)?;
    let comment = optional("comment", &req.comment, rules::MAX_COMMENT)?;
    let key = RequestKey::new(&actor.officer_id, &req.request_id, "ScoreFile", req)?;
    let mut tx = state.pool.begin().await?;
    if let Some(done) = requests::replay(&mut tx, &state.vault, &key).await? {
        return Ok(done);
    }
    let sample = within_jurisdiction(actor, "sample", sample_id, sql::sample(&mut tx, sample_id).await?, |s| &s.division)?;
    let file = sql::sampled_file(&mut tx, sample_id, case_id).await?.ok_or_else(|| Error::NotFound(format!("case {case_id} is not drawn in sample {sample_id}")))?;
    let scored = SampledFileRow {
        scored: true,
        lawful_start: Some(lawful_start),
        standard_documents: Some(standard_documents),
        timely_tracking: Some(timely_tracking),
        comment: Some(comment),
        scored_by: Some(actor.officer_id.clone()),
        ..file.clone()
    };
    if file.scored {
        let same = (file.lawful_start, file.standard_documents, file.timely_tracking, &file.comment, &file.scored_by)
            == (scored.lawful_start, scored.standard_documents, scored.timely_tracking, &scored.comment, &scored.scored_by);
        if !same {
            return Err(Error::FailedPrecondition(format!("case {case_id} of sample {sample_id} is already scored; a file is scored once")));
        }
    } else {
        let now = state.clock.now();
        flow::score(state, &mut tx, &sample, &scored, &actor.organ, now).await?;
    }
    let response = pb::ScoreFileResponse { file: Some(file_proto(&scored, &sample.section)) };
    requests::commit(&state.pool, &state.vault, tx, WriteBatch::new(), &key, response, state.clock.now()).await
}

pub async fn list_return_visits(state: &State, actor: &Actor, req: &pb::ListReturnVisitsRequest) -> Result<pb::ListReturnVisitsResponse, Error> {
    let quarter = if req.quarter.is_empty() { None } else { Some(rules::parse_quarter(&req.quarter).map(|(y, q)| rules::quarter_key(y, q)).ok_or_else(|| Error::invalid("quarter", "a quarter like 2026Q3"))?) };
    let division = division_of(actor, "division", &req.division)?;
    let mut conn = state.pool.acquire().await?;
    let visits = sql::return_visits(&mut conn, prefix_of(division.as_str()), quarter.as_deref()).await?;
    Ok(pb::ListReturnVisitsResponse { visits: visits.iter().map(visit_proto).collect() })
}

pub async fn record_return_visit(state: &State, actor: &Actor, req: &pb::RecordReturnVisitRequest) -> Result<pb::RecordReturnVisitResponse, Error> {
    let visit_id = parse_uuid("visit_id", &req.visit_id)?;
    let method = match req.method.as_str() {
        m @ ("phone" | "site") => m,
        _ => return Err(Error::invalid("method", "phone or site")),
    };
    let outcome = required("outcome", &req.outcome, rules::MAX_OUTCOME)?;
    let visited_on = parse_date("visited_on", req.visited_on.as_ref())?.ok_or_else(|| Error::invalid("visited_on", "is required"))?;
    let now = state.clock.now();
    if visited_on > cst_date(now) {
        return Err(Error::invalid("visited_on", "may not be in the future"));
    }
    let key = RequestKey::new(&actor.officer_id, &req.request_id, "RecordReturnVisit", req)?;
    let mut tx = state.pool.begin().await?;
    if let Some(done) = requests::replay(&mut tx, &state.vault, &key).await? {
        return Ok(done);
    }
    let visit = within_jurisdiction(actor, "return visit", visit_id, sql::return_visit(&mut tx, visit_id, true).await?, |v| &v.division)?;
    let after = ReturnVisitRow { done: true, method: Some(method.into()), outcome: Some(outcome.clone()), visited_on: Some(visited_on), ..visit.clone() };
    if visit.done {
        if (&visit.method, &visit.outcome, visit.visited_on) != (&after.method, &after.outcome, after.visited_on) {
            return Err(Error::FailedPrecondition(format!("return visit {visit_id} is already recorded")));
        }
    } else {
        flow::record_visit(state, &mut tx, &visit, method, &outcome, visited_on, &actor.officer_id, &actor.organ, now).await?;
    }
    let response = pb::RecordReturnVisitResponse { visit: Some(visit_proto(&after)) };
    requests::commit(&state.pool, &state.vault, tx, WriteBatch::new(), &key, response, now).await
}

pub async fn get_report(state: &State, actor: &Actor, req: &pb::GetReportRequest) -> Result<pb::GetReportResponse, Error> {
    let period = Period::parse(&req.period).ok_or_else(|| Error::invalid("period", "a month 2026-09, a quarter 2026Q3, a half 2026H1 or a year 2026"))?;
    let division = division_of(actor, "division", &req.division)?;
    let mut conn = state.pool.acquire().await?;
    let report = flow::build_report(&mut conn, division.as_str(), period).await?;
    Ok(pb::GetReportResponse { title: report.title, pdf: report.pdf, csv: report.csv, sha256: report.sha256 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inspector(division: &str, serves: &[&str]) -> Actor {
        Actor {
            officer_id: "di".into(),
            name: "纪检".into(),
            organ: format!("{division}-SJ"),
            division: DivisionCode::parse(division).unwrap(),
            roles: vec!["discipline_inspector".into()],
            qualifications: vec![],
            serves: serves.iter().map(|d| DivisionCode::parse(d).unwrap()).collect(),
        }
    }

    #[test]
    fn another_jurisdictions_sample_and_a_missing_one_get_the_same_denial() {
        let id = Uuid::nil();
        let of_chengguan = || Some("620102".to_string());
        let neighbour = inspector("620103", &[]);
        let foreign = within_jurisdiction(&neighbour, "sample", id, of_chengguan(), |d| d.as_str()).unwrap_err();
        let missing = within_jurisdiction(&neighbour, "sample", id, None::<String>, |d| d.as_str()).unwrap_err();
        assert!(matches!(foreign, Error::PermissionDenied(_)), "{foreign:?}");
        assert_eq!(foreign.to_string(), missing.to_string(), "no oracle of existence");
        assert!(foreign.to_string().contains("jurisdiction of 620103") && !foreign.to_string().contains("620102"), "{foreign}");
        for (caller, serves) in [("620102", &[][..]), ("620100", &[]), ("620000", &[]), ("630000", &["620102"])] {
            let found = within_jurisdiction(&inspector(caller, serves), "sample", id, of_chengguan(), |d| d.as_str());
            assert_eq!(found.unwrap(), "620102", "{caller} {serves:?}");
        }
    }
}
