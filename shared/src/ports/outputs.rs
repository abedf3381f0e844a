//! Where the responder's work goes: the responder bus, the Slack topic, the report bucket, SSM
//! Automation, the timers, and the paging topics.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::PortError;
use crate::diagnosis::{AutomationExecution, AutomationRequest};
use crate::domain::LifecycleEvent;

/// The responder bus.
#[async_trait]
pub trait EventBus: Send + Sync {
    /// Publishes one lifecycle event; an entry the bus refuses is an error.
    async fn publish(&self, event: &LifecycleEvent) -> Result<(), PortError>;
}

/// One message attribute on a notification (SNS `MessageAttributes`): subscribers filter on them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttributeValue {
    /// SNS `String`.
    String(String),
    /// SNS `Number` (the decimal text).
    Number(String),
}

/// A message for the notification topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// The message body: an AWS Chatbot custom notification (JSON).
    pub message: String,
    /// Message attributes (`impact`, `service`, `step`, …).
    pub attributes: BTreeMap<String, AttributeValue>,
}

/// The notification topic (SNS `Publish`).
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Publishes one message; returns the topic's message id.
    async fn publish(&self, notification: &Notification) -> Result<String, PortError>;
}

/// Where a stored post-incident record can be found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredReport {
    /// `s3://<bucket>/<key>`.
    pub uri: String,
    /// The object in the S3 console.
    pub console_url: String,
}

/// The post-incident record store (S3 `PutObject` on `REPORT_BUCKET`).
#[async_trait]
pub trait ReportStore: Send + Sync {
    /// Writes (or overwrites) one object; a retry with the same key and body is harmless.
    async fn put(
        &self,
        key: &str,
        body: &str,
        content_type: &str,
    ) -> Result<StoredReport, PortError>;
}

/// SSM Automation.
#[async_trait]
pub trait AutomationRunner: Send + Sync {
    /// `StartAutomationExecution`; returns the execution id. Idempotent on
    /// `request.client_token`: a retry with the same token returns the same execution.
    async fn start(&self, request: &AutomationRequest) -> Result<String, PortError>;

    /// `GetAutomationExecution`; NotFound when the execution does not exist.
    async fn execution(&self, id: &str) -> Result<AutomationExecution, PortError>;
}

/// A one-time timer: at `at`, the function the timers invoke gets `input` (EventBridge
/// Scheduler, an `at(...)` schedule deleted after it fires).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timer {
    /// Deterministic, so that a retried step sets the same timer once: 1–64 of
    /// `0-9A-Za-z-_.`.
    pub name: String,
    pub at: DateTime<Utc>,
    /// The JSON the function is invoked with.
    pub input: String,
}

/// One-time timers (EventBridge Scheduler, in the stack's schedule group).
#[async_trait]
pub trait Timers: Send + Sync {
    /// Sets the timer; one already set under this name is left as it is (`false`).
    async fn set(&self, timer: &Timer) -> Result<bool, PortError>;

    /// Cancels the timer; one that is gone (fired or cancelled) is not an error.
    async fn cancel(&self, name: &str) -> Result<(), PortError>;
}

/// A page: one message in each subscriber's form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page {
    /// An e-mail's subject line.
    pub subject: String,
    /// The whole page as text (e-mail, and any protocol without its own form).
    pub text: String,
    /// A short form for SMS.
    pub sms: String,
    /// The page as JSON, for HTTPS, SQS and Lambda subscribers (incident-management tools'
    /// event integrations).
    pub json: String,
    /// Message attributes (`impact`, `service`, `target`), for subscription filter policies.
    pub attributes: BTreeMap<String, AttributeValue>,
}

/// The paging topics, by the names the rules' escalation targets give them.
#[async_trait]
pub trait Pager: Send + Sync {
    /// Publishes `page` on the topic bound to `topic`; returns the topic's message id.
    async fn page(&self, topic: &str, page: &Page) -> Result<String, PortError>;
}
