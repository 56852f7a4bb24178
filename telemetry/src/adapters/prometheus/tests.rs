//! Config parsing and validation, against `Params::parse` and through `mixer_rules::load`;
//! recording and exposition are in `tests/`.

mod dispatch;
mod exposition;
mod promtool;

use super::*;
use mixer_rules::{load, Catalog, Config, Plan, Problems, Source};
use serde_yaml_ng::Value as Yaml;

pub(super) const STANDARD: &str = include_str!("../../../testdata/istio-http-metrics.yaml");
pub(super) const CATALOG: Catalog<'static> = Catalog {
    adapters: &[SPEC],
    other_kinds: &[],
};

pub(super) fn load_config(text: &str) -> Result<Config, Problems> {
    load(
        &[Source {
            file: "test.yaml",
            text,
        }],
        &CATALOG,
    )
}

/// Config, plan and the built handler (the first handler of the config).
pub(super) fn setup(text: &str) -> (Config, Plan, PrometheusHandler) {
    let config = load_config(text).unwrap_or_else(|p| panic!("config rejected:\n{p}"));
    let plan = Plan::new(&config);
    let handler = PrometheusHandler::new(&config, 0, &plan).expect("handler builds");
    (config, plan, handler)
}

fn yaml(text: &str) -> Yaml {
    serde_yaml_ng::from_str(text).expect("test yaml parses")
}

fn problems(text: &str) -> Vec<(String, String)> {
    match Params::parse(&yaml(text)) {
        Ok(p) => panic!("accepted: {p:?}"),
        Err(ps) => ps.into_iter().map(|p| (p.field, p.message)).collect(),
    }
}

fn has(ps: &[(String, String)], field: &str, message: &str) -> bool {
    ps.iter().any(|(f, m)| f == field && m.contains(message))
}

#[test]
fn standard_config_loads_with_istio_buckets_and_expiry() {
    let config = load_config(STANDARD).unwrap_or_else(|p| panic!("{p}"));
    let params = Params::parse(&config.handlers[0].params).expect("valid");
    let names: Vec<String> = params
        .metrics
        .iter()
        .map(MetricInfo::exported_name)
        .collect();
    assert_eq!(
        names,
        [
            "istio_requests_total",
            "istio_request_duration_seconds",
            "istio_request_bytes",
            "istio_response_bytes"
        ]
    );
    assert_eq!(
        params.metrics[1].bounds(),
        [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
    );
    assert_eq!(
        params.metrics[2].bounds(),
        [1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8]
    );
    assert_eq!(params.metrics[0].bounds(), Vec::<f64>::new());
    assert_eq!(params.metrics[0].label_names.len(), 20);
    let e = params.expiration.expect("policy set");
    assert_eq!((e.expiry.as_secs(), e.check_interval.as_secs()), (600, 300));
    assert_eq!(params.max_series_per_metric, DEFAULT_MAX_SERIES_PER_METRIC);
}

#[test]
fn both_key_spellings_are_read() {
    let snake = Params::parse(&yaml(
        "metrics_expiration_policy: {metrics_expiry_duration: 600s, expiry_check_interval_duration: 1m}\n\
         max_series_per_metric: 5\n\
         metrics: [{name: a, instance_name: i, kind: DISTRIBUTION, label_names: [x], duration_unit: MILLISECONDS,\n\
           buckets: {linear_buckets: {num_finite_buckets: 3, width: 2, offset: 1}}}]",
    ))
    .expect("snake_case");
    let camel = Params::parse(&yaml(
        "metricsExpirationPolicy: {metricsExpiryDuration: 10m, expiryCheckIntervalDuration: 60s}\n\
         maxSeriesPerMetric: 5\n\
         metrics: [{name: a, instanceName: i, kind: DISTRIBUTION, labelNames: [x], durationUnit: MILLISECONDS,\n\
           buckets: {linearBuckets: {numFiniteBuckets: 3, width: 2, offset: 1}}}]",
    ))
    .expect("lowerCamelCase");
    assert_eq!(snake, camel);
    assert_eq!(snake.metrics[0].bounds(), [1.0, 3.0, 5.0, 7.0]);
    assert_eq!(snake.metrics[0].duration_unit, DurationUnit::Milliseconds);
    assert_eq!(snake.max_series_per_metric, 5);
}

#[test]
fn names_namespaces_and_help_follow_istio() {
    let p = Params::parse(&yaml(
        "metrics:\n\
         - {instance_name: requestcount.instance.istio-system, kind: COUNTER}\n\
         - {namespace: my-app.v1, name: /a b-c, instance_name: i, kind: GAUGE, description: \"x\\\\y\\nz\"}\n\
         - {namespace: '', name: x, instance_name: i, kind: 2}",
    ))
    .expect("valid");
    assert_eq!(
        p.metrics[0].exported_name(),
        "istio_requestcount_instance_istiosystem"
    );
    assert_eq!(p.metrics[0].help(), "requestcount.instance.istio-system");
    assert_eq!(p.metrics[1].exported_name(), "myapp_v1_a_bc");
    assert_eq!(p.metrics[1].help(), "x\\y\nz");
    assert_eq!(
        (p.metrics[2].exported_name().as_str(), p.metrics[2].kind),
        ("istio_x", Kind::Counter)
    );
}

#[test]
fn exponential_and_linear_buckets_match_client_golang() {
    let e = Buckets::Exponential {
        num_finite_buckets: 3,
        growth_factor: 2.5,
        scale: 0.1,
    };
    assert_eq!(
        e.bounds(),
        [0.1, 0.1 * 2.5, 0.1 * 2.5 * 2.5, 0.1 * 2.5 * 2.5 * 2.5]
    );
    let l = Buckets::Linear {
        num_finite_buckets: 2,
        width: 0.1,
        offset: 0.1,
    };
    assert_eq!(l.bounds(), [0.1, 0.1 + 0.1, 0.1 + 0.1 + 0.1]);
}

#[test]
fn every_structural_problem_is_reported() {
    let ps = problems(
        "metrics:\n\
         - {name: a, instance_name: i, kind: COUNTER, colour: red}\n\
         - {name: b, instance_name: i, kind: HISTOGRAM}\n\
         - {name: c, instance_name: i}\n\
         - {name: d, instance_name: i, kind: DISTRIBUTION}\n\
         - {name: e, instance_name: i, kind: DISTRIBUTION, buckets: {explicit_buckets: {bounds: [1, 1, 2]}}}\n\
         - {name: f, instance_name: i, kind: DISTRIBUTION, buckets: {exponential_buckets: {num_finite_buckets: 0, growth_factor: 1, scale: 0}}}\n\
         - {name: g, instance_name: i, kind: DISTRIBUTION, buckets: {linear_buckets: {num_finite_buckets: 2, width: -1, offset: 0}}}\n\
         - {name: h, instance_name: i, kind: DISTRIBUTION, buckets: {linear_buckets: {num_finite_buckets: 2, width: 1, offset: 0}, explicit_buckets: {bounds: [1]}}}\n\
         - {name: a, instance_name: i, kind: GAUGE}\n\
         - {name: 'a*b', instance_name: i, kind: GAUGE}\n\
         - {name: j, instance_name: i, kind: DISTRIBUTION, label_names: [le, x.y, x_y, __z, 'ok'], buckets: {explicit_buckets: {bounds: [1]}}}\n\
         - {name: k, kind: COUNTER, duration_unit: MINUTES}\n\
         - {name: l_count, instance_name: i, kind: COUNTER}\n\
         - {name: l, instance_name: i, kind: DISTRIBUTION, buckets: {explicit_buckets: {bounds: [1]}}}\n\
         metrics_expiration_policy: {metrics_expiry_duration: 0s}\n\
         max_series_per_metric: 0\n\
         extra: 1",
    );
    let expect = [
        ("metrics[0].colour", "unknown field"),
        ("metrics[1].kind", "unknown metric kind"),
        ("metrics[2].kind", "required"),
        ("metrics[3].buckets", "required for a DISTRIBUTION"),
        (
            "metrics[4].buckets.explicit_buckets.bounds",
            "strictly increasing",
        ),
        (
            "metrics[5].buckets.exponential_buckets.num_finite_buckets",
            "positive integer",
        ),
        (
            "metrics[5].buckets.exponential_buckets.growth_factor",
            "must be > 1",
        ),
        (
            "metrics[5].buckets.exponential_buckets.scale",
            "must be > 0",
        ),
        ("metrics[6].buckets.linear_buckets.width", "must be > 0"),
        ("metrics[7].buckets", "only one definition"),
        ("metrics[8].name", "istio_a is already used by metrics[0]"),
        ("metrics[9].name", "not a valid Prometheus metric name"),
        ("metrics[10].label_names[0]", "\"le\" is reserved"),
        ("metrics[10].label_names[2]", "duplicate label x_y"),
        (
            "metrics[10].label_names[3]",
            "not a valid Prometheus label name",
        ),
        ("metrics[11].instance_name", "required"),
        ("metrics[11].duration_unit", "unknown duration unit"),
        (
            "metrics[13].name",
            "istio_l_count is already used by metrics[12]",
        ),
        (
            "metrics_expiration_policy.metrics_expiry_duration",
            "required and must be > 0",
        ),
        ("max_series_per_metric", "positive integer"),
        ("extra", "unknown field"),
    ];
    for (f, m) in expect {
        assert!(has(&ps, f, m), "missing {f}: {m} in {ps:#?}");
    }
    assert_eq!(ps.len(), expect.len(), "{ps:#?}");
}

#[test]
fn unknown_fields_list_the_valid_ones_and_durations_must_parse() {
    let err = Params::parse(&yaml(
        "metrics: [{nme: a, instance_name: i, kind: COUNTER}]",
    ))
    .unwrap_err();
    assert_eq!(err[0].field, "metrics[0].nme");
    assert_eq!(
        err[0].example.as_deref(),
        Some("one of: namespace, name, instance_name, description, kind, buckets, label_names, duration_unit")
    );
    let err = Params::parse(&yaml(
        "metricsExpirationPolicy: {metricsExpiryDuration: 10 minutes}",
    ))
    .unwrap_err();
    assert_eq!(err.len(), 1, "{err:?}");
    assert_eq!(
        err[0].field,
        "metrics_expiration_policy.metrics_expiry_duration"
    );
    assert_eq!(err[0].value.as_deref(), Some("\"10 minutes\""));
    let err = Params::parse(&yaml(
        "metricsExpirationPolicy: {expiryCheckIntervalDuration: 1m}",
    ))
    .unwrap_err();
    assert!(err[0].message.contains("required"), "{err:?}");
}

fn with_handler(metrics: &str) -> String {
    let instances = STANDARD
        .split("\n---\napiVersion: config.istio.io/v1alpha2\nkind: handler")
        .next()
        .unwrap_or_default();
    format!(
        "{instances}\n---\napiVersion: config.istio.io/v1alpha2\nkind: handler\n\
         metadata: {{name: prometheus, namespace: istio-system}}\n\
         spec:\n  compiledAdapter: prometheus\n  params:\n    metrics:\n{metrics}"
    )
}

#[test]
fn instances_and_label_names_are_checked_against_the_config() {
    let text = with_handler(
        "    - {name: a, instance_name: nosuch.instance.istio-system, kind: COUNTER}\n\
         \x20   - {name: b, instance_name: requestcount, kind: COUNTER, label_names: [reporter, pod]}\n",
    );
    let all = load_config(&text).expect_err("rejected").to_string();
    assert!(
        all.contains("spec.params.metrics[0].instance_name: no such instance"),
        "{all}"
    );
    assert!(all.contains("spec.params.metrics[1].label_names: label_names must be the dimensions of instance requestcount.instance.istio-system; missing: connection_security_policy, destination_app"), "{all}");
    assert!(all.contains("; not a dimension: pod"), "{all}");
}

#[test]
fn two_handlers_may_not_export_one_name() {
    // two handlers exporting one name: each is fine alone, the config is not
    let labels = "[reporter, source_workload]";
    let one = |handler: &str| {
        format!(
            "\n---\napiVersion: config.istio.io/v1alpha2\nkind: handler\n\
             metadata: {{name: {handler}, namespace: istio-system}}\n\
             spec:\n  compiledAdapter: prometheus\n  params:\n    metrics:\n\
             \x20   - {{name: dup_total, instance_name: requestcount, kind: COUNTER, label_names: {labels}}}\n"
        )
    };
    let instance = "apiVersion: config.istio.io/v1alpha2\nkind: instance\n\
                    metadata: {name: requestcount, namespace: istio-system}\n\
                    spec:\n  compiledTemplate: metric\n  params:\n    value: \"1\"\n\
                    \x20   dimensions: {reporter: '\"x\"', source_workload: '\"y\"'}\n";
    let files = crate::config_source::Files {
        files: vec![(
            "two.yaml".into(),
            format!("{instance}{}{}", one("first"), one("second")),
        )],
    };
    let all = crate::config_source::validate(Some(&files))
        .expect_err("rejected")
        .to_string();
    assert!(
        all.contains("two.yaml: document 3 (handler second.istio-system): spec.params.metrics[0].name: istio_dup_total is also exported by handler first.handler.istio-system"),
        "{all}"
    );
    let single = crate::config_source::Files {
        files: vec![("one.yaml".into(), format!("{instance}{}", one("first")))],
    };
    assert!(crate::config_source::validate(Some(&single)).is_ok());
}

#[test]
fn the_instance_must_be_a_metric() {
    let text = format!(
        "{}\n---\napiVersion: config.istio.io/v1alpha2\nkind: instance\nmetadata: {{name: log, namespace: istio-system}}\n\
         spec:\n  compiledTemplate: logentry\n  params: {{severity: '\"info\"'}}\n",
        with_handler("    - {name: a, instance_name: log.istio-system, kind: COUNTER}\n")
    );
    let catalog = Catalog {
        adapters: &[SPEC],
        other_kinds: &[],
    };
    let all = load(
        &[Source {
            file: "t.yaml",
            text: &text,
        }],
        &catalog,
    )
    .expect_err("rejected")
    .to_string();
    assert!(
        all.contains("metrics[0].instance_name: instance is a logentry, not a metric"),
        "{all}"
    );
}

#[test]
fn mixers_default_config_loads_and_builds() {
    // the standard config also traces (a jaeger handler): load it with every adapter
    let config = crate::config_source::validate(None).unwrap_or_else(|p| panic!("{p}"));
    let plan = Plan::new(&config);
    let h = PrometheusHandler::new(&config, 0, &plan).expect("handler builds");
    let params = Params::parse(&config.handlers[0].params).expect("valid");
    let ms = params
        .metrics
        .iter()
        .find(|m| m.name == "request_duration_milliseconds")
        .expect("ms histogram");
    assert_eq!(ms.duration_unit, DurationUnit::Milliseconds);
    assert_eq!(h.stats().len(), 8);
}

#[test]
fn the_handler_is_shared_and_batches_move_between_threads() {
    fn shared<T: Send + Sync>() {}
    fn sent<T: Send>() {}
    shared::<PrometheusHandler>();
    sent::<Batch>();
}
