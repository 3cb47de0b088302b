//! The example outside system (examples/reconsideration-intake, issue 13,
//! R-RELIEF-1, R-RELIEF-2) against the real platform (NATS, PostgreSQL, the
//! object store): started after a case closed, its own durable consumer
//! catches up from the stream and lists the case with the ARL's 60-day
//! window; its application, published on the bus, marks the case under
//! relief; it pulls the case file with a service-account token and verifies
//! the archive.

mod common;

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use common::*;
use reconsideration_intake::book::Book;
use reconsideration_intake::{apply, pull, sync, Bus, Identity};
use yuetan_calendar::Calendar;
use yuetan_platform::auth::{Claims, TokenIssuer};
use yuetan_proto::events::event::Payload;
use yuetan_proto::review::{ReviewDecision, TaskKind};

/// base64 of a 32-byte seed: the archive key of this test.
const ARCHIVE_KEY: &str = "cmVjb25zaWRlcmF0aW9uLWV4YW1wbGUtYXJjaGl2ZSE=";

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// The province's reconsideration platform: a service account (role
/// `system`) of city 6201 (`620100` covers 6201xx), or of another city.
fn service_token(division: &str, divisions: &[&str]) -> String {
    let mut claims = Claims::for_officer("gs-fuyi", "甘肃省行政复议平台", "620000-FY", division, &["system"], yuetan_harness::ISSUER, yuetan_harness::AUDIENCE, chrono::Duration::hours(1), Utc::now());
    claims.divisions = divisions.iter().map(|d| d.to_string()).collect();
    TokenIssuer::hs256("test", yuetan_harness::SECRET).issue(&claims).unwrap()
}

fn me() -> Identity {
    Identity { id: "gs-fuyi".into(), name: "甘肃省行政复议平台".into(), organ: "620000-FY".into(), division: "620000".into() }
}

async fn sync_until_idle(bus: &Bus, data: &std::path::Path) -> (sync::Report, Vec<String>) {
    let mut lines = Vec::new();
    let mut note = |line: String| lines.push(line);
    let report = sync::sync(bus, data, "reconsideration-intake", &Calendar::builtin(), true, &mut note).await.expect("sync");
    (report, lines)
}

#[tokio::test]
async fn r_relief_1_the_example_started_after_a_case_closed_catches_up_lists_it_with_its_window_applies_and_pulls_a_verified_file() {
    // Tuesday 2026-09-01, 10:00 CST.
    let h = Harness::builder()
        .at(at("2026-09-01T02:00:00Z"))
        .with(Service::Intake)
        .with(Service::Review)
        .with(Service::Supervision)
        .toml(&format!("[supervision]\narchive_key_id = \"example-archive\"\narchive_key = \"{ARCHIVE_KEY}\"\narchive_delay_seconds = 600\n"))
        .start()
        .await;
    h.put_organs().await;
    let s = System { h };

    // A case rejected by the legal review: closed in supervision.
    let case = s.submitted_case(&proposer(), 31, false).await;
    let task = s.task(&reviewer(), &case.id, TaskKind::LegalityReview, 1).await;
    s.review().decide_review(req(&reviewer(), decide(&task.id, ReviewDecision::Reject))).await.unwrap();
    let closed = s.wait_for_event(|e| matches!(&e.payload, Some(Payload::CaseClosed(c)) if c.case_id == case.id)).await;
    let Some(Payload::CaseClosed(closed)) = closed.payload else { unreachable!() };
    assert_eq!((closed.outcome.as_str(), closed.closed_on.as_ref().map(|d| d.iso.as_str())), ("rejected", Some("2026-09-01")));

    // The outside system starts now, after the case closed: its durable
    // consumer reads the stream from the beginning.
    let bus = Bus { url: s.config.nats.url.expose().to_string(), stream: s.config.nats.stream.clone(), prefix: s.config.nats.subject_prefix.clone() };
    let data = tempfile::tempdir().unwrap();
    let (report, lines) = sync_until_idle(&bus, data.path()).await;
    assert_eq!(report.cases, 1, "{lines:?}");
    let book = Book::load(data.path()).unwrap();
    let listed = book.find(&case.id).expect("the closed case is listed");
    assert_eq!((listed.division.as_str(), listed.organ.as_str(), listed.outcome.as_str()), (CHENGGUAN, ORGAN_A, "rejected"));
    assert_eq!(listed.closed_on, day("2026-09-01"));
    // ARL art. 20: 60 days from 2026-09-01 is Saturday 2026-10-31, a day
    // off: the window ends on Monday 2026-11-02 (R-TIME-2).
    assert_eq!(listed.apply_until, day("2026-11-02"));
    let table = reconsideration_intake::book::table(&book, day("2026-09-28"));
    println!("{}\n{table}", lines.join("\n"));
    assert!(table.contains("2026-11-02"));

    // Read again: nothing new (its consumer acknowledged what it applied).
    let (again, _) = sync_until_idle(&bus, data.path()).await;
    assert_eq!((again.received, again.changed), (0, 0));

    // R-DOC-3: the file is assembled by timer after closing (here 600 s).
    s.clock.set(at("2026-09-30T02:00:00Z"));
    let archived = s.wait_for_event_within(Duration::from_secs(30), |e| matches!(&e.payload, Some(Payload::CaseArchived(a)) if a.case_id == case.id)).await;
    let Some(Payload::CaseArchived(archived)) = archived.payload else { unreachable!() };

    // Refused by the intake system itself: a case it does not know, an
    // application after the window.
    let refused = apply::Request {
        case: "0190a000-0000-7000-8000-00000000dead".into(),
        applicant: "兰州某某商贸有限公司".into(),
        received_on: day("2026-09-30"),
        applied_on: Some(day("2026-09-28")),
        relief_id: None,
        body: apply::DEFAULT_BODY.into(),
    };
    assert!(apply::apply(&bus, data.path(), &me(), &refused).await.unwrap_err().to_string().contains("no decided case"));
    let late = apply::Request { case: case.id.clone(), applied_on: Some(day("2026-11-03")), received_on: day("2026-11-04"), ..refused.clone() };
    assert!(apply::apply(&bus, data.path(), &me(), &late).await.unwrap_err().to_string().contains("closed on 2026-11-02"));

    // The application: relief.application_received on the bus, in the case's division.
    let application = apply::Request { case: case.id.clone(), relief_id: Some("GSFY-2026-0093".into()), ..refused.clone() };
    let published = apply::apply(&bus, data.path(), &me(), &application).await.expect("published");
    println!("{published}");
    assert!(!published.duplicate);
    assert_eq!(published.subject, format!("{}.62.01.02.relief.application_received", s.config.nats.subject_prefix));
    let events = s.events().await;
    let (subject, event) = events.iter().find(|(_, e)| e.id == published.event_id).expect("the application is in the stream");
    assert_eq!(subject, &published.subject);
    assert_eq!((event.r#type.as_str(), event.case_id.as_str(), event.case_version, event.jurisdiction.as_str()), ("relief.application_received", case.id.as_str(), 0, CHENGGUAN));
    let Some(Payload::ReliefApplicationReceived(received)) = &event.payload else { panic!("payload {:?}", event.payload) };
    assert_eq!((received.relief_id.as_str(), received.source.as_str(), received.received_on.as_ref().map(|d| d.iso.as_str())), ("GSFY-2026-0093", "gs-fuyi", Some("2026-09-30")));

    // Published again (a retry): the same event, dropped by JetStream.
    let retried = apply::apply(&bus, data.path(), &me(), &application).await.expect("republished");
    assert_eq!((retried.event_id.as_str(), retried.duplicate, retried.sequence), (published.event_id.as_str(), true, published.sequence));

    // R-RELIEF-2: the platform marks the case under relief, the organ's reply
    // due 10 working days after it received the copy.
    let marked = s.wait_for_event(|e| matches!(&e.payload, Some(Payload::ReliefMarked(m)) if m.relief_id == "GSFY-2026-0093")).await;
    let Some(Payload::ReliefMarked(marked)) = marked.payload else { unreachable!() };
    let reply_due = Calendar::builtin().add_working_days(day("2026-09-30"), 10).unwrap().value;
    assert_eq!(marked.reply_due.as_ref().map(|d| d.iso.clone()), Some(reply_due.to_string()));

    // The intake system sees the archive and the mark.
    let (_, lines) = sync_until_idle(&bus, data.path()).await;
    let book = Book::load(data.path()).unwrap();
    let listed = book.find(&case.id).unwrap();
    assert_eq!(listed.archive.as_ref().map(|a| a.manifest_sha256.as_str()), Some(archived.manifest_sha256.as_str()), "{lines:?}");
    assert_eq!(listed.relief.iter().map(|m| (m.relief_id.as_str(), m.reply_due)).collect::<Vec<_>>(), vec![("GSFY-2026-0093", Some(reply_due))]);
    assert!(book.applications["GSFY-2026-0093"].published);

    // The case file through the export API with the service account of
    // city 6201, verified with the archive public key.
    let supervision = s.handle::<yuetan_supervision::Supervision>(Service::Supervision);
    let public_key = supervision.state.archive_key.as_ref().expect("the archive key").public_base64();
    let grpc = format!("http://{}", s.addr(Service::Supervision));
    let out = tempfile::tempdir().unwrap();
    let export = pull::Export { grpc: grpc.clone(), token: service_token("620100", &[]), public_key: public_key.clone() };
    let pulled = pull::pull(&export, Some(data.path()), &case.id, out.path()).await.expect("pulled and verified");
    assert_eq!(pulled.verified.signature.manifest_sha256, archived.manifest_sha256);
    assert_eq!(pulled.verified.manifest.case_id, case.id);
    // The services' documents (none is rendered for a rejected case), the document list and the timeline.
    let entries = &pulled.verified.manifest.entries;
    assert!(entries.len() > archived.documents as usize && entries.iter().any(|e| e.kind == "document_list"), "{entries:#?}");
    assert!(!pulled.file.timeline.is_empty());
    assert!(pulled.file.under_relief);
    assert!(pulled.file.relief.iter().any(|r| r.relief_id == "GSFY-2026-0093" && r.reply_due.as_ref().map(|d| d.iso.clone()) == Some(reply_due.to_string())));
    assert!(pulled.archive.exists());
    let printed = pulled.to_string();
    println!("{}\n{}{printed}", lines.join("\n"), reconsideration_intake::book::table(&book, day("2026-09-30")));
    assert!(printed.contains("under relief: yes"), "{printed}");

    // Verification is real: another key (RFC 8410's example public key) does not verify it.
    let other_key = pull::Export { public_key: "Gb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=".into(), ..export.clone() };
    let err = pull::pull(&other_key, None, &case.id, out.path()).await.unwrap_err().to_string();
    assert!(err.contains("does not verify"), "{err}");

    // A service account of another city (6202) is refused the file.
    let other_city = pull::Export { grpc, token: service_token("620200", &["620300"]), public_key };
    let err = pull::pull(&other_city, None, &case.id, out.path()).await.unwrap_err().to_string();
    assert!(err.contains("PermissionDenied") || err.contains("NotFound"), "{err}");

    // Exactly one mark for the application delivered twice.
    let marks: Vec<_> = s.events().await.into_iter().filter(|(_, e)| matches!(&e.payload, Some(Payload::ReliefMarked(m)) if m.relief_id == "GSFY-2026-0093")).collect();
    assert_eq!(marks.len(), 1, "{marks:#?}");
    s.stop().await;
}
