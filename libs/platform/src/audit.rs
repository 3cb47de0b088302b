//! The audit log (R-DOC-5 操作留痕, ARCHITECTURE §6): every state change of a
//! service is appended, in the same transaction, to its schema's
//! `audit_log`, each row hash-chained to the one before.
//!
//! The log is [`CHAINS`] parallel chains. An append takes the head row of
//! the lowest-numbered chain that no other transaction holds (`FOR UPDATE
//! SKIP LOCKED`; when all are held it waits for one), so concurrent
//! transactions append side by side instead of one at a time. The head lock
//! is held until the caller's transaction ends: within a chain `seq` is
//! gap-free, and a rolled-back append leaves neither a row nor a gap. A row's
//! place in time across chains is its `at`, taken from the database clock by
//! `audit_append`, never from the caller.
//!
//! Who can write: `audit_append` is SECURITY DEFINER (migration 0014). With
//! the database roles split (`database.owner_url`, [`crate::db`]) the
//! service's runtime role may only read the audit tables and call that
//! function: no INSERT, UPDATE, DELETE, TRUNCATE, and, not owning the
//! tables, no switching their triggers off. Triggers refuse UPDATE, DELETE
//! and TRUNCATE of `audit_log`, and any move of a chain head or insert of a
//! row outside `audit_append` (migration 0015). [`verify`] recomputes every
//! digest and hash anyway, so tampering by someone who switched the
//! triggers off (the owner, a superuser) is still found.
//!
//! What the chain cannot show: someone who rewrites rows *and* recomputes
//! every later hash and the head. [`crate::anchors`] closes that gap: the
//! heads are signed and published to the stream every few minutes, and
//! `yuetan audit verify --anchors` checks the rows against them.

use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use futures::TryStreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder, Row};

use crate::batch::{Counted, WriteBatch};
use crate::error::Error;

/// The `prev_hash` of the first row, and the head of an empty log.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Versions the row-hash encoding, so a future change of it cannot make
/// old and new rows collide.
const HASH_DOMAIN: &str = "yuetan.audit.v1";

/// One change to record.
#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    /// Officer id of the [`crate::Actor`] (or a service name for automatic steps).
    pub actor_id: &'a str,
    pub actor_organ: &'a str,
    /// What was done, e.g. `clue.register`.
    pub action: &'a str,
    /// What it was done to, e.g. `clue/0190…`.
    pub subject: &'a str,
    /// The state before the change (`None` when it was created).
    pub before: Option<&'a serde_json::Value>,
    /// The state after the change (`None` when it was removed).
    pub after: Option<&'a serde_json::Value>,
    /// The caller's time of the change. Not stored: the row's `at` is the
    /// database clock's at the append (migration 0014), so no caller can
    /// backdate a row. Kept so existing callers compile; it may go.
    pub at: DateTime<Utc>,
}

/// How many chains the log has (migration 0008).
pub const CHAINS: i16 = 64;

/// The appended row's place: its chain and its seq in that chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub chain: i16,
    pub seq: i64,
    pub hash: String,
}

/// Appends `entry` inside the caller's transaction (pass `&mut *tx`), so the
/// audit row commits or rolls back with the change it records.
///
/// Takes a chain head's lock until the transaction ends: append late in the
/// transaction, so the head is held briefly.
#[tracing::instrument(skip_all, fields(action = entry.action, subject = entry.subject))]
pub async fn append(conn: &mut PgConnection, entry: &AuditEntry<'_>) -> Result<AuditRecord, Error> {
    let mut query = QueryBuilder::new("SELECT chain, seq, hash FROM ");
    Prepared::new(entry).push_call(&mut query);
    let (chain, seq, hash): (i16, i64, String) = query.build_query_as().fetch_one(&mut *conn).await?;
    tracing::debug!(chain, seq, "audit row appended");
    Ok(AuditRecord { chain, seq, hash })
}

/// An entry ready for `audit_append` (migration 0014): the change as JSON
/// text, stored exactly as digested, so `verify` reads back the same value.
/// The time is not sent: the function takes it from the database clock.
struct Prepared {
    actor_id: String,
    actor_organ: String,
    action: String,
    subject: String,
    change_text: String,
    change_digest: String,
}

impl Prepared {
    fn new(entry: &AuditEntry<'_>) -> Prepared {
        let change = serde_json::json!({ "before": entry.before, "after": entry.after });
        Prepared {
            actor_id: entry.actor_id.to_string(),
            actor_organ: entry.actor_organ.to_string(),
            action: entry.action.to_string(),
            subject: entry.subject.to_string(),
            change_text: change.to_string(),
            change_digest: change_digest(&change),
        }
    }

    /// `audit_append(…)` with its arguments, onto a statement.
    fn push_call(self, query: &mut QueryBuilder<'static, Postgres>) {
        query.push("audit_append(");
        let mut args = query.separated(", ");
        args.push_bind(self.actor_id)
            .push_bind(self.actor_organ)
            .push_bind(self.action)
            .push_bind(self.subject)
            .push_bind(self.change_digest)
            .push_bind(self.change_text);
        query.push(")");
    }
}

/// [`append`] as one write of a [`WriteBatch`]: the row is appended when
/// the batch executes, in the caller's transaction (count 1).
pub fn append_in(batch: &mut WriteBatch, entry: &AuditEntry<'_>) -> Counted {
    let row = Prepared::new(entry);
    batch.push(move |q| {
        q.push("SELECT chain FROM ");
        row.push_call(q);
    })
}

/// What is wrong at a place in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AuditProblemKind {
    /// The stored `change` no longer matches its `change_digest`.
    ChangeAltered,
    /// A field of the row was changed: its hash does not match its content.
    RowAltered,
    /// The row's `prev_hash` is not the previous row's hash.
    ChainBroken,
    /// Rows are missing from the middle: `seq` is the first missing one.
    Missing,
    /// The head does not record the last row (seq and hash): rows were cut
    /// from the end, or added without going through [`append`]. `seq` is the
    /// head's.
    HeadMismatch,
}

/// One problem found by [`verify`], at `seq` of `chain`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditProblem {
    pub chain: i16,
    pub seq: i64,
    pub kind: AuditProblemKind,
}

/// The outcome of [`verify`]: every problem, not just the first.
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

/// Walks the log of the pool's schema chain by chain in `seq` order,
/// streaming (the log may be large), and reports every problem found.
///
/// Reads rows and heads in one read-only REPEATABLE READ snapshot, so
/// appends committed meanwhile neither show up half nor look like a cut tail.
#[tracing::instrument(skip_all)]
pub async fn verify(pool: &PgPool) -> Result<AuditReport, Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let heads: Vec<(i16, i64, String)> = sqlx::query_as("SELECT chain, seq, hash FROM audit_chains ORDER BY chain")
        .fetch_all(&mut *tx)
        .await?;

    let mut report = AuditReport::default();
    // Where each chain's walk ended: (next expected seq, last hash).
    let mut ends: std::collections::HashMap<i16, (i64, String)> = std::collections::HashMap::new();
    {
        let mut rows = sqlx::query(
            "SELECT chain, seq, at, actor_id, actor_organ, action, subject, change_digest, change, prev_hash, hash
             FROM audit_log ORDER BY chain, seq",
        )
        .fetch(&mut *tx);
        while let Some(row) = rows.try_next().await? {
            report.rows_checked += 1;
            let chain: i16 = row.try_get("chain")?;
            let seq: i64 = row.try_get("seq")?;
            let at: DateTime<Utc> = row.try_get("at")?;
            let actor_id: String = row.try_get("actor_id")?;
            let actor_organ: String = row.try_get("actor_organ")?;
            let action: String = row.try_get("action")?;
            let subject: String = row.try_get("subject")?;
            let stored_digest: String = row.try_get("change_digest")?;
            let Json(change): Json<serde_json::Value> = row.try_get("change")?;
            let prev_hash: String = row.try_get("prev_hash")?;
            let hash: String = row.try_get("hash")?;

            let (expected_seq, last_hash) = ends.entry(chain).or_insert_with(|| (1, GENESIS_HASH.to_string()));
            let problems = &mut report.problems;
            if seq != *expected_seq {
                problems.push(AuditProblem { chain, seq: *expected_seq, kind: AuditProblemKind::Missing });
            }
            if prev_hash != *last_hash {
                problems.push(AuditProblem { chain, seq, kind: AuditProblemKind::ChainBroken });
            }
            if change_digest(&change) != stored_digest {
                problems.push(AuditProblem { chain, seq, kind: AuditProblemKind::ChangeAltered });
            }
            let recomputed = row_hash(&RowFields {
                seq,
                at,
                actor_id: &actor_id,
                actor_organ: &actor_organ,
                action: &action,
                subject: &subject,
                change_digest: &stored_digest,
                prev_hash: &prev_hash,
            });
            if recomputed != hash {
                problems.push(AuditProblem { chain, seq, kind: AuditProblemKind::RowAltered });
            }
            // Chain on from the stored hash, so one altered row is reported
            // once rather than breaking every row after it.
            *last_hash = hash;
            *expected_seq = seq + 1;
        }
    }

    for (chain, head_seq, head_hash) in heads {
        let (next, last_hash) = ends.remove(&chain).unwrap_or_else(|| (1, GENESIS_HASH.to_string()));
        if head_seq != next - 1 || head_hash != last_hash {
            report.problems.push(AuditProblem { chain, seq: head_seq, kind: AuditProblemKind::HeadMismatch });
        }
    }
    // Rows of a chain whose head is gone.
    for (chain, (next, _)) in ends {
        report.problems.push(AuditProblem { chain, seq: next - 1, kind: AuditProblemKind::HeadMismatch });
    }
    tx.commit().await?;
    report.problems.sort_by_key(|p| (p.chain, p.seq));

    if report.is_intact() {
        tracing::info!(rows = report.rows_checked, "audit log intact");
    } else {
        tracing::warn!(
            rows = report.rows_checked,
            problems = report.problems.len(),
            "audit log tampered"
        );
    }
    Ok(report)
}

fn truncate_to_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    let nanos = at.nanosecond() / 1_000 * 1_000;
    at.with_nanosecond(nanos).unwrap_or(at)
}

/// The fields a row hash covers, in their hashing order.
struct RowFields<'a> {
    seq: i64,
    at: DateTime<Utc>,
    actor_id: &'a str,
    actor_organ: &'a str,
    action: &'a str,
    subject: &'a str,
    change_digest: &'a str,
    prev_hash: &'a str,
}

/// SHA-256 over the fields, each prefixed by its length as 8 big-endian
/// bytes: unlike plain concatenation, no two different rows encode to the
/// same bytes (`"ab" + "c"` vs `"a" + "bc"`).
fn row_hash(row: &RowFields<'_>) -> String {
    let seq = row.seq.to_string();
    let at = truncate_to_micros(row.at).to_rfc3339_opts(SecondsFormat::Micros, true);
    let fields = [
        HASH_DOMAIN,
        seq.as_str(),
        at.as_str(),
        row.actor_id,
        row.actor_organ,
        row.action,
        row.subject,
        row.change_digest,
        row.prev_hash,
    ];
    let mut hasher = Sha256::new();
    for field in fields {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    hex::encode(hasher.finalize())
}

fn change_digest(change: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(canonical_json(change).as_bytes()))
}

/// JSON with object keys sorted and no whitespace: JSONB reorders keys, so
/// the digest must not depend on their order.
fn canonical_json(value: &serde_json::Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (index, key) in keys.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Who caused a change: an officer, or a service itself (its event
/// handlers and timers), named by the service.
#[derive(Debug, Clone, Copy)]
pub enum By<'a> {
    Officer(&'a crate::Actor),
    Service(&'static str),
}

impl By<'_> {
    /// The audit log's actor id: the officer's id, or the service's name.
    pub fn id(&self) -> &str {
        match self {
            By::Officer(a) => &a.officer_id,
            By::Service(name) => name,
        }
    }

    /// The event envelope's actor: only officers have one.
    pub fn proto(&self) -> Option<yuetan_proto::common::Actor> {
        match self {
            By::Officer(a) => Some(a.to_proto()),
            By::Service(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn fields<'a>(
        seq: i64,
        at: DateTime<Utc>,
        actor_id: &'a str,
        actor_organ: &'a str,
    ) -> RowFields<'a> {
        RowFields {
            seq,
            at,
            actor_id,
            actor_organ,
            action: "clue.register",
            subject: "clue/1",
            change_digest: "d",
            prev_hash: GENESIS_HASH,
        }
    }

    #[test]
    fn canonical_json_ignores_key_order_and_whitespace() {
        let a = serde_json::json!({"b": 1, "a": {"y": [1, {"d": 2, "c": 3}], "x": null}});
        let b = serde_json::json!({"a": {"x": null, "y": [1, {"c": 3, "d": 2}]}, "b": 1});
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"x":null,"y":[1,{"c":3,"d":2}]},"b":1}"#
        );
        assert_eq!(
            canonical_json(&serde_json::json!({"名": "张\"三"})),
            r#"{"名":"张\"三"}"#
        );
    }

    #[test]
    fn row_hash_changes_with_any_field_and_fields_cannot_be_shifted() {
        let at = Utc::now();
        let base = row_hash(&fields(1, at, "o1", "org"));
        assert_eq!(base.len(), 64);
        assert_ne!(base, row_hash(&fields(2, at, "o1", "org")));
        assert_ne!(base, row_hash(&fields(1, at, "o2", "org")));
        assert_ne!(
            base,
            row_hash(&fields(
                1,
                at + chrono::Duration::microseconds(1),
                "o1",
                "org"
            ))
        );
        assert_ne!(
            row_hash(&fields(1, at, "ab", "c")),
            row_hash(&fields(1, at, "a", "bc"))
        );
    }

    #[test]
    fn the_hash_covers_the_time_as_postgresql_stores_it() {
        let at = Utc.with_ymd_and_hms(2025, 3, 1, 8, 30, 0).unwrap()
            + chrono::Duration::nanoseconds(123_456_789);
        let stored = truncate_to_micros(at);
        assert_eq!(stored.nanosecond(), 123_456_000);
        assert_eq!(
            row_hash(&fields(1, at, "o1", "org")),
            row_hash(&fields(1, stored, "o1", "org"))
        );
    }
}
