//! Archive rows (R-DOC-3, R-DOC-4): SQL only.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_platform::Error;

/// A document, evidence file or recording an event of a file named.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DocumentRow {
    pub file_id: Uuid,
    pub sha256: String,
    pub kind: String,
    pub title: String,
    pub number: String,
    pub service: String,
    pub produced_at: DateTime<Utc>,
    pub event_id: Uuid,
    pub reference_only: bool,
    pub reference: String,
}

/// Records a document of a file (once per object: a second naming fills a
/// missing title or number, and keeps the earliest time).
pub async fn put_document(conn: &mut PgConnection, d: &DocumentRow) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO file_documents (file_id, sha256, kind, title, number, service, produced_at, event_id, reference_only, reference)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)
         ON CONFLICT (file_id, sha256) DO UPDATE SET
             title = CASE WHEN file_documents.title = '' THEN EXCLUDED.title ELSE file_documents.title END,
             number = CASE WHEN file_documents.number = '' THEN EXCLUDED.number ELSE file_documents.number END,
             produced_at = LEAST(file_documents.produced_at, EXCLUDED.produced_at)
         WHERE (file_documents.title = '' AND EXCLUDED.title <> '') OR (file_documents.number = '' AND EXCLUDED.number <> '')
            OR EXCLUDED.produced_at < file_documents.produced_at",
    )
    .bind(d.file_id)
    .bind(&d.sha256)
    .bind(&d.kind)
    .bind(&d.title)
    .bind(&d.number)
    .bind(&d.service)
    .bind(d.produced_at)
    .bind(d.event_id)
    .bind(d.reference_only)
    .bind(&d.reference)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A file's documents in the order they were produced.
pub async fn documents(conn: &mut PgConnection, file_id: Uuid) -> Result<Vec<DocumentRow>, Error> {
    Ok(sqlx::query_as("SELECT * FROM file_documents WHERE file_id = $1 ORDER BY produced_at, event_id, sha256").bind(file_id).fetch_all(&mut *conn).await?)
}

/// Whether a file other than `file_id` whose archive is not destroyed
/// names the object (then a destruction keeps it).
pub async fn listed_elsewhere(conn: &mut PgConnection, sha256: &str, file_id: Uuid) -> Result<bool, Error> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM file_documents d LEFT JOIN archives a ON a.file_id = d.file_id
                         WHERE d.sha256 = $1 AND d.file_id <> $2 AND (a.status IS NULL OR a.status <> 'destroyed'))",
    )
    .bind(sha256)
    .bind(file_id)
    .fetch_one(&mut *conn)
    .await?)
}

/// What the archive keeps of a file beside `files`.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct FactsRow {
    pub file_id: Uuid,
    pub violation_type: String,
    pub organ_name: String,
    pub party_name: String,
}

/// Fills the facts a later event tells (an empty value changes nothing).
pub async fn put_facts(conn: &mut PgConnection, f: &FactsRow) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO file_facts (file_id, violation_type, organ_name, party_name) VALUES ($1, $2, $3, $4)
         ON CONFLICT (file_id) DO UPDATE SET
             violation_type = CASE WHEN EXCLUDED.violation_type <> '' THEN EXCLUDED.violation_type ELSE file_facts.violation_type END,
             organ_name = CASE WHEN EXCLUDED.organ_name <> '' THEN EXCLUDED.organ_name ELSE file_facts.organ_name END,
             party_name = CASE WHEN EXCLUDED.party_name <> '' THEN EXCLUDED.party_name ELSE file_facts.party_name END",
    )
    .bind(f.file_id)
    .bind(&f.violation_type)
    .bind(&f.organ_name)
    .bind(&f.party_name)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn facts(conn: &mut PgConnection, file_id: Uuid) -> Result<FactsRow, Error> {
    let row: Option<FactsRow> = sqlx::query_as("SELECT * FROM file_facts WHERE file_id = $1").bind(file_id).fetch_optional(&mut *conn).await?;
    Ok(row.unwrap_or(FactsRow { file_id, ..FactsRow::default() }))
}

/// The archive of a closed file.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct ArchiveRow {
    pub file_id: Uuid,
    pub case_id: Option<Uuid>,
    pub number: String,
    pub division: String,
    pub organ: String,
    pub section: String,
    pub outcome: String,
    pub closed_on: NaiveDate,
    pub archive_due: NaiveDate,
    pub status: String,
    pub retention_class: String,
    pub retain_until: Option<NaiveDate>,
    pub violation_type: String,
    pub archived_at: Option<DateTime<Utc>>,
    pub timely: Option<bool>,
    pub manifest_sha256: Option<String>,
    pub signature: Option<String>,
    pub key_id: Option<String>,
    pub documents: i32,
    pub paper_location: Option<String>,
    pub paper_box: Option<String>,
    pub paper_on: Option<NaiveDate>,
    pub paper_by: Option<String>,
    pub paper_timely: Option<bool>,
    pub approval_id: Option<Uuid>,
    pub approval_meeting_on: Option<NaiveDate>,
    pub approval_attendees: Option<Vec<String>>,
    pub approval_minutes: Option<String>,
    pub approved_by: Option<String>,
    pub destroyed_on: Option<NaiveDate>,
    pub destroyed_by: Option<Vec<String>>,
    pub destruction_record_sha256: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// `false` if the file already has its archive row.
pub async fn insert(conn: &mut PgConnection, a: &ArchiveRow) -> Result<bool, Error> {
    let done = sqlx::query(
        "INSERT INTO archives (file_id, case_id, number, division, organ, section, outcome, closed_on, archive_due, status, retention_class, retain_until,
                               violation_type, updated_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14) ON CONFLICT (file_id) DO NOTHING",
    )
    .bind(a.file_id)
    .bind(a.case_id)
    .bind(&a.number)
    .bind(&a.division)
    .bind(&a.organ)
    .bind(&a.section)
    .bind(&a.outcome)
    .bind(a.closed_on)
    .bind(a.archive_due)
    .bind(&a.status)
    .bind(&a.retention_class)
    .bind(a.retain_until)
    .bind(&a.violation_type)
    .bind(a.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Writes every changing column of the row.
pub async fn update(conn: &mut PgConnection, a: &ArchiveRow) -> Result<(), Error> {
    sqlx::query(
        "UPDATE archives SET status = $2, archived_at = $3, timely = $4, manifest_sha256 = $5, signature = $6, key_id = $7, documents = $8,
                paper_location = $9, paper_box = $10, paper_on = $11, paper_by = $12, paper_timely = $13,
                approval_id = $14, approval_meeting_on = $15, approval_attendees = $16, approval_minutes = $17, approved_by = $18,
                destroyed_on = $19, destroyed_by = $20, destruction_record_sha256 = $21, updated_at = $22, retain_until = $23, case_id = $24
          WHERE file_id = $1",
    )
    .bind(a.file_id)
    .bind(&a.status)
    .bind(a.archived_at)
    .bind(a.timely)
    .bind(&a.manifest_sha256)
    .bind(&a.signature)
    .bind(&a.key_id)
    .bind(a.documents)
    .bind(&a.paper_location)
    .bind(&a.paper_box)
    .bind(a.paper_on)
    .bind(&a.paper_by)
    .bind(a.paper_timely)
    .bind(a.approval_id)
    .bind(a.approval_meeting_on)
    .bind(&a.approval_attendees)
    .bind(&a.approval_minutes)
    .bind(&a.approved_by)
    .bind(a.destroyed_on)
    .bind(&a.destroyed_by)
    .bind(&a.destruction_record_sha256)
    .bind(a.updated_at)
    .bind(a.retain_until)
    .bind(a.case_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The archive of a file by its id, locked for the change if `lock`.
pub async fn of_file(conn: &mut PgConnection, file_id: Uuid, lock: bool) -> Result<Option<ArchiveRow>, Error> {
    let sql = if lock { "SELECT * FROM archives WHERE file_id = $1 FOR UPDATE" } else { "SELECT * FROM archives WHERE file_id = $1" };
    Ok(sqlx::query_as(sql).bind(file_id).fetch_optional(&mut *conn).await?)
}

/// The archive of a case, by its case id or its clue (file) id.
pub async fn of_case(conn: &mut PgConnection, id: Uuid, lock: bool) -> Result<Option<ArchiveRow>, Error> {
    let sql = if lock {
        "SELECT * FROM archives WHERE case_id = $1 OR file_id = $1 ORDER BY (case_id = $1) DESC NULLS LAST LIMIT 1 FOR UPDATE"
    } else {
        "SELECT * FROM archives WHERE case_id = $1 OR file_id = $1 ORDER BY (case_id = $1) DESC NULLS LAST LIMIT 1"
    };
    Ok(sqlx::query_as(sql).bind(id).fetch_optional(&mut *conn).await?)
}

/// Archives under a division prefix, newest closing first.
pub async fn list(conn: &mut PgConnection, prefix: &str, status: Option<&str>, limit: i64) -> Result<Vec<ArchiveRow>, Error> {
    Ok(sqlx::query_as(
        "SELECT * FROM archives WHERE division LIKE $1 || '%' AND ($2::text IS NULL OR status = $2) ORDER BY closed_on DESC, file_id LIMIT $3",
    )
    .bind(prefix)
    .bind(status)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}
