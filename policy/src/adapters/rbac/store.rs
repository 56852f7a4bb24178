//! The roles, bindings and RbacConfig of one config, compiled for matching and grouped by
//! namespace: a role applies to the services of its own namespace, and a binding grants a role
//! of its own namespace. Building the store is also the cross-document check — a binding must
//! name a role that exists, at most one RbacConfig — so the problems it reports are exactly
//! those that would keep a handler from being built.

use super::documents::{self as doc, EnforcementMode, RbacConfigSpec, RbacMode, Target};
use super::pattern::{Pattern, Who};
use mixer_rules::{Document, Origin, Problem};
use std::collections::BTreeMap;

/// One rule of a role.
#[derive(Clone, Debug)]
pub struct Rule {
    pub services: Vec<Pattern>,
    /// Empty: any path.
    pub paths: Vec<Pattern>,
    pub methods: Vec<Pattern>,
    /// (action property, accepted values).
    pub constraints: Vec<(String, Vec<Pattern>)>,
}

/// One subject of a binding; a field it leaves empty does not constrain the request.
#[derive(Clone, Debug)]
pub struct Subject {
    pub user: Option<Who>,
    pub group: Option<Who>,
    pub properties: Vec<(String, String)>,
}

/// A binding of a role.
#[derive(Clone, Debug)]
pub struct Binding {
    pub name: String,
    /// PERMISSIVE: evaluated and logged, never granting anything.
    pub permissive: bool,
    pub subjects: Vec<Subject>,
}

/// A role with the bindings that grant it.
#[derive(Clone, Debug)]
pub struct Role {
    pub name: String,
    pub rules: Vec<Rule>,
    pub bindings: Vec<Binding>,
}

/// Where RBAC is enforced (the RbacConfig), and whether only in shadow.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    pub mode: RbacMode,
    pub inclusion: Target,
    pub exclusion: Target,
    /// `enforcementMode: PERMISSIVE`: everything is allowed; would-be denials are logged.
    pub permissive: bool,
}

impl Scope {
    /// Whether RBAC applies to `service` of `namespace`.
    pub fn enforces(&self, service: &str, namespace: &str) -> bool {
        let listed = |t: &Target| {
            t.services.iter().any(|s| s == service) || t.namespaces.iter().any(|n| n == namespace)
        };
        match self.mode {
            RbacMode::Off => false,
            RbacMode::On => true,
            RbacMode::OnWithInclusion => listed(&self.inclusion),
            RbacMode::OnWithExclusion => !listed(&self.exclusion),
        }
    }
}

/// Everything the rbac adapter decides with.
#[derive(Clone, Debug, Default)]
pub struct Store {
    /// Roles by namespace.
    pub roles: BTreeMap<String, Vec<Role>>,
    /// `None` without an RbacConfig: RBAC applies to every instance the rules send (Istio
    /// 1.0's Mixer adapter never read one).
    pub scope: Option<Scope>,
}

impl Store {
    /// Compiles the RBAC documents among `docs` (others are ignored), or reports every
    /// problem of every one of them.
    pub fn build(docs: &[Document]) -> Result<Store, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut store = Store::default();
        // every role document by (namespace, name), valid or not: a binding naming a role
        // that is itself wrong is not reported a second time
        let mut declared: BTreeMap<(&str, &str), bool> = BTreeMap::new();
        for d in docs.iter().filter(|d| d.kind == "ServiceRole") {
            let role = doc::read::<doc::ServiceRoleSpec>(d).and_then(|spec| {
                let p = doc::check_role(d, &spec);
                if p.is_empty() {
                    Ok(compile_role(&d.name, &spec))
                } else {
                    Err(p)
                }
            });
            declared.insert((&d.namespace, &d.name), role.is_ok());
            match role {
                Ok(r) => store.roles.entry(d.namespace.clone()).or_default().push(r),
                Err(p) => problems.extend(p),
            }
        }
        for d in docs.iter().filter(|d| d.kind == "ServiceRoleBinding") {
            let spec = match doc::read::<doc::ServiceRoleBindingSpec>(d) {
                Ok(s) => s,
                Err(p) => {
                    problems.extend(p);
                    continue;
                }
            };
            let p = doc::check_binding(d, &spec);
            if !p.is_empty() {
                problems.extend(p);
                continue;
            }
            let role = spec.role_ref.as_ref().map_or("", |r| r.name.as_str());
            match declared.get(&(d.namespace.as_str(), role)) {
                Some(true) => {}
                Some(false) => continue,
                None => {
                    problems.push(unknown_role(d, role, &declared));
                    continue;
                }
            }
            if let Some(r) = store
                .roles
                .get_mut(&d.namespace)
                .and_then(|rs| rs.iter_mut().find(|r| r.name == role))
            {
                r.bindings.push(compile_binding(&d.name, &spec));
            }
        }
        let mut first: Option<&Origin> = None;
        for d in docs.iter().filter(|d| d.kind == "RbacConfig") {
            if let Some(f) = first {
                problems.push(Problem::new(
                    &d.origin,
                    "metadata.name",
                    format!("only one RbacConfig may be given; the first is {f}"),
                ));
                continue;
            }
            first = Some(&d.origin);
            match doc::read::<RbacConfigSpec>(d) {
                Ok(spec) => {
                    let p = doc::check_rbac_config(d, &spec);
                    if p.is_empty() {
                        store.scope = Some(Scope {
                            mode: spec.mode,
                            inclusion: spec.inclusion.unwrap_or_default(),
                            exclusion: spec.exclusion.unwrap_or_default(),
                            permissive: spec.enforcement_mode == EnforcementMode::Permissive,
                        });
                    }
                    problems.extend(p);
                }
                Err(p) => problems.extend(p),
            }
        }
        if problems.is_empty() {
            Ok(store)
        } else {
            Err(problems)
        }
    }

    /// The roles of `namespace`.
    pub fn roles(&self, namespace: &str) -> &[Role] {
        self.roles.get(namespace).map_or(&[], Vec::as_slice)
    }
}

fn unknown_role(d: &Document, role: &str, declared: &BTreeMap<(&str, &str), bool>) -> Problem {
    let here: Vec<&str> = declared
        .keys()
        .filter(|(ns, _)| *ns == d.namespace)
        .map(|(_, n)| *n)
        .collect();
    let example = if here.is_empty() {
        format!(
            "a ServiceRole in namespace {} (a binding grants roles of its own namespace)",
            d.namespace
        )
    } else {
        format!("one of: {}", here.join(", "))
    };
    Problem::new(
        &d.origin,
        "spec.roleRef.name",
        format!("no ServiceRole of that name in namespace {}", d.namespace),
    )
    .value(format!("{role:?}"))
    .example(example)
}

fn patterns(list: &[String]) -> Vec<Pattern> {
    // checked by `check_role`; a pattern that does not parse matches nothing
    list.iter().filter_map(|s| Pattern::parse(s).ok()).collect()
}

fn compile_role(name: &str, spec: &doc::ServiceRoleSpec) -> Role {
    Role {
        name: name.to_owned(),
        rules: spec
            .rules
            .iter()
            .map(|r| Rule {
                services: patterns(&r.services),
                paths: patterns(&r.paths),
                methods: patterns(&r.methods),
                constraints: r
                    .constraints
                    .iter()
                    .map(|c| (c.key.clone(), patterns(&c.values)))
                    .collect(),
            })
            .collect(),
        bindings: Vec::new(),
    }
}

fn compile_binding(name: &str, spec: &doc::ServiceRoleBindingSpec) -> Binding {
    Binding {
        name: name.to_owned(),
        permissive: spec.mode == EnforcementMode::Permissive,
        subjects: spec
            .subjects
            .iter()
            .map(|s| Subject {
                user: Who::parse(&s.user).ok().flatten(),
                group: Who::parse(&s.group).ok().flatten(),
                properties: s
                    .properties
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            })
            .collect(),
    }
}
