//! The posts of Janus's HTTP event handler (`janus.eventhandler.sampleevh`):
//! a JSON array of events (or one event) per post. Only the VideoRoom
//! plugin's joins and leaves matter here; everything else is skipped.

use chrono::{DateTime, Utc};

/// A participant entered or left a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomEvent {
    Joined { room_id: u64, feed_id: u64, display: String, at: DateTime<Utc> },
    Left { room_id: u64, feed_id: u64, at: DateTime<Utc> },
}

/// Reads one post. A body that is not JSON is an error; JSON that holds no
/// join or leave gives an empty list.
pub fn parse(body: &[u8]) -> Result<Vec<RoomEvent>, serde_json::Error> {
    let _ = body;
    unimplemented!("helper")
}
