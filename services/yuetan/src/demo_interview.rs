//! The interview part of `yuetan demo case`, after the notice was served:
//! the case officer issues the outline (约谈提纲); scheduling has opened the
//! case's video room on the local Janus; the party (with the credentials the
//! officer hands over) and both interviewers (with their own) join it
//! through Janus's HTTP API, and a wrong token is refused by Janus itself;
//! the interview is opened, informs, listens and agrees on two rectification
//! items; everyone leaves and the interview is closed; scheduling destroys
//! the room and draws up the record (行政约谈记录), which the interviewers and
//! the recorder sign electronically and the party on a tablet.
//!
//! The interview is held now, before its planned time (the next working
//! day): scheduling does not hold the officers to the planned hour.


use anyhow::{bail, Context};
use chrono::{Duration as Span, Utc};
use yuetan_platform::client::Routed;
use yuetan_platform::fields::{cst_date, date, from_timestamp};
use yuetan_platform::Config;
use yuetan_proto::intake as ipb;
use yuetan_proto::intake::intake_service_client::IntakeServiceClient;
use yuetan_proto::scheduling as pb;
use yuetan_proto::scheduling::record_step_request::Step;
use yuetan_proto::scheduling::scheduling_service_client::SchedulingServiceClient;
use yuetan_video::{JanusParticipant, JoinInfo, VideoError};

use crate::demo_case::{Tokens, DIVISION, ORGAN};
use crate::demo_scheduling::wait;

/// The officers of the plan: two interviewers (the first legal-review
/// qualified) and the recorder, as in the directory.
pub struct Panel {
    pub legal: String,
    pub second: String,
    pub recorder: String,
}

/// The party's representative, who joins the room and signs on the tablet.
const REPRESENTATIVE: &str = "王五";

/// What the interview produced, for the summary line.
pub struct Outcome {
    pub outline_number: String,
    pub record_number: String,
}

/// As an interviewer or the recorder of the plan (a case officer of the organ).
fn as_officer<T>(tokens: &Tokens, officer: &str, message: T) -> anyhow::Result<tonic::Request<T>> {
    tokens.bearer(officer, ORGAN, DIVISION, &["case_officer"], message)
}

fn cst(at: Option<&prost_types::Timestamp>) -> String {
    from_timestamp(at).map(|t| (t + Span::hours(8)).format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_else(|| "—".into())
}

fn join_info(join: &pb::JoinInfo) -> JoinInfo {
    JoinInfo {
        provider: join.provider.clone(),
        url: join.url.clone(),
        room: join.room.clone(),
        pin: join.pin.clone(),
        token: join.token.clone(),
        feed_id: join.feed_id,
        display: join.display.clone(),
        expires_at: from_timestamp(join.expires_at.as_ref()).unwrap_or_else(Utc::now),
    }
}

/// Connects to Janus and joins the room with `join`.
async fn join_room(join: &pb::JoinInfo) -> anyhow::Result<JanusParticipant> {
    let mut participant = JanusParticipant::connect(&join.url).await.with_context(|| format!("connecting to Janus at {}; does up.sh's Janus run?", join.url))?;
    participant.join(&join_info(join)).await.with_context(|| format!("{} joining room {}", join.participant_key, join.room))?;
    Ok(participant)
}

/// Runs the interview of the served case; the officers are those of the plan.
pub async fn run(config: &Config, channel: Routed, tokens: &Tokens, case_id: &str, serial: u32, panel: &Panel) -> anyhow::Result<Outcome> {
    let mut scheduling = SchedulingServiceClient::new(channel.clone());
    let mut intake = IntakeServiceClient::new(channel);

    // The plan is served once the notice reached the party (R-NOTICE-3 checked).
    let plan = wait(|| {
        let mut scheduling = scheduling.clone();
        let request = tokens.officer(pb::GetPlanRequest { case_id: case_id.into() });
        async move {
            let plan = scheduling.get_plan(request?).await?.into_inner();
            if plan.status == pb::PlanStatus::RescheduleNeeded as i32 {
                bail!("the notice was served too late for the planned time (R-NOTICE-3): the plan needs rescheduling");
            }
            Ok((plan.status == pb::PlanStatus::Served as i32).then_some(plan))
        }
    })
    .await
    .context("waiting for the plan to be served")?;
    println!("plan       {} served; a video interview", plan.plan_id);

    // The outline (约谈提纲): the points to raise.
    let outline = scheduling
        .issue_outline(tokens.officer(pb::IssueOutlineRequest {
            request_id: format!("demo-outline-{serial}"),
            case_id: case_id.into(),
            facts: String::new(),
            provisions: Vec::new(),
            evidence: vec!["现场检查笔录".into(), "企业信用信息公示系统查询记录".into()],
            points: vec![
                "告知未按期报送年度报告的事实及违反的规定".into(),
                "听取企业陈述、申辩及存在的困难".into(),
                "提出补报年度报告、建立报送制度的整改要求及期限".into(),
            ],
        })?)
        .await?
        .into_inner();
    println!("outline    {} issued ({} page(s)){}", outline.number, outline.pages, crate::demo_rectification::stored_path(config, &outline.sha256).map(|p| format!(", PDF at {}", p.display())).unwrap_or_default());

    // The room: scheduling created it on Janus when the interview was planned.
    let room = wait(|| {
        let mut scheduling = scheduling.clone();
        let request = tokens.officer(pb::GetVideoRoomRequest { case_id: case_id.into() });
        async move {
            match scheduling.get_video_room(request?).await {
                Ok(room) => {
                    let room = room.into_inner();
                    Ok((room.status == "open").then_some(room))
                }
                Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
                Err(status) => Err(status.into()),
            }
        }
    })
    .await
    .context("waiting for the video room to open (does the local Janus run? see .local/janus.log and .local/yuetan.log)")?;
    println!("room       {} room {} open, {} participants on the list", room.provider, room.room_id, room.participants.len());

    // The party's credentials, handed over by the officer; a wrong token is refused by Janus.
    let party = room.external_joins.iter().find(|j| j.participant_key == "party").context("no join credentials for the party in GetVideoRoom")?.clone();
    let mut intruder = JanusParticipant::connect(&party.url).await.with_context(|| format!("connecting to Janus at {}; does up.sh's Janus run?", party.url))?;
    let wrong = JoinInfo { token: "0".repeat(32), ..join_info(&party) };
    let refused = match intruder.join(&wrong).await {
        Ok(()) => bail!("Janus let a wrong token into room {}", room.room_id),
        Err(err @ VideoError::Refused { .. }) => err,
        Err(err) => return Err(anyhow::Error::new(err).context("joining with a wrong token")),
    };
    intruder.leave().await.ok();
    println!("janus      a wrong token is refused: {refused}");
    let party_in = join_room(&party).await?;
    println!("janus      the party joined as {:?} (feed {})", party.display, party.feed_id);
    let mut officers_in = Vec::new();
    for officer in [&panel.legal, &panel.second] {
        let mine = scheduling.join_video_room(as_officer(tokens, officer, pb::JoinVideoRoomRequest { case_id: case_id.into() })?).await?.into_inner();
        officers_in.push(join_room(&mine).await?);
        println!("janus      interviewer {officer} joined as {:?} (feed {}) with its own credentials", mine.display, mine.feed_id);
    }

    // Step 1: the opening.
    let started = scheduling
        .start_interview(tokens.officer(pb::StartInterviewRequest {
            request_id: format!("demo-start-{serial}"),
            case_id: case_id.into(),
            interviewers_present: vec![panel.legal.clone(), panel.second.clone()],
            opening: Some(pb::Opening {
                certificates_shown: true,
                purpose: "督促企业补报年度报告并依法履行信息公示义务".into(),
                basis: "《企业信息公示暂行条例》第八条".into(),
                participants_announced: true,
            }),
            party_representative: format!("{REPRESENTATIVE}（法定代表人）"),
            agent: String::new(),
        })?)
        .await
        .context("StartInterview")?
        .into_inner();
    println!("interview  {} started at {} CST (mode video, planned {})", started.interview_id, cst(started.started_at.as_ref()), cst(plan.interview_at.as_ref()));

    // Steps 2–4: informing, listening, agreeing on two items within 30 days (R-INT-3).
    let day = cst_date(from_timestamp(started.started_at.as_ref()).unwrap_or_else(Utc::now));
    let items = vec![
        pb::RectificationItem {
            content: "通过国家企业信用信息公示系统补报上一年度年度报告".into(),
            deadline: Some(date(day + Span::days(14))),
            acceptance_standard: "年度报告已在公示系统公示，内容真实完整".into(),
            check_method: "公示系统核查".into(),
            chief_approval: None,
        },
        pb::RectificationItem {
            content: "建立年度报告报送制度并指定专人负责".into(),
            deadline: Some(date(day + Span::days(28))),
            acceptance_standard: "提交书面制度文本及专人任命文件，经现场核查落实".into(),
            check_method: "书面审查＋现场检查".into(),
            chief_approval: None,
        },
    ];
    let steps = [
        Step::Informing(pb::Informing {
            facts: "该企业未按期报送上一年度年度报告。".into(),
            provisions: vec!["《企业信息公示暂行条例》第八条".into()],
            evidence: vec!["现场检查笔录".into(), "企业信用信息公示系统查询记录".into()],
            rights_explained: true,
            consequences_explained: true,
            notes: String::new(),
        }),
        Step::Listening(pb::Listening {
            statement: "财务人员变动，遗漏报送。".into(),
            difficulties: "不熟悉公示系统操作。".into(),
            commitments: "十五日内补报，并建立报送制度。".into(),
        }),
        Step::Agreeing(pb::Agreeing { items }),
    ];
    let mut held = started;
    for (i, step) in steps.into_iter().enumerate() {
        held = scheduling
            .record_step(tokens.officer(pb::RecordStepRequest { request_id: format!("demo-step-{serial}-{i}"), case_id: case_id.into(), step: Some(step) })?)
            .await
            .context("RecordStep")?
            .into_inner();
    }
    println!("interview  informing, listening and agreeing recorded; {} rectification items", held.items.len());

    // Everyone leaves; Janus reports it to the portal, scheduling records the times.
    party_in.leave().await.context("the party leaving the room")?;
    for officer in officers_in {
        officer.leave().await.context("an interviewer leaving the room")?;
    }
    let keys = [panel.legal.as_str(), panel.second.as_str(), "party"];
    wait(|| {
        let mut scheduling = scheduling.clone();
        let request = tokens.officer(pb::GetInterviewRequest { case_id: case_id.into() });
        async move {
            let interview = scheduling.get_interview(request?).await?.into_inner();
            let done = keys.iter().all(|k| interview.attendance.iter().any(|a| a.participant_key == *k && a.source == "video" && a.left_at.is_some()));
            Ok(done.then_some(()))
        }
    })
    .await
    .context("waiting for Janus's join and leave reports to reach scheduling (Janus event handler → portal /callbacks/janus)")?;

    // R-INT-2: recorded in full. The demo's participants publish no media, so
    // Janus has nothing; the officer's own recording of the session is uploaded.
    let recording = intake
        .upload_evidence(tokens.officer(ipb::UploadEvidenceRequest {
            file_name: "约谈录像.webm".into(),
            media_type: "video/webm".into(),
            content: format!("demo screen recording of the video interview of case {case_id} (stand-in bytes)").into_bytes(),
        })?)
        .await
        .context("uploading the interview's recording")?
        .into_inner();
    println!("recording  the officer's recording uploaded (sha256 {}…); Janus recorded no published media", &recording.sha256[..16]);

    // Step 5: closed; the room is destroyed, then the record is drawn up.
    let closed = scheduling
        .close_interview(tokens.officer(pb::CloseInterviewRequest {
            request_id: format!("demo-close-{serial}"),
            case_id: case_id.into(),
            recording_sha256: vec![recording.sha256.clone()],
        })?)
        .await
        .context("CloseInterview")?
        .into_inner();
    let due = closed.record_due.as_ref().map(|d| d.iso.clone()).unwrap_or_default();
    println!("interview  closed ({}); the signed record is due by {due} (5 working days, R-INT-4)", closed.status);
    let record = wait(|| {
        let mut scheduling = scheduling.clone();
        let request = tokens.officer(pb::ListRecordsRequest { case_id: case_id.into() });
        async move { Ok(scheduling.list_records(request?).await?.into_inner().records.into_iter().next()) }
    })
    .await
    .context("waiting for the record (drawn up when the room is closed)")?;
    println!("record     {} version {} drawn up ({} page(s)); to sign: {}", record.number, record.version, record.pages, record.missing.join(", "));

    // The officers sign electronically, each with its own token.
    for officer in [&panel.legal, &panel.second, &panel.recorder] {
        scheduling
            .sign_record(as_officer(tokens, officer, pb::SignRecordRequest { request_id: format!("demo-sign-{serial}-{officer}"), record_id: record.record_id.clone() })?)
            .await
            .with_context(|| format!("SignRecord by {officer}"))?;
    }
    // The party signs on the tablet: the signature image is stored like any evidence.
    let image = intake
        .upload_evidence(tokens.officer(ipb::UploadEvidenceRequest {
            file_name: "当事人签名.svg".into(),
            media_type: "image/svg+xml".into(),
            content: format!(
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"240\" height=\"80\"><text x=\"10\" y=\"50\" font-size=\"32\">{REPRESENTATIVE}</text><!-- 平板签名 {} --></svg>",
                record.number
            )
            .into_bytes(),
        })?)
        .await?
        .into_inner();
    scheduling
        .record_party_signature(tokens.officer(pb::RecordPartySignatureRequest {
            request_id: format!("demo-party-sign-{serial}"),
            record_id: record.record_id.clone(),
            method: pb::SignatureMethod::Tablet as i32,
            signer_name: REPRESENTATIVE.into(),
            image_sha256: image.sha256.clone(),
        })?)
        .await
        .context("RecordPartySignature")?;
    let signed = wait(|| {
        let mut scheduling = scheduling.clone();
        let request = tokens.officer(pb::GetRecordRequest { record_id: record.record_id.clone() });
        async move {
            let record = scheduling.get_record(request?).await?.into_inner();
            Ok((record.status == "signed").then_some(record))
        }
    })
    .await
    .context("waiting for the record to be signed")?;

    println!("record     {} version {} signed at {} CST", signed.number, signed.version, cst(signed.signed_at.as_ref()));
    match crate::demo_rectification::stored_path(config, &signed.signed_sha256) {
        Some(path) => println!("record     signed PDF at {} (sha256 {})", path.display(), signed.signed_sha256),
        None => println!("record     signed PDF sha256 {} (in the S3 store)", signed.signed_sha256),
    }
    for s in &signed.signatures {
        let how = match pb::SignatureMethod::try_from(s.method) {
            Ok(pb::SignatureMethod::Electronic) => format!("electronic, key {}", s.key_id),
            Ok(pb::SignatureMethod::Tablet) => format!("tablet, image sha256 {}", s.image_sha256),
            Ok(other) => format!("{other:?}").to_lowercase(),
            Err(_) => "unknown".into(),
        };
        println!("signature  {} {} ({}) {} at {} CST", s.role, s.name, s.signer, how, cst(s.signed_at.as_ref()));
    }
    if signed.recordings.is_empty() {
        println!("recording  none: the participants published no media (Janus records published streams only)");
    }
    for r in &signed.recordings {
        println!("recording  {r}");
    }

    // Who was present, as scheduling recorded it from Janus's reports.
    let interview = scheduling.get_interview(tokens.officer(pb::GetInterviewRequest { case_id: case_id.into() })?).await?.into_inner();
    for a in &interview.attendance {
        println!("present    {} ({}, {}) {} – {} CST ({})", a.name, a.role, a.participant_key, cst(a.joined_at.as_ref()), cst(a.left_at.as_ref()), a.source);
    }
    for (i, item) in interview.items.iter().enumerate() {
        let deadline = item.deadline.as_ref().map(|d| d.iso.clone()).unwrap_or_default();
        println!("item {}     {} by {deadline}; acceptance: {} ({})", i + 1, item.content, item.acceptance_standard, item.check_method);
    }
    Ok(Outcome { outline_number: outline.number, record_number: signed.number })
}

