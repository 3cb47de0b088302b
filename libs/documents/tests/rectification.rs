//! The rectification documents: the rectification notice (整改通知书,
//! R-RECT-1), the acceptance opinion (整改验收意见书, R-RECT-4), the
//! acceptance certificate (整改验收合格书, R-RECT-5) and the draft penalty
//! prior notice (行政处罚告知书, R-RECT-6), rendered with Debian's Noto CJK
//! fonts and read back with poppler's pdftotext.

use std::process::Command;
use std::sync::OnceLock;

use chrono::{NaiveDate, NaiveDateTime};
use yuetan_documents::{
    AcceptanceAnswer, AcceptanceCertificate, AcceptanceOpinion, Document, DocumentError, FontConfig, PenaltyPriorNotice, RectItem, RectificationNotice,
    Rendered, Renderer,
};

fn renderer() -> &'static Renderer {
    static RENDERER: OnceLock<Renderer> = OnceLock::new();
    RENDERER.get_or_init(|| Renderer::new(&FontConfig::default()).expect("Debian's fonts-noto-cjk is installed"))
}

fn at(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

const ORGAN: &str = "兰州市城关区市场监督管理局";
const PARTY: &str = "兰州某某餐饮有限公司";
const CASE: &str = "兰城市监约〔2026〕17号";
const NOTICE_NUMBER: &str = "兰城市监整改〔2026〕3号";

fn item(content: &str, deadline: &str, standard: &str) -> RectItem {
    RectItem { content: content.into(), deadline: day(deadline), acceptance_standard: standard.into() }
}

fn items() -> Vec<RectItem> {
    vec![
        item("生熟食品分区存放", "2026-10-19", "生熟分区标识清楚"),
        item("重新办理健康证", "2026-10-26", "全员持有效健康证"),
        item("增设生食冷藏区", "2026-12-10", "冷库分区投入使用"),
    ]
}

fn notice() -> RectificationNotice {
    RectificationNotice {
        issuing_organ: ORGAN.into(),
        number: NOTICE_NUMBER.into(),
        party_name: PARTY.into(),
        case_number: CASE.into(),
        record_number: "兰城市监约录〔2026〕2号".into(),
        legal_basis: "《中华人民共和国食品安全法》第一百一十四条".into(),
        items: items(),
        deadline: day("2026-12-10"),
        report_due: day("2026-12-07"),
        consequence: "逾期未整改或者整改不到位的，本局将依法立案查处。".into(),
        report_channel: "https://portal.example.cn/rectification".into(),
        contact: "王某某 0931-0000000".into(),
        issued_on: day("2026-10-13"),
    }
}

fn answer(officer: &str, complete: bool, lawful: bool, goal_reached: bool, comments: &str, answered_at: &str) -> AcceptanceAnswer {
    AcceptanceAnswer { officer: officer.into(), complete, lawful, goal_reached, comments: comments.into(), answered_at: at(answered_at) }
}

fn opinion() -> AcceptanceOpinion {
    AcceptanceOpinion {
        issuing_organ: ORGAN.into(),
        number: "兰城市监验意〔2026〕3号".into(),
        party_name: PARTY.into(),
        case_number: CASE.into(),
        notice_number: NOTICE_NUMBER.into(),
        report_received_on: day("2026-12-05"),
        items: items(),
        answers: vec![
            answer("张某某", true, true, true, "现场核查属实", "2026-12-08 10:30"),
            answer("李某某", true, true, false, "冷库标识不清", "2026-12-08 15:45"),
        ],
        passed: false,
        conclusion: "冷库分区标识未达到验收标准，验收不合格。".into(),
        issued_on: day("2026-12-09"),
    }
}

fn certificate() -> AcceptanceCertificate {
    AcceptanceCertificate {
        issuing_organ: ORGAN.into(),
        number: "兰城市监验合〔2026〕3号".into(),
        party_name: PARTY.into(),
        case_number: CASE.into(),
        notice_number: NOTICE_NUMBER.into(),
        items: items(),
        conclusion: "你（单位）的整改符合要求，验收合格。".into(),
        follow_up: "自2026年12月10日起六个月内，本局将进行不少于两次回访检查。".into(),
        issued_on: day("2026-12-10"),
    }
}

fn penalty() -> PenaltyPriorNotice {
    PenaltyPriorNotice {
        issuing_organ: ORGAN.into(),
        number: String::new(),
        party_name: PARTY.into(),
        case_number: CASE.into(),
        facts: "当事人后厨生熟食品混放。\n经约谈商定整改，当事人逾期未完成冷库改造。".into(),
        provisions: vec!["《中华人民共和国食品安全法》第三十三条".into()],
        failed_items: vec![item("增设生食冷藏区", "2026-12-10", "冷库分区投入使用")],
        evidence: vec![
            "行政约谈记录 兰城市监约录〔2026〕2号".into(),
            "整改通知书 兰城市监整改〔2026〕3号".into(),
            "整改台账 (sha256 3f2a9c0d1e4b5a6f77e0c3d2b1a09f8e7d6c5b4a3928170f6e5d4c3b2a190817)".into(),
        ],
        proposed_penalty: "警告，并处罚款人民币五千元。".into(),
        rights: "你（单位）可在收到本告知书之日起五个工作日内提出陈述、申辩。".into(),
        issued_on: day("2026-12-15"),
    }
}

fn pdftotext(rendered: &Rendered) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("doc.pdf");
    std::fs::write(&path, &rendered.pdf).unwrap();
    let out = Command::new("pdftotext")
        .args(["-enc", "UTF-8"])
        .arg(&path)
        .arg("-")
        .output()
        .unwrap_or_else(|e| panic!("pdftotext (Debian package poppler-utils) could not run: {e}"));
    assert!(out.status.success(), "pdftotext failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The text with all whitespace and the page numbers (—1—, —2—…) removed:
/// pdftotext breaks lines where the layout does, and a page may end
/// mid-sentence.
fn text(rendered: &Rendered) -> String {
    let text = squash(&pdftotext(rendered));
    let mut out = text.clone();
    for page in 1..=rendered.pages {
        let mark = format!("—{page}—");
        assert!(out.contains(&mark), "page {page} has no page number: {text}");
        out = out.replacen(&mark, "", 1);
    }
    assert!(!out.contains('—'), "a page number too many: {text}");
    out
}

fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

fn render(doc: Document) -> Rendered {
    renderer().render(&doc).unwrap_or_else(|e| panic!("{e}"))
}

fn assert_contains(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(&squash(needle)), "{needle:?} not in the text: {text}");
    }
}

/// Each item's content, deadline and standard, as printed in the items table.
fn assert_items(text: &str, items: &[RectItem]) {
    for it in items {
        let deadline = yuetan_documents::format_date(it.deadline);
        assert_contains(text, &[&it.content, &deadline, &it.acceptance_standard]);
    }
}

#[test]
fn rectification_notice_has_number_party_items_deadlines_and_report_due() {
    let rendered = render(Document::RectificationNotice(notice()));
    assert!(rendered.pdf.starts_with(b"%PDF-"));
    assert_eq!(rendered.sha256, yuetan_documents::seal::sha256_hex(&rendered.pdf));
    let text = text(&rendered);
    assert_contains(
        &text,
        &[
            "整改通知书",
            ORGAN,
            NOTICE_NUMBER,
            &format!("{PARTY}："),
            "兰城市监约录〔2026〕2号",
            "《中华人民共和国食品安全法》第一百一十四条",
            "序号",
            "整改内容",
            "整改期限",
            "验收标准",
            "应当于2026年12月10日前完成全部整改",
            "应当于2026年12月7日前通过https://portal.example.cn/rectification提交书面整改报告",
            "逾期未整改或者整改不到位的，本局将依法立案查处。",
            CASE,
            "王某某 0931-0000000",
            "（盖章）",
            "2026年10月13日",
        ],
    );
    assert_items(&text, &items());
    // The items come before the deadline and the report.
    let pos = |s: &str| text.find(s).unwrap_or_else(|| panic!("{s:?} not in {text}"));
    assert!(pos("增设生食冷藏区") < pos("一、整改期限") && pos("一、整改期限") < pos("二、整改报告"));
}

#[test]
fn rectification_notice_without_channel_reports_to_the_organ() {
    let mut n = notice();
    n.report_channel = "  ".into();
    n.items.clear();
    let text = text(&render(Document::RectificationNotice(n)));
    assert_contains(&text, &["应当于2026年12月7日前向本局提交书面整改报告", "现责令你（单位）对下列事项进行整改：无"]);
}

#[test]
fn rectification_notice_with_inconsistent_dates_is_refused_naming_the_field() {
    let mut n = notice();
    n.report_due = day("2026-12-11");
    let err = renderer().render(&Document::RectificationNotice(n)).expect_err("a report due after the deadline is refused");
    assert!(matches!(&err, DocumentError::Field { field, .. } if field == "report_due"), "{err:?}");
    let mut n = notice();
    n.items[1].deadline = day("2026-12-11");
    let err = renderer().render(&Document::RectificationNotice(n)).expect_err("an item due after the deadline is refused");
    assert!(matches!(&err, DocumentError::Field { field, .. } if field == "items[1].deadline"), "{err:?}");
}

#[test]
fn acceptance_opinion_has_items_answers_and_conclusion() {
    let rendered = render(Document::AcceptanceOpinion(opinion()));
    let text = text(&rendered);
    assert_contains(
        &text,
        &[
            "整改验收意见书",
            "兰城市监验意〔2026〕3号",
            PARTY,
            CASE,
            NOTICE_NUMBER,
            "2026年12月5日",
            "一、整改事项",
            "二、验收人员意见",
            "验收人员",
            "完整",
            "合法",
            "达到目的",
            "现场核查属实",
            "冷库标识不清",
            "10时30分",
            "15时45分",
            "三、验收结论验收不合格",
            "冷库分区标识未达到验收标准，验收不合格。",
            "2026年12月9日",
        ],
    );
    assert_items(&text, &items());
    // Each officer's row: the name, then 是/否 for 完整, 合法, 达到目的.
    let table = text.split("二、验收人员意见").nth(1).unwrap();
    let row = |officer: &str| table.split(officer).nth(1).unwrap_or_else(|| panic!("{officer} not in the answers: {table}"));
    assert!(row("张某某").starts_with("是是是"), "{table}");
    assert!(row("李某某").starts_with("是是否"), "{table}");
    // Internal: no seal.
    assert!(!text.contains("（盖章）"), "{text}");
}

#[test]
fn passed_opinion_says_passed() {
    let mut o = opinion();
    o.passed = true;
    o.answers[1].goal_reached = true;
    o.conclusion = "整改事项全部完成，验收合格。".into();
    let text = text(&render(Document::AcceptanceOpinion(o)));
    assert_contains(&text, &["三、验收结论验收合格整改事项全部完成，验收合格。"]);
    assert!(!text.contains("否") && !text.contains("不合格"), "{text}");
}

#[test]
fn acceptance_certificate_has_items_conclusion_and_follow_up() {
    let rendered = render(Document::AcceptanceCertificate(certificate()));
    let text = text(&rendered);
    assert_contains(
        &text,
        &[
            "整改验收合格书",
            "兰城市监验合〔2026〕3号",
            &format!("{PARTY}："),
            NOTICE_NUMBER,
            "经本局验收，你（单位）的整改符合要求，验收合格。",
            "后续监管：自2026年12月10日起六个月内，本局将进行不少于两次回访检查。",
            CASE,
            "（盖章）",
            "2026年12月10日",
        ],
    );
    assert_items(&text, &items());
    let mut c = certificate();
    c.follow_up = String::new();
    let without = self::text(&render(Document::AcceptanceCertificate(c)));
    assert!(!without.contains("后续监管"), "no follow-up, no line: {without}");
}

#[test]
fn penalty_draft_is_marked_and_numbered_notice_is_not() {
    let rendered = render(Document::PenaltyPriorNotice(penalty()));
    let draft = text(&rendered);
    assert_contains(
        &draft,
        &[
            "行政处罚告知书",
            "（草稿，待法制审核）",
            &format!("{PARTY}："),
            CASE,
            "当事人后厨生熟食品混放。",
            "经约谈商定整改，当事人逾期未完成冷库改造。",
            "1.行政约谈记录 兰城市监约录〔2026〕2号",
            "2.整改通知书 兰城市监整改〔2026〕3号",
            "3.整改台账 (sha256 3f2a9c0d1e4b5a6f77e0c3d2b1a09f8e7d6c5b4a3928170f6e5d4c3b2a190817)",
            "1.《中华人民共和国食品安全法》第三十三条",
            "本局拟对你（单位）作出如下行政处罚：警告，并处罚款人民币五千元。",
            "你（单位）可在收到本告知书之日起五个工作日内提出陈述、申辩。",
            "（盖章）",
            "2026年12月15日",
        ],
    );
    assert_items(&draft, &penalty().failed_items);
    // The marker stands where the 文号 goes, before the title, and heads
    // every further page.
    assert!(draft.find("（草稿，待法制审核）").unwrap() < draft.find("行政处罚告知书").unwrap(), "{draft}");
    assert_eq!(draft.matches("（草稿，待法制审核）").count(), usize::try_from(rendered.pages).unwrap(), "{draft}");

    let mut p = penalty();
    p.number = "兰城市监罚告〔2026〕1号".into();
    let numbered = text(&render(Document::PenaltyPriorNotice(p)));
    assert_contains(&numbered, &["兰城市监罚告〔2026〕1号", "行政处罚告知书"]);
    assert!(!numbered.contains("草稿") && !numbered.contains("待法制审核"), "{numbered}");
}

#[test]
fn markup_in_the_data_is_printed_literally() {
    let inputs = ["#set page(width: 1cm)", "*bold* $x$ _em_", "]#let x = 1[ `raw` <label> @ref \\ // 注释 /* c */", "#panic(\"x\")"];
    for input in inputs {
        let literal = squash(input);
        let mut n = notice();
        n.party_name = input.into();
        n.consequence = input.into();
        n.report_channel = input.into();
        n.items[0].content = input.into();
        let t = text(&render(Document::RectificationNotice(n)));
        assert!(t.contains(&format!("{literal}：")) && t.contains(&format!("三、逾期未整改的后果：{literal}")), "{input:?}: {t}");
        assert!(t.matches(&literal).count() >= 3, "{input:?} not printed literally in the notice: {t}");

        let mut o = opinion();
        o.party_name = input.into();
        o.answers[0].officer = input.into();
        o.answers[0].comments = input.into();
        o.conclusion = input.into();
        let t = text(&render(Document::AcceptanceOpinion(o)));
        assert!(t.contains(&format!("验收不合格{literal}")), "{input:?} not printed literally as the conclusion: {t}");

        let mut c = certificate();
        c.party_name = input.into();
        c.follow_up = input.into();
        let t = text(&render(Document::AcceptanceCertificate(c)));
        assert!(t.contains(&format!("{literal}：")) && t.contains(&format!("后续监管：{literal}")), "{input:?}: {t}");

        let mut p = penalty();
        p.party_name = input.into();
        p.facts = input.into();
        p.evidence = vec![input.into()];
        p.proposed_penalty = input.into();
        let t = text(&render(Document::PenaltyPriorNotice(p)));
        assert!(t.matches(&literal).count() >= 4, "{input:?} not printed literally in the penalty notice: {t}");
        assert!(t.contains(&format!("1.{literal}")), "{input:?} not printed literally as evidence: {t}");
    }
    // `#set page(width: 1cm)` did not apply: still A4-wide.
    let mut n = notice();
    n.consequence = "#set page(width: 1cm)".into();
    assert!(render(Document::RectificationNotice(n)).pages < 5);
}

#[test]
fn same_data_renders_the_same_bytes() {
    let docs = [
        Document::RectificationNotice(notice()),
        Document::AcceptanceOpinion(opinion()),
        Document::AcceptanceCertificate(certificate()),
        Document::PenaltyPriorNotice(penalty()),
    ];
    let mut hashes = Vec::new();
    for doc in docs {
        let a = render(doc.clone());
        let b = render(doc);
        assert_eq!((a.sha256.as_str(), a.pdf.len()), (b.sha256.as_str(), b.pdf.len()));
        hashes.push(a.sha256);
    }
    // Each differs from the others, and from itself with another party.
    let mut unique = hashes.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), hashes.len());
    let mut other = certificate();
    other.party_name = "兰州另一餐饮有限公司".into();
    assert_ne!(hashes[2], render(Document::AcceptanceCertificate(other)).sha256);
}

#[test]
fn many_items_run_to_several_pages() {
    let long = "经营场所卫生状况不符合要求，需要全面清理排查并建立长效管理制度，".repeat(4);
    let mut n = notice();
    n.items = (1..=15)
        .map(|i| RectItem {
            content: format!("第{i}项整改：{long}"),
            deadline: day("2026-10-19") + chrono::Days::new(i),
            acceptance_standard: format!("第{i}项验收标准"),
        })
        .collect();
    let rendered = render(Document::RectificationNotice(n));
    assert!(rendered.pages > 1, "{} pages", rendered.pages);
    let text = text(&rendered);
    assert_contains(&text, &["第1项整改：", "第15项整改：", "2026年11月3日", "第15项验收标准", "（盖章）"]);
}
