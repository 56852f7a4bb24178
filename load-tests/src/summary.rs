//! How a load run is reported: one JSON line for scripts (flat, stable field names) and a few
//! lines for people.

use crate::load::LoadReport;
use std::fmt::Write;

/// What the run sent, besides what it measured.
#[derive(Clone, Debug)]
pub struct RunInfo {
    /// The generator's name, for the human summary (`report-load`, `check-load`).
    pub tool: &'static str,
    /// More JSON fields for the line: (name, JSON value as text).
    pub extra: Vec<(&'static str, String)>,
    pub targets: Vec<String>,
    pub connections: usize,
    pub concurrency: usize,
    pub rate: f64,
    pub bags_per_request: usize,
    pub pool: usize,
    pub bytes_per_request: f64,
    pub attributes_per_bag: usize,
}

impl RunInfo {
    pub fn bytes_per_bag(&self) -> f64 {
        self.bytes_per_request / self.bags_per_request.max(1) as f64
    }
}

fn us(nanos: u64) -> f64 {
    nanos as f64 / 1e3
}

/// The JSON line. Latencies are microseconds.
pub fn json(report: &LoadReport, info: &RunInfo) -> String {
    let mut errors = String::from("{");
    for (i, (code, n)) in report.errors.iter().enumerate() {
        let sep = if i == 0 { "" } else { "," };
        let _ = write!(errors, "{sep}\"{}\":{n}", code.escape_default());
    }
    errors.push('}');
    let targets: Vec<String> = info
        .targets
        .iter()
        .map(|t| format!("\"{}\"", t.escape_default()))
        .collect();
    let mut extra = String::new();
    for (name, value) in &info.extra {
        let _ = write!(extra, ",\"{}\":{value}", name.escape_default());
    }
    let h = &report.latency;
    let lag = &report.schedule_lag;
    format!(
        concat!(
            "{{\"requests\":{},\"ok\":{},\"denied\":{},\"bags\":{},\"bags_total\":{},",
            "\"errors\":{},\"error_count\":{},",
            "\"elapsed_s\":{:.3},\"requests_per_s\":{:.1},\"bags_per_s\":{:.0},",
            "\"latency_us\":{{\"p50\":{:.1},\"p90\":{:.1},\"p99\":{:.1},\"p999\":{:.1},",
            "\"max\":{:.1},\"mean\":{:.1}}},",
            "\"schedule_lag_us\":{{\"p50\":{:.1},\"p99\":{:.1},\"max\":{:.1}}},",
            "\"cpu_s\":{:.2},\"bytes_per_bag\":{:.1},\"attributes_per_bag\":{},",
            "\"bags_per_request\":{},\"pool\":{},\"rate\":{},\"concurrency\":{},",
            "\"connections\":{},\"targets\":[{}]{}}}"
        ),
        report.requests,
        report.requests - report.denied,
        report.denied,
        report.bags,
        report.bags_total,
        errors,
        report.error_count(),
        report.elapsed.as_secs_f64(),
        report.requests_per_second(),
        report.bags_per_second(),
        us(h.quantile(0.5)),
        us(h.quantile(0.9)),
        us(h.quantile(0.99)),
        us(h.quantile(0.999)),
        us(h.max()),
        h.mean() / 1e3,
        us(lag.quantile(0.5)),
        us(lag.quantile(0.99)),
        us(lag.max()),
        report.cpu_seconds,
        info.bytes_per_bag(),
        info.attributes_per_bag,
        info.bags_per_request,
        info.pool,
        info.rate,
        info.concurrency,
        info.connections,
        targets.join(","),
        extra,
    )
}

/// The human summary.
pub fn human(report: &LoadReport, info: &RunInfo) -> String {
    let h = &report.latency;
    let ms = |n: u64| n as f64 / 1e6;
    let rate = if info.rate > 0.0 {
        format!("{} req/s open-loop", info.rate)
    } else {
        "max rate".to_owned()
    };
    let lag = if info.rate > 0.0 {
        format!(
            "; sent late by p99 {:.2} ms, max {:.2} ms",
            ms(report.schedule_lag.quantile(0.99)),
            ms(report.schedule_lag.max())
        )
    } else {
        String::new()
    };
    format!(
        "{}: {} distinct requests → {} ({rate}, {} in flight over {} connections)\n\
         \x20 {} requests ({} denied), {} bags in {:.2}s: {:.0} req/s, {:.0} bags/s; errors: {} {:?}\n\
         \x20 latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}{lag}\n\
         \x20 generator CPU {:.2}s; {} bags/request, {:.0} bytes and {} attributes per bag",
        info.tool,
        info.pool,
        info.targets.join(","),
        info.concurrency,
        info.connections,
        report.requests,
        report.denied,
        report.bags,
        report.elapsed.as_secs_f64(),
        report.requests_per_second(),
        report.bags_per_second(),
        report.error_count(),
        report.errors,
        ms(h.quantile(0.5)),
        ms(h.quantile(0.9)),
        ms(h.quantile(0.99)),
        ms(h.quantile(0.999)),
        ms(h.max()),
        report.cpu_seconds,
        info.bags_per_request,
        info.bytes_per_bag(),
        info.attributes_per_bag,
    )
}
