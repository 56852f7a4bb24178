//! What the quota adapters (memquota, redisquota) share: which quota instance a configured
//! quota name refers to ([`ByInstance`]), an instance's dimensions as strings, the first
//! override whose dimensions all equal the instance's ([`first_match`]), and the counter key
//! (quota name plus sorted `;dim=value` pairs, [`counter_key`]).

use crate::adapters::Instance;
use mixer_rules::{FieldProblem, HandlerContext, Template};
use std::collections::BTreeMap;

/// Problems of `quotas[i].name`: required, and no quota configured twice (`seen` holds the
/// names of the quotas before it, with their index).
pub fn name_problems<'q>(
    i: usize,
    name: &'q str,
    seen: &mut BTreeMap<&'q str, usize>,
    out: &mut Vec<FieldProblem>,
) {
    let field = format!("quotas[{i}].name");
    if name.is_empty() {
        out.push(
            FieldProblem::new(field, "required: the quota instance this limit is for")
                .example("requestcountquota.instance.istio-system"),
        );
    } else if let Some(first) = seen.insert(name, i) {
        out.push(
            FieldProblem::new(
                field,
                format!("quota already configured in quotas[{first}]"),
            )
            .value(format!("{name:?}")),
        );
    }
}

/// Configured quotas by the (name, namespace) of the quota instance each limits.
#[derive(Debug)]
pub struct ByInstance<T> {
    entries: Vec<((String, String), T)>,
}

impl<T> ByInstance<T> {
    /// `name(q)` is the instance reference as written; `namespace` (the handler's) and
    /// `instances` (the config's) resolve short references.
    pub fn new(
        quotas: impl IntoIterator<Item = T>,
        name: impl Fn(&T) -> &str,
        namespace: &str,
        instances: &[mixer_rules::Instance],
    ) -> ByInstance<T> {
        ByInstance {
            entries: quotas
                .into_iter()
                .map(|q| (resolve(name(&q), namespace, instances), q))
                .collect(),
        }
    }

    /// The quota for the instance whose fully-qualified name is `fqn`
    /// (`name.instance.namespace`).
    pub fn get(&self, fqn: &str) -> Option<&T> {
        let mut parts = fqn.splitn(3, '.');
        let (name, _kind, ns) = (parts.next()?, parts.next()?, parts.next()?);
        self.entries
            .iter()
            .find(|((n, s), _)| n == name && s == ns)
            .map(|(_, q)| q)
    }
}

/// The instance's dimensions, stringified as Mixer compares them (in the instance's order,
/// which is sorted by key).
pub fn dimensions<'a>(instance: &Instance<'a>) -> Vec<(&'a str, String)> {
    instance
        .dimensions
        .iter()
        .map(|(k, v)| (*k, v.to_string()))
        .collect()
}

/// The first of `overrides` whose dimensions (`of(o)`) all equal the instance's `dims`.
pub fn first_match<'o, O>(
    overrides: &'o [O],
    dims: &[(&str, String)],
    of: impl Fn(&O) -> &BTreeMap<String, String>,
) -> Option<&'o O> {
    overrides.iter().find(|o| {
        of(o)
            .iter()
            .all(|(k, v)| dims.iter().any(|(dk, dv)| dk == k && dv == v))
    })
}

/// `name;dim=value;…` in the order of `dims` (memquota's counter key, spec §7).
pub fn counter_key(name: &str, dims: &[(&str, String)]) -> String {
    let mut key = name.to_owned();
    for (k, v) in dims {
        key.push(';');
        key.push_str(k);
        key.push('=');
        key.push_str(v);
    }
    key
}

/// The problems of quota names (`quotas[i].name`) that name no `quota` instance.
pub fn check_instances<'a>(
    names: impl Iterator<Item = &'a str>,
    ctx: &HandlerContext<'_>,
) -> Vec<FieldProblem> {
    let mut out = Vec::new();
    for (i, name) in names.enumerate() {
        match ctx.instance(name) {
            None => out.push(
                FieldProblem::new(format!("quotas[{i}].name"), "no such instance")
                    .value(format!("{name:?}"))
                    .example("requestcountquota.instance.istio-system"),
            ),
            Some(inst) if inst.template != Template::Quota => out.push(
                FieldProblem::new(
                    format!("quotas[{i}].name"),
                    format!("instance is a {}, not a quota", inst.template.name()),
                )
                .value(format!("{name:?}")),
            ),
            Some(_) => {}
        }
    }
    out
}

/// A quota name as written (`q`, `q.ns`, `q.quota`, `q.instance.ns`) → (name, namespace), as
/// Mixer resolves references: a two-part name is `name.namespace` when such an instance
/// exists, else the Istio 1.0 `name.kind` in the handler's namespace.
fn resolve(
    reference: &str,
    namespace: &str,
    instances: &[mixer_rules::Instance],
) -> (String, String) {
    let parts: Vec<&str> = reference.split('.').collect();
    match parts.as_slice() {
        [name, b]
            if instances
                .iter()
                .any(|i| i.name.name == *name && i.name.namespace == *b) =>
        {
            ((*name).to_owned(), (*b).to_owned())
        }
        [name, _kind] => ((*name).to_owned(), namespace.to_owned()),
        [name, _kind, rest @ ..] => ((*name).to_owned(), rest.join(".")),
        [name] => ((*name).to_owned(), namespace.to_owned()),
        [] => (String::new(), namespace.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dims(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
        pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
    }

    #[test]
    fn references_resolve_like_mixer() {
        let q = ByInstance::new(
            ["a", "b.quota", "c.instance.other", "d.ns2"],
            |s| s,
            "istio-system",
            &[],
        );
        assert_eq!(q.get("a.instance.istio-system"), Some(&"a"));
        assert_eq!(q.get("b.instance.istio-system"), Some(&"b.quota"));
        assert_eq!(q.get("c.instance.other"), Some(&"c.instance.other"));
        // no instance d in ns2 is known: `d.ns2` reads as the 1.0 `name.kind`
        assert_eq!(q.get("d.instance.istio-system"), Some(&"d.ns2"));
        assert_eq!(q.get("a.instance.default"), None);
        assert_eq!(q.get("a"), None);
    }

    #[test]
    fn first_override_whose_dimensions_all_match() {
        let overrides = [
            BTreeMap::from([
                ("a".to_owned(), "1".to_owned()),
                ("b".to_owned(), "2".to_owned()),
            ]),
            BTreeMap::from([("a".to_owned(), "1".to_owned())]),
        ];
        let pick =
            |d: &[(&'static str, &str)]| first_match(&overrides, &dims(d), |o| o).map(|o| o.len());
        assert_eq!(pick(&[("a", "1"), ("b", "2")]), Some(2));
        assert_eq!(pick(&[("a", "1"), ("b", "3")]), Some(1));
        assert_eq!(pick(&[("a", "2"), ("b", "2")]), None);
        assert_eq!(pick(&[]), None);
    }

    #[test]
    fn counter_key_is_name_and_pairs() {
        assert_eq!(counter_key("q", &[]), "q");
        assert_eq!(
            counter_key("q", &dims(&[("a", "1"), ("b", "x y")])),
            "q;a=1;b=x y"
        );
    }
}
