//! The "inspected" post: the Lambda function, target group or RDS instance behind the alarm,
//! each linked to its console page (built here from the validated region and the names AWS
//! returned, never taken from the event), with its latest error lines, its targets' health or
//! its recent events; what could not be read says why. Everything quoted came from AWS and is
//! shown as outside text.

use super::mrkdwn::{link, plain, text};
use super::render::Render;
use crate::console;
use crate::domain::trim_chars;
use crate::inspect::Inspection;

/// Error lines, targets and events listed (the timeline has more).
const LINES_SHOWN: usize = 5;
const TARGETS_SHOWN: usize = 8;
/// One quoted log line, in characters.
const LINE_MAX: usize = 160;

pub(super) fn what(render: &Render<'_>) -> String {
    let Some(found) = &render.detail.inspection else {
        return "Inspected".to_string();
    };
    if let Some(f) = &found.function {
        match f.errors.len() {
            0 => format!("Lambda function {}", plain(&f.name)),
            1 => format!("Lambda function {}: 1 error line", plain(&f.name)),
            n => format!("Lambda function {}: {n} error lines", plain(&f.name)),
        }
    } else if let Some(g) = &found.target_group {
        format!(
            "Target group {}: {} of {} healthy",
            plain(&g.name),
            g.healthy(),
            g.targets.len()
        )
    } else if let Some(d) = &found.database {
        format!("RDS instance {}: {}", plain(&d.id), plain(&d.status))
    } else {
        "Not inspected".to_string()
    }
}

pub(super) fn lines(render: &Render<'_>) -> Vec<String> {
    let Some(found) = &render.detail.inspection else {
        return Vec::new();
    };
    let region = &render.detail.signal.region;
    let mut lines = vec![format!("*Inspected:* {}", text(&render.detail.reason))];
    inspected(&mut lines, found, region);
    for note in &found.notes {
        lines.push(format!("*Note:* {}", text(note)));
    }
    lines
}

fn inspected(lines: &mut Vec<String>, found: &Inspection, region: &str) {
    if let Some(f) = &found.function {
        let url = console::lambda_function(region, &f.name);
        lines.push(format!("*Function:* {}", link(&url, &f.line())));
        if !f.errors.is_empty() {
            let logs = console::log_group(region, &f.log_group);
            let shown = f.errors.len().min(LINES_SHOWN);
            lines.push(format!(
                "*Latest errors* ({shown} of {}, newest first) in {}:",
                f.errors.len(),
                link(&logs, &f.log_group)
            ));
            lines.push(block(f.errors.iter().take(LINES_SHOWN).map(|l| l.line())));
        }
    }
    if let Some(g) = &found.target_group {
        let url = console::target_group(region, &g.arn);
        lines.push(format!("*Target group:* {}", link(&url, &g.line())));
        // The failing targets first: they are what the alarm is about.
        let mut targets: Vec<_> = g.targets.iter().collect();
        targets.sort_by_key(|t| t.is_healthy());
        for target in targets.iter().take(TARGETS_SHOWN) {
            let line = plain(&target.line());
            if target.is_healthy() {
                lines.push(format!("• {line}"));
            } else {
                lines.push(format!("• *{line}*"));
            }
        }
        if g.targets.len() > TARGETS_SHOWN {
            lines.push(format!(
                "• … and {} more on the incident's timeline",
                g.targets.len() - TARGETS_SHOWN
            ));
        }
    }
    if let Some(d) = &found.database {
        let url = console::db_instance(region, &d.id);
        lines.push(format!("*DB instance:* {}", link(&url, &d.line())));
        for event in d.events.iter().take(LINES_SHOWN) {
            lines.push(format!("• {}", text(&event.line())));
        }
    }
}

/// Outside lines in a code block.
fn block(lines: impl Iterator<Item = String>) -> String {
    let body: Vec<String> = lines
        .map(|l| trim_chars(&plain(&l).replace('`', "'"), LINE_MAX))
        .collect();
    format!("```{}```", body.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::{FunctionFacts, LogLine};

    #[test]
    fn error_lines_are_outside_text_in_a_code_block() {
        let found = Inspection {
            function: Some(FunctionFacts {
                name: "orders-api".into(),
                arn: String::new(),
                version: "$LATEST".into(),
                runtime: Some("python3.12".into()),
                memory_mb: Some(512),
                timeout_s: Some(30),
                last_modified: None,
                state: None,
                state_reason: None,
                last_update: None,
                reserved_concurrency: None,
                log_group: "/aws/lambda/orders-api".into(),
                errors: vec![LogLine {
                    time: None,
                    message: "ERROR `boom` <!channel>".into(),
                }],
            }),
            ..Inspection::default()
        };
        let mut lines = Vec::new();
        inspected(&mut lines, &found, "eu-west-1");
        let all = lines.join("\n");
        assert!(all.contains("```ERROR 'boom' ‹!channel>```"), "{all}");
        assert!(
            all.contains("#logsV2:log-groups/log-group/$252Faws$252Flambda$252Forders-api|"),
            "{all}"
        );
        assert!(!all.contains("<!channel>"), "{all}");
    }
}
