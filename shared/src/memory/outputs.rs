//! Where the responder's work goes, in memory: the bus, the topic, the report bucket and SSM
//! Automation, each keeping what it was given.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{lock, Faults};
use crate::diagnosis::{AutomationExecution, AutomationRequest};
use crate::domain::LifecycleEvent;
use crate::ports::{
    AutomationRunner, EventBus, Notification, Notifier, Page, Pager, PortError, PortErrorKind,
    ReportStore, StoredReport, Timer, Timers,
};

/// The responder bus in memory: keeps what was published, in order.
#[derive(Debug, Default)]
pub struct MemoryBus {
    events: Mutex<Vec<LifecycleEvent>>,
    faults: Faults,
}

impl MemoryBus {
    pub fn new() -> Self {
        MemoryBus::default()
    }

    pub fn fail_next(&self, n: usize, kind: PortErrorKind) {
        self.faults.set("publish", n, kind);
    }

    pub fn events(&self) -> Vec<LifecycleEvent> {
        lock(&self.events).clone()
    }
}

#[async_trait]
impl EventBus for MemoryBus {
    async fn publish(&self, event: &LifecycleEvent) -> Result<(), PortError> {
        self.faults.check("publish")?;
        lock(&self.events).push(event.clone());
        Ok(())
    }
}

/// SSM Automation in memory: `start` is idempotent on the client token; executions stay
/// `InProgress` until [`MemoryAutomation::finish`].
#[derive(Debug, Default)]
pub struct MemoryAutomation {
    executions: Mutex<Vec<(AutomationRequest, AutomationExecution)>>,
    faults: Faults,
}

impl MemoryAutomation {
    pub fn new() -> Self {
        MemoryAutomation::default()
    }

    /// The next `n` calls of `operation` (`start`, `execution`) fail.
    pub fn fail_next(&self, operation: &'static str, n: usize, kind: PortErrorKind) {
        self.faults.set(operation, n, kind);
    }

    /// Every execution started, with the request that started it.
    pub fn started(&self) -> Vec<(AutomationRequest, AutomationExecution)> {
        lock(&self.executions).clone()
    }

    /// Ends an execution with `status`, `outputs` and an optional failure message.
    pub fn finish(
        &self,
        id: &str,
        status: &str,
        outputs: &[(&str, &str)],
        failure_message: Option<&str>,
        at: DateTime<Utc>,
    ) {
        for (_, execution) in lock(&self.executions).iter_mut() {
            if execution.id == id {
                execution.status = status.to_string();
                execution.outputs = outputs
                    .iter()
                    .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
                    .collect();
                execution.failure_message = failure_message.map(str::to_string);
                execution.ended = Some(at);
            }
        }
    }
}

#[async_trait]
impl AutomationRunner for MemoryAutomation {
    async fn start(&self, request: &AutomationRequest) -> Result<String, PortError> {
        self.faults.check("start")?;
        let mut executions = lock(&self.executions);
        if let Some((_, existing)) = executions
            .iter()
            .find(|(r, _)| r.client_token.eq_ignore_ascii_case(&request.client_token))
        {
            return Ok(existing.id.clone());
        }
        let n = executions.len() + 1;
        let id = format!("00000000-0000-4000-8000-{n:012x}");
        executions.push((
            request.clone(),
            AutomationExecution {
                id: id.clone(),
                document: Some(request.document.clone()),
                status: "InProgress".into(),
                outputs: BTreeMap::new(),
                failure_message: None,
                started: None,
                ended: None,
            },
        ));
        Ok(id)
    }

    async fn execution(&self, id: &str) -> Result<AutomationExecution, PortError> {
        self.faults.check("execution")?;
        lock(&self.executions)
            .iter()
            .find(|(_, e)| e.id == id)
            .map(|(_, e)| e.clone())
            .ok_or_else(|| {
                PortError::new(
                    "GetAutomationExecution",
                    PortErrorKind::NotFound,
                    format!("Automation execution {id} does not exist"),
                )
            })
    }
}

/// The notification topic in memory: keeps every published message, in order.
#[derive(Debug, Default)]
pub struct MemoryNotifier {
    published: Mutex<Vec<Notification>>,
    faults: Faults,
}

impl MemoryNotifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next `n` publishes fail with `kind`.
    pub fn fail_next(&self, n: usize, kind: PortErrorKind) {
        self.faults.set("publish", n, kind);
    }

    pub fn published(&self) -> Vec<Notification> {
        lock(&self.published).clone()
    }
}

#[async_trait]
impl Notifier for MemoryNotifier {
    async fn publish(&self, notification: &Notification) -> Result<String, PortError> {
        self.faults.check("publish")?;
        let mut published = lock(&self.published);
        published.push(notification.clone());
        Ok(format!("00000000-0000-4000-8000-{:012}", published.len()))
    }
}

/// The report bucket in memory (in `eu-west-1`): key → (body, content type).
#[derive(Debug)]
pub struct MemoryReports {
    bucket: String,
    objects: Mutex<BTreeMap<String, (String, String)>>,
    puts: Mutex<usize>,
    faults: Faults,
}

impl MemoryReports {
    pub fn new(bucket: impl Into<String>) -> Self {
        MemoryReports {
            bucket: bucket.into(),
            objects: Mutex::new(BTreeMap::new()),
            puts: Mutex::new(0),
            faults: Faults::default(),
        }
    }

    /// The next `n` puts fail with `kind`.
    pub fn fail_next(&self, n: usize, kind: PortErrorKind) {
        self.faults.set("put", n, kind);
    }

    /// Every object: key → (body, content type).
    pub fn objects(&self) -> BTreeMap<String, (String, String)> {
        lock(&self.objects).clone()
    }

    /// How many puts succeeded (a retry overwrites the same key).
    pub fn puts(&self) -> usize {
        *lock(&self.puts)
    }
}

#[async_trait]
impl ReportStore for MemoryReports {
    async fn put(
        &self,
        key: &str,
        body: &str,
        content_type: &str,
    ) -> Result<StoredReport, PortError> {
        self.faults.check("put")?;
        lock(&self.objects).insert(
            key.to_string(),
            (body.to_string(), content_type.to_string()),
        );
        *lock(&self.puts) += 1;
        Ok(StoredReport {
            uri: format!("s3://{}/{key}", self.bucket),
            console_url: crate::console::s3_object("eu-west-1", &self.bucket, key),
        })
    }
}

/// EventBridge Scheduler in memory: the timers set and not yet fired or cancelled.
#[derive(Debug, Default)]
pub struct MemoryTimers {
    timers: Mutex<BTreeMap<String, Timer>>,
    cancelled: Mutex<Vec<String>>,
    faults: Faults,
}

impl MemoryTimers {
    pub fn new() -> Self {
        MemoryTimers::default()
    }

    /// The next `n` calls of `operation` (`set`, `cancel`) fail.
    pub fn fail_next(&self, operation: &'static str, n: usize, kind: PortErrorKind) {
        self.faults.set(operation, n, kind);
    }

    /// The timers pending, by time.
    pub fn pending(&self) -> Vec<Timer> {
        let mut timers: Vec<Timer> = lock(&self.timers).values().cloned().collect();
        timers.sort_by(|a, b| a.at.cmp(&b.at).then(a.name.cmp(&b.name)));
        timers
    }

    /// Takes the timers due at `now` (as Scheduler fires and then deletes them), by time.
    pub fn fire_due(&self, now: DateTime<Utc>) -> Vec<Timer> {
        let due: Vec<Timer> = self.pending().into_iter().filter(|t| t.at <= now).collect();
        let mut timers = lock(&self.timers);
        for timer in &due {
            timers.remove(&timer.name);
        }
        due
    }

    /// The names cancelled, in order.
    pub fn cancelled(&self) -> Vec<String> {
        lock(&self.cancelled).clone()
    }
}

#[async_trait]
impl Timers for MemoryTimers {
    async fn set(&self, timer: &Timer) -> Result<bool, PortError> {
        self.faults.check("set")?;
        let mut timers = lock(&self.timers);
        if timers.contains_key(&timer.name) {
            return Ok(false);
        }
        timers.insert(timer.name.clone(), timer.clone());
        Ok(true)
    }

    async fn cancel(&self, name: &str) -> Result<(), PortError> {
        self.faults.check("cancel")?;
        lock(&self.timers).remove(name);
        lock(&self.cancelled).push(name.to_string());
        Ok(())
    }
}

/// The paging topics in memory: every page, with the topic name it went to.
#[derive(Debug, Default)]
pub struct MemoryPager {
    pages: Mutex<Vec<(String, Page)>>,
    faults: Faults,
}

impl MemoryPager {
    pub fn new() -> Self {
        MemoryPager::default()
    }

    pub fn fail_next(&self, n: usize, kind: PortErrorKind) {
        self.faults.set("page", n, kind);
    }

    pub fn pages(&self) -> Vec<(String, Page)> {
        lock(&self.pages).clone()
    }
}

#[async_trait]
impl Pager for MemoryPager {
    async fn page(&self, topic: &str, page: &Page) -> Result<String, PortError> {
        self.faults.check("page")?;
        let mut pages = lock(&self.pages);
        pages.push((topic.to_string(), page.clone()));
        Ok(format!("page-{}", pages.len()))
    }
}
