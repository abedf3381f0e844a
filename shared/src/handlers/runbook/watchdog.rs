//! The runbook watchdog: SSM Automation's status events are best-effort, so every execution the
//! stage starts gets a one-time timer (EventBridge Scheduler, the same timers escalate uses).
//! When it fires, `GetAutomationExecution` says where the execution is: a final status is
//! recorded exactly as its status event would have been (the same run-once key, so whichever
//! comes first records it and the other is `ignored`); a running one is checked again later, up
//! to [`CHECKS`] times.
//!
//! Timer (**contract**): name `wd-<16 hex of the execution id>-c<check>`, input
//! `{"runbook_watchdog": {"execution": "<id>", "check": 1, "at": "<UTC time>"}}`.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{Runbook, RunbookAction, RunbookAnswer};
use crate::domain::stable_hash;
use crate::ports::{PortErrorKind, Timer};
use crate::shell::{Invocation, StageError};
use crate::sources::ssm_automation::StatusChange;

/// How long after the start (and between checks) the watchdog looks.
pub const EVERY: Duration = Duration::minutes(30);
/// How many times it looks before it gives up (6 hours).
pub const CHECKS: u32 = 12;

/// A watchdog timer's input (**contract**).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchdogInput {
    pub execution: String,
    pub check: u32,
    pub at: DateTime<Utc>,
}

fn timer(execution: &str, check: u32, at: DateTime<Utc>) -> Timer {
    let input = WatchdogInput {
        execution: execution.to_string(),
        check,
        at,
    };
    Timer {
        name: format!("wd-{}-c{check}", stable_hash(&[execution], 16)),
        at,
        input: serde_json::json!({ "runbook_watchdog": input }).to_string(),
    }
}

impl Runbook {
    /// Sets the watchdog's timer for an execution just started, when the stage has timers.
    pub(super) async fn watch(
        &self,
        execution: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StageError> {
        if let Some(timers) = &self.timers {
            timers.set(&timer(execution, 1, now + EVERY)).await?;
        }
        Ok(())
    }

    /// A watchdog timer fired: record a final status the status event has not, or look again.
    pub(super) async fn watchdog(
        &self,
        input: &WatchdogInput,
        cx: &Invocation<'_>,
    ) -> Result<RunbookAnswer, StageError> {
        let id = input.execution.as_str();
        let execution = match self.automation.execution(id).await {
            Ok(execution) => execution,
            Err(e) if e.kind == PortErrorKind::NotFound => {
                return Ok(RunbookAnswer::new(
                    RunbookAction::Ignored,
                    None,
                    Some(id),
                    format!("Execution {id} no longer exists; nothing to watch."),
                ))
            }
            Err(e) => return Err(e.into()),
        };
        let change = StatusChange {
            execution_id: id.to_string(),
            status: execution.status.clone(),
            definition: execution.document.clone(),
        };
        if change.is_final() {
            return self.status_changed(&change, cx).await;
        }
        let now = cx.now().max(input.at);
        let next = input.check + 1;
        let reason = if next > CHECKS {
            format!(
                "Execution {id} is still {} after {} checks; the watchdog stops (look at it in the console).",
                execution.status, input.check
            )
        } else {
            let Some(timers) = &self.timers else {
                return Err(StageError::MalformedEvent(
                    "a runbook watchdog timer reached a runbook function without timers".into(),
                ));
            };
            timers.set(&timer(id, next, now + EVERY)).await?;
            format!(
                "Execution {id} is still {}; the watchdog looks again at {}.",
                execution.status,
                (now + EVERY).format("%H:%M UTC")
            )
        };
        Ok(RunbookAnswer::new(
            RunbookAction::Ignored,
            None,
            Some(id),
            reason,
        ))
    }
}
