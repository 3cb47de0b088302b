//! Who may call which scheduling RPC: the table the platform's gate enforces
//! before any handler runs (deny by default). Jurisdiction — which
//! division's case, and for changes the lead organ — is checked by the
//! handlers.
//!
//! The office (领导小组办公室) issues notices and serves documents with the
//! case officers (R-NOTICE-1); the section chief plans; the directory is the
//! IT operator's (`admin`), read by those who plan. Reads of a case's plan
//! and services are open to the roles that read the case elsewhere,
//! co-department officers of a joint case included.

use yuetan_platform::auth::roles::{
    ADMIN, CASE_OFFICER, CO_DEPARTMENT_OFFICER, DEPUTY_LEADER, DISCIPLINE_INSPECTOR, LEADER, LEGAL_REVIEWER, OFFICE, SECTION_CHIEF,
};
use yuetan_platform::gate::{AccessTable, Gated, Rule};
use yuetan_proto::scheduling::scheduling_service_server::SchedulingServiceServer;

use crate::api::SchedulingApi;

macro_rules! method {
    ($name:literal) => {
        concat!("/yuetan.scheduling.v1.SchedulingService/", $name)
    };
}

/// Plan interviews, issue notices, serve documents.
pub const PLANNERS: &[&str] = &[CASE_OFFICER, SECTION_CHIEF, OFFICE];
/// Read plans, documents and service histories.
pub const CASE_READERS: &[&str] =
    &[CASE_OFFICER, SECTION_CHIEF, LEGAL_REVIEWER, DEPUTY_LEADER, LEADER, OFFICE, DISCIPLINE_INSPECTOR, CO_DEPARTMENT_OFFICER];

/// Officers who take part in an interview: join the room, sign the record
/// (interviewers, the recorder, co-department officers of a joint case).
pub const INTERVIEW_PARTICIPANTS: &[&str] = &[CASE_OFFICER, SECTION_CHIEF, OFFICE, LEGAL_REVIEWER, CO_DEPARTMENT_OFFICER];

pub const TABLE: &AccessTable = &[
    Rule::new(method!("PutOfficer"), &[ADMIN]),
    Rule::new(method!("GetOfficer"), &[ADMIN, CASE_OFFICER, SECTION_CHIEF, OFFICE]),
    Rule::new(method!("ListOfficers"), &[ADMIN, CASE_OFFICER, SECTION_CHIEF, OFFICE]),
    Rule::new(method!("RecordServiceAddress"), PLANNERS),
    Rule::new(method!("PlanInterview"), PLANNERS),
    Rule::new(method!("RecordRescheduleRequest"), PLANNERS),
    Rule::new(method!("GetPlan"), CASE_READERS),
    Rule::new(method!("ListPlans"), PLANNERS),
    Rule::new(method!("IssueNotice"), PLANNERS),
    Rule::new(method!("GetDocument"), CASE_READERS),
    Rule::new(method!("GetDocumentFile"), CASE_READERS),
    Rule::new(method!("RequestService"), PLANNERS),
    Rule::new(method!("RecordDirectService"), PLANNERS),
    Rule::new(method!("ListCaseServices"), CASE_READERS),
    Rule::new(method!("ListOpenServices"), PLANNERS),
    Rule::new(method!("IssueOutline"), PLANNERS),
    Rule::new(method!("GetVideoRoom"), CASE_READERS),
    Rule::new(method!("JoinVideoRoom"), INTERVIEW_PARTICIPANTS),
    Rule::new(method!("StartInterview"), PLANNERS),
    Rule::new(method!("CheckIn"), PLANNERS),
    Rule::new(method!("RecordStep"), PLANNERS),
    Rule::new(method!("RecordPartyAbsent"), PLANNERS),
    Rule::new(method!("CloseInterviewAsRefused"), PLANNERS),
    Rule::new(method!("FlagCriminalClue"), PLANNERS),
    Rule::new(method!("CloseInterview"), PLANNERS),
    Rule::new(method!("GetInterview"), CASE_READERS),
    Rule::new(method!("SignRecord"), INTERVIEW_PARTICIPANTS),
    Rule::new(method!("RecordPartySignature"), PLANNERS),
    Rule::new(method!("RecordPartyRefusal"), PLANNERS),
    Rule::new(method!("SendRecordForSignature"), PLANNERS),
    Rule::new(method!("CorrectRecord"), PLANNERS),
    Rule::new(method!("GetRecord"), CASE_READERS),
    Rule::new(method!("GetRecordFile"), CASE_READERS),
    Rule::new(method!("ListRecords"), CASE_READERS),
    Rule::new(method!("ListRecordsToSign"), INTERVIEW_PARTICIPANTS),
];

impl crate::Scheduling {
    /// The gRPC service behind the gate.
    pub fn grpc(&self) -> Gated<SchedulingServiceServer<SchedulingApi>> {
        Gated::new(SchedulingServiceServer::new(SchedulingApi::new(self.state.clone())), TABLE)
    }
}

#[cfg(test)]
mod tests {
    use yuetan_platform::gate::descriptors;

    use super::*;

    #[test]
    fn every_method_of_the_contract_has_a_rule() {
        let service = descriptors().get_service_by_name("yuetan.scheduling.v1.SchedulingService").unwrap();
        for method in service.methods() {
            let path = format!("/yuetan.scheduling.v1.SchedulingService/{}", method.name());
            assert!(yuetan_platform::gate::rule(TABLE, &path).is_some(), "{path} has no rule");
        }
    }
}
