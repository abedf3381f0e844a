//! The `enrich` stage: the on-call engineer's first ten minutes, done before anyone is paged.
//!
//! It reads the responder bus's `Incident Opened` events (every other lifecycle event is
//! `ignored`) and, for the incident's signal, gathers one diagnosis kind's facts:
//! - a **VPN** (`vpn`: the alarm's `VpnId` dimension or tag, a `vpn-…` resource, or the tunnel
//!   whose outside IP is the alarm's `TunnelIpAddress`): the connection, its gateways, each
//!   tunnel's `TunnelState` over the last three hours, and one line saying which tunnel is down
//!   since when and why;
//! - an **EC2 instance** an alarm names (`instance`: its `InstanceId` dimension or tag, or an
//!   `i-…` resource): the instance, its status checks (system vs instance, since when), its
//!   scheduled events and the last lines of its console output;
//! - any **other alarm** (`alarm`): the metrics it watches and its state reason;
//! - a **GuardDuty or Security Hub finding** (`finding`): its resources and a console link;
//!
//! then writes the related items and one [`EntryKind::Diagnosis`] timeline entry onto the
//! incident, and publishes `Incident Enriched` with the [`Diagnosis`]. A new diagnosis kind is
//! one more module beside these, called from `Enrich::diagnose`.
//!
//! What cannot be read because it no longer exists or IAM denies it becomes a note and the
//! diagnosis is partial; a throttled or unavailable service fails the invocation so that Lambda
//! retries it. Each incident is enriched once: a re-delivery replays the stored answer, and a
//! retry after a failure writes with the same client tokens.

mod alarm;
mod finding;
mod instance;
mod vpn;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::arn::{self, is_arn, resource_title};
use crate::diagnosis::{Diagnosis, InstanceFacts, VpnFacts};
use crate::domain::{
    one_line, stable_hash, trim_chars, EntryKind, IncidentRef, LifecycleDetail, LifecycleEvent,
    LifecycleKind, RelatedItem, SignalKind, TimelineEntry,
};
use crate::ports::{
    IncidentWriter, Instances, MetricSource, NetworkInventory, PortError, PortErrorKind,
};
use crate::shell::{BusEvent, Invocation, Outcome, Stage, StageError};

/// Text limits: well inside every backend's, and short enough to read.
const SUMMARY_MAX: usize = 1_000;
const LINE_MAX: usize = 1_000;
const NOTE_MAX: usize = 300;
const NOTES_MAX: usize = 10;
const TEXT_MAX: usize = 4_000;
const TITLE_MAX: usize = 200;
const REASON_MAX: usize = 2_000;
/// Related items written per incident (Incident Manager keeps at most 100 per record).
const ITEMS_MAX: usize = 40;

/// What enrich did (**contract**).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnrichAction {
    /// The incident was diagnosed (possibly partially: see `notes`).
    Enriched,
    /// Not an `Incident Opened` event: nothing done.
    Ignored,
}

/// Enrich's answer for one event (**contract**).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrichAnswer {
    pub action: EnrichAction,
    /// The incident (record ARN or OpsItem id).
    pub incident: Option<String>,
    /// The diagnosis line (for `ignored`, why nothing was done).
    pub summary: String,
    /// What could not be read.
    #[serde(default)]
    pub notes: Vec<String>,
}

impl Outcome for EnrichAnswer {
    fn action(&self) -> &'static str {
        match self.action {
            EnrichAction::Enriched => "enriched",
            EnrichAction::Ignored => "ignored",
        }
    }

    fn incident(&self) -> Option<&str> {
        self.incident.as_deref()
    }

    fn reason(&self) -> &str {
        &self.summary
    }
}

/// The answer for a re-delivery: what the first delivery answered.
fn replay(first: Option<EnrichAnswer>, incident: &IncidentRef) -> EnrichAnswer {
    first.unwrap_or_else(|| EnrichAnswer {
        action: EnrichAction::Enriched,
        incident: Some(incident.id.clone()),
        summary: "Re-delivery of an incident already enriched; nothing done.".to_string(),
        notes: Vec::new(),
    })
}

/// The enrich stage with its ports.
pub struct Enrich {
    incidents: Arc<dyn IncidentWriter>,
    network: Arc<dyn NetworkInventory>,
    instances: Arc<dyn Instances>,
    metrics: Arc<dyn MetricSource>,
}

impl Enrich {
    pub fn new(
        incidents: Arc<dyn IncidentWriter>,
        network: Arc<dyn NetworkInventory>,
        instances: Arc<dyn Instances>,
        metrics: Arc<dyn MetricSource>,
    ) -> Self {
        Enrich {
            incidents,
            network,
            instances,
            metrics,
        }
    }
}

#[async_trait]
impl Stage for Enrich {
    const NAME: &'static str = "enrich";
    const TAKES: &'static str = "`Incident Opened` from incident.responder";
    const PUBLISHES: bool = true;
    type Input = BusEvent;
    type Answer = EnrichAnswer;
    type Error = StageError;

    async fn handle(
        &self,
        input: BusEvent,
        cx: &Invocation<'_>,
    ) -> Result<EnrichAnswer, StageError> {
        let opened = input.event;
        let summary = &opened.detail.incident;
        if opened.kind != LifecycleKind::IncidentOpened {
            return Ok(EnrichAnswer {
                action: EnrichAction::Ignored,
                incident: Some(summary.id.clone()),
                summary: format!(
                    "`{}` events are not enriched; only `Incident Opened` is.",
                    opened.kind.detail_type()
                ),
                notes: Vec::new(),
            });
        }
        StageError::check_backend(summary, self.incidents.backend())?;
        let incident = IncidentRef {
            backend: summary.backend,
            id: summary.id.clone(),
        };
        let now = cx.now();
        cx.once(
            &format!("enrich#{}", incident.id),
            |first| replay(first, &incident),
            |_| self.enrich(&opened, &incident, now, cx),
        )
        .await
    }
}

/// What is gathered before anything is written.
#[derive(Debug, Default)]
struct Draft {
    /// The diagnosis line.
    summary: String,
    /// More lines for the timeline entry (not for the VPN line, which says it all).
    lines: Vec<String>,
    /// Lines after all the others (a console output's tail).
    trailer: Vec<String>,
    vpn: Option<VpnFacts>,
    instance: Option<InstanceFacts>,
    items: Vec<RelatedItem>,
    notes: Vec<String>,
}

/// Where the signal happened: builds ARNs and console links.
struct Place<'a> {
    region: &'a str,
    account: &'a str,
}

impl Place<'_> {
    fn arn(&self, service: &str, resource: &str) -> String {
        arn::format(self.region, self.account, service, resource)
    }
}

impl Enrich {
    async fn enrich(
        &self,
        opened: &LifecycleEvent,
        incident: &IncidentRef,
        now: DateTime<Utc>,
        cx: &Invocation<'_>,
    ) -> Result<EnrichAnswer, StageError> {
        let detail = &opened.detail;
        let draft = self.diagnose(detail, now, cx.home()).await?;
        let summary = trim_chars(&one_line(&draft.summary), SUMMARY_MAX);
        let notes: Vec<String> = draft
            .notes
            .iter()
            .take(NOTES_MAX)
            .map(|n| trim_chars(&one_line(n), NOTE_MAX))
            .collect();

        let items = distinct(draft.items);
        if !items.is_empty() {
            let token = client_token(&incident.id, "related-items");
            self.incidents
                .add_related_items(incident, &items, &token)
                .await?;
        }
        // The entry's time is the opening's, not the clock's: a retry writes the very same entry
        // (OpsCenter keys timeline entries by time and token).
        let entry = TimelineEntry::new(
            opened.time,
            EntryKind::Diagnosis,
            &timeline_text(&summary, &draft.lines, &notes, &draft.trailer),
        );
        let token = client_token(&incident.id, "timeline:diagnosis");
        self.incidents
            .add_timeline(incident, &entry, &token)
            .await?;

        let mut reason = format!("Enriched the incident before paging: {summary}");
        if !notes.is_empty() {
            reason.push_str(&format!(" (partial: {})", notes.join("; ")));
        }
        let enriched = LifecycleDetail {
            reason: trim_chars(&reason, REASON_MAX),
            diagnosis: Some(Diagnosis {
                summary: summary.clone(),
                vpn: draft.vpn,
                instance: draft.instance,
                notes: notes.clone(),
            }),
            automation: None,
            resolution: None,
            escalation: None,
            request: None,
            hold: None,
            silence: None,
            changes: None,
            ..detail.clone()
        };
        cx.publish(LifecycleKind::IncidentEnriched, enriched)
            .await?;
        Ok(EnrichAnswer {
            action: EnrichAction::Enriched,
            incident: Some(incident.id.clone()),
            summary,
            notes,
        })
    }

    /// Everything known about the incident's signal: the line, the items, the notes. Each
    /// diagnosis kind adds what it knows to the draft.
    async fn diagnose(
        &self,
        detail: &LifecycleDetail,
        now: DateTime<Utc>,
        home: Option<(&str, &str)>,
    ) -> Result<Draft, StageError> {
        let signal = &detail.signal;
        let place = Place {
            region: &signal.region,
            account: &signal.account,
        };
        let mut draft = Draft::default();
        let is_vpn = vpn::diagnose(self, detail, &place, now, &mut draft).await?;
        let is_alarm = matches!(
            signal.kind,
            SignalKind::MetricAlarm | SignalKind::CompositeAlarm
        );
        if is_alarm && !is_vpn {
            instance::diagnose(self, detail, &place, now, home, &mut draft).await?;
        }
        let is_finding = matches!(
            signal.kind,
            SignalKind::GuardDutyFinding | SignalKind::SecurityHubFinding
        ) && signal.finding_id.is_some();
        if is_finding {
            finding::describe(signal, &place, &mut draft);
        } else if signal.alarm_name.is_some() || !signal.metrics.is_empty() {
            alarm::describe(signal, &place, !is_vpn, &mut draft);
        } else if draft.summary.is_empty() {
            draft.summary = signal.summary.clone();
            if let Some(reason) = signal.reason.as_deref().filter(|r| !r.trim().is_empty()) {
                draft.lines.push(format!("Reason: {reason}"));
            }
        }
        // Whatever else the signal names is attached by ARN, whatever kind of resource it is.
        for arn in std::iter::once(&signal.resource)
            .chain(&signal.resources)
            .chain(&detail.incident.resources)
            .filter(|r| is_arn(r))
        {
            draft
                .items
                .push(RelatedItem::resource(arn.clone(), resource_title(arn)));
        }
        Ok(draft)
    }
}

/// A describe call's result, with a missing resource or a denied call turned into a note.
fn tolerate<T>(
    what: &str,
    result: Result<T, PortError>,
    notes: &mut Vec<String>,
) -> Result<Option<T>, PortError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.kind == PortErrorKind::NotFound => {
            warn!(error = %e, "{what} no longer exists");
            notes.push(format!("{what} no longer exists"));
            Ok(None)
        }
        Err(e) if e.kind == PortErrorKind::AccessDenied => {
            warn!(error = %e, "reading {what} denied");
            notes.push(format!("could not read {what}: AccessDenied"));
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The timeline entry: the line, the details, what could not be read, then the trailer (a
/// console output's tail, which a long entry loses first).
fn timeline_text(summary: &str, lines: &[String], notes: &[String], trailer: &[String]) -> String {
    let mut text = summary.to_string();
    for line in lines {
        text.push('\n');
        text.push_str(&trim_chars(&one_line(line), LINE_MAX));
    }
    for note in notes {
        text.push_str("\nNote: ");
        text.push_str(note);
    }
    for line in trailer {
        text.push('\n');
        text.push_str(&trim_chars(&one_line(line), LINE_MAX));
    }
    trim_chars(&text, TEXT_MAX)
}

/// Items in order, each value once, titles within limits, at most [`ITEMS_MAX`].
fn distinct(items: Vec<RelatedItem>) -> Vec<RelatedItem> {
    let mut out: Vec<RelatedItem> = Vec::new();
    for mut item in items {
        if out.len() == ITEMS_MAX {
            warn!(max = ITEMS_MAX, "related items over the limit dropped");
            break;
        }
        if !out.iter().any(|i| i.value == item.value) {
            item.title = trim_chars(&item.title, TITLE_MAX);
            out.push(item);
        }
    }
    out
}

/// The client token of one write onto an incident: a retry sends the same one.
fn client_token(incident: &str, item: &str) -> String {
    stable_hash(&[incident, "enrich", item], 64)
}

#[cfg(test)]
mod tests;
