//! What a page says, in each subscriber's form: what fired, the impact, how long it has gone
//! unanswered, and how to acknowledge. Pure: rendered from the escalation record alone.

use std::collections::BTreeMap;

use chrono::Duration;
use serde_json::json;

use super::record::EscalationRecord;
use crate::console;
use crate::domain::{one_line, trim_chars, Backend};
use crate::ports::{AttributeValue, Page};
use crate::report::human_duration;
use crate::rules::Step;

/// An SMS page, in characters: one GSM segment holds 160, SNS splits longer ones.
const SMS_MAX: usize = 160;

/// The page for `step` of the record's policy, `unanswered_secs` after the incident opened.
pub(super) fn render(
    record: &EscalationRecord,
    step: Step,
    target: &str,
    unanswered_secs: i64,
) -> Page {
    let incident = &record.incident;
    let impact = incident.impact;
    let unanswered = human_duration(Duration::seconds(unanswered_secs));
    let title = one_line(&incident.title);
    let link = match incident.backend {
        Backend::OpsCenter => console::ops_item(&record.region, &incident.id),
        Backend::IncidentManager => console::incident_manager(&record.region),
    };
    let waiting = if unanswered_secs < 60 {
        "new, unanswered".to_string()
    } else {
        format!("unanswered {unanswered}")
    };
    let subject = format!(
        "[Impact {} {}] {} - {waiting}",
        impact.get(),
        impact.label(),
        title
    );
    let text = [
        format!("Impact {} ({}): {title}", impact.get(), impact.label()),
        format!("Service: {} · rule {}", incident.service, incident.rule),
        format!("What fired: {}", one_line(&record.signal.summary)),
        format!(
            "Unanswered for: {unanswered} (page {} of stage {})",
            step.round,
            step.stage + 1
        ),
        format!("Incident: {} ({})", incident.id, incident.backend.label()),
        format!("Console: {link}"),
        "To acknowledge and stop paging: the Acknowledge button on the incident's Slack thread."
            .to_string(),
    ]
    .join("\n");
    let sms = trim_chars(
        &format!("[P{}] {title}: {waiting}. Ack in Slack.", impact.get()),
        SMS_MAX,
    );
    let json = json!({
        "source": "incident.responder",
        "type": "page",
        "incident": incident.id,
        "backend": incident.backend.as_str(),
        "title": incident.title,
        "impact": impact.get(),
        "service": incident.service,
        "rule": incident.rule,
        "dedupe_key": incident.dedupe_key,
        "what_fired": record.signal.summary,
        "opened_at": record.opened_at,
        "unanswered_secs": unanswered_secs,
        "policy": record.policy,
        "stage": step.stage + 1,
        "round": step.round,
        "target": target,
        "console_url": link,
    })
    .to_string();
    let attributes = BTreeMap::from([
        (
            "impact".to_string(),
            AttributeValue::Number(impact.get().to_string()),
        ),
        (
            "service".to_string(),
            AttributeValue::String(incident.service.clone()),
        ),
        (
            "target".to_string(),
            AttributeValue::String(target.to_string()),
        ),
    ]);
    Page {
        subject,
        text,
        sms,
        json,
        attributes,
    }
}
