//! Officers and their tokens: any officer, organ, division and roles.

use chrono::Utc;
use tonic::metadata::MetadataValue;
use tonic::Request;
use yuetan_platform::auth::{Claims, TokenIssuer};

/// The HS256 secret of the harness's token key (kid `test`).
pub const SECRET: &str = "intake-tests-secret-at-least-32-bytes-long";
pub const ISSUER: &str = "yuetan-test";
pub const AUDIENCE: &str = "yuetan";

/// 城关区 (Lanzhou), where most tests work.
pub const CHENGGUAN: &str = "620102";
/// 七里河区 (Lanzhou), the neighbouring county.
pub const QILIHE: &str = "620103";
/// The market supervision bureau of 城关区 (document code 兰城市监).
pub const ORGAN_A: &str = "620102-SJ";
/// The market supervision bureau of 七里河区 (document code 兰七市监).
pub const ORGAN_B: &str = "620103-SJ";

/// An officer: id, organ code, division and roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Officer {
    pub id: String,
    pub organ: String,
    pub division: String,
    pub roles: Vec<&'static str>,
}

impl Officer {
    pub fn new(id: &str, organ: &str, division: &str, roles: &[&'static str]) -> Officer {
        Officer { id: id.into(), organ: organ.into(), division: division.into(), roles: roles.to_vec() }
    }

    /// The same officer with other roles.
    pub fn with_roles(&self, roles: &[&'static str]) -> Officer {
        Officer { roles: roles.to_vec(), ..self.clone() }
    }

    /// A bearer token valid for two hours of real time.
    pub fn token(&self) -> String {
        let claims = Claims::for_officer(
            &self.id,
            "测试执法人员",
            &self.organ,
            &self.division,
            &self.roles,
            ISSUER,
            AUDIENCE,
            chrono::Duration::hours(2),
            Utc::now(),
        );
        TokenIssuer::hs256("test", SECRET).issue(&claims).expect("a token")
    }
}

/// Wraps a message with the officer's bearer token.
pub fn req<T>(officer: &Officer, message: T) -> Request<T> {
    let mut request = Request::new(message);
    let value: MetadataValue<_> = format!("Bearer {}", officer.token()).parse().expect("a header value");
    request.metadata_mut().insert("authorization", value);
    request
}

/// A case officer and section chief of organ A: proposes cases.
pub fn proposer() -> Officer {
    Officer::new("officer-a", ORGAN_A, CHENGGUAN, &["case_officer", "section_chief"])
}
/// A legal reviewer of organ A.
pub fn reviewer() -> Officer {
    Officer::new("reviewer-a", ORGAN_A, CHENGGUAN, &["legal_reviewer"])
}
/// The deputy leader of organ A: approves general cases.
pub fn deputy() -> Officer {
    Officer::new("deputy-a", ORGAN_A, CHENGGUAN, &["deputy_leader"])
}
/// The leader of organ A: approves major cases.
pub fn leader() -> Officer {
    Officer::new("leader-a", ORGAN_A, CHENGGUAN, &["leader"])
}
/// A legal reviewer of organ B, the neighbouring county.
pub fn reviewer_of_county_b() -> Officer {
    Officer::new("reviewer-b", ORGAN_B, QILIHE, &["legal_reviewer"])
}
/// The province's administrator (registers organs).
pub fn admin() -> Officer {
    Officer::new("admin-1", "62-ADMIN", "620000", &["admin"])
}
