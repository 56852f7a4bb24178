//! An instance document → an [`Instance`]: each template field's expression type-checked
//! against the field's type.

use crate::document::{short, Document};
use crate::load::{spec_map, unknown_keys};
use crate::model::{FieldExpr, Fqn, Instance, MapExpr};
use crate::problem::{Origin, Problem};
use crate::template::{camel_case, snake_case, Field, FieldType, Template};
use mixer_attributes::expr::{compile, compile_as, Expression};
use mixer_attributes::Vocabulary;
use serde_yaml_ng::{Mapping, Value as Yaml};

pub(crate) fn compile_instance(
    doc: &Document,
    vocab: &Vocabulary,
    problems: &mut Vec<Problem>,
) -> Option<Instance> {
    let (template, params, prefix) = if doc.kind == "instance" {
        unknown_keys(
            doc,
            &[
                "compiledTemplate",
                "template",
                "params",
                "attributeBindings",
            ],
            problems,
        );
        let spec = spec_map(doc);
        if spec.contains_key("attributeBindings") {
            problems.push(Problem::new(
                &doc.origin,
                "spec.attributeBindings",
                "attribute-generating templates are not supported",
            ));
        }
        let name = spec
            .get("compiledTemplate")
            .or_else(|| spec.get("template"))
            .and_then(Yaml::as_str)
            .unwrap_or_default();
        (name, spec.get("params"), "spec.params")
    } else {
        (doc.kind.as_str(), Some(&doc.spec), "spec")
    };
    let Some(template) = Template::from_name(template) else {
        let known: Vec<&str> = Template::ALL.iter().map(|t| t.name()).collect();
        problems.push(
            Problem::new(&doc.origin, "spec.compiledTemplate", "unknown template")
                .value(template)
                .example(format!("one of: {}", known.join(", "))),
        );
        return None;
    };
    let empty = Mapping::new();
    let params = match params {
        None | Some(Yaml::Null) => &empty,
        Some(Yaml::Mapping(m)) => m,
        Some(other) => {
            problems.push(Problem::new(&doc.origin, prefix, "must be a map").value(short(other)));
            return None;
        }
    };
    let before = problems.len();
    let mut out = Instance {
        name: Fqn {
            name: doc.name.clone(),
            kind: "instance",
            namespace: doc.namespace.clone(),
        },
        template,
        fields: Vec::new(),
        maps: Vec::new(),
        origin: doc.origin.clone(),
    };
    let mut cx = Cx {
        origin: &doc.origin,
        vocab,
        problems,
        out: &mut out,
    };
    cx.message(template.fields(), params, prefix, "");
    (cx.problems.len() == before).then_some(out)
}

struct Cx<'a> {
    origin: &'a Origin,
    vocab: &'a Vocabulary,
    problems: &'a mut Vec<Problem>,
    out: &'a mut Instance,
}

impl Cx<'_> {
    /// Reads the fields of one (sub-)message; `path` is where it sits in the document,
    /// `field_prefix` its prefix in the instance (`subject.`).
    fn message(&mut self, fields: &[Field], params: &Mapping, path: &str, field_prefix: &str) {
        for (key, value) in params {
            let key = key.as_str().unwrap_or_default();
            let here = format!("{path}.{key}");
            let Some(field) = fields.iter().find(|f| f.name == snake_case(key)) else {
                let known: Vec<String> = fields.iter().map(|f| camel_case(f.name)).collect();
                self.problems.push(
                    Problem::new(self.origin, here, "unknown field of this template")
                        .example(format!("one of: {}", known.join(", "))),
                );
                continue;
            };
            let name = format!("{field_prefix}{}", field.name);
            match field.ty {
                // an empty expression leaves the field unset, as Mixer's generated instance
                // builders do (Istio's RBAC sample writes `groups: ""`)
                FieldType::Any | FieldType::Typed(_) if value.as_str() == Some("") => {}
                FieldType::Any | FieldType::Typed(_) => {
                    if let Some(expr) = self.expression(value, field.ty, &here) {
                        self.out.fields.push(FieldExpr { field: name, expr });
                    }
                }
                FieldType::AnyMap => {
                    let Some(m) = self.map_of(value, &here) else {
                        continue;
                    };
                    let mut entries = Vec::with_capacity(m.len());
                    for (k, v) in m {
                        let k = k.as_str().map(str::to_owned).unwrap_or_else(|| short(k));
                        if let Some(e) = self.expression(v, FieldType::Any, &format!("{here}.{k}"))
                        {
                            entries.push((k, e));
                        }
                    }
                    entries.sort_by(|a, b| a.0.cmp(&b.0));
                    self.out.maps.push(MapExpr {
                        field: name,
                        entries,
                    });
                }
                FieldType::Message(sub) => {
                    if let Some(m) = self.map_of(value, &here) {
                        self.message(sub, m, &here, &format!("{name}."));
                    }
                }
            }
        }
    }

    fn map_of<'v>(&mut self, value: &'v Yaml, here: &str) -> Option<&'v Mapping> {
        match value {
            Yaml::Mapping(m) => Some(m),
            other => {
                self.problems.push(
                    Problem::new(self.origin, here, "must be a map of names to expressions")
                        .value(short(other))
                        .example("{source_app: source.labels[\"app\"] | \"unknown\"}"),
                );
                None
            }
        }
    }

    fn expression(&mut self, value: &Yaml, ty: FieldType, here: &str) -> Option<Expression> {
        let text = match value {
            Yaml::String(s) => s.clone(),
            Yaml::Number(n) => n.to_string(),
            Yaml::Bool(b) => b.to_string(),
            other => {
                self.problems.push(
                    Problem::new(self.origin, here, "must be an expression")
                        .value(short(other))
                        .example("source.workload.name | \"unknown\""),
                );
                return None;
            }
        };
        let compiled = match ty {
            FieldType::Typed(t) => compile_as(&text, self.vocab, t),
            _ => compile(&text, self.vocab),
        };
        compiled
            .map_err(|e| {
                self.problems
                    .push(Problem::new(self.origin, here, e.to_string()).value(text.clone()))
            })
            .ok()
    }
}
