//! Supervision's pure rules.
//!
//! - **Cards (R-SUP-3).** A step with a time limit ending with working day
//!   `deadline` is green while more than `yellow_days` working days remain
//!   after today, yellow when at most that many remain (the deadline day
//!   itself included: 0 remain), red once the deadline day has ended. The
//!   moments a card changes are computed ahead, so durable timers change it
//!   (not the reader).
//! - **Sample (R-SUP-1, R-SUP-4).** At least `fraction` of the files,
//!   rounded up, drawn by ranking each file by SHA-256(seed ‖ file id): the
//!   same seed and files give the same draw, and anyone with the published
//!   seed can recompute it.
//! - **Score (R-SUP-5).** Coverage 40, rectification 30, satisfaction 20,
//!   documents 10.

pub mod archive;
pub mod complaints;
pub mod relief;
pub mod sampling;

use chrono::{Datelike, Duration, NaiveDate};
use sha2::{Digest, Sha256};
use yuetan_calendar::Calendar;

/// Default: yellow when at most one working day remains.
pub const DEFAULT_YELLOW_DAYS: u32 = 1;
/// R-SUP-2: the section score below which a section is under baseline.
pub const DEFAULT_BASELINE_SCORE: f64 = 80.0;
/// R-SUP-1: at least 15% of a month's closed files per section.
pub const MONTHLY_SAMPLE_PERCENT: u32 = 15;
/// R-SUP-4: 10% of a quarter's closed cases get a return visit.
pub const RETURN_VISIT_PERCENT: u32 = 10;
/// R-SUP-3: three red cards in a row cost the section its award eligibility.
pub const RED_CARDS_IN_A_ROW: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Colour {
    Green,
    Yellow,
    Red,
}

impl Colour {
    /// The colour a card row or an event names (`green`, `yellow`, `red`).
    pub fn from_name(name: &str) -> Option<Colour> {
        match name {
            "green" => Some(Colour::Green),
            "yellow" => Some(Colour::Yellow),
            "red" => Some(Colour::Red),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Colour::Green => "green",
            Colour::Yellow => "yellow",
            Colour::Red => "red",
        }
    }
}

/// The card's colour on `today` for a limit ending with `deadline`.
pub fn colour(calendar: &Calendar, deadline: NaiveDate, today: NaiveDate, yellow_days: u32) -> Result<Colour, String> {
    if today > deadline {
        return Ok(Colour::Red);
    }
    let remaining = calendar.working_days_between(today, deadline).map_err(|e| e.to_string())?.value;
    Ok(if remaining <= yellow_days { Colour::Yellow } else { Colour::Green })
}

/// The days (from their start, CST) on which the card turns yellow and red:
/// yellow on the first day with at most `yellow_days` working days left
/// (`None` if the limit starts already yellow), red the day after the deadline.
pub fn changes(calendar: &Calendar, opened: NaiveDate, deadline: NaiveDate, yellow_days: u32) -> Result<(Option<NaiveDate>, NaiveDate), String> {
    let red = deadline + Duration::days(1);
    if colour(calendar, deadline, opened, yellow_days)? != Colour::Green {
        return Ok((None, red));
    }
    let mut day = opened;
    while day <= deadline {
        day += Duration::days(1);
        if colour(calendar, deadline, day, yellow_days)? == Colour::Yellow {
            return Ok((Some(day), red));
        }
    }
    Ok((None, red))
}

/// R-SUP-3: the section loses its award eligibility with three red cards in
/// a row (the cards of its steps in the order they were closed or went red).
pub fn loses_award(history: &[Colour]) -> bool {
    history.windows(RED_CARDS_IN_A_ROW).any(|w| w.iter().all(|c| *c == Colour::Red))
}

/// The published seed of a month's draw for a division: SHA-256 of the
/// month, the division and the previous roll-up's digest.
pub fn seed(year: i32, month: u32, division: &str, previous_digest: &str) -> String {
    hex::encode(Sha256::digest(format!("yuetan-sample\n{year:04}-{month:02}\n{division}\n{previous_digest}").as_bytes()))
}

/// How many of `n` files a draw of `percent` takes: rounded up, at least one of a non-empty set.
pub fn sample_size(n: usize, percent: u32) -> usize {
    if n == 0 {
        return 0;
    }
    (n * percent as usize).div_ceil(100).max(1)
}

/// The reproducible draw: the `sample_size` files with the smallest
/// SHA-256(seed ‖ file id), in that order.
pub fn draw(seed: &str, files: &[String], percent: u32) -> Vec<String> {
    let mut ranked: Vec<(String, &String)> = files.iter().map(|f| (hex::encode(Sha256::digest(format!("{seed}\n{f}").as_bytes())), f)).collect();
    ranked.sort();
    ranked.dedup_by(|a, b| a.1 == b.1);
    ranked.into_iter().take(sample_size(files.len(), percent)).map(|(_, f)| f.clone()).collect()
}

/// R-SUP-5: the section score out of 100 from rates in [0, 1].
pub fn section_score(coverage: f64, rectification: f64, satisfaction: f64, documents: f64) -> f64 {
    let clamp = |x: f64| x.clamp(0.0, 1.0);
    40.0 * clamp(coverage) + 30.0 * clamp(rectification) + 20.0 * clamp(satisfaction) + 10.0 * clamp(documents)
}

/// The first working day of a month (the monthly draw's day).
pub fn first_working_day(calendar: &Calendar, year: i32, month: u32) -> Result<NaiveDate, String> {
    let mut day = NaiveDate::from_ymd_opt(year, month, 1).ok_or("no such month")?;
    while !calendar.is_working_day(day).map_err(|e| e.to_string())?.value {
        day += Duration::days(1);
        if day.day() > 20 {
            return Err("no working day in the first 20 days".into());
        }
    }
    Ok(day)
}

/// The board's counters (`tallies.metric`). Monthly counters are counted in
/// the month (CST) the event happened; the gauges live in month 1970-01.
pub mod metric {
    /// Clues registered.
    pub const NEW: &str = "new";
    /// Files closed (accepted, handed to penalty, excluded, rejected, denied, refused).
    pub const CLOSED: &str = "closed";
    /// Cases approved, and of them within 15 working days of the clue (R-START-5).
    pub const APPROVED: &str = "approved";
    pub const APPROVED_TIMELY: &str = "approved_timely";
    /// Legality reviews decided in their first round, and passed there.
    pub const DOCS_REVIEWED: &str = "docs_reviewed";
    pub const DOCS_FIRST_PASS: &str = "docs_first_pass";
    /// Rectifications opened, and of them any with a missed follow-up.
    pub const RECT_OPENED: &str = "rect_opened";
    pub const RECT_FOLLOW_UP_MISSED: &str = "rect_follow_up_missed";
    /// Acceptances decided, passed; re-inspections, passed.
    pub const ACCEPT_DECIDED: &str = "accept_decided";
    pub const ACCEPT_PASSED: &str = "accept_passed";
    pub const REINSPECTED: &str = "reinspected";
    pub const REINSPECT_PASSED: &str = "reinspect_passed";
    /// Interviews held.
    pub const INTERVIEWS_HELD: &str = "interviews_held";
    /// Ratings, and the sum of their points out of 100 each.
    pub const RATINGS: &str = "ratings";
    pub const RATING_POINTS: &str = "rating_points";
    /// Complaints decided, and upheld.
    pub const COMPLAINTS_DECIDED: &str = "complaints_decided";
    pub const COMPLAINTS_UPHELD: &str = "complaints_upheld";
    /// Reconsideration applications and lawsuits received (counted in the
    /// month the organ received the copy), decided, and decided against the
    /// organ (revoked, changed, confirmed unlawful) in the month of the
    /// decision (R-RELIEF-2, R-SUP-5).
    pub const RELIEF_RECEIVED: &str = "relief_received";
    pub const RELIEF_DECIDED: &str = "relief_decided";
    pub const RELIEF_LOST: &str = "relief_lost";
    /// Gauges: open cards by colour; open files by stage (`stage:<stage>`).
    pub const CARD_GREEN: &str = "card:green";
    pub const CARD_YELLOW: &str = "card:yellow";
    pub const CARD_RED: &str = "card:red";
    pub const STAGE_PREFIX: &str = "stage:";

    pub fn card(colour: &str) -> String {
        format!("card:{colour}")
    }

    pub fn stage(stage: &str) -> String {
        format!("{STAGE_PREFIX}{stage}")
    }
}

/// The stages of a file, in order; a file only moves forward.
pub const STAGES: &[&str] = &["clue", "preparing", "review", "approval", "scheduling", "interview", "rectification", "acceptance", "closed"];

/// The rank of a stage in [`STAGES`] (unknown: 0).
pub fn stage_rank(stage: &str) -> usize {
    STAGES.iter().position(|s| *s == stage).unwrap_or(0)
}

/// Points a complaint upheld costs the section score (R-SUP-6 counts decided complaints).
pub const POINTS_PER_UPHELD_COMPLAINT: f64 = 5.0;

/// One indicator of R-SUP-5 beside its target.
#[derive(Debug, Clone, PartialEq)]
pub struct Kpi {
    pub name: &'static str,
    pub numerator: u64,
    pub denominator: u64,
    /// A rate in [0, 1]; satisfaction in points of 100. `None`: nothing counted.
    pub value: Option<f64>,
    pub target: f64,
}

impl Kpi {
    pub fn meets_target(&self) -> bool {
        self.value.is_some_and(|v| v + 1e-9 >= self.target)
    }
}

/// The indicators of R-SUP-5 from a unit's counters, and its section score.
pub fn kpis(count: impl Fn(&str) -> u64) -> (Vec<Kpi>, f64) {
    use metric::*;
    let rate = |name: &'static str, num: u64, den: u64, target: f64| Kpi { name, numerator: num, denominator: den, value: (den > 0).then(|| num as f64 / den as f64), target };
    let rect_opened = count(RECT_OPENED);
    let tracked = rect_opened.saturating_sub(count(RECT_FOLLOW_UP_MISSED));
    let ratings = count(RATINGS);
    let list = vec![
        rate("start_timeliness", count(APPROVED_TIMELY), count(APPROVED), 1.0),
        rate("document_conformity", count(DOCS_FIRST_PASS), count(DOCS_REVIEWED), 0.98),
        rate("tracking_coverage", tracked, rect_opened, 1.0),
        rate("rectification_pass", count(ACCEPT_PASSED), count(ACCEPT_DECIDED), 0.90),
        rate("reinspection_pass", count(REINSPECT_PASSED), count(REINSPECTED), 0.92),
        Kpi { name: "satisfaction", numerator: count(RATING_POINTS), denominator: ratings, value: (ratings > 0).then(|| count(RATING_POINTS) as f64 / ratings as f64), target: 95.0 },
        rate("interview_coverage", count(INTERVIEWS_HELD).min(count(APPROVED)), count(APPROVED), 0.80),
        // R-SUP-5 "reconsideration and litigation down 30% a year": the
        // reliefs received per file closed in the period. Lower is better and
        // the target is relative (at most 0.7 × the same figure a year
        // earlier), which a fixed `target` cannot say: it stays 0 (no fixed
        // target) and the comparison with last year's board is the reader's.
        // Not part of the section score.
        rate("relief_rate", count(RELIEF_RECEIVED), count(CLOSED), 0.0),
        // The outcomes counted: of the reliefs decided in the period, those
        // the organ lost (act revoked, changed or confirmed unlawful). Lower
        // is better; no fixed target (0), as above.
        rate("relief_loss_rate", count(RELIEF_LOST), count(RELIEF_DECIDED), 0.0),
    ];
    // A unit with nothing counted scores as meeting its target (no evidence against it).
    let or_target = |k: &Kpi, scale: f64| k.value.map(|v| v / scale).unwrap_or(k.target / scale);
    let score = section_score(or_target(&list[6], 1.0), or_target(&list[3], 1.0), or_target(&list[5], 100.0), or_target(&list[1], 1.0))
        - POINTS_PER_UPHELD_COMPLAINT * count(COMPLAINTS_UPHELD) as f64;
    (list, score.max(0.0))
}

/// Points out of 100 of one rating (three marks of 1–5).
pub fn rating_points(attitude: u32, professionalism: u32, communication: u32) -> u64 {
    u64::from(attitude + professionalism + communication) * 100 / 15
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn r_sup_3_a_clue_registered_on_friday_2026_09_18_turns_yellow_on_monday_and_red_after_tuesday_across_the_make_up_sunday() {
        let calendar = Calendar::builtin();
        // R-START-2: 3 working days; Sunday 2026-09-20 is a make-up workday.
        let deadline = calendar.add_working_days(d("2026-09-18"), 3).unwrap().value;
        assert_eq!(deadline, d("2026-09-22"));
        assert_eq!(colour(&calendar, deadline, d("2026-09-20"), 1).unwrap(), Colour::Green, "two working days left");
        assert_eq!(colour(&calendar, deadline, d("2026-09-21"), 1).unwrap(), Colour::Yellow);
        assert_eq!(colour(&calendar, deadline, d("2026-09-22"), 1).unwrap(), Colour::Yellow, "the deadline day itself");
        assert_eq!(colour(&calendar, deadline, d("2026-09-23"), 1).unwrap(), Colour::Red);
        assert_eq!(changes(&calendar, d("2026-09-18"), deadline, 1).unwrap(), (Some(d("2026-09-21")), d("2026-09-23")));
    }

    #[test]
    fn r_sup_3_three_red_cards_in_a_row_cost_the_award() {
        use Colour::*;
        assert!(!loses_award(&[Red, Red, Green, Red, Red]));
        assert!(loses_award(&[Green, Red, Red, Red]));
    }

    #[test]
    fn r_sup_1_twenty_closed_files_draw_at_least_three_and_the_same_inputs_draw_the_same_files() {
        let files: Vec<String> = (1..=20).map(|i| format!("case-{i:02}")).collect();
        let seed = seed(2026, 9, "620102", "digest-of-the-last-rollup");
        let a = draw(&seed, &files, MONTHLY_SAMPLE_PERCENT);
        assert_eq!(a.len(), 3);
        assert_eq!(a, draw(&seed, &files, MONTHLY_SAMPLE_PERCENT), "reproducible");
        let mut shuffled = files.clone();
        shuffled.reverse();
        assert_eq!(a, draw(&seed, &shuffled, MONTHLY_SAMPLE_PERCENT), "the order of the inputs does not matter");
        assert_ne!(a, draw(&super::seed(2026, 10, "620102", "digest-of-the-last-rollup"), &files, MONTHLY_SAMPLE_PERCENT), "another month draws others");
        assert_eq!(sample_size(1, 15), 1);
        assert_eq!(sample_size(21, 15), 4);
        assert_eq!(sample_size(0, 15), 0);
    }

    #[test]
    fn r_sup_5_the_section_score_weighs_coverage_40_rectification_30_satisfaction_20_documents_10() {
        assert!((section_score(1.0, 1.0, 1.0, 1.0) - 100.0).abs() < 1e-9);
        assert!((section_score(0.5, 1.0, 0.0, 1.0) - 60.0).abs() < 1e-9);
    }

    #[test]
    fn r_sup_1_the_draw_is_on_the_first_working_day_of_the_month() {
        let calendar = Calendar::builtin();
        // October 2026 starts with the National Day holiday.
        assert!(first_working_day(&calendar, 2026, 10).unwrap() > d("2026-10-07"));
        assert_eq!(first_working_day(&calendar, 2026, 9).unwrap(), d("2026-09-01"));
    }
}
