//! Scheduling's rules, without I/O: the notice limit (R-NOTICE-1), the
//! interview window after service (R-NOTICE-3), the interview panel
//! (R-INT-1), the channels a document may be served by (R-NOTICE-2, LAW.md
//! §3) and how addresses are shown masked.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use yuetan_calendar::Calendar;
use yuetan_platform::fields::{cst_date, end_of_cst_day};

/// R-NOTICE-1: the notice within 2 working days of approval.
pub const NOTICE_LIMIT_WORKING_DAYS: u32 = 2;
/// R-NOTICE-3: the interview within 5 working days after service.
pub const INTERVIEW_WITHIN_WORKING_DAYS: u32 = 5;
/// R-NOTICE-3: an urgent case within 24 hours.
pub const URGENT_WITHIN_HOURS: i64 = 24;
/// R-INT-1: 3 years of enforcement experience.
pub const EXPERIENCE_YEARS: i32 = 3;
/// R-INT-1: the interviewer certification is valid 2 years.
pub const CERTIFICATION_YEARS: i32 = 2;
/// R-INT-1: at least two interviewers.
pub const MIN_INTERVIEWERS: usize = 2;

/// The minimum time between service and the interview (configurable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeadTime {
    /// Normal cases: the interview on or after this many working days after the day of service.
    pub working_days: u32,
    /// Urgent cases: at least this long after service.
    pub urgent: Duration,
}

impl Default for LeadTime {
    fn default() -> Self {
        LeadTime { working_days: 1, urgent: Duration::hours(2) }
    }
}

/// When the interview may take place for a document served at `served_at`
/// (R-NOTICE-3): `[earliest, latest]`. Working days count from the day
/// after service (LAW.md §2) and run to 24:00 of the last day; the urgent
/// limit is clock hours.
pub fn interview_window(calendar: &Calendar, served_at: DateTime<Utc>, urgent: bool, lead: LeadTime) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
    if urgent {
        return Ok((served_at + lead.urgent, served_at + Duration::hours(URGENT_WITHIN_HOURS)));
    }
    let day = cst_date(served_at);
    let latest_day = calendar.add_working_days(day, INTERVIEW_WITHIN_WORKING_DAYS).map_err(|e| e.to_string())?.value;
    let earliest = if lead.working_days == 0 {
        served_at
    } else {
        let first = calendar.add_working_days(day, lead.working_days).map_err(|e| e.to_string())?.value;
        // The start of that day in China Standard Time.
        end_of_cst_day(first.pred_opt().unwrap_or(first))
    };
    Ok((earliest.max(served_at), end_of_cst_day(latest_day)))
}

/// Checks an interview time against the window, naming what is wrong.
pub fn check_interview_time(calendar: &Calendar, basis: DateTime<Utc>, interview_at: DateTime<Utc>, urgent: bool, lead: LeadTime) -> Result<(), String> {
    let (earliest, latest) = interview_window(calendar, basis, urgent, lead)?;
    if interview_at < earliest {
        return Err(format!("the interview must be at least the lead time after service (not before {})", cst(earliest)));
    }
    if interview_at > latest {
        return Err(if urgent {
            format!("an urgent interview must be within {URGENT_WITHIN_HOURS} hours after service (by {}) (R-NOTICE-3)", cst(latest))
        } else {
            format!("the interview must be within {INTERVIEW_WITHIN_WORKING_DAYS} working days after service (by {}) (R-NOTICE-3)", cst(latest))
        });
    }
    Ok(())
}

/// A time as officers read it (China Standard Time).
pub fn cst(at: DateTime<Utc>) -> String {
    (at + Duration::hours(8)).format("%Y-%m-%d %H:%M").to_string()
}

pub mod interview;

/// What R-INT-1 needs to know of an officer.
#[derive(Debug, Clone)]
pub struct Qualifications {
    pub officer_id: String,
    pub active: bool,
    pub certificate_valid_until: NaiveDate,
    pub experience_since: NaiveDate,
    pub interviewer_certified_on: Option<NaiveDate>,
    pub legal_review_qualified: bool,
}

fn years_after(day: NaiveDate, years: i32) -> NaiveDate {
    day.with_year(day.year() + years).unwrap_or_else(|| day + Duration::days(365 * i64::from(years)))
}

/// The last day an interviewer certification obtained on `on` is valid.
pub fn certification_valid_until(on: NaiveDate) -> NaiveDate {
    years_after(on, CERTIFICATION_YEARS)
}

/// R-INT-1 for one interviewer on the interview day.
pub fn check_interviewer(q: &Qualifications, day: NaiveDate) -> Result<(), String> {
    let id = &q.officer_id;
    if !q.active {
        return Err(format!("officer {id} is not active in the directory"));
    }
    if q.certificate_valid_until < day {
        return Err(format!("officer {id}'s law-enforcement certificate expired on {}", q.certificate_valid_until));
    }
    if years_after(q.experience_since, EXPERIENCE_YEARS) > day {
        return Err(format!("officer {id} has less than {EXPERIENCE_YEARS} years of enforcement experience on {day} (R-INT-1)"));
    }
    match q.interviewer_certified_on {
        None => Err(format!("officer {id} holds no interviewer certification (R-INT-1)")),
        Some(on) if certification_valid_until(on) < day => {
            Err(format!("officer {id}'s interviewer certification expired on {} (valid {CERTIFICATION_YEARS} years, R-INT-1)", certification_valid_until(on)))
        }
        Some(_) => Ok(()),
    }
}

/// R-INT-1 for the panel: at least two, each qualified, one with legal-review qualification.
pub fn check_panel(panel: &[Qualifications], day: NaiveDate) -> Result<(), String> {
    if panel.len() < MIN_INTERVIEWERS {
        return Err(format!("at least {MIN_INTERVIEWERS} interviewers are required (R-INT-1)"));
    }
    for q in panel {
        check_interviewer(q, day)?;
    }
    if !panel.iter().any(|q| q.legal_review_qualified) {
        return Err("at least one interviewer must hold legal-review qualification (R-INT-1)".into());
    }
    Ok(())
}

/// A channel of service (LAW.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    Sms,
    Email,
    Egov,
    Direct,
    Mail,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
            Channel::Egov => "egov",
            Channel::Direct => "direct",
            Channel::Mail => "mail",
        }
    }

    pub fn parse(value: &str) -> Option<Channel> {
        Some(match value {
            "sms" => Channel::Sms,
            "email" => Channel::Email,
            "egov" => Channel::Egov,
            "direct" => Channel::Direct,
            "mail" => Channel::Mail,
            _ => return None,
        })
    }

    /// Electronic service needs the party's consent (CPL 90, APL 61).
    pub fn electronic(self) -> bool {
        matches!(self, Channel::Sms | Channel::Email | Channel::Egov)
    }

    /// The method as the delivery receipt names it.
    pub fn method_zh(self) -> &'static str {
        match self {
            Channel::Sms => "电子送达（短信）",
            Channel::Email => "电子送达（电子邮件）",
            Channel::Egov => "电子送达（政务服务平台）",
            Channel::Direct => "直接送达",
            Channel::Mail => "邮寄送达",
        }
    }
}

/// The step after the last channel: a serving officer delivers in person or by mail.
pub const OFFICER_STEP: &str = "officer";

/// The consent on record for a case: which electronic channels, and whether
/// it cites a signed address-confirmation form.
#[derive(Debug, Clone, Default)]
pub struct Consent {
    pub channels: Vec<Channel>,
    pub confirmation_signed: bool,
}

/// The order in which a document is served (R-NOTICE-2): the channels asked
/// for, or else the consented electronic ones; always ending with the
/// serving officer. An electronic channel without consent backed by a signed
/// 送达地址确认书 is refused, naming it.
pub fn service_plan(requested: &[Channel], consent: Option<&Consent>) -> Result<Vec<String>, String> {
    let mut plan: Vec<String> = Vec::new();
    let lawful = |c: Channel| -> Result<(), String> {
        match consent {
            Some(k) if k.confirmation_signed && k.channels.contains(&c) => Ok(()),
            Some(k) if !k.confirmation_signed => Err(format!(
                "consent: the party's consent to electronic service is not backed by a signed address-confirmation (送达地址确认书); {} service refused",
                c.as_str()
            )),
            Some(_) => Err(format!("consent: the party did not consent to electronic service by {}", c.as_str())),
            None => Err(format!("consent: no address-confirmation (送达地址确认书) is recorded for this case; electronic service by {} refused", c.as_str())),
        }
    };
    if requested.is_empty() {
        if let Some(k) = consent.filter(|k| k.confirmation_signed) {
            plan.extend(k.channels.iter().filter(|c| c.electronic()).map(|c| c.as_str().to_string()));
        }
    } else {
        for &c in requested {
            if c.electronic() {
                lawful(c)?;
                plan.push(c.as_str().to_string());
            }
        }
    }
    plan.dedup();
    plan.push(OFFICER_STEP.to_string());
    Ok(plan)
}

/// `13800001234` → `138****1234`.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() < 7 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

/// `zhang.san@example.cn` → `z***@example.cn`.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => format!("{}***@{domain}", local.chars().next().unwrap_or('*')),
        None => "***".into(),
    }
}

/// Accounts and postal addresses: the first few characters only.
pub fn mask_text(value: &str, keep: usize) -> String {
    let kept: String = value.chars().take(keep).collect();
    format!("{kept}***")
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn calendar() -> Calendar {
        Calendar::builtin()
    }

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        // CST wall time → UTC.
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap() - Duration::hours(8)
    }

    fn officer(id: &str, legal: bool) -> Qualifications {
        Qualifications {
            officer_id: id.into(),
            active: true,
            certificate_valid_until: NaiveDate::from_ymd_opt(2028, 1, 1).unwrap(),
            experience_since: NaiveDate::from_ymd_opt(2020, 1, 1).unwrap(),
            interviewer_certified_on: Some(NaiveDate::from_ymd_opt(2025, 6, 1).unwrap()),
            legal_review_qualified: legal,
        }
    }

    #[test]
    fn r_notice_3_interview_six_working_days_after_service_is_refused_five_is_allowed() {
        let cal = calendar();
        // Served Monday 2026-11-02 10:00; 5 working days → Monday 2026-11-09.
        let served = at(2026, 11, 2, 10, 0);
        assert!(check_interview_time(&cal, served, at(2026, 11, 9, 15, 0), false, LeadTime::default()).is_ok());
        let err = check_interview_time(&cal, served, at(2026, 11, 10, 9, 0), false, LeadTime::default()).unwrap_err();
        assert!(err.contains("5 working days"), "{err}");
    }

    #[test]
    fn r_notice_3_lead_time_one_working_day_by_default() {
        let cal = calendar();
        let served = at(2026, 11, 2, 10, 0);
        assert!(check_interview_time(&cal, served, at(2026, 11, 2, 16, 0), false, LeadTime::default()).is_err());
        assert!(check_interview_time(&cal, served, at(2026, 11, 3, 9, 0), false, LeadTime::default()).is_ok());
    }

    #[test]
    fn r_notice_3_urgent_interview_25_hours_after_service_is_refused() {
        let cal = calendar();
        let served = at(2026, 11, 2, 10, 0);
        assert!(check_interview_time(&cal, served, served + Duration::hours(23), true, LeadTime::default()).is_ok());
        let err = check_interview_time(&cal, served, served + Duration::hours(25), true, LeadTime::default()).unwrap_err();
        assert!(err.contains("24 hours"), "{err}");
        assert!(check_interview_time(&cal, served, served + Duration::hours(1), true, LeadTime::default()).is_err());
    }

    #[test]
    fn r_notice_3_working_days_skip_the_national_day_holiday() {
        let cal = calendar();
        // Served 2026-09-30: 1–8 October are off; 5 working days end 2026-10-14 (9, 10(Sat, adjusted?), …).
        let served = at(2026, 9, 30, 10, 0);
        let (_, latest) = interview_window(&cal, served, false, LeadTime::default()).unwrap();
        let expected = cal.add_working_days(NaiveDate::from_ymd_opt(2026, 9, 30).unwrap(), 5).unwrap().value;
        assert!(expected > NaiveDate::from_ymd_opt(2026, 10, 8).unwrap());
        assert_eq!(cst_date(latest - Duration::seconds(1)), expected, "the period runs to 24:00 of its last day");
    }

    #[test]
    fn r_int_1_expired_interviewer_certification_is_refused() {
        let mut q = officer("a", true);
        q.interviewer_certified_on = Some(NaiveDate::from_ymd_opt(2024, 1, 1).unwrap());
        let err = check_interviewer(&q, NaiveDate::from_ymd_opt(2026, 11, 2).unwrap()).unwrap_err();
        assert!(err.contains("expired"), "{err}");
        assert!(check_interviewer(&q, NaiveDate::from_ymd_opt(2025, 12, 31).unwrap()).is_ok());
    }

    #[test]
    fn r_int_1_three_years_of_experience_are_required() {
        let mut q = officer("a", true);
        q.experience_since = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
        assert!(check_interviewer(&q, NaiveDate::from_ymd_opt(2026, 11, 2).unwrap()).unwrap_err().contains("3 years"));
    }

    #[test]
    fn r_int_1_a_panel_needs_two_and_one_legal_review_qualified() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 2).unwrap();
        assert!(check_panel(&[officer("a", true)], day).unwrap_err().contains("at least 2"));
        assert!(check_panel(&[officer("a", false), officer("b", false)], day).unwrap_err().contains("legal-review"));
        assert!(check_panel(&[officer("a", false), officer("b", true)], day).is_ok());
    }

    #[test]
    fn r_notice_2_electronic_service_needs_a_signed_confirmation() {
        let unsigned = Consent { channels: vec![Channel::Sms], confirmation_signed: false };
        assert!(service_plan(&[Channel::Sms], Some(&unsigned)).unwrap_err().starts_with("consent"));
        assert!(service_plan(&[Channel::Email], None).unwrap_err().starts_with("consent"));
        // Without a signed confirmation the default plan is the officer alone.
        assert_eq!(service_plan(&[], Some(&unsigned)).unwrap(), vec![OFFICER_STEP]);
        let signed = Consent { channels: vec![Channel::Sms, Channel::Email], confirmation_signed: true };
        assert_eq!(service_plan(&[], Some(&signed)).unwrap(), vec!["sms", "email", OFFICER_STEP]);
        assert!(service_plan(&[Channel::Egov], Some(&signed)).unwrap_err().contains("did not consent"));
    }

    #[test]
    fn addresses_are_masked() {
        assert_eq!(mask_phone("13800001234"), "138****1234");
        assert_eq!(mask_email("zhang.san@example.cn"), "z***@example.cn");
    }
}
