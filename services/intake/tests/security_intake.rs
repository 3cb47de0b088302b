//! Security defects of intake (issue 16), each against the real servers:
//! no party disclosed across provinces, admins scoped to their division,
//! oversize input refused at once, no contact data in clear in the
//! database, and who changed a party's contact data on the audit record.

mod common;



use common::*;
use tonic::Code;
use yuetan_proto::common::Organ;
use yuetan_proto::intake as pb;

const CHENGGUAN: &str = "620102";
const XINING: &str = "630102";

fn officer_a() -> Officer {
    Officer::new("officer-a", "620102-SJ", CHENGGUAN, &["case_officer", "section_chief"])
}

fn qinghai_officer() -> Officer {
    Officer::new("officer-q", "630102-SJ", XINING, &["case_officer", "section_chief"])
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn register_request(party: pb::PartyInput) -> pb::RegisterPartyRequest {
    pb::RegisterPartyRequest { request_id: uuid::Uuid::now_v7().to_string(), party: Some(party) }
}

/// Every row of every table in the database's non-system schemas, as text
/// (bytea columns show as hex there), that contains `needle` or its hex.
async fn rows_holding(h: &Harness, needle: &str) -> Vec<String> {
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_schema::text, table_name::text FROM information_schema.tables
         WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')",
    )
    .fetch_all(h.pool())
    .await
    .unwrap();
    assert!(tables.iter().any(|(_, t)| t == "requests") && tables.iter().any(|(_, t)| t == "audit_log"), "{tables:?}");
    let mut found = Vec::new();
    for (schema, table) in tables {
        for pattern in [needle.to_string(), hex(needle)] {
            let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM \"{schema}\".\"{table}\" t WHERE t::text LIKE $1"))
                .bind(format!("%{pattern}%"))
                .fetch_one(h.pool())
                .await
                .unwrap();
            if n > 0 {
                found.push(format!("{schema}.{table} ({n} rows hold {pattern})"));
            }
        }
    }
    found
}

#[tokio::test]
async fn an_officer_of_another_province_registering_a_known_id_learns_nothing_about_the_party() {
    let h = start().await;
    let code = credit_code(CHENGGUAN, 41);
    let mut original = enterprise("兰州机密商贸有限公司", &code);
    original.address = "甘肃省兰州市城关区秘密路9号".into();
    original.phone = "0931-5551234".into();
    let first = h.client().register_party(req(&officer_a(), register_request(original))).await.unwrap().into_inner();
    let first = first.party.unwrap();

    // Qinghai registers the same credit code with what it knows.
    let mut theirs = enterprise("西宁某商贸有限公司", &code);
    theirs.address = "青海省西宁市城东区某路1号".into();
    theirs.phone = "0971-1112222".into();
    theirs.representative = None;
    theirs.consent = None;
    let answer = h.client().register_party(req(&qinghai_officer(), register_request(theirs.clone()))).await.unwrap().into_inner();
    let printed = format!("{answer:?}");
    for secret in ["兰州机密商贸有限公司", "秘密路", "0931-5551234", "13800000000", "13900000000", "legal@example.cn", "王五", &first.id] {
        assert!(!printed.contains(secret), "the answer discloses {secret:?}: {printed}");
    }
    assert!(!answer.already_registered, "not even whether the party exists elsewhere shows");
    let party = answer.party.unwrap();
    assert_eq!((party.name.as_str(), party.division_code.as_str()), ("西宁某商贸有限公司", XINING));
    assert_ne!(party.id, first.id);

    // Again from Qinghai: its own party, already registered there.
    let again = h.client().register_party(req(&qinghai_officer(), register_request(theirs))).await.unwrap().into_inner();
    assert!(again.already_registered);
    assert_eq!(again.party.unwrap().id, party.id);
    // And GetParty still keeps Gansu's party from Qinghai.
    let err = h.client().get_party(req(&qinghai_officer(), pb::GetPartyRequest { party_id: first.id.clone() })).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    // Nor can Qinghai open a clue on Gansu's party (which would put its name in an event).
    let err = h.client().register_clue(req(&qinghai_officer(), clue(&first.id, "SJ-ANNUAL-REPORT"))).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("`party_id`") && !err.message().contains("兰州"), "{}", err.message());
    h.stop().await;
}

#[tokio::test]
async fn an_admin_of_one_division_cannot_put_an_organ_in_another() {
    let h = start().await;
    h.organ("620102-SJ", CHENGGUAN, "兰城市监").await;
    let put = |code: &str, division: &str, document_code: &str| pb::PutOrganRequest {
        request_id: uuid::Uuid::now_v7().to_string(),
        organ: Some(Organ { code: code.into(), name: format!("{code} 局"), division_code: division.into() }),
        document_code: document_code.into(),
    };
    let county_admin = Officer::new("admin-q", "620103-ADMIN", "620103", &["admin"]);
    let err = h.client().put_organ(req(&county_admin, put("620102-XF", CHENGGUAN, "兰城消"))).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    h.client().put_organ(req(&county_admin, put("620103-SJ", "620103", "兰七市监"))).await.expect("its own division");

    // An admin of another province may not take an organ over by moving it.
    let qinghai_admin = Officer::new("admin-63", "63-ADMIN", "630000", &["admin"]);
    let err = h.client().put_organ(req(&qinghai_admin, put("620102-SJ", XINING, "宁城市监"))).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let division: String = sqlx::query_scalar("SELECT division FROM organs WHERE code = '620102-SJ'").fetch_one(h.pool()).await.unwrap();
    assert_eq!(division, CHENGGUAN, "unchanged");
    h.stop().await;
}

#[tokio::test]
async fn forty_thousand_co_departments_are_refused_at_once() {
    let h = start().await;
    let before = h.counts().await;
    // 40,000 entries: the gate refuses the request by its size, before it is decoded.
    let mut request = verification(&uuid::Uuid::now_v7().to_string());
    request.co_departments = (0..40_000).map(|i| format!("ORG-{i}")).collect();
    let err = h.client().verify_clue(req(&officer_a(), request)).await.unwrap_err();
    assert!(matches!(err.code(), Code::InvalidArgument | Code::ResourceExhausted), "{err:?}");
    // Within the gate's bounds but over intake's own bound of 50: refused by
    // the handler's count, naming the field, before any entry is read.
    let mut request = verification(&uuid::Uuid::now_v7().to_string());
    request.co_departments = (0..51).map(|i| format!("ORG-{i}")).collect();
    let err = h.client().verify_clue(req(&officer_a(), request)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("`co_departments`"), "{}", err.message());
    assert_eq!(h.counts().await, before, "nothing written");

    let mut request = clue(&uuid::Uuid::now_v7().to_string(), "SJ-ANNUAL-REPORT");
    request.evidence = vec![pb::EvidenceRef::default(); 1_000];
    let err = h.client().register_clue(req(&officer_a(), request)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("`evidence`"), "{}", err.message());
    h.stop().await;
}

#[tokio::test]
async fn no_phone_sms_number_or_email_in_clear_anywhere_in_the_database_after_register_party_with_a_request_id() {
    let h = start().await;
    let request = register_request(enterprise("兰州某某商贸有限公司", &credit_code(CHENGGUAN, 51)));
    let answer = h.client().register_party(req(&officer_a(), request.clone())).await.unwrap().into_inner();
    let party = answer.party.clone().unwrap();
    assert_eq!((party.phone.as_str(), party.consent.as_ref().unwrap().email.as_str()), ("0931-8888888", "legal@example.cn"));
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM requests").fetch_one(h.pool()).await.unwrap();
    assert_eq!(stored, 1, "the answer is kept for replay");
    for needle in ["0931-8888888", "13800000000", "13900000000", "legal@example.cn"] {
        let found = rows_holding(&h, needle).await;
        assert!(found.is_empty(), "{needle} in clear: {found:?}");
    }
    // The sealed answer still replays.
    let replayed = h.client().register_party(req(&officer_a(), request)).await.unwrap().into_inner();
    assert_eq!(replayed, answer);

    // Answers older than the replay window are pruned.
    let pruned = yuetan_platform::requests::prune(h.pool(), chrono::Utc::now() - chrono::Duration::hours(24)).await.unwrap();
    assert_eq!(pruned, 0, "an answer inside the window stays");
    let pruned = yuetan_platform::requests::prune(h.pool(), chrono::Utc::now() + chrono::Duration::hours(1)).await.unwrap();
    assert_eq!(pruned, 1);
    h.stop().await;
}

#[tokio::test]
async fn update_party_names_who_changed_the_contact_data_and_keeps_the_previous_values_sealed() {
    let h = start().await;
    let party = register(&h, &officer_a(), enterprise("兰州某某商贸有限公司", &credit_code(CHENGGUAN, 61))).await;
    // Another officer than the one who registered it: the county's city (a
    // party is changed within its registering division's jurisdiction).
    let other = Officer::new("officer-c", "620100-SJ", "620100", &["case_officer"]);
    let mut input = enterprise("兰州某某商贸有限公司", "");
    input.phone = "0931-7777777".into();
    let mut consent = input.consent.take().unwrap();
    consent.email = "new@example.cn".into();
    input.consent = Some(consent);
    let request = pb::UpdatePartyRequest { request_id: uuid::Uuid::now_v7().to_string(), party_id: party.clone(), party: Some(input) };
    let updated = h.client().update_party(req(&other, request)).await.unwrap().into_inner().party.unwrap();
    assert_eq!(updated.phone, "0931-7777777");

    let (actor, change): (String, serde_json::Value) =
        sqlx::query_as("SELECT actor_id, change FROM audit_log WHERE action = 'party.update' AND subject = $1")
            .bind(format!("party/{party}"))
            .fetch_one(h.pool())
            .await
            .unwrap();
    assert_eq!(actor, "officer-c");
    let text = change.to_string();
    for old in ["0931-8888888", "legal@example.cn", "13800000000", "13900000000"] {
        assert!(!text.contains(old) && !text.contains(&hex(old)), "{old} in clear in the audit row: {text}");
    }
    let record = &change["after"]["contact_change"];
    assert_eq!(record["changed_by"], "officer-c");
    let changed: Vec<&str> = record["changed"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(changed, ["phone", "consent.email"]);
    // The previous values are kept, sealed: the vault opens them.
    let sealed_hex = record["previous_sealed_hex"].as_str().unwrap();
    let sealed: Vec<u8> = (0..sealed_hex.len()).step_by(2).map(|i| u8::from_str_radix(&sealed_hex[i..i + 2], 16).unwrap()).collect();
    let context = yuetan_intake::flow::party_audit_context(party.parse().unwrap(), 1);
    let previous = h.intake.state.vault.open(&sealed, &context).unwrap();
    assert!(previous.contains("0931-8888888") && previous.contains("legal@example.cn"), "{previous}");
    h.stop().await;
}
