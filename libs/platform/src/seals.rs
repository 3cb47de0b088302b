//! The organs' seal keys (R-DOC-2): each organ's Ed25519 key signs the ASCII
//! lowercase hex SHA-256 of a document (the signature travels as standard
//! base64). Shared by every service that seals documents (scheduling's
//! notices and receipts, rectification's notices and certificates).

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey};
use serde::Deserialize;

use crate::secret::Secret;
use crate::Error;

/// One organ's seal key (Ed25519; base64 of the 32-byte seed).
#[derive(Debug, Clone, Deserialize, Default)]
pub struct SealKey {
    pub organ: String,
    pub id: String,
    pub secret: Secret,
}

/// The organ's signing key from the base64 of its 32-byte seed; an error
/// names `field` and never echoes the value.
fn signing_key_from_base64(field: &str, b64: &str) -> Result<SigningKey, Error> {
    let bytes = STANDARD.decode(b64.trim()).map_err(|_| Error::invalid(field, "not valid base64"))?;
    let seed: [u8; 32] = bytes.as_slice().try_into().map_err(|_| Error::invalid(field, format!("{} bytes, an Ed25519 seed has 32", bytes.len())))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// The organs' seal keys, by organ code.
#[derive(Debug, Default)]
pub struct Seals {
    keys: HashMap<String, (String, SigningKey)>,
}

/// The seal key published in `deploy/local/yuetan.toml`.
pub const DEV_SEAL_KEY: &str = "bG9jYWwtZGV2ZWxvcG1lbnQtc2VhbC1rZXktMDAwMDE=";

impl Seals {
    /// The configured keys. Off a loopback address (`local_only` false) the
    /// published development key and the any-organ key `"*"` are refused:
    /// anyone who read the repository could seal with the one, and the other
    /// would seal for organs that never chose it.
    pub fn new(setting: &str, keys: &[SealKey], local_only: bool) -> Result<Seals, Error> {
        let mut map = HashMap::new();
        for (i, key) in keys.iter().enumerate() {
            let field = format!("{setting}[{i}].secret");
            if !local_only && (key.organ == "*" || key.secret.expose().trim() == DEV_SEAL_KEY) {
                return Err(Error::invalid(
                    format!("{setting}[{i}]"),
                    "the any-organ seal key and the published development key are for local development only (grpc.listen on a loopback address)",
                ));
            }
            let signing = signing_key_from_base64(&field, key.secret.expose())?;
            map.insert(key.organ.clone(), (key.id.clone(), signing));
        }
        Ok(Seals { keys: map })
    }

    /// The public half of the key with this id (documents name the key that sealed them).
    pub fn verifying_key(&self, key_id: &str) -> Option<ed25519_dalek::VerifyingKey> {
        self.keys.values().find(|(id, _)| id == key_id).map(|(_, key)| key.verifying_key())
    }

    /// The organ's key id and key; an organ without one cannot seal. A key
    /// configured for organ `"*"` seals for every organ (tests, the local demo).
    pub fn of(&self, organ: &str) -> Result<&(String, SigningKey), Error> {
        self.keys
            .get(organ)
            .or_else(|| self.keys.get("*"))
            .ok_or_else(|| Error::FailedPrecondition(format!("organ {organ} has no seal key configured (seal_keys)")))
    }
}

impl Seals {
    /// The organ's seal over a document's sha256: (key id, base64 signature).
    pub fn seal(&self, organ: &str, sha256_hex: &str) -> Result<(String, String), Error> {
        let (id, key) = self.of(organ)?;
        Ok((id.clone(), STANDARD.encode(key.sign(sha256_hex.as_bytes()).to_bytes())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(organ: &str, secret: &str) -> SealKey {
        SealKey { organ: organ.into(), id: "k".into(), secret: Secret::new(secret) }
    }

    #[test]
    fn r_doc_2_development_seal_keys_are_refused_off_loopback() {
        const OTHER: &str = "b3JnYW4tc2VhbC1rZXktb2YtY2hlbmdndWFuLTAwMDE=";
        assert!(Seals::new("scheduling.seal_keys", &[key("*", DEV_SEAL_KEY)], true).is_ok());
        let err = Seals::new("scheduling.seal_keys", &[key("*", OTHER)], false).unwrap_err().to_string();
        assert!(err.contains("scheduling.seal_keys[0]"), "{err}");
        assert!(Seals::new("scheduling.seal_keys", &[key("620102-SJ", DEV_SEAL_KEY)], false).is_err());
        let seals = Seals::new("scheduling.seal_keys", &[key("620102-SJ", OTHER)], false).unwrap();
        assert!(seals.of("620102-SJ").is_ok());
        assert!(seals.of("620103-SJ").is_err(), "an organ without a key cannot seal");
    }

}
