//! The runbook watchdog: SSM Automation's status events are best-effort, so every execution the
//! responder starts is checked on one-time timers (EventBridge Scheduler). `escalate` sets them
//! when it hears `Runbook Started` — [`CHECKS`] timers, [`EVERY`] apart — and deletes the rest
//! when it hears `Runbook Finished`; each invokes this stage with [`WatchdogInput`]. A check
//! reads the execution (`GetAutomationExecution`): a final status is recorded exactly as its
//! status event would have been (the same run-once key, so whichever comes first records it and
//! the other is `ignored`); a running one waits for the next check.
//!
//! Timers (**contract**): named `wd-<16 hex of the execution id>-c<check>`, input
//! `{"runbook_watchdog": {"execution": "<id>", "check": 1, "at": "<UTC time>"}}`.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{Runbook, RunbookAction, RunbookAnswer};
use crate::domain::stable_hash;
use crate::ports::{PortErrorKind, Timer};
use crate::shell::{Invocation, StageError};
use crate::sources::ssm_automation::StatusChange;

/// How long after the start, and between checks, the watchdog looks.
pub const EVERY: Duration = Duration::minutes(30);
/// How many times it looks (6 hours).
pub const CHECKS: u32 = 12;

/// A watchdog timer's input (**contract**).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchdogInput {
    pub execution: String,
    pub check: u32,
    pub at: DateTime<Utc>,
}

/// The name of an execution's `check`th timer.
pub fn timer_name(execution: &str, check: u32) -> String {
    format!("wd-{}-c{check}", stable_hash(&[execution], 16))
}

/// Every timer of an execution started at `started`.
pub fn timers(execution: &str, started: DateTime<Utc>) -> Vec<Timer> {
    (1..=CHECKS)
        .map(|check| {
            let at = started + EVERY * check as i32;
            let input = WatchdogInput {
                execution: execution.to_string(),
                check,
                at,
            };
            Timer {
                name: timer_name(execution, check),
                at,
                input: serde_json::json!({ "runbook_watchdog": input }).to_string(),
            }
        })
        .collect()
}

impl Runbook {
    /// A watchdog timer fired: record a final status the status event has not, or wait.
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
        let reason = if input.check >= CHECKS {
            format!(
                "Execution {id} is still {} at the watchdog's last check; look at it in the console.",
                execution.status
            )
        } else {
            format!(
                "Execution {id} is still {}; the watchdog looks again at {}.",
                execution.status,
                (input.at + EVERY).format("%H:%M UTC")
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
