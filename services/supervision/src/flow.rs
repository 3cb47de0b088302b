//! Supervision's changes to its own read model, each in the caller's
//! transaction with its event and audit row.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_platform::audit::{self, AuditEntry, By};
use yuetan_platform::fields::{date, end_of_cst_day};
use yuetan_platform::outbox::NewEvent;
use yuetan_platform::{timers, Error};
use yuetan_proto::events::{self as ev, event::Payload};

pub mod complaints;
pub mod files;
pub mod ratings;
pub mod rollup;
pub mod sampling;

use crate::domain::{self, Colour};
use crate::store::{self, CardRow};
use crate::State;

/// A card turns a colour; the key is `<card id>/<colour>`.
pub const CARD_TIMER: &str = "supervision.card";
pub const CLUE_VERIFICATION: &str = "clue_verification";
const BY: By<'static> = By::Service(crate::SERVICE);

/// The start of a day in China Standard Time.
fn start_of_cst_day(day: NaiveDate) -> DateTime<Utc> {
    end_of_cst_day(day - Duration::days(1))
}

fn audit_card(c: &CardRow) -> serde_json::Value {
    json!({ "card_id": c.id, "step": c.step, "subject_id": c.subject_id, "colour": c.colour, "closed": c.closed, "deadline": c.deadline })
}

impl State {
    /// Opens a card (green, or already yellow) with its yellow and red timers.
    #[allow(clippy::too_many_arguments)]
    pub async fn open_card(&self, conn: &mut PgConnection, step: &str, subject_id: &str, division: &str, organ: &str, section: &str, opened_on: NaiveDate, deadline: NaiveDate, now: DateTime<Utc>) -> Result<(), Error> {
        let calendar = self.calendar.current();
        let colour = domain::colour(&calendar, deadline, opened_on, self.yellow_days).map_err(Error::Internal)?;
        let card = CardRow {
            id: Uuid::now_v7(),
            step: step.into(),
            subject_id: subject_id.into(),
            case_id: None,
            division: division.into(),
            organ: organ.into(),
            section: section.into(),
            opened_on,
            deadline,
            colour: colour.as_str().into(),
            closed: false,
            changed_at: now,
            met: None,
        };
        if !store::insert_card(conn, &card).await? {
            return Ok(());
        }
        let (yellow, red) = domain::changes(&calendar, opened_on, deadline, self.yellow_days).map_err(Error::Internal)?;
        if let Some(day) = yellow {
            timers::schedule(conn, CARD_TIMER, &format!("{}/yellow", card.id), start_of_cst_day(day), &json!({ "step": step })).await?;
        }
        timers::schedule(conn, CARD_TIMER, &format!("{}/red", card.id), start_of_cst_day(red), &json!({ "step": step })).await?;
        audit::append(conn, &AuditEntry { actor_id: BY.id(), actor_organ: organ, action: "card.open", subject: &format!("card/{}", card.id), before: None, after: Some(&audit_card(&card)), at: now }).await?;
        Ok(())
    }

    /// The step was done: the card closes with the colour it had; its timers go.
    pub async fn close_card(&self, conn: &mut PgConnection, step: &str, subject_id: &str, case_id: Option<Uuid>, now: DateTime<Utc>) -> Result<(), Error> {
        let Some(mut card) = store::card_of(conn, step, subject_id).await? else { return Ok(()) };
        if card.closed {
            return Ok(());
        }
        let before = audit_card(&card);
        card.closed = true;
        card.case_id = case_id.or(card.case_id);
        card.changed_at = now;
        store::update_card(conn, &card).await?;
        for colour in ["yellow", "red"] {
            timers::cancel(conn, CARD_TIMER, &format!("{}/{colour}", card.id), now).await?;
        }
        audit::append(conn, &AuditEntry { actor_id: BY.id(), actor_organ: &card.organ, action: "card.close", subject: &format!("card/{}", card.id), before: Some(&before), after: Some(&audit_card(&card)), at: now })
            .await?;
        Ok(())
    }

    /// Timer: the card turns `to` (never back), with `supervision.card_changed`.
    pub async fn turn_card(&self, conn: &mut PgConnection, mut card: CardRow, to: Colour, timer_id: Uuid, now: DateTime<Utc>) -> Result<(), Error> {
        let from = match card.colour.as_str() {
            "red" => Colour::Red,
            "yellow" => Colour::Yellow,
            _ => Colour::Green,
        };
        if card.closed || from >= to {
            return Ok(());
        }
        let before = audit_card(&card);
        card.colour = to.as_str().into();
        card.changed_at = now;
        store::update_card(conn, &card).await?;
        let payload = Payload::CardChanged(ev::CardChanged {
            card_id: card.id.to_string(),
            step: card.step.clone(),
            subject_id: card.subject_id.clone(),
            section: card.section.clone(),
            colour: to.as_str().into(),
            previous: from.as_str().into(),
            deadline: Some(date(card.deadline)),
        });
        let event = NewEvent {
            event_type: "supervision.card_changed".into(),
            case_id: card.case_id,
            case_version: 0,
            jurisdiction: card.division.clone(),
            organ: card.organ.clone(),
            actor: BY.proto(),
            correlation_id: None,
            causation_id: Some(timer_id.to_string()),
            payload,
        };
        self.outbox.write(conn, event, now).await?;
        audit::append(conn, &AuditEntry { actor_id: BY.id(), actor_organ: &card.organ, action: "card.change", subject: &format!("card/{}", card.id), before: Some(&before), after: Some(&audit_card(&card)), at: now })
            .await?;
        Ok(())
    }
}
