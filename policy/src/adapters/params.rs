//! Reading adapter `params` with serde: the YAML spellings Istio accepts (proto snake_case and
//! lowerCamelCase, through `#[serde(alias)]`), unknown fields rejected, Go duration strings
//! (`"5s"`, `"1m30s"`), and serde's error turned into a [`FieldProblem`] naming the field.
//! Structural errors stop at the first one (serde's way); each adapter's `validate` then
//! reports every semantic problem of params that parsed.

use mixer_attributes::expr::parse_duration;
use mixer_rules::FieldProblem;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_yaml_ng::Value as Yaml;
use std::time::Duration;

/// A duration as written in config: Go syntax, possibly negative (which `validate` reports).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConfigDuration {
    pub nanos: i128,
}

impl ConfigDuration {
    pub const fn from_secs(s: u64) -> ConfigDuration {
        ConfigDuration {
            nanos: s as i128 * 1_000_000_000,
        }
    }

    /// The duration, or zero when negative.
    pub fn to_std(self) -> Duration {
        u64::try_from(self.nanos)
            .map(Duration::from_nanos)
            .unwrap_or(Duration::ZERO)
    }

    pub fn is_negative(self) -> bool {
        self.nanos < 0
    }
}

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Through a visitor, so the error is raised inside the deserializer, which then
        // knows the field's path.
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ConfigDuration;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a duration such as \"5s\", \"1m30s\" or \"500ms\"")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<ConfigDuration, E> {
                parse_duration(text)
                    .map(|v| ConfigDuration {
                        nanos: v.as_nanos(),
                    })
                    .map_err(|e| {
                        E::custom(format!(
                            "{e} (write it like \"5s\", \"1m30s\" or \"500ms\")"
                        ))
                    })
            }
        }
        d.deserialize_str(V)
    }
}

/// Deserializes `params` (null means `{}`) into `T`, or says which field is wrong.
pub fn parse<T: DeserializeOwned>(params: &Yaml) -> Result<T, Vec<FieldProblem>> {
    let value = match params {
        Yaml::Null => Yaml::Mapping(Default::default()),
        other => other.clone(),
    };
    // Through text, so serde_yaml_ng tracks the path of the failing field.
    let text = serde_yaml_ng::to_string(&value)
        .map_err(|e| vec![FieldProblem::new("", format!("cannot read params: {e}"))])?;
    serde_yaml_ng::from_str(&text).map_err(|e| vec![problem(&e.to_string())])
}

/// serde_yaml_ng's `path: message at line L column C` as a [`FieldProblem`].
fn problem(raw: &str) -> FieldProblem {
    let msg = match raw.rfind(" at line ") {
        Some(i) if raw[i..].contains(" column ") => &raw[..i],
        _ => raw,
    };
    let (mut path, mut msg) = match msg.split_once(": ") {
        Some((p, m)) if !p.contains(' ') && !p.is_empty() => (p.to_owned(), m.to_owned()),
        _ => (String::new(), msg.to_owned()),
    };
    if path == "." {
        path.clear();
    }
    // "unknown field `x`, expected …" and "missing field `x`" name the field themselves
    for lead in ["unknown field `", "missing field `"] {
        if let Some(rest) = msg.strip_prefix(lead) {
            if let Some(end) = rest.find('`') {
                let field = &rest[..end];
                path = if path.is_empty() {
                    field.to_owned()
                } else {
                    format!("{path}.{field}")
                };
                msg = format!("{}{}", &lead[..lead.len() - 2], &rest[end + 1..]);
            }
        }
    }
    FieldProblem::new(path, msg)
}

/// The problem for a negative duration.
pub fn non_negative(field: &str, d: Option<ConfigDuration>, out: &mut Vec<FieldProblem>) {
    if let Some(d) = d.filter(|d| d.is_negative()) {
        out.push(
            FieldProblem::new(field, "must not be negative")
                .value(format!("{}ns", d.nanos))
                .example("5s"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct P {
        #[serde(alias = "validDuration")]
        valid_duration: Option<ConfigDuration>,
        #[serde(default)]
        items: Vec<Item>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        #[serde(alias = "maxAmount")]
        max_amount: i64,
    }

    fn yaml(s: &str) -> Yaml {
        serde_yaml_ng::from_str(s).expect("test yaml")
    }

    #[test]
    fn both_spellings_and_go_durations() {
        let p: P = parse(&yaml("validDuration: 1m30s\nitems: [{maxAmount: 3}]")).expect("ok");
        assert_eq!(p.valid_duration, Some(ConfigDuration::from_secs(90)));
        let p: P = parse(&yaml("valid_duration: 500ms")).expect("ok");
        assert_eq!(
            p.valid_duration.map(|d| d.to_std()),
            Some(Duration::from_millis(500))
        );
        let p: P = parse(&Yaml::Null).expect("null is {}");
        assert!(p.valid_duration.is_none());
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse::<P>(&yaml("validDuration: soon")).expect_err("bad duration");
        assert_eq!(e[0].field, "validDuration");
        assert!(e[0].message.contains("invalid duration \"soon\""), "{e:?}");

        let e = parse::<P>(&yaml("items: [{maxAmount: lots}]")).expect_err("bad number");
        assert_eq!(e[0].field, "items[0].maxAmount");

        let e = parse::<P>(&yaml("colour: red")).expect_err("unknown");
        assert_eq!(e[0].field, "colour");
        assert!(e[0].message.starts_with("unknown field, expected"), "{e:?}");

        let e = parse::<P>(&yaml("items: [{}]")).expect_err("missing");
        assert_eq!(e[0].field, "items[0].max_amount");
        assert_eq!(e[0].message, "missing field");
    }
}
