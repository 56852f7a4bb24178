//! `params` and the whole-config checks: defaults, both key spellings, every problem at once
//! with its field, and what `mixer validate` (config_source::validate) refuses.

use super::super::*;
use super::{CONFIG, VARIABLES};
use crate::config_source::{self, Files};
use serde_yaml_ng::Value as Yaml;
use std::path::PathBuf;
use std::time::Duration;

fn yaml(text: &str) -> Yaml {
    serde_yaml_ng::from_str(text).expect("yaml")
}

#[test]
fn defaults_and_both_spellings() {
    let d = Params::parse(&yaml("{directory: /tmp/a}")).expect("defaults");
    assert_eq!(d.directory, PathBuf::from("/tmp/a"));
    assert_eq!(d.file_prefix, "accesslog");
    assert_eq!(
        d.limits,
        FileLimits {
            max_bytes: 128 * 1024 * 1024,
            max_age: Duration::from_secs(3600),
            row_group_rows: 32 * 1024,
            compression: Compression::Snappy,
        }
    );
    assert_eq!(d.queue_bytes, 16 * 1024 * 1024);
    let camel = Params::parse(&yaml(
        "{directory: /tmp/a, filePrefix: edge-1, maxMegabytesBeforeRotation: 2, \
         maxAgeBeforeRotation: 90s, rowGroupRows: 100, compression: UNCOMPRESSED, \
         queueMegabytes: 1}",
    ))
    .expect("camel");
    let snake = Params::parse(&yaml(
        "{directory: /tmp/a, file_prefix: edge-1, max_megabytes_before_rotation: 2, \
         max_age_before_rotation: 1m30s, row_group_rows: 100, compression: UNCOMPRESSED, \
         queue_megabytes: 1}",
    ))
    .expect("snake");
    assert_eq!(camel, snake);
    assert_eq!(camel.limits.max_bytes, 2 * 1024 * 1024);
    assert_eq!(camel.limits.max_age, Duration::from_secs(90));
    assert_eq!(camel.limits.row_group_rows, 100);
    assert_eq!(camel.queue_bytes, 1024 * 1024);
}

#[test]
fn every_bad_param_is_reported_with_its_field() {
    let problems = Params::parse(&yaml(
        "{filePrefix: '../x', maxMegabytesBeforeRotation: 0, maxAgeBeforeRotation: 10ms, \
         rowGroupRows: -1, compression: GZIP, queueMegabytes: lots, colour: blue}",
    ))
    .expect_err("bad params");
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "colour",
            "directory",
            "file_prefix",
            "max_megabytes_before_rotation",
            "row_group_rows",
            "queue_megabytes",
            "max_age_before_rotation",
            "compression"
        ]
    );
    let age = problems
        .iter()
        .find(|p| p.field == "max_age_before_rotation")
        .expect("age");
    assert_eq!(age.value.as_deref(), Some("\"10ms\""));
    assert_eq!(age.example.as_deref(), Some("1h"));
    assert!(Params::parse(&yaml("{directory: ''}")).is_err());
    assert!(Params::parse(&yaml("~")).is_err(), "directory is required");
    assert!(Params::parse(&yaml("[1]")).is_err());
}

fn validate(text: &str) -> Result<mixer_rules::Config, String> {
    let files = Files {
        files: vec![("archive.yaml".into(), text.to_owned())],
    };
    config_source::validate(Some(&files)).map_err(|p| p.to_string())
}

fn config_text(variables: &str, params: &str) -> String {
    CONFIG
        .replace("VARIABLES", variables)
        .replace("PARAMS", params)
}

#[test]
fn validate_names_the_file_and_field_of_bad_params() {
    let err = validate(&config_text(
        VARIABLES,
        "{directory: /tmp/x, rowGroupRows: 0}",
    ))
    .expect_err("refused");
    assert!(err.contains("archive.yaml"), "{err}");
    assert!(err.contains("row_group_rows"), "{err}");
    assert!(err.contains("must be a whole number, 1 or more"), "{err}");
    validate(&config_text(VARIABLES, "{directory: /tmp/x}")).expect("valid");
}

#[test]
fn a_variable_named_like_a_fixed_column_is_refused() {
    let err = validate(&config_text(
        "{timestamp: request.time, method: request.method | \"\"}",
        "{directory: /tmp/x}",
    ))
    .expect_err("refused");
    assert!(err.contains("variables.timestamp"), "{err}");
    assert!(err.contains("rename the variable"), "{err}");
}

/// Two instances sent to one handler share its columns: `code` cannot be both INT64 and
/// STRING; the same name with the same type is fine.
#[test]
fn instances_of_one_handler_must_agree_on_types() {
    let second = |code: &str| {
        format!(
            "{}\n---\napiVersion: config.istio.io/v1alpha2\nkind: instance\n\
             metadata: {{name: tcplog, namespace: istio-system}}\n\
             spec:\n  compiledTemplate: logentry\n  params:\n    variables: {{code: '{code}'}}\n\
             ---\napiVersion: config.istio.io/v1alpha2\nkind: rule\n\
             metadata: {{name: tcp, namespace: istio-system}}\n\
             spec:\n  actions:\n  - {{handler: archive, instances: [tcplog]}}\n",
            config_text("{code: response.code | 0}", "{directory: /tmp/x}")
        )
    };
    let err = validate(&second("request.method | \"\"")).expect_err("refused");
    assert!(err.contains("variable code is Text"), "{err}");
    assert!(err.contains("tcplog.instance.istio-system"), "{err}");
    let config = validate(&second("connection.received.bytes | 0")).expect("same type");
    let layout = Layout::of_config(&config, 0).expect("layout");
    assert_eq!(layout.columns, [("code".to_owned(), Kind::Int)]);
    assert_eq!(layout.instances.len(), 2);
}

#[test]
fn two_handlers_cannot_share_an_archive() {
    let text = config_text(VARIABLES, "{directory: /tmp/x}");
    let twin = "\n---\napiVersion: config.istio.io/v1alpha2\nkind: handler\n\
                metadata: {name: twin, namespace: istio-system}\n\
                spec:\n  compiledAdapter: parquet\n  params: {directory: /tmp/x}\n";
    let err = validate(&format!("{text}{twin}")).expect_err("refused");
    assert!(
        err.contains("also written by handler archive.istio-system"),
        "{err}"
    );
    let other = twin.replace(
        "{directory: /tmp/x}",
        "{directory: /tmp/x, filePrefix: twin}",
    );
    validate(&format!("{text}{other}")).expect("another prefix is fine");
}

#[test]
fn layouts_sort_columns_and_map_each_instance() {
    use mixer_attributes::ValueType as T;
    let layout = Layout::new(&[
        (
            "a".into(),
            vec![("z".into(), T::Int64), ("b".into(), T::String)],
        ),
        (
            "b".into(),
            vec![("m".into(), T::StringMap), ("z".into(), T::Int64)],
        ),
    ])
    .expect("layout");
    let names: Vec<&str> = layout.columns.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["b", "m", "z"]);
    assert_eq!(layout.instances[0].cell_of, [Some(1), None, Some(0)]);
    assert_eq!(layout.instances[1].cell_of, [None, Some(0), Some(1)]);
    for (t, k) in [
        (T::String, Kind::Text),
        (T::IpAddress, Kind::Text),
        (T::DnsName, Kind::Text),
        (T::Int64, Kind::Int),
        (T::Double, Kind::Float),
        (T::Bool, Kind::Bool),
        (T::Timestamp, Kind::Timestamp),
        (T::Duration, Kind::Duration),
        (T::StringMap, Kind::Map),
        (T::Bytes, Kind::Bytes),
    ] {
        assert_eq!(Kind::of(t), k, "{t:?}");
    }
}
