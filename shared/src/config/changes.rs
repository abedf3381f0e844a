//! Configuration of the `changes` function: the stage's variables, how far back to look and how
//! many changes to show.

use chrono::Duration;

use super::{trimmed, ConfigError, StageConfig};
use crate::rules::document::parse_duration;

/// `CHANGES_LOOKBACK` when unset: the three hours before the incident.
const LOOKBACK: i64 = 3 * 3600;
/// `CHANGES_MAX` when unset.
const MAX: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangesConfig {
    pub stage: StageConfig,
    /// `CHANGES_LOOKBACK`: how long before the signal fired to look (`90m`, `3h`, `2d`; 10
    /// minutes to 7 days).
    pub lookback: Duration,
    /// `CHANGES_MAX`: the most changes shown (1–50).
    pub max: usize,
}

impl ChangesConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let stage = StageConfig::from_lookup(&lookup)?;
        let lookback = match trimmed(&lookup, "CHANGES_LOOKBACK") {
            Some(text) => {
                let secs = parse_duration(&text)
                    .ok()
                    .and_then(|s| i64::try_from(s).ok())
                    .filter(|s| (600..=7 * 86_400).contains(s))
                    .ok_or_else(|| ConfigError::Invalid {
                        name: "CHANGES_LOOKBACK",
                        problem: format!("`{text}` is not a duration from 10m to 7d"),
                    })?;
                Duration::seconds(secs)
            }
            None => Duration::seconds(LOOKBACK),
        };
        let max = match trimmed(&lookup, "CHANGES_MAX") {
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=50).contains(n))
                .ok_or_else(|| ConfigError::Invalid {
                    name: "CHANGES_MAX",
                    problem: format!("`{text}` is not a number from 1 to 50"),
                })?,
            None => MAX,
        };
        Ok(ChangesConfig {
            stage,
            lookback,
            max,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &[(&str, &str)]) -> Result<ChangesConfig, ConfigError> {
        let mut vars = vec![
            ("INCIDENT_BACKEND", "opscenter"),
            ("RESPONDER_BUS", "responder"),
            ("STATE_TABLE", "state"),
        ];
        vars.extend_from_slice(extra);
        ChangesConfig::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn looks_back_three_hours_for_ten_changes_unless_told() {
        let c = config(&[]).unwrap();
        assert_eq!((c.lookback, c.max), (Duration::hours(3), 10));
        let c = config(&[("CHANGES_LOOKBACK", "90m"), ("CHANGES_MAX", "5")]).unwrap();
        assert_eq!((c.lookback, c.max), (Duration::minutes(90), 5));
        for bad in [
            ("CHANGES_LOOKBACK", "5m"),
            ("CHANGES_LOOKBACK", "8d"),
            ("CHANGES_LOOKBACK", "soon"),
            ("CHANGES_MAX", "0"),
            ("CHANGES_MAX", "51"),
        ] {
            assert!(
                matches!(config(&[bad]), Err(ConfigError::Invalid { name, .. }) if name == bad.0),
                "{bad:?}"
            );
        }
    }
}
