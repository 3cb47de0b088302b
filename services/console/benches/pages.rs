//! Console pages benchmark (issue 15): the latency of the My work page
//! (`GET /work`) and the Case page (`GET /cases/<id>`) as an officer's
//! client sees it over HTTP, beside the gRPC calls the page makes measured
//! alone — `yuetan_console::pages::work::load` and
//! `yuetan_console::pages::case::load` called directly with a `Calls` for the
//! same officer, at the same concurrency. The difference is what the console
//! adds: HTTP, the session cookie, the officer's token, rendering the page.
//! Target: the console adds ≤ 5 ms p99 over the calls it makes, at 16
//! concurrent officers.
//!
//! Run: `cargo bench -p yuetan-console --bench pages`. Prints the figures
//! and rewrites its section of docs/benchmarks.md (between the
//! `bench:console-pages` markers; appended if absent). After `--`:
//! `--doc FILE` writes the section into FILE instead, `--doc -` only prints
//! it. Environment: `BENCH_CONCURRENCY` (officers in flight, default 16),
//! `BENCH_REQUESTS` (measured requests per page and method at that
//! concurrency, default 3200), `BENCH_ROUNDS` (default 4), `BENCH_SINGLE`
//! (requests per page and method with one officer, default 400; 0 skips),
//! `BENCH_WARMUP` (warm-up requests per officer, page and method, default
//! 10), `BENCH_CASES` (approved cases, default 24); `BENCH_NOTE` adds a
//! sentence about the machine's other load to the section.
//!
//! Setup, not measured: intake, review, rectification, supervision and
//! scheduling (with the portal and its provider peers) in one process as
//! under `yuetan serve all`, `Polls::Production`, on a durable PostgreSQL
//! (fsync on) and nats-server (file storage); the two organs; BENCH_CASES
//! cases of organ A taken through intake and review to approval (scheduling
//! has opened their interview plans, supervision their cards); the console
//! on the same services' channels with one development officer per client
//! (organ A, 城关区, case officer and section chief, distinct ids); each
//! client signs in with `POST /signin/dev` and keeps its session cookie.
//!
//! Method: closed loop, each of the clients its own officer and its own HTTP
//! connection (keep-alive), the next request as soon as the last answer is
//! read in full. Per page, after the warm-up, BENCH_ROUNDS rounds each run
//! a page phase and a calls phase back to back, in alternating order
//! (page, calls / calls, page / …), so both see the same load and drift;
//! the samples of the rounds are pooled. The Case requests rotate over the
//! cases. The gRPC calls alone get a fresh officer token per request (as
//! the page does), made before the timer starts.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use yuetan_console::backend::{Calls, Channels, Tokens};
use yuetan_console::config::DevOfficer;
use yuetan_console::pages::{case, work};
use yuetan_console::session::{Officer, Session};
use yuetan_console::Console;
use yuetan_harness::{Polls, Service, System, CHENGGUAN, ORGAN_A};
use yuetan_testkit::{Durability, Stack};

const START: &str = "<!-- bench:console-pages:start -->";
const END: &str = "<!-- bench:console-pages:end -->";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Page {
    Work,
    Case,
}

impl Page {
    fn name(self) -> &'static str {
        match self {
            Page::Work => "My work",
            Page::Case => "Case",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    /// The page over HTTP, as the officer's client sees it.
    Page,
    /// The page's gRPC calls alone.
    Calls,
}

/// One simulated officer: their session cookie and their own HTTP connection.
struct Client {
    session: Session,
    cookie: String,
    http: reqwest::Client,
}

struct Bench {
    base: String,
    channels: Channels,
    tokens: Tokens,
    clients: Vec<Client>,
    cases: Vec<String>,
}

/// What one request gave: the page's bytes or the calls' items.
struct Answer {
    size: usize,
}

impl Bench {
    async fn request(&self, client: &Client, page: Page, method: Method, case_id: &str) -> (Duration, Answer) {
        match method {
            Method::Page => {
                let url = match page {
                    Page::Work => format!("{}/work", self.base),
                    Page::Case => format!("{}/cases/{case_id}", self.base),
                };
                let started = Instant::now();
                let response = client.http.get(&url).header(reqwest::header::COOKIE, &client.cookie).send().await.unwrap_or_else(|err| panic!("GET {url}: {err}"));
                let status = response.status();
                let body = response.bytes().await.unwrap_or_else(|err| panic!("GET {url}: the body: {err}"));
                let elapsed = started.elapsed();
                assert!(status == reqwest::StatusCode::OK, "GET {url} as {}: {status}\n{}", client.session.officer.id, String::from_utf8_lossy(&body));
                (elapsed, Answer { size: body.len() })
            }
            Method::Calls => {
                let calls = Calls::new(&self.channels, &self.tokens, &client.session.officer).expect("the officer's token");
                let started = Instant::now();
                let size = match page {
                    Page::Work => work::load(&calls, &client.session).await.unwrap_or_else(|status| panic!("my work's calls: {status}")).items.len(),
                    Page::Case => {
                        let view = case::load(&calls, case_id).await.unwrap_or_else(|status| panic!("case {case_id}'s calls: {status}"));
                        view.cards.len()
                    }
                };
                (started.elapsed(), Answer { size })
            }
        }
    }
}

/// Machine-wide and this process's CPU time, in clock ticks (USER_HZ = 100).
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    machine_busy: u64,
    machine_total: u64,
    process: u64,
}

fn cpu_now() -> Cpu {
    let mut cpu = Cpu::default();
    if let Ok(stat) = std::fs::read_to_string("/proc/stat") {
        if let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) {
            let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
            // user nice system idle iowait irq softirq steal (guest time is in user)
            let total: u64 = v.iter().take(8).sum();
            let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
            cpu.machine_total = total;
            cpu.machine_busy = total.saturating_sub(idle);
        }
    }
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the command's closing parenthesis; utime and stime are fields 14 and 15.
        if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
            let v: Vec<&str> = rest.split_whitespace().collect();
            let tick = |i: usize| v.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
            cpu.process = tick(11) + tick(12);
        }
    }
    cpu
}

/// The pooled samples of one page, method and concurrency.
struct Series {
    page: Page,
    method: Method,
    concurrency: usize,
    latencies: Vec<Duration>,
    wall: Duration,
    busy_ticks: u64,
    total_ticks: u64,
    process_ticks: u64,
    sizes: usize,
}

impl Series {
    fn new(page: Page, method: Method, concurrency: usize) -> Series {
        Series { page, method, concurrency, latencies: Vec::new(), wall: Duration::ZERO, busy_ticks: 0, total_ticks: 0, process_ticks: 0, sizes: 0 }
    }
}

/// Nearest-rank quantile of sorted samples.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The figures of one series.
struct Row {
    page: Page,
    method: Method,
    concurrency: usize,
    count: usize,
    per_second: f64,
    mean: f64,
    p50: f64,
    p99: f64,
    max: f64,
    busy_pct: f64,
    process_cpu_ms: f64,
    mean_size: f64,
}

impl Series {
    fn row(&self) -> Row {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let count = sorted.len();
        let sum: Duration = sorted.iter().sum();
        Row {
            page: self.page,
            method: self.method,
            concurrency: self.concurrency,
            count,
            per_second: count as f64 / self.wall.as_secs_f64(),
            mean: ms(sum) / count as f64,
            p50: ms(quantile(&sorted, 0.5)),
            p99: ms(quantile(&sorted, 0.99)),
            max: ms(*sorted.last().expect("samples")),
            busy_pct: 100.0 * self.busy_ticks as f64 / self.total_ticks.max(1) as f64,
            process_cpu_ms: self.process_ticks as f64 * 10.0 / count as f64,
            mean_size: self.sizes as f64 / count as f64,
        }
    }
}

/// `per_client` requests from each of the first `concurrency` clients at
/// once (closed loop); adds the samples to `series` unless it is a warm-up.
async fn phase(bench: &Arc<Bench>, page: Page, method: Method, concurrency: usize, per_client: usize, offset: usize, series: Option<&mut Series>) {
    let before = cpu_now();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..concurrency {
        let bench = bench.clone();
        tasks.spawn(async move {
            let client = &bench.clients[i];
            let mut samples = Vec::with_capacity(per_client);
            let mut sizes = 0;
            for k in 0..per_client {
                let case_id = &bench.cases[(offset + i + k * concurrency) % bench.cases.len()];
                let (elapsed, answer) = bench.request(client, page, method, case_id).await;
                samples.push(elapsed);
                sizes += answer.size;
            }
            (samples, sizes)
        });
    }
    let mut latencies = Vec::new();
    let mut sizes = 0;
    while let Some(done) = tasks.join_next().await {
        let (samples, size) = done.expect("a client task");
        latencies.extend(samples);
        sizes += size;
    }
    let wall = started.elapsed();
    let after = cpu_now();
    if let Some(series) = series {
        series.latencies.extend(latencies);
        series.wall += wall;
        series.busy_ticks += after.machine_busy - before.machine_busy;
        series.total_ticks += after.machine_total - before.machine_total;
        series.process_ticks += after.process - before.process;
        series.sizes += sizes;
    }
}

/// `rounds` rounds of a page phase and a calls phase back to back, alternating which goes first.
async fn measure(bench: &Arc<Bench>, page: Page, concurrency: usize, requests: usize, rounds: usize) -> (Row, Row) {
    let per_client = requests.div_ceil(rounds * concurrency).max(1);
    let mut pages = Series::new(page, Method::Page, concurrency);
    let mut calls = Series::new(page, Method::Calls, concurrency);
    for round in 0..rounds {
        let offset = round * per_client * concurrency;
        if round % 2 == 0 {
            phase(bench, page, Method::Page, concurrency, per_client, offset, Some(&mut pages)).await;
            phase(bench, page, Method::Calls, concurrency, per_client, offset, Some(&mut calls)).await;
        } else {
            phase(bench, page, Method::Calls, concurrency, per_client, offset, Some(&mut calls)).await;
            phase(bench, page, Method::Page, concurrency, per_client, offset, Some(&mut pages)).await;
        }
    }
    let (a, b) = (pages.row(), calls.row());
    for row in [&a, &b] {
        println!(
            "{:<8} {:<6} {:>2} officers {:>5} req {:>7.1}/s  mean {:>6.2}  p50 {:>6.2}  p99 {:>6.2}  max {:>7.2} ms  cpu busy {:>3.0} %  process cpu {:>5.2} ms/req",
            row.page.name(),
            if row.method == Method::Page { "page" } else { "calls" },
            row.concurrency,
            row.count,
            row.per_second,
            row.mean,
            row.p50,
            row.p99,
            row.max,
            row.busy_pct,
            row.process_cpu_ms
        );
    }
    println!("  console adds: p50 {:+.2} ms, p99 {:+.2} ms", a.p50 - b.p50, a.p99 - b.p99);
    (a, b)
}

fn dev_officer(i: usize) -> DevOfficer {
    DevOfficer {
        id: format!("bench-officer-{i:02}"),
        name: format!("压测承办人{i:02}"),
        organ: ORGAN_A.into(),
        division: CHENGGUAN.into(),
        roles: vec!["case_officer".into(), "section_chief".into()],
    }
}

/// Signs `officer` in through the development sign-in; the session cookie (`name=value`).
async fn sign_in(http: &reqwest::Client, base: &str, officer: &str) -> String {
    let response = http
        .post(format!("{base}/signin/dev"))
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("officer={officer}"))
        .send()
        .await
        .expect("POST /signin/dev");
    assert!(response.status().is_redirection(), "the development sign-in of {officer} answered {}", response.status());
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|c| c.starts_with("yuetan_session=") && c.len() > "yuetan_session=".len())
        .expect("a session cookie")
        .to_string()
}

struct Setting {
    concurrency: usize,
    requests: usize,
    rounds: usize,
    single: usize,
    warmup: usize,
    cases: usize,
}

fn command(s: &Setting) -> String {
    let mut vars = Vec::new();
    for (name, value, default) in [
        ("BENCH_CONCURRENCY", s.concurrency, 16),
        ("BENCH_REQUESTS", s.requests, 3200),
        ("BENCH_ROUNDS", s.rounds, 4),
        ("BENCH_SINGLE", s.single, 400),
        ("BENCH_WARMUP", s.warmup, 10),
        ("BENCH_CASES", s.cases, 24),
    ] {
        if value != default {
            vars.push(format!("{name}={value} "));
        }
    }
    format!("{}cargo bench -p yuetan-console --bench pages", vars.concat())
}

fn render(s: &Setting, rows: &[(Row, Row)], content: &str) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| t.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_else(|| "this machine".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let note = std::env::var("BENCH_NOTE").ok().filter(|n| !n.trim().is_empty()).map(|n| format!("{} ", n.trim())).unwrap_or_default();
    let mut out = format!(
        "{START}\n## Console pages (issue 15)\n\n\
         Command: `{}` (`services/console/benches/pages.rs`)  \n\
         Run: {} on {cpu} ({cores} cores), release build; PostgreSQL with fsync on, nats-server with file storage, both local; \
         intake, review, scheduling (with the portal and its provider peers), rectification and supervision in one process as under `yuetan serve all`, `Polls::Production`; \
         the console in the same process on the services' loopback gRPC channels; the load generator (no browser: one HTTP/1.1 keep-alive connection per officer, \
         the session cookie sent by hand) in the same process too — the {cores} cores are shared by the servers, the console and the load generator. \
         {note}{} approved cases of organ A (plan opened, cards open); {} development officers of organ A, each its own client, signed in with `POST /signin/dev`. {content}\n\n\
         Method: closed loop, every officer sends its next request as soon as the last answer is read in full. \
         Per page, after {} warm-up requests per officer and method, {} rounds each run the page over HTTP and then the page's gRPC calls alone \
         (`pages::work::load` / `pages::case::load` called directly with a `Calls` for the same officer, a fresh token per request as the page makes, at the same concurrency), \
         back to back, alternating which goes first; the rounds' samples are pooled. Case requests rotate over the cases. \
         Latency = request sent → body read (page) or the calls' answers in (calls). CPU busy is the whole machine's during the phases; process CPU per request is this process \
         (services, console, load generator; not PostgreSQL or nats-server) divided by the requests.\n\n",
        command(s),
        Utc::now().format("%Y-%m-%d %H:%M UTC"),
        s.cases,
        s.concurrency,
        s.warmup,
        s.rounds,
    );
    out.push_str("| page | measured | officers | requests | per second | mean ms | p50 ms | p99 ms | max ms | machine CPU busy | process CPU ms / request |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (page, calls) in rows {
        for row in [page, calls] {
            let what = match (row.page, row.method) {
                (Page::Work, Method::Page) => "page `GET /work` over HTTP",
                (Page::Work, Method::Calls) => "its gRPC calls alone (`work::load`: 9 concurrent)",
                (Page::Case, Method::Page) => "page `GET /cases/<id>` over HTTP",
                (Page::Case, Method::Calls) => "its gRPC calls alone (`case::load`: 1, then 9 concurrent)",
            };
            out.push_str(&format!(
                "| {} | {what} | {} | {} | {:.1} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} % | {:.2} |\n",
                row.page.name(),
                row.concurrency,
                row.count,
                row.per_second,
                row.mean,
                row.p50,
                row.p99,
                row.max,
                row.busy_pct,
                row.process_cpu_ms
            ));
        }
    }
    out.push_str("\n| page | officers | console adds at p50 (page − calls) | console adds at p99 (page − calls) | process CPU per page − per calls | target ≤ 5 ms p99 |\n|---|---:|---:|---:|---:|---|\n");
    let mut verdicts = Vec::new();
    for (page, calls) in rows {
        let p99 = page.p99 - calls.p99;
        let target = if page.concurrency == s.concurrency {
            let met = p99 <= 5.0;
            verdicts.push((page.page, met, p99, page.p99, calls.p99, page.p50 - calls.p50, page.process_cpu_ms - calls.process_cpu_ms, page.busy_pct));
            if met { "met".to_string() } else { "**NOT met**".to_string() }
        } else {
            "– (one officer: the console's own latency)".to_string()
        };
        out.push_str(&format!(
            "| {} | {} | {:+.2} ms | {:+.2} ms | {:+.2} ms | {target} |\n",
            page.page.name(),
            page.concurrency,
            page.p50 - calls.p50,
            p99,
            page.process_cpu_ms - calls.process_cpu_ms
        ));
    }
    let single = |p: Page| rows.iter().find(|(a, _)| a.page == p && a.concurrency == 1).map(|(a, b)| a.p50 - b.p50);
    let all_met = verdicts.iter().all(|v| v.1);
    let parts: Vec<String> = verdicts
        .iter()
        .map(|(p, met, d, a, b, _, _, _)| format!("{} {:+.2} ms p99 ({:.2} ms page against {:.2} ms calls: {})", p.name(), d, a, b, if *met { "met" } else { "NOT met" }))
        .collect();
    out.push_str(&format!(
        "\nTarget (issue 15): the console adds ≤ 5 ms p99 over the calls it makes at {} concurrent officers: **{}** — {}.",
        s.concurrency,
        if all_met { "met" } else { "NOT met" },
        parts.join("; ")
    ));
    if !all_met {
        let limits: Vec<String> = verdicts
            .iter()
            .filter(|v| !v.1)
            .map(|(p, _, _, _, _, d50, cpu, busy)| {
                let alone = single(*p).map(|x| format!(", {x:+.2} ms at p50 with one officer alone")).unwrap_or_default();
                format!("{}: {d50:+.2} ms at p50{alone}; {cpu:+.2} ms more CPU of this process per page than per set of calls (console and HTTP client), with the machine {busy:.0} % busy", p.name())
            })
            .collect();
        out.push_str(&format!(" What the console's time is, measured: {}.", limits.join("; ")));
    }
    out.push('\n');
    out.push_str(END);
    out
}

fn write_section(section: &str, doc: Option<PathBuf>) -> std::io::Result<()> {
    let Some(path) = doc else {
        return Ok(());
    };
    let existing = std::fs::read_to_string(&path).unwrap_or_default();
    let updated = match (existing.find(START), existing.find(END)) {
        (Some(a), Some(b)) if b > a => format!("{}{section}{}", &existing[..a], &existing[b + END.len()..]),
        _ => format!("{}\n\n{section}\n", existing.trim_end()),
    };
    std::fs::write(&path, updated)?;
    println!("wrote {}", path.display());
    Ok(())
}

/// `--doc FILE` or `--doc -`; the default is the repository's docs/benchmarks.md.
/// (cargo passes `--bench` too; other arguments are ignored.)
fn doc_target() -> Option<PathBuf> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--doc").and_then(|i| args.get(i + 1)) {
        Some(dash) if dash == "-" => None,
        Some(file) => Some(PathBuf::from(file)),
        None => Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/benchmarks.md")),
    }
}

#[tokio::main]
async fn main() {
    yuetan_testkit::install_crypto_provider();
    let setting = Setting {
        concurrency: env("BENCH_CONCURRENCY", 16).max(1),
        requests: env("BENCH_REQUESTS", 3200).max(1),
        rounds: env("BENCH_ROUNDS", 4).max(1),
        single: env("BENCH_SINGLE", 400),
        warmup: env("BENCH_WARMUP", 10),
        cases: env("BENCH_CASES", 24).max(1),
    };
    let doc = doc_target();
    let started = Instant::now();
    let stack = Stack::start(Durability::Durable).await.expect("PostgreSQL and nats-server start");
    let mut sys = System::builder()
        .with(Service::Intake)
        .with(Service::Review)
        .with(Service::Rectification)
        .with(Service::Supervision)
        .polls(Polls::Production)
        .start_on(&stack)
        .await;
    sys.put_organs().await;
    let peers = sys.start_scheduling_with_peers(false).await;

    let system = &sys;
    let mut cases: Vec<(usize, String)> = futures::stream::iter(0..setting.cases)
        .map(|i| async move { (i, system.approved_case(8000 + i as u32, i % 5 == 0).await) })
        .buffer_unordered(4)
        .collect()
        .await;
    cases.sort();
    let cases: Vec<String> = cases.into_iter().map(|(_, id)| id).collect();
    for case_id in &cases {
        sys.plan_of(case_id).await;
    }
    sys.drain_outbox().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    sys.drain_outbox().await;
    println!("{} approved cases with their plans in {:.1} s", cases.len(), started.elapsed().as_secs_f64());

    let officers: Vec<DevOfficer> = (0..setting.concurrency).map(dev_officer).collect();
    let config = common::harness_config("console-session-key-for-the-pages-benchmark-01", None, officers.clone());
    let channels = common::harness_channels(&sys);
    let tokens = Tokens::new(&config).expect("the console's token key");
    let console = Console::bind(config, channels.clone(), sys.clock.clone(), sys.calendar.clone()).await.expect("the console starts");
    let base = format!("http://{}", console.local_addr());
    let stop = tokio_util::sync::CancellationToken::new();
    let served = console.serve(stop.clone());

    let mut clients = Vec::new();
    for dev in &officers {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("an HTTP client");
        let cookie = sign_in(&http, &base, &dev.id).await;
        let officer = Officer { id: dev.id.clone(), name: dev.name.clone(), organ: dev.organ.clone(), division: dev.division.clone(), roles: dev.roles.clone() };
        let session = Session { officer, csrf: String::new(), exp: Utc::now().timestamp() + 8 * 3600, via: "dev".into() };
        clients.push(Client { session, cookie, http });
    }
    let bench = Arc::new(Bench { base, channels, tokens, clients, cases });
    println!("console at {}; {} officers signed in", bench.base, bench.clients.len());

    // What the pages hold (warm-up, not measured).
    let mut content = Vec::new();
    for page in [Page::Work, Page::Case] {
        let mut warm_pages = Series::new(page, Method::Page, setting.concurrency);
        let mut warm_calls = Series::new(page, Method::Calls, setting.concurrency);
        phase(&bench, page, Method::Page, setting.concurrency, setting.warmup.max(1), 0, Some(&mut warm_pages)).await;
        phase(&bench, page, Method::Calls, setting.concurrency, setting.warmup.max(1), 0, Some(&mut warm_calls)).await;
        let (p, c) = (warm_pages.row(), warm_calls.row());
        let text = match page {
            Page::Work => format!("My work lists {:.0} tasks per officer ({:.0} KB of HTML)", c.mean_size, p.mean_size / 1024.0),
            Page::Case => format!("a Case page is {:.0} KB of HTML ({:.1} cards per case)", p.mean_size / 1024.0, c.mean_size),
        };
        println!("{text}");
        content.push(text);
    }
    let content = format!("{}.", content.join("; "));

    let mut rows = Vec::new();
    for page in [Page::Work, Page::Case] {
        rows.push(measure(&bench, page, setting.concurrency, setting.requests, setting.rounds).await);
        if setting.single > 0 && setting.concurrency > 1 {
            rows.push(measure(&bench, page, 1, setting.single, 2).await);
        }
    }
    let section = render(&setting, &rows, &content);
    println!("\n{section}\n");
    write_section(&section, doc).expect("docs/benchmarks.md is written");

    stop.cancel();
    let _ = served.await;
    drop(peers);
    sys.stop().await;
    println!("done in {:.1} s", started.elapsed().as_secs_f64());
}
