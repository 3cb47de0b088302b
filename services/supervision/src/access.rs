//! Who may call which supervision RPC (the gate denies by default);
//! jurisdiction is checked by the handlers (a city sees its counties).

use yuetan_platform::auth::roles::{CASE_OFFICER, CO_DEPARTMENT_OFFICER, DEPUTY_LEADER, DISCIPLINE_INSPECTOR, LEADER, LEGAL_REVIEWER, OFFICE, SECTION_CHIEF};
use yuetan_platform::gate::{AccessTable, Gated, Rule};
use yuetan_proto::supervision::supervision_service_server::SupervisionServiceServer;

use crate::api::SupervisionApi;

macro_rules! method {
    ($name:literal) => {
        concat!("/yuetan.supervision.v1.SupervisionService/", $name)
    };
}

const MANAGERS: &[&str] = &[SECTION_CHIEF, OFFICE, DEPUTY_LEADER, LEADER, DISCIPLINE_INSPECTOR];
const OFFICERS: &[&str] = &[CASE_OFFICER, SECTION_CHIEF, LEGAL_REVIEWER, OFFICE, DEPUTY_LEADER, LEADER, DISCIPLINE_INSPECTOR, CO_DEPARTMENT_OFFICER];

pub const TABLE: &AccessTable = &[
    Rule::new(method!("ListCards"), &[CASE_OFFICER, SECTION_CHIEF, OFFICE, DEPUTY_LEADER, LEADER, DISCIPLINE_INSPECTOR]),
    Rule::new(method!("GetTimeline"), OFFICERS),
    Rule::new(method!("GetBoard"), MANAGERS),
    Rule::new(method!("GetRollup"), MANAGERS),
    Rule::new(method!("ListSamples"), &[DISCIPLINE_INSPECTOR, LEADER, DEPUTY_LEADER]),
    Rule::new(method!("ScoreFile"), &[DISCIPLINE_INSPECTOR]),
    Rule::new(method!("ListReturnVisits"), &[DISCIPLINE_INSPECTOR, OFFICE, LEADER]),
    Rule::new(method!("RecordReturnVisit"), &[DISCIPLINE_INSPECTOR, OFFICE]),
    Rule::new(method!("IssueRatingLink"), &[CASE_OFFICER, SECTION_CHIEF]),
    Rule::new(method!("ListRatings"), MANAGERS),
    Rule::new(method!("RegisterComplaint"), &[DISCIPLINE_INSPECTOR]),
    Rule::new(method!("StartInvestigation"), &[DISCIPLINE_INSPECTOR]),
    Rule::new(method!("DecideComplaint"), &[DISCIPLINE_INSPECTOR]),
    // The officer complained of appeals their own decision (checked in the handler).
    Rule::new(method!("AppealComplaint"), OFFICERS),
    Rule::new(method!("ListComplaints"), &[DISCIPLINE_INSPECTOR, LEADER, DEPUTY_LEADER]),
    Rule::new(method!("GetReport"), MANAGERS),
];

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
