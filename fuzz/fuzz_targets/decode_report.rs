//! Arbitrary bytes through the whole `ReportRequest` decode: every bag, every value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mixer_attributes::decode::ReportRequestView;
use mixer_attributes::{Value, Vocabulary};

fuzz_target!(|data: &[u8]| {
    let Ok(mut view) = ReportRequestView::parse(data, Vocabulary::builtin()) else {
        return;
    };
    let _ = (view.len(), view.semantics(), view.default_words().len());
    while let Some(bag) = view.next_bag() {
        let Ok(bag) = bag else { break };
        for (name, value) in bag.iter() {
            assert!(bag.get_by_name(name).is_some());
            if let Value::StringMap(m) = value {
                for (k, _) in m.iter() {
                    let _ = m.get(k);
                }
            }
        }
        let _ = bag.to_owned_bag();
    }
});
