//! Client request ids: every mutating RPC takes one, and a retry with the
//! same id answers what the first call answered and changes nothing.
//!
//! Each service keeps a `requests` table in its own schema (created by the
//! service's migrations: `officer_id, request_id` primary key, `method`,
//! `digest` of the request, the encoded `response`, `created_at`).
//!
//! The protocol: [`replay`] looks the id up first; the call does its work;
//! [`commit`] adds the answer as the last write of the call's
//! [`WriteBatch`] and commits. A concurrent retry with the same id waits on
//! that insert, finds the id taken, rolls back and answers the stored
//! answer. A retry that failed because the first call already moved the
//! state (e.g. "already decided") also gets the stored answer
//! ([`or_replay`]). The same id with a different request is refused.
//!
//! Answers hold personal data (a party's phones, SMS number, e-mail), so they
//! are stored sealed with the service's [`PiiVault`] (AES-256-GCM, bound to
//! the officer, request id and method: a sealed answer copied to another row
//! does not open), and kept only for the replay window: [`prune`] removes
//! older ones, in batches ([`prune_in_batches`]); the service's housekeeping
//! task ([`crate::housekeeping`]) does so periodically with the window of
//! `[requests] replay_window_hours`.
//! A retry after the window is a new request.
//! Answers stored in clear before sealing began (they never start with the
//! sealed format's version byte 1, which no protobuf message starts with)
//! are still read, until the pruner removes them one window later.


use base64::Engine;
use chrono::{DateTime, Utc};
use prost::Message;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use tokio_util::sync::CancellationToken;

use crate::batch::{Counted, WriteBatch};
use crate::error::Error;
use crate::pii::PiiVault;

/// The first byte of a sealed value (`pii` format version 1). A protobuf
/// message never starts with it (it would be field number 0).
const SEALED: u8 = 1;

/// The AES-GCM associated data of a stored answer: it opens only in its row.
fn context(officer_id: &str, request_id: &str, method: &str) -> String {
    format!("requests/{officer_id}/{request_id}/{method}")
}

/// Seals an encoded answer (base64 inside the seal: the vault seals text).
pub fn seal_answer(vault: &PiiVault, key: &RequestKey<'_>, encoded: &[u8]) -> Result<Vec<u8>, Error> {
    let text = base64::engine::general_purpose::STANDARD.encode(encoded);
    vault.seal(&text, &context(key.officer_id, key.request_id, key.method))
}

fn open_answer(vault: &PiiVault, key: &RequestKey<'_>, stored: &[u8]) -> Result<Vec<u8>, Error> {
    if stored.first() != Some(&SEALED) {
        // Stored in clear before answers were sealed; gone after one window.
        return Ok(stored.to_vec());
    }
    let text = vault.open(stored, &context(key.officer_id, key.request_id, key.method))?;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|err| Error::Internal(format!("stored answer: {err}")))
}

/// A client's request id, with what the request was: the same id with a
/// different request (or method) is refused.
#[derive(Debug, Clone)]
pub struct RequestKey<'a> {
    pub officer_id: &'a str,
    pub request_id: &'a str,
    pub method: &'static str,
    pub digest: Vec<u8>,
}

impl<'a> RequestKey<'a> {
    pub fn new(officer_id: &'a str, request_id: &'a str, method: &'static str, request: &impl Message) -> Result<Self, Error> {
        if request_id.len() > 128 {
            return Err(Error::invalid("request_id", "at most 128 characters"));
        }
        crate::fields::text("request_id", request_id)?;
        Ok(RequestKey { officer_id, request_id, method, digest: Sha256::digest(request.encode_to_vec()).to_vec() })
    }
}

/// The stored answer to an earlier call with this request id, if any.
/// Calls without a request id are never replayed.
pub async fn replay<Resp: Message + Default>(
    conn: &mut PgConnection,
    vault: &PiiVault,
    key: &RequestKey<'_>,
) -> Result<Option<Resp>, Error> {
    if key.request_id.is_empty() {
        return Ok(None);
    }
    let stored: Option<(String, Vec<u8>, Vec<u8>)> =
        sqlx::query_as("SELECT method, digest, response FROM requests WHERE officer_id = $1 AND request_id = $2")
            .bind(key.officer_id)
            .bind(key.request_id)
            .fetch_optional(&mut *conn)
            .await?;
    stored.map(|stored| decode_stored(vault, key, stored)).transpose()
}

/// A stored `(method, digest, sealed response)`, checked against the request.
pub fn decode_stored<Resp: Message + Default>(
    vault: &PiiVault,
    key: &RequestKey<'_>,
    stored: (String, Vec<u8>, Vec<u8>),
) -> Result<Resp, Error> {
    let (method, digest, response) = stored;
    if method != key.method || digest != key.digest {
        return Err(Error::invalid("request_id", "already used for a different request; choose a new id"));
    }
    let response = open_answer(vault, key, &response)?;
    Resp::decode(response.as_slice()).map_err(|err| Error::Internal(format!("stored answer: {err}")))
}

/// Records the answer, sealed, under the request id, as one write of the
/// call's last [`WriteBatch`]; `None` without a request id. A count of 0: a
/// concurrent call with the same id committed first (this insert waited for
/// it); roll back and [`replay`] its answer.
pub fn remember_in<Resp: Message>(
    batch: &mut WriteBatch,
    vault: &PiiVault,
    key: &RequestKey<'_>,
    response: &Resp,
    now: DateTime<Utc>,
) -> Result<Option<Counted>, Error> {
    if key.request_id.is_empty() {
        return Ok(None);
    }
    let body = seal_answer(vault, key, &response.encode_to_vec())?;
    let (officer, request, method, digest) = (key.officer_id.to_string(), key.request_id.to_string(), key.method, key.digest.clone());
    Ok(Some(batch.push(move |q| {
        q.push("INSERT INTO requests (officer_id, request_id, method, digest, response, created_at) VALUES (")
            .push_bind(officer)
            .push(", ")
            .push_bind(request)
            .push(", ")
            .push_bind(method)
            .push(", ")
            .push_bind(digest)
            .push(", ")
            .push_bind(body)
            .push(", ")
            .push_bind(now)
            .push(") ON CONFLICT DO NOTHING RETURNING 1");
    })))
}

/// Sends the call's writes with the answer under the client's request id
/// as one statement and commits; if a concurrent call with the same id
/// came first, this one rolls back and answers what that one answered.
pub async fn commit<R: Message + Default>(
    pool: &PgPool,
    vault: &PiiVault,
    mut tx: Transaction<'static, Postgres>,
    mut batch: WriteBatch,
    key: &RequestKey<'_>,
    response: R,
    now: DateTime<Utc>,
) -> Result<R, Error> {
    let remembered = remember_in(&mut batch, vault, key, &response, now)?;
    let counts = batch.execute(&mut tx).await?;
    if remembered.is_none_or(|r| counts.get(r) == 1) {
        tx.commit().await?;
        return Ok(response);
    }
    tx.rollback().await?;
    stored_answer(pool, vault, key).await?.ok_or_else(|| Error::Internal("request answer vanished".into()))
}

/// The answer stored under a request id, read outside the call's transaction.
pub async fn stored_answer<R: Message + Default>(pool: &PgPool, vault: &PiiVault, key: &RequestKey<'_>) -> Result<Option<R>, Error> {
    let mut conn = pool.acquire().await?;
    replay(&mut conn, vault, key).await
}

/// A call that failed may have lost a race to a concurrent call with the
/// same request id (e.g. "already verified"): if that one's answer is
/// stored, the retry gets it, as if it had come second.
pub async fn or_replay<Req: Message, R: Message + Default>(
    pool: &PgPool,
    vault: &PiiVault,
    officer_id: &str,
    request_id: &str,
    method: &'static str,
    request: &Req,
    result: Result<R, Error>,
) -> Result<R, Error> {
    match result {
        Err(err) if !request_id.is_empty() && !matches!(err, Error::InvalidArgument { .. }) => {
            let key = RequestKey::new(officer_id, request_id, method, request)?;
            match stored_answer(pool, vault, &key).await {
                Ok(Some(done)) => Ok(done),
                _ => Err(err),
            }
        }
        other => other,
    }
}

/// Removes the answers stored before `before`; returns how many.
pub async fn prune(pool: &PgPool, before: DateTime<Utc>) -> Result<u64, Error> {
    prune_in_batches(pool, before, 64, &CancellationToken::new()).await
}

/// Removes the answers stored before `before`, walking the table's heap
/// `blocks` pages per statement (a TID range scan each: no index on
/// `created_at` is needed, no statement holds many row locks, and the whole
/// pass reads the table once); stops early at `stop`. Returns how many.
pub async fn prune_in_batches(pool: &PgPool, before: DateTime<Utc>, blocks: i64, stop: &CancellationToken) -> Result<u64, Error> {
    let blocks = blocks.max(1);
    let pages: i64 = sqlx::query_scalar(
        "SELECT (pg_relation_size('requests') / current_setting('block_size')::bigint)::bigint",
    )
    .fetch_one(pool)
    .await?;
    let mut pruned = 0;
    let mut start = 0i64;
    // Rows appended while the walk runs land past `pages`: they are new.
    while start < pages && !stop.is_cancelled() {
        pruned += sqlx::query(
            "DELETE FROM requests
             WHERE ctid >= format('(%s,0)', $1::bigint)::tid AND ctid < format('(%s,0)', $2::bigint)::tid
               AND created_at < $3",
        )
        .bind(start)
        .bind(start + blocks)
        .bind(before)
        .execute(pool)
        .await?
        .rows_affected();
        start += blocks;
    }
    Ok(pruned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use crate::pii::{PiiConfig, PiiKeyConfig};

    fn vault() -> PiiVault {
        let key = |b: u8| Secret::new(base64::engine::general_purpose::STANDARD.encode([b; 32]));
        PiiVault::new(&PiiConfig { current_key: "k".into(), keys: vec![PiiKeyConfig { id: "k".into(), key: key(1) }], hash_key: key(2) })
            .unwrap()
    }

    #[test]
    fn a_stored_answer_is_sealed_opens_only_in_its_row_and_old_clear_answers_still_read() {
        let vault = vault();
        let request = prost_types::Timestamp { seconds: 1, nanos: 0 };
        let key = RequestKey::new("officer-a", "r1", "RegisterParty", &request).unwrap();
        let answer = prost_types::Timestamp { seconds: 13_900_000_000, nanos: 7 };
        let sealed = seal_answer(&vault, &key, &answer.encode_to_vec()).unwrap();
        assert_eq!(sealed[0], SEALED);
        assert!(!sealed.windows(answer.encode_to_vec().len()).any(|w| w == answer.encode_to_vec().as_slice()));
        let stored = (key.method.to_string(), key.digest.clone(), sealed.clone());
        assert_eq!(decode_stored::<prost_types::Timestamp>(&vault, &key, stored).unwrap(), answer);
        let other = RequestKey::new("officer-b", "r1", "RegisterParty", &request).unwrap();
        assert!(decode_stored::<prost_types::Timestamp>(&vault, &other, ("RegisterParty".into(), other.digest.clone(), sealed)).is_err());
        let clear = (key.method.to_string(), key.digest.clone(), answer.encode_to_vec());
        assert_eq!(decode_stored::<prost_types::Timestamp>(&vault, &key, clear).unwrap(), answer);
    }

    #[test]
    fn a_request_id_with_a_control_character_is_refused() {
        let request = prost_types::Timestamp::default();
        assert!(RequestKey::new("officer-a", "r\u{0}", "M", &request).unwrap_err().to_string().contains("`request_id`"));
    }
}
