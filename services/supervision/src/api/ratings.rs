//! Ratings (R-SUP-4): the party's link, and the ratings a division may read.

use yuetan_platform::{Actor, Error};
use yuetan_proto::supervision as pb;

use crate::State;

pub async fn issue_rating_link(_state: &State, _actor: &Actor, _req: &pb::IssueRatingLinkRequest) -> Result<pb::IssueRatingLinkResponse, Error> {
    Err(Error::FailedPrecondition("issue_rating_link is not built yet".into()))
}

pub async fn list_ratings(_state: &State, _actor: &Actor, _req: &pb::ListRatingsRequest) -> Result<pb::ListRatingsResponse, Error> {
    Err(Error::FailedPrecondition("list_ratings is not built yet".into()))
}
