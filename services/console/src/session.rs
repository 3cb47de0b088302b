//! Sessions and the sign-in state, in signed cookies (HMAC-SHA-256 over the
//! JSON value): the console keeps no session table. A session holds who the
//! officer is (as mapped from the identity provider), its CSRF token and
//! when it ends; it is `HttpOnly`, `SameSite=Strict` and `Secure` when the
//! console is served over https. A cookie whose signature or expiry fails is
//! treated as absent.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The session cookie.
pub const SESSION_COOKIE: &str = "yuetan_session";
/// The OIDC sign-in state cookie (verifier, nonce, state), 10 minutes.
pub const LOGIN_COOKIE: &str = "yuetan_login";
/// The form field every POST carries.
pub const CSRF_FIELD: &str = "csrf";
/// Longest cookie value looked at (bytes); a longer one is ignored.
pub const MAX_COOKIE_LEN: usize = 3072;

/// The signed-in officer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Officer {
    pub id: String,
    pub name: String,
    pub organ: String,
    pub division: String,
    pub roles: Vec<String>,
}

impl Officer {
    pub fn has(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub officer: Officer,
    /// The CSRF token of this session's forms.
    pub csrf: String,
    /// Unix seconds.
    pub exp: i64,
    /// `oidc` or `dev`.
    pub via: String,
}

/// What the OIDC sign-in needs back at the callback.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginState {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub exp: i64,
}

/// Signs and checks cookie values.
#[derive(Clone)]
pub struct CookieSigner {
    key: Vec<u8>,
    secure: bool,
}

impl std::fmt::Debug for CookieSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookieSigner").field("secure", &self.secure).finish_non_exhaustive()
    }
}

impl CookieSigner {
    pub fn new(key: &str, secure: bool) -> CookieSigner {
        CookieSigner { key: key.as_bytes().to_vec(), secure }
    }

    fn mac(&self, name: &str, payload: &str) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        // The cookie's name is signed too: a login cookie is never a session.
        mac.update(name.as_bytes());
        mac.update(b"\0");
        mac.update(payload.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// `payload.signature`, both base64url.
    pub fn sign<T: Serialize>(&self, name: &str, value: &T) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("a cookie value serialises"));
        let signature = URL_SAFE_NO_PAD.encode(self.mac(name, &payload));
        format!("{payload}.{signature}")
    }

    /// The value, if the signature is ours (checked in constant time).
    pub fn verify<T: DeserializeOwned>(&self, name: &str, cookie: &str) -> Option<T> {
        if cookie.len() > MAX_COOKIE_LEN {
            return None;
        }
        let (payload, signature) = cookie.split_once('.')?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).ok()?;
        mac.update(name.as_bytes());
        mac.update(b"\0");
        mac.update(payload.as_bytes());
        mac.verify_slice(&signature).ok()?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
    }

    /// A `Set-Cookie` value.
    pub fn set_cookie(&self, name: &str, value: &str, max_age_seconds: i64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_seconds}{secure}")
    }

    /// A `Set-Cookie` that removes the cookie.
    pub fn clear_cookie(&self, name: &str) -> String {
        self.set_cookie(name, "", 0)
    }
}

/// 32 random bytes, base64url: CSRF tokens, OIDC state and nonce.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').map(str::trim).find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then_some(value)
    })
}

/// Constant-time equality of two tokens.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session {
            officer: Officer { id: "officer-a".into(), name: "张三".into(), organ: "620102-SJ".into(), division: "620102".into(), roles: vec!["case_officer".into()] },
            csrf: random_token(),
            exp: 2_000_000_000,
            via: "dev".into(),
        }
    }

    #[test]
    fn a_signed_session_reads_back() {
        let signer = CookieSigner::new("k".repeat(32).as_str(), false);
        let value = signer.sign(SESSION_COOKIE, &session());
        let back: Session = signer.verify(SESSION_COOKIE, &value).expect("our own cookie");
        assert_eq!(back.officer.id, "officer-a");
    }

    #[test]
    fn a_changed_role_breaks_the_signature() {
        let signer = CookieSigner::new("k".repeat(32).as_str(), false);
        let value = signer.sign(SESSION_COOKIE, &session());
        let (payload, signature) = value.split_once('.').unwrap();
        let mut json: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        json["officer"]["roles"] = serde_json::json!(["leader"]);
        let forged = format!("{}.{signature}", URL_SAFE_NO_PAD.encode(serde_json::to_vec(&json).unwrap()));
        assert!(signer.verify::<Session>(SESSION_COOKIE, &forged).is_none());
    }

    #[test]
    fn another_key_or_another_cookie_name_is_refused() {
        let signer = CookieSigner::new("k".repeat(32).as_str(), false);
        let value = signer.sign(SESSION_COOKIE, &session());
        assert!(CookieSigner::new("j".repeat(32).as_str(), false).verify::<Session>(SESSION_COOKIE, &value).is_none());
        assert!(signer.verify::<Session>(LOGIN_COOKIE, &value).is_none());
    }

    #[test]
    fn cookies_are_http_only_and_same_site_strict() {
        let cookie = CookieSigner::new("k".repeat(32).as_str(), true).set_cookie(SESSION_COOKIE, "v", 60);
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Secure"), "{cookie}");
    }

    #[test]
    fn cookie_value_finds_the_named_cookie() {
        assert_eq!(cookie_value("a=1; yuetan_session=xyz; b=2", SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie_value("a=1", SESSION_COOKIE), None);
    }
}
