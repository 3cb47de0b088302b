//! The document list of a case file (文书清单, R-DOC-3): every document of
//! the case in time order, numbered, with its 文号, when it was formed, the
//! service that produced it, its pages or size and the start of its SHA-256,
//! so a reader of the paper or the archive can match each file to the
//! signed manifest.
//!
//! Like the [`crate::Renderer`], the data never becomes markup: one fixed
//! template (below) reads it from the virtual file /data.json, so every
//! value is printed as text. The same list renders to the same bytes.

use chrono::{NaiveDate, NaiveDateTime};
use serde_json::json;

use crate::render::{Diagnostics, Engine};
use crate::{format_date, DocumentError, FontConfig, Rendered};

/// The list to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentList {
    /// The organ that keeps the file, e.g. "兰州市城关区市场监督管理局".
    pub organ_name: String,
    /// The case's number.
    pub case_number: String,
    /// 当事人; empty when the case has none on file (not printed then).
    pub party: String,
    /// 结案日期.
    pub closed_on: NaiveDate,
    /// Time order; `seq` 1, 2, …
    pub entries: Vec<DocumentListEntry>,
}

/// One document of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentListEntry {
    /// 序号, as in the manifest.
    pub seq: u32,
    /// 文书名称, e.g. "行政约谈通知书".
    pub title: String,
    /// 文号; empty when the document has none (printed "—").
    pub number: String,
    /// 形成时间, China Standard Time; printed "2026-10-09 10:05".
    pub produced_at: NaiveDateTime,
    /// 来源: the producing service.
    pub service: String,
    /// e.g. "3页" or "1.2 MB".
    pub pages_or_size: String,
    /// Lowercase hex SHA-256 (64 characters); the first 16 are printed.
    pub sha256: String,
}

const TEMPLATE: &str = r##"
#let d = json("/data.json")
#set document(title: d.title, author: d.organ, date: none)
#set text(font: d.fonts.body, size: 11pt, lang: "zh", region: "cn", cjk-latin-spacing: none)
#set par(leading: 0.8em, spacing: 1em, justify: false)
#set page(paper: "a4", margin: (top: 28mm, bottom: 25mm, left: 20mm, right: 18mm),
  footer: context align(center, text(size: 10pt,
    [第 #counter(page).get().first() 页　共 #counter(page).final().first() 页])))
#align(center, text(font: d.fonts.title, weight: "bold", size: 20pt, d.title))
#v(0.8em)
#grid(
  columns: (auto, 1fr),
  column-gutter: 0.6em,
  row-gutter: 0.6em,
  ..d.heading.map(((k, v)) => (text(weight: "bold", k), v)).flatten(),
)
#v(0.8em)
#set text(size: 8.5pt)
#table(
  columns: (2.6em, 1fr, 1.2fr, 8.6em, 6.2em, 4.4em, 9.8em),
  inset: (x: 0.3em, y: 0.45em),
  stroke: 0.6pt,
  align: (center + horizon, left + horizon, left + horizon, left + horizon, left + horizon, left + horizon, left + horizon),
  table.header(..d.header.map(h => text(weight: "bold", h))),
  ..d.rows.map(r => (r.at(0), r.at(1), r.at(2), r.at(3), r.at(4), r.at(5), r.at(6))).flatten(),
)
#v(0.6em)
#text(size: 10pt, d.total)
"##;

/// The column headers.
const HEADER: [&str; 7] = ["序号", "文书名称", "文号", "形成时间", "来源", "页数/大小", "sha256（前16位）"];

/// `text`, or "—" when it is blank.
fn or_dash(text: &str) -> &str {
    if text.trim().is_empty() {
        "—"
    } else {
        text
    }
}

/// Renders [`DocumentList`]s; build once and share (`Send + Sync`).
pub struct DocumentListRenderer {
    engine: Engine,
}

impl std::fmt::Debug for DocumentListRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocumentListRenderer")
            .field("body_family", &self.engine.body_family())
            .field("title_family", &self.engine.title_family())
            .finish_non_exhaustive()
    }
}

impl DocumentListRenderer {
    /// Reads and checks the fonts (as [`crate::Renderer::new`]).
    pub fn new(fonts: &FontConfig) -> Result<DocumentListRenderer, DocumentError> {
        Ok(DocumentListRenderer { engine: Engine::new(fonts, "/document-list.typ", TEMPLATE, Diagnostics::MessagesOnly)? })
    }

    /// Renders the list. Nothing in it is refused (the list must never
    /// hold up an archive): an empty case number or 文号 prints "—", and
    /// of the sha256 the first 16 characters are printed whatever they are.
    pub fn render(&self, list: &DocumentList) -> Result<Rendered, DocumentError> {
        let mut heading = vec![json!(["机关", list.organ_name]), json!(["案号", or_dash(&list.case_number)])];
        if !list.party.trim().is_empty() {
            heading.push(json!(["当事人", list.party]));
        }
        heading.push(json!(["结案日期", format_date(list.closed_on)]));
        let rows: Vec<_> = list
            .entries
            .iter()
            .map(|e| {
                json!([
                    e.seq.to_string(),
                    e.title,
                    or_dash(&e.number),
                    e.produced_at.format("%Y-%m-%d %H:%M").to_string(),
                    e.service,
                    e.pages_or_size,
                    or_dash(&e.sha256.chars().take(16).collect::<String>()),
                ])
            })
            .collect();
        let data = json!({
            "fonts": self.engine.fonts_data(),
            "title": "案卷文书清单",
            "organ": list.organ_name,
            "heading": heading,
            "header": HEADER,
            "rows": rows,
            "total": format!("共 {} 件", list.entries.len()),
        });
        self.engine.render(&data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> DocumentList {
        let at = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        DocumentList {
            organ_name: "兰州市城关区市场监督管理局".into(),
            case_number: "兰城市监约案〔2026〕7号".into(),
            party: "兰州某某餐饮有限公司".into(),
            closed_on: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
            entries: vec![
                DocumentListEntry {
                    seq: 1,
                    title: "行政约谈通知书".into(),
                    number: "兰城市监约通〔2026〕3号".into(),
                    produced_at: at("2026-10-09 10:05"),
                    service: "scheduling".into(),
                    pages_or_size: "2页".into(),
                    sha256: "0123456789abcdef".repeat(4),
                },
                DocumentListEntry {
                    seq: 2,
                    title: "#panic(\"x\") 约谈录音".into(),
                    number: String::new(),
                    produced_at: at("2026-10-12 09:30"),
                    service: "scheduling".into(),
                    pages_or_size: "12.5 MB".into(),
                    sha256: "fedcba9876543210".repeat(4),
                },
            ],
        }
    }

    /// The PDF's text with all whitespace removed (pdftotext breaks lines where the layout does).
    fn text(rendered: &Rendered) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.pdf");
        std::fs::write(&path, &rendered.pdf).unwrap();
        let out = std::process::Command::new("pdftotext")
            .args(["-enc", "UTF-8"])
            .arg(&path)
            .arg("-")
            .output()
            .unwrap_or_else(|e| panic!("pdftotext (Debian package poppler-utils) could not run: {e}"));
        assert!(out.status.success(), "pdftotext failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().chars().filter(|c| !c.is_whitespace()).collect()
    }

    #[test]
    fn r_doc_3_the_document_list_prints_the_case_and_every_entry() {
        let Ok(renderer) = DocumentListRenderer::new(&FontConfig::default()) else {
            eprintln!("fonts-noto-cjk is not installed; skipped");
            return;
        };
        let list = list();
        let a = renderer.render(&list).unwrap();
        let b = renderer.render(&list).unwrap();
        assert_eq!(a.sha256, b.sha256, "the same list renders to the same bytes");
        assert!(a.pdf.starts_with(b"%PDF"));
        let text = text(&a);
        for expected in [
            "案卷文书清单",
            "兰城市监约案〔2026〕7号",
            "兰州市城关区市场监督管理局",
            "兰州某某餐饮有限公司",
            "2026年11月20日",
            "行政约谈通知书",
            "兰城市监约通〔2026〕3号",
            "2026-10-0910:05",
            "#panic(\"x\")约谈录音",
            "0123456789abcdef",
            "fedcba9876543210",
            "共2件",
        ] {
            assert!(text.contains(expected), "{expected:?} not in {text}");
        }
        // Only the first 16 hex characters are printed.
        assert!(!text.contains("0123456789abcdef0123"), "{text}");
    }

    #[test]
    fn r_doc_3_blank_fields_print_a_dash_and_never_hold_up_the_archive() {
        let Ok(renderer) = DocumentListRenderer::new(&FontConfig::default()) else {
            eprintln!("fonts-noto-cjk is not installed; skipped");
            return;
        };
        let mut odd = list();
        odd.case_number = " ".into();
        odd.party = String::new();
        odd.entries[1].sha256 = "abc".into();
        let text = text(&renderer.render(&odd).unwrap());
        assert!(text.contains("案号—"), "{text}");
        assert!(!text.contains("当事人"), "{text}");
        assert!(text.contains("abc"), "{text}");
    }
}
