//! The handler's `params` (`adapter.stdio.config.Params`, Istio 1.4), read from YAML with
//! snake_case or lowerCamelCase keys as Istio's loader reads them, and checked whole: every
//! problem is collected with its field, the bad value and an example. Enums are given by name
//! (`ROTATED_FILE`) or number (`3`), as protobuf's JSON mapping allows. What is left out of
//! `params` keeps Istio's default; `severityLevels` entries are added to Istio's default map.

use super::rotate::Rotation;
use super::sinks::Destination;
use super::SPEC;
use crate::adapters::yaml::{fields, problem, show, text};
use mixer_rules::{Config, FieldProblem, HandlerContext, Problem};
use serde_yaml_ng::Value as Yaml;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

const PARAMS: &[&str] = &[
    "log_stream",
    "severity_levels",
    "metric_level",
    "output_as_json",
    "output_level",
    "output_path",
    "max_megabytes_before_rotation",
    "max_days_before_rotation",
    "max_rotated_files",
];

/// `Params.Stream`: where entries are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Stream {
    #[default]
    Stdout,
    Stderr,
    File,
    RotatedFile,
}

const STREAMS: &[(&str, Stream)] = &[
    ("STDOUT", Stream::Stdout),
    ("STDERR", Stream::Stderr),
    ("FILE", Stream::File),
    ("ROTATED_FILE", Stream::RotatedFile),
];

/// `Params.Level`, ordered by importance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    #[default]
    Info,
    Warning,
    Error,
}

const LEVELS: &[(&str, Level)] = &[
    ("INFO", Level::Info),
    ("WARNING", Level::Warning),
    ("ERROR", Level::Error),
];

impl Level {
    /// The `level` written, as zap's lowercase level encoder spells it.
    pub fn label(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warning => "warn",
            Level::Error => "error",
        }
    }
}

/// Istio's default `severityLevels` (the adapter's `DefaultConfig`).
const DEFAULT_SEVERITIES: &[(&str, Level)] = &[
    ("INFORMATIONAL", Level::Info),
    ("informational", Level::Info),
    ("INFO", Level::Info),
    ("info", Level::Info),
    ("WARNING", Level::Warning),
    ("warning", Level::Warning),
    ("WARN", Level::Warning),
    ("warn", Level::Warning),
    ("ERROR", Level::Error),
    ("error", Level::Error),
    ("ERR", Level::Error),
    ("err", Level::Error),
    ("FATAL", Level::Error),
    ("fatal", Level::Error),
];

/// Istio's documented defaults of the rotation fields.
pub const DEFAULT_MAX_MEGABYTES: u32 = 100;
pub const DEFAULT_MAX_DAYS: u32 = 30;
pub const DEFAULT_MAX_ROTATED_FILES: u32 = 1000;

/// `params` of a `stdio` handler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    pub log_stream: Stream,
    /// Severity string of a `logentry` instance → level; a severity not listed is INFO.
    pub severity_levels: BTreeMap<String, Level>,
    /// Level of `metric` instances.
    pub metric_level: Level,
    /// JSON lines (default), or zap's console format (tab-separated).
    pub output_as_json: bool,
    /// Entries below this level are not written.
    pub output_level: Level,
    /// The file for FILE and ROTATED_FILE; empty for the standard streams.
    pub output_path: String,
    /// ROTATED_FILE: size at which the file is rotated (0 given: the default).
    pub max_megabytes_before_rotation: u32,
    /// ROTATED_FILE: age in days at which the file is rotated and backups are deleted (0: never).
    pub max_days_before_rotation: u32,
    /// ROTATED_FILE: backups kept (0: all).
    pub max_rotated_files: u32,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            log_stream: Stream::Stdout,
            severity_levels: DEFAULT_SEVERITIES
                .iter()
                .map(|(k, l)| ((*k).to_owned(), *l))
                .collect(),
            metric_level: Level::Info,
            output_as_json: true,
            output_level: Level::Info,
            output_path: String::new(),
            max_megabytes_before_rotation: DEFAULT_MAX_MEGABYTES,
            max_days_before_rotation: DEFAULT_MAX_DAYS,
            max_rotated_files: DEFAULT_MAX_ROTATED_FILES,
        }
    }
}

impl Params {
    /// Reads and checks `params` (absent or `{}` gives Istio's defaults).
    pub fn parse(params: &Yaml) -> Result<Params, Vec<FieldProblem>> {
        let mut p = Vec::new();
        let f = fields(params, "", PARAMS, &mut p);
        let mut out = Params::default();
        if let Some(s) = enumerated(f.get("log_stream"), "log_stream", STREAMS, &mut p) {
            out.log_stream = s;
        }
        for (field, slot) in [
            ("metric_level", &mut out.metric_level),
            ("output_level", &mut out.output_level),
        ] {
            if let Some(l) = enumerated(f.get(field), field, LEVELS, &mut p) {
                *slot = l;
            }
        }
        match f.get("severity_levels") {
            None | Some(Yaml::Null) => {}
            Some(Yaml::Mapping(m)) => {
                for (k, v) in m {
                    let Some(key) = k.as_str() else {
                        p.push(problem("severity_levels", "keys must be strings", k));
                        continue;
                    };
                    let field = format!("severity_levels.{key}");
                    if let Some(l) = enumerated(Some(v), &field, LEVELS, &mut p) {
                        out.severity_levels.insert(key.to_owned(), l);
                    }
                }
            }
            Some(other) => p.push(
                problem(
                    "severity_levels",
                    "must be a map of severity to level",
                    other,
                )
                .example("{Info: INFO, Warn: WARNING, Alert: ERROR}"),
            ),
        }
        match f.get("output_as_json") {
            None | Some(Yaml::Null) => {}
            Some(Yaml::Bool(b)) => out.output_as_json = *b,
            Some(other) => {
                p.push(problem("output_as_json", "must be true or false", other).example("true"))
            }
        }
        out.output_path = text(f.get("output_path"), "output_path", &mut p);
        let counts = [
            ("max_megabytes_before_rotation", "100"),
            ("max_days_before_rotation", "30"),
            ("max_rotated_files", "1000"),
        ];
        let mut read = counts.map(|(field, example)| whole(f.get(field), field, example, &mut p));
        // proto3 cannot tell 0 from unset: Istio's 0 megabytes is the default size
        if read[0] == Some(0) {
            read[0] = None;
        }
        out.max_megabytes_before_rotation = read[0].unwrap_or(DEFAULT_MAX_MEGABYTES);
        out.max_days_before_rotation = read[1].unwrap_or(DEFAULT_MAX_DAYS);
        out.max_rotated_files = read[2].unwrap_or(DEFAULT_MAX_ROTATED_FILES);
        match out.log_stream {
            Stream::Stdout | Stream::Stderr if !out.output_path.is_empty() => p.push(
                FieldProblem::new(
                    "output_path",
                    "cannot specify an output path when using a STDOUT or STDERR log stream",
                )
                .value(&out.output_path)
                .example("logStream: FILE (or ROTATED_FILE), or no outputPath"),
            ),
            Stream::File | Stream::RotatedFile if out.output_path.is_empty() => p.push(
                FieldProblem::new(
                    "output_path",
                    "need a valid output path when using a FILE or ROTATED_FILE log stream",
                )
                .example("/var/log/mixer/access.log"),
            ),
            _ => {}
        }
        if p.is_empty() {
            Ok(out)
        } else {
            Err(p)
        }
    }

    /// The level of a `logentry` severity.
    pub fn level_of(&self, severity: &str) -> Level {
        self.severity_levels
            .get(severity)
            .copied()
            .unwrap_or(Level::Info)
    }

    /// Where entries go.
    pub fn destination(&self) -> Destination {
        match self.log_stream {
            Stream::Stdout => Destination::Stdout,
            Stream::Stderr => Destination::Stderr,
            Stream::File | Stream::RotatedFile => {
                Destination::File(PathBuf::from(&self.output_path))
            }
        }
    }

    /// The rotation policy of a ROTATED_FILE; `None` otherwise.
    pub fn rotation(&self) -> Option<Rotation> {
        (self.log_stream == Stream::RotatedFile).then(|| Rotation {
            max_bytes: u64::from(self.max_megabytes_before_rotation) * 1024 * 1024,
            max_age: (self.max_days_before_rotation > 0)
                .then(|| Duration::from_secs(u64::from(self.max_days_before_rotation) * 86_400)),
            max_backups: self.max_rotated_files as usize,
        })
    }
}

/// An enum given by name or number.
fn enumerated<T: Copy>(
    v: Option<&Yaml>,
    field: &str,
    names: &[(&str, T)],
    p: &mut Vec<FieldProblem>,
) -> Option<T> {
    let v = v?;
    if v.is_null() {
        return None;
    }
    let found = match v {
        Yaml::String(s) => names.iter().find(|(n, _)| n == s),
        Yaml::Number(n) => n
            .as_u64()
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| names.get(i)),
        _ => None,
    };
    if found.is_none() {
        let all: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
        p.push(
            FieldProblem::new(field, format!("must be one of {}", all.join(", ")))
                .value(show(v))
                .example(all[names.len() - 1]),
        );
    }
    found.map(|(_, t)| *t)
}

/// A proto `int32` that must not be negative.
fn whole(v: Option<&Yaml>, field: &str, example: &str, p: &mut Vec<FieldProblem>) -> Option<u32> {
    let v = v?;
    if v.is_null() {
        return None;
    }
    match v.as_i64() {
        Some(n) if (0..=i64::from(i32::MAX)).contains(&n) => u32::try_from(n).ok(),
        _ => {
            p.push(problem(field, "must be a whole number, 0 or more", v).example(example));
            None
        }
    }
}

/// The adapter's [`AdapterSpec`](mixer_rules::AdapterSpec) check: `params` must parse.
pub fn check(params: &Yaml, _ctx: &HandlerContext<'_>) -> Vec<FieldProblem> {
    Params::parse(params).err().unwrap_or_default()
}

/// `stdio` handlers writing the same file must agree on how (FILE or ROTATED_FILE, and the
/// rotation limits), since they share one writer: a problem at each later handler.
pub fn check_across_handlers(config: &Config) -> Vec<Problem> {
    let mut seen: Vec<(String, Params, String)> = Vec::new();
    let mut out = Vec::new();
    for h in config.handlers.iter().filter(|h| h.adapter == SPEC.name) {
        let Ok(params) = Params::parse(&h.params) else {
            continue;
        };
        if params.output_path.is_empty() {
            continue;
        }
        let handler = format!("{}.{}", h.name.name, h.name.namespace);
        match seen.iter().find(|(path, _, _)| *path == params.output_path) {
            Some((path, first, other)) => {
                if first.log_stream != params.log_stream || first.rotation() != params.rotation() {
                    out.push(
                        Problem::new(
                            &h.origin,
                            "spec.params",
                            format!(
                                "{path} is also written by handler {other} with another \
                                 logStream or other rotation limits; handlers sharing a file \
                                 must agree on them"
                            ),
                        )
                        .value(path.clone()),
                    );
                }
            }
            None => seen.push((params.output_path.clone(), params, handler)),
        }
    }
    out
}
