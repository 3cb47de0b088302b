//! The party's rating of the interview (DOMAIN R-SUP-4) as posted to
//! `POST /rate/{token}` (application/x-www-form-urlencoded): three marks of
//! 1–5 — attitude (态度), professionalism (专业), communication (沟通) — and
//! an optional comment of at most [`MAX_COMMENT_CHARS`] characters. Nothing
//! here writes: `web.rs` checks the form, then `flow.rs` records it.

use serde::Deserialize;

/// The purpose of a rating link; `service_id` is the case id.
pub const PURPOSE_RATE: &str = "rate";
/// Longest comment (characters, after CRLF → LF).
pub const MAX_COMMENT_CHARS: usize = 500;
/// Largest request body of `POST /rate/{token}` (bytes): 500 characters of
/// up to 4 bytes, percent-encoded (×3), and the marks.
pub const MAX_RATING_BODY_BYTES: usize = 8 * 1024;

/// The form as posted; every field optional so that a missing one is named.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RatingFormRaw {
    pub attitude: Option<String>,
    pub professionalism: Option<String>,
    pub communication: Option<String>,
    pub comment: Option<String>,
}

/// A rating whose every field is in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatingForm {
    pub attitude: u32,
    pub professionalism: u32,
    pub communication: u32,
    /// Line breaks as LF, trimmed; may be empty.
    pub comment: String,
}

/// Why a rating was refused: the field and why, in Chinese for the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatingRefusal {
    pub field: &'static str,
    pub why: String,
}

fn mark(field: &'static str, label: &str, value: Option<&str>) -> Result<u32, RatingRefusal> {
    let refuse = || RatingRefusal { field, why: format!("请为“{label}”选择 1 至 5 分") };
    let value = value.ok_or_else(refuse)?.trim();
    match value.parse::<u32>() {
        Ok(n) if (1..=5).contains(&n) && value.len() == 1 => Ok(n),
        _ => Err(refuse()),
    }
}

/// Checks the form: the three marks 1–5, the comment at most
/// [`MAX_COMMENT_CHARS`] characters without control characters but line
/// breaks and tabs.
pub fn check(raw: &RatingFormRaw) -> Result<RatingForm, RatingRefusal> {
    let attitude = mark("attitude", "态度", raw.attitude.as_deref())?;
    let professionalism = mark("professionalism", "专业", raw.professionalism.as_deref())?;
    let communication = mark("communication", "沟通", raw.communication.as_deref())?;
    let comment = raw.comment.as_deref().unwrap_or_default().replace("\r\n", "\n").replace('\r', "\n");
    let comment = comment.trim().to_string();
    if comment.chars().count() > MAX_COMMENT_CHARS {
        return Err(RatingRefusal { field: "comment", why: format!("意见建议不能超过 {MAX_COMMENT_CHARS} 字") });
    }
    if comment.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(RatingRefusal { field: "comment", why: "意见建议含有不可见的控制字符".into() });
    }
    Ok(RatingForm { attitude, professionalism, communication, comment })
}

/// R-SUP-6: what a party may complain of, with the page's labels.
pub const COMPLAINT_KINDS: &[(&str, &str)] = &[
    ("abuse", "滥用职权"),
    ("favouritism", "徇私舞弊"),
    ("leaking_secrets", "泄露商业秘密或个人隐私"),
    ("forged_record", "伪造约谈记录"),
    ("fake_rectification", "虚假整改验收"),
    ("rude_conduct", "态度粗暴"),
];
/// Longest complaint description (characters, after CRLF → LF).
pub const MAX_COMPLAINT_CHARS: usize = 2000;
/// Largest request body of `POST /rate/{token}/complaint` (bytes).
pub const MAX_COMPLAINT_BODY_BYTES: usize = 32 * 1024;

/// The complaint form as posted.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ComplaintFormRaw {
    pub kind: Option<String>,
    pub description: Option<String>,
}

/// A complaint whose fields are in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplaintForm {
    pub kind: String,
    /// Line breaks as LF, trimmed; not empty.
    pub description: String,
}

/// Checks the complaint: one of [`COMPLAINT_KINDS`], and a description of
/// 1 to [`MAX_COMPLAINT_CHARS`] characters without control characters but
/// line breaks and tabs (who, when, what happened).
pub fn check_complaint(raw: &ComplaintFormRaw) -> Result<ComplaintForm, RatingRefusal> {
    let kind = raw.kind.as_deref().unwrap_or_default().trim();
    if !COMPLAINT_KINDS.iter().any(|(k, _)| *k == kind) {
        return Err(RatingRefusal { field: "kind", why: "请选择投诉事项".into() });
    }
    let description = raw.description.as_deref().unwrap_or_default().replace("\r\n", "\n").replace('\r', "\n");
    let description = description.trim().to_string();
    if !yuetan_platform::fields::has_visible(&description) {
        return Err(RatingRefusal { field: "description", why: "请写明被投诉人员和具体情况".into() });
    }
    if description.chars().count() > MAX_COMPLAINT_CHARS {
        return Err(RatingRefusal { field: "description", why: format!("投诉内容不能超过 {MAX_COMPLAINT_CHARS} 字") });
    }
    if description.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(RatingRefusal { field: "description", why: "投诉内容含有不可见的控制字符".into() });
    }
    Ok(ComplaintForm { kind: kind.to_string(), description })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_sup_6_a_party_complaint_names_its_kind_and_says_what_happened_in_at_most_2000_characters() {
        let raw = |k: &str, d: &str| ComplaintFormRaw { kind: Some(k.into()), description: Some(d.into()) };
        assert_eq!(check_complaint(&raw("rude_conduct", " 约谈人员态度粗暴\r\n")).unwrap(), ComplaintForm { kind: "rude_conduct".into(), description: "约谈人员态度粗暴".into() });
        assert_eq!(check_complaint(&raw("bribery", "x")).unwrap_err().field, "kind");
        assert_eq!(check_complaint(&ComplaintFormRaw::default()).unwrap_err().field, "kind");
        assert_eq!(check_complaint(&raw("abuse", "  ")).unwrap_err().field, "description");
        assert_eq!(check_complaint(&raw("abuse", "\u{200B}\u{200B}")).unwrap_err().field, "description", "only invisible characters is blank");
        assert_eq!(check_complaint(&raw("abuse", &"好".repeat(2001))).unwrap_err().field, "description");
        assert_eq!(check_complaint(&raw("abuse", "a\u{7}b")).unwrap_err().field, "description");
        assert!(check_complaint(&raw("abuse", &"好".repeat(2000))).is_ok());
    }

    fn raw(a: &str, p: &str, c: &str, comment: &str) -> RatingFormRaw {
        RatingFormRaw { attitude: Some(a.into()), professionalism: Some(p.into()), communication: Some(c.into()), comment: Some(comment.into()) }
    }

    #[test]
    fn r_sup_4_marks_are_1_to_5_and_the_comment_at_most_500_characters() {
        assert_eq!(check(&raw("5", "4", "1", " 很好\r\n")).unwrap(), RatingForm { attitude: 5, professionalism: 4, communication: 1, comment: "很好".into() });
        for (a, field) in [("0", "attitude"), ("6", "attitude"), ("05", "attitude"), ("", "attitude"), ("x", "attitude")] {
            assert_eq!(check(&raw(a, "3", "3", "")).unwrap_err().field, field, "{a:?}");
        }
        assert_eq!(check(&RatingFormRaw { attitude: Some("3".into()), ..Default::default() }).unwrap_err().field, "professionalism");
        assert_eq!(check(&raw("3", "3", "3", &"好".repeat(500))).unwrap().comment.chars().count(), 500);
        assert_eq!(check(&raw("3", "3", "3", &"好".repeat(501))).unwrap_err().field, "comment");
        assert_eq!(check(&raw("3", "3", "3", "a\u{0}b")).unwrap_err().field, "comment");
        assert_eq!(check(&RatingFormRaw { attitude: Some("1".into()), professionalism: Some("2".into()), communication: Some("3".into()), comment: None }).unwrap().comment, "");
    }
}
