//! The `notify` stage: posts each step of an incident's life to the incident's Slack thread,
//! as an AWS Chatbot custom notification ([`crate::chatbot`]) published to the SNS topic Chatbot
//! relays to the channel.
//!
//! Input: every responder-bus event (source `incident.responder`). The step it posts:
//!
//! | event | step | posted once per (state-table key) |
//! |---|---|---|
//! | `Incident Opened` | opened | `notify#<incident>#opened` |
//! | `Incident Updated` (signals joined, no-data notes) | joined | see below |
//! | `Incident Enriched` | diagnosed | `notify#<incident>#diagnosed` |
//! | `Runbook Started` / `Runbook Finished` | runbook | `notify#<incident>#runbook#<execution>#started` / `#finished` |
//! | `Signal Recovered` | recovered | `notify#<incident>#recovered#<signal fingerprint>` |
//! | `Incident Resolved` | resolved | `notify#<incident>#resolved` |
//! | `Incident Updated` with `resolution` (awaiting a responder) | resolved | `notify#<incident>#awaiting#<signal fingerprint>` |
//! | `Incident Escalated` | escalation | `notify#<incident>#escalated#<policy>#<stage>#<round>` (`#exhausted`) |
//! | `Incident Acknowledged` | escalation | `notify#<incident>#acknowledged` |
//! | `Incident Silenced` (set, lifted, ended) | escalation | `notify#<incident>#silence#<change>#<until, epoch s>` |
//! | `Signal Held`, downstream (folded into the incident) | joined | `notify#<incident>#downstream#<publication time / joined_interval>` |
//!
//! While a silence stands on the incident's key (`silence#<key>`), every other post is `muted`
//! except the resolution (and a recovery waiting for a responder).
//!
//! (`Incident Updated` whose `resolution.status` is `resolved` is posted as the resolution.)
//!
//! - The rules' `notifications` policy says which steps an impact posts; any other is `skipped`.
//! - The keys come from the content, not the EventBridge id, so a re-delivered event and a
//!   duplicate publication of the same step (triage publishes `Incident Opened` again when its
//!   completion write failed) both post once; the second is `ignored`. The keys are run-once
//!   keys: a key held by a live invocation fails this one (`EventInProgress`, Lambda retries),
//!   and a failed publish releases the key so the retry posts.
//! - **Storms** (`joined`): joined signals post at most one "N more signals joined" update per
//!   incident per `joined_interval`. The state table remembers the last update (`notify-joined#<incident>` →
//!   `{at, count}`; the opened post writes the first one, so joins right after opening are summed
//!   up too). Inside the interval a joined event is `throttled`. After it, every invocation that
//!   read the same last update competes for one key, `notify#<incident>#joined#<that update's
//!   time in ms, or "first">`, so exactly one posts; the others are `throttled`. A stored answer
//!   carries the update it made, so a lost write of the last update is repaired by the next
//!   invocation that finds the key already used.
//!
//! Every message (`render`) is checked with [`chatbot::validate`] before it is published: a message that
//! fails is a bug (`InvalidMessage`), never silently published for Chatbot to drop. Every field
//! is trimmed to the schema's caps, so any input renders a valid message.
//!
//! The SNS message attributes `impact` (Number), `service`, `step` and `rule` (String) let other
//! subscribers filter, e.g. an SMS subscription for impact 1–2 only.

mod changes;
mod escalation;
mod inspected;
mod instance;
mod joined;
mod links;
mod mrkdwn;
mod quiet;
mod render;

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::chatbot;
use crate::domain::{LifecycleDetail, LifecycleEvent, LifecycleKind, ResolutionStatus};
use crate::ports::{Notification, Notifier, PortError, ReferenceStore};
use crate::rules::{Escalation, NotificationPolicy, NotifyStep};
use crate::shell::{BusEvent, Failure, Invocation, Outcome, Stage, StageError};

pub use render::thread_id;

use render::Render;

/// What the notify stage did with an event (**contract**).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyAction {
    /// A message was published to the incident's thread.
    Posted,
    /// The incident's impact does not post this step.
    Skipped,
    /// A joined-signals update was posted less than `joined_interval` ago (or is being posted).
    Throttled,
    /// Already posted (a re-delivery or a duplicate publication), or nothing new to say.
    Ignored,
    /// The incident's key is silenced: nothing but the silence and the resolution posts.
    Muted,
}

/// The notify stage's answer for one event (**contract**).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyAnswer {
    pub action: NotifyAction,
    pub incident: Option<String>,
    pub step: Option<NotifyStep>,
    pub message_id: Option<String>,
    pub reason: String,
}

impl NotifyAnswer {
    fn new(
        action: NotifyAction,
        detail: &LifecycleDetail,
        step: NotifyStep,
        reason: impl Into<String>,
    ) -> Self {
        NotifyAnswer {
            action,
            incident: Some(detail.incident.id.clone()),
            step: Some(step),
            message_id: None,
            reason: reason.into(),
        }
    }
}

impl Outcome for NotifyAnswer {
    fn action(&self) -> &'static str {
        match self.action {
            NotifyAction::Posted => "posted",
            NotifyAction::Skipped => "skipped",
            NotifyAction::Throttled => "throttled",
            NotifyAction::Ignored => "ignored",
            NotifyAction::Muted => "muted",
        }
    }

    fn incident(&self) -> Option<&str> {
        self.incident.as_deref()
    }

    fn reason(&self) -> &str {
        &self.reason
    }
}

/// The answer for a step posted before: what it posted, as a no-op.
fn already_posted(
    first: Option<NotifyAnswer>,
    detail: &LifecycleDetail,
    step: NotifyStep,
) -> NotifyAnswer {
    let message_id = first.and_then(|f| f.message_id);
    NotifyAnswer {
        reason: match &message_id {
            Some(id) => format!("Already posted (message {id}); nothing done."),
            None => "Already posted; nothing done.".to_string(),
        },
        message_id,
        ..NotifyAnswer::new(NotifyAction::Ignored, detail, step, "")
    }
}

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Stage(#[from] StageError),
    /// The message we rendered fails the Chatbot schema: a bug. It was not published.
    #[error("the rendered Chatbot message is invalid (a bug; nothing was published): {}", .0.join("; "))]
    InvalidMessage(Vec<String>),
}

impl From<PortError> for NotifyError {
    fn from(e: PortError) -> Self {
        NotifyError::Stage(e.into())
    }
}

impl Failure for NotifyError {
    fn error_type(&self) -> &'static str {
        match self {
            NotifyError::Stage(e) => e.error_type(),
            NotifyError::InvalidMessage(_) => "InvalidMessage",
        }
    }
}

/// The notify stage with its ports.
pub struct Notify {
    notifier: Arc<dyn Notifier>,
    references: Arc<dyn ReferenceStore>,
    policy: NotificationPolicy,
    escalation: Escalation,
    buttons: Option<String>,
}

impl Notify {
    pub fn new(
        notifier: Arc<dyn Notifier>,
        references: Arc<dyn ReferenceStore>,
        policy: NotificationPolicy,
    ) -> Self {
        Notify {
            notifier,
            references,
            policy,
            escalation: Escalation::default(),
            buttons: None,
        }
    }

    /// The rules' escalation targets, for the Slack user groups a page mentions.
    pub fn with_escalation(mut self, escalation: Escalation) -> Self {
        self.escalation = escalation;
        self
    }

    /// The `escalate` function the Slack buttons invoke: every message names it in
    /// `additionalContext.escalate` for the custom actions' `$escalate`.
    pub fn with_buttons(mut self, function: Option<String>) -> Self {
        self.buttons = function;
        self
    }
}

#[async_trait]
impl Stage for Notify {
    const NAME: &'static str = "notify";
    const TAKES: &'static str = "the lifecycle events of incident.responder";
    const PUBLISHES: bool = false;
    type Input = BusEvent;
    type Answer = NotifyAnswer;
    type Error = NotifyError;

    async fn handle(
        &self,
        input: BusEvent,
        cx: &Invocation<'_>,
    ) -> Result<NotifyAnswer, NotifyError> {
        let BusEvent {
            event: lifecycle,
            origin,
        } = input;
        if lifecycle.kind == LifecycleKind::SignalHeld
            && lifecycle.detail.hold.as_ref().is_some_and(|h| {
                h.kind == crate::domain::HoldKind::Downstream && h.folded.is_none()
            })
        {
            return Ok(NotifyAnswer::new(
                NotifyAction::Ignored,
                &lifecycle.detail,
                NotifyStep::Joined,
                "A downstream signal looked at again, still folded: nothing new to post.",
            ));
        }
        let post = Post::of(&lifecycle)?;
        let detail = &lifecycle.detail;
        let step = post.step();
        let impact = detail.incident.impact;
        if !self.policy.posts(impact, step) {
            let posted: Vec<&str> = self
                .policy
                .steps_for(impact)
                .iter()
                .map(|s| s.as_str())
                .collect();
            let posted = if posted.is_empty() {
                "no steps".to_string()
            } else {
                format!("only {}", posted.join(", "))
            };
            return Ok(NotifyAnswer::new(
                NotifyAction::Skipped,
                detail,
                step,
                format!(
                    "Impact {impact} posts {posted}; `{}` ({}) is not posted.",
                    step.as_str(),
                    lifecycle.kind.detail_type()
                ),
            ));
        }
        if let Some(silence) =
            quiet::muted(self.references.as_ref(), post, detail, cx.now()).await?
        {
            return Ok(NotifyAnswer::new(
                NotifyAction::Muted,
                detail,
                step,
                format!(
                    "The incident is silenced by {} until {}: the {} post is muted.",
                    silence.by,
                    mrkdwn::utc(silence.until),
                    post.name()
                ),
            ));
        }
        if post == Post::Joined {
            return self.joined(&lifecycle, &origin, cx).await;
        }
        let key = match post {
            // Downstream folds post at most once per joined interval, counting all so far.
            Post::Downstream => {
                let every = self.policy.joined_interval_secs.max(60) as i64;
                format!(
                    "notify#{}#downstream#{}",
                    detail.incident.id,
                    lifecycle.time.timestamp() / every
                )
            }
            _ => once_key(post, detail),
        };
        let mentions = match &detail.escalation {
            Some(note) if post == Post::Escalated => escalation::mentions(&self.escalation, note),
            _ => Vec::new(),
        };
        let render = Render {
            post,
            kind: lifecycle.kind,
            detail,
            origin: &origin,
            key: &key,
            joined: None,
            mentions: &mentions,
            buttons: self.buttons.as_deref(),
        };
        let replay = |first| already_posted(first, detail, step);
        cx.once(&key, replay, |_| async {
            let message_id = self.publish(&render).await?;
            if post == Post::Opened {
                self.mark_opened(detail, cx).await;
            }
            Ok::<_, NotifyError>(NotifyAnswer {
                message_id: Some(message_id),
                ..NotifyAnswer::new(
                    NotifyAction::Posted,
                    detail,
                    step,
                    format!(
                        "Posted the {} message to the incident's thread.",
                        post.name()
                    ),
                )
            })
        })
        .await
    }
}

impl Notify {
    /// Renders, checks and publishes one message; returns SNS's message id.
    async fn publish(&self, render: &Render<'_>) -> Result<String, NotifyError> {
        let value = render.message().to_value();
        if let Err(problems) = chatbot::validate(&value) {
            return Err(NotifyError::InvalidMessage(problems));
        }
        let notification = Notification {
            message: value.to_string(),
            attributes: render.attributes(),
        };
        match self.notifier.publish(&notification).await {
            Ok(id) => Ok(id),
            Err(e) => {
                warn!(error = %e, post = render.post.name(), "publishing the notification failed");
                Err(e.into())
            }
        }
    }
}

/// The post an event makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Post {
    Opened,
    Joined,
    Diagnosed,
    RunbookStarted,
    RunbookFinished,
    Recovered,
    Resolved,
    /// The signal recovered but the incident waits for a responder.
    Awaiting,
    /// The on-call was paged, or nobody acknowledged.
    Escalated,
    Acknowledged,
    /// A silence set, lifted or ended.
    Silenced,
    /// A downstream signal folded into the incident.
    Downstream,
    /// What changed before the incident.
    Changes,
    /// The Lambda function, target group or RDS instance behind the alarm.
    Inspected,
}

impl Post {
    fn of(event: &LifecycleEvent) -> Result<Post, StageError> {
        let post = match event.kind {
            LifecycleKind::IncidentOpened => Post::Opened,
            LifecycleKind::IncidentUpdated => match &event.detail.resolution {
                Some(r) if r.status == ResolutionStatus::Resolved => Post::Resolved,
                Some(_) => Post::Awaiting,
                None => Post::Joined,
            },
            LifecycleKind::IncidentEnriched => Post::Diagnosed,
            LifecycleKind::ChangesGathered if event.detail.changes.is_some() => Post::Changes,
            LifecycleKind::ResourceInspected if event.detail.inspection.is_some() => {
                Post::Inspected
            }
            LifecycleKind::ResourceInspected => {
                return Err(StageError::MalformedEvent(
                    "responder bus `Resource Inspected` event: detail.inspection is missing"
                        .into(),
                ))
            }
            LifecycleKind::ChangesGathered => {
                return Err(StageError::MalformedEvent(
                    "responder bus `Changes Gathered` event: detail.changes is missing".into(),
                ))
            }
            LifecycleKind::RunbookStarted => Post::RunbookStarted,
            LifecycleKind::RunbookFinished => Post::RunbookFinished,
            LifecycleKind::SignalRecovered => Post::Recovered,
            LifecycleKind::IncidentResolved => Post::Resolved,
            LifecycleKind::IncidentEscalated => Post::Escalated,
            LifecycleKind::IncidentAcknowledged => Post::Acknowledged,
            LifecycleKind::IncidentSilenced if event.detail.silence.is_some() => Post::Silenced,
            LifecycleKind::SignalHeld if folded(&event.detail) => Post::Downstream,
            LifecycleKind::IncidentSilenced => {
                return Err(StageError::MalformedEvent(
                    "responder bus `Incident Silenced` event: detail.silence is missing".into(),
                ))
            }
            // A held signal that folded nowhere has no thread to post in.
            LifecycleKind::SignalHeld => {
                return Err(StageError::UnknownEvent(
                    "notify posts `Signal Held` only for a downstream signal folded into an incident"
                        .into(),
                ))
            }
            // resolve announces the resolution itself (`Incident Resolved`).
            LifecycleKind::ResolutionRequested => {
                return Err(StageError::UnknownEvent(
                    "notify does not post `Resolution Requested`: resolve's `Incident Resolved` says how it ended"
                        .into(),
                ))
            }
        };
        if matches!(post, Post::Escalated) && event.detail.escalation.is_none() {
            return Err(StageError::MalformedEvent(
                "responder bus `Incident Escalated` event: detail.escalation is missing".into(),
            ));
        }
        if matches!(post, Post::RunbookStarted | Post::RunbookFinished)
            && event.detail.automation.is_none()
        {
            return Err(StageError::MalformedEvent(format!(
                "responder bus `{}` event: detail.automation is missing (the runbook execution)",
                event.kind.detail_type()
            )));
        }
        Ok(post)
    }

    pub(super) fn step(self) -> NotifyStep {
        match self {
            Post::Opened => NotifyStep::Opened,
            Post::Joined => NotifyStep::Joined,
            Post::Diagnosed => NotifyStep::Diagnosed,
            Post::RunbookStarted | Post::RunbookFinished => NotifyStep::Runbook,
            Post::Recovered => NotifyStep::Recovered,
            Post::Resolved | Post::Awaiting => NotifyStep::Resolved,
            Post::Escalated | Post::Acknowledged | Post::Silenced => NotifyStep::Escalation,
            Post::Downstream => NotifyStep::Joined,
            Post::Changes | Post::Inspected => NotifyStep::Diagnosed,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Post::Opened => "opened",
            Post::Joined => "joined",
            Post::Diagnosed => "diagnosed",
            Post::RunbookStarted => "runbook-started",
            Post::RunbookFinished => "runbook-finished",
            Post::Recovered => "recovered",
            Post::Resolved => "resolved",
            Post::Awaiting => "awaiting",
            Post::Escalated => "escalated",
            Post::Acknowledged => "acknowledged",
            Post::Silenced => "silenced",
            Post::Downstream => "downstream",
            Post::Changes => "changes",
            Post::Inspected => "inspected",
        }
    }
}

/// The state-table key that makes a (non-joined) post happen once.
fn once_key(post: Post, detail: &LifecycleDetail) -> String {
    let id = &detail.incident.id;
    let execution = detail
        .automation
        .as_ref()
        .map(|r| r.execution_id.as_str())
        .unwrap_or("");
    let fingerprint = &detail.signal.fingerprint;
    match post {
        Post::Opened => format!("notify#{id}#opened"),
        Post::Joined => format!("notify#{id}#joined"),
        Post::Diagnosed => format!("notify#{id}#diagnosed"),
        Post::Changes => format!("notify#{id}#changes"),
        Post::Inspected => format!("notify#{id}#inspected"),
        Post::RunbookStarted => format!("notify#{id}#runbook#{execution}#started"),
        Post::RunbookFinished => format!("notify#{id}#runbook#{execution}#finished"),
        Post::Recovered => format!("notify#{id}#recovered#{fingerprint}"),
        Post::Resolved => format!("notify#{id}#resolved"),
        Post::Awaiting => format!("notify#{id}#awaiting#{fingerprint}"),
        Post::Escalated => match &detail.escalation {
            Some(n) if n.exhausted => format!("notify#{id}#escalated#exhausted"),
            Some(n) => format!(
                "notify#{id}#escalated#{}#{}#{}",
                n.policy.as_deref().unwrap_or(""),
                n.stage.unwrap_or(0),
                n.round.unwrap_or(0)
            ),
            None => format!("notify#{id}#escalated"),
        },
        Post::Acknowledged => format!("notify#{id}#acknowledged"),
        Post::Silenced => match &detail.silence {
            Some(n) => format!(
                "notify#{id}#silence#{}#{}",
                serde_json::to_value(n.change)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                n.until.timestamp()
            ),
            None => format!("notify#{id}#silence"),
        },
        // One per joined interval (see `Notify::handle`); this is the first.
        Post::Downstream => format!("notify#{id}#downstream#first"),
    }
}

/// Whether a `Signal Held` is a downstream signal folded into an incident.
fn folded(detail: &LifecycleDetail) -> bool {
    detail
        .hold
        .as_ref()
        .is_some_and(|h| h.kind == crate::domain::HoldKind::Downstream)
        && !detail.incident.id.is_empty()
}

#[cfg(test)]
mod tests;
