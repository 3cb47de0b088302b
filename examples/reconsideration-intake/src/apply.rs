//! `apply`: the intake system received a reconsideration application about a
//! case and tells the platform by publishing `relief.application_received`
//! (R-RELIEF-1, R-RELIEF-2) on the bus, in the grammar of the platform's own
//! events: the `yuetan.events.v1.Event` envelope (protobuf), the subject
//! `<prefix>.<pp>.<cc>.<dd>.relief.application_received` in the case's
//! division, `Nats-Msg-Id` = the event id (JetStream drops a copy published
//! again within its duplicate window) and the CloudEvents headers the
//! platform's outbox writes.
//!
//! The platform identifies a relief by (source, relief id): publishing the
//! same application twice marks the case once.

use std::path::Path;

use anyhow::{bail, Context};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use prost::Message;
use yuetan_proto::common::Actor;
use yuetan_proto::events::event::Payload;
use yuetan_proto::events::{Event, ReliefApplicationReceived};

use crate::book::{Application, Book};
use crate::sync::shown;
use crate::{proto_day, today, Bus, Identity};

/// The event type.
pub const EVENT_TYPE: &str = "relief.application_received";

/// The default reconsideration organ (复议机关) of the walkthrough.
pub const DEFAULT_BODY: &str = "甘肃省人民政府行政复议办公室";

/// One application.
#[derive(Debug, Clone)]
pub struct Request {
    /// Case id, clue id or document number.
    pub case: String,
    pub applicant: String,
    /// The day the respondent organ received the application copy: its reply
    /// period runs from the next day.
    pub received_on: NaiveDate,
    /// The day the party applied (default: today, China Standard Time).
    pub applied_on: Option<NaiveDate>,
    /// This system's id of the application (default: a new UUIDv7).
    pub relief_id: Option<String>,
    /// The reconsideration organ.
    pub body: String,
}

/// What was published.
#[derive(Debug, Clone)]
pub struct Published {
    pub relief_id: String,
    pub event_id: String,
    pub subject: String,
    pub case: String,
    pub number: String,
    /// The stream's sequence of the message.
    pub sequence: u64,
    /// JetStream had it already (a retry within the duplicate window).
    pub duplicate: bool,
}

impl std::fmt::Display for Published {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "published {EVENT_TYPE} for {} ({})", self.number, self.case)?;
        writeln!(f, "  relief id  {}", self.relief_id)?;
        writeln!(f, "  event id   {}", self.event_id)?;
        writeln!(f, "  subject    {}", self.subject)?;
        write!(f, "  stream seq {}{}", self.sequence, if self.duplicate { " (a duplicate: already published)" } else { "" })
    }
}

/// Checks the application against the book, publishes the event and waits
/// for JetStream's acknowledgement. The application is written to the book
/// before publishing (with its event id) and marked published after, so a
/// retry with the same `--relief-id` republishes the same event.
pub async fn apply(bus: &Bus, data: &Path, me: &Identity, request: &Request) -> anyhow::Result<Published> {
    let mut book = Book::load(data)?;
    let Some(case) = book.find(&request.case).cloned() else {
        bail!("no decided case {:?} in {} (run `sync` first; the case must be closed on the platform)", request.case, data.display());
    };
    let applied_on = request.applied_on.unwrap_or_else(today);
    if applied_on < case.closed_on {
        bail!("applied on {applied_on}, before the case was decided on {}", case.closed_on);
    }
    if !case.open_on(applied_on) {
        bail!(
            "the application window of {} closed on {} (60 days from {}, ARL art. 20); applied on {applied_on}",
            shown(&case),
            case.apply_until,
            case.closed_on
        );
    }
    if request.received_on < applied_on {
        bail!("--received-on {} is before the application ({applied_on}): the organ receives the copy after the party applies", request.received_on);
    }
    if request.applicant.trim().is_empty() {
        bail!("--applicant is empty");
    }
    let relief_id = request.relief_id.clone().unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let application = match book.applications.get(&relief_id) {
        Some(known) if known.case != case.key() => bail!("relief id {relief_id} is already an application about {}", known.case),
        Some(known) => known.clone(),
        None => Application {
            relief_id: relief_id.clone(),
            event_id: uuid::Uuid::now_v7().to_string(),
            case: case.key().to_string(),
            applicant: request.applicant.clone(),
            applied_on,
            received_on: request.received_on,
            body: request.body.clone(),
            occurred_at: Utc::now(),
            published: false,
        },
    };
    book.applications.insert(relief_id.clone(), application.clone());
    book.save(data)?;

    // The case id, or the clue id of a file closed before it became a case
    // (as the export API takes it).
    let event = envelope(me, case.key(), &case.division, &case.number, &application);
    let subject = bus.subject(&case.division, EVENT_TYPE)?;
    let jetstream = bus.connect().await?;
    let ack = jetstream
        .publish_with_headers(subject.clone(), headers(&event, me, application.occurred_at), event.encode_to_vec().into())
        .await
        .with_context(|| format!("publishing on {subject}"))?
        .await
        .with_context(|| format!("JetStream's acknowledgement on {subject} (is {subject:?} in the stream {:?}?)", bus.stream))?;

    if let Some(stored) = book.applications.get_mut(&relief_id) {
        stored.published = true;
    }
    book.save(data)?;
    Ok(Published {
        relief_id,
        event_id: event.id,
        subject,
        case: case.key().to_string(),
        number: case.number.clone(),
        sequence: ack.sequence,
        duplicate: ack.duplicate,
    })
}

/// The envelope: an event without a per-case order (case_version 0), in the
/// case's division, from this system's organ and identity.
pub fn envelope(me: &Identity, case_id: &str, division: &str, number: &str, application: &Application) -> Event {
    let at = application.occurred_at;
    Event {
        id: application.event_id.clone(),
        r#type: EVENT_TYPE.into(),
        case_id: case_id.into(),
        case_version: 0,
        jurisdiction: division.into(),
        organ: me.organ.clone(),
        occurred_at: Some(prost_types::Timestamp { seconds: at.timestamp(), nanos: at.timestamp_subsec_nanos() as i32 }),
        actor: Some(Actor {
            officer_id: me.id.clone(),
            name: me.name.clone(),
            organ_code: me.organ.clone(),
            division_code: me.division.clone(),
            roles: vec!["system".into()],
        }),
        correlation_id: application.event_id.clone(),
        causation_id: String::new(),
        payload: Some(Payload::ReliefApplicationReceived(ReliefApplicationReceived {
            relief_id: application.relief_id.clone(),
            case_id: case_id.into(),
            case_number: number.into(),
            body: application.body.clone(),
            received_on: Some(proto_day(application.received_on)),
            applied_on: Some(proto_day(application.applied_on)),
            source: me.id.clone(),
            // The applicant's name stays in this system: the bus carries no
            // personal data in the clear.
            summary: format!("行政复议申请：对{number}不服"),
        })),
    }
}

/// What the platform's outbox sets on each of its events.
fn headers(event: &Event, me: &Identity, at: DateTime<Utc>) -> async_nats::HeaderMap {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", event.id.as_str());
    headers.insert("ce-specversion", "1.0");
    headers.insert("ce-id", event.id.as_str());
    headers.insert("ce-type", event.r#type.as_str());
    headers.insert("ce-source", format!("/{}", me.id).as_str());
    // The case id: the platform's consumers keep one case's events in one lane.
    headers.insert("ce-subject", event.case_id.as_str());
    headers.insert("ce-time", at.to_rfc3339_opts(SecondsFormat::Micros, true).as_str());
    headers.insert("ce-dataschema", "yuetan.events.v1.Event");
    headers.insert("content-type", "application/protobuf");
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_relief_1_the_envelope_carries_the_case_the_relief_and_no_applicant() {
        let me = Identity { id: "gs-fuyi".into(), name: "甘肃省行政复议平台".into(), organ: "620000-FY".into(), division: "620000".into() };
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let application = Application {
            relief_id: "FY-1".into(),
            event_id: uuid::Uuid::now_v7().to_string(),
            case: "c1".into(),
            applicant: "张三".into(),
            applied_on: day("2026-09-28"),
            received_on: day("2026-09-30"),
            body: DEFAULT_BODY.into(),
            occurred_at: Utc::now(),
            published: false,
        };
        let event = envelope(&me, "c1", "620102", "兰城市监约〔2026〕3号", &application);
        assert_eq!((event.r#type.as_str(), event.case_version, event.jurisdiction.as_str(), event.organ.as_str()), (EVENT_TYPE, 0, "620102", "620000-FY"));
        let Some(Payload::ReliefApplicationReceived(p)) = &event.payload else { panic!("payload") };
        assert_eq!((p.relief_id.as_str(), p.source.as_str()), ("FY-1", "gs-fuyi"));
        assert_eq!(p.received_on.as_ref().map(|d| d.iso.as_str()), Some("2026-09-30"));
        assert!(!format!("{event:?}").contains("张三"));
        let headers = headers(&event, &me, application.occurred_at);
        assert_eq!(headers.get("Nats-Msg-Id").map(|v| v.as_str()), Some(event.id.as_str()));
    }
}
