//! Markdown for the record: table cells that stay one row, code fences that hold any text, and
//! the record's times.

use chrono::{DateTime, Utc};

use crate::domain::trim_chars;

/// A timeline cell's text, in characters (the runbook's full output has its own section).
pub(super) const CELL_MAX: usize = 600;

/// A code fence longer than any run of backticks in `body`.
pub(super) fn fence_for(body: &str) -> String {
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
pub(super) fn cell(text: &str) -> String {
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

pub(super) fn stamp(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// The text ending with a full stop.
pub(super) fn sentence(text: &str) -> String {
    let text = text.trim();
    if text.ends_with(['.', '!', '?']) {
        text.to_string()
    } else {
        format!("{text}.")
    }
}
