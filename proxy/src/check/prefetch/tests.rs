//! The prefetch algorithm with a hand-held clock: every `now` is an argument.

use super::*;

fn at(t0: Instant, ms: u64) -> Instant {
    t0 + Duration::from_millis(ms)
}

fn grant(amount: i64, valid_ms: u64) -> Option<Grant> {
    Some(Grant {
        amount,
        valid: Duration::from_millis(valid_ms),
    })
}

/// A fresh entry whose first request was advanced and granted in full: 9 tokens left, open.
fn open_with_nine(t0: Instant) -> Prefetch {
    let mut p = Prefetch::new(PrefetchOptions::default(), t0);
    let first = p.take(1, t0);
    let ask = first.ask.expect("the first request asks");
    p.on_response(ask, grant(10, 60_000), t0);
    assert_eq!((p.available(t0), p.is_closed()), (9, false));
    p
}

#[test]
fn the_first_request_is_advanced_the_minimum_and_the_grant_corrects_it() {
    let t0 = Instant::now();
    let mut p = Prefetch::new(PrefetchOptions::default(), t0);
    let first = p.take(1, t0);
    assert!(
        first.allowed,
        "nothing granted yet: the advance pays for it"
    );
    let ask = first.ask.expect("asks");
    assert_eq!(ask.amount, 10, "at least the minimum prefetch");
    assert!(ask.advanced.is_some());
    assert_eq!(p.available(t0), 9);

    // a limit of 3, one spent elsewhere: 2 granted of 10 asked → 8 taken back, closed
    p.on_response(ask, grant(2, 60_000), at(t0, 1));
    assert_eq!(p.available(at(t0, 1)), 1);
    assert!(p.is_closed());
    assert_eq!(
        p.take(1, at(t0, 2)),
        Taken {
            allowed: true,
            ask: None
        }
    );
    assert_eq!(
        p.take(1, at(t0, 3)),
        Taken {
            allowed: false,
            ask: None
        },
        "exhausted, and closed: no ask within the close-wait window"
    );
}

#[test]
fn tokens_are_taken_without_asking_until_fewer_than_half_the_need_are_left() {
    let t0 = Instant::now();
    let mut p = open_with_nine(t0);
    // the need is max(usage, 10) = 10: asks when fewer than 5 are left before a request
    let mut asks = Vec::new();
    for i in 0..6 {
        let t = p.take(1, at(t0, 10 + i));
        assert!(t.allowed);
        asks.push(t.ask.map(|a| a.amount));
    }
    assert_eq!(
        asks,
        [None, None, None, None, None, Some(10)],
        "9, 8, 7, 6, 5, 4 left before each"
    );
    assert_eq!(
        p.available(at(t0, 20)),
        3,
        "the ask is not advanced: tokens remained"
    );
    assert_eq!(p.in_flight(), 1);
}

#[test]
fn a_burst_beyond_what_is_left_is_advanced_while_an_ask_is_out() {
    let t0 = Instant::now();
    let mut p = open_with_nine(t0);
    let mut allowed = 0;
    let mut asks = Vec::new();
    for i in 0..20 {
        let t = p.take(1, at(t0, 10 + i));
        allowed += usize::from(t.allowed);
        asks.extend(t.ask);
    }
    assert_eq!(allowed, 20, "open: the burst goes through on advances");
    // at 4 left, below half the need: an ask, not advanced; at 0 left, beside it, an ask for
    // the usage so far (the first request and 9 of these), advanced; spent, another for 20
    let asked: Vec<(i64, bool)> = asks
        .iter()
        .map(|a| (a.amount, a.advanced.is_some()))
        .collect();
    assert_eq!(asked, [(10, false), (10, true), (20, true)]);
    assert_eq!(p.in_flight(), 3);
    assert_eq!(p.available(at(t0, 30)), 19, "the last advance, one taken");

    // the first answer falls short: its 4 are added, and the entry closes
    p.on_response(asks[0], grant(4, 60_000), at(t0, 40));
    assert!(p.is_closed());
    assert_eq!(p.available(at(t0, 40)), 23);
    // the second, granted in full, reopens it (its advance was spent already)
    p.on_response(asks[1], grant(10, 60_000), at(t0, 41));
    assert!(!p.is_closed());
    assert_eq!(p.available(at(t0, 41)), 23);
    // the third falls short by 15: taken back from its own advance
    p.on_response(asks[2], grant(5, 60_000), at(t0, 42));
    assert!(p.is_closed() && p.in_flight() == 0);
    assert_eq!(p.available(at(t0, 42)), 8);
}

#[test]
fn a_closed_entry_denies_what_is_left_cannot_pay_and_asks_once_per_window() {
    let t0 = Instant::now();
    let mut p = open_with_nine(t0);
    for i in 0..9 {
        p.take(1, at(t0, 1 + i));
    }
    // one ask went out at 4 left; the limit is reached: nothing granted, closed
    let mut p2 = p;
    let ask = Ask {
        amount: 10,
        advanced: None,
    };
    p2.in_flight = 1;
    p2.on_response(ask, grant(0, 60_000), at(t0, 20));
    assert!(p2.is_closed());
    let mut asks = 0;
    for i in 0..10 {
        let t = p2.take(1, at(t0, 21 + i));
        assert!(!t.allowed, "nothing left, closed: denied");
        asks += usize::from(t.ask.is_some());
    }
    assert_eq!(asks, 0, "within the close-wait window of the last ask");
    let later = p2.take(1, at(t0, 600));
    assert!(!later.allowed, "closed: never advanced");
    assert_eq!(later.ask.map(|a| (a.amount, a.advanced)), Some((20, None)));
    let same_window = p2.take(1, at(t0, 700));
    assert!(same_window.ask.is_none(), "one ask per close-wait window");
}

#[test]
fn the_ask_is_for_the_usage_of_the_last_window() {
    let t0 = Instant::now();
    let mut p = open_with_nine(t0);
    // the ask goes out at 4 left; granted in full, the entry stays open
    let mut ask = None;
    for i in 0..6 {
        ask = ask.or(p.take(1, at(t0, 10 + i)).ask);
    }
    let ask = ask.expect("asked below half the need");
    p.on_response(ask, grant(ask.amount, 60_000), at(t0, 20));
    // 40 requests in the next 200 ms: the usage of the window outgrows the minimum, and
    // the next ask is for it
    let mut asks = Vec::new();
    for i in 0..40 {
        let t = p.take(1, at(t0, 100 + i * 5));
        asks.extend(t.ask);
    }
    let next = asks.first().copied().expect("asked again");
    assert!(next.amount > 10, "predicted from usage: {}", next.amount);

    // a window later with no traffic the usage is forgotten: back to the minimum (every
    // ask refused, so nothing is left)
    for a in asks {
        p.on_response(a, grant(0, 60_000), at(t0, 400));
    }
    assert_eq!(p.available(at(t0, 400)), 0);
    let later = p.take(1, at(t0, 5_000));
    let after = later.ask.expect("closed, but the close-wait window passed");
    assert_eq!(after.amount, 10);
}

#[test]
fn a_closed_entry_asks_again_after_the_close_wait_window_and_a_full_grant_reopens_it() {
    let t0 = Instant::now();
    let mut p = Prefetch::new(PrefetchOptions::default(), t0);
    let ask = p.take(1, t0).ask.expect("asks");
    p.on_response(ask, grant(0, 60_000), at(t0, 1));
    assert!(p.is_closed());
    assert_eq!(p.available(at(t0, 1)), 0, "the advance was taken back");
    // denied without asking until 500 ms after the last ask
    for ms in [2, 250, 499] {
        assert_eq!(
            p.take(1, at(t0, ms)),
            Taken {
                allowed: false,
                ask: None
            },
            "at {ms} ms"
        );
    }
    let again = p.take(1, at(t0, 500));
    assert!(!again.allowed, "a closed entry advances nothing");
    let ask = again.ask.expect("asks again at 500 ms");
    assert!(ask.advanced.is_none());
    // a full grant reopens it
    p.on_response(ask, grant(ask.amount, 60_000), at(t0, 501));
    assert!(!p.is_closed());
    assert!(p.take(1, at(t0, 502)).allowed);
}

#[test]
fn granted_tokens_expire_with_the_grant() {
    let t0 = Instant::now();
    let mut p = Prefetch::new(PrefetchOptions::default(), t0);
    let ask = p.take(1, t0).ask.expect("asks");
    p.on_response(ask, grant(10, 1_000), t0);
    assert_eq!(p.available(at(t0, 999)), 9);
    assert_eq!(
        p.available(at(t0, 1_000)),
        0,
        "the advanced slot took the grant's expiry"
    );
    // the next request finds nothing live and asks (open: advanced again)
    let t = p.take(1, at(t0, 1_000));
    assert!(t.allowed && t.ask.is_some_and(|a| a.advanced.is_some()));

    // a grant that was not advanced becomes its own slot, with its own expiry
    let mut p = open_with_nine(t0);
    let mut ask = None;
    for i in 0..6 {
        ask = ask.or(p.take(1, at(t0, i)).ask);
    }
    p.on_response(ask.expect("asked"), grant(10, 2_000), at(t0, 10));
    assert_eq!(p.available(at(t0, 10)), 13);
    assert_eq!(
        p.available(at(t0, 2_010)),
        3,
        "the 10 expired, the first 3 remain"
    );
    assert_eq!(p.available(at(t0, 60_000)), 0);
}

#[test]
fn an_advance_never_answered_expires_after_a_minute() {
    let t0 = Instant::now();
    let mut p = Prefetch::new(PrefetchOptions::default(), t0);
    assert!(p.take(1, t0).allowed);
    assert_eq!(p.available(at(t0, 59_999)), 9);
    assert_eq!(p.available(at(t0, 60_000)), 0);
    // still open: the next request asks again, advanced, beside the unanswered ask
    let next = p.take(1, at(t0, 60_000));
    assert!(next.allowed);
    assert!(next.ask.is_some_and(|a| a.advanced.is_some()));
    assert_eq!(p.in_flight(), 2);
}

#[test]
fn a_failed_call_counts_as_granted_in_full_for_a_minute() {
    let t0 = Instant::now();
    let mut p = open_with_nine(t0);
    let mut ask = None;
    for i in 0..6 {
        ask = ask.or(p.take(1, at(t0, i)).ask);
    }
    let ask = ask.expect("asked");
    p.on_response(ask, None, at(t0, 10));
    assert!(!p.is_closed());
    assert_eq!(p.available(at(t0, 10)), 3 + ask.amount);
    assert_eq!(p.available(at(t0, 60_010)), 0);
}

#[test]
fn an_advance_spent_before_its_grant_is_the_overshoot() {
    let t0 = Instant::now();
    let mut p = Prefetch::new(PrefetchOptions::default(), t0);
    let ask = p.take(1, t0).ask.expect("asks");
    let mut second = None;
    for i in 1..12 {
        let t = p.take(1, at(t0, i));
        assert!(t.allowed, "request {i}: paid by an advance");
        second = second.or(t.ask);
    }
    let second = second.expect("the first advance spent: a second one");
    assert_eq!((second.amount, p.available(at(t0, 12))), (10, 8));
    // the limit was 3: 7 of the first advance were not granted, and come off the second's
    p.on_response(ask, grant(3, 60_000), at(t0, 20));
    assert_eq!(p.available(at(t0, 20)), 1);
    assert!(p.is_closed());
    // the second is refused: nothing left; 12 let through for 3 granted, the two advances
    // of one round trip
    p.on_response(second, grant(0, 60_000), at(t0, 21));
    assert_eq!(p.available(at(t0, 21)), 0);
    assert!(p.is_closed());
}

#[test]
fn amounts_are_all_or_nothing() {
    // Istio's TestNotEnoughAmount: 5 a window, the first request takes 1
    let t0 = Instant::now();
    let mut p = Prefetch::new(PrefetchOptions::default(), t0);
    let ask = p.take(1, t0).ask.expect("asks");
    p.on_response(ask, grant(5, 1_000), t0);
    assert_eq!(p.available(t0), 4);
    assert!(!p.take(5, at(t0, 1)).allowed, "only 4 left");
    assert!(p.take(4, at(t0, 2)).allowed, "the refused 5 took nothing");
}

#[test]
fn the_usage_counter_rolls_bucket_by_bucket() {
    // Istio's TimeBasedCounterTest with 1 ms buckets
    let t0 = Instant::now();
    let mut u = Usage::new(Duration::from_millis(BUCKETS as u64), t0);
    u.add(1, at(t0, 4));
    u.add(1, at(t0, 5));
    u.add(1, at(t0, 7));
    assert_eq!(u.count(at(t0, 8)), 3);
    assert_eq!(u.count(at(t0, 23)), 3);
    assert_eq!(u.count(at(t0, 24)), 2, "the bucket of 4 is reused at 24");
    assert_eq!(u.count(at(t0, 25)), 1, "4 and 5 are out");
    assert_eq!(u.count(at(t0, 27)), 0);
    u.add(2, at(t0, 100));
    assert_eq!(u.count(at(t0, 119)), 2);
    assert_eq!(u.count(at(t0, 500)), 0, "a long gap clears it");
}
