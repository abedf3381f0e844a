//! Function configuration, read once at start-up from environment variables (**contract**:
//! every variable is listed in the README).

mod calendars;
mod changes;

pub use changes::ChangesConfig;

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::arn::{is_arn_of, is_role_arn};
use crate::domain::{Backend, Impact, ResponsePlans};
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

/// How `triage` opens incidents: in Incident Manager against its response plans, or as OpsItems.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opening {
    IncidentManager(ResponsePlans),
    OpsCenter,
}

/// Configuration of the `triage` function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriageConfig {
    /// `INCIDENT_BACKEND`, `RESPONDER_BUS`, `STATE_TABLE`.
    pub stage: StageConfig,
    /// The backend incidents open in: with Incident Manager, `RESPONSE_PLAN_ARN` (required) and
    /// `RESPONSE_PLAN_ARN_BY_IMPACT` (optional `1=<arn>,2=<arn>,…`, a plan per impact; an impact
    /// not listed opens with `RESPONSE_PLAN_ARN`).
    pub opening: Opening,
    /// `RULES`: optional path of a rules file replacing the embedded default.
    pub rules_path: Option<PathBuf>,
    /// `CHANGE_CALENDARS`: optional, the Change Calendars (document names, comma-separated)
    /// triage may read: the rules' windows may follow no other.
    pub change_calendars: Vec<String>,
    /// `AWS_REGION` (Lambda sets it): a calendar the rules name by ARN must be in it.
    pub region: Option<String>,
}

impl TriageConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| trimmed(&lookup, name);
        let stage = StageConfig::from_lookup(&lookup)?;
        // The response plans are Incident Manager's: OpsCenter reads neither variable.
        let opening = match stage.backend {
            Backend::OpsCenter => Opening::OpsCenter,
            Backend::IncidentManager => {
                let arn =
                    get("RESPONSE_PLAN_ARN").ok_or(ConfigError::Missing("RESPONSE_PLAN_ARN"))?;
                if !is_response_plan_arn(&arn) {
                    return Err(ConfigError::Invalid {
                        name: "RESPONSE_PLAN_ARN",
                        problem: format!("`{arn}` is not a response plan ARN"),
                    });
                }
                let by_impact = match get("RESPONSE_PLAN_ARN_BY_IMPACT") {
                    Some(list) => plans_by_impact(&list)?,
                    None => Vec::new(),
                };
                Opening::IncidentManager(
                    by_impact
                        .into_iter()
                        .fold(ResponsePlans::new(arn), |plans, (impact, arn)| {
                            plans.with(impact, arn)
                        }),
                )
            }
        };
        let change_calendars: Vec<String> = get("CHANGE_CALENDARS")
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        calendars::check(&change_calendars)?;
        Ok(TriageConfig {
            stage,
            opening,
            rules_path: get("RULES").map(PathBuf::from),
            change_calendars,
            region: get("AWS_REGION"),
        })
    }

    /// The rules: the file named by `RULES`, else the embedded default; every Change Calendar
    /// their windows follow must be one `CHANGE_CALENDARS` lets triage read.
    pub fn rules(&self) -> Result<Rules, ConfigError> {
        let rules = load_rules(self.rules_path.as_deref())?;
        calendars::followed(&rules, &self.change_calendars, self.region.as_deref())?;
        Ok(rules)
    }
}

fn is_response_plan_arn(arn: &str) -> bool {
    is_arn_of(arn, "ssm-incidents", "response-plan/")
}

/// Parses `RESPONSE_PLAN_ARN_BY_IMPACT`: `1=<arn>,2=<arn>,…`, each impact at most once.
fn plans_by_impact(list: &str) -> Result<Vec<(Impact, String)>, ConfigError> {
    let invalid = |problem: String| ConfigError::Invalid {
        name: "RESPONSE_PLAN_ARN_BY_IMPACT",
        problem,
    };
    let mut plans: Vec<(Impact, String)> = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (impact, arn) = entry
            .split_once('=')
            .ok_or_else(|| invalid(format!("`{entry}` is not `<impact>=<response plan ARN>`")))?;
        let impact = impact
            .trim()
            .parse::<u8>()
            .ok()
            .and_then(Impact::new)
            .ok_or_else(|| invalid(format!("`{}` is not an impact from 1 to 5", impact.trim())))?;
        let arn = arn.trim();
        if !is_response_plan_arn(arn) {
            return Err(invalid(format!("`{arn}` is not a response plan ARN")));
        }
        if plans.iter().any(|(seen, _)| *seen == impact) {
            return Err(invalid(format!("impact {} is listed twice", impact.get())));
        }
        plans.push((impact, arn.to_string()));
    }
    Ok(plans)
}

/// Reads `INCIDENT_BACKEND`.
fn backend_from(get: &impl Fn(&'static str) -> Option<String>) -> Result<Backend, ConfigError> {
    let name = get("INCIDENT_BACKEND").ok_or(ConfigError::Missing("INCIDENT_BACKEND"))?;
    Backend::parse(&name).ok_or_else(|| ConfigError::Invalid {
        name: "INCIDENT_BACKEND",
        problem: format!("`{name}` is neither `incident-manager` nor `opscenter`"),
    })
}

/// Trims a variable; empty counts as unset.
fn trimmed(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// What every stage but `notify` reads: the incident backend, the responder bus and the state
/// table. It is the whole of `enrich`'s configuration; triage, runbook and resolve add theirs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageConfig {
    /// `INCIDENT_BACKEND`: `incident-manager` or `opscenter`.
    pub backend: Backend,
    /// `RESPONDER_BUS`: the responder event bus.
    pub responder_bus: String,
    /// `STATE_TABLE`: the DynamoDB state table.
    pub state_table: String,
}

impl StageConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| trimmed(&lookup, name);
        Ok(StageConfig {
            backend: backend_from(&get)?,
            responder_bus: get("RESPONDER_BUS").ok_or(ConfigError::Missing("RESPONDER_BUS"))?,
            state_table: get("STATE_TABLE").ok_or(ConfigError::Missing("STATE_TABLE"))?,
        })
    }
}

/// Configuration of the `runbook` function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunbookConfig {
    pub stage: StageConfig,
    /// `AUTOMATION_ROLE_ARN`: the role SSM Automation assumes to run the runbooks.
    pub automation_role_arn: String,
    /// `RULES`: optional path of a rules file replacing the embedded default: runbook starts
    /// only the runbooks its rules name (give it triage's file).
    pub rules_path: Option<PathBuf>,
}

impl RunbookConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let role = trimmed(&lookup, "AUTOMATION_ROLE_ARN")
            .ok_or(ConfigError::Missing("AUTOMATION_ROLE_ARN"))?;
        if !is_role_arn(&role) {
            return Err(ConfigError::Invalid {
                name: "AUTOMATION_ROLE_ARN",
                problem: format!("`{role}` is not an IAM role ARN"),
            });
        }
        Ok(RunbookConfig {
            stage: StageConfig::from_lookup(&lookup)?,
            automation_role_arn: role,
            rules_path: trimmed(&lookup, "RULES").map(PathBuf::from),
        })
    }

    /// The rules: the file named by `RULES`, else the embedded default.
    pub fn rules(&self) -> Result<Rules, ConfigError> {
        load_rules(self.rules_path.as_deref())
    }
}

/// Configuration of the `notify` function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyConfig {
    /// `NOTIFY_TOPIC_ARN`: the SNS topic wired to the Chatbot Slack channel.
    pub topic_arn: String,
    /// `STATE_TABLE`: the DynamoDB state table (which messages were posted).
    pub state_table: String,
    /// `RULES`: optional path of a rules file (its `notifications` section) replacing the
    /// embedded default.
    pub rules_path: Option<PathBuf>,
    /// `ESCALATE_FUNCTION`: optional name of the `escalate` function with its `buttons` alias
    /// (`<name>:buttons`), which the Slack buttons invoke (every message names it in
    /// `additionalContext.escalate`).
    pub escalate_function: Option<String>,
}

impl NotifyConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let topic =
            trimmed(&lookup, "NOTIFY_TOPIC_ARN").ok_or(ConfigError::Missing("NOTIFY_TOPIC_ARN"))?;
        // A topic's ARN ends in its name, which holds no `:`.
        if !is_arn_of(&topic, "sns", "") || topic.splitn(7, ':').nth(6).is_some() {
            return Err(ConfigError::Invalid {
                name: "NOTIFY_TOPIC_ARN",
                problem: format!("`{topic}` is not an SNS topic ARN"),
            });
        }
        Ok(NotifyConfig {
            topic_arn: topic,
            state_table: trimmed(&lookup, "STATE_TABLE")
                .ok_or(ConfigError::Missing("STATE_TABLE"))?,
            rules_path: trimmed(&lookup, "RULES").map(PathBuf::from),
            escalate_function: match trimmed(&lookup, "ESCALATE_FUNCTION") {
                Some(name) if is_function_name(&name) => Some(name),
                Some(name) => {
                    return Err(ConfigError::Invalid {
                        name: "ESCALATE_FUNCTION",
                        problem: format!("`{name}` is not a Lambda function name"),
                    })
                }
                None => None,
            },
        })
    }

    /// The rules: the file named by `RULES`, else the embedded default.
    pub fn rules(&self) -> Result<Rules, ConfigError> {
        load_rules(self.rules_path.as_deref())
    }
}

/// A Lambda function name, with an alias or without (the same check as an alarm's
/// `FunctionName` and `Resource` dimensions).
fn is_function_name(name: &str) -> bool {
    match name.split_once(':') {
        Some((function, alias)) => {
            crate::inspect::is_function_name(function) && crate::inspect::is_qualifier(alias)
        }
        None => crate::inspect::is_function_name(name),
    }
}

/// Configuration of the `resolve` function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveConfig {
    pub stage: StageConfig,
    /// `REPORT_BUCKET`: the S3 bucket for post-incident records.
    pub report_bucket: String,
}

impl ResolveConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let bucket =
            trimmed(&lookup, "REPORT_BUCKET").ok_or(ConfigError::Missing("REPORT_BUCKET"))?;
        // S3 bucket naming: 3–63 characters of lowercase letters, digits, dots and hyphens,
        // starting and ending with a letter or digit.
        let valid = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
            && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
            && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !valid {
            return Err(ConfigError::Invalid {
                name: "REPORT_BUCKET",
                problem: format!(
                    "`{bucket}` is not an S3 bucket name (give the name, not an ARN or URL)"
                ),
            });
        }
        Ok(ResolveConfig {
            stage: StageConfig::from_lookup(lookup)?,
            report_bucket: bucket,
        })
    }
}

/// Loads a rules file, or the embedded default when `path` is `None`.
/// Configuration of the `escalate` function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalateConfig {
    pub stage: StageConfig,
    /// `RULES`: optional path of a rules file (its `escalation` section) replacing the embedded
    /// default (give it triage's file).
    pub rules_path: Option<PathBuf>,
    /// `PAGING_TOPICS`: `name=<SNS topic ARN>,…`, binding the rules' topic targets.
    pub paging_topics: BTreeMap<String, String>,
    /// The timers: `SCHEDULE_GROUP`, `SCHEDULE_ROLE_ARN`, `SCHEDULE_TARGET_ARN`.
    pub timers: TimerConfig,
    /// `RESPONDER_ROLE_ARNS`: optional, the responder's roles (`<role ARN>,…`): a console change
    /// one of them made is the responder's own, not a person's.
    pub responder_roles: Vec<String>,
    /// `WATCHDOG_TARGET_ARN`: optional, the `runbook` function's ARN: escalate sets the runbook
    /// watchdog's timers for it (none without it).
    pub watchdog_target_arn: Option<String>,
    /// `RECHECK_TARGET_ARN`: optional, the `triage` function's ARN: on `Signal Held` escalate
    /// sets the timer that re-checks the held signal (held signals wait for a later event
    /// without it).
    pub recheck_target_arn: Option<String>,
}

impl EscalateConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let invalid = |name: &'static str, problem: String| ConfigError::Invalid { name, problem };
        let timers =
            TimerConfig::from_lookup(&lookup)?.ok_or(ConfigError::Missing("SCHEDULE_GROUP"))?;
        let mut paging_topics = BTreeMap::new();
        for pair in trimmed(&lookup, "PAGING_TOPICS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let (name, arn) = pair
                .split_once('=')
                .map(|(n, a)| (n.trim(), a.trim()))
                .ok_or_else(|| {
                    invalid("PAGING_TOPICS", format!("`{pair}` is not name=<topic ARN>"))
                })?;
            if name.is_empty() || !is_arn_of(arn, "sns", "") || arn.splitn(7, ':').nth(6).is_some()
            {
                return Err(invalid(
                    "PAGING_TOPICS",
                    format!("`{pair}` is not name=<SNS topic ARN>"),
                ));
            }
            if paging_topics
                .insert(name.to_string(), arn.to_string())
                .is_some()
            {
                return Err(invalid("PAGING_TOPICS", format!("`{name}` is bound twice")));
            }
        }
        let mut responder_roles = Vec::new();
        for role in trimmed(&lookup, "RESPONDER_ROLE_ARNS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
        {
            if !is_role_arn(role) {
                return Err(invalid(
                    "RESPONDER_ROLE_ARNS",
                    format!("`{role}` is not an IAM role ARN"),
                ));
            }
            responder_roles.push(role.to_string());
        }
        let watchdog_target_arn = trimmed(&lookup, "WATCHDOG_TARGET_ARN");
        if let Some(target) = &watchdog_target_arn {
            if !is_arn_of(target, "lambda", "function:") {
                return Err(invalid(
                    "WATCHDOG_TARGET_ARN",
                    format!("`{target}` is not a Lambda function ARN"),
                ));
            }
        }
        let recheck_target_arn = trimmed(&lookup, "RECHECK_TARGET_ARN");
        if let Some(target) = &recheck_target_arn {
            if !is_arn_of(target, "lambda", "function:") {
                return Err(invalid(
                    "RECHECK_TARGET_ARN",
                    format!("`{target}` is not a Lambda function ARN"),
                ));
            }
        }
        Ok(EscalateConfig {
            stage: StageConfig::from_lookup(&lookup)?,
            responder_roles,
            watchdog_target_arn,
            recheck_target_arn,
            rules_path: trimmed(&lookup, "RULES").map(PathBuf::from),
            paging_topics,
            timers,
        })
    }

    /// The runbook watchdog's timers: escalate's, invoking `WATCHDOG_TARGET_ARN` instead.
    pub fn watchdog_timers(&self) -> Option<TimerConfig> {
        let target = self.watchdog_target_arn.clone()?;
        Some(TimerConfig {
            target_arn: target,
            ..self.timers.clone()
        })
    }

    /// The re-check timers of held signals: escalate's, invoking `RECHECK_TARGET_ARN` instead.
    pub fn recheck_timers(&self) -> Option<TimerConfig> {
        let target = self.recheck_target_arn.clone()?;
        Some(TimerConfig {
            target_arn: target,
            ..self.timers.clone()
        })
    }

    /// The rules, checked against `PAGING_TOPICS`: every topic target of the rules is bound, so
    /// that no page can go nowhere.
    pub fn rules(&self) -> Result<Rules, ConfigError> {
        let rules = load_rules(self.rules_path.as_deref())?;
        let unbound: Vec<&str> = rules
            .escalation()
            .topics()
            .filter(|t| !self.paging_topics.contains_key(*t))
            .collect();
        if !unbound.is_empty() {
            return Err(ConfigError::Invalid {
                name: "PAGING_TOPICS",
                problem: format!(
                    "the rules page the topic(s) {} with no ARN bound here (name=<topic ARN>)",
                    unbound.join(", ")
                ),
            });
        }
        Ok(rules)
    }
}

/// One-time timers on EventBridge Scheduler: where they go, as whom they run, what they invoke
/// (the function itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimerConfig {
    /// `SCHEDULE_GROUP`: the stack's schedule group.
    pub group: String,
    /// `SCHEDULE_ROLE_ARN`: the role Scheduler assumes to invoke the function.
    pub role_arn: String,
    /// `SCHEDULE_TARGET_ARN`: the function's own ARN, which the timers invoke.
    pub target_arn: String,
}

impl TimerConfig {
    /// The three variables, `None` when none is set; one without the others is an error.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, ConfigError> {
        let group = trimmed(&lookup, "SCHEDULE_GROUP");
        let role = trimmed(&lookup, "SCHEDULE_ROLE_ARN");
        let target = trimmed(&lookup, "SCHEDULE_TARGET_ARN");
        if group.is_none() && role.is_none() && target.is_none() {
            return Ok(None);
        }
        let group = group.ok_or(ConfigError::Missing("SCHEDULE_GROUP"))?;
        let role = role.ok_or(ConfigError::Missing("SCHEDULE_ROLE_ARN"))?;
        let target = target.ok_or(ConfigError::Missing("SCHEDULE_TARGET_ARN"))?;
        let invalid = |name: &'static str, problem: String| ConfigError::Invalid { name, problem };
        if !is_schedule_name(&group) {
            return Err(invalid(
                "SCHEDULE_GROUP",
                format!("`{group}` is not a schedule group name (1–64 of 0-9A-Za-z-_.)"),
            ));
        }
        if !is_role_arn(&role) {
            return Err(invalid(
                "SCHEDULE_ROLE_ARN",
                format!("`{role}` is not an IAM role ARN"),
            ));
        }
        if !is_arn_of(&target, "lambda", "function:") {
            return Err(invalid(
                "SCHEDULE_TARGET_ARN",
                format!("`{target}` is not a Lambda function ARN"),
            ));
        }
        Ok(Some(TimerConfig {
            group,
            role_arn: role,
            target_arn: target,
        }))
    }
}

/// A schedule group name: 1–64 of `0-9A-Za-z-_.`.
pub fn is_schedule_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

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
mod tests;
