//! The sidecar's access log: one JSON line per request on stdout, off by default (the seed's
//! company turned Istio's off in production for its cost). The request path never waits for
//! it: a finished request's line goes into a bounded queue ([`AccessLog::log`] is a
//! `try_send`), a writer task drains the queue to stdout, and lines that find the queue full
//! are dropped and counted (`mixer_proxy_access_log_lines_total{result="dropped"}`).
//!
//! The fields are Envoy's default access log's, named as in its JSON format, read from the
//! request's finished attribute bag: `start_time`, `method`, `path`, `protocol` (Istio's
//! `context.protocol`: http or grpc, not Envoy's HTTP version), `response_code`, `response_flags`, `bytes_received`, `bytes_sent`, `duration` (ms),
//! `x_forwarded_for`, `user_agent`, `request_id`, `authority`, `upstream_host`; plus the
//! mesh's view: `direction` (inbound / outbound), `source_workload`, `destination_workload`.

use crate::metrics::ProxyMetrics;
use mixer_attributes::{LayeredBag, OwnedValue};
use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// Lines waiting for the writer; beyond, dropped and counted.
pub const QUEUE: usize = 4096;

/// The producers' side; cheap to clone.
#[derive(Clone, Debug)]
pub struct AccessLog {
    tx: mpsc::Sender<String>,
    metrics: Arc<ProxyMetrics>,
}

impl AccessLog {
    /// Starts the writer task on the current runtime; `out` is stdout in the binary.
    pub fn spawn<W>(
        mut out: W,
        metrics: Arc<ProxyMetrics>,
    ) -> (AccessLog, tokio::task::JoinHandle<()>)
    where
        W: tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (tx, mut rx) = mpsc::channel::<String>(QUEUE);
        let task = tokio::spawn(async move {
            let mut buf = String::new();
            while let Some(line) = rx.recv().await {
                buf.push_str(&line);
                // whatever else is queued goes out in the same write
                while let Ok(more) = rx.try_recv() {
                    buf.push_str(&more);
                    if buf.len() > 64 * 1024 {
                        break;
                    }
                }
                if out.write_all(buf.as_bytes()).await.is_err() || out.flush().await.is_err() {
                    tracing::warn!("access log: cannot write; lines are lost");
                }
                buf.clear();
            }
        });
        (AccessLog { tx, metrics }, task)
    }

    /// Queues the line of a finished request; never waits.
    pub fn log(&self, bag: &LayeredBag) {
        match self.tx.try_send(line(bag)) {
            Ok(()) => self.metrics.access_log_written.inc(),
            Err(_) => self.metrics.access_log_dropped.inc(),
        }
    }
}

/// The JSON line (with its newline) of a finished request's bag.
pub fn line(bag: &LayeredBag) -> String {
    let mut out = String::with_capacity(512);
    out.push('{');
    let mut first = true;
    let mut field = |name: &str, value: Option<Json>| {
        let Some(value) = value else { return };
        if !std::mem::take(&mut first) {
            out.push(',');
        }
        string(&mut out, name);
        out.push(':');
        match value {
            Json::Str(s) => string(&mut out, &s),
            Json::Num(n) => {
                let _ = write!(out, "{n}");
            }
        }
    };
    let get = |name: &str| bag.get_by_name(name);
    let text = |name: &str| match get(name) {
        Some(OwnedValue::String(s)) => Some(Json::Str(Cow::Borrowed(s.as_str()))),
        _ => None,
    };
    let int = |name: &str| match get(name) {
        Some(OwnedValue::Int64(n)) => Some(Json::Num(*n as f64)),
        _ => None,
    };
    let header = |name: &str, key: &str| match get(name) {
        Some(OwnedValue::StringMap(m)) => m
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| Json::Str(Cow::Borrowed(v.as_str()))),
        _ => None,
    };
    field(
        "start_time",
        match get("request.time") {
            Some(OwnedValue::Timestamp(t)) => {
                Some(Json::Str(Cow::Owned(rfc3339(t.seconds, t.nanos))))
            }
            _ => None,
        },
    );
    field("method", text("request.method"));
    field("path", text("request.path"));
    field("protocol", text("context.protocol"));
    field("response_code", int("response.code"));
    field("response_flags", text("context.proxy_error_code"));
    field("bytes_received", int("request.size"));
    field("bytes_sent", int("response.size"));
    field(
        "duration",
        match get("response.duration") {
            Some(OwnedValue::Duration(d)) => Some(Json::Num(
                (d.seconds as f64 * 1e3 + f64::from(d.nanos) / 1e6).round(),
            )),
            _ => None,
        },
    );
    field(
        "x_forwarded_for",
        header("request.headers", "x-forwarded-for"),
    );
    field("user_agent", text("request.useragent"));
    field("request_id", text("request.id"));
    field("authority", text("request.host"));
    field(
        "upstream_host",
        match (get("destination.ip"), get("destination.port")) {
            (Some(OwnedValue::Bytes(ip)), Some(OwnedValue::Int64(port))) => {
                ip_text(ip).map(|ip| Json::Str(Cow::Owned(format!("{ip}:{port}"))))
            }
            _ => None,
        },
    );
    field("direction", text("context.reporter.kind"));
    field("source_workload", text("source.workload.name"));
    field("destination_workload", text("destination.workload.name"));
    out.push_str("}\n");
    out
}

/// A field's value, borrowed from the bag where it can be.
enum Json<'a> {
    Str(Cow<'a, str>),
    Num(f64),
}

/// `s` as a JSON string.
fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn ip_text(bytes: &[u8]) -> Option<std::net::IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(std::net::IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(std::net::IpAddr::from),
        _ => None,
    }
}

/// UTC time as RFC 3339 with milliseconds (`2026-11-27T04:20:00.123Z`).
pub fn rfc3339(seconds: i64, nanos: i32) -> String {
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    // days since 1970-01-01 → civil date (Howard Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        nanos.clamp(0, 999_999_999) / 1_000_000
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use mixer_attributes::{Duration as WireDuration, Timestamp};

    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400, 5_000_000), "2000-02-29T00:00:00.005Z");
        assert_eq!(
            rfc3339(1_795_753_200, 999_999_999),
            "2026-11-27T04:20:00.999Z"
        );
    }

    #[test]
    fn a_line_is_json_with_envoys_field_names() {
        let mut bag = LayeredBag::default();
        let s = |v: &str| OwnedValue::String(v.to_owned());
        bag.set(
            "request.time",
            OwnedValue::Timestamp(Timestamp {
                seconds: 1_795_753_200,
                nanos: 0,
            }),
        );
        bag.set("request.method", s("GET"));
        bag.set("request.path", s("/a \"quoted\"\npath"));
        bag.set("response.code", OwnedValue::Int64(503));
        bag.set("context.proxy_error_code", s("UF"));
        bag.set(
            "response.duration",
            OwnedValue::Duration(WireDuration {
                seconds: 1,
                nanos: 250_000_000,
            }),
        );
        bag.set(
            "request.headers",
            OwnedValue::StringMap(vec![("x-forwarded-for".into(), "10.0.0.1".into())]),
        );
        bag.set("destination.ip", OwnedValue::Bytes(vec![10, 1, 2, 3]));
        bag.set("destination.port", OwnedValue::Int64(8080));
        bag.set("context.reporter.kind", s("inbound"));
        let l = line(&bag);
        assert!(l.ends_with("}\n"), "{l}");
        assert_eq!(
            l,
            concat!(
                r#"{"start_time":"2026-11-27T04:20:00.000Z","method":"GET","#,
                r#""path":"/a \"quoted\"\npath","response_code":503,"response_flags":"UF","#,
                r#""duration":1250,"x_forwarded_for":"10.0.0.1","upstream_host":"10.1.2.3:8080","#,
                r#""direction":"inbound"}"#,
                "\n"
            )
        );
    }

    fn bag(path: &str) -> LayeredBag {
        let mut bag = LayeredBag::default();
        bag.set("request.path", OwnedValue::String(path.to_owned()));
        bag
    }

    #[tokio::test]
    async fn lines_reach_the_writer_in_order() {
        use tokio::io::AsyncReadExt;
        let metrics = Arc::new(ProxyMetrics::default());
        let (writer, mut reader) = tokio::io::duplex(1 << 16);
        let (log, task) = AccessLog::spawn(writer, metrics.clone());
        log.log(&bag("/one"));
        log.log(&bag("/two"));
        drop(log);
        task.await
            .expect("writer ends when the last sender is gone");
        let mut text = String::new();
        reader.read_to_string(&mut text).await.expect("read");
        assert_eq!(text, "{\"path\":\"/one\"}\n{\"path\":\"/two\"}\n");
        assert_eq!(metrics.access_log_written.get(), 2);
        assert_eq!(metrics.access_log_dropped.get(), 0);
    }

    #[tokio::test]
    async fn a_stuck_writer_costs_lines_not_requests() {
        let metrics = Arc::new(ProxyMetrics::default());
        // nobody reads: the pipe fills, the writer blocks, then the queue fills
        let (writer, _reader) = tokio::io::duplex(64);
        let (log, _task) = AccessLog::spawn(writer, metrics.clone());
        let n = QUEUE as u64 + 500;
        for _ in 0..n {
            log.log(&bag("/stuck"));
        }
        let (written, dropped) = (
            metrics.access_log_written.get(),
            metrics.access_log_dropped.get(),
        );
        assert_eq!(written + dropped, n);
        assert!(dropped >= 500 - 1, "dropped {dropped}");
    }
}
