//! Screening a verified clue (R-SCOPE-2, R-SCOPE-3): at least one applicable
//! situation A1–A5 must hold, and any exclusion X1–X4 sends the case to the
//! statutory penalty (or coercion) procedure instead.

use yuetan_platform::Error;

/// R-SCOPE-2: the applicable situations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Situation {
    /// First violation, minor, may go unpunished if corrected in time (APL art. 33).
    A1FirstMinor,
    /// A safety hazard or risk of violation needing early warning.
    A2Hazard,
    /// Many public complaints or high public attention.
    A3PublicAttention,
    /// A statutory obligation not performed after written urging.
    A4ObligationNotPerformed,
    /// Other situations that laws and regulations provide.
    A5OtherLawful,
}

impl Situation {
    pub const ALL: [Situation; 5] = [
        Situation::A1FirstMinor,
        Situation::A2Hazard,
        Situation::A3PublicAttention,
        Situation::A4ObligationNotPerformed,
        Situation::A5OtherLawful,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Situation::A1FirstMinor => "A1",
            Situation::A2Hazard => "A2",
            Situation::A3PublicAttention => "A3",
            Situation::A4ObligationNotPerformed => "A4",
            Situation::A5OtherLawful => "A5",
        }
    }

    pub fn from_code(code: &str) -> Option<Situation> {
        Situation::ALL.into_iter().find(|s| s.code() == code)
    }
}

/// R-SCOPE-3: the exclusions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ExclusionCode {
    /// Serious violation, major harm possible, or immediate coercion needed.
    X1Serious,
    /// Already penalised or interviewed for the same kind of violation.
    X2Repeat,
    /// The party refuses the interview or does not attend without good reason.
    X3Refused,
    /// Other situations where the law requires a direct penalty.
    X4DirectPenalty,
}

impl ExclusionCode {
    pub const ALL: [ExclusionCode; 4] =
        [ExclusionCode::X1Serious, ExclusionCode::X2Repeat, ExclusionCode::X3Refused, ExclusionCode::X4DirectPenalty];

    pub fn code(self) -> &'static str {
        match self {
            ExclusionCode::X1Serious => "X1",
            ExclusionCode::X2Repeat => "X2",
            ExclusionCode::X3Refused => "X3",
            ExclusionCode::X4DirectPenalty => "X4",
        }
    }

    pub fn from_code(code: &str) -> Option<ExclusionCode> {
        ExclusionCode::ALL.into_iter().find(|s| s.code() == code)
    }
}

/// An exclusion that applies, with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exclusion {
    pub code: ExclusionCode,
    pub reason: String,
}

/// An earlier case of the same party for the same violation type, found
/// anywhere in the deployment (the X2 lookup).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorCase {
    pub case_id: String,
    pub number: Option<String>,
    pub organ: String,
    pub division: String,
}

/// What screening decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// An interview applies: open the case.
    Eligible { situations: Vec<Situation> },
    /// Referred to the penalty procedure, for these reasons.
    Excluded { exclusions: Vec<Exclusion> },
}

/// Decides a clue: the exclusions the section declared, plus X2 when the
/// repeat lookup found earlier cases. Any exclusion excludes (R-SCOPE-3);
/// otherwise at least one situation must hold (R-SCOPE-2), or the request
/// is incomplete and refused naming `situations`.
pub fn decide(situations: &[Situation], declared: &[Exclusion], prior: &[PriorCase]) -> Result<Decision, Error> {
    let mut exclusions: Vec<Exclusion> = declared.to_vec();
    for (i, exclusion) in exclusions.iter().enumerate() {
        if exclusion.reason.trim().is_empty() {
            return Err(Error::invalid(format!("exclusions[{i}].reason"), "an exclusion needs its reason"));
        }
    }
    if !prior.is_empty() && !exclusions.iter().any(|e| e.code == ExclusionCode::X2Repeat) {
        let named: Vec<String> = prior
            .iter()
            .map(|p| format!("{} ({}, {})", p.number.as_deref().unwrap_or(&p.case_id), p.organ, p.division))
            .collect();
        exclusions.push(Exclusion {
            code: ExclusionCode::X2Repeat,
            reason: format!("already interviewed or referred to penalty for the same violation: {}", named.join("; ")),
        });
    }
    if !exclusions.is_empty() {
        exclusions.sort_by_key(|e| e.code);
        return Ok(Decision::Excluded { exclusions });
    }
    if situations.is_empty() {
        return Err(Error::invalid(
            "situations",
            "at least one applicable situation A1–A5 is required when no exclusion applies (R-SCOPE-2)",
        ));
    }
    let mut situations = situations.to_vec();
    situations.sort();
    situations.dedup();
    Ok(Decision::Eligible { situations })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prior() -> PriorCase {
        PriorCase { case_id: "c1".into(), number: Some("兰城市监约〔2026〕3号".into()), organ: "620102-SJ".into(), division: "620102".into() }
    }

    #[test]
    fn r_scope_2_a_clue_with_a_situation_and_no_exclusion_is_eligible() {
        let decision = decide(&[Situation::A3PublicAttention, Situation::A1FirstMinor, Situation::A1FirstMinor], &[], &[]).unwrap();
        assert_eq!(decision, Decision::Eligible { situations: vec![Situation::A1FirstMinor, Situation::A3PublicAttention] });
    }

    #[test]
    fn r_scope_2_no_situation_and_no_exclusion_is_refused_naming_situations() {
        let err = decide(&[], &[], &[]).unwrap_err();
        assert!(err.to_string().contains("`situations`"), "{err}");
    }

    #[test]
    fn r_scope_3_x2_is_added_when_earlier_cases_exist_and_names_them() {
        let decision = decide(&[Situation::A1FirstMinor], &[], &[prior()]).unwrap();
        let Decision::Excluded { exclusions } = decision else { panic!("expected excluded") };
        assert_eq!(exclusions.len(), 1);
        assert_eq!(exclusions[0].code, ExclusionCode::X2Repeat);
        assert!(exclusions[0].reason.contains("兰城市监约〔2026〕3号"), "{}", exclusions[0].reason);
    }

    #[test]
    fn r_scope_3_any_declared_exclusion_excludes_even_with_situations() {
        let declared = [Exclusion { code: ExclusionCode::X1Serious, reason: "重大火灾隐患，需立即查封".into() }];
        let decision = decide(&[Situation::A2Hazard], &declared, &[]).unwrap();
        assert!(matches!(decision, Decision::Excluded { ref exclusions } if exclusions[0].code == ExclusionCode::X1Serious));
    }

    #[test]
    fn r_scope_3_an_exclusion_without_reason_is_refused_naming_the_field() {
        let declared = [Exclusion { code: ExclusionCode::X3Refused, reason: " ".into() }];
        let err = decide(&[], &declared, &[]).unwrap_err();
        assert!(err.to_string().contains("exclusions[0].reason"), "{err}");
    }

    #[test]
    fn codes_round_trip() {
        for s in Situation::ALL {
            assert_eq!(Situation::from_code(s.code()), Some(s));
        }
        for x in ExclusionCode::ALL {
            assert_eq!(ExclusionCode::from_code(x.code()), Some(x));
        }
    }
}
