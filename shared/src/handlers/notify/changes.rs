//! The "what changed" post: after the diagnosis, the write calls CloudTrail recorded on the
//! incident's resources and their stack's last update, newest first, each linked to its console
//! page (built here from the event's id and the validated region, never taken from the event);
//! what could not be read says why.

use super::mrkdwn::{link, plain, text};
use super::render::Render;
use crate::console;
use crate::handlers::changes::{issue_line, line, stack_line};

/// The most changes a post lists (the record lists them all).
const LISTED: usize = 5;

pub(super) fn what(render: &Render<'_>) -> String {
    match render.detail.changes.as_ref() {
        Some(c) if !c.gathered => "Changes not gathered".to_string(),
        Some(c) if c.items.len() == 1 => "1 recent change".to_string(),
        Some(c) if !c.items.is_empty() => format!("{} recent changes", c.items.len()),
        _ => "Nothing changed".to_string(),
    }
}

pub(super) fn lines(render: &Render<'_>) -> Vec<String> {
    let Some(changes) = &render.detail.changes else {
        return Vec::new();
    };
    let region = &render.detail.signal.region;
    let mut lines = vec![format!("*What changed:* {}", text(&render.detail.reason))];
    for change in changes.items.iter().take(LISTED) {
        let words = plain(&line(change));
        let url = match (&change.event, &changes.stack) {
            (Some(id), _) => console::cloudtrail_event(region, id),
            (None, Some(stack)) => console::cloudformation_stack(region, &stack.id),
            (None, None) => {
                lines.push(format!("• {words}"));
                continue;
            }
        };
        lines.push(format!("• {}", link(&url, &words)));
    }
    if changes.items.len() > LISTED {
        lines.push(format!(
            "• … and {} more on the incident's timeline",
            changes.items.len() - LISTED
        ));
    }
    if let Some(stack) = &changes.stack {
        let url = console::cloudformation_stack(region, &stack.id);
        lines.push(format!("*Stack:* {}", link(&url, &stack_line(stack))));
    }
    for issue in changes.health.iter().take(LISTED) {
        let words = plain(&issue_line(issue));
        match console::health_event(&issue.arn) {
            Some(url) => lines.push(format!("*AWS Health:* {}", link(&url, &words))),
            None => lines.push(format!("*AWS Health:* {words}")),
        }
    }
    for note in &changes.notes {
        lines.push(format!("*Note:* {}", text(note)));
    }
    lines
}
