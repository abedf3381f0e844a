//! The EC2 instance diagnosis: the instance the signal names (`DescribeInstances`), its status
//! checks and scheduled events (`DescribeInstanceStatus`) and the last lines of its console
//! output (`GetConsoleOutput`), summed up in one line that says which check fails, since when,
//! and what that points at.
//!
//! Anything that cannot be read — denied, gone, or refused (a console output some instance
//! types do not serve) — is a "not gathered" note; only throttling and outages fail the
//! invocation.

use chrono::{DateTime, Utc};

use super::{Draft, Enrich, Place, TITLE_MAX};
use crate::console;
use crate::diagnosis::{named_instance, Instance, InstanceFacts, InstanceHealth, StatusCheck};
use crate::domain::{
    clock_time, one_line, trim_chars, LifecycleDetail, RelatedItem, RelatedItemKind, RelatedValue,
    Signal,
};
use crate::handlers::not_gathered;
use crate::shell::StageError;

/// Console output lines kept, from the end.
const CONSOLE_LINES: usize = 10;
/// One console line, in characters.
const CONSOLE_LINE_MAX: usize = 200;
/// A state reason quoted in the line, in characters.
const REASON_MAX: usize = 160;

/// Diagnoses the instance the signal names, if it names one (then `true`).
pub(super) async fn diagnose(
    enrich: &Enrich,
    detail: &LifecycleDetail,
    place: &Place<'_>,
    now: DateTime<Utc>,
    home: Option<(&str, &str)>,
    draft: &mut Draft,
) -> Result<bool, StageError> {
    let Some(id) = named_instance(&detail.signal, &detail.incident) else {
        return Ok(false);
    };
    let instances = enrich.instances.as_ref();
    draft.items.push(RelatedItem {
        kind: RelatedItemKind::Other,
        title: trim_chars(&format!("Instance {id} in the EC2 console"), TITLE_MAX),
        value: RelatedValue::Url(console::instance(place.region, &id)),
    });
    let arn = place.arn("ec2", &format!("instance/{id}"));
    draft
        .items
        .push(RelatedItem::resource(arn, format!("EC2 instance {id}")));

    // EC2 answers for this function's account and region only.
    if let Some((account, region)) = home.filter(|home| *home != (place.account, place.region)) {
        draft.notes.push(format!(
            "instance {id} is in account {} in {}; this responder reads {account} in {region}: \
             not described",
            place.account, place.region
        ));
        return Ok(true);
    }
    let read = instances.instance(&id).await;
    let Some(instance) = not_gathered("DescribeInstances", &id, read, &mut draft.notes)? else {
        return Ok(true);
    };
    let read = instances.instance_health(&id).await;
    let health = not_gathered("DescribeInstanceStatus", &id, read, &mut draft.notes)?.flatten();
    let read = instances.console_output(&id).await;
    let console = not_gathered("GetConsoleOutput", &id, read, &mut draft.notes)?
        .flatten()
        .map(|text| tail(&text))
        .unwrap_or_default();

    // The instance's line leads when it explains the alarm (a status check, an instance that is
    // not running or fails a check); for any other alarm on it (CPU, network) the alarm's reason
    // leads and the instance's line follows.
    let line = headline(&instance, health.as_ref(), now);
    let failing = health.as_ref().is_some_and(|h| {
        h.system.is_impaired()
            || h.instance.is_impaired()
            || h.ebs.as_ref().is_some_and(|e| e.is_impaired())
    });
    if failing || instance.state != "running" || is_status_check(&detail.signal) {
        draft.summary = line;
    } else {
        draft.lines.push(line);
    }
    draft.lines.push(profile(&instance, now));
    if let Some(health) = &health {
        for event in health.events.iter().filter(|e| !e.is_done()) {
            let mut line = format!("Scheduled: {}", event.code);
            match (event.not_before, event.not_after) {
                (Some(from), Some(to)) => line.push_str(&format!(
                    " between {} and {}",
                    clock_time(from, now),
                    clock_time(to, now)
                )),
                (Some(from), None) => line.push_str(&format!(" from {}", clock_time(from, now))),
                _ => {}
            }
            if !event.description.trim().is_empty() {
                line.push_str(&format!(" — {}", one_line(&event.description)));
            }
            draft.lines.push(line);
        }
    }
    if !console.is_empty() {
        draft
            .trailer
            .push(format!("Console output (last {} lines):", console.len()));
        draft
            .trailer
            .extend(console.iter().map(|l| format!("| {l}")));
    }
    draft.instance = Some(InstanceFacts {
        instance,
        health,
        console,
    });
    Ok(true)
}

/// Whether the signal is a status-check alarm (`StatusCheckFailed…`).
fn is_status_check(signal: &Signal) -> bool {
    signal.metrics.iter().any(|m| {
        m.namespace.as_deref() == Some("AWS/EC2")
            && m.name
                .as_deref()
                .is_some_and(|n| n.starts_with("StatusCheckFailed"))
    })
}

/// The line: which status check fails since when and what it points at, or the state.
pub(super) fn headline(
    instance: &Instance,
    health: Option<&InstanceHealth>,
    now: DateTime<Utc>,
) -> String {
    let who = match instance.name() {
        Some(name) => format!("Instance {name} ({})", instance.id),
        None => format!("Instance {}", instance.id),
    };
    if instance.state != "running" {
        let state = if instance.state.is_empty() {
            "in no reported state"
        } else {
            &instance.state
        };
        let mut line = format!("{who} is {state}");
        if let Some(reason) = &instance.state_reason {
            line.push_str(&format!(" — {}", trim_chars(&one_line(reason), REASON_MAX)));
        }
        return line;
    }
    let Some(health) = health else {
        return format!("{who} is running; its status checks could not be read");
    };
    let since = |check: &StatusCheck| {
        check
            .impaired_since
            .map(|t| format!(" since {}", clock_time(t, now)))
            .unwrap_or_default()
    };
    let (system, inside) = (&health.system, &health.instance);
    match (system.is_impaired(), inside.is_impaired()) {
        (true, true) => format!(
            "{who} fails both status checks (system{}, instance{}) — start with the system \
             check: the AWS host under it",
            since(system),
            since(inside)
        ),
        (true, false) => format!(
            "{who} fails its system status check{} — the AWS hardware, network or power under \
             it; a stop and start moves it to healthy hardware (instance-store data is lost)",
            since(system)
        ),
        (false, true) => format!(
            "{who} fails its instance status check{} — inside the instance (operating system, \
             network configuration, disk or memory); see its console output",
            since(inside)
        ),
        (false, false) => {
            match health.ebs.as_ref().filter(|e| e.is_impaired()) {
                Some(ebs) => format!(
                "{who} fails its attached EBS status check{} — a volume it uses cannot be reached",
                since(ebs)
            ),
                None if health.is_ok() => {
                    format!("{who} is running and passes its status checks now (system ok, instance ok)")
                }
                None => format!(
                    "{who} is running; status checks: system {}, instance {}",
                    or_unknown(&system.status),
                    or_unknown(&inside.status)
                ),
            }
        }
    }
}

fn or_unknown(status: &str) -> &str {
    if status.is_empty() {
        "unknown"
    } else {
        status
    }
}

/// `Instance: m5.large · eu-west-1a · Linux/UNIX · subnet-… · launched …`.
fn profile(instance: &Instance, now: DateTime<Utc>) -> String {
    let mut parts: Vec<String> = [
        &instance.instance_type,
        &instance.availability_zone,
        &instance.platform,
        &instance.subnet_id,
    ]
    .into_iter()
    .flatten()
    .cloned()
    .collect();
    if let Some(at) = instance.launch_time {
        parts.push(format!("launched {}", clock_time(at, now)));
    }
    parts.push(format!("state {}", or_unknown(&instance.state)));
    format!("Instance: {}", parts.join(" · "))
}

/// The last [`CONSOLE_LINES`] non-blank lines, without terminal escapes or control characters,
/// each within [`CONSOLE_LINE_MAX`].
pub(super) fn tail(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .map(|line| {
            // A carriage return redraws the line: what was drawn last is what shows.
            let shown = line.rsplit('\r').find(|part| !part.trim().is_empty());
            trim_chars(&printable(shown.unwrap_or_default()), CONSOLE_LINE_MAX)
        })
        .filter(|line| !line.is_empty())
        .collect();
    let skip = lines.len().saturating_sub(CONSOLE_LINES);
    lines.drain(..skip);
    lines
}

/// The text without ANSI escape sequences and control characters, trimmed.
fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters… final byte (@ to ~); any other escape is two characters.
            if chars.next_if_eq(&'[').is_some() {
                for next in chars.by_ref() {
                    if ('@'..='~').contains(&next) {
                        break;
                    }
                }
            } else {
                chars.next();
            }
        } else if c == '\t' {
            out.push(' ');
        } else if !c.is_control() {
            out.push(c);
        }
    }
    out.trim().to_string()
}
