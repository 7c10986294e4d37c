//! Logging, set up once per process: readable text or one JSON object per
//! line, to standard error, filtered by `RUST_LOG` (default `info`); and,
//! beside it, OpenTelemetry traces when the OTLP variables ask for them
//! ([`crate::traces`]).

use std::fmt;
use std::io::IsTerminal;
use std::str::FromStr;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::traces::{self, Traces};

/// How log lines are written. Serialized as `text` or `json`, as
/// `LOG_FORMAT` takes it: the operator's CRD field is this type, so the API
/// server refuses any other value through the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("log format must be text or json")]
pub struct LogFormatError;

impl FromStr for LogFormat {
    type Err = LogFormatError;

    fn from_str(s: &str) -> Result<Self, LogFormatError> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(LogFormatError),
        }
    }
}

/// Installs the process's subscriber. A second call (tests that start
/// several components in one process) changes nothing.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
    };
}

/// Installs logging as [`init`] does and, when `OTEL_EXPORTER_OTLP_ENDPOINT`
/// is set, exports spans as OpenTelemetry traces named after `service`
/// (unless `OTEL_SERVICE_NAME` names it). Keep the returned value until
/// the end of `main`: dropping it exports what is still buffered.
pub fn init_traced(format: LogFormat, service: &'static str) -> Traces {
    let (provider, problem) = match traces::provider(service) {
        Ok(provider) => (provider, None),
        Err(e) => (None, Some(e)),
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::stderr().is_terminal();
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(ansi);
    let fmt = match format {
        LogFormat::Text => fmt.boxed(),
        LogFormat::Json => fmt.json().flatten_event(true).with_current_span(true).boxed(),
    };
    let otel = provider.as_ref().map(|p| traces::layer(p, service));
    let _ = tracing_subscriber::registry().with(filter).with(fmt).with(otel).try_init();
    if let Some(e) = problem {
        tracing::warn!(error = %crate::chain(&e), "OpenTelemetry traces are off");
    } else if provider.is_some() {
        tracing::info!("exporting OpenTelemetry traces over OTLP/HTTP");
    }
    Traces { provider }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_round_trip_and_nothing_else_parses() {
        for format in [LogFormat::Text, LogFormat::Json] {
            assert_eq!(format.as_str().parse(), Ok(format));
        }
        for bad in ["", "JSON", "yaml"] {
            assert_eq!(bad.parse::<LogFormat>(), Err(LogFormatError), "{bad}");
        }
    }
}
