//! What the system published, waits for it, and the outboxes.

use std::time::Duration;

use prost::Message;
use yuetan_proto::events::Event;

use crate::{System, WAIT};

/// The stream read so far (it only grows: retention by limits).
#[derive(Debug, Default)]
pub(crate) struct Log {
    next: u64,
    events: Vec<(String, Event)>,
}

impl System {
    /// Every event now in the system's stream, in stream order, with its subject.
    pub async fn events(&self) -> Vec<(String, Event)> {
        let mut log = self.log.lock().await;
        let stream = self.bus.jetstream.get_stream(&self.config.nats.stream).await.expect("the system's stream");
        let last = stream.cached_info().state.last_sequence;
        for seq in log.next.max(1)..=last {
            if let Ok(message) = stream.get_raw_message(seq).await {
                let event = Event::decode(message.payload.as_ref())
                    .unwrap_or_else(|err| panic!("stream message {seq} on {} is no Event: {err}", message.subject));
                log.events.push((message.subject.to_string(), event));
            }
        }
        log.next = log.next.max(last + 1);
        log.events.clone()
    }

    /// Waits (at most [`WAIT`]) for an event that `matches`; returns the first.
    pub async fn wait_for_event(&self, matches: impl Fn(&Event) -> bool) -> Event {
        self.wait_for_event_within(WAIT, matches).await
    }

    /// Waits at most `wait` for an event that `matches`; returns the first.
    pub async fn wait_for_event_within(&self, wait: Duration, matches: impl Fn(&Event) -> bool) -> Event {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let events = self.events().await;
            if let Some((_, event)) = events.iter().find(|(_, e)| matches(e)) {
                return event.clone();
            }
            if tokio::time::Instant::now() > deadline {
                panic!("no matching event within {wait:?}; the stream holds {:?}", types(&events));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (at most [`WAIT`]) until `n` events of `event_type` are in the
    /// stream; returns all of that type (`n` or more).
    pub async fn wait_for_events(&self, event_type: &str, n: usize) -> Vec<Event> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let events = self.events().await;
            let found: Vec<Event> = events.iter().filter(|(_, e)| e.r#type == event_type).map(|(_, e)| e.clone()).collect();
            if found.len() >= n {
                return found;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("{} of {n} {event_type} events within {WAIT:?}; the stream holds {:?}", found.len(), types(&events));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The types of a case's events in stream order, once `until` is among them.
    pub async fn case_event_types(&self, case_id: &str, until: &str) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let types: Vec<String> =
                self.events().await.into_iter().filter(|(_, e)| e.case_id == case_id).map(|(_, e)| e.r#type).collect();
            if types.iter().any(|t| t == until) {
                return types;
            }
            assert!(tokio::time::Instant::now() < deadline, "no {until} for case {case_id} within {WAIT:?}; seen {types:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits (at most [`WAIT`]) until the outbox of every running service is
    /// empty: every event written so far is in the stream.
    pub async fn drain_outbox(&self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        for service in self.running() {
            loop {
                let pending: i64 =
                    sqlx::query_scalar("SELECT count(*) FROM outbox").fetch_one(self.pool_of(service)).await.expect("counting the outbox");
                if pending == 0 {
                    break;
                }
                if tokio::time::Instant::now() > deadline {
                    panic!("{}'s outbox still holds {pending} events after {WAIT:?}: is its relay running?", service.name());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    /// Once the outboxes are drained: the events in the stream
    /// (`events_published`) and the rows of every table of every running
    /// service (`schema.table`; the outbox aside, as its rows leave once
    /// sent). Equal before and after a refused request: nothing was written.
    pub async fn counts(&self) -> Vec<(String, i64)> {
        self.drain_outbox().await;
        let stream = self.bus.jetstream.get_stream(&self.config.nats.stream).await.expect("the system's stream");
        let mut out = vec![("events_published".to_string(), i64::try_from(stream.cached_info().state.messages).unwrap())];
        for service in self.running() {
            let pool = self.pool_of(service);
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.tables
                 WHERE table_schema = $1 AND table_type = 'BASE TABLE' AND table_name NOT IN ('outbox', '_sqlx_migrations')
                 ORDER BY table_name",
            )
            .bind(service.name())
            .fetch_all(pool)
            .await
            .expect("listing tables");
            for table in tables {
                let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {}.{table}", service.name()))
                    .fetch_one(pool)
                    .await
                    .expect("counting rows");
                out.push((format!("{}.{table}", service.name()), n));
            }
        }
        out
    }
}

fn types(events: &[(String, Event)]) -> Vec<&str> {
    events.iter().map(|(_, e)| e.r#type.as_str()).collect()
}
