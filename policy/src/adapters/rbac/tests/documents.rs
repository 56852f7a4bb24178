//! The RBAC documents' checks: patterns, and every problem of every document at once.

use super::{binding, docs, role, RBAC_CONFIG};
use crate::adapters::rbac::*;
use std::time::Instant;

#[test]
fn patterns() {
    assert_eq!(Pattern::parse("*"), Ok(Pattern::Any));
    assert_eq!(
        Pattern::parse("/books/*"),
        Ok(Pattern::Prefix("/books/".into()))
    );
    assert_eq!(
        Pattern::parse("*/reviews"),
        Ok(Pattern::Suffix("/reviews".into()))
    );
    assert_eq!(Pattern::parse("GET"), Ok(Pattern::Exact("GET".into())));
    for bad in ["*abc*", "/a*/b", "**", "**x", "x**"] {
        assert!(Pattern::parse(bad).is_err(), "{bad}");
    }
    assert!(Pattern::Prefix("/books/".into()).matches("/books/"));
    assert!(!Pattern::Suffix("/reviews".into()).matches("/reviews/1"));
    assert_eq!(Who::parse(""), Ok(None));
    assert_eq!(Who::parse("*"), Ok(Some(Who::Anyone)));
    assert!(Who::parse("cluster.local/ns/default/*").is_err());
}

fn document_problems(text: &str) -> Vec<String> {
    check_documents(&docs(text))
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn every_document_problem_is_reported_at_once() {
    let text = [
        role("empty", "default", "[]"),
        role("bad", "default", "[{services: [\"*svc*\"], paths: [\"/a*b\"], constraints: [{key: \"\", values: []}]}]"),
        "apiVersion: rbac.istio.io/v1alpha1\nkind: ServiceRole\nmetadata: {name: typo, namespace: default}\nspec:\n  rules: [{services: [\"*\"], methods: [GET], hosts: [x]}]\n---\n".to_owned(),
        role("good", "default", "[{services: [\"*\"], methods: [GET]}]"),
        binding("to-nothing", "default", "viewer", "[{user: \"*\"}]", "ENFORCED"),
        binding("to-bad-role", "default", "bad", "[{user: \"*\"}]", "ENFORCED"),
        binding("other-ns", "staging", "good", "[{user: \"*\"}]", "ENFORCED"),
        "apiVersion: rbac.istio.io/v1alpha1\nkind: ServiceRoleBinding\nmetadata: {name: sloppy, namespace: default}\nspec:\n  subjects: [{}, {user: \"cluster.local/*\"}]\n  roleRef: {kind: ClusterRole, name: good}\n---\n".to_owned(),
        binding("permissive-typo", "default", "good", "[{user: \"*\"}]", "DRY_RUN"),
        format!("apiVersion: rbac.istio.io/v1alpha1\nkind: RbacConfig\nmetadata: {{name: mesh}}\nspec: {{mode: ON_WITH_INCLUSION}}\n---\n{RBAC_CONFIG}  mode: 'ON'\n"),
    ]
    .concat();
    let p = document_problems(&text);
    let expect = [
        ("document 1 (ServiceRole empty.default): spec.rules: a ServiceRole needs at least one rule", "example: rules: [{services"),
        ("document 2 (ServiceRole bad.default): spec.rules[0].methods: at least one method", "example: methods:"),
        ("document 2 (ServiceRole bad.default): spec.rules[0].services[0]: \"*\" may stand alone", "value:   \"*svc*\""),
        ("document 2 (ServiceRole bad.default): spec.rules[0].paths[0]", "value:   \"/a*b\""),
        ("document 2 (ServiceRole bad.default): spec.rules[0].constraints[0].key", "example: key: version"),
        ("document 2 (ServiceRole bad.default): spec.rules[0].constraints[0].values", "at least one value"),
        ("document 3 (ServiceRole typo.default): spec.rules[0].hosts: unknown field", "expected one of"),
        ("document 5 (ServiceRoleBinding to-nothing.default): spec.roleRef.name: no ServiceRole of that name in namespace default", "example: one of: bad, empty, good, typo"),
        ("document 7 (ServiceRoleBinding other-ns.staging): spec.roleRef.name: no ServiceRole of that name in namespace staging", "value:   \"good\""),
        ("document 8 (ServiceRoleBinding sloppy.default): spec.subjects[0]: sets none of user, group and properties", "{user: \"*\"}"),
        ("document 8 (ServiceRoleBinding sloppy.default): spec.subjects[1].user", "value:   \"cluster.local/*\""),
        ("document 8 (ServiceRoleBinding sloppy.default): spec.roleRef.kind", "value:   \"ClusterRole\""),
        ("document 9 (ServiceRoleBinding permissive-typo.default): spec.mode: unknown variant `DRY_RUN`", "PERMISSIVE"),
        ("document 10 (RbacConfig mesh.istio-system): metadata.name: Istio reads only the RbacConfig named default", "value:   mesh"),
        ("document 10 (RbacConfig mesh.istio-system): spec.inclusion: ON_WITH_INCLUSION with nothing included", "example: inclusion:"),
        ("document 11 (RbacConfig default.istio-system): metadata.name: only one RbacConfig may be given; the first is rbac.yaml: document 10", ""),
    ];
    for (at, detail) in expect {
        assert!(
            p.iter().any(|m| m.contains(at) && m.contains(detail)),
            "expected a problem at {at} mentioning {detail:?}; got:\n{}",
            p.join("\n")
        );
    }
    // nothing about the binding to the (broken) role "bad", nor anything else
    assert!(
        !p.iter().any(|m| m.contains("to-bad-role")),
        "{}",
        p.join("\n")
    );
    assert_eq!(p.len(), expect.len(), "{}", p.join("\n"));
    assert!(
        p.iter().all(|m| m.starts_with("rbac.yaml: document ")),
        "{p:#?}"
    );
    let e =
        RbacHandler::new(Params::default(), &docs(&text), Instant::now()).expect_err("unusable");
    assert!(
        e.to_string()
            .contains("spec.rules: a ServiceRole needs at least one rule"),
        "{e}"
    );
}
