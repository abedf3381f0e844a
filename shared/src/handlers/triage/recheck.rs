//! The re-check of a held signal (**contract**: `{"recheck": {"subject", "at"}}`, the input of
//! the timer escalate sets on `Signal Held`).
//!
//! When its hold ends, a held signal that still fires is handled as if it arrived then: it
//! opens its incident, joins one, or is held again (another window, the dependency's incident
//! still open). Whether it still fires: a recovery meanwhile released the hold; for an alarm,
//! `DescribeAlarms` must also say `ALARM` (a recovery whose event was lost releases it too). An
//! alarm this account cannot read (another account's, or no permission) is acted on: better an
//! incident than a signal lost. The timer's `at` is when the hold ends; triage reads the time as
//! at least that (never past the hold's own end), so a timer that fires early is not wasted.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Action, Triage, TriageAnswer, TriageError};
use crate::arn::Arn;
use crate::domain::{HoldKind, SignalKind};
use crate::ports::PortErrorKind;
use crate::quiet::{self, Hold, HOLD_KEEP};
use crate::rules::quiet::utc_text;
use crate::shell::{Invocation, NotBefore, StageError};
use crate::sources::{self, Parsed};

/// A timer's re-check of the signal held for `subject`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecheckInput {
    /// The held alarm's ARN or finding's id.
    pub subject: String,
    /// When the hold was to end.
    pub at: chrono::DateTime<chrono::Utc>,
}

impl RecheckInput {
    pub(super) fn parse(event: &Value) -> Result<Option<RecheckInput>, StageError> {
        let Some(body) = event.get("recheck") else {
            return Ok(None);
        };
        let input: RecheckInput = serde_json::from_value(body.clone()).map_err(|e| {
            StageError::MalformedEvent(format!(
                "a re-check is {{\"recheck\": {{\"subject\": <alarm ARN or finding id>, \"at\": <RFC 3339>}}}}: {e}"
            ))
        })?;
        if input.subject.trim().is_empty() || input.subject.len() > 2048 {
            return Err(StageError::MalformedEvent(
                "a re-check's subject is an alarm ARN or a finding id".into(),
            ));
        }
        Ok(Some(input))
    }

    /// The timer that brings it (**contract**): `hold-<hash of the subject>-<epoch seconds>`.
    pub fn timer_name(&self) -> String {
        format!(
            "hold-{}-{}",
            crate::domain::stable_hash(&[&self.subject], 16),
            self.at.timestamp()
        )
    }
}

impl Triage {
    pub(super) async fn recheck(
        &self,
        input: RecheckInput,
        cx: &Invocation<'_>,
    ) -> Result<TriageAnswer, TriageError> {
        let q = self.quiet()?;
        let key = quiet::hold_key(&input.subject);
        let Some(hold) = quiet::read::<Hold>(q.references.as_ref(), &key, cx.now()).await? else {
            return Ok(TriageAnswer::ignored(format!(
                "Nothing is held for {}: nothing to look at again.",
                input.subject
            )));
        };
        if let Some(why) = &hold.released {
            return Ok(TriageAnswer::ignored(format!(
                "{} is no longer held ({why}): nothing to act on.",
                hold.subject
            )));
        }
        let clock = NotBefore {
            clock: cx.clock(),
            at: input.at.min(hold.recheck_at),
        };
        let cx = cx.with_clock(&clock);
        let now = cx.now();
        if hold.recheck_at > now {
            return Ok(TriageAnswer::ignored(format!(
                "{} is held until {} (its hold was renewed): looked at again then.",
                hold.subject,
                utc_text(hold.recheck_at)
            )));
        }
        let event: Value =
            serde_json::from_str(&hold.event).map_err(|e| StageError::Inconsistent {
                what: format!("hold of {}", hold.subject),
                problem: format!("its event does not read: {e}"),
            })?;
        let signal = match sources::parse(&event).map_err(StageError::from)? {
            Parsed::Signals(signals) => signals.into_iter().find(|s| s.subject() == hold.subject),
            Parsed::NotHandled(_) => None,
        }
        .ok_or_else(|| StageError::Inconsistent {
            what: format!("hold of {}", hold.subject),
            problem: "its event carries no signal of that subject".into(),
        })?;
        let mut note = String::new();
        if matches!(
            signal.kind,
            SignalKind::MetricAlarm | SignalKind::CompositeAlarm
        ) {
            if let Some(done) = self.alarm_cleared(&hold, &mut note, &cx).await? {
                return Ok(done);
            }
        }
        let mut answer = self.signal(&signal, &hold.event, &cx).await?;
        // Held again (a newer hold row) stays; else this hold is done.
        let current = quiet::read::<Hold>(q.references.as_ref(), &key, now).await?;
        if current.as_ref().is_some_and(|c| c.held_at == hold.held_at) {
            let mut done = hold.clone();
            done.released = Some(format!(
                "re-checked at {}: {}",
                utc_text(now),
                answer.action.as_str()
            ));
            quiet::write(q.references.as_ref(), &key, &done, now + HOLD_KEEP).await?;
        }
        answer.reason = format!(
            "Re-checked {} {}{note}: {}",
            hold.subject,
            ended(&hold),
            answer.reason
        );
        Ok(answer)
    }

    /// `Some(answer)` when the held alarm no longer fires (the hold is released); `None` to act,
    /// with a note when the alarm could not be read.
    async fn alarm_cleared(
        &self,
        hold: &Hold,
        note: &mut String,
        cx: &Invocation<'_>,
    ) -> Result<Option<TriageAnswer>, TriageError> {
        let q = self.quiet()?;
        let Some(arn) = Arn::parse(&hold.subject) else {
            return Ok(None);
        };
        let Some(name) = arn.resource.strip_prefix("alarm:") else {
            return Ok(None);
        };
        // DescribeAlarms reads this account's alarms in this region: another's alarm of the same
        // name says nothing about this one.
        if let Some((account, region)) = cx.home() {
            if (arn.account, arn.region) != (account, region) {
                *note = format!(
                    " (the alarm is in {} {}, not where triage runs; acting on the held signal)",
                    arn.account, arn.region
                );
                return Ok(None);
            }
        }
        let state = match q.alarms.alarm_state(name).await {
            Ok(Some(state)) => state,
            Ok(None) => {
                *note = " (DescribeAlarms does not know the alarm here; acting on the held signal)"
                    .into();
                return Ok(None);
            }
            Err(e) if e.kind == PortErrorKind::AccessDenied => {
                *note = format!(" (DescribeAlarms: {e}; acting on the held signal)");
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        // Only `OK` clears it: `INSUFFICIENT_DATA` (missing data) never closes what fired.
        if state.value != "OK" {
            if state.value != "ALARM" {
                *note = format!(
                    " (DescribeAlarms says {}; acting on the held signal)",
                    state.value
                );
            }
            return Ok(None);
        }
        let why = format!(
            "DescribeAlarms says {} at the re-check ({})",
            state.value,
            utc_text(cx.now())
        );
        let mut released = hold.clone();
        released.released = Some(why.clone());
        quiet::write(
            q.references.as_ref(),
            &quiet::hold_key(&hold.subject),
            &released,
            cx.now() + HOLD_KEEP,
        )
        .await?;
        Ok(Some(TriageAnswer {
            action: Action::Ignored,
            rule: Some(hold.rule.clone()),
            impact: None,
            dedupe_key: Some(hold.dedupe_key.clone()),
            incident: None,
            reason: format!(
                "Re-checked {} {}: it no longer fires ({why}); nothing opens.",
                hold.subject,
                ended(hold)
            ),
            signals: Vec::new(),
        }))
    }
}

/// What ended the hold, in words.
fn ended(hold: &Hold) -> String {
    match hold.kind {
        HoldKind::Window => format!("after maintenance window {} ended", hold.by),
        HoldKind::Silence => format!("after the silence ({}) ended", hold.by),
        HoldKind::Downstream => format!("as downstream (inhibition {})", hold.by),
    }
}
