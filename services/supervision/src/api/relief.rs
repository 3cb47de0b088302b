//! `RegisterRelief` (yuetan.casefile.v1): an outside system (service
//! account) or the organ's legal section tells of a reconsideration
//! application or a lawsuit. The same flow as the events
//! `relief.application_received` / `relief.lawsuit_filed`
//! ([`crate::flow::relief::mark`]); idempotent on (source, relief_id).

use yuetan_platform::batch::WriteBatch;
use yuetan_platform::fields::{cst_date, date, optional, parse_uuid, required};
use yuetan_platform::requests::{self, RequestKey};
use yuetan_platform::{Actor, Error};
use yuetan_proto::casefile as pb;

use crate::domain::relief::{self as rules, LITIGATION, RECONSIDERATION};
use crate::flow::relief::{self as flow, Announce, Told};
use crate::store::relief::ReliefRow;
use crate::State;

/// A relief as the case file shows it.
pub fn relief_state(r: &ReliefRow) -> pb::ReliefState {
    pb::ReliefState {
        relief_id: r.relief_id.clone(),
        kind: r.kind.clone(),
        source: r.source.clone(),
        received_on: Some(date(r.received_on)),
        reply_due: Some(date(r.reply_due)),
        // Nothing records a reply yet: a decided relief needs none.
        replied: r.replied_on.is_some() || r.outcome.is_some(),
        outcome: r.outcome.clone().unwrap_or_default(),
        decided_on: r.decided_on.map(date),
    }
}

pub async fn register_relief(state: &State, actor: &Actor, req: &pb::RegisterReliefRequest) -> Result<pb::Relief, Error> {
    // Bounded and checked before any work.
    let kind = match req.kind.as_str() {
        RECONSIDERATION => RECONSIDERATION,
        LITIGATION => LITIGATION,
        _ => return Err(Error::invalid("kind", format!("{RECONSIDERATION} or {LITIGATION}"))),
    };
    let case_id = parse_uuid("case_id", &req.case_id)?;
    let relief_id = required("relief_id", &req.relief_id, rules::MAX_RELIEF_ID)?;
    let body = optional("body", &req.body, rules::MAX_BODY)?;
    let summary = optional("summary", &req.summary, rules::MAX_SUMMARY)?;
    let source = optional("source", &req.source, rules::MAX_SOURCE)?;
    let source = if source.is_empty() { actor.officer_id.clone() } else { source };
    let now = state.clock.now();
    let today = cst_date(now);
    let received_on = flow::received_day(req.received_on.as_ref(), today)?;
    let key = RequestKey::new(&actor.officer_id, &req.request_id, "RegisterRelief", req)?;

    let mut tx = state.pool.begin().await?;
    if let Some(done) = requests::replay(&mut tx, &state.vault, &key).await? {
        return Ok(done);
    }
    let file = flow::file_of(&mut tx, case_id).await?.ok_or_else(|| Error::NotFound(format!("case {case_id} is not known to supervision")))?;
    // A service account serves its divisions; an officer their own.
    actor.require_scope_of(&file.division, &[])?;
    let told = Told {
        source,
        relief_id,
        case_id,
        kind,
        body,
        summary,
        applied_on: None,
        received_on,
        by: actor.officer_id.clone(),
        by_organ: actor.organ.clone(),
        actor: Some(actor.to_proto()),
    };
    let (row, created) = flow::mark(state, &mut tx, &file, &told, today, Announce::Publish(None), now).await?;
    if !created {
        // Told again: nothing changes; the call is audited with its caller.
        yuetan_platform::audit::append(
            &mut tx,
            &yuetan_platform::audit::AuditEntry {
                actor_id: &actor.officer_id,
                actor_organ: &actor.organ,
                action: "relief.register_again",
                subject: &format!("relief/{}", row.id),
                before: None,
                after: Some(&serde_json::json!({ "source": row.source, "relief_id": row.relief_id, "case_id": row.case_id })),
                at: now,
            },
        )
        .await?;
    }
    let response = pb::Relief { case_id: row.case_id.to_string(), relief: Some(relief_state(&row)), created };
    requests::commit(&state.pool, &state.vault, tx, WriteBatch::new(), &key, response, now).await
}
