//! The gRPC server every service runs: its business services behind the
//! [`gate`](crate::gate) (token, role from the service's access table, size
//! and input checks, all before the handler), plus gRPC health and
//! reflection — `grpc.reflection.v1` and, for older clients,
//! `v1alpha` — open, so load balancers and `grpcurl` work without a token,
//! plus `WhoAmI`.
//!
//! Build and run are separate: [`bind`] takes the port (0 in tests: read the
//! real one from the listener), [`Services::serve`] runs until shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::service::RoutesBuilder;
use tonic::{Request, Response, Status};
use yuetan_proto::platform::platform_service_server::{PlatformService, PlatformServiceServer};
use yuetan_proto::platform::{GetStatusRequest, GetStatusResponse, WhoAmIRequest, WhoAmIResponse};

use crate::auth::{self, AuthInterceptor, Verifier};
use crate::gate::{GateService, Gated, PLATFORM_ACCESS};
use crate::error::Error;
use crate::trace_context;

/// Binds the gRPC listener. Port 0 picks a free port.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|err| Error::Unavailable(format!("binding gRPC listener on {addr}: {err}")))
}

/// The set of gRPC services one process serves.
pub struct Services {
    service: String,
    routes: RoutesBuilder,
    names: Vec<&'static str>,
    interceptor: AuthInterceptor,
    /// `GetStatus`'s database (dead letters), set by [`Services::with_status_pool`].
    status_pool: Arc<std::sync::OnceLock<sqlx::PgPool>>,
    /// Access tables that do not match the contract: the server refuses to start.
    faults: Vec<String>,
}

impl Services {
    /// Starts a set for `service` (its name is echoed by `WhoAmI`) whose
    /// business services are authenticated by `verifier`.
    pub fn new(service: &str, verifier: Arc<Verifier>) -> Self {
        let interceptor = AuthInterceptor::new(verifier);
        let status_pool = Arc::new(std::sync::OnceLock::new());
        let mut services = Self {
            service: service.to_string(),
            routes: RoutesBuilder::default(),
            names: Vec::new(),
            interceptor,
            status_pool: status_pool.clone(),
            faults: Vec::new(),
        };
        let whoami = WhoAmIService { service: services.service.clone(), status_pool };
        services = services.add_authenticated(Gated::new(PlatformServiceServer::new(whoami), PLATFORM_ACCESS));
        services
    }

    /// Lets `GetStatus` report the dead letters of the database behind
    /// `pool` ([`crate::deadletter::status_pool`]); without it, none.
    pub fn with_status_pool(self, pool: sqlx::PgPool) -> Self {
        let _ = self.status_pool.set(pool);
        self
    }

    /// Adds a business service behind the [gate](crate::gate): every call
    /// needs a valid bearer token and a role the service's access table
    /// admits for the method (a method not in the table is refused), and its
    /// request must fit the method's size and field bounds. The handler finds
    /// the [`crate::Actor`] in the request extensions ([`auth::actor`]).
    pub fn add_authenticated<S>(mut self, service: Gated<S>) -> Self
    where
        S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = std::convert::Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        match GateService::new(service, self.interceptor.clone()) {
            Ok(gated) => {
                self.names.push(S::NAME);
                self.routes.add_service(gated);
            }
            Err(fault) => self.faults.push(fault),
        }
        self
    }

    /// Serves until `shutdown`, then lets in-flight calls finish.
    pub async fn serve(self, listener: TcpListener, shutdown: CancellationToken) -> Result<(), Error> {
        if !self.faults.is_empty() {
            return Err(Error::Internal(format!("access tables do not match the contract: {}", self.faults.join("; "))));
        }
        let (reporter, health) = tonic_health::server::health_reporter();
        for name in &self.names {
            reporter.set_service_status(*name, tonic_health::ServingStatus::Serving).await;
        }
        // Both versions describe the same services, both reflection
        // services included, whichever a client asks.
        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .include_reflection_service(false)
                .register_encoded_file_descriptor_set(yuetan_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET)
        };
        let reflection_error = |err| Error::Internal(format!("building reflection: {err}"));
        let mut routes = self.routes;
        routes.add_service(health);
        routes.add_service(reflection().build_v1().map_err(reflection_error)?);
        // Older grpcurl builds and several GUI clients speak only v1alpha.
        routes.add_service(reflection().build_v1alpha().map_err(reflection_error)?);

        let addr = listener.local_addr().ok();
        tracing::info!(service = %self.service, ?addr, "grpc server listening");
        tonic::transport::Server::builder()
            .trace_fn(|request: &http::Request<()>| {
                let span = tracing::info_span!("grpc", path = %request.uri().path());
                trace_context::set_parent(&span, &trace_context::HttpHeaders(request.headers()));
                span
            })
            // yuetan_rpc_duration_seconds{method, code} (metrics.rs)
            .layer(crate::metrics::RpcMetricsLayer)
            .add_routes(routes.routes())
            .serve_with_incoming_shutdown(incoming(listener), shutdown.cancelled_owned())
            .await
            .map_err(|err| Error::Internal(format!("grpc server: {err}")))
    }
}

/// Accepted connections with `TCP_NODELAY`: tonic sets it only on listeners
/// it binds itself, and without it a response written in several frames
/// waits for the client's delayed ACK (≈40 ms per call on Linux).
pub fn incoming(listener: TcpListener) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    TcpListenerStream::new(listener).map(|stream| {
        if let Ok(stream) = &stream {
            if let Err(err) = stream.set_nodelay(true) {
                tracing::warn!(%err, "cannot set TCP_NODELAY");
            }
        }
        stream
    })
}

/// `WhoAmI`: echoes the verified identity of the caller.
#[derive(Debug, Clone)]
struct WhoAmIService {
    service: String,
    status_pool: Arc<std::sync::OnceLock<sqlx::PgPool>>,
}

#[tonic::async_trait]
impl PlatformService for WhoAmIService {
    async fn who_am_i(&self, request: Request<WhoAmIRequest>) -> Result<Response<WhoAmIResponse>, Status> {
        let actor = auth::actor(&request)?;
        Ok(Response::new(WhoAmIResponse {
            actor: Some(actor.to_proto()),
            qualifications: actor.qualifications.clone(),
            service: self.service.clone(),
        }))
    }

    /// `GetStatus` (admin): open dead letters, see [`crate::deadletter::status`].
    async fn get_status(&self, request: Request<GetStatusRequest>) -> Result<Response<GetStatusResponse>, Status> {
        let actor = auth::actor(&request)?;
        Ok(Response::new(crate::deadletter::status(self.status_pool.get(), &self.service, actor).await?))
    }
}
