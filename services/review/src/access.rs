//! Who may call which review RPC: the table the platform's gate enforces
//! before any handler runs (deny by default: a method not listed here is
//! refused). Jurisdiction — which division's case — is still checked by the
//! handlers, and a decision also needs the role the task names.
//!
//! Roles follow DOMAIN §2: the legal section reviews (R-START-3, R-DOC-1),
//! the deputy leader or leader approves (R-START-4). A case's review file
//! and its tasks are read by the same roles that read the case in intake,
//! co-department officers of a joint case included; the IT operator
//! (`admin`) reads none of it.

use yuetan_platform::auth::roles::{
    CASE_OFFICER, CO_DEPARTMENT_OFFICER, DEPUTY_LEADER, DISCIPLINE_INSPECTOR, LEADER, LEGAL_REVIEWER, OFFICE, SECTION_CHIEF,
};
use yuetan_platform::gate::{AccessTable, Gated, Rule};
use yuetan_proto::review::review_service_server::ReviewServiceServer;

use crate::api::ReviewApi;

macro_rules! method {
    ($name:literal) => {
        concat!("/yuetan.review.v1.ReviewService/", $name)
    };
}

/// Roles that review's tasks are opened for: their work queue.
pub const DECIDERS: &[&str] = &[LEGAL_REVIEWER, DEPUTY_LEADER, LEADER];
/// Read a case's review file and its tasks.
pub const CASE_READERS: &[&str] =
    &[CASE_OFFICER, SECTION_CHIEF, LEGAL_REVIEWER, DEPUTY_LEADER, LEADER, OFFICE, DISCIPLINE_INSPECTOR, CO_DEPARTMENT_OFFICER];

pub const TABLE: &AccessTable = &[
    Rule::new(method!("ListMyTasks"), DECIDERS),
    Rule::new(method!("GetTask"), CASE_READERS),
    Rule::new(method!("GetReview"), CASE_READERS),
    Rule::new(method!("DecideReview"), &[LEGAL_REVIEWER]),
    Rule::new(method!("ExtendReview"), &[LEGAL_REVIEWER]),
    Rule::new(method!("DecideApproval"), &[DEPUTY_LEADER, LEADER]),
    Rule::new(method!("DecideDocument"), &[LEGAL_REVIEWER]),
];

impl crate::Review {
    /// The gRPC service behind the gate, to add to
    /// [`yuetan_platform::server::Services`].
    pub fn grpc(&self) -> Gated<ReviewServiceServer<ReviewApi>> {
        Gated::new(ReviewServiceServer::new(ReviewApi::new(self.state.clone())), TABLE)
    }
}

#[cfg(test)]
mod tests {
    use yuetan_platform::gate::descriptors;

    use super::*;

    #[test]
    fn every_method_of_the_contract_has_a_rule() {
        let service = descriptors().get_service_by_name("yuetan.review.v1.ReviewService").unwrap();
        for method in service.methods() {
            let path = format!("/yuetan.review.v1.ReviewService/{}", method.name());
            assert!(yuetan_platform::gate::rule(TABLE, &path).is_some(), "{path} has no rule");
        }
    }
}
