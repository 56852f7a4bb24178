//! Jaeger's write cache for `service_names` and `operation_names_v2`: a name written within
//! the TTL is not written again. Bounded: when full it is cleared (the cost is a few repeated
//! idempotent inserts, never a lost row).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub(super) struct NamesCache {
    ttl: Duration,
    capacity: usize,
    seen: Mutex<HashMap<String, Instant>>,
}

impl NamesCache {
    pub(super) fn new(ttl: Duration, capacity: usize) -> Self {
        NamesCache {
            ttl,
            capacity: capacity.max(1),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `key` needs writing now (not written within the TTL).
    pub(super) fn needs_write(&self, key: &str, now: Instant) -> bool {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(key)
            .is_none_or(|at| now.duration_since(*at) >= self.ttl)
    }

    /// Records a successful write of `key`.
    pub(super) fn written(&self, key: String, now: Instant) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= self.capacity && !seen.contains_key(&key) {
            seen.clear();
        }
        seen.insert(key, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_once_per_ttl_and_stays_bounded() {
        let c = NamesCache::new(Duration::from_secs(60), 2);
        let t0 = Instant::now();
        assert!(c.needs_write("a", t0));
        c.written("a".into(), t0);
        assert!(!c.needs_write("a", t0 + Duration::from_secs(59)));
        assert!(c.needs_write("a", t0 + Duration::from_secs(60)));
        c.written("b".into(), t0);
        c.written("c".into(), t0); // full: cleared, then c
        assert!(c.needs_write("a", t0));
        assert!(!c.needs_write("c", t0));
        assert!(c.seen.lock().map(|s| s.len()).unwrap_or(0) <= 2);
    }
}
