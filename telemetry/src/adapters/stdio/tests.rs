//! The stdio adapter on real configs and bags through the Report pipeline: lines written to
//! a file and read back, severity filtering, the console format, `metric` entries, a full
//! queue, a reload, an unwritable path, and the shipped `accesslog.yaml`. `params` checks are
//! in `tests/params.rs`, rotation in `tests/rotation.rs`, value encoding in `tests/format.rs`.

mod format;
mod params;
mod rotation;

use super::*;
use crate::adapters::test_support::{
    fresh_dir, load_config, report, report_bytes, request_timing, s, with_standard,
};
use crate::config_source;
use crate::pipeline::{Pipeline, Scratch, Sinks};
use crate::self_metrics::{ErrorReason, TelemetryMetrics};
use crate::traces::TraceSink;
use mixer_attributes::{OwnedBag, OwnedValue};
use mixer_rules::{Catalog, Config};
use serde_json::Value as Json;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

const CATALOG: Catalog<'static> = Catalog {
    adapters: &[SPEC],
    other_kinds: &[],
};

const WAIT: Duration = Duration::from_secs(30);

/// A `logentry` instance, a `stdio` handler with `PARAMS` and a rule sending every HTTP
/// request to it.
const CONFIG: &str = r#"
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: accesslog, namespace: istio-system}
spec:
  compiledTemplate: logentry
  params:
    severity: 'conditional((response.code | 200) >= 500, "error", conditional((response.code | 200) >= 400, "Alert", "Info"))'
    timestamp: request.time
    variables:
      sourceIp: source.ip | ip("0.0.0.0")
      method: request.method | ""
      url: request.path | ""
      responseCode: response.code | 0
      latency: response.duration | "0ms"
      mtls: connection.mtls | false
      responseTimestamp: response.time
      userAgent: request.useragent | ""
---
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: stdio, namespace: istio-system}
spec:
  compiledAdapter: stdio
  params: PARAMS
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: stdio, namespace: istio-system}
spec:
  match: context.protocol == "http"
  actions:
  - {handler: stdio, instances: [accesslog]}
"#;

fn config(params: &str) -> Config {
    load_config("test.yaml", &CONFIG.replace("PARAMS", params), &CATALOG)
}

fn file_params(path: &Path, extra: &str) -> String {
    format!(
        "{{logStream: FILE, outputPath: '{}'{extra}}}",
        path.display()
    )
}

/// A fresh directory for one test, removed when the test ends (passed or not).
fn temp_dir(name: &str) -> TempDir {
    TempDir(fresh_dir("stdio", name))
}

struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn bag(code: i64, path: &str) -> OwnedBag {
    let ip = |a: &str| OwnedValue::ip(a.parse::<IpAddr>().expect("ip"));
    [
        ("context.protocol", s("http")),
        ("source.ip", ip("10.0.0.1")),
        ("request.method", s("GET")),
        ("request.path", s(path)),
        ("request.useragent", s("curl/8.5 \"quoted\"\n")),
        ("response.code", OwnedValue::Int64(code)),
    ]
    .into_iter()
    .chain(request_timing())
    .chain([("connection.mtls", OwnedValue::Bool(true))])
    .collect()
}

fn sinks(logs: &LogSinks) -> Sinks {
    Sinks {
        traces: TraceSink::detached(),
        logs: logs.clone(),
        archives: Default::default(),
    }
}

fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The keys of a JSON object line, in the order written.
fn keys(line: &str) -> Vec<String> {
    struct Keys;
    impl<'de> serde::de::Visitor<'de> for Keys {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<M: serde::de::MapAccess<'de>>(
            self,
            mut m: M,
        ) -> Result<Vec<String>, M::Error> {
            let mut out = Vec::new();
            while let Some((k, _)) = m.next_entry::<String, serde::de::IgnoredAny>()? {
                out.push(k);
            }
            Ok(out)
        }
    }
    use serde::Deserializer as _;
    serde_json::Deserializer::from_str(line)
        .deserialize_map(Keys)
        .unwrap_or_else(|e| panic!("{line}: {e}"))
}

fn json(line: &str) -> serde_json::Map<String, Json> {
    match serde_json::from_str(line) {
        Ok(Json::Object(m)) => m,
        other => panic!("not a JSON object: {line}: {other:?}"),
    }
}

fn yaml(t: &str) -> serde_yaml_ng::Value {
    serde_yaml_ng::from_str(t).expect("yaml")
}

#[test]
fn a_report_writes_istios_json_lines_to_a_file() {
    let dir = temp_dir("json");
    let path = dir.join("access.log");
    let logs = LogSinks::default();
    let p = Pipeline::with_sinks(config(&file_params(&path, "")), 1, &sinks(&logs)).expect("ok");
    let metrics = TelemetryMetrics::default();
    report(&p, &[bag(200, "/a"), bag(404, "/b")], &metrics);
    assert!(logs.flush(WAIT));
    let lines = read_lines(&path);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[0].starts_with(
            r#"{"level":"info","time":"2019-01-24T12:17:11.855496Z","instance":"accesslog.instance.istio-system","latency":"214.661667ms","method":"GET","mtls":true,"#
        ),
        "{}",
        lines[0]
    );
    let first = json(&lines[0]);
    assert_eq!(
        keys(&lines[0]),
        [
            "level",
            "time",
            "instance",
            "latency",
            "method",
            "mtls",
            "responseCode",
            "responseTimestamp",
            "sourceIp",
            "url",
            "userAgent"
        ]
    );
    assert_eq!(first["responseCode"], Json::from(200));
    assert_eq!(first["responseTimestamp"], "2019-01-24T12:17:12.000000Z");
    assert_eq!(first["sourceIp"], "10.0.0.1");
    assert_eq!(first["url"], "/a");
    assert_eq!(first["userAgent"], "curl/8.5 \"quoted\"\n");
    // "Alert" is not in the default severity map: INFO
    let second = json(&lines[1]);
    assert_eq!(second["level"], "info");
    assert_eq!(second["responseCode"], Json::from(404));

    let stats = logs.stats(&Destination::File(path.clone())).expect("stats");
    assert_eq!(stats.written.get(), 2);
    assert_eq!(stats.dropped.get(), 0);
    let mut text = String::new();
    logs.render_metrics(&mut text);
    let sink = path.display().to_string();
    assert!(
        text.contains(&format!(
            "mixer_telemetry_accesslog_entries_total{{sink=\"{sink}\",result=\"written\"}} 2"
        )),
        "{text}"
    );
    assert_eq!(logs.shutdown(WAIT), 0);
}

#[test]
fn a_variable_that_fails_is_left_out_and_counted() {
    let dir = temp_dir("missing");
    let path = dir.join("access.log");
    let logs = LogSinks::default();
    let p = Pipeline::with_sinks(config(&file_params(&path, "")), 1, &sinks(&logs)).expect("ok");
    let metrics = TelemetryMetrics::default();
    let mut b = bag(200, "/a");
    b.remove("response.time");
    report(&p, &[b], &metrics);
    assert!(logs.flush(WAIT));
    let [line] = read_lines(&path).try_into().expect("one line");
    let entry = json(&line);
    assert!(!entry.contains_key("responseTimestamp"), "{line}");
    assert_eq!(entry["url"], "/a");
    assert_eq!(metrics.errors(ErrorReason::Instance), 1);
}

#[test]
fn severities_map_to_levels_and_output_level_filters() {
    let dir = temp_dir("levels");
    let path = dir.join("access.log");
    let logs = LogSinks::default();
    let params = file_params(
        &path,
        ", severityLevels: {Alert: WARNING}, outputLevel: WARNING",
    );
    let p = Pipeline::with_sinks(config(&params), 1, &sinks(&logs)).expect("ok");
    let metrics = TelemetryMetrics::default();
    report(
        &p,
        &[bag(200, "/ok"), bag(404, "/missing"), bag(503, "/down")],
        &metrics,
    );
    assert!(logs.flush(WAIT));
    let got: Vec<(String, String)> = read_lines(&path)
        .iter()
        .map(|l| {
            let e = json(l);
            (
                e["level"].as_str().unwrap_or_default().to_owned(),
                e["url"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("warn".to_owned(), "/missing".to_owned()),
            ("error".to_owned(), "/down".to_owned())
        ]
    );
}

#[test]
fn the_console_format_is_zaps() {
    let dir = temp_dir("console");
    let path = dir.join("access.log");
    let logs = LogSinks::default();
    let p = Pipeline::with_sinks(
        config(&file_params(&path, ", outputAsJson: false")),
        1,
        &sinks(&logs),
    )
    .expect("ok");
    report(&p, &[bag(200, "/a")], &TelemetryMetrics::default());
    assert!(logs.flush(WAIT));
    let [line] = read_lines(&path).try_into().expect("one line");
    assert!(
        line.starts_with(
            "2019-01-24T12:17:11.855496Z\tinfo\taccesslog.instance.istio-system\t{\"latency\": \"214.661667ms\", \"method\": \"GET\", \"mtls\": true, "
        ),
        "{line}"
    );
    assert!(
        line.ends_with(r#""userAgent": "curl/8.5 \"quoted\"\n"}"#),
        "{line}"
    );
}

#[test]
fn a_full_queue_drops_newest_and_counts_without_waiting() {
    let dir = temp_dir("full");
    let path = dir.join("access.log");
    // room for two Reports of one line each (~330 bytes), not three
    let logs = LogSinks::new(LogOptions { queue_bytes: 700 });
    let p = Pipeline::with_sinks(config(&file_params(&path, "")), 1, &sinks(&logs)).expect("ok");
    let Some(crate::pipeline::Handler::Stdio(h)) = p.handlers().first() else {
        panic!("a stdio handler")
    };
    let writer = logs
        .writer(h.destination(), None)
        .expect("the running writer");
    let hold = writer.pause();
    let metrics = TelemetryMetrics::default();
    for i in 0..5 {
        // the writer thread is held: these must return at once all the same
        report(&p, &[bag(200, &format!("/{i}"))], &metrics);
    }
    let stats = writer.stats().clone();
    assert_eq!(stats.dropped.get(), 3);
    assert!(stats.queued_bytes() > 0 && stats.queued_bytes() <= 700);
    drop(hold);
    assert!(logs.flush(WAIT));
    assert_eq!(stats.written.get(), 2);
    assert_eq!(stats.queued_bytes(), 0);
    let urls: Vec<Json> = read_lines(&path)
        .iter()
        .map(|l| json(l)["url"].clone())
        .collect();
    assert_eq!(urls, ["/0", "/1"]);
    let mut text = String::new();
    logs.render_metrics(&mut text);
    assert!(text.contains("result=\"dropped\"} 3"), "{text}");
}

#[test]
fn a_reload_keeps_the_writer_and_a_new_destination_takes_over() {
    let dir = temp_dir("reload");
    let (a, b) = (dir.join("a.log"), dir.join("b.log"));
    let logs = LogSinks::default();
    let metrics = TelemetryMetrics::default();
    let gen1 = Pipeline::with_sinks(config(&file_params(&a, "")), 1, &sinks(&logs)).expect("1");
    report(&gen1, &[bag(200, "/1")], &metrics);
    // same file, now rotated: the open writer is reused and takes the new settings
    let gen2 = Pipeline::with_sinks(
        config(&format!(
            "{{logStream: ROTATED_FILE, outputPath: '{}', maxRotatedFiles: 2}}",
            a.display()
        )),
        2,
        &sinks(&logs),
    )
    .expect("2");
    assert_eq!(logs.live(), 1);
    drop(gen1);
    report(&gen2, &[bag(200, "/2")], &metrics);
    // another file: gen2's writer ends with gen2, after writing what it had
    let gen3 = Pipeline::with_sinks(config(&file_params(&b, "")), 3, &sinks(&logs)).expect("3");
    assert_eq!(logs.live(), 2);
    report(&gen2, &[bag(200, "/3")], &metrics);
    drop(gen2);
    report(&gen3, &[bag(200, "/4")], &metrics);
    assert!(logs.flush(WAIT));
    assert_eq!(logs.live(), 1);
    let urls = |p: &Path| -> Vec<Json> {
        read_lines(p)
            .iter()
            .map(|l| json(l)["url"].clone())
            .collect()
    };
    // gen2's last line may still be on its way out of the ended writer's thread
    assert_eq!(logs.shutdown(WAIT), 0);
    assert_eq!(urls(&a), ["/1", "/2", "/3"]);
    assert_eq!(urls(&b), ["/4"]);
    let stats_a = logs.stats(&Destination::File(a)).expect("a");
    assert_eq!(stats_a.written.get(), 3);
    // after shutdown nothing more is written, and what is offered is counted
    report(&gen3, &[bag(200, "/5")], &metrics);
    let stats_b = logs.stats(&Destination::File(b)).expect("b");
    assert_eq!((stats_b.written.get(), stats_b.dropped.get()), (1, 1));
}

#[test]
fn an_unwritable_path_fails_the_config_not_the_reports() {
    let dir = temp_dir("unwritable");
    let blocker = dir.join("file");
    std::fs::write(&blocker, "").expect("file");
    // a directory cannot be created under a file
    let path = blocker.join("access.log");
    let err = Pipeline::with_sinks(config(&file_params(&path, "")), 1, &Sinks::detached())
        .expect_err("cannot open");
    let msg = err.to_string();
    assert!(
        msg.starts_with("handler stdio.handler.istio-system: cannot open ")
            && msg.contains("access.log: cannot create its directory "),
        "{msg}"
    );
}

#[test]
fn a_request_that_fails_to_decode_writes_nothing() {
    let dir = temp_dir("decode");
    let path = dir.join("access.log");
    let logs = LogSinks::default();
    let p = Pipeline::with_sinks(config(&file_params(&path, "")), 1, &sinks(&logs)).expect("ok");
    let mut bytes = report_bytes(&[bag(200, "/a"), bag(200, "/b")]);
    bytes.truncate(bytes.len() - 3);
    let mut scratch = Scratch::default();
    assert!(p
        .report(&bytes, &mut scratch, &TelemetryMetrics::default())
        .is_err());
    // the scratch is reused: the failed call's lines must not come back
    p.report(
        &report_bytes(&[bag(200, "/c")]),
        &mut scratch,
        &TelemetryMetrics::default(),
    )
    .expect("decodes");
    assert!(logs.flush(WAIT));
    let urls: Vec<Json> = read_lines(&path)
        .iter()
        .map(|l| json(l)["url"].clone())
        .collect();
    assert_eq!(urls, ["/c"]);
}

#[test]
fn metric_instances_are_written_at_metric_level() {
    let dir = temp_dir("metric");
    let path = dir.join("m.log");
    let text = format!(
        r#"
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {{name: requestcount, namespace: istio-system}}
spec:
  compiledTemplate: metric
  params:
    value: "1"
    dimensions: {{url: request.path | "", code: response.code | 0}}
---
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {{name: stdio, namespace: istio-system}}
spec:
  compiledAdapter: stdio
  params: {}
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {{name: stdio, namespace: istio-system}}
spec:
  actions:
  - {{handler: stdio, instances: [requestcount]}}
"#,
        file_params(&path, ", metricLevel: WARNING")
    );
    let config = load_config("m.yaml", &text, &CATALOG);
    let logs = LogSinks::default();
    let p = Pipeline::with_sinks(config, 1, &sinks(&logs)).expect("ok");
    report(&p, &[bag(201, "/m")], &TelemetryMetrics::default());
    assert!(logs.flush(WAIT));
    let [line] = read_lines(&path).try_into().expect("one line");
    let e = json(&line);
    assert_eq!(
        keys(&line),
        ["level", "time", "instance", "value", "code", "url"]
    );
    assert_eq!(e["level"], "warn");
    assert_eq!(e["instance"], "requestcount.instance.istio-system");
    assert_eq!(e["value"], Json::from(1));
    assert_eq!(e["code"], Json::from(201));
}

#[test]
fn the_shipped_accesslog_config_loads_with_the_standard_one_and_logs_a_request() {
    let files = with_standard("accesslog.yaml", config_source::ACCESSLOG_CONFIG.into());
    let config = config_source::validate(Some(&files)).unwrap_or_else(|p| panic!("{p}"));
    let h = config
        .handlers
        .iter()
        .position(|h| h.adapter == "stdio")
        .expect("a stdio handler");
    let params = Params::parse(&config.handlers[h].params).expect("params");
    assert_eq!(params.destination(), Destination::Stdout);
    // the same documents, written to a file instead of stdout, for a standard bag
    let dir = temp_dir("shipped");
    let path = dir.join("access.log");
    let text = config_source::ACCESSLOG_CONFIG.replace(
        "outputAsJson: true",
        &format!("logStream: FILE\n    outputPath: '{}'", path.display()),
    );
    let files = with_standard("accesslog.yaml", text);
    let config = config_source::validate(Some(&files)).unwrap_or_else(|p| panic!("{p}"));
    let logs = LogSinks::default();
    let p = Pipeline::with_sinks(config, 1, &sinks(&logs)).expect("ok");
    let metrics = TelemetryMetrics::default();
    let mut b = bag(200, "/productpage");
    b.set("context.reporter.kind", s("inbound"));
    b.set("destination.workload.name", s("productpage-v1"));
    report(&p, &[b], &metrics);
    assert!(logs.flush(WAIT));
    let [line] = read_lines(&path).try_into().expect("one line");
    let e = json(&line);
    assert_eq!(e["instance"], "accesslog.instance.istio-system");
    assert_eq!(e["level"], "info");
    assert_eq!(e["destinationWorkload"], "productpage-v1");
    assert_eq!(e["connection_security_policy"], "mutual_tls");
    assert_eq!(e["reporter"], "destination");
    assert_eq!(e["latency"], "214.661667ms");
    assert_eq!(e["xForwardedFor"], "0.0.0.0");
    assert_eq!(e["destinationIp"], "0.0.0.0");
    assert_eq!(e.len(), 3 + 36, "every variable is there: {line}");
    assert_eq!(metrics.errors(ErrorReason::Instance), 0);
}
