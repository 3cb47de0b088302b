//! Event backbone benchmark, in one run on a local stack (real nats-server
//! with file storage, real PostgreSQL with fsync on):
//!
//! - floor 1: raw PostgreSQL `INSERT` + `UPDATE` transactions/s;
//! - floor 2: raw JetStream acked publishes/s;
//! - the pipeline: outbox commit → relay → JetStream ack → consumer applied
//!   (inbox transaction committed), events/s and p50/p99 latency, at 1 and 16
//!   concurrent writers, then p99 at half the 16-writer load.
//!
//! Run: `cargo bench -p yuetan-platform --bench pipeline`. Prints a table and
//! writes it into `docs/benchmarks.md` between this bench's markers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use hdrhistogram::Histogram;
use sqlx::PgConnection;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use yuetan_platform::bus::Bus;
use yuetan_platform::config::{ConsumerConfig, NatsConfig};
use yuetan_platform::consumer::{Consumer, ConsumerSpec, Delivery, Handler, HandlerError};
use yuetan_platform::db;
use yuetan_platform::outbox::{NewEvent, Outbox, Relay};
use yuetan_proto::events::{event::Payload, PlatformPing};
use yuetan_testkit::{Durability, Stack};

const PHASE: Duration = Duration::from_secs(6);

#[derive(Debug, Clone)]
struct Row {
    what: String,
    clients: usize,
    per_second: f64,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let stack = Stack::start(Durability::Durable).await?;
    let url = stack.fresh_database().await?;
    let mut rows = Vec::new();
    // BENCH_DIAG=1: only the 16-writer pipeline, printing where events wait.
    if std::env::var_os("BENCH_DIAG").is_some() {
        let row = pipeline(&stack, &url, 16, None).await?;
        println!("{row:?}");
        return Ok(());
    }

    for clients in [1, 16] {
        rows.push(pg_floor(&url, clients).await?);
    }
    for clients in [1, 16] {
        rows.push(jetstream_floor(&stack, clients).await?);
    }
    for clients in [1, 16] {
        rows.push(pipeline(&stack, &url, clients, None).await?);
    }
    let full = rows.last().map(|r| r.per_second).unwrap_or(0.0);
    let half = full / 2.0;
    rows.push(pipeline(&stack, &url, 16, Some(half)).await?);

    let slower_floor_16 = rows
        .iter()
        .filter(|r| r.clients == 16 && r.what.starts_with("floor"))
        .map(|r| r.per_second)
        .fold(f64::INFINITY, f64::min);
    let table = render(&rows, slower_floor_16, full);
    println!("{table}");
    write_results(&table)?;
    Ok(())
}

/// Runs `op` back to back from `clients` tasks for one phase; returns the
/// rate and the latency histogram (µs).
async fn closed_loop<F, Fut>(clients: usize, op: F) -> anyhow::Result<(f64, Histogram<u64>)>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let histogram = Arc::new(Mutex::new(Histogram::<u64>::new(3)?));
    let count = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + PHASE;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let op = op.clone();
        let histogram = histogram.clone();
        let count = count.clone();
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let t = Instant::now();
                op().await?;
                histogram.lock().unwrap().record(t.elapsed().as_micros() as u64).ok();
                count.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let rate = count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    let histogram = histogram.lock().unwrap().clone();
    Ok((rate, histogram))
}

fn row(what: &str, clients: usize, (per_second, histogram): (f64, Histogram<u64>)) -> Row {
    Row {
        what: what.into(),
        clients,
        per_second,
        p50_ms: Some(histogram.value_at_quantile(0.5) as f64 / 1000.0),
        p99_ms: Some(histogram.value_at_quantile(0.99) as f64 / 1000.0),
    }
}

async fn pg_floor(url: &str, clients: usize) -> anyhow::Result<Row> {
    let pool = db::connect(url, "bench_floor", (clients + 2) as u32).await?;
    sqlx::raw_sql("CREATE TABLE IF NOT EXISTS floor_rows (id UUID PRIMARY KEY, body BYTEA NOT NULL, done BOOLEAN NOT NULL DEFAULT false)")
        .execute(&pool)
        .await?;
    let measured = closed_loop(clients, move || {
        let pool = pool.clone();
        async move {
            let id = Uuid::now_v7();
            let mut tx = pool.begin().await?;
            sqlx::query("INSERT INTO floor_rows (id, body) VALUES ($1, $2)").bind(id).bind(vec![7u8; 200]).execute(&mut *tx).await?;
            sqlx::query("UPDATE floor_rows SET done = true WHERE id = $1").bind(id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        }
    })
    .await?;
    Ok(row("floor: PostgreSQL INSERT+UPDATE tx", clients, measured))
}

async fn jetstream_floor(stack: &Stack, clients: usize) -> anyhow::Result<Row> {
    let nats = nats_config(stack);
    let bus = Bus::connect(&nats).await?;
    let subject = format!("{}.62.01.02.bench.floor", nats.subject_prefix);
    let measured = closed_loop(clients, move || {
        let bus = bus.clone();
        let subject = subject.clone();
        async move {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", Uuid::now_v7().to_string().as_str());
            bus.jetstream.publish_with_headers(subject, headers, vec![7u8; 200].into()).await?.await?;
            Ok(())
        }
    })
    .await?;
    Ok(row("floor: JetStream acked publish", clients, measured))
}

fn nats_config(stack: &Stack) -> NatsConfig {
    let unique = stack.unique_name("");
    NatsConfig {
        url: stack.nats_url.clone().into(),
        stream: format!("B{unique}"),
        subject_prefix: format!("b{unique}.ev"),
        replicas: 1,
        duplicate_window_secs: 120,
    }
}

/// Records when each event's consumer transaction committed.
struct Applied {
    at: Mutex<HashMap<Uuid, Instant>>,
    count: AtomicU64,
}

impl Handler for Applied {
    async fn handle(&self, conn: &mut PgConnection, delivery: &Delivery) -> Result<(), HandlerError> {
        sqlx::query("INSERT INTO applied (event_id) VALUES ($1)").bind(delivery.event_id).execute(&mut *conn).await?;
        Ok(())
    }

    fn after_commit(&self, delivery: &Delivery) {
        self.at.lock().unwrap().insert(delivery.event_id, Instant::now());
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

/// The whole pipeline. `rate`: None = as fast as the writers go (closed
/// loop); Some(r) = r events/s in total, paced (open loop).
async fn pipeline(stack: &Stack, url: &str, writers: usize, rate: Option<f64>) -> anyhow::Result<Row> {
    let producer_schema = format!("bench_out_{}", Uuid::now_v7().simple());
    let consumer_schema = format!("bench_in_{}", Uuid::now_v7().simple());
    let producer = db::connect(url, &producer_schema, (writers + 4) as u32).await?;
    db::migrate(&producer, db::platform_migrations()).await?;
    sqlx::raw_sql("CREATE TABLE cases (id UUID PRIMARY KEY, version BIGINT NOT NULL)").execute(&producer).await?;
    let consumer_pool = db::connect(url, &consumer_schema, 20).await?;
    db::migrate(&consumer_pool, db::platform_migrations()).await?;
    sqlx::raw_sql("CREATE TABLE applied (event_id UUID PRIMARY KEY)").execute(&consumer_pool).await?;

    let nats = nats_config(stack);
    let bus = Bus::connect(&nats).await?;
    let shutdown = CancellationToken::new();
    let relay = Relay::new(producer.clone(), bus.clone(), producer_schema.clone(), 256, Duration::from_secs(1));
    let relay_task = tokio::spawn(relay.run(shutdown.clone()));
    let applied = Arc::new(Applied { at: Mutex::new(HashMap::new()), count: AtomicU64::new(0) });
    let consumer = Consumer::new(
        consumer_pool.clone(),
        bus.clone(),
        ConsumerConfig {
            lanes: std::env::var("BENCH_LANES").ok().and_then(|v| v.parse().ok()).unwrap_or(ConsumerConfig::default().lanes),
            ..ConsumerConfig::default()
        },
        ConsumerSpec::new("bench", vec![format!("{}.>", nats.subject_prefix)]),
    );
    let consumer_task = tokio::spawn(consumer.run(applied.clone(), shutdown.clone()));
    if std::env::var_os("BENCH_DIAG").is_some() {
        let (producer, bus, applied, shutdown) = (producer.clone(), bus.clone(), applied.clone(), shutdown.clone());
        tokio::spawn(async move {
            while !shutdown.is_cancelled() {
                let unsent: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox").fetch_one(&producer).await.unwrap_or(-1);
                let (pending, ack_pending) = match bus.jetstream.get_stream(&bus.stream).await {
                    Ok(stream) => match stream.get_consumer::<async_nats::jetstream::consumer::pull::Config>("bench").await {
                        Ok(mut c) => c.info().await.map(|i| (i.num_pending, i.num_ack_pending)).unwrap_or((0, 0)),
                        Err(_) => (0, 0),
                    },
                    Err(_) => (0, 0),
                };
                println!("diag: outbox unsent {unsent} | consumer pending {pending} ack_pending {ack_pending} | applied {}", applied.count.load(Ordering::Relaxed));
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let committed: Arc<Mutex<HashMap<Uuid, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
    let outbox = Outbox::new(nats.subject_prefix.clone(), "bench");
    let deadline = Instant::now() + PHASE;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let producer = producer.clone();
        let outbox = outbox.clone();
        let committed = committed.clone();
        let pace = rate.map(|r| Duration::from_secs_f64(writers as f64 / r));
        tasks.push(tokio::spawn(async move {
            let mut ticker = pace.map(|p| {
                let mut t = tokio::time::interval(p);
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                t
            });
            while Instant::now() < deadline {
                if let Some(ticker) = ticker.as_mut() {
                    ticker.tick().await;
                }
                let case_id = Uuid::now_v7();
                let mut tx = producer.begin().await?;
                sqlx::query("INSERT INTO cases (id, version) VALUES ($1, 1)").bind(case_id).execute(&mut *tx).await?;
                let event = outbox
                    .write(
                        &mut tx,
                        NewEvent {
                            event_type: "bench.case_opened".into(),
                            case_id: Some(case_id),
                            case_version: 1,
                            jurisdiction: "620102".into(),
                            organ: "620102-SJ".into(),
                            actor: None,
                            correlation_id: None,
                            causation_id: None,
                            payload: Payload::PlatformPing(PlatformPing { note: "bench".into(), seq: 1 }),
                        },
                        Utc::now(),
                    )
                    .await?;
                tx.commit().await?;
                committed.lock().unwrap().insert(Uuid::parse_str(&event.id)?, Instant::now());
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let total = committed.lock().unwrap().len() as u64;
    let drain_deadline = Instant::now() + Duration::from_secs(60);
    while applied.count.load(Ordering::Relaxed) < total && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    shutdown.cancel();
    let _ = relay_task.await;
    let _ = consumer_task.await;

    let mut histogram = Histogram::<u64>::new(3)?;
    let committed = committed.lock().unwrap();
    let applied_at = applied.at.lock().unwrap();
    for (id, at) in committed.iter() {
        if let Some(done) = applied_at.get(id) {
            histogram.record(done.saturating_duration_since(*at).as_micros() as u64).ok();
        }
    }
    let done = applied.count.load(Ordering::Relaxed);
    anyhow::ensure!(done == total, "only {done} of {total} events applied");
    let what = match rate {
        None => "pipeline: commit → applied (max)".to_string(),
        Some(r) => format!("pipeline: commit → applied at {r:.0}/s (half load)"),
    };
    Ok(row(&what, writers, (total as f64 / elapsed, histogram)))
}

fn render(rows: &[Row], slower_floor_16: f64, full: f64) -> String {
    let mut out = String::new();
    out.push_str("| measurement | concurrent clients | per second | p50 ms | p99 ms |\n|---|---:|---:|---:|---:|\n");
    for row in rows {
        let ms = |v: Option<f64>| v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "–".into());
        out.push_str(&format!(
            "| {} | {} | {:.0} | {} | {} |\n",
            row.what,
            row.clients,
            row.per_second,
            ms(row.p50_ms),
            ms(row.p99_ms)
        ));
    }
    let half_p99 = rows.last().and_then(|r| r.p99_ms).unwrap_or(f64::NAN);
    out.push_str(&format!(
        "\nTarget: pipeline ≥ half the slower floor at 16 clients ({:.0}/s ≥ {:.0}/s: {}); p99 commit → applied at half load < 20 ms ({half_p99:.2} ms: {}).\n",
        full,
        slower_floor_16 / 2.0,
        if full >= slower_floor_16 / 2.0 { "met" } else { "NOT met" },
        if half_p99 < 20.0 { "met" } else { "NOT met" },
    ));
    out
}

fn write_results(table: &str) -> anyhow::Result<()> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/benchmarks.md");
    let start = "<!-- bench:pipeline:start -->";
    let end = "<!-- bench:pipeline:end -->";
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_default();
    let section = format!(
        "{start}\n## Event backbone (outbox → JetStream → consumer)\n\nCommand: `cargo bench -p yuetan-platform --bench pipeline`  \nRun: {} on {} ({} cores); PostgreSQL with fsync on, nats-server with file storage, both local; each phase {} s.\n\n{table}{end}",
        Utc::now().format("%Y-%m-%d %H:%M UTC"),
        if cpu.is_empty() { "this machine".to_string() } else { cpu },
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        PHASE.as_secs(),
    );
    let existing = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n\nFigures measured on the project's machine; each section names the command that produced it.\n".to_string());
    let updated = match (existing.find(start), existing.find(end)) {
        (Some(a), Some(b)) if b > a => format!("{}{section}{}", &existing[..a], &existing[b + end.len()..]),
        _ => format!("{}\n{section}\n", existing.trim_end()),
    };
    std::fs::write(&path, updated)?;
    println!("wrote {}", path.display());
    Ok(())
}
