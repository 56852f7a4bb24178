//! `mixer up` as a newcomer runs it: the real binary starts the pipeline, a request sent to
//! the sidecar shows in Istio's metrics and in the traces API, and SIGTERM stops everything
//! cleanly (exit 0, the demo policy's temporary directory removed). Every listener is given
//! as 127.0.0.1:0; the test reads the bound addresses from the banner.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The `mixer up` process; killed if the test fails half-way.
struct Up {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Up {
    fn start() -> Up {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mixer"));
        cmd.arg("up");
        for flag in [
            "app-addr",
            "inbound-addr",
            "outbound-addr",
            "proxy-admin-addr",
            "telemetry-addr",
            "metrics-addr",
            "telemetry-monitoring-addr",
            "query-addr",
            "policy-addr",
            "policy-monitoring-addr",
        ] {
            cmd.arg(format!("--{flag}")).arg("127.0.0.1:0");
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start mixer up");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Up {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads stdout until a line contains `needle` (or the process ends / 60 s pass).
    fn wait_for_line(&mut self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(60);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    self.seen.push(line);
                    if found {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
        false
    }

    /// The banner's `name: value` lines.
    fn banner(&self) -> HashMap<String, String> {
        self.seen
            .iter()
            .filter_map(|l| l.trim().split_once(": "))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect()
    }
}

/// `http://127.0.0.1:PORT/...` out of a banner value (the first word).
fn url(banner: &HashMap<String, String>, name: &str) -> String {
    let value = banner
        .get(name)
        .unwrap_or_else(|| panic!("banner has no {name:?} line: {banner:?}"));
    value
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// One GET; `(status, body)`.
async fn get(url: &str, headers: &[(&str, &str)]) -> Result<(u16, String), String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
    let authority = uri.authority().ok_or("no authority")?.to_string();
    let stream = tokio::net::TcpStream::connect(&authority)
        .await
        .map_err(|e| format!("{authority}: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let mut req = hyper::Request::get(uri.path_and_query().map_or("/", |p| p.as_str()))
        .header("host", &authority);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Empty::<Bytes>::new()).map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Polls `url` until `accept` holds for its body (reports are batched for up to 1 s).
async fn eventually(url: &str, accept: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok((200, body)) = get(url, &[]).await {
            if accept(&body) {
                return body;
            }
            last = body;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{url} never answered what was expected; last answer:\n{last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_serves_a_request_end_to_end_and_stops_cleanly() {
    let mut up = Up::start();
    assert!(
        up.wait_for_line("demo traffic:"),
        "mixer up printed no banner: {:?}",
        up.seen
    );
    let banner = up.banner();
    let sidecar = url(&banner, "sidecar");
    let metrics = url(&banner, "istio metrics");
    let traces = url(&banner, "traces");
    let policy_dir = banner
        .get("policy")
        .and_then(|v| v.split("rules in ").nth(1))
        .map(|d| d.trim_end_matches(')').to_owned())
        .expect("policy line names its rules directory");
    assert!(std::path::Path::new(&policy_dir).is_dir(), "{policy_dir}");

    // a request through the sidecar reaches the demo app
    let (status, body) = get(&format!("{sidecar}productpage"), &[])
        .await
        .expect("request through the sidecar");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, _) = get(&format!("{sidecar}status/503"), &[])
        .await
        .expect("second request");
    assert_eq!(status, 503);
    // ... and the policy service's blacklist (src/up/policy.yaml) turns mallory away
    let (status, body) = get(&format!("{sidecar}productpage"), &[("x-user", "mallory")])
        .await
        .expect("denied request");
    assert_eq!(status, 403, "{body}");
    assert!(body.starts_with("PERMISSION_DENIED:"), "{body}");

    // ... is counted in Istio's metrics, with the demo workload as destination
    let series = |code: &str| {
        format!("destination_workload=\"demo-app\",destination_workload_namespace=\"default\",grpc_response_status=\"\",permissive_response_code=\"none\",permissive_response_policyid=\"none\",reporter=\"destination\",request_protocol=\"http\",response_code=\"{code}\"")
    };
    let text = eventually(&metrics, |t| {
        t.lines().any(|l| {
            l.starts_with("istio_requests_total{")
                && l.contains(&series("503"))
                && l.ends_with(" 1")
        }) && t.lines().any(|l| {
            l.starts_with("istio_requests_total{")
                && l.contains(&series("403"))
                && l.ends_with(" 1")
        })
    })
    .await;
    assert!(
        text.lines().any(|l| l.starts_with("istio_requests_total{")
            && l.contains(&series("200"))
            && l.ends_with(" 1")),
        "{text}"
    );

    // ... and shows as a span in the traces API (the demo samples every trace)
    let found = eventually(&traces, |t| {
        t.contains("\"operationName\":\"/productpage\"")
    })
    .await;
    assert!(found.contains("\"serviceName\":\"demo-app\""), "{found}");

    // SIGTERM: everything stops, exit 0, the temporary policy directory is gone
    let pid = up.child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    assert!(
        up.wait_for_line("mixer up: stopped"),
        "no clean stop: {:?}",
        up.seen
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = up.child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "mixer up did not exit");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    assert!(!std::path::Path::new(&policy_dir).exists(), "{policy_dir}");
}
