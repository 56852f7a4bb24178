//! OTLP export of spans (OTLP/gRPC `TraceService/Export`, as Jaeger v2 and any OpenTelemetry
//! collector receive it), in addition to the store: [`config`] holds the settings and their
//! validation, [`convert`] maps our span model to OTLP's messages (pure), [`exporter`] owns
//! the bounded queue, the batching and the retries. Uses the maintained `opentelemetry-proto`
//! messages and client; the deprecated `opentelemetry-jaeger` is not used.

pub mod config;
pub mod convert;
pub mod exporter;

pub use config::{ConfigErrors, OtlpConfig};
pub use exporter::{OtlpExporter, OtlpHandle, OtlpStats};

#[cfg(test)]
mod tests;
