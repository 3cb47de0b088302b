//! The platform's gate over real gRPC (issue 16), in front of a stand-in
//! service whose handlers only count their calls: the access table decides
//! who may call what (deny by default), the size limit and the input check
//! refuse before any handler runs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::Utc;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic::{Code, Request, Response, Status};
use yuetan_platform::auth::{self, AuthConfig, Claims, KeyAlgorithm, KeyConfig, TokenIssuer, Verifier};
use yuetan_platform::gate::{AccessTable, FieldBound, Gated, Limits, Rule, DEFAULT_LIMITS};
use yuetan_platform::server::{self, Services};
use yuetan_proto::platform::platform_service_client::PlatformServiceClient;
use yuetan_proto::platform::WhoAmIRequest;
use yuetan_proto::review as pb;
use yuetan_proto::review::review_service_client::ReviewServiceClient;
use yuetan_proto::review::review_service_server::{ReviewService, ReviewServiceServer};

const SECRET: &str = "gate-tests-secret-at-least-32-bytes-long";

/// Answers every call with an empty message and counts the calls that
/// reached it (with the caller the gate verified).
#[derive(Clone, Default)]
struct Stand {
    calls: Arc<AtomicUsize>,
}

impl Stand {
    fn reached<T>(&self, request: &Request<T>) -> Result<(), Status> {
        auth::actor(request)?;
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tonic::async_trait]
impl ReviewService for Stand {
    async fn list_my_tasks(&self, r: Request<pb::ListMyTasksRequest>) -> Result<Response<pb::ListMyTasksResponse>, Status> {
        self.reached(&r)?;
        Ok(Response::new(Default::default()))
    }
    async fn get_task(&self, r: Request<pb::GetTaskRequest>) -> Result<Response<pb::Task>, Status> {
        self.reached(&r)?;
        Ok(Response::new(Default::default()))
    }
    async fn get_review(&self, r: Request<pb::GetReviewRequest>) -> Result<Response<pb::ReviewFile>, Status> {
        self.reached(&r)?;
        Ok(Response::new(Default::default()))
    }
    async fn decide_review(&self, r: Request<pb::DecideReviewRequest>) -> Result<Response<pb::Task>, Status> {
        self.reached(&r)?;
        Ok(Response::new(Default::default()))
    }
    async fn extend_review(&self, r: Request<pb::ExtendReviewRequest>) -> Result<Response<pb::Task>, Status> {
        self.reached(&r)?;
        Ok(Response::new(Default::default()))
    }
    async fn decide_approval(&self, r: Request<pb::DecideApprovalRequest>) -> Result<Response<pb::Task>, Status> {
        self.reached(&r)?;
        Ok(Response::new(Default::default()))
    }
    async fn decide_document(&self, r: Request<pb::DecideDocumentRequest>) -> Result<Response<pb::Task>, Status> {
        self.reached(&r)?;
        Ok(Response::new(Default::default()))
    }
}

macro_rules! method {
    ($name:literal) => {
        concat!("/yuetan.review.v1.ReviewService/", $name)
    };
}

/// ListMyTasks, GetReview, ExtendReview and DecideDocument are left out.
const TABLE: &AccessTable = &[
    Rule::new(method!("GetTask"), &["case_officer", "legal_reviewer"]),
    Rule::new(method!("DecideReview"), &["legal_reviewer"]).bounds(&[FieldBound { path: "checklist", max: 5 }]),
    Rule::new(method!("DecideApproval"), &["deputy_leader", "leader"]).upload(),
];

struct Running {
    channel: Channel,
    shutdown: CancellationToken,
    calls: Arc<AtomicUsize>,
}

impl Running {
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
    fn review(&self) -> ReviewServiceClient<Channel> {
        ReviewServiceClient::new(self.channel.clone())
    }
}

fn verifier() -> Arc<Verifier> {
    let config = AuthConfig {
        issuer: "gate-test".into(),
        audience: "yuetan".into(),
        keys: vec![KeyConfig { kid: "k".into(), algorithm: KeyAlgorithm::HS256, public_key_pem: None, secret: Some(SECRET.into()) }],
        allow_hs256: true,
        leeway_seconds: 0,
    };
    Arc::new(Verifier::new(&config).unwrap())
}

async fn start(table: &'static AccessTable, limits: Limits) -> Running {
    let stand = Stand::default();
    let calls = stand.calls.clone();
    let listener = server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let services = Services::new("review", verifier()).add_authenticated(Gated::new(ReviewServiceServer::new(stand), table).limits(limits));
    tokio::spawn(services.serve(listener, shutdown.clone()));
    let channel = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
    Running { channel, shutdown, calls }
}

fn as_officer<T>(roles: &[&str], message: T) -> Request<T> {
    let claims = Claims::for_officer("o-1", "测试", "620102-SJ", "620102", roles, "gate-test", "yuetan", chrono::Duration::minutes(5), Utc::now());
    let token = TokenIssuer::hs256("k", SECRET).issue(&claims).unwrap();
    let mut request = Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

#[tokio::test]
async fn a_method_missing_from_the_table_is_refused_to_every_role() {
    let running = start(TABLE, DEFAULT_LIMITS).await;
    let all = yuetan_platform::auth::roles::ALL;
    let err = running.review().list_my_tasks(as_officer(all, pb::ListMyTasksRequest::default())).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    assert!(err.message().contains("ListMyTasks"), "{}", err.message());
    let err = running.review().get_review(as_officer(all, pb::GetReviewRequest::default())).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    // Without a token the answer stays UNAUTHENTICATED, listed or not.
    let err = running.review().list_my_tasks(pb::ListMyTasksRequest::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    let err = running.review().get_task(pb::GetTaskRequest::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    assert_eq!(running.calls(), 0, "no handler ran");
    running.shutdown.cancel();
}

#[tokio::test]
async fn a_role_outside_the_rule_is_refused_naming_the_roles_that_may_call() {
    let running = start(TABLE, DEFAULT_LIMITS).await;
    for roles in [&[][..], &["admin"][..], &["deputy_leader", "office"][..]] {
        let err = running.review().get_task(as_officer(roles, pb::GetTaskRequest::default())).await.unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{roles:?}: {err:?}");
        assert!(
            err.message().contains("GetTask") && err.message().contains("case_officer, legal_reviewer"),
            "{}",
            err.message()
        );
    }
    assert_eq!(running.calls(), 0, "no handler ran");
    running.review().get_task(as_officer(&["office", "legal_reviewer"], pb::GetTaskRequest::default())).await.unwrap();
    running.review().decide_review(as_officer(&["legal_reviewer"], pb::DecideReviewRequest::default())).await.unwrap();
    assert_eq!(running.calls(), 2);
    running.shutdown.cancel();
}

#[tokio::test]
async fn who_am_i_answers_any_valid_token_even_without_roles() {
    let running = start(TABLE, DEFAULT_LIMITS).await;
    let mut client = PlatformServiceClient::new(running.channel.clone());
    let answer = client.who_am_i(as_officer(&[], WhoAmIRequest {})).await.unwrap().into_inner();
    assert!(answer.actor.unwrap().roles.is_empty());
    running.shutdown.cancel();
}

#[tokio::test]
async fn a_request_over_the_methods_limit_is_resource_exhausted_and_uploads_get_their_own() {
    let limits = Limits { standard_bytes: 4 * 1024, upload_bytes: 64 * 1024, ..DEFAULT_LIMITS };
    let running = start(TABLE, limits).await;
    let big = pb::DecideReviewRequest { opinion: "意".repeat(2_000), ..Default::default() }; // 6,000 bytes
    let err = running.review().decide_review(as_officer(&["legal_reviewer"], big)).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(err.message().contains("DecideReview") && err.message().contains("4096"), "{}", err.message());
    assert_eq!(running.calls(), 0);

    // A far larger body is refused from its length prefix, without waiting for it all.
    let huge = pb::DecideReviewRequest { opinion: "x".repeat(64 * 1024 * 1024), ..Default::default() };
    let err = running.review().decide_review(as_officer(&["legal_reviewer"], huge)).await.unwrap_err();
    assert!(matches!(err.code(), Code::ResourceExhausted), "{err:?}");
    assert_eq!(running.calls(), 0, "the handler never ran");

    // DecideApproval is marked as an upload here: 6,000 bytes pass, 70,000 do not.
    let fits = pb::DecideApprovalRequest { opinion: "意".repeat(2_000), ..Default::default() };
    running.review().decide_approval(as_officer(&["leader"], fits)).await.unwrap();
    let over = pb::DecideApprovalRequest { opinion: "x".repeat(70_000), ..Default::default() };
    let err = running.review().decide_approval(as_officer(&["leader"], over)).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert_eq!(running.calls(), 1);
    running.shutdown.cancel();
}

#[tokio::test]
async fn text_and_list_bounds_and_nul_are_invalid_argument_naming_the_field_before_the_handler() {
    let running = start(TABLE, DEFAULT_LIMITS).await;
    let reviewer = ["legal_reviewer"];
    let nul = pb::DecideReviewRequest { opinion: "同意\u{0}".into(), ..Default::default() };
    let err = running.review().decide_review(as_officer(&reviewer, nul)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("`opinion`") && err.message().contains("U+0000"), "{}", err.message());

    let entry = |comment: &str| pb::ChecklistEntry { item: 1, passed: true, comment: comment.into() };
    let nested = pb::DecideReviewRequest { checklist: vec![entry("好"), entry("有\u{0}误")], ..Default::default() };
    let err = running.review().decide_review(as_officer(&reviewer, nested)).await.unwrap_err();
    assert!(err.message().contains("`checklist[1].comment`"), "{}", err.message());

    // The rule bounds the checklist to five entries.
    let six = pb::DecideReviewRequest { checklist: vec![entry("好"); 6], ..Default::default() };
    let err = running.review().decide_review(as_officer(&reviewer, six)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("`checklist`") && err.message().contains("5 entries"), "{}", err.message());

    // A text over 64 Ki characters (within the byte limit).
    let long = pb::DecideReviewRequest { opinion: "x".repeat(64 * 1024 + 1), ..Default::default() };
    let err = running.review().decide_review(as_officer(&reviewer, long)).await.unwrap_err();
    assert!(err.message().contains("`opinion`") && err.message().contains("characters"), "{}", err.message());
    assert_eq!(running.calls(), 0, "no handler ran");

    let fine = pb::DecideReviewRequest { checklist: vec![entry("法律依据充分"); 5], opinion: "同意".into(), ..Default::default() };
    running.review().decide_review(as_officer(&reviewer, fine)).await.unwrap();
    assert_eq!(running.calls(), 1);
    running.shutdown.cancel();
}

#[tokio::test]
async fn a_table_naming_a_method_the_contract_lacks_stops_the_server() {
    const TYPO: &AccessTable = &[Rule::new(method!("GetTasks"), &["case_officer"])];
    let listener = server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let services = Services::new("review", verifier()).add_authenticated(Gated::new(ReviewServiceServer::new(Stand::default()), TYPO));
    let err = services.serve(listener, CancellationToken::new()).await.unwrap_err();
    assert!(err.to_string().contains("GetTasks"), "{err}");
}
