//! The intake service over gRPC against a real PostgreSQL and nats-server
//! (issue 3). Rule ids in the test names say what each proves.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;
use futures::StreamExt;
use prost::Message;
use tonic::Code;
use yuetan_intake::domain::doc_number::DocumentNumber;
use yuetan_proto::common::Date;
use yuetan_proto::events::{event::Payload, Event};
use yuetan_proto::intake as pb;

const CHENGGUAN: &str = "620102";
const QILIHE: &str = "620103";

fn officer_a() -> Officer {
    Officer::new("officer-a", "620102-SJ", CHENGGUAN, &["case_officer", "section_chief"])
}

fn officer_b() -> Officer {
    Officer::new("officer-b", "620103-SJ", QILIHE, &["case_officer", "section_chief"])
}

async fn with_organs(h: &Harness) {
    h.organ("620102-SJ", CHENGGUAN, "兰城市监").await;
    h.organ("620103-SJ", QILIHE, "兰七市监").await;
    h.organ("620102-XF", CHENGGUAN, "兰城消").await;
}

/// Registers a clue for a new enterprise and verifies it; returns (party, clue, verify answer).
async fn open_case(h: &Harness, officer: &Officer, serial: u32) -> (String, pb::Clue, pb::VerifyClueResponse) {
    let party = register(h, officer, enterprise("兰州某某商贸有限公司", &credit_code(&officer.division, serial))).await;
    let clue = h.client().register_clue(req(officer, clue(&party, "SJ-ANNUAL-REPORT"))).await.unwrap().into_inner();
    let verified = h.client().verify_clue(req(officer, verification(&clue.id))).await.unwrap().into_inner();
    (party, clue, verified)
}

/// Collects events published under the harness's prefix until `count` arrive.
async fn collect(sub: &mut async_nats::Subscriber, count: usize) -> Vec<(String, HashMap<String, String>, Event)> {
    let mut out = Vec::new();
    while out.len() < count {
        let message = tokio::time::timeout(Duration::from_secs(10), sub.next())
            .await
            .expect("events arrive within 10 s")
            .expect("subscription open");
        let headers: HashMap<String, String> = message
            .headers
            .iter()
            .flat_map(|h| h.iter().map(|(k, v)| (k.to_string(), v.first().map(|v| v.as_str().to_string()).unwrap_or_default())))
            .collect();
        let event = Event::decode(message.payload.as_ref()).expect("an Event envelope");
        out.push((message.subject.to_string(), headers, event));
    }
    out
}

#[tokio::test]
async fn r_start_1_r_start_3_a_clue_becomes_a_submitted_case_with_a_number_and_its_events() {
    let h = start().await;
    with_organs(&h).await;
    let mut sub = h.bus.client.subscribe(format!("{}.>", h.config.nats.subject_prefix)).await.unwrap();
    let officer = officer_a();

    let content = b"%PDF-1.4 inspection record".to_vec();
    let evidence = h
        .client()
        .upload_evidence(req(&officer, pb::UploadEvidenceRequest { file_name: "检查笔录.pdf".into(), media_type: "application/pdf".into(), content }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(evidence.sha256.len(), 64);
    let party = register(&h, &officer, enterprise("兰州某某餐饮有限公司", &credit_code(CHENGGUAN, 1))).await;
    let mut request = clue(&party, "SJ-ANNUAL-REPORT");
    request.evidence = vec![pb::EvidenceRef { kind: "inspection_record".into(), ..evidence.clone() }];
    let clue = h.client().register_clue(req(&officer, request)).await.unwrap().into_inner();
    assert_eq!(clue.status, pb::ClueStatus::Registered as i32);
    assert_eq!(clue.evidence[0].sha256, evidence.sha256);

    let verified = h.client().verify_clue(req(&officer, verification(&clue.id))).await.unwrap().into_inner();
    assert_eq!(verified.outcome, pb::Outcome::Eligible as i32);
    let case = verified.case.unwrap();
    assert_eq!(case.status, pb::CaseStatus::Opened as i32);
    let number = DocumentNumber::parse(&case.number).expect("a well-formed 文号");
    assert_eq!(number.organ_code, "兰城市监约");
    assert_eq!(number.sequence, 1);
    assert_eq!(case.number, format!("兰城市监约〔{}〕1号", number.year));

    let mut form = approval_form();
    form.evidence = vec![evidence.clone()];
    let submitted = h
        .client()
        .submit_for_review(req(&officer, pb::SubmitForReviewRequest { request_id: "sub-1".into(), case_id: case.id.clone(), approval_form: Some(form) }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(submitted.status, pb::CaseStatus::Submitted as i32);
    assert_eq!(submitted.review_round, 1);
    let again = h
        .client()
        .submit_for_review(req(&officer, pb::SubmitForReviewRequest { request_id: "sub-2".into(), case_id: case.id.clone(), approval_form: Some(approval_form()) }))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition, "{again:?}");

    let events = collect(&mut sub, 4).await;
    let types: Vec<&str> = events.iter().map(|(_, _, e)| e.r#type.as_str()).collect();
    assert_eq!(types, ["intake.clue_registered", "intake.clue_verified", "intake.case_opened", "intake.case_submitted"]);
    let prefix = &h.config.nats.subject_prefix;
    for (subject, headers, event) in &events {
        assert_eq!(subject, &format!("{prefix}.62.01.02.{}", event.r#type), "division tokens in the subject");
        assert_eq!(headers.get("ce-specversion").map(String::as_str), Some("1.0"));
        assert_eq!(headers.get("ce-id"), Some(&event.id));
        assert_eq!(headers.get("ce-type"), Some(&event.r#type));
        assert_eq!(headers.get("ce-source").map(String::as_str), Some("/yuetan/intake"));
        assert!(headers.contains_key("ce-time") && headers.contains_key("traceparent"));
        assert_eq!(headers.get("Nats-Msg-Id"), Some(&event.id));
    }
    let (_, _, opened) = &events[2];
    assert_eq!(opened.case_id, case.id);
    assert_eq!(opened.case_version, 2);
    let Some(Payload::CaseOpened(payload)) = &opened.payload else { panic!("case_opened payload") };
    assert_eq!(payload.number, case.number);
    let (_, _, sent) = &events[3];
    assert_eq!(sent.case_version, 3);
    let Some(Payload::CaseSubmitted(payload)) = &sent.payload else { panic!("case_submitted payload") };
    assert_eq!(payload.evidence_sha256, vec![evidence.sha256.clone()]);
    assert_eq!(payload.proposed_by, "officer-a");
    h.stop().await;
}

#[tokio::test]
async fn r_doc_2_fifty_concurrent_case_openings_in_one_organ_get_fifty_consecutive_numbers() {
    let h = start().await;
    with_organs(&h).await;
    let officer = officer_a();
    let mut clues = Vec::new();
    for serial in 0..50 {
        let party = register(&h, &officer, enterprise("企业", &credit_code(CHENGGUAN, 100 + serial))).await;
        clues.push(h.client().register_clue(req(&officer, clue(&party, "SJ-ANNUAL-REPORT"))).await.unwrap().into_inner().id);
    }
    let tasks: Vec<_> = clues
        .into_iter()
        .map(|id| {
            let mut client = h.client();
            let officer = officer.clone();
            tokio::spawn(async move { client.verify_clue(req(&officer, verification(&id))).await.unwrap().into_inner() })
        })
        .collect();
    let mut sequences = Vec::new();
    for task in tasks {
        let case = task.await.unwrap().case.unwrap();
        sequences.push(DocumentNumber::parse(&case.number).unwrap().sequence);
    }
    sequences.sort_unstable();
    assert_eq!(sequences, (1..=50).collect::<Vec<u32>>());
    h.stop().await;
}

#[tokio::test]
async fn bad_input_is_invalid_argument_naming_the_field_and_writes_nothing() {
    let h = start().await;
    with_organs(&h).await;
    let officer = officer_a();
    let party = register(&h, &officer, enterprise("企业", &credit_code(CHENGGUAN, 7))).await;
    let before = h.counts().await;

    let mut bad_code = credit_code(CHENGGUAN, 8);
    bad_code.replace_range(17..18, if bad_code.ends_with('1') { "2" } else { "1" });
    let err = h
        .client()
        .register_party(req(&officer, pb::RegisterPartyRequest { request_id: "p-bad-1".into(), party: Some(enterprise("企业", &bad_code)) }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("party.credit_code"), "{}", err.message());

    let mut bad_id = resident_id(QILIHE, 5);
    bad_id.replace_range(17..18, if bad_id.ends_with('1') { "2" } else { "1" });
    let err = h
        .client()
        .register_party(req(&officer, pb::RegisterPartyRequest { request_id: "p-bad-2".into(), party: Some(person("张三", &bad_id)) }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("party.resident_id"), "{}", err.message());

    let mut unknown_type = clue(&party, "NO-SUCH-TYPE");
    unknown_type.request_id = "c-bad-1".into();
    let err = h.client().register_clue(req(&officer, unknown_type)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("`violation_type`"), "{}", err.message());

    let mut empty_facts = clue(&party, "SJ-ANNUAL-REPORT");
    empty_facts.facts = "   ".into();
    let err = h.client().register_clue(req(&officer, empty_facts)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("`facts`"), "{}", err.message());

    let mut missing_evidence = clue(&party, "SJ-ANNUAL-REPORT");
    missing_evidence.evidence = vec![pb::EvidenceRef { sha256: "ab".repeat(32), file_name: "照片.jpg".into(), ..Default::default() }];
    let err = h.client().register_clue(req(&officer, missing_evidence)).await.unwrap_err();
    assert!(err.message().contains("evidence[0].sha256"), "{}", err.message());
    assert_eq!(h.counts().await, before, "nothing was written by the refused requests");

    // Verification and submission refuse bad input the same way.
    let clue = h.client().register_clue(req(&officer, clue(&party, "SJ-ANNUAL-REPORT"))).await.unwrap().into_inner();
    let before = h.counts().await;
    let mut no_situation = verification(&clue.id);
    no_situation.situations.clear();
    let err = h.client().verify_clue(req(&officer, no_situation)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("`situations`"), "{}", err.message());
    let mut empty_report = verification(&clue.id);
    empty_report.report.as_mut().unwrap().provisions_violated.clear();
    let err = h.client().verify_clue(req(&officer, empty_report)).await.unwrap_err();
    assert!(err.message().contains("report.provisions_violated"), "{}", err.message());
    let mut unknown_co = verification(&clue.id);
    unknown_co.co_departments = vec!["999999-XX".into()];
    let err = h.client().verify_clue(req(&officer, unknown_co)).await.unwrap_err();
    assert!(err.message().contains("co_departments[0]"), "{}", err.message());
    let case = h.client().verify_clue(req(&officer, verification(&clue.id))).await.unwrap().into_inner().case.unwrap();
    let before_submit = h.counts().await;
    assert_ne!(before_submit, before, "the valid verification wrote");
    let err = h
        .client()
        .submit_for_review(req(&officer, pb::SubmitForReviewRequest { request_id: "s-bad".into(), case_id: case.id.clone(), approval_form: None }))
        .await
        .unwrap_err();
    assert!(err.message().contains("`approval_form`"), "{}", err.message());
    let mut blank = approval_form();
    blank.proposal = " ".into();
    let err = h
        .client()
        .submit_for_review(req(&officer, pb::SubmitForReviewRequest { request_id: "s-bad-2".into(), case_id: case.id, approval_form: Some(blank) }))
        .await
        .unwrap_err();
    assert!(err.message().contains("approval_form.proposal"), "{}", err.message());
    assert_eq!(h.counts().await, before_submit, "nothing was written by the refused requests");
    h.stop().await;
}

#[tokio::test]
async fn r_scope_3_x2_a_repeat_offender_of_county_a_is_excluded_in_county_b_naming_the_earlier_case() {
    let h = start().await;
    with_organs(&h).await;
    let mut sub = h.bus.client.subscribe(format!("{}.62.01.03.>", h.config.nats.subject_prefix)).await.unwrap();
    let (party, _, first) = open_case(&h, &officer_a(), 42).await;
    let earlier = first.case.unwrap();

    // The same enterprise, registered again in county B: one party in the deployment.
    let again = h
        .client()
        .register_party(req(&officer_b(), pb::RegisterPartyRequest { request_id: String::new(), party: Some(enterprise("兰州某某商贸有限公司", &credit_code(CHENGGUAN, 42))) }))
        .await
        .unwrap()
        .into_inner();
    assert!(again.already_registered);
    assert_eq!(again.party.unwrap().id, party);

    let clue_b = h.client().register_clue(req(&officer_b(), clue(&party, "SJ-ANNUAL-REPORT"))).await.unwrap().into_inner();
    let verified = h.client().verify_clue(req(&officer_b(), verification(&clue_b.id))).await.unwrap().into_inner();
    assert_eq!(verified.outcome, pb::Outcome::Excluded as i32);
    assert_eq!(verified.exclusions.len(), 1);
    assert_eq!(verified.exclusions[0].code, pb::ExclusionCode::X2Repeat as i32);
    assert!(verified.exclusions[0].reason.contains(&earlier.number), "{}", verified.exclusions[0].reason);
    assert_eq!(verified.earlier_cases.len(), 1);
    assert_eq!(verified.earlier_cases[0].case_id, earlier.id);
    assert_eq!(verified.earlier_cases[0].division_code, CHENGGUAN);
    let case_b = verified.case.unwrap();
    assert_eq!(case_b.status, pb::CaseStatus::ReferredToPenalty as i32);
    assert!(case_b.number.is_empty(), "an excluded case takes no interview number");
    let clue_after = h.client().get_clue(req(&officer_b(), pb::GetClueRequest { clue_id: clue_b.id.clone() })).await.unwrap().into_inner();
    assert_eq!(clue_after.status, pb::ClueStatus::Excluded as i32);

    // A different violation type is not a repeat.
    let other = h.client().register_clue(req(&officer_b(), clue(&party, "XF-FIRE-EQUIPMENT"))).await.unwrap().into_inner();
    let fine = h.client().verify_clue(req(&officer_b(), verification(&other.id))).await.unwrap().into_inner();
    assert_eq!(fine.outcome, pb::Outcome::Eligible as i32);

    let events = collect(&mut sub, 4).await;
    let excluded = events.iter().find(|(_, _, e)| e.r#type == "intake.clue_excluded").expect("clue_excluded on the bus");
    let Some(Payload::ClueExcluded(payload)) = &excluded.2.payload else { panic!("payload") };
    assert_eq!(payload.earlier_case_ids, vec![earlier.id.clone()]);
    assert_eq!(payload.exclusions[0].code, "X2");
    h.stop().await;
}

#[tokio::test]
async fn scope_county_b_cannot_read_county_a_but_the_province_and_a_co_department_can() {
    let h = start().await;
    with_organs(&h).await;
    let officer = officer_a();
    let party = register(&h, &officer, enterprise("企业", &credit_code(CHENGGUAN, 9))).await;
    let clue = h.client().register_clue(req(&officer, clue(&party, "SJ-ANNUAL-REPORT"))).await.unwrap().into_inner();
    let mut joint = verification(&clue.id);
    joint.co_departments = vec!["620103-SJ".into()];
    let case = h.client().verify_clue(req(&officer, joint)).await.unwrap().into_inner().case.unwrap();
    let (_, _, solo) = open_case(&h, &officer, 10).await;
    let solo = solo.case.unwrap();

    let county_b_other = Officer::new("officer-c", "620103-HB", QILIHE, &["case_officer"]);
    let err = h.client().get_case(req(&county_b_other, pb::GetCaseRequest { case_id: case.id.clone() })).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let province = Officer::new("officer-p", "62-SJ", "620000", &["discipline_inspector"]);
    let seen = h.client().get_case(req(&province, pb::GetCaseRequest { case_id: case.id.clone() })).await.unwrap().into_inner();
    assert_eq!(seen.number, case.number);
    let co_department = officer_b();
    let seen = h.client().get_case(req(&co_department, pb::GetCaseRequest { case_id: case.id.clone() })).await.unwrap().into_inner();
    assert_eq!(seen.co_departments, vec!["620103-SJ".to_string()]);
    let err = h.client().get_case(req(&co_department, pb::GetCaseRequest { case_id: solo.id.clone() })).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "the co-department sees the joint case only");

    let listed = |o: Officer| {
        let mut client = h.client();
        async move {
            let page = client.list_cases(req(&o, pb::ListCasesRequest::default())).await.unwrap().into_inner();
            page.cases.into_iter().map(|c| c.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(listed(province.clone()).await, vec![solo.id.clone(), case.id.clone()], "newest first");
    assert_eq!(listed(co_department.clone()).await, vec![case.id.clone()]);
    assert!(listed(county_b_other.clone()).await.is_empty());

    let page = h.client().list_cases(req(&province, pb::ListCasesRequest { page_size: 1, ..Default::default() })).await.unwrap().into_inner();
    assert_eq!(page.cases.len(), 1);
    let next = h
        .client()
        .list_cases(req(&province, pb::ListCasesRequest { page_size: 1, page_token: page.next_page_token, ..Default::default() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next.cases[0].id, case.id);
    assert!(next.next_page_token.is_empty());

    let history = h.client().party_history(req(&co_department, pb::PartyHistoryRequest { party_id: party.clone() })).await.unwrap().into_inner();
    assert_eq!(history.cases.iter().map(|c| c.id.clone()).collect::<Vec<_>>(), vec![case.id.clone()]);
    h.stop().await;
}

#[tokio::test]
async fn pii_no_resident_id_or_phone_is_stored_in_plain_text() {
    let h = start().await;
    with_organs(&h).await;
    let officer = officer_a();
    let id = resident_id(QILIHE, 321);
    let party = register(&h, &officer, person("张三", &id)).await;
    let got = h.client().get_party(req(&officer, pb::GetPartyRequest { party_id: party.clone() })).await.unwrap().into_inner().party.unwrap();
    assert_eq!(got.resident_id_masked, format!("{}********{}", &id[..6], &id[14..]));
    assert_eq!(got.phone, "13700000000", "officers read the phone back");
    let clue = h.client().register_clue(req(&officer, clue(&party, "HB-SOCIAL-NOISE"))).await.unwrap().into_inner();
    h.client().verify_clue(req(&officer, verification(&clue.id))).await.unwrap();

    let tables: Vec<String> = sqlx::query_scalar("SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'intake'")
        .fetch_all(h.pool())
        .await
        .unwrap();
    assert!(tables.contains(&"parties".to_string()) && tables.contains(&"audit_log".to_string()));
    let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
    for table in tables {
        for needle in [id.clone(), hex(&id), "13700000000".to_string(), hex("13700000000")] {
            let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM intake.{table} t WHERE t::text LIKE $1"))
                .bind(format!("%{needle}%"))
                .fetch_one(h.pool())
                .await
                .unwrap();
            assert_eq!(n, 0, "{table} holds a personal identifier in plain text");
        }
    }
    h.stop().await;
}

#[tokio::test]
async fn retrying_register_clue_or_verify_clue_with_the_same_request_id_has_one_effect() {
    let h = start().await;
    with_organs(&h).await;
    let officer = officer_a();
    let party = register(&h, &officer, enterprise("企业", &credit_code(CHENGGUAN, 11))).await;
    let request = clue(&party, "SJ-ANNUAL-REPORT");
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let mut client = h.client();
            let (officer, request) = (officer.clone(), request.clone());
            tokio::spawn(async move { client.register_clue(req(&officer, request)).await.unwrap().into_inner() })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap().id);
    }
    let retry = h.client().register_clue(req(&officer, request.clone())).await.unwrap().into_inner();
    ids.push(retry.id.clone());
    ids.dedup();
    assert_eq!(ids.len(), 1, "every attempt answers with the same clue");
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM clues").fetch_one(h.pool()).await.unwrap();
    assert_eq!(n, 1);
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'clue.register'").fetch_one(h.pool()).await.unwrap();
    assert_eq!(events, 1);

    // Concurrent retries of one verification: one case, every attempt gets it.
    let verify = verification(&retry.id);
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let mut client = h.client();
            let (officer, verify) = (officer.clone(), verify.clone());
            tokio::spawn(async move { client.verify_clue(req(&officer, verify)).await.unwrap().into_inner() })
        })
        .collect();
    let mut numbers = Vec::new();
    for task in tasks {
        numbers.push(task.await.unwrap().case.unwrap().number);
    }
    numbers.dedup();
    assert_eq!(numbers.len(), 1, "{numbers:?}");
    let cases: i64 = sqlx::query_scalar("SELECT count(*) FROM cases").fetch_one(h.pool()).await.unwrap();
    assert_eq!(cases, 1);

    let mut different = request.clone();
    different.facts = "另一条线索".into();
    let err = h.client().register_clue(req(&officer, different)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("request_id"), "{}", err.message());
    h.stop().await;
}

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
}

#[tokio::test]
async fn r_start_2_verification_deadline_is_three_working_days_on_the_calendar_and_fires_once_when_missed() {
    // 2026-02-12 (Thursday): the Spring Festival holiday runs 02-15 to 02-23,
    // with 02-14 (Saturday) a working day: 02-13, 02-14, 02-24.
    let h = start_at(at("2026-02-12T02:00:00Z")).await;
    with_organs(&h).await;
    let mut sub = h.bus.client.subscribe(format!("{}.>", h.config.nats.subject_prefix)).await.unwrap();
    let officer = officer_a();
    let party = register(&h, &officer, enterprise("企业", &credit_code(CHENGGUAN, 12))).await;
    let clue = h.client().register_clue(req(&officer, clue(&party, "SJ-ANNUAL-REPORT"))).await.unwrap().into_inner();
    assert_eq!(clue.received_on, Some(Date { iso: "2026-02-12".into() }));
    assert_eq!(clue.verification_deadline, Some(Date { iso: "2026-02-24".into() }));

    // Still on time at 23:59 CST on the 24th.
    h.clock.set(at("2026-02-24T15:59:00Z"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = h.client().get_clue(req(&officer, pb::GetClueRequest { clue_id: clue.id.clone() })).await.unwrap().into_inner();
    assert!(!got.verification_overdue);

    h.clock.set(at("2026-02-24T16:00:01Z"));
    let events = collect(&mut sub, 2).await;
    assert_eq!(events[1].2.r#type, "intake.clue_verification_overdue");
    let Some(Payload::ClueVerificationOverdue(payload)) = &events[1].2.payload else { panic!("payload") };
    assert_eq!(payload.verification_deadline, Some(Date { iso: "2026-02-24".into() }));
    let got = h.client().get_clue(req(&officer, pb::GetClueRequest { clue_id: clue.id.clone() })).await.unwrap().into_inner();
    assert!(got.verification_overdue);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fired: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'clue.verification_overdue'").fetch_one(h.pool()).await.unwrap();
    assert_eq!(fired, 1, "the timer fires once");

    // A late verification still opens the case, and says it was late.
    let verified = h.client().verify_clue(req(&officer, verification(&clue.id))).await.unwrap().into_inner();
    assert_eq!(verified.outcome, pb::Outcome::Eligible as i32);
    assert!(verified.case.unwrap().number.contains("〔2026〕"));
    h.stop().await;
}

#[tokio::test]
async fn r_start_3_a_case_returned_for_supplement_is_resubmitted_with_its_supplement() {
    let h = start().await;
    with_organs(&h).await;
    let officer = officer_a();
    let (_, _, verified) = open_case(&h, &officer, 13).await;
    let case = verified.case.unwrap();
    let err = h
        .client()
        .resubmit(req(&officer, pb::ResubmitRequest { request_id: "r0".into(), case_id: case.id.clone(), supplement: "补充".into(), approval_form: None }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "an opened case is submitted, not resubmitted");
    h.client()
        .submit_for_review(req(&officer, pb::SubmitForReviewRequest { request_id: "s1".into(), case_id: case.id.clone(), approval_form: Some(approval_form()) }))
        .await
        .unwrap();
    // Review's return arrives with the review service (issue 4); set it as its consumer will.
    sqlx::query("UPDATE cases SET status = 'returned_for_supplement' WHERE id = $1::uuid").bind(&case.id).execute(h.pool()).await.unwrap();
    let other = officer_b();
    let err = h
        .client()
        .resubmit(req(&other, pb::ResubmitRequest { request_id: "r1".into(), case_id: case.id.clone(), supplement: "补充".into(), approval_form: None }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let again = h
        .client()
        .resubmit(req(&officer, pb::ResubmitRequest { request_id: "r2".into(), case_id: case.id.clone(), supplement: "补充现场照片两张".into(), approval_form: None }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.status, pb::CaseStatus::Submitted as i32);
    assert_eq!(again.review_round, 2);
    assert_eq!(again.approval_form.unwrap().proposal, approval_form().proposal, "the form is kept");
    assert_eq!(again.version, 4);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE event_type = 'intake.case_resubmitted'")
        .fetch_one(h.pool())
        .await
        .unwrap();
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'case.resubmit'").fetch_one(h.pool()).await.unwrap();
    assert_eq!(audited, 1);
    assert!(rows <= 1, "written once (the relay may already have published it)");
    h.stop().await;
}

#[tokio::test]
async fn parties_are_updated_with_their_consent_record_and_keep_their_identifier() {
    let h = start().await;
    let officer = officer_a();
    let code = credit_code(CHENGGUAN, 14);
    let party = register(&h, &officer, enterprise("旧名称", &code)).await;
    let mut input = enterprise("新名称有限公司", "");
    input.consent.as_mut().unwrap().channels = vec![pb::ServiceChannel::Email as i32];
    let updated = h
        .client()
        .update_party(req(&officer, pb::UpdatePartyRequest { request_id: "u1".into(), party_id: party.clone(), party: Some(input) }))
        .await
        .unwrap()
        .into_inner()
        .party
        .unwrap();
    assert_eq!(updated.name, "新名称有限公司");
    assert_eq!(updated.credit_code, code);
    assert_eq!(updated.version, 2);
    let consent = updated.consent.unwrap();
    assert_eq!(consent.channels, vec![pb::ServiceChannel::Email as i32]);
    assert_eq!(consent.recorded_by, "officer-a");

    let mut other = enterprise("x", &credit_code(CHENGGUAN, 15));
    other.name = "y".into();
    let err = h
        .client()
        .update_party(req(&officer, pb::UpdatePartyRequest { request_id: "u2".into(), party_id: party.clone(), party: Some(other) }))
        .await
        .unwrap_err();
    assert!(err.message().contains("party.credit_code"), "{}", err.message());

    let mut no_number = enterprise("企业", &credit_code(CHENGGUAN, 16));
    no_number.consent.as_mut().unwrap().sms_number.clear();
    let err = h
        .client()
        .register_party(req(&officer, pb::RegisterPartyRequest { request_id: String::new(), party: Some(no_number) }))
        .await
        .unwrap_err();
    assert!(err.message().contains("party.consent.sms_number"), "{}", err.message());

    let outsider = Officer::new("x", "650102-SJ", "650102", &["case_officer"]);
    let err = h.client().get_party(req(&outsider, pb::GetPartyRequest { party_id: party })).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "another province's officer");
    h.stop().await;
}

#[tokio::test]
async fn the_violation_type_catalogue_is_seeded_and_managed_through_the_api() {
    let h = start().await;
    let officer = officer_a();
    let listed = h.client().list_violation_types(req(&officer, pb::ListViolationTypesRequest::default())).await.unwrap().into_inner();
    assert!(listed.violation_types.iter().any(|v| v.code == "XF-FIRE-EQUIPMENT" && v.legal_basis.contains("消防法")));
    let new_type = pb::ViolationType {
        code: "SJ-PRICE-TAG".into(),
        department: "market_supervision".into(),
        name: "经营者未按规定明码标价".into(),
        legal_basis: "《中华人民共和国价格法》第十三条、第四十二条".into(),
        active: true,
    };
    let err = h
        .client()
        .put_violation_type(req(&officer, pb::PutViolationTypeRequest { request_id: String::new(), violation_type: Some(new_type.clone()) }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "a case officer does not edit the catalogue");
    let legal = Officer::new("legal-1", "620102-SJ", CHENGGUAN, &["legal_reviewer"]);
    h.client()
        .put_violation_type(req(&legal, pb::PutViolationTypeRequest { request_id: String::new(), violation_type: Some(new_type.clone()) }))
        .await
        .unwrap();
    let market = h
        .client()
        .list_violation_types(req(&officer, pb::ListViolationTypesRequest { department: "market_supervision".into(), include_inactive: false }))
        .await
        .unwrap()
        .into_inner();
    assert!(market.violation_types.iter().any(|v| v.code == "SJ-PRICE-TAG"));
    assert!(market.violation_types.iter().all(|v| v.department == "market_supervision"));
    h.stop().await;
}


#[tokio::test]
async fn r_start_2_list_clues_is_the_sections_queue_nearest_deadline_first_within_scope() {
    let h = start_at(at("2026-03-20T02:00:00Z")).await;
    with_organs(&h).await;
    let officer = officer_a();
    let party = register(&h, &officer, enterprise("企业", &credit_code(CHENGGUAN, 21))).await;
    let mut ids = Vec::new();
    for day in ["2026-03-18", "2026-03-10", "2026-03-16"] {
        let mut request = clue(&party, "SJ-ANNUAL-REPORT");
        request.received_on = Some(Date { iso: day.into() });
        ids.push(h.client().register_clue(req(&officer, request)).await.unwrap().into_inner().id);
    }
    let other_party = register(&h, &officer_b(), enterprise("企业", &credit_code(QILIHE, 22))).await;
    let b_clue = h.client().register_clue(req(&officer_b(), clue(&other_party, "SJ-ANNUAL-REPORT"))).await.unwrap().into_inner().id;
    h.client().verify_clue(req(&officer, verification(&ids[2]))).await.unwrap();

    let list = |o: Officer, status: pb::ClueStatus, page_size: u32, page_token: String| {
        let mut client = h.client();
        async move {
            client
                .list_clues(req(&o, pb::ListCluesRequest { status: status as i32, page_size, page_token }))
                .await
                .unwrap()
                .into_inner()
        }
    };
    let all = list(officer.clone(), pb::ClueStatus::Unspecified, 0, String::new()).await;
    let order: Vec<String> = all.clues.iter().map(|c| c.id.clone()).collect();
    assert_eq!(order, vec![ids[1].clone(), ids[2].clone(), ids[0].clone()], "nearest deadline first; county B's clue not shown");
    let deadlines: Vec<String> = all.clues.iter().map(|c| c.verification_deadline.clone().unwrap().iso).collect();
    assert_eq!(deadlines, ["2026-03-13", "2026-03-19", "2026-03-23"]);

    let waiting = list(officer.clone(), pb::ClueStatus::Registered, 1, String::new()).await;
    assert_eq!(waiting.clues[0].id, ids[1]);
    let next = list(officer.clone(), pb::ClueStatus::Registered, 1, waiting.next_page_token).await;
    assert_eq!(next.clues.iter().map(|c| c.id.clone()).collect::<Vec<_>>(), vec![ids[0].clone()], "the verified clue is not waiting");
    assert!(next.next_page_token.is_empty());

    let city = Officer::new("city-1", "6201-SJ", "620100", &["section_chief"]);
    let seen = list(city, pb::ClueStatus::Unspecified, 0, String::new()).await;
    assert_eq!(seen.clues.len(), 4, "the city sees both counties");
    assert!(seen.clues.iter().any(|c| c.id == b_clue));
    h.stop().await;
}

#[tokio::test]
async fn evidence_larger_than_tonics_default_limit_is_accepted_up_to_the_configured_size() {
    let h = start().await;
    let officer = officer_a();
    let photo = vec![7u8; 6 * 1024 * 1024];
    let stored = h
        .client()
        .max_encoding_message_size(16 * 1024 * 1024)
        .upload_evidence(req(&officer, pb::UploadEvidenceRequest { file_name: "现场视频截图.png".into(), media_type: "image/png".into(), content: photo }))
        .await
        .expect("a 6 MiB file is accepted (the default limit is 64 MiB)")
        .into_inner();
    assert_eq!(stored.size, 6 * 1024 * 1024);
    h.stop().await;
}

#[tokio::test]
async fn r_start_2_a_due_verification_timer_never_deadlocks_with_the_verification_itself() {
    // The verification holds the clue and then cancels the timer; a sweeper
    // holds the timer and wants the clue. The timer must step aside.
    let h = start_at(at("2026-03-20T02:00:00Z")).await;
    with_organs(&h).await;
    let officer = officer_a();
    let party = register(&h, &officer, enterprise("企业", &credit_code(CHENGGUAN, 31))).await;
    let clue = h.client().register_clue(req(&officer, clue(&party, "SJ-ANNUAL-REPORT"))).await.unwrap().into_inner();
    assert_eq!(clue.verification_deadline, Some(Date { iso: "2026-03-25".into() }));

    let mut verifying = h.pool().begin().await.unwrap();
    sqlx::query("SELECT id FROM clues WHERE id = $1::uuid FOR UPDATE").bind(&clue.id).execute(&mut *verifying).await.unwrap();
    h.clock.set(at("2026-03-26T02:00:00Z"));
    let sweeper = yuetan_platform::timers::Sweeper::new(h.pool().clone(), h.clock.clone(), h.config.timers.clone());
    let handler = yuetan_intake::timers::IntakeTimers { state: h.intake.state.clone() };
    let sweep = tokio::spawn(async move { sweeper.sweep_once(&handler).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cancelled = tokio::time::timeout(
        Duration::from_secs(10),
        sqlx::query("UPDATE timers SET cancelled_at = now() WHERE key = $1 AND fired_at IS NULL").bind(&clue.id).execute(&mut *verifying),
    )
    .await
    .expect("the cancel does not hang");
    cancelled.expect("no deadlock");
    verifying.commit().await.unwrap();
    let _ = sweep.await.unwrap();

    let last_error: Option<String> = sqlx::query_scalar("SELECT last_error FROM timers WHERE key = $1").bind(&clue.id).fetch_one(h.pool()).await.unwrap();
    assert!(
        last_error.as_deref().is_some_and(|e| e.contains("being verified")),
        "the sweeper stepped aside for the verification: {last_error:?}"
    );
    let overdue: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'clue.verification_overdue'").fetch_one(h.pool()).await.unwrap();
    assert_eq!(overdue, 0, "the cancelled timer did not fire");
    h.stop().await;
}
