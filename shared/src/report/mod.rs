//! The post-incident record: the Markdown document `resolve` writes to S3 when an incident
//! resolves, for the team's review. A pure function of plain inputs (the incident, the signal
//! that recovered, the dedupe row, the incident as its backend records it, the verification
//! checks, the resolution time): no I/O, no clock.
//!
//! The milestones come from the backend's timeline, where each stage wrote its entries with a
//! machine-readable kind ([`crate::domain::EntryKind`]): the diagnosis (`enrich`), and each
//! runbook execution started, finished or not started (`runbook`) with its document, execution,
//! parameters and status (`facts`). The wording of an entry is shown, never read.
//!
//! - `facts`: what the timeline's kinds say (milestones, runbook runs);
//! - `sections`: the document, section by section;
//! - `markdown`: table cells, code fences, times.

use chrono::{DateTime, Duration, Utc};

use crate::arn::Arn;
use crate::domain::{IncidentSummary, Signal};
use crate::ports::{DedupeRecord, IncidentRecord};

mod facts;
mod markdown;
mod sections;

use facts::Facts;
use sections::{
    changes, header, milestones, resources, review, runbooks, summary, timeline, verification,
};

/// The stored object's content type.
pub const CONTENT_TYPE: &str = "text/markdown; charset=utf-8";

/// Everything the record is written from.
#[derive(Debug, Clone, Copy)]
pub struct ReportInput<'a> {
    /// The incident as the responder bus carries it.
    pub incident: &'a IncidentSummary,
    /// The signal whose recovery resolved the incident.
    pub signal: &'a Signal,
    /// The dedupe key's row: detection time, opening time, signal count.
    pub row: &'a DedupeRecord,
    /// The incident as its backend records it (creation time, the whole timeline).
    pub record: &'a IncidentRecord,
    /// The verification checks, one sentence each.
    pub checks: &'a [String],
    /// When it was resolved.
    pub resolved_at: DateTime<Utc>,
    /// Who resolved it, when a person did (in Slack or in the console): `signal` is then the
    /// incident's opening signal, not a recovery.
    pub resolved_by: Option<&'a str>,
}

/// The object key of an incident's record: `incidents/<YYYY>/<MM>/<DD>/<safe id>.md`, dated by
/// the incident's detection (UTC), so a retry writes the very same object.
pub fn object_key(incident_id: &str, detected_at: DateTime<Utc>) -> String {
    format!(
        "incidents/{}/{}.md",
        detected_at.format("%Y/%m/%d"),
        safe_incident_id(incident_id)
    )
}

/// An incident id as a file name: an OpsItem id as it is; an Incident Manager record ARN as its
/// resource path after `incident-record/`, `/` written as `-`. Anything but letters, digits,
/// `-`, `_` and `.` becomes `-`.
pub fn safe_incident_id(id: &str) -> String {
    let id = id.trim();
    let path = match id.split_once(":incident-record/") {
        Some((_, path)) => path,
        None => Arn::parse(id).map_or(id, |arn| arn.resource),
    };
    let safe: String = path
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let safe = safe.trim_matches(|c| c == '-' || c == '.');
    if safe.is_empty() {
        "incident".to_string()
    } else {
        safe.to_string()
    }
}

/// "45 s", "21 min", "1 h 04 min", "2 d 03 h 10 min": to the nearest second below a minute,
/// to the nearest minute above.
pub fn human_duration(duration: Duration) -> String {
    let secs = (duration.num_milliseconds().max(0) + 500) / 1000;
    if secs < 60 {
        return format!("{secs} s");
    }
    let mins = (secs + 30) / 60;
    if mins < 60 {
        return format!("{mins} min");
    }
    let (hours, mins) = (mins / 60, mins % 60);
    if hours < 24 {
        return format!("{hours} h {mins:02} min");
    }
    format!("{} d {:02} h {mins:02} min", hours / 24, hours % 24)
}

/// When the incident was detected: the first signal's own time, else when its key was claimed.
pub fn detected_at(row: &DedupeRecord) -> DateTime<Utc> {
    row.detected_at.unwrap_or(row.opened_at)
}

/// The post-incident record, in Markdown.
pub fn render(input: &ReportInput<'_>) -> String {
    let facts = Facts::gather(input);
    let mut out = String::new();
    header(&mut out, input, &facts);
    summary(&mut out, input, &facts);
    milestones(&mut out, &facts);
    timeline(&mut out, input);
    resources(&mut out, input);
    changes(&mut out, &facts);
    runbooks(&mut out, input, &facts);
    verification(&mut out, input);
    review(&mut out, input, &facts);
    out.push_str(
        "\n---\n\n_Written by the incident responder when it resolved the incident. \
         Fill in the review sections and keep this record with the team's post-incident reviews._\n",
    );
    out
}

#[cfg(test)]
mod tests;
