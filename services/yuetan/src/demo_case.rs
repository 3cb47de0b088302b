//! `yuetan demo case`: runs a sample case through a running platform
//! (`yuetan serve all`), over gRPC as an officer would, and prints what the
//! platform answered and every event of the case seen on the bus:
//! administrator registers the organ's document code → officer registers a
//! party (with electronic-service consent), uploads an inspection record,
//! registers a clue → verifies it (screening, repeat check, case number) →
//! submits the approval form to legality review → review opens the legality
//! review on intake's event; a legal reviewer of the organ (not the proposer:
//! separation of duties) passes all five points → the approval task opens;
//! the deputy leader (the leader, for a major case) approves. Scheduling
//! then plans a video interview, serves the notice, and the interview is held
//! on the local Janus to a signed record (demo_scheduling.rs, demo_interview.rs).
//! Rectification follows (demo_rectification.rs): the notice, a ledger entry,
//! the party's report through the portal, acceptance by two officers and the
//! certificate; a second sample case, run the same way to its signed record,
//! fails acceptance and is handed to the penalty procedure. Supervision
//! ends it (demo_supervision.rs): both cases' deadline cards, the county's
//! KPI line and the city's roll-up of the day.
//!
//! Tokens are signed with the configured HS256 development key, so the demo
//! runs against a local deployment only.

use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use futures::StreamExt;
use prost::Message;
use tonic::metadata::MetadataValue;
use yuetan_platform::client::{ClientSettings, Routed};
use tonic::Request;
use yuetan_intake::domain::party_id::CreditCode;
use yuetan_platform::auth::{roles, Claims, KeyAlgorithm, TokenIssuer};
use yuetan_platform::Config;
use yuetan_proto::common::{Date, Organ};
use yuetan_proto::events::{event::Payload, Event};
use yuetan_proto::intake as pb;
use yuetan_proto::intake::intake_service_client::IntakeServiceClient;
use yuetan_proto::review as review_pb;
use yuetan_proto::review::review_service_client::ReviewServiceClient;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The gRPC address of `yuetan serve all`: every call goes there.
    /// Without it, each call goes to its service's processes as `[client]
    /// endpoints` lists them (a split deployment: `deploy/local/up.sh
    /// --split`), and services not listed to grpc.listen.
    #[arg(long)]
    server: Option<String>,
}

pub(crate) struct Tokens {
    issuer: TokenIssuer,
    config: Config,
}

impl Tokens {
    pub(crate) fn bearer<T>(&self, officer: &str, organ: &str, division: &str, roles: &[&str], message: T) -> anyhow::Result<Request<T>> {
        let claims = Claims::for_officer(
            officer,
            "演示用户",
            organ,
            division,
            roles,
            &self.config.auth.issuer,
            &self.config.auth.audience,
            chrono::Duration::minutes(10),
            chrono::Utc::now(),
        );
        let mut request = Request::new(message);
        let value: MetadataValue<_> = format!("Bearer {}", self.issuer.issue(&claims)?).parse()?;
        request.metadata_mut().insert("authorization", value);
        Ok(request)
    }

    /// As the demo's case officer of the Chengguan market supervision bureau.
    pub(crate) fn officer<T>(&self, message: T) -> anyhow::Result<Request<T>> {
        self.bearer(PROPOSER, ORGAN, DIVISION, &["case_officer", "section_chief"], message)
    }

    /// As the organ's legal reviewer (法制审核): another officer than the proposer.
    pub(crate) fn reviewer<T>(&self, message: T) -> anyhow::Result<Request<T>> {
        self.bearer(REVIEWER, ORGAN, DIVISION, &[roles::LEGAL_REVIEWER], message)
    }

    /// As the organ's approver: the deputy leader, or the leader for a major case.
    fn approver<T>(&self, role: &str, message: T) -> anyhow::Result<Request<T>> {
        let officer = if role == roles::LEADER { "demo-leader-1" } else { "demo-deputy-leader-1" };
        self.bearer(officer, ORGAN, DIVISION, &[role], message)
    }
}

/// The case officer who proposes the interview.
pub(crate) const PROPOSER: &str = "demo-officer-1";
const REVIEWER: &str = "demo-reviewer-1";
/// How long the demo waits for review to open a task after the event that opens it.
const TASK_WAIT: Duration = Duration::from_secs(20);

pub(crate) const ORGAN: &str = "620102-SJ";
pub(crate) const DIVISION: &str = "620102";

pub async fn run(config_file: Option<&Path>, args: Args) -> anyhow::Result<ExitCode> {
    let config = Config::load("demo", config_file)?;
    let key = config.auth.keys.iter().find(|k| k.algorithm == KeyAlgorithm::HS256 && config.auth.allow_hs256)
        .context("the case demo signs its tokens with an HS256 development key; configure one (deploy/local/yuetan.toml)")?;
    let issuer = TokenIssuer::hs256(&key.kid, key.secret.as_deref().context("the HS256 key has no secret")?);
    let tokens = Tokens { issuer, config: config.clone() };
    // One address for everything (`--server`), or each service's processes.
    let (channel, server) = match &args.server {
        Some(server) => (Routed::new(server, &ClientSettings::default())?, server.clone()),
        None => {
            let settings: ClientSettings = config.section("client")?;
            let split: Vec<&str> = settings.endpoints.keys().map(String::as_str).collect();
            let server = if split.is_empty() {
                format!("http://{}", config.grpc.listen)
            } else {
                format!("the [client] endpoints of {} (others: http://{})", split.join(", "), config.grpc.listen)
            };
            (Routed::from_config(&config)?, server)
        }
    };

    let nats_url = config.nats.url.expose();
    let nats = yuetan_platform::bus::client_options(nats_url)
        .connect(yuetan_platform::bus::servers(nats_url))
        .await
        .with_context(|| format!("connecting to NATS at {}", yuetan_platform::bus::redact_urls(nats_url)))?;
    // Subscribed before anything happens, so no event of the case is missed.
    let prefix = &config.nats.subject_prefix;
    let mut events = futures::stream::select_all([
        nats.subscribe(format!("{prefix}.*.*.*.intake.>")).await?,
        nats.subscribe(format!("{prefix}.*.*.*.review.>")).await?,
        nats.subscribe(format!("{prefix}.*.*.*.scheduling.>")).await?,
        nats.subscribe(format!("{prefix}.*.*.*.portal.>")).await?,
        nats.subscribe(format!("{prefix}.*.*.*.rectification.>")).await?,
    ]);
    let mut intake = IntakeServiceClient::new(channel.clone());

    intake
        .put_organ(tokens.bearer("demo-admin", "62-ADMIN", "620000", &["admin"], pb::PutOrganRequest {
            request_id: String::new(),
            organ: Some(Organ { code: ORGAN.into(), name: "兰州市城关区市场监督管理局".into(), division_code: DIVISION.into() }),
            document_code: "兰城市监".into(),
        })?)
        .await
        .with_context(|| format!("calling intake at {server}; is `yuetan serve all` (or each service) running?"))?;
    // A new sample enterprise each run: the same one twice would be a repeat (X2).
    let serial = rand::random::<u32>() % 1_000_000;
    let first = sample_case(&config, &channel, &tokens, serial).await?;
    // Past the signed record: rectification (notice, ledger, the party's report
    // through the portal, acceptance by two officers, the certificate).
    let accepted = crate::demo_rectification::accepted(&config, channel.clone(), &tokens, &first.case_id, serial).await?;
    // A second sample party and case, the same way to its signed record; its
    // rectification fails acceptance and is handed to the penalty procedure.
    let serial2 = (serial + 500_000) % 1_000_000;
    println!("second     a second sample case (serial {serial2}): its rectification fails acceptance and is handed to penalty");
    let second = sample_case(&config, &channel, &tokens, serial2).await?;
    let handed = crate::demo_rectification::handed_off(&config, channel.clone(), &tokens, &second.case_id, serial2).await?;

    // The events of the first case, as any subscriber of the stream sees them,
    // printed in the case's order (each join and leave: three participants);
    // then the rectification events of both cases.
    let case_events: &[(&str, usize)] = &[
        ("intake.clue_registered", 1),
        ("intake.clue_verified", 1),
        ("intake.case_opened", 1),
        ("intake.case_submitted", 1),
        ("review.review_opened", 1),
        ("review.review_passed", 1),
        ("review.case_approved", 1),
        ("scheduling.plan_opened", 1),
        ("scheduling.interview_planned", 1),
        ("scheduling.notice_issued", 1),
        ("scheduling.document_review_requested", 1),
        ("review.document_review_decided", 1),
        ("scheduling.service_requested", 1),
        ("scheduling.document_served", 1),
        ("scheduling.participant_joined", 3),
        ("scheduling.interview_started", 1),
        ("scheduling.participant_left", 3),
        ("scheduling.interview_held", 1),
        ("scheduling.record_signed", 1),
    ];
    // Accepted: the notice and the certificate are each sealed and served.
    let accepted_events: &[(&str, usize)] = &[
        ("rectification.opened", 1),
        ("rectification.notice_issued", 1),
        ("rectification.document_review_requested", 1),
        ("rectification.service_requested", 2),
        ("rectification.ledger_entry_added", 1),
        ("portal.report_submitted", 1),
        ("rectification.report_submitted", 1),
        ("rectification.accepted", 1),
    ];
    let handed_events: &[(&str, usize)] = &[
        ("rectification.opened", 1),
        ("rectification.notice_issued", 1),
        ("rectification.document_review_requested", 1),
        ("rectification.service_requested", 1),
        ("rectification.report_submitted", 1),
        ("rectification.acceptance_failed", 1),
        ("rectification.penalty_handoff", 1),
    ];
    // (part, event type, how many): part 0 the first case, 1 its rectification, 2 the second case's.
    let expected: Vec<(usize, &str, usize)> = [case_events, accepted_events, handed_events]
        .iter()
        .enumerate()
        .flat_map(|(part, list)| list.iter().map(move |(t, n)| (part, *t, *n)))
        .collect();
    let wanted = |part: usize, event_type: &str| expected.iter().find(|(p, t, _)| *p == part && *t == event_type).map(|(_, _, n)| *n);
    let count = |seen: &HashMap<(usize, String), Vec<String>>, part: usize, t: &str| seen.get(&(part, t.to_string())).map_or(0, Vec::len);
    let complete = |seen: &HashMap<(usize, String), Vec<String>>| expected.iter().all(|(p, t, n)| count(seen, *p, t) >= *n);
    let mut seen: HashMap<(usize, String), Vec<String>> = HashMap::new();
    let mut kept: Vec<Event> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !complete(&seen) {
        let Ok(Some(message)) = tokio::time::timeout_at(deadline, events.next()).await else {
            let missing: Vec<String> = expected.iter().filter(|(p, t, n)| count(&seen, *p, t) < *n).map(|(p, t, _)| format!("{t} (part {p})")).collect();
            bail!("the cases' events {missing:?} did not appear on the bus within 30 s");
        };
        let Ok(event) = Event::decode(message.payload.as_ref()) else { continue };
        let rectification = event.r#type.starts_with("rectification.") || event.r#type == "portal.report_submitted";
        let part = if event.case_id == first.case_id || matches!(&event.payload, Some(Payload::ClueRegistered(c)) if c.clue_id == first.clue_id) {
            if rectification { 1 } else { 0 }
        } else if matches!(&event.payload, Some(Payload::PortalReportSubmitted(r)) if r.rectification_id == accepted.rectification_id) {
            1
        } else if event.case_id == second.case_id && rectification {
            2
        } else {
            continue;
        };
        let Some(n) = wanted(part, &event.r#type) else { continue };
        let lines = seen.entry((part, event.r#type.clone())).or_default();
        if lines.len() < n {
            let gist = crate::demo_rectification::detail(&event).unwrap_or_else(|| detail(&event));
            let line = format!("event      {:<38} subject={} case_version={} id={}{gist}", event.r#type, message.subject, event.case_version, event.id);
            lines.push(line);
            kept.push(event);
        }
    }
    for (part, event_type, _) in &expected {
        if *part == 1 && event_type.starts_with("rectification.opened") {
            println!("events     of the first case's rectification ({}):", first.number);
        }
        if *part == 2 && event_type.starts_with("rectification.opened") {
            println!("events     of the second case's rectification ({}):", second.number);
        }
        for line in &seen[&(*part, event_type.to_string())] {
            println!("{line}");
        }
    }
    // The scheduling events the contract fixes (issue 9, the interview), and
    // which of them this run produced; the others need a failure or time to pass.
    for (event_type, when) in SCHEDULING_EVENTS {
        let mark = if seen.contains_key(&(0, event_type.to_string())) { "seen in this run" } else { when };
        println!("contract   {event_type:<38} {mark}");
    }
    for (event_type, when) in crate::demo_rectification::RECTIFICATION_EVENTS {
        let mark = if seen.keys().any(|(_, t)| t == event_type) { "seen in this run" } else { when };
        println!("contract   {event_type:<38} {mark}");
    }
    crate::demo_rectification::print_outcomes(&accepted, &handed, &kept);
    // Supervision: the cases' cards, the county's KPI line, the city's roll-up.
    crate::demo_supervision::print(&config, channel.clone(), &tokens, &[(first.case_id.as_str(), first.number.as_str()), (second.case_id.as_str(), second.number.as_str())]).await?;
    // Issue 13: the first case's electronic file, downloaded and verified.
    let archived = crate::demo_archive::print(&config, channel.clone(), &tokens, &first.case_id, &first.number).await?;
    let total: usize = seen.values().map(Vec::len).sum();
    let numbers = &first.numbers;
    println!(
        "demo ok: case {} approved, notice {} served by SMS and e-mail, outline {}, video interview held on Janus, record {} signed; rectification notice {}, report through the portal, certificate {}; case {} handed to penalty after a failed acceptance (record {}); case {} archived with {} documents ({}); {total} events seen on the bus",
        first.number, numbers.notice, numbers.outline, numbers.record, accepted.notice_number, accepted.certificate_number, second.number, second.numbers.record, first.number, archived.documents, archived.tar.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// One sample case: a party, a clue, verification, the case submitted,
/// reviewed and approved; then scheduling to the signed record.
struct Sample {
    case_id: String,
    clue_id: String,
    number: String,
    numbers: crate::demo_scheduling::Numbers,
}

async fn sample_case(config: &Config, channel: &Routed, tokens: &Tokens, serial: u32) -> anyhow::Result<Sample> {
    let mut intake = IntakeServiceClient::new(channel.clone());
    let mut review = ReviewServiceClient::new(channel.clone());
    let credit_code = CreditCode::synthesize(DIVISION, serial).context("sample credit code")?;
    let party = intake
        .register_party(tokens.officer(pb::RegisterPartyRequest {
            request_id: format!("demo-party-{serial}"),
            party: Some(pb::PartyInput {
                kind: pb::PartyKind::Enterprise as i32,
                name: format!("兰州示范商贸有限公司（演示{serial}）"),
                credit_code: credit_code.to_string(),
                address: "甘肃省兰州市城关区张掖路1号".into(),
                phone: "0931-8000000".into(),
                representative: Some(pb::Representative { name: "王五".into(), role: "legal_representative".into(), phone: "13800000000".into() }),
                consent: Some(pb::ServiceConsent {
                    channels: vec![pb::ServiceChannel::Sms as i32],
                    sms_number: "13800000000".into(),
                    consented_on: Some(Date { iso: chrono::Utc::now().format("%Y-%m-%d").to_string() }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        })?)
        .await?
        .into_inner()
        .party
        .context("no party in the answer")?;
    println!("party      {} {} ({})", party.id, party.name, party.credit_code);
    let evidence = intake
        .upload_evidence(tokens.officer(pb::UploadEvidenceRequest {
            file_name: "现场检查笔录.txt".into(),
            media_type: "text/plain".into(),
            content: format!("现场检查笔录：{} 未按期报送年度报告。", party.name).into_bytes(),
        })?)
        .await?
        .into_inner();
    println!("evidence   sha256 {}", evidence.sha256);
    let clue = intake
        .register_clue(tokens.officer(pb::RegisterClueRequest {
            request_id: format!("demo-clue-{serial}"),
            source: pb::ClueSource::DailyInspection as i32,
            section: "信用监管科".into(),
            party_id: party.id.clone(),
            facts: "日常检查发现该企业未按期报送上一年度年度报告。".into(),
            violation_type: "SJ-ANNUAL-REPORT".into(),
            evidence: vec![pb::EvidenceRef { kind: "inspection_record".into(), ..evidence.clone() }],
            urgency: pb::Urgency::Normal as i32,
            received_on: None,
        })?)
        .await?
        .into_inner();
    let deadline = clue.verification_deadline.as_ref().map(|d| d.iso.clone()).unwrap_or_default();
    println!("clue       {} registered; verify by {deadline} (3 working days, R-START-2)", clue.id);
    let verified = intake
        .verify_clue(tokens.officer(pb::VerifyClueRequest {
            request_id: format!("demo-verify-{serial}"),
            clue_id: clue.id.clone(),
            report: Some(pb::VerificationReport {
                facts: "经核实，该企业系首次未按期报送年度报告，未造成危害后果。".into(),
                provisions_violated: "《企业信息公示暂行条例》第八条".into(),
                necessity: "首次轻微违法，及时改正可不予处罚，宜约谈督促补报。".into(),
            }),
            situations: vec![pb::Situation::A1FirstMinor as i32, pb::Situation::A4ObligationNotPerformed as i32],
            exclusions: Vec::new(),
            major: false,
            co_departments: Vec::new(),
        })?)
        .await?
        .into_inner();
    let case = verified.case.context("no case in the answer")?;
    if verified.outcome != pb::Outcome::Eligible as i32 {
        bail!("the sample clue was excluded: {:?}", verified.exclusions);
    }
    println!("case       {} opened, number {}", case.id, case.number);
    let submitted = intake
        .submit_for_review(tokens.officer(pb::SubmitForReviewRequest {
            request_id: format!("demo-submit-{serial}"),
            case_id: case.id.clone(),
            approval_form: Some(pb::ApprovalForm {
                proposal: "拟约谈该企业法定代表人，督促其补报年度报告。".into(),
                proposed_interviewers: vec![PROPOSER.into(), "demo-officer-2".into()],
                evidence: vec![evidence],
            }),
        })?)
        .await?
        .into_inner();
    println!("case       {} submitted for legality review (round {})", submitted.number, submitted.review_round);


    // Review opens the legality review when intake's case_submitted reaches it.
    let (file, task) = wait_for_task(&mut review, tokens, &case.id, |t| {
        t.kind == review_pb::TaskKind::LegalityReview as i32 && t.round == submitted.review_round && t.status == review_pb::TaskStatus::Open as i32
    })
    .await
    .context("waiting for the legality review")?;
    let checklist = [
        review_pb::ChecklistItem::ProperParty,
        review_pb::ChecklistItem::FactsClear,
        review_pb::ChecklistItem::EvidenceSufficient,
        review_pb::ChecklistItem::LawCorrectlyApplied,
        review_pb::ChecklistItem::ProcedureLawful,
    ]
    .into_iter()
    .map(|item| review_pb::ChecklistEntry { item: item as i32, passed: true, comment: String::new() })
    .collect();
    let reviewed = review
        .decide_review(tokens.reviewer(review_pb::DecideReviewRequest {
            request_id: format!("demo-review-{serial}"),
            task_id: task.id.clone(),
            checklist,
            decision: review_pb::ReviewDecision::Pass as i32,
            missing: String::new(),
            opinion: "主体适格，事实清楚，证据充分，适用法律正确，程序合法，同意约谈。".into(),
        })?)
        .await?
        .into_inner();
    let deadline = reviewed.deadline.as_ref().map(|d| d.iso.clone()).unwrap_or_default();
    println!("review     {} legality review {} (round {}, deadline {deadline})", file.case_number, past_tense(&reviewed.decision), reviewed.round);

    // The pass opened the approval: the deputy leader's, or the leader's for a major case.
    let role = if file.major { roles::LEADER } else { roles::DEPUTY_LEADER };
    let (_, approval) = wait_for_task(&mut review, tokens, &case.id, |t| {
        t.kind == review_pb::TaskKind::Approval as i32 && t.status == review_pb::TaskStatus::Open as i32
    })
    .await
    .context("waiting for the approval task")?;
    let approved = review
        .decide_approval(tokens.approver(role, review_pb::DecideApprovalRequest {
            request_id: format!("demo-approve-{serial}"),
            task_id: approval.id.clone(),
            decision: review_pb::ApprovalDecision::Approve as i32,
            opinion: "同意约谈该企业法定代表人，督促其补报年度报告。".into(),
            collective: None,
        })?)
        .await?
        .into_inner();
    println!("approval   {} {} by {}", file.case_number, past_tense(&approved.decision), role.replace('_', " "));

    // Past approval: plan, notice, review of the notice, seal, service (issue 9);
    // then the video interview on the local Janus and its signed record.
    let numbers = crate::demo_scheduling::run(config, channel.clone(), tokens, &case.id, serial).await?;
    Ok(Sample { case_id: case.id, clue_id: clue.id, number: submitted.number, numbers })
}


/// The event names of scheduling's contract (issue 9), with when each is published.
const SCHEDULING_EVENTS: &[(&str, &str)] = &[
    ("scheduling.plan_opened", "on review.case_approved"),
    ("scheduling.interview_planned", "on PlanInterview"),
    ("scheduling.notice_issued", "on IssueNotice"),
    ("scheduling.service_requested", "when a service starts"),
    ("scheduling.document_served", "when the document reaches the party"),
    ("scheduling.service_failed", "not in this run: when a channel fails (bounce, failed report, no report in time)"),
    ("scheduling.notice_deadline_missed", "not in this run: 2 working days after approval without a notice"),
    ("scheduling.reschedule_needed", "not in this run: when service comes too late for the planned time"),
    ("scheduling.interview_started", "on StartInterview"),
    ("scheduling.participant_joined", "when Janus reports a participant in the room"),
    ("scheduling.participant_left", "when Janus reports a participant gone"),
    ("scheduling.interview_held", "on CloseInterview"),
    ("scheduling.record_signed", "when the last signature is in"),
    ("scheduling.party_absent", "not in this run: on RecordPartyAbsent (no-show or left)"),
    ("scheduling.interview_refused", "not in this run: on CloseInterviewAsRefused"),
    ("scheduling.record_overdue", "not in this run: 5 working days after the interview without a signed record"),
    ("scheduling.criminal_clue_transferred", "not in this run: on FlagCriminalClue (R-INT-5)"),
];

/// The payload's gist for the interview's events.
fn detail(event: &Event) -> String {
    let cst = |at: Option<&prost_types::Timestamp>| {
        yuetan_platform::fields::from_timestamp(at).map(|t| (t + chrono::Duration::hours(8)).format("%H:%M:%S").to_string()).unwrap_or_default()
    };
    match &event.payload {
        Some(Payload::InterviewStarted(e)) => format!(" mode={} room={} present={}", e.mode, e.room_id, e.interviewers_present.join(",")),
        Some(Payload::ParticipantJoined(e)) => format!(" {} ({}) at {} CST via {}", e.participant_key, e.role, cst(e.at.as_ref()), e.source),
        Some(Payload::ParticipantLeft(e)) => format!(" {} ({}) at {} CST via {}", e.participant_key, e.role, cst(e.at.as_ref()), e.source),
        Some(Payload::InterviewHeld(e)) => {
            format!(" items={} record_due={}", e.items.len(), e.record_due.as_ref().map(|d| d.iso.as_str()).unwrap_or_default())
        }
        Some(Payload::RecordSigned(e)) => format!(" {} v{} signers={}", e.number, e.version, e.signers.join(",")),
        _ => String::new(),
    }
}

/// "pass" → "passed", "approve" → "approved" (the decisions the demo makes).
fn past_tense(decision: &str) -> String {
    match decision {
        "pass" => "passed".into(),
        "approve" => "approved".into(),
        other => format!("decided {other:?}"),
    }
}

/// Polls the case's review file, as the organ's legal reviewer, until a task
/// of it matches `wanted` (review opens tasks on events, a moment after the
/// call that caused them). The file is `NOT_FOUND` until review has learned
/// the case.
pub(crate) async fn wait_for_task(
    review: &mut ReviewServiceClient<Routed>,
    tokens: &Tokens,
    case_id: &str,
    wanted: impl Fn(&review_pb::Task) -> bool,
) -> anyhow::Result<(review_pb::ReviewFile, review_pb::Task)> {
    let deadline = tokio::time::Instant::now() + TASK_WAIT;
    let mut last = String::from("review has not learned the case");
    loop {
        match review.get_review(tokens.reviewer(review_pb::GetReviewRequest { case_id: case_id.to_string() })?).await {
            Ok(file) => {
                let file = file.into_inner();
                if let Some(task) = file.tasks.iter().find(|t| wanted(t)).cloned() {
                    return Ok((file, task));
                }
                last = format!("the case is {}", file.status);
            }
            Err(status) if status.code() == tonic::Code::NotFound => {}
            Err(status) => return Err(status.into()),
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("no such task within {} s ({last}); is review running (`yuetan serve all`)?", TASK_WAIT.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
