//! The harness itself: what it starts, where, and that one service can be
//! stopped, killed and started again while the others run.

use std::time::Duration;

use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use yuetan_harness::intake::{credit_code, enterprise};
use yuetan_harness::{proposer, req, reviewer, spawn, Service, System, CHENGGUAN};
use yuetan_proto::intake as ipb;
use yuetan_proto::review::TaskKind;

#[tokio::test]
async fn every_service_of_the_table_starts_in_its_own_schema_of_one_database_on_its_own_port() {
    let sys = spawn(Service::ALL).await;
    assert_eq!(sys.running(), Service::ALL);
    let mut ports = Vec::new();
    for service in Service::ALL {
        let health = HealthClient::new(sys.channel(*service)).check(HealthCheckRequest { service: String::new() }).await;
        assert!(health.is_ok(), "{} answers health: {health:?}", service.name());
        ports.push(sys.addr(*service).port());
        let schema: String =
            sqlx::query_scalar("SELECT current_schema()::text").fetch_one(sys.pool_of(*service)).await.unwrap();
        assert_eq!(schema, service.name());
        let database: String = sqlx::query_scalar("SELECT current_database()::text").fetch_one(sys.pool_of(*service)).await.unwrap();
        assert!(sys.database_url.ends_with(&database), "one database for all");
    }
    ports.dedup();
    assert_eq!(ports.len(), Service::ALL.len(), "one port each");
    sys.stop().await;
}

#[tokio::test]
async fn a_case_submitted_while_review_is_stopped_is_reviewed_once_review_is_started_again() {
    let mut sys = System::builder().with(Service::Intake).with(Service::Review).start().await;
    sys.put_organs().await;
    let addr = sys.addr(Service::Review);
    let review = sys.review(); // a client made before the restart
    sys.stop_service(Service::Review).await;
    assert_eq!(sys.running(), [Service::Intake]);

    let case = sys.submitted_case(&proposer(), 1, false).await;
    sys.wait_for_event(|e| e.r#type == "intake.case_submitted" && e.case_id == case.id).await;
    sys.start_service(Service::Review).await;
    assert_eq!(sys.addr(Service::Review), addr, "the same port");

    let task = sys.task(&reviewer(), &case.id, TaskKind::LegalityReview, 1).await;
    let mut review = review;
    let file = review.get_review(req(&reviewer(), yuetan_proto::review::GetReviewRequest { case_id: case.id.clone() })).await;
    assert_eq!(file.expect("the old client reaches the restarted review").into_inner().tasks[0].id, task.id);
    sys.wait_for_events("review.review_opened", 1).await;
    sys.stop().await;
}

#[tokio::test]
async fn a_killed_review_catches_up_when_started_again() {
    let mut sys = System::builder().with(Service::Intake).with(Service::Review).toml("[consumer]\nack_wait_secs = 1").start().await;
    sys.put_organs().await;
    let first = sys.submitted_case(&proposer(), 1, false).await;
    sys.task(&reviewer(), &first.id, TaskKind::LegalityReview, 1).await;
    sys.kill(Service::Review).await;
    let second = sys.submitted_case(&proposer(), 2, false).await;
    sys.start_service(Service::Review).await;
    sys.task(&reviewer(), &second.id, TaskKind::LegalityReview, 1).await;
    let opened = sys.wait_for_events("review.review_opened", 2).await;
    assert_eq!(opened.len(), 2, "each case's review opened once");
    sys.stop().await;
}

#[tokio::test]
async fn counts_change_when_a_request_writes_and_not_when_it_is_refused() {
    let sys = spawn(&[Service::Intake]).await;
    sys.put_organs().await;
    let before = sys.counts().await;
    assert!(before.iter().any(|(table, _)| table == "intake.parties"), "{before:?}");
    let refused = sys
        .intake()
        .register_party(req(&proposer(), ipb::RegisterPartyRequest { request_id: String::new(), party: Some(enterprise("", "x")) }))
        .await;
    assert!(refused.is_err());
    assert_eq!(sys.counts().await, before);
    sys.register_party(&proposer(), enterprise("企业", &credit_code(CHENGGUAN, 1))).await;
    sys.drain_outbox().await;
    assert_ne!(sys.counts().await, before);
    sys.stop().await;
}

#[tokio::test]
#[should_panic(expected = "no matching event within")]
async fn a_wait_for_an_event_that_never_comes_fails_naming_what_came() {
    let sys = spawn(&[Service::Intake]).await;
    sys.wait_for_event_within(Duration::from_millis(300), |e| e.r#type == "nobody.publishes_this").await;
}
