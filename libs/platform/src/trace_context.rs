//! W3C trace context across process boundaries: in gRPC metadata and in NATS
//! headers, so one case is one trace from the officer's click to the last
//! consumer.
//!
//! When no OpenTelemetry layer is installed (unit tests, or telemetry off) the
//! current span has no trace id; [`current_traceparent`] then starts a new
//! trace rather than sending nothing, so every event carries a `traceparent`.

use std::collections::HashMap;

use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TraceContextExt;
use opentelemetry::Context;
use rand::Rng;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The `traceparent` of the current span, or of a new trace if there is none.
pub fn current_traceparent() -> String {
    let mut carrier: HashMap<String, String> = HashMap::new();
    let context = tracing::Span::current().context();
    if context.span().span_context().is_valid() {
        opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.inject_context(&context, &mut carrier);
        });
    }
    match carrier.remove("traceparent") {
        Some(value) => value,
        None => new_traceparent(),
    }
}

/// A fresh, sampled `traceparent` (version 00).
pub fn new_traceparent() -> String {
    let mut rng = rand::thread_rng();
    let trace_id: u128 = rng.gen_range(1..=u128::MAX);
    let span_id: u64 = rng.gen_range(1..=u64::MAX);
    format!("00-{trace_id:032x}-{span_id:016x}-01")
}

/// Checks the W3C `traceparent` shape: `00-<32 hex>-<16 hex>-<2 hex>`, ids not all zero.
pub fn is_valid_traceparent(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let hex = |s: &str, len: usize| s.len() == len && s.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase());
    parts.len() == 4
        && hex(parts[0], 2)
        && hex(parts[1], 32)
        && hex(parts[2], 16)
        && hex(parts[3], 2)
        && parts[1].chars().any(|c| c != '0')
        && parts[2].chars().any(|c| c != '0')
}

/// Makes `parent` (a `traceparent` value) the parent of `span`, if telemetry
/// is on. Used by the consumer runner and the gRPC server.
pub fn set_parent(span: &tracing::Span, carrier: &dyn Extractor) {
    let parent: Context = opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(carrier));
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
}

/// Reads trace headers from NATS message headers.
pub struct NatsHeaders<'a>(pub &'a async_nats::HeaderMap);

impl Extractor for NatsHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|value| value.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name.as_ref()).collect()
    }
}

/// Reads trace headers from HTTP/2 (gRPC) request headers.
pub struct HttpHeaders<'a>(pub &'a http::HeaderMap);

impl Extractor for HttpHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|name| name.as_str()).collect()
    }
}

/// Writes trace headers into gRPC request metadata (client side).
pub struct GrpcMetadata<'a>(pub &'a mut tonic::metadata::MetadataMap);

impl Injector for GrpcMetadata<'_> {
    fn set(&mut self, key: &str, value: String) {
        let Ok(key) = tonic::metadata::MetadataKey::from_bytes(key.as_bytes()) else { return };
        let Ok(value) = tonic::metadata::MetadataValue::try_from(value) else { return };
        self.0.insert(key, value);
    }
}

/// A tonic client interceptor that carries the current trace to the server.
pub fn inject_grpc<T>(mut request: tonic::Request<T>) -> Result<tonic::Request<T>, tonic::Status> {
    let traceparent = current_traceparent();
    GrpcMetadata(request.metadata_mut()).set("traceparent", traceparent);
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_traceparent_is_well_formed_and_unique() {
        let a = new_traceparent();
        let b = new_traceparent();
        assert!(is_valid_traceparent(&a), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn malformed_traceparents_are_recognised() {
        assert!(!is_valid_traceparent("00-0000-1111-01"));
        assert!(!is_valid_traceparent(&format!("00-{}-{}-01", "0".repeat(32), "1".repeat(16))));
        assert!(is_valid_traceparent(&format!("00-{}-{}-01", "a".repeat(32), "1".repeat(16))));
    }
}
