//! The `changes` stage: "what changed?", the first question of every responder, answered before
//! anyone asks it.
//!
//! On `Incident Enriched` (every other lifecycle event is `ignored`) it reads, for the
//! incident's resources ([`crate::changes::resources_of`]: the diagnosed VPN, the alarm's
//! resource dimensions, the finding's resources; at most three, CloudTrail allows two lookups a
//! second per account), the write calls of their service CloudTrail recorded from
//! `CHANGES_LOOKBACK` before the signal fired until the incident was diagnosed, and the
//! CloudFormation stack that owns them (its `aws:cloudformation:stack-name` tag, as the
//! diagnosis found it). A signal of another account or region is not looked up (both APIs
//! answer for this one). It writes one
//! [`EntryKind::Changes`] timeline entry and publishes `Changes Gathered` with the list
//! ([`Changes`]), which notify posts in the incident's thread and the record shows.
//!
//! It runs after enrich, not beside it: the diagnosis names the resources (the VPN behind a
//! tunnel's IP) and their stack, and the diagnosis post does not wait for CloudTrail. A look-up
//! IAM denies, a stack that is gone or an answer that does not read becomes "not gathered:
//! <why>" and the stage succeeds with the rest; a throttled or unavailable service fails the
//! invocation so that Lambda retries it. When nothing could be read, it says so, never
//! "nothing changed".
//! Each incident is looked at once: a re-delivery replays the stored answer.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

mod health;

pub use health::issue_line;

use super::not_gathered;
use crate::changes::{self, Change, Changes, StackFacts};
use crate::domain::{
    one_line, stable_hash, trim_chars, EntryKind, IncidentRef, LifecycleDetail, LifecycleEvent,
    LifecycleKind, RelatedItem, TimelineEntry,
};
use crate::ports::{Health, IncidentWriter, ReferenceStore, Stacks, Trail};
use crate::shell::{BusEvent, Invocation, Outcome, Stage, StageError};

/// The longest line of the timeline entry, and the entry.
const LINE_MAX: usize = 300;
const TEXT_MAX: usize = 4_000;

/// What the stage did (**contract**).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangesAction {
    /// The changes were looked up (possibly partly: see `notes`) and written.
    Gathered,
    /// Not an `Incident Enriched` event: nothing done.
    Ignored,
}

/// The stage's answer for one event (**contract**).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangesAnswer {
    pub action: ChangesAction,
    pub incident: Option<String>,
    /// One line: how many changes, over what look-back (for `ignored`, why nothing was done).
    pub summary: String,
    /// How many changes were found.
    #[serde(default)]
    pub count: usize,
    /// What was not gathered, and why.
    #[serde(default)]
    pub notes: Vec<String>,
}

impl Outcome for ChangesAnswer {
    fn action(&self) -> &'static str {
        match self.action {
            ChangesAction::Gathered => "gathered",
            ChangesAction::Ignored => "ignored",
        }
    }

    fn incident(&self) -> Option<&str> {
        self.incident.as_deref()
    }

    fn reason(&self) -> &str {
        &self.summary
    }
}

/// The changes stage with its ports and settings.
pub struct ChangesStage {
    incidents: Arc<dyn IncidentWriter>,
    trail: Arc<dyn Trail>,
    stacks: Arc<dyn Stacks>,
    health: Arc<dyn Health>,
    /// Where "this account has no support plan for AWS Health" is remembered.
    references: Arc<dyn ReferenceStore>,
    lookback: Duration,
    max: usize,
}

impl ChangesStage {
    pub fn new(
        incidents: Arc<dyn IncidentWriter>,
        trail: Arc<dyn Trail>,
        stacks: Arc<dyn Stacks>,
        health: Arc<dyn Health>,
        references: Arc<dyn ReferenceStore>,
        lookback: Duration,
        max: usize,
    ) -> Self {
        ChangesStage {
            incidents,
            trail,
            stacks,
            health,
            references,
            lookback,
            max,
        }
    }
}

#[async_trait]
impl Stage for ChangesStage {
    const NAME: &'static str = "changes";
    const TAKES: &'static str = "`Incident Enriched` from incident.responder";
    const PUBLISHES: bool = true;
    type Input = BusEvent;
    type Answer = ChangesAnswer;
    type Error = StageError;

    async fn handle(
        &self,
        input: BusEvent,
        cx: &Invocation<'_>,
    ) -> Result<ChangesAnswer, StageError> {
        let event = input.event;
        let summary = &event.detail.incident;
        if event.kind != LifecycleKind::IncidentEnriched {
            return Ok(ChangesAnswer {
                action: ChangesAction::Ignored,
                incident: Some(summary.id.clone()),
                summary: format!(
                    "`{}` events start no look-up; only `Incident Enriched` does.",
                    event.kind.detail_type()
                ),
                count: 0,
                notes: Vec::new(),
            });
        }
        StageError::check_backend(summary, self.incidents.backend())?;
        let incident = IncidentRef {
            backend: summary.backend,
            id: summary.id.clone(),
        };
        cx.once(
            &format!("changes#{}", incident.id),
            |first| replay(first, &incident),
            |_| self.gather(&event, &incident, cx),
        )
        .await
    }
}

/// The answer for a re-delivery: what the first delivery answered.
fn replay(first: Option<ChangesAnswer>, incident: &IncidentRef) -> ChangesAnswer {
    first.unwrap_or_else(|| ChangesAnswer {
        action: ChangesAction::Gathered,
        incident: Some(incident.id.clone()),
        summary: "Re-delivery of an incident already looked at; nothing done.".to_string(),
        count: 0,
        notes: Vec::new(),
    })
}

impl ChangesStage {
    async fn gather(
        &self,
        enriched: &LifecycleEvent,
        incident: &IncidentRef,
        cx: &Invocation<'_>,
    ) -> Result<ChangesAnswer, StageError> {
        let detail = &enriched.detail;
        let signal = &detail.signal;
        // The window ends when the incident was diagnosed, not when this runs: a retry looks
        // at the same window.
        let until = enriched.time.max(signal.time);
        let since = signal.time - self.lookback;
        let lookups = changes::resources_of(signal, detail.diagnosis.as_ref());
        let mut notes = Vec::new();
        let mut gathered = false;

        // CloudTrail and CloudFormation answer for this function's account and region only.
        let elsewhere = cx
            .home()
            .filter(|home| *home != (signal.account.as_str(), signal.region.as_str()));
        if let Some((account, region)) = elsewhere {
            notes.push(format!(
                "the signal is from account {} in {}; this responder reads {account} in {region}",
                signal.account, signal.region
            ));
        }

        let mut items: Vec<Change> = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        for lookup in lookups.iter().filter(|_| elsewhere.is_none()) {
            let found = self
                .trail
                .writes(&lookup.name, since, until, self.max)
                .await;
            let Some(found) = not_gathered("CloudTrail", &lookup.name, found, &mut notes)? else {
                continue;
            };
            gathered = true;
            if let Some(back_to) = found.examined_back_to {
                notes.push(format!(
                    "CloudTrail: only the newest events on {} were examined, back to {}",
                    lookup.name,
                    utc(back_to)
                ));
            }
            // Only the calls of the resource's own service (a bare name can be another's), each
            // once (one call can touch two of the resources).
            for event in found.events {
                let ours = event.source.as_deref().is_none_or(|s| s == lookup.source);
                if !ours || seen.contains(&event.id) {
                    continue;
                }
                seen.push(event.id.clone());
                items.push(Change {
                    time: event.time,
                    what: event.name,
                    on: lookup.name.clone(),
                    by: event.by,
                    event: Some(event.id),
                });
            }
        }

        let stack =
            match changes::stack_of(detail.diagnosis.as_ref()).filter(|_| elsewhere.is_none()) {
                Some(name) => {
                    let read = self.stacks.stack(&name).await;
                    not_gathered("CloudFormation", &name, read, &mut notes)?
                }
                None => None,
            };
        gathered |= stack.is_some();
        if let Some(stack) = stack.as_ref().filter(|s| s.changed_at() >= since) {
            items.push(Change {
                time: stack.changed_at(),
                what: stack.status.clone(),
                on: format!("stack {}", stack.name),
                by: None,
                event: None,
            });
        }
        items.sort_by_key(|c| std::cmp::Reverse(c.time));
        items.truncate(self.max);

        let now = cx.now();
        let health = match elsewhere {
            Some(_) => None,
            None => Some(
                health::open_issues(
                    self.health.as_ref(),
                    self.references.as_ref(),
                    &incident.id,
                    signal,
                    &lookups,
                    now,
                    &mut notes,
                )
                .await?,
            ),
        };
        let (issues, no_plan) = match health {
            Some(read) => (read.issues, read.no_plan),
            None => (None, None),
        };

        let found = Changes {
            since,
            until,
            resources: lookups.into_iter().map(|l| l.name).collect(),
            gathered: gathered || notes.is_empty(),
            items,
            stack,
            health: issues.unwrap_or_default(),
            notes: notes.clone(),
        };
        let headline = headline(&found, self.lookback);
        self.write(enriched, incident, &found, &headline).await?;
        if let Some(key) = &no_plan {
            health::remember_no_plan(self.references.as_ref(), key, &incident.id, now).await?;
        }
        let published = LifecycleDetail {
            reason: headline.clone(),
            changes: Some(found.clone()),
            automation: None,
            resolution: None,
            escalation: None,
            request: None,
            hold: None,
            silence: None,
            ..detail.clone()
        };
        cx.publish(LifecycleKind::ChangesGathered, published)
            .await?;
        Ok(ChangesAnswer {
            action: ChangesAction::Gathered,
            incident: Some(incident.id.clone()),
            summary: headline,
            count: found.items.len(),
            notes,
        })
    }

    /// The timeline entry (and the stack as an involved resource). Their client tokens derive
    /// from the incident and the words: a retry that finds the same writes the same once, and
    /// one that finds more (CloudTrail shows calls minutes late) adds its own entry rather than
    /// reusing a token for other words.
    async fn write(
        &self,
        enriched: &LifecycleEvent,
        incident: &IncidentRef,
        found: &Changes,
        headline: &str,
    ) -> Result<(), StageError> {
        if let Some(stack) = &found.stack {
            let item = RelatedItem::resource(stack.id.clone(), format!("Stack {}", stack.name));
            let token = token(&incident.id, "related-items");
            self.incidents
                .add_related_items(incident, &[item], &token)
                .await?;
        }
        let text = timeline_text(headline, found);
        let entry = TimelineEntry::new(
            enriched.time,
            EntryKind::Changes {
                count: u32::try_from(found.items.len()).unwrap_or(u32::MAX),
            },
            &text,
        );
        let token = token(
            &incident.id,
            &format!("timeline:changes:{}", stable_hash(&[&text], 16)),
        );
        self.incidents
            .add_timeline(incident, &entry, &token)
            .await?;
        Ok(())
    }
}

/// CloudTrail shows a call some minutes after it was made.
const LATE: &str = "calls of the last minutes may not show yet";

/// "2 changes from 3 h before the signal until it was diagnosed; the latest: …", "No changes
/// recorded for i-0abc …", or "What changed could not be gathered: …" when no look-up could be
/// made.
fn headline(found: &Changes, lookback: Duration) -> String {
    let mut line = changes_headline(found, lookback);
    match found.health.len() {
        0 => {}
        1 => line.push_str("; AWS Health: 1 open issue"),
        n => line.push_str(&format!("; AWS Health: {n} open issues")),
    }
    line
}

fn changes_headline(found: &Changes, lookback: Duration) -> String {
    let span = span_text(lookback);
    if !found.gathered {
        return format!(
            "What changed could not be gathered: {}",
            found
                .notes
                .first()
                .map_or("no look-up succeeded", String::as_str)
        );
    }
    match found.items.first() {
        None if found.resources.is_empty() && found.stack.is_none() => {
            "No resource of this incident can be looked up in CloudTrail".to_string()
        }
        None => format!(
            "No changes recorded for {} from {span} before the signal until it was diagnosed ({LATE})",
            found.resources.join(", ")
        ),
        Some(newest) => format!(
            "{} change{} from {span} before the signal until it was diagnosed ({LATE}); the latest: {}",
            found.items.len(),
            if found.items.len() == 1 { "" } else { "s" },
            line(newest)
        ),
    }
}

fn span_text(lookback: Duration) -> String {
    let minutes = lookback.num_minutes();
    if minutes % 1440 == 0 {
        format!("{} d", minutes / 1440)
    } else if minutes % 60 == 0 {
        format!("{} h", minutes / 60)
    } else {
        format!("{minutes} min")
    }
}

/// One change in words: `ModifyInstanceAttribute on i-0abc at 2026-12-05 03:41 UTC by alice`.
pub fn line(change: &Change) -> String {
    let mut text = format!("{} on {} at {}", change.what, change.on, utc(change.time));
    if let Some(by) = &change.by {
        text.push_str(&format!(" by {by}"));
    }
    trim_chars(&one_line(&text), LINE_MAX)
}

fn utc(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The entry: the headline, the stack and what was not gathered (kept when a long list is
/// cut), then one line per change.
fn timeline_text(headline: &str, found: &Changes) -> String {
    let mut text = headline.to_string();
    if let Some(stack) = &found.stack {
        text.push_str(&format!("\n{}", stack_line(stack)));
    }
    for issue in &found.health {
        text.push_str(&format!("\nAWS Health: {}", issue_line(issue)));
    }
    for note in &found.notes {
        text.push_str("\nNote: ");
        text.push_str(&trim_chars(&one_line(note), LINE_MAX));
    }
    for change in &found.items {
        text.push_str("\n- ");
        text.push_str(&line(change));
    }
    trim_chars(&text, TEXT_MAX)
}

/// `Stack web-prod: UPDATE_COMPLETE, last changed 2026-12-05 03:30 UTC`.
pub fn stack_line(stack: &StackFacts) -> String {
    trim_chars(
        &one_line(&format!(
            "Stack {}: {}, last changed {}",
            stack.name,
            stack.status,
            utc(stack.changed_at())
        )),
        LINE_MAX,
    )
}

fn token(incident: &str, item: &str) -> String {
    stable_hash(&[incident, "changes", item], 64)
}

#[cfg(test)]
mod tests;
