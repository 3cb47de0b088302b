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

/// Services a path may name, and the process that serves each: the case-file
/// service is supervision's; the platform's own service (`WhoAmI`,
/// `GetStatus`) is served by every process.
fn service_of(path: &str) -> Option<&str> {
    let package = path.strip_prefix("/yuetan.")?;
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
                Channel::balance_list(list.into_iter())
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
        assert_eq!(service_of("/grpc.health.v1.Health/Check"), None);
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
