//! Istio 1.0's RBAC documents as written (istio/api `rbac/v1alpha1/rbac.proto`):
//! `ServiceRole`, `ServiceRoleBinding` and `RbacConfig`, read with serde (unknown fields
//! rejected, proto and JSON spellings both accepted) and checked one by one — what Pilot's
//! validation refused, plus the wildcards the adapter could never match. Every problem names
//! the document and the field under `spec`, with the bad value and an example.

use super::pattern::{Pattern, Who};
use crate::adapters::params;
use mixer_rules::{Document, Problem};
use serde::Deserialize;
use std::collections::BTreeMap;

/// `ServiceRole.spec`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ServiceRoleSpec {
    #[serde(default)]
    pub rules: Vec<AccessRule>,
}

/// One rule of a role: which services, paths and methods, under which constraints.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AccessRule {
    #[serde(default)]
    pub services: Vec<String>,
    #[serde(default)]
    pub paths: Vec<String>,
    #[serde(default)]
    pub methods: Vec<String>,
    #[serde(default)]
    pub constraints: Vec<Constraint>,
}

/// A constraint on one of the action's `properties`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Constraint {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub values: Vec<String>,
}

/// `EnforcementMode` (a binding's `mode`, RbacConfig's `enforcementMode`).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub enum EnforcementMode {
    #[default]
    #[serde(rename = "ENFORCED")]
    Enforced,
    #[serde(rename = "PERMISSIVE")]
    Permissive,
}

/// `ServiceRoleBinding.spec`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ServiceRoleBindingSpec {
    #[serde(default)]
    pub subjects: Vec<Subject>,
    #[serde(rename = "roleRef", alias = "role_ref")]
    pub role_ref: Option<RoleRef>,
    #[serde(default)]
    pub mode: EnforcementMode,
}

/// Who a binding grants its role to.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Subject {
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

/// `roleRef`: the role (of the binding's namespace) being granted.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RoleRef {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
}

/// `RbacConfig.Mode`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub enum RbacMode {
    #[default]
    #[serde(rename = "OFF")]
    Off,
    #[serde(rename = "ON")]
    On,
    #[serde(rename = "ON_WITH_INCLUSION")]
    OnWithInclusion,
    #[serde(rename = "ON_WITH_EXCLUSION")]
    OnWithExclusion,
}

/// `RbacConfig.spec`: where RBAC is enforced, and whether for real.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RbacConfigSpec {
    #[serde(default)]
    pub mode: RbacMode,
    pub inclusion: Option<Target>,
    pub exclusion: Option<Target>,
    #[serde(rename = "enforcementMode", alias = "enforcement_mode", default)]
    pub enforcement_mode: EnforcementMode,
}

/// Services (as `action.service` names them) and namespaces.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Target {
    #[serde(default)]
    pub services: Vec<String>,
    #[serde(default)]
    pub namespaces: Vec<String>,
}

/// The only role kind a binding may refer to.
pub const SERVICE_ROLE: &str = "ServiceRole";
/// Istio reads only the RbacConfig of this name.
pub const RBAC_CONFIG_NAME: &str = "default";

/// Reads `doc.spec` as `T`, or says which field is wrong.
pub fn read<T: serde::de::DeserializeOwned>(doc: &Document) -> Result<T, Vec<Problem>> {
    params::parse(&doc.spec).map_err(|fps| {
        fps.into_iter()
            .map(|p| {
                let field = if p.field.is_empty() {
                    "spec".to_owned()
                } else {
                    format!("spec.{}", p.field)
                };
                let mut problem = Problem::new(&doc.origin, field, p.message);
                problem.value = p.value;
                problem.example = p.example;
                problem
            })
            .collect()
    })
}

/// Every problem of a `ServiceRole` that parsed.
pub fn check_role(doc: &Document, spec: &ServiceRoleSpec) -> Vec<Problem> {
    let mut out = Vec::new();
    let at = |field: String, message: &str| Problem::new(&doc.origin, field, message);
    if spec.rules.is_empty() {
        out.push(
            at("spec.rules".into(), "a ServiceRole needs at least one rule")
                .example("rules: [{services: [\"*\"], methods: [\"GET\"]}]"),
        );
    }
    for (i, rule) in spec.rules.iter().enumerate() {
        let here = format!("spec.rules[{i}]");
        if rule.services.is_empty() {
            out.push(
                at(
                    format!("{here}.services"),
                    "at least one service is needed (or \"*\")",
                )
                .example("services: [\"productpage.default.svc.cluster.local\"]"),
            );
        }
        if rule.methods.is_empty() {
            out.push(
                at(
                    format!("{here}.methods"),
                    "at least one method is needed (or \"*\")",
                )
                .example("methods: [\"GET\", \"HEAD\"]"),
            );
        }
        let lists = [
            (
                "services",
                &rule.services,
                "\"*.default.svc.cluster.local\"",
            ),
            ("paths", &rule.paths, "\"/books/*\" or \"*/reviews\""),
            ("methods", &rule.methods, "\"GET\" or \"*\""),
        ];
        for (name, list, example) in lists {
            patterns(&mut out, doc, &format!("{here}.{name}"), list, example);
        }
        for (j, c) in rule.constraints.iter().enumerate() {
            let here = format!("{here}.constraints[{j}]");
            if c.key.is_empty() {
                out.push(
                    at(
                        format!("{here}.key"),
                        "must name one of the action's properties",
                    )
                    .example("key: version"),
                );
            }
            if c.values.is_empty() {
                out.push(
                    at(format!("{here}.values"), "at least one value is needed")
                        .example("values: [\"v1\", \"v2\"]"),
                );
            }
            patterns(
                &mut out,
                doc,
                &format!("{here}.values"),
                &c.values,
                "\"v1\" or \"v*\"",
            );
        }
    }
    out
}

fn patterns(out: &mut Vec<Problem>, doc: &Document, field: &str, list: &[String], example: &str) {
    for (k, p) in list.iter().enumerate() {
        if let Err(e) = Pattern::parse(p) {
            out.push(
                Problem::new(&doc.origin, format!("{field}[{k}]"), e)
                    .value(format!("{p:?}"))
                    .example(example),
            );
        }
    }
}

/// Every problem of a `ServiceRoleBinding` that parsed, but for the role it names (which
/// needs the other documents).
pub fn check_binding(doc: &Document, spec: &ServiceRoleBindingSpec) -> Vec<Problem> {
    let mut out = Vec::new();
    let at = |field: String, message: &str| Problem::new(&doc.origin, field, message);
    if spec.subjects.is_empty() {
        out.push(
            at(
                "spec.subjects".into(),
                "a binding needs at least one subject",
            )
            .example("subjects: [{user: \"cluster.local/ns/default/sa/bookinfo-productpage\"}]"),
        );
    }
    for (i, s) in spec.subjects.iter().enumerate() {
        let here = format!("spec.subjects[{i}]");
        if s.user.is_empty() && s.group.is_empty() && s.properties.is_empty() {
            out.push(
                at(
                    here.clone(),
                    "sets none of user, group and properties, so it matches no one",
                )
                .example("{user: \"*\"} (everyone) or {properties: {namespace: default}}"),
            );
        }
        for (name, value) in [("user", &s.user), ("group", &s.group)] {
            if let Err(e) = Who::parse(value) {
                out.push(
                    at(format!("{here}.{name}"), e)
                        .value(format!("{value:?}"))
                        .example("\"*\" or \"cluster.local/ns/default/sa/bookinfo-productpage\""),
                );
            }
        }
    }
    let example = "roleRef: {kind: ServiceRole, name: service-viewer}";
    match &spec.role_ref {
        None => out.push(at("spec.roleRef".into(), "missing").example(example)),
        Some(r) => {
            if r.kind != SERVICE_ROLE {
                out.push(
                    at(
                        "spec.roleRef.kind".into(),
                        "the only kind a binding may refer to is ServiceRole",
                    )
                    .value(format!("{:?}", r.kind))
                    .example(example),
                );
            }
            if r.name.is_empty() {
                out.push(at("spec.roleRef.name".into(), "missing").example(example));
            }
        }
    }
    out
}

/// Every problem of an `RbacConfig` that parsed.
pub fn check_rbac_config(doc: &Document, spec: &RbacConfigSpec) -> Vec<Problem> {
    let mut out = Vec::new();
    if doc.name != RBAC_CONFIG_NAME {
        out.push(
            Problem::new(
                &doc.origin,
                "metadata.name",
                "Istio reads only the RbacConfig named default",
            )
            .value(&doc.name)
            .example("metadata: {name: default}"),
        );
    }
    let empty = |t: &Option<Target>| {
        t.as_ref()
            .is_none_or(|t| t.services.is_empty() && t.namespaces.is_empty())
    };
    if spec.mode == RbacMode::OnWithInclusion && empty(&spec.inclusion) {
        out.push(
            Problem::new(
                &doc.origin,
                "spec.inclusion",
                "ON_WITH_INCLUSION with nothing included enforces RBAC nowhere",
            )
            .example("inclusion: {namespaces: [default], services: [\"ratings.default.svc.cluster.local\"]}"),
        );
    }
    out
}
