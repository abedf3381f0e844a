//! The EC2 instance in the "diagnosed" post: the instance with its type, zone and state, its
//! status checks (the failing one in bold, since when), what is scheduled for it, and the last
//! lines of its console output. Everything in it came from EC2 and is shown as outside text.

use super::mrkdwn::{code, plain, utc};
use crate::diagnosis::{InstanceFacts, StatusCheck};
use crate::domain::trim_chars;

/// Console lines shown (the timeline has more).
const CONSOLE_SHOWN: usize = 5;
/// One console line, in characters.
const CONSOLE_LINE_MAX: usize = 120;
/// Scheduled events listed.
const EVENTS_SHOWN: usize = 3;

pub(super) fn lines(facts: &InstanceFacts) -> Vec<String> {
    let instance = &facts.instance;
    let mut parts = vec![code(&instance.id)];
    if let Some(name) = instance.name() {
        parts[0].push_str(&format!(" ({})", trim_chars(&plain(name), 80)));
    }
    parts.extend(
        [&instance.instance_type, &instance.availability_zone]
            .into_iter()
            .flatten()
            .map(|v| plain(v)),
    );
    if !instance.state.is_empty() {
        parts.push(plain(&instance.state));
    }
    let mut lines = vec![format!("*Instance:* {}", parts.join(" · "))];
    if let Some(health) = &facts.health {
        let mut checks = vec![
            check("system", &health.system),
            check("instance", &health.instance),
        ];
        if let Some(ebs) = health.ebs.as_ref().filter(|e| !e.status.is_empty()) {
            checks.push(check("attached EBS", ebs));
        }
        lines.push(format!("*Status checks:* {}", checks.join(" · ")));
        for event in health
            .events
            .iter()
            .filter(|e| !e.is_done())
            .take(EVENTS_SHOWN)
        {
            let when = event
                .not_before
                .map(|t| format!(" from {}", utc(t)))
                .unwrap_or_default();
            lines.push(format!(
                "*Scheduled:* {}{when} — {}",
                code(&event.code),
                trim_chars(&plain(&event.description), 200)
            ));
        }
    }
    if !facts.console.is_empty() {
        let shown = &facts.console[facts.console.len().saturating_sub(CONSOLE_SHOWN)..];
        lines.push(format!("*Console output* (last {} lines):", shown.len()));
        let body: Vec<String> = shown
            .iter()
            .map(|l| trim_chars(&plain(l).replace('`', "'"), CONSOLE_LINE_MAX))
            .collect();
        lines.push(format!("```{}```", body.join("\n")));
    }
    lines
}

fn check(name: &str, check: &StatusCheck) -> String {
    let status = if check.status.is_empty() {
        "unknown".to_string()
    } else {
        plain(&check.status)
    };
    if !check.is_impaired() {
        return format!("{name} {status}");
    }
    match check.impaired_since {
        Some(since) => format!("{name} *{status}* since {}", utc(since)),
        None => format!("{name} *{status}*"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnosis::{Instance, InstanceHealth, ScheduledEvent};
    use chrono::{TimeZone, Utc};

    #[test]
    fn the_instance_shows_its_failing_check_events_and_console_tail_as_outside_text() {
        let since = Utc.with_ymd_and_hms(2026, 12, 6, 2, 8, 0).unwrap();
        let facts = InstanceFacts {
            instance: Instance {
                id: "i-0123456789abcdef0".into(),
                state: "running".into(),
                instance_type: Some("m5.large".into()),
                availability_zone: Some("eu-west-1a".into()),
                tags: [("Name".to_string(), "web <!channel>".to_string())]
                    .into_iter()
                    .collect(),
                ..Instance::default()
            },
            health: Some(InstanceHealth {
                system: StatusCheck {
                    status: "impaired".into(),
                    impaired_since: Some(since),
                },
                instance: StatusCheck {
                    status: "ok".into(),
                    impaired_since: None,
                },
                ebs: None,
                events: vec![ScheduledEvent {
                    code: "instance-retirement".into(),
                    description: "The instance is running on degraded hardware".into(),
                    not_before: Some(since),
                    not_after: None,
                }],
            }),
            console: (1..=8)
                .map(|n| format!("line {n}"))
                .chain(["```<!here>".to_string()])
                .collect(),
        };
        assert_eq!(
            lines(&facts),
            [
                "*Instance:* `i-0123456789abcdef0` (web ‹!channel>) · m5.large · eu-west-1a · running",
                "*Status checks:* system *impaired* since 2026-12-06 02:08:00 UTC · instance ok",
                "*Scheduled:* `instance-retirement` from 2026-12-06 02:08:00 UTC — The instance is running on degraded hardware",
                "*Console output* (last 5 lines):",
                "```line 5\nline 6\nline 7\nline 8\n'''‹!here>```",
            ]
        );
    }
}
