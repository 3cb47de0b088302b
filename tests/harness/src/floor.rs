//! The floor of the RPC benchmarks (the intake bench, the whole-lifecycle
//! bench `yuetan-bench`): one tonic RPC behind the services' auth
//! interceptor whose handler runs one PostgreSQL transaction — BEGIN, one
//! INSERT of a 400-byte row, COMMIT. Served as `PlatformService.WhoAmI` on
//! a loopback port of the calling process, so a benchmark can put each
//! service RPC beside what the cheapest authenticated, durable call costs
//! on the same database at the same concurrency.

use std::sync::Arc;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Server};
use tonic::{Request, Response, Status};
use yuetan_platform::auth::{AuthConfig, AuthInterceptor, Verifier};
use yuetan_platform::db;
use yuetan_proto::platform::platform_service_client::PlatformServiceClient;
use yuetan_proto::platform::platform_service_server::{PlatformService, PlatformServiceServer};
use yuetan_proto::platform::{GetStatusRequest, GetStatusResponse, WhoAmIRequest, WhoAmIResponse};

/// The schema the floor's table lives in (`floor_rows`).
pub const SCHEMA: &str = "bench_floor";

#[derive(Clone)]
struct Floor {
    pool: PgPool,
}

#[tonic::async_trait]
impl PlatformService for Floor {
    async fn who_am_i(&self, request: Request<WhoAmIRequest>) -> Result<Response<WhoAmIResponse>, Status> {
        let actor = yuetan_platform::auth::actor(&request)?.clone();
        let mut tx = self.pool.begin().await.map_err(|e| Status::unavailable(e.to_string()))?;
        sqlx::query("INSERT INTO floor_rows (id, officer, body) VALUES ($1, $2, $3)")
            .bind(uuid::Uuid::now_v7())
            .bind(&actor.officer_id)
            .bind(vec![7u8; 400])
            .execute(&mut *tx)
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        tx.commit().await.map_err(|e| Status::unavailable(e.to_string()))?;
        Ok(Response::new(WhoAmIResponse { actor: Some(actor.to_proto()), qualifications: Vec::new(), service: "floor".into() }))
    }

    async fn get_status(&self, _request: Request<GetStatusRequest>) -> Result<Response<GetStatusResponse>, Status> {
        Err(Status::unimplemented("the floor measures WhoAmI only"))
    }
}

/// Starts the floor on `127.0.0.1:0` with a pool of `connections` to
/// `database_url` (a role that may create the [`SCHEMA`] schema and its
/// table), verifying tokens as `auth` says; serves until `shutdown`.
/// Returns a connected channel. Panics when it cannot start (benchmarks).
pub async fn start(database_url: &str, auth: &AuthConfig, connections: u32, shutdown: CancellationToken) -> Channel {
    let pool = db::connect(database_url, SCHEMA, connections).await.expect("the floor's pool");
    sqlx::raw_sql("CREATE TABLE IF NOT EXISTS floor_rows (id UUID PRIMARY KEY, officer TEXT NOT NULL, body BYTEA NOT NULL)")
        .execute(&pool)
        .await
        .expect("the floor's table");
    let verifier = Arc::new(Verifier::new(auth).expect("the floor's token verifier"));
    let service = InterceptedService::new(PlatformServiceServer::new(Floor { pool }), AuthInterceptor::new(verifier));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port for the floor");
    let addr = listener.local_addr().expect("the floor's address");
    tokio::spawn(
        Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(yuetan_platform::server::incoming(listener), shutdown.cancelled_owned()),
    );
    Channel::from_shared(format!("http://{addr}"))
        .expect("the floor's URL")
        .tcp_nodelay(true)
        .connect()
        .await
        .expect("connecting to the floor")
}

/// One floor call: `request` carries the caller's bearer token.
pub async fn call(channel: &Channel, request: Request<WhoAmIRequest>) -> Result<(), Status> {
    PlatformServiceClient::new(channel.clone()).who_am_i(request).await.map(|_| ())
}
