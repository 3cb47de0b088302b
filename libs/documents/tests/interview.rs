//! The interview outline (约谈提纲) and the interview record (行政约谈记录,
//! R-INT-4), rendered with Debian's Noto CJK fonts and read back with
//! poppler's pdftotext.

use std::process::Command;
use std::sync::OnceLock;

use chrono::{NaiveDate, NaiveDateTime};
use yuetan_documents::{
    Attendance, Document, DocumentError, FontConfig, InterviewOutline, InterviewRecord, RecordItem, RecordPerson, Rendered, Renderer, SignatureLine,
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

fn outline() -> InterviewOutline {
    InterviewOutline {
        issuing_organ: "兰州市城关区市场监督管理局".into(),
        number: "兰城市监约纲〔2026〕3号".into(),
        case_number: "兰城市监约〔2026〕17号".into(),
        party_name: "兰州某某餐饮有限公司".into(),
        interview_at: at("2026-10-12 09:30"),
        place: "兰州市城关区市场监督管理局三楼会议室".into(),
        video: false,
        interviewers: vec!["张某某".into(), "李某某".into()],
        recorder: "王某某".into(),
        participants: vec!["城关区卫生健康局".into()],
        facts: "执法人员检查发现后厨生熟食品混放。\n两名从业人员健康证已过期。".into(),
        provisions: vec!["《中华人民共和国食品安全法》第三十三条".into(), "《中华人民共和国食品安全法》第四十五条".into()],
        evidence: vec!["现场检查笔录".into(), "现场照片12张".into(), "健康证复印件2份".into()],
        points: vec!["指出生熟混放的风险".into(), "听取当事人的陈述和申辩".into(), "商定整改期限和验收标准".into()],
        prepared_on: day("2026-10-10"),
    }
}

fn person(role: &str, name: &str, detail: &str) -> RecordPerson {
    RecordPerson { role: role.into(), name: name.into(), detail: detail.into() }
}

fn item(content: &str, deadline: &str, standard: &str) -> RecordItem {
    RecordItem {
        content: content.into(),
        deadline: day(deadline),
        acceptance_standard: standard.into(),
        check_method: "现场检查".into(),
        extended_note: String::new(),
    }
}

fn record() -> InterviewRecord {
    InterviewRecord {
        issuing_organ: "兰州市城关区市场监督管理局".into(),
        number: "兰城市监约录〔2026〕3号".into(),
        version: 1,
        correction_reason: String::new(),
        case_number: "兰城市监约〔2026〕17号".into(),
        party_name: "兰州某某餐饮有限公司".into(),
        started_at: at("2026-10-12 09:30"),
        ended_at: at("2026-10-12 11:05"),
        place: "兰州市城关区市场监督管理局三楼会议室".into(),
        video: false,
        people: vec![
            person("约谈人", "张某某", "执法证号62010000001"),
            person("记录人", "王某某", "兰州市城关区市场监督管理局"),
            person("联合约谈部门", "赵某某", "城关区卫生健康局"),
            person("专家", "钱某某", "兰州大学"),
            person("当事人", "刘某某", "法定代表人"),
        ],
        attendance: vec![
            Attendance { name: "张某某".into(), role: "约谈人".into(), from: at("2026-10-12 09:25"), until: Some(at("2026-10-12 11:05")) },
            Attendance {
                name: "赵某某".into(), role: "联合约谈部门".into(), from: at("2026-10-12 09:40"), until: Some(at("2026-10-12 10:30"))
            },
            Attendance { name: "刘某某".into(), role: "当事人".into(), from: at("2026-10-12 09:28"), until: None },
        ],
        opening: "约谈人出示执法证件，说明约谈的目的和依据。".into(),
        facts: "后厨生熟食品混放，两名从业人员健康证已过期。".into(),
        provisions: vec!["《中华人民共和国食品安全法》第三十三条".into()],
        evidence: vec!["现场检查笔录".into(), "现场照片12张".into()],
        informing: "告知当事人享有陈述、申辩的权利。".into(),
        party_statement: "对检查发现的问题无异议。".into(),
        party_commitments: "按期完成整改并书面报告。".into(),
        items: vec![
            item("生熟食品分区存放并设置标识", "2026-10-19", "生熟分区、标识清楚"),
            RecordItem {
                extended_note: "经食品安全监管科科长审批延期".into(),
                ..item("改造冷库增设生食专用冷藏区", "2026-12-10", "冷库分区投入使用")
            },
        ],
        recordings: vec!["recordings/2026-10-12-0930.mp4 (sha256 3f2a9c0d1e4b5a6f77e0c3d2b1a09f8e7d6c5b4a3928170f6e5d4c3b2a190817)".into()],
        signatures: vec![],
        party_refusal: String::new(),
        criminal_clue: String::new(),
    }
}

fn signed(mut r: InterviewRecord) -> InterviewRecord {
    r.signatures = vec![
        SignatureLine {
            role: "约谈人".into(),
            name: "张某某".into(),
            method: "电子签名".into(),
            signed_at: at("2026-10-12 11:10"),
            fingerprint: "a1b2c3d4e5f60718".into(),
        },
        SignatureLine {
            role: "当事人".into(),
            name: "刘某某".into(),
            method: "手写签名（平板）".into(),
            signed_at: at("2026-10-12 11:12"),
            fingerprint: "0918f7e6d5c4b3a2".into(),
        },
    ];
    r
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

/// The text with all whitespace removed (pdftotext breaks lines where the
/// layout does).
fn text(rendered: &Rendered) -> String {
    squash(&pdftotext(rendered))
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

#[test]
fn outline_has_number_party_sections_points_and_evidence() {
    let rendered = render(Document::InterviewOutline(outline()));
    assert!(rendered.pdf.starts_with(b"%PDF-"));
    assert_eq!(rendered.sha256, yuetan_documents::seal::sha256_hex(&rendered.pdf));
    let text = text(&rendered);
    assert_contains(
        &text,
        &[
            "行政约谈提纲",
            "兰州市城关区市场监督管理局",
            "兰城市监约纲〔2026〕3号",
            "兰城市监约〔2026〕17号",
            "兰州某某餐饮有限公司",
            "2026年10月12日 09时30分",
            "兰州市城关区市场监督管理局三楼会议室",
            "张某某、李某某",
            "记录人王某某",
            "城关区卫生健康局",
            "一、基本事实",
            "执法人员检查发现后厨生熟食品混放。",
            "两名从业人员健康证已过期。",
            "二、违反的规定",
            "1.《中华人民共和国食品安全法》第三十三条",
            "2.《中华人民共和国食品安全法》第四十五条",
            "三、证据清单",
            "1.现场检查笔录",
            "2.现场照片12张",
            "3.健康证复印件2份",
            "四、约谈要点",
            "1.指出生熟混放的风险",
            "2.听取当事人的陈述和申辩",
            "3.商定整改期限和验收标准",
            "2026年10月10日",
        ],
    );
    // The sections come in order, the points after the evidence.
    let pos = |s: &str| text.find(s).unwrap_or_else(|| panic!("{s:?} not in {text}"));
    assert!(pos("一、基本事实") < pos("二、违反的规定") && pos("二、违反的规定") < pos("三、证据清单"));
    assert!(pos("三、证据清单") < pos("3.健康证复印件2份") && pos("3.健康证复印件2份") < pos("四、约谈要点"));
    assert!(pos("四、约谈要点") < pos("3.商定整改期限和验收标准"));
}

#[test]
fn video_outline_says_video_and_empty_lists_say_none() {
    let mut o = outline();
    o.video = true;
    o.place = "腾讯会议 123-456-789".into();
    o.participants.clear();
    o.provisions.clear();
    let text = text(&render(Document::InterviewOutline(o)));
    assert_contains(&text, &["视频约谈（腾讯会议123-456-789）", "其他参加人员无", "二、违反的规定无三、证据清单"]);
}

#[test]
fn record_has_case_people_attendance_steps_and_items() {
    let rendered = render(Document::InterviewRecord(record()));
    let text = text(&rendered);
    assert_contains(
        &text,
        &[
            "行政约谈记录",
            "兰城市监约录〔2026〕3号",
            "兰城市监约〔2026〕17号",
            "2026年10月12日 09时30分至11时05分",
            "兰州市城关区市场监督管理局三楼会议室",
            // The people table: role, name, detail (one line each).
            "约谈人张某某执法证号62010000001",
            "联合约谈部门赵某某城关区卫生健康局",
            "专家钱某某兰州大学",
            // Attendance: name, role, from, until; pdftotext reads the
            // two-line times of a row in no fixed order, so cell by cell.
            "到场情况",
            "姓名",
            "到场时间",
            "离场时间",
            "09时25分",
            "11时05分",
            "09时40分",
            "10时30分",
            "09时28分",
            "一、开场",
            "约谈人出示执法证件",
            "二、告知",
            "后厨生熟食品混放",
            "1.《中华人民共和国食品安全法》第三十三条",
            "2.现场照片12张",
            "告知当事人享有陈述、申辩的权利。",
            "三、听取陈述",
            "对检查发现的问题无异议。",
            "按期完成整改并书面报告。",
            "四、整改事项",
            "整改内容",
            "整改期限",
            "验收标准",
            "核查方式",
            "2026年10月19日",
            "冷库分区投入使用",
            "2026年12月10日",
            "延期说明：经食品安全监管科科长审批延期",
            "五、录音录像",
            // The hash breaks across lines but is copied out whole.
            "recordings/2026-10-12-0930.mp4(sha2563f2a9c0d1e4b5a6f77e0c3d2b1a09f8e7d6c5b4a3928170f6e5d4c3b2a190817)",
        ],
    );
    // Cells that wrap come out in pieces: each item's content and standard,
    // with the line breaks of the table taken out.
    for piece in ["生熟食品分区存放", "并设置标识", "生熟分区、标识清", "改造冷库增设生食", "专用冷藏区"] {
        assert!(text.contains(piece), "{piece:?} not in the text: {text}");
    }
    for name in ["张某某", "赵某某", "刘某某"] {
        assert!(text.matches(name).count() >= 2, "{name} is not both in the people table and the attendance: {text}");
    }
    // The one "—" outside the page numbers (—1—, —2—…) is 刘某某's: still present.
    let page_marks = 2 * usize::try_from(rendered.pages).unwrap();
    assert_eq!(text.matches('—').count(), page_marks + 1, "{text}");
    assert!(!text.contains("涉嫌犯罪线索"), "no criminal clue, no section: {text}");
    assert!(!text.contains("拒绝签字"), "{text}");
    assert!(!text.contains("更正"), "version 1 is no correction: {text}");
}

#[test]
fn record_without_items_recordings_says_none() {
    let mut r = record();
    r.items.clear();
    r.recordings.clear();
    let text = text(&render(Document::InterviewRecord(r)));
    assert_contains(&text, &["四、整改事项无", "五、录音录像无"]);
}

#[test]
fn video_record_says_video() {
    let mut r = record();
    r.video = true;
    r.place = String::new();
    let text = text(&render(Document::InterviewRecord(r)));
    assert_contains(&text, &["约谈地点视频约谈"]);
}

#[test]
fn interview_over_midnight_prints_both_dates() {
    let mut r = record();
    r.ended_at = at("2026-10-13 00:20");
    let text = text(&render(Document::InterviewRecord(r)));
    assert_contains(&text, &["2026年10月12日 09时30分至2026年10月13日 00时20分"]);
}

#[test]
fn correction_is_marked_from_version_2_only() {
    let reason = "第二项整改事项的期限误记，更正为2026年12月10日";
    let mut r = record();
    // A reason on version 1 is not printed: only a correction has one.
    r.correction_reason = reason.into();
    let v1 = text(&render(Document::InterviewRecord(r.clone())));
    assert!(!v1.contains("第2版") && !v1.contains("更正") && !v1.contains(&squash(reason)), "{v1}");
    r.version = 2;
    let v2 = text(&render(Document::InterviewRecord(r)));
    assert_contains(&v2, &["兰城市监约录〔2026〕3号", "第2版（更正）", &format!("更正原因：{reason}")]);
}

#[test]
fn unsigned_record_has_blank_lines_for_those_who_sign() {
    let text = text(&render(Document::InterviewRecord(record())));
    let page = text.split("签名约谈人：").nth(1).unwrap_or_else(|| panic!("no signature page: {text}"));
    for signer in ["张某某", "记录人：王某某", "联合约谈部门：", "当事人：刘某某"] {
        assert!(page.contains(signer), "{signer:?} not on the signature page: {page}");
    }
    // One blank line for each of the four who sign; an expert does not sign
    // and there is no signature table.
    assert_eq!(text.matches("签名：＿＿＿＿＿＿日期：＿＿＿＿＿").count(), 4, "{text}");
    assert!(!page.contains("钱某某") && !text.contains("签名方式"), "{text}");
}

#[test]
fn signed_record_lists_signers_methods_and_times() {
    let text = text(&render(Document::InterviewRecord(signed(record()))));
    assert_contains(
        &text,
        &[
            // Cell by cell: pdftotext reads a row with a two-line cell in no fixed order.
            "身份",
            "签名方式",
            "签名时间",
            "签名指纹",
            "张某某",
            "电子签名",
            "a1b2c3d4e5f60718",
            "11时10分",
            "刘某某",
            "手写签名（平板）",
            "0918f7e6d5c4b3a2",
            "11时12分",
        ],
    );
    let table = text.split("签名方式").nth(1).unwrap();
    assert!(table.contains("张某某") && table.contains("刘某某") && !table.contains("王某某"), "only those who signed: {table}");
    assert!(!text.contains("＿"), "no blank lines once signed: {text}");
}

#[test]
fn party_refusal_is_printed() {
    let mut r = record();
    r.party_refusal = "当事人刘某某拒绝在记录上签字，由见证人孙某某签字证明".into();
    let unsigned = text(&render(Document::InterviewRecord(r.clone())));
    assert_contains(&unsigned, &["当事人拒绝签字：当事人刘某某拒绝在记录上签字，由见证人孙某某签字证明"]);
    r.signatures = vec![SignatureLine {
        role: "见证人".into(),
        name: "孙某某".into(),
        method: "手写签名（纸质）".into(),
        signed_at: at("2026-10-12 11:20"),
        fingerprint: "ffeeddccbbaa9988".into(),
    }];
    let signed = text(&render(Document::InterviewRecord(r)));
    assert_contains(&signed, &["当事人拒绝签字：当事人刘某某拒绝", "孙某某", "手写签名（纸质）", "ffeeddccbbaa9988"]);
}

#[test]
fn criminal_clue_gets_its_section() {
    let mut r = record();
    r.criminal_clue = "发现当事人涉嫌生产销售不符合安全标准的食品，已移送公安机关".into();
    let text = text(&render(Document::InterviewRecord(r)));
    assert_contains(&text, &["六、涉嫌犯罪线索发现当事人涉嫌生产销售不符合安全标准的食品，已移送公安机关"]);
}

#[test]
fn markup_in_the_data_is_printed_literally() {
    let inputs = ["#set page(width: 1cm)", "*bold* $x$ _em_", "]#let x = 1[ `raw` <label> @ref \\ // 注释 /* c */", "#panic(\"x\")"];
    for input in inputs {
        let mut o = outline();
        o.party_name = input.into();
        o.facts = input.into();
        o.points = vec![input.into()];
        let outline = text(&render(Document::InterviewOutline(o)));
        assert!(outline.matches(&squash(input)).count() >= 3, "{input:?} not printed literally in the outline: {outline}");
        assert!(outline.contains(&format!("1.{}", squash(input))), "{input:?} not printed literally as a point: {outline}");

        let mut r = signed(record());
        r.party_name = input.into();
        r.party_statement = input.into();
        r.items[0].content = input.into();
        r.items[0].acceptance_standard = input.into();
        r.people[0].name = input.into();
        r.signatures[0].name = input.into();
        r.party_refusal = input.into();
        r.correction_reason = input.into();
        r.version = 3;
        let record = text(&render(Document::InterviewRecord(r)));
        // Printed whole where it runs in lines (correction reason, party,
        // statement, refusal); table cells may come out in pieces.
        assert!(record.matches(&squash(input)).count() >= 4, "{input:?} not printed literally in the record: {record}");
        assert_contains(&record, &["第3版（更正）", &format!("当事人拒绝签字：{input}")]);
    }
    // `#set page(width: 1cm)` did not apply: the record is still A4-wide
    // (a 1cm page would run to hundreds of pages).
    let mut r = record();
    r.facts = "#set page(width: 1cm)".into();
    assert!(render(Document::InterviewRecord(r)).pages < 10);
}

#[test]
fn same_data_renders_the_same_bytes() {
    let a = render(Document::InterviewRecord(signed(record())));
    let b = render(Document::InterviewRecord(signed(record())));
    assert_eq!((a.sha256.as_str(), a.pdf.len()), (b.sha256.as_str(), b.pdf.len()));
    let o1 = render(Document::InterviewOutline(outline()));
    let o2 = render(Document::InterviewOutline(outline()));
    assert_eq!(o1.sha256, o2.sha256);
    // The unsigned and the signed record differ; so does a different party.
    assert_ne!(a.sha256, render(Document::InterviewRecord(record())).sha256);
    let mut other = outline();
    other.party_name = "兰州另一餐饮有限公司".into();
    assert_ne!(o1.sha256, render(Document::InterviewOutline(other)).sha256);
}

#[test]
fn long_record_runs_to_several_pages() {
    let long = "经营场所卫生状况不符合要求，需要全面清理排查并建立长效管理制度，".repeat(6);
    let mut r = signed(record());
    r.items = (1..=12)
        .map(|i| RecordItem {
            content: format!("第{i}项整改：{long}"),
            deadline: day("2026-10-19") + chrono::Days::new(i),
            acceptance_standard: format!("第{i}项验收标准：{long}"),
            check_method: if i % 2 == 0 { "书面审查".into() } else { "现场检查".into() },
            extended_note: if i == 12 { "超过30日，经科长审批同意".into() } else { String::new() },
        })
        .collect();
    r.party_statement = long.repeat(4);
    r.facts = (0..8).map(|_| long.as_str()).collect::<Vec<_>>().join("\n");
    let rendered = render(Document::InterviewRecord(r));
    assert!(rendered.pages > 1, "{} pages", rendered.pages);
    let text = text(&rendered);
    assert_contains(
        &text,
        &["第1项整改：", "第12项整改：", "2026年10月31日", "第12项验收标准：", "超过30日，经科长审批同意", "—2—", "a1b2c3d4e5f60718"],
    );
}

#[test]
fn invalid_record_is_refused_naming_the_field() {
    let mut r = record();
    r.version = 0;
    let err = renderer().render(&Document::InterviewRecord(r)).expect_err("version 0 is refused");
    assert!(matches!(&err, DocumentError::Field { field, .. } if field == "version"), "{err:?}");
    let mut r = record();
    r.ended_at = at("2026-10-12 09:00");
    let err = renderer().render(&Document::InterviewRecord(r)).expect_err("an end before the start is refused");
    assert!(matches!(&err, DocumentError::Field { field, .. } if field == "ended_at"), "{err:?}");
}
