//! The lifecycle driver: one case from clue onwards through the services'
//! gRPC APIs, as officers would drive it, over a [`Routed`] channel.
//!
//! Every mutating call carries a request id and is retried with the SAME
//! request id on `UNAVAILABLE`, `DEADLINE_EXCEEDED`, `CANCELLED`, `UNKNOWN`
//! (transport errors) and `ABORTED`, as real clients do; each acknowledged
//! call is recorded ([`Ack`]) so the chaos run can check its effect exists
//! exactly once. An optional hook sees every attempt (RPC name, latency,
//! code), for the benchmark.
//!
//! Stages driven today ([`Stage`]): party and clue registered, clue
//! verified (case opened and numbered), submitted, legality review passed,
//! approved; then scheduling: the plan opened (on review's event), the
//! party's address-confirmation recorded (SMS), the interview planned
//! (in person, its own three officers), the notice issued (numbered), passed
//! by the legal reviewer's document review, sealed and served by SMS through
//! the SMS provider peer, whose delivery report reaches the portal's
//! callback and scheduling records the receipt. The interview itself,
//! rectification and the archive are not driven yet.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tonic::metadata::MetadataValue;
use tonic::{Code, Request, Response, Status};
use yuetan_platform::auth::{roles, Claims, KeyAlgorithm, TokenIssuer};
use yuetan_platform::client::Routed;
use yuetan_platform::Config;
use yuetan_proto::common::{Date, Organ};
use yuetan_proto::intake as pb;
use yuetan_proto::intake::intake_service_client::IntakeServiceClient;
use yuetan_proto::review as rpb;
use yuetan_proto::review::review_service_client::ReviewServiceClient;
use yuetan_proto::scheduling as spb;
use yuetan_proto::scheduling::scheduling_service_client::SchedulingServiceClient;
use yuetan_testkit::peers::SmsPeer;

/// Called once per attempt: RPC name, its latency, its code (`Ok` on success).
pub type Hook = Arc<dyn Fn(&'static str, Duration, Code) + Send + Sync>;

pub const ORGAN: &str = "620102-SJ";
pub const DIVISION: &str = "620102";
pub const VIOLATION: &str = "SJ-ANNUAL-REPORT";

/// One acknowledged mutating call.
#[derive(Debug, Clone)]
pub struct Ack {
    pub rpc: &'static str,
    pub request_id: String,
    /// The lifecycle's index.
    pub lifecycle: u32,
    /// The id the answer named (party, clue, case or task id).
    pub id: String,
}

/// How far a lifecycle got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    Started,
    PartyRegistered,
    ClueRegistered,
    CaseOpened,
    Submitted,
    ReviewPassed,
    Approved,
    PlanOpened,
    InterviewPlanned,
    NoticeIssued,
    NoticeReviewed,
    /// Served by SMS, the delivery receipt recorded.
    Served,
}

/// The last stage a lifecycle reaches today.
pub const FINAL: Stage = Stage::Served;

/// What one lifecycle produced.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub index: u32,
    pub party_id: String,
    pub clue_id: String,
    pub case_id: String,
    pub case_number: String,
    /// The party's SMS number (consented), one per lifecycle.
    pub sms_number: String,
    pub notice_number: String,
    pub receipt_number: String,
}

/// A lifecycle's progress, readable while it runs and after it failed.
#[derive(Debug, Clone)]
pub struct Progress {
    pub stage: Stage,
    pub outcome: Outcome,
}

impl Default for Progress {
    fn default() -> Self {
        Progress { stage: Stage::Started, outcome: Outcome::default() }
    }
}

/// Signs officers' tokens with the configuration's HS256 development key.
#[derive(Clone)]
pub struct Tokens {
    issuer: Arc<TokenIssuer>,
    audience: String,
    iss: String,
}

impl Tokens {
    pub fn from_config(config: &Config) -> Result<Tokens> {
        let key = config
            .auth
            .keys
            .iter()
            .find(|k| k.algorithm == KeyAlgorithm::HS256 && config.auth.allow_hs256)
            .context("the driver signs tokens with an HS256 development key (deploy/local/yuetan.toml)")?;
        Ok(Tokens {
            issuer: Arc::new(TokenIssuer::hs256(&key.kid, key.secret.as_deref().context("the HS256 key has no secret")?)),
            audience: config.auth.audience.clone(),
            iss: config.auth.issuer.clone(),
        })
    }

    pub fn request<T>(&self, officer: &str, organ: &str, division: &str, roles: &[&str], message: T) -> Result<Request<T>> {
        let claims = Claims::for_officer(officer, "混沌测试", organ, division, roles, &self.iss, &self.audience, chrono::Duration::minutes(30), chrono::Utc::now());
        let mut request = Request::new(message);
        let value: MetadataValue<_> = format!("Bearer {}", self.issuer.issue(&claims)?).parse()?;
        request.metadata_mut().insert("authorization", value);
        request.set_timeout(Duration::from_secs(10));
        Ok(request)
    }
}

/// The officers of the run (organ 620102-SJ).
fn officer<T>(tokens: &Tokens, message: T) -> Result<Request<T>> {
    tokens.request("chaos-officer", ORGAN, DIVISION, &["case_officer", "section_chief"], message)
}
fn reviewer<T>(tokens: &Tokens, message: T) -> Result<Request<T>> {
    tokens.request("chaos-reviewer", ORGAN, DIVISION, &[roles::LEGAL_REVIEWER], message)
}
fn deputy<T>(tokens: &Tokens, message: T) -> Result<Request<T>> {
    tokens.request("chaos-deputy", ORGAN, DIVISION, &["deputy_leader"], message)
}

/// The driver, shared by every concurrent lifecycle.
pub struct Driver {
    channel: Routed,
    tokens: Tokens,
    /// The portal's base URL(s) (for the party's steps, once driven).
    pub portal_bases: Vec<String>,
    hook: Option<Hook>,
    /// How long one call is retried before the lifecycle gives up.
    pub retry_budget: Duration,
    /// How long a wait for another service's reaction lasts.
    pub wait_budget: Duration,
    acks: Mutex<Vec<Ack>>,
    retries: AtomicU64,
    /// Offset of the parties' credit-code serials (distinct per run).
    serial_base: u32,
    /// The SMS provider peer: when a served notice's receipt is slow, the
    /// driver has the peer push its delivery report again, as a provider
    /// retries an unanswered callback (the portal may have been killed
    /// while the first push was under way). `None`: no re-push.
    pub sms: Option<Arc<SmsPeer>>,
}

fn retryable(code: Code) -> bool {
    matches!(code, Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown | Code::Aborted | Code::ResourceExhausted)
}

impl Driver {
    pub fn new(channel: Routed, tokens: Tokens, portal_bases: Vec<String>, hook: Option<Hook>, serial_base: u32) -> Driver {
        Driver {
            channel,
            tokens,
            portal_bases,
            hook,
            retry_budget: Duration::from_secs(180),
            wait_budget: Duration::from_secs(180),
            acks: Mutex::new(Vec::new()),
            retries: AtomicU64::new(0),
            serial_base,
            sms: None,
        }
    }

    /// Every acknowledged call so far.
    pub fn acks(&self) -> Vec<Ack> {
        self.acks.lock().unwrap().clone()
    }

    /// Attempts that were retried (same request id).
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    fn intake(&self) -> IntakeServiceClient<Routed> {
        IntakeServiceClient::new(self.channel.clone())
    }
    fn review(&self) -> ReviewServiceClient<Routed> {
        ReviewServiceClient::new(self.channel.clone())
    }
    fn scheduling(&self) -> SchedulingServiceClient<Routed> {
        SchedulingServiceClient::new(self.channel.clone())
    }

    /// One call, retried with the same request (id) until it is answered or
    /// fails with a non-retryable code.
    async fn call<T, F, Fut>(&self, rpc: &'static str, mut attempt: F) -> Result<T>
    where
        F: FnMut() -> Result<Fut>,
        Fut: Future<Output = Result<Response<T>, Status>>,
    {
        let deadline = Instant::now() + self.retry_budget;
        let mut backoff = Duration::from_millis(100);
        loop {
            let started = Instant::now();
            let result = attempt()?.await;
            let code = match &result {
                Ok(_) => Code::Ok,
                Err(status) => status.code(),
            };
            if let Some(hook) = &self.hook {
                hook(rpc, started.elapsed(), code);
            }
            match result {
                Ok(response) => return Ok(response.into_inner()),
                Err(status) if retryable(status.code()) && Instant::now() < deadline => {
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
                Err(status) => bail!("{rpc}: {:?} {}", status.code(), status.message()),
            }
        }
    }

    fn ack(&self, rpc: &'static str, request_id: &str, lifecycle: u32, id: &str) {
        self.acks.lock().unwrap().push(Ack { rpc, request_id: request_id.into(), lifecycle, id: id.into() });
    }

    /// Registers the organ's document code (once per deployment).
    pub async fn setup(&self) -> Result<()> {
        let request_id = uuid::Uuid::now_v7().to_string();
        self.call("PutOrgan", || {
            let request = self.tokens.request("chaos-admin", "62-ADMIN", "620000", &["admin"], pb::PutOrganRequest {
                request_id: request_id.clone(),
                organ: Some(Organ { code: ORGAN.into(), name: "兰州市城关区市场监督管理局".into(), division_code: DIVISION.into() }),
                document_code: "兰城市监".into(),
            })?;
            let mut client = self.intake();
            Ok(async move { client.put_organ(request).await })
        })
        .await?;
        Ok(())
    }

    /// One whole lifecycle (as far as driven today); `index` distinct per
    /// lifecycle of a run. Returns what it produced; the stage reached is
    /// reported through `progress`.
    pub async fn lifecycle(&self, index: u32, progress: &Mutex<Progress>) -> Result<Outcome> {
        let mut outcome = Outcome { index, ..Outcome::default() };
        let set = |stage: Stage, outcome: &Outcome| {
            let mut p = progress.lock().unwrap();
            p.stage = stage;
            p.outcome = outcome.clone();
        };
        set(Stage::Started, &outcome);
        let serial = (self.serial_base + index) % 1_000_000;
        let credit = yuetan_intake::domain::party_id::CreditCode::synthesize(DIVISION, serial)
            .context("a credit code")?
            .as_str()
            .to_string();
        let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive().to_string();
        let party = pb::PartyInput {
            kind: pb::PartyKind::Enterprise as i32,
            name: format!("兰州混沌测试商贸有限公司{index}"),
            credit_code: credit,
            address: "甘肃省兰州市城关区张掖路1号".into(),
            phone: "0931-8888888".into(),
            representative: Some(pb::Representative { name: "王五".into(), role: "legal_representative".into(), phone: "13800000000".into() }),
            consent: Some(pb::ServiceConsent {
                channels: vec![pb::ServiceChannel::Sms as i32, pb::ServiceChannel::Email as i32],
                sms_number: format!("139{:08}", serial),
                email: format!("party{index}@example.cn"),
                consented_on: Some(Date { iso: today }),
                ..Default::default()
            }),
            ..Default::default()
        };

        // Party.
        let rid = uuid::Uuid::now_v7().to_string();
        let answer = self
            .call("RegisterParty", || {
                let request = officer(&self.tokens, pb::RegisterPartyRequest { request_id: rid.clone(), party: Some(party.clone()) })?;
                let mut client = self.intake();
                Ok(async move { client.register_party(request).await })
            })
            .await?;
        outcome.party_id = answer.party.context("the party")?.id;
        self.ack("RegisterParty", &rid, index, &outcome.party_id);
        set(Stage::PartyRegistered, &outcome);

        // Clue.
        let rid = uuid::Uuid::now_v7().to_string();
        let clue = pb::RegisterClueRequest {
            request_id: rid.clone(),
            source: pb::ClueSource::DailyInspection as i32,
            section: "市场秩序科".into(),
            party_id: outcome.party_id.clone(),
            facts: "日常检查发现该企业未按期报送2025年度报告。".into(),
            violation_type: VIOLATION.into(),
            evidence: Vec::new(),
            urgency: pb::Urgency::Normal as i32,
            received_on: None,
        };
        let answer = self
            .call("RegisterClue", || {
                let request = officer(&self.tokens, clue.clone())?;
                let mut client = self.intake();
                Ok(async move { client.register_clue(request).await })
            })
            .await?;
        outcome.clue_id = answer.id;
        self.ack("RegisterClue", &rid, index, &outcome.clue_id);
        set(Stage::ClueRegistered, &outcome);

        // Verification: the case opens, numbered.
        let rid = uuid::Uuid::now_v7().to_string();
        let verify = pb::VerifyClueRequest {
            request_id: rid.clone(),
            clue_id: outcome.clue_id.clone(),
            report: Some(pb::VerificationReport {
                facts: "经核实，该企业系首次未按期报送年度报告，尚未造成危害后果。".into(),
                provisions_violated: "《企业信息公示暂行条例》第八条".into(),
                necessity: "首次轻微违法，及时改正可不予处罚，宜约谈督促补报。".into(),
            }),
            situations: vec![pb::Situation::A1FirstMinor as i32, pb::Situation::A4ObligationNotPerformed as i32],
            exclusions: Vec::new(),
            major: false,
            co_departments: Vec::new(),
        };
        let answer = self
            .call("VerifyClue", || {
                let request = officer(&self.tokens, verify.clone())?;
                let mut client = self.intake();
                Ok(async move { client.verify_clue(request).await })
            })
            .await?;
        let case = answer.case.context("an eligible case")?;
        outcome.case_id = case.id.clone();
        outcome.case_number = case.number.clone();
        self.ack("VerifyClue", &rid, index, &outcome.case_id);
        set(Stage::CaseOpened, &outcome);

        // Submitted for legality review.
        let rid = uuid::Uuid::now_v7().to_string();
        let submit = pb::SubmitForReviewRequest {
            request_id: rid.clone(),
            case_id: outcome.case_id.clone(),
            approval_form: Some(pb::ApprovalForm {
                proposal: "拟约谈该企业法定代表人，督促其补报年度报告并建立报送制度。".into(),
                proposed_interviewers: vec!["chaos-officer".into(), "chaos-officer-2".into()],
                evidence: Vec::new(),
            }),
        };
        self.call("SubmitForReview", || {
            let request = officer(&self.tokens, submit.clone())?;
            let mut client = self.intake();
            Ok(async move { client.submit_for_review(request).await })
        })
        .await?;
        self.ack("SubmitForReview", &rid, index, &outcome.case_id);
        set(Stage::Submitted, &outcome);

        // Review opens the legality review on intake's event; pass it.
        let task = self.review_task(&outcome.case_id, rpb::TaskKind::LegalityReview).await?;
        let rid = uuid::Uuid::now_v7().to_string();
        let decide = rpb::DecideReviewRequest {
            request_id: rid.clone(),
            task_id: task.id.clone(),
            checklist: (1..=5).map(|item| rpb::ChecklistEntry { item, passed: true, comment: String::new() }).collect(),
            decision: rpb::ReviewDecision::Pass as i32,
            missing: String::new(),
            opinion: "同意约谈".into(),
        };
        self.call("DecideReview", || {
            let request = reviewer(&self.tokens, decide.clone())?;
            let mut client = self.review();
            Ok(async move { client.decide_review(request).await })
        })
        .await?;
        self.ack("DecideReview", &rid, index, &task.id);
        set(Stage::ReviewPassed, &outcome);

        // The approval task; the deputy leader approves.
        let task = self.review_task(&outcome.case_id, rpb::TaskKind::Approval).await?;
        let rid = uuid::Uuid::now_v7().to_string();
        let approve = rpb::DecideApprovalRequest {
            request_id: rid.clone(),
            task_id: task.id.clone(),
            decision: rpb::ApprovalDecision::Approve as i32,
            opinion: "同意".into(),
            collective: None,
        };
        self.call("DecideApproval", || {
            let request = deputy(&self.tokens, approve.clone())?;
            let mut client = self.review();
            Ok(async move { client.decide_approval(request).await })
        })
        .await?;
        self.ack("DecideApproval", &rid, index, &task.id);

        // Intake sees the approval (on review's event).
        self.wait_intake_status(&outcome.case_id, pb::CaseStatus::Approved).await?;
        set(Stage::Approved, &outcome);

        self.schedule(index, serial, &mut outcome, &set).await?;
        Ok(outcome)
    }

    /// Scheduling: the plan, the address, the interview, the notice, its
    /// review, its service by SMS and the receipt.
    async fn schedule(&self, index: u32, serial: u32, outcome: &mut Outcome, set: &impl Fn(Stage, &Outcome)) -> Result<()> {
        // The directory: the lifecycle's own interviewers and recorder (no booking clashes).
        let (legal, second, recorder) = (format!("chaos-int-legal-{serial}"), format!("chaos-int-{serial}"), format!("chaos-rec-{serial}"));
        let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();
        for (i, (id, name, qualified)) in [(&legal, "李法制", true), (&second, "张执法", false), (&recorder, "赵记录", false)].into_iter().enumerate() {
            let put = spb::PutOfficerRequest {
                request_id: uuid::Uuid::now_v7().to_string(),
                officer_id: id.clone(),
                name: name.into(),
                organ: ORGAN.into(),
                division: DIVISION.into(),
                certificate_number: format!("6201029{i}{serial:06}"),
                certificate_valid_until: Some(Date { iso: (today + chrono::Duration::days(3 * 365)).to_string() }),
                experience_since: Some(Date { iso: (today - chrono::Duration::days(6 * 365)).to_string() }),
                interviewer_certified_on: Some(Date { iso: (today - chrono::Duration::days(200)).to_string() }),
                legal_review_qualified: qualified,
                active: true,
            };
            self.call("PutOfficer", || {
                let request = self.tokens.request("chaos-admin", "62-ADMIN", "620000", &["admin"], put.clone())?;
                let mut client = self.scheduling();
                Ok(async move { client.put_officer(request).await })
            })
            .await?;
        }

        // Scheduling opens the plan on review.case_approved.
        let deadline = Instant::now() + self.wait_budget;
        loop {
            let request = officer(&self.tokens, spb::GetPlanRequest { case_id: outcome.case_id.clone() })?;
            let started = Instant::now();
            let answer = self.scheduling().get_plan(request).await;
            if let Some(hook) = &self.hook {
                hook("GetPlan", started.elapsed(), answer.as_ref().map(|_| Code::Ok).unwrap_or_else(|s| s.code()));
            }
            if answer.is_ok() {
                break;
            }
            if Instant::now() > deadline {
                bail!("no plan for case {} within {:?}", outcome.case_id, self.wait_budget);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        set(Stage::PlanOpened, outcome);

        // The party's signed address-confirmation (stored like evidence): SMS only.
        let form = pb::UploadEvidenceRequest {
            file_name: "送达地址确认书.txt".into(),
            media_type: "text/plain".into(),
            content: format!("送达地址确认书（混沌测试{serial}）：同意以短信 139{serial:08} 接收行政执法文书。王五（签字）").into_bytes(),
        };
        let stored = self
            .call("UploadEvidence", || {
                let request = officer(&self.tokens, form.clone())?;
                let mut client = self.intake();
                Ok(async move { client.upload_evidence(request).await })
            })
            .await?;
        let rid = uuid::Uuid::now_v7().to_string();
        let address = spb::RecordServiceAddressRequest {
            request_id: rid.clone(),
            case_id: outcome.case_id.clone(),
            channels: vec![spb::Channel::Sms as i32],
            sms_number: format!("139{serial:08}"),
            email: String::new(),
            egov_account: String::new(),
            postal_address: "甘肃省兰州市城关区张掖路1号".into(),
            confirmation_sha256: stored.sha256.clone(),
            signed_on: Some(Date { iso: today.to_string() }),
        };
        outcome.sms_number = address.sms_number.clone();
        self.call("RecordServiceAddress", || {
            let request = officer(&self.tokens, address.clone())?;
            let mut client = self.scheduling();
            Ok(async move { client.record_service_address(request).await })
        })
        .await?;
        self.ack("RecordServiceAddress", &rid, index, &outcome.case_id);

        // The interview: in person, a week ahead (a weekend moved to Monday),
        // 09:30 CST, the lifecycle's own room.
        let mut day = today + chrono::Duration::days(7);
        while matches!(chrono::Datelike::weekday(&day), chrono::Weekday::Sat | chrono::Weekday::Sun) {
            day += chrono::Duration::days(1);
        }
        let at = day.and_time(chrono::NaiveTime::from_hms_opt(9, 30, 0).unwrap_or_default()).and_utc() - chrono::Duration::hours(8);
        let rid = uuid::Uuid::now_v7().to_string();
        let plan = spb::PlanInterviewRequest {
            request_id: rid.clone(),
            case_id: outcome.case_id.clone(),
            interview_at: Some(yuetan_platform::fields::timestamp(at)),
            mode: spb::InterviewMode::InPerson as i32,
            place: format!("城关区市场监管局第{index}约谈室"),
            interviewers: vec![legal.clone(), second.clone()],
            recorder: recorder.clone(),
            experts: Vec::new(),
            co_department_participants: Vec::new(),
            materials: vec!["营业执照副本".into(), "年度报告补报材料".into()],
            contact: "信用监管科 0931-8000001".into(),
            matter: "未按期报送上一年度年度报告".into(),
            legal_basis: "《企业信息公示暂行条例》第八条".into(),
        };
        self.call("PlanInterview", || {
            let request = officer(&self.tokens, plan.clone())?;
            let mut client = self.scheduling();
            Ok(async move { client.plan_interview(request).await })
        })
        .await?;
        self.ack("PlanInterview", &rid, index, &outcome.case_id);
        set(Stage::InterviewPlanned, outcome);

        // The notice, numbered.
        let rid = uuid::Uuid::now_v7().to_string();
        let notice = self
            .call("IssueNotice", || {
                let request = officer(&self.tokens, spb::IssueNoticeRequest { request_id: rid.clone(), case_id: outcome.case_id.clone() })?;
                let mut client = self.scheduling();
                Ok(async move { client.issue_notice(request).await })
            })
            .await?;
        outcome.notice_number = notice.number.clone();
        self.ack("IssueNotice", &rid, index, &notice.document_id);
        set(Stage::NoticeIssued, outcome);

        // The legal reviewer passes the notice (R-DOC-1).
        let task = self.open_task(&outcome.case_id, rpb::TaskKind::DocumentReview).await?;
        let rid = uuid::Uuid::now_v7().to_string();
        let decide = rpb::DecideDocumentRequest {
            request_id: rid.clone(),
            task_id: task.id.clone(),
            decision: rpb::DocumentDecision::Pass as i32,
            comments: "文书要素齐全，格式规范。".into(),
        };
        self.call("DecideDocument", || {
            let request = reviewer(&self.tokens, decide.clone())?;
            let mut client = self.review();
            Ok(async move { client.decide_document(request).await })
        })
        .await?;
        self.ack("DecideDocument", &rid, index, &task.id);
        set(Stage::NoticeReviewed, outcome);

        // Sealed and served by SMS; the delivery report reaches the portal; the receipt.
        let deadline = Instant::now() + self.wait_budget;
        let mut next_repush = Instant::now() + Duration::from_secs(20);
        loop {
            let request = officer(&self.tokens, spb::ListCaseServicesRequest { case_id: outcome.case_id.clone() })?;
            let started = Instant::now();
            let answer = self.scheduling().list_case_services(request).await;
            if let Some(hook) = &self.hook {
                hook("ListCaseServices", started.elapsed(), answer.as_ref().map(|_| Code::Ok).unwrap_or_else(|s| s.code()));
            }
            if let Ok(answer) = answer {
                let services = answer.into_inner().services;
                if let Some(s) = services.iter().find(|s| s.status == spb::ServiceStatus::AwaitingOfficer as i32) {
                    bail!("service {} of case {} awaits the officer (every channel failed: {:?})", s.service_id, outcome.case_id, s.attempts);
                }
                if let Some(s) = services.iter().find(|s| s.status == spb::ServiceStatus::Served as i32 && !s.receipt_number.is_empty()) {
                    outcome.receipt_number = s.receipt_number.clone();
                    break;
                }
            }
            if Instant::now() > deadline {
                bail!("the notice of case {} not served with a receipt within {:?}", outcome.case_id, self.wait_budget);
            }
            if Instant::now() > next_repush {
                next_repush = Instant::now() + Duration::from_secs(20);
                if let Some(sms) = &self.sms {
                    for m in sms.messages().into_iter().filter(|m| m.phone == outcome.sms_number) {
                        let _ = sms.push_report(&m.out_id, true, chrono::Utc::now()).await;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        set(Stage::Served, outcome);
        Ok(())
    }

    /// Waits for the case's open review task of `kind` (any round).
    async fn open_task(&self, case_id: &str, kind: rpb::TaskKind) -> Result<rpb::Task> {
        let deadline = Instant::now() + self.wait_budget;
        loop {
            let request = reviewer(&self.tokens, rpb::GetReviewRequest { case_id: case_id.into() })?;
            let started = Instant::now();
            let answer = self.review().get_review(request).await;
            if let Some(hook) = &self.hook {
                hook("GetReview", started.elapsed(), answer.as_ref().map(|_| Code::Ok).unwrap_or_else(|s| s.code()));
            }
            if let Ok(file) = answer {
                if let Some(task) = file.into_inner().tasks.into_iter().find(|t| t.kind == kind as i32 && t.status == rpb::TaskStatus::Open as i32) {
                    return Ok(task);
                }
            }
            if Instant::now() > deadline {
                bail!("no open {kind:?} task for case {case_id} within {:?}", self.wait_budget);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits for the case's open review task of `kind` (round 1).
    async fn review_task(&self, case_id: &str, kind: rpb::TaskKind) -> Result<rpb::Task> {
        let deadline = Instant::now() + self.wait_budget;
        loop {
            let request = reviewer(&self.tokens, rpb::GetReviewRequest { case_id: case_id.into() })?;
            let started = Instant::now();
            let answer = self.review().get_review(request).await;
            if let Some(hook) = &self.hook {
                hook("GetReview", started.elapsed(), answer.as_ref().map(|_| Code::Ok).unwrap_or_else(|s| s.code()));
            }
            if let Ok(file) = answer {
                if let Some(task) = file.into_inner().tasks.into_iter().find(|t| t.kind == kind as i32 && t.round == 1) {
                    return Ok(task);
                }
            }
            if Instant::now() > deadline {
                bail!("no {kind:?} task for case {case_id} within {:?}", self.wait_budget);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn wait_intake_status(&self, case_id: &str, status: pb::CaseStatus) -> Result<()> {
        let deadline = Instant::now() + self.wait_budget;
        loop {
            let request = officer(&self.tokens, pb::GetCaseRequest { case_id: case_id.into() })?;
            let started = Instant::now();
            let answer = self.intake().get_case(request).await;
            if let Some(hook) = &self.hook {
                hook("GetCase", started.elapsed(), answer.as_ref().map(|_| Code::Ok).unwrap_or_else(|s| s.code()));
            }
            if let Ok(case) = answer {
                if case.get_ref().status == status as i32 {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("case {case_id} not {status:?} within {:?}", self.wait_budget);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
