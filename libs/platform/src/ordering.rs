//! The ordering guard (ARCHITECTURE §4 "Order"): a consumer applies a case's
//! events from one producing service strictly in `case_version` order, with
//! no gaps, whatever order and however often they arrive.
//!
//! Every producer numbers its own events of a case 1, 2, 3, … (the
//! envelope's `case_version`, written under the case's row lock). A consumer
//! that names a producer in [`ConsumerSpec::ordered_sources`](crate::consumer::ConsumerSpec)
//! must subscribe to *all* of that producer's events (it may ignore most of
//! them): the guard keeps, in `event_order`, the last version applied per
//! `(consumer, producer, case)`, inside the same transaction as the inbox
//! row and the handler's writes. Then an event is
//!
//! - the next one (`last + 1`): applied, and `last` moves on;
//! - already covered (`<= last`): skipped, like a duplicate;
//! - early (`> last + 1`): not applied; the runner hands it back to
//!   JetStream (NAK with the `consumer.backoff_ms` delay) until its
//!   predecessor has been applied. It is never applied out of order.
//!   Waiting is not failing: those redeliveries do not count towards
//!   `consumer.max_deliver` (a predecessor may be held for `ack_wait` by a
//!   replica that died between delivery and ack). The wait is bounded by
//!   `consumer.order_horizon_secs` (default one hour) from the first early
//!   delivery; past it the event is dead-lettered with a reason naming the
//!   missing version, for the operator (`yuetan deadletter`).
//!
//! Events without a case, or with `case_version` 0 (outside any case's
//! sequence, e.g. a document-review request), pass the guard untouched.

use sqlx::PgConnection;
use uuid::Uuid;

use crate::delivery::Delivery;
use crate::error::Error;

/// What the guard says about one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Apply it (the guard has already moved `last` on, in the transaction).
    Apply,
    /// Its version was applied before: skip it.
    Stale { last: i64 },
    /// Its predecessor has not been applied yet: retry later.
    Early { last: i64 },
}

/// The producing service of an event: the part of its type before the dot.
pub fn source_of(event_type: &str) -> &str {
    event_type.split_once('.').map(|(service, _)| service).unwrap_or(event_type)
}

/// The case id and version an ordered consumer must respect, if any.
pub fn sequence_of(delivery: &Delivery) -> Option<(Uuid, i64)> {
    if delivery.event.case_version == 0 {
        return None;
    }
    let case_id = Uuid::parse_str(&delivery.event.case_id).ok()?;
    Some((case_id, i64::try_from(delivery.event.case_version).ok()?))
}

/// Checks one event against the guard and, if it is next, records it as
/// applied; call it in the handler's transaction, before the handler.
pub async fn admit(
    conn: &mut PgConnection,
    consumer: &str,
    source: &str,
    case_id: Uuid,
    version: i64,
) -> Result<Admission, Error> {
    // The common case, one statement: the next version of a known case.
    let moved = sqlx::query(
        "UPDATE event_order SET version = $4 WHERE consumer = $1 AND source = $2 AND case_id = $3 AND version = $4 - 1",
    )
    .bind(consumer)
    .bind(source)
    .bind(case_id)
    .bind(version)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if moved == 1 {
        return Ok(Admission::Apply);
    }
    if version == 1 {
        let inserted = sqlx::query(
            "INSERT INTO event_order (consumer, source, case_id, version) VALUES ($1, $2, $3, 1) ON CONFLICT DO NOTHING",
        )
        .bind(consumer)
        .bind(source)
        .bind(case_id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(Admission::Apply);
        }
    }
    let last: Option<i64> =
        sqlx::query_scalar("SELECT version FROM event_order WHERE consumer = $1 AND source = $2 AND case_id = $3")
            .bind(consumer)
            .bind(source)
            .bind(case_id)
            .fetch_optional(&mut *conn)
            .await?;
    let last = last.unwrap_or(0);
    if version <= last {
        Ok(Admission::Stale { last })
    } else {
        Ok(Admission::Early { last })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_is_the_producing_service() {
        assert_eq!(source_of("intake.case_submitted"), "intake");
        assert_eq!(source_of("review.review_passed"), "review");
        assert_eq!(source_of("odd"), "odd");
    }
}
