//! The operational surface the mixer services share, so neither depends on the other: the
//! small HTTP/1 server for the scrape and monitoring endpoints ([`http`]), self-metric
//! primitives rendered in Prometheus text ([`metrics`]), and reading a config directory with a
//! change fingerprint for hot reload ([`config_dir`]), and the bounded drain at shutdown
//! ([`shutdown`]).

pub mod config_dir;
pub mod http;
pub mod metrics;
pub mod shutdown;
