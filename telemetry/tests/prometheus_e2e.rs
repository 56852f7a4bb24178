//! Against a real Prometheus (Debian's package; `scripts/install-prometheus` installs it): the
//! telemetry service receives known Reports, Prometheus scrapes it, and PromQL through
//! Prometheus' HTTP API returns exactly the success rates, latency percentiles and counts an
//! operator's dashboards would show.

mod common;

use common::*;
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A Prometheus server started for this test, stopped by PID when dropped.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
    dir: std::path::PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

fn start_prometheus(target: SocketAddr) -> Prometheus {
    let dir = std::env::temp_dir().join(format!("mixer-prom-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("data")).expect("temp dir");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n- job_name: mixer-telemetry\n  static_configs:\n  - targets: ['{target}']\n"
    );
    std::fs::write(dir.join("prometheus.yml"), config).expect("config");
    let addr = free_port();
    let log = std::fs::File::create(dir.join("prometheus.log")).expect("log");
    let child = Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect(
            "prometheus is not installed: run scripts/install-prometheus (the test command does)",
        );
    Prometheus { child, addr, dir }
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs an instant PromQL query; returns (labels, value) per result series.
async fn query(prom: SocketAddr, q: &str) -> Vec<(serde_json::Value, f64)> {
    let (status, body) = get(prom, &format!("/api/v1/query?query={}", encode(q))).await;
    assert_eq!(status, 200, "{q}: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    v["data"]["result"]
        .as_array()
        .expect("vector result")
        .iter()
        .map(|r| {
            let value = r["value"][1]
                .as_str()
                .and_then(|s| s.parse().ok())
                .expect("value");
            (r["metric"].clone(), value)
        })
        .collect()
}

async fn scalar(prom: SocketAddr, q: &str) -> Option<f64> {
    query(prom, q).await.first().map(|r| r.1)
}

/// The traffic of one phase: (source, destination, code, duration ms, count).
const TRAFFIC: &[(&str, &str, i64, i64, usize)] = &[
    ("productpage-v1", "reviews-v2", 200, 3, 50),
    ("productpage-v1", "reviews-v2", 200, 20, 30),
    ("productpage-v1", "reviews-v2", 200, 700, 10),
    ("productpage-v1", "reviews-v2", 503, 20, 10),
    ("reviews-v2", "ratings-v1", 200, 3, 20),
];

fn phase() -> Vec<u8> {
    let bags: Vec<_> = TRAFFIC
        .iter()
        .flat_map(|&(s, d, code, ms, n)| std::iter::repeat_n(http_bag(s, d, code, ms), n))
        .collect();
    batch(&bags)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promql_sees_exactly_what_was_reported() {
    let srv = start(None, Duration::from_secs(60)).await;
    let prom = start_prometheus(srv.bound.metrics);
    let p = prom.addr;

    // Phase 1 creates every series; phase 2 repeats it once Prometheus has scraped phase 1.
    // Each series' first sample in the window then equals its increase, so rate()'s
    // extrapolation scales every series alike and the ratios below are exact.
    report(srv.bound.grpc, phase()).await.expect("phase 1");
    wait_until(p, "sum(istio_requests_total)", 120.0).await;
    report(srv.bound.grpc, phase()).await.expect("phase 2");
    wait_until(p, "sum(istio_requests_total)", 240.0).await;

    let success = query(
        p,
        "sum(rate(istio_requests_total{reporter=\"destination\",response_code!~\"5.*\"}[1m])) by (destination_workload) \
         / sum(rate(istio_requests_total{reporter=\"destination\"}[1m])) by (destination_workload)",
    )
    .await;
    let by = |name: &str| {
        success
            .iter()
            .find(|(m, _)| m["destination_workload"] == name)
            .map(|r| r.1)
            .expect(name)
    };
    assert_eq!(success.len(), 2, "{success:?}");
    assert_close(by("reviews-v2"), 0.9);
    assert_close(by("ratings-v1"), 1.0);

    // 70 requests at 3 ms (le 5), 40 at 20 ms (le 25), 10 at 700 ms (le 1000) per phase
    for (q, want) in [
        (0.5, 1.0 + 4.0 * 60.0 / 70.0),
        (0.9, 10.0 + 15.0 * 38.0 / 40.0),
        (0.99, 500.0 + 500.0 * 8.8 / 10.0),
    ] {
        let got = scalar(
            p,
            &format!("histogram_quantile({q}, sum(rate(istio_request_duration_milliseconds_bucket[1m])) by (le))"),
        )
        .await
        .expect("quantile");
        assert_close(got, want);
    }

    let counts = query(
        p,
        "sum(istio_requests_total{reporter=\"destination\"}) by (source_workload, destination_workload, response_code)",
    )
    .await;
    let count = |s: &str, d: &str, c: &str| {
        counts
            .iter()
            .find(|(m, _)| {
                m["source_workload"] == s
                    && m["destination_workload"] == d
                    && m["response_code"] == c
            })
            .map(|r| r.1)
    };
    assert_eq!(counts.len(), 3, "{counts:?}");
    assert_eq!(count("productpage-v1", "reviews-v2", "200"), Some(180.0));
    assert_eq!(count("productpage-v1", "reviews-v2", "503"), Some(20.0));
    assert_eq!(count("reviews-v2", "ratings-v1", "200"), Some(40.0));

    drop(prom);
    srv.stop().await;
}

fn assert_close(got: f64, want: f64) {
    assert!(
        (got - want).abs() <= 1e-9 * want.abs().max(1.0),
        "got {got}, want {want}"
    );
}

async fn wait_until(prom: SocketAddr, q: &str, want: f64) {
    let mut last = None;
    for _ in 0..300 {
        if let Ok(Some(v)) = tokio::time::timeout(Duration::from_secs(2), async {
            let (status, body) = try_get(prom, &format!("/api/v1/query?query={}", encode(q)))
                .await
                .ok()?;
            if status != 200 {
                return None;
            }
            let v: serde_json::Value = serde_json::from_str(&body).ok()?;
            v["data"]["result"][0]["value"][1]
                .as_str()?
                .parse::<f64>()
                .ok()
        })
        .await
        {
            if v == want {
                return;
            }
            last = Some(v);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{q} never became {want} (last {last:?}); is Prometheus scraping?");
}
