//! `params`: Istio's defaults, both key spellings, every problem at once, and handlers that
//! share a file.

use super::super::*;
use super::{yaml, CONFIG};
use crate::config_source::{self, Files};
use std::path::PathBuf;
use std::time::Duration;

#[test]
fn params_default_to_istios_and_take_both_spellings() {
    let d = Params::parse(&yaml("~")).expect("null");
    assert_eq!(d, Params::default());
    assert_eq!(d.log_stream, Stream::Stdout);
    assert!(d.output_as_json);
    assert_eq!(d.level_of("warn"), Level::Warning);
    assert_eq!(d.level_of("Info"), Level::Info, "unlisted: INFO");
    assert_eq!(d.level_of("FATAL"), Level::Error);
    assert_eq!(d.rotation(), None);
    let camel = Params::parse(&yaml(
        "{logStream: ROTATED_FILE, outputPath: /tmp/a.log, maxMegabytesBeforeRotation: 0, \
         maxRotatedFiles: 3, severityLevels: {Alert: ERROR}, outputLevel: 1}",
    ))
    .expect("camel");
    let snake = Params::parse(&yaml(
        "{log_stream: 3, output_path: /tmp/a.log, max_rotated_files: 3, \
         severity_levels: {Alert: 2}, output_level: WARNING}",
    ))
    .expect("snake");
    assert_eq!(camel, snake);
    assert_eq!(camel.level_of("Alert"), Level::Error);
    assert_eq!(camel.level_of("info"), Level::Info, "defaults stay");
    assert_eq!(
        camel.rotation(),
        Some(Rotation {
            max_bytes: 100 * 1024 * 1024,
            max_age: Some(Duration::from_secs(30 * 86_400)),
            max_backups: 3,
        })
    );
    assert_eq!(
        camel.destination(),
        Destination::File(PathBuf::from("/tmp/a.log"))
    );
}

#[test]
fn params_problems_are_all_reported_with_field_value_and_example() {
    let errs = Params::parse(&yaml(
        "{logStream: FILES, outputLevel: DEBUG, severityLevels: {Info: LOUD}, \
         outputAsJson: yes, maxMegabytesBeforeRotation: -1, maxRotatedFile: 3}",
    ))
    .expect_err("bad params");
    let fields: Vec<&str> = errs.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "max_rotated_file",
            "log_stream",
            "output_level",
            "severity_levels.Info",
            "output_as_json",
            "max_megabytes_before_rotation",
        ],
        "{errs:#?}"
    );
    assert_eq!(
        errs[1].message,
        "must be one of STDOUT, STDERR, FILE, ROTATED_FILE"
    );
    assert_eq!(errs[1].value.as_deref(), Some("\"FILES\""));
    assert!(errs.iter().all(|p| p.example.is_some()), "{errs:#?}");

    let no_path = Params::parse(&yaml("{logStream: ROTATED_FILE}")).expect_err("no path");
    assert_eq!(no_path[0].field, "output_path");
    assert!(no_path[0].message.contains("need a valid output path"));
    let stray = Params::parse(&yaml("{outputPath: /tmp/x.log}")).expect_err("stdout + path");
    assert!(stray[0].message.contains("cannot specify an output path"));

    // through the config loader: file, document and the params field
    let bad = config_source::validate(Some(&Files {
        files: vec![("a.yaml".into(), CONFIG.replace("PARAMS", "{logStream: 7}"))],
    }))
    .expect_err("rejected")
    .to_string();
    assert!(
        bad.contains("a.yaml: document 2 (handler stdio.istio-system): spec.params.log_stream"),
        "{bad}"
    );
}

#[test]
fn handlers_writing_one_file_must_agree_on_rotation() {
    let two = |second: &str| {
        let text = format!(
            "{}---\n{}",
            CONFIG.replace("PARAMS", "{logStream: FILE, outputPath: /tmp/shared.log}"),
            "apiVersion: config.istio.io/v1alpha2\nkind: handler\nmetadata: {name: other, namespace: istio-system}\nspec:\n  compiledAdapter: stdio\n  params: SECOND\n"
                .replace("SECOND", second)
        );
        config_source::validate(Some(&Files {
            files: vec![("b.yaml".into(), text)],
        }))
    };
    two("{logStream: FILE, outputPath: /tmp/shared.log, outputAsJson: false}")
        .unwrap_or_else(|p| panic!("same settings share: {p}"));
    let err = two("{logStream: ROTATED_FILE, outputPath: /tmp/shared.log}")
        .expect_err("conflict")
        .to_string();
    assert!(
        err.contains("handler other.istio-system): spec.params: /tmp/shared.log is also written by handler stdio.istio-system"),
        "{err}"
    );
}
