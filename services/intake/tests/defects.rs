//! Defects found by black-box testing (issue 16), each against the real
//! servers: a bad text or identifier is INVALID_ARGUMENT naming the field
//! with nothing written, and a taken document code is ALREADY_EXISTS.

mod common;

use common::*;
use tonic::Code;
use yuetan_proto::common::Organ;
use yuetan_proto::intake as pb;

const CHENGGUAN: &str = "620102";

fn officer() -> Officer {
    Officer::new("officer-a", "620102-SJ", CHENGGUAN, &["case_officer", "section_chief"])
}

fn admin() -> Officer {
    Officer::new("admin-1", "62-ADMIN", "620000", &["admin"])
}

fn assert_invalid(status: &tonic::Status, field: &str) {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains(&format!("`{field}`")), "names {field}: {}", status.message());
}

async fn register_party(h: &Harness, party: pb::PartyInput) -> Result<pb::PartyResponse, tonic::Status> {
    let request = pb::RegisterPartyRequest { request_id: uuid::Uuid::now_v7().to_string(), party: Some(party) };
    h.client().register_party(req(&officer(), request)).await.map(|r| r.into_inner())
}

#[tokio::test]
async fn a_nul_in_a_party_name_or_clue_facts_is_invalid_argument_naming_the_field_and_nothing_is_written() {
    let h = start().await;
    h.organ("620102-SJ", CHENGGUAN, "兰城市监").await;
    let before = h.counts().await;
    let err = register_party(&h, enterprise("测试\u{0}公司", &credit_code(CHENGGUAN, 1))).await.unwrap_err();
    assert_invalid(&err, "party.name");
    let mut party = enterprise("兰州某公司", &credit_code(CHENGGUAN, 2));
    party.address = "张掖路\u{1}1号".into();
    assert_invalid(&register_party(&h, party).await.unwrap_err(), "party.address");
    assert_eq!(h.counts().await, before, "nothing written");

    let party = register(&h, &officer(), enterprise("兰州某某商贸有限公司", &credit_code(CHENGGUAN, 3))).await;
    let before = h.counts().await;
    let mut request = clue(&party, "SJ-ANNUAL-REPORT");
    request.facts = "事实\u{0}".into();
    let err = h.client().register_clue(req(&officer(), request)).await.unwrap_err();
    assert_invalid(&err, "facts");
    let mut request = clue(&party, "SJ-ANNUAL-REPORT");
    request.request_id = "id\u{0}".into();
    assert_invalid(&h.client().register_clue(req(&officer(), request)).await.unwrap_err(), "request_id");
    assert_eq!(h.counts().await, before, "nothing written");
    h.stop().await;
}

#[tokio::test]
async fn a_party_name_of_only_invisible_characters_is_invalid_argument() {
    let h = start().await;
    let before = h.counts().await;
    let err = register_party(&h, enterprise("\u{200b}\u{200d}\u{feff}", &credit_code(CHENGGUAN, 4))).await.unwrap_err();
    assert_invalid(&err, "party.name");
    let mut party = enterprise("兰州某公司", &credit_code(CHENGGUAN, 5));
    party.representative.as_mut().unwrap().name = "\u{2060} \u{200c}".into();
    assert_invalid(&register_party(&h, party).await.unwrap_err(), "party.representative.name");
    assert_eq!(h.counts().await, before, "nothing written");
    // Invisible characters around a real name are trimmed.
    let ok = register_party(&h, enterprise("\u{feff}兰州某公司\u{200b}", &credit_code(CHENGGUAN, 6))).await.unwrap();
    assert_eq!(ok.party.unwrap().name, "兰州某公司");
    h.stop().await;
}

#[tokio::test]
async fn r_scope_1_a_resident_id_born_in_the_future_is_invalid_argument() {
    let h = start().await;
    let before = h.counts().await;
    let born = chrono::NaiveDate::from_ymd_opt(2090, 5, 17).unwrap();
    let id = yuetan_intake::domain::party_id::ResidentId::synthesize(CHENGGUAN, born, 7).unwrap();
    let err = register_party(&h, person("张三", id.expose())).await.unwrap_err();
    assert_invalid(&err, "party.resident_id");
    assert!(err.message().contains("2090-05-17"), "{}", err.message());
    assert_eq!(h.counts().await, before, "nothing written");
    register_party(&h, person("李四", &resident_id(CHENGGUAN, 8))).await.expect("a real birth date is fine");
    h.stop().await;
}

#[tokio::test]
async fn r_doc_2_a_taken_document_code_is_already_exists_naming_the_organ_that_holds_it() {
    let h = start().await;
    h.organ("620102-SJ", CHENGGUAN, "兰城市监").await;
    let put = |code: &str, division: &str, document_code: &str| pb::PutOrganRequest {
        request_id: uuid::Uuid::now_v7().to_string(),
        organ: Some(Organ { code: code.into(), name: format!("{code} 局"), division_code: division.into() }),
        document_code: document_code.into(),
    };
    let err = h.client().put_organ(req(&admin(), put("620103-SJ", "620103", "兰城市监"))).await.unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists, "{err:?}");
    assert!(err.message().contains("620102-SJ"), "names the holder: {}", err.message());
    // The holder may put itself again; another code is free.
    h.client().put_organ(req(&admin(), put("620102-SJ", CHENGGUAN, "兰城市监"))).await.expect("same organ, same code");
    h.client().put_organ(req(&admin(), put("620103-SJ", "620103", "兰七市监"))).await.expect("a free code");
    // Taking the code by renaming an existing organ is refused too.
    let err = h.client().put_organ(req(&admin(), put("620103-SJ", "620103", "兰城市监"))).await.unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists, "{err:?}");
    let holders: i64 = sqlx::query_scalar("SELECT count(*) FROM organs WHERE document_code = '兰城市监'")
        .fetch_one(h.pool())
        .await
        .unwrap();
    assert_eq!(holders, 1);
    h.stop().await;
}
