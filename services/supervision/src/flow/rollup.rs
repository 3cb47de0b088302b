//! The daily roll-up (seed 001: county → city → province by 18:00 CST on
//! every working day) and the monthly section warnings (R-SUP-2).
//!
//! - `supervision.rollup` (key: the day) fires at `rollup_hour` (18:00 CST)
//!   of each working day: every county's line from the board's gauges (open
//!   files by stage, open cards by colour) and the day's new and closed
//!   files; each city's line is the sum of its counties', the province's the
//!   sum of its cities'. Stored (`rollups`, `rollup_days` with the digest)
//!   and published (`supervision.daily_rollup`) in one transaction with the
//!   next working day's timer. The gauges are those of the moment the timer
//!   runs: a roll-up that runs late (the service was down at 18:00) reports
//!   the state when it ran, for the day it is due.
//! - `supervision.warn` (key: the month) fires on the first working day of
//!   each month: a section whose score (R-SUP-5) was below the baseline in
//!   each of the two months before is warned (`supervision.section_warned`).
//!
//! A process dying halfway leaves nothing: the timer fires again.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_platform::audit::{self, AuditEntry};
use yuetan_platform::fields::{cst_date, date};
use yuetan_platform::timers::{self, Timer};
use yuetan_platform::Error;
use yuetan_proto::events::{self as ev, event::Payload, Event};

use crate::domain::{self, metric};
use crate::store;
use crate::State;

/// The daily roll-up; key: the day.
pub const ROLLUP_TIMER: &str = "supervision.rollup";
/// The monthly section warnings (R-SUP-2); key: the month.
pub const WARN_TIMER: &str = "supervision.warn";

/// One division's line of a day's roll-up.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Line {
    pub division: String,
    pub open_by_stage: BTreeMap<String, u64>,
    pub open: u64,
    pub new_cases: u64,
    pub closed: u64,
    pub green: u64,
    pub yellow: u64,
    pub red: u64,
}

impl Line {
    fn add(&mut self, other: &Line) {
        for (stage, n) in &other.open_by_stage {
            *self.open_by_stage.entry(stage.clone()).or_default() += n;
        }
        self.open += other.open;
        self.new_cases += other.new_cases;
        self.closed += other.closed;
        self.green += other.green;
        self.yellow += other.yellow;
        self.red += other.red;
    }

    /// Red cards ÷ open cards.
    pub fn overdue_rate(&self) -> f64 {
        let cards = self.green + self.yellow + self.red;
        if cards == 0 {
            0.0
        } else {
            self.red as f64 / cards as f64
        }
    }

    pub fn to_event(&self) -> ev::RollupEntry {
        ev::RollupEntry {
            division: self.division.clone(),
            open_by_stage: self.open_by_stage.iter().map(|(stage, count)| ev::StageCount { stage: stage.clone(), count: *count }).collect(),
            open: self.open,
            new_cases: self.new_cases,
            closed: self.closed,
            yellow: self.yellow,
            red: self.red,
            overdue_rate: self.overdue_rate(),
        }
    }
}

/// What a roll-up made.
#[derive(Debug, Clone)]
pub struct RollupSummary {
    pub day: NaiveDate,
    pub counties: usize,
    pub lines: Vec<Line>,
    pub digest: String,
}

/// The city of a county (620102 → 620100), the province of a city (620100 → 620000).
pub fn city_of(division: &str) -> String {
    format!("{}00", &division[..4.min(division.len())])
}

pub fn province_of(division: &str) -> String {
    format!("{}0000", &division[..2.min(division.len())])
}

/// 18:00 (or `hour`) China Standard Time of `day`, in UTC.
fn cst_hour(day: NaiveDate, hour: u32) -> DateTime<Utc> {
    let local = day.and_hms_opt(hour.min(23), 0, 0).unwrap_or_default();
    DateTime::<Utc>::from_naive_utc_and_offset(local, Utc) - Duration::hours(8)
}

/// The lines of every county, city and province for `day`, in division order.
pub async fn lines(conn: &mut PgConnection, day: NaiveDate) -> Result<Vec<Line>, Error> {
    let mut counties: BTreeMap<String, Line> = BTreeMap::new();
    for t in store::gauges_by_division(conn).await? {
        let l = counties.entry(t.division.clone()).or_insert_with(|| Line { division: t.division.clone(), ..Line::default() });
        let n = u64::try_from(t.n).unwrap_or(0);
        if let Some(stage) = t.metric.strip_prefix(metric::STAGE_PREFIX) {
            if n > 0 {
                l.open_by_stage.insert(stage.to_string(), n);
                l.open += n;
            }
        } else if t.metric == metric::CARD_GREEN {
            l.green += n;
        } else if t.metric == metric::CARD_YELLOW {
            l.yellow += n;
        } else if t.metric == metric::CARD_RED {
            l.red += n;
        }
    }
    for (division, new, closed) in store::files_of_day(conn, day).await? {
        let l = counties.entry(division.clone()).or_insert_with(|| Line { division, ..Line::default() });
        l.new_cases += new as u64;
        l.closed += closed as u64;
    }
    let mut cities: BTreeMap<String, Line> = BTreeMap::new();
    for l in counties.values() {
        let city = city_of(&l.division);
        cities.entry(city.clone()).or_insert_with(|| Line { division: city, ..Line::default() }).add(l);
    }
    let mut provinces: BTreeMap<String, Line> = BTreeMap::new();
    for l in cities.values() {
        let p = province_of(&l.division);
        provinces.entry(p.clone()).or_insert_with(|| Line { division: p, ..Line::default() }).add(l);
    }
    let mut all: Vec<Line> = counties.into_values().chain(cities.into_values()).chain(provinces.into_values()).collect();
    all.sort_by(|a, b| a.division.cmp(&b.division));
    Ok(all)
}

/// SHA-256 of the canonical snapshot: the day, then each line as JSON in division order.
pub fn digest(day: NaiveDate, lines: &[Line]) -> String {
    let mut h = Sha256::new();
    h.update(day.to_string().as_bytes());
    for l in lines {
        h.update(b"\n");
        h.update(serde_json::to_vec(l).unwrap_or_default());
    }
    hex::encode(h.finalize())
}

impl State {
    /// The first working day from `from` whose roll-up moment is after `now`.
    fn next_rollup_day(&self, from: NaiveDate, now: DateTime<Utc>) -> Result<NaiveDate, Error> {
        let calendar = self.calendar.current();
        let mut day = from;
        for _ in 0..40 {
            if calendar.is_working_day(day).map_err(|e| Error::Internal(e.to_string()))?.value && cst_hour(day, self.settings.rollup_hour) > now {
                return Ok(day);
            }
            day += Duration::days(1);
        }
        Err(Error::Internal(format!("no working day in the 40 days from {from}")))
    }

    /// Starts the roll-up and warning timers if none is pending (at start; idempotent).
    pub async fn seed_timers(&self, conn: &mut PgConnection) -> Result<(), Error> {
        let now = self.clock.now();
        let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM timers WHERE kind = $1 AND fired_at IS NULL AND cancelled_at IS NULL").bind(ROLLUP_TIMER).fetch_one(&mut *conn).await?;
        if pending == 0 {
            let day = self.next_rollup_day(cst_date(now), now)?;
            let _ = timers::schedule(conn, ROLLUP_TIMER, &day.to_string(), cst_hour(day, self.settings.rollup_hour), &json!({})).await;
        }
        let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM timers WHERE kind = $1 AND fired_at IS NULL AND cancelled_at IS NULL").bind(WARN_TIMER).fetch_one(&mut *conn).await?;
        if pending == 0 {
            self.schedule_warning(conn, cst_date(now)).await?;
        }
        Ok(())
    }

    async fn schedule_warning(&self, conn: &mut PgConnection, after: NaiveDate) -> Result<(), Error> {
        let next = if after.month() == 12 { (after.year() + 1, 1) } else { (after.year(), after.month() + 1) };
        let calendar = self.calendar.current();
        let day = domain::first_working_day(&calendar, next.0, next.1).map_err(Error::Internal)?;
        let key = format!("{:04}-{:02}", next.0, next.1);
        let _ = timers::schedule(conn, WARN_TIMER, &key, cst_hour(day, 8), &json!({})).await;
        Ok(())
    }

    /// Timer: the roll-up of its day, then the next working day's timer.
    pub async fn daily_rollup(&self, conn: &mut PgConnection, timer: &Timer) -> Result<(), Error> {
        let day: NaiveDate = timer.key.parse().map_err(|_| Error::Internal(format!("roll-up key {:?}", timer.key)))?;
        let now = self.clock.now();
        self.rollup_in(conn, day, Some(timer.id), now).await?;
        let next = self.next_rollup_day(day + Duration::days(1), cst_hour(day, self.settings.rollup_hour))?;
        let _ = timers::schedule(conn, ROLLUP_TIMER, &next.to_string(), cst_hour(next, self.settings.rollup_hour), &json!({})).await;
        Ok(())
    }

    /// The roll-up of `day` in its own transaction (benchmarks, operators).
    pub async fn make_rollup(&self, day: NaiveDate) -> Result<RollupSummary, Error> {
        let mut tx = self.pool.begin().await?;
        let summary = self.rollup_in(&mut tx, day, None, self.clock.now()).await?;
        tx.commit().await?;
        Ok(summary)
    }

    /// Computes, stores and publishes the roll-up of `day` (once: a second
    /// run for the same day changes nothing and returns the stored one).
    pub async fn rollup_in(&self, conn: &mut PgConnection, day: NaiveDate, causation: Option<Uuid>, now: DateTime<Utc>) -> Result<RollupSummary, Error> {
        if let Some(stored) = store::rollup_lines(conn, day, "").await? {
            let digest = store::rollup_digest(conn, day).await?.unwrap_or_default();
            let counties = stored.iter().filter(|l| !l.division.ends_with("00")).count();
            return Ok(RollupSummary { day, counties, lines: stored, digest });
        }
        let lines = lines(conn, day).await?;
        let digest = digest(day, &lines);
        store::insert_rollup(conn, day, &lines, &digest, now).await?;
        let mut by_province: BTreeMap<String, Vec<ev::RollupEntry>> = BTreeMap::new();
        for l in &lines {
            by_province.entry(province_of(&l.division)).or_default().push(l.to_event());
        }
        for (province, entries) in by_province {
            let organ = format!("{province}-SUP");
            let payload = Payload::DailyRollup(ev::DailyRollup { date: Some(date(day)), entries, digest: digest.clone() });
            self.publish(conn, "supervision.daily_rollup", None, &province, &organ, causation, payload, now).await?;
        }
        audit::append(
            conn,
            &AuditEntry { actor_id: crate::SERVICE, actor_organ: "", action: "rollup.make", subject: &format!("rollup/{day}"), before: None, after: Some(&json!({ "digest": digest, "lines": lines.len() })), at: now },
        )
        .await?;
        let counties = lines.iter().filter(|l| !l.division.ends_with("00")).count();
        Ok(RollupSummary { day, counties, lines, digest })
    }

    /// A roll-up replayed (rebuild): its lines from the event.
    pub async fn replay_rollup(&self, conn: &mut PgConnection, event: &Event, r: &ev::DailyRollup) -> Result<(), Error> {
        let Some(day) = r.date.as_ref().and_then(|d| d.iso.parse::<NaiveDate>().ok()) else { return Ok(()) };
        if store::rollup_digest(conn, day).await?.is_some() {
            return Ok(());
        }
        let lines: Vec<Line> = r
            .entries
            .iter()
            .map(|e| {
                let open_by_stage: BTreeMap<String, u64> = e.open_by_stage.iter().map(|s| (s.stage.clone(), s.count)).collect();
                // Green is not published: open cards = red ÷ rate.
                let cards = if e.overdue_rate > 0.0 { (e.red as f64 / e.overdue_rate).round() as u64 } else { 0 };
                Line { division: e.division.clone(), open_by_stage, open: e.open, new_cases: e.new_cases, closed: e.closed, green: cards.saturating_sub(e.red + e.yellow), yellow: e.yellow, red: e.red }
            })
            .collect();
        let at = yuetan_platform::fields::from_timestamp(event.occurred_at.as_ref()).unwrap_or_else(|| self.clock.now());
        store::insert_rollup(conn, day, &lines, &r.digest, at).await
    }

    /// Timer (first working day of a month): R-SUP-2's warnings.
    pub async fn warn_sections(&self, conn: &mut PgConnection, timer: &Timer) -> Result<(), Error> {
        let month = NaiveDate::parse_from_str(&format!("{}-01", timer.key), "%Y-%m-%d").map_err(|_| Error::Internal(format!("warn key {:?}", timer.key)))?;
        let last = store::month_of(month - Duration::days(1));
        let before = store::month_of(last - Duration::days(1));
        let now = self.clock.now();
        let scores = |rows: &[store::TallySum]| -> BTreeMap<(String, String), f64> {
            let mut counts: BTreeMap<(String, String), BTreeMap<String, u64>> = BTreeMap::new();
            for t in rows {
                *counts.entry((t.division.clone(), t.section.clone())).or_default().entry(t.metric.clone()).or_default() += u64::try_from(t.n).unwrap_or(0);
            }
            counts.into_iter().map(|(k, c)| (k, domain::kpis(|m| c.get(m).copied().unwrap_or(0)).1)).collect()
        };
        let last_scores = scores(&store::tally_sums(conn, "", last, last).await?);
        let before_scores = scores(&store::tally_sums(conn, "", before, before).await?);
        let baseline = self.settings.baseline_score;
        for ((division, section), score) in &last_scores {
            let Some(earlier) = before_scores.get(&(division.clone(), section.clone())) else { continue };
            if *score < baseline && *earlier < baseline {
                let label = format!("{:04}-{:02}", last.year(), last.month());
                let months = vec![format!("{:04}-{:02}", before.year(), before.month()), label.clone()];
                let pair = [*earlier, *score];
                if store::insert_warning(conn, division, section, &label, &pair, baseline).await? {
                    let payload = Payload::SectionWarned(ev::SectionWarned { division: division.clone(), section: section.clone(), months, scores: pair.to_vec(), baseline });
                    self.publish(conn, "supervision.section_warned", None, division, &format!("{division}-SUP"), Some(timer.id), payload, now).await?;
                    audit::append(
                        conn,
                        &AuditEntry { actor_id: crate::SERVICE, actor_organ: "", action: "section.warn", subject: &format!("section/{division}/{section}"), before: None, after: Some(&json!({ "month": label, "scores": pair })), at: now },
                    )
                    .await?;
                }
            }
        }
        self.schedule_warning(conn, month).await
    }
}
