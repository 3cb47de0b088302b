//! How database failures reach clients, against a real PostgreSQL.

use sqlx::Connection;
use yuetan_platform::error::Error;

/// A server going down under a call (SQLSTATE 57P01, what a fast restart
/// sends every session) is UNAVAILABLE — the client retries with the same
/// request id — never INTERNAL (the chaos run's finding).
#[tokio::test]
async fn a_session_terminated_by_the_server_is_unavailable_so_the_client_retries() {
    let stack = yuetan_testkit::stack().await;
    let url = stack.fresh_database().await.unwrap();
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let err = sqlx::query("SELECT pg_terminate_backend(pg_backend_pid())").execute(&mut conn).await.unwrap_err();
    let mapped = Error::from(err);
    assert!(matches!(mapped, Error::Unavailable(_)), "a terminated session maps to UNAVAILABLE: {mapped:?}");
    assert_eq!(tonic::Status::from(mapped).code(), tonic::Code::Unavailable);
}

/// A constraint the caller broke stays what it was: not retried.
#[tokio::test]
async fn a_duplicate_key_is_already_exists_not_unavailable() {
    let stack = yuetan_testkit::stack().await;
    let url = stack.fresh_database().await.unwrap();
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE t (id INT PRIMARY KEY)").execute(&mut conn).await.unwrap();
    sqlx::query("INSERT INTO t VALUES (1)").execute(&mut conn).await.unwrap();
    let err = sqlx::query("INSERT INTO t VALUES (1)").execute(&mut conn).await.unwrap_err();
    assert!(matches!(Error::from(err), Error::AlreadyExists(_)));
}
