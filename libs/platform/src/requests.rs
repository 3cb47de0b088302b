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

use chrono::{DateTime, Utc};
use prost::Message;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use crate::batch::{Counted, WriteBatch};
use crate::error::Error;

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
pub async fn replay<Resp: Message + Default>(conn: &mut PgConnection, key: &RequestKey<'_>) -> Result<Option<Resp>, Error> {
    if key.request_id.is_empty() {
        return Ok(None);
    }
    let stored: Option<(String, Vec<u8>, Vec<u8>)> =
        sqlx::query_as("SELECT method, digest, response FROM requests WHERE officer_id = $1 AND request_id = $2")
            .bind(key.officer_id)
            .bind(key.request_id)
            .fetch_optional(&mut *conn)
            .await?;
    stored.map(|stored| decode_stored(key, stored)).transpose()
}

/// A stored `(method, digest, response)`, checked against the request.
pub fn decode_stored<Resp: Message + Default>(key: &RequestKey<'_>, stored: (String, Vec<u8>, Vec<u8>)) -> Result<Resp, Error> {
    let (method, digest, response) = stored;
    if method != key.method || digest != key.digest {
        return Err(Error::invalid("request_id", "already used for a different request; choose a new id"));
    }
    Resp::decode(response.as_slice()).map_err(|err| Error::Internal(format!("stored answer: {err}")))
}

/// Records the answer under the request id, as one write of the call's
/// last [`WriteBatch`]; `None` without a request id. A count of 0: a
/// concurrent call with the same id committed first (this insert waited for
/// it); roll back and [`replay`] its answer.
pub fn remember_in<Resp: Message>(
    batch: &mut WriteBatch,
    key: &RequestKey<'_>,
    response: &Resp,
    now: DateTime<Utc>,
) -> Option<Counted> {
    if key.request_id.is_empty() {
        return None;
    }
    let (officer, request, method, digest, body) =
        (key.officer_id.to_string(), key.request_id.to_string(), key.method, key.digest.clone(), response.encode_to_vec());
    Some(batch.push(move |q| {
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
    }))
}

/// Sends the call's writes with the answer under the client's request id
/// as one statement and commits; if a concurrent call with the same id
/// came first, this one rolls back and answers what that one answered.
pub async fn commit<R: Message + Default>(
    pool: &PgPool,
    mut tx: Transaction<'static, Postgres>,
    mut batch: WriteBatch,
    key: &RequestKey<'_>,
    response: R,
    now: DateTime<Utc>,
) -> Result<R, Error> {
    let remembered = remember_in(&mut batch, key, &response, now);
    let counts = batch.execute(&mut tx).await?;
    if remembered.is_none_or(|r| counts.get(r) == 1) {
        tx.commit().await?;
        return Ok(response);
    }
    tx.rollback().await?;
    stored_answer(pool, key).await?.ok_or_else(|| Error::Internal("request answer vanished".into()))
}

/// The answer stored under a request id, read outside the call's transaction.
pub async fn stored_answer<R: Message + Default>(pool: &PgPool, key: &RequestKey<'_>) -> Result<Option<R>, Error> {
    let mut conn = pool.acquire().await?;
    replay(&mut conn, key).await
}

/// A call that failed may have lost a race to a concurrent call with the
/// same request id (e.g. "already verified"): if that one's answer is
/// stored, the retry gets it, as if it had come second.
pub async fn or_replay<Req: Message, R: Message + Default>(
    pool: &PgPool,
    officer_id: &str,
    request_id: &str,
    method: &'static str,
    request: &Req,
    result: Result<R, Error>,
) -> Result<R, Error> {
    match result {
        Err(err) if !request_id.is_empty() && !matches!(err, Error::InvalidArgument { .. }) => {
            let key = RequestKey::new(officer_id, request_id, method, request)?;
            match stored_answer(pool, &key).await {
                Ok(Some(done)) => Ok(done),
                _ => Err(err),
            }
        }
        other => other,
    }
}
