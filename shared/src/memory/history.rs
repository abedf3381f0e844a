//! What changed, in memory: CloudTrail's event history and CloudFormation's stacks.

use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{lock, Faults};
use crate::changes::{StackFacts, TrailEvent, TrailLookup};
use crate::ports::{PortError, PortErrorKind, Stacks, Trail};

/// CloudTrail's event history: events recorded per resource name. `lookup_events` can be made
/// to fail.
#[derive(Debug, Default)]
pub struct MemoryTrail {
    events: Mutex<Vec<(String, TrailEvent)>>,
    faults: Faults,
    calls: Mutex<Vec<String>>,
}

impl MemoryTrail {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `event` for the resource named `resource`.
    pub fn record(&self, resource: &str, event: TrailEvent) {
        lock(&self.events).push((resource.to_string(), event));
    }

    /// The next `n` lookups fail with `kind`.
    pub fn fail_next(&self, n: usize, kind: PortErrorKind) {
        self.faults.set("lookup_events", n, kind);
    }

    /// The resources looked up, in order.
    pub fn calls(&self) -> Vec<String> {
        lock(&self.calls).clone()
    }
}

#[async_trait]
impl Trail for MemoryTrail {
    async fn writes(
        &self,
        resource: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        max: usize,
    ) -> Result<TrailLookup, PortError> {
        self.faults.check("lookup_events")?;
        lock(&self.calls).push(resource.to_string());
        let mut found: Vec<TrailEvent> = lock(&self.events)
            .iter()
            .filter(|(r, e)| r == resource && e.time >= since && e.time <= until)
            .filter(|(_, e)| e.read_only != Some(true))
            .map(|(_, e)| e.clone())
            .collect();
        found.sort_by_key(|e| std::cmp::Reverse(e.time));
        found.truncate(max);
        Ok(TrailLookup {
            events: found,
            examined_back_to: None,
        })
    }
}

/// CloudFormation's stacks. `describe_stacks` can be made to fail.
#[derive(Debug, Default)]
pub struct MemoryStacks {
    stacks: Mutex<Vec<StackFacts>>,
    faults: Faults,
}

impl MemoryStacks {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&self, stack: StackFacts) {
        lock(&self.stacks).push(stack);
    }

    /// The next `n` reads fail with `kind`.
    pub fn fail_next(&self, n: usize, kind: PortErrorKind) {
        self.faults.set("describe_stacks", n, kind);
    }
}

#[async_trait]
impl Stacks for MemoryStacks {
    async fn stack(&self, name: &str) -> Result<StackFacts, PortError> {
        self.faults.check("describe_stacks")?;
        lock(&self.stacks)
            .iter()
            .find(|s| s.name == name)
            .cloned()
            .ok_or_else(|| {
                PortError::new(
                    "DescribeStacks",
                    PortErrorKind::NotFound,
                    format!("Stack with id {name} does not exist"),
                )
            })
    }
}
