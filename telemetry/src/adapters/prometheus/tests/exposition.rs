//! The text format byte for byte: number formatting as Go's `FormatFloat(v, 'g', -1, 64)`,
//! escaping, ordering, and a golden exposition.

use super::super::*;
use super::dispatch::{bag, report, small, text};
use super::setup;
use mixer_attributes::OwnedValue;
use std::time::Instant;

fn g(v: f64) -> String {
    let mut s = String::new();
    write_float(&mut s, v);
    s
}

#[test]
fn floats_print_as_go_g_shortest() {
    // Expected strings are what Go's strconv.FormatFloat(v, 'g', -1, 64) prints.
    let cases: [(f64, &str); 22] = [
        (0.0, "0"),
        (-0.0, "0"),
        (1.0, "1"),
        (-1.0, "-1"),
        (0.005, "0.005"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (2.5, "2.5"),
        (100000.0, "100000"),
        (999999.0, "999999"),
        (1e6, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (1e8, "1e+08"),
        (1e21, "1e+21"),
        (1.5e300, "1.5e+300"),
        (5e-324, "5e-324"),
        (0.1 + 0.2, "0.30000000000000004"),
        (123456.789, "123456.789"),
        (-0.012, "-0.012"),
        (f64::INFINITY, "+Inf"),
        (f64::NEG_INFINITY, "-Inf"),
        (f64::NAN, "NaN"),
    ];
    for (v, want) in cases {
        assert_eq!(g(v), want, "{v:e}");
    }
}

#[test]
fn golden_exposition() {
    let config = small("", "request.size | 0").replace(
        "description: \"sizes\"",
        "description: \"sizes \\\\ in\\nbytes\"",
    );
    let (_, plan, h) = setup(&config);
    let b = |size: i64, code: i64, app: &str| {
        bag(&[
            ("request.size", OwnedValue::Int64(size)),
            ("response.code", OwnedValue::Int64(code)),
            (
                "source.labels",
                OwnedValue::StringMap(vec![("app".into(), app.into())]),
            ),
        ])
    };
    report(
        &plan,
        &h,
        &[
            b(3, 500, "x\\y\n\"z\""),
            b(2_000_000, 200, "b"),
            b(0, 200, "a"),
            b(20, 200, "b"),
        ],
        Instant::now(),
    );
    let want = r#"# HELP istio_sized sizes \\ in\nbytes
# TYPE istio_sized histogram
istio_sized_bucket{app="app=a",code="200",ip="0.0.0.0",mtls="false",le="1"} 1
istio_sized_bucket{app="app=a",code="200",ip="0.0.0.0",mtls="false",le="10"} 1
istio_sized_bucket{app="app=a",code="200",ip="0.0.0.0",mtls="false",le="100"} 1
istio_sized_bucket{app="app=a",code="200",ip="0.0.0.0",mtls="false",le="+Inf"} 1
istio_sized_sum{app="app=a",code="200",ip="0.0.0.0",mtls="false"} 0
istio_sized_count{app="app=a",code="200",ip="0.0.0.0",mtls="false"} 1
istio_sized_bucket{app="app=b",code="200",ip="0.0.0.0",mtls="false",le="1"} 0
istio_sized_bucket{app="app=b",code="200",ip="0.0.0.0",mtls="false",le="10"} 0
istio_sized_bucket{app="app=b",code="200",ip="0.0.0.0",mtls="false",le="100"} 1
istio_sized_bucket{app="app=b",code="200",ip="0.0.0.0",mtls="false",le="+Inf"} 2
istio_sized_sum{app="app=b",code="200",ip="0.0.0.0",mtls="false"} 2.00002e+06
istio_sized_count{app="app=b",code="200",ip="0.0.0.0",mtls="false"} 2
istio_sized_bucket{app="app=x\\y\n\"z\"",code="500",ip="0.0.0.0",mtls="false",le="1"} 0
istio_sized_bucket{app="app=x\\y\n\"z\"",code="500",ip="0.0.0.0",mtls="false",le="10"} 1
istio_sized_bucket{app="app=x\\y\n\"z\"",code="500",ip="0.0.0.0",mtls="false",le="100"} 1
istio_sized_bucket{app="app=x\\y\n\"z\"",code="500",ip="0.0.0.0",mtls="false",le="+Inf"} 1
istio_sized_sum{app="app=x\\y\n\"z\"",code="500",ip="0.0.0.0",mtls="false"} 3
istio_sized_count{app="app=x\\y\n\"z\"",code="500",ip="0.0.0.0",mtls="false"} 1
# HELP istio_sized_last sized_last
# TYPE istio_sized_last gauge
istio_sized_last{app="app=a",code="200",ip="0.0.0.0",mtls="false"} 0
istio_sized_last{app="app=b",code="200",ip="0.0.0.0",mtls="false"} 20
istio_sized_last{app="app=x\\y\n\"z\"",code="500",ip="0.0.0.0",mtls="false"} 3
# HELP istio_sized_total sized_total
# TYPE istio_sized_total counter
istio_sized_total{app="app=a",code="200",ip="0.0.0.0",mtls="false"} 0
istio_sized_total{app="app=b",code="200",ip="0.0.0.0",mtls="false"} 2.00002e+06
istio_sized_total{app="app=x\\y\n\"z\"",code="500",ip="0.0.0.0",mtls="false"} 3
"#;
    assert_eq!(text(&h), want);
    // In chunks (a flush after every series here), the same bytes; a refused flush stops.
    let (mut out, mut chunks) = (String::new(), Vec::new());
    assert!(h.render_chunked(&mut out, 1, |c| {
        chunks.push(std::mem::take(c));
        true
    }));
    assert!(out.is_empty() && chunks.len() > 1);
    assert_eq!(chunks.concat(), want);
    // Flushes run with every series lock released (a slow scraper must not block Reports),
    // and a series reported in the middle of a scrape never appears twice.
    let mut chunks = Vec::new();
    assert!(h.render_chunked(&mut out, 1, |c| {
        assert!(
            h.shared.iter().all(|g| g.try_lock().is_ok()),
            "a lock is held during flush"
        );
        if chunks.is_empty() {
            report(
                &plan,
                &h,
                &[b(7, 200, "zz"), b(7, 200, "a")],
                Instant::now(),
            );
        }
        chunks.push(std::mem::take(c));
        true
    }));
    let during = chunks.concat();
    let mut lines: Vec<&str> = during.lines().collect();
    let n = lines.len();
    lines.sort_unstable();
    lines.dedup();
    assert_eq!(lines.len(), n, "a line was written twice:\n{during}");
    let mut flushes = 0;
    assert!(!h.render_chunked(&mut String::new(), 1, |_| {
        flushes += 1;
        false
    }));
    assert_eq!(flushes, 1);
    // Rendering again (nothing new) gives the same bytes; a new series lands in order.
    report(&plan, &h, &[b(1, 200, "a0")], Instant::now());
    let again = text(&h);
    let order: Vec<&str> = again
        .lines()
        .filter(|l| l.starts_with("istio_sized_total"))
        .collect();
    assert_eq!(order.len(), 5, "a, a0, b, x, and zz from the scrape above");
    assert!(
        order[1].starts_with(r#"istio_sized_total{app="app=a0""#),
        "{again}"
    );
}

#[test]
fn a_metric_without_labels_has_no_braces() {
    let config = small("", "request.size | 0")
        .replace("label_names: [code, ip, mtls, app]", "label_names: []")
        .replace(
            "    dimensions:\n      code: response.code | 200\n      ip: source.ip | ip(\"0.0.0.0\")\n      mtls: connection.mtls | false\n      app: source.labels | emptyStringMap()\n",
            "",
        );
    let (_, plan, h) = setup(&config);
    report(
        &plan,
        &h,
        &[bag(&[("request.size", OwnedValue::Int64(1_000_000))])],
        Instant::now(),
    );
    let all = text(&h);
    assert!(all.contains("\nistio_sized_total 1e+06\n"), "{all}");
    assert!(
        all.contains("\nistio_sized_bucket{le=\"+Inf\"} 1\n"),
        "{all}"
    );
}
