//! The organ's seal on a file (R-DOC-2): its Ed25519 key signs the ASCII
//! lowercase hex SHA-256 of the file's bytes; the signature travels as
//! standard base64.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest as _, Sha256};

use crate::DocumentError;

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Base64 Ed25519 signature over the ASCII hex digest.
pub fn seal(key: &SigningKey, sha256_hex: &str) -> String {
    STANDARD.encode(key.sign(sha256_hex.as_bytes()).to_bytes())
}

/// Checks a seal made by [`seal`]: fails when the signature is malformed,
/// made by another key, or made over another digest.
pub fn verify_seal(key: &VerifyingKey, sha256_hex: &str, signature_b64: &str) -> Result<(), DocumentError> {
    let bytes = STANDARD
        .decode(signature_b64.trim())
        .map_err(|e| DocumentError::Field { field: "signature".to_owned(), reason: format!("not base64: {e}") })?;
    let signature = Signature::from_slice(&bytes)
        .map_err(|_| DocumentError::Field { field: "signature".to_owned(), reason: format!("{} bytes, an Ed25519 signature has 64", bytes.len()) })?;
    key.verify(sha256_hex.as_bytes(), &signature).map_err(|_| DocumentError::SealMismatch)
}

/// The organ's signing key from the base64 of its 32-byte seed; an error
/// names `field` (the setting it came from) and never echoes the value.
pub fn signing_key_from_base64(field: &str, b64: &str) -> Result<SigningKey, DocumentError> {
    let bytes = STANDARD.decode(b64.trim()).map_err(|_| DocumentError::Field { field: field.to_owned(), reason: "not valid base64".to_owned() })?;
    let seed: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| DocumentError::Field { field: field.to_owned(), reason: format!("{} bytes, an Ed25519 seed has 32", bytes.len()) })?;
    Ok(SigningKey::from_bytes(&seed))
}
