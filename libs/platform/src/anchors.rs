//! Anchored audit heads (issue 14): the audit log's chains are hash-linked
//! ([`crate::audit`]), but someone who can write the tables (the owner, a
//! superuser) can rewrite a row *and* recompute every later hash and the
//! head, and [`crate::audit::verify`] then finds nothing. So every
//! `audit.anchor_interval_secs` (default 300) each service signs its
//! schema's chain heads with the deployment's anchor key (Ed25519) and
//! publishes them as `platform.audit_anchored` through its outbox: the
//! anchor leaves the database for the stream, where the database's owner
//! cannot take it back. [`check_anchors`] (`yuetan audit verify --anchors`)
//! then asks of every anchor whose signature holds: is the row at each
//! anchored (chain, seq) still in the log with the anchored hash? A rewrite
//! at or below an anchored seq changes that row's hash (the chain carries it
//! forward), and a cut below it removes the row. Together with
//! [`crate::audit::verify`] (the links between rows) this catches any change
//! to a row older than the newest anchor; rows appended since can still be
//! rewritten until the next anchor — at most one interval's.
//!
//! The canonical bytes (what the key signs), documented in
//! `proto/yuetan/events/v1/events.proto` `AuditAnchored` and docs/security.md:
//! - `head_hash` = lowercase hex SHA-256 of `"yuetan.audit.heads.v1"`, then for
//!   each non-empty chain in chain order its chain, seq (decimal) and hash;
//! - the signed message: `"yuetan.audit.anchor.v1"`, schema, key id,
//!   anchored_at (RFC 3339 UTC with nanoseconds), sequence (decimal),
//!   head_hash;
//!
//! every field prefixed by its length as 8 big-endian bytes, like the row hash.
//!
//! The key: `[audit] anchor_key` (base64 of a 32-byte Ed25519 seed) and
//! `anchor_key_id`. Unset, the development key [`DEV_ANCHOR_KEY`] (published
//! here and in docs/security.md) is used — only while `grpc.listen` is a
//! loopback address; off loopback an unset or published key refuses to start
//! (`anchor_interval_secs = 0` turns anchoring off instead, and says so).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use futures::StreamExt as _;
use prost::Message as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use yuetan_proto::events::{event::Payload, AuditAnchored, AuditChainHead, Event};

use crate::bus::{self, Bus};
use crate::clock::SharedClock;
use crate::config::{Config, NatsConfig};
use crate::error::Error;
use crate::outbox::{NewEvent, Outbox};
use crate::secret::Secret;

/// The event type of an anchor.
pub const EVENT_TYPE: &str = "platform.audit_anchored";
/// An anchor belongs to no jurisdiction: its subject's division tokens are `00.00.00`.
pub const JURISDICTION: &str = "000000";
/// The anchor key of local development (base64 of the 32-byte seed
/// `local-dev-audit-anchor-key-00001`): anyone can sign with it, so it is
/// accepted only while `grpc.listen` is a loopback address.
pub const DEV_ANCHOR_KEY: &str = "bG9jYWwtZGV2LWF1ZGl0LWFuY2hvci1rZXktMDAwMDE=";
/// The key id used with [`DEV_ANCHOR_KEY`] when none is configured.
pub const DEV_ANCHOR_KEY_ID: &str = "dev-anchor";

const HEADS_DOMAIN: &str = "yuetan.audit.heads.v1";
const ANCHOR_DOMAIN: &str = "yuetan.audit.anchor.v1";
/// Longest a verifier waits for the next anchor the stream said is there.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Anchored positions looked up per query.
const LOOKUP_BATCH: usize = 5_000;

/// `[audit]` in the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AnchorSettings {
    /// Seconds between anchors (an anchor is written only when the head
    /// moved); 0 turns anchoring off. At most a day.
    pub anchor_interval_secs: u64,
    /// The id anchors name their key by (default `dev-anchor` with the
    /// development key, `anchor` with a configured one).
    pub anchor_key_id: String,
    /// Base64 of the 32-byte Ed25519 seed; unset means the development key
    /// (loopback only).
    pub anchor_key: Secret,
}

impl Default for AnchorSettings {
    fn default() -> Self {
        AnchorSettings { anchor_interval_secs: 300, anchor_key_id: String::new(), anchor_key: Secret::default() }
    }
}

impl AnchorSettings {
    pub fn from_config(config: &Config) -> Result<AnchorSettings, Error> {
        let settings: AnchorSettings = config.section("audit")?;
        if settings.anchor_interval_secs > 86_400 {
            return Err(Error::invalid("audit.anchor_interval_secs", "must be at most 86400 (a day); 0 turns anchoring off"));
        }
        Ok(settings)
    }
}

/// The key that signs anchors.
#[derive(Clone)]
pub struct AnchorKey {
    pub id: String,
    key: SigningKey,
}

impl std::fmt::Debug for AnchorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnchorKey").field("id", &self.id).field("public", &self.public_base64()).finish()
    }
}

impl AnchorKey {
    /// From the base64 of a 32-byte seed; an error names `audit.anchor_key`, never the value.
    pub fn from_base64(id: &str, seed_b64: &str) -> Result<AnchorKey, Error> {
        let bytes = STANDARD.decode(seed_b64.trim()).map_err(|_| Error::invalid("audit.anchor_key", "not valid base64"))?;
        let seed: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| Error::invalid("audit.anchor_key", format!("{} bytes, an Ed25519 seed has 32", bytes.len())))?;
        Ok(AnchorKey { id: id.to_string(), key: SigningKey::from_bytes(&seed) })
    }

    /// The configured key; the development key when none is, and either only
    /// while `grpc.listen` is a loopback address.
    pub fn from_config(config: &Config) -> Result<AnchorKey, Error> {
        let settings = AnchorSettings::from_config(config)?;
        Self::from_settings(&settings, config.grpc.listen.ip().is_loopback())
    }

    fn from_settings(settings: &AnchorSettings, loopback: bool) -> Result<AnchorKey, Error> {
        let configured = settings.anchor_key.expose().trim();
        if !loopback && (configured.is_empty() || configured == DEV_ANCHOR_KEY) {
            return Err(Error::invalid(
                "audit.anchor_key",
                "unset or the published development key, which is for local development only (grpc.listen on a loopback address): \
                 configure the deployment's anchor key, or set audit.anchor_interval_secs = 0 to run without anchors",
            ));
        }
        let (seed, default_id) = if configured.is_empty() { (DEV_ANCHOR_KEY, DEV_ANCHOR_KEY_ID) } else { (configured, "anchor") };
        let id = if settings.anchor_key_id.trim().is_empty() { default_id } else { settings.anchor_key_id.trim() };
        Self::from_base64(id, seed)
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// Standard base64 of the public key (what `--public-key` takes).
    pub fn public_base64(&self) -> String {
        STANDARD.encode(self.key.verifying_key().to_bytes())
    }
}

/// A public key from its standard base64 (32 bytes).
pub fn public_key_from_base64(b64: &str) -> Result<VerifyingKey, Error> {
    let bytes = STANDARD.decode(b64.trim()).map_err(|_| Error::invalid("public_key", "not valid base64"))?;
    let raw: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| Error::invalid("public_key", format!("{} bytes, an Ed25519 public key has 32", bytes.len())))?;
    VerifyingKey::from_bytes(&raw).map_err(|_| Error::invalid("public_key", "not an Ed25519 public key"))
}

/// One chain's head: (chain, seq, hash).
pub type Head = (i16, i64, String);

/// The log's head: the SHA-256 (hex) over its non-empty chains' heads in chain order.
pub fn heads_hash(heads: &[Head]) -> String {
    let mut hasher = Sha256::new();
    let mut field = |text: &str| {
        hasher.update((text.len() as u64).to_be_bytes());
        hasher.update(text.as_bytes());
    };
    field(HEADS_DOMAIN);
    for (chain, seq, hash) in heads {
        field(&chain.to_string());
        field(&seq.to_string());
        field(hash);
    }
    hex::encode(hasher.finalize())
}

/// The bytes an anchor's signature covers (see the module's documentation).
pub fn signed_bytes(anchor: &AuditAnchored) -> Vec<u8> {
    let at = anchor
        .anchored_at
        .as_ref()
        .and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Nanos, true))
        .unwrap_or_default();
    let sequence = anchor.sequence.to_string();
    let mut out = Vec::new();
    for field in [ANCHOR_DOMAIN, &anchor.schema, &anchor.key_id, &at, &sequence, &anchor.head_hash] {
        out.extend_from_slice(&(field.len() as u64).to_be_bytes());
        out.extend_from_slice(field.as_bytes());
    }
    out
}

/// The signed anchor of `schema`'s `heads` at `at`.
pub fn sign(key: &AnchorKey, schema: &str, heads: &[Head], at: DateTime<Utc>) -> AuditAnchored {
    let mut anchor = AuditAnchored {
        schema: schema.to_string(),
        sequence: heads.iter().map(|(_, seq, _)| u64::try_from(*seq).unwrap_or(0)).sum(),
        head_hash: heads_hash(heads),
        key_id: key.id.clone(),
        signature: Vec::new(),
        anchored_at: Some(prost_types::Timestamp {
            seconds: at.timestamp(),
            nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
        }),
        heads: heads
            .iter()
            .map(|(chain, seq, hash)| AuditChainHead {
                chain: u32::try_from(*chain).unwrap_or(0),
                seq: u64::try_from(*seq).unwrap_or(0),
                hash: hash.clone(),
            })
            .collect(),
    };
    anchor.signature = key.key.sign(&signed_bytes(&anchor)).to_bytes().to_vec();
    anchor
}

/// Why an anchor is not to be believed, or `None` when it holds: its heads
/// must give its head hash and sequence, and one of `keys` must have signed it.
pub fn check_signature(anchor: &AuditAnchored, keys: &[VerifyingKey]) -> Option<String> {
    let heads = heads_of(anchor);
    if heads_hash(&heads) != anchor.head_hash {
        return Some("its chain heads do not give its head_hash".into());
    }
    let sum: u64 = anchor.heads.iter().map(|h| h.seq).sum();
    if sum != anchor.sequence {
        return Some(format!("its chain heads sum to {sum}, not its sequence {}", anchor.sequence));
    }
    let Ok(signature) = ed25519_dalek::Signature::from_slice(&anchor.signature) else {
        return Some(format!("a signature of {} bytes (Ed25519 has 64)", anchor.signature.len()));
    };
    let message = signed_bytes(anchor);
    if keys.iter().any(|key| key.verify(&message, &signature).is_ok()) {
        None
    } else {
        Some(format!("signature (key {:?}) does not verify with the given public key(s)", anchor.key_id))
    }
}

fn heads_of(anchor: &AuditAnchored) -> Vec<Head> {
    anchor
        .heads
        .iter()
        .map(|h| (i16::try_from(h.chain).unwrap_or(-1), i64::try_from(h.seq).unwrap_or(-1), h.hash.clone()))
        .collect()
}

/// The subject anchors are published on.
pub fn subject(subject_prefix: &str) -> String {
    bus::subject(subject_prefix, JURISDICTION, EVENT_TYPE).expect("the anchor subject is well formed")
}

/// Signs and publishes one service's audit heads (see the module's documentation).
#[derive(Debug, Clone)]
pub struct Anchorer {
    outbox: Outbox,
    /// `None`: anchoring is off (`anchor_interval_secs = 0`).
    key: Option<AnchorKey>,
    interval: Duration,
}

impl Anchorer {
    /// The anchorer of `service` as configured (`[audit]`); an unusable key is an error naming the setting.
    pub fn from_config(config: &Config, service: &str) -> Result<Anchorer, Error> {
        let settings = AnchorSettings::from_config(config)?;
        let key = match settings.anchor_interval_secs {
            0 => None,
            _ => Some(AnchorKey::from_settings(&settings, config.grpc.listen.ip().is_loopback())?),
        };
        Ok(Anchorer {
            outbox: Outbox::new(&config.nats.subject_prefix, service),
            key,
            interval: Duration::from_secs(settings.anchor_interval_secs),
        })
    }

    pub fn new(outbox: Outbox, key: AnchorKey, interval: Duration) -> Anchorer {
        Anchorer { outbox, key: Some(key), interval }
    }

    /// Every interval, anchors the head of the pool's schema if it moved
    /// since this task's last anchor (the first one after one interval), until `shutdown`.
    pub async fn run(self, pool: PgPool, clock: SharedClock, shutdown: CancellationToken) {
        let Some(key) = self.key.as_ref() else {
            tracing::warn!("audit anchors are off (audit.anchor_interval_secs = 0): a rewritten audit log with recomputed hashes would not be caught");
            return;
        };
        tracing::info!(key_id = %key.id, interval_secs = self.interval.as_secs(), "audit anchorer started");
        let mut last: Option<String> = None;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(self.interval) => {}
            }
            match self.anchor(&pool, clock.now(), last.as_deref()).await {
                Ok(Some(anchor)) => last = Some(anchor.head_hash),
                Ok(None) => {}
                Err(err) => tracing::warn!(error = %err, "audit anchor not written; will retry"),
            }
        }
    }

    /// One anchor: reads the pool's schema's chain heads and, unless the log
    /// is empty or its head is still `last` (a head hash), writes the signed
    /// anchor to the outbox in one transaction. Returns what it wrote.
    pub async fn anchor(&self, pool: &PgPool, now: DateTime<Utc>, last: Option<&str>) -> Result<Option<AuditAnchored>, Error> {
        let key = self.key.as_ref().ok_or_else(|| Error::FailedPrecondition("audit anchors are off".into()))?;
        let mut tx = pool.begin().await?;
        let schema: String = sqlx::query_scalar("SELECT current_schema()::text").fetch_one(&mut *tx).await?;
        let heads: Vec<Head> = sqlx::query_as("SELECT chain, seq, hash FROM audit_chains WHERE seq > 0 ORDER BY chain")
            .fetch_all(&mut *tx)
            .await?;
        if heads.is_empty() || last == Some(heads_hash(&heads).as_str()) {
            return Ok(None);
        }
        let anchor = sign(key, &schema, &heads, now);
        let event = NewEvent {
            event_type: EVENT_TYPE.to_string(),
            case_id: None,
            case_version: 0,
            jurisdiction: JURISDICTION.to_string(),
            organ: String::new(),
            actor: None,
            correlation_id: None,
            causation_id: None,
            payload: Payload::AuditAnchored(anchor.clone()),
        };
        self.outbox.write(&mut tx, event, now).await?;
        tx.commit().await?;
        tracing::info!(schema = %schema, sequence = anchor.sequence, head = %anchor.head_hash, "audit head anchored");
        Ok(Some(anchor))
    }
}

/// An anchor as read from the stream.
#[derive(Debug, Clone)]
pub struct StoredAnchor {
    /// Its sequence in the stream.
    pub stream_seq: u64,
    pub event_id: String,
    pub anchor: AuditAnchored,
}

/// A connection to the stream for reading only: unlike [`Bus::connect`] it
/// neither creates nor updates the stream, so read-only credentials do.
pub async fn connect_reader(config: &NatsConfig) -> Result<Bus, Error> {
    let client = bus::client_options(config.url.expose())
        .name("yuetan-audit")
        .connection_timeout(Duration::from_secs(5))
        .connect(bus::servers(config.url.expose()))
        .await
        .map_err(|err| Error::Unavailable(format!("connecting to nats at {}: {err}", bus::redact_urls(config.url.expose()))))?;
    Ok(Bus {
        jetstream: async_nats::jetstream::new(client.clone()),
        client,
        stream: config.stream.clone(),
        subject_prefix: config.subject_prefix.clone(),
    })
}

/// Every anchor on the stream, oldest first (an ephemeral ordered consumer
/// on the anchor subject, read up to what the stream held when it began).
pub async fn read_anchors(bus: &Bus) -> Result<Vec<StoredAnchor>, Error> {
    let unavailable = |what: &str, err: &dyn std::fmt::Display| Error::Unavailable(format!("{what}: {err}"));
    let stream = bus.jetstream.get_stream(&bus.stream).await.map_err(|e| unavailable("the stream", &e))?;
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            filter_subject: subject(&bus.subject_prefix),
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(|e| unavailable("a reader of the anchors", &e))?;
    let mut anchors = Vec::new();
    if consumer.cached_info().num_pending == 0 {
        return Ok(anchors);
    }
    let mut messages = consumer.messages().await.map_err(|e| unavailable("reading the anchors", &e))?;
    loop {
        let message = match tokio::time::timeout(READ_TIMEOUT, messages.next()).await {
            Ok(Some(Ok(message))) => message,
            Ok(Some(Err(err))) => return Err(unavailable("reading the anchors", &err)),
            Ok(None) => break,
            Err(_) => return Err(Error::Unavailable("the stream stopped sending anchors it holds".into())),
        };
        let info = message.info().map_err(|e| unavailable("an anchor's metadata", &e))?;
        let (stream_seq, pending) = (info.stream_sequence, info.pending);
        match Event::decode(message.payload.as_ref()) {
            Ok(Event { id, payload: Some(Payload::AuditAnchored(anchor)), .. }) => {
                anchors.push(StoredAnchor { stream_seq, event_id: id, anchor });
            }
            // Anything else on the anchor subject cannot be an anchor: say so, once each.
            _ => tracing::warn!(stream_seq, "a message on the anchor subject is not an anchor; ignored"),
        }
        if pending == 0 {
            break;
        }
    }
    Ok(anchors)
}

/// What is wrong with an anchor, or with the log against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnchorProblemKind {
    /// The anchor's signature (or its heads) does not hold: it was not made
    /// with the given key. Its positions are not checked.
    BadSignature(String),
    /// The row at the anchored (chain, seq) has another hash: the row, or
    /// one before it in the chain, was rewritten after the anchor.
    Rewritten { anchored: String, found: String },
    /// No row at the anchored (chain, seq): the chain was cut below the anchor.
    Missing,
    /// Two signed anchors name different hashes for one position.
    Conflict { first: String, second: String },
    /// Anchors name a schema that has no audit log in the database.
    SchemaMissing,
}

/// One problem found by [`check_anchors`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorProblem {
    pub schema: String,
    pub chain: i16,
    pub seq: i64,
    /// The stream sequence of the (first) anchor naming the position.
    pub stream_seq: u64,
    /// The highest seq of this chain an anchor still matches below `seq`
    /// (0: none): the change lies in (`last_good`, `seq`].
    pub last_good: i64,
    pub kind: AnchorProblemKind,
}

impl std::fmt::Display for AnchorProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (schema, chain, seq, at) = (&self.schema, self.chain, self.seq, self.stream_seq);
        match &self.kind {
            AnchorProblemKind::BadSignature(why) => write!(f, "{schema}: anchor at stream seq {at} refused: {why}"),
            AnchorProblemKind::Rewritten { anchored, found } => write!(
                f,
                "{schema}: chain {chain} seq {seq}: rewritten — anchored hash {anchored} (stream seq {at}), the database has {found}; \
                 the change lies in seqs {}..={seq}",
                self.last_good + 1
            ),
            AnchorProblemKind::Missing => write!(
                f,
                "{schema}: chain {chain} seq {seq}: missing — anchored (stream seq {at}) but not in the database; the chain was cut after seq {}",
                self.last_good
            ),
            AnchorProblemKind::Conflict { first, second } => {
                write!(f, "{schema}: chain {chain} seq {seq}: two signed anchors disagree ({first} and {second}, the second at stream seq {at})")
            }
            AnchorProblemKind::SchemaMissing => write!(f, "{schema}: anchored (stream seq {at}) but the database has no audit log for it"),
        }
    }
}

/// The newest anchor of a schema that was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewestAnchor {
    pub stream_seq: u64,
    pub sequence: u64,
    pub head_hash: String,
    pub anchored_at: Option<DateTime<Utc>>,
}

/// The outcome of [`check_anchors`] for one schema.
#[derive(Debug, Clone, Default)]
pub struct AnchorReport {
    pub schema: String,
    /// Anchors of the schema whose signature held.
    pub anchors_checked: u64,
    /// Distinct (chain, seq) positions looked up.
    pub positions_checked: u64,
    pub newest: Option<NewestAnchor>,
    pub problems: Vec<AnchorProblem>,
}

impl AnchorReport {
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks `schema`'s log (on `pool`, whose search path is that schema)
/// against the anchors of `schema` among `anchors`: every anchor must be
/// signed by one of `keys`, and every position a signed anchor names must
/// hold the anchored hash. Reads in one REPEATABLE READ snapshot. Run
/// [`crate::audit::verify`] beside it: it checks the links between rows.
pub async fn check_anchors(pool: &PgPool, schema: &str, anchors: &[StoredAnchor], keys: &[VerifyingKey]) -> Result<AnchorReport, Error> {
    let mut report = AnchorReport { schema: schema.to_string(), ..AnchorReport::default() };
    // (chain, seq) → (anchored hash, stream seq of the first anchor naming it).
    let mut positions: BTreeMap<(i16, i64), (String, u64)> = BTreeMap::new();
    for stored in anchors.iter().filter(|a| a.anchor.schema == schema) {
        let anchor = &stored.anchor;
        if let Some(why) = check_signature(anchor, keys) {
            report.problems.push(AnchorProblem {
                schema: schema.to_string(),
                chain: -1,
                seq: -1,
                stream_seq: stored.stream_seq,
                last_good: 0,
                kind: AnchorProblemKind::BadSignature(why),
            });
            continue;
        }
        report.anchors_checked += 1;
        report.newest = Some(NewestAnchor {
            stream_seq: stored.stream_seq,
            sequence: anchor.sequence,
            head_hash: anchor.head_hash.clone(),
            anchored_at: anchor
                .anchored_at
                .as_ref()
                .and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0))),
        });
        for (chain, seq, hash) in heads_of(anchor) {
            match positions.get(&(chain, seq)) {
                None => {
                    positions.insert((chain, seq), (hash, stored.stream_seq));
                }
                Some((first, _)) if *first != hash => report.problems.push(AnchorProblem {
                    schema: schema.to_string(),
                    chain,
                    seq,
                    stream_seq: stored.stream_seq,
                    last_good: 0,
                    kind: AnchorProblemKind::Conflict { first: first.clone(), second: hash },
                }),
                Some(_) => {}
            }
        }
    }
    report.positions_checked = positions.len() as u64;
    if positions.is_empty() {
        return Ok(report);
    }

    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
    let mut found: HashMap<(i16, i64), String> = HashMap::with_capacity(positions.len());
    let keys_in_order: Vec<(i16, i64)> = positions.keys().copied().collect();
    for batch in keys_in_order.chunks(LOOKUP_BATCH) {
        let chains: Vec<i16> = batch.iter().map(|(c, _)| *c).collect();
        let seqs: Vec<i64> = batch.iter().map(|(_, s)| *s).collect();
        let rows: Vec<(i16, i64, String)> = sqlx::query_as(
            "SELECT l.chain, l.seq, l.hash FROM unnest($1::int2[], $2::int8[]) AS p(chain, seq)
             JOIN audit_log l ON l.chain = p.chain AND l.seq = p.seq",
        )
        .bind(&chains)
        .bind(&seqs)
        .fetch_all(&mut *tx)
        .await?;
        found.extend(rows.into_iter().map(|(c, s, h)| ((c, s), h)));
    }
    tx.commit().await?;

    // Per chain, in seq order: the first position that fails is reported,
    // with the last one that held below it.
    let mut chain_state: HashMap<i16, (i64, bool)> = HashMap::new();
    for ((chain, seq), (anchored, stream_seq)) in positions {
        let (last_good, failed) = chain_state.entry(chain).or_insert((0, false));
        if *failed {
            continue;
        }
        let kind = match found.get(&(chain, seq)) {
            Some(hash) if *hash == anchored => {
                *last_good = seq;
                continue;
            }
            Some(hash) => AnchorProblemKind::Rewritten { anchored, found: hash.clone() },
            None => AnchorProblemKind::Missing,
        };
        *failed = true;
        report.problems.push(AnchorProblem { schema: schema.to_string(), chain, seq, stream_seq, last_good: *last_good, kind });
    }
    report.problems.sort_by_key(|p| (p.chain, p.seq));
    if report.is_intact() {
        tracing::info!(schema, anchors = report.anchors_checked, "audit log matches its anchors");
    } else {
        tracing::warn!(schema, problems = report.problems.len(), "audit log does not match its anchors");
    }
    Ok(report)
}

/// Schemas named by `anchors` that are not among `schemas` (their log is
/// gone from the database): one problem each, at the newest such anchor.
pub fn schemas_missing(anchors: &[StoredAnchor], schemas: &[String]) -> Vec<AnchorProblem> {
    let mut missing: BTreeMap<&str, u64> = BTreeMap::new();
    for stored in anchors {
        if !schemas.contains(&stored.anchor.schema) {
            missing.insert(&stored.anchor.schema, stored.stream_seq);
        }
    }
    missing
        .into_iter()
        .map(|(schema, stream_seq)| AnchorProblem {
            schema: schema.to_string(),
            chain: -1,
            seq: -1,
            stream_seq,
            last_good: 0,
            kind: AnchorProblemKind::SchemaMissing,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn heads() -> Vec<Head> {
        vec![(0, 12, "a".repeat(64)), (3, 4, "b".repeat(64))]
    }

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 22, 0, 0).unwrap() + chrono::Duration::nanoseconds(123_456_789)
    }

    fn dev() -> AnchorKey {
        AnchorKey::from_settings(&AnchorSettings::default(), true).unwrap()
    }

    #[test]
    fn an_anchor_verifies_with_its_key_and_not_with_another() {
        let anchor = sign(&dev(), "intake", &heads(), at());
        assert_eq!(anchor.sequence, 16);
        assert_eq!(anchor.key_id, DEV_ANCHOR_KEY_ID);
        assert_eq!(anchor.signature.len(), 64);
        assert_eq!(check_signature(&anchor, &[dev().verifying_key()]), None);
        let other = AnchorKey::from_base64("k2", "b3JnYW4tc2VhbC1rZXktb2YtY2hlbmdndWFuLTAwMDE=").unwrap();
        assert!(check_signature(&anchor, &[other.verifying_key()]).is_some());
        assert_eq!(check_signature(&anchor, &[other.verifying_key(), dev().verifying_key()]), None);
    }

    #[test]
    fn changing_any_signed_field_or_a_head_breaks_the_anchor() {
        let keys = [dev().verifying_key()];
        let anchor = sign(&dev(), "intake", &heads(), at());
        let mut schema = anchor.clone();
        schema.schema = "review".into();
        let mut head = anchor.clone();
        head.heads[1].hash = "c".repeat(64);
        let mut head_and_hash = head.clone();
        head_and_hash.head_hash = heads_hash(&heads_of(&head));
        let mut sequence = anchor.clone();
        sequence.heads[0].seq = 11;
        sequence.sequence = 15;
        sequence.head_hash = heads_hash(&heads_of(&sequence));
        let mut time = anchor.clone();
        time.anchored_at.as_mut().unwrap().nanos += 1;
        let mut key_id = anchor.clone();
        key_id.key_id = "other".into();
        for (what, bad) in [("schema", schema), ("head", head), ("head and hash", head_and_hash), ("seq", sequence), ("time", time), ("key id", key_id)] {
            assert!(check_signature(&bad, &keys).is_some(), "{what} changed and still verified");
        }
    }

    #[test]
    fn the_heads_hash_is_length_prefixed_and_ordered() {
        let a = heads_hash(&[(1, 12, "x".into())]);
        assert_ne!(a, heads_hash(&[(11, 2, "x".into())]));
        assert_eq!(a.len(), 64);
        // The documented encoding, spelled out.
        let mut expected = Vec::new();
        for field in [HEADS_DOMAIN, "1", "12", "x"] {
            expected.extend_from_slice(&(field.len() as u64).to_be_bytes());
            expected.extend_from_slice(field.as_bytes());
        }
        assert_eq!(a, hex::encode(Sha256::digest(&expected)));
    }

    #[test]
    fn the_signed_bytes_are_the_documented_ones() {
        let anchor = sign(&dev(), "intake", &heads(), at());
        let mut expected = Vec::new();
        for field in [ANCHOR_DOMAIN, "intake", DEV_ANCHOR_KEY_ID, "2026-11-26T22:00:00.123456789Z", "16", &anchor.head_hash] {
            expected.extend_from_slice(&(field.len() as u64).to_be_bytes());
            expected.extend_from_slice(field.as_bytes());
        }
        assert_eq!(signed_bytes(&anchor), expected);
    }

    #[test]
    fn the_development_key_and_no_key_are_refused_off_loopback() {
        let unset = AnchorSettings::default();
        let dev = AnchorSettings { anchor_key: Secret::new(DEV_ANCHOR_KEY), ..AnchorSettings::default() };
        for settings in [&unset, &dev] {
            let err = AnchorKey::from_settings(settings, false).unwrap_err().to_string();
            assert!(err.contains("audit.anchor_key") && err.contains("loopback"), "{err}");
            assert!(!err.contains(DEV_ANCHOR_KEY), "{err}");
        }
        assert_eq!(AnchorKey::from_settings(&dev, true).unwrap().public_base64(), dev_public());
        let own = AnchorSettings {
            anchor_key: Secret::new("b3JnYW4tc2VhbC1rZXktb2YtY2hlbmdndWFuLTAwMDE="),
            anchor_key_id: "gs-2026".into(),
            ..AnchorSettings::default()
        };
        let key = AnchorKey::from_settings(&own, false).unwrap();
        assert_eq!(key.id, "gs-2026");
        assert_ne!(key.public_base64(), dev_public());
        let short = AnchorSettings { anchor_key: Secret::new("c2hvcnQ="), ..AnchorSettings::default() };
        assert!(AnchorKey::from_settings(&short, false).unwrap_err().to_string().contains("32"));
        assert!(!format!("{key:?}").contains("b3JnYW4tc2Vh"));
    }

    fn dev_public() -> String {
        AnchorKey::from_base64("x", DEV_ANCHOR_KEY).unwrap().public_base64()
    }

    #[test]
    fn settings_come_from_the_audit_section() {
        use figment::providers::{Format, Toml};
        let config = |toml: &str| Config::from_figment("intake", figment::Figment::new().merge(Toml::string(toml)));
        let settings = AnchorSettings::from_config(&config("").unwrap()).unwrap();
        assert_eq!(settings.anchor_interval_secs, 300);
        let settings = AnchorSettings::from_config(&config("[audit]\nanchor_interval_secs = 5\n").unwrap()).unwrap();
        assert_eq!(settings.anchor_interval_secs, 5);
        let err = AnchorSettings::from_config(&config("[audit]\nanchor_interval_secs = 90000\n").unwrap()).unwrap_err();
        assert!(err.to_string().contains("audit.anchor_interval_secs"), "{err}");
        // Off loopback without a key: the service does not start — unless anchoring is off.
        let exposed = config("[grpc]\nlisten = \"0.0.0.0:50051\"\n").unwrap();
        assert!(Anchorer::from_config(&exposed, "intake").unwrap_err().to_string().contains("audit.anchor_key"));
        let off = config("[grpc]\nlisten = \"0.0.0.0:50051\"\n[audit]\nanchor_interval_secs = 0\n").unwrap();
        assert!(Anchorer::from_config(&off, "intake").unwrap().key.is_none());
    }

    #[test]
    fn anchors_travel_on_the_platform_subject() {
        assert_eq!(subject("yuetan.ev"), "yuetan.ev.00.00.00.platform.audit_anchored");
    }
}
