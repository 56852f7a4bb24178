//! The validated config: handlers, instances with compiled expressions, rules, and the
//! vocabulary extended by the config's attribute manifests.

use crate::problem::Origin;
use crate::template::Template;
use mixer_attributes::expr::Expression;
use mixer_attributes::Vocabulary;
use serde_yaml_ng::Value as Yaml;
use std::fmt;

/// A fully-qualified config name: `name.kind.namespace`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fqn {
    pub name: String,
    pub kind: &'static str,
    pub namespace: String,
}

impl fmt::Display for Fqn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.name, self.kind, self.namespace)
    }
}

/// `kind: handler` (or an Istio 1.0 adapter kind such as `kind: prometheus`).
#[derive(Clone, Debug)]
pub struct Handler {
    pub name: Fqn,
    pub adapter: String,
    /// The adapter's own config, checked by that adapter's [`AdapterSpec`](crate::AdapterSpec).
    pub params: Yaml,
    pub origin: Origin,
}

/// A scalar template field and its expression (`value`, `subject.user`, …).
#[derive(Clone, Debug)]
pub struct FieldExpr {
    pub field: String,
    pub expr: Expression,
}

/// A `map<string, Value>` template field (`dimensions`, `variables`, `span_tags`, …), entries
/// sorted by key.
#[derive(Clone, Debug)]
pub struct MapExpr {
    pub field: String,
    pub entries: Vec<(String, Expression)>,
}

/// `kind: instance` (or an Istio 1.0 template kind such as `kind: metric`).
#[derive(Clone, Debug)]
pub struct Instance {
    pub name: Fqn,
    pub template: Template,
    pub fields: Vec<FieldExpr>,
    pub maps: Vec<MapExpr>,
    pub origin: Origin,
}

impl Instance {
    pub fn field(&self, name: &str) -> Option<&Expression> {
        self.fields
            .iter()
            .find(|f| f.field == name)
            .map(|f| &f.expr)
    }

    pub fn map(&self, name: &str) -> Option<&MapExpr> {
        self.maps.iter().find(|m| m.field == name)
    }
}

/// One action of a rule: instances to build and the handler that receives them.
#[derive(Clone, Debug)]
pub struct Action {
    pub handler: usize,
    pub instances: Vec<usize>,
    /// The action's `name`, used to reference its output; may be empty.
    pub name: String,
}

/// `HeaderOperationTemplate.Operation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderOp {
    Replace,
    Remove,
    Append,
}

/// A rule's request or response header operation; values are STRING expressions.
#[derive(Clone, Debug)]
pub struct HeaderOperation {
    pub name: String,
    pub values: Vec<Expression>,
    pub operation: HeaderOp,
}

/// `kind: rule`.
#[derive(Clone, Debug)]
pub struct Rule {
    pub name: Fqn,
    /// `None` for an empty `match`, which matches everything.
    pub predicate: Option<Expression>,
    pub actions: Vec<Action>,
    pub request_header_operations: Vec<HeaderOperation>,
    pub response_header_operations: Vec<HeaderOperation>,
    pub origin: Origin,
}

/// A config that passed validation. Indices in [`Action`] point into `handlers`/`instances`.
#[derive(Clone, Debug)]
pub struct Config {
    pub vocabulary: Vocabulary,
    pub handlers: Vec<Handler>,
    pub instances: Vec<Instance>,
    pub rules: Vec<Rule>,
    /// Documents of kinds an adapter reads itself (RBAC's `ServiceRole`, …), unvalidated here.
    pub other: Vec<crate::Document>,
}

impl Config {
    pub fn handler(&self, fqn: &str) -> Option<&Handler> {
        self.handlers.iter().find(|h| h.name.to_string() == fqn)
    }

    pub fn instance(&self, fqn: &str) -> Option<&Instance> {
        self.instances.iter().find(|i| i.name.to_string() == fqn)
    }
}
