//! Reading `params` from YAML with snake_case or lowerCamelCase keys, as Istio's loader reads
//! them, checked whole: every problem is collected with its field, the bad value and an
//! example.

use super::config::{
    Buckets, DurationUnit, ExpirationPolicy, Kind, MetricInfo, Params,
    DEFAULT_MAX_SERIES_PER_METRIC,
};
use super::names;
use crate::adapters::yaml::{count, fields, number, numbers, problem, show, text};
use mixer_attributes::expr::parse_duration;
use mixer_rules::FieldProblem;
use serde_yaml_ng::Value as Yaml;
use std::time::Duration;

const PARAMS: &[&str] = &[
    "metrics",
    "metrics_expiration_policy",
    "max_series_per_metric",
];
const METRIC: &[&str] = &[
    "namespace",
    "name",
    "instance_name",
    "description",
    "kind",
    "buckets",
    "label_names",
    "duration_unit",
];
const BUCKETS: &[&str] = &["linear_buckets", "exponential_buckets", "explicit_buckets"];
const LINEAR: &[&str] = &["num_finite_buckets", "width", "offset"];
const EXPONENTIAL: &[&str] = &["num_finite_buckets", "growth_factor", "scale"];
const EXPLICIT: &[&str] = &["bounds"];
const EXPIRY: &[&str] = &["metrics_expiry_duration", "expiry_check_interval_duration"];

impl Params {
    /// Reads and checks `params` on their own (no reference to instances).
    pub fn parse(params: &Yaml) -> Result<Params, Vec<FieldProblem>> {
        let mut p = Vec::new();
        let top = fields(params, "", PARAMS, &mut p);
        let mut metrics = Vec::new();
        match top.get("metrics") {
            None => {}
            Some(Yaml::Sequence(items)) => {
                for (i, m) in items.iter().enumerate() {
                    if let Some(info) = metric(m, &format!("metrics[{i}]"), &mut p) {
                        metrics.push((i, info));
                    }
                }
            }
            Some(other) => p.push(problem("metrics", "must be a list", other)),
        }
        names::check_metrics(&metrics, &mut p);
        let metrics = metrics.into_iter().map(|(_, m)| m).collect();
        let expiration = top
            .get("metrics_expiration_policy")
            .and_then(|v| expiration(v, &mut p));
        let max_series_per_metric = match top.get("max_series_per_metric") {
            None => DEFAULT_MAX_SERIES_PER_METRIC,
            Some(v) => match v.as_u64() {
                Some(n) if n >= 1 => usize::try_from(n).unwrap_or(usize::MAX),
                _ => {
                    p.push(
                        problem("max_series_per_metric", "must be a positive integer", v)
                            .example("100000"),
                    );
                    DEFAULT_MAX_SERIES_PER_METRIC
                }
            },
        };
        if p.is_empty() {
            Ok(Params {
                metrics,
                expiration,
                max_series_per_metric,
            })
        } else {
            Err(p)
        }
    }
}

fn metric(v: &Yaml, path: &str, p: &mut Vec<FieldProblem>) -> Option<MetricInfo> {
    if !v.is_mapping() {
        p.push(problem(path, "must be a map", v).example("{name: requests_total, instance_name: requestcount.instance.istio-system, kind: COUNTER}"));
        return None;
    }
    let f = fields(v, path, METRIC, p);
    let at = |k: &str| format!("{path}.{k}");
    let string = |k: &str, p: &mut Vec<FieldProblem>| text(f.get(k), &at(k), p);
    let (namespace, name, description) = (
        string("namespace", p),
        string("name", p),
        string("description", p),
    );
    let instance_name = string("instance_name", p);
    if instance_name.is_empty() {
        p.push(
            FieldProblem::new(at("instance_name"), "required")
                .example("requestcount.instance.istio-system"),
        );
    }
    let kind = match f.get("kind").map(|k| {
        (
            k,
            k.as_str()
                .map(str::to_owned)
                .or_else(|| k.as_i64().map(|n| n.to_string())),
        )
    }) {
        None | Some((Yaml::Null, _)) => {
            p.push(
                FieldProblem::new(at("kind"), "required")
                    .example("COUNTER (or GAUGE, DISTRIBUTION)"),
            );
            None
        }
        Some((k, s)) => match s.as_deref() {
            Some("GAUGE" | "1") => Some(Kind::Gauge),
            Some("COUNTER" | "2") => Some(Kind::Counter),
            Some("DISTRIBUTION" | "3") => Some(Kind::Distribution),
            _ => {
                p.push(
                    problem(at("kind"), "unknown metric kind", k)
                        .example("COUNTER (or GAUGE, DISTRIBUTION)"),
                );
                None
            }
        },
    };
    let buckets = f
        .get("buckets")
        .filter(|b| !b.is_null())
        .and_then(|b| buckets(b, &at("buckets"), p));
    if kind == Some(Kind::Distribution) && buckets.is_none() && !f.contains("buckets") {
        p.push(
            FieldProblem::new(at("buckets"), "required for a DISTRIBUTION")
                .example("{explicit_buckets: {bounds: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]}}"),
        );
    }
    let label_names = match f.get("label_names") {
        None | Some(Yaml::Null) => Vec::new(),
        Some(Yaml::Sequence(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(j, l)| match l.as_str() {
                Some(s) => Some(s.to_owned()),
                None => {
                    p.push(problem(
                        format!("{path}.label_names[{j}]"),
                        "must be a string",
                        l,
                    ));
                    None
                }
            })
            .collect(),
        Some(other) => {
            p.push(
                problem(at("label_names"), "must be a list of strings", other)
                    .example("[reporter, response_code]"),
            );
            Vec::new()
        }
    };
    let duration_unit = match f.get("duration_unit").map(|u| (u, u.as_str())) {
        None | Some((Yaml::Null, _)) | Some((_, Some("SECONDS"))) => DurationUnit::Seconds,
        Some((_, Some("MILLISECONDS"))) => DurationUnit::Milliseconds,
        Some((u, _)) => {
            p.push(
                problem(at("duration_unit"), "unknown duration unit", u)
                    .example("SECONDS (or MILLISECONDS)"),
            );
            DurationUnit::Seconds
        }
    };
    Some(MetricInfo {
        namespace,
        name,
        instance_name,
        description,
        kind: kind?,
        buckets,
        label_names,
        duration_unit,
    })
}

fn buckets(v: &Yaml, path: &str, p: &mut Vec<FieldProblem>) -> Option<Buckets> {
    const EXAMPLE: &str =
        "{exponential_buckets: {num_finite_buckets: 8, scale: 1, growth_factor: 10}}";
    let f = fields(v, path, BUCKETS, p);
    if f.entries.len() != 1 {
        let msg = if f.entries.is_empty() {
            "needs one definition"
        } else {
            "only one definition is allowed"
        };
        p.push(
            FieldProblem::new(
                path,
                format!("{msg}: linear_buckets, exponential_buckets or explicit_buckets"),
            )
            .example(EXAMPLE),
        );
        return None;
    }
    let (key, def) = (f.entries[0].0.as_str(), f.entries[0].1);
    let path = format!("{path}.{key}");
    let before = p.len();
    let out = match key {
        "explicit_buckets" => {
            let g = fields(def, &path, EXPLICIT, p);
            let bounds = numbers(g.get("bounds"), &format!("{path}.bounds"), p);
            let increasing = bounds.windows(2).all(|w| w[0] < w[1]);
            if bounds.is_empty() || !increasing || bounds.iter().any(|b| !b.is_finite()) {
                let shown = format!("{bounds:?}");
                p.push(
                    FieldProblem::new(
                        format!("{path}.bounds"),
                        "must be a non-empty list of finite, strictly increasing numbers",
                    )
                    .value(shown)
                    .example("[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]"),
                );
            }
            Buckets::Explicit { bounds }
        }
        "linear_buckets" => {
            let g = fields(def, &path, LINEAR, p);
            let n = count(
                g.get("num_finite_buckets"),
                &format!("{path}.num_finite_buckets"),
                p,
            );
            let width = number(
                g.get("width"),
                &format!("{path}.width"),
                p,
                |w| w > 0.0,
                "must be > 0",
            );
            let offset = number(g.get("offset"), &format!("{path}.offset"), p, |_| true, "");
            Buckets::Linear {
                num_finite_buckets: n,
                width,
                offset,
            }
        }
        _ => {
            let g = fields(def, &path, EXPONENTIAL, p);
            let n = count(
                g.get("num_finite_buckets"),
                &format!("{path}.num_finite_buckets"),
                p,
            );
            let growth_factor = number(
                g.get("growth_factor"),
                &format!("{path}.growth_factor"),
                p,
                |g| g > 1.0,
                "must be > 1",
            );
            let scale = number(
                g.get("scale"),
                &format!("{path}.scale"),
                p,
                |s| s > 0.0,
                "must be > 0",
            );
            Buckets::Exponential {
                num_finite_buckets: n,
                growth_factor,
                scale,
            }
        }
    };
    (p.len() == before).then_some(out)
}

fn expiration(v: &Yaml, p: &mut Vec<FieldProblem>) -> Option<ExpirationPolicy> {
    const PATH: &str = "metrics_expiration_policy";
    if v.is_null() {
        return None;
    }
    let f = fields(v, PATH, EXPIRY, p);
    let duration = |k: &str, p: &mut Vec<FieldProblem>| -> Option<Duration> {
        let y = f.get(k)?;
        let field = format!("{PATH}.{k}");
        let parsed = y.as_str().map(parse_duration);
        match parsed {
            Some(Ok(d)) if d.as_nanos() >= 0 => Some(Duration::from_nanos(d.as_nanos() as u64)),
            Some(Err(e)) => {
                p.push(problem(field, e.to_string(), y).example("10m"));
                None
            }
            _ => {
                p.push(problem(field, "must be a non-negative duration", y).example("10m"));
                None
            }
        }
    };
    let before = p.len();
    let expiry = duration("metrics_expiry_duration", p);
    let expiry_problems = p.len() - before;
    let interval = duration("expiry_check_interval_duration", p);
    match expiry {
        Some(e) if !e.is_zero() => {
            let check_interval = interval.filter(|i| !i.is_zero()).unwrap_or(e / 2);
            Some(ExpirationPolicy {
                expiry: e,
                check_interval,
            })
        }
        _ => {
            if expiry_problems == 0 {
                let field = format!("{PATH}.metrics_expiry_duration");
                let mut pr =
                    FieldProblem::new(field, "required and must be > 0 when the policy is set")
                        .example("10m");
                pr.value = f.get("metrics_expiry_duration").map(show);
                p.push(pr);
            }
            None
        }
    }
}
