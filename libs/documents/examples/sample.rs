//! Writes a sample notice, receipt, interview outline and interview record
//! (unsigned, signed, and a signed correction), and the rectification
//! documents (rectification notice, acceptance opinion, acceptance
//! certificate, draft penalty prior notice) with the default fonts, to look
//! at:
//!
//!     cargo run -p yuetan-documents --example sample -- /tmp/out

use chrono::{NaiveDate, NaiveDateTime};
use yuetan_documents::{
    AcceptanceAnswer, AcceptanceCertificate, AcceptanceOpinion, Attendance, DeliveryReceipt, Document, FontConfig, InterviewNotice, InterviewOutline,
    InterviewRecord, PenaltyPriorNotice, RecordItem, RecordPerson, RectItem, RectificationNotice, Renderer, SignatureLine,
};

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
    let day = |d: &str| NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
    let outline = Document::InterviewOutline(InterviewOutline {
        issuing_organ: "兰州市城关区市场监督管理局".into(),
        number: "兰城市监约纲〔2026〕3号".into(),
        case_number: "兰城市监约〔2026〕17号".into(),
        party_name: "兰州某某餐饮有限公司".into(),
        interview_at: at("2026-10-12 09:30"),
        place: "兰州市城关区市场监督管理局三楼会议室".into(),
        video: false,
        interviewers: vec!["张某某".into(), "李某某".into()],
        recorder: "王某某".into(),
        participants: vec!["城关区卫生健康局 赵某某".into()],
        facts: "2026年9月28日，执法人员对当事人经营场所进行检查，发现后厨生熟食品混放，两名从业人员健康证已过期。".into(),
        provisions: vec!["《中华人民共和国食品安全法》第三十三条第一款第（四）项".into(), "《中华人民共和国食品安全法》第四十五条第一款".into()],
        evidence: vec!["现场检查笔录（2026年9月28日）".into(), "现场照片12张".into(), "从业人员健康证复印件2份".into()],
        points: vec![
            "指出生熟食品混放、从业人员健康证过期的问题及其风险".into(),
            "听取当事人的陈述和申辩".into(),
            "提出整改要求，商定整改期限和验收标准".into(),
        ],
        prepared_on: day("2026-10-10"),
    });
    let person = |role: &str, name: &str, detail: &str| RecordPerson { role: role.into(), name: name.into(), detail: detail.into() };
    let mut record = InterviewRecord {
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
            person("约谈人", "张某某", "执法证号 62010000001"),
            person("约谈人", "李某某", "执法证号 62010000002"),
            person("记录人", "王某某", "兰州市城关区市场监督管理局"),
            person("联合约谈部门", "赵某某", "城关区卫生健康局"),
            person("当事人", "刘某某", "兰州某某餐饮有限公司法定代表人"),
        ],
        attendance: vec![
            Attendance { name: "张某某".into(), role: "约谈人".into(), from: at("2026-10-12 09:25"), until: Some(at("2026-10-12 11:05")) },
            Attendance { name: "李某某".into(), role: "约谈人".into(), from: at("2026-10-12 09:25"), until: Some(at("2026-10-12 11:05")) },
            Attendance { name: "王某某".into(), role: "记录人".into(), from: at("2026-10-12 09:25"), until: None },
            Attendance {
                name: "赵某某".into(), role: "联合约谈部门".into(), from: at("2026-10-12 09:40"), until: Some(at("2026-10-12 10:30"))
            },
            Attendance { name: "刘某某".into(), role: "当事人".into(), from: at("2026-10-12 09:28"), until: Some(at("2026-10-12 11:05")) },
        ],
        opening: "约谈人出示执法证件，说明约谈的目的和依据。".into(),
        facts: "2026年9月28日检查发现，当事人后厨生熟食品混放，两名从业人员健康证已过期。".into(),
        provisions: vec!["《中华人民共和国食品安全法》第三十三条第一款第（四）项".into(), "《中华人民共和国食品安全法》第四十五条第一款".into()],
        evidence: vec!["现场检查笔录".into(), "现场照片12张".into()],
        informing: "告知当事人享有陈述、申辩的权利，以及拒不整改的法律后果。".into(),
        party_statement: "对检查发现的问题无异议。后厨改造需要时间，申请延长冷库改造的期限。".into(),
        party_commitments: "按商定的期限完成整改，并书面报告整改情况。".into(),
        items: vec![
            RecordItem {
                content: "生熟食品分区存放，设置标识".into(),
                deadline: day("2026-10-19"),
                acceptance_standard: "生熟分区、标识清楚".into(),
                check_method: "现场检查".into(),
                extended_note: String::new(),
            },
            RecordItem {
                content: "过期健康证人员暂停接触直接入口食品的工作，重新办理健康证".into(),
                deadline: day("2026-10-26"),
                acceptance_standard: "全部从业人员持有效健康证".into(),
                check_method: "书面审查".into(),
                extended_note: String::new(),
            },
            RecordItem {
                content: "改造冷库，增设生食专用冷藏区".into(),
                deadline: day("2026-12-10"),
                acceptance_standard: "冷库分区投入使用".into(),
                check_method: "现场检查".into(),
                extended_note: "超过30日，经食品安全监管科科长审批同意（2026年10月12日）".into(),
            },
        ],
        recordings: vec!["recordings/2026-10-12-0930.mp4 (sha256 3f2a9c0d1e4b5a6f77e0c3d2b1a09f8e7d6c5b4a3928170f6e5d4c3b2a190817)".into()],
        signatures: vec![],
        party_refusal: String::new(),
        criminal_clue: String::new(),
    };
    let unsigned = Document::InterviewRecord(record.clone());
    record.signatures = record
        .people
        .iter()
        .filter(|p| p.role != "专家")
        .zip(["a1b2c3d4e5f60718", "0918f7e6d5c4b3a2", "5c6d7e8f9a0b1c2d", "1122334455667788", "8877665544332211"])
        .map(|(p, fingerprint)| SignatureLine {
            role: p.role.clone(),
            name: p.name.clone(),
            method: if p.role == "当事人" { "手写签名（平板）".into() } else { "电子签名".into() },
            signed_at: at("2026-10-12 11:10"),
            fingerprint: fingerprint.into(),
        })
        .collect();
    let signed = Document::InterviewRecord(record.clone());
    record.version = 2;
    record.correction_reason = "第三项整改事项的期限误记为2026年12月1日，更正为2026年12月10日".into();
    let rect_items: Vec<RectItem> = record
        .items
        .iter()
        .map(|it| RectItem { content: it.content.clone(), deadline: it.deadline, acceptance_standard: it.acceptance_standard.clone() })
        .collect();
    let corrected = Document::InterviewRecord(record);
    let rectification = Document::RectificationNotice(RectificationNotice {
        issuing_organ: "兰州市城关区市场监督管理局".into(),
        number: "兰城市监整改〔2026〕3号".into(),
        party_name: "兰州某某餐饮有限公司".into(),
        case_number: "兰城市监约〔2026〕17号".into(),
        record_number: "兰城市监约录〔2026〕3号".into(),
        legal_basis: "《中华人民共和国食品安全法》第一百一十四条".into(),
        items: rect_items.clone(),
        deadline: day("2026-12-10"),
        report_due: day("2026-12-07"),
        consequence: "逾期未整改或者整改不到位的，本局将依据《中华人民共和国食品安全法》的有关规定依法查处。".into(),
        report_channel: "约谈平台当事人门户（https://portal.example.cn）".into(),
        contact: "王某某 0931-0000000".into(),
        issued_on: day("2026-10-13"),
    });
    let opinion = Document::AcceptanceOpinion(AcceptanceOpinion {
        issuing_organ: "兰州市城关区市场监督管理局".into(),
        number: "兰城市监验意〔2026〕3号".into(),
        party_name: "兰州某某餐饮有限公司".into(),
        case_number: "兰城市监约〔2026〕17号".into(),
        notice_number: "兰城市监整改〔2026〕3号".into(),
        report_received_on: day("2026-12-05"),
        items: rect_items.clone(),
        answers: vec![
            AcceptanceAnswer {
                officer: "张某某".into(),
                complete: true,
                lawful: true,
                goal_reached: true,
                comments: "现场核查，生熟分区、标识清楚，冷库分区已投入使用".into(),
                answered_at: at("2026-12-08 10:30"),
            },
            AcceptanceAnswer {
                officer: "李某某".into(),
                complete: true,
                lawful: true,
                goal_reached: true,
                comments: "从业人员健康证均在有效期内".into(),
                answered_at: at("2026-12-08 15:45"),
            },
        ],
        passed: true,
        conclusion: "整改事项全部完成，符合验收标准，验收合格。".into(),
        issued_on: day("2026-12-09"),
    });
    let certificate = Document::AcceptanceCertificate(AcceptanceCertificate {
        issuing_organ: "兰州市城关区市场监督管理局".into(),
        number: "兰城市监验合〔2026〕3号".into(),
        party_name: "兰州某某餐饮有限公司".into(),
        case_number: "兰城市监约〔2026〕17号".into(),
        notice_number: "兰城市监整改〔2026〕3号".into(),
        items: rect_items.clone(),
        conclusion: "你（单位）已按期完成全部整改事项，符合验收标准，验收合格。".into(),
        follow_up: "自2026年12月10日起六个月内，本局将对你（单位）进行不少于两次回访检查。".into(),
        issued_on: day("2026-12-10"),
    });
    let penalty = Document::PenaltyPriorNotice(PenaltyPriorNotice {
        issuing_organ: "兰州市城关区市场监督管理局".into(),
        number: String::new(),
        party_name: "兰州某某餐饮有限公司".into(),
        case_number: "兰城市监约〔2026〕17号".into(),
        facts: "2026年9月28日，执法人员检查发现当事人后厨生熟食品混放。\n2026年10月12日经行政约谈，当事人承诺于2026年12月10日前完成冷库改造，逾期未完成，经验收不合格。".into(),
        provisions: vec!["《中华人民共和国食品安全法》第三十三条第一款第（四）项".into()],
        failed_items: rect_items[2..].to_vec(),
        evidence: vec![
            "行政约谈记录 兰城市监约录〔2026〕3号".into(),
            "整改通知书 兰城市监整改〔2026〕3号".into(),
            "整改台账 (sha256 3f2a9c0d1e4b5a6f77e0c3d2b1a09f8e7d6c5b4a3928170f6e5d4c3b2a190817)".into(),
        ],
        proposed_penalty: "依据《中华人民共和国食品安全法》第一百三十二条，拟给予警告，并处罚款人民币五千元。".into(),
        rights: "根据《中华人民共和国行政处罚法》第四十五条的规定，你（单位）享有陈述、申辩的权利，可在收到本告知书之日起五个工作日内向本局提出；逾期未提出的，视为放弃上述权利。".into(),
        issued_on: day("2026-12-15"),
    });
    for (name, doc) in [
        ("notice.pdf", notice),
        ("receipt.pdf", receipt),
        ("outline.pdf", outline),
        ("record-unsigned.pdf", unsigned),
        ("record-signed.pdf", signed),
        ("record-v2.pdf", corrected),
        ("rectification-notice.pdf", rectification),
        ("acceptance-opinion.pdf", opinion),
        ("acceptance-certificate.pdf", certificate),
        ("penalty-prior-notice-draft.pdf", penalty),
    ] {
        let rendered = renderer.render(&doc).expect("renders");
        std::fs::write(dir.join(name), &rendered.pdf).expect("writable");
        println!("{name}: {} page(s), sha256 {}", rendered.pages, rendered.sha256);
    }
}
