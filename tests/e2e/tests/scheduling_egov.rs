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
use yuetan_harness::scheduling::plan;
use yuetan_harness::{RunningPortal, PORTAL_EGOV_APP_ID, PORTAL_EGOV_SECRET};
use yuetan_platform::fields;
use yuetan_platform::objects::Objects;
use yuetan_proto::events::event::Payload;
use yuetan_proto::review as rpb;
use yuetan_proto::scheduling as pb;
use yuetan_testkit::peers::{Behaviour, EgovPeer, EgovPeerConfig, SmtpPeer};

const ACCOUNT: &str = "gov-account-620102-0001";

struct World {
    s: System,
    portal: RunningPortal,
    egov: EgovPeer,
    smtp: SmtpPeer,
}

/// Intake, review and the portal running; the e-gov peer (signing with the
/// portal's app id and secret) and an SMTP server up; scheduling started
/// with its e-gov channel acknowledging to the portal.
async fn world() -> World {
    let mut s = start_at(Utc::now().trunc_subsecs(0)).await;
    let portal = s.start_portal().await;
    let egov = EgovPeer::start(EgovPeerConfig { app_id: PORTAL_EGOV_APP_ID.into(), secret: PORTAL_EGOV_SECRET.into() }).await;
    let smtp = SmtpPeer::start();
    s.set_scheduling(serde_json::json!({
        "egov": { "endpoint": egov.endpoint(), "app_id": PORTAL_EGOV_APP_ID, "secret": PORTAL_EGOV_SECRET, "callback_url": format!("{}/callbacks/egov", portal.base_url()) },
        "email": { "host": "127.0.0.1", "port": smtp.port(), "from": "songda@scjg.example.gov.cn" },
    }));
    s.start_service(Service::Scheduling).await;
    s.put_directory().await;
    World { s, portal, egov, smtp }
}

/// The signed address confirmation with an e-gov account.
async fn record_address(s: &System, case_id: &str, channels: &[pb::Channel]) {
    let form = Objects::new(&s.config.objects).unwrap().put(format!("送达地址确认书 {case_id} 已签字").into_bytes()).await.unwrap().sha256;
    s.scheduling()
        .record_service_address(req(
            &proposer(),
            pb::RecordServiceAddressRequest {
                request_id: uuid::Uuid::now_v7().to_string(),
                case_id: case_id.into(),
                channels: channels.iter().map(|c| *c as i32).collect(),
                sms_number: String::new(),
                email: "party@example.cn".into(),
                egov_account: ACCOUNT.into(),
                postal_address: "兰州市城关区某某路1号".into(),
                confirmation_sha256: form,
                signed_on: Some(fields::date(fields::cst_date(yuetan_platform::Clock::now(&*s.clock)))),
            },
        ))
        .await
        .unwrap();
}

/// Plans (the interview two working days from today, 09:30 CST), issues
/// the notice and passes its document review.
async fn notice_passed(s: &System, case_id: &str) {
    let today = fields::cst_date(yuetan_platform::Clock::now(&*s.clock));
    let day = yuetan_calendar::Calendar::builtin().add_working_days(today, 2).unwrap().value;
    let interview_at = day.and_hms_opt(1, 30, 0).unwrap().and_utc();
    s.plan_of(case_id).await;
    s.scheduling().plan_interview(req(&proposer(), plan(case_id, interview_at, "第一约谈室"))).await.unwrap();
    s.scheduling().issue_notice(req(&proposer(), pb::IssueNoticeRequest { request_id: uuid::Uuid::now_v7().to_string(), case_id: case_id.into() })).await.unwrap();
    let task = s.task(&reviewer(), case_id, rpb::TaskKind::DocumentReview, 1).await;
    s.review()
        .decide_document(req(
            &reviewer(),
            rpb::DecideDocumentRequest { request_id: uuid::Uuid::now_v7().to_string(), task_id: task.id, decision: rpb::DocumentDecision::Pass as i32, comments: "格式规范".into() },
        ))
        .await
        .unwrap();
}

async fn count_events(s: &System, event_type: &str) -> usize {
    s.events().await.iter().filter(|(_, e)| e.r#type == event_type).count()
}

#[tokio::test]
async fn r_notice_2_a_notice_is_served_through_the_egov_platform_at_the_acks_time_and_a_repeated_ack_changes_nothing() {
    let w = world().await;
    let s = &w.s;
    w.egov.script(ACCOUNT, Behaviour::Silent);
    let case_id = s.approved_case(961, false).await;
    record_address(s, &case_id, &[pb::Channel::Egov]).await;
    notice_passed(s, &case_id).await;

    // Sent to the platform; no acknowledgement yet.
    let sent = s.services_until(&case_id, |v| v.first().is_some_and(|x| x.attempts.iter().any(|a| a.status == "sent"))).await;
    let attempt = &sent[0].attempts[0];
    assert_eq!(attempt.channel, pb::Channel::Egov as i32);
    assert_ne!(attempt.address, ACCOUNT, "only the masked account leaves the service");
    assert_ne!(sent[0].status, pb::ServiceStatus::Served as i32, "sending is not service: the platform's acknowledgement is");
    let message = w.egov.messages().into_iter().find(|m| m.msg_id == attempt.attempt_id).expect("the platform got the delivery, keyed by the attempt");
    assert_eq!(message.recipient_account, ACCOUNT);
    assert_eq!(message.callback_url, format!("{}/callbacks/egov", w.portal.base_url()), "acknowledgements go to the portal");
    assert!(message.link.contains("/d/"), "the delivery carries the signed link: {}", message.link);
    assert!(!format!("{message:?}").contains("兰州某某餐饮"), "the delivery carries a link, not the party's data");
    assert_eq!(attempt.provider_id, message.receipt_id, "the record holds the platform's receipt id");
    assert_eq!(w.egov.bad_signatures(), 0);

    // The platform acknowledges delivery, signed, to the portal.
    let acked = yuetan_platform::Clock::now(&*s.clock) + chrono::Duration::minutes(4);
    let status = w.egov.push_ack(&attempt.attempt_id, true, acked).await.unwrap();
    assert_eq!(status, 200, "the portal took the signed acknowledgement");
    let served = s.services_until(&case_id, |v| v[0].status == pb::ServiceStatus::Served as i32).await;
    assert_eq!(fields::from_timestamp(served[0].served_at.as_ref()), Some(acked), "served at the acknowledgement's time (LAW.md §3)");
    assert_eq!(served[0].served_by, pb::Channel::Egov as i32);
    assert!(served[0].receipt_number.starts_with("兰城市监送回〔"), "{}", served[0].receipt_number);
    assert!(served[0].evidence.contains(&attempt.attempt_id) && served[0].evidence.contains(&message.receipt_id), "{}", served[0].evidence);
    assert_eq!(served[0].attempts[0].status, "delivered");

    // The same acknowledgement again (the platform retries its push): taken, and nothing changes.
    assert_eq!(w.egov.push_ack(&attempt.attempt_id, true, acked).await.unwrap(), 200);
    // A later one for the same delivery changes nothing either: the first arrival is the time of service.
    assert_eq!(w.egov.push_ack(&attempt.attempt_id, true, acked + chrono::Duration::minutes(3)).await.unwrap(), 200);
    s.wait_for_events("portal.egov_acknowledged", 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    s.drain_outbox().await;
    assert_eq!(count_events(s, "portal.egov_acknowledged").await, 2, "the identical acknowledgement was recorded once");
    let again = s.services_until(&case_id, |_| true).await;
    assert_eq!(again[0].served_at, served[0].served_at);
    assert_eq!(again[0].receipt_number, served[0].receipt_number);
    assert_eq!(again[0].evidence, served[0].evidence);
    assert_eq!(count_events(s, "scheduling.document_served").await, 1);
    assert_eq!(w.egov.sent_count(ACCOUNT), 1, "one delivery to the party");
    let types = s.case_event_types(&case_id, "scheduling.document_served").await;
    assert!(types.contains(&"scheduling.service_requested".to_string()), "{types:?}");
    assert_eq!(s.plan_of(&case_id).await.status, pb::PlanStatus::Served as i32);
    w.s.h.stop().await;
}

#[tokio::test]
async fn r_notice_2_a_failed_egov_delivery_falls_back_to_email_and_is_visible_as_service_failed() {
    let w = world().await;
    let s = &w.s;
    w.egov.script(ACCOUNT, Behaviour::Fail { err_code: "ACCOUNT_NOT_ACTIVATED".into() });
    let case_id = s.approved_case(962, false).await;
    record_address(s, &case_id, &[pb::Channel::Egov, pb::Channel::Email]).await;
    notice_passed(s, &case_id).await;

    let served = s.services_until(&case_id, |v| v.first().is_some_and(|x| x.status == pb::ServiceStatus::Served as i32)).await;
    assert_eq!(served[0].served_by, pb::Channel::Email as i32, "the next channel of the plan served it");
    assert_eq!(served[0].attempts.len(), 2);
    assert_eq!(served[0].attempts[0].channel, pb::Channel::Egov as i32);
    assert_eq!(served[0].attempts[0].status, "failed");
    assert!(served[0].attempts[0].failure.contains("ACCOUNT_NOT_ACTIVATED"), "{}", served[0].attempts[0].failure);
    assert_eq!(served[0].attempts[1].channel, pb::Channel::Email as i32);
    let acks = w.egov.acks_sent();
    assert!(acks.iter().any(|a| !a.delivered && a.status == Some(200)), "the platform's FAILED acknowledgement reached the portal: {acks:?}");
    let mail = w.smtp.wait_for_messages(1, Duration::from_secs(10)).await.unwrap();
    assert!(mail[0].to.iter().any(|t| t == "party@example.cn"));

    let failed = s.wait_for_event(|e| e.case_id == case_id && e.r#type == "scheduling.service_failed").await;
    let Some(Payload::ServiceFailed(f)) = failed.payload else { panic!("a service_failed event without its payload") };
    assert_eq!((f.channel.as_str(), f.next_channel.as_str()), ("egov", "email"));
    assert_eq!(f.attempt_id, served[0].attempts[0].attempt_id);
    assert!(f.reason.contains("ACCOUNT_NOT_ACTIVATED"), "{}", f.reason);
    assert!(!f.awaiting_officer);
    w.s.h.stop().await;
}
