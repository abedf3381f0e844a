//! Each piece of work once, Powertools-style, on the run-once store: the one mechanism behind
//! triage's occurrences, enrich's incidents, runbook's starts and finishes, notify's posts and
//! resolve's recoveries.
//!
//! [`run_once`] begins the key (an in-progress record leased until the invocation's deadline),
//! runs the work, and stores its answer. A re-delivery finds the stored answer and replays it
//! without side effects; an invocation that finds the key held by a live one is told so (the
//! caller fails it, and Lambda retries later); a failure releases the key, so Lambda's retry
//! starts at once and repeats the work with the same client tokens.

use std::future::Future;

use chrono::{DateTime, Duration, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::{info, warn};

use crate::ports::{Begin, Clock, PortError, RunOnceStore};

/// How long handled work is remembered, so re-deliveries are recognised. EventBridge retries
/// for up to 24 hours, and Lambda's asynchronous retries stay well inside that.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::hours(24);

/// The shortest lease, for an invocation whose deadline is (nearly) past.
pub const MIN_LEASE: Duration = Duration::seconds(30);

/// What became of the work.
#[derive(Debug)]
pub enum Once<A> {
    /// It ran now; here is its answer (stored for re-deliveries).
    Done(A),
    /// It ran before; here is the answer stored then (`None` when it cannot be read back).
    Replayed(Option<A>),
    /// Another live invocation is running it right now.
    Busy,
}

/// Runs `work` once for `key`. `work` gets the lease's end (the time until which this
/// invocation holds the key).
pub async fn run_once<A, E, F, Fut>(
    runs: &dyn RunOnceStore,
    clock: &dyn Clock,
    key: &str,
    deadline: DateTime<Utc>,
    work: F,
) -> Result<Once<A>, E>
where
    A: Serialize + DeserializeOwned,
    E: From<PortError>,
    F: FnOnce(DateTime<Utc>) -> Fut,
    Fut: Future<Output = Result<A, E>>,
{
    let now = clock.now();
    let lease_until = deadline.max(now + MIN_LEASE);
    match runs
        .begin(key, now, lease_until, now + IDEMPOTENCY_WINDOW)
        .await?
    {
        Begin::Started => {}
        Begin::Completed(stored) => {
            info!(
                key,
                "re-delivery of work already done; its answer is replayed"
            );
            let first = serde_json::from_str(&stored)
                .inspect_err(|e| warn!(key, error = %e, "the stored answer cannot be read back"))
                .ok();
            return Ok(Once::Replayed(first));
        }
        Begin::InProgress => {
            info!(key, "another invocation holds this work's key");
            return Ok(Once::Busy);
        }
    }
    let result = async {
        let answer = work(lease_until).await?;
        let stored = serde_json::to_string(&answer).unwrap_or_default();
        runs.complete(key, &stored, clock.now() + IDEMPOTENCY_WINDOW)
            .await?;
        Ok(answer)
    }
    .await;
    if result.is_err() {
        // Let Lambda's retry start at once rather than wait out this invocation's lease.
        if let Err(release) = runs.abandon(key).await {
            warn!(error = %release, key, "could not release the failed work");
        }
    }
    result.map(Once::Done)
}
