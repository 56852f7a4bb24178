//! `mixer-proxy`, the sidecar's own binary, takes exactly `mixer proxy`'s flags and reports
//! every bad one at once, as `mixer proxy` does (deploy/test runs it as the sidecar).

use std::process::Command;

fn run(bin: &str, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(bin)
        .args(args)
        .env_clear()
        .output()
        .expect("run the binary");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_flags_are_all_reported_the_same_way_by_both_binaries() {
    let bad = [
        "--app",
        "nowhere",
        "--app-pool-connections",
        "many",
        "--sampling",
        "200",
        "--policy-quota",
        "requestcountquota=0",
        "--policy-max-requests",
        "0",
        "--policy-quota-cache",
        "lots",
    ];
    let (code, lean) = run(env!("CARGO_BIN_EXE_mixer-proxy"), &bad);
    assert_eq!(code, Some(1), "{lean}");
    for needle in [
        "mixer-proxy: invalid configuration",
        "--app \"nowhere\"",
        "--app-pool-connections \"many\"",
        "--workload is required",
        "--namespace is required",
        "--policy-quota \"requestcountquota=0\": not NAME or NAME=CHARGE",
        "policy max requests: must be at least 1",
        "--policy-quota-cache \"lots\": invalid digit found in string (e.g. --policy-quota-cache 10000)",
    ] {
        assert!(lean.contains(needle), "{needle:?} not in:\n{lean}");
    }
    let mut full_args = vec!["proxy"];
    full_args.extend(bad);
    let (code, full) = run(env!("CARGO_BIN_EXE_mixer"), &full_args);
    assert_eq!(code, Some(1), "{full}");
    assert_eq!(
        lean.strip_prefix("mixer-proxy: "),
        full.strip_prefix("mixer: "),
        "the same problems, in the same words"
    );
}
