//! Signed links: how a party acts without an officer's token. Scheduling
//! signs a link for one document of one service attempt (送达) and sends it
//! by SMS or e-mail; the portal verifies it and lets the holder do only what
//! the link's `purpose` allows, until it expires.
//!
//! Token: `base64url(claims JSON) "." base64url(HMAC-SHA256(key, "yuetan.link.v1\n" kid "\n" claims))`.
//! The claims carry the id of the key that signed them (`kid`), and the MAC
//! covers it, so a token cannot be moved to another key. Keys rotate: new
//! links are signed with `current_key`, every key listed in `[links] keys`
//! verifies (drop a key once the longest-lived link it signed has expired).
//! A token longer than [`MAX_TOKEN_LEN`] is refused before any decoding.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::Error;
use crate::secret::Secret;

/// The longest token accepted (characters); anything longer is refused unread.
pub const MAX_TOKEN_LEN: usize = 2048;

/// The purpose of a link that serves a document: view, download, confirm receipt.
pub const PURPOSE_SERVE: &str = "serve";
/// The purpose of a link to a record the party signs by reading it and
/// confirming (the interview record): view, download, sign.
pub const PURPOSE_SIGN: &str = "sign";
/// The purpose of a link where the party submits the rectification report
/// (整改报告) with its proof; `service_id` names the rectification.
pub const PURPOSE_REPORT: &str = "report";

/// Versions the MAC input, so a future format cannot collide with this one.
const MAC_DOMAIN: &str = "yuetan.link.v1";

/// A link key published in the development configuration; refused off
/// loopback like the other development keys (`config.rs`).
pub const DEV_LINK_KEY: &str = "Q2hhbmdlLW1lLWxvY2FsLWxpbmstc2lnbmluZy1rZXktMDE=";

/// One signing key.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct LinkKey {
    pub id: String,
    /// Base64 of at least 32 random bytes.
    pub secret: Secret,
}

/// `[links]`: the keys links are signed with and the portal's public address.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct LinksConfig {
    /// Id of the key that signs new links.
    pub current_key: String,
    /// Every key that still verifies (the current one among them).
    pub keys: Vec<LinkKey>,
    /// The portal's public base, e.g. `http://127.0.0.1:7400` (no trailing `/`).
    pub base_url: String,
}

impl LinksConfig {
    /// Whether links are configured at all (a service that signs or checks
    /// none may leave `[links]` out).
    pub fn is_configured(&self) -> bool {
        !self.current_key.is_empty() || !self.keys.is_empty() || !self.base_url.is_empty()
    }
}

/// What a link lets its holder do, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct LinkClaims {
    /// UUID of the link (one per document sent to one addressee).
    pub link_id: String,
    /// Hex SHA-256 of the document (its address in the object store).
    pub document_sha256: String,
    /// The document's name, shown to the party.
    pub document_name: String,
    /// The service attempt (scheduling) the link belongs to.
    pub service_id: String,
    /// [`PURPOSE_SERVE`]: view, download and confirm receipt.
    pub purpose: String,
    /// Code of the organ that serves the document, e.g. `620102-SJ`.
    pub organ: String,
    pub expires_at: DateTime<Utc>,
}

/// Why a token was refused. The portal shows the party none of this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the link is malformed")]
    Malformed,
    #[error("the link's signature does not match")]
    BadSignature,
    #[error("the link was signed with a key no longer listed")]
    UnknownKey,
    #[error("the link has expired")]
    Expired,
}

/// The claims as signed: the key id travels inside them.
#[derive(Serialize, Deserialize)]
struct Signed {
    kid: String,
    #[serde(flatten)]
    claims: LinkClaims,
}

/// Signs and verifies links (HMAC-SHA-256).
pub struct LinkSigner {
    current: String,
    keys: Vec<(String, Vec<u8>)>,
    base_url: String,
}

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkSigner")
            .field("current", &self.current)
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl LinkSigner {
    /// Checks the configuration; errors name the field.
    pub fn new(cfg: &LinksConfig) -> Result<LinkSigner, Error> {
        let mut keys: Vec<(String, Vec<u8>)> = Vec::new();
        for (index, key) in cfg.keys.iter().enumerate() {
            if key.id.is_empty() || key.id.len() > 64 || !key.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                return Err(Error::invalid(
                    format!("links.keys[{index}].id"),
                    "must be 1–64 characters of [A-Za-z0-9_-]",
                ));
            }
            let bytes = STANDARD
                .decode(key.secret.expose().trim())
                .map_err(|_| Error::invalid(format!("links.keys[{index}].secret"), "must be base64"))?;
            if bytes.len() < 32 {
                return Err(Error::invalid(
                    format!("links.keys[{index}].secret"),
                    "must be at least 32 bytes (base64 of 32 random bytes)",
                ));
            }
            if keys.iter().any(|(id, _)| id == &key.id) {
                return Err(Error::invalid(format!("links.keys[{index}].id"), format!("{:?} appears twice", key.id)));
            }
            keys.push((key.id.clone(), bytes));
        }
        if !keys.iter().any(|(id, _)| id == &cfg.current_key) {
            return Err(Error::invalid("links.current_key", "must name one of links.keys"));
        }
        let base_url = cfg.base_url.trim_end_matches('/');
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) || base_url.contains(['?', '#', ' ']) {
            return Err(Error::invalid("links.base_url", "must be an http:// or https:// address without query"));
        }
        Ok(LinkSigner {
            current: cfg.current_key.clone(),
            keys,
            base_url: base_url.to_string(),
        })
    }

    fn mac(key: &[u8], kid: &str, claims_b64: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(MAC_DOMAIN.as_bytes());
        mac.update(b"\n");
        mac.update(kid.as_bytes());
        mac.update(b"\n");
        mac.update(claims_b64.as_bytes());
        mac
    }

    /// A URL-safe token for `claims`, signed with the current key.
    pub fn sign(&self, claims: &LinkClaims) -> String {
        let key = &self.keys.iter().find(|(id, _)| id == &self.current).expect("checked in new").1;
        let signed = Signed {
            kid: self.current.clone(),
            claims: claims.clone(),
        };
        let json = serde_json::to_vec(&signed).expect("claims serialise");
        let body = URL_SAFE_NO_PAD.encode(json);
        let tag = Self::mac(key, &self.current, &body).finalize().into_bytes();
        format!("{body}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// The link to send: `base_url/d/<token>` (a report link: `base_url/r/<token>`).
    pub fn url(&self, claims: &LinkClaims) -> String {
        let path = if claims.purpose == PURPOSE_REPORT { "r" } else { "d" };
        format!("{}/{path}/{}", self.base_url, self.sign(claims))
    }

    /// The claims of a genuine, unexpired token. The MAC is checked
    /// (constant time) before the expiry is believed.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<LinkClaims, LinkError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(LinkError::Malformed);
        }
        let (body, tag) = token.split_once('.').ok_or(LinkError::Malformed)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| LinkError::Malformed)?;
        let json = URL_SAFE_NO_PAD.decode(body).map_err(|_| LinkError::Malformed)?;
        let signed: Signed = serde_json::from_slice(&json).map_err(|_| LinkError::Malformed)?;
        let key = &self.keys.iter().find(|(id, _)| *id == signed.kid).ok_or(LinkError::UnknownKey)?.1;
        Self::mac(key, &signed.kid, body)
            .verify_slice(&tag)
            .map_err(|_| LinkError::BadSignature)?;
        if now >= signed.claims.expires_at {
            return Err(LinkError::Expired);
        }
        Ok(signed.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn key(id: &str, byte: u8) -> LinkKey {
        LinkKey {
            id: id.into(),
            secret: Secret::new(STANDARD.encode([byte; 32])),
        }
    }

    fn config(current: &str, keys: Vec<LinkKey>) -> LinksConfig {
        LinksConfig {
            current_key: current.into(),
            keys,
            base_url: "http://127.0.0.1:7400/".into(),
        }
    }

    fn claims(now: DateTime<Utc>) -> LinkClaims {
        LinkClaims {
            link_id: "0190b6a4-7d6e-7cc1-8f00-000000000001".into(),
            document_sha256: "ab".repeat(32),
            document_name: "约谈通知书 兰城市监约〔2026〕17号".into(),
            service_id: "svc-1".into(),
            purpose: PURPOSE_SERVE.into(),
            organ: "620102-SJ".into(),
            expires_at: now + Duration::days(7),
        }
    }

    #[test]
    fn a_signed_link_verifies_to_its_claims() {
        let now = Utc::now();
        let signer = LinkSigner::new(&config("k1", vec![key("k1", 1)])).unwrap();
        let token = signer.sign(&claims(now));
        assert!(
            token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'),
            "{token}"
        );
        assert_eq!(signer.verify(&token, now).unwrap(), claims(now));
        let url = signer.url(&claims(now));
        assert!(url.starts_with("http://127.0.0.1:7400/d/"), "{url}");
        assert_eq!(signer.verify(url.rsplit('/').next().unwrap(), now).unwrap(), claims(now));
    }

    #[test]
    fn altered_claims_or_mac_are_refused() {
        let now = Utc::now();
        let signer = LinkSigner::new(&config("k1", vec![key("k1", 1)])).unwrap();
        let token = signer.sign(&claims(now));
        let (body, tag) = token.split_once('.').unwrap();

        // Claims changed (a later expiry), the old MAC kept.
        let mut longer = claims(now);
        longer.expires_at = now + Duration::days(365);
        let other = signer.sign(&longer);
        let forged = format!("{}.{tag}", other.split_once('.').unwrap().0);
        assert_eq!(signer.verify(&forged, now), Err(LinkError::BadSignature));

        // MAC changed in one character.
        let mut bad_tag = tag.to_string();
        let flipped = if bad_tag.starts_with('A') { "B" } else { "A" };
        bad_tag.replace_range(0..1, flipped);
        assert_eq!(signer.verify(&format!("{body}.{bad_tag}"), now), Err(LinkError::BadSignature));

        // Another key with the same id.
        let stranger = LinkSigner::new(&config("k1", vec![key("k1", 9)])).unwrap();
        assert_eq!(stranger.verify(&token, now), Err(LinkError::BadSignature));

        for garbage in ["", "abc", "a.b.c", "!!!.???", &format!("{body}.")] {
            assert!(signer.verify(garbage, now).is_err(), "{garbage:?}");
        }
        assert_eq!(signer.verify(&"a".repeat(MAX_TOKEN_LEN + 1), now), Err(LinkError::Malformed));
    }

    #[test]
    fn an_expired_link_is_refused() {
        let now = Utc::now();
        let signer = LinkSigner::new(&config("k1", vec![key("k1", 1)])).unwrap();
        let token = signer.sign(&claims(now));
        assert!(signer.verify(&token, now + Duration::days(7) - Duration::seconds(1)).is_ok());
        assert_eq!(signer.verify(&token, now + Duration::days(7)), Err(LinkError::Expired));
    }

    #[test]
    fn rotation_keeps_old_links_valid_and_signs_new_ones_with_the_current_key() {
        let now = Utc::now();
        let old = LinkSigner::new(&config("k1", vec![key("k1", 1)])).unwrap();
        let old_token = old.sign(&claims(now));
        let rotated = LinkSigner::new(&config("k2", vec![key("k1", 1), key("k2", 2)])).unwrap();
        assert_eq!(rotated.verify(&old_token, now).unwrap(), claims(now));
        let new_token = rotated.sign(&claims(now));
        // Signed with k2: the signer that knows only k1 does not know its key.
        assert_eq!(old.verify(&new_token, now), Err(LinkError::UnknownKey));
        // Once k1 is dropped, its links stop working.
        let retired = LinkSigner::new(&config("k2", vec![key("k2", 2)])).unwrap();
        assert_eq!(retired.verify(&old_token, now), Err(LinkError::UnknownKey));
        assert!(retired.verify(&new_token, now).is_ok());
    }

    #[test]
    fn bad_configurations_name_their_field() {
        let err = |cfg: LinksConfig| LinkSigner::new(&cfg).unwrap_err().to_string();
        assert!(err(config("k9", vec![key("k1", 1)])).contains("links.current_key"));
        let short = LinkKey {
            id: "k1".into(),
            secret: Secret::new(STANDARD.encode([1u8; 16])),
        };
        assert!(err(config("k1", vec![short])).contains("links.keys[0].secret"));
        assert!(err(config("k1", vec![key("k1", 1), key("k1", 2)])).contains("links.keys[1].id"));
        let mut cfg = config("k1", vec![key("k1", 1)]);
        cfg.base_url = "ftp://x".into();
        assert!(err(cfg).contains("links.base_url"));
        assert!(!format!("{:?}", config("k1", vec![key("k1", 1)])).contains(&STANDARD.encode([1u8; 32])));
    }
}
