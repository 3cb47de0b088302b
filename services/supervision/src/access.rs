//! Who may call which supervision RPC (the gate denies by default);
//! jurisdiction is checked by the handlers (a city sees its counties).

use yuetan_platform::auth::roles::{DEPUTY_LEADER, DISCIPLINE_INSPECTOR, LEADER, OFFICE, SECTION_CHIEF};
use yuetan_platform::gate::{AccessTable, Gated, Rule};
use yuetan_proto::supervision::supervision_service_server::SupervisionServiceServer;

use crate::api::SupervisionApi;

pub const TABLE: &AccessTable = &[Rule::new("/yuetan.supervision.v1.SupervisionService/ListCards", &[SECTION_CHIEF, OFFICE, DEPUTY_LEADER, LEADER, DISCIPLINE_INSPECTOR])];

impl crate::Supervision {
    pub fn grpc(&self) -> Gated<SupervisionServiceServer<SupervisionApi>> {
        Gated::new(SupervisionServiceServer::new(SupervisionApi::new(self.state.clone())), TABLE)
    }
}

#[cfg(test)]
mod tests {
    use yuetan_platform::gate::descriptors;

    use super::*;

    #[test]
    fn every_method_of_the_contract_has_a_rule() {
        let service = descriptors().get_service_by_name("yuetan.supervision.v1.SupervisionService").unwrap();
        for method in service.methods() {
            let path = format!("/yuetan.supervision.v1.SupervisionService/{}", method.name());
            assert!(yuetan_platform::gate::rule(TABLE, &path).is_some(), "{path} has no rule");
        }
    }
}
