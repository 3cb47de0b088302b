//! `yuetan.supervision.v1.SupervisionService`: reads of the read model,
//! scoped to the caller's jurisdiction (a city sees its counties).

use std::sync::Arc;

use tonic::{Request, Response, Status};
use yuetan_platform::auth::{self, DivisionCode};
use yuetan_platform::fields::{date, page_size, timestamp};
use yuetan_platform::{Actor, Error};
use yuetan_proto::supervision as pb;
use yuetan_proto::supervision::supervision_service_server::SupervisionService;

use crate::store::{self, CardRow};
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
        let rows = store::cards(&mut conn, prefix_of(&code), colour, req.include_closed, limit).await?;
        Ok(pb::ListCardsResponse { cards: rows.iter().map(card_proto).collect() })
    }
}

#[tonic::async_trait]
impl SupervisionService for SupervisionApi {
    async fn list_cards(&self, request: Request<pb::ListCardsRequest>) -> Result<Response<pb::ListCardsResponse>, Status> {
        let actor = auth::actor(&request)?;
        SupervisionApi::list_cards(self, actor, request.get_ref()).await.map(Response::new).map_err(Status::from)
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
