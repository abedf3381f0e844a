//! Triage's answer (**contract**) and the metric of each decision.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{Classification, Impact, IncidentRef};
use crate::metrics::{self, Metric};
use crate::ports::DedupeRecord;
use crate::shell::Outcome;

/// What triage decided (**contract**).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Ignored,
    Suppressed,
    Recovered,
    Joined,
    Opened,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Ignored => "ignored",
            Action::Suppressed => "suppressed",
            Action::Recovered => "recovered",
            Action::Joined => "joined",
            Action::Opened => "opened",
        }
    }
}

/// Triage's answer for one event (**contract**): `action`, `rule`, `impact`, `dedupe_key`,
/// `incident`, `reason`. An event with several signals (Security Hub may batch findings)
/// answers with its most significant decision and lists every signal's answer in `signals`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriageAnswer {
    pub action: Action,
    pub rule: Option<String>,
    pub impact: Option<Impact>,
    pub dedupe_key: Option<String>,
    pub incident: Option<String>,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<TriageAnswer>,
}

impl TriageAnswer {
    pub(super) fn ignored(reason: impl Into<String>) -> Self {
        TriageAnswer {
            action: Action::Ignored,
            rule: None,
            impact: None,
            dedupe_key: None,
            incident: None,
            reason: reason.into(),
            signals: Vec::new(),
        }
    }

    pub(super) fn decided(
        action: Action,
        c: &Classification,
        incident: Option<&IncidentRef>,
        reason: impl Into<String>,
    ) -> Self {
        TriageAnswer {
            action,
            rule: Some(c.rule_id.clone()),
            impact: Some(c.impact),
            dedupe_key: Some(c.dedupe_key.clone()),
            incident: incident.map(|i| i.id.clone()),
            reason: reason.into(),
            signals: Vec::new(),
        }
    }

    /// The answer for a signal that acted on an existing incident: the incident's own impact.
    pub(super) fn on(
        action: Action,
        c: &Classification,
        held: &DedupeRecord,
        incident: &IncidentRef,
        reason: String,
    ) -> Self {
        let mut answer = TriageAnswer::decided(action, c, Some(incident), reason);
        answer.impact = Some(held.impact);
        answer
    }

    /// The answer for a re-delivery: what it decided the first time, as a no-op (an opening is
    /// a join now); a join under `c` when the first answer cannot be read back.
    pub(super) fn replayed(first: Option<Self>, c: &Classification) -> Self {
        const AGAIN: &str = "Re-delivery of a signal already handled; nothing done.";
        match first {
            Some(mut first) => {
                if first.action == Action::Opened {
                    first.action = Action::Joined;
                }
                first.reason = format!("{AGAIN} First time: {}", first.reason);
                first
            }
            None => TriageAnswer::decided(Action::Joined, c, None, AGAIN),
        }
    }
}

impl Outcome for TriageAnswer {
    fn action(&self) -> &'static str {
        self.action.as_str()
    }

    fn incident(&self) -> Option<&str> {
        self.incident.as_deref()
    }

    fn reason(&self) -> &str {
        &self.reason
    }
}

/// One answer for an event: the most significant decision, with every signal's answer listed
/// when there were several.
pub(super) fn combine(mut answers: Vec<TriageAnswer>) -> TriageAnswer {
    if answers.len() == 1 {
        return answers.remove(0);
    }
    let best = answers
        .iter()
        .enumerate()
        .max_by_key(|(i, a)| (a.action, std::cmp::Reverse(*i)))
        .map(|(i, _)| i)
        .unwrap_or(0);
    let mut top = answers[best].clone();
    let count = |action: Action| answers.iter().filter(|a| a.action == action).count();
    top.reason = format!(
        "{} signals ({} opened, {} joined, {} recovered, {} suppressed, {} ignored). {}",
        answers.len(),
        count(Action::Opened),
        count(Action::Joined),
        count(Action::Recovered),
        count(Action::Suppressed),
        count(Action::Ignored),
        top.reason
    );
    top.signals = answers;
    top
}

/// The metric of one signal's decision (made now, not replayed) with its dimensions, by impact
/// and by service from the classification: `IncidentsOpened`, `SignalsJoined`,
/// `SignalsSuppressed`; recoveries and ignored signals count nothing here.
fn decision_metric(
    answer: &TriageAnswer,
    c: &Classification,
) -> Option<(Metric, [(&'static str, String); 2])> {
    let name = match answer.action {
        Action::Opened => "IncidentsOpened",
        Action::Joined => "SignalsJoined",
        Action::Suppressed => "SignalsSuppressed",
        Action::Recovered | Action::Ignored => return None,
    };
    Some((
        Metric::count(name),
        [
            ("Impact", c.impact.get().to_string()),
            ("Service", c.service.clone()),
        ],
    ))
}

/// Writes the decision's metric (EMF on stdout).
pub(super) fn emit_decision(answer: &TriageAnswer, c: &Classification, time: DateTime<Utc>) {
    if let Some((metric, dimensions)) = decision_metric(answer, c) {
        let dimensions: Vec<(&str, &str)> =
            dimensions.iter().map(|(k, v)| (*k, v.as_str())).collect();
        metrics::emit(time, &dimensions, &[metric]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Category, Severity};

    fn classification() -> Classification {
        Classification {
            rule_id: "vpn-tunnel-down".into(),
            service: "site-to-site-vpn".into(),
            tier: "business".into(),
            severity: Severity::High,
            impact: Impact::HIGH,
            dedupe_key: "vpn-tunnel-down:vpn-0123456789abcdef0".into(),
            title: "Site-to-Site VPN vpn-0123456789abcdef0: tunnel down".into(),
            category: Category::Availability,
            suppress: false,
            correlation_window_secs: 1800,
            runbook: None,
            auto_resolve: true,
            next_steps: Vec::new(),
        }
    }

    #[test]
    fn each_decision_made_now_counts_by_impact_and_service() {
        let c = classification();
        let dimensions = [
            ("Impact", "2".to_string()),
            ("Service", "site-to-site-vpn".to_string()),
        ];
        for (action, expected) in [
            (Action::Opened, Some("IncidentsOpened")),
            (Action::Joined, Some("SignalsJoined")),
            (Action::Suppressed, Some("SignalsSuppressed")),
            (Action::Recovered, None),
            (Action::Ignored, None),
        ] {
            let answer = TriageAnswer::decided(action, &c, None, "");
            let metric = decision_metric(&answer, &c);
            assert_eq!(metric.as_ref().map(|(m, _)| m.name), expected, "{action:?}");
            if let Some((metric, dims)) = metric {
                assert_eq!(metric, Metric::count(metric.name));
                assert_eq!(dims, dimensions);
            }
        }
    }

    #[test]
    fn a_replay_is_a_join_that_did_nothing() {
        let c = classification();
        let first = TriageAnswer::decided(Action::Opened, &c, None, "Opened it.");
        let again = TriageAnswer::replayed(Some(first), &c);
        assert_eq!(again.action, Action::Joined);
        assert_eq!(again.rule.as_deref(), Some("vpn-tunnel-down"));
        assert!(again.reason.starts_with("Re-delivery") && again.reason.ends_with("Opened it."));
        let unreadable = TriageAnswer::replayed(None, &c);
        assert_eq!(unreadable.action, Action::Joined);
        assert_eq!(unreadable.dedupe_key, Some(c.dedupe_key.clone()));
    }
}
