//! The parquet adapter on real configs and bags through the Report pipeline, files read back
//! with the parquet crate's Arrow reader (the independent reader, pyarrow, is in
//! `telemetry/tests/parquet_archive.rs`): columns typed from the template, values and nulls,
//! the shipped config. `params` and whole-config checks are in `tests/params.rs`; rotation,
//! reload, a full queue and write errors in `tests/files.rs`.

mod files;
mod params;

use super::*;
use crate::adapters::test_support::{
    fresh_dir, load_config, report, report_bytes, request_timing, s, with_standard,
};
use crate::pipeline::{Pipeline, Scratch, Sinks};
use crate::self_metrics::{ErrorReason, TelemetryMetrics};
use crate::traces::TraceSink;
use arrow_array::cast::AsArray;
use arrow_array::types::{DurationNanosecondType, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use mixer_attributes::{OwnedBag, OwnedValue};
use mixer_rules::{Catalog, Config};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

const CATALOG: Catalog<'static> = Catalog {
    adapters: &[SPEC],
    other_kinds: &[],
};

pub(super) const WAIT: Duration = Duration::from_secs(30);

/// A `logentry` instance with VARIABLES, a `parquet` handler with PARAMS and a rule sending
/// every HTTP request to it.
pub(super) const CONFIG: &str = r#"
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: accesslog, namespace: istio-system}
spec:
  compiledTemplate: logentry
  params:
    severity: '"Info"'
    timestamp: request.time
    variables: VARIABLES
---
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: archive, namespace: istio-system}
spec:
  compiledAdapter: parquet
  params: PARAMS
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: archive, namespace: istio-system}
spec:
  match: context.protocol == "http"
  actions:
  - {handler: archive, instances: [accesslog]}
"#;

/// One variable of every column kind.
pub(super) const VARIABLES: &str = r#"
      sourceIp: source.ip | ip("0.0.0.0")
      method: request.method | ""
      responseCode: response.code | 0
      latency: response.duration | "0ms"
      mtls: connection.mtls | false
      ratio: 0.25
      responseTimestamp: response.time
      sourceLabels: source.labels
      principal: source.principal"#;

pub(super) fn config_with(variables: &str, params: &str) -> Config {
    let text = CONFIG
        .replace("VARIABLES", variables)
        .replace("PARAMS", params);
    load_config("test.yaml", &text, &CATALOG)
}

pub(super) fn params_for(dir: &Path, extra: &str) -> String {
    format!("{{directory: '{}'{extra}}}", dir.display())
}

/// A fresh directory for one test.
pub(super) fn temp_dir(name: &str) -> PathBuf {
    fresh_dir("parquet", name)
}

/// An HTTP request; `principal` is left out (a missing attribute).
pub(super) fn bag(code: i64, method: &str) -> OwnedBag {
    [
        ("context.protocol", s("http")),
        (
            "source.ip",
            OwnedValue::ip("10.0.0.1".parse::<IpAddr>().expect("ip")),
        ),
        ("request.method", s(method)),
        ("response.code", OwnedValue::Int64(code)),
    ]
    .into_iter()
    .chain(request_timing())
    .chain([
        ("connection.mtls", OwnedValue::Bool(true)),
        (
            "source.labels",
            OwnedValue::StringMap(vec![("app".into(), "reviews".into())]),
        ),
    ])
    .collect()
}

pub(super) fn sinks(archives: &Archives) -> Sinks {
    Sinks {
        traces: TraceSink::detached(),
        logs: Default::default(),
        archives: archives.clone(),
    }
}

/// The `.parquet` files of `dir` by name, and whether any other file is there.
pub(super) fn parquet_files(dir: &Path) -> (Vec<PathBuf>, Vec<String>) {
    let mut files = Vec::new();
    let mut other = Vec::new();
    for e in std::fs::read_dir(dir).expect("read dir") {
        let path = e.expect("entry").path();
        if path.extension().is_some_and(|x| x == "parquet") {
            files.push(path);
        } else {
            other.push(path.display().to_string());
        }
    }
    files.sort();
    (files, other)
}

/// Every row of a file, as one batch.
pub(super) fn read(path: &Path) -> RecordBatch {
    use ::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let file = std::fs::File::open(path).expect("open");
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("a parquet file")
        .build()
        .expect("reader");
    let mut batches: Vec<RecordBatch> = reader.map(|b| b.expect("batch")).collect();
    // few rows in tests: one batch per file
    assert_eq!(batches.len(), 1, "{}: one batch expected", path.display());
    batches.remove(0)
}

#[test]
fn columns_are_typed_from_the_template_and_hold_the_values() {
    let dir = temp_dir("types");
    let archives = Archives::default();
    let config = config_with(VARIABLES, &params_for(&dir, ""));
    let p = Pipeline::with_sinks(config, 1, &sinks(&archives)).expect("pipeline");
    let metrics = TelemetryMetrics::default();
    report(&p, &[bag(200, "GET"), bag(503, "POST")], &metrics);
    assert_eq!(archives.shutdown(WAIT), 0);
    let (files, other) = parquet_files(&dir);
    assert!(other.is_empty(), "no partial files: {other:?}");
    let [file] = files.as_slice() else {
        panic!("one file expected: {files:?}")
    };
    let batch = read(file);
    let types: Vec<(String, DataType)> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect();
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let names: Vec<&str> = types.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "timestamp",
            "severity",
            "instance",
            "latency",
            "method",
            "mtls",
            "principal",
            "ratio",
            "responseCode",
            "responseTimestamp",
            "sourceIp",
            "sourceLabels"
        ]
    );
    let ty = |name: &str| &types.iter().find(|(n, _)| n == name).expect(name).1;
    assert_eq!(ty("timestamp"), &ts);
    assert_eq!(ty("responseTimestamp"), &ts);
    assert_eq!(ty("latency"), &DataType::Duration(TimeUnit::Nanosecond));
    assert_eq!(ty("responseCode"), &DataType::Int64);
    assert_eq!(ty("ratio"), &DataType::Float64);
    assert_eq!(ty("mtls"), &DataType::Boolean);
    assert_eq!(ty("sourceIp"), &DataType::Utf8);
    assert!(matches!(ty("sourceLabels"), DataType::Map(..)), "{types:?}");
    assert!(batch.schema().fields().iter().all(|f| f.is_nullable()));

    assert_eq!(batch.num_rows(), 2);
    let col = |name: &str| batch.column_by_name(name).expect(name).clone();
    assert_eq!(
        col("timestamp")
            .as_primitive::<TimestampMicrosecondType>()
            .value(0),
        1_548_332_231_855_496
    );
    assert_eq!(col("severity").as_string::<i32>().value(0), "Info");
    assert_eq!(
        col("instance").as_string::<i32>().value(1),
        "accesslog.instance.istio-system"
    );
    let codes = col("responseCode");
    let codes = codes.as_primitive::<Int64Type>();
    assert_eq!((codes.value(0), codes.value(1)), (200, 503));
    assert_eq!(col("method").as_string::<i32>().value(1), "POST");
    assert_eq!(col("sourceIp").as_string::<i32>().value(0), "10.0.0.1");
    assert_eq!(
        col("latency")
            .as_primitive::<DurationNanosecondType>()
            .value(0),
        214_661_667
    );
    assert!(col("mtls").as_boolean().value(0));
    let labels = col("sourceLabels");
    let labels = labels.as_map();
    let entries = labels.value(0);
    assert_eq!(entries.column(0).as_string::<i32>().value(0), "app");
    assert_eq!(entries.column(1).as_string::<i32>().value(0), "reviews");
    // source.principal is missing and has no default: null, counted as an instance error
    assert_eq!(col("principal").null_count(), 2);
    assert_eq!(metrics.errors(ErrorReason::Instance), 2);
    let stats = archives.stats(&dir, "accesslog").expect("stats");
    assert_eq!(stats.written.get(), 2);
    assert_eq!(stats.files_closed(CloseReason::Close), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_shipped_config_validates_and_writes_rows() {
    let dir = temp_dir("shipped");
    let text = crate::config_source::ACCESSLOG_PARQUET_CONFIG.replace(
        "directory: /var/log/mixer/archive",
        &format!("directory: '{}'", dir.display()),
    );
    let files = with_standard("accesslog-parquet.yaml", text);
    let config = crate::config_source::validate(Some(&files)).expect("valid");
    let archives = Archives::default();
    let p = Pipeline::with_sinks(config, 1, &sinks(&archives)).expect("pipeline");
    let Some(crate::pipeline::Handler::Parquet(h)) = p
        .handlers()
        .iter()
        .find(|h| matches!(h, crate::pipeline::Handler::Parquet(_)))
    else {
        panic!("a parquet handler")
    };
    let layout = h.layout();
    let kind = |name: &str| {
        layout
            .columns
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, k)| *k)
    };
    assert_eq!(layout.columns.len(), 36);
    assert_eq!(kind("responseCode"), Some(Kind::Int));
    assert_eq!(kind("latency"), Some(Kind::Duration));
    assert_eq!(kind("responseTimestamp"), Some(Kind::Timestamp));
    assert_eq!(kind("sourceIp"), Some(Kind::Text));
    report(&p, &[bag(200, "GET")], &TelemetryMetrics::default());
    assert_eq!(archives.shutdown(WAIT), 0);
    let (files, _) = parquet_files(&dir);
    assert_eq!(files.len(), 1);
    let batch = read(&files[0]);
    assert_eq!(batch.num_rows(), 1);
    assert_eq!(batch.num_columns(), 3 + 36);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_request_that_fails_to_decode_writes_nothing() {
    let dir = temp_dir("decode");
    let archives = Archives::default();
    let config = config_with(VARIABLES, &params_for(&dir, ""));
    let p = Pipeline::with_sinks(config, 1, &sinks(&archives)).expect("pipeline");
    let mut bytes = report_bytes(&[bag(200, "GET"), bag(200, "PUT")]);
    bytes.truncate(bytes.len() - 3);
    let mut scratch = Scratch::default();
    let metrics = TelemetryMetrics::default();
    assert!(p.report(&bytes, &mut scratch, &metrics).is_err());
    // the scratch is reused: the failed call's rows must not come back
    p.report(&report_bytes(&[bag(200, "DELETE")]), &mut scratch, &metrics)
        .expect("decodes");
    assert_eq!(archives.shutdown(WAIT), 0);
    let (files, _) = parquet_files(&dir);
    let [file] = files.as_slice() else {
        panic!("one file expected: {files:?}")
    };
    let batch = read(file);
    let methods = batch.column_by_name("method").expect("method");
    let methods = methods.as_string::<i32>();
    assert_eq!(methods.iter().collect::<Vec<_>>(), [Some("DELETE")]);
    let _ = std::fs::remove_dir_all(&dir);
}
