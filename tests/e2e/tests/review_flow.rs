//! The whole system over gRPC against real NATS and PostgreSQL: intake hands
//! a case to review by event, review decides it, intake follows by event
//! (R-START-3, R-START-4, R-DOC-1).

mod common;

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;
use rand::seq::SliceRandom;
use tonic::Code;
use yuetan_proto::intake as ipb;
use yuetan_proto::review as rpb;
use yuetan_proto::review::TaskKind;

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
}

#[tokio::test]
async fn r_start_3_r_start_4_a_clue_becomes_an_approved_case_with_every_event_on_the_bus() {
    let s = start().await;
    let case = s.submitted_case(&proposer(), 1, false).await;
    let review = s.task(&reviewer(), &case.id, TaskKind::LegalityReview, 1).await;
    assert_eq!(review.status, rpb::TaskStatus::Open as i32);
    assert_eq!(review.limit_working_days, 2, "R-START-3: 2 working days for a general case");
    assert_eq!(review.role, "legal_reviewer");
    assert_eq!(review.case_number, case.number);

    let queue = s.review().list_my_tasks(req(&reviewer(), rpb::ListMyTasksRequest::default())).await.unwrap().into_inner();
    assert!(queue.tasks.iter().any(|t| t.id == review.id), "the reviewer's queue holds the task");
    let decided = s.review().decide_review(req(&reviewer(), decide(&review.id, rpb::ReviewDecision::Pass))).await.unwrap().into_inner();
    assert_eq!(decided.decision, "pass");
    s.intake_status(&proposer(), &case.id, ipb::CaseStatus::InApproval).await;

    let approval = s.task(&deputy(), &case.id, TaskKind::Approval, 1).await;
    assert_eq!(approval.role, "deputy_leader", "R-START-4: a general case goes to the deputy leader");
    assert_eq!(approval.limit_working_days, 1);
    s.review().decide_approval(req(&deputy(), approve(&approval.id))).await.unwrap();
    s.intake_status(&proposer(), &case.id, ipb::CaseStatus::Approved).await;

    let types = case_event_types(&s.h, &case.id, "review.case_approved").await;
    assert_eq!(
        types,
        [
            "intake.clue_verified",
            "intake.case_opened",
            "intake.case_submitted",
            "review.review_opened",
            "review.review_passed",
            "review.case_approved"
        ]
    );
    let review_events: Vec<_> =
        stream_events(&s.h).await.into_iter().filter(|(_, e)| e.case_id == case.id && e.r#type.starts_with("review.")).collect();
    for (i, (subject, event)) in review_events.iter().enumerate() {
        assert!(subject.ends_with(&format!(".62.01.02.{}", event.r#type)), "{subject}");
        assert_eq!(event.case_version, i as u64 + 1, "review numbers its own events of the case 1, 2, 3");
    }
    let file = s.review().get_review(req(&reviewer(), rpb::GetReviewRequest { case_id: case.id.clone() })).await.unwrap().into_inner();
    assert_eq!(file.status, "approved");
    assert_eq!(file.tasks.len(), 2);
    s.stop().await;
}

#[tokio::test]
async fn r_start_3_a_returned_case_is_resubmitted_reviewed_again_and_approved() {
    let s = start().await;
    let case = s.submitted_case(&proposer(), 2, false).await;
    let first = s.task(&reviewer(), &case.id, TaskKind::LegalityReview, 1).await;
    s.review().decide_review(req(&reviewer(), decide(&first.id, rpb::ReviewDecision::Return))).await.unwrap();
    s.intake_status(&proposer(), &case.id, ipb::CaseStatus::ReturnedForSupplement).await;

    let again = s
        .intake()
        .resubmit(req(
            &proposer(),
            ipb::ResubmitRequest {
                request_id: uuid::Uuid::now_v7().to_string(),
                case_id: case.id.clone(),
                supplement: "已补充现场检查笔录及照片".into(),
                approval_form: None,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.status, ipb::CaseStatus::Submitted as i32);
    let second = s.task(&reviewer(), &case.id, TaskKind::LegalityReview, 2).await;
    assert_eq!(second.supplement, "已补充现场检查笔录及照片");
    s.review().decide_review(req(&reviewer(), decide(&second.id, rpb::ReviewDecision::Pass))).await.unwrap();
    let approval = s.task(&deputy(), &case.id, TaskKind::Approval, 1).await;
    s.review().decide_approval(req(&deputy(), approve(&approval.id))).await.unwrap();
    s.intake_status(&proposer(), &case.id, ipb::CaseStatus::Approved).await;

    let file = s.review().get_review(req(&reviewer(), rpb::GetReviewRequest { case_id: case.id.clone() })).await.unwrap().into_inner();
    let rounds: Vec<(u32, String)> = file.tasks.iter().filter(|t| t.kind == TaskKind::LegalityReview as i32).map(|t| (t.round, t.decision.clone())).collect();
    assert_eq!(rounds, [(1, "return".to_string()), (2, "pass".to_string())], "every round's history is kept");
    assert_eq!(file.tasks[0].missing, "补充现场检查笔录及照片");
    let types = case_event_types(&s.h, &case.id, "review.case_approved").await;
    assert!(types.contains(&"review.review_returned".to_string()) && types.contains(&"intake.case_resubmitted".to_string()), "{types:?}");
    s.stop().await;
}

#[tokio::test]
async fn r_start_3_a_rejected_case_is_closed_in_intake_and_review() {
    let s = start().await;
    let case = s.submitted_case(&proposer(), 3, false).await;
    let task = s.task(&reviewer(), &case.id, TaskKind::LegalityReview, 1).await;
    s.review().decide_review(req(&reviewer(), decide(&task.id, rpb::ReviewDecision::Reject))).await.unwrap();
    s.intake_status(&proposer(), &case.id, ipb::CaseStatus::Rejected).await;
    let types = case_event_types(&s.h, &case.id, "review.review_rejected").await;
    assert_eq!(types.last().map(String::as_str), Some("review.review_rejected"));
    let file = s.review().get_review(req(&reviewer(), rpb::GetReviewRequest { case_id: case.id.clone() })).await.unwrap().into_inner();
    assert_eq!(file.status, "rejected");
    assert_eq!(file.tasks.len(), 1, "no approval task after a rejection");
    s.stop().await;
}

#[tokio::test]
async fn scope_a_reviewer_of_another_county_can_neither_see_nor_decide_the_task() {
    let s = start().await;
    let case = s.submitted_case(&proposer(), 4, false).await;
    let task = s.task(&reviewer(), &case.id, TaskKind::LegalityReview, 1).await;
    let other = reviewer_of_county_b();
    let err = s.review().get_review(req(&other, rpb::GetReviewRequest { case_id: case.id.clone() })).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = s.review().get_task(req(&other, rpb::GetTaskRequest { task_id: task.id.clone() })).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let queue = s.review().list_my_tasks(req(&other, rpb::ListMyTasksRequest::default())).await.unwrap().into_inner();
    assert!(queue.tasks.is_empty(), "another county's queue is empty: {:?}", queue.tasks);
    let err = s.review().decide_review(req(&other, decide(&task.id, rpb::ReviewDecision::Pass))).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let province = Officer::new("province-1", "62-SJ", "620000", &["legal_reviewer"]);
    s.review().get_review(req(&province, rpb::GetReviewRequest { case_id: case.id.clone() })).await.expect("the province sees it");
    let still = s.review().get_task(req(&reviewer(), rpb::GetTaskRequest { task_id: task.id })).await.unwrap().into_inner();
    assert_eq!(still.status, rpb::TaskStatus::Open as i32, "nothing was decided");
    s.stop().await;
}

#[tokio::test]
async fn r_start_4_the_proposing_officer_can_neither_review_nor_approve_their_own_case() {
    let s = start().await;
    // One officer holding every role proposes the case.
    let all_roles = Officer::new("officer-x", ORGAN_A, CHENGGUAN, &["case_officer", "legal_reviewer", "deputy_leader"]);
    let case = s.submitted_case(&all_roles, 5, false).await;
    let task = s.task(&reviewer(), &case.id, TaskKind::LegalityReview, 1).await;
    assert_eq!(task.proposed_by, "officer-x");
    let err = s.review().decide_review(req(&all_roles, decide(&task.id, rpb::ReviewDecision::Pass))).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{}", err.message());
    s.review().decide_review(req(&reviewer(), decide(&task.id, rpb::ReviewDecision::Pass))).await.unwrap();
    let approval = s.task(&deputy(), &case.id, TaskKind::Approval, 1).await;
    let err = s.review().decide_approval(req(&all_roles, approve(&approval.id))).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{}", err.message());
    let err = s.review().decide_approval(req(&reviewer(), approve(&approval.id))).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "a legal reviewer does not approve");
    s.review().decide_approval(req(&deputy(), approve(&approval.id))).await.expect("the deputy leader approves");
    s.stop().await;
}

#[tokio::test]
async fn a_second_decision_on_a_decided_task_is_failed_precondition_and_changes_nothing() {
    let s = start().await;
    let case = s.submitted_case(&proposer(), 6, false).await;
    let task = s.task(&reviewer(), &case.id, TaskKind::LegalityReview, 1).await;
    let first = decide(&task.id, rpb::ReviewDecision::Pass);
    let answer = s.review().decide_review(req(&reviewer(), first.clone())).await.unwrap().into_inner();
    // The same request again (a client retry) gets the same answer.
    let retried = s.review().decide_review(req(&reviewer(), first)).await.unwrap().into_inner();
    assert_eq!(retried, answer);
    case_event_types(&s.h, &case.id, "review.review_passed").await;
    let audit_before: i64 = sqlx::query_scalar("SELECT count(*) FROM review.audit_log").fetch_one(s.h.pool()).await.unwrap();
    let events_before = stream_events(&s.h).await.len();

    let err = s.review().decide_review(req(&reviewer(), decide(&task.id, rpb::ReviewDecision::Reject))).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{}", err.message());
    let after = s.review().get_task(req(&reviewer(), rpb::GetTaskRequest { task_id: task.id.clone() })).await.unwrap().into_inner();
    assert_eq!(after.decision, "pass");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let audit_after: i64 = sqlx::query_scalar("SELECT count(*) FROM review.audit_log").fetch_one(s.h.pool()).await.unwrap();
    assert_eq!(audit_after, audit_before, "no audit row");
    assert_eq!(stream_events(&s.h).await.len(), events_before, "no event");
    s.stop().await;
}

#[tokio::test]
async fn bad_decisions_are_invalid_argument_naming_the_field_and_a_review_is_extended_once() {
    let s = start().await;
    let case = s.submitted_case(&proposer(), 7, false).await;
    let task = s.task(&reviewer(), &case.id, TaskKind::LegalityReview, 1).await;
    let mut four_points = decide(&task.id, rpb::ReviewDecision::Pass);
    four_points.checklist.pop();
    let err = s.review().decide_review(req(&reviewer(), four_points)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("checklist"), "{}", err.message());
    // A thousand entries (within the gate's list bound) are counted before
    // any is read: refused naming the field and the five points.
    let mut too_many = decide(&task.id, rpb::ReviewDecision::Pass);
    let first = too_many.checklist[0].clone();
    too_many.checklist = vec![first; 1_000];
    let err = s.review().decide_review(req(&reviewer(), too_many)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("`checklist`") && err.message().contains("at most 5"), "{}", err.message());
    let mut no_missing = decide(&task.id, rpb::ReviewDecision::Return);
    no_missing.missing.clear();
    let err = s.review().decide_review(req(&reviewer(), no_missing)).await.unwrap_err();
    assert!(err.message().contains("`missing`"), "{}", err.message());

    let extend = |days: u32, reason: &str| rpb::ExtendReviewRequest {
        request_id: uuid::Uuid::now_v7().to_string(),
        task_id: task.id.clone(),
        reason: reason.into(),
        working_days: days,
    };
    let err = s.review().extend_review(req(&reviewer(), extend(3, "案情复杂"))).await.unwrap_err();
    assert!(err.message().contains("`working_days`"), "at most the 2-day limit: {}", err.message());
    let err = s.review().extend_review(req(&reviewer(), extend(2, " "))).await.unwrap_err();
    assert!(err.message().contains("`reason`"), "{}", err.message());
    let extended = s.review().extend_review(req(&reviewer(), extend(2, "需向上级业务部门征询意见"))).await.unwrap().into_inner();
    assert!(extended.extended);
    let calendar = yuetan_calendar::Calendar::builtin();
    let old = chrono::NaiveDate::parse_from_str(&task.deadline.unwrap().iso, "%Y-%m-%d").unwrap();
    assert_eq!(extended.deadline.unwrap().iso, calendar.add_working_days(old, 2).unwrap().value.to_string());
    let err = s.review().extend_review(req(&reviewer(), extend(1, "再次延长"))).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "only once: {}", err.message());
    s.stop().await;
}

#[tokio::test]
async fn r_start_3_a_major_case_submitted_2025_09_30_is_due_for_review_on_2025_10_14() {
    // 10:00 CST on the day before the National Day holiday; Saturday
    // 2025-10-11 is a working day.
    let s = start_at(at("2025-09-30T02:00:00Z")).await;
    let case = s.submitted_case(&proposer(), 8, true).await;
    let task = s.task(&reviewer(), &case.id, TaskKind::LegalityReview, 1).await;
    assert_eq!(task.limit_working_days, 5);
    assert_eq!(task.opened_on.unwrap().iso, "2025-09-30");
    assert_eq!(task.deadline.unwrap().iso, "2025-10-14");
    assert_eq!(task.remaining_working_days, 5);
    s.review().decide_review(req(&reviewer(), decide(&task.id, rpb::ReviewDecision::Pass))).await.unwrap();
    let approval = s.task(&leader(), &case.id, TaskKind::Approval, 1).await;
    assert_eq!((approval.role.as_str(), approval.limit_working_days), ("leader", 3), "R-START-4: a major case goes to the leader");
    // The leading group decides collectively.
    let mut collective = approve(&approval.id);
    collective.collective = Some(rpb::CollectiveDecision {
        meeting_date: Some(yuetan_proto::common::Date { iso: "2025-09-30".into() }),
        attendees: vec!["组长".into(), "副组长".into(), "法制科长".into()],
        result: "集体讨论同意约谈".into(),
    });
    let decided = s.review().decide_approval(req(&leader(), collective)).await.unwrap().into_inner();
    assert_eq!(decided.collective.unwrap().attendees.len(), 3);
    s.intake_status(&proposer(), &case.id, ipb::CaseStatus::Approved).await;
    s.stop().await;
}

#[tokio::test]
async fn r_sup_3_the_deadline_missed_event_fires_once_with_two_replicas_when_the_clock_passes_the_deadline() {
    let s = start_at(at("2026-03-02T02:00:00Z")).await; // a Monday, 10:00 CST
    let (replica, _channel) = review_replica(&s.h).await;
    let case = s.submitted_case(&proposer(), 9, false).await;
    let task = s.task(&reviewer(), &case.id, TaskKind::LegalityReview, 1).await;
    assert_eq!(task.deadline.as_ref().unwrap().iso, "2026-03-04");
    let missed = |events: &[(String, yuetan_proto::events::Event)]| {
        events.iter().filter(|(_, e)| e.r#type == "review.review_deadline_missed" && e.case_id == case.id).count()
    };
    // 23:59 CST on the deadline day: not yet.
    s.h.clock.set(at("2026-03-04T15:59:00Z"));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(missed(&stream_events(&s.h).await), 0);
    s.h.clock.set(at("2026-03-04T16:00:01Z"));
    case_event_types(&s.h, &case.id, "review.review_deadline_missed").await;
    // Both replicas sweep every 50 ms: give them many rounds.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(missed(&stream_events(&s.h).await), 1, "once, although two sweepers run");
    let late = s.review().get_task(req(&reviewer(), rpb::GetTaskRequest { task_id: task.id.clone() })).await.unwrap().into_inner();
    assert!(late.deadline_missed && late.overdue && late.status == rpb::TaskStatus::Open as i32);
    // Still decidable after the limit.
    s.review().decide_review(req(&reviewer(), decide(&task.id, rpb::ReviewDecision::Pass))).await.unwrap();
    for t in replica.tasks {
        t.abort();
    }
    s.stop().await;
}

/// What review holds, without ids and times: comparable across two runs.
async fn review_state(h: &Harness) -> (Vec<String>, Vec<String>, HashMap<String, Vec<String>>) {
    let cases: Vec<(uuid::Uuid, String, String, i64, bool)> =
        sqlx::query_as("SELECT case_id, number, status, version, major FROM review.cases ORDER BY case_id").fetch_all(h.pool()).await.unwrap();
    let tasks: Vec<(uuid::Uuid, String, i32, String, chrono::NaiveDate, String, String)> = sqlx::query_as(
        "SELECT case_id, kind, round, status, deadline, role, organ FROM review.tasks ORDER BY case_id, kind, round",
    )
    .fetch_all(h.pool())
    .await
    .unwrap();
    let mut events: HashMap<String, Vec<String>> = HashMap::new();
    for (_, e) in stream_events(h).await {
        if e.r#type.starts_with("review.") {
            events.entry(e.case_id.clone()).or_default().push(format!("{}#{}", e.r#type, e.case_version));
        }
    }
    (cases.into_iter().map(|c| format!("{c:?}")).collect(), tasks.into_iter().map(|t| format!("{t:?}")).collect(), events)
}

/// Waits until review's state stops changing for a while.
async fn settled(h: &Harness) -> (Vec<String>, Vec<String>, HashMap<String, Vec<String>>) {
    let mut last = review_state(h).await;
    let mut stable_since = tokio::time::Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while stable_since.elapsed() < Duration::from_millis(1_500) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = review_state(h).await;
        if now != last {
            last = now;
            stable_since = tokio::time::Instant::now();
        }
    }
    last
}

#[tokio::test]
async fn intake_events_delivered_three_times_in_shuffled_order_end_in_the_same_state_as_once_in_order() {
    // Once, in order: the real system.
    let a = start().await;
    let general = a.submitted_case(&proposer(), 10, false).await;
    let major = a.submitted_case(&proposer(), 11, true).await;
    let opened_only = a.opened_case(&proposer(), 12, false).await;
    a.task(&reviewer(), &general.id, TaskKind::LegalityReview, 1).await;
    a.task(&reviewer(), &major.id, TaskKind::LegalityReview, 1).await;
    let reference = settled(&a.h).await;
    assert_eq!(reference.1.len(), 2, "two review rounds: {:?}", reference.1);
    assert_eq!(reference.0.len(), 3, "three cases known: {:?}", reference.0);
    let intake_events: Vec<_> = stream_events(&a.h).await.into_iter().filter(|(_, e)| e.r#type.starts_with("intake.")).collect();
    assert!(intake_events.iter().any(|(_, e)| e.case_id == opened_only));

    // Three times each, shuffled, into a fresh system's stream: published
    // without Nats-Msg-Id, so JetStream keeps every copy and only the
    // consumer's inbox and ordering guard stand between them and review.
    let b = start().await;
    let mut copies: Vec<_> = intake_events.iter().chain(&intake_events).chain(&intake_events).cloned().collect();
    copies.shuffle(&mut rand::thread_rng());
    let (prefix_a, prefix_b) = (&a.h.config.nats.subject_prefix, &b.h.config.nats.subject_prefix);
    for (subject, event) in &copies {
        let subject = subject.replacen(prefix_a.as_str(), prefix_b, 1);
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("ce-subject", if event.case_id.is_empty() { event.id.as_str() } else { event.case_id.as_str() });
        let body = prost::Message::encode_to_vec(event);
        b.h.bus.jetstream.publish_with_headers(subject, headers, body.into()).await.unwrap().await.unwrap();
    }
    let shuffled = settled(&b.h).await;
    assert_eq!(shuffled.0, reference.0, "cases");
    assert_eq!(shuffled.1, reference.1, "tasks");
    assert_eq!(shuffled.2, reference.2, "review's events");
    let dead: i64 = sqlx::query_scalar("SELECT count(*) FROM review.dead_letters").fetch_one(b.h.pool()).await.unwrap();
    assert_eq!(dead, 0, "nothing dead-lettered");
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn r_doc_1_a_document_review_is_requested_by_event_decided_and_answered_by_event() {
    let s = start().await;
    let case = s.submitted_case(&proposer(), 13, false).await;
    // Scheduling (to come) asks, through its outbox, for its interview record to be reviewed.
    let outbox = yuetan_platform::outbox::Outbox::new(s.h.config.nats.subject_prefix.clone(), "scheduling");
    let request = yuetan_platform::outbox::NewEvent {
        event_type: "scheduling.document_review_requested".into(),
        case_id: Some(uuid::Uuid::parse_str(&case.id).unwrap()),
        case_version: 0,
        jurisdiction: CHENGGUAN.into(),
        organ: ORGAN_A.into(),
        actor: None,
        correlation_id: None,
        causation_id: None,
        payload: yuetan_proto::events::event::Payload::DocumentReviewRequested(yuetan_proto::events::DocumentReviewRequested {
            document_id: "record-1".into(),
            kind: "interview_record".into(),
            title: "行政约谈记录".into(),
            content_sha256: "ab".repeat(32),
            submitted_by: "officer-a".into(),
            revision: 1,
        }),
    };
    let mut tx = s.h.pool().begin().await.unwrap();
    // Twice: a redelivered request opens one task.
    outbox.write(&mut tx, request.clone(), Utc::now()).await.unwrap();
    outbox.write(&mut tx, request, Utc::now()).await.unwrap();
    tx.commit().await.unwrap();

    let task = s.task(&reviewer(), &case.id, TaskKind::DocumentReview, 1).await;
    assert_eq!(task.document.as_ref().unwrap().source_service, "scheduling");
    let file = s.review().get_review(req(&reviewer(), rpb::GetReviewRequest { case_id: case.id.clone() })).await.unwrap().into_inner();
    assert_eq!(file.tasks.iter().filter(|t| t.kind == TaskKind::DocumentReview as i32).count(), 1);
    let decide_doc = |decision: rpb::DocumentDecision, comments: &str| rpb::DecideDocumentRequest {
        request_id: uuid::Uuid::now_v7().to_string(),
        task_id: task.id.clone(),
        decision: decision as i32,
        comments: comments.into(),
    };
    let err = s.review().decide_document(req(&reviewer(), decide_doc(rpb::DocumentDecision::Return, ""))).await.unwrap_err();
    assert!(err.message().contains("`comments`"), "{}", err.message());
    let err = s.review().decide_document(req(&proposer(), decide_doc(rpb::DocumentDecision::Pass, ""))).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    s.review().decide_document(req(&reviewer(), decide_doc(rpb::DocumentDecision::Return, "当事人签名缺失"))).await.unwrap();
    let err = s.review().decide_document(req(&reviewer(), decide_doc(rpb::DocumentDecision::Pass, ""))).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    case_event_types(&s.h, &case.id, "review.document_review_decided").await;
    let answer = stream_events(&s.h).await.into_iter().find(|(_, e)| e.r#type == "review.document_review_decided").unwrap().1;
    match answer.payload {
        Some(yuetan_proto::events::event::Payload::DocumentReviewDecided(d)) => {
            assert_eq!((d.document_id.as_str(), d.decision.as_str(), d.source_service.as_str()), ("record-1", "return", "scheduling"));
            assert_eq!(d.comments, "当事人签名缺失");
        }
        other => panic!("{other:?}"),
    }
    s.stop().await;
}
