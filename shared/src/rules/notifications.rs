//! The rules' `notifications` section: which lifecycle steps `notify` posts for each impact, and
//! how often a storm of joined signals is summed up.

use serde::{Deserialize, Serialize};

use super::document::{OneOrMany, RawNotifications};
use super::RulesError;
use crate::domain::Impact;

/// A step of an incident's life that `notify` can post to Slack (the rules' `notifications.steps`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyStep {
    /// `Incident Opened`.
    Opened,
    /// `Incident Updated` from triage: more signals joined (summed up per `joined_interval`).
    Joined,
    /// `Incident Enriched`: the diagnosis.
    Diagnosed,
    /// `Runbook Started` and `Runbook Finished`.
    Runbook,
    /// `Signal Recovered`: the signal cleared; `resolve` is verifying.
    Recovered,
    /// `Incident Resolved`, and `resolve`'s "recovered, waiting for a responder to resolve".
    Resolved,
    /// `Incident Escalated` and `Incident Acknowledged`: pages and acknowledgements.
    Escalation,
}

impl NotifyStep {
    pub const ALL: [NotifyStep; 7] = [
        NotifyStep::Opened,
        NotifyStep::Joined,
        NotifyStep::Diagnosed,
        NotifyStep::Runbook,
        NotifyStep::Recovered,
        NotifyStep::Resolved,
        NotifyStep::Escalation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotifyStep::Opened => "opened",
            NotifyStep::Joined => "joined",
            NotifyStep::Diagnosed => "diagnosed",
            NotifyStep::Runbook => "runbook",
            NotifyStep::Recovered => "recovered",
            NotifyStep::Resolved => "resolved",
            NotifyStep::Escalation => "escalation",
        }
    }

    pub fn parse(name: &str) -> Option<NotifyStep> {
        NotifyStep::ALL
            .into_iter()
            .find(|s| s.as_str() == name.trim())
    }
}

/// Which steps are posted for each impact, and how often joined signals are summed up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationPolicy {
    /// Index 0 is impact 1.
    steps: [Vec<NotifyStep>; 5],
    /// At most one "N more signals joined" post per incident per this many seconds.
    pub joined_interval_secs: u64,
}

impl Default for NotificationPolicy {
    /// Impact 1–2: every step; 3: opened, diagnosed, resolved; 4–5: opened and resolved;
    /// 3–5 also escalation (a person's acknowledgement or "Escalate now"); joined signals summed
    /// up every 15 minutes.
    fn default() -> Self {
        let all = NotifyStep::ALL.to_vec();
        let medium = vec![
            NotifyStep::Opened,
            NotifyStep::Diagnosed,
            NotifyStep::Resolved,
            NotifyStep::Escalation,
        ];
        let low = vec![
            NotifyStep::Opened,
            NotifyStep::Resolved,
            NotifyStep::Escalation,
        ];
        NotificationPolicy {
            steps: [all.clone(), all, medium, low.clone(), low],
            joined_interval_secs: 15 * 60,
        }
    }
}

impl NotificationPolicy {
    /// Whether an incident of this impact posts this step.
    pub fn posts(&self, impact: Impact, step: NotifyStep) -> bool {
        self.steps
            .get(usize::from(impact.get()).saturating_sub(1))
            .is_some_and(|steps| steps.contains(&step))
    }

    /// The steps an incident of this impact posts, in lifecycle order.
    pub fn steps_for(&self, impact: Impact) -> &[NotifyStep] {
        self.steps
            .get(usize::from(impact.get()).saturating_sub(1))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

/// The longest `notifications.joined_interval`.
const MAX_JOINED_INTERVAL_SECS: u64 = 86_400;

pub(super) fn load_notifications(raw: &RawNotifications) -> Result<NotificationPolicy, RulesError> {
    let mut policy = NotificationPolicy::default();
    for (impact, steps) in &raw.steps {
        let field = format!("notifications.steps.{impact}");
        if !(1..=5).contains(impact) {
            return Err(RulesError::doc(
                Some(&field),
                format!("impact must be 1..=5, got {impact}"),
            ));
        }
        let names = match steps {
            OneOrMany::One(name) if name.trim() == "all" => NotifyStep::ALL
                .iter()
                .map(|s| s.as_str().to_string())
                .collect(),
            OneOrMany::One(name) => vec![name.clone()],
            OneOrMany::Many(names) => names.clone(),
            OneOrMany::None => Vec::new(),
        };
        let mut parsed = Vec::new();
        for name in &names {
            let step = NotifyStep::parse(name).ok_or_else(|| {
                RulesError::doc(
                    Some(&field),
                    format!(
                        "`{name}` is not a step (use `all` or a list of: opened, joined, diagnosed, runbook, recovered, resolved)"
                    ),
                )
            })?;
            if !parsed.contains(&step) {
                parsed.push(step);
            }
        }
        parsed.sort();
        if let Some(slot) = policy.steps.get_mut(usize::from(*impact) - 1) {
            *slot = parsed;
        }
    }
    if let Some(raw) = &raw.joined_interval {
        let seconds = raw
            .seconds()
            .map_err(|m| RulesError::doc(Some("notifications.joined_interval"), m))?;
        if seconds > MAX_JOINED_INTERVAL_SECS {
            return Err(RulesError::doc(
                Some("notifications.joined_interval"),
                format!("{seconds} s is longer than the 1-day maximum"),
            ));
        }
        policy.joined_interval_secs = seconds;
    }
    Ok(policy)
}
