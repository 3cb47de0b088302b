//! `yuetan demo pipeline`: proves the backbone on a running local stack. Writes sample
//! events through the transactional outbox (each beside a state change),
//! lets the relay publish them to JetStream, consumes them with the consumer
//! runner (inbox, idempotent) and prints every event as it is applied.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::Utc;
use sqlx::PgConnection;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use yuetan_platform::bus::Bus;
use yuetan_platform::consumer::{Consumer, ConsumerSpec, Delivery, Handler, HandlerError};
use yuetan_platform::outbox::{NewEvent, Outbox, Relay};
use yuetan_platform::{db, Config};
use yuetan_proto::events::{event::Payload, PlatformPing};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// How many sample events to send.
    #[arg(long, default_value_t = 5)]
    events: u64,
    /// Division code of the sample organ (Chengguan district, Lanzhou).
    #[arg(long, default_value = "620102")]
    division: String,
}

const SCHEMA: &str = "demo";

pub async fn run(config_file: Option<&Path>, args: Args) -> anyhow::Result<ExitCode> {
    let mut config = Config::load("demo", config_file)?;
    // The demo prints its own lines; only warnings from the runtime.
    config.telemetry.filter = "warn".into();
    let _telemetry = yuetan_platform::telemetry::init("demo", &config.telemetry)?;

    let owner_url = config.database.owner_url.as_ref().map(|url| url.expose());
    let pool = db::open_schema(config.database.url.expose(), owner_url, SCHEMA, 16, None).await.context("database")?;
    // The demo's own tables belong to the owner too (the runtime role may not create any).
    let owner = db::connect(owner_url.unwrap_or(config.database.url.expose()), SCHEMA, 1).await.context("database")?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS demo_cases (id UUID PRIMARY KEY, note TEXT NOT NULL, version BIGINT NOT NULL);
         CREATE TABLE IF NOT EXISTS demo_applied (event_id UUID PRIMARY KEY, run_id UUID NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now());",
    )
    .execute(&owner)
    .await?;
    owner.close().await;
    let bus = Bus::connect(&config.nats).await.context("nats")?;
    println!("connected: postgres schema `{SCHEMA}`, jetstream stream `{}` on `{}.>`", bus.stream, bus.subject_prefix);

    let shutdown = CancellationToken::new();
    let relay = Relay::new(pool.clone(), bus.clone(), SCHEMA, config.outbox.batch, Duration::from_millis(config.outbox.poll_interval_ms));
    let relay_task = tokio::spawn(relay.run(shutdown.clone()));
    let run_id = Uuid::now_v7();
    let spec = ConsumerSpec::new("demo-printer", vec![format!("{}.*.*.*.demo.>", bus.subject_prefix)]);
    let consumer = Consumer::new(pool.clone(), bus.clone(), config.consumer.clone(), spec);
    let consumer_task = tokio::spawn(consumer.run(Arc::new(Printer { run_id }), shutdown.clone()));

    let outbox = Outbox::new(bus.subject_prefix.clone(), "demo");
    let case_id = Uuid::now_v7();
    let started = Instant::now();
    for seq in 1..=args.events {
        let mut tx = pool.begin().await?;
        // The state change and its event commit together.
        sqlx::query("INSERT INTO demo_cases (id, note, version) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version")
            .bind(case_id)
            .bind(format!("run {run_id}"))
            .bind(seq as i64)
            .execute(&mut *tx)
            .await?;
        let event = NewEvent {
            event_type: "demo.sample_pinged".into(),
            case_id: Some(case_id),
            case_version: seq,
            jurisdiction: args.division.clone(),
            organ: format!("{}-DEMO", args.division),
            actor: None,
            correlation_id: Some(run_id.to_string()),
            causation_id: None,
            payload: Payload::PlatformPing(PlatformPing { note: format!("sample case event {seq}"), seq }),
        };
        let written = outbox.write(&mut tx, event, Utc::now()).await?;
        tx.commit().await?;
        println!("committed  {} {} (case {case_id}, version {seq})", written.r#type, written.id);
    }

    let deadline = Instant::now() + Duration::from_secs(30);
    let applied = loop {
        let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM demo_applied WHERE run_id = $1")
            .bind(run_id)
            .fetch_one(&pool)
            .await?;
        if applied as u64 >= args.events || Instant::now() > deadline {
            break applied;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    shutdown.cancel();
    let _ = relay_task.await;
    let _ = consumer_task.await;
    if applied as u64 != args.events {
        bail!("only {applied} of {} events were applied within 30 s", args.events);
    }
    println!(
        "demo ok: {} events committed → published to jetstream → consumed and applied once each in {} ms",
        args.events,
        started.elapsed().as_millis()
    );
    Ok(ExitCode::SUCCESS)
}

/// Prints each event and records it in `demo_applied`, inside the inbox transaction.
struct Printer {
    run_id: Uuid,
}

impl Handler for Printer {
    async fn handle(&self, conn: &mut PgConnection, delivery: &Delivery) -> Result<(), HandlerError> {
        let correlation = delivery.event.correlation_id.clone();
        if correlation != self.run_id.to_string() {
            // An event of an earlier run, delivered late: skip it quietly.
            return Ok(());
        }
        sqlx::query("INSERT INTO demo_applied (event_id, run_id) VALUES ($1, $2)")
            .bind(delivery.event_id)
            .bind(self.run_id)
            .execute(&mut *conn)
            .await?;
        let traceparent = delivery.headers.get("traceparent").map(|v| v.to_string()).unwrap_or_default();
        println!(
            "applied    {} {} subject={} stream_seq={} traceparent={traceparent}",
            delivery.event.r#type, delivery.event.id, delivery.subject, delivery.stream_sequence
        );
        Ok(())
    }
}
