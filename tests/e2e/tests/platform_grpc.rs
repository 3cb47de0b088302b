//! A Yuetan process over real gRPC: health and reflection answer without a
//! token; every business call needs a valid officer token.

use std::sync::Arc;

use chrono::{Duration, Utc};
use ed25519_dalek::pkcs8::{spki::der::pem::LineEnding, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::SigningKey;
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic::{Code, Request};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use yuetan_platform::auth::{AuthConfig, Claims, KeyAlgorithm, KeyConfig, TokenIssuer, Verifier};
use yuetan_platform::server::{self, Services};
use yuetan_proto::platform::platform_service_client::PlatformServiceClient;
use yuetan_proto::platform::WhoAmIRequest;

struct Keys {
    private_pem: String,
    public_pem: String,
}

fn ed25519() -> Keys {
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    Keys {
        private_pem: key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
        public_pem: key.verifying_key().to_public_key_pem(LineEnding::LF).unwrap(),
    }
}

struct Running {
    channel: Channel,
    shutdown: CancellationToken,
    trusted: Keys,
}

async fn start() -> Running {
    let trusted = ed25519();
    let config = AuthConfig {
        issuer: "gansu-idp".into(),
        audience: "yuetan".into(),
        keys: vec![KeyConfig {
            kid: "k1".into(),
            algorithm: KeyAlgorithm::EdDSA,
            public_key_pem: Some(trusted.public_pem.clone()),
            secret: None,
        }],
        allow_hs256: false,
        leeway_seconds: 0,
    };
    let verifier = Arc::new(Verifier::new(&config).unwrap());
    let listener = server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(Services::new("all", verifier).serve(listener, shutdown.clone()));
    let channel = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
    Running { channel, shutdown, trusted }
}

fn token(private_pem: &str, ttl: Duration) -> String {
    let claims = Claims::for_officer(
        "officer-42",
        "李四",
        "620102-SJ",
        "620102",
        &["case_officer", "section_chief"],
        "gansu-idp",
        "yuetan",
        ttl,
        Utc::now(),
    );
    TokenIssuer::ed25519_pem("k1", private_pem).unwrap().issue(&claims).unwrap()
}

fn with_bearer(token: &str) -> Request<WhoAmIRequest> {
    let mut request = Request::new(WhoAmIRequest {});
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

#[tokio::test]
async fn health_answers_serving_without_a_token() {
    let running = start().await;
    let mut health = HealthClient::new(running.channel.clone());
    for service in ["", "yuetan.platform.v1.PlatformService"] {
        let response = health.check(HealthCheckRequest { service: service.into() }).await.unwrap().into_inner();
        assert_eq!(response.status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32, "{service:?}");
    }
    running.shutdown.cancel();
}

#[tokio::test]
async fn reflection_lists_the_platform_and_health_services() {
    let running = start().await;
    let mut reflection = ServerReflectionClient::new(running.channel.clone());
    let request = ServerReflectionRequest { host: String::new(), message_request: Some(MessageRequest::ListServices(String::new())) };
    let mut responses = reflection.server_reflection_info(tokio_stream::iter(vec![request])).await.unwrap().into_inner();
    let response = responses.next().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer: {response:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(names.contains(&"yuetan.platform.v1.PlatformService".to_string()), "{names:?}");
    assert!(names.contains(&"grpc.health.v1.Health".to_string()), "{names:?}");
    running.shutdown.cancel();
}

#[tokio::test]
async fn a_valid_token_yields_the_officer_as_actor() {
    let running = start().await;
    let mut client = PlatformServiceClient::new(running.channel.clone());
    let token = token(&running.trusted.private_pem, Duration::minutes(10));
    let response = client.who_am_i(with_bearer(&token)).await.unwrap().into_inner();
    let actor = response.actor.unwrap();
    assert_eq!(actor.officer_id, "officer-42");
    assert_eq!(actor.organ_code, "620102-SJ");
    assert_eq!(actor.division_code, "620102");
    assert_eq!(actor.roles, vec!["case_officer", "section_chief"]);
    assert_eq!(response.service, "all");
    running.shutdown.cancel();
}

#[tokio::test]
async fn a_missing_token_is_rejected_with_unauthenticated() {
    let running = start().await;
    let mut client = PlatformServiceClient::new(running.channel.clone());
    let status = client.who_am_i(Request::new(WhoAmIRequest {})).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    running.shutdown.cancel();
}

#[tokio::test]
async fn a_token_from_an_unknown_key_is_rejected_with_unauthenticated() {
    let running = start().await;
    let mut client = PlatformServiceClient::new(running.channel.clone());
    // Same kid, different key: the signature cannot verify.
    let forged = token(&ed25519().private_pem, Duration::minutes(10));
    let status = client.who_am_i(with_bearer(&forged)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(status.message().contains("signature"), "{}", status.message());
    running.shutdown.cancel();
}

#[tokio::test]
async fn an_expired_token_is_rejected_with_unauthenticated() {
    let running = start().await;
    let mut client = PlatformServiceClient::new(running.channel.clone());
    let expired = token(&running.trusted.private_pem, Duration::minutes(-5));
    let status = client.who_am_i(with_bearer(&expired)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(status.message().contains("expired"), "{}", status.message());
    running.shutdown.cancel();
}

#[tokio::test]
async fn a_garbled_authorization_header_is_rejected_with_unauthenticated() {
    let running = start().await;
    let mut client = PlatformServiceClient::new(running.channel.clone());
    let status = client.who_am_i(with_bearer("not.a.jwt")).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    running.shutdown.cancel();
}
