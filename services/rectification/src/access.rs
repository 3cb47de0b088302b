//! Who may call which rectification RPC: the table the platform's gate
//! enforces before any handler runs (deny by default). Jurisdiction — the
//! case's division within the caller's, co-departments of a joint case — is
//! checked by the handlers; changes are the lead organ's, except ledger
//! entries, which co-departments of a joint case may add too.

use yuetan_platform::auth::roles::{CASE_OFFICER, CO_DEPARTMENT_OFFICER, DEPUTY_LEADER, DISCIPLINE_INSPECTOR, LEADER, LEGAL_REVIEWER, OFFICE, SECTION_CHIEF};
use yuetan_platform::gate::{AccessTable, Gated, Rule};
use yuetan_proto::rectification::rectification_service_server::RectificationServiceServer;

use crate::api::RectificationApi;

macro_rules! method {
    ($name:literal) => {
        concat!("/yuetan.rectification.v1.RectificationService/", $name)
    };
}

/// Track, issue, record reports, accept.
pub const OFFICERS: &[&str] = &[CASE_OFFICER, SECTION_CHIEF, OFFICE];
/// Read a case's rectification, ledger and documents.
pub const READERS: &[&str] = &[CASE_OFFICER, SECTION_CHIEF, LEGAL_REVIEWER, DEPUTY_LEADER, LEADER, OFFICE, DISCIPLINE_INSPECTOR, CO_DEPARTMENT_OFFICER];

pub const TABLE: &AccessTable = &[
    Rule::new(method!("AssignTracker"), &[SECTION_CHIEF]),
    Rule::new(method!("GetRectification"), READERS),
    Rule::new(method!("ListQueue"), OFFICERS),
    Rule::new(method!("IssueNotice"), OFFICERS),
    Rule::new(method!("AddLedgerEntry"), &[CASE_OFFICER, SECTION_CHIEF, OFFICE, CO_DEPARTMENT_OFFICER]),
    Rule::new(method!("ListLedger"), READERS),
    Rule::new(method!("RecordPaperReport"), OFFICERS),
    Rule::new(method!("RequestExtension"), OFFICERS),
    Rule::new(method!("DecideExtension"), &[SECTION_CHIEF]),
    Rule::new(method!("RecordAcceptance"), OFFICERS),
    Rule::new(method!("RecordReinspection"), OFFICERS),
    Rule::new(method!("GetDocument"), READERS),
    Rule::new(method!("GetDocumentFile"), READERS),
];

impl crate::Rectification {
    /// The gRPC service behind the gate.
    pub fn grpc(&self) -> Gated<RectificationServiceServer<RectificationApi>> {
        Gated::new(RectificationServiceServer::new(RectificationApi::new(self.state.clone())), TABLE)
    }
}

#[cfg(test)]
mod tests {
    use yuetan_platform::gate::descriptors;

    use super::*;

    #[test]
    fn every_method_of_the_contract_has_a_rule() {
        let service = descriptors().get_service_by_name("yuetan.rectification.v1.RectificationService").unwrap();
        for method in service.methods() {
            let path = format!("/yuetan.rectification.v1.RectificationService/{}", method.name());
            assert!(yuetan_platform::gate::rule(TABLE, &path).is_some(), "{path} has no rule");
        }
    }
}
