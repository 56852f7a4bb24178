//! The Parquet access-log archive end to end, read back by an independent reader: the shipped
//! `accesslog-parquet.yaml` through the real server, Reports over gRPC, a reload that adds
//! variables (so a second file with more columns), shutdown closing the files; then pyarrow
//! (`read_parquet.py`) reads every file and the row counts, column names and types, and
//! values are checked here.
//!
//! pyarrow comes from PyPI into a venv cached under ~/.cache/mixer (`scripts/install-pyarrow`,
//! run by scripts/test, which sets `MIXER_PYARROW_PYTHON` to its python). Without that
//! variable the test says so and skips.

mod common;

use common::{batch, get, http_bag, report, sample, start};
use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn pyarrow_python() -> Option<PathBuf> {
    std::env::var_os("MIXER_PYARROW_PYTHON")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
}

/// What `read_parquet.py` says of `dir`.
fn read_with_pyarrow(python: &Path, dir: &Path) -> Json {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/read_parquet.py");
    let out = std::process::Command::new(python)
        .arg(&script)
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", python.display()));
    assert!(
        out.status.success(),
        "read_parquet.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json from read_parquet.py")
}

/// The shipped config writing to `archive`, with `extra` variables added.
fn config(archive: &Path, extra: &str) -> String {
    mixer_telemetry::config_source::ACCESSLOG_PARQUET_CONFIG
        .replace(
            "directory: /var/log/mixer/archive",
            &format!("directory: '{}'", archive.display()),
        )
        .replace("    variables:\n", &format!("    variables:\n{extra}"))
}

async fn open_rows(monitoring: std::net::SocketAddr, archive: &str) -> Option<f64> {
    let (_, text) = get(monitoring, "/metrics").await;
    sample(&text, "mixer_telemetry_parquet_open_rows{", &[archive])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_logs_archived_as_parquet_read_back_by_pyarrow() {
    let Some(python) = pyarrow_python() else {
        eprintln!(
            "skipped: MIXER_PYARROW_PYTHON is not set (scripts/install-pyarrow installs pyarrow \
             from PyPI and prints the python to set it to; scripts/test does both)"
        );
        return;
    };
    let dir = std::env::temp_dir().join(format!("mixer-parquet-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (conf, archive) = (dir.join("config"), dir.join("archive"));
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        conf.join("standard.yaml"),
        mixer_telemetry::config_source::STANDARD_CONFIG,
    )
    .unwrap();
    std::fs::write(conf.join("accesslog-parquet.yaml"), config(&archive, "")).unwrap();
    let srv = start(Some(conf.clone()), Duration::from_millis(100)).await;
    let label = format!("archive=\"{}\"", archive.join("accesslog").display());

    report(
        srv.bound.grpc,
        batch(&[
            http_bag("a", "b", 200, 3),
            http_bag("a", "b", 503, 7),
            http_bag("c", "d", 200, 1),
        ]),
    )
    .await
    .expect("accepted");
    report(
        srv.bound.grpc,
        batch(&[http_bag("e", "f", 404, 2), http_bag("e", "f", 200, 5)]),
    )
    .await
    .expect("accepted");
    wait_for(|| async { open_rows(srv.bound.monitoring, &label).await == Some(5.0) }).await;

    // a reload with three more variables: their rows go to a second file
    let extra = "      sourceLabels: source.labels\n      mtls: connection.mtls | false\n      \
                 weight: 0.5\n";
    std::fs::write(conf.join("accesslog-parquet.yaml"), config(&archive, extra)).unwrap();
    wait_for(|| async { srv.service.pipeline().generation == 2 }).await;
    report(
        srv.bound.grpc,
        batch(&[http_bag("g", "h", 200, 4), http_bag("g", "h", 201, 6)]),
    )
    .await
    .expect("accepted");
    let (_, text) = get(srv.bound.monitoring, "/metrics").await;
    let dropped = |reason: &str| {
        sample(
            &text,
            "mixer_telemetry_parquet_rows_dropped_total{",
            &[&label, &format!("reason=\"{reason}\"")],
        )
    };
    assert_eq!(dropped("queue_full"), Some(0.0), "{text}");
    srv.stop().await;

    let found = read_with_pyarrow(&python, &archive);
    assert_eq!(found["other"], serde_json::json!([]), "no partial files");
    let files = found["files"].as_array().expect("files");
    assert_eq!(files.len(), 2, "{found}");
    let (first, second) = (&files[0], &files[1]);
    assert_eq!(first["rows"], 5);
    assert_eq!(second["rows"], 2);
    let name = first["name"].as_str().expect("name");
    assert!(
        name.starts_with("accesslog-") && name.ends_with("Z-1.parquet"),
        "{name}"
    );
    assert!(
        first["created_by"]
            .as_str()
            .is_some_and(|c| c.starts_with("mixer ")),
        "{first}"
    );
    let columns = |f: &Json| -> Vec<(String, String)> {
        f["columns"]
            .as_array()
            .expect("columns")
            .iter()
            .map(|c| {
                (
                    c[0].as_str().unwrap_or_default().to_owned(),
                    c[1].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    let (c1, c2) = (columns(first), columns(second));
    assert_eq!(c1.len(), 3 + 36, "{c1:?}");
    assert_eq!(c2.len(), 3 + 39, "{c2:?}");
    let names: Vec<&str> = c1.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names[..3], ["timestamp", "severity", "instance"]);
    let mut sorted = names[3..].to_vec();
    sorted.sort_unstable();
    assert_eq!(names[3..], sorted, "variables in name order");
    let ty = |cols: &[(String, String)], name: &str| {
        cols.iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.clone())
            .unwrap_or_else(|| panic!("no column {name}: {cols:?}"))
    };
    assert_eq!(ty(&c1, "timestamp"), "timestamp[us, tz=UTC]");
    assert_eq!(ty(&c1, "responseTimestamp"), "timestamp[us, tz=UTC]");
    assert_eq!(ty(&c1, "severity"), "string");
    assert_eq!(ty(&c1, "responseCode"), "int64");
    assert_eq!(ty(&c1, "requestSize"), "int64");
    assert_eq!(ty(&c1, "latency"), "duration[ns]");
    assert_eq!(ty(&c1, "sourceIp"), "string");
    assert_eq!(ty(&c1, "destinationWorkload"), "string");
    assert_eq!(ty(&c2, "mtls"), "bool");
    assert_eq!(ty(&c2, "weight"), "double");
    assert!(
        ty(&c2, "sourceLabels").starts_with("map<string, string"),
        "{c2:?}"
    );

    let v = |f: &Json, col: &str| f["values"][col].clone();
    assert_eq!(
        v(first, "instance")[0],
        "accessarchive.instance.istio-system"
    );
    assert_eq!(v(first, "severity")[4], "Info");
    assert_eq!(v(first, "timestamp")[0], 1_790_000_000_000_000_i64);
    assert_eq!(
        v(first, "responseCode"),
        serde_json::json!([200, 503, 200, 404, 200])
    );
    assert_eq!(
        v(first, "latency"),
        serde_json::json!([3_000_000, 7_000_000, 1_000_000, 2_000_000, 5_000_000])
    );
    assert_eq!(
        v(first, "sourceWorkload"),
        serde_json::json!(["a", "a", "c", "e", "e"])
    );
    assert_eq!(
        v(first, "sourceIp")[0],
        "0.0.0.0",
        "the expression's default"
    );
    assert_eq!(v(first, "responseSize")[1], 120);
    assert_eq!(v(first, "reporter")[0], "destination");
    assert_eq!(
        v(first, "responseTimestamp"),
        serde_json::json!([null, null, null, null, null]),
        "response.time is not in the bags and has no default"
    );
    assert_eq!(v(second, "responseCode"), serde_json::json!([200, 201]));
    assert_eq!(v(second, "mtls"), serde_json::json!([true, true]));
    assert_eq!(v(second, "weight"), serde_json::json!([0.5, 0.5]));
    assert_eq!(
        v(second, "sourceLabels")[0],
        serde_json::json!({"app": "g", "version": "v1"})
    );
    let _ = std::fs::remove_dir_all(&dir);
}

async fn wait_for<F: std::future::Future<Output = bool>>(cond: impl Fn() -> F) {
    for _ in 0..200 {
        if cond().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not met within 10 s");
}
