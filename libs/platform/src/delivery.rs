//! One delivered event, decoded: what the consumer runner hands to a
//! handler and to the ordering guard. Its own module so that
//! [`consumer`](crate::consumer), [`ordering`](crate::ordering) and
//! [`deadletter`](crate::deadletter) share it without importing each other.

use uuid::Uuid;
use yuetan_proto::events::Event;

/// One delivered event, decoded.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub event: Event,
    pub event_id: Uuid,
    pub subject: String,
    pub headers: async_nats::HeaderMap,
    /// The message body as received (kept for the dead-letter table).
    pub payload: bytes::Bytes,
    /// The message's position in the stream.
    pub stream_sequence: u64,
    /// 1 on first delivery, then 2, 3, … (JetStream's count: it includes
    /// redeliveries after a crash and while the event waited for its
    /// predecessor, so it is no measure of failures).
    pub delivered: i64,
}
