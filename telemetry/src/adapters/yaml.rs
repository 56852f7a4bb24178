//! Small readers over `serde_yaml_ng` values, shared by the adapters' `params` parsers, that
//! report what is wrong instead of failing: maps with keys normalised to snake_case (unknown
//! keys listed), strings and numbers.

use mixer_rules::{snake_case, FieldProblem};
use serde_yaml_ng::Value as Yaml;

/// A map's entries with keys normalised to snake_case; unknown keys are reported.
pub(crate) struct Fields<'y> {
    pub(crate) entries: Vec<(String, &'y Yaml)>,
}

impl<'y> Fields<'y> {
    pub(crate) fn get(&self, key: &str) -> Option<&'y Yaml> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    pub(crate) fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
}

pub(crate) fn fields<'y>(
    v: &'y Yaml,
    path: &str,
    allowed: &[&str],
    p: &mut Vec<FieldProblem>,
) -> Fields<'y> {
    let at = |k: &str| {
        if path.is_empty() {
            k.to_owned()
        } else {
            format!("{path}.{k}")
        }
    };
    let mut entries: Vec<(String, &Yaml)> = Vec::new();
    match v {
        Yaml::Null => {}
        Yaml::Mapping(m) => {
            for (k, val) in m {
                let key = snake_case(k.as_str().unwrap_or_default());
                if !allowed.contains(&key.as_str()) {
                    p.push(
                        problem(at(&key), "unknown field", k)
                            .example(format!("one of: {}", allowed.join(", "))),
                    );
                } else if entries.iter().any(|(e, _)| *e == key) {
                    p.push(FieldProblem::new(
                        at(&key),
                        "given twice (snake_case and lowerCamelCase spellings)",
                    ));
                } else {
                    entries.push((key, val));
                }
            }
        }
        other => p.push(problem(
            if path.is_empty() { "" } else { path },
            "must be a map",
            other,
        )),
    }
    Fields { entries }
}

pub(crate) fn text(v: Option<&Yaml>, field: &str, p: &mut Vec<FieldProblem>) -> String {
    match v {
        None | Some(Yaml::Null) => String::new(),
        Some(Yaml::String(s)) => s.clone(),
        Some(other) => {
            p.push(problem(field, "must be a string", other));
            String::new()
        }
    }
}

pub(crate) fn count(v: Option<&Yaml>, field: &str, p: &mut Vec<FieldProblem>) -> i32 {
    match v.and_then(Yaml::as_i64) {
        Some(n) if n > 0 && n < i64::from(i32::MAX) => n as i32,
        _ => {
            let mut pr = FieldProblem::new(field, "must be a positive integer").example("8");
            pr.value = v.map(show);
            p.push(pr);
            0
        }
    }
}

pub(crate) fn number(
    v: Option<&Yaml>,
    field: &str,
    p: &mut Vec<FieldProblem>,
    ok: impl Fn(f64) -> bool,
    rule: &str,
) -> f64 {
    let n = v.and_then(Yaml::as_f64).filter(|n| n.is_finite());
    match n {
        Some(n) if ok(n) => n,
        _ => {
            let msg = if rule.is_empty() {
                "must be a number".to_owned()
            } else {
                format!("must be a number, {rule}")
            };
            let mut pr = FieldProblem::new(field, msg);
            pr.value = v.map(show);
            p.push(pr);
            0.0
        }
    }
}

pub(crate) fn numbers(v: Option<&Yaml>, field: &str, p: &mut Vec<FieldProblem>) -> Vec<f64> {
    match v {
        Some(Yaml::Sequence(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(j, n)| {
                let f = n.as_f64();
                if f.is_none() {
                    p.push(problem(format!("{field}[{j}]"), "must be a number", n));
                }
                f
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A handler's params problems on one line (`field: message; …`), for its build error.
pub(crate) fn one_line(problems: &[FieldProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("{}: {}", p.field, p.message))
        .collect::<Vec<_>>()
        .join("; ")
}

pub(crate) fn problem(
    field: impl Into<String>,
    message: impl Into<String>,
    value: &Yaml,
) -> FieldProblem {
    FieldProblem::new(field, message).value(show(value))
}

/// A YAML value on one line, for messages.
pub(crate) fn show(v: &Yaml) -> String {
    match v {
        Yaml::String(s) => format!("{s:?}"),
        other => serde_yaml_ng::to_string(other)
            .map(|s| s.trim().replace('\n', " "))
            .unwrap_or_else(|_| format!("{other:?}")),
    }
}
