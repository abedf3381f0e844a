//! The `triage` stage: a raw AWS event in, a decision out.
//!
//! For each signal in the event ([`crate::sources`]): classify it with the rules
//! ([`crate::rules`]), then
//! - no rule matches → `ignored`; the rule suppresses → `suppressed` (no state, no calls);
//! - a state change older than one already seen for the same alarm or finding (by the signal's
//!   own time, [`ChangeStore::observe`]) → `ignored`, naming the newer state: late and re-ordered
//!   deliveries change nothing;
//! - firing ([`firing`]) → claim the dedupe key ([`DedupeStore::claim`], one conditional
//!   write): the winner opens the incident (`opened`); everyone else joins the incident that
//!   holds the key (`joined`, conditional on it still holding it), unless the backend says that
//!   incident is closed (then the key is settled and a new incident opens). A graver signal
//!   raises the incident's impact;
//! - recovered ([`clearing`]) → the signal leaves the key's firing signals; when none is left
//!   the incident is marked recovered (`recovered`) for `resolve` to verify, else the clearing
//!   is noted (`joined`);
//! - informational (alarm `INSUFFICIENT_DATA`) → noted on an open incident (`joined`), else
//!   `ignored`: missing data never opens or closes an incident.
//!
//! - a firing signal under a maintenance window or a silence is held (`suppressed`), one whose
//!   dependency's incident is open folds into it (`joined`, [`quiet`]); a timer brings the held
//!   signal back when the hold ends ([`recheck`]), and a recovery meanwhile releases it.
//!
//! Every occurrence is handled once: a re-delivered event replays its stored answer without
//! side effects, and a retried invocation finishes what the failed one started with the same
//! client tokens, so it can neither open a second incident nor announce one twice.

mod answer;
mod clearing;
mod firing;
mod incident;
mod quiet;
mod recheck;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::Duration;
use serde_json::Value;

use crate::domain::{Classification, EntryKind, IncidentRef, Signal, SignalState, TimelineEntry};
use crate::ports::{
    ChangeStore, DedupeRecord, DedupeStore, IncidentOpener, IncidentWriter, Observed, PortError,
    PortErrorKind, SettleWhen, Standing, StateChange, SETTLED_KEEP,
};
use crate::rules::Rules;
use crate::shell::{Failure, Input, Invocation, Once, Stage, StageError};
use crate::sources::{self, Parsed};

pub use answer::{Action, TriageAnswer};
pub use incident::{incident_summary, new_incident};
pub use quiet::{QuietPorts, HELD_RECHECK};
pub use recheck::RecheckInput;

use answer::{combine, emit_decision};
pub(crate) use incident::lifecycle_detail;
use incident::related_items;

/// How long an open incident of signals that recover keeps its dedupe key when nothing recovers
/// it (a safety net: `resolve` frees keys when it resolves incidents, and a join first checks
/// that the backend still has the incident open). Each join moves it.
const OPEN_BINDING: Duration = Duration::days(14);
/// How long each signal's newest state change is kept: past EventBridge's 24 hours of retries
/// and Lambda's 6 hours of asynchronous retries.
const CHANGE_KEEP: Duration = Duration::days(3);
/// The most signals a key keeps as firing (an alarm storm, a burst of findings on one key).
/// Beyond it a joining signal is counted but not tracked: the incident recovers when the
/// tracked ones clear.
pub const FIRING_MAX: usize = 100;
/// GuardDuty's own events.
const GUARDDUTY_SOURCE: &str = "aws.guardduty";
/// How many times a signal looks at its key again when the key changed under it.
const LOOKS: usize = 4;
/// How long a signal waits for a concurrent invocation to finish opening its incident.
const OPENING_WAIT: [StdDuration; 4] = [
    StdDuration::from_millis(100),
    StdDuration::from_millis(250),
    StdDuration::from_millis(500),
    StdDuration::from_millis(1000),
];

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum TriageError {
    #[error(transparent)]
    Stage(#[from] StageError),
    /// Another invocation is opening the incident this signal would join.
    #[error("dedupe key `{key}` is being opened by another invocation; retry later")]
    OpeningInProgress { key: String },
}

impl From<PortError> for TriageError {
    fn from(e: PortError) -> Self {
        TriageError::Stage(e.into())
    }
}

impl Failure for TriageError {
    fn error_type(&self) -> &'static str {
        match self {
            TriageError::Stage(e) => e.error_type(),
            TriageError::OpeningInProgress { .. } => "OpeningInProgress",
        }
    }
}

/// The inbound event: the signals it carries (or why there are none) and its JSON for the
/// incident's trigger; or a timer's re-check of a held signal.
pub enum Inbound {
    Event { parsed: Parsed, raw: String },
    Recheck(RecheckInput),
}

impl Input for Inbound {
    fn parse(event: &Value) -> Result<Option<Self>, StageError> {
        if let Some(recheck) = RecheckInput::parse(event)? {
            return Ok(Some(Inbound::Recheck(recheck)));
        }
        let parsed = sources::parse(event)?;
        let raw = match &parsed {
            Parsed::Signals(_) => serde_json::to_string(event).unwrap_or_default(),
            Parsed::NotHandled(_) => String::new(),
        };
        Ok(Some(Inbound::Event { parsed, raw }))
    }
}

/// The triage stage with its ports.
pub struct Triage {
    rules: Rules,
    opener: Arc<dyn IncidentOpener>,
    incidents: Arc<dyn IncidentWriter>,
    keys: Arc<dyn DedupeStore>,
    changes: Arc<dyn ChangeStore>,
    quiet: Option<QuietPorts>,
}

impl Triage {
    pub fn new(
        rules: Rules,
        opener: Arc<dyn IncidentOpener>,
        incidents: Arc<dyn IncidentWriter>,
        keys: Arc<dyn DedupeStore>,
        changes: Arc<dyn ChangeStore>,
    ) -> Self {
        Triage {
            rules,
            opener,
            incidents,
            keys,
            changes,
            quiet: None,
        }
    }

    /// Quiet hours: windows, silences, inhibitions and the re-check of what they held.
    pub fn with_quiet(mut self, ports: QuietPorts) -> Self {
        self.quiet = Some(ports);
        self
    }

    fn quiet(&self) -> Result<&QuietPorts, StageError> {
        self.quiet.as_ref().ok_or_else(|| StageError::Inconsistent {
            what: "triage".into(),
            problem: "quiet hours need the state table, the calendars and the alarms (with_quiet)"
                .into(),
        })
    }
}

#[async_trait]
impl Stage for Triage {
    const NAME: &'static str = "triage";
    const TAKES: &'static str = "AWS events and CloudWatch alarm actions";
    const PUBLISHES: bool = true;
    type Input = Inbound;
    type Answer = TriageAnswer;
    type Error = TriageError;

    async fn handle(
        &self,
        inbound: Inbound,
        cx: &Invocation<'_>,
    ) -> Result<TriageAnswer, TriageError> {
        let (parsed, raw) = match inbound {
            Inbound::Recheck(recheck) => return self.recheck(recheck, cx).await,
            Inbound::Event { parsed, raw } => (parsed, raw),
        };
        let signals = match parsed {
            Parsed::NotHandled(reason) => return Ok(TriageAnswer::ignored(reason)),
            Parsed::Signals(signals) => signals,
        };
        if signals.is_empty() {
            return Ok(TriageAnswer::ignored("the event carries no signal"));
        }
        let mut answers = Vec::with_capacity(signals.len());
        for signal in &signals {
            answers.push(self.signal(signal, &raw, cx).await?);
        }
        Ok(combine(answers))
    }
}

impl Triage {
    pub(super) async fn signal(
        &self,
        signal: &Signal,
        raw: &str,
        cx: &Invocation<'_>,
    ) -> Result<TriageAnswer, TriageError> {
        if let Some(finding) = signal.copy_of_guardduty() {
            if let Some(rule) = self.rules.rule_for_source(GUARDDUTY_SOURCE) {
                return Ok(TriageAnswer::ignored(format!(
                    "A Security Hub copy of GuardDuty finding {finding}: GuardDuty's own event is the signal (rule {rule}), so the finding opens one incident, not two."
                )));
            }
        }
        let Some(c) = self.rules.classify(signal) else {
            return Ok(TriageAnswer::ignored(format!(
                "No rule matches {} `{}` ({}).",
                signal.source, signal.detail_type, signal.summary
            )));
        };
        if c.suppress {
            let answer = TriageAnswer::decided(
                Action::Suppressed,
                &c,
                None,
                format!(
                    "Rule {} suppresses this signal: {}.",
                    c.rule_id, signal.summary
                ),
            );
            emit_decision(&answer, &c, cx.now());
            return Ok(answer);
        }
        match signal.state {
            SignalState::Firing if self.quiet.is_some() => {
                self.index_dependency(signal, &c, cx.now()).await?;
                if let Some(held) = self.hold_for(signal, &c, cx.now()).await? {
                    return self.hold(signal, &c, raw, held, cx).await;
                }
            }
            SignalState::Recovered => {
                let why = format!(
                    "recovered at {}",
                    signal.time.format("%Y-%m-%d %H:%M:%S UTC")
                );
                self.release(signal, &why, cx.now()).await?;
            }
            _ => {}
        }

        let occurrence = format!("triage#{}#{}", c.dedupe_key, signal.fingerprint);
        let ran = cx
            .run_once(&occurrence, |lease_until| {
                let c = &c;
                async move {
                    if let Some(stale) = self.stale(signal, c, cx).await? {
                        return Ok(stale);
                    }
                    match signal.state {
                        SignalState::Firing => self.fire(signal, c, raw, lease_until, cx).await,
                        SignalState::Recovered => self.recover(signal, c, cx).await,
                        SignalState::Informational => self.inform(signal, c, cx).await,
                    }
                }
            })
            .await?;
        match ran {
            Once::Done(answer) => {
                emit_decision(&answer, &c, cx.now());
                Ok(answer)
            }
            Once::Replayed(first) => Ok(TriageAnswer::replayed(first, &c)),
            Once::Busy => Err(StageError::InProgress { key: occurrence }.into()),
        }
    }

    /// `ignored` when a newer state change of the same alarm or finding was already seen; else
    /// records this one as its newest.
    async fn stale(
        &self,
        signal: &Signal,
        c: &Classification,
        cx: &Invocation<'_>,
    ) -> Result<Option<TriageAnswer>, TriageError> {
        let change = StateChange {
            subject: signal.subject().to_string(),
            state: signal.state,
            at: signal.time,
            fingerprint: signal.fingerprint.clone(),
            expires_at: cx.now() + CHANGE_KEEP,
        };
        match self.changes.observe(&change).await? {
            Observed::Newest => Ok(None),
            // This very signal claimed the key and its opening did not finish (its invocation
            // failed before the answer was stored; a newer change came meanwhile): finish it —
            // open, or announce — or the incident stays orphaned and unannounced.
            Observed::Stale { .. } if self.opening_of(signal, c).await? => Ok(None),
            Observed::Stale { state, at } => Ok(Some(TriageAnswer::decided(
                Action::Ignored,
                c,
                None,
                format!(
                    "A stale event: {} was already seen {} at {}, and this event says {} at {}; nothing changes.",
                    signal.subject(),
                    state_word(state),
                    at.format("%Y-%m-%d %H:%M:%S%.3f UTC"),
                    state_word(signal.state),
                    signal.time.format("%Y-%m-%d %H:%M:%S%.3f UTC"),
                ),
            ))),
        }
    }

    /// Whether `signal` itself claimed its key, which still holds its incident: run inside the
    /// signal's run-once work, this means an earlier attempt claimed it and failed before its
    /// answer was stored — the opening or its announcement is unfinished.
    async fn opening_of(&self, signal: &Signal, c: &Classification) -> Result<bool, TriageError> {
        Ok(self.keys.get(&c.dedupe_key).await?.is_some_and(|row| {
            row.owner == signal.fingerprint && row.status != crate::ports::KeyStatus::Resolved
        }))
    }

    /// Frees `key` from `incident`, closed outside the responder (see [`Self::standing`]).
    async fn free_closed(
        &self,
        key: &str,
        incident: &IncidentRef,
        standing: &Standing,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), TriageError> {
        tracing::info!(
            key,
            incident = %incident.id,
            status = %standing.status,
            "the key's incident is closed in the backend; the key is freed"
        );
        self.keys
            .settle(
                key,
                &incident.id,
                SettleWhen::Closed,
                now,
                now + SETTLED_KEEP,
            )
            .await?;
        Ok(())
    }

    /// Where `incident` stands in its backend; one that is gone (deleted) is closed.
    async fn standing(&self, incident: &IncidentRef) -> Result<Standing, TriageError> {
        match self.incidents.standing(incident).await {
            Ok(standing) => Ok(standing),
            Err(e) if e.kind == PortErrorKind::NotFound => Ok(Standing {
                open: false,
                status: "deleted".to_string(),
                impact: None,
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// One timeline entry about the signal, at the signal's own time.
    async fn note(
        &self,
        incident: &IncidentRef,
        signal: &Signal,
        kind: EntryKind,
        text: &str,
        token: &str,
    ) -> Result<(), TriageError> {
        let entry = TimelineEntry::new(signal.time, kind, text);
        self.incidents.add_timeline(incident, &entry, token).await?;
        Ok(())
    }
}

/// A signal state in words.
fn state_word(state: SignalState) -> &'static str {
    match state {
        SignalState::Firing => "firing",
        SignalState::Recovered => "recovered",
        SignalState::Informational => "without data",
    }
}

/// How long a key stays bound after its signals recovered, or, for signals that never recover,
/// after the incident opened: the rule's correlation window.
fn window(c: &Classification) -> Duration {
    Duration::seconds(i64::try_from(c.correlation_window_secs).unwrap_or(i64::MAX / 1_000))
}

fn bound_incident(record: &DedupeRecord) -> Result<&IncidentRef, StageError> {
    record
        .incident
        .as_ref()
        .ok_or_else(|| StageError::Inconsistent {
            what: format!("dedupe key `{}`", record.key),
            problem: format!("status {} but no incident recorded", record.status.as_str()),
        })
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod quiet_tests;
