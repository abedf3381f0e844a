//! Closing a verified recovery: the resolution recorded, the key settled, then the record,
//! the report, the timeline, the backend's resolution and the announcement — each safe to repeat.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::*;

/// A verified resolution, recorded before the key is settled: a retry settles again and
/// finishes it from here whatever the key does next (a new incident may hold it by then),
/// unless the signal fired again, which withdraws it.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Commit {
    pub(super) row: DedupeRecord,
    pub(super) checks: Vec<String>,
    pub(super) at: DateTime<Utc>,
}

/// `resolved#<incident>`: how the incident was resolved, for a person's resolution (or the
/// responder's) arriving after it.
pub(super) fn resolved_key(incident_id: &str) -> String {
    format!("resolved#{incident_id}")
}

/// How long the note of a resolution is kept.
const RESOLVED_KEEP: Duration = Duration::days(30);

pub(super) fn commit_key(incident_id: &str, fingerprint: &str) -> String {
    format!("resolve-commit#{incident_id}#{fingerprint}")
}

impl Resolve {
    /// Verified, and the rule allows it: record the resolution (so that a retry finishes it
    /// whatever the key does next), settle the key, then write the record, resolve, announce.
    pub(super) async fn close(
        &self,
        recovered: &LifecycleEvent,
        incident: &IncidentRef,
        row: DedupeRecord,
        checks: &[Check],
        now: DateTime<Utc>,
        cx: &Invocation<'_>,
    ) -> Result<ResolveAnswer, StageError> {
        let commit = Commit {
            row,
            checks: checks.iter().map(|c| c.sentence.clone()).collect(),
            at: now,
        };
        let stored = serde_json::to_string(&commit).map_err(|e| StageError::Inconsistent {
            what: format!("the resolution of {}", incident.id),
            problem: e.to_string(),
        })?;
        let key = commit_key(&incident.id, &recovered.detail.signal.fingerprint);
        self.progress
            .remember(&key, &stored, now + COMMIT_KEEP)
            .await?;
        self.settle_and_finish(recovered, incident, commit, cx)
            .await
    }

    /// Settles the key of a recorded resolution and finishes it. The key bound elsewhere (a
    /// retry after the settle, once a new incident took the key; or a key freed meanwhile) does
    /// not stop it; the signal firing again does, and withdraws the record.
    pub(super) async fn settle_and_finish(
        &self,
        recovered: &LifecycleEvent,
        incident: &IncidentRef,
        commit: Commit,
        cx: &Invocation<'_>,
    ) -> Result<ResolveAnswer, StageError> {
        let key = &recovered.detail.incident.dedupe_key;
        let at = commit.at;
        let settled = self
            .keys
            .settle(
                key,
                &incident.id,
                SettleWhen::Recovered,
                at,
                at + SETTLED_KEEP,
            )
            .await?;
        match settled {
            Settle::Settled(row) => {
                let commit = Commit { row, ..commit };
                self.finish(recovered, incident, commit, None, cx).await
            }
            Settle::NotBound(_) => self.finish(recovered, incident, commit, None, cx).await,
            Settle::FiredAgain(_) => {
                let commit_key = commit_key(&incident.id, &recovered.detail.signal.fingerprint);
                self.progress.remember(&commit_key, "", cx.now()).await?;
                Ok(ResolveAnswer::new(
                    ResolveAction::Ignored,
                    &incident.id,
                    "The signal fired again while the recovery was being verified; the incident stays open.",
                ))
            }
        }
    }

    /// The irreversible steps of a committed resolution, each safe to repeat: the record, the
    /// report, the timeline, the backend's resolution (unless a person closed it there), the
    /// announcement. `person`: who resolved it, when a person did; the checks are then what
    /// could be verified at the time, passed or not.
    pub(super) async fn finish(
        &self,
        recovered: &LifecycleEvent,
        incident: &IncidentRef,
        commit: Commit,
        person: Option<&Person<'_>>,
        cx: &Invocation<'_>,
    ) -> Result<ResolveAnswer, StageError> {
        let detail = &recovered.detail;
        let summary = &detail.incident;
        let Commit {
            row,
            checks: sentences,
            at: now,
        } = commit;
        let verified = person.is_none_or(|p| p.verified);

        let record = self.records.record(incident).await?;
        let detected = report::detected_at(&row);
        let body = report::render(&ReportInput {
            incident: summary,
            signal: &detail.signal,
            row: &row,
            record: &record,
            checks: &sentences,
            resolved_at: now,
            resolved_by: person.map(|p| p.request.by.as_str()),
        });
        let key = report::object_key(&incident.id, detected);
        let stored = self.reports.put(&key, &body, report::CONTENT_TYPE).await?;

        let item = RelatedItem {
            kind: RelatedItemKind::Attachment,
            title: REPORT_ITEM_TITLE.to_string(),
            value: RelatedValue::Url(stored.console_url.clone()),
        };
        self.incidents
            .add_related_items(incident, &[item], &client_token(&incident.id, "report"))
            .await?;

        let how = how_resolved(person);
        let text = format!(
            "Resolved {how}: {}. Post-incident record: {}",
            checks_said(&sentences),
            stored.uri
        );
        self.note(
            recovered,
            incident,
            EntryKind::Resolved,
            &text,
            &client_token(
                &incident.id,
                &format!("resolved:{}", detail.signal.fingerprint),
            ),
        )
        .await?;

        let time_to_resolve = now - detected;
        if person.is_none_or(|p| !p.request.closed) {
            let closing = closing_summary(summary, &how, &sentences, time_to_resolve, &stored.uri);
            self.records.resolve(incident, &closing).await?;
        }

        let reason = format!(
            "Resolved {how} {} after detection: {}.",
            report::human_duration(time_to_resolve),
            checks_said(&sentences)
        );
        let secs = time_to_resolve.num_seconds().max(0);
        let resolution = Resolution {
            status: ResolutionStatus::Resolved,
            verified,
            checks: sentences,
            waiting_reason: None,
            report: Some(ReportLink {
                uri: stored.uri.clone(),
                url: stored.console_url.clone(),
            }),
            time_to_resolve_secs: Some(secs),
            resolved_by: person.map(|p| p.request.by.clone()),
        };
        let resolved = resolution_detail(detail, &reason, row.signal_count, resolution);
        cx.publish(LifecycleKind::IncidentResolved, resolved)
            .await?;
        // Whichever path resolved it first, the other finds it done.
        self.progress
            .remember(&resolved_key(&incident.id), &how, now + RESOLVED_KEEP)
            .await?;

        emit(summary, now, &resolved_metrics(secs));
        Ok(ResolveAnswer {
            action: ResolveAction::Resolved,
            incident: Some(incident.id.clone()),
            report: Some(stored.uri),
            reason,
        })
    }
}

/// A person's resolution as `finish` takes it: the request, and whether every check passed.
pub(super) struct Person<'a> {
    pub(super) request: &'a ResolutionRequest,
    pub(super) verified: bool,
}

/// `automatically`, or `by <who> (from <where>)`.
fn how_resolved(person: Option<&Person<'_>>) -> String {
    match person {
        None => "automatically".to_string(),
        Some(p) => format!("by {} (from {})", p.request.by, p.request.via),
    }
}

/// The checks in one sentence, or that there were none.
fn checks_said(checks: &[String]) -> String {
    if checks.is_empty() {
        "no recovery could be verified".to_string()
    } else {
        checks.join("; ")
    }
}

/// The incident's closing summary: what it was, how and when it was resolved, what the checks
/// said, and where the record is.
fn closing_summary(
    summary: &IncidentSummary,
    how: &str,
    checks: &[String],
    time_to_resolve: Duration,
    uri: &str,
) -> String {
    trim_chars(
        &format!(
            "{} — resolved {how} {} after detection. {}: {}. Post-incident record: {uri}",
            summary.title,
            report::human_duration(time_to_resolve),
            if how == "automatically" {
                "Recovery verified"
            } else {
                "Verification"
            },
            checks_said(checks)
        ),
        SUMMARY_MAX,
    )
}

/// The metrics of a resolution.
pub(super) fn resolved_metrics(time_to_resolve_secs: i64) -> Vec<Metric> {
    vec![
        Metric::count("IncidentsResolved"),
        // Seconds fit an f64 exactly far beyond any incident's length.
        Metric::seconds("TimeToResolve", time_to_resolve_secs as f64),
    ]
}
