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
        self.approved_case_with(serial, urgent, &[]).await
    }

    /// [`System::approved_case`], a joint case with these co-departments (organ codes).
    pub async fn approved_case_with(&self, serial: u32, urgent: bool, co_departments: &[&str]) -> String {
        let officer: Officer = proposer();
        let party = self.register_party(&officer, enterprise("兰州某某餐饮有限公司", &credit_code(&officer.division, serial))).await;
        let mut c = clue(&party, "SJ-ANNUAL-REPORT");
        if urgent {
            c.urgency = ipb::Urgency::Urgent as i32;
        }
        let clue = self.intake().register_clue(req(&officer, c)).await.expect("register clue").into_inner();
        let mut verify = verification(&clue.id);
        verify.co_departments = co_departments.iter().map(|c| c.to_string()).collect();
        let verified = self.intake().verify_clue(req(&officer, verify)).await.expect("verify clue").into_inner();
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

/// The party's addresses in the sample address-confirmation.
pub const PARTY_PHONE: &str = "13800001234";
pub const PARTY_EGOV_ACCOUNT: &str = "gov-account-620102-0001";

/// The portal and the local provider peers scheduling is pointed at.
pub struct Peers {
    pub portal: crate::RunningPortal,
    pub sms: yuetan_testkit::peers::SmsPeer,
    pub egov: yuetan_testkit::peers::EgovPeer,
    pub smtp: yuetan_testkit::peers::SmtpPeer,
    /// A real Janus (video interviews), when asked for.
    pub janus: Option<yuetan_testkit::JanusPeer>,
}

/// The video side of [`System::start_scheduling_stack`].
#[derive(Debug, Clone, Copy, Default)]
pub struct VideoOptions {
    /// The crash test's fault injection: hang after Janus created a room.
    pub hang_after_room_create: bool,
}

/// The VideoRoom `admin_key` and the room-key of the harness's Janus.
pub const JANUS_ADMIN_KEY: &str = "janus-admin-key-for-tests";
pub const JANUS_ROOM_KEY: &str = "janus-room-key-for-tests-000001";

impl System {
    /// Starts the portal, the SMS gateway and e-gov platform (reporting to the
    /// portal, signed with its secrets) and an SMTP server, then scheduling
    /// with its three channels pointed at them, and fills organ A's directory.
    /// `hang_after_send`: the crash test's fault injection.
    pub async fn start_scheduling_with_peers(&mut self, hang_after_send: bool) -> Peers {
        self.start_scheduling_stack(hang_after_send, None).await
    }

    /// [`System::start_scheduling_with_peers`], and with `video` a real Janus
    /// (HTTP API on an ephemeral port, its event handler posting to the
    /// portal) as scheduling's video provider.
    pub async fn start_scheduling_stack(&mut self, hang_after_send: bool, video: Option<VideoOptions>) -> Peers {
        use yuetan_testkit::peers::{EgovPeer, EgovPeerConfig, SmsPeer, SmsPeerConfig, SmtpPeer};
        let portal = self.start_portal().await;
        let janus = match video {
            None => None,
            Some(options) => {
                let janus = yuetan_testkit::JanusPeer::start(yuetan_testkit::JanusOptions {
                    event_backend: Some(format!("{}/callbacks/janus", portal.base_url())),
                    event_user: Some(crate::PORTAL_JANUS_USER.into()),
                    event_password: Some(crate::PORTAL_JANUS_PASSWORD.into()),
                    admin_key: JANUS_ADMIN_KEY.into(),
                })
                .await
                .expect("janus starts");
                self.set_scheduling(serde_json::json!({
                    "video": {
                        "provider": "janus",
                        "janus": { "url": janus.url(), "admin_key": JANUS_ADMIN_KEY, "room_key": JANUS_ROOM_KEY, "recordings_dir": janus.recordings_dir() },
                        "reconcile_seconds": 3600,
                        "hang_after_room_create": options.hang_after_room_create,
                    }
                }));
                Some(janus)
            }
        };
        let sms = SmsPeer::start(SmsPeerConfig {
            access_key_id: "LTAI-test".into(),
            access_key_secret: "sms-access-secret".into(),
            callback_url: Some(format!("{}/callbacks/sms", portal.base_url())),
            callback_secret: crate::PORTAL_SMS_SECRET.into(),
        })
        .await;
        let egov = EgovPeer::start(EgovPeerConfig { app_id: crate::PORTAL_EGOV_APP_ID.into(), secret: crate::PORTAL_EGOV_SECRET.into() }).await;
        let smtp = SmtpPeer::start();
        self.set_scheduling(serde_json::json!({
            "sms": { "endpoint": sms.endpoint(), "access_key_id": "LTAI-test", "access_key_secret": "sms-access-secret", "sign_name": "兰州市城关区市场监管局", "template_code": "SMS_0001" },
            "egov": { "endpoint": egov.endpoint(), "app_id": crate::PORTAL_EGOV_APP_ID, "secret": crate::PORTAL_EGOV_SECRET, "callback_url": format!("{}/callbacks/egov", portal.base_url()) },
            "email": { "host": "127.0.0.1", "port": smtp.port(), "from": "songda@scjg.example.gov.cn" },
            "sms_arrival_minutes": 30,
            "hang_after_send": hang_after_send,
        }));
        self.start_service(crate::Service::Scheduling).await;
        self.put_directory().await;
        Peers { portal, sms, egov, smtp, janus }
    }

    /// Stores a file in the object store; its sha256.
    pub async fn upload(&self, bytes: &[u8]) -> String {
        yuetan_platform::objects::Objects::new(&self.config.objects).expect("objects").put(bytes.to_vec()).await.expect("upload").sha256
    }

    /// The party's signed address-confirmation for the case: the given
    /// consented channels; [`PARTY_PHONE`], `email`, [`PARTY_EGOV_ACCOUNT`].
    pub async fn record_address(&self, case_id: &str, channels: &[pb::Channel], email: &str) -> pb::ServiceAddress {
        let form = self.upload(format!("送达地址确认书 {case_id} 已签字").as_bytes()).await;
        self.scheduling()
            .record_service_address(req(
                &proposer(),
                pb::RecordServiceAddressRequest {
                    request_id: uuid::Uuid::now_v7().to_string(),
                    case_id: case_id.into(),
                    channels: channels.iter().map(|c| *c as i32).collect(),
                    sms_number: PARTY_PHONE.into(),
                    email: email.into(),
                    egov_account: PARTY_EGOV_ACCOUNT.into(),
                    postal_address: "兰州市城关区某某路1号".into(),
                    confirmation_sha256: form,
                    signed_on: Some(fields::date(fields::cst_date(yuetan_platform::Clock::now(&*self.clock)))),
                },
            ))
            .await
            .expect("record the address confirmation")
            .into_inner()
    }

    /// Plans the interview at `interview_at`, issues the notice and passes
    /// its document review; returns the notice.
    pub async fn notice_passed(&self, case_id: &str, interview_at: DateTime<Utc>) -> pb::Document {
        self.notice_passed_with(case_id, plan(case_id, interview_at, "第一约谈室")).await
    }

    /// [`System::notice_passed`] with this plan.
    pub async fn notice_passed_with(&self, case_id: &str, plan: pb::PlanInterviewRequest) -> pb::Document {
        self.plan_of(case_id).await;
        self.scheduling().plan_interview(req(&proposer(), plan)).await.expect("plan");
        let notice = self
            .scheduling()
            .issue_notice(req(&proposer(), pb::IssueNoticeRequest { request_id: uuid::Uuid::now_v7().to_string(), case_id: case_id.into() }))
            .await
            .expect("issue the notice")
            .into_inner();
        let task = self.task(&reviewer(), case_id, rpb::TaskKind::DocumentReview, 1).await;
        self.review()
            .decide_document(req(
                &reviewer(),
                rpb::DecideDocumentRequest {
                    request_id: uuid::Uuid::now_v7().to_string(),
                    task_id: task.id,
                    decision: rpb::DocumentDecision::Pass as i32,
                    comments: "格式规范".into(),
                },
            ))
            .await
            .expect("pass the notice");
        notice
    }
}
