//! The interview's state changes (R-INT-1..5, R-DOC-1): the video room, the
//! outline, the recorded steps, absence and refusal, the criminal clue, the
//! record and its signatures. Like the rest of `flow`, each function runs in
//! the caller's transaction and writes rows, events, timers and the audit
//! row together.
//!
//! The interview's id is its plan's id (one interview per plan).

use chrono::{DateTime, Datelike, Duration, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::types::Json;
use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_documents::{Attendance as DocAttendance, Document, InterviewOutline, InterviewRecord, RecordItem, RecordPerson, SignatureLine};
use yuetan_platform::fields::{cst_date, cst_datetime, date, end_of_cst_day, timestamp};
use yuetan_platform::numbering::organ_number;
use yuetan_platform::{timers, Actor, Error};
use yuetan_proto::events::{self as ev, event::Payload};
use yuetan_video::{RoomParticipant, RoomSpec};

use super::{qualifications, By, BY_SERVICE};
use crate::domain::interview::{self as rules, Item, Signed, Signer, PARTY};
use crate::domain::check_interviewer;
use crate::store::interview::{
    self as istore, Absence, AttendanceRow, Content, CriminalClue, Informing, InterviewRow, Listening, Opening, RecordRow, RoomMember, RoomRow, SignatureRow,
    StoredRecording,
};
use crate::store::{self, CaseRow, DocumentRow, PlanRow};
use crate::State;

/// Create the room on the video server; the key is the room id.
pub const ROOM_OPEN_TIMER: &str = "scheduling.video_room_open";
/// Destroy the room and collect its recordings; the key is the room id.
pub const ROOM_CLOSE_TIMER: &str = "scheduling.video_room_close";
/// R-INT-4: the record is due 5 working days after the interview; the key is the interview id.
pub const RECORD_TIMER: &str = "scheduling.record_due";

pub const OUTLINE_KIND: &str = "interview_outline";
pub const OUTLINE_TITLE: &str = "行政约谈提纲";
pub const OUTLINE_SUFFIX: &str = "约纲";
pub const RECORD_KIND: &str = "interview_record";
pub const RECORD_TITLE: &str = "行政约谈记录";
pub const RECORD_SUFFIX: &str = "约录";

/// What the officer writes into the outline.
#[derive(Debug, Clone)]
pub struct OutlineInput {
    pub facts: String,
    pub provisions: Vec<String>,
    pub evidence: Vec<String>,
    pub points: Vec<String>,
}

/// A witness of the party's refusal to sign.
#[derive(Debug, Clone)]
pub struct WitnessInput {
    pub name: String,
    pub detail: String,
    pub signature_sha256: String,
}

/// What a correction changes (absent: as it was).
#[derive(Debug, Clone, Default)]
pub struct Correction {
    pub reason: String,
    pub informing: Option<Informing>,
    pub listening: Option<Listening>,
    pub items: Option<Vec<Item>>,
}

/// The record's content as rendered for signing, kept (sealed) so the
/// signed version prints exactly what was signed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub issuing_organ: String,
    pub number: String,
    pub version: u32,
    pub correction_reason: String,
    pub case_number: String,
    pub party_name: String,
    pub started_at: NaiveDateTime,
    pub ended_at: NaiveDateTime,
    pub place: String,
    pub video: bool,
    /// (name, role, detail)
    pub people: Vec<(String, String, String)>,
    /// (name, role, from, until)
    pub attendance: Vec<(String, String, NaiveDateTime, Option<NaiveDateTime>)>,
    pub opening: String,
    pub facts: String,
    pub provisions: Vec<String>,
    pub evidence: Vec<String>,
    pub informing: String,
    pub party_statement: String,
    pub party_commitments: String,
    pub items: Vec<Item>,
    pub recordings: Vec<String>,
    pub criminal_clue: String,
    /// Kept for a correction: the steps as structured data.
    pub informing_data: Informing,
    pub listening_data: Listening,
}

impl Snapshot {
    fn document(&self, signatures: Vec<SignatureLine>, party_refusal: String) -> Document {
        Document::InterviewRecord(InterviewRecord {
            issuing_organ: self.issuing_organ.clone(),
            number: self.number.clone(),
            version: self.version,
            correction_reason: self.correction_reason.clone(),
            case_number: self.case_number.clone(),
            party_name: self.party_name.clone(),
            started_at: self.started_at,
            ended_at: self.ended_at,
            place: self.place.clone(),
            video: self.video,
            people: self.people.iter().map(|(name, role, detail)| RecordPerson { name: name.clone(), role: role.clone(), detail: detail.clone() }).collect(),
            attendance: self
                .attendance
                .iter()
                .map(|(name, role, from, until)| DocAttendance { name: name.clone(), role: role.clone(), from: *from, until: *until })
                .collect(),
            opening: self.opening.clone(),
            facts: self.facts.clone(),
            provisions: self.provisions.clone(),
            evidence: self.evidence.clone(),
            informing: self.informing.clone(),
            party_statement: self.party_statement.clone(),
            party_commitments: self.party_commitments.clone(),
            items: self
                .items
                .iter()
                .map(|i| RecordItem {
                    content: i.content.clone(),
                    deadline: i.deadline,
                    acceptance_standard: i.acceptance_standard.clone(),
                    check_method: i.check_method.clone(),
                    extended_note: if i.approved_by.is_empty() { String::new() } else { format!("科室负责人 {} 批准延长：{}", i.approved_by, i.approval_reason) },
                })
                .collect(),
            recordings: self.recordings.clone(),
            signatures,
            party_refusal,
            criminal_clue: self.criminal_clue.clone(),
        })
    }
}

fn content_context(case_id: Uuid) -> String {
    format!("scheduling.interview/{case_id}")
}

fn record_context(record_id: Uuid) -> String {
    format!("scheduling.record/{record_id}")
}

fn audit_interview(i: &InterviewRow) -> serde_json::Value {
    json!({
        "interview_id": i.id, "case_id": i.case_id, "status": i.status, "mode": i.mode, "started_at": i.started_at, "ended_at": i.ended_at,
        "present": i.present, "items": i.items.0, "criminal_clue": i.criminal_clue, "party_absent": i.party_absent, "record_due": i.record_due,
        "record_overdue": i.record_overdue, "version": i.version,
    })
}

fn audit_record(r: &RecordRow) -> serde_json::Value {
    json!({
        "record_id": r.id, "case_id": r.case_id, "version": r.version, "number": r.number, "status": r.status,
        "content_sha256": r.content_sha256, "signed_sha256": r.signed_sha256, "party_refused": r.party_refused,
    })
}

fn agreed(items: &[Item]) -> Vec<ev::AgreedItem> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| ev::AgreedItem {
            item_no: u32::try_from(i + 1).unwrap_or(0),
            content: item.content.clone(),
            deadline: Some(date(item.deadline)),
            acceptance_standard: item.acceptance_standard.clone(),
            check_method: item.check_method.clone(),
            approved_by: item.approved_by.clone(),
            approval_reason: item.approval_reason.clone(),
        })
        .collect()
}

/// The superior division a criminal clue is reported to (R-INT-5): a
/// county's city, a city's province.
pub fn superior_division(division: &str) -> String {
    if division.len() != 6 {
        return division.to_string();
    }
    if &division[4..] != "00" {
        format!("{}00", &division[..4])
    } else if &division[2..4] != "00" {
        format!("{}0000", &division[..2])
    } else {
        division.to_string()
    }
}

/// A Janus room id: random, non-zero, below 2^53 (JavaScript keeps it exact).
fn new_room_id() -> u64 {
    let n = u64::from_be_bytes(Uuid::new_v4().as_bytes()[..8].try_into().unwrap_or([1; 8])) & ((1 << 53) - 1);
    n.max(1)
}

impl RoomRow {
    pub fn spec(&self, tag: &str) -> RoomSpec {
        RoomSpec {
            room_id: u64::try_from(self.room_id).unwrap_or(0),
            description: format!("{tag}:{}", self.case_id),
            participants: self.participants.0.iter().map(RoomMember::participant).collect(),
            record: true,
        }
    }
}

impl RoomMember {
    pub fn participant(&self) -> RoomParticipant {
        RoomParticipant {
            key: self.key.clone(),
            display: self.name.clone(),
            feed_id: self.feed_id,
            moderator: matches!(self.role.as_str(), "interviewer" | "recorder" | "co_department"),
        }
    }

    pub fn role_zh(&self) -> &'static str {
        match self.role.as_str() {
            "interviewer" => "约谈人",
            "recorder" => "记录人",
            "co_department" => "联合约谈部门",
            "expert" => "专家",
            "party" => "当事人",
            "agent" => "委托代理人",
            _ => "参加人",
        }
    }
}

impl State {
    fn seal_content(&self, case_id: Uuid, content: &Content) -> Result<Vec<u8>, Error> {
        let text = serde_json::to_string(content).map_err(|e| Error::Internal(e.to_string()))?;
        self.vault.seal(&text, &content_context(case_id))
    }

    pub fn open_content(&self, interview: &InterviewRow) -> Result<Content, Error> {
        let text = self.vault.open(&interview.content_sealed, &content_context(interview.case_id))?;
        serde_json::from_str(&text).map_err(|e| Error::Internal(format!("interview content: {e}")))
    }

    pub fn open_snapshot(&self, record: &RecordRow) -> Result<Snapshot, Error> {
        let text = self.vault.open(&record.data_sealed, &record_context(record.id))?;
        serde_json::from_str(&text).map_err(|e| Error::Internal(format!("record data: {e}")))
    }

    // -----------------------------------------------------------------------
    // The video room

    /// Records the case's room (the id chosen now) and schedules its creation.
    pub(crate) async fn open_room(&self, conn: &mut PgConnection, case: &CaseRow, plan: &PlanRow, now: DateTime<Utc>) -> Result<(), Error> {
        let video = self.video()?;
        if istore::room_of_case(conn, case.case_id, true).await?.is_some() {
            return Ok(());
        }
        let names = self.officer_names(conn, &plan.interviewers).await?;
        let mut members = Vec::new();
        let mut add = |key: String, name: String, role: &str, organ: String| {
            let feed_id = 1001 + members.len() as u64;
            members.push(RoomMember { key, name, role: role.into(), feed_id, organ });
        };
        for (id, name) in plan.interviewers.iter().zip(names) {
            add(id.clone(), name, "interviewer", case.lead_organ.clone());
        }
        let recorder = self.officer_names(conn, std::slice::from_ref(&plan.recorder)).await?.pop().unwrap_or_default();
        add(plan.recorder.clone(), recorder, "recorder", case.lead_organ.clone());
        for (i, p) in plan.co_participants.0.iter().enumerate() {
            let key = if p.id.is_empty() { format!("co:{i}") } else { p.id.clone() };
            add(key, p.name.clone(), "co_department", p.organ.clone());
        }
        for (i, p) in plan.experts.0.iter().enumerate() {
            add(format!("expert:{i}"), p.name.clone(), "expert", String::new());
        }
        add(PARTY.into(), case.party_name.clone(), "party", String::new());
        add("agent".into(), format!("{}（委托代理人）", case.party_name), "agent", String::new());
        let room = RoomRow {
            room_id: i64::try_from(new_room_id()).unwrap_or(1),
            case_id: case.case_id,
            provider: video.kind().to_string(),
            status: "creating".into(),
            participants: Json(members),
            recordings: Json(Vec::new()),
            created_at: now,
            updated_at: now,
        };
        istore::insert_room(conn, &room).await?;
        timers::schedule(conn, ROOM_OPEN_TIMER, &room.room_id.to_string(), now, &json!({ "case_id": case.case_id })).await?;
        self.audit(conn, BY_SERVICE, &case.lead_organ, "video_room.plan", &format!("video_room/{}", room.room_id), None, Some(&json!({ "room_id": room.room_id, "provider": room.provider, "case_id": case.case_id })), now)
            .await
    }

    /// The notice's place for a video interview: the room and the party's own
    /// credentials (derived from the room id, so known before the server has
    /// the room). The notice is served to the party alone, like any document.
    pub(crate) async fn video_place(&self, conn: &mut PgConnection, case: &CaseRow, plan: &PlanRow) -> Result<String, Error> {
        let Some(room) = istore::room_of_case(conn, case.case_id, false).await? else {
            return Ok(format!("视频约谈（{}，接入方式另行送达）", plan.place));
        };
        let Some(party) = room.participants.0.iter().find(|m| m.key == PARTY) else {
            return Ok(format!("视频约谈（{}）", plan.place));
        };
        let until = plan.interview_at.unwrap_or(room.created_at) + Duration::hours(self.settings.video.join_valid_hours);
        let join = self.video()?.join_info(&room.spec(&self.settings.video.tag), &party.participant(), until).map_err(|e| Error::Unavailable(format!("video provider: {e}")))?;
        Ok(if join.pin.is_empty() {
            format!("视频约谈（{}）。接入地址：{}", plan.place, join.url)
        } else {
            format!("视频约谈（{}）。接入地址：{}，房间号：{}，PIN：{}，参会口令：{}，参会编号：{}", plan.place, join.url, join.room, join.pin, join.token, join.feed_id)
        })
    }

    /// The plan changed to in person: the room goes.
    pub(crate) async fn drop_room(&self, conn: &mut PgConnection, case: &CaseRow, now: DateTime<Utc>) -> Result<(), Error> {
        if let Some(mut room) = istore::room_of_case(conn, case.case_id, true).await? {
            self.close_room(conn, &mut room, now).await?;
        }
        Ok(())
    }

    async fn close_room(&self, conn: &mut PgConnection, room: &mut RoomRow, now: DateTime<Utc>) -> Result<(), Error> {
        if room.status == "closing" || room.status == "closed" {
            return Ok(());
        }
        room.status = "closing".into();
        room.updated_at = now;
        istore::update_room(conn, room).await?;
        timers::schedule(conn, ROOM_CLOSE_TIMER, &room.room_id.to_string(), now, &json!({ "case_id": room.case_id })).await?;
        Ok(())
    }

    /// Timer: the server has the room (created now, or adopted after a crash).
    pub(crate) async fn room_created(&self, conn: &mut PgConnection, mut room: RoomRow, created: yuetan_video::Created, now: DateTime<Utc>) -> Result<(), Error> {
        room.status = "open".into();
        room.updated_at = now;
        istore::update_room(conn, &room).await?;
        let organ = store::case(conn, room.case_id, false).await?.map(|c| c.lead_organ).unwrap_or_default();
        self.audit(conn, BY_SERVICE, &organ, "video_room.open", &format!("video_room/{}", room.room_id), None, Some(&json!({ "room_id": room.room_id, "adopted": created == yuetan_video::Created::Existing })), now)
            .await
    }

    /// Timer: the server's room is gone; its recordings are referenced. An
    /// interview waiting for them gets its record drawn up now.
    pub(crate) async fn room_closed(&self, conn: &mut PgConnection, mut room: RoomRow, recordings: Vec<StoredRecording>, causation: &str, now: DateTime<Utc>) -> Result<(), Error> {
        room.status = "closed".into();
        room.recordings = Json(recordings.clone());
        room.updated_at = now;
        istore::update_room(conn, &room).await?;
        let Some(mut case) = store::case(conn, room.case_id, true).await? else { return Ok(()) };
        self.audit(conn, BY_SERVICE, &case.lead_organ, "video_room.close", &format!("video_room/{}", room.room_id), None, Some(&json!({ "recordings": recordings })), now)
            .await?;
        let Some(mut interview) = istore::interview_of_case(conn, room.case_id, true).await? else { return Ok(()) };
        if interview.status != "closing" {
            return Ok(());
        }
        let mut all = interview.recordings.0.clone();
        all.extend(recordings);
        interview.recordings = Json(all);
        interview.status = "held".into();
        self.draw_record(conn, &mut case, &mut interview, None, causation, now).await.map(|_| ())
    }

    /// portal.video_event: a participant entered or left the room.
    pub async fn video_event(&self, conn: &mut PgConnection, event: &ev::PortalVideoEvent, causation: &str) -> Result<(), Error> {
        let Ok(room_id) = i64::try_from(event.room_id) else { return Ok(()) };
        let Some(room) = istore::room(conn, room_id, false).await? else {
            tracing::info!(room = event.room_id, "a video event of a room this deployment does not hold; ignored");
            return Ok(());
        };
        let Some(member) = room.participants.0.iter().find(|m| m.feed_id == event.feed_id).cloned() else {
            tracing::warn!(room = event.room_id, feed = event.feed_id, "a video event of an unknown participant id; ignored");
            return Ok(());
        };
        let Some(mut case) = store::case(conn, room.case_id, true).await? else { return Ok(()) };
        let at = yuetan_platform::fields::from_timestamp(event.at.as_ref()).unwrap_or_else(|| self.clock.now());
        let now = self.clock.now();
        let interview_id = store::plan_of_case(conn, case.case_id, false).await?.map(|p| p.id.to_string()).unwrap_or_default();
        if event.joined {
            let row = AttendanceRow {
                id: Uuid::now_v7(),
                case_id: case.case_id,
                participant_key: member.key.clone(),
                name: member.name.clone(),
                role: member.role.clone(),
                joined_at: at,
                left_at: None,
                source: "video".into(),
                report_key: format!("{}:{}:{}", event.room_id, event.feed_id, at.timestamp_micros()),
            };
            if !istore::insert_attendance(conn, &row).await? {
                return Ok(());
            }
            let payload = Payload::ParticipantJoined(ev::ParticipantJoined {
                case_id: case.case_id.to_string(),
                interview_id,
                participant_key: member.key.clone(),
                name: member.name.clone(),
                role: member.role.clone(),
                at: Some(timestamp(at)),
                source: "video".into(),
            });
            self.emit(conn, &mut case, "scheduling.participant_joined", BY_SERVICE, causation, payload, now).await
        } else {
            if !istore::close_attendance(conn, case.case_id, &member.key, at).await? {
                return Ok(());
            }
            let payload = Payload::ParticipantLeft(ev::ParticipantLeft {
                case_id: case.case_id.to_string(),
                interview_id,
                participant_key: member.key.clone(),
                name: member.name.clone(),
                role: member.role.clone(),
                at: Some(timestamp(at)),
                source: "video".into(),
            });
            self.emit(conn, &mut case, "scheduling.participant_left", BY_SERVICE, causation, payload, now).await
        }
    }

    // -----------------------------------------------------------------------
    // The outline

    /// Numbers and renders the interview outline (约谈提纲, R-DOC-1).
    pub async fn issue_outline(&self, conn: &mut PgConnection, actor: &Actor, case: &CaseRow, plan: &PlanRow, input: OutlineInput, now: DateTime<Utc>) -> Result<DocumentRow, Error> {
        let Some(interview_at) = plan.interview_at else {
            return Err(Error::FailedPrecondition("the interview is not planned yet (PlanInterview first)".into()));
        };
        let number = self.take_number(conn, case, OUTLINE_SUFFIX, OUTLINE_KIND, now).await?;
        let mut participants: Vec<String> = plan.co_participants.0.iter().map(|p| format!("{}（{}）", p.name, p.organ)).collect();
        participants.extend(plan.experts.0.iter().map(|p| format!("{}（专家）", p.name)));
        let outline = InterviewOutline {
            issuing_organ: case.organ_name.clone(),
            number: number.clone(),
            case_number: case.number.clone(),
            party_name: case.party_name.clone(),
            interview_at: cst_datetime(interview_at),
            place: plan.place.clone(),
            video: plan.mode == "video",
            interviewers: self.officer_names(conn, &plan.interviewers).await?,
            recorder: self.officer_names(conn, std::slice::from_ref(&plan.recorder)).await?.pop().unwrap_or_default(),
            participants,
            facts: if input.facts.is_empty() { plan.matter.clone() } else { input.facts },
            provisions: if input.provisions.is_empty() { vec![plan.legal_basis.clone()] } else { input.provisions },
            evidence: input.evidence,
            points: input.points,
            prepared_on: cst_date(now),
        };
        let rendered = self.renderer.render(&Document::InterviewOutline(outline)).map_err(|e| Error::Internal(format!("rendering the outline: {e}")))?;
        let stored = self.objects.put(rendered.pdf).await?;
        let document = DocumentRow {
            id: Uuid::now_v7(),
            case_id: case.case_id,
            kind: OUTLINE_KIND.into(),
            title: OUTLINE_TITLE.into(),
            number,
            organ: case.lead_organ.clone(),
            division: case.division.clone(),
            sha256: stored.sha256,
            pages: i32::try_from(rendered.pages).unwrap_or(1),
            revision: 1,
            status: "issued".into(),
            seal_signature: String::new(),
            seal_key_id: String::new(),
            sealed_at: None,
            issued_by: actor.officer_id.clone(),
            created_at: now,
        };
        store::insert_document(conn, &document).await?;
        self.audit(conn, By::Officer(actor), &actor.organ, "outline.issue", &format!("document/{}", document.id), None, Some(&json!({ "document": document })), now).await?;
        Ok(document)
    }

    /// The next number of a kind (R-DOC-2: gap-free, in this transaction).
    async fn take_number(&self, conn: &mut PgConnection, case: &CaseRow, suffix: &str, kind: &str, now: DateTime<Utc>) -> Result<String, Error> {
        organ_number(conn, &case.document_code, &case.lead_organ, suffix, kind, cst_date(now).year()).await
    }

    // -----------------------------------------------------------------------
    // Holding the interview

    /// R-INT-1 at the interview: each officer checking in is qualified today.
    async fn check_in_officers(&self, conn: &mut PgConnection, ids: &[String], field: &str, day: chrono::NaiveDate) -> Result<Vec<crate::store::OfficerRow>, Error> {
        let rows = store::officers_by_id(conn, ids).await?;
        let mut out = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            let row = rows.iter().find(|r| &r.officer_id == id).ok_or_else(|| Error::invalid(format!("{field}[{i}]"), format!("officer {id} is not in the directory")))?;
            check_interviewer(&qualifications(row), day).map_err(|m| Error::invalid(format!("{field}[{i}]"), format!("check-in refused: {m}")))?;
            out.push(row.clone());
        }
        Ok(out)
    }

    /// Step 1 (R-INT-3): the interviewers present check in and the opening is recorded.
    #[allow(clippy::too_many_arguments)]
    pub async fn start_interview(
        &self,
        conn: &mut PgConnection,
        actor: &Actor,
        mut case: CaseRow,
        plan: PlanRow,
        present: Vec<String>,
        opening: Opening,
        representative: String,
        agent: String,
        causation: &str,
        now: DateTime<Utc>,
    ) -> Result<InterviewRow, Error> {
        if plan.status != "served" {
            return Err(Error::FailedPrecondition(format!("the interview notice is not served yet (plan is {})", plan.status)));
        }
        // The party was served for the planned time (R-NOTICE-3): not much earlier.
        if let Some(planned) = plan.interview_at {
            let earliest = planned - Duration::minutes(self.settings.start_early_minutes);
            if now < earliest {
                return Err(Error::FailedPrecondition(format!(
                    "the interview is planned for {} CST; it may start from {} CST (the party was served for that time, R-NOTICE-3)",
                    crate::domain::cst(planned),
                    crate::domain::cst(earliest)
                )));
            }
        }
        let existing = istore::interview_of_case(conn, case.case_id, true).await?;
        if let Some(i) = &existing {
            if i.status != "rescheduled" {
                return Err(Error::FailedPrecondition(format!("the interview was already started (it is {})", i.status)));
            }
        }
        let rows = self.check_in_officers(conn, &present, "interviewers_present", cst_date(now)).await?;
        let mut content = match &existing {
            Some(i) => self.open_content(i)?,
            None => Content::default(),
        };
        content.opening = opening;
        content.party_representative = representative;
        content.agent = agent;
        let interview = InterviewRow {
            id: plan.id,
            case_id: case.case_id,
            organ: case.lead_organ.clone(),
            division: case.division.clone(),
            mode: plan.mode.clone(),
            status: "started".into(),
            started_at: now,
            ended_at: None,
            present: present.clone(),
            content_sealed: self.seal_content(case.case_id, &content)?,
            items: Json(Vec::new()),
            recordings: Json(Vec::new()),
            criminal_clue: false,
            held_for_transfer: false,
            party_absent: existing.as_ref().is_some_and(|i| i.party_absent),
            record_due: None,
            record_overdue: false,
            version: existing.as_ref().map_or(1, |i| i.version + 1),
            updated_at: now,
        };
        if existing.is_some() {
            istore::update_interview(conn, &interview).await?;
            sqlx::query("UPDATE interviews SET started_at = $2 WHERE id = $1").bind(interview.id).bind(now).execute(&mut *conn).await?;
        } else {
            istore::insert_interview(conn, &interview).await?;
        }
        if plan.mode != "video" {
            for row in &rows {
                self.check_in_attendance(conn, &case, &row.officer_id, &row.name, now).await?;
            }
        }
        let room_id = istore::room_of_case(conn, case.case_id, false).await?.map_or(0, |r| u64::try_from(r.room_id).unwrap_or(0));
        let payload = Payload::InterviewStarted(ev::InterviewStarted {
            case_id: case.case_id.to_string(),
            interview_id: interview.id.to_string(),
            started_at: Some(timestamp(now)),
            mode: plan.mode.clone(),
            interviewers_present: present,
            room_id,
        });
        self.emit(conn, &mut case, "scheduling.interview_started", By::Officer(actor), causation, payload, now).await?;
        self.audit(conn, By::Officer(actor), &actor.organ, "interview.start", &format!("interview/{}", interview.id), None, Some(&audit_interview(&interview)), now).await?;
        Ok(interview)
    }

    async fn check_in_attendance(&self, conn: &mut PgConnection, case: &CaseRow, officer_id: &str, name: &str, now: DateTime<Utc>) -> Result<(), Error> {
        let row = AttendanceRow {
            id: Uuid::now_v7(),
            case_id: case.case_id,
            participant_key: officer_id.to_string(),
            name: name.to_string(),
            role: "interviewer".into(),
            joined_at: now,
            left_at: None,
            source: "check_in".into(),
            report_key: format!("check_in:{officer_id}:{}", now.timestamp_micros()),
        };
        istore::insert_attendance(conn, &row).await.map(|_| ())
    }

    /// The interview as it is now, locked, in the given states.
    async fn interview_in(&self, conn: &mut PgConnection, case_id: Uuid, states: &[&str]) -> Result<InterviewRow, Error> {
        let interview = istore::interview_of_case(conn, case_id, true).await?.ok_or_else(|| Error::FailedPrecondition("the interview has not started (StartInterview first)".into()))?;
        if !states.contains(&interview.status.as_str()) {
            return Err(Error::FailedPrecondition(format!("the interview is {}, not {}", interview.status, states.join(" or "))));
        }
        Ok(interview)
    }

    #[allow(clippy::too_many_arguments)]
    async fn save_interview(&self, conn: &mut PgConnection, actor: &Actor, before: serde_json::Value, interview: &mut InterviewRow, content: Option<&Content>, action: &str, now: DateTime<Utc>) -> Result<(), Error> {
        if let Some(content) = content {
            interview.content_sealed = self.seal_content(interview.case_id, content)?;
        }
        interview.version += 1;
        interview.updated_at = now;
        istore::update_interview(conn, interview).await?;
        self.audit(conn, By::Officer(actor), &actor.organ, action, &format!("interview/{}", interview.id), Some(&before), Some(&audit_interview(interview)), now).await
    }

    /// A further interviewer checks in (a lapsed certification is refused).
    pub async fn check_in(&self, conn: &mut PgConnection, actor: &Actor, case: &CaseRow, officer_id: String, now: DateTime<Utc>) -> Result<InterviewRow, Error> {
        let mut interview = self.interview_in(conn, case.case_id, &["started"]).await?;
        let before = audit_interview(&interview);
        let rows = self.check_in_officers(conn, std::slice::from_ref(&officer_id), "officer_id", cst_date(now)).await?;
        if interview.present.contains(&officer_id) {
            return Ok(interview);
        }
        interview.present.push(officer_id.clone());
        if interview.mode != "video" {
            self.check_in_attendance(conn, case, &officer_id, &rows[0].name, now).await?;
        }
        self.save_interview(conn, actor, before, &mut interview, None, "interview.check_in", now).await?;
        Ok(interview)
    }

    /// Steps 2–4 (R-INT-3).
    pub async fn record_step(&self, conn: &mut PgConnection, actor: &Actor, case: &CaseRow, step: Step, now: DateTime<Utc>) -> Result<InterviewRow, Error> {
        let mut interview = self.interview_in(conn, case.case_id, &["started"]).await?;
        let before = audit_interview(&interview);
        let mut content = self.open_content(&interview)?;
        match step {
            Step::Informing(i) => content.informing = Some(i),
            Step::Listening(l) => content.listening = Some(l),
            Step::Agreeing(items) => {
                self.check_items(conn, case, &items, cst_date(interview.started_at)).await?;
                interview.items = Json(items);
            }
        }
        self.save_interview(conn, actor, before, &mut interview, Some(&content), "interview.step", now).await?;
        Ok(interview)
    }

    /// R-INT-3 (4) and the chief's approval of a longer deadline.
    async fn check_items(&self, conn: &mut PgConnection, case: &CaseRow, items: &[Item], day: chrono::NaiveDate) -> Result<(), Error> {
        rules::check_items(items, day).map_err(|(field, why)| Error::invalid(field, why))?;
        for (i, item) in items.iter().enumerate() {
            if item.approved_by.is_empty() {
                continue;
            }
            let chief = store::officer(conn, &item.approved_by, false).await?;
            if chief.is_none_or(|c| !c.active || c.organ != case.lead_organ) {
                return Err(Error::invalid(format!("items[{i}].chief_approval.officer_id"), format!("{} is not an active officer of organ {}", item.approved_by, case.lead_organ)));
            }
        }
        Ok(())
    }

    /// The party did not come or left: time and evidence; the officer then
    /// reschedules once or closes the interview as refused.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_party_absent(&self, conn: &mut PgConnection, actor: &Actor, mut case: CaseRow, plan: &PlanRow, absence: Absence, causation: &str, now: DateTime<Utc>) -> Result<InterviewRow, Error> {
        let mut interview = match istore::interview_of_case(conn, case.case_id, true).await? {
            Some(i) => i,
            None => {
                if plan.status != "served" {
                    return Err(Error::FailedPrecondition(format!("the interview notice is not served yet (plan is {})", plan.status)));
                }
                let content = Content::default();
                let row = InterviewRow {
                    id: plan.id,
                    case_id: case.case_id,
                    organ: case.lead_organ.clone(),
                    division: case.division.clone(),
                    mode: plan.mode.clone(),
                    status: "started".into(),
                    started_at: absence.at,
                    ended_at: None,
                    present: Vec::new(),
                    content_sealed: self.seal_content(case.case_id, &content)?,
                    items: Json(Vec::new()),
                    recordings: Json(Vec::new()),
                    criminal_clue: false,
                    held_for_transfer: false,
                    party_absent: false,
                    record_due: None,
                    record_overdue: false,
                    version: 1,
                    updated_at: now,
                };
                istore::insert_interview(conn, &row).await?;
                row
            }
        };
        if !matches!(interview.status.as_str(), "started" | "rescheduled") {
            return Err(Error::FailedPrecondition(format!("the interview is {}", interview.status)));
        }
        let before = audit_interview(&interview);
        let mut content = self.open_content(&interview)?;
        content.absences.push(absence.clone());
        interview.party_absent = true;
        interview.status = "absent".into();
        self.save_interview(conn, actor, before, &mut interview, Some(&content), "interview.party_absent", now).await?;
        let payload = Payload::PartyAbsent(ev::PartyAbsent {
            case_id: case.case_id.to_string(),
            interview_id: interview.id.to_string(),
            kind: absence.kind.clone(),
            at: Some(timestamp(absence.at)),
            evidence: absence.evidence.clone(),
            evidence_sha256: absence.evidence_sha256.clone(),
        });
        self.emit(conn, &mut case, "scheduling.party_absent", By::Officer(actor), causation, payload, now).await?;
        Ok(interview)
    }

    /// After an absence the officer replans once: the interview waits for its new start.
    pub(crate) async fn rescheduled_after_absence(&self, conn: &mut PgConnection, actor: &Actor, case_id: Uuid, now: DateTime<Utc>) -> Result<(), Error> {
        let Some(mut interview) = istore::interview_of_case(conn, case_id, true).await? else { return Ok(()) };
        match interview.status.as_str() {
            "absent" => {}
            "rescheduled" => return Ok(()),
            other => return Err(Error::FailedPrecondition(format!("the interview is {other}; it cannot be replanned"))),
        }
        let before = audit_interview(&interview);
        let mut content = self.open_content(&interview)?;
        if content.absences.len() > 1 {
            return Err(Error::FailedPrecondition("the party was absent again after one rescheduling; close the interview as refused (CloseInterviewAsRefused)".into()));
        }
        content.refusal_reason.clear();
        interview.status = "rescheduled".into();
        self.save_interview(conn, actor, before, &mut interview, Some(&content), "interview.reschedule", now).await
    }

    /// The interview is closed as refused: the case goes to the penalty decision.
    pub async fn close_as_refused(&self, conn: &mut PgConnection, actor: &Actor, mut case: CaseRow, reason: String, causation: &str, now: DateTime<Utc>) -> Result<InterviewRow, Error> {
        let mut interview = self.interview_in(conn, case.case_id, &["absent", "started"]).await?;
        let before = audit_interview(&interview);
        let mut content = self.open_content(&interview)?;
        if content.absences.is_empty() {
            return Err(Error::FailedPrecondition("no absence or refusal of the party is recorded (RecordPartyAbsent first)".into()));
        }
        content.refusal_reason = reason.clone();
        interview.status = "refused".into();
        interview.ended_at = Some(now);
        self.save_interview(conn, actor, before, &mut interview, Some(&content), "interview.refused", now).await?;
        if let Some(mut room) = istore::room_of_case(conn, case.case_id, true).await? {
            self.close_room(conn, &mut room, now).await?;
        }
        let payload = Payload::InterviewRefused(ev::InterviewRefused {
            case_id: case.case_id.to_string(),
            interview_id: interview.id.to_string(),
            reason,
            absences: content
                .absences
                .iter()
                .map(|a| ev::PartyAbsent {
                    case_id: case.case_id.to_string(),
                    interview_id: interview.id.to_string(),
                    kind: a.kind.clone(),
                    at: Some(timestamp(a.at)),
                    evidence: a.evidence.clone(),
                    evidence_sha256: a.evidence_sha256.clone(),
                })
                .collect(),
            number: case.number.clone(),
        });
        self.emit(conn, &mut case, "scheduling.interview_refused", By::Officer(actor), causation, payload, now).await?;
        Ok(interview)
    }

    /// R-INT-5: transferred at once, reported to the superior department; the case is held.
    pub async fn flag_criminal_clue(&self, conn: &mut PgConnection, actor: &Actor, mut case: CaseRow, clue: CriminalClue, causation: &str, now: DateTime<Utc>) -> Result<InterviewRow, Error> {
        let mut interview = self.interview_in(conn, case.case_id, &["started", "closing", "held"]).await?;
        let before = audit_interview(&interview);
        let mut content = self.open_content(&interview)?;
        content.criminal_clue = Some(clue.clone());
        interview.criminal_clue = true;
        interview.held_for_transfer = true;
        self.save_interview(conn, actor, before, &mut interview, Some(&content), "interview.criminal_clue", now).await?;
        let payload = Payload::CriminalClueTransferred(ev::CriminalClueTransferred {
            case_id: case.case_id.to_string(),
            interview_id: interview.id.to_string(),
            description: clue.description,
            transferred_to: clue.transferred_to,
            transfer_record_sha256: clue.transfer_record_sha256,
            at: Some(timestamp(now)),
            reported_to: superior_division(&case.division),
        });
        self.emit(conn, &mut case, "scheduling.criminal_clue_transferred", By::Officer(actor), causation, payload, now).await?;
        Ok(interview)
    }

    /// Step 5: the interview closes; R-INT-1 holds for those present; the
    /// record is due in 5 working days (durable timer); a video room closes
    /// first and the record is drawn up when its recordings are in.
    #[allow(clippy::too_many_arguments)]
    pub async fn close_interview(&self, conn: &mut PgConnection, actor: &Actor, mut case: CaseRow, plan: &PlanRow, recordings: Vec<StoredRecording>, causation: &str, now: DateTime<Utc>) -> Result<InterviewRow, Error> {
        let mut interview = self.interview_in(conn, case.case_id, &["started"]).await?;
        let before = audit_interview(&interview);
        let content = self.open_content(&interview)?;
        let day = cst_date(interview.started_at);
        let rows = store::officers_by_id(conn, &interview.present).await?;
        let panel: Vec<_> = rows.iter().map(qualifications).collect();
        crate::domain::check_panel(&panel, day).map_err(|m| Error::FailedPrecondition(format!("the record cannot be closed: {m}")))?;
        if !content.opening.certificates_shown {
            return Err(Error::FailedPrecondition("the opening did not record that the enforcement certificates were shown (R-INT-3)".into()));
        }
        let informing = content.informing.as_ref().ok_or_else(|| Error::FailedPrecondition("the informing step is not recorded (R-INT-3 step 2)".into()))?;
        if !informing.rights_explained {
            return Err(Error::FailedPrecondition("the party's right to state and defend was not explained (R-INT-3 step 2)".into()));
        }
        if content.listening.is_none() {
            return Err(Error::FailedPrecondition("the party's statement is not recorded (R-INT-3 step 3)".into()));
        }
        if interview.items.0.is_empty() && !interview.held_for_transfer {
            return Err(Error::FailedPrecondition("no rectification items are agreed (R-INT-3 step 4)".into()));
        }
        for organ in &case.co_departments {
            if !plan.co_participants.0.iter().any(|p| &p.organ == organ && !p.id.is_empty()) {
                return Err(Error::FailedPrecondition(format!("co-department {organ} has no officer on the plan to sign the record")));
            }
        }
        let video = interview.mode == "video";
        // R-INT-2: recorded in full either way. A video room's own recordings
        // count (Janus writes them while the room is open); otherwise the
        // officer's upload.
        let room = if video { istore::room_of_case(conn, case.case_id, true).await? } else { None };
        let mut recordings = recordings;
        if let Some(room) = &room {
            let server = self.video()?.recordings(u64::try_from(room.room_id).unwrap_or(0)).await.map_err(|e| Error::Unavailable(format!("recordings: {e}")))?;
            if recordings.is_empty() && server.is_empty() {
                return Err(Error::invalid(
                    "recording_sha256",
                    "the video server has no recording of this room (no media was published, or the provider does not record): upload the interview's recording and name it (R-INT-2)",
                ));
            }
        }
        if !video && recordings.is_empty() {
            return Err(Error::invalid("recording_sha256", "an in-person interview is recorded in full (R-INT-2): upload the recording and name it"));
        }
        recordings.retain(|r| !r.sha256.is_empty());
        let due = rules::record_due(&self.calendar.current(), day).map_err(|e| Error::Internal(format!("calendar: {e}")))?;
        interview.ended_at = Some(now);
        interview.record_due = Some(due);
        interview.recordings = Json(recordings);
        timers::schedule(conn, RECORD_TIMER, &interview.id.to_string(), end_of_cst_day(due), &json!({ "case_id": case.case_id })).await?;
        interview.status = if room.is_some() { "closing".into() } else { "held".into() };
        self.save_interview(conn, actor, before, &mut interview, None, "interview.close", now).await?;
        let payload = Payload::InterviewHeld(ev::InterviewHeld {
            case_id: case.case_id.to_string(),
            interview_id: interview.id.to_string(),
            number: case.number.clone(),
            party_name: case.party_name.clone(),
            started_at: Some(timestamp(interview.started_at)),
            ended_at: Some(timestamp(now)),
            items: agreed(&interview.items.0),
            provisions: informing.provisions.clone(),
            co_departments: case.co_departments.clone(),
            record_due: Some(date(due)),
            mode: interview.mode.clone(),
            held_for_transfer: interview.held_for_transfer,
        });
        self.emit(conn, &mut case, "scheduling.interview_held", By::Officer(actor), causation, payload, now).await?;
        match room {
            Some(mut room) => self.close_room(conn, &mut room, now).await?,
            None => {
                self.draw_record(conn, &mut case, &mut interview, None, causation, now).await?;
            }
        }
        Ok(interview)
    }

    // -----------------------------------------------------------------------
    // The record

    /// Who signs: the interviewers present, the recorder, each
    /// co-department's officer, and the party.
    async fn signers(&self, conn: &mut PgConnection, case: &CaseRow, interview: &InterviewRow) -> Result<Vec<Signer>, Error> {
        let plan = store::plan(conn, interview.id, false).await?.ok_or_else(|| Error::Internal("the interview's plan is missing".into()))?;
        let mut ids = interview.present.clone();
        ids.push(plan.recorder.clone());
        let names = self.officer_names(conn, &ids).await?;
        let mut out = Vec::new();
        for (id, name) in ids.iter().zip(names) {
            let role = if id == &plan.recorder { "记录人" } else { "约谈人" };
            if !out.iter().any(|s: &Signer| &s.signer == id) {
                out.push(Signer { signer: id.clone(), name, role: role.into() });
            }
        }
        for p in plan.co_participants.0.iter().filter(|p| !p.id.is_empty()) {
            out.push(Signer { signer: p.id.clone(), name: p.name.clone(), role: "联合约谈部门".into() });
        }
        out.push(Signer { signer: PARTY.into(), name: case.party_name.clone(), role: "当事人".into() });
        Ok(out)
    }

    /// Draws up a version of the record (R-INT-4): numbered, rendered
    /// without signatures, stored; everyone signs over its sha256.
    pub(crate) async fn draw_record(&self, conn: &mut PgConnection, case: &mut CaseRow, interview: &mut InterviewRow, correction: Option<(&RecordRow, Correction)>, causation: &str, now: DateTime<Utc>) -> Result<RecordRow, Error> {
        let _ = causation;
        let content = self.open_content(interview)?;
        let plan = store::plan(conn, interview.id, false).await?.ok_or_else(|| Error::Internal("the interview's plan is missing".into()))?;
        let (number, version, reason, mut snapshot) = match &correction {
            Some((previous, c)) => {
                let mut s = self.open_snapshot(previous)?;
                if let Some(i) = &c.informing {
                    s.informing_data = i.clone();
                }
                if let Some(l) = &c.listening {
                    s.listening_data = l.clone();
                }
                if let Some(items) = &c.items {
                    s.items = items.clone();
                }
                (previous.number.clone(), previous.version + 1, c.reason.clone(), s)
            }
            None => {
                let number = self.take_number(conn, case, RECORD_SUFFIX, RECORD_KIND, now).await?;
                (number, 1, String::new(), self.snapshot(conn, case, interview, &plan, &content).await?)
            }
        };
        snapshot.number = number.clone();
        snapshot.version = u32::try_from(version).unwrap_or(1);
        snapshot.correction_reason = reason.clone();
        snapshot.refresh_texts();
        let rendered = self.renderer.render(&snapshot.document(Vec::new(), String::new())).map_err(|e| Error::Internal(format!("rendering the record: {e}")))?;
        let stored = self.objects.put(rendered.pdf).await?;
        let id = Uuid::now_v7();
        let data = serde_json::to_string(&snapshot).map_err(|e| Error::Internal(e.to_string()))?;
        let required = match &correction {
            Some((previous, _)) => previous.required.0.clone(),
            None => self.signers(conn, case, interview).await?,
        };
        let record = RecordRow {
            id,
            case_id: case.case_id,
            interview_id: interview.id,
            version,
            number,
            status: "signing".into(),
            content_sha256: stored.sha256,
            signed_sha256: String::new(),
            pages: i32::try_from(rendered.pages).unwrap_or(1),
            correction_reason: reason,
            data_sealed: self.vault.seal(&data, &record_context(id))?,
            required: Json(required),
            party_refused: false,
            refusal_reason: String::new(),
            organ: case.lead_organ.clone(),
            division: case.division.clone(),
            co_departments: case.co_departments.clone(),
            created_at: now,
            signed_at: None,
        };
        istore::insert_record(conn, &record).await?;
        if interview.status == "closing" {
            interview.status = "held".into();
        }
        interview.version += 1;
        interview.updated_at = now;
        istore::update_interview(conn, interview).await?;
        self.audit(conn, BY_SERVICE, &case.lead_organ, "record.draw", &format!("record/{}", record.id), None, Some(&audit_record(&record)), now).await?;
        Ok(record)
    }

    async fn snapshot(&self, conn: &mut PgConnection, case: &CaseRow, interview: &InterviewRow, plan: &PlanRow, content: &Content) -> Result<Snapshot, Error> {
        let present = store::officers_by_id(conn, &interview.present).await?;
        let mut people: Vec<(String, String, String)> = present.iter().map(|o| (o.name.clone(), "约谈人".to_string(), format!("执法证号 {}", o.certificate_number))).collect();
        let recorder = self.officer_names(conn, std::slice::from_ref(&plan.recorder)).await?.pop().unwrap_or_default();
        people.push((recorder, "记录人".into(), String::new()));
        for p in &plan.co_participants.0 {
            people.push((p.name.clone(), "联合约谈部门".into(), p.organ.clone()));
        }
        for p in &plan.experts.0 {
            people.push((p.name.clone(), "专家".into(), String::new()));
        }
        let representative = if content.party_representative.is_empty() { case.party_name.clone() } else { format!("{}（{}）", content.party_representative, case.party_name) };
        people.push((representative, "当事人".into(), String::new()));
        if !content.agent.is_empty() {
            people.push((content.agent.clone(), "委托代理人".into(), String::new()));
        }
        let attendance = istore::attendance_of(conn, case.case_id)
            .await?
            .into_iter()
            .filter(|a| a.joined_at >= interview.started_at - Duration::hours(2))
            .map(|a| {
                let role = RoomMember { key: a.participant_key.clone(), name: a.name.clone(), role: a.role.clone(), feed_id: 0, organ: String::new() }.role_zh().to_string();
                (a.name, role, cst_datetime(a.joined_at), a.left_at.map(cst_datetime))
            })
            .collect();
        let o = &content.opening;
        let opening = format!(
            "约谈人{}出示执法证件；约谈目的：{}；约谈依据：{}；{}",
            if o.certificates_shown { "已" } else { "未" },
            o.purpose,
            o.basis,
            if o.participants_announced { "已介绍参加人员。" } else { "" }
        );
        let recordings = interview.recordings.0.iter().map(|r| format!("{} (sha256 {})", r.path, r.sha256)).collect();
        Ok(Snapshot {
            issuing_organ: case.organ_name.clone(),
            number: String::new(),
            version: 1,
            correction_reason: String::new(),
            case_number: case.number.clone(),
            party_name: case.party_name.clone(),
            started_at: cst_datetime(interview.started_at),
            ended_at: cst_datetime(interview.ended_at.unwrap_or(interview.started_at)),
            place: plan.place.clone(),
            video: interview.mode == "video",
            people,
            attendance,
            opening,
            facts: String::new(),
            provisions: Vec::new(),
            evidence: Vec::new(),
            informing: String::new(),
            party_statement: String::new(),
            party_commitments: String::new(),
            items: interview.items.0.clone(),
            recordings,
            criminal_clue: content.criminal_clue.as_ref().map(|c| format!("{}（已移送{}）", c.description, c.transferred_to)).unwrap_or_default(),
            informing_data: content.informing.clone().unwrap_or_default(),
            listening_data: content.listening.clone().unwrap_or_default(),
        })
    }

    /// Adds a signature; when nobody is missing, the signed version is
    /// rendered with its signature page and `scheduling.record_signed` goes out.
    async fn add_signature(&self, conn: &mut PgConnection, by: By<'_>, record: RecordRow, signature: SignatureRow, causation: &str, now: DateTime<Utc>) -> Result<RecordRow, Error> {
        if record.status != "signing" {
            return Err(Error::FailedPrecondition(format!("record {} version {} is {}; a signed record cannot change (CorrectRecord makes a new version)", record.number, record.version, record.status)));
        }
        if !istore::insert_signature(conn, &signature).await? {
            return Ok(record);
        }
        self.audit(conn, by, &record.organ, "record.sign", &format!("record/{}", record.id), None, Some(&json!({ "signer": signature.signer, "method": signature.method, "role": signature.role })), now)
            .await?;
        self.complete_if_signed(conn, record, causation, now).await
    }

    pub(crate) async fn complete_if_signed(&self, conn: &mut PgConnection, mut record: RecordRow, causation: &str, now: DateTime<Utc>) -> Result<RecordRow, Error> {
        let signatures = istore::signatures_of(conn, record.id).await?;
        let signed = Signed {
            signers: signatures.iter().map(|s| s.signer.clone()).collect(),
            party_refused: record.party_refused,
            witnesses: signatures.iter().filter(|s| s.method == "witness").count(),
        };
        if !rules::missing_signatures(&record.required.0, &signed).is_empty() {
            return Ok(record);
        }
        let snapshot = self.open_snapshot(&record)?;
        let lines = signatures
            .iter()
            .map(|s| SignatureLine {
                role: s.role.clone(),
                name: if s.detail.is_empty() { s.name.clone() } else { format!("{}（{}）", s.name, s.detail) },
                method: method_zh(&s.method).into(),
                signed_at: cst_datetime(s.signed_at),
                fingerprint: if !s.signature.is_empty() {
                    hex_prefix(&s.signature)
                } else if s.image_sha256.is_empty() {
                    s.detail.chars().rev().take(16).collect::<Vec<_>>().into_iter().rev().collect()
                } else {
                    s.image_sha256.chars().take(16).collect()
                },
            })
            .collect();
        let refusal = if record.party_refused { format!("当事人拒绝在记录上签字（{}），由见证人签名证明。", record.refusal_reason) } else { String::new() };
        let rendered = self.renderer.render(&snapshot.document(lines, refusal)).map_err(|e| Error::Internal(format!("rendering the signed record: {e}")))?;
        let stored = self.objects.put(rendered.pdf).await?;
        let before = audit_record(&record);
        record.status = "signed".into();
        record.signed_sha256 = stored.sha256;
        record.pages = i32::try_from(rendered.pages).unwrap_or(record.pages);
        record.signed_at = Some(now);
        istore::update_record(conn, &record).await?;
        // The version it corrects is superseded once this one is signed.
        for older in istore::records_of_case(conn, record.case_id).await? {
            if older.version < record.version && older.status == "signed" {
                let mut older = older;
                older.status = "superseded".into();
                istore::update_record(conn, &older).await?;
            }
        }
        timers::cancel(conn, RECORD_TIMER, &record.interview_id.to_string(), now).await?;
        let mut case = store::case(conn, record.case_id, true).await?.ok_or_else(|| Error::Internal("the record's case is missing".into()))?;
        let recordings = istore::interview(conn, record.interview_id, false).await?.map(|i| i.recordings.0).unwrap_or_default();
        let outline = store::latest_document_of_kind(conn, record.case_id, OUTLINE_KIND).await?;
        let payload = Payload::RecordSigned(ev::RecordSigned {
            case_id: record.case_id.to_string(),
            interview_id: record.interview_id.to_string(),
            record_id: record.id.to_string(),
            number: record.number.clone(),
            version: u32::try_from(record.version).unwrap_or(1),
            content_sha256: record.content_sha256.clone(),
            signed_sha256: record.signed_sha256.clone(),
            signers: signatures.iter().map(|s| s.signer.clone()).collect(),
            party_refused: record.party_refused,
            witnesses: u32::try_from(signed.witnesses).unwrap_or(0),
            recordings: recordings.iter().map(|r| format!("{} (sha256 {})", r.path, r.sha256)).collect(),
            correction_reason: record.correction_reason.clone(),
            outline_number: outline.as_ref().map(|d| d.number.clone()).unwrap_or_default(),
            outline_sha256: outline.map(|d| d.sha256).unwrap_or_default(),
        });
        self.emit(conn, &mut case, "scheduling.record_signed", BY_SERVICE, causation, payload, now).await?;
        self.audit(conn, BY_SERVICE, &record.organ, "record.signed", &format!("record/{}", record.id), Some(&before), Some(&audit_record(&record)), now).await?;
        Ok(record)
    }

    /// An officer signs electronically: the service's key for the organ signs
    /// the record's sha256, the signer and the time.
    pub async fn sign_record(&self, conn: &mut PgConnection, actor: &Actor, record: RecordRow, causation: &str, now: DateTime<Utc>) -> Result<RecordRow, Error> {
        let Some(signer) = record.required.0.iter().find(|s| s.signer == actor.officer_id).cloned() else {
            return Err(Error::PermissionDenied(format!("officer {} is not among the signers of record {}", actor.officer_id, record.number)));
        };
        let (key_id, key) = self.seals.of(&record.organ)?;
        let at = now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let message = rules::signature_message(&record.content_sha256, &signer.signer, &at);
        let signature = yuetan_documents::seal::seal(key, &message);
        let row = SignatureRow {
            record_id: record.id,
            signer: signer.signer,
            name: signer.name,
            role: signer.role,
            method: "electronic".into(),
            signature,
            key_id: key_id.clone(),
            image_sha256: String::new(),
            detail: String::new(),
            signed_at: now,
        };
        self.add_signature(conn, By::Officer(actor), record, row, causation, now).await
    }

    /// The party signed on paper or a tablet (the image is in the object store).
    #[allow(clippy::too_many_arguments)]
    pub async fn record_party_signature(&self, conn: &mut PgConnection, actor: &Actor, record: RecordRow, method: &str, signer_name: String, image_sha256: String, causation: &str, now: DateTime<Utc>) -> Result<RecordRow, Error> {
        if record.party_refused {
            return Err(Error::FailedPrecondition("the party's refusal to sign is already recorded on this version".into()));
        }
        let row = SignatureRow {
            record_id: record.id,
            signer: PARTY.into(),
            name: signer_name,
            role: "当事人".into(),
            method: method.into(),
            signature: String::new(),
            key_id: String::new(),
            image_sha256,
            detail: String::new(),
            signed_at: now,
        };
        self.add_signature(conn, By::Officer(actor), record, row, causation, now).await
    }

    /// The party refused to sign: the record says so; two or more witnesses sign (R-INT-4).
    #[allow(clippy::too_many_arguments)]
    pub async fn record_party_refusal(&self, conn: &mut PgConnection, actor: &Actor, mut record: RecordRow, reason: String, witnesses: Vec<WitnessInput>, causation: &str, now: DateTime<Utc>) -> Result<RecordRow, Error> {
        if record.status != "signing" {
            return Err(Error::FailedPrecondition(format!("record {} version {} is {}; a signed record cannot change", record.number, record.version, record.status)));
        }
        let existing = istore::signatures_of(conn, record.id).await?;
        if existing.iter().any(|s| s.signer == PARTY) {
            return Err(Error::FailedPrecondition("the party already signed this version".into()));
        }
        let before = audit_record(&record);
        record.party_refused = true;
        record.refusal_reason = reason;
        istore::update_record(conn, &record).await?;
        self.audit(conn, By::Officer(actor), &record.organ, "record.party_refused", &format!("record/{}", record.id), Some(&before), Some(&audit_record(&record)), now).await?;
        let mut n = existing.iter().filter(|s| s.method == "witness").count();
        for w in witnesses {
            if existing.iter().any(|s| s.method == "witness" && s.name == w.name) {
                continue;
            }
            n += 1;
            let row = SignatureRow {
                record_id: record.id,
                signer: format!("witness:{n}"),
                name: w.name,
                role: "见证人".into(),
                method: "witness".into(),
                signature: String::new(),
                key_id: String::new(),
                image_sha256: w.signature_sha256,
                detail: w.detail,
                signed_at: now,
            };
            istore::insert_signature(conn, &row).await?;
        }
        self.complete_if_signed(conn, record, causation, now).await
    }

    /// A signed record stays as it is; the correction is the next version.
    pub async fn correct_record(&self, conn: &mut PgConnection, actor: &Actor, record: RecordRow, correction: Correction, causation: &str, now: DateTime<Utc>) -> Result<RecordRow, Error> {
        if record.status != "signed" {
            return Err(Error::FailedPrecondition(format!("only the signed version can be corrected (version {} is {})", record.version, record.status)));
        }
        if let Some(items) = &correction.items {
            let interview = istore::interview(conn, record.interview_id, false).await?.ok_or_else(|| Error::Internal("interview missing".into()))?;
            let case = store::case(conn, record.case_id, false).await?.ok_or_else(|| Error::Internal("case missing".into()))?;
            self.check_items(conn, &case, items, cst_date(interview.started_at)).await?;
        }
        let mut case = store::case(conn, record.case_id, true).await?.ok_or_else(|| Error::Internal("case missing".into()))?;
        let mut interview = istore::interview(conn, record.interview_id, true).await?.ok_or_else(|| Error::Internal("interview missing".into()))?;
        if let Some(items) = &correction.items {
            interview.items = Json(items.clone());
        }
        let next = self.draw_record(conn, &mut case, &mut interview, Some((&record, correction)), causation, now).await?;
        self.audit(conn, By::Officer(actor), &record.organ, "record.correct", &format!("record/{}", next.id), Some(&audit_record(&record)), Some(&audit_record(&next)), now).await?;
        Ok(next)
    }

    /// Timer: the record is not signed 5 working days after the interview (R-INT-4): once.
    pub(crate) async fn record_overdue(&self, conn: &mut PgConnection, interview_id: Uuid, timer_id: Uuid, now: DateTime<Utc>) -> Result<(), Error> {
        let Some(peek) = istore::interview(conn, interview_id, false).await? else { return Ok(()) };
        let Some(mut case) = store::case(conn, peek.case_id, true).await? else { return Ok(()) };
        let Some(mut interview) = istore::interview(conn, interview_id, true).await? else { return Ok(()) };
        if interview.record_overdue || istore::records_of_case(conn, case.case_id).await?.iter().any(|r| r.status == "signed") {
            return Ok(());
        }
        let before = audit_interview(&interview);
        interview.record_overdue = true;
        interview.version += 1;
        interview.updated_at = now;
        istore::update_interview(conn, &interview).await?;
        let payload = Payload::RecordOverdue(ev::RecordOverdue { case_id: case.case_id.to_string(), interview_id: interview.id.to_string(), due: interview.record_due.map(date) });
        self.emit(conn, &mut case, "scheduling.record_overdue", BY_SERVICE, &timer_id.to_string(), payload, now).await?;
        self.audit(conn, BY_SERVICE, &interview.organ, "interview.record_overdue", &format!("interview/{}", interview.id), Some(&before), Some(&audit_interview(&interview)), now).await
    }
}

impl State {
    /// Serves the record to the party with a signing link (purpose "sign").
    pub async fn send_record_for_signature(&self, conn: &mut PgConnection, actor: &Actor, record: &RecordRow, causation: &str, now: DateTime<Utc>) -> Result<crate::store::ServiceRow, Error> {
        if record.status != "signing" || record.party_refused {
            return Err(Error::FailedPrecondition(format!("record {} version {} is {}; only a record waiting for the party's signature is sent", record.number, record.version, record.status)));
        }
        let request = super::ServeRequest {
            case_id: record.case_id,
            division: record.division.clone(),
            organ: record.organ.clone(),
            document_id: record.id.to_string(),
            document_sha256: record.content_sha256.clone(),
            document_name: RECORD_TITLE.into(),
            document_number: record.number.clone(),
            document_kind: RECORD_KIND.into(),
            source_service: crate::SERVICE.into(),
            channels: Vec::new(),
            requested_by: actor.officer_id.clone(),
        };
        self.start_service(conn, By::Officer(actor), request, causation, now).await
    }

    /// portal.receipt_confirmed on a record's signing link: the party's
    /// signature (method "portal"), if that version still waits for it.
    pub async fn party_signed_on_portal(&self, conn: &mut PgConnection, service_id: Uuid, link_id: &str, at: DateTime<Utc>, causation: &str, now: DateTime<Utc>) -> Result<(), Error> {
        let Some(service) = store::service(conn, service_id, false).await? else { return Ok(()) };
        if service.document_kind != RECORD_KIND {
            return Ok(());
        }
        let Ok(record_id) = Uuid::parse_str(&service.document_id) else { return Ok(()) };
        let Some(case) = store::case(conn, service.case_id, true).await? else { return Ok(()) };
        let Some(record) = istore::record(conn, record_id, true).await? else { return Ok(()) };
        if record.status != "signing" || record.party_refused || record.content_sha256 != service.document_sha256 {
            return Ok(());
        }
        let row = SignatureRow {
            record_id: record.id,
            signer: PARTY.into(),
            name: case.party_name.clone(),
            role: "当事人".into(),
            method: "portal".into(),
            signature: String::new(),
            key_id: String::new(),
            image_sha256: String::new(),
            detail: format!("门户链接 {link_id}"),
            signed_at: at,
        };
        self.add_signature(conn, BY_SERVICE, record, row, causation, now).await.map(|_| ())
    }
}

/// Steps 2–4 of R-INT-3.
#[derive(Debug, Clone)]
pub enum Step {
    Informing(Informing),
    Listening(Listening),
    Agreeing(Vec<Item>),
}

impl Snapshot {
    /// The printed texts of the steps from their data.
    fn refresh_texts(&mut self) {
        let i = &self.informing_data;
        self.facts = i.facts.clone();
        self.provisions = i.provisions.clone();
        self.evidence = i.evidence.clone();
        self.informing = format!(
            "{}{}{}",
            if i.rights_explained { "已告知当事人依法享有陈述、申辩的权利。" } else { "" },
            if i.consequences_explained { "已告知拒不整改或整改不到位的法律后果。" } else { "" },
            i.notes
        );
        let l = &self.listening_data;
        self.party_statement = if l.difficulties.is_empty() { l.statement.clone() } else { format!("{}（困难：{}）", l.statement, l.difficulties) };
        self.party_commitments = l.commitments.clone();
    }
}

fn method_zh(method: &str) -> &'static str {
    match method {
        "electronic" => "电子签名",
        "paper" => "手写签名（纸质）",
        "tablet" => "手写签名（平板）",
        "witness" => "见证人签名",
        "portal" => "门户阅读确认",
        _ => "签名",
    }
}

/// The first 16 hex characters of a base64 signature.
fn hex_prefix(signature_b64: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(signature_b64).map(|b| hex::encode(&b[..b.len().min(8)])).unwrap_or_default()
}
