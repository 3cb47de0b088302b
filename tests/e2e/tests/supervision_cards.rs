//! Supervision's deadline cards over gRPC against real NATS and PostgreSQL
//! (R-SUP-3, R-START-2): a clue not verified turns yellow and red on the
//! right working days, by durable timer, once each with two replicas.

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;
use tonic::Code;
use yuetan_harness::intake::{clue, credit_code, enterprise};
use yuetan_proto::events::event::Payload;
use yuetan_proto::supervision as pb;

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
}

fn city_chief() -> Officer {
    Officer::new("city-chief", "620100-SJ", "620100", &["section_chief"])
}

fn other_county() -> Officer {
    Officer::new("qilihe-chief", ORGAN_B_CODE, QILIHE, &["section_chief"])
}

const ORGAN_B_CODE: &str = "620103-SJ";

async fn cards(s: &System, officer: &Officer, division: &str) -> Result<Vec<pb::Card>, tonic::Status> {
    s.supervision()
        .list_cards(req(officer, pb::ListCardsRequest { division: division.into(), colour: 0, include_closed: true, page_size: 50, step: "clue_verification".into(), ..Default::default() }))
        .await
        .map(|r| r.into_inner().cards)
}

#[tokio::test]
async fn r_sup_3_a_clue_registered_on_friday_2026_09_18_and_not_verified_turns_yellow_then_red_by_timer_once_each_with_two_replicas() {
    // Friday 2026-09-18, 10:00 CST.
    let mut s = start_at(at("2026-09-18T02:00:00Z")).await;
    s.start_service(Service::Supervision).await;
    let replica = s.replica(Service::Supervision).await;
    let officer = proposer();
    let party = s.register_party(&officer, enterprise("兰州某某商贸有限公司", &credit_code(&officer.division, 4401))).await;
    let registered = s.intake().register_clue(req(&officer, clue(&party, "SJ-ANNUAL-REPORT"))).await.unwrap().into_inner();
    // Verify by Tuesday 2026-09-22: Sunday 09-20 is a make-up workday.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let card = loop {
        if let Some(c) = cards(&s, &officer, "").await.unwrap().into_iter().find(|c| c.subject_id == registered.id) {
            break c;
        }
        assert!(tokio::time::Instant::now() < deadline, "no card for the clue");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(card.deadline.as_ref().unwrap().iso, "2026-09-22");
    assert_eq!(card.colour, pb::Colour::Green as i32);

    // Sunday 2026-09-20 23:59 CST, a working day with two working days left: still green.
    s.clock.set(at("2026-09-20T15:59:00Z"));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(!s.events().await.iter().any(|(_, e)| e.r#type == "supervision.card_changed"), "green on the make-up Sunday");
    // Monday 2026-09-21 00:00 CST: one working day left → yellow.
    s.clock.set(at("2026-09-20T16:00:01Z"));
    let yellow = s.wait_for_event(|e| e.r#type == "supervision.card_changed").await;
    let Some(Payload::CardChanged(c)) = yellow.payload else { panic!("payload") };
    assert_eq!((c.colour.as_str(), c.previous.as_str(), c.step.as_str()), ("yellow", "green", "clue_verification"));
    // Wednesday 2026-09-23 00:00 CST: overdue → red.
    s.clock.set(at("2026-09-22T16:00:01Z"));
    s.wait_for_events("supervision.card_changed", 2).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let changes: Vec<String> = s
        .events()
        .await
        .into_iter()
        .filter_map(|(_, e)| match e.payload {
            Some(Payload::CardChanged(c)) if e.r#type == "supervision.card_changed" => Some(c.colour),
            _ => None,
        })
        .collect();
    assert_eq!(changes, vec!["yellow".to_string(), "red".to_string()], "each change once, with two replicas");
    let now = cards(&s, &officer, "").await.unwrap();
    assert_eq!(now[0].colour, pb::Colour::Red as i32);

    // Jurisdiction: the city sees its counties; another county does not.
    assert_eq!(cards(&s, &city_chief(), "").await.unwrap().len(), 1);
    let err = cards(&s, &other_county(), CHENGGUAN).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(cards(&s, &other_county(), "").await.unwrap().is_empty());
    replica.stop().await;
}
