//! SQL of the interview: video rooms, attendance, interviews, records and
//! their signatures.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_platform::Error;

use crate::domain::interview::{Item, Signer};

/// A participant of a video room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomMember {
    pub key: String,
    pub name: String,
    /// interviewer, recorder, co_department, expert, party, agent
    pub role: String,
    pub feed_id: u64,
    /// The co-department's organ (co-department officers).
    #[serde(default)]
    pub organ: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredRecording {
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RoomRow {
    pub room_id: i64,
    pub case_id: Uuid,
    pub provider: String,
    pub status: String,
    pub participants: Json<Vec<RoomMember>>,
    pub recordings: Json<Vec<StoredRecording>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn insert_room(conn: &mut PgConnection, r: &RoomRow) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO video_rooms (room_id, case_id, provider, status, participants, recordings, created_at, updated_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
    )
    .bind(r.room_id)
    .bind(r.case_id)
    .bind(&r.provider)
    .bind(&r.status)
    .bind(&r.participants)
    .bind(&r.recordings)
    .bind(r.created_at)
    .bind(r.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn update_room(conn: &mut PgConnection, r: &RoomRow) -> Result<(), Error> {
    sqlx::query("UPDATE video_rooms SET status = $2, participants = $3, recordings = $4, updated_at = $5 WHERE room_id = $1")
        .bind(r.room_id)
        .bind(&r.status)
        .bind(&r.participants)
        .bind(&r.recordings)
        .bind(r.updated_at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn room(conn: &mut PgConnection, room_id: i64, lock: bool) -> Result<Option<RoomRow>, Error> {
    let sql = format!("SELECT * FROM video_rooms WHERE room_id = $1{}", if lock { " FOR UPDATE" } else { "" });
    Ok(sqlx::query_as(&sql).bind(room_id).fetch_optional(&mut *conn).await?)
}

/// The case's current room (not closed), newest first.
pub async fn room_of_case(conn: &mut PgConnection, case_id: Uuid, lock: bool) -> Result<Option<RoomRow>, Error> {
    let sql = format!(
        "SELECT * FROM video_rooms WHERE case_id = $1 AND status <> 'closed' ORDER BY created_at DESC LIMIT 1{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    Ok(sqlx::query_as(&sql).bind(case_id).fetch_optional(&mut *conn).await?)
}

/// The ids of rooms that should exist on the server (creating or open).
pub async fn live_room_ids(conn: &mut PgConnection) -> Result<Vec<i64>, Error> {
    Ok(sqlx::query_scalar("SELECT room_id FROM video_rooms WHERE status IN ('creating', 'open')").fetch_all(&mut *conn).await?)
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct AttendanceRow {
    pub id: Uuid,
    pub case_id: Uuid,
    pub participant_key: String,
    pub name: String,
    pub role: String,
    pub joined_at: DateTime<Utc>,
    pub left_at: Option<DateTime<Utc>>,
    pub source: String,
    pub report_key: String,
}

/// Records a join; `false` when the same report was recorded before.
pub async fn insert_attendance(conn: &mut PgConnection, a: &AttendanceRow) -> Result<bool, Error> {
    let done = sqlx::query(
        "INSERT INTO attendance (id, case_id, participant_key, name, role, joined_at, left_at, source, report_key)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT (case_id, report_key) DO NOTHING",
    )
    .bind(a.id)
    .bind(a.case_id)
    .bind(&a.participant_key)
    .bind(&a.name)
    .bind(&a.role)
    .bind(a.joined_at)
    .bind(a.left_at)
    .bind(&a.source)
    .bind(&a.report_key)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Closes the participant's open presence; `false` if none was open.
pub async fn close_attendance(conn: &mut PgConnection, case_id: Uuid, key: &str, at: DateTime<Utc>) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE attendance SET left_at = $3 WHERE id = (
           SELECT id FROM attendance WHERE case_id = $1 AND participant_key = $2 AND left_at IS NULL ORDER BY joined_at DESC LIMIT 1)",
    )
    .bind(case_id)
    .bind(key)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn attendance_of(conn: &mut PgConnection, case_id: Uuid) -> Result<Vec<AttendanceRow>, Error> {
    Ok(sqlx::query_as("SELECT * FROM attendance WHERE case_id = $1 ORDER BY joined_at, participant_key").bind(case_id).fetch_all(&mut *conn).await?)
}

/// What was said, sealed in `content_sealed`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Content {
    pub opening: Opening,
    pub party_representative: String,
    pub agent: String,
    pub informing: Option<Informing>,
    pub listening: Option<Listening>,
    pub absences: Vec<Absence>,
    pub refusal_reason: String,
    pub criminal_clue: Option<CriminalClue>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Opening {
    pub certificates_shown: bool,
    pub purpose: String,
    pub basis: String,
    pub participants_announced: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Informing {
    pub facts: String,
    pub provisions: Vec<String>,
    pub evidence: Vec<String>,
    pub rights_explained: bool,
    pub consequences_explained: bool,
    pub notes: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Listening {
    pub statement: String,
    pub difficulties: String,
    pub commitments: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Absence {
    pub kind: String,
    pub at: DateTime<Utc>,
    pub evidence: String,
    pub evidence_sha256: String,
    pub recorded_by: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CriminalClue {
    pub description: String,
    pub transferred_to: String,
    pub transfer_record_sha256: String,
    pub at: DateTime<Utc>,
    pub by: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InterviewRow {
    pub id: Uuid,
    pub case_id: Uuid,
    pub organ: String,
    pub division: String,
    pub mode: String,
    pub status: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub present: Vec<String>,
    pub content_sealed: Vec<u8>,
    pub items: Json<Vec<Item>>,
    pub recordings: Json<Vec<StoredRecording>>,
    pub criminal_clue: bool,
    pub held_for_transfer: bool,
    pub party_absent: bool,
    pub record_due: Option<NaiveDate>,
    pub record_overdue: bool,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

pub async fn insert_interview(conn: &mut PgConnection, i: &InterviewRow) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO interviews (id, case_id, organ, division, mode, status, started_at, ended_at, present, content_sealed, items, recordings,
                                 criminal_clue, held_for_transfer, party_absent, record_due, record_overdue, version, updated_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19)",
    )
    .bind(i.id)
    .bind(i.case_id)
    .bind(&i.organ)
    .bind(&i.division)
    .bind(&i.mode)
    .bind(&i.status)
    .bind(i.started_at)
    .bind(i.ended_at)
    .bind(&i.present)
    .bind(&i.content_sealed)
    .bind(&i.items)
    .bind(&i.recordings)
    .bind(i.criminal_clue)
    .bind(i.held_for_transfer)
    .bind(i.party_absent)
    .bind(i.record_due)
    .bind(i.record_overdue)
    .bind(i.version)
    .bind(i.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn update_interview(conn: &mut PgConnection, i: &InterviewRow) -> Result<(), Error> {
    sqlx::query(
        "UPDATE interviews SET status = $2, ended_at = $3, present = $4, content_sealed = $5, items = $6, recordings = $7, criminal_clue = $8,
           held_for_transfer = $9, party_absent = $10, record_due = $11, record_overdue = $12, version = $13, updated_at = $14 WHERE id = $1",
    )
    .bind(i.id)
    .bind(&i.status)
    .bind(i.ended_at)
    .bind(&i.present)
    .bind(&i.content_sealed)
    .bind(&i.items)
    .bind(&i.recordings)
    .bind(i.criminal_clue)
    .bind(i.held_for_transfer)
    .bind(i.party_absent)
    .bind(i.record_due)
    .bind(i.record_overdue)
    .bind(i.version)
    .bind(i.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn interview_of_case(conn: &mut PgConnection, case_id: Uuid, lock: bool) -> Result<Option<InterviewRow>, Error> {
    let sql = format!("SELECT * FROM interviews WHERE case_id = $1{}", if lock { " FOR UPDATE" } else { "" });
    Ok(sqlx::query_as(&sql).bind(case_id).fetch_optional(&mut *conn).await?)
}

pub async fn interview(conn: &mut PgConnection, id: Uuid, lock: bool) -> Result<Option<InterviewRow>, Error> {
    let sql = format!("SELECT * FROM interviews WHERE id = $1{}", if lock { " FOR UPDATE" } else { "" });
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(&mut *conn).await?)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RecordRow {
    pub id: Uuid,
    pub case_id: Uuid,
    pub interview_id: Uuid,
    pub version: i32,
    pub number: String,
    pub status: String,
    pub content_sha256: String,
    pub signed_sha256: String,
    pub pages: i32,
    pub correction_reason: String,
    pub data_sealed: Vec<u8>,
    pub required: Json<Vec<Signer>>,
    pub party_refused: bool,
    pub refusal_reason: String,
    pub organ: String,
    pub division: String,
    pub co_departments: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub signed_at: Option<DateTime<Utc>>,
}

pub async fn insert_record(conn: &mut PgConnection, r: &RecordRow) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO records (id, case_id, interview_id, version, number, status, content_sha256, signed_sha256, pages, correction_reason,
                              data_sealed, required, party_refused, refusal_reason, organ, division, co_departments, created_at, signed_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19)",
    )
    .bind(r.id)
    .bind(r.case_id)
    .bind(r.interview_id)
    .bind(r.version)
    .bind(&r.number)
    .bind(&r.status)
    .bind(&r.content_sha256)
    .bind(&r.signed_sha256)
    .bind(r.pages)
    .bind(&r.correction_reason)
    .bind(&r.data_sealed)
    .bind(&r.required)
    .bind(r.party_refused)
    .bind(&r.refusal_reason)
    .bind(&r.organ)
    .bind(&r.division)
    .bind(&r.co_departments)
    .bind(r.created_at)
    .bind(r.signed_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Updates a record; the database refuses any change to a signed one.
pub async fn update_record(conn: &mut PgConnection, r: &RecordRow) -> Result<(), Error> {
    sqlx::query(
        "UPDATE records SET status = $2, signed_sha256 = $3, pages = $4, party_refused = $5, refusal_reason = $6, signed_at = $7 WHERE id = $1",
    )
    .bind(r.id)
    .bind(&r.status)
    .bind(&r.signed_sha256)
    .bind(r.pages)
    .bind(r.party_refused)
    .bind(&r.refusal_reason)
    .bind(r.signed_at)
    .execute(&mut *conn)
    .await
    .map_err(immutable)?;
    Ok(())
}

/// The trigger's refusal of a change to a signed record, as a precondition.
fn immutable(err: sqlx::Error) -> Error {
    match &err {
        sqlx::Error::Database(db) if db.message().contains("cannot change") => Error::FailedPrecondition(db.message().to_string()),
        _ => Error::from(err),
    }
}

pub async fn record(conn: &mut PgConnection, id: Uuid, lock: bool) -> Result<Option<RecordRow>, Error> {
    let sql = format!("SELECT * FROM records WHERE id = $1{}", if lock { " FOR UPDATE" } else { "" });
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(&mut *conn).await?)
}

pub async fn records_of_case(conn: &mut PgConnection, case_id: Uuid) -> Result<Vec<RecordRow>, Error> {
    Ok(sqlx::query_as("SELECT * FROM records WHERE case_id = $1 ORDER BY version DESC").bind(case_id).fetch_all(&mut *conn).await?)
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct SignatureRow {
    pub record_id: Uuid,
    pub signer: String,
    pub name: String,
    pub role: String,
    pub method: String,
    pub signature: String,
    pub key_id: String,
    pub image_sha256: String,
    pub detail: String,
    pub signed_at: DateTime<Utc>,
}

/// Adds a signature; `false` if this signer already signed this version.
pub async fn insert_signature(conn: &mut PgConnection, s: &SignatureRow) -> Result<bool, Error> {
    let done = sqlx::query(
        "INSERT INTO record_signatures (record_id, signer, name, role, method, signature, key_id, image_sha256, detail, signed_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) ON CONFLICT (record_id, signer) DO NOTHING",
    )
    .bind(s.record_id)
    .bind(&s.signer)
    .bind(&s.name)
    .bind(&s.role)
    .bind(&s.method)
    .bind(&s.signature)
    .bind(&s.key_id)
    .bind(&s.image_sha256)
    .bind(&s.detail)
    .bind(s.signed_at)
    .execute(&mut *conn)
    .await
    .map_err(immutable)?;
    Ok(done.rows_affected() == 1)
}

pub async fn signatures_of(conn: &mut PgConnection, record_id: Uuid) -> Result<Vec<SignatureRow>, Error> {
    Ok(sqlx::query_as("SELECT * FROM record_signatures WHERE record_id = $1 ORDER BY signed_at, signer").bind(record_id).fetch_all(&mut *conn).await?)
}

/// Records waiting for `signer`'s signature (on the list, not yet signed), oldest first.
pub async fn records_to_sign(conn: &mut PgConnection, signer: &str, limit: i64) -> Result<Vec<RecordRow>, Error> {
    Ok(sqlx::query_as(
        "SELECT r.* FROM records r
          WHERE r.status = 'signing' AND r.required @> jsonb_build_array(jsonb_build_object('signer', $1::text))
            AND NOT EXISTS (SELECT 1 FROM record_signatures s WHERE s.record_id = r.id AND s.signer = $1)
          ORDER BY r.created_at, r.id LIMIT $2",
    )
    .bind(signer)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}
