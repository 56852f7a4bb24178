//! The scripts against the real Redis named by `MIXER_REDIS` (host:port), with the time
//! passed explicitly (milliseconds since the epoch) so windows are crossed without sleeping.
//! Every test uses a handler name of its own, so runs and tests never share keys.

use super::*;

/// `T` is a multiple of every window and bucket used here.
const T: u64 = 1_700_000_000_000;

fn redis() -> Option<String> {
    match std::env::var("MIXER_REDIS") {
        Ok(a) if !a.is_empty() => Some(a),
        _ => {
            eprintln!("skipped: MIXER_REDIS is not set (scripts/test starts a Redis and sets it)");
            None
        }
    }
}

fn unique(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{test}-{}-{nanos}", std::process::id())
}

/// Allocates at `now` (ms since the epoch); (granted, valid ms, status code).
async fn at(
    h: &RedisQuotaHandler,
    dims: &[(&str, &str)],
    a: QuotaArgs<'_>,
    now: u64,
) -> (i64, u128, i32) {
    let r = pending(h.alloc(&inst(dims), a))
        .at(now)
        .run()
        .await
        .expect("redis answers");
    (r.granted, r.valid_duration.as_millis(), r.status.code)
}

const EXHAUSTED: i32 = code::RESOURCE_EXHAUSTED;

#[tokio::test]
async fn fixed_window_counts_per_window_and_resets_at_the_boundary() {
    let Some(addr) = redis() else { return };
    let h = handler_at(
        "quotas: [{name: requestcount, maxAmount: 3, validDuration: 1s}]",
        &unique("fixed"),
        &addr,
    );
    assert_eq!(at(&h, &[], args("", 2, false), T + 900).await, (2, 100, 0));
    assert_eq!(
        at(&h, &[], args("", 2, false), T + 950).await,
        (0, 0, EXHAUSTED),
        "all or nothing"
    );
    assert_eq!(
        at(&h, &[], args("", 2, true), T + 950).await,
        (1, 50, 0),
        "best effort takes what is left"
    );
    assert_eq!(at(&h, &[], args("", 1, false), T + 999).await.0, 0);
    // unlike a rolling window, everything is free again at the boundary
    assert_eq!(
        at(&h, &[], args("", 3, false), T + 1000).await,
        (3, 1000, 0)
    );
    assert_eq!(at(&h, &[], args("", 1, false), T + 1999).await.0, 0);
}

#[tokio::test]
async fn rolling_window_frees_a_bucket_one_window_after_it_ends() {
    let Some(addr) = redis() else { return };
    let h = handler_at(
        "quotas: [{name: requestcount, maxAmount: 3, validDuration: 1s, bucketDuration: 100ms, rateLimitAlgorithm: ROLLING_WINDOW}]",
        &unique("rolling"),
        &addr,
    );
    // bucket [T, T+100) holds 2, bucket [T+100, T+200) holds 1
    assert_eq!(at(&h, &[], args("", 2, false), T).await, (2, 1000, 0));
    assert_eq!(at(&h, &[], args("", 1, false), T + 150).await, (1, 1000, 0));
    assert_eq!(at(&h, &[], args("", 1, false), T + 500).await.0, 0, "full");
    assert_eq!(
        at(&h, &[], args("", 1, false), T + 1099).await.0,
        0,
        "the first bucket ends at T+100: it counts until T+1100"
    );
    assert_eq!(
        at(&h, &[], args("", 3, false), T + 1100).await.0,
        0,
        "only 2 free: all or nothing"
    );
    assert_eq!(at(&h, &[], args("", 2, false), T + 1100).await.0, 2);
    assert_eq!(at(&h, &[], args("", 1, false), T + 1199).await.0, 0);
    assert_eq!(at(&h, &[], args("", 1, true), T + 1200).await.0, 1);
    // long idle: everything has left the window, the open bucket included
    assert_eq!(at(&h, &[], args("", 3, false), T + 10_000).await.0, 3);
}

#[tokio::test]
async fn a_retried_dedup_id_gets_the_same_grant_without_allocating_again() {
    let Some(addr) = redis() else { return };
    for algorithm in ["FIXED_WINDOW", "ROLLING_WINDOW"] {
        let h = handler_at(
            &format!("quotas: [{{name: requestcount, maxAmount: 3, validDuration: 1s, bucketDuration: 100ms, rateLimitAlgorithm: {algorithm}}}]"),
            &unique("dedup"),
            &addr,
        );
        assert_eq!(at(&h, &[], args("call-1q", 2, false), T).await.0, 2);
        let retry = at(&h, &[], args("call-1q", 2, false), T + 10).await;
        assert_eq!(retry.0, 2, "{algorithm}: the same answer");
        assert_eq!(
            at(&h, &[], args("call-2q", 1, false), T + 20).await.0,
            1,
            "{algorithm}: the retry used nothing"
        );
        assert_eq!(
            at(&h, &[], args("call-3q", 1, false), T + 30).await.0,
            0,
            "{algorithm}: limit reached"
        );
        // a denial is not remembered: once there is room, the same id is granted
        assert_eq!(
            at(&h, &[], args("call-3q", 1, false), T + 5000).await.0,
            1,
            "{algorithm}"
        );
        // once the grant stopped counting, the id is forgotten: a real new allocation
        assert_eq!(
            at(&h, &[], args("call-1q", 2, false), T + 5000).await.0,
            2,
            "{algorithm}"
        );
    }
}

#[tokio::test]
async fn dimension_values_and_overrides_have_their_own_counters() {
    let Some(addr) = redis() else { return };
    let h = handler_at(
        "quotas:\n- name: requestcount\n  maxAmount: 2\n  validDuration: 1s\n  overrides: [{dimensions: {user: vip}, maxAmount: 5}]\n",
        &unique("dims"),
        &addr,
    );
    assert_eq!(at(&h, &[("user", "a")], args("", 2, false), T).await.0, 2);
    assert_eq!(at(&h, &[("user", "a")], args("", 1, false), T).await.0, 0);
    assert_eq!(at(&h, &[("user", "b")], args("", 2, false), T).await.0, 2);
    assert_eq!(at(&h, &[("user", "vip")], args("", 5, false), T).await.0, 5);
    assert_eq!(at(&h, &[("user", "vip")], args("", 1, false), T).await.0, 0);
}

#[tokio::test]
async fn scripts_are_reloaded_when_redis_forgets_them_and_keys_expire() {
    let Some(addr) = redis() else { return };
    let h = handler_at(
        "quotas: [{name: requestcount, maxAmount: 100, validDuration: 1m}]",
        &unique("noscript"),
        &addr,
    );
    // on Redis's own clock: no time passed in
    let a = pending(h.alloc(&inst(&[]), args("", 1, false)));
    let key = a.keys()[0].clone();
    let r = a.run().await.expect("redis answers");
    assert_eq!(r.granted, 1);
    assert!(r.valid_duration <= Duration::from_secs(60) && !r.valid_duration.is_zero());
    let pool = h.pool();
    let ttl = pool.command(&["PTTL", &key]).await.expect("PTTL");
    assert!(
        matches!(ttl, Reply::Int(ms) if ms > 0 && ms <= 60_000),
        "the counter expires with its window: {ttl:?}"
    );
    let sha = scripts::FIXED_WINDOW.sha().expect("loaded").to_owned();
    pool.command(&["SCRIPT", "FLUSH"]).await.expect("flush");
    let exists = pool
        .command(&["SCRIPT", "EXISTS", &sha])
        .await
        .expect("exists");
    assert_eq!(exists, Reply::Array(Some(vec![Reply::Int(0)])));
    // EVALSHA answers NOSCRIPT; the client loads the script and runs it again
    let r = pending(h.alloc(&inst(&[]), args("", 1, false)))
        .run()
        .await
        .expect("redis answers after reloading the script");
    assert_eq!(r.granted, 1);
    let exists = pool
        .command(&["SCRIPT", "EXISTS", &sha])
        .await
        .expect("exists");
    assert_eq!(exists, Reply::Array(Some(vec![Reply::Int(1)])));
    assert!(pool.idle() >= 1, "connections are reused");
}
