//! Metrics operators can watch (issue 14): OpenTelemetry instruments on one
//! `SdkMeterProvider` per process, exported two ways —
//!
//! - over OTLP (gRPC) when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, as traces
//!   are ([`crate::telemetry`]), every `OTEL_METRIC_EXPORT_INTERVAL` ms
//!   (the SDK's default: 60 s);
//! - as a Prometheus scrape endpoint, `GET /metrics` in the text format
//!   0.0.4, on `[metrics] listen` (absent: no endpoint).
//!
//! The endpoint renders an SDK [`ManualReader`]'s collection itself
//! ([`render`]). The `opentelemetry-prometheus` crate is discontinued (its
//! own README: no longer maintained, the `protobuf` crate it used has open
//! advisories; the project recommends OTLP into Prometheus instead), so it
//! is not used; the text format is small and stable.
//!
//! What is measured (docs/operations.md says what to do when each rises):
//!
//! | Prometheus name | kind | labels | source |
//! |---|---|---|---|
//! | `yuetan_rpc_duration_seconds` | histogram | `method`, `code` | [`RpcMetricsLayer`] on the gRPC server |
//! | `yuetan_portal_requests_total` | counter | `route`, `status` | [`count_portal_request`] on the portal's router |
//! | `yuetan_outbox_backlog` | gauge | `schema` | [`Collector`]: rows in `outbox` (all unsent) |
//! | `yuetan_outbox_oldest_unsent_seconds` | gauge | `schema` | [`Collector`]: age of the oldest |
//! | `yuetan_consumer_lag` | gauge | `consumer` | [`Collector`]: JetStream `num_pending + num_ack_pending` |
//! | `yuetan_consumer_redeliveries` | gauge | `consumer` | [`Collector`]: JetStream `num_redelivered` |
//! | `yuetan_dead_letters` | gauge | `schema`, `consumer` | [`Collector`]: open dead letters |
//! | `yuetan_timers_due` | gauge | `schema` | [`Collector`]: due, not fired |
//! | `yuetan_timers_late` | gauge | `schema` | [`Collector`]: due more than `timer_lateness_secs` ago |
//! | `yuetan_deliveries_total` | gauge | `channel`, `outcome` | [`Collector`]: scheduling's `attempts` by channel and status |
//! | `yuetan_process_resident_bytes` | gauge | — | `/proc/self/status` `VmRSS`, read at each collection |
//!
//! `code` is the canonical gRPC status name (`OK`, `INVALID_ARGUMENT`,
//! `UNAVAILABLE`, …); `CANCELLED` also when the client went away before a
//! status was sent. `method` is the full gRPC path
//! (`/yuetan.intake.v1.IntakeService/RegisterClue`); calls answered
//! `UNIMPLEMENTED` are counted under `method="other"`, so probes of made-up
//! paths cannot add series.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use opentelemetry::metrics::{Counter, Gauge, Histogram, Meter, MeterProvider as _, ObservableGauge};
use opentelemetry::KeyValue;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{InstrumentKind, ManualReader, Pipeline, SdkMeterProvider, Temporality};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_stream::StreamExt as _;
use tokio_util::sync::CancellationToken;

use crate::bus::Bus;
use crate::config::{validate_identifier, Config};
use crate::error::Error;

/// `[metrics]`: the scrape endpoint and the collector of the database and
/// JetStream gauges. Env overrides: `YUETAN_METRICS__LISTEN`, …
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct MetricsSettings {
    /// Address of `GET /metrics`, e.g. `127.0.0.1:9464`. Absent: no endpoint.
    pub listen: Option<SocketAddr>,
    /// How often the collector reads the outbox, timers, dead letters,
    /// deliveries and consumer lag (seconds).
    pub collect_interval_secs: u64,
    /// A timer due longer ago than this counts as late (`yuetan_timers_late`).
    pub timer_lateness_secs: u64,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self { listen: None, collect_interval_secs: 5, timer_lateness_secs: 60 }
    }
}

impl MetricsSettings {
    pub fn load(config: &Config) -> Result<Self, Error> {
        let settings: Self = config.section("metrics")?;
        if settings.collect_interval_secs == 0 {
            return Err(Error::invalid("metrics.collect_interval_secs", "must be at least 1"));
        }
        Ok(settings)
    }
}

/// The process's meter provider, its Prometheus reader and the instruments.
struct Registry {
    provider: SdkMeterProvider,
    reader: SharedReader,
    rpc_duration: Histogram<f64>,
    portal_requests: Counter<u64>,
    outbox_backlog: Gauge<u64>,
    outbox_oldest: Gauge<f64>,
    consumer_lag: Gauge<u64>,
    consumer_redeliveries: Gauge<u64>,
    dead_letters: Gauge<u64>,
    timers_due: Gauge<u64>,
    timers_late: Gauge<u64>,
    deliveries: Gauge<u64>,
    _resident: ObservableGauge<u64>,
}

static REGISTRY: OnceLock<Registry> = OnceLock::new();

/// Seconds: from 1 ms to 10 s (the RPCs' p50s are milliseconds; a 3 s p99
/// is a fault).
const RPC_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Installs the meter provider, with an OTLP exporter when `otlp` (first
/// call wins; [`crate::telemetry::init`] calls it with the environment's
/// answer). Returns the provider, for shutdown.
pub fn install(service: &str, otlp: bool) -> Result<SdkMeterProvider, Error> {
    if let Some(registry) = REGISTRY.get() {
        return Ok(registry.provider.clone());
    }
    let mut builder = SdkMeterProvider::builder()
        .with_resource(opentelemetry_sdk::Resource::builder().with_service_name(format!("yuetan-{service}")).build());
    if otlp {
        let exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_tonic()
            .build()
            .map_err(|err| Error::invalid("OTEL_EXPORTER_OTLP_ENDPOINT", err.to_string()))?;
        builder = builder.with_periodic_exporter(exporter);
    }
    Ok(REGISTRY.get_or_init(|| Registry::new(builder)).provider.clone())
}

fn registry() -> &'static Registry {
    REGISTRY.get_or_init(|| Registry::new(SdkMeterProvider::builder()))
}

impl Registry {
    fn new(builder: opentelemetry_sdk::metrics::MeterProviderBuilder) -> Self {
        let reader = SharedReader(Arc::new(ManualReader::builder().with_temporality(Temporality::Cumulative).build()));
        let provider = builder.with_reader(reader.clone()).build();
        opentelemetry::global::set_meter_provider(provider.clone());
        let meter: Meter = provider.meter("yuetan");
        let gauge = |name: &'static str, description: &'static str| meter.u64_gauge(name).with_description(description).build();
        Registry {
            rpc_duration: meter
                .f64_histogram("yuetan_rpc_duration_seconds")
                .with_unit("s")
                .with_description("gRPC calls served, by full method path and status code")
                .with_boundaries(RPC_BUCKETS.to_vec())
                .build(),
            portal_requests: meter
                .u64_counter("yuetan_portal_requests")
                .with_description("HTTP requests the portal answered, by route and status")
                .build(),
            outbox_backlog: gauge("yuetan_outbox_backlog", "Events committed to the outbox and not yet published"),
            outbox_oldest: meter
                .f64_gauge("yuetan_outbox_oldest_unsent_seconds")
                .with_unit("s")
                .with_description("Age of the oldest unpublished outbox event (0 when none)")
                .build(),
            consumer_lag: gauge("yuetan_consumer_lag", "Events not yet delivered plus delivered and not yet acknowledged"),
            consumer_redeliveries: gauge("yuetan_consumer_redeliveries", "Messages JetStream is redelivering to the consumer"),
            dead_letters: gauge("yuetan_dead_letters", "Open dead letters"),
            timers_due: gauge("yuetan_timers_due", "Timers due and not yet fired"),
            timers_late: gauge("yuetan_timers_late", "Timers due longer than the lateness setting ago and not yet fired"),
            deliveries: gauge("yuetan_deliveries_total", "Service attempts of documents to parties, by channel and current outcome"),
            _resident: meter
                .u64_observable_gauge("yuetan_process_resident_bytes")
                .with_unit("By")
                .with_description("Resident set size of the process (VmRSS)")
                .with_callback(|observer| {
                    if let Some(bytes) = resident_bytes() {
                        observer.observe(bytes, &[]);
                    }
                })
                .build(),
            provider,
            reader,
        }
    }
}

/// `VmRSS` of `/proc/self/status`, in bytes (Linux; `None` elsewhere).
pub fn resident_bytes() -> Option<u64> {
    proc_status_bytes(None, "VmRSS")
}

/// A memory field of `/proc/<pid>/status` (this process's without a pid),
/// e.g. `VmRSS`, `RssAnon`, `RssFile`, in bytes (Linux; `None` elsewhere).
pub fn proc_status_bytes(pid: Option<u32>, field: &str) -> Option<u64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_string(),
    };
    let status = std::fs::read_to_string(path).ok()?;
    let value = status.lines().find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))?;
    let kib: u64 = value.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

/// A [`ManualReader`] the provider and the endpoint share.
#[derive(Debug, Clone)]
struct SharedReader(Arc<ManualReader>);

impl MetricReader for SharedReader {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.0.register_pipeline(pipeline)
    }
    fn collect(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
        self.0.collect(rm)
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.0.temporality(kind)
    }
}

// ---------------------------------------------------------------------------
// The Prometheus text format

/// The process's metrics in the Prometheus text format 0.0.4.
pub fn scrape() -> Result<String, Error> {
    let mut collected = ResourceMetrics::default();
    registry().reader.collect(&mut collected).map_err(|err| Error::Internal(format!("collecting metrics: {err}")))?;
    Ok(render(&collected))
}

/// One metric family's text.
#[derive(Default)]
struct Family {
    kind: &'static str,
    help: String,
    samples: String,
}

/// Renders a collection as Prometheus text: a monotonic sum is a counter
/// (`_total` added), a non-monotonic sum or a gauge a gauge, a histogram
/// `_bucket` (cumulative, `le`), `_sum` and `_count`. Names are used as
/// given (the instruments carry their Prometheus names); exponential
/// histograms are not rendered (none is recorded).
pub fn render(collected: &ResourceMetrics) -> String {
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    for scope in collected.scope_metrics() {
        for metric in scope.metrics() {
            let name = sanitize_name(metric.name());
            match metric.data() {
                AggregatedMetrics::F64(data) => render_data(&mut families, &name, metric.description(), data, |v| *v),
                AggregatedMetrics::U64(data) => render_data(&mut families, &name, metric.description(), data, |v| *v as f64),
                AggregatedMetrics::I64(data) => render_data(&mut families, &name, metric.description(), data, |v| *v as f64),
            }
        }
    }
    let mut out = String::new();
    for (name, family) in families {
        if family.samples.is_empty() {
            continue;
        }
        let _ = writeln!(out, "# HELP {name} {}", escape_help(&family.help));
        let _ = writeln!(out, "# TYPE {name} {}", family.kind);
        out.push_str(&family.samples);
    }
    out
}

fn render_data<T: Copy>(
    families: &mut BTreeMap<String, Family>,
    name: &str,
    help: &str,
    data: &MetricData<T>,
    value: impl Fn(&T) -> f64,
) {
    match data {
        MetricData::Gauge(gauge) => {
            let family = families.entry(name.to_string()).or_default();
            family.kind = "gauge";
            family.help = help.to_string();
            let mut points: Vec<(String, f64)> =
                gauge.data_points().map(|point| (labels(point.attributes(), None), value(&point.value()))).collect();
            points.sort_by(|a, b| a.0.cmp(&b.0));
            for (labels, point) in points {
                sample(&mut family.samples, name, &labels, point);
            }
        }
        MetricData::Sum(sum) => {
            let (family_name, kind) = if sum.is_monotonic() {
                let total = if name.ends_with("_total") { name.to_string() } else { format!("{name}_total") };
                (total, "counter")
            } else {
                (name.to_string(), "gauge")
            };
            let entry = families.entry(family_name.clone()).or_default();
            entry.kind = kind;
            entry.help = help.to_string();
            let mut points: Vec<(String, f64)> =
                sum.data_points().map(|point| (labels(point.attributes(), None), value(&point.value()))).collect();
            points.sort_by(|a, b| a.0.cmp(&b.0));
            for (labels, point) in points {
                sample(&mut entry.samples, &family_name, &labels, point);
            }
        }
        MetricData::Histogram(histogram) => {
            let entry = families.entry(name.to_string()).or_default();
            entry.kind = "histogram";
            entry.help = help.to_string();
            let mut points: Vec<_> = histogram.data_points().map(|point| (labels(point.attributes(), None), point)).collect();
            points.sort_by(|a, b| a.0.cmp(&b.0));
            for (plain, point) in points {
                let mut cumulative = 0u64;
                let bounds: Vec<f64> = point.bounds().collect();
                for (i, count) in point.bucket_counts().enumerate() {
                    cumulative += count;
                    let le = bounds.get(i).map(|b| format_value(*b)).unwrap_or_else(|| "+Inf".to_string());
                    sample(&mut entry.samples, &format!("{name}_bucket"), &labels(point.attributes(), Some(&le)), cumulative as f64);
                }
                if bounds.len() + 1 != point.bucket_counts().count() {
                    sample(&mut entry.samples, &format!("{name}_bucket"), &labels(point.attributes(), Some("+Inf")), point.count() as f64);
                }
                sample(&mut entry.samples, &format!("{name}_sum"), &plain, value(&point.sum()));
                sample(&mut entry.samples, &format!("{name}_count"), &plain, point.count() as f64);
            }
        }
        MetricData::ExponentialHistogram(_) => {}
    }
}

/// `{k="v",…}` (empty string without labels), with `le` last for buckets.
fn labels<'a>(attributes: impl Iterator<Item = &'a KeyValue>, le: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> =
        attributes.map(|kv| (sanitize_name(kv.key.as_str()), kv.value.as_str().into_owned())).collect();
    pairs.sort();
    if let Some(le) = le {
        pairs.push(("le".to_string(), le.to_string()));
    }
    if pairs.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}=\"{}\"", escape_label(v))).collect();
    format!("{{{}}}", inner.join(","))
}

fn sample(out: &mut String, name: &str, labels: &str, value: f64) {
    let _ = writeln!(out, "{name}{labels} {}", format_value(value));
}

fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        format!("{value}")
    }
}

/// Metric and label names: `[a-zA-Z_:][a-zA-Z0-9_:]*`, anything else `_`.
fn sanitize_name(name: &str) -> String {
    let mut out: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == ':' { c } else { '_' }).collect();
    if out.chars().next().is_none_or(|c| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

fn escape_label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

// ---------------------------------------------------------------------------
// The scrape endpoint

/// Binds the scrape endpoint's listener (port 0: a free port).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|err| Error::Unavailable(format!("binding the metrics listener on {addr}: {err}")))
}

/// Serves `GET /metrics` on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, shutdown: CancellationToken) -> Result<(), Error> {
    let app = axum::Router::new().route("/metrics", axum::routing::get(metrics_page));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .map_err(|err| Error::Internal(format!("metrics endpoint: {err}")))
}

async fn metrics_page() -> axum::response::Response {
    use axum::response::IntoResponse as _;
    match scrape() {
        Ok(text) => ([(http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response(),
        Err(err) => (http::StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
    }
}

// ---------------------------------------------------------------------------
// gRPC calls

/// The gRPC server's layer that times every call into
/// `yuetan_rpc_duration_seconds{method, code}`: from the request's arrival
/// to the end of the response body (the status is in the trailers, or in
/// the headers of a trailers-only answer).
#[derive(Debug, Clone, Copy, Default)]
pub struct RpcMetricsLayer;

impl<S> tower::Layer<S> for RpcMetricsLayer {
    type Service = RpcMetrics<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RpcMetrics { inner }
    }
}

/// See [`RpcMetricsLayer`].
#[derive(Debug, Clone)]
pub struct RpcMetrics<S> {
    inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for RpcMetrics<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = request.uri().path().to_string();
        let start = Instant::now();
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await;
            match response {
                Ok(response) => {
                    let code = status_of(response.headers());
                    let (parts, body) = response.into_parts();
                    let mut recording = Recording { method, start, code, done: false };
                    // A trailers-only answer (an error) has its status here
                    // and nothing more to wait for.
                    if code.is_some() {
                        recording.finish();
                    }
                    Ok(http::Response::from_parts(parts, tonic::body::Body::new(RecordingBody { inner: body, recording })))
                }
                Err(err) => {
                    record_rpc(&method, tonic::Code::Unknown, start.elapsed());
                    Err(err)
                }
            }
        })
    }
}

fn status_of(headers: &http::HeaderMap) -> Option<tonic::Code> {
    headers
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<i32>().ok())
        .map(tonic::Code::from)
}

struct Recording {
    method: String,
    start: Instant,
    code: Option<tonic::Code>,
    done: bool,
}

impl Recording {
    fn finish(&mut self) {
        if !self.done {
            self.done = true;
            record_rpc(&self.method, self.code.unwrap_or(tonic::Code::Cancelled), self.start.elapsed());
        }
    }
}

/// A response body that records its call when it ends (trailers seen, end
/// of stream, or dropped: the client went away).
struct RecordingBody {
    inner: tonic::body::Body,
    recording: Recording,
}

impl Drop for RecordingBody {
    fn drop(&mut self) {
        self.recording.finish();
    }
}

impl http_body::Body for RecordingBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(code) = frame.trailers_ref().and_then(status_of) {
                    this.recording.code = Some(code);
                    this.recording.finish();
                }
            }
            Poll::Ready(Some(Err(status))) => {
                this.recording.code = Some(status.code());
                this.recording.finish();
            }
            Poll::Ready(None) => this.recording.finish(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

fn record_rpc(method: &str, code: tonic::Code, elapsed: Duration) {
    // Made-up paths must not add series: an unknown method is `other`.
    let method = if code == tonic::Code::Unimplemented || method.len() > 128 { "other" } else { method };
    registry().rpc_duration.record(
        elapsed.as_secs_f64(),
        &[KeyValue::new("method", method.to_string()), KeyValue::new("code", code_name(code))],
    );
}

/// The canonical gRPC name of a status code (`OK`, `INVALID_ARGUMENT`, …).
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

// ---------------------------------------------------------------------------
// The portal's HTTP requests

/// Counts each portal request into
/// `yuetan_portal_requests_total{route, status}`: `route` is the matched
/// route template (`/d/{token}`, never the token itself). Add it with
/// `Router::route_layer(axum::middleware::from_fn(count_portal_request))`.
pub async fn count_portal_request(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|path| path.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let response = next.run(request).await;
    registry().portal_requests.add(
        1,
        &[KeyValue::new("route", route), KeyValue::new("status", response.status().as_u16().to_string())],
    );
    response
}

// ---------------------------------------------------------------------------
// The collector of the database and JetStream gauges

/// Which durable consumers of the stream a process reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consumers {
    /// None (a process that runs no consumer).
    None,
    /// Every durable consumer on the stream (`serve all`).
    All,
    /// Those whose name starts with one of these (`intake-`, `review-`, …).
    Prefixed(Vec<String>),
}

impl Consumers {
    fn includes(&self, name: &str) -> bool {
        match self {
            Consumers::None => false,
            Consumers::All => true,
            Consumers::Prefixed(prefixes) => prefixes.iter().any(|prefix| name.starts_with(prefix.as_str())),
        }
    }
}

/// Reads the gauges every `interval` from the schemas a process serves
/// (outbox, timers, dead letters, scheduling's delivery attempts) and from
/// JetStream (its consumers' lag and redeliveries). A series that was
/// reported once and is gone (a consumer's dead letters all settled) is
/// reported as 0, not dropped, so a graph falls to zero.
pub struct Collector {
    pool: PgPool,
    schemas: Vec<String>,
    lateness: Duration,
    bus: Option<Bus>,
    nats: Option<crate::config::NatsConfig>,
    consumers: Consumers,
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    dead_letters: BTreeSet<(String, String)>,
    deliveries: BTreeSet<(String, String)>,
    consumers: BTreeSet<String>,
}

impl Collector {
    /// Over `schemas`, on `pool` (any schema on its search path: the tables
    /// are named with their schema), e.g. [`crate::deadletter::status_pool`].
    pub fn new(pool: PgPool, schemas: Vec<String>, lateness: Duration) -> Result<Self, Error> {
        for schema in &schemas {
            validate_identifier("schema", schema)?;
        }
        Ok(Self { pool, schemas, lateness, bus: None, nats: None, consumers: Consumers::None, seen: Mutex::default() })
    }

    /// Reports `consumers` of `bus`'s stream.
    pub fn with_bus(mut self, bus: Bus, consumers: Consumers) -> Self {
        self.bus = Some(bus);
        self.consumers = consumers;
        self
    }

    /// Reports `consumers`, connecting to NATS with `nats` when first needed
    /// (and again after a failure).
    pub fn with_nats(mut self, nats: crate::config::NatsConfig, consumers: Consumers) -> Self {
        self.nats = Some(nats);
        self.consumers = consumers;
        self
    }

    /// One reading of every gauge. A schema whose tables are not there yet
    /// (not migrated) is skipped; an error of one source does not stop the
    /// others, and the first is returned.
    pub async fn collect_once(&mut self) -> Result<(), Error> {
        let mut first_error = None;
        for schema in self.schemas.clone() {
            if let Err(err) = self.collect_schema(&schema).await {
                first_error.get_or_insert(err);
            }
        }
        if self.consumers != Consumers::None {
            if let Err(err) = self.collect_consumers().await {
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn collect_schema(&self, schema: &str) -> Result<(), Error> {
        let registry = registry();
        let at = [KeyValue::new("schema", schema.to_string())];
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = $1 AND table_name IN ('outbox', 'timers', 'dead_letters', 'attempts')",
        )
        .bind(schema)
        .fetch_all(&self.pool)
        .await?;
        let has = |table: &str| tables.iter().any(|t| t == table);

        if has("outbox") {
            let (backlog, oldest): (i64, f64) = sqlx::query_as(&format!(
                "SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8 FROM \"{schema}\".outbox"
            ))
            .fetch_one(&self.pool)
            .await?;
            registry.outbox_backlog.record(u64::try_from(backlog).unwrap_or(0), &at);
            registry.outbox_oldest.record(oldest.max(0.0), &at);
        }
        if has("timers") {
            let (due, late): (i64, i64) = sqlx::query_as(&format!(
                "SELECT count(*), count(*) FILTER (WHERE due_at <= now() - make_interval(secs => $1))
                 FROM \"{schema}\".timers WHERE fired_at IS NULL AND cancelled_at IS NULL AND due_at <= now()"
            ))
            .bind(self.lateness.as_secs_f64())
            .fetch_one(&self.pool)
            .await?;
            registry.timers_due.record(u64::try_from(due).unwrap_or(0), &at);
            registry.timers_late.record(u64::try_from(late).unwrap_or(0), &at);
        }
        if has("dead_letters") {
            let open: Vec<(String, i64)> = sqlx::query_as(&format!(
                "SELECT consumer, count(*) FROM \"{schema}\".dead_letters WHERE resolved_at IS NULL GROUP BY consumer"
            ))
            .fetch_all(&self.pool)
            .await?;
            let now: HashMap<(String, String), i64> =
                open.into_iter().map(|(consumer, count)| ((schema.to_string(), consumer), count)).collect();
            let keys = self.remember(|seen| &mut seen.dead_letters, now.keys().cloned(), |(s, _)| s == schema);
            for key in keys {
                let count = now.get(&key).copied().unwrap_or(0);
                registry.dead_letters.record(
                    u64::try_from(count).unwrap_or(0),
                    &[KeyValue::new("schema", key.0), KeyValue::new("consumer", key.1)],
                );
            }
        }
        if has("attempts") {
            let attempts: Vec<(String, String, i64)> =
                sqlx::query_as(&format!("SELECT channel, status, count(*) FROM \"{schema}\".attempts GROUP BY 1, 2"))
                    .fetch_all(&self.pool)
                    .await?;
            let now: HashMap<(String, String), i64> =
                attempts.into_iter().map(|(channel, status, count)| ((channel, status), count)).collect();
            let keys = self.remember(|seen| &mut seen.deliveries, now.keys().cloned(), |_| true);
            for key in keys {
                let count = now.get(&key).copied().unwrap_or(0);
                registry.deliveries.record(
                    u64::try_from(count).unwrap_or(0),
                    &[KeyValue::new("channel", key.0), KeyValue::new("outcome", key.1)],
                );
            }
        }
        Ok(())
    }

    /// Adds `now` to the remembered keys and returns every remembered key
    /// that `mine` selects (those of this reading, and those gone since).
    fn remember<K: Ord + Clone>(
        &self,
        set: impl Fn(&mut Seen) -> &mut BTreeSet<K>,
        now: impl Iterator<Item = K>,
        mine: impl Fn(&K) -> bool,
    ) -> Vec<K> {
        let mut seen = self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let set = set(&mut seen);
        set.extend(now);
        set.iter().filter(|key| mine(key)).cloned().collect()
    }

    async fn collect_consumers(&mut self) -> Result<(), Error> {
        if self.bus.is_none() {
            let Some(nats) = &self.nats else { return Ok(()) };
            let connected = tokio::time::timeout(Duration::from_secs(10), Bus::connect(nats))
                .await
                .map_err(|_| Error::Unavailable("connecting to nats for the consumer metrics: timed out".into()))??;
            self.bus = Some(connected);
        }
        let Some(bus) = self.bus.clone() else { return Ok(()) };
        // The client reconnects by itself after NATS restarts.
        let stream = bus
            .jetstream
            .get_stream(&bus.stream)
            .await
            .map_err(|err| Error::Unavailable(format!("stream {} for the consumer metrics: {err}", bus.stream)))?;
        let mut infos = stream.consumers();
        let mut now: HashMap<String, (u64, u64)> = HashMap::new();
        while let Some(info) = infos.next().await {
            let info = info.map_err(|err| Error::Unavailable(format!("listing consumers: {err}")))?;
            if info.config.durable_name.is_none() || !self.consumers.includes(&info.name) {
                continue;
            }
            let lag = info.num_pending + info.num_ack_pending as u64;
            now.insert(info.name.clone(), (lag, info.num_redelivered as u64));
        }
        let registry = registry();
        for name in self.remember(|seen| &mut seen.consumers, now.keys().cloned(), |_| true) {
            let (lag, redelivered) = now.get(&name).copied().unwrap_or((0, 0));
            let at = [KeyValue::new("consumer", name)];
            registry.consumer_lag.record(lag, &at);
            registry.consumer_redeliveries.record(redelivered, &at);
        }
        Ok(())
    }

    /// Reads every `interval` until `shutdown`; failures are logged (at most
    /// once a minute) and the next reading tries again.
    pub async fn run(mut self, interval: Duration, shutdown: CancellationToken) {
        let mut last_warning: Option<Instant> = None;
        loop {
            if let Err(err) = self.collect_once().await {
                if last_warning.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
                    tracing::warn!(error = %err, "metrics collector: a reading failed; trying again");
                    last_warning = Some(Instant::now());
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(interval) => {}
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Wiring for `yuetan serve`

/// Starts a process's metrics: the collector over the schemas of `served`
/// (the services this process runs, `platform` included) and, with
/// `[metrics] listen`, the scrape endpoint. Nothing runs when there is no
/// endpoint and no OTLP export. Returns the tasks (they stop on `shutdown`).
pub async fn start(config: &Config, served: &[&str], shutdown: CancellationToken) -> Result<Vec<JoinHandle<()>>, Error> {
    let settings = MetricsSettings::load(config)?;
    let exporting = std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some();
    let mut tasks = Vec::new();
    if settings.listen.is_none() && !exporting {
        return Ok(tasks);
    }
    install(&config.service, exporting)?;
    if let Some(addr) = settings.listen {
        let listener = bind(addr).await?;
        let local = listener.local_addr().map_err(|err| Error::Internal(format!("the metrics listener: {err}")))?;
        println!("yuetan {} serving metrics on http://{local}/metrics", config.service);
        let stop = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(err) = serve(listener, stop).await {
                tracing::error!(error = %err, "metrics endpoint stopped");
            }
        }));
    }
    let schemas: Vec<String> =
        served.iter().map(|service| if config.service == *service { config.schema() } else { service.to_string() }).collect();
    // Consumers are named after their service (`review-intake`); the
    // platform and the portal run none.
    let prefixes: Vec<String> = served
        .iter()
        .filter(|service| !matches!(**service, "platform" | "portal"))
        .map(|service| format!("{service}-"))
        .collect();
    let consumers = if config.service == "all" {
        Consumers::All
    } else if prefixes.is_empty() {
        Consumers::None
    } else {
        Consumers::Prefixed(prefixes)
    };
    let pool = crate::deadletter::status_pool(config.database.url.expose())?;
    let lateness = Duration::from_secs(settings.timer_lateness_secs);
    let collector = Collector::new(pool, schemas, lateness)?.with_nats(config.nats.clone(), consumers);
    let interval = Duration::from_secs(settings.collect_interval_secs);
    tasks.push(tokio::spawn(collector.run(interval, shutdown)));
    Ok(tasks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_sorted() {
        let attributes = [KeyValue::new("b", "x\"y\\z\nw"), KeyValue::new("a", "1")];
        assert_eq!(labels(attributes.iter(), Some("0.5")), "{a=\"1\",b=\"x\\\"y\\\\z\\nw\",le=\"0.5\"}");
        assert_eq!(labels([].iter(), None), "");
    }

    #[test]
    fn names_are_sanitized() {
        assert_eq!(sanitize_name("yuetan.rpc-duration"), "yuetan_rpc_duration");
        assert_eq!(sanitize_name("9lives"), "_9lives");
    }

    #[test]
    fn values_use_the_text_format() {
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(3.0), "3");
        assert_eq!(format_value(0.25), "0.25");
    }

    #[test]
    fn resident_bytes_are_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(resident_bytes().unwrap() > 0);
            let own = std::process::id();
            assert!(proc_status_bytes(Some(own), "RssAnon").unwrap() > 0, "another field, by pid");
            assert!(proc_status_bytes(Some(own), "Rss").is_none(), "a field is matched whole, not by prefix");
        }
    }
}
