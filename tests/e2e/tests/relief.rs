//! Relief hooks (R-RELIEF-1, R-RELIEF-2) against real NATS and PostgreSQL:
//! an outside system publishes `relief.application_received` on the bus or
//! calls `RegisterRelief` with its service-account token; supervision marks
//! the case once per (source, relief_id), opens the reply card (10 working
//! days for a reconsideration: received 2026-09-30, due 2026-10-20 across
//! the National Day holiday), publishes the overdue reply by durable timer
//! and counts the outcome (`relief.decided`) on the board.

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;
use prost::Message;
use tonic::Code;
use yuetan_platform::fields::{date, timestamp};
use yuetan_proto::casefile as cf;
use yuetan_proto::common::Date;
use yuetan_proto::events::{self as ev, event::Payload, Event};
use yuetan_proto::supervision as pb;

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
}

fn day(iso: &str) -> Option<Date> {
    Some(date(iso.parse().unwrap()))
}

/// The province's reconsideration system: a service account of city 6201 (兰州).
fn fuyi_account() -> Officer {
    Officer::new("svc-gs-fuyi", "6201-FY", "620100", &["system"])
}

/// 天水市秦州区: another city, with its own organ.
const QINZHOU: &str = "620502";
const QINZHOU_ORGAN: &str = "620502-SJ";

/// Starts intake, review and supervision at `now`, with quick retries (a
/// bad event reaches the dead letters within a few seconds).
async fn system_at(now: DateTime<Utc>) -> System {
    let h = Harness::builder().at(now).with(Service::Intake).with(Service::Review).with(Service::Supervision).toml("[consumer]\nbackoff_ms = [50, 100]\n").start().await;
    h.put_organs().await;
    h.put_organ(QINZHOU_ORGAN, QINZHOU, "天秦市监").await;
    System { h }
}

/// Publishes an event as an outside system would: on its subject, with
/// `Nats-Msg-Id` = its id.
async fn publish(s: &System, event: &Event) {
    let subject = yuetan_platform::bus::subject(&s.config.nats.subject_prefix, &event.jurisdiction, &event.r#type).unwrap();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", event.id.as_str());
    s.bus.jetstream.publish_with_headers(subject, headers, event.encode_to_vec().into()).await.unwrap().await.unwrap();
}

fn envelope(s: &System, event_type: &str, case_id: &str, jurisdiction: &str, payload: Payload) -> Event {
    Event {
        id: uuid::Uuid::now_v7().to_string(),
        r#type: event_type.into(),
        case_id: case_id.into(),
        case_version: 0,
        jurisdiction: jurisdiction.into(),
        organ: "6201-FY".into(),
        occurred_at: Some(timestamp(yuetan_platform::Clock::now(&*s.clock))),
        actor: None,
        correlation_id: String::new(),
        causation_id: String::new(),
        payload: Some(payload),
    }
}

fn application(s: &System, case_id: &str, relief_id: &str, received_on: &str) -> Event {
    let payload = Payload::ReliefApplicationReceived(ev::ReliefApplicationReceived {
        relief_id: relief_id.into(),
        case_id: case_id.into(),
        case_number: String::new(),
        body: "兰州市人民政府".into(),
        received_on: day(received_on),
        applied_on: day("2026-09-28"),
        source: "gs-fuyi".into(),
        summary: "申请撤销约谈决定".into(),
    });
    envelope(s, "relief.application_received", case_id, CHENGGUAN, payload)
}

fn decided(s: &System, case_id: &str, source: &str, relief_id: &str, kind: &str, outcome: &str, decided_on: &str) -> Event {
    let payload = Payload::ReliefDecided(ev::ReliefDecided {
        relief_id: relief_id.into(),
        case_id: case_id.into(),
        kind: kind.into(),
        outcome: outcome.into(),
        decided_on: day(decided_on),
        source: source.into(),
    });
    envelope(s, "relief.decided", case_id, CHENGGUAN, payload)
}

/// Waits until supervision has the file of the case.
async fn known_to_supervision(s: &System, case_id: &str) {
    let id = uuid::Uuid::parse_str(case_id).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM files WHERE case_id = $1").bind(id).fetch_one(s.pool_of(Service::Supervision)).await.unwrap();
        if n == 1 {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "supervision does not know case {case_id}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn scalar(s: &System, sql: &str, case_id: &str) -> i64 {
    sqlx::query_scalar(sql).bind(uuid::Uuid::parse_str(case_id).unwrap()).fetch_one(s.pool_of(Service::Supervision)).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn marked_of(events: &[(String, Event)], relief_id: &str) -> Vec<ev::ReliefMarked> {
    events
        .iter()
        .filter_map(|(_, e)| match &e.payload {
            Some(Payload::ReliefMarked(m)) if e.r#type == "supervision.relief_marked" && m.relief_id == relief_id => Some(m.clone()),
            _ => None,
        })
        .collect()
}

async fn reply_cards(s: &System, officer: &Officer, case_id: &str) -> Vec<pb::Card> {
    s.supervision()
        .list_cards(req(officer, pb::ListCardsRequest { step: "relief_reply".into(), case_id: case_id.into(), include_closed: true, page_size: 50, ..Default::default() }))
        .await
        .unwrap()
        .into_inner()
        .cards
}

fn register(case_id: &str, relief_id: &str, kind: &str, received_on: &str) -> cf::RegisterReliefRequest {
    cf::RegisterReliefRequest {
        request_id: uuid::Uuid::now_v7().to_string(),
        case_id: case_id.into(),
        kind: kind.into(),
        relief_id: relief_id.into(),
        body: "兰州市城关区人民法院".into(),
        received_on: day(received_on),
        source: "gs-court".into(),
        summary: "起诉请求撤销约谈决定".into(),
    }
}

async fn board_kpi(s: &System, period: &str, name: &str) -> pb::Kpi {
    let board = s.supervision().get_board(req(&proposer(), pb::GetBoardRequest { division: CHENGGUAN.into(), period: period.into() })).await.unwrap().into_inner();
    board.total.unwrap().kpis.into_iter().find(|k| k.name == name).unwrap_or_else(|| panic!("no kpi {name}"))
}

#[tokio::test]
async fn r_relief_2_a_reconsideration_told_twice_on_the_bus_marks_the_case_once_with_its_reply_due_2026_10_20_then_overdue_by_timer_and_decided_on_the_board() {
    // Wednesday 2026-09-30, 10:00 CST: the application copy arrives the day
    // before the National Day holiday (Oct 1–7; Saturday Oct 10 is worked).
    let s = system_at(at("2026-09-30T02:00:00Z")).await;
    let officer = proposer();
    let case_id = s.opened_case(&officer, 7301, false).await;
    known_to_supervision(&s, &case_id).await;

    // The same application, published twice under two event ids.
    publish(&s, &application(&s, &case_id, "GSFY-2026-0042", "2026-09-30")).await;
    publish(&s, &application(&s, &case_id, "GSFY-2026-0042", "2026-09-30")).await;
    let marked = s.wait_for_event(|e| e.r#type == "supervision.relief_marked").await;
    assert_eq!((marked.case_id.as_str(), marked.jurisdiction.as_str()), (case_id.as_str(), CHENGGUAN), "the envelope names the case and its division");
    let Some(Payload::ReliefMarked(m)) = marked.payload else { panic!("payload") };
    assert_eq!((m.relief_id.as_str(), m.kind.as_str(), m.source.as_str(), m.body.as_str()), ("GSFY-2026-0042", "reconsideration", "gs-fuyi", "兰州市人民政府"));
    assert_eq!(m.received_on.as_ref().unwrap().iso, "2026-09-30");
    assert_eq!(m.reply_due.as_ref().unwrap().iso, "2026-10-20", "10 working days: Oct 8, 9, 10 (Sat), 12–16, 19, 20");
    assert!(m.number.contains("约"), "the case's number: {:?}", m.number);
    // Both deliveries applied (the inbox holds two relief events), one mark.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while scalar(&s, "SELECT count(*) FROM inbox WHERE event_type = 'relief.application_received' AND $1::uuid IS NOT NULL", &case_id).await < 2 {
        assert!(tokio::time::Instant::now() < deadline, "the second delivery was not applied");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.drain_outbox().await;
    assert_eq!(marked_of(&s.events().await, "GSFY-2026-0042").len(), 1, "one relief_marked for a relief told twice");
    assert_eq!(scalar(&s, "SELECT count(*) FROM reliefs WHERE case_id = $1", &case_id).await, 1);
    // The outside system's summary may name people: stored sealed, never in clear.
    assert_eq!(
        scalar(&s, "SELECT count(*) FROM reliefs WHERE case_id = $1 AND summary_sealed IS NOT NULL AND position(convert_to('申请撤销约谈决定', 'UTF8') IN summary_sealed) = 0", &case_id).await,
        1
    );
    let cards = reply_cards(&s, &officer, &case_id).await;
    assert_eq!(cards.len(), 1, "{cards:?}");
    assert_eq!(cards[0].deadline.as_ref().unwrap().iso, "2026-10-20");
    assert!(!cards[0].closed);

    // A lawsuit about the same case through RegisterRelief, by the service
    // account of city 6201: 15 days from 2026-09-30 is Thursday 2026-10-15.
    let account = fuyi_account();
    let lawsuit = register(&case_id, "XZSS-2026-7", "litigation", "2026-09-30");
    let first = s.casefile().register_relief(req(&account, lawsuit.clone())).await.unwrap().into_inner();
    assert!(first.created);
    let state = first.relief.unwrap();
    assert_eq!((state.kind.as_str(), state.source.as_str(), state.reply_due.as_ref().unwrap().iso.as_str()), ("litigation", "gs-court", "2026-10-15"));
    // The same request id answers the same; a new request of the same relief creates nothing.
    let replayed = s.casefile().register_relief(req(&account, lawsuit.clone())).await.unwrap().into_inner();
    assert!(replayed.created, "the stored answer of the first call");
    let again = s.casefile().register_relief(req(&account, cf::RegisterReliefRequest { request_id: uuid::Uuid::now_v7().to_string(), ..lawsuit.clone() })).await.unwrap().into_inner();
    assert!(!again.created);
    s.drain_outbox().await;
    assert_eq!(marked_of(&s.events().await, "XZSS-2026-7").len(), 1);
    assert_eq!(scalar(&s, "SELECT count(*) FROM reliefs WHERE case_id = $1", &case_id).await, 2);
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE actor_id = 'svc-gs-fuyi' AND action LIKE 'relief.%'").fetch_one(s.pool_of(Service::Supervision)).await.unwrap();
    assert_eq!(audited, 2, "each call audited with the caller");

    // Refused: a bad kind, a date in the future, a case of another city.
    let bad = s.casefile().register_relief(req(&account, cf::RegisterReliefRequest { kind: "mediation".into(), ..register(&case_id, "X-1", "", "2026-09-30") })).await.unwrap_err();
    assert_eq!((bad.code(), bad.message().contains("kind")), (Code::InvalidArgument, true), "{bad:?}");
    let future = s.casefile().register_relief(req(&account, register(&case_id, "X-2", "litigation", "2026-10-09"))).await.unwrap_err();
    assert_eq!(future.code(), Code::InvalidArgument, "{future:?}");
    let tianshui = Officer::new("officer-qz", QINZHOU_ORGAN, QINZHOU, &["case_officer", "section_chief"]);
    let other_case = s.opened_case(&tianshui, 7302, false).await;
    known_to_supervision(&s, &other_case).await;
    let denied = s.casefile().register_relief(req(&account, register(&other_case, "XZSS-2026-8", "litigation", "2026-09-30"))).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    assert_eq!(scalar(&s, "SELECT count(*) FROM reliefs WHERE case_id = $1", &other_case).await, 0);

    // The court decides the lawsuit (revoked) before its deadline: its card
    // closes in time and no overdue reply follows.
    publish(&s, &decided(&s, &case_id, "gs-court", "XZSS-2026-7", "litigation", "revoked", "2026-09-30")).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while scalar(&s, "SELECT count(*) FROM reliefs WHERE case_id = $1 AND outcome = 'revoked' AND decided_on = DATE '2026-09-30'", &case_id).await != 1 {
        assert!(tokio::time::Instant::now() < deadline, "the outcome was not recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Wednesday 2026-10-21 00:00 CST: the reconsideration's reply is overdue, once.
    s.clock.set(at("2026-10-20T16:00:01Z"));
    let overdue = s.wait_for_event(|e| e.r#type == "supervision.relief_reply_overdue").await;
    assert_eq!(overdue.case_id, case_id);
    let Some(Payload::ReliefReplyOverdue(o)) = overdue.payload else { panic!("payload") };
    assert_eq!((o.relief_id.as_str(), o.kind.as_str(), o.reply_due.as_ref().unwrap().iso.as_str()), ("GSFY-2026-0042", "reconsideration", "2026-10-20"));
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let overdues: Vec<Event> = s.events().await.into_iter().map(|(_, e)| e).filter(|e| e.r#type == "supervision.relief_reply_overdue").collect();
    assert_eq!(overdues.len(), 1, "once, and none for the decided lawsuit");

    // The reconsideration organ upholds the act.
    publish(&s, &decided(&s, &case_id, "gs-fuyi", "GSFY-2026-0042", "reconsideration", "upheld", "2026-10-21")).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while scalar(&s, "SELECT count(*) FROM reliefs WHERE case_id = $1 AND outcome IS NOT NULL", &case_id).await != 2 {
        assert!(tokio::time::Instant::now() < deadline, "the second outcome was not recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cards = reply_cards(&s, &officer, &case_id).await;
    assert_eq!(cards.len(), 2);
    assert!(cards.iter().all(|c| c.closed), "both reply cards closed: {cards:?}");
    let met: Vec<(String, bool)> = cards.iter().map(|c| (c.deadline.as_ref().unwrap().iso.clone(), c.met)).collect();
    assert!(met.contains(&("2026-10-15".into(), true)) && met.contains(&("2026-10-20".into(), false)), "{met:?}");

    // The board: two reliefs received in September, two decided of which one lost.
    let received = board_kpi(&s, "2026-09", "relief_rate").await;
    assert_eq!(received.numerator, 2, "{received:?}");
    let lost = board_kpi(&s, "2026", "relief_loss_rate").await;
    assert_eq!((lost.numerator, lost.denominator), (1, 2), "{lost:?}");
    assert!((lost.value - 0.5).abs() < 1e-9);

    // The timeline shows the mark and the outcomes.
    let timeline = s.supervision().get_timeline(req(&officer, pb::GetTimelineRequest { case_id: case_id.clone() })).await.unwrap().into_inner();
    let types: Vec<&str> = timeline.entries.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types.iter().filter(|t| **t == "supervision.relief_marked").count(), 2, "{types:?}");
    assert_eq!(types.iter().filter(|t| **t == "relief.decided").count(), 2, "{types:?}");
    assert!(types.contains(&"supervision.relief_reply_overdue"), "{types:?}");

    // A rebuild from the stream gives the same board, cards and timeline, and the same reliefs.
    let report = yuetan_supervision::rebuild::rebuild(&s.config, "supervision_rebuild", s.clock.clone(), s.calendar.clone()).await.unwrap();
    assert!(report.equal, "{:?}", report.differences);
    let rows = |schema: &str| format!("SELECT source, relief_id, kind, reply_due::text, outcome, overdue_at IS NOT NULL FROM {schema}.reliefs ORDER BY source, relief_id");
    type Row = (String, String, String, String, Option<String>, bool);
    let live: Vec<Row> = sqlx::query_as(&rows("supervision")).fetch_all(s.pool()).await.unwrap();
    let rebuilt: Vec<Row> = sqlx::query_as(&rows("supervision_rebuild")).fetch_all(s.pool()).await.unwrap();
    assert_eq!(live.len(), 2);
    assert_eq!(live, rebuilt);
    s.stop().await;
}

#[tokio::test]
async fn r_relief_1_an_application_with_no_relief_id_goes_to_the_dead_letters_naming_the_field() {
    let s = system_at(at("2026-09-30T02:00:00Z")).await;
    let case_id = s.opened_case(&proposer(), 7303, false).await;
    known_to_supervision(&s, &case_id).await;
    publish(&s, &application(&s, &case_id, "", "2026-09-30")).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let error = loop {
        let found: Option<String> = sqlx::query_scalar("SELECT error FROM dead_letters WHERE event_type = 'relief.application_received'").fetch_optional(s.pool_of(Service::Supervision)).await.unwrap();
        if let Some(e) = found {
            break e;
        }
        assert!(tokio::time::Instant::now() < deadline, "no dead letter for the bad application");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(error.contains("relief_id"), "{error}");
    assert_eq!(scalar(&s, "SELECT count(*) FROM reliefs WHERE case_id = $1", &case_id).await, 0);
    s.stop().await;
}
