//! Validating the document as written into [`Rules`](super::Rules): each tier's impacts, each
//! rule's fields, its runbook block and its matcher. Any mistake names the rule and the field.

use std::collections::BTreeMap;

use super::document::{window_seconds, RawMatch, RawRule, RawRunbook};
use super::matcher::Matcher;
use super::runbook::{known_runbook, ParamTemplate};
use super::template::Template;
use super::{parse_severity, severity_index, Rule, RulesError};
use crate::domain::{Impact, RunbookRef, Severity};

pub(super) fn load_tiers(
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

pub(super) fn load_rule(
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
        escalation: None,
    })
}

/// The longest parameter name SSM accepts (`StartAutomationExecution` `Parameters` keys).
pub(super) const RUNBOOK_PARAMETER_NAME_MAX: usize = 50;
/// The most parameters SSM accepts in one `StartAutomationExecution`.
pub(super) const RUNBOOK_PARAMETERS_MAX: usize = 200;

/// A rule's `runbook` block: the document's name and version, and every parameter template
/// (syntax, placeholder names, and — for a document in [`KNOWN_RUNBOOKS`] — parameter names,
/// required parameters and literal values).
pub(super) fn load_runbook(id: &str, rb: RawRunbook) -> Result<RunbookRef, RulesError> {
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

pub(super) fn load_matcher(id: &str, raw: RawMatch) -> Result<Matcher, RulesError> {
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
