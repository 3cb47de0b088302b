//! Renders the documents with Debian's Noto CJK fonts and reads the PDFs back
//! with poppler's tools (pdftotext, pdffonts, pdfinfo).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use chrono::{NaiveDate, NaiveDateTime};
use yuetan_documents::{DeliveryReceipt, Document, DocumentError, FontConfig, InterviewNotice, Rendered, Renderer};

fn renderer() -> &'static Renderer {
    static RENDERER: OnceLock<Renderer> = OnceLock::new();
    RENDERER.get_or_init(|| Renderer::new(&FontConfig::default()).expect("Debian's fonts-noto-cjk is installed"))
}

fn at(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
}

fn notice(party_name: &str) -> InterviewNotice {
    InterviewNotice {
        issuing_organ: "兰州市城关区市场监督管理局".into(),
        number: "兰城市监约通〔2026〕3号".into(),
        party_name: party_name.into(),
        case_number: "兰城市监约〔2026〕17号".into(),
        matter: "你单位后厨存在生熟食品混放、从业人员健康证过期等食品安全风险隐患".into(),
        legal_basis: "《中华人民共和国食品安全法》第一百一十四条".into(),
        interview_at: at("2026-10-12 09:30"),
        place: "兰州市城关区市场监督管理局三楼会议室".into(),
        video: false,
        interviewers: vec!["张某某".into(), "李某某".into()],
        participants: vec!["城关区卫生健康局".into()],
        materials: vec!["营业执照副本及复印件".into(), "整改方案".into(), "食品经营许可证".into()],
        contact: "王某某 0931-0000000".into(),
        issued_on: NaiveDate::from_ymd_opt(2026, 10, 9).unwrap(),
    }
}

fn receipt() -> DeliveryReceipt {
    DeliveryReceipt {
        issuing_organ: "兰州市城关区市场监督管理局".into(),
        number: "兰城市监送〔2026〕5号".into(),
        document_name: "行政约谈通知书".into(),
        document_number: "兰城市监约通〔2026〕3号".into(),
        recipient: "兰州某某餐饮有限公司".into(),
        method: "电子送达（短信）".into(),
        address: "138****0000".into(),
        served_at: at("2026-10-09 10:05"),
        receiver_or_evidence: "短信平台回执 msg-20261009-0001".into(),
        server: "张某某、李某某".into(),
        witness: "无".into(),
        remarks: "受送达人已同意电子送达".into(),
    }
}

/// Writes the PDF to a temporary file and runs a poppler tool on it.
fn poppler(rendered: &Rendered, tool: &str, args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("doc.pdf");
    std::fs::write(&path, &rendered.pdf).unwrap();
    let out = Command::new(tool)
        .args(args)
        .arg(&path)
        .args(if tool == "pdftotext" { &["-"][..] } else { &[][..] })
        .output()
        .unwrap_or_else(|e| panic!("{tool} (Debian package poppler-utils) could not run: {e}"));
    assert!(out.status.success(), "{tool} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The text with all whitespace removed (pdftotext breaks lines where the
/// layout does).
fn text(rendered: &Rendered) -> String {
    poppler(rendered, "pdftotext", &["-enc", "UTF-8"]).chars().filter(|c| !c.is_whitespace()).collect()
}

fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

#[test]
fn notice_has_its_number_party_and_title_in_the_text() {
    let rendered = renderer().render(&Document::InterviewNotice(notice("兰州某某餐饮有限公司"))).unwrap();
    assert!(rendered.pdf.starts_with(b"%PDF-"));
    assert_eq!(rendered.sha256, yuetan_documents::seal::sha256_hex(&rendered.pdf));
    assert!(rendered.pages >= 1);
    let text = text(&rendered);
    for needle in [
        "行政约谈通知书",
        "兰城市监约通〔2026〕3号",
        "兰州某某餐饮有限公司",
        "兰州市城关区市场监督管理局",
        "兰城市监约〔2026〕17号",
        "2026年10月12日09时30分",
        "2026年10月9日",
        "营业执照副本及复印件",
        "城关区卫生健康局",
        "张某某、李某某",
        "—1—",
        "（一）营业执照副本及复印件",
    ] {
        assert!(text.contains(needle), "{needle:?} not in the notice's text: {text}");
    }
}

#[test]
fn notice_fonts_are_embedded_and_subset() {
    let rendered = renderer().render(&Document::InterviewNotice(notice("兰州某某餐饮有限公司"))).unwrap();
    let listing = poppler(&rendered, "pdffonts", &[]);
    // name type encoding emb sub uni object ID: two header lines, then one line a font.
    let fonts: Vec<&str> = listing.lines().skip(2).filter(|l| !l.trim().is_empty()).collect();
    assert!(!fonts.is_empty(), "no fonts in the PDF: {listing}");
    for line in &fonts {
        let cols: Vec<&str> = line.split_whitespace().collect();
        // ... emb sub uni objectID gen: emb and sub are the 5th and 4th from the end.
        let (emb, sub) = (cols[cols.len() - 5], cols[cols.len() - 4]);
        assert_eq!((emb, sub), ("yes", "yes"), "font not embedded and subset: {line}\n{listing}");
    }
    assert!(listing.contains("NotoSerifCJKsc"), "the body font is not Noto Serif CJK SC: {listing}");
}

#[test]
fn notice_is_a4() {
    let rendered = renderer().render(&Document::InterviewNotice(notice("兰州某某餐饮有限公司"))).unwrap();
    let info = poppler(&rendered, "pdfinfo", &[]);
    let size = info.lines().find(|l| l.starts_with("Page size:")).unwrap_or_else(|| panic!("no page size: {info}"));
    let nums: Vec<f64> = size.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    assert!((nums[0] - 595.28).abs() < 0.5 && (nums[1] - 841.89).abs() < 0.5, "not A4: {size}");
    let pages = info.lines().find(|l| l.starts_with("Pages:")).unwrap();
    assert_eq!(pages.split_whitespace().last().unwrap(), rendered.pages.to_string());
}

#[test]
fn markup_in_the_data_is_printed_literally() {
    for party in ["#panic(\"x\")有限公司", "*bold* $x$ _em_ 公司", "]#let x = 1[ `raw` <label> @ref \\ // 注释 /* c */"] {
        let rendered = renderer().render(&Document::InterviewNotice(notice(party))).unwrap_or_else(|e| panic!("{party:?}: {e}"));
        let text = text(&rendered);
        assert!(text.contains(&squash(party)), "{party:?} not printed literally: {text}");
    }
}

#[test]
fn long_notice_runs_to_more_pages_with_numbers() {
    let mut n = notice("兰州某某餐饮有限公司");
    n.materials = (1..=40).map(|i| format!("第{i}项材料")).collect();
    let rendered = renderer().render(&Document::InterviewNotice(n)).unwrap();
    assert!(rendered.pages >= 2, "{} pages", rendered.pages);
    let text = text(&rendered);
    assert!(text.contains("—2—") && text.contains("第40项材料"), "{text}");
}

#[test]
fn video_notice_says_so() {
    let mut n = notice("兰州某某餐饮有限公司");
    n.video = true;
    n.place = "视频约谈（链接另行送达）".into();
    n.participants.clear();
    let text = text(&renderer().render(&Document::InterviewNotice(n)).unwrap());
    assert!(text.contains("视频约谈（链接另行送达）") && text.contains("约谈方式"), "{text}");
    assert!(text.contains("其他参加人员：无"), "{text}");
}

#[test]
fn receipt_has_number_recipient_method_and_time() {
    let rendered = renderer().render(&Document::DeliveryReceipt(receipt())).unwrap();
    let text = text(&rendered);
    for needle in [
        "送达回证",
        "兰城市监送〔2026〕5号",
        "兰城市监约通〔2026〕3号",
        "兰州某某餐饮有限公司",
        "电子送达（短信）",
        "138****0000",
        "2026年10月09日10时05分",
        "短信平台回执msg-20261009-0001",
    ] {
        assert!(text.contains(needle), "{needle:?} not in the receipt's text: {text}");
    }
    let listing = poppler(&rendered, "pdffonts", &[]);
    assert!(listing.lines().skip(2).all(|l| l.split_whitespace().rev().nth(4) == Some("yes")), "{listing}");
}

#[test]
fn same_document_renders_to_the_same_bytes() {
    let a = renderer().render(&Document::DeliveryReceipt(receipt())).unwrap();
    let b = renderer().render(&Document::DeliveryReceipt(receipt())).unwrap();
    assert_eq!(a.sha256, b.sha256);
    let mut other = receipt();
    other.recipient = "兰州另一餐饮有限公司".into();
    assert_ne!(a.sha256, renderer().render(&Document::DeliveryReceipt(other)).unwrap().sha256);
}

#[test]
fn missing_font_file_is_named() {
    let missing = PathBuf::from("/nonexistent/fonts/仿宋_GB2312.ttf");
    let config = FontConfig { files: vec![missing.clone()], ..FontConfig::default() };
    let err = Renderer::new(&config).err().expect("a missing font file is an error");
    assert!(matches!(&err, DocumentError::FontFile { path, .. } if path == &missing), "{err:?}");
    assert!(err.to_string().contains("/nonexistent/fonts/仿宋_GB2312.ttf"), "{err}");
}

#[test]
fn file_that_is_no_font_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-a-font.ttf");
    std::fs::write(&path, b"hello").unwrap();
    let config = FontConfig { files: vec![path.clone()], ..FontConfig::default() };
    let err = Renderer::new(&config).err().expect("a file that is no font is an error");
    assert!(err.to_string().contains(&path.display().to_string()), "{err}");
}

#[test]
fn missing_family_is_named() {
    let config = FontConfig { title_family: "方正小标宋简体".into(), ..FontConfig::default() };
    let err = Renderer::new(&config).err().expect("a missing family is an error");
    assert!(matches!(&err, DocumentError::FontFamily { family, role: "title", .. } if family == "方正小标宋简体"), "{err:?}");
    assert!(err.to_string().contains("方正小标宋简体"), "{err}");
}

#[test]
fn every_face_of_a_collection_is_loaded() {
    // NotoSerifCJK-Regular.ttc holds the SC, TC, JP, KR and HK faces: the
    // Japanese family is usable only if the whole collection was read.
    let regular = Path::new(yuetan_documents::NOTO_SERIF_CJK_DIR).join("NotoSerifCJK-Regular.ttc");
    let config = FontConfig { files: vec![regular], body_family: "Noto Serif CJK JP".into(), title_family: "Noto Serif CJK KR".into() };
    Renderer::new(&config).expect("every face of the collection is loaded");
}
