//! Rectification in tests: a case whose interview was held (in person, two
//! items due 2026-05-15 and 2026-05-29 after an interview on 2026-04-30),
//! and its rectification once opened.

use yuetan_proto::rectification as pb;

use crate::interview::{item, rid};
use crate::officers::{proposer, req};
use crate::scheduling::{Peers, INTERVIEWER, INTERVIEWER_LEGAL};
use crate::System;

impl System {
    /// A served case of organ A, interviewed in person with two items, the
    /// interview closed; returns the case id once rectification opened it.
    pub async fn held_case(&self, peers: &Peers, serial: u32, co: &[&str], interview_at: chrono::DateTime<chrono::Utc>, served_at: chrono::DateTime<chrono::Utc>) -> String {
        let case_id = self.served_case(peers, serial, false, co, interview_at, served_at).await;
        self.clock.set(interview_at);
        self.start_interview(&case_id, &[INTERVIEWER_LEGAL, INTERVIEWER]).await.expect("start the interview");
        self.hold_steps(&case_id, vec![item("补报2025年度报告", "2026-05-15"), item("建立年度报告报送制度", "2026-05-29")]).await.expect("the steps");
        let recording = self.upload(format!("约谈录音录像 {case_id}").as_bytes()).await;
        self.close_interview(&case_id, vec![recording]).await.expect("close the interview");
        self.rectification_of(&case_id).await;
        case_id
    }

    /// Waits until rectification shows the case's rectification.
    pub async fn rectification_of(&self, case_id: &str) -> pb::Rectification {
        let deadline = tokio::time::Instant::now() + crate::WAIT;
        loop {
            if let Ok(r) = self.rectification().get_rectification(req(&proposer(), pb::GetRectificationRequest { case_id: case_id.into() })).await {
                return r.into_inner();
            }
            assert!(tokio::time::Instant::now() < deadline, "no rectification for case {case_id}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// The party's report received on paper at `at`.
    pub async fn paper_report(&self, case_id: &str, at: chrono::DateTime<chrono::Utc>) -> Result<pb::Rectification, tonic::Status> {
        let photo = self.upload(format!("整改后照片 {case_id}").as_bytes()).await;
        self.rectification()
            .record_paper_report(req(
                &proposer(),
                pb::RecordPaperReportRequest {
                    request_id: rid(),
                    case_id: case_id.into(),
                    text: "已补报年度报告并建立报送制度，指定财务人员专人负责。".into(),
                    attachment_sha256: vec![photo],
                    received_at: Some(yuetan_platform::fields::timestamp(at)),
                },
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    /// One acceptance officer's answers. Like any client, it retries an
    /// UNAVAILABLE answer (a transaction PostgreSQL aborted on a deadlock
    /// with the service's consumer wrote nothing) with the same request id.
    pub async fn accept_as(&self, officer: &crate::Officer, case_id: &str, pass: bool) -> Result<pb::Rectification, tonic::Status> {
        let request = pb::RecordAcceptanceRequest {
            request_id: rid(),
            case_id: case_id.into(),
            complete: true,
            lawful: true,
            goal_reached: pass,
            comments: if pass { "已整改到位".into() } else { "制度未落实".into() },
            evidence_sha256: Vec::new(),
            reinspect_on: None,
            follow_up: if pass { "三个月内回访一次".into() } else { String::new() },
        };
        let mut tries = 0;
        loop {
            match self.rectification().record_acceptance(req(officer, request.clone())).await {
                Err(status) if status.code() == tonic::Code::Unavailable && tries < 5 => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100 * tries)).await;
                }
                result => return result.map(tonic::Response::into_inner),
            }
        }
    }
}
