//! Loading: documents → a validated [`Config`], or every [`Problem`] found. Nothing is used
//! until the whole config is valid.

use crate::adapter::{AdapterSpec, HandlerContext};
use crate::document::{self, short, Document};
use crate::model::{Config, Fqn, Handler, Instance};
use crate::problem::{Origin, Problem, Problems};
use crate::template::Template;
use crate::{instance, rule};
use mixer_attributes::{ValueType, Vocabulary};
use serde_yaml_ng::{Mapping, Value as Yaml};
use std::collections::HashMap;

/// One config file's text.
#[derive(Clone, Copy, Debug)]
pub struct Source<'a> {
    pub file: &'a str,
    pub text: &'a str,
}

/// What the loading service knows beyond Mixer's generic kinds: its adapters, and document
/// kinds its adapters read themselves.
#[derive(Clone, Copy, Debug)]
pub struct Catalog<'c> {
    pub adapters: &'c [AdapterSpec],
    pub other_kinds: &'c [&'c str],
}

impl Catalog<'_> {
    pub fn adapter(&self, name: &str) -> Option<&AdapterSpec> {
        self.adapters.iter().find(|a| a.name == name)
    }
}

/// Parses and validates `sources` against the built-in vocabulary.
pub fn load(sources: &[Source<'_>], catalog: &Catalog<'_>) -> Result<Config, Problems> {
    load_checked(sources, catalog, |_| Vec::new())
}

/// Like [`load`], with `check_other` validating the documents of `catalog.other_kinds` as a
/// whole (RBAC bindings name roles of other documents); its problems are reported with the
/// rest.
pub fn load_checked(
    sources: &[Source<'_>],
    catalog: &Catalog<'_>,
    check_other: fn(&[Document]) -> Vec<Problem>,
) -> Result<Config, Problems> {
    let mut problems = Vec::new();
    let docs: Vec<Document> = sources
        .iter()
        .flat_map(|s| document::split(s.file, s.text, &mut problems))
        .collect();

    let mut handlers = Vec::new();
    let mut instances = Vec::new();
    let mut rules = Vec::new();
    let mut manifests = Vec::new();
    let mut other = Vec::new();
    for doc in docs {
        match doc.kind.as_str() {
            "handler" => handlers.push(doc),
            "instance" => instances.push(doc),
            "rule" => rules.push(doc),
            "attributemanifest" => manifests.push(doc),
            k if catalog.adapter(k).is_some() || Template::from_name(k).is_some() => {
                // Istio 1.0 style: the adapter or template is the kind, params are the spec.
                if catalog.adapter(k).is_some() {
                    handlers.push(doc)
                } else {
                    instances.push(doc)
                }
            }
            k if catalog.other_kinds.contains(&k) => other.push(doc),
            _ => problems.push(
                Problem::new(&doc.origin, "kind", "unknown kind")
                    .value(&doc.kind)
                    .example("handler, instance, rule or attributemanifest"),
            ),
        }
    }
    for group in [&handlers, &instances, &rules, &manifests] {
        duplicates(group, &mut problems);
    }
    // other kinds share names across kinds (a ServiceRole and its binding)
    for kind in catalog.other_kinds {
        let same: Vec<Document> = other.iter().filter(|d| d.kind == *kind).cloned().collect();
        duplicates(&same, &mut problems);
    }
    problems.extend(check_other(&other));

    let vocabulary = vocabulary(&manifests, &mut problems);
    let instances: Vec<Instance> = instances
        .iter()
        .filter_map(|d| instance::compile_instance(d, &vocabulary, &mut problems))
        .collect();
    let handlers: Vec<Handler> = handlers
        .iter()
        .filter_map(|d| handler(d, catalog, &instances, &mut problems))
        .collect();
    let rules = rules
        .iter()
        .filter_map(|d| {
            rule::compile(
                d,
                &vocabulary,
                catalog,
                &handlers,
                &instances,
                &mut problems,
            )
        })
        .collect();

    if problems.is_empty() {
        Ok(Config {
            vocabulary,
            handlers,
            instances,
            rules,
            other,
        })
    } else {
        problems.sort_by(|a, b| {
            (&a.origin.file, a.origin.document).cmp(&(&b.origin.file, b.origin.document))
        });
        Err(Problems(problems))
    }
}

fn duplicates(docs: &[Document], problems: &mut Vec<Problem>) {
    let mut seen: HashMap<(&str, &str), &Origin> = HashMap::new();
    for d in docs {
        if let Some(first) = seen.insert((&d.name, &d.namespace), &d.origin) {
            problems.push(Problem::new(
                &d.origin,
                "metadata.name",
                format!(
                    "duplicate name {}.{}: first defined in {first}",
                    d.name, d.namespace
                ),
            ));
        }
    }
}

/// The spec of a generic-kind document, split into its typed key and `params`; for a 1.0-style
/// document the whole spec is the params.
pub(crate) fn spec_map(doc: &Document) -> &Mapping {
    static EMPTY: std::sync::OnceLock<Mapping> = std::sync::OnceLock::new();
    doc.spec
        .as_mapping()
        .unwrap_or_else(|| EMPTY.get_or_init(Mapping::new))
}

/// Rejects spec keys other than `allowed`.
pub(crate) fn unknown_keys(doc: &Document, allowed: &[&str], problems: &mut Vec<Problem>) {
    for k in spec_map(doc).keys() {
        let key = k.as_str().unwrap_or_default();
        if !allowed.contains(&key) {
            problems.push(
                Problem::new(&doc.origin, format!("spec.{key}"), "unknown field")
                    .example(format!("one of: {}", allowed.join(", "))),
            );
        }
    }
}

fn vocabulary(manifests: &[Document], problems: &mut Vec<Problem>) -> Vocabulary {
    let mut declared: Vec<(String, ValueType)> = Vec::new();
    for doc in manifests {
        unknown_keys(doc, &["name", "revision", "attributes"], problems);
        let Some(attrs) = spec_map(doc).get("attributes") else {
            continue;
        };
        let Some(attrs) = attrs.as_mapping() else {
            problems.push(
                Problem::new(&doc.origin, "spec.attributes", "must be a map").value(short(attrs)),
            );
            continue;
        };
        for (name, info) in attrs {
            let name = name.as_str().unwrap_or_default();
            let field = format!("spec.attributes.{name}.valueType");
            let ty = info
                .get("valueType")
                .or_else(|| info.get("value_type"))
                .and_then(Yaml::as_str);
            match ty.and_then(ValueType::from_name) {
                Some(t) if t != ValueType::Unspecified => declared.push((name.to_owned(), t)),
                _ => problems.push(
                    Problem::new(&doc.origin, field, "missing or unknown value type")
                        .value(ty.unwrap_or("(none)"))
                        .example("valueType: STRING (or INT64, DOUBLE, BOOL, TIMESTAMP, IP_ADDRESS, EMAIL_ADDRESS, URI, DNS_NAME, DURATION, STRING_MAP, BYTES)"),
                ),
            }
        }
    }
    match Vocabulary::builtin().extended(declared.iter().map(|(n, t)| (n.as_str(), *t))) {
        Ok(v) => v,
        Err(errors) => {
            let origin = manifests
                .first()
                .map(|d| d.origin.clone())
                .unwrap_or_default();
            for e in errors {
                problems.push(Problem::new(&origin, "spec.attributes", e.to_string()));
            }
            Vocabulary::builtin().clone()
        }
    }
}

fn handler(
    doc: &Document,
    catalog: &Catalog<'_>,
    instances: &[Instance],
    problems: &mut Vec<Problem>,
) -> Option<Handler> {
    let (adapter, params, prefix) = if doc.kind == "handler" {
        unknown_keys(
            doc,
            &["compiledAdapter", "adapter", "params", "connection"],
            problems,
        );
        let spec = spec_map(doc);
        if spec.contains_key("connection") || spec.contains_key("adapter") {
            problems.push(Problem::new(
                &doc.origin,
                "spec.connection",
                "out-of-process adapters are not supported; use compiledAdapter",
            ));
            return None;
        }
        let adapter = spec
            .get("compiledAdapter")
            .and_then(Yaml::as_str)
            .unwrap_or_default();
        (
            adapter,
            spec.get("params").cloned().unwrap_or(Yaml::Null),
            "spec.params",
        )
    } else {
        (doc.kind.as_str(), doc.spec.clone(), "spec")
    };
    let Some(spec) = catalog.adapter(adapter) else {
        let known: Vec<&str> = catalog.adapters.iter().map(|a| a.name).collect();
        problems.push(
            Problem::new(&doc.origin, "spec.compiledAdapter", "unknown adapter")
                .value(adapter)
                .example(format!("one of: {}", known.join(", "))),
        );
        return None;
    };
    let ctx = HandlerContext {
        namespace: &doc.namespace,
        instances,
    };
    let before = problems.len();
    for p in (spec.check)(&params, &ctx) {
        let field = if p.field.is_empty() {
            prefix.to_owned()
        } else {
            format!("{prefix}.{}", p.field)
        };
        let mut problem = Problem::new(&doc.origin, field, p.message);
        problem.value = p.value;
        problem.example = p.example;
        problems.push(problem);
    }
    (problems.len() == before).then(|| Handler {
        name: Fqn {
            name: doc.name.clone(),
            kind: "handler",
            namespace: doc.namespace.clone(),
        },
        adapter: adapter.to_owned(),
        params,
        origin: doc.origin.clone(),
    })
}
