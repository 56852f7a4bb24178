//! Loading, validation and dispatch of real Istio-shaped config.

use mixer_attributes::expr::EvalValue;
use mixer_attributes::{OwnedBag, OwnedValue};
use mixer_rules::{
    load, AdapterSpec, Catalog, FieldProblem, HandlerContext, Memo, Plan, Problems, Source,
    Template, Variety,
};
use serde_yaml_ng::Value as Yaml;

/// A minimal metrics adapter for these tests: every `metrics[].instance_name` must name a
/// metric instance. (The real prometheus adapter lives in the telemetry crate.)
fn check_metrics(params: &Yaml, ctx: &HandlerContext<'_>) -> Vec<FieldProblem> {
    let mut out = Vec::new();
    let metrics = params
        .get("metrics")
        .and_then(Yaml::as_sequence)
        .cloned()
        .unwrap_or_default();
    for (i, m) in metrics.iter().enumerate() {
        let name = m
            .get("instance_name")
            .and_then(Yaml::as_str)
            .unwrap_or_default();
        match ctx.instance(name) {
            Some(inst) if inst.template == Template::Metric => {}
            _ => out.push(
                FieldProblem::new(
                    format!("metrics[{i}].instance_name"),
                    "no such metric instance",
                )
                .value(name),
            ),
        }
    }
    out
}

const ADAPTERS: &[AdapterSpec] = &[
    AdapterSpec {
        name: "prometheus",
        templates: &[Template::Metric],
        check: check_metrics,
    },
    AdapterSpec {
        name: "stdio",
        templates: &[Template::LogEntry],
        check: |_, _| Vec::new(),
    },
];
const CATALOG: Catalog<'static> = Catalog {
    adapters: ADAPTERS,
    other_kinds: &["ServiceRole"],
};

const GOOD: &str = r#"
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: requestcount, namespace: istio-system}
spec:
  compiledTemplate: metric
  params:
    value: "1"
    dimensions:
      reporter: conditional((context.reporter.kind | "inbound") == "outbound", "source", "destination")
      source_workload: source.workload.name | "unknown"
      response_code: response.code | 200
    monitoredResourceType: '"UNSPECIFIED"'
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: requestsize, namespace: istio-system}
spec:
  compiledTemplate: metric
  params:
    value: request.size | 0
    dimensions:
      reporter: conditional((context.reporter.kind | "inbound") == "outbound", "source", "destination")
      source_workload: source.workload.name | "unknown"
      response_code: response.code | 200
    monitored_resource_type: '"UNSPECIFIED"'
---
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: prometheus, namespace: istio-system}
spec:
  compiledAdapter: prometheus
  params:
    metrics:
    - {name: requests_total, instance_name: requestcount.instance.istio-system, kind: COUNTER}
    - {name: request_bytes, instance_name: requestsize.metric.istio-system, kind: DISTRIBUTION}
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: promhttp, namespace: istio-system}
spec:
  match: (context.protocol == "http" || context.protocol == "grpc") && (match((request.useragent | "-"), "kube-probe*") == false)
  actions:
  - handler: prometheus
    instances: [requestcount, requestsize.instance.istio-system]
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: only-default, namespace: default}
spec:
  actions:
  - handler: prometheus.istio-system
    instances: [requestcount.istio-system]
"#;

fn bag(pairs: &[(&'static str, OwnedValue)]) -> OwnedBag {
    pairs.iter().cloned().collect()
}

fn s(v: &str) -> OwnedValue {
    OwnedValue::String(v.into())
}

fn problems(text: &str) -> Problems {
    load(
        &[Source {
            file: "bad.yaml",
            text,
        }],
        &CATALOG,
    )
    .expect_err("config should be rejected")
}

#[test]
fn standard_shaped_config_loads_and_shares_expressions() {
    let config = load(
        &[Source {
            file: "good.yaml",
            text: GOOD,
        }],
        &CATALOG,
    )
    .unwrap();
    assert_eq!(config.instances.len(), 2);
    assert_eq!(config.rules.len(), 2);
    let plan = Plan::new(&config);
    // 3 shared dimensions + "1" + request.size|0 + '"UNSPECIFIED"' + the match
    assert_eq!(plan.expression_count(), 7);
}

fn dispatched(plan: &Plan, b: &OwnedBag) -> Vec<(String, i64)> {
    let mut ev = plan.evaluator(b);
    let mut out = Vec::new();
    plan.dispatch(
        &mut ev,
        Variety::Report,
        |ev, _handler, instance| {
            let value = instance.field("value").expect("metric has a value");
            let v = match ev.value(value) {
                Ok(EvalValue::Int64(v)) => *v,
                other => panic!("unexpected {other:?}"),
            };
            out.push((instance.name.clone(), v));
        },
        |e| panic!("match failed: {e}"),
    );
    out
}

#[test]
fn rules_match_and_scope_by_namespace() {
    let config = load(
        &[Source {
            file: "good.yaml",
            text: GOOD,
        }],
        &CATALOG,
    )
    .unwrap();
    let plan = Plan::new(&config);
    let http = bag(&[
        ("context.protocol", s("http")),
        ("request.size", OwnedValue::Int64(42)),
        ("destination.namespace", s("bookinfo")),
        ("source.namespace", s("default")),
    ]);
    let names = |v: Vec<(String, i64)>| v.into_iter().collect::<Vec<_>>();
    assert_eq!(
        names(dispatched(&plan, &http)),
        vec![
            ("requestcount.instance.istio-system".into(), 1),
            ("requestsize.instance.istio-system".into(), 42)
        ]
    );
    // a kube-probe request does not match promhttp
    let mut probe = http.clone();
    probe.set("request.useragent", s("kube-probe/1.29"));
    assert!(dispatched(&plan, &probe).is_empty());
    // inbound: the destination's namespace picks rules; "default" rules apply to default only
    let mut inbound_default = probe.clone();
    inbound_default.set("destination.namespace", s("default"));
    assert_eq!(dispatched(&plan, &inbound_default).len(), 1);
    // outbound: the source's namespace does
    let mut outbound = probe;
    outbound.set("context.reporter.kind", s("outbound"));
    assert_eq!(dispatched(&plan, &outbound).len(), 1);
}

#[test]
fn a_match_that_cannot_be_evaluated_skips_the_rule() {
    let config = load(
        &[Source {
            file: "good.yaml",
            text: GOOD,
        }],
        &CATALOG,
    )
    .unwrap();
    let plan = Plan::new(&config);
    let b = bag(&[("destination.namespace", s("bookinfo"))]); // no context.protocol
    let mut ev = plan.evaluator(&b);
    let mut errors = Vec::new();
    plan.dispatch(
        &mut ev,
        Variety::Report,
        |_, _, _| panic!("nothing matches"),
        |e| errors.push(e.to_string()),
    );
    assert_eq!(errors, vec!["lookup failed: 'context.protocol'".to_owned()]);
}

#[test]
fn every_problem_is_reported_with_file_document_field_and_value() {
    let text = r#"
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: requestcount}
spec:
  compiledTemplate: metric
  params:
    value: "1"
    dimensions:
      destination_service: destination.servce | "unknown"
    severity: '"x"'
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: accesslog}
spec:
  compiledTemplate: logentry
  params:
    severity: request.size | 200
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: accesslog}
spec:
  compiledTemplate: logentry
  params: {}
---
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: prometheus}
spec:
  compiledAdapter: prometheus
  params:
    metrics:
    - {instance_name: nosuch.instance.istio-system}
---
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: fluentd}
spec:
  compiledAdapter: fluentd
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: r}
spec:
  match: context.protocol
  actions:
  - handler: missing
    instances: [requestcount]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: x}
---
apiVersion: config.istio.io/v1alpha2
kind: widget
metadata: {name: w}
"#;
    let p = problems(text);
    let all = p.to_string();
    let expect = [
        "bad.yaml: document 1 (instance requestcount.istio-system): spec.params.dimensions.destination_service: unknown attribute \"destination.servce\" at 1:1 — did you mean \"destination.service\"?\n    value:   destination.servce | \"unknown\"",
        "document 1 (instance requestcount.istio-system): spec.params.severity: unknown field of this template",
        "document 2 (instance accesslog.istio-system): spec.params.severity: expected STRING, found INT64\n    value:   request.size | 200",
        "document 3 (instance accesslog.istio-system): metadata.name: duplicate name accesslog.istio-system: first defined in bad.yaml: document 2",
        "document 4 (handler prometheus.istio-system): spec.params.metrics[0].instance_name: no such metric instance\n    value:   nosuch.instance.istio-system",
        "document 5 (handler fluentd.istio-system): spec.compiledAdapter: unknown adapter\n    value:   fluentd\n    example: one of: prometheus, stdio",
        "document 6 (rule r.istio-system): spec.match: expected BOOL, found STRING",
        "document 6 (rule r.istio-system): spec.actions[0].handler: unknown handler",
        "document 7 (ConfigMap x.istio-system): apiVersion: unsupported apiVersion",
        "document 8 (widget w.istio-system): kind: unknown kind",
    ];
    for e in expect {
        assert!(all.contains(e), "missing {e:?} in:\n{all}");
    }
    assert_eq!(p.len(), expect.len(), "{all}");
}

#[test]
fn templates_must_be_accepted_by_the_handler() {
    let text = r#"
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: accesslog}
spec: {compiledTemplate: logentry, params: {severity: '"Info"', timestamp: request.time}}
---
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: prometheus}
spec: {compiledAdapter: prometheus, params: {metrics: []}}
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: r}
spec:
  actions: [{handler: prometheus, instances: [accesslog]}]
"#;
    let all = problems(text).to_string();
    assert!(
        all.contains("handler prometheus.handler.istio-system (adapter prometheus) does not accept template logentry; it accepts: metric"),
        "{all}"
    );
}

#[test]
fn istio_1_0_kinds_and_passthrough_kinds_load() {
    let text = r#"
apiVersion: config.istio.io/v1alpha2
kind: metric
metadata: {name: requestcount, namespace: istio-system}
spec:
  value: "1"
  dimensions: {source: source.workload.name | "unknown"}
---
apiVersion: config.istio.io/v1alpha2
kind: prometheus
metadata: {name: handler, namespace: istio-system}
spec:
  metrics: [{name: requests_total, instance_name: requestcount.metric.istio-system, kind: COUNTER}]
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: promhttp, namespace: istio-system}
spec:
  match: context.protocol == "http"
  actions: [{handler: handler.prometheus, instances: [requestcount.metric]}]
---
apiVersion: config.istio.io/v1alpha2
kind: ServiceRole
metadata: {name: viewer, namespace: default}
spec: {rules: [{services: ["*"], methods: [GET]}]}
"#;
    let config = load(
        &[Source {
            file: "v10.yaml",
            text,
        }],
        &CATALOG,
    )
    .unwrap();
    assert_eq!(config.handlers[0].adapter, "prometheus");
    assert_eq!(config.rules[0].actions[0].instances, vec![0]);
    assert_eq!(config.other.len(), 1);
}

#[test]
fn attribute_manifests_extend_the_vocabulary() {
    let text = r#"
apiVersion: config.istio.io/v1alpha2
kind: attributemanifest
metadata: {name: extra}
spec:
  attributes:
    request.tenant: {valueType: STRING}
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: tenants}
spec: {compiledTemplate: metric, params: {value: "1", dimensions: {tenant: request.tenant | "none"}}}
"#;
    let config = load(
        &[Source {
            file: "m.yaml",
            text,
        }],
        &CATALOG,
    )
    .unwrap();
    assert!(config.vocabulary.attribute("request.tenant").is_some());
    let bad = text.replace("STRING}", "NUMBER}");
    let all = problems(&bad).to_string();
    assert!(
        all.contains("spec.attributes.request.tenant.valueType: missing or unknown value type"),
        "{all}"
    );
}

#[test]
fn invalid_yaml_is_a_problem_not_a_panic() {
    let all = problems("kind: rule\n  bad: [indent\n").to_string();
    assert!(all.contains("bad.yaml: document 1: invalid YAML"), "{all}");
}

/// GOOD plus rules whose match starts with `context.protocol == "…"` (guarded).
fn guarded_plan() -> Plan {
    let text = format!(
        r#"{GOOD}
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {{name: tcp, namespace: istio-system}}
spec:
  match: context.protocol == "tcp"
  actions:
  - handler: prometheus
    instances: [requestsize]
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {{name: tcp-from-w, namespace: istio-system}}
spec:
  match: context.protocol == "tcp" && source.workload.name == "w"
  actions:
  - handler: prometheus
    instances: [requestcount]
"#
    );
    let config = load(
        &[Source {
            file: "guarded.yaml",
            text: &text,
        }],
        &CATALOG,
    )
    .expect("guarded config loads");
    Plan::new(&config)
}

/// Instances dispatched and match errors, with an evaluator made from `memo`.
fn run(plan: &Plan, b: &OwnedBag, memo: Memo) -> (Vec<String>, Vec<String>, Memo) {
    let mut ev = plan.evaluator_with(b, memo);
    let (mut out, mut errors) = (Vec::new(), Vec::new());
    plan.dispatch(
        &mut ev,
        Variety::Report,
        |_, _, instance| out.push(instance.name.clone()),
        |e| errors.push(e.to_string()),
    );
    (out, errors, ev.into_memo())
}

#[test]
fn guarded_rules_match_and_fail_as_their_predicates_do() {
    let plan = guarded_plan();
    let ns = ("destination.namespace", s("bookinfo"));
    let lookup = |a: &str| format!("lookup failed: '{a}'");
    let cases: Vec<(OwnedBag, Vec<&str>, Vec<String>)> = vec![
        // no protocol: every match fails, each counted
        (
            bag(std::slice::from_ref(&ns)),
            vec![],
            vec![lookup("context.protocol"); 3],
        ),
        (
            bag(&[ns.clone(), ("context.protocol", s("http"))]),
            vec![
                "requestcount.instance.istio-system",
                "requestsize.instance.istio-system",
            ],
            vec![],
        ),
        // past the guard, the rest of the match is evaluated (and may fail)
        (
            bag(&[ns.clone(), ("context.protocol", s("tcp"))]),
            vec!["requestsize.instance.istio-system"],
            vec![lookup("source.workload.name")],
        ),
        (
            bag(&[
                ns.clone(),
                ("context.protocol", s("tcp")),
                ("source.workload.name", s("w")),
            ]),
            vec![
                "requestsize.instance.istio-system",
                "requestcount.instance.istio-system",
            ],
            vec![],
        ),
        (
            bag(&[
                ns.clone(),
                ("context.protocol", s("tcp")),
                ("source.workload.name", s("v")),
            ]),
            vec!["requestsize.instance.istio-system"],
            vec![],
        ),
    ];
    // one memo carried across every bag gives what a fresh evaluator gives
    let mut memo = Memo::default();
    for (b, want, want_errors) in cases {
        let (out, errors, m) = run(&plan, &b, memo);
        memo = m;
        assert_eq!(out, want, "{b:?}");
        assert_eq!(errors, want_errors, "{b:?}");
        let (fresh, fresh_errors, _) = run(&plan, &b, Memo::default());
        assert_eq!((fresh, fresh_errors), (out, errors));
    }
    // a protocol of the wrong kind fails the same way with and without the guard
    let (_, errors, _) = run(
        &plan,
        &bag(&[ns, ("context.protocol", OwnedValue::Int64(6))]),
        Memo::default(),
    );
    assert_eq!(errors.len(), 3);
    assert!(errors.iter().all(|e| e == &errors[0]), "{errors:?}");
}

/// GOOD plus one report rule `probe` with match `predicate`.
fn plan_matching(predicate: &str) -> Plan {
    let text = format!(
        r#"{GOOD}
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {{name: probe, namespace: istio-system}}
spec:
  match: '{predicate}'
  actions:
  - handler: prometheus
    instances: [requestsize]
"#
    );
    let config = load(
        &[Source {
            file: "probe.yaml",
            text: &text,
        }],
        &CATALOG,
    )
    .expect("config loads");
    Plan::new(&config)
}

/// Predicates reading several attributes are remembered by what they read, per worker (the
/// memo): over many bags, and with a memo last used by another plan, every bag dispatches
/// as a fresh evaluation does.
#[test]
fn remembered_predicates_decide_as_evaluation_does() {
    let probe_or_get =
        r#"match((request.useragent | "-"), "kube-probe*") == false && request.method == "GET""#;
    let plans = [
        plan_matching(probe_or_get),
        plan_matching(&format!("!({probe_or_get})").replace("!(", "false == (")),
    ];
    let agents = [
        None,
        Some("kube-probe/1.18"),
        Some("curl/8"),
        Some("Go-http-client"),
    ];
    let methods = [None, Some("GET"), Some("POST")];
    let mut bags = Vec::new();
    for i in 0..60 {
        let mut b = bag(&[("destination.namespace", s("bookinfo"))]);
        if let Some(a) = agents[i % agents.len()] {
            b.set("request.useragent", s(a));
        }
        if let Some(m) = methods[(i / 4) % methods.len()] {
            b.set("request.method", s(m));
        }
        // read by no predicate
        b.set("request.path", s(&format!("/{i}")));
        bags.push(b);
    }
    let mut memo = Memo::default();
    let mut matched = [0, 0];
    for round in 0..3 {
        for (p, plan) in plans.iter().enumerate() {
            for b in &bags {
                let (out, errors, m) = run(plan, b, memo);
                memo = m;
                let (fresh, fresh_errors, _) = run(plan, b, Memo::default());
                assert_eq!(
                    (&out, &errors),
                    (&fresh, &fresh_errors),
                    "round {round}, {b:?}"
                );
                if round == 0 && out.iter().any(|i| i == "requestsize.instance.istio-system") {
                    matched[p] += 1;
                }
            }
        }
    }
    // both outcomes occur, and the second plan's predicate is the first's negation
    assert!(matched[0] > 0 && matched[1] > 0, "{matched:?}");
}

/// RBAC documents in their own API group; a role and its binding may share a name; the
/// `load_checked` hook sees every other-kind document and its problems join the rest.
#[test]
fn other_kinds_are_checked_together_by_the_hook() {
    use mixer_rules::{load_checked, Document, Problem};
    const RBAC: Catalog<'static> = Catalog {
        adapters: ADAPTERS,
        other_kinds: &["ServiceRole", "ServiceRoleBinding"],
    };
    fn no_bindings(docs: &[Document]) -> Vec<Problem> {
        docs.iter()
            .filter(|d| d.kind == "ServiceRoleBinding")
            .map(|d| Problem::new(&d.origin, "spec.roleRef", "bindings refused by this test"))
            .collect()
    }
    let text = r#"
apiVersion: rbac.istio.io/v1alpha1
kind: ServiceRole
metadata: {name: viewer, namespace: default}
spec: {rules: [{services: ["*"], methods: [GET]}]}
---
apiVersion: rbac.istio.io/v1alpha1
kind: ServiceRoleBinding
metadata: {name: viewer, namespace: default}
spec: {roleRef: {kind: ServiceRole, name: viewer}}
---
apiVersion: rbac.istio.io/v1alpha1
kind: rule
metadata: {name: r}
spec: {}
"#;
    let src = [Source {
        file: "rbac.yaml",
        text,
    }];
    let all = load_checked(&src, &RBAC, no_bindings)
        .expect_err("two problems")
        .to_string();
    assert!(
        all.contains("rbac.yaml: document 2 (ServiceRoleBinding viewer.default): spec.roleRef: bindings refused"),
        "{all}"
    );
    assert!(
        all.contains("document 3 (rule r.istio-system): apiVersion: unsupported apiVersion"),
        "{all}"
    );
    assert!(!all.contains("duplicate"), "{all}");
    assert!(all.starts_with("2 config problems"), "{all}");
    let ok = load(&src[..0], &RBAC).expect("empty config");
    assert!(ok.other.is_empty());
    let fine = text.split("---").take(2).collect::<Vec<_>>().join("---");
    let config = load(
        &[Source {
            file: "r.yaml",
            text: &fine,
        }],
        &RBAC,
    )
    .expect("no hook");
    assert_eq!(config.other.len(), 2);
}

/// Istio's RBAC `authorization` instance: sub-message fields by dotted name, the properties
/// maps, and an empty expression (`groups: ""`) leaving its field unset as Mixer does.
#[test]
fn authorization_instances_and_empty_expressions() {
    let text = r#"
apiVersion: config.istio.io/v1alpha2
kind: authorization
metadata: {name: requestcontext, namespace: istio-system}
spec:
  subject:
    user: source.user | ""
    groups: ""
    properties:
      namespace: source.namespace | ""
  action:
    namespace: destination.namespace | ""
    path: request.path | ""
    properties:
      version: destination.labels["version"] | ""
"#;
    let config = load(
        &[Source {
            file: "a.yaml",
            text,
        }],
        &CATALOG,
    )
    .unwrap_or_else(|p| panic!("{p}"));
    let i = &config.instances[0];
    let fields: Vec<&str> = i.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["subject.user", "action.namespace", "action.path"]);
    let maps: Vec<(&str, usize)> = i
        .maps
        .iter()
        .map(|m| (m.field.as_str(), m.entries.len()))
        .collect();
    assert_eq!(maps, [("subject.properties", 1), ("action.properties", 1)]);
    let bad = text.replace("groups: \"\"", "groups: 3");
    let all = problems(&bad).to_string();
    assert!(all.contains("spec.subject.groups"), "{all}");
}
