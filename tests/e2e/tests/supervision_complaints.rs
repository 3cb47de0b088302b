//! Complaints against officers over gRPC against real NATS and PostgreSQL
//! (R-SUP-6): the investigation must start within 3 working days (its card
//! turns red by timer, or closes met), the decision may be appealed by the
//! officer complained of within 5 working days, and every RPC is scoped to
//! the inspector's jurisdiction (a city's inspector sees its counties').

mod common;

use chrono::{DateTime, NaiveDate, Utc};
use common::*;
use tonic::Code;
use yuetan_proto::events::event::Payload;
use yuetan_proto::supervision as pb;

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
}

fn rid() -> String {
    uuid::Uuid::now_v7().to_string()
}

const STEP: &str = "complaint_investigation";
const SECTION: &str = "执法一科";

fn inspector() -> Officer {
    Officer::new("inspector-a", ORGAN_A, CHENGGUAN, &["discipline_inspector"])
}

fn inspector_of_county_b() -> Officer {
    Officer::new("inspector-b", "620103-SJ", QILIHE, &["discipline_inspector"])
}

fn city_inspector() -> Officer {
    Officer::new("inspector-city", "620100-SJ", "620100", &["discipline_inspector"])
}

/// The officer complained of.
fn complained() -> Officer {
    Officer::new("officer-a", ORGAN_A, CHENGGUAN, &["case_officer"])
}

async fn supervision_at(now: &str) -> System {
    let mut s = start_at(at(now)).await;
    s.start_service(Service::Supervision).await;
    s
}

fn complaint_of(r: Result<tonic::Response<pb::ComplaintResponse>, tonic::Status>) -> Result<pb::Complaint, tonic::Status> {
    r.map(|r| r.into_inner().complaint.expect("the complaint"))
}

async fn register(s: &System, by: &Officer, division: &str, kind: &str) -> Result<pb::Complaint, tonic::Status> {
    let msg = pb::RegisterComplaintRequest {
        request_id: rid(),
        officer_id: complained().id,
        case_id: String::new(),
        kind: kind.into(),
        description: "约谈时态度粗暴，多次打断当事人陈述。".into(),
        division: division.into(),
        section: SECTION.into(),
    };
    complaint_of(s.supervision().register_complaint(req(by, msg)).await)
}

async fn start(s: &System, by: &Officer, id: &str) -> Result<pb::Complaint, tonic::Status> {
    complaint_of(s.supervision().start_investigation(req(by, pb::StartInvestigationRequest { request_id: rid(), complaint_id: id.into() })).await)
}

async fn decide(s: &System, by: &Officer, id: &str, decision: &str) -> Result<pb::Complaint, tonic::Status> {
    let msg = pb::DecideComplaintRequest { request_id: rid(), complaint_id: id.into(), decision: decision.into(), reasons: "经调查核实，情况属实。".into() };
    complaint_of(s.supervision().decide_complaint(req(by, msg)).await)
}

async fn appeal(s: &System, by: &Officer, id: &str) -> Result<pb::Complaint, tonic::Status> {
    complaint_of(s.supervision().appeal_complaint(req(by, pb::AppealComplaintRequest { request_id: rid(), complaint_id: id.into(), reasons: "当事人陈述与录像不符。".into() })).await)
}

async fn list(s: &System, by: &Officer, division: &str) -> Result<Vec<pb::Complaint>, tonic::Status> {
    s.supervision().list_complaints(req(by, pb::ListComplaintsRequest { division: division.into(), status: String::new() })).await.map(|r| r.into_inner().complaints)
}

async fn card_of(s: &System, complaint_id: &str) -> Option<pb::Card> {
    let msg = pb::ListCardsRequest { division: String::new(), colour: 0, include_closed: true, page_size: 200, step: STEP.into(), section: String::new(), case_id: String::new() };
    s.supervision().list_cards(req(&inspector(), msg)).await.unwrap().into_inner().cards.into_iter().find(|c| c.subject_id == complaint_id)
}

fn iso(d: &Option<yuetan_proto::common::Date>) -> String {
    d.as_ref().map(|d| d.iso.clone()).unwrap_or_default()
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// Rebuilds supervision's read model from the stream into an empty schema:
/// the boards and cards compare equal, and so do the complaint rows.
async fn rebuilt_equal(s: &System) {
    s.drain_outbox().await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let report = yuetan_supervision::rebuild::rebuild(&s.config, "supervision_rebuild", s.clock.clone(), s.calendar.clone()).await.unwrap();
    assert!(report.equal, "{report}");
    type Row = (uuid::Uuid, String, String, String, String, Option<NaiveDate>, Option<String>, Option<NaiveDate>, Option<NaiveDate>, Option<NaiveDate>, NaiveDate);
    let rows = |schema: &str| {
        format!("SELECT id, division, organ, section, status, started_on, decision, decided_on, appeal_deadline, appealed_on, investigation_deadline FROM {schema}.complaints ORDER BY id")
    };
    let live: Vec<Row> = sqlx::query_as(&rows("supervision")).fetch_all(s.pool()).await.unwrap();
    let rebuilt: Vec<Row> = sqlx::query_as(&rows("supervision_rebuild")).fetch_all(s.pool()).await.unwrap();
    assert!(!live.is_empty());
    assert_eq!(live, rebuilt, "the complaints rebuilt from their events");
}

#[tokio::test]
async fn r_sup_6_a_complaint_not_started_in_three_working_days_turns_red() {
    // Thursday 2026-09-10, 10:00 CST: start by Tuesday 09-15 (Friday, Monday, Tuesday).
    let s = supervision_at("2026-09-10T02:00:00Z").await;
    let late = register(&s, &inspector(), CHENGGUAN, "abuse").await.unwrap();
    assert_eq!((late.status.as_str(), late.source.as_str(), late.division.as_str(), late.section.as_str()), ("registered", "inspector", CHENGGUAN, SECTION));
    assert_eq!(iso(&late.investigation_deadline), "2026-09-15");
    assert_eq!(late.description, "约谈时态度粗暴，多次打断当事人陈述。", "the description opens for the inspector");
    s.wait_for_event(|e| e.r#type == "supervision.complaint_registered" && matches!(&e.payload, Some(Payload::ComplaintRegistered(p)) if p.complaint_id == late.complaint_id)).await;
    let card = card_of(&s, &late.complaint_id).await.expect("the investigation's card");
    assert_eq!((card.colour, card.closed, iso(&card.deadline)), (pb::Colour::Green as i32, false, "2026-09-15".to_string()));

    // Another, started on Friday 09-11: its card closes green and met.
    let timely = register(&s, &inspector(), CHENGGUAN, "rude_conduct").await.unwrap();
    s.clock.set(at("2026-09-11T02:00:00Z"));
    let started = start(&s, &inspector(), &timely.complaint_id).await.unwrap();
    assert_eq!(started.status, "investigating");
    let card = card_of(&s, &timely.complaint_id).await.unwrap();
    assert!(card.closed && card.met, "started in time: met");
    assert_eq!(card.colour, pb::Colour::Green as i32);
    s.wait_for_event(|e| e.r#type == "supervision.complaint_investigation_started").await;
    // Started twice: refused.
    assert_eq!(start(&s, &inspector(), &timely.complaint_id).await.unwrap_err().code(), Code::FailedPrecondition);

    // Wednesday 09-16 00:00 CST: the first was not started by its deadline → red.
    s.clock.set(at("2026-09-15T16:00:01Z"));
    let red = s
        .wait_for_event(|e| e.r#type == "supervision.card_changed" && matches!(&e.payload, Some(Payload::CardChanged(c)) if c.subject_id == late.complaint_id && c.colour == "red"))
        .await;
    let Some(Payload::CardChanged(c)) = red.payload else { unreachable!() };
    assert_eq!((c.step.as_str(), c.section.as_str()), (STEP, SECTION));
    let card = card_of(&s, &late.complaint_id).await.unwrap();
    assert_eq!((card.colour, card.closed), (pb::Colour::Red as i32, false));
    let red_cards = s
        .supervision()
        .list_cards(req(&inspector(), pb::ListCardsRequest { division: String::new(), colour: pb::Colour::Red as i32, include_closed: false, page_size: 50, step: STEP.into(), section: String::new(), case_id: String::new() }))
        .await
        .unwrap()
        .into_inner()
        .cards;
    assert_eq!(red_cards.iter().map(|c| c.subject_id.clone()).collect::<Vec<_>>(), vec![late.complaint_id.clone()], "only the late one is red");
    assert!(!s.events().await.iter().any(|(_, e)| matches!(&e.payload, Some(Payload::CardChanged(c)) if c.subject_id == timely.complaint_id)), "the timely one never changed");

    // Started late: the card closes, not met.
    start(&s, &inspector(), &late.complaint_id).await.unwrap();
    let card = card_of(&s, &late.complaint_id).await.unwrap();
    assert!(card.closed && !card.met, "started after its deadline");
    rebuilt_equal(&s).await;
}

#[tokio::test]
async fn r_sup_6_a_decision_may_be_appealed_by_the_officer_complained_of_within_five_working_days() {
    // Monday 2026-09-07, 10:00 CST.
    let s = supervision_at("2026-09-07T02:00:00Z").await;
    let first = register(&s, &inspector(), CHENGGUAN, "favouritism").await.unwrap();
    let second = register(&s, &inspector(), CHENGGUAN, "forged_record").await.unwrap();
    // No decision before the investigation.
    assert_eq!(decide(&s, &inspector(), &first.complaint_id, "upheld").await.unwrap_err().code(), Code::FailedPrecondition);
    for c in [&first, &second] {
        start(&s, &inspector(), &c.complaint_id).await.unwrap();
    }
    // Bad input is named.
    let bad = decide(&s, &inspector(), &first.complaint_id, "maybe").await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    let msg = pb::DecideComplaintRequest { request_id: rid(), complaint_id: first.complaint_id.clone(), decision: "upheld".into(), reasons: "  ".into() };
    assert_eq!(s.supervision().decide_complaint(req(&inspector(), msg)).await.unwrap_err().code(), Code::InvalidArgument, "reasons are required");

    let decided = decide(&s, &inspector(), &first.complaint_id, "upheld").await.unwrap();
    // Five working days after Monday 09-07: Monday 09-14.
    let expected = yuetan_calendar::Calendar::builtin().add_working_days(day("2026-09-07"), 5).unwrap().value;
    assert_eq!(expected, day("2026-09-14"));
    assert_eq!((decided.status.as_str(), decided.decision.as_str(), iso(&decided.appeal_deadline)), ("decided", "upheld", "2026-09-14".to_string()));
    decide(&s, &inspector(), &second.complaint_id, "dismissed").await.unwrap();
    let event = s.wait_for_event(|e| e.r#type == "supervision.complaint_decided" && matches!(&e.payload, Some(Payload::ComplaintDecided(p)) if p.complaint_id == first.complaint_id)).await;
    let Some(Payload::ComplaintDecided(p)) = event.payload else { unreachable!() };
    assert_eq!((p.officer_id.as_str(), p.section.as_str(), iso(&p.appeal_deadline)), ("officer-a", SECTION, "2026-09-14".to_string()));

    // Only the officer complained of may appeal.
    assert_eq!(appeal(&s, &inspector(), &first.complaint_id).await.unwrap_err().code(), Code::PermissionDenied);
    assert_eq!(appeal(&s, &Officer::new("officer-b", ORGAN_A, CHENGGUAN, &["case_officer"]), &first.complaint_id).await.unwrap_err().code(), Code::PermissionDenied);
    // Friday 09-11: in time.
    s.clock.set(at("2026-09-11T02:00:00Z"));
    let appealed = appeal(&s, &complained(), &first.complaint_id).await.unwrap();
    assert_eq!((appealed.status.as_str(), appealed.appeal_reasons.as_str()), ("appealed", "当事人陈述与录像不符。"));
    s.wait_for_event(|e| e.r#type == "supervision.complaint_appealed").await;
    assert_eq!(appeal(&s, &complained(), &first.complaint_id).await.unwrap_err().code(), Code::FailedPrecondition, "appealed once");

    // Tuesday 09-15: the second's deadline (Monday 09-14) has passed.
    s.clock.set(at("2026-09-15T02:00:00Z"));
    let late = appeal(&s, &complained(), &second.complaint_id).await.unwrap_err();
    assert_eq!(late.code(), Code::FailedPrecondition);
    assert!(late.message().contains("2026-09-14"), "names the deadline: {}", late.message());
    let listed = list(&s, &inspector(), "").await.unwrap();
    let status = |id: &str| listed.iter().find(|c| c.complaint_id == id).map(|c| c.status.clone()).unwrap();
    assert_eq!((status(&first.complaint_id), status(&second.complaint_id)), ("appealed".to_string(), "decided".to_string()));

    // The upheld decision counts against the section in September; the rebuild counts it once too.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let board = s.supervision().get_board(req(&inspector(), pb::GetBoardRequest { division: String::new(), period: "2026-09".into() })).await.unwrap().into_inner();
        let row = board.rows.iter().find(|r| r.section == SECTION).cloned();
        if let Some(row) = row {
            let clean = board.rows.iter().find(|r| r.section != SECTION).map(|r| r.score);
            assert!(row.score < 100.0, "an upheld complaint lowers the section score: {row:?}");
            if let Some(clean) = clean {
                assert!(row.score < clean);
            }
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the board never showed the section: {board:?}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    rebuilt_equal(&s).await;
}

#[tokio::test]
async fn r_sup_6_another_countys_inspector_is_refused_on_every_complaint_rpc_and_the_city_sees_its_counties() {
    let s = supervision_at("2026-09-07T02:00:00Z").await;
    let c = register(&s, &inspector(), CHENGGUAN, "leaking_secrets").await.unwrap();
    let b = inspector_of_county_b();
    // Register in another county, start, decide, appeal, list: all refused.
    assert_eq!(register(&s, &b, CHENGGUAN, "abuse").await.unwrap_err().code(), Code::PermissionDenied);
    assert_eq!(start(&s, &b, &c.complaint_id).await.unwrap_err().code(), Code::PermissionDenied);
    start(&s, &inspector(), &c.complaint_id).await.unwrap();
    assert_eq!(decide(&s, &b, &c.complaint_id, "dismissed").await.unwrap_err().code(), Code::PermissionDenied);
    decide(&s, &inspector(), &c.complaint_id, "dismissed").await.unwrap();
    assert_eq!(appeal(&s, &b, &c.complaint_id).await.unwrap_err().code(), Code::PermissionDenied);
    assert_eq!(list(&s, &b, CHENGGUAN).await.unwrap_err().code(), Code::PermissionDenied);
    assert!(list(&s, &b, "").await.unwrap().is_empty(), "nothing in county B");
    // An officer who is no discipline inspector cannot register or decide (the gate).
    assert_eq!(register(&s, &proposer(), CHENGGUAN, "abuse").await.unwrap_err().code(), Code::PermissionDenied);
    // A complaint with the wrong kind is named.
    assert_eq!(register(&s, &inspector(), CHENGGUAN, "other").await.unwrap_err().code(), Code::InvalidArgument);

    // The city's inspector sees its counties' complaints, registers in them, and the province's too.
    let seen = list(&s, &city_inspector(), "").await.unwrap();
    assert_eq!(seen.iter().map(|x| x.complaint_id.clone()).collect::<Vec<_>>(), vec![c.complaint_id.clone()]);
    assert_eq!(list(&s, &city_inspector(), CHENGGUAN).await.unwrap().len(), 1);
    let by_city = register(&s, &city_inspector(), QILIHE, "fake_rectification").await.unwrap();
    assert_eq!(by_city.division, QILIHE);
    assert_eq!(list(&s, &b, "").await.unwrap().len(), 1, "county B sees the one in its county");
    assert_eq!(list(&s, &city_inspector(), "").await.unwrap().len(), 2);
    // A county's inspector cannot list the city.
    assert_eq!(list(&s, &inspector(), "620100").await.unwrap_err().code(), Code::PermissionDenied);
}
