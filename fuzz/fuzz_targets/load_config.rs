//! Arbitrary text as a config file: splitting into documents, validating every kind, compiling
//! expressions and building the dispatch plan must return a config or problems, never panic.
//! (The adapter here accepts any params; the prometheus adapter's own params checks are unit-
//! tested in the telemetry crate.)

#![no_main]

use libfuzzer_sys::fuzz_target;
use mixer_attributes::OwnedBag;
use mixer_rules::{load, AdapterSpec, Catalog, Plan, Source, Template, Variety};

const ADAPTERS: &[AdapterSpec] = &[
    AdapterSpec { name: "prometheus", templates: &[Template::Metric], check: |_, _| Vec::new() },
    AdapterSpec { name: "denier", templates: &[Template::CheckNothing], check: |_, _| Vec::new() },
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let catalog = Catalog { adapters: ADAPTERS, other_kinds: &["ServiceRole"] };
    match load(&[Source { file: "fuzz.yaml", text }], &catalog) {
        Ok(config) => {
            let plan = Plan::new(&config);
            let bag = OwnedBag::new();
            let mut ev = plan.evaluator(&bag);
            plan.dispatch(&mut ev, Variety::Report, |_, _, _| {}, |_| {});
        }
        Err(problems) => {
            let _ = problems.to_string();
        }
    }
});
