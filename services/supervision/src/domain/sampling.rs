//! Pure rules of the draw's periods and reports (R-SUP-1, R-SUP-4, R-SUP-7).
//!
//! - **Monthly draw (R-SUP-1).** At 09:00 CST on the first working day of a
//!   month, the previous month's closed files of each division and section
//!   are drawn ([`super::draw`], [`super::MONTHLY_SAMPLE_PERCENT`]) with the
//!   seed [`super::seed`] of the drawn month, the division and the digest of
//!   the last daily roll-up before the draw day.
//! - **Return visits (R-SUP-4).** At the same hour on the first working day
//!   of a quarter, 10% of the previous quarter's closed cases per division,
//!   seeded by [`return_visit_seed`] over the quarter.
//! - **Reports (R-SUP-7).** A period is a month "2026-09", a quarter
//!   "2026Q3", a half "2026H1" or a year "2026"; each has its report title.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sha2::{Digest, Sha256};
use yuetan_calendar::Calendar;

/// The draws happen at 09:00 China Standard Time.
pub const DRAW_HOUR_CST: u32 = 9;

/// A reporting period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Month(i32, u32),
    Quarter(i32, u32),
    Half(i32, u32),
    Year(i32),
}

impl Period {
    /// "2026-09", "2026Q3", "2026H1" or "2026".
    pub fn parse(s: &str) -> Option<Period> {
        let year = |y: &str| -> Option<i32> { (y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit())).then(|| y.parse().ok()).flatten().filter(|y| (2000..=2100).contains(y)) };
        if let Some((y, m)) = s.split_once('-') {
            let m: u32 = (m.len() == 2 && m.bytes().all(|b| b.is_ascii_digit())).then(|| m.parse().ok()).flatten()?;
            return (1..=12).contains(&m).then_some(Period::Month(year(y)?, m));
        }
        if let Some((y, q)) = s.split_once('Q') {
            let q = q.parse::<u32>().ok().filter(|v| (1..=4).contains(v) && q.len() == 1)?;
            return Some(Period::Quarter(year(y)?, q));
        }
        if let Some((y, h)) = s.split_once('H') {
            let h = h.parse::<u32>().ok().filter(|v| (1..=2).contains(v) && h.len() == 1)?;
            return Some(Period::Half(year(y)?, h));
        }
        Some(Period::Year(year(s)?))
    }

    /// The period as parsed.
    pub fn key(&self) -> String {
        match *self {
            Period::Month(y, m) => month_key(y, m),
            Period::Quarter(y, q) => format!("{y}Q{q}"),
            Period::Half(y, h) => format!("{y}H{h}"),
            Period::Year(y) => format!("{y}"),
        }
    }

    /// Its months, in order.
    pub fn months(&self) -> Vec<(i32, u32)> {
        let (y, from, n) = match *self {
            Period::Month(y, m) => (y, m, 1),
            Period::Quarter(y, q) => (y, 3 * q - 2, 3),
            Period::Half(y, h) => (y, 6 * h - 5, 6),
            Period::Year(y) => (y, 1, 12),
        };
        (from..from + n).map(|m| (y, m)).collect()
    }

    /// Its first and last day.
    pub fn days(&self) -> (NaiveDate, NaiveDate) {
        let months = self.months();
        let (fy, fm) = months[0];
        let (ly, lm) = months[months.len() - 1];
        (first_day(fy, fm), last_day(ly, lm))
    }

    /// The quarters it covers or lies in ("2026Q3"), for the return visits.
    pub fn quarters(&self) -> Vec<String> {
        let mut q: Vec<String> = self.months().iter().map(|&(y, m)| quarter_key(y, quarter_of(m))).collect();
        q.dedup();
        q
    }

    /// The report's title (R-SUP-7).
    pub fn title(&self) -> &'static str {
        match self {
            Period::Month(..) => "月度督查报告",
            Period::Quarter(..) => "约谈工作季度报告",
            Period::Half(..) => "半年效果评估",
            Period::Year(..) => "年度社会效果评估",
        }
    }

    /// "2026年9月", "2026年第三季度", "2026年上半年", "2026年度".
    pub fn label(&self) -> String {
        match *self {
            Period::Month(y, m) => format!("{y}年{m}月"),
            Period::Quarter(y, q) => format!("{y}年第{}季度", ["一", "二", "三", "四"][(q - 1) as usize]),
            Period::Half(y, h) => format!("{y}年{}", if h == 1 { "上半年" } else { "下半年" }),
            Period::Year(y) => format!("{y}年度"),
        }
    }
}

pub fn first_day(y: i32, m: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, 1).expect("a month")
}

pub fn last_day(y: i32, m: u32) -> NaiveDate {
    let (ny, nm) = next_month(y, m);
    first_day(ny, nm) - Duration::days(1)
}

pub fn next_month(y: i32, m: u32) -> (i32, u32) {
    if m == 12 {
        (y + 1, 1)
    } else {
        (y, m + 1)
    }
}

pub fn previous_month(y: i32, m: u32) -> (i32, u32) {
    if m == 1 {
        (y - 1, 12)
    } else {
        (y, m - 1)
    }
}

/// "2026-09".
pub fn month_key(y: i32, m: u32) -> String {
    format!("{y:04}-{m:02}")
}

/// A month key "2026-09".
pub fn parse_month(s: &str) -> Option<(i32, u32)> {
    match Period::parse(s)? {
        Period::Month(y, m) => Some((y, m)),
        _ => None,
    }
}

/// 1..=4.
pub fn quarter_of(month: u32) -> u32 {
    (month - 1) / 3 + 1
}

/// "2026Q3".
pub fn quarter_key(y: i32, q: u32) -> String {
    format!("{y}Q{q}")
}

/// A quarter key "2026Q3".
pub fn parse_quarter(s: &str) -> Option<(i32, u32)> {
    match Period::parse(s)? {
        Period::Quarter(y, q) => Some((y, q)),
        _ => None,
    }
}

pub fn next_quarter(y: i32, q: u32) -> (i32, u32) {
    if q == 4 {
        (y + 1, 1)
    } else {
        (y, q + 1)
    }
}

pub fn previous_quarter(y: i32, q: u32) -> (i32, u32) {
    if q == 1 {
        (y - 1, 4)
    } else {
        (y, q - 1)
    }
}

/// 09:00 CST of a day, in UTC.
pub fn draw_time(day: NaiveDate) -> DateTime<Utc> {
    let at = day.and_hms_opt(DRAW_HOUR_CST, 0, 0).expect("a time");
    DateTime::<Utc>::from_naive_utc_and_offset(at, Utc) - Duration::hours(8)
}

/// R-SUP-1: when the draw of month `m`'s timer fires (it draws the month before).
pub fn monthly_draw_at(calendar: &Calendar, y: i32, m: u32) -> Result<DateTime<Utc>, String> {
    Ok(draw_time(super::first_working_day(calendar, y, m)?))
}

/// R-SUP-4: the first working day of a quarter (the return visits' draw).
pub fn quarter_first_working_day(calendar: &Calendar, y: i32, q: u32) -> Result<NaiveDate, String> {
    super::first_working_day(calendar, y, 3 * q - 2)
}

/// R-SUP-4: the published seed of a quarter's return visits for a division.
pub fn return_visit_seed(quarter: &str, division: &str, previous_digest: &str) -> String {
    hex::encode(Sha256::digest(format!("yuetan-return-visit\n{quarter}\n{division}\n{previous_digest}").as_bytes()))
}

/// The next monthly draw at or after `now`: its timer key (the month it
/// happens in) and its time.
pub fn next_monthly(calendar: &Calendar, now: DateTime<Utc>, today: NaiveDate) -> Result<(String, DateTime<Utc>), String> {
    use chrono::Datelike;
    let (mut y, mut m) = (today.year(), today.month());
    loop {
        let at = monthly_draw_at(calendar, y, m)?;
        if at > now {
            return Ok((month_key(y, m), at));
        }
        (y, m) = next_month(y, m);
    }
}

/// The next quarterly draw after `now`: its key (the quarter it happens in) and its time.
pub fn next_quarterly(calendar: &Calendar, now: DateTime<Utc>, today: NaiveDate) -> Result<(String, DateTime<Utc>), String> {
    use chrono::Datelike;
    let (mut y, mut q) = (today.year(), quarter_of(today.month()));
    loop {
        let at = draw_time(quarter_first_working_day(calendar, y, q)?);
        if at > now {
            return Ok((quarter_key(y, q), at));
        }
        (y, q) = next_quarter(y, q);
    }
}

/// The Chinese name of an R-SUP-5 indicator of [`super::kpis`].
pub fn kpi_label(name: &str) -> &'static str {
    match name {
        "start_timeliness" => "立案启动及时率",
        "document_conformity" => "文书规范率",
        "tracking_coverage" => "整改跟踪覆盖率",
        "rectification_pass" => "整改验收合格率",
        "reinspection_pass" => "复查合格率",
        "satisfaction" => "当事人满意度",
        "interview_coverage" => "约谈覆盖率",
        "section_score" => "科室综合得分",
        "relief_rate" => "行政复议和诉讼发生率",
        "relief_loss_rate" => "复议诉讼纠错率",
        _ => "其他",
    }
}

/// A score of one point of a drawn file: 0–10.
pub const MAX_POINT_SCORE: u32 = 10;
/// Bounds of a score's comment and a return visit's outcome.
pub const MAX_COMMENT: usize = 500;
pub const MAX_OUTCOME: usize = 2000;

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn r_sup_7_periods_parse_to_their_months() {
        assert_eq!(Period::parse("2026Q3").unwrap().months(), vec![(2026, 7), (2026, 8), (2026, 9)]);
        assert_eq!(Period::parse("2026-09").unwrap().months(), vec![(2026, 9)]);
        assert_eq!(Period::parse("2026H2").unwrap().days(), (d("2026-07-01"), d("2026-12-31")));
        assert_eq!(Period::parse("2026").unwrap().months().len(), 12);
        assert_eq!(Period::parse("2026Q3").unwrap().title(), "约谈工作季度报告");
        assert_eq!(Period::parse("2026H1").unwrap().title(), "半年效果评估");
        assert_eq!(Period::parse("2026").unwrap().title(), "年度社会效果评估");
        assert_eq!(Period::parse("2026-09").unwrap().title(), "月度督查报告");
        assert_eq!(Period::parse("2026Q3").unwrap().label(), "2026年第三季度");
        assert_eq!(Period::parse("2026H1").unwrap().quarters(), vec!["2026Q1", "2026Q2"]);
        for bad in ["", "2026Q5", "2026Q0", "2026-13", "2026-9", "2026H3", "26", "2026Q03", "abcd", "2026-00"] {
            assert_eq!(Period::parse(bad), None, "{bad:?}");
        }
        assert_eq!(Period::parse("2026Q3").unwrap().key(), "2026Q3");
    }

    #[test]
    fn r_sup_4_the_return_visits_are_drawn_on_the_quarter_s_first_working_day_at_nine() {
        let calendar = Calendar::builtin();
        // 2026Q4 begins with the National Day holiday.
        let day = quarter_first_working_day(&calendar, 2026, 4).unwrap();
        assert!(day > d("2026-10-07"));
        assert!(calendar.is_working_day(day).unwrap().value);
        assert_eq!(draw_time(day).to_rfc3339(), format!("{}T01:00:00+00:00", day));
        assert_eq!(quarter_first_working_day(&calendar, 2026, 3).unwrap(), d("2026-07-01"));
        // After the Q3 draw the next is Q4's.
        let (key, at) = next_quarterly(&calendar, draw_time(d("2026-07-01")), d("2026-07-01")).unwrap();
        assert_eq!((key.as_str(), at), ("2026Q4", draw_time(day)));
        let (key, _) = next_monthly(&calendar, draw_time(d("2026-09-01")) - Duration::seconds(1), d("2026-09-01")).unwrap();
        assert_eq!(key, "2026-09");
        let (key, at) = next_monthly(&calendar, draw_time(d("2026-09-01")), d("2026-09-01")).unwrap();
        assert_eq!((key.as_str(), at), ("2026-10", draw_time(day)));
        assert_eq!(previous_quarter(2026, 1), (2025, 4));
        assert_eq!(previous_month(2026, 1), (2025, 12));
    }

    #[test]
    fn r_sup_1_seeds_differ_per_month_division_and_digest() {
        let a = super::super::seed(2026, 9, "620102", "d");
        assert_ne!(a, super::super::seed(2026, 8, "620102", "d"));
        assert_ne!(a, super::super::seed(2026, 9, "620103", "d"));
        assert_ne!(a, super::super::seed(2026, 9, "620102", "e"));
        assert_eq!(a, super::super::seed(2026, 9, "620102", "d"));
        assert_ne!(return_visit_seed("2026Q3", "620102", "d"), return_visit_seed("2026Q2", "620102", "d"));
        assert_ne!(return_visit_seed("2026Q3", "620102", "d"), return_visit_seed("2026Q3", "620103", "d"));
    }
}
