//! Interviews in tests: a served case (video or in person, joint or not),
//! the recorded steps, and the record's signatures.

use chrono::{DateTime, NaiveDate, Utc};
use yuetan_platform::fields;
use yuetan_proto::scheduling as pb;

use crate::officers::{proposer, req, Officer};
use crate::scheduling::{plan, Peers, PARTY_PHONE, RECORDER};
use crate::System;

/// The co-department of the joint cases (another county's emergency
/// management bureau) and its officer.
pub const CO_ORGAN: &str = "620103-YJ";
pub const CO_OFFICER: &str = "co-yj-1";

pub fn co_officer() -> Officer {
    Officer::new(CO_OFFICER, CO_ORGAN, "620103", &["co_department_officer"])
}

/// An officer of a department with nothing to do with the case.
pub fn unrelated_officer() -> Officer {
    Officer::new("other-hb-1", "620103-SJ", "620103", &["case_officer", "section_chief"])
}

/// The recorder of organ A, as a caller.
pub fn recorder() -> Officer {
    Officer::new(RECORDER, crate::ORGAN_A, crate::CHENGGUAN, &["case_officer"])
}

/// An interviewer of organ A, as a caller.
pub fn interviewer(id: &str) -> Officer {
    Officer::new(id, crate::ORGAN_A, crate::CHENGGUAN, &["case_officer"])
}

pub fn rid() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub fn day(s: &str) -> NaiveDate {
    s.parse().expect("a date")
}

/// A rectification item due on `deadline`.
pub fn item(content: &str, deadline: &str) -> pb::RectificationItem {
    pb::RectificationItem {
        content: content.into(),
        deadline: Some(fields::date(day(deadline))),
        acceptance_standard: format!("{content}：提交书面材料并经现场核查合格"),
        check_method: "书面审查＋现场检查".into(),
        chief_approval: None,
    }
}

impl System {
    /// An approved case of organ A (joint with `co` when given), planned at
    /// `interview_at` (video or in person), its notice reviewed, sealed and
    /// served by SMS (the gateway's report at `served_at`). The case id.
    pub async fn served_case(&self, peers: &Peers, serial: u32, video: bool, co: &[&str], interview_at: DateTime<Utc>, served_at: DateTime<Utc>) -> String {
        if co.contains(&CO_ORGAN) {
            self.put_organ(CO_ORGAN, "620103", "兰七应急").await;
        }
        let case_id = self.approved_case_with(serial, false, co).await;
        self.plan_of(&case_id).await;
        // The report is pushed below, at `served_at`, not by the gateway on its own.
        peers.sms.script(PARTY_PHONE, yuetan_testkit::peers::Behaviour::Silent);
        self.record_address(&case_id, &[pb::Channel::Sms], "party@example.cn").await;
        let mut request = plan(&case_id, interview_at, if video { "视频约谈室" } else { "第一约谈室" });
        if video {
            request.mode = pb::InterviewMode::Video as i32;
        }
        request.co_department_participants =
            co.iter().map(|organ| pb::Participant { id: if *organ == CO_ORGAN { CO_OFFICER.into() } else { format!("co-{organ}") }, name: "王应急".into(), organ: (*organ).into() }).collect();
        self.notice_passed_with(&case_id, request).await;
        let services = self.services_until(&case_id, |v| v.first().is_some_and(|x| x.attempts.iter().any(|a| a.status == "sent"))).await;
        let attempt = services[0].attempts[0].attempt_id.clone();
        peers.sms.push_report(&attempt, true, served_at).await.expect("the SMS report reaches the portal");
        self.services_until(&case_id, |v| v[0].status == pb::ServiceStatus::Served as i32).await;
        let deadline = tokio::time::Instant::now() + crate::WAIT * 3;
        loop {
            if self.plan_of(&case_id).await.status == pb::PlanStatus::Served as i32 {
                return case_id;
            }
            assert!(tokio::time::Instant::now() < deadline, "the plan of {case_id} never became served");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Step 1: the given interviewers check in; the opening is recorded.
    pub async fn start_interview(&self, case_id: &str, present: &[&str]) -> Result<pb::Interview, tonic::Status> {
        self.scheduling()
            .start_interview(req(
                &proposer(),
                pb::StartInterviewRequest {
                    request_id: rid(),
                    case_id: case_id.into(),
                    interviewers_present: present.iter().map(|p| p.to_string()).collect(),
                    opening: Some(pb::Opening { certificates_shown: true, purpose: "督促补报年度报告".into(), basis: "《企业信息公示暂行条例》第八条".into(), participants_announced: true }),
                    party_representative: "刘某（法定代表人）".into(),
                    agent: String::new(),
                },
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    /// Steps 2–4 with these items.
    pub async fn hold_steps(&self, case_id: &str, items: Vec<pb::RectificationItem>) -> Result<pb::Interview, tonic::Status> {
        use pb::record_step_request::Step;
        let steps = [
            Step::Informing(pb::Informing {
                facts: "未按期报送2025年度报告".into(),
                provisions: vec!["《企业信息公示暂行条例》第八条".into()],
                evidence: vec!["日常检查记录".into(), "企业信用信息公示系统截图".into()],
                rights_explained: true,
                consequences_explained: true,
                notes: String::new(),
            }),
            Step::Listening(pb::Listening { statement: "财务人员变动，遗漏报送".into(), difficulties: "不熟悉系统".into(), commitments: "十五日内补报并建立报送制度".into() }),
            Step::Agreeing(pb::Agreeing { items }),
        ];
        let mut last = None;
        for step in steps {
            last = Some(
                self.scheduling()
                    .record_step(req(&proposer(), pb::RecordStepRequest { request_id: rid(), case_id: case_id.into(), step: Some(step) }))
                    .await?
                    .into_inner(),
            );
        }
        Ok(last.expect("three steps"))
    }

    pub async fn close_interview(&self, case_id: &str, recordings: Vec<String>) -> Result<pb::Interview, tonic::Status> {
        self.scheduling()
            .close_interview(req(&proposer(), pb::CloseInterviewRequest { request_id: rid(), case_id: case_id.into(), recording_sha256: recordings }))
            .await
            .map(tonic::Response::into_inner)
    }

    /// Waits until the case's newest record version exists; returns it.
    pub async fn record_of(&self, case_id: &str) -> pb::Record {
        let deadline = tokio::time::Instant::now() + crate::WAIT * 2;
        loop {
            let records = self.scheduling().list_records(req(&proposer(), pb::ListRecordsRequest { case_id: case_id.into() })).await.expect("records").into_inner().records;
            if let Some(r) = records.into_iter().next() {
                return r;
            }
            assert!(tokio::time::Instant::now() < deadline, "no record for case {case_id}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    pub async fn sign(&self, officer: &Officer, record_id: &str) -> Result<pb::Record, tonic::Status> {
        self.scheduling().sign_record(req(officer, pb::SignRecordRequest { request_id: rid(), record_id: record_id.into() })).await.map(tonic::Response::into_inner)
    }

    /// The party signs on a tablet (a signature image uploaded).
    pub async fn party_signs(&self, record_id: &str) -> Result<pb::Record, tonic::Status> {
        let image = self.upload(format!("签名图像 {record_id}").as_bytes()).await;
        self.scheduling()
            .record_party_signature(req(
                &proposer(),
                pb::RecordPartySignatureRequest { request_id: rid(), record_id: record_id.into(), method: pb::SignatureMethod::Tablet as i32, signer_name: "刘某".into(), image_sha256: image },
            ))
            .await
            .map(tonic::Response::into_inner)
    }
}
