//! Intake behind the platform's gate (issue 16): reads need a role from
//! intake's access table, not only a token; oversize and malformed input is
//! refused before any handler runs, and nothing is written.

mod common;

use std::time::{Duration, Instant};

use common::*;
use tonic::Code;
use yuetan_proto::intake as pb;

const CHENGGUAN: &str = "620102";

fn officer() -> Officer {
    Officer::new("officer-a", "620102-SJ", CHENGGUAN, &["case_officer", "section_chief"])
}

/// A registered party, clue and opened case of officer-a's county.
async fn one_case(h: &Harness) -> (String, String, String) {
    h.organ("620102-SJ", CHENGGUAN, "兰城市监").await;
    let officer = officer();
    let party = register(h, &officer, enterprise("兰州某某商贸有限公司", &credit_code(CHENGGUAN, 1))).await;
    let clue = h.client().register_clue(req(&officer, clue(&party, "SJ-ANNUAL-REPORT"))).await.unwrap().into_inner();
    let verified = h.client().verify_clue(req(&officer, verification(&clue.id))).await.unwrap().into_inner();
    (party, clue.id, verified.case.unwrap().id)
}

#[tokio::test]
async fn a_token_without_a_role_reads_nothing() {
    let h = start().await;
    let (party, clue, case) = one_case(&h).await;
    let nobody = Officer::new("nobody", "620102-SJ", CHENGGUAN, &[]);
    let mut client = h.client();

    let refusals = [
        ("GetParty", client.get_party(req(&nobody, pb::GetPartyRequest { party_id: party.clone() })).await.map(|_| ())),
        ("GetClue", client.get_clue(req(&nobody, pb::GetClueRequest { clue_id: clue.clone() })).await.map(|_| ())),
        ("GetCase", client.get_case(req(&nobody, pb::GetCaseRequest { case_id: case.clone() })).await.map(|_| ())),
        ("PartyHistory", client.party_history(req(&nobody, pb::PartyHistoryRequest { party_id: party.clone() })).await.map(|_| ())),
        ("ListCases", client.list_cases(req(&nobody, pb::ListCasesRequest::default())).await.map(|_| ())),
        ("ListClues", client.list_clues(req(&nobody, pb::ListCluesRequest::default())).await.map(|_| ())),
        (
            "ListViolationTypes",
            client.list_violation_types(req(&nobody, pb::ListViolationTypesRequest::default())).await.map(|_| ()),
        ),
    ];
    for (method, result) in refusals {
        let err = result.expect_err(method);
        assert_eq!(err.code(), Code::PermissionDenied, "{method}: {err:?}");
        assert!(err.message().contains(method) && err.message().contains("case_officer"), "{method}: the answer names the roles: {}", err.message());
    }

    // The same calls with a case officer's token still answer.
    let officer = officer();
    let read = client.get_party(req(&officer, pb::GetPartyRequest { party_id: party })).await.unwrap().into_inner();
    assert_eq!(read.party.unwrap().phone, "0931-8888888");
    client.get_clue(req(&officer, pb::GetClueRequest { clue_id: clue })).await.unwrap();
    client.get_case(req(&officer, pb::GetCaseRequest { case_id: case })).await.unwrap();
    h.stop().await;
}

#[tokio::test]
async fn an_admin_only_token_keeps_organs_but_reads_no_party() {
    let h = start().await;
    let (party, _, case) = one_case(&h).await;
    let admin = Officer::new("it-1", "62-ADMIN", "620000", &["admin"]);
    let err = h.client().get_party(req(&admin, pb::GetPartyRequest { party_id: party.clone() })).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    assert!(!err.message().contains("0931"), "{}", err.message());
    let err = h.client().party_history(req(&admin, pb::PartyHistoryRequest { party_id: party })).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let err = h.client().get_case(req(&admin, pb::GetCaseRequest { case_id: case })).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    // What admin is for still works (the harness registers organs as admin).
    h.organ("620103-SJ", "620103", "兰七市监").await;
    h.client().list_violation_types(req(&admin, pb::ListViolationTypesRequest::default())).await.unwrap();
    h.stop().await;
}

#[tokio::test]
async fn forty_thousand_co_departments_are_refused_at_once_and_nothing_is_written() {
    let h = start().await;
    h.organ("620102-SJ", CHENGGUAN, "兰城市监").await;
    let officer = officer();
    let party = register(&h, &officer, enterprise("兰州某某商贸有限公司", &credit_code(CHENGGUAN, 2))).await;
    let clue = h.client().register_clue(req(&officer, clue(&party, "SJ-ANNUAL-REPORT"))).await.unwrap().into_inner();
    let before = h.counts().await;

    let mut request = verification(&clue.id);
    request.co_departments = (0..40_000).map(|i| format!("6201{:02}-D{i}", i % 100)).collect();
    let started = Instant::now();
    let err = h.client().verify_clue(req(&officer, request)).await.unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err.code(), Code::InvalidArgument | Code::ResourceExhausted), "{err:?}");
    assert!(took < Duration::from_secs(1), "refused in {took:?}");

    // 40,000 empty entries fit in the size limit: the item bound refuses them.
    let mut request = verification(&clue.id);
    request.co_departments = vec![String::new(); 40_000];
    let err = h.client().verify_clue(req(&officer, request)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("co_departments"), "{}", err.message());
    assert_eq!(h.counts().await, before, "nothing written");
    h.stop().await;
}

#[tokio::test]
async fn a_message_over_its_rpcs_limit_is_resource_exhausted_and_only_uploads_get_the_object_limit() {
    let h = start().await;
    h.organ("620102-SJ", CHENGGUAN, "兰城市监").await;
    let officer = officer();
    let before = h.counts().await;
    // 300 KiB of address: over RegisterParty's 256 KiB, far under the object limit.
    let mut party = enterprise("兰州某某商贸有限公司", &credit_code(CHENGGUAN, 3));
    party.address = "路".repeat(100 * 1024);
    let err = h
        .client()
        .register_party(req(&officer, pb::RegisterPartyRequest { request_id: "big-1".into(), party: Some(party) }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(err.message().contains("RegisterParty"), "{}", err.message());
    assert_eq!(h.counts().await, before, "nothing written");

    // The same size is fine for an upload.
    let content = vec![7u8; 300 * 1024];
    h.client()
        .upload_evidence(req(&officer, pb::UploadEvidenceRequest { file_name: "录像.mp4".into(), media_type: "video/mp4".into(), content }))
        .await
        .expect("an upload may carry an object");
    h.stop().await;
}

#[tokio::test]
async fn a_nul_in_any_text_field_is_invalid_argument_naming_it_and_writes_nothing() {
    let h = start().await;
    h.organ("620102-SJ", CHENGGUAN, "兰城市监").await;
    let officer = officer();
    let party = register(&h, &officer, enterprise("兰州某某商贸有限公司", &credit_code(CHENGGUAN, 4))).await;
    let before = h.counts().await;

    let err = h
        .client()
        .register_party(req(
            &officer,
            pb::RegisterPartyRequest { request_id: "nul-1".into(), party: Some(enterprise("测试\u{0}公司", &credit_code(CHENGGUAN, 5))) },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("`party.name`"), "{}", err.message());

    let mut party_input = enterprise("兰州某某商贸有限公司", &credit_code(CHENGGUAN, 6));
    party_input.representative.as_mut().unwrap().name = "王\u{0}五".into();
    let err = h
        .client()
        .register_party(req(&officer, pb::RegisterPartyRequest { request_id: "nul-2".into(), party: Some(party_input) }))
        .await
        .unwrap_err();
    assert!(err.message().contains("`party.representative.name`"), "{}", err.message());

    let mut request = clue(&party, "SJ-ANNUAL-REPORT");
    request.facts = "事实\u{0}".into();
    let err = h.client().register_clue(req(&officer, request)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("`facts`"), "{}", err.message());

    let mut request = verification(&uuid::Uuid::now_v7().to_string());
    request.co_departments = vec!["620102-XF".into(), "620102-\u{0}".into()];
    let err = h.client().verify_clue(req(&officer, request)).await.unwrap_err();
    assert!(err.message().contains("`co_departments[1]`"), "{}", err.message());

    assert_eq!(h.counts().await, before, "nothing written");
    h.stop().await;
}
