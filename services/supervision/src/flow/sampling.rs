//! The monthly draw (R-SUP-1), scores, return visits (R-SUP-4): changes, timers and the rebuild from supervision's own events.
//! Also the reports (R-SUP-7), built from the read model alone, and the
//! verification of a published draw (`yuetan supervision sample --verify`).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_documents::supervision_report::{ReportRenderer, ReportTable, SupervisionReport};
use yuetan_documents::FontConfig;
use yuetan_platform::audit::{self, AuditEntry, By};
use yuetan_platform::fields::{cst_date, date, from_timestamp, parse_date};
use yuetan_platform::timers::{self, Timer};
use yuetan_platform::Error;
use yuetan_proto::events::{self as ev, event::Payload, Event};

use crate::domain::sampling::{self as rules, Period};
use crate::domain::{self, Kpi};
use crate::store::sampling::{self as sql, ReturnVisitRow, SampleRow, SampledFileRow};
use crate::store::{self, FileRow};
use crate::State;

/// Fires at 09:00 CST on the first working day of a month (key "2026-10")
/// and draws the month before.
pub const MONTHLY_TIMER: &str = "supervision.monthly";
/// Fires at 09:00 CST on the first working day of a quarter (key "2026Q4")
/// and draws the return visits of the quarter before.
pub const QUARTERLY_TIMER: &str = "supervision.quarterly";
const BY: By<'static> = By::Service(crate::SERVICE);

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(e.to_string())
}

/// In a rebuild the consumer applies events without a case, and those of
/// different cases, in parallel lanes: a row an event needs may not be
/// there yet. The event fails and is redelivered (live the row is always
/// there: the same transaction wrote it).
fn not_yet(what: String) -> Error {
    Error::Unavailable(format!("{what} is not applied yet; retried"))
}

async fn number(conn: &mut PgConnection, case_id: Uuid) -> Result<String, Error> {
    sql::number_of_case(conn, case_id).await?.ok_or_else(|| not_yet(format!("the file of case {case_id}")))
}

fn uuid(field: &str, s: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(s).map_err(|e| Error::Internal(format!("{field} {s:?}: {e}")))
}

/// Applies supervision's own sample, score and return-visit events to the read model (a no-op
/// when the row is already there: live; the rebuild fills it).
pub async fn on_event(_state: &State, conn: &mut PgConnection, event: &Event, _event_id: Uuid) -> Result<(), Error> {
    match &event.payload {
        Some(Payload::SampleDrawn(s)) => {
            let id = uuid("sample_id", &s.sample_id)?;
            if sql::sample(conn, id).await?.is_some() {
                return Ok(());
            }
            let row = SampleRow {
                id,
                division: s.division.clone(),
                section: s.section.clone(),
                month: s.month.clone(),
                seed: s.seed.clone(),
                previous_digest: s.previous_digest.clone(),
                population: i32::try_from(s.population).unwrap_or(i32::MAX),
                percent: i32::try_from(s.percent).unwrap_or(i32::MAX),
                drawn_at: from_timestamp(event.occurred_at.as_ref()).unwrap_or_default(),
            };
            if sql::insert_sample(conn, &row).await? {
                for case in &s.case_ids {
                    let case_id = uuid("case_id", case)?;
                    let number = number(conn, case_id).await?;
                    sql::insert_sampled_file(conn, id, case_id, &number).await?;
                }
            }
        }
        Some(Payload::FileScored(f)) => {
            let row = SampledFileRow {
                sample_id: uuid("sample_id", &f.sample_id)?,
                case_id: uuid("case_id", &f.case_id)?,
                number: String::new(),
                scored: true,
                lawful_start: Some(f.lawful_start as i32),
                standard_documents: Some(f.standard_documents as i32),
                timely_tracking: Some(f.timely_tracking as i32),
                comment: Some(f.comment.clone()),
                scored_by: Some(f.scored_by.clone()),
            };
            if sql::sampled_file(conn, row.sample_id, row.case_id).await?.is_none() {
                return Err(not_yet(format!("case {} of sample {}", row.case_id, row.sample_id)));
            }
            sql::score_file(conn, &row).await?;
        }
        Some(Payload::ReturnVisitsDrawn(d)) => {
            for v in &d.visits {
                let case_id = uuid("case_id", &v.case_id)?;
                let row = ReturnVisitRow {
                    id: uuid("visit_id", &v.visit_id)?,
                    division: d.division.clone(),
                    section: v.section.clone(),
                    quarter: d.quarter.clone(),
                    case_id,
                    number: number(conn, case_id).await?,
                    assigned_to: v.assigned_to.clone(),
                    done: false,
                    method: None,
                    outcome: None,
                    visited_on: None,
                };
                sql::insert_return_visit(conn, &row).await?;
            }
        }
        Some(Payload::ReturnVisitRecorded(r)) => {
            let visited_on = parse_date("visited_on", r.visited_on.as_ref()).map_err(internal)?.unwrap_or_default();
            let id = uuid("visit_id", &r.visit_id)?;
            if sql::return_visit(conn, id, true).await?.is_none() {
                return Err(not_yet(format!("return visit {id}")));
            }
            sql::record_visit(conn, id, &r.method, &r.outcome, visited_on).await?;
        }
        _ => {}
    }
    Ok(())
}

/// Timers of kind `supervision.monthly and supervision.quarterly`.
pub async fn fire(state: &State, conn: &mut PgConnection, timer: &Timer) -> Result<(), Error> {
    match timer.kind.as_str() {
        MONTHLY_TIMER => monthly_draw(state, conn, timer).await,
        QUARTERLY_TIMER => quarterly_draw(state, conn, timer).await,
        other => Err(Error::Internal(format!("no sampling timer {other}"))),
    }
}

async fn pending(conn: &mut PgConnection, kind: &str) -> Result<bool, Error> {
    let n: Option<i32> = sqlx::query_scalar("SELECT 1 FROM timers WHERE kind = $1 AND fired_at IS NULL AND cancelled_at IS NULL LIMIT 1").bind(kind).fetch_optional(&mut *conn).await?;
    Ok(n.is_some())
}

/// Starts the recurring timers (the monthly draw, the quarterly return
/// visits) if they are not pending; called at start, idempotent.
pub async fn seed_timers(state: &State, conn: &mut PgConnection) -> Result<(), Error> {
    let now = state.clock.now();
    let today = cst_date(now);
    let calendar = state.calendar.current();
    if !pending(conn, MONTHLY_TIMER).await? {
        let (key, at) = rules::next_monthly(&calendar, now, today).map_err(Error::Internal)?;
        timers::schedule(conn, MONTHLY_TIMER, &key, at, &json!({})).await?;
    }
    if !pending(conn, QUARTERLY_TIMER).await? {
        let (key, at) = rules::next_quarterly(&calendar, now, today).map_err(Error::Internal)?;
        timers::schedule(conn, QUARTERLY_TIMER, &key, at, &json!({})).await?;
    }
    Ok(())
}

/// R-SUP-1: the previous month's draw for every division and section with
/// closed files, then next month's timer, in the timer's transaction.
async fn monthly_draw(state: &State, conn: &mut PgConnection, timer: &Timer) -> Result<(), Error> {
    let (y, m) = rules::parse_month(&timer.key).ok_or_else(|| Error::Internal(format!("monthly timer key {:?}", timer.key)))?;
    let now = state.clock.now();
    let calendar = state.calendar.current();
    let (py, pm) = rules::previous_month(y, m);
    let drawn_month = rules::month_key(py, pm);
    let draw_day = domain::first_working_day(&calendar, y, m).map_err(Error::Internal)?;
    let previous_digest = sql::digest_before(conn, draw_day).await?;
    let files = store::closed_files(conn, "", rules::first_day(py, pm), rules::last_day(py, pm)).await?;
    let mut groups: BTreeMap<(String, String), Vec<FileRow>> = BTreeMap::new();
    for f in files {
        groups.entry((f.division.clone(), f.section.clone())).or_default().push(f);
    }
    for ((division, section), files) in groups {
        let seed = domain::seed(py, pm, &division, &previous_digest);
        let ids: Vec<String> = files.iter().filter_map(|f| f.case_id).map(|c| c.to_string()).collect();
        let drawn = domain::draw(&seed, &ids, domain::MONTHLY_SAMPLE_PERCENT);
        let sample = SampleRow {
            id: Uuid::now_v7(),
            division: division.clone(),
            section: section.clone(),
            month: drawn_month.clone(),
            seed: seed.clone(),
            previous_digest: previous_digest.clone(),
            population: i32::try_from(ids.len()).unwrap_or(i32::MAX),
            percent: domain::MONTHLY_SAMPLE_PERCENT as i32,
            drawn_at: now,
        };
        if !sql::insert_sample(conn, &sample).await? {
            continue;
        }
        for case in &drawn {
            let file = files.iter().find(|f| f.case_id.is_some_and(|c| c.to_string() == *case)).expect("drawn from these files");
            sql::insert_sampled_file(conn, sample.id, file.case_id.expect("a case"), &file.number).await?;
        }
        let organ = files[0].organ.clone();
        let payload = Payload::SampleDrawn(ev::SampleDrawn {
            sample_id: sample.id.to_string(),
            division: division.clone(),
            section: section.clone(),
            month: drawn_month.clone(),
            seed: seed.clone(),
            previous_digest: previous_digest.clone(),
            population: ids.len() as u32,
            case_ids: drawn.clone(),
            percent: domain::MONTHLY_SAMPLE_PERCENT,
        });
        state.publish(conn, "supervision.sample_drawn", None, &division, &organ, Some(timer.id), payload, now).await?;
        let after = json!({ "month": drawn_month, "section": section, "seed": seed, "previous_digest": previous_digest, "population": ids.len(), "case_ids": drawn });
        audit::append(conn, &AuditEntry { actor_id: BY.id(), actor_organ: &organ, action: "sample.draw", subject: &format!("sample/{}", sample.id), before: None, after: Some(&after), at: now }).await?;
    }
    let (ny, nm) = rules::next_month(y, m);
    let at = rules::monthly_draw_at(&calendar, ny, nm).map_err(Error::Internal)?;
    timers::schedule(conn, MONTHLY_TIMER, &rules::month_key(ny, nm), at, &json!({})).await?;
    Ok(())
}

/// R-SUP-4: 10% of the previous quarter's closed cases of every division,
/// each assigned to the division's office; then next quarter's timer.
async fn quarterly_draw(state: &State, conn: &mut PgConnection, timer: &Timer) -> Result<(), Error> {
    let (y, q) = rules::parse_quarter(&timer.key).ok_or_else(|| Error::Internal(format!("quarterly timer key {:?}", timer.key)))?;
    let now = state.clock.now();
    let calendar = state.calendar.current();
    let (py, pq) = rules::previous_quarter(y, q);
    let quarter = rules::quarter_key(py, pq);
    let (from, to) = Period::Quarter(py, pq).days();
    let draw_day = rules::quarter_first_working_day(&calendar, y, q).map_err(Error::Internal)?;
    let previous_digest = sql::digest_before(conn, draw_day).await?;
    let mut groups: BTreeMap<String, Vec<FileRow>> = BTreeMap::new();
    for f in store::closed_files(conn, "", from, to).await? {
        groups.entry(f.division.clone()).or_default().push(f);
    }
    for (division, files) in groups {
        if sql::visits_drawn(conn, &division, &quarter).await? {
            continue;
        }
        let seed = rules::return_visit_seed(&quarter, &division, &previous_digest);
        let ids: Vec<String> = files.iter().filter_map(|f| f.case_id).map(|c| c.to_string()).collect();
        let drawn = domain::draw(&seed, &ids, domain::RETURN_VISIT_PERCENT);
        let assigned_to = format!("office:{division}");
        let mut visits = Vec::new();
        for case in &drawn {
            let file = files.iter().find(|f| f.case_id.is_some_and(|c| c.to_string() == *case)).expect("drawn from these files");
            let row = ReturnVisitRow {
                id: Uuid::now_v7(),
                division: division.clone(),
                section: file.section.clone(),
                quarter: quarter.clone(),
                case_id: file.case_id.expect("a case"),
                number: file.number.clone(),
                assigned_to: assigned_to.clone(),
                done: false,
                method: None,
                outcome: None,
                visited_on: None,
            };
            if sql::insert_return_visit(conn, &row).await? {
                visits.push(ev::ReturnVisitAssigned { visit_id: row.id.to_string(), case_id: case.clone(), section: row.section, assigned_to: assigned_to.clone() });
            }
        }
        let organ = files[0].organ.clone();
        let payload = Payload::ReturnVisitsDrawn(ev::ReturnVisitsDrawn { division: division.clone(), quarter: quarter.clone(), seed: seed.clone(), population: ids.len() as u32, visits });
        state.publish(conn, "supervision.return_visits_drawn", None, &division, &organ, Some(timer.id), payload, now).await?;
        let after = json!({ "quarter": quarter, "seed": seed, "population": ids.len(), "case_ids": drawn, "assigned_to": assigned_to });
        audit::append(conn, &AuditEntry { actor_id: BY.id(), actor_organ: &organ, action: "return_visit.draw", subject: &format!("return_visits/{division}/{quarter}"), before: None, after: Some(&after), at: now })
            .await?;
    }
    let (ny, nq) = rules::next_quarter(y, q);
    let at = rules::draw_time(rules::quarter_first_working_day(&calendar, ny, nq).map_err(Error::Internal)?);
    timers::schedule(conn, QUARTERLY_TIMER, &rules::quarter_key(ny, nq), at, &json!({})).await?;
    Ok(())
}

/// A discipline inspector's score of a drawn file, with
/// `supervision.file_scored` and the audit row, in the caller's transaction.
pub async fn score(state: &State, conn: &mut PgConnection, sample: &SampleRow, scored: &SampledFileRow, organ: &str, now: DateTime<Utc>) -> Result<bool, Error> {
    if !sql::score_file(conn, scored).await? {
        return Ok(false);
    }
    let by = scored.scored_by.clone().unwrap_or_default();
    let payload = Payload::FileScored(ev::FileScored {
        sample_id: sample.id.to_string(),
        case_id: scored.case_id.to_string(),
        lawful_start: scored.lawful_start.unwrap_or(0) as u32,
        standard_documents: scored.standard_documents.unwrap_or(0) as u32,
        timely_tracking: scored.timely_tracking.unwrap_or(0) as u32,
        comment: scored.comment.clone().unwrap_or_default(),
        scored_by: by.clone(),
    });
    state.publish(conn, "supervision.file_scored", Some(scored.case_id), &sample.division, organ, None, payload, now).await?;
    let after = json!({ "lawful_start": scored.lawful_start, "standard_documents": scored.standard_documents, "timely_tracking": scored.timely_tracking, "comment": scored.comment });
    audit::append(conn, &AuditEntry { actor_id: &by, actor_organ: organ, action: "sample.score", subject: &format!("sample/{}/{}", sample.id, scored.case_id), before: None, after: Some(&after), at: now }).await?;
    Ok(true)
}

/// A return visit done, with `supervision.return_visit_recorded` and the audit row.
#[allow(clippy::too_many_arguments)]
pub async fn record_visit(state: &State, conn: &mut PgConnection, visit: &ReturnVisitRow, method: &str, outcome: &str, visited_on: chrono::NaiveDate, by: &str, organ: &str, now: DateTime<Utc>) -> Result<bool, Error> {
    if !sql::record_visit(conn, visit.id, method, outcome, visited_on).await? {
        return Ok(false);
    }
    let payload = Payload::ReturnVisitRecorded(ev::ReturnVisitRecorded { visit_id: visit.id.to_string(), method: method.into(), outcome: outcome.into(), visited_on: Some(date(visited_on)), recorded_by: by.into() });
    state.publish(conn, "supervision.return_visit_recorded", Some(visit.case_id), &visit.division, organ, None, payload, now).await?;
    let after = json!({ "method": method, "outcome_chars": outcome.chars().count(), "visited_on": visited_on });
    audit::append(conn, &AuditEntry { actor_id: by, actor_organ: organ, action: "return_visit.record", subject: &format!("return_visit/{}", visit.id), before: None, after: Some(&after), at: now }).await?;
    Ok(true)
}

/// One stored draw checked against its published seed and the files.
#[derive(Debug, Clone)]
pub struct Verification {
    pub sample: SampleRow,
    /// The seed recomputed from the month, the division and the previous digest.
    pub seed_ok: bool,
    /// The closed files of that month and section now.
    pub population: usize,
    /// The drawn case ids as stored, and as recomputed (both sorted).
    pub stored: Vec<String>,
    pub recomputed: Vec<String>,
}

impl Verification {
    pub fn verified(&self) -> bool {
        self.seed_ok && self.population == self.sample.population as usize && self.stored == self.recomputed
    }
}

/// R-SUP-1: recomputes every stored draw of a month under `division`.
pub async fn verify_samples(conn: &mut PgConnection, division: &str, month: &str) -> Result<Vec<Verification>, Error> {
    let (y, m) = rules::parse_month(month).ok_or_else(|| Error::invalid("month", "a month like 2026-09"))?;
    let mut out = Vec::new();
    let samples = sql::samples(conn, crate::api::prefix_of(division), Some(month)).await?;
    let files = sql::files_of_samples(conn, &samples.iter().map(|s| s.id).collect::<Vec<_>>()).await?;
    for sample in samples {
        let population: Vec<String> = sql::closed_case_ids(conn, &sample.division, &sample.section, rules::first_day(y, m), rules::last_day(y, m)).await?.iter().map(Uuid::to_string).collect();
        let mut recomputed = domain::draw(&sample.seed, &population, u32::try_from(sample.percent).unwrap_or(0));
        recomputed.sort();
        let mut stored: Vec<String> = files.iter().filter(|f| f.sample_id == sample.id).map(|f| f.case_id.to_string()).collect();
        stored.sort();
        let seed_ok = domain::seed(y, m, &sample.division, &sample.previous_digest) == sample.seed;
        out.push(Verification { sample, seed_ok, population: population.len(), stored, recomputed });
    }
    Ok(out)
}

/// A generated report (R-SUP-7).
#[derive(Debug, Clone)]
pub struct Report {
    pub title: String,
    pub pdf: Vec<u8>,
    pub csv: String,
    pub sha256: String,
}

static RENDERER: OnceLock<Result<ReportRenderer, String>> = OnceLock::new();

fn renderer() -> Result<&'static ReportRenderer, Error> {
    RENDERER.get_or_init(|| ReportRenderer::new(&FontConfig::default()).map_err(|e| e.to_string())).as_ref().map_err(|e| Error::Unavailable(format!("report fonts: {e}")))
}

fn value_text(k: &Kpi) -> String {
    k.value.map(|v| format!("{v:.4}")).unwrap_or_default()
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn section_text(s: &str) -> &str {
    if s.is_empty() {
        "（未分科室）"
    } else {
        s
    }
}

/// R-SUP-7: the report of `division` for `period`, from the read model
/// (counters, draws and scores, complaints, ratings, return visits): a PDF
/// and a CSV of the same numbers, one row per unit and indicator.
pub async fn build_report(conn: &mut PgConnection, division: &str, period: Period) -> Result<Report, Error> {
    let prefix = crate::api::prefix_of(division).to_string();
    let months = period.months();
    let month_keys: Vec<String> = months.iter().map(|&(y, m)| rules::month_key(y, m)).collect();
    let (from, to) = period.days();
    let (ly, lm) = months[months.len() - 1];
    let sums = store::tally_sums(conn, &prefix, from, rules::first_day(ly, lm)).await?;
    let mut units: BTreeMap<(String, String), BTreeMap<String, i64>> = BTreeMap::new();
    let mut total: BTreeMap<String, i64> = BTreeMap::new();
    let mut per_division: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for s in sums {
        *units.entry((s.division.clone(), s.section.clone())).or_default().entry(s.metric.clone()).or_default() += s.n;
        *per_division.entry(s.division.clone()).or_default().entry(s.metric.clone()).or_default() += s.n;
        *total.entry(s.metric).or_default() += s.n;
    }
    let mut unit_list: Vec<(String, String, String, BTreeMap<String, i64>)> = vec![(format!("{division} 合计"), division.to_string(), String::new(), total)];
    if per_division.len() > 1 {
        for (d, counts) in per_division {
            unit_list.push((d.clone(), d, String::new(), counts));
        }
    }
    for ((d, s), counts) in units {
        unit_list.push((format!("{d}/{}", section_text(&s)), d, s, counts));
    }

    let mut csv = String::from("unit,division,section,indicator,numerator,denominator,value,target,meets_target\n");
    let mut kpi_rows = Vec::new();
    for (unit, d, s, counts) in &unit_list {
        let (kpis, score) = domain::kpis(|m| counts.get(m).copied().unwrap_or(0).max(0) as u64);
        for k in &kpis {
            // Nothing counted: no verdict on the target.
            let (meets, met) = match (k.value, k.meets_target()) {
                (None, _) => ("", "—"),
                (Some(_), true) => ("yes", "是"),
                (Some(_), false) => ("no", "否"),
            };
            let (value, target) = (value_text(k), format!("{}", k.target));
            csv.push_str(&format!("{},{},{},{},{},{},{},{},{}\n", csv_field(unit), d, csv_field(s), k.name, k.numerator, k.denominator, value, target, meets));
            kpi_rows.push(vec![unit.clone(), format!("{}（{}）", rules::kpi_label(k.name), k.name), k.numerator.to_string(), k.denominator.to_string(), value, target, met.into()]);
        }
        let score_text = format!("{score:.1}");
        csv.push_str(&format!("{},{},{},section_score,,,{},,\n", csv_field(unit), d, csv_field(s), score_text));
        kpi_rows.push(vec![unit.clone(), format!("{}（section_score）", rules::kpi_label("section_score")), String::new(), String::new(), score_text, String::new(), String::new()]);
    }

    let draws = sql::sample_tallies(conn, &prefix, &month_keys).await?;
    let mut draw_rows = Vec::new();
    let (mut all_drawn, mut all_scored) = (0, 0);
    for t in &draws {
        let unit = format!("{}/{}", t.division, section_text(&t.section));
        let average = if t.scored > 0 { format!("{:.1}", t.points as f64 / t.scored as f64) } else { String::new() };
        csv.push_str(&format!("{},{},{},files_drawn,{},{},,,\n", csv_field(&unit), t.division, csv_field(&t.section), t.drawn, t.population));
        csv.push_str(&format!("{},{},{},files_scored,{},{},,,\n", csv_field(&unit), t.division, csv_field(&t.section), t.scored, t.drawn));
        csv.push_str(&format!("{},{},{},average_file_score,{},{},{},,\n", csv_field(&unit), t.division, csv_field(&t.section), t.points, t.scored, average));
        draw_rows.push(vec![t.division.clone(), section_text(&t.section).to_string(), t.population.to_string(), t.drawn.to_string(), t.scored.to_string(), average]);
        all_drawn += t.drawn;
        all_scored += t.scored;
    }

    let complaints = sql::complaint_tallies(conn, &prefix, from, to).await?;
    let ratings = sql::rating_counts(conn, &prefix, &month_keys).await?;
    let visits = sql::visit_counts(conn, &prefix, &period.quarters()).await?;
    let mut others: BTreeMap<String, [i64; 5]> = BTreeMap::new();
    for c in &complaints {
        let e = others.entry(c.division.clone()).or_default();
        (e[0], e[1], e[2]) = (c.registered, c.decided, c.upheld);
    }
    for (d, n) in &ratings {
        others.entry(d.clone()).or_default()[3] = *n;
    }
    let mut visit_rows = BTreeMap::new();
    for (d, drawn, done) in &visits {
        others.entry(d.clone()).or_default();
        visit_rows.insert(d.clone(), (*drawn, *done));
    }
    let mut other_rows = Vec::new();
    let (mut all_complaints, mut all_upheld, mut all_ratings) = (0, 0, 0);
    for (d, [registered, decided, upheld, rated, _]) in &others {
        let (v_drawn, v_done) = visit_rows.get(d).copied().unwrap_or((0, 0));
        csv.push_str(&format!("{d},{d},,complaints_registered,{registered},,,,\n"));
        csv.push_str(&format!("{d},{d},,complaints_upheld,{upheld},{decided},,,\n"));
        csv.push_str(&format!("{d},{d},,ratings_received,{rated},,,,\n"));
        csv.push_str(&format!("{d},{d},,return_visits_done,{v_done},{v_drawn},,,\n"));
        other_rows.push(vec![d.clone(), registered.to_string(), decided.to_string(), upheld.to_string(), rated.to_string(), v_drawn.to_string(), v_done.to_string()]);
        all_complaints += registered;
        all_upheld += upheld;
        all_ratings += rated;
    }

    let title = period.title().to_string();
    let report = SupervisionReport {
        title: title.clone(),
        division: format!("行政区划 {division}"),
        period: format!("{}（{}，{} 至 {}）", period.label(), period.key(), from, to),
        summary: vec![
            format!("本报告由约谈监督系统依据读模型自动生成，统计范围为行政区划 {division} 及其下辖单位，统计期间为{}。", period.label()),
            format!("期间抽查案卷 {all_drawn} 件，已评分 {all_scored} 件；登记投诉 {all_complaints} 件，其中成立 {all_upheld} 件；收到当事人评价 {all_ratings} 条。"),
            "考核指标按单位和科室列示，与目标值并列；数值为比率（满意度为百分制分数），空白表示期间无可统计事项。".into(),
        ],
        tables: vec![
            ReportTable { caption: "一、考核指标与目标".into(), header: ["单位", "指标", "分子", "分母", "数值", "目标", "达标"].map(String::from).to_vec(), rows: kpi_rows },
            ReportTable { caption: "二、案卷抽查与评分".into(), header: ["单位", "科室", "结案数", "抽查数", "已评分", "平均分"].map(String::from).to_vec(), rows: draw_rows },
            ReportTable { caption: "三、投诉、评价与回访".into(), header: ["单位", "投诉登记", "已处理", "成立", "评价数", "回访数", "已回访"].map(String::from).to_vec(), rows: other_rows },
        ],
    };
    let renderer = renderer()?;
    let rendered = tokio::task::spawn_blocking(move || renderer.render(&report)).await.map_err(internal)?.map_err(internal)?;
    Ok(Report { title, pdf: rendered.pdf, csv, sha256: rendered.sha256 })
}
