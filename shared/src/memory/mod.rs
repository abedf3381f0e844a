//! In-memory implementations of the ports, one module per port module: for handler tests and
//! for the offline rule tester. They keep the adapters' semantics — the contract suites
//! (`contract`) run them and the real adapters through the same cases — and record every call
//! so tests can assert what a user would see. Each can be told to fail its next calls.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Duration, Utc};

use crate::ports::{Clock, PortError, PortErrorKind};

mod history;
mod incidents;
mod observe;
mod outputs;
mod resources;
mod state;

pub use history::{MemoryHealth, MemoryStacks, MemoryTrail};
pub use incidents::{MemoryIncidents, StoredIncident};
pub use observe::{MemoryAlarms, MemoryCalendars, MemoryMetrics, MemoryNetwork};
pub use outputs::{
    MemoryAutomation, MemoryBus, MemoryNotifier, MemoryPager, MemoryReports, MemoryTimers,
};
pub use resources::MemoryResources;
pub use state::{MemoryChanges, MemoryDedupe, MemoryReferences, MemoryRunOnce};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means another test thread panicked; the data is still usable.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Failures to inject: the next `n` calls of an operation fail with `kind`.
#[derive(Debug, Default)]
struct Faults {
    pending: Mutex<HashMap<&'static str, (usize, PortErrorKind)>>,
}

impl Faults {
    fn set(&self, operation: &'static str, n: usize, kind: PortErrorKind) {
        lock(&self.pending).insert(operation, (n, kind));
    }

    fn check(&self, operation: &'static str) -> Result<(), PortError> {
        if let Some((left, kind)) = lock(&self.pending).get_mut(operation) {
            if *left > 0 {
                *left -= 1;
                return Err(PortError::new(operation, *kind, "injected failure"));
            }
        }
        Ok(())
    }
}

/// A clock that stands still until moved.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    pub fn new(now: DateTime<Utc>) -> Self {
        ManualClock {
            now: Mutex::new(now),
        }
    }

    pub fn advance(&self, by: Duration) {
        let mut now = lock(&self.now);
        *now += by;
    }

    pub fn set(&self, to: DateTime<Utc>) {
        *lock(&self.now) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *lock(&self.now)
    }
}
