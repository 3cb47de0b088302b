//! Supervision's changes to its own read model, each in the caller's
//! transaction with its event and audit row.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_platform::audit::{self, AuditEntry, By};
use yuetan_platform::fields::{cst_date, date, end_of_cst_day};
use yuetan_platform::outbox::NewEvent;
use yuetan_platform::{timers, Error};
use yuetan_proto::events::{self as ev, event::Payload};

pub mod archive;
pub mod complaints;
pub mod files;
pub mod ratings;
pub mod relief;
pub mod rollup;
pub mod sampling;

use crate::domain::{self, metric, Colour};
use crate::store::{self, CardRow};
use crate::State;

/// A card turns a colour; the key is `<card id>/<colour>/<deadline>` (a
/// moved deadline gets new timers, whatever fired before).
pub const CARD_TIMER: &str = "supervision.card";

pub fn timer_key(card: Uuid, colour: &str, deadline: NaiveDate) -> String {
    format!("{card}/{colour}/{deadline}")
}
const BY: By<'static> = By::Service(crate::SERVICE);

/// The start of a day in China Standard Time.
pub(crate) fn start_of_cst_day(day: NaiveDate) -> DateTime<Utc> {
    end_of_cst_day(day - Duration::days(1))
}

/// A card to open: the step with a time limit, its subject and where it counts.
#[derive(Debug, Clone)]
pub struct NewCard<'a> {
    pub step: &'a str,
    pub subject_id: &'a str,
    pub case_id: Option<Uuid>,
    pub division: &'a str,
    pub organ: &'a str,
    pub section: &'a str,
    pub opened_on: NaiveDate,
    pub deadline: NaiveDate,
}

/// A card row's colour (a row holds only the three names).
pub(crate) fn colour_of(c: &str) -> Colour {
    Colour::from_name(c).unwrap_or(Colour::Green)
}

fn audit_card(c: &CardRow) -> serde_json::Value {
    json!({ "card_id": c.id, "step": c.step, "subject_id": c.subject_id, "colour": c.colour, "closed": c.closed, "deadline": c.deadline })
}

impl State {
    /// Opens a card (green, or already yellow or red as of the day it opens)
    /// with its yellow and red timers. A second open of the same step and
    /// subject changes nothing.
    pub async fn open_card(&self, conn: &mut PgConnection, new: NewCard<'_>, now: DateTime<Utc>) -> Result<(), Error> {
        let calendar = self.calendar.current();
        let colour = domain::colour(&calendar, new.deadline, new.opened_on, self.settings.yellow_days).map_err(Error::Internal)?;
        let card = CardRow {
            id: Uuid::now_v7(),
            step: new.step.into(),
            subject_id: new.subject_id.into(),
            case_id: new.case_id,
            division: new.division.into(),
            organ: new.organ.into(),
            section: new.section.into(),
            opened_on: new.opened_on,
            deadline: new.deadline,
            colour: colour.as_str().into(),
            closed: false,
            changed_at: now,
            met: None,
        };
        if !store::insert_card(conn, &card).await? {
            return Ok(());
        }
        store::add_tally(conn, &card.division, &card.section, store::live(), &metric::card(&card.colour), 1).await?;
        let (yellow, red) = domain::changes(&calendar, new.opened_on, new.deadline, self.settings.yellow_days).map_err(Error::Internal)?;
        if let Some(day) = yellow {
            timers::schedule(conn, CARD_TIMER, &timer_key(card.id, "yellow", new.deadline), start_of_cst_day(day), &json!({ "step": new.step })).await?;
        }
        if colour != Colour::Red {
            timers::schedule(conn, CARD_TIMER, &timer_key(card.id, "red", new.deadline), start_of_cst_day(red), &json!({ "step": new.step })).await?;
        }
        audit::append(conn, &AuditEntry { actor_id: BY.id(), actor_organ: new.organ, action: "card.open", subject: &format!("card/{}", card.id), before: None, after: Some(&audit_card(&card)), at: now }).await?;
        Ok(())
    }

    /// The step was done on `done_on`: the card closes with the colour it
    /// had; its timers go. Returns its deadline and whether it was met
    /// (`None`: no such open card).
    pub async fn close_card(&self, conn: &mut PgConnection, step: &str, subject_id: &str, case_id: Option<Uuid>, done_on: NaiveDate, now: DateTime<Utc>) -> Result<Option<(NaiveDate, bool)>, Error> {
        let Some(card) = store::card_of(conn, step, subject_id).await? else { return Ok(None) };
        self.close(conn, card, case_id, done_on, now).await
    }

    /// [`State::close_card`] of a card already read (locked).
    pub async fn close(&self, conn: &mut PgConnection, mut card: CardRow, case_id: Option<Uuid>, done_on: NaiveDate, now: DateTime<Utc>) -> Result<Option<(NaiveDate, bool)>, Error> {
        if card.closed {
            return Ok(None);
        }
        let before = audit_card(&card);
        let met = done_on <= card.deadline;
        card.closed = true;
        card.met = Some(met);
        card.case_id = case_id.or(card.case_id);
        card.changed_at = now;
        store::update_card(conn, &card).await?;
        store::add_tally(conn, &card.division, &card.section, store::live(), &metric::card(&card.colour), -1).await?;
        for colour in ["yellow", "red"] {
            timers::cancel(conn, CARD_TIMER, &timer_key(card.id, colour, card.deadline), now).await?;
        }
        if met {
            store::reset_red_run(conn, &card.division, &card.section, done_on.year()).await?;
        }
        audit::append(conn, &AuditEntry { actor_id: BY.id(), actor_organ: &card.organ, action: "card.close", subject: &format!("card/{}", card.id), before: Some(&before), after: Some(&audit_card(&card)), at: now })
            .await?;
        Ok(Some((card.deadline, met)))
    }

    /// Open cards of a case and step (the follow-up card, whose subject changes).
    pub async fn close_open_cards_of_case(&self, conn: &mut PgConnection, step: &str, case_id: Uuid, done_on: NaiveDate, now: DateTime<Utc>) -> Result<Option<(NaiveDate, bool)>, Error> {
        let mut last = None;
        for card in store::open_cards_of_case(conn, step, case_id).await? {
            last = self.close(conn, card, Some(case_id), done_on, now).await?.or(last);
        }
        Ok(last)
    }

    /// Timer: the card turns `to` (never back), with `supervision.card_changed`;
    /// a third red in a row for its section costs the award
    /// (`supervision.award_eligibility_lost`, once a year).
    pub async fn turn_card(&self, conn: &mut PgConnection, mut card: CardRow, to: Colour, timer_id: Uuid, now: DateTime<Utc>) -> Result<(), Error> {
        let from = colour_of(&card.colour);
        if card.closed || from >= to {
            return Ok(());
        }
        let before = audit_card(&card);
        card.colour = to.as_str().into();
        card.changed_at = now;
        store::update_card(conn, &card).await?;
        store::add_tally(conn, &card.division, &card.section, store::live(), &metric::card(from.as_str()), -1).await?;
        store::add_tally(conn, &card.division, &card.section, store::live(), &metric::card(to.as_str()), 1).await?;
        let payload = Payload::CardChanged(ev::CardChanged {
            card_id: card.id.to_string(),
            step: card.step.clone(),
            subject_id: card.subject_id.clone(),
            section: card.section.clone(),
            colour: to.as_str().into(),
            previous: from.as_str().into(),
            deadline: Some(date(card.deadline)),
        });
        self.publish(conn, "supervision.card_changed", card.case_id, &card.division, &card.organ, Some(timer_id), payload, now).await?;
        audit::append(conn, &AuditEntry { actor_id: BY.id(), actor_organ: &card.organ, action: "card.change", subject: &format!("card/{}", card.id), before: Some(&before), after: Some(&audit_card(&card)), at: now })
            .await?;
        if to == Colour::Red {
            let year = cst_date(now).year();
            let run = store::add_red_run(conn, &card.division, &card.section, year).await?;
            if run >= domain::RED_CARDS_IN_A_ROW as i32 && store::lose_award(conn, &card.division, &card.section, year).await? {
                let payload = Payload::AwardEligibilityLost(ev::AwardEligibilityLost { division: card.division.clone(), section: card.section.clone(), year, card_ids: vec![card.id.to_string()] });
                self.publish(conn, "supervision.award_eligibility_lost", None, &card.division, &card.organ, Some(timer_id), payload, now).await?;
                audit::append(conn, &AuditEntry { actor_id: BY.id(), actor_organ: &card.organ, action: "section.award_lost", subject: &format!("section/{}/{}", card.division, card.section), before: None, after: Some(&json!({ "year": year, "red_run": run })), at: now })
                    .await?;
            }
        }
        Ok(())
    }

    /// An approved extension moves an open card's deadline: its colour as
    /// of `today` (it may turn back to green), its timers moved.
    pub async fn move_card_deadline(&self, conn: &mut PgConnection, step: &str, subject_id: &str, deadline: NaiveDate, today: NaiveDate, now: DateTime<Utc>) -> Result<(), Error> {
        let Some(card) = store::card_of(conn, step, subject_id).await? else { return Ok(()) };
        if card.closed || card.deadline == deadline {
            return Ok(());
        }
        let calendar = self.calendar.current();
        let colour = domain::colour(&calendar, deadline, today, self.settings.yellow_days).map_err(Error::Internal)?;
        store::set_card_deadline(conn, card.id, deadline, colour.as_str(), now).await?;
        if card.colour != colour.as_str() {
            store::add_tally(conn, &card.division, &card.section, store::live(), &metric::card(&card.colour), -1).await?;
            store::add_tally(conn, &card.division, &card.section, store::live(), &metric::card(colour.as_str()), 1).await?;
        }
        for c in ["yellow", "red"] {
            timers::cancel(conn, CARD_TIMER, &timer_key(card.id, c, card.deadline), now).await?;
        }
        let (yellow, red) = domain::changes(&calendar, today, deadline, self.settings.yellow_days).map_err(Error::Internal)?;
        if let Some(day) = yellow {
            timers::schedule(conn, CARD_TIMER, &timer_key(card.id, "yellow", deadline), start_of_cst_day(day), &json!({ "step": step })).await?;
        }
        if colour != Colour::Red {
            timers::schedule(conn, CARD_TIMER, &timer_key(card.id, "red", deadline), start_of_cst_day(red), &json!({ "step": step })).await?;
        }
        let mut after = card.clone();
        after.deadline = deadline;
        after.colour = colour.as_str().into();
        audit::append(conn, &AuditEntry { actor_id: BY.id(), actor_organ: &card.organ, action: "card.extend", subject: &format!("card/{}", card.id), before: Some(&audit_card(&card)), after: Some(&audit_card(&after)), at: now })
            .await?;
        Ok(())
    }

    /// Writes one of supervision's events to the outbox (in the caller's transaction).
    #[allow(clippy::too_many_arguments)]
    pub async fn publish(&self, conn: &mut PgConnection, event_type: &str, case_id: Option<Uuid>, division: &str, organ: &str, causation: Option<Uuid>, payload: Payload, now: DateTime<Utc>) -> Result<(), Error> {
        self.publish_as(conn, event_type, case_id, division, organ, BY.proto(), causation, payload, now).await.map(|_| ())
    }

    /// [`State::publish`] with the actor who acted (None: nobody named);
    /// returns the event's id.
    #[allow(clippy::too_many_arguments)]
    pub async fn publish_as(&self, conn: &mut PgConnection, event_type: &str, case_id: Option<Uuid>, division: &str, organ: &str, actor: Option<yuetan_proto::common::Actor>, causation: Option<Uuid>, payload: Payload, now: DateTime<Utc>) -> Result<Uuid, Error> {
        let event = NewEvent {
            event_type: event_type.into(),
            case_id,
            case_version: 0,
            jurisdiction: division.into(),
            organ: organ.into(),
            actor,
            correlation_id: None,
            causation_id: causation.map(|c| c.to_string()),
            payload,
        };
        let written = self.outbox.write(conn, event, now).await?;
        Uuid::parse_str(&written.id).map_err(|e| Error::Internal(format!("outbox event id: {e}")))
    }
}
