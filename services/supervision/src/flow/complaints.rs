//! Complaints (R-SUP-6): every change of a complaint in the caller's
//! transaction with its event and audit row, and the rebuild of the rows
//! from supervision's own events.
//!
//! - Registered: the row, and the deadline card of the investigation's
//!   start (step `complaint_investigation`, subject the complaint id, due 3
//!   working days after registration), which the card timers turn yellow
//!   and red.
//! - Investigation started: the card closes (met or not).
//! - Decided: the board counts the decision (and an upheld one, which
//!   lowers the section score) in the month of the decision.
//! - Appealed: by the officer complained of, within 5 working days.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_platform::audit::{self, AuditEntry};
use yuetan_platform::fields::{date, parse_date};
use yuetan_platform::timers::Timer;
use yuetan_platform::{Actor, Error};
use yuetan_proto::events::{self as ev, event::Payload, Event};

use crate::domain::complaints::{self as rules, APPEALED, DECIDED, INVESTIGATING, INVESTIGATION_STEP, REGISTERED, UPHELD};
use crate::domain::{self, metric, Colour};
use crate::flow::NewCard;
use crate::store::complaints::{self as store, ComplaintRow};
use crate::store::{add_tally, month_of};
use crate::State;

/// What the audit log keeps of a complaint: no description.
fn audit_view(c: &ComplaintRow) -> serde_json::Value {
    json!({
        "complaint_id": c.id, "officer_id": c.officer_id, "case_id": c.case_id, "kind": c.kind, "status": c.status,
        "division": c.division, "section": c.section, "investigation_deadline": c.investigation_deadline,
        "started_on": c.started_on, "decision": c.decision, "decided_on": c.decided_on, "appeal_deadline": c.appeal_deadline,
        "appealed_on": c.appealed_on,
    })
}

async fn audit(conn: &mut PgConnection, actor: &Actor, action: &str, before: Option<&ComplaintRow>, after: &ComplaintRow, now: DateTime<Utc>) -> Result<(), Error> {
    let before = before.map(audit_view);
    audit::append(
        conn,
        &AuditEntry { actor_id: &actor.officer_id, actor_organ: &actor.organ, action, subject: &format!("complaint/{}", after.id), before: before.as_ref(), after: Some(&audit_view(after)), at: now },
    )
    .await?;
    Ok(())
}

async fn open_investigation_card(state: &State, conn: &mut PgConnection, c: &ComplaintRow, now: DateTime<Utc>) -> Result<(), Error> {
    let subject = c.id.to_string();
    let card = NewCard {
        step: INVESTIGATION_STEP,
        subject_id: &subject,
        case_id: c.case_id,
        division: &c.division,
        organ: &c.organ,
        section: &c.section,
        opened_on: c.registered_on,
        deadline: c.investigation_deadline,
    };
    state.open_card(conn, card, now).await
}

fn registered_payload(c: &ComplaintRow) -> Payload {
    Payload::ComplaintRegistered(ev::ComplaintRegistered {
        complaint_id: c.id.to_string(),
        officer_id: c.officer_id.clone(),
        case_id: c.case_id.map(|x| x.to_string()).unwrap_or_default(),
        kind: c.kind.clone(),
        description_sealed: c.description_sealed.clone(),
        source: c.source.clone(),
        section: c.section.clone(),
        registered_on: Some(date(c.registered_on)),
        investigation_deadline: Some(date(c.investigation_deadline)),
        registered_by: c.registered_by.clone(),
    })
}

/// RegisterComplaint: the row (status registered), the investigation's card,
/// `supervision.complaint_registered` and the audit row.
pub async fn register(state: &State, conn: &mut PgConnection, actor: &Actor, c: &ComplaintRow, now: DateTime<Utc>) -> Result<(), Error> {
    if !store::insert(conn, c).await? {
        return Err(Error::AlreadyExists(format!("complaint {}", c.id)));
    }
    open_investigation_card(state, conn, c, now).await?;
    state.publish(conn, "supervision.complaint_registered", None, &c.division, &c.organ, None, registered_payload(c), now).await?;
    audit(conn, actor, "complaint.register", None, c, now).await
}

/// StartInvestigation on `today`: status investigating, the card closes
/// (met if by the deadline).
pub async fn start(state: &State, conn: &mut PgConnection, actor: &Actor, before: &ComplaintRow, today: chrono::NaiveDate, now: DateTime<Utc>) -> Result<ComplaintRow, Error> {
    let mut c = before.clone();
    c.status = INVESTIGATING.into();
    c.started_on = Some(today);
    store::update(conn, &c).await?;
    state.close_card(conn, INVESTIGATION_STEP, &c.id.to_string(), c.case_id, today, now).await?;
    let payload = Payload::ComplaintInvestigationStarted(ev::ComplaintInvestigationStarted { complaint_id: c.id.to_string(), started_by: actor.officer_id.clone(), started_on: Some(date(today)) });
    state.publish(conn, "supervision.complaint_investigation_started", None, &c.division, &c.organ, None, payload, now).await?;
    audit(conn, actor, "complaint.start_investigation", Some(before), &c, now).await?;
    Ok(c)
}

async fn count_decision(conn: &mut PgConnection, c: &ComplaintRow) -> Result<(), Error> {
    let Some(day) = c.decided_on else { return Ok(()) };
    let month = month_of(day);
    add_tally(conn, &c.division, &c.section, month, metric::COMPLAINTS_DECIDED, 1).await?;
    if c.decision.as_deref() == Some(UPHELD) {
        add_tally(conn, &c.division, &c.section, month, metric::COMPLAINTS_UPHELD, 1).await?;
    }
    Ok(())
}

/// DecideComplaint: status decided with the appeal deadline; the board
/// counts it in the decision's month (an upheld one lowers the section score).
pub async fn decide(state: &State, conn: &mut PgConnection, actor: &Actor, before: &ComplaintRow, decided: ComplaintRow, now: DateTime<Utc>) -> Result<ComplaintRow, Error> {
    let c = ComplaintRow { status: DECIDED.into(), ..decided };
    store::update(conn, &c).await?;
    count_decision(conn, &c).await?;
    let payload = Payload::ComplaintDecided(ev::ComplaintDecided {
        complaint_id: c.id.to_string(),
        officer_id: c.officer_id.clone(),
        section: c.section.clone(),
        decision: c.decision.clone().unwrap_or_default(),
        reasons: c.reasons.clone().unwrap_or_default(),
        decided_by: c.decided_by.clone().unwrap_or_default(),
        decided_on: c.decided_on.map(date),
        appeal_deadline: c.appeal_deadline.map(date),
    });
    state.publish(conn, "supervision.complaint_decided", None, &c.division, &c.organ, None, payload, now).await?;
    audit(conn, actor, "complaint.decide", Some(before), &c, now).await?;
    Ok(c)
}

/// AppealComplaint: status appealed.
pub async fn appeal(state: &State, conn: &mut PgConnection, actor: &Actor, before: &ComplaintRow, reasons: String, today: chrono::NaiveDate, now: DateTime<Utc>) -> Result<ComplaintRow, Error> {
    let mut c = before.clone();
    c.status = APPEALED.into();
    c.appeal_reasons = Some(reasons);
    c.appealed_on = Some(today);
    store::update(conn, &c).await?;
    let payload = Payload::ComplaintAppealed(ev::ComplaintAppealed { complaint_id: c.id.to_string(), reasons: c.appeal_reasons.clone().unwrap_or_default(), appealed_on: Some(date(today)) });
    state.publish(conn, "supervision.complaint_appealed", None, &c.division, &c.organ, None, payload, now).await?;
    audit(conn, actor, "complaint.appeal", Some(before), &c, now).await?;
    Ok(c)
}

fn uuid(field: &str, value: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(value).map_err(|_| Error::Internal(format!("{field} {value:?} is not an id")))
}

fn day(field: &str, value: Option<&yuetan_proto::common::Date>) -> Result<chrono::NaiveDate, Error> {
    parse_date(field, value).map_err(|e| Error::Internal(e.to_string()))?.ok_or_else(|| Error::Internal(format!("{field} missing")))
}

/// The status the complaint's facts give (order-independent).
fn settled(c: &ComplaintRow) -> &'static str {
    rules::status_of(c.started_on.is_some(), c.decided_on.is_some(), c.appealed_on.is_some())
}

/// Rebuild: turns the complaint's open investigation card to the colour its
/// timers gave it by `day`, the day it closed (never back), with its gauges
/// and the section's red run, and no event: a `card_changed` applied after
/// the card closed changes nothing.
async fn catch_up_card(state: &State, conn: &mut PgConnection, c: &ComplaintRow, day: chrono::NaiveDate) -> Result<(), Error> {
    let Some(card) = crate::store::card_of(conn, INVESTIGATION_STEP, &c.id.to_string()).await? else { return Ok(()) };
    let to = domain::colour(&state.calendar.current(), card.deadline, day, state.settings.yellow_days).map_err(Error::Internal)?;
    if card.closed {
        return Ok(());
    }
    // Turned as its timer would have: at the start of the day after the deadline for red.
    let at = if to == Colour::Red { crate::flow::start_of_cst_day(card.deadline.succ_opt().unwrap_or(card.deadline)) } else { state.clock.now() };
    state.replay_turn(conn, card, to, at).await
}

async fn card_is_there(conn: &mut PgConnection, complaint_id: &str) -> Result<(), Error> {
    match crate::store::card_of(conn, INVESTIGATION_STEP, complaint_id).await? {
        Some(_) => Ok(()),
        None => Err(Error::Unavailable(format!("card_changed of complaint {complaint_id}: the complaint is not registered yet"))),
    }
}

/// The complaint an event names, locked; an event about one not there yet
/// fails (and is retried): its registration comes first.
async fn known(conn: &mut PgConnection, id: &str) -> Result<ComplaintRow, Error> {
    let id = uuid("complaint_id", id)?;
    store::get(conn, id, true).await?.ok_or_else(|| Error::Unavailable(format!("complaint {id} is not registered yet")))
}

/// The PII vault context of the portal's complaint (case id and description).
pub const PARTY_CONTEXT: &str = "portal.complaint";
/// A complaint the party made through the portal.
pub const SOURCE_PARTY: &str = "party";

/// Applies supervision's own complaint events to the read model: live the
/// transaction that published them wrote the row already and this changes
/// nothing; in a rebuild it writes the row, the card and the tallies (and
/// publishes nothing).
pub async fn on_event(state: &State, conn: &mut PgConnection, event: &Event, event_id: Uuid) -> Result<(), Error> {
    let now = state.clock.now();
    match &event.payload {
        Some(Payload::ComplaintRegistered(p)) if event.r#type == "supervision.complaint_registered" => {
            let c = ComplaintRow {
                id: uuid("complaint_id", &p.complaint_id)?,
                division: event.jurisdiction.clone(),
                organ: event.organ.clone(),
                section: p.section.clone(),
                officer_id: p.officer_id.clone(),
                case_id: if p.case_id.is_empty() { None } else { Some(uuid("case_id", &p.case_id)?) },
                kind: p.kind.clone(),
                description_sealed: p.description_sealed.clone(),
                source: p.source.clone(),
                status: REGISTERED.into(),
                registered_by: p.registered_by.clone(),
                registered_on: day("registered_on", p.registered_on.as_ref())?,
                investigation_deadline: day("investigation_deadline", p.investigation_deadline.as_ref())?,
                started_on: None,
                decision: None,
                reasons: None,
                decided_by: None,
                decided_on: None,
                appeal_deadline: None,
                appeal_reasons: None,
                appealed_on: None,
            };
            if store::insert(conn, &c).await? {
                open_investigation_card(state, conn, &c, now).await?;
            }
        }
        Some(Payload::ComplaintInvestigationStarted(p)) => {
            let mut c = known(conn, &p.complaint_id).await?;
            if c.started_on.is_some() {
                return Ok(());
            }
            let today = day("started_on", p.started_on.as_ref())?;
            c.started_on = Some(today);
            c.status = settled(&c).into();
            store::update(conn, &c).await?;
            // The card's colour on the day it closed (its timers turn it at the
            // start of each day), whether or not its card_changed came first.
            catch_up_card(state, conn, &c, today).await?;
            state.close_card(conn, INVESTIGATION_STEP, &c.id.to_string(), c.case_id, today, now).await?;
        }
        Some(Payload::ComplaintDecided(p)) => {
            let mut c = known(conn, &p.complaint_id).await?;
            if c.decided_on.is_some() {
                return Ok(());
            }
            c.decision = Some(p.decision.clone());
            c.reasons = Some(p.reasons.clone());
            c.decided_by = Some(p.decided_by.clone());
            c.decided_on = Some(day("decided_on", p.decided_on.as_ref())?);
            c.appeal_deadline = Some(day("appeal_deadline", p.appeal_deadline.as_ref())?);
            c.status = settled(&c).into();
            store::update(conn, &c).await?;
            count_decision(conn, &c).await?;
        }
        Some(Payload::ComplaintAppealed(p)) => {
            let mut c = known(conn, &p.complaint_id).await?;
            if c.appealed_on.is_some() {
                return Ok(());
            }
            c.appeal_reasons = Some(p.reasons.clone());
            c.appealed_on = Some(day("appealed_on", p.appealed_on.as_ref())?);
            c.status = settled(&c).into();
            store::update(conn, &c).await?;
        }
        // The party's complaint through its rating link (R-SUP-6): registered
        // with source "party", its id the portal event's; the officer is named
        // in the description (officer_id empty until the inspectors' decision).
        Some(Payload::PortalComplaintSubmitted(p)) if event.r#type == "portal.complaint_submitted" => {
            if store::get(conn, event_id, false).await?.is_some() {
                return Ok(());
            }
            let case_id = uuid("case_id", &state.vault.open(&p.case_sealed, PARTY_CONTEXT)?)?;
            let file = crate::store::file_of_case(conn, case_id, false).await?.ok_or_else(|| Error::Unavailable(format!("the file of case {case_id} is not known yet")))?;
            let description = state.vault.open(&p.description_sealed, PARTY_CONTEXT)?;
            if !domain::complaints::is_kind(&p.kind) {
                return Err(Error::invalid("kind", "one of the complaint kinds"));
            }
            let at = yuetan_platform::fields::from_timestamp(p.submitted_at.as_ref()).unwrap_or(now);
            let registered_on = yuetan_platform::fields::cst_date(at);
            let c = ComplaintRow {
                id: event_id,
                division: file.division.clone(),
                organ: file.organ.clone(),
                section: file.section.clone(),
                officer_id: String::new(),
                case_id: Some(case_id),
                kind: p.kind.clone(),
                description_sealed: state.vault.seal(&description, crate::api::complaints::DESCRIPTION_CONTEXT)?,
                source: SOURCE_PARTY.into(),
                status: REGISTERED.into(),
                registered_by: SOURCE_PARTY.into(),
                registered_on,
                investigation_deadline: rules::investigation_deadline(&state.calendar.current(), registered_on).map_err(Error::Internal)?,
                started_on: None,
                decision: None,
                reasons: None,
                decided_by: None,
                decided_on: None,
                appeal_deadline: None,
                appeal_reasons: None,
                appealed_on: None,
            };
            store::insert(conn, &c).await?;
            open_investigation_card(state, conn, &c, now).await?;
            state.publish(conn, "supervision.complaint_registered", None, &c.division, &c.organ, Some(event_id), registered_payload(&c), now).await?;
            audit::append(
                conn,
                &AuditEntry { actor_id: SOURCE_PARTY, actor_organ: "", action: "complaint.register", subject: &format!("complaint/{}", c.id), before: None, after: Some(&audit_view(&c)), at: now },
            )
            .await?;
        }
        // A rebuild applies supervision's own events in parallel lanes: a
        // change of a card whose complaint is not there yet waits for it
        // (the consumer retries; by then the card is there to turn).
        Some(Payload::CardChanged(cc)) if cc.step == INVESTIGATION_STEP => card_is_there(conn, &cc.subject_id).await?,
        _ => {}
    }
    Ok(())
}

/// Timers of kind `supervision.complaint…`: none (the investigation's card
/// turns yellow and red by the card timers).
pub async fn fire(_state: &State, _conn: &mut PgConnection, timer: &Timer) -> Result<(), Error> {
    Err(Error::Internal(format!("no complaint timer {}", timer.kind)))
}
