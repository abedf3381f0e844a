//! Slack mrkdwn for text that comes from outside: one line, control characters dropped, `<`
//! (which starts links and mentions such as `<!channel>`) shown as `‹`, links and code escaped.

use chrono::{DateTime, Utc};

use super::render::{ITEMS_LISTED, TEXT_MAX};
use crate::domain::trim_chars;

/// `*Label:*` and one bullet per item (at most a few).
pub(super) fn list(lines: &mut Vec<String>, label: &str, items: &[String]) {
    let items: Vec<&String> = items.iter().filter(|i| !i.trim().is_empty()).collect();
    if items.is_empty() {
        return;
    }
    lines.push(format!("*{label}:*"));
    for item in items.iter().take(ITEMS_LISTED) {
        lines.push(format!("• {}", text(item)));
    }
    if items.len() > ITEMS_LISTED {
        lines.push(format!("• … and {} more", items.len() - ITEMS_LISTED));
    }
}

/// Outside text on one line, trimmed for a description.
pub(super) fn text(value: &str) -> String {
    trim_chars(&plain(value), TEXT_MAX)
}

/// Outside text made safe for one line of Slack mrkdwn: white space collapsed, control
/// characters dropped, and `<` (which starts links and mentions such as `<!channel>`) shown as
/// `‹`.
pub(super) fn plain(value: &str) -> String {
    value
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if c == '<' { '‹' } else { c })
        .collect()
}

/// Inline code; a backtick inside becomes a quote.
pub(super) fn code(value: &str) -> String {
    format!("`{}`", plain(value).replace('`', "'"))
}

/// A Slack mrkdwn link.
pub(super) fn link(url: &str, label: &str) -> String {
    let label: String = plain(label)
        .chars()
        .map(|c| match c {
            '|' => '¦',
            '>' => '›',
            other => other,
        })
        .collect();
    let url: String = url
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .map(|c| match c {
            '|' => "%7C".to_string(),
            '>' => "%3E".to_string(),
            '<' => "%3C".to_string(),
            other => other.to_string(),
        })
        .collect();
    format!("<{url}|{label}>")
}

/// `2024-05-14 03:02:10 UTC`.
pub(super) fn utc(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}
