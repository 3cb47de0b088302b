//! Rectification benchmark: report submissions (`RecordPaperReport`) and
//! acceptance decisions (`RecordAcceptance`) per second, beside the RPC +
//! transaction floor measured in the same run: `AssignTracker` without a
//! cadence (one authenticated RPC, one transaction with a row update, an
//! audit append and the stored answer, no event, no timer).
//!
//! Intake, review, scheduling (with the portal and the SMS, e-gov and SMTP
//! peers) and rectification run in-process as under `yuetan serve all`, on a
//! durable PostgreSQL (fsync on) and nats-server (file storage), with the
//! production relay and sweeper intervals (`Polls::Production`).
//!
//! Run: `cargo bench -p yuetan-e2e --bench rectification`. Prints the
//! figures and rewrites its section of docs/benchmarks.md (between the
//! `bench:rectification` markers). `BENCH_CASES=N` sets the cases of each of
//! the two sets (default 40: 2 × 40 are prepared), `BENCH_INFLIGHT=N` the
//! calls in flight of the concurrent phases (default 8), `BENCH_FLOOR_CALLS=N`
//! the calls of each floor phase (default 200). `BENCH_NO_DOCS=1` leaves the
//! docs alone.
//!
//! Setup, not measured: every case goes intake → review → scheduling (plan
//! with a panel and room of its own, notice reviewed, sealed, served by SMS)
//! → interview held with two items and closed → rectification open. Then,
//! measured, each phase one call per case: set 1 one call at a time, set 2
//! with BENCH_INFLIGHT in flight — the paper report; the first officer's
//! acceptance answer (recorded, nothing decided); the second officer's, which
//! decides: it numbers and renders the acceptance opinion, numbers, renders
//! and seals the certificate, requests its service and writes the events, in
//! one transaction. Per second = calls ÷ wall time of the phase.

use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use futures::{StreamExt, TryStreamExt};
use yuetan_harness::interview::{interviewer, item, rid};
use yuetan_harness::scheduling::{officer_entry, plan, Peers, INTERVIEWER, PARTY_PHONE};
use yuetan_harness::{admin, proposer, req, Officer, Polls, Service, System};
use yuetan_platform::fields;
use yuetan_proto::rectification as pb;
use yuetan_proto::scheduling as spb;
use yuetan_testkit::{Durability, Stack};

const NOW: &str = "2026-04-28T02:00:00Z";
const SERVED: &str = "2026-04-28T03:00:00Z";
const INTERVIEW: &str = "2026-04-30T01:30:00Z";
/// Friday 2026-05-01: after the interview, before the first follow-up is due.
const REPORTED: &str = "2026-05-01T02:00:00Z";
const RECEIVED: &str = "2026-05-01T01:00:00Z";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
}

/// An open rectification and the photo its report will carry (stored beforehand).
#[derive(Debug, Clone)]
struct Case {
    case_id: String,
    photo: String,
}

/// Up to the served notice, with the clock at [`NOW`]: the case id.
async fn served(s: &System, peers: &Peers, index: usize) -> String {
    let certified = NaiveDate::from_ymd_opt(2025, 6, 1).unwrap();
    for entry in [
        officer_entry(&format!("r{index}-legal"), "李法制", true, certified),
        officer_entry(&format!("r{index}-int"), "张执法", false, certified),
        officer_entry(&format!("r{index}-rec"), "赵记录", false, certified),
    ] {
        s.scheduling().put_officer(req(&admin(), entry)).await.expect("put officer");
    }
    let case_id = s.approved_case_with(6000 + index as u32, false, &[]).await;
    s.plan_of(&case_id).await;
    s.record_address(&case_id, &[spb::Channel::Sms], "party@example.cn").await;
    let mut request = plan(&case_id, at(INTERVIEW), &format!("约谈室{index}"));
    request.interviewers = vec![format!("r{index}-legal"), format!("r{index}-int")];
    request.recorder = format!("r{index}-rec");
    s.notice_passed_with(&case_id, request).await;
    let services = s.services_until(&case_id, |v| v.first().is_some_and(|x| x.attempts.iter().any(|a| a.status == "sent"))).await;
    let attempt = services[0].attempts[0].attempt_id.clone();
    peers.sms.push_report(&attempt, true, at(SERVED)).await.expect("the SMS report reaches the portal");
    s.services_until(&case_id, |v| v[0].status == spb::ServiceStatus::Served as i32).await;
    let deadline = Instant::now() + Duration::from_secs(180);
    while s.plan_of(&case_id).await.status != spb::PlanStatus::Served as i32 {
        assert!(Instant::now() < deadline, "the plan of {case_id} never became served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    case_id
}

/// The interview held and closed with the clock at [`INTERVIEW`]; waits for the rectification.
async fn held(s: &System, index: usize, case_id: String) -> Case {
    let present = [format!("r{index}-legal"), format!("r{index}-int")];
    s.start_interview(&case_id, &[present[0].as_str(), present[1].as_str()]).await.expect("start the interview");
    s.hold_steps(&case_id, vec![item("补报2025年度报告", "2026-05-15"), item("建立年度报告报送制度", "2026-05-29")]).await.expect("the steps");
    let recording = s.upload(format!("约谈录音录像 {case_id}").as_bytes()).await;
    s.close_interview(&case_id, vec![recording]).await.expect("close the interview");
    let rect = s.rectification_of(&case_id).await;
    assert_eq!(rect.status, "open");
    let photo = s.upload(format!("整改后照片 {case_id}").as_bytes()).await;
    Case { case_id, photo }
}

/// One phase's figures.
struct Row {
    what: &'static str,
    inflight: usize,
    calls: usize,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// Nearest-rank quantile.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Runs `call` once per item, `inflight` at a time, timing each call.
async fn measure<T, F, Fut>(what: &'static str, inflight: usize, items: Vec<T>, call: F) -> anyhow::Result<Row>
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let calls = items.len();
    let started = Instant::now();
    let mut latencies: Vec<Duration> = futures::stream::iter(items)
        .map(|item| {
            let fut = call(item);
            async move {
                tokio::spawn(async move {
                    let t = Instant::now();
                    fut.await?;
                    Ok::<_, anyhow::Error>(t.elapsed())
                })
                .await?
            }
        })
        .buffer_unordered(inflight)
        .try_collect()
        .await?;
    let wall = started.elapsed();
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let row = Row { what, inflight, calls, per_second: calls as f64 / wall.as_secs_f64(), p50_ms: ms(quantile(&latencies, 0.5)), p99_ms: ms(quantile(&latencies, 0.99)) };
    println!("{what:<60} {inflight:>2} in flight {calls:>4} calls {:>8.1}/s  p50 {:>7.2} ms  p99 {:>7.2} ms", row.per_second, row.p50_ms, row.p99_ms);
    Ok(row)
}

/// Lets the system settle between phases (relays, consumers, services of documents).
async fn settle(s: &System) {
    s.drain_outbox().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    s.drain_outbox().await;
}

fn floor_call(s: &System) -> impl Fn(String) -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + Send>> {
    let client = s.rectification();
    move |case_id: String| {
        let mut client = client.clone();
        Box::pin(async move {
            let request = pb::AssignTrackerRequest { request_id: rid(), case_id, officer_id: proposer().id, cadence_days: 0 };
            client.assign_tracker(req(&proposer(), request)).await?;
            Ok(())
        })
    }
}

fn report_call(s: &System) -> impl Fn(Case) -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + Send>> {
    let client = s.rectification();
    move |case: Case| {
        let mut client = client.clone();
        Box::pin(async move {
            let request = pb::RecordPaperReportRequest {
                request_id: rid(),
                case_id: case.case_id,
                text: "已补报年度报告并建立报送制度，指定财务人员专人负责。".into(),
                attachment_sha256: vec![case.photo],
                received_at: Some(fields::timestamp(at(RECEIVED))),
            };
            let r = client.record_paper_report(req(&proposer(), request)).await?.into_inner();
            anyhow::ensure!(r.status == "reported", "a report left the rectification {}", r.status);
            Ok(())
        })
    }
}

fn accept_call(s: &System, officer: Officer, expect: &'static str) -> impl Fn(Case) -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + Send>> {
    let client = s.rectification();
    move |case: Case| {
        let (mut client, officer) = (client.clone(), officer.clone());
        Box::pin(async move {
            let request = pb::RecordAcceptanceRequest {
                request_id: rid(),
                case_id: case.case_id,
                complete: true,
                lawful: true,
                goal_reached: true,
                comments: "已整改到位".into(),
                evidence_sha256: Vec::new(),
                reinspect_on: None,
                follow_up: "三个月内回访一次".into(),
            };
            let r = client.record_acceptance(req(&officer, request)).await?.into_inner();
            anyhow::ensure!(r.status == expect, "an acceptance answer left the rectification {} (expected {expect})", r.status);
            Ok(())
        })
    }
}

fn render(rows: &[Row]) -> String {
    let mut out = String::from("| measurement | in flight | calls | per second | p50 ms | p99 ms | p99 ÷ floor p99 |\n|---|---:|---:|---:|---:|---:|---:|\n");
    let floor_p99 = |inflight: usize| rows.iter().find(|r| r.inflight == inflight && r.what.starts_with("floor")).map(|r| r.p99_ms);
    for row in rows {
        let ratio = if row.what.starts_with("floor") { "–".to_string() } else { format!("{:.1}", floor_p99(row.inflight).map_or(f64::NAN, |f| row.p99_ms / f)) };
        out.push_str(&format!("| {} | {} | {} | {:.1} | {:.2} | {:.2} | {} |\n", row.what, row.inflight, row.calls, row.per_second, row.p50_ms, row.p99_ms, ratio));
    }
    out
}

fn write_results(table: &str, n: usize, inflight: usize, floor_calls: usize) -> anyhow::Result<()> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/benchmarks.md");
    let start = "<!-- bench:rectification:start -->";
    let end = "<!-- bench:rectification:end -->";
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_default();
    let section = format!(
        "{start}\n## Rectification: report submissions and acceptance decisions\n\n\
         Command: `cargo bench -p yuetan-e2e --bench rectification` (`tests/e2e/benches/rectification.rs`)  \n\
         Run: {} on {} ({} cores), release build; PostgreSQL with fsync on, nats-server with file storage, both local; intake, review, scheduling (with the portal and the SMS, e-gov and SMTP peers) and rectification in one process as under `yuetan serve all`, `Polls::Production`, clients over loopback gRPC. \
         Two sets of {n} open rectifications of one organ (each prepared beforehand, not measured: intake → review → scheduling → interview held); set 1 one call at a time, set 2 {inflight} calls in flight; one call per case per phase (so with {n} calls the p99 is the slowest call or nearly). \
         The floor is `AssignTracker` without a cadence ({floor_calls} calls per load, over the same open rectifications, before the reports): one authenticated RPC, one transaction with a row update, an audit append and the stored answer, no event. Per second = calls ÷ the phase's wall time.\n\n{table}{end}",
        Utc::now().format("%Y-%m-%d %H:%M UTC"),
        if cpu.is_empty() { "this machine".to_string() } else { cpu },
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    );
    let existing = std::fs::read_to_string(&path)?;
    let updated = match (existing.find(start), existing.find(end)) {
        (Some(a), Some(b)) if b > a => format!("{}{section}{}", &existing[..a], &existing[b + end.len()..]),
        _ => format!("{}\n\n{section}\n", existing.trim_end()),
    };
    std::fs::write(&path, updated)?;
    println!("wrote {}", path.display());
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n = env("BENCH_CASES", 40).max(1);
    let inflight = env("BENCH_INFLIGHT", 8).max(1);
    let floor_calls = env("BENCH_FLOOR_CALLS", 200).max(1);
    let stack = Stack::start(Durability::Durable).await?;
    let mut s = System::builder().at(at(NOW)).with(Service::Intake).with(Service::Review).polls(Polls::Production).start_on(&stack).await;
    s.put_organs().await;
    let peers = s.start_scheduling_stack(false, None).await;
    s.start_service(Service::Rectification).await;
    // The reports are pushed by the bench, at SERVED, not by the gateway on its own.
    peers.sms.script(PARTY_PHONE, yuetan_testkit::peers::Behaviour::Silent);

    let started = Instant::now();
    let total = 2 * n;
    let mut served_cases: Vec<(usize, String)> =
        futures::stream::iter(0..total).map(|i| { let (s, peers) = (&s, &peers); async move { (i, served(s, peers, i).await) } }).buffer_unordered(8).collect().await;
    served_cases.sort_by_key(|(i, _)| *i);
    println!("{total} cases served in {:.1} s", started.elapsed().as_secs_f64());
    s.clock.set(at(INTERVIEW));
    let mut cases: Vec<(usize, Case)> =
        futures::stream::iter(served_cases).map(|(i, id)| { let s = &s; async move { (i, held(s, i, id).await) } }).buffer_unordered(8).collect().await;
    cases.sort_by_key(|(i, _)| *i);
    let cases: Vec<Case> = cases.into_iter().map(|(_, c)| c).collect();
    s.clock.set(at(REPORTED));
    println!(
        "prepared {total} open rectifications in {:.1} s; nproc = {}",
        started.elapsed().as_secs_f64(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    settle(&s).await;

    let mut rows = Vec::new();
    let ids: Vec<String> = cases.iter().map(|c| c.case_id.clone()).collect();
    let cycle = |count: usize| -> Vec<String> { (0..count).map(|k| ids[k % ids.len()].clone()).collect() };
    rows.push(measure("floor: AssignTracker (RPC + one tx, no event)", 1, cycle(floor_calls), floor_call(&s)).await?);
    rows.push(measure("floor: AssignTracker (RPC + one tx, no event)", inflight, cycle(floor_calls), floor_call(&s)).await?);
    settle(&s).await;

    let (one, many) = cases.split_at(n);
    let (one, many) = (one.to_vec(), many.to_vec());
    rows.push(measure("RecordPaperReport", 1, one.clone(), report_call(&s)).await?);
    settle(&s).await;
    rows.push(measure("RecordPaperReport", inflight, many.clone(), report_call(&s)).await?);
    settle(&s).await;
    rows.push(measure("RecordAcceptance, first answer (nothing decided)", 1, one.clone(), accept_call(&s, proposer(), "reported")).await?);
    settle(&s).await;
    rows.push(measure("RecordAcceptance, first answer (nothing decided)", inflight, many.clone(), accept_call(&s, proposer(), "reported")).await?);
    settle(&s).await;
    rows.push(measure("RecordAcceptance, deciding answer (opinion + sealed certificate)", 1, one, accept_call(&s, interviewer(INTERVIEWER), "accepted")).await?);
    settle(&s).await;
    rows.push(measure("RecordAcceptance, deciding answer (opinion + sealed certificate)", inflight, many, accept_call(&s, interviewer(INTERVIEWER), "accepted")).await?);
    settle(&s).await;

    let table = render(&rows);
    print!("{table}");
    if std::env::var_os("BENCH_NO_DOCS").is_none() {
        write_results(&table, n, inflight, floor_calls)?;
    }
    drop(peers);
    s.stop().await;
    Ok(())
}
