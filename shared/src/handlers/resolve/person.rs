//! A person resolved the incident: pressed Resolve in Slack, or resolved it in the console
//! (`Resolution Requested`, from escalate). The key settles whatever its signals do; what can be
//! verified is checked and said, passed or not; the record says who resolved it; the backend is
//! resolved unless the person already did it there; `Incident Resolved` ends escalation.

use super::closing::Person;
use super::*;

impl Resolve {
    pub(super) async fn by_person(
        &self,
        event: &LifecycleEvent,
        request: &ResolutionRequest,
        cx: &Invocation<'_>,
    ) -> Result<ResolveAnswer, StageError> {
        let detail = &event.detail;
        let summary = &detail.incident;
        let incident = IncidentRef {
            backend: summary.backend,
            id: summary.id.clone(),
        };
        let done = self
            .progress
            .recall(&closing::resolved_key(&incident.id), cx.now())
            .await?;
        if let Some(how) = done.filter(|h| !h.is_empty()) {
            return Ok(ResolveAnswer::new(
                ResolveAction::Ignored,
                &incident.id,
                format!("The incident was resolved already ({how}); nothing more to record."),
            ));
        }
        // Closed in the backend meanwhile (or deleted): record it, close nothing.
        let open = self.still_open(&incident).await?;
        let request = ResolutionRequest {
            closed: request.closed || !open,
            ..request.clone()
        };
        let at = request.at;
        let settled = self
            .keys
            .settle(
                &summary.dedupe_key,
                &incident.id,
                SettleWhen::Closed,
                at,
                at + SETTLED_KEEP,
            )
            .await?;
        let row = match settled {
            Settle::Settled(row) | Settle::FiredAgain(row) => row,
            // The key moved on (a newer incident) or lapsed: the record counts from the event.
            Settle::NotBound(_) => unbound_row(summary, &detail.signal, at),
        };
        let checks = self
            .verify(&detail.signal, summary, cx.now(), cx.home())
            .await?;
        let person = Person {
            request: &request,
            verified: !checks.is_empty() && checks.iter().all(|c| c.passed),
        };
        let commit = closing::Commit {
            row,
            checks: checks.iter().map(|c| c.sentence.clone()).collect(),
            at,
        };
        self.finish(event, &incident, commit, Some(&person), cx)
            .await
    }
}

/// A row for the record when the key no longer holds this incident: detection and opening at
/// the incident's first signal, one signal.
fn unbound_row(
    summary: &IncidentSummary,
    signal: &crate::domain::Signal,
    at: DateTime<Utc>,
) -> DedupeRecord {
    DedupeRecord {
        key: summary.dedupe_key.clone(),
        status: KeyStatus::Resolved,
        owner: signal.fingerprint.clone(),
        incident: Some(IncidentRef {
            backend: summary.backend,
            id: summary.id.clone(),
        }),
        rule_id: summary.rule.clone(),
        impact: summary.impact,
        title: summary.title.clone(),
        opened_at: signal.time,
        last_signal_at: signal.time,
        signal_count: 1,
        detected_at: Some(signal.time),
        lease_until: at,
        expires_at: at + SETTLED_KEEP,
        token: String::new(),
        firing: Default::default(),
    }
}
