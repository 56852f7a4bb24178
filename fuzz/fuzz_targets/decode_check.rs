//! Arbitrary bytes through the whole `CheckRequest` decode: the bag, every value, the quotas.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mixer_attributes::decode::CheckRequestView;
use mixer_attributes::Vocabulary;

fuzz_target!(|data: &[u8]| {
    let Ok(view) = CheckRequestView::parse(data, Vocabulary::builtin()) else {
        return;
    };
    let bag = view.attributes();
    for (name, value) in bag.iter() {
        assert!(bag.get_by_name(name).is_some());
        let _ = value.to_owned_value();
    }
    let _ = (
        view.deduplication_id(),
        view.quotas().len(),
        view.global_word_count(),
    );
});
