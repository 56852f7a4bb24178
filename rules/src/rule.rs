//! A rule document → a [`Rule`]: its `match` compiled as a BOOL predicate, its actions'
//! handler and instance references resolved, every instance's template checked against what
//! the handler's adapter accepts.

use crate::document::{short, Document};
use crate::load::{spec_map, unknown_keys, Catalog};
use crate::model::{Action, Fqn, Handler, HeaderOp, HeaderOperation, Instance, Rule};
use crate::problem::Problem;
use crate::resolve;
use mixer_attributes::expr::compile_as;
use mixer_attributes::{ValueType, Vocabulary};
use serde_yaml_ng::Value as Yaml;

pub(crate) fn compile(
    doc: &Document,
    vocab: &Vocabulary,
    catalog: &Catalog<'_>,
    handlers: &[Handler],
    instances: &[Instance],
    problems: &mut Vec<Problem>,
) -> Option<Rule> {
    let before = problems.len();
    unknown_keys(
        doc,
        &[
            "match",
            "actions",
            "requestHeaderOperations",
            "responseHeaderOperations",
            "sampling",
        ],
        problems,
    );
    let spec = spec_map(doc);
    if spec.contains_key("sampling") {
        problems.push(Problem::new(
            &doc.origin,
            "spec.sampling",
            "rule sampling is not supported",
        ));
    }
    let predicate = match spec.get("match") {
        None | Some(Yaml::Null) => None,
        Some(Yaml::String(s)) if s.trim().is_empty() => None,
        Some(Yaml::String(s)) => compile_as(s, vocab, ValueType::Bool)
            .map_err(|e| {
                problems
                    .push(Problem::new(&doc.origin, "spec.match", e.to_string()).value(s.clone()))
            })
            .ok(),
        Some(other) => {
            problems.push(
                Problem::new(&doc.origin, "spec.match", "must be an expression string")
                    .value(short(other))
                    .example("match: context.protocol == \"http\""),
            );
            None
        }
    };

    let mut actions = Vec::new();
    let empty = Vec::new();
    let list = match spec.get("actions") {
        None | Some(Yaml::Null) => &empty,
        Some(Yaml::Sequence(s)) => s,
        Some(other) => {
            problems.push(
                Problem::new(&doc.origin, "spec.actions", "must be a list").value(short(other)),
            );
            &empty
        }
    };
    for (i, a) in list.iter().enumerate() {
        if let Some(action) = action(doc, i, a, catalog, handlers, instances, problems) {
            actions.push(action);
        }
    }
    let request_header_operations = header_ops(doc, "requestHeaderOperations", vocab, problems);
    let response_header_operations = header_ops(doc, "responseHeaderOperations", vocab, problems);
    (problems.len() == before).then(|| Rule {
        name: Fqn {
            name: doc.name.clone(),
            kind: "rule",
            namespace: doc.namespace.clone(),
        },
        predicate,
        actions,
        request_header_operations,
        response_header_operations,
        origin: doc.origin.clone(),
    })
}

fn action(
    doc: &Document,
    i: usize,
    a: &Yaml,
    catalog: &Catalog<'_>,
    handlers: &[Handler],
    instances: &[Instance],
    problems: &mut Vec<Problem>,
) -> Option<Action> {
    let here = format!("spec.actions[{i}]");
    let example = "{handler: prometheus, instances: [requestcount]}";
    let Some(a) = a.as_mapping() else {
        problems.push(
            Problem::new(&doc.origin, here, "must be a map")
                .value(short(a))
                .example(example),
        );
        return None;
    };
    let ns = doc.namespace.as_str();
    let h_ref = a.get("handler").and_then(Yaml::as_str).unwrap_or_default();
    let handler = resolve::reference(h_ref, ns, |n, ns| {
        handlers
            .iter()
            .any(|h| h.name.name == n && h.name.namespace == ns)
    })
    .and_then(|(n, ns)| {
        handlers
            .iter()
            .position(|h| h.name.name == n && h.name.namespace == ns)
    });
    let Some(handler) = handler else {
        problems.push(
            Problem::new(
                &doc.origin,
                format!("{here}.handler"),
                "unknown handler (or a handler with problems of its own)",
            )
            .value(h_ref)
            .example(example),
        );
        return None;
    };
    let accepts = catalog
        .adapter(&handlers[handler].adapter)
        .map(|s| s.templates)
        .unwrap_or(&[]);
    let mut ids = Vec::new();
    let refs = a
        .get("instances")
        .and_then(Yaml::as_sequence)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if refs.is_empty() {
        problems.push(
            Problem::new(&doc.origin, format!("{here}.instances"), "no instances").example(example),
        );
    }
    for (j, r) in refs.iter().enumerate() {
        let r = r.as_str().unwrap_or_default();
        let found = resolve::reference(r, ns, |n, ns| {
            instances
                .iter()
                .any(|x| x.name.name == n && x.name.namespace == ns)
        })
        .and_then(|(n, ns)| {
            instances
                .iter()
                .position(|x| x.name.name == n && x.name.namespace == ns)
        });
        let field = format!("{here}.instances[{j}]");
        match found {
            None => problems.push(
                Problem::new(
                    &doc.origin,
                    field,
                    "unknown instance (or an instance with problems of its own)",
                )
                .value(r),
            ),
            Some(id) if !accepts.contains(&instances[id].template) => {
                let names: Vec<&str> = accepts.iter().map(|t| t.name()).collect();
                problems.push(
                    Problem::new(
                        &doc.origin,
                        field,
                        format!(
                            "handler {} (adapter {}) does not accept template {}; it accepts: {}",
                            handlers[handler].name,
                            handlers[handler].adapter,
                            instances[id].template.name(),
                            names.join(", ")
                        ),
                    )
                    .value(r),
                )
            }
            Some(id) => ids.push(id),
        }
    }
    let name = a
        .get("name")
        .and_then(Yaml::as_str)
        .unwrap_or_default()
        .to_owned();
    Some(Action {
        handler,
        instances: ids,
        name,
    })
}

fn header_ops(
    doc: &Document,
    key: &str,
    vocab: &Vocabulary,
    problems: &mut Vec<Problem>,
) -> Vec<HeaderOperation> {
    let mut out = Vec::new();
    let Some(list) = spec_map(doc).get(key) else {
        return out;
    };
    let Some(list) = list.as_sequence() else {
        problems.push(
            Problem::new(&doc.origin, format!("spec.{key}"), "must be a list").value(short(list)),
        );
        return out;
    };
    for (i, op) in list.iter().enumerate() {
        let here = format!("spec.{key}[{i}]");
        let name = op.get("name").and_then(Yaml::as_str).unwrap_or_default();
        if name.is_empty() {
            problems.push(
                Problem::new(&doc.origin, format!("{here}.name"), "missing")
                    .example("name: x-user"),
            );
            continue;
        }
        let operation = match op
            .get("operation")
            .and_then(Yaml::as_str)
            .unwrap_or("REPLACE")
        {
            "REPLACE" => HeaderOp::Replace,
            "REMOVE" => HeaderOp::Remove,
            "APPEND" => HeaderOp::Append,
            other => {
                problems.push(
                    Problem::new(
                        &doc.origin,
                        format!("{here}.operation"),
                        "unknown operation",
                    )
                    .value(other)
                    .example("REPLACE, REMOVE or APPEND"),
                );
                continue;
            }
        };
        let mut values = Vec::new();
        let texts = op
            .get("values")
            .and_then(Yaml::as_sequence)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for (j, v) in texts.iter().enumerate() {
            let text = v.as_str().unwrap_or_default();
            match compile_as(text, vocab, ValueType::String) {
                Ok(e) => values.push(e),
                Err(e) => problems.push(
                    Problem::new(&doc.origin, format!("{here}.values[{j}]"), e.to_string())
                        .value(text),
                ),
            }
        }
        out.push(HeaderOperation {
            name: name.to_ascii_lowercase(),
            values,
            operation,
        });
    }
    out
}
