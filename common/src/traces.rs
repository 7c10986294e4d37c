//! OpenTelemetry traces, off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
//!
//! When on, every `tracing` span at the filter's level is also an
//! OpenTelemetry span, exported in batches over OTLP/HTTP (protobuf, or
//! JSON with `OTEL_EXPORTER_OTLP_PROTOCOL=http/json`). The SDK reads the
//! other standard variables itself: `OTEL_SERVICE_NAME` and
//! `OTEL_RESOURCE_ATTRIBUTES` (the service name defaults to the program's
//! name here), `OTEL_TRACES_SAMPLER`/`_ARG`, `OTEL_BSP_*`, and
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `_HEADERS` and `_TIMEOUT`.
//!
//! The helpers below move W3C trace context (`traceparent`, `tracestate`)
//! between spans and the strings that carry it in HTTP and AMQP headers and
//! in messages. Each is a no-op when traces are off, so callers need not
//! ask, and a message or header never carries a context nobody exports.

use std::collections::HashMap;
use std::sync::OnceLock;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::settings::vars;

/// Set once, when traces are exported.
static ENABLED: OnceLock<()> = OnceLock::new();

/// Whether spans are exported (the exporter was installed at start-up).
pub fn enabled() -> bool {
    ENABLED.get().is_some()
}

/// Why traces could not be set up; the program then runs without them.
#[derive(Debug, thiserror::Error)]
pub enum TracesError {
    #[error("OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf or http/json, not {0:?}")]
    Protocol(String),
    #[error("cannot build the OTLP exporter")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
}

/// The exporting tracer provider, when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
/// the traces-only variable) is set; `None` otherwise.
pub(crate) fn provider(default_service: &str) -> Result<Option<SdkTracerProvider>, TracesError> {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    if !set(vars::OTEL_EXPORTER_OTLP_ENDPOINT) && !set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        return Ok(None);
    }
    let protocol = protocol(std::env::var(vars::OTEL_EXPORTER_OTLP_PROTOCOL).ok().as_deref())?;
    let exporter = opentelemetry_otlp::SpanExporter::builder().with_http().with_protocol(protocol).build()?;
    // The SDK's own detectors read OTEL_SERVICE_NAME and
    // OTEL_RESOURCE_ATTRIBUTES; only when neither names the service does
    // the program's name stand in for `unknown_service`.
    let named = set(vars::OTEL_SERVICE_NAME)
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|a| a.contains("service.name="));
    let resource = if named {
        Resource::builder().build()
    } else {
        Resource::builder().with_service_name(default_service.to_owned()).build()
    };
    let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build();
    Ok(Some(provider))
}

/// `OTEL_EXPORTER_OTLP_PROTOCOL`: HTTP only (this build has no gRPC),
/// protobuf unless asked for JSON.
fn protocol(value: Option<&str>) -> Result<Protocol, TracesError> {
    match value.map(str::trim) {
        None | Some("") | Some("http/protobuf") => Ok(Protocol::HttpBinary),
        Some("http/json") => Ok(Protocol::HttpJson),
        Some(other) => Err(TracesError::Protocol(other.to_owned())),
    }
}

/// The layer that turns spans into OpenTelemetry spans, for `provider`.
pub(crate) fn layer<S>(provider: &SdkTracerProvider, name: &'static str) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let _ = ENABLED.set(());
    tracing_opentelemetry::layer().with_tracer(provider.tracer(name))
}

/// Exports what is still buffered when dropped: hold it in `main` until the
/// program's work is done.
#[derive(Debug, Default)]
pub struct Traces {
    pub(crate) provider: Option<SdkTracerProvider>,
}

impl Drop for Traces {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            tracing::warn!(error = %e, "traces not all exported at shutdown");
        }
    }
}

/// Makes `span` a child of the W3C context in `traceparent` (and
/// `tracestate`), read from a carrier by `get`: an HTTP request's or an
/// AMQP message's headers. A missing or malformed context leaves `span` as
/// it was. Call it before the span is first entered.
pub fn set_parent_from(span: &Span, get: impl Fn(&str) -> Option<String>) {
    if !enabled() {
        return;
    }
    let carrier: HashMap<String, String> =
        ["traceparent", "tracestate"].into_iter().filter_map(|k| Some((k.to_owned(), get(k)?))).collect();
    let cx = TraceContextPropagator::new().extract(&carrier);
    if cx.span().span_context().is_valid() {
        let _ = span.set_parent(cx);
    }
}

/// Makes `span` a child of the span `traceparent` names.
pub fn set_parent(span: &Span, traceparent: &str) {
    set_parent_from(span, |k| (k == "traceparent").then(|| traceparent.to_owned()));
}

/// Links `span` to the span `traceparent` names: work done for many
/// payments at once (a group insert, a lock or settle batch) links to each.
pub fn add_link(span: &Span, traceparent: &str) {
    if !enabled() {
        return;
    }
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let cx = TraceContextPropagator::new().extract(&carrier);
    span.add_link(cx.span().span_context().clone());
}

/// `span`'s context as W3C headers (`traceparent`, and `tracestate` when
/// not empty); empty when traces are off or the span is not recorded.
pub fn headers(span: &Span) -> Vec<(String, String)> {
    if !enabled() {
        return Vec::new();
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&span.context(), &mut carrier);
    carrier.into_iter().collect()
}

/// `span`'s context as a W3C `traceparent`, for a message to carry.
pub fn traceparent(span: &Span) -> Option<String> {
    headers(span).into_iter().find_map(|(k, v)| (k == "traceparent").then_some(v))
}

/// Records `span`'s trace id in its `trace_id` field (declared
/// `tracing::field::Empty`), so JSON log lines within it carry the id.
pub fn record_trace_id(span: &Span) {
    if !enabled() {
        return;
    }
    let id = span.context().span().span_context().trace_id();
    if id != opentelemetry::trace::TraceId::INVALID {
        span.record("trace_id", tracing::field::display(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_protocols_are_accepted() {
        assert_eq!(protocol(None).ok(), Some(Protocol::HttpBinary));
        assert_eq!(protocol(Some("http/protobuf")).ok(), Some(Protocol::HttpBinary));
        assert_eq!(protocol(Some("http/json")).ok(), Some(Protocol::HttpJson));
        for bad in ["grpc", "HTTP/JSON", "json"] {
            assert!(matches!(protocol(Some(bad)), Err(TracesError::Protocol(_))), "{bad}");
        }
    }

    #[test]
    fn with_traces_off_nothing_is_carried() {
        let span = tracing::info_span!("off");
        assert!(headers(&span).is_empty());
        assert_eq!(traceparent(&span), None);
    }
}
