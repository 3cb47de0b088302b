//! The Jitsi provider: no server calls; each participant's JWT carries the
//! claims Jitsi's token authentication checks, signed with the app secret.

use chrono::{TimeDelta, Utc};
use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use yuetan_video::jitsi::JitsiClaims;
use yuetan_video::{Created, JitsiProvider, JitsiSettings, RoomParticipant, RoomSpec, VideoError, VideoProvider};

const SECRET: &str = "jitsi-app-secret";

fn settings() -> JitsiSettings {
    JitsiSettings {
        domain: "meet.example.gov.cn".into(),
        app_id: "yuetan".into(),
        app_secret: SECRET.into(),
        audience: "jitsi".into(),
    }
}

fn spec() -> RoomSpec {
    RoomSpec {
        room_id: 77,
        description: "yuetan-test:interview-77".into(),
        participants: vec![
            RoomParticipant { key: "officer-9".into(), display: "办案人员".into(), feed_id: 1, moderator: true },
            RoomParticipant { key: "party".into(), display: "当事人".into(), feed_id: 2, moderator: false },
        ],
        record: true,
    }
}

fn validation() -> Validation {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&["jitsi"]);
    validation.set_issuer(&["yuetan"]);
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp", "nbf", "aud", "iss", "sub"]);
    validation
}

#[test]
fn each_participant_gets_a_token_jitsi_accepts() {
    let provider = JitsiProvider::new(settings()).unwrap();
    let spec = spec();
    let expires_at = Utc::now() + TimeDelta::hours(3);
    let before = Utc::now().timestamp();

    let officer = provider.join_info(&spec, &spec.participants[0], expires_at).unwrap();
    assert_eq!(officer.provider, "jitsi");
    assert_eq!(officer.room, "yuetan77");
    assert_eq!(officer.room, JitsiProvider::room_name(77));
    assert_eq!(officer.url, format!("https://meet.example.gov.cn/yuetan77?jwt={}", officer.token));
    assert_eq!(officer.pin, "");
    assert_eq!((officer.feed_id, officer.display.as_str(), officer.expires_at), (1, "办案人员", expires_at));

    let claims = decode::<JitsiClaims>(&officer.token, &DecodingKey::from_secret(SECRET.as_bytes()), &validation())
        .unwrap()
        .claims;
    assert_eq!(claims.iss, "yuetan");
    assert_eq!(claims.aud, "jitsi");
    assert_eq!(claims.sub, "meet.example.gov.cn");
    assert_eq!(claims.room, "yuetan77");
    assert_eq!(claims.exp, expires_at.timestamp());
    assert!(claims.nbf <= before && claims.nbf >= before - 120, "nbf {} against now {before}", claims.nbf);
    assert_eq!(claims.context.user.id, "officer-9");
    assert_eq!(claims.context.user.name, "办案人员");
    assert!(claims.context.user.moderator);

    let party = provider.join_info(&spec, &spec.participants[1], expires_at).unwrap();
    let claims = decode::<JitsiClaims>(&party.token, &DecodingKey::from_secret(SECRET.as_bytes()), &validation())
        .unwrap()
        .claims;
    assert_eq!((claims.context.user.id.as_str(), claims.context.user.name.as_str()), ("party", "当事人"));
    assert!(!claims.context.user.moderator);
    assert_ne!(party.token, officer.token);
}

#[test]
fn a_token_does_not_validate_with_another_secret_or_audience() {
    let provider = JitsiProvider::new(settings()).unwrap();
    let spec = spec();
    let info = provider.join_info(&spec, &spec.participants[1], Utc::now() + TimeDelta::hours(1)).unwrap();
    let wrong = decode::<JitsiClaims>(&info.token, &DecodingKey::from_secret(b"another-secret"), &validation());
    assert!(matches!(wrong.map_err(|e| e.into_kind()), Err(jsonwebtoken::errors::ErrorKind::InvalidSignature)));
    let mut other_audience = validation();
    other_audience.set_audience(&["another-app"]);
    let wrong = decode::<JitsiClaims>(&info.token, &DecodingKey::from_secret(SECRET.as_bytes()), &other_audience);
    assert!(matches!(wrong.map_err(|e| e.into_kind()), Err(jsonwebtoken::errors::ErrorKind::InvalidAudience)));
}

#[test]
fn an_expired_token_is_expired() {
    let provider = JitsiProvider::new(settings()).unwrap();
    let spec = spec();
    let info = provider.join_info(&spec, &spec.participants[1], Utc::now() - TimeDelta::hours(1)).unwrap();
    let result = decode::<JitsiClaims>(&info.token, &DecodingKey::from_secret(SECRET.as_bytes()), &validation());
    assert!(matches!(result.map_err(|e| e.into_kind()), Err(jsonwebtoken::errors::ErrorKind::ExpiredSignature)));
}

#[tokio::test]
async fn rooms_need_no_server() {
    let provider = JitsiProvider::new(settings()).unwrap();
    assert_eq!(provider.kind(), "jitsi");
    assert_eq!(provider.create_room(&spec()).await.unwrap(), Created::New);
    provider.destroy_room(77).await.unwrap();
    assert!(provider.list_rooms("yuetan-test").await.unwrap().is_empty());
    assert!(provider.recordings(77).await.unwrap().is_empty());
}

#[test]
fn settings_are_checked_and_named() {
    let field = |settings: JitsiSettings| match JitsiProvider::new(settings) {
        Err(VideoError::Config { field, .. }) => field,
        other => panic!("expected a settings error, got {:?}", other.map(|_| ())),
    };
    assert_eq!(field(JitsiSettings { domain: String::new(), ..settings() }), "scheduling.video.jitsi.domain");
    assert_eq!(field(JitsiSettings { domain: "https://meet.example.gov.cn".into(), ..settings() }), "scheduling.video.jitsi.domain");
    assert_eq!(field(JitsiSettings { app_id: " ".into(), ..settings() }), "scheduling.video.jitsi.app_id");
    assert_eq!(field(JitsiSettings { app_secret: String::new(), ..settings() }), "scheduling.video.jitsi.app_secret");
    assert_eq!(field(JitsiSettings { audience: String::new(), ..settings() }), "scheduling.video.jitsi.audience");
}
