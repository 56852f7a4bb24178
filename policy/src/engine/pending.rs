//! A Check answered but for the quota allocations an adapter makes over the network
//! (redisquota): [`Checked`] carries the response and those allocations, and
//! [`Checked::finish`] awaits them (each bounded by its handler's timeout), fills in their
//! quota results and counts them. With only in-process adapters nothing is pending and the
//! response is complete as it stands. A cached answer is kept encoded ([`CheckAnswer`]).

use crate::adapters::redisquota::{self, Allocation, Failure};
use crate::adapters::{Kind, QuotaResult};
use crate::engine::wire_duration;
use crate::self_metrics::PolicyMetrics;
use mixer_proto::mixer::check_response::QuotaResult as WireQuota;
use mixer_proto::mixer::{CheckResponse, ReferencedAttributes};
use mixer_proto::{CheckAnswer, EncodedPrecondition};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// One quota whose answer comes from an allocation still to run.
#[derive(Debug)]
struct Pending {
    quota: String,
    amount: i64,
    allocation: Allocation,
    referenced: ReferencedAttributes,
}

/// The engine's answer to one Check.
#[derive(Debug)]
#[must_use = "pending quota allocations must be awaited with finish()"]
pub struct Checked {
    /// Complete but for the quotas still pending.
    response: CheckAnswer,
    pending: Vec<Pending>,
    /// Allocations whose answers are not used (a later quota handler of the same quota: Mixer
    /// keeps the first answer) but which must still run.
    also: Vec<Allocation>,
}

impl Checked {
    pub(crate) fn new(response: CheckResponse) -> Checked {
        Checked {
            response: CheckAnswer::from(response),
            pending: Vec::new(),
            also: Vec::new(),
        }
    }

    /// A cached answer: a precondition and no quotas.
    pub(crate) fn cached(precondition: EncodedPrecondition) -> Checked {
        Checked {
            response: CheckAnswer::Encoded(precondition),
            pending: Vec::new(),
            also: Vec::new(),
        }
    }

    /// Adds a quota's result to the response.
    pub(crate) fn quota(&mut self, name: String, result: WireQuota) {
        if let CheckAnswer::Message(r) = &mut self.response {
            r.quotas.insert(name, result);
        }
    }

    /// The answer as it stands: complete when [`Checked::is_complete`], else without the
    /// pending quotas.
    pub fn into_answer(self) -> CheckAnswer {
        self.response
    }

    pub(crate) fn defer(
        &mut self,
        quota: &str,
        amount: i64,
        allocation: Allocation,
        referenced: ReferencedAttributes,
        also: Vec<Allocation>,
    ) {
        self.pending.push(Pending {
            quota: quota.to_owned(),
            amount,
            allocation,
            referenced,
        });
        self.also.extend(also);
    }

    pub(crate) fn also(&mut self, also: Vec<Allocation>) {
        self.also.extend(also);
    }

    /// Nothing left to await: `response` is the answer.
    pub fn is_complete(&self) -> bool {
        self.pending.is_empty() && self.also.is_empty()
    }

    /// Runs the pending allocations one after another and returns the complete response. A
    /// failed allocation is answered UNAVAILABLE (or INTERNAL) and counted.
    pub async fn finish(self, metrics: &PolicyMetrics) -> CheckAnswer {
        let Checked {
            response,
            pending,
            also,
        } = self;
        // only a computed answer has pending allocations
        let CheckAnswer::Message(mut response) = response else {
            return response;
        };
        for p in pending {
            let r = run(p.allocation, metrics).await;
            metrics.quota_allocation(p.amount, r.granted);
            response.quotas.insert(
                p.quota,
                WireQuota {
                    valid_duration: Some(wire_duration(r.valid_duration)),
                    granted_amount: r.granted,
                    referenced_attributes: Some(p.referenced),
                    status: Some(r.status),
                },
            );
        }
        for a in also {
            let _ = run(a, metrics).await;
        }
        CheckAnswer::Message(response)
    }
}

/// Seconds since the epoch of the last failure logged (failures are logged once a second).
static LAST_LOGGED: AtomicU64 = AtomicU64::new(0);

async fn run(a: Allocation, metrics: &PolicyMetrics) -> QuotaResult {
    let start = Instant::now();
    let r = a.run().await;
    metrics.adapter_call(Kind::RedisQuota, start.elapsed());
    match r {
        Ok(r) => r,
        Err(e) => {
            metrics.redisquota_error(Failure::of(&e));
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            if LAST_LOGGED.swap(now, Ordering::Relaxed) != now {
                tracing::warn!(error = %e, "redisquota allocation failed; answering the quota UNAVAILABLE (logged at most once a second)");
            }
            redisquota::failed(&e)
        }
    }
}
