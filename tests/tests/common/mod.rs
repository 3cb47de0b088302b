//! The whole system for tests: intake (its harness, shared with intake's own
//! tests) plus review on the same database (schema `review`), the same
//! JetStream stream and the same test clock, each on its own gRPC port.

#![allow(dead_code)]

#[path = "../../../services/intake/tests/common/mod.rs"]
pub mod intake;

use std::time::Duration;

use chrono::{DateTime, Utc};
use prost::Message;
use tonic::transport::Channel;
use yuetan_calendar::{Calendar, SharedCalendar};
use yuetan_platform::auth::Verifier;
use yuetan_platform::server::{self, Services};
use yuetan_proto::events::Event;
use yuetan_proto::intake as ipb;
use yuetan_proto::review as rpb;
use yuetan_proto::review::review_service_client::ReviewServiceClient;
use yuetan_review::Review;

pub use intake::{req, Harness, Officer};

pub const CHENGGUAN: &str = "620102";
pub const QILIHE: &str = "620103";
pub const ORGAN_A: &str = "620102-SJ";

pub struct System {
    pub h: Harness,
    pub review: Review,
    pub review_channel: Channel,
}

/// Starts a review replica on the harness's database, stream and clock.
pub async fn review_replica(h: &Harness) -> (Review, Channel) {
    let calendar = SharedCalendar::new(Calendar::builtin());
    let review = Review::start(&h.config, h.clock.clone(), calendar, h.shutdown.clone()).await.expect("review starts");
    let verifier = std::sync::Arc::new(Verifier::new(&h.config.auth).unwrap());
    let listener = server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(Services::new("review", verifier).add_authenticated(review.grpc()).serve(listener, h.shutdown.clone()));
    let channel = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
    (review, channel)
}

pub async fn start_at(now: DateTime<Utc>) -> System {
    let h = intake::start_at(now).await;
    h.organ(ORGAN_A, CHENGGUAN, "兰城市监").await;
    h.organ("620103-SJ", QILIHE, "兰七市监").await;
    let (review, review_channel) = review_replica(&h).await;
    System { h, review, review_channel }
}

pub async fn start() -> System {
    start_at(Utc::now()).await
}

pub fn proposer() -> Officer {
    Officer::new("officer-a", ORGAN_A, CHENGGUAN, &["case_officer", "section_chief"])
}
pub fn reviewer() -> Officer {
    Officer::new("reviewer-a", ORGAN_A, CHENGGUAN, &["legal_reviewer"])
}
pub fn deputy() -> Officer {
    Officer::new("deputy-a", ORGAN_A, CHENGGUAN, &["deputy_leader"])
}
pub fn leader() -> Officer {
    Officer::new("leader-a", ORGAN_A, CHENGGUAN, &["leader"])
}
pub fn reviewer_of_county_b() -> Officer {
    Officer::new("reviewer-b", "620103-SJ", QILIHE, &["legal_reviewer"])
}

impl System {
    pub fn intake(&self) -> ipb::intake_service_client::IntakeServiceClient<Channel> {
        self.h.client()
    }

    pub fn review(&self) -> ReviewServiceClient<Channel> {
        ReviewServiceClient::new(self.review_channel.clone())
    }

    /// A new party's clue, verified and submitted by `officer`; returns the case.
    pub async fn submitted_case(&self, officer: &Officer, serial: u32, major: bool) -> ipb::Case {
        let case_id = self.opened_case(officer, serial, major).await;
        self.intake()
            .submit_for_review(req(
                officer,
                ipb::SubmitForReviewRequest {
                    request_id: uuid::Uuid::now_v7().to_string(),
                    case_id,
                    approval_form: Some(intake::approval_form()),
                },
            ))
            .await
            .expect("submit for review")
            .into_inner()
    }

    /// A new party's clue, verified: an opened case (not submitted).
    pub async fn opened_case(&self, officer: &Officer, serial: u32, major: bool) -> String {
        let mut input = intake::enterprise("兰州某某商贸有限公司", &intake::credit_code(&officer.division, serial));
        // Consent signed today, whatever day the test clock says it is.
        if let Some(consent) = input.consent.as_mut() {
            consent.consented_on = Some(yuetan_platform::fields::date(yuetan_platform::fields::cst_date(yuetan_platform::Clock::now(&*self.h.clock))));
        }
        let party = intake::register(&self.h, officer, input).await;
        let clue = self.intake().register_clue(req(officer, intake::clue(&party, "SJ-ANNUAL-REPORT"))).await.unwrap().into_inner();
        let mut verify = intake::verification(&clue.id);
        verify.major = major;
        let verified = self.intake().verify_clue(req(officer, verify)).await.unwrap().into_inner();
        verified.case.expect("an eligible case").id
    }

    /// Waits for the case's task of `kind` and `round` to exist; returns it.
    pub async fn task(&self, as_officer: &Officer, case_id: &str, kind: rpb::TaskKind, round: u32) -> rpb::Task {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let file = self.review().get_review(req(as_officer, rpb::GetReviewRequest { case_id: case_id.into() })).await;
            if let Ok(file) = file {
                if let Some(task) = file.into_inner().tasks.into_iter().find(|t| t.kind == kind as i32 && t.round == round) {
                    return task;
                }
            }
            assert!(tokio::time::Instant::now() < deadline, "no {kind:?} task round {round} for case {case_id} within 20 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until intake shows the case in `status`.
    pub async fn intake_status(&self, officer: &Officer, case_id: &str, status: ipb::CaseStatus) -> ipb::Case {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let case = self.intake().get_case(req(officer, ipb::GetCaseRequest { case_id: case_id.into() })).await.unwrap().into_inner();
            if case.status == status as i32 {
                return case;
            }
            assert!(tokio::time::Instant::now() < deadline, "case {case_id} is {:?}, not {status:?}, after 20 s", case.status);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn stop(self) {
        self.h.shutdown.cancel();
        for task in self.review.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        self.h.stop().await;
    }
}

/// The review's checklist with every point passed.
pub fn all_passed() -> Vec<rpb::ChecklistEntry> {
    (1..=5).map(|item| rpb::ChecklistEntry { item, passed: true, comment: String::new() }).collect()
}

pub fn decide(task_id: &str, decision: rpb::ReviewDecision) -> rpb::DecideReviewRequest {
    let mut checklist = all_passed();
    let (missing, opinion) = match decision {
        rpb::ReviewDecision::Return => {
            checklist[2] = rpb::ChecklistEntry { item: 3, passed: false, comment: "缺少现场检查笔录".into() };
            ("补充现场检查笔录及照片".to_string(), String::new())
        }
        rpb::ReviewDecision::Reject => ("".to_string(), "当事人已进入处罚程序，不宜约谈".to_string()),
        _ => (String::new(), "同意约谈".to_string()),
    };
    rpb::DecideReviewRequest {
        request_id: uuid::Uuid::now_v7().to_string(),
        task_id: task_id.into(),
        checklist,
        decision: decision as i32,
        missing,
        opinion,
    }
}

pub fn approve(task_id: &str) -> rpb::DecideApprovalRequest {
    rpb::DecideApprovalRequest {
        request_id: uuid::Uuid::now_v7().to_string(),
        task_id: task_id.into(),
        decision: rpb::ApprovalDecision::Approve as i32,
        opinion: "同意".into(),
        collective: None,
    }
}

/// Every event now in the stream, in stream order, with its subject.
pub async fn stream_events(h: &Harness) -> Vec<(String, Event)> {
    let stream = h.bus.jetstream.get_stream(&h.config.nats.stream).await.unwrap();
    let last = stream.cached_info().state.last_sequence;
    let mut out = Vec::new();
    for seq in 1..=last {
        if let Ok(message) = stream.get_raw_message(seq).await {
            out.push((message.subject.to_string(), Event::decode(message.payload.as_ref()).unwrap()));
        }
    }
    out
}

/// The types of a case's events in stream order, waiting until `expected`
/// (the last one) has arrived.
pub async fn case_event_types(h: &Harness, case_id: &str, until: &str) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let types: Vec<String> =
            stream_events(h).await.into_iter().filter(|(_, e)| e.case_id == case_id).map(|(_, e)| e.r#type).collect();
        if types.iter().any(|t| t == until) {
            return types;
        }
        assert!(tokio::time::Instant::now() < deadline, "no {until} for case {case_id} within 20 s; seen {types:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
