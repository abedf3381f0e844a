//! The `triage` stage: a raw AWS event in, a decision out.
//!
//! For each signal in the event ([`crate::sources`]): classify it with the rules
//! ([`crate::rules`]), then
//! - no rule matches → `ignored`; the rule suppresses → `suppressed` (no state, no calls);
//! - firing → claim the dedupe key ([`DedupeStore::claim`], one conditional write): the winner
//!   opens the incident (`opened`), everyone else joins the incident that holds the key
//!   (`joined`);
//! - recovered → the key's incident is marked recovered (`recovered`) for `resolve` to verify;
//! - informational (alarm `INSUFFICIENT_DATA`) → noted on an open incident (`joined`), else
//!   `ignored`: missing data never opens or closes an incident.
//!
//! Every occurrence is handled once: a re-delivered event replays its stored answer without
//! side effects, and a retried invocation finishes what the failed one started with the same
//! client tokens, so it can neither open a second incident nor announce one twice.

mod answer;
mod incident;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::domain::{
    stable_hash, Classification, EntryKind, IncidentRef, LifecycleKind, Signal, SignalState,
    TimelineEntry,
};
use crate::ports::{
    Claim, ClaimOutcome, DedupeRecord, DedupeStore, IncidentOpener, IncidentWriter, KeyStatus,
    PortError,
};
use crate::rules::Rules;
use crate::shell::{Failure, Input, Invocation, Once, Stage, StageError};
use crate::sources::{self, Parsed};

pub use answer::{Action, TriageAnswer};
pub use incident::{incident_summary, new_incident};

use answer::{combine, emit_decision};
pub(crate) use incident::lifecycle_detail;
use incident::related_items;

/// How long an open incident keeps its dedupe key when nothing recovers it (a safety net: the
/// `resolve` stage frees keys when it resolves incidents).
const OPEN_BINDING: Duration = Duration::days(14);
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

/// The inbound event: the signals it carries (or why there are none), and its JSON for the
/// incident's trigger.
pub struct Inbound {
    parsed: Parsed,
    raw: String,
}

impl Input for Inbound {
    fn parse(event: &Value) -> Result<Option<Self>, StageError> {
        let parsed = sources::parse(event)?;
        let raw = match &parsed {
            Parsed::Signals(_) => serde_json::to_string(event).unwrap_or_default(),
            Parsed::NotHandled(_) => String::new(),
        };
        Ok(Some(Inbound { parsed, raw }))
    }
}

/// The triage stage with its ports.
pub struct Triage {
    rules: Rules,
    opener: Arc<dyn IncidentOpener>,
    incidents: Arc<dyn IncidentWriter>,
    keys: Arc<dyn DedupeStore>,
}

impl Triage {
    pub fn new(
        rules: Rules,
        opener: Arc<dyn IncidentOpener>,
        incidents: Arc<dyn IncidentWriter>,
        keys: Arc<dyn DedupeStore>,
    ) -> Self {
        Triage {
            rules,
            opener,
            incidents,
            keys,
        }
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
        let signals = match inbound.parsed {
            Parsed::NotHandled(reason) => return Ok(TriageAnswer::ignored(reason)),
            Parsed::Signals(signals) => signals,
        };
        if signals.is_empty() {
            return Ok(TriageAnswer::ignored("the event carries no signal"));
        }
        let mut answers = Vec::with_capacity(signals.len());
        for signal in &signals {
            answers.push(self.signal(signal, &inbound.raw, cx).await?);
        }
        Ok(combine(answers))
    }
}

impl Triage {
    async fn signal(
        &self,
        signal: &Signal,
        raw: &str,
        cx: &Invocation<'_>,
    ) -> Result<TriageAnswer, TriageError> {
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

        let occurrence = format!("triage#{}#{}", c.dedupe_key, signal.fingerprint);
        let ran = cx
            .run_once(&occurrence, |lease_until| {
                let c = &c;
                async move {
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

    async fn fire(
        &self,
        signal: &Signal,
        c: &Classification,
        raw: &str,
        lease_until: DateTime<Utc>,
        cx: &Invocation<'_>,
    ) -> Result<TriageAnswer, TriageError> {
        let now = cx.now();
        let claim = Claim {
            key: c.dedupe_key.clone(),
            owner: signal.fingerprint.clone(),
            rule_id: c.rule_id.clone(),
            impact: c.impact,
            title: c.title.clone(),
            now,
            detected_at: signal.time,
            lease_until,
            expires_at: now + OPEN_BINDING,
        };
        let mut held = match self.keys.claim(&claim).await? {
            ClaimOutcome::Claimed => return self.open(signal, c, raw, cx).await,
            ClaimOutcome::Held(record) => record,
        };
        if held.owner == signal.fingerprint {
            // An earlier attempt for this very occurrence claimed the key and failed later on:
            // finish its work with the same client token.
            return match &held.incident {
                None => self.open(signal, c, raw, cx).await,
                Some(incident) => {
                    let incident = incident.clone();
                    self.announce_opened(signal, c, &incident, cx).await
                }
            };
        }
        for pause in OPENING_WAIT {
            if held.status != KeyStatus::Opening {
                break;
            }
            tokio::time::sleep(pause).await;
            match self.keys.get(&c.dedupe_key).await? {
                Some(record) if record.binds(cx.now()) => held = record,
                // The other invocation's claim lapsed meanwhile: claim it afresh.
                _ => return Box::pin(self.fire(signal, c, raw, lease_until, cx)).await,
            }
        }
        if held.status == KeyStatus::Opening {
            return Err(TriageError::OpeningInProgress {
                key: c.dedupe_key.clone(),
            });
        }
        self.join(signal, c, &held, cx).await
    }

    async fn open(
        &self,
        signal: &Signal,
        c: &Classification,
        raw: &str,
        cx: &Invocation<'_>,
    ) -> Result<TriageAnswer, TriageError> {
        let incident = new_incident(signal, c, raw);
        let reference = self.opener.open(&incident).await?;
        self.keys
            .confirm_open(
                &c.dedupe_key,
                &signal.fingerprint,
                &reference,
                cx.now() + OPEN_BINDING,
            )
            .await?;
        self.announce_opened(signal, c, &reference, cx).await
    }

    async fn announce_opened(
        &self,
        signal: &Signal,
        c: &Classification,
        incident: &IncidentRef,
        cx: &Invocation<'_>,
    ) -> Result<TriageAnswer, TriageError> {
        let reason = format!(
            "Opened an incident in {}, impact {}, for rule {}: {}.",
            incident.backend.label(),
            c.impact,
            c.rule_id,
            c.title
        );
        let detail = lifecycle_detail(signal, c, incident, &c.title, c.impact, &reason, Some(1));
        cx.publish(LifecycleKind::IncidentOpened, detail).await?;
        Ok(TriageAnswer::decided(
            Action::Opened,
            c,
            Some(incident),
            reason,
        ))
    }

    async fn join(
        &self,
        signal: &Signal,
        c: &Classification,
        held: &DedupeRecord,
        cx: &Invocation<'_>,
    ) -> Result<TriageAnswer, TriageError> {
        let incident = bound_incident(held)?;
        let now = cx.now();
        let record = self
            .keys
            .touch(&c.dedupe_key, KeyStatus::Open, now, now + OPEN_BINDING)
            .await?;
        let token = stable_hash(&["triage-join", &c.dedupe_key, &signal.fingerprint], 64);
        let text = format!(
            "Another signal joined (signal {}): {}",
            record.signal_count, signal.summary
        );
        let kind = EntryKind::SignalJoined {
            signal: signal.fingerprint.clone(),
        };
        self.note(incident, signal, kind, &text, &token).await?;
        let items = related_items(signal);
        if !items.is_empty() {
            self.incidents
                .add_related_items(incident, &items, &token)
                .await?;
        }
        let reason = if held.status == KeyStatus::Recovered {
            format!(
                "Joined \"{}\" (key `{}`): it had recovered and fires again inside the correlation window ({} signals so far).",
                held.title, c.dedupe_key, record.signal_count
            )
        } else {
            format!(
                "Joined the open incident \"{}\" (key `{}`, {} signals so far).",
                held.title, c.dedupe_key, record.signal_count
            )
        };
        let detail = lifecycle_detail(
            signal,
            c,
            incident,
            &held.title,
            held.impact,
            &reason,
            Some(record.signal_count),
        );
        cx.publish(LifecycleKind::IncidentUpdated, detail).await?;
        Ok(TriageAnswer::on(Action::Joined, c, held, incident, reason))
    }

    async fn recover(
        &self,
        signal: &Signal,
        c: &Classification,
        cx: &Invocation<'_>,
    ) -> Result<TriageAnswer, TriageError> {
        let now = cx.now();
        let Some(held) = self.bound(&c.dedupe_key, now).await? else {
            return Ok(TriageAnswer::decided(
                Action::Ignored,
                c,
                None,
                format!(
                    "The signal cleared, but no open incident holds `{}`; nothing to recover.",
                    c.dedupe_key
                ),
            ));
        };
        let incident = bound_incident(&held)?;
        let window = Duration::seconds(i64::try_from(c.correlation_window_secs).unwrap_or(0));
        let record = self
            .keys
            .touch(&c.dedupe_key, KeyStatus::Recovered, now, now + window)
            .await?;
        let token = stable_hash(&["triage-recover", &c.dedupe_key, &signal.fingerprint], 64);
        let text = format!(
            "Signal recovered: {}{}",
            signal.summary,
            if c.auto_resolve {
                " — the responder will verify and resolve."
            } else {
                " — waiting for a responder to resolve."
            }
        );
        let kind = EntryKind::SignalRecovered {
            signal: signal.fingerprint.clone(),
        };
        self.note(incident, signal, kind, &text, &token).await?;
        let reason = format!(
            "The signal cleared; the incident holding `{}` is marked recovered ({}).",
            c.dedupe_key,
            if c.auto_resolve {
                "auto-resolve after verification"
            } else {
                "the rule leaves resolution to a responder"
            }
        );
        let detail = lifecycle_detail(
            signal,
            c,
            incident,
            &held.title,
            held.impact,
            &reason,
            Some(record.signal_count),
        );
        cx.publish(LifecycleKind::SignalRecovered, detail).await?;
        Ok(TriageAnswer::on(
            Action::Recovered,
            c,
            &held,
            incident,
            reason,
        ))
    }

    async fn inform(
        &self,
        signal: &Signal,
        c: &Classification,
        cx: &Invocation<'_>,
    ) -> Result<TriageAnswer, TriageError> {
        let Some(held) = self.bound(&c.dedupe_key, cx.now()).await? else {
            return Ok(TriageAnswer::decided(
                Action::Ignored,
                c,
                None,
                format!(
                    "{} is neither firing nor recovered, and no incident holds `{}`: it opens nothing.",
                    signal.summary, c.dedupe_key
                ),
            ));
        };
        let incident = bound_incident(&held)?;
        let token = stable_hash(&["triage-inform", &c.dedupe_key, &signal.fingerprint], 64);
        let text = format!(
            "Signal lost its data (no change to the incident): {}",
            signal.summary
        );
        let kind = EntryKind::SignalNoData {
            signal: signal.fingerprint.clone(),
        };
        self.note(incident, signal, kind, &text, &token).await?;
        let reason = format!(
            "Noted on the incident holding `{}`: the signal has no data (neither firing nor recovered).",
            c.dedupe_key
        );
        let detail = lifecycle_detail(
            signal,
            c,
            incident,
            &held.title,
            held.impact,
            &reason,
            Some(held.signal_count),
        );
        cx.publish(LifecycleKind::IncidentUpdated, detail).await?;
        Ok(TriageAnswer::on(Action::Joined, c, &held, incident, reason))
    }

    /// The record binding `key` at `now`, if any; an incident still being opened is an error to
    /// retry (the recovery must not overtake the opening).
    async fn bound(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DedupeRecord>, TriageError> {
        match self.keys.get(key).await? {
            Some(record) if record.binds(now) => {
                if record.status == KeyStatus::Opening {
                    return Err(TriageError::OpeningInProgress {
                        key: key.to_string(),
                    });
                }
                Ok(Some(record))
            }
            _ => Ok(None),
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
