//! Helpers the file adapters' tests (`stdio`, `parquet`) share: loading a test config,
//! a fresh scratch directory, the attributes of an HTTP request's timing, and a Report call
//! through the pipeline.

use crate::config_source::{Files, STANDARD_CONFIG};
use crate::pipeline::{Pipeline, Scratch};
use crate::self_metrics::TelemetryMetrics;
use mixer_attributes::encode::ReportBatch;
use mixer_attributes::{Duration as PbDuration, OwnedBag, OwnedValue, Timestamp};
use mixer_rules::{load, Catalog, Config, Source};
use std::path::PathBuf;

/// `text` loaded as the file `file`; panics with the problems when it is rejected.
pub(crate) fn load_config(file: &str, text: &str, catalog: &Catalog<'_>) -> Config {
    load(&[Source { file, text }], catalog).unwrap_or_else(|p| panic!("config rejected:\n{p}"))
}

/// An empty directory for one test of `adapter`, named after the test and the process.
pub(crate) fn fresh_dir(adapter: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mixer-{adapter}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

pub(crate) fn s(v: &str) -> OwnedValue {
    OwnedValue::String(v.into())
}

/// `request.time`, `response.time` and `response.duration` of one request: 2019-01-24
/// 12:17:11.855496789 UTC, a second later, 214.661667 ms.
pub(crate) fn request_timing() -> [(&'static str, OwnedValue); 3] {
    [
        (
            "request.time",
            OwnedValue::Timestamp(Timestamp {
                seconds: 1_548_332_231,
                nanos: 855_496_789,
            }),
        ),
        (
            "response.time",
            OwnedValue::Timestamp(Timestamp {
                seconds: 1_548_332_232,
                nanos: 0,
            }),
        ),
        (
            "response.duration",
            OwnedValue::Duration(PbDuration {
                seconds: 0,
                nanos: 214_661_667,
            }),
        ),
    ]
}

/// A Report request's attributes holding `bags`.
pub(crate) fn report_bytes(bags: &[OwnedBag]) -> Vec<u8> {
    let mut b = ReportBatch::new();
    for bag in bags {
        b.push(bag.iter());
    }
    b.finish()
}

/// One Report call with `bags` through `p`; panics if it does not decode.
pub(crate) fn report(p: &Pipeline, bags: &[OwnedBag], metrics: &TelemetryMetrics) {
    p.report(&report_bytes(bags), &mut Scratch::default(), metrics)
        .expect("report decodes");
}

/// The shipped `standard.yaml` and the document `file` holding `text`, as `mixer` loads them.
pub(crate) fn with_standard(file: &str, text: String) -> Files {
    Files {
        files: vec![
            ("standard.yaml".into(), STANDARD_CONFIG.into()),
            (file.into(), text),
        ],
    }
}
