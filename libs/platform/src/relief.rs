//! The relief mark every service shows on its case reads (R-RELIEF-2).
//!
//! Supervision keeps the reliefs (reconsideration applications and
//! lawsuits, told by outside systems) and announces each one with
//! `supervision.relief_marked`; the outside system announces the outcome
//! with `relief.decided`. A service that shows cases keeps a copy of the
//! marks in its own schema (no service reads another's), fed by its
//! consumer, and sets three fields on its reads from them:
//!
//! - `under_relief`: some relief about the case is undecided;
//! - `relief_reply_due`: the organ's reply (or defence) is due that day,
//!   the earliest among the undecided reliefs;
//! - `relief_outcome`: the outcome of the last decided relief (upheld,
//!   revoked, changed, confirmed_unlawful, settled), empty if none.
//!
//! The table `relief_marks` is a platform table (migration 0016), in every
//! service's schema like the inbox and the timers. [`apply`] is what the
//! consumer calls, inside its inbox transaction, for every event it gets:
//! it takes the two relief events and says whether it did. Both are
//! idempotent upserts (a relief delivered twice is marked once), neither
//! depends on the other's arrival first (a decision that overtakes its mark
//! is kept, and the later mark does not undo it), and both are outside any
//! case's `case_version` sequence, so the ordering guard lets them through
//! whatever source a consumer orders.

use std::collections::HashMap;

use chrono::NaiveDate;
use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_proto::common::Date;
use yuetan_proto::events::event::Payload;
use yuetan_proto::events::Event;

use crate::error::Error;
use crate::fields;

/// Supervision's announcement of a relief about a case.
pub const MARKED: &str = "supervision.relief_marked";
/// The outside system's outcome of a relief.
pub const DECIDED: &str = "relief.decided";

/// The subject filters a consumer adds to take the relief events of every
/// division (subject grammar: platform `bus::subject`).
pub fn subjects(prefix: &str) -> Vec<String> {
    [MARKED, DECIDED].iter().map(|kind| format!("{prefix}.*.*.*.{kind}")).collect()
}

/// One relief about a case, as the service knows it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ReliefMark {
    pub relief_id: String,
    /// reconsideration, litigation.
    pub kind: String,
    /// The reconsideration organ or the court.
    pub body: String,
    /// `None` while only the decision is known (it overtook the mark).
    pub received_on: Option<NaiveDate>,
    pub reply_due: Option<NaiveDate>,
    /// upheld, revoked, changed, confirmed_unlawful, settled; `None` undecided.
    pub outcome: Option<String>,
    pub decided_on: Option<NaiveDate>,
}

impl ReliefMark {
    /// Marked and not decided: the case is under relief because of it.
    pub fn pending(&self) -> bool {
        self.outcome.is_none() && self.received_on.is_some()
    }
}

/// What a read shows of a case's reliefs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Relief {
    pub under_relief: bool,
    /// The earliest reply due among the undecided reliefs.
    pub reply_due: Option<NaiveDate>,
    /// The outcome of the last decided relief, empty if none.
    pub outcome: String,
}

impl Relief {
    /// The summary of a case's marks.
    pub fn of(marks: &[ReliefMark]) -> Relief {
        let pending = marks.iter().filter(|m| m.pending());
        let last_decided = marks
            .iter()
            .filter(|m| m.outcome.is_some())
            .max_by(|a, b| (a.decided_on, &a.relief_id).cmp(&(b.decided_on, &b.relief_id)));
        Relief {
            under_relief: marks.iter().any(ReliefMark::pending),
            reply_due: pending.filter_map(|m| m.reply_due).min(),
            outcome: last_decided.and_then(|m| m.outcome.clone()).unwrap_or_default(),
        }
    }

    /// The three read fields, in order: `under_relief`, `relief_reply_due`,
    /// `relief_outcome`. A read sets them with one destructuring assignment:
    /// `(case.under_relief, case.relief_reply_due, case.relief_outcome) = relief.fields();`
    pub fn fields(&self) -> (bool, Option<Date>, String) {
        (self.under_relief, self.reply_due.map(fields::date), self.outcome.clone())
    }
}

/// Applies a relief event to the marks; `Ok(false)` for any other event
/// (the caller handles it). Call it in the consumer's inbox transaction.
pub async fn apply(conn: &mut PgConnection, event: &Event) -> Result<bool, Error> {
    match &event.payload {
        Some(Payload::ReliefMarked(marked)) => {
            let case_id = case_of(event, &marked.case_id)?;
            let relief_id = fields::required("relief_id", &marked.relief_id, 200)?;
            let received_on = fields::parse_date("received_on", marked.received_on.as_ref())?
                .ok_or_else(|| Error::invalid("received_on", "is required"))?;
            let reply_due = fields::parse_date("reply_due", marked.reply_due.as_ref())?
                .ok_or_else(|| Error::invalid("reply_due", "is required"))?;
            let kind = fields::optional("kind", &marked.kind, 40)?;
            let body = fields::optional("body", &marked.body, 500)?;
            // A decision already recorded stays (it may have overtaken the mark).
            sqlx::query(
                "INSERT INTO relief_marks (case_id, relief_id, kind, body, received_on, reply_due)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (case_id, relief_id) DO UPDATE
                 SET kind = EXCLUDED.kind, body = EXCLUDED.body,
                     received_on = EXCLUDED.received_on, reply_due = EXCLUDED.reply_due",
            )
            .bind(case_id)
            .bind(relief_id)
            .bind(kind)
            .bind(body)
            .bind(received_on)
            .bind(reply_due)
            .execute(&mut *conn)
            .await?;
            Ok(true)
        }
        Some(Payload::ReliefDecided(decided)) => {
            // Published by an outside system: supervision judges it (and
            // dead-letters what it cannot use); here a decision that names
            // no case or relief is only not shown, rather than stuck in
            // every service's dead letters.
            let usable = case_of(event, &decided.case_id).and_then(|case_id| {
                let relief_id = fields::required("relief_id", &decided.relief_id, 200)?;
                let outcome = fields::required("outcome", &decided.outcome, 40)?;
                let kind = fields::optional("kind", &decided.kind, 40)?;
                let decided_on = fields::parse_date("decided_on", decided.decided_on.as_ref())?;
                Ok((case_id, relief_id, outcome, kind, decided_on))
            });
            let (case_id, relief_id, outcome, kind, decided_on) = match usable {
                Ok(usable) => usable,
                Err(err) => {
                    tracing::warn!(event_id = %event.id, error = %err, "relief.decided not shown on the case");
                    return Ok(true);
                }
            };
            let decided_on = decided_on.or_else(|| fields::from_timestamp(event.occurred_at.as_ref()).map(fields::cst_date));
            sqlx::query(
                "INSERT INTO relief_marks (case_id, relief_id, kind, outcome, decided_on)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (case_id, relief_id) DO UPDATE
                 SET outcome = EXCLUDED.outcome, decided_on = EXCLUDED.decided_on,
                     kind = CASE WHEN relief_marks.kind = '' THEN EXCLUDED.kind ELSE relief_marks.kind END",
            )
            .bind(case_id)
            .bind(relief_id)
            .bind(kind)
            .bind(outcome)
            .bind(decided_on)
            .execute(&mut *conn)
            .await?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// The case of a relief event: the payload's, which must agree with the
/// envelope's when both are given.
fn case_of(event: &Event, payload_case_id: &str) -> Result<Uuid, Error> {
    if !payload_case_id.is_empty() && !event.case_id.is_empty() && payload_case_id != event.case_id {
        return Err(Error::invalid(
            "case_id",
            format!("{}: the payload's case {payload_case_id} is not the envelope's {}", event.r#type, event.case_id),
        ));
    }
    let case_id = if payload_case_id.is_empty() { event.case_id.as_str() } else { payload_case_id };
    fields::parse_uuid("case_id", case_id)
}

const COLUMNS: &str = "relief_id, kind, body, received_on, reply_due, outcome, decided_on";

/// Every relief the service knows about the case, oldest first.
pub async fn marks_of(conn: &mut PgConnection, case_id: Uuid) -> Result<Vec<ReliefMark>, Error> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM relief_marks WHERE case_id = $1 ORDER BY received_on NULLS LAST, relief_id"
    ))
    .bind(case_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// What a read of the case shows ([`Relief::of`] its marks).
pub async fn of_case(conn: &mut PgConnection, case_id: Uuid) -> Result<Relief, Error> {
    Ok(Relief::of(&marks_of(conn, case_id).await?))
}

/// [`of_case`] for the cases of a list read, in one query; a case without
/// marks is absent (its [`Relief`] is the default).
pub async fn of_cases(conn: &mut PgConnection, case_ids: &[Uuid]) -> Result<HashMap<Uuid, Relief>, Error> {
    if case_ids.is_empty() {
        return Ok(HashMap::new());
    }
    #[derive(sqlx::FromRow)]
    struct Row {
        case_id: Uuid,
        #[sqlx(flatten)]
        mark: ReliefMark,
    }
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT case_id, {COLUMNS} FROM relief_marks WHERE case_id = ANY($1) ORDER BY received_on NULLS LAST, relief_id"
    ))
    .bind(case_ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut marks: HashMap<Uuid, Vec<ReliefMark>> = HashMap::new();
    for row in rows {
        marks.entry(row.case_id).or_default().push(row.mark);
    }
    Ok(marks.into_iter().map(|(case_id, marks)| (case_id, Relief::of(&marks))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(iso: &str) -> NaiveDate {
        NaiveDate::parse_from_str(iso, "%Y-%m-%d").unwrap()
    }

    fn mark(id: &str, due: &str, outcome: Option<(&str, &str)>) -> ReliefMark {
        ReliefMark {
            relief_id: id.into(),
            kind: "reconsideration".into(),
            body: "兰州市人民政府".into(),
            received_on: Some(day("2026-09-30")),
            reply_due: Some(day(due)),
            outcome: outcome.map(|(o, _)| o.to_string()),
            decided_on: outcome.map(|(_, d)| day(d)),
        }
    }

    #[test]
    fn r_relief_2_a_case_without_marks_is_not_under_relief() {
        assert_eq!(Relief::of(&[]), Relief::default());
        assert_eq!(Relief::default().fields(), (false, None, String::new()));
    }

    #[test]
    fn r_relief_2_an_undecided_relief_marks_the_case_with_its_reply_due() {
        let relief = Relief::of(&[mark("FY-1", "2026-10-21", None)]);
        assert!(relief.under_relief);
        assert_eq!(relief.fields().1.unwrap().iso, "2026-10-21");
        assert_eq!(relief.outcome, "");
    }

    #[test]
    fn r_relief_2_the_earliest_reply_due_of_the_undecided_reliefs_is_shown() {
        let relief = Relief::of(&[
            mark("FY-1", "2026-10-10", Some(("upheld", "2026-10-09"))),
            mark("SS-1", "2026-10-30", None),
            mark("FY-2", "2026-10-21", None),
        ]);
        assert!(relief.under_relief);
        assert_eq!(relief.reply_due, Some(day("2026-10-21")));
        assert_eq!(relief.outcome, "upheld");
    }

    #[test]
    fn r_relief_2_a_decided_relief_clears_the_mark_and_shows_the_last_outcome() {
        let relief = Relief::of(&[
            mark("FY-1", "2026-10-21", Some(("upheld", "2026-11-20"))),
            mark("SS-1", "2026-10-30", Some(("revoked", "2026-12-01"))),
        ]);
        assert!(!relief.under_relief);
        assert_eq!(relief.reply_due, None);
        assert_eq!(relief.outcome, "revoked");
    }

    #[test]
    fn r_relief_2_a_decision_that_overtook_its_mark_marks_nothing() {
        let overtaken = ReliefMark { received_on: None, reply_due: None, ..mark("FY-1", "2026-10-21", Some(("settled", "2026-10-01"))) };
        let relief = Relief::of(&[overtaken]);
        assert!(!relief.under_relief);
        assert_eq!(relief.outcome, "settled");
    }

    #[test]
    fn the_subjects_follow_the_subject_grammar() {
        assert_eq!(subjects("yuetan.ev"), vec!["yuetan.ev.*.*.*.supervision.relief_marked", "yuetan.ev.*.*.*.relief.decided"]);
    }
}
