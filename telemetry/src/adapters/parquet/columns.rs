//! Rows ([`Rows`]) into Arrow arrays: one builder per column of a [`Layout`], filled row by
//! row on the writer thread and finished into a [`RecordBatch`] of the layout's schema.

use super::layout::{Cell, Kind, Layout, Rows};
use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, DurationNanosecondBuilder, Float64Builder, Int64Builder,
    MapBuilder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, Field, Schema, SchemaRef};
use std::sync::Arc;

enum Builder {
    Text(StringBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
    Timestamp(TimestampMicrosecondBuilder),
    Duration(DurationNanosecondBuilder),
    Map(Box<MapBuilder<StringBuilder, StringBuilder>>),
    Bytes(BinaryBuilder),
}

impl Builder {
    fn new(kind: Kind) -> Builder {
        match kind {
            Kind::Text => Builder::Text(StringBuilder::new()),
            Kind::Int => Builder::Int(Int64Builder::new()),
            Kind::Float => Builder::Float(Float64Builder::new()),
            Kind::Bool => Builder::Bool(BooleanBuilder::new()),
            Kind::Timestamp => {
                Builder::Timestamp(TimestampMicrosecondBuilder::new().with_timezone("UTC"))
            }
            Kind::Duration => Builder::Duration(DurationNanosecondBuilder::new()),
            Kind::Map => Builder::Map(Box::new(MapBuilder::new(
                None,
                StringBuilder::new(),
                StringBuilder::new(),
            ))),
            Kind::Bytes => Builder::Bytes(BinaryBuilder::new()),
        }
    }

    /// Appends `cell` (of `rows`); a cell of another kind than the column is null.
    fn push(&mut self, cell: Cell, rows: &Rows) -> Result<(), ArrowError> {
        match (self, cell) {
            (Builder::Text(b), Cell::Text(from, len)) => b.append_value(rows.str(from, len)),
            (Builder::Int(b), Cell::Int(n)) => b.append_value(n),
            (Builder::Float(b), Cell::Float(n)) => b.append_value(n),
            (Builder::Bool(b), Cell::Bool(v)) => b.append_value(v),
            (Builder::Timestamp(b), Cell::Micros(n)) => b.append_value(n),
            (Builder::Duration(b), Cell::Nanos(n)) => b.append_value(n),
            (Builder::Bytes(b), Cell::Bytes(from, len)) => b.append_value(rows.bytes(from, len)),
            (Builder::Map(b), Cell::Map(from, to)) => {
                for [ks, kl, vs, vl] in &rows.pairs[from as usize..to as usize] {
                    b.keys().append_value(rows.str(*ks, *kl));
                    b.values().append_value(rows.str(*vs, *vl));
                }
                b.append(true)?;
            }
            (b, _) => b.push_null()?,
        }
        Ok(())
    }

    fn push_null(&mut self) -> Result<(), ArrowError> {
        match self {
            Builder::Text(b) => b.append_null(),
            Builder::Int(b) => b.append_null(),
            Builder::Float(b) => b.append_null(),
            Builder::Bool(b) => b.append_null(),
            Builder::Timestamp(b) => b.append_null(),
            Builder::Duration(b) => b.append_null(),
            Builder::Bytes(b) => b.append_null(),
            Builder::Map(b) => b.append(false)?,
        }
        Ok(())
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Text(b) => Arc::new(b.finish()),
            Builder::Int(b) => Arc::new(b.finish()),
            Builder::Float(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Timestamp(b) => Arc::new(b.finish()),
            Builder::Duration(b) => Arc::new(b.finish()),
            Builder::Bytes(b) => Arc::new(b.finish()),
            Builder::Map(b) => Arc::new(b.finish()),
        }
    }
}

/// The builders of one layout's columns, with rows appended but not yet written.
pub(crate) struct Columns {
    schema: SchemaRef,
    /// The fixed columns then the variables, as in the schema.
    builders: Vec<Builder>,
    rows: usize,
}

impl std::fmt::Debug for Columns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Columns").field("rows", &self.rows).finish()
    }
}

const FIXED_KINDS: [Kind; 3] = [Kind::Timestamp, Kind::Text, Kind::Text];

impl Columns {
    pub(crate) fn new(layout: &Layout) -> Columns {
        let mut builders: Vec<Builder> = FIXED_KINDS.into_iter().map(Builder::new).collect();
        builders.extend(layout.columns.iter().map(|(_, k)| Builder::new(*k)));
        // each column's type is the one its builder makes, so batches always fit the schema
        let names = super::layout::FIXED_COLUMNS
            .iter()
            .copied()
            .chain(layout.columns.iter().map(|(n, _)| n.as_str()));
        let fields: Vec<Field> = names
            .zip(builders.iter_mut())
            .map(|(name, b)| Field::new(name, b.finish().data_type().clone(), true))
            .collect();
        Columns {
            schema: Arc::new(Schema::new(fields)),
            builders,
            rows: 0,
        }
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Appends every row of `rows`, built with `layout` (which has this schema's columns).
    pub(crate) fn append(&mut self, layout: &Layout, rows: &Rows) -> Result<(), ArrowError> {
        for r in 0..rows.len() {
            let (instance, cells) = rows.row(r);
            let Some(inst) = layout.instances.get(instance as usize) else {
                continue;
            };
            let (fixed, vars) = self.builders.split_at_mut(FIXED_KINDS.len());
            let ts = cells.first().copied().unwrap_or(Cell::Null);
            let severity = cells.get(1).copied().unwrap_or(Cell::Null);
            fixed[0].push(ts, rows)?;
            fixed[1].push(severity, rows)?;
            if let Builder::Text(b) = &mut fixed[2] {
                b.append_value(&inst.name);
            }
            for (b, at) in vars.iter_mut().zip(&inst.cell_of) {
                let cell = at
                    .and_then(|i| cells.get(2 + i as usize).copied())
                    .unwrap_or(Cell::Null);
                b.push(cell, rows)?;
            }
            self.rows += 1;
        }
        Ok(())
    }

    /// The rows appended so far as a batch; the builders start empty again.
    pub(crate) fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let arrays: Vec<ArrayRef> = self.builders.iter_mut().map(Builder::finish).collect();
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), arrays)
    }
}
