//! The telemetry service: `istio.mixer.v1.Mixer/Report` ingestion ([`service`]), dispatch of
//! the compiled rules to report adapters ([`pipeline`]), the adapters themselves
//! ([`adapters`]: Prometheus metrics, `jaeger` spans, `stdio` access logs, `parquet` access-log
//! archives), the trace sinks and Jaeger's query API over the embedded store ([`traces`]),
//! config loading and reload ([`config_source`], [`server`]), and the scrape and monitoring
//! endpoints ([`http`], [`self_metrics`]).

pub mod adapters;
pub mod config_source;
pub use mixer_serving::http;
pub mod pipeline;
pub mod self_metrics;
pub mod server;
pub mod service;
pub mod traces;
