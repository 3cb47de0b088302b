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

/// One second's sample: since the start, outbox backlog, consumer lag (None: unreadable).
type Sample = (Duration, Option<i64>, Option<i64>);

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
        extra_env: Vec::new(),
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

    // The backlog sampler: outbox rows and consumer lag every second.
    let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
    let sampler = {
        let (pool, js, samples, stream_name) = (pool.clone(), js.clone(), samples.clone(), stream_name.clone());
        let t0 = Instant::now();
        tokio::spawn(async move {
            loop {
                let backlog = tokio::time::timeout(Duration::from_secs(2), check::outbox_backlog(&pool)).await.ok().and_then(|r| r.ok()).map(|b| b.values().sum());
                let lag = tokio::time::timeout(Duration::from_secs(2), check::consumer_lag(&js, &stream_name)).await.ok().and_then(|r| r.ok()).map(|l| l.values().sum::<u64>() as i64);
                samples.lock().unwrap().push((t0.elapsed(), backlog, lag));
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    let t0 = Instant::now();

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
        faults.push(Fault { at: t0.elapsed(), what: format!("poison event on {subject} (seq {})", ack.sequence) });
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
    sampler.abort();
    let quiet_text = match &quiet {
        Ok(d) => format!("quiet {d:.1?} after the last lifecycle (outbox empty, every consumer caught up)"),
        Err(err) => format!("NOT QUIET: {err:#}"),
    };
    println!("{quiet_text}");

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
        figure: format!("{} started, {approved} reached approval, {completed} served by SMS with a receipt, {} failed{}", outcomes.len(), failures.len(), if failures.is_empty() { String::new() } else { format!(": {}", failures.iter().take(3).cloned().collect::<Vec<_>>().join("; ")) }),
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

    // Each fault's backlog and lag, and the time until both were zero again.
    let samples = samples.lock().unwrap().clone();
    let mut recovery_lines = Vec::new();
    for (i, f) in faults.iter().enumerate() {
        // The next fault at least a second later (the poison events come together).
        let until = faults.iter().skip(i + 1).map(|n| n.at).find(|t| *t > f.at + Duration::from_secs(1)).unwrap_or(quiet_after);
        let window: Vec<_> = samples.iter().filter(|(t, _, _)| *t >= f.at).collect();
        let peak_backlog = window.iter().take_while(|(t, _, _)| *t <= until).filter_map(|(_, b, _)| *b).max().unwrap_or(0);
        let peak_lag = window.iter().take_while(|(t, _, _)| *t <= until).filter_map(|(_, _, l)| *l).max().unwrap_or(0);
        // The first sample after the fault with nothing pending anywhere
        // (under continuing load that may come only after the next fault).
        let zero = window.iter().find(|(t, b, l)| *t > f.at && *b == Some(0) && *l == Some(0)).map(|(t, _, _)| *t - f.at);
        let zero_before_next = zero.is_some_and(|z| f.at + z <= until);
        recovery_lines.push(format!(
            "{:>7.1}s {:<45} peak outbox backlog {:>4}, peak consumer lag {:>4}, both zero after {}",
            f.at.as_secs_f64(),
            f.what,
            peak_backlog,
            peak_lag,
            match zero {
                Some(z) if zero_before_next => format!("{:.0} s", z.as_secs_f64()),
                Some(z) => format!("{:.0} s (load kept both above zero past the next fault)", z.as_secs_f64()),
                None => "never".into(),
            }
        ));
    }

    let total_kills: u32 = kills.values().sum();
    println!("\n== faults and recovery (outbox backlog from SQL, consumer lag = JetStream num_pending + num_ack_pending, sampled every second)");
    for line in &recovery_lines {
        println!("{line}");
    }
    println!("\n== summary");
    println!("seed {seed}; {total_kills} SIGKILLs ({}); {aborts} relay aborts; PostgreSQL restarts {}; NATS restarts {}; {} poison events",
        kills.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", "), u8::from(pg_done), u8::from(nats_done), poison.len());
    println!("lifecycles: {} started, {approved} reached approval, {completed} served by SMS with a receipt (the driven end today), {} failed; {} acknowledged calls, {} retried attempts", outcomes.len(), failures.len(), acks.len(), driver.retries());
    println!("faults for {:.0?}, total {:.0?}", fault_end, started.elapsed());
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
        md.push_str(&format!("- lifecycles: {} started, {completed} completed (served by SMS, receipt recorded), {} failed; {} acknowledged calls, {} retries with the same request id\n", outcomes.len(), failures.len(), acks.len(), driver.retries()));
        md.push_str(&format!("- faults for {:.0?}; {quiet_text}\n\n| invariant | result | figure |\n|---|---|---|\n", fault_end));
        for v in &verdicts {
            md.push_str(&format!("| {} | {} | {} |\n", v.name, if v.ok { "pass" } else { "**FAIL**" }, v.figure.replace('|', "/")));
        }
        md.push_str("\nRecovery after each fault:\n\n```\n");
        for line in &recovery_lines {
            md.push_str(line);
            md.push('\n');
        }
        md.push_str("```\n");
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
