//! The telemetry service's cost per bag, in-process (no gRPC): Istio-like ReportRequests of
//! 100 bags (the load generator's bags) through decode → rules → prometheus adapter → merge,
//! side by side with prost decoding the same bytes (what a no-op server does) and with our
//! decode alone; then the same with 1, 10 and 100 extra rules that never match.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mixer_attributes::decode::ReportRequestView;
use mixer_attributes::Vocabulary;
use mixer_load_tests::bags::{request_pool, BagShape};
use mixer_proto::mixer::ReportRequest;
use mixer_telemetry::config_source::{self, Files, STANDARD_CONFIG};
use mixer_telemetry::pipeline::Pipeline;
use mixer_telemetry::self_metrics::TelemetryMetrics;
use mixer_telemetry::service::TelemetryService;
use prost::Message;
use std::hint::black_box;
use std::sync::Arc;

const BATCH: usize = 100;

fn service(extra_rules: usize) -> TelemetryService {
    let mut text = STANDARD_CONFIG.to_owned();
    for i in 0..extra_rules {
        text.push_str(&format!(
            "---\napiVersion: config.istio.io/v1alpha2\nkind: rule\nmetadata: {{name: never-{i}, namespace: istio-system}}\n\
             spec:\n  match: context.protocol == \"never-{i}\"\n  actions:\n  - handler: prometheus\n    instances: [requestcount]\n"
        ));
    }
    let files = Files {
        files: vec![("bench.yaml".into(), text)],
    };
    let config = config_source::validate(Some(&files)).expect("valid config");
    let pipeline = Pipeline::new(config, 1).expect("pipeline");
    TelemetryService::new(pipeline, Arc::new(TelemetryMetrics::default()), 4)
}

fn bench(c: &mut Criterion) {
    let pool = request_pool(BagShape::default(), 16, BATCH);
    let vocab = Vocabulary::builtin();
    let mut g = c.benchmark_group("report");
    g.throughput(Throughput::Elements(BATCH as u64));

    let mut i = 0;
    g.bench_function("prost_decode_only", |b| {
        b.iter(|| {
            i += 1;
            black_box(ReportRequest::decode(pool[i % pool.len()].clone()).expect("decodes"))
        })
    });
    g.bench_function("our_decode_only", |b| {
        b.iter(|| {
            i += 1;
            let mut view = ReportRequestView::parse(&pool[i % pool.len()], vocab).expect("parses");
            let mut n = 0;
            while let Some(bag) = view.next_bag() {
                n += black_box(bag.expect("bag")).len();
            }
            n
        })
    });
    for extra in [0, 1, 10, 100] {
        let svc = service(extra);
        g.bench_function(format!("standard_config_plus_{extra}_rules"), |b| {
            b.iter(|| {
                i += 1;
                svc.report_bytes(&pool[i % pool.len()]).expect("accepted")
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
