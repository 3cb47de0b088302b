//! The interview's RPCs: authorise (the lead organ changes; co-departments
//! of a joint case read, join and sign), validate (bounded, naming the
//! field), then one transaction through `flow::interview`.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;
use yuetan_platform::fields::{sha256, at_most, date, from_timestamp, optional, parse_date, parse_uuid, required, timestamp};
use yuetan_platform::relief;
use yuetan_platform::requests::{self, RequestKey};
use yuetan_platform::{Actor, Error};
use yuetan_proto::scheduling as pb;

use super::{SchedulingApi, MAX_TEXT};
use crate::convert::document_proto;
use crate::domain::interview::Item;
use crate::flow::interview::{Correction, OutlineInput, Step, WitnessInput};
use crate::store::interview::{self as istore, Absence, CriminalClue, Informing, InterviewRow, Listening, Opening, RecordRow, RoomRow, StoredRecording};
use crate::store::{self, CaseRow};

const MAX_LIST: usize = 50;
const MAX_ITEMS: usize = 30;
const MAX_LONG_TEXT: usize = 20_000;

fn list(field: &str, values: &[String], max_each: usize) -> Result<Vec<String>, Error> {
    at_most(field, values, MAX_LIST)?;
    values.iter().enumerate().map(|(i, v)| required(&format!("{field}[{i}]"), v, max_each)).collect()
}

fn informing(field: &str, i: &pb::Informing) -> Result<Informing, Error> {
    Ok(Informing {
        facts: required(&format!("{field}.facts"), &i.facts, MAX_LONG_TEXT)?,
        provisions: list(&format!("{field}.provisions"), &i.provisions, MAX_TEXT)?,
        evidence: list(&format!("{field}.evidence"), &i.evidence, MAX_TEXT)?,
        rights_explained: i.rights_explained,
        consequences_explained: i.consequences_explained,
        notes: optional(&format!("{field}.notes"), &i.notes, MAX_LONG_TEXT)?,
    })
}

fn listening(field: &str, l: &pb::Listening) -> Result<Listening, Error> {
    Ok(Listening {
        statement: required(&format!("{field}.statement"), &l.statement, MAX_LONG_TEXT)?,
        difficulties: optional(&format!("{field}.difficulties"), &l.difficulties, MAX_LONG_TEXT)?,
        commitments: optional(&format!("{field}.commitments"), &l.commitments, MAX_LONG_TEXT)?,
    })
}

fn items(field: &str, a: &pb::Agreeing) -> Result<Vec<Item>, Error> {
    at_most(field, &a.items, MAX_ITEMS)?;
    let mut out = Vec::new();
    for (i, item) in a.items.iter().enumerate() {
        let f = |name: &str| format!("items[{i}].{name}");
        let approval = item.chief_approval.clone().unwrap_or_default();
        out.push(Item {
            content: required(&f("content"), &item.content, MAX_TEXT)?,
            deadline: parse_date(&f("deadline"), item.deadline.as_ref())?.ok_or_else(|| Error::invalid(f("deadline"), "required"))?,
            acceptance_standard: required(&f("acceptance_standard"), &item.acceptance_standard, MAX_TEXT)?,
            check_method: optional(&f("check_method"), &item.check_method, 200)?,
            approved_by: optional(&f("chief_approval.officer_id"), &approval.officer_id, 64)?,
            approval_reason: optional(&f("chief_approval.reason"), &approval.reason, MAX_TEXT)?,
        });
    }
    Ok(out)
}

pub fn interview_proto(i: &InterviewRow, state: &crate::State, attendance: &[istore::AttendanceRow], record_id: Option<Uuid>) -> Result<pb::Interview, Error> {
    let content = state.open_content(i)?;
    let o = &content.opening;
    Ok(pb::Interview {
        interview_id: i.id.to_string(),
        case_id: i.case_id.to_string(),
        status: i.status.clone(),
        mode: if i.mode == "video" { pb::InterviewMode::Video as i32 } else { pb::InterviewMode::InPerson as i32 },
        started_at: Some(timestamp(i.started_at)),
        ended_at: i.ended_at.map(timestamp),
        interviewers_present: i.present.clone(),
        opening: Some(pb::Opening { certificates_shown: o.certificates_shown, purpose: o.purpose.clone(), basis: o.basis.clone(), participants_announced: o.participants_announced }),
        informing: content.informing.as_ref().map(|x| pb::Informing {
            facts: x.facts.clone(),
            provisions: x.provisions.clone(),
            evidence: x.evidence.clone(),
            rights_explained: x.rights_explained,
            consequences_explained: x.consequences_explained,
            notes: x.notes.clone(),
        }),
        listening: content.listening.as_ref().map(|x| pb::Listening { statement: x.statement.clone(), difficulties: x.difficulties.clone(), commitments: x.commitments.clone() }),
        items: i
            .items
            .0
            .iter()
            .map(|x| pb::RectificationItem {
                content: x.content.clone(),
                deadline: Some(date(x.deadline)),
                acceptance_standard: x.acceptance_standard.clone(),
                check_method: x.check_method.clone(),
                chief_approval: (!x.approved_by.is_empty()).then(|| pb::ChiefApproval { officer_id: x.approved_by.clone(), reason: x.approval_reason.clone() }),
            })
            .collect(),
        attendance: attendance
            .iter()
            .map(|a| pb::Attendance {
                participant_key: a.participant_key.clone(),
                name: a.name.clone(),
                role: a.role.clone(),
                joined_at: Some(timestamp(a.joined_at)),
                left_at: a.left_at.map(timestamp),
                source: a.source.clone(),
            })
            .collect(),
        party_absent: i.party_absent,
        refusal_reason: content.refusal_reason.clone(),
        criminal_clue: i.criminal_clue,
        held_for_transfer: i.held_for_transfer,
        record_id: record_id.map(|r| r.to_string()).unwrap_or_default(),
        record_due: i.record_due.map(date),
        record_overdue: i.record_overdue,
        version: u64::try_from(i.version).unwrap_or(0),
        // Set by `interview_answer` from the relief marks (platform `relief`).
        under_relief: false,
        relief_reply_due: None,
        relief_outcome: String::new(),
    })
}

fn method_proto(method: &str) -> i32 {
    (match method {
        "electronic" => pb::SignatureMethod::Electronic,
        "paper" => pb::SignatureMethod::Paper,
        "tablet" => pb::SignatureMethod::Tablet,
        "witness" => pb::SignatureMethod::Witness,
        "portal" => pb::SignatureMethod::Portal,
        _ => pb::SignatureMethod::Unspecified,
    }) as i32
}

async fn record_proto(conn: &mut sqlx::PgConnection, r: &RecordRow) -> Result<pb::Record, Error> {
    let signatures = istore::signatures_of(conn, r.id).await?;
    let signed = crate::domain::interview::Signed {
        signers: signatures.iter().map(|s| s.signer.clone()).collect(),
        party_refused: r.party_refused,
        witnesses: signatures.iter().filter(|s| s.method == "witness").count(),
    };
    let recordings = istore::interview(conn, r.interview_id, false).await?.map(|i| i.recordings.0).unwrap_or_default();
    Ok(pb::Record {
        record_id: r.id.to_string(),
        case_id: r.case_id.to_string(),
        interview_id: r.interview_id.to_string(),
        number: r.number.clone(),
        version: u32::try_from(r.version).unwrap_or(0),
        status: r.status.clone(),
        content_sha256: r.content_sha256.clone(),
        signed_sha256: r.signed_sha256.clone(),
        pages: u32::try_from(r.pages).unwrap_or(0),
        correction_reason: r.correction_reason.clone(),
        signatures: signatures
            .iter()
            .map(|s| pb::Signature {
                signer: s.signer.clone(),
                name: s.name.clone(),
                role: s.role.clone(),
                method: method_proto(&s.method),
                signed_at: Some(timestamp(s.signed_at)),
                signature: s.signature.clone(),
                key_id: s.key_id.clone(),
                image_sha256: s.image_sha256.clone(),
            })
            .collect(),
        missing: if r.status == "signing" { crate::domain::interview::missing_signatures(&r.required.0, &signed) } else { Vec::new() },
        party_refused: r.party_refused,
        refusal_reason: r.refusal_reason.clone(),
        signed_at: r.signed_at.map(timestamp),
        recordings: recordings.iter().map(|x| format!("{} (sha256 {})", x.path, x.sha256)).collect(),
    })
}

impl SchedulingApi {
    /// The case (locked) and its plan (locked), for a change by the lead organ.
    async fn case_and_plan(&self, tx: &mut super::Tx, actor: &Actor, case_id: Uuid) -> Result<(CaseRow, crate::store::PlanRow), Error> {
        let case = self.case_for_change(tx, actor, case_id).await?;
        let plan = store::plan_of_case(tx, case_id, true).await?.ok_or_else(|| Error::FailedPrecondition(format!("case {case_id} is not approved yet: no interview plan")))?;
        Ok((case, plan))
    }

    async fn interview_answer(&self, conn: &mut sqlx::PgConnection, interview: &InterviewRow) -> Result<pb::Interview, Error> {
        let attendance = istore::attendance_of(conn, interview.case_id).await?;
        let record = istore::records_of_case(conn, interview.case_id).await?.first().map(|r| r.id);
        let mut answer = interview_proto(interview, &self.state, &attendance, record)?;
        // R-RELIEF-2: the case's relief marks.
        (answer.under_relief, answer.relief_reply_due, answer.relief_outcome) = relief::of_case(conn, interview.case_id).await?.fields();
        Ok(answer)
    }

    /// A record for a change: its case locked first (the lock order), then the record.
    async fn record_for_change(&self, tx: &mut super::Tx, actor: &Actor, record_id: Uuid, lead_only: bool) -> Result<RecordRow, Error> {
        let peek = istore::record(tx, record_id, false).await?.ok_or_else(|| Error::NotFound(format!("record {record_id}")))?;
        let case = store::case(tx, peek.case_id, true).await?.ok_or_else(|| Error::NotFound(format!("case {}", peek.case_id)))?;
        if lead_only {
            super::require_lead_organ(actor, &case)?;
        } else {
            actor.require_scope_of(&case.division, &case.co_departments)?;
        }
        istore::record(tx, record_id, true).await?.ok_or_else(|| Error::NotFound(format!("record {record_id}")))
    }

    fn begin_key<'a, R: prost::Message>(&self, actor: &'a Actor, request_id: &'a str, method: &'static str, req: &R) -> Result<RequestKey<'a>, Error> {
        RequestKey::new(&actor.officer_id, request_id, method, req)
    }

    pub(super) async fn issue_outline(&self, actor: &Actor, req: &pb::IssueOutlineRequest) -> Result<pb::Document, Error> {
        let case_id = parse_uuid("case_id", &req.case_id)?;
        let input = OutlineInput {
            facts: optional("facts", &req.facts, MAX_LONG_TEXT)?,
            provisions: list("provisions", &req.provisions, MAX_TEXT)?,
            evidence: list("evidence", &req.evidence, MAX_TEXT)?,
            points: list("points", &req.points, MAX_TEXT)?,
        };
        if input.points.is_empty() {
            return Err(Error::invalid("points", "at least one point to raise"));
        }
        let key = self.begin_key(actor, &req.request_id, "IssueOutline", req)?;
        let mut tx = self.begin().await?;
        if let Some(done) = requests::replay(&mut tx, &self.state.vault, &key).await? {
            return Ok(done);
        }
        let (case, plan) = self.case_and_plan(&mut tx, actor, case_id).await?;
        let document = self.state.issue_outline(&mut tx, actor, &case, &plan, input, self.now()).await?;
        self.finish(tx, &key, document_proto(&document)).await
    }

    async fn room_for_read(&self, actor: &Actor, case_id: Uuid) -> Result<(CaseRow, RoomRow), Error> {
        let mut conn = self.state.pool.acquire().await?;
        let case = store::case(&mut conn, case_id, false).await?.ok_or_else(|| Error::NotFound(format!("case {case_id}")))?;
        actor.require_scope_of(&case.division, &case.co_departments)?;
        let room = istore::room_of_case(&mut conn, case_id, false).await?.ok_or_else(|| Error::NotFound(format!("video room of case {case_id}")))?;
        Ok((case, room))
    }

    fn join_valid_until(&self, case_id: Uuid, plan_at: Option<DateTime<Utc>>) -> DateTime<Utc> {
        let _ = case_id;
        plan_at.unwrap_or_else(|| self.now()) + Duration::hours(self.state.settings.video.join_valid_hours)
    }

    fn join_of(&self, room: &RoomRow, member: &istore::RoomMember, until: DateTime<Utc>) -> Result<pb::JoinInfo, Error> {
        let video = self.state.video()?;
        let info = video.join_info(&room.spec(&self.state.settings.video.tag), &member.participant(), until).map_err(|e| Error::Unavailable(format!("video provider: {e}")))?;
        Ok(pb::JoinInfo {
            provider: info.provider,
            url: info.url,
            room: info.room,
            pin: info.pin,
            token: info.token,
            feed_id: info.feed_id,
            display: info.display,
            expires_at: Some(timestamp(info.expires_at)),
            participant_key: member.key.clone(),
        })
    }

    pub(super) async fn get_video_room(&self, actor: &Actor, req: &pb::GetVideoRoomRequest) -> Result<pb::VideoRoom, Error> {
        let case_id = parse_uuid("case_id", &req.case_id)?;
        let (case, room) = self.room_for_read(actor, case_id).await?;
        let mut conn = self.state.pool.acquire().await?;
        let plan_at = store::plan_of_case(&mut conn, case_id, false).await?.and_then(|p| p.interview_at);
        let until = self.join_valid_until(case_id, plan_at);
        let mut external = Vec::new();
        if actor.organ == case.lead_organ && room.status == "open" {
            for m in room.participants.0.iter().filter(|m| matches!(m.role.as_str(), "party" | "agent" | "expert")) {
                external.push(self.join_of(&room, m, until)?);
            }
        }
        Ok(pb::VideoRoom {
            case_id: case_id.to_string(),
            provider: room.provider.clone(),
            room_id: u64::try_from(room.room_id).unwrap_or(0),
            status: room.status.clone(),
            participants: room.participants.0.iter().map(|m| pb::RoomParticipant { key: m.key.clone(), name: m.name.clone(), role: m.role.clone(), feed_id: m.feed_id }).collect(),
            external_joins: external,
        })
    }

    pub(super) async fn join_video_room(&self, actor: &Actor, req: &pb::JoinVideoRoomRequest) -> Result<pb::JoinInfo, Error> {
        let case_id = parse_uuid("case_id", &req.case_id)?;
        let (_, room) = self.room_for_read(actor, case_id).await?;
        if room.status != "open" {
            return Err(Error::FailedPrecondition(format!("the video room is {}", room.status)));
        }
        let member = room
            .participants
            .0
            .iter()
            .find(|m| m.key == actor.officer_id && matches!(m.role.as_str(), "interviewer" | "recorder" | "co_department"))
            .ok_or_else(|| Error::PermissionDenied(format!("officer {} is not a participant of this interview", actor.officer_id)))?;
        let mut conn = self.state.pool.acquire().await?;
        let plan_at = store::plan_of_case(&mut conn, case_id, false).await?.and_then(|p| p.interview_at);
        self.join_of(&room, member, self.join_valid_until(case_id, plan_at))
    }

    pub(super) async fn start_interview(&self, actor: &Actor, req: &pb::StartInterviewRequest) -> Result<pb::Interview, Error> {
        let case_id = parse_uuid("case_id", &req.case_id)?;
        let present = list("interviewers_present", &req.interviewers_present, 64)?;
        if present.is_empty() {
            return Err(Error::invalid("interviewers_present", "the interviewers present check in (R-INT-1)"));
        }
        let o = req.opening.clone().ok_or_else(|| Error::invalid("opening", "required (R-INT-3 step 1)"))?;
        if !o.certificates_shown {
            return Err(Error::invalid("opening.certificates_shown", "each interviewer shows the enforcement certificate first (R-INT-3)"));
        }
        let opening = Opening {
            certificates_shown: o.certificates_shown,
            purpose: required("opening.purpose", &o.purpose, MAX_TEXT)?,
            basis: required("opening.basis", &o.basis, MAX_TEXT)?,
            participants_announced: o.participants_announced,
        };
        let representative = optional("party_representative", &req.party_representative, 100)?;
        let agent = optional("agent", &req.agent, 100)?;
        let key = self.begin_key(actor, &req.request_id, "StartInterview", req)?;
        let mut tx = self.begin().await?;
        if let Some(done) = requests::replay(&mut tx, &self.state.vault, &key).await? {
            return Ok(done);
        }
        let (case, plan) = self.case_and_plan(&mut tx, actor, case_id).await?;
        let interview = self.state.start_interview(&mut tx, actor, case, plan, present, opening, representative, agent, &req.request_id, self.now()).await?;
        let answer = self.interview_answer(&mut tx, &interview).await?;
        self.finish(tx, &key, answer).await
    }

    pub(super) async fn check_in(&self, actor: &Actor, req: &pb::CheckInRequest) -> Result<pb::Interview, Error> {
        let case_id = parse_uuid("case_id", &req.case_id)?;
        let officer = required("officer_id", &req.officer_id, 64)?;
        let key = self.begin_key(actor, &req.request_id, "CheckIn", req)?;
        let mut tx = self.begin().await?;
        if let Some(done) = requests::replay(&mut tx, &self.state.vault, &key).await? {
            return Ok(done);
        }
        let (case, _) = self.case_and_plan(&mut tx, actor, case_id).await?;
        let interview = self.state.check_in(&mut tx, actor, &case, officer, self.now()).await?;
        let answer = self.interview_answer(&mut tx, &interview).await?;
        self.finish(tx, &key, answer).await
    }

    pub(super) async fn record_step(&self, actor: &Actor, req: &pb::RecordStepRequest) -> Result<pb::Interview, Error> {
        use pb::record_step_request::Step as S;
        let case_id = parse_uuid("case_id", &req.case_id)?;
        let step = match &req.step {
            Some(S::Informing(i)) => Step::Informing(informing("informing", i)?),
            Some(S::Listening(l)) => Step::Listening(listening("listening", l)?),
            Some(S::Agreeing(a)) => Step::Agreeing(items("items", a)?),
            None => return Err(Error::invalid("step", "informing, listening or agreeing")),
        };
        let key = self.begin_key(actor, &req.request_id, "RecordStep", req)?;
        let mut tx = self.begin().await?;
        if let Some(done) = requests::replay(&mut tx, &self.state.vault, &key).await? {
            return Ok(done);
        }
        let (case, _) = self.case_and_plan(&mut tx, actor, case_id).await?;
        let interview = self.state.record_step(&mut tx, actor, &case, step, self.now()).await?;
        let answer = self.interview_answer(&mut tx, &interview).await?;
        self.finish(tx, &key, answer).await
    }

    pub(super) async fn record_party_absent(&self, actor: &Actor, req: &pb::RecordPartyAbsentRequest) -> Result<pb::Interview, Error> {
        let case_id = parse_uuid("case_id", &req.case_id)?;
        let kind = match pb::AbsenceKind::try_from(req.kind) {
            Ok(pb::AbsenceKind::NoShow) => "no_show",
            Ok(pb::AbsenceKind::Left) => "left",
            _ => return Err(Error::invalid("kind", "no_show or left")),
        };
        let at = from_timestamp(req.at.as_ref()).ok_or_else(|| Error::invalid("at", "required: when the party was found absent"))?;
        if at > self.now() + Duration::minutes(5) {
            return Err(Error::invalid("at", "lies in the future"));
        }
        let evidence = required("evidence", &req.evidence, MAX_TEXT)?;
        let evidence_sha256 = if req.evidence_sha256.is_empty() { String::new() } else { sha256("evidence_sha256", &req.evidence_sha256)? };
        if !evidence_sha256.is_empty() && !self.state.objects.exists(&evidence_sha256).await? {
            return Err(Error::invalid("evidence_sha256", "no file with this SHA-256 in the object store"));
        }
        let absence = Absence { kind: kind.into(), at, evidence, evidence_sha256, recorded_by: actor.officer_id.clone() };
        let key = self.begin_key(actor, &req.request_id, "RecordPartyAbsent", req)?;
        let mut tx = self.begin().await?;
        if let Some(done) = requests::replay(&mut tx, &self.state.vault, &key).await? {
            return Ok(done);
        }
        let (case, plan) = self.case_and_plan(&mut tx, actor, case_id).await?;
        let interview = self.state.record_party_absent(&mut tx, actor, case, &plan, absence, &req.request_id, self.now()).await?;
        let answer = self.interview_answer(&mut tx, &interview).await?;
        self.finish(tx, &key, answer).await
    }

    pub(super) async fn close_interview_as_refused(&self, actor: &Actor, req: &pb::CloseInterviewAsRefusedRequest) -> Result<pb::Interview, Error> {
        let case_id = parse_uuid("case_id", &req.case_id)?;
        let reason = required("reason", &req.reason, MAX_TEXT)?;
        let key = self.begin_key(actor, &req.request_id, "CloseInterviewAsRefused", req)?;
        let mut tx = self.begin().await?;
        if let Some(done) = requests::replay(&mut tx, &self.state.vault, &key).await? {
            return Ok(done);
        }
        let (case, _) = self.case_and_plan(&mut tx, actor, case_id).await?;
        let interview = self.state.close_as_refused(&mut tx, actor, case, reason, &req.request_id, self.now()).await?;
        let answer = self.interview_answer(&mut tx, &interview).await?;
        self.finish(tx, &key, answer).await
    }

    pub(super) async fn flag_criminal_clue(&self, actor: &Actor, req: &pb::FlagCriminalClueRequest) -> Result<pb::Interview, Error> {
        let case_id = parse_uuid("case_id", &req.case_id)?;
        let description = required("description", &req.description, MAX_LONG_TEXT)?;
        let transferred_to = required("transferred_to", &req.transferred_to, 200)?;
        let transfer_record_sha256 = sha256("transfer_record_sha256", &req.transfer_record_sha256)?;
        if !self.state.objects.exists(&transfer_record_sha256).await? {
            return Err(Error::invalid("transfer_record_sha256", "no file with this SHA-256 in the object store; upload the transfer record first"));
        }
        let key = self.begin_key(actor, &req.request_id, "FlagCriminalClue", req)?;
        let mut tx = self.begin().await?;
        if let Some(done) = requests::replay(&mut tx, &self.state.vault, &key).await? {
            return Ok(done);
        }
        let (case, _) = self.case_and_plan(&mut tx, actor, case_id).await?;
        let now = self.now();
        let clue = CriminalClue { description, transferred_to, transfer_record_sha256, at: now, by: actor.officer_id.clone() };
        let interview = self.state.flag_criminal_clue(&mut tx, actor, case, clue, &req.request_id, now).await?;
        let answer = self.interview_answer(&mut tx, &interview).await?;
        self.finish(tx, &key, answer).await
    }

    pub(super) async fn close_interview(&self, actor: &Actor, req: &pb::CloseInterviewRequest) -> Result<pb::Interview, Error> {
        let case_id = parse_uuid("case_id", &req.case_id)?;
        at_most("recording_sha256", &req.recording_sha256, 20)?;
        let mut recordings = Vec::new();
        for (i, sha) in req.recording_sha256.iter().enumerate() {
            let field = format!("recording_sha256[{i}]");
            let sha = sha256(&field, sha)?;
            let bytes = self.state.objects.size_of(&sha).await?.ok_or_else(|| Error::invalid(&field, "no file with this SHA-256 in the object store; upload the recording first"))?;
            recordings.push(StoredRecording { path: format!("sha256/{}/{}", &sha[..2], sha), sha256: sha, bytes });
        }
        let key = self.begin_key(actor, &req.request_id, "CloseInterview", req)?;
        let mut tx = self.begin().await?;
        if let Some(done) = requests::replay(&mut tx, &self.state.vault, &key).await? {
            return Ok(done);
        }
        let (case, plan) = self.case_and_plan(&mut tx, actor, case_id).await?;
        let interview = self.state.close_interview(&mut tx, actor, case, &plan, recordings, &req.request_id, self.now()).await?;
        let answer = self.interview_answer(&mut tx, &interview).await?;
        self.finish(tx, &key, answer).await
    }

    pub(super) async fn get_interview(&self, actor: &Actor, req: &pb::GetInterviewRequest) -> Result<pb::Interview, Error> {
        let case_id = parse_uuid("case_id", &req.case_id)?;
        let mut conn = self.state.pool.acquire().await?;
        let case = store::case(&mut conn, case_id, false).await?.ok_or_else(|| Error::NotFound(format!("case {case_id}")))?;
        actor.require_scope_of(&case.division, &case.co_departments)?;
        let interview = istore::interview_of_case(&mut conn, case_id, false).await?.ok_or_else(|| Error::NotFound(format!("interview of case {case_id}")))?;
        self.interview_answer(&mut conn, &interview).await
    }

    pub(super) async fn sign_record(&self, actor: &Actor, req: &pb::SignRecordRequest) -> Result<pb::Record, Error> {
        let id = parse_uuid("record_id", &req.record_id)?;
        let key = self.begin_key(actor, &req.request_id, "SignRecord", req)?;
        let mut tx = self.begin().await?;
        if let Some(done) = requests::replay(&mut tx, &self.state.vault, &key).await? {
            return Ok(done);
        }
        let record = self.record_for_change(&mut tx, actor, id, false).await?;
        let record = self.state.sign_record(&mut tx, actor, record, &req.request_id, self.now()).await?;
        let answer = record_proto(&mut tx, &record).await?;
        self.finish(tx, &key, answer).await
    }

    pub(super) async fn record_party_signature(&self, actor: &Actor, req: &pb::RecordPartySignatureRequest) -> Result<pb::Record, Error> {
        let id = parse_uuid("record_id", &req.record_id)?;
        let method = match pb::SignatureMethod::try_from(req.method) {
            Ok(pb::SignatureMethod::Paper) => "paper",
            Ok(pb::SignatureMethod::Tablet) => "tablet",
            _ => return Err(Error::invalid("method", "paper or tablet")),
        };
        let name = required("signer_name", &req.signer_name, 100)?;
        let image = sha256("image_sha256", &req.image_sha256)?;
        if !self.state.objects.exists(&image).await? {
            return Err(Error::invalid("image_sha256", "no file with this SHA-256 in the object store; upload the signature first"));
        }
        let key = self.begin_key(actor, &req.request_id, "RecordPartySignature", req)?;
        let mut tx = self.begin().await?;
        if let Some(done) = requests::replay(&mut tx, &self.state.vault, &key).await? {
            return Ok(done);
        }
        let record = self.record_for_change(&mut tx, actor, id, true).await?;
        let record = self.state.record_party_signature(&mut tx, actor, record, method, name, image, &req.request_id, self.now()).await?;
        let answer = record_proto(&mut tx, &record).await?;
        self.finish(tx, &key, answer).await
    }

    pub(super) async fn record_party_refusal(&self, actor: &Actor, req: &pb::RecordPartyRefusalRequest) -> Result<pb::Record, Error> {
        let id = parse_uuid("record_id", &req.record_id)?;
        let reason = required("reason", &req.reason, MAX_TEXT)?;
        at_most("witnesses", &req.witnesses, 10)?;
        let mut witnesses = Vec::new();
        for (i, w) in req.witnesses.iter().enumerate() {
            let f = |n: &str| format!("witnesses[{i}].{n}");
            let sha = sha256(&f("signature_sha256"), &w.signature_sha256)?;
            if !self.state.objects.exists(&sha).await? {
                return Err(Error::invalid(f("signature_sha256"), "no file with this SHA-256 in the object store"));
            }
            witnesses.push(WitnessInput { name: required(&f("name"), &w.name, 100)?, detail: optional(&f("detail"), &w.detail, 200)?, signature_sha256: sha });
        }
        let key = self.begin_key(actor, &req.request_id, "RecordPartyRefusal", req)?;
        let mut tx = self.begin().await?;
        if let Some(done) = requests::replay(&mut tx, &self.state.vault, &key).await? {
            return Ok(done);
        }
        let record = self.record_for_change(&mut tx, actor, id, true).await?;
        let record = self.state.record_party_refusal(&mut tx, actor, record, reason, witnesses, &req.request_id, self.now()).await?;
        let answer = record_proto(&mut tx, &record).await?;
        self.finish(tx, &key, answer).await
    }

    pub(super) async fn send_record_for_signature(&self, actor: &Actor, req: &pb::SendRecordForSignatureRequest) -> Result<pb::Service, Error> {
        let id = parse_uuid("record_id", &req.record_id)?;
        let key = self.begin_key(actor, &req.request_id, "SendRecordForSignature", req)?;
        let mut tx = self.begin().await?;
        if let Some(done) = requests::replay(&mut tx, &self.state.vault, &key).await? {
            return Ok(done);
        }
        let record = self.record_for_change(&mut tx, actor, id, true).await?;
        let service = self.state.send_record_for_signature(&mut tx, actor, &record, &req.request_id, self.now()).await?;
        let attempts = store::attempts_of(&mut tx, &[service.id]).await?;
        let answer = crate::convert::service_proto(&service, &attempts);
        self.finish(tx, &key, answer).await
    }

    pub(super) async fn correct_record(&self, actor: &Actor, req: &pb::CorrectRecordRequest) -> Result<pb::Record, Error> {
        let id = parse_uuid("record_id", &req.record_id)?;
        let correction = Correction {
            reason: required("reason", &req.reason, MAX_TEXT)?,
            informing: req.informing.as_ref().map(|i| informing("informing", i)).transpose()?,
            listening: req.listening.as_ref().map(|l| listening("listening", l)).transpose()?,
            items: req.agreeing.as_ref().map(|a| items("items", a)).transpose()?,
        };
        if correction.informing.is_none() && correction.listening.is_none() && correction.items.is_none() {
            return Err(Error::invalid("informing", "a correction changes at least one step (informing, listening or agreeing)"));
        }
        let key = self.begin_key(actor, &req.request_id, "CorrectRecord", req)?;
        let mut tx = self.begin().await?;
        if let Some(done) = requests::replay(&mut tx, &self.state.vault, &key).await? {
            return Ok(done);
        }
        let record = self.record_for_change(&mut tx, actor, id, true).await?;
        let record = self.state.correct_record(&mut tx, actor, record, correction, &req.request_id, self.now()).await?;
        let answer = record_proto(&mut tx, &record).await?;
        self.finish(tx, &key, answer).await
    }

    pub(super) async fn get_record(&self, actor: &Actor, req: &pb::GetRecordRequest) -> Result<pb::Record, Error> {
        let id = parse_uuid("record_id", &req.record_id)?;
        let mut conn = self.state.pool.acquire().await?;
        let record = istore::record(&mut conn, id, false).await?.ok_or_else(|| Error::NotFound(format!("record {id}")))?;
        actor.require_scope_of(&record.division, &record.co_departments)?;
        record_proto(&mut conn, &record).await
    }

    /// The record's PDF from the object store (the console's preview and download).
    pub(super) async fn get_record_file(&self, actor: &Actor, req: &pb::GetRecordFileRequest) -> Result<pb::DocumentFile, Error> {
        let id = parse_uuid("record_id", &req.record_id)?;
        let mut conn = self.state.pool.acquire().await?;
        let record = istore::record(&mut conn, id, false).await?.ok_or_else(|| Error::NotFound(format!("record {id}")))?;
        actor.require_scope_of(&record.division, &record.co_departments)?;
        let sha256 = if record.signed_sha256.is_empty() { record.content_sha256.clone() } else { record.signed_sha256.clone() };
        let pdf = self.state.objects.get(&sha256).await?;
        Ok(pb::DocumentFile { document_id: record.id.to_string(), title: "约谈笔录".into(), number: record.number.clone(), sha256, pdf })
    }

    pub(super) async fn list_records_to_sign(&self, actor: &Actor, req: &pb::ListRecordsToSignRequest) -> Result<pb::ListRecordsResponse, Error> {
        let limit = yuetan_platform::fields::page_size(req.page_size)?;
        let mut conn = self.state.pool.acquire().await?;
        let mut records = Vec::new();
        for r in istore::records_to_sign(&mut conn, &actor.officer_id, limit).await? {
            // The signer list names the caller; the scope still holds (a transferred officer sees nothing).
            if actor.require_scope_of(&r.division, &r.co_departments).is_ok() {
                records.push(record_proto(&mut conn, &r).await?);
            }
        }
        Ok(pb::ListRecordsResponse { records })
    }

    pub(super) async fn list_records(&self, actor: &Actor, req: &pb::ListRecordsRequest) -> Result<pb::ListRecordsResponse, Error> {
        let case_id = parse_uuid("case_id", &req.case_id)?;
        let mut conn = self.state.pool.acquire().await?;
        let case = store::case(&mut conn, case_id, false).await?.ok_or_else(|| Error::NotFound(format!("case {case_id}")))?;
        actor.require_scope_of(&case.division, &case.co_departments)?;
        let mut records = Vec::new();
        for r in istore::records_of_case(&mut conn, case_id).await? {
            records.push(record_proto(&mut conn, &r).await?);
        }
        Ok(pb::ListRecordsResponse { records })
    }
}
