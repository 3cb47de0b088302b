//! Service through the government e-delivery platform (R-NOTICE-2, LAW.md
//! §3) against real NATS, PostgreSQL, the portal and the e-gov peer over
//! HTTP: scheduling sends the signed delivery, the platform acknowledges to
//! the portal's `/callbacks/egov`, and the acknowledgement's time is the
//! time of service; a failed delivery falls back to the next channel.
//!
//! The portal checks the acknowledgement's timestamp against the system's
//! clock (within 5 minutes) and the peer signs with the real time, so these
//! tests run the clock at the real time.

mod common;

use std::time::Duration;

use chrono::{SubsecRound, Utc};
use common::*;
use yuetan_harness::scheduling::{Peers, PARTY_EGOV_ACCOUNT};
use yuetan_platform::fields;
use yuetan_proto::events::event::Payload;
use yuetan_proto::scheduling as pb;
use yuetan_testkit::peers::Behaviour;

const ACCOUNT: &str = PARTY_EGOV_ACCOUNT;

struct World {
    s: System,
    peers: Peers,
}

/// Intake, review, the portal and the provider peers running (the clock at
/// the real time, see above); scheduling pointed at them.
async fn world() -> World {
    let mut s = start_at(Utc::now().trunc_subsecs(0)).await;
    let peers = s.start_scheduling_with_peers(false).await;
    World { s, peers }
}

/// Two working days from today, 09:30 CST.
fn interview_time(s: &System) -> chrono::DateTime<Utc> {
    let today = fields::cst_date(yuetan_platform::Clock::now(&*s.clock));
    let day = yuetan_calendar::Calendar::builtin().add_working_days(today, 2).unwrap().value;
    day.and_hms_opt(1, 30, 0).unwrap().and_utc()
}

async fn count_events(s: &System, event_type: &str) -> usize {
    s.events().await.iter().filter(|(_, e)| e.r#type == event_type).count()
}

#[tokio::test]
async fn r_notice_2_a_notice_is_served_through_the_egov_platform_at_the_acks_time_and_a_repeated_ack_changes_nothing() {
    let w = world().await;
    let s = &w.s;
    w.peers.egov.script(ACCOUNT, Behaviour::Silent);
    let case_id = s.approved_case(961, false).await;
    s.record_address(&case_id, &[pb::Channel::Egov], "party@example.cn").await;
    s.notice_passed(&case_id, interview_time(s)).await;

    // Sent to the platform; no acknowledgement yet.
    let sent = s.services_until(&case_id, |v| v.first().is_some_and(|x| x.attempts.iter().any(|a| a.status == "sent"))).await;
    let attempt = &sent[0].attempts[0];
    assert_eq!(attempt.channel, pb::Channel::Egov as i32);
    assert_ne!(attempt.address, ACCOUNT, "only the masked account leaves the service");
    assert_ne!(sent[0].status, pb::ServiceStatus::Served as i32, "sending is not service: the platform's acknowledgement is");
    let message = w.peers.egov.messages().into_iter().find(|m| m.msg_id == attempt.attempt_id).expect("the platform got the delivery, keyed by the attempt");
    assert_eq!(message.recipient_account, ACCOUNT);
    assert_eq!(message.callback_url, format!("{}/callbacks/egov", w.peers.portal.base_url()), "acknowledgements go to the portal");
    assert!(message.link.contains("/d/"), "the delivery carries the signed link: {}", message.link);
    assert!(!format!("{message:?}").contains("兰州某某餐饮"), "the delivery carries a link, not the party's data");
    assert_eq!(attempt.provider_id, message.receipt_id, "the record holds the platform's receipt id");
    assert_eq!(w.peers.egov.bad_signatures(), 0);

    // The platform acknowledges delivery, signed, to the portal.
    let acked = yuetan_platform::Clock::now(&*s.clock) + chrono::Duration::minutes(4);
    let status = w.peers.egov.push_ack(&attempt.attempt_id, true, acked).await.unwrap();
    assert_eq!(status, 200, "the portal took the signed acknowledgement");
    let served = s.services_until(&case_id, |v| v[0].status == pb::ServiceStatus::Served as i32).await;
    assert_eq!(fields::from_timestamp(served[0].served_at.as_ref()), Some(acked), "served at the acknowledgement's time (LAW.md §3)");
    assert_eq!(served[0].served_by, pb::Channel::Egov as i32);
    assert!(served[0].receipt_number.starts_with("兰城市监送回〔"), "{}", served[0].receipt_number);
    assert!(served[0].evidence.contains(&attempt.attempt_id) && served[0].evidence.contains(&message.receipt_id), "{}", served[0].evidence);
    assert_eq!(served[0].attempts[0].status, "delivered");

    // The same acknowledgement again (the platform retries its push): taken, and nothing changes.
    assert_eq!(w.peers.egov.push_ack(&attempt.attempt_id, true, acked).await.unwrap(), 200);
    // A later one for the same delivery changes nothing either: the first arrival is the time of service.
    assert_eq!(w.peers.egov.push_ack(&attempt.attempt_id, true, acked + chrono::Duration::minutes(3)).await.unwrap(), 200);
    s.wait_for_events("portal.egov_acknowledged", 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    s.drain_outbox().await;
    assert_eq!(count_events(s, "portal.egov_acknowledged").await, 2, "the identical acknowledgement was recorded once");
    let again = s.services_until(&case_id, |_| true).await;
    assert_eq!(again[0].served_at, served[0].served_at);
    assert_eq!(again[0].receipt_number, served[0].receipt_number);
    assert_eq!(again[0].evidence, served[0].evidence);
    assert_eq!(count_events(s, "scheduling.document_served").await, 1);
    assert_eq!(w.peers.egov.sent_count(ACCOUNT), 1, "one delivery to the party");
    let types = s.case_event_types(&case_id, "scheduling.document_served").await;
    assert!(types.contains(&"scheduling.service_requested".to_string()), "{types:?}");
    assert_eq!(s.plan_of(&case_id).await.status, pb::PlanStatus::Served as i32);
    w.s.h.stop().await;
}

#[tokio::test]
async fn r_notice_2_a_failed_egov_delivery_falls_back_to_email_and_is_visible_as_service_failed() {
    let w = world().await;
    let s = &w.s;
    w.peers.egov.script(ACCOUNT, Behaviour::Fail { err_code: "ACCOUNT_NOT_ACTIVATED".into() });
    let case_id = s.approved_case(962, false).await;
    s.record_address(&case_id, &[pb::Channel::Egov, pb::Channel::Email], "party@example.cn").await;
    s.notice_passed(&case_id, interview_time(s)).await;

    let served = s.services_until(&case_id, |v| v.first().is_some_and(|x| x.status == pb::ServiceStatus::Served as i32)).await;
    assert_eq!(served[0].served_by, pb::Channel::Email as i32, "the next channel of the plan served it");
    assert_eq!(served[0].attempts.len(), 2);
    assert_eq!(served[0].attempts[0].channel, pb::Channel::Egov as i32);
    assert_eq!(served[0].attempts[0].status, "failed");
    assert!(served[0].attempts[0].failure.contains("ACCOUNT_NOT_ACTIVATED"), "{}", served[0].attempts[0].failure);
    assert_eq!(served[0].attempts[1].channel, pb::Channel::Email as i32);
    let acks = w.peers.egov.acks_sent();
    assert!(acks.iter().any(|a| !a.delivered && a.status == Some(200)), "the platform's FAILED acknowledgement reached the portal: {acks:?}");
    let mail = w.peers.smtp.wait_for_messages(1, Duration::from_secs(10)).await.unwrap();
    assert!(mail[0].to.iter().any(|t| t == "party@example.cn"));

    let failed = s.wait_for_event(|e| e.case_id == case_id && e.r#type == "scheduling.service_failed").await;
    let Some(Payload::ServiceFailed(f)) = failed.payload else { panic!("a service_failed event without its payload") };
    assert_eq!((f.channel.as_str(), f.next_channel.as_str()), ("egov", "email"));
    assert_eq!(f.attempt_id, served[0].attempts[0].attempt_id);
    assert!(f.reason.contains("ACCOUNT_NOT_ACTIVATED"), "{}", f.reason);
    assert!(!f.awaiting_officer);
    w.s.h.stop().await;
}
