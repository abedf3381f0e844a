//! A firing signal: claim the key and open, or join the incident that holds it — only while
//! the backend has that incident open, raising its impact when the signal is graver.

use chrono::{DateTime, Utc};

use super::{
    bound_incident, lifecycle_detail, new_incident, related_items, window, Action, Triage,
    TriageAnswer, TriageError, FIRING_MAX, LOOKS, OPENING_WAIT, OPEN_BINDING,
};
use crate::domain::{stable_hash, Classification, EntryKind, IncidentRef, LifecycleKind, Signal};
use crate::ports::{
    Claim, ClaimOutcome, DedupeRecord, Join, Joined, KeyStatus, PortError, PortErrorKind, Standing,
};
use crate::shell::Invocation;

/// An incident the key was bound to, found closed in its backend and replaced.
struct Replaced {
    incident: IncidentRef,
    status: String,
}

impl Triage {
    pub(super) async fn fire(
        &self,
        signal: &Signal,
        c: &Classification,
        raw: &str,
        lease_until: DateTime<Utc>,
        cx: &Invocation<'_>,
    ) -> Result<TriageAnswer, TriageError> {
        let now = cx.now();
        let recovers = signal.kind.recovers();
        let claim = Claim {
            key: c.dedupe_key.clone(),
            owner: signal.fingerprint.clone(),
            rule_id: c.rule_id.clone(),
            impact: c.impact,
            title: c.title.clone(),
            now,
            detected_at: signal.time,
            lease_until,
            // Signals that never recover bind their key for the correlation window only.
            expires_at: now + if recovers { OPEN_BINDING } else { window(c) },
            subject: recovers.then(|| signal.subject().to_string()),
        };
        let mut replaced = None;
        for _ in 0..LOOKS {
            let held = match self.keys.claim(&claim).await? {
                ClaimOutcome::Claimed(record) => {
                    return self.open(signal, c, raw, &record, replaced, cx).await
                }
                ClaimOutcome::Held(record) => record,
            };
            if held.owner == signal.fingerprint {
                // An earlier attempt for this very occurrence claimed the key and failed later
                // on: finish its work with the claim's token.
                return match &held.incident {
                    None => self.open(signal, c, raw, &held, replaced, cx).await,
                    Some(incident) => {
                        let incident = incident.clone();
                        self.announce_opened(signal, c, &incident, None, cx).await
                    }
                };
            }
            let Some(held) = self.opened(held, cx).await? else {
                continue; // the other opening lapsed: claim afresh
            };
            let incident = bound_incident(&held)?.clone();
            let standing = self.standing(&incident).await?;
            if !standing.open {
                // Closed by a person or another tool, perhaps with no event reaching us: free
                // the key and open a new incident.
                self.free_closed(&c.dedupe_key, &incident, &standing, now)
                    .await?;
                replaced = Some(Replaced {
                    incident,
                    status: standing.status,
                });
                continue;
            }
            let join = Join {
                key: c.dedupe_key.clone(),
                incident_id: incident.id.clone(),
                subject: (recovers && held.firing.len() < FIRING_MAX)
                    .then(|| signal.subject().to_string()),
                raise_to: (c.impact.get() < held.impact.get()).then_some(c.impact),
                at: now,
                expires_at: recovers.then(|| now + OPEN_BINDING),
            };
            match self.keys.join(&join).await? {
                Joined::Joined(record) => {
                    return self
                        .joined(signal, c, &held, &record, &incident, &standing, cx)
                        .await
                }
                // Settled, re-claimed or raised meanwhile: look again.
                Joined::Changed(_) => continue,
            }
        }
        Err(PortError::new(
            "join",
            PortErrorKind::Conflict,
            format!(
                "dedupe key `{}` kept changing under {LOOKS} looks; retry",
                c.dedupe_key
            ),
        )
        .into())
    }

    /// The held record once its opening is done; `None` when the opening lapsed meanwhile.
    /// Still opening after the waits: an error to retry.
    async fn opened(
        &self,
        mut held: DedupeRecord,
        cx: &Invocation<'_>,
    ) -> Result<Option<DedupeRecord>, TriageError> {
        for pause in OPENING_WAIT {
            if held.status != KeyStatus::Opening {
                return Ok(Some(held));
            }
            tokio::time::sleep(pause).await;
            match self.keys.get(&held.key).await? {
                Some(record) if record.binds(cx.now()) => held = record,
                _ => return Ok(None),
            }
        }
        if held.status == KeyStatus::Opening {
            return Err(TriageError::OpeningInProgress { key: held.key });
        }
        Ok(Some(held))
    }

    async fn open(
        &self,
        signal: &Signal,
        c: &Classification,
        raw: &str,
        claimed: &DedupeRecord,
        replaced: Option<Replaced>,
        cx: &Invocation<'_>,
    ) -> Result<TriageAnswer, TriageError> {
        let incident = new_incident(signal, c, raw, &claimed.token);
        let reference = self.opener.open(&incident).await?;
        let expires_at = if signal.kind.recovers() {
            cx.now() + OPEN_BINDING
        } else {
            claimed.expires_at
        };
        self.keys
            .confirm_open(&c.dedupe_key, &signal.fingerprint, &reference, expires_at)
            .await?;
        self.announce_opened(signal, c, &reference, replaced, cx)
            .await
    }

    async fn announce_opened(
        &self,
        signal: &Signal,
        c: &Classification,
        incident: &IncidentRef,
        replaced: Option<Replaced>,
        cx: &Invocation<'_>,
    ) -> Result<TriageAnswer, TriageError> {
        let mut reason = format!(
            "Opened an incident in {}, impact {}, for rule {}: {}.",
            incident.backend.label(),
            c.impact,
            c.rule_id,
            c.title
        );
        if let Some(old) = replaced {
            reason.push_str(&format!(
                " The key's previous incident {} is {} in {} (closed outside the responder), so this signal opens a new one.",
                old.incident.id,
                old.status,
                old.incident.backend.label()
            ));
        }
        let detail = lifecycle_detail(signal, c, incident, &c.title, c.impact, &reason, Some(1));
        cx.publish(LifecycleKind::IncidentOpened, detail).await?;
        Ok(TriageAnswer::decided(
            Action::Opened,
            c,
            Some(incident),
            reason,
        ))
    }

    /// The signal joined: its timeline entry and items, the impact raised in the backend when
    /// the key's is graver than the backend's, and `Incident Updated`.
    #[allow(clippy::too_many_arguments)]
    async fn joined(
        &self,
        signal: &Signal,
        c: &Classification,
        held: &DedupeRecord,
        record: &DedupeRecord,
        incident: &IncidentRef,
        standing: &Standing,
        cx: &Invocation<'_>,
    ) -> Result<TriageAnswer, TriageError> {
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
        let mut reason = if held.status == KeyStatus::Recovered {
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
        // The backend's impact is the incident's: a person may have lowered it. Only a signal
        // graver than that raises it (also finishing a raise whose backend write failed).
        let backend_impact = standing.impact.unwrap_or(held.impact);
        let mut impact = backend_impact;
        if c.impact.get() < backend_impact.get() {
            self.raise(signal, c, incident, backend_impact).await?;
            impact = c.impact;
            reason.push_str(&format!(
                " Impact raised from {} to {}: this signal is graver (rule {}).",
                backend_impact, c.impact, c.rule_id
            ));
        }
        let detail = lifecycle_detail(
            signal,
            c,
            incident,
            &held.title,
            impact,
            &reason,
            Some(record.signal_count),
        );
        cx.publish(LifecycleKind::IncidentUpdated, detail).await?;
        let mut answer = TriageAnswer::on(Action::Joined, c, record, incident, reason);
        answer.impact = Some(impact);
        Ok(answer)
    }

    /// Sets the backend's impact to the signal's, and says why on the timeline.
    async fn raise(
        &self,
        signal: &Signal,
        c: &Classification,
        incident: &IncidentRef,
        from: crate::domain::Impact,
    ) -> Result<(), TriageError> {
        self.incidents.set_impact(incident, c.impact).await?;
        let text = format!(
            "Impact raised from {from} to {}: a graver signal joined (rule {}): {}",
            c.impact, c.rule_id, signal.summary
        );
        let kind = EntryKind::ImpactRaised {
            from: from.get(),
            to: c.impact.get(),
            signal: signal.fingerprint.clone(),
        };
        let token = stable_hash(&["triage-impact", &c.dedupe_key, &signal.fingerprint], 64);
        self.note(incident, signal, kind, &text, &token).await
    }
}
