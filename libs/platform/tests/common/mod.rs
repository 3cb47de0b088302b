//! Shared set-up for the platform's integration tests: a database and a
//! JetStream stream of the test's own on the shared test servers.

#![allow(dead_code)]

use std::time::Duration;

use sqlx::PgPool;
use yuetan_platform::audit::AuditEntry;
use yuetan_platform::bus::Bus;
use yuetan_platform::config::NatsConfig;
use yuetan_platform::db;

pub struct TestEnv {
    pub pool: PgPool,
    pub database_url: String,
    pub bus: Bus,
    pub nats: NatsConfig,
    pub schema: String,
}

/// A fresh database (schema `svc`, platform migrations applied) and a stream
/// with a unique name and subject prefix.
pub async fn env() -> TestEnv {
    let stack = yuetan_testkit::stack().await;
    let database_url = stack.fresh_database().await.expect("fresh database");
    let schema = "svc".to_string();
    let pool = db::connect_and_migrate(&database_url, &schema).await.expect("connect and migrate");
    let nats = nats_config(stack);
    let bus = Bus::connect(&nats).await.expect("connect bus");
    TestEnv { pool, database_url, bus, nats, schema }
}

pub fn nats_config(stack: &yuetan_testkit::Stack) -> NatsConfig {
    let unique = stack.unique_name("");
    NatsConfig {
        url: stack.nats_url.clone().into(),
        stream: format!("T{unique}"),
        subject_prefix: format!("t{unique}.ev"),
        replicas: 1,
        duplicate_window_secs: 120,
    }
}

/// Polls `check` every 20 ms until it returns true or `within` passes.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An audit entry of a registered clue by one officer (the audit tests'
/// unit of work).
pub fn audit_entry<'a>(subject: &'a str, after: Option<&'a serde_json::Value>) -> AuditEntry<'a> {
    AuditEntry {
        actor_id: "officer-7",
        actor_organ: "620102-SJ",
        action: "clue.register",
        subject,
        before: None,
        after,
        at: chrono::Utc::now(),
    }
}
