//! Scheduling in tests: approved cases, a qualified directory, plans.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use yuetan_platform::fields;
use yuetan_proto::intake as ipb;
use yuetan_proto::review as rpb;
use yuetan_proto::scheduling as pb;

use crate::intake::{approval_form, clue, credit_code, enterprise, verification};
use crate::officers::{admin, deputy, proposer, req, reviewer, Officer, CHENGGUAN, ORGAN_A};
use crate::review::{approve, decide};
use crate::System;

/// Officers of organ A in the directory: two qualified interviewers (one
/// with legal-review qualification), a recorder.
pub const INTERVIEWER_LEGAL: &str = "int-legal-a";
pub const INTERVIEWER: &str = "int-a";
pub const RECORDER: &str = "rec-a";

pub fn officer_entry(id: &str, name: &str, legal: bool, certified_on: NaiveDate) -> pb::PutOfficerRequest {
    pb::PutOfficerRequest {
        request_id: uuid::Uuid::now_v7().to_string(),
        officer_id: id.into(),
        name: name.into(),
        organ: ORGAN_A.into(),
        division: CHENGGUAN.into(),
        certificate_number: format!("62010220{id}"),
        certificate_valid_until: Some(fields::date(NaiveDate::from_ymd_opt(2029, 12, 31).unwrap())),
        experience_since: Some(fields::date(NaiveDate::from_ymd_opt(2018, 3, 1).unwrap())),
        interviewer_certified_on: Some(fields::date(certified_on)),
        legal_review_qualified: legal,
        active: true,
    }
}

/// A plan request for `case_id` at `at` with the standard panel.
pub fn plan(case_id: &str, at: DateTime<Utc>, place: &str) -> pb::PlanInterviewRequest {
    pb::PlanInterviewRequest {
        request_id: uuid::Uuid::now_v7().to_string(),
        case_id: case_id.into(),
        interview_at: Some(fields::timestamp(at)),
        mode: pb::InterviewMode::InPerson as i32,
        place: place.into(),
        interviewers: vec![INTERVIEWER_LEGAL.into(), INTERVIEWER.into()],
        recorder: RECORDER.into(),
        experts: Vec::new(),
        co_department_participants: Vec::new(),
        materials: vec!["营业执照副本".into(), "整改方案".into()],
        contact: "市场秩序科 王科长 0931-8888888".into(),
        matter: "未按期报送2025年度报告".into(),
        legal_basis: "《企业信息公示暂行条例》第八条".into(),
    }
}

impl System {
    /// The directory of organ A: two qualified interviewers and a recorder.
    pub async fn put_directory(&self) {
        let certified = NaiveDate::from_ymd_opt(2025, 6, 1).unwrap();
        for entry in [
            officer_entry(INTERVIEWER_LEGAL, "李法制", true, certified),
            officer_entry(INTERVIEWER, "张执法", false, certified),
            officer_entry(RECORDER, "赵记录", false, certified),
        ] {
            self.scheduling().put_officer(req(&admin(), entry)).await.expect("put officer");
        }
    }

    /// A case of organ A through intake and review to approval; returns its id.
    pub async fn approved_case(&self, serial: u32, urgent: bool) -> String {
        let officer: Officer = proposer();
        let party = self.register_party(&officer, enterprise("兰州某某餐饮有限公司", &credit_code(&officer.division, serial))).await;
        let mut c = clue(&party, "SJ-ANNUAL-REPORT");
        if urgent {
            c.urgency = ipb::Urgency::Urgent as i32;
        }
        let clue = self.intake().register_clue(req(&officer, c)).await.expect("register clue").into_inner();
        let verified = self.intake().verify_clue(req(&officer, verification(&clue.id))).await.expect("verify clue").into_inner();
        let case_id = verified.case.expect("an eligible case").id;
        self.intake()
            .submit_for_review(req(
                &officer,
                ipb::SubmitForReviewRequest { request_id: uuid::Uuid::now_v7().to_string(), case_id: case_id.clone(), approval_form: Some(approval_form()) },
            ))
            .await
            .expect("submit");
        let review = self.task(&reviewer(), &case_id, rpb::TaskKind::LegalityReview, 1).await;
        self.review().decide_review(req(&reviewer(), decide(&review.id, rpb::ReviewDecision::Pass))).await.expect("pass");
        let approval = self.task(&deputy(), &case_id, rpb::TaskKind::Approval, 1).await;
        self.review().decide_approval(req(&deputy(), approve(&approval.id))).await.expect("approve");
        case_id
    }

    /// Waits until scheduling shows the case's plan.
    pub async fn plan_of(&self, case_id: &str) -> pb::Plan {
        let deadline = tokio::time::Instant::now() + crate::WAIT;
        loop {
            if let Ok(plan) = self.scheduling().get_plan(req(&proposer(), pb::GetPlanRequest { case_id: case_id.into() })).await {
                return plan.into_inner();
            }
            assert!(tokio::time::Instant::now() < deadline, "no plan for case {case_id}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Waits until `check` holds for the case's services.
    pub async fn services_until(&self, case_id: &str, check: impl Fn(&[pb::Service]) -> bool) -> Vec<pb::Service> {
        let deadline = tokio::time::Instant::now() + crate::WAIT * 2;
        loop {
            let services = self
                .scheduling()
                .list_case_services(req(&proposer(), pb::ListCaseServicesRequest { case_id: case_id.into() }))
                .await
                .expect("services")
                .into_inner()
                .services;
            if check(&services) {
                return services;
            }
            assert!(tokio::time::Instant::now() < deadline, "services of {case_id} never got there: {services:#?}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

/// `days` calendar days and `hours` after `at`.
pub fn later(at: DateTime<Utc>, days: i64, hours: i64) -> DateTime<Utc> {
    at + Duration::days(days) + Duration::hours(hours)
}
