//! The typst world: one fixed template as the main source, the document's
//! data as the virtual file /data.json, fonts from the configured files, no
//! other file, no package, no clock. [`Engine`] holds it for both the
//! [`Renderer`] and the supervision report's renderer
//! ([`crate::supervision_report::ReportRenderer`]).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Value};
use typst::diag::{FileError, FileResult, SourceDiagnostic};
use typst::foundations::{Bytes, Datetime};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};
use typst_layout::PagedDocument;

use crate::{
    format_date, format_datetime, seal, AcceptanceAnswer, AcceptanceCertificate, AcceptanceOpinion, Attendance, DeliveryReceipt, Document,
    DocumentError, FontConfig, InterviewNotice, InterviewOutline, InterviewRecord, PenaltyPriorNotice, RecordItem, RecordPerson, RectItem,
    RectificationNotice, Rendered, SignatureLine,
};

const TEMPLATE: &str = include_str!("template.typ");

/// What every renderer here shares: the fonts (read, parsed and checked
/// once), typst's standard library and the font book, one fixed template as
/// the main source, and a render counter for cache eviction. Each render
/// compiles the template with its data as the virtual file /data.json.
pub(crate) struct Engine {
    library: LazyHash<Library>,
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
    main: Source,
    data_id: FileId,
    body_family: String,
    title_family: String,
    diagnostics: Diagnostics,
    renders: AtomicU64,
}

/// How a compile or PDF error describes typst's diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Diagnostics {
    /// Each message with the template line where known and its hints.
    WithTemplateLines,
    /// The messages only.
    MessagesOnly,
}

/// Every this many renders the typst caches drop what has not been used in
/// the last [`MAX_AGE`] evictions, so memory stays flat over thousands of
/// documents while the font and template work stays cached.
const EVICT_EVERY: u64 = 32;
const MAX_AGE: usize = 4;

impl Engine {
    /// Loads every face of every configured font file and checks that the
    /// body and title families are among them; `template` becomes the main
    /// source at the virtual path `main_path`.
    pub(crate) fn new(fonts: &FontConfig, main_path: &str, template: &str, diagnostics: Diagnostics) -> Result<Engine, DocumentError> {
        let mut loaded = Vec::new();
        for path in &fonts.files {
            let data = std::fs::read(path).map_err(|e| DocumentError::FontFile { path: path.clone(), reason: e.to_string() })?;
            let before = loaded.len();
            // Font::iter yields every face of a collection (.ttc).
            loaded.extend(Font::iter(Bytes::new(data)));
            if loaded.len() == before {
                return Err(DocumentError::FontFile { path: path.clone(), reason: "no font face could be read from it".to_owned() });
            }
        }
        let book = FontBook::from_fonts(&loaded);
        for (role, family) in [("body", &fonts.body_family), ("title", &fonts.title_family)] {
            if book.select_family(&family.to_lowercase()).next().is_none() {
                return Err(DocumentError::FontFamily { family: family.clone(), role, files: fonts.files.clone() });
            }
        }
        let main_id = FileId::new(RootedPath::new(VirtualRoot::Project, VirtualPath::new(main_path).expect("a valid virtual path")));
        let data_id = FileId::new(RootedPath::new(VirtualRoot::Project, VirtualPath::new("/data.json").expect("a valid virtual path")));
        Ok(Engine {
            library: LazyHash::new(Library::builder().build()),
            book: LazyHash::new(book),
            fonts: loaded,
            main: Source::new(main_id, template.to_owned()),
            data_id,
            body_family: fonts.body_family.clone(),
            title_family: fonts.title_family.clone(),
            diagnostics,
            renders: AtomicU64::new(0),
        })
    }

    pub(crate) fn body_family(&self) -> &str {
        &self.body_family
    }

    pub(crate) fn title_family(&self) -> &str {
        &self.title_family
    }

    /// The families as the templates read them: `d.fonts.body`, `d.fonts.title`.
    pub(crate) fn fonts_data(&self) -> Value {
        json!({ "body": self.body_family, "title": self.title_family })
    }

    /// Compiles the template over `data` (served as /data.json) to a PDF.
    pub(crate) fn render(&self, data: &Value) -> Result<Rendered, DocumentError> {
        let data = serde_json::to_vec(data).expect("a JSON value serialises");
        let world = EngineWorld { engine: self, data: Bytes::new(data) };
        let result = typst::compile::<PagedDocument>(&world).output;
        if self.renders.fetch_add(1, Ordering::Relaxed) % EVICT_EVERY == EVICT_EVERY - 1 {
            typst::comemo::evict(MAX_AGE);
        }
        let document = result.map_err(|diags| DocumentError::Compile(describe(&world, diags.as_slice())))?;
        let pdf =
            typst_pdf::pdf(&document, &typst_pdf::PdfOptions::default()).map_err(|diags| DocumentError::Pdf(describe(&world, diags.as_slice())))?;
        let pages = u32::try_from(document.pages().len()).unwrap_or(u32::MAX);
        let sha256 = seal::sha256_hex(&pdf);
        Ok(Rendered { pdf, sha256, pages })
    }
}

/// Renders documents. Build it once (the fonts are read and parsed here) and
/// share it: it is `Send + Sync` and renders on many threads at once.
pub struct Renderer {
    engine: Engine,
}

impl Renderer {
    pub fn new(fonts: &FontConfig) -> Result<Renderer, DocumentError> {
        Ok(Renderer { engine: Engine::new(fonts, "/main.typ", TEMPLATE, Diagnostics::WithTemplateLines)? })
    }

    /// Renders one document. The same document renders to the same bytes.
    /// A record of version 0, or one that ends before it starts, and a
    /// rectification notice with an item or the report due after its
    /// deadline, are refused with [`DocumentError::Field`] naming the field.
    pub fn render(&self, doc: &Document) -> Result<Rendered, DocumentError> {
        self.engine.render(&self.data(doc)?)
    }

    /// The template's input: everything it prints, already formatted.
    fn data(&self, doc: &Document) -> Result<Value, DocumentError> {
        let fonts = self.engine.fonts_data();
        Ok(match doc {
            Document::InterviewNotice(n) => {
                let InterviewNotice {
                    issuing_organ,
                    number,
                    party_name,
                    case_number,
                    matter,
                    legal_basis,
                    interview_at,
                    place,
                    video,
                    interviewers,
                    participants,
                    materials,
                    contact,
                    issued_on,
                } = n;
                json!({
                    "kind": "interview_notice",
                    "fonts": fonts,
                    "title": format!("行政约谈通知书 {number}"),
                    "issuing_organ": issuing_organ,
                    "number": number,
                    "issued_on": format_date(*issued_on),
                    "notice": {
                        "party_name": party_name,
                        "case_number": case_number,
                        "matter": matter,
                        "legal_basis": legal_basis,
                        "interview_at": format_datetime(*interview_at),
                        "place": place,
                        "video": video,
                        "interviewers": interviewers,
                        "participants": participants,
                        "materials": materials,
                        "contact": contact,
                    },
                })
            }
            Document::InterviewOutline(o) => outline_data(o, fonts),
            Document::InterviewRecord(r) => record_data(r, fonts)?,
            Document::RectificationNotice(n) => rectification_notice_data(n, fonts)?,
            Document::AcceptanceOpinion(o) => acceptance_opinion_data(o, fonts),
            Document::AcceptanceCertificate(c) => acceptance_certificate_data(c, fonts),
            Document::PenaltyPriorNotice(p) => penalty_prior_notice_data(p, fonts),
            Document::DeliveryReceipt(r) => {
                let DeliveryReceipt {
                    issuing_organ,
                    number,
                    document_name,
                    document_number,
                    recipient,
                    method,
                    address,
                    served_at,
                    receiver_or_evidence,
                    server,
                    witness,
                    remarks,
                } = r;
                json!({
                    "kind": "delivery_receipt",
                    "fonts": fonts,
                    "title": format!("送达回证 {number}"),
                    "issuing_organ": issuing_organ,
                    "number": number,
                    // The receipt is dated the day of service.
                    "issued_on": format_date(served_at.date()),
                    "receipt": {
                        "document_name": document_name,
                        "document_number": document_number,
                        "recipient": recipient,
                        "method": method,
                        "address": address,
                        "served_at": format_datetime(*served_at),
                        "receiver_or_evidence": receiver_or_evidence,
                        "server": server,
                        "witness": witness,
                        "remarks": remarks,
                    },
                })
            }
        })
    }
}

/// Roles whose members sign the record (R-INT-4): on the unsigned record each
/// of them gets a blank signature line.
const SIGNING_ROLES: [&str; 4] = ["约谈人", "记录人", "联合约谈部门", "当事人"];

/// 地点 as printed: the place, or for a video interview "视频约谈" with the
/// caller's text in brackets (once, if the text already says 视频约谈).
fn place_text(place: &str, video: bool) -> String {
    let place = place.trim();
    if !video {
        place.to_owned()
    } else if place.is_empty() {
        "视频约谈".to_owned()
    } else if place.contains("视频约谈") {
        place.to_owned()
    } else {
        format!("视频约谈（{place}）")
    }
}

fn outline_data(o: &InterviewOutline, fonts: Value) -> Value {
    let InterviewOutline {
        issuing_organ,
        number,
        case_number,
        party_name,
        interview_at,
        place,
        video,
        interviewers,
        recorder,
        participants,
        facts,
        provisions,
        evidence,
        points,
        prepared_on,
    } = o;
    json!({
        "kind": "interview_outline",
        "fonts": fonts,
        "title": format!("行政约谈提纲 {number}"),
        "issuing_organ": issuing_organ,
        "number": number,
        "issued_on": format_date(*prepared_on),
        "outline": {
            "case_number": case_number,
            "party_name": party_name,
            "interview_at": format_datetime(*interview_at),
            "place": place_text(place, *video),
            "interviewers": interviewers,
            "recorder": recorder,
            "participants": participants,
            "facts": facts,
            "provisions": provisions,
            "evidence": evidence,
            "points": points,
        },
    })
}

fn record_data(r: &InterviewRecord, fonts: Value) -> Result<Value, DocumentError> {
    let InterviewRecord {
        issuing_organ,
        number,
        version,
        correction_reason,
        case_number,
        party_name,
        started_at,
        ended_at,
        place,
        video,
        people,
        attendance,
        opening,
        facts,
        provisions,
        evidence,
        informing,
        party_statement,
        party_commitments,
        items,
        recordings,
        signatures,
        party_refusal,
        criminal_clue,
    } = r;
    if *version == 0 {
        return Err(DocumentError::Field { field: "version".to_owned(), reason: "versions start at 1".to_owned() });
    }
    if ended_at < started_at {
        return Err(DocumentError::Field {
            field: "ended_at".to_owned(),
            reason: format!("{} is before the start, {}", format_datetime(*ended_at), format_datetime(*started_at)),
        });
    }
    // "2026年10月12日 09时30分至11时05分" on one day, both in full otherwise.
    let time = if ended_at.date() == started_at.date() {
        format!("{}至{}", format_datetime(*started_at), ended_at.format("%H时%M分"))
    } else {
        format!("{}至{}", format_datetime(*started_at), format_datetime(*ended_at))
    };
    let people: Vec<Value> =
        people.iter().map(|RecordPerson { name, role, detail }| json!({ "name": name, "role": role, "detail": detail })).collect();
    let signers: Vec<Value> =
        r.people.iter().filter(|p| SIGNING_ROLES.contains(&p.role.trim())).map(|p| json!({ "name": p.name, "role": p.role })).collect();
    let attendance: Vec<Value> = attendance
        .iter()
        .map(|Attendance { name, role, from, until }| {
            json!({
                "name": name,
                "role": role,
                "from": format_datetime(*from),
                "until": until.map_or_else(|| "—".to_owned(), format_datetime),
            })
        })
        .collect();
    let items: Vec<Value> = items
        .iter()
        .map(|RecordItem { content, deadline, acceptance_standard, check_method, extended_note }| {
            json!({
                "content": content,
                "deadline": format_date(*deadline),
                "acceptance_standard": acceptance_standard,
                "check_method": check_method,
                "extended_note": extended_note.trim(),
            })
        })
        .collect();
    let signatures: Vec<Value> = signatures
        .iter()
        .map(|SignatureLine { role, name, method, signed_at, fingerprint }| {
            json!({
                "role": role,
                "name": name,
                "method": method,
                "signed_at": format_datetime(*signed_at),
                "fingerprint": fingerprint,
            })
        })
        .collect();
    let title = if *version > 1 { format!("行政约谈记录 {number} 第{version}版") } else { format!("行政约谈记录 {number}") };
    Ok(json!({
        "kind": "interview_record",
        "fonts": fonts,
        "title": title,
        "issuing_organ": issuing_organ,
        "number": number,
        "issued_on": format_date(ended_at.date()),
        "record": {
            // Printed only for a correction.
            "correction": (*version > 1).then(|| json!({ "version": version, "reason": correction_reason })),
            "case_number": case_number,
            "party_name": party_name,
            "time": time,
            "place": place_text(place, *video),
            "people": people,
            "attendance": attendance,
            "opening": opening,
            "facts": facts,
            "provisions": provisions,
            "evidence": evidence,
            "informing": informing,
            "party_statement": party_statement,
            "party_commitments": party_commitments,
            "items": items,
            "recordings": recordings,
            "signers": signers,
            "signatures": signatures,
            "party_refusal": party_refusal.trim(),
            "criminal_clue": criminal_clue.trim(),
        },
    }))
}

/// The rectification items as the rectification documents' table prints them.
fn rect_items(items: &[RectItem]) -> Vec<Value> {
    items
        .iter()
        .map(|RectItem { content, deadline, acceptance_standard }| {
            json!({ "content": content, "deadline": format_date(*deadline), "acceptance_standard": acceptance_standard })
        })
        .collect()
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "是"
    } else {
        "否"
    }
}

/// 整改通知书 (R-RECT-1). An item due after the overall deadline, or a report
/// due after it, is refused with [`DocumentError::Field`] naming the field.
fn rectification_notice_data(n: &RectificationNotice, fonts: Value) -> Result<Value, DocumentError> {
    let RectificationNotice {
        issuing_organ,
        number,
        party_name,
        case_number,
        record_number,
        legal_basis,
        items,
        deadline,
        report_due,
        consequence,
        report_channel,
        contact,
        issued_on,
    } = n;
    if let Some((i, late)) = items.iter().enumerate().find(|(_, it)| it.deadline > *deadline) {
        return Err(DocumentError::Field {
            field: format!("items[{i}].deadline"),
            reason: format!("{} is after the overall deadline, {}", format_date(late.deadline), format_date(*deadline)),
        });
    }
    if report_due > deadline {
        return Err(DocumentError::Field {
            field: "report_due".to_owned(),
            reason: format!("{} is after the deadline, {}", format_date(*report_due), format_date(*deadline)),
        });
    }
    Ok(json!({
        "kind": "rectification_notice",
        "fonts": fonts,
        "title": format!("整改通知书 {number}"),
        "issuing_organ": issuing_organ,
        "number": number,
        "issued_on": format_date(*issued_on),
        "rect": {
            "party_name": party_name,
            "case_number": case_number,
            "record_number": record_number,
            "legal_basis": legal_basis,
            "items": rect_items(items),
            "deadline": format_date(*deadline),
            "report_due": format_date(*report_due),
            "consequence": consequence,
            "report_channel": report_channel.trim(),
            "contact": contact,
        },
    }))
}

fn acceptance_opinion_data(o: &AcceptanceOpinion, fonts: Value) -> Value {
    let AcceptanceOpinion {
        issuing_organ,
        number,
        party_name,
        case_number,
        notice_number,
        report_received_on,
        items,
        answers,
        passed,
        conclusion,
        issued_on,
    } = o;
    let answers: Vec<Value> = answers
        .iter()
        .map(|AcceptanceAnswer { officer, complete, lawful, goal_reached, comments, answered_at }| {
            json!({
                "officer": officer,
                "complete": yes_no(*complete),
                "lawful": yes_no(*lawful),
                "goal_reached": yes_no(*goal_reached),
                "comments": comments,
                "answered_at": format_datetime(*answered_at),
            })
        })
        .collect();
    json!({
        "kind": "acceptance_opinion",
        "fonts": fonts,
        "title": format!("整改验收意见书 {number}"),
        "issuing_organ": issuing_organ,
        "number": number,
        "issued_on": format_date(*issued_on),
        "opinion": {
            "party_name": party_name,
            "case_number": case_number,
            "notice_number": notice_number,
            "report_received_on": format_date(*report_received_on),
            "items": rect_items(items),
            "answers": answers,
            "result": if *passed { "验收合格" } else { "验收不合格" },
            "conclusion": conclusion,
        },
    })
}

fn acceptance_certificate_data(c: &AcceptanceCertificate, fonts: Value) -> Value {
    let AcceptanceCertificate { issuing_organ, number, party_name, case_number, notice_number, items, conclusion, follow_up, issued_on } = c;
    json!({
        "kind": "acceptance_certificate",
        "fonts": fonts,
        "title": format!("整改验收合格书 {number}"),
        "issuing_organ": issuing_organ,
        "number": number,
        "issued_on": format_date(*issued_on),
        "certificate": {
            "party_name": party_name,
            "case_number": case_number,
            "notice_number": notice_number,
            "items": rect_items(items),
            "conclusion": conclusion,
            "follow_up": follow_up.trim(),
        },
    })
}

/// What a draft prints where the 文号 goes.
const DRAFT_MARK: &str = "（草稿，待法制审核）";

fn penalty_prior_notice_data(p: &PenaltyPriorNotice, fonts: Value) -> Value {
    let PenaltyPriorNotice {
        issuing_organ,
        number,
        party_name,
        case_number,
        facts,
        provisions,
        failed_items,
        evidence,
        proposed_penalty,
        rights,
        issued_on,
    } = p;
    let draft = number.trim().is_empty();
    let title = if draft { format!("行政处罚告知书 {DRAFT_MARK}") } else { format!("行政处罚告知书 {number}") };
    json!({
        "kind": "penalty_prior_notice",
        "fonts": fonts,
        "title": title,
        "issuing_organ": issuing_organ,
        "number": if draft { DRAFT_MARK } else { number.as_str() },
        "issued_on": format_date(*issued_on),
        "penalty": {
            "draft": draft,
            "party_name": party_name,
            "case_number": case_number,
            "facts": facts,
            "provisions": provisions,
            "failed_items": rect_items(failed_items),
            "evidence": evidence,
            "proposed_penalty": proposed_penalty,
            "rights": rights,
        },
    })
}

/// The diagnostics as one line of text: with [`Diagnostics::WithTemplateLines`]
/// the template line where known and the hints, else the messages only.
fn describe(world: &EngineWorld<'_>, diags: &[SourceDiagnostic]) -> String {
    if world.engine.diagnostics == Diagnostics::MessagesOnly {
        return diags.iter().map(|d| d.message.to_string()).collect::<Vec<_>>().join("; ");
    }
    let mut out = String::new();
    for (i, diag) in diags.iter().enumerate() {
        if i > 0 {
            out.push_str("; ");
        }
        if let Some(range) = typst::WorldExt::range(world, diag.span) {
            let line = world.engine.main.text().get(..range.start).map_or(0, |t| t.lines().count().max(1));
            let _ = write!(out, "template line {line}: ");
        }
        out.push_str(&diag.message);
        for hint in &diag.hints {
            let _ = write!(out, " (hint: {})", hint.v);
        }
    }
    out
}

/// One compilation: the engine's template and fonts, plus this render's data.
struct EngineWorld<'a> {
    engine: &'a Engine,
    data: Bytes,
}

impl World for EngineWorld<'_> {
    fn library(&self) -> &LazyHash<Library> {
        &self.engine.library
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &self.engine.book
    }

    fn main(&self) -> FileId {
        self.engine.main.id()
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.engine.main.id() {
            Ok(self.engine.main.clone())
        } else {
            Err(FileError::AccessDenied)
        }
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        if id == self.engine.data_id {
            Ok(self.data.clone())
        } else if id == self.engine.main.id() {
            Ok(Bytes::from_string(self.engine.main.clone()))
        } else {
            Err(FileError::AccessDenied)
        }
    }

    fn font(&self, index: usize) -> Option<Font> {
        self.engine.fonts.get(index).cloned()
    }

    fn today(&self, _offset: Option<typst::foundations::Duration>) -> Option<Datetime> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renderer_is_send_and_sync() {
        fn both<T: Send + Sync>() {}
        both::<Renderer>();
        both::<Engine>();
    }
}
