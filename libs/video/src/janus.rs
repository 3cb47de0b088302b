//! Janus (the default provider): the VideoRoom plugin over Janus's HTTP API.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::{BoxFuture, Created, JoinInfo, Recording, RoomListing, RoomParticipant, RoomSpec, VideoError, VideoProvider};

/// `[scheduling.video.janus]`.
#[derive(Debug, Clone, Deserialize)]
pub struct JanusSettings {
    /// Janus's HTTP API, e.g. `http://127.0.0.1:8088/janus`.
    pub url: String,
    /// The URL participants are given (empty: `url`).
    #[serde(default)]
    pub public_url: String,
    /// The VideoRoom plugin's `admin_key` (needed to create rooms).
    pub admin_key: String,
    /// Derives each room's secret, PIN and tokens ([`crate::RoomKeys`]).
    pub room_key: String,
    /// Janus's `rec_dir` for the rooms (must be the folder Janus writes into).
    pub recordings_dir: PathBuf,
}

pub struct JanusProvider {}

impl JanusProvider {
    pub fn new(settings: JanusSettings) -> Result<JanusProvider, VideoError> {
        let _ = settings;
        unimplemented!("helper")
    }
}

impl VideoProvider for JanusProvider {
    fn kind(&self) -> &'static str {
        "janus"
    }
    fn create_room<'a>(&'a self, room: &'a RoomSpec) -> BoxFuture<'a, Result<Created, VideoError>> {
        let _ = room;
        unimplemented!("helper")
    }
    fn destroy_room(&self, room_id: u64) -> BoxFuture<'_, Result<(), VideoError>> {
        let _ = room_id;
        unimplemented!("helper")
    }
    fn list_rooms<'a>(&'a self, tag: &'a str) -> BoxFuture<'a, Result<Vec<RoomListing>, VideoError>> {
        let _ = tag;
        unimplemented!("helper")
    }
    fn join_info(&self, room: &RoomSpec, participant: &RoomParticipant, expires_at: DateTime<Utc>) -> Result<JoinInfo, VideoError> {
        let _ = (room, participant, expires_at);
        unimplemented!("helper")
    }
    fn recordings(&self, room_id: u64) -> BoxFuture<'_, Result<Vec<Recording>, VideoError>> {
        let _ = room_id;
        unimplemented!("helper")
    }
}

/// A participant acting through Janus's own HTTP API (tests and the demo; no
/// media): a session, the VideoRoom plugin attached, a join as publisher.
pub struct JanusParticipant {}

impl JanusParticipant {
    /// Creates a session and attaches the VideoRoom plugin.
    pub async fn connect(url: &str) -> Result<JanusParticipant, VideoError> {
        let _ = url;
        unimplemented!("helper")
    }
    /// Joins as a publisher with the credentials of a [`JoinInfo`]; Janus's
    /// refusal (wrong token, wrong PIN) is `VideoError::Refused`.
    pub async fn join(&mut self, join: &JoinInfo) -> Result<(), VideoError> {
        let _ = join;
        unimplemented!("helper")
    }
    /// Leaves the room and destroys the session.
    pub async fn leave(self) -> Result<(), VideoError> {
        unimplemented!("helper")
    }
}
