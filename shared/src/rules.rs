//! The rules document: data, not code.
//!
//! A YAML document maps signals to a service, a business-impact tier and a severity; the impact
//! matrix (tier × severity) gives the incident's impact, 1 (critical) … 5 (none). Rules are
//! tried in order and the first that matches wins; a signal no rule matches is ignored.
//! A document with a mistake is rejected whole, with an error naming the rule and the field.
//! The format is described in the README ("Rules").

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Deserialize;

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
    rules: Vec<serde_norway::Value>,
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
        })
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
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
    let runbook = match raw.runbook {
        Some(rb) => {
            if rb.document.trim().is_empty() {
                return Err(RulesError::rule(
                    &id,
                    "runbook.document",
                    "must not be empty",
                ));
            }
            Some(RunbookRef {
                document: rb.document,
                version: rb.version,
                parameters: rb.parameters,
            })
        }
        None => None,
    };
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

#[derive(Debug, Clone)]
struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
enum Part {
    Text(String),
    /// Alternatives, first with a value wins.
    Field(Vec<Field>),
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
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .ok_or_else(|| format!("`{{` without a closing `}}` in `{text}`"))?;
            let alternatives = after[..close]
                .split('|')
                .map(Field::parse)
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

#[cfg(test)]
mod tests;
