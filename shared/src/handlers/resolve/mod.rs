//! The `resolve` stage: verifies a recovery before closing anything, and leaves a record the
//! team can learn from.
//!
//! It reads the responder bus's `Signal Recovered` events (every other lifecycle event is
//! `ignored`). For the recovered signal, once (a re-delivery replays the stored answer):
//! 1. the dedupe key's row must still be this incident's and `recovered` (or `resolved` by an
//!    earlier attempt that failed later); a key that fired again, moved on or is gone → `ignored`;
//! 2. verification, one sentence per check (`verify`): the VPN's tunnels, the alarm's state,
//!    the finding's or Health event's own state;
//! 3. every check passed and the rule allows auto-resolve → the key is settled (`resolved`), the
//!    post-incident record ([`crate::report`]) is written to S3 and attached to the incident,
//!    an [`EntryKind::Resolved`] entry says what verified the recovery, the incident is resolved
//!    with a closing summary, and `Incident Resolved` is published (`resolved`);
//! 4. otherwise → one [`EntryKind::AwaitingResponder`] entry ("Signal recovered; waiting for a
//!    responder to resolve: …") and `Incident Updated` with the reason, for `notify` to post
//!    (`awaiting_responder`).
//!
//! Every write repeats safely when Lambda retries a failed invocation: the same client tokens,
//! the same timeline times, the same S3 key. Metrics (EMF on stdout): `IncidentsResolved` and
//! `TimeToResolve`, or `IncidentsAwaitingResponder`, by `Impact` and by `Service`.

mod closing;
mod person;
mod verify;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{
    stable_hash, trim_chars, EntryKind, IncidentRef, IncidentSummary, LifecycleDetail,
    LifecycleEvent, LifecycleKind, RelatedItem, RelatedItemKind, RelatedValue, ReportLink,
    Resolution, ResolutionRequest, ResolutionStatus, TimelineEntry,
};
use crate::metrics::{self, Metric};
use crate::ports::{
    AlarmStates, DedupeRecord, DedupeStore, Ec2Reads, IncidentResolver, IncidentWriter, KeyStatus,
    ReferenceStore, ReportStore, Settle, SettleWhen, SETTLED_KEEP,
};
use crate::report::{self, ReportInput};
use crate::shell::{BusEvent, Invocation, Outcome, Stage, StageError};

#[cfg(test)]
use closing::resolved_metrics;
use closing::{commit_key, Commit};
use verify::Check;

/// How long a committed resolution is kept for a retry to finish (Lambda retries an
/// asynchronous invocation for up to 6 hours).
const COMMIT_KEEP: Duration = Duration::days(2);
/// The closing summary, in characters (Incident Manager's `summary` takes 8,000).
const SUMMARY_MAX: usize = 4_000;
/// The related item's title.
pub const REPORT_ITEM_TITLE: &str = "Post-incident record";

/// What resolve did (**contract**).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolveAction {
    /// Verified and resolved; the post-incident record is written.
    Resolved,
    /// The signal recovered, but verification failed or the rule leaves it to a responder.
    AwaitingResponder,
    /// Nothing to do: another lifecycle event, a key that fired again or moved on.
    Ignored,
}

/// Resolve's answer for one event (**contract**).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolveAnswer {
    pub action: ResolveAction,
    /// The incident (record ARN or OpsItem id).
    pub incident: Option<String>,
    /// The post-incident record (`s3://bucket/key`), once written.
    pub report: Option<String>,
    /// One human sentence.
    pub reason: String,
}

impl ResolveAnswer {
    fn new(action: ResolveAction, incident: &str, reason: impl Into<String>) -> Self {
        ResolveAnswer {
            action,
            incident: Some(incident.to_string()),
            report: None,
            reason: reason.into(),
        }
    }
}

impl Outcome for ResolveAnswer {
    fn action(&self) -> &'static str {
        match self.action {
            ResolveAction::Resolved => "resolved",
            ResolveAction::AwaitingResponder => "awaiting_responder",
            ResolveAction::Ignored => "ignored",
        }
    }

    fn incident(&self) -> Option<&str> {
        self.incident.as_deref()
    }

    fn reason(&self) -> &str {
        &self.reason
    }
}

/// The answer for a re-delivery: what the first delivery answered, as a no-op.
fn replay(first: Option<ResolveAnswer>, incident: &str) -> ResolveAnswer {
    match first {
        Some(mut first) => {
            first.reason = format!(
                "Re-delivery of a recovery already handled; nothing done. First time: {}",
                first.reason
            );
            first
        }
        None => ResolveAnswer::new(
            ResolveAction::Ignored,
            incident,
            "Re-delivery of a recovery already handled; nothing done.",
        ),
    }
}

/// The resolve stage with its ports.
pub struct Resolve {
    incidents: Arc<dyn IncidentWriter>,
    records: Arc<dyn IncidentResolver>,
    network: Arc<dyn Ec2Reads>,
    alarms: Arc<dyn AlarmStates>,
    reports: Arc<dyn ReportStore>,
    keys: Arc<dyn DedupeStore>,
    progress: Arc<dyn ReferenceStore>,
    /// Target groups' health; without it a target group's recovery is verified by its alarm
    /// alone.
    target_groups: Option<Arc<dyn crate::ports::TargetGroups>>,
}

impl Resolve {
    pub fn new(
        incidents: Arc<dyn IncidentWriter>,
        records: Arc<dyn IncidentResolver>,
        network: Arc<dyn Ec2Reads>,
        alarms: Arc<dyn AlarmStates>,
        reports: Arc<dyn ReportStore>,
        keys: Arc<dyn DedupeStore>,
        progress: Arc<dyn ReferenceStore>,
    ) -> Self {
        Resolve {
            incidents,
            records,
            network,
            alarms,
            reports,
            keys,
            progress,
            target_groups: None,
        }
    }

    /// Verifies a target group's recovery by its targets' health too.
    pub fn with_target_groups(
        mut self,
        target_groups: Arc<dyn crate::ports::TargetGroups>,
    ) -> Self {
        self.target_groups = Some(target_groups);
        self
    }
}

#[async_trait]
impl Stage for Resolve {
    const NAME: &'static str = "resolve";
    const TAKES: &'static str =
        "`Signal Recovered` and `Resolution Requested` from incident.responder";
    const PUBLISHES: bool = true;
    type Input = BusEvent;
    type Answer = ResolveAnswer;
    type Error = StageError;

    async fn handle(
        &self,
        input: BusEvent,
        cx: &Invocation<'_>,
    ) -> Result<ResolveAnswer, StageError> {
        let recovered = input.event;
        let summary = &recovered.detail.incident;
        if recovered.kind == LifecycleKind::ResolutionRequested {
            let Some(request) = &recovered.detail.request else {
                return Err(StageError::MalformedEvent(
                    "responder bus `Resolution Requested` event: detail.request is missing".into(),
                ));
            };
            StageError::check_backend(summary, self.incidents.backend())?;
            let key = format!("resolve#{}#person", summary.id);
            return cx
                .once(
                    &key,
                    |first| replay(first, &summary.id),
                    |_| self.by_person(&recovered, request, cx),
                )
                .await;
        }
        if recovered.kind != LifecycleKind::SignalRecovered {
            return Ok(ResolveAnswer::new(
                ResolveAction::Ignored,
                &summary.id,
                format!(
                    "`{}` is not for the resolve stage (it acts on `Signal Recovered`).",
                    recovered.kind.detail_type()
                ),
            ));
        }
        StageError::check_backend(summary, self.incidents.backend())?;
        let key = format!(
            "resolve#{}#{}",
            summary.id, recovered.detail.signal.fingerprint
        );
        cx.once(
            &key,
            |first| replay(first, &summary.id),
            |_| self.resolve(&recovered, cx),
        )
        .await
    }
}

impl Resolve {
    async fn resolve(
        &self,
        recovered: &LifecycleEvent,
        cx: &Invocation<'_>,
    ) -> Result<ResolveAnswer, StageError> {
        let detail = &recovered.detail;
        let summary = &detail.incident;
        let incident = IncidentRef {
            backend: summary.backend,
            id: summary.id.clone(),
        };
        let now = cx.now();
        let commit = commit_key(&incident.id, &detail.signal.fingerprint);
        if let Some(stored) = self.progress.recall(&commit, now).await? {
            if let Ok(commit) = serde_json::from_str::<Commit>(&stored) {
                tracing::info!(incident = %incident.id, "finishing a committed resolution");
                return self
                    .settle_and_finish(recovered, &incident, commit, cx)
                    .await;
            }
        }
        let row = match self.keys.get(&summary.dedupe_key).await? {
            Some(row) => row,
            None => {
                return Ok(ResolveAnswer::new(
                    ResolveAction::Ignored,
                    &incident.id,
                    format!(
                        "The dedupe key `{}` is gone; nothing binds it to this incident any more.",
                        summary.dedupe_key
                    ),
                ))
            }
        };
        if let Some(ignored) = not_ours(&row, &incident.id) {
            return Ok(ResolveAnswer::new(
                ResolveAction::Ignored,
                &incident.id,
                ignored,
            ));
        }
        if row.status == KeyStatus::Resolved && !self.still_open(&incident).await? {
            return Ok(ResolveAnswer::new(
                ResolveAction::Ignored,
                &incident.id,
                "The incident is already resolved (by a person, or in its backend); nothing to do.",
            ));
        }
        let checks = self.verify(&detail.signal, summary, now, cx.home()).await?;
        let verified = checks.iter().all(|c| c.passed);
        if summary.auto_resolve && verified {
            self.close(recovered, &incident, row, &checks, now, cx)
                .await
        } else {
            self.wait(recovered, &incident, &row, &checks, now, cx)
                .await
        }
    }

    /// Not verified, or not the rule's to resolve: say why on the incident and on the bus.
    async fn wait(
        &self,
        recovered: &LifecycleEvent,
        incident: &IncidentRef,
        row: &DedupeRecord,
        checks: &[Check],
        now: DateTime<Utc>,
        cx: &Invocation<'_>,
    ) -> Result<ResolveAnswer, StageError> {
        let verified = checks.iter().all(|c| c.passed);
        let detail = &recovered.detail;
        let summary = &detail.incident;
        let why = waiting_reason(summary, checks);
        // The failed checks are the reason; the others are said in brackets.
        let others: Vec<&str> = checks
            .iter()
            .filter(|c| c.passed)
            .map(|c| c.sentence.as_str())
            .collect();
        let mut text = format!("Signal recovered; waiting for a responder to resolve: {why}");
        if !others.is_empty() {
            text.push_str(&format!(" ({})", others.join("; ")));
        }
        let kind = EntryKind::AwaitingResponder {
            signal: detail.signal.fingerprint.clone(),
        };
        self.note(
            recovered,
            incident,
            kind,
            &text,
            &client_token(
                &incident.id,
                &format!("waiting:{}", detail.signal.fingerprint),
            ),
        )
        .await?;
        let resolution = Resolution {
            status: ResolutionStatus::AwaitingResponder,
            verified,
            checks: checks.iter().map(|c| c.sentence.clone()).collect(),
            waiting_reason: Some(why.clone()),
            report: None,
            time_to_resolve_secs: None,
            resolved_by: None,
        };
        let updated = resolution_detail(detail, &text, row.signal_count, resolution);
        cx.publish(LifecycleKind::IncidentUpdated, updated).await?;
        emit(summary, now, &awaiting_metrics());
        Ok(ResolveAnswer::new(
            ResolveAction::AwaitingResponder,
            &incident.id,
            text,
        ))
    }

    /// Whether the incident is open in its backend (a deleted one is not).
    async fn still_open(&self, incident: &IncidentRef) -> Result<bool, StageError> {
        match self.incidents.standing(incident).await {
            Ok(standing) => Ok(standing.open),
            Err(e) if e.kind == crate::ports::PortErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// One timeline entry, at the recovery event's time: a retry writes the very same entry
    /// (OpsCenter keys entries by time and token).
    async fn note(
        &self,
        recovered: &LifecycleEvent,
        incident: &IncidentRef,
        kind: EntryKind,
        text: &str,
        token: &str,
    ) -> Result<(), StageError> {
        let entry = TimelineEntry::new(recovered.time, kind, text);
        self.incidents.add_timeline(incident, &entry, token).await?;
        Ok(())
    }
}

/// The detail of the event that announces resolve's verdict.
fn resolution_detail(
    detail: &LifecycleDetail,
    reason: &str,
    signal_count: u64,
    resolution: Resolution,
) -> LifecycleDetail {
    LifecycleDetail {
        incident: detail.incident.clone(),
        signal: detail.signal.clone(),
        reason: trim_chars(reason, 2_000),
        signal_count: Some(signal_count),
        diagnosis: None,
        automation: None,
        resolution: Some(resolution),
        escalation: None,
        request: None,
        hold: None,
        silence: None,
        changes: None,
        inspection: None,
    }
}

/// Why the row does not let this incident be resolved, if it does not.
fn not_ours(row: &DedupeRecord, incident: &str) -> Option<String> {
    let bound = row.incident.as_ref().map(|i| i.id.as_str());
    if bound != Some(incident) {
        return Some(match bound {
            Some(other) => format!(
                "The dedupe key `{}` now belongs to incident {other}; nothing to resolve here.",
                row.key
            ),
            None => format!(
                "The dedupe key `{}` is being claimed for a new incident; nothing to resolve here.",
                row.key
            ),
        });
    }
    match row.status {
        KeyStatus::Open => Some(format!(
            "The signal fired again after it recovered (key `{}` is open); the incident stays open.",
            row.key
        )),
        KeyStatus::Opening => Some(format!(
            "The dedupe key `{}` is being claimed for a new incident; nothing to resolve here.",
            row.key
        )),
        KeyStatus::Recovered | KeyStatus::Resolved => None,
    }
}

/// Why the incident waits for a responder: the failed checks, and/or the rule.
fn waiting_reason(summary: &IncidentSummary, checks: &[Check]) -> String {
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.sentence.as_str())
        .collect();
    let rule = format!("rule {} leaves resolution to a responder", summary.rule);
    match (failed.is_empty(), summary.auto_resolve) {
        (true, _) => rule,
        (false, true) => format!("verification failed: {}", failed.join("; ")),
        (false, false) => format!("verification failed: {}; and {rule}", failed.join("; ")),
    }
}

/// The metrics of a recovery left to a responder.
fn awaiting_metrics() -> Vec<Metric> {
    vec![Metric::count("IncidentsAwaitingResponder")]
}

/// EMF on stdout, by impact and by service.
fn emit(summary: &IncidentSummary, now: DateTime<Utc>, list: &[Metric]) {
    let impact = summary.impact.get().to_string();
    metrics::emit(
        now,
        &[
            ("Impact", impact.as_str()),
            ("Service", summary.service.as_str()),
        ],
        list,
    );
}

/// The client token of one write onto an incident: a retry sends the same one.
fn client_token(incident: &str, item: &str) -> String {
    stable_hash(&[incident, "resolve", item], 64)
}

#[cfg(test)]
mod tests;
