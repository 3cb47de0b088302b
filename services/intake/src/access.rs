//! Who may call which intake RPC, and how large its request may be: the
//! table the platform's gate enforces before any handler runs (deny by
//! default: a method not listed here is refused). Jurisdiction — which
//! division's party, clue or case — is still checked by the handlers.
//!
//! Roles follow DOMAIN §2: case officers and section chiefs propose and
//! build cases; the legal section reviews, leaders approve, the office
//! serves notices and keeps the archive, discipline inspectors supervise
//! the whole process, so all of them read parties, clues and cases.
//! Co-department officers of a joint interview read that case (the
//! handler's scope admits their organ) but not the party register or
//! clues. The IT operator (`admin`) keeps the organ register and, with the
//! legal section, the violation-type catalogue; it reads no personal data.

use yuetan_platform::auth::roles::{
    ADMIN, CASE_OFFICER, CO_DEPARTMENT_OFFICER, DEPUTY_LEADER, DISCIPLINE_INSPECTOR, LEADER, LEGAL_REVIEWER, OFFICE,
    SECTION_CHIEF,
};
use yuetan_platform::gate::{AccessTable, FieldBound, Gated, Rule};
use yuetan_proto::intake::intake_service_server::IntakeServiceServer;

use crate::api::IntakeApi;

macro_rules! method {
    ($name:literal) => {
        concat!("/yuetan.intake.v1.IntakeService/", $name)
    };
}

/// Propose and build cases: parties, evidence, verification, submission.
pub const PROPOSERS: &[&str] = &[CASE_OFFICER, SECTION_CHIEF];
/// Read parties (with their contact data) and clues.
pub const INTERNAL_READERS: &[&str] =
    &[CASE_OFFICER, SECTION_CHIEF, LEGAL_REVIEWER, DEPUTY_LEADER, LEADER, OFFICE, DISCIPLINE_INSPECTOR];
/// Read cases: the internal readers and the co-departments of joint cases.
pub const CASE_READERS: &[&str] =
    &[CASE_OFFICER, SECTION_CHIEF, LEGAL_REVIEWER, DEPUTY_LEADER, LEADER, OFFICE, DISCIPLINE_INSPECTOR, CO_DEPARTMENT_OFFICER];
/// The violation-type catalogue is public law, not personal data: every role.
pub const CATALOGUE_READERS: &[&str] = yuetan_platform::auth::roles::ALL;

/// A joint interview involves a handful of departments.
const CO_DEPARTMENTS: &[FieldBound] = &[FieldBound { path: "co_departments", max: 100 }];

pub const TABLE: &AccessTable = &[
    Rule::new(method!("RegisterParty"), PROPOSERS),
    Rule::new(method!("UpdateParty"), PROPOSERS),
    Rule::new(method!("GetParty"), INTERNAL_READERS),
    Rule::new(method!("FindParty"), INTERNAL_READERS),
    Rule::new(method!("PutViolationType"), &[LEGAL_REVIEWER, ADMIN]),
    Rule::new(method!("ListViolationTypes"), CATALOGUE_READERS),
    Rule::new(method!("PutOrgan"), &[ADMIN]),
    Rule::new(method!("ListOrgans"), CATALOGUE_READERS),
    Rule::new(method!("UploadEvidence"), PROPOSERS).upload(),
    Rule::new(method!("RegisterClue"), &[CASE_OFFICER]),
    Rule::new(method!("GetClue"), INTERNAL_READERS),
    Rule::new(method!("ListClues"), INTERNAL_READERS),
    Rule::new(method!("VerifyClue"), PROPOSERS).bounds(CO_DEPARTMENTS),
    Rule::new(method!("SubmitForReview"), PROPOSERS),
    Rule::new(method!("Resubmit"), PROPOSERS),
    Rule::new(method!("GetCase"), CASE_READERS),
    Rule::new(method!("ListCases"), CASE_READERS),
    Rule::new(method!("PartyHistory"), INTERNAL_READERS),
];

impl crate::Intake {
    /// The gRPC service behind the gate, to add to
    /// [`yuetan_platform::server::Services`]. Only `UploadEvidence` may
    /// carry an object (`objects.max_object_bytes` plus 64 KiB).
    pub fn grpc(&self) -> Gated<IntakeServiceServer<IntakeApi>> {
        let server = IntakeServiceServer::new(IntakeApi::new(self.state.clone())).max_decoding_message_size(self.max_request_bytes);
        Gated::new(server, TABLE).upload_limit(self.max_request_bytes)
    }
}

#[cfg(test)]
mod tests {
    use yuetan_platform::auth::{Actor, DivisionCode};
    use yuetan_platform::gate::{admits, descriptors};

    use super::*;

    fn actor(roles: &[&str]) -> Actor {
        Actor {
            officer_id: "o".into(),
            name: "测试".into(),
            organ: "620102-SJ".into(),
            division: DivisionCode::parse("620102").unwrap(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            qualifications: vec![],
            serves: vec![],
        }
    }

    #[test]
    fn every_method_of_the_contract_has_a_rule() {
        let service = descriptors().get_service_by_name("yuetan.intake.v1.IntakeService").unwrap();
        for method in service.methods() {
            let path = format!("/yuetan.intake.v1.IntakeService/{}", method.name());
            assert!(yuetan_platform::gate::rule(TABLE, &path).is_some(), "{path} has no rule");
        }
    }

    #[test]
    fn admin_keeps_registers_but_reads_no_party_clue_or_case() {
        let admin = actor(&[ADMIN]);
        assert!(admits(TABLE, method!("PutOrgan"), &admin));
        assert!(admits(TABLE, method!("PutViolationType"), &admin));
        for read in ["GetParty", "PartyHistory", "GetClue", "ListClues", "GetCase", "ListCases"] {
            let path = format!("/yuetan.intake.v1.IntakeService/{read}");
            assert!(!admits(TABLE, &path, &admin), "{read}");
            assert!(!admits(TABLE, &path, &actor(&[])), "{read} without a role");
            assert!(admits(TABLE, &path, &actor(&[DISCIPLINE_INSPECTOR])), "{read} by the discipline inspector");
        }
        let co = actor(&[CO_DEPARTMENT_OFFICER]);
        assert!(admits(TABLE, method!("GetCase"), &co));
        assert!(!admits(TABLE, method!("GetParty"), &co));
        assert!(!admits(TABLE, method!("RegisterClue"), &actor(&[SECTION_CHIEF])));
    }
}
