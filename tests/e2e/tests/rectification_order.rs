//! Rectification opens on `scheduling.interview_held` even when intake's
//! `intake.case_opened` for the case has not reached it yet (delayed behind
//! a redelivery, as the long chaos run saw: a replica killed with the
//! delivery in flight): the case row is recorded from the event first, so
//! the rectification's foreign key holds and nothing is dead-lettered;
//! `case_opened`, arriving later, completes the row.

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;
use yuetan_platform::fields::date;
use yuetan_platform::outbox::{NewEvent, Outbox};
use yuetan_proto::events::event::Payload;
use yuetan_proto::events::{self as ev};
use yuetan_proto::rectification as pb;

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
}

/// Thursday 2026-04-30, 09:30 CST: the interview was held.
const NOW: &str = "2026-04-30T01:30:00Z";

#[tokio::test]
async fn the_rectification_opens_on_interview_held_before_the_case_opened_event_reached_rectification() {
    let mut s = start_at(at(NOW)).await;
    s.start_service(Service::Rectification).await;
    let case_id = uuid::Uuid::now_v7().to_string();
    // scheduling.interview_held for a case rectification has never heard of,
    // written to an outbox (its relay publishes it like any event).
    let held = Payload::InterviewHeld(ev::InterviewHeld {
        case_id: case_id.clone(),
        interview_id: uuid::Uuid::now_v7().to_string(),
        number: "兰城市监约〔2026〕9号".into(),
        party_name: "兰州某商贸有限公司".into(),
        items: vec![ev::AgreedItem {
            item_no: 1,
            content: "补报2025年度报告".into(),
            deadline: Some(date("2026-05-15".parse().unwrap())),
            acceptance_standard: "年度报告已公示".into(),
            check_method: "公示系统核查".into(),
            ..Default::default()
        }],
        provisions: vec!["《企业信息公示暂行条例》第八条".into()],
        mode: "in_person".into(),
        ..Default::default()
    });
    let outbox = Outbox::new(&s.config.nats.subject_prefix, "scheduling");
    let mut tx = s.pool_of(Service::Intake).begin().await.unwrap();
    let event = NewEvent {
        event_type: "scheduling.interview_held".into(),
        case_id: Some(case_id.parse().unwrap()),
        case_version: 1,
        jurisdiction: CHENGGUAN.into(),
        organ: ORGAN_A.into(),
        actor: None,
        correlation_id: None,
        causation_id: None,
        payload: held,
    };
    outbox.write(&mut tx, event, yuetan_platform::clock::Clock::now(s.clock.as_ref())).await.unwrap();
    tx.commit().await.unwrap();
    s.drain_outbox().await;

    // The rectification opens with the agreed item; nothing is dead-lettered.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let rect = loop {
        if let Ok(r) = s.rectification().get_rectification(req(&proposer(), pb::GetRectificationRequest { case_id: case_id.clone() })).await {
            break r.into_inner();
        }
        let dead: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letters").fetch_one(s.pool_of(Service::Rectification)).await.unwrap();
        assert_eq!(dead, 0, "rectification dead-lettered the interview_held of a case it had not seen opened");
        assert!(tokio::time::Instant::now() < deadline, "no rectification opened for case {case_id}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(rect.status, "open");
    assert_eq!(rect.items.len(), 1);
    assert_eq!(rect.party_name, "兰州某商贸有限公司");
    let (number, division): (String, String) = sqlx::query_as("SELECT number, division FROM cases WHERE case_id = $1::uuid")
        .bind(&case_id)
        .fetch_one(s.pool_of(Service::Rectification))
        .await
        .unwrap();
    assert_eq!((number.as_str(), division.as_str()), ("兰城市监约〔2026〕9号", CHENGGUAN), "the case row recorded from the event");

    // Until intake's case_opened arrives the organ's document code is not
    // known here: a numbered document is refused as retryable, naming why.
    let refused = s
        .rectification()
        .issue_notice(req(&proposer(), pb::IssueNoticeRequest { request_id: uuid::Uuid::now_v7().to_string(), case_id: case_id.clone(), legal_basis: String::new(), consequence: String::new(), contact: "0931-8888888".into() }))
        .await
        .expect_err("no document code known yet");
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    assert!(refused.message().contains("case_opened"), "{}", refused.message());
    let numbered: i64 = sqlx::query_scalar("SELECT count(*) FROM documents").fetch_one(s.pool_of(Service::Rectification)).await.unwrap();
    assert_eq!(numbered, 0, "nothing numbered");
    s.stop().await;
}
