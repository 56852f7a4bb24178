//! Reads an attribute bag from YAML (`name: value` per attribute), typing each value by the
//! vocabulary, for `mixer eval --bag`. Every problem is reported, each naming the attribute.

use mixer_attributes::expr::{parse_duration, parse_timestamp};
use mixer_attributes::{OwnedBag, OwnedValue, ValueType, Vocabulary};
use serde_yaml_ng::Value as Yaml;
use std::net::IpAddr;

/// Parses `text` (the contents of `path`) into a bag.
pub fn parse(path: &str, text: &str, vocab: &Vocabulary) -> Result<OwnedBag, String> {
    let doc: Yaml = serde_yaml_ng::from_str(text).map_err(|e| format!("{path}: {e}"))?;
    let map = match doc {
        Yaml::Mapping(m) => m,
        Yaml::Null => return Ok(OwnedBag::new()),
        _ => {
            return Err(format!(
                "{path}: expected a map of attribute names to values"
            ))
        }
    };
    let mut bag = OwnedBag::with_capacity(map.len());
    let mut problems = Vec::new();
    for (k, v) in &map {
        let Some(name) = k.as_str() else {
            problems.push(format!(
                "{path}: attribute names must be strings, found {k:?}"
            ));
            continue;
        };
        let Some((_, ty)) = vocab.attribute(name) else {
            let hint = vocab
                .suggest(name)
                .map(|s| format!(" — did you mean {s:?}?"))
                .unwrap_or_default();
            problems.push(format!("{path}: unknown attribute {name:?}{hint}"));
            continue;
        };
        match value(ty, v) {
            Ok(value) => {
                bag.set(name.to_owned(), value);
            }
            Err(e) => problems.push(format!("{path}: {name} ({ty}): {e}")),
        }
    }
    if problems.is_empty() {
        Ok(bag)
    } else {
        Err(problems.join("\n"))
    }
}

fn scalar(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn value(ty: ValueType, v: &Yaml) -> Result<OwnedValue, String> {
    let text = || scalar(v).ok_or_else(|| format!("expected a scalar, found {v:?}"));
    Ok(match ty {
        ValueType::String
        | ValueType::DnsName
        | ValueType::EmailAddress
        | ValueType::Uri
        | ValueType::Unspecified => OwnedValue::String(text()?),
        ValueType::Int64 => OwnedValue::Int64(
            v.as_i64()
                .ok_or_else(|| format!("expected an integer, found {v:?}"))?,
        ),
        ValueType::Double => OwnedValue::Double(
            v.as_f64()
                .ok_or_else(|| format!("expected a number, found {v:?}"))?,
        ),
        ValueType::Bool => OwnedValue::Bool(
            v.as_bool()
                .ok_or_else(|| format!("expected true or false, found {v:?}"))?,
        ),
        ValueType::IpAddress => {
            let s = text()?;
            OwnedValue::ip(
                s.parse::<IpAddr>()
                    .map_err(|_| format!("{s:?} is not an IP address (\"10.0.0.1\")"))?,
            )
        }
        ValueType::Timestamp => {
            let s = text()?;
            OwnedValue::Timestamp(parse_timestamp(&s).map_err(|e| {
                format!("{s:?} is not an RFC 3339 timestamp (\"2026-11-26T14:00:00Z\"): {e}")
            })?)
        }
        ValueType::Duration => {
            let s = text()?;
            OwnedValue::Duration(
                parse_duration(&s)
                    .map_err(|e| format!("{s:?} is not a duration (\"12ms\", \"1m30s\"): {e}"))?,
            )
        }
        ValueType::Bytes => OwnedValue::Bytes(text()?.into_bytes()),
        ValueType::StringMap => {
            let Yaml::Mapping(m) = v else {
                return Err(format!("expected a map of strings, found {v:?}"));
            };
            let mut entries = Vec::with_capacity(m.len());
            for (k, val) in m {
                match (scalar(k), scalar(val)) {
                    (Some(k), Some(val)) => entries.push((k, val)),
                    _ => return Err(format!("map entries must be strings, found {k:?}: {val:?}")),
                }
            }
            OwnedValue::StringMap(entries)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_bag_parses_with_every_type() {
        let text = include_str!("../examples/bag.yaml");
        let bag = parse("examples/bag.yaml", text, Vocabulary::builtin()).unwrap();
        assert_eq!(
            bag.get_by_name("source.ip"),
            Some(&OwnedValue::Bytes(vec![10, 44, 1, 17]))
        );
        assert_eq!(
            bag.get_by_name("destination.port"),
            Some(&OwnedValue::Int64(9080))
        );
        assert_eq!(
            bag.get_by_name("connection.mtls"),
            Some(&OwnedValue::Bool(true))
        );
        assert!(
            matches!(bag.get_by_name("response.duration"), Some(OwnedValue::Duration(d)) if d.nanos == 12_000_000)
        );
        assert!(
            matches!(bag.get_by_name("request.headers"), Some(OwnedValue::StringMap(m)) if m.len() == 8)
        );
    }

    #[test]
    fn every_problem_is_reported() {
        let text = "destination.servce: x\nsource.ip: nope\nresponse.code: abc\n";
        let err = parse("b.yaml", text, Vocabulary::builtin()).unwrap_err();
        assert!(
            err.contains(
                "unknown attribute \"destination.servce\" — did you mean \"destination.service\"?"
            ),
            "{err}"
        );
        assert!(
            err.contains("source.ip (IP_ADDRESS): \"nope\" is not an IP address"),
            "{err}"
        );
        assert!(
            err.contains("response.code (INT64): expected an integer"),
            "{err}"
        );
    }
}
