//! The "what changed" post: after the diagnosis, the write calls CloudTrail recorded on the
//! incident's resources and their stack's last update, newest first, each with its console
//! link; what could not be read says why.

use super::mrkdwn::{link, plain, text};
use super::render::Render;
use crate::handlers::changes::{line, stack_line};

/// The most changes a post lists (the record lists them all).
const LISTED: usize = 5;

pub(super) fn what(render: &Render<'_>) -> String {
    match render.detail.changes.as_ref().map(|c| c.items.len()) {
        Some(0) | None => "Nothing changed".to_string(),
        Some(1) => "1 recent change".to_string(),
        Some(n) => format!("{n} recent changes"),
    }
}

pub(super) fn lines(render: &Render<'_>) -> Vec<String> {
    let Some(changes) = &render.detail.changes else {
        return Vec::new();
    };
    let mut lines = vec![format!("*What changed:* {}", text(&render.detail.reason))];
    for change in changes.items.iter().take(LISTED) {
        lines.push(format!("• {}", link(&change.link, &plain(&line(change)))));
    }
    if changes.items.len() > LISTED {
        lines.push(format!(
            "• … and {} more on the incident's timeline",
            changes.items.len() - LISTED
        ));
    }
    if let Some(stack) = &changes.stack {
        let url = crate::console::cloudformation_stack(&render.detail.signal.region, &stack.id);
        lines.push(format!("*Stack:* {}", link(&url, &stack_line(stack))));
    }
    for note in &changes.notes {
        lines.push(format!("*Not gathered:* {}", text(note)));
    }
    lines
}
