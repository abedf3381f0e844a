//! The quiet-hours posts: a silence set, lifted or ended (who, until when), and downstream
//! signals folded into the incident (how many so far). While a silence stands on the incident's
//! key, every other post is muted except the resolution ([`muted`]).

use super::mrkdwn::{code, plain, text, utc};
use super::render::Render;
use super::Post;
use crate::domain::{LifecycleDetail, SilenceChange};
use crate::ports::{PortError, ReferenceStore};
use crate::quiet::{self, Silence};

pub(super) fn emoji(render: &Render<'_>) -> &'static str {
    match (render.post, silence_change(render.detail)) {
        (Post::Downstream, _) => ":link:",
        (_, Some(SilenceChange::Set)) => ":no_bell:",
        _ => ":bell:",
    }
}

pub(super) fn what(render: &Render<'_>) -> String {
    match (render.post, silence_change(render.detail)) {
        (Post::Downstream, _) => "Downstream signal folded".to_string(),
        (_, Some(SilenceChange::Set)) => "Silenced".to_string(),
        (_, Some(SilenceChange::Lifted)) => "Silence lifted".to_string(),
        _ => "Silence ended".to_string(),
    }
}

pub(super) fn lines(render: &Render<'_>) -> Vec<String> {
    let detail = render.detail;
    if render.post == Post::Downstream {
        let Some(hold) = &detail.hold else {
            return Vec::new();
        };
        let folded = hold.folded.unwrap_or(1);
        return vec![
            format!(
                "*{folded} downstream signal{}* folded into this incident so far (inhibition {}); the latest: {}",
                if folded == 1 { "" } else { "s" },
                code(&hold.by),
                text(&detail.signal.summary)
            ),
            "They page nobody while this incident fires; any still firing when it recovers opens its own incident.".to_string(),
        ];
    }
    let Some(note) = &detail.silence else {
        return Vec::new();
    };
    let until = if note.until_resolved {
        format!("{} or until it resolves", utc(note.until))
    } else {
        utc(note.until)
    };
    match note.change {
        SilenceChange::Set => vec![
            format!("*Silenced* by {} until {until}.", plain(&note.by)),
            "No pages and no posts until then, except the resolution; escalation is paused. *Lift silence* ends it.".to_string(),
        ],
        SilenceChange::Lifted => vec![
            format!("*Silence lifted* by {}.", plain(&note.by)),
            "Posts and escalation resume.".to_string(),
        ],
        SilenceChange::Ended => vec![
            format!("*The silence ended* ({until}) and the incident is still open."),
            "Posts and escalation resume.".to_string(),
        ],
    }
}

fn silence_change(detail: &LifecycleDetail) -> Option<SilenceChange> {
    detail.silence.as_ref().map(|s| s.change)
}

/// The silence that mutes `post` now, if any: every post but the silence's own, the resolution
/// and a recovery waiting for a responder.
pub(super) async fn muted(
    references: &dyn ReferenceStore,
    post: Post,
    detail: &LifecycleDetail,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<Silence>, PortError> {
    if matches!(post, Post::Silenced | Post::Resolved | Post::Awaiting) {
        return Ok(None);
    }
    let row = quiet::silence_key(&detail.incident.dedupe_key);
    let silence: Option<Silence> = quiet::read(references, &row, now).await?;
    // A silence mutes its own incident only, not a later one on the same key.
    Ok(silence.filter(|s| s.stands(now) && s.incident == detail.incident.id))
}
