//! Supervision's read model over gRPC against real NATS and PostgreSQL
//! (R-SUP-2, R-SUP-3, R-SUP-5, seed 001's board): a case driven through
//! intake, review, scheduling, the interview and rectification shows up as
//! one timeline, its cards, the county's board and the daily roll-up; a
//! rebuild from the stream into an empty schema gives the same board; the
//! roll-up of three counties sums to their city and the cities to the
//! province; every read refuses another county's officer and a city sees
//! its counties.

mod common;

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use common::*;
use tonic::Code;
use yuetan_harness::interview::interviewer;
use yuetan_harness::scheduling::{Peers, INTERVIEWER};
use yuetan_platform::outbox::{NewEvent, Outbox};
use yuetan_proto::events::event::Payload;
use yuetan_proto::events::{self as ev};
use yuetan_proto::supervision as pb;

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
}

const NOW: &str = "2026-04-28T02:00:00Z";
const SERVED: &str = "2026-04-28T03:00:00Z";
const INTERVIEW: &str = "2026-04-30T01:30:00Z";

fn city_leader() -> Officer {
    Officer::new("city-leader", "620100-SJ", "620100", &["leader"])
}

fn province_leader() -> Officer {
    Officer::new("province-leader", "620000-SJ", "620000", &["leader"])
}

fn county_chief() -> Officer {
    Officer::new("chengguan-chief", ORGAN_A, CHENGGUAN, &["section_chief"])
}

fn other_county_chief() -> Officer {
    Officer::new("qilihe-chief", "620103-SJ", QILIHE, &["section_chief", "leader", "discipline_inspector"])
}

async fn timeline(s: &System, case_id: &str, until: impl Fn(&pb::GetTimelineResponse) -> bool) -> pb::GetTimelineResponse {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(t) = s.supervision().get_timeline(req(&county_chief(), pb::GetTimelineRequest { case_id: case_id.into() })).await {
            let t = t.into_inner();
            if until(&t) {
                return t;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "the timeline of {case_id} never got there");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn kpi<'a>(row: &'a pb::BoardRow, name: &str) -> &'a pb::Kpi {
    row.kpis.iter().find(|k| k.name == name).unwrap_or_else(|| panic!("no kpi {name}"))
}

async fn board(s: &System, officer: &Officer, division: &str, period: &str) -> Result<pb::GetBoardResponse, tonic::Status> {
    s.supervision().get_board(req(officer, pb::GetBoardRequest { division: division.into(), period: period.into() })).await.map(|r| r.into_inner())
}

#[tokio::test]
async fn r_sup_2_a_case_through_every_service_is_one_timeline_on_the_county_board_and_a_rebuild_from_the_stream_gives_the_same_board() {
    let mut s = start_at(at(NOW)).await;
    let peers: Peers = s.start_scheduling_stack(false, None).await;
    s.start_service(Service::Rectification).await;
    s.start_service(Service::Supervision).await;
    let case_id = s.held_case(&peers, 1, &[], at(INTERVIEW), at(SERVED)).await;
    s.clock.set(at("2026-05-20T02:00:00Z"));
    s.paper_report(&case_id, at("2026-05-20T01:00:00Z")).await.unwrap();
    s.accept_as(&proposer(), &case_id, true).await.unwrap();
    s.accept_as(&interviewer(INTERVIEWER), &case_id, true).await.unwrap();

    // One timeline, every service, in time order, ending closed.
    let t = timeline(&s, &case_id, |t| t.stage == "closed").await;
    let services: std::collections::BTreeSet<&str> = t.entries.iter().map(|e| e.service.as_str()).collect();
    for service in ["intake", "review", "scheduling", "rectification"] {
        assert!(services.contains(service), "{service} missing from the timeline: {services:?}");
    }
    let times: Vec<i64> = t.entries.iter().map(|e| e.occurred_at.as_ref().unwrap().seconds).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "in time order");
    let approved = t.entries.iter().find(|e| e.event_type == "review.case_approved").expect("the approval");
    assert!(approved.has_deadline && approved.met, "the approval met its deadline: {approved:?}");
    assert!(t.entries.iter().any(|e| e.event_type == "intake.clue_registered"), "begins with the clue");

    // The county's board: the case counted once in each indicator.
    let b = board(&s, &county_chief(), "", "2026").await.unwrap();
    let total = b.total.unwrap();
    assert_eq!((kpi(&total, "start_timeliness").numerator, kpi(&total, "start_timeliness").denominator), (1, 1));
    assert_eq!((kpi(&total, "interview_coverage").numerator, kpi(&total, "interview_coverage").denominator), (1, 1));
    assert_eq!((kpi(&total, "rectification_pass").numerator, kpi(&total, "rectification_pass").denominator), (1, 1));
    assert!(total.open_by_stage.is_empty(), "nothing open: {:?}", total.open_by_stage);
    assert!(b.rows.iter().all(|r| r.unit.starts_with("section:")), "a county's rows are its sections");

    // Scope: another county is refused; the city sees its county as a row; the province its city.
    assert_eq!(board(&s, &other_county_chief(), CHENGGUAN, "2026").await.unwrap_err().code(), Code::PermissionDenied);
    let refused = s.supervision().get_timeline(req(&other_county_chief(), pb::GetTimelineRequest { case_id: case_id.clone() })).await.unwrap_err();
    assert_eq!(refused.code(), Code::NotFound);
    let city = board(&s, &city_leader(), "620100", "2026").await.unwrap();
    let row = city.rows.iter().find(|r| r.division == CHENGGUAN).expect("the county is a row of its city");
    assert_eq!(kpi(row, "start_timeliness").denominator, 1);
    let province = board(&s, &province_leader(), "620000", "2026").await.unwrap();
    assert!(province.rows.iter().any(|r| r.division == "620100"), "the city is a row of the province");

    // A roll-up, then the rebuild from the stream into an empty schema.
    let state = s.handle::<yuetan_supervision::Supervision>(Service::Supervision).state.clone();
    state.make_rollup(NaiveDate::from_ymd_opt(2026, 5, 20).unwrap()).await.unwrap();
    s.drain_outbox().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let report = yuetan_supervision::rebuild::rebuild(&s.config, "supervision_rebuild", s.clock.clone(), s.calendar.clone()).await.unwrap();
    assert!(report.equal, "{report}");
    assert!(report.boards >= 6, "{report}");
    // And the comparison is not blind: a counter changed in the rebuild shows.
    sqlx::query("UPDATE supervision_rebuild.tallies SET n = n + 1 WHERE metric = 'approved'").execute(s.pool()).await.unwrap();
    let rebuilt = yuetan_supervision::rebuild::open(&s.config, "supervision_rebuild", s.clock.clone(), s.calendar.clone()).await.unwrap();
    let (_, differences) = yuetan_supervision::rebuild::compare(&state, &rebuilt).await.unwrap();
    assert!(!differences.is_empty(), "a changed counter is a difference");
}

/// Writes an intake.clue_registered of `division` through intake's outbox (the real event path).
async fn clue_in(s: &System, division: &str, received: &str, deadline: &str) {
    let outbox = Outbox::new(&s.config.nats.subject_prefix, "intake");
    let mut tx = s.pool_of(Service::Intake).begin().await.unwrap();
    let payload = Payload::ClueRegistered(ev::ClueRegistered {
        clue_id: uuid::Uuid::now_v7().to_string(),
        source: "complaint".into(),
        section: "综合执法科".into(),
        violation_type: "SJ-ANNUAL-REPORT".into(),
        urgency: "normal".into(),
        received_on: Some(yuetan_platform::fields::date(received.parse().unwrap())),
        verification_deadline: Some(yuetan_platform::fields::date(deadline.parse().unwrap())),
        ..Default::default()
    });
    let event = NewEvent {
        event_type: "intake.clue_registered".into(),
        case_id: None,
        case_version: 0,
        jurisdiction: division.into(),
        organ: format!("{division}-SJ"),
        actor: None,
        correlation_id: None,
        causation_id: None,
        payload,
    };
    outbox.write(&mut tx, event, yuetan_platform::clock::Clock::now(s.clock.as_ref())).await.unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn seed_001_the_roll_up_of_three_counties_sums_to_their_city_and_the_cities_to_the_province_at_18_00_on_a_working_day() {
    // Monday 2026-09-21, 10:00 CST.
    let mut s = start_at(at("2026-09-21T02:00:00Z")).await;
    s.start_service(Service::Supervision).await;
    // Three counties of Lanzhou and one of Tianshui.
    let clues = [("620102", 3), ("620103", 2), ("620104", 1), ("620502", 4)];
    for (division, n) in clues {
        for _ in 0..n {
            clue_in(&s, division, "2026-09-21", "2026-09-24").await;
        }
    }
    // Applied (two cards a clue: verification and the start limit), then 18:00 CST: the roll-up timer.
    let waited = tokio::time::Instant::now() + Duration::from_secs(30);
    while s.supervision().list_cards(req(&province_leader(), pb::ListCardsRequest { division: "620000".into(), page_size: 100, ..Default::default() })).await.unwrap().into_inner().cards.len() < 20 {
        assert!(tokio::time::Instant::now() < waited, "the clues never reached supervision");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.clock.set(at("2026-09-21T10:00:01Z"));
    let e = s.wait_for_event(|e| e.r#type == "supervision.daily_rollup").await;
    let Some(Payload::DailyRollup(r)) = e.payload else { panic!("payload") };
    assert_eq!(r.date.unwrap().iso, "2026-09-21");
    let line = |d: &str| r.entries.iter().find(|l| l.division == d).unwrap_or_else(|| panic!("no line for {d}")).clone();
    for (division, n) in clues {
        let l = line(division);
        assert_eq!((l.new_cases, l.open), (n, n), "{division}");
    }
    let lanzhou = line("620100");
    assert_eq!(lanzhou.new_cases, 3 + 2 + 1, "the city is the sum of its three counties");
    assert_eq!(lanzhou.open, line("620102").open + line("620103").open + line("620104").open);
    let province = line("620000");
    assert_eq!(province.new_cases, lanzhou.new_cases + line("620500").new_cases, "the province is the sum of its cities");
    assert_eq!(province.open, 10);

    // Readable afterwards, scoped: the city sees its counties as children.
    let got = s
        .supervision()
        .get_rollup(req(&city_leader(), pb::GetRollupRequest { division: "620100".into(), date: Some(yuetan_platform::fields::date(NaiveDate::from_ymd_opt(2026, 9, 21).unwrap())) }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.total.unwrap().new_cases, 6);
    let children: Vec<&str> = got.children.iter().map(|c| c.division.as_str()).collect();
    assert_eq!(children, vec!["620102", "620103", "620104"]);
    assert_eq!(got.digest, r.digest);
    let refused = s
        .supervision()
        .get_rollup(req(&other_county_chief(), pb::GetRollupRequest { division: "620100".into(), date: Some(yuetan_platform::fields::date(NaiveDate::from_ymd_opt(2026, 9, 21).unwrap())) }))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    // The next roll-up waits for the next working day.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(s.events().await.iter().filter(|(_, e)| e.r#type == "supervision.daily_rollup").count(), 1, "one roll-up a day");
}

#[tokio::test]
async fn r_sup_3_every_supervision_read_refuses_another_countys_officer() {
    let mut s = start_at(at(NOW)).await;
    s.start_service(Service::Supervision).await;
    let other = other_county_chief();
    let c = s.supervision();
    let day = Some(yuetan_platform::fields::date(NaiveDate::from_ymd_opt(2026, 4, 28).unwrap()));
    let codes = vec![
        c.clone().list_cards(req(&other, pb::ListCardsRequest { division: CHENGGUAN.into(), ..Default::default() })).await.unwrap_err().code(),
        c.clone().get_board(req(&other, pb::GetBoardRequest { division: CHENGGUAN.into(), period: "2026".into() })).await.unwrap_err().code(),
        c.clone().get_rollup(req(&other, pb::GetRollupRequest { division: CHENGGUAN.into(), date: day.clone() })).await.unwrap_err().code(),
        c.clone().list_samples(req(&other, pb::ListSamplesRequest { division: CHENGGUAN.into(), month: "2026-03".into() })).await.unwrap_err().code(),
        c.clone().list_return_visits(req(&other, pb::ListReturnVisitsRequest { division: CHENGGUAN.into(), quarter: "2026Q1".into() })).await.unwrap_err().code(),
        c.clone().list_ratings(req(&other, pb::ListRatingsRequest { division: CHENGGUAN.into(), period: "2026".into() })).await.unwrap_err().code(),
        c.clone().list_complaints(req(&other, pb::ListComplaintsRequest { division: CHENGGUAN.into(), status: String::new() })).await.unwrap_err().code(),
        c.clone().get_report(req(&other, pb::GetReportRequest { division: CHENGGUAN.into(), period: "2026Q1".into() })).await.unwrap_err().code(),
    ];
    assert!(codes.iter().all(|c| *c == Code::PermissionDenied), "{codes:?}");
    // The city sees its counties.
    let city = s.supervision().list_cards(req(&city_leader(), pb::ListCardsRequest { division: CHENGGUAN.into(), ..Default::default() })).await;
    assert!(city.is_ok(), "{city:?}");
}

#[tokio::test]
async fn r_sup_3_three_red_cards_in_a_row_cost_the_section_its_award_eligibility_once() {
    // Monday 2026-09-21, 10:00 CST: three clues of one section, none verified.
    let mut s = start_at(at("2026-09-21T02:00:00Z")).await;
    s.start_service(Service::Supervision).await;
    for _ in 0..3 {
        clue_in(&s, CHENGGUAN, "2026-09-21", "2026-09-24").await;
    }
    let waited = tokio::time::Instant::now() + Duration::from_secs(30);
    while s.supervision().list_cards(req(&county_chief(), pb::ListCardsRequest { step: "clue_verification".into(), ..Default::default() })).await.unwrap().into_inner().cards.len() < 3 {
        assert!(tokio::time::Instant::now() < waited, "the clues never reached supervision");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Friday 2026-09-25 00:00 CST: all three overdue.
    s.clock.set(at("2026-09-24T16:00:01Z"));
    let lost = s.wait_for_event(|e| e.r#type == "supervision.award_eligibility_lost").await;
    let Some(Payload::AwardEligibilityLost(a)) = lost.payload else { panic!("payload") };
    assert_eq!((a.division.as_str(), a.section.as_str(), a.year), (CHENGGUAN, "综合执法科", 2026));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let events = s.events().await;
    assert_eq!(events.iter().filter(|(_, e)| e.r#type == "supervision.award_eligibility_lost").count(), 1, "once a year");
    assert_eq!(events.iter().filter(|(_, e)| e.r#type == "supervision.card_changed" && matches!(&e.payload, Some(Payload::CardChanged(c)) if c.colour == "red")).count(), 3);
    let b = board(&s, &county_chief(), "", "2026-09").await.unwrap();
    let row = b.rows.iter().find(|r| r.section == "综合执法科").expect("the section's row");
    assert!(row.award_eligibility_lost, "{row:?}");
    assert_eq!(row.red, 3, "three open red cards");
}

/// Adds a counter directly, as the folded board would hold it.
async fn tally(s: &System, division: &str, section: &str, month: &str, metric: &str, n: i64) {
    sqlx::query("INSERT INTO supervision.tallies (division, section, month, metric, n) VALUES ($1, $2, $3::date, $4, $5)")
        .bind(division)
        .bind(section)
        .bind(month)
        .bind(metric)
        .bind(n)
        .execute(s.pool())
        .await
        .unwrap();
}

#[tokio::test]
async fn r_sup_2_a_section_below_baseline_two_months_in_a_row_is_warned_on_the_first_working_day() {
    let mut s = start_at(at("2026-09-21T02:00:00Z")).await;
    s.start_service(Service::Supervision).await;
    // 综合执法科: interview coverage 2 of 10 in August and September (score 63.8 < 80).
    // 食品安全科: low in September only. 特种设备科: low in August only.
    for (section, months) in [("综合执法科", vec!["2026-08-01", "2026-09-01"]), ("食品安全科", vec!["2026-09-01"]), ("特种设备科", vec!["2026-08-01"])] {
        for month in ["2026-08-01", "2026-09-01"] {
            let held = if months.contains(&month) { 2 } else { 10 };
            tally(&s, CHENGGUAN, section, month, "approved", 10).await;
            tally(&s, CHENGGUAN, section, month, "interviews_held", held).await;
        }
    }
    // October's first working day (after the National Day holiday), 08:00 CST.
    let calendar = s.calendar.current();
    let first = yuetan_supervision::domain::first_working_day(&calendar, 2026, 10).unwrap();
    let eight = DateTime::<Utc>::from_naive_utc_and_offset(first.and_hms_opt(0, 0, 1).unwrap(), Utc);
    s.clock.set(eight);
    let warned = s.wait_for_event(|e| e.r#type == "supervision.section_warned").await;
    let Some(Payload::SectionWarned(w)) = warned.payload else { panic!("payload") };
    assert_eq!((w.division.as_str(), w.section.as_str()), (CHENGGUAN, "综合执法科"));
    assert_eq!(w.months, vec!["2026-08".to_string(), "2026-09".to_string()]);
    assert!(w.scores.iter().all(|x| *x < w.baseline), "{w:?}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(s.events().await.iter().filter(|(_, e)| e.r#type == "supervision.section_warned").count(), 1, "only the section low two months running");
    let b = board(&s, &county_chief(), "", "2026-09").await.unwrap();
    assert!(b.rows.iter().find(|r| r.section == "综合执法科").unwrap().warned);
    assert!(!b.rows.iter().find(|r| r.section == "食品安全科").unwrap().warned);
}

#[tokio::test]
async fn r_start_5_a_clue_not_approved_within_15_working_days_turns_its_start_card_red() {
    // Monday 2026-09-21, 10:00 CST.
    let mut s = start_at(at("2026-09-21T02:00:00Z")).await;
    s.start_service(Service::Supervision).await;
    clue_in(&s, CHENGGUAN, "2026-09-21", "2026-09-24").await;
    let start_cards = |s: &System| {
        let mut c = s.supervision();
        async move { c.list_cards(req(&county_chief(), pb::ListCardsRequest { step: "clue_to_approval".into(), ..Default::default() })).await.unwrap().into_inner().cards }
    };
    let waited = tokio::time::Instant::now() + Duration::from_secs(30);
    let card = loop {
        if let Some(c) = start_cards(&s).await.into_iter().next() {
            break c;
        }
        assert!(tokio::time::Instant::now() < waited, "no start card");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // 15 working days from the clue, across the National Day holiday.
    let limit = s.calendar.current().add_working_days(NaiveDate::from_ymd_opt(2026, 9, 21).unwrap(), 15).unwrap().value;
    assert_eq!(card.deadline.as_ref().unwrap().iso, limit.to_string());
    assert!(limit > NaiveDate::from_ymd_opt(2026, 10, 8).unwrap(), "the holiday is not counted: {limit}");
    // The day after the limit, 00:00 CST: red.
    let red_at = DateTime::<Utc>::from_naive_utc_and_offset(limit.and_hms_opt(16, 0, 1).unwrap(), Utc);
    s.clock.set(red_at);
    let changed = s.wait_for_event(|e| matches!(&e.payload, Some(Payload::CardChanged(c)) if c.step == "clue_to_approval" && c.colour == "red")).await;
    let Some(Payload::CardChanged(c)) = changed.payload else { panic!("payload") };
    assert_eq!(c.subject_id, card.subject_id);
    assert_eq!(start_cards(&s).await[0].colour, pb::Colour::Red as i32);
}
