//! What people do from Slack: acknowledge (paging stops, the pending timer is cancelled) and
//! escalate now (the next stage that pages runs at once).
//!
//! AWS Chatbot runs a custom action's command with the channel's role and passes nothing about
//! who clicked, so an acknowledgement from Slack is recorded as "someone in Slack" at the time
//! it arrived.

use super::console::{self, Change, ConsoleChange};
use super::record::{EscalationRecord, Stop, StopReason};
use super::{already, secs_between, Escalate, EscalateAction, EscalateAnswer, EscalateError};
use crate::domain::{
    EntryKind, EscalationNote, Impact, LifecycleDetail, LifecycleKind, ResolutionRequest,
    TimelineEntry,
};
use crate::metrics::{self, Metric};
use crate::rules::Step;
use crate::shell::Invocation;

/// Who acknowledged or resolved from a Slack button.
pub(super) const SLACK_PERSON: &str = "someone in Slack";

impl Escalate {
    pub(super) async fn acknowledge(
        &self,
        record: &EscalationRecord,
        by: &str,
        via: &str,
        cx: &Invocation<'_>,
    ) -> Result<EscalateAnswer, EscalateError> {
        let id = record.incident.id.clone();
        let records = self.records();
        // Resolved: nothing to acknowledge. Acknowledged: the run-once key below says whether
        // that acknowledgement finished (replayed) or failed part-way (finished now).
        let earlier = records.stop(&id, cx.now()).await?;
        if let Some(stop) = earlier
            .as_ref()
            .filter(|s| s.reason == StopReason::Resolved)
        {
            return Ok(EscalateAnswer::new(
                EscalateAction::Ignored,
                &id,
                format!("Already {}.", stop.sentence()),
            ));
        }
        let key = format!("escalate#{id}#acknowledged");
        let replay = |first| {
            let said = match earlier
                .as_ref()
                .filter(|s| s.reason == StopReason::Acknowledged)
            {
                Some(stop) => format!("Already {}", stop.sentence()),
                None => "Already acknowledged".to_string(),
            };
            already(first, &id, &said)
        };
        cx.once(&key, replay, |_| async {
            let now = cx.now();
            let stop = Stop {
                reason: StopReason::Acknowledged,
                by: by.to_string(),
                via: via.to_string(),
                at: now,
            };
            records.put_stop(&id, &stop, now).await?;
            if let Some(pending) = &record.pending {
                self.timers.cancel(&pending.timer).await?;
            }
            let unanswered = secs_between(record.opened_at, now);
            let entry = TimelineEntry::new(
                now,
                EntryKind::Acknowledged {
                    by: stop.by.clone(),
                    via: via.to_string(),
                },
                &format!(
                    "Acknowledged by {} (from {via}) {} min after the incident opened; paging stopped",
                    stop.by,
                    unanswered / 60
                ),
            );
            self.timeline(record, &entry, "acknowledged").await?;
            let note = EscalationNote {
                policy: record.policy.clone(),
                stage: None,
                round: None,
                paged: Vec::new(),
                exhausted: false,
                unanswered_secs: unanswered,
                acknowledged_by: Some(stop.by.clone()),
                via: Some(via.to_string()),
            };
            self.announce(record, LifecycleKind::IncidentAcknowledged, note, "acknowledged", cx)
                .await?;
            let impact = record.incident.impact.get().to_string();
            metrics::emit(
                now,
                &[("Impact", impact.as_str())],
                &[Metric::seconds("TimeToAcknowledge", unanswered as f64)],
            );
            Ok(EscalateAnswer {
                policy: record.policy.clone(),
                ..EscalateAnswer::new(
                    EscalateAction::Acknowledged,
                    &id,
                    format!(
                        "Acknowledged {} min after the incident opened; paging stopped.",
                        unanswered / 60
                    ),
                )
            })
        })
        .await
    }

    /// Runs the next step that pages someone now: the pending one (or the one after it, if it
    /// pages nobody), else, for an incident without a policy, the first paging step of impact 1's.
    pub(super) async fn escalate_now(
        &self,
        record: &EscalationRecord,
        cx: &Invocation<'_>,
    ) -> Result<EscalateAnswer, EscalateError> {
        let id = &record.incident.id;
        let mut record = record.clone();
        if record.policy.is_none() {
            let policy = self.rules.escalation().policy_for(
                None,
                &record.incident.service,
                Impact::CRITICAL,
            );
            record.policy = policy.map(|p| p.name.clone());
        }
        let Some(policy) = record
            .policy
            .as_deref()
            .and_then(|p| self.rules.escalation().policy(p))
        else {
            return Ok(EscalateAnswer::new(
                EscalateAction::Ignored,
                id,
                "No escalation policy pages anyone for this incident (not even impact 1's).",
            ));
        };
        let from = record.pending.as_ref().map_or(Step::FIRST, |p| Step {
            stage: p.stage.saturating_sub(1) as usize,
            round: p.round,
        });
        let Some(step) = policy.next_paging(from) else {
            return Ok(EscalateAnswer::new(
                EscalateAction::Ignored,
                id,
                "Every stage of the policy has paged already.",
            ));
        };
        let acknowledged = self
            .records()
            .stop(id, cx.now())
            .await?
            .is_some_and(|s| s.reason == StopReason::Acknowledged);
        let mut answer = self
            .run_step(&record, step, cx.now(), acknowledged, cx)
            .await?;
        // The step it replaces, once the new one is set (a failure above leaves it pending,
        // so that paging goes on).
        if let Some(pending) = &record.pending {
            let replaced = answer.next.as_ref().map(|n| n.timer.as_str());
            if !acknowledged && replaced != Some(pending.timer.as_str()) {
                self.timers.cancel(&pending.timer).await?;
            }
        }
        answer.reason = format!("Escalated now: {}", answer.reason);
        Ok(answer)
    }
}

impl Escalate {
    /// What a person did in the console: their own changes aside, an acknowledgement or a
    /// resolution of an incident the responder escalates.
    pub(super) async fn console(
        &self,
        change: ConsoleChange,
        cx: &Invocation<'_>,
    ) -> Result<EscalateAnswer, EscalateError> {
        let id = &change.incident;
        if console::is_responder(&change.by, &self.own_roles) {
            return Ok(EscalateAnswer::new(
                EscalateAction::Ignored,
                id,
                "A change the responder made itself.",
            ));
        }
        let Some(record) = self.records().get(id, cx.now()).await? else {
            return Ok(EscalateAnswer::new(
                EscalateAction::Ignored,
                id,
                "Not an incident the responder opened (no escalation record).",
            ));
        };
        match change.change {
            Change::Acknowledged => self.acknowledge(&record, &change.by, "console", cx).await,
            Change::Resolved => {
                self.request_resolution(&record, &change.by, "console", true, cx)
                    .await
            }
            Change::Other => Ok(EscalateAnswer::new(
                EscalateAction::Ignored,
                id,
                "A change in the console that neither acknowledges nor resolves.",
            )),
        }
    }

    /// Hands a person's resolution to `resolve` (`Resolution Requested`), once per incident.
    /// `closed`: already resolved in the backend (the console).
    pub(super) async fn request_resolution(
        &self,
        record: &EscalationRecord,
        by: &str,
        via: &str,
        closed: bool,
        cx: &Invocation<'_>,
    ) -> Result<EscalateAnswer, EscalateError> {
        let id = record.incident.id.clone();
        if let Some(stop) = self.records().stop(&id, cx.now()).await? {
            if stop.reason == StopReason::Resolved {
                return Ok(EscalateAnswer::new(
                    EscalateAction::Ignored,
                    &id,
                    format!("Already {}.", stop.sentence()),
                ));
            }
        }
        let key = format!("escalate#{id}#resolution");
        let replay = |first| already(first, &id, "Resolution already requested");
        cx.once(&key, replay, |_| async {
            let detail = LifecycleDetail {
                incident: record.incident.clone(),
                signal: record.signal.clone(),
                reason: format!("Resolved by {by} (from {via})."),
                signal_count: None,
                diagnosis: None,
                automation: None,
                resolution: None,
                escalation: None,
                request: Some(ResolutionRequest {
                    by: by.to_string(),
                    via: via.to_string(),
                    closed,
                    at: cx.now(),
                }),
                hold: None,
                silence: None,
                changes: None,
                inspection: None,
            };
            cx.publish(LifecycleKind::ResolutionRequested, detail)
                .await?;
            Ok(EscalateAnswer {
                policy: record.policy.clone(),
                ..EscalateAnswer::new(
                    EscalateAction::ResolutionRequested,
                    &id,
                    format!("Resolved by {by} (from {via}); resolve records it and ends paging."),
                )
            })
        })
        .await
    }
}
