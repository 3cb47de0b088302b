//! `yuetan-chaos`: the fault-injection run (issue 14). Starts the split
//! deployment as child processes, drives lifecycles concurrently, and
//! meanwhile SIGKILLs random service processes (restarting them), lets
//! relays abort between publish and mark (YUETAN_FAULT_RELAY_ABORT),
//! restarts PostgreSQL and NATS and publishes poison events; then waits for
//! quiet and checks the invariants (tests/chaos/src/check.rs). Exit 1 on any
//! breach. `deploy/local/chaos.sh` builds and runs it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use yuetan_chaos::check::{self, RunRecord};
use yuetan_chaos::deployment::{Deployment, Options};
use yuetan_chaos::lifecycle::{Driver, Outcome, Progress, Stage, Tokens};
use yuetan_chaos::scrape::{Figures, Scraper, Target};

#[derive(Debug, Parser)]
#[command(name = "yuetan-chaos", about = "Fault injection against the split deployment; checks the invariants")]
struct Args {
    /// The CI form: about 3 minutes of faults, at least 10 kills.
    #[arg(long)]
    short: bool,
    /// The long form: at least 100 kills across all services.
    #[arg(long)]
    long: bool,
    /// Three clustered nats-servers (stream replicas 3); kills the stream leader under load.
    #[arg(long)]
    cluster: bool,
    /// The RNG seed (printed; random when absent).
    #[arg(long)]
    seed: Option<u64>,
    /// Seconds of faults (overrides the form's).
    #[arg(long)]
    duration: Option<u64>,
    /// Lifecycles driven at once.
    #[arg(long)]
    concurrency: Option<usize>,
    /// The `yuetan` binary.
    #[arg(long, default_value = "target/debug/yuetan")]
    yuetan: PathBuf,
    /// The base configuration.
    #[arg(long, default_value = "deploy/local/yuetan.toml")]
    config: PathBuf,
    /// Keep the temporary folder (logs, data) afterwards.
    #[arg(long)]
    keep: bool,
    /// Write the result as Markdown to this file.
    #[arg(long)]
    report: Option<PathBuf>,
}

/// One second's sample.
#[derive(Debug, Clone)]
struct Sample {
    /// Since the start of the faults' clock.
    at: Duration,
    /// The processes' own `/metrics`, aggregated (tests/chaos/src/scrape.rs).
    metrics: Figures,
    /// The cross-check: rows in every schema's outbox (SQL; None: unreadable).
    sql_backlog: Option<i64>,
    /// The cross-check: JetStream `num_pending + num_ack_pending` over every consumer.
    js_lag: Option<i64>,
}

/// How often each process's collector reads the database and JetStream
/// gauges in this run (the default, 5 s, is coarser than the sampler).
const COLLECT_INTERVAL_SECS: &str = "1";
/// The level a fault's backlog may drain back to under continuing load: the
/// highest of the samples this long before the fault.
const PRE_FAULT: Duration = Duration::from_secs(10);

/// One injected fault and how the system came back.
#[derive(Debug, Clone)]
struct Fault {
    at: Duration,
    what: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("yuetan-chaos: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn tracing_init() {
    let _ = tracing::subscriber::set_global_default(
        tracing_subscriber_fmt(),
    );
}

fn tracing_subscriber_fmt() -> impl tracing::Subscriber + Send + Sync {
    tracing_subscriber::fmt().with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into())).finish()
}

async fn run(args: Args) -> Result<bool> {
    let seed = args.seed.unwrap_or_else(rand::random);
    let mode = if args.long { "long" } else if args.short { "short" } else { "default" };
    let (duration, kill_every, concurrency) = match mode {
        "long" => (600, (1.5, 4.0), 6),
        _ => (150, (4.0, 9.0), 3),
    };
    let duration = Duration::from_secs(args.duration.unwrap_or(duration));
    let concurrency = args.concurrency.unwrap_or(concurrency);
    println!("yuetan-chaos: seed {seed} (rerun with --seed {seed}), mode {mode}{}, faults for {duration:?}, {concurrency} lifecycles at once", if args.cluster { " --cluster" } else { "" });
    let mut rng = StdRng::seed_from_u64(seed);
    let command = std::env::args().collect::<Vec<_>>().join(" ");

    let started = Instant::now();
    let mut deployment = Deployment::start(Options {
        yuetan_bin: std::fs::canonicalize(&args.yuetan).with_context(|| format!("{} (build it first)", args.yuetan.display()))?,
        config_file: std::fs::canonicalize(&args.config)?,
        replicas: 2,
        relay_abort: 0.02,
        cluster: args.cluster,
        extra_env: vec![("YUETAN_METRICS__COLLECT_INTERVAL_SECS".into(), COLLECT_INTERVAL_SECS.into())],
        keep: args.keep,
    })
    .await?;
    println!("deployment: {} processes listening after {:.1?} (folder {})", deployment.names().len(), started.elapsed(), deployment.root.display());
    deployment.supervise();

    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(4).connect_lazy(&deployment.admin_url)?;
    let js = check::jetstream(&deployment).await?;
    let stream_name = deployment.config.nats.stream.clone();
    let prefix = deployment.config.nats.subject_prefix.clone();
    if args.cluster {
        let mut s = js.get_stream(&stream_name).await?;
        let info = s.info().await?;
        println!("stream {stream_name}: {} replicas, leader {:?}, replicas {:?}", info.config.num_replicas,
            info.cluster.as_ref().and_then(|c| c.leader.clone()),
            info.cluster.as_ref().map(|c| c.replicas.iter().map(|r| r.name.clone()).collect::<Vec<_>>()).unwrap_or_default());
        anyhow::ensure!(info.config.num_replicas == 3, "the stream has {} replicas, not 3", info.config.num_replicas);
    }

    let tokens = Tokens::from_config(&deployment.config)?;
    let mut driver = Driver::new(deployment.routed()?, tokens, vec![deployment.portal_base.clone()], None, rng.gen_range(0..900_000));
    driver.sms = Some(deployment.sms.clone());
    driver.egov = Some(deployment.egov.clone());
    let driver = Arc::new(driver);
    driver.setup().await.context("registering the organ")?;

    // The load: `concurrency` lifecycles at a time until the faults end.
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU32::new(0));
    let progress: Arc<Mutex<Vec<Arc<Mutex<Progress>>>>> = Arc::default();
    let failures: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (driver, stop, next, progress, failures) = (driver.clone(), stop.clone(), next.clone(), progress.clone(), failures.clone());
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let mine = Arc::new(Mutex::new(Progress::default()));
                progress.lock().unwrap().push(mine.clone());
                if let Err(err) = driver.lifecycle(index, &mine).await {
                    failures.lock().unwrap().push(format!("lifecycle {index}: {err:#}"));
                }
            }
        }));
    }

    // The backlog sampler, every second: every live process's /metrics
    // (outbox backlog, consumer lag, dead letters), and beside it the same
    // figures read directly (SQL, the JetStream API) as the cross-check.
    let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
    let t0 = Instant::now();
    let sampler = {
        let (pool, js, samples, stream_name, procs) = (pool.clone(), js.clone(), samples.clone(), stream_name.clone(), deployment.procs.clone());
        let scraper = Scraper::new(Duration::from_millis(800))?;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let at = t0.elapsed();
                let targets: Vec<Target> = procs.lock().unwrap().iter().map(|p| Target {
                    name: p.name.clone(),
                    service: p.service.clone(),
                    metrics_port: p.metrics_port,
                    live: p.pid().is_some(),
                }).collect();
                let (metrics, sql_backlog, js_lag) = tokio::join!(
                    scraper.scrape(&targets),
                    async { tokio::time::timeout(Duration::from_secs(2), check::outbox_backlog(&pool)).await.ok().and_then(|r| r.ok()).map(|b| b.values().sum()) },
                    async { tokio::time::timeout(Duration::from_secs(2), check::consumer_lag(&js, &stream_name)).await.ok().and_then(|r| r.ok()).map(|l| l.values().sum::<u64>() as i64) },
                );
                samples.lock().unwrap().push(Sample { at, metrics, sql_backlog, js_lag });
            }
        })
    };

    // The faults.
    let mut faults: Vec<Fault> = Vec::new();
    let mut kills: BTreeMap<String, u32> = BTreeMap::new();
    let mut poison: Vec<u64> = Vec::new();
    let names = deployment.names();
    let pg_at = duration.mul_f64(0.4);
    let nats_at = duration.mul_f64(0.7);
    let (mut pg_done, mut nats_done) = (false, false);
    // --cluster: the stream leader is killed three times under load.
    let leader_kills_at = [duration.mul_f64(0.25), duration.mul_f64(0.55), duration.mul_f64(0.85)];
    let mut next_leader_kill = 0;
    let mut leader_resumes: Vec<Option<Duration>> = Vec::new();
    let fault_start = Instant::now();
    // Poison events first: malformed payloads with valid subjects, straight to the stream.
    for i in 0..3 {
        let subject = yuetan_platform::bus::subject(&prefix, "620102", "intake.clue_registered")?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", uuid::Uuid::now_v7().to_string().as_str());
        headers.insert("ce-type", "intake.clue_registered");
        let ack = js.publish_with_headers(subject.clone(), headers, format!("\u{1}\u{2}poison {i}: not a protobuf event \u{ff}").into_bytes().into()).await?.await?;
        poison.push(ack.sequence);
        let at = t0.elapsed();
        println!("  {:>6.1}s poison event (seq {}) on {subject}", at.as_secs_f64(), ack.sequence);
        faults.push(Fault { at, what: format!("poison event (seq {})", ack.sequence) });
    }
    while fault_start.elapsed() < duration {
        let wait = rng.gen_range(kill_every.0..kill_every.1);
        tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        if !pg_done && fault_start.elapsed() >= pg_at {
            pg_done = true;
            let at = t0.elapsed();
            let down = deployment.restart_postgres().await?;
            println!("  {:>6.1}s restart PostgreSQL (fast shutdown, same data folder and port): back after {down:.1?}", at.as_secs_f64());
            faults.push(Fault { at, what: "restart PostgreSQL".into() });
            continue;
        }
        if args.cluster && next_leader_kill < leader_kills_at.len() && fault_start.elapsed() >= leader_kills_at[next_leader_kill] {
            next_leader_kill += 1;
            nats_done = true;
            let at = t0.elapsed();
            let (index, resumed) = kill_leader(&deployment, &js, &stream_name).await?;
            println!("  {:>6.1}s SIGKILL the stream leader nats-server {} (down 5 s): publishing resumed after {}", at.as_secs_f64(), index + 1,
                resumed.map(|r| format!("{r:.1?}")).unwrap_or_else(|| "NEVER (30 s)".into()));
            leader_resumes.push(resumed);
            faults.push(Fault { at, what: format!("SIGKILL stream leader nats-{}", index + 1) });
            continue;
        }
        if !args.cluster && !nats_done && fault_start.elapsed() >= nats_at {
            nats_done = true;
            let at = t0.elapsed();
            let down = deployment.restart_nats(0, Duration::from_millis(500)).await?;
            println!("  {:>6.1}s restart nats-server (SIGKILL, same store and port): back after {down:.1?}", at.as_secs_f64());
            faults.push(Fault { at, what: "restart nats-server".into() });
            continue;
        }
        let name = &names[rng.gen_range(0..names.len())];
        let down = Duration::from_millis(rng.gen_range(200..2000));
        let at = t0.elapsed();
        if let Some(pid) = deployment.kill(name, down) {
            *kills.entry(name.clone()).or_default() += 1;
            println!("  {:>6.1}s SIGKILL {name} (pid {pid}), restart in {down:.1?}", at.as_secs_f64());
            faults.push(Fault { at, what: format!("SIGKILL {name}") });
        }
    }
    let fault_end = t0.elapsed();
    println!("faults done after {:.1?}: finishing the lifecycles in flight", fault_start.elapsed());
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    deployment.wait_all_up(Duration::from_secs(120)).await?;
    let quiet = check::wait_for_quiet(&pool, &js, &stream_name, Duration::from_secs(240)).await;
    let quiet_after = t0.elapsed();
    let quiet_text = match &quiet {
        Ok(d) => format!("quiet {d:.1?} after the last lifecycle (outbox empty, every consumer caught up)"),
        Err(err) => format!("NOT QUIET: {err:#}"),
    };
    println!("{quiet_text}");
    // The processes' own gauges follow within a collection or two.
    let metrics_quiet = metrics_zero(&samples, quiet_after, Duration::from_secs(20)).await;
    sampler.abort();
    let metrics_quiet_text = match &metrics_quiet {
        Some(s) => format!("/metrics of every process: outbox backlog 0, consumer lag 0, {} open dead letters, {:.0} s after quiet", s.metrics.dead_letters(), s.at.saturating_sub(quiet_after).as_secs_f64()),
        None => {
            let last = samples.lock().unwrap().last().cloned();
            format!("/metrics did NOT read zero within 20 s of quiet (last: {})", last.map(|s| describe(&s.metrics)).unwrap_or_else(|| "no sample".into()))
        }
    };
    println!("{metrics_quiet_text}");

    // Relay aborts and other exits the run did not cause.
    let (mut aborts, mut other_exits, mut start_exits) = (0, Vec::new(), Vec::new());
    for p in deployment.procs.lock().unwrap().iter() {
        for exit in &p.start_exits {
            start_exits.push(format!("{}: {exit}", p.name));
        }
        for exit in &p.unexpected_exits {
            if exit.contains("SIGABRT") || exit.contains("signal: 6") {
                aborts += 1;
            } else {
                other_exits.push(format!("{}: {exit}", p.name));
            }
        }
    }

    let outcomes: Vec<(Outcome, Stage)> = progress.lock().unwrap().iter().map(|p| {
        let p = p.lock().unwrap();
        (p.outcome.clone(), p.stage)
    }).collect();
    let acks = driver.acks();
    let completed = outcomes.iter().filter(|(_, s)| *s == yuetan_chaos::lifecycle::FINAL).count();
    let approved = outcomes.iter().filter(|(_, s)| *s >= Stage::Approved).count();
    let failures = failures.lock().unwrap().clone();
    let record = RunRecord { acks: &acks, outcomes: &outcomes, poison: &poison, stream: &stream_name };
    let mut verdicts = check::invariants(&deployment, &pool, &js, &record).await?;
    verdicts.insert(0, check::Verdict { name: "quiet after the faults", ok: quiet.is_ok(), figure: quiet_text.clone() });
    verdicts.push(check::Verdict {
        name: "every lifecycle finished",
        ok: failures.is_empty(),
        figure: format!("{} started, {approved} reached approval, {completed} archived (clue to archive), {} failed{}", outcomes.len(), failures.len(), if failures.is_empty() { String::new() } else { format!(": {}", failures.iter().take(3).cloned().collect::<Vec<_>>().join("; ")) }),
    });
    if args.cluster {
        let worst = leader_resumes.iter().map(|r| r.unwrap_or(Duration::MAX)).max().unwrap_or(Duration::MAX);
        verdicts.push(check::Verdict {
            name: "publishing resumes within 10 s of a stream leader's death",
            ok: !leader_resumes.is_empty() && worst <= Duration::from_secs(10),
            figure: format!("{} leader kills; resumed after {}", leader_resumes.len(),
                leader_resumes.iter().map(|r| r.map(|d| format!("{:.1} s", d.as_secs_f64())).unwrap_or_else(|| "never".into())).collect::<Vec<_>>().join(", ")),
        });
    }
    verdicts.push(check::Verdict {
        name: "no process exited unless killed or aborted on purpose",
        ok: other_exits.is_empty(),
        figure: format!("{} relay aborts (YUETAN_FAULT_RELAY_ABORT=0.02 on each first replica), {} exits within 15 s of a start (a dependency down; restarted), {} other exits{}", aborts, start_exits.len(), other_exits.len(), if other_exits.is_empty() { String::new() } else { format!(": {}", other_exits.join("; ")) }),
    });

    // Each fault's peak backlog and lag (from /metrics; SQL/JetStream beside
    // them) and the time until they drained.
    let samples = samples.lock().unwrap().clone();
    let from_metrics: Vec<Point> = samples.iter().map(|s| Point { at: s.at, level: Some((s.metrics.backlog(), s.metrics.lag())), complete: s.metrics.complete() }).collect();
    let from_direct: Vec<Point> = samples.iter().map(|s| Point {
        at: s.at,
        level: s.sql_backlog.zip(s.js_lag),
        complete: s.sql_backlog.is_some() && s.js_lag.is_some(),
    }).collect();
    let mut recovery_lines = Vec::new();
    let (mut metric_recoveries, mut direct_recoveries) = (Vec::new(), Vec::new());
    for (i, f) in faults.iter().enumerate() {
        // The next fault at least a second later (the poison events come together).
        let until = faults.iter().skip(i + 1).map(|n| n.at).find(|t| *t > f.at + Duration::from_secs(1)).unwrap_or(quiet_after);
        let m = recovery(&from_metrics, f.at, until);
        let d = recovery(&from_direct, f.at, until);
        let dead_before = samples.iter().rev().find(|s| s.at < f.at && s.metrics.complete()).map(|s| s.metrics.dead_letters()).unwrap_or(0);
        let dead_after = samples.iter().filter(|s| s.at >= f.at && s.at <= until.max(f.at + Duration::from_secs(5))).map(|s| s.metrics.dead_letters()).max().unwrap_or(0);
        recovery_lines.push(format!(
            "{:>7.1}s {:<40} peak backlog {:>3}, lag {:>3}; {}{} | SQL/JetStream: peak {:>3}/{:>3}; {}",
            f.at.as_secs_f64(),
            f.what,
            m.peak.0,
            m.peak.1,
            m.text(),
            if dead_after > dead_before { format!("; dead letters +{}", dead_after - dead_before) } else { String::new() },
            d.peak.0,
            d.peak.1,
            d.text(),
        ));
        metric_recoveries.push((f, m));
        direct_recoveries.push(d);
    }
    let recovery_summary = {
        let drained: Vec<_> = metric_recoveries.iter().filter_map(|(f, r)| r.drained.map(|d| (f, d))).collect();
        let to_zero = drained.iter().filter(|(_, d)| d.zero).count();
        let longest = drained.iter().max_by_key(|(_, d)| d.after);
        let direct_drained: Vec<_> = direct_recoveries.iter().filter_map(|r| r.drained).collect();
        format!(
            "recovery (/metrics): {} of {} faults drained ({to_zero} to zero, {} to the pre-fault level under load){}; SQL/JetStream cross-check: {} of {} drained, longest {}",
            drained.len(),
            faults.len(),
            drained.len() - to_zero,
            longest.map(|(f, d)| format!(", longest {:.0} s ({} at {:.1}s)", d.after.as_secs_f64(), f.what, f.at.as_secs_f64())).unwrap_or_default(),
            direct_drained.len(),
            faults.len(),
            direct_drained.iter().map(|d| d.after).max().map(|d| format!("{:.0} s", d.as_secs_f64())).unwrap_or_else(|| "-".into()),
        )
    };

    let total_kills: u32 = kills.values().sum();
    println!("\n== faults and recovery");
    println!("(every second from each live process's GET /metrics: yuetan_outbox_backlog summed over schemas, yuetan_consumer_lag over consumers,");
    println!(" each series the max across a service's replicas; drained = back to zero, or while the load keeps them above zero back to at most");
    println!(" the highest level of the {} s before the fault; the SQL outbox count and JetStream num_pending + num_ack_pending are the cross-check)", PRE_FAULT.as_secs());
    for line in &recovery_lines {
        println!("{line}");
    }
    println!("{metrics_quiet_text}");
    println!("\n== summary");
    println!("seed {seed}; {total_kills} SIGKILLs ({}); {aborts} relay aborts; PostgreSQL restarts {}; NATS restarts {}; {} poison events",
        kills.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", "), u8::from(pg_done), u8::from(nats_done), poison.len());
    println!("lifecycles: {} started, {approved} reached approval, {completed} archived (clue to archive), {} failed; {} acknowledged calls, {} retried attempts", outcomes.len(), failures.len(), acks.len(), driver.retries());
    println!("faults for {:.0?}, total {:.0?}", fault_end, started.elapsed());
    println!("{recovery_summary}");
    println!("\n== invariants");
    let mut ok = true;
    for v in &verdicts {
        println!("{} {}: {}", if v.ok { "PASS" } else { "FAIL" }, v.name, v.figure);
        ok &= v.ok;
    }
    if total_kills < if args.long { 100 } else { 10 } {
        println!("FAIL kills: {total_kills}, fewer than the form requires");
        ok = false;
    }
    println!("\nyuetan-chaos: {}", if ok { "every invariant holds" } else { "BREACH" });

    if let Some(path) = &args.report {
        let mut md = String::new();
        md.push_str(&format!("Command: `{command}` (seed {seed}), {}.\n\n", chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")));
        md.push_str(&format!("- kills: {total_kills} SIGKILLs ({}), {aborts} relay aborts between publish and mark, {} PostgreSQL restart, {} NATS restart, {} poison events\n",
            kills.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", "), u8::from(pg_done), u8::from(nats_done), poison.len()));
        md.push_str(&format!("- lifecycles: {} started, {completed} completed (clue to archive), {} failed; {} acknowledged calls, {} retries with the same request id\n", outcomes.len(), failures.len(), acks.len(), driver.retries()));
        md.push_str(&format!("- faults for {:.0?}; {quiet_text}\n\n| invariant | result | figure |\n|---|---|---|\n", fault_end));
        for v in &verdicts {
            md.push_str(&format!("| {} | {} | {} |\n", v.name, if v.ok { "pass" } else { "**FAIL**" }, v.figure.replace('|', "/")));
        }
        md.push_str(&format!("\nRecovery after each fault, from the processes' `/metrics` (SQL/JetStream as the cross-check): {recovery_summary}.\n\n```\n"));
        for line in &recovery_lines {
            md.push_str(line);
            md.push('\n');
        }
        md.push_str(&metrics_quiet_text);
        md.push_str("\n```\n");
        std::fs::write(path, md)?;
    }
    if !ok {
        println!("logs kept in {}", deployment.log_dir().display());
        deployment.options.keep = true;
    }
    deployment.stop();
    Ok(ok)
}

/// Kills the stream's leader, measures how long until the stream grows
/// again (the relays publish under load), starts it again after 5 s.
async fn kill_leader(d: &Deployment, js: &async_nats::jetstream::Context, stream: &str) -> Result<(usize, Option<Duration>)> {
    let index = leader_index(d, js, stream).await.context("the stream's leader")?;
    let before = js.get_stream(stream).await?.info().await?.state.last_sequence;
    let killed = Instant::now();
    d.kill_nats(index);
    let mut resumed = None;
    while killed.elapsed() < Duration::from_secs(30) {
        let grown = tokio::time::timeout(Duration::from_millis(500), async {
            let mut s = js.get_stream(stream).await.ok()?;
            let last = s.info().await.ok()?.state.last_sequence;
            Some(last > before)
        })
        .await
        .ok()
        .flatten()
        .unwrap_or(false);
        if grown {
            resumed = Some(killed.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rest = Duration::from_secs(5).saturating_sub(killed.elapsed());
    tokio::time::sleep(rest).await;
    d.start_nats(index).await?;
    Ok((index, resumed))
}

/// The index of the nats-server leading the stream (cluster mode).
async fn leader_index(d: &Deployment, js: &async_nats::jetstream::Context, stream: &str) -> Option<usize> {
    let mut s = js.get_stream(stream).await.ok()?;
    let info = s.info().await.ok()?;
    let leader = info.cluster.as_ref()?.leader.clone()?;
    d.nats.lock().unwrap().iter().position(|n| n.name == leader)
}

/// One sample of a source for the recovery report: (backlog, lag), and
/// whether every part was read (a service missing from /metrics, SQL or
/// JetStream unreadable: not enough to call the backlog drained).
#[derive(Debug, Clone, Copy)]
struct Point {
    at: Duration,
    level: Option<(i64, i64)>,
    complete: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Drained {
    /// From the fault.
    after: Duration,
    /// Back to zero (else to the pre-fault level).
    zero: bool,
    /// Only after the next fault.
    past_next: bool,
}

/// How a source came back after one fault.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Recovery {
    /// Highest backlog and lag from the fault to the next.
    peak: (i64, i64),
    /// The highest backlog and lag of the [`PRE_FAULT`] seconds before the fault (none sampled: 0).
    before: (i64, i64),
    drained: Option<Drained>,
}

impl Recovery {
    fn text(&self) -> String {
        let Some(d) = self.drained else { return "NOT drained by the end of the run".into() };
        let to = if d.zero { "zero".to_string() } else { format!("pre-fault level (<= {}/{})", self.before.0, self.before.1) };
        format!("drained to {to} after {:.0} s{}", d.after.as_secs_f64(), if d.past_next { " (past the next fault)" } else { "" })
    }
}

/// Peak after the fault at `at` (until `until`, the next fault) and the
/// first complete sample, from the peak on, at which backlog and lag are
/// both zero, or both at most the pre-fault level. When nothing rose above
/// the pre-fault level the search starts at the fault.
fn recovery(points: &[Point], at: Duration, until: Duration) -> Recovery {
    let before = points
        .iter()
        .filter(|p| p.at < at && p.at + PRE_FAULT >= at)
        .filter_map(|p| p.level)
        .fold((0, 0), |acc, (b, l)| (acc.0.max(b), acc.1.max(l)));
    let window: Vec<&Point> = points.iter().filter(|p| p.at >= at && p.at <= until).collect();
    let peak = window.iter().filter_map(|p| p.level).fold((0, 0), |acc, (b, l)| (acc.0.max(b), acc.1.max(l)));
    // The peak's time: when the later of the two first reached its highest.
    let peak_at = if peak.0 <= before.0 && peak.1 <= before.1 {
        at
    } else {
        let first = |value: fn(&(i64, i64)) -> i64, highest: i64| window.iter().find(|p| p.level.as_ref().map(value) == Some(highest)).map(|p| p.at).unwrap_or(at);
        let backlog_at = if peak.0 > before.0 { first(|l| l.0, peak.0) } else { at };
        let lag_at = if peak.1 > before.1 { first(|l| l.1, peak.1) } else { at };
        backlog_at.max(lag_at)
    };
    let drained = points
        .iter()
        .filter(|p| p.at >= peak_at && p.at >= at && p.complete)
        .find_map(|p| {
            let (b, l) = p.level?;
            let zero = b == 0 && l == 0;
            (zero || (b <= before.0 && l <= before.1)).then(|| Drained { after: p.at - at, zero, past_next: p.at > until })
        });
    Recovery { peak, before, drained }
}

/// The first sample from `from` on whose /metrics read zero backlog and
/// zero lag with every service reporting, waiting up to `limit`.
async fn metrics_zero(samples: &Mutex<Vec<Sample>>, from: Duration, limit: Duration) -> Option<Sample> {
    let deadline = Instant::now() + limit;
    loop {
        let found = samples.lock().unwrap().iter().find(|s| s.at >= from && s.metrics.complete() && s.metrics.backlog() == 0 && s.metrics.lag() == 0).cloned();
        if found.is_some() || Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// One round of /metrics in a few words.
fn describe(f: &Figures) -> String {
    let mut text = format!("outbox backlog {}, consumer lag {}, {} dead letters", f.backlog(), f.lag(), f.dead_letters());
    if !f.missing.is_empty() {
        text.push_str(&format!(", no figures from {}", f.missing.join(", ")));
    }
    if !f.unanswered.is_empty() {
        text.push_str(&format!(", unanswered: {}", f.unanswered.join(", ")));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(levels: &[(u64, i64, i64)]) -> Vec<Point> {
        levels.iter().map(|&(at, b, l)| Point { at: Duration::from_secs(at), level: Some((b, l)), complete: true }).collect()
    }

    #[test]
    fn a_backlog_that_reaches_zero_drains_to_zero() {
        let p = points(&[(8, 0, 0), (9, 0, 0), (10, 0, 1), (11, 4, 9), (12, 2, 3), (13, 0, 0), (14, 0, 2)]);
        let r = recovery(&p, Duration::from_millis(9500), Duration::from_secs(20));
        assert_eq!(r.peak, (4, 9));
        assert_eq!(r.before, (0, 0));
        assert_eq!(r.drained, Some(Drained { after: Duration::from_millis(3500), zero: true, past_next: false }));
    }

    #[test]
    fn under_load_the_pre_fault_level_counts_and_the_line_says_so() {
        // Lag never below 2 under load: drained when back to at most 3 (the highest of the 10 s before).
        let p = points(&[(0, 0, 5), (2, 0, 3), (5, 1, 2), (10, 0, 3), (11, 6, 20), (12, 3, 8), (13, 1, 3), (14, 0, 2)]);
        let r = recovery(&p, Duration::from_millis(10500), Duration::from_secs(30));
        assert_eq!(r.before, (1, 3), "the sample 11 s before is out of the window");
        assert_eq!(r.drained, Some(Drained { after: Duration::from_millis(2500), zero: false, past_next: false }));
        assert!(r.text().contains("pre-fault level (<= 1/3) after 2 s"), "{}", r.text());
    }

    #[test]
    fn incomplete_samples_do_not_count_as_drained_and_past_the_next_fault_is_said() {
        let mut p = points(&[(10, 5, 5), (11, 0, 0), (12, 2, 0), (13, 0, 0)]);
        p[1].complete = false; // a service's processes all down: its backlog unknown
        let r = recovery(&p, Duration::from_millis(9500), Duration::from_millis(12500));
        assert_eq!(r.drained, Some(Drained { after: Duration::from_millis(3500), zero: true, past_next: true }));
        let none = recovery(&points(&[(10, 5, 5), (11, 1, 1)]), Duration::from_millis(9500), Duration::from_secs(20));
        assert_eq!(none.drained, None);
        assert_eq!(none.text(), "NOT drained by the end of the run");
    }
}
