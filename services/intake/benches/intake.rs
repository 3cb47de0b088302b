//! Intake benchmark (issue 3): `RegisterClue` and `VerifyClue` over gRPC,
//! throughput and p50/p99 latency at 1, 16 and 64 concurrent clients,
//! beside the floor measured in the same run on the same servers: one tonic
//! RPC (same auth interceptor) doing one PostgreSQL transaction (one INSERT).
//! PostgreSQL runs with fsync on, nats-server with file storage.
//!
//! Run: `cargo bench -p yuetan-intake --bench intake`. Prints a table and
//! writes it into `docs/benchmarks.md` between this bench's markers.
//! `BENCH_PHASE_SECS=N` changes the phase length (default 5).
//! `BENCH_STATEMENTS=1 YUETAN_TEST_PG_SETTINGS=shared_preload_libraries=pg_stat_statements`
//! also prints the statements that took the most database time.
//!
//! Calls spread over 64 organs of one county, round robin (RegisterClue) and
//! at random (VerifyClue): a province's load comes from many organs, and
//! each organ's case numbers are one gap-free sequence that its openings
//! take in turn (R-DOC-2).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use hdrhistogram::Histogram;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tonic::Request;
use yuetan_platform::db;
use yuetan_proto::intake as pb;
use yuetan_proto::platform::WhoAmIRequest;
use yuetan_harness::intake::{clue, credit_code, enterprise, verification};
use yuetan_harness::{Officer, Polls, Service, System};
use yuetan_testkit::{Durability, Stack};

const LOADS: [usize; 3] = [1, 16, 64];

#[derive(Debug, Clone)]
struct Row {
    what: &'static str,
    clients: usize,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn phase() -> Duration {
    let secs = std::env::var("BENCH_PHASE_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    Duration::from_secs(secs)
}

/// Runs `clients` loops of `call` for one phase; returns throughput and latencies.
async fn measure<F, Fut>(what: &'static str, clients: usize, call: F) -> anyhow::Result<Row>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<bool>> + Send,
{
    let call = Arc::new(call);
    let histogram = Arc::new(Mutex::new(Histogram::<u64>::new(3)?));
    let warmup = Duration::from_millis(500);
    let started = Instant::now();
    let measured_from = started + warmup;
    let until = measured_from + phase();
    let mut tasks = Vec::new();
    for client in 0..clients {
        let (call, histogram) = (call.clone(), histogram.clone());
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            while Instant::now() < until {
                let t0 = Instant::now();
                if !call(client).await? {
                    break; // out of work
                }
                if t0 >= measured_from {
                    histogram.lock().unwrap().record(t0.elapsed().as_micros() as u64).ok();
                    done += 1;
                }
            }
            anyhow::Ok(done)
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    let elapsed = Instant::now().saturating_duration_since(measured_from).as_secs_f64().max(0.001);
    let h = histogram.lock().unwrap();
    let row = Row {
        what,
        clients,
        per_second: total as f64 / elapsed,
        p50_ms: h.value_at_quantile(0.50) as f64 / 1000.0,
        p99_ms: h.value_at_quantile(0.99) as f64 / 1000.0,
    };
    println!("{:<40} {:>3} clients {:>8.0}/s p50 {:>7.2} ms p99 {:>7.2} ms", row.what, row.clients, row.per_second, row.p50_ms, row.p99_ms);
    Ok(row)
}

/// Adds one bearer token to each request, as a real client reuses its token.
#[derive(Clone)]
struct Authed(tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl Authed {
    fn wrap<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request.metadata_mut().insert("authorization", self.0.clone());
        request
    }
}

/// Organs of the benchmark: calls spread over them round robin, as a
/// province's load comes from many organs (each organ's case numbers are
/// one gap-free sequence, R-DOC-2, so one organ's openings take turns).
const ORGANS: usize = 64;
const PARTIES: usize = 40_000;
/// Clues registered before the VerifyClue phases, beside those of the RegisterClue phases.
const PREFILL_CLUES: usize = 12_000;

/// Document codes without digits: 兰城 + two of the ten heavenly stems.
fn document_code(i: usize) -> String {
    const STEMS: [char; 10] = ['甲', '乙', '丙', '丁', '戊', '己', '庚', '辛', '壬', '癸'];
    format!("兰城{}{}", STEMS[i / 10 % 10], STEMS[i % 10])
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let stack = Stack::start(Durability::Durable).await?;
    let h = System::builder().with(Service::Intake).polls(Polls::Production).start_on(&stack).await;
    let mut officers = Vec::new();
    for i in 0..ORGANS {
        let organ = format!("620102-B{i:02}");
        h.put_organ(&organ, "620102", &document_code(i)).await;
        let officer = Officer::new(&format!("bench-officer-{i}"), &organ, "620102", &["case_officer", "section_chief"]);
        officers.push(Authed(format!("Bearer {}", officer.token()).parse()?));
    }
    let officers = Arc::new(officers);
    let shutdown = CancellationToken::new();
    let floor = yuetan_harness::floor::start(&h.owner_database_url, &h.config.auth, 80, shutdown.clone()).await;

    // Parties: one per clue, so every verification is a first offence and
    // opens a numbered case (the full path), and no two calls share a party.
    let parties: Arc<Vec<String>> = {
        let next = Arc::new(AtomicUsize::new(0));
        let out = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let (next, out, mut client, authed) = (next.clone(), out.clone(), h.intake(), officers[0].clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let serial = next.fetch_add(1, Ordering::Relaxed);
                    if serial >= PARTIES {
                        break;
                    }
                    let party = enterprise("基准测试企业", &credit_code("620102", serial as u32));
                    let answer = client
                        .register_party(authed.wrap(pb::RegisterPartyRequest { request_id: String::new(), party: Some(party) }))
                        .await?
                        .into_inner();
                    out.lock().unwrap().push(answer.party.unwrap().id);
                }
                anyhow::Ok(())
            }));
        }
        for task in tasks {
            task.await??;
        }
        let parties = out.lock().unwrap().clone();
        Arc::new(parties)
    };
    println!("set up {} organs, {} parties", ORGANS, parties.len());

    let mut rows = Vec::new();
    for clients in LOADS {
        let (floor, authed) = (floor.clone(), officers[0].clone());
        rows.push(
            measure("floor: tonic RPC + one PostgreSQL tx", clients, move |_| {
                let (floor, request) = (floor.clone(), authed.wrap(WhoAmIRequest {}));
                async move {
                    yuetan_harness::floor::call(&floor, request).await?;
                    Ok(true)
                }
            })
            .await?,
        );
    }
    // Registered clues as (organ index, clue id): verified by an officer of that organ.
    let clues = Arc::new(Mutex::new(Vec::<(usize, String)>::new()));
    let next_party = Arc::new(AtomicUsize::new(0));
    let register = {
        let (channel, officers, clues, parties, next_party) =
            (h.channel(Service::Intake), officers.clone(), clues.clone(), parties.clone(), next_party.clone());
        Arc::new(move |_client: usize| {
            let mut client = pb::intake_service_client::IntakeServiceClient::new(channel.clone());
            let index = next_party.fetch_add(1, Ordering::Relaxed);
            let party = parties.get(index).cloned();
            let organ = index % ORGANS;
            let (authed, clues) = (officers[organ].clone(), clues.clone());
            async move {
                let Some(party) = party else { return Ok(false) };
                let answer = client.register_clue(authed.wrap(clue(&party, "SJ-ANNUAL-REPORT"))).await?.into_inner();
                clues.lock().unwrap().push((organ, answer.id));
                Ok(true)
            }
        })
    };
    for clients in LOADS {
        let register = register.clone();
        rows.push(measure("RegisterClue", clients, move |c| register(c)).await?);
    }
    // Top up the clues the VerifyClue phases will use (not measured).
    let prefill: Vec<_> = (0..32)
        .map(|c| {
            let (register, clues) = (register.clone(), clues.clone());
            tokio::spawn(async move {
                while clues.lock().unwrap().len() < PREFILL_CLUES {
                    if !register(c).await? {
                        break;
                    }
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in prefill {
        task.await??;
    }
    clues.lock().unwrap().sort_by_key(|(organ, _)| *organ);
    let registered = clues.lock().unwrap().len();
    for clients in LOADS {
        let (channel, officers, clues) = (h.channel(Service::Intake), officers.clone(), clues.clone());
        rows.push(
            measure("VerifyClue (opens a numbered case)", clients, move |_| {
                let mut client = pb::intake_service_client::IntakeServiceClient::new(channel.clone());
                let next = {
                    // Any clue, at random, so the load spreads over organs.
                    let mut clues = clues.lock().unwrap();
                    let n = clues.len();
                    (n > 0).then(|| clues.swap_remove(rand::random::<usize>() % n))
                };
                let officers = officers.clone();
                async move {
                    let Some((organ, id)) = next else { return Ok(false) };
                    let answer = client.verify_clue(officers[organ].wrap(verification(&id))).await?.into_inner();
                    anyhow::ensure!(answer.outcome == pb::Outcome::Eligible as i32, "a verification was not eligible");
                    Ok(true)
                }
            })
            .await?,
        );
    }
    println!("{registered} clues registered, {} left unverified", clues.lock().unwrap().len());
    if std::env::var_os("BENCH_STATEMENTS").is_some() {
        // The extension is the superuser's to create; the services' runtime role may not.
        let admin = db::connect(&h.admin_database_url, "bench_floor", 2).await?;
        print_statements(&admin).await?;
    }
    shutdown.cancel();

    let table = render(&rows);
    print!("{table}");
    write_results(&table)?;
    h.stop().await;
    Ok(())
}

/// `BENCH_STATEMENTS=1` with
/// `YUETAN_TEST_PG_SETTINGS=shared_preload_libraries=pg_stat_statements`:
/// the statements that took the most database time, to see where it goes.
async fn print_statements(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements").execute(pool).await?;
    let rows: Vec<(String, i64, f64)> = sqlx::query_as(
        "SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 120), calls, total_exec_time
         FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 12",
    )
    .fetch_all(pool)
    .await?;
    for (query, calls, total_ms) in rows {
        println!("{total_ms:>10.0} ms {calls:>8} calls  {query}");
    }
    Ok(())
}

fn render(rows: &[Row]) -> String {
    let mut out = String::from("| measurement | concurrent clients | per second | p50 ms | p99 ms | p99 ÷ floor p99 |\n|---|---:|---:|---:|---:|---:|\n");
    let floor_p99 = |clients: usize| rows.iter().find(|r| r.clients == clients && r.what.starts_with("floor")).map(|r| r.p99_ms);
    let mut met = true;
    for row in rows {
        let ratio = if row.what.starts_with("floor") {
            "–".to_string()
        } else {
            let ratio = floor_p99(row.clients).map(|f| row.p99_ms / f).unwrap_or(f64::NAN);
            met &= ratio <= 2.0;
            format!("{ratio:.2}")
        };
        out.push_str(&format!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {} |\n",
            row.what, row.clients, row.per_second, row.p50_ms, row.p99_ms, ratio
        ));
    }
    out.push_str(&format!(
        "\nTarget: p99 within twice the floor's p99 at the same load: {}.\n",
        if met { "met at every load" } else { "NOT met at every load (see the ratio column)" }
    ));
    out
}

fn write_results(table: &str) -> anyhow::Result<()> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/benchmarks.md");
    let start = "<!-- bench:intake:start -->";
    let end = "<!-- bench:intake:end -->";
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_default();
    let section = format!(
        "{start}\n## Intake RPCs (RegisterClue, VerifyClue) beside the RPC + transaction floor\n\nCommand: `cargo bench -p yuetan-intake --bench intake`  \nRun: {} on {} ({} cores); PostgreSQL with fsync on, nats-server with file storage, service and clients in one process over loopback gRPC; calls spread over 64 organs; each phase {} s after 0.5 s warm-up.\n\n{table}{end}",
        Utc::now().format("%Y-%m-%d %H:%M UTC"),
        if cpu.is_empty() { "this machine".to_string() } else { cpu },
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        phase().as_secs(),
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
