//! Supervision's generated reports (R-SUP-7): 月度督查报告, 约谈工作季度报告,
//! 半年效果评估 and 年度社会效果评估, each a title, the division and period,
//! a few lines of summary and tables (the KPIs beside their targets, the
//! draws and scores, complaints and ratings).
//!
//! Like the [`crate::Renderer`], the data never becomes markup: one fixed
//! template (below) reads it from the virtual file /data.json, so every
//! value is printed as text. The same report renders to the same bytes.

use serde_json::json;

use crate::render::{Diagnostics, Engine};
use crate::{DocumentError, FontConfig, Rendered};

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
    engine: Engine,
}

impl std::fmt::Debug for ReportRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportRenderer")
            .field("body_family", &self.engine.body_family())
            .field("title_family", &self.engine.title_family())
            .finish_non_exhaustive()
    }
}

impl ReportRenderer {
    pub fn new(fonts: &FontConfig) -> Result<ReportRenderer, DocumentError> {
        Ok(ReportRenderer { engine: Engine::new(fonts, "/report.typ", TEMPLATE, Diagnostics::MessagesOnly)? })
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
            "fonts": self.engine.fonts_data(),
            "title": report.title,
            "division": report.division,
            "period": report.period,
            "summary": report.summary,
            "tables": report.tables.iter().map(|t| json!({ "caption": t.caption, "header": t.header, "rows": t.rows })).collect::<Vec<_>>(),
        });
        self.engine.render(&data)
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
