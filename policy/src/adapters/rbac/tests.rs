use super::*;
use crate::adapters::{code, FieldValue, Instance};
use mixer_attributes::expr::EvalValue;
use std::borrow::Cow;
use std::time::{Duration, Instant};

mod documents;

fn docs(text: &str) -> Vec<Document> {
    let mut problems = Vec::new();
    let d = mixer_rules::split_documents("rbac.yaml", text, &mut problems);
    assert!(problems.is_empty(), "{problems:?}");
    d
}

fn handler_with(params: &str, text: &str) -> RbacHandler {
    let p = Params::parse(&serde_yaml_ng::from_str(params).expect("yaml")).expect("params");
    RbacHandler::new(p, &docs(text), Instant::now()).unwrap_or_else(|e| panic!("{e}"))
}

fn handler(text: &str) -> RbacHandler {
    handler_with("{}", text)
}

/// An instance from `(field, value)` pairs; `action.properties:version` is a map entry.
fn inst<'a>(pairs: &[(&'a str, &'a str)]) -> Instance<'a> {
    Instance {
        name: "requestcontext.instance.istio-system",
        value: None,
        dimensions: Vec::new(),
        fields: pairs
            .iter()
            .map(|(name, v)| {
                let (field, key) = match name.split_once(':') {
                    Some((f, k)) => (f, Some(k)),
                    None => (*name, None),
                };
                FieldValue {
                    field,
                    key,
                    value: EvalValue::String(Cow::Borrowed(v)),
                }
            })
            .collect(),
    }
}

/// A GET of `path` on `service` in `default` by `user`, plus `extra` fields.
fn get<'a>(
    service: &'a str,
    path: &'a str,
    user: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Instance<'a> {
    let mut pairs = vec![
        ("subject.user", user),
        ("subject.groups", ""),
        ("action.namespace", "default"),
        ("action.service", service),
        ("action.method", "GET"),
        ("action.path", path),
    ];
    for (k, v) in extra {
        match pairs.iter_mut().find(|(n, _)| n == k) {
            Some(p) => p.1 = v,
            None => pairs.push((k, v)),
        }
    }
    inst(&pairs)
}

fn code_of(h: &RbacHandler, i: &Instance<'_>) -> i32 {
    h.check(i, Instant::now()).status.code
}

const PRODUCTPAGE: &str = "productpage.default.svc.cluster.local";
const REVIEWS: &str = "reviews.default.svc.cluster.local";
const PP_SA: &str = "cluster.local/ns/default/sa/bookinfo-productpage";

fn role(name: &str, ns: &str, rules: &str) -> String {
    format!("apiVersion: rbac.istio.io/v1alpha1\nkind: ServiceRole\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  rules: {rules}\n---\n")
}

fn binding(name: &str, ns: &str, role: &str, subjects: &str, mode: &str) -> String {
    format!("apiVersion: rbac.istio.io/v1alpha1\nkind: ServiceRoleBinding\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  subjects: {subjects}\n  roleRef: {{kind: ServiceRole, name: {role}}}\n  mode: {mode}\n---\n")
}

#[test]
fn service_level_access_as_in_istios_task() {
    let h = handler(
        &[
            role(
                "productpage-viewer",
                "default",
                &format!("[{{services: [{PRODUCTPAGE}], methods: [GET]}}]"),
            ),
            binding(
                "bind-productpage-viewer",
                "default",
                "productpage-viewer",
                "[{user: \"*\"}]",
                "ENFORCED",
            ),
            role(
                "reviews-viewer",
                "default",
                &format!("[{{services: [{REVIEWS}], methods: [GET]}}]"),
            ),
            binding(
                "bind-reviews",
                "default",
                "reviews-viewer",
                &format!("[{{user: \"{PP_SA}\"}}]"),
                "ENFORCED",
            ),
        ]
        .concat(),
    );
    let ok = h.check(&get(PRODUCTPAGE, "/productpage", "", &[]), Instant::now());
    assert_eq!((ok.status.code, ok.status.message.as_str()), (code::OK, ""));
    assert_eq!(
        (ok.valid_duration, ok.valid_use_count),
        (Duration::from_secs(60), 1_000_000_000)
    );
    // reviews only for productpage's service account
    assert_eq!(
        code_of(&h, &get(REVIEWS, "/reviews/0", PP_SA, &[])),
        code::OK
    );
    let no = h.check(
        &get(
            REVIEWS,
            "/reviews/0",
            "cluster.local/ns/default/sa/other",
            &[],
        ),
        Instant::now(),
    );
    assert_eq!(
        (no.status.code, no.status.message.as_str()),
        (code::PERMISSION_DENIED, "RBAC: permission denied.")
    );
    assert_eq!(
        (no.valid_duration, no.valid_use_count),
        (Duration::from_secs(60), 1_000_000_000)
    );
    // a method no rule lists, and a service no role names
    assert_eq!(
        code_of(&h, &get(PRODUCTPAGE, "/", "", &[("action.method", "POST")])),
        code::PERMISSION_DENIED
    );
    assert_eq!(
        code_of(
            &h,
            &get("ratings.default.svc.cluster.local", "/", PP_SA, &[])
        ),
        code::PERMISSION_DENIED
    );
}

#[test]
fn wildcards_on_services_paths_and_methods() {
    let h = handler(&[
        role("r", "default", "[{services: [\"*.default.svc.cluster.local\"], paths: [\"/books/*\", \"*/reviews\"], methods: [\"*\"]}, {services: [\"ratings*\"], methods: [GET, HEAD]}]"),
        binding("b", "default", "r", "[{user: \"*\"}]", "ENFORCED"),
    ].concat());
    let svc = "details.default.svc.cluster.local";
    assert_eq!(
        code_of(
            &h,
            &get(svc, "/books/1", "", &[("action.method", "DELETE")])
        ),
        code::OK
    );
    assert_eq!(
        code_of(&h, &get(svc, "/products/7/reviews", "", &[])),
        code::OK
    );
    assert_eq!(
        code_of(&h, &get(svc, "/products/7", "", &[])),
        code::PERMISSION_DENIED
    );
    assert_eq!(
        code_of(
            &h,
            &get("details.other.svc.cluster.local", "/books/1", "", &[])
        ),
        code::PERMISSION_DENIED
    );
    // no paths listed: any path
    assert_eq!(
        code_of(
            &h,
            &get(
                "ratings.default.svc.cluster.local",
                "/anything",
                "",
                &[("action.method", "HEAD")]
            )
        ),
        code::OK
    );
    assert_eq!(
        code_of(
            &h,
            &get(
                "ratings.default.svc.cluster.local",
                "/",
                "",
                &[("action.method", "PUT")]
            )
        ),
        code::PERMISSION_DENIED
    );
}

#[test]
fn constraints_need_every_key_with_an_accepted_value() {
    let h = handler(&[
        role("r", "default", "[{services: [\"*\"], methods: [GET], constraints: [{key: version, values: [v1, \"v2*\"]}, {key: app, values: [reviews]}]}]"),
        binding("b", "default", "r", "[{user: \"*\"}]", "ENFORCED"),
    ].concat());
    let with = |version, app| {
        get(
            REVIEWS,
            "/",
            "",
            &[
                ("action.properties:version", version),
                ("action.properties:app", app),
            ],
        )
    };
    assert_eq!(code_of(&h, &with("v1", "reviews")), code::OK);
    assert_eq!(code_of(&h, &with("v2-beta", "reviews")), code::OK);
    assert_eq!(code_of(&h, &with("v3", "reviews")), code::PERMISSION_DENIED);
    assert_eq!(code_of(&h, &with("v1", "ratings")), code::PERMISSION_DENIED);
    // a property the request lacks fails its constraint; so does a value that is no string
    assert_eq!(
        code_of(
            &h,
            &get(REVIEWS, "/", "", &[("action.properties:version", "v1")])
        ),
        code::PERMISSION_DENIED
    );
    let mut i = with("v1", "reviews");
    i.fields.retain(|f| f.key != Some("version"));
    i.fields.push(FieldValue {
        field: "action.properties",
        key: Some("version"),
        value: EvalValue::Int64(1),
    });
    assert_eq!(code_of(&h, &i), code::PERMISSION_DENIED);
}

#[test]
fn every_field_a_subject_sets_must_match() {
    let h = handler(&[
        role("r", "default", "[{services: [\"*\"], methods: [GET]}]"),
        binding("b", "default", "r", &format!("[{{user: \"{PP_SA}\", properties: {{namespace: default}}}}, {{group: admins}}, {{properties: {{app: reviews, version: v2}}}}]"), "ENFORCED"),
    ].concat());
    let props = |ns| [("subject.properties:namespace", ns)];
    assert_eq!(
        code_of(&h, &get(REVIEWS, "/", PP_SA, &props("default"))),
        code::OK
    );
    // the user matches but a property does not (Istio 1.0 let this through; the spec does not)
    assert_eq!(
        code_of(&h, &get(REVIEWS, "/", PP_SA, &props("other"))),
        code::PERMISSION_DENIED
    );
    assert_eq!(
        code_of(&h, &get(REVIEWS, "/", PP_SA, &[])),
        code::PERMISSION_DENIED
    );
    assert_eq!(
        code_of(&h, &get(REVIEWS, "/", "", &[("subject.groups", "admins")])),
        code::OK
    );
    assert_eq!(
        code_of(
            &h,
            &get(REVIEWS, "/", "", &[("subject.groups", "admins,dev")])
        ),
        code::PERMISSION_DENIED
    );
    let two = [
        ("subject.properties:app", "reviews"),
        ("subject.properties:version", "v2"),
    ];
    assert_eq!(code_of(&h, &get(REVIEWS, "/", "", &two)), code::OK);
    assert_eq!(
        code_of(&h, &get(REVIEWS, "/", "", &two[..1])),
        code::PERMISSION_DENIED
    );
}

#[test]
fn roles_and_bindings_apply_in_their_own_namespace() {
    let h = handler(
        &[
            role("viewer", "default", "[{services: [\"*\"], methods: [GET]}]"),
            binding("b", "default", "viewer", "[{user: \"*\"}]", "ENFORCED"),
            role(
                "viewer",
                "staging",
                "[{services: [\"*\"], methods: [POST]}]",
            ),
            binding("b", "staging", "viewer", "[{group: qa}]", "ENFORCED"),
        ]
        .concat(),
    );
    assert_eq!(code_of(&h, &get(REVIEWS, "/", "", &[])), code::OK);
    let staging = |method, groups| {
        get(
            REVIEWS,
            "/",
            "",
            &[
                ("action.namespace", "staging"),
                ("action.method", method),
                ("subject.groups", groups),
            ],
        )
    };
    assert_eq!(code_of(&h, &staging("GET", "qa")), code::PERMISSION_DENIED);
    assert_eq!(code_of(&h, &staging("POST", "qa")), code::OK);
    assert_eq!(code_of(&h, &staging("POST", "")), code::PERMISSION_DENIED);
    // a namespace without roles denies everything
    assert_eq!(
        code_of(&h, &get(REVIEWS, "/", "", &[("action.namespace", "prod")])),
        code::PERMISSION_DENIED
    );
}

#[test]
fn a_missing_action_field_is_a_denial() {
    let h = handler(
        &[
            role("r", "default", "[{services: [\"*\"], methods: [\"*\"]}]"),
            binding("b", "default", "r", "[{user: \"*\"}]", "ENFORCED"),
        ]
        .concat(),
    );
    assert_eq!(code_of(&h, &get(REVIEWS, "/", "", &[])), code::OK);
    for field in [
        "action.namespace",
        "action.service",
        "action.path",
        "action.method",
    ] {
        let mut i = get(REVIEWS, "/", "", &[]);
        i.fields.retain(|f| f.field != field);
        let r = h.check(&i, Instant::now());
        assert_eq!(
            (r.status.code, r.status.message.as_str()),
            (code::PERMISSION_DENIED, DENIED),
            "{field}"
        );
        assert_eq!(
            code_of(&h, &get(REVIEWS, "/", "", &[(field, "")])),
            code::PERMISSION_DENIED,
            "{field} empty"
        );
    }
}

#[test]
fn a_permissive_binding_grants_nothing_and_is_counted() {
    let h = handler(
        &[
            role("r", "default", "[{services: [\"*\"], methods: [GET]}]"),
            binding("enforced", "default", "r", "[{user: alice}]", "ENFORCED"),
            binding("trial", "default", "r", "[{user: bob}]", "PERMISSIVE"),
        ]
        .concat(),
    );
    assert_eq!(code_of(&h, &get(REVIEWS, "/", "alice", &[])), code::OK);
    assert_eq!(
        code_of(&h, &get(REVIEWS, "/", "bob", &[])),
        code::PERMISSION_DENIED
    );
    assert_eq!(
        code_of(&h, &get(REVIEWS, "/", "carol", &[])),
        code::PERMISSION_DENIED
    );
    assert_eq!((h.shadow_allows(), h.shadow_denials()), (1, 0));
}

const RBAC_CONFIG: &str =
    "apiVersion: rbac.istio.io/v1alpha1\nkind: RbacConfig\nmetadata: {name: default}\nspec:\n";

#[test]
fn global_permissive_mode_allows_and_counts_would_be_denials() {
    let h = handler(
        &[
            role("r", "default", "[{services: [\"*\"], methods: [GET]}]"),
            binding("b", "default", "r", "[{user: alice}]", "ENFORCED"),
            format!("{RBAC_CONFIG}  mode: ON\n  enforcementMode: PERMISSIVE\n"),
        ]
        .concat(),
    );
    assert_eq!(code_of(&h, &get(REVIEWS, "/", "alice", &[])), code::OK);
    assert_eq!(h.shadow_denials(), 0);
    let r = h.check(&get(REVIEWS, "/", "mallory", &[]), Instant::now());
    assert_eq!(
        (r.status.code, r.valid_use_count),
        (code::OK, VALID_USE_COUNT)
    );
    assert_eq!(
        code_of(&h, &get(REVIEWS, "/", "", &[("action.path", "")])),
        code::OK
    );
    assert_eq!(h.shadow_denials(), 2);
}

#[test]
fn rbac_config_modes_choose_where_rbac_applies() {
    let base = [
        role("r", "default", "[{services: [\"*\"], methods: [GET]}]"),
        binding("b", "default", "r", "[{user: alice}]", "ENFORCED"),
    ]
    .concat();
    let denied_for_mallory = |spec: &str| {
        let h = handler(&format!("{base}{RBAC_CONFIG}{spec}"));
        [REVIEWS, PRODUCTPAGE]
            .map(|svc| code_of(&h, &get(svc, "/", "mallory", &[])) == code::PERMISSION_DENIED)
    };
    assert_eq!(denied_for_mallory("  mode: 'OFF'\n"), [false, false]);
    assert_eq!(denied_for_mallory("  mode: 'ON'\n"), [true, true]);
    assert_eq!(
        denied_for_mallory(&format!(
            "  mode: ON_WITH_INCLUSION\n  inclusion: {{services: [{REVIEWS}]}}\n"
        )),
        [true, false]
    );
    assert_eq!(
        denied_for_mallory("  mode: ON_WITH_INCLUSION\n  inclusion: {namespaces: [default]}\n"),
        [true, true]
    );
    assert_eq!(
        denied_for_mallory(&format!(
            "  mode: ON_WITH_EXCLUSION\n  exclusion: {{services: [{REVIEWS}]}}\n"
        )),
        [false, true]
    );
    // no RbacConfig at all: the 1.0 adapter enforced wherever its rule sent instances
    let h = handler(&base);
    assert_eq!(
        code_of(&h, &get(REVIEWS, "/", "mallory", &[])),
        code::PERMISSION_DENIED
    );
}

#[test]
fn cache_duration_and_config_store_url() {
    let h = handler_with("{configStoreUrl: \"k8s://\", cacheDuration: 5s}", "");
    let r = h.check(&get(REVIEWS, "/", "", &[]), Instant::now());
    assert_eq!(
        (r.status.code, r.valid_duration),
        (code::PERMISSION_DENIED, Duration::from_secs(5))
    );
    let p = Params::parse(
        &serde_yaml_ng::from_str("{cache_duration: -1s, config_store_url: \"fs:///x\"}")
            .expect("yaml"),
    )
    .expect_err("negative");
    assert_eq!(p[0].field, "cache_duration");
    let p = Params::parse(&serde_yaml_ng::from_str("{cacheDuraton: 5s}").expect("yaml"))
        .expect_err("typo");
    assert_eq!(p[0].field, "cacheDuraton");
}
