//! Arbitrary bytes as a `CheckRequest` through the whole policy engine (decode, rules with
//! map lookups, denier, listchecker over strings and IPs, memquota with dimensions and
//! dedup): an answer or an error status, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mixer_policy::config_source::validate;
use mixer_policy::engine::Engine;
use mixer_policy::self_metrics::PolicyMetrics;
use std::sync::OnceLock;
use std::time::Instant;

const CONFIG: &str = r#"
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: deny, namespace: istio-system}
spec: {compiledAdapter: denier, params: {status: {code: 7, message: no}}}
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: nothing, namespace: istio-system}
spec: {compiledTemplate: checknothing}
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: deny, namespace: istio-system}
spec:
  match: destination.labels["app"] == "ratings" && source.labels["version"] == "v3"
  actions: [{handler: deny, instances: [nothing]}]
---
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: versions, namespace: istio-system}
spec: {compiledAdapter: listchecker, params: {overrides: [v1, v2]}}
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: version, namespace: istio-system}
spec: {compiledTemplate: listentry, params: {value: 'source.labels["version"] | "none"'}}
---
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: ips, namespace: default}
spec: {compiledAdapter: listchecker, params: {entryType: IP_ADDRESSES, blacklist: true, overrides: [10.0.0.0/8]}}
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: ip, namespace: default}
spec: {compiledTemplate: listentry, params: {value: 'source.ip | ip("0.0.0.0")'}}
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: lists, namespace: default}
spec:
  match: request.path.startsWith("/api")
  actions:
  - {handler: versions.istio-system, instances: [version.istio-system]}
  - {handler: ips, instances: [ip]}
---
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: quota, namespace: istio-system}
spec:
  compiledAdapter: memquota
  params:
    quotas:
    - name: requestcount
      maxAmount: 3
      validDuration: 1s
      overrides: [{dimensions: {destination: ratings}, maxAmount: 1}]
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: requestcount, namespace: istio-system}
spec:
  compiledTemplate: quota
  params: {dimensions: {destination: 'destination.labels["app"] | "unknown"', size: request.size | 0}}
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: quota, namespace: istio-system}
spec: {actions: [{handler: quota, instances: [requestcount]}]}
"#;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| {
        let config =
            validate(&[("fuzz.yaml".into(), CONFIG.into())]).expect("fuzz config is valid");
        Engine::new(config, 1, Instant::now()).expect("engine builds")
    })
}

fuzz_target!(|data: &[u8]| {
    let metrics = PolicyMetrics::default();
    match engine().check(data, Instant::now(), &metrics) {
        Ok(r) => {
            let p = r
                .into_answer()
                .into_response()
                .precondition
                .expect("precondition always present");
            assert!(p.status.is_some() && p.valid_duration.is_some());
        }
        Err(e) => {
            let _ = (e.grpc_code(), e.status_message());
        }
    }
});
