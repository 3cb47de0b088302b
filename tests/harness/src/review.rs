//! Review's inputs and waits.

use std::time::Duration;

use yuetan_proto::review as pb;

use crate::{req, Officer, System, WAIT};

/// The review's checklist with every point passed.
pub fn all_passed() -> Vec<pb::ChecklistEntry> {
    (1..=5).map(|item| pb::ChecklistEntry { item, passed: true, comment: String::new() }).collect()
}

/// A legality-review decision with a fitting checklist and opinion.
pub fn decide(task_id: &str, decision: pb::ReviewDecision) -> pb::DecideReviewRequest {
    let mut checklist = all_passed();
    let (missing, opinion) = match decision {
        pb::ReviewDecision::Return => {
            checklist[2] = pb::ChecklistEntry { item: 3, passed: false, comment: "缺少现场检查笔录".into() };
            ("补充现场检查笔录及照片".to_string(), String::new())
        }
        pb::ReviewDecision::Reject => ("".to_string(), "当事人已进入处罚程序，不宜约谈".to_string()),
        _ => (String::new(), "同意约谈".to_string()),
    };
    pb::DecideReviewRequest {
        request_id: uuid::Uuid::now_v7().to_string(),
        task_id: task_id.into(),
        checklist,
        decision: decision as i32,
        missing,
        opinion,
    }
}

/// An approval.
pub fn approve(task_id: &str) -> pb::DecideApprovalRequest {
    pb::DecideApprovalRequest {
        request_id: uuid::Uuid::now_v7().to_string(),
        task_id: task_id.into(),
        decision: pb::ApprovalDecision::Approve as i32,
        opinion: "同意".into(),
        collective: None,
    }
}

impl System {
    /// Waits (at most [`WAIT`]) for the case's review task of `kind` and
    /// `round`, as `as_officer` sees it; returns it.
    /// The open document-review task of the document with this sha256.
    pub async fn document_task(&self, as_officer: &Officer, case_id: &str, sha256: &str) -> pb::Task {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let file = self.review().get_review(req(as_officer, pb::GetReviewRequest { case_id: case_id.into() })).await;
            if let Ok(file) = file {
                if let Some(task) = file.into_inner().tasks.into_iter().find(|t| t.document.as_ref().is_some_and(|d| d.content_sha256 == sha256)) {
                    return task;
                }
            }
            assert!(tokio::time::Instant::now() < deadline, "no document-review task for {sha256} of case {case_id} within {WAIT:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn task(&self, as_officer: &Officer, case_id: &str, kind: pb::TaskKind, round: u32) -> pb::Task {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let file = self.review().get_review(req(as_officer, pb::GetReviewRequest { case_id: case_id.into() })).await;
            if let Ok(file) = file {
                if let Some(task) = file.into_inner().tasks.into_iter().find(|t| t.kind == kind as i32 && t.round == round) {
                    return task;
                }
            }
            assert!(tokio::time::Instant::now() < deadline, "no {kind:?} task round {round} for case {case_id} within {WAIT:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
