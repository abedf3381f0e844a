//! The rules document: data, not code.
//!
//! A YAML document maps signals to a service, a business-impact tier and a severity; the impact
//! matrix (tier × severity) gives the incident's impact, 1 (critical) … 5 (none). Rules are
//! tried in order and the first that matches wins; a signal no rule matches is ignored.
//! A document with a mistake is rejected whole, with an error naming the rule and the field.
//! The format is described in the README ("Rules").

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::domain::{
    Category, Classification, Impact, RunbookRef, Severity, Signal, SignalKind, SignalState,
};

/// The default rules, embedded at build time.
pub const DEFAULT_RULES: &str = include_str!("../../infra/rules/default.yaml");

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
    fn doc(field: Option<&str>, message: impl Into<String>) -> Self {
        RulesError {
            rule: None,
            field: field.map(str::to_string),
            message: message.into(),
        }
    }

    fn rule(rule: &str, field: &str, message: impl Into<String>) -> Self {
        RulesError {
            rule: Some(rule.to_string()),
            field: Some(field.to_string()),
            message: message.into(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The document as written.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDocument {
    version: u32,
    tiers: BTreeMap<String, BTreeMap<String, u8>>,
    #[serde(default)]
    defaults: RawDefaults,
    #[serde(default)]
    notifications: RawNotifications,
    rules: Vec<serde_norway::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotifications {
    /// Impact (1–5) → `all` or a list of steps.
    #[serde(default)]
    steps: BTreeMap<u8, OneOrMany>,
    #[serde(default)]
    joined_interval: Option<RawDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    severity: Option<String>,
    correlation_window: Option<RawDuration>,
    auto_resolve: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(rename = "match")]
    matcher: RawMatch,
    service: String,
    tier: String,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    dedupe_key: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    category: Option<Category>,
    #[serde(default)]
    suppress: bool,
    #[serde(default)]
    correlation_window: Option<RawDuration>,
    #[serde(default)]
    runbook: Option<RawRunbook>,
    #[serde(default)]
    auto_resolve: Option<bool>,
    #[serde(default)]
    next_steps: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatch {
    #[serde(default)]
    source: OneOrMany,
    #[serde(default)]
    detail_type: OneOrMany,
    #[serde(default)]
    kind: OneOrMany<SignalKind>,
    #[serde(default)]
    state: OneOrMany<SignalState>,
    #[serde(default)]
    alarm_name: OneOrMany,
    #[serde(default)]
    namespace: OneOrMany,
    #[serde(default)]
    metric_name: OneOrMany,
    #[serde(default)]
    dimensions: BTreeMap<String, String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    finding_type: OneOrMany,
    #[serde(default)]
    severity: OneOrMany,
    #[serde(default)]
    min_severity: Option<String>,
    #[serde(default)]
    min_score: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRunbook {
    document: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    parameters: BTreeMap<String, String>,
}

/// One value or a list of values.
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
enum OneOrMany<T = String> {
    One(T),
    Many(Vec<T>),
    #[default]
    None,
}

impl<T> OneOrMany<T> {
    fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::None => Vec::new(),
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// `90`, `"90s"`, `"30m"`, `"1h"`, `"2d"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawDuration {
    Seconds(u64),
    Text(String),
}

impl RawDuration {
    fn seconds(&self) -> Result<u64, String> {
        match self {
            RawDuration::Seconds(s) => Ok(*s),
            RawDuration::Text(text) => parse_duration(text),
        }
    }
}

fn parse_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let bad = || format!("`{text}` is not a duration (use 90s, 30m, 1h or 2d)");
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let multiplier = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return text.parse::<u64>().map_err(|_| bad()),
    };
    let seconds = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(bad)?;
    Ok(seconds)
}

fn window_seconds(raw: &RawDuration) -> Result<u64, String> {
    let seconds = raw.seconds()?;
    if seconds > MAX_CORRELATION_WINDOW_SECS {
        return Err(format!("{seconds} s is longer than the 30-day maximum"));
    }
    Ok(seconds)
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
}

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
}

impl NotifyStep {
    pub const ALL: [NotifyStep; 6] = [
        NotifyStep::Opened,
        NotifyStep::Joined,
        NotifyStep::Diagnosed,
        NotifyStep::Runbook,
        NotifyStep::Recovered,
        NotifyStep::Resolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotifyStep::Opened => "opened",
            NotifyStep::Joined => "joined",
            NotifyStep::Diagnosed => "diagnosed",
            NotifyStep::Runbook => "runbook",
            NotifyStep::Recovered => "recovered",
            NotifyStep::Resolved => "resolved",
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
    /// joined signals summed up every 15 minutes.
    fn default() -> Self {
        let all = NotifyStep::ALL.to_vec();
        let medium = vec![
            NotifyStep::Opened,
            NotifyStep::Diagnosed,
            NotifyStep::Resolved,
        ];
        let low = vec![NotifyStep::Opened, NotifyStep::Resolved];
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

fn load_notifications(raw: &RawNotifications) -> Result<NotificationPolicy, RulesError> {
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
}

#[derive(Debug, Clone, Default)]
struct Matcher {
    source: Vec<String>,
    detail_type: Vec<String>,
    kind: Vec<SignalKind>,
    state: Vec<SignalState>,
    alarm_name: Vec<String>,
    namespace: Vec<String>,
    metric_name: Vec<String>,
    dimensions: BTreeMap<String, String>,
    tags: BTreeMap<String, String>,
    finding_type: Vec<String>,
    severity: Vec<Severity>,
    min_severity: Option<Severity>,
    min_score: Option<f64>,
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

        let mut rules = Vec::with_capacity(raw.rules.len());
        let mut seen = BTreeSet::new();
        for (index, value) in raw.rules.into_iter().enumerate() {
            let label = rule_label(&value, index);
            let raw_rule: RawRule = serde_norway::from_value(value).map_err(|e| RulesError {
                rule: Some(label.clone()),
                field: None,
                message: e.to_string(),
            })?;
            if !seen.insert(raw_rule.id.clone()) {
                return Err(RulesError::rule(&label, "id", "the same id is used twice"));
            }
            rules.push(load_rule(
                raw_rule,
                &tiers,
                default_window,
                default_auto_resolve,
            )?);
        }
        Ok(Rules {
            tiers,
            default_severity,
            rules,
            notifications,
        })
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Which lifecycle steps `notify` posts, by impact.
    pub fn notifications(&self) -> &NotificationPolicy {
        &self.notifications
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

fn rule_label(value: &serde_norway::Value, index: usize) -> String {
    match value.get("id").and_then(|v| v.as_str()) {
        Some(id) if !id.trim().is_empty() => id.to_string(),
        _ => format!("#{}", index + 1),
    }
}

fn severity_index(severity: Severity) -> usize {
    match severity {
        Severity::Informational => 0,
        Severity::Low => 1,
        Severity::Medium => 2,
        Severity::High => 3,
        Severity::Critical => 4,
    }
}

fn parse_severity(label: &str) -> Result<Severity, String> {
    Severity::parse(label).ok_or_else(|| {
        format!("unknown severity `{label}` (use critical, high, medium, low or informational)")
    })
}

fn load_tiers(
    raw: &BTreeMap<String, BTreeMap<String, u8>>,
) -> Result<BTreeMap<String, [Impact; 5]>, RulesError> {
    if raw.is_empty() {
        return Err(RulesError::doc(
            Some("tiers"),
            "at least one tier is needed",
        ));
    }
    let mut tiers = BTreeMap::new();
    for (name, row) in raw {
        let field = format!("tiers.{name}");
        for key in row.keys() {
            if Severity::parse(key).is_none() {
                return Err(RulesError::doc(
                    Some(&field),
                    format!("unknown severity `{key}` (use critical, high, medium, low or informational)"),
                ));
            }
        }
        let mut impacts = [Impact::NONE; 5];
        for severity in Severity::ALL {
            let value = row
                .iter()
                .find(|(k, _)| Severity::parse(k) == Some(severity))
                .map(|(_, v)| *v)
                .ok_or_else(|| {
                    RulesError::doc(
                        Some(&field),
                        format!("no impact for severity `{severity}`: every tier maps all five severities"),
                    )
                })?;
            impacts[severity_index(severity)] = Impact::new(value).ok_or_else(|| {
                RulesError::doc(
                    Some(&format!("{field}.{severity}")),
                    format!("impact must be 1 (critical) … 5 (none), got {value}"),
                )
            })?;
        }
        tiers.insert(name.clone(), impacts);
    }
    Ok(tiers)
}

fn load_rule(
    raw: RawRule,
    tiers: &BTreeMap<String, [Impact; 5]>,
    default_window: u64,
    default_auto_resolve: bool,
) -> Result<Rule, RulesError> {
    let id = raw.id.trim().to_string();
    if id.is_empty() {
        return Err(RulesError::rule("?", "id", "must not be empty"));
    }
    if raw.service.trim().is_empty() {
        return Err(RulesError::rule(&id, "service", "must not be empty"));
    }
    if !tiers.contains_key(&raw.tier) {
        let known: Vec<&str> = tiers.keys().map(String::as_str).collect();
        return Err(RulesError::rule(
            &id,
            "tier",
            format!("unknown tier `{}` (known: {})", raw.tier, known.join(", ")),
        ));
    }
    let severity = raw
        .severity
        .as_deref()
        .map(parse_severity)
        .transpose()
        .map_err(|m| RulesError::rule(&id, "severity", m))?;
    let matcher = load_matcher(&id, raw.matcher)?;
    let dedupe_key = Template::parse(raw.dedupe_key.as_deref().unwrap_or("{rule}:{resource}"))
        .map_err(|m| RulesError::rule(&id, "dedupe_key", m))?;
    let title = raw
        .title
        .as_deref()
        .map(Template::parse)
        .transpose()
        .map_err(|m| RulesError::rule(&id, "title", m))?;
    let correlation_window_secs = match &raw.correlation_window {
        Some(d) => window_seconds(d).map_err(|m| RulesError::rule(&id, "correlation_window", m))?,
        None => default_window,
    };
    let runbook = raw.runbook.map(|rb| load_runbook(&id, rb)).transpose()?;
    if raw.suppress && runbook.is_some() {
        return Err(RulesError::rule(
            &id,
            "runbook",
            "a suppressing rule opens no incident, so it cannot run a runbook",
        ));
    }
    Ok(Rule {
        id,
        description: raw.description,
        matcher,
        service: raw.service,
        tier: raw.tier,
        severity,
        dedupe_key,
        title,
        category: raw.category,
        suppress: raw.suppress,
        correlation_window_secs,
        runbook,
        auto_resolve: raw.auto_resolve.unwrap_or(default_auto_resolve),
        next_steps: raw.next_steps,
    })
}

/// The longest parameter name SSM accepts (`StartAutomationExecution` `Parameters` keys).
const RUNBOOK_PARAMETER_NAME_MAX: usize = 50;
/// The most parameters SSM accepts in one `StartAutomationExecution`.
const RUNBOOK_PARAMETERS_MAX: usize = 200;

/// A rule's `runbook` block: the document's name and version, and every parameter template
/// (syntax, placeholder names, and — for a document in [`KNOWN_RUNBOOKS`] — parameter names,
/// required parameters and literal values).
fn load_runbook(id: &str, rb: RawRunbook) -> Result<RunbookRef, RulesError> {
    let document = rb.document.trim().to_string();
    if document.is_empty() {
        return Err(RulesError::rule(
            id,
            "runbook.document",
            "must not be empty",
        ));
    }
    let valid_name = (3..=128).contains(&document.len())
        && document
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.:/".contains(&b));
    if !valid_name {
        return Err(RulesError::rule(
            id,
            "runbook.document",
            format!("`{document}` is not a document name or ARN (3–128 of A–Z a–z 0–9 _ - . : /)"),
        ));
    }
    let version = rb.version.map(|v| v.trim().to_string());
    if let Some(version) = &version {
        let numbered = !version.starts_with('0')
            && !version.is_empty()
            && version.bytes().all(|b| b.is_ascii_digit());
        if !(numbered || version == "$LATEST" || version == "$DEFAULT") {
            return Err(RulesError::rule(
                id,
                "runbook.version",
                format!("`{version}` is not a document version (use 1, 2, …, $LATEST or $DEFAULT)"),
            ));
        }
    }
    if rb.parameters.len() > RUNBOOK_PARAMETERS_MAX {
        return Err(RulesError::rule(
            id,
            "runbook.parameters",
            format!("at most {RUNBOOK_PARAMETERS_MAX} parameters"),
        ));
    }
    let known = known_runbook(&document);
    for (name, template) in &rb.parameters {
        let field = format!("runbook.parameters.{name}");
        if name.is_empty() || name.chars().count() > RUNBOOK_PARAMETER_NAME_MAX {
            return Err(RulesError::rule(
                id,
                &field,
                format!("a parameter name has 1–{RUNBOOK_PARAMETER_NAME_MAX} characters"),
            ));
        }
        let spec = match known {
            Some(known) => Some(known.parameter(name).ok_or_else(|| {
                RulesError::rule(
                    id,
                    &field,
                    format!(
                        "`{name}` is not a parameter of {document} (its parameters: {})",
                        known.parameter_names()
                    ),
                )
            })?),
            None => None,
        };
        let parsed = ParamTemplate::parse(template).map_err(|m| RulesError::rule(id, &field, m))?;
        if let (Some(check), Some(literal)) = (spec.and_then(|s| s.check), parsed.literal()) {
            check
                .check(literal)
                .map_err(|m| RulesError::rule(id, &field, format!("`{literal}` {m}")))?;
        }
    }
    if let Some(known) = known {
        let missing: Vec<&str> = known
            .parameters
            .iter()
            .filter(|p| p.required && !rb.parameters.contains_key(p.name))
            .map(|p| p.name)
            .collect();
        if !missing.is_empty() {
            return Err(RulesError::rule(
                id,
                "runbook.parameters",
                format!(
                    "{document} needs {} (templates like \"{{vpn.id}}\" take values from the incident)",
                    missing.join(", ")
                ),
            ));
        }
    }
    Ok(RunbookRef {
        document,
        version,
        parameters: rb.parameters,
    })
}

fn load_matcher(id: &str, raw: RawMatch) -> Result<Matcher, RulesError> {
    let severity = raw
        .severity
        .into_vec()
        .iter()
        .map(|s| parse_severity(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|m| RulesError::rule(id, "match.severity", m))?;
    let min_severity = raw
        .min_severity
        .as_deref()
        .map(parse_severity)
        .transpose()
        .map_err(|m| RulesError::rule(id, "match.min_severity", m))?;
    if let Some(score) = raw.min_score {
        if !score.is_finite() || score < 0.0 {
            return Err(RulesError::rule(
                id,
                "match.min_score",
                "must be a number ≥ 0",
            ));
        }
    }
    let matcher = Matcher {
        source: raw.source.into_vec(),
        detail_type: raw.detail_type.into_vec(),
        kind: raw.kind.into_vec(),
        state: raw.state.into_vec(),
        alarm_name: raw.alarm_name.into_vec(),
        namespace: raw.namespace.into_vec(),
        metric_name: raw.metric_name.into_vec(),
        dimensions: raw.dimensions,
        tags: raw.tags,
        finding_type: raw.finding_type.into_vec(),
        severity,
        min_severity,
        min_score: raw.min_score,
    };
    if matcher.is_empty() {
        return Err(RulesError::rule(
            id,
            "match",
            "matches everything; give at least one condition (source, kind, alarm_name, …)",
        ));
    }
    Ok(matcher)
}

impl Matcher {
    fn is_empty(&self) -> bool {
        self.source.is_empty()
            && self.detail_type.is_empty()
            && self.kind.is_empty()
            && self.state.is_empty()
            && self.alarm_name.is_empty()
            && self.namespace.is_empty()
            && self.metric_name.is_empty()
            && self.dimensions.is_empty()
            && self.tags.is_empty()
            && self.finding_type.is_empty()
            && self.severity.is_empty()
            && self.min_severity.is_none()
            && self.min_score.is_none()
    }

    /// Every condition given must hold; within one condition, any listed value may match.
    fn matches(&self, s: &Signal) -> bool {
        any_glob(&self.source, Some(&s.source))
            && any_glob(&self.detail_type, Some(&s.detail_type))
            && (self.kind.is_empty() || self.kind.contains(&s.kind))
            && (self.state.is_empty() || self.state.contains(&s.state))
            && any_glob(&self.alarm_name, s.alarm_name.as_deref())
            && self.metric_matches(s)
            && self
                .dimensions
                .iter()
                .all(|(name, pattern)| s.dimension(name).is_some_and(|v| glob(pattern, v)))
            && self
                .tags
                .iter()
                .all(|(name, pattern)| s.tag(name).is_some_and(|v| glob(pattern, v)))
            && any_glob(&self.finding_type, s.finding_type.as_deref())
            && (self.severity.is_empty() || s.severity.is_some_and(|v| self.severity.contains(&v)))
            && self
                .min_severity
                .is_none_or(|min| s.severity.is_some_and(|v| v >= min))
            && self
                .min_score
                .is_none_or(|min| s.severity_score.is_some_and(|v| v >= min))
    }

    /// Namespace and metric name must hold for the same metric of the alarm.
    fn metric_matches(&self, s: &Signal) -> bool {
        if self.namespace.is_empty() && self.metric_name.is_empty() {
            return true;
        }
        s.metrics.iter().any(|m| {
            any_glob(&self.namespace, m.namespace.as_deref())
                && any_glob(&self.metric_name, m.name.as_deref())
        })
    }
}

/// True when there are no patterns, or the value matches one of them.
fn any_glob(patterns: &[String], value: Option<&str>) -> bool {
    patterns.is_empty() || value.is_some_and(|v| patterns.iter().any(|p| glob(p, v)))
}

/// Shell-style wildcard match: `*` any run of characters, `?` one character; case-sensitive.
pub fn glob(pattern: &str, text: &str) -> bool {
    if !pattern.contains(['*', '?']) {
        return pattern == text;
    }
    // Bytes are characters when both sides are ASCII, or when no `?` has to match exactly one
    // (possibly multi-byte) character: then no allocation is needed.
    if pattern.is_ascii() && (text.is_ascii() || !pattern.contains('?')) {
        return glob_units(pattern.as_bytes(), text.as_bytes());
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    glob_units(&p, &t)
}

/// Wildcard matching over units (bytes or chars), with single-star backtracking.
fn glob_units<T: Copy + PartialEq + From<u8>>(p: &[T], t: &[T]) -> bool {
    let (star, any) = (T::from(b'*'), T::from(b'?'));
    let (mut pi, mut ti) = (0, 0);
    let mut resume: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == any || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == star {
            resume = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = resume {
            pi = sp + 1;
            ti = st + 1;
            resume = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == star)
}

// ---------------------------------------------------------------------------------------------
// Templates: `{rule}:{dimension.VpnId|tag.VpnId|resource}`.

/// Literal text and `{a|b}` placeholders; `F` is the placeholder vocabulary ([`Field`] for the
/// rule's own templates, [`RunbookField`] for runbook parameters).
#[derive(Debug, Clone)]
struct Template<F = Field> {
    parts: Vec<Part<F>>,
}

#[derive(Debug, Clone)]
enum Part<F = Field> {
    Text(String),
    /// Alternatives, first with a value wins.
    Field(Vec<F>),
}

#[derive(Debug, Clone)]
enum Field {
    Rule,
    Service,
    Source,
    DetailType,
    Kind,
    Account,
    Region,
    Resource,
    AlarmName,
    FindingType,
    FindingId,
    Severity,
    Summary,
    Dimension(String),
    Tag(String),
}

const FIELD_NAMES: &str = "rule, service, source, detail_type, kind, account, region, resource, \
alarm_name, finding_type, finding_id, severity, summary, dimension.<Name>, tag.<Key>";

impl Template {
    fn parse(text: &str) -> Result<Template, String> {
        Template::parse_with(text, Field::parse)
    }
}

impl<F> Template<F> {
    fn parse_with(
        text: &str,
        field: impl Fn(&str) -> Result<F, String>,
    ) -> Result<Template<F>, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if rest[..open].contains('}') {
                return Err(format!("`}}` without an opening `{{` in `{text}`"));
            }
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .ok_or_else(|| format!("`{{` without a closing `}}` in `{text}`"))?;
            let alternatives = after[..close]
                .split('|')
                .map(&field)
                .collect::<Result<Vec<_>, _>>()?;
            parts.push(Part::Field(alternatives));
            rest = &after[close + 1..];
        }
        if rest.contains('}') {
            return Err(format!("`}}` without an opening `{{` in `{text}`"));
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        if parts.is_empty() {
            return Err("must not be empty".to_string());
        }
        Ok(Template { parts })
    }
}

impl Template {
    /// The rendered text; `None` when a placeholder has no value in any alternative.
    fn render(&self, s: &Signal, rule: &Rule) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Field(alternatives) => {
                    let value = alternatives.iter().find_map(|f| f.value(s, rule))?;
                    out.push_str(&value);
                }
            }
        }
        Some(out)
    }
}

impl Field {
    fn parse(name: &str) -> Result<Field, String> {
        let name = name.trim();
        let field = match name {
            "rule" => Field::Rule,
            "service" => Field::Service,
            "source" => Field::Source,
            "detail_type" => Field::DetailType,
            "kind" => Field::Kind,
            "account" => Field::Account,
            "region" => Field::Region,
            "resource" => Field::Resource,
            "alarm_name" => Field::AlarmName,
            "finding_type" => Field::FindingType,
            "finding_id" => Field::FindingId,
            "severity" => Field::Severity,
            "summary" => Field::Summary,
            _ => match name.split_once('.') {
                Some(("dimension", dim)) if !dim.is_empty() => Field::Dimension(dim.to_string()),
                Some(("tag", key)) if !key.is_empty() => Field::Tag(key.to_string()),
                _ => {
                    return Err(format!(
                        "unknown placeholder `{{{name}}}` (known: {FIELD_NAMES})"
                    ))
                }
            },
        };
        Ok(field)
    }

    fn value(&self, s: &Signal, rule: &Rule) -> Option<String> {
        let non_empty = |v: &str| (!v.is_empty()).then(|| v.to_string());
        match self {
            Field::Rule => Some(rule.id.clone()),
            Field::Service => Some(rule.service.clone()),
            Field::Source => non_empty(&s.source),
            Field::DetailType => non_empty(&s.detail_type),
            Field::Kind => Some(s.kind.as_str().to_string()),
            Field::Account => non_empty(&s.account),
            Field::Region => non_empty(&s.region),
            Field::Resource => non_empty(&s.resource),
            Field::AlarmName => s.alarm_name.as_deref().and_then(non_empty),
            Field::FindingType => s.finding_type.as_deref().and_then(non_empty),
            Field::FindingId => s.finding_id.as_deref().and_then(non_empty),
            Field::Severity => rule.severity.or(s.severity).map(|v| v.to_string()),
            Field::Summary => non_empty(&s.summary),
            Field::Dimension(name) => s.dimension(name).and_then(non_empty),
            Field::Tag(key) => s.tag(key).and_then(non_empty),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Runbook parameters: templates over what the `runbook` stage knows about an incident, and the
// runbooks whose parameters it knows.
//
// A parameter's template is literal text and `{a|b}` placeholders, like the rule's own templates
// (the first alternative with a value wins). The vocabulary:
//
// - `vpn.id`, `vpn.customer_gateway_id`: the VPN connection `enrich` described;
// - `tunnel_a.*`, `tunnel_b.*`: tunnel A is the first tunnel reported DOWN (else the first
//   tunnel), tunnel B the other one; each has
//   - `ip`: its outside IP address,
//   - `ike_version`: `IKEv1` or `IKEv2` when the tunnel allows exactly that one, else `IKEv2`
//     (both or none configured; the timeline says so),
//   - `log_group`: its CloudWatch Logs log group's name, only when tunnel logging is enabled in
//     JSON format (what AWSSupport-TroubleshootVPN reads);
// - `automation_role`: the runbook function's `AUTOMATION_ROLE_ARN`;
// - `incident.id`: the incident record ARN or OpsItem id; `rule`: the rule's id;
// - `account`, `region`, `resource`, `dimension.<Name>`, `tag.<Key>`: from the signal.

/// Which of a VPN's tunnels a placeholder means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelSide {
    /// The first tunnel reported DOWN, else the first tunnel.
    A,
    /// The first tunnel that is not tunnel A.
    B,
}

impl TunnelSide {
    pub fn as_str(self) -> &'static str {
        match self {
            TunnelSide::A => "tunnel_a",
            TunnelSide::B => "tunnel_b",
        }
    }
}

/// One placeholder of a runbook parameter template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunbookField {
    VpnId,
    CustomerGatewayId,
    TunnelIp(TunnelSide),
    TunnelIkeVersion(TunnelSide),
    TunnelLogGroup(TunnelSide),
    AutomationRole,
    IncidentId,
    Rule,
    Account,
    Region,
    Resource,
    Dimension(String),
    Tag(String),
}

/// Every placeholder a runbook parameter template may use.
pub const RUNBOOK_FIELD_NAMES: &str = "vpn.id, vpn.customer_gateway_id, tunnel_a.ip, \
tunnel_a.ike_version, tunnel_a.log_group, tunnel_b.ip, tunnel_b.ike_version, tunnel_b.log_group, \
automation_role, incident.id, rule, account, region, resource, dimension.<Name>, tag.<Key>";

impl RunbookField {
    fn parse(name: &str) -> Result<RunbookField, String> {
        let name = name.trim();
        let field = match name {
            "vpn.id" => RunbookField::VpnId,
            "vpn.customer_gateway_id" => RunbookField::CustomerGatewayId,
            "automation_role" => RunbookField::AutomationRole,
            "incident.id" => RunbookField::IncidentId,
            "rule" => RunbookField::Rule,
            "account" => RunbookField::Account,
            "region" => RunbookField::Region,
            "resource" => RunbookField::Resource,
            _ => match name.split_once('.') {
                Some((tunnel @ ("tunnel_a" | "tunnel_b"), what)) => {
                    let side = if tunnel == "tunnel_a" {
                        TunnelSide::A
                    } else {
                        TunnelSide::B
                    };
                    match what {
                        "ip" => RunbookField::TunnelIp(side),
                        "ike_version" => RunbookField::TunnelIkeVersion(side),
                        "log_group" => RunbookField::TunnelLogGroup(side),
                        _ => return Err(unknown_runbook_field(name)),
                    }
                }
                Some(("dimension", dim)) if !dim.is_empty() => {
                    RunbookField::Dimension(dim.to_string())
                }
                Some(("tag", key)) if !key.is_empty() => RunbookField::Tag(key.to_string()),
                _ => return Err(unknown_runbook_field(name)),
            },
        };
        Ok(field)
    }

    /// The placeholder as written (`tunnel_a.ip`).
    pub fn name(&self) -> String {
        match self {
            RunbookField::VpnId => "vpn.id".into(),
            RunbookField::CustomerGatewayId => "vpn.customer_gateway_id".into(),
            RunbookField::TunnelIp(side) => format!("{}.ip", side.as_str()),
            RunbookField::TunnelIkeVersion(side) => format!("{}.ike_version", side.as_str()),
            RunbookField::TunnelLogGroup(side) => format!("{}.log_group", side.as_str()),
            RunbookField::AutomationRole => "automation_role".into(),
            RunbookField::IncidentId => "incident.id".into(),
            RunbookField::Rule => "rule".into(),
            RunbookField::Account => "account".into(),
            RunbookField::Region => "region".into(),
            RunbookField::Resource => "resource".into(),
            RunbookField::Dimension(name) => format!("dimension.{name}"),
            RunbookField::Tag(key) => format!("tag.{key}"),
        }
    }
}

fn unknown_runbook_field(name: &str) -> String {
    format!("unknown placeholder `{{{name}}}` (known: {RUNBOOK_FIELD_NAMES})")
}

/// A runbook parameter's template, parsed.
#[derive(Debug, Clone)]
pub struct ParamTemplate(Template<RunbookField>);

/// A piece of a [`ParamTemplate`].
#[derive(Debug, Clone, Copy)]
pub enum ParamPart<'a> {
    Text(&'a str),
    /// Alternatives: the first with a value wins.
    Field(&'a [RunbookField]),
}

impl ParamTemplate {
    /// Parses `text`; the error says what is wrong (unbalanced braces, an unknown placeholder).
    pub fn parse(text: &str) -> Result<ParamTemplate, String> {
        Template::parse_with(text, RunbookField::parse).map(ParamTemplate)
    }

    pub fn parts(&self) -> impl Iterator<Item = ParamPart<'_>> {
        self.0.parts.iter().map(|part| match part {
            Part::Text(text) => ParamPart::Text(text),
            Part::Field(alternatives) => ParamPart::Field(alternatives),
        })
    }

    /// The text, when the template is literal (no placeholder).
    pub fn literal(&self) -> Option<&str> {
        match self.0.parts.as_slice() {
            [Part::Text(text)] => Some(text),
            _ => None,
        }
    }
}

/// What a runbook parameter's value must look like, checked by hand (no regex engine in the
/// binary). Each mirrors the pattern the runbook documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueCheck {
    /// `^vpn-[0-9a-f]{8,17}$`
    VpnConnectionId,
    /// A dotted-quad IPv4 address (no leading zeros).
    Ipv4,
    /// One of the listed values, exactly.
    OneOf(&'static [&'static str]),
    /// `^[\.\-_/#A-Za-z0-9]{1,512}$`
    LogGroupName,
    /// Hours as two digits, `01`–`99`.
    TwoDigitHours,
    /// `^arn:aws[a-z0-9-]*:iam::\d{12}:role/[\w+=/,.@-]+$`
    IamRoleArn,
}

impl ValueCheck {
    /// `Ok` when `value` is acceptable; else what it must be ("must be …").
    pub fn check(self, value: &str) -> Result<(), String> {
        let ok = match self {
            ValueCheck::VpnConnectionId => value.strip_prefix("vpn-").is_some_and(|hex| {
                (8..=17).contains(&hex.len())
                    && hex
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            }),
            ValueCheck::Ipv4 => is_ipv4(value),
            ValueCheck::OneOf(allowed) => allowed.contains(&value),
            ValueCheck::LogGroupName => {
                (1..=512).contains(&value.len())
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b".-_/#".contains(&b))
            }
            ValueCheck::TwoDigitHours => {
                value.len() == 2 && value.bytes().all(|b| b.is_ascii_digit()) && value != "00"
            }
            ValueCheck::IamRoleArn => is_role_arn(value),
        };
        if ok {
            Ok(())
        } else {
            Err(format!("must be {}", self.describe()))
        }
    }

    /// What a valid value looks like, for people.
    pub fn describe(self) -> String {
        match self {
            ValueCheck::VpnConnectionId => {
                "a VPN connection id (vpn- and 8 to 17 lowercase hex digits)".into()
            }
            ValueCheck::Ipv4 => "an IPv4 address".into(),
            ValueCheck::OneOf(allowed) => format!("one of {}", allowed.join(", ")),
            ValueCheck::LogGroupName => {
                "a log group name (1 to 512 of A–Z a–z 0–9 . - _ / #)".into()
            }
            ValueCheck::TwoDigitHours => "a number of hours as two digits, 01 to 99".into(),
            ValueCheck::IamRoleArn => "an IAM role ARN (arn:aws:iam::<account>:role/<name>)".into(),
        }
    }
}

fn is_ipv4(value: &str) -> bool {
    let mut octets = 0;
    for octet in value.split('.') {
        octets += 1;
        let digits =
            !octet.is_empty() && octet.len() <= 3 && octet.bytes().all(|b| b.is_ascii_digit());
        let canonical = octet.len() == 1 || !octet.starts_with('0');
        if octets > 4 || !digits || !canonical || octet.parse::<u16>().map_or(true, |n| n > 255) {
            return false;
        }
    }
    octets == 4
}

fn is_role_arn(value: &str) -> bool {
    let Some((partition, rest)) = value.split_once(":iam::") else {
        return false;
    };
    let partition_ok = partition.strip_prefix("arn:aws").is_some_and(|p| {
        p.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    });
    let Some((account, role)) = rest.split_once(":role/") else {
        return false;
    };
    partition_ok
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && !role.is_empty()
        && role
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=/,.@-".contains(&b))
}

/// One parameter of a known runbook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamSpec {
    pub name: &'static str,
    /// A required parameter must have a value, or the runbook is not started; an optional one
    /// whose template has no value is left out.
    pub required: bool,
    pub check: Option<ValueCheck>,
}

/// A runbook whose parameters the responder knows (for any other document, every parameter in
/// the rule is required and only checked for being non-empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownRunbook {
    pub document: &'static str,
    /// In the order the runbook's documentation lists them.
    pub parameters: &'static [ParamSpec],
}

impl KnownRunbook {
    pub fn parameter(&self, name: &str) -> Option<&'static ParamSpec> {
        self.parameters.iter().find(|p| p.name == name)
    }

    fn parameter_names(&self) -> String {
        let names: Vec<&str> = self.parameters.iter().map(|p| p.name).collect();
        names.join(", ")
    }
}

const fn param(name: &'static str, required: bool, check: ValueCheck) -> ParamSpec {
    ParamSpec {
        name,
        required,
        check: Some(check),
    }
}

/// The runbooks the responder knows, with their documented parameters.
pub const KNOWN_RUNBOOKS: &[KnownRunbook] = &[KnownRunbook {
    // https://docs.aws.amazon.com/systems-manager-automation-runbooks/latest/userguide/automation-aws-troubleshoot-vpn.html
    document: "AWSSupport-TroubleshootVPN",
    parameters: &[
        param("VpnConnectionId", true, ValueCheck::VpnConnectionId),
        param("TunnelAIPAddress", true, ValueCheck::Ipv4),
        param("TunnelBIPAddress", false, ValueCheck::Ipv4),
        param("IKEVersion", true, ValueCheck::OneOf(&["IKEv1", "IKEv2"])),
        param("LogGroupName", true, ValueCheck::LogGroupName),
        param("LookBackPeriod", false, ValueCheck::TwoDigitHours),
        param("AutomationAssumeRole", false, ValueCheck::IamRoleArn),
    ],
}];

/// The known runbook named `document`, if it is one.
pub fn known_runbook(document: &str) -> Option<&'static KnownRunbook> {
    KNOWN_RUNBOOKS.iter().find(|k| k.document == document)
}

#[cfg(test)]
mod tests;
