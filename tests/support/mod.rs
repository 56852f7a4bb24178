//! Helpers for tests that run the real `mixer` binary: a child process whose stderr log is
//! read line by line and which is stopped by its PID (SIGTERM, or SIGKILL when the test fails
//! half-way), `key=value` fields out of its log lines, a plain HTTP/1.1 GET, an in-process
//! app answering `ok`, and a paced HTTP/1.1 load generator.

#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};

/// A `mixer` child process; its stderr (the `tracing` log) is read by a thread into `lines`.
#[derive(Debug)]
pub struct Proc {
    pub name: &'static str,
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Every line read so far (for failure messages).
    pub log: Vec<String>,
}

impl Proc {
    /// Starts `mixer ARGS` with `RUST_LOG=info`.
    pub fn spawn(name: &'static str, args: &[String]) -> Proc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mixer"))
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc {
            name,
            child,
            lines,
            log: Vec::new(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Reads the log until a line contains every one of `needles` and returns it; `None` when
    /// the process closed its stderr (exited) or `limit` passed first. Blocking.
    pub fn wait_for(&mut self, needles: &[&str], limit: Duration) -> Option<String> {
        if let Some(l) = self
            .log
            .iter()
            .find(|l| needles.iter().all(|n| l.contains(n)))
        {
            return Some(l.clone());
        }
        let deadline = Instant::now() + limit;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let line = self.lines.recv_timeout(left).ok()?;
            self.log.push(line.clone());
            if needles.iter().all(|n| line.contains(n)) {
                return Some(line);
            }
        }
        None
    }

    /// Sends SIGTERM to this process (by PID) and waits for it to exit, at most `limit`;
    /// past it the process is killed and the test fails. Reads the rest of its log. Blocking.
    pub fn terminate(&mut self, limit: Duration) -> ExitStatus {
        let pid = self.pid().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid} ({})", self.name);
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "{} (pid {pid}) did not exit within {limit:?} of SIGTERM; log:\n{}",
                self.name,
                self.log.join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        // The reader thread ends at EOF: everything the process wrote is in `lines` now
        // or soon; collect it.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.log.push(line);
        }
        status
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // Only when the test failed before stopping it: SIGKILL to this PID, then reap it.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The value of `key=value` in a `tracing` log line (up to the next space, quotes removed).
pub fn field<'l>(line: &'l str, key: &str) -> Option<&'l str> {
    let at = line.find(&format!(" {key}="))? + key.len() + 2;
    let value = line[at..].split(' ').next()?;
    Some(value.trim_matches('"'))
}

/// A port nobody is using now and that the kernel never hands out as an ephemeral port: a
/// service restarted on it cannot find it taken by a client's outgoing connection (nor by a
/// reconnecting client connecting to itself, the TCP self-connect of loopback).
pub fn free_port_outside_ephemeral_range() -> u16 {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (from, to) = if low > 11_000 {
        (10_000, low)
    } else {
        (low, u16::MAX)
    };
    let seed = {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.finish()
    };
    let span = u64::from(to - from);
    for i in 0..200 {
        let port = from + (seed.wrapping_add(i * 7919) % span) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {from}..{to}");
}

/// One GET over a fresh connection: `(status, body)`.
pub async fn get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("{addr}: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let req = hyper::Request::get(path)
        .header("host", addr.to_string())
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
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

/// The sum of every sample of `family` (its unlabelled line or `family{…}` lines) in a
/// Prometheus text exposition, and how many samples there were.
pub fn sum_family(text: &str, family: &str) -> (f64, usize) {
    text.lines()
        .filter(|l| {
            l.strip_prefix(family)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .fold((0.0, 0), |(sum, n), v| (sum + v, n + 1))
}

/// The app behind the proxy: answers every request 200 `ok`. Aborted when dropped.
#[derive(Debug)]
pub struct App {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl App {
    pub async fn start() -> App {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind app");
        let addr = listener.local_addr().expect("app addr");
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(|_req| async {
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(
                            b"ok",
                        ))))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        App { addr, task }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a paced load came to.
#[derive(Debug, Default, Clone, Copy)]
pub struct LoadResult {
    /// Answers with a 2xx status and the full body read.
    pub ok: u64,
    /// Answers with any other status.
    pub other_status: u64,
    /// Requests that got no answer (connection errors).
    pub errors: u64,
    /// From the first request's schedule to the last answer.
    pub elapsed: Duration,
}

impl LoadResult {
    pub fn sent(&self) -> u64 {
        self.ok + self.other_status + self.errors
    }
}

/// Sends GETs to `target` for `duration` over `connections` keep-alive HTTP/1.1 connections,
/// request `k` scheduled at `k / rate` seconds after the start; a connection that falls behind
/// sends at once until it is back on schedule, and nothing new is sent after `duration`, so a
/// slow machine sends fewer requests rather than taking longer. A failed connection is replaced.
pub async fn paced_load(
    target: SocketAddr,
    rate: u64,
    duration: Duration,
    connections: u64,
) -> LoadResult {
    let start = tokio::time::Instant::now();
    let end = start + duration;
    let period = Duration::from_secs(1).as_nanos() as u64 / rate.max(1);
    let workers: Vec<_> = (0..connections)
        .map(|w| {
            tokio::spawn(async move {
                let mut result = LoadResult::default();
                let mut sender = None;
                for k in (w..).step_by(connections as usize) {
                    let at = start + Duration::from_nanos(k * period);
                    if at >= end || tokio::time::Instant::now() >= end {
                        break;
                    }
                    tokio::time::sleep_until(at).await;
                    match request(target, &mut sender, k).await {
                        Ok(status) if (200..300).contains(&status) => result.ok += 1,
                        Ok(_) => result.other_status += 1,
                        Err(_) => {
                            result.errors += 1;
                            sender = None;
                        }
                    }
                }
                result
            })
        })
        .collect();
    let mut sum = LoadResult::default();
    for w in workers {
        let r = w.await.expect("load worker");
        sum.ok += r.ok;
        sum.other_status += r.other_status;
        sum.errors += r.errors;
    }
    sum.elapsed = start.elapsed();
    sum
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

async fn request(target: SocketAddr, sender: &mut Option<Sender>, k: u64) -> Result<u16, String> {
    if sender.is_none() {
        let stream = TcpStream::connect(target)
            .await
            .map_err(|e| e.to_string())?;
        let _ = stream.set_nodelay(true);
        let (s, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        *sender = Some(s);
    }
    let s = sender.as_mut().ok_or("no connection")?;
    s.ready().await.map_err(|e| e.to_string())?;
    let req = hyper::Request::get(format!("/ratings/{k}"))
        .header("host", "ratings.default.svc.cluster.local")
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let resp = s.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    resp.into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok(status)
}
