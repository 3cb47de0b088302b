//! The audit log against its own service (docs/security.md): with the
//! migration owner and the runtime role split (`database.owner_url`), the
//! role a service runs as can append to the audit log only through
//! `audit_append`, and cannot switch its triggers off, cut rows from a chain
//! or move a chain head back. The row's time is the database's.

mod common;

use common::audit_entry as entry;
use chrono::{Duration, Utc};
use sqlx::PgPool;
use yuetan_platform::audit::{self, AuditEntry};
use yuetan_platform::db;
use yuetan_testkit::DbUrls;

/// A database with split roles and schema `svc` migrated by the owner;
/// returns the runtime role's pool (what a service holds) and the URLs.
async fn runtime_pool() -> (PgPool, DbUrls) {
    let stack = yuetan_testkit::stack().await;
    let urls = stack.fresh_database_with_roles().await.unwrap();
    let pool = db::open_schema(&urls.runtime, Some(&urls.owner), "svc", 4, None).await.unwrap();
    (pool, urls)
}

async fn append(pool: &PgPool, n: usize) -> audit::AuditRecord {
    let after = serde_json::json!({"n": n});
    let subject = format!("clue/{n}");
    let mut tx = pool.begin().await.unwrap();
    let record = audit::append(&mut tx, &entry(&subject, Some(&after))).await.unwrap();
    tx.commit().await.unwrap();
    record
}

async fn refused(pool: &PgPool, sql: &str) -> String {
    let err = sqlx::query(sql).execute(pool).await.expect_err(sql);
    err.to_string()
}

#[tokio::test]
async fn r_doc_5_the_runtime_role_appends_through_the_function_and_verify_reads() {
    let (pool, _) = runtime_pool().await;
    for n in 1..=3 {
        append(&pool, n).await;
    }
    let report = audit::verify(&pool).await.unwrap();
    assert_eq!(report.rows_checked, 3);
    assert!(report.is_intact(), "{:?}", report.problems);
}

#[tokio::test]
async fn r_doc_5_the_runtime_role_cannot_switch_the_audit_triggers_off() {
    let (pool, _) = runtime_pool().await;
    append(&pool, 1).await;
    for sql in [
        "ALTER TABLE audit_log DISABLE TRIGGER USER",
        "ALTER TABLE audit_log DISABLE TRIGGER ALL",
        "ALTER TABLE audit_chains DISABLE TRIGGER USER",
        "DROP TRIGGER audit_log_append_only ON audit_log",
    ] {
        let err = refused(&pool, sql).await;
        assert!(err.contains("must be owner"), "{sql}: {err}");
    }
}

#[tokio::test]
async fn r_doc_5_the_runtime_role_cannot_delete_update_or_truncate_audit_rows_nor_move_a_head() {
    let (pool, _) = runtime_pool().await;
    for n in 1..=4 {
        append(&pool, n).await;
    }
    for sql in [
        "DELETE FROM audit_log WHERE seq > 2",
        "UPDATE audit_log SET actor_id = 'someone-else'",
        "TRUNCATE audit_log",
        "UPDATE audit_chains SET seq = seq - 2 WHERE chain = 0",
        "DELETE FROM audit_chains",
        "INSERT INTO audit_log SELECT * FROM audit_log LIMIT 1",
    ] {
        let err = refused(&pool, sql).await;
        assert!(err.contains("permission denied"), "{sql}: {err}");
    }
    let report = audit::verify(&pool).await.unwrap();
    assert_eq!(report.rows_checked, 4);
    assert!(report.is_intact(), "{:?}", report.problems);
}

#[tokio::test]
async fn r_doc_5_the_stored_time_is_the_databases_not_the_callers() {
    let (pool, _) = runtime_pool().await;
    let backdated = Utc::now() - Duration::days(5 * 365);
    let before: chrono::DateTime<Utc> = sqlx::query_scalar("SELECT clock_timestamp()").fetch_one(&pool).await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    let record = audit::append(&mut tx, &AuditEntry { at: backdated, ..entry("clue/1", None) }).await.unwrap();
    tx.commit().await.unwrap();
    let after: chrono::DateTime<Utc> = sqlx::query_scalar("SELECT clock_timestamp()").fetch_one(&pool).await.unwrap();
    let at: chrono::DateTime<Utc> = sqlx::query_scalar("SELECT at FROM audit_log WHERE chain = $1 AND seq = $2")
        .bind(record.chain)
        .bind(record.seq)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(before <= at && at <= after, "stored {at}, database clock {before}..{after}, caller said {backdated}");
    assert!(audit::verify(&pool).await.unwrap().is_intact());

    // The old call that took the caller's time is gone.
    let err = refused(
        &pool,
        "SELECT * FROM audit_append('yuetan.audit.v1', '2020-01-01T00:00:00.000000Z', 'o', 'org', 'a', 's', 'd', \
         '2020-01-01T00:00:00Z', '{}')",
    )
    .await;
    assert!(err.contains("does not exist"), "{err}");
}

#[tokio::test]
async fn r_doc_5_the_runtime_role_gets_ordinary_rights_on_the_service_tables() {
    let stack = yuetan_testkit::stack().await;
    let urls = stack.fresh_database_with_roles().await.unwrap();
    let pool = db::open_schema(&urls.runtime, Some(&urls.owner), "svc", 4, None).await.unwrap();
    // A platform table (the outbox's timers) is read and written as usual.
    sqlx::query("DELETE FROM timers").execute(&pool).await.unwrap();
    // But no DDL: the schema is the owner's.
    let err = refused(&pool, "CREATE TABLE svc.mine (id INT)").await;
    assert!(err.contains("permission denied"), "{err}");
    // A table the owner adds later (a new migration) is covered too.
    let mut owner = <sqlx::PgConnection as sqlx::Connection>::connect(&urls.owner).await.unwrap();
    sqlx::query("CREATE TABLE svc.later (id INT)").execute(&mut owner).await.unwrap();
    sqlx::query("INSERT INTO later VALUES (1)").execute(&pool).await.unwrap();
}

#[tokio::test]
async fn r_doc_5_a_runtime_role_that_owns_the_tables_is_refused_at_start() {
    // Tables made before the roles were split belong to the runtime role,
    // which could switch their triggers off: starting must say so, not
    // carry on believing the log is protected.
    let stack = yuetan_testkit::stack().await;
    let urls = stack.fresh_database_with_roles().await.unwrap();
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&urls.admin).await.unwrap();
    let runtime = urls.runtime.split('@').next().unwrap().trim_start_matches("postgres://").to_string();
    sqlx::raw_sql(&format!("CREATE SCHEMA svc AUTHORIZATION \"{runtime}\""))
        .execute(&mut admin)
        .await
        .unwrap();
    let err = db::open_schema(&urls.runtime, Some(&urls.owner), "svc", 4, None).await.unwrap_err();
    assert!(err.to_string().contains("database.url") && err.to_string().contains("REASSIGN OWNED"), "{err}");
}

#[tokio::test]
async fn r_doc_5_a_runtime_role_that_could_become_the_owner_is_refused_at_start() {
    let stack = yuetan_testkit::stack().await;
    for grant in ["GRANT {owner} TO {runtime}", "ALTER ROLE {runtime} CREATEROLE", "ALTER ROLE {runtime} SUPERUSER"] {
        let urls = stack.fresh_database_with_roles().await.unwrap();
        let role = |url: &str| url.split('@').next().unwrap().trim_start_matches("postgres://").to_string();
        let sql = grant.replace("{owner}", &role(&urls.owner)).replace("{runtime}", &role(&urls.runtime));
        let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&urls.admin).await.unwrap();
        sqlx::raw_sql(&sql).execute(&mut admin).await.unwrap();
        let err = db::open_schema(&urls.runtime, Some(&urls.owner), "svc", 4, None).await.unwrap_err();
        assert!(err.to_string().contains("database.url"), "{sql}: {err}");
    }
}
