//! Token verification without servers: keys, algorithms, claims.

use chrono::{Duration, Utc};
use ed25519_dalek::pkcs8::{spki::der::pem::LineEnding, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::SigningKey;
use yuetan_platform::auth::{AuthConfig, Claims, KeyAlgorithm, KeyConfig, TokenIssuer, Verifier};
use yuetan_platform::Error;

fn ed25519() -> (String, String) {
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    (
        key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
        key.verifying_key().to_public_key_pem(LineEnding::LF).unwrap(),
    )
}

fn config(keys: Vec<KeyConfig>, allow_hs256: bool) -> AuthConfig {
    AuthConfig { issuer: "idp".into(), audience: "yuetan".into(), keys, allow_hs256, leeway_seconds: 0 }
}

fn ed_key(kid: &str, public_pem: &str) -> KeyConfig {
    KeyConfig { kid: kid.into(), algorithm: KeyAlgorithm::EdDSA, public_key_pem: Some(public_pem.into()), secret: None }
}

fn claims(division: &str, audience: &str, ttl: Duration) -> Claims {
    Claims::for_officer("o-1", "王五", "620102-SJ", division, &["legal_reviewer"], "idp", audience, ttl, Utc::now())
}

fn is_unauthenticated(result: Result<yuetan_platform::Actor, Error>, reason: &str) {
    match result {
        Err(Error::Unauthenticated(message)) => assert!(message.contains(reason), "{message} lacks {reason}"),
        other => panic!("expected Unauthenticated({reason}), got {other:?}"),
    }
}

#[test]
fn an_eddsa_token_is_verified_into_the_officer() {
    let (private, public) = ed25519();
    let verifier = Verifier::new(&config(vec![ed_key("k1", &public)], false)).unwrap();
    let mut claims = claims("620102", "yuetan", Duration::minutes(5));
    claims.quals = vec!["legal_review".into()];
    let token = TokenIssuer::ed25519_pem("k1", &private).unwrap().issue(&claims).unwrap();
    let actor = verifier.verify(&token).unwrap();
    assert_eq!(actor.officer_id, "o-1");
    assert_eq!(actor.division.as_str(), "620102");
    assert!(actor.has_role("legal_reviewer"));
    assert_eq!(actor.qualifications, vec!["legal_review"]);
}

#[test]
fn tokens_from_unknown_keys_expired_or_for_another_audience_are_unauthenticated() {
    let (private, public) = ed25519();
    let (other_private, _) = ed25519();
    let verifier = Verifier::new(&config(vec![ed_key("k1", &public)], false)).unwrap();
    let issuer = TokenIssuer::ed25519_pem("k1", &private).unwrap();
    is_unauthenticated(verifier.verify(&issuer.issue(&claims("620102", "yuetan", Duration::minutes(-1))).unwrap()), "expired");
    is_unauthenticated(verifier.verify(&issuer.issue(&claims("620102", "other", Duration::minutes(5))).unwrap()), "audience");
    let forged = TokenIssuer::ed25519_pem("k1", &other_private).unwrap();
    is_unauthenticated(verifier.verify(&forged.issue(&claims("620102", "yuetan", Duration::minutes(5))).unwrap()), "signature");
    let unknown_kid = TokenIssuer::ed25519_pem("k9", &other_private).unwrap();
    is_unauthenticated(verifier.verify(&unknown_kid.issue(&claims("620102", "yuetan", Duration::minutes(5))).unwrap()), "unknown");
    is_unauthenticated(verifier.verify(&issuer.issue(&claims("62", "yuetan", Duration::minutes(5))).unwrap()), "division");
}

#[test]
fn an_hs256_token_presented_for_an_eddsa_key_is_refused() {
    let (_, public) = ed25519();
    let verifier = Verifier::new(&config(vec![ed_key("k1", &public)], false)).unwrap();
    // Alg confusion: an attacker signs with the public key as an HMAC secret.
    let token = TokenIssuer::hs256("k1", &public).issue(&claims("620102", "yuetan", Duration::minutes(5))).unwrap();
    is_unauthenticated(verifier.verify(&token), "algorithm");
}

#[test]
fn hs256_keys_are_accepted_only_when_explicitly_allowed_for_development() {
    let key = KeyConfig { kid: "dev".into(), algorithm: KeyAlgorithm::HS256, public_key_pem: None, secret: Some("a-development-secret".into()) };
    let err = Verifier::new(&config(vec![key.clone()], false)).unwrap_err();
    assert!(err.to_string().contains("auth.keys[0].algorithm"), "{err}");
    let verifier = Verifier::new(&config(vec![key], true)).unwrap();
    let token = TokenIssuer::hs256("dev", "a-development-secret").issue(&claims("620100", "yuetan", Duration::minutes(5))).unwrap();
    assert_eq!(verifier.verify(&token).unwrap().division.as_str(), "620100");
}

#[test]
fn missing_key_material_is_named_and_secrets_never_print() {
    let missing = KeyConfig { kid: "k1".into(), algorithm: KeyAlgorithm::EdDSA, public_key_pem: None, secret: None };
    let err = Verifier::new(&config(vec![missing], false)).unwrap_err();
    assert!(err.to_string().contains("auth.keys[0].public_key_pem"), "{err}");
    let secret = KeyConfig { kid: "dev".into(), algorithm: KeyAlgorithm::HS256, public_key_pem: None, secret: Some("top-secret-value-123".into()) };
    let printed = format!("{:?}", config(vec![secret], true));
    assert!(!printed.contains("top-secret-value-123"), "{printed}");
}
