//! Who may call which supervision RPC (the gate denies by default);
//! jurisdiction is checked by the handlers (a city sees its counties).

use yuetan_platform::auth::roles::{CASE_OFFICER, CO_DEPARTMENT_OFFICER, DEPUTY_LEADER, DISCIPLINE_INSPECTOR, LEADER, LEGAL_REVIEWER, OFFICE, SECTION_CHIEF, SYSTEM};
use yuetan_platform::gate::{AccessTable, Gated, Rule};
use yuetan_proto::casefile::case_file_service_server::CaseFileServiceServer;
use yuetan_proto::supervision::supervision_service_server::SupervisionServiceServer;

use crate::api::casefile::CaseFileApi;
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
    // R-DOC-3, R-DOC-4: the office keeps the archive; the leading group
    // (leader, deputy) approves destruction; discipline inspectors supervise it.
    Rule::new(method!("ListArchive"), &[OFFICE, SECTION_CHIEF, DEPUTY_LEADER, LEADER, DISCIPLINE_INSPECTOR]),
    Rule::new(method!("RecordPaperArchive"), &[OFFICE, CASE_OFFICER]),
    Rule::new(method!("ApproveDestruction"), &[LEADER, DEPUTY_LEADER]),
    Rule::new(method!("DestroyCaseFile"), &[OFFICE, DISCIPLINE_INSPECTOR]),
];

macro_rules! casefile_method {
    ($name:literal) => {
        concat!("/yuetan.casefile.v1.CaseFileService/", $name)
    };
}

/// The case-file export: officers in scope and service accounts of outside
/// systems (`system`, scoped to the divisions they serve); relief is told
/// by a service account or the organ's legal section and office.
pub const CASEFILE_TABLE: &AccessTable = &[
    Rule::new(casefile_method!("GetCaseFile"), &[CASE_OFFICER, SECTION_CHIEF, LEGAL_REVIEWER, OFFICE, DEPUTY_LEADER, LEADER, DISCIPLINE_INSPECTOR, SYSTEM]),
    Rule::new(casefile_method!("DownloadCaseFile"), &[CASE_OFFICER, SECTION_CHIEF, LEGAL_REVIEWER, OFFICE, DEPUTY_LEADER, LEADER, DISCIPLINE_INSPECTOR, SYSTEM]),
    Rule::new(casefile_method!("RegisterRelief"), &[SYSTEM, LEGAL_REVIEWER, OFFICE]),
];

impl crate::Supervision {
    pub fn grpc(&self) -> Gated<SupervisionServiceServer<SupervisionApi>> {
        Gated::new(SupervisionServiceServer::new(SupervisionApi::new(self.state.clone())), TABLE)
    }

    /// The case-file export API (`yuetan.casefile.v1`), served beside it.
    pub fn casefile_grpc(&self) -> Gated<CaseFileServiceServer<CaseFileApi>> {
        Gated::new(CaseFileServiceServer::new(CaseFileApi::new(self.state.clone())), CASEFILE_TABLE)
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
        let service = descriptors().get_service_by_name("yuetan.casefile.v1.CaseFileService").unwrap();
        for method in service.methods() {
            let path = format!("/yuetan.casefile.v1.CaseFileService/{}", method.name());
            assert!(yuetan_platform::gate::rule(CASEFILE_TABLE, &path).is_some(), "{path} has no rule");
        }
    }
}
