//! The interview over gRPC against real NATS, PostgreSQL, the portal, the
//! provider peers and a real Janus: video rooms, holding the interview, the
//! record and its signatures (R-INT-1..5, R-DOC-1, R-DOC-2).

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;
use tonic::Code;
use yuetan_harness::interview::{co_officer, day, interviewer, item, recorder, rid, unrelated_officer, CO_ORGAN};
use yuetan_harness::scheduling::{officer_entry, Peers, VideoOptions, INTERVIEWER, INTERVIEWER_LEGAL, JANUS_ADMIN_KEY, JANUS_ROOM_KEY};
use yuetan_harness::admin;
use yuetan_proto::events::event::Payload;
use yuetan_proto::scheduling as pb;
use yuetan_video::{JanusParticipant, JanusProvider, JanusSettings, RoomSpec, VideoProvider};

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
}

/// Approved and served on Tuesday 2026-04-28; the interview on Thursday
/// 2026-04-30 at 09:30 CST (before the May Day holiday).
const NOW: &str = "2026-04-28T02:00:00Z";
const SERVED: &str = "2026-04-28T03:00:00Z";
const INTERVIEW: &str = "2026-04-30T01:30:00Z";

struct World {
    s: System,
    peers: Peers,
}

async fn world(video: bool, hang_after_room_create: bool) -> World {
    let mut s = start_at(at(NOW)).await;
    let peers = s.start_scheduling_stack(false, video.then_some(VideoOptions { hang_after_room_create })).await;
    World { s, peers }
}

impl World {
    async fn served(&self, serial: u32, video: bool, co: &[&str]) -> String {
        let case_id = self.s.served_case(&self.peers, serial, video, co, at(INTERVIEW), at(SERVED)).await;
        self.s.clock.set(at(INTERVIEW));
        case_id
    }

    fn janus(&self) -> JanusProvider {
        let janus = self.peers.janus.as_ref().expect("janus");
        JanusProvider::new(JanusSettings {
            url: janus.url(),
            public_url: String::new(),
            admin_key: JANUS_ADMIN_KEY.into(),
            room_key: JANUS_ROOM_KEY.into(),
            recordings_dir: janus.recordings_dir(),
        })
        .unwrap()
    }

    async fn room_open(&self, case_id: &str) -> pb::VideoRoom {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(room) = self.s.scheduling().get_video_room(req(&proposer(), pb::GetVideoRoomRequest { case_id: case_id.into() })).await {
                let room = room.into_inner();
                if room.status == "open" {
                    return room;
                }
            }
            assert!(tokio::time::Instant::now() < deadline, "the room of {case_id} never opened");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Held with the standard steps and two items, closed with an uploaded recording (in person).
    async fn held_in_person(&self, case_id: &str) -> pb::Record {
        self.s.start_interview(case_id, &[INTERVIEWER_LEGAL, INTERVIEWER]).await.expect("start");
        self.s.hold_steps(case_id, two_items()).await.expect("steps");
        let recording = self.s.upload(format!("约谈录音录像 {case_id}").as_bytes()).await;
        self.s.close_interview(case_id, vec![recording]).await.expect("close");
        self.s.record_of(case_id).await
    }

    async fn officers_sign(&self, record_id: &str) {
        for officer in [interviewer(INTERVIEWER_LEGAL), interviewer(INTERVIEWER), recorder()] {
            self.s.sign(&officer, record_id).await.expect("an officer signs");
        }
    }
}

fn two_items() -> Vec<pb::RectificationItem> {
    vec![item("补报2025年度报告", "2026-05-15"), item("建立年度报告报送制度并指定专人负责", "2026-05-29")]
}

fn pdf_text(s: &System, sha256: &str) -> String {
    let path = s.config.objects.root.join("sha256").join(&sha256[..2]).join(sha256);
    let out = std::process::Command::new("pdftotext").arg("-layout").arg(&path).arg("-").output().expect("pdftotext (poppler-utils)");
    assert!(out.status.success(), "pdftotext failed on {}", path.display());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn r_int_2_r_int_4_a_video_interview_on_janus_reports_who_joined_and_ends_in_a_signed_record() {
    let w = world(true, false).await;
    let s = &w.s;
    let case_id = w.served(1001, true, &[]).await;
    let room = w.room_open(&case_id).await;
    assert_eq!(room.provider, "janus");
    // R-DOC-1: the outline, numbered, before the interview.
    let outline = s
        .scheduling()
        .issue_outline(req(
            &proposer(),
            pb::IssueOutlineRequest { request_id: rid(), case_id: case_id.clone(), facts: String::new(), provisions: Vec::new(), evidence: vec!["日常检查记录".into()], points: vec!["核实未报送原因".into(), "明确补报期限".into()] },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(outline.number.starts_with("兰城市监约纲〔2026〕"), "{}", outline.number);
    let text = pdf_text(s, &outline.sha256);
    assert!(text.contains("明确补报期限") && text.contains("未按期报送2025年度报告"), "the points and the plan's matter: {text}");
    let err = s.scheduling().issue_outline(req(&proposer(), pb::IssueOutlineRequest { request_id: rid(), case_id: case_id.clone(), points: Vec::new(), ..Default::default() })).await.unwrap_err();
    assert!(err.message().contains("points"), "{}", err.message());
    let janus = w.janus();
    assert!(janus.list_rooms("yuetan").await.unwrap().iter().any(|r| r.room_id == room.room_id), "Janus has the room");

    // The party joins through Janus's own API with the credentials issued for it.
    let party = room.external_joins.iter().find(|j| j.participant_key == "party").expect("the party's credentials").clone();
    let join = yuetan_video::JoinInfo {
        provider: party.provider.clone(),
        url: party.url.clone(),
        room: party.room.clone(),
        pin: party.pin.clone(),
        token: party.token.clone(),
        feed_id: party.feed_id,
        display: party.display.clone(),
        expires_at: Utc::now(),
    };
    // The notice served to the party carries the party's own credentials.
    let plan = s.plan_of(&case_id).await;
    let notice = s.scheduling().get_document(req(&proposer(), pb::GetDocumentRequest { document_id: plan.notice_document_id.clone() })).await.unwrap().into_inner();
    let text = pdf_text(s, &notice.sha256);
    assert!(text.contains(&party.pin) && text.contains(&party.room), "the notice names the room and PIN: {text}");
    // A wrong token is refused by Janus itself.
    let mut intruder = JanusParticipant::connect(&join.url).await.unwrap();
    let wrong = yuetan_video::JoinInfo { token: "0".repeat(32), ..join.clone() };
    let refused = intruder.join(&wrong).await.unwrap_err();
    assert!(refused.to_string().contains("433"), "{refused}");
    let mut participant = JanusParticipant::connect(&join.url).await.unwrap();
    participant.join(&join).await.expect("the party joins");
    let joined = s.wait_for_event(|e| e.r#type == "scheduling.participant_joined" && e.case_id == case_id).await;
    let Some(Payload::ParticipantJoined(j)) = joined.payload else { panic!("payload") };
    assert_eq!((j.participant_key.as_str(), j.role.as_str(), j.source.as_str()), ("party", "party", "video"));

    // An officer's own credentials need its JWT and its place on the plan.
    let mine = s.scheduling().join_video_room(req(&interviewer(INTERVIEWER_LEGAL), pb::JoinVideoRoomRequest { case_id: case_id.clone() })).await.unwrap().into_inner();
    assert_eq!(mine.participant_key, INTERVIEWER_LEGAL);
    let err = s.scheduling().join_video_room(req(&unrelated_officer(), pb::JoinVideoRoomRequest { case_id: case_id.clone() })).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    s.start_interview(&case_id, &[INTERVIEWER_LEGAL, INTERVIEWER]).await.expect("start");
    s.wait_for_events("scheduling.interview_started", 1).await;
    let held = s.hold_steps(&case_id, two_items()).await.expect("steps");
    assert_eq!(held.items.len(), 2);
    participant.leave().await.expect("the party leaves");
    s.wait_for_event(|e| e.r#type == "scheduling.participant_left" && e.case_id == case_id).await;
    // R-INT-2: no media was published, so Janus recorded nothing: the officer's recording is needed.
    let err = s.close_interview(&case_id, Vec::new()).await.unwrap_err();
    assert!(err.message().contains("recording_sha256") && err.message().contains("no recording"), "{}", err.message());
    let recording = s.upload(b"officer's screen recording of the video interview").await;
    let closed = s.close_interview(&case_id, vec![recording.clone()]).await.expect("close");
    assert_eq!(closed.record_due.as_ref().unwrap().iso, "2026-05-11", "R-INT-4: 5 working days across May Day");
    let event = s.wait_for_event(|e| e.r#type == "scheduling.interview_held" && e.case_id == case_id).await;
    let Some(Payload::InterviewHeld(h)) = event.payload else { panic!("payload") };
    assert_eq!(h.items.len(), 2);
    assert_eq!(h.items[1].deadline.as_ref().unwrap().iso, "2026-05-29");
    assert!(h.items[0].acceptance_standard.contains("现场核查"));

    // The room is destroyed after the interview closed; then the record is drawn up.
    let record = s.record_of(&case_id).await;
    assert!(!janus.list_rooms("yuetan").await.unwrap().iter().any(|r| r.room_id == room.room_id), "the room is gone");
    assert_eq!(record.version, 1);
    assert!(record.number.starts_with("兰城市监约录〔2026〕"), "{}", record.number);
    assert!(record.recordings.iter().any(|r| r.contains(&recording)), "the recording is referenced: {:?}", record.recordings);
    assert_eq!(record.missing.len(), 4, "three officers and the party: {:?}", record.missing);
    let text = pdf_text(s, &record.content_sha256);
    assert!(text.contains("补报2025年度报告") && text.contains(&record.number), "{text}");
    assert!(text.contains("到场") || text.contains("兰州某某餐饮有限公司"), "attendance printed");

    w.officers_sign(&record.record_id).await;
    let signed = s.party_signs(&record.record_id).await.expect("the party signs");
    assert_eq!(signed.status, "signed");
    assert!(signed.missing.is_empty());
    let signed_event = s.wait_for_event(|e| e.r#type == "scheduling.record_signed" && e.case_id == case_id).await;
    let Some(Payload::RecordSigned(r)) = signed_event.payload else { panic!("payload") };
    assert_eq!(r.signed_sha256, signed.signed_sha256);
    assert_eq!(r.signers.len(), 4);
    let text = pdf_text(s, &signed.signed_sha256);
    assert!(text.contains("电子签名") && text.contains("平板"), "the signature page: {text}");
    // The officers' signatures verify against the service key over the content hash.
    let scheduling = s.handle::<yuetan_scheduling::Scheduling>(Service::Scheduling);
    for sig in signed.signatures.iter().filter(|x| x.method == pb::SignatureMethod::Electronic as i32) {
        let key = scheduling.state.seals.verifying_key(&sig.key_id).expect("the key");
        let at = yuetan_platform::fields::from_timestamp(sig.signed_at.as_ref()).unwrap().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let message = yuetan_scheduling::domain::interview::signature_message(&signed.content_sha256, &sig.signer, &at);
        yuetan_documents::seal::verify_seal(&key, &message, &sig.signature).expect("the signature verifies");
    }
    let interview = s.scheduling().get_interview(req(&proposer(), pb::GetInterviewRequest { case_id: case_id.clone() })).await.unwrap().into_inner();
    let presence = interview.attendance.iter().find(|a| a.participant_key == "party").expect("the party was present");
    assert!(presence.left_at.is_some(), "from when to when");
}

#[tokio::test]
async fn r_int_1_a_record_without_two_interviewers_or_without_legal_review_cannot_be_closed_and_lapsed_check_in_is_refused() {
    let w = world(false, false).await;
    let s = &w.s;
    let case_id = w.served(1002, false, &[]).await;
    // A third officer, qualified, without legal review; a fourth whose certification lapsed on 2026-04-29.
    s.scheduling().put_officer(req(&admin(), officer_entry("int-c", "王执法", false, day("2025-06-01")))).await.unwrap();
    s.scheduling().put_officer(req(&admin(), officer_entry("int-lapsed", "过期", true, day("2024-04-29")))).await.unwrap();

    s.start_interview(&case_id, &[INTERVIEWER]).await.expect("one interviewer may open");
    s.hold_steps(&case_id, two_items()).await.unwrap();
    let recording = s.upload(b"recording 1002").await;
    let err = s.close_interview(&case_id, vec![recording.clone()]).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("at least 2 interviewers"), "{}", err.message());

    let check_in = |id: &str| pb::CheckInRequest { request_id: rid(), case_id: case_id.clone(), officer_id: id.into() };
    let lapsed = s.scheduling().check_in(req(&proposer(), check_in("int-lapsed"))).await.unwrap_err();
    assert_eq!(lapsed.code(), Code::InvalidArgument);
    assert!(lapsed.message().contains("officer_id") && lapsed.message().contains("expired"), "{}", lapsed.message());

    s.scheduling().check_in(req(&proposer(), check_in("int-c"))).await.unwrap();
    let err = s.close_interview(&case_id, vec![recording.clone()]).await.unwrap_err();
    assert!(err.message().contains("legal-review"), "{}", err.message());

    s.scheduling().check_in(req(&proposer(), check_in(INTERVIEWER_LEGAL))).await.unwrap();
    let err = s.close_interview(&case_id, Vec::new()).await.unwrap_err();
    assert!(err.message().contains("recording_sha256"), "R-INT-2: an in-person interview is recorded: {}", err.message());
    let closed = s.close_interview(&case_id, vec![recording]).await.expect("closes with three present, one legal");
    assert_eq!(closed.status, "held");
}

#[tokio::test]
async fn r_int_3_a_rectification_item_of_31_days_is_refused_without_the_section_chiefs_approval() {
    let w = world(false, false).await;
    let s = &w.s;
    let case_id = w.served(1003, false, &[]).await;
    // R-NOTICE-3: the party was served for 09:30; not started at 08:59.
    s.clock.set(at("2026-04-30T00:59:00Z"));
    let early = s.start_interview(&case_id, &[INTERVIEWER_LEGAL, INTERVIEWER]).await.unwrap_err();
    assert_eq!(early.code(), Code::FailedPrecondition);
    assert!(early.message().contains("2026-04-30 09:00"), "{}", early.message());
    s.clock.set(at("2026-04-30T01:00:00Z"));
    s.start_interview(&case_id, &[INTERVIEWER_LEGAL, INTERVIEWER]).await.unwrap();
    // Interview day 2026-04-30: 30 days is 2026-05-30, 31 days 2026-05-31.
    let err = s.hold_steps(&case_id, vec![item("更换设备", "2026-05-31")]).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("items[0].deadline") && err.message().contains("31 days"), "{}", err.message());
    assert!(s.hold_steps(&case_id, vec![item("更换设备", "2026-05-30")]).await.is_ok(), "30 days is allowed");
    let mut approved = item("更换设备", "2026-05-31");
    approved.chief_approval = Some(pb::ChiefApproval { officer_id: INTERVIEWER_LEGAL.into(), reason: "设备采购周期长".into() });
    let held = s.hold_steps(&case_id, vec![approved]).await.expect("with the chief's approval");
    assert_eq!(held.items[0].chief_approval.as_ref().unwrap().officer_id, INTERVIEWER_LEGAL);
}

#[tokio::test]
async fn r_int_4_a_party_refusal_needs_two_witnesses_and_a_signed_record_is_corrected_only_by_a_new_version() {
    let w = world(false, false).await;
    let s = &w.s;
    let case_id = w.served(1004, false, &[]).await;
    let record = w.held_in_person(&case_id).await;
    w.officers_sign(&record.record_id).await;
    let witness = |name: &str, sha: &str| pb::Witness { name: name.into(), detail: "城关区某某社区工作人员".into(), signature_sha256: sha.into() };
    let sig1 = s.upload(b"witness one").await;
    let sig2 = s.upload(b"witness two").await;
    let refuse = |witnesses: Vec<pb::Witness>| pb::RecordPartyRefusalRequest { request_id: rid(), record_id: record.record_id.clone(), reason: "当事人认为事实有误，拒绝签字".into(), witnesses };
    let one = s.scheduling().record_party_refusal(req(&proposer(), refuse(vec![witness("见证人甲", &sig1)]))).await.unwrap().into_inner();
    assert_eq!(one.status, "signing", "one witness is not enough");
    assert!(one.missing.iter().any(|m| m.contains("witnesses")), "{:?}", one.missing);
    let two = s.scheduling().record_party_refusal(req(&proposer(), refuse(vec![witness("见证人乙", &sig2)]))).await.unwrap().into_inner();
    assert_eq!(two.status, "signed");
    assert!(two.party_refused);
    let text = pdf_text(s, &two.signed_sha256);
    assert!(text.contains("拒绝") && text.contains("见证人甲") && text.contains("见证人乙"), "{text}");

    // Signed: nothing changes it — not the service, not SQL.
    let again = s.sign(&interviewer(INTERVIEWER), &record.record_id).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    let party = s.party_signs(&record.record_id).await.unwrap_err();
    assert_eq!(party.code(), Code::FailedPrecondition);
    let id = uuid::Uuid::parse_str(&record.record_id).unwrap();
    let sql = sqlx::query("UPDATE records SET content_sha256 = 'x' WHERE id = $1").bind(id).execute(s.pool_of(Service::Scheduling)).await;
    assert!(sql.is_err(), "the database refuses to change a signed record");

    // A correction is version 2 with its reason; version 1 stays as it was.
    let correction = pb::CorrectRecordRequest {
        request_id: rid(),
        record_id: record.record_id.clone(),
        reason: "当事人陈述记录有误".into(),
        informing: None,
        listening: Some(pb::Listening { statement: "财务人员离职，交接遗漏".into(), difficulties: String::new(), commitments: "十日内补报".into() }),
        agreeing: None,
    };
    let v2 = s.scheduling().correct_record(req(&proposer(), correction)).await.unwrap().into_inner();
    assert_eq!((v2.version, v2.status.as_str(), v2.number.as_str()), (2, "signing", record.number.as_str()));
    assert_ne!(v2.content_sha256, record.content_sha256);
    assert!(pdf_text(s, &v2.content_sha256).contains("当事人陈述记录有误"));
    w.officers_sign(&v2.record_id).await;
    s.party_signs(&v2.record_id).await.unwrap();
    let all = s.scheduling().list_records(req(&proposer(), pb::ListRecordsRequest { case_id: case_id.clone() })).await.unwrap().into_inner().records;
    assert_eq!(all.len(), 2);
    assert_eq!((all[0].version, all[0].status.as_str()), (2, "signed"));
    assert_eq!((all[1].version, all[1].status.as_str()), (1, "superseded"));
    assert_eq!(all[1].signed_sha256, two.signed_sha256, "version 1 is kept as it was signed");
    let signed = s.wait_for_events("scheduling.record_signed", 2).await;
    let Some(Payload::RecordSigned(last)) = signed[1].payload.clone() else { panic!("payload") };
    assert_eq!((last.version, last.correction_reason.as_str()), (2, "当事人陈述记录有误"));
}

#[tokio::test]
async fn r_int_4_the_record_overdue_timer_fires_once_at_the_end_of_2026_05_11_after_an_interview_on_2026_04_30() {
    let w = world(false, false).await;
    let s = &w.s;
    let case_id = w.served(1005, false, &[]).await;
    let record = w.held_in_person(&case_id).await;
    assert_eq!(record.status, "signing");
    // 2026-05-11 23:59 CST: not yet.
    s.clock.set(at("2026-05-11T15:59:00Z"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!s.events().await.iter().any(|(_, e)| e.r#type == "scheduling.record_overdue"), "not before the end of 2026-05-11");
    s.clock.set(at("2026-05-11T16:00:01Z"));
    let events = s.wait_for_events("scheduling.record_overdue", 1).await;
    let Some(Payload::RecordOverdue(o)) = events[0].payload.clone() else { panic!("payload") };
    assert_eq!(o.due.as_ref().unwrap().iso, "2026-05-11");
    s.clock.set(at("2026-05-20T02:00:00Z"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(s.events().await.iter().filter(|(_, e)| e.r#type == "scheduling.record_overdue").count(), 1, "once");
    let interview = s.scheduling().get_interview(req(&proposer(), pb::GetInterviewRequest { case_id })).await.unwrap().into_inner();
    assert!(interview.record_overdue);
}

#[tokio::test]
async fn r_int_5_a_criminal_clue_is_transferred_at_once_and_the_case_is_held() {
    let w = world(false, false).await;
    let s = &w.s;
    let case_id = w.served(1006, false, &[]).await;
    s.start_interview(&case_id, &[INTERVIEWER_LEGAL, INTERVIEWER]).await.unwrap();
    let transfer = s.upload("移送记录".as_bytes()).await;
    let held = s
        .scheduling()
        .flag_criminal_clue(req(
            &proposer(),
            pb::FlagCriminalClueRequest { request_id: rid(), case_id: case_id.clone(), description: "涉嫌销售假冒注册商标的商品，金额较大".into(), transferred_to: "兰州市公安局城关分局".into(), transfer_record_sha256: transfer.clone() },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(held.criminal_clue && held.held_for_transfer);
    let event = s.wait_for_event(|e| e.r#type == "scheduling.criminal_clue_transferred" && e.case_id == case_id).await;
    let Some(Payload::CriminalClueTransferred(c)) = event.payload else { panic!("payload") };
    assert_eq!((c.transferred_to.as_str(), c.transfer_record_sha256.as_str(), c.reported_to.as_str()), ("兰州市公安局城关分局", transfer.as_str(), "620100"));
}

#[tokio::test]
async fn joint_interview_a_co_department_officer_signs_and_sees_the_record_and_an_unrelated_department_does_not() {
    let w = world(false, false).await;
    let s = &w.s;
    let case_id = w.served(1007, false, &[CO_ORGAN]).await;
    let record = w.held_in_person(&case_id).await;
    assert!(record.missing.iter().any(|m| m.contains(&co_officer().id)), "the co-department signs: {:?}", record.missing);
    w.officers_sign(&record.record_id).await;
    s.party_signs(&record.record_id).await.unwrap();
    let seen = s.scheduling().get_record(req(&co_officer(), pb::GetRecordRequest { record_id: record.record_id.clone() })).await.unwrap().into_inner();
    assert_eq!(seen.status, "signing", "not signed without the co-department");
    let queue = |o: Officer| async move { s.scheduling().list_records_to_sign(req(&o, pb::ListRecordsToSignRequest { page_size: 20 })).await.unwrap().into_inner().records };
    assert!(queue(co_officer()).await.iter().any(|r| r.record_id == record.record_id), "in the co-department officer's own queue");
    assert!(queue(interviewer(INTERVIEWER)).await.is_empty(), "signed: out of the interviewer's queue");
    let signed = s.sign(&co_officer(), &record.record_id).await.expect("the co-department officer signs");
    assert!(queue(co_officer()).await.is_empty());
    assert_eq!(signed.status, "signed");
    s.scheduling().get_interview(req(&co_officer(), pb::GetInterviewRequest { case_id: case_id.clone() })).await.expect("the co-department sees the interview");
    let err = s.scheduling().get_record(req(&unrelated_officer(), pb::GetRecordRequest { record_id: record.record_id.clone() })).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = s.scheduling().get_interview(req(&unrelated_officer(), pb::GetInterviewRequest { case_id: case_id.clone() })).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = s.sign(&unrelated_officer(), &record.record_id).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn a_party_absent_twice_is_rescheduled_once_then_the_interview_is_closed_as_refused_and_handed_to_penalty() {
    let w = world(false, false).await;
    let s = &w.s;
    let case_id = w.served(1008, false, &[]).await;
    let absent = |when: &str| pb::RecordPartyAbsentRequest {
        request_id: rid(),
        case_id: case_id.clone(),
        kind: pb::AbsenceKind::NoShow as i32,
        at: Some(yuetan_platform::fields::timestamp(at(when))),
        evidence: "约定时间后三十分钟当事人未到场，电话无人接听".into(),
        evidence_sha256: String::new(),
    };
    s.clock.set(at("2026-04-30T02:05:00Z"));
    s.scheduling().record_party_absent(req(&proposer(), absent("2026-04-30T02:00:00Z"))).await.unwrap();
    let e = s.wait_for_event(|e| e.r#type == "scheduling.party_absent" && e.case_id == case_id).await;
    let Some(Payload::PartyAbsent(a)) = e.payload else { panic!("payload") };
    assert_eq!(a.kind, "no_show");
    // Rescheduled once (within 5 working days of service counted across May Day: by 2026-05-07).
    let mut replan = yuetan_harness::scheduling::plan(&case_id, at("2026-05-06T01:30:00Z"), "第一约谈室");
    replan.request_id = rid();
    s.scheduling().plan_interview(req(&proposer(), replan)).await.expect("replanned once after the absence");
    s.clock.set(at("2026-05-06T02:05:00Z"));
    s.scheduling().record_party_absent(req(&proposer(), absent("2026-05-06T02:00:00Z"))).await.unwrap();
    let mut again = yuetan_harness::scheduling::plan(&case_id, at("2026-05-07T01:30:00Z"), "第一约谈室");
    again.request_id = rid();
    let err = s.scheduling().plan_interview(req(&proposer(), again)).await.unwrap_err();
    assert!(err.message().contains("close the interview as refused"), "rescheduled only once: {}", err.message());
    let refused = s
        .scheduling()
        .close_interview_as_refused(req(&proposer(), pb::CloseInterviewAsRefusedRequest { request_id: rid(), case_id: case_id.clone(), reason: "两次无正当理由拒不到场".into() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(refused.status, "refused");
    let e = s.wait_for_event(|e| e.r#type == "scheduling.interview_refused" && e.case_id == case_id).await;
    let Some(Payload::InterviewRefused(r)) = e.payload else { panic!("payload") };
    assert_eq!(r.absences.len(), 2);
}

#[tokio::test]
async fn a_room_created_by_janus_before_the_crash_is_adopted_after_restart_and_a_stray_room_is_reconciled_away() {
    let mut w = world(true, true).await;
    // Planned as a video interview: the room is recorded and its creation scheduled.
    let case_id = w.s.approved_case(1009, false).await;
    w.s.plan_of(&case_id).await;
    let mut request = yuetan_harness::scheduling::plan(&case_id, at(INTERVIEW), "视频约谈室");
    request.mode = pb::InterviewMode::Video as i32;
    w.s.scheduling().plan_interview(req(&proposer(), request)).await.expect("plan");
    let janus = w.janus();
    // Janus made the room; the service hangs before recording it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while janus.list_rooms("yuetan").await.unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "Janus never got the room");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    w.s.kill(Service::Scheduling).await;
    // Meanwhile a room of this deployment that the database never held.
    let stray = RoomSpec { room_id: 777_001, description: "yuetan:stray".into(), participants: Vec::new(), record: false };
    janus.create_room(&stray).await.unwrap();
    if let Some(video) = w.s.config.sections.get_mut("scheduling").and_then(|v| v.get_mut("video")) {
        video["hang_after_room_create"] = serde_json::json!(false);
    }
    w.s.start_service(Service::Scheduling).await;
    let room = w.room_open(&case_id).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let listed = janus.list_rooms("yuetan").await.unwrap();
        if listed.len() == 1 {
            assert_eq!(listed[0].room_id, room.room_id, "the room recorded is the one Janus made: no orphan");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "Janus still has {listed:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Janus forgets its rooms when it restarts: reconciliation makes the open room again.
    janus.destroy_room(room.room_id).await.unwrap();
    let scheduling = w.s.handle::<yuetan_scheduling::Scheduling>(Service::Scheduling);
    scheduling.state.reconcile_rooms().await.unwrap();
    assert!(janus.list_rooms("yuetan").await.unwrap().iter().any(|r| r.room_id == room.room_id), "the lost room is back");
}

#[tokio::test]
async fn r_int_4_the_party_signs_through_a_portal_link_after_reading_the_record() {
    let w = world(false, false).await;
    let s = &w.s;
    let case_id = w.served(1010, false, &[]).await;
    let record = w.held_in_person(&case_id).await;
    w.officers_sign(&record.record_id).await;
    let service = s
        .scheduling()
        .send_record_for_signature(req(&proposer(), pb::SendRecordForSignatureRequest { request_id: rid(), record_id: record.record_id.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(service.document_sha256, record.content_sha256, "the party reads exactly what the officers signed");
    // The SMS carries a signing link to the portal.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let link = loop {
        let found = w.peers.sms.messages().into_iter().filter_map(|m| m.template_param.get("link").and_then(|l| l.as_str()).map(str::to_string)).find(|l| !l.is_empty());
        let sent_for_record = s.services_until(&case_id, |_| true).await.iter().any(|x| x.service_id == service.service_id && x.attempts.iter().any(|a| a.status == "sent"));
        if let (Some(link), true) = (found.clone(), sent_for_record) {
            let all: Vec<String> = w.peers.sms.messages().into_iter().filter_map(|m| m.template_param.get("link").and_then(|l| l.as_str()).map(str::to_string)).collect();
            break all.last().cloned().unwrap_or(link);
        }
        assert!(tokio::time::Instant::now() < deadline, "no signing link was sent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // The test configuration's public base is a placeholder: the same path on the running portal.
    let link = format!("{}{}", w.peers.portal.base_url(), &link[link.find("/d/").expect("a portal link")..]);
    let http = reqwest::Client::new();
    let page = http.get(&link).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("约谈记录签字") && page.contains("确认无误并签字"), "{page}");
    let pdf = http.get(format!("{link}/file")).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(yuetan_documents::seal::sha256_hex(&pdf), record.content_sha256);
    let done = http.post(format!("{link}/confirm")).send().await.unwrap().text().await.unwrap();
    assert!(done.contains("已签字确认"), "{done}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let signed = loop {
        let r = s.scheduling().get_record(req(&proposer(), pb::GetRecordRequest { record_id: record.record_id.clone() })).await.unwrap().into_inner();
        if r.status == "signed" {
            break r;
        }
        assert!(tokio::time::Instant::now() < deadline, "the portal confirmation never signed the record: {:?}", r.missing);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let party = signed.signatures.iter().find(|x| x.signer == "party").expect("the party's signature");
    assert_eq!(party.method, pb::SignatureMethod::Portal as i32);
}
