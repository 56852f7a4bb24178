//! Series that survive a config reload. A reload builds new handlers; a label group whose
//! exported metrics are unchanged — same label names, and per slot the same name, kind,
//! buckets and duration unit — takes over the previous handler's series (shared, so Reports
//! still finishing on the old config count too), as Mixer's Prometheus adapter kept its
//! collectors: counters keep counting instead of dropping to zero at every reload.

use super::adapter::{Family, Group, Layout, PrometheusHandler};
use mixer_rules::ExprId;
use std::sync::Arc;

impl PrometheusHandler {
    /// Shares with `old` every label group and family counter whose definition is unchanged.
    /// Returns how many groups were taken over.
    pub fn inherit(&mut self, old: &PrometheusHandler) -> usize {
        let mut taken = 0;
        let layout = Arc::clone(&self.layout);
        for (g, group) in layout.groups.iter().enumerate() {
            let found = old
                .layout
                .groups
                .iter()
                .position(|og| same_group(&self.layout, group, &old.layout, og));
            let Some(og) = found else { continue };
            self.shared[g] = Arc::clone(&old.shared[og]);
            for (&f, &of) in group.families.iter().zip(&old.layout.groups[og].families) {
                self.counters[f] = Arc::clone(&old.counters[of]);
            }
            taken += 1;
        }
        taken
    }
}

fn same_group(new: &Layout, group: &Group, old: &Layout, og: &Group) -> bool {
    let names = |labels: &[(String, ExprId)]| -> Vec<String> {
        labels.iter().map(|(n, _)| n.clone()).collect()
    };
    names(&group.labels) == names(&og.labels)
        && group.families.len() == og.families.len()
        && group
            .families
            .iter()
            .zip(&og.families)
            .all(|(&f, &of)| same_family(&new.families[f], &old.families[of]))
}

fn same_family(a: &Family, b: &Family) -> bool {
    a.name == b.name && a.kind == b.kind && a.bounds == b.bounds && a.unit == b.unit
}
