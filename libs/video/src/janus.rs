//! Janus (the default provider): the VideoRoom plugin over Janus's HTTP API.
//!
//! The provider opens a fresh Janus session for each call (create session,
//! attach `janus.plugin.videoroom`, one synchronous request, destroy the
//! session): calls are rare (one room per interview), and nothing long-lived
//! can time out (Janus drops a session after 60 s without a request) or be
//! lost when Janus restarts.
//!
//! What Janus 1.1.2 answers (observed):
//! - synchronous VideoRoom requests (`create`, `destroy`, `list`) reply in the
//!   POST itself: `{"janus":"success",…,"plugindata":{"plugin":
//!   "janus.plugin.videoroom","data":{"videoroom":"created","room":42,…}}}`;
//!   a refusal is in the same place, `"data":{"videoroom":"event",
//!   "error_code":427,"error":"Room 42 already exists"}`;
//! - Janus's own errors are `{"janus":"error","error":{"code":458,"reason":
//!   "No such session 999"}}`;
//! - `create` without `admin_key` is 429 "Missing mandatory element
//!   (admin_key)", a wrong one 433 "Unauthorized (wrong admin_key)";
//! - `list` without `admin_key` leaves private rooms out; with the right
//!   one it lists them; with a wrong one it is refused (433);
//! - `join` is asynchronous: the POST is acknowledged (`"janus":"ack"`) and
//!   the outcome comes as an event on the long poll `GET {url}/{session}`:
//!   `"data":{"videoroom":"joined","room":42,"id":7,…}` or `"data":
//!   {"videoroom":"event","error_code":433,"error":"Unauthorized (not in
//!   the allowed list)"}` (a wrong PIN is 433 "Unauthorized (wrong pin)").
//! - recordings are `videoroom-<room>-user-<feed>-<µs>-<audio|video|data>-<mindex>.mjr`
//!   in the room's `rec_dir`, one file per published stream (no media, no file).

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::{BoxFuture, Created, JoinInfo, Recording, RoomKeys, RoomListing, RoomParticipant, RoomSpec, VideoError, VideoProvider};

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

/// The VideoRoom plugin's package name.
const VIDEOROOM: &str = "janus.plugin.videoroom";
/// How long one call to Janus may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a participant waits for Janus to answer a join or a leave.
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Janus's core error "session not found".
pub const JANUS_ERROR_SESSION_NOT_FOUND: i64 = 458;
/// VideoRoom: no such room.
pub const VIDEOROOM_ERROR_NO_SUCH_ROOM: i64 = 426;
/// VideoRoom: the room already exists.
pub const VIDEOROOM_ERROR_ROOM_EXISTS: i64 = 427;
/// VideoRoom: unauthorized (wrong admin_key, secret, PIN, or a token not in `allowed`).
pub const VIDEOROOM_ERROR_UNAUTHORIZED: i64 = 433;

pub struct JanusProvider {
    settings: JanusSettings,
    keys: RoomKeys,
    api: Api,
}

impl std::fmt::Debug for JanusProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JanusProvider")
            .field("url", &self.settings.url)
            .field("public_url", &self.settings.public_url)
            .field("recordings_dir", &self.settings.recordings_dir)
            .finish_non_exhaustive()
    }
}

fn config_error(field: &str, reason: &str) -> VideoError {
    VideoError::Config { field: format!("scheduling.video.janus.{field}"), reason: reason.to_owned() }
}

fn check_http_url(field: &str, url: &str) -> Result<(), VideoError> {
    if url.trim().is_empty() {
        return Err(config_error(field, "must not be empty"));
    }
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(config_error(field, "must be an http:// or https:// URL"));
    }
    Ok(())
}

impl JanusProvider {
    pub fn new(settings: JanusSettings) -> Result<JanusProvider, VideoError> {
        check_http_url("url", &settings.url)?;
        if !settings.public_url.is_empty() {
            check_http_url("public_url", &settings.public_url)?;
        }
        if settings.admin_key.is_empty() {
            return Err(config_error("admin_key", "must not be empty (the VideoRoom plugin's admin_key)"));
        }
        if settings.room_key.is_empty() {
            return Err(config_error("room_key", "must not be empty"));
        }
        if settings.recordings_dir.as_os_str().is_empty() {
            return Err(config_error("recordings_dir", "must not be empty"));
        }
        let keys = RoomKeys::new(settings.room_key.as_bytes());
        let api = Api::new(&settings.url)?;
        Ok(JanusProvider { settings, keys, api })
    }

    /// The body of a `create` request for `room` (without `admin_key`).
    fn create_body(&self, room: &RoomSpec) -> Value {
        let allowed: Vec<String> = room.participants.iter().map(|p| self.keys.token(room.room_id, &p.key)).collect();
        json!({
            "request": "create",
            "room": room.room_id,
            "description": room.description,
            "secret": self.keys.secret(room.room_id),
            "pin": self.keys.pin(room.room_id),
            "allowed": allowed,
            "is_private": true,
            "publishers": room.participants.len().max(1),
            "record": room.record,
            "rec_dir": self.settings.recordings_dir.display().to_string(),
            "permanent": false,
        })
    }

    /// Creates `room` with the given `admin_key` (the provider's own unless
    /// a test proves Janus checks it).
    pub async fn create_room_with_admin_key(&self, room: &RoomSpec, admin_key: Option<&str>) -> Result<Created, VideoError> {
        let mut body = self.create_body(room);
        if let Some(key) = admin_key {
            body["admin_key"] = json!(key);
        }
        match self.api.videoroom_request(&body).await {
            Ok(_) => Ok(Created::New),
            Err(VideoError::Refused { code: VIDEOROOM_ERROR_ROOM_EXISTS, .. }) => Ok(Created::Existing),
            Err(err) => Err(err),
        }
    }
}

impl VideoProvider for JanusProvider {
    fn kind(&self) -> &'static str {
        "janus"
    }
    fn create_room<'a>(&'a self, room: &'a RoomSpec) -> BoxFuture<'a, Result<Created, VideoError>> {
        Box::pin(async move { self.create_room_with_admin_key(room, Some(&self.settings.admin_key)).await })
    }
    fn destroy_room(&self, room_id: u64) -> BoxFuture<'_, Result<(), VideoError>> {
        Box::pin(async move {
            let body = json!({
                "request": "destroy",
                "room": room_id,
                "secret": self.keys.secret(room_id),
                "permanent": false,
            });
            match self.api.videoroom_request(&body).await {
                Ok(_) | Err(VideoError::Refused { code: VIDEOROOM_ERROR_NO_SUCH_ROOM, .. }) => Ok(()),
                Err(err) => Err(err),
            }
        })
    }
    fn list_rooms<'a>(&'a self, tag: &'a str) -> BoxFuture<'a, Result<Vec<RoomListing>, VideoError>> {
        Box::pin(async move {
            // Private rooms are listed only with the admin_key.
            let body = json!({"request": "list", "admin_key": self.settings.admin_key});
            let data = self.api.videoroom_request(&body).await?;
            let Some(list) = data.get("list").and_then(Value::as_array) else {
                return Err(VideoError::Unreachable(format!("Janus's list has no \"list\": {data}")));
            };
            let prefix = format!("{tag}:");
            let mut rooms: Vec<RoomListing> = list
                .iter()
                .filter_map(|room| {
                    let room_id = as_u64(room.get("room")?)?;
                    let description = room.get("description")?.as_str()?.to_owned();
                    Some(RoomListing { room_id, description })
                })
                .filter(|room| room.description.starts_with(&prefix))
                .collect();
            rooms.sort_by_key(|room| room.room_id);
            Ok(rooms)
        })
    }
    fn join_info(&self, room: &RoomSpec, participant: &RoomParticipant, expires_at: DateTime<Utc>) -> Result<JoinInfo, VideoError> {
        let url = if self.settings.public_url.is_empty() { &self.settings.url } else { &self.settings.public_url };
        Ok(JoinInfo {
            provider: "janus".to_owned(),
            url: url.clone(),
            room: room.room_id.to_string(),
            pin: self.keys.pin(room.room_id),
            token: self.keys.token(room.room_id, &participant.key),
            feed_id: participant.feed_id,
            display: participant.display.clone(),
            expires_at,
        })
    }
    fn recordings(&self, room_id: u64) -> BoxFuture<'_, Result<Vec<Recording>, VideoError>> {
        Box::pin(async move {
            let dir = self.settings.recordings_dir.clone();
            tokio::task::spawn_blocking(move || list_recordings(&dir, room_id))
                .await
                .map_err(|err| VideoError::Recordings { path: self.settings.recordings_dir.clone(), reason: err.to_string() })?
        })
    }
}

/// The files `videoroom-<room_id>-…` in `dir`, by name, with their SHA-256.
fn list_recordings(dir: &Path, room_id: u64) -> Result<Vec<Recording>, VideoError> {
    let error = |path: &Path, err: std::io::Error| VideoError::Recordings { path: path.to_path_buf(), reason: err.to_string() };
    let prefix = format!("videoroom-{room_id}-");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|err| error(dir, err))? {
        let entry = entry.map_err(|err| error(dir, err))?;
        let path = entry.path();
        if !entry.file_name().to_string_lossy().starts_with(&prefix) || !entry.file_type().map_err(|err| error(&path, err))?.is_file() {
            continue;
        }
        let mut file = std::fs::File::open(&path).map_err(|err| error(&path, err))?;
        let mut hasher = Sha256::new();
        let bytes = std::io::copy(&mut file, &mut hasher).map_err(|err| error(&path, err))?;
        found.push(Recording { path, sha256: hex::encode(hasher.finalize()), bytes });
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}

/// A number Janus gave as a JSON integer (or, with `string_ids`, as text).
pub(crate) fn as_u64(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| value.as_str()?.parse().ok())
}

fn transaction() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Janus's HTTP API at one URL.
#[derive(Clone)]
struct Api {
    url: String,
    http: reqwest::Client,
}

impl Api {
    fn new(url: &str) -> Result<Api, VideoError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|err| VideoError::Unreachable(format!("building the HTTP client: {err}")))?;
        Ok(Api { url: url.trim_end_matches('/').to_owned(), http })
    }

    /// POSTs `body` (a transaction id added) to `{url}{path}`; Janus's own
    /// `"janus":"error"` is `Refused`.
    async fn post(&self, path: &str, mut body: Value) -> Result<Value, VideoError> {
        body["transaction"] = json!(transaction());
        let url = format!("{}{path}", self.url);
        let response = self
            .http
            .post(&url)
            .json(&body)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|err| VideoError::Unreachable(format!("POST {url}: {err}")))?;
        read_reply(response, &url).await
    }

    /// A new session's id.
    async fn create_session(&self) -> Result<u64, VideoError> {
        let reply = self.post("", json!({"janus": "create"})).await?;
        reply_id(&reply)
    }

    /// Attaches the VideoRoom plugin to `session`: the handle's id.
    async fn attach(&self, session: u64) -> Result<u64, VideoError> {
        let reply = self.post(&format!("/{session}"), json!({"janus": "attach", "plugin": VIDEOROOM})).await?;
        reply_id(&reply)
    }

    async fn destroy_session(&self, session: u64) -> Result<(), VideoError> {
        self.post(&format!("/{session}"), json!({"janus": "destroy"})).await.map(drop)
    }

    /// Sends a `message` to the plugin: Janus's reply (an `ack` for an
    /// asynchronous request, `success` with `plugindata` for a synchronous one).
    async fn message(&self, session: u64, handle: u64, body: &Value) -> Result<Value, VideoError> {
        self.post(&format!("/{session}/{handle}"), json!({"janus": "message", "body": body})).await
    }

    /// One synchronous VideoRoom request in a session of its own: the
    /// plugin's `data`, or `Refused` with its `error_code`.
    async fn videoroom_request(&self, body: &Value) -> Result<Value, VideoError> {
        let session = self.create_session().await?;
        let result = async {
            let handle = self.attach(session).await?;
            let reply = self.message(session, handle, body).await?;
            plugin_data(&reply)
        }
        .await;
        if let Err(err) = self.destroy_session(session).await {
            tracing::debug!(%err, session, "destroying a Janus session");
        }
        result
    }

    /// Long-polls `session` for at most one event (Janus answers a
    /// `keepalive` after 30 s without events).
    async fn poll(&self, session: u64) -> Result<Value, VideoError> {
        let url = format!("{}/{session}?maxev=1&rid={}", self.url, transaction());
        let response = self
            .http
            .get(&url)
            .timeout(Duration::from_secs(40))
            .send()
            .await
            .map_err(|err| VideoError::Unreachable(format!("GET {url}: {err}")))?;
        read_reply(response, &url).await
    }
}

async fn read_reply(response: reqwest::Response, url: &str) -> Result<Value, VideoError> {
    let status = response.status();
    let text = response.text().await.map_err(|err| VideoError::Unreachable(format!("{url}: {err}")))?;
    let reply: Value = serde_json::from_str(&text)
        .map_err(|err| VideoError::Unreachable(format!("{url} answered {status} and not JSON ({err}): {text}")))?;
    if reply.get("janus").and_then(Value::as_str) == Some("error") {
        return Err(janus_error(&reply));
    }
    if !status.is_success() {
        return Err(VideoError::Unreachable(format!("{url} answered {status}: {text}")));
    }
    Ok(reply)
}

/// `{"janus":"error","error":{"code":458,"reason":"…"}}` as `Refused`.
fn janus_error(reply: &Value) -> VideoError {
    let error = reply.get("error");
    VideoError::Refused {
        code: error.and_then(|e| e.get("code")).and_then(Value::as_i64).unwrap_or(0),
        reason: error.and_then(|e| e.get("reason")).and_then(Value::as_str).unwrap_or("unknown Janus error").to_owned(),
    }
}

/// `data.id` of a `create` or `attach` reply.
fn reply_id(reply: &Value) -> Result<u64, VideoError> {
    reply
        .pointer("/data/id")
        .and_then(Value::as_u64)
        .ok_or_else(|| VideoError::Unreachable(format!("Janus's reply has no data.id: {reply}")))
}

/// `plugindata.data` of a reply or event; its `error_code` is `Refused`.
fn plugin_data(reply: &Value) -> Result<Value, VideoError> {
    let Some(data) = reply.pointer("/plugindata/data") else {
        return Err(VideoError::Unreachable(format!("Janus's reply has no plugindata: {reply}")));
    };
    if let Some(code) = data.get("error_code").and_then(Value::as_i64) {
        let reason = data.get("error").and_then(Value::as_str).unwrap_or("").to_owned();
        return Err(VideoError::Refused { code, reason });
    }
    Ok(data.clone())
}

/// A participant acting through Janus's own HTTP API (tests and the demo; no
/// media): a session, the VideoRoom plugin attached, a join as publisher.
pub struct JanusParticipant {
    api: Api,
    session: u64,
    handle: u64,
    joined: bool,
}

impl std::fmt::Debug for JanusParticipant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JanusParticipant")
            .field("url", &self.api.url)
            .field("session", &self.session)
            .field("handle", &self.handle)
            .field("joined", &self.joined)
            .finish()
    }
}

impl JanusParticipant {
    /// Creates a session and attaches the VideoRoom plugin.
    pub async fn connect(url: &str) -> Result<JanusParticipant, VideoError> {
        let api = Api::new(url)?;
        let session = api.create_session().await?;
        let handle = match api.attach(session).await {
            Ok(handle) => handle,
            Err(err) => {
                let _ = api.destroy_session(session).await;
                return Err(err);
            }
        };
        Ok(JanusParticipant { api, session, handle, joined: false })
    }

    /// Joins as a publisher with the credentials of a [`JoinInfo`]; Janus's
    /// refusal (wrong token, wrong PIN) is `VideoError::Refused`.
    pub async fn join(&mut self, join: &JoinInfo) -> Result<(), VideoError> {
        let room = join
            .room
            .parse::<u64>()
            .map_err(|_| VideoError::Config { field: "room".to_owned(), reason: format!("{:?} is not a Janus room id", join.room) })?;
        let body = json!({
            "request": "join",
            "ptype": "publisher",
            "room": room,
            "pin": join.pin,
            "token": join.token,
            "id": join.feed_id,
            "display": join.display,
        });
        let data = self.request_async(&body, |data| data.get("videoroom").and_then(Value::as_str) == Some("joined")).await?;
        if data.get("id").and_then(as_u64) != Some(join.feed_id) {
            tracing::warn!(%data, feed_id = join.feed_id, "Janus joined with another id");
        }
        self.joined = true;
        Ok(())
    }

    /// Leaves the room and destroys the session.
    pub async fn leave(self) -> Result<(), VideoError> {
        let left = if self.joined {
            self.request_async(&json!({"request": "leave"}), |data| data.get("leaving").and_then(Value::as_str) == Some("ok"))
                .await
                .map(drop)
        } else {
            Ok(())
        };
        let destroyed = self.api.destroy_session(self.session).await;
        left.and(destroyed)
    }

    /// Sends an asynchronous request and waits (at most [`EVENT_TIMEOUT`])
    /// for the plugin's event that `done` recognises, or its error.
    async fn request_async(&self, body: &Value, done: impl Fn(&Value) -> bool) -> Result<Value, VideoError> {
        let reply = self.api.message(self.session, self.handle, body).await?;
        match reply.get("janus").and_then(Value::as_str) {
            Some("ack") => {}
            // Some transports answer at once with the event itself.
            Some("event") | Some("success") => {
                let data = plugin_data(&reply)?;
                if done(&data) {
                    return Ok(data);
                }
            }
            _ => return Err(VideoError::Unreachable(format!("Janus answered a message with {reply}"))),
        }
        let transaction = reply.get("transaction").cloned();
        let wait = async {
            loop {
                let event = self.api.poll(self.session).await?;
                // `maxev=1` gives one object; be lenient with an array.
                let events = match event {
                    Value::Array(events) => events,
                    event => vec![event],
                };
                for event in events {
                    if event.get("janus").and_then(Value::as_str) != Some("event") || event.get("sender").and_then(Value::as_u64) != Some(self.handle) {
                        continue;
                    }
                    let data = plugin_data(&event);
                    let ours = transaction.is_none() || event.get("transaction") == transaction.as_ref();
                    match data {
                        Err(err) if ours => return Err(err),
                        Ok(data) if done(&data) => return Ok(data),
                        _ => {}
                    }
                }
            }
        };
        tokio::time::timeout(EVENT_TIMEOUT, wait)
            .await
            .map_err(|_| VideoError::Unreachable(format!("Janus did not answer {body} within {EVENT_TIMEOUT:?}")))?
    }
}
