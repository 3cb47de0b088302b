//! Supervision's generated reports (R-SUP-7): 月度督查报告, 约谈工作季度报告,
//! 半年效果评估 and 年度社会效果评估, each a title, the division and period,
//! a few lines of summary and tables (the KPIs beside their targets, the
//! draws and scores, complaints and ratings).
//!
//! Like the [`crate::Renderer`], the data never becomes markup: one fixed
//! template (below) reads it from the virtual file /data.json, so every
//! value is printed as text. The same report renders to the same bytes.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::json;
use typst::diag::{FileError, FileResult, SourceDiagnostic};
use typst::foundations::{Bytes, Datetime};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};
use typst_layout::PagedDocument;

use crate::{seal, DocumentError, FontConfig, Rendered};

/// A report to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupervisionReport {
    /// e.g. "约谈工作季度报告".
    pub title: String,
    /// The reporting organ or division, e.g. "兰州市（620100）".
    pub division: String,
    /// e.g. "2026年第三季度（2026Q3）".
    pub period: String,
    /// Summary lines, one paragraph each.
    pub summary: Vec<String>,
    pub tables: Vec<ReportTable>,
}

/// A table with a caption and a header row; every row as long as the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportTable {
    pub caption: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

const TEMPLATE: &str = r##"
#let d = json("/data.json")
#set document(title: d.title, author: d.division, date: none)
#set text(font: d.fonts.body, size: 12pt, lang: "zh", region: "cn", cjk-latin-spacing: none)
#set par(leading: 0.8em, spacing: 1em, justify: false)
#set page(paper: "a4", margin: (top: 30mm, bottom: 25mm, left: 25mm, right: 20mm),
  footer: context align(center, text(size: 10pt, [— #counter(page).get().first() —])))
#align(center, text(font: d.fonts.title, weight: "bold", size: 20pt, d.title))
#v(0.5em)
#align(center, text(size: 13pt, d.division + "　" + d.period))
#v(1em)
#for line in d.summary [
  #par(first-line-indent: (amount: 2em, all: true), line)
]
#for t in d.tables [
  #v(0.8em)
  #text(weight: "bold", size: 13pt, t.caption)
  #v(0.3em)
  #set text(size: 9.5pt)
  #table(
    columns: t.header.len(),
    inset: (x: 0.35em, y: 0.45em),
    stroke: 0.6pt,
    align: left + horizon,
    table.header(..t.header.map(h => text(weight: "bold", h))),
    ..t.rows.flatten(),
  )
]
"##;

/// Renders [`SupervisionReport`]s; build once and share (`Send + Sync`).
pub struct ReportRenderer {
    library: LazyHash<Library>,
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
    main: Source,
    data_id: FileId,
    body_family: String,
    title_family: String,
    renders: AtomicU64,
}

impl std::fmt::Debug for ReportRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportRenderer").field("body_family", &self.body_family).field("title_family", &self.title_family).finish_non_exhaustive()
    }
}

impl ReportRenderer {
    pub fn new(fonts: &FontConfig) -> Result<ReportRenderer, DocumentError> {
        let mut loaded = Vec::new();
        for path in &fonts.files {
            let data = std::fs::read(path).map_err(|e| DocumentError::FontFile { path: path.clone(), reason: e.to_string() })?;
            let before = loaded.len();
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
        let main_id = FileId::new(RootedPath::new(VirtualRoot::Project, VirtualPath::new("/report.typ").expect("a valid virtual path")));
        let data_id = FileId::new(RootedPath::new(VirtualRoot::Project, VirtualPath::new("/data.json").expect("a valid virtual path")));
        Ok(ReportRenderer {
            library: LazyHash::new(Library::builder().build()),
            book: LazyHash::new(book),
            fonts: loaded,
            main: Source::new(main_id, TEMPLATE.to_owned()),
            data_id,
            body_family: fonts.body_family.clone(),
            title_family: fonts.title_family.clone(),
            renders: AtomicU64::new(0),
        })
    }

    /// Renders the report; a row not as long as its table's header is
    /// refused with [`DocumentError::Field`].
    pub fn render(&self, report: &SupervisionReport) -> Result<Rendered, DocumentError> {
        for (i, t) in report.tables.iter().enumerate() {
            if t.header.is_empty() {
                return Err(DocumentError::Field { field: format!("tables[{i}].header"), reason: "is empty".into() });
            }
            if let Some(r) = t.rows.iter().position(|r| r.len() != t.header.len()) {
                return Err(DocumentError::Field { field: format!("tables[{i}].rows[{r}]"), reason: format!("has {} cells; the header has {}", t.rows[r].len(), t.header.len()) });
            }
        }
        let data = json!({
            "fonts": { "body": self.body_family, "title": self.title_family },
            "title": report.title,
            "division": report.division,
            "period": report.period,
            "summary": report.summary,
            "tables": report.tables.iter().map(|t| json!({ "caption": t.caption, "header": t.header, "rows": t.rows })).collect::<Vec<_>>(),
        });
        let data = serde_json::to_vec(&data).expect("a JSON value serialises");
        let world = ReportWorld { renderer: self, data: Bytes::new(data) };
        let result = typst::compile::<PagedDocument>(&world).output;
        if self.renders.fetch_add(1, Ordering::Relaxed) % 32 == 31 {
            typst::comemo::evict(4);
        }
        let document = result.map_err(|diags| DocumentError::Compile(describe(diags.as_slice())))?;
        let pdf = typst_pdf::pdf(&document, &typst_pdf::PdfOptions::default()).map_err(|diags| DocumentError::Pdf(describe(diags.as_slice())))?;
        let pages = u32::try_from(document.pages().len()).unwrap_or(u32::MAX);
        let sha256 = seal::sha256_hex(&pdf);
        Ok(Rendered { pdf, sha256, pages })
    }
}

fn describe(diags: &[SourceDiagnostic]) -> String {
    diags.iter().map(|d| d.message.to_string()).collect::<Vec<_>>().join("; ")
}

struct ReportWorld<'a> {
    renderer: &'a ReportRenderer,
    data: Bytes,
}

impl World for ReportWorld<'_> {
    fn library(&self) -> &LazyHash<Library> {
        &self.renderer.library
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &self.renderer.book
    }

    fn main(&self) -> FileId {
        self.renderer.main.id()
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.renderer.main.id() {
            Ok(self.renderer.main.clone())
        } else {
            Err(FileError::AccessDenied)
        }
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        if id == self.renderer.data_id {
            Ok(self.data.clone())
        } else {
            Err(FileError::AccessDenied)
        }
    }

    fn font(&self, index: usize) -> Option<Font> {
        self.renderer.fonts.get(index).cloned()
    }

    fn today(&self, _offset: Option<typst::foundations::Duration>) -> Option<Datetime> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_sup_7_a_report_renders_the_same_bytes_and_prints_user_text_as_text() {
        let Ok(renderer) = ReportRenderer::new(&FontConfig::default()) else {
            eprintln!("fonts-noto-cjk is not installed; skipped");
            return;
        };
        let report = SupervisionReport {
            title: "约谈工作季度报告".into(),
            division: "兰州市（620100）".into(),
            period: "2026年第三季度（2026Q3）".into(),
            summary: vec!["#panic(\"x\") *not bold*".into()],
            tables: vec![ReportTable {
                caption: "指标".into(),
                header: vec!["单位".into(), "指标".into(), "数值".into(), "目标".into()],
                rows: vec![vec!["620102".into(), "启动及时率".into(), "100%".into(), "100%".into()]],
            }],
        };
        let a = renderer.render(&report).unwrap();
        let b = renderer.render(&report).unwrap();
        assert_eq!(a.sha256, b.sha256);
        assert!(a.pdf.starts_with(b"%PDF"));
        let mut bad = report.clone();
        bad.tables[0].rows[0].pop();
        assert!(matches!(renderer.render(&bad), Err(DocumentError::Field { .. })));
    }
}
