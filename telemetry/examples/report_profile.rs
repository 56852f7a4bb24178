//! A fixed amount of Report work for profilers (`valgrind --tool=callgrind`, `perf record`):
//! the load generator's Istio-like requests of 100 bags, replayed `ITERATIONS` times through
//! one of: the whole pipeline with the standard config (`pipeline`), prost decoding the same
//! bytes (`prost`), or our decode alone (`decode`).
//!
//! `cargo run --release -p mixer-telemetry --example report_profile -- pipeline 2000`

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

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "pipeline".into());
    let iterations: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(2000);
    let pool = request_pool(BagShape::default(), 16, 100);
    let vocab = Vocabulary::builtin();
    let files = Files {
        files: vec![("standard.yaml".into(), STANDARD_CONFIG.to_owned())],
    };
    let config = config_source::validate(Some(&files)).expect("valid config");
    let svc = TelemetryService::new(
        Pipeline::new(config, 1).expect("pipeline"),
        Arc::new(TelemetryMetrics::default()),
        1,
    );
    let start = std::time::Instant::now();
    for i in 0..iterations {
        let request = &pool[i % pool.len()];
        match mode.as_str() {
            "prost" => {
                black_box(ReportRequest::decode(request.clone()).expect("decodes"));
            }
            "decode" => {
                let mut view = ReportRequestView::parse(request, vocab).expect("parses");
                while let Some(bag) = view.next_bag() {
                    black_box(bag.expect("bag"));
                }
            }
            _ => {
                svc.report_bytes(request).expect("accepted");
            }
        }
    }
    let per_bag = start.elapsed().as_secs_f64() * 1e9 / (iterations * 100) as f64;
    eprintln!("{mode}: {iterations} requests of 100 bags, {per_bag:.0} ns per bag");
}
