//! The rules document: data, not code.
//!
//! A YAML document maps signals to a service, a business-impact tier and a severity; the impact
//! matrix (tier × severity) gives the incident's impact, 1 (critical) … 5 (none). Rules are
//! tried in order and the first that matches wins; a signal no rule matches is ignored.
//! A document with a mistake is rejected whole, with an error naming the rule and the field.
//! The format is described in the README ("Rules").
//!
//! - [`document`]: the YAML as written (serde types, durations);
//! - `load`: validating it into [`Rules`] (tiers, rules, runbook blocks, matchers);
//! - [`matcher`]: a rule's `match` conditions and wildcards;
//! - [`template`]: dedupe-key and title templates (`{rule}:{dimension.VpnId|resource}`);
//! - [`notifications`]: the `notifications` section (which steps an impact posts);
//! - [`runbook`]: runbook parameter templates and the runbooks the responder knows;
//! - [`quiet`]: the `windows`, `silences` and `inhibitions` sections (quiet hours), with
//!   [`schedule`] for recurring windows (cron in a time zone).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::domain::{Category, Classification, Impact, RunbookRef, Severity, Signal};

pub mod document;
pub mod escalation;
mod load;
pub mod matcher;
pub mod notifications;
pub mod quiet;
pub mod runbook;
pub mod schedule;
pub mod template;

use document::{window_seconds, RawDocument, RawRule};
use escalation::load_escalation;
use load::{load_rule, load_tiers};
use matcher::Matcher;
use notifications::load_notifications;
use quiet::load_quiet;
use template::Template;

pub use escalation::{Escalation, Policy, RuleEscalation, Step, Target};
pub use matcher::glob;
pub use notifications::{NotificationPolicy, NotifyStep};
pub use quiet::{CalendarState, Inhibition, Quiet, Window};
pub use runbook::{
    known_runbook, KnownRunbook, ParamPart, ParamSpec, ParamTemplate, RunbookField, TunnelSide,
    ValueCheck, KNOWN_RUNBOOKS, RUNBOOK_FIELD_NAMES,
};

/// The default rules, embedded at build time.
pub const DEFAULT_RULES: &str = include_str!("../../../infra/rules/default.yaml");

/// How long after recovery a re-fire still joins, when neither rule nor defaults say.
const DEFAULT_CORRELATION_WINDOW_SECS: u64 = 3600;
/// The longest correlation window a rule may ask for (30 days).
const MAX_CORRELATION_WINDOW_SECS: u64 = 30 * 86_400;

/// A rules document that failed to load: which rule, which field, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RulesError {
    pub rule: Option<String>,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for RulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid rules document")?;
        if let Some(rule) = &self.rule {
            write!(f, ": rule `{rule}`")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": field `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl RulesError {
    pub(crate) fn doc(field: Option<&str>, message: impl Into<String>) -> Self {
        RulesError {
            rule: None,
            field: field.map(str::to_string),
            message: message.into(),
        }
    }

    pub(crate) fn rule(rule: &str, field: &str, message: impl Into<String>) -> Self {
        RulesError {
            rule: Some(rule.to_string()),
            field: Some(field.to_string()),
            message: message.into(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The document as loaded.

/// A validated rules document.
#[derive(Debug, Clone)]
pub struct Rules {
    tiers: BTreeMap<String, [Impact; 5]>,
    default_severity: Severity,
    rules: Vec<Rule>,
    notifications: NotificationPolicy,
    escalation: Escalation,
    quiet: Quiet,
}

/// One validated rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub description: Option<String>,
    matcher: Matcher,
    pub service: String,
    pub tier: String,
    pub severity: Option<Severity>,
    dedupe_key: Template,
    title: Option<Template>,
    pub category: Option<Category>,
    pub suppress: bool,
    pub correlation_window_secs: u64,
    pub runbook: Option<RunbookRef>,
    pub auto_resolve: bool,
    pub next_steps: Vec<String>,
    /// The rule's own escalation policy (or `none`), over its service's and impact's.
    pub escalation: Option<RuleEscalation>,
}

impl Rules {
    /// The embedded default rules.
    pub fn embedded() -> Result<Rules, RulesError> {
        Rules::from_yaml(DEFAULT_RULES)
    }

    /// Parses and validates a whole document; any mistake rejects all of it.
    pub fn from_yaml(text: &str) -> Result<Rules, RulesError> {
        let raw: RawDocument = serde_norway::from_str(text)
            .map_err(|e| RulesError::doc(None, format!("not a valid rules document: {e}")))?;
        if raw.version != 1 {
            return Err(RulesError::doc(
                Some("version"),
                format!(
                    "unsupported version {} (this build reads version 1)",
                    raw.version
                ),
            ));
        }
        let tiers = load_tiers(&raw.tiers)?;
        let default_severity = match &raw.defaults.severity {
            Some(label) => {
                parse_severity(label).map_err(|m| RulesError::doc(Some("defaults.severity"), m))?
            }
            None => Severity::Medium,
        };
        let default_window = match &raw.defaults.correlation_window {
            Some(d) => window_seconds(d)
                .map_err(|m| RulesError::doc(Some("defaults.correlation_window"), m))?,
            None => DEFAULT_CORRELATION_WINDOW_SECS,
        };
        let default_auto_resolve = raw.defaults.auto_resolve.unwrap_or(false);
        let notifications = load_notifications(&raw.notifications)?;
        let escalation = load_escalation(raw.escalation.as_ref())?;

        let mut rules = Vec::with_capacity(raw.rules.len());
        let mut seen = BTreeSet::new();
        for (index, value) in raw.rules.into_iter().enumerate() {
            let label = rule_label(&value, index);
            let mut raw_rule: RawRule =
                serde_norway::from_value(value).map_err(|e| RulesError {
                    rule: Some(label.clone()),
                    field: None,
                    message: e.to_string(),
                })?;
            if !seen.insert(raw_rule.id.clone()) {
                return Err(RulesError::rule(&label, "id", "the same id is used twice"));
            }
            let choice = match raw_rule.escalation.take() {
                Some(name) => Some(
                    escalation
                        .rule_choice(&name)
                        .map_err(|m| RulesError::rule(&label, "escalation", m))?,
                ),
                None => None,
            };
            let mut rule = load_rule(raw_rule, &tiers, default_window, default_auto_resolve)?;
            rule.escalation = choice;
            rules.push(rule);
        }
        let ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
        let quiet = load_quiet(raw.windows, raw.silences, raw.inhibitions, &ids)?;
        Ok(Rules {
            tiers,
            default_severity,
            rules,
            notifications,
            escalation,
            quiet,
        })
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Which lifecycle steps `notify` posts, by impact.
    pub fn notifications(&self) -> &NotificationPolicy {
        &self.notifications
    }

    /// Who is paged for an unacknowledged incident, and when.
    pub fn escalation(&self) -> &Escalation {
        &self.escalation
    }

    /// Maintenance windows, silences' limits and inhibitions.
    pub fn quiet(&self) -> &Quiet {
        &self.quiet
    }

    /// The escalation policy for an incident of `rule` (by id), `service` and `impact`.
    pub fn escalation_for(&self, rule: &str, service: &str, impact: Impact) -> Option<&Policy> {
        let own = self
            .rules
            .iter()
            .find(|r| r.id == rule)
            .and_then(|r| r.escalation.as_ref());
        self.escalation.policy_for(own, service, impact)
    }

    pub fn tier_names(&self) -> impl Iterator<Item = &str> {
        self.tiers.keys().map(String::as_str)
    }

    /// The impact for a tier and a severity, from the matrix.
    pub fn impact(&self, tier: &str, severity: Severity) -> Option<Impact> {
        self.tiers
            .get(tier)
            .map(|row| row[severity_index(severity)])
    }

    /// The first rule that takes `source`'s own events (names it in `match.source`).
    pub fn rule_for_source(&self, source: &str) -> Option<&str> {
        self.rules
            .iter()
            .find(|r| r.matcher.source.iter().any(|s| s == source))
            .map(|r| r.id.as_str())
    }

    /// The first rule matching the signal, and what it decides; `None` when no rule matches.
    pub fn classify(&self, signal: &Signal) -> Option<Classification> {
        let rule = self.rules.iter().find(|r| r.matcher.matches(signal))?;
        let severity = rule
            .severity
            .or(signal.severity)
            .unwrap_or(self.default_severity);
        // Every rule's tier was checked against the matrix at load time.
        let impact = self.impact(&rule.tier, severity).unwrap_or(Impact::MEDIUM);
        let dedupe_key = rule
            .dedupe_key
            .render(signal, rule)
            .unwrap_or_else(|| format!("{}:{}", rule.id, signal.resource));
        let title = rule
            .title
            .as_ref()
            .and_then(|t| t.render(signal, rule))
            .unwrap_or_else(|| signal.summary.clone());
        Some(Classification {
            rule_id: rule.id.clone(),
            service: rule.service.clone(),
            tier: rule.tier.clone(),
            severity,
            impact,
            dedupe_key,
            title,
            category: rule.category.unwrap_or(signal.kind.default_category()),
            suppress: rule.suppress,
            correlation_window_secs: rule.correlation_window_secs,
            runbook: rule.runbook.clone(),
            auto_resolve: rule.auto_resolve,
            next_steps: rule.next_steps.clone(),
        })
    }
}

pub(super) fn rule_label(value: &serde_norway::Value, index: usize) -> String {
    match value.get("id").and_then(|v| v.as_str()) {
        Some(id) if !id.trim().is_empty() => id.to_string(),
        _ => format!("#{}", index + 1),
    }
}

pub(super) fn severity_index(severity: Severity) -> usize {
    match severity {
        Severity::Informational => 0,
        Severity::Low => 1,
        Severity::Medium => 2,
        Severity::High => 3,
        Severity::Critical => 4,
    }
}

pub(super) fn parse_severity(label: &str) -> Result<Severity, String> {
    Severity::parse(label).ok_or_else(|| {
        format!("unknown severity `{label}` (use critical, high, medium, low or informational)")
    })
}

#[cfg(test)]
mod tests;
