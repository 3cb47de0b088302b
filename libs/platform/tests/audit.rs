//! The hash-chained audit log against a real PostgreSQL (R-DOC-5): appends
//! are gap-free and transactional, and `verify` finds every kind of
//! tampering, even by someone who switched the append-only trigger off.

mod common;

use common::audit_entry as entry;
use sqlx::PgPool;
use yuetan_platform::audit::{self, AuditEntry, AuditProblem, AuditProblemKind, GENESIS_HASH};
use yuetan_platform::db;

/// A fresh database with the platform migrations in schema `svc`.
async fn pool() -> PgPool {
    let stack = yuetan_testkit::stack().await;
    let url = stack.fresh_database().await.unwrap();
    db::connect_and_migrate(&url, "svc").await.unwrap()
}

/// Appends one entry in a transaction of its own.
async fn append(pool: &PgPool, n: usize) -> audit::AuditRecord {
    let after =
        serde_json::json!({"status": "registered", "n": n, "nested": {"b": 1, "a": [1, 2.5]}});
    let subject = format!("clue/{n}");
    let mut tx = pool.begin().await.unwrap();
    let record = audit::append(&mut tx, &entry(&subject, Some(&after)))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    record
}

async fn seqs(pool: &PgPool) -> Vec<i64> {
    sqlx::query_scalar("SELECT seq FROM audit_log ORDER BY seq")
        .fetch_all(pool)
        .await
        .unwrap()
}

/// Runs `sql` as someone with direct database access (the superuser) who
/// switched the append-only trigger off first.
async fn tamper(pool: &PgPool, sql: &str) {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("ALTER TABLE audit_log DISABLE TRIGGER ALL")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(sql).execute(&mut *tx).await.unwrap();
    sqlx::query("ALTER TABLE audit_log ENABLE TRIGGER ALL")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// A problem in chain 0, where appends made one at a time all land.
fn problem(seq: i64, kind: AuditProblemKind) -> AuditProblem {
    AuditProblem { chain: 0, seq, kind }
}

#[tokio::test]
async fn r_doc_5_concurrent_appends_form_gap_free_intact_chains() {
    let pool = pool().await;
    let first = append(&pool, 0).await;
    assert_eq!(first.seq, 1);

    // 9 tasks append concurrently, each entry in its own transaction,
    // while `verify` keeps reading: it must never see a half-written chain.
    let mut tasks = Vec::new();
    for worker in 0..9 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..11 {
                append(&pool, 1 + worker * 11 + i).await;
            }
        }));
    }
    let verifier = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut reports = 0;
            loop {
                let report = audit::verify(&pool).await.unwrap();
                assert!(report.is_intact(), "mid-way: {:?}", report.problems);
                reports += 1;
                if report.rows_checked == 100 {
                    return reports;
                }
            }
        })
    };
    for task in tasks {
        task.await.unwrap();
    }
    assert!(verifier.await.unwrap() >= 1);

    let report = audit::verify(&pool).await.unwrap();
    assert_eq!(report.rows_checked, 100);
    assert!(report.is_intact(), "{:?}", report.problems);
    // Every chain is gap-free from 1, and its head records its last row.
    let chains: Vec<(i16, i64, String)> = sqlx::query_as("SELECT chain, seq, hash FROM audit_chains ORDER BY chain")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(chains.len(), audit::CHAINS as usize);
    let mut total = 0;
    for (chain, head_seq, head_hash) in chains {
        let seqs: Vec<i64> = sqlx::query_scalar("SELECT seq FROM audit_log WHERE chain = $1 ORDER BY seq")
            .bind(chain)
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(seqs, (1..=head_seq).collect::<Vec<i64>>(), "chain {chain}");
        if head_seq > 0 {
            let last: String = sqlx::query_scalar("SELECT hash FROM audit_log WHERE chain = $1 AND seq = $2")
                .bind(chain)
                .bind(head_seq)
                .fetch_one(&pool)
                .await
                .unwrap();
            assert_eq!(head_hash, last, "chain {chain}");
        }
        total += head_seq;
    }
    assert_eq!(total, 100);
}

#[tokio::test]
async fn r_doc_5_a_transaction_holding_a_chain_does_not_block_another_append() {
    let pool = pool().await;
    let mut holder = pool.begin().await.unwrap();
    let held = audit::append(&mut holder, &entry("case/1", None)).await.unwrap();
    // A second transaction appends while the first still holds its chain.
    let other = tokio::time::timeout(std::time::Duration::from_secs(5), append(&pool, 2))
        .await
        .expect("the append did not wait for the other transaction");
    assert_ne!(other.chain, held.chain);
    holder.commit().await.unwrap();
    let report = audit::verify(&pool).await.unwrap();
    assert_eq!(report.rows_checked, 2);
    assert!(report.is_intact(), "{:?}", report.problems);
}

#[tokio::test]
async fn r_doc_5_a_row_moved_to_another_chain_is_detected() {
    let pool = pool().await;
    let mut holder = pool.begin().await.unwrap();
    audit::append(&mut holder, &entry("case/1", None)).await.unwrap();
    let moved = append(&pool, 2).await;
    holder.commit().await.unwrap();
    tamper(&pool, &format!("UPDATE audit_log SET chain = 0, seq = 2 WHERE chain = {}", moved.chain)).await;
    let report = audit::verify(&pool).await.unwrap();
    assert!(!report.is_intact());
    assert!(report.problems.contains(&AuditProblem { chain: 0, seq: 2, kind: AuditProblemKind::ChainBroken }), "{:?}", report.problems);
    assert!(report.problems.iter().any(|p| p.chain == moved.chain && p.kind == AuditProblemKind::HeadMismatch), "{:?}", report.problems);
}

#[tokio::test]
async fn r_doc_5_rows_chain_from_the_genesis_hash() {
    let pool = pool().await;
    let first = append(&pool, 1).await;
    let second = append(&pool, 2).await;
    let prev: Vec<String> = sqlx::query_scalar("SELECT prev_hash FROM audit_log ORDER BY seq")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(prev, vec![GENESIS_HASH.to_string(), first.hash.clone()]);
    assert_eq!(second.seq, 2);
    assert_ne!(first.hash, second.hash);
}

#[tokio::test]
async fn r_doc_5_a_rolled_back_append_leaves_no_row_and_no_gap() {
    let pool = pool().await;
    append(&pool, 1).await;
    let mut tx = pool.begin().await.unwrap();
    let record = audit::append(&mut tx, &entry("clue/void", None))
        .await
        .unwrap();
    assert_eq!(record.seq, 2);
    tx.rollback().await.unwrap();

    let next = append(&pool, 2).await;
    assert_eq!(next.seq, 2, "the rolled-back seq is reused");
    assert_eq!(seqs(&pool).await, vec![1, 2]);
    assert!(audit::verify(&pool).await.unwrap().is_intact());
}

#[tokio::test]
async fn r_doc_5_changes_survive_the_round_trip_through_the_database() {
    // JSONB reorders keys and rewrites some numbers; the digest must still match.
    let pool = pool().await;
    let before =
        serde_json::json!({"z": -0.0, "a": 1e20, "m": 0.1, "big": u64::MAX, "neg": i64::MIN});
    let after = serde_json::json!({"名称": "兰州市城关区某餐饮店", "tags": ["消防", "\"quoted\"", null, true], "e": 1e-7});
    let mut tx = pool.begin().await.unwrap();
    let mut e = entry("party/1", Some(&after));
    e.before = Some(&before);
    audit::append(&mut tx, &e).await.unwrap();
    tx.commit().await.unwrap();
    let report = audit::verify(&pool).await.unwrap();
    assert_eq!(report.rows_checked, 1);
    assert!(report.is_intact(), "{:?}", report.problems);
}

#[tokio::test]
async fn r_doc_5_the_database_refuses_updates_and_deletes_of_audit_rows() {
    let pool = pool().await;
    append(&pool, 1).await;
    let refused = [
        "UPDATE audit_log SET action = 'forged'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "DELETE FROM audit_chains",
        // A chain head moves only inside audit_append (migration 0015),
        // even for the tables' owner.
        "UPDATE audit_chains SET seq = seq - 1, hash = repeat('0', 64) WHERE seq > 0",
    ];
    for sql in refused {
        let err = sqlx::query(sql).execute(&pool).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    let report = audit::verify(&pool).await.unwrap();
    assert_eq!(report.rows_checked, 1);
    assert!(report.is_intact(), "{:?}", report.problems);
}

#[tokio::test]
async fn r_doc_5_altered_audit_row_is_detected() {
    let pool = pool().await;
    for n in 1..=5 {
        append(&pool, n).await;
    }
    tamper(
        &pool,
        "UPDATE audit_log SET action = 'clue.withdraw' WHERE seq = 3",
    )
    .await;
    let report = audit::verify(&pool).await.unwrap();
    assert_eq!(report.rows_checked, 5);
    assert_eq!(
        report.problems,
        vec![problem(3, AuditProblemKind::RowAltered)]
    );
}

#[tokio::test]
async fn r_doc_5_altered_audit_time_is_detected() {
    let pool = pool().await;
    for n in 1..=3 {
        append(&pool, n).await;
    }
    tamper(
        &pool,
        "UPDATE audit_log SET at = at - interval '1 day' WHERE seq = 2",
    )
    .await;
    let report = audit::verify(&pool).await.unwrap();
    assert_eq!(
        report.problems,
        vec![problem(2, AuditProblemKind::RowAltered)]
    );
}

#[tokio::test]
async fn r_doc_5_altered_change_record_is_detected() {
    let pool = pool().await;
    for n in 1..=3 {
        append(&pool, n).await;
    }
    tamper(&pool, "UPDATE audit_log SET change = jsonb_set(change::jsonb, '{after,status}', '\"closed\"')::json WHERE seq = 2").await;
    let report = audit::verify(&pool).await.unwrap();
    assert_eq!(
        report.problems,
        vec![problem(2, AuditProblemKind::ChangeAltered)]
    );
}

#[tokio::test]
async fn r_doc_5_removed_middle_row_is_detected() {
    let pool = pool().await;
    for n in 1..=5 {
        append(&pool, n).await;
    }
    tamper(&pool, "DELETE FROM audit_log WHERE seq = 3").await;
    let report = audit::verify(&pool).await.unwrap();
    assert_eq!(report.rows_checked, 4);
    assert_eq!(
        report.problems,
        vec![
            problem(3, AuditProblemKind::Missing),
            problem(4, AuditProblemKind::ChainBroken)
        ]
    );
}

#[tokio::test]
async fn r_doc_5_removed_last_row_is_detected() {
    let pool = pool().await;
    for n in 1..=4 {
        append(&pool, n).await;
    }
    tamper(&pool, "DELETE FROM audit_log WHERE seq = 4").await;
    let report = audit::verify(&pool).await.unwrap();
    assert_eq!(report.rows_checked, 3);
    assert_eq!(
        report.problems,
        vec![problem(4, AuditProblemKind::HeadMismatch)]
    );
}

#[tokio::test]
async fn r_doc_5_every_problem_is_reported_not_just_the_first() {
    let pool = pool().await;
    for n in 1..=6 {
        append(&pool, n).await;
    }
    tamper(
        &pool,
        "UPDATE audit_log SET subject = 'clue/other' WHERE seq = 2",
    )
    .await;
    tamper(&pool, "DELETE FROM audit_log WHERE seq = 4").await;
    tamper(&pool, "DELETE FROM audit_log WHERE seq = 6").await;
    let report = audit::verify(&pool).await.unwrap();
    assert_eq!(report.rows_checked, 4);
    assert_eq!(
        report.problems,
        vec![
            problem(2, AuditProblemKind::RowAltered),
            problem(4, AuditProblemKind::Missing),
            problem(5, AuditProblemKind::ChainBroken),
            problem(6, AuditProblemKind::HeadMismatch),
        ]
    );
}

#[tokio::test]
async fn r_doc_5_the_database_hashes_non_ascii_fields_as_verify_does() {
    let pool = pool().await;
    let after = serde_json::json!({"当事人": "兰州某某商贸有限公司", "金额": 2.5, "big": 100000000000000000000.0});
    let mut tx = pool.begin().await.unwrap();
    let entry = AuditEntry {
        actor_id: "执法人员-张三",
        actor_organ: "兰州市城关区市场监督管理局",
        action: "线索.登记",
        subject: "clue/兰城市监约〔2026〕17号",
        before: None,
        after: Some(&after),
        at: chrono::Utc::now(),
    };
    audit::append(&mut tx, &entry).await.unwrap();
    tx.commit().await.unwrap();
    let report = audit::verify(&pool).await.unwrap();
    assert_eq!(report.rows_checked, 1);
    assert!(report.is_intact(), "{:?}", report.problems);
}

#[tokio::test]
async fn r_doc_5_appends_in_a_write_batch_join_the_chains_and_roll_back_with_it() {
    use yuetan_platform::batch::WriteBatch;
    let pool = pool().await;
    append(&pool, 1).await;
    let after = serde_json::json!({"status": "opened"});
    let mut tx = pool.begin().await.unwrap();
    let mut batch = WriteBatch::new();
    let first = audit::append_in(&mut batch, &entry("case/7", Some(&after)));
    let second = audit::append_in(&mut batch, &entry("case/8", None));
    let counts = batch.execute(&mut tx).await.unwrap();
    assert_eq!((counts.get(first), counts.get(second)), (1, 1));
    tx.commit().await.unwrap();

    let mut tx = pool.begin().await.unwrap();
    let mut batch = WriteBatch::new();
    audit::append_in(&mut batch, &entry("case/9", None));
    batch.execute(&mut tx).await.unwrap();
    tx.rollback().await.unwrap();

    let report = audit::verify(&pool).await.unwrap();
    assert_eq!(report.rows_checked, 3, "the rolled-back batch left nothing");
    assert!(report.is_intact(), "{:?}", report.problems);
}
