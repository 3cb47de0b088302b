//! The scheduling part of `yuetan demo case`, after approval: the IT
//! operator fills the officer directory; the case officer records the party's
//! signed address-confirmation (送达地址确认书), plans the interview and
//! issues the notice; the legal reviewer passes it; scheduling seals it and
//! serves it by SMS (the local gateway's delivery report, through the
//! portal), then — asked by the officer — by e-mail too (the local SMTP
//! server's acceptance); each service ends with a delivery receipt. The
//! interview is a video interview: it is then held on the local Janus and
//! ends in a signed record (demo_interview.rs).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use chrono::{Duration as Span, NaiveTime, Utc};
use yuetan_platform::client::Routed;
use yuetan_calendar::Calendar;
use yuetan_platform::fields::{cst_date, date, timestamp};
use yuetan_platform::Config;
use yuetan_proto::intake as ipb;
use yuetan_proto::intake::intake_service_client::IntakeServiceClient;
use yuetan_proto::review as review_pb;
use yuetan_proto::review::review_service_client::ReviewServiceClient;
use yuetan_proto::scheduling as pb;
use yuetan_proto::scheduling::scheduling_service_client::SchedulingServiceClient;

use crate::demo_case::{wait_for_task, Tokens, DIVISION, ORGAN};

/// How long the demo waits for a step that happens on an event or a report.
const WAIT: Duration = Duration::from_secs(30);

/// The party's addresses in the sample confirmation form.
const PHONE: &str = "13800000000";
const EMAIL: &str = "wangwu@demo-party.example.cn";

/// What the scheduling stage produced, for the summary line.
pub struct Numbers {
    pub notice: String,
    pub outline: String,
    pub record: String,
}

/// Runs the scheduling stage of the case, the interview included.
pub async fn run(config: &Config, channel: Routed, tokens: &Tokens, case_id: &str, serial: u32) -> anyhow::Result<Numbers> {
    let mut scheduling = SchedulingServiceClient::new(channel.clone());
    let mut intake = IntakeServiceClient::new(channel.clone());
    let mut review = ReviewServiceClient::new(channel.clone());

    // The directory (R-INT-1): two qualified interviewers, one with legal-review
    // qualification, and a recorder; new ids each run, so no booking clashes.
    let (legal, second, recorder) = (format!("demo-int-legal-{serial}"), format!("demo-int-{serial}"), format!("demo-rec-{serial}"));
    for (i, (id, name, qualified)) in [(&legal, "李法制", true), (&second, "张执法", false), (&recorder, "赵记录", false)].into_iter().enumerate() {
        scheduling
            .put_officer(tokens.bearer("demo-admin", "62-ADMIN", "620000", &["admin"], pb::PutOfficerRequest {
                request_id: format!("demo-officer-{id}"),
                officer_id: id.clone(),
                name: name.into(),
                organ: ORGAN.into(),
                division: DIVISION.into(),
                // Each officer's own 行政执法证 number.
                certificate_number: format!("6201022{i}{serial:06}"),
                certificate_valid_until: Some(date(cst_date(Utc::now()) + Span::days(3 * 365))),
                experience_since: Some(date(cst_date(Utc::now()) - Span::days(6 * 365))),
                interviewer_certified_on: Some(date(cst_date(Utc::now()) - Span::days(200))),
                legal_review_qualified: qualified,
                active: true,
            })?)
            .await?;
    }
    println!("directory  {legal} (legal-review qualified), {second}, recorder {recorder}");

    // Scheduling opens the plan when review.case_approved reaches it.
    let plan = wait(|| {
        let mut scheduling = scheduling.clone();
        let request = tokens.officer(pb::GetPlanRequest { case_id: case_id.into() });
        async move {
            match scheduling.get_plan(request?).await {
                Ok(plan) => Ok(Some(plan.into_inner())),
                Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
                Err(status) => Err(status.into()),
            }
        }
    })
    .await
    .context("waiting for scheduling to open the plan (is `yuetan serve all` running scheduling?)")?;
    let deadline = plan.notice_deadline.as_ref().map(|d| d.iso.clone()).unwrap_or_default();
    println!("plan       {} opened; the notice is due by {deadline} (2 working days, R-NOTICE-1)", plan.plan_id);

    // The party's signed address-confirmation, stored like any evidence.
    let form = intake
        .upload_evidence(tokens.officer(ipb::UploadEvidenceRequest {
            file_name: "送达地址确认书.txt".into(),
            media_type: "text/plain".into(),
            content: format!("送达地址确认书（演示{serial}）：同意以短信 {PHONE}、电子邮件 {EMAIL} 接收行政执法文书。王五（签字）").into_bytes(),
        })?)
        .await?
        .into_inner();
    let address = scheduling
        .record_service_address(tokens.officer(pb::RecordServiceAddressRequest {
            request_id: format!("demo-address-{serial}"),
            case_id: case_id.into(),
            channels: vec![pb::Channel::Sms as i32, pb::Channel::Email as i32],
            sms_number: PHONE.into(),
            email: EMAIL.into(),
            egov_account: String::new(),
            postal_address: "甘肃省兰州市城关区张掖路1号".into(),
            confirmation_sha256: form.sha256.clone(),
            signed_on: Some(date(cst_date(Utc::now()))),
        })?)
        .await?
        .into_inner();
    println!("consent    SMS {} and e-mail {} (送达地址确认书 sha256 {})", address.sms_number_masked, address.email_masked, address.confirmation_sha256);

    // The interview: a video interview (R-INT-2) the next working day, 09:30
    // China Standard Time (R-NOTICE-3: after the lead time from service).
    let day = Calendar::builtin().add_working_days(cst_date(Utc::now()), 1).context("calendar")?.value;
    let interview_at = day.and_time(NaiveTime::from_hms_opt(9, 30, 0).unwrap_or_default()).and_utc() - Span::hours(8);
    let planned = scheduling
        .plan_interview(tokens.officer(pb::PlanInterviewRequest {
            request_id: format!("demo-plan-{serial}"),
            case_id: case_id.into(),
            interview_at: Some(timestamp(interview_at)),
            mode: pb::InterviewMode::Video as i32,
            place: "视频约谈室".into(),
            interviewers: vec![legal.clone(), second.clone()],
            recorder: recorder.clone(),
            experts: Vec::new(),
            co_department_participants: Vec::new(),
            materials: vec!["营业执照副本".into(), "法定代表人身份证明".into(), "年度报告补报材料".into()],
            contact: "信用监管科 0931-8000001".into(),
            matter: "未按期报送上一年度年度报告".into(),
            legal_basis: "《企业信息公示暂行条例》第八条".into(),
        })?)
        .await?
        .into_inner();
    println!("interview  planned {day} 09:30 CST, {} (video; R-INT-1 panel checked)", planned.place);

    let notice = scheduling
        .issue_notice(tokens.officer(pb::IssueNoticeRequest { request_id: format!("demo-notice-{serial}"), case_id: case_id.into() })?)
        .await?
        .into_inner();
    println!("notice     {} issued ({} page(s), sha256 {})", notice.number, notice.pages, notice.sha256);
    if config.objects.s3.is_none() {
        let path: PathBuf = config.objects.root.join("sha256").join(&notice.sha256[..2]).join(&notice.sha256);
        println!("notice     PDF at {}", path.display());
    }

    // The legal section reviews the notice (R-DOC-1): review opened the task on the event.
    let (_, task) = wait_for_task(&mut review, tokens, case_id, |t| {
        t.kind == review_pb::TaskKind::DocumentReview as i32 && t.status == review_pb::TaskStatus::Open as i32
    })
    .await
    .context("waiting for the notice's document review")?;
    review
        .decide_document(tokens.reviewer(review_pb::DecideDocumentRequest {
            request_id: format!("demo-document-{serial}"),
            task_id: task.id,
            decision: review_pb::DocumentDecision::Pass as i32,
            comments: "文书要素齐全，格式规范。".into(),
        })?)
        .await?;
    println!("notice     {} passed document review; scheduling seals and serves it", notice.number);

    // Sealed, then served by SMS: the gateway's delivery report reaches the portal.
    let by_sms = served(&scheduling, tokens, case_id, 1).await?;
    print_service("SMS", &by_sms[0]);
    let sealed = scheduling.get_document(tokens.officer(pb::GetDocumentRequest { document_id: notice.document_id.clone() })?).await?.into_inner();
    println!("seal       key {} signature {}…", sealed.seal_key_id, sealed.seal_signature.chars().take(24).collect::<String>());

    // The officer also serves it by e-mail: the recipient's server accepts it.
    scheduling
        .request_service(tokens.officer(pb::RequestServiceRequest {
            request_id: format!("demo-email-{serial}"),
            document_id: notice.document_id.clone(),
            channels: vec![pb::Channel::Email as i32],
        })?)
        .await?;
    let both = served(&scheduling, tokens, case_id, 2).await?;
    print_service("e-mail", &both[1]);

    // The interview itself, on the local Janus, to the signed record.
    let panel = crate::demo_interview::Panel { legal, second, recorder };
    let outcome = crate::demo_interview::run(config, channel, tokens, case_id, serial, &panel).await?;
    Ok(Numbers { notice: notice.number, outline: outcome.outline_number, record: outcome.record_number })
}

fn print_service(how: &str, service: &pb::Service) {
    let at = service.served_at.as_ref().and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0)).map(|t| (t + Span::hours(8)).format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default();
    println!("served     {} by {how} at {at} CST; receipt {}", service.document_number, service.receipt_number);
    println!("evidence   {}", service.evidence);
}

/// Waits until `n` services of the case are served.
async fn served(scheduling: &SchedulingServiceClient<Routed>, tokens: &Tokens, case_id: &str, n: usize) -> anyhow::Result<Vec<pb::Service>> {
    wait(|| {
        let mut scheduling = scheduling.clone();
        let request = tokens.officer(pb::ListCaseServicesRequest { case_id: case_id.into() });
        async move {
            let services = scheduling.list_case_services(request?).await?.into_inner().services;
            let done = services.iter().filter(|s| s.status == pb::ServiceStatus::Served as i32).count();
            if let Some(waiting) = services.iter().find(|s| s.status == pb::ServiceStatus::AwaitingOfficer as i32) {
                bail!("every channel failed for service {} ({:?}); are the local provider peers running (up.sh starts yuetan-peers)?", waiting.service_id, waiting.attempts);
            }
            Ok((done >= n).then_some(services))
        }
    })
    .await
    .with_context(|| format!("waiting for service {n} of the notice"))
}

/// Polls `step` until it gives a value, at most [`WAIT`].
pub(crate) async fn wait<T, F, Fut>(step: F) -> anyhow::Result<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(value) = step().await? {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("nothing within {} s", WAIT.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
