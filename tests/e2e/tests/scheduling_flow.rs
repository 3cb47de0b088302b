//! Scheduling over gRPC against real NATS, PostgreSQL, the portal and the
//! provider peers (an SMTP server, the SMS gateway and e-gov platform over
//! HTTP): approval → plan → notice numbered, reviewed, sealed → served with
//! evidence and a delivery receipt (R-NOTICE-1/2/3, R-INT-1, R-DOC-1/2).

mod common;

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use common::*;
use tonic::Code;
use yuetan_harness::scheduling::{later, officer_entry, plan, Peers, INTERVIEWER, PARTY_PHONE};
use yuetan_harness::admin;
use yuetan_platform::fields;
use yuetan_platform::objects::Objects;
use yuetan_proto::events::event::Payload;
use yuetan_proto::scheduling as pb;
use yuetan_testkit::peers::Behaviour;


fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
}

struct World {
    s: System,
    peers: Peers,
}

/// Intake, review, the portal and the provider peers running; scheduling
/// pointed at them.
async fn world(now: DateTime<Utc>, hang_after_send: bool) -> World {
    let mut s = start_at(now).await;
    let peers = s.start_scheduling_with_peers(hang_after_send).await;
    World { s, peers }
}

#[tokio::test]
async fn r_notice_1_r_notice_2_r_doc_1_r_doc_2_an_approved_case_gets_its_notice_sealed_and_served_by_sms_at_the_reports_time() {
    // Approved on 2026-09-30: 2 working days across the National Day holiday end on 2026-10-09 (LAW.md §1–2).
    let w = world(at("2026-09-30T02:00:00Z"), false).await;
    let s = &w.s;
    w.peers.sms.script(PARTY_PHONE, Behaviour::Silent);
    let case_id = s.approved_case(901, false).await;
    let opened = s.plan_of(&case_id).await;
    assert_eq!(opened.notice_deadline.as_ref().unwrap().iso, "2026-10-09", "R-NOTICE-1: 2 working days across the holiday");
    assert_eq!(opened.status, pb::PlanStatus::Open as i32);
    s.record_address(&case_id, &[pb::Channel::Sms, pb::Channel::Email], "party@example.cn").await;

    let notice = s.notice_passed(&case_id, at("2026-10-10T01:30:00Z")).await;
    assert!(notice.number.starts_with("兰城市监约通〔2026〕") && notice.number.ends_with('号'), "{}", notice.number);
    let pdf = Objects::new(&s.config.objects).unwrap().get(&notice.sha256).await.unwrap();
    assert!(pdf.starts_with(b"%PDF"), "the notice is a PDF in the object store");

    // Sealed, then sent by SMS; the report comes later than the send.
    let services = s.services_until(&case_id, |v| v.first().is_some_and(|x| x.attempts.iter().any(|a| a.status == "sent"))).await;
    let service = &services[0];
    let attempt = &service.attempts[0];
    assert_eq!(attempt.channel, pb::Channel::Sms as i32);
    assert_eq!(attempt.address, "138****1234", "only the masked number leaves the service");
    let sealed = s.scheduling().get_document(req(&proposer(), pb::GetDocumentRequest { document_id: notice.document_id.clone() })).await.unwrap().into_inner();
    assert_eq!(sealed.status, pb::DocumentStatus::Sealed as i32);
    assert!(!sealed.seal_signature.is_empty());
    // R-DOC-2: the sealed file verifies against its record and the organ's key; one byte changed does not.
    let scheduling = s.handle::<yuetan_scheduling::Scheduling>(Service::Scheduling);
    let mut conn = s.pool_of(Service::Scheduling).acquire().await.unwrap();
    let verified = yuetan_scheduling::verify::verify_file(&mut conn, &scheduling.state.seals, &pdf).await.unwrap();
    assert_eq!(verified.number, notice.number);
    let mut altered = pdf.clone();
    let middle = altered.len() / 2;
    altered[middle] ^= 0x01;
    let err = yuetan_scheduling::verify::verify_file(&mut conn, &scheduling.state.seals, &altered).await.unwrap_err();
    assert!(err.to_string().contains("no sealed document"), "{err}");
    drop(conn);
    let message = w.peers.sms.messages().into_iter().find(|m| m.out_id == attempt.attempt_id).expect("the gateway got the message, keyed by the attempt");
    assert!(!format!("{message:?}").contains("兰州某某餐饮"), "the SMS carries a link, not the party's data");

    let reported = at("2026-09-30T03:07:00Z");
    w.peers.sms.push_report(&attempt.attempt_id, true, reported).await.unwrap();
    let served = s.services_until(&case_id, |v| v[0].status == pb::ServiceStatus::Served as i32).await;
    assert_eq!(fields::from_timestamp(served[0].served_at.as_ref()), Some(reported), "served at the report's time (LAW.md §3)");
    assert_eq!(served[0].served_by, pb::Channel::Sms as i32);
    assert!(served[0].receipt_number.starts_with("兰城市监送回〔2026〕"), "{}", served[0].receipt_number);
    assert!(served[0].evidence.contains(&attempt.attempt_id));

    // The same report again (the provider retries its push) changes nothing.
    w.peers.sms.push_report(&attempt.attempt_id, true, at("2026-09-30T03:09:00Z")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let again = s.services_until(&case_id, |_| true).await;
    assert_eq!(again[0].served_at, served[0].served_at);
    assert_eq!(again[0].receipt_number, served[0].receipt_number);
    let served_events = s.wait_for_events("scheduling.document_served", 1).await;
    assert_eq!(served_events.len(), 1);
    let types = s.case_event_types(&case_id, "scheduling.document_served").await;
    for expected in ["scheduling.plan_opened", "scheduling.interview_planned", "scheduling.notice_issued", "scheduling.service_requested", "scheduling.document_served"] {
        assert!(types.contains(&expected.to_string()), "{expected} missing from {types:?}");
    }
    let plan = s.plan_of(&case_id).await;
    assert_eq!(plan.status, pb::PlanStatus::Served as i32);
    w.s.h.stop().await;
}

#[tokio::test]
async fn r_notice_2_a_failed_sms_falls_back_to_email_and_a_bounced_email_to_an_officer() {
    let w = world(at("2026-11-02T01:00:00Z"), false).await;
    let s = &w.s;
    w.peers.sms.script(PARTY_PHONE, Behaviour::Fail { err_code: "MK:0001".into() });
    // Case 1: SMS fails → e-mail accepted by the recipient's server → served.
    let one = s.approved_case(911, false).await;
    s.record_address(&one, &[pb::Channel::Sms, pb::Channel::Email], "party@example.cn").await;
    s.notice_passed(&one, at("2026-11-04T01:30:00Z")).await;
    let served = s.services_until(&one, |v| v.first().is_some_and(|x| x.status == pb::ServiceStatus::Served as i32)).await;
    assert_eq!(served[0].served_by, pb::Channel::Email as i32);
    assert_eq!(served[0].attempts.len(), 2);
    assert_eq!(served[0].attempts[0].status, "failed");
    assert!(served[0].evidence.contains("queue id"), "{}", served[0].evidence);
    let mail = w.peers.smtp.wait_for_messages(1, Duration::from_secs(10)).await.unwrap();
    assert!(mail[0].to.iter().any(|t| t == "party@example.cn"));
    assert!(mail[0].body.contains("/d/"), "the mail carries the signed link");
    let failed = s.wait_for_event(|e| e.case_id == one && e.r#type == "scheduling.service_failed").await;
    let Some(Payload::ServiceFailed(f)) = failed.payload else { panic!() };
    assert_eq!((f.channel.as_str(), f.next_channel.as_str()), ("sms", "email"));

    // Case 2: SMS fails, the e-mail bounces → visible as failed, then an officer delivers.
    let two = s.approved_case(912, false).await;
    s.record_address(&two, &[pb::Channel::Sms, pb::Channel::Email], "bounce-party@example.cn").await;
    s.notice_passed(&two, at("2026-11-04T03:30:00Z")).await;
    let waiting = s.services_until(&two, |v| v.first().is_some_and(|x| x.status == pb::ServiceStatus::AwaitingOfficer as i32)).await;
    assert!(waiting[0].attempts.iter().all(|a| a.status == "failed"));
    assert!(waiting[0].attempts[1].failure.contains("550") || waiting[0].attempts[1].failure.to_lowercase().contains("mailbox"), "{}", waiting[0].attempts[1].failure);
    let open = s.scheduling().list_open_services(req(&proposer(), pb::ListOpenServicesRequest { page_size: 0 })).await.unwrap().into_inner();
    assert!(open.services.iter().any(|x| x.service_id == waiting[0].service_id && x.status == pb::ServiceStatus::AwaitingOfficer as i32));
    let signature = s.upload(b"receiver signature image").await;
    let done = s
        .scheduling()
        .record_direct_service(req(
            &proposer(),
            pb::RecordDirectServiceRequest {
                request_id: uuid::Uuid::now_v7().to_string(),
                service_id: waiting[0].service_id.clone(),
                method: pb::Channel::Direct as i32,
                served_at: Some(fields::timestamp(at("2026-11-02T00:30:00Z"))),
                receiver_name: "王某".into(),
                relationship: "法定代表人".into(),
                signature_sha256: signature,
                place: "当事人经营场所".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.status, pb::ServiceStatus::Served as i32);
    assert!(!done.receipt_number.is_empty());
    w.s.h.stop().await;
}

#[tokio::test]
async fn r_notice_2_electronic_service_without_a_signed_address_confirmation_is_refused_naming_consent() {
    let w = world(at("2026-11-02T01:00:00Z"), false).await;
    let s = &w.s;
    let case_id = s.approved_case(921, false).await;
    let notice = s.notice_passed(&case_id, at("2026-11-04T01:30:00Z")).await;
    // No confirmation on record: the default plan goes straight to an officer.
    let waiting = s.services_until(&case_id, |v| v.first().is_some_and(|x| x.status == pb::ServiceStatus::AwaitingOfficer as i32)).await;
    assert!(waiting[0].attempts.is_empty(), "nothing was sent electronically");
    let refused = s
        .scheduling()
        .request_service(req(&proposer(), pb::RequestServiceRequest { request_id: uuid::Uuid::now_v7().to_string(), document_id: notice.document_id, channels: vec![pb::Channel::Sms as i32] }))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().contains("consent"), "{}", refused.message());
    assert!(w.peers.sms.messages().is_empty());
    // The officer serves it in person; the party refuses to sign (留置送达, CPL 89):
    // reason, witness and photo recorded, and the witness is on the delivery receipt.
    let photo = s.upload(b"photo of the notice left at the premises").await;
    let done = s
        .scheduling()
        .record_direct_service(req(
            &proposer(),
            pb::RecordDirectServiceRequest {
                request_id: uuid::Uuid::now_v7().to_string(),
                service_id: waiting[0].service_id.clone(),
                method: pb::Channel::Direct as i32,
                served_at: Some(fields::timestamp(at("2026-11-02T00:40:00Z"))),
                receiver_name: "王某".into(),
                relationship: "法定代表人".into(),
                refused: true,
                refusal_reason: "拒绝签收".into(),
                witness: "李见证".into(),
                photo_sha256: photo.clone(),
                place: "当事人经营场所".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(done.evidence.contains("拒绝签收") && done.evidence.contains(&photo), "{}", done.evidence);
    let receipt = s.scheduling().get_document(req(&proposer(), pb::GetDocumentRequest { document_id: done.receipt_document_id.clone() })).await.unwrap().into_inner();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("receipt.pdf");
    std::fs::write(&file, Objects::new(&s.config.objects).unwrap().get(&receipt.sha256).await.unwrap()).unwrap();
    let text = std::process::Command::new("pdftotext").arg(&file).arg("-").output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout).replace(char::is_whitespace, "");
    assert!(text.contains("送达回证") && text.contains("李见证") && text.contains("直接送达"), "{text}");
    w.s.h.stop().await;
}

#[tokio::test]
async fn r_notice_3_r_int_1_plans_are_checked_for_time_panel_and_double_booking() {
    let w = world(at("2026-11-02T01:00:00Z"), false).await;
    let s = &w.s;
    let normal = s.approved_case(931, false).await;
    let urgent = s.approved_case(932, true).await;
    s.plan_of(&normal).await;
    s.plan_of(&urgent).await;
    let client = s.scheduling();
    // Six working days after service (planning counts from today): refused; five: allowed.
    let six = client.clone().plan_interview(req(&proposer(), plan(&normal, at("2026-11-10T01:30:00Z"), "第一约谈室"))).await.unwrap_err();
    assert_eq!(six.code(), Code::InvalidArgument);
    assert!(six.message().contains("interview_at") && six.message().contains("5 working days"), "{}", six.message());
    // Urgent: 25 hours after service refused.
    let late = client.clone().plan_interview(req(&proposer(), plan(&urgent, later(at("2026-11-02T01:00:00Z"), 1, 1), "第二约谈室"))).await.unwrap_err();
    assert!(late.message().contains("24 hours"), "{}", late.message());
    // A panel without legal-review qualification.
    let mut no_legal = plan(&normal, at("2026-11-04T01:30:00Z"), "第一约谈室");
    client.clone().put_officer(req(&admin(), officer_entry("int-b", "钱执法", false, NaiveDate::from_ymd_opt(2025, 6, 1).unwrap()))).await.unwrap();
    no_legal.interviewers = vec![INTERVIEWER.into(), "int-b".into()];
    let err = client.clone().plan_interview(req(&proposer(), no_legal)).await.unwrap_err();
    assert!(err.message().contains("legal-review"), "{}", err.message());
    // An interviewer whose certification expired (certified 2024-01-01, valid 2 years).
    client.clone().put_officer(req(&admin(), officer_entry("int-old", "孙过期", true, NaiveDate::from_ymd_opt(2024, 1, 1).unwrap()))).await.unwrap();
    let mut expired = plan(&normal, at("2026-11-04T01:30:00Z"), "第一约谈室");
    expired.interviewers = vec!["int-old".into(), INTERVIEWER.into()];
    let err = client.clone().plan_interview(req(&proposer(), expired)).await.unwrap_err();
    assert!(err.message().contains("expired"), "{}", err.message());
    // The directory announces its changes.
    let updated = s.wait_for_event(|e| e.r#type == "scheduling.officer_updated" && matches!(&e.payload, Some(Payload::OfficerUpdated(o)) if o.officer_id == "int-old")).await;
    let Some(Payload::OfficerUpdated(o)) = updated.payload else { panic!() };
    assert_eq!(o.interviewer_certification_valid_until.unwrap().iso, "2026-01-01", "certified 2024-01-01, valid 2 years");
    assert!(o.legal_review_qualified);
    // A good plan for each case; then one interviewer twice at overlapping times: refused.
    client.clone().plan_interview(req(&proposer(), plan(&normal, at("2026-11-04T01:30:00Z"), "第一约谈室"))).await.unwrap();
    client.clone().plan_interview(req(&proposer(), plan(&urgent, at("2026-11-03T00:30:00Z"), "第二约谈室"))).await.unwrap();
    let overlap = plan(&normal, at("2026-11-03T01:00:00Z"), "第三约谈室");
    let err = client.clone().plan_interview(req(&proposer(), overlap)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("already booked"), "{}", err.message());
    // The room too: another panel in 第二约谈室 at the urgent case's time.
    client.clone().put_officer(req(&admin(), officer_entry("int-c", "周法制", true, NaiveDate::from_ymd_opt(2025, 6, 1).unwrap()))).await.unwrap();
    client.clone().put_officer(req(&admin(), officer_entry("rec-b", "吴记录", false, NaiveDate::from_ymd_opt(2025, 6, 1).unwrap()))).await.unwrap();
    let mut room = plan(&normal, at("2026-11-03T01:00:00Z"), "第二约谈室");
    room.interviewers = vec!["int-c".into(), "int-b".into()];
    room.recorder = "rec-b".into();
    let err = client.clone().plan_interview(req(&proposer(), room)).await.unwrap_err();
    assert!(err.message().contains("room") && err.message().contains("already booked"), "{}", err.message());
    w.s.h.stop().await;
}

#[tokio::test]
async fn every_scheduling_rpc_refuses_another_countys_officer() {
    let w = world(at("2026-11-02T01:00:00Z"), false).await;
    let s = &w.s;
    let case_id = s.approved_case(941, false).await;
    s.plan_of(&case_id).await;
    let b = Officer::new("officer-b", yuetan_harness::ORGAN_B, QILIHE, &["case_officer", "section_chief", "office", "legal_reviewer"]);
    let c = s.scheduling();
    let id = || uuid::Uuid::now_v7().to_string();
    fn denied(r: Result<(), tonic::Status>, what: &str) {
        let code = r.unwrap_err().code();
        assert!(matches!(code, Code::PermissionDenied | Code::NotFound), "{what}: {code:?}");
    }
    denied(c.clone().get_plan(req(&b, pb::GetPlanRequest { case_id: case_id.clone() })).await.map(|_| ()), "GetPlan");
    denied(c.clone().plan_interview(req(&b, plan(&case_id, at("2026-11-04T01:30:00Z"), "x"))).await.map(|_| ()), "PlanInterview");
    denied(c.clone().issue_notice(req(&b, pb::IssueNoticeRequest { request_id: id(), case_id: case_id.clone() })).await.map(|_| ()), "IssueNotice");
    denied(
        c.clone().record_service_address(req(&b, pb::RecordServiceAddressRequest { request_id: id(), case_id: case_id.clone(), ..Default::default() })).await.map(|_| ()),
        "RecordServiceAddress",
    );
    let reschedule = pb::RecordRescheduleRequestRequest { request_id: id(), case_id: case_id.clone(), reason: "出差".into(), new_interview_at: Some(fields::timestamp(at("2026-11-04T01:30:00Z"))) };
    denied(c.clone().record_reschedule_request(req(&b, reschedule)).await.map(|_| ()), "RecordRescheduleRequest");
    denied(c.clone().list_case_services(req(&b, pb::ListCaseServicesRequest { case_id: case_id.clone() })).await.map(|_| ()), "ListCaseServices");
    denied(c.clone().get_officer(req(&b, pb::GetOfficerRequest { officer_id: INTERVIEWER.into() })).await.map(|_| ()), "GetOfficer");
    denied(c.clone().get_document(req(&b, pb::GetDocumentRequest { document_id: uuid::Uuid::now_v7().to_string() })).await.map(|_| ()), "GetDocument");
    denied(c.clone().request_service(req(&b, pb::RequestServiceRequest { request_id: id(), document_id: uuid::Uuid::now_v7().to_string(), channels: vec![] })).await.map(|_| ()), "RequestService");
    denied(
        c.clone().record_direct_service(req(&b, pb::RecordDirectServiceRequest { request_id: id(), service_id: uuid::Uuid::now_v7().to_string(), method: pb::Channel::Direct as i32, served_at: Some(fields::timestamp(at("2026-11-02T01:00:00Z"))), receiver_name: "x".into(), relationship: "本人".into(), signature_sha256: "0".repeat(64), ..Default::default() })).await.map(|_| ()),
        "RecordDirectService",
    );
    let own = c.clone().list_plans(req(&b, pb::ListPlansRequest::default())).await.unwrap().into_inner();
    assert!(own.plans.is_empty(), "county B's queue holds none of county A's plans");
    let admin_b = Officer::new("admin-b", "620103-ADMIN", QILIHE, &["admin"]);
    let err = c.clone().put_officer(req(&admin_b, officer_entry("int-x", "外县", true, NaiveDate::from_ymd_opt(2025, 6, 1).unwrap()))).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    w.s.h.stop().await;
}

#[tokio::test]
async fn a_process_killed_after_the_gateway_took_the_sms_neither_sends_it_twice_nor_loses_the_record() {
    let mut w = world(at("2026-11-02T01:00:00Z"), true).await;
    w.peers.sms.script(PARTY_PHONE, Behaviour::Silent);
    let case_id = w.s.approved_case(951, false).await;
    w.s.record_address(&case_id, &[pb::Channel::Sms], "").await;
    w.s.notice_passed(&case_id, at("2026-11-04T01:30:00Z")).await;
    // The gateway takes the message; the process hangs before recording it, and dies.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while w.peers.sms.sent_count(PARTY_PHONE) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the gateway never got the message");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    w.s.kill(Service::Scheduling).await;
    let db = sqlx::PgPool::connect(&w.s.admin_database_url).await.unwrap();
    let status: String = sqlx::query_scalar("SELECT status FROM scheduling.attempts").fetch_one(&db).await.unwrap();
    assert_eq!(status, "queued", "the send was not recorded before the crash");
    // Restarted (without the fault): the timer fires again with the same key.
    w.s.set_scheduling(serde_json::json!({ "hang_after_send": false }));
    w.s.start_service(Service::Scheduling).await;
    let sent = w.s.services_until(&case_id, |v| v[0].attempts[0].status == "sent").await;
    assert_eq!(w.peers.sms.sent_count(PARTY_PHONE), 1, "the party got one message: the gateway recognised the repeated OutId");
    assert!(w.peers.sms.request_count() >= 2, "the message was handed over twice");
    let biz = w.peers.sms.messages()[0].biz_id.clone();
    assert_eq!(sent[0].attempts[0].provider_id, biz, "the record holds the gateway's message id");
    w.s.h.stop().await;
}

#[tokio::test]
async fn r_notice_1_a_notice_not_issued_within_two_working_days_is_reported_missed_once() {
    // Approved Friday 2026-11-06 (CST); 2 working days → Tuesday 2026-11-10.
    let w = world(at("2026-11-06T02:00:00Z"), false).await;
    let s = &w.s;
    let case_id = s.approved_case(961, false).await;
    let plan = s.plan_of(&case_id).await;
    assert_eq!(plan.notice_deadline.as_ref().unwrap().iso, "2026-11-10");
    // Still in time on the last day: nothing.
    s.clock.set(at("2026-11-10T15:00:00Z"));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!s.plan_of(&case_id).await.notice_deadline_missed);
    // After 24:00 of the last day (CST): missed, announced once.
    s.clock.set(at("2026-11-10T16:01:00Z"));
    let missed = s.wait_for_event(|e| e.case_id == case_id && e.r#type == "scheduling.notice_deadline_missed").await;
    let Some(Payload::NoticeDeadlineMissed(m)) = missed.payload else { panic!() };
    assert_eq!(m.deadline.unwrap().iso, "2026-11-10");
    s.clock.set(at("2026-11-12T02:00:00Z"));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let all = s.wait_for_events("scheduling.notice_deadline_missed", 1).await;
    assert_eq!(all.iter().filter(|e| e.case_id == case_id).count(), 1, "once");
    assert!(s.plan_of(&case_id).await.notice_deadline_missed);
    w.s.h.stop().await;
}

#[tokio::test]
async fn r_notice_3_a_notice_served_too_late_for_the_planned_time_flags_the_plan_for_rescheduling() {
    let w = world(at("2026-11-02T01:00:00Z"), false).await;
    let s = &w.s;
    w.peers.sms.script(PARTY_PHONE, Behaviour::Silent);
    let case_id = s.approved_case(971, false).await;
    s.record_address(&case_id, &[pb::Channel::Sms], "").await;
    // Planned for Wednesday 09:30 CST: fine if served Monday.
    s.notice_passed(&case_id, at("2026-11-04T01:30:00Z")).await;
    let services = s.services_until(&case_id, |v| v.first().is_some_and(|x| x.attempts.iter().any(|a| a.status == "sent"))).await;
    // The phone was off: the report says it arrived Wednesday 08:00 CST, after the lead time allows.
    w.peers.sms.push_report(&services[0].attempts[0].attempt_id, true, at("2026-11-04T00:00:00Z")).await.unwrap();
    let flagged = s.wait_for_event(|e| e.case_id == case_id && e.r#type == "scheduling.reschedule_needed").await;
    let Some(Payload::RescheduleNeeded(r)) = flagged.payload else { panic!() };
    assert_eq!(fields::from_timestamp(r.served_at.as_ref()), Some(at("2026-11-04T00:00:00Z")));
    assert!(r.reason.contains("lead time"), "{}", r.reason);
    assert_eq!(s.plan_of(&case_id).await.status, pb::PlanStatus::RescheduleNeeded as i32);
    // Replanned within the window counted from service: the plan is served again.
    s.clock.set(at("2026-11-04T01:00:00Z"));
    let replanned = s.scheduling().plan_interview(req(&proposer(), plan(&case_id, at("2026-11-06T01:30:00Z"), "第一约谈室"))).await.unwrap().into_inner();
    assert_eq!(replanned.status, pb::PlanStatus::Served as i32);
    // The party asks once to reschedule, with a reason; a second request is refused.
    let asked = s
        .scheduling()
        .record_reschedule_request(req(&proposer(), pb::RecordRescheduleRequestRequest {
            request_id: uuid::Uuid::now_v7().to_string(),
            case_id: case_id.clone(),
            reason: "法定代表人出差，申请改期".into(),
            new_interview_at: Some(fields::timestamp(at("2026-11-09T01:30:00Z"))),
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(asked.reschedule_requested);
    assert_eq!(asked.reschedule_reason, "法定代表人出差，申请改期");
    let again = s
        .scheduling()
        .record_reschedule_request(req(&proposer(), pb::RecordRescheduleRequestRequest {
            request_id: uuid::Uuid::now_v7().to_string(),
            case_id: case_id.clone(),
            reason: "再次申请".into(),
            new_interview_at: Some(fields::timestamp(at("2026-11-10T01:30:00Z"))),
        }))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    assert!(again.message().contains("once"), "{}", again.message());
    w.s.h.stop().await;
}

#[tokio::test]
async fn r_notice_2_an_sms_without_a_delivery_report_in_time_fails_and_the_next_channel_serves() {
    let w = world(at("2026-11-02T01:00:00Z"), false).await;
    let s = &w.s;
    w.peers.sms.script(PARTY_PHONE, Behaviour::Silent);
    let case_id = s.approved_case(981, false).await;
    s.record_address(&case_id, &[pb::Channel::Sms, pb::Channel::Email], "party@example.cn").await;
    s.notice_passed(&case_id, at("2026-11-04T01:30:00Z")).await;
    s.services_until(&case_id, |v| v.first().is_some_and(|x| x.attempts.iter().any(|a| a.status == "sent"))).await;
    // 29 minutes: still waiting (the window is 30).
    s.clock.advance(chrono::Duration::minutes(29));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(s.services_until(&case_id, |_| true).await[0].attempts.len(), 1);
    s.clock.advance(chrono::Duration::minutes(2));
    let failed = s.wait_for_event(|e| e.case_id == case_id && e.r#type == "scheduling.service_failed").await;
    let Some(Payload::ServiceFailed(f)) = failed.payload else { panic!() };
    assert_eq!((f.channel.as_str(), f.next_channel.as_str()), ("sms", "email"));
    assert!(f.reason.contains("no delivery report"), "{}", f.reason);
    let served = s.services_until(&case_id, |v| v[0].status == pb::ServiceStatus::Served as i32).await;
    assert_eq!(served[0].served_by, pb::Channel::Email as i32);
    w.s.h.stop().await;
}

#[tokio::test]
async fn r_notice_2_another_services_sealed_document_is_served_on_its_service_requested_event() {
    let w = world(at("2026-11-02T01:00:00Z"), false).await;
    let s = &w.s;
    let case_id = s.approved_case(991, false).await;
    s.plan_of(&case_id).await;
    s.record_address(&case_id, &[pb::Channel::Email], "party@example.cn").await;
    // Rectification (to come) asks, through an outbox, for its sealed notice to be served.
    let sha256 = s.upload("整改通知书（已盖章）".as_bytes()).await;
    let outbox = yuetan_platform::outbox::Outbox::new(s.h.config.nats.subject_prefix.clone(), "rectification");
    let request = yuetan_platform::outbox::NewEvent {
        event_type: "rectification.service_requested".into(),
        case_id: Some(uuid::Uuid::parse_str(&case_id).unwrap()),
        case_version: 0,
        jurisdiction: CHENGGUAN.into(),
        organ: ORGAN_A.into(),
        actor: None,
        correlation_id: None,
        causation_id: None,
        payload: Payload::ServiceRequested(yuetan_proto::events::ServiceRequested {
            service_id: String::new(),
            document_id: "rect-notice-1".into(),
            document_sha256: sha256.clone(),
            document_name: "整改通知书".into(),
            document_number: "兰城市监整通〔2026〕1号".into(),
            kind: "rectification_notice".into(),
            channels: vec!["email".into()],
            requested_by: "officer-a".into(),
        }),
    };
    let mut tx = s.h.pool().begin().await.unwrap();
    outbox.write(&mut tx, request, Utc::now()).await.unwrap();
    tx.commit().await.unwrap();
    let served = s.services_until(&case_id, |v| v.iter().any(|x| x.status == pb::ServiceStatus::Served as i32)).await;
    let service = served.iter().find(|x| x.document_id == "rect-notice-1").expect("the rectification notice's service");
    assert_eq!(service.source_service, "rectification");
    assert_eq!(service.document_sha256, sha256);
    assert_eq!(service.served_by, pb::Channel::Email as i32);
    let event = s.wait_for_event(|e| e.r#type == "scheduling.document_served" && matches!(&e.payload, Some(Payload::DocumentServed(d)) if d.document_id == "rect-notice-1")).await;
    let Some(Payload::DocumentServed(d)) = event.payload else { panic!() };
    assert_eq!(d.source_service, "rectification", "the answer names the service that asked");
    let mail = w.peers.smtp.wait_for_messages(1, Duration::from_secs(10)).await.unwrap();
    assert!(mail[0].subject.contains("整改通知书") || mail[0].body.contains("整改通知书"));
    w.s.h.stop().await;
}
