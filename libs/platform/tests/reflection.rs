//! gRPC reflection for every client (issue 16): clients that still speak
//! `grpc.reflection.v1alpha` (older grpcurl builds, several GUI clients) list
//! the services and read their descriptors, as v1 clients do; no token needed.

use std::sync::Arc;

use prost::Message;
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
use yuetan_platform::auth::{AuthConfig, KeyAlgorithm, KeyConfig, Verifier};
use yuetan_platform::server::{self, Services};

async fn start() -> (Channel, CancellationToken) {
    let config = AuthConfig {
        keys: vec![KeyConfig {
            kid: "k".into(),
            algorithm: KeyAlgorithm::HS256,
            public_key_pem: None,
            secret: Some("reflection-tests-secret-at-least-32-bytes".into()),
        }],
        allow_hs256: true,
        ..AuthConfig::default()
    };
    let verifier = Arc::new(Verifier::new(&config).unwrap());
    let listener = server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(Services::new("all", verifier).serve(listener, shutdown.clone()));
    let channel = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
    (channel, shutdown)
}

async fn ask(channel: &Channel, request: MessageRequest) -> MessageResponse {
    let mut client = ServerReflectionClient::new(channel.clone());
    let request = ServerReflectionRequest { host: String::new(), message_request: Some(request) };
    let mut answers = client.server_reflection_info(tokio_stream::iter(vec![request])).await.expect("v1alpha is served").into_inner();
    answers.next().await.expect("an answer").expect("not an error").message_response.expect("a message")
}

#[tokio::test]
async fn a_v1alpha_client_lists_the_services_and_reads_their_descriptors() {
    let (channel, shutdown) = start().await;
    let MessageResponse::ListServicesResponse(list) = ask(&channel, MessageRequest::ListServices(String::new())).await else {
        panic!("not a service list");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "yuetan.platform.v1.PlatformService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }

    // Every service of the contract is described, not only those served here.
    let answer = ask(&channel, MessageRequest::FileContainingSymbol("yuetan.intake.v1.IntakeService".into())).await;
    let MessageResponse::FileDescriptorResponse(files) = answer else { panic!("not a descriptor: {answer:?}") };
    let described: Vec<String> = files
        .file_descriptor_proto
        .iter()
        .map(|bytes| prost_types::FileDescriptorProto::decode(bytes.as_slice()).unwrap().name().to_string())
        .collect();
    assert!(described.iter().any(|n| n == "yuetan/intake/v1/intake.proto"), "{described:?}");
    shutdown.cancel();
}
