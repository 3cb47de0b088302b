//! The timeline, the KPI board and the daily roll-up.

use yuetan_platform::{Actor, Error};
use yuetan_proto::supervision as pb;

use crate::State;

pub async fn get_timeline(_state: &State, _actor: &Actor, _req: &pb::GetTimelineRequest) -> Result<pb::GetTimelineResponse, Error> {
    Err(Error::FailedPrecondition("not built yet".into()))
}

pub async fn get_board(_state: &State, _actor: &Actor, _req: &pb::GetBoardRequest) -> Result<pb::GetBoardResponse, Error> {
    Err(Error::FailedPrecondition("not built yet".into()))
}

pub async fn get_rollup(_state: &State, _actor: &Actor, _req: &pb::GetRollupRequest) -> Result<pb::GetRollupResponse, Error> {
    Err(Error::FailedPrecondition("not built yet".into()))
}
