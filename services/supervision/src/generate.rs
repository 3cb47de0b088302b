//! `yuetan dev generate`: a province of generated files written in bulk
//! into supervision's read model (issue 12's benchmark).
//!
//! Gansu's 14 cities and 86 counties (real city prefixes 6201…6212, 6229,
//! 6230; county codes synthetic but stable: `<city><02…>`), five sections per
//! county, `cases` clues received on the working days of the two years
//! before `today`, spread evenly. Each file walks the steps of a case with
//! the calendar's working days (R-START-2 3 days to verify, R-START-3 2 or 5
//! to review, R-START-4 1 or 3 to approve, R-NOTICE-1 2 to serve the notice,
//! R-NOTICE-3 5 (urgent 1) to hold the interview, R-RECT-3 the report 3
//! working days before a 15–30-day rectification deadline, R-RECT-4 5 to
//! accept); most steps are done in time, a few late, a few files stall.
//! The first step not done by `today` is the file's stage, with its open
//! deadline card coloured as of `today` ([`domain::colour`]) and the durable
//! timers that will turn it yellow and red; so old files are closed and
//! recent ones in progress. A deterministic RNG (SplitMix64 per file from
//! the seed and the file's index) makes the same seed give the same province.
//!
//! Written as the live consumer would leave the board: `files`, the open
//! `cards` with their timers, and `tallies` (`new` in the month of the clue,
//! `closed`, `approved` and `approved_timely` (≤ 15 working days, R-START-5),
//! `docs_reviewed`/`docs_first_pass`, `interviews_held`, `rect_opened`,
//! `rect_follow_up_missed`, `accept_decided`/`accept_passed`,
//! `reinspected`/`reinspect_passed` in their months; the gauges `stage:*` of
//! open files and `card:*` of open cards in month 1970-01), computed in
//! memory and added in one statement. Not written (they feed neither the
//! board nor the roll-up): the timeline, the closed cards of steps already
//! done, the audit rows, ratings, complaints and the red runs per section.
//!
//! Rows go in with `COPY … FROM STDIN` (text format) in chunks, all in one
//! transaction: the province appears whole or not at all.

use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDate};
use sqlx::{PgConnection, PgPool};
use tokio::sync::mpsc;
use uuid::Uuid;
use yuetan_calendar::Calendar;
use yuetan_platform::Error;

use crate::domain::{self, metric, Colour};
use crate::flow::CARD_TIMER;

/// The 14 cities of Gansu (prefix, name, counties): 86 counties in all.
pub const CITIES: [(&str, &str, usize); 14] = [
    ("6201", "兰州市", 8),
    ("6202", "嘉峪关市", 1),
    ("6203", "金昌市", 2),
    ("6204", "白银市", 5),
    ("6205", "天水市", 7),
    ("6206", "武威市", 4),
    ("6207", "张掖市", 6),
    ("6208", "平凉市", 7),
    ("6209", "酒泉市", 7),
    ("6210", "庆阳市", 8),
    ("6211", "定西市", 7),
    ("6212", "陇南市", 8),
    ("6229", "临夏回族自治州", 8),
    ("6230", "甘南藏族自治州", 8),
];

/// The five sections of every county's bureau.
pub const SECTIONS: [&str; 5] = ["综合执法科", "食品安全科", "特种设备科", "价格监督科", "网络交易科"];

/// The province's division code.
pub const PROVINCE: &str = "620000";

/// The 86 county codes, city by city (`620102` is Lanzhou's first).
pub fn counties() -> Vec<String> {
    CITIES.iter().flat_map(|(city, _, n)| (0..*n).map(move |j| format!("{city}{:02}", j + 2))).collect()
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Options {
    pub cases: u64,
    /// The day the province is seen on: files are received in the two years before it.
    pub today: NaiveDate,
    pub seed: u64,
    /// Add to files already there (otherwise refuse a non-empty `files`).
    pub append: bool,
    /// Files per COPY statement.
    pub chunk: usize,
    /// Yellow when at most this many working days remain (as the service's setting).
    pub yellow_days: u32,
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub files: u64,
    /// Open files (not closed) and their open cards (files in `preparing` have none).
    pub open_files: u64,
    pub cards: u64,
    pub timers: u64,
    pub tallies: u64,
    /// Open files per stage and open cards per colour.
    pub by_stage: Vec<(String, u64)>,
    pub by_colour: Vec<(String, u64)>,
    /// Time to write the rows (COPY), the tallies, and in all.
    pub copy_time: Duration,
    pub tally_time: Duration,
    pub elapsed: Duration,
}

impl Summary {
    pub fn files_per_second(&self) -> f64 {
        self.files as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Progress after each chunk: files written so far, and the time since the start.
pub type Progress<'a> = &'a mut (dyn FnMut(u64, Duration) + Send);

// ---------------------------------------------------------------------------
// Working days by table: the calendar's answers for every day of the range,
// so a file's ten deadlines cost ten array reads.

struct Days {
    first: NaiveDate,
    /// Working days in `[first, first + i]`.
    cum: Vec<u32>,
    /// The index of the k-th working day (0-based).
    nth: Vec<u32>,
    working: Vec<bool>,
}

impl Days {
    fn build(calendar: &Calendar, first: NaiveDate, last: NaiveDate) -> Result<Days, Error> {
        let n = (last - first).num_days() as usize + 1;
        let (mut cum, mut nth, mut working) = (Vec::with_capacity(n), Vec::new(), Vec::with_capacity(n));
        let mut count = 0u32;
        for i in 0..n {
            let day = first + chrono::Duration::days(i as i64);
            let w = calendar.is_working_day(day).map_err(|e| Error::Internal(e.to_string()))?.value;
            if w {
                nth.push(i as u32);
                count += 1;
            }
            cum.push(count);
            working.push(w);
        }
        Ok(Days { first, cum, nth, working })
    }

    fn index(&self, day: NaiveDate) -> u32 {
        (day - self.first).num_days() as u32
    }

    fn date(&self, i: u32) -> NaiveDate {
        self.first + chrono::Duration::days(i64::from(i))
    }

    /// `Calendar::add_working_days`: the n-th working day after `d`.
    fn add(&self, d: u32, n: u32) -> u32 {
        if n == 0 {
            return d;
        }
        self.nth[(self.cum[d as usize] + n - 1) as usize]
    }

    /// The working day `n` working days before the working day `d`.
    fn back(&self, d: u32, n: u32) -> u32 {
        let rank = self.cum[d as usize] - 1;
        self.nth[rank.saturating_sub(n) as usize]
    }

    /// `Calendar::working_days_between`: working days in `(a, b]`.
    #[cfg(test)]
    fn between(&self, a: u32, b: u32) -> u32 {
        if b <= a {
            0
        } else {
            self.cum[b as usize] - self.cum[a as usize]
        }
    }

    /// `Calendar::calendar_day_deadline`: `d + n` days, moved to the next working day.
    fn calendar_deadline(&self, d: u32, n: u32) -> u32 {
        let mut day = d + n;
        while !self.working[day as usize] {
            day += 1;
        }
        day
    }
}

// ---------------------------------------------------------------------------

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, index: u64) -> Rng {
        let mut r = Rng(seed ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.next();
        r
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u32, hi: u32) -> u32 {
        lo + (self.next() % u64::from(hi - lo + 1)) as u32
    }

    /// A UUIDv7 of the moment `ms` (Unix milliseconds), random bits from the RNG.
    fn uuid7(&mut self, ms: u64) -> Uuid {
        let r = self.next();
        Uuid::from_u64_pair((ms << 16) | 0x7000 | (r & 0x0fff), ((r >> 12) & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000)
    }
}

/// Monthly counters and gauges, in the order of [`METRICS`].
const METRICS: [&str; 15] = [
    metric::NEW,
    metric::CLOSED,
    metric::APPROVED,
    metric::APPROVED_TIMELY,
    metric::DOCS_REVIEWED,
    metric::DOCS_FIRST_PASS,
    metric::RECT_OPENED,
    metric::RECT_FOLLOW_UP_MISSED,
    metric::ACCEPT_DECIDED,
    metric::ACCEPT_PASSED,
    metric::REINSPECTED,
    metric::REINSPECT_PASSED,
    metric::INTERVIEWS_HELD,
    metric::CARD_GREEN,
    metric::CARD_YELLOW,
];
const NEW: usize = 0;
const CLOSED: usize = 1;
const APPROVED: usize = 2;
const APPROVED_TIMELY: usize = 3;
const DOCS_REVIEWED: usize = 4;
const DOCS_FIRST_PASS: usize = 5;
const RECT_OPENED: usize = 6;
const RECT_FOLLOW_UP_MISSED: usize = 7;
const ACCEPT_DECIDED: usize = 8;
const ACCEPT_PASSED: usize = 9;
const REINSPECTED: usize = 10;
const REINSPECT_PASSED: usize = 11;
const INTERVIEWS_HELD: usize = 12;
/// Then the gauges: the three card colours and the eight open stages.
const CARD_BASE: usize = 13;
const STAGE_BASE: usize = CARD_BASE + 3;
const SLOTS: usize = STAGE_BASE + 8;

fn slot_name(slot: usize) -> String {
    match slot {
        s if s < CARD_BASE => METRICS[s].to_string(),
        s if s < STAGE_BASE => metric::card(["green", "yellow", "red"][s - CARD_BASE]),
        s => metric::stage(domain::STAGES[s - STAGE_BASE]),
    }
}

/// Counters per county, section, month (0: the live gauges) and slot.
struct Tallies {
    months: usize,
    /// The month of day index `i` (1-based slot; 0 is the live month).
    month_of_day: Vec<u16>,
    first_month: NaiveDate,
    n: Vec<i64>,
}

impl Tallies {
    fn new(days: &Days, counties: usize) -> Tallies {
        let first_month = NaiveDate::from_ymd_opt(days.first.year(), days.first.month(), 1).expect("a month");
        let month_index = |d: NaiveDate| ((d.year() - first_month.year()) * 12 + d.month() as i32 - first_month.month() as i32) as u16 + 1;
        let month_of_day: Vec<u16> = (0..days.cum.len() as u32).map(|i| month_index(days.date(i))).collect();
        let months = *month_of_day.last().unwrap_or(&0) as usize + 1;
        Tallies { months, month_of_day, first_month, n: vec![0; counties * SECTIONS.len() * months * SLOTS] }
    }

    fn add(&mut self, county: usize, section: usize, day: u32, slot: usize) {
        let month = self.month_of_day[day as usize] as usize;
        self.n[((county * SECTIONS.len() + section) * self.months + month) * SLOTS + slot] += 1;
    }

    fn gauge(&mut self, county: usize, section: usize, slot: usize) {
        self.n[((county * SECTIONS.len() + section) * self.months) * SLOTS + slot] += 1;
    }

    fn month(&self, m: usize) -> NaiveDate {
        if m == 0 {
            return crate::store::live();
        }
        let total = self.first_month.year() * 12 + self.first_month.month() as i32 - 1 + m as i32 - 1;
        NaiveDate::from_ymd_opt(total / 12, (total % 12) as u32 + 1, 1).expect("a month")
    }
}

/// Whose id a card's subject is (supervision's flow/files.rs): the clue's,
/// the case's, the rectification's, or the step's own (a review task, a
/// plan, an interview).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subject {
    Clue,
    Case,
    Rectification,
    Own,
}

/// An open step of a file on `today`.
struct OpenCard {
    step: &'static str,
    subject: Subject,
    opened: u32,
    deadline: u32,
}

/// A file as it stands on `today`.
struct File {
    county: usize,
    section: usize,
    urgent: bool,
    major: bool,
    received: u32,
    case: bool,
    stage: &'static str,
    outcome: Option<&'static str>,
    approved: Option<u32>,
    closed: Option<u32>,
    interviewed: bool,
    /// The day of its last change (`updated_at`).
    last: u32,
    cards: Vec<OpenCard>,
}

/// When a step with a limit is due and done: done in `lo..=hi` working days
/// after `start`, or late (1–4 working days after the deadline), or never
/// (the file stalls).
struct Step {
    deadline: u32,
    done: u32,
}

const NEVER: u32 = u32::MAX;
/// Per step: late, and stalled (never done).
const LATE: f64 = 0.03;
const STALL: f64 = 0.0015;

fn step(days: &Days, r: &mut Rng, start: u32, limit: u32, lo: u32, hi: u32) -> Step {
    let deadline = days.add(start, limit);
    let done = if r.chance(STALL) {
        NEVER
    } else if r.chance(LATE) {
        days.add(deadline, r.range(1, 4))
    } else {
        days.add(start, r.range(lo, hi.min(limit)))
    };
    Step { deadline, done }
}

fn card(step: &'static str, subject: Subject, opened: u32, deadline: u32) -> OpenCard {
    OpenCard { step, subject, opened, deadline }
}

/// Walks one file's steps up to `today` as flow/files.rs follows them,
/// counting what happened in `tallies`; the first step not done by `today`
/// leaves the file in its stage with that step's card open (and, before
/// approval, the R-START-5 card `clue_to_approval`).
fn simulate(days: &Days, today: u32, r: &mut Rng, county: usize, section: usize, received: u32, t: &mut Tallies) -> File {
    let urgent = r.chance(0.05);
    let major = r.chance(0.10);
    let mut f = File { county, section, urgent, major, received, case: false, stage: "clue", outcome: None, approved: None, closed: None, interviewed: false, last: received, cards: Vec::new() };
    t.add(county, section, received, NEW);
    // R-START-5: clue → approval within 15 working days, open until approved or closed.
    let start_limit = days.add(received, 15);
    let open = |mut f: File, stage: &'static str, step: Option<OpenCard>| {
        f.stage = stage;
        f.cards.extend(step);
        if f.approved.is_none() {
            f.cards.push(card("clue_to_approval", Subject::Clue, f.received, start_limit));
        }
        f
    };
    let close = |mut f: File, t: &mut Tallies, day: u32, outcome: &'static str| {
        f.stage = "closed";
        f.outcome = Some(outcome);
        f.closed = Some(day);
        f.last = day;
        f.cards.clear();
        t.add(f.county, f.section, day, CLOSED);
        f
    };
    // R-START-2: verified within 3 working days; some clues are excluded.
    let verify = step(days, r, received, 3, 1, 3);
    if verify.done > today {
        return open(f, "clue", Some(card("clue_verification", Subject::Clue, received, verify.deadline)));
    }
    if r.chance(0.06) {
        return close(f, t, verify.done, "excluded");
    }
    f.case = true;
    f.last = verify.done;
    // The approval form, prepared without a limit of its own.
    let submitted = if r.chance(STALL) { NEVER } else { days.add(verify.done, r.range(0, 2)) };
    if submitted > today {
        return open(f, "preparing", None);
    }
    f.last = submitted;
    // R-START-3: legality review in 2 working days (major: 5); the first
    // round passes, returns the form for a supplement, or rejects.
    let limit = if major { 5 } else { 2 };
    let review = step(days, r, submitted, limit, 1, if major { 4 } else { 2 });
    if review.done > today {
        return open(f, "review", Some(card("legality_review", Subject::Own, submitted, review.deadline)));
    }
    t.add(county, section, review.done, DOCS_REVIEWED);
    let roll = r.next() % 1000;
    let reviewed = if roll < 15 {
        return close(f, t, review.done, "rejected");
    } else if roll < 35 {
        f.last = review.done;
        let resubmitted = days.add(review.done, r.range(1, 3));
        if resubmitted > today {
            return open(f, "preparing", None);
        }
        f.last = resubmitted;
        let second = step(days, r, resubmitted, limit, 1, 2);
        if second.done > today {
            return open(f, "review", Some(card("legality_review", Subject::Own, resubmitted, second.deadline)));
        }
        second.done
    } else {
        t.add(county, section, review.done, DOCS_FIRST_PASS);
        review.done
    };
    f.last = reviewed;
    // R-START-4: approval in 1 working day (major: 3).
    let approval = step(days, r, reviewed, if major { 3 } else { 1 }, 0, if major { 3 } else { 1 });
    if approval.done > today {
        return open(f, "approval", Some(card("approval", Subject::Own, reviewed, approval.deadline)));
    }
    if r.chance(0.01) {
        return close(f, t, approval.done, "denied");
    }
    f.approved = Some(approval.done);
    f.last = approval.done;
    t.add(county, section, approval.done, APPROVED);
    if approval.done <= start_limit {
        t.add(county, section, approval.done, APPROVED_TIMELY);
    }
    // R-NOTICE-1: the notice issued and served within 2 working days.
    let notice = step(days, r, approval.done, 2, 1, 2);
    if notice.done > today {
        return open(f, "scheduling", Some(card("notice", Subject::Own, approval.done, notice.deadline)));
    }
    let served = notice.done;
    f.last = served;
    // R-NOTICE-3: the interview within 5 working days of service (urgent: the next day).
    let interview = if urgent {
        let deadline = served + 1;
        Step { deadline, done: if r.chance(LATE) { deadline + r.range(1, 3) } else { deadline } }
    } else {
        step(days, r, served, 5, 1, 5)
    };
    if interview.done > today {
        return open(f, "interview", Some(card("interview", Subject::Case, served, interview.deadline)));
    }
    if r.chance(0.02) {
        return close(f, t, interview.done, "refused");
    }
    let held = interview.done;
    f.interviewed = true;
    f.last = held;
    t.add(county, section, held, INTERVIEWS_HELD);
    // The record signed within 5 working days (R-INT-4), beside the rectification.
    let record = step(days, r, held, 5, 0, 3);
    let record_open = (record.done > today).then(|| card("record", Subject::Own, held, record.deadline));
    // The interview closed: the rectification opens the same day (R-INT-3:
    // a 15–30-day deadline, the report due 3 working days before, R-RECT-3).
    t.add(county, section, held, RECT_OPENED);
    let limit = days.calendar_deadline(held, r.range(15, 30));
    let report_deadline = days.back(limit, 3).max(days.add(held, 1));
    if r.chance(0.015) {
        let missed = held + r.range(7, 12);
        if missed <= today {
            t.add(county, section, missed, RECT_FOLLOW_UP_MISSED);
        }
    }
    let report = if r.chance(STALL) {
        NEVER
    } else if r.chance(0.02) {
        // No report: the penalty procedure after the deadline (R-RECT-6).
        let penalty = days.add(limit, r.range(1, 3));
        if penalty <= today {
            return close(f, t, penalty, "penalty");
        }
        NEVER
    } else if r.chance(LATE) {
        days.add(report_deadline, r.range(1, 2))
    } else {
        held + r.range(3, (report_deadline - held).max(3))
    };
    if report > today {
        f.cards.extend(record_open);
        return open(f, "rectification", Some(card("report", Subject::Rectification, held, report_deadline)));
    }
    f.last = report;
    f.cards.extend(record_open);
    // R-RECT-4: acceptance within 5 working days of the report.
    let acceptance = step(days, r, report, 5, 1, 5);
    if acceptance.done > today {
        return open(f, "acceptance", Some(card("acceptance", Subject::Rectification, report, acceptance.deadline)));
    }
    t.add(county, section, acceptance.done, ACCEPT_DECIDED);
    if r.chance(0.07) {
        return close(f, t, acceptance.done, "penalty");
    }
    t.add(county, section, acceptance.done, ACCEPT_PASSED);
    if r.chance(0.25) {
        let reinspect = acceptance.done + r.range(30, 90);
        if reinspect <= today {
            t.add(county, section, reinspect, REINSPECTED);
            if r.chance(0.94) {
                t.add(county, section, reinspect, REINSPECT_PASSED);
            }
        }
    }
    close(f, t, acceptance.done, "accepted")
}

// ---------------------------------------------------------------------------

/// One chunk's COPY text for the three tables.
struct Chunk {
    files: Vec<u8>,
    cards: Vec<u8>,
    timers: Vec<u8>,
    n: u64,
}

/// What the producer counted.
struct Produced {
    tallies: Tallies,
    open_files: u64,
    cards: u64,
    timers: u64,
    by_stage: [u64; 9],
    by_colour: [u64; 3],
}

const DAY_MS: u64 = 86_400_000;

/// Start of day `d` in China Standard Time, Unix milliseconds.
fn cst_midnight_ms(days: &Days, d: u32) -> u64 {
    let date = days.date(d);
    let utc = date.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_millis() - 8 * 3_600_000;
    utc as u64
}

/// The generator: runs on a blocking thread, sends chunks of COPY text.
fn produce(options: &Options, calendar: &Calendar, days: &Days, start_index: u64, tx: mpsc::Sender<Chunk>) -> Result<Produced, Error> {
    use std::io::Write;
    let counties = counties();
    let today = days.index(options.today);
    // The working days of the two years before today (today included).
    let window_start = days.index(options.today - chrono::Duration::days(730)) + 1;
    let working: Vec<u32> = (window_start..=today).filter(|&d| days.working[d as usize]).collect();
    let w = working.len() as u128;
    let n = u128::from(options.cases.max(1));
    let mut tallies = Tallies::new(days, counties.len());
    let mut numbers = vec![0u32; counties.len() * 4];
    let first_year = days.first.year();
    let mut out = Produced { tallies: Tallies { months: 0, month_of_day: Vec::new(), first_month: days.first, n: Vec::new() }, open_files: 0, cards: 0, timers: 0, by_stage: [0; 9], by_colour: [0; 3] };
    let strings: Vec<String> = (0..days.cum.len() as u32).map(|i| days.date(i).format("%Y-%m-%d").to_string()).collect();
    // `timestamptz` text of 10:00 CST (02:00 UTC) on each day; timers at 00:00 CST.
    let stamp = |d: u32| format!("{} 02:00:00+00", strings[d as usize]);
    let start_of = |d: u32| format!("{} 16:00:00+00", strings[d as usize - 1]);
    let now_stamp = stamp(today);
    let chunk = options.chunk.max(1) as u64;
    let mut i = 0u64;
    while i < options.cases {
        let end = (i + chunk).min(options.cases);
        let mut c = Chunk { files: Vec::with_capacity((end - i) as usize * 220), cards: Vec::new(), timers: Vec::new(), n: end - i };
        for k in i..end {
            let index = start_index + k;
            let mut r = Rng::new(options.seed, index);
            let rank = (u128::from(k) * w / n) as usize;
            let received = working[rank];
            let first_of_day = ((rank as u128 * n).div_ceil(w)) as u64;
            let ms = cst_midnight_ms(days, received) + 8 * 3_600_000 + 1_800_000 + (k - first_of_day) % (DAY_MS / 2);
            let county = (r.next() % counties.len() as u64) as usize;
            let section = (r.next() % SECTIONS.len() as u64) as usize;
            let id = r.uuid7(ms);
            let f = simulate(days, today, &mut r, county, section, received, &mut tallies);
            let division = &counties[county];
            let case_id = if f.case { Some(r.uuid7(ms + 2 * DAY_MS)) } else { None };
            let number = match case_id {
                Some(_) => {
                    let year = days.date(received).year();
                    let slot = county * 4 + (year - first_year).clamp(0, 3) as usize;
                    numbers[slot] += 1;
                    format!("{division}约〔{year}〕{}号", numbers[slot])
                }
                None => String::new(),
            };
            let opt = |d: Option<u32>| d.map_or("\\N", |d| strings[d as usize].as_str());
            let interviewers = if f.interviewed { format!("{{{division}-i{},{division}-i{}}}", r.range(1, 4), r.range(5, 8)) } else { "{}".into() };
            writeln!(
                c.files,
                "{id}\t{}\t{number}\t{division}\t{division}-SJ\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{interviewers}\t{}",
                case_id.map_or("\\N".to_string(), |c| c.to_string()),
                SECTIONS[section],
                if f.urgent { 't' } else { 'f' },
                if f.major { 't' } else { 'f' },
                f.stage,
                f.outcome.unwrap_or("\\N"),
                strings[received as usize],
                strings[received as usize],
                opt(f.approved),
                opt(f.closed),
                stamp(f.last),
            )
            .map_err(|e| Error::Internal(e.to_string()))?;
            if f.stage != "closed" {
                out.open_files += 1;
                let s = domain::stage_rank(f.stage);
                out.by_stage[s] += 1;
                tallies.gauge(county, section, STAGE_BASE + s);
            }
            let rectification = Uuid::from_u64_pair(r.next(), r.next()).to_string();
            for card in &f.cards {
                let (opened, deadline) = (days.date(card.opened), days.date(card.deadline));
                let colour = domain::colour(calendar, deadline, options.today, options.yellow_days).map_err(Error::Internal)?;
                let slot = colour as usize;
                out.by_colour[slot] += 1;
                out.cards += 1;
                tallies.gauge(county, section, CARD_BASE + slot);
                let card_id = r.uuid7(cst_midnight_ms(days, card.opened) + 10 * 3_600_000 + (k % 1000));
                let subject = match card.subject {
                    Subject::Clue => id.to_string(),
                    Subject::Case => case_id.map(|c| c.to_string()).unwrap_or_default(),
                    Subject::Rectification => rectification.clone(),
                    Subject::Own => r.uuid7(cst_midnight_ms(days, card.opened) + 9 * 3_600_000).to_string(),
                };
                writeln!(
                    c.cards,
                    "{card_id}\t{}\t{subject}\t{}\t{division}\t{division}-SJ\t{}\t{}\t{}\t{}\tf\t{now_stamp}\t\\N",
                    card.step,
                    case_id.map_or("\\N".to_string(), |c| c.to_string()),
                    SECTIONS[section],
                    strings[card.opened as usize],
                    strings[card.deadline as usize],
                    colour.as_str(),
                )
                .map_err(|e| Error::Internal(e.to_string()))?;
                // The timers still to fire (the earlier ones have).
                if colour != Colour::Red {
                    let (yellow, red) = domain::changes(calendar, opened, deadline, options.yellow_days).map_err(Error::Internal)?;
                    let mut timer = |day: NaiveDate, to: &str| -> Result<(), Error> {
                        let d = days.index(day);
                        if d > today {
                            let timer_id = r.uuid7(cst_midnight_ms(days, today) + (k % DAY_MS));
                            writeln!(c.timers, "{timer_id}\t{CARD_TIMER}\t{card_id}/{to}\t{}\t{{\"step\": \"{}\"}}", start_of(d), card.step).map_err(|e| Error::Internal(e.to_string()))?;
                            out.timers += 1;
                        }
                        Ok(())
                    };
                    if let (Some(day), Colour::Green) = (yellow, colour) {
                        timer(day, "yellow")?;
                    }
                    timer(red, "red")?;
                }
            }
        }
        if tx.blocking_send(c).is_err() {
            return Err(Error::Internal("the writer stopped".into()));
        }
        i = end;
    }
    out.tallies = tallies;
    Ok(out)
}

async fn copy(conn: &mut PgConnection, statement: &str, data: Vec<u8>) -> Result<u64, Error> {
    if data.is_empty() {
        return Ok(0);
    }
    let mut copy = conn.copy_in_raw(statement).await?;
    if let Err(err) = copy.send(data).await {
        let _ = copy.abort(err.to_string()).await;
        return Err(err.into());
    }
    Ok(copy.finish().await?)
}

/// Fills the province: `files`, open `cards`, their `timers`, `tallies`, in
/// one transaction. Refuses a non-empty `files` unless `append`.
pub async fn generate(pool: &PgPool, calendar: &Calendar, options: &Options, progress: Progress<'_>) -> Result<Summary, Error> {
    let started = Instant::now();
    let mut tx = pool.begin().await?;
    let existing: i64 = sqlx::query_scalar("SELECT count(*) FROM files").fetch_one(&mut *tx).await?;
    if existing > 0 && !options.append {
        return Err(Error::FailedPrecondition(format!("supervision.files already holds {existing} files; pass --append to add to them")));
    }
    let days = Days::build(calendar, options.today - chrono::Duration::days(800), options.today + chrono::Duration::days(400))?;
    let (sender, mut receiver) = mpsc::channel::<Chunk>(2);
    let (opts, cal) = (options.clone(), calendar.clone());
    let producer = tokio::task::spawn_blocking(move || produce(&opts, &cal, &days, existing as u64, sender));
    let mut written = 0u64;
    let copy_started = Instant::now();
    let mut failed = None;
    while let Some(chunk) = receiver.recv().await {
        let result = async {
            copy(&mut tx, "COPY files (id, case_id, number, division, organ, section, urgent, major, stage, outcome, received_on, opened_on, approved_on, closed_on, interviewers, updated_at) FROM STDIN", chunk.files).await?;
            copy(&mut tx, "COPY cards (id, step, subject_id, case_id, division, organ, section, opened_on, deadline, colour, closed, changed_at, met) FROM STDIN", chunk.cards).await?;
            copy(&mut tx, "COPY timers (id, kind, key, due_at, payload) FROM STDIN", chunk.timers).await?;
            Ok::<_, Error>(())
        }
        .await;
        if let Err(err) = result {
            failed = Some(err);
            break;
        }
        written += chunk.n;
        progress(written, started.elapsed());
    }
    drop(receiver);
    let produced = producer.await.map_err(|e| Error::Internal(format!("the generator: {e}")))?;
    if let Some(err) = failed {
        return Err(err);
    }
    let produced = produced?;
    let copy_time = copy_started.elapsed();

    let tally_started = Instant::now();
    let counties = counties();
    let t = &produced.tallies;
    let (mut division, mut section, mut month, mut name, mut n) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (c, county) in counties.iter().enumerate() {
        for (s, sec) in SECTIONS.iter().enumerate() {
            for m in 0..t.months {
                for slot in 0..SLOTS {
                    let v = t.n[((c * SECTIONS.len() + s) * t.months + m) * SLOTS + slot];
                    if v != 0 {
                        division.push(county.clone());
                        section.push(sec.to_string());
                        month.push(t.month(m));
                        name.push(slot_name(slot));
                        n.push(v);
                    }
                }
            }
        }
    }
    let tallies = division.len() as u64;
    sqlx::query(
        "INSERT INTO tallies (division, section, month, metric, n)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::date[], $4::text[], $5::int8[])
         ON CONFLICT (division, section, month, metric) DO UPDATE SET n = tallies.n + EXCLUDED.n",
    )
    .bind(division)
    .bind(section)
    .bind(month)
    .bind(name)
    .bind(n)
    .execute(&mut *tx)
    .await?;
    // The board's per-county, per-city and per-province sums (the folder keeps them live).
    crate::store::refresh_units(&mut tx).await?;
    tx.commit().await?;
    let tally_time = tally_started.elapsed();
    Ok(Summary {
        files: written,
        open_files: produced.open_files,
        cards: produced.cards,
        timers: produced.timers,
        tallies,
        by_stage: domain::STAGES.iter().zip(produced.by_stage).filter(|(s, _)| **s != "closed").map(|(s, n)| (s.to_string(), n)).collect(),
        by_colour: ["green", "yellow", "red"].iter().zip(produced.by_colour).map(|(c, n)| (c.to_string(), n)).collect(),
        copy_time,
        tally_time,
        elapsed: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn gansu_has_14_cities_and_86_counties_with_distinct_six_digit_codes() {
        let counties = counties();
        assert_eq!(CITIES.len(), 14);
        assert_eq!(counties.len(), 86);
        let mut unique = counties.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 86);
        assert!(counties.iter().all(|c| c.len() == 6 && c.starts_with("62") && !c.ends_with("00")));
        assert_eq!(counties[0], "620102", "Lanzhou's Chengguan");
    }

    #[test]
    fn the_day_table_answers_as_the_calendar_does() {
        let calendar = Calendar::builtin();
        let days = Days::build(&calendar, d("2024-09-01"), d("2027-03-01")).unwrap();
        let mut day = d("2024-10-01");
        while day < d("2026-12-31") {
            let i = days.index(day);
            for n in [1, 2, 3, 5, 15] {
                assert_eq!(days.date(days.add(i, n)), calendar.add_working_days(day, n).unwrap().value, "{day} + {n}");
            }
            let later = day + chrono::Duration::days(9);
            assert_eq!(days.between(i, days.index(later)), calendar.working_days_between(day, later).unwrap().value);
            assert_eq!(days.date(days.calendar_deadline(i, 30)), calendar.calendar_day_deadline(day, 30).unwrap().value);
            if days.working[i as usize] {
                assert_eq!(days.add(days.back(i, 3), 3), i, "{day} - 3 working days");
            }
            day += chrono::Duration::days(1);
        }
    }

    #[test]
    fn old_files_are_mostly_closed_and_recent_ones_in_progress_with_one_open_card_each() {
        let calendar = Calendar::builtin();
        let today = d("2026-11-26");
        let days = Days::build(&calendar, today - chrono::Duration::days(800), today + chrono::Duration::days(400)).unwrap();
        let t_day = days.index(today);
        let mut t = Tallies::new(&days, 86);
        let (mut old_closed, mut old, mut recent_open, mut recent) = (0, 0, 0, 0);
        for k in 0..20_000u64 {
            let mut r = Rng::new(1, k);
            let received = days.index(today - chrono::Duration::days((k % 730) as i64));
            let f = simulate(&days, t_day, &mut r, 0, 0, received, &mut t);
            if f.stage == "closed" {
                assert!(f.cards.is_empty() && f.outcome.is_some() && f.closed.is_some_and(|c| c <= t_day));
            } else {
                assert!(f.outcome.is_none());
                let steps: Vec<&str> = f.cards.iter().map(|c| c.step).collect();
                let before_approval = ["clue", "preparing", "review", "approval"].contains(&f.stage);
                assert_eq!(steps.contains(&"clue_to_approval"), before_approval, "{}: {steps:?}", f.stage);
                let own = steps.iter().filter(|s| !["clue_to_approval", "record"].contains(*s)).count();
                assert_eq!(own, usize::from(f.stage != "preparing"), "one open card of its step unless preparing: {}: {steps:?}", f.stage);
            }
            if received + 180 < t_day {
                old += 1;
                old_closed += usize::from(f.stage == "closed");
            } else if received + 10 > t_day {
                recent += 1;
                recent_open += usize::from(f.stage != "closed");
            }
        }
        assert!(old_closed * 100 > old * 97, "{old_closed} of {old} old files closed");
        assert!(recent_open * 100 > recent * 80, "{recent_open} of {recent} recent files open");
    }

    #[test]
    fn the_same_seed_gives_the_same_file() {
        let calendar = Calendar::builtin();
        let today = d("2026-11-26");
        let days = Days::build(&calendar, today - chrono::Duration::days(800), today + chrono::Duration::days(400)).unwrap();
        let mut t = Tallies::new(&days, 1);
        let a = simulate(&days, days.index(today), &mut Rng::new(7, 42), 0, 0, days.index(d("2026-10-12")), &mut t);
        let b = simulate(&days, days.index(today), &mut Rng::new(7, 42), 0, 0, days.index(d("2026-10-12")), &mut t);
        assert_eq!((a.stage, a.closed, a.approved, a.outcome), (b.stage, b.closed, b.approved, b.outcome));
        assert_eq!(Rng::new(7, 42).uuid7(1_700_000_000_000), Rng::new(7, 42).uuid7(1_700_000_000_000));
        assert_eq!(Rng::new(7, 42).uuid7(1_700_000_000_000).get_version_num(), 7);
    }
}
