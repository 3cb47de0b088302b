//! The timeline of a case, the KPI board of a division for a period and the
//! daily roll-up of a division for a day; every read scoped to the caller
//! (a county sees itself, a city its counties, the province its cities).
//!
//! The board reads only the counters, never the files: a county's per
//! section (`tallies`), a city's per county and a province's per city
//! (`tally_units`, summed over the sections by the folder) — a few hundred
//! rows whatever the number of cases — plus the deltas not folded yet.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use yuetan_platform::auth::{DivisionCode, DivisionLevel};
use yuetan_platform::fields::{date, parse_date, parse_uuid, timestamp};
use yuetan_platform::{Actor, Error};
use yuetan_proto::supervision as pb;

use crate::api::prefix_of;
use crate::domain::{self, metric};
use crate::flow::rollup::{city_of, Line};
use crate::store::{self, TallySum};
use crate::State;

/// The caller's division, or one it covers.
pub fn scoped_division(actor: &Actor, requested: &str) -> Result<DivisionCode, Error> {
    let division = if requested.is_empty() {
        actor.division.clone()
    } else {
        DivisionCode::parse(requested).map_err(|_| Error::invalid("division", "a six-digit division code"))?
    };
    actor.require_scope(&division, &[])?;
    Ok(division)
}

/// A board period: "2026-09", "2026Q3", "2026H2" or "2026" → its first and last month.
pub fn period_months(period: &str) -> Result<(NaiveDate, NaiveDate), Error> {
    let bad = || Error::invalid("period", "a month (2026-09), a quarter (2026Q3), a half year (2026H2) or a year (2026)");
    if period.len() > 7 || period.len() < 4 {
        return Err(bad());
    }
    let year: i32 = period.get(..4).and_then(|y| y.parse().ok()).filter(|y| (2000..=2100).contains(y)).ok_or_else(bad)?;
    let (first, last) = match &period[4..] {
        "" => (1, 12),
        rest if rest.len() == 3 && rest.starts_with('-') => {
            let m: u32 = rest[1..].parse().map_err(|_| bad())?;
            if !(1..=12).contains(&m) {
                return Err(bad());
            }
            (m, m)
        }
        rest if rest.len() == 2 && rest.starts_with('Q') => {
            let q: u32 = rest[1..].parse().map_err(|_| bad())?;
            if !(1..=4).contains(&q) {
                return Err(bad());
            }
            (q * 3 - 2, q * 3)
        }
        rest if rest.len() == 2 && rest.starts_with('H') => match &rest[1..] {
            "1" => (1, 6),
            "2" => (7, 12),
            _ => return Err(bad()),
        },
        _ => return Err(bad()),
    };
    let month = |m| NaiveDate::from_ymd_opt(year, m, 1).ok_or_else(bad);
    Ok((month(first)?, month(last)?))
}

/// The unit a counter row belongs to on a division's board: the cities of
/// a province, the counties of a city, the sections of a county.
fn unit_of(level: DivisionLevel, t: &TallySum) -> (String, String, String) {
    match level {
        DivisionLevel::Province => {
            let city = city_of(&t.division);
            (city.clone(), city, String::new())
        }
        DivisionLevel::City => (t.division.clone(), t.division.clone(), String::new()),
        _ => (format!("section:{}", t.section), t.division.clone(), t.section.clone()),
    }
}

#[derive(Debug, Default)]
struct Unit {
    division: String,
    section: String,
    // Signed: an unfolded delta may be negative (a card closed, a stage left).
    counts: BTreeMap<String, i64>,
    gauges: BTreeMap<String, i64>,
    award_lost: bool,
    warned: bool,
}

fn kpi_proto(k: &domain::Kpi) -> pb::Kpi {
    pb::Kpi {
        name: k.name.into(),
        value: k.value.unwrap_or(0.0),
        target: k.target,
        has_value: k.value.is_some(),
        meets_target: k.meets_target(),
        numerator: k.numerator,
        denominator: k.denominator,
    }
}

fn row_proto(unit: &str, u: &Unit) -> pb::BoardRow {
    let count = |m: &BTreeMap<String, i64>, k: &str| u64::try_from(m.get(k).copied().unwrap_or(0)).unwrap_or(0);
    let (kpis, score) = domain::kpis(|m| count(&u.counts, m));
    let open_by_stage = u.gauges.iter().filter_map(|(m, n)| m.strip_prefix(metric::STAGE_PREFIX).filter(|_| *n > 0).map(|s| (s.to_string(), *n as u64))).collect();
    pb::BoardRow {
        unit: unit.into(),
        division: u.division.clone(),
        section: u.section.clone(),
        kpis: kpis.iter().map(kpi_proto).collect(),
        score,
        open_by_stage,
        green: count(&u.gauges, metric::CARD_GREEN),
        yellow: count(&u.gauges, metric::CARD_YELLOW),
        red: count(&u.gauges, metric::CARD_RED),
        award_eligibility_lost: u.award_lost,
        warned: u.warned,
    }
}

/// The board of a division for a period (also used by the rebuild's comparison).
pub async fn board(state: &State, division: &DivisionCode, period: &str) -> Result<pb::GetBoardResponse, Error> {
    let (from, to) = period_months(period)?;
    let code = division.to_string();
    let prefix = prefix_of(&code);
    let level = division.level();
    // One snapshot: the folder moves deltas into the counters in one
    // transaction, so every read sees each delta exactly once.
    let mut conn = state.pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *conn).await?;
    // The folded counters at the level of the board's rows (a county's
    // sections, a city's counties, a province's cities), then the deltas
    // not folded yet; the total is the sum of the rows.
    let live = store::live();
    let (mut counts, mut gauges) = match level {
        DivisionLevel::County => (store::section_sums(&mut conn, &code, from, to).await?, store::section_sums(&mut conn, &code, live, live).await?),
        DivisionLevel::City => (store::unit_sums(&mut conn, "county", prefix, from, to).await?, store::unit_sums(&mut conn, "county", prefix, live, live).await?),
        DivisionLevel::Province => (store::unit_sums(&mut conn, "city", prefix, from, to).await?, store::unit_sums(&mut conn, "city", prefix, live, live).await?),
    };
    counts.extend(store::delta_sums(&mut conn, prefix, from, to).await?);
    gauges.extend(store::delta_sums(&mut conn, prefix, live, live).await?);
    let flags = store::section_flags(&mut conn, prefix, from.year(), to.year(), &format!("{:04}-{:02}", from.year(), from.month()), &format!("{:04}-{:02}", to.year(), to.month())).await?;
    drop(conn);
    let mut total = Unit { division: code.clone(), ..Unit::default() };
    let mut units: BTreeMap<String, Unit> = BTreeMap::new();
    let unit = |units: &mut BTreeMap<String, Unit>, t: &TallySum| -> String {
        let (key, division, section) = unit_of(level, t);
        units.entry(key.clone()).or_insert_with(|| Unit { division, section, ..Unit::default() });
        key
    };
    for t in &counts {
        let n = t.n;
        let key = unit(&mut units, t);
        *units.get_mut(&key).expect("just added").counts.entry(t.metric.clone()).or_default() += n;
        *total.counts.entry(t.metric.clone()).or_default() += n;
    }
    for t in &gauges {
        let n = t.n;
        let key = unit(&mut units, t);
        *units.get_mut(&key).expect("just added").gauges.entry(t.metric.clone()).or_default() += n;
        *total.gauges.entry(t.metric.clone()).or_default() += n;
    }
    for (division, section, award_lost, warned) in flags {
        let t = TallySum { division, section, metric: String::new(), n: 0 };
        let key = unit(&mut units, &t);
        let u = units.get_mut(&key).expect("just added");
        u.award_lost |= award_lost;
        u.warned |= warned;
        total.award_lost |= award_lost && level == DivisionLevel::County;
        total.warned |= warned && level == DivisionLevel::County;
    }
    Ok(pb::GetBoardResponse {
        division: code.clone(),
        period: period.into(),
        total: Some(row_proto(&code, &total)),
        rows: units.iter().map(|(k, u)| row_proto(k, u)).collect(),
    })
}

pub async fn get_board(state: &State, actor: &Actor, req: &pb::GetBoardRequest) -> Result<pb::GetBoardResponse, Error> {
    let division = scoped_division(actor, &req.division)?;
    let period = if req.period.is_empty() {
        let today = yuetan_platform::fields::cst_date(state.clock.now());
        format!("{:04}-{:02}", today.year(), today.month())
    } else {
        req.period.clone()
    };
    board(state, &division, &period).await
}

fn line_proto(l: &Line) -> pb::RollupLine {
    pb::RollupLine {
        division: l.division.clone(),
        open_by_stage: l.open_by_stage.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        open: l.open,
        new_cases: l.new_cases,
        closed: l.closed,
        yellow: l.yellow,
        red: l.red,
        overdue_rate: l.overdue_rate(),
    }
}

pub async fn get_rollup(state: &State, actor: &Actor, req: &pb::GetRollupRequest) -> Result<pb::GetRollupResponse, Error> {
    let division = scoped_division(actor, &req.division)?;
    let day = parse_date("date", req.date.as_ref())?.ok_or_else(|| Error::invalid("date", "is required"))?;
    let code = division.to_string();
    let mut conn = state.pool.acquire().await?;
    let lines = store::rollup_lines(&mut conn, day, prefix_of(&code)).await?.ok_or_else(|| Error::NotFound(format!("no roll-up on {day}")))?;
    let digest = store::rollup_digest(&mut conn, day).await?.unwrap_or_default();
    let made_at = store::rollup_made_at(&mut conn, day).await?;
    let child_level = match division.level() {
        DivisionLevel::Province => Some(DivisionLevel::City),
        DivisionLevel::City => Some(DivisionLevel::County),
        _ => None,
    };
    let level_of = |d: &str| DivisionCode::parse(d).map(|c| c.level()).ok();
    let total = lines.iter().find(|l| l.division == code).cloned().unwrap_or(Line { division: code.clone(), ..Line::default() });
    let children = lines.iter().filter(|l| l.division != code && child_level.is_some() && level_of(&l.division) == child_level).map(line_proto).collect();
    Ok(pb::GetRollupResponse { date: Some(date(day)), total: Some(line_proto(&total)), children, digest, made_at: made_at.map(timestamp) })
}

pub async fn get_timeline(state: &State, actor: &Actor, req: &pb::GetTimelineRequest) -> Result<pb::GetTimelineResponse, Error> {
    let case_id = parse_uuid("case_id", &req.case_id)?;
    let mut conn = state.pool.acquire().await?;
    let file = store::file_of_case(&mut conn, case_id, false).await?.ok_or_else(|| Error::NotFound(format!("case {case_id}")))?;
    // Another jurisdiction's case is "not found" to the caller, as elsewhere;
    // a co-department of the joint case reads it.
    if actor.require_scope_of(&file.division, &file.co_departments).is_err() {
        return Err(Error::NotFound(format!("case {case_id}")));
    }
    let entries = store::timeline(&mut conn, file.id).await?;
    Ok(pb::GetTimelineResponse {
        case_id: case_id.to_string(),
        number: file.number.clone(),
        division: file.division.clone(),
        section: file.section.clone(),
        stage: file.stage.clone(),
        entries: entries
            .iter()
            .map(|t| pb::TimelineEntry {
                event_id: t.event_id.to_string(),
                occurred_at: Some(timestamp(t.occurred_at)),
                service: yuetan_platform::ordering::source_of(&t.event_type).to_string(),
                event_type: t.event_type.clone(),
                actor: t.actor.clone(),
                actor_name: t.actor_name.clone(),
                summary: t.summary.clone(),
                deadline: t.deadline.map(date),
                has_deadline: t.deadline.is_some(),
                met: t.met.unwrap_or(false),
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_name_their_months_and_bad_ones_name_the_field() {
        let m = |y, m| NaiveDate::from_ymd_opt(y, m, 1).unwrap();
        assert_eq!(period_months("2026-09").unwrap(), (m(2026, 9), m(2026, 9)));
        assert_eq!(period_months("2026Q3").unwrap(), (m(2026, 7), m(2026, 9)));
        assert_eq!(period_months("2026H1").unwrap(), (m(2026, 1), m(2026, 6)));
        assert_eq!(period_months("2026").unwrap(), (m(2026, 1), m(2026, 12)));
        for bad in ["2026Q5", "2026-13", "26", "2026H3", "2026-9x", "x026"] {
            let err = period_months(bad).unwrap_err().to_string();
            assert!(err.contains("period"), "{bad}: {err}");
        }
    }
}
