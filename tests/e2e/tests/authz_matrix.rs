//! The authorisation matrix (issue 14): every RPC of every service, as
//! enumerated from the contract's descriptors at run time, called as every
//! role at every jurisdiction relation to a fixture case of 城关区 (620102,
//! Lanzhou city 620100, Gansu 620000), each cell asserted allow or deny
//! against the policy below. The matrix it observed is written into
//! `docs/security.md` between the `authz-matrix` markers: locally the test
//! rewrites the section (like a snapshot test), under `CI=true` it fails
//! when the section differs from what it generated, so the document cannot
//! drift from the system.
//!
//! A new RPC in the contract without a row in [`POLICY`] fails the test,
//! naming it. A failing cell prints the RPC, role, relation, what the policy
//! expects and what came back (code and message).
//!
//! Classification: DENY is `PERMISSION_DENIED` or `UNAUTHENTICATED` (and
//! `NOT_FOUND` only for the RPCs whose row says the service hides foreign
//! cases); ALLOW is anything else (`OK`, `INVALID_ARGUMENT`,
//! `FAILED_PRECONDITION`, `ALREADY_EXISTS`, the `NOT_FOUND` of a missing
//! sub-object…): the call got past the role and jurisdiction checks. For
//! lists filtered by jurisdiction the cell looks at the data: ALLOW when the
//! answer holds the fixture (its case id), DENY when it does not.
//!
//! Per RPC the cells the policy denies run first, then the allowed ones, so
//! an allowed call that changes the fixture cannot turn a later deny cell
//! into an answer about state.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use prost::bytes::{Buf, BufMut};
use prost::Message;
use prost_reflect::{DynamicMessage, Kind, MessageDescriptor, Value};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use yuetan_harness::interview::{rid, CO_OFFICER, CO_ORGAN};
use yuetan_harness::scheduling::{INTERVIEWER, INTERVIEWER_LEGAL};
use yuetan_harness::{proposer, req, reviewer, Officer, Service, AUDIENCE, CHENGGUAN, ISSUER, ORGAN_A, SECRET};
use yuetan_platform::auth::roles::*;
use yuetan_platform::auth::{Claims, TokenIssuer};
use yuetan_proto::{casefile as cpb, common, intake as ipb, rectification as rcpb, review as rpb, scheduling as spb, supervision as svpb};

type Harness = yuetan_harness::System;

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
}

const NOW: &str = "2026-04-28T02:00:00Z";
const SERVED: &str = "2026-04-28T03:00:00Z";
const INTERVIEW: &str = "2026-04-30T01:30:00Z";

const DOC: &str = "docs/security.md";
const BEGIN: &str = "<!-- authz-matrix:begin -->";
const END: &str = "<!-- authz-matrix:end -->";

// ---------------------------------------------------------------- relations

/// Where the caller stands relative to the fixture case (division 620102,
/// lead organ 620102-SJ, joint with 620103-YJ).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Relation {
    SameCounty,
    NeighbourCounty,
    ItsCity,
    AnotherCity,
    Province,
    AnotherProvince,
    CoDepartment,
    ServiceAccount,
}

use Relation::*;

const RELATIONS: &[Relation] = &[SameCounty, NeighbourCounty, ItsCity, AnotherCity, Province, AnotherProvince, CoDepartment, ServiceAccount];

impl Relation {
    /// The letter of the relation in the document's cells.
    fn letter(self) -> char {
        match self {
            SameCounty => 'S',
            NeighbourCounty => 'N',
            ItsCity => 'C',
            AnotherCity => 'O',
            Province => 'P',
            AnotherProvince => 'X',
            CoDepartment => 'J',
            ServiceAccount => 'A',
        }
    }

    fn describe(self) -> &'static str {
        match self {
            SameCounty => "same county: 620102, organ 620102-SJ (the case's lead organ), officer `int-legal-a` (on the interview panel)",
            NeighbourCounty => "neighbouring county: 620103, organ 620103-SJ",
            ItsCity => "its city: 620100 (Lanzhou), organ 620100-SJ",
            AnotherCity => "another city: 620200 (Jiayuguan), organ 620200-SJ",
            Province => "the province: 620000 (Gansu), organ 620000-SJ",
            AnotherProvince => "another province: 630000 (Qinghai), organ 630000-SJ",
            CoDepartment => "co-department of the joint case: 620103, organ 620103-YJ, officer `co-yj-1` (its participant in the interview)",
            ServiceAccount => "service account: home division 630000 (organ 630000-FY), `divisions` claim [620102]",
        }
    }

    /// (officer id, organ, division, divisions claim).
    fn identity(self) -> (&'static str, &'static str, &'static str, &'static [&'static str]) {
        match self {
            SameCounty => (INTERVIEWER_LEGAL, ORGAN_A, CHENGGUAN, &[]),
            NeighbourCounty => ("authz-620103", "620103-SJ", "620103", &[]),
            ItsCity => ("authz-620100", "620100-SJ", "620100", &[]),
            AnotherCity => ("authz-620200", "620200-SJ", "620200", &[]),
            Province => ("authz-620000", "620000-SJ", "620000", &[]),
            AnotherProvince => ("authz-630000", "630000-SJ", "630000", &[]),
            CoDepartment => (CO_OFFICER, CO_ORGAN, "620103", &[]),
            ServiceAccount => ("authz-system", "630000-FY", "630000", &[CHENGGUAN]),
        }
    }

    fn token(self, role: &str) -> String {
        let (id, organ, division, serves) = self.identity();
        let mut claims = Claims::for_officer(id, "矩阵测试", organ, division, &[role], ISSUER, AUDIENCE, chrono::Duration::hours(2), Utc::now());
        claims.divisions = serves.iter().map(|d| d.to_string()).collect();
        TokenIssuer::hs256("test", SECRET).issue(&claims).expect("a token")
    }
}

const ROLES: &[(&str, &str)] = &[
    (CASE_OFFICER, "CO"),
    (SECTION_CHIEF, "SC"),
    (LEGAL_REVIEWER, "LR"),
    (DEPUTY_LEADER, "DL"),
    (LEADER, "L"),
    (OFFICE, "OF"),
    (DISCIPLINE_INSPECTOR, "DI"),
    (CO_DEPARTMENT_OFFICER, "CD"),
    (ADMIN, "AD"),
    (SYSTEM, "SY"),
];

// ------------------------------------------------------------------- policy

/// The jurisdiction rule of an RPC, applied after its roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// No case context: the role decides (registers, catalogues, the
    /// caller's own queues); every relation the same.
    RoleOnly,
    /// The case's division within the caller's (own division and below, or
    /// a division a service account serves), or a co-department of the
    /// joint case.
    Case,
    /// As [`Scope::Case`] without co-departments: a division's data (clues,
    /// boards and lists asked for 620102, the case file).
    Division,
    /// Changes are the lead organ's (620102-SJ) alone: its city, its
    /// province, co-departments and service accounts refused.
    LeadOrgan,
    /// The party register: any officer whose own division is in the
    /// party's province (a `divisions` claim does not extend it).
    PartyProvince,
    /// A change to a party: the division that registered it (620102)
    /// within the caller's jurisdiction, the caller's own division in the
    /// party's province (the register is the province's).
    PartyDivision,
    /// The lead organ or a co-department of the joint case (the ledger).
    LeadOrCo,
    /// [`Scope::Case`] and the caller must be on the interview (a signer of
    /// the record, a participant of the room): the panel officer of the
    /// same county and the co-department's participant.
    Panel,
    /// Nobody, whatever the role (the officer complained of only).
    Nobody,
}

impl Scope {
    fn admits(self, relation: Relation) -> bool {
        match self {
            Scope::RoleOnly => true,
            Scope::Case => matches!(relation, SameCounty | ItsCity | Province | CoDepartment | ServiceAccount),
            Scope::Division => matches!(relation, SameCounty | ItsCity | Province | ServiceAccount),
            Scope::LeadOrgan => relation == SameCounty,
            Scope::PartyProvince => !matches!(relation, AnotherProvince | ServiceAccount),
            Scope::PartyDivision => matches!(relation, SameCounty | ItsCity | Province),
            Scope::LeadOrCo => matches!(relation, SameCounty | CoDepartment),
            Scope::Panel => matches!(relation, SameCounty | CoDepartment),
            Scope::Nobody => false,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Scope::RoleOnly => "role only",
            Scope::Case => "case",
            Scope::Division => "division",
            Scope::LeadOrgan => "lead organ",
            Scope::PartyProvince => "party province",
            Scope::PartyDivision => "party division",
            Scope::LeadOrCo => "lead organ + joint",
            Scope::Panel => "panel",
            Scope::Nobody => "nobody",
        }
    }
}

/// How a cell's answer is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    /// DENY: PERMISSION_DENIED or UNAUTHENTICATED.
    Status,
    /// As [`Read::Status`], and NOT_FOUND too: the service hides foreign cases.
    Hides,
    /// As [`Read::Status`], and INVALID_ARGUMENT too: the service answers
    /// a party of another province as `no such party`.
    HidesParty,
    /// A list filtered by jurisdiction: ALLOW when OK and the answer holds
    /// the fixture's case id, DENY when refused or it does not.
    Data,
}

type Build = fn(&Fx) -> Vec<u8>;

struct Row {
    /// `Service/Method`, as in the contract.
    rpc: &'static str,
    roles: &'static [&'static str],
    scope: Scope,
    read: Read,
    /// The request; `None`: every string field named like a fixture id
    /// (`case_id`, `record_id`, …) filled from the fixture, a fresh `request_id`.
    build: Option<Build>,
}

const fn row(rpc: &'static str, roles: &'static [&'static str], scope: Scope) -> Row {
    Row { rpc, roles, scope, read: Read::Status, build: None }
}

impl Row {
    const fn read(mut self, read: Read) -> Row {
        self.read = read;
        self
    }
    const fn build(mut self, build: Build) -> Row {
        self.build = Some(build);
        self
    }
    fn expects(&self, role: &str, relation: Relation) -> bool {
        self.roles.contains(&role) && self.scope.admits(relation)
    }
}

const EVERY_ROLE: &[&str] = &[CASE_OFFICER, SECTION_CHIEF, LEGAL_REVIEWER, DEPUTY_LEADER, LEADER, OFFICE, DISCIPLINE_INSPECTOR, CO_DEPARTMENT_OFFICER, ADMIN, SYSTEM];
const PROPOSERS: &[&str] = &[CASE_OFFICER, SECTION_CHIEF];
const INTERNAL: &[&str] = &[CASE_OFFICER, SECTION_CHIEF, LEGAL_REVIEWER, DEPUTY_LEADER, LEADER, OFFICE, DISCIPLINE_INSPECTOR];
const READERS: &[&str] = &[CASE_OFFICER, SECTION_CHIEF, LEGAL_REVIEWER, DEPUTY_LEADER, LEADER, OFFICE, DISCIPLINE_INSPECTOR, CO_DEPARTMENT_OFFICER];
const PLANNERS: &[&str] = &[CASE_OFFICER, SECTION_CHIEF, OFFICE];
const PARTICIPANTS: &[&str] = &[CASE_OFFICER, SECTION_CHIEF, OFFICE, LEGAL_REVIEWER, CO_DEPARTMENT_OFFICER];
const DIRECTORY: &[&str] = &[ADMIN, CASE_OFFICER, SECTION_CHIEF, OFFICE];
const MANAGERS: &[&str] = &[SECTION_CHIEF, OFFICE, DEPUTY_LEADER, LEADER, DISCIPLINE_INSPECTOR];
const CARD_READERS: &[&str] = &[CASE_OFFICER, SECTION_CHIEF, OFFICE, DEPUTY_LEADER, LEADER, DISCIPLINE_INSPECTOR];
const FILE_READERS: &[&str] = &[CASE_OFFICER, SECTION_CHIEF, LEGAL_REVIEWER, OFFICE, DEPUTY_LEADER, LEADER, DISCIPLINE_INSPECTOR, SYSTEM];

/// The expected matrix: one row per RPC of the contract.
static POLICY: &[Row] = &[
    // platform (served by every process)
    row("PlatformService/WhoAmI", EVERY_ROLE, Scope::RoleOnly),
    row("PlatformService/GetStatus", &[ADMIN], Scope::RoleOnly),
    // intake
    row("IntakeService/RegisterParty", PROPOSERS, Scope::RoleOnly),
    row("IntakeService/UpdateParty", PROPOSERS, Scope::PartyDivision).build(update_party),
    row("IntakeService/GetParty", INTERNAL, Scope::PartyProvince),
    row("IntakeService/FindParty", INTERNAL, Scope::PartyProvince).read(Read::Hides).build(find_party),
    row("IntakeService/PutViolationType", &[LEGAL_REVIEWER, ADMIN], Scope::RoleOnly),
    row("IntakeService/ListViolationTypes", EVERY_ROLE, Scope::RoleOnly),
    row("IntakeService/PutOrgan", &[ADMIN], Scope::Division).build(put_organ),
    row("IntakeService/ListOrgans", EVERY_ROLE, Scope::RoleOnly),
    row("IntakeService/UploadEvidence", PROPOSERS, Scope::RoleOnly),
    row("IntakeService/RegisterClue", &[CASE_OFFICER], Scope::PartyProvince).read(Read::HidesParty).build(register_clue),
    row("IntakeService/GetClue", INTERNAL, Scope::Division),
    row("IntakeService/ListClues", INTERNAL, Scope::Division).read(Read::Data).build(list_clues),
    row("IntakeService/VerifyClue", PROPOSERS, Scope::LeadOrgan).build(verify_clue),
    row("IntakeService/SubmitForReview", PROPOSERS, Scope::LeadOrgan).build(submit),
    row("IntakeService/Resubmit", PROPOSERS, Scope::LeadOrgan).build(resubmit),
    row("IntakeService/GetCase", READERS, Scope::Case),
    row("IntakeService/ListCases", READERS, Scope::Case).read(Read::Data).build(list_cases),
    row("IntakeService/PartyHistory", INTERNAL, Scope::PartyProvince),
    // review
    row("ReviewService/ListMyTasks", &[LEGAL_REVIEWER, DEPUTY_LEADER, LEADER], Scope::RoleOnly).build(list_my_tasks),
    row("ReviewService/GetTask", READERS, Scope::Case),
    row("ReviewService/GetReview", READERS, Scope::Case),
    row("ReviewService/DecideReview", &[LEGAL_REVIEWER], Scope::LeadOrgan).build(decide_review),
    row("ReviewService/ExtendReview", &[LEGAL_REVIEWER], Scope::LeadOrgan).build(extend_review),
    // A general case: its deputy leader approves (the leader approves major ones).
    row("ReviewService/DecideApproval", &[DEPUTY_LEADER], Scope::LeadOrgan).build(decide_approval),
    row("ReviewService/DecideDocument", &[LEGAL_REVIEWER], Scope::LeadOrgan).build(decide_document),
    // scheduling
    row("SchedulingService/PutOfficer", &[ADMIN], Scope::Division).build(put_officer),
    row("SchedulingService/GetOfficer", DIRECTORY, Scope::Division),
    row("SchedulingService/ListOfficers", DIRECTORY, Scope::Division),
    row("SchedulingService/RecordServiceAddress", PLANNERS, Scope::LeadOrgan),
    row("SchedulingService/PlanInterview", PLANNERS, Scope::LeadOrgan).build(plan_interview),
    row("SchedulingService/RecordRescheduleRequest", PLANNERS, Scope::LeadOrgan).build(reschedule),
    row("SchedulingService/GetPlan", READERS, Scope::Case),
    row("SchedulingService/ListPlans", PLANNERS, Scope::RoleOnly),
    row("SchedulingService/IssueNotice", PLANNERS, Scope::LeadOrgan),
    row("SchedulingService/GetDocument", READERS, Scope::Case),
    row("SchedulingService/GetDocumentFile", READERS, Scope::Case),
    row("SchedulingService/RequestService", PLANNERS, Scope::LeadOrgan),
    row("SchedulingService/RecordDirectService", PLANNERS, Scope::LeadOrgan).build(direct_service),
    row("SchedulingService/ListCaseServices", READERS, Scope::Case),
    row("SchedulingService/ListOpenServices", PLANNERS, Scope::RoleOnly),
    row("SchedulingService/IssueOutline", PLANNERS, Scope::LeadOrgan).build(issue_outline),
    row("SchedulingService/GetVideoRoom", READERS, Scope::Case),
    // The fixture was interviewed in person: a caller in the case's scope hears NOT_FOUND (no room), so
    // the participant check after it is not reached here.
    row("SchedulingService/JoinVideoRoom", PARTICIPANTS, Scope::Case),
    row("SchedulingService/StartInterview", PLANNERS, Scope::LeadOrgan).build(start_interview),
    row("SchedulingService/CheckIn", PLANNERS, Scope::LeadOrgan),
    row("SchedulingService/RecordStep", PLANNERS, Scope::LeadOrgan).build(record_step),
    row("SchedulingService/RecordPartyAbsent", PLANNERS, Scope::LeadOrgan).build(party_absent),
    row("SchedulingService/CloseInterviewAsRefused", PLANNERS, Scope::LeadOrgan).build(close_refused),
    row("SchedulingService/FlagCriminalClue", PLANNERS, Scope::LeadOrgan).build(flag_criminal),
    row("SchedulingService/CloseInterview", PLANNERS, Scope::LeadOrgan),
    row("SchedulingService/GetInterview", READERS, Scope::Case),
    row("SchedulingService/SignRecord", PARTICIPANTS, Scope::Panel),
    row("SchedulingService/RecordPartySignature", PLANNERS, Scope::LeadOrgan).build(party_signature),
    row("SchedulingService/RecordPartyRefusal", PLANNERS, Scope::LeadOrgan).build(party_refusal),
    row("SchedulingService/SendRecordForSignature", PLANNERS, Scope::LeadOrgan),
    row("SchedulingService/CorrectRecord", PLANNERS, Scope::LeadOrgan).build(correct_record),
    row("SchedulingService/GetRecord", READERS, Scope::Case),
    row("SchedulingService/GetRecordFile", READERS, Scope::Case),
    row("SchedulingService/ListRecords", READERS, Scope::Case),
    row("SchedulingService/ListRecordsToSign", PARTICIPANTS, Scope::RoleOnly),
    // rectification
    row("RectificationService/AssignTracker", &[SECTION_CHIEF], Scope::LeadOrgan),
    row("RectificationService/GetRectification", READERS, Scope::Case),
    row("RectificationService/ListQueue", PLANNERS, Scope::RoleOnly),
    row("RectificationService/IssueNotice", PLANNERS, Scope::LeadOrgan),
    row("RectificationService/AddLedgerEntry", &[CASE_OFFICER, SECTION_CHIEF, OFFICE, CO_DEPARTMENT_OFFICER], Scope::LeadOrCo).build(ledger_entry),
    row("RectificationService/ListLedger", READERS, Scope::Case),
    row("RectificationService/RecordPaperReport", PLANNERS, Scope::LeadOrgan).build(paper_report),
    row("RectificationService/RequestExtension", PLANNERS, Scope::LeadOrgan).build(request_extension),
    row("RectificationService/DecideExtension", &[SECTION_CHIEF], Scope::LeadOrgan),
    row("RectificationService/RecordAcceptance", PLANNERS, Scope::LeadOrgan),
    row("RectificationService/RecordReinspection", PLANNERS, Scope::LeadOrgan),
    row("RectificationService/GetDocument", READERS, Scope::Case),
    row("RectificationService/GetDocumentFile", READERS, Scope::Case),
    // supervision
    row("SupervisionService/ListCards", CARD_READERS, Scope::Division).read(Read::Data),
    row("SupervisionService/GetTimeline", READERS, Scope::Case).read(Read::Hides),
    row("SupervisionService/GetBoard", MANAGERS, Scope::Division),
    row("SupervisionService/GetRollup", MANAGERS, Scope::Division).build(get_rollup),
    row("SupervisionService/ListSamples", &[DISCIPLINE_INSPECTOR, LEADER, DEPUTY_LEADER], Scope::Division),
    // The fixture's case drawn in a sample of 620102, and a return visit of it (seeded in `fixture`).
    row("SupervisionService/ScoreFile", &[DISCIPLINE_INSPECTOR], Scope::Division).build(score_file),
    row("SupervisionService/ListReturnVisits", &[DISCIPLINE_INSPECTOR, OFFICE, LEADER], Scope::Division),
    row("SupervisionService/RecordReturnVisit", &[DISCIPLINE_INSPECTOR, OFFICE], Scope::Division).build(return_visit),
    row("SupervisionService/IssueRatingLink", PROPOSERS, Scope::Division),
    row("SupervisionService/ListRatings", MANAGERS, Scope::Division),
    row("SupervisionService/RegisterComplaint", &[DISCIPLINE_INSPECTOR], Scope::Division).build(register_complaint),
    row("SupervisionService/StartInvestigation", &[DISCIPLINE_INSPECTOR], Scope::Division),
    row("SupervisionService/DecideComplaint", &[DISCIPLINE_INSPECTOR], Scope::Division).build(decide_complaint),
    row("SupervisionService/AppealComplaint", READERS, Scope::Nobody).build(appeal),
    row("SupervisionService/ListComplaints", &[DISCIPLINE_INSPECTOR, LEADER, DEPUTY_LEADER], Scope::Division),
    row("SupervisionService/GetReport", MANAGERS, Scope::Division),
    row("SupervisionService/ListArchive", &[OFFICE, SECTION_CHIEF, DEPUTY_LEADER, LEADER, DISCIPLINE_INSPECTOR], Scope::Division),
    row("SupervisionService/RecordPaperArchive", &[OFFICE, CASE_OFFICER], Scope::Division).build(paper_archive),
    row("SupervisionService/ApproveDestruction", &[LEADER, DEPUTY_LEADER], Scope::Division).build(approve_destruction),
    row("SupervisionService/DestroyCaseFile", &[OFFICE, DISCIPLINE_INSPECTOR], Scope::Division).build(destroy),
    // casefile (served by supervision)
    row("CaseFileService/GetCaseFile", FILE_READERS, Scope::Division),
    row("CaseFileService/DownloadCaseFile", FILE_READERS, Scope::Division),
    row("CaseFileService/RegisterRelief", &[SYSTEM, LEGAL_REVIEWER, OFFICE], Scope::Division).build(register_relief),
];

// ----------------------------------------------------------------- fixture

/// The ids of the fixture: a joint case of 620102 (co-department
/// 620103-YJ), interviewed, its rectification open with a notice issued.
#[derive(Debug, Clone, Default)]
struct Fx {
    case_id: String,
    party_id: String,
    /// The party's credit code (FindParty).
    credit_code: String,
    clue_id: String,
    review_task: String,
    approval_task: String,
    document_task: String,
    notice_document: String,
    service_id: String,
    record_id: String,
    rect_document: String,
    complaint_id: String,
    /// A sample of 620102 that drew the case, and a return visit of it.
    sample_id: String,
    visit_id: String,
    /// An object in the store (signature images, attachments).
    object: String,
}

impl Fx {
    /// The fixture value for a field called `name` in `service`'s request.
    fn value(&self, service: &str, name: &str) -> Option<String> {
        Some(match name {
            "request_id" => rid(),
            "case_id" => self.case_id.clone(),
            "party_id" => self.party_id.clone(),
            "clue_id" => self.clue_id.clone(),
            "task_id" => self.review_task.clone(),
            "record_id" => self.record_id.clone(),
            "service_id" => self.service_id.clone(),
            "complaint_id" => self.complaint_id.clone(),
            "document_id" if service == "RectificationService" => self.rect_document.clone(),
            "document_id" => self.notice_document.clone(),
            "officer_id" => INTERVIEWER.to_string(),
            "organ" => ORGAN_A.to_string(),
            "division" | "division_code" => CHENGGUAN.to_string(),
            "period" | "month" => "2026-04".to_string(),
            "quarter" => "2026Q2".to_string(),
            _ => return None,
        })
    }
}

fn generic(input: &MessageDescriptor, service: &str, fx: &Fx) -> Vec<u8> {
    let mut message = DynamicMessage::new(input.clone());
    for field in input.fields() {
        if field.is_list() || field.is_map() || field.kind() != Kind::String {
            continue;
        }
        if let Some(value) = fx.value(service, field.name()) {
            message.set_field(&field, Value::String(value));
        }
    }
    message.encode_to_vec()
}

fn today() -> Option<common::Date> {
    Some(common::Date { iso: "2026-04-28".into() })
}

fn put_organ(_: &Fx) -> Vec<u8> {
    ipb::PutOrganRequest {
        request_id: rid(),
        organ: Some(common::Organ { code: "620102-SW".into(), name: "城关区商务局".into(), division_code: CHENGGUAN.into() }),
        document_code: "兰城商".into(),
    }
    .encode_to_vec()
}

fn register_clue(fx: &Fx) -> Vec<u8> {
    yuetan_harness::intake::clue(&fx.party_id, "SJ-ANNUAL-REPORT").encode_to_vec()
}

fn list_clues(_: &Fx) -> Vec<u8> {
    ipb::ListCluesRequest { status: 0, page_size: 200, page_token: String::new() }.encode_to_vec()
}

fn verify_clue(fx: &Fx) -> Vec<u8> {
    yuetan_harness::intake::verification(&fx.clue_id).encode_to_vec()
}

fn submit(fx: &Fx) -> Vec<u8> {
    ipb::SubmitForReviewRequest { request_id: rid(), case_id: fx.case_id.clone(), approval_form: Some(yuetan_harness::intake::approval_form()) }.encode_to_vec()
}

fn list_cases(_: &Fx) -> Vec<u8> {
    ipb::ListCasesRequest { page_size: 200, ..Default::default() }.encode_to_vec()
}

fn list_my_tasks(_: &Fx) -> Vec<u8> {
    rpb::ListMyTasksRequest { include_decided: true, page_size: 200, page_token: String::new() }.encode_to_vec()
}

fn decide_review(fx: &Fx) -> Vec<u8> {
    yuetan_harness::review::decide(&fx.review_task, rpb::ReviewDecision::Pass).encode_to_vec()
}

fn extend_review(fx: &Fx) -> Vec<u8> {
    rpb::ExtendReviewRequest { request_id: rid(), task_id: fx.review_task.clone(), reason: "案情复杂".into(), working_days: 1 }.encode_to_vec()
}

fn decide_approval(fx: &Fx) -> Vec<u8> {
    yuetan_harness::review::approve(&fx.approval_task).encode_to_vec()
}

fn decide_document(fx: &Fx) -> Vec<u8> {
    rpb::DecideDocumentRequest { request_id: rid(), task_id: fx.document_task.clone(), decision: rpb::DocumentDecision::Pass as i32, comments: "格式规范".into() }.encode_to_vec()
}

fn put_officer(_: &Fx) -> Vec<u8> {
    yuetan_harness::scheduling::officer_entry(INTERVIEWER, "张执法", false, chrono::NaiveDate::from_ymd_opt(2025, 6, 1).unwrap()).encode_to_vec()
}

fn get_rollup(_: &Fx) -> Vec<u8> {
    svpb::GetRollupRequest { division: CHENGGUAN.into(), date: today() }.encode_to_vec()
}

fn register_complaint(fx: &Fx) -> Vec<u8> {
    svpb::RegisterComplaintRequest {
        request_id: rid(),
        officer_id: proposer().id,
        case_id: fx.case_id.clone(),
        kind: "rude_conduct".into(),
        description: "约谈时态度粗暴".into(),
        division: String::new(),
        section: String::new(),
    }
    .encode_to_vec()
}

fn decide_complaint(fx: &Fx) -> Vec<u8> {
    svpb::DecideComplaintRequest { request_id: rid(), complaint_id: fx.complaint_id.clone(), decision: "dismissed".into(), reasons: "查无实据".into() }.encode_to_vec()
}

fn register_relief(fx: &Fx) -> Vec<u8> {
    cpb::RegisterReliefRequest {
        request_id: rid(),
        case_id: fx.case_id.clone(),
        kind: "reconsideration".into(),
        relief_id: format!("FY-{}", rid()),
        body: "兰州市人民政府".into(),
        received_on: today(),
        ..Default::default()
    }
    .encode_to_vec()
}

fn stamp(rfc3339: &str) -> Option<prost_types::Timestamp> {
    Some(yuetan_platform::fields::timestamp(at(rfc3339)))
}

fn date(iso: &str) -> Option<common::Date> {
    Some(common::Date { iso: iso.into() })
}

fn find_party(fx: &Fx) -> Vec<u8> {
    ipb::FindPartyRequest { credit_code: fx.credit_code.clone(), resident_id: String::new() }.encode_to_vec()
}

fn update_party(fx: &Fx) -> Vec<u8> {
    let mut party = yuetan_harness::intake::enterprise("兰州某某商贸有限公司", "");
    party.kind = 0;
    ipb::UpdatePartyRequest { request_id: rid(), party_id: fx.party_id.clone(), party: Some(party) }.encode_to_vec()
}

fn resubmit(fx: &Fx) -> Vec<u8> {
    ipb::ResubmitRequest { request_id: rid(), case_id: fx.case_id.clone(), supplement: "已补充现场检查笔录".into(), approval_form: None }.encode_to_vec()
}

fn plan_interview(fx: &Fx) -> Vec<u8> {
    yuetan_harness::scheduling::plan(&fx.case_id, at("2026-05-20T01:30:00Z"), "第一约谈室").encode_to_vec()
}

fn reschedule(fx: &Fx) -> Vec<u8> {
    spb::RecordRescheduleRequestRequest { request_id: rid(), case_id: fx.case_id.clone(), reason: "法定代表人出差".into(), new_interview_at: stamp("2026-05-20T01:30:00Z") }.encode_to_vec()
}

fn direct_service(fx: &Fx) -> Vec<u8> {
    spb::RecordDirectServiceRequest {
        request_id: rid(),
        service_id: fx.service_id.clone(),
        method: spb::Channel::Direct as i32,
        served_at: stamp("2026-04-29T02:00:00Z"),
        receiver_name: "刘某".into(),
        relationship: "法定代表人".into(),
        signature_sha256: fx.object.clone(),
        ..Default::default()
    }
    .encode_to_vec()
}

fn issue_outline(fx: &Fx) -> Vec<u8> {
    spb::IssueOutlineRequest { request_id: rid(), case_id: fx.case_id.clone(), points: vec!["督促补报年度报告".into()], ..Default::default() }.encode_to_vec()
}

fn start_interview(fx: &Fx) -> Vec<u8> {
    spb::StartInterviewRequest {
        request_id: rid(),
        case_id: fx.case_id.clone(),
        interviewers_present: vec![INTERVIEWER_LEGAL.into(), INTERVIEWER.into()],
        opening: Some(spb::Opening { certificates_shown: true, purpose: "督促补报年度报告".into(), basis: "《企业信息公示暂行条例》第八条".into(), participants_announced: true }),
        party_representative: "刘某（法定代表人）".into(),
        agent: String::new(),
    }
    .encode_to_vec()
}

fn listening() -> spb::Listening {
    spb::Listening { statement: "财务人员变动，遗漏报送".into(), difficulties: "不熟悉系统".into(), commitments: "十五日内补报".into() }
}

fn record_step(fx: &Fx) -> Vec<u8> {
    spb::RecordStepRequest { request_id: rid(), case_id: fx.case_id.clone(), step: Some(spb::record_step_request::Step::Listening(listening())) }.encode_to_vec()
}

fn party_absent(fx: &Fx) -> Vec<u8> {
    spb::RecordPartyAbsentRequest { request_id: rid(), case_id: fx.case_id.clone(), kind: spb::AbsenceKind::NoShow as i32, at: stamp(INTERVIEW), evidence: "签到表".into(), evidence_sha256: String::new() }.encode_to_vec()
}

fn close_refused(fx: &Fx) -> Vec<u8> {
    spb::CloseInterviewAsRefusedRequest { request_id: rid(), case_id: fx.case_id.clone(), reason: "当事人拒不到场".into() }.encode_to_vec()
}

fn flag_criminal(fx: &Fx) -> Vec<u8> {
    spb::FlagCriminalClueRequest { request_id: rid(), case_id: fx.case_id.clone(), description: "涉嫌伪造公文".into(), transferred_to: "兰州市公安局城关分局".into(), transfer_record_sha256: fx.object.clone() }.encode_to_vec()
}

fn party_signature(fx: &Fx) -> Vec<u8> {
    spb::RecordPartySignatureRequest { request_id: rid(), record_id: fx.record_id.clone(), method: spb::SignatureMethod::Tablet as i32, signer_name: "刘某".into(), image_sha256: fx.object.clone() }.encode_to_vec()
}

fn party_refusal(fx: &Fx) -> Vec<u8> {
    let witness = |name: &str| spb::Witness { name: name.into(), detail: "在场见证".into(), signature_sha256: fx.object.clone() };
    spb::RecordPartyRefusalRequest { request_id: rid(), record_id: fx.record_id.clone(), reason: "当事人拒绝签字".into(), witnesses: vec![witness("见证人甲"), witness("见证人乙")] }.encode_to_vec()
}

fn correct_record(fx: &Fx) -> Vec<u8> {
    spb::CorrectRecordRequest { request_id: rid(), record_id: fx.record_id.clone(), reason: "更正陈述内容".into(), listening: Some(listening()), ..Default::default() }.encode_to_vec()
}

fn ledger_entry(fx: &Fx) -> Vec<u8> {
    rcpb::AddLedgerEntryRequest {
        request_id: rid(),
        case_id: fx.case_id.clone(),
        method: rcpb::Method::Phone as i32,
        on: date("2026-04-30"),
        progress: "已开始补报".into(),
        problems: "无".into(),
        measures: "继续跟踪".into(),
        attachment_sha256: Vec::new(),
    }
    .encode_to_vec()
}

fn paper_report(fx: &Fx) -> Vec<u8> {
    rcpb::RecordPaperReportRequest { request_id: rid(), case_id: fx.case_id.clone(), text: "已补报年度报告".into(), attachment_sha256: vec![fx.object.clone()], received_at: stamp(INTERVIEW) }.encode_to_vec()
}

fn request_extension(fx: &Fx) -> Vec<u8> {
    rcpb::RequestExtensionRequest { request_id: rid(), case_id: fx.case_id.clone(), reason: "需要更多时间建立制度".into(), new_deadline: date("2026-06-30") }.encode_to_vec()
}

fn score_file(fx: &Fx) -> Vec<u8> {
    svpb::ScoreFileRequest { request_id: rid(), sample_id: fx.sample_id.clone(), case_id: fx.case_id.clone(), lawful_start: 8, standard_documents: 8, timely_tracking: 8, comment: "规范".into() }.encode_to_vec()
}

fn return_visit(fx: &Fx) -> Vec<u8> {
    svpb::RecordReturnVisitRequest { request_id: rid(), visit_id: fx.visit_id.clone(), method: "phone".into(), outcome: "已整改".into(), visited_on: date("2026-04-30") }.encode_to_vec()
}

fn appeal(fx: &Fx) -> Vec<u8> {
    svpb::AppealComplaintRequest { request_id: rid(), complaint_id: fx.complaint_id.clone(), reasons: "事实不清".into() }.encode_to_vec()
}

fn paper_archive(fx: &Fx) -> Vec<u8> {
    svpb::RecordPaperArchiveRequest { request_id: rid(), case_id: fx.case_id.clone(), location: "档案室A架".into(), box_number: "2026-001".into(), archived_on: date("2026-04-30") }.encode_to_vec()
}

fn approve_destruction(fx: &Fx) -> Vec<u8> {
    svpb::ApproveDestructionRequest {
        request_id: rid(),
        case_id: fx.case_id.clone(),
        meeting_on: date("2026-04-30"),
        attendees: vec!["leader-a".into(), "deputy-a".into(), "di-a".into()],
        minutes_reference: "领导小组会议纪要2026-1".into(),
    }
    .encode_to_vec()
}

fn destroy(fx: &Fx) -> Vec<u8> {
    svpb::DestroyCaseFileRequest { request_id: rid(), case_id: fx.case_id.clone(), supervisors: vec!["di-a".into(), "di-b".into(), "di-c".into()], method: "粉碎".into() }.encode_to_vec()
}

async fn fixture(s: &Harness, peers: &yuetan_harness::scheduling::Peers) -> Fx {
    let case_id = s.held_case(peers, 7101, &[CO_ORGAN], at(INTERVIEW), at(SERVED)).await;
    let case = s.intake().get_case(req(&proposer(), ipb::GetCaseRequest { case_id: case_id.clone() })).await.expect("the case").into_inner();
    let file = s.review().get_review(req(&reviewer(), rpb::GetReviewRequest { case_id: case_id.clone() })).await.expect("the review").into_inner();
    let task = |kind: rpb::TaskKind| file.tasks.iter().find(|t| t.kind == kind as i32).map(|t| t.id.clone()).unwrap_or_else(|| panic!("a {kind:?} task"));
    let services = s.services_until(&case_id, |v| !v.is_empty()).await;
    let record = s.record_of(&case_id).await;
    let notice = s
        .rectification()
        .issue_notice(req(&proposer(), rcpb::IssueNoticeRequest { request_id: rid(), case_id: case_id.clone(), legal_basis: String::new(), consequence: String::new(), contact: "0931-8888888".into() }))
        .await
        .expect("the rectification notice")
        .into_inner();
    let object = s.upload(b"authz-matrix object").await;
    let inspector = Officer::new("di-a", ORGAN_A, CHENGGUAN, &[DISCIPLINE_INSPECTOR]);
    let complaint = s
        .supervision()
        .register_complaint(req(&inspector, svpb::RegisterComplaintRequest::decode(register_complaint(&Fx { case_id: case_id.clone(), ..Fx::default() }).as_slice()).unwrap()))
        .await
        .expect("a complaint")
        .into_inner();
    let (sample_id, visit_id) = sample_and_visit(s, &case_id, &case.number).await;
    Fx {
        party_id: case.party_id.clone(),
        credit_code: s
            .intake()
            .get_party(req(&proposer(), ipb::GetPartyRequest { party_id: case.party_id.clone() }))
            .await
            .expect("the fixture's party")
            .into_inner()
            .party
            .expect("a party")
            .credit_code,
        clue_id: case.clue_id.clone(),
        review_task: task(rpb::TaskKind::LegalityReview),
        approval_task: task(rpb::TaskKind::Approval),
        document_task: task(rpb::TaskKind::DocumentReview),
        notice_document: services[0].document_id.clone(),
        service_id: services[0].service_id.clone(),
        record_id: record.record_id.clone(),
        rect_document: notice.document_id.clone(),
        complaint_id: complaint.complaint.expect("the complaint").complaint_id,
        sample_id,
        visit_id,
        object,
        case_id,
    }
}

/// The case drawn in a monthly sample of 620102 (R-SUP-1) and in a
/// quarterly return visit (R-SUP-4), as the draws leave them: the draws
/// take closed cases at a month's or quarter's end, which the fixture's
/// open case is not, so the rows are written into supervision's read model.
async fn sample_and_visit(s: &Harness, case_id: &str, number: &str) -> (String, String) {
    let pool = s.pool_of(Service::Supervision);
    let (sample_id, visit_id, case) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7(), uuid::Uuid::parse_str(case_id).expect("a case id"));
    sqlx::query(
        "INSERT INTO samples (id, division, section, month, seed, previous_digest, population, percent, drawn_at)
         VALUES ($1, $2, 'authz', '2026-03', 'seed', 'digest', 1, 15, now())",
    )
    .bind(sample_id)
    .bind(CHENGGUAN)
    .execute(pool)
    .await
    .expect("a sample");
    sqlx::query("INSERT INTO sampled_files (sample_id, case_id, number) VALUES ($1, $2, $3)").bind(sample_id).bind(case).bind(number).execute(pool).await.expect("a drawn file");
    sqlx::query(
        "INSERT INTO return_visits (id, division, section, quarter, case_id, number, assigned_to) VALUES ($1, $2, 'authz', '2026Q1', $3, $4, $5)",
    )
    .bind(visit_id)
    .bind(CHENGGUAN)
    .bind(case)
    .bind(number)
    .bind(format!("office:{CHENGGUAN}"))
    .execute(pool)
    .await
    .expect("a return visit");
    (sample_id.to_string(), visit_id.to_string())
}

// ------------------------------------------------------------------- calls

#[derive(Debug, Clone, Copy, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let mut bytes = vec![0; src.remaining()];
        src.copy_to_slice(&mut bytes);
        Ok(Some(bytes))
    }
}

/// One unary call with the request's wire bytes; the answer's wire bytes.
async fn call(channel: Channel, path: &str, body: Vec<u8>, token: Option<&str>) -> Result<Vec<u8>, Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|err| Status::unavailable(err.to_string()))?;
    let mut request = Request::new(body);
    if let Some(token) = token {
        request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().expect("a header value"));
    }
    let path = tonic::codegen::http::uri::PathAndQuery::try_from(path.to_string()).expect("a method path");
    grpc.unary(request, path, Raw).await.map(tonic::Response::into_inner)
}

/// The process serving a gRPC service of the contract.
fn serving(service: &str) -> Service {
    match service {
        "IntakeService" | "PlatformService" => Service::Intake,
        "ReviewService" => Service::Review,
        "SchedulingService" => Service::Scheduling,
        "RectificationService" => Service::Rectification,
        "SupervisionService" | "CaseFileService" => Service::Supervision,
        other => panic!("no process serves {other}: add it to `serving`"),
    }
}

/// Every RPC of the contract: (`Service/Method`, full path, request type).
fn contract() -> Vec<(String, String, MessageDescriptor)> {
    let pool = yuetan_platform::gate::descriptors();
    let mut rpcs = Vec::new();
    for service in pool.services() {
        for method in service.methods() {
            rpcs.push((format!("{}/{}", service.name(), method.name()), format!("/{}/{}", service.full_name(), method.name()), method.input()));
        }
    }
    rpcs
}

#[derive(Debug, Clone)]
struct Cell {
    rpc: &'static str,
    role: &'static str,
    relation: Relation,
    expected: bool,
    got: Result<bool, String>,
    answer: String,
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

fn classify(row: &Row, fx: &Fx, answer: &Result<Vec<u8>, Status>) -> (Result<bool, String>, String) {
    match answer {
        Ok(bytes) if row.read == Read::Data => {
            let holds = contains(bytes, fx.case_id.as_bytes());
            (Ok(holds), if holds { "OK, the fixture listed".into() } else { "OK, the fixture not listed".into() })
        }
        Ok(_) => (Ok(true), "OK".into()),
        Err(status) => {
            let shown = format!("{:?}: {}", status.code(), status.message());
            match status.code() {
                Code::PermissionDenied | Code::Unauthenticated => (Ok(false), shown),
                Code::NotFound if row.read == Read::Hides => (Ok(false), shown),
                Code::InvalidArgument if row.read == Read::HidesParty => (Ok(false), shown),
                Code::Unavailable | Code::Internal | Code::Unknown | Code::DeadlineExceeded => (Err(shown.clone()), shown),
                _ if row.read == Read::Data => (Err(shown.clone()), shown),
                _ => (Ok(true), shown),
            }
        }
    }
}

async fn run_row(s: &Harness, fx: &Arc<Fx>, row: &'static Row, path: &str, input: &MessageDescriptor, tokens: &Arc<BTreeMap<(&'static str, Relation), String>>) -> Vec<Cell> {
    let service = row.rpc.split('/').next().unwrap_or_default();
    let channel = s.channel(serving(service));
    let mut cells = Vec::new();
    // Denials first: they must change nothing; then the allowed calls.
    for expected in [false, true] {
        let mut batch = tokio::task::JoinSet::new();
        for (role, _) in ROLES {
            for relation in RELATIONS {
                if row.expects(role, *relation) != expected {
                    continue;
                }
                let body = match row.build {
                    Some(build) => build(fx),
                    None => generic(input, service, fx),
                };
                let (channel, path, fx, tokens, relation) = (channel.clone(), path.to_string(), fx.clone(), tokens.clone(), *relation);
                batch.spawn(async move {
                    let token = &tokens[&(*role, relation)];
                    let mut answer = call(channel.clone(), &path, body.clone(), Some(token)).await;
                    // A transaction PostgreSQL aborted (a deadlock with a consumer) wrote nothing: retried as clients do.
                    for _ in 0..3 {
                        if !matches!(&answer, Err(status) if status.code() == Code::Unavailable) {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        answer = call(channel.clone(), &path, body.clone(), Some(token)).await;
                    }
                    let (got, answer) = classify(row, &fx, &answer);
                    Cell { rpc: row.rpc, role, relation, expected, got, answer }
                });
            }
        }
        while let Some(cell) = batch.join_next().await {
            cells.push(cell.expect("a cell's task"));
        }
    }
    cells
}

// ----------------------------------------------------------------- document

/// Per role and relation: (got through, differs from the policy).
type ByRole<'a> = BTreeMap<&'a str, BTreeMap<Relation, (bool, bool)>>;

fn render(cells: &[Cell]) -> String {
    let mut by_rpc: BTreeMap<&str, ByRole<'_>> = BTreeMap::new();
    for cell in cells {
        let through = cell.got.clone().unwrap_or(false);
        let differs = cell.got.as_ref() != Ok(&cell.expected);
        by_rpc.entry(cell.rpc).or_default().entry(cell.role).or_default().insert(cell.relation, (through, differs));
    }
    let differing = cells.iter().filter(|c| c.got.as_ref() != Ok(&c.expected)).count();
    let mut out = String::new();
    out.push_str(BEGIN);
    out.push_str("\n\n<!-- Generated by tests/e2e/tests/authz_matrix.rs: do not edit by hand. -->\n\n");
    out.push_str("Relations (the caller against a joint case of 620102 whose co-department is 620103-YJ):\n\n");
    for relation in RELATIONS {
        let _ = writeln!(out, "- `{}` {}", relation.letter(), relation.describe());
    }
    out.push_str("\nRoles: ");
    out.push_str(&ROLES.iter().map(|(role, short)| format!("`{short}` {role}")).collect::<Vec<_>>().join(", "));
    out.push_str(
        ".\n\nA cell lists the relations at which the role's call got through (`·`: refused there); `—`: refused at every relation. \
         Scope (the jurisdiction rule after the role): `role only` — no case context (registers, catalogues, the caller's own queues); \
         `case` — the case's division within the caller's, a division a service account serves, or a co-department of the joint case; \
         `division` — the same without co-departments; `lead organ` — changes are the lead organ's (620102-SJ) alone; \
         `lead organ + joint` — the lead organ or a co-department; \
         `party province` — the party register is the province's: any officer whose own division is in it; \
         `party division` — a party is changed within the jurisdiction of the division that registered it, by an officer of its province; \
         `panel` — `case` and on the interview; `nobody` — only the officer complained of (not in the fixture). \
         Read: `status` — refused is PERMISSION_DENIED or UNAUTHENTICATED; `hides` — NOT_FOUND also (the service hides foreign cases); \
         `hides party` — INVALID_ARGUMENT `no such party` also (a party of another province); \
         `data` — a list filtered by jurisdiction: through when the fixture is listed.\n\n",
    );
    out.push_str("| RPC | scope | read |");
    for (_, short) in ROLES {
        let _ = write!(out, " {short} |");
    }
    out.push_str("\n|---|---|---|");
    for _ in ROLES {
        out.push_str("---|");
    }
    out.push('\n');
    for row in POLICY {
        let Some(roles) = by_rpc.get(row.rpc) else { continue };
        let read = match row.read {
            Read::Status => "status",
            Read::Hides => "hides",
            Read::HidesParty => "hides party",
            Read::Data => "data",
        };
        let _ = write!(out, "| {} | {} | {} |", row.rpc.replace('/', " `").replace("Service", "") + "`", row.scope.describe(), read);
        for (role, _) in ROLES {
            let through = &roles[role];
            let text: String = RELATIONS.iter().map(|r| if through[r].0 { r.letter() } else { '·' }).collect();
            let mut text = if text.chars().all(|c| c == '·') { "—".to_string() } else { format!("`{text}`") };
            if RELATIONS.iter().any(|r| through[r].1) {
                text.push_str(" ⚠");
            }
            let _ = write!(out, " {text} |");
        }
        out.push('\n');
    }
    out.push('\n');
    if differing > 0 {
        let _ = writeln!(out, "⚠ {differing} cells differ from the test's policy (marked above): the test fails until the service or the policy is fixed.\n");
    }
    out.push_str(END);
    out
}

/// The document with its matrix section replaced by `section`.
fn with_section(document: &str, section: &str) -> String {
    let begin = document.find(BEGIN).unwrap_or_else(|| panic!("{DOC} has no {BEGIN} marker"));
    let end = document.find(END).unwrap_or_else(|| panic!("{DOC} has no {END} marker")) + END.len();
    format!("{}{}{}", &document[..begin], section, &document[end..])
}

fn doc_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(DOC)
}

// -------------------------------------------------------------------- tests

async fn system() -> (Harness, yuetan_harness::scheduling::Peers) {
    let mut s = Harness::builder().at(at(NOW)).with(Service::Intake).with(Service::Review).start().await;
    s.put_organs().await;
    let peers = s.start_scheduling_stack(false, None).await;
    s.start_service(Service::Rectification).await;
    s.start_service(Service::Supervision).await;
    (s, peers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_rpc_every_role_every_jurisdiction_relation() {
    let started = std::time::Instant::now();
    let rows: BTreeMap<&str, &'static Row> = POLICY.iter().map(|row| (row.rpc, row)).collect();
    let contract = contract();
    // A new RPC without a row fails the test (before anything starts).
    let missing: Vec<&str> = contract.iter().map(|(rpc, _, _)| rpc.as_str()).filter(|rpc| !rows.contains_key(rpc)).collect();
    assert!(missing.is_empty(), "RPCs of the contract without a row in the authorisation matrix's POLICY: {missing:?}");
    let stale: Vec<&str> = rows.keys().copied().filter(|rpc| !contract.iter().any(|(r, _, _)| r == rpc)).collect();
    assert!(stale.is_empty(), "POLICY rows for RPCs the contract no longer has: {stale:?}");

    let (s, peers) = system().await;
    let fx = Arc::new(fixture(&s, &peers).await);
    let tokens: Arc<BTreeMap<(&'static str, Relation), String>> =
        Arc::new(ROLES.iter().flat_map(|(role, _)| RELATIONS.iter().map(move |r| ((*role, *r), r.token(role)))).collect());

    let mut cells = Vec::new();
    for row in POLICY {
        let (_, path, input) = contract.iter().find(|(rpc, _, _)| rpc == row.rpc).expect("checked above");
        cells.extend(run_row(&s, &fx, row, path, input, &tokens).await);
    }

    let failures: Vec<String> = cells
        .iter()
        .filter(|c| c.got.as_ref() != Ok(&c.expected))
        .map(|c| {
            let word = |b: bool| if b { "ALLOW" } else { "DENY" };
            let got = match &c.got {
                Ok(b) => word(*b).to_string(),
                Err(_) => "ERROR".to_string(),
            };
            format!("{} as {} at {:?}: expected {}, got {} ({})", c.rpc, c.role, c.relation, word(c.expected), got, c.answer)
        })
        .collect();
    println!("{} cells over {} RPCs in {:?}", cells.len(), POLICY.len(), started.elapsed());

    let section = render(&cells);
    let path = doc_path();
    let document = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    let updated = with_section(&document, &section);
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let drift = updated != document;
    if drift && !in_ci {
        std::fs::write(&path, &updated).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        println!("{DOC}: the authorisation matrix rewritten");
    }
    s.stop().await;
    let mut problems = Vec::new();
    if !failures.is_empty() {
        problems.push(format!("{} cells of the authorisation matrix differ from the policy:\n{}", failures.len(), failures.join("\n")));
    }
    if drift && in_ci {
        problems.push(format!("{DOC}'s authorisation matrix differs from the one this run generated: run `cargo test -p yuetan-e2e --test authz_matrix` locally and commit the file"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// No token, a token of another issuer: every RPC of the contract refuses
/// with UNAUTHENTICATED before any handler runs.
#[tokio::test]
async fn every_rpc_refuses_a_call_without_a_valid_token() {
    let (s, _peers) = system().await;
    let forged = {
        let claims = Claims::for_officer("x", "x", ORGAN_A, CHENGGUAN, &[LEADER], ISSUER, AUDIENCE, chrono::Duration::hours(1), Utc::now());
        TokenIssuer::hs256("test", "another-secret-at-least-32-bytes-long-xx").issue(&claims).unwrap()
    };
    let fx = Fx::default();
    let mut refused = 0;
    for (rpc, path, input) in contract() {
        let service = rpc.split('/').next().unwrap_or_default().to_string();
        for token in [None, Some(forged.as_str())] {
            let answer = call(s.channel(serving(&service)), &path, generic(&input, &service, &fx), token).await;
            match answer {
                Err(status) if status.code() == Code::Unauthenticated => refused += 1,
                other => panic!("{rpc} with token {:?}: expected UNAUTHENTICATED, got {:?}", token.map(|_| "forged"), other.map(|b| b.len())),
            }
        }
    }
    assert!(refused >= 2 * POLICY.len(), "{refused} refusals");
    s.stop().await;
}
