//! Multi-document YAML in the Kubernetes shape (`apiVersion`, `kind`, `metadata`, `spec`) split
//! into [`Document`]s, each remembering where it came from.

use crate::problem::{Origin, Problem};
use serde_yaml_ng::{Mapping, Value as Yaml};

/// The API version of Mixer config documents.
pub const API_VERSION: &str = "config.istio.io/v1alpha2";
/// The API version Istio's RBAC documents are written with; accepted for [`RBAC_KINDS`] (which
/// take [`API_VERSION`] too), whose adapter reads them from `Config::other`.
pub const RBAC_API_VERSION: &str = "rbac.istio.io/v1alpha1";
/// Istio 1.0's RBAC kinds.
pub const RBAC_KINDS: [&str; 3] = ["ServiceRole", "ServiceRoleBinding", "RbacConfig"];
/// Mixer's `--configDefaultNamespace`: rules here apply to every request, and documents without
/// `metadata.namespace` land here.
pub const DEFAULT_NAMESPACE: &str = "istio-system";

/// One config document.
#[derive(Clone, Debug)]
pub struct Document {
    pub origin: Origin,
    pub kind: String,
    pub name: String,
    pub namespace: String,
    pub spec: Yaml,
}

/// Splits `text` (the contents of `file`) into documents; empty documents are skipped. A
/// document that is not even shaped like a Kubernetes object becomes a problem.
pub fn split(file: &str, text: &str, problems: &mut Vec<Problem>) -> Vec<Document> {
    use serde::Deserialize;
    let mut docs = Vec::new();
    for (i, de) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let origin = Origin {
            file: file.to_owned(),
            document: i + 1,
            what: String::new(),
        };
        match Yaml::deserialize(de) {
            Ok(Yaml::Null) => {}
            Ok(Yaml::Mapping(m)) => {
                if let Some(doc) = document(origin, &m, problems) {
                    docs.push(doc);
                }
            }
            Ok(other) => problems.push(
                Problem::new(&origin, "", "a config document must be a map")
                    .value(short(&other))
                    .example("apiVersion: config.istio.io/v1alpha2\nkind: rule\nmetadata: {name: promhttp}\nspec: {...}"),
            ),
            Err(e) => {
                // The YAML stream cannot be read past a syntax error.
                problems.push(Problem::new(&origin, "", format!("invalid YAML: {e}")));
                break;
            }
        }
    }
    docs
}

fn document(mut origin: Origin, m: &Mapping, problems: &mut Vec<Problem>) -> Option<Document> {
    let before = problems.len();
    let kind = m
        .get("kind")
        .and_then(Yaml::as_str)
        .unwrap_or_default()
        .to_owned();
    let metadata = m.get("metadata").and_then(Yaml::as_mapping);
    let name = metadata
        .and_then(|md| md.get("name"))
        .and_then(Yaml::as_str)
        .unwrap_or_default();
    let namespace = metadata
        .and_then(|md| md.get("namespace"))
        .and_then(Yaml::as_str)
        .unwrap_or(DEFAULT_NAMESPACE);
    origin.what = format!("{kind} {name}.{namespace}");

    match m.get("apiVersion").and_then(Yaml::as_str) {
        Some(API_VERSION) => {}
        Some(RBAC_API_VERSION) if RBAC_KINDS.contains(&kind.as_str()) => {}
        Some(other) => problems.push(
            Problem::new(&origin, "apiVersion", "unsupported apiVersion")
                .value(other)
                .example(API_VERSION),
        ),
        None => problems.push(Problem::new(&origin, "apiVersion", "missing").example(API_VERSION)),
    }
    if kind.is_empty() {
        problems.push(
            Problem::new(&origin, "kind", "missing")
                .example("handler, instance, rule or attributemanifest"),
        );
    }
    if name.is_empty() {
        problems.push(
            Problem::new(&origin, "metadata.name", "missing").example("metadata: {name: promhttp}"),
        );
    } else if !is_dns_label(name) {
        problems.push(
            Problem::new(
                &origin,
                "metadata.name",
                "must be a DNS label: lower-case letters, digits and '-'",
            )
            .value(name)
            .example("requestcount"),
        );
    }
    let spec = m
        .get("spec")
        .cloned()
        .unwrap_or(Yaml::Mapping(Mapping::new()));
    if !matches!(spec, Yaml::Mapping(_)) {
        problems.push(Problem::new(&origin, "spec", "must be a map").value(short(&spec)));
    }
    (problems.len() == before).then(|| Document {
        origin,
        kind,
        name: name.to_owned(),
        namespace: namespace.to_owned(),
        spec,
    })
}

/// Kubernetes object names as Mixer accepts them (RFC 1123 label, with '.' not allowed since
/// names are joined with '.' into fully-qualified names).
fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A YAML value printed on one line, for problem messages.
pub fn short(v: &Yaml) -> String {
    match v {
        Yaml::String(s) => format!("{s:?}"),
        other => serde_yaml_ng::to_string(other)
            .map(|s| s.trim().replace('\n', " "))
            .unwrap_or_else(|_| format!("{other:?}")),
    }
}
