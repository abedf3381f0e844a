//! GuardDuty and Security Hub findings: the summary, the resources (non-ARN ones only named: an
//! ARN item must hold an ARN), and a link to the finding in its console.

use super::{Draft, Place, TITLE_MAX};
use crate::console;
use crate::domain::{trim_chars, RelatedItem, RelatedItemKind, RelatedValue, Signal, SignalKind};

pub(super) fn describe(signal: &Signal, place: &Place<'_>, draft: &mut Draft) {
    if draft.summary.is_empty() {
        draft.summary = signal.summary.clone();
    }
    let mut resources: Vec<&str> = Vec::new();
    for r in std::iter::once(&signal.resource).chain(&signal.resources) {
        let is_finding_itself =
            signal.finding_id.as_deref() == Some(r.as_str()) || r.contains("/finding/");
        if !r.is_empty() && !is_finding_itself && !resources.contains(&r.as_str()) {
            resources.push(r);
        }
    }
    if !resources.is_empty() {
        draft
            .lines
            .push(format!("Resources: {}", resources.join(", ")));
    }
    let Some(id) = signal.finding_id.as_deref() else {
        return;
    };
    let (title, url) = match signal.kind {
        SignalKind::GuardDutyFinding => (
            format!(
                "GuardDuty finding {}",
                signal.finding_type.as_deref().unwrap_or(id)
            ),
            console::guardduty_finding(place.region, id),
        ),
        _ => (
            format!(
                "Security Hub finding {}",
                signal.finding_type.as_deref().unwrap_or("")
            ),
            console::security_hub_finding(place.region, id),
        ),
    };
    draft.items.push(RelatedItem {
        kind: RelatedItemKind::Other,
        title: trim_chars(title.trim(), TITLE_MAX),
        value: RelatedValue::Url(url),
    });
}
