//! Token verification without servers: keys, algorithms, claims, and the
//! interceptor that turns a bearer token into an `Actor` (ARCHITECTURE §6).

use std::sync::Arc;

use chrono::{Duration, Utc};
use ed25519_dalek::pkcs8::{spki::der::pem::LineEnding, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::SigningKey;
use tonic::service::Interceptor;
use tonic::{Code, Request};
use yuetan_platform::auth::{
    self, AuthConfig, AuthInterceptor, Claims, KeyAlgorithm, KeyConfig, TokenIssuer, Verifier,
};
use yuetan_platform::{Actor, Error};

/// A 2048-bit RSA key made for this test only (`openssl genpkey -algorithm
/// RSA -pkeyopt rsa_keygen_bits:2048`); the crate has no RSA key generator.
const RSA_TEST_PRIVATE_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDLaNmdXUed8pvt
47QInholnOWRgSZd8Xg6oz6GjJhT0bvZaRPGeRFkhpwgyeyeRvcEFNq/CQlf8wZv
yB/FKCPWrv688nquFL2f1nAVCv1bETCHSL5ZVeRfnWEgsNDVeXmrm5s+QfSbYVNQ
rhOIqLFO3b/KcMO9/KxsaGsbRzmerSOcMHUuuIsEhzSuDuCmsq/C+dqWOmwAc315
oU+UzSt07edvpt7QkmA6YP1cavTGHirE+eNn6+rPit0dZxfwGxHDDLPa+TaR2PQ5
ywZQt1Oculi+lFl4yahEsCjnh+psNVqH15us0sNWNhMcl/+2UcXyNe0gi6CxTCmT
2znvTIu/AgMBAAECggEAGYWjYGJW3ROWywd6DGbCAxwnldUtmjX1Du5ypvE3H7U+
K65Kg+mm7AUTy+1qGgXvcnynYbbhjT9x/E6Q5ez+ai502gJWsEb77/U5BPrnBSkn
/KF8+LqVOAYILNDisxZV1NlmZi5iYaiZipL88nWwIaQjL2RsuwbcH5IOdlK+gREg
tc///QXcf9w/UZK0p559cP+IZYULn84kK6pV+3SxNJad5UDhsZVDGzc5vKQVZqBH
QcgAYrgeqhEXvIqpeCIXK2ikryHDiUwwhlnMCtD1TA7L2ru3LXub4XCBplK/EhkB
Xrx3uL/DtCVhAb8ZH4bSNdGkvwq8bTyYIQhPxzmniQKBgQD/30H78aYHeBUNNHCq
rYTkXdUkxt0YDqqnTiQ6z8EVIasTyzik482l25wk6JqQRHebIOcsXTiQANgohJhr
vcst43ypXGPYSnE9AkRPc4em2OHUWnf1ln+vV76GnZbrB21T4IgQ4IxV2Jo1/gvv
P/mt7IgHVnP4s2GCyrlYEIhBmwKBgQDLguEH2rr8KdO3h4CQ3oZ1BOojZMkKci5U
CxhpHQF7TzAx0jujWupgYh7xjJHYw1l7P1o4b5WUlTxQ3FoNFhbAzYr+o92q5LGJ
H9sR//30Bq8FSwAn8sO4E2FNZYsW9zGUp9BaWXnAJj/VDVvgMByTyKos377STSW6
oOVWCe8CrQKBgQCoKtLSRLsLU6f6Wsnl009xTB5nInBzfEg614fGQ38yZUNsKfeb
n8EsTg7szxeu0+EMSu7E4KvpMTTgRG1s+nuMOGRZZ0iUAjE0mMXOti6kwQyDpcYL
2hMnafLlxLNI20PGid7DwOFbFpYcAFFVuGVgIwIwWGi2PydKb/Sq5Yq4GwKBgDR7
gxbodJI1IzFQU3qIuHoTE2KfSi1UdtgbqGbrIQewy0f95H1jI9BJXZuDWdVhw4DC
PL0TIasYtV5RBTQcvy9nknHKxo6cvaAURAWnU9GLq7Ucu2SR+aFN9ijkh/MbOoEQ
qe2y53ADLTD/afMt1SDTffdmmCpZ1OIFPj9q/mVdAoGBAPlQm5xSvf8FrB6IyUJ5
BjDyHq2aSgrIhUhdZi1gJfEKFSX59R4/MQ8aqIYoYfrF82Qh+XJIk9H0k6rbgK2u
VwjXl9TJS5AxF9a3OGzo93AeJrv/wvmYIFGSka/DVWyFRejmICnJeIP2WAgasHyR
K3O6VU3FaU26HswZ/txcwhpW
-----END PRIVATE KEY-----
";

const RSA_TEST_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAy2jZnV1HnfKb7eO0CJ4a
JZzlkYEmXfF4OqM+hoyYU9G72WkTxnkRZIacIMnsnkb3BBTavwkJX/MGb8gfxSgj
1q7+vPJ6rhS9n9ZwFQr9WxEwh0i+WVXkX51hILDQ1Xl5q5ubPkH0m2FTUK4TiKix
Tt2/ynDDvfysbGhrG0c5nq0jnDB1LriLBIc0rg7gprKvwvnaljpsAHN9eaFPlM0r
dO3nb6be0JJgOmD9XGr0xh4qxPnjZ+vqz4rdHWcX8BsRwwyz2vk2kdj0OcsGULdT
nLpYvpRZeMmoRLAo54fqbDVah9ebrNLDVjYTHJf/tlHF8jXtIIugsUwpk9s570yL
vwIDAQAB
-----END PUBLIC KEY-----
";

const DEV_SECRET: &str = "a-development-secret-of-32-bytes-or-more";

/// A fresh ed25519 key pair as (PKCS#8 private PEM, SPKI public PEM).
fn ed25519() -> (String, String) {
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    (
        key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
        key.verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap(),
    )
}

fn config(keys: Vec<KeyConfig>, allow_hs256: bool) -> AuthConfig {
    AuthConfig {
        issuer: "idp".into(),
        audience: "yuetan".into(),
        keys,
        allow_hs256,
        leeway_seconds: 0,
    }
}

fn ed_key(kid: &str, public_pem: &str) -> KeyConfig {
    KeyConfig {
        kid: kid.into(),
        algorithm: KeyAlgorithm::EdDSA,
        public_key_pem: Some(public_pem.into()),
        secret: None,
    }
}

fn hs_key(kid: &str, secret: &str) -> KeyConfig {
    KeyConfig {
        kid: kid.into(),
        algorithm: KeyAlgorithm::HS256,
        public_key_pem: None,
        secret: Some(secret.into()),
    }
}

fn claims(division: &str, audience: &str, ttl: Duration) -> Claims {
    Claims::for_officer(
        "o-1",
        "王五",
        "620102-SJ",
        division,
        &["legal_reviewer"],
        "idp",
        audience,
        ttl,
        Utc::now(),
    )
}

fn valid_claims() -> Claims {
    claims("620102", "yuetan", Duration::minutes(5))
}

#[track_caller]
fn assert_unauthenticated(result: Result<Actor, Error>, reason: &str) {
    match result {
        Err(Error::Unauthenticated(message)) => {
            assert!(
                message.contains(reason),
                "{message:?} does not mention {reason:?}"
            )
        }
        other => panic!("expected Unauthenticated({reason}), got {other:?}"),
    }
}

#[test]
fn an_eddsa_token_is_verified_into_the_officer() {
    let (private, public) = ed25519();
    let verifier = Verifier::new(&config(vec![ed_key("k1", &public)], false)).unwrap();
    let mut claims = valid_claims();
    claims.quals = vec!["GS-ZF-0001".into()];
    let token = TokenIssuer::ed25519_pem("k1", &private)
        .unwrap()
        .issue(&claims)
        .unwrap();

    let actor = verifier.verify(&token).unwrap();
    assert_eq!(actor.officer_id, "o-1");
    assert_eq!(actor.name, "王五");
    assert_eq!(actor.organ, "620102-SJ");
    assert_eq!(actor.division.as_str(), "620102");
    assert_eq!(actor.roles, vec!["legal_reviewer"]);
    assert!(actor.has_role("legal_reviewer"));
    assert_eq!(actor.qualifications, vec!["GS-ZF-0001"]);
}

#[test]
fn the_key_is_chosen_by_kid_among_several() {
    let (private_1, public_1) = ed25519();
    let (private_2, public_2) = ed25519();
    let verifier = Verifier::new(&config(
        vec![ed_key("k1", &public_1), ed_key("k2", &public_2)],
        false,
    ))
    .unwrap();
    for (kid, private) in [("k1", &private_1), ("k2", &private_2)] {
        let token = TokenIssuer::ed25519_pem(kid, private)
            .unwrap()
            .issue(&valid_claims())
            .unwrap();
        assert_eq!(verifier.verify(&token).unwrap().officer_id, "o-1", "{kid}");
    }
}

#[test]
fn an_rs256_token_is_verified_into_the_officer() {
    let key = KeyConfig {
        kid: "rsa-1".into(),
        algorithm: KeyAlgorithm::RS256,
        public_key_pem: Some(RSA_TEST_PUBLIC_PEM.into()),
        secret: None,
    };
    let verifier = Verifier::new(&config(vec![key], false)).unwrap();
    let token = TokenIssuer::rs256_pem("rsa-1", RSA_TEST_PRIVATE_PEM)
        .unwrap()
        .issue(&valid_claims())
        .unwrap();
    assert_eq!(verifier.verify(&token).unwrap().division.as_str(), "620102");
    // An EdDSA token cannot pass for the RSA key.
    let (ed_private, _) = ed25519();
    let token = TokenIssuer::ed25519_pem("rsa-1", &ed_private)
        .unwrap()
        .issue(&valid_claims())
        .unwrap();
    assert_unauthenticated(verifier.verify(&token), "algorithm");
}

#[test]
fn a_token_signed_by_another_key_under_a_known_kid_is_unauthenticated() {
    let (_, public) = ed25519();
    let (other_private, _) = ed25519();
    let verifier = Verifier::new(&config(vec![ed_key("k1", &public)], false)).unwrap();
    let forged = TokenIssuer::ed25519_pem("k1", &other_private)
        .unwrap()
        .issue(&valid_claims())
        .unwrap();
    assert_unauthenticated(verifier.verify(&forged), "bad signature");
}

#[test]
fn a_token_naming_an_unknown_kid_is_unauthenticated() {
    let (_, public) = ed25519();
    let (other_private, _) = ed25519();
    let verifier = Verifier::new(&config(vec![ed_key("k1", &public)], false)).unwrap();
    let token = TokenIssuer::ed25519_pem("k9", &other_private)
        .unwrap()
        .issue(&valid_claims())
        .unwrap();
    assert_unauthenticated(verifier.verify(&token), "unknown signing key");
}

#[test]
fn a_token_without_kid_uses_the_only_key_but_is_refused_when_there_are_several() {
    let (private, public) = ed25519();
    let (_, other_public) = ed25519();
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    let signing = jsonwebtoken::EncodingKey::from_ed_pem(private.as_bytes()).unwrap();
    let token = jsonwebtoken::encode(&header, &valid_claims(), &signing).unwrap();

    let one = Verifier::new(&config(vec![ed_key("k1", &public)], false)).unwrap();
    assert_eq!(one.verify(&token).unwrap().officer_id, "o-1");
    let two = Verifier::new(&config(
        vec![ed_key("k1", &public), ed_key("k2", &other_public)],
        false,
    ))
    .unwrap();
    assert_unauthenticated(two.verify(&token), "kid");
}

#[test]
fn an_expired_token_is_unauthenticated() {
    let (private, public) = ed25519();
    let verifier = Verifier::new(&config(vec![ed_key("k1", &public)], false)).unwrap();
    let token = TokenIssuer::ed25519_pem("k1", &private)
        .unwrap()
        .issue(&claims("620102", "yuetan", Duration::minutes(-1)))
        .unwrap();
    assert_unauthenticated(verifier.verify(&token), "expired");
}

#[test]
fn a_token_for_another_audience_or_issuer_is_unauthenticated() {
    let (private, public) = ed25519();
    let verifier = Verifier::new(&config(vec![ed_key("k1", &public)], false)).unwrap();
    let issuer = TokenIssuer::ed25519_pem("k1", &private).unwrap();
    let token = issuer
        .issue(&claims("620102", "another-system", Duration::minutes(5)))
        .unwrap();
    assert_unauthenticated(verifier.verify(&token), "audience");
    let mut other_issuer = valid_claims();
    other_issuer.iss = "someone-else".into();
    assert_unauthenticated(
        verifier.verify(&issuer.issue(&other_issuer).unwrap()),
        "issuer",
    );
}

#[test]
fn a_token_with_an_invalid_division_or_garbage_is_unauthenticated() {
    let (private, public) = ed25519();
    let verifier = Verifier::new(&config(vec![ed_key("k1", &public)], false)).unwrap();
    let issuer = TokenIssuer::ed25519_pem("k1", &private).unwrap();
    let token = issuer
        .issue(&claims("62", "yuetan", Duration::minutes(5)))
        .unwrap();
    assert_unauthenticated(verifier.verify(&token), "division");
    assert_unauthenticated(verifier.verify("not-a-jwt"), "malformed");
    assert_unauthenticated(verifier.verify(""), "malformed");
}

#[test]
fn an_hs256_token_presented_for_an_eddsa_key_is_refused() {
    let (_, public) = ed25519();
    let verifier = Verifier::new(&config(vec![ed_key("k1", &public)], false)).unwrap();
    // Algorithm confusion: the attacker "signs" with the public key as an HMAC secret.
    let token = TokenIssuer::hs256("k1", &public)
        .issue(&valid_claims())
        .unwrap();
    assert_unauthenticated(verifier.verify(&token), "algorithm");
}

#[test]
fn hs256_keys_are_accepted_only_when_explicitly_allowed_for_development() {
    let err = Verifier::new(&config(vec![hs_key("dev", DEV_SECRET)], false)).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
    assert!(err.to_string().contains("auth.keys[0].algorithm"), "{err}");

    let verifier = Verifier::new(&config(vec![hs_key("dev", DEV_SECRET)], true)).unwrap();
    let token = TokenIssuer::hs256("dev", DEV_SECRET)
        .issue(&claims("620100", "yuetan", Duration::minutes(5)))
        .unwrap();
    assert_eq!(verifier.verify(&token).unwrap().division.as_str(), "620100");
    let wrong_secret = TokenIssuer::hs256("dev", "another-secret-of-at-least-32-bytes!")
        .issue(&valid_claims())
        .unwrap();
    assert_unauthenticated(verifier.verify(&wrong_secret), "bad signature");
}

#[test]
fn bad_key_configuration_is_refused_naming_the_field() {
    let (_, public) = ed25519();
    let cases = [
        (config(vec![], false), "auth.keys"),
        (
            config(
                vec![KeyConfig {
                    public_key_pem: None,
                    ..ed_key("k1", "")
                }],
                false,
            ),
            "auth.keys[0].public_key_pem",
        ),
        (
            config(vec![ed_key("k1", "not a pem")], false),
            "auth.keys[0].public_key_pem",
        ),
        (
            config(vec![ed_key("k1", &public), ed_key("k1", &public)], false),
            "auth.keys[1].kid",
        ),
        (config(vec![ed_key("", &public)], false), "auth.keys[0].kid"),
        (
            config(vec![hs_key("dev", "short")], true),
            "auth.keys[0].secret",
        ),
        (
            config(
                vec![KeyConfig {
                    secret: None,
                    ..hs_key("dev", "")
                }],
                true,
            ),
            "auth.keys[0].secret",
        ),
        (
            AuthConfig {
                audience: String::new(),
                ..config(vec![ed_key("k1", &public)], false)
            },
            "auth.audience",
        ),
    ];
    for (config, field) in cases {
        let err = Verifier::new(&config).unwrap_err();
        assert!(
            err.to_string().contains(field),
            "{err} does not name {field}"
        );
    }
}

#[test]
fn debug_output_of_the_auth_config_never_contains_the_secret() {
    let config = config(
        vec![hs_key("dev", "top-secret-value-of-32-bytes-0123456789")],
        true,
    );
    let printed = format!("{config:?}");
    assert!(!printed.contains("top-secret-value"), "{printed}");
    assert!(printed.contains("dev"), "{printed}");
    let (_, public) = ed25519();
    let printed = format!("{:?}", ed_key("k1", &public));
    assert!(!printed.contains("BEGIN PUBLIC KEY"), "{printed}");
}

#[test]
fn the_interceptor_refuses_a_call_without_a_bearer_token() {
    let (_, public) = ed25519();
    let verifier = Arc::new(Verifier::new(&config(vec![ed_key("k1", &public)], false)).unwrap());
    let mut interceptor = AuthInterceptor::new(verifier);

    let status = interceptor.call(Request::new(())).unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    for garbled in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer not-a-jwt"] {
        let mut request = Request::new(());
        request
            .metadata_mut()
            .insert("authorization", garbled.parse().unwrap());
        let status = interceptor.call(request).unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{garbled}");
    }
}

#[test]
fn the_interceptor_puts_the_verified_actor_into_the_request() {
    let (private, public) = ed25519();
    let verifier = Arc::new(Verifier::new(&config(vec![ed_key("k1", &public)], false)).unwrap());
    let mut interceptor = AuthInterceptor { verifier };
    let token = TokenIssuer::ed25519_pem("k1", &private)
        .unwrap()
        .issue(&valid_claims())
        .unwrap();

    assert_eq!(
        auth::actor(&Request::new(())).unwrap_err().code(),
        Code::Unauthenticated
    );
    let mut request = Request::new(());
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let request = interceptor.call(request).unwrap();
    let actor = auth::actor(&request).unwrap();
    assert_eq!(actor.officer_id, "o-1");
    assert_eq!(actor.organ, "620102-SJ");
}

#[test]
fn a_leeway_longer_than_clock_skew_is_refused_naming_the_field() {
    let (private, public) = ed25519();
    let ten_years = AuthConfig { leeway_seconds: 10 * 365 * 86_400, ..config(vec![ed_key("k1", &public)], false) };
    match Verifier::new(&ten_years) {
        Err(Error::InvalidArgument { field, .. }) => assert_eq!(field, "auth.leeway_seconds"),
        other => panic!("a 10-year leeway was accepted: {other:?}"),
    }
    // At the bound, a token expired 5 years ago is still expired.
    let most = AuthConfig {
        leeway_seconds: auth::MAX_LEEWAY_SECONDS,
        ..config(vec![ed_key("k1", &public)], false)
    };
    let verifier = Verifier::new(&most).unwrap();
    let token = TokenIssuer::ed25519_pem("k1", &private)
        .unwrap()
        .issue(&claims("620102", "yuetan", Duration::days(-5 * 365)))
        .unwrap();
    assert_unauthenticated(verifier.verify(&token), "expired");
}

#[test]
fn a_service_account_token_serves_its_divisions_and_no_other() {
    let (private, public) = ed25519();
    let verifier = Verifier::new(&config(vec![ed_key("k1", &public)], false)).unwrap();
    let issuer = TokenIssuer::ed25519_pem("k1", &private).unwrap();
    let mut claims = claims("620100", "yuetan", Duration::minutes(5));
    claims.roles = vec!["system".into()];
    claims.divisions = vec!["620300".into()];
    let actor = verifier.verify(&issuer.issue(&claims).unwrap()).unwrap();
    assert!(actor.has_role(yuetan_platform::auth::roles::SYSTEM));
    let code = |c: &str| yuetan_platform::auth::DivisionCode::parse(c).unwrap();
    assert!(actor.can_see(&code("620102"), &[]), "its own city's county");
    assert!(actor.can_see(&code("620302"), &[]), "a county of a further division it serves");
    assert!(!actor.can_see(&code("620201"), &[]), "another city");

    claims.divisions = vec!["62x".into()];
    assert_unauthenticated(verifier.verify(&issuer.issue(&claims).unwrap()), "division");
}
