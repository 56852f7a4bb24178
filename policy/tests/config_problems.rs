//! Bad adapter params, loaded as a whole config: every problem is reported at once, naming
//! the file, the document and the field under `spec.params`, with the bad value.

use mixer_policy::config_source::validate;

fn problems(yaml: &str) -> Vec<String> {
    match validate(&[("policy.yaml".to_owned(), yaml.to_owned())]) {
        Ok(_) => panic!("config should be rejected:\n{yaml}"),
        Err(p) => p.iter().map(|p| p.to_string()).collect(),
    }
}

fn handler(name: &str, adapter: &str, params: &str) -> String {
    format!(
        "apiVersion: config.istio.io/v1alpha2\nkind: handler\nmetadata: {{name: {name}, namespace: istio-system}}\nspec:\n  compiledAdapter: {adapter}\n  params:\n{}\n---\n",
        params
            .lines()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    )
}

const QUOTA_INSTANCE: &str = "apiVersion: config.istio.io/v1alpha2\nkind: instance\nmetadata: {name: requestcountquota, namespace: istio-system}\nspec:\n  compiledTemplate: quota\n  params: {dimensions: {destination: destination.service.name | \"unknown\"}}\n---\napiVersion: config.istio.io/v1alpha2\nkind: instance\nmetadata: {name: nothing, namespace: istio-system}\nspec: {compiledTemplate: checknothing}\n";

#[test]
fn every_bad_param_of_every_adapter_is_reported_together() {
    let yaml = [
        handler("deny", "denier", "status: {code: 99}\nvalidDuration: -3s\nvalidUseCount: -1"),
        handler(
            "list",
            "listchecker",
            "providerUrl: https://example/list\nrefreshInterval: 10ms\nentryType: IP_ADDRESSES\noverrides: [10.0.0.0/8, 300.1.1.1]",
        ),
        handler(
            "quota",
            "memquota",
            "quotas:\n- {name: requestcountquota, maxAmount: -5, overrides: [{maxAmount: 1}]}\n- {name: missing, maxAmount: 1}\n- {name: nothing, maxAmount: 1}",
        ),
        QUOTA_INSTANCE.to_owned(),
    ]
    .concat();
    let p = problems(&yaml);
    let expect = [
        ("document 1 (handler deny.istio-system): spec.params.status.code", "99"),
        ("document 1 (handler deny.istio-system): spec.params.valid_duration", "must not be negative"),
        ("document 1 (handler deny.istio-system): spec.params.valid_use_count", "-1"),
        ("document 2 (handler list.istio-system): spec.params.provider_url", "https is not supported"),
        ("document 2 (handler list.istio-system): spec.params.refresh_interval", "at least 1s"),
        ("document 2 (handler list.istio-system): spec.params.overrides[1]", "\"300.1.1.1\""),
        ("document 3 (handler quota.istio-system): spec.params.quotas[0].max_amount", "-5"),
        ("document 3 (handler quota.istio-system): spec.params.quotas[0].overrides[0].dimensions", "at least one dimension"),
    ];
    for (at, detail) in expect {
        assert!(
            p.iter().any(|m| m.contains(at) && m.contains(detail)),
            "expected a problem at {at} mentioning {detail:?}; got:\n{}",
            p.join("\n")
        );
    }
    assert!(
        p.iter().all(|m| m.starts_with("policy.yaml: document ")),
        "{p:#?}"
    );
    // the semantic problems of one memquota are all reported: the reference checks come
    // after the params parse, so quotas[1]/[2] are reported once the params are fixed
    assert_eq!(p.len(), 8, "{}", p.join("\n"));
}

#[test]
fn quota_names_must_name_quota_instances() {
    let yaml = [
        handler(
            "quota",
            "memquota",
            "quotas:\n- {name: requestcountquota, maxAmount: 5}\n- {name: missing, maxAmount: 1}\n- {name: nothing, maxAmount: 1}",
        ),
        QUOTA_INSTANCE.to_owned(),
    ]
    .concat();
    let p = problems(&yaml);
    assert_eq!(p.len(), 2, "{}", p.join("\n"));
    assert!(
        p[0].contains("spec.params.quotas[1].name: no such instance")
            && p[0].contains("\"missing\""),
        "{}",
        p[0]
    );
    assert!(
        p[1].contains("spec.params.quotas[2].name: instance is a checknothing, not a quota"),
        "{}",
        p[1]
    );
}

#[test]
fn structural_errors_name_the_field_in_either_spelling() {
    let p = problems(&handler("list", "listchecker", "entryType: NUMBERS"));
    assert!(
        p[0].contains("spec.params.entryType: unknown variant `NUMBERS`"),
        "{}",
        p[0]
    );
    let p = problems(&handler("list", "listchecker", "caching_interval: soon"));
    assert!(
        p[0].contains("spec.params.caching_interval: invalid duration \"soon\""),
        "{}",
        p[0]
    );
    let p = problems(&handler("deny", "denier", "statusCode: 7"));
    assert!(
        p[0].contains("spec.params.statusCode: unknown field"),
        "{}",
        p[0]
    );
    let p = problems(&handler(
        "q",
        "memquota",
        "quotas: [{name: x, maxAmount: 1, validDuration: 1}]",
    ));
    assert!(
        p[0].contains("spec.params.quotas[0].validDuration: missing unit"),
        "{}",
        p[0]
    );
}

#[test]
fn templates_an_adapter_does_not_take_are_rejected_by_the_rule() {
    let yaml = format!(
        "{}{QUOTA_INSTANCE}---\napiVersion: config.istio.io/v1alpha2\nkind: rule\nmetadata: {{name: r, namespace: istio-system}}\nspec:\n  actions: [{{handler: list, instances: [requestcountquota]}}]\n",
        handler("list", "listchecker", "overrides: [a]")
    );
    let p = problems(&yaml);
    assert_eq!(p.len(), 1, "{}", p.join("\n"));
    assert!(p[0].contains("quota"), "{}", p[0]);
}

/// The rbac handler's params and the RBAC documents are checked with the rest: every problem
/// at once, each naming its file, document and field, with the value and an example.
#[test]
fn rbac_documents_are_checked_across_files() {
    let enable = handler("rbac", "rbac", "configStoreUrl: k8s://\ncacheDuration: -1s");
    let roles = "apiVersion: rbac.istio.io/v1alpha1\nkind: ServiceRole\nmetadata: {name: viewer, namespace: default}\nspec:\n  rules: [{services: [\"*\"], methods: [GET], paths: [\"/a/*/b\"]}]\n---\napiVersion: rbac.istio.io/v1alpha1\nkind: ServiceRoleBinding\nmetadata: {name: bind-viewer, namespace: default}\nspec:\n  subjects: [{user: \"*\", namespace: default}]\n  roleRef: {kind: ServiceRole, name: viewer}\n---\napiVersion: rbac.istio.io/v1alpha1\nkind: ServiceRoleBinding\nmetadata: {name: bind-editor, namespace: default}\nspec:\n  subjects: [{user: \"*\"}]\n  roleRef: {kind: ServiceRole, name: editor}\n";
    let files = [
        ("handlers.yaml".to_owned(), enable),
        ("roles.yaml".to_owned(), roles.to_owned()),
    ];
    let p: Vec<String> = match validate(&files) {
        Ok(_) => panic!("config should be rejected"),
        Err(p) => p.iter().map(|p| p.to_string()).collect(),
    };
    let expect = [
        "handlers.yaml: document 1 (handler rbac.istio-system): spec.params.cache_duration: must not be negative",
        "roles.yaml: document 1 (ServiceRole viewer.default): spec.rules[0].paths[0]: \"*\" may stand alone, start a pattern or end it, but not both and nowhere else\n    value:   \"/a/*/b\"\n    example: \"/books/*\" or \"*/reviews\"",
        "roles.yaml: document 2 (ServiceRoleBinding bind-viewer.default): spec.subjects[0].namespace: unknown field, expected one of `user`, `group`, `properties`",
        "roles.yaml: document 3 (ServiceRoleBinding bind-editor.default): spec.roleRef.name: no ServiceRole of that name in namespace default\n    value:   \"editor\"\n    example: one of: viewer",
    ];
    assert_eq!(p.len(), expect.len(), "{}", p.join("\n"));
    for (got, want) in p.iter().zip(expect) {
        assert!(got.starts_with(want), "got:\n{got}\nwant:\n{want}");
    }
}
