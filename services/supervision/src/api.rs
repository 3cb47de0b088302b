//! `yuetan.supervision.v1.SupervisionService`: reads of the read model,
//! scoped to the caller's jurisdiction (a city sees its counties).

use std::sync::Arc;

use tonic::{Request, Response, Status};
use yuetan_platform::auth::{self, DivisionCode};
use yuetan_platform::fields::{date, page_size, timestamp};
use yuetan_platform::{Actor, Error};
use yuetan_proto::supervision as pb;
use yuetan_proto::supervision::supervision_service_server::SupervisionService;

use yuetan_platform::requests;

use crate::store::{self, CardRow};

pub mod archive;
pub mod board;
pub mod casefile;
pub mod complaints;
pub mod ratings;
pub mod relief;
pub mod sampling;
use crate::State;

#[derive(Debug, Clone)]
pub struct SupervisionApi {
    state: Arc<State>,
}

impl SupervisionApi {
    pub fn new(state: Arc<State>) -> Self {
        Self { state }
    }
}

/// The prefix of the division codes a division covers: 620102 → "620102",
/// 620100 → "6201", 620000 → "62".
pub fn prefix_of(division: &str) -> &str {
    let mut p = division;
    while p.len() > 2 && p.ends_with("00") {
        p = &p[..p.len() - 2];
    }
    p
}

fn colour_proto(c: &str) -> i32 {
    (match c {
        "green" => pb::Colour::Green,
        "yellow" => pb::Colour::Yellow,
        "red" => pb::Colour::Red,
        _ => pb::Colour::Unspecified,
    }) as i32
}

fn card_proto(c: &CardRow) -> pb::Card {
    pb::Card {
        card_id: c.id.to_string(),
        step: c.step.clone(),
        subject_id: c.subject_id.clone(),
        case_id: c.case_id.map(|x| x.to_string()).unwrap_or_default(),
        division: c.division.clone(),
        organ: c.organ.clone(),
        section: c.section.clone(),
        opened_on: Some(date(c.opened_on)),
        deadline: Some(date(c.deadline)),
        colour: colour_proto(&c.colour),
        closed: c.closed,
        changed_at: Some(timestamp(c.changed_at)),
        met: c.met.unwrap_or(false),
    }
}

impl SupervisionApi {
    async fn list_cards(&self, actor: &Actor, req: &pb::ListCardsRequest) -> Result<pb::ListCardsResponse, Error> {
        let limit = page_size(req.page_size)?;
        let division = if req.division.is_empty() { actor.division.clone() } else { DivisionCode::parse(&req.division).map_err(|_| Error::invalid("division", "a six-digit division code"))? };
        actor.require_scope(&division, &[])?;
        let colour = match pb::Colour::try_from(req.colour) {
            Ok(pb::Colour::Green) => Some("green"),
            Ok(pb::Colour::Yellow) => Some("yellow"),
            Ok(pb::Colour::Red) => Some("red"),
            Ok(pb::Colour::Unspecified) => None,
            Err(_) => return Err(Error::invalid("colour", "green, yellow or red")),
        };
        let mut conn = self.state.pool.acquire().await?;
        let code = division.to_string();
        let step = yuetan_platform::fields::text("step", &req.step)?;
        let section = yuetan_platform::fields::text("section", &req.section)?;
        if step.len() > 64 || section.len() > 128 {
            return Err(Error::invalid(if step.len() > 64 { "step" } else { "section" }, "is too long"));
        }
        let case_id = if req.case_id.is_empty() { None } else { Some(yuetan_platform::fields::parse_uuid("case_id", &req.case_id)?) };
        let filter = store::CardFilter { colour, include_closed: req.include_closed, step: (!step.is_empty()).then_some(step), section: (!section.is_empty()).then_some(section), case_id };
        let rows = store::cards(&mut conn, prefix_of(&code), &filter, limit).await?;
        Ok(pb::ListCardsResponse { cards: rows.iter().map(card_proto).collect() })
    }
}

fn reply<T>(result: Result<T, Error>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

impl SupervisionApi {
    async fn or_replay<Req: prost::Message, R: prost::Message + Default>(&self, actor: &Actor, request_id: &str, method: &'static str, request: &Req, result: Result<R, Error>) -> Result<R, Error> {
        requests::or_replay(&self.state.pool, &self.state.vault, &actor.officer_id, request_id, method, request, result).await
    }
}

// Reads answer directly; every change goes through `or_replay`, so a retry
// with the same request id gets the first answer.
#[tonic::async_trait]
impl SupervisionService for SupervisionApi {
    async fn list_cards(&self, request: Request<pb::ListCardsRequest>) -> Result<Response<pb::ListCardsResponse>, Status> {
        let actor = auth::actor(&request)?;
        reply(SupervisionApi::list_cards(self, actor, request.get_ref()).await)
    }

    async fn get_timeline(&self, request: Request<pb::GetTimelineRequest>) -> Result<Response<pb::GetTimelineResponse>, Status> {
        let actor = auth::actor(&request)?;
        reply(board::get_timeline(&self.state, actor, request.get_ref()).await)
    }

    async fn get_board(&self, request: Request<pb::GetBoardRequest>) -> Result<Response<pb::GetBoardResponse>, Status> {
        let actor = auth::actor(&request)?;
        reply(board::get_board(&self.state, actor, request.get_ref()).await)
    }

    async fn get_rollup(&self, request: Request<pb::GetRollupRequest>) -> Result<Response<pb::GetRollupResponse>, Status> {
        let actor = auth::actor(&request)?;
        reply(board::get_rollup(&self.state, actor, request.get_ref()).await)
    }

    async fn list_samples(&self, request: Request<pb::ListSamplesRequest>) -> Result<Response<pb::ListSamplesResponse>, Status> {
        let actor = auth::actor(&request)?;
        reply(sampling::list_samples(&self.state, actor, request.get_ref()).await)
    }

    async fn score_file(&self, request: Request<pb::ScoreFileRequest>) -> Result<Response<pb::ScoreFileResponse>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = sampling::score_file(&self.state, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "ScoreFile", req, result).await)
    }

    async fn list_return_visits(&self, request: Request<pb::ListReturnVisitsRequest>) -> Result<Response<pb::ListReturnVisitsResponse>, Status> {
        let actor = auth::actor(&request)?;
        reply(sampling::list_return_visits(&self.state, actor, request.get_ref()).await)
    }

    async fn record_return_visit(&self, request: Request<pb::RecordReturnVisitRequest>) -> Result<Response<pb::RecordReturnVisitResponse>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = sampling::record_return_visit(&self.state, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "RecordReturnVisit", req, result).await)
    }

    async fn issue_rating_link(&self, request: Request<pb::IssueRatingLinkRequest>) -> Result<Response<pb::IssueRatingLinkResponse>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = ratings::issue_rating_link(&self.state, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "IssueRatingLink", req, result).await)
    }

    async fn list_ratings(&self, request: Request<pb::ListRatingsRequest>) -> Result<Response<pb::ListRatingsResponse>, Status> {
        let actor = auth::actor(&request)?;
        reply(ratings::list_ratings(&self.state, actor, request.get_ref()).await)
    }

    async fn register_complaint(&self, request: Request<pb::RegisterComplaintRequest>) -> Result<Response<pb::ComplaintResponse>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = complaints::register_complaint(&self.state, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "RegisterComplaint", req, result).await)
    }

    async fn start_investigation(&self, request: Request<pb::StartInvestigationRequest>) -> Result<Response<pb::ComplaintResponse>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = complaints::start_investigation(&self.state, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "StartInvestigation", req, result).await)
    }

    async fn decide_complaint(&self, request: Request<pb::DecideComplaintRequest>) -> Result<Response<pb::ComplaintResponse>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = complaints::decide_complaint(&self.state, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "DecideComplaint", req, result).await)
    }

    async fn appeal_complaint(&self, request: Request<pb::AppealComplaintRequest>) -> Result<Response<pb::ComplaintResponse>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = complaints::appeal_complaint(&self.state, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "AppealComplaint", req, result).await)
    }

    async fn list_complaints(&self, request: Request<pb::ListComplaintsRequest>) -> Result<Response<pb::ListComplaintsResponse>, Status> {
        let actor = auth::actor(&request)?;
        reply(complaints::list_complaints(&self.state, actor, request.get_ref()).await)
    }

    async fn get_report(&self, request: Request<pb::GetReportRequest>) -> Result<Response<pb::GetReportResponse>, Status> {
        let actor = auth::actor(&request)?;
        reply(sampling::get_report(&self.state, actor, request.get_ref()).await)
    }

    async fn list_archive(&self, request: Request<pb::ListArchiveRequest>) -> Result<Response<pb::ListArchiveResponse>, Status> {
        let actor = auth::actor(&request)?;
        reply(archive::list_archive(&self.state, actor, request.get_ref()).await)
    }

    async fn record_paper_archive(&self, request: Request<pb::RecordPaperArchiveRequest>) -> Result<Response<pb::ArchiveResponse>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = archive::record_paper_archive(&self.state, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "RecordPaperArchive", req, result).await)
    }

    async fn approve_destruction(&self, request: Request<pb::ApproveDestructionRequest>) -> Result<Response<pb::ArchiveResponse>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = archive::approve_destruction(&self.state, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "ApproveDestruction", req, result).await)
    }

    async fn destroy_case_file(&self, request: Request<pb::DestroyCaseFileRequest>) -> Result<Response<pb::ArchiveResponse>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = archive::destroy_case_file(&self.state, actor, req).await;
        reply(self.or_replay(actor, &req.request_id, "DestroyCaseFile", req, result).await)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_city_covers_its_counties_and_a_province_its_cities() {
        assert_eq!(super::prefix_of("620102"), "620102");
        assert_eq!(super::prefix_of("620100"), "6201");
        assert_eq!(super::prefix_of("620000"), "62");
    }
}
