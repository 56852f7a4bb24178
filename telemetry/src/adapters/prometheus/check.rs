//! The adapter's config check: `params` on their own, then against the instances they name.

use super::config::Params;
use super::SPEC;
use mixer_rules::{Config, FieldProblem, HandlerContext, Problem, Template};
use serde_yaml_ng::Value as Yaml;
use std::collections::BTreeSet;

/// The adapter's [`AdapterSpec`](mixer_rules::AdapterSpec) check: [`Params::parse`], then each
/// `instance_name` must name a `metric` instance whose dimension keys are the `label_names`.
pub fn check(params: &Yaml, ctx: &HandlerContext<'_>) -> Vec<FieldProblem> {
    let parsed = match Params::parse(params) {
        Ok(p) => p,
        Err(problems) => return problems,
    };
    let mut out = Vec::new();
    for (i, m) in parsed.metrics.iter().enumerate() {
        let field = format!("metrics[{i}].instance_name");
        let Some(instance) = ctx.instance(&m.instance_name) else {
            out.push(
                FieldProblem::new(field, "no such instance")
                    .value(&m.instance_name)
                    .example("requestcount.instance.istio-system"),
            );
            continue;
        };
        if instance.template != Template::Metric {
            out.push(
                FieldProblem::new(
                    field,
                    format!("instance is a {}, not a metric", instance.template.name()),
                )
                .value(&m.instance_name),
            );
            continue;
        }
        let dims: BTreeSet<&str> = instance
            .map("dimensions")
            .map(|d| d.entries.iter().map(|(k, _)| k.as_str()).collect())
            .unwrap_or_default();
        let labels: BTreeSet<&str> = m.label_names.iter().map(String::as_str).collect();
        let missing: Vec<&str> = dims.difference(&labels).copied().collect();
        let extra: Vec<&str> = labels.difference(&dims).copied().collect();
        if !missing.is_empty() || !extra.is_empty() {
            let mut msg = format!(
                "label_names must be the dimensions of instance {}",
                instance.name
            );
            if !missing.is_empty() {
                msg.push_str(&format!("; missing: {}", missing.join(", ")));
            }
            if !extra.is_empty() {
                msg.push_str(&format!("; not a dimension: {}", extra.join(", ")));
            }
            out.push(
                FieldProblem::new(format!("metrics[{i}].label_names"), msg)
                    .value(format!("[{}]", m.label_names.join(", ")))
                    .example(format!(
                        "[{}]",
                        dims.into_iter().collect::<Vec<_>>().join(", ")
                    )),
            );
        }
    }
    out
}

/// Metric names exported by more than one prometheus handler of `config` (they share one
/// `/metrics`, where a family may appear once): a problem at each later handler.
pub fn check_across_handlers(config: &Config) -> Vec<Problem> {
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut out = Vec::new();
    for h in config.handlers.iter().filter(|h| h.adapter == SPEC.name) {
        let Ok(params) = Params::parse(&h.params) else {
            continue;
        };
        let handler = h.name.to_string();
        for (i, m) in params.metrics.iter().enumerate() {
            let exported = m.exported_name();
            match seen
                .iter()
                .find(|(n, other)| *n == exported && *other != handler)
            {
                Some((_, other)) => out.push(
                    Problem::new(
                        &h.origin,
                        format!("spec.params.metrics[{i}].name"),
                        format!("{exported} is also exported by handler {other}"),
                    )
                    .value(&m.name),
                ),
                None => seen.push((exported, handler.clone())),
            }
        }
    }
    out
}
