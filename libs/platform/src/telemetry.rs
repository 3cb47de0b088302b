//! Logs, traces and metrics: `tracing` to stdout (pretty locally, JSON in
//! production) and, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, OTLP export
//! of traces and of the metrics ([`crate::metrics`], which also serves them
//! to Prometheus on `[metrics] listen`). The W3C propagator is installed either way, so `traceparent`
//! crosses gRPC and NATS even when nothing is exported.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogFormat, TelemetryConfig};
use crate::error::Error;

/// Keeps the trace exporter alive; dropping it flushes pending spans.
#[must_use = "dropping the guard stops trace export"]
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
    meters: opentelemetry_sdk::metrics::SdkMeterProvider,
    exporting: bool,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
        // Flushes the last metrics to the collector; without export the
        // provider stays, and a late scrape still answers.
        if self.exporting {
            let _ = self.meters.shutdown();
        }
    }
}

/// Installs the global subscriber for `service`. Call once, first thing in `main`.
pub fn init(service: &str, config: &TelemetryConfig) -> Result<TelemetryGuard, Error> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    let resource = Resource::builder().with_service_name(format!("yuetan-{service}")).build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    let exporting = std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some();
    if exporting {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .build()
            .map_err(|err| Error::invalid("OTEL_EXPORTER_OTLP_ENDPOINT", err.to_string()))?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    let meters = crate::metrics::install(service, exporting)?;
    opentelemetry::global::set_tracer_provider(provider.clone());
    let otel_layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("yuetan"));

    let filter = EnvFilter::try_new(&config.filter).map_err(|err| Error::invalid("telemetry.filter", err.to_string()))?;
    let fmt_layer = match config.format {
        LogFormat::Pretty => tracing_subscriber::fmt::layer().with_target(false).boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer().json().with_current_span(true).boxed(),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt_layer)
        .with(otel_layer)
        .try_init()
        .map_err(|err| Error::Internal(format!("telemetry already initialised: {err}")))?;
    tracing::debug!(exporting, "telemetry initialised");
    Ok(TelemetryGuard { provider, meters, exporting })
}
