//! Scheduling benchmark (issue 9): the time from a case's approval (the
//! `DecideApproval` RPC returning) to its `scheduling.notice_issued` event
//! being on the stream, with the bench playing the officer: as soon as
//! `scheduling.plan_opened` is seen on the stream, it calls `PlanInterview`
//! and `IssueNotice` (which numbers, renders and stores the notice PDF).
//!
//! Intake, review and scheduling run in-process as under `yuetan serve all`,
//! on a durable PostgreSQL (fsync on) and nats-server (file storage), with
//! the production relay and sweeper intervals (`Polls::Production`: relay
//! 250 ms, sweeper 500 ms). Events are watched with a plain NATS
//! subscription on the stream's subjects, timed on arrival.
//!
//! Run: `cargo bench -p yuetan-e2e --bench scheduling`. Prints the figures.
//! `BENCH_CASES=N` changes the case count of the sequential and the
//! 4-concurrent phases (default 30), `BENCH_BURST=N` the burst (default 50).
//!
//! Phases, on cases prepared beforehand up to their pending approval task:
//! N approvals one after another; N with 4 at a time; a burst of all
//! BENCH_BURST approvals at once (notices issued per second = burst ÷ time
//! from the first approval sent to the last notice on the stream).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use futures::{StreamExt, TryStreamExt};
use prost::Message;
use tokio::sync::oneshot;
use tonic::transport::Channel;
use yuetan_harness::intake::{approval_form, clue, credit_code, enterprise, verification};
use yuetan_harness::review::{approve, decide};
use yuetan_harness::scheduling::{officer_entry, plan};
use yuetan_harness::{deputy, proposer, req, reviewer, Polls, Service, System};
use yuetan_proto::events::Event;
use yuetan_proto::intake as ipb;
use yuetan_proto::review as rpb;
use yuetan_proto::review::review_service_client::ReviewServiceClient;
use yuetan_proto::scheduling as pb;
use yuetan_proto::scheduling::scheduling_service_client::SchedulingServiceClient;
use yuetan_testkit::{Durability, Stack};

const OPENED: &str = "scheduling.plan_opened";
const ISSUED: &str = "scheduling.notice_issued";
const WAIT: Duration = Duration::from_secs(60);

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
}

/// Who waits for which event of which case; the subscriber tells them when it arrived.
#[derive(Default)]
struct Watch {
    waiting: Mutex<HashMap<(String, &'static str), oneshot::Sender<Instant>>>,
}

impl Watch {
    fn expect(&self, case_id: &str, event_type: &'static str) -> oneshot::Receiver<Instant> {
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().unwrap().insert((case_id.to_string(), event_type), tx);
        rx
    }

    fn arrived(&self, event: &Event, now: Instant) {
        for event_type in [OPENED, ISSUED] {
            if event.r#type == event_type {
                if let Some(tx) = self.waiting.lock().unwrap().remove(&(event.case_id.clone(), event_type)) {
                    let _ = tx.send(now);
                }
            }
        }
    }
}

/// A case with its approval task pending, and the panel and room of its own
/// (so concurrent plans do not double-book anyone).
#[derive(Debug, Clone)]
struct Prepared {
    index: usize,
    case_id: String,
    approval_task: String,
}

/// One case's timings.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// Approval returned → `notice_issued` on the stream.
    total: Duration,
    /// Approval returned → `plan_opened` on the stream.
    to_opened: Duration,
    /// `plan_opened` seen → `IssueNotice` returned (the officer's two RPCs).
    officer: Duration,
    /// `IssueNotice` returned → `notice_issued` on the stream (the relay).
    relay: Duration,
    /// When the notice was on the stream.
    issued_at: Instant,
}

async fn prepare(s: &System, index: usize) -> anyhow::Result<Prepared> {
    let officer = proposer();
    let party = s.register_party(&officer, enterprise("兰州某某餐饮有限公司", &credit_code(&officer.division, 5000 + index as u32))).await;
    let registered = s.intake().register_clue(req(&officer, clue(&party, "SJ-ANNUAL-REPORT"))).await?.into_inner();
    let verified = s.intake().verify_clue(req(&officer, verification(&registered.id))).await?.into_inner();
    let case_id = verified.case.ok_or_else(|| anyhow::anyhow!("no case opened"))?.id;
    s.intake()
        .submit_for_review(req(
            &officer,
            ipb::SubmitForReviewRequest { request_id: uuid::Uuid::now_v7().to_string(), case_id: case_id.clone(), approval_form: Some(approval_form()) },
        ))
        .await?;
    let review = s.task(&reviewer(), &case_id, rpb::TaskKind::LegalityReview, 1).await;
    s.review().decide_review(req(&reviewer(), decide(&review.id, rpb::ReviewDecision::Pass))).await?;
    let approval = s.task(&deputy(), &case_id, rpb::TaskKind::Approval, 1).await;
    let certified = NaiveDate::from_ymd_opt(2025, 6, 1).unwrap();
    for entry in [
        officer_entry(&format!("b{index}-legal"), "李法制", true, certified),
        officer_entry(&format!("b{index}-int"), "张执法", false, certified),
        officer_entry(&format!("b{index}-rec"), "赵记录", false, certified),
    ] {
        s.scheduling().put_officer(req(&yuetan_harness::admin(), entry)).await?;
    }
    Ok(Prepared { index, case_id, approval_task: approval.id })
}

/// Approves the case, plans and issues its notice as soon as its plan is
/// open, and times it to the notice on the stream.
async fn drive(case: Prepared, watch: Arc<Watch>, review: ReviewClient, scheduling: SchedulingClient) -> anyhow::Result<Sample> {
    let (mut review, mut scheduling) = (review, scheduling);
    let opened = watch.expect(&case.case_id, OPENED);
    let issued = watch.expect(&case.case_id, ISSUED);
    review.decide_approval(req(&deputy(), approve(&case.approval_task))).await?;
    let approved = Instant::now();
    let opened = tokio::time::timeout(WAIT, opened).await??;
    let mut request = plan(&case.case_id, at("2026-11-04T01:30:00Z"), &format!("约谈室{}", case.index));
    let i = case.index;
    request.interviewers = vec![format!("b{i}-legal"), format!("b{i}-int")];
    request.recorder = format!("b{i}-rec");
    scheduling.plan_interview(req(&proposer(), request)).await?;
    scheduling.issue_notice(req(&proposer(), pb::IssueNoticeRequest { request_id: uuid::Uuid::now_v7().to_string(), case_id: case.case_id.clone() })).await?;
    let returned = Instant::now();
    let issued = tokio::time::timeout(WAIT, issued).await??;
    Ok(Sample {
        total: issued.saturating_duration_since(approved),
        to_opened: opened.saturating_duration_since(approved),
        officer: returned.saturating_duration_since(opened),
        relay: issued.saturating_duration_since(returned),
        issued_at: issued,
    })
}

type ReviewClient = ReviewServiceClient<Channel>;
type SchedulingClient = SchedulingServiceClient<Channel>;

/// Nearest-rank quantile.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn report(what: &str, samples: &[Sample]) {
    let line = |pick: fn(&Sample) -> Duration| {
        let mut v: Vec<Duration> = samples.iter().map(pick).collect();
        v.sort();
        format!("p50 {:.0} / p95 {:.0} / max {:.0} ms", ms(quantile(&v, 0.5)), ms(quantile(&v, 0.95)), ms(*v.last().unwrap()))
    };
    println!("{what} ({} cases)", samples.len());
    println!("  approval → notice_issued on the stream: {}", line(|s| s.total));
    println!("    approval → plan_opened seen: {}", line(|s| s.to_opened));
    println!("    plan_opened → IssueNotice returned (PlanInterview + IssueNotice): {}", line(|s| s.officer));
    println!("    IssueNotice returned → notice_issued seen (relay): {}", line(|s| s.relay));
}

async fn run(cases: Vec<Prepared>, concurrency: usize, watch: &Arc<Watch>, s: &System) -> anyhow::Result<Vec<Sample>> {
    futures::stream::iter(cases)
        .map(|case| {
            let (watch, review, scheduling) = (watch.clone(), s.review(), s.scheduling());
            async move { tokio::spawn(drive(case, watch, review, scheduling)).await? }
        })
        .buffer_unordered(concurrency)
        .try_collect()
        .await
}

/// Lets the system settle between phases (document review tasks, relays).
async fn settle(s: &System) {
    s.drain_outbox().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n = env("BENCH_CASES", 30);
    let burst = env("BENCH_BURST", 50);
    let stack = Stack::start(Durability::Durable).await?;
    // Monday 2026-11-02 09:00 CST; every interview on Wednesday 09:30, each with its own panel and room.
    let mut s = System::builder().at(at("2026-11-02T01:00:00Z")).with(Service::Intake).with(Service::Review).polls(Polls::Production).start_on(&stack).await;
    s.put_organs().await;
    s.start_service(Service::Scheduling).await;
    s.put_directory().await;

    let watch = Arc::new(Watch::default());
    let mut subscription = s.bus.client.subscribe(format!("{}.>", s.config.nats.subject_prefix)).await?;
    let watcher = {
        let watch = watch.clone();
        tokio::spawn(async move {
            while let Some(message) = subscription.next().await {
                let now = Instant::now();
                if let Ok(event) = Event::decode(message.payload.as_ref()) {
                    watch.arrived(&event, now);
                }
            }
        })
    };

    let total = 2 * n + burst;
    let started = Instant::now();
    let mut prepared: Vec<Prepared> = futures::stream::iter(0..total).map(|i| prepare(&s, i)).buffer_unordered(8).try_collect().await?;
    prepared.sort_by_key(|p| p.index);
    println!("prepared {total} cases up to their approval in {:.1} s; nproc = {}", started.elapsed().as_secs_f64(), std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    settle(&s).await;

    let burst_cases = prepared.split_off(2 * n);
    let concurrent_cases = prepared.split_off(n);
    let sequential = run(prepared, 1, &watch, &s).await?;
    report("sequential, one case at a time", &sequential);
    settle(&s).await;

    let concurrent = run(concurrent_cases, 4, &watch, &s).await?;
    report("4 cases at a time", &concurrent);
    settle(&s).await;

    let fired = Instant::now();
    let bursted = run(burst_cases, burst, &watch, &s).await?;
    let last = bursted.iter().map(|x| x.issued_at).max().unwrap();
    let wall = last.saturating_duration_since(fired);
    report(&format!("burst: {burst} approvals at once"), &bursted);
    println!("  {burst} notices on the stream {:.2} s after the first approval was sent: {:.1} notices issued per second", wall.as_secs_f64(), burst as f64 / wall.as_secs_f64());

    watcher.abort();
    s.stop().await;
    Ok(())
}
