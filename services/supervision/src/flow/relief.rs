//! Relief (R-RELIEF-1, R-RELIEF-2): reconsideration applications and
//! lawsuits told by outside systems; the mark, the reply card and timer,
//! the outcome on the board.
//!
//! - Told (`relief.application_received`, `relief.lawsuit_filed`, or
//!   `RegisterRelief` — both through [`mark`]): one row per (source,
//!   relief_id), however often it is told; the case's file is found (an
//!   unknown case waits for its file, bounded by the order horizon, then
//!   goes to the dead letters); the reply card (step `relief_reply`, due
//!   10 working days or 15 days after the copy was received); the timer
//!   `supervision.relief_overdue` at the start of the day after the
//!   deadline; the board's `relief_received`; a timeline line;
//!   `supervision.relief_marked` once; the audit row.
//! - Decided (`relief.decided`): the outcome recorded once; the card
//!   closes; the board counts `relief_decided` and, when the organ lost
//!   (revoked, changed, confirmed unlawful), `relief_lost`.
//! - The timer: an undecided relief without a recorded reply publishes
//!   `supervision.relief_reply_overdue`, once.
//! - Rebuild: supervision's own `relief_marked` writes the row, card, timer
//!   and tallies if absent (publishing nothing); `relief_reply_overdue`
//!   notes the overdue reply.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_platform::audit::{self, AuditEntry};
use yuetan_platform::auth::DivisionCode;
use yuetan_platform::fields::{cst_date, date, from_timestamp, optional, parse_date, parse_uuid, required};
use yuetan_platform::timers::{self, Timer};
use yuetan_platform::Error;
use yuetan_proto::events::{self as ev, event::Payload, Event};

use crate::domain::metric;
use crate::domain::relief::{self as rules, LITIGATION, RECONSIDERATION, REPLY_STEP};
use crate::flow::{start_of_cst_day, NewCard};
use crate::store::relief::{self as store, ReliefRow};
use crate::store::{self as sup, FileRow, TimelineRow};
use crate::State;

/// The overdue reply's timer; its key is the relief row's id.
pub const OVERDUE_TIMER: &str = "supervision.relief_overdue";

/// A relief as told, validated (by the RPC or from an event's payload).
#[derive(Debug, Clone)]
pub struct Told {
    pub source: String,
    pub relief_id: String,
    pub case_id: Uuid,
    /// `reconsideration` or `litigation`.
    pub kind: &'static str,
    pub body: String,
    pub summary: String,
    pub applied_on: Option<NaiveDate>,
    pub received_on: NaiveDate,
    /// Who told: the caller, or the event's actor (or source system).
    pub by: String,
    pub by_organ: String,
    /// The envelope's actor of `supervision.relief_marked` (an officer's or
    /// a service account's call), none for an event.
    pub actor: Option<yuetan_proto::common::Actor>,
}

/// How [`mark`] announces a new relief.
#[derive(Debug, Clone, Copy)]
pub enum Announce {
    /// Publishes `supervision.relief_marked` (caused by this event, if any).
    Publish(Option<Uuid>),
    /// A rebuild replays `supervision.relief_marked` with this id: nothing published.
    Replayed(Uuid),
}

/// The file of a case: by case id, else by clue id (a file closed before
/// it became a case).
pub async fn file_of(conn: &mut PgConnection, case_id: Uuid) -> Result<Option<FileRow>, Error> {
    if let Some(f) = sup::file_of_case(conn, case_id, false).await? {
        return Ok(Some(f));
    }
    sup::file(conn, case_id).await
}

fn kind_text(kind: &str) -> (&'static str, &'static str) {
    if kind == LITIGATION {
        ("行政诉讼", "答辩")
    } else {
        ("行政复议", "答复")
    }
}

fn outcome_text(outcome: &str) -> &'static str {
    match outcome {
        rules::UPHELD => "维持",
        rules::REVOKED => "撤销",
        rules::CHANGED => "变更",
        rules::CONFIRMED_UNLAWFUL => "确认违法",
        rules::SETTLED => "调解、和解结案",
        _ => "其他",
    }
}

fn audit_view(r: &ReliefRow) -> serde_json::Value {
    json!({
        "relief": r.id, "source": r.source, "relief_id": r.relief_id, "case_id": r.case_id, "kind": r.kind, "body": r.body,
        "received_on": r.received_on, "reply_due": r.reply_due, "outcome": r.outcome, "decided_on": r.decided_on, "overdue_at": r.overdue_at,
    })
}

/// The event `supervision.relief_marked` of a relief (everything another
/// service needs to show the mark).
pub fn marked_payload(r: &ReliefRow, number: &str) -> Payload {
    Payload::ReliefMarked(ev::ReliefMarked {
        case_id: r.case_id.to_string(),
        relief_id: r.relief_id.clone(),
        kind: r.kind.clone(),
        source: r.source.clone(),
        body: r.body.clone(),
        received_on: Some(date(r.received_on)),
        reply_due: Some(date(r.reply_due)),
        number: number.into(),
    })
}

/// Writes one of relief's events to the outbox; returns its id.
#[allow(clippy::too_many_arguments)]
async fn publish(state: &State, conn: &mut PgConnection, event_type: &str, r: &ReliefRow, actor: Option<yuetan_proto::common::Actor>, causation: Option<Uuid>, payload: Payload, now: DateTime<Utc>) -> Result<Uuid, Error> {
    state.publish_as(conn, event_type, Some(r.case_id), &r.division, &r.organ, actor, causation, payload, now).await
}

#[allow(clippy::too_many_arguments)]
async fn timeline(conn: &mut PgConnection, r: &ReliefRow, event_id: Uuid, event_type: &str, actor: &str, at: DateTime<Utc>, summary: String, deadline: Option<(NaiveDate, Option<bool>)>) -> Result<(), Error> {
    sup::insert_timeline(
        conn,
        &TimelineRow {
            event_id,
            file_id: r.file_id,
            occurred_at: at,
            event_type: event_type.into(),
            actor: actor.into(),
            actor_name: String::new(),
            summary,
            deadline: deadline.map(|d| d.0),
            met: deadline.and_then(|d| d.1),
        },
    )
    .await
}

/// The PII context the relief's summary is sealed under.
pub const SUMMARY_CONTEXT: &str = "supervision.relief_summary";

/// Marks the case of `file` under relief (R-RELIEF-2), in the caller's
/// transaction: the relief row, the reply card due [`rules::reply_due`], the
/// overdue timer, the board's count, the timeline, `supervision.relief_marked`
/// and the audit row — once per (source, relief_id). Returns the row and
/// whether it is new. The same (source, relief_id) told about another case
/// is refused (`AlreadyExists`).
pub async fn mark(state: &State, conn: &mut PgConnection, file: &FileRow, told: &Told, day: NaiveDate, announce: Announce, now: DateTime<Utc>) -> Result<(ReliefRow, bool), Error> {
    let reply_due = rules::reply_due(&state.calendar.current(), told.kind, told.received_on).map_err(Error::Internal)?;
    let row = ReliefRow {
        id: rules::relief_key(&told.source, &told.relief_id),
        source: told.source.clone(),
        relief_id: told.relief_id.clone(),
        case_id: told.case_id,
        file_id: file.id,
        division: file.division.clone(),
        organ: file.organ.clone(),
        section: file.section.clone(),
        kind: told.kind.into(),
        body: told.body.clone(),
        summary_sealed: if told.summary.is_empty() { None } else { Some(state.vault.seal(&told.summary, SUMMARY_CONTEXT)?) },
        applied_on: told.applied_on,
        received_on: told.received_on,
        reply_due,
        replied_on: None,
        outcome: None,
        decided_on: None,
        marked_by: told.by.clone(),
        marked_at: now,
        overdue_at: None,
    };
    if !store::insert(conn, &row).await? {
        let existing = store::by_key(conn, &told.source, &told.relief_id, false).await?.ok_or_else(|| Error::Internal(format!("relief {} of {} vanished", told.relief_id, told.source)))?;
        if existing.case_id != told.case_id {
            return Err(Error::AlreadyExists(format!("relief {:?} of {:?} is about case {}, not {}", told.relief_id, told.source, existing.case_id, told.case_id)));
        }
        return Ok((existing, false));
    }
    let subject = row.id.to_string();
    let card = NewCard { step: REPLY_STEP, subject_id: &subject, case_id: Some(row.case_id), division: &row.division, organ: &row.organ, section: &row.section, opened_on: day, deadline: reply_due };
    state.open_card(conn, card, now).await?;
    timers::schedule(conn, OVERDUE_TIMER, &subject, start_of_cst_day(reply_due + Duration::days(1)), &json!({ "case_id": row.case_id, "relief_id": row.relief_id })).await?;
    sup::add_tally(conn, &row.division, &row.section, sup::month_of(row.received_on), metric::RELIEF_RECEIVED, 1).await?;
    let marked_id = match announce {
        Announce::Publish(causation) => publish(state, conn, "supervision.relief_marked", &row, told.actor.clone(), causation, marked_payload(&row, &file.number), now).await?,
        Announce::Replayed(id) => id,
    };
    let (what, reply) = kind_text(&row.kind);
    let summary = format!("{what}：{}，{} 收到副本，{reply}期限 {reply_due}", if row.body.is_empty() { "（未写明机关）" } else { &row.body }, row.received_on);
    timeline(conn, &row, marked_id, "supervision.relief_marked", &told.by, now, summary, Some((reply_due, None))).await?;
    audit::append(
        conn,
        &AuditEntry { actor_id: &told.by, actor_organ: &told.by_organ, action: "relief.mark", subject: &format!("relief/{}", row.id), before: None, after: Some(&audit_view(&row)), at: now },
    )
    .await?;
    Ok((row, true))
}

/// A relief's outcome (`relief.decided`), once: the reply card closes, the
/// overdue timer goes, the board counts it in the month of the decision.
#[allow(clippy::too_many_arguments)]
async fn decide(state: &State, conn: &mut PgConnection, before: &ReliefRow, outcome: &str, decided_on: NaiveDate, event_id: Uuid, by: &str, at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), Error> {
    if !store::decide(conn, before.id, outcome, decided_on).await? {
        return Ok(());
    }
    let mut r = before.clone();
    r.outcome = Some(outcome.into());
    r.decided_on = Some(decided_on);
    let subject = r.id.to_string();
    let closed = state.close_card(conn, REPLY_STEP, &subject, Some(r.case_id), decided_on, now).await?;
    timers::cancel(conn, OVERDUE_TIMER, &subject, now).await?;
    let month = sup::month_of(decided_on);
    sup::add_tally(conn, &r.division, &r.section, month, metric::RELIEF_DECIDED, 1).await?;
    if rules::is_lost(outcome) {
        sup::add_tally(conn, &r.division, &r.section, month, metric::RELIEF_LOST, 1).await?;
    }
    let (what, _) = kind_text(&r.kind);
    timeline(conn, &r, event_id, "relief.decided", by, at, format!("{what}结果：{}（{decided_on}）", outcome_text(outcome)), closed.map(|(d, met)| (d, Some(met)))).await?;
    audit::append(
        conn,
        &AuditEntry { actor_id: by, actor_organ: &r.organ, action: "relief.decide", subject: &format!("relief/{}", r.id), before: Some(&audit_view(before)), after: Some(&audit_view(&r)), at: now },
    )
    .await?;
    Ok(())
}

/// The system that tells: the payload's `source`, else the envelope's
/// actor (officer id), else its organ.
fn source_of(event: &Event, source: &str) -> Result<String, Error> {
    let source = optional("source", source, rules::MAX_SOURCE)?;
    if !source.is_empty() {
        return Ok(source);
    }
    let actor = event.actor.as_ref().map(|a| a.officer_id.as_str()).unwrap_or_default();
    let fallback = if actor.is_empty() { event.organ.as_str() } else { actor };
    let fallback = optional("source", fallback, rules::MAX_SOURCE)?;
    if fallback.is_empty() {
        return Err(Error::invalid("source", "names the publishing system (payload source, the envelope's actor or organ)"));
    }
    Ok(fallback)
}

/// The event's case id: the payload's and the envelope's agree (either may be empty, not both).
fn case_of(event: &Event, payload_case: &str) -> Result<Uuid, Error> {
    match (payload_case.is_empty(), event.case_id.is_empty()) {
        (true, true) => Err(Error::invalid("case_id", "is required (payload or envelope)")),
        (false, false) if payload_case != event.case_id => Err(Error::invalid("case_id", format!("the payload's {payload_case:?} is not the envelope's {:?}", event.case_id))),
        (false, _) => parse_uuid("case_id", payload_case),
        (true, false) => parse_uuid("case_id", &event.case_id),
    }
}

/// A day the copy was received: required, not after `today`.
pub fn received_day(value: Option<&yuetan_proto::common::Date>, today: NaiveDate) -> Result<NaiveDate, Error> {
    let day = parse_date("received_on", value)?.ok_or_else(|| Error::invalid("received_on", "is required"))?;
    if day > today {
        return Err(Error::invalid("received_on", format!("{day} is in the future (today is {today})")));
    }
    Ok(day)
}

struct Telling<'a> {
    relief_id: &'a str,
    case_id: &'a str,
    body: &'a str,
    received_on: Option<&'a yuetan_proto::common::Date>,
    applied_on: Option<&'a yuetan_proto::common::Date>,
    source: &'a str,
    summary: &'a str,
}

/// An outside system's `relief.application_received` / `relief.lawsuit_filed`.
async fn told_by_event(state: &State, conn: &mut PgConnection, event: &Event, event_id: Uuid, kind: &'static str, t: Telling<'_>) -> Result<(), Error> {
    let now = state.clock.now();
    let at = from_timestamp(event.occurred_at.as_ref()).unwrap_or(now);
    let today = cst_date(now.max(at));
    let told = Told {
        source: source_of(event, t.source)?,
        relief_id: required("relief_id", t.relief_id, rules::MAX_RELIEF_ID)?,
        case_id: case_of(event, t.case_id)?,
        kind,
        body: optional("body", t.body, rules::MAX_BODY)?,
        summary: optional("summary", t.summary, rules::MAX_SUMMARY)?,
        applied_on: parse_date("applied_on", t.applied_on)?,
        received_on: received_day(t.received_on, today)?,
        by: String::new(),
        by_organ: event.organ.clone(),
        actor: None,
    };
    let told = Told { by: event.actor.as_ref().map(|a| a.officer_id.clone()).filter(|a| !a.is_empty()).unwrap_or_else(|| told.source.clone()), ..told };
    // The case may be on its way (supervision has not applied its events
    // yet): wait, bounded by the order horizon; then the dead letters.
    let file = file_of(conn, told.case_id).await?.ok_or_else(|| Error::Unavailable(format!("{}: case {} is not known to supervision (yet)", event.r#type, told.case_id)))?;
    let jurisdiction = DivisionCode::parse(&event.jurisdiction).map_err(|_| Error::invalid("jurisdiction", "a six-digit division code"))?;
    let division = DivisionCode::parse(&file.division)?;
    if !jurisdiction.covers(&division) {
        return Err(Error::invalid("jurisdiction", format!("{jurisdiction} does not cover the case's division {division}")));
    }
    mark(state, conn, &file, &told, cst_date(at), Announce::Publish(Some(event_id)), now).await?;
    Ok(())
}

/// `relief.decided` from an outside system: the relief must be known (it
/// waits for its application otherwise).
async fn decided_by_event(state: &State, conn: &mut PgConnection, event: &Event, event_id: Uuid, p: &ev::ReliefDecided) -> Result<(), Error> {
    let now = state.clock.now();
    let at = from_timestamp(event.occurred_at.as_ref()).unwrap_or(now);
    let source = source_of(event, &p.source)?;
    let relief_id = required("relief_id", &p.relief_id, rules::MAX_RELIEF_ID)?;
    if !rules::is_outcome(&p.outcome) {
        return Err(Error::invalid("outcome", format!("one of {}", rules::OUTCOMES.join(", "))));
    }
    if !p.kind.is_empty() && !rules::is_kind(&p.kind) {
        return Err(Error::invalid("kind", format!("{RECONSIDERATION} or {LITIGATION}")));
    }
    let today = cst_date(now.max(at));
    let decided_on = parse_date("decided_on", p.decided_on.as_ref())?.unwrap_or(cst_date(at));
    if decided_on > today {
        return Err(Error::invalid("decided_on", format!("{decided_on} is in the future (today is {today})")));
    }
    let r = store::by_key(conn, &source, &relief_id, true).await?.ok_or_else(|| Error::Unavailable(format!("relief.decided: relief {relief_id:?} of {source:?} is not registered (yet)")))?;
    if !p.kind.is_empty() && p.kind != r.kind {
        return Err(Error::invalid("kind", format!("relief {relief_id:?} is a {}", r.kind)));
    }
    let case_id = if p.case_id.is_empty() && event.case_id.is_empty() { r.case_id } else { case_of(event, &p.case_id)? };
    if case_id != r.case_id {
        return Err(Error::invalid("case_id", format!("relief {relief_id:?} is about case {}", r.case_id)));
    }
    if r.outcome.is_some() {
        return Ok(()); // recorded once
    }
    let by = event.actor.as_ref().map(|a| a.officer_id.clone()).filter(|a| !a.is_empty()).unwrap_or_else(|| source.clone());
    decide(state, conn, &r, &p.outcome, decided_on, event_id, &by, at, now).await
}

/// Rebuild: supervision's own `relief_marked` (of an RPC, or of an event
/// applied here earlier) writes the row if absent.
async fn replay_marked(state: &State, conn: &mut PgConnection, event: &Event, event_id: Uuid, p: &ev::ReliefMarked) -> Result<(), Error> {
    let now = state.clock.now();
    let at = from_timestamp(event.occurred_at.as_ref()).unwrap_or(now);
    let relief_id = required("relief_id", &p.relief_id, rules::MAX_RELIEF_ID)?;
    let source = required("source", &p.source, rules::MAX_SOURCE)?;
    if store::by_key(conn, &source, &relief_id, false).await?.is_some() {
        return Ok(());
    }
    let kind = match p.kind.as_str() {
        RECONSIDERATION => RECONSIDERATION,
        LITIGATION => LITIGATION,
        _ => return Err(Error::invalid("kind", format!("{RECONSIDERATION} or {LITIGATION}"))),
    };
    let case_id = case_of(event, &p.case_id)?;
    let file = file_of(conn, case_id).await?.ok_or_else(|| Error::Unavailable(format!("supervision.relief_marked: the file of case {case_id} is not here yet")))?;
    let received_on = parse_date("received_on", p.received_on.as_ref())?.ok_or_else(|| Error::invalid("received_on", "is required"))?;
    let told = Told {
        source,
        relief_id,
        case_id,
        kind,
        body: p.body.clone(),
        summary: String::new(),
        applied_on: None,
        received_on,
        by: event.actor.as_ref().map(|a| a.officer_id.clone()).filter(|a| !a.is_empty()).unwrap_or_else(|| crate::SERVICE.into()),
        by_organ: event.organ.clone(),
        actor: None,
    };
    mark(state, conn, &file, &told, cst_date(at), Announce::Replayed(event_id), now).await?;
    Ok(())
}

/// `relief.*` events from outside systems, and supervision's own relief
/// events (a rebuild writes their rows). A bad event fails with its reason
/// (and reaches the dead letters); one about a case or relief not known yet waits.
pub async fn on_event(state: &State, conn: &mut PgConnection, event: &Event, id: Uuid) -> Result<(), Error> {
    match (event.r#type.as_str(), &event.payload) {
        ("relief.application_received", Some(Payload::ReliefApplicationReceived(p))) => {
            let t = Telling { relief_id: &p.relief_id, case_id: &p.case_id, body: &p.body, received_on: p.received_on.as_ref(), applied_on: p.applied_on.as_ref(), source: &p.source, summary: &p.summary };
            told_by_event(state, conn, event, id, RECONSIDERATION, t).await
        }
        ("relief.lawsuit_filed", Some(Payload::ReliefLawsuitFiled(p))) => {
            let t = Telling { relief_id: &p.relief_id, case_id: &p.case_id, body: &p.body, received_on: p.received_on.as_ref(), applied_on: None, source: &p.source, summary: &p.summary };
            told_by_event(state, conn, event, id, LITIGATION, t).await
        }
        ("relief.decided", Some(Payload::ReliefDecided(p))) => decided_by_event(state, conn, event, id, p).await,
        (t, _) if t.starts_with("relief.") => Err(Error::invalid("type", format!("{t} is not a relief event this platform takes (relief.application_received, relief.lawsuit_filed, relief.decided, each with its payload)"))),
        ("supervision.relief_marked", Some(Payload::ReliefMarked(p))) => replay_marked(state, conn, event, id, p).await,
        ("supervision.relief_reply_overdue", Some(Payload::ReliefReplyOverdue(p))) => {
            let Ok(case_id) = Uuid::parse_str(&p.case_id) else { return Ok(()) };
            // The relief of this case and id (its source is not in the payload).
            let found: Option<Uuid> = sqlx::query_scalar("SELECT id FROM reliefs WHERE case_id = $1 AND relief_id = $2 ORDER BY marked_at LIMIT 1").bind(case_id).bind(&p.relief_id).fetch_optional(&mut *conn).await?;
            let Some(relief) = found else { return Err(Error::Unavailable(format!("relief {:?} of case {case_id} is not here yet", p.relief_id))) };
            let r = store::get(conn, relief).await?.ok_or_else(|| Error::Internal("relief vanished".into()))?;
            if r.overdue_at.is_none() {
                let at = from_timestamp(event.occurred_at.as_ref()).unwrap_or_else(|| state.clock.now());
                store::set_overdue(conn, r.id, at).await?;
                let (what, reply) = kind_text(&r.kind);
                timeline(conn, &r, id, &event.r#type, crate::SERVICE, at, format!("{what}{reply}超过期限（{}）", r.reply_due), Some((r.reply_due, Some(false)))).await?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Timers of kind `supervision.relief*`: the reply overdue, once, if the
/// relief is still undecided and no reply was recorded.
pub async fn fire(state: &State, conn: &mut PgConnection, timer: &Timer) -> Result<(), Error> {
    if timer.kind != OVERDUE_TIMER {
        return Err(Error::Internal(format!("no relief timer {}", timer.kind)));
    }
    let id = Uuid::parse_str(&timer.key).map_err(|e| Error::Internal(format!("relief timer key {:?}: {e}", timer.key)))?;
    let Some(r) = store::get(conn, id).await? else { return Ok(()) };
    if r.outcome.is_some() || r.replied_on.is_some() || r.overdue_at.is_some() {
        return Ok(());
    }
    let now = state.clock.now();
    if !store::set_overdue(conn, r.id, now).await? {
        return Ok(());
    }
    let payload = Payload::ReliefReplyOverdue(ev::ReliefReplyOverdue { case_id: r.case_id.to_string(), relief_id: r.relief_id.clone(), kind: r.kind.clone(), reply_due: Some(date(r.reply_due)) });
    let event_id = publish(state, conn, "supervision.relief_reply_overdue", &r, None, Some(timer.id), payload, now).await?;
    let (what, reply) = kind_text(&r.kind);
    timeline(conn, &r, event_id, "supervision.relief_reply_overdue", crate::SERVICE, now, format!("{what}{reply}超过期限（{}）", r.reply_due), Some((r.reply_due, Some(false)))).await?;
    let mut after = r.clone();
    after.overdue_at = Some(now);
    audit::append(
        conn,
        &AuditEntry { actor_id: crate::SERVICE, actor_organ: &r.organ, action: "relief.reply_overdue", subject: &format!("relief/{}", r.id), before: Some(&audit_view(&r)), after: Some(&audit_view(&after)), at: now },
    )
    .await?;
    Ok(())
}
