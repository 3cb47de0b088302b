//! The whole-lifecycle benchmark (issue 14), `yuetan-bench`: whole cases
//! from clue to archive driven by [`crate::lifecycle`] against the split
//! deployment (every service its own processes, [`crate::deploy`]), with
//! no faults; beside them, in the same run, the floor — one tonic RPC behind
//! the services' auth interceptor doing one PostgreSQL transaction (BEGIN,
//! one INSERT, COMMIT) on the deployment's PostgreSQL
//! ([`yuetan_harness::floor`]) — at the same concurrency, before and after
//! the lifecycles. Measured:
//!
//! - lifecycles per second (completed ÷ the measured window's wall time;
//!   the warm-up lifecycles run first and are not counted);
//! - p50 and p99 of every RPC kind, each attempt timed by the driver's
//!   hook (a retry is a second sample), and the write RPCs per second;
//! - each service process's resident memory (VmRSS of
//!   `/proc/<pid>/status`): idle after start and a quiet spell, and the
//!   maximum sampled every 250 ms under load;
//! - where the CPU went during the measured window (utime + stime of each
//!   service process, of PostgreSQL's and NATS's process trees and of the
//!   bench itself, from `/proc/<pid>/stat`), so a target not met says what
//!   limits it.
//!
//! The report is printed and written into `docs/benchmarks.md` between the
//! markers `<!-- bench:lifecycle:start -->` and `<!-- bench:lifecycle:end -->`.
//! Not a test and not in CI: `deploy/local/bench.sh` builds it in release
//! and runs it.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use tokio_util::sync::CancellationToken;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;
use tonic::Request;
use yuetan_proto::platform::WhoAmIRequest;

use crate::deployment::{Deployment, Options};
use crate::lifecycle::{Driver, Progress, Tokens, DIVISION, ORGAN};

/// The command line of `yuetan-bench`.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "yuetan-bench", about = "Whole lifecycles (clue to archive) per second against the split deployment, beside the tonic + one-transaction floor")]
pub struct Args {
    /// Lifecycles measured (after the warm-up).
    #[arg(long, default_value_t = 100)]
    pub lifecycles: usize,
    /// Lifecycles in flight at once (and the floor's concurrent callers).
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Lifecycles run first and not measured.
    #[arg(long, default_value_t = 8)]
    pub warmup: usize,
    /// Seconds of each floor phase (one before, one after the lifecycles).
    #[arg(long, default_value_t = 10)]
    pub floor_secs: u64,
    /// Seconds of quiet after the deployment started before idle RSS is read.
    #[arg(long, default_value_t = 30)]
    pub idle_secs: u64,
    /// The Markdown file whose lifecycle section is rewritten ("-": none).
    #[arg(long, default_value = "docs/benchmarks.md")]
    pub doc: String,
    /// A note on the run printed in the report (e.g. "the machine was shared with builds").
    #[arg(long, default_value = "")]
    pub note: String,
}

// --- Per-RPC timings ------------------------------------------------------------

/// The hook the lifecycle driver calls once per RPC attempt.
pub use crate::lifecycle::Hook;

#[derive(Debug)]
struct Kind {
    latency: Histogram<u64>,
    ok: u64,
    failed: BTreeMap<String, u64>,
}

/// The timings of every RPC kind, recorded only while measuring (the
/// warm-up's calls are dropped).
#[derive(Debug, Default)]
pub struct Timings {
    kinds: Mutex<BTreeMap<&'static str, Kind>>,
    measuring: AtomicBool,
}

impl Timings {
    pub fn new() -> Arc<Timings> {
        Arc::new(Timings::default())
    }

    /// One attempt of `rpc` that took `took` and ended with `code`.
    pub fn record(&self, rpc: &'static str, took: Duration, code: tonic::Code) {
        if !self.measuring.load(Ordering::Relaxed) {
            return;
        }
        let mut kinds = self.kinds.lock().unwrap();
        let kind = kinds.entry(rpc).or_insert_with(|| Kind {
            latency: Histogram::new_with_bounds(1, 600_000_000, 3).expect("histogram bounds"),
            ok: 0,
            failed: BTreeMap::new(),
        });
        if code == tonic::Code::Ok {
            kind.ok += 1;
            kind.latency.saturating_record(took.as_micros().max(1) as u64);
        } else {
            *kind.failed.entry(format!("{code:?}")).or_default() += 1;
        }
    }

    /// The driver's hook, recording into these timings.
    pub fn hook(self: &Arc<Self>) -> Hook {
        let timings = self.clone();
        Arc::new(move |rpc, took, code| timings.record(rpc, took, code))
    }

    pub fn set_measuring(&self, on: bool) {
        self.measuring.store(on, Ordering::Relaxed);
    }

    /// One row per RPC kind, in name order.
    pub fn rows(&self) -> Vec<RpcRow> {
        self.kinds
            .lock()
            .unwrap()
            .iter()
            .map(|(name, kind)| RpcRow {
                rpc: name.to_string(),
                write: is_write(name),
                ok: kind.ok,
                failed: kind.failed.clone(),
                p50_ms: kind.latency.value_at_quantile(0.50) as f64 / 1000.0,
                p99_ms: kind.latency.value_at_quantile(0.99) as f64 / 1000.0,
                max_ms: kind.latency.max() as f64 / 1000.0,
            })
            .collect()
    }
}

/// True for an RPC that changes something: every kind but the reads
/// (`Get…`, `List…`, `Download…`, `Search…`, `Watch…`, `WhoAmI`) and the
/// portal's page views (`portal:GET …`).
pub fn is_write(rpc: &str) -> bool {
    let name = rpc.rsplit(['/', '.']).next().unwrap_or(rpc);
    if rpc.starts_with("portal:GET") {
        return false;
    }
    !["Get", "List", "Download", "Search", "Watch", "WhoAmI"].iter().any(|read| name.starts_with(read))
}

/// One RPC kind's figures over the measured window.
#[derive(Debug, Clone)]
pub struct RpcRow {
    pub rpc: String,
    pub write: bool,
    pub ok: u64,
    pub failed: BTreeMap<String, u64>,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

// --- Running many lifecycles -----------------------------------------------------

/// What a batch of lifecycles gave.
#[derive(Debug, Clone)]
pub struct Batch {
    pub completed: usize,
    pub failed: Vec<String>,
    pub wall: Duration,
    /// Lifecycle duration (clue to archive) p50 and p99, ms.
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Runs lifecycles `first .. first + count`, `concurrency` at a time (each
/// worker takes the next index when its lifecycle ends); `one(index)` runs
/// one lifecycle. Failures are counted and the first few kept, not fatal.
pub async fn run_batch<F, Fut>(first: usize, count: usize, concurrency: usize, one: F) -> Batch
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let one = Arc::new(one);
    let next = Arc::new(AtomicUsize::new(first));
    let end = first + count;
    let latency = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(1, 3_600_000, 3).expect("histogram bounds")));
    let failed = Arc::new(Mutex::new(Vec::new()));
    let completed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (one, next, latency, failed, completed) = (one.clone(), next.clone(), latency.clone(), failed.clone(), completed.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= end {
                    return;
                }
                let t0 = Instant::now();
                match one(index).await {
                    Ok(()) => {
                        completed.fetch_add(1, Ordering::Relaxed);
                        latency.lock().unwrap().saturating_record(t0.elapsed().as_millis().max(1) as u64);
                    }
                    Err(err) => {
                        eprintln!("yuetan-bench: lifecycle {index} failed: {err:#}");
                        failed.lock().unwrap().push(format!("lifecycle {index}: {err:#}"));
                    }
                }
            }
        }));
    }
    for worker in workers {
        if let Err(err) = worker.await {
            failed.lock().unwrap().push(format!("a worker panicked: {err}"));
        }
    }
    let wall = started.elapsed();
    let latency = latency.lock().unwrap();
    let failed = failed.lock().unwrap().clone();
    Batch {
        completed: completed.load(Ordering::Relaxed) as usize,
        failed,
        wall,
        p50_ms: latency.value_at_quantile(0.50) as f64,
        p99_ms: latency.value_at_quantile(0.99) as f64,
    }
}

// --- The floor ---------------------------------------------------------------------

/// A load's figures.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub calls: u64,
    pub errors: u64,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// `concurrency` callers of the floor for `duration` (after a 1 s warm-up
/// not counted), each call with `bearer` (`Bearer …`).
pub async fn floor_load(channel: &Channel, bearer: &MetadataValue<Ascii>, concurrency: usize, duration: Duration) -> Load {
    let warmup = Duration::from_secs(1);
    let measured_from = Instant::now() + warmup;
    let until = measured_from + duration;
    let histogram = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds")));
    let errors = Arc::new(AtomicU64::new(0));
    let mut callers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (channel, bearer, histogram, errors) = (channel.clone(), bearer.clone(), histogram.clone(), errors.clone());
        callers.push(tokio::spawn(async move {
            let mut calls = 0u64;
            while Instant::now() < until {
                let mut request = Request::new(WhoAmIRequest {});
                request.metadata_mut().insert("authorization", bearer.clone());
                let t0 = Instant::now();
                let result = yuetan_harness::floor::call(&channel, request).await;
                if t0 >= measured_from {
                    match result {
                        Ok(()) => {
                            histogram.lock().unwrap().saturating_record(t0.elapsed().as_micros().max(1) as u64);
                            calls += 1;
                        }
                        Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
            calls
        }));
    }
    let mut calls = 0;
    for caller in callers {
        calls += caller.await.unwrap_or(0);
    }
    let elapsed = Instant::now().saturating_duration_since(measured_from).as_secs_f64().max(0.001);
    let h = histogram.lock().unwrap();
    Load {
        calls,
        errors: errors.load(Ordering::Relaxed),
        per_second: calls as f64 / elapsed,
        p50_ms: h.value_at_quantile(0.50) as f64 / 1000.0,
        p99_ms: h.value_at_quantile(0.99) as f64 / 1000.0,
    }
}

// --- Processes: memory and CPU ---------------------------------------------------

/// A process of the deployment, by name (`intake-1`, …) and pid.
#[derive(Debug, Clone)]
pub struct Process {
    pub name: String,
    pub pid: u32,
}

/// VmRSS of `/proc/<pid>/status`, in bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    yuetan_platform::metrics::proc_status_bytes(Some(pid), "VmRSS")
}

/// `RssAnon` and `RssFile` of `/proc/<pid>/status` (heap and stacks; mapped
/// files such as the binary's own pages), in bytes.
pub fn rss_split(pid: u32) -> Option<(u64, u64)> {
    use yuetan_platform::metrics::proc_status_bytes;
    Some((proc_status_bytes(Some(pid), "RssAnon")?, proc_status_bytes(Some(pid), "RssFile")?))
}

/// The resident memory of every process now, by name.
pub fn rss_now(processes: &[Process]) -> BTreeMap<String, u64> {
    processes.iter().filter_map(|p| rss_bytes(p.pid).map(|rss| (p.name.clone(), rss))).collect()
}

/// Samples each process's VmRSS every `every` and keeps the maximum.
pub struct RssSampler {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<BTreeMap<String, u64>>,
}

impl RssSampler {
    pub fn start(processes: Vec<Process>, every: Duration) -> RssSampler {
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task = tokio::spawn(async move {
            let mut max: BTreeMap<String, u64> = BTreeMap::new();
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = token.cancelled() => return max,
                }
                for (name, rss) in rss_now(&processes) {
                    let slot = max.entry(name).or_default();
                    *slot = (*slot).max(rss);
                }
            }
        });
        RssSampler { stop, task }
    }

    /// Stops sampling; the maximum of each process.
    pub async fn finish(self) -> BTreeMap<String, u64> {
        self.stop.cancel();
        self.task.await.unwrap_or_default()
    }
}

/// CPU time (utime + stime) of `pid` and of all its descendants, in clock
/// ticks (`/proc/<pid>/stat` fields 14 and 15; children found by their
/// parent pid, field 4) — of this process alone when `pid` is this process
/// (its children are the deployment's processes, counted by their own names).
/// The name under which the bench process's own CPU is counted (without its children).
const BENCH_SELF: &str = "yuetan-bench (load generator, floor server)";

pub fn cpu_ticks_tree(pid: u32) -> u64 {
    let stats: Vec<(u32, u32, u64)> = std::fs::read_dir("/proc")
        .map(|dir| {
            dir.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
                .filter_map(|p| {
                    let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
                    let after = &stat[stat.rfind(')')? + 2..];
                    let fields: Vec<&str> = after.split_whitespace().collect();
                    // after the name: state(3) ppid(4) … utime(14) stime(15)
                    let ppid: u32 = fields.get(1)?.parse().ok()?;
                    let utime: u64 = fields.get(11)?.parse().ok()?;
                    let stime: u64 = fields.get(12)?.parse().ok()?;
                    Some((p, ppid, utime + stime))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut total = 0;
    let mut frontier = vec![pid];
    let mut seen = std::collections::HashSet::new();
    while let Some(p) = frontier.pop() {
        if !seen.insert(p) {
            continue;
        }
        for (child, parent, ticks) in &stats {
            if *child == p {
                total += ticks;
            }
            if *parent == p && pid != std::process::id() {
                frontier.push(*child);
            }
        }
    }
    total
}

/// The machine's busy and total CPU ticks (`/proc/stat`, first line).
pub fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let values: Vec<u64> = stat.lines().next().unwrap_or("").split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    let total: u64 = values.iter().sum();
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    (total.saturating_sub(idle), total)
}

/// CPU time of named process trees between two moments.
#[derive(Debug, Clone, Default)]
pub struct CpuUse {
    start: BTreeMap<String, u64>,
    machine_start: (u64, u64),
    /// Name → CPU seconds used in the window.
    pub seconds: BTreeMap<String, f64>,
    /// Share of the machine busy in the window (0..1).
    pub machine_busy: f64,
}

impl CpuUse {
    /// Starts counting for `trees` (name → root pid; a name may repeat: its trees add up).
    pub fn start(trees: &[(String, u32)]) -> CpuUse {
        let mut start = BTreeMap::new();
        for (name, pid) in trees {
            *start.entry(name.clone()).or_default() += cpu_ticks_tree(*pid);
        }
        CpuUse { start, machine_start: machine_ticks(), ..CpuUse::default() }
    }

    pub fn finish(mut self, trees: &[(String, u32)]) -> CpuUse {
        let hz = 100.0; // USER_HZ on Linux
        let mut end: BTreeMap<String, u64> = BTreeMap::new();
        for (name, pid) in trees {
            *end.entry(name.clone()).or_default() += cpu_ticks_tree(*pid);
        }
        for (name, ticks) in end {
            let before = self.start.get(&name).copied().unwrap_or(0);
            self.seconds.insert(name, ticks.saturating_sub(before) as f64 / hz);
        }
        let (busy, total) = machine_ticks();
        let (busy0, total0) = self.machine_start;
        self.machine_busy = (busy.saturating_sub(busy0)) as f64 / (total.saturating_sub(total0)).max(1) as f64;
        self
    }
}

// --- The report ---------------------------------------------------------------------

/// Everything one run measured.
#[derive(Debug, Clone)]
pub struct Report {
    pub command: String,
    /// The driver's last stage of a completed lifecycle (`Approved`, …, `Archived`).
    pub reached: String,
    /// PostgreSQL's durability settings as the run found them (`SHOW fsync`, …).
    pub postgres: String,
    pub note: String,
    pub concurrency: usize,
    pub warmup: usize,
    pub batch: Batch,
    pub rpcs: Vec<RpcRow>,
    pub floor_before: Load,
    pub floor_after: Load,
    pub rss_idle: BTreeMap<String, u64>,
    /// Idle RssAnon and RssFile of each process.
    pub rss_idle_split: BTreeMap<String, (u64, u64)>,
    pub rss_load: BTreeMap<String, u64>,
    pub idle_secs: u64,
    pub cpu: CpuUse,
}

pub const START: &str = "<!-- bench:lifecycle:start -->";
pub const END: &str = "<!-- bench:lifecycle:end -->";

/// The targets in MB (10^6 bytes), as the issue writes them.
const RSS_IDLE_TARGET: u64 = 50_000_000;
const RSS_LOAD_TARGET: u64 = 150_000_000;

/// Bytes in MB (10^6), the unit of the targets.
fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_000_000.0
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_else(|| "this machine".into());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().next().map(|l| l.trim_start_matches("MemTotal:").trim().trim_end_matches("kB").trim().parse::<u64>().unwrap_or(0)))
        .unwrap_or(0);
    format!(
        "{cpu} ({} cores, {:.1} GiB memory)",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        memory as f64 / (1024.0 * 1024.0)
    )
}

/// The Markdown section, between its markers.
pub fn render(r: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let secs = r.batch.wall.as_secs_f64().max(0.001);
    let profile = if cfg!(debug_assertions) { "debug (NOT release: figures not comparable)" } else { "release" };
    let _ = writeln!(out, "{START}\n## Whole lifecycle (split deployment)\n");
    let _ = writeln!(out, "Command: `{}`  ", r.command);
    let _ = writeln!(
        out,
        "Run: {} on {}; build profile: {profile}; the split deployment of the chaos crate (`yuetan_chaos::deployment`): every service its own `yuetan serve <service>` processes ({}), its own PostgreSQL ({}) and nats-server (`sync_interval: always`), all on this machine with the bench process (load generator and floor server); {} lifecycles measured after {} of warm-up, {} in flight; the floor {} callers for {:.0} s before and after.{}\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        machine(),
        r.rss_idle.keys().cloned().collect::<Vec<_>>().join(", "),
        r.postgres,
        r.batch.completed + r.batch.failed.len(),
        r.warmup,
        r.concurrency,
        r.concurrency,
        r.floor_before.calls as f64 / r.floor_before.per_second.max(0.001),
        if r.note.is_empty() { String::new() } else { format!(" {}", r.note) },
    );

    // The floor: the better of its two phases (more calls/s, lower p99) is the bar.
    let floor_rate = r.floor_before.per_second.max(r.floor_after.per_second);
    let floor_p99 = r.floor_before.p99_ms.min(r.floor_after.p99_ms);
    let writes: u64 = r.rpcs.iter().filter(|row| row.write).map(|row| row.ok).sum();
    let all: u64 = r.rpcs.iter().map(|row| row.ok).sum();
    let failed_calls: u64 = r.rpcs.iter().map(|row| row.failed.values().sum::<u64>()).sum();
    let write_rate = writes as f64 / secs;
    let lifecycles_rate = r.batch.completed as f64 / secs;

    let _ = writeln!(out, "| measurement | figure |\n|---|---:|");
    let _ = writeln!(out, "| lifecycles completed (clue → the driver's last stage: {}) | {} in {:.1} s |", r.reached, r.batch.completed, secs);
    let _ = writeln!(out, "| lifecycles failed | {} |", r.batch.failed.len());
    let _ = writeln!(out, "| **lifecycles per second** | **{lifecycles_rate:.2}** |");
    let _ = writeln!(out, "| one lifecycle, p50 / p99 | {:.0} / {:.0} ms |", r.batch.p50_ms, r.batch.p99_ms);
    let _ = writeln!(out, "| RPC calls answered OK (all kinds) | {all} ({:.1}/s) |", all as f64 / secs);
    let _ = writeln!(out, "| RPC attempts not OK (retried with the same request id, or a read polled again while another service reacts) | {failed_calls} |");
    let _ = writeln!(out, "| write RPCs per second | {write_rate:.1} |");
    let _ = writeln!(
        out,
        "| floor before: calls/s, p50 / p99 | {:.0}/s, {:.2} / {:.2} ms |",
        r.floor_before.per_second, r.floor_before.p50_ms, r.floor_before.p99_ms
    );
    let _ = writeln!(
        out,
        "| floor after: calls/s, p50 / p99 | {:.0}/s, {:.2} / {:.2} ms |",
        r.floor_after.per_second, r.floor_after.p50_ms, r.floor_after.p99_ms
    );
    let _ = writeln!(out, "| machine CPU busy during the lifecycles | {:.0} % |\n", r.cpu.machine_busy * 100.0);

    let _ = writeln!(out, "Every RPC kind over the measured lifecycles (each attempt timed; a retry is a second sample):\n");
    let _ = writeln!(out, "| RPC | kind | calls OK | not OK | p50 ms | p99 ms | max ms | p99 ÷ floor p99 |\n|---|---|---:|---:|---:|---:|---:|---:|");
    let mut worst: Option<(&RpcRow, f64)> = None;
    let mut over = Vec::new();
    for row in &r.rpcs {
        let ratio = row.p99_ms / floor_p99.max(0.001);
        if ratio > 3.0 {
            over.push(row.rpc.clone());
        }
        if worst.is_none_or(|(_, w)| ratio > w) {
            worst = Some((row, ratio));
        }
        let failed = if row.failed.is_empty() {
            "0".to_string()
        } else {
            row.failed.iter().map(|(code, n)| format!("{n} {code}")).collect::<Vec<_>>().join(", ")
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.1} |",
            row.rpc,
            if row.write { "write" } else { "read" },
            row.ok,
            failed,
            row.p50_ms,
            row.p99_ms,
            row.max_ms,
            ratio
        );
    }

    let _ = writeln!(out, "\nResident memory of each service process (VmRSS), idle ({} s after start, nothing running) and the maximum sampled every 250 ms during the lifecycles:\n", r.idle_secs);
    let _ = writeln!(out, "| process | idle MB | of it anonymous (heap, stacks) | of it file-backed (the binary's pages) | under load MB (max) |\n|---|---:|---:|---:|---:|");
    let mut idle_over = Vec::new();
    let mut load_over = Vec::new();
    let names: std::collections::BTreeSet<&String> = r.rss_idle.keys().chain(r.rss_load.keys()).collect();
    for name in names {
        let idle = r.rss_idle.get(name).copied();
        let load = r.rss_load.get(name).copied();
        if let Some(idle) = idle.filter(|v| *v > RSS_IDLE_TARGET) {
            idle_over.push(format!("{name} {:.1} MB", mb(idle)));
        }
        if let Some(load) = load.filter(|v| *v > RSS_LOAD_TARGET) {
            load_over.push(format!("{name} {:.1} MB", mb(load)));
        }
        let show = |v: Option<u64>| v.map(|v| format!("{:.1}", mb(v))).unwrap_or_else(|| "–".into());
        let (anon, file) = r.rss_idle_split.get(name.as_str()).map(|(a, f)| (Some(*a), Some(*f))).unwrap_or((None, None));
        let _ = writeln!(out, "| {name} | {} | {} | {} | {} |", show(idle), show(anon), show(file), show(load));
    }

    if !r.cpu.seconds.is_empty() {
        let _ = writeln!(out, "\nCPU seconds used during the measured lifecycles ({secs:.1} s of wall time, {:.1} CPU-seconds available on the machine):\n", secs * std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64);
        let _ = writeln!(out, "| process (tree) | CPU s | share of the machine |\n|---|---:|---:|");
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
        let mut by_use: Vec<(&String, &f64)> = r.cpu.seconds.iter().collect();
        by_use.sort_by(|a, b| b.1.total_cmp(a.1));
        for (name, used) in by_use {
            let _ = writeln!(out, "| {name} | {used:.1} | {:.0} % |", used / (secs * cores) * 100.0);
        }
    }

    let _ = writeln!(out, "\nTargets (issue 14):\n");
    let ratio = write_rate / floor_rate.max(0.001);
    let _ = writeln!(
        out,
        "- write RPCs/s ≥ 0.3 × the floor's calls/s: {write_rate:.1}/s against {:.1}/s (0.3 × {floor_rate:.0}/s, the better floor phase): {}.",
        0.3 * floor_rate,
        if ratio >= 0.3 { format!("met ({ratio:.3} × the floor)") } else { format!("**NOT met** ({ratio:.3} × the floor; {:.1} × short of 0.3)", 0.3 / ratio.max(1e-9)) }
    );
    let _ = writeln!(
        out,
        "- every RPC's p99 ≤ 3 × the floor's p99 ({:.2} ms, the better phase) at the same concurrency: {}.",
        floor_p99,
        match (&worst, over.is_empty()) {
            (_, true) => "met".to_string(),
            (Some((row, w)), false) => format!("**NOT met** for {} of {} kinds (worst {}: {:.1} ×)", over.len(), r.rpcs.len(), row.rpc, w),
            (None, false) => "not measured".to_string(),
        }
    );
    let _ = writeln!(
        out,
        "- ≤ 50 MB RSS idle per service process: {}.",
        if idle_over.is_empty() { "met".to_string() } else { format!("**NOT met** ({})", idle_over.join(", ")) }
    );
    let _ = writeln!(
        out,
        "- ≤ 150 MB RSS under load per service process: {}.",
        if load_over.is_empty() { "met".to_string() } else { format!("**NOT met** ({})", load_over.join(", ")) }
    );
    if !r.batch.failed.is_empty() {
        let _ = writeln!(out, "\nFailed lifecycles (first 5):\n");
        for failure in r.batch.failed.iter().take(5) {
            let _ = writeln!(out, "- {}", failure.replace('\n', " "));
        }
    }
    let _ = write!(out, "{END}");
    out
}

/// Replaces the section between the markers in `path` (or appends it).
pub fn write_section(path: &Path, section: &str) -> anyhow::Result<()> {
    let existing = std::fs::read_to_string(path)?;
    let updated = match (existing.find(START), existing.find(END)) {
        (Some(a), Some(b)) if b > a => format!("{}{section}{}", &existing[..a], &existing[b + END.len()..]),
        _ => format!("{}\n\n{section}\n", existing.trim_end()),
    };
    std::fs::write(path, updated)?;
    Ok(())
}

/// `docs/benchmarks.md` of the repository, from the crate's folder.
pub fn default_doc() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/benchmarks.md")
}

// --- The run --------------------------------------------------------------------------

/// What the bench needs of a running deployment.
pub struct Target {
    /// Each service process (RSS, CPU).
    pub processes: Vec<Process>,
    /// Other process trees whose CPU is counted: `postgres` (the
    /// postmaster), `nats-server`, the provider peers, ….
    pub others: Vec<(String, u32)>,
    /// A role of the deployment's database that may create the floor's schema.
    pub floor_database_url: String,
    /// How the deployment's services verify tokens (the floor verifies the same way).
    pub auth: yuetan_platform::auth::AuthConfig,
    /// A bearer value (`Bearer …`) of an officer, for the floor's calls.
    pub bearer: MetadataValue<Ascii>,
    /// PostgreSQL's durability settings (for the report).
    pub postgres: String,
}

/// Runs the whole bench on a started deployment: idle RSS, the floor,
/// the warm-up, the measured lifecycles (RSS sampled, CPU counted), the
/// floor again. `one(index)` runs one lifecycle whose driver times each RPC
/// attempt into `timings` (its hook); indices are distinct across the run.
pub async fn run<F, Fut>(args: &Args, target: &Target, timings: &Arc<Timings>, one: F) -> anyhow::Result<Report>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    println!("yuetan-bench: {} service processes; quiet for {} s before reading idle memory", target.processes.len(), args.idle_secs);
    tokio::time::sleep(Duration::from_secs(args.idle_secs)).await;
    let rss_idle = rss_now(&target.processes);
    let rss_idle_split: BTreeMap<String, (u64, u64)> =
        target.processes.iter().filter_map(|p| rss_split(p.pid).map(|split| (p.name.clone(), split))).collect();
    for (name, rss) in &rss_idle {
        println!("  idle {name:<16} {:>7.1} MB", mb(*rss));
    }

    let shutdown = CancellationToken::new();
    let connections = (args.concurrency as u32).clamp(4, 64);
    let floor = yuetan_harness::floor::start(&target.floor_database_url, &target.auth, connections, shutdown.clone()).await;
    let floor_duration = Duration::from_secs(args.floor_secs);
    let floor_before = floor_load(&floor, &target.bearer, args.concurrency, floor_duration).await;
    println!("yuetan-bench: floor before: {:.0}/s p50 {:.2} ms p99 {:.2} ms ({} errors)", floor_before.per_second, floor_before.p50_ms, floor_before.p99_ms, floor_before.errors);

    let one = Arc::new(one);
    if args.warmup > 0 {
        let one = one.clone();
        let warm = run_batch(0, args.warmup, args.concurrency, move |i| one(i)).await;
        println!("yuetan-bench: warm-up: {} lifecycles in {:.1} s ({} failed)", warm.completed, warm.wall.as_secs_f64(), warm.failed.len());
    }

    timings.set_measuring(true);
    let mut trees: Vec<(String, u32)> = target.processes.iter().map(|p| (service_of(&p.name), p.pid)).collect();
    trees.extend(target.others.iter().cloned());
    // The bench process by itself: its children are the deployment's processes, counted above.
    trees.push((BENCH_SELF.into(), std::process::id()));
    let cpu = CpuUse::start(&trees);
    let sampler = RssSampler::start(target.processes.clone(), Duration::from_millis(250));
    let batch = {
        let one = one.clone();
        run_batch(args.warmup, args.lifecycles, args.concurrency, move |i| one(i)).await
    };
    let rss_load = sampler.finish().await;
    let cpu = cpu.finish(&trees);
    timings.set_measuring(false);
    println!("yuetan-bench: {} lifecycles in {:.1} s ({} failed)", batch.completed, batch.wall.as_secs_f64(), batch.failed.len());

    let floor_after = floor_load(&floor, &target.bearer, args.concurrency, floor_duration).await;
    println!("yuetan-bench: floor after: {:.0}/s p50 {:.2} ms p99 {:.2} ms ({} errors)", floor_after.per_second, floor_after.p50_ms, floor_after.p99_ms, floor_after.errors);
    shutdown.cancel();

    Ok(Report {
        command: command_line(),
        reached: String::new(),
        postgres: target.postgres.clone(),
        note: args.note.clone(),
        concurrency: args.concurrency,
        warmup: args.warmup,
        batch,
        rpcs: timings.rows(),
        floor_before,
        floor_after,
        rss_idle,
        rss_idle_split,
        rss_load,
        idle_secs: args.idle_secs,
        cpu,
    })
}

/// `intake-1` → `intake` (CPU is summed per service).
fn service_of(process: &str) -> String {
    match process.rsplit_once('-') {
        Some((service, replica)) if replica.chars().all(|c| c.is_ascii_digit()) => service.to_string(),
        _ => process.to_string(),
    }
}

/// The command as `deploy/local/bench.sh` takes it.
fn command_line() -> String {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .map(|a| if a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=".contains(c)) { a } else { format!("'{}'", a.replace('\'', "'\\''")) })
        .collect();
    format!("deploy/local/bench.sh {}", args.join(" ")).trim_end().to_string()
}

// --- Wiring: the chaos crate's deployment and driver ------------------------------------

/// The postmaster's pid (first line of `postmaster.pid` in the deployment's data folder).
fn postgres_pid(deployment: &Deployment) -> Option<u32> {
    let text = std::fs::read_to_string(deployment.root.join("pg/data/postmaster.pid")).ok()?;
    text.lines().next()?.trim().parse().ok()
}

/// The pids of processes whose command line contains `needle`.
fn pids_with_arg(needle: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " ").contains(needle))
                .unwrap_or(false)
        })
        .collect()
}

/// The whole bench: starts the split deployment (release `yuetan` from
/// `$YUETAN_BIN`, default `target/release/yuetan`; `deploy/local/yuetan.toml`),
/// runs [`run`] with the chaos crate's lifecycle driver (no faults), prints
/// and writes the report, stops the deployment.
pub async fn main_with(args: Args) -> anyhow::Result<Report> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let yuetan_bin = std::env::var_os("YUETAN_BIN").map(PathBuf::from).unwrap_or_else(|| repo.join("target/release/yuetan"));
    let started = Instant::now();
    let mut deployment = Deployment::start(Options {
        yuetan_bin: std::fs::canonicalize(&yuetan_bin).with_context(|| format!("{} (build it: cargo build --release -p yuetan)", yuetan_bin.display()))?,
        config_file: std::fs::canonicalize(repo.join("deploy/local/yuetan.toml"))?,
        replicas: 2,
        relay_abort: 0.0,
        cluster: false,
        extra_env: Vec::new(),
        keep: false,
    })
    .await?;
    println!("yuetan-bench: {} processes listening after {:.1?} ({})", deployment.names().len(), started.elapsed(), deployment.root.display());
    let result = bench_on(&args, &deployment).await;
    deployment.stop();
    let report = result?;
    let section = render(&report);
    println!("{section}");
    if args.doc != "-" {
        let path = if args.doc == "docs/benchmarks.md" { default_doc() } else { PathBuf::from(&args.doc) };
        write_section(&path, &section)?;
        println!("yuetan-bench: wrote {}", path.display());
    }
    Ok(report)
}

async fn bench_on(args: &Args, deployment: &Deployment) -> anyhow::Result<Report> {
    let processes: Vec<Process> =
        deployment.pids().into_iter().filter_map(|(name, pid)| pid.map(|pid| Process { name, pid })).collect();
    let mut others = Vec::new();
    if let Some(pid) = postgres_pid(deployment) {
        others.push(("postgres (all backends)".to_string(), pid));
    }
    for pid in pids_with_arg(&deployment.root.join("nats-1").display().to_string()) {
        others.push(("nats-server".to_string(), pid));
    }
    let tokens = Tokens::from_config(&deployment.config)?;
    let bearer = tokens
        .request("bench-floor", ORGAN, DIVISION, &["case_officer"], ())?
        .metadata()
        .get("authorization")
        .cloned()
        .context("the floor's token")?;
    let reached = Arc::new(Mutex::new(None::<String>));
    let postgres = {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&deployment.admin_url).await?;
        let mut settings = Vec::new();
        for name in ["fsync", "synchronous_commit", "full_page_writes", "shared_buffers", "max_connections"] {
            let value: String = sqlx::query_scalar(&format!("SHOW {name}")).fetch_one(&mut conn).await?;
            settings.push(format!("{name}={value}"));
        }
        settings.join(", ")
    };
    let target = Target {
        postgres,
        processes,
        others,
        floor_database_url: deployment.owner_url.clone(),
        auth: deployment.config.auth.clone(),
        bearer,
    };
    let timings = Timings::new();
    let serial_base = rand::random::<u32>() % 500_000;
    let driver = Arc::new(Driver::new(deployment.routed()?, tokens, vec![deployment.portal_base.clone()], Some(timings.hook()), serial_base));
    driver.setup().await?;
    let last = reached.clone();
    let mut report = run(args, &target, &timings, move |index| {
        let (driver, last) = (driver.clone(), last.clone());
        async move {
            let progress = Mutex::new(Progress::default());
            driver.lifecycle(index as u32, &progress).await?;
            *last.lock().unwrap() = Some(format!("{:?}", progress.lock().unwrap().stage));
            Ok(())
        }
    })
    .await?;
    report.reached = reached.lock().unwrap().clone().unwrap_or_else(|| "nothing".into());
    Ok(report)
}
