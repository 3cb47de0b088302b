//! Document number sequences against a real PostgreSQL (R-DOC-2).

use yuetan_intake::domain::doc_number::DocumentNumber;
use yuetan_intake::store;
use yuetan_platform::db;

async fn pool() -> sqlx::PgPool {
    let stack = yuetan_testkit::stack().await;
    let url = stack.fresh_database().await.unwrap();
    let pool = db::connect(&url, "intake", 60).await.unwrap();
    db::migrate(&pool, db::platform_migrations()).await.unwrap();
    db::migrate(&pool, store::migrations()).await.unwrap();
    pool
}

#[tokio::test]
async fn r_doc_2_fifty_concurrent_numbers_in_one_organ_are_distinct_and_consecutive() {
    let pool = pool().await;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = pool.begin().await.unwrap();
            let sequence = store::next_document_sequence(&mut tx, "兰城市监约", "interview_approval", 2026).await.unwrap();
            tx.commit().await.unwrap();
            sequence
        }));
    }
    let mut numbers = Vec::new();
    for task in tasks {
        numbers.push(task.await.unwrap());
    }
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=50).collect::<Vec<u32>>());
    let last = DocumentNumber::new("兰城市监约", 2026, numbers[49]).unwrap();
    assert_eq!(last.to_string(), "兰城市监约〔2026〕50号");
}

#[tokio::test]
async fn r_doc_2_a_rolled_back_number_is_given_back_and_sequences_are_per_organ_kind_and_year() {
    let pool = pool().await;
    let take = |organ: &'static str, kind: &'static str, year: i32, commit: bool| {
        let pool = pool.clone();
        async move {
            let mut tx = pool.begin().await.unwrap();
            let sequence = store::next_document_sequence(&mut tx, organ, kind, year).await.unwrap();
            if commit {
                tx.commit().await.unwrap();
            } else {
                tx.rollback().await.unwrap();
            }
            sequence
        }
    };
    assert_eq!(take("兰城市监约", "notice", 2026, true).await, 1);
    assert_eq!(take("兰城市监约", "notice", 2026, false).await, 2);
    assert_eq!(take("兰城市监约", "notice", 2026, true).await, 2, "the rolled-back number is reused: no gap");
    assert_eq!(take("兰城市监约", "record", 2026, true).await, 1);
    assert_eq!(take("兰城市监约", "notice", 2027, true).await, 1);
    assert_eq!(take("兰七里河约", "notice", 2026, true).await, 1);
}
