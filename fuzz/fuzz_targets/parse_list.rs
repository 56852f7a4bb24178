//! Arbitrary text as a listchecker provider's list, compiled as every entry type and queried:
//! a list or its bad entries, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mixer_policy::adapters::listchecker::list::{entries, List, Symbol};
use mixer_policy::adapters::listchecker::EntryType;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let first = entries(text).next().map_or("", |(_, e)| e);
    for ty in [
        EntryType::Strings,
        EntryType::CaseInsensitiveStrings,
        EntryType::IpAddresses,
        EntryType::Regex,
    ] {
        match List::build(ty, entries(text)) {
            Ok(list) => {
                let _ = list.len();
                let _ = list.contains(Symbol::Str(first));
                let _ = list.contains(Symbol::Ip("10.1.2.3".parse().expect("ip")));
                let _ = list.contains(Symbol::Ip("2001:db8::1".parse().expect("ip")));
            }
            Err(bad) => assert!(!bad.is_empty()),
        }
    }
});
