//! The runbook watchdog's timers ([`crate::handlers::runbook::watchdog`]): on `Runbook Started`
//! escalate sets every check of the execution, on `Runbook Finished` it deletes the ones left.
//! The timers invoke `runbook` (`WATCHDOG_TARGET_ARN`), which reads the execution and records a
//! final status its event never brought. escalate sets them so that `runbook` links no
//! Scheduler SDK. A `watchdog-done#<execution>` note keeps a late or re-delivered
//! `Runbook Started` from setting them again once the execution finished.

use chrono::Duration;

use super::{Escalate, EscalateAction, EscalateAnswer, EscalateError};
use crate::domain::{LifecycleDetail, LifecycleKind};
use crate::handlers::runbook::watchdog;
use crate::ports::{PortError, Timers};
use crate::shell::{Invocation, StageError};

/// How long the note that an execution finished is kept.
const DONE_KEEP: Duration = Duration::days(7);

async fn cancel_all(timers: &dyn Timers, execution: &str) -> Result<(), PortError> {
    for check in 1..=watchdog::CHECKS {
        timers
            .cancel(&watchdog::timer_name(execution, check))
            .await?;
    }
    Ok(())
}

impl Escalate {
    pub(super) async fn watch(
        &self,
        kind: LifecycleKind,
        detail: &LifecycleDetail,
        cx: &Invocation<'_>,
    ) -> Result<EscalateAnswer, EscalateError> {
        let id = &detail.incident.id;
        let Some(timers) = &self.watchdog else {
            return Ok(EscalateAnswer::new(
                EscalateAction::Ignored,
                id,
                "No runbook watchdog here (WATCHDOG_TARGET_ARN is not set).",
            ));
        };
        let Some(run) = &detail.automation else {
            return Err(StageError::MalformedEvent(format!(
                "responder bus `{}` event: detail.automation is missing (the runbook execution)",
                kind.detail_type()
            ))
            .into());
        };
        let execution = run.execution_id.as_str();
        let done = format!("watchdog-done#{execution}");
        if kind == LifecycleKind::RunbookFinished {
            self.references
                .remember(&done, "finished", cx.now() + DONE_KEEP)
                .await?;
            cancel_all(timers.as_ref(), execution).await?;
            return Ok(EscalateAnswer::new(
                EscalateAction::Stopped,
                id,
                format!(
                    "Runbook execution {execution} finished: its watchdog's timers are deleted."
                ),
            ));
        }
        if self.references.recall(&done, cx.now()).await?.is_some() {
            return Ok(EscalateAnswer::new(
                EscalateAction::Ignored,
                id,
                format!("Runbook execution {execution} finished already; nothing to watch."),
            ));
        }
        // Set again on a retry: a timer set before is left as it is.
        for timer in watchdog::timers(execution, cx.now()) {
            timers.set(&timer).await?;
        }
        // `Runbook Finished` handled meanwhile: its deletes may have come before these timers.
        if self.references.recall(&done, cx.now()).await?.is_some() {
            cancel_all(timers.as_ref(), execution).await?;
        }
        Ok(EscalateAnswer::new(
            EscalateAction::Scheduled,
            id,
            format!(
                "Runbook execution {execution} is watched: checked every {} min, {} times, until it finishes.",
                watchdog::EVERY.num_minutes(),
                watchdog::CHECKS
            ),
        ))
    }
}
