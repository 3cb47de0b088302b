//! Ratings over gRPC and the portal's HTTP page against real NATS and
//! PostgreSQL (R-SUP-4): after the interview the case's officer issues the
//! party a rating link; the party rates on the portal, once; supervision
//! counts the rating by month and never lets a county's reader tie it to
//! the case (only the provincial discipline inspector sees the case).

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;
use tonic::Code;
use yuetan_harness::scheduling::{INTERVIEWER, INTERVIEWER_LEGAL};
use yuetan_proto::events::event::Payload;
use yuetan_proto::supervision as pb;

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
}

const NOW: &str = "2026-04-28T02:00:00Z";
const SERVED: &str = "2026-04-28T03:00:00Z";
const INTERVIEW: &str = "2026-04-30T01:30:00Z";

fn rid() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn provincial_inspector() -> Officer {
    Officer::new("inspector-province", "620000-JW", "620000", &["discipline_inspector"])
}

fn city_inspector() -> Officer {
    Officer::new("inspector-city", "620100-SJ", "620100", &["discipline_inspector"])
}

fn county_b_officer() -> Officer {
    Officer::new("officer-b", "620103-SJ", QILIHE, &["case_officer", "section_chief"])
}

/// `application/x-www-form-urlencoded` of the pairs.
fn form(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
            .collect::<String>()
    };
    pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

async fn ratings(s: &System, officer: &Officer, division: &str, period: &str) -> Result<Vec<pb::Rating>, tonic::Status> {
    s.supervision().list_ratings(req(officer, pb::ListRatingsRequest { division: division.into(), period: period.into() })).await.map(|r| r.into_inner().ratings)
}

async fn link(s: &System, officer: &Officer, case_id: &str) -> Result<pb::IssueRatingLinkResponse, tonic::Status> {
    s.supervision().issue_rating_link(req(officer, pb::IssueRatingLinkRequest { request_id: rid(), case_id: case_id.into() })).await.map(|r| r.into_inner())
}

#[tokio::test]
async fn r_sup_4_ratings_are_not_linkable_to_the_party_through_any_rpc_a_county_officer_can_call() {
    let mut s = start_at(at(NOW)).await;
    s.start_service(Service::Supervision).await;
    let peers = s.start_scheduling_stack(false, None).await;
    s.start_service(Service::Rectification).await;
    let case_id = s.held_case(&peers, 4101, &[], at(INTERVIEW), at(SERVED)).await;

    // The link, once supervision knows the interview was held.
    let officer = proposer();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let issued = loop {
        match link(&s, &officer, &case_id).await {
            Ok(l) => break l,
            Err(e) if matches!(e.code(), Code::NotFound | Code::FailedPrecondition) => {
                assert!(tokio::time::Instant::now() < deadline, "no rating link: {e:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{e:?}"),
        }
    };
    assert!(issued.url.contains("/rate/"), "{}", issued.url);
    assert!(issued.expires_at.is_some());
    // Another county's officer gets no link for this case; an unknown case none either.
    assert_eq!(link(&s, &county_b_officer(), &case_id).await.unwrap_err().code(), Code::PermissionDenied);
    assert_eq!(link(&s, &officer, &uuid::Uuid::now_v7().to_string()).await.unwrap_err().code(), Code::NotFound);

    // The party opens the page and rates: a mark out of range is refused, then the rating goes in once.
    let url = format!("{}{}", peers.portal.base_url(), &issued.url[issued.url.find("/rate/").unwrap()..]);
    let http = reqwest::Client::new();
    let page = http.get(&url).send().await.unwrap();
    assert_eq!(page.status(), reqwest::StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(page.contains("态度") && page.contains("专业") && page.contains("沟通"), "{page}");
    assert!(!page.contains(&case_id), "the page does not show the case id");
    let post = |body: String| http.post(&url).header("content-type", "application/x-www-form-urlencoded").body(body).send();
    let bad = post(form(&[("attitude", "6"), ("professionalism", "4"), ("communication", "5"), ("comment", "")])).await.unwrap();
    assert_eq!(bad.status(), reqwest::StatusCode::BAD_REQUEST);
    let long = "好".repeat(501);
    let bad = post(form(&[("attitude", "5"), ("professionalism", "4"), ("communication", "5"), ("comment", &long)])).await.unwrap();
    assert_eq!(bad.status(), reqwest::StatusCode::BAD_REQUEST);
    const COMMENT: &str = "工作人员耐心细致，讲解清楚。";
    let sent = post(form(&[("attitude", "5"), ("professionalism", "4"), ("communication", "5"), ("comment", COMMENT)])).await.unwrap();
    assert_eq!(sent.status(), reqwest::StatusCode::OK, "{}", sent.text().await.unwrap());
    let again = post(form(&[("attitude", "1"), ("professionalism", "1"), ("communication", "1"), ("comment", "")])).await.unwrap();
    assert_eq!(again.status(), reqwest::StatusCode::CONFLICT, "one rating per link");

    // Neither event names the case in its envelope.
    let submitted = s.wait_for_event(|e| e.r#type == "portal.rating_submitted").await;
    assert!(submitted.case_id.is_empty() && submitted.case_version == 0);
    assert_eq!(submitted.jurisdiction, CHENGGUAN);
    let received = s.wait_for_event(|e| e.r#type == "supervision.rating_received").await;
    assert!(received.case_id.is_empty(), "no case id in the envelope");
    let Some(Payload::RatingReceived(r)) = &received.payload else { panic!("payload") };
    assert_eq!((r.attitude, r.professionalism, r.communication, r.month.as_str()), (5, 4, 5, "2026-04"));
    assert!(!r.case_sealed.is_empty());
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(s.events().await.iter().filter(|(_, e)| e.r#type == "portal.rating_submitted").count(), 1, "the second post wrote nothing");
    assert_eq!(s.events().await.iter().filter(|(_, e)| e.r#type == "supervision.rating_received").count(), 1);

    // A forged token, or the rating link on the report page: refused.
    let forged = format!("{}/rate/{}", peers.portal.base_url(), "eyJ4IjoxfQ.AAAA");
    assert_eq!(http.get(&forged).send().await.unwrap().status(), reqwest::StatusCode::FORBIDDEN);
    let token = &url[url.find("/rate/").unwrap() + "/rate/".len()..];
    assert_eq!(http.get(format!("{}/r/{token}", peers.portal.base_url())).send().await.unwrap().status(), reqwest::StatusCode::FORBIDDEN);
    // A second link for the same case: the portal takes it, but the interview counts once.
    let second = link(&s, &officer, &case_id).await.unwrap();
    let second = format!("{}{}", peers.portal.base_url(), &second.url[second.url.find("/rate/").unwrap()..]);
    let sent = http
        .post(&second)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("attitude", "1"), ("professionalism", "1"), ("communication", "1")]))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), reqwest::StatusCode::OK);
    let both = s.wait_for_events("portal.rating_submitted", 2).await;
    let later = uuid::Uuid::parse_str(&both.iter().find(|e| e.id != submitted.id).unwrap().id).unwrap();
    // Wait until supervision applied it (its inbox), then: nothing more counted.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while sqlx::query_scalar::<_, i64>("SELECT count(*) FROM supervision.inbox WHERE event_id = $1").bind(later).fetch_one(s.pool()).await.unwrap() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "supervision never applied the second rating");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.events().await.iter().filter(|(_, e)| e.r#type == "supervision.rating_received").count(), 1, "one rating per case");

    // The county's section chief: the month, marks, interviewers and comment; no case.
    let county = ratings(&s, &officer, "", "").await.unwrap();
    assert_eq!(county.len(), 1);
    let mine = &county[0];
    assert_eq!((mine.attitude, mine.professionalism, mine.communication), (5, 4, 5));
    assert_eq!((mine.month.as_str(), mine.division.as_str(), mine.comment.as_str()), ("2026-04", CHENGGUAN, COMMENT));
    assert!(mine.case_id.is_empty(), "no case id below the province");
    assert!(mine.interviewers.iter().any(|i| i == INTERVIEWER || i == INTERVIEWER_LEGAL), "{:?}", mine.interviewers);
    assert_ne!(mine.rating_id, submitted.id, "the rating's id is not the portal event's (a UUIDv7 holds its time)");
    assert_eq!(uuid::Uuid::parse_str(&mine.rating_id).unwrap().get_version_num(), 4, "an id with no time in it");
    assert_eq!(ratings(&s, &officer, "", "2026-04").await.unwrap().len(), 1);
    assert_eq!(ratings(&s, &officer, "", "2026Q2").await.unwrap().len(), 1);
    assert!(ratings(&s, &officer, "", "2026-05").await.unwrap().is_empty());
    assert_eq!(ratings(&s, &officer, "", "2026-4").await.unwrap_err().code(), Code::InvalidArgument);
    // A city's discipline inspector: no case either. Another county: refused.
    let city = ratings(&s, &city_inspector(), "", "").await.unwrap();
    assert_eq!(city.len(), 1);
    assert!(city[0].case_id.is_empty());
    assert_eq!(ratings(&s, &county_b_officer(), CHENGGUAN, "").await.unwrap_err().code(), Code::PermissionDenied);
    assert!(ratings(&s, &county_b_officer(), "", "").await.unwrap().is_empty());
    // The provincial discipline inspector sees the case.
    let province = ratings(&s, &provincial_inspector(), "", "").await.unwrap();
    assert_eq!(province.len(), 1);
    assert_eq!(province[0].case_id, case_id);

    // The case's timeline shows no rating.
    let timeline = s.supervision().get_timeline(req(&officer, pb::GetTimelineRequest { case_id: case_id.clone() })).await.unwrap().into_inner();
    assert!(!timeline.entries.is_empty(), "the case has its timeline");
    assert!(
        !timeline.entries.iter().any(|e| e.event_type.contains("rating") || e.summary.contains(COMMENT)),
        "no rating on the case's timeline: {:?}",
        timeline.entries.iter().map(|e| e.event_type.clone()).collect::<Vec<_>>()
    );

    // The board counts it: satisfaction (5+4+5)/15 of 100 = 93 points, one rating.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let board = s.supervision().get_board(req(&officer, pb::GetBoardRequest { division: String::new(), period: "2026-04".into() })).await.unwrap().into_inner();
        let satisfaction = board.total.as_ref().and_then(|t| t.kpis.iter().find(|k| k.name == "satisfaction").cloned());
        if let Some(k) = satisfaction.filter(|k| k.denominator > 0) {
            assert_eq!((k.numerator, k.denominator), (93, 1));
            assert!((k.value - 93.0).abs() < 1e-9, "{k:?}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the board never counted the rating");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The rebuild from the stream: the same board, and the same rating row (its id from the portal's event).
    s.drain_outbox().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let report = yuetan_supervision::rebuild::rebuild(&s.config, "supervision_rebuild", s.clock.clone(), s.calendar.clone()).await.unwrap();
    assert!(report.events > 0, "{report}");
    assert!(report.equal, "{report}");
    // The satisfaction of every board the rating counts in is the same rebuilt.
    let live_state = s.handle::<yuetan_supervision::Supervision>(Service::Supervision).state.clone();
    let rebuilt_state = yuetan_supervision::rebuild::open(&s.config, "supervision_rebuild", s.clock.clone(), s.calendar.clone()).await.unwrap();
    yuetan_supervision::store::fold_tallies(&live_state.pool).await.unwrap();
    yuetan_supervision::store::fold_tallies(&rebuilt_state.pool).await.unwrap();
    for division in [CHENGGUAN, "620100", "620000"] {
        let code = yuetan_platform::auth::DivisionCode::parse(division).unwrap();
        for period in ["2026-04", "2026Q2", "2026"] {
            let satisfaction = |b: pb::GetBoardResponse| b.total.and_then(|t| t.kpis.into_iter().find(|k| k.name == "satisfaction")).map(|k| (k.numerator, k.denominator));
            let live = satisfaction(yuetan_supervision::api::board::board(&live_state, &code, period).await.unwrap());
            let rebuilt = satisfaction(yuetan_supervision::api::board::board(&rebuilt_state, &code, period).await.unwrap());
            assert_eq!(live, Some((93, 1)), "{division} {period}");
            assert_eq!(live, rebuilt, "{division} {period}");
        }
    }
    type Row = (uuid::Uuid, String, String, String, Vec<String>, i32, i32, i32);
    let rows = |schema: &str| format!("SELECT id, division, section, month, interviewers, attitude, professionalism, communication FROM {schema}.ratings ORDER BY id");
    let live: Vec<Row> = sqlx::query_as(&rows("supervision")).fetch_all(s.pool()).await.unwrap();
    let rebuilt: Vec<Row> = sqlx::query_as(&rows("supervision_rebuild")).fetch_all(s.pool()).await.unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(live, rebuilt, "the rating rebuilt once, with the same id");
}

#[tokio::test]
async fn r_sup_6_the_party_complains_through_its_link_and_the_inspectors_get_the_complaint_with_its_three_working_day_card() {
    let mut s = start_at(at(NOW)).await;
    s.start_service(Service::Supervision).await;
    let peers = s.start_scheduling_stack(false, None).await;
    s.start_service(Service::Rectification).await;
    let case_id = s.held_case(&peers, 4102, &[], at(INTERVIEW), at(SERVED)).await;
    let officer = proposer();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let issued = loop {
        match link(&s, &officer, &case_id).await {
            Ok(l) => break l,
            Err(e) if matches!(e.code(), Code::NotFound | Code::FailedPrecondition) => {
                assert!(tokio::time::Instant::now() < deadline, "no rating link: {e:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{e:?}"),
        }
    };
    let url = format!("{}{}", peers.portal.base_url(), &issued.url[issued.url.find("/rate/").unwrap()..]);
    let http = reqwest::Client::new();
    let page = http.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("投诉约谈人员") && page.contains("态度粗暴"), "{page}");
    let complain = |body: String| http.post(format!("{url}/complaint")).header("content-type", "application/x-www-form-urlencoded").body(body).send();
    let bad = complain(form(&[("kind", "bribery"), ("description", "x")])).await.unwrap();
    assert_eq!(bad.status(), reqwest::StatusCode::BAD_REQUEST);
    assert!(bad.text().await.unwrap().contains("kind"));
    const WHAT: &str = "约谈人员张某在约谈中态度粗暴，多次打断陈述。";
    let sent = complain(form(&[("kind", "rude_conduct"), ("description", WHAT)])).await.unwrap();
    assert_eq!(sent.status(), reqwest::StatusCode::OK, "{}", sent.text().await.unwrap());
    assert_eq!(complain(form(&[("kind", "abuse"), ("description", "再次投诉")])).await.unwrap().status(), reqwest::StatusCode::CONFLICT, "one complaint per link");

    // On the bus: no case id in the portal's envelope; supervision registers it as the party's.
    let submitted = s.wait_for_event(|e| e.r#type == "portal.complaint_submitted").await;
    assert!(submitted.case_id.is_empty() && submitted.case_version == 0);
    let registered = s.wait_for_event(|e| e.r#type == "supervision.complaint_registered").await;
    let Some(Payload::ComplaintRegistered(r)) = &registered.payload else { panic!("payload") };
    assert_eq!((r.source.as_str(), r.kind.as_str(), r.case_id.as_str()), ("party", "rude_conduct", case_id.as_str()));
    assert_eq!(r.investigation_deadline.as_ref().unwrap().iso, "2026-05-08", "3 working days after Thursday 2026-04-30: the May Day holiday (May 1–5), then the 6th, 7th and 8th");

    // The county's inspector reads it (description opened), with its investigation card; another county's cannot.
    let inspector = Officer::new("inspector-county", ORGAN_A, CHENGGUAN, &["discipline_inspector"]);
    let list = s.supervision().list_complaints(req(&inspector, pb::ListComplaintsRequest { division: String::new(), status: String::new() })).await.unwrap().into_inner().complaints;
    assert_eq!(list.len(), 1);
    assert_eq!((list[0].source.as_str(), list[0].description.as_str(), list[0].case_id.as_str()), ("party", WHAT, case_id.as_str()));
    let cards = s
        .supervision()
        .list_cards(req(&inspector.with_roles(&["section_chief"]), pb::ListCardsRequest { step: "complaint_investigation".into(), ..Default::default() }))
        .await
        .unwrap()
        .into_inner()
        .cards;
    assert_eq!(cards.len(), 1);
    assert_eq!(cards[0].subject_id, list[0].complaint_id);
    let other = Officer::new("inspector-b", "620103-SJ", QILIHE, &["discipline_inspector"]);
    assert_eq!(s.supervision().list_complaints(req(&other, pb::ListComplaintsRequest { division: CHENGGUAN.into(), status: String::new() })).await.unwrap_err().code(), Code::PermissionDenied);

    // Rebuilt from the stream: the same boards and cards, the complaint once.
    s.drain_outbox().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let report = yuetan_supervision::rebuild::rebuild(&s.config, "supervision_rebuild", s.clock.clone(), s.calendar.clone()).await.unwrap();
    assert!(report.equal, "{report}");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM supervision_rebuild.complaints WHERE source = 'party'").fetch_one(s.pool()).await.unwrap();
    assert_eq!(count, 1);
}
