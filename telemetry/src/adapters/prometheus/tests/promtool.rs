//! The real Prometheus linter on our output: the standard config's exposition after a few
//! hundred realistic bags (plus an overflow series and awkward label values) must pass
//! `promtool check metrics` cleanly. promtool comes from `scripts/install-prometheus`.

use super::dispatch::{http_bag, report, text};
use super::{setup, STANDARD};
use mixer_attributes::OwnedValue;
use std::process::Command;
use std::time::Instant;

#[test]
fn promtool_accepts_the_exposition() {
    let config = STANDARD.replace(
        "metricsExpirationPolicy: {metricsExpiryDuration: 10m}",
        "metricsExpirationPolicy: {metricsExpiryDuration: 10m}\n    max_series_per_metric: 40",
    );
    let (_, plan, h) = setup(&config);
    let mut bags: Vec<_> = (0..500).map(http_bag).collect();
    for (i, b) in bags.iter_mut().enumerate().take(50) {
        b.set(
            "source.workload.name",
            OwnedValue::String(format!("w\\{i}\n\"q\"")),
        );
    }
    report(&plan, &h, &bags, Instant::now());
    let exposition = text(&h);
    assert!(
        exposition.contains("mixer_overflow"),
        "the cap was not reached"
    );

    let path = std::env::temp_dir().join(format!("mixer-prometheus-{}.prom", std::process::id()));
    std::fs::write(&path, &exposition).expect("write exposition");
    let result = Command::new("promtool")
        .arg("check")
        .arg("metrics")
        .stdin(std::fs::File::open(&path).expect("open"))
        .output();
    let _ = std::fs::remove_file(&path);
    let output = match result {
        Ok(o) => o,
        Err(e) => panic!("cannot run promtool ({e}): run scripts/install-prometheus first"),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.trim().is_empty() && stderr.trim().is_empty(),
        "promtool check metrics: {}\nstdout: {stdout}\nstderr: {stderr}",
        output.status
    );
}
