//! One escalation step: check that paging should go on, page the stage's targets once each,
//! write the timeline, announce it, and set the next step's timer.

use chrono::{DateTime, Duration, Utc};
use tracing::warn;

use super::page;
use super::record::{timer_name, EscalationRecord, Pending, StepInput, Stop, StopReason};
use super::{already, secs_between, Escalate, EscalateAction, EscalateAnswer, EscalateError};
use crate::domain::{
    EntryKind, EscalationNote, IncidentRef, LifecycleDetail, LifecycleKind, TimelineEntry,
};
use crate::metrics::{self, Metric};
use crate::ports::{PortErrorKind, Timer};
use crate::rules::{Policy, Step, Target};
use crate::shell::{Invocation, Once, StageError};

/// EMF `PagesSent`, by target.
fn pages_sent(now: DateTime<Utc>, target: &str) {
    metrics::emit(now, &[("Target", target)], &[Metric::count("PagesSent")]);
}

impl Escalate {
    /// Runs `step` of the record's policy at `now`. `forced` (a person's "Escalate now") pages
    /// even after an acknowledgement, and then sets no further timer.
    pub(super) async fn run_step(
        &self,
        record: &EscalationRecord,
        step: Step,
        now: DateTime<Utc>,
        forced: bool,
        cx: &Invocation<'_>,
    ) -> Result<EscalateAnswer, EscalateError> {
        let id = record.incident.id.clone();
        let ignored = |reason: String| {
            Ok(EscalateAnswer {
                policy: record.policy.clone(),
                stage: Some(step.stage as u32 + 1),
                round: Some(step.round),
                ..EscalateAnswer::new(EscalateAction::Ignored, &id, reason)
            })
        };
        let Some(policy) = record
            .policy
            .as_deref()
            .and_then(|p| self.rules.escalation().policy(p))
        else {
            return ignored(format!(
                "Policy `{}` is not in the rules any more: nobody is paged.",
                record.policy.as_deref().unwrap_or("none")
            ));
        };
        let records = self.records();
        let stop = records.stop(&id, cx.now()).await?;
        match &stop {
            Some(s) if s.reason == StopReason::Acknowledged && forced => {}
            Some(s) => return ignored(format!("Paging stopped: {}. Nothing paged.", s.sentence())),
            None => {}
        }
        if let Some(silence) = self.silenced(record, cx.now()).await? {
            if !forced {
                return ignored(format!(
                    "Silenced by {} until {}: nothing paged; escalation resumes when the silence ends.",
                    silence.by,
                    crate::rules::quiet::utc_text(silence.until)
                ));
            }
        }
        let incident = IncidentRef {
            backend: record.incident.backend,
            id: id.clone(),
        };
        let standing = match self.incidents.standing(&incident).await {
            Ok(s) => Some(s),
            Err(e) if e.kind == PortErrorKind::NotFound => None,
            Err(e) => return Err(e.into()),
        };
        if !standing.as_ref().is_some_and(|s| s.open) {
            let status = standing.map_or("deleted".to_string(), |s| s.status);
            let resolved = Stop {
                reason: StopReason::Resolved,
                by: format!("{} in {}", status, record.incident.backend.label()),
                via: "console".to_string(),
                at: now,
            };
            records.put_stop(&id, &resolved, cx.now()).await?;
            return ignored(format!(
                "The incident is {status} in {}: paging stopped.",
                record.incident.backend.label()
            ));
        }
        let key = format!(
            "escalate#{id}#step#{}#{}#{}",
            policy.name,
            step.stage + 1,
            step.round
        );
        let replay = |first| already(first, &id, "Step already run");
        cx.once(&key, replay, |_| async {
            match policy.stage(step) {
                Some(_) => self.page_stage(record, policy, step, now, forced, cx).await,
                None => self.exhausted(record, policy, step, now, cx).await,
            }
        })
        .await
    }

    async fn page_stage(
        &self,
        record: &EscalationRecord,
        policy: &Policy,
        step: Step,
        now: DateTime<Utc>,
        forced: bool,
        cx: &Invocation<'_>,
    ) -> Result<EscalateAnswer, EscalateError> {
        let id = &record.incident.id;
        let stage = policy
            .stage(step)
            .map(|s| s.page.clone())
            .unwrap_or_default();
        let unanswered = secs_between(record.opened_at, now);
        for target in &stage {
            let Some(Target::Topic(topic)) = self.rules.escalation().target(target) else {
                // Slack targets: notify mentions them in the thread.
                pages_sent(now, target);
                continue;
            };
            let key = format!(
                "escalate#{id}#page#{}#{}#{}#{target}",
                policy.name,
                step.stage + 1,
                step.round
            );
            let page = page::render(record, step, target, unanswered);
            let ran = cx
                .run_once(&key, |_| async {
                    let sent = self.pager.page(topic, &page).await;
                    match &sent {
                        Ok(_) => pages_sent(now, target),
                        Err(e) => warn!(error = %e, target = target.as_str(), "paging failed"),
                    }
                    Ok::<_, EscalateError>(sent?)
                })
                .await?;
            if matches!(ran, Once::Busy) {
                return Err(StageError::InProgress { key }.into());
            }
        }
        if !stage.is_empty() {
            let entry = TimelineEntry::new(
                now,
                EntryKind::Paged {
                    policy: policy.name.clone(),
                    stage: step.stage as u32 + 1,
                    round: step.round,
                    targets: stage.clone(),
                },
                &format!(
                    "Paged {} (stage {}, page {} of policy {}): unanswered for {} min",
                    stage.join(", "),
                    step.stage + 1,
                    step.round,
                    policy.name,
                    unanswered / 60
                ),
            );
            self.timeline(
                record,
                &entry,
                &format!("page-{}-{}-{}", policy.name, step.stage + 1, step.round),
            )
            .await?;
            let note = EscalationNote {
                policy: Some(policy.name.clone()),
                stage: Some(step.stage as u32 + 1),
                round: Some(step.round),
                paged: stage.clone(),
                exhausted: false,
                unanswered_secs: unanswered,
                acknowledged_by: None,
                via: None,
            };
            self.announce(record, LifecycleKind::IncidentEscalated, note, "paged", cx)
                .await?;
        }
        let next = if forced {
            None
        } else {
            self.set_next(record, policy, step, now, cx).await?
        };
        let action = if stage.is_empty() {
            EscalateAction::Scheduled
        } else {
            EscalateAction::Paged
        };
        let reason = match (&next, stage.is_empty()) {
            (Some(n), true) => format!(
                "Waiting in Slack for an acknowledgement; stage {} is due at {}.",
                n.stage,
                n.at.format("%H:%M UTC")
            ),
            (Some(n), false) => format!(
                "Paged {}; the next step (stage {}, page {}) is due at {}.",
                stage.join(", "),
                n.stage,
                n.round,
                n.at.format("%H:%M UTC")
            ),
            (None, _) => format!("Paged {} now, as asked.", stage.join(", ")),
        };
        Ok(EscalateAnswer {
            policy: Some(policy.name.clone()),
            stage: Some(step.stage as u32 + 1),
            round: Some(step.round),
            paged: stage,
            next,
            ..EscalateAnswer::new(action, id, reason)
        })
    }

    /// Sets the timer of the step after `step`, and records it as pending.
    async fn set_next(
        &self,
        record: &EscalationRecord,
        policy: &Policy,
        step: Step,
        now: DateTime<Utc>,
        cx: &Invocation<'_>,
    ) -> Result<Option<Pending>, EscalateError> {
        let Some((next, wait)) = policy.after(step) else {
            return Ok(None);
        };
        let at = now + Duration::seconds(wait as i64);
        let id = &record.incident.id;
        let input = StepInput {
            incident: id.clone(),
            policy: policy.name.clone(),
            stage: next.stage as u32 + 1,
            round: next.round,
            at,
        };
        let timer = Timer {
            name: timer_name(id, &policy.name, next),
            at,
            input: serde_json::json!({ "escalation_step": input }).to_string(),
        };
        self.timers.set(&timer).await?;
        let pending = Pending {
            stage: input.stage,
            round: input.round,
            at,
            timer: timer.name,
        };
        // Read again: a graver impact may have switched the policy meanwhile (its record stands).
        let records = self.records();
        let mut updated = records
            .get(id, cx.now())
            .await?
            .unwrap_or_else(|| record.clone());
        if updated.policy.as_deref() == Some(policy.name.as_str()) {
            updated.pending = Some(pending.clone());
            records.put(&updated, cx.now()).await?;
        }
        Ok(Some(pending))
    }

    async fn exhausted(
        &self,
        record: &EscalationRecord,
        policy: &Policy,
        step: Step,
        now: DateTime<Utc>,
        cx: &Invocation<'_>,
    ) -> Result<EscalateAnswer, EscalateError> {
        let id = &record.incident.id;
        let unanswered = secs_between(record.opened_at, now);
        let entry = TimelineEntry::new(
            now,
            EntryKind::EscalationExhausted {
                policy: policy.name.clone(),
            },
            &format!(
                "Nobody acknowledged in {} min: every stage of policy {} paged; escalation ended",
                unanswered / 60,
                policy.name
            ),
        );
        self.timeline(record, &entry, &format!("exhausted-{}", policy.name))
            .await?;
        let note = EscalationNote {
            policy: Some(policy.name.clone()),
            stage: None,
            round: None,
            paged: Vec::new(),
            exhausted: true,
            unanswered_secs: unanswered,
            acknowledged_by: None,
            via: None,
        };
        self.announce(
            record,
            LifecycleKind::IncidentEscalated,
            note,
            "exhausted",
            cx,
        )
        .await?;
        let stop = Stop {
            reason: StopReason::Exhausted,
            by: "the responder".to_string(),
            via: "responder".to_string(),
            at: now,
        };
        self.records().put_stop(id, &stop, cx.now()).await?;
        Ok(EscalateAnswer {
            policy: Some(policy.name.clone()),
            stage: Some(step.stage as u32 + 1),
            round: Some(step.round),
            ..EscalateAnswer::new(
                EscalateAction::Stopped,
                id,
                "Every stage paged and nobody acknowledged: escalation ended.",
            )
        })
    }

    /// Writes one timeline entry; `token` makes a retry a no-op where the backend supports it.
    pub(super) async fn timeline(
        &self,
        record: &EscalationRecord,
        entry: &TimelineEntry,
        token: &str,
    ) -> Result<(), EscalateError> {
        let incident = IncidentRef {
            backend: record.incident.backend,
            id: record.incident.id.clone(),
        };
        let token = crate::domain::stable_hash(&["escalate", &record.incident.id, token], 32);
        self.incidents
            .add_timeline(&incident, entry, &token)
            .await
            .map_err(Into::into)
    }

    /// Publishes `kind` with the escalation note.
    pub(super) async fn announce(
        &self,
        record: &EscalationRecord,
        kind: LifecycleKind,
        note: EscalationNote,
        why: &str,
        cx: &Invocation<'_>,
    ) -> Result<(), EscalateError> {
        let detail = LifecycleDetail {
            incident: record.incident.clone(),
            signal: record.signal.clone(),
            reason: format!("escalate: {why}"),
            signal_count: None,
            diagnosis: None,
            automation: None,
            resolution: None,
            escalation: Some(note),
            request: None,
            hold: None,
            silence: None,
            changes: None,
            inspection: None,
        };
        cx.publish(kind, detail).await.map_err(Into::into)
    }
}
