//! What triage writes about an incident: the record that opens it, its related items, and the
//! lifecycle detail it announces on the bus.

use crate::arn::{resource_title, Arn};
use crate::domain::{
    Classification, Impact, IncidentRef, IncidentSummary, LifecycleDetail, NewIncident,
    RelatedItem, RelatedValue, Signal, Trigger, RESPONDER_SOURCE,
};

/// The incident record for a signal opening one, with the claim's opening token.
pub fn new_incident(signal: &Signal, c: &Classification, raw: &str, token: &str) -> NewIncident {
    NewIncident {
        title: c.title.clone(),
        summary: incident_summary(signal, c),
        impact: c.impact,
        severity: c.severity,
        category: c.category,
        rule_id: c.rule_id.clone(),
        service: c.service.clone(),
        dedupe_key: c.dedupe_key.clone(),
        client_token: token.to_string(),
        trigger: Trigger {
            source: RESPONDER_SOURCE.to_string(),
            timestamp: signal.time,
            raw_data: raw.to_string(),
            // Incident Manager's `triggerArn` takes any resource after the account (`.+`), spaces
            // included: an alarm named with spaces keeps its ARN.
            // Incident Manager's pattern also wants one of its partitions and an account of 12
            // digits or none.
            arn: Arn::parse(&signal.resource)
                .filter(|arn| matches!(arn.partition, "aws" | "aws-cn" | "aws-us-gov"))
                .filter(|arn| arn.account.is_empty() || arn.account.len() == 12)
                .map(|_| signal.resource.clone()),
        },
        related_items: related_items(signal),
        resources: signal.resources.clone(),
    }
}

/// The few lines an incident record opens with.
pub fn incident_summary(signal: &Signal, c: &Classification) -> String {
    let mut lines = vec![
        signal.summary.clone(),
        format!(
            "Impact {} — service {}, tier {}, severity {} (rule {}).",
            c.impact, c.service, c.tier, c.severity, c.rule_id
        ),
        format!(
            "Account {}, region {}, since {}.",
            signal.account,
            signal.region,
            signal.time.format("%Y-%m-%d %H:%M:%S UTC")
        ),
    ];
    if let Some(reason) = &signal.reason {
        lines.push(format!("Reason: {reason}"));
    }
    if !signal.resources.is_empty() {
        lines.push(format!("Resources: {}", signal.resources.join(", ")));
    }
    lines.join("\n")
}

/// Related items for a signal: the primary resource and every involved resource that is an ARN.
pub(super) fn related_items(signal: &Signal) -> Vec<RelatedItem> {
    let mut items: Vec<RelatedItem> = Vec::new();
    for arn in std::iter::once(&signal.resource).chain(&signal.resources) {
        // An alarm's ARN may hold spaces (its name can): each backend decides how to keep it.
        if Arn::parse(arn).is_some()
            && !items
                .iter()
                .any(|i| i.value == RelatedValue::Arn(arn.clone()))
        {
            items.push(RelatedItem::resource(arn.clone(), resource_title(arn)));
        }
    }
    items
}

/// The detail of a lifecycle event about `incident` and the signal that caused it.
pub(crate) fn lifecycle_detail(
    signal: &Signal,
    c: &Classification,
    incident: &IncidentRef,
    title: &str,
    impact: Impact,
    reason: &str,
    signal_count: Option<u64>,
) -> LifecycleDetail {
    LifecycleDetail {
        incident: IncidentSummary {
            backend: incident.backend,
            id: incident.id.clone(),
            title: title.to_string(),
            impact,
            severity: c.severity,
            rule: c.rule_id.clone(),
            service: c.service.clone(),
            tier: c.tier.clone(),
            dedupe_key: c.dedupe_key.clone(),
            resources: signal.resources.clone(),
            runbook: c.runbook.clone(),
            auto_resolve: c.auto_resolve,
            next_steps: c.next_steps.clone(),
        },
        signal: signal.clone(),
        reason: reason.to_string(),
        signal_count,
        diagnosis: None,
        automation: None,
        resolution: None,
        escalation: None,
        request: None,
        hold: None,
        silence: None,
        changes: None,
        inspection: None,
    }
}
