//! The handler's `params`, read from YAML with snake_case or lowerCamelCase keys like the other
//! adapters' and checked whole (every problem with its field, the bad value and an example);
//! and the checks that need the whole config ([`check_across_handlers`]): the columns of the
//! instances a handler receives must agree, and two handlers must not share an archive.

use super::layout::{Layout, FIXED_COLUMNS};
use super::SPEC;
use crate::adapters::yaml::{fields, problem, text};
use mixer_attributes::expr::parse_duration;
use mixer_rules::{Config, FieldProblem, HandlerContext, Problem, Template};
use serde_yaml_ng::Value as Yaml;
use std::path::PathBuf;
use std::time::Duration;

const PARAMS: &[&str] = &[
    "directory",
    "file_prefix",
    "max_megabytes_before_rotation",
    "max_age_before_rotation",
    "row_group_rows",
    "compression",
    "queue_megabytes",
];

pub const DEFAULT_PREFIX: &str = "accesslog";
pub const DEFAULT_MAX_MEGABYTES: u32 = 128;
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(3600);
pub const DEFAULT_ROW_GROUP_ROWS: u32 = 32 * 1024;
pub const DEFAULT_QUEUE_MEGABYTES: u32 = 16;

/// How column chunks are compressed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    #[default]
    Snappy,
    Uncompressed,
}

const COMPRESSIONS: &[(&str, Compression)] = &[
    ("SNAPPY", Compression::Snappy),
    ("UNCOMPRESSED", Compression::Uncompressed),
];

/// When the open file is closed and a new one started, and how it is written. Applies to the
/// next file (a reload changes it without closing the open one, unless the columns change).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileLimits {
    /// Close the file once its encoded size reaches this (about: checked after each batch).
    pub max_bytes: u64,
    /// Close the file once it is this old, rows or not coming (its rows become readable then).
    pub max_age: Duration,
    /// Rows per row group.
    pub row_group_rows: usize,
    pub compression: Compression,
}

/// `params` of a `parquet` handler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// Where the files go; created if missing.
    pub directory: PathBuf,
    /// Files are `<prefix>-<UTC time opened>-<n>.parquet`.
    pub file_prefix: String,
    pub limits: FileLimits,
    /// Bytes of rows waiting for the writer; past them new rows are dropped (counted).
    pub queue_bytes: u64,
}

impl Params {
    /// Reads and checks `params`.
    pub fn parse(params: &Yaml) -> Result<Params, Vec<FieldProblem>> {
        let mut p = Vec::new();
        let f = fields(params, "", PARAMS, &mut p);
        let directory = text(f.get("directory"), "directory", &mut p);
        match f.get("directory") {
            None | Some(Yaml::Null) => p.push(
                FieldProblem::new("directory", "required: the directory the files go to")
                    .example("/var/log/mixer/archive"),
            ),
            Some(Yaml::String(d)) if d.is_empty() => p.push(
                FieldProblem::new("directory", "must not be empty")
                    .example("/var/log/mixer/archive"),
            ),
            _ => {}
        }
        let mut file_prefix = text(f.get("file_prefix"), "file_prefix", &mut p);
        if f.get("file_prefix").is_none_or(Yaml::is_null) {
            file_prefix = DEFAULT_PREFIX.to_owned();
        } else if file_prefix.is_empty()
            || !file_prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            || file_prefix.starts_with('.')
        {
            p.push(
                FieldProblem::new(
                    "file_prefix",
                    "must be a file name: letters, digits, '.', '_' or '-', not starting with '.'",
                )
                .value(format!("{file_prefix:?}"))
                .example("accesslog"),
            );
        }
        let mut positive = |field: &str, default: u32, example: &str| -> u32 {
            match f.get(field) {
                None | Some(Yaml::Null) => default,
                Some(v) => match v.as_i64() {
                    Some(n) if n > 0 && n <= i64::from(i32::MAX) => n as u32,
                    _ => {
                        p.push(
                            problem(field, "must be a whole number, 1 or more", v).example(example),
                        );
                        default
                    }
                },
            }
        };
        let megabytes = positive(
            "max_megabytes_before_rotation",
            DEFAULT_MAX_MEGABYTES,
            "128",
        );
        let row_group_rows = positive("row_group_rows", DEFAULT_ROW_GROUP_ROWS, "32768");
        let queue_megabytes = positive("queue_megabytes", DEFAULT_QUEUE_MEGABYTES, "16");
        let max_age = match f.get("max_age_before_rotation") {
            None | Some(Yaml::Null) => DEFAULT_MAX_AGE,
            Some(v) => match v.as_str().map(parse_duration) {
                Some(Ok(d)) if d.seconds >= 1 => {
                    Duration::new(d.seconds.unsigned_abs(), d.nanos.unsigned_abs())
                }
                _ => {
                    p.push(
                        problem(
                            "max_age_before_rotation",
                            "must be a duration of 1s or more",
                            v,
                        )
                        .example("1h"),
                    );
                    DEFAULT_MAX_AGE
                }
            },
        };
        let compression = match f.get("compression") {
            None | Some(Yaml::Null) => Compression::default(),
            Some(v) => match COMPRESSIONS.iter().find(|(n, _)| v.as_str() == Some(*n)) {
                Some((_, c)) => *c,
                None => {
                    p.push(
                        problem("compression", "must be one of SNAPPY, UNCOMPRESSED", v)
                            .example("SNAPPY"),
                    );
                    Compression::default()
                }
            },
        };
        if !p.is_empty() {
            return Err(p);
        }
        Ok(Params {
            directory: PathBuf::from(directory),
            file_prefix,
            limits: FileLimits {
                max_bytes: u64::from(megabytes) * 1024 * 1024,
                max_age,
                row_group_rows: row_group_rows as usize,
                compression,
            },
            queue_bytes: u64::from(queue_megabytes) * 1024 * 1024,
        })
    }
}

/// The adapter's [`AdapterSpec`](mixer_rules::AdapterSpec) check: `params` must parse.
pub fn check(params: &Yaml, _ctx: &HandlerContext<'_>) -> Vec<FieldProblem> {
    Params::parse(params).err().unwrap_or_default()
}

/// The `logentry` instances the rules send to handler `handler`, as indices into
/// `config.instances`, in first-use order.
pub(crate) fn instances_of(config: &Config, handler: usize) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    for action in config.rules.iter().flat_map(|r| &r.actions) {
        if action.handler != handler {
            continue;
        }
        for &i in &action.instances {
            let logentry = config
                .instances
                .get(i)
                .is_some_and(|x| x.template == Template::LogEntry);
            if logentry && !out.contains(&i) {
                out.push(i);
            }
        }
    }
    out
}

/// Problems only the whole config shows: a variable named like a fixed column, one variable
/// name with two types among the instances a handler receives (a file has one schema), and
/// two handlers writing the same directory and prefix.
pub fn check_across_handlers(config: &Config) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut seen: Vec<(PathBuf, String, String)> = Vec::new();
    for (hi, h) in config.handlers.iter().enumerate() {
        if h.adapter != SPEC.name {
            continue;
        }
        let handler = format!("{}.{}", h.name.name, h.name.namespace);
        for i in instances_of(config, hi) {
            let inst = &config.instances[i];
            let Some(vars) = inst.map("variables") else {
                continue;
            };
            for (name, _) in &vars.entries {
                if FIXED_COLUMNS.contains(&name.as_str()) {
                    out.push(
                        Problem::new(
                            &inst.origin,
                            format!("spec.params.variables.{name}"),
                            format!(
                                "sent to parquet handler {handler}, whose files have a column \
                                 {name} of their own; rename the variable"
                            ),
                        )
                        .example(format!("{name}_value")),
                    );
                }
            }
        }
        if let Err(conflict) = Layout::of_config(config, hi) {
            out.push(Problem::new(&h.origin, "spec", conflict));
        }
        let Ok(params) = Params::parse(&h.params) else {
            continue;
        };
        match seen
            .iter()
            .find(|(d, p, _)| *d == params.directory && *p == params.file_prefix)
        {
            Some((_, _, other)) => out.push(
                Problem::new(
                    &h.origin,
                    "spec.params.filePrefix",
                    format!(
                        "directory {} and prefix {} are also written by handler {other}; \
                         each parquet handler needs its own",
                        params.directory.display(),
                        params.file_prefix
                    ),
                )
                .value(params.file_prefix.clone())
                .example(format!("{}-{}", params.file_prefix, h.name.name)),
            ),
            None => seen.push((params.directory, params.file_prefix, handler)),
        }
    }
    out
}
