//! Video interview rooms (R-INT-2: a non-contact interview is held by video
//! and recorded in full).
//!
//! [`VideoProvider`] is what the scheduling service needs from a video
//! system: create a room for an interview (idempotent: the same room id twice
//! adopts the room that exists), destroy it after the record closes (absent
//! is fine), list the rooms this deployment created (reconciliation after a
//! crash), give each participant their own join credentials, and find the
//! recordings afterwards.
//!
//! - [`janus::JanusProvider`], the default: Debian's `janus` WebRTC gateway,
//!   its VideoRoom plugin driven through Janus's HTTP API. A room has a
//!   secret (needed to destroy it), a PIN and an `allowed` list of one token
//!   per participant, so Janus itself refuses anybody else; recording is on,
//!   into the configured folder. Janus's HTTP event handler posts joins and
//!   leaves; [`events::parse`] reads those posts.
//! - [`jitsi::JitsiProvider`]: for provinces that already run Jitsi Meet with
//!   token authentication: a room name and one HS256 JWT per participant
//!   with the claims Jitsi's `token` auth checks; no server calls at all.
//!
//! A room's secret and PIN and each participant's token are not stored
//! anywhere: they are derived from the provider's key and the room id
//! ([`RoomKeys`]), so reconciliation can destroy a room it only knows by id.

pub mod events;
pub mod janus;
pub mod jitsi;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub use janus::{JanusParticipant, JanusProvider, JanusSettings};
pub use jitsi::{JitsiProvider, JitsiSettings};

/// A boxed future, so that [`VideoProvider`] can be used as `dyn`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What went wrong talking to the video system.
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    /// The server could not be reached or answered garbage (retry later).
    #[error("video server unreachable: {0}")]
    Unreachable(String),
    /// The server refused the request (code and reason as it gave them).
    #[error("video server refused ({code}): {reason}")]
    Refused { code: i64, reason: String },
    /// A setting is wrong (names the setting).
    #[error("{field}: {reason}")]
    Config { field: String, reason: String },
    #[error("recordings folder {path}: {reason}")]
    Recordings { path: PathBuf, reason: String },
}

/// One person who may join a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomParticipant {
    /// The caller's key for the participant (an officer id, `party`, `agent`,
    /// `expert:<n>`…); tokens are derived from it.
    pub key: String,
    /// The name shown in the room.
    pub display: String,
    /// The participant's own numeric id in the room (Janus's publisher id),
    /// by which joins and leaves are reported. Unique within the room.
    pub feed_id: u64,
    /// Officers moderate (Jitsi `moderator`); the party and experts do not.
    pub moderator: bool,
}

/// A room to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSpec {
    /// Janus's numeric room id (below 2^53, so JavaScript clients keep it exact).
    pub room_id: u64,
    /// `<tag>:<caller's id>`: how reconciliation recognises this
    /// deployment's rooms among others on the same server.
    pub description: String,
    pub participants: Vec<RoomParticipant>,
    /// Record every participant's audio and video (R-INT-2: always true in
    /// production; the field exists for the provider's own tests).
    pub record: bool,
}

/// What creating a room found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// The room was made now.
    New,
    /// A room with this id already existed (a retry after a crash) and was
    /// adopted as it is.
    Existing,
}

/// A room the server has, as listed for reconciliation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomListing {
    pub room_id: u64,
    pub description: String,
}

/// What one participant needs to join.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinInfo {
    /// "janus" or "jitsi".
    pub provider: String,
    /// Janus: the HTTP API URL participants use; Jitsi: the meeting URL
    /// (`https://<domain>/<room>?jwt=<token>`).
    pub url: String,
    /// Janus: the numeric room id as text; Jitsi: the room name.
    pub room: String,
    /// Janus: the room PIN; Jitsi: empty.
    pub pin: String,
    /// Janus: the participant's token in the room's `allowed` list; Jitsi: the JWT.
    pub token: String,
    pub feed_id: u64,
    pub display: String,
    pub expires_at: DateTime<Utc>,
}

/// A recording file of a closed room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recording {
    pub path: PathBuf,
    /// Lowercase hex SHA-256 of the file.
    pub sha256: String,
    pub bytes: u64,
}

/// The video system the scheduling service drives.
pub trait VideoProvider: Send + Sync {
    /// "janus" or "jitsi".
    fn kind(&self) -> &'static str;
    /// Creates the room; the same `room_id` again adopts the existing room.
    fn create_room<'a>(&'a self, room: &'a RoomSpec) -> BoxFuture<'a, Result<Created, VideoError>>;
    /// Destroys the room; a room that is not there is not an error.
    fn destroy_room(&self, room_id: u64) -> BoxFuture<'_, Result<(), VideoError>>;
    /// The rooms on the server whose description starts with `tag:`.
    fn list_rooms<'a>(&'a self, tag: &'a str) -> BoxFuture<'a, Result<Vec<RoomListing>, VideoError>>;
    /// The participant's join credentials, valid until `expires_at` (Jitsi's
    /// `exp`; Janus tokens live as long as the room).
    fn join_info(&self, room: &RoomSpec, participant: &RoomParticipant, expires_at: DateTime<Utc>) -> Result<JoinInfo, VideoError>;
    /// The files the server recorded for the room (Janus: `videoroom-<room>-*`
    /// in the recordings folder; Jitsi: none — its recordings are Jibri's).
    fn recordings(&self, room_id: u64) -> BoxFuture<'_, Result<Vec<Recording>, VideoError>>;
}

/// A room's secret, PIN and participant tokens, derived (HMAC-SHA256) from
/// the provider's key and the room id: nothing to store, nothing to lose,
/// and reconciliation can destroy a room it knows only by its id.
#[derive(Clone)]
pub struct RoomKeys {
    key: Vec<u8>,
}

impl std::fmt::Debug for RoomKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RoomKeys(..)")
    }
}

impl RoomKeys {
    pub fn new(key: &[u8]) -> RoomKeys {
        RoomKeys { key: key.to_vec() }
    }

    fn mac(&self, what: &str, room_id: u64, extra: &str) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(format!("{what}\n{room_id}\n{extra}").as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// The room secret (destroying or editing the room needs it).
    pub fn secret(&self, room_id: u64) -> String {
        hex::encode(&self.mac("secret", room_id, "")[..16])
    }

    /// The six-digit room PIN every participant gives.
    pub fn pin(&self, room_id: u64) -> String {
        let m = self.mac("pin", room_id, "");
        let n = u32::from_be_bytes([m[0], m[1], m[2], m[3]]) % 1_000_000;
        format!("{n:06}")
    }

    /// The participant's token in the room's `allowed` list.
    pub fn token(&self, room_id: u64, participant_key: &str) -> String {
        hex::encode(&self.mac("token", room_id, participant_key)[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_keys_are_stable_per_room_and_differ_between_rooms_and_participants() {
        let keys = RoomKeys::new(b"k");
        assert_eq!(keys.secret(7), keys.secret(7));
        assert_ne!(keys.secret(7), keys.secret(8));
        assert_eq!(keys.pin(7).len(), 6);
        assert_ne!(keys.token(7, "party"), keys.token(7, "o1"));
        assert_ne!(keys.token(7, "party"), RoomKeys::new(b"other").token(7, "party"));
    }
}
