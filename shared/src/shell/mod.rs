//! The stage shell: what every function does around its own work, written once.
//!
//! A function is a [`Stage`] — its handler: the ports it needs, its input, its answer — inside a
//! [`Shell`], which gives every invocation the same frame:
//! - one log span with the function's name as `service` and the EventBridge `id` as `event_id`,
//!   closed by one line: `handled` with the answer's action, incident and reason (and the whole
//!   answer as JSON: the rule, the dedupe key, the step, the execution, …), or
//!   `event not handled` with the failure's `errorType`;
//! - the payload read into the stage's [`Input`] (a payload it cannot read fails with
//!   `UnknownEvent` or `MalformedEvent` naming what was wrong: [`input`]);
//! - an [`Invocation`]: the clock, the deadline, run-once idempotency on the state table
//!   ([`once`]) and publishing on the responder bus.
//!
//! A new function is its `main.rs` (configuration, clients, `Shell::new(stage, …)`,
//! [`crate::lambda::serve`]) and a handler module implementing [`Stage`].

pub mod error;
pub mod input;
pub mod once;

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tracing::{error, info, warn, Instrument};

use crate::domain::{LifecycleDetail, LifecycleEvent, LifecycleKind};
use crate::ports::{Clock, EventBus, PortError, PortErrorKind, RunOnceStore};

pub use error::{Failure, StageError};
pub use input::{BusEvent, Input, Origin};
pub use once::Once;

/// One function's own behaviour, written against the ports.
#[async_trait]
pub trait Stage: Send + Sync {
    /// The function's name (the binary's): the `service` of its log lines.
    const NAME: &'static str;
    /// What it takes, for the error a payload it does not handle gets ("`Incident Opened` from
    /// incident.responder").
    const TAKES: &'static str;
    /// Whether it announces what it did on the responder bus (its shell then needs one).
    const PUBLISHES: bool;
    type Input: Input;
    type Answer: Outcome;
    type Error: Failure + From<StageError> + From<PortError> + Send;

    /// Handles one event.
    async fn handle(
        &self,
        input: Self::Input,
        cx: &Invocation<'_>,
    ) -> Result<Self::Answer, Self::Error>;
}

/// A stage's answer: what the invocation returns, what its log line says, what a re-delivery
/// replays.
pub trait Outcome: Serialize + DeserializeOwned + Send + Sync {
    /// What the stage did, as its answer's `action` says it (`opened`, `posted`, …).
    fn action(&self) -> &'static str;
    /// The incident it acted on, where there is one.
    fn incident(&self) -> Option<&str>;
    /// Why, in one human sentence.
    fn reason(&self) -> &str;
}

/// A stage with what every invocation needs: the run-once store, the clock and, for stages that
/// announce what they did, the responder bus.
pub struct Shell<S> {
    stage: S,
    runs: Arc<dyn RunOnceStore>,
    clock: Arc<dyn Clock>,
    bus: Option<Arc<dyn EventBus>>,
}

impl<S: Stage> Shell<S> {
    pub fn new(stage: S, runs: Arc<dyn RunOnceStore>, clock: Arc<dyn Clock>) -> Self {
        Shell {
            stage,
            runs,
            clock,
            bus: None,
        }
    }

    /// The responder bus the stage publishes its lifecycle events on.
    pub fn with_bus(mut self, bus: Arc<dyn EventBus>) -> Self {
        self.bus = Some(bus);
        self
    }

    /// Whether the shell holds what its stage needs (a stage that publishes needs the bus),
    /// checked before the first event so that wiring mistakes stop the function at init.
    pub fn ready(&self) -> Result<(), String> {
        if S::PUBLISHES && self.bus.is_none() {
            return Err(format!(
                "the {} stage publishes lifecycle events, but its shell has no responder bus",
                S::NAME
            ));
        }
        Ok(())
    }

    /// Handles one invocation's payload. `deadline` is the invocation's: work it starts is leased
    /// until then, so a retry after a crash can take over.
    pub async fn handle(
        &self,
        event: &Value,
        deadline: DateTime<Utc>,
    ) -> Result<S::Answer, S::Error> {
        self.handle_invoked(event, deadline, "").await
    }

    /// [`Shell::handle`], invoked as `invoked_arn` (the function's ARN, with the alias it was
    /// invoked through, if any: [`Invocation::alias`]).
    pub async fn handle_invoked(
        &self,
        event: &Value,
        deadline: DateTime<Utc>,
        invoked_arn: &str,
    ) -> Result<S::Answer, S::Error> {
        let event_id = event.get("id").and_then(Value::as_str).unwrap_or("");
        let span = tracing::info_span!("invocation", service = S::NAME, event_id);
        let cx = Invocation {
            deadline,
            invoked_arn,
            runs: self.runs.as_ref(),
            clock: self.clock.as_ref(),
            bus: self.bus.as_deref(),
        };
        let result = async {
            let input =
                S::Input::parse(event)?.ok_or_else(|| input::unknown(event, S::NAME, S::TAKES))?;
            self.stage.handle(input, &cx).await
        }
        .instrument(span.clone())
        .await;
        span.in_scope(|| match &result {
            Ok(answer) => info!(
                action = answer.action(),
                incident = answer.incident().unwrap_or(""),
                reason = answer.reason(),
                answer = %serde_json::to_string(answer).unwrap_or_default(),
                "handled"
            ),
            Err(e) => error!(error_type = e.error_type(), error = %e, "event not handled"),
        });
        result
    }
}

/// A clock that never reads earlier than `at`.
pub struct NotBefore<'a> {
    pub clock: &'a dyn Clock,
    pub at: DateTime<Utc>,
}

impl Clock for NotBefore<'_> {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now().max(self.at)
    }
}

/// One invocation as its stage sees it.
pub struct Invocation<'a> {
    deadline: DateTime<Utc>,
    invoked_arn: &'a str,
    runs: &'a dyn RunOnceStore,
    clock: &'a dyn Clock,
    bus: Option<&'a dyn EventBus>,
}

impl Invocation<'_> {
    /// The time now.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// This invocation on another clock: work done for a timer runs at the time it was set
    /// for, even when it fires early ([`NotBefore`]).
    pub fn with_clock<'b>(&'b self, clock: &'b dyn Clock) -> Invocation<'b> {
        Invocation {
            deadline: self.deadline,
            invoked_arn: self.invoked_arn,
            runs: self.runs,
            clock,
            bus: self.bus,
        }
    }

    /// This invocation's clock.
    pub fn clock(&self) -> &dyn Clock {
        self.clock
    }

    /// The alias (or version) the function was invoked through, from the invoked function ARN
    /// (`arn:aws:lambda:<region>:<account>:function:<name>:<alias>`); `None` unqualified.
    pub fn alias(&self) -> Option<&str> {
        self.invoked_arn
            .splitn(8, ':')
            .nth(7)
            .filter(|a| !a.is_empty())
    }

    /// The account and region the function runs in, from the invoked function ARN; `None` when
    /// the runtime gave no ARN.
    pub fn home(&self) -> Option<(&str, &str)> {
        crate::arn::Arn::parse(self.invoked_arn)
            .filter(|a| a.service == "lambda" && !a.account.is_empty() && !a.region.is_empty())
            .map(|a| (a.account, a.region))
    }

    /// Runs `work` once for `key` ([`once::run_once`]); `work` gets the time until which this
    /// invocation holds the key. A re-delivery answers `replay(first answer)` without doing
    /// anything (`None` when the stored answer cannot be read back); a key another live
    /// invocation holds fails this one (`EventInProgress`, for Lambda to retry).
    pub async fn once<A, E, R, F, Fut>(&self, key: &str, replay: R, work: F) -> Result<A, E>
    where
        A: Outcome,
        E: From<StageError> + From<PortError>,
        R: FnOnce(Option<A>) -> A,
        F: FnOnce(DateTime<Utc>) -> Fut,
        Fut: Future<Output = Result<A, E>>,
    {
        match self.run_once(key, work).await? {
            Once::Done(answer) => Ok(answer),
            Once::Replayed(first) => Ok(replay(first)),
            Once::Busy => Err(StageError::InProgress {
                key: key.to_string(),
            }
            .into()),
        }
    }

    /// [`Invocation::once`] for work whose replay and contention the stage handles itself.
    pub async fn run_once<A, E, F, Fut>(&self, key: &str, work: F) -> Result<Once<A>, E>
    where
        A: Serialize + DeserializeOwned,
        E: From<PortError>,
        F: FnOnce(DateTime<Utc>) -> Fut,
        Fut: Future<Output = Result<A, E>>,
    {
        once::run_once(self.runs, self.clock, key, self.deadline, work).await
    }

    /// Publishes one lifecycle event on the responder bus, timed now. An event the bus refuses
    /// is an error: the invocation fails and Lambda retries it.
    pub async fn publish(
        &self,
        kind: LifecycleKind,
        detail: LifecycleDetail,
    ) -> Result<(), PortError> {
        let Some(bus) = self.bus else {
            return Err(PortError::new(
                "PutEvents",
                PortErrorKind::Invalid,
                "this function has no responder bus to publish on",
            ));
        };
        let event = LifecycleEvent {
            kind,
            time: self.now(),
            detail,
        };
        if let Err(e) = bus.publish(&event).await {
            warn!(error = %e, detail_type = kind.detail_type(), "publishing to the responder bus failed");
            return Err(e);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
