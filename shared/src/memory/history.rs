//! What changed, in memory: CloudTrail's event history, CloudFormation's stacks, AWS Health.

use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{lock, Faults};
use crate::changes::{HealthIssue, StackFacts, TrailEvent, TrailLookup};
use crate::ports::{Health, PortError, PortErrorKind, Stacks, Trail};

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

/// AWS Health: the open issues it holds, or no support plan. `describe_events` can be made to
/// fail; every call is recorded as its services and region.
#[derive(Debug, Default)]
pub struct MemoryHealth {
    issues: Mutex<Vec<HealthIssue>>,
    unsubscribed: Mutex<bool>,
    calls: Mutex<Vec<String>>,
    faults: Faults,
}

impl MemoryHealth {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&self, issue: HealthIssue) {
        lock(&self.issues).push(issue);
    }

    /// The account has no Business, Enterprise On-Ramp or Enterprise support plan.
    pub fn unsubscribe(&self) {
        *lock(&self.unsubscribed) = true;
    }

    /// The next `n` reads fail with `kind`.
    pub fn fail_next(&self, n: usize, kind: PortErrorKind) {
        self.faults.set("describe_events", n, kind);
    }

    /// Every call, as `SERVICE,SERVICE@region`.
    pub fn calls(&self) -> Vec<String> {
        lock(&self.calls).clone()
    }
}

#[async_trait]
impl Health for MemoryHealth {
    async fn open_issues(
        &self,
        services: &[String],
        region: &str,
    ) -> Result<Option<Vec<HealthIssue>>, PortError> {
        lock(&self.calls).push(format!("{}@{region}", services.join(",")));
        self.faults.check("describe_events")?;
        if *lock(&self.unsubscribed) {
            return Ok(None);
        }
        Ok(Some(
            lock(&self.issues)
                .iter()
                .filter(|i| i.region == region && services.contains(&i.service))
                .cloned()
                .collect(),
        ))
    }
}
