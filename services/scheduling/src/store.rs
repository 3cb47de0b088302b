//! Scheduling's PostgreSQL store (schema `scheduling`): every query of the
//! service. Callers pass `&mut *tx`; a change, its outbox rows, its timers
//! and its audit row are written in one transaction by the caller.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::migrate::Migrator;
use sqlx::types::Json;
use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_platform::Error;

/// Scheduling's own tables; versions from 1000 (the platform's are below).
pub mod interview;

pub fn migrations() -> Migrator {
    sqlx::migrate!("./migrations")
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct CaseRow {
    pub case_id: Uuid,
    pub number: String,
    pub division: String,
    pub lead_organ: String,
    pub organ_name: String,
    pub document_code: String,
    pub co_departments: Vec<String>,
    pub major: bool,
    pub urgent: bool,
    pub party_id: String,
    pub party_name: String,
    pub violation_type: String,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

pub async fn case(conn: &mut PgConnection, id: Uuid, lock: bool) -> Result<Option<CaseRow>, Error> {
    let sql = format!("SELECT * FROM cases WHERE case_id = $1{}", if lock { " FOR UPDATE" } else { "" });
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(&mut *conn).await?)
}

pub async fn put_case(conn: &mut PgConnection, c: &CaseRow) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO cases (case_id, number, division, lead_organ, organ_name, document_code, co_departments, major, urgent,
                            party_id, party_name, violation_type, version, updated_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)
         ON CONFLICT (case_id) DO UPDATE SET number = EXCLUDED.number, division = EXCLUDED.division, lead_organ = EXCLUDED.lead_organ,
           organ_name = EXCLUDED.organ_name, document_code = EXCLUDED.document_code, co_departments = EXCLUDED.co_departments,
           major = EXCLUDED.major, urgent = EXCLUDED.urgent, party_id = EXCLUDED.party_id, party_name = EXCLUDED.party_name,
           violation_type = EXCLUDED.violation_type, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at",
    )
    .bind(c.case_id)
    .bind(&c.number)
    .bind(&c.division)
    .bind(&c.lead_organ)
    .bind(&c.organ_name)
    .bind(&c.document_code)
    .bind(&c.co_departments)
    .bind(c.major)
    .bind(c.urgent)
    .bind(&c.party_id)
    .bind(&c.party_name)
    .bind(&c.violation_type)
    .bind(c.version)
    .bind(c.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Officer directory

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct OfficerRow {
    pub officer_id: String,
    pub name: String,
    pub organ: String,
    pub division: String,
    pub certificate_number: String,
    pub certificate_valid_until: NaiveDate,
    pub experience_since: NaiveDate,
    pub interviewer_certified_on: Option<NaiveDate>,
    pub legal_review_qualified: bool,
    pub active: bool,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

pub async fn officer(conn: &mut PgConnection, id: &str, lock: bool) -> Result<Option<OfficerRow>, Error> {
    let sql = format!("SELECT * FROM officers WHERE officer_id = $1{}", if lock { " FOR UPDATE" } else { "" });
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(&mut *conn).await?)
}

pub async fn officers_by_id(conn: &mut PgConnection, ids: &[String]) -> Result<Vec<OfficerRow>, Error> {
    Ok(sqlx::query_as("SELECT * FROM officers WHERE officer_id = ANY($1)").bind(ids).fetch_all(&mut *conn).await?)
}

pub async fn officers_of(conn: &mut PgConnection, organ: &str) -> Result<Vec<OfficerRow>, Error> {
    Ok(sqlx::query_as("SELECT * FROM officers WHERE organ = $1 ORDER BY officer_id LIMIT 1000").bind(organ).fetch_all(&mut *conn).await?)
}

pub async fn put_officer(conn: &mut PgConnection, o: &OfficerRow) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO officers (officer_id, name, organ, division, certificate_number, certificate_valid_until, experience_since,
                               interviewer_certified_on, legal_review_qualified, active, version, updated_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)
         ON CONFLICT (officer_id) DO UPDATE SET name = EXCLUDED.name, organ = EXCLUDED.organ, division = EXCLUDED.division,
           certificate_number = EXCLUDED.certificate_number, certificate_valid_until = EXCLUDED.certificate_valid_until,
           experience_since = EXCLUDED.experience_since, interviewer_certified_on = EXCLUDED.interviewer_certified_on,
           legal_review_qualified = EXCLUDED.legal_review_qualified, active = EXCLUDED.active, version = EXCLUDED.version,
           updated_at = EXCLUDED.updated_at",
    )
    .bind(&o.officer_id)
    .bind(&o.name)
    .bind(&o.organ)
    .bind(&o.division)
    .bind(&o.certificate_number)
    .bind(o.certificate_valid_until)
    .bind(o.experience_since)
    .bind(o.interviewer_certified_on)
    .bind(o.legal_review_qualified)
    .bind(o.active)
    .bind(o.version)
    .bind(o.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Plans and bookings

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Person {
    pub id: String,
    pub name: String,
    pub organ: String,
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct PlanRow {
    pub id: Uuid,
    pub case_id: Uuid,
    pub status: String,
    pub approved_on: NaiveDate,
    pub notice_deadline: NaiveDate,
    pub notice_deadline_missed: bool,
    pub interview_at: Option<DateTime<Utc>>,
    pub mode: String,
    pub place: String,
    pub interviewers: Vec<String>,
    pub recorder: String,
    pub experts: Json<Vec<Person>>,
    pub co_participants: Json<Vec<Person>>,
    pub materials: Vec<String>,
    pub contact: String,
    pub matter: String,
    pub legal_basis: String,
    pub notice_document_id: Option<Uuid>,
    pub served_at: Option<DateTime<Utc>>,
    pub reschedule_requested: bool,
    pub reschedule_reason: String,
    pub organ: String,
    pub division: String,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

pub async fn plan_of_case(conn: &mut PgConnection, case_id: Uuid, lock: bool) -> Result<Option<PlanRow>, Error> {
    let sql = format!("SELECT * FROM plans WHERE case_id = $1{}", if lock { " FOR UPDATE" } else { "" });
    Ok(sqlx::query_as(&sql).bind(case_id).fetch_optional(&mut *conn).await?)
}

pub async fn plan(conn: &mut PgConnection, id: Uuid, lock: bool) -> Result<Option<PlanRow>, Error> {
    let sql = format!("SELECT * FROM plans WHERE id = $1{}", if lock { " FOR UPDATE" } else { "" });
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(&mut *conn).await?)
}

/// The plan unless another transaction holds it (`Err(true)`), or gone (`Err(false)`).
pub async fn plan_unless_locked(conn: &mut PgConnection, id: Uuid) -> Result<Result<PlanRow, bool>, Error> {
    let row: Option<PlanRow> = sqlx::query_as("SELECT * FROM plans WHERE id = $1 FOR UPDATE SKIP LOCKED").bind(id).fetch_optional(&mut *conn).await?;
    match row {
        Some(p) => Ok(Ok(p)),
        None => Ok(Err(plan(conn, id, false).await?.is_some())),
    }
}

pub async fn plans_of_organ(conn: &mut PgConnection, organ: &str, awaiting_notice_only: bool, limit: i64) -> Result<Vec<PlanRow>, Error> {
    Ok(sqlx::query_as(
        "SELECT * FROM plans WHERE organ = $1 AND (NOT $2 OR status IN ('open', 'planned', 'notice_returned'))
         ORDER BY notice_deadline, id LIMIT $3",
    )
    .bind(organ)
    .bind(awaiting_notice_only)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// Inserts a new plan; false if the case already has one.
pub async fn insert_plan(conn: &mut PgConnection, p: &PlanRow) -> Result<bool, Error> {
    let done = sqlx::query(
        "INSERT INTO plans (id, case_id, status, approved_on, notice_deadline, organ, division, updated_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (case_id) DO NOTHING",
    )
    .bind(p.id)
    .bind(p.case_id)
    .bind(&p.status)
    .bind(p.approved_on)
    .bind(p.notice_deadline)
    .bind(&p.organ)
    .bind(&p.division)
    .bind(p.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn update_plan(conn: &mut PgConnection, p: &PlanRow) -> Result<(), Error> {
    sqlx::query(
        "UPDATE plans SET status = $2, notice_deadline_missed = $3, interview_at = $4, mode = $5, place = $6, interviewers = $7,
           recorder = $8, experts = $9, co_participants = $10, materials = $11, contact = $12, matter = $13, legal_basis = $14,
           notice_document_id = $15, served_at = $16, reschedule_requested = $17, reschedule_reason = $18, version = $19, updated_at = $20
         WHERE id = $1",
    )
    .bind(p.id)
    .bind(&p.status)
    .bind(p.notice_deadline_missed)
    .bind(p.interview_at)
    .bind(&p.mode)
    .bind(&p.place)
    .bind(&p.interviewers)
    .bind(&p.recorder)
    .bind(&p.experts)
    .bind(&p.co_participants)
    .bind(&p.materials)
    .bind(&p.contact)
    .bind(&p.matter)
    .bind(&p.legal_basis)
    .bind(p.notice_document_id)
    .bind(p.served_at)
    .bind(p.reschedule_requested)
    .bind(&p.reschedule_reason)
    .bind(p.version)
    .bind(p.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Takes the advisory locks of `resources` (sorted, so two plans never wait
/// on each other crosswise) for the rest of the transaction.
pub async fn lock_resources(conn: &mut PgConnection, resources: &[String]) -> Result<(), Error> {
    let mut sorted = resources.to_vec();
    sorted.sort();
    sorted.dedup();
    for r in sorted {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))").bind(&r).execute(&mut *conn).await?;
    }
    Ok(())
}

/// The first booking of another plan that overlaps `[starts, ends)` on one of `resources`.
pub async fn conflicting_booking(
    conn: &mut PgConnection,
    plan_id: Uuid,
    resources: &[String],
    starts: DateTime<Utc>,
    ends: DateTime<Utc>,
) -> Result<Option<String>, Error> {
    Ok(sqlx::query_scalar(
        "SELECT resource FROM bookings WHERE resource = ANY($1) AND plan_id <> $2 AND starts_at < $4 AND ends_at > $3
         ORDER BY resource LIMIT 1",
    )
    .bind(resources)
    .bind(plan_id)
    .bind(starts)
    .bind(ends)
    .fetch_optional(&mut *conn)
    .await?)
}

pub async fn replace_bookings(conn: &mut PgConnection, plan_id: Uuid, resources: &[String], starts: DateTime<Utc>, ends: DateTime<Utc>) -> Result<(), Error> {
    sqlx::query("DELETE FROM bookings WHERE plan_id = $1").bind(plan_id).execute(&mut *conn).await?;
    sqlx::query("INSERT INTO bookings (plan_id, resource, starts_at, ends_at) SELECT $1, r, $3, $4 FROM unnest($2::text[]) AS r ON CONFLICT DO NOTHING")
        .bind(plan_id)
        .bind(resources)
        .bind(starts)
        .bind(ends)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Address confirmations

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AddressRow {
    pub case_id: Uuid,
    pub channels: Vec<String>,
    pub sms_sealed: Option<Vec<u8>>,
    pub email_sealed: Option<Vec<u8>>,
    pub egov_sealed: Option<Vec<u8>>,
    pub postal_sealed: Option<Vec<u8>>,
    pub masks: Json<std::collections::BTreeMap<String, String>>,
    pub confirmation_sha256: String,
    pub signed_on: Option<NaiveDate>,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

pub async fn address(conn: &mut PgConnection, case_id: Uuid) -> Result<Option<AddressRow>, Error> {
    Ok(sqlx::query_as("SELECT * FROM addresses WHERE case_id = $1").bind(case_id).fetch_optional(&mut *conn).await?)
}

pub async fn put_address(conn: &mut PgConnection, a: &AddressRow) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO addresses (case_id, channels, sms_sealed, email_sealed, egov_sealed, postal_sealed, masks, confirmation_sha256, signed_on, recorded_by, recorded_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)
         ON CONFLICT (case_id) DO UPDATE SET channels = EXCLUDED.channels, sms_sealed = EXCLUDED.sms_sealed, email_sealed = EXCLUDED.email_sealed,
           egov_sealed = EXCLUDED.egov_sealed, postal_sealed = EXCLUDED.postal_sealed, masks = EXCLUDED.masks,
           confirmation_sha256 = EXCLUDED.confirmation_sha256, signed_on = EXCLUDED.signed_on, recorded_by = EXCLUDED.recorded_by,
           recorded_at = EXCLUDED.recorded_at",
    )
    .bind(a.case_id)
    .bind(&a.channels)
    .bind(&a.sms_sealed)
    .bind(&a.email_sealed)
    .bind(&a.egov_sealed)
    .bind(&a.postal_sealed)
    .bind(&a.masks)
    .bind(&a.confirmation_sha256)
    .bind(a.signed_on)
    .bind(&a.recorded_by)
    .bind(a.recorded_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Documents

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct DocumentRow {
    pub id: Uuid,
    pub case_id: Uuid,
    pub kind: String,
    pub title: String,
    pub number: String,
    pub organ: String,
    pub division: String,
    pub sha256: String,
    pub pages: i32,
    pub revision: i32,
    pub status: String,
    pub seal_signature: String,
    pub seal_key_id: String,
    pub sealed_at: Option<DateTime<Utc>>,
    pub issued_by: String,
    pub created_at: DateTime<Utc>,
}

pub async fn document(conn: &mut PgConnection, id: Uuid, lock: bool) -> Result<Option<DocumentRow>, Error> {
    let sql = format!("SELECT * FROM documents WHERE id = $1{}", if lock { " FOR UPDATE" } else { "" });
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(&mut *conn).await?)
}

pub async fn documents_by_sha256(conn: &mut PgConnection, sha256: &str) -> Result<Vec<DocumentRow>, Error> {
    Ok(sqlx::query_as("SELECT * FROM documents WHERE sha256 = $1 ORDER BY created_at").bind(sha256).fetch_all(&mut *conn).await?)
}

/// The case's latest document of a kind (the outline the record is filed with).
pub async fn latest_document_of_kind(conn: &mut PgConnection, case_id: Uuid, kind: &str) -> Result<Option<DocumentRow>, Error> {
    Ok(sqlx::query_as("SELECT * FROM documents WHERE case_id = $1 AND kind = $2 ORDER BY created_at DESC LIMIT 1").bind(case_id).bind(kind).fetch_optional(&mut *conn).await?)
}

pub async fn insert_document(conn: &mut PgConnection, d: &DocumentRow) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO documents (id, case_id, kind, title, number, organ, division, sha256, pages, revision, status, seal_signature, seal_key_id, sealed_at, issued_by, created_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)",
    )
    .bind(d.id)
    .bind(d.case_id)
    .bind(&d.kind)
    .bind(&d.title)
    .bind(&d.number)
    .bind(&d.organ)
    .bind(&d.division)
    .bind(&d.sha256)
    .bind(d.pages)
    .bind(d.revision)
    .bind(&d.status)
    .bind(&d.seal_signature)
    .bind(&d.seal_key_id)
    .bind(d.sealed_at)
    .bind(&d.issued_by)
    .bind(d.created_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn update_document(conn: &mut PgConnection, d: &DocumentRow) -> Result<(), Error> {
    sqlx::query("UPDATE documents SET status = $2, seal_signature = $3, seal_key_id = $4, sealed_at = $5 WHERE id = $1")
        .bind(d.id)
        .bind(&d.status)
        .bind(&d.seal_signature)
        .bind(&d.seal_key_id)
        .bind(d.sealed_at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Services and attempts

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct ServiceRow {
    pub id: Uuid,
    pub case_id: Uuid,
    pub document_id: String,
    pub document_sha256: String,
    pub document_name: String,
    pub document_number: String,
    pub document_kind: String,
    pub source_service: String,
    pub organ: String,
    pub division: String,
    pub plan: Vec<String>,
    pub step: i32,
    pub status: String,
    pub served_at: Option<DateTime<Utc>>,
    pub served_by: String,
    pub evidence: String,
    #[serde(skip)]
    pub evidence_sealed: Option<Vec<u8>>,
    pub receipt_document_id: Option<Uuid>,
    pub receipt_number: String,
    pub requested_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn service(conn: &mut PgConnection, id: Uuid, lock: bool) -> Result<Option<ServiceRow>, Error> {
    let sql = format!("SELECT * FROM services WHERE id = $1{}", if lock { " FOR UPDATE" } else { "" });
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(&mut *conn).await?)
}

/// The service unless another transaction holds it (`Err(true)`), or gone (`Err(false)`).
pub async fn service_unless_locked(conn: &mut PgConnection, id: Uuid) -> Result<Result<ServiceRow, bool>, Error> {
    let row: Option<ServiceRow> = sqlx::query_as("SELECT * FROM services WHERE id = $1 FOR UPDATE SKIP LOCKED").bind(id).fetch_optional(&mut *conn).await?;
    match row {
        Some(s) => Ok(Ok(s)),
        None => Ok(Err(service(conn, id, false).await?.is_some())),
    }
}

/// Inserts a service (requests are deduplicated by request id and inbox).
pub async fn insert_service(conn: &mut PgConnection, s: &ServiceRow) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO services (id, case_id, document_id, document_sha256, document_name, document_number, document_kind, source_service,
                               organ, division, plan, step, status, requested_by, created_at, updated_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)",
    )
    .bind(s.id)
    .bind(s.case_id)
    .bind(&s.document_id)
    .bind(&s.document_sha256)
    .bind(&s.document_name)
    .bind(&s.document_number)
    .bind(&s.document_kind)
    .bind(&s.source_service)
    .bind(&s.organ)
    .bind(&s.division)
    .bind(&s.plan)
    .bind(s.step)
    .bind(&s.status)
    .bind(&s.requested_by)
    .bind(s.created_at)
    .bind(s.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn update_service(conn: &mut PgConnection, s: &ServiceRow) -> Result<(), Error> {
    sqlx::query(
        "UPDATE services SET step = $2, status = $3, served_at = $4, served_by = $5, evidence = $6, evidence_sealed = $7,
           receipt_document_id = $8, receipt_number = $9, updated_at = $10 WHERE id = $1",
    )
    .bind(s.id)
    .bind(s.step)
    .bind(&s.status)
    .bind(s.served_at)
    .bind(&s.served_by)
    .bind(&s.evidence)
    .bind(&s.evidence_sealed)
    .bind(s.receipt_document_id)
    .bind(&s.receipt_number)
    .bind(s.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn services_of_case(conn: &mut PgConnection, case_id: Uuid) -> Result<Vec<ServiceRow>, Error> {
    Ok(sqlx::query_as("SELECT * FROM services WHERE case_id = $1 ORDER BY created_at, id LIMIT 200").bind(case_id).fetch_all(&mut *conn).await?)
}

pub async fn open_services(conn: &mut PgConnection, organ: &str, limit: i64) -> Result<Vec<ServiceRow>, Error> {
    Ok(sqlx::query_as("SELECT * FROM services WHERE organ = $1 AND status <> 'served' ORDER BY created_at, id LIMIT $2")
        .bind(organ)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?)
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct AttemptRow {
    pub id: Uuid,
    pub service_id: Uuid,
    pub channel: String,
    #[serde(skip)]
    pub address_sealed: Option<Vec<u8>>,
    pub address_masked: String,
    pub status: String,
    pub sent_at: Option<DateTime<Utc>>,
    pub provider_id: String,
    pub reply: String,
    pub failure: String,
    pub arrived_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

pub async fn attempt(conn: &mut PgConnection, id: Uuid, lock: bool) -> Result<Option<AttemptRow>, Error> {
    let sql = format!("SELECT * FROM attempts WHERE id = $1{}", if lock { " FOR UPDATE" } else { "" });
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(&mut *conn).await?)
}

pub async fn attempts_of(conn: &mut PgConnection, service_ids: &[Uuid]) -> Result<Vec<AttemptRow>, Error> {
    Ok(sqlx::query_as("SELECT * FROM attempts WHERE service_id = ANY($1) ORDER BY created_at, id").bind(service_ids).fetch_all(&mut *conn).await?)
}

pub async fn insert_attempt(conn: &mut PgConnection, a: &AttemptRow) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO attempts (id, service_id, channel, address_sealed, address_masked, status, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7)",
    )
    .bind(a.id)
    .bind(a.service_id)
    .bind(&a.channel)
    .bind(&a.address_sealed)
    .bind(&a.address_masked)
    .bind(&a.status)
    .bind(a.created_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn update_attempt(conn: &mut PgConnection, a: &AttemptRow) -> Result<(), Error> {
    sqlx::query("UPDATE attempts SET status = $2, sent_at = $3, provider_id = $4, reply = $5, failure = $6, arrived_at = $7 WHERE id = $1")
        .bind(a.id)
        .bind(&a.status)
        .bind(a.sent_at)
        .bind(&a.provider_id)
        .bind(&a.reply)
        .bind(&a.failure)
        .bind(a.arrived_at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
