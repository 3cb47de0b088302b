//! Complaints against officers (R-SUP-6): register, start, decide, appeal,
//! list. A discipline inspector handles the complaints of their division
//! and those under it (a city's inspector its counties'); the officer
//! complained of appeals their own decision.

use yuetan_platform::auth::DivisionCode;
use yuetan_platform::batch::WriteBatch;
use yuetan_platform::fields::{cst_date, date, optional, parse_uuid, required};
use yuetan_platform::requests::{self, RequestKey};
use yuetan_platform::{Actor, Error};
use yuetan_proto::supervision as pb;
use uuid::Uuid;

use crate::api::prefix_of;
use crate::domain::complaints::{self as rules, DECIDED, DISMISSED, INVESTIGATING, MAX_TEXT_CHARS, REGISTERED, SOURCE_INSPECTOR, UPHELD};
use crate::flow::complaints as flow;
use crate::store::complaints::{self as store, ComplaintRow};
use crate::store::file_of_case;
use crate::State;

/// The vault context of a complaint's description.
pub const DESCRIPTION_CONTEXT: &str = "supervision.complaint";
/// Most complaints one list returns.
const LIST_LIMIT: i64 = 500;
/// Longest officer id and section (characters).
const MAX_ID_CHARS: usize = 64;

type Tx = sqlx::Transaction<'static, sqlx::Postgres>;

/// The complaint as shown (the description opened).
pub fn complaint_proto(state: &State, c: &ComplaintRow) -> Result<pb::Complaint, Error> {
    Ok(pb::Complaint {
        complaint_id: c.id.to_string(),
        division: c.division.clone(),
        organ: c.organ.clone(),
        section: c.section.clone(),
        officer_id: c.officer_id.clone(),
        case_id: c.case_id.map(|x| x.to_string()).unwrap_or_default(),
        kind: c.kind.clone(),
        description: state.vault.open(&c.description_sealed, DESCRIPTION_CONTEXT)?,
        source: c.source.clone(),
        status: c.status.clone(),
        registered_on: Some(date(c.registered_on)),
        investigation_deadline: Some(date(c.investigation_deadline)),
        decision: c.decision.clone().unwrap_or_default(),
        reasons: c.reasons.clone().unwrap_or_default(),
        appeal_deadline: c.appeal_deadline.map(date),
        appeal_reasons: c.appeal_reasons.clone().unwrap_or_default(),
    })
}

fn division(field: &str, value: &str) -> Result<DivisionCode, Error> {
    DivisionCode::parse(value).map_err(|_| Error::invalid(field, "a six-digit division code"))
}

async fn begin<'k>(state: &State, key: &RequestKey<'k>) -> Result<Result<Tx, pb::ComplaintResponse>, Error> {
    let mut tx = state.pool.begin().await?;
    if let Some(done) = requests::replay(&mut tx, &state.vault, key).await? {
        return Ok(Err(done));
    }
    Ok(Ok(tx))
}

async fn finish(state: &State, tx: Tx, key: &RequestKey<'_>, c: &ComplaintRow) -> Result<pb::ComplaintResponse, Error> {
    let response = pb::ComplaintResponse { complaint: Some(complaint_proto(state, c)?) };
    requests::commit(&state.pool, &state.vault, tx, WriteBatch::new(), key, response, state.clock.now()).await
}

/// The complaint, locked, if the inspector's jurisdiction covers it.
async fn in_scope(tx: &mut Tx, actor: &Actor, id: Uuid) -> Result<ComplaintRow, Error> {
    let c = store::get(tx, id, true).await?.ok_or_else(|| Error::NotFound(format!("complaint {id}")))?;
    actor.require_scope_of(&c.division, &[])?;
    Ok(c)
}

fn wrong_status(c: &ComplaintRow, wanted: &str) -> Error {
    Error::FailedPrecondition(format!("complaint {} is {}, not {wanted}", c.id, c.status))
}

pub async fn register_complaint(state: &State, actor: &Actor, req: &pb::RegisterComplaintRequest) -> Result<pb::ComplaintResponse, Error> {
    let officer_id = required("officer_id", &req.officer_id, MAX_ID_CHARS)?;
    let kind = required("kind", &req.kind, 32)?;
    if !rules::is_kind(&kind) {
        return Err(Error::invalid("kind", format!("one of {}", rules::KINDS.join(", "))));
    }
    let description = required("description", &req.description, MAX_TEXT_CHARS)?;
    let case_id = if req.case_id.is_empty() { None } else { Some(parse_uuid("case_id", &req.case_id)?) };
    let asked_division = if req.division.is_empty() { None } else { Some(division("division", &req.division)?) };
    let asked_section = optional("section", &req.section, MAX_ID_CHARS)?;
    if case_id.is_none() && asked_division.is_none() {
        return Err(Error::invalid("division", "is required without a case_id"));
    }
    let key = RequestKey::new(&actor.officer_id, &req.request_id, "RegisterComplaint", req)?;
    let description_sealed = state.vault.seal(&description, DESCRIPTION_CONTEXT)?;
    let mut tx = match begin(state, &key).await? {
        Ok(tx) => tx,
        Err(done) => return Ok(done),
    };
    // The officer's division, organ and section: the case's file, else as given.
    let (division, organ, section) = match case_id {
        Some(case_id) => {
            let file = file_of_case(&mut tx, case_id, false).await?.ok_or_else(|| Error::NotFound(format!("case {case_id} is not known to supervision")))?;
            (file.division, file.organ, if asked_section.is_empty() { file.section } else { asked_section })
        }
        None => {
            let d = asked_division.clone().expect("checked above");
            // Without a case the organ is not known from a file: the inspector's
            // own if the division is theirs, else the division's market supervision bureau.
            let organ = if d == actor.division { actor.organ.clone() } else { format!("{d}-SJ") };
            (d.to_string(), organ, asked_section)
        }
    };
    actor.require_scope_of(&division, &[])?;
    if let Some(asked) = &asked_division {
        if asked.as_str() != division {
            return Err(Error::invalid("division", format!("the case is of division {division}")));
        }
    }
    let now = state.clock.now();
    let today = cst_date(now);
    let deadline = rules::investigation_deadline(&state.calendar.current(), today).map_err(Error::Internal)?;
    let c = ComplaintRow {
        id: Uuid::now_v7(),
        division,
        organ,
        section,
        officer_id,
        case_id,
        kind,
        description_sealed,
        source: SOURCE_INSPECTOR.into(),
        status: REGISTERED.into(),
        registered_by: actor.officer_id.clone(),
        registered_on: today,
        investigation_deadline: deadline,
        started_on: None,
        decision: None,
        reasons: None,
        decided_by: None,
        decided_on: None,
        appeal_deadline: None,
        appeal_reasons: None,
        appealed_on: None,
    };
    flow::register(state, &mut tx, actor, &c, now).await?;
    finish(state, tx, &key, &c).await
}

pub async fn start_investigation(state: &State, actor: &Actor, req: &pb::StartInvestigationRequest) -> Result<pb::ComplaintResponse, Error> {
    let id = parse_uuid("complaint_id", &req.complaint_id)?;
    let key = RequestKey::new(&actor.officer_id, &req.request_id, "StartInvestigation", req)?;
    let mut tx = match begin(state, &key).await? {
        Ok(tx) => tx,
        Err(done) => return Ok(done),
    };
    let c = in_scope(&mut tx, actor, id).await?;
    if !rules::may_move(&c.status, INVESTIGATING) {
        return Err(wrong_status(&c, REGISTERED));
    }
    let now = state.clock.now();
    let c = flow::start(state, &mut tx, actor, &c, cst_date(now), now).await?;
    finish(state, tx, &key, &c).await
}

pub async fn decide_complaint(state: &State, actor: &Actor, req: &pb::DecideComplaintRequest) -> Result<pb::ComplaintResponse, Error> {
    let id = parse_uuid("complaint_id", &req.complaint_id)?;
    if req.decision != UPHELD && req.decision != DISMISSED {
        return Err(Error::invalid("decision", "upheld or dismissed"));
    }
    let reasons = required("reasons", &req.reasons, MAX_TEXT_CHARS)?;
    let key = RequestKey::new(&actor.officer_id, &req.request_id, "DecideComplaint", req)?;
    let mut tx = match begin(state, &key).await? {
        Ok(tx) => tx,
        Err(done) => return Ok(done),
    };
    let c = in_scope(&mut tx, actor, id).await?;
    if !rules::may_move(&c.status, DECIDED) {
        return Err(wrong_status(&c, INVESTIGATING));
    }
    let now = state.clock.now();
    let today = cst_date(now);
    let appeal_deadline = rules::appeal_deadline(&state.calendar.current(), today).map_err(Error::Internal)?;
    let decided = ComplaintRow {
        decision: Some(req.decision.clone()),
        reasons: Some(reasons),
        decided_by: Some(actor.officer_id.clone()),
        decided_on: Some(today),
        appeal_deadline: Some(appeal_deadline),
        ..c.clone()
    };
    let c = flow::decide(state, &mut tx, actor, &c, decided, now).await?;
    finish(state, tx, &key, &c).await
}

pub async fn appeal_complaint(state: &State, actor: &Actor, req: &pb::AppealComplaintRequest) -> Result<pb::ComplaintResponse, Error> {
    let id = parse_uuid("complaint_id", &req.complaint_id)?;
    let reasons = required("reasons", &req.reasons, MAX_TEXT_CHARS)?;
    let key = RequestKey::new(&actor.officer_id, &req.request_id, "AppealComplaint", req)?;
    let mut tx = match begin(state, &key).await? {
        Ok(tx) => tx,
        Err(done) => return Ok(done),
    };
    let c = store::get(&mut tx, id, true).await?.ok_or_else(|| Error::NotFound(format!("complaint {id}")))?;
    if c.officer_id != actor.officer_id {
        return Err(Error::PermissionDenied("only the officer complained of may appeal the decision".into()));
    }
    if !rules::may_move(&c.status, rules::APPEALED) {
        return Err(wrong_status(&c, DECIDED));
    }
    let now = state.clock.now();
    let today = cst_date(now);
    let deadline = c.appeal_deadline.ok_or_else(|| Error::Internal(format!("decided complaint {id} without an appeal deadline")))?;
    if !rules::appeal_in_time(today, deadline) {
        return Err(Error::FailedPrecondition(format!("the appeal deadline was {deadline} (5 working days after the decision of {})", c.decided_on.map(|d| d.to_string()).unwrap_or_default())));
    }
    let c = flow::appeal(state, &mut tx, actor, &c, reasons, today, now).await?;
    finish(state, tx, &key, &c).await
}

pub async fn list_complaints(state: &State, actor: &Actor, req: &pb::ListComplaintsRequest) -> Result<pb::ListComplaintsResponse, Error> {
    let division = if req.division.is_empty() { actor.division.clone() } else { division("division", &req.division)? };
    actor.require_scope(&division, &[])?;
    let status = if req.status.is_empty() {
        None
    } else if rules::STATUSES.contains(&req.status.as_str()) {
        Some(req.status.as_str())
    } else {
        return Err(Error::invalid("status", format!("one of {}", rules::STATUSES.join(", "))));
    };
    let mut conn = state.pool.acquire().await?;
    let code = division.to_string();
    let rows = store::list(&mut conn, prefix_of(&code), status, LIST_LIMIT).await?;
    let complaints = rows.iter().map(|c| complaint_proto(state, c)).collect::<Result<_, _>>()?;
    Ok(pb::ListComplaintsResponse { complaints })
}
