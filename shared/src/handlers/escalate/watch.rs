//! The runbook watchdog's timers ([`crate::handlers::runbook::watchdog`]): on `Runbook Started`
//! escalate sets every check of the execution, on `Runbook Finished` it deletes the ones left.
//! The timers invoke `runbook` (`WATCHDOG_TARGET_ARN`), which reads the execution and records a
//! final status its event never brought. escalate sets them so that `runbook` links no
//! Scheduler SDK.

use super::{Escalate, EscalateAction, EscalateAnswer, EscalateError};
use crate::domain::{LifecycleDetail, LifecycleKind};
use crate::handlers::runbook::watchdog;
use crate::shell::{Invocation, StageError};

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
        if kind == LifecycleKind::RunbookFinished {
            for check in 1..=watchdog::CHECKS {
                timers
                    .cancel(&watchdog::timer_name(execution, check))
                    .await?;
            }
            return Ok(EscalateAnswer::new(
                EscalateAction::Stopped,
                id,
                format!(
                    "Runbook execution {execution} finished: its watchdog's timers are deleted."
                ),
            ));
        }
        // Set again on a retry: a timer set before is left as it is.
        for timer in watchdog::timers(execution, cx.now()) {
            timers.set(&timer).await?;
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
