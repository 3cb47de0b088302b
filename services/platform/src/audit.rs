//! The audit log (R-DOC-5 操作留痕, ARCHITECTURE §6): every state change of a
//! service is appended, in the same transaction, to its schema's
//! `audit_log`, each row hash-chained to the one before.
//!
//! `seq` comes from the one-row `audit_head` under its row lock, so it is
//! gap-free and appends are serialised per schema (the lock is held until the
//! caller commits; a rolled-back append leaves neither a row nor a gap).
//! [`verify`] recomputes every digest and hash and reports rows that were
//! altered, removed from the middle, or cut from the end.

use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use futures::TryStreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool, Row};

use crate::error::Error;

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One change to record.
#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    pub actor_id: &'a str,
    pub actor_organ: &'a str,
    /// What was done, e.g. `clue.register`.
    pub action: &'a str,
    /// What it was done to, e.g. `clue/0190…`.
    pub subject: &'a str,
    pub before: Option<&'a serde_json::Value>,
    pub after: Option<&'a serde_json::Value>,
    pub at: DateTime<Utc>,
}

/// The stored row's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub seq: i64,
    pub hash: String,
}

/// Appends `entry` inside the caller's transaction (pass `&mut *tx`).
#[tracing::instrument(skip_all, fields(action = entry.action, subject = entry.subject))]
pub async fn append(conn: &mut PgConnection, entry: &AuditEntry<'_>) -> Result<AuditRecord, Error> {
    // PostgreSQL keeps microseconds; hash what will be read back.
    let at = truncate_to_micros(entry.at);
    let change = serde_json::json!({ "before": entry.before, "after": entry.after });
    let change_digest = sha256_hex(canonical_json(&change).as_bytes());

    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id FOR UPDATE").fetch_one(&mut *conn).await?;
    let prev_seq: i64 = head.get("seq");
    let prev_hash: String = head.get("hash");
    let seq = prev_seq + 1;
    let hash = row_hash(seq, at, entry.actor_id, entry.actor_organ, entry.action, entry.subject, &change_digest, &prev_hash);

    sqlx::query(
        "INSERT INTO audit_log (seq, at, actor_id, actor_organ, action, subject, change_digest, change, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(seq)
    .bind(at)
    .bind(entry.actor_id)
    .bind(entry.actor_organ)
    .bind(entry.action)
    .bind(entry.subject)
    .bind(&change_digest)
    .bind(&change)
    .bind(&prev_hash)
    .bind(&hash)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id").bind(seq).bind(&hash).execute(&mut *conn).await?;
    Ok(AuditRecord { seq, hash })
}

/// What is wrong with a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AuditProblemKind {
    /// The stored change no longer matches its digest.
    ChangeAltered,
    /// A field was changed: the row's hash does not match its content.
    RowAltered,
    /// The row does not point at the previous row's hash.
    ChainBroken,
    /// Rows before this one are missing (a gap in `seq`).
    Missing,
    /// The head records a later row than the log holds: rows were cut from the end.
    HeadMismatch,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditProblem {
    pub seq: i64,
    pub kind: AuditProblemKind,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct AuditReport {
    pub rows_checked: u64,
    pub problems: Vec<AuditProblem>,
}

impl AuditReport {
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Walks the whole log in `seq` order and reports every problem found.
#[tracing::instrument(skip_all)]
pub async fn verify(pool: &PgPool) -> Result<AuditReport, Error> {
    let mut report = AuditReport::default();
    let mut expected_seq = 1_i64;
    let mut prev_hash = GENESIS.to_string();
    let mut last_seq = 0_i64;
    let mut last_hash = GENESIS.to_string();
    {
        let mut rows = sqlx::query(
            "SELECT seq, at, actor_id, actor_organ, action, subject, change_digest, change, prev_hash, hash
             FROM audit_log ORDER BY seq",
        )
        .fetch(pool);
        while let Some(row) = rows.try_next().await? {
            report.rows_checked += 1;
            let seq: i64 = row.get("seq");
            let at: DateTime<Utc> = row.get("at");
            let change: serde_json::Value = row.get("change");
            let change_digest: String = row.get("change_digest");
            let stored_prev: String = row.get("prev_hash");
            let stored_hash: String = row.get("hash");
            if seq != expected_seq {
                report.problems.push(AuditProblem { seq, kind: AuditProblemKind::Missing });
            }
            if stored_prev != prev_hash {
                report.problems.push(AuditProblem { seq, kind: AuditProblemKind::ChainBroken });
            }
            if sha256_hex(canonical_json(&change).as_bytes()) != change_digest {
                report.problems.push(AuditProblem { seq, kind: AuditProblemKind::ChangeAltered });
            }
            let actor_id: String = row.get("actor_id");
            let actor_organ: String = row.get("actor_organ");
            let action: String = row.get("action");
            let subject: String = row.get("subject");
            let recomputed = row_hash(seq, at, &actor_id, &actor_organ, &action, &subject, &change_digest, &stored_prev);
            if recomputed != stored_hash {
                report.problems.push(AuditProblem { seq, kind: AuditProblemKind::RowAltered });
            }
            prev_hash = stored_hash.clone();
            expected_seq = seq + 1;
            last_seq = seq;
            last_hash = stored_hash;
        }
    }
    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id").fetch_one(pool).await?;
    let head_seq: i64 = head.get("seq");
    let head_hash: String = head.get("hash");
    if head_seq != last_seq || head_hash != last_hash {
        report.problems.push(AuditProblem { seq: head_seq, kind: AuditProblemKind::HeadMismatch });
    }
    Ok(report)
}

fn truncate_to_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    let micros = at.nanosecond() / 1_000 * 1_000;
    at.with_nanosecond(micros).unwrap_or(at)
}

/// The row hash over a length-prefixed encoding of its fields, so no two
/// different rows can encode to the same bytes.
#[allow(clippy::too_many_arguments)]
fn row_hash(
    seq: i64,
    at: DateTime<Utc>,
    actor_id: &str,
    actor_organ: &str,
    action: &str,
    subject: &str,
    change_digest: &str,
    prev_hash: &str,
) -> String {
    let at = truncate_to_micros(at).to_rfc3339_opts(SecondsFormat::Micros, true);
    let seq = seq.to_string();
    let mut hasher = Sha256::new();
    for field in [seq.as_str(), at.as_str(), actor_id, actor_organ, action, subject, change_digest, prev_hash] {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// JSON with object keys sorted (PostgreSQL's JSONB reorders keys, so the
/// digest must not depend on their order).
fn canonical_json(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = String::from("{");
            for (index, key) in keys.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String((*key).clone()).to_string());
                out.push(':');
                out.push_str(&canonical_json(&map[*key]));
            }
            out.push('}');
            out
        }
        serde_json::Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(canonical_json).collect();
            format!("[{}]", parts.join(","))
        }
        other => other.to_string(),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_ignores_key_order() {
        let a = serde_json::json!({"b": 1, "a": {"y": [1, {"d": 2, "c": 3}], "x": null}});
        let b = serde_json::json!({"a": {"x": null, "y": [1, {"c": 3, "d": 2}]}, "b": 1});
        assert_eq!(canonical_json(&a), canonical_json(&b));
    }

    #[test]
    fn row_hash_changes_with_any_field_and_fields_cannot_be_shifted() {
        let at = Utc::now();
        let base = row_hash(1, at, "o1", "org", "act", "subj", "d", GENESIS);
        assert_ne!(base, row_hash(2, at, "o1", "org", "act", "subj", "d", GENESIS));
        assert_ne!(base, row_hash(1, at, "o2", "org", "act", "subj", "d", GENESIS));
        assert_ne!(row_hash(1, at, "ab", "c", "x", "y", "d", GENESIS), row_hash(1, at, "a", "bc", "x", "y", "d", GENESIS));
    }
}
