//! The video provider of video interviews (R-INT-2) and the reconciliation
//! of rooms with the server.
//!
//! A room's life: the plan's transaction records it (`creating`) and
//! schedules `scheduling.video_room_open`; that timer asks the provider to
//! create it (a retry after a crash adopts the room the server already has:
//! the id was chosen before the call) and marks it `open`. Closing the
//! interview marks it `closing` and schedules `scheduling.video_room_close`,
//! which destroys it (absent is fine), collects the recordings and marks it
//! `closed`. The reconciler lists the server's rooms of this deployment (by
//! the description tag) at start and every `reconcile_seconds`, and
//! destroys every one the database does not hold as creating or open: a room
//! can outlive its row only if something went wrong, and it never stays.
//! The other way round, a room the database holds open and the server lost
//! (Janus keeps rooms in memory, a restart forgets them) is created again
//! with the same id, so its participants' credentials still work.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use yuetan_platform::Error;
use yuetan_video::{JanusProvider, JanusSettings, JitsiProvider, JitsiSettings, VideoProvider};

use crate::{store, State};

/// `[scheduling.video]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct VideoSettings {
    /// "janus" (the default when `[scheduling.video.janus]` is set), "jitsi", or "" (none).
    pub provider: String,
    /// The prefix of this deployment's room descriptions on the server.
    pub tag: String,
    pub janus: Option<JanusSettings>,
    pub jitsi: Option<JitsiSettings>,
    /// How long a participant's join credentials are valid after the planned start.
    pub join_valid_hours: i64,
    pub reconcile_seconds: u64,
    /// Fault injection for the crash test: after the server created a room,
    /// hang before recording it (the test then kills the process).
    pub hang_after_room_create: bool,
}

impl Default for VideoSettings {
    fn default() -> Self {
        VideoSettings { provider: String::new(), tag: "yuetan".into(), janus: None, jitsi: None, join_valid_hours: 12, reconcile_seconds: 300, hang_after_room_create: false }
    }
}

/// The configured provider.
pub fn provider(settings: &VideoSettings) -> Result<Option<Arc<dyn VideoProvider>>, Error> {
    let kind = if settings.provider.is_empty() && settings.janus.is_some() { "janus" } else { settings.provider.as_str() };
    let bad = |e: yuetan_video::VideoError| Error::invalid("scheduling.video", e.to_string());
    match kind {
        "" => Ok(None),
        "janus" => {
            let janus = settings.janus.clone().ok_or_else(|| Error::invalid("scheduling.video.janus", "provider \"janus\" needs [scheduling.video.janus]"))?;
            Ok(Some(Arc::new(JanusProvider::new(janus).map_err(bad)?)))
        }
        "jitsi" => {
            let jitsi = settings.jitsi.clone().ok_or_else(|| Error::invalid("scheduling.video.jitsi", "provider \"jitsi\" needs [scheduling.video.jitsi]"))?;
            Ok(Some(Arc::new(JitsiProvider::new(jitsi).map_err(bad)?)))
        }
        other => Err(Error::invalid("scheduling.video.provider", format!("{other:?}: \"janus\", \"jitsi\" or empty"))),
    }
}

impl State {
    pub fn video(&self) -> Result<&Arc<dyn VideoProvider>, Error> {
        self.video.as_ref().ok_or_else(|| Error::invalid("mode", "no video provider is configured ([scheduling.video]); plan an in-person interview"))
    }

    /// Destroys the server's rooms of this deployment that the database does
    /// not hold as creating or open. Returns how many were destroyed.
    pub async fn reconcile_rooms(&self) -> Result<usize, Error> {
        let Some(video) = &self.video else { return Ok(0) };
        let tag = &self.settings.video.tag;
        let listed = video.list_rooms(tag).await.map_err(|e| Error::Unavailable(format!("video server: {e}")))?;
        let mut conn = self.pool.acquire().await?;
        let live = store::interview::live_room_ids(&mut conn).await?;
        // Rooms the database holds open that the server lost (Janus keeps
        // rooms in memory: a restart forgets them) are created again.
        for id in &live {
            if listed.iter().any(|r| u64::try_from(*id).ok() == Some(r.room_id)) {
                continue;
            }
            if let Some(room) = store::interview::room(&mut conn, *id, false).await? {
                if room.status == "open" {
                    video.create_room(&room.spec(tag)).await.map_err(|e| Error::Unavailable(format!("video server: {e}")))?;
                    tracing::warn!(room = id, "reconciliation created a room the video server had lost");
                }
            }
        }
        let mut destroyed = 0;
        for room in listed {
            if live.iter().any(|id| u64::try_from(*id).ok() == Some(room.room_id)) {
                continue;
            }
            video.destroy_room(room.room_id).await.map_err(|e| Error::Unavailable(format!("video server: {e}")))?;
            tracing::warn!(room = room.room_id, description = %room.description, "reconciliation destroyed a room the database does not hold");
            destroyed += 1;
        }
        Ok(destroyed)
    }
}

/// Reconciles at start and then every `reconcile_seconds`.
pub async fn run_reconciler(state: Arc<State>, shutdown: CancellationToken) {
    if state.video.is_none() {
        return;
    }
    let every = Duration::from_secs(state.settings.video.reconcile_seconds.max(1));
    loop {
        match state.reconcile_rooms().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(destroyed = n, "video rooms reconciled"),
            Err(e) => tracing::warn!(error = %e, "video room reconciliation failed; trying again later"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(value: serde_json::Value) -> VideoSettings {
        serde_json::from_value(value).expect("video settings")
    }

    #[test]
    fn r_int_2_the_configuration_picks_the_video_provider() {
        let jitsi = settings(serde_json::json!({ "provider": "jitsi", "jitsi": { "domain": "meet.gansu.example.cn", "app_id": "yuetan", "app_secret": "a-jitsi-secret-of-some-length" } }));
        assert_eq!(provider(&jitsi).unwrap().expect("a provider").kind(), "jitsi");
        let janus = settings(serde_json::json!({ "janus": { "url": "http://127.0.0.1:7088/janus", "admin_key": "k", "room_key": "r", "recordings_dir": "/tmp" } }));
        assert_eq!(provider(&janus).unwrap().expect("janus is the default when configured").kind(), "janus");
        assert!(provider(&VideoSettings::default()).unwrap().is_none(), "none configured: no video interviews");
        let err = provider(&settings(serde_json::json!({ "provider": "zoom" }))).err().unwrap().to_string();
        assert!(err.contains("scheduling.video.provider"), "{err}");
        let err = provider(&settings(serde_json::json!({ "provider": "jitsi" }))).err().unwrap().to_string();
        assert!(err.contains("scheduling.video.jitsi"), "{err}");
    }
}
