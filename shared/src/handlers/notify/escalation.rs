//! The escalation posts: who was paged (and the Slack user groups the rules mention), that
//! nobody answered, and who acknowledged. Mentions come only from the rules' `escalation`
//! targets, by the target names `escalate` paged: never from an event's text.

use chrono::Duration;

use super::mrkdwn::{code, plain};
use super::render::Render;
use super::Post;
use crate::domain::{EscalationNote, Resolution};
use crate::report::human_duration;
use crate::rules::{Escalation, Target};

pub(super) fn emoji(render: &Render<'_>) -> &'static str {
    match (render.post, render.detail.escalation.as_ref()) {
        (Post::Acknowledged, _) => ":eyes:",
        (_, Some(n)) if n.exhausted => ":sos:",
        _ => ":rotating_light:",
    }
}

pub(super) fn what(render: &Render<'_>) -> String {
    what_of(render.post, render.detail.escalation.as_ref())
}

fn what_of(post: Post, note: Option<&EscalationNote>) -> String {
    match (post, note) {
        (Post::Acknowledged, _) => "Acknowledged".to_string(),
        (_, Some(n)) if n.exhausted => "Nobody acknowledged".to_string(),
        (_, Some(n)) if !n.paged.is_empty() => format!("Paged {}", plain(&n.paged.join(", "))),
        _ => "Escalated".to_string(),
    }
}

/// The Slack mention of each paged Slack target that names a user group (`<!subteam^ID>`),
/// from the rules.
pub(super) fn mentions(escalation: &Escalation, note: &EscalationNote) -> Vec<String> {
    note.paged
        .iter()
        .filter_map(|name| match escalation.target(name) {
            Some(Target::Slack {
                usergroup: Some(id),
            }) => Some(format!("<!subteam^{id}>")),
            _ => None,
        })
        .collect()
}

pub(super) fn lines(render: &Render<'_>) -> Vec<String> {
    let (post, mentions) = (render.post, render.mentions);
    let Some(note) = &render.detail.escalation else {
        return vec![format!("*{}.*", what_of(post, None))];
    };
    let unanswered = human_duration(Duration::seconds(note.unanswered_secs));
    let policy = note
        .policy
        .as_deref()
        .map(|p| format!(" (policy {})", code(p)))
        .unwrap_or_default();
    if post == Post::Acknowledged {
        let by = note.acknowledged_by.as_deref().unwrap_or("someone");
        let via = note.via.as_deref().unwrap_or("slack");
        return vec![
            format!(
                "*Acknowledged* by {} (from {}) {unanswered} after the incident opened.",
                code(by),
                plain(via)
            ),
            "*Paging stopped.* The next escalation steps are cancelled.".to_string(),
        ];
    }
    let mut lines = Vec::new();
    if note.exhausted {
        lines.push(format!(
            "*Nobody acknowledged* in {unanswered}: every stage{policy} has paged. Escalation ended; the incident stays open."
        ));
    } else {
        let stage = note.stage.unwrap_or(1);
        let round = note.round.unwrap_or(1);
        lines.push(format!(
            "*Paged:* {} — stage {stage}, page {round}{policy}",
            plain(&note.paged.join(", "))
        ));
        lines.push(format!("*Unanswered for:* {unanswered}"));
    }
    if !mentions.is_empty() {
        lines.push(format!(
            "{} please look at this incident.",
            mentions.join(" ")
        ));
    }
    lines.push("*Acknowledge* with the button on this thread to stop paging.".to_string());
    lines
}

/// `*Resolved*`, or `*Resolved by* `<who>`` when a person resolved the incident.
pub(super) fn resolved_head(resolution: &Resolution) -> String {
    match &resolution.resolved_by {
        Some(by) => format!("*Resolved by* {}", code(by)),
        None => "*Resolved*".to_string(),
    }
}
