//! Function configuration, read once at start-up from environment variables (**contract**:
//! every variable is listed in the README).

use std::path::PathBuf;

use crate::domain::Backend;
use crate::rules::{Rules, RulesError};

/// A missing or invalid setting; the function refuses to start with it.
#[derive(thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required but not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {problem}")]
    Invalid { name: &'static str, problem: String },
    #[error("cannot read the rules file {path} (RULES): {problem}")]
    RulesFile { path: String, problem: String },
    #[error(transparent)]
    Rules(#[from] RulesError),
}

/// `main` returning this error prints its `Debug` form: make that the sentence, not the struct.
impl std::fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// Configuration of the `triage` function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriageConfig {
    /// `INCIDENT_BACKEND`: `incident-manager` or `opscenter`.
    pub backend: Backend,
    /// `RESPONSE_PLAN_ARN`: required with the Incident Manager backend.
    pub response_plan_arn: Option<String>,
    /// `RESPONDER_BUS`: the responder event bus.
    pub responder_bus: String,
    /// `STATE_TABLE`: the DynamoDB state table.
    pub state_table: String,
    /// `RULES`: optional path of a rules file replacing the embedded default.
    pub rules_path: Option<PathBuf>,
}

impl TriageConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let require = |name: &'static str| get(name).ok_or(ConfigError::Missing(name));

        let backend_name = require("INCIDENT_BACKEND")?;
        let backend = Backend::parse(&backend_name).ok_or_else(|| ConfigError::Invalid {
            name: "INCIDENT_BACKEND",
            problem: format!("`{backend_name}` is neither `incident-manager` nor `opscenter`"),
        })?;
        let response_plan_arn = get("RESPONSE_PLAN_ARN");
        if backend == Backend::IncidentManager {
            match &response_plan_arn {
                None => return Err(ConfigError::Missing("RESPONSE_PLAN_ARN")),
                Some(arn) if !(arn.starts_with("arn:") && arn.contains(":response-plan/")) => {
                    return Err(ConfigError::Invalid {
                        name: "RESPONSE_PLAN_ARN",
                        problem: format!("`{arn}` is not a response plan ARN"),
                    })
                }
                Some(_) => {}
            }
        }
        Ok(TriageConfig {
            backend,
            response_plan_arn,
            responder_bus: require("RESPONDER_BUS")?,
            state_table: require("STATE_TABLE")?,
            rules_path: get("RULES").map(PathBuf::from),
        })
    }

    /// The rules: the file named by `RULES`, else the embedded default.
    pub fn rules(&self) -> Result<Rules, ConfigError> {
        load_rules(self.rules_path.as_deref())
    }
}

/// Loads a rules file, or the embedded default when `path` is `None`.
pub fn load_rules(path: Option<&std::path::Path>) -> Result<Rules, ConfigError> {
    match path {
        None => Ok(Rules::embedded()?),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::RulesFile {
                path: path.display().to_string(),
                problem: e.to_string(),
            })?;
            Ok(Rules::from_yaml(&text)?)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<TriageConfig, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        TriageConfig::from_lookup(|name| map.get(name).cloned())
    }

    const PLAN: &str = "arn:aws:ssm-incidents::111122223333:response-plan/vpn";

    #[test]
    fn reads_the_contract_variables() {
        let c = config(&[
            ("INCIDENT_BACKEND", "incident-manager"),
            ("RESPONSE_PLAN_ARN", PLAN),
            ("RESPONDER_BUS", "responder"),
            ("STATE_TABLE", "state"),
        ]);
        let c = c.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.backend, Backend::IncidentManager);
        assert_eq!(c.response_plan_arn.as_deref(), Some(PLAN));
        assert_eq!(c.rules_path, None);
        assert!(c.rules().is_ok());
    }

    #[test]
    fn names_what_is_missing_or_wrong() {
        let e = config(&[("INCIDENT_BACKEND", "jira")]).err();
        assert!(e.is_some_and(|e| e.to_string().contains("INCIDENT_BACKEND")));
        let e = config(&[
            ("INCIDENT_BACKEND", "incident-manager"),
            ("RESPONDER_BUS", "b"),
            ("STATE_TABLE", "t"),
        ])
        .err();
        assert!(e.is_some_and(|e| e.to_string().contains("RESPONSE_PLAN_ARN")));
        let e = config(&[("INCIDENT_BACKEND", "opscenter"), ("STATE_TABLE", "t")]).err();
        assert!(e.is_some_and(|e| e.to_string().contains("RESPONDER_BUS")));
        let e = config(&[
            ("INCIDENT_BACKEND", "opscenter"),
            ("RESPONDER_BUS", "b"),
            ("STATE_TABLE", "t"),
            ("RULES", "/nonexistent/rules.yaml"),
        ]);
        let e = e.unwrap_or_else(|e| panic!("{e}")).rules().err();
        assert!(e.is_some_and(|e| e.to_string().contains("/nonexistent/rules.yaml")));
    }
}
