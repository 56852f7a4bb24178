//! The `jaeger` adapter: `tracespan` instances (spec §6) become Jaeger spans, queued without
//! waiting into the process's trace sink ([`crate::traces::backend`]: the in-memory store
//! served on Jaeger's query API, or Cassandra in Jaeger's own schema). Istio served
//! `tracespan` through its `zipkin` and `stackdriver` adapters; this one keeps their template
//! and writes what Jaeger reads.
//!
//! Which bags become spans is the rule's business: the standard config's rule matches
//! `x-b3-sampled: 1`, so only traces the proxy sampled are stored. How an instance maps to a
//! span is in [`adapter`]; the handler's `params` are in [`config`]. Where spans go (memory or
//! Cassandra, queue size) is a process setting (`mixer telemetry --cassandra …`), shared by
//! every config generation, so a reload neither reconnects nor empties the store.

mod adapter;
mod config;

#[cfg(test)]
mod tests;

pub use adapter::{BuildError, JaegerHandler};
pub use config::{check, Params};

use mixer_rules::{AdapterSpec, Template};

/// The adapter as the rules layer sees it.
pub const SPEC: AdapterSpec = AdapterSpec {
    name: "jaeger",
    templates: &[Template::TraceSpan],
    check,
};
