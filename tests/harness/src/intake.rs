//! Intake's inputs and the steps that bring a party, clue or case to a
//! given point through intake's API.

use std::time::Duration;

use yuetan_platform::fields;
use yuetan_proto::common::{Date, Organ};
use yuetan_proto::intake as pb;

use crate::{admin, req, Officer, System, CHENGGUAN, ORGAN_A, ORGAN_B, QILIHE, WAIT};

pub fn enterprise(name: &str, credit_code: &str) -> pb::PartyInput {
    pb::PartyInput {
        kind: pb::PartyKind::Enterprise as i32,
        name: name.into(),
        credit_code: credit_code.into(),
        address: "甘肃省兰州市城关区张掖路1号".into(),
        phone: "0931-8888888".into(),
        representative: Some(pb::Representative {
            name: "王五".into(),
            role: "legal_representative".into(),
            phone: "13800000000".into(),
        }),
        consent: Some(pb::ServiceConsent {
            channels: vec![pb::ServiceChannel::Sms as i32, pb::ServiceChannel::Email as i32],
            sms_number: "13900000000".into(),
            email: "legal@example.cn".into(),
            consented_on: Some(Date { iso: "2026-01-05".into() }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn person(name: &str, resident_id: &str) -> pb::PartyInput {
    pb::PartyInput {
        kind: pb::PartyKind::Person as i32,
        name: name.into(),
        resident_id: resident_id.into(),
        address: "甘肃省兰州市七里河区西津西路2号".into(),
        phone: "13700000000".into(),
        ..Default::default()
    }
}

pub fn clue(party_id: &str, violation_type: &str) -> pb::RegisterClueRequest {
    pb::RegisterClueRequest {
        request_id: uuid::Uuid::now_v7().to_string(),
        source: pb::ClueSource::DailyInspection as i32,
        section: "市场秩序科".into(),
        party_id: party_id.into(),
        facts: "日常检查发现该企业未按期报送2025年度报告。".into(),
        violation_type: violation_type.into(),
        evidence: Vec::new(),
        urgency: pb::Urgency::Normal as i32,
        received_on: None,
    }
}

pub fn verification(clue_id: &str) -> pb::VerifyClueRequest {
    pb::VerifyClueRequest {
        request_id: uuid::Uuid::now_v7().to_string(),
        clue_id: clue_id.into(),
        report: Some(pb::VerificationReport {
            facts: "经核实，该企业系首次未按期报送年度报告，尚未造成危害后果。".into(),
            provisions_violated: "《企业信息公示暂行条例》第八条".into(),
            necessity: "首次轻微违法，及时改正可不予处罚，宜约谈督促补报。".into(),
        }),
        situations: vec![pb::Situation::A1FirstMinor as i32, pb::Situation::A4ObligationNotPerformed as i32],
        exclusions: Vec::new(),
        major: false,
        co_departments: Vec::new(),
    }
}

pub fn approval_form() -> pb::ApprovalForm {
    pb::ApprovalForm {
        proposal: "拟约谈该企业法定代表人，督促其补报年度报告并建立报送制度。".into(),
        proposed_interviewers: vec!["officer-a".into(), "officer-b".into()],
        evidence: Vec::new(),
    }
}

/// A valid credit code registered in `division`.
pub fn credit_code(division: &str, serial: u32) -> String {
    yuetan_intake::domain::party_id::CreditCode::synthesize(division, serial).unwrap().as_str().to_string()
}

/// A valid resident ID of `division`.
pub fn resident_id(division: &str, serial: u32) -> String {
    let birth = chrono::NaiveDate::from_ymd_opt(1985, 3, 9).unwrap();
    yuetan_intake::domain::party_id::ResidentId::synthesize(division, birth, serial).unwrap().expose().to_string()
}

impl System {
    /// Registers an organ's document code, as the administrator does once.
    pub async fn put_organ(&self, code: &str, division: &str, document_code: &str) {
        self.intake()
            .put_organ(req(
                &admin(),
                pb::PutOrganRequest {
                    request_id: String::new(),
                    organ: Some(Organ { code: code.into(), name: format!("{code} 局"), division_code: division.into() }),
                    document_code: document_code.into(),
                },
            ))
            .await
            .expect("put organ");
    }

    /// Registers organs A (兰城市监) and B (兰七市监) of the named officers.
    pub async fn put_organs(&self) {
        self.put_organ(ORGAN_A, CHENGGUAN, "兰城市监").await;
        self.put_organ(ORGAN_B, QILIHE, "兰七市监").await;
    }

    /// Registers a party and returns its id.
    pub async fn register_party(&self, officer: &Officer, party: pb::PartyInput) -> String {
        let response = self
            .intake()
            .register_party(req(officer, pb::RegisterPartyRequest { request_id: String::new(), party: Some(party) }))
            .await
            .expect("register party")
            .into_inner();
        response.party.expect("the party").id
    }

    /// A new party's clue, verified by `officer`: an opened case (not
    /// submitted); returns its id. The party's credit code is `serial` in
    /// the officer's division.
    pub async fn opened_case(&self, officer: &Officer, serial: u32, major: bool) -> String {
        let mut input = enterprise("兰州某某商贸有限公司", &credit_code(&officer.division, serial));
        // Consent signed today, whatever day the test clock says it is.
        if let Some(consent) = input.consent.as_mut() {
            consent.consented_on = Some(fields::date(fields::cst_date(yuetan_platform::Clock::now(&*self.clock))));
        }
        let party = self.register_party(officer, input).await;
        let clue = self.intake().register_clue(req(officer, clue(&party, "SJ-ANNUAL-REPORT"))).await.expect("register clue").into_inner();
        let mut verify = verification(&clue.id);
        verify.major = major;
        let verified = self.intake().verify_clue(req(officer, verify)).await.expect("verify clue").into_inner();
        verified.case.expect("an eligible case").id
    }

    /// An opened case, submitted for review by `officer`; returns the case.
    pub async fn submitted_case(&self, officer: &Officer, serial: u32, major: bool) -> pb::Case {
        let case_id = self.opened_case(officer, serial, major).await;
        self.intake()
            .submit_for_review(req(
                officer,
                pb::SubmitForReviewRequest {
                    request_id: uuid::Uuid::now_v7().to_string(),
                    case_id,
                    approval_form: Some(approval_form()),
                },
            ))
            .await
            .expect("submit for review")
            .into_inner()
    }

    /// Waits (at most [`WAIT`]) until intake shows the case in `status`.
    pub async fn intake_status(&self, officer: &Officer, case_id: &str, status: pb::CaseStatus) -> pb::Case {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let case = self.intake().get_case(req(officer, pb::GetCaseRequest { case_id: case_id.into() })).await.expect("get case").into_inner();
            if case.status == status as i32 {
                return case;
            }
            assert!(tokio::time::Instant::now() < deadline, "case {case_id} is {:?}, not {status:?}, after {WAIT:?}", case.status);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
