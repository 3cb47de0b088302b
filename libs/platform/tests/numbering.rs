//! Gap-free document numbers (R-DOC-2) under concurrency, against a real
//! PostgreSQL: `numbering::next_sequence` inside concurrent transactions,
//! some of which roll back.

use std::collections::BTreeSet;

use rand::seq::SliceRandom;
use sqlx::PgPool;
use yuetan_platform::db;
use yuetan_platform::numbering::next_sequence;

const ORGAN: &str = "兰城市监约通";
const KIND: &str = "interview_notice";
const YEAR: i32 = 2026;
const ISSUES: usize = 50;

/// A fresh database with a schema holding the counters (as the services'
/// migrations create them) and a table of the numbers that were committed.
async fn database() -> PgPool {
    let stack = yuetan_testkit::stack().await;
    let url = stack.fresh_database().await.expect("a fresh database");
    // One connection per issue, so all of them are in flight at once.
    let pool = db::connect(&url, "numbering", u32::try_from(ISSUES).unwrap() + 2).await.expect("connect");
    sqlx::raw_sql(
        "CREATE TABLE document_counters (
             organ TEXT NOT NULL, kind TEXT NOT NULL, year INTEGER NOT NULL,
             last INTEGER NOT NULL CHECK (last > 0),
             PRIMARY KEY (organ, kind, year));
         CREATE TABLE issued (sequence INTEGER NOT NULL, issue INTEGER PRIMARY KEY);",
    )
    .execute(&pool)
    .await
    .expect("the tables");
    pool
}

/// Runs `ISSUES` concurrent transactions that each take the next number;
/// those in `rolled_back` roll back, the others record their number and
/// commit. Returns the committed numbers.
async fn issue_concurrently(pool: &PgPool, rolled_back: &BTreeSet<usize>) -> Vec<i32> {
    // Every transaction holds an open connection before any takes a number,
    // so the takes really overlap.
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(ISSUES));
    let mut tasks = Vec::new();
    for issue in 0..ISSUES {
        let (pool, barrier, roll_back) = (pool.clone(), barrier.clone(), rolled_back.contains(&issue));
        tasks.push(tokio::spawn(async move {
            let mut tx = pool.begin().await.expect("begin");
            barrier.wait().await;
            let sequence = next_sequence(&mut tx, ORGAN, KIND, YEAR).await.expect("a number");
            if roll_back {
                // Something later in the same transaction failed.
                tx.rollback().await.expect("rollback");
                return;
            }
            sqlx::query("INSERT INTO issued (sequence, issue) VALUES ($1, $2)")
                .bind(i32::try_from(sequence).unwrap())
                .bind(i32::try_from(issue).unwrap())
                .execute(&mut *tx)
                .await
                .expect("record the number");
            tx.commit().await.expect("commit");
        }));
    }
    for task in tasks {
        task.await.expect("an issue panicked");
    }
    sqlx::query_scalar("SELECT sequence FROM issued ORDER BY sequence").fetch_all(pool).await.expect("the committed numbers")
}

#[tokio::test]
async fn r_doc_2_notice_numbers_have_no_gaps_under_50_concurrent_issues() {
    let pool = database().await;
    let mut order: Vec<usize> = (0..ISSUES).collect();
    order.shuffle(&mut rand::thread_rng());
    let rolled_back: BTreeSet<usize> = order.into_iter().take(ISSUES / 3).collect();
    let committed = issue_concurrently(&pool, &rolled_back).await;
    let n = ISSUES - rolled_back.len();
    let expected: Vec<i32> = (1..=i32::try_from(n).unwrap()).collect();
    assert_eq!(committed, expected, "the {n} committed issues hold exactly 1..={n}: no gap left by the {} rolled back, no repeat", rolled_back.len());
    let last: i32 = sqlx::query_scalar("SELECT last FROM document_counters WHERE organ = $1 AND kind = $2 AND year = $3")
        .bind(ORGAN)
        .bind(KIND)
        .bind(YEAR)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(usize::try_from(last).unwrap(), n, "the counter stands at the last committed number");
}

#[tokio::test]
async fn r_doc_2_fifty_concurrent_issues_that_all_commit_take_1_to_50() {
    let pool = database().await;
    let committed = issue_concurrently(&pool, &BTreeSet::new()).await;
    let expected: Vec<i32> = (1..=i32::try_from(ISSUES).unwrap()).collect();
    assert_eq!(committed, expected);
    // The next year's sequence is a separate one, starting at 1.
    let mut conn = pool.acquire().await.unwrap();
    assert_eq!(next_sequence(&mut conn, ORGAN, KIND, YEAR + 1).await.unwrap(), 1);
}
