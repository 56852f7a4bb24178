//! Name resolution as Mixer's `canonicalize` does it: a reference from a document in namespace
//! `ns` is `name`, `name.kind`, `name.namespace` or `name.kind.namespace`.

/// Words that may stand as the middle (kind) part of a reference: the generic kinds plus every
/// Istio 1.0 adapter and template kind.
fn is_kind_word(w: &str) -> bool {
    !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Resolves `reference` made from namespace `ns` to `(name, namespace)`. A two-part name
/// `a.b` is tried as `a` in namespace `b` first (Istio 1.1 style) and then as `a` of kind `b`
/// in `ns` (1.0 style); `exists` says which (name, namespace) pairs are defined.
pub fn reference(
    reference: &str,
    ns: &str,
    exists: impl Fn(&str, &str) -> bool,
) -> Option<(String, String)> {
    let parts: Vec<&str> = reference.split('.').collect();
    match parts.as_slice() {
        [name] => Some(((*name).to_owned(), ns.to_owned())),
        [name, second] => {
            if exists(name, second) {
                Some(((*name).to_owned(), (*second).to_owned()))
            } else if is_kind_word(second) {
                Some(((*name).to_owned(), ns.to_owned()))
            } else {
                None
            }
        }
        [name, kind, namespace] if is_kind_word(kind) => {
            Some(((*name).to_owned(), (*namespace).to_owned()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::reference;

    #[test]
    fn every_spelling_resolves() {
        let exists = |n: &str, ns: &str| n == "prometheus" && ns == "istio-system";
        let r = |s| reference(s, "default", exists);
        assert_eq!(r("h"), Some(("h".into(), "default".into())));
        assert_eq!(
            r("prometheus.istio-system"),
            Some(("prometheus".into(), "istio-system".into()))
        );
        assert_eq!(
            r("handler.prometheus"),
            Some(("handler".into(), "default".into()))
        );
        assert_eq!(
            r("requestcount.metric.istio-system"),
            Some(("requestcount".into(), "istio-system".into()))
        );
        assert_eq!(r("a.b.c.d"), None);
        assert_eq!(r("a.not-a-kind"), None);
    }
}
