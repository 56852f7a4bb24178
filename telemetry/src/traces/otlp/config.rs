//! The OTLP exporter's settings and their validation (pure): where to send (`http://host:port`
//! of an OTLP/gRPC receiver; this build has no TLS), extra request headers, the deadline of one
//! export call, the queue and batch bounds, and the retry budget.

use std::fmt;
use std::time::Duration;
use tonic::codegen::http::Uri;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue};

/// How spans are exported over OTLP/gRPC.
#[derive(Clone, Debug, PartialEq)]
pub struct OtlpConfig {
    /// The receiver, `http://host:port` (an OpenTelemetry collector, Jaeger v2 on 4317 …).
    pub endpoint: String,
    /// Sent as gRPC metadata with every export (e.g. an API key).
    pub headers: Vec<(String, String)>,
    /// Deadline of one export call (connecting included); a call that runs out is retried.
    pub timeout: Duration,
    /// Spans waiting for export at most; beyond it new spans are dropped and counted.
    pub queue_capacity: usize,
    /// Spans per export request at most.
    pub max_batch: usize,
    /// How long the first span of a batch waits for more before the batch is sent.
    pub batch_delay: Duration,
    /// Export calls per batch at most (the first one included) on transient errors.
    pub max_attempts: u32,
    /// Backoff before the first retry; doubles per retry up to `max_backoff`, with jitter.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            endpoint: "http://127.0.0.1:4317".into(),
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
            queue_capacity: 10_000,
            max_batch: 512,
            batch_delay: Duration::from_secs(1),
            max_attempts: 5,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// Every problem of a config, each naming the field, the bad value and a good example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<String>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "otlp: {}", self.0.join("; "))
    }
}

impl std::error::Error for ConfigErrors {}

impl OtlpConfig {
    /// Checks every field; reports all problems at once.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut problems = Vec::new();
        if let Err(e) = endpoint_uri(&self.endpoint) {
            problems.push(e);
        }
        for (k, v) in &self.headers {
            if k.parse::<AsciiMetadataKey>().is_err() || k.ends_with("-bin") {
                problems.push(format!(
                    "header name {k:?} is not a valid gRPC metadata key \
                     (lowercase letters, digits, '-', '_', '.'; e.g. x-api-key=secret)"
                ));
            }
            if v.parse::<AsciiMetadataValue>().is_err() {
                problems.push(format!(
                    "header {k:?}: value {v:?} must be visible ASCII (e.g. x-api-key=secret)"
                ));
            }
        }
        if self.timeout.is_zero() {
            problems.push("timeout must be positive (e.g. 10s)".into());
        }
        for (name, v, example) in [
            ("queue capacity", self.queue_capacity, 10_000),
            ("max batch", self.max_batch, 512),
            ("max attempts", self.max_attempts as usize, 5),
        ] {
            if v == 0 {
                problems.push(format!("{name} must be at least 1, not 0 (e.g. {example})"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(problems))
        }
    }
}

/// The endpoint as a URI: `http`, a host and port, no path.
pub fn endpoint_uri(endpoint: &str) -> Result<Uri, String> {
    let uri: Uri = endpoint.parse().map_err(|e| {
        format!("endpoint {endpoint:?} is not a URI ({e}); give http://host:port, e.g. http://127.0.0.1:4317")
    })?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(format!(
                "endpoint {endpoint:?}: https is not supported (no TLS in this build); \
                 use http:// to a receiver on a trusted network, e.g. http://otel-collector:4317"
            ))
        }
        _ => {
            return Err(format!(
                "endpoint {endpoint:?} needs the http:// scheme, e.g. http://127.0.0.1:4317"
            ))
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!(
            "endpoint {endpoint:?} has no host, e.g. http://127.0.0.1:4317"
        ));
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(format!(
            "endpoint {endpoint:?}: OTLP/gRPC takes no path, e.g. http://127.0.0.1:4317"
        ));
    }
    Ok(uri)
}

/// Parses `name=value` (the `--otlp-header` flag).
pub fn parse_header(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not name=value, e.g. x-api-key=secret"))?;
    Ok((k.trim().to_ascii_lowercase(), v.trim().to_owned()))
}
