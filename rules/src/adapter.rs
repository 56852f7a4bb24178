//! How the services tell the rules layer about their adapters: a closed list of
//! [`AdapterSpec`]s, each naming the templates it accepts and checking its own `params`.

use crate::model::Instance;
use crate::resolve;
use crate::template::Template;
use serde_yaml_ng::Value as Yaml;

/// A problem inside a handler's `params`; `field` is relative to `params`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
    pub value: Option<String>,
    pub example: Option<String>,
}

impl FieldProblem {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldProblem {
        FieldProblem {
            field: field.into(),
            message: message.into(),
            value: None,
            example: None,
        }
    }

    pub fn value(mut self, v: impl Into<String>) -> FieldProblem {
        self.value = Some(v.into());
        self
    }

    pub fn example(mut self, e: impl Into<String>) -> FieldProblem {
        self.example = Some(e.into());
        self
    }
}

/// What a handler's check can see of the rest of the config.
#[derive(Debug)]
pub struct HandlerContext<'c> {
    pub(crate) namespace: &'c str,
    pub(crate) instances: &'c [Instance],
}

impl<'c> HandlerContext<'c> {
    /// The instance a handler param names (`requestcount.instance.istio-system`, or a short
    /// name resolved from the handler's namespace).
    pub fn instance(&self, reference: &str) -> Option<&'c Instance> {
        let (name, ns) = resolve::reference(reference, self.namespace, |n, ns| {
            self.instances
                .iter()
                .any(|i| i.name.name == n && i.name.namespace == ns)
        })?;
        self.instances
            .iter()
            .find(|i| i.name.name == name && i.name.namespace == ns)
    }
}

/// One compiled-in adapter, as the rules layer sees it.
#[derive(Clone, Copy, Debug)]
pub struct AdapterSpec {
    /// `compiledAdapter` value (and Istio 1.0 handler kind).
    pub name: &'static str,
    /// Templates whose instances this adapter accepts.
    pub templates: &'static [Template],
    /// Checks `params`, returning every problem found.
    pub check: fn(params: &Yaml, ctx: &HandlerContext<'_>) -> Vec<FieldProblem>,
}
