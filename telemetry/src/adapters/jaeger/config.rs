//! The handler's `params`. Where spans are stored is a process setting (flags), so the
//! params only say what this handler adds to each span: extra process tags (e.g. the mesh or
//! cluster name), which the Jaeger UI shows on every span of the handler. Unknown fields are
//! refused; both `snake_case` and `camelCase` spellings are accepted.

use mixer_rules::{FieldProblem, HandlerContext};
use serde::Deserialize;
use serde_yaml_ng::Value as Yaml;
use std::collections::BTreeMap;

/// `params` of a `jaeger` handler.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Tags added to every span's process (`{cluster: east}`), sorted by key.
    #[serde(alias = "processTags")]
    pub process_tags: BTreeMap<String, String>,
}

impl Params {
    /// Reads `params` (absent or `{}` gives the defaults).
    pub fn parse(params: &Yaml) -> Result<Params, FieldProblem> {
        if params.is_null() {
            return Ok(Params::default());
        }
        serde_yaml_ng::from_value(params.clone()).map_err(|e| {
            FieldProblem::new("params", e.to_string())
                .example("params: {process_tags: {cluster: east}}")
        })
    }
}

/// The config check: `params` must parse.
pub fn check(params: &Yaml, _ctx: &HandlerContext<'_>) -> Vec<FieldProblem> {
    Params::parse(params).err().into_iter().collect()
}
