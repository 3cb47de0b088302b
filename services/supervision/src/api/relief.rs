//! `RegisterRelief` (yuetan.casefile.v1): an outside system (service
//! account) or the organ's legal section tells of a reconsideration
//! application or a lawsuit.

use yuetan_platform::{Actor, Error};
use yuetan_proto::casefile as pb;

use crate::State;

pub async fn register_relief(state: &State, actor: &Actor, req: &pb::RegisterReliefRequest) -> Result<pb::Relief, Error> {
    let _ = (state, actor, req);
    Err(Error::Internal("not built yet".into()))
}
