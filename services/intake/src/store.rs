//! Intake's PostgreSQL store (schema `intake`): every query of the service.
//! Callers pass `&mut *tx`; a state change, its outbox rows, its timer and
//! its audit row are written in one transaction by the caller.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::migrate::Migrator;
use sqlx::types::Json;
use sqlx::{PgConnection, QueryBuilder};
use uuid::Uuid;
use yuetan_platform::batch::WriteBatch;
use yuetan_platform::Error;

use crate::domain::case::CaseStatus;

/// Intake's own tables; versions from 1000 (the platform's are below).
pub fn migrations() -> Migrator {
    sqlx::migrate!("./migrations")
}

pub use crate::domain::doc_number::next_sequence as next_document_sequence;

// ---------------------------------------------------------------------------
// Client request ids

pub use yuetan_platform::requests::{decode_stored, remember_in, replay, RequestKey};

// ---------------------------------------------------------------------------
// Organs and violation types

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct OrganRow {
    pub code: String,
    pub name: String,
    pub division: String,
    pub document_code: String,
}

/// Writes an organ (the caller has locked the old row with
/// [`organ_for_update`]). A document code another organ of the province
/// took first (a concurrent call) is `AlreadyExists` (R-DOC-2).
pub async fn put_organ(conn: &mut PgConnection, organ: &OrganRow, now: DateTime<Utc>) -> Result<(), Error> {
    let done = sqlx::query(
        "INSERT INTO organs (code, name, division, document_code, updated_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (code) DO UPDATE SET name = $2, division = $3, document_code = $4, updated_at = $5",
    )
    .bind(&organ.code)
    .bind(&organ.name)
    .bind(&organ.division)
    .bind(&organ.document_code)
    .bind(now)
    .execute(&mut *conn)
    .await;
    match done {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(db)) if db.constraint() == Some("organs_document_code_per_province") => Err(Error::AlreadyExists(
            format!("document code {:?} is taken by another organ of the province (R-DOC-2)", organ.document_code),
        )),
        Err(err) => Err(err.into()),
    }
}

/// The organ, locked for the caller's transaction.
pub async fn organ_for_update(conn: &mut PgConnection, code: &str) -> Result<Option<OrganRow>, Error> {
    Ok(sqlx::query_as("SELECT code, name, division, document_code FROM organs WHERE code = $1 FOR UPDATE")
        .bind(code)
        .fetch_optional(&mut *conn)
        .await?)
}

/// The organ other than `code` whose document code in `division`'s
/// province is `document_code`, if any (R-DOC-2).
pub async fn document_code_holder(
    conn: &mut PgConnection,
    division: &str,
    document_code: &str,
    code: &str,
) -> Result<Option<OrganRow>, Error> {
    Ok(sqlx::query_as(
        "SELECT code, name, division, document_code FROM organs
         WHERE left(division, 2) = left($1, 2) AND document_code = $2 AND code <> $3",
    )
    .bind(division)
    .bind(document_code)
    .bind(code)
    .fetch_optional(&mut *conn)
    .await?)
}

/// The organs of a province (`62`), by division and code.
pub async fn list_organs(conn: &mut PgConnection, province: &str) -> Result<Vec<OrganRow>, Error> {
    Ok(sqlx::query_as("SELECT code, name, division, document_code FROM organs WHERE left(division, 2) = $1 ORDER BY division, code")
        .bind(province)
        .fetch_all(&mut *conn)
        .await?)
}

pub async fn get_organ(conn: &mut PgConnection, code: &str) -> Result<Option<OrganRow>, Error> {
    Ok(sqlx::query_as("SELECT code, name, division, document_code FROM organs WHERE code = $1")
        .bind(code)
        .fetch_optional(&mut *conn)
        .await?)
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct ViolationTypeRow {
    pub code: String,
    pub department: String,
    pub name: String,
    pub legal_basis: String,
    pub active: bool,
}

pub async fn put_violation_type(
    conn: &mut PgConnection,
    row: &ViolationTypeRow,
    now: DateTime<Utc>,
) -> Result<Option<ViolationTypeRow>, Error> {
    let before = get_violation_type(conn, &row.code).await?;
    sqlx::query(
        "INSERT INTO violation_types (code, department, name, legal_basis, active, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (code) DO UPDATE SET department = $2, name = $3, legal_basis = $4, active = $5, updated_at = $6",
    )
    .bind(&row.code)
    .bind(&row.department)
    .bind(&row.name)
    .bind(&row.legal_basis)
    .bind(row.active)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(before)
}

pub async fn get_violation_type(conn: &mut PgConnection, code: &str) -> Result<Option<ViolationTypeRow>, Error> {
    Ok(sqlx::query_as("SELECT code, department, name, legal_basis, active FROM violation_types WHERE code = $1")
        .bind(code)
        .fetch_optional(&mut *conn)
        .await?)
}

pub async fn list_violation_types(
    conn: &mut PgConnection,
    department: &str,
    include_inactive: bool,
) -> Result<Vec<ViolationTypeRow>, Error> {
    Ok(sqlx::query_as(
        "SELECT code, department, name, legal_basis, active FROM violation_types
         WHERE ($1 = '' OR department = $1) AND (active OR $2) ORDER BY department, code",
    )
    .bind(department)
    .bind(include_inactive)
    .fetch_all(&mut *conn)
    .await?)
}

// ---------------------------------------------------------------------------
// Parties

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PartyRow {
    pub id: Uuid,
    pub kind: String,
    pub identity_key: Vec<u8>,
    pub credit_code: Option<String>,
    pub resident_id_sealed: Option<Vec<u8>>,
    pub resident_id_masked: Option<String>,
    pub name: String,
    pub address: String,
    pub contacts_sealed: Vec<u8>,
    pub details: Json<serde_json::Value>,
    pub registered_by_organ: String,
    pub division: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const PARTY_COLUMNS: &str = "id, kind, identity_key, credit_code, resident_id_sealed, resident_id_masked, name, address, \
     contacts_sealed, details, registered_by_organ, division, version, created_at, updated_at";

/// Inserts a party unless its identity is registered in its province
/// (the first two digits of its division); returns whether it did.
pub async fn insert_party(conn: &mut PgConnection, p: &PartyRow) -> Result<bool, Error> {
    let done = sqlx::query(&format!(
        "INSERT INTO parties ({PARTY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         ON CONFLICT (province, identity_key) DO NOTHING"
    ))
    .bind(p.id)
    .bind(&p.kind)
    .bind(&p.identity_key)
    .bind(&p.credit_code)
    .bind(&p.resident_id_sealed)
    .bind(&p.resident_id_masked)
    .bind(&p.name)
    .bind(&p.address)
    .bind(&p.contacts_sealed)
    .bind(&p.details)
    .bind(&p.registered_by_organ)
    .bind(&p.division)
    .bind(p.version)
    .bind(p.created_at)
    .bind(p.updated_at)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(done == 1)
}

/// The party of an identity in a province (the register is per province).
pub async fn party_by_identity(conn: &mut PgConnection, province: &str, identity_key: &[u8]) -> Result<Option<PartyRow>, Error> {
    Ok(sqlx::query_as(&format!("SELECT {PARTY_COLUMNS} FROM parties WHERE province = $1 AND identity_key = $2"))
        .bind(province)
        .bind(identity_key)
        .fetch_optional(&mut *conn)
        .await?)
}

/// What `RegisterClue` reads, in one round trip: the party, the violation
/// type and an earlier answer to the same request id.
pub struct ClueLookup {
    pub party: Option<PartyRef>,
    pub violation_type: Option<ViolationTypeRow>,
    pub replay: Option<(String, Vec<u8>, Vec<u8>)>,
}

/// The fields of a party that events name.
#[derive(Debug, Clone)]
pub struct PartyRef {
    pub id: Uuid,
    pub kind: String,
    pub name: String,
    pub credit_code: Option<String>,
    pub division: String,
}

pub async fn clue_lookup(
    conn: &mut PgConnection,
    party_id: Uuid,
    violation_type: &str,
    key: &RequestKey<'_>,
) -> Result<ClueLookup, Error> {
    type Row = (
        Option<Uuid>, Option<String>, Option<String>, Option<String>, Option<String>,
        Option<String>, Option<String>, Option<String>, Option<String>, Option<bool>,
        Option<String>, Option<Vec<u8>>, Option<Vec<u8>>,
    );
    let row: Row = sqlx::query_as(
        "SELECT p.id, p.kind, p.name, p.credit_code, p.division,
                v.code, v.department, v.name, v.legal_basis, v.active,
                r.method, r.digest, r.response
         FROM (SELECT 1) AS one
         LEFT JOIN parties p ON p.id = $1
         LEFT JOIN violation_types v ON v.code = $2
         LEFT JOIN requests r ON r.officer_id = $3 AND r.request_id = $4 AND $4 <> ''",
    )
    .bind(party_id)
    .bind(violation_type)
    .bind(key.officer_id)
    .bind(key.request_id)
    .fetch_one(&mut *conn)
    .await?;
    let (pid, kind, name, credit_code, division, code, department, vname, legal_basis, active, method, digest, response) = row;
    Ok(ClueLookup {
        party: match (pid, kind, name, division) {
            (Some(id), Some(kind), Some(name), Some(division)) => Some(PartyRef { id, kind, name, credit_code, division }),
            _ => None,
        },
        violation_type: match (code, department, vname, legal_basis, active) {
            (Some(code), Some(department), Some(name), Some(legal_basis), Some(active)) => {
                Some(ViolationTypeRow { code, department, name, legal_basis, active })
            }
            _ => None,
        },
        replay: match (method, digest, response) {
            (Some(m), Some(d), Some(r)) => Some((m, d, r)),
            _ => None,
        },
    })
}

pub async fn party(conn: &mut PgConnection, id: Uuid, for_update: bool) -> Result<Option<PartyRow>, Error> {
    let lock = if for_update { " FOR UPDATE" } else { "" };
    Ok(sqlx::query_as(&format!("SELECT {PARTY_COLUMNS} FROM parties WHERE id = $1{lock}"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?)
}

pub async fn update_party(conn: &mut PgConnection, p: &PartyRow) -> Result<(), Error> {
    sqlx::query(
        "UPDATE parties SET name = $2, address = $3, contacts_sealed = $4, details = $5, version = $6, updated_at = $7
         WHERE id = $1",
    )
    .bind(p.id)
    .bind(&p.name)
    .bind(&p.address)
    .bind(&p.contacts_sealed)
    .bind(&p.details)
    .bind(p.version)
    .bind(p.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Clues

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClueRow {
    pub id: Uuid,
    pub source: String,
    pub organ: String,
    pub section: String,
    pub division: String,
    pub party_id: Uuid,
    pub facts: String,
    pub violation_type: String,
    pub evidence: Json<Vec<Evidence>>,
    pub urgency: String,
    pub received_on: NaiveDate,
    pub verification_deadline: NaiveDate,
    pub status: String,
    pub case_id: Option<Uuid>,
    pub verification_overdue: bool,
    pub registered_by: String,
    pub registered_at: DateTime<Utc>,
}

/// An evidence reference as stored (content address plus description).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Evidence {
    pub sha256: String,
    pub file_name: String,
    pub media_type: String,
    pub size: u64,
    pub kind: String,
}

const CLUE_COLUMNS: &str = "id, source, organ, section, division, party_id, facts, violation_type, evidence, urgency, \
     received_on, verification_deadline, status, case_id, verification_overdue, registered_by, registered_at";

/// Inserts a clue, as one write of a [`WriteBatch`].
pub fn insert_clue_in(batch: &mut WriteBatch, c: &ClueRow) {
    let c = c.clone();
    batch.push(move |q| {
        q.push(format!("INSERT INTO clues ({CLUE_COLUMNS}) VALUES ("));
        let mut values = q.separated(", ");
        values
            .push_bind(c.id)
            .push_bind(c.source)
            .push_bind(c.organ)
            .push_bind(c.section)
            .push_bind(c.division)
            .push_bind(c.party_id)
            .push_bind(c.facts)
            .push_bind(c.violation_type)
            .push_bind(c.evidence)
            .push_bind(c.urgency)
            .push_bind(c.received_on)
            .push_bind(c.verification_deadline)
            .push_bind(c.status)
            .push_bind(c.case_id)
            .push_bind(c.verification_overdue)
            .push_bind(c.registered_by)
            .push_bind(c.registered_at);
        q.push(") RETURNING 1");
    });
}

/// Sets a verified clue's outcome and case, as one write of a [`WriteBatch`].
pub fn close_clue_in(batch: &mut WriteBatch, id: Uuid, status: &str, case_id: Uuid) {
    let status = status.to_string();
    batch.push(move |q| {
        q.push("UPDATE clues SET status = ")
            .push_bind(status)
            .push(", case_id = ")
            .push_bind(case_id)
            .push(" WHERE id = ")
            .push_bind(id)
            .push(" RETURNING 1");
    });
}

/// What `VerifyClue` reads first, in one round trip: the clue (locked), its
/// organ's document code and an earlier answer to the same request id.
#[derive(Debug, sqlx::FromRow)]
pub struct ClueForVerify {
    #[sqlx(flatten)]
    pub clue: ClueRow,
    pub document_code: Option<String>,
    pub organ_name: Option<String>,
    pub replay_method: Option<String>,
    pub replay_digest: Option<Vec<u8>>,
    pub replay_response: Option<Vec<u8>>,
}

impl ClueForVerify {
    pub fn replay(&self) -> Option<(String, Vec<u8>, Vec<u8>)> {
        match (&self.replay_method, &self.replay_digest, &self.replay_response) {
            (Some(m), Some(d), Some(r)) => Some((m.clone(), d.clone(), r.clone())),
            _ => None,
        }
    }
}

pub async fn clue_for_verify(conn: &mut PgConnection, id: Uuid, key: &RequestKey<'_>) -> Result<Option<ClueForVerify>, Error> {
    let columns: Vec<String> = CLUE_COLUMNS.split(',').map(|c| format!("clues.{}", c.trim())).collect();
    Ok(sqlx::query_as(&format!(
        "SELECT {}, o.document_code, o.name AS organ_name, r.method AS replay_method, r.digest AS replay_digest, r.response AS replay_response
         FROM clues
         LEFT JOIN organs o ON o.code = clues.organ
         LEFT JOIN requests r ON r.officer_id = $2 AND r.request_id = $3 AND $3 <> ''
         WHERE clues.id = $1
         FOR UPDATE OF clues",
        columns.join(", ")
    ))
    .bind(id)
    .bind(key.officer_id)
    .bind(key.request_id)
    .fetch_optional(&mut *conn)
    .await?)
}

pub async fn clue(conn: &mut PgConnection, id: Uuid) -> Result<Option<ClueRow>, Error> {
    Ok(sqlx::query_as(&format!("SELECT {CLUE_COLUMNS} FROM clues WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?)
}

/// Clues under any of the division prefixes (a caller's own division and
/// those a `divisions` claim adds), nearest deadline first, after
/// `(deadline, id)`.
pub async fn list_clues(
    conn: &mut PgConnection,
    division_prefixes: &[String],
    status: Option<&str>,
    after: Option<(NaiveDate, Uuid)>,
    limit: i64,
) -> Result<Vec<ClueRow>, Error> {
    let mut q = QueryBuilder::new(format!("SELECT {CLUE_COLUMNS} FROM clues WHERE division LIKE ANY ("));
    q.push_bind(like_prefixes(division_prefixes)).push(")");
    if let Some(status) = status {
        q.push(" AND status = ").push_bind(status.to_string());
    }
    if let Some((deadline, id)) = after {
        q.push(" AND (verification_deadline, id) > (").push_bind(deadline).push(", ").push_bind(id).push(")");
    }
    q.push(" ORDER BY verification_deadline, id LIMIT ").push_bind(limit);
    Ok(q.build_query_as().fetch_all(&mut *conn).await?)
}

/// The clue, locked, unless another transaction holds it: `Ok(None)` then
/// (or when there is no such clue). Timers use it, so they never wait for a
/// verification that is itself waiting for the timer's row (deadlock).
pub async fn clue_unless_locked(conn: &mut PgConnection, id: Uuid) -> Result<Option<ClueRow>, Error> {
    Ok(sqlx::query_as(&format!("SELECT {CLUE_COLUMNS} FROM clues WHERE id = $1 FOR UPDATE SKIP LOCKED"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?)
}

pub async fn mark_clue_overdue(conn: &mut PgConnection, id: Uuid) -> Result<(), Error> {
    sqlx::query("UPDATE clues SET verification_overdue = true WHERE id = $1").bind(id).execute(&mut *conn).await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Cases

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CaseRow {
    pub id: Uuid,
    pub number: Option<String>,
    pub clue_id: Uuid,
    pub lead_organ: String,
    pub division: String,
    pub section: String,
    pub co_departments: Vec<String>,
    pub major: bool,
    pub status: String,
    pub party_id: Uuid,
    pub party_identity: Vec<u8>,
    pub party_name: String,
    pub violation_type: String,
    pub situations: Vec<String>,
    pub exclusions: Json<Vec<StoredExclusion>>,
    pub report: Json<Report>,
    pub approval_form: Option<Json<Form>>,
    pub review_round: i32,
    pub proposed_by: String,
    pub opened_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredExclusion {
    pub code: String,
    pub reason: String,
}

/// The clue verification report (R-START-2).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Report {
    pub facts: String,
    pub provisions_violated: String,
    pub necessity: String,
}

/// The approval form (R-START-3), with the supplements of later rounds and
/// what review asked for each time it returned the form.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Form {
    pub proposal: String,
    pub proposed_interviewers: Vec<String>,
    pub evidence: Vec<Evidence>,
    #[serde(default)]
    pub supplements: Vec<String>,
    #[serde(default)]
    pub returns: Vec<ReviewReturn>,
}

/// One return for supplement, as `review.review_returned` reported it: the
/// section answers it with the next supplement.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReviewReturn {
    pub round: u32,
    pub missing: String,
    pub opinion: String,
    pub returned_by: String,
}

const CASE_COLUMNS: &str = "id, number, clue_id, lead_organ, division, section, co_departments, major, status, party_id, \
     party_identity, party_name, violation_type, situations, exclusions, report, approval_form, review_round, proposed_by, opened_at, \
     updated_at, version";

/// Inserts a case, as one write of a [`WriteBatch`].
pub fn insert_case_in(batch: &mut WriteBatch, c: &CaseRow) {
    let c = c.clone();
    batch.push(move |q| {
        q.push(format!("INSERT INTO cases ({CASE_COLUMNS}) VALUES ("));
        let mut values = q.separated(", ");
        values
            .push_bind(c.id)
            .push_bind(c.number)
            .push_bind(c.clue_id)
            .push_bind(c.lead_organ)
            .push_bind(c.division)
            .push_bind(c.section)
            .push_bind(c.co_departments)
            .push_bind(c.major)
            .push_bind(c.status)
            .push_bind(c.party_id)
            .push_bind(c.party_identity)
            .push_bind(c.party_name)
            .push_bind(c.violation_type)
            .push_bind(c.situations)
            .push_bind(c.exclusions)
            .push_bind(c.report)
            .push_bind(c.approval_form)
            .push_bind(c.review_round)
            .push_bind(c.proposed_by)
            .push_bind(c.opened_at)
            .push_bind(c.updated_at)
            .push_bind(c.version);
        q.push(") RETURNING 1");
    });
}

/// Writes the mutable part of a case (status, form, round, version), as one write of a [`WriteBatch`].
pub fn update_case_in(batch: &mut WriteBatch, c: &CaseRow) {
    let c = c.clone();
    batch.push(move |q| {
        q.push("UPDATE cases SET status = ")
            .push_bind(c.status)
            .push(", approval_form = ")
            .push_bind(c.approval_form)
            .push(", review_round = ")
            .push_bind(c.review_round)
            .push(", updated_at = ")
            .push_bind(c.updated_at)
            .push(", version = ")
            .push_bind(c.version)
            .push(" WHERE id = ")
            .push_bind(c.id)
            .push(" RETURNING 1");
    });
}

pub async fn case(conn: &mut PgConnection, id: Uuid, for_update: bool) -> Result<Option<CaseRow>, Error> {
    let lock = if for_update { " FOR UPDATE" } else { "" };
    Ok(sqlx::query_as(&format!("SELECT {CASE_COLUMNS} FROM cases WHERE id = $1{lock}"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?)
}

/// R-SCOPE-3 X2: the earlier cases of this party for this violation type,
/// in every organ and county of the deployment, that were opened for an
/// interview or referred to penalty.
///
/// A case that legality review rejected (R-START-3) or whose approval was
/// denied (R-START-4) is left out: it never became an interview or a
/// penalty, and X2 excludes only a party "already penalised or interviewed"
/// (R-SCOPE-3), so the party is eligible again.
pub async fn prior_cases(conn: &mut PgConnection, party_identity: &[u8], violation_type: &str) -> Result<Vec<CaseRow>, Error> {
    Ok(sqlx::query_as(&format!(
        "SELECT {CASE_COLUMNS} FROM cases
         WHERE party_identity = $1 AND violation_type = $2 AND status <> ALL($3)
         ORDER BY id"
    ))
    .bind(party_identity)
    .bind(violation_type)
    .bind(vec![CaseStatus::Rejected.as_str(), CaseStatus::Denied.as_str()])
    .fetch_all(&mut *conn)
    .await?)
}

/// Who may see what: division prefixes (`62`, `6201`, `620102`) — the
/// caller's own division and those its `divisions` claim adds — and the
/// caller's organ (joint cases).
#[derive(Debug, Clone)]
pub struct Scope {
    pub division_prefixes: Vec<String>,
    pub organ: String,
}

/// `LIKE` patterns of division prefixes (digits only: nothing to escape).
fn like_prefixes(prefixes: &[String]) -> Vec<String> {
    prefixes.iter().map(|p| format!("{p}%")).collect()
}

#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub status: Option<String>,
    pub division: Option<String>,
    pub party_id: Option<Uuid>,
    pub violation_type: Option<String>,
    /// Cases older than this id (newest first).
    pub before: Option<Uuid>,
    pub limit: i64,
}

pub async fn list_cases(conn: &mut PgConnection, scope: &Scope, filter: &CaseFilter) -> Result<Vec<CaseRow>, Error> {
    let mut q = QueryBuilder::new(format!("SELECT {CASE_COLUMNS} FROM cases WHERE (division LIKE ANY ("));
    q.push_bind(like_prefixes(&scope.division_prefixes)).push(")");
    // Joint cases their organ takes part in (the partial GIN index of migration 1003).
    q.push(" OR (co_departments <> '{}' AND co_departments @> ARRAY[").push_bind(scope.organ.clone()).push("]::text[]))");
    if let Some(status) = &filter.status {
        q.push(" AND status = ").push_bind(status.clone());
    }
    if let Some(division) = &filter.division {
        q.push(" AND division = ").push_bind(division.clone());
    }
    if let Some(party) = filter.party_id {
        q.push(" AND party_id = ").push_bind(party);
    }
    if let Some(vt) = &filter.violation_type {
        q.push(" AND violation_type = ").push_bind(vt.clone());
    }
    if let Some(before) = filter.before {
        q.push(" AND id < ").push_bind(before);
    }
    q.push(" ORDER BY id DESC LIMIT ").push_bind(filter.limit);
    Ok(q.build_query_as().fetch_all(&mut *conn).await?)
}
