//! The scheduling documents as PDF: the interview notice (行政约谈通知书,
//! R-NOTICE-1), the delivery receipt (送达回证, LAW.md §3), the interview
//! outline (约谈提纲, R-DOC-1) and the interview record (行政约谈记录,
//! R-INT-4), laid out after GB/T 9704-2012 by typst used as a library; and
//! the organ's seal over a file's SHA-256 (R-DOC-2), in [`seal`].
//!
//! The data never becomes markup: the [`Renderer`] hands it to one fixed
//! template (src/template.typ) as a JSON file that the template reads, so
//! user input (a party's name, say) is always printed as text.

pub mod document_list;
mod render;
pub mod seal;
pub mod supervision_report;

use std::path::PathBuf;

use chrono::{NaiveDate, NaiveDateTime};

pub use document_list::{DocumentList, DocumentListEntry, DocumentListRenderer};
pub use render::Renderer;

/// The fonts the documents are set in: every face of every file is loaded
/// (all faces of a .ttc collection), and the two families must be among them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FontConfig {
    /// Font files (.ttf, .otf, .ttc, .otc).
    pub files: Vec<PathBuf>,
    /// The body family (3号, 16pt), standing in for 仿宋_GB2312.
    pub body_family: String,
    /// The title family, set bold (2号, 22pt), standing in for 小标宋.
    pub title_family: String,
}

/// Debian's Noto CJK (package fonts-noto-cjk).
pub const NOTO_SERIF_CJK_DIR: &str = "/usr/share/fonts/opentype/noto";

impl Default for FontConfig {
    /// Debian's fonts-noto-cjk serif faces: "Noto Serif CJK SC" as the
    /// substitute for both 仿宋 (body) and 小标宋 (title, bold). An operator
    /// with licensed 仿宋_GB2312 / 小标宋 files configures them by path and
    /// family name instead.
    fn default() -> Self {
        FontConfig {
            files: vec![
                PathBuf::from(NOTO_SERIF_CJK_DIR).join("NotoSerifCJK-Regular.ttc"),
                PathBuf::from(NOTO_SERIF_CJK_DIR).join("NotoSerifCJK-Bold.ttc"),
            ],
            body_family: "Noto Serif CJK SC".to_owned(),
            title_family: "Noto Serif CJK SC".to_owned(),
        }
    }
}

/// A document to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Document {
    InterviewNotice(InterviewNotice),
    DeliveryReceipt(DeliveryReceipt),
    InterviewOutline(InterviewOutline),
    InterviewRecord(InterviewRecord),
    RectificationNotice(RectificationNotice),
    AcceptanceOpinion(AcceptanceOpinion),
    AcceptanceCertificate(AcceptanceCertificate),
    PenaltyPriorNotice(PenaltyPriorNotice),
}

/// A rendered PDF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub pdf: Vec<u8>,
    /// Lowercase hex SHA-256 of `pdf`.
    pub sha256: String,
    pub pages: u32,
}

/// 行政约谈通知书 (R-NOTICE-1): time, place or video, participants, content,
/// materials to bring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterviewNotice {
    /// 发文机关全称, e.g. "兰州市城关区市场监督管理局".
    pub issuing_organ: String,
    /// 文号, e.g. "兰城市监约通〔2026〕3号".
    pub number: String,
    /// 当事人, the addressee, e.g. "兰州某某餐饮有限公司".
    pub party_name: String,
    /// 案号, the case's own number.
    pub case_number: String,
    /// 约谈事由: the facts or risks found.
    pub matter: String,
    /// 依据.
    pub legal_basis: String,
    /// China Standard Time; rendered "2026年10月12日 09时30分".
    pub interview_at: NaiveDateTime,
    /// 地点; for a video interview the caller's text, e.g. "视频约谈（链接另行送达）".
    pub place: String,
    pub video: bool,
    /// The interviewers' names.
    pub interviewers: Vec<String>,
    /// Co-departments or experts; may be empty.
    pub participants: Vec<String>,
    /// 需携带的材料.
    pub materials: Vec<String>,
    /// 联系人及电话 of the office.
    pub contact: String,
    /// 成文日期, rendered "2026年10月9日" under the organ's "（盖章）" line.
    pub issued_on: NaiveDate,
}

/// 送达回证 (LAW.md §3), in the classic one-column-of-rows table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReceipt {
    pub issuing_organ: String,
    /// The receipt's own 文号.
    pub number: String,
    /// The document served, e.g. "行政约谈通知书".
    pub document_name: String,
    /// Its 文号.
    pub document_number: String,
    pub recipient: String,
    /// e.g. "电子送达（短信）".
    pub method: String,
    /// Where served: masked phone, e-mail, platform account, postal address.
    pub address: String,
    /// China Standard Time, to the minute; rendered "2026年10月09日 10时05分".
    pub served_at: NaiveDateTime,
    pub receiver_or_evidence: String,
    pub server: String,
    pub witness: String,
    pub remarks: String,
}

/// 约谈提纲 (R-DOC-1): what the interviewers will raise, prepared from the
/// case before the interview; an internal document, numbered like the notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterviewOutline {
    pub issuing_organ: String,
    /// Its 文号, e.g. "兰城市监约纲〔2026〕3号".
    pub number: String,
    pub case_number: String,
    pub party_name: String,
    /// China Standard Time.
    pub interview_at: NaiveDateTime,
    pub place: String,
    pub video: bool,
    pub interviewers: Vec<String>,
    pub recorder: String,
    /// Co-departments and experts taking part.
    pub participants: Vec<String>,
    /// 基本事实.
    pub facts: String,
    /// 违反的规定, one per line.
    pub provisions: Vec<String>,
    /// 证据清单.
    pub evidence: Vec<String>,
    /// 约谈要点: the points to raise, numbered in the document.
    pub points: Vec<String>,
    pub prepared_on: NaiveDate,
}

/// A person on the record (interviewer, recorder, co-department officer…).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordPerson {
    pub name: String,
    /// "约谈人", "记录人", "联合约谈部门", "专家", "当事人", "委托代理人", "见证人".
    pub role: String,
    /// The organ, or for an interviewer the enforcement certificate number.
    pub detail: String,
}

/// Who was present, from when to when (video: from the server's joins and leaves).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attendance {
    pub name: String,
    pub role: String,
    /// China Standard Time, to the minute.
    pub from: NaiveDateTime,
    /// `None`: still present when the record was drawn up.
    pub until: Option<NaiveDateTime>,
}

/// One agreed rectification item (R-INT-3 step 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordItem {
    pub content: String,
    pub deadline: NaiveDate,
    /// 验收标准.
    pub acceptance_standard: String,
    /// How it will be checked (书面审查, 现场检查…).
    pub check_method: String,
    /// Set when the deadline is beyond 30 days: the section chief's approval.
    pub extended_note: String,
}

/// A signature on the record, as printed on its signature page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureLine {
    pub role: String,
    pub name: String,
    /// "电子签名", "手写签名（纸质）", "手写签名（平板）", "门户确认".
    pub method: String,
    /// China Standard Time, to the minute.
    pub signed_at: NaiveDateTime,
    /// The first 16 hex characters of the signature or the signature image's sha256.
    pub fingerprint: String,
}

/// 行政约谈记录 (R-INT-4). Rendered twice per version: first without
/// signatures (`signatures` empty, blank signature lines) for everyone to
/// read and sign over its sha256, then, once all have signed, with the
/// signature page filled in (the signed record that goes to the file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterviewRecord {
    pub issuing_organ: String,
    /// 文号, e.g. "兰城市监约录〔2026〕3号"; the same in every version.
    pub number: String,
    /// 1 for the original; a correction is version 2, 3…
    pub version: u32,
    /// Why this version corrects the previous one (empty for version 1).
    pub correction_reason: String,
    pub case_number: String,
    pub party_name: String,
    /// China Standard Time.
    pub started_at: NaiveDateTime,
    pub ended_at: NaiveDateTime,
    pub place: String,
    pub video: bool,
    /// Interviewers, recorder, co-department officers, experts, the party's
    /// representative and agent, in that order.
    pub people: Vec<RecordPerson>,
    pub attendance: Vec<Attendance>,
    /// R-INT-3 (1) opening: certificates shown, purpose, basis.
    pub opening: String,
    /// (2) informing: the facts found, the provisions violated, the right
    /// to state and defend (陈述、申辩), the consequences of refusing.
    pub facts: String,
    pub provisions: Vec<String>,
    pub evidence: Vec<String>,
    pub informing: String,
    /// (3) listening: the party's statement and defence, difficulties.
    pub party_statement: String,
    /// The party's commitments.
    pub party_commitments: String,
    /// (4) agreeing: the rectification items.
    pub items: Vec<RecordItem>,
    /// R-INT-2: the recordings, "path (sha256)".
    pub recordings: Vec<String>,
    /// Empty until everyone has signed.
    pub signatures: Vec<SignatureLine>,
    /// The party refused to sign: the statement printed (R-INT-4); the
    /// witnesses then appear among `signatures` with role "见证人".
    pub party_refusal: String,
    /// R-INT-5: a criminal clue found and transferred (empty if none).
    pub criminal_clue: String,
}

/// One rectification item as the rectification documents print it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RectItem {
    pub content: String,
    pub deadline: NaiveDate,
    /// 验收标准.
    pub acceptance_standard: String,
}

/// 整改通知书 (R-RECT-1): sealed and served like the interview notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RectificationNotice {
    pub issuing_organ: String,
    /// 文号, e.g. "兰城市监整改〔2026〕3号".
    pub number: String,
    pub party_name: String,
    pub case_number: String,
    /// The interview record it follows, e.g. "兰城市监约录〔2026〕2号".
    pub record_number: String,
    /// 依据: the provisions.
    pub legal_basis: String,
    pub items: Vec<RectItem>,
    /// The overall deadline (the latest item's).
    pub deadline: NaiveDate,
    /// The report (整改报告) is due by this day (3 working days before the deadline).
    pub report_due: NaiveDate,
    /// 逾期未整改的后果.
    pub consequence: String,
    /// Where the party submits the report (a portal address, or empty).
    pub report_channel: String,
    pub contact: String,
    pub issued_on: NaiveDate,
}

/// One acceptance officer's answers (R-RECT-4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptanceAnswer {
    pub officer: String,
    pub complete: bool,
    pub lawful: bool,
    pub goal_reached: bool,
    pub comments: String,
    pub answered_at: NaiveDateTime,
}

/// 整改验收意见书 (R-RECT-4): the officers' answers and the conclusion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptanceOpinion {
    pub issuing_organ: String,
    pub number: String,
    pub party_name: String,
    pub case_number: String,
    pub notice_number: String,
    pub report_received_on: NaiveDate,
    pub items: Vec<RectItem>,
    pub answers: Vec<AcceptanceAnswer>,
    /// true: 验收合格; false: 验收不合格.
    pub passed: bool,
    pub conclusion: String,
    pub issued_on: NaiveDate,
}

/// 整改验收合格书 (R-RECT-5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptanceCertificate {
    pub issuing_organ: String,
    pub number: String,
    pub party_name: String,
    pub case_number: String,
    pub notice_number: String,
    pub items: Vec<RectItem>,
    pub conclusion: String,
    /// 后续监管: a follow-up supervision period, or empty.
    pub follow_up: String,
    pub issued_on: NaiveDate,
}

/// 行政处罚告知书 (R-RECT-6), a DRAFT for the legal section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PenaltyPriorNotice {
    pub issuing_organ: String,
    /// Empty while a draft: printed as "（草稿，待法制审核）".
    pub number: String,
    pub party_name: String,
    pub case_number: String,
    /// The facts found, including that the agreed rectification was not done.
    pub facts: String,
    pub provisions: Vec<String>,
    /// The failed items.
    pub failed_items: Vec<RectItem>,
    /// Evidence: the interview record, the rectification notice, the ledger… (name and number / sha256).
    pub evidence: Vec<String>,
    /// The proposed penalty (拟作出的行政处罚).
    pub proposed_penalty: String,
    /// 陈述、申辩 (and hearing) rights and the time limit to use them.
    pub rights: String,
    pub issued_on: NaiveDate,
}

/// What went wrong, naming the font file, the family or the template's
/// diagnostics.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("font file {path}: {reason}")]
    FontFile { path: PathBuf, reason: String },
    #[error("font family {family:?} ({role}) is in none of the configured font files {files:?}")]
    FontFamily { family: String, role: &'static str, files: Vec<PathBuf> },
    #[error("the document did not compile: {0}")]
    Compile(String),
    #[error("the PDF could not be written: {0}")]
    Pdf(String),
    #[error("{field}: {reason}")]
    Field { field: String, reason: String },
    #[error("the seal does not verify against the file's sha256")]
    SealMismatch,
}

/// "2026年10月09日 10时05分": a date and time to the minute.
pub fn format_datetime(at: NaiveDateTime) -> String {
    at.format("%Y年%m月%d日 %H时%M分").to_string()
}

/// "2026年10月9日": 成文日期 as GB/T 9704 writes it (no leading zeros).
pub fn format_date(on: NaiveDate) -> String {
    use chrono::Datelike;
    format!("{}年{}月{}日", on.year(), on.month(), on.day())
}
