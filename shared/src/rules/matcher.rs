//! A rule's `match` conditions: every condition given must hold; strings accept `*` and `?`.

use std::collections::BTreeMap;

use crate::domain::{Severity, Signal, SignalKind, SignalState};

#[derive(Debug, Clone, Default)]
pub(super) struct Matcher {
    pub(super) source: Vec<String>,
    pub(super) detail_type: Vec<String>,
    pub(super) kind: Vec<SignalKind>,
    pub(super) state: Vec<SignalState>,
    pub(super) alarm_name: Vec<String>,
    pub(super) namespace: Vec<String>,
    pub(super) metric_name: Vec<String>,
    pub(super) dimensions: BTreeMap<String, String>,
    pub(super) tags: BTreeMap<String, String>,
    pub(super) finding_type: Vec<String>,
    pub(super) severity: Vec<Severity>,
    pub(super) min_severity: Option<Severity>,
    pub(super) min_score: Option<f64>,
}

impl Matcher {
    pub(super) fn is_empty(&self) -> bool {
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
    pub(super) fn matches(&self, s: &Signal) -> bool {
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
