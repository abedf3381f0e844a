//! Quiet hours in triage: a firing signal a maintenance window or a silence covers is held
//! (`suppressed`), one whose dependency's incident is open folds into it as downstream
//! (`joined`); either way triage writes a hold row ([`crate::quiet::Hold`]) and publishes
//! `Signal Held`, on which escalate sets the timer of the re-check ([`super::recheck`]).
//!
//! Order: windows (on the clock, then Change Calendars), the key's silence, inhibitions. A
//! calendar triage may not read (gone, or no permission) holds nothing: better a page in a
//! window than a signal lost to a typo; the reason says so and the log warns.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::{lifecycle_detail, Action, Triage, TriageAnswer, TriageError};
use crate::domain::{
    stable_hash, Backend, Classification, EntryKind, HoldKind, HoldNote, IncidentRef,
    LifecycleKind, Signal, TimelineEntry,
};
use crate::metrics::{self, Metric};
use crate::ports::{
    AlarmStates, Calendars, DedupeRecord, KeyStatus, PortErrorKind, ReferenceStore,
};
use crate::quiet::{self, Hold, Silence, HOLD_KEEP};
use crate::rules::quiet::utc_text;
use crate::shell::Invocation;

/// Triage's answer for a held signal: suppressed, or joined to its dependency's incident.
fn answer(c: &Classification, held: Held) -> TriageAnswer {
    match &held.into {
        Some(record) => match record.incident.as_ref() {
            Some(incident) => TriageAnswer::on(Action::Joined, c, record, incident, held.reason),
            None => TriageAnswer::decided(Action::Suppressed, c, None, held.reason),
        },
        None => TriageAnswer::decided(Action::Suppressed, c, None, held.reason),
    }
}

/// How often a downstream or silenced signal is looked at again while its dependency's incident
/// is open or its silence lasts.
pub const HELD_RECHECK: Duration = Duration::minutes(5);
/// How long a calendar with no next transition holds before triage looks again.
const CALENDAR_RECHECK: Duration = Duration::hours(1);
/// How long a dependency's entry outlives its last firing signal.
const DEPENDENCY_KEEP: Duration = Duration::days(14);

/// What quiet hours need: the state table's reference rows, the Change Calendars, the alarms
/// (for the re-check), and the backend incidents open in.
#[derive(Clone)]
pub struct QuietPorts {
    pub references: Arc<dyn ReferenceStore>,
    pub calendars: Arc<dyn Calendars>,
    pub alarms: Arc<dyn AlarmStates>,
    pub backend: Backend,
}

/// Why a signal is held.
pub(super) struct Held {
    kind: HoldKind,
    by: String,
    recheck_at: DateTime<Utc>,
    reason: String,
    /// For a downstream signal: the dependency's key record (bound to its incident).
    into: Option<DedupeRecord>,
}

impl Triage {
    /// The hold a firing signal is under, if any.
    pub(super) async fn hold_for(
        &self,
        signal: &Signal,
        c: &Classification,
        now: DateTime<Utc>,
    ) -> Result<Option<Held>, TriageError> {
        if let Some(held) = self.in_window(signal, c, now).await? {
            return Ok(Some(held));
        }
        let q = self.quiet()?;
        let silence: Option<Silence> = quiet::read(
            q.references.as_ref(),
            &quiet::silence_key(&c.dedupe_key),
            now,
        )
        .await?;
        if let Some(s) = silence.filter(|s| s.stands(now)) {
            if !self.silences_open_incident(&s, &c.dedupe_key).await? {
                return self.downstream_of(signal, c, now).await;
            }
            return Ok(Some(Held {
                kind: HoldKind::Silence,
                by: s.by.clone(),
                // Looked at again while the silence lasts too: a silence lifted or ended with
                // its incident lets what still fires through within minutes.
                recheck_at: s.until.min(now + HELD_RECHECK),
                reason: format!(
                    "`{}` is silenced by {} until {}{}: the signal opens nothing and pages nobody; triage looks at it again every {} min while it lasts.",
                    c.dedupe_key,
                    s.by,
                    utc_text(s.until),
                    if s.until_resolved { " or until its incident resolves" } else { "" },
                    HELD_RECHECK.num_minutes()
                ),
                into: None,
            }));
        }
        self.downstream_of(signal, c, now).await
    }

    /// Whether a silence still covers the key: its incident is the one the key is bound to and
    /// is open (not closed in the console, not replaced by a later incident).
    async fn silences_open_incident(
        &self,
        silence: &Silence,
        key: &str,
    ) -> Result<bool, TriageError> {
        let Some(record) = self.keys.get(key).await? else {
            return Ok(false);
        };
        let Some(incident) = record.incident.filter(|i| i.id == silence.incident) else {
            return Ok(false);
        };
        Ok(self.standing(&incident).await?.open)
    }

    async fn in_window(
        &self,
        signal: &Signal,
        c: &Classification,
        now: DateTime<Utc>,
    ) -> Result<Option<Held>, TriageError> {
        let covering = self
            .rules
            .quiet()
            .windows
            .iter()
            .filter(|w| w.scope.covers(signal, c));
        for window in covering {
            if let Some((end, text)) = window.open_at(now) {
                return Ok(Some(Held {
                    kind: HoldKind::Window,
                    by: window.id.clone(),
                    recheck_at: end,
                    reason: format!(
                        "Maintenance window {} ({text}) holds the signal: it opens no incident and pages nobody; triage looks at it again when the window ends.",
                        window.id
                    ),
                    into: None,
                }));
            }
            let Some((calendar, closed_means)) = window.calendar() else {
                continue;
            };
            let reading = match self.quiet()?.calendars.state(calendar, now).await {
                Ok(reading) => reading,
                Err(e)
                    if matches!(
                        e.kind,
                        PortErrorKind::NotFound
                            | PortErrorKind::AccessDenied
                            | PortErrorKind::Invalid
                    ) =>
                {
                    tracing::warn!(window = %window.id, calendar, error = %e, "the window's change calendar cannot be read; it holds nothing");
                    continue;
                }
                // Throttled or unavailable past the SDK's retries: Lambda's retries come minutes
                // later. Guessing "open" would page a storm of alarms during the very maintenance
                // the calendar announces.
                Err(e) => return Err(e.into()),
            };
            if reading.state == closed_means.as_str() {
                let until = reading
                    .next_transition
                    .filter(|t| *t > now)
                    .unwrap_or(now + CALENDAR_RECHECK);
                return Ok(Some(Held {
                    kind: HoldKind::Window,
                    by: window.id.clone(),
                    recheck_at: until,
                    reason: format!(
                        "Maintenance window {}: Change Calendar {calendar} is {} {}: the signal opens no incident and pages nobody; triage looks at it again then.",
                        window.id,
                        reading.state,
                        match reading.next_transition {
                            Some(t) => format!("until {}", utc_text(t)),
                            None => format!("with no change ahead (looked at again at {})", utc_text(until)),
                        }
                    ),
                    into: None,
                }));
            }
        }
        Ok(None)
    }

    /// The open incident of a dependency this signal names, through the rules' inhibitions.
    async fn downstream_of(
        &self,
        signal: &Signal,
        c: &Classification,
        now: DateTime<Utc>,
    ) -> Result<Option<Held>, TriageError> {
        let q = self.quiet()?;
        for inhibition in self.rules.quiet().folding(&c.rule_id) {
            let Some(value) = inhibition.dependency(signal) else {
                continue;
            };
            let entry = quiet::dependency_key(&inhibition.id, value);
            let Some(key) = q.references.recall(&entry, now).await? else {
                continue;
            };
            let Some(record) = self.keys.get(&key).await? else {
                continue;
            };
            // Only while the dependency still fires: once it recovered, a signal still firing
            // downstream is a problem of its own.
            if record.status != KeyStatus::Open || !record.binds(now) {
                continue;
            }
            let Some(incident) = record.incident.clone() else {
                continue;
            };
            if !self.standing(&incident).await?.open {
                continue;
            }
            return Ok(Some(Held {
                kind: HoldKind::Downstream,
                by: inhibition.id.clone(),
                recheck_at: now + HELD_RECHECK,
                reason: format!(
                    "Folded as downstream into \"{}\" ({} {value}, inhibition {}): while it is open this signal opens no incident of its own; triage looks at it again every {} min.",
                    record.title,
                    inhibition.equal,
                    inhibition.id,
                    HELD_RECHECK.num_minutes()
                ),
                into: Some(record),
            }));
        }
        Ok(None)
    }

    /// Holds the signal: the hold row, on a downstream signal's dependency the timeline entry
    /// and count (once per occurrence), EMF `SignalsSilenced` (`SignalsFolded` downstream), and
    /// `Signal Held`.
    pub(super) async fn hold(
        &self,
        signal: &Signal,
        c: &Classification,
        raw: &str,
        held: Held,
        cx: &Invocation<'_>,
    ) -> Result<TriageAnswer, TriageError> {
        let q = self.quiet()?;
        let now = cx.now();
        let row = Hold {
            kind: held.kind,
            by: held.by.clone(),
            rule: c.rule_id.clone(),
            dedupe_key: c.dedupe_key.clone(),
            subject: signal.subject().to_string(),
            fingerprint: signal.fingerprint.clone(),
            fired_at: signal.time,
            held_at: now,
            recheck_at: held.recheck_at,
            event: raw.to_string(),
            into: held
                .into
                .as_ref()
                .and_then(|r| r.incident.as_ref())
                .map(|i| i.id.clone()),
            released: None,
        };
        // A late copy of an older firing changes nothing: a newer one was held (and still is,
        // or a recovery released it).
        let key = quiet::hold_key(signal.subject());
        let standing = quiet::read::<Hold>(q.references.as_ref(), &key, now).await?;
        if standing.as_ref().is_some_and(|h| h.fired_at > signal.time) {
            return Ok(answer(c, held));
        }
        // Counted once per firing: not again on its re-checks or a re-delivery.
        let first = standing.is_none_or(|h| h.fingerprint != signal.fingerprint);
        quiet::write(
            q.references.as_ref(),
            &key,
            &row,
            held.recheck_at + HOLD_KEEP,
        )
        .await?;
        let (incident, title, impact, folded) = match &held.into {
            Some(record) => {
                let incident = super::bound_incident(record)?.clone();
                let folded = self.fold(signal, c, &held, &incident, cx).await?;
                (incident, record.title.clone(), record.impact, folded)
            }
            None => (
                IncidentRef {
                    backend: q.backend,
                    id: String::new(),
                },
                c.title.clone(),
                c.impact,
                None,
            ),
        };
        let mut detail = lifecycle_detail(signal, c, &incident, &title, impact, &held.reason, None);
        if let Some(record) = &held.into {
            // The dependency's incident, under its own rule.
            detail.incident.dedupe_key = record.key.clone();
            detail.incident.rule = record.rule_id.clone();
            if let Some(rule) = self.rules.rules().iter().find(|r| r.id == record.rule_id) {
                detail.incident.service = rule.service.clone();
                detail.incident.tier = rule.tier.clone();
            }
        }
        detail.hold = Some(HoldNote {
            kind: held.kind,
            by: held.by.clone(),
            subject: row.subject.clone(),
            recheck_at: held.recheck_at,
            folded,
        });
        cx.publish(LifecycleKind::SignalHeld, detail).await?;
        let counted = match held.kind {
            HoldKind::Downstream => folded.is_some().then_some("SignalsFolded"),
            HoldKind::Window | HoldKind::Silence => first.then_some("SignalsSilenced"),
        };
        if let Some(name) = counted {
            metrics::emit(
                now,
                &[
                    ("Impact", &c.impact.get().to_string()),
                    ("Service", &c.service),
                ],
                &[Metric::count(name)],
            );
        }
        Ok(answer(c, held))
    }

    /// A downstream signal on its dependency's incident: a timeline entry and the count, once
    /// per occurrence. Returns the count so far for a new fold; `None` when this occurrence
    /// folded before (a re-delivery, or its re-check while the dependency still fires).
    async fn fold(
        &self,
        signal: &Signal,
        c: &Classification,
        held: &Held,
        incident: &IncidentRef,
        cx: &Invocation<'_>,
    ) -> Result<Option<u64>, TriageError> {
        let q = self.quiet()?;
        let once = format!("fold#{}#{}", incident.id, signal.fingerprint);
        let counter = quiet::folded_key(&incident.id);
        let ran = cx
            .run_once(&once, |_| async {
                let token = stable_hash(&["triage-fold", &incident.id, &signal.fingerprint], 64);
                let text = format!(
                    "Downstream signal folded (rule {}, inhibition {}): {}",
                    c.rule_id, held.by, signal.summary
                );
                let entry = TimelineEntry::new(
                    signal.time,
                    EntryKind::DownstreamFolded {
                        signal: signal.fingerprint.clone(),
                    },
                    &text,
                );
                self.incidents
                    .add_timeline(incident, &entry, &token)
                    .await?;
                let count = q.references.count(&counter, cx.now() + HOLD_KEEP).await?;
                Ok::<u64, TriageError>(count)
            })
            .await?;
        Ok(match ran {
            crate::shell::Once::Done(count) => Some(count),
            crate::shell::Once::Replayed(_) => None,
            crate::shell::Once::Busy => {
                return Err(crate::shell::StageError::InProgress { key: once }.into())
            }
        })
    }

    /// A firing signal of a `when_open` rule names its dependency: later signals that depend on
    /// it find this key.
    pub(super) async fn index_dependency(
        &self,
        signal: &Signal,
        c: &Classification,
        now: DateTime<Utc>,
    ) -> Result<(), TriageError> {
        let q = self.quiet()?;
        for inhibition in self.rules.quiet().sourcing(&c.rule_id) {
            if let Some(value) = inhibition.dependency(signal) {
                q.references
                    .remember(
                        &quiet::dependency_key(&inhibition.id, value),
                        &c.dedupe_key,
                        now + DEPENDENCY_KEEP,
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// A recovered signal ends its hold: the re-check then acts on nothing.
    pub(super) async fn release(
        &self,
        signal: &Signal,
        why: &str,
        now: DateTime<Utc>,
    ) -> Result<(), TriageError> {
        let Some(q) = &self.quiet else {
            return Ok(());
        };
        let key = quiet::hold_key(signal.subject());
        let Some(mut hold) = quiet::read::<Hold>(q.references.as_ref(), &key, now).await? else {
            return Ok(());
        };
        if hold.released.is_some() || hold.fired_at > signal.time {
            return Ok(());
        }
        hold.released = Some(why.to_string());
        let expires = hold.recheck_at.max(now) + HOLD_KEEP;
        quiet::write(q.references.as_ref(), &key, &hold, expires).await?;
        Ok(())
    }
}
