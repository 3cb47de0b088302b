//! A gRPC client channel for a split deployment: each service runs as its own
//! processes (`yuetan serve intake`, …, two replicas each), so a client —
//! the demo, the chaos run, the benchmark, an operator's tool — sends each
//! call to the processes that serve its service. [`Routed`] picks the
//! service by the call's path (`/yuetan.intake.v1.IntakeService/…` →
//! `intake`) and balances over that service's endpoints; a service without
//! endpoints of its own goes to the default address (`yuetan serve all`).
//!
//! Configured in `[client]`:
//!
//! ```toml
//! [client]
//! # service → its processes; absent services use grpc.listen
//! endpoints.intake = ["http://127.0.0.1:50061", "http://127.0.0.1:50062"]
//! ```
//!
//! A call that meets a dead replica fails `UNAVAILABLE`; the client retries
//! with the same request id (the answer is stored once, see `requests`).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tonic::body::Body;
use tonic::transport::{Channel, Endpoint};
use tower::{Service, ServiceExt};

use crate::error::Error;

/// `[client]`: where each service's processes listen.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientSettings {
    /// Service name (`intake`, `review`, `scheduling`, `rectification`,
    /// `supervision`, `casefile`, `platform`) → its gRPC URLs.
    pub endpoints: BTreeMap<String, Vec<String>>,
}

/// The service a call's path names (its package's first part, after
/// `yuetan.`), and the process that serves each: the case-file
/// service is supervision's; the platform's own service (`WhoAmI`,
/// `GetStatus`) is served by every process.
fn service_of(path: &str) -> Option<&str> {
    let path = path.strip_prefix('/')?;
    let package = path.strip_prefix("yuetan.").unwrap_or(path);
    let name = package.split('.').next()?;
    Some(match name {
        "casefile" => "supervision",
        other => other,
    })
}

/// The routing channel; cheap to clone, as a [`Channel`] is.
#[derive(Clone)]
pub struct Routed {
    routes: Arc<BTreeMap<String, Channel>>,
    default: Channel,
}

impl std::fmt::Debug for Routed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routed").field("services", &self.routes.keys().collect::<Vec<_>>()).finish()
    }
}

fn endpoint(field: &str, url: &str) -> Result<Endpoint, Error> {
    Ok(Endpoint::from_shared(url.to_string())
        .map_err(|err| Error::invalid(field, format!("{url}: {err}")))?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true))
}

impl Routed {
    /// Lazily connecting channels: to `default` (a URL such as
    /// `http://127.0.0.1:50051`) and to every configured service.
    pub fn new(default: &str, settings: &ClientSettings) -> Result<Routed, Error> {
        let default = endpoint("client.default", default)?.connect_lazy();
        let mut routes = BTreeMap::new();
        for (service, urls) in &settings.endpoints {
            let field = format!("client.endpoints.{service}");
            if urls.is_empty() {
                return Err(Error::invalid(&field, "lists no URL"));
            }
            let list = urls.iter().map(|url| endpoint(&field, url)).collect::<Result<Vec<_>, _>>()?;
            let channel = if list.len() == 1 {
                list.into_iter().next().expect("one endpoint").connect_lazy()
            } else {
                balanced(list)
            };
            routes.insert(service.clone(), channel);
        }
        Ok(Routed { routes: Arc::new(routes), default })
    }

    /// From a loaded configuration: `[client]`, defaulting to `grpc.listen`.
    pub fn from_config(config: &crate::Config) -> Result<Routed, Error> {
        let settings: ClientSettings = config.section("client")?;
        Routed::new(&format!("http://{}", config.grpc.listen), &settings)
    }

    fn pick(&self, path: &str) -> Channel {
        service_of(path).and_then(|service| self.routes.get(service)).unwrap_or(&self.default).clone()
    }
}

/// How often the replicas of a service are probed, and how long a probe waits.
const PROBE_EVERY: Duration = Duration::from_millis(500);
const PROBE_TIMEOUT: Duration = Duration::from_millis(300);

/// A channel over several replicas that leaves out the ones that do not
/// accept connections: a task probes each replica's port every
/// [`PROBE_EVERY`] and removes a dead one from the balancer, inserting it
/// again when it answers. (A balancer over lazily connecting endpoints
/// alone keeps sending calls to a killed replica.) When none answers, all
/// stay in, so calls fail `UNAVAILABLE` at once rather than wait. The task
/// ends when the channel is dropped.
fn balanced(list: Vec<Endpoint>) -> Channel {
    use tonic::transport::channel::Change;
    let (channel, changes) = Channel::balance_channel::<usize>(list.len().max(1));
    for (key, endpoint) in list.iter().enumerate() {
        let _ = changes.try_send(Change::Insert(key, endpoint.clone()));
    }
    tokio::spawn(async move {
        let mut inside = vec![true; list.len()];
        loop {
            tokio::time::sleep(PROBE_EVERY).await;
            if changes.is_closed() {
                return;
            }
            let mut alive = Vec::with_capacity(list.len());
            for endpoint in &list {
                alive.push(answers(endpoint.uri()).await);
            }
            let wanted: Vec<bool> = if alive.iter().any(|a| *a) { alive } else { vec![true; list.len()] };
            for (key, (want, has)) in wanted.iter().zip(inside.iter_mut()).enumerate() {
                if *want == *has {
                    continue;
                }
                let change = if *want { Change::Insert(key, list[key].clone()) } else { Change::Remove(key) };
                if changes.send(change).await.is_err() {
                    return;
                }
                *has = *want;
            }
        }
    });
    channel
}

/// Whether the endpoint's host accepts a TCP connection now.
async fn answers(uri: &http::Uri) -> bool {
    let Some(host) = uri.host() else { return false };
    let port = uri.port_u16().unwrap_or(if uri.scheme_str() == Some("https") { 443 } else { 80 });
    let host = host.trim_start_matches('[').trim_end_matches(']');
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect((host, port))).await,
        Ok(Ok(_))
    )
}

impl Service<http::Request<Body>> for Routed {
    type Response = http::Response<Body>;
    type Error = tonic::transport::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Each call readies its own channel (below).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let channel = self.pick(request.uri().path());
        Box::pin(channel.oneshot(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_names_the_service() {
        assert_eq!(service_of("/yuetan.intake.v1.IntakeService/RegisterClue"), Some("intake"));
        assert_eq!(service_of("/yuetan.casefile.v1.CaseFileService/GetCaseFile"), Some("supervision"));
        assert_eq!(service_of("/grpc.health.v1.Health/Check"), Some("grpc"));
        assert_eq!(service_of("no-slash"), None);
    }

    #[tokio::test]
    async fn a_killed_replica_is_left_out_and_calls_go_to_the_replicas_that_answer() {
        use tonic_health::pb::health_client::HealthClient;
        use tonic_health::pb::HealthCheckRequest;
        fn replica(listener: tokio::net::TcpListener) -> (tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
            let (_reporter, health) = tonic_health::server::health_reporter();
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(async move {
                let _ = tonic::transport::Server::builder()
                    .add_service(health)
                    .serve_with_incoming_shutdown(tokio_stream::wrappers::TcpListenerStream::new(listener), async {
                        let _ = stopped.await;
                    })
                    .await;
            });
            (stop, task)
        }
        let first = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let second = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (a, b) = (first.local_addr().unwrap(), second.local_addr().unwrap());
        let (stop_first, first_task) = replica(first);
        let (stop_second, second_task) = replica(second);
        let mut settings = ClientSettings::default();
        settings.endpoints.insert("grpc".into(), vec![format!("http://{a}"), format!("http://{b}")]);
        let routed = Routed::new("http://127.0.0.1:1", &settings).unwrap();
        // grpc.health.v1 routes as service "grpc" (the package's first part).
        let mut client = HealthClient::new(routed);
        for _ in 0..4 {
            client.check(HealthCheckRequest { service: String::new() }).await.expect("both replicas answer");
        }
        // The first replica goes away, its connections with it.
        let _ = stop_first.send(());
        let _ = first_task.await;
        // After a probe round, every call goes to the replica that is up.
        tokio::time::sleep(PROBE_EVERY * 3).await;
        for i in 0..20 {
            client.check(HealthCheckRequest { service: String::new() }).await.unwrap_or_else(|e| panic!("call {i} after the kill: {e}"));
        }
        // The first comes back on its port; then the second goes: the first
        // was taken back, so calls go on.
        let (_stop_again, _again) = replica(tokio::net::TcpListener::bind(a).await.unwrap());
        tokio::time::sleep(PROBE_EVERY * 3).await;
        let _ = stop_second.send(());
        let _ = second_task.await;
        tokio::time::sleep(PROBE_EVERY * 3).await;
        for i in 0..20 {
            client.check(HealthCheckRequest { service: String::new() }).await.unwrap_or_else(|e| panic!("call {i} after the restart: {e}"));
        }
    }

    #[tokio::test]
    async fn a_service_without_endpoints_goes_to_the_default() {
        let mut settings = ClientSettings::default();
        settings.endpoints.insert("intake".into(), vec!["http://127.0.0.1:1".into(), "http://127.0.0.1:2".into()]);
        let routed = Routed::new("http://127.0.0.1:3", &settings).unwrap();
        assert!(routed.routes.contains_key("intake"));
        assert!(!routed.routes.contains_key("review"));
        let bad = Routed::new("http://127.0.0.1:3", &ClientSettings { endpoints: [("review".to_string(), vec![])].into() });
        assert!(bad.unwrap_err().to_string().contains("client.endpoints.review"));
    }
}
