//! R-RELIEF-2 "the case is marked under relief, visible in every service's
//! reads", against real NATS and PostgreSQL: intake, review, scheduling and
//! rectification each take `supervision.relief_marked` and `relief.decided`
//! into their relief marks (platform `relief`) and show them on their case
//! reads. The first two tests start no supervision: the events are
//! published on the stream directly, as supervision and an outside system
//! would; the last goes through supervision (an application on the bus,
//! supervision's reply due and its `supervision.relief_marked`).

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;
use prost::Message as _;
use uuid::Uuid;
use yuetan_harness::scheduling::Peers;
use yuetan_platform::fields;
use yuetan_proto::common::Date;
use yuetan_proto::events::event::Payload;
use yuetan_proto::events::{Event, ReliefDecided, ReliefMarked};
use yuetan_proto::{intake as ipb, rectification as xpb, review as rpb, scheduling as spb};

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
}

const NOW: &str = "2026-04-28T02:00:00Z";
const SERVED: &str = "2026-04-28T03:00:00Z";
const INTERVIEW: &str = "2026-04-30T01:30:00Z";

/// The services whose reads show the mark; each keeps its own copy.
const READERS: [Service; 4] = [Service::Intake, Service::Review, Service::Scheduling, Service::Rectification];

fn day(iso: &str) -> Option<Date> {
    Some(Date { iso: iso.into() })
}

/// An envelope as supervision or an outside system publishes it: outside
/// any case's sequence (`case_version` 0).
fn envelope(event_type: &str, case_id: &str, payload: Payload) -> Event {
    Event {
        id: Uuid::now_v7().to_string(),
        r#type: event_type.into(),
        case_id: case_id.into(),
        case_version: 0,
        jurisdiction: CHENGGUAN.into(),
        organ: ORGAN_A.into(),
        occurred_at: Some(fields::timestamp(Utc::now())),
        actor: None,
        correlation_id: String::new(),
        causation_id: String::new(),
        payload: Some(payload),
    }
}

fn marked(case_id: &str, relief_id: &str, kind: &str, received_on: &str, reply_due: &str) -> Event {
    envelope(
        "supervision.relief_marked",
        case_id,
        Payload::ReliefMarked(ReliefMarked {
            case_id: case_id.into(),
            relief_id: relief_id.into(),
            kind: kind.into(),
            source: "gs-fuyi".into(),
            body: "兰州市城关区人民政府".into(),
            received_on: day(received_on),
            reply_due: day(reply_due),
            number: String::new(),
        }),
    )
}

fn decided(case_id: &str, relief_id: &str, kind: &str, outcome: &str, decided_on: &str) -> Event {
    envelope(
        "relief.decided",
        case_id,
        Payload::ReliefDecided(ReliefDecided {
            relief_id: relief_id.into(),
            case_id: case_id.into(),
            kind: kind.into(),
            outcome: outcome.into(),
            decided_on: day(decided_on),
            source: "gs-fuyi".into(),
        }),
    )
}

/// Publishes on the subject of the grammar; with `dedup` the Nats-Msg-Id
/// header (= event id) as the outbox sets it, without it a copy JetStream
/// keeps (only the consumers' inboxes stand between it and the marks).
async fn publish(s: &System, event: &Event, dedup: bool) {
    let subject = yuetan_platform::bus::subject(&s.config.nats.subject_prefix, &event.jurisdiction, &event.r#type).unwrap();
    let mut headers = async_nats::HeaderMap::new();
    if dedup {
        headers.insert("Nats-Msg-Id", event.id.as_str());
    }
    headers.insert("ce-subject", event.case_id.as_str());
    s.bus.jetstream.publish_with_headers(subject, headers, event.encode_to_vec().into()).await.unwrap().await.unwrap();
}

/// The relief fields of every read of the case, per service.
#[derive(Debug, Clone, PartialEq)]
struct Shown {
    under_relief: bool,
    reply_due: String,
    outcome: String,
}

fn shown(under_relief: bool, reply_due: &Option<Date>, outcome: &str) -> Shown {
    Shown { under_relief, reply_due: reply_due.as_ref().map(|d| d.iso.clone()).unwrap_or_default(), outcome: outcome.into() }
}

async fn reads(s: &System, case_id: &str) -> Vec<(&'static str, Shown)> {
    let case = s.intake().get_case(req(&proposer(), ipb::GetCaseRequest { case_id: case_id.into() })).await.unwrap().into_inner();
    let file = s.review().get_review(req(&reviewer(), rpb::GetReviewRequest { case_id: case_id.into() })).await.unwrap().into_inner();
    let plan = s.scheduling().get_plan(req(&proposer(), spb::GetPlanRequest { case_id: case_id.into() })).await.unwrap().into_inner();
    let interview = s.scheduling().get_interview(req(&proposer(), spb::GetInterviewRequest { case_id: case_id.into() })).await.unwrap().into_inner();
    let rect = s.rectification().get_rectification(req(&proposer(), xpb::GetRectificationRequest { case_id: case_id.into() })).await.unwrap().into_inner();
    let mut out = vec![
        ("intake GetCase", shown(case.under_relief, &case.relief_reply_due, &case.relief_outcome)),
        ("review GetReview", shown(file.under_relief, &file.relief_reply_due, &file.relief_outcome)),
    ];
    for task in &file.tasks {
        out.push(("review GetReview task", shown(task.under_relief, &task.relief_reply_due, &task.relief_outcome)));
    }
    out.push(("scheduling GetPlan", shown(plan.under_relief, &plan.relief_reply_due, &plan.relief_outcome)));
    out.push(("scheduling GetInterview", shown(interview.under_relief, &interview.relief_reply_due, &interview.relief_outcome)));
    out.push(("rectification GetRectification", shown(rect.under_relief, &rect.relief_reply_due, &rect.relief_outcome)));
    out
}

/// Waits until every read of the case shows `want`.
async fn reads_until(s: &System, case_id: &str, want: &Shown) -> Vec<(&'static str, Shown)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let now = reads(s, case_id).await;
        if now.iter().all(|(_, got)| got == want) {
            return now;
        }
        assert!(tokio::time::Instant::now() < deadline, "the reads never showed {want:?}: {now:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until every reader's consumer took the event (its inbox holds it).
async fn taken_everywhere(s: &System, event: &Event) {
    let id = Uuid::parse_str(&event.id).unwrap();
    for service in READERS {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let taken: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM inbox WHERE event_id = $1)")
                .bind(id)
                .fetch_one(s.pool_of(service))
                .await
                .unwrap();
            if taken {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{} never took {}", service.name(), event.r#type);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn marks(s: &System, service: Service, case_id: &str) -> Vec<(String, Option<String>)> {
    sqlx::query_as("SELECT relief_id, outcome FROM relief_marks WHERE case_id = $1 ORDER BY relief_id")
        .bind(Uuid::parse_str(case_id).unwrap())
        .fetch_all(s.pool_of(service))
        .await
        .unwrap()
}

async fn no_dead_letters(s: &System) {
    for service in READERS {
        let dead: Vec<(String, String)> = sqlx::query_as("SELECT event_type, error FROM dead_letters")
            .fetch_all(s.pool_of(service))
            .await
            .unwrap();
        assert!(dead.is_empty(), "{}: {dead:?}", service.name());
    }
}

async fn world() -> (System, Peers, String) {
    let mut s = start_at(at(NOW)).await;
    let peers = s.start_scheduling_stack(false, None).await;
    s.start_service(Service::Rectification).await;
    let case_id = s.held_case(&peers, 2601, &[], at(INTERVIEW), at(SERVED)).await;
    (s, peers, case_id)
}

#[tokio::test]
async fn r_relief_2_every_service_shows_the_case_under_relief_once_and_clears_it_on_the_decision() {
    let (s, _peers, case_id) = world().await;
    let before = reads(&s, &case_id).await;
    let nothing = Shown { under_relief: false, reply_due: String::new(), outcome: String::new() };
    assert!(before.iter().all(|(_, got)| *got == nothing), "no relief yet: {before:#?}");

    // A reconsideration application received on Monday 2026-06-01: the
    // reply is due 10 working days later (supervision's computation).
    let mark = marked(&case_id, "FY-2026-0042", "reconsideration", "2026-06-01", "2026-06-15");
    publish(&s, &mark, true).await;
    let under = Shown { under_relief: true, reply_due: "2026-06-15".into(), outcome: String::new() };
    let all = reads_until(&s, &case_id, &under).await;
    assert!(all.len() >= 6, "the case read of every service, and review's task: {all:#?}");

    // Delivered twice: the same event again (a copy JetStream keeps, no
    // Nats-Msg-Id), and the same relief announced again under a new event
    // id (a republish). One mark in every service.
    publish(&s, &mark, false).await;
    let again = marked(&case_id, "FY-2026-0042", "reconsideration", "2026-06-01", "2026-06-15");
    publish(&s, &again, true).await;
    taken_everywhere(&s, &again).await;
    for service in READERS {
        assert_eq!(marks(&s, service, &case_id).await, vec![("FY-2026-0042".to_string(), None)], "{}", service.name());
    }
    reads_until(&s, &case_id, &under).await;

    // The reconsideration organ upholds the act: no longer under relief,
    // the outcome shown.
    let decision = decided(&case_id, "FY-2026-0042", "reconsideration", "upheld", "2026-07-20");
    publish(&s, &decision, true).await;
    let upheld = Shown { under_relief: false, reply_due: String::new(), outcome: "upheld".into() };
    reads_until(&s, &case_id, &upheld).await;
    for service in READERS {
        assert_eq!(
            marks(&s, service, &case_id).await,
            vec![("FY-2026-0042".to_string(), Some("upheld".to_string()))],
            "{}",
            service.name()
        );
    }
    no_dead_letters(&s).await;
    s.stop().await;
}

#[tokio::test]
async fn r_relief_2_a_decision_that_overtakes_its_mark_is_kept_and_a_second_relief_shows_its_own_reply_due() {
    let (s, _peers, case_id) = world().await;

    // A lawsuit settled before supervision's mark reached the services:
    // the later mark does not put the case back under relief.
    let settled = decided(&case_id, "SS-2026-7", "litigation", "settled", "2026-06-20");
    let late_mark = marked(&case_id, "SS-2026-7", "litigation", "2026-06-01", "2026-06-16");
    publish(&s, &settled, true).await;
    publish(&s, &late_mark, true).await;
    taken_everywhere(&s, &late_mark).await;
    let settled_shown = Shown { under_relief: false, reply_due: String::new(), outcome: "settled".into() };
    reads_until(&s, &case_id, &settled_shown).await;

    // A reconsideration after it: under relief again, with its own reply due.
    publish(&s, &marked(&case_id, "FY-2026-0043", "reconsideration", "2026-06-22", "2026-07-06"), true).await;
    let under = Shown { under_relief: true, reply_due: "2026-07-06".into(), outcome: "settled".into() };
    reads_until(&s, &case_id, &under).await;
    no_dead_letters(&s).await;
    s.stop().await;
}

#[tokio::test]
async fn r_relief_2_an_application_told_to_supervision_reaches_every_read_through_its_relief_marked() {
    let (mut s, _peers, case_id) = world().await;
    s.start_service(Service::Supervision).await;

    // The outside reconsideration system publishes the application; supervision
    // computes the reply due (10 working days after Monday 2026-06-01) and
    // announces the mark; every service shows it.
    let application = envelope(
        "relief.application_received",
        &case_id,
        Payload::ReliefApplicationReceived(yuetan_proto::events::ReliefApplicationReceived {
            relief_id: "FY-2026-0050".into(),
            case_id: case_id.clone(),
            case_number: String::new(),
            body: "兰州市城关区人民政府".into(),
            received_on: day("2026-06-01"),
            applied_on: day("2026-05-29"),
            source: "gs-fuyi".into(),
            summary: "申请撤销约谈决定".into(),
        }),
    );
    publish(&s, &application, true).await;
    let mark = s.wait_for_event(|e| e.r#type == "supervision.relief_marked" && e.case_id == case_id).await;
    let Some(Payload::ReliefMarked(m)) = &mark.payload else { panic!("{mark:?}") };
    assert_eq!(m.reply_due.as_ref().unwrap().iso, "2026-06-15");
    let under = Shown { under_relief: true, reply_due: "2026-06-15".into(), outcome: String::new() };
    reads_until(&s, &case_id, &under).await;

    publish(&s, &decided(&case_id, "FY-2026-0050", "reconsideration", "revoked", "2026-07-20"), true).await;
    let revoked = Shown { under_relief: false, reply_due: String::new(), outcome: "revoked".into() };
    reads_until(&s, &case_id, &revoked).await;
    no_dead_letters(&s).await;
    s.stop().await;
}
