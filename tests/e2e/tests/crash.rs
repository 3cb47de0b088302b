//! Issue 16, "a crash can leave a case stuck for good", against the real
//! servers: review's consuming side dies between delivery and ack of a
//! case's first intake events (versions 1 and 2), comes back, and the
//! case's `intake.case_submitted` (version 3) reaches the new review before
//! JetStream redelivers 1 and 2 (after `ack_wait`). Version 3 then waits
//! for its predecessors; waiting must not use up `consumer.max_deliver`
//! (the old consumer dead-lettered it, and the case stayed `submitted` in
//! intake and `awaiting_submission` in review, with nobody told). In the
//! end every case's views agree and there is no dead letter.
//!
//! "Between delivery and ack" is made deterministic by holding review's
//! `inbox` table in an ACCESS EXCLUSIVE lock from the test: review's
//! consumer takes every intake event off JetStream, begins its inbox
//! transaction and blocks on its first statement, so every event is
//! delivered and none is acknowledged or written. Then review is killed
//! (its tasks dropped wherever they are, as SIGKILL does), and the lock is
//! released: the killed transactions roll back, nothing of them stays.
//! (The consumer keeps its lanes in a `JoinSet`, so aborting the consumer's
//! task takes them down too; otherwise they would outlive the "killed"
//! review and commit and ack what it held.)
//!
//! The mirror (the issue's "approved in review but not in intake"): intake's
//! consumer of review's outcomes dies holding a case's `review_opened` and
//! `review_passed` (review's versions 1 and 2), the deputy leader approves
//! the case while intake is down (`review.case_approved`, version 3), and the
//! restarted intake gets version 3 before 1 and 2 come back. Same lock, on
//! intake's `inbox`; same end: both views agree, no dead letter.
//!
//! Checked to fail on the old behaviour (the ordering guard's waits counted
//! towards `max_deliver`): every case's version 3 is dead-lettered by
//! review's consumer in the first two tests; in the third, intake's
//! consumer dead-letters `review.case_approved` after its third wait ("failed
//! 3 times") and the test stops at the first dead letter it sees.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::pull;
use common::*;
use sqlx::{Connection, PgConnection};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use yuetan_proto::intake as ipb;
use yuetan_proto::review as rpb;
use yuetan_proto::review::TaskKind;

/// Cases run through the crash together.
const CASES: u32 = 10;
/// JetStream's ack wait: how long versions 1 and 2 stay with the killed
/// review before they come back. Long enough that, on any machine that
/// restarts review within it, version 3 is delivered first.
const ACK_WAIT_SECS: u64 = 12;
/// Generous: every deadline of this test (no assertion is about speed).
const PATIENCE: Duration = Duration::from_secs(90);

/// The failures an event may have before it is dead-lettered: small, so
/// that counting version 3's waits (the old behaviour) would dead-letter
/// it after a few hundred milliseconds.
fn consumer_toml() -> String {
    format!("[consumer]\nack_wait_secs = {ACK_WAIT_SECS}\nmax_deliver = 3\nbackoff_ms = [100, 200, 400]\n")
}

async fn start_system() -> System {
    let h = Harness::builder()
        .with(Service::Intake)
        .with(Service::Review)
        .toml(&consumer_toml())
        .start()
        .await;
    h.put_organs().await;
    System { h }
}

/// When version 3 is published: after review is back, or while it is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Submit {
    AfterRestart,
    WhileDown,
}

#[tokio::test]
async fn issue_16_review_killed_between_delivery_and_ack_restarted_then_cases_submitted_every_case_is_reviewed_no_dead_letter(
) {
    crash_between_delivery_and_ack(Submit::AfterRestart, 100).await;
}

#[tokio::test]
async fn issue_16_review_killed_between_delivery_and_ack_cases_submitted_while_down_restart_after_1_s_every_case_is_reviewed_no_dead_letter(
) {
    crash_between_delivery_and_ack(Submit::WhileDown, 200).await;
}

async fn crash_between_delivery_and_ack(submit: Submit, first_serial: u32) {
    let mut s = start_system().await;
    let proposer = proposer();

    // Review's consuming side will hang between delivery and ack.
    let lock = lock_inbox(&s, REVIEW_OF_INTAKE).await;

    // Cases opened in parallel: party, clue, VerifyClue (intake's
    // clue_verified and case_opened, versions 1 and 2 of each case).
    let opened = futures::future::join_all(
        (0..CASES).map(|i| s.opened_case(&proposer, first_serial + i, false)),
    )
    .await;
    let case_ids: Vec<String> = opened;
    s.drain_outbox().await;
    let (intake_events, by_case) = producer_events(&s, "intake.").await;
    for case_id in &case_ids {
        let versions: Vec<u64> = by_case[case_id]
            .iter()
            .map(|(_, version)| *version)
            .collect();
        assert_eq!(
            versions,
            [1, 2],
            "intake's events of case {case_id} before submission"
        );
    }
    // Every intake event delivered to review, none acknowledged.
    let delivered_at = held_unacked(&s, REVIEW_OF_INTAKE, intake_events).await;
    let held: i64 = sqlx::query_scalar("SELECT count(*) FROM review.cases")
        .fetch_one(db(&s))
        .await
        .unwrap();
    assert_eq!(held, 0, "nothing applied while the inbox is locked");

    // The crash: review dies holding them; then the lock goes, and the
    // killed inbox transactions roll back.
    crash(&mut s, REVIEW_OF_INTAKE, lock).await;

    // Version 3 of every case, and review back after 1 s.
    let waits = WaitWatch::start(&s, REVIEW_OF_INTAKE);
    match submit {
        Submit::AfterRestart => {
            tokio::time::sleep(Duration::from_secs(1)).await;
            s.start_service(Service::Review).await;
            submit_all(&s, &case_ids).await;
            s.drain_outbox().await;
        }
        Submit::WhileDown => {
            submit_all(&s, &case_ids).await;
            s.drain_outbox().await;
            tokio::time::sleep(Duration::from_secs(1)).await;
            s.start_service(Service::Review).await;
        }
    }
    // If both steps were done well within the ack wait (on any but a very
    // slow machine), JetStream could not yet redeliver versions 1 and 2:
    // every case's version 3 reached the new review first (checked below).
    let race_certain = race_certain(delivered_at);
    let submitted_ids = events_of_type(&s, "intake.case_submitted", 3).await;
    assert_eq!(
        submitted_ids.len(),
        case_ids.len(),
        "one case_submitted per case"
    );

    // Every case reaches its legality review (after the ack wait).
    let reviewer = reviewer();
    for case_id in &case_ids {
        let task = task_within(&s, &reviewer, case_id).await;
        assert_eq!(
            task.status,
            rpb::TaskStatus::Open as i32,
            "case {case_id}'s review is open"
        );
    }
    // Quiet: all delivered and acknowledged, nothing counted as retrying.
    settle(&s, REVIEW_OF_INTAKE).await;
    let waited = waits.stop().await;

    // Every case's views agree: submitted in intake, in review in review,
    // one review opened each, and nothing dead-lettered.
    for case_id in &case_ids {
        s.intake_status(&proposer, case_id, ipb::CaseStatus::Submitted)
            .await;
        let file = s
            .review()
            .get_review(req(
                &reviewer,
                rpb::GetReviewRequest {
                    case_id: case_id.clone(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(file.status, "in_review", "case {case_id} in review");
        let legality: Vec<_> = file
            .tasks
            .iter()
            .filter(|t| t.kind == TaskKind::LegalityReview as i32)
            .collect();
        assert_eq!(
            legality.len(),
            1,
            "one legality review of case {case_id}: {:?}",
            file.tasks
        );
    }
    let events = s.events().await;
    for case_id in &case_ids {
        let opened = events
            .iter()
            .filter(|(_, e)| &e.case_id == case_id && e.r#type == "review.review_opened")
            .count();
        assert_eq!(
            opened, 1,
            "review.review_opened of case {case_id} once on the stream"
        );
    }
    let queue = s
        .review()
        .list_my_tasks(req(&reviewer, rpb::ListMyTasksRequest::default()))
        .await
        .unwrap()
        .into_inner();
    let queued: HashSet<&str> = queue.tasks.iter().map(|t| t.case_id.as_str()).collect();
    for case_id in &case_ids {
        assert!(
            queued.contains(case_id.as_str()),
            "case {case_id} in the reviewer's queue"
        );
    }
    assert_eq!(
        statuses(&s, REVIEW_OF_INTAKE).await,
        [("in_review".to_string(), i64::from(CASES))],
        "review's cases"
    );
    no_dead_letter(&s).await;

    every_version_3_waited(
        &format!("{submit:?}"),
        &waited,
        &submitted_ids,
        case_ids.len(),
        race_certain,
    );
    s.stop().await;
}

#[tokio::test]
async fn issue_16_intake_killed_between_delivery_and_ack_cases_approved_while_down_every_case_is_approved_in_both_no_dead_letter(
) {
    let mut s = start_system().await;
    let (proposer, reviewer, deputy) = (proposer(), reviewer(), deputy());

    // Intake's consuming side will hang between delivery and ack.
    let lock = lock_inbox(&s, INTAKE_OF_REVIEW).await;

    // Cases submitted (intake's RPCs, while intake runs) and passed by the
    // legal reviewer in parallel: review's review_opened and review_passed,
    // versions 1 and 2 of each case.
    let submitted =
        futures::future::join_all((0..CASES).map(|i| s.submitted_case(&proposer, 300 + i, false)))
            .await;
    let case_ids: Vec<String> = submitted
        .into_iter()
        .map(|case| {
            assert_eq!(
                case.status,
                ipb::CaseStatus::Submitted as i32,
                "case {} submitted",
                case.id
            );
            case.id
        })
        .collect();
    futures::future::join_all(case_ids.iter().map(|case_id| {
        let (s, reviewer) = (&s, &reviewer);
        async move {
            let task = task_within(s, reviewer, case_id).await;
            s.review()
                .decide_review(req(reviewer, decide(&task.id, rpb::ReviewDecision::Pass)))
                .await
                .expect("the legality review passes")
        }
    }))
    .await;
    s.drain_outbox().await;
    let (review_events, by_case) = producer_events(&s, "review.").await;
    for case_id in &case_ids {
        assert_eq!(
            by_case[case_id],
            [
                ("review.review_opened".to_string(), 1),
                ("review.review_passed".to_string(), 2)
            ],
            "review's events of case {case_id} before the approval"
        );
    }
    // Every review event delivered to intake, none acknowledged.
    let delivered_at = held_unacked(&s, INTAKE_OF_REVIEW, review_events).await;
    assert_eq!(
        statuses(&s, INTAKE_OF_REVIEW).await,
        [("submitted".to_string(), i64::from(CASES))],
        "nothing applied in intake while the inbox is locked"
    );

    // The crash: intake dies holding them; then the lock goes, and the
    // killed inbox transactions roll back.
    crash(&mut s, INTAKE_OF_REVIEW, lock).await;

    // Version 3 of every case while intake is down: the deputy leader
    // approves (R-START-4, a general case); intake back after 1 s.
    let waits = WaitWatch::start(&s, INTAKE_OF_REVIEW);
    futures::future::join_all(case_ids.iter().map(|case_id| {
        let (s, deputy) = (&s, &deputy);
        async move {
            let approval = s.task(deputy, case_id, TaskKind::Approval, 1).await;
            s.review()
                .decide_approval(req(deputy, approve(&approval.id)))
                .await
                .expect("the deputy leader approves")
        }
    }))
    .await;
    s.drain_outbox().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    s.start_service(Service::Intake).await;
    let race_certain = race_certain(delivered_at);
    let approved_ids = events_of_type(&s, "review.case_approved", 3).await;
    assert_eq!(
        approved_ids.len(),
        case_ids.len(),
        "one case_approved per case"
    );

    // Every case becomes approved in intake (after the ack wait).
    for case_id in &case_ids {
        intake_within(&s, &proposer, case_id, ipb::CaseStatus::Approved).await;
    }
    // Quiet: all delivered and acknowledged, nothing counted as retrying.
    settle(&s, INTAKE_OF_REVIEW).await;
    let waited = waits.stop().await;

    // Every case's views agree: approved in intake and in review, and
    // nothing dead-lettered.
    for case_id in &case_ids {
        let case = s
            .intake()
            .get_case(req(
                &proposer,
                ipb::GetCaseRequest {
                    case_id: case_id.clone(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            case.status,
            ipb::CaseStatus::Approved as i32,
            "case {case_id} approved in intake"
        );
        let file = s
            .review()
            .get_review(req(
                &reviewer,
                rpb::GetReviewRequest {
                    case_id: case_id.clone(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(file.status, "approved", "case {case_id} approved in review");
    }
    for side in [INTAKE_OF_REVIEW, REVIEW_OF_INTAKE] {
        assert_eq!(
            statuses(&s, side).await,
            [("approved".to_string(), i64::from(CASES))],
            "{}'s cases",
            side.schema()
        );
    }
    no_dead_letter(&s).await;
    let retrying: Vec<(i64, i32, i32)> =
        sqlx::query_as("SELECT stream_seq, failures, waits FROM intake.consumer_retries")
            .fetch_all(db(&s))
            .await
            .unwrap();
    assert!(
        retrying.is_empty(),
        "intake's consumer retries nothing: {retrying:?}"
    );

    every_version_3_waited(
        "intake",
        &waited,
        &approved_ids,
        case_ids.len(),
        race_certain,
    );
    s.stop().await;
}

/// The events of one producer (type prefix, e.g. `"intake."`) on the
/// stream, read once: how many, and each case's `(type, version)` in order.
async fn producer_events(s: &System, prefix: &str) -> (usize, HashMap<String, Vec<(String, u64)>>) {
    let mut by_case: HashMap<String, Vec<(String, u64)>> = HashMap::new();
    let mut count = 0;
    for (_, e) in s.events().await {
        if e.r#type.starts_with(prefix) {
            count += 1;
            by_case
                .entry(e.case_id)
                .or_default()
                .push((e.r#type, e.case_version));
        }
    }
    (count, by_case)
}

/// Every event of `event_type` on the stream, each checked to be its
/// case's `version`: event id → case id.
async fn events_of_type(s: &System, event_type: &str, version: u64) -> HashMap<String, String> {
    s.events()
        .await
        .into_iter()
        .filter(|(_, e)| e.r#type == event_type)
        .map(|(_, e)| {
            assert_eq!(
                e.case_version, version,
                "case {}'s {event_type} is version {version}",
                e.case_id
            );
            (e.id, e.case_id)
        })
        .collect()
}

/// `side`'s cases counted by status.
async fn statuses(s: &System, side: Side) -> Vec<(String, i64)> {
    sqlx::query_as(&format!(
        "SELECT status, count(*) FROM {}.cases GROUP BY status",
        side.schema()
    ))
    .fetch_all(db(s))
    .await
    .unwrap()
}

/// That the crash was the one of the issue: every case's version 3 (its
/// event ids in `ids`, event id → case id) came first and waited for 1 and
/// 2 — certain whenever the restart beat the ack wait, printed otherwise.
fn every_version_3_waited(
    label: &str,
    waited: &HashSet<String>,
    ids: &HashMap<String, String>,
    cases: usize,
    race_certain: bool,
) {
    let waited_cases: HashSet<&String> = waited.iter().filter_map(|id| ids.get(id)).collect();
    eprintln!(
        "{label}: {} of {cases} cases' version 3 waited for versions 1 and 2 (race certain: {race_certain})",
        waited_cases.len()
    );
    if race_certain {
        assert_eq!(
            waited_cases.len(),
            cases,
            "every case's version 3 arrived before versions 1 and 2 and waited"
        );
    }
}

async fn submit_all(s: &System, case_ids: &[String]) {
    let proposer = proposer();
    let submitted = futures::future::join_all(case_ids.iter().map(|case_id| {
        let request = req(
            &proposer,
            ipb::SubmitForReviewRequest {
                request_id: uuid::Uuid::now_v7().to_string(),
                case_id: case_id.clone(),
                approval_form: Some(yuetan_harness::intake::approval_form()),
            },
        );
        let mut client = s.intake();
        async move { client.submit_for_review(request).await }
    }))
    .await;
    for answer in submitted {
        assert_eq!(
            answer.expect("submit for review").into_inner().status,
            ipb::CaseStatus::Submitted as i32
        );
    }
}

/// A consuming side the crash hits: the service and its durable consumer
/// (the service's name is its schema).
#[derive(Debug, Clone, Copy)]
struct Side {
    service: Service,
    consumer: &'static str,
}

/// Review's consumer of intake's events (ordered on intake's versions).
const REVIEW_OF_INTAKE: Side = Side {
    service: Service::Review,
    consumer: yuetan_review::INTAKE_CONSUMER,
};

/// Intake's consumer of review's outcomes (ordered on review's versions).
const INTAKE_OF_REVIEW: Side = Side {
    service: Service::Intake,
    consumer: yuetan_intake::events::REVIEW_OUTCOMES,
};

impl Side {
    fn schema(self) -> &'static str {
        self.service.name()
    }
}

/// A connection of the test's own holding `side`'s `inbox` in an ACCESS
/// EXCLUSIVE lock: the side's consumer takes events off JetStream and
/// blocks on its inbox transaction's first statement.
async fn lock_inbox(s: &System, side: Side) -> PgConnection {
    let mut lock = PgConnection::connect(&s.h.database_url)
        .await
        .expect("a connection of the test's own");
    sqlx::query("BEGIN").execute(&mut lock).await.unwrap();
    sqlx::query(&format!(
        "LOCK TABLE {}.inbox IN ACCESS EXCLUSIVE MODE",
        side.schema()
    ))
    .execute(&mut lock)
    .await
    .unwrap();
    lock
}

/// Waits until `side`'s consumer has all of the `events` in the stream for
/// it delivered and none acknowledged; returns when that was seen.
async fn held_unacked(s: &System, side: Side, events: usize) -> tokio::time::Instant {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (pending, ack_pending) = consumer_info(s, side).await;
        if pending == 0 && ack_pending == events as u64 {
            return tokio::time::Instant::now();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}'s consumer holds {ack_pending} of {events} events unacked ({pending} undelivered)",
            side.schema()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The crash: `side`'s service is killed holding what it was delivered;
/// then the lock goes, and the killed inbox transactions roll back.
async fn crash(s: &mut System, side: Side, mut lock: PgConnection) {
    s.kill(side.service).await;
    sqlx::query("COMMIT").execute(&mut lock).await.unwrap();
    lock.close().await.unwrap();
    let unapplied: Vec<(String, String)> = sqlx::query_as(&format!(
        "SELECT consumer, event_type FROM {}.inbox WHERE consumer = $1",
        side.schema()
    ))
    .bind(side.consumer)
    .fetch_all(db(s))
    .await
    .unwrap();
    assert!(
        unapplied.is_empty(),
        "the killed {} applied nothing: {unapplied:?}",
        side.schema()
    );
}

/// If the crashed side was back well within the ack wait (on any but a
/// very slow machine), JetStream could not yet redeliver versions 1 and 2
/// when version 3 reached it: version 3 certainly came first.
fn race_certain(delivered_at: tokio::time::Instant) -> bool {
    delivered_at.elapsed() + Duration::from_secs(3) < Duration::from_secs(ACK_WAIT_SECS)
}

/// The system's database, through a service that is running (the one
/// killed may be either).
fn db(s: &System) -> &sqlx::PgPool {
    let running = s.running();
    s.pool_of(*running.first().expect("a service running"))
}

/// `side`'s consumer on JetStream: (undelivered, delivered and unacked).
async fn consumer_info(s: &System, side: Side) -> (u64, u64) {
    let stream = s
        .bus
        .jetstream
        .get_stream(&s.config.nats.stream)
        .await
        .expect("the system's stream");
    let Ok(mut consumer) = stream.get_consumer::<pull::Config>(side.consumer).await else {
        return (u64::MAX, 0);
    };
    let info = consumer.info().await.expect("the consumer's info");
    (info.num_pending, info.num_ack_pending as u64)
}

/// `side`'s dead letters: (event type, error).
async fn dead_letters(s: &System, side: Side) -> Vec<(String, String)> {
    sqlx::query_as(&format!(
        "SELECT coalesce(event_type, ''), error FROM {}.dead_letters",
        side.schema()
    ))
    .fetch_all(db(s))
    .await
    .unwrap()
}

/// No dead letter in review or in intake.
async fn no_dead_letter(s: &System) {
    for side in [REVIEW_OF_INTAKE, INTAKE_OF_REVIEW] {
        let dead = dead_letters(s, side).await;
        assert!(
            dead.is_empty(),
            "no dead letter in {}: {dead:?}",
            side.schema()
        );
    }
}

/// The case's first legality-review task, waiting up to [`PATIENCE`] (the
/// ack wait comes first).
async fn task_within(s: &System, officer: &Officer, case_id: &str) -> rpb::Task {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let file = s
            .review()
            .get_review(req(
                officer,
                rpb::GetReviewRequest {
                    case_id: case_id.into(),
                },
            ))
            .await;
        if let Ok(file) = file {
            if let Some(task) = file
                .into_inner()
                .tasks
                .into_iter()
                .find(|t| t.kind == TaskKind::LegalityReview as i32 && t.round == 1)
            {
                return task;
            }
        }
        // A dead letter will not come back by itself: fail at once.
        let dead = dead_letters(s, REVIEW_OF_INTAKE).await;
        assert!(
            dead.is_empty(),
            "case {case_id} not in review and review dead-lettered {dead:?}"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "no legality review of case {case_id} within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The case as intake shows it once it is in `status`, waiting up to
/// [`PATIENCE`] (the ack wait comes first).
async fn intake_within(
    s: &System,
    officer: &Officer,
    case_id: &str,
    status: ipb::CaseStatus,
) -> ipb::Case {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let case = s
            .intake()
            .get_case(req(
                officer,
                ipb::GetCaseRequest {
                    case_id: case_id.into(),
                },
            ))
            .await;
        if let Ok(case) = case {
            let case = case.into_inner();
            if case.status == status as i32 {
                return case;
            }
        }
        // A dead letter will not come back by itself: fail at once.
        let dead = dead_letters(s, INTAKE_OF_REVIEW).await;
        assert!(
            dead.is_empty(),
            "case {case_id} not {status:?} in intake and intake dead-lettered {dead:?}"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "case {case_id} not {status:?} in intake within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `side`'s consumer has nothing undelivered or unacked, no
/// event is counted as retrying, and that has held past one more ack wait
/// (a late redelivery would show).
async fn settle(s: &System, side: Side) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let quiet_for = Duration::from_secs(ACK_WAIT_SECS + 1);
    let mut quiet_since: Option<tokio::time::Instant> = None;
    loop {
        let (pending, ack_pending) = consumer_info(s, side).await;
        let retrying: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {}.consumer_retries WHERE consumer = $1",
            side.schema()
        ))
        .bind(side.consumer)
        .fetch_one(db(s))
        .await
        .unwrap();
        s.drain_outbox().await;
        let quiet = pending == 0 && ack_pending == 0 && retrying == 0;
        match (quiet, quiet_since) {
            (true, Some(since)) if since.elapsed() >= quiet_for => return,
            (true, None) => quiet_since = Some(tokio::time::Instant::now()),
            (true, Some(_)) => {}
            (false, _) => quiet_since = None,
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}'s consumer not quiet within {PATIENCE:?}: {pending} undelivered, {ack_pending} unacked, {retrying} retrying",
            side.schema()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Watches `side`'s `consumer_retries` for events sent back by the ordering
/// guard (waits), collecting their event ids.
struct WaitWatch {
    seen: Arc<Mutex<HashSet<String>>>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl WaitWatch {
    fn start(s: &System, side: Side) -> WaitWatch {
        let seen = Arc::new(Mutex::new(HashSet::new()));
        let stop = CancellationToken::new();
        let pool = db(s).clone();
        let query = format!(
            "SELECT event_id FROM {}.consumer_retries WHERE consumer = $1 AND waits > 0 AND event_id IS NOT NULL",
            side.schema()
        );
        let task = tokio::spawn({
            let (seen, stop) = (seen.clone(), stop.clone());
            async move {
                while !stop.is_cancelled() {
                    let ids: Vec<uuid::Uuid> = sqlx::query_scalar(&query)
                        .bind(side.consumer)
                        .fetch_all(&pool)
                        .await
                        .unwrap_or_default();
                    seen.lock()
                        .await
                        .extend(ids.into_iter().map(|id| id.to_string()));
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
            }
        });
        WaitWatch { seen, stop, task }
    }

    async fn stop(self) -> HashSet<String> {
        self.stop.cancel();
        let _ = self.task.await;
        let seen = self.seen.lock().await;
        seen.clone()
    }
}
