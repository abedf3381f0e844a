//! Any other alarm: its state reason, the metrics it watches (as METRIC related items), and a
//! console link to it.

use serde_json::json;

use super::{Draft, Place, TITLE_MAX};
use crate::console;
use crate::domain::{trim_chars, MetricRef, RelatedItem, RelatedItemKind, RelatedValue, Signal};

/// Alarm metrics listed on the timeline.
const METRICS_LISTED: usize = 5;

/// Describes the alarm; its metrics are attached only when `attach` (a VPN alarm's are the
/// VPN diagnosis's).
pub(super) fn describe(signal: &Signal, place: &Place<'_>, attach: bool, draft: &mut Draft) {
    let reason = signal.reason.as_deref().filter(|r| !r.trim().is_empty());
    let line = match (&signal.alarm_name, reason) {
        (Some(name), Some(reason)) => format!("Alarm {name}: {reason}"),
        _ => signal.summary.clone(),
    };
    if !attach {
        if draft.summary.is_empty() {
            draft.summary = line;
        }
        return;
    }
    // A resource's diagnosis (an instance) has the line; the alarm's reason comes first after it.
    if draft.summary.is_empty() {
        draft.summary = line;
    } else {
        draft.lines.insert(0, line);
    }
    let watched: Vec<String> = signal.metrics.iter().filter_map(metric_label).collect();
    if !watched.is_empty() {
        let mut listed = watched
            .iter()
            .take(METRICS_LISTED)
            .cloned()
            .collect::<Vec<_>>()
            .join("; ");
        if watched.len() > METRICS_LISTED {
            listed.push_str(&format!("; and {} more", watched.len() - METRICS_LISTED));
        }
        draft.lines.push(format!("Watching: {listed}"));
    }
    for metric in &signal.metrics {
        if let Some(item) = metric_item(place, metric) {
            draft.items.push(item);
        }
    }
    if let Some(name) = &signal.alarm_name {
        draft.items.push(RelatedItem {
            kind: RelatedItemKind::Other,
            title: trim_chars(
                &format!("Alarm {name} in the CloudWatch console"),
                TITLE_MAX,
            ),
            value: RelatedValue::Url(console::alarm(place.region, name)),
        });
    }
}

/// `AWS/EC2 NetworkIn InstanceId=i-… (Sum, 86400 s)`, or `e1 = SUM(METRICS())`.
fn metric_label(metric: &MetricRef) -> Option<String> {
    if let (Some(ns), Some(name)) = (&metric.namespace, &metric.name) {
        let mut label = format!("{ns} {name}");
        for (k, v) in &metric.dimensions {
            label.push_str(&format!(" {k}={v}"));
        }
        match (&metric.stat, metric.period) {
            (Some(stat), Some(period)) => label.push_str(&format!(" ({stat}, {period} s)")),
            (Some(stat), None) => label.push_str(&format!(" ({stat})")),
            _ => {}
        }
        return Some(label);
    }
    let expression = metric.expression.as_deref()?;
    Some(match &metric.id {
        Some(id) => format!("{id} = {expression}"),
        None => expression.to_string(),
    })
}

/// A plain metric as a METRIC item (metric-math expressions are only listed on the timeline).
fn metric_item(place: &Place<'_>, metric: &MetricRef) -> Option<RelatedItem> {
    let (ns, name) = (metric.namespace.as_deref()?, metric.name.as_deref()?);
    let mut line = vec![ns.to_string(), name.to_string()];
    let mut title = format!("{ns} {name}");
    for (k, v) in &metric.dimensions {
        line.push(k.clone());
        line.push(v.clone());
        title.push_str(&format!(" {k}={v}"));
    }
    let definition = json!({
        "metrics": [line],
        "stat": metric.stat.as_deref().unwrap_or("Average"),
        "period": metric.period.unwrap_or(300),
        "region": place.region,
    });
    Some(RelatedItem {
        kind: RelatedItemKind::Metric,
        title: trim_chars(&title, TITLE_MAX),
        value: RelatedValue::MetricDefinition(definition.to_string()),
    })
}
