//! Writes a sample notice and receipt with the default fonts, to look at:
//!
//!     cargo run -p yuetan-documents --example sample -- /tmp/out

use chrono::{NaiveDate, NaiveDateTime};
use yuetan_documents::{DeliveryReceipt, Document, FontConfig, InterviewNotice, Renderer};

fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    let renderer = Renderer::new(&FontConfig::default()).expect("fonts");
    let at = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
    let notice = Document::InterviewNotice(InterviewNotice {
        issuing_organ: "兰州市城关区市场监督管理局".into(),
        number: "兰城市监约通〔2026〕3号".into(),
        party_name: "兰州某某餐饮有限公司".into(),
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
    });
    let receipt = Document::DeliveryReceipt(DeliveryReceipt {
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
    });
    for (name, doc) in [("notice.pdf", notice), ("receipt.pdf", receipt)] {
        let rendered = renderer.render(&doc).expect("renders");
        std::fs::write(dir.join(name), &rendered.pdf).expect("writable");
        println!("{name}: {} page(s), sha256 {}", rendered.pages, rendered.sha256);
    }
}
