//! The `triage` function: a raw AWS event in, a decision out.
//!
//! For each signal in the event: classify it with the rules, then
//! - no rule matches → `ignored`; the rule suppresses → `suppressed` (no state, no calls);
//! - firing → claim the dedupe key in the state table (a conditional write): the winner opens
//!   the incident (`opened`), everyone else joins the incident that holds the key (`joined`);
//! - recovered → the key's incident is marked recovered (`recovered`) for `resolve` to verify;
//! - informational (alarm `INSUFFICIENT_DATA`) → noted on an open incident (`joined`), else
//!   `ignored`: missing data never opens or closes an incident.
//!
//! Every occurrence is handled once: a re-delivered event replays its stored answer without
//! side effects, and a retried invocation finishes what the failed one started with the same
//! client tokens, so it can neither open a second incident nor announce one twice.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{error, info, warn, Instrument};

use crate::domain::{
    stable_hash, Classification, Impact, IncidentRef, IncidentSummary, LifecycleDetail,
    LifecycleEvent, LifecycleKind, NewIncident, RelatedItem, Signal, SignalState, TimelineEntry,
    Trigger, RESPONDER_SOURCE,
};
use crate::handlers::once::{run_once, Once};
use crate::metrics::{self, Metric};
use crate::ports::{
    Claim, ClaimOutcome, Clock, DedupeRecord, EventBus, IncidentStore, KeyStatus, PortError,
    StateStore,
};
use crate::rules::Rules;
use crate::sources::{self, Parsed, SourceError};

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

/// What triage decided (**contract**).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Ignored,
    Suppressed,
    Recovered,
    Joined,
    Opened,
}

/// Triage's answer for one event (**contract**): `action`, `rule`, `impact`, `dedupe_key`,
/// `incident`, `reason`. An event with several signals (Security Hub may batch findings)
/// answers with its most significant decision and lists every signal's answer in `signals`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriageAnswer {
    pub action: Action,
    pub rule: Option<String>,
    pub impact: Option<Impact>,
    pub dedupe_key: Option<String>,
    pub incident: Option<String>,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<TriageAnswer>,
}

impl TriageAnswer {
    fn ignored(reason: impl Into<String>) -> Self {
        TriageAnswer {
            action: Action::Ignored,
            rule: None,
            impact: None,
            dedupe_key: None,
            incident: None,
            reason: reason.into(),
            signals: Vec::new(),
        }
    }

    fn decided(
        action: Action,
        c: &Classification,
        incident: Option<&IncidentRef>,
        reason: impl Into<String>,
    ) -> Self {
        TriageAnswer {
            action,
            rule: Some(c.rule_id.clone()),
            impact: Some(c.impact),
            dedupe_key: Some(c.dedupe_key.clone()),
            incident: incident.map(|i| i.id.clone()),
            reason: reason.into(),
            signals: Vec::new(),
        }
    }
}

/// Why an invocation failed. Each variant has a stable error type for Lambda's error report.
#[derive(Debug, thiserror::Error)]
pub enum TriageError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("{0}")]
    Port(#[from] PortError),
    #[error("dedupe key `{key}` is being opened by another invocation; retry later")]
    OpeningInProgress { key: String },
    #[error("this event is being handled by another invocation right now; retry later")]
    EventInProgress,
    #[error("state table row for `{key}` is inconsistent: {problem}")]
    Inconsistent { key: String, problem: String },
}

impl TriageError {
    /// Stable names for the Lambda error report (`errorType`).
    pub fn error_type(&self) -> &'static str {
        match self {
            TriageError::Source(e) => e.error_type(),
            TriageError::Port(e) => e.kind.error_type(),
            TriageError::OpeningInProgress { .. } => "OpeningInProgress",
            TriageError::EventInProgress => "EventInProgress",
            TriageError::Inconsistent { .. } => "InconsistentState",
        }
    }
}

/// The triage handler with its ports.
pub struct Triage {
    rules: Rules,
    incidents: Arc<dyn IncidentStore>,
    state: Arc<dyn StateStore>,
    bus: Arc<dyn EventBus>,
    clock: Arc<dyn Clock>,
}

impl Triage {
    pub fn new(
        rules: Rules,
        incidents: Arc<dyn IncidentStore>,
        state: Arc<dyn StateStore>,
        bus: Arc<dyn EventBus>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Triage {
            rules,
            incidents,
            state,
            bus,
            clock,
        }
    }

    /// Handles one inbound event. `deadline` is the invocation's deadline: work it starts is
    /// leased until then, so a retry after a crash can take over.
    pub async fn handle(
        &self,
        event: &Value,
        deadline: DateTime<Utc>,
    ) -> Result<TriageAnswer, TriageError> {
        // The EventBridge id correlates this invocation's log lines with the event.
        let event_id = event.get("id").and_then(Value::as_str).unwrap_or("");
        let span = tracing::info_span!("triage", service = "triage", event_id);
        let result = self
            .handle_event(event, deadline)
            .instrument(span.clone())
            .await;
        if let Err(e) = &result {
            span.in_scope(|| error!(error_type = e.error_type(), error = %e, "event not handled"));
        }
        result
    }

    async fn handle_event(
        &self,
        event: &Value,
        deadline: DateTime<Utc>,
    ) -> Result<TriageAnswer, TriageError> {
        let signals = match sources::parse(event)? {
            Parsed::NotHandled(reason) => {
                info!(%reason, "event not handled");
                return Ok(TriageAnswer::ignored(reason));
            }
            Parsed::Signals(signals) => signals,
        };
        if signals.is_empty() {
            return Ok(TriageAnswer::ignored("the event carries no signal"));
        }
        let raw = serde_json::to_string(event).unwrap_or_default();
        let mut answers = Vec::with_capacity(signals.len());
        for signal in &signals {
            answers.push(self.handle_signal(signal, &raw, deadline).await?);
        }
        Ok(combine(answers))
    }

    async fn handle_signal(
        &self,
        signal: &Signal,
        raw: &str,
        deadline: DateTime<Utc>,
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
            emit_decision(&answer, &c, self.clock.now());
            return Ok(answer);
        }

        let occurrence = format!("triage#{}#{}", c.dedupe_key, signal.fingerprint);
        let ran = run_once(
            self.state.as_ref(),
            self.clock.as_ref(),
            &occurrence,
            deadline,
            |lease_until| {
                let c = &c;
                async move {
                    match signal.state {
                        SignalState::Firing => self.fire(signal, c, raw, lease_until).await,
                        SignalState::Recovered => self.recover(signal, c).await,
                        SignalState::Informational => self.inform(signal, c).await,
                    }
                }
            },
        )
        .await?;
        let answer = match ran {
            Once::Done(answer) => answer,
            Once::Replayed(stored) => return Ok(replay(&stored, &c)),
            Once::Busy => return Err(TriageError::EventInProgress),
        };
        emit_decision(&answer, &c, self.clock.now());
        info!(
            action = ?answer.action,
            rule = %c.rule_id,
            dedupe_key = %c.dedupe_key,
            incident = answer.incident.as_deref().unwrap_or(""),
            "triaged"
        );
        Ok(answer)
    }

    async fn fire(
        &self,
        signal: &Signal,
        c: &Classification,
        raw: &str,
        lease_until: DateTime<Utc>,
    ) -> Result<TriageAnswer, TriageError> {
        let now = self.clock.now();
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
        let mut held = match self.state.claim(&claim).await? {
            ClaimOutcome::Claimed => return self.open(signal, c, raw).await,
            ClaimOutcome::Held(record) => record,
        };
        if held.owner == signal.fingerprint {
            // An earlier attempt for this very occurrence claimed the key and failed later on:
            // finish its work with the same client token.
            return match &held.incident {
                None => self.open(signal, c, raw).await,
                Some(incident) => {
                    let incident = incident.clone();
                    self.announce_opened(signal, c, &incident).await
                }
            };
        }
        for pause in OPENING_WAIT {
            if held.status != KeyStatus::Opening {
                break;
            }
            tokio::time::sleep(pause).await;
            match self.state.get(&c.dedupe_key).await? {
                Some(record) if record.binds(self.clock.now()) => held = record,
                // The other invocation's claim lapsed meanwhile: claim it afresh.
                _ => return Box::pin(self.fire(signal, c, raw, lease_until)).await,
            }
        }
        if held.status == KeyStatus::Opening {
            return Err(TriageError::OpeningInProgress {
                key: c.dedupe_key.clone(),
            });
        }
        self.join(signal, c, &held).await
    }

    async fn open(
        &self,
        signal: &Signal,
        c: &Classification,
        raw: &str,
    ) -> Result<TriageAnswer, TriageError> {
        let incident = new_incident(signal, c, raw);
        let reference = self.incidents.open(&incident).await?;
        self.state
            .confirm_open(
                &c.dedupe_key,
                &signal.fingerprint,
                &reference,
                self.clock.now() + OPEN_BINDING,
            )
            .await?;
        self.announce_opened(signal, c, &reference).await
    }

    async fn announce_opened(
        &self,
        signal: &Signal,
        c: &Classification,
        incident: &IncidentRef,
    ) -> Result<TriageAnswer, TriageError> {
        let reason = format!(
            "Opened an incident in {}, impact {}, for rule {}: {}.",
            incident.backend.label(),
            c.impact,
            c.rule_id,
            c.title
        );
        self.publish(
            LifecycleKind::IncidentOpened,
            signal,
            c,
            incident,
            &c.title,
            c.impact,
            &reason,
            Some(1),
        )
        .await?;
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
    ) -> Result<TriageAnswer, TriageError> {
        let incident = bound_incident(held)?;
        let now = self.clock.now();
        let record = self
            .state
            .touch(&c.dedupe_key, KeyStatus::Open, now, now + OPEN_BINDING)
            .await?;
        let token = stable_hash(&["triage-join", &c.dedupe_key, &signal.fingerprint], 64);
        let text = format!(
            "Another signal joined (signal {}): {}",
            record.signal_count, signal.summary
        );
        self.note(incident, "signal-joined", signal.time, &text, &token)
            .await?;
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
        self.publish(
            LifecycleKind::IncidentUpdated,
            signal,
            c,
            incident,
            &held.title,
            held.impact,
            &reason,
            Some(record.signal_count),
        )
        .await?;
        Ok(answer_for(Action::Joined, c, held, incident, reason))
    }

    async fn recover(
        &self,
        signal: &Signal,
        c: &Classification,
    ) -> Result<TriageAnswer, TriageError> {
        let now = self.clock.now();
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
            .state
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
        self.note(incident, "signal-recovered", signal.time, &text, &token)
            .await?;
        let reason = format!(
            "The signal cleared; the incident holding `{}` is marked recovered ({}).",
            c.dedupe_key,
            if c.auto_resolve {
                "auto-resolve after verification"
            } else {
                "the rule leaves resolution to a responder"
            }
        );
        self.publish(
            LifecycleKind::SignalRecovered,
            signal,
            c,
            incident,
            &held.title,
            held.impact,
            &reason,
            Some(record.signal_count),
        )
        .await?;
        Ok(answer_for(Action::Recovered, c, &held, incident, reason))
    }

    async fn inform(
        &self,
        signal: &Signal,
        c: &Classification,
    ) -> Result<TriageAnswer, TriageError> {
        let now = self.clock.now();
        let Some(held) = self.bound(&c.dedupe_key, now).await? else {
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
        self.note(incident, "signal-informational", signal.time, &text, &token)
            .await?;
        let reason = format!(
            "Noted on the incident holding `{}`: the signal has no data (neither firing nor recovered).",
            c.dedupe_key
        );
        self.publish(
            LifecycleKind::IncidentUpdated,
            signal,
            c,
            incident,
            &held.title,
            held.impact,
            &reason,
            Some(held.signal_count),
        )
        .await?;
        Ok(answer_for(Action::Joined, c, &held, incident, reason))
    }

    /// The row binding `key` at `now`, if any; an incident still being opened is an error to
    /// retry (the recovery must not overtake the opening).
    async fn bound(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DedupeRecord>, TriageError> {
        match self.state.get(key).await? {
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

    async fn note(
        &self,
        incident: &IncidentRef,
        event: &str,
        time: DateTime<Utc>,
        text: &str,
        token: &str,
    ) -> Result<(), TriageError> {
        let entry = TimelineEntry {
            time,
            event: event.to_string(),
            text: text.to_string(),
        };
        self.incidents.add_timeline(incident, &entry, token).await?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn publish(
        &self,
        kind: LifecycleKind,
        signal: &Signal,
        c: &Classification,
        incident: &IncidentRef,
        title: &str,
        impact: Impact,
        reason: &str,
        signal_count: Option<u64>,
    ) -> Result<(), TriageError> {
        let event = LifecycleEvent {
            kind,
            time: self.clock.now(),
            detail: LifecycleDetail {
                incident: IncidentSummary {
                    backend: incident.backend,
                    id: incident.id.clone(),
                    title: title.to_string(),
                    impact,
                    severity: c.severity,
                    rule: c.rule_id.clone(),
                    service: c.service.clone(),
                    tier: c.tier.clone(),
                    dedupe_key: c.dedupe_key.clone(),
                    resources: signal.resources.clone(),
                    runbook: c.runbook.clone(),
                    auto_resolve: c.auto_resolve,
                    next_steps: c.next_steps.clone(),
                },
                signal: signal.clone(),
                reason: reason.to_string(),
                signal_count,
                diagnosis: None,
                automation: None,
                resolution: None,
            },
        };
        if let Err(e) = self.bus.publish(&event).await {
            warn!(error = %e, detail_type = kind.detail_type(), "publishing to the responder bus failed");
            return Err(e.into());
        }
        Ok(())
    }
}

/// The metric of one signal's decision (made now, not replayed) with its dimensions, by impact
/// and by service from the classification: `IncidentsOpened`, `SignalsJoined`,
/// `SignalsSuppressed`; recoveries and ignored signals count nothing here.
fn decision_metric(
    answer: &TriageAnswer,
    c: &Classification,
) -> Option<(Metric, [(&'static str, String); 2])> {
    let name = match answer.action {
        Action::Opened => "IncidentsOpened",
        Action::Joined => "SignalsJoined",
        Action::Suppressed => "SignalsSuppressed",
        Action::Recovered | Action::Ignored => return None,
    };
    Some((
        Metric::count(name),
        [
            ("Impact", c.impact.get().to_string()),
            ("Service", c.service.clone()),
        ],
    ))
}

/// Writes the decision's metric (EMF on stdout).
fn emit_decision(answer: &TriageAnswer, c: &Classification, time: DateTime<Utc>) {
    if let Some((metric, dimensions)) = decision_metric(answer, c) {
        let dimensions: Vec<(&str, &str)> =
            dimensions.iter().map(|(k, v)| (*k, v.as_str())).collect();
        metrics::emit(time, &dimensions, &[metric]);
    }
}

fn bound_incident(record: &DedupeRecord) -> Result<&IncidentRef, TriageError> {
    record
        .incident
        .as_ref()
        .ok_or_else(|| TriageError::Inconsistent {
            key: record.key.clone(),
            problem: format!("status {} but no incident recorded", record.status.as_str()),
        })
}

/// The answer for a signal that acted on an existing incident: the incident's own impact.
fn answer_for(
    action: Action,
    c: &Classification,
    held: &DedupeRecord,
    incident: &IncidentRef,
    reason: String,
) -> TriageAnswer {
    let mut answer = TriageAnswer::decided(action, c, Some(incident), reason);
    answer.impact = Some(held.impact);
    answer
}

/// The answer for a re-delivered occurrence: what it decided the first time, as a no-op.
fn replay(stored: &str, c: &Classification) -> TriageAnswer {
    match serde_json::from_str::<TriageAnswer>(stored) {
        Ok(mut first) => {
            if first.action == Action::Opened {
                first.action = Action::Joined;
            }
            first.reason = format!(
                "Re-delivery of a signal already handled; nothing done. First time: {}",
                first.reason
            );
            first
        }
        Err(_) => TriageAnswer::decided(
            Action::Joined,
            c,
            None,
            "Re-delivery of a signal already handled; nothing done.",
        ),
    }
}

/// One answer for an event: the most significant decision, with every signal's answer listed
/// when there were several.
fn combine(mut answers: Vec<TriageAnswer>) -> TriageAnswer {
    if answers.len() == 1 {
        return answers.remove(0);
    }
    let best = answers
        .iter()
        .enumerate()
        .max_by_key(|(i, a)| (a.action, std::cmp::Reverse(*i)))
        .map(|(i, _)| i)
        .unwrap_or(0);
    let mut top = answers[best].clone();
    let count = |action: Action| answers.iter().filter(|a| a.action == action).count();
    top.reason = format!(
        "{} signals ({} opened, {} joined, {} recovered, {} suppressed, {} ignored). {}",
        answers.len(),
        count(Action::Opened),
        count(Action::Joined),
        count(Action::Recovered),
        count(Action::Suppressed),
        count(Action::Ignored),
        top.reason
    );
    top.signals = answers;
    top
}

/// Related items for a signal: the primary resource and every involved resource that is an ARN.
fn related_items(signal: &Signal) -> Vec<RelatedItem> {
    let mut items: Vec<RelatedItem> = Vec::new();
    for arn in std::iter::once(&signal.resource).chain(&signal.resources) {
        if arn.starts_with("arn:")
            && !items
                .iter()
                .any(|i| i.value == crate::domain::RelatedValue::Arn(arn.clone()))
        {
            items.push(RelatedItem::resource(arn.clone(), resource_title(arn)));
        }
    }
    items
}

/// A short title for a resource ARN: its last path segment with its type.
fn resource_title(arn: &str) -> String {
    let resource = arn.splitn(6, ':').nth(5).unwrap_or(arn);
    resource.replace([':', '/'], " ")
}

/// The incident record for a signal opening one.
pub fn new_incident(signal: &Signal, c: &Classification, raw: &str) -> NewIncident {
    NewIncident {
        title: c.title.clone(),
        summary: incident_summary(signal, c),
        impact: c.impact,
        severity: c.severity,
        category: c.category,
        rule_id: c.rule_id.clone(),
        service: c.service.clone(),
        dedupe_key: c.dedupe_key.clone(),
        client_token: stable_hash(&["triage-open", &c.dedupe_key, &signal.fingerprint], 64),
        trigger: Trigger {
            source: RESPONDER_SOURCE.to_string(),
            timestamp: signal.time,
            raw_data: raw.to_string(),
            arn: signal
                .resource
                .starts_with("arn:")
                .then(|| signal.resource.clone()),
        },
        related_items: related_items(signal),
        resources: signal.resources.clone(),
    }
}

/// The few lines an incident record opens with.
pub fn incident_summary(signal: &Signal, c: &Classification) -> String {
    let mut lines = vec![
        signal.summary.clone(),
        format!(
            "Impact {} — service {}, tier {}, severity {} (rule {}).",
            c.impact, c.service, c.tier, c.severity, c.rule_id
        ),
        format!(
            "Account {}, region {}, since {}.",
            signal.account,
            signal.region,
            signal.time.format("%Y-%m-%d %H:%M:%S UTC")
        ),
    ];
    if let Some(reason) = &signal.reason {
        lines.push(format!("Reason: {reason}"));
    }
    if !signal.resources.is_empty() {
        lines.push(format!("Resources: {}", signal.resources.join(", ")));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod metric_tests {
    use super::*;
    use crate::domain::{Category, Severity};

    fn classification() -> Classification {
        Classification {
            rule_id: "vpn-tunnel-down".into(),
            service: "site-to-site-vpn".into(),
            tier: "business".into(),
            severity: Severity::High,
            impact: Impact::HIGH,
            dedupe_key: "vpn-tunnel-down:vpn-0123456789abcdef0".into(),
            title: "Site-to-Site VPN vpn-0123456789abcdef0: tunnel down".into(),
            category: Category::Availability,
            suppress: false,
            correlation_window_secs: 1800,
            runbook: None,
            auto_resolve: true,
            next_steps: Vec::new(),
        }
    }

    #[test]
    fn each_decision_made_now_counts_by_impact_and_service() {
        let c = classification();
        let dimensions = [
            ("Impact", "2".to_string()),
            ("Service", "site-to-site-vpn".to_string()),
        ];
        for (action, expected) in [
            (Action::Opened, Some("IncidentsOpened")),
            (Action::Joined, Some("SignalsJoined")),
            (Action::Suppressed, Some("SignalsSuppressed")),
            (Action::Recovered, None),
            (Action::Ignored, None),
        ] {
            let answer = TriageAnswer::decided(action, &c, None, "");
            let metric = decision_metric(&answer, &c);
            assert_eq!(metric.as_ref().map(|(m, _)| m.name), expected, "{action:?}");
            if let Some((metric, dims)) = metric {
                assert_eq!(metric, Metric::count(metric.name));
                assert_eq!(dims, dimensions);
            }
        }
    }
}
