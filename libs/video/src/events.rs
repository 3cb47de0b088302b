//! The posts of Janus's HTTP event handler (`janus.eventhandler.sampleevh`):
//! a JSON array of events (or one event) per post. Only the VideoRoom
//! plugin's joins and leaves matter here; everything else is skipped.
//!
//! What Janus 1.1.2 posts (captured from a real Janus, `events = "plugins"`,
//! `grouping = true`, `json = "compact"`; `Content-Type: application/json`,
//! HTTP basic authentication when `backend_user`/`backend_pwd` are set):
//!
//! ```json
//! [{"emitter":"yuetan-test","type":64,"timestamp":1795694075828769,
//!   "session_id":4301168900828527,"handle_id":576333000604589,
//!   "event":{"plugin":"janus.plugin.videoroom","data":{"event":"joined",
//!     "room":42,"id":7,"private_id":2051040283,"token":"tok1","display":"A"}}}]
//! [{"emitter":"yuetan-test","type":64,"timestamp":1795694075852259,
//!   "event":{"plugin":"janus.plugin.videoroom","data":{"event":"leaving","room":42,"id":7}}}]
//! ```
//!
//! `type` 64 is a plugin event; `timestamp` is microseconds since the epoch
//! (Janus's clock); `token` is there only when the room has an `allowed`
//! list, `display` only when the participant gave one; a leave has no
//! session or handle. The plugin also posts `created`, `destroyed`,
//! `published`, `configured`… (skipped here). A participant the room's
//! moderator kicks out is posted as `"event":"kicked"` and read as a leave.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::janus::as_u64;

/// A participant entered or left a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomEvent {
    Joined { room_id: u64, feed_id: u64, display: String, at: DateTime<Utc> },
    Left { room_id: u64, feed_id: u64, at: DateTime<Utc> },
}

/// Janus's event type of plugin events.
const PLUGIN_EVENT: i64 = 64;

/// Reads one post. A body that is not JSON is an error; JSON that holds no
/// join or leave gives an empty list.
pub fn parse(body: &[u8]) -> Result<Vec<RoomEvent>, serde_json::Error> {
    let value: Value = serde_json::from_slice(body)?;
    let events = match value {
        Value::Array(events) => events,
        event => vec![event],
    };
    Ok(events.iter().filter_map(room_event).collect())
}

fn room_event(event: &Value) -> Option<RoomEvent> {
    if event.get("type")?.as_i64()? != PLUGIN_EVENT {
        return None;
    }
    let inner = event.get("event")?;
    if inner.get("plugin")?.as_str()? != "janus.plugin.videoroom" {
        return None;
    }
    let data = inner.get("data")?;
    let at = DateTime::<Utc>::from_timestamp_micros(event.get("timestamp")?.as_i64()?)?;
    let room_id = as_u64(data.get("room")?)?;
    let feed_id = as_u64(data.get("id")?)?;
    match data.get("event")?.as_str()? {
        "joined" => {
            let display = data.get("display").and_then(Value::as_str).unwrap_or_default().to_owned();
            Some(RoomEvent::Joined { room_id, feed_id, display, at })
        }
        "leaving" | "kicked" => Some(RoomEvent::Left { room_id, feed_id, at }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Posts captured from Janus 1.1.2 (a join, then a leave, then the
    /// room's destruction), as the event handler sent them.
    const JOINED: &str = r#"[{"emitter":"yuetan-test","type":64,"timestamp":1795694075828769,"session_id":4301168900828527,"handle_id":576333000604589,"event":{"plugin":"janus.plugin.videoroom","data":{"event":"joined","room":42,"id":7,"private_id":2051040283,"token":"tok1","display":"A"}}}]"#;
    const LEAVING: &str = r#"[{"emitter":"yuetan-test","type":64,"timestamp":1795694075852259,"event":{"plugin":"janus.plugin.videoroom","data":{"event":"leaving","room":42,"id":7}}}]"#;
    const CREATED: &str = r#"[{"emitter":"yuetan-test","type":64,"timestamp":1795694075728387,"session_id":4301168900828527,"handle_id":576333000604589,"event":{"plugin":"janus.plugin.videoroom","data":{"event":"created","room":42}}}]"#;

    fn at(micros: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(micros).unwrap()
    }

    #[test]
    fn reads_a_captured_join_and_leave() {
        assert_eq!(
            parse(JOINED.as_bytes()).unwrap(),
            vec![RoomEvent::Joined { room_id: 42, feed_id: 7, display: "A".into(), at: at(1_795_694_075_828_769) }]
        );
        assert_eq!(parse(LEAVING.as_bytes()).unwrap(), vec![RoomEvent::Left { room_id: 42, feed_id: 7, at: at(1_795_694_075_852_259) }]);
    }

    #[test]
    fn a_single_object_and_a_group_both_read() {
        let single = JOINED.trim_start_matches('[').trim_end_matches(']');
        assert_eq!(parse(single.as_bytes()).unwrap().len(), 1);
        let group = format!("[{},{},{}]", &CREATED[1..CREATED.len() - 1], &JOINED[1..JOINED.len() - 1], &LEAVING[1..LEAVING.len() - 1]);
        let events = parse(group.as_bytes()).unwrap();
        assert!(matches!(events.as_slice(), [RoomEvent::Joined { .. }, RoomEvent::Left { .. }]), "{events:?}");
    }

    #[test]
    fn skips_other_events_and_plugins_and_refuses_garbage() {
        assert!(parse(CREATED.as_bytes()).unwrap().is_empty());
        let other_plugin = JOINED.replace("janus.plugin.videoroom", "janus.plugin.audiobridge");
        assert!(parse(other_plugin.as_bytes()).unwrap().is_empty());
        let core_event = JOINED.replace("\"type\":64", "\"type\":1");
        assert!(parse(core_event.as_bytes()).unwrap().is_empty());
        assert!(parse(b"[]").unwrap().is_empty());
        assert!(parse(b"not json").is_err());
    }
}
