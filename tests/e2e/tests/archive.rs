//! The archive (R-DOC-3, R-DOC-4) and the case-file export
//! (`yuetan.casefile.v1`) over gRPC against real NATS, PostgreSQL and the
//! object store folder: a full sample case (intake → review → scheduling
//! and the interview → rectification accepted) closes and is archived with
//! every document the services produced, signed; its tar verifies, and a
//! changed byte, a removed file or an altered manifest does not, naming
//! what failed; destruction is refused before the retention period, with
//! two supervisors, or for a case under relief, and done after it with
//! three attendees and three supervisors (the documents gone, the manifest
//! kept); a service account of city 6201 reads 6201's files only.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;
use tonic::Code;
use yuetan_harness::interview::{interviewer, recorder, rid};
use yuetan_harness::scheduling::{Peers, INTERVIEWER, INTERVIEWER_LEGAL, PARTY_PHONE};
use yuetan_proto::casefile as cf;
use yuetan_proto::events::event::Payload;
use yuetan_proto::rectification as rpb;
use yuetan_proto::review as vpb;
use yuetan_proto::supervision as pb;
use yuetan_casefile::{self as casefile, VerifyError};
use yuetan_testkit::peers::{Behaviour, DEFAULT_DELAY};

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
}

const NOW: &str = "2026-04-28T02:00:00Z";
const SERVED: &str = "2026-04-28T03:00:00Z";
const INTERVIEW: &str = "2026-04-30T01:30:00Z";
/// Wednesday 2026-05-20, 10:00 CST: the report is in and accepted.
const ACCEPTED: &str = "2026-05-20T02:00:00Z";

/// The archive room (keeps the archive, records the paper file, destroys).
fn office() -> Officer {
    Officer::new("office-a", ORGAN_A, CHENGGUAN, &["office"])
}
/// A discipline inspector of organ A (supervises destruction).
fn inspector() -> Officer {
    Officer::new("inspector-a", ORGAN_A, CHENGGUAN, &["discipline_inspector"])
}
/// The reconsideration system of city 6201 (a service account).
fn system_6201() -> Officer {
    Officer::new("fuyi-6201", "6201-FUYI", "620100", &["system"])
}
/// The reconsideration system of city 6202.
fn system_6202() -> Officer {
    Officer::new("fuyi-6202", "6202-FUYI", "620200", &["system"])
}

struct World {
    s: System,
    peers: Peers,
}

async fn world() -> World {
    let mut s = start_at(at(NOW)).await;
    let peers = s.start_scheduling_stack(false, None).await;
    s.start_service(Service::Rectification).await;
    s.start_service(Service::Supervision).await;
    World { s, peers }
}

fn public_key() -> ed25519_dalek::VerifyingKey {
    casefile::ArchiveKey::from_base64("test", "test-archive", yuetan_harness::TEST_ARCHIVE_KEY).unwrap().verifying_key()
}

/// Waits until `check` holds, at most 40 s.
async fn until<F: std::future::Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "{what}: not within 40 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every document of a case the services produced, as their own tables
/// hold them: scheduling's notices, receipts (and outlines), the interview
/// record's versions; rectification's notice, acceptance opinion and certificate.
async fn produced(s: &System, case_id: &str) -> BTreeSet<(String, String)> {
    let id = uuid::Uuid::parse_str(case_id).unwrap();
    let mut all = BTreeSet::new();
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT kind, sha256 FROM documents WHERE case_id = $1").bind(id).fetch_all(s.pool_of(Service::Scheduling)).await.unwrap();
    all.extend(rows.into_iter().map(|(k, h)| (format!("scheduling/{k}"), h)));
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT 'record', signed_sha256 FROM records WHERE case_id = $1 AND signed_sha256 <> '' UNION ALL SELECT 'record', content_sha256 FROM records WHERE case_id = $1")
            .bind(id)
            .fetch_all(s.pool_of(Service::Scheduling))
            .await
            .unwrap();
    all.extend(rows.into_iter().map(|(k, h)| (format!("scheduling/{k}"), h)));
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT kind, sha256 FROM documents WHERE case_id = $1").bind(id).fetch_all(s.pool_of(Service::Rectification)).await.unwrap();
    all.extend(rows.into_iter().map(|(k, h)| (format!("rectification/{k}"), h)));
    all
}

/// Streams a download into one buffer; the first chunk's name, size, sha256.
async fn download(s: &System, officer: &Officer, case_id: &str, name: &str) -> Result<(Vec<u8>, cf::Chunk), tonic::Status> {
    let mut stream = s.casefile().download_case_file(req(officer, cf::DownloadCaseFileRequest { case_id: case_id.into(), name: name.into(), format: String::new() })).await?.into_inner();
    let mut bytes = Vec::new();
    let mut first = None;
    while let Some(chunk) = stream.message().await? {
        assert!(chunk.data.len() <= 256 * 1024, "chunks of at most 256 KiB");
        bytes.extend_from_slice(&chunk.data);
        if first.is_none() {
            first = Some(cf::Chunk { data: Vec::new(), ..chunk });
        }
    }
    Ok((bytes, first.expect("a first chunk")))
}

/// The members of a tar (name, bytes), in order.
fn members(tar: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 512 <= tar.len() && tar[at..at + 512].iter().any(|b| *b != 0) {
        let header = &tar[at..at + 512];
        let name = String::from_utf8(header[..100].iter().take_while(|b| **b != 0).copied().collect()).unwrap();
        let prefix = String::from_utf8(header[345..500].iter().take_while(|b| **b != 0).copied().collect()).unwrap();
        let name = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        let size_text: String = header[124..136].iter().take_while(|b| **b != 0 && **b != b' ').map(|b| *b as char).collect();
        let size = usize::from_str_radix(size_text.trim(), 8).unwrap();
        out.push((name, tar[at + 512..at + 512 + size].to_vec()));
        at += 512 + size.div_ceil(512) * 512;
    }
    out
}

fn verify_bytes(tar: &[u8]) -> Result<casefile::Verified, VerifyError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("case.tar");
    std::fs::write(&path, tar).unwrap();
    casefile::verify_archive(&path, &public_key())
}

/// Rewrites an archive from its parts (the tampering cases).
fn rewrite(manifest_json: &[u8], signature: &casefile::Signature, files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    casefile::write_archive(&mut out, manifest_json, signature, files, at(NOW)).unwrap();
    out
}

impl World {
    /// A full sample case: served, interviewed, the record signed, the
    /// rectification notice reviewed and served, the report received on
    /// 2026-05-20 and accepted by two officers (the file closes).
    async fn sample_case(&self, serial: u32) -> String {
        let s = &self.s;
        let case_id = s.held_case(&self.peers, serial, &[], at(INTERVIEW), at(SERVED)).await;
        // Every later service is reported delivered by the SMS gateway.
        self.peers.sms.script(PARTY_PHONE, Behaviour::Deliver { delay: DEFAULT_DELAY });
        let record = s.record_of(&case_id).await;
        for officer in [interviewer(INTERVIEWER_LEGAL), interviewer(INTERVIEWER), recorder()] {
            s.sign(&officer, &record.record_id).await.expect("an officer signs");
        }
        s.party_signs(&record.record_id).await.expect("the party signs");
        s.wait_for_event(|e| e.r#type == "scheduling.record_signed" && e.case_id == case_id).await;
        let notice = s
            .rectification()
            .issue_notice(req(&proposer(), rpb::IssueNoticeRequest { request_id: rid(), case_id: case_id.clone(), legal_basis: String::new(), consequence: String::new(), contact: "0931-8888888".into() }))
            .await
            .unwrap()
            .into_inner();
        let task = s.document_task(&reviewer(), &case_id, &notice.sha256).await;
        s.review()
            .decide_document(req(&reviewer(), vpb::DecideDocumentRequest { request_id: rid(), task_id: task.id, decision: vpb::DocumentDecision::Pass as i32, comments: "规范".into() }))
            .await
            .unwrap();
        s.clock.set(at(ACCEPTED));
        s.paper_report(&case_id, at("2026-05-20T01:00:00Z")).await.expect("the report on paper");
        s.accept_as(&proposer(), &case_id, true).await.unwrap();
        let done = s.accept_as(&interviewer(INTERVIEWER), &case_id, true).await.unwrap();
        assert_eq!(done.status, "accepted");
        // Every document served (the notices and the certificate), each with its receipt.
        s.services_until(&case_id, |v| v.len() >= 3 && v.iter().all(|x| x.status == yuetan_proto::scheduling::ServiceStatus::Served as i32)).await;
        case_id
    }

    /// Waits until supervision has recorded every document the services produced.
    async fn documents_followed(&self, case_id: &str) {
        let expected: Vec<String> = produced(&self.s, case_id).await.into_iter().map(|(_, h)| h).collect();
        let pool = self.s.pool_of(Service::Supervision).clone();
        until("supervision follows every document", || {
            let (pool, expected) = (pool.clone(), expected.clone());
            async move {
                let n: i64 = sqlx::query_scalar("SELECT count(DISTINCT sha256) FROM file_documents WHERE sha256 = ANY($1)").bind(&expected).fetch_one(&pool).await.unwrap();
                n as usize == expected.iter().collect::<BTreeSet<_>>().len()
            }
        })
        .await;
    }

    /// Moves the clock past the archive delay and waits for the case's archive.
    async fn archived(&self, case_id: &str) -> yuetan_proto::events::CaseArchived {
        let s = &self.s;
        s.clock.advance(chrono::Duration::seconds(61));
        let event = s.wait_for_event_within(Duration::from_secs(60), |e| e.r#type == "supervision.case_archived" && e.case_id == case_id).await;
        let Some(Payload::CaseArchived(a)) = event.payload else { panic!("payload") };
        a
    }

    /// A case submitted and rejected by the legal review (closed "rejected").
    async fn rejected_case(&self, serial: u32) -> String {
        let s = &self.s;
        let case = s.submitted_case(&proposer(), serial, false).await;
        let task = s.task(&reviewer(), &case.id, vpb::TaskKind::LegalityReview, 1).await;
        s.review().decide_review(req(&reviewer(), decide(&task.id, vpb::ReviewDecision::Reject))).await.expect("rejected");
        s.wait_for_event(|e| e.r#type == "supervision.case_closed" && e.case_id == case.id).await;
        case.id
    }
}

#[tokio::test]
async fn r_doc_3_a_sample_case_is_archived_with_every_document_signed_and_its_tar_verifies_and_tampering_fails_naming_the_file() {
    let w = world().await;
    let s = &w.s;
    let case_id = w.sample_case(3101).await;
    let closed = s.wait_for_event(|e| e.r#type == "supervision.case_closed" && e.case_id == case_id).await;
    let Some(Payload::CaseClosed(c)) = closed.payload else { panic!("payload") };
    assert_eq!((c.outcome.as_str(), c.retention_class.as_str()), ("accepted", "ordinary"));
    assert_eq!(c.closed_on.unwrap().iso, "2026-05-20");
    // R-DOC-3: 10 working days (Dragon Boat 2026-06-19 is later): Wednesday 2026-06-03.
    assert_eq!(c.archive_due.unwrap().iso, "2026-06-03");
    // Not assembled yet: the file shows closed, its download waits.
    let file = s.casefile().get_case_file(req(&proposer(), cf::GetCaseFileRequest { case_id: case_id.clone() })).await.unwrap().into_inner();
    assert_eq!(file.status, "closed");
    let early = download(s, &proposer(), &case_id, "").await.unwrap_err();
    assert_eq!(early.code(), Code::FailedPrecondition, "{early:?}");

    w.documents_followed(&case_id).await;
    let archived = w.archived(&case_id).await;
    assert!(archived.timely, "assembled within 10 working days");
    assert_eq!((archived.key_id.as_str(), archived.retention_class.as_str()), ("test-archive", "ordinary"));
    assert_eq!(archived.retain_until.unwrap().iso, "2031-05-20", "R-DOC-4: ordinary, 5 years");

    // The case file: manifest, signature, timeline.
    let file = s.casefile().get_case_file(req(&proposer(), cf::GetCaseFileRequest { case_id: case_id.clone() })).await.unwrap().into_inner();
    assert_eq!(file.status, "archived");
    assert_eq!(file.manifest_sha256, archived.manifest_sha256);
    assert_eq!(casefile::sha256_hex(&file.manifest_json), file.manifest_sha256, "the manifest exactly as signed");
    let manifest = file.manifest.clone().unwrap();
    assert_eq!(manifest.format, "yuetan.casefile.v1");
    assert!(file.timeline.iter().any(|t| t.event_type == "scheduling.interview_held"), "the timeline of every service");
    assert!(file.timeline.iter().any(|t| t.event_type == "rectification.accepted"));
    assert!(!file.under_relief && file.relief.is_empty());
    let listed: BTreeSet<&str> = manifest.entries.iter().map(|e| e.sha256.as_str()).collect();
    let produced = produced(s, &case_id).await;
    assert!(produced.iter().any(|(k, _)| k == "scheduling/delivery_receipt") && produced.iter().any(|(k, _)| k == "rectification/acceptance_certificate"), "{produced:?}");
    for (kind, sha) in &produced {
        assert!(listed.contains(sha.as_str()), "{kind} {sha} is not in the manifest: {:?}", manifest.entries.iter().map(|e| (&e.kind, &e.sha256)).collect::<Vec<_>>());
    }
    // Evidence and the interview's recording are listed; the document list and the timeline too.
    assert!(manifest.entries.iter().any(|e| e.kind == "recording"));
    assert!(manifest.entries.iter().any(|e| e.kind == "attachment"), "the report's photo");
    assert!(manifest.entries.iter().any(|e| e.name == "document-list.pdf" && e.kind == "document_list"));
    assert!(manifest.entries.iter().any(|e| e.name == "timeline.json"));
    let seqs: Vec<u32> = manifest.entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=manifest.entries.len() as u32).collect::<Vec<_>>(), "numbered in order");
    let times: Vec<_> = manifest.entries.iter().map(|e| e.produced_at.unwrap().seconds).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "in time order");
    assert_eq!(archived.documents as usize, manifest.entries.len() - 2);

    // The whole archive as one tar: it verifies, every file checked.
    let (tar, first) = download(s, &proposer(), &case_id, "").await.unwrap();
    assert_eq!(first.total_size, tar.len() as u64);
    assert!(first.name.ends_with(".tar"));
    let verified = verify_bytes(&tar).expect("the archive verifies");
    assert_eq!(verified.manifest.entries.len(), manifest.entries.len());
    assert_eq!(verified.files, manifest.entries.iter().filter(|e| !e.reference_only).count());
    assert_eq!(verified.signature.key_id, "test-archive");
    // One file by name, with its sha256 on the first chunk.
    let list = manifest.entries.iter().find(|e| e.kind == "document_list").unwrap();
    let (pdf, first) = download(s, &proposer(), &case_id, &list.name).await.unwrap();
    assert!(pdf.starts_with(b"%PDF"));
    assert_eq!((first.sha256.as_str(), first.total_size), (list.sha256.as_str(), pdf.len() as u64));
    let missing = download(s, &proposer(), &case_id, "documents/99-nothing.pdf").await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    assert!(missing.message().contains("documents/99-nothing.pdf"), "{}", missing.message());

    // Tampering, each named.
    let parts = members(&tar);
    let manifest_json = parts.iter().find(|(n, _)| n == "manifest.json").unwrap().1.clone();
    let signature: casefile::Signature = serde_json::from_slice(&parts.iter().find(|(n, _)| n == "manifest.sig").unwrap().1).unwrap();
    let files: Vec<(String, Vec<u8>)> = parts.iter().filter(|(n, _)| n.starts_with("documents/") || n.ends_with(".pdf") || n.ends_with(".json") && n != "manifest.json").cloned().collect();
    assert!(verify_bytes(&rewrite(&manifest_json, &signature, &files)).is_ok(), "rewritten unchanged, it still verifies");
    let victim = files.iter().position(|(n, _)| n.starts_with("documents/")).unwrap();
    let name = files[victim].0.clone();
    let mut changed = files.clone();
    let middle = changed[victim].1.len() / 2;
    changed[victim].1[middle] ^= 0x01;
    match verify_bytes(&rewrite(&manifest_json, &signature, &changed)) {
        Err(VerifyError::Changed { name: n, .. }) => assert_eq!(n, name),
        other => panic!("one changed byte: {other:?}"),
    }
    let mut removed = files.clone();
    removed.remove(victim);
    match verify_bytes(&rewrite(&manifest_json, &signature, &removed)) {
        Err(e @ VerifyError::Missing { .. }) => assert!(e.to_string().contains(&name), "{e}"),
        other => panic!("a removed file: {other:?}"),
    }
    let altered = String::from_utf8(manifest_json.clone()).unwrap().replacen("ordinary", "major", 1).into_bytes();
    match verify_bytes(&rewrite(&altered, &signature, &files)) {
        Err(e @ VerifyError::BadSignature(_)) => assert!(e.to_string().contains("manifest"), "{e}"),
        other => panic!("an altered manifest: {other:?}"),
    }

    // R-DOC-3: the archive card closed in time; the paper file within 30 days.
    let cards = s
        .supervision()
        .list_cards(req(&proposer(), pb::ListCardsRequest { include_closed: true, step: "archive".into(), page_size: 50, ..Default::default() }))
        .await
        .unwrap()
        .into_inner()
        .cards;
    assert!(cards.iter().any(|k| k.case_id == case_id && k.closed && k.deadline.as_ref().unwrap().iso == "2026-06-03"), "{cards:?}");
    let paper = s
        .supervision()
        .record_paper_archive(req(&office(), pb::RecordPaperArchiveRequest { request_id: rid(), case_id: case_id.clone(), location: "档案室A区3排".into(), box_number: "2026-约谈-017".into(), archived_on: None }))
        .await
        .unwrap()
        .into_inner()
        .file
        .unwrap();
    assert_eq!((paper.paper_location.as_str(), paper.paper_box.as_str()), ("档案室A区3排", "2026-约谈-017"));
    let event = s.wait_for_event(|e| e.r#type == "supervision.paper_archived" && e.case_id == case_id).await;
    let Some(Payload::PaperArchived(p)) = event.payload else { panic!("payload") };
    assert!(p.timely && p.recorded_by == "office-a");
    let long = s
        .supervision()
        .record_paper_archive(req(&office(), pb::RecordPaperArchiveRequest { request_id: rid(), case_id: case_id.clone(), location: "档".repeat(201), box_number: "1".into(), archived_on: None }))
        .await
        .unwrap_err();
    assert_eq!(long.code(), Code::InvalidArgument);
    assert!(long.message().contains("location"), "{}", long.message());
    let listed = s.supervision().list_archive(req(&office(), pb::ListArchiveRequest { status: "archived".into(), ..Default::default() })).await.unwrap().into_inner().files;
    assert!(listed.iter().any(|f| f.case_id == case_id && f.manifest_sha256 == archived.manifest_sha256));

    // Every read and download is audited with the caller.
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE actor_id = 'officer-a' AND action IN ('casefile.read', 'casefile.download')")
        .fetch_one(s.pool_of(Service::Supervision))
        .await
        .unwrap();
    assert!(audited >= 4, "{audited}");
}

#[tokio::test]
async fn r_doc_4_destruction_is_refused_before_retention_with_two_supervisors_or_under_relief_and_done_after_with_three() {
    let mut w = world().await;
    let s = &w.s;
    let case_id = w.sample_case(3201).await;
    w.documents_followed(&case_id).await;
    w.archived(&case_id).await;
    let other = w.rejected_case(3202).await;
    w.archived(&other).await;
    // R-RELIEF-2: a reconsideration application about the rejected case.
    let relief = s
        .casefile()
        .register_relief(req(
            &system_6201(),
            cf::RegisterReliefRequest { request_id: rid(), case_id: other.clone(), kind: "reconsideration".into(), relief_id: "GS-FY-2026-0099".into(), body: "兰州市人民政府".into(), received_on: Some(yuetan_platform::fields::date(chrono::NaiveDate::from_ymd_opt(2026, 5, 20).unwrap())), ..Default::default() },
        ))
        .await
        .expect("relief registered")
        .into_inner();
    assert!(relief.created);
    let shown = s.casefile().get_case_file(req(&system_6201(), cf::GetCaseFileRequest { case_id: other.clone() })).await.unwrap().into_inner();
    assert!(shown.under_relief && shown.relief.len() == 1, "{shown:?}");

    let approve = |case_id: &str, attendees: &[&str]| pb::ApproveDestructionRequest {
        request_id: rid(),
        case_id: case_id.into(),
        // The leading group's meeting (on a day before both asks).
        meeting_on: Some(yuetan_platform::fields::date(chrono::NaiveDate::from_ymd_opt(2026, 5, 20).unwrap())),
        attendees: attendees.iter().map(|a| a.to_string()).collect(),
        minutes_reference: "党组会议纪要〔2031〕5号".into(),
    };
    let three = ["leader-a", "deputy-a", "inspector-a"];
    // Before the retention period (5 years from 2026-05-20).
    let early = s.supervision().approve_destruction(req(&leader(), approve(&case_id, &three))).await.unwrap_err();
    assert_eq!(early.code(), Code::FailedPrecondition);
    assert!(early.message().contains("2031-05-20"), "{}", early.message());

    // Past it. Only supervision is needed; the board's daily and monthly
    // timers of five years are not what this test is about.
    for service in [Service::Rectification, Service::Scheduling, Service::Review, Service::Intake] {
        w.s.stop_service(service).await;
    }
    let s = &w.s;
    sqlx::query("UPDATE timers SET cancelled_at = now() WHERE fired_at IS NULL AND kind IN ('supervision.rollup', 'supervision.warn', 'supervision.monthly', 'supervision.quarterly', 'supervision.card')")
        .execute(s.pool_of(Service::Supervision))
        .await
        .unwrap();
    s.clock.set(at("2031-05-21T02:00:00Z"));
    let two = s.supervision().approve_destruction(req(&leader(), approve(&case_id, &["leader-a", "deputy-a", "leader-a"]))).await.unwrap_err();
    assert_eq!(two.code(), Code::InvalidArgument);
    assert!(two.message().contains("attendees"), "{}", two.message());
    let relieved = s.supervision().approve_destruction(req(&leader(), approve(&other, &three))).await.unwrap_err();
    assert_eq!(relieved.code(), Code::FailedPrecondition);
    assert!(relieved.message().contains("R-RELIEF-2"), "{}", relieved.message());
    let destroy = |case_id: &str, supervisors: &[&str]| pb::DestroyCaseFileRequest {
        request_id: rid(),
        case_id: case_id.into(),
        supervisors: supervisors.iter().map(|a| a.to_string()).collect(),
        method: "电子档案删除，纸质档案粉碎".into(),
    };
    let unapproved = s.supervision().destroy_case_file(req(&inspector(), destroy(&case_id, &["inspector-a", "office-a", "deputy-a"]))).await.unwrap_err();
    assert_eq!(unapproved.code(), Code::FailedPrecondition, "not without the leading group's approval");
    let approved = s.supervision().approve_destruction(req(&leader(), approve(&case_id, &three))).await.unwrap().into_inner().file.unwrap();
    assert!(!approved.approval_id.is_empty());
    s.wait_for_event(|e| e.r#type == "supervision.destruction_approved" && e.case_id == case_id).await;
    let with_two = s.supervision().destroy_case_file(req(&inspector(), destroy(&case_id, &["inspector-a", "office-a"]))).await.unwrap_err();
    assert_eq!(with_two.code(), Code::InvalidArgument);
    assert!(with_two.message().contains("supervisors"), "{}", with_two.message());
    let relieved = s.supervision().destroy_case_file(req(&inspector(), destroy(&other, &["inspector-a", "office-a", "deputy-a"]))).await.unwrap_err();
    assert_eq!(relieved.code(), Code::FailedPrecondition);

    let before = s.casefile().get_case_file(req(&inspector(), cf::GetCaseFileRequest { case_id: case_id.clone() })).await.unwrap().into_inner();
    let other_file = s.casefile().get_case_file(req(&inspector(), cf::GetCaseFileRequest { case_id: other.clone() })).await.unwrap().into_inner();
    let kept_elsewhere: BTreeSet<String> = other_file.manifest.unwrap().entries.into_iter().map(|e| e.sha256).collect();
    let destroyed = s.supervision().destroy_case_file(req(&inspector(), destroy(&case_id, &["inspector-a", "office-a", "deputy-a"]))).await.unwrap().into_inner().file.unwrap();
    assert_eq!(destroyed.status, "destroyed");
    assert!(!destroyed.destruction_record_sha256.is_empty());
    let event = s.wait_for_event(|e| e.r#type == "supervision.case_destroyed" && e.case_id == case_id).await;
    let Some(Payload::CaseDestroyed(d)) = event.payload else { panic!("payload") };
    assert_eq!(d.supervisors.len(), 3);
    assert_eq!(d.manifest_sha256, before.manifest_sha256);

    // The documents are gone (but what another file lists), the manifest and the record stay.
    let objects = yuetan_platform::objects::Objects::new(&s.config.objects).unwrap();
    let mut gone = 0;
    for e in before.manifest.as_ref().unwrap().entries.iter().filter(|e| !e.reference_only) {
        let exists = objects.exists(&e.sha256).await.unwrap();
        if kept_elsewhere.contains(&e.sha256) {
            assert!(exists, "{} is listed by another file: kept", e.name);
        } else {
            assert!(!exists, "{} destroyed", e.name);
            gone += 1;
        }
    }
    assert!(gone > 3 && d.destroyed_files as usize == gone, "{gone} {}", d.destroyed_files);
    assert!(objects.exists(&before.manifest_sha256).await.unwrap(), "the manifest stays forever");
    let (record, _) = download(s, &inspector(), &case_id, "destruction-record.json").await.unwrap();
    let record: serde_json::Value = serde_json::from_slice(&record).unwrap();
    assert_eq!(record["approval"]["attendees"].as_array().unwrap().len(), 3);
    assert_eq!(record["destroyed"].as_array().unwrap().len(), gone);
    let (manifest, _) = download(s, &inspector(), &case_id, "manifest.json").await.unwrap();
    assert_eq!(casefile::sha256_hex(&manifest), before.manifest_sha256);
    let after = s.casefile().get_case_file(req(&inspector(), cf::GetCaseFileRequest { case_id: case_id.clone() })).await.unwrap().into_inner();
    assert_eq!((after.status.as_str(), after.manifest_sha256.as_str()), ("destroyed", before.manifest_sha256.as_str()));
    let name = before.manifest.as_ref().unwrap().entries.iter().find(|e| e.name.starts_with("documents/") && !e.reference_only).unwrap().name.clone();
    let gone_document = download(s, &inspector(), &case_id, &name).await.unwrap_err();
    assert_eq!(gone_document.code(), Code::NotFound);
    assert!(gone_document.message().contains(&name), "{}", gone_document.message());
    assert_eq!(download(s, &inspector(), &case_id, "").await.unwrap_err().code(), Code::FailedPrecondition);
    // A second destruction is refused; the file under relief is still whole.
    let again = s.supervision().destroy_case_file(req(&inspector(), destroy(&case_id, &["inspector-a", "office-a", "deputy-a"]))).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    let (tar, _) = download(s, &system_6201(), &other, "").await.unwrap();
    verify_bytes(&tar).expect("the file under relief still verifies");

    // The archive rows rebuild from the stream (supervision's own events).
    s.drain_outbox().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let report = yuetan_supervision::rebuild::rebuild(&s.config, "archive_rebuild", s.clock.clone(), s.calendar.clone()).await.unwrap();
    assert!(report.equal, "{report}");
    let rows = |schema: &'static str| {
        let pool = s.pool_of(Service::Supervision).clone();
        async move {
            let sql = format!(
                "SELECT file_id::text, status, retention_class, retain_until::text, coalesce(manifest_sha256, ''), documents, coalesce(approval_id::text, ''),
                        coalesce(destruction_record_sha256, ''), (SELECT count(*) FROM {schema}.file_documents d WHERE d.file_id = a.file_id)
                   FROM {schema}.archives a ORDER BY file_id"
            );
            sqlx::query_as::<_, (String, String, String, Option<String>, String, i32, String, String, i64)>(&sql).fetch_all(&pool).await.unwrap()
        }
    };
    let live = rows("supervision").await;
    assert_eq!(live.len(), 2);
    assert_eq!(live, rows("archive_rebuild").await, "the archive as rebuilt from the stream");
}

#[tokio::test]
async fn r_relief_1_a_service_account_of_city_6201_reads_a_case_file_of_6201_and_not_of_another_city() {
    let w = world().await;
    let s = &w.s;
    let case_id = w.rejected_case(3301).await;
    w.archived(&case_id).await;
    let file = s.casefile().get_case_file(req(&system_6201(), cf::GetCaseFileRequest { case_id: case_id.clone() })).await.expect("6201 serves 620102").into_inner();
    assert_eq!((file.status.as_str(), file.division.as_str()), ("archived", CHENGGUAN));
    let (tar, _) = download(s, &system_6201(), &case_id, "").await.unwrap();
    verify_bytes(&tar).expect("the pulled archive verifies");
    let denied = s.casefile().get_case_file(req(&system_6202(), cf::GetCaseFileRequest { case_id: case_id.clone() })).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert_eq!(download(s, &system_6202(), &case_id, "").await.unwrap_err().code(), Code::PermissionDenied);

    // A case of city 6202 (嘉峪关): the 6201 account is denied.
    s.put_organ("620201-SJ", "620201", "嘉市监").await;
    let officer = Officer::new("officer-jyg", "620201-SJ", "620201", &["case_officer", "section_chief"]);
    let jyg = s.opened_case(&officer, 3302, false).await;
    until("supervision knows the 6202 case", || {
        let pool = s.pool_of(Service::Supervision).clone();
        let id = uuid::Uuid::parse_str(&jyg).unwrap();
        async move { sqlx::query_scalar::<_, i64>("SELECT count(*) FROM files WHERE case_id = $1").bind(id).fetch_one(&pool).await.unwrap() == 1 }
    })
    .await;
    let denied = s.casefile().get_case_file(req(&system_6201(), cf::GetCaseFileRequest { case_id: jyg.clone() })).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    let not_closed = s.casefile().get_case_file(req(&system_6202(), cf::GetCaseFileRequest { case_id: jyg })).await.unwrap_err();
    assert_eq!(not_closed.code(), Code::FailedPrecondition, "6202 serves it, but it is not closed: {not_closed:?}");
    // Every read is audited with the service account.
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE actor_id = 'fuyi-6201' AND action IN ('casefile.read', 'casefile.download')").fetch_one(s.pool_of(Service::Supervision)).await.unwrap();
    assert_eq!(audited, 2);
}
