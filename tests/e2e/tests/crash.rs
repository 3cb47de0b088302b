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
//! Checked to fail on the old behaviour (the ordering guard's waits counted
//! towards `max_deliver`): every case's version 3 is dead-lettered.

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
    let mut lock = PgConnection::connect(&s.h.database_url)
        .await
        .expect("a connection of the test's own");
    sqlx::query("BEGIN").execute(&mut lock).await.unwrap();
    sqlx::query("LOCK TABLE review.inbox IN ACCESS EXCLUSIVE MODE")
        .execute(&mut lock)
        .await
        .unwrap();

    // Cases opened in parallel: party, clue, VerifyClue (intake's
    // clue_verified and case_opened, versions 1 and 2 of each case).
    let opened = futures::future::join_all(
        (0..CASES).map(|i| s.opened_case(&proposer, first_serial + i, false)),
    )
    .await;
    let case_ids: Vec<String> = opened;
    s.drain_outbox().await;
    let intake_events = s
        .events()
        .await
        .into_iter()
        .filter(|(_, e)| e.r#type.starts_with("intake."))
        .count();
    for case_id in &case_ids {
        let versions: Vec<u64> = s
            .events()
            .await
            .into_iter()
            .filter(|(_, e)| &e.case_id == case_id && e.r#type.starts_with("intake."))
            .map(|(_, e)| e.case_version)
            .collect();
        assert_eq!(
            versions,
            [1, 2],
            "intake's events of case {case_id} before submission"
        );
    }
    // Every intake event delivered to review, none acknowledged.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (pending, ack_pending) = review_consumer(&s).await;
        if pending == 0 && ack_pending == intake_events as u64 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "review's consumer holds {ack_pending} of {intake_events} intake events unacked ({pending} undelivered)"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let delivered_at = tokio::time::Instant::now();
    let held: i64 = sqlx::query_scalar("SELECT count(*) FROM review.cases")
        .fetch_one(s.h.pool())
        .await
        .unwrap();
    assert_eq!(held, 0, "nothing applied while the inbox is locked");

    // The crash: review dies holding them; then the lock goes, and the
    // killed inbox transactions roll back.
    s.kill(Service::Review).await;
    sqlx::query("COMMIT").execute(&mut lock).await.unwrap();
    lock.close().await.unwrap();
    let unapplied: Vec<(String, String)> =
        sqlx::query_as("SELECT consumer, event_type FROM review.inbox")
            .fetch_all(s.h.pool())
            .await
            .unwrap();
    assert!(
        unapplied.is_empty(),
        "the killed review applied nothing: {unapplied:?}"
    );

    // Version 3 of every case, and review back after 1 s.
    let waits = WaitWatch::start(&s);
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
    let race_certain =
        delivered_at.elapsed() + Duration::from_secs(3) < Duration::from_secs(ACK_WAIT_SECS);
    let submitted_ids: HashMap<String, String> = s
        .events()
        .await
        .into_iter()
        .filter(|(_, e)| e.r#type == "intake.case_submitted")
        .map(|(_, e)| (e.id.clone(), e.case_id.clone()))
        .collect();
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
    settle(&s).await;
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
    let states: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM review.cases GROUP BY status")
            .fetch_all(s.h.pool())
            .await
            .unwrap();
    assert_eq!(
        states,
        [("in_review".to_string(), i64::from(CASES))],
        "review's cases"
    );
    let dead: Vec<(String, String)> =
        sqlx::query_as("SELECT coalesce(event_type, ''), error FROM review.dead_letters")
            .fetch_all(s.h.pool())
            .await
            .unwrap();
    assert!(dead.is_empty(), "no dead letter: {dead:?}");
    let intake_dead: i64 = sqlx::query_scalar("SELECT count(*) FROM intake.dead_letters")
        .fetch_one(s.h.pool())
        .await
        .unwrap();
    assert_eq!(intake_dead, 0, "no dead letter in intake either");

    // That the crash was the one of the issue: version 3 came first and
    // waited for 1 and 2 (certain whenever the restart beat the ack wait).
    let waited_cases: HashSet<&String> = waited
        .iter()
        .filter_map(|id| submitted_ids.get(id))
        .collect();
    eprintln!(
        "{submit:?}: {} of {} cases' version 3 waited for versions 1 and 2 (race certain: {race_certain})",
        waited_cases.len(),
        case_ids.len()
    );
    if race_certain {
        assert_eq!(
            waited_cases.len(),
            case_ids.len(),
            "every case's version 3 arrived before versions 1 and 2 and waited"
        );
    }
    s.stop().await;
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

/// Review's intake consumer on JetStream: (undelivered, delivered and unacked).
async fn review_consumer(s: &System) -> (u64, u64) {
    let stream = s
        .bus
        .jetstream
        .get_stream(&s.config.nats.stream)
        .await
        .expect("the system's stream");
    let Ok(mut consumer) = stream
        .get_consumer::<pull::Config>(yuetan_review::INTAKE_CONSUMER)
        .await
    else {
        return (u64::MAX, 0);
    };
    let info = consumer.info().await.expect("the consumer's info");
    (info.num_pending, info.num_ack_pending as u64)
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
        let dead: Vec<(String, String)> =
            sqlx::query_as("SELECT coalesce(event_type, ''), error FROM review.dead_letters")
                .fetch_all(s.h.pool())
                .await
                .unwrap();
        assert!(dead.is_empty(), "case {case_id} not in review and review dead-lettered {dead:?}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "no legality review of case {case_id} within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until review's intake consumer has nothing undelivered or unacked,
/// no event is counted as retrying, and that has held past one more ack
/// wait (a late redelivery would show).
async fn settle(s: &System) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let quiet_for = Duration::from_secs(ACK_WAIT_SECS + 1);
    let mut quiet_since: Option<tokio::time::Instant> = None;
    loop {
        let (pending, ack_pending) = review_consumer(s).await;
        let retrying: i64 = sqlx::query_scalar("SELECT count(*) FROM review.consumer_retries")
            .fetch_one(s.h.pool())
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
            "review's consumer not quiet within {PATIENCE:?}: {pending} undelivered, {ack_pending} unacked, {retrying} retrying"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Watches review's `consumer_retries` for events sent back by the ordering
/// guard (waits), collecting their event ids.
struct WaitWatch {
    seen: Arc<Mutex<HashSet<String>>>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl WaitWatch {
    fn start(s: &System) -> WaitWatch {
        let seen = Arc::new(Mutex::new(HashSet::new()));
        let stop = CancellationToken::new();
        let pool = s.h.pool().clone();
        let task = tokio::spawn({
            let (seen, stop) = (seen.clone(), stop.clone());
            async move {
                while !stop.is_cancelled() {
                    let ids: Vec<uuid::Uuid> = sqlx::query_scalar(
                        "SELECT event_id FROM review.consumer_retries WHERE waits > 0 AND event_id IS NOT NULL",
                    )
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
