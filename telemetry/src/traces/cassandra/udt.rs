//! The CQL values of Jaeger's user-defined types (`keyvalue`, `log`, `span_ref`, `process`),
//! serialized by field name, built from the pure rows of [`crate::traces::jaeger_rows`]
//! without copying their strings. Public for the raw-insert baseline of the span benchmark
//! (load-tests `span-write-raw`), which must write exactly these values.

use crate::traces::jaeger_rows::{KeyValueUdt, LogUdt, ProcessUdt, SpanRefUdt};
use scylla::SerializeValue;

#[derive(Debug, SerializeValue)]
pub struct CqlKeyValue<'a> {
    key: &'a str,
    value_type: &'a str,
    value_string: &'a str,
    value_bool: bool,
    value_long: i64,
    value_double: f64,
    value_binary: Option<&'a [u8]>,
}

#[derive(Debug, SerializeValue)]
pub struct CqlLog<'a> {
    ts: i64,
    fields: Vec<CqlKeyValue<'a>>,
}

#[derive(Debug, SerializeValue)]
pub struct CqlSpanRef<'a> {
    ref_type: &'a str,
    trace_id: &'a [u8],
    span_id: i64,
}

#[derive(Debug, SerializeValue)]
pub struct CqlProcess<'a> {
    service_name: &'a str,
    tags: Vec<CqlKeyValue<'a>>,
}

pub fn key_values<'a>(kvs: &'a [KeyValueUdt<'a>]) -> Vec<CqlKeyValue<'a>> {
    kvs.iter()
        .map(|kv| CqlKeyValue {
            key: kv.key,
            value_type: kv.value_type,
            value_string: kv.value_string,
            value_bool: kv.value_bool,
            value_long: kv.value_long,
            value_double: kv.value_double,
            value_binary: kv.value_binary,
        })
        .collect()
}

pub fn logs<'a>(logs: &'a [LogUdt<'a>]) -> Vec<CqlLog<'a>> {
    logs.iter()
        .map(|l| CqlLog {
            ts: l.ts,
            fields: key_values(&l.fields),
        })
        .collect()
}

pub fn refs(refs: &[SpanRefUdt]) -> Vec<CqlSpanRef<'_>> {
    refs.iter()
        .map(|r| CqlSpanRef {
            ref_type: r.ref_type,
            trace_id: &r.trace_id,
            span_id: r.span_id,
        })
        .collect()
}

pub fn process<'a>(p: &'a ProcessUdt<'a>) -> CqlProcess<'a> {
    CqlProcess {
        service_name: p.service_name,
        tags: key_values(&p.tags),
    }
}
