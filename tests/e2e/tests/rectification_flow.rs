//! Rectification over gRPC against real NATS, PostgreSQL, the object store
//! folder, the portal and scheduling (R-RECT-1..6): after the interview the
//! rectification opens; the notice is reviewed, sealed and served through
//! scheduling; the ledger; the party's report; acceptance by two officers;
//! the certificate or the penalty hand-off.

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;
use tonic::Code;
use yuetan_harness::interview::{co_officer, interviewer, rid, unrelated_officer, CO_ORGAN};
use yuetan_harness::scheduling::{Peers, INTERVIEWER, INTERVIEWER_LEGAL};
use yuetan_platform::fields;
use yuetan_proto::events::event::Payload;
use yuetan_proto::rectification as pb;
use yuetan_proto::review as rpb;

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
}

const NOW: &str = "2026-04-28T02:00:00Z";
const SERVED: &str = "2026-04-28T03:00:00Z";
const INTERVIEW: &str = "2026-04-30T01:30:00Z";

struct World {
    s: System,
    peers: Peers,
}

async fn world() -> World {
    world_with(false).await
}

/// `hang`: the crash test's fault injection (hang before the acceptance commits).
async fn world_with(hang: bool) -> World {
    let mut s = start_at(at(NOW)).await;
    let peers = s.start_scheduling_stack(false, None).await;
    set_hang(&mut s, hang);
    s.start_service(Service::Rectification).await;
    World { s, peers }
}

fn set_hang(s: &mut System, hang: bool) {
    s.config.sections.insert("rectification".into(), serde_json::json!({ "hang_before_acceptance_commit": hang }));
}

impl World {
    async fn held(&self, serial: u32, co: &[&str]) -> String {
        self.s.held_case(&self.peers, serial, co, at(INTERVIEW), at(SERVED)).await
    }
}

#[tokio::test]
async fn r_rect_1_the_rectification_opens_after_the_interview_and_its_notice_is_reviewed_sealed_and_served_through_scheduling() {
    let w = world().await;
    let s = &w.s;
    let case_id = w.held(2001, &[]).await;
    let rect = s.rectification_of(&case_id).await;
    assert_eq!(rect.status, "open");
    assert_eq!(rect.items.len(), 2);
    assert_eq!(rect.deadline.as_ref().unwrap().iso, "2026-05-29");
    // R-RECT-3: 3 working days before Friday 2026-05-29.
    assert_eq!(rect.report_due.as_ref().unwrap().iso, "2026-05-26");
    assert_eq!(rect.tracker, proposer().id, "the officer who closed the interview tracks it until the chief names another");
    s.wait_for_event(|e| e.r#type == "rectification.opened" && e.case_id == case_id).await;

    let notice = s
        .rectification()
        .issue_notice(req(&proposer(), pb::IssueNoticeRequest { request_id: rid(), case_id: case_id.clone(), legal_basis: String::new(), consequence: String::new(), contact: "0931-8888888".into() }))
        .await
        .unwrap()
        .into_inner();
    assert!(notice.number.starts_with("兰城市监整改〔2026〕"), "{}", notice.number);
    let task = s.document_task(&reviewer(), &case_id, &notice.sha256).await;
    s.review()
        .decide_document(req(&reviewer(), rpb::DecideDocumentRequest { request_id: rid(), task_id: task.id, decision: rpb::DocumentDecision::Pass as i32, comments: "规范".into() }))
        .await
        .unwrap();
    // Sealed by the organ's key, then served by scheduling — no second delivery implementation.
    let requested = s.wait_for_event(|e| e.r#type == "rectification.service_requested" && e.case_id == case_id).await;
    let Some(Payload::ServiceRequested(r)) = requested.payload else { panic!("payload") };
    assert_eq!(r.document_sha256, notice.sha256);
    let services = s.services_until(&case_id, |v| v.iter().any(|x| x.source_service == "rectification")).await;
    assert!(services.iter().any(|x| x.source_service == "rectification" && x.document_number == notice.number));
    let sealed = s.rectification().get_document(req(&proposer(), pb::GetDocumentRequest { document_id: notice.document_id.clone() })).await.unwrap().into_inner();
    assert_eq!(sealed.status, pb::DocumentStatus::Sealed as i32);
    // R-RECT-3: reminded at 09:00 CST two working days before the due day 2026-05-26 (Friday 2026-05-22).
    s.clock.set(at("2026-05-22T00:59:00Z"));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let requested = |e: &yuetan_proto::events::Event| matches!(&e.payload, Some(Payload::ServiceRequested(r)) if r.kind == "rectification_reminder") && e.case_id == case_id;
    assert!(!s.events().await.iter().any(|(_, e)| requested(e)), "not before 09:00");
    s.clock.set(at("2026-05-22T01:00:01Z"));
    let reminder = s.wait_for_event(requested).await;
    let Some(Payload::ServiceRequested(r)) = reminder.payload else { panic!("payload") };
    assert_eq!(r.document_sha256, notice.sha256, "the sealed notice again, as a reminder");
    assert!(r.document_name.contains("2026年5月26日"), "{}", r.document_name);
}

#[tokio::test]
async fn r_rect_4_r_rect_5_acceptance_needs_two_distinct_officers_and_a_pass_ends_with_the_certificate() {
    let w = world().await;
    let s = &w.s;
    let case_id = w.held(2002, &[]).await;
    s.clock.set(at("2026-05-20T02:00:00Z"));
    let reported = s.paper_report(&case_id, at("2026-05-20T01:00:00Z")).await.unwrap();
    assert_eq!(reported.status, "reported");
    assert!(!reported.report.as_ref().unwrap().late, "before 2026-05-26");
    assert_eq!(reported.acceptance_due.as_ref().unwrap().iso, "2026-05-27", "R-RECT-4: 5 working days");
    // One officer cannot close it; the same officer twice counts once.
    let one = s.accept_as(&proposer(), &case_id, true).await.unwrap();
    assert_eq!(one.status, "reported");
    let again = s.accept_as(&proposer(), &case_id, true).await.unwrap();
    assert_eq!((again.status.as_str(), again.answers.len()), ("reported", 1));
    let done = s.accept_as(&interviewer(INTERVIEWER), &case_id, true).await.unwrap();
    assert_eq!(done.status, "accepted");
    assert!(!done.certificate_document_id.is_empty());
    let event = s.wait_for_event(|e| e.r#type == "rectification.accepted" && e.case_id == case_id).await;
    let Some(Payload::RectificationAccepted(a)) = event.payload else { panic!("payload") };
    assert!(a.certificate_number.starts_with("兰城市监验合〔2026〕"), "{}", a.certificate_number);
    assert_eq!(a.officers.len(), 2);
    let cert = s.rectification().get_document(req(&proposer(), pb::GetDocumentRequest { document_id: done.certificate_document_id.clone() })).await.unwrap().into_inner();
    assert_eq!(cert.status, pb::DocumentStatus::Sealed as i32);
    s.wait_for_event(|e| e.r#type == "rectification.service_requested" && e.case_id == case_id).await;
    // Re-inspection after the pass.
    let re = s
        .rectification()
        .record_reinspection(req(&proposer(), pb::RecordReinspectionRequest { request_id: rid(), case_id: case_id.clone(), passed: true, notes: "复查合格".into() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(re.reinspection, "passed");
    s.wait_for_event(|e| e.r#type == "rectification.reinspected" && e.case_id == case_id).await;
}

#[tokio::test]
async fn r_rect_3_a_report_after_its_due_day_is_late_and_a_second_extension_is_refused() {
    let w = world().await;
    let s = &w.s;
    let case_id = w.held(2003, &[]).await;
    s.clock.set(at("2026-05-10T02:00:00Z"));
    let ext = |days: &str| pb::RequestExtensionRequest { request_id: rid(), case_id: case_id.clone(), reason: "设备采购周期长".into(), new_deadline: Some(fields::date(days.parse().unwrap())) };
    s.rectification().request_extension(req(&proposer(), ext("2026-06-12"))).await.unwrap();
    let second = s.rectification().request_extension(req(&proposer(), ext("2026-06-19"))).await.unwrap_err();
    assert_eq!(second.code(), Code::FailedPrecondition);
    assert!(second.message().contains("already requested once"), "{}", second.message());
    let decided = s
        .rectification()
        .decide_extension(req(&proposer(), pb::DecideExtensionRequest { request_id: rid(), case_id: case_id.clone(), approve: true, comment: String::new() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(decided.deadline.as_ref().unwrap().iso, "2026-06-12");
    assert_eq!(decided.items[0].deadline.as_ref().unwrap().iso, "2026-05-29", "every item moves by the same 14 days");
    s.wait_for_event(|e| e.r#type == "rectification.extended" && e.case_id == case_id).await;
    // Due 3 working days before Friday 2026-06-12: Tuesday 2026-06-09. On the 10th it is late.
    assert_eq!(decided.report_due.as_ref().unwrap().iso, "2026-06-09");
    s.clock.set(at("2026-06-10T02:00:00Z"));
    let late = s.paper_report(&case_id, at("2026-06-10T01:00:00Z")).await.unwrap();
    assert!(late.report.unwrap().late);
    let e = s.wait_for_event(|e| e.r#type == "rectification.report_submitted" && e.case_id == case_id).await;
    let Some(Payload::ReportSubmitted(r)) = e.payload else { panic!("payload") };
    assert!(r.late);
}

#[tokio::test]
async fn r_rect_6_the_deadline_passing_without_a_report_hands_off_exactly_once_even_with_two_replicas_and_carries_the_records_sha256() {
    let w = world().await;
    let s = &w.s;
    let case_id = w.held(2004, &[]).await;
    let replica = s.replica(Service::Rectification).await;
    let record = s.record_of(&case_id).await;
    // Sign the record so the hand-off can refer to it.
    for o in [interviewer(INTERVIEWER_LEGAL), interviewer(INTERVIEWER), yuetan_harness::interview::recorder()] {
        s.sign(&o, &record.record_id).await.unwrap();
    }
    let signed = s.party_signs(&record.record_id).await.unwrap();
    s.wait_for_event(|e| e.r#type == "scheduling.record_signed" && e.case_id == case_id).await;
    // The first item's deadline passes (2026-05-15): not yet handed off, the report covers both.
    s.clock.set(at("2026-05-15T16:00:01Z"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(s.rectification_of(&case_id).await.status, "open");
    // The report's due day passes: late; then the deadline: handed off.
    s.clock.set(at("2026-05-26T16:00:01Z"));
    s.wait_for_event(|e| e.r#type == "rectification.report_late" && e.case_id == case_id).await;
    s.clock.set(at("2026-05-30T02:00:00Z"));
    let handoffs = s.wait_for_events("rectification.penalty_handoff", 1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let all: Vec<_> = s.events().await.into_iter().filter(|(_, e)| e.r#type == "rectification.penalty_handoff" && e.case_id == case_id).collect();
    assert_eq!(all.len(), 1, "exactly once with two replicas");
    let Some(Payload::PenaltyHandoff(h)) = handoffs[0].payload.clone() else { panic!("payload") };
    assert_eq!(h.reason, "deadline_passed");
    assert_eq!(h.failed_items.len(), 2);
    let rec = h.references.iter().find(|r| r.kind == "interview_record").expect("the record is referenced");
    assert_eq!(rec.sha256, signed.signed_sha256);
    let stored = yuetan_platform::objects::Objects::new(&s.config.objects).unwrap().get(&rec.sha256).await.unwrap();
    assert_eq!(yuetan_documents::seal::sha256_hex(&stored), rec.sha256, "the hand-off's sha256 matches the stored file");
    // Every document the hand-off names is in the store, the ledger too (R-DOC-3: the archive takes them from there).
    let objects = yuetan_platform::objects::Objects::new(&s.config.objects).unwrap();
    assert!(h.references.iter().any(|r| r.kind == "ledger"), "the ledger is referenced");
    for r in &h.references {
        assert!(objects.exists(&r.sha256).await.unwrap(), "the {} the hand-off names is stored", r.kind);
    }
    assert!(!h.draft_sha256.is_empty());
    let rect = s.rectification_of(&case_id).await;
    assert_eq!(rect.status, "handed_off");
    replica.stop().await;
}

#[tokio::test]
async fn r_rect_2_a_co_department_officer_adds_a_ledger_entry_and_an_unrelated_organ_cannot_see_the_case() {
    let w = world().await;
    let s = &w.s;
    let case_id = w.held(2005, &[CO_ORGAN]).await;
    let entry = |method: pb::Method| pb::AddLedgerEntryRequest {
        request_id: rid(),
        case_id: case_id.clone(),
        method: method as i32,
        on: Some(fields::date("2026-04-30".parse().unwrap())),
        progress: "已开始整改".into(),
        problems: String::new(),
        measures: "电话督促".into(),
        attachment_sha256: Vec::new(),
    };
    s.rectification().add_ledger_entry(req(&co_officer(), entry(pb::Method::SiteInspection))).await.expect("a co-department officer adds an entry");
    s.rectification().add_ledger_entry(req(&proposer(), entry(pb::Method::Phone))).await.unwrap();
    let ledger = s.rectification().list_ledger(req(&co_officer(), pb::ListLedgerRequest { case_id: case_id.clone() })).await.unwrap().into_inner();
    assert_eq!(ledger.entries.len(), 2);
    assert!(ledger.entries.iter().any(|e| e.organ == CO_ORGAN));
    s.wait_for_events("rectification.ledger_entry_added", 2).await;
    let err = s.rectification().get_rectification(req(&unrelated_officer(), pb::GetRectificationRequest { case_id: case_id.clone() })).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = s.rectification().add_ledger_entry(req(&unrelated_officer(), entry(pb::Method::Phone))).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let bad = pb::AddLedgerEntryRequest { method: 0, ..entry(pb::Method::Phone) };
    let err = s.rectification().add_ledger_entry(req(&proposer(), bad)).await.unwrap_err();
    assert!(err.message().contains("method"), "{}", err.message());
}

#[tokio::test]
async fn r_rect_2_no_ledger_entry_within_the_cadence_is_a_follow_up_overdue_once_per_period() {
    let w = world().await;
    let s = &w.s;
    let case_id = w.held(2006, &[]).await;
    // Opened on 2026-04-30 with a 7-day cadence: overdue at the end of 2026-05-07.
    s.clock.set(at("2026-05-07T16:00:01Z"));
    let e = s.wait_for_event(|e| e.r#type == "rectification.follow_up_overdue" && e.case_id == case_id).await;
    let Some(Payload::FollowUpOverdue(o)) = e.payload else { panic!("payload") };
    assert_eq!(o.tracker, proposer().id);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(s.events().await.iter().filter(|(_, e)| e.r#type == "rectification.follow_up_overdue" && e.case_id == case_id).count(), 1);
    assert!(s.rectification_of(&case_id).await.follow_up_overdue);
}

#[tokio::test]
async fn r_rect_5_a_process_killed_before_the_acceptance_commits_renders_the_certificate_after_restart_once() {
    let mut w = world_with(true).await;
    let case_id = w.held(2007, &[]).await;
    w.s.clock.set(at("2026-05-20T02:00:00Z"));
    w.s.paper_report(&case_id, at("2026-05-20T01:00:00Z")).await.unwrap();
    w.s.accept_as(&proposer(), &case_id, true).await.unwrap();
    // The deciding answer renders and stores the certificate, then the process hangs before its commit.
    let request = pb::RecordAcceptanceRequest {
        request_id: rid(),
        case_id: case_id.clone(),
        complete: true,
        lawful: true,
        goal_reached: true,
        comments: "已整改到位".into(),
        evidence_sha256: Vec::new(),
        reinspect_on: None,
        follow_up: String::new(),
    };
    let mut client = w.s.rectification();
    let hung = tokio::time::timeout(Duration::from_secs(3), client.record_acceptance(req(&interviewer(INTERVIEWER), request.clone()))).await;
    assert!(hung.is_err(), "the acceptance hangs before its commit");
    w.s.kill(Service::Rectification).await;
    set_hang(&mut w.s, false);
    w.s.start_service(Service::Rectification).await;
    assert_eq!(w.s.rectification_of(&case_id).await.status, "reported", "nothing of the hung acceptance was kept");
    // The client retries with the same request id: accepted, one certificate.
    let done = w.s.rectification().record_acceptance(req(&interviewer(INTERVIEWER), request.clone())).await.unwrap().into_inner();
    assert_eq!(done.status, "accepted");
    let again = w.s.rectification().record_acceptance(req(&interviewer(INTERVIEWER), request)).await.unwrap().into_inner();
    assert_eq!(again.certificate_document_id, done.certificate_document_id, "a retry answers the same");
    let certificates: i64 = sqlx::query_scalar("SELECT count(*) FROM documents WHERE kind = 'acceptance_certificate'").fetch_one(w.s.pool_of(Service::Rectification)).await.unwrap();
    assert_eq!(certificates, 1);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(w.s.events().await.iter().filter(|(_, e)| e.r#type == "rectification.accepted" && e.case_id == case_id).count(), 1);
}


#[tokio::test]
async fn r_rect_3_the_party_submits_the_report_through_the_portal_over_http_once_and_the_queue_follows_it() {
    let w = world().await;
    let s = &w.s;
    let case_id = w.held(2008, &[]).await;
    let queue = || async { s.rectification().list_queue(req(&proposer(), pb::ListQueueRequest { page_size: 20 })).await.unwrap().into_inner().rectifications };
    assert!(queue().await.iter().any(|r| r.case_id == case_id), "in the tracker's queue");
    // The link the notice prints (signed by rectification, purpose report), on the running portal.
    let rectification = s.handle::<yuetan_rectification::Rectification>(Service::Rectification);
    let mut conn = s.pool_of(Service::Rectification).acquire().await.unwrap();
    let row = yuetan_rectification::store::rect_of_case(&mut conn, uuid::Uuid::parse_str(&case_id).unwrap(), false).await.unwrap().unwrap();
    drop(conn);
    let link = rectification.state.report_link(&row, None, yuetan_platform::Clock::now(&*s.clock));
    let link = format!("{}{}", w.peers.portal.base_url(), &link[link.find("/r/").expect("a report link")..]);
    let http = reqwest::Client::new();
    let page = http.get(&link).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("整改"), "{page}");
    let form = || {
        reqwest::multipart::Form::new()
            .text("text", "已补报年度报告并建立报送制度。")
            .part("files", reqwest::multipart::Part::bytes(yuetan_testkit::PNG_1X1.to_vec()).file_name("after.png").mime_str("image/png").unwrap())
    };
    let sent = http.post(&link).multipart(form()).send().await.unwrap();
    assert!(sent.status().is_success(), "{}", sent.text().await.unwrap());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let reported = loop {
        let r = s.rectification_of(&case_id).await;
        if r.status == "reported" {
            break r;
        }
        assert!(tokio::time::Instant::now() < deadline, "the portal's report never reached rectification");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let report = reported.report.expect("the report");
    assert_eq!(report.channel, "portal");
    assert_eq!(report.text, "已补报年度报告并建立报送制度。");
    assert_eq!(report.attachment_sha256, vec![yuetan_documents::seal::sha256_hex(yuetan_testkit::PNG_1X1)]);
    // The same link again: refused, nothing written.
    let again = http.post(&link).multipart(form()).send().await.unwrap();
    assert_eq!(again.status(), reqwest::StatusCode::CONFLICT);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(s.events().await.iter().filter(|(_, e)| e.r#type == "rectification.report_submitted" && e.case_id == case_id).count(), 1);
    // Reported: now in the organ's acceptance queue.
    assert!(queue().await.iter().any(|r| r.case_id == case_id && r.status == "reported"));
}
