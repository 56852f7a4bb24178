//! Exported names: Istio's sanitising (`/`, `.` and space become `_`, `-` is dropped, a leading
//! `/` is trimmed) and the checks client_golang would otherwise fail on at registration —
//! valid metric and label names, no duplicate families, no `le` label on a histogram.

use super::config::{Kind, MetricInfo};
use mixer_rules::FieldProblem;
use std::collections::HashMap;

/// Istio's `safeName`.
pub fn safe_name(n: &str) -> String {
    let s = n.strip_prefix('/').unwrap_or(n);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '/' | '.' | ' ' => out.push('_'),
            '-' => {}
            c => out.push(c),
        }
    }
    out
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn valid_metric_name(n: &str) -> bool {
    let mut bytes = n.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'A'..=b'Z' | b'_' | b':'))
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with the reserved `__`.
pub fn valid_label_name(n: &str) -> bool {
    let mut bytes = n.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'A'..=b'Z' | b'_'))
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !n.starts_with("__")
}

/// Checks exported metric and label names of every metric, and that no two metrics export
/// the same family (a histogram also owns `<name>_bucket`, `_sum` and `_count`). Metrics come
/// with their index in `params.metrics`.
pub(crate) fn check_metrics(metrics: &[(usize, MetricInfo)], p: &mut Vec<FieldProblem>) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for &(i, ref m) in metrics {
        let name = m.exported_name();
        if !valid_metric_name(&name) {
            p.push(
                FieldProblem::new(
                    format!("metrics[{i}].name"),
                    "not a valid Prometheus metric name after sanitising",
                )
                .value(format!("{name:?}"))
                .example("requests_total"),
            );
        }
        let mut owned = vec![name.clone()];
        if m.kind == Kind::Distribution {
            owned.extend(["_bucket", "_sum", "_count"].map(|s| format!("{name}{s}")));
        }
        for n in owned {
            if let Some(first) = seen.insert(n.clone(), i) {
                if first != i {
                    p.push(
                        FieldProblem::new(
                            format!("metrics[{i}].name"),
                            format!("exported name {n} is already used by metrics[{first}]"),
                        )
                        .value(&name),
                    );
                }
            }
        }
        let mut labels: HashMap<String, &str> = HashMap::new();
        for (j, l) in m.label_names.iter().enumerate() {
            let field = format!("metrics[{i}].label_names[{j}]");
            let safe = safe_name(l);
            if !valid_label_name(&safe) {
                p.push(
                    FieldProblem::new(field, "not a valid Prometheus label name after sanitising")
                        .value(format!("{l:?}"))
                        .example("source_workload"),
                );
            } else if m.kind == Kind::Distribution && safe == "le" {
                p.push(
                    FieldProblem::new(field, "\"le\" is reserved for histogram buckets").value(l),
                );
            } else if let Some(first) = labels.insert(safe.clone(), l) {
                p.push(
                    FieldProblem::new(
                        field,
                        format!("duplicate label {safe} (also from {first:?})"),
                    )
                    .value(l),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitising_follows_istio() {
        assert_eq!(
            safe_name("/requestcount.instance.istio-system"),
            "requestcount_instance_istiosystem"
        );
        assert_eq!(safe_name("a b/c"), "a_b_c");
        assert!(valid_metric_name("istio_requests_total"));
        assert!(valid_metric_name("a:b"));
        assert!(!valid_metric_name("1abc"));
        assert!(!valid_metric_name(""));
        assert!(valid_label_name("_x1"));
        assert!(!valid_label_name("__name"));
        assert!(!valid_label_name("a:b"));
    }
}
