//! Silences from Slack: **Silence 1 h** and **Silence while open** (until the incident resolves),
//! both capped by the rules' `silences.max`, and **Lift silence**.
//!
//! A silence covers the incident's dedupe key (`silence#<key>`, [`crate::quiet::Silence`]):
//! triage holds the key's firing signals, notify posts nothing but the silence itself and the
//! resolution, and no step pages: the pending step's timer is cancelled and the step kept. When
//! the silence ends (a timer at its end: `{"silence_end": {"incident", "until"}}`) or is lifted,
//! an incident still open is announced again (`Incident Silenced`, `ended`) and its escalation
//! resumes with the step it was waiting for. A recovery during a silence resolves as
//! always; a silence "while open" then ends with the incident.

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::{Deserialize, Serialize};

use super::record::{EscalationRecord, StopReason};
use super::{already, Escalate, EscalateAction, EscalateAnswer, EscalateError};
use crate::domain::{
    stable_hash, EntryKind, LifecycleDetail, LifecycleKind, SilenceChange, SilenceNote,
    TimelineEntry,
};
use crate::ports::{KeyStatus, Timer};
use crate::quiet::{self, Silence};
use crate::rules::quiet::utc_text;
use crate::shell::{Invocation, NotBefore, StageError};

/// How long a silence's row outlives its end.
const SILENCE_KEEP: Duration = Duration::days(3);
/// The short silence.
const SHORT: Duration = Duration::hours(1);

/// A silence's end, as its timer brings it (**contract**).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceEnd {
    pub incident: String,
    pub until: DateTime<Utc>,
}

impl SilenceEnd {
    /// `sil-<16 hex of the incident>-<epoch seconds>`.
    pub fn timer_name(&self) -> String {
        format!(
            "sil-{}-{}",
            stable_hash(&[&self.incident], 16),
            self.until.timestamp()
        )
    }
}

impl Escalate {
    /// Silences the incident's key for an hour, or while it is open (`while_open`).
    pub(super) async fn silence(
        &self,
        record: &EscalationRecord,
        while_open: bool,
        by: &str,
        cx: &Invocation<'_>,
    ) -> Result<EscalateAnswer, EscalateError> {
        let id = record.incident.id.clone();
        if let Some(stop) = self.records().stop(&id, cx.now()).await? {
            if stop.reason == StopReason::Resolved {
                return Ok(EscalateAnswer::new(
                    EscalateAction::Ignored,
                    &id,
                    format!("Already {}: nothing to silence.", stop.sentence()),
                ));
            }
        }
        let now = cx.now();
        let max = self.rules.quiet().silence_max;
        let until = now + if while_open { max } else { SHORT.min(max) };
        // A double click within the minute is one silence; a silence set again after a lift is
        // another.
        let minute = now.duration_trunc(Duration::minutes(1)).unwrap_or(now);
        let row = quiet::silence_key(&record.incident.dedupe_key);
        let lifted = quiet::read::<Silence>(self.references.as_ref(), &row, now)
            .await?
            .and_then(|s| s.lifted_at)
            .map_or(0, |t| t.timestamp());
        let key = format!(
            "escalate#{id}#silence#{while_open}#{}#{lifted}",
            minute.timestamp()
        );
        let replay = |first| already(first, &id, "Already silenced");
        cx.once(&key, replay, |_| async {
            let silence = Silence {
                incident: id.clone(),
                by: by.to_string(),
                set_at: now,
                until,
                until_resolved: while_open,
                lifted_at: None,
            };
            quiet::write(
                self.references.as_ref(),
                &row,
                &silence,
                until + SILENCE_KEEP,
            )
            .await?;
            if let Some(pending) = &record.pending {
                self.timers.cancel(&pending.timer).await?;
            }
            let end = SilenceEnd {
                incident: id.clone(),
                until,
            };
            self.timers
                .set(&Timer {
                    name: end.timer_name(),
                    at: until,
                    input: serde_json::json!({ "silence_end": end }).to_string(),
                })
                .await?;
            let text = format!(
                "Silenced by {by} until {}{}: no pages, no posts but the resolution",
                utc_text(until),
                if while_open {
                    " or until it resolves"
                } else {
                    ""
                }
            );
            self.silence_entry(record, &silence, false, &text).await?;
            self.announce_silence(record, SilenceChange::Set, &silence, &text, cx)
                .await?;
            Ok(EscalateAnswer {
                policy: record.policy.clone(),
                ..EscalateAnswer::new(EscalateAction::Silenced, &id, format!("{text}."))
            })
        })
        .await
    }

    /// Lifts the incident's silence: its posts and escalation resume.
    pub(super) async fn lift(
        &self,
        record: &EscalationRecord,
        by: &str,
        cx: &Invocation<'_>,
    ) -> Result<EscalateAnswer, EscalateError> {
        let id = &record.incident.id;
        let row = quiet::silence_key(&record.incident.dedupe_key);
        let now = cx.now();
        // Only this incident's silence: the key's silence may be a later incident's.
        let Some(mut silence) = quiet::read::<Silence>(self.references.as_ref(), &row, now)
            .await?
            .filter(|s| s.incident == *id)
        else {
            return Ok(EscalateAnswer::new(
                EscalateAction::Ignored,
                id,
                "Not silenced.",
            ));
        };
        if !silence.stands(now) {
            return Ok(EscalateAnswer::new(
                EscalateAction::Ignored,
                id,
                "The silence already ended.",
            ));
        }
        silence.lifted_at = Some(now);
        quiet::write(self.references.as_ref(), &row, &silence, now + SILENCE_KEEP).await?;
        let end = SilenceEnd {
            incident: id.clone(),
            until: silence.until,
        };
        self.timers.cancel(&end.timer_name()).await?;
        let text = format!("Silence lifted by {by}: posts and escalation resume");
        self.silence_entry(record, &silence, true, &text).await?;
        let mut lifted = silence.clone();
        lifted.by = by.to_string();
        self.announce_silence(record, SilenceChange::Lifted, &lifted, &text, cx)
            .await?;
        self.resume(record, now, cx).await?;
        Ok(EscalateAnswer::new(
            EscalateAction::Resumed,
            id,
            format!("{text}."),
        ))
    }

    /// A silence's timer: if it is still that silence and the incident is open, say so and
    /// resume escalation.
    pub(super) async fn silence_end(
        &self,
        end: SilenceEnd,
        cx: &Invocation<'_>,
    ) -> Result<EscalateAnswer, EscalateError> {
        let Some(record) = self.records().get(&end.incident, cx.now()).await? else {
            return Err(EscalateError::UnknownIncident(end.incident));
        };
        let id = &record.incident.id;
        let clock = NotBefore {
            clock: cx.clock(),
            at: end.until,
        };
        let cx = cx.with_clock(&clock);
        let now = cx.now();
        let row = quiet::silence_key(&record.incident.dedupe_key);
        let silence = quiet::read::<Silence>(self.references.as_ref(), &row, now).await?;
        let Some(silence) =
            silence.filter(|s| s.incident == *id && s.until == end.until && s.lifted_at.is_none())
        else {
            return Ok(EscalateAnswer::new(
                EscalateAction::Ignored,
                id,
                "That silence was lifted or replaced: nothing to do.",
            ));
        };
        if let Some(stop) = self.records().stop(id, now).await? {
            if stop.reason == StopReason::Resolved {
                return Ok(EscalateAnswer::new(
                    EscalateAction::Ignored,
                    id,
                    format!("The silence ended; the incident is {}.", stop.sentence()),
                ));
            }
        }
        // The incident is open: escalation resumes whether or not its signals still fire (a
        // recovered incident not yet resolved pages as it would have without the silence).
        let key = self.keys()?.get(&record.incident.dedupe_key).await?;
        let firing = key.as_ref().is_some_and(|k| {
            k.status == KeyStatus::Open
                && k.binds(now)
                && k.incident.as_ref().is_some_and(|i| i.id == *id)
        });
        let once = format!("escalate#{id}#silence-ended#{}", end.until.timestamp());
        let replay = |first| already(first, id, "Silence end already handled");
        cx.once(&once, replay, |_| async {
            let text = format!(
                "The silence ({} until {}) ended and the incident is {}: posts and escalation resume",
                silence.by,
                utc_text(silence.until),
                if firing { "still firing" } else { "still open" }
            );
            self.announce_silence(&record, SilenceChange::Ended, &silence, &text, &cx)
                .await?;
            self.resume(&record, now, &cx).await?;
            Ok(EscalateAnswer::new(
                EscalateAction::Resumed,
                id,
                format!("{text}."),
            ))
        })
        .await
    }

    /// A "while open" silence ends with its incident (so later signals on the key are not held).
    pub(super) async fn end_with_incident(
        &self,
        record: &EscalationRecord,
        now: DateTime<Utc>,
    ) -> Result<(), EscalateError> {
        let row = quiet::silence_key(&record.incident.dedupe_key);
        let Some(mut silence) = quiet::read::<Silence>(self.references.as_ref(), &row, now).await?
        else {
            return Ok(());
        };
        if silence.incident != record.incident.id || !silence.until_resolved || !silence.stands(now)
        {
            return Ok(());
        }
        silence.lifted_at = Some(now);
        quiet::write(self.references.as_ref(), &row, &silence, now + SILENCE_KEEP).await?;
        let end = SilenceEnd {
            incident: record.incident.id.clone(),
            until: silence.until,
        };
        self.timers.cancel(&end.timer_name()).await?;
        Ok(())
    }

    /// Whether the incident's key is silenced now (a step pages nobody then).
    pub(super) async fn silenced(
        &self,
        record: &EscalationRecord,
        now: DateTime<Utc>,
    ) -> Result<Option<Silence>, EscalateError> {
        let row = quiet::silence_key(&record.incident.dedupe_key);
        let silence = quiet::read::<Silence>(self.references.as_ref(), &row, now).await?;
        Ok(silence.filter(|s| s.stands(now)))
    }

    /// Escalation goes on with the step it was waiting for: now if it was due, else on its
    /// timer again. Acknowledged, resolved or exhausted: nothing.
    async fn resume(
        &self,
        record: &EscalationRecord,
        now: DateTime<Utc>,
        cx: &Invocation<'_>,
    ) -> Result<(), EscalateError> {
        let Some(record) = self.records().get(&record.incident.id, now).await? else {
            return Ok(());
        };
        let (Some(pending), Some(policy)) = (record.pending.clone(), record.policy.clone()) else {
            return Ok(());
        };
        if pending.at > now {
            let input = super::record::StepInput {
                incident: record.incident.id.clone(),
                policy,
                stage: pending.stage,
                round: pending.round,
                at: pending.at,
            };
            self.timers
                .set(&Timer {
                    name: pending.timer.clone(),
                    at: pending.at,
                    input: serde_json::json!({ "escalation_step": input }).to_string(),
                })
                .await?;
            return Ok(());
        }
        let step = crate::rules::Step {
            stage: pending.stage.saturating_sub(1) as usize,
            round: pending.round.max(1),
        };
        self.run_step(&record, step, now, false, cx).await?;
        Ok(())
    }

    async fn silence_entry(
        &self,
        record: &EscalationRecord,
        silence: &Silence,
        lifted: bool,
        text: &str,
    ) -> Result<(), EscalateError> {
        let entry = TimelineEntry::new(
            silence.lifted_at.unwrap_or(silence.set_at),
            EntryKind::Silenced {
                by: silence.by.clone(),
                until: silence.until,
                lifted,
            },
            text,
        );
        let token = format!(
            "silence#{}#{lifted}",
            silence.lifted_at.unwrap_or(silence.set_at).timestamp()
        );
        self.timeline(record, &entry, &token).await
    }

    async fn announce_silence(
        &self,
        record: &EscalationRecord,
        change: SilenceChange,
        silence: &Silence,
        text: &str,
        cx: &Invocation<'_>,
    ) -> Result<(), EscalateError> {
        let detail = LifecycleDetail {
            incident: record.incident.clone(),
            signal: record.signal.clone(),
            reason: format!("escalate: {text}"),
            signal_count: None,
            diagnosis: None,
            automation: None,
            resolution: None,
            escalation: None,
            request: None,
            hold: None,
            changes: None,
            inspection: None,
            silence: Some(SilenceNote {
                change,
                by: silence.by.clone(),
                until: silence.until,
                until_resolved: silence.until_resolved,
            }),
        };
        cx.publish(LifecycleKind::IncidentSilenced, detail)
            .await
            .map_err(Into::into)
    }

    fn keys(&self) -> Result<&dyn crate::ports::DedupeStore, StageError> {
        self.keys
            .as_deref()
            .ok_or_else(|| StageError::Inconsistent {
                what: "escalate".into(),
                problem: "a silence's end needs the dedupe keys (with_keys)".into(),
            })
    }
}
