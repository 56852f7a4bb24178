//! The columns of a handler's files, typed from the template: `timestamp`, `severity` and
//! `instance` first, then one column per `variables` entry of the `logentry` instances the
//! rules send to the handler (their union, sorted by name), typed from the entry's expression
//! type, every column nullable:
//!
//! | expression type | Arrow / Parquet column |
//! | --- | --- |
//! | STRING, DNS_NAME, EMAIL_ADDRESS, URI | Utf8 (Parquet STRING) |
//! | IP_ADDRESS | Utf8, the address as text (`10.0.0.1`, `::1`) |
//! | INT64 | Int64 |
//! | DOUBLE | Float64 |
//! | BOOL | Boolean |
//! | TIMESTAMP (and the `timestamp` column) | Timestamp(µs, UTC) |
//! | DURATION | Duration(ns) (Parquet INT64; the Arrow type is restored from the file's Arrow schema) |
//! | STRING_MAP | Map<Utf8, Utf8> |
//! | BYTES | Binary |
//!
//! A variable whose value cannot be evaluated (an attribute missing, no default) is null.
//! On the Report path a row is kept as [`Cell`]s in a per-call [`Rows`] (strings copied into
//! one buffer per call); the writer thread turns rows into Arrow arrays (`columns.rs`).

use mixer_attributes::expr::{EvalError, EvalValue};
use mixer_attributes::ValueType;
use mixer_rules::Config;
use std::fmt::Write as _;

/// Columns every file has, before the variables.
pub const FIXED_COLUMNS: [&str; 3] = ["timestamp", "severity", "instance"];

/// How a column is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Text,
    Int,
    Float,
    Bool,
    Timestamp,
    Duration,
    Map,
    Bytes,
}

impl Kind {
    pub fn of(t: ValueType) -> Kind {
        match t {
            ValueType::Int64 => Kind::Int,
            ValueType::Double => Kind::Float,
            ValueType::Bool => Kind::Bool,
            ValueType::Timestamp => Kind::Timestamp,
            ValueType::Duration => Kind::Duration,
            ValueType::StringMap => Kind::Map,
            ValueType::Bytes => Kind::Bytes,
            ValueType::String
            | ValueType::IpAddress
            | ValueType::EmailAddress
            | ValueType::Uri
            | ValueType::DnsName
            | ValueType::Unspecified => Kind::Text,
        }
    }
}

/// The columns written for one instance.
#[derive(Debug, PartialEq)]
pub struct InstanceColumns {
    /// The instance's full name, the `instance` column.
    pub name: String,
    /// Per variable column: the index of the instance's variable filling it, if any.
    pub(crate) cell_of: Vec<Option<u32>>,
    /// Per variable of the instance (sorted by name): its kind.
    pub(crate) kinds: Vec<Kind>,
}

/// A handler's file schema and how each instance's rows fill it.
#[derive(Debug, PartialEq)]
pub struct Layout {
    /// Variable columns (after [`FIXED_COLUMNS`]), sorted by name.
    pub columns: Vec<(String, Kind)>,
    pub instances: Vec<InstanceColumns>,
}

impl Layout {
    /// The layout of `instances`: `(full name, [(variable, type)])`, variables sorted by name.
    /// Fails when one variable name has two column kinds.
    pub fn new(instances: &[(String, Vec<(String, ValueType)>)]) -> Result<Layout, String> {
        let mut columns: Vec<(String, Kind, &str)> = Vec::new();
        for (inst, vars) in instances {
            for (name, ty) in vars {
                let kind = Kind::of(*ty);
                match columns.iter().find(|(n, _, _)| n == name) {
                    Some((_, k, other)) if *k != kind => {
                        return Err(format!(
                            "variable {name} is {kind:?} in instance {inst} but {k:?} in \
                             instance {other}; instances sent to one parquet handler share its \
                             columns, so their types must agree"
                        ))
                    }
                    Some(_) => {}
                    None => columns.push((name.clone(), kind, inst)),
                }
            }
        }
        columns.sort_by(|a, b| a.0.cmp(&b.0));
        let instances = instances
            .iter()
            .map(|(name, vars)| InstanceColumns {
                name: name.clone(),
                cell_of: columns
                    .iter()
                    .map(|(c, _, _)| vars.iter().position(|(v, _)| v == c).map(|i| i as u32))
                    .collect(),
                kinds: vars.iter().map(|(_, t)| Kind::of(*t)).collect(),
            })
            .collect();
        Ok(Layout {
            columns: columns.into_iter().map(|(n, k, _)| (n, k)).collect(),
            instances,
        })
    }

    /// The layout of handler `handler` of `config`: the `logentry` instances its rules send it.
    pub fn of_config(config: &Config, handler: usize) -> Result<Layout, String> {
        let instances: Vec<(String, Vec<(String, ValueType)>)> =
            super::config::instances_of(config, handler)
                .into_iter()
                .map(|i| {
                    let inst = &config.instances[i];
                    let vars = inst
                        .map("variables")
                        .map(|m| {
                            m.entries
                                .iter()
                                .map(|(k, e)| (k.clone(), e.result_type()))
                                .collect()
                        })
                        .unwrap_or_default();
                    (inst.name.to_string(), vars)
                })
                .collect();
        Layout::new(&instances)
    }

    /// Whether files of `self` and `other` have the same columns.
    pub fn same_columns(&self, other: &Layout) -> bool {
        self.columns == other.columns
    }
}

/// One value of a row, strings and bytes as ranges of [`Rows`]' buffers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Cell {
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    /// µs since the epoch.
    Micros(i64),
    Nanos(i64),
    Text(u32, u32),
    Bytes(u32, u32),
    /// Entries `[from, to)` of [`Rows::pairs`].
    Map(u32, u32),
}

/// Rows built by one Report call for one handler: per row the instance (an index into the
/// layout's instances), its timestamp, its severity, then its variables in name order.
#[derive(Debug, Default)]
pub struct Rows {
    /// Per row: (instance, first cell).
    pub(crate) starts: Vec<(u32, u32)>,
    pub(crate) cells: Vec<Cell>,
    pub(crate) text: String,
    pub(crate) bytes: Vec<u8>,
    /// Map entries: key and value as text ranges.
    pub(crate) pairs: Vec<[u32; 4]>,
    /// Values that failed to evaluate or had another type than their column (written null).
    pub errors: u64,
}

impl Rows {
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Forgets the rows (the request did not decode).
    pub fn clear(&mut self) {
        self.starts.clear();
        self.cells.clear();
        self.text.clear();
        self.bytes.clear();
        self.pairs.clear();
        self.errors = 0;
    }

    /// About the memory the rows hold, for the queue bound.
    pub fn weight(&self) -> u64 {
        (self.cells.len() * std::mem::size_of::<Cell>()
            + self.starts.len() * 8
            + self.text.len()
            + self.bytes.len()
            + self.pairs.len() * 16) as u64
    }

    pub(crate) fn start_row(&mut self, instance: u32) {
        self.starts.push((instance, self.cells.len() as u32));
    }

    /// Cells of row `r`.
    pub(crate) fn row(&self, r: usize) -> (u32, &[Cell]) {
        let (instance, from) = self.starts[r];
        let to = self
            .starts
            .get(r + 1)
            .map_or(self.cells.len(), |(_, c)| *c as usize);
        (instance, &self.cells[from as usize..to])
    }

    pub(crate) fn str(&self, from: u32, len: u32) -> &str {
        &self.text[from as usize..(from + len) as usize]
    }

    pub(crate) fn bytes(&self, from: u32, len: u32) -> &[u8] {
        &self.bytes[from as usize..(from + len) as usize]
    }

    fn text_cell(&mut self, s: &str) -> Cell {
        let from = self.text.len() as u32;
        self.text.push_str(s);
        Cell::Text(from, s.len() as u32)
    }

    pub(crate) fn push_null(&mut self) {
        self.cells.push(Cell::Null);
    }

    pub(crate) fn push_text(&mut self, s: &str) {
        let c = self.text_cell(s);
        self.cells.push(c);
    }

    pub(crate) fn push_micros(&mut self, micros: i64) {
        self.cells.push(Cell::Micros(micros));
    }

    /// Appends `value` for a column of `kind`: null (counted) when it failed or does not fit.
    pub(crate) fn push_value(&mut self, kind: Kind, value: Result<&EvalValue<'_>, &EvalError>) {
        let cell = match (kind, value) {
            (_, Err(_)) => None,
            (Kind::Text, Ok(v)) => match v {
                EvalValue::IpAddress(ip) => {
                    let from = self.text.len() as u32;
                    let _ = write!(self.text, "{ip}");
                    Some(Cell::Text(from, self.text.len() as u32 - from))
                }
                EvalValue::Int64(n) => Some(self.text_cell(&n.to_string())),
                EvalValue::Double(n) => Some(self.text_cell(&n.to_string())),
                EvalValue::Bool(b) => Some(self.text_cell(if *b { "true" } else { "false" })),
                other => other.as_str().map(|s| self.text_cell(s)),
            },
            (Kind::Int, Ok(EvalValue::Int64(n))) => Some(Cell::Int(*n)),
            (Kind::Float, Ok(EvalValue::Double(n))) => Some(Cell::Float(*n)),
            (Kind::Bool, Ok(EvalValue::Bool(b))) => Some(Cell::Bool(*b)),
            (Kind::Timestamp, Ok(EvalValue::Timestamp(t))) => Some(Cell::Micros(
                t.seconds
                    .saturating_mul(1_000_000)
                    .saturating_add(i64::from(t.nanos / 1000)),
            )),
            (Kind::Duration, Ok(EvalValue::Duration(d))) => Some(Cell::Nanos(
                d.seconds
                    .saturating_mul(1_000_000_000)
                    .saturating_add(i64::from(d.nanos)),
            )),
            (Kind::Bytes, Ok(EvalValue::Bytes(b))) => {
                let from = self.bytes.len() as u32;
                self.bytes.extend_from_slice(b);
                Some(Cell::Bytes(from, b.len() as u32))
            }
            (Kind::Map, Ok(EvalValue::StringMap(m))) => {
                let from = self.pairs.len() as u32;
                for (k, v) in m.iter() {
                    let (Cell::Text(ks, kl), Cell::Text(vs, vl)) =
                        (self.text_cell(k), self.text_cell(v))
                    else {
                        continue;
                    };
                    self.pairs.push([ks, kl, vs, vl]);
                }
                Some(Cell::Map(from, self.pairs.len() as u32))
            }
            _ => None,
        };
        match cell {
            Some(c) => self.cells.push(c),
            None => {
                self.errors += 1;
                self.cells.push(Cell::Null);
            }
        }
    }
}
