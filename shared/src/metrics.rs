//! Metrics in CloudWatch Embedded Metric Format: one JSON line on stdout per event, which
//! CloudWatch Logs turns into metrics. No API calls, no extra latency, no extra IAM.
//!
//! Every metric is published once per dimension on its own (`[["Impact"], ["Service"]]` for
//! incident metrics), so the dashboard can chart by impact or by service without a metric per
//! combination. Names (README, Metrics): `IncidentsOpened`, `SignalsJoined`, `SignalsSuppressed`
//! (triage), `IncidentsResolved`, `IncidentsAwaitingResponder`, `TimeToResolve` (resolve),
//! `RunbookExecutions` by `Document` and `Status` (runbook).

use std::io::Write;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

/// The CloudWatch namespace of every responder metric.
pub const NAMESPACE: &str = "IncidentResponder";

/// A metric's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Seconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Seconds => "Seconds",
        }
    }
}

/// One value of one metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric {
    pub name: &'static str,
    pub value: f64,
    pub unit: Unit,
}

impl Metric {
    pub fn count(name: &'static str) -> Metric {
        Metric {
            name,
            value: 1.0,
            unit: Unit::Count,
        }
    }

    pub fn seconds(name: &'static str, seconds: f64) -> Metric {
        Metric {
            name,
            value: seconds,
            unit: Unit::Seconds,
        }
    }
}

/// The EMF document for `metrics` under `dimensions`, each dimension its own dimension set.
/// With no dimensions the metrics are published without any.
pub fn document(time: DateTime<Utc>, dimensions: &[(&str, &str)], metrics: &[Metric]) -> Value {
    let sets: Vec<Value> = if dimensions.is_empty() {
        vec![json!([])]
    } else {
        dimensions.iter().map(|(name, _)| json!([name])).collect()
    };
    let definitions: Vec<Value> = metrics
        .iter()
        .map(|m| json!({"Name": m.name, "Unit": m.unit.as_str()}))
        .collect();
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": time.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": sets,
                "Metrics": definitions,
            }],
        }),
    );
    for (name, value) in dimensions {
        root.insert((*name).to_string(), Value::String((*value).to_string()));
    }
    for m in metrics {
        root.insert(m.name.to_string(), json!(m.value));
    }
    Value::Object(root)
}

/// Writes the document as one line on stdout, where Lambda hands it to CloudWatch Logs.
pub fn emit(time: DateTime<Utc>, dimensions: &[(&str, &str)], metrics: &[Metric]) {
    if metrics.is_empty() {
        return;
    }
    let line = document(time, dimensions, metrics).to_string();
    let mut out = std::io::stdout().lock();
    // A metric that cannot be written must not fail the invocation.
    let _ = writeln!(out, "{line}");
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn documents_follow_the_embedded_metric_format() {
        let time = Utc.with_ymd_and_hms(2026, 11, 21, 3, 55, 0).unwrap();
        let doc = document(
            time,
            &[("Impact", "2"), ("Service", "site-to-site-vpn")],
            &[
                Metric::count("IncidentsResolved"),
                Metric::seconds("TimeToResolve", 1260.0),
            ],
        );
        assert_eq!(doc["_aws"]["Timestamp"], json!(time.timestamp_millis()));
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], json!("IncidentResponder"));
        assert_eq!(directive["Dimensions"], json!([["Impact"], ["Service"]]));
        assert_eq!(
            directive["Metrics"],
            json!([
                {"Name": "IncidentsResolved", "Unit": "Count"},
                {"Name": "TimeToResolve", "Unit": "Seconds"}
            ])
        );
        // Every dimension and metric named in the directive is a member of the root.
        assert_eq!(doc["Impact"], json!("2"));
        assert_eq!(doc["Service"], json!("site-to-site-vpn"));
        assert_eq!(doc["IncidentsResolved"], json!(1.0));
        assert_eq!(doc["TimeToResolve"], json!(1260.0));
        assert!(!doc.to_string().contains('\n'));
    }

    #[test]
    fn no_dimensions_gives_one_empty_set() {
        let doc = document(Utc::now(), &[], &[Metric::count("SignalsSuppressed")]);
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([[]])
        );
    }
}
