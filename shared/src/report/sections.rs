//! The record's sections, in the order they are written.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::facts::Facts;
use super::markdown::{cell, fence_for, sentence, stamp};
use super::{human_duration, ReportInput};
use crate::domain::{one_line, Signal, SignalKind};
use crate::sources::ssm_automation::succeeded;

pub(super) fn header(out: &mut String, input: &ReportInput<'_>, facts: &Facts<'_>) {
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
    let how = match input.resolved_by {
        Some(by) => format!("by {by}"),
        None => "automatically after verification".to_string(),
    };
    let _ = writeln!(
        out,
        "- **Resolved:** {} UTC, {how}, {} after detection",
        stamp(facts.resolved),
        human_duration(facts.resolved - facts.detected)
    );
}

pub(super) fn summary(out: &mut String, input: &ReportInput<'_>, facts: &Facts<'_>) {
    let incident = input.incident;
    let _ = writeln!(out, "\n## Summary\n");
    let resolution = match (input.resolved_by, facts.recovered) {
        (Some(by), _) => format!(
            "It was resolved by {by} {} after detection ({}).",
            human_duration(facts.resolved - facts.detected),
            if input.checks.is_empty() {
                "the responder could not verify a recovery"
            } else {
                "the verification at that time is below"
            }
        ),
        (None, recovered) => format!(
            "The signal recovered {} later, and the responder resolved the incident \
             automatically {} after detection, once every verification check passed.",
            human_duration(recovered.unwrap_or(facts.resolved) - facts.detected),
            human_duration(facts.resolved - facts.detected),
        ),
    };
    let _ = writeln!(
        out,
        "{} Detected on {} UTC by rule `{}`; impact {}, service {}. {resolution}",
        sentence(&incident.title),
        stamp(facts.detected),
        incident.rule,
        incident.impact,
        incident.service,
    );
    if let Some(diagnosis) = facts.diagnosis {
        let _ = writeln!(
            out,
            "\nThe diagnosis at the time: {}",
            sentence(diagnosis.headline())
        );
    }
    if let Some(inspected) = facts.inspected {
        let _ = writeln!(
            out,
            "\nThe resource at the time: {}",
            sentence(inspected.headline())
        );
    }
    if input.resolved_by.is_none() {
        let _ = writeln!(
            out,
            "\nThe recovery: {}",
            sentence(&one_line(&input.signal.summary))
        );
    }
}

pub(super) fn milestones(out: &mut String, facts: &Facts<'_>) {
    let _ = writeln!(out, "\n## Milestones\n");
    let _ = writeln!(out, "| Milestone | Time (UTC) | After detection |");
    let _ = writeln!(out, "|---|---|---|");
    let rows: [(&str, Option<DateTime<Utc>>); 7] = [
        ("Detected (first signal)", Some(facts.detected)),
        ("Opened", Some(facts.opened)),
        ("Diagnosed", facts.diagnosis.map(|e| e.time)),
        ("Runbook started", facts.runbook_started()),
        ("Runbook finished", facts.runbook_finished()),
        ("Recovered (signal cleared)", facts.recovered),
        ("Resolved", Some(facts.resolved)),
    ];
    let paging: [(&str, Option<DateTime<Utc>>); 2] = [
        ("First page", facts.pages.first().map(|e| e.time)),
        ("Acknowledged", facts.acknowledged.map(|e| e.time)),
    ];
    // The paging rows only where escalation left them on the timeline.
    let paging = paging.into_iter().filter(|(_, time)| time.is_some());
    for (name, time) in rows.into_iter().chain(paging) {
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
    if let Some(recovered) = facts.recovered {
        let _ = writeln!(
            out,
            "- **Time to recover:** {} (detected → signal recovered)",
            human_duration(recovered - facts.detected)
        );
    }
    let _ = writeln!(
        out,
        "- **Time to resolve:** {} (detected → resolved)",
        human_duration(facts.resolved - facts.detected)
    );
    if let (Some(entry), Some((by, via))) = (facts.acknowledged, facts.acknowledged_by()) {
        let _ = writeln!(
            out,
            "- **Time to acknowledge:** {} (opened → acknowledged by {by}, from {via})",
            human_duration(entry.time - facts.opened)
        );
    }
    let pages = facts.pages_by_target();
    if !pages.is_empty() {
        let list: Vec<String> = pages.iter().map(|(t, n)| format!("{t} ×{n}")).collect();
        let _ = writeln!(out, "- **Pages sent:** {}", list.join(", "));
    }
    if facts.downstream > 0 {
        let _ = writeln!(
            out,
            "- **Downstream signals folded:** {} (they paged nobody while this incident was open)",
            facts.downstream
        );
    }
    for entry in &facts.silences {
        let _ = writeln!(
            out,
            "- **Silence:** {} ({})",
            cell(entry.headline()),
            stamp(entry.time)
        );
    }
}

pub(super) fn timeline(out: &mut String, input: &ReportInput<'_>) {
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

pub(super) fn resources(out: &mut String, input: &ReportInput<'_>) {
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

/// What changed before the incident, as `changes` wrote it (only when it did).
pub(super) fn changes(out: &mut String, facts: &Facts<'_>) {
    let Some(entry) = facts.changes else {
        return;
    };
    let _ = writeln!(out, "\n## What changed\n");
    let _ = writeln!(out, "{}\n", entry.headline());
    for line in entry.details() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let item = line.strip_prefix("- ").unwrap_or(line);
        let _ = writeln!(out, "- {item}");
    }
}

pub(super) fn runbooks(out: &mut String, input: &ReportInput<'_>, facts: &Facts<'_>) {
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
            if !run.parameters.is_empty() {
                let _ = writeln!(out, "- Parameters:");
                for (name, value) in run.parameters {
                    let _ = writeln!(out, "  - `{}`", format!("{name}={value}").replace('`', "'"));
                }
            }
            for note in run.notes {
                let _ = writeln!(out, "- Note: {}", one_line(note));
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
            let details = finished.details();
            if !details.is_empty() {
                let body = details.join("\n");
                let fence = fence_for(&body);
                let _ = writeln!(out, "\n{fence}text\n{body}\n{fence}");
            }
        }
    }
}

pub(super) fn verification(out: &mut String, input: &ReportInput<'_>) {
    let _ = writeln!(out, "\n## Verification\n");
    if input.checks.is_empty() {
        let _ = writeln!(out, "_No check was recorded._");
    }
    for check in input.checks {
        let _ = writeln!(out, "- {}", one_line(check));
    }
}

pub(super) fn review(out: &mut String, input: &ReportInput<'_>, facts: &Facts<'_>) {
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
            for line in facts.inspected.iter().flat_map(|e| e.text.lines()) {
                if !line.trim().is_empty() {
                    let _ = writeln!(out, "> {}", line.trim());
                }
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
            if !succeeded(status) {
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
