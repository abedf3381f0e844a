//! The `notify` function: posts each step of an incident's life to the incident's Slack thread,
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
//!
//! (`Incident Updated` whose `resolution.status` is `resolved` is posted as the resolution.)
//!
//! - The rules' `notifications` policy says which steps an impact posts; any other is `skipped`.
//! - The keys come from the content, not the EventBridge id, so a re-delivered event and a
//!   duplicate publication of the same step (triage publishes `Incident Opened` again when its
//!   completion write failed) both post once; the second is `ignored`. The keys go through
//!   [`run_once`]: a key held by a live invocation fails this one (`EventInProgress`, Lambda
//!   retries), and a failed publish releases the key so the retry posts.
//! - **Storms**: joined signals post at most one "N more signals joined" update per incident per
//!   `joined_interval`. The state table remembers the last update (`notify-joined#<incident>` →
//!   `{at, count}`; the opened post writes the first one, so joins right after opening are summed
//!   up too). Inside the interval a joined event is `throttled`. After it, every invocation that
//!   read the same last update competes for one key, `notify#<incident>#joined#<that update's
//!   time in ms, or "first">`, so exactly one posts; the others are `throttled`. A stored answer
//!   carries the update it made, so a lost write of the last update is repaired by the next
//!   invocation that finds the key already used.
//!
//! Every message is checked with [`chatbot::validate`] before it is published: a message that
//! fails is a bug (`InvalidMessage`), never silently published for Chatbot to drop. Every field
//! is trimmed to the schema's caps, so any input renders a valid message.
//!
//! The SNS message attributes `impact` (Number), `service`, `step` and `rule` (String) let other
//! subscribers filter, e.g. an SMS subscription for impact 1–2 only.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{error, info, warn, Instrument};

use crate::chatbot::{self, CustomNotification, Metadata};
use crate::console::{host as console_host, percent_encode};
use crate::diagnosis::RunbookRun;
use crate::domain::{
    stable_hash, trim_chars, Backend, LifecycleDetail, LifecycleEvent, LifecycleKind,
    ResolutionStatus, SignalKind, SignalState, RESPONDER_SOURCE,
};
use crate::handlers::envelope::{self, EnvelopeError};
use crate::handlers::once::{run_once, Once};
use crate::ports::{AttributeValue, Clock, Notification, Notifier, PortError, StateStore};
use crate::rules::{NotificationPolicy, NotifyStep};

/// How long the last joined-signals update is remembered.
const JOINED_MARK_KEEP: Duration = Duration::days(7);
/// The longest throttle interval honoured (the rules allow at most a day).
const JOINED_INTERVAL_MAX_SECS: u64 = 7 * 86_400;
/// A signal summary, reason or check inside a description, in characters.
const TEXT_MAX: usize = 600;
/// A runbook output value or parameter value, in characters.
const VALUE_MAX: usize = 200;
/// Runbook outputs listed.
const OUTPUTS_LISTED: usize = 8;
/// Diagnosis notes and resolution checks listed.
const ITEMS_LISTED: usize = 6;
/// Console links listed for the resources.
const LINKS_LISTED: usize = 4;

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

/// Why an invocation failed. Each variant has a stable error type for Lambda's error report.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// Not a responder-bus event.
    #[error("{0}")]
    UnknownEvent(String),
    /// A responder-bus event without the fields it must have.
    #[error("{0}")]
    MalformedEvent(String),
    #[error("{0}")]
    Port(#[from] PortError),
    #[error("this step is being posted by another invocation right now; retry later")]
    EventInProgress,
    /// The message we rendered fails the Chatbot schema: a bug. It was not published.
    #[error("the rendered Chatbot message is invalid (a bug; nothing was published): {}", .0.join("; "))]
    InvalidMessage(Vec<String>),
}

impl NotifyError {
    /// Stable names for the Lambda error report (`errorType`).
    pub fn error_type(&self) -> &'static str {
        match self {
            NotifyError::UnknownEvent(_) => "UnknownEvent",
            NotifyError::MalformedEvent(_) => "MalformedEvent",
            NotifyError::Port(e) => e.kind.error_type(),
            NotifyError::EventInProgress => "EventInProgress",
            NotifyError::InvalidMessage(_) => "InvalidMessage",
        }
    }
}

impl From<EnvelopeError> for NotifyError {
    fn from(e: EnvelopeError) -> Self {
        match e {
            EnvelopeError::Foreign(_) => NotifyError::UnknownEvent(e.to_string()),
            EnvelopeError::Malformed { .. } => NotifyError::MalformedEvent(e.to_string()),
        }
    }
}

/// The notify handler with its ports.
pub struct Notify {
    notifier: Arc<dyn Notifier>,
    state: Arc<dyn StateStore>,
    clock: Arc<dyn Clock>,
    policy: NotificationPolicy,
}

impl Notify {
    pub fn new(
        notifier: Arc<dyn Notifier>,
        state: Arc<dyn StateStore>,
        clock: Arc<dyn Clock>,
        policy: NotificationPolicy,
    ) -> Self {
        Notify {
            notifier,
            state,
            clock,
            policy,
        }
    }

    /// Handles one event. `deadline` is the invocation's deadline: a post it starts is leased
    /// until then, so a retry after a crash can take over.
    pub async fn handle(
        &self,
        event: &Value,
        deadline: DateTime<Utc>,
    ) -> Result<NotifyAnswer, NotifyError> {
        let event_id = event.get("id").and_then(Value::as_str).unwrap_or("");
        let span = tracing::info_span!("notify", service = "notify", event_id);
        let result = self
            .handle_event(event, deadline)
            .instrument(span.clone())
            .await;
        match &result {
            Ok(answer) => span.in_scope(|| {
                info!(
                    action = ?answer.action,
                    incident = answer.incident.as_deref().unwrap_or(""),
                    step = answer.step.map(NotifyStep::as_str).unwrap_or(""),
                    message_id = answer.message_id.as_deref().unwrap_or(""),
                    reason = %answer.reason,
                    "handled"
                )
            }),
            Err(e) => span
                .in_scope(|| error!(error_type = e.error_type(), error = %e, "event not handled")),
        }
        result
    }

    async fn handle_event(
        &self,
        event: &Value,
        deadline: DateTime<Utc>,
    ) -> Result<NotifyAnswer, NotifyError> {
        if !envelope::has_source(event, RESPONDER_SOURCE) {
            let what = match (
                event.get("source").and_then(Value::as_str),
                event.get("detail-type").and_then(Value::as_str),
            ) {
                (Some(source), Some(detail_type)) => format!("`{source}` `{detail_type}` event"),
                (Some(source), None) => format!("`{source}` event without a detail-type"),
                _ if event.is_object() => {
                    "payload without an EventBridge source and detail-type".into()
                }
                _ => "payload that is not a JSON object".into(),
            };
            return Err(NotifyError::UnknownEvent(format!(
                "the notify stage does not handle this {what} (it takes the lifecycle events of \
                 {RESPONDER_SOURCE})"
            )));
        }
        let lifecycle = envelope::parse_lifecycle(event)?;
        let origin = Origin::of(event, &lifecycle.detail);
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
        if post == Post::Joined {
            return self.joined(&lifecycle, &origin, deadline).await;
        }
        let key = once_key(post, detail);
        let render = Render {
            post,
            kind: lifecycle.kind,
            detail,
            origin: &origin,
            key: &key,
            joined: None,
        };
        let ran = run_once(
            self.state.as_ref(),
            self.clock.as_ref(),
            &key,
            deadline,
            |_| async {
                let message_id = self.publish(&render).await?;
                if post == Post::Opened {
                    self.mark_opened(detail).await;
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
            },
        )
        .await?;
        match ran {
            Once::Done(answer) => Ok(answer),
            Once::Replayed(stored) => Ok(already_posted(&stored, detail, step)),
            Once::Busy => Err(NotifyError::EventInProgress),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Joined signals: at most one update per interval.

    async fn joined(
        &self,
        lifecycle: &LifecycleEvent,
        origin: &Origin,
        deadline: DateTime<Utc>,
    ) -> Result<NotifyAnswer, NotifyError> {
        let detail = &lifecycle.detail;
        let step = NotifyStep::Joined;
        let mark_key = joined_mark_key(&detail.incident.id);
        let now = self.clock.now();
        let last = self.last_mark(&mark_key, now).await?;
        let interval = joined_interval(self.policy.joined_interval_secs);
        if let Some(last) = &last {
            if now - last.at < interval {
                return Ok(NotifyAnswer::new(
                    NotifyAction::Throttled,
                    detail,
                    step,
                    format!(
                        "The thread was last updated at {}; the next joined-signals update comes \
                         no sooner than {} ({} signals so far).",
                        utc(last.at),
                        utc(last.at + interval),
                        count_text(detail.signal_count)
                    ),
                ));
            }
        }
        let baseline = last.as_ref().map(|m| m.count).unwrap_or(1);
        let more = detail.signal_count.map(|t| t.saturating_sub(baseline));
        if more == Some(0) && detail.signal.state != SignalState::Informational {
            return Ok(NotifyAnswer::new(
                NotifyAction::Ignored,
                detail,
                step,
                format!(
                    "No signal joined since the last update ({} signals); nothing to post.",
                    baseline
                ),
            ));
        }
        let key = format!(
            "notify#{}#joined#{}",
            detail.incident.id,
            last.as_ref()
                .map(|m| m.at.timestamp_millis().to_string())
                .unwrap_or_else(|| "first".to_string())
        );
        let joined = Joined {
            more,
            total: detail.signal_count,
            since: last.as_ref().map(|m| m.at),
        };
        let render = Render {
            post: Post::Joined,
            kind: lifecycle.kind,
            detail,
            origin,
            key: &key,
            joined: Some(joined),
        };
        let ran = run_once(
            self.state.as_ref(),
            self.clock.as_ref(),
            &key,
            deadline,
            |_| async {
                let message_id = self.publish(&render).await?;
                let mark = JoinedMark {
                    at: now,
                    count: detail.signal_count.unwrap_or(baseline).max(baseline),
                };
                self.remember_mark(&mark_key, &mark).await;
                let answer = NotifyAnswer {
                    message_id: Some(message_id),
                    ..NotifyAnswer::new(
                        NotifyAction::Posted,
                        detail,
                        step,
                        format!(
                            "Posted the joined-signals update ({} more, {} in total) to the \
                             incident's thread.",
                            more.map(|n| n.to_string())
                                .unwrap_or_else(|| "some".to_string()),
                            count_text(detail.signal_count)
                        ),
                    )
                };
                Ok::<_, NotifyError>(JoinedPost { answer, mark })
            },
        )
        .await?;
        match ran {
            Once::Done(post) => Ok(post.answer),
            Once::Replayed(stored) => {
                let posted = serde_json::from_str::<JoinedPost>(&stored).ok();
                if let Some(posted) = &posted {
                    self.repair_mark(&mark_key, &posted.mark).await;
                }
                Ok(NotifyAnswer {
                    message_id: posted.and_then(|p| p.answer.message_id),
                    ..NotifyAnswer::new(
                        NotifyAction::Throttled,
                        detail,
                        step,
                        "Another invocation already posted the joined-signals update for this \
                         interval.",
                    )
                })
            }
            Once::Busy => Ok(NotifyAnswer::new(
                NotifyAction::Throttled,
                detail,
                step,
                "Another invocation is posting the joined-signals update for this interval.",
            )),
        }
    }

    async fn last_mark(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<JoinedMark>, NotifyError> {
        let Some(stored) = self.state.recall(key, now).await? else {
            return Ok(None);
        };
        match serde_json::from_str(&stored) {
            Ok(mark) => Ok(Some(mark)),
            Err(e) => {
                warn!(key, error = %e, "unreadable joined-signals mark; treating it as absent");
                Ok(None)
            }
        }
    }

    /// Remembers the last joined-signals update. A failure is only logged: the post is out, and
    /// failing now would make Lambda's retry post it again. The next invocation repairs it.
    async fn remember_mark(&self, key: &str, mark: &JoinedMark) {
        let value = serde_json::to_string(mark).unwrap_or_default();
        let expires = self.clock.now() + JOINED_MARK_KEEP;
        if let Err(e) = self.state.remember(key, &value, expires).await {
            warn!(key, error = %e, "could not remember the joined-signals update");
        }
    }

    /// After a lost [`Notify::remember_mark`]: the stored answer of the competed-for key holds
    /// the update that was made; remember it unless a later one is remembered already.
    async fn repair_mark(&self, key: &str, posted: &JoinedMark) {
        let now = self.clock.now();
        match self.last_mark(key, now).await {
            Ok(Some(current)) if current.at >= posted.at => {}
            Ok(_) => self.remember_mark(key, posted).await,
            Err(e) => warn!(key, error = %e, "could not read the joined-signals mark"),
        }
    }

    /// The opened post starts the joined-signals count (unless an update is remembered already,
    /// when events arrive out of order).
    async fn mark_opened(&self, detail: &LifecycleDetail) {
        let key = joined_mark_key(&detail.incident.id);
        let now = self.clock.now();
        match self.state.recall(&key, now).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                let mark = JoinedMark {
                    at: now,
                    count: detail.signal_count.unwrap_or(1),
                };
                self.remember_mark(&key, &mark).await;
            }
            Err(e) => warn!(key, error = %e, "could not read the joined-signals mark"),
        }
    }

    // -----------------------------------------------------------------------------------------

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

/// The last joined-signals update of an incident (or its opened post).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct JoinedMark {
    at: DateTime<Utc>,
    /// The incident's signal count the update reported.
    count: u64,
}

/// What a joined-signals key stores: the answer, and the update it made.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct JoinedPost {
    answer: NotifyAnswer,
    mark: JoinedMark,
}

fn joined_mark_key(incident: &str) -> String {
    format!("notify-joined#{incident}")
}

fn joined_interval(secs: u64) -> Duration {
    let secs = i64::try_from(secs.min(JOINED_INTERVAL_MAX_SECS)).unwrap_or(0);
    Duration::try_seconds(secs).unwrap_or_else(|| Duration::days(1))
}

fn count_text(count: Option<u64>) -> String {
    count
        .map(|n| n.to_string())
        .unwrap_or_else(|| "unknown".to_string())
}

/// The answer for a step posted before: what it posted, as a no-op.
fn already_posted(stored: &str, detail: &LifecycleDetail, step: NotifyStep) -> NotifyAnswer {
    let first = serde_json::from_str::<NotifyAnswer>(stored).ok();
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

/// The post an event makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Post {
    Opened,
    Joined,
    Diagnosed,
    RunbookStarted,
    RunbookFinished,
    Recovered,
    Resolved,
    /// The signal recovered but the incident waits for a responder.
    Awaiting,
}

impl Post {
    fn of(event: &LifecycleEvent) -> Result<Post, NotifyError> {
        let post = match event.kind {
            LifecycleKind::IncidentOpened => Post::Opened,
            LifecycleKind::IncidentUpdated => match &event.detail.resolution {
                Some(r) if r.status == ResolutionStatus::Resolved => Post::Resolved,
                Some(_) => Post::Awaiting,
                None => Post::Joined,
            },
            LifecycleKind::IncidentEnriched => Post::Diagnosed,
            LifecycleKind::RunbookStarted => Post::RunbookStarted,
            LifecycleKind::RunbookFinished => Post::RunbookFinished,
            LifecycleKind::SignalRecovered => Post::Recovered,
            LifecycleKind::IncidentResolved => Post::Resolved,
        };
        if matches!(post, Post::RunbookStarted | Post::RunbookFinished)
            && event.detail.automation.is_none()
        {
            return Err(NotifyError::MalformedEvent(format!(
                "responder bus `{}` event: detail.automation is missing (the runbook execution)",
                event.kind.detail_type()
            )));
        }
        Ok(post)
    }

    fn step(self) -> NotifyStep {
        match self {
            Post::Opened => NotifyStep::Opened,
            Post::Joined => NotifyStep::Joined,
            Post::Diagnosed => NotifyStep::Diagnosed,
            Post::RunbookStarted | Post::RunbookFinished => NotifyStep::Runbook,
            Post::Recovered => NotifyStep::Recovered,
            Post::Resolved | Post::Awaiting => NotifyStep::Resolved,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Post::Opened => "opened",
            Post::Joined => "joined",
            Post::Diagnosed => "diagnosed",
            Post::RunbookStarted => "runbook-started",
            Post::RunbookFinished => "runbook-finished",
            Post::Recovered => "recovered",
            Post::Resolved => "resolved",
            Post::Awaiting => "awaiting",
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
        Post::RunbookStarted => format!("notify#{id}#runbook#{execution}#started"),
        Post::RunbookFinished => format!("notify#{id}#runbook#{execution}#finished"),
        Post::Recovered => format!("notify#{id}#recovered#{fingerprint}"),
        Post::Resolved => format!("notify#{id}#resolved"),
        Post::Awaiting => format!("notify#{id}#awaiting#{fingerprint}"),
    }
}

/// Where the responder runs (the account and region of the event that reached it): the incident
/// record and the runbook execution live there.
#[derive(Debug, Clone)]
struct Origin {
    account: String,
    region: String,
}

impl Origin {
    fn of(event: &Value, detail: &LifecycleDetail) -> Origin {
        let field = |name: &str, fallback: &str| {
            event
                .get(name)
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
                .unwrap_or(fallback)
                .to_string()
        };
        Origin {
            account: field("account", &detail.signal.account),
            region: field("region", &detail.signal.region),
        }
    }
}

/// How many signals joined since the last update.
#[derive(Debug, Clone, Copy)]
struct Joined {
    more: Option<u64>,
    total: Option<u64>,
    /// The last update (or the opened post), if one is remembered.
    since: Option<DateTime<Utc>>,
}

// ---------------------------------------------------------------------------------------------
// The message.

/// Everything one message is rendered from: pure, no I/O.
struct Render<'a> {
    post: Post,
    kind: LifecycleKind,
    detail: &'a LifecycleDetail,
    origin: &'a Origin,
    /// The post's state-table key (the message id derives from it).
    key: &'a str,
    joined: Option<Joined>,
}

impl Render<'_> {
    fn message(&self) -> CustomNotification {
        let incident = &self.detail.incident;
        let mut message = CustomNotification::new(self.description());
        message.id = Some(format!("notify-{}", stable_hash(&[self.key], 32)));
        message.content.title = Some(self.title());
        if matches!(self.post, Post::Opened | Post::Diagnosed | Post::Awaiting) {
            message.content.next_steps = incident
                .next_steps
                .iter()
                .map(|s| trim_chars(&plain(s), chatbot::NEXT_STEP_MAX))
                .filter(|s| !s.is_empty())
                .take(chatbot::NEXT_STEPS_MAX)
                .collect();
        }
        let keywords = [
            format!(
                "Impact {} ({})",
                incident.impact.get(),
                incident.impact.label()
            ),
            incident.service.clone(),
            self.origin.account.clone(),
            self.origin.region.clone(),
        ];
        message.content.keywords = unique(
            keywords
                .iter()
                .map(|k| trim_chars(&plain(k), chatbot::KEYWORD_MAX)),
        )
        .into_iter()
        .take(chatbot::KEYWORDS_MAX)
        .collect();
        let mut resources: Vec<String> = incident.resources.clone();
        if self.post == Post::Resolved {
            if let Some(report) = self
                .detail
                .resolution
                .as_ref()
                .and_then(|r| r.report.as_ref())
            {
                resources.push(report.uri.clone());
            }
        }
        let related_resources = unique(
            resources
                .iter()
                .map(|r| r.trim().to_string())
                .filter(|r| r.chars().count() <= chatbot::RELATED_RESOURCE_MAX),
        )
        .into_iter()
        .take(chatbot::RELATED_RESOURCES_MAX)
        .collect();
        let mut context = BTreeMap::new();
        let mut put = |key: &str, value: &str| {
            let value = trim_chars(&plain(value), chatbot::CONTEXT_VALUE_MAX);
            if !value.is_empty() {
                context.insert(key.to_string(), value);
            }
        };
        put("incident", &incident.id);
        put("backend", incident.backend.as_str());
        put("rule", &incident.rule);
        put("impact", &incident.impact.get().to_string());
        put("step", self.post.step().as_str());
        if let Some(run) = &self.detail.automation {
            if matches!(self.post, Post::RunbookStarted | Post::RunbookFinished) {
                put("execution", &run.execution_id);
            }
        }
        message.metadata = Some(Metadata {
            thread_id: Some(thread_id(&incident.id)),
            summary: Some(trim_chars(
                &plain(&format!(
                    "[Impact {}] {} — {}: {}",
                    incident.impact.get(),
                    incident.service,
                    self.what(),
                    incident.title
                )),
                chatbot::SUMMARY_MAX,
            )),
            event_type: Some(self.kind.detail_type().to_string()),
            related_resources,
            additional_context: context,
        });
        message
    }

    /// SNS message attributes, for subscription filter policies.
    fn attributes(&self) -> BTreeMap<String, AttributeValue> {
        let incident = &self.detail.incident;
        let mut attributes = BTreeMap::new();
        attributes.insert(
            "impact".to_string(),
            AttributeValue::Number(incident.impact.get().to_string()),
        );
        for (name, value) in [
            ("service", incident.service.as_str()),
            ("step", self.post.step().as_str()),
            ("rule", incident.rule.as_str()),
        ] {
            // SNS refuses empty attribute values.
            if !value.trim().is_empty() {
                attributes.insert(name.to_string(), AttributeValue::String(value.to_string()));
            }
        }
        attributes
    }

    /// `:large_orange_circle: [Impact 2 · High] site-to-site-vpn — Opened: Site-to-Site VPN …`
    fn title(&self) -> String {
        let incident = &self.detail.incident;
        let prefix = format!(
            "{} [Impact {} · {}] {} — {}: ",
            self.emoji(),
            incident.impact.get(),
            incident.impact.label(),
            plain(&incident.service),
            self.what()
        );
        let room = chatbot::TITLE_MAX.saturating_sub(prefix.chars().count());
        let title = trim_chars(&plain(&incident.title), room);
        trim_chars(&format!("{prefix}{title}"), chatbot::TITLE_MAX)
    }

    /// One Slack emoji: the impact's colour for the opening post, the step's for the others.
    fn emoji(&self) -> &'static str {
        match self.post {
            Post::Opened => match self.detail.incident.impact.get() {
                1 => ":red_circle:",
                2 => ":large_orange_circle:",
                3 => ":large_yellow_circle:",
                4 => ":large_blue_circle:",
                _ => ":white_circle:",
            },
            Post::Joined => ":heavy_plus_sign:",
            Post::Diagnosed => ":mag:",
            Post::RunbookStarted => ":gear:",
            Post::RunbookFinished => {
                if self.runbook().is_some_and(|r| succeeded(&r.status)) {
                    ":clipboard:"
                } else {
                    ":warning:"
                }
            }
            Post::Recovered => ":large_green_circle:",
            Post::Resolved => ":white_check_mark:",
            Post::Awaiting => ":raised_hand:",
        }
    }

    /// The step in a few words.
    fn what(&self) -> String {
        match self.post {
            Post::Opened => "Opened".to_string(),
            Post::Joined => match self.joined.and_then(|j| j.more) {
                Some(1) => "1 more signal joined".to_string(),
                Some(n) if n > 1 => format!("{n} more signals joined"),
                _ => "Update".to_string(),
            },
            Post::Diagnosed => "Diagnosed".to_string(),
            Post::RunbookStarted => "Runbook started".to_string(),
            Post::RunbookFinished => match self.runbook().map(|r| r.status.as_str()) {
                Some(status) if succeeded(status) => "Runbook succeeded".to_string(),
                Some("Failed") => "Runbook failed".to_string(),
                Some("TimedOut") => "Runbook timed out".to_string(),
                Some("Cancelled") => "Runbook cancelled".to_string(),
                Some(status) => format!("Runbook finished ({})", plain(status)),
                None => "Runbook finished".to_string(),
            },
            Post::Recovered => "Signal recovered, verifying".to_string(),
            Post::Resolved => "Resolved".to_string(),
            Post::Awaiting => "Recovered, waiting for a responder".to_string(),
        }
    }

    fn runbook(&self) -> Option<&RunbookRun> {
        self.detail.automation.as_ref()
    }

    fn description(&self) -> String {
        let mut lines = match self.post {
            Post::Opened => self.opened(),
            Post::Joined => self.joined(),
            Post::Diagnosed => self.diagnosed(),
            Post::RunbookStarted | Post::RunbookFinished => self.runbook_lines(),
            Post::Recovered => self.recovered(),
            Post::Resolved => self.resolved(),
            Post::Awaiting => self.awaiting(),
        };
        if self.post != Post::Awaiting {
            lines.push(format!("*Incident:* {}", self.incident_link()));
        }
        let text = lines.join("\n");
        trim_chars(text.trim(), chatbot::DESCRIPTION_MAX)
    }

    fn opened(&self) -> Vec<String> {
        let detail = self.detail;
        let incident = &detail.incident;
        let signal = &detail.signal;
        let mut lines = vec![
            format!("*What fired:* {}", text(&signal.summary)),
            format!("*Since:* {}", utc(signal.time)),
            format!(
                "*Rule:* {} · severity {} · tier {}",
                code(&incident.rule),
                incident.severity,
                plain(&incident.tier)
            ),
        ];
        let links = self.resource_links();
        if !links.is_empty() {
            lines.push(format!("*Console:* {}", links.join(" · ")));
        }
        let then = match &incident.runbook {
            Some(runbook) => format!(
                "diagnosis, then runbook {}",
                code(&trim_chars(&runbook.document, VALUE_MAX))
            ),
            None => "diagnosis (no runbook)".to_string(),
        };
        let closing = if incident.auto_resolve {
            "resolves itself once the recovery is verified"
        } else {
            "a responder resolves it"
        };
        lines.push(format!("*Automation:* {then}; {closing}."));
        lines
    }

    fn joined(&self) -> Vec<String> {
        let detail = self.detail;
        let signal = &detail.signal;
        let joined = self.joined.unwrap_or(Joined {
            more: None,
            total: detail.signal_count,
            since: None,
        });
        let since = match joined.since {
            Some(at) => format!("since the last update ({})", utc(at)),
            None => "since the incident opened".to_string(),
        };
        let total = joined
            .total
            .map(|t| format!(" — {t} in total"))
            .unwrap_or_default();
        let mut lines = vec![match joined.more {
            Some(1) => format!("*1 more signal joined* {since}{total}."),
            Some(n) if n > 1 => format!("*{n} more signals joined* {since}{total}."),
            _ => format!("*Update:* {}", text(&detail.reason)),
        }];
        let label = if signal.state == SignalState::Informational {
            "Latest (no data)"
        } else {
            "Latest"
        };
        lines.push(format!(
            "*{label}:* {} ({})",
            text(&signal.summary),
            utc(signal.time)
        ));
        lines
    }

    fn diagnosed(&self) -> Vec<String> {
        let Some(diagnosis) = &self.detail.diagnosis else {
            return vec![format!("*Diagnosis:* none — {}", text(&self.detail.reason))];
        };
        let summary = if diagnosis.summary.trim().is_empty() {
            "(no summary)".to_string()
        } else {
            text(&diagnosis.summary)
        };
        let mut lines = vec![format!("*Diagnosis:* {summary}")];
        if let Some(vpn) = &diagnosis.vpn {
            let connection = &vpn.connection;
            let mut parts = vec![format!(
                "{} ({})",
                code(&connection.id),
                plain(&connection.state)
            )];
            if let Some(gateway) = connection
                .transit_gateway_id
                .as_ref()
                .or(connection.vpn_gateway_id.as_ref())
            {
                parts.push(format!("gateway {}", code(gateway)));
            }
            if let Some(cgw) = &connection.customer_gateway_id {
                let ip = vpn
                    .customer_gateway
                    .as_ref()
                    .and_then(|c| c.ip_address.as_deref())
                    .map(|ip| format!(" ({})", plain(ip)))
                    .unwrap_or_default();
                parts.push(format!("customer gateway {}{ip}", code(cgw)));
            }
            lines.push(format!("*VPN:* {}", parts.join(" · ")));
            if !connection.tunnels.is_empty() {
                lines.push("*Tunnels:*".to_string());
                for tunnel in connection.tunnels.iter().take(ITEMS_LISTED) {
                    let status = match tunnel.status {
                        Some(s) if s == crate::diagnosis::TunnelStatus::Down => {
                            format!("*{}*", s.as_str())
                        }
                        Some(s) => s.as_str().to_string(),
                        None => "no telemetry".to_string(),
                    };
                    let mut line = format!("• {} {status}", code(&tunnel.outside_ip));
                    if let Some(at) = tunnel.last_status_change {
                        line.push_str(&format!(" since {}", utc(at)));
                    }
                    if let Some(message) = tunnel
                        .status_message
                        .as_deref()
                        .filter(|m| !m.trim().is_empty())
                    {
                        line.push_str(&format!(" — {}", trim_chars(&plain(message), VALUE_MAX)));
                    }
                    lines.push(line);
                }
            }
        }
        list(&mut lines, "Notes", &diagnosis.notes);
        lines
    }

    fn runbook_lines(&self) -> Vec<String> {
        let Some(run) = self.runbook() else {
            return vec![format!("*Runbook:* {}", text(&self.detail.reason))];
        };
        let finished = self.post == Post::RunbookFinished;
        let status = plain(&run.status);
        let mut lines = vec![if finished {
            format!(
                "*Runbook:* {} finished — *{status}*",
                code(&trim_chars(&run.document, VALUE_MAX))
            )
        } else {
            format!(
                "*Runbook:* {} started — {status}",
                code(&trim_chars(&run.document, VALUE_MAX))
            )
        }];
        lines.push(format!(
            "*Execution:* {}",
            link(
                &format!(
                    "https://{}/systems-manager/automation/execution/{}?region={}",
                    console_host(&self.origin.region),
                    percent_encode(&run.execution_id),
                    self.origin.region
                ),
                &run.execution_id
            )
        ));
        if !finished {
            if !run.parameters.is_empty() {
                let values: Vec<String> = run
                    .parameters
                    .iter()
                    .map(|(name, values)| {
                        format!(
                            "{}={}",
                            plain(name),
                            trim_chars(&plain(&values.join(",")), VALUE_MAX)
                        )
                    })
                    .collect();
                lines.push(format!(
                    "*Parameters:* {}",
                    trim_chars(&values.join(", "), TEXT_MAX)
                ));
            }
            return lines;
        }
        if let Some(failure) = run
            .failure_message
            .as_deref()
            .filter(|m| !m.trim().is_empty())
        {
            lines.push(format!("*Failure:* {}", text(failure)));
        }
        if run.outputs.is_empty() {
            lines.push("*Outputs:* none".to_string());
        } else {
            lines.push("*Outputs:*".to_string());
            for (name, values) in run.outputs.iter().take(OUTPUTS_LISTED) {
                lines.push(format!(
                    "• {}: {}",
                    code(&trim_chars(name, VALUE_MAX)),
                    trim_chars(&plain(&values.join(", ")), VALUE_MAX)
                ));
            }
            if run.outputs.len() > OUTPUTS_LISTED {
                lines.push(format!(
                    "• … and {} more on the incident's timeline",
                    run.outputs.len() - OUTPUTS_LISTED
                ));
            }
        }
        lines
    }

    fn recovered(&self) -> Vec<String> {
        let detail = self.detail;
        let next = if detail.incident.auto_resolve {
            "the recovery is being verified; the incident resolves itself if it holds"
        } else {
            "the recovery is being verified; the rule leaves resolving the incident to a person"
        };
        vec![
            format!("*Cleared:* {}", text(&detail.signal.summary)),
            format!("*At:* {}", utc(detail.signal.time)),
            format!("*Next:* {next}."),
        ]
    }

    fn resolved(&self) -> Vec<String> {
        let detail = self.detail;
        let Some(resolution) = &detail.resolution else {
            return vec![format!("*Resolved.* {}", text(&detail.reason))];
        };
        let mut head = "*Resolved*".to_string();
        if let Some(secs) = resolution.time_to_resolve_secs {
            head.push_str(&format!(
                " {} after the first signal",
                crate::report::human_duration(Duration::seconds(secs))
            ));
        }
        if let Some(count) = detail.signal_count {
            head.push_str(&format!(
                " · {count} signal{}",
                if count == 1 { "" } else { "s" }
            ));
        }
        let mut lines = vec![head];
        let label = if resolution.verified {
            "Verified"
        } else {
            "Checks"
        };
        list(&mut lines, label, &resolution.checks);
        if let Some(report) = &resolution.report {
            lines.push(format!(
                "*Post-incident record:* {}",
                link(&report.url, &report.uri)
            ));
        }
        lines
    }

    fn awaiting(&self) -> Vec<String> {
        let detail = self.detail;
        let why = detail
            .resolution
            .as_ref()
            .and_then(|r| r.waiting_reason.as_deref())
            .filter(|r| !r.trim().is_empty())
            .map(text)
            .unwrap_or_else(|| text(&detail.reason));
        let mut lines = vec![format!("*Not resolved:* {why}")];
        if let Some(resolution) = &detail.resolution {
            list(&mut lines, "Checks", &resolution.checks);
        }
        lines.push(format!(
            "*Signal cleared:* {} ({})",
            text(&detail.signal.summary),
            utc(detail.signal.time)
        ));
        lines.push(format!(
            "*To do:* resolve it in {} when satisfied.",
            self.incident_link()
        ));
        lines
    }

    /// The incident record in its console.
    fn incident_link(&self) -> String {
        let incident = &self.detail.incident;
        let host = console_host(&self.origin.region);
        let region = &self.origin.region;
        match incident.backend {
            Backend::OpsCenter => link(
                &format!(
                    "https://{host}/systems-manager/opsitems/{}?region={region}",
                    percent_encode(&incident.id)
                ),
                &format!("OpsItem {}", incident.id),
            ),
            // The console's page of one incident record could not be confirmed from the
            // documentation, so this links the Incident Manager incident list (open incidents
            // first) and names the record's ARN next to it.
            Backend::IncidentManager => format!(
                "{} (record {})",
                link(
                    &format!("https://{host}/systems-manager/incidents/home?region={region}"),
                    "Incident Manager"
                ),
                code(&incident.id)
            ),
        }
    }

    /// Console links for the signal's resources that have a known console page.
    fn resource_links(&self) -> Vec<String> {
        let detail = self.detail;
        let signal = &detail.signal;
        let mut links: Vec<String> = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        let candidates = std::iter::once(&signal.resource)
            .chain(&signal.resources)
            .chain(&detail.incident.resources);
        for resource in candidates {
            if let Some((label, url)) = console_link(resource, &signal.region) {
                if !seen.contains(&url) {
                    links.push(link(&url, &label));
                    seen.push(url);
                }
            }
        }
        if let Some((label, url)) = finding_link(detail) {
            if !seen.contains(&url) {
                links.push(link(&url, &label));
            }
        }
        links.truncate(LINKS_LISTED);
        links
    }
}

/// `incident-` and 20 hex characters of the incident id: one Slack thread per incident.
pub fn thread_id(incident: &str) -> String {
    format!("incident-{}", stable_hash(&[incident], 20))
}

fn succeeded(status: &str) -> bool {
    matches!(status, "Success" | "CompletedWithSuccess")
}

/// `*Label:*` and one bullet per item (at most a few).
fn list(lines: &mut Vec<String>, label: &str, items: &[String]) {
    let items: Vec<&String> = items.iter().filter(|i| !i.trim().is_empty()).collect();
    if items.is_empty() {
        return;
    }
    lines.push(format!("*{label}:*"));
    for item in items.iter().take(ITEMS_LISTED) {
        lines.push(format!("• {}", text(item)));
    }
    if items.len() > ITEMS_LISTED {
        lines.push(format!("• … and {} more", items.len() - ITEMS_LISTED));
    }
}

/// Outside text on one line, trimmed for a description.
fn text(value: &str) -> String {
    trim_chars(&plain(value), TEXT_MAX)
}

/// Outside text made safe for one line of Slack mrkdwn: white space collapsed, control
/// characters dropped, and `<` (which starts links and mentions such as `<!channel>`) shown as
/// `‹`.
fn plain(value: &str) -> String {
    value
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if c == '<' { '‹' } else { c })
        .collect()
}

/// Inline code; a backtick inside becomes a quote.
fn code(value: &str) -> String {
    format!("`{}`", plain(value).replace('`', "'"))
}

/// A Slack mrkdwn link.
fn link(url: &str, label: &str) -> String {
    let label: String = plain(label)
        .chars()
        .map(|c| match c {
            '|' => '¦',
            '>' => '›',
            other => other,
        })
        .collect();
    let url: String = url
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .map(|c| match c {
            '|' => "%7C".to_string(),
            '>' => "%3E".to_string(),
            '<' => "%3C".to_string(),
            other => other.to_string(),
        })
        .collect();
    format!("<{url}|{label}>")
}

/// `2024-05-14 03:02:10 UTC`.
fn utc(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// Each value once, non-empty, in first-seen order.
fn unique(values: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for value in values {
        if !value.is_empty() && !out.contains(&value) {
            out.push(value);
        }
    }
    out
}

/// The console page of a resource (alarm, VPN connection, EC2 instance), by ARN or bare VPN id.
fn console_link(resource: &str, fallback_region: &str) -> Option<(String, String)> {
    let resource = resource.trim();
    let vpc = |region: &str, id: &str| {
        (
            format!("VPN connection {id}"),
            format!(
                "https://{}/vpcconsole/home?region={region}#VpnConnectionDetails:VpnConnectionId={}",
                console_host(region),
                percent_encode(id)
            ),
        )
    };
    if resource.starts_with("vpn-") && !resource.contains(['/', ':']) {
        return Some(vpc(fallback_region, resource));
    }
    let mut parts = resource.splitn(6, ':');
    let (prefix, _partition, service, region, _account, rest) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if prefix != "arn" {
        return None;
    }
    let region = if region.is_empty() {
        fallback_region
    } else {
        region
    };
    let host = console_host(region);
    match service {
        "cloudwatch" => {
            let name = rest.strip_prefix("alarm:")?;
            Some((
                format!("Alarm {name}"),
                format!(
                    "https://{host}/cloudwatch/home?region={region}#alarmsV2:alarm/{}",
                    percent_encode(name)
                ),
            ))
        }
        "ec2" => {
            if let Some(id) = rest.strip_prefix("vpn-connection/") {
                return Some(vpc(region, id));
            }
            let id = rest.strip_prefix("instance/")?;
            Some((
                format!("Instance {id}"),
                format!(
                    "https://{host}/ec2/home?region={region}#InstanceDetails:instanceId={}",
                    percent_encode(id)
                ),
            ))
        }
        _ => None,
    }
}

/// The finding in its console (GuardDuty, Security Hub), as `enrich` links it.
fn finding_link(detail: &LifecycleDetail) -> Option<(String, String)> {
    let signal = &detail.signal;
    let id = signal.finding_id.as_deref()?;
    let region = &signal.region;
    let host = console_host(region);
    match signal.kind {
        SignalKind::GuardDutyFinding => Some((
            "GuardDuty finding".to_string(),
            format!(
                "https://{host}/guardduty/home?region={region}#/findings?fId={}",
                percent_encode(id)
            ),
        )),
        SignalKind::SecurityHubFinding => Some((
            "Security Hub finding".to_string(),
            format!(
                "https://{host}/securityhub/home?region={region}#/findings?search=Id%3D%255Coperator%255C%253AEQUALS%255C%253A{}",
                percent_encode(&percent_encode(id))
            ),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
