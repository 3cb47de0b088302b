//! Supervision's monthly draw (R-SUP-1), file scores and generated reports
//! (R-SUP-7) over gRPC against real NATS and PostgreSQL: the draw fires by
//! durable timer at 09:00 CST on October 2026's first working day, takes at
//! least 15% of a section's September files, and anyone can recompute it
//! from the published seed; a second system with the same rows and digest
//! draws the same files.

mod common;

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use common::*;
use tonic::Code;
use uuid::Uuid;
use yuetan_calendar::Calendar;
use yuetan_proto::events::event::Payload;
use yuetan_proto::events::SampleDrawn;
use yuetan_proto::supervision as pb;
use yuetan_supervision::domain;
use yuetan_supervision::domain::sampling::draw_time;

const SECTION: &str = "food";
const DIGEST: &str = "digest-of-the-last-rollup-before-the-draw";

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
}

fn inspector() -> Officer {
    Officer::new("inspector-a", ORGAN_A, CHENGGUAN, &["discipline_inspector"])
}

fn other_inspector() -> Officer {
    Officer::new("inspector-b", "620103-SJ", QILIHE, &["discipline_inspector"])
}

fn draw_day() -> NaiveDate {
    domain::first_working_day(&Calendar::builtin(), 2026, 10).unwrap()
}

/// A system with supervision alone, on Wednesday 2026-09-30 10:00 CST.
async fn system() -> Harness {
    Harness::builder().at(at("2026-09-30T02:00:00Z")).with(Service::Supervision).start().await
}

/// 20 files of Chengguan's food section closed in September 2026 (the same
/// ids every time), 3 closed in October (not drawn), and the last roll-up's
/// digest before the draw day.
async fn seed_rows(s: &Harness) {
    let pool = s.pool_of(Service::Supervision);
    for i in 0..23u128 {
        let closed = if i < 20 { NaiveDate::from_ymd_opt(2026, 9, 1 + (i as u32 % 28)).unwrap() } else { NaiveDate::from_ymd_opt(2026, 10, 9).unwrap() };
        sqlx::query(
            "INSERT INTO files (id, case_id, number, division, organ, section, stage, outcome, opened_on, closed_on, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'closed', 'accepted', '2026-08-03', $7, now())",
        )
        .bind(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + i))
        .bind(Uuid::from_u128(0x0190_0000_0000_7000_9000_0000_0000_0000 + i))
        .bind(format!("兰城市监约〔2026〕{}号", i + 1))
        .bind(CHENGGUAN)
        .bind(ORGAN_A)
        .bind(SECTION)
        .bind(closed)
        .execute(pool)
        .await
        .unwrap();
    }
    sqlx::query("INSERT INTO rollup_days (day, digest, made_at) VALUES ($1, $2, now())").bind(draw_day().pred_opt().unwrap()).bind(DIGEST).execute(pool).await.unwrap();
}

/// Moves the clock to the draw (09:00:01 CST on October's first working day) and waits for it.
async fn draw_september(s: &Harness) -> SampleDrawn {
    s.clock.set(draw_time(draw_day()) + chrono::Duration::seconds(1));
    let event = s.wait_for_event(|e| e.r#type == "supervision.sample_drawn").await;
    let Some(Payload::SampleDrawn(drawn)) = event.payload else { panic!("payload") };
    drawn
}

fn september_ids() -> Vec<String> {
    (0..20u128).map(|i| Uuid::from_u128(0x0190_0000_0000_7000_9000_0000_0000_0000 + i).to_string()).collect()
}

#[tokio::test]
async fn r_sup_1_a_month_with_20_closed_files_in_a_section_draws_at_least_3_and_the_same_inputs_draw_the_same_files() {
    let s = system().await;
    seed_rows(&s).await;
    // Not before 09:00 CST.
    s.clock.set(draw_time(draw_day()) - chrono::Duration::seconds(5));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(!s.events().await.iter().any(|(_, e)| e.r#type == "supervision.sample_drawn"), "no draw before 09:00 CST");

    let drawn = draw_september(&s).await;
    assert_eq!((drawn.division.as_str(), drawn.section.as_str(), drawn.month.as_str()), (CHENGGUAN, SECTION, "2026-09"));
    assert_eq!(drawn.population, 20, "September's files only");
    assert_eq!(drawn.percent, 15);
    assert!(drawn.case_ids.len() >= 3, "at least 15% of 20: {:?}", drawn.case_ids);
    assert_eq!(drawn.previous_digest, DIGEST, "the last roll-up before the draw day");
    assert_eq!(drawn.seed, domain::seed(2026, 9, CHENGGUAN, DIGEST), "the published seed follows from the month, division and digest");
    // Anyone with the seed and the month's closed files recomputes the draw.
    assert_eq!(drawn.case_ids, domain::draw(&drawn.seed, &september_ids(), 15));

    // The draw as stored, scoped to the inspector's county, and verifiable as `yuetan supervision sample --verify` does.
    let listed = s.supervision().list_samples(req(&inspector(), pb::ListSamplesRequest { division: CHENGGUAN.into(), month: "2026-09".into() })).await.unwrap().into_inner();
    assert_eq!(listed.samples.len(), 1);
    let mut listed_ids: Vec<String> = listed.samples[0].files.iter().map(|f| f.case_id.clone()).collect();
    let mut expected = drawn.case_ids.clone();
    listed_ids.sort();
    expected.sort();
    assert_eq!(listed_ids, expected);
    assert!(listed.samples[0].files.iter().all(|f| f.number.starts_with("兰城市监约")));
    let err = s.supervision().list_samples(req(&other_inspector(), pb::ListSamplesRequest { division: CHENGGUAN.into(), month: "2026-09".into() })).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let mut conn = s.pool_of(Service::Supervision).acquire().await.unwrap();
    let verified = yuetan_supervision::flow::sampling::verify_samples(&mut conn, CHENGGUAN, "2026-09").await.unwrap();
    assert_eq!(verified.len(), 1);
    assert!(verified[0].verified(), "{:?}", verified[0]);
    // A file slipped into the month afterwards: the recomputation no longer matches.
    sqlx::query("UPDATE files SET closed_on = '2026-09-30' WHERE case_id = $1").bind(Uuid::from_u128(0x0190_0000_0000_7000_9000_0000_0000_0000 + 20)).execute(&mut *conn).await.unwrap();
    let tampered = yuetan_supervision::flow::sampling::verify_samples(&mut conn, CHENGGUAN, "2026-09").await.unwrap();
    assert!(!tampered[0].verified(), "a changed population does not verify");
    // Next month's draw is scheduled in the same transaction.
    let next: Option<DateTime<Utc>> = sqlx::query_scalar("SELECT due_at FROM timers WHERE kind = 'supervision.monthly' AND key = '2026-11' AND fired_at IS NULL")
        .fetch_optional(&mut *conn)
        .await
        .unwrap();
    assert_eq!(next, Some(draw_time(domain::first_working_day(&Calendar::builtin(), 2026, 11).unwrap())));
    drop(conn);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let draws = s.events().await.into_iter().filter(|(_, e)| e.r#type == "supervision.sample_drawn").count();
    assert_eq!(draws, 1, "one draw per section and month");
    s.stop().await;

    // A second, fresh system with the same rows and digest draws the same files.
    let again = system().await;
    seed_rows(&again).await;
    let second = draw_september(&again).await;
    assert_eq!(second.seed, drawn.seed);
    assert_eq!(second.case_ids, drawn.case_ids);
    assert_ne!(second.sample_id, drawn.sample_id);
    again.stop().await;
}

#[tokio::test]
async fn r_sup_1_a_discipline_inspector_of_the_county_scores_a_drawn_file_once_and_another_county_s_is_refused() {
    let s = system().await;
    seed_rows(&s).await;
    let drawn = draw_september(&s).await;
    let case_id = drawn.case_ids[0].clone();
    let score = |request_id: &str, lawful: u32| pb::ScoreFileRequest {
        request_id: request_id.into(),
        sample_id: drawn.sample_id.clone(),
        case_id: case_id.clone(),
        lawful_start: lawful,
        standard_documents: 9,
        timely_tracking: 10,
        comment: "立案及时，文书规范".into(),
    };
    let err = s.supervision().score_file(req(&other_inspector(), score("r-b", 8))).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "another county's inspector");
    let err = s.supervision().score_file(req(&inspector(), score("r-0", 11))).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("lawful_start"), "{}", err.message());
    let chief = Officer::new("chief-a", ORGAN_A, CHENGGUAN, &["section_chief"]);
    assert_eq!(s.supervision().score_file(req(&chief, score("r-c", 8))).await.unwrap_err().code(), Code::PermissionDenied, "only a discipline inspector");

    let first = s.supervision().score_file(req(&inspector(), score("r-1", 8))).await.unwrap().into_inner().file.unwrap();
    assert!(first.scored);
    assert_eq!((first.lawful_start, first.standard_documents, first.timely_tracking, first.scored_by.as_str()), (8, 9, 10, "inspector-a"));
    let event = s.wait_for_event(|e| e.r#type == "supervision.file_scored").await;
    let Some(Payload::FileScored(f)) = event.payload else { panic!("payload") };
    assert_eq!((f.sample_id.as_str(), f.case_id.as_str(), f.lawful_start, f.scored_by.as_str()), (drawn.sample_id.as_str(), case_id.as_str(), 8, "inspector-a"));
    // The same request id replays; a different score is refused.
    let replay = s.supervision().score_file(req(&inspector(), score("r-1", 8))).await.unwrap().into_inner().file.unwrap();
    assert_eq!(replay, first);
    let err = s.supervision().score_file(req(&inspector(), score("r-2", 5))).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(s.events().await.iter().filter(|(_, e)| e.r#type == "supervision.file_scored").count(), 1, "scored once");
    let listed = s.supervision().list_samples(req(&inspector(), pb::ListSamplesRequest { division: CHENGGUAN.into(), month: "2026-09".into() })).await.unwrap().into_inner();
    let file = listed.samples[0].files.iter().find(|f| f.case_id == case_id).unwrap();
    assert!(file.scored && file.lawful_start == 8);
    s.stop().await;
}

type FileSnapshot = (Uuid, Uuid, String, bool, Option<i32>, Option<String>);
type VisitSnapshot = (Uuid, Uuid, String, bool, Option<String>, Option<NaiveDate>);

fn pdf_text(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = std::process::Command::new("pdftotext").arg(&path).arg("-").output().expect("poppler's pdftotext");
    assert!(out.status.success(), "pdftotext: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn r_sup_7_the_quarterly_report_is_a_pdf_and_csv_of_the_same_numbers_and_a_county_leader_gets_only_its_county() {
    let s = system().await;
    seed_rows(&s).await;
    // September's counters: 4 cases approved, 3 of them in time (start timeliness 0.75).
    for (metric, n) in [("approved", 4i64), ("approved_timely", 3)] {
        sqlx::query("INSERT INTO tallies (division, section, month, metric, n) VALUES ($1, $2, '2026-09-01', $3, $4)")
            .bind(CHENGGUAN)
            .bind(SECTION)
            .bind(metric)
            .bind(n)
            .execute(s.pool_of(Service::Supervision))
            .await
            .unwrap();
    }
    let drawn = draw_september(&s).await;
    let leader = Officer::new("leader-a", ORGAN_A, CHENGGUAN, &["leader"]);
    let err = s.supervision().get_report(req(&leader, pb::GetReportRequest { division: "620100".into(), period: "2026Q3".into() })).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "a county leader gets only its county");
    let err = s.supervision().get_report(req(&leader, pb::GetReportRequest { division: CHENGGUAN.into(), period: "2026Q5".into() })).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    let report = s.supervision().get_report(req(&leader, pb::GetReportRequest { division: CHENGGUAN.into(), period: "2026Q3".into() })).await.unwrap().into_inner();
    assert_eq!(report.title, "约谈工作季度报告");
    assert!(report.pdf.starts_with(b"%PDF"));
    assert_eq!(report.sha256.len(), 64);
    let text = pdf_text(&report.pdf);
    assert!(text.contains("约谈工作季度报告"), "{text}");
    assert!(text.contains("立案启动及时率"), "{text}");
    assert!(text.contains("0.7500"), "{text}");
    assert!(text.contains(CHENGGUAN));
    // The CSV: one row per unit and indicator, the same numbers.
    let row = report.csv.lines().find(|l| l.starts_with(&format!("{CHENGGUAN}/{SECTION},")) && l.contains(",start_timeliness,")).unwrap_or_else(|| panic!("{}", report.csv));
    assert_eq!(row, format!("{CHENGGUAN}/{SECTION},{CHENGGUAN},{SECTION},start_timeliness,3,4,0.7500,1,no"));
    let drawn_row = report.csv.lines().find(|l| l.contains(",files_drawn,")).unwrap();
    assert_eq!(drawn_row, format!("{CHENGGUAN}/{SECTION},{CHENGGUAN},{SECTION},files_drawn,{},20,,,", drawn.case_ids.len()));
    // The same read model gives the same PDF.
    let again = s.supervision().get_report(req(&leader, pb::GetReportRequest { division: CHENGGUAN.into(), period: "2026Q3".into() })).await.unwrap().into_inner();
    assert_eq!(again.sha256, report.sha256);
    // The city's inspector reads the city's half-year evaluation.
    let city = Officer::new("city-inspector", "620100-SJ", "620100", &["discipline_inspector"]);
    let half = s.supervision().get_report(req(&city, pb::GetReportRequest { division: "620100".into(), period: "2026H2".into() })).await.unwrap().into_inner();
    assert!(pdf_text(&half.pdf).contains("半年效果评估"));
    assert!(half.csv.contains(",start_timeliness,3,4,0.7500,"));
    s.stop().await;
}

#[tokio::test]
async fn r_sup_4_a_tenth_of_the_quarter_s_closed_cases_get_a_return_visit_recorded_once_and_the_rows_rebuild_from_the_events() {
    let s = system().await;
    seed_rows(&s).await;
    let drawn = draw_september(&s).await;
    // The quarterly draw fires at the same hour: Q3's 20 closed cases of Chengguan → 2 visits for its office.
    let event = s.wait_for_event(|e| e.r#type == "supervision.return_visits_drawn").await;
    let Some(Payload::ReturnVisitsDrawn(visits)) = event.payload else { panic!("payload") };
    assert_eq!((visits.division.as_str(), visits.quarter.as_str(), visits.population), (CHENGGUAN, "2026Q3", 20));
    assert_eq!(visits.visits.len(), 2, "10% of 20");
    let ids: Vec<String> = visits.visits.iter().map(|v| v.case_id.clone()).collect();
    assert_eq!(ids, domain::draw(&visits.seed, &september_ids(), 10), "recomputable from the published seed");
    assert!(visits.visits.iter().all(|v| v.assigned_to == format!("office:{CHENGGUAN}") && v.section == SECTION));

    let office = Officer::new("office-a", ORGAN_A, CHENGGUAN, &["office"]);
    let listed = s.supervision().list_return_visits(req(&office, pb::ListReturnVisitsRequest { division: CHENGGUAN.into(), quarter: "2026Q3".into() })).await.unwrap().into_inner();
    assert_eq!(listed.visits.len(), 2);
    assert!(listed.visits.iter().all(|v| !v.done));
    let visit_id = visits.visits[0].visit_id.clone();
    let record = |request_id: &str, method: &str, outcome: &str| pb::RecordReturnVisitRequest {
        request_id: request_id.into(),
        visit_id: visit_id.clone(),
        method: method.into(),
        outcome: outcome.into(),
        visited_on: Some(yuetan_proto::common::Date { iso: draw_day().to_string() }),
    };
    let err = s.supervision().record_return_visit(req(&office, record("v-0", "email", "整改到位"))).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("method"));
    let err = s.supervision().record_return_visit(req(&office, record("v-0", "phone", &"长".repeat(2001)))).await.unwrap_err();
    assert!(err.message().contains("outcome"));
    let other_office = Officer::new("office-b", "620103-SJ", QILIHE, &["office"]);
    assert_eq!(s.supervision().record_return_visit(req(&other_office, record("v-b", "phone", "整改到位"))).await.unwrap_err().code(), Code::PermissionDenied);
    let done = s.supervision().record_return_visit(req(&office, record("v-1", "phone", "企业整改到位，未再发现问题"))).await.unwrap().into_inner().visit.unwrap();
    assert!(done.done);
    assert_eq!(done.method, "phone");
    s.wait_for_event(|e| e.r#type == "supervision.return_visit_recorded").await;
    let err = s.supervision().record_return_visit(req(&office, record("v-2", "site", "另一结论"))).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "recorded once");

    // A score too, then the rebuild: empty the rows and apply supervision's own events again.
    s.supervision()
        .score_file(req(&inspector(), pb::ScoreFileRequest { request_id: "s-1".into(), sample_id: drawn.sample_id.clone(), case_id: drawn.case_ids[1].clone(), lawful_start: 7, standard_documents: 6, timely_tracking: 5, comment: String::new() }))
        .await
        .unwrap();
    s.wait_for_event(|e| e.r#type == "supervision.file_scored").await;
    let pool = s.pool_of(Service::Supervision);
    let snapshot = || async {
        let samples: Vec<(Uuid, String, String, i32, String, DateTime<Utc>)> = sqlx::query_as("SELECT id, section, month, population, seed, drawn_at FROM samples ORDER BY id").fetch_all(pool).await.unwrap();
        let files: Vec<FileSnapshot> =
            sqlx::query_as("SELECT sample_id, case_id, number, scored, lawful_start, scored_by FROM sampled_files ORDER BY 1, 2").fetch_all(pool).await.unwrap();
        let visits: Vec<VisitSnapshot> =
            sqlx::query_as("SELECT id, case_id, number, done, method, visited_on FROM return_visits ORDER BY id").fetch_all(pool).await.unwrap();
        format!("{samples:?}\n{files:?}\n{visits:?}")
    };
    let live = snapshot().await;
    sqlx::query("DELETE FROM sampled_files").execute(pool).await.unwrap();
    sqlx::query("DELETE FROM samples").execute(pool).await.unwrap();
    sqlx::query("DELETE FROM return_visits").execute(pool).await.unwrap();
    let state = s.handle::<yuetan_supervision::Supervision>(Service::Supervision).state.clone();
    let mut conn = pool.acquire().await.unwrap();
    for (_, e) in s.events().await.into_iter().filter(|(_, e)| e.r#type.starts_with("supervision.")) {
        let id = Uuid::parse_str(&e.id).unwrap();
        // Twice: applying an event again changes nothing.
        for _ in 0..2 {
            yuetan_supervision::flow::sampling::on_event(&state, &mut conn, &e, id).await.unwrap();
        }
    }
    drop(conn);
    let rebuilt = snapshot().await;
    assert!(live.contains("true, Some(7)") && live.contains("Some(\"phone\")"), "{live}");
    assert_eq!(rebuilt, live);
    s.stop().await;
}
