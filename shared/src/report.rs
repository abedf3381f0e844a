//! The post-incident record: the Markdown document `resolve` writes to S3 when an incident
//! resolves, for the team's review. A pure function of plain inputs (the incident, the signal
//! that recovered, the dedupe row, the incident as its backend records it, the verification
//! checks, the resolution time): no I/O, no clock.
//!
//! The milestones come from the backend's timeline, where each stage wrote one entry: the
//! diagnosis (`enrich`, label [`crate::handlers::enrich::TIMELINE_EVENT`]) and the lines
//! "Runbook … started (execution …)", "Runbook … finished: <status> (execution …)" and
//! "Runbook … not started: …" (`runbook`). Backends keep the text but not always the label, so
//! entries are recognised by their words.

use std::fmt::Write as _;

use chrono::{DateTime, Duration, Utc};

use crate::domain::{
    one_line, trim_chars, Backend, IncidentSummary, Signal, SignalKind, TimelineEntry,
};
use crate::handlers::enrich::TIMELINE_EVENT as DIAGNOSIS_EVENT;
use crate::ports::{DedupeRecord, IncidentRecord};

/// The stored object's content type.
pub const CONTENT_TYPE: &str = "text/markdown; charset=utf-8";

/// A timeline cell's text, in characters (the runbook's full output has its own section).
const CELL_MAX: usize = 600;

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
    /// When the responder resolved it.
    pub resolved_at: DateTime<Utc>,
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
        None if id.starts_with("arn:") => id.splitn(6, ':').nth(5).unwrap_or(id),
        None => id,
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
    runbooks(&mut out, input, &facts);
    verification(&mut out, input);
    review(&mut out, input, &facts);
    out.push_str(
        "\n---\n\n_Written by the incident responder when it resolved the incident. \
         Fill in the review sections and keep this record with the team's post-incident reviews._\n",
    );
    out
}

// ---------------------------------------------------------------------------------------------
// What the timeline says.

/// One timeline entry, as recognised by its words.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry<'a> {
    RunbookStarted {
        document: &'a str,
        execution: Option<&'a str>,
    },
    RunbookFinished {
        document: &'a str,
        status: &'a str,
        execution: Option<&'a str>,
    },
    RunbookNotStarted {
        document: &'a str,
        why: &'a str,
    },
    /// Another line the responder writes (signals joined, recovered, resolution).
    Responder,
    /// The diagnosis, or anything else.
    Other,
}

fn classify(entry: &TimelineEntry) -> Entry<'_> {
    let first = first_line(&entry.text);
    if let Some(rest) = first.strip_prefix("Runbook ") {
        if let Some((document, why)) = rest.split_once(" not started: ") {
            return Entry::RunbookNotStarted { document, why };
        }
        if let Some((document, after)) = rest.split_once(" finished: ") {
            let (status, execution) = match after.split_once(" (execution ") {
                Some((status, execution)) => (status, execution.split(')').next()),
                None => (after.trim_end_matches('.'), None),
            };
            return Entry::RunbookFinished {
                document,
                status,
                execution,
            };
        }
        if let Some((document, after)) = rest.split_once(" started (execution ") {
            return Entry::RunbookStarted {
                document,
                execution: after.split(')').next(),
            };
        }
    }
    const RESPONDER: [&str; 5] = [
        "Another signal joined",
        "Signal recovered",
        "Signal lost its data",
        "Resolved automatically",
        "Signals joined",
    ];
    if RESPONDER.iter().any(|p| first.starts_with(p)) {
        return Entry::Responder;
    }
    Entry::Other
}

/// One runbook run, pieced together from its entries.
#[derive(Debug, Default)]
struct Run<'a> {
    document: &'a str,
    execution: Option<&'a str>,
    started: Option<&'a TimelineEntry>,
    finished: Option<(&'a TimelineEntry, &'a str)>,
    not_started: Option<(&'a TimelineEntry, &'a str)>,
}

/// What the report needs, found once.
struct Facts<'a> {
    detected: DateTime<Utc>,
    opened: DateTime<Utc>,
    diagnosis: Option<&'a TimelineEntry>,
    runs: Vec<Run<'a>>,
    recovered: DateTime<Utc>,
    resolved: DateTime<Utc>,
}

impl<'a> Facts<'a> {
    fn gather(input: &ReportInput<'a>) -> Facts<'a> {
        let timeline = &input.record.timeline;
        let mut runs: Vec<Run<'a>> = Vec::new();
        for entry in timeline {
            match classify(entry) {
                Entry::RunbookStarted {
                    document,
                    execution,
                } => runs.push(Run {
                    document,
                    execution,
                    started: Some(entry),
                    ..Run::default()
                }),
                Entry::RunbookFinished {
                    document,
                    status,
                    execution,
                } => {
                    let open = runs.iter_mut().find(|r| {
                        r.finished.is_none()
                            && r.not_started.is_none()
                            && r.document == document
                            && (execution.is_none() || r.execution == execution)
                    });
                    match open {
                        Some(run) => run.finished = Some((entry, status)),
                        None => runs.push(Run {
                            document,
                            execution,
                            finished: Some((entry, status)),
                            ..Run::default()
                        }),
                    }
                }
                Entry::RunbookNotStarted { document, why } => runs.push(Run {
                    document,
                    not_started: Some((entry, why)),
                    ..Run::default()
                }),
                Entry::Responder | Entry::Other => {}
            }
        }
        Facts {
            detected: detected_at(input.row),
            opened: input.record.created_at.unwrap_or(input.row.opened_at),
            diagnosis: diagnosis_entry(timeline, input.incident.backend),
            runs,
            recovered: input.signal.time,
            resolved: input.resolved_at,
        }
    }

    fn runbook_started(&self) -> Option<DateTime<Utc>> {
        self.runs
            .iter()
            .filter_map(|r| r.started.map(|e| e.time))
            .min()
    }

    fn runbook_finished(&self) -> Option<DateTime<Utc>> {
        self.runs
            .iter()
            .filter_map(|r| r.finished.map(|(e, _)| e.time))
            .max()
    }
}

/// The diagnosis entry: the one labelled so; else (a backend that keeps only the text) the first
/// entry that is none of the responder's other lines — on OpsCenter every entry is the
/// responder's, on Incident Manager ours are `Custom Event`s.
fn diagnosis_entry(timeline: &[TimelineEntry], backend: Backend) -> Option<&TimelineEntry> {
    if let Some(labelled) = timeline.iter().find(|e| e.event == DIAGNOSIS_EVENT) {
        return Some(labelled);
    }
    timeline.iter().find(|e| {
        let ours = match backend {
            Backend::OpsCenter => true,
            Backend::IncidentManager => e.event.eq_ignore_ascii_case("Custom Event"),
        };
        ours && classify(e) == Entry::Other && !e.text.trim().is_empty()
    })
}

// ---------------------------------------------------------------------------------------------
// The sections.

fn header(out: &mut String, input: &ReportInput<'_>, facts: &Facts<'_>) {
    let incident = input.incident;
    let signal = input.signal;
    let _ = writeln!(
        out,
        "# Post-incident record: {}\n",
        one_line(&incident.title)
    );
    let _ = writeln!(
        out,
        "- **Incident:** `{}` ({})",
        incident.id,
        incident.backend.label()
    );
    let _ = writeln!(
        out,
        "- **Impact:** {} · **Severity:** {}",
        incident.impact, incident.severity
    );
    let _ = writeln!(
        out,
        "- **Rule:** `{}` · **Service:** {} (tier {})",
        incident.rule, incident.service, incident.tier
    );
    let _ = writeln!(
        out,
        "- **Account / region:** {} / {}",
        signal.account, signal.region
    );
    let _ = writeln!(out, "- **Signals received:** {}", input.row.signal_count);
    let _ = writeln!(
        out,
        "- **Resolved:** {} UTC, automatically after verification, {} after detection",
        stamp(facts.resolved),
        human_duration(facts.resolved - facts.detected)
    );
}

fn summary(out: &mut String, input: &ReportInput<'_>, facts: &Facts<'_>) {
    let incident = input.incident;
    let _ = writeln!(out, "\n## Summary\n");
    let _ = writeln!(
        out,
        "{} Detected on {} UTC by rule `{}`; impact {}, service {}. The signal recovered {} \
         later, and the responder resolved the incident automatically {} after detection, once \
         every verification check passed.",
        sentence(&incident.title),
        stamp(facts.detected),
        incident.rule,
        incident.impact,
        incident.service,
        human_duration(facts.recovered - facts.detected),
        human_duration(facts.resolved - facts.detected),
    );
    if let Some(diagnosis) = facts.diagnosis {
        let _ = writeln!(
            out,
            "\nThe diagnosis at the time: {}",
            sentence(first_line(&diagnosis.text))
        );
    }
    let _ = writeln!(
        out,
        "\nThe recovery: {}",
        sentence(&one_line(&input.signal.summary))
    );
}

fn milestones(out: &mut String, facts: &Facts<'_>) {
    let _ = writeln!(out, "\n## Milestones\n");
    let _ = writeln!(out, "| Milestone | Time (UTC) | After detection |");
    let _ = writeln!(out, "|---|---|---|");
    let rows: [(&str, Option<DateTime<Utc>>); 7] = [
        ("Detected (first signal)", Some(facts.detected)),
        ("Opened", Some(facts.opened)),
        ("Diagnosed", facts.diagnosis.map(|e| e.time)),
        ("Runbook started", facts.runbook_started()),
        ("Runbook finished", facts.runbook_finished()),
        ("Recovered (signal cleared)", Some(facts.recovered)),
        ("Resolved", Some(facts.resolved)),
    ];
    for (name, time) in rows {
        match time {
            Some(time) if name.starts_with("Detected") => {
                let _ = writeln!(out, "| {name} | {} | — |", stamp(time));
            }
            Some(time) => {
                let _ = writeln!(
                    out,
                    "| {name} | {} | {} |",
                    stamp(time),
                    human_duration(time - facts.detected)
                );
            }
            None => {
                let _ = writeln!(out, "| {name} | — | not on the timeline |");
            }
        }
    }
    let _ = writeln!(out, "\n## Durations\n");
    let _ = writeln!(
        out,
        "- **Time to open:** {} (detected → opened)",
        human_duration(facts.opened - facts.detected)
    );
    let _ = writeln!(
        out,
        "- **Time to recover:** {} (detected → signal recovered)",
        human_duration(facts.recovered - facts.detected)
    );
    let _ = writeln!(
        out,
        "- **Time to resolve:** {} (detected → resolved)",
        human_duration(facts.resolved - facts.detected)
    );
}

fn timeline(out: &mut String, input: &ReportInput<'_>) {
    let _ = writeln!(out, "\n## Timeline\n");
    let entries = &input.record.timeline;
    if entries.is_empty() {
        let _ = writeln!(out, "_The incident's timeline is empty._");
        return;
    }
    let _ = writeln!(out, "| Time (UTC) | Entry |");
    let _ = writeln!(out, "|---|---|");
    for entry in entries {
        let _ = writeln!(out, "| {} | {} |", stamp(entry.time), cell(&entry.text));
    }
}

fn resources(out: &mut String, input: &ReportInput<'_>) {
    let _ = writeln!(out, "\n## Involved resources\n");
    let signal = input.signal;
    let mut seen: Vec<&str> = Vec::new();
    for r in input
        .incident
        .resources
        .iter()
        .chain(std::iter::once(&signal.resource))
        .chain(&signal.resources)
    {
        let r = r.trim();
        if !r.is_empty() && !seen.contains(&r) {
            seen.push(r);
        }
    }
    if seen.is_empty() {
        let _ = writeln!(out, "_None recorded._");
    }
    for r in seen {
        let _ = writeln!(out, "- `{}`", r.replace('`', "'"));
    }
}

fn runbooks(out: &mut String, input: &ReportInput<'_>, facts: &Facts<'_>) {
    let _ = writeln!(out, "\n## Runbook outcomes\n");
    if facts.runs.is_empty() {
        match &input.incident.runbook {
            Some(runbook) => {
                let _ = writeln!(
                    out,
                    "Rule `{}` names {}, but the timeline records no run of it.",
                    input.incident.rule, runbook.document
                );
            }
            None => {
                let _ = writeln!(out, "Rule `{}` names no runbook.", input.incident.rule);
            }
        }
        return;
    }
    for (n, run) in facts.runs.iter().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let outcome = match (&run.not_started, &run.finished) {
            (Some(_), _) => "not started",
            (None, Some((_, status))) => status,
            (None, None) => "no outcome recorded",
        };
        let _ = writeln!(out, "### {}: {outcome}\n", run.document);
        if let Some((entry, why)) = run.not_started {
            let _ = writeln!(
                out,
                "- Not started at {} UTC: {}",
                stamp(entry.time),
                one_line(why)
            );
            continue;
        }
        if let Some(execution) = run.execution {
            let _ = writeln!(out, "- Execution: `{execution}`");
        }
        if let Some(started) = run.started {
            let _ = writeln!(out, "- Started: {} UTC", stamp(started.time));
            let (parameters, notes) = started_details(first_line(&started.text));
            if !parameters.is_empty() {
                let _ = writeln!(out, "- Parameters:");
                for p in parameters {
                    let _ = writeln!(out, "  - `{}`", p.replace('`', "'"));
                }
            }
            for note in notes {
                let _ = writeln!(out, "- Note: {note}");
            }
        }
        match (run.started, run.finished) {
            (Some(started), Some((finished, _))) => {
                let _ = writeln!(
                    out,
                    "- Finished: {} UTC, after {}",
                    stamp(finished.time),
                    human_duration(finished.time - started.time)
                );
            }
            (None, Some((finished, _))) => {
                let _ = writeln!(out, "- Finished: {} UTC", stamp(finished.time));
            }
            (_, None) => {
                let _ = writeln!(
                    out,
                    "- No outcome on the timeline by the time the incident resolved."
                );
            }
        }
        if let Some((finished, _)) = run.finished {
            let details: Vec<&str> = finished.text.lines().skip(1).collect();
            if !details.is_empty() {
                let body = details.join("\n");
                let fence = fence_for(&body);
                let _ = writeln!(out, "\n{fence}text\n{body}\n{fence}");
            }
        }
    }
}

fn verification(out: &mut String, input: &ReportInput<'_>) {
    let _ = writeln!(out, "\n## Verification\n");
    if input.checks.is_empty() {
        let _ = writeln!(out, "_No check was recorded._");
    }
    for check in input.checks {
        let _ = writeln!(out, "- {}", one_line(check));
    }
}

fn review(out: &mut String, input: &ReportInput<'_>, facts: &Facts<'_>) {
    let incident = input.incident;
    let _ = writeln!(out, "\n## Review\n");

    let _ = writeln!(out, "### Root cause\n");
    match facts.diagnosis {
        Some(diagnosis) => {
            let _ = writeln!(
                out,
                "_To be determined._ The diagnosis at the time ({} UTC) was:\n",
                stamp(diagnosis.time)
            );
            for line in diagnosis.text.lines().filter(|l| !l.trim().is_empty()) {
                let _ = writeln!(out, "> {}", line.trim());
            }
        }
        None => {
            let _ = writeln!(
                out,
                "_To be determined._ No diagnosis was recorded on the timeline."
            );
        }
    }
    for run in &facts.runs {
        if let Some((_, status)) = run.finished {
            let _ = writeln!(
                out,
                "\nRunbook {} finished {status}; its output is under Runbook outcomes.",
                run.document
            );
        }
    }

    let _ = writeln!(out, "\n### What detected it\n");
    let _ = writeln!(
        out,
        "{} matched rule `{}`; its first signal, at {} UTC, opened the incident {} later. \
         {} reached the incident in all.",
        detector(input.signal),
        incident.rule,
        stamp(facts.detected),
        human_duration(facts.opened - facts.detected),
        match input.row.signal_count {
            1 => "1 signal".to_string(),
            n => format!("{n} signals"),
        }
    );
    let _ = writeln!(
        out,
        "\n_Was this the earliest reliable signal? Did anyone notice the problem before it fired?_"
    );

    let _ = writeln!(out, "\n### What would have prevented it\n");
    let _ = writeln!(
        out,
        "_To be filled in: the change, limit, dependency or missing safeguard behind it, and what \
         would have caught it before it reached {}._",
        incident.service
    );

    let _ = writeln!(out, "\n### Action items\n");
    let _ = writeln!(
        out,
        "- [ ] Confirm the root cause and record it above (owner, date)."
    );
    for run in &facts.runs {
        if let Some((_, why)) = run.not_started {
            let _ = writeln!(
                out,
                "- [ ] Fix what kept {} from starting: {}",
                run.document,
                one_line(why)
            );
        } else if let Some((_, status)) = run.finished {
            if !is_success(status) {
                let _ = writeln!(
                    out,
                    "- [ ] Find out why {} ended {status}, and fix the runbook or its parameters.",
                    run.document
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "- [ ] Check that impact {} matched what users saw; adjust rule `{}` if not.",
        incident.impact, incident.rule
    );
    let _ = writeln!(
        out,
        "- [ ] Turn each answer under \"What would have prevented it\" into a tracked item."
    );
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

/// What fired, for "What detected it".
fn detector(signal: &Signal) -> String {
    let watched = signal
        .metrics
        .iter()
        .filter_map(|m| {
            let (ns, name) = (m.namespace.as_deref()?, m.name.as_deref()?);
            let mut label = format!("{ns} {name}");
            for (k, v) in &m.dimensions {
                let _ = write!(label, " {k}={v}");
            }
            if let Some(stat) = &m.stat {
                let _ = write!(label, ", {stat}");
            }
            if let Some(period) = m.period {
                let _ = write!(label, " per {period} s");
            }
            Some(label)
        })
        .collect::<Vec<_>>();
    let what = |id: Option<&str>| id.unwrap_or(signal.resource.as_str()).to_string();
    match signal.kind {
        SignalKind::MetricAlarm | SignalKind::CompositeAlarm => {
            let kind = if signal.kind == SignalKind::CompositeAlarm {
                "composite alarm"
            } else {
                "alarm"
            };
            let name = what(signal.alarm_name.as_deref());
            if watched.is_empty() {
                format!("The CloudWatch {kind} `{name}`")
            } else {
                format!("The CloudWatch {kind} `{name}` (on {})", watched.join("; "))
            }
        }
        SignalKind::SecurityHubFinding => format!(
            "The Security Hub finding `{}` ({})",
            what(signal.finding_id.as_deref()),
            signal.finding_type.as_deref().unwrap_or("no type")
        ),
        SignalKind::GuardDutyFinding => format!(
            "The GuardDuty finding `{}` ({})",
            what(signal.finding_id.as_deref()),
            signal.finding_type.as_deref().unwrap_or("no type")
        ),
        SignalKind::HealthEvent => format!(
            "The AWS Health event `{}` ({})",
            what(signal.finding_id.as_deref()),
            signal.finding_type.as_deref().unwrap_or("no type")
        ),
        SignalKind::RootActivity => format!(
            "CloudTrail's record of root-user activity ({})",
            signal.finding_type.as_deref().unwrap_or("unknown call")
        ),
    }
}

fn is_success(status: &str) -> bool {
    matches!(status, "Success" | "CompletedWithSuccess")
}

/// From "Runbook D started (execution E) with A=1, B=2. Note: x. Note: y.": the parameters
/// (`A=1`, `B=2`) and the notes.
fn started_details(text: &str) -> (Vec<String>, Vec<String>) {
    let Some((_, after)) = text.split_once(") with ") else {
        return (Vec::new(), Vec::new());
    };
    let mut parts = after.split(" Note: ");
    let listed = parts.next().unwrap_or("").trim().trim_end_matches('.');
    let notes: Vec<String> = parts
        .map(|n| n.trim().trim_end_matches('.').to_string())
        .filter(|n| !n.is_empty())
        .collect();
    if listed == "no parameters" {
        return (Vec::new(), notes);
    }
    // A value may itself hold ", ": a piece without `=` belongs to the value before it.
    let mut parameters: Vec<String> = Vec::new();
    for piece in listed.split(", ") {
        match parameters.last_mut() {
            Some(last) if !piece.contains('=') => {
                last.push_str(", ");
                last.push_str(piece);
            }
            _ => parameters.push(piece.to_string()),
        }
    }
    parameters.retain(|p| !p.is_empty());
    (parameters, notes)
}

/// A code fence longer than any run of backticks in `body`.
fn fence_for(body: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in body.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat((longest + 1).max(3))
}

/// A table cell: one line (line breaks as `<br>`), `|` escaped, within [`CELL_MAX`].
fn cell(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    trim_chars(&lines.join("\n"), CELL_MAX)
        .replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('\n', "<br>")
}

fn stamp(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn first_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

/// The text ending with a full stop.
fn sentence(text: &str) -> String {
    let text = text.trim();
    if text.ends_with(['.', '!', '?']) {
        text.to_string()
    } else {
        format!("{text}.")
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::Value;

    use super::*;
    use crate::domain::{Impact, IncidentRef, RunbookRef, Severity};
    use crate::ports::KeyStatus;
    use crate::sources::{self, Parsed};

    const VPN: &str = "vpn-0123456789abcdef0";
    const INCIDENT: &str = "arn:aws:ssm-incidents::111122223333:incident-record/responder/00000001";
    const EXECUTION: &str = "00000000-0000-4000-8000-000000000001";
    const SNAPSHOT: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/report/snapshots/vpn-story.md"
    );

    /// 2024-05-14 at `h:m:s` UTC (the fixtures' day).
    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 14, h, m, s)
            .single()
            .unwrap_or_default()
    }

    fn signal(name: &str) -> Signal {
        let path = format!(
            "{}/../tests/fixtures/events/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let event: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
        match sources::parse(&event) {
            Ok(Parsed::Signals(mut signals)) if !signals.is_empty() => signals.remove(0),
            other => panic!("no signal in {name}: {other:?}"),
        }
    }

    fn entry(time: DateTime<Utc>, event: &str, text: &str) -> TimelineEntry {
        TimelineEntry {
            time,
            event: event.to_string(),
            text: text.to_string(),
        }
    }

    struct Story {
        incident: IncidentSummary,
        signal: Signal,
        row: DedupeRecord,
        record: IncidentRecord,
        checks: Vec<String>,
        resolved_at: DateTime<Utc>,
    }

    impl Story {
        fn input(&self) -> ReportInput<'_> {
            ReportInput {
                incident: &self.incident,
                signal: &self.signal,
                row: &self.row,
                record: &self.record,
                checks: &self.checks,
                resolved_at: self.resolved_at,
            }
        }
    }

    /// The VPN story: tunnel 1 of the VPN goes down, the alarm fires at 03:02:10, the incident
    /// opens, enrich diagnoses it, AWSSupport-TroubleshootVPN runs, the alarm is OK again at
    /// 03:21:10 and resolve closes the incident at 03:23:30.
    fn vpn_story() -> Story {
        let down = signal("cloudwatch-alarm-vpn-tunnel-down");
        let ok = signal("cloudwatch-alarm-vpn-tunnel-ok");
        let title = format!("Site-to-Site VPN {VPN}: tunnel down");
        let incident = IncidentSummary {
            backend: Backend::IncidentManager,
            id: INCIDENT.to_string(),
            title: title.clone(),
            impact: Impact::HIGH,
            severity: Severity::High,
            rule: "vpn-tunnel-down".into(),
            service: "site-to-site-vpn".into(),
            tier: "business".into(),
            dedupe_key: format!("vpn-tunnel-down:{VPN}"),
            resources: down.resources.clone(),
            runbook: Some(RunbookRef {
                document: "AWSSupport-TroubleshootVPN".into(),
                version: None,
                parameters: Default::default(),
            }),
            auto_resolve: true,
            next_steps: Vec::new(),
        };
        let row = DedupeRecord {
            key: incident.dedupe_key.clone(),
            status: KeyStatus::Resolved,
            owner: down.fingerprint.clone(),
            incident: Some(IncidentRef {
                backend: Backend::IncidentManager,
                id: INCIDENT.to_string(),
            }),
            rule_id: incident.rule.clone(),
            impact: Impact::HIGH,
            title: title.clone(),
            opened_at: at(3, 2, 11),
            last_signal_at: at(3, 21, 11),
            signal_count: 2,
            detected_at: Some(down.time),
            lease_until: at(3, 2, 21),
            expires_at: at(3, 23, 30) + Duration::hours(24),
        };
        let record = IncidentRecord {
            title,
            resolved: false,
            created_at: Some(at(3, 2, 12)),
            resolved_at: None,
            timeline: vec![
                entry(
                    at(3, 2, 13),
                    "diagnosis",
                    "Tunnel 1 (203.0.113.10) DOWN since 02:55 UTC — 'IPSEC IS DOWN'; tunnel 2 \
                     (203.0.113.11) UP; customer gateway cgw-0a1b2c3d4e5f60718 198.51.100.7 \
                     (ASN 65000)",
                ),
                entry(
                    at(3, 2, 20),
                    "runbook-started",
                    &format!(
                        "Runbook AWSSupport-TroubleshootVPN started (execution {EXECUTION}) with \
                         VpnConnectionId={VPN}, TunnelAIPAddress=203.0.113.10, \
                         TunnelBIPAddress=203.0.113.11, IKEVersion=IKEv2, \
                         LogGroupName=/vpn/tunnels, LookBackPeriod=03, \
                         AutomationAssumeRole=arn:aws:iam::111122223333:role/responder-runbook."
                    ),
                ),
                entry(
                    at(3, 9, 44),
                    "runbook-finished",
                    &format!(
                        "Runbook AWSSupport-TroubleshootVPN finished: Success (execution \
                         {EXECUTION}).\nsummary.output: Tunnel 203.0.113.10: IKE phase 1 \
                         failed | NO_PROPOSAL_CHOSEN: the customer gateway proposed \
                         AES128-SHA1-DH2, the tunnel allows AES256-SHA256-DH14.\nTunnel \
                         203.0.113.11: no errors in the last 3 hours."
                    ),
                ),
                entry(
                    ok.time,
                    "signal-recovered",
                    &format!(
                        "Signal recovered: {} — the responder will verify and resolve.",
                        ok.summary
                    ),
                ),
            ],
        };
        Story {
            incident,
            signal: ok,
            row,
            record,
            checks: vec![
                format!("DescribeAlarms: alarm vpn-tunnel-down-{VPN} is OK"),
                format!(
                    "DescribeVpnConnections: both tunnels of {VPN} are UP (203.0.113.10, 203.0.113.11)"
                ),
            ],
            resolved_at: at(3, 23, 30),
        }
    }

    /// Compares `actual` with the snapshot file; `UPDATE_SNAPSHOTS=1` rewrites it.
    fn assert_snapshot(path: &str, actual: &str) {
        if std::env::var("UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1") {
            if let Some(dir) = std::path::Path::new(path).parent() {
                std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
            }
            std::fs::write(path, actual).unwrap_or_else(|e| panic!("{path}: {e}"));
            return;
        }
        let expected = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("{path}: {e} (run with UPDATE_SNAPSHOTS=1 to write it)"));
        if expected != actual {
            let line = expected
                .lines()
                .zip(actual.lines())
                .position(|(a, b)| a != b)
                .map_or_else(|| "the end".to_string(), |n| format!("line {}", n + 1));
            panic!(
                "the report differs from {path} at {line} (UPDATE_SNAPSHOTS=1 rewrites it):\n{actual}"
            );
        }
    }

    #[test]
    fn the_vpn_story_renders_as_the_snapshot() {
        let story = vpn_story();
        assert_snapshot(SNAPSHOT, &render(&story.input()));
    }

    #[test]
    fn the_vpn_story_has_every_milestone_and_duration() {
        let story = vpn_story();
        let text = render(&story.input());
        for expected in [
            "| Detected (first signal) | 2024-05-14 03:02:10 | — |",
            "| Opened | 2024-05-14 03:02:12 | 2 s |",
            "| Diagnosed | 2024-05-14 03:02:13 | 3 s |",
            "| Runbook started | 2024-05-14 03:02:20 | 10 s |",
            "| Runbook finished | 2024-05-14 03:09:44 | 8 min |",
            "| Recovered (signal cleared) | 2024-05-14 03:21:10 | 19 min |",
            "| Resolved | 2024-05-14 03:23:30 | 21 min |",
            "- **Time to open:** 2 s",
            "- **Time to recover:** 19 min",
            "- **Time to resolve:** 21 min",
            "### AWSSupport-TroubleshootVPN: Success",
            "- Finished: 2024-05-14 03:09:44 UTC, after 7 min",
            "  - `LogGroupName=/vpn/tunnels`",
            "failed \\| NO_PROPOSAL_CHOSEN",
            "### Root cause",
            "### What detected it",
            "### What would have prevented it",
            "### Action items",
            "- [ ] Confirm the root cause",
        ] {
            assert!(text.contains(expected), "{expected:?} in\n{text}");
        }
        // The runbook's output is quoted as it is, `|` and all, in its own block.
        assert!(text.contains(
            "```text\nsummary.output: Tunnel 203.0.113.10: IKE phase 1 failed | NO_PROPOSAL"
        ));
    }

    #[test]
    fn the_diagnosis_is_found_by_its_words_when_the_backend_drops_labels() {
        let mut story = vpn_story();
        for e in &mut story.record.timeline {
            e.event = "Custom Event".into();
        }
        story.record.timeline.insert(
            0,
            entry(
                at(3, 2, 12),
                "Incident Created",
                "Incident created by the response plan",
            ),
        );
        let text = render(&story.input());
        assert!(
            text.contains("| Diagnosed | 2024-05-14 03:02:13 | 3 s |"),
            "{text}"
        );
        assert!(
            text.contains("> Tunnel 1 (203.0.113.10) DOWN since 02:55 UTC"),
            "{text}"
        );

        story.incident.backend = Backend::OpsCenter;
        story.record.timeline.remove(0);
        for e in &mut story.record.timeline {
            e.event = String::new();
        }
        let text = render(&story.input());
        assert!(
            text.contains("| Diagnosed | 2024-05-14 03:02:13 | 3 s |"),
            "{text}"
        );
    }

    #[test]
    fn missing_milestones_and_a_runbook_not_started_are_said() {
        let mut story = vpn_story();
        story.record.timeline = vec![entry(
            at(3, 2, 20),
            "runbook-not-started",
            "Runbook AWSSupport-TroubleshootVPN not started: no valid value for LogGroupName \
             (tunnel 203.0.113.10 does not log to CloudWatch Logs). Enable tunnel logging.",
        )];
        story.record.created_at = None;
        story.row.detected_at = None;
        let text = render(&story.input());
        assert!(
            text.contains("| Diagnosed | — | not on the timeline |"),
            "{text}"
        );
        assert!(
            text.contains("| Runbook started | — | not on the timeline |"),
            "{text}"
        );
        // Without a detection time on the row, the key's claim is the detection; without a
        // creation time from the backend, the row's opening is the opening.
        assert!(
            text.contains("| Detected (first signal) | 2024-05-14 03:02:11 | — |"),
            "{text}"
        );
        assert!(
            text.contains("| Opened | 2024-05-14 03:02:11 | 0 s |"),
            "{text}"
        );
        assert!(
            text.contains("### AWSSupport-TroubleshootVPN: not started"),
            "{text}"
        );
        assert!(
            text.contains("- [ ] Fix what kept AWSSupport-TroubleshootVPN from starting: no valid value for LogGroupName"),
            "{text}"
        );
        assert!(
            text.contains("No diagnosis was recorded on the timeline."),
            "{text}"
        );
    }

    #[test]
    fn a_failed_runbook_becomes_an_action_item() {
        let mut story = vpn_story();
        for e in &mut story.record.timeline {
            e.text = e.text.replace("finished: Success", "finished: Failed");
        }
        let text = render(&story.input());
        assert!(
            text.contains("### AWSSupport-TroubleshootVPN: Failed"),
            "{text}"
        );
        assert!(
            text.contains("- [ ] Find out why AWSSupport-TroubleshootVPN ended Failed"),
            "{text}"
        );
    }

    #[test]
    fn keys_are_dated_by_detection_and_safe() {
        let detected = at(3, 2, 10);
        assert_eq!(
            object_key(INCIDENT, detected),
            "incidents/2024/05/14/responder-00000001.md"
        );
        assert_eq!(
            object_key("oi-0123456789ab", detected),
            "incidents/2024/05/14/oi-0123456789ab.md"
        );
        assert_eq!(safe_incident_id("a b/../c"), "a-b-..-c");
        assert_eq!(safe_incident_id(""), "incident");
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(human_duration(Duration::seconds(-5)), "0 s");
        assert_eq!(human_duration(Duration::seconds(59)), "59 s");
        assert_eq!(human_duration(Duration::milliseconds(59_400)), "59 s");
        assert_eq!(human_duration(Duration::seconds(21 * 60 + 29)), "21 min");
        assert_eq!(
            human_duration(Duration::milliseconds(18 * 60_000 + 59_700)),
            "19 min"
        );
        assert_eq!(
            human_duration(Duration::seconds(59 * 60 + 45)),
            "1 h 00 min"
        );
        assert_eq!(human_duration(Duration::seconds(64 * 60)), "1 h 04 min");
        assert_eq!(
            human_duration(Duration::minutes(2 * 24 * 60 + 3 * 60 + 10)),
            "2 d 03 h 10 min"
        );
    }

    #[test]
    fn table_cells_stay_one_row() {
        assert_eq!(cell("a | b\n\nc"), "a \\| b<br>c");
        assert!(cell(&"x".repeat(2 * CELL_MAX)).chars().count() <= CELL_MAX);
        assert_eq!(fence_for("no ticks"), "```");
        assert_eq!(fence_for("a ```` b"), "`````");
    }
}
