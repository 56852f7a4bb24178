//! Mixer's config model: `handler`, `instance`, `rule` and `attributemanifest` documents
//! (`config.istio.io/v1alpha2`, Kubernetes shape, Istio 1.0 per-adapter kinds too), validated
//! whole — every problem named by file, document, field and value — and compiled into a
//! [`Plan`] that, for each bag, finds the matching rules and evaluates the instances they send
//! to handlers, sharing identical expressions. Pure: files are read by the caller.
//!
//! Adapters live in the service crates; they describe themselves to this crate with an
//! [`AdapterSpec`] (the templates they accept, a check of their `params`).

mod adapter;
mod document;
mod instance;
mod load;
mod model;
mod plan;
mod problem;
mod resolve;
mod rule;
mod template;

pub use adapter::{AdapterSpec, FieldProblem, HandlerContext};
pub use document::{
    split as split_documents, Document, API_VERSION, DEFAULT_NAMESPACE, RBAC_API_VERSION,
    RBAC_KINDS,
};
pub use load::{load, load_checked, Catalog, Source};
pub use model::{
    Action, Config, FieldExpr, Fqn, Handler, HeaderOp, HeaderOperation, Instance, MapExpr, Rule,
};
pub use plan::{Evaluator, ExprId, InstancePlan, Memo, Plan};
pub use problem::{Origin, Problem, Problems};
pub use template::{camel_case, snake_case, Field, FieldType, Template, Variety};
