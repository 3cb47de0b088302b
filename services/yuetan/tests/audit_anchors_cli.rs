//! `yuetan audit verify --anchors` and `yuetan audit public-key` as an
//! operator runs them (issue 14): against a log anchored on the stream, then
//! rewritten with every later hash recomputed.

use std::process::{Command, Output};
use std::time::Duration;

use sqlx::PgPool;
use yuetan_platform::anchors::{AnchorKey, Anchorer, DEV_ANCHOR_KEY, DEV_ANCHOR_KEY_ID};
use yuetan_platform::audit::{self, AuditEntry};
use yuetan_platform::bus::Bus;
use yuetan_platform::config::{NatsConfig, Secret};
use yuetan_platform::db;
use yuetan_platform::outbox::{Outbox, Relay};

struct Env {
    vars: Vec<(String, String)>,
}

impl Env {
    fn yuetan(&self, args: &[&str]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_yuetan"));
        command.args(args);
        for (key, value) in &self.vars {
            command.env(key, value);
        }
        command.output().expect("run yuetan")
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Makes row `seq` of chain 0 name another officer and recomputes every later hash and the head.
async fn rewrite_and_rehash(pool: &PgPool, seq: i64) {
    let mut tx = pool.begin().await.unwrap();
    let statements = [
        "ALTER TABLE audit_log DISABLE TRIGGER USER".to_string(),
        "ALTER TABLE audit_chains DISABLE TRIGGER USER".to_string(),
        format!("UPDATE audit_log SET actor_id = 'someone-else' WHERE chain = 0 AND seq = {seq}"),
        format!(
            r#"DO $$
            DECLARE r RECORD; prev TEXT; h TEXT;
            BEGIN
                SELECT prev_hash INTO prev FROM audit_log WHERE chain = 0 AND seq = {seq};
                FOR r IN SELECT * FROM audit_log WHERE chain = 0 AND seq >= {seq} ORDER BY seq LOOP
                    h := encode(sha256(audit_field('yuetan.audit.v1') || audit_field(r.seq::text)
                        || audit_field(to_char(r.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
                        || audit_field(r.actor_id) || audit_field(r.actor_organ) || audit_field(r.action)
                        || audit_field(r.subject) || audit_field(r.change_digest) || audit_field(prev)), 'hex');
                    UPDATE audit_log SET prev_hash = prev, hash = h WHERE chain = 0 AND seq = r.seq;
                    prev := h;
                END LOOP;
                UPDATE audit_chains SET hash = prev WHERE chain = 0;
            END $$"#
        ),
        "ALTER TABLE audit_log ENABLE TRIGGER USER".to_string(),
        "ALTER TABLE audit_chains ENABLE TRIGGER USER".to_string(),
    ];
    for sql in statements {
        sqlx::query(&sql).execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn verify_with_anchors_passes_a_clean_log_and_names_a_rewritten_row() {
    let stack = yuetan_testkit::stack().await;
    let url = stack.fresh_database().await.unwrap();
    let unique = stack.unique_name("");
    let nats = NatsConfig {
        url: Secret::new(stack.nats_url.clone()),
        stream: format!("A{unique}"),
        subject_prefix: format!("a{unique}.ev"),
        ..NatsConfig::default()
    };
    let env = Env {
        vars: vec![
            ("YUETAN_DATABASE__URL".into(), url.clone()),
            ("YUETAN_NATS__URL".into(), stack.nats_url.clone()),
            ("YUETAN_NATS__STREAM".into(), nats.stream.clone()),
            ("YUETAN_NATS__SUBJECT_PREFIX".into(), nats.subject_prefix.clone()),
        ],
    };

    // Five audited changes in schema `svc`, anchored and published.
    let pool = db::connect_and_migrate(&url, "svc").await.unwrap();
    for n in 1..=5 {
        let after = serde_json::json!({ "n": n });
        let subject = format!("clue/{n}");
        let entry = AuditEntry {
            actor_id: "officer-a",
            actor_organ: "620102-SJ",
            action: "clue.register",
            subject: &subject,
            before: None,
            after: Some(&after),
            at: chrono::Utc::now(),
        };
        let mut tx = pool.begin().await.unwrap();
        audit::append(&mut tx, &entry).await.unwrap();
        tx.commit().await.unwrap();
    }
    let bus = Bus::connect(&nats).await.unwrap();
    // What the service's task does: the development key, as on loopback without `audit.anchor_key`.
    let key = AnchorKey::from_base64(DEV_ANCHOR_KEY_ID, DEV_ANCHOR_KEY).unwrap();
    let anchorer = Anchorer::new(Outbox::new(&nats.subject_prefix, "svc"), key.clone(), Duration::from_secs(300));
    let anchor = anchorer.anchor(&pool, chrono::Utc::now(), None).await.unwrap().unwrap();
    assert_eq!(anchor.sequence, 5);
    let relay = Relay::new(pool.clone(), bus, "svc", 100, Duration::from_millis(50));
    assert_eq!(relay.publish_pending().await.unwrap(), 1);

    // The public half printed is the development key's (loopback, no key configured).
    let public = env.yuetan(&["audit", "public-key"]);
    assert!(public.status.success(), "{}", String::from_utf8_lossy(&public.stderr));
    let public = stdout(&public).trim().to_string();
    assert_eq!(public, key.public_base64());

    // Clean: success, the newest anchor named.
    for args in [vec!["audit", "verify", "--anchors"], vec!["audit", "verify", "--anchors", "--public-key", &public]] {
        let output = env.yuetan(&args);
        let out = stdout(&output);
        assert!(output.status.success(), "{args:?}: {out}\n{}", String::from_utf8_lossy(&output.stderr));
        assert!(out.contains("svc: 5 rows, intact"), "{out}");
        assert!(out.contains(&format!("svc: anchors 1 checked, newest sequence 5 head {}", anchor.head_hash)), "{out}");
        assert!(out.contains("matches the database"), "{out}");
    }

    // Another key's public half: the anchor is refused, exit 1.
    let other = AnchorKey::from_base64("x", "Zm9yZ2VkLWFuY2hvci1rZXktb2YtYW4tYXR0YWNrZXI=").unwrap().public_base64();
    let output = env.yuetan(&["audit", "verify", "--anchors", "--public-key", &other]);
    assert!(!output.status.success());
    assert!(stdout(&output).contains("refused"), "{}", stdout(&output));

    // Row 3 rewritten, rows 3–5 and the head recomputed: the plain check passes, the anchors do not.
    rewrite_and_rehash(&pool, 3).await;
    let plain = env.yuetan(&["audit", "verify"]);
    assert!(plain.status.success(), "{}", stdout(&plain));
    let output = env.yuetan(&["audit", "verify", "--anchors"]);
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(out.contains("svc: chain 0 seq 5: rewritten"), "{out}");
    assert!(out.contains("DOES NOT MATCH"), "{out}");
}
