//! The console's Chinese: dates (`2026年11月26日`), statuses, task kinds,
//! card colours and steps, and the services' refusals as sentences an
//! officer understands, naming the field in Chinese.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use tonic::{Code, Status};
use yuetan_proto::common::Date;

/// `2026年11月26日`.
pub fn date(day: NaiveDate) -> String {
    format!("{}年{}月{}日", day.year(), day.month(), day.day())
}

/// A proto date as `2026年11月26日`, or "—".
pub fn proto_date(day: Option<&Date>) -> String {
    parse(day).map(date).unwrap_or_else(|| "—".into())
}

pub fn parse(day: Option<&Date>) -> Option<NaiveDate> {
    day.and_then(|d| NaiveDate::parse_from_str(&d.iso, "%Y-%m-%d").ok())
}

/// A time in China Standard Time: `2026年11月26日 14:30`.
pub fn time(at: Option<&prost_types::Timestamp>) -> String {
    match yuetan_platform::fields::from_timestamp(at) {
        Some(at) => time_utc(at),
        None => "—".into(),
    }
}

pub fn time_utc(at: DateTime<Utc>) -> String {
    let local = yuetan_platform::fields::cst_datetime(at);
    format!("{} {}", date(local.date()), local.format("%H:%M"))
}

pub fn case_status(status: i32) -> &'static str {
    match status {
        1 => "已立案",
        2 => "待法制审核",
        3 => "退回补充",
        4 => "移送处罚程序",
        5 => "待审批",
        6 => "已批准约谈",
        7 => "不予批准",
        8 => "审核不通过",
        _ => "未知",
    }
}

pub fn clue_status(status: i32) -> &'static str {
    match status {
        1 => "待核查",
        2 => "已立案",
        3 => "已排除",
        _ => "未知",
    }
}

pub fn task_kind(kind: i32) -> &'static str {
    match kind {
        1 => "法制审核",
        2 => "审批",
        3 => "文书审核",
        _ => "任务",
    }
}

pub fn plan_status(status: i32) -> &'static str {
    match status {
        1 => "待制定方案",
        2 => "已制定方案",
        3 => "通知书审核中",
        4 => "通知书被退回",
        5 => "送达中",
        6 => "已送达",
        7 => "需改期",
        _ => "未知",
    }
}

pub fn service_status(status: i32) -> &'static str {
    match status {
        1 => "送达中",
        2 => "待执法人员处理",
        3 => "已送达",
        _ => "未知",
    }
}

pub fn channel(channel: i32) -> &'static str {
    match channel {
        1 => "短信",
        2 => "电子邮件",
        3 => "政务服务平台",
        4 => "直接送达",
        5 => "邮寄",
        _ => "—",
    }
}

/// Card colours: `green`, `yellow`, `red` (CSS class) and their words.
pub fn colour(colour: i32) -> (&'static str, &'static str) {
    match colour {
        1 => ("green", "正常"),
        2 => ("yellow", "临期"),
        3 => ("red", "逾期"),
        _ => ("none", "—"),
    }
}

/// Supervision's step and stage names.
pub fn step(step: &str) -> &str {
    match step {
        "verification" | "clue" | "clue_verification" => "线索核查",
        "review" | "legality_review" => "法制审核",
        "approval" => "审批",
        "document_review" => "文书审核",
        "notice" | "interview_notice" => "约谈通知",
        "service" => "文书送达",
        "interview" => "约谈",
        "record" => "约谈笔录",
        "rectification" => "整改",
        "report" => "整改报告",
        "acceptance" => "整改验收",
        "archive" | "archiving" => "归档",
        "clue_to_approval" => "立案至批准（总时限）",
        "preparing" => "约谈准备",
        "intake" => "受理",
        "scheduling" => "约谈安排",
        "closed" => "已结案",
        "archived" => "已归档",
        other => other,
    }
}

/// The services' status words (records, delivery attempts, interviews).
pub fn status_word(word: &str) -> &str {
    match word {
        "signed" => "已签署",
        "draft" | "pending" | "awaiting_signatures" | "unsigned" => "待签署",
        "corrected" | "superseded" => "已更正",
        "sent" => "已发送",
        "delivered" => "已送达",
        "failed" => "失败",
        "expired" => "已超时",
        "queued" => "排队中",
        "held" | "closed" => "已举行",
        "in_progress" | "started" => "进行中",
        "absent" => "当事人未到场",
        "refused" => "当事人拒绝",
        other => other,
    }
}

/// Supervision's indicators (R-SUP-5).
pub fn kpi(name: &str) -> &str {
    match name {
        "start_timeliness" => "启动及时率",
        "document_conformity" => "文书规范率",
        "tracking_coverage" => "整改跟踪覆盖率",
        "rectification_pass" => "整改验收合格率",
        "reinspection_pass" => "复查合格率",
        "satisfaction" => "当事人满意度（分）",
        "interview_coverage" => "约谈覆盖率",
        "relief_rate" => "复议诉讼率",
        "relief_loss_rate" => "复议诉讼败诉率",
        other => other,
    }
}

pub fn role(role: &str) -> &str {
    match role {
        "case_officer" => "承办人",
        "section_chief" => "科室负责人",
        "legal_reviewer" => "法制审核人员",
        "deputy_leader" => "分管负责人",
        "leader" => "主要负责人",
        "office" => "办公室",
        "discipline_inspector" => "纪检监察",
        "co_department_officer" => "联合约谈部门人员",
        "admin" => "系统管理员",
        "system" => "外部系统",
        other => other,
    }
}

/// The Chinese name of a request field the services name in their refusals.
pub fn field(field: &str) -> String {
    let last = field.rsplit('.').next().unwrap_or(field);
    let name = match last {
        "credit_code" => "统一社会信用代码",
        "resident_id" => "居民身份证号码",
        "name" => "名称",
        "address" => "地址",
        "phone" => "联系电话",
        "party_id" | "party" => "当事人",
        "facts" => "事实",
        "section" => "承办科室",
        "violation_type" => "违法行为类型",
        "source" => "线索来源",
        "urgency" => "紧急程度",
        "evidence" | "content" => "证据材料",
        "file_name" => "文件名",
        "media_type" => "文件类型",
        "provisions_violated" => "违反的规定",
        "necessity" => "约谈必要性",
        "situations" => "适用情形",
        "proposal" => "约谈建议",
        "proposed_interviewers" | "interviewers" => "约谈人员",
        "checklist" => "审核清单",
        "decision" => "决定",
        "opinion" => "意见",
        "missing" => "需补充材料",
        "interview_at" => "约谈时间",
        "place" => "约谈地点",
        "mode" => "约谈方式",
        "recorder" => "记录人",
        "matter" => "约谈事项",
        "legal_basis" => "法律依据",
        "contact" => "联系人",
        "channels" => "送达方式",
        "progress" => "整改进展",
        "problems" => "存在问题",
        "measures" => "措施",
        "method" => "跟踪方式",
        "on" => "日期",
        "follow_up" => "后续跟踪安排",
        "consequence" => "逾期后果",
        "sms_number" => "手机号",
        "email" => "电子邮箱",
        "egov_account" => "政务服务平台账号",
        "postal_address" => "邮寄地址",
        "confirmation_sha256" => "送达地址确认书",
        "signed_on" => "签署日期",
        "comments" => "意见",
        "document_code" => "文书字号",
        "division_code" => "行政区划代码",
        "case_id" => "案件",
        "task_id" => "任务",
        "request_id" => "请求编号",
        _ => return field.to_string(),
    };
    name.to_string()
}

/// A refusal in the officer's words, and the field it names (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: Code,
    /// The request field, as the service named it (`party.credit_code`).
    pub field: Option<String>,
    /// One Chinese sentence.
    pub message: String,
    /// The service's own words (English, for the IT operator), shown folded
    /// under the sentence; empty when the console made the refusal.
    pub detail: String,
}

impl Refusal {
    /// A refusal the console makes itself (a bound it checks before calling).
    pub fn of_field(field: &str, message: String) -> Refusal {
        Refusal { code: Code::InvalidArgument, field: Some(field.to_string()), message, detail: String::new() }
    }
}

/// The services say `invalid argument `field`: reason` (libs/platform
/// error.rs); the field is between the first two backticks. The sentence is
/// Chinese throughout; the service's reason goes into `detail`.
pub fn refusal(status: &Status) -> Refusal {
    let detail = status.message();
    let field = match status.code() {
        Code::InvalidArgument => detail.split('`').nth(1).filter(|f| !f.is_empty() && f.len() <= 80).map(str::to_string),
        _ => None,
    };
    let message = match status.code() {
        Code::InvalidArgument => match &field {
            Some(f) => format!("“{}”填写有误，请核对后重新提交。", self::field(f)),
            None => "填写有误，请核对后重新提交。".into(),
        },
        Code::PermissionDenied => "您没有权限办理此事项，或该案件不在您的管辖范围内。".into(),
        Code::Unauthenticated => "登录已失效，请重新登录。".into(),
        Code::NotFound => "未找到该记录，或它不在您的管辖范围内。".into(),
        Code::AlreadyExists => "该记录已存在，无需重复办理。".into(),
        Code::FailedPrecondition => "当前状态下不能办理此事项，请先完成前一环节。".into(),
        Code::Unavailable | Code::DeadlineExceeded => "服务暂时不可用，请稍后重试（您的操作未生效或将只生效一次）。".into(),
        _ => "系统内部错误，请联系系统管理员。".into(),
    };
    // Internal errors carry nothing worth showing; the rest is the service's reason.
    let detail = match status.code() {
        Code::InvalidArgument | Code::AlreadyExists | Code::FailedPrecondition => detail.to_string(),
        _ => String::new(),
    };
    Refusal { code: status.code(), field, message, detail }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_written_the_chinese_way() {
        assert_eq!(date(NaiveDate::from_ymd_opt(2026, 11, 26).unwrap()), "2026年11月26日");
        assert_eq!(proto_date(Some(&Date { iso: "2027-01-05".into() })), "2027年1月5日");
        assert_eq!(proto_date(None), "—");
    }

    #[test]
    fn an_invalid_argument_names_the_field_in_chinese() {
        let status: Status = yuetan_platform::Error::invalid("party.credit_code", "check character mismatch").into();
        let refusal = refusal(&status);
        assert_eq!(refusal.field.as_deref(), Some("party.credit_code"));
        assert!(refusal.message.contains("统一社会信用代码"), "{}", refusal.message);
        assert!(!refusal.message.contains("check character"), "the sentence is Chinese; the reason is the detail: {}", refusal.message);
        assert!(refusal.detail.contains("check character mismatch"));
    }

    #[test]
    fn a_forbidden_call_is_one_sentence_without_the_services_detail() {
        let refusal = refusal(&Status::permission_denied("case 42 is outside division 620103"));
        assert!(!refusal.message.contains("620103"), "{}", refusal.message);
        assert!(refusal.message.contains("没有权限"));
    }
}
