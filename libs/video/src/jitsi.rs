//! Jitsi Meet with token authentication: no server calls.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{BoxFuture, Created, JoinInfo, Recording, RoomListing, RoomParticipant, RoomSpec, VideoError, VideoProvider};

/// `[scheduling.video.jitsi]`.
#[derive(Debug, Clone, Deserialize)]
pub struct JitsiSettings {
    /// The Jitsi Meet domain, e.g. `meet.gansu.gov.cn` (also the `sub` claim).
    pub domain: String,
    /// `app_id` of Jitsi's token auth (the `iss` claim).
    pub app_id: String,
    /// `app_secret` (HS256).
    pub app_secret: String,
    /// The `aud` claim (Jitsi's default is "jitsi").
    #[serde(default = "default_audience")]
    pub audience: String,
}

fn default_audience() -> String {
    "jitsi".to_owned()
}

/// The claims Jitsi's token authentication checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JitsiClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub room: String,
    pub exp: i64,
    pub nbf: i64,
    pub context: JitsiContext,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JitsiContext {
    pub user: JitsiUser,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JitsiUser {
    pub id: String,
    pub name: String,
    pub moderator: bool,
}

pub struct JitsiProvider {}

impl JitsiProvider {
    pub fn new(settings: JitsiSettings) -> Result<JitsiProvider, VideoError> {
        let _ = settings;
        unimplemented!("helper")
    }
    /// The room name of a room id.
    pub fn room_name(room_id: u64) -> String {
        format!("yuetan{room_id}")
    }
}

impl VideoProvider for JitsiProvider {
    fn kind(&self) -> &'static str {
        "jitsi"
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
