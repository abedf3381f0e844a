//! What the incident's timeline says, read from the kinds its entries were written with
//! ([`EntryKind`]): the diagnosis, and each runbook run pieced together from its entries.

use chrono::{DateTime, Utc};

use super::{detected_at, ReportInput};
use crate::domain::{EntryKind, TimelineEntry};

/// One runbook run, pieced together from its entries.
#[derive(Debug, Default)]
pub(super) struct Run<'a> {
    pub(super) document: &'a str,
    pub(super) execution: Option<&'a str>,
    pub(super) started: Option<&'a TimelineEntry>,
    /// The values it started with, in the document's order.
    pub(super) parameters: &'a [(String, String)],
    /// Notes on those values (an assumed IKE version, a parameter left out).
    pub(super) notes: &'a [String],
    /// The entry and Automation's final status.
    pub(super) finished: Option<(&'a TimelineEntry, &'a str)>,
    /// The entry and why it did not start.
    pub(super) not_started: Option<(&'a TimelineEntry, &'a str)>,
}

/// What the record needs, found once.
pub(super) struct Facts<'a> {
    pub(super) detected: DateTime<Utc>,
    pub(super) opened: DateTime<Utc>,
    pub(super) diagnosis: Option<&'a TimelineEntry>,
    /// The resource behind the alarm (the `inspect` stage's entry).
    pub(super) inspected: Option<&'a TimelineEntry>,
    /// What changed before the incident (the `changes` stage's entry).
    pub(super) changes: Option<&'a TimelineEntry>,
    pub(super) runs: Vec<Run<'a>>,
    /// When the signal recovered (not known when a person resolved the incident).
    pub(super) recovered: Option<DateTime<Utc>>,
    pub(super) resolved: DateTime<Utc>,
    /// The pages escalate sent (one entry per stage and round), and the acknowledgement.
    pub(super) pages: Vec<&'a TimelineEntry>,
    pub(super) acknowledged: Option<&'a TimelineEntry>,
    /// Downstream signals folded into the incident (inhibitions), one entry each.
    pub(super) downstream: usize,
    /// Silences set and lifted, in order.
    pub(super) silences: Vec<&'a TimelineEntry>,
}

impl<'a> Facts<'a> {
    pub(super) fn gather(input: &ReportInput<'a>) -> Facts<'a> {
        let timeline = &input.record.timeline;
        let mut runs: Vec<Run<'a>> = Vec::new();
        for entry in timeline {
            match &entry.kind {
                EntryKind::RunbookStarted {
                    document,
                    execution,
                    parameters,
                    notes,
                } => runs.push(Run {
                    document,
                    execution: Some(execution),
                    started: Some(entry),
                    parameters,
                    notes,
                    ..Run::default()
                }),
                EntryKind::RunbookFinished {
                    document,
                    execution,
                    status,
                } => {
                    let open = runs
                        .iter_mut()
                        .find(|r| r.finished.is_none() && r.execution == Some(execution.as_str()));
                    match open {
                        Some(run) => run.finished = Some((entry, status)),
                        None => runs.push(Run {
                            document,
                            execution: Some(execution),
                            finished: Some((entry, status)),
                            ..Run::default()
                        }),
                    }
                }
                EntryKind::RunbookNotStarted { document, why } => runs.push(Run {
                    document,
                    not_started: Some((entry, why)),
                    ..Run::default()
                }),
                _ => {}
            }
        }
        Facts {
            detected: detected_at(input.row),
            opened: input.record.created_at.unwrap_or(input.row.opened_at),
            diagnosis: timeline.iter().find(|e| e.kind == EntryKind::Diagnosis),
            inspected: timeline.iter().find(|e| e.kind == EntryKind::Inspected),
            changes: timeline
                .iter()
                .find(|e| matches!(e.kind, EntryKind::Changes { .. })),
            runs,
            recovered: input.resolved_by.is_none().then_some(input.signal.time),
            resolved: input.resolved_at,
            pages: timeline
                .iter()
                .filter(|e| matches!(e.kind, EntryKind::Paged { .. }))
                .collect(),
            acknowledged: timeline
                .iter()
                .find(|e| matches!(e.kind, EntryKind::Acknowledged { .. })),
            downstream: timeline
                .iter()
                .filter(|e| matches!(e.kind, EntryKind::DownstreamFolded { .. }))
                .count(),
            silences: timeline
                .iter()
                .filter(|e| matches!(e.kind, EntryKind::Silenced { .. }))
                .collect(),
        }
    }

    /// How many times each target was paged, in the order first paged.
    pub(super) fn pages_by_target(&self) -> Vec<(&'a str, usize)> {
        let mut counts: Vec<(&'a str, usize)> = Vec::new();
        for entry in &self.pages {
            if let EntryKind::Paged { targets, .. } = &entry.kind {
                for target in targets {
                    match counts.iter_mut().find(|(t, _)| *t == target.as_str()) {
                        Some((_, n)) => *n += 1,
                        None => counts.push((target.as_str(), 1)),
                    }
                }
            }
        }
        counts
    }

    /// Who acknowledged, and through what.
    pub(super) fn acknowledged_by(&self) -> Option<(&'a str, &'a str)> {
        match self.acknowledged.map(|e| &e.kind) {
            Some(EntryKind::Acknowledged { by, via }) => Some((by.as_str(), via.as_str())),
            _ => None,
        }
    }

    pub(super) fn runbook_started(&self) -> Option<DateTime<Utc>> {
        self.runs
            .iter()
            .filter_map(|r| r.started.map(|e| e.time))
            .min()
    }

    pub(super) fn runbook_finished(&self) -> Option<DateTime<Utc>> {
        self.runs
            .iter()
            .filter_map(|r| r.finished.map(|(e, _)| e.time))
            .max()
    }
}
