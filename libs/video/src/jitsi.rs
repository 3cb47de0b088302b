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

/// How far back `nbf` is set, for clocks that differ a little.
const CLOCK_SKEW_SECS: i64 = 60;

pub struct JitsiProvider {
    settings: JitsiSettings,
    key: jsonwebtoken::EncodingKey,
}

impl std::fmt::Debug for JitsiProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JitsiProvider")
            .field("domain", &self.settings.domain)
            .field("app_id", &self.settings.app_id)
            .field("audience", &self.settings.audience)
            .finish_non_exhaustive()
    }
}

fn config_error(field: &str, reason: &str) -> VideoError {
    VideoError::Config { field: format!("scheduling.video.jitsi.{field}"), reason: reason.to_owned() }
}

impl JitsiProvider {
    pub fn new(settings: JitsiSettings) -> Result<JitsiProvider, VideoError> {
        for (field, value) in [
            ("domain", &settings.domain),
            ("app_id", &settings.app_id),
            ("app_secret", &settings.app_secret),
            ("audience", &settings.audience),
        ] {
            if value.trim().is_empty() {
                return Err(config_error(field, "must not be empty"));
            }
        }
        if settings.domain.contains("://") || settings.domain.contains('/') || settings.domain.chars().any(char::is_whitespace) {
            return Err(config_error("domain", "must be a bare domain such as meet.example.org (no scheme, no path)"));
        }
        let key = jsonwebtoken::EncodingKey::from_secret(settings.app_secret.as_bytes());
        Ok(JitsiProvider { settings, key })
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
    /// Jitsi makes a room when its first participant arrives.
    fn create_room<'a>(&'a self, _room: &'a RoomSpec) -> BoxFuture<'a, Result<Created, VideoError>> {
        Box::pin(async { Ok(Created::New) })
    }
    /// Jitsi drops a room when its last participant leaves.
    fn destroy_room(&self, _room_id: u64) -> BoxFuture<'_, Result<(), VideoError>> {
        Box::pin(async { Ok(()) })
    }
    /// Jitsi has no API to list rooms: there is nothing to reconcile.
    fn list_rooms<'a>(&'a self, _tag: &'a str) -> BoxFuture<'a, Result<Vec<RoomListing>, VideoError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn join_info(&self, room: &RoomSpec, participant: &RoomParticipant, expires_at: DateTime<Utc>) -> Result<JoinInfo, VideoError> {
        let room_name = JitsiProvider::room_name(room.room_id);
        let claims = JitsiClaims {
            iss: self.settings.app_id.clone(),
            aud: self.settings.audience.clone(),
            sub: self.settings.domain.clone(),
            room: room_name.clone(),
            exp: expires_at.timestamp(),
            nbf: Utc::now().timestamp() - CLOCK_SKEW_SECS,
            context: JitsiContext {
                user: JitsiUser {
                    id: participant.key.clone(),
                    name: participant.display.clone(),
                    moderator: participant.moderator,
                },
            },
        };
        let token = jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), &claims, &self.key)
            .map_err(|err| config_error("app_secret", &format!("cannot sign the token: {err}")))?;
        Ok(JoinInfo {
            provider: "jitsi".to_owned(),
            url: format!("https://{}/{room_name}?jwt={token}", self.settings.domain),
            room: room_name,
            pin: String::new(),
            token,
            feed_id: participant.feed_id,
            display: participant.display.clone(),
            expires_at,
        })
    }
    /// Jitsi's recordings are Jibri's, not the provider's.
    fn recordings(&self, _room_id: u64) -> BoxFuture<'_, Result<Vec<Recording>, VideoError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}
