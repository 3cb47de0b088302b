//! The organ's seal over a file's SHA-256 (R-DOC-2).

use base64::Engine as _;
use ed25519_dalek::SigningKey;
use yuetan_documents::seal::{seal, sha256_hex, signing_key_from_base64, verify_seal};
use yuetan_documents::DocumentError;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

#[test]
fn sha256_hex_is_lowercase_hex_of_the_bytes() {
    assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

#[test]
fn a_seal_verifies_with_the_organs_key() {
    let file = b"%PDF-1.7 a rendered notice".to_vec();
    let digest = sha256_hex(&file);
    let signature = seal(&key(7), &digest);
    verify_seal(&key(7).verifying_key(), &digest, &signature).unwrap();
}

#[test]
fn a_changed_file_fails() {
    let mut file = b"%PDF-1.7 a rendered notice".to_vec();
    let signature = seal(&key(7), &sha256_hex(&file));
    file[10] ^= 1;
    let err = verify_seal(&key(7).verifying_key(), &sha256_hex(&file), &signature).unwrap_err();
    assert!(matches!(err, DocumentError::SealMismatch), "{err:?}");
}

#[test]
fn another_key_fails() {
    let digest = sha256_hex(b"file");
    let signature = seal(&key(7), &digest);
    let err = verify_seal(&key(8).verifying_key(), &digest, &signature).unwrap_err();
    assert!(matches!(err, DocumentError::SealMismatch), "{err:?}");
}

#[test]
fn a_malformed_signature_is_named() {
    let digest = sha256_hex(b"file");
    let err = verify_seal(&key(7).verifying_key(), &digest, "not base64!").unwrap_err();
    assert!(err.to_string().starts_with("signature:"), "{err}");
    let short = base64::engine::general_purpose::STANDARD.encode([0u8; 10]);
    let err = verify_seal(&key(7).verifying_key(), &digest, &short).unwrap_err();
    assert!(err.to_string().starts_with("signature:"), "{err}");
}

#[test]
fn signing_key_from_its_base64_seed() {
    let seed = [42u8; 32];
    let b64 = base64::engine::general_purpose::STANDARD.encode(seed);
    let key = signing_key_from_base64("scheduling.seal_key", &b64).unwrap();
    assert_eq!(key.to_bytes(), seed);

    let err = signing_key_from_base64("scheduling.seal_key", "%%%").unwrap_err();
    assert!(err.to_string().starts_with("scheduling.seal_key:"), "{err}");
    let err = signing_key_from_base64("scheduling.seal_key", &base64::engine::general_purpose::STANDARD.encode([1u8; 16])).unwrap_err();
    assert!(err.to_string().starts_with("scheduling.seal_key:") && err.to_string().contains("16 bytes"), "{err}");
    // The error never echoes the key material.
    assert!(!err.to_string().contains("AQEB"), "{err}");
}
