//! The `runbook` stage: starts the SSM Automation runbook a rule names once `enrich` has
//! described the incident, and reports how the execution ended.
//!
//! Two inputs:
//! - `Incident Enriched` from the responder bus: the incident's rule names a runbook
//!   ([`crate::domain::RunbookRef`]) whose parameter templates are resolved from the diagnosis
//!   (`plan`). Every required parameter with a valid value → `StartAutomationExecution`, an
//!   AUTOMATION related item and a [`EntryKind::RunbookStarted`] entry on the incident, and
//!   `Runbook Started` on the bus (`started`). A required parameter without a value, or any
//!   value the runbook would refuse → not started; one [`EntryKind::RunbookNotStarted`] entry
//!   says what is missing and how to fix it (`skipped`). No runbook in the rule → `skipped`.
//! - `EC2 Automation Execution Status-change Notification` from `aws.ssm`
//!   ([`crate::sources::ssm_automation`]): for an execution this stage started (it remembers
//!   each one as a reference) that reached a final status, an [`EntryKind::RunbookFinished`]
//!   entry with the outcome and `Runbook Finished` on the bus (`finished`). Other statuses and
//!   other executions are `ignored`.
//! - the watchdog's timers ([`watchdog`], set by escalate): an execution whose status event never
//!   came is read and its outcome recorded the same way.
//!
//! Both are handled once per occurrence: a re-delivered event replays its stored answer without
//! side effects, and a retried invocation repeats the same writes with the same client tokens
//! (the execution's `ClientToken` comes from the incident and the document, so a retry cannot
//! start a second execution).

mod finished;
mod plan;
pub mod watchdog;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Duration;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::warn;

use crate::diagnosis::{AutomationRequest, RunbookRun};
use crate::domain::{
    stable_hash, EntryKind, IncidentRef, LifecycleDetail, LifecycleKind, RelatedItem,
    RelatedItemKind, RelatedValue, RunbookRef, TimelineEntry,
};
use crate::ports::{AutomationRunner, IncidentWriter, PortError, ReferenceStore};
use crate::rules::Rules;
use crate::shell::{BusEvent, Input, Invocation, Origin, Outcome, Stage, StageError};
use crate::sources::ssm_automation::{self, StatusChange};

use plan::{plan, Plan, Problem};

/// How long the state table links an execution to its incident: longer than any runbook runs.
const EXECUTION_LINK: Duration = Duration::days(7);
/// How long a start in flight is remembered (written before `StartAutomationExecution`, the
/// link after it): long enough for Lambda's retries of a start that failed between the two.
const STARTING: Duration = Duration::minutes(10);
/// One output value or failure message, in characters (timeline and bus event alike).
const OUTPUT_VALUE_MAX: usize = 3_000;
/// How many outputs are reported.
const OUTPUTS_MAX: usize = 20;
/// SSM tag values.
const TAG_VALUE_MAX: usize = 256;

/// What the runbook stage did with an event (**contract**).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunbookAction {
    /// An automation execution was started.
    Started,
    /// A started execution ended, and the incident says how.
    Finished,
    /// The incident's runbook was not started (none named, or a parameter without a valid value).
    Skipped,
    /// Nothing to do: another lifecycle event, a status that is not final, an execution the
    /// responder did not start, or a re-delivery.
    Ignored,
}

/// The runbook stage's answer for one event (**contract**).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunbookAnswer {
    pub action: RunbookAction,
    pub incident: Option<String>,
    pub execution: Option<String>,
    pub reason: String,
}

impl RunbookAnswer {
    fn new(
        action: RunbookAction,
        incident: Option<&str>,
        execution: Option<&str>,
        reason: impl Into<String>,
    ) -> Self {
        RunbookAnswer {
            action,
            incident: incident.map(str::to_string),
            execution: execution.map(str::to_string),
            reason: reason.into(),
        }
    }
}

impl Outcome for RunbookAnswer {
    fn action(&self) -> &'static str {
        match self.action {
            RunbookAction::Started => "started",
            RunbookAction::Finished => "finished",
            RunbookAction::Skipped => "skipped",
            RunbookAction::Ignored => "ignored",
        }
    }

    fn incident(&self) -> Option<&str> {
        self.incident.as_deref()
    }

    fn reason(&self) -> &str {
        &self.reason
    }
}

/// The answer for a re-delivery: what it did the first time, as a no-op.
fn replay(first: Option<RunbookAnswer>) -> RunbookAnswer {
    match first {
        Some(first) => RunbookAnswer {
            action: RunbookAction::Ignored,
            reason: format!(
                "Re-delivery of an event already handled; nothing done. First time: {}",
                first.reason
            ),
            ..first
        },
        None => RunbookAnswer::new(
            RunbookAction::Ignored,
            None,
            None,
            "Re-delivery of an event already handled; nothing done.",
        ),
    }
}

/// What the runbook stage reads: a responder-bus event, or Automation's status change.
pub enum RunbookInput {
    Bus(Box<BusEvent>),
    Automation(StatusChange),
    Watchdog(watchdog::WatchdogInput),
}

impl Input for RunbookInput {
    fn parse(event: &Value) -> Result<Option<Self>, StageError> {
        if let Some(bus) = BusEvent::parse(event)? {
            return Ok(Some(RunbookInput::Bus(Box::new(bus))));
        }
        if let Some(input) = event.get("runbook_watchdog") {
            let input = serde_json::from_value(input.clone())
                .map_err(|e| StageError::MalformedEvent(format!("runbook_watchdog: {e}")))?;
            return Ok(Some(RunbookInput::Watchdog(input)));
        }
        if ssm_automation::is_status_change(event) {
            return Ok(Some(RunbookInput::Automation(ssm_automation::parse(
                event,
            )?)));
        }
        Ok(None)
    }
}

/// The runbook stage with its ports.
pub struct Runbook {
    rules: Rules,
    incidents: Arc<dyn IncidentWriter>,
    automation: Arc<dyn AutomationRunner>,
    references: Arc<dyn ReferenceStore>,
    automation_role_arn: String,
}

impl Runbook {
    pub fn new(
        rules: Rules,
        incidents: Arc<dyn IncidentWriter>,
        automation: Arc<dyn AutomationRunner>,
        references: Arc<dyn ReferenceStore>,
        automation_role_arn: String,
    ) -> Self {
        Runbook {
            rules,
            incidents,
            automation,
            references,
            automation_role_arn,
        }
    }
}

#[async_trait]
impl Stage for Runbook {
    const NAME: &'static str = "runbook";
    const TAKES: &'static str = "`Incident Enriched` from incident.responder, \
        `EC2 Automation Execution Status-change Notification` from aws.ssm, and the watchdog's timers";
    const PUBLISHES: bool = true;
    type Input = RunbookInput;
    type Answer = RunbookAnswer;
    type Error = StageError;

    async fn handle(
        &self,
        input: RunbookInput,
        cx: &Invocation<'_>,
    ) -> Result<RunbookAnswer, StageError> {
        match input {
            RunbookInput::Bus(bus) if bus.event.kind == LifecycleKind::IncidentEnriched => {
                self.enriched(bus.event.detail, &bus.origin, cx).await
            }
            RunbookInput::Bus(bus) => Ok(RunbookAnswer::new(
                RunbookAction::Ignored,
                Some(&bus.event.detail.incident.id),
                None,
                format!(
                    "`{}` is not for the runbook stage (it acts on `Incident Enriched`).",
                    bus.event.kind.detail_type()
                ),
            )),
            RunbookInput::Automation(change) => self.status_changed(&change, cx).await,
            RunbookInput::Watchdog(input) => self.watchdog(&input, cx).await,
        }
    }
}

impl Runbook {
    // -----------------------------------------------------------------------------------------
    // Incident Enriched: start the rule's runbook.

    async fn enriched(
        &self,
        detail: LifecycleDetail,
        origin: &Origin,
        cx: &Invocation<'_>,
    ) -> Result<RunbookAnswer, StageError> {
        let incident_id = detail.incident.id.clone();
        let runbook = match self.deployed_runbook(&detail) {
            Ok(runbook) => runbook,
            Err(refused) => {
                return Ok(RunbookAnswer::new(
                    RunbookAction::Skipped,
                    Some(&incident_id),
                    None,
                    refused,
                ))
            }
        };
        let mut detail = detail;
        detail.incident.runbook = Some(runbook.clone());
        let key = format!("runbook#{incident_id}#{}", runbook.document);
        cx.once(&key, replay, |_| async {
            let plan = plan(&detail, &runbook, &self.automation_role_arn);
            if plan.problems.is_empty() {
                self.start(detail.clone(), &runbook, plan, origin, cx).await
            } else {
                self.not_started(&detail, &runbook.document, &plan, cx)
                    .await
            }
        })
        .await
    }

    /// The runbook the deployed rules name for the incident's rule — never the one the event
    /// names: anyone allowed to put events on the bus could name any document. An event that
    /// names another runbook than its rule is refused and logged.
    fn deployed_runbook(&self, detail: &LifecycleDetail) -> Result<RunbookRef, String> {
        let rule_id = detail.incident.rule.as_str();
        let named = detail.incident.runbook.as_ref();
        let Some(rule) = self.rules.rules().iter().find(|r| r.id == rule_id) else {
            warn!(
                rule = rule_id,
                incident = %detail.incident.id,
                "refused: the event's rule is not in the deployed rules"
            );
            return Err(format!(
                "Rule {rule_id} is not in the deployed rules; nothing started."
            ));
        };
        match (&rule.runbook, named) {
            (Some(deployed), Some(named)) if deployed != named => {
                warn!(
                    rule = rule_id,
                    incident = %detail.incident.id,
                    named = %named.document,
                    deployed = %deployed.document,
                    "refused: the event names another runbook than its rule; the rule's is used"
                );
                Ok(deployed.clone())
            }
            (Some(deployed), _) => Ok(deployed.clone()),
            (None, Some(named)) => {
                warn!(
                    rule = rule_id,
                    incident = %detail.incident.id,
                    named = %named.document,
                    "refused: the event names a runbook its rule does not"
                );
                Err(format!(
                    "Rule {rule_id} names no runbook; the event's {} is refused, nothing started.",
                    named.document
                ))
            }
            (None, None) => Err(format!(
                "Rule {rule_id} names no runbook; nothing to start."
            )),
        }
    }

    async fn not_started(
        &self,
        detail: &LifecycleDetail,
        document: &str,
        plan: &Plan,
        cx: &Invocation<'_>,
    ) -> Result<RunbookAnswer, StageError> {
        let incident = incident_ref(detail);
        let problems: Vec<String> = plan.problems.iter().map(Problem::sentence).collect();
        let why = problems.join(" ");
        let text = format!("Runbook {document} not started: {why}");
        let kind = EntryKind::RunbookNotStarted {
            document: document.to_string(),
            why,
        };
        let token = stable_hash(&["runbook", "not-started", &incident.id, document], 64);
        self.note(&incident, kind, &text, &token, cx).await?;
        let names: Vec<&str> = plan.problems.iter().flat_map(Problem::parameters).collect();
        Ok(RunbookAnswer::new(
            RunbookAction::Skipped,
            Some(&incident.id),
            None,
            format!(
                "Runbook {document} not started: no valid value for {}; the incident's timeline says how to fix it.",
                names.join(", ")
            ),
        ))
    }

    async fn start(
        &self,
        mut detail: LifecycleDetail,
        runbook: &RunbookRef,
        plan: Plan,
        origin: &Origin,
        cx: &Invocation<'_>,
    ) -> Result<RunbookAnswer, StageError> {
        let incident = incident_ref(&detail);
        let document = runbook.document.as_str();
        let parameters: BTreeMap<String, Vec<String>> = plan
            .values
            .iter()
            .map(|(name, value)| (name.clone(), vec![value.clone()]))
            .collect();
        let request = AutomationRequest {
            document: document.to_string(),
            version: runbook.version.clone(),
            parameters: parameters.clone(),
            client_token: client_token(&incident.id, document),
            tags: BTreeMap::from([
                ("incident".to_string(), tag_value(&incident.id)),
                (
                    "responder:rule".to_string(),
                    tag_value(&detail.incident.rule),
                ),
            ]),
        };
        // Before the start: a status change that outruns the link finds this and is retried.
        self.references
            .remember(&starting_key(document), &incident.id, cx.now() + STARTING)
            .await?;
        let execution = self.automation.start(&request).await?;
        detail.reason = format!("Runbook {document} started (execution {execution}).");
        detail.automation = Some(RunbookRun {
            document: document.to_string(),
            execution_id: execution.clone(),
            status: "InProgress".to_string(),
            parameters,
            outputs: BTreeMap::new(),
            failure_message: None,
        });

        // First of all, so that the status change can find its incident however soon it comes.
        let link = serde_json::to_string(&detail).map_err(|e| StageError::Inconsistent {
            what: format!("automation execution {execution}"),
            problem: e.to_string(),
        })?;
        self.references
            .remember(&execution_key(&execution), &link, cx.now() + EXECUTION_LINK)
            .await?;
        // Linked: the start is no longer in flight (an expired note reads as absent).
        self.references
            .remember(&starting_key(document), "", cx.now())
            .await?;

        let arn = crate::arn::format(
            &origin.region,
            &origin.account,
            "ssm",
            &format!("automation-execution/{execution}"),
        );
        let item = RelatedItem {
            kind: RelatedItemKind::Automation,
            title: format!("Runbook {document}"),
            value: RelatedValue::Arn(arn),
        };
        let token = stable_hash(&["runbook", "related", &incident.id, &execution], 64);
        self.incidents
            .add_related_items(&incident, &[item], &token)
            .await?;
        let kind = EntryKind::RunbookStarted {
            document: document.to_string(),
            execution: execution.clone(),
            parameters: plan
                .order
                .iter()
                .filter_map(|name| Some((name.clone(), plan.values.get(name)?.clone())))
                .collect(),
            notes: plan.notes.clone(),
        };
        let token = stable_hash(&["runbook", "started", &incident.id, &execution], 64);
        self.note(
            &incident,
            kind,
            &plan.started_text(document, &execution),
            &token,
            cx,
        )
        .await?;
        let reason = detail.reason.clone();
        cx.publish(LifecycleKind::RunbookStarted, detail).await?;
        Ok(RunbookAnswer::new(
            RunbookAction::Started,
            Some(&incident.id),
            Some(&execution),
            reason,
        ))
    }

    /// One timeline entry, timed now.
    async fn note(
        &self,
        incident: &IncidentRef,
        kind: EntryKind,
        text: &str,
        token: &str,
        cx: &Invocation<'_>,
    ) -> Result<(), PortError> {
        let entry = TimelineEntry::new(cx.now(), kind, text);
        self.incidents.add_timeline(incident, &entry, token).await
    }
}

fn incident_ref(detail: &LifecycleDetail) -> IncidentRef {
    IncidentRef {
        backend: detail.incident.backend,
        id: detail.incident.id.clone(),
    }
}

/// An SSM tag value: at most 256 characters of letters, digits, spaces and `_ . : / = + - @`
/// (anything else becomes `_`).
fn tag_value(text: &str) -> String {
    text.chars()
        .take(TAG_VALUE_MAX)
        .map(|c| {
            if c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn execution_key(execution: &str) -> String {
    format!("automation#{execution}")
}

/// A start of `document` in flight (the event's `Definition` is the document's name).
fn starting_key(document: &str) -> String {
    format!("automation-starting#{document}")
}

/// SSM's `ClientToken`: UUID-shaped (8-4-4-4-12 lowercase hex), stable for one incident and
/// document, so a retried start returns the execution the first attempt started.
pub fn client_token(incident: &str, document: &str) -> String {
    let hex = stable_hash(&[incident, document], 32);
    let mut token = String::with_capacity(36);
    for (i, c) in hex.chars().enumerate() {
        if matches!(i, 8 | 12 | 16 | 20) {
            token.push('-');
        }
        token.push(c);
    }
    token
}

#[cfg(test)]
mod tests;
