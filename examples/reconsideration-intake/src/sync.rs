//! `sync`: the intake system's own durable JetStream consumer on the
//! platform's stream. It reads three of supervision's events —
//! `supervision.case_closed` (a decided case: a party may apply within 60
//! days), `supervision.case_archived` (the signed file is ready to pull) and
//! `supervision.relief_marked` (the platform registered an application) —
//! writes the book, and only then acknowledges: a crash before the ack
//! brings the message again, and applying it twice changes nothing.
//!
//! The consumer is durable and starts at the beginning of the stream, so a
//! system attached after a case closed catches up on it.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use async_nats::jetstream::AckKind;
use futures::StreamExt;
use prost::Message;
use yuetan_calendar::Calendar;
use yuetan_proto::events::event::Payload;
use yuetan_proto::events::Event;

use crate::book::{apply_until, Archive, Book, Case, Mark};
use crate::{day_of, Bus};

/// The events the consumer asks for.
pub const EVENT_TYPES: [&str; 3] = ["supervision.case_closed", "supervision.case_archived", "supervision.relief_marked"];

/// How long a fetch waits for messages; `until_idle` stops after one empty fetch.
pub const IDLE: Duration = Duration::from_secs(2);

/// What one `sync` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Messages acknowledged (of every kind, including ones that changed nothing).
    pub received: usize,
    /// Messages that changed the book.
    pub changed: usize,
    /// Cases in the book at the end.
    pub cases: usize,
}

/// Runs the consumer named `consumer`: until no message came for [`IDLE`]
/// with `until_idle`, else until the task is cancelled. `note` gets one line
/// per change.
pub async fn sync(bus: &Bus, data: &Path, consumer: &str, calendar: &Calendar, until_idle: bool, note: &mut (dyn FnMut(String) + Send)) -> anyhow::Result<Report> {
    let jetstream = bus.connect().await?;
    let stream = jetstream
        .get_stream(&bus.stream)
        .await
        .with_context(|| format!("the platform's stream {:?} (is the platform running, and --stream right?)", bus.stream))?;
    let filter_subjects = EVENT_TYPES.iter().map(|t| format!("{}.*.*.*.{t}", bus.prefix)).collect();
    let config = pull::Config {
        durable_name: Some(consumer.to_string()),
        description: Some("reconsideration intake: decided cases, archives, relief marks".into()),
        deliver_policy: DeliverPolicy::All,
        ack_policy: AckPolicy::Explicit,
        ack_wait: Duration::from_secs(30),
        filter_subjects,
        ..Default::default()
    };
    let consumer = stream
        .get_or_create_consumer(consumer, config)
        .await
        .with_context(|| format!("the durable consumer {consumer:?} on {:?}", bus.stream))?;

    let mut book = Book::load(data)?;
    let mut report = Report::default();
    loop {
        let mut batch = consumer
            .batch()
            .max_messages(256)
            .expires(IDLE)
            .messages()
            .await
            .context("fetching from the platform's stream")?;
        let mut got = 0;
        while let Some(message) = batch.next().await {
            let message = message.map_err(|err| anyhow::anyhow!("receiving: {err}"))?;
            got += 1;
            match Event::decode(message.payload.as_ref()) {
                Ok(event) => {
                    if let Some(line) = apply(&mut book, &event, calendar)? {
                        // The book first, then the ack.
                        book.save(data)?;
                        report.changed += 1;
                        note(line);
                    }
                    message.double_ack().await.map_err(|err| anyhow::anyhow!("acknowledging: {err}"))?;
                }
                Err(err) => {
                    // Never decodable: stop its redelivery, say so.
                    note(format!("skipped an undecodable message on {}: {err}", message.subject));
                    message.ack_with(AckKind::Term).await.map_err(|err| anyhow::anyhow!("terminating: {err}"))?;
                }
            }
            report.received += 1;
        }
        if got == 0 && until_idle {
            break;
        }
    }
    report.cases = book.cases.len();
    Ok(report)
}

/// Applies one event to the book; `Some(line)` when it changed something.
/// Idempotent: the same event again returns `None`.
pub fn apply(book: &mut Book, event: &Event, calendar: &Calendar) -> anyhow::Result<Option<String>> {
    match &event.payload {
        Some(Payload::CaseClosed(closed)) => {
            let Some(closed_on) = day_of(closed.closed_on.as_ref()) else {
                return Ok(Some(format!("skipped supervision.case_closed {} without a closing day", event.id)));
            };
            let (until, provisional) = apply_until(calendar, closed_on)?;
            let key = if closed.case_id.is_empty() { closed.file_id.clone() } else { closed.case_id.clone() };
            let previous = book.cases.get(&key);
            let case = Case {
                case_id: closed.case_id.clone(),
                file_id: closed.file_id.clone(),
                number: closed.number.clone(),
                division: event.jurisdiction.clone(),
                organ: event.organ.clone(),
                outcome: closed.outcome.clone(),
                closed_on,
                apply_until: until,
                apply_until_provisional: provisional,
                archive: previous.and_then(|c| c.archive.clone()),
                relief: previous.map(|c| c.relief.clone()).unwrap_or_default(),
            };
            if previous == Some(&case) {
                return Ok(None);
            }
            let line = format!(
                "closed   {} ({}) on {closed_on}: apply until {until}{}",
                shown(&case),
                case.outcome,
                if provisional { " (provisional: the holiday data of that year is not published)" } else { "" }
            );
            book.cases.insert(key, case);
            Ok(Some(line))
        }
        Some(Payload::CaseArchived(archived)) => {
            let key = if archived.case_id.is_empty() { &archived.file_id } else { &archived.case_id };
            let Some(case) = case_mut(book, key) else {
                return Ok(Some(format!("skipped supervision.case_archived of {key}: its closing was not seen")));
            };
            let archive = Archive {
                manifest_sha256: archived.manifest_sha256.clone(),
                documents: archived.documents,
                key_id: archived.key_id.clone(),
                archived_on: day_of(archived.archived_on.as_ref()),
            };
            if case.archive.as_ref() == Some(&archive) {
                return Ok(None);
            }
            let line = format!("archived {}: {} documents, manifest {}", shown(case), archive.documents, archive.manifest_sha256);
            case.archive = Some(archive);
            Ok(Some(line))
        }
        Some(Payload::ReliefMarked(marked)) => {
            let key = if marked.case_id.is_empty() { event.case_id.as_str() } else { marked.case_id.as_str() };
            let Some(case) = case_mut(book, key) else {
                return Ok(Some(format!("skipped supervision.relief_marked of {key}: its closing was not seen")));
            };
            if case.relief.iter().any(|m| m.relief_id == marked.relief_id && m.source == marked.source) {
                return Ok(None);
            }
            let mark = Mark {
                relief_id: marked.relief_id.clone(),
                kind: marked.kind.clone(),
                source: marked.source.clone(),
                received_on: day_of(marked.received_on.as_ref()),
                reply_due: day_of(marked.reply_due.as_ref()),
            };
            let line = format!(
                "marked   {} under {} ({}): the organ's reply is due {}",
                shown(case),
                mark.kind,
                mark.relief_id,
                mark.reply_due.map(|d| d.to_string()).unwrap_or_else(|| "?".into())
            );
            case.relief.push(mark);
            Ok(Some(line))
        }
        _ => Ok(None),
    }
}

/// The case with this key, case id or clue id.
fn case_mut<'a>(book: &'a mut Book, id: &str) -> Option<&'a mut Case> {
    let key = book.find(id)?.key().to_string();
    book.cases.get_mut(&key)
}

/// The number, or the key when the file has none.
pub fn shown(case: &Case) -> &str {
    if case.number.is_empty() {
        case.key()
    } else {
        &case.number
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yuetan_proto::common::Date;
    use yuetan_proto::events::{CaseArchived, CaseClosed};

    fn closed() -> Event {
        Event {
            id: "0190a000-0000-7000-8000-000000000001".into(),
            r#type: "supervision.case_closed".into(),
            case_id: "c1".into(),
            jurisdiction: "620102".into(),
            organ: "620102-SJ".into(),
            payload: Some(Payload::CaseClosed(CaseClosed {
                file_id: "f1".into(),
                case_id: "c1".into(),
                number: "兰城市监约〔2026〕3号".into(),
                outcome: "rejected".into(),
                closed_on: Some(Date { iso: "2026-09-01".into() }),
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    #[test]
    fn r_relief_1_a_closed_case_is_listed_with_its_window_once() {
        let calendar = Calendar::builtin();
        let mut book = Book::default();
        assert!(apply(&mut book, &closed(), &calendar).unwrap().is_some());
        assert!(apply(&mut book, &closed(), &calendar).unwrap().is_none(), "delivered twice: no change");
        let case = &book.cases["c1"];
        assert_eq!((case.division.as_str(), case.outcome.as_str()), ("620102", "rejected"));
        assert_eq!(case.apply_until.to_string(), "2026-11-02");

        let archived = Event {
            r#type: "supervision.case_archived".into(),
            payload: Some(Payload::CaseArchived(CaseArchived { case_id: "c1".into(), manifest_sha256: "ab".repeat(32), documents: 7, ..Default::default() })),
            ..closed()
        };
        assert!(apply(&mut book, &archived, &calendar).unwrap().is_some());
        assert!(apply(&mut book, &archived, &calendar).unwrap().is_none());
        // A closing delivered again keeps the archive.
        assert!(apply(&mut book, &closed(), &calendar).unwrap().is_none());
        assert_eq!(book.cases["c1"].archive.as_ref().map(|a| a.documents), Some(7));
    }
}
