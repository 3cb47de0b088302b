//! Intake keeps its case status true from review's events (issue 4): the
//! tests publish review's events to the bus as review would and watch the
//! case over gRPC. Rule ids in the test names say what each proves.

mod common;

use std::time::Duration;

use common::*;
use prost::Message;
use tonic::Code;
use uuid::Uuid;
use yuetan_intake::events::{ReviewOutcomes, REVIEW_OUTCOMES};
use yuetan_platform::consumer::{Delivery, Handler};
use yuetan_proto::common::Actor;
use yuetan_proto::events::{self as ev, event::Payload, Event};
use yuetan_proto::intake as pb;

const CHENGGUAN: &str = "620102";

fn officer() -> Officer {
    Officer::new("officer-a", "620102-SJ", CHENGGUAN, &["case_officer", "section_chief"])
}

/// How long a test waits for the consumer before it gives up: generous, so
/// a slow machine makes a test slower, not red.
const PATIENCE: Duration = Duration::from_secs(10);

/// Registers a party (serial `serial`), takes a clue of it through
/// verification and submits the case; returns (party id, submitted case).
async fn submitted_case(h: &Harness, serial: u32) -> (String, pb::Case) {
    let officer = officer();
    let party = register(h, &officer, enterprise("兰州某某商贸有限公司", &credit_code(CHENGGUAN, serial))).await;
    let case = submitted_case_of(h, &party).await;
    (party, case)
}

/// A new clue of `party` through verification (it must be eligible) and submission.
async fn submitted_case_of(h: &Harness, party: &str) -> pb::Case {
    let officer = officer();
    let clue = h.client().register_clue(req(&officer, clue(party, "SJ-ANNUAL-REPORT"))).await.unwrap().into_inner();
    let verified = h.client().verify_clue(req(&officer, verification(&clue.id))).await.unwrap().into_inner();
    assert_eq!(verified.outcome, pb::Outcome::Eligible as i32, "{verified:?}");
    let case = verified.case.unwrap();
    let submitted = h
        .client()
        .submit_for_review(req(
            &officer,
            pb::SubmitForReviewRequest { request_id: Uuid::now_v7().to_string(), case_id: case.id.clone(), approval_form: Some(approval_form()) },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(submitted.status, pb::CaseStatus::Submitted as i32);
    submitted
}

/// A review event about `case`, as review writes it: `version` is review's
/// own sequence for the case (0 for events outside it).
fn review_event(case: &pb::Case, version: u64, payload: Payload) -> Event {
    let name = match &payload {
        Payload::ReviewOpened(_) => "review_opened",
        Payload::ReviewPassed(_) => "review_passed",
        Payload::ReviewReturned(_) => "review_returned",
        Payload::ReviewRejected(_) => "review_rejected",
        Payload::ReviewDeadlineMissed(_) => "review_deadline_missed",
        Payload::CaseApproved(_) => "case_approved",
        Payload::CaseDenied(_) => "case_denied",
        Payload::DocumentReviewDecided(_) => "document_review_decided",
        other => panic!("not a review event: {other:?}"),
    };
    let id = Uuid::now_v7().to_string();
    let now = chrono::Utc::now();
    Event {
        id: id.clone(),
        r#type: format!("review.{name}"),
        case_id: case.id.clone(),
        case_version: version,
        jurisdiction: case.division_code.clone(),
        organ: "620102-SJ".into(),
        occurred_at: Some(prost_types::Timestamp { seconds: now.timestamp(), nanos: 0 }),
        actor: Some(Actor {
            officer_id: "reviewer-1".into(),
            name: "法制审核员".into(),
            organ_code: "620102-SJ".into(),
            division_code: CHENGGUAN.into(),
            roles: vec!["legal_reviewer".into()],
        }),
        correlation_id: id,
        causation_id: String::new(),
        payload: Some(payload),
    }
}

fn opened(case: &pb::Case, round: u32) -> Payload {
    Payload::ReviewOpened(ev::ReviewOpened { case_id: case.id.clone(), task_id: Uuid::now_v7().to_string(), round, ..Default::default() })
}

fn returned(case: &pb::Case, round: u32, missing: &str) -> Payload {
    Payload::ReviewReturned(ev::ReviewReturned {
        case_id: case.id.clone(),
        task_id: Uuid::now_v7().to_string(),
        round,
        missing: missing.into(),
        opinion: "证据不足，请补充。".into(),
        ..Default::default()
    })
}

fn passed(case: &pb::Case, round: u32) -> Payload {
    Payload::ReviewPassed(ev::ReviewPassed {
        case_id: case.id.clone(),
        task_id: Uuid::now_v7().to_string(),
        round,
        opinion: "主体适格，事实清楚，同意约谈。".into(),
        approver_role: "deputy_leader".into(),
        ..Default::default()
    })
}

fn rejected(case: &pb::Case, round: u32) -> Payload {
    Payload::ReviewRejected(ev::ReviewRejected {
        case_id: case.id.clone(),
        task_id: Uuid::now_v7().to_string(),
        round,
        opinion: "不属于约谈适用情形。".into(),
        ..Default::default()
    })
}

fn approved(case: &pb::Case) -> Payload {
    Payload::CaseApproved(ev::CaseApproved {
        case_id: case.id.clone(),
        task_id: Uuid::now_v7().to_string(),
        number: case.number.clone(),
        approved_by: "leader-1".into(),
        ..Default::default()
    })
}

fn denied(case: &pb::Case) -> Payload {
    Payload::CaseDenied(ev::CaseDenied {
        case_id: case.id.clone(),
        task_id: Uuid::now_v7().to_string(),
        number: case.number.clone(),
        denied_by: "leader-1".into(),
        ..Default::default()
    })
}

/// Publishes `event` on its subject as review's relay does, with the headers
/// the consumer routes by; `msg_id` is the JetStream dedup id (review uses
/// the event id; a different one stores another copy). Returns the stream
/// sequence.
async fn publish_as(h: &Harness, event: &Event, msg_id: &str) -> u64 {
    let subject = yuetan_platform::bus::subject(&h.config.nats.subject_prefix, &event.jurisdiction, &event.r#type).unwrap();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", msg_id);
    headers.insert("ce-id", event.id.as_str());
    headers.insert("ce-type", event.r#type.as_str());
    headers.insert("ce-source", "/yuetan/review");
    headers.insert("ce-subject", event.case_id.as_str());
    let ack = h.bus.jetstream.publish_with_headers(subject, headers, event.encode_to_vec().into()).await.unwrap();
    ack.await.expect("the stream stores the event").sequence
}

async fn publish(h: &Harness, event: &Event) -> u64 {
    publish_as(h, event, &event.id).await
}

async fn get_case(h: &Harness, case_id: &str) -> pb::Case {
    h.client().get_case(req(&officer(), pb::GetCaseRequest { case_id: case_id.into() })).await.unwrap().into_inner()
}

/// Waits until the case has `status`; fails after [`PATIENCE`].
async fn wait_for_status(h: &Harness, case_id: &str, status: pb::CaseStatus) -> pb::Case {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let case = get_case(h, case_id).await;
        if case.status == status as i32 {
            return case;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "case {case_id} did not become {status:?} within {PATIENCE:?}; it is {:?}",
            pb::CaseStatus::try_from(case.status)
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits until intake's consumer has settled every message up to stream
/// sequence `seq` (applied, skipped or dead-lettered: nothing pending).
async fn wait_consumed(h: &Harness, seq: u64) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let stream = h.bus.jetstream.get_stream(&h.config.nats.stream).await.unwrap();
    loop {
        if let Ok(info) = stream.consumer_info(REVIEW_OUTCOMES).await {
            if info.ack_floor.stream_sequence >= seq && info.num_ack_pending == 0 && info.num_pending == 0 {
                return;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "the consumer did not settle stream sequence {seq} within {PATIENCE:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits until the consumer has received stream sequence `seq` at least once.
async fn wait_delivered(h: &Harness, seq: u64) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let stream = h.bus.jetstream.get_stream(&h.config.nats.stream).await.unwrap();
    loop {
        if let Ok(info) = stream.consumer_info(REVIEW_OUTCOMES).await {
            if info.delivered.stream_sequence >= seq {
                return;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "the consumer did not receive stream sequence {seq} within {PATIENCE:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Audit rows of the case with `action`.
async fn audited(h: &Harness, case_id: &str, action: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE subject = $1 AND action = $2")
        .bind(format!("case/{case_id}"))
        .bind(action)
        .fetch_one(h.pool())
        .await
        .unwrap()
}

async fn dead_letters(h: &Harness) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM dead_letters").fetch_one(h.pool()).await.unwrap()
}

#[tokio::test]
async fn r_start_3_a_case_review_returns_shows_returned_for_supplement_and_is_resubmitted_for_round_2() {
    let h = start().await;
    h.organ("620102-SJ", CHENGGUAN, "兰城市监").await;
    let (_, case) = submitted_case(&h, 1).await;
    assert_eq!((case.version, case.review_round), (3, 1));

    publish(&h, &review_event(&case, 1, opened(&case, 1))).await;
    publish(&h, &review_event(&case, 2, returned(&case, 1, "缺少现场检查照片"))).await;
    let back = wait_for_status(&h, &case.id, pb::CaseStatus::ReturnedForSupplement).await;
    assert_eq!(back.review_missing, "缺少现场检查照片", "what review asked for is on the case");
    assert_eq!(back.version, 3, "intake's event sequence does not move: intake wrote no event");
    assert_eq!(back.review_round, 1);
    let (actor, before, after): (String, String, String) = sqlx::query_as(
        "SELECT actor_id, change->'before'->>'status', change->'after'->>'status' FROM audit_log
         WHERE subject = $1 AND action = 'case.review_returned'",
    )
    .bind(format!("case/{}", case.id))
    .fetch_one(h.pool())
    .await
    .unwrap();
    assert_eq!((actor.as_str(), before.as_str(), after.as_str()), ("reviewer-1", "submitted", "returned_for_supplement"));

    let again = h
        .client()
        .resubmit(req(
            &officer(),
            pb::ResubmitRequest { request_id: "re-1".into(), case_id: case.id.clone(), supplement: "补充现场照片两张".into(), approval_form: None },
        ))
        .await
        .expect("a returned case is resubmitted")
        .into_inner();
    assert_eq!(again.status, pb::CaseStatus::Submitted as i32);
    assert_eq!(again.review_round, 2);
    assert_eq!(again.version, 4, "case_resubmitted is intake's 4th event of the case");
    assert_eq!(again.review_missing, "缺少现场检查照片", "the last return stays readable after the resubmission");
    h.stop().await;
}

#[tokio::test]
async fn r_start_3_r_start_4_a_case_review_passes_goes_to_approval_and_is_approved() {
    let h = start().await;
    h.organ("620102-SJ", CHENGGUAN, "兰城市监").await;
    let (_, case) = submitted_case(&h, 2).await;

    publish(&h, &review_event(&case, 1, opened(&case, 1))).await;
    publish(&h, &review_event(&case, 2, passed(&case, 1))).await;
    wait_for_status(&h, &case.id, pb::CaseStatus::InApproval).await;
    // Events that change nothing in intake still take their place in review's sequence.
    let missed = Payload::ReviewDeadlineMissed(ev::ReviewDeadlineMissed {
        case_id: case.id.clone(),
        task_kind: "approval".into(),
        round: 1,
        ..Default::default()
    });
    publish(&h, &review_event(&case, 3, missed)).await;
    let decided = Payload::DocumentReviewDecided(ev::DocumentReviewDecided {
        document_id: Uuid::now_v7().to_string(),
        revision: 1,
        decision: "pass".into(),
        source_service: "scheduling".into(),
        ..Default::default()
    });
    publish(&h, &review_event(&case, 0, decided)).await;
    let last = publish(&h, &review_event(&case, 4, approved(&case))).await;
    let done = wait_for_status(&h, &case.id, pb::CaseStatus::Approved).await;
    assert_eq!(done.version, 3);
    wait_consumed(&h, last).await;
    assert_eq!(audited(&h, &case.id, "case.review_passed").await, 1);
    assert_eq!(audited(&h, &case.id, "case.approved").await, 1);
    assert_eq!(dead_letters(&h).await, 0);

    // ListCases filters by the new statuses.
    let listed = h
        .client()
        .list_cases(req(&officer(), pb::ListCasesRequest { status: pb::CaseStatus::Approved as i32, ..Default::default() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.cases.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), [case.id.as_str()]);
    let listed = h
        .client()
        .list_cases(req(&officer(), pb::ListCasesRequest { status: pb::CaseStatus::InApproval as i32, ..Default::default() }))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.cases.is_empty());
    h.stop().await;
}

#[tokio::test]
async fn r_start_3_a_case_review_rejects_is_rejected_and_cannot_be_resubmitted() {
    let h = start().await;
    h.organ("620102-SJ", CHENGGUAN, "兰城市监").await;
    let (_, case) = submitted_case(&h, 3).await;

    publish(&h, &review_event(&case, 1, opened(&case, 1))).await;
    publish(&h, &review_event(&case, 2, rejected(&case, 1))).await;
    wait_for_status(&h, &case.id, pb::CaseStatus::Rejected).await;
    let err = h
        .client()
        .resubmit(req(&officer(), pb::ResubmitRequest { request_id: "re-x".into(), case_id: case.id.clone(), supplement: "补充".into(), approval_form: None }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    h.stop().await;
}

#[tokio::test]
async fn the_same_review_event_delivered_three_times_changes_the_case_once() {
    let h = start().await;
    h.organ("620102-SJ", CHENGGUAN, "兰城市监").await;
    let (_, case) = submitted_case(&h, 4).await;

    publish(&h, &review_event(&case, 1, opened(&case, 1))).await;
    let event = review_event(&case, 2, returned(&case, 1, "缺少营业执照复印件"));
    // Three copies in the stream (as after a relay crash outside JetStream's
    // duplicate window): the consumer must apply one.
    let mut last = 0;
    for copy in 0..3 {
        last = publish_as(&h, &event, &format!("{}-{copy}", event.id)).await;
    }
    wait_consumed(&h, last).await;
    let back = wait_for_status(&h, &case.id, pb::CaseStatus::ReturnedForSupplement).await;
    assert_eq!(audited(&h, &case.id, "case.review_returned").await, 1, "one audit row: one change");
    let audit_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE subject = $1")
        .bind(format!("case/{}", case.id))
        .fetch_one(h.pool())
        .await
        .unwrap();
    assert_eq!(audit_rows, 3, "clue.verify, case.submit, case.review_returned");
    let returns: i32 = sqlx::query_scalar("SELECT json_array_length(approval_form::json->'returns') FROM cases WHERE id = $1")
        .bind(Uuid::parse_str(&case.id).unwrap())
        .fetch_one(h.pool())
        .await
        .unwrap();
    assert_eq!(returns, 1, "the return is recorded once");
    assert_eq!(back.review_missing, "缺少营业执照复印件");
    let inbox: i64 = sqlx::query_scalar("SELECT count(*) FROM inbox WHERE consumer = $1 AND event_id = $2")
        .bind(REVIEW_OUTCOMES)
        .bind(Uuid::parse_str(&event.id).unwrap())
        .fetch_one(h.pool())
        .await
        .unwrap();
    assert_eq!(inbox, 1);
    assert_eq!(dead_letters(&h).await, 0);
    h.stop().await;
}

#[tokio::test]
async fn r_start_4_an_approval_that_arrives_before_the_review_pass_is_applied_after_it() {
    let h = start().await;
    h.organ("620102-SJ", CHENGGUAN, "兰城市监").await;
    let (_, case) = submitted_case(&h, 5).await;

    // Version 2 first, on its own: the consumer receives it before version 1
    // exists, so it must hold it back.
    let early = publish(&h, &review_event(&case, 2, approved(&case))).await;
    wait_delivered(&h, early).await;
    let last = publish(&h, &review_event(&case, 1, passed(&case, 1))).await;
    wait_for_status(&h, &case.id, pb::CaseStatus::Approved).await;
    wait_consumed(&h, last.max(early)).await;

    let (before, after): (String, String) = sqlx::query_as(
        "SELECT change->'before'->>'status', change->'after'->>'status' FROM audit_log WHERE subject = $1 AND action = 'case.approved'",
    )
    .bind(format!("case/{}", case.id))
    .fetch_one(h.pool())
    .await
    .unwrap();
    assert_eq!((before.as_str(), after.as_str()), ("in_approval", "approved"), "the approval was applied after the pass");
    assert_eq!(audited(&h, &case.id, "case.review_passed").await, 1);
    assert_eq!(audited(&h, &case.id, "case.approved").await, 1);
    let applied: i64 = sqlx::query_scalar("SELECT version FROM event_order WHERE consumer = $1 AND source = 'review' AND case_id = $2")
        .bind(REVIEW_OUTCOMES)
        .bind(Uuid::parse_str(&case.id).unwrap())
        .fetch_one(h.pool())
        .await
        .unwrap();
    assert_eq!(applied, 2);
    assert_eq!(dead_letters(&h).await, 0);
    h.stop().await;
}

#[tokio::test]
async fn r_scope_3_x2_a_party_whose_earlier_case_was_rejected_or_denied_is_eligible_again_but_not_after_an_approval() {
    let h = start().await;
    h.organ("620102-SJ", CHENGGUAN, "兰城市监").await;

    // Party P: review rejects the first case; a new clue of the same type is eligible.
    let (party, first) = submitted_case(&h, 6).await;
    publish(&h, &review_event(&first, 1, opened(&first, 1))).await;
    publish(&h, &review_event(&first, 2, rejected(&first, 1))).await;
    wait_for_status(&h, &first.id, pb::CaseStatus::Rejected).await;
    let second = submitted_case_of(&h, &party).await;

    // The second case is approved: it is an interview, so the next clue is a repeat (X2) naming it alone.
    publish(&h, &review_event(&second, 1, passed(&second, 1))).await;
    publish(&h, &review_event(&second, 2, approved(&second))).await;
    wait_for_status(&h, &second.id, pb::CaseStatus::Approved).await;
    let third = h.client().register_clue(req(&officer(), clue(&party, "SJ-ANNUAL-REPORT"))).await.unwrap().into_inner();
    let verified = h.client().verify_clue(req(&officer(), verification(&third.id))).await.unwrap().into_inner();
    assert_eq!(verified.outcome, pb::Outcome::Excluded as i32);
    assert_eq!(verified.exclusions[0].code, pb::ExclusionCode::X2Repeat as i32);
    let earlier: Vec<&str> = verified.earlier_cases.iter().map(|c| c.case_id.as_str()).collect();
    assert_eq!(earlier, [second.id.as_str()], "the rejected case is not an earlier interview");
    assert_eq!(verified.earlier_cases[0].status, pb::CaseStatus::Approved as i32);

    // Party Q: approval denied; eligible again.
    let (party_q, denied_case) = submitted_case(&h, 7).await;
    publish(&h, &review_event(&denied_case, 1, passed(&denied_case, 1))).await;
    publish(&h, &review_event(&denied_case, 2, denied(&denied_case))).await;
    wait_for_status(&h, &denied_case.id, pb::CaseStatus::Denied).await;
    submitted_case_of(&h, &party_q).await;
    h.stop().await;
}

/// The handler on its own, in a transaction like the runner's: a decision
/// that does not fit the case is refused (the runner retries it and then
/// dead-letters it), one already reflected is accepted without a change.
#[tokio::test]
async fn a_decision_that_does_not_fit_the_case_is_refused_and_one_already_reflected_changes_nothing() {
    let h = start().await;
    h.organ("620102-SJ", CHENGGUAN, "兰城市监").await;
    let (_, case) = submitted_case(&h, 8).await;
    let handler = ReviewOutcomes { state: h.intake.state.clone() };
    let delivery = |event: Event| Delivery {
        event_id: Uuid::parse_str(&event.id).unwrap(),
        subject: String::new(),
        headers: async_nats::HeaderMap::new(),
        payload: event.encode_to_vec().into(),
        stream_sequence: 1,
        delivered: 1,
        event,
    };

    let mut tx = h.pool().begin().await.unwrap();
    // A submitted case cannot be approved before review passed it.
    let err = handler.handle(&mut tx, &delivery(review_event(&case, 2, approved(&case)))).await.unwrap_err();
    assert!(err.reason.contains("in_approval") && err.reason.contains("submitted"), "{}", err.reason);
    // A case intake does not know.
    let mut unknown = case.clone();
    unknown.id = Uuid::now_v7().to_string();
    let err = handler.handle(&mut tx, &delivery(review_event(&unknown, 1, passed(&unknown, 1)))).await.unwrap_err();
    assert!(err.reason.contains("no case"), "{}", err.reason);
    // Events that change nothing are accepted.
    handler.handle(&mut tx, &delivery(review_event(&case, 1, opened(&case, 1)))).await.unwrap();
    tx.rollback().await.unwrap();

    let mut tx = h.pool().begin().await.unwrap();
    handler.handle(&mut tx, &delivery(review_event(&case, 2, rejected(&case, 1)))).await.unwrap();
    // The same decision again (another event id): already reflected, accepted, no second change.
    handler.handle(&mut tx, &delivery(review_event(&case, 2, rejected(&case, 1)))).await.unwrap();
    // But a different decision on the closed case is refused.
    let err = handler.handle(&mut tx, &delivery(review_event(&case, 3, passed(&case, 1)))).await.unwrap_err();
    assert!(err.reason.contains("rejected"), "{}", err.reason);
    tx.commit().await.unwrap();
    assert_eq!(get_case(&h, &case.id).await.status, pb::CaseStatus::Rejected as i32);
    assert_eq!(audited(&h, &case.id, "case.review_rejected").await, 1);
    h.stop().await;
}
