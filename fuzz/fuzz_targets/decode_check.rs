//! Arbitrary bytes through the whole `CheckRequest` decode: the bag, every value, the quotas —
//! and through the decision cache's lazy reader, which may accept only what the full decode
//! accepts, with the same attributes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mixer_attributes::decode::{CheckRequestView, LazyCheck};
use mixer_attributes::{AttrId, AttrRef, Attributes, Vocabulary};

fuzz_target!(|data: &[u8]| {
    let vocab = Vocabulary::builtin();
    let lazy = LazyCheck::scan(data, vocab);
    let Ok(view) = CheckRequestView::parse(data, vocab) else {
        assert!(lazy.is_none(), "the lazy reader accepted what the decoder rejects");
        return;
    };
    let bag = view.attributes();
    for (name, value) in bag.iter() {
        assert!(bag.get_by_name(name).is_some());
        let _ = value.to_owned_value();
    }
    if let Some(lazy) = &lazy {
        assert!(view.quotas().is_empty());
        assert_eq!(lazy.global_word_count(), view.global_word_count());
        let text = |it: &mut dyn Iterator<Item = (&str, mixer_attributes::Value<'_>)>| {
            it.map(|(n, v)| format!("{n}={v:?}")).collect::<Vec<_>>()
        };
        assert_eq!(text(&mut lazy.iter()), text(&mut bag.iter()));
        for (name, _) in bag.iter() {
            let attr = AttrRef {
                id: vocab.id(name).unwrap_or(AttrId(u32::MAX)),
                name,
            };
            assert_eq!(format!("{:?}", lazy.get(attr)), format!("{:?}", bag.get(attr)));
        }
    }
    let _ = (
        view.deduplication_id(),
        view.quotas().len(),
        view.global_word_count(),
    );
});
