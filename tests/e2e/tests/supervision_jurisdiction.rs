//! Scoring a sampled file and recording a return visit (R-SUP-1, R-SUP-4)
//! are scoped like every supervision RPC, and tell a caller nothing about
//! other jurisdictions: a sample or visit of another division and one that
//! does not exist get the same answer, word for word (permission denied,
//! naming the caller's jurisdiction); the county, its city, the province
//! and a token whose `divisions` claim serves the county get through.

mod common;

use chrono::{DateTime, Utc};
use common::*;
use tonic::metadata::MetadataValue;
use tonic::{Code, Request, Status};
use uuid::Uuid;
use yuetan_harness::{AUDIENCE, ISSUER, SECRET};
use yuetan_platform::auth::{Claims, TokenIssuer};
use yuetan_proto::common::Date;
use yuetan_proto::supervision as pb;

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
}

/// A drawn sample of Chengguan's food section with one file, and a return
/// visit of the same case, as the draws leave them (R-SUP-1, R-SUP-4).
struct Seeded {
    sample_id: String,
    case_id: String,
    visit_id: String,
}

async fn seed(s: &Harness) -> Seeded {
    let pool = s.pool_of(Service::Supervision);
    let (sample_id, case_id, visit_id) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    sqlx::query(
        "INSERT INTO samples (id, division, section, month, seed, previous_digest, population, percent, drawn_at)
         VALUES ($1, $2, 'food', '2026-09', 'seed', 'digest', 20, 15, now())",
    )
    .bind(sample_id)
    .bind(CHENGGUAN)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO sampled_files (sample_id, case_id, number) VALUES ($1, $2, '兰城市监约〔2026〕1号')").bind(sample_id).bind(case_id).execute(pool).await.unwrap();
    sqlx::query(
        "INSERT INTO return_visits (id, division, section, quarter, case_id, number, assigned_to)
         VALUES ($1, $2, 'food', '2026Q3', $3, '兰城市监约〔2026〕1号', $4)",
    )
    .bind(visit_id)
    .bind(CHENGGUAN)
    .bind(case_id)
    .bind(format!("office:{CHENGGUAN}"))
    .execute(pool)
    .await
    .unwrap();
    Seeded { sample_id: sample_id.to_string(), case_id: case_id.to_string(), visit_id: visit_id.to_string() }
}

/// A request of `officer` whose token's `divisions` claim is `divisions`.
fn req_serving<T>(officer: &Officer, divisions: &[&str], message: T) -> Request<T> {
    let mut claims = Claims::for_officer(&officer.id, "测试", &officer.organ, &officer.division, &officer.roles, ISSUER, AUDIENCE, chrono::Duration::hours(2), Utc::now());
    claims.divisions = divisions.iter().map(|d| d.to_string()).collect();
    let token = TokenIssuer::hs256("test", SECRET).issue(&claims).expect("a token");
    let mut request = Request::new(message);
    let value: MetadataValue<_> = format!("Bearer {token}").parse().expect("a header value");
    request.metadata_mut().insert("authorization", value);
    request
}

fn score(sample_id: &str, case_id: &str) -> pb::ScoreFileRequest {
    pb::ScoreFileRequest {
        request_id: Uuid::now_v7().to_string(),
        sample_id: sample_id.into(),
        case_id: case_id.into(),
        lawful_start: 8,
        standard_documents: 9,
        timely_tracking: 10,
        comment: "立案及时".into(),
    }
}

fn visit(visit_id: &str) -> pb::RecordReturnVisitRequest {
    pb::RecordReturnVisitRequest {
        request_id: Uuid::now_v7().to_string(),
        visit_id: visit_id.into(),
        method: "phone".into(),
        outcome: "企业整改到位".into(),
        visited_on: Some(Date { iso: "2026-10-09".into() }),
    }
}

/// The answer with the id asked for blanked out: what else it tells.
fn shape(status: &Status, id: &str) -> (Code, String) {
    (status.code(), status.message().replace(id, "<id>"))
}

async fn system() -> Harness {
    Harness::builder().at(at("2026-10-10T02:00:00Z")).with(Service::Supervision).start().await
}

#[tokio::test]
async fn r_sup_1_scoring_another_jurisdictions_sample_is_answered_like_a_sample_that_does_not_exist() {
    let s = system().await;
    let seeded = seed(&s).await;
    let missing = Uuid::now_v7().to_string();
    for neighbour in [
        Officer::new("di-b", "620103-SJ", QILIHE, &["discipline_inspector"]),
        Officer::new("di-j", "620200-SJ", "620200", &["discipline_inspector"]),
    ] {
        let foreign = s.supervision().score_file(req(&neighbour, score(&seeded.sample_id, &seeded.case_id))).await.unwrap_err();
        let absent = s.supervision().score_file(req(&neighbour, score(&missing, &seeded.case_id))).await.unwrap_err();
        assert_eq!(foreign.code(), Code::PermissionDenied, "{foreign:?}");
        assert!(foreign.message().contains(&format!("jurisdiction of {}", neighbour.division)), "the reason is named: {}", foreign.message());
        assert!(!foreign.message().contains(CHENGGUAN), "the sample's division is not disclosed: {}", foreign.message());
        assert_eq!(shape(&foreign, &seeded.sample_id), shape(&absent, &missing), "{}: no oracle of existence", neighbour.division);
    }
    let (files,): (bool,) = sqlx::query_as("SELECT scored FROM sampled_files WHERE sample_id = $1::uuid").bind(&seeded.sample_id).fetch_one(s.pool_of(Service::Supervision)).await.unwrap();
    assert!(!files, "a refused score writes nothing");

    // The city's inspector scores it; the county's and a token serving the
    // county then hear that it is scored (they got past the check).
    let city = Officer::new("di-city", "620100-SJ", "620100", &["discipline_inspector"]);
    let scored = s.supervision().score_file(req(&city, score(&seeded.sample_id, &seeded.case_id))).await.unwrap().into_inner().file.unwrap();
    assert!(scored.scored && scored.scored_by == "di-city");
    let county = Officer::new("di-a", ORGAN_A, CHENGGUAN, &["discipline_inspector"]);
    let serving = Officer::new("di-fy", "630000-FY", "630000", &["discipline_inspector"]);
    for (officer, serves) in [(&county, &[][..]), (&serving, &[CHENGGUAN][..])] {
        let err = s.supervision().score_file(req_serving(officer, serves, score(&seeded.sample_id, &seeded.case_id))).await.unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition, "{}: {err:?}", officer.division);
    }
    s.stop().await;
}

#[tokio::test]
async fn r_sup_4_recording_another_jurisdictions_return_visit_is_answered_like_a_visit_that_does_not_exist() {
    let s = system().await;
    let seeded = seed(&s).await;
    let missing = Uuid::now_v7().to_string();
    for neighbour in [Officer::new("office-b", "620103-SJ", QILIHE, &["office"]), Officer::new("office-q", "630000-SJ", "630000", &["office"])] {
        let foreign = s.supervision().record_return_visit(req(&neighbour, visit(&seeded.visit_id))).await.unwrap_err();
        let absent = s.supervision().record_return_visit(req(&neighbour, visit(&missing))).await.unwrap_err();
        assert_eq!(foreign.code(), Code::PermissionDenied, "{foreign:?}");
        assert!(foreign.message().contains(&format!("jurisdiction of {}", neighbour.division)), "the reason is named: {}", foreign.message());
        assert!(!foreign.message().contains(CHENGGUAN), "the visit's division is not disclosed: {}", foreign.message());
        assert_eq!(shape(&foreign, &seeded.visit_id), shape(&absent, &missing), "{}: no oracle of existence", neighbour.division);
    }
    let (done,): (bool,) = sqlx::query_as("SELECT done FROM return_visits WHERE id = $1::uuid").bind(&seeded.visit_id).fetch_one(s.pool_of(Service::Supervision)).await.unwrap();
    assert!(!done, "a refused record writes nothing");

    // A token serving the county records it; the county's office and the
    // province's repeat the same record and get the same answer.
    let serving = Officer::new("office-fy", "630000-FY", "630000", &["office"]);
    let recorded = s.supervision().record_return_visit(req_serving(&serving, &[CHENGGUAN], visit(&seeded.visit_id))).await.unwrap().into_inner().visit.unwrap();
    assert!(recorded.done && recorded.method == "phone");
    for officer in [Officer::new("office-a", ORGAN_A, CHENGGUAN, &["office"]), Officer::new("di-p", "620000-SJ", "620000", &["discipline_inspector"])] {
        let again = s.supervision().record_return_visit(req(&officer, visit(&seeded.visit_id))).await.unwrap().into_inner().visit.unwrap();
        assert_eq!(again, recorded, "{}", officer.division);
    }
    s.stop().await;
}
