//! The re-check timers of held signals: on `Signal Held` (a window, a silence or an inhibition
//! held a firing signal), escalate sets a one-time timer at the hold's end that invokes `triage`
//! (`RECHECK_TARGET_ARN`) with `{"recheck": {"subject", "at"}}`. Named by subject and time, so a
//! re-delivered event sets it once; triage decides at that time whether the signal still fires.

use serde_json::json;

use super::{Escalate, EscalateAction, EscalateAnswer, EscalateError};
use crate::domain::LifecycleDetail;
use crate::handlers::triage::RecheckInput;
use crate::ports::Timer;
use crate::rules::quiet::utc_text;
use crate::shell::{Invocation, StageError};

impl Escalate {
    pub(super) async fn held(
        &self,
        detail: &LifecycleDetail,
        _cx: &Invocation<'_>,
    ) -> Result<EscalateAnswer, EscalateError> {
        let id = &detail.incident.id;
        let Some(hold) = &detail.hold else {
            return Err(StageError::MalformedEvent(
                "responder bus `Signal Held` event: detail.hold is missing".into(),
            )
            .into());
        };
        let Some(timers) = &self.rechecks else {
            return Ok(EscalateAnswer::new(
                EscalateAction::Ignored,
                id,
                "No re-check timers here (RECHECK_TARGET_ARN is not set): the held signal waits for its next event.",
            ));
        };
        let input = RecheckInput {
            subject: hold.subject.clone(),
            at: hold.recheck_at,
        };
        let timer = Timer {
            name: input.timer_name(),
            at: hold.recheck_at,
            input: json!({ "recheck": input }).to_string(),
        };
        let set = timers.set(&timer).await?;
        let mut answer = EscalateAnswer::new(
            EscalateAction::Scheduled,
            id,
            format!(
                "{} is held ({} {}): triage looks at it again at {}{}.",
                hold.subject,
                hold.kind.as_str(),
                hold.by,
                utc_text(hold.recheck_at),
                if set {
                    ""
                } else {
                    " (the timer was already set)"
                }
            ),
        );
        // A held signal that would open an incident has none yet.
        answer.incident = answer.incident.filter(|i| !i.is_empty());
        Ok(answer)
    }
}
