//! Complaints against officers (R-SUP-6): register, start, decide, appeal, list.

use yuetan_platform::{Actor, Error};
use yuetan_proto::supervision as pb;

use crate::State;

pub async fn register_complaint(_state: &State, _actor: &Actor, _req: &pb::RegisterComplaintRequest) -> Result<pb::ComplaintResponse, Error> {
    Err(Error::FailedPrecondition("register_complaint is not built yet".into()))
}

pub async fn start_investigation(_state: &State, _actor: &Actor, _req: &pb::StartInvestigationRequest) -> Result<pb::ComplaintResponse, Error> {
    Err(Error::FailedPrecondition("start_investigation is not built yet".into()))
}

pub async fn decide_complaint(_state: &State, _actor: &Actor, _req: &pb::DecideComplaintRequest) -> Result<pb::ComplaintResponse, Error> {
    Err(Error::FailedPrecondition("decide_complaint is not built yet".into()))
}

pub async fn appeal_complaint(_state: &State, _actor: &Actor, _req: &pb::AppealComplaintRequest) -> Result<pb::ComplaintResponse, Error> {
    Err(Error::FailedPrecondition("appeal_complaint is not built yet".into()))
}

pub async fn list_complaints(_state: &State, _actor: &Actor, _req: &pb::ListComplaintsRequest) -> Result<pb::ListComplaintsResponse, Error> {
    Err(Error::FailedPrecondition("list_complaints is not built yet".into()))
}
