//! Personal identifiers at rest (ARCHITECTURE §6, LAW.md §7): resident ID
//! and phone numbers are stored encrypted (AES-256-GCM) and looked up by a
//! keyed hash (HMAC-SHA-256), so the province-wide repeat check (R-SCOPE-3
//! X2) can match a person without the database ever holding the number in
//! plain text.
//!
//! Keys come from configuration (`[pii]`), base64 of 32 random bytes each.
//! Every ciphertext names the key that sealed it, so keys can rotate: new
//! values use `current_key`, old ones still open with the key they name.
//! The hash key cannot rotate without re-hashing every row (a lookup must
//! produce the same hash), so it is separate from the encryption keys.

use std::collections::HashMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::secret::Secret;
use crate::error::Error;

/// Format version of a sealed value.
const VERSION: u8 = 1;

/// One encryption key.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct PiiKeyConfig {
    pub id: String,
    /// Base64 of 32 random bytes.
    pub key: Secret,
}

/// `[pii]` configuration.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct PiiConfig {
    /// Id of the key that seals new values.
    pub current_key: String,
    pub keys: Vec<PiiKeyConfig>,
    /// Base64 of 32 random bytes; the HMAC key for lookups.
    pub hash_key: Secret,
}

/// Seals, opens and hashes personal identifiers.
pub struct PiiVault {
    current: String,
    ciphers: HashMap<String, Aes256Gcm>,
    hash_key: Vec<u8>,
}

impl std::fmt::Debug for PiiVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PiiVault").field("current", &self.current).field("keys", &self.ciphers.len()).finish()
    }
}

fn decode_key(field: &str, value: &Secret) -> Result<Vec<u8>, Error> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.expose().trim())
        .map_err(|_| Error::invalid(field, "must be base64"))?;
    if bytes.len() != 32 {
        return Err(Error::invalid(field, "must be 32 bytes (base64 of 32 random bytes)"));
    }
    Ok(bytes)
}

impl PiiVault {
    /// Checks the configuration; errors name the field.
    pub fn new(config: &PiiConfig) -> Result<PiiVault, Error> {
        let mut ciphers = HashMap::new();
        for (index, key) in config.keys.iter().enumerate() {
            if key.id.is_empty() || key.id.len() > 255 {
                return Err(Error::invalid(format!("pii.keys[{index}].id"), "must be 1–255 characters"));
            }
            let bytes = decode_key(&format!("pii.keys[{index}].key"), &key.key)?;
            let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| Error::invalid(format!("pii.keys[{index}].key"), "bad key"))?;
            if ciphers.insert(key.id.clone(), cipher).is_some() {
                return Err(Error::invalid(format!("pii.keys[{index}].id"), format!("{:?} appears twice", key.id)));
            }
        }
        if !ciphers.contains_key(&config.current_key) {
            return Err(Error::invalid("pii.current_key", "must name one of pii.keys"));
        }
        let hash_key = decode_key("pii.hash_key", &config.hash_key)?;
        Ok(PiiVault { current: config.current_key.clone(), ciphers, hash_key })
    }

    /// Encrypts `plaintext` with the current key. `context` (e.g.
    /// `party/<id>/resident_id`) is authenticated: a sealed value copied to
    /// another row or column does not open there.
    pub fn seal(&self, plaintext: &str, context: &str) -> Result<Vec<u8>, Error> {
        let cipher = &self.ciphers[&self.current];
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let ciphertext = cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext.as_bytes(), aad: context.as_bytes() })
            .map_err(|_| Error::Internal("pii encryption failed".into()))?;
        let mut sealed = Vec::with_capacity(2 + self.current.len() + 12 + ciphertext.len());
        sealed.push(VERSION);
        sealed.push(self.current.len() as u8);
        sealed.extend_from_slice(self.current.as_bytes());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(sealed)
    }

    /// Decrypts a value sealed by [`PiiVault::seal`] under the same `context`.
    pub fn open(&self, sealed: &[u8], context: &str) -> Result<String, Error> {
        let corrupt = || Error::Internal("sealed personal data is corrupt or was moved".into());
        if sealed.len() < 2 || sealed[0] != VERSION {
            return Err(corrupt());
        }
        let id_len = usize::from(sealed[1]);
        let rest = &sealed[2..];
        if rest.len() < id_len + 12 + 16 {
            return Err(corrupt());
        }
        let key_id = std::str::from_utf8(&rest[..id_len]).map_err(|_| corrupt())?;
        let cipher = self
            .ciphers
            .get(key_id)
            .ok_or_else(|| Error::Internal(format!("sealed with key {key_id:?}, which is not configured")))?;
        let nonce = &rest[id_len..id_len + 12];
        let plaintext = cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: &rest[id_len + 12..], aad: context.as_bytes() })
            .map_err(|_| corrupt())?;
        String::from_utf8(plaintext).map_err(|_| corrupt())
    }

    /// The keyed hash used to find a value: equal inputs of the same `kind`
    /// give equal hashes; without the key nobody can test a guess.
    pub fn lookup_hash(&self, kind: &str, value: &str) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.hash_key).expect("hmac takes any key length");
        mac.update(kind.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> Secret {
        Secret::new(base64::engine::general_purpose::STANDARD.encode([byte; 32]))
    }

    fn vault(current: &str) -> PiiVault {
        PiiVault::new(&PiiConfig {
            current_key: current.into(),
            keys: vec![PiiKeyConfig { id: "k2025".into(), key: key(1) }, PiiKeyConfig { id: "k2026".into(), key: key(2) }],
            hash_key: key(9),
        })
        .unwrap()
    }

    const ID: &str = "11010519491231002X";

    #[test]
    fn a_sealed_identifier_holds_no_plain_text_and_opens_in_its_context() {
        let vault = vault("k2026");
        let sealed = vault.seal(ID, "party/1/resident_id").unwrap();
        assert!(!sealed.windows(ID.len()).any(|w| w == ID.as_bytes()));
        assert_eq!(vault.open(&sealed, "party/1/resident_id").unwrap(), ID);
        assert_ne!(vault.seal(ID, "party/1/resident_id").unwrap(), sealed, "a fresh nonce every time");
    }

    #[test]
    fn a_sealed_value_moved_to_another_row_or_tampered_with_does_not_open() {
        let vault = vault("k2026");
        let mut sealed = vault.seal(ID, "party/1/resident_id").unwrap();
        assert!(vault.open(&sealed, "party/2/resident_id").is_err());
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(vault.open(&sealed, "party/1/resident_id").is_err());
    }

    #[test]
    fn values_sealed_under_an_old_key_still_open_after_rotation() {
        let old = vault("k2025").seal(ID, "c").unwrap();
        assert_eq!(vault("k2026").open(&old, "c").unwrap(), ID);
    }

    #[test]
    fn r_scope_3_lookup_hashes_match_equal_values_and_differ_by_kind_and_key() {
        let vault = vault("k2026");
        assert_eq!(vault.lookup_hash("resident_id", ID), vault.lookup_hash("resident_id", ID));
        assert_ne!(vault.lookup_hash("resident_id", ID), vault.lookup_hash("phone", ID));
        let other = PiiVault::new(&PiiConfig {
            current_key: "k".into(),
            keys: vec![PiiKeyConfig { id: "k".into(), key: key(1) }],
            hash_key: key(8),
        })
        .unwrap();
        assert_ne!(vault.lookup_hash("resident_id", ID), other.lookup_hash("resident_id", ID));
    }

    #[test]
    fn bad_key_configuration_is_refused_naming_the_field() {
        let err = PiiVault::new(&PiiConfig { current_key: "x".into(), keys: vec![], hash_key: key(1) }).unwrap_err();
        assert!(err.to_string().contains("pii.current_key"), "{err}");
        let short = PiiConfig {
            current_key: "k".into(),
            keys: vec![PiiKeyConfig { id: "k".into(), key: Secret::new("c2hvcnQ=") }],
            hash_key: key(1),
        };
        assert!(PiiVault::new(&short).unwrap_err().to_string().contains("pii.keys[0].key"));
        let printed = format!("{:?}", PiiConfig { current_key: "k".into(), keys: vec![PiiKeyConfig { id: "k".into(), key: key(7) }], hash_key: key(7) });
        assert!(!printed.contains(&base64::engine::general_purpose::STANDARD.encode([7u8; 32])), "{printed}");
    }
}
