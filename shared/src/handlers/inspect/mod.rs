//! The `inspect` stage: the Lambda function, load-balancer target group or RDS DB instance an
//! alarm is about, described the way an on-call engineer would look it up first.
//!
//! On `Incident Enriched` (every other lifecycle event is `ignored`) of a metric or composite
//! alarm naming one of them ([`subject_of`]; any other signal is `ignored`):
//! - a **Lambda function**: `GetFunctionConfiguration` (runtime, memory, timeout, version,
//!   state, last modified), `GetFunctionConcurrency` and the newest error lines of its log group
//!   from
//!   [`LOG_WINDOW`] before the signal until it was diagnosed, through one bounded Logs Insights
//!   query;
//! - a **target group**: `DescribeTargetGroups` and `DescribeTargetHealth` (each target's state
//!   with its reason);
//! - an **RDS instance**: `DescribeDBInstances` (class, engine, status, Multi-AZ, storage) and
//!   its events from [`EVENTS_WINDOW`] before the signal until it was diagnosed.
//!
//! It writes one [`EntryKind::Inspected`] timeline entry (and the resource as an involved
//! resource) and publishes `Resource Inspected` with the facts ([`Inspection`]), which notify
//! posts in the incident's thread. It runs after enrich, beside `changes`: enrich's diagnosis
//! post (the alarm, its metric) does not wait for these services, and enrich does not link
//! their SDKs. A call IAM denies, a resource that is gone or a query that does not finish in
//! time becomes "not gathered: <why>" and the stage succeeds with the rest; a throttled or
//! unavailable service fails the invocation so that Lambda retries it. A signal of another
//! account or region is not inspected (the APIs answer for this one). Each incident is
//! inspected once: a re-delivery replays the stored answer.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::not_gathered;
use crate::domain::{
    one_line, stable_hash, trim_chars, EntryKind, IncidentRef, LifecycleDetail, LifecycleEvent,
    LifecycleKind, RelatedItem, TimelineEntry,
};
use crate::inspect::{subject_of, Inspection, Subject};
use crate::ports::{Databases, Functions, IncidentWriter, LogQueries, TargetGroups};
use crate::shell::{BusEvent, Invocation, Outcome, Stage, StageError};

/// How far before the signal the function's logs are searched.
pub const LOG_WINDOW: Duration = Duration::minutes(15);
/// Error lines kept (the post shows fewer).
pub const ERRORS_MAX: usize = 10;
/// How far before the signal the RDS instance's events are read, and how many are kept.
pub const EVENTS_WINDOW: Duration = Duration::hours(24);
pub const EVENTS_MAX: usize = 10;

/// The longest timeline entry.
const TEXT_MAX: usize = 4_000;

/// What the stage did (**contract**).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InspectAction {
    /// The resource was looked up (possibly partly: see `notes`) and written.
    Inspected,
    /// Not an `Incident Enriched` event of an alarm on a function, target group or DB
    /// instance: nothing done.
    Ignored,
}

/// The stage's answer for one event (**contract**).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InspectAnswer {
    pub action: InspectAction,
    pub incident: Option<String>,
    /// One line: what was found (for `ignored`, why nothing was done).
    pub summary: String,
    /// What was not gathered, and why.
    #[serde(default)]
    pub notes: Vec<String>,
}

impl Outcome for InspectAnswer {
    fn action(&self) -> &'static str {
        match self.action {
            InspectAction::Inspected => "inspected",
            InspectAction::Ignored => "ignored",
        }
    }

    fn incident(&self) -> Option<&str> {
        self.incident.as_deref()
    }

    fn reason(&self) -> &str {
        &self.summary
    }
}

/// The inspect stage with its ports.
pub struct Inspect {
    incidents: Arc<dyn IncidentWriter>,
    functions: Arc<dyn Functions>,
    logs: Arc<dyn LogQueries>,
    target_groups: Arc<dyn TargetGroups>,
    databases: Arc<dyn Databases>,
}

impl Inspect {
    pub fn new(
        incidents: Arc<dyn IncidentWriter>,
        functions: Arc<dyn Functions>,
        logs: Arc<dyn LogQueries>,
        target_groups: Arc<dyn TargetGroups>,
        databases: Arc<dyn Databases>,
    ) -> Self {
        Inspect {
            incidents,
            functions,
            logs,
            target_groups,
            databases,
        }
    }
}

fn ignored(incident: &str, summary: String) -> InspectAnswer {
    InspectAnswer {
        action: InspectAction::Ignored,
        incident: Some(incident.to_string()),
        summary,
        notes: Vec::new(),
    }
}

#[async_trait]
impl Stage for Inspect {
    const NAME: &'static str = "inspect";
    const TAKES: &'static str = "`Incident Enriched` from incident.responder";
    const PUBLISHES: bool = true;
    type Input = BusEvent;
    type Answer = InspectAnswer;
    type Error = StageError;

    async fn handle(
        &self,
        input: BusEvent,
        cx: &Invocation<'_>,
    ) -> Result<InspectAnswer, StageError> {
        let event = input.event;
        let summary = &event.detail.incident;
        if event.kind != LifecycleKind::IncidentEnriched {
            return Ok(ignored(
                &summary.id,
                format!(
                    "`{}` events start no inspection; only `Incident Enriched` does.",
                    event.kind.detail_type()
                ),
            ));
        }
        let Some(subject) = subject_of(&event.detail.signal) else {
            return Ok(ignored(
                &summary.id,
                "The signal is not an alarm on a Lambda function, a target group or an RDS \
                 instance; nothing to inspect."
                    .to_string(),
            ));
        };
        StageError::check_backend(summary, self.incidents.backend())?;
        let incident = IncidentRef {
            backend: summary.backend,
            id: summary.id.clone(),
        };
        cx.once(
            &format!("inspect#{}", incident.id),
            |first| replay(first, &incident),
            |_| self.inspect(&event, &incident, &subject, cx),
        )
        .await
    }
}

/// The answer for a re-delivery: what the first delivery answered.
fn replay(first: Option<InspectAnswer>, incident: &IncidentRef) -> InspectAnswer {
    first.unwrap_or_else(|| InspectAnswer {
        action: InspectAction::Inspected,
        incident: Some(incident.id.clone()),
        summary: "Re-delivery of an incident already inspected; nothing done.".to_string(),
        notes: Vec::new(),
    })
}

impl Inspect {
    async fn inspect(
        &self,
        enriched: &LifecycleEvent,
        incident: &IncidentRef,
        subject: &Subject,
        cx: &Invocation<'_>,
    ) -> Result<InspectAnswer, StageError> {
        let signal = &enriched.detail.signal;
        let mut found = Inspection::default();
        let elsewhere = cx
            .home()
            .filter(|home| *home != (signal.account.as_str(), signal.region.as_str()));
        match elsewhere {
            // These APIs answer for this function's account and region only.
            Some((account, region)) => found.notes.push(format!(
                "{}: not inspected: the signal is from account {} in {}; this responder reads \
                 {account} in {region}",
                subject.label(),
                signal.account,
                signal.region
            )),
            // The windows end when the incident was diagnosed, not when this runs: a retry
            // reads the same lines and events, and a re-drive from the dead-letter queue hours
            // later does not scan those hours.
            None => {
                let until = enriched.time.max(signal.time);
                self.gather(subject, signal.time, until, &mut found).await?
            }
        }
        let headline = headline(subject, &found);
        self.write(enriched, incident, &found, &headline).await?;
        let published = LifecycleDetail {
            reason: headline.clone(),
            inspection: Some(found.clone()),
            automation: None,
            resolution: None,
            escalation: None,
            request: None,
            hold: None,
            silence: None,
            changes: None,
            ..enriched.detail.clone()
        };
        cx.publish(LifecycleKind::ResourceInspected, published)
            .await?;
        Ok(InspectAnswer {
            action: InspectAction::Inspected,
            incident: Some(incident.id.clone()),
            summary: headline,
            notes: found.notes,
        })
    }

    async fn gather(
        &self,
        subject: &Subject,
        fired: DateTime<Utc>,
        until: DateTime<Utc>,
        found: &mut Inspection,
    ) -> Result<(), StageError> {
        let notes = &mut found.notes;
        let label = subject.label();
        match subject {
            Subject::Function { name, qualifier } => {
                let read = self.functions.function(name, qualifier.as_deref()).await;
                let Some(mut function) =
                    not_gathered("GetFunctionConfiguration", &label, read, notes)?
                else {
                    return Ok(());
                };
                let read = self.functions.reserved_concurrency(name).await;
                if let Some(reserved) = not_gathered("GetFunctionConcurrency", &label, read, notes)?
                {
                    function.reserved_concurrency = reserved;
                }
                let since = fired - LOG_WINDOW;
                let read = self
                    .logs
                    .error_lines(&function.log_group, since, until, ERRORS_MAX)
                    .await;
                match not_gathered("Logs Insights", &function.log_group, read, notes)? {
                    Some(Some(lines)) => function.errors = lines,
                    Some(None) => notes.push(format!(
                        "Logs Insights: not gathered for {}: the query did not finish in time",
                        function.log_group
                    )),
                    None => {}
                }
                found.function = Some(function);
            }
            Subject::TargetGroup { arn } => {
                let read = self.target_groups.target_group(arn).await;
                let Some(mut group) = not_gathered("DescribeTargetGroups", &label, read, notes)?
                else {
                    return Ok(());
                };
                let read = self.target_groups.target_health(arn).await;
                if let Some(targets) = not_gathered("DescribeTargetHealth", &label, read, notes)? {
                    group.targets = targets;
                }
                found.target_group = Some(group);
            }
            Subject::Database { id } => {
                let read = self.databases.database(id).await;
                let Some(mut database) = not_gathered("DescribeDBInstances", &label, read, notes)?
                else {
                    return Ok(());
                };
                let read = self
                    .databases
                    .events(id, fired - EVENTS_WINDOW, until, EVENTS_MAX)
                    .await;
                if let Some(events) = not_gathered("DescribeEvents", &label, read, notes)? {
                    database.events = events;
                }
                found.database = Some(database);
            }
        }
        Ok(())
    }

    /// The timeline entry (and the resource as an involved resource). Their client tokens
    /// derive from the incident and the words: a retry that finds the same writes the same once.
    async fn write(
        &self,
        enriched: &LifecycleEvent,
        incident: &IncidentRef,
        found: &Inspection,
        headline: &str,
    ) -> Result<(), StageError> {
        let resource = [
            found
                .function
                .as_ref()
                .map(|f| (&f.arn, format!("Function {}", f.name))),
            found
                .target_group
                .as_ref()
                .map(|g| (&g.arn, format!("Target group {}", g.name))),
            found
                .database
                .as_ref()
                .map(|d| (&d.arn, format!("DB instance {}", d.id))),
        ]
        .into_iter()
        .flatten()
        .find(|(arn, _)| crate::arn::Arn::parse(arn).is_some());
        if let Some((arn, title)) = resource {
            let item = RelatedItem::resource(arn.clone(), title);
            let token = token(&incident.id, "related-items");
            self.incidents
                .add_related_items(incident, &[item], &token)
                .await?;
        }
        let text = timeline_text(headline, found);
        let entry = TimelineEntry::new(enriched.time, EntryKind::Inspected, &text);
        let token = token(
            &incident.id,
            &format!("timeline:inspect:{}", stable_hash(&[&text], 16)),
        );
        self.incidents
            .add_timeline(incident, &entry, &token)
            .await?;
        Ok(())
    }
}

/// One line: the resource, and the fact that matters most for its alarm.
fn headline(subject: &Subject, found: &Inspection) -> String {
    if let Some(f) = &found.function {
        let minutes = LOG_WINDOW.num_minutes();
        return match f.errors.first() {
            Some(newest) => format!(
                "{}; {} error line{} in its logs from {minutes} min before the signal, the latest: {}",
                f.line(),
                f.errors.len(),
                if f.errors.len() == 1 { "" } else { "s" },
                newest.line()
            ),
            None if found.notes.is_empty() => format!(
                "{}; no error lines in its logs from {minutes} min before the signal",
                f.line()
            ),
            None => f.line(),
        };
    }
    if let Some(g) = &found.target_group {
        if g.targets.is_empty() && !found.notes.is_empty() {
            return g.described();
        }
        let failing: Vec<_> = g.targets.iter().filter(|t| t.blocks()).collect();
        return match failing.first() {
            Some(first) if failing.len() > 1 => {
                format!(
                    "{}; {} and {} more",
                    g.line(),
                    first.line(),
                    failing.len() - 1
                )
            }
            Some(first) => format!("{}; {}", g.line(), first.line()),
            None => g.line(),
        };
    }
    if let Some(d) = &found.database {
        let hours = EVENTS_WINDOW.num_hours();
        return match d.events.first() {
            Some(newest) => format!("{}; the latest event: {}", d.line(), newest.line()),
            None => format!(
                "{}; no events from {hours} h before the signal until it was diagnosed",
                d.line()
            ),
        };
    }
    match found.notes.first() {
        Some(note) => trim_chars(&one_line(note), 300),
        None => format!("{}: not inspected", subject.label()),
    }
}

/// The entry: the headline, the notes, then the details (every error line, target, event).
fn timeline_text(headline: &str, found: &Inspection) -> String {
    let mut text = headline.to_string();
    for note in &found.notes {
        text.push_str("\nNote: ");
        text.push_str(&trim_chars(&one_line(note), 300));
    }
    if let Some(f) = &found.function {
        if !f.errors.is_empty() {
            text.push_str(&format!("\nLatest errors in {}:", f.log_group));
        }
        for line in &f.errors {
            text.push_str(&format!("\n- {}", line.line()));
        }
    }
    if let Some(g) = &found.target_group {
        for target in &g.targets {
            text.push_str(&format!("\n- {}", target.line()));
        }
    }
    if let Some(d) = &found.database {
        for event in &d.events {
            text.push_str(&format!("\n- {}", event.line()));
        }
    }
    trim_chars(&text, TEXT_MAX)
}

fn token(incident: &str, item: &str) -> String {
    stable_hash(&[incident, "inspect", item], 64)
}

#[cfg(test)]
mod tests;
