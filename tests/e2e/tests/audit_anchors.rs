//! Issue 14, anchored audit heads: someone who can write the audit tables
//! (the owner, a superuser) rewrites a row *and* recomputes every later hash
//! and the chain head, so the plain `audit::verify` finds nothing; the signed
//! heads intake published to the stream (`platform.audit_anchored`) still
//! name the old hash, and `anchors::check_anchors` (what `yuetan audit
//! verify --anchors` runs) names the schema, chain and seq. A chain cut
//! below an anchor is caught the same way, and an anchor signed with any
//! other key is refused.

mod common;

use std::time::Duration;

use common::*;
use sqlx::PgPool;
use yuetan_platform::anchors::{self, AnchorKey, AnchorProblemKind, Anchorer, StoredAnchor};
use yuetan_platform::outbox::{Outbox, Relay};
use yuetan_platform::{audit, db};
use yuetan_proto::events::event::Payload;

/// The anchor key of the harness's configuration: none is set and the
/// services listen on loopback, so it is the development key.
fn harness_key(h: &Harness) -> AnchorKey {
    AnchorKey::from_config(&h.config).expect("the harness's anchor key")
}

/// Rows in intake's log now (the sum of its chain heads).
async fn rows(pool: &PgPool) -> u64 {
    let sum: Option<i64> = sqlx::query_scalar("SELECT sum(seq)::bigint FROM audit_chains").fetch_one(pool).await.unwrap();
    u64::try_from(sum.unwrap_or(0)).unwrap()
}

/// What someone who can write the tables does: makes row `seq` of `chain`
/// say another officer did it, then recomputes that row's hash and every
/// later one (as `audit_append` computes them) and the chain head, with the
/// guards switched off while doing so and back on after.
async fn rewrite_and_rehash(owner: &PgPool, chain: i16, seq: i64) {
    let mut tx = owner.begin().await.unwrap();
    for sql in ["ALTER TABLE audit_log DISABLE TRIGGER USER", "ALTER TABLE audit_chains DISABLE TRIGGER USER"] {
        sqlx::query(sql).execute(&mut *tx).await.unwrap();
    }
    let changed = sqlx::query("UPDATE audit_log SET actor_id = 'someone-else' WHERE chain = $1 AND seq = $2")
        .bind(chain)
        .bind(seq)
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(changed.rows_affected(), 1);
    let rehash = format!(
        r#"DO $$
        DECLARE r RECORD; prev TEXT; h TEXT;
        BEGIN
            SELECT prev_hash INTO prev FROM audit_log WHERE chain = {chain} AND seq = {seq};
            FOR r IN SELECT * FROM audit_log WHERE chain = {chain} AND seq >= {seq} ORDER BY seq LOOP
                h := encode(sha256(audit_field('yuetan.audit.v1') || audit_field(r.seq::text)
                    || audit_field(to_char(r.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
                    || audit_field(r.actor_id) || audit_field(r.actor_organ) || audit_field(r.action)
                    || audit_field(r.subject) || audit_field(r.change_digest) || audit_field(prev)), 'hex');
                UPDATE audit_log SET prev_hash = prev, hash = h WHERE chain = r.chain AND seq = r.seq;
                prev := h;
            END LOOP;
            UPDATE audit_chains SET hash = prev WHERE chain = {chain};
        END $$"#
    );
    sqlx::query(&rehash).execute(&mut *tx).await.unwrap();
    for sql in ["ALTER TABLE audit_log ENABLE TRIGGER USER", "ALTER TABLE audit_chains ENABLE TRIGGER USER"] {
        sqlx::query(sql).execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
}

/// The anchored seqs of `chain` in intake's anchors, ascending.
fn anchored_seqs(anchors: &[StoredAnchor], chain: u32) -> Vec<i64> {
    let mut seqs: Vec<i64> = anchors
        .iter()
        .filter(|a| a.anchor.schema == "intake")
        .flat_map(|a| a.anchor.heads.iter().filter(|h| h.chain == chain).map(|h| h.seq as i64))
        .collect();
    seqs.sort_unstable();
    seqs.dedup();
    seqs
}

/// Waits for intake's running anchorer to anchor a log of `rows` rows.
async fn wait_for_anchor_of(h: &Harness, rows: u64) {
    let anchor = h
        .wait_for_event(|e| matches!(&e.payload, Some(Payload::AuditAnchored(a)) if a.schema == "intake" && a.sequence == rows))
        .await;
    assert_eq!(anchor.r#type, anchors::EVENT_TYPE);
    assert_eq!(anchor.jurisdiction, anchors::JURISDICTION);
    assert!(anchor.case_id.is_empty() && anchor.case_version == 0, "{anchor:?}");
}

#[tokio::test]
async fn a_rewrite_with_every_later_hash_recomputed_is_caught_by_the_anchors() {
    // Intake anchors every second (the default is five minutes).
    let h = Harness::builder().with(Service::Intake).toml("[audit]\nanchor_interval_secs = 1\n").start().await;
    h.put_organs().await;
    let runtime = db::connect(&h.database_url, "intake", 2).await.unwrap();
    let owner = db::connect(&h.owner_database_url, "intake", 1).await.unwrap();

    // Changes, an anchor; more changes, another anchor.
    h.opened_case(&proposer(), 1, false).await;
    let first = rows(&runtime).await;
    wait_for_anchor_of(&h, first).await;
    h.opened_case(&proposer(), 2, false).await;
    let second = rows(&runtime).await;
    assert!(second > first);
    wait_for_anchor_of(&h, second).await;
    let (subject, _) = h.events().await.into_iter().find(|(_, e)| e.r#type == anchors::EVENT_TYPE).unwrap();
    assert_eq!(subject, anchors::subject(&h.config.nats.subject_prefix));

    // Stop intake, so nothing appends or anchors while the log is rewritten.
    let (bus, config, key) = (h.bus.clone(), h.config.clone(), harness_key(&h));
    h.stop().await;

    // Untouched, the log matches every anchor.
    let stored = anchors::read_anchors(&bus).await.unwrap();
    assert!(stored.len() >= 2, "{} anchors", stored.len());
    let clean = anchors::check_anchors(&runtime, "intake", &stored, &[key.verifying_key()]).await.unwrap();
    assert!(clean.is_intact(), "{:?}", clean.problems);
    assert_eq!(clean.anchors_checked as usize, stored.len());
    assert_eq!(clean.newest.as_ref().unwrap().sequence, second);

    // Rewrite the row after the next-to-last anchored head of chain 0 and recompute every later hash.
    let seqs = anchored_seqs(&stored, 0);
    assert!(seqs.len() >= 2, "chain 0 anchored at {seqs:?}");
    let (last_good, newest) = (seqs[seqs.len() - 2], seqs[seqs.len() - 1]);
    rewrite_and_rehash(&owner, 0, last_good + 1).await;

    // The chain alone cannot tell.
    let plain = audit::verify(&runtime).await.unwrap();
    assert!(plain.is_intact(), "the rewrite should be invisible to the chain alone: {:?}", plain.problems);

    // The anchors can: schema, chain and seq named, and where the change lies.
    let caught = anchors::check_anchors(&runtime, "intake", &stored, &[key.verifying_key()]).await.unwrap();
    assert_eq!(caught.problems.len(), 1, "{:?}", caught.problems);
    let problem = &caught.problems[0];
    assert_eq!((problem.schema.as_str(), problem.chain, problem.seq, problem.last_good), ("intake", 0, newest, last_good));
    assert!(matches!(problem.kind, AnchorProblemKind::Rewritten { .. }), "{problem:?}");
    let line = problem.to_string();
    assert!(line.starts_with(&format!("intake: chain 0 seq {newest}: rewritten")), "{line}");

    // Whoever rewrote it signs the new heads with a key of their own: refused,
    // and the rewrite is still reported.
    let forger = AnchorKey::from_base64("anchor", "Zm9yZ2VkLWFuY2hvci1rZXktb2YtYW4tYXR0YWNrZXI=").unwrap();
    let outbox = Outbox::new(&config.nats.subject_prefix, "intake");
    let forged = Anchorer::new(outbox, forger.clone(), Duration::from_secs(300))
        .anchor(&runtime, chrono::Utc::now(), None)
        .await
        .unwrap()
        .expect("an anchor of the rewritten heads");
    let relay = Relay::new(runtime.clone(), bus.clone(), "intake", 100, Duration::from_millis(50));
    assert_eq!(relay.publish_pending().await.unwrap(), 1);
    let stored = anchors::read_anchors(&bus).await.unwrap();
    let forged_at = stored.iter().find(|a| a.anchor.head_hash == forged.head_hash).expect("the forged anchor on the stream").stream_seq;
    let report = anchors::check_anchors(&runtime, "intake", &stored, &[key.verifying_key()]).await.unwrap();
    let refused: Vec<_> = report.problems.iter().filter(|p| matches!(p.kind, AnchorProblemKind::BadSignature(_))).collect();
    assert_eq!(refused.len(), 1, "{:?}", report.problems);
    assert_eq!(refused[0].stream_seq, forged_at);
    assert!(refused[0].to_string().contains("refused"), "{}", refused[0]);
    assert!(report.problems.iter().any(|p| p.chain == 0 && p.seq == newest && matches!(p.kind, AnchorProblemKind::Rewritten { .. })));
    // Checked with the forger's key instead, the genuine anchors are the ones refused.
    let wrong_key = anchors::check_anchors(&runtime, "intake", &stored, &[forger.verifying_key()]).await.unwrap();
    let refused = wrong_key.problems.iter().filter(|p| matches!(p.kind, AnchorProblemKind::BadSignature(_))).count();
    assert_eq!(refused, stored.len() - 1, "{:?}", wrong_key.problems);
}

#[tokio::test]
async fn a_chain_cut_below_an_anchor_is_caught() {
    let h = Harness::builder().with(Service::Intake).start().await;
    h.put_organs().await;
    h.opened_case(&proposer(), 1, false).await;
    let runtime = db::connect(&h.database_url, "intake", 2).await.unwrap();
    let owner = db::connect(&h.owner_database_url, "intake", 1).await.unwrap();

    // The anchor function the service's task calls, called directly.
    let anchorer = Anchorer::from_config(&h.config, "intake").unwrap();
    let anchor = anchorer.anchor(&runtime, chrono::Utc::now(), None).await.unwrap().expect("an anchor");
    assert_eq!(anchor.sequence, rows(&runtime).await);
    assert!(anchorer.anchor(&runtime, chrono::Utc::now(), Some(&anchor.head_hash)).await.unwrap().is_none(), "an unmoved head is not anchored again");
    h.drain_outbox().await;
    let (bus, key) = (h.bus.clone(), harness_key(&h));
    h.stop().await;
    let stored = anchors::read_anchors(&bus).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert!(anchors::check_anchors(&runtime, "intake", &stored, &[key.verifying_key()]).await.unwrap().is_intact());

    // Cut chain 0's last two rows and move its head back over them.
    let head = anchor.heads.iter().find(|h| h.chain == 0).expect("chain 0 anchored").seq as i64;
    assert!(head >= 3, "chain 0 has {head} rows");
    let mut tx = owner.begin().await.unwrap();
    for sql in [
        "ALTER TABLE audit_log DISABLE TRIGGER USER",
        "ALTER TABLE audit_chains DISABLE TRIGGER USER",
        "DELETE FROM audit_log WHERE chain = 0 AND seq > $1",
        "UPDATE audit_chains SET seq = $1, hash = (SELECT hash FROM audit_log WHERE chain = 0 AND seq = $1) WHERE chain = 0",
        "ALTER TABLE audit_log ENABLE TRIGGER USER",
        "ALTER TABLE audit_chains ENABLE TRIGGER USER",
    ] {
        let query = sqlx::query(sql);
        let query = if sql.contains("$1") { query.bind(head - 2) } else { query };
        query.execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
    assert!(audit::verify(&runtime).await.unwrap().is_intact(), "the cut should be invisible to the chain alone");

    let report = anchors::check_anchors(&runtime, "intake", &stored, &[key.verifying_key()]).await.unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    let problem = &report.problems[0];
    assert_eq!((problem.chain, problem.seq), (0, head));
    assert_eq!(problem.kind, AnchorProblemKind::Missing);
    assert!(problem.to_string().starts_with(&format!("intake: chain 0 seq {head}: missing")), "{problem}");
}
