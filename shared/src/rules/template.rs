//! Templates: literal text and `{a|b}` placeholders, the first alternative with a value winning
//! (`{rule}:{dimension.VpnId|tag.VpnId|resource}`). `Field` is the vocabulary of a rule's own
//! templates (dedupe key, title); runbook parameters have their own ([`super::RunbookField`]).

use super::Rule;
use crate::domain::Signal;

/// Literal text and `{a|b}` placeholders; `F` is the placeholder vocabulary ([`Field`] for the
/// rule's own templates, [`RunbookField`] for runbook parameters).
#[derive(Debug, Clone)]
pub(super) struct Template<F = Field> {
    pub(super) parts: Vec<Part<F>>,
}

#[derive(Debug, Clone)]
pub(super) enum Part<F = Field> {
    Text(String),
    /// Alternatives, first with a value wins.
    Field(Vec<F>),
}

#[derive(Debug, Clone)]
pub(super) enum Field {
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
    pub(super) fn parse(text: &str) -> Result<Template, String> {
        Template::parse_with(text, Field::parse)
    }
}

impl<F> Template<F> {
    pub(super) fn parse_with(
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
    pub(super) fn render(&self, s: &Signal, rule: &Rule) -> Option<String> {
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
