//! Ratings (R-SUP-4): the party's link, and the ratings a division may read.
//!
//! A rating is anonymous: below the provincial discipline inspector a
//! reader gets its division, section, interviewers, marks, comment and
//! month, never its case (nor anything finer than the month).

use serde_json::json;
use uuid::Uuid;
use yuetan_platform::audit::{self, AuditEntry};
use yuetan_platform::auth::roles::DISCIPLINE_INSPECTOR;
use yuetan_platform::auth::{DivisionCode, DivisionLevel};
use yuetan_platform::batch::WriteBatch;
use yuetan_platform::fields::{parse_uuid, timestamp};
use yuetan_platform::requests::{self, RequestKey};
use yuetan_platform::{Actor, Error};
use yuetan_proto::supervision as pb;

use crate::api::prefix_of;
use crate::domain::stage_rank;
use crate::flow::ratings::{self as flow, CASE_CONTEXT};
use crate::store::ratings as store;
use crate::store::file_of_case;
use crate::State;

/// Most ratings one list returns.
const LIST_LIMIT: i64 = 2000;

/// Whether the file's interview was held: it has interviewers, or it went
/// on to rectification (closed with acceptance or the penalty hand-off).
pub fn interview_held(stage: &str, outcome: Option<&str>, interviewers: &[String]) -> bool {
    if !interviewers.is_empty() {
        return true;
    }
    if stage == "closed" {
        return matches!(outcome, Some("accepted" | "penalty"));
    }
    stage_rank(stage) >= stage_rank("rectification")
}

/// Only the provincial discipline inspector may see which case a rating is of.
pub fn sees_cases(actor: &Actor) -> bool {
    actor.has_role(DISCIPLINE_INSPECTOR) && actor.division.level() == DivisionLevel::Province
}

/// The months of a period: "" (all), "2026-09", "2026Q3", "2026".
pub fn months_of(period: &str) -> Result<Option<Vec<String>>, Error> {
    let bad = || Error::invalid("period", "empty, a month (2026-09), a quarter (2026Q3) or a year (2026)");
    if period.is_empty() {
        return Ok(None);
    }
    if period.len() > 7 {
        return Err(bad());
    }
    let year = period.get(..4).filter(|y| y.bytes().all(|b| b.is_ascii_digit())).ok_or_else(bad)?;
    let months: Vec<u32> = match &period[4..] {
        "" => (1..=12).collect(),
        q if q.len() == 2 && q.starts_with('Q') => {
            let n: u32 = q[1..].parse().map_err(|_| bad())?;
            if !(1..=4).contains(&n) {
                return Err(bad());
            }
            (n * 3 - 2..=n * 3).collect()
        }
        m if m.len() == 3 && m.starts_with('-') => {
            let n: u32 = m[1..].parse().map_err(|_| bad())?;
            if !(1..=12).contains(&n) {
                return Err(bad());
            }
            vec![n]
        }
        _ => return Err(bad()),
    };
    Ok(Some(months.into_iter().map(|m| format!("{year}-{m:02}")).collect()))
}

pub async fn issue_rating_link(state: &State, actor: &Actor, req: &pb::IssueRatingLinkRequest) -> Result<pb::IssueRatingLinkResponse, Error> {
    let case_id = parse_uuid("case_id", &req.case_id)?;
    let key = RequestKey::new(&actor.officer_id, &req.request_id, "IssueRatingLink", req)?;
    let mut tx = state.pool.begin().await?;
    if let Some(done) = requests::replay(&mut tx, &state.vault, &key).await? {
        return Ok(done);
    }
    let file = file_of_case(&mut tx, case_id, false).await?.ok_or_else(|| Error::NotFound(format!("case {case_id} is not known to supervision")))?;
    actor.require_scope_of(&file.division, &[])?;
    if !interview_held(&file.stage, file.outcome.as_deref(), &file.interviewers) {
        return Err(Error::FailedPrecondition(format!("the interview of case {case_id} has not been held (stage {})", file.stage)));
    }
    let now = state.clock.now();
    let (url, expires_at) = flow::rating_link(state, &file, case_id, now);
    // The audit names the case, not the link: nothing here ties a rating to it.
    let after = json!({ "case_id": case_id, "expires_at": expires_at });
    audit::append(&mut tx, &AuditEntry { actor_id: &actor.officer_id, actor_organ: &actor.organ, action: "rating_link.issue", subject: &format!("case/{case_id}"), before: None, after: Some(&after), at: now }).await?;
    let response = pb::IssueRatingLinkResponse { url, expires_at: Some(timestamp(expires_at)) };
    requests::commit(&state.pool, &state.vault, tx, WriteBatch::new(), &key, response, now).await
}

pub async fn list_ratings(state: &State, actor: &Actor, req: &pb::ListRatingsRequest) -> Result<pb::ListRatingsResponse, Error> {
    let division = if req.division.is_empty() { actor.division.clone() } else { DivisionCode::parse(&req.division).map_err(|_| Error::invalid("division", "a six-digit division code"))? };
    actor.require_scope(&division, &[])?;
    let months = months_of(&req.period)?;
    let with_cases = sees_cases(actor);
    let mut conn = state.pool.acquire().await?;
    let code = division.to_string();
    let rows = store::list(&mut conn, prefix_of(&code), months.as_deref(), LIST_LIMIT).await?;
    let mut ratings = Vec::with_capacity(rows.len());
    for r in rows {
        let comment = match &r.comment_sealed {
            Some(sealed) => state.vault.open(sealed, CASE_CONTEXT)?,
            None => String::new(),
        };
        let case_id = if with_cases { Uuid::parse_str(&state.vault.open(&r.case_sealed, CASE_CONTEXT)?).map(|u| u.to_string()).unwrap_or_default() } else { String::new() };
        ratings.push(pb::Rating {
            rating_id: r.id.to_string(),
            division: r.division,
            section: r.section,
            interviewers: r.interviewers,
            attitude: r.attitude as u32,
            professionalism: r.professionalism as u32,
            communication: r.communication as u32,
            comment,
            month: r.month,
            case_id,
        });
    }
    Ok(pb::ListRatingsResponse { ratings })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(division: &str, roles: &[&str]) -> Actor {
        Actor {
            officer_id: "x".into(),
            name: "x".into(),
            organ: format!("{division}-SJ"),
            division: DivisionCode::parse(division).unwrap(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            qualifications: vec![],
            serves: vec![],
        }
    }

    #[test]
    fn r_sup_4_only_the_provincial_discipline_inspector_sees_the_case_of_a_rating() {
        assert!(sees_cases(&actor("620000", &["discipline_inspector"])));
        assert!(!sees_cases(&actor("620100", &["discipline_inspector"])), "a city's inspector");
        assert!(!sees_cases(&actor("620102", &["discipline_inspector", "section_chief"])), "a county's");
        assert!(!sees_cases(&actor("620000", &["leader", "section_chief"])), "the province's leader");
    }

    #[test]
    fn r_sup_4_a_rating_link_only_after_the_interview_was_held() {
        assert!(!interview_held("scheduling", None, &[]));
        assert!(!interview_held("interview", None, &[]));
        assert!(interview_held("interview", None, &["officer-a".into()]));
        assert!(interview_held("rectification", None, &[]));
        assert!(interview_held("closed", Some("accepted"), &[]));
        assert!(!interview_held("closed", Some("excluded"), &[]), "a clue excluded was never interviewed");
    }

    #[test]
    fn r_sup_4_periods_are_months_quarters_or_years() {
        assert_eq!(months_of("").unwrap(), None);
        assert_eq!(months_of("2026-09").unwrap().unwrap(), vec!["2026-09"]);
        assert_eq!(months_of("2026Q3").unwrap().unwrap(), vec!["2026-07", "2026-08", "2026-09"]);
        assert_eq!(months_of("2026").unwrap().unwrap().len(), 12);
        for bad in ["2026-13", "2026Q5", "26", "2026-9", "2026H1", "abcd-01", "2026-09-01"] {
            assert!(months_of(bad).is_err(), "{bad}");
        }
    }
}
