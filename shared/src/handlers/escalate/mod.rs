//! The `escalate` stage: pages the on-call by the rules' escalation policy until someone
//! acknowledges, on one-time timers (EventBridge Scheduler), and hears the Slack buttons.
//!
//! Input (**contract**, README "Escalation"):
//! - responder-bus `Incident Opened`: records the incident and, when its policy (rules'
//!   `escalation`, by rule, service and impact) pages, runs the first step at once; `Incident
//!   Updated` (a raised impact) starts a policy the incident did not have; `Incident Resolved`
//!   stops paging and cancels the pending timer;
//! - a timer's `{"escalation_step": {"incident", "policy", "stage", "round", "at"}}`: runs that
//!   step;
//! - `Runbook Started` / `Runbook Finished`: sets / deletes the runbook watchdog's timers
//!   ([`watch`]);
//! - `Signal Held`: sets the timer that has triage look at the held signal again ([`hold`]);
//! - a Slack button's `{"action": "acknowledge" | "escalate" | "resolve" | "silence_1h" |
//!   "silence_open" | "unsilence", "incident": <id>}` (an AWS Chatbot custom action invoking
//!   this function's `buttons` alias); silences ([`silence`]) and their end's timer
//!   `{"silence_end": {"incident", "until"}}`;
//! - what people do in the console ([`console`]): OpsCenter's `OpsItem Update`, Incident
//!   Manager's `UpdateIncidentRecord` through CloudTrail. An acknowledgement stops paging; a
//!   resolution (there, or the Resolve button) is handed to `resolve` as `Resolution Requested`,
//!   which settles the key, verifies what it can and writes the record ("resolved by …").
//!
//! A step ([`step`]) pages each of its stage's targets once per incident × stage × round
//! (run-once keys), writes the timeline, publishes `Incident Escalated` (notify posts it to the
//! thread, with the rules' Slack mentions) and sets the timer of the next step, named
//! deterministically so that a retried step sets it once. A step that finds the incident
//! acknowledged, resolved (by the state table, or by the backend: checked before every page) or
//! past its policy pages nobody.

pub mod console;
mod hold;
mod page;
mod people;
pub mod record;
mod silence;
mod step;
mod watch;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::{LifecycleDetail, LifecycleKind, ResolutionStatus};
use crate::ports::{DedupeStore, IncidentWriter, Pager, PortError, ReferenceStore, Timers};
use crate::rules::{Rules, Step};
use crate::shell::{BusEvent, Failure, Input, Invocation, Outcome, Stage, StageError};

use record::{EscalationRecord, Records, StepInput, Stop, StopReason};

pub use silence::SilenceEnd;

/// The alias AWS Chatbot invokes (`<function>:buttons`): only the buttons' payloads pass it, so
/// a channel member typing their own `lambda invoke` cannot hand escalate a forged bus, console
/// or timer event (**contract**).
pub const BUTTONS_ALIAS: &str = "buttons";

/// What the escalate stage did (**contract**).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EscalateAction {
    /// Targets were paged (and the next step set on a timer, if any).
    Paged,
    /// A step that pages nobody ran, or an incident was recorded: the next step is on a timer.
    Scheduled,
    /// Someone acknowledged the incident: paging stopped.
    Acknowledged,
    /// A person resolved it (Resolve in Slack, or the console): handed to resolve.
    ResolutionRequested,
    /// Paging stopped: the incident resolved, or every stage paged.
    Stopped,
    /// The incident's policy pages nobody (it stays in Slack).
    Skipped,
    /// Someone silenced the incident's key: no pages, no posts until the silence ends.
    Silenced,
    /// A silence ended or was lifted while the incident is open: escalation goes on.
    Resumed,
    /// Nothing to do: already done, acknowledged, resolved, or not this stage's event.
    Ignored,
}

/// The escalate stage's answer (**contract**).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalateAnswer {
    pub action: EscalateAction,
    pub incident: Option<String>,
    pub policy: Option<String>,
    /// The step run (stage and round from 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paged: Vec<String>,
    /// The step now pending on a timer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<record::Pending>,
    pub reason: String,
}

impl EscalateAnswer {
    fn new(action: EscalateAction, incident: &str, reason: impl Into<String>) -> Self {
        EscalateAnswer {
            action,
            incident: Some(incident.to_string()),
            policy: None,
            stage: None,
            round: None,
            paged: Vec::new(),
            next: None,
            reason: reason.into(),
        }
    }
}

impl Outcome for EscalateAnswer {
    fn action(&self) -> &'static str {
        match self.action {
            EscalateAction::Paged => "paged",
            EscalateAction::Scheduled => "scheduled",
            EscalateAction::Acknowledged => "acknowledged",
            EscalateAction::ResolutionRequested => "resolution_requested",
            EscalateAction::Stopped => "stopped",
            EscalateAction::Skipped => "skipped",
            EscalateAction::Silenced => "silenced",
            EscalateAction::Resumed => "resumed",
            EscalateAction::Ignored => "ignored",
        }
    }

    fn incident(&self) -> Option<&str> {
        self.incident.as_deref()
    }

    fn reason(&self) -> &str {
        &self.reason
    }
}

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum EscalateError {
    #[error(transparent)]
    Stage(#[from] StageError),
    /// A button or timer named an incident the responder has no record of.
    #[error("no incident {0} is known to the responder (was it opened by it, in this account and region?)")]
    UnknownIncident(String),
}

impl From<PortError> for EscalateError {
    fn from(e: PortError) -> Self {
        EscalateError::Stage(e.into())
    }
}

impl Failure for EscalateError {
    fn error_type(&self) -> &'static str {
        match self {
            EscalateError::Stage(e) => e.error_type(),
            EscalateError::UnknownIncident(_) => "UnknownIncident",
        }
    }
}

/// A person's action from a Slack button.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonAction {
    Acknowledge,
    Escalate,
    Resolve,
    /// Silence the incident's key for an hour.
    #[serde(rename = "silence_1h")]
    Silence1h,
    /// Silence it while the incident is open (at most the rules' `silences.max`).
    SilenceOpen,
    Unsilence,
}

/// What `escalate` takes.
#[derive(Debug, Clone, PartialEq)]
pub enum EscalateInput {
    Bus(Box<BusEvent>),
    Step(StepInput),
    Person {
        action: PersonAction,
        incident: String,
    },
    Console(console::ConsoleChange),
    SilenceEnd(SilenceEnd),
}

impl Input for EscalateInput {
    fn parse(event: &Value) -> Result<Option<Self>, StageError> {
        if let Some(bus) = BusEvent::parse(event)? {
            return Ok(Some(EscalateInput::Bus(Box::new(bus))));
        }
        if let Some(change) = console::parse(event)? {
            return Ok(Some(EscalateInput::Console(change)));
        }
        if let Some(step) = event.get("escalation_step") {
            let step: StepInput = serde_json::from_value(step.clone())
                .map_err(|e| StageError::MalformedEvent(format!("escalation_step: {e}")))?;
            return Ok(Some(EscalateInput::Step(step)));
        }
        if let Some(end) = event.get("silence_end") {
            let end: SilenceEnd = serde_json::from_value(end.clone())
                .map_err(|e| StageError::MalformedEvent(format!("silence_end: {e}")))?;
            return Ok(Some(EscalateInput::SilenceEnd(end)));
        }
        if event.get("action").is_some() && event.get("incident").is_some() {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Button {
                action: PersonAction,
                incident: String,
            }
            let button: Button = serde_json::from_value(event.clone()).map_err(|e| {
                StageError::MalformedEvent(format!(
                    "a button's payload is {{\"action\": \"acknowledge\"|\"escalate\"|\"resolve\"|\"silence_1h\"|\"silence_open\"|\"unsilence\", \"incident\": <id>}}: {e}"
                ))
            })?;
            let incident = button.incident.trim().to_string();
            if incident.is_empty() || incident.len() > 2048 || incident.starts_with('$') {
                return Err(StageError::MalformedEvent(format!(
                    "a button's incident `{incident}` is not an incident id"
                )));
            }
            return Ok(Some(EscalateInput::Person {
                action: button.action,
                incident,
            }));
        }
        Ok(None)
    }
}

/// The escalate stage with its ports.
pub struct Escalate {
    rules: Rules,
    incidents: Arc<dyn IncidentWriter>,
    references: Arc<dyn ReferenceStore>,
    timers: Arc<dyn Timers>,
    pager: Arc<dyn Pager>,
    /// The responder's own roles: their console changes are its own, not a person's.
    own_roles: Vec<String>,
    /// The runbook watchdog's timers (they invoke `runbook`), when set up.
    watchdog: Option<Arc<dyn Timers>>,
    /// The re-check timers of held signals (they invoke `triage`), when set up.
    rechecks: Option<Arc<dyn Timers>>,
    /// The dedupe keys: whether a silenced incident still fires when its silence ends (said in
    /// the post).
    keys: Option<Arc<dyn DedupeStore>>,
}

impl Escalate {
    pub fn new(
        rules: Rules,
        incidents: Arc<dyn IncidentWriter>,
        references: Arc<dyn ReferenceStore>,
        timers: Arc<dyn Timers>,
        pager: Arc<dyn Pager>,
    ) -> Self {
        Escalate {
            rules,
            incidents,
            references,
            timers,
            pager,
            own_roles: Vec::new(),
            watchdog: None,
            rechecks: None,
            keys: None,
        }
    }

    /// The dedupe keys (the state table): a silence's end says whether its key still fires.
    pub fn with_keys(mut self, keys: Arc<dyn DedupeStore>) -> Self {
        self.keys = Some(keys);
        self
    }

    /// The re-check timers (`RECHECK_TARGET_ARN`): set on `Signal Held`.
    pub fn with_rechecks(mut self, timers: Arc<dyn Timers>) -> Self {
        self.rechecks = Some(timers);
        self
    }

    /// The runbook watchdog's timers (`WATCHDOG_TARGET_ARN`): set on `Runbook Started`.
    pub fn with_watchdog(mut self, timers: Arc<dyn Timers>) -> Self {
        self.watchdog = Some(timers);
        self
    }

    /// The responder's roles (`RESPONDER_ROLE_ARNS`), whose changes in the console are ignored.
    pub fn with_own_roles(mut self, roles: Vec<String>) -> Self {
        self.own_roles = roles;
        self
    }

    fn records(&self) -> Records<'_> {
        Records {
            store: self.references.as_ref(),
        }
    }
}

#[async_trait]
impl Stage for Escalate {
    const NAME: &'static str = "escalate";
    const TAKES: &'static str = "`Incident Opened`, `Incident Updated`, `Incident Resolved`, `Runbook Started`, `Runbook Finished` and `Signal Held` from incident.responder, its timers' escalation steps, the Slack buttons' actions, `OpsItem Update` and Incident Manager's `UpdateIncidentRecord` through CloudTrail";
    const PUBLISHES: bool = true;
    type Input = EscalateInput;
    type Answer = EscalateAnswer;
    type Error = EscalateError;

    async fn handle(
        &self,
        input: EscalateInput,
        cx: &Invocation<'_>,
    ) -> Result<EscalateAnswer, EscalateError> {
        // AWS Chatbot may invoke only the `buttons` alias: through it, nothing but a button.
        if cx.alias() == Some(BUTTONS_ALIAS) && !matches!(input, EscalateInput::Person { .. }) {
            return Err(StageError::UnknownEvent(format!(
                "invoked through the `{BUTTONS_ALIAS}` alias (the Slack buttons'), which takes only \
                 {{\"action\": …, \"incident\": …}}"
            ))
            .into());
        }
        match input {
            EscalateInput::Bus(bus) => self.bus(*bus, cx).await,
            EscalateInput::Step(step) => {
                let now = cx.now().max(step.at);
                let Some(record) = self.records().get(&step.incident, cx.now()).await? else {
                    return Err(EscalateError::UnknownIncident(step.incident));
                };
                if record.policy.as_deref() != Some(step.policy.as_str()) {
                    return Ok(EscalateAnswer::new(
                        EscalateAction::Ignored,
                        &step.incident,
                        format!(
                            "A step of policy `{}`, which the incident no longer runs.",
                            step.policy
                        ),
                    ));
                }
                self.run_step(&record, step.step(), now, false, cx).await
            }
            EscalateInput::Person { action, incident } => {
                let Some(record) = self.records().get(&incident, cx.now()).await? else {
                    return Err(EscalateError::UnknownIncident(incident));
                };
                match action {
                    PersonAction::Acknowledge => {
                        self.acknowledge(&record, people::SLACK_PERSON, "slack", cx)
                            .await
                    }
                    PersonAction::Escalate => self.escalate_now(&record, cx).await,
                    PersonAction::Resolve => {
                        let by = people::SLACK_PERSON;
                        self.request_resolution(&record, by, "slack", false, cx)
                            .await
                    }
                    PersonAction::Silence1h | PersonAction::SilenceOpen => {
                        let while_open = action == PersonAction::SilenceOpen;
                        self.silence(&record, while_open, people::SLACK_PERSON, cx)
                            .await
                    }
                    PersonAction::Unsilence => self.lift(&record, people::SLACK_PERSON, cx).await,
                }
            }
            EscalateInput::Console(change) => self.console(change, cx).await,
            EscalateInput::SilenceEnd(end) => self.silence_end(end, cx).await,
        }
    }
}

impl Escalate {
    async fn bus(
        &self,
        bus: BusEvent,
        cx: &Invocation<'_>,
    ) -> Result<EscalateAnswer, EscalateError> {
        let event = bus.event;
        let detail = &event.detail;
        let id = detail.incident.id.clone();
        match event.kind {
            LifecycleKind::IncidentOpened => {}
            LifecycleKind::IncidentUpdated if detail.resolution.is_none() => {}
            LifecycleKind::IncidentResolved => return self.resolved(&id, detail, cx).await,
            LifecycleKind::RunbookStarted | LifecycleKind::RunbookFinished => {
                return self.watch(event.kind, detail, cx).await
            }
            LifecycleKind::SignalHeld => return self.held(detail, cx).await,
            LifecycleKind::IncidentUpdated
                if detail
                    .resolution
                    .as_ref()
                    .is_some_and(|r| r.status == ResolutionStatus::Resolved) =>
            {
                return self.resolved(&id, detail, cx).await
            }
            kind => {
                return Ok(EscalateAnswer::new(
                    EscalateAction::Ignored,
                    &id,
                    format!("`{}` changes nothing for escalation.", kind.detail_type()),
                ))
            }
        }
        let incident = &detail.incident;
        let policy = self
            .rules
            .escalation_for(&incident.rule, &incident.service, incident.impact);
        let records = self.records();
        let chosen = policy.map(|p| p.name.clone());
        let record = match records.get(&id, cx.now()).await? {
            // The same policy: nothing to do once its first step ran (a timer is pending, or
            // paging stopped); otherwise its start failed part-way and is finished here.
            Some(running) if running.policy == chosen => {
                let started =
                    running.pending.is_some() || records.stop(&id, cx.now()).await?.is_some();
                if started || chosen.is_none() {
                    return Ok(EscalateAnswer::new(
                        EscalateAction::Ignored,
                        &id,
                        match &chosen {
                            Some(p) => format!("Already escalating under policy `{p}`."),
                            None => format!(
                                "Impact {} of service {} pages nobody; the incident stays in Slack.",
                                incident.impact, incident.service
                            ),
                        },
                    ));
                }
                running
            }
            // Another policy runs: only a graver impact with a policy of its own replaces it.
            Some(running) => {
                let graver = incident.impact.get() < running.incident.impact.get();
                if chosen.is_none() || !graver {
                    return Ok(EscalateAnswer::new(
                        EscalateAction::Ignored,
                        &id,
                        format!(
                            "Already escalating under policy `{}` (impact {}).",
                            running.policy.as_deref().unwrap_or("none"),
                            running.incident.impact
                        ),
                    ));
                }
                self.switch(&running, cx).await?;
                EscalationRecord {
                    incident: incident.clone(),
                    policy: chosen.clone(),
                    pending: None,
                    ..running
                }
            }
            None => EscalationRecord {
                incident: incident.clone(),
                signal: detail.signal.clone(),
                account: bus.origin.account.clone(),
                region: bus.origin.region.clone(),
                opened_at: event.time,
                policy: chosen.clone(),
                pending: None,
            },
        };
        records.put(&record, cx.now()).await?;
        let Some(policy) = &record.policy else {
            return Ok(EscalateAnswer::new(
                EscalateAction::Skipped,
                &id,
                format!(
                    "Impact {} of service {} pages nobody; the incident stays in Slack (its buttons still work).",
                    incident.impact, incident.service
                ),
            ));
        };
        let key = format!("escalate#{id}#start#{policy}");
        let replay = |first| already(first, &id, "Already started");
        let at = cx.now().max(event.time);
        cx.once(&key, replay, |_| {
            self.run_step(&record, Step::FIRST, at, false, cx)
        })
        .await
    }

    /// Leaves the running policy for a graver impact's: its pending step is cancelled, and an
    /// exhausted escalation may page again (an acknowledgement or a resolution still stands).
    async fn switch(
        &self,
        running: &EscalationRecord,
        cx: &Invocation<'_>,
    ) -> Result<(), EscalateError> {
        let id = &running.incident.id;
        if let Some(pending) = &running.pending {
            self.timers.cancel(&pending.timer).await?;
        }
        let records = self.records();
        if let Some(stop) = records.stop(id, cx.now()).await? {
            if stop.reason == StopReason::Exhausted {
                records.clear_stop(id, cx.now()).await?;
            }
        }
        Ok(())
    }

    /// Stops paging for a resolved incident and cancels its pending timer.
    async fn resolved(
        &self,
        id: &str,
        detail: &LifecycleDetail,
        cx: &Invocation<'_>,
    ) -> Result<EscalateAnswer, EscalateError> {
        let by = detail
            .resolution
            .as_ref()
            .and_then(|r| r.resolved_by.as_deref())
            .unwrap_or("the responder");
        let records = self.records();
        let Some(record) = records.get(id, cx.now()).await? else {
            return Ok(EscalateAnswer::new(
                EscalateAction::Ignored,
                id,
                "The responder never escalated this incident.",
            ));
        };
        let stop = records.stop(id, cx.now()).await?;
        if stop
            .as_ref()
            .is_none_or(|s| s.reason != StopReason::Resolved)
        {
            let resolved = Stop {
                reason: StopReason::Resolved,
                by: by.to_string(),
                via: "responder".to_string(),
                at: cx.now(),
            };
            records.put_stop(id, &resolved, cx.now()).await?;
        }
        if let Some(pending) = &record.pending {
            self.timers.cancel(&pending.timer).await?;
        }
        self.end_with_incident(&record, cx.now()).await?;
        Ok(EscalateAnswer::new(
            EscalateAction::Stopped,
            id,
            format!("The incident is resolved ({by}): paging stopped."),
        ))
    }
}

/// The answer for work done before (a re-delivery, a retried step): the first answer, as a
/// no-op, `what` before its reason.
fn already(first: Option<EscalateAnswer>, incident: &str, what: &str) -> EscalateAnswer {
    match first {
        Some(f) => EscalateAnswer {
            action: EscalateAction::Ignored,
            reason: format!("{what}: {}", f.reason),
            ..f
        },
        None => EscalateAnswer::new(EscalateAction::Ignored, incident, format!("{what}.")),
    }
}

/// Seconds from `from` to `to`, never negative.
fn secs_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_seconds().max(0)
}

#[cfg(test)]
mod tests;
