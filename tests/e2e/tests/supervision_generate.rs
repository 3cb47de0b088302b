//! `yuetan dev generate` (issue 12's benchmark generator): the bulk path
//! leaves supervision's read model as the live consumer would — counters
//! that agree with the files and cards, one open card per open step, card
//! colours as of today (R-SUP-3) with the timers still to fire, which the
//! live sweeper then fires — and refuses a filled read model unless asked
//! to append.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use yuetan_harness::{req, Officer, Service, System};
use yuetan_proto::supervision as pb;
use yuetan_supervision::domain;
use yuetan_supervision::generate::{self, Options};

const TODAY: &str = "2026-11-26";

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
}

fn options(cases: u64, append: bool) -> Options {
    Options { cases, today: TODAY.parse().unwrap(), seed: 7, append, chunk: 3_000, yellow_days: 1 }
}

/// Rows where the counters and the rows they count disagree (both ways):
/// open files by stage, open cards by colour (month 1970-01), and files
/// new, closed and approved per month. Counters folded or not.
const DISAGREEMENTS: &str = "
WITH counted AS (
    SELECT division, section, DATE '1970-01-01' AS month, 'stage:' || stage AS metric, count(*)::bigint AS n FROM files WHERE stage <> 'closed' GROUP BY 1, 2, 3, 4
    UNION ALL SELECT division, section, DATE '1970-01-01', 'card:' || colour, count(*) FROM cards WHERE NOT closed GROUP BY 1, 2, 3, 4
    UNION ALL SELECT division, section, date_trunc('month', opened_on)::date, 'new', count(*) FROM files GROUP BY 1, 2, 3, 4
    UNION ALL SELECT division, section, date_trunc('month', closed_on)::date, 'closed', count(*) FROM files WHERE closed_on IS NOT NULL GROUP BY 1, 2, 3, 4
    UNION ALL SELECT division, section, date_trunc('month', approved_on)::date, 'approved', count(*) FROM files WHERE approved_on IS NOT NULL GROUP BY 1, 2, 3, 4
), tallied AS (
    SELECT division, section, month, metric, sum(n)::bigint AS n FROM (
        SELECT division, section, month, metric, n FROM tallies UNION ALL SELECT division, section, month, metric, n FROM tally_deltas
    ) t WHERE metric IN ('new', 'closed', 'approved') OR metric LIKE 'stage:%' OR metric LIKE 'card:%'
    GROUP BY 1, 2, 3, 4 HAVING sum(n) <> 0
)
SELECT count(*) FROM ((SELECT * FROM counted EXCEPT SELECT * FROM tallied) UNION ALL (SELECT * FROM tallied EXCEPT SELECT * FROM counted)) d";

async fn scalar(pool: &sqlx::PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[tokio::test]
async fn r_sup_3_a_generated_province_has_counters_that_agree_with_its_files_and_cards_and_its_timers_fire_live() {
    // Thursday 2026-11-26, 10:00 CST.
    let s = System::builder().at(at("2026-11-26T02:00:00Z")).with(Service::Supervision).start().await;
    let pool = s.pool_of(Service::Supervision).clone();
    let calendar = s.calendar.current();
    let today: NaiveDate = TODAY.parse().unwrap();
    let mut chunks = 0;
    let summary = generate::generate(&pool, &calendar, &options(20_000, false), &mut |_, _| chunks += 1).await.unwrap();
    assert_eq!(chunks, 7, "20 000 files in chunks of 3 000");
    assert_eq!((summary.files, scalar(&pool, "SELECT count(*) FROM files").await), (20_000, 20_000));
    assert_eq!(summary.cards as i64, scalar(&pool, "SELECT count(*) FROM cards").await);
    assert_eq!(summary.timers as i64, scalar(&pool, "SELECT count(*) FROM timers WHERE kind = 'supervision.card'").await);

    // Gansu: 14 cities, 86 counties, 5 sections each; two years of clues.
    let (counties, cities, sections): (i64, i64, i64) =
        sqlx::query_as("SELECT count(DISTINCT division), count(DISTINCT left(division, 4)), count(DISTINCT section) FROM files").fetch_one(&pool).await.unwrap();
    assert_eq!((counties, cities, sections), (86, 14, 5));
    let (first, last): (NaiveDate, NaiveDate) = sqlx::query_as("SELECT min(received_on), max(received_on) FROM files").fetch_one(&pool).await.unwrap();
    assert!(first > today - chrono::Duration::days(731) && first < today - chrono::Duration::days(720), "{first}");
    assert_eq!(last, today);
    // A realistic mix: most files a year old are closed, most of this week's open.
    let old_open = scalar(&pool, "SELECT count(*) FROM files WHERE received_on < DATE '2025-11-26' AND stage <> 'closed'").await;
    let old = scalar(&pool, "SELECT count(*) FROM files WHERE received_on < DATE '2025-11-26'").await;
    assert!(old_open * 30 < old, "{old_open} of {old} old files open");
    let recent_open = scalar(&pool, "SELECT count(*) FROM files WHERE received_on >= DATE '2026-11-23' AND stage <> 'closed'").await;
    let recent = scalar(&pool, "SELECT count(*) FROM files WHERE received_on >= DATE '2026-11-23'").await;
    assert!(recent_open * 10 > recent * 9, "{recent_open} of {recent} recent files open");
    assert!(scalar(&pool, "SELECT count(DISTINCT stage) FROM files").await == 9, "every stage present");
    assert_eq!(scalar(&pool, "SELECT count(*) FROM files WHERE (stage = 'closed') <> (outcome IS NOT NULL AND closed_on IS NOT NULL)").await, 0);

    // The counters agree with the rows they count.
    assert_eq!(scalar(&pool, DISAGREEMENTS).await, 0, "counters and rows disagree");
    let interviewed = scalar(&pool, "SELECT count(*) FROM files WHERE interviewers <> '{}'").await;
    assert!(interviewed > 10_000);
    assert_eq!(scalar(&pool, "SELECT sum(n)::bigint FROM tallies WHERE metric = 'interviews_held'").await, interviewed);
    assert_eq!(scalar(&pool, "SELECT sum(n)::bigint FROM tallies WHERE metric = 'rect_opened'").await, interviewed);
    // R-START-5: approved within 15 working days of the clue.
    let approved: Vec<(NaiveDate, NaiveDate)> = sqlx::query_as("SELECT received_on, approved_on FROM files WHERE approved_on IS NOT NULL").fetch_all(&pool).await.unwrap();
    let timely = approved.iter().filter(|(r, a)| calendar.working_days_between(*r, *a).unwrap().value <= 15).count() as i64;
    assert_eq!(scalar(&pool, "SELECT sum(n)::bigint FROM tallies WHERE metric = 'approved_timely'").await, timely);
    assert!(timely * 10 > approved.len() as i64 * 9, "{timely} of {} timely", approved.len());

    // One open card for the step an open file is at (none while preparing),
    // and the R-START-5 card until approval.
    let wrong = scalar(
        &pool,
        "SELECT count(*) FROM files f WHERE stage NOT IN ('closed', 'preparing') AND (
             SELECT count(*) FROM cards c WHERE NOT c.closed AND c.step NOT IN ('clue_to_approval', 'record')
                AND (c.subject_id = f.id::text OR c.case_id = f.case_id)) <> 1",
    )
    .await;
    assert_eq!(wrong, 0, "files without exactly one open card of their step");
    let start_cards = scalar(&pool, "SELECT count(*) FROM cards WHERE step = 'clue_to_approval'").await;
    let before_approval = scalar(&pool, "SELECT count(*) FROM files WHERE stage IN ('clue', 'preparing', 'review', 'approval')").await;
    assert_eq!(start_cards, before_approval);
    // Colours as of today, every colour present, and the timers still to fire.
    let cards: Vec<(NaiveDate, String)> = sqlx::query_as("SELECT deadline, colour FROM cards").fetch_all(&pool).await.unwrap();
    for (deadline, colour) in &cards {
        assert_eq!(domain::colour(&calendar, *deadline, today, 1).unwrap().as_str(), colour.as_str(), "deadline {deadline}");
    }
    for colour in ["green", "yellow", "red"] {
        assert!(cards.iter().any(|(_, c)| c.as_str() == colour), "no {colour} card");
    }
    let no_red_timer = scalar(
        &pool,
        "SELECT count(*) FROM cards c WHERE colour <> 'red' AND NOT EXISTS (
             SELECT 1 FROM timers t WHERE t.kind = 'supervision.card' AND t.key = c.id::text || '/red' AND t.fired_at IS NULL)",
    )
    .await;
    assert_eq!(no_red_timer, 0, "a card that will never turn red");
    assert_eq!(scalar(&pool, "SELECT count(*) FROM timers WHERE kind = 'supervision.card' AND due_at <= TIMESTAMPTZ '2026-11-26 02:00:00+00'").await, 0, "a timer already due");

    // The board reads the counters.
    let leader = Officer::new("prov-leader", "620000-SJ", "620000", &["leader"]);
    let board = s.supervision().get_board(req(&leader, pb::GetBoardRequest { division: "620000".into(), period: "2026".into() })).await.unwrap().into_inner();
    assert_eq!(board.rows.len(), 14, "the 14 cities");
    let total = board.total.unwrap();
    let open: i64 = scalar(&pool, "SELECT count(*) FROM files WHERE stage <> 'closed'").await;
    assert_eq!(total.open_by_stage.values().sum::<u64>() as i64, open);
    assert_eq!((total.green + total.yellow + total.red) as i64, cards.len() as i64);

    // Friday 2026-11-27 00:00 CST: the live sweeper fires the timers due, and
    // the counters still agree with the cards.
    let due = scalar(&pool, "SELECT count(*) FROM timers WHERE kind = 'supervision.card' AND due_at <= TIMESTAMPTZ '2026-11-26 16:00:01+00'").await;
    assert!(due > 0, "nothing turns on Friday");
    s.clock.set(at("2026-11-26T16:00:01Z"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while scalar(&pool, "SELECT count(*) FROM timers WHERE due_at <= TIMESTAMPTZ '2026-11-26 16:00:01+00' AND fired_at IS NULL AND cancelled_at IS NULL").await > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the due timers never fired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let friday: NaiveDate = "2026-11-27".parse().unwrap();
    let cards: Vec<(NaiveDate, String)> = sqlx::query_as("SELECT deadline, colour FROM cards").fetch_all(&pool).await.unwrap();
    for (deadline, colour) in &cards {
        assert_eq!(domain::colour(&calendar, *deadline, friday, 1).unwrap().as_str(), colour.as_str(), "deadline {deadline} on Friday");
    }
    assert_eq!(scalar(&pool, DISAGREEMENTS).await, 0, "counters and rows disagree after the timers");

    // A second run refuses a filled read model, unless it appends.
    let refused = generate::generate(&pool, &calendar, &options(10, false), &mut |_, _| {}).await.unwrap_err();
    assert!(refused.to_string().contains("--append"), "{refused}");
    assert_eq!(scalar(&pool, "SELECT count(*) FROM files").await, 20_000);
    let mut appended = options(1_000, true);
    appended.seed = 8;
    generate::generate(&pool, &calendar, &appended, &mut |_, _| {}).await.unwrap();
    assert_eq!(scalar(&pool, "SELECT count(*) FROM files").await, 21_000);
    assert_eq!(scalar(&pool, DISAGREEMENTS).await, 0, "counters and rows disagree after appending");
    s.stop().await;
}
