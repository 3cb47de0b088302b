//! The hash-chained audit log against a real PostgreSQL (R-DOC-5).

use chrono::Utc;
use sqlx::PgPool;
use yuetan_platform::audit::{self, AuditEntry, AuditProblemKind};
use yuetan_platform::db;

async fn pool() -> PgPool {
    let stack = yuetan_testkit::stack().await;
    let url = stack.fresh_database().await.unwrap();
    db::connect_and_migrate(&url, "svc").await.unwrap()
}

async fn append(pool: &PgPool, n: usize) {
    let after = serde_json::json!({"status": "registered", "n": n, "nested": {"b": 1, "a": [1, 2]}});
    let mut tx = pool.begin().await.unwrap();
    audit::append(
        &mut tx,
        &AuditEntry {
            actor_id: "officer-7",
            actor_organ: "620102-SJ",
            action: "clue.register",
            subject: &format!("clue/{n}"),
            before: None,
            after: Some(&after),
            at: Utc::now(),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// Runs `sql` as if by someone with direct database access who switched the
/// append-only trigger off first.
async fn tamper(pool: &PgPool, sql: &str) {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("ALTER TABLE audit_log DISABLE TRIGGER ALL").execute(&mut *tx).await.unwrap();
    sqlx::query(sql).execute(&mut *tx).await.unwrap();
    sqlx::query("ALTER TABLE audit_log ENABLE TRIGGER ALL").execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn r_doc_5_concurrent_appends_form_one_gap_free_intact_chain() {
    let pool = pool().await;
    let mut tasks = Vec::new();
    for worker in 0..10 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                append(&pool, worker * 10 + i).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let report = audit::verify(&pool).await.unwrap();
    assert_eq!(report.rows_checked, 100);
    assert!(report.is_intact(), "{:?}", report.problems);
    let seqs: Vec<i64> = sqlx::query_scalar("SELECT seq FROM audit_log ORDER BY seq").fetch_all(&pool).await.unwrap();
    assert_eq!(seqs, (1..=100).collect::<Vec<i64>>());
}

#[tokio::test]
async fn r_doc_5_a_rolled_back_append_leaves_no_row_and_no_gap() {
    let pool = pool().await;
    append(&pool, 1).await;
    let mut tx = pool.begin().await.unwrap();
    let entry = AuditEntry {
        actor_id: "o",
        actor_organ: "org",
        action: "x",
        subject: "y",
        before: None,
        after: None,
        at: Utc::now(),
    };
    audit::append(&mut tx, &entry).await.unwrap();
    tx.rollback().await.unwrap();
    append(&pool, 2).await;
    let seqs: Vec<i64> = sqlx::query_scalar("SELECT seq FROM audit_log ORDER BY seq").fetch_all(&pool).await.unwrap();
    assert_eq!(seqs, vec![1, 2]);
    assert!(audit::verify(&pool).await.unwrap().is_intact());
}

#[tokio::test]
async fn r_doc_5_the_database_refuses_updates_and_deletes_of_audit_rows() {
    let pool = pool().await;
    append(&pool, 1).await;
    assert!(sqlx::query("UPDATE audit_log SET action = 'forged'").execute(&pool).await.is_err());
    assert!(sqlx::query("DELETE FROM audit_log").execute(&pool).await.is_err());
    assert!(sqlx::query("TRUNCATE audit_log").execute(&pool).await.is_err());
    assert!(audit::verify(&pool).await.unwrap().is_intact());
}

#[tokio::test]
async fn r_doc_5_an_altered_audit_row_is_detected() {
    let pool = pool().await;
    for n in 1..=5 {
        append(&pool, n).await;
    }
    tamper(&pool, "UPDATE audit_log SET action = 'clue.withdraw' WHERE seq = 3").await;
    let report = audit::verify(&pool).await.unwrap();
    assert!(!report.is_intact());
    assert!(report.problems.iter().any(|p| p.seq == 3 && p.kind == AuditProblemKind::RowAltered), "{:?}", report.problems);
    assert!(report.problems.iter().all(|p| p.seq == 3), "only the altered row is reported: {:?}", report.problems);
}

#[tokio::test]
async fn r_doc_5_an_altered_change_record_is_detected() {
    let pool = pool().await;
    for n in 1..=3 {
        append(&pool, n).await;
    }
    tamper(&pool, "UPDATE audit_log SET change = jsonb_set(change, '{after,status}', '\"closed\"') WHERE seq = 2").await;
    let report = audit::verify(&pool).await.unwrap();
    assert!(report.problems.iter().any(|p| p.seq == 2 && p.kind == AuditProblemKind::ChangeAltered), "{:?}", report.problems);
}

#[tokio::test]
async fn r_doc_5_a_removed_middle_row_is_detected() {
    let pool = pool().await;
    for n in 1..=5 {
        append(&pool, n).await;
    }
    tamper(&pool, "DELETE FROM audit_log WHERE seq = 3").await;
    let report = audit::verify(&pool).await.unwrap();
    assert!(report.problems.iter().any(|p| p.seq == 4 && p.kind == AuditProblemKind::Missing), "{:?}", report.problems);
    assert!(report.problems.iter().any(|p| p.seq == 4 && p.kind == AuditProblemKind::ChainBroken), "{:?}", report.problems);
}

#[tokio::test]
async fn r_doc_5_a_removed_last_row_is_detected() {
    let pool = pool().await;
    for n in 1..=4 {
        append(&pool, n).await;
    }
    tamper(&pool, "DELETE FROM audit_log WHERE seq = 4").await;
    let report = audit::verify(&pool).await.unwrap();
    assert_eq!(report.rows_checked, 3);
    assert!(report.problems.iter().any(|p| p.kind == AuditProblemKind::HeadMismatch), "{:?}", report.problems);
}
