//! Ratings (R-SUP-4): the party's rating link, and the ratings from the
//! portal into the read model.
//!
//! The party rates the interview anonymously: `portal.rating_submitted`
//! carries no case id in its envelope, only sealed in its payload. Here the
//! case's file gives the division, section and interviewers; the rating is
//! kept by month only, its case sealed again (context
//! [`CASE_CONTEXT`], for the provincial discipline inspector alone), its id
//! derived from the portal's event id by a hash (so it says nothing of
//! when it was given), and `supervision.rating_received` (no case id
//! either) carries it for the rebuild. The board counts it in its month.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;
use yuetan_platform::fields::{cst_date, from_timestamp};
use yuetan_platform::links::LinkClaims;
use yuetan_platform::timers::Timer;
use yuetan_platform::Error;
use yuetan_proto::events::{self as ev, event::Payload, Event};

use crate::domain::{metric, rating_points};
use crate::store::ratings::{self as store, RatingRow};
use crate::store::{add_tally, file_of_case, FileRow};
use crate::State;

/// The purpose of a rating link (the portal serves it under `/rate/`);
/// `service_id` is the case id, `organ` the case's organ.
pub const PURPOSE_RATE: &str = "rate";
/// The vault context of the case id and comment as the portal sends them.
pub const PORTAL_CONTEXT: &str = "portal.rating";
/// The vault context of a rating's case id and comment in supervision.
pub const CASE_CONTEXT: &str = "supervision.rating";
/// A rating link is valid this many days.
pub const LINK_DAYS: i64 = 30;

/// The rating's id from the portal event's: deterministic (a rebuild finds
/// the same), and unlike the event's UUIDv7 it holds no time.
pub fn rating_id(portal_event_id: Uuid) -> Uuid {
    let digest = Sha256::digest(format!("yuetan.supervision.rating\n{portal_event_id}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// A mark of 1–5.
pub fn valid_mark(mark: u32) -> bool {
    (1..=5).contains(&mark)
}

/// "2026-09" of a day.
pub fn month_label(day: NaiveDate) -> String {
    day.format("%Y-%m").to_string()
}

/// The first day of a "2026-09" month.
pub fn month_start(label: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(&format!("{label}-01"), "%Y-%m-%d").ok()
}

/// The party's link to rate the interview of the case of `file`: the URL
/// (`<portal>/rate/<token>`) and when it expires.
pub fn rating_link(state: &State, file: &FileRow, case_id: Uuid, now: DateTime<Utc>) -> (String, DateTime<Utc>) {
    let expires_at = now + Duration::days(LINK_DAYS);
    let claims = LinkClaims {
        link_id: Uuid::now_v7().to_string(),
        document_sha256: String::new(),
        document_name: if file.number.is_empty() { "行政约谈".to_string() } else { format!("行政约谈 {}", file.number) },
        service_id: case_id.to_string(),
        purpose: PURPOSE_RATE.into(),
        organ: file.organ.clone(),
        expires_at,
    };
    // The signer names its document links `/d/`; a rating link is `/rate/`.
    let url = state.links.url(&claims);
    let url = match url.rfind("/d/") {
        Some(i) => format!("{}/rate/{}", &url[..i], &url[i + 3..]),
        None => url,
    };
    (url, expires_at)
}

/// The case id sealed in a rating event.
fn case_of(state: &State, sealed: &[u8], context: &str) -> Result<Uuid, Error> {
    let case = state.vault.open(sealed, context)?;
    Uuid::parse_str(&case).map_err(|_| Error::Internal("a rating's sealed case is no id".into()))
}

/// R-SUP-4: one rating counts per case (the party rates the interview once,
/// however many links were issued): the case's keyed hash is unique.
fn case_hash(state: &State, case_id: Uuid) -> Vec<u8> {
    state.vault.lookup_hash(CASE_CONTEXT, &case_id.to_string())
}

async fn count(conn: &mut PgConnection, r: &RatingRow) -> Result<(), Error> {
    let month = month_start(&r.month).ok_or_else(|| Error::Internal(format!("rating month {:?}", r.month)))?;
    let points = rating_points(r.attitude as u32, r.professionalism as u32, r.communication as u32);
    add_tally(conn, &r.division, &r.section, month, metric::RATINGS, 1).await?;
    add_tally(conn, &r.division, &r.section, month, metric::RATING_POINTS, points as i64).await
}

/// `portal.rating_submitted`: the rating row, its tallies and
/// `supervision.rating_received`, once (a second delivery finds the row),
/// and only the case's first (a rating through another link of the same
/// case is not counted).
async fn submitted(state: &State, conn: &mut PgConnection, event_id: Uuid, p: &ev::PortalRatingSubmitted) -> Result<(), Error> {
    if ![p.attitude, p.professionalism, p.communication].into_iter().all(valid_mark) {
        tracing::warn!(event_id = %event_id, "a rating with a mark outside 1–5 ignored");
        return Ok(());
    }
    let case_id = case_of(state, &p.case_sealed, PORTAL_CONTEXT)?;
    // The link was issued for a known file; if this replica has not seen it yet, retry.
    let file = file_of_case(conn, case_id, false).await?.ok_or_else(|| Error::Unavailable(format!("rating event {event_id}: the case's file is not known yet")))?;
    let at = from_timestamp(p.submitted_at.as_ref()).ok_or_else(|| Error::Internal(format!("rating event {event_id} without submitted_at")))?;
    let comment_sealed = if p.comment_sealed.is_empty() {
        None
    } else {
        let comment = state.vault.open(&p.comment_sealed, PORTAL_CONTEXT)?;
        if comment.trim().is_empty() {
            None
        } else {
            Some(state.vault.seal(&comment, CASE_CONTEXT)?)
        }
    };
    let r = RatingRow {
        id: rating_id(event_id),
        division: file.division.clone(),
        section: file.section.clone(),
        month: month_label(cst_date(at)),
        interviewers: file.interviewers.clone(),
        attitude: p.attitude as i32,
        professionalism: p.professionalism as i32,
        communication: p.communication as i32,
        comment_sealed,
        case_sealed: state.vault.seal(&case_id.to_string(), CASE_CONTEXT)?,
        case_hash: Some(case_hash(state, case_id)),
    };
    if !store::insert(conn, &r).await? {
        // This event's rating, or another of the same case: counted once.
        return Ok(());
    }
    count(conn, &r).await?;
    let payload = Payload::RatingReceived(ev::RatingReceived {
        rating_id: r.id.to_string(),
        division: r.division.clone(),
        section: r.section.clone(),
        interviewers: r.interviewers.clone(),
        attitude: p.attitude,
        professionalism: p.professionalism,
        communication: p.communication,
        comment_sealed: r.comment_sealed.clone().unwrap_or_default(),
        month: r.month.clone(),
        case_sealed: r.case_sealed.clone(),
    });
    // No case id in the envelope: the stream does not link the rating to the case.
    state.publish(conn, "supervision.rating_received", None, &file.division, &file.organ, Some(event_id), payload, state.clock.now()).await?;
    tracing::info!(rating_id = %r.id, division = %r.division, "rating received");
    Ok(())
}

/// `supervision.rating_received`: live the row is there (nothing changes);
/// in a rebuild the row and its tallies are written.
async fn received(state: &State, conn: &mut PgConnection, p: &ev::RatingReceived) -> Result<(), Error> {
    let id = Uuid::parse_str(&p.rating_id).map_err(|_| Error::Internal(format!("rating_received: rating_id {:?}", p.rating_id)))?;
    let r = RatingRow {
        id,
        division: p.division.clone(),
        section: p.section.clone(),
        month: p.month.clone(),
        interviewers: p.interviewers.clone(),
        attitude: p.attitude as i32,
        professionalism: p.professionalism as i32,
        communication: p.communication as i32,
        comment_sealed: (!p.comment_sealed.is_empty()).then(|| p.comment_sealed.clone()),
        case_sealed: p.case_sealed.clone(),
        case_hash: Some(case_hash(state, case_of(state, &p.case_sealed, CASE_CONTEXT)?)),
    };
    if store::insert(conn, &r).await? {
        count(conn, &r).await?;
    }
    Ok(())
}

/// Applies `portal.rating_submitted` and supervision's own
/// `supervision.rating_received` to the read model.
pub async fn on_event(state: &State, conn: &mut PgConnection, event: &Event, event_id: Uuid) -> Result<(), Error> {
    match &event.payload {
        Some(Payload::PortalRatingSubmitted(p)) if event.r#type == "portal.rating_submitted" => submitted(state, conn, event_id, p).await,
        Some(Payload::RatingReceived(p)) if event.r#type == "supervision.rating_received" => received(state, conn, p).await,
        _ => Ok(()),
    }
}

/// Timers of kind `supervision.rating…`: none.
pub async fn fire(_state: &State, _conn: &mut PgConnection, timer: &Timer) -> Result<(), Error> {
    Err(Error::Internal(format!("no rating timer {}", timer.kind)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_sup_4_a_rating_id_is_the_same_for_the_same_portal_event_and_holds_no_time() {
        let event = Uuid::now_v7();
        assert_eq!(rating_id(event), rating_id(event));
        assert_ne!(rating_id(event), rating_id(Uuid::now_v7()));
        assert_eq!(rating_id(event).get_version_num(), 4, "random-looking, not a v7 with its timestamp");
        assert!(valid_mark(1) && valid_mark(5) && !valid_mark(0) && !valid_mark(6));
        assert_eq!(month_label(NaiveDate::from_ymd_opt(2026, 9, 30).unwrap()), "2026-09");
        assert_eq!(month_start("2026-09"), NaiveDate::from_ymd_opt(2026, 9, 1));
    }
}
