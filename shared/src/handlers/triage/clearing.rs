//! A signal that cleared or lost its data: the incident recovers only when every signal that
//! fired on its key is clear; missing data is only noted.

use super::{bound_incident, lifecycle_detail, window, Action, Triage, TriageAnswer, TriageError};
use crate::domain::{stable_hash, Classification, EntryKind, LifecycleKind, Signal};
use crate::ports::{Clear, Cleared, DedupeRecord, KeyStatus};
use crate::shell::Invocation;

impl Triage {
    pub(super) async fn recover(
        &self,
        signal: &Signal,
        c: &Classification,
        cx: &Invocation<'_>,
    ) -> Result<TriageAnswer, TriageError> {
        let now = cx.now();
        let nothing = || {
            TriageAnswer::decided(
                Action::Ignored,
                c,
                None,
                format!(
                    "The signal cleared, but no open incident holds `{}`; nothing to recover.",
                    c.dedupe_key
                ),
            )
        };
        let Some(held) = self.bound(&c.dedupe_key, cx).await? else {
            return Ok(nothing());
        };
        let incident = bound_incident(&held)?.clone();
        let clear = Clear {
            key: c.dedupe_key.clone(),
            incident_id: incident.id.clone(),
            subject: signal.subject().to_string(),
            at: now,
            expires_at: now + window(c),
        };
        let (record, all_clear) = match self.keys.clear(&clear).await? {
            Cleared::AllClear(record) => (record, true),
            Cleared::StillFiring(record) => (record, false),
            Cleared::NotBound(_) => return Ok(nothing()),
        };
        let token = stable_hash(&["triage-recover", &c.dedupe_key, &signal.fingerprint], 64);
        let still = record.firing.len();
        let text = if all_clear {
            format!(
                "Signal recovered: {}{}",
                signal.summary,
                if c.auto_resolve {
                    " — the responder will verify and resolve."
                } else {
                    " — waiting for a responder to resolve."
                }
            )
        } else {
            format!(
                "Signal recovered: {} — {still} other signal{} still firing; the incident stays open.",
                signal.summary,
                if still == 1 { " is" } else { "s are" }
            )
        };
        let kind = EntryKind::SignalRecovered {
            signal: signal.fingerprint.clone(),
        };
        self.note(&incident, signal, kind, &text, &token).await?;
        let (action, lifecycle, reason) = if all_clear {
            (
                Action::Recovered,
                LifecycleKind::SignalRecovered,
                format!(
                    "The signal cleared; the incident holding `{}` is marked recovered ({}).",
                    c.dedupe_key,
                    if c.auto_resolve {
                        "auto-resolve after verification"
                    } else {
                        "the rule leaves resolution to a responder"
                    }
                ),
            )
        } else {
            (
                Action::Joined,
                LifecycleKind::IncidentUpdated,
                format!(
                    "The signal cleared, but {still} other signal{} on `{}` still fire{}: the incident stays open until all are clear.",
                    if still == 1 { "" } else { "s" },
                    c.dedupe_key,
                    if still == 1 { "s" } else { "" }
                ),
            )
        };
        let detail = lifecycle_detail(
            signal,
            c,
            &incident,
            &held.title,
            record.impact,
            &reason,
            Some(record.signal_count),
        );
        cx.publish(lifecycle, detail).await?;
        Ok(TriageAnswer::on(action, c, &record, &incident, reason))
    }

    pub(super) async fn inform(
        &self,
        signal: &Signal,
        c: &Classification,
        cx: &Invocation<'_>,
    ) -> Result<TriageAnswer, TriageError> {
        let Some(held) = self.bound(&c.dedupe_key, cx).await? else {
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
        let standing = self.standing(incident).await?;
        if !standing.open {
            // Closed outside the responder: nothing to note it on, and the key is free.
            self.free_closed(&c.dedupe_key, incident, &standing, cx.now())
                .await?;
            return Ok(TriageAnswer::decided(
                Action::Ignored,
                c,
                None,
                format!(
                    "{} is neither firing nor recovered, and the incident that held `{}` is {} (closed outside the responder): it opens nothing.",
                    signal.summary, c.dedupe_key, standing.status
                ),
            ));
        }
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

    /// The record binding `key` now, if any. An incident still being opened is an error to
    /// retry — also when its claimer's lease ran out (its invocation failed, and its retry or a
    /// take-over will finish the opening): the recovery must not overtake the opening, nor be
    /// lost to it.
    async fn bound(
        &self,
        key: &str,
        cx: &Invocation<'_>,
    ) -> Result<Option<DedupeRecord>, TriageError> {
        let now = cx.now();
        match self.keys.get(key).await? {
            Some(record) if record.status == KeyStatus::Opening && record.expires_at > now => {
                Err(TriageError::OpeningInProgress {
                    key: key.to_string(),
                })
            }
            Some(record) if record.binds(now) => Ok(Some(record)),
            _ => Ok(None),
        }
    }
}
