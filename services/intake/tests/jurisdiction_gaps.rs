//! Authorisation gaps found in review, each against the real server: a
//! party is changed only within the jurisdiction of the division that
//! registered it (a city for its counties, the province for all), and the
//! case and clue lists show the divisions a token's `divisions` claim
//! serves, as reading one of their cases by id already did.

mod common;

use chrono::Utc;
use common::*;
use tonic::metadata::MetadataValue;
use tonic::{Code, Request};
use yuetan_harness::{AUDIENCE, ISSUER};
use yuetan_platform::auth::{Claims, TokenIssuer};
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
}

/// `officer`'s request with a token whose `divisions` claim is `divisions`.
fn req_serving<T>(officer: &Officer, divisions: &[&str], message: T) -> Request<T> {
    let mut claims = Claims::for_officer(
        &officer.id,
        "测试执法人员",
        &officer.organ,
        &officer.division,
        &officer.roles,
        ISSUER,
        AUDIENCE,
        chrono::Duration::hours(2),
        Utc::now(),
    );
    claims.divisions = divisions.iter().map(|d| d.to_string()).collect();
    let token = TokenIssuer::hs256("test", SECRET).issue(&claims).expect("a token");
    let mut request = Request::new(message);
    let value: MetadataValue<_> = format!("Bearer {token}").parse().expect("a header value");
    request.metadata_mut().insert("authorization", value);
    request
}

fn update(party_id: &str, phone: &str) -> pb::UpdatePartyRequest {
    let mut input = enterprise("兰州某某商贸有限公司", "");
    input.phone = phone.into();
    pb::UpdatePartyRequest { request_id: uuid::Uuid::now_v7().to_string(), party_id: party_id.into(), party: Some(input) }
}

#[tokio::test]
async fn update_party_is_refused_outside_the_registering_divisions_jurisdiction_and_allowed_within_it() {
    let h = start().await;
    let party = register(&h, &officer_a(), enterprise("兰州某某商贸有限公司", &credit_code(CHENGGUAN, 71))).await;
    let phone = |h: &Harness| {
        let mut client = h.client();
        let party = party.clone();
        async move { client.get_party(req(&officer_a(), pb::GetPartyRequest { party_id: party })).await.unwrap().into_inner().party.unwrap().phone }
    };
    let before = phone(&h).await;

    // The neighbouring county reads the party (the register is the
    // province's) but does not change it.
    let neighbour = officer_b();
    h.client().get_party(req(&neighbour, pb::GetPartyRequest { party_id: party.clone() })).await.expect("read province-wide");
    let err = h.client().update_party(req(&neighbour, update(&party, "0931-1111111"))).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    assert!(
        err.message().contains("registered in division 620102") && err.message().contains("outside the jurisdiction of 620103"),
        "the reason is named: {}",
        err.message()
    );
    // Another city of the province is refused too.
    let jiayuguan = Officer::new("officer-j", "620200-SJ", "620200", &["case_officer"]);
    let err = h.client().update_party(req(&jiayuguan, update(&party, "0931-1111111"))).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    assert_eq!(phone(&h).await, before, "a refused update changes nothing");

    // The registering county, its city and the province change it; so does
    // an officer whose `divisions` claim serves the county.
    let callers = [
        (officer_a(), vec![], "0931-2222222"),
        (Officer::new("officer-city", "620100-SJ", "620100", &["section_chief"]), vec![], "0931-3333333"),
        (Officer::new("officer-prov", "620000-SJ", "620000", &["case_officer"]), vec![], "0931-4444444"),
        (neighbour.clone(), vec![CHENGGUAN], "0931-5555555"),
    ];
    for (officer, serves, new_phone) in callers {
        let updated = h.client().update_party(req_serving(&officer, &serves, update(&party, new_phone))).await;
        let updated = updated.unwrap_or_else(|e| panic!("{} ({serves:?}): {e:?}", officer.division)).into_inner().party.unwrap();
        assert_eq!(updated.phone, new_phone, "{}", officer.division);
    }
    assert_eq!(phone(&h).await, "0931-5555555");
    h.stop().await;
}

#[tokio::test]
async fn list_cases_and_list_clues_show_the_divisions_a_divisions_claim_serves_and_no_other() {
    let h = start().await;
    with_organs(&h).await;
    // A case of Chengguan, a waiting clue of Chengguan and one of Qilihe.
    let a = officer_a();
    let party_a = register(&h, &a, enterprise("兰州甲商贸有限公司", &credit_code(CHENGGUAN, 72))).await;
    let clue_a = h.client().register_clue(req(&a, clue(&party_a, "SJ-ANNUAL-REPORT"))).await.unwrap().into_inner();
    let case_a = h.client().verify_clue(req(&a, verification(&clue_a.id))).await.unwrap().into_inner().case.expect("a case");
    let party_a2 = register(&h, &a, enterprise("兰州乙商贸有限公司", &credit_code(CHENGGUAN, 73))).await;
    let waiting_a = h.client().register_clue(req(&a, clue(&party_a2, "SJ-ANNUAL-REPORT"))).await.unwrap().into_inner();
    let b = officer_b();
    let party_b = register(&h, &b, enterprise("兰州丙商贸有限公司", &credit_code(QILIHE, 74))).await;
    let clue_b = h.client().register_clue(req(&b, clue(&party_b, "SJ-ANNUAL-REPORT"))).await.unwrap().into_inner();
    let case_b = h.client().verify_clue(req(&b, verification(&clue_b.id))).await.unwrap().into_inner().case.expect("a case");

    // An officer of Jiayuguan whose token also serves Chengguan.
    let jiayuguan = Officer::new("officer-j", "620200-SJ", "620200", &["section_chief"]);
    let lists = |serves: &'static [&'static str], division_code: &'static str| {
        let (mut client, officer) = (h.client(), jiayuguan.clone());
        async move {
            let cases = client
                .list_cases(req_serving(&officer, serves, pb::ListCasesRequest { division_code: division_code.into(), ..Default::default() }))
                .await
                .unwrap()
                .into_inner()
                .cases;
            let clues = client.list_clues(req_serving(&officer, serves, pb::ListCluesRequest::default())).await.unwrap().into_inner().clues;
            (cases.into_iter().map(|c| c.id).collect::<Vec<_>>(), clues.into_iter().map(|c| c.id).collect::<Vec<_>>())
        }
    };

    let (cases, clues) = lists(&[], "").await;
    assert!(cases.is_empty() && clues.is_empty(), "without the claim Jiayuguan sees nothing of Lanzhou: {cases:?} {clues:?}");

    let (cases, mut clues) = lists(&[CHENGGUAN], "").await;
    assert_eq!(cases, vec![case_a.id.clone()], "the served county's case, not Qilihe's ({})", case_b.id);
    clues.sort();
    let mut expected = vec![clue_a.id.clone(), waiting_a.id.clone()];
    expected.sort();
    assert_eq!(clues, expected, "the served county's clues, not Qilihe's ({})", clue_b.id);

    // The division filter selects within what the caller sees.
    assert_eq!(lists(&[CHENGGUAN], CHENGGUAN).await.0, vec![case_a.id.clone()]);
    assert!(lists(&[CHENGGUAN], QILIHE).await.0.is_empty(), "a division not served stays hidden");

    // Reading one of the listed cases by id agrees with the list.
    h.client().get_case(req_serving(&jiayuguan, &[CHENGGUAN], pb::GetCaseRequest { case_id: case_a.id.clone() })).await.expect("served");
    let err = h.client().get_case(req_serving(&jiayuguan, &[CHENGGUAN], pb::GetCaseRequest { case_id: case_b.id.clone() })).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    h.stop().await;
}
