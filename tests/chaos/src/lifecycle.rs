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
//! Stages ([`Stage`]), clue to archive: party and clue registered, clue
//! verified (case opened and numbered), submitted, legality review passed,
//! approved; scheduling: the plan opened (on review's event), the party's
//! address-confirmation recorded (SMS), the interview planned (in person,
//! its own three officers), the notice issued (numbered), passed by the
//! legal reviewer's document review, sealed and served by SMS through the
//! SMS provider peer, whose delivery report reaches the portal's callback;
//! the interview held (opening, informing, listening, two agreed items,
//! the recording, closed) and its record signed by the three officers and
//! the party on the tablet; rectification opened on the interview, its
//! notice issued, passed, sealed and served by SMS; the party's report
//! submitted through the portal (`POST /r/<token>`, multipart, with the
//! link signed by the configuration's `[links]` key as rectification signs
//! the one printed in its notice); two officers' acceptance — every fifth
//! lifecycle fails it (goal not reached → penalty hand-off), the others
//! pass and the certificate is served by SMS; supervision closes the file
//! and archives it, and the office reads the archived file's outcome.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tonic::metadata::MetadataValue;
use tonic::{Code, Request, Response, Status};
use yuetan_platform::auth::{roles, Claims, KeyAlgorithm, TokenIssuer};
use yuetan_platform::client::Routed;
use yuetan_platform::links::{LinkClaims, LinkSigner, PURPOSE_REPORT};
use yuetan_platform::Config;
use yuetan_proto::common::{Date, Organ};
use yuetan_proto::intake as pb;
use yuetan_proto::casefile as cpb;
use yuetan_proto::casefile::case_file_service_client::CaseFileServiceClient;
use yuetan_proto::intake::intake_service_client::IntakeServiceClient;
use yuetan_proto::rectification as xpb;
use yuetan_proto::rectification::rectification_service_client::RectificationServiceClient;
use yuetan_proto::review as rpb;
use yuetan_proto::review::review_service_client::ReviewServiceClient;
use yuetan_proto::scheduling as spb;
use yuetan_proto::scheduling::scheduling_service_client::SchedulingServiceClient;
use yuetan_testkit::peers::{Behaviour, EgovPeer, SmsPeer};

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
    /// Held in person and closed (steps recorded, recording uploaded).
    InterviewHeld,
    /// The record signed by the three officers and the party (tablet).
    RecordSigned,
    /// The rectification notice issued, passed, sealed and served by SMS.
    RectificationNoticed,
    /// The party's report submitted through the portal's signed link.
    Reported,
    /// Two officers answered: accepted (the certificate served) or, for
    /// every fifth lifecycle, the goal not reached → the penalty hand-off.
    Decided,
    /// Supervision closed and archived the file.
    Archived,
}

/// The last stage a lifecycle reaches.
pub const FINAL: Stage = Stage::Archived;

/// How a lifecycle's documents reach its party (the channels its
/// address-confirmation names, in order), by lifecycle index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Route {
    /// SMS; the provider peer reports delivery to the portal.
    #[default]
    Sms,
    /// E-mail; the SMTP peer accepting it is arrival in the party's system.
    Email,
    /// The e-delivery platform; its acknowledgement reaches the portal.
    Egov,
    /// SMS then e-mail: the SMS peer reports every delivery to this
    /// number failed, so scheduling falls back to e-mail.
    SmsFailsToEmail,
}

impl Route {
    /// Every fourth lifecycle takes each route; without an SMS peer to
    /// script (the benchmark), the fallback route is plain SMS.
    pub fn of(index: u32, can_fail_sms: bool) -> Route {
        match index % 4 {
            1 => Route::Email,
            2 => Route::Egov,
            3 if can_fail_sms => Route::SmsFailsToEmail,
            _ => Route::Sms,
        }
    }

    fn channels(self) -> Vec<i32> {
        match self {
            Route::Sms => vec![spb::Channel::Sms as i32],
            Route::Email => vec![spb::Channel::Email as i32],
            Route::Egov => vec![spb::Channel::Egov as i32],
            Route::SmsFailsToEmail => vec![spb::Channel::Sms as i32, spb::Channel::Email as i32],
        }
    }

    /// Messages per served document on each provider: (SMS, e-mail, e-delivery).
    pub fn messages_per_document(self) -> (usize, usize, usize) {
        match self {
            Route::Sms => (1, 0, 0),
            Route::Email => (0, 1, 0),
            Route::Egov => (0, 0, 1),
            Route::SmsFailsToEmail => (1, 1, 0),
        }
    }
}

/// What one lifecycle produced.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub index: u32,
    pub party_id: String,
    pub clue_id: String,
    pub case_id: String,
    pub case_number: String,
    /// The party's SMS number, e-mail address and e-delivery account
    /// (all consented), each its own per lifecycle; `route` says which
    /// the address-confirmation names.
    pub sms_number: String,
    pub email: String,
    pub egov_account: String,
    pub route: Route,
    pub notice_number: String,
    pub receipt_number: String,
    pub record_number: String,
    pub rectification_id: String,
    pub rectification_notice_number: String,
    /// The acceptance failed on purpose (every fifth lifecycle): handed to penalty.
    pub handed_off: bool,
    pub certificate_number: String,
    /// Documents in the archive's signed manifest.
    pub archived_documents: usize,
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
    /// Signs the party's report link the way rectification signs the one
    /// printed in its notice (the configuration's `[links]` key).
    links: Option<Arc<LinkSigner>>,
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
            links: LinkSigner::new(&config.links).ok().map(Arc::new),
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

/// [`Driver::call`] in its usual shape: `who` signs `message` (cloned for
/// each attempt) and `client.method` sends it.
macro_rules! retried {
    ($driver:expr, $rpc:literal, $who:path, $message:expr, $client:ident . $method:ident) => {
        $driver.call($rpc, || {
            let request = $who(&$driver.tokens, $message.clone())?;
            let mut client = $driver.$client();
            Ok(async move { client.$method(request).await })
        })
    };
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
/// An interviewer or the recorder of the lifecycle's panel (a case officer).
fn panel<T>(tokens: &Tokens, officer: &str, message: T) -> Result<Request<T>> {
    tokens.request(officer, ORGAN, DIVISION, &["case_officer"], message)
}
/// The second acceptance officer (the first is `chaos-officer`).
fn second_acceptor<T>(tokens: &Tokens, message: T) -> Result<Request<T>> {
    tokens.request("chaos-officer-2", ORGAN, DIVISION, &["case_officer"], message)
}
/// The archive room (reads the archived file).
fn office<T>(tokens: &Tokens, message: T) -> Result<Request<T>> {
    tokens.request("chaos-office", ORGAN, DIVISION, &["office"], message)
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
    /// The e-delivery peer, for the same re-push of its acknowledgements.
    pub egov: Option<Arc<EgovPeer>>,
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
            egov: None,
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
    fn rectification(&self) -> RectificationServiceClient<Routed> {
        RectificationServiceClient::new(self.channel.clone())
    }
    fn casefile(&self) -> CaseFileServiceClient<Routed> {
        CaseFileServiceClient::new(self.channel.clone())
    }

    /// Reads until `ready` finds what it waits for (another service's
    /// reaction to an event), at most `wait_budget`; every attempt is
    /// reported to the hook under `rpc`. Read errors are waited out too.
    async fn poll<T, R, F, Fut>(&self, rpc: &'static str, what: impl Fn() -> String, mut attempt: F, mut ready: impl FnMut(T) -> Result<Option<R>>) -> Result<R>
    where
        F: FnMut() -> Result<Fut>,
        Fut: Future<Output = Result<Response<T>, Status>>,
    {
        let deadline = Instant::now() + self.wait_budget;
        loop {
            let started = Instant::now();
            let answer = attempt()?.await;
            if let Some(hook) = &self.hook {
                hook(rpc, started.elapsed(), answer.as_ref().map(|_| Code::Ok).unwrap_or_else(|s| s.code()));
            }
            if let Ok(answer) = answer {
                if let Some(found) = ready(answer.into_inner())? {
                    return Ok(found);
                }
            }
            if Instant::now() > deadline {
                bail!("{} not within {:?}", what(), self.wait_budget);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
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
                channels: vec![pb::ServiceChannel::Sms as i32, pb::ServiceChannel::Email as i32, pb::ServiceChannel::Egov as i32],
                sms_number: format!("139{:08}", serial),
                email: format!("party{serial}@example.cn"),
                egov_account: format!("gov-account-620102-{serial:06}"),
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
        let answer = retried!(self, "RegisterClue", officer, clue, intake.register_clue)
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
        let answer = retried!(self, "VerifyClue", officer, verify, intake.verify_clue)
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
        retried!(self, "SubmitForReview", officer, submit, intake.submit_for_review)
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
        retried!(self, "DecideReview", reviewer, decide, review.decide_review)
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
        retried!(self, "DecideApproval", deputy, approve, review.decide_approval)
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
        let case_id = outcome.case_id.clone();
        self.poll(
            "GetPlan",
            || format!("a plan for case {case_id}"),
            || {
                let request = officer(&self.tokens, spb::GetPlanRequest { case_id: case_id.clone() })?;
                let mut client = self.scheduling();
                Ok(async move { client.get_plan(request).await })
            },
            |_: spb::Plan| Ok(Some(())),
        )
        .await?;
        set(Stage::PlanOpened, outcome);

        // The party's signed address-confirmation (stored like evidence): the route's channels.
        let route = Route::of(index, self.sms.is_some());
        outcome.route = route;
        outcome.sms_number = format!("139{serial:08}");
        outcome.email = format!("party{serial}@example.cn");
        outcome.egov_account = format!("gov-account-620102-{serial:06}");
        if route == Route::SmsFailsToEmail {
            if let Some(sms) = &self.sms {
                sms.script(&outcome.sms_number, Behaviour::Fail { err_code: "MOBILE_NOT_ON_SERVICE".into() });
            }
        }
        let form = pb::UploadEvidenceRequest {
            file_name: "送达地址确认书.txt".into(),
            media_type: "text/plain".into(),
            content: format!("送达地址确认书（混沌测试{serial}）：同意以 {route:?} 接收行政执法文书。王五（签字）").into_bytes(),
        };
        let stored = retried!(self, "UploadEvidence", officer, form, intake.upload_evidence)
            .await?;
        let rid = uuid::Uuid::now_v7().to_string();
        let address = spb::RecordServiceAddressRequest {
            request_id: rid.clone(),
            case_id: outcome.case_id.clone(),
            channels: route.channels(),
            sms_number: outcome.sms_number.clone(),
            email: outcome.email.clone(),
            egov_account: outcome.egov_account.clone(),
            postal_address: "甘肃省兰州市城关区张掖路1号".into(),
            confirmation_sha256: stored.sha256.clone(),
            signed_on: Some(Date { iso: today.to_string() }),
        };
        retried!(self, "RecordServiceAddress", officer, address, scheduling.record_service_address)
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
        retried!(self, "PlanInterview", officer, plan, scheduling.plan_interview)
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
        retried!(self, "DecideDocument", reviewer, decide, review.decide_document)
        .await?;
        self.ack("DecideDocument", &rid, index, &task.id);
        set(Stage::NoticeReviewed, outcome);

        // Sealed and served by SMS; the delivery report reaches the portal; the receipt.
        let number = outcome.notice_number.clone();
        outcome.receipt_number = self.served(outcome, "scheduling", &number).await?.receipt_number;
        set(Stage::Served, outcome);
        self.interview(index, serial, outcome, set, [&legal, &second, &recorder]).await?;
        self.rectify(index, outcome, set).await?;
        self.archived(outcome, set).await
    }

    /// The interview held in person (steps, recording, closed) and its
    /// record signed by the panel and by the party on the tablet.
    async fn interview(&self, index: u32, serial: u32, outcome: &mut Outcome, set: &impl Fn(Stage, &Outcome), officers: [&String; 3]) -> Result<()> {
        use spb::record_step_request::Step;
        let [legal, second, recorder] = officers;
        let case_id = outcome.case_id.clone();
        // The plan is served once scheduling recorded the receipt (R-NOTICE-3).
        self.poll(
            "GetPlan",
            || format!("the plan of case {case_id} served"),
            || {
                let request = officer(&self.tokens, spb::GetPlanRequest { case_id: case_id.clone() })?;
                let mut client = self.scheduling();
                Ok(async move { client.get_plan(request).await })
            },
            |plan: spb::Plan| Ok((plan.status == spb::PlanStatus::Served as i32).then_some(())),
        )
        .await?;
        let rid = uuid::Uuid::now_v7().to_string();
        let start = spb::StartInterviewRequest {
            request_id: rid.clone(),
            case_id: case_id.clone(),
            interviewers_present: vec![legal.clone(), second.clone()],
            opening: Some(spb::Opening { certificates_shown: true, purpose: "督促补报年度报告".into(), basis: "《企业信息公示暂行条例》第八条".into(), participants_announced: true }),
            party_representative: "王五（法定代表人）".into(),
            agent: String::new(),
        };
        retried!(self, "StartInterview", officer, start, scheduling.start_interview)
        .await?;
        self.ack("StartInterview", &rid, index, &case_id);

        // Steps 2–4: two items within 30 days (R-INT-3).
        let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();
        let item = |content: &str, days: i64| spb::RectificationItem {
            content: content.into(),
            deadline: Some(Date { iso: (today + chrono::Duration::days(days)).to_string() }),
            acceptance_standard: format!("{content}：提交书面材料并经核查合格"),
            check_method: "书面审查＋现场检查".into(),
            chief_approval: None,
        };
        let steps = [
            Step::Informing(spb::Informing {
                facts: "未按期报送上一年度年度报告".into(),
                provisions: vec!["《企业信息公示暂行条例》第八条".into()],
                evidence: vec!["日常检查记录".into()],
                rights_explained: true,
                consequences_explained: true,
                notes: String::new(),
            }),
            Step::Listening(spb::Listening { statement: "财务人员变动，遗漏报送".into(), difficulties: "不熟悉系统".into(), commitments: "十五日内补报并建立报送制度".into() }),
            Step::Agreeing(spb::Agreeing { items: vec![item("补报上一年度年度报告", 14), item("建立年度报告报送制度", 28)] }),
        ];
        for step in steps {
            let rid = uuid::Uuid::now_v7().to_string();
            let record = spb::RecordStepRequest { request_id: rid.clone(), case_id: case_id.clone(), step: Some(step) };
            retried!(self, "RecordStep", officer, record, scheduling.record_step)
            .await?;
            self.ack("RecordStep", &rid, index, &case_id);
        }
        // R-INT-2: recorded in full; the recording is uploaded, the interview closed.
        let recording = self.upload("约谈录音录像.txt", format!("约谈录音录像（混沌测试{serial}）").into_bytes()).await?;
        let rid = uuid::Uuid::now_v7().to_string();
        let close = spb::CloseInterviewRequest { request_id: rid.clone(), case_id: case_id.clone(), recording_sha256: vec![recording] };
        retried!(self, "CloseInterview", officer, close, scheduling.close_interview)
        .await?;
        self.ack("CloseInterview", &rid, index, &case_id);
        set(Stage::InterviewHeld, outcome);

        // The record, drawn up on closing; the panel signs, then the party.
        let record = self
            .poll(
                "ListRecords",
                || format!("the record of case {case_id}"),
                || {
                    let request = officer(&self.tokens, spb::ListRecordsRequest { case_id: case_id.clone() })?;
                    let mut client = self.scheduling();
                    Ok(async move { client.list_records(request).await })
                },
                |records: spb::ListRecordsResponse| Ok(records.records.into_iter().next()),
            )
            .await?;
        outcome.record_number = record.number.clone();
        for signer in [legal, second, recorder] {
            let rid = uuid::Uuid::now_v7().to_string();
            let sign = spb::SignRecordRequest { request_id: rid.clone(), record_id: record.record_id.clone() };
            self.call("SignRecord", || {
                let request = panel(&self.tokens, signer, sign.clone())?;
                let mut client = self.scheduling();
                Ok(async move { client.sign_record(request).await })
            })
            .await?;
            self.ack("SignRecord", &rid, index, &record.record_id);
        }
        let image = self.upload("当事人签名.txt", format!("当事人签名图像 王五 {}", record.number).into_bytes()).await?;
        let rid = uuid::Uuid::now_v7().to_string();
        let party_signs = spb::RecordPartySignatureRequest {
            request_id: rid.clone(),
            record_id: record.record_id.clone(),
            method: spb::SignatureMethod::Tablet as i32,
            signer_name: "王五".into(),
            image_sha256: image,
        };
        retried!(self, "RecordPartySignature", officer, party_signs, scheduling.record_party_signature)
        .await?;
        self.ack("RecordPartySignature", &rid, index, &record.record_id);
        let record_id = record.record_id.clone();
        self.poll(
            "GetRecord",
            || format!("the record {record_id} signed"),
            || {
                let request = officer(&self.tokens, spb::GetRecordRequest { record_id: record_id.clone() })?;
                let mut client = self.scheduling();
                Ok(async move { client.get_record(request).await })
            },
            |record: spb::Record| Ok((record.status == "signed").then_some(())),
        )
        .await?;
        set(Stage::RecordSigned, outcome);
        Ok(())
    }

    /// Rectification: opened on the interview; the notice issued, passed,
    /// sealed and served; the party's report through the portal; two
    /// officers' acceptance (every fifth lifecycle fails → penalty hand-off;
    /// otherwise the certificate is served).
    async fn rectify(&self, index: u32, outcome: &mut Outcome, set: &impl Fn(Stage, &Outcome)) -> Result<()> {
        let case_id = outcome.case_id.clone();
        let rect = self.rectification_in(&case_id, "open").await?;
        outcome.rectification_id = rect.rectification_id.clone();
        let rid = uuid::Uuid::now_v7().to_string();
        let issue = xpb::IssueNoticeRequest { request_id: rid.clone(), case_id: case_id.clone(), legal_basis: String::new(), consequence: String::new(), contact: "信用监管科 0931-8000001".into() };
        let notice = retried!(self, "IssueNotice(rectification)", officer, issue, rectification.issue_notice)
            .await?;
        outcome.rectification_notice_number = notice.number.clone();
        self.ack("IssueNotice(rectification)", &rid, index, &notice.document_id);
        // The legal reviewer passes it (R-DOC-1).
        let task = self.document_task(&case_id, &notice.sha256).await?;
        let rid = uuid::Uuid::now_v7().to_string();
        let decide = rpb::DecideDocumentRequest { request_id: rid.clone(), task_id: task.id.clone(), decision: rpb::DocumentDecision::Pass as i32, comments: "整改事项明确，期限合理。".into() };
        retried!(self, "DecideDocument", reviewer, decide, review.decide_document)
        .await?;
        self.ack("DecideDocument", &rid, index, &task.id);
        self.served(outcome, "rectification", &notice.number).await?;
        set(Stage::RectificationNoticed, outcome);

        // R-RECT-3: the party reports through the portal with its signed link.
        self.portal_report(outcome, &rect).await?;
        self.rectification_in(&case_id, "reported").await?;
        set(Stage::Reported, outcome);

        // R-RECT-4: two distinct officers answer.
        let fail = index % 5 == 4;
        outcome.handed_off = fail;
        let answer = |goal_reached: bool| xpb::RecordAcceptanceRequest {
            request_id: uuid::Uuid::now_v7().to_string(),
            case_id: case_id.clone(),
            complete: true,
            lawful: true,
            goal_reached,
            comments: if goal_reached { "已整改到位".into() } else { "报送制度未建立，整改目的未达到".into() },
            evidence_sha256: Vec::new(),
            reinspect_on: None,
            follow_up: if goal_reached { "三个月内回访一次".into() } else { String::new() },
        };
        let first = answer(true);
        retried!(self, "RecordAcceptance", officer, first, rectification.record_acceptance)
        .await?;
        self.ack("RecordAcceptance", &first.request_id, index, &outcome.rectification_id);
        let second = answer(!fail);
        let done = retried!(self, "RecordAcceptance", second_acceptor, second, rectification.record_acceptance)
            .await?;
        self.ack("RecordAcceptance", &second.request_id, index, &outcome.rectification_id);
        let expected = if fail { "handed_off" } else { "accepted" };
        if done.status != expected {
            bail!("case {case_id}: two acceptance answers left the rectification {} (expected {expected})", done.status);
        }
        if !fail {
            let get = xpb::GetDocumentRequest { document_id: done.certificate_document_id.clone() };
            let certificate = retried!(self, "GetDocument(rectification)", officer, get, rectification.get_document)
                .await
                .context("the certificate")?;
            outcome.certificate_number = certificate.number.clone();
            self.served(outcome, "rectification", &certificate.number).await?;
        }
        set(Stage::Decided, outcome);
        Ok(())
    }

    /// The party opens its report link and submits the report (text and a
    /// photo) — a POST retried on a transport error with the same link,
    /// which the portal records once (`reports.link_id`).
    async fn portal_report(&self, outcome: &Outcome, rect: &xpb::Rectification) -> Result<()> {
        let signer = self.tokens.links.as_ref().context("the driver signs report links with the configuration's [links] key")?;
        let base = self.portal_bases.first().context("no portal")?;
        let claims = LinkClaims {
            link_id: uuid::Uuid::now_v7().to_string(),
            document_sha256: rect.record_sha256.clone(),
            document_name: format!("行政约谈记录 {}", rect.record_number),
            service_id: rect.rectification_id.clone(),
            purpose: PURPOSE_REPORT.into(),
            organ: ORGAN.into(),
            expires_at: chrono::Utc::now() + chrono::Duration::days(30),
        };
        let url = format!("{base}/r/{}", signer.sign(&claims));
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
        let deadline = Instant::now() + self.retry_budget;
        let mut backoff = Duration::from_millis(200);
        loop {
            let form = reqwest::multipart::Form::new()
                .text("text", format!("已补报年度报告并建立报送制度（混沌测试{}），指定财务人员专人负责。", outcome.index))
                .part("files", reqwest::multipart::Part::bytes(yuetan_testkit::PNG_1X1.to_vec()).file_name("整改后照片.png").mime_str("image/png")?);
            let started = Instant::now();
            let answer = http.post(&url).multipart(form).send().await;
            let (ok, code) = match &answer {
                Ok(r) if r.status().is_success() => (true, Code::Ok),
                Ok(r) if r.status().is_server_error() => (false, Code::Unavailable),
                Ok(_) => (false, Code::InvalidArgument),
                Err(_) => (false, Code::Unavailable),
            };
            if let Some(hook) = &self.hook {
                hook("portal POST /r/…", started.elapsed(), code);
            }
            match answer {
                Ok(r) if ok => {
                    let body = r.text().await.unwrap_or_default();
                    if !body.contains("整改报告已提交") {
                        bail!("case {}: the portal answered the report without confirming it: {}", outcome.case_id, body.chars().take(200).collect::<String>());
                    }
                    return Ok(());
                }
                Ok(r) if code == Code::InvalidArgument => {
                    let status = r.status();
                    bail!("case {}: the portal refused the report ({status}): {}", outcome.case_id, r.text().await.unwrap_or_default().chars().take(300).collect::<String>());
                }
                _ if Instant::now() < deadline => {
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
                Ok(r) => bail!("case {}: the portal answered {} to the report", outcome.case_id, r.status()),
                Err(e) => bail!("case {}: the portal unreachable for the report: {e}", outcome.case_id),
            }
        }
    }

    /// Supervision closes the file and, `archive_delay_seconds` later,
    /// archives it; the office reads the archived file.
    async fn archived(&self, outcome: &mut Outcome, set: &impl Fn(Stage, &Outcome)) -> Result<()> {
        let case_id = outcome.case_id.clone();
        let file = self
            .poll(
                "GetCaseFile",
                || format!("the file of case {case_id} archived"),
                || {
                    let request = office(&self.tokens, cpb::GetCaseFileRequest { case_id: case_id.clone() })?;
                    let mut client = self.casefile();
                    Ok(async move { client.get_case_file(request).await })
                },
                |file: cpb::CaseFile| Ok((file.status == "archived").then_some(file)),
            )
            .await?;
        let expected = if outcome.handed_off { "penalty" } else { "accepted" };
        if file.outcome != expected {
            bail!("case {case_id} archived with outcome {} (expected {expected})", file.outcome);
        }
        outcome.archived_documents = file.manifest.map(|m| m.entries.len()).unwrap_or(0);
        set(Stage::Archived, outcome);
        Ok(())
    }

    /// Stores a file through intake's evidence upload; its sha256.
    async fn upload(&self, name: &str, content: Vec<u8>) -> Result<String> {
        let form = pb::UploadEvidenceRequest { file_name: name.into(), media_type: "text/plain".into(), content };
        let stored = retried!(self, "UploadEvidence", officer, form, intake.upload_evidence)
            .await?;
        Ok(stored.sha256)
    }

    /// Waits until rectification shows the case's rectification with `status`.
    async fn rectification_in(&self, case_id: &str, status: &'static str) -> Result<xpb::Rectification> {
        self.poll(
            "GetRectification",
            || format!("the rectification of case {case_id} {status}"),
            || {
                let request = officer(&self.tokens, xpb::GetRectificationRequest { case_id: case_id.into() })?;
                let mut client = self.rectification();
                Ok(async move { client.get_rectification(request).await })
            },
            |r: xpb::Rectification| Ok((r.status == status).then_some(r)),
        )
        .await
    }

    /// Waits for the open document review of the document with `sha256`.
    async fn document_task(&self, case_id: &str, sha256: &str) -> Result<rpb::Task> {
        self.poll(
            "GetReview",
            || format!("the document review of {sha256} for case {case_id}"),
            || {
                let request = reviewer(&self.tokens, rpb::GetReviewRequest { case_id: case_id.into() })?;
                let mut client = self.review();
                Ok(async move { client.get_review(request).await })
            },
            |file: rpb::ReviewFile| {
                Ok(file.tasks.into_iter().find(|t| {
                    t.kind == rpb::TaskKind::DocumentReview as i32 && t.status == rpb::TaskStatus::Open as i32 && t.document.as_ref().is_some_and(|d| d.content_sha256 == sha256)
                }))
            },
        )
        .await
    }

    /// Waits until scheduling served `number` (from `source`) with a receipt;
    /// a service that every channel failed ends the lifecycle. The SMS peer
    /// pushes a delivery report once; as a real provider retries an
    /// unanswered callback, the driver has it push the party's reports again
    /// every 20 s while the receipt is missing (the portal may have been
    /// killed while the first push was under way); the e-delivery peer's
    /// acknowledgements likewise. E-mail needs none: the SMTP peer accepting
    /// the message is its arrival.
    async fn served(&self, outcome: &Outcome, source: &'static str, number: &str) -> Result<spb::Service> {
        let case_id = outcome.case_id.clone();
        let deadline = Instant::now() + self.wait_budget;
        let mut next_repush = Instant::now() + Duration::from_secs(20);
        loop {
            let request = officer(&self.tokens, spb::ListCaseServicesRequest { case_id: case_id.clone() })?;
            let started = Instant::now();
            let answer = self.scheduling().list_case_services(request).await;
            if let Some(hook) = &self.hook {
                hook("ListCaseServices", started.elapsed(), answer.as_ref().map(|_| Code::Ok).unwrap_or_else(|s| s.code()));
            }
            if let Ok(answer) = answer {
                let ours = answer.into_inner().services.into_iter().find(|s| s.source_service == source && s.document_number == number);
                if let Some(s) = ours.as_ref().filter(|s| s.status == spb::ServiceStatus::AwaitingOfficer as i32) {
                    bail!("{number} of case {case_id} awaits the officer (every channel failed: {:?})", s.attempts);
                }
                if let Some(s) = ours.filter(|s| s.status == spb::ServiceStatus::Served as i32 && !s.receipt_number.is_empty()) {
                    return Ok(s);
                }
            }
            if Instant::now() > deadline {
                bail!("{number} of case {case_id} not served with a receipt within {:?}", self.wait_budget);
            }
            if Instant::now() > next_repush {
                next_repush = Instant::now() + Duration::from_secs(20);
                let delivered = outcome.route != Route::SmsFailsToEmail;
                if let Some(sms) = self.sms.as_ref().filter(|_| matches!(outcome.route, Route::Sms | Route::SmsFailsToEmail)) {
                    for m in sms.messages().into_iter().filter(|m| m.phone == outcome.sms_number) {
                        let _ = sms.push_report(&m.out_id, delivered, chrono::Utc::now()).await;
                    }
                }
                if let Some(egov) = self.egov.as_ref().filter(|_| outcome.route == Route::Egov) {
                    for m in egov.messages().into_iter().filter(|m| m.recipient_account == outcome.egov_account) {
                        let _ = egov.push_ack(&m.msg_id, true, chrono::Utc::now()).await;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Waits for the case's open review task of `kind` (any round).
    async fn open_task(&self, case_id: &str, kind: rpb::TaskKind) -> Result<rpb::Task> {
        self.task_where(case_id, kind, |t| t.status == rpb::TaskStatus::Open as i32).await
    }

    /// Waits for the case's review task of `kind` (round 1).
    async fn review_task(&self, case_id: &str, kind: rpb::TaskKind) -> Result<rpb::Task> {
        self.task_where(case_id, kind, |t| t.round == 1).await
    }

    async fn task_where(&self, case_id: &str, kind: rpb::TaskKind, wanted: impl Fn(&rpb::Task) -> bool) -> Result<rpb::Task> {
        self.poll(
            "GetReview",
            || format!("a {kind:?} task for case {case_id}"),
            || {
                let request = reviewer(&self.tokens, rpb::GetReviewRequest { case_id: case_id.into() })?;
                let mut client = self.review();
                Ok(async move { client.get_review(request).await })
            },
            |file: rpb::ReviewFile| Ok(file.tasks.into_iter().find(|t| t.kind == kind as i32 && wanted(t))),
        )
        .await
    }

    async fn wait_intake_status(&self, case_id: &str, status: pb::CaseStatus) -> Result<()> {
        self.poll(
            "GetCase",
            || format!("case {case_id} {status:?}"),
            || {
                let request = officer(&self.tokens, pb::GetCaseRequest { case_id: case_id.into() })?;
                let mut client = self.intake();
                Ok(async move { client.get_case(request).await })
            },
            |case: pb::Case| Ok((case.status == status as i32).then_some(())),
        )
        .await
    }
}
