//! [`Timers`] on EventBridge Scheduler: one-time `at(...)` schedules in the stack's schedule
//! group, each invoking the `escalate` function with its input through the scheduler role, and
//! deleted by Scheduler once they fired (`ActionAfterCompletion: DELETE`).
//!
//! - `CreateSchedule`: `Name` (deterministic, so a retried step sets one timer), `GroupName`,
//!   `ScheduleExpression` `at(yyyy-mm-ddThh:mm:ss)` with `ScheduleExpressionTimezone` `UTC`,
//!   `FlexibleTimeWindow` `OFF`, `Target` {`Arn`, `RoleArn`, `Input`, `RetryPolicy`}. A
//!   `ConflictException` (the name exists) means the timer is already set: `Ok(false)`. A time
//!   already past is moved to the next minute (Scheduler fires at one-minute precision and a
//!   past `at()` may be refused).
//! - `DeleteSchedule`: `ResourceNotFoundException` (fired and deleted, or cancelled) is `Ok`.
//!
//! Limits (Scheduler API reference): `Name` and `GroupName` 1–64 of `0-9A-Za-z-_.`, checked
//! before sending as `Invalid`.

use async_trait::async_trait;
use aws_sdk_scheduler::operation::create_schedule::CreateScheduleError;
use aws_sdk_scheduler::operation::delete_schedule::DeleteScheduleError;
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, FlexibleTimeWindow, FlexibleTimeWindowMode, RetryPolicy, Target,
};
use aws_sdk_scheduler::Client;
use chrono::{DateTime, Duration, Utc};

use super::error::from_sdk_error;
use crate::config::is_schedule_name;
use crate::ports::{PortError, PortErrorKind, Timer, Timers};

/// How long Scheduler keeps retrying an invocation that failed, and how many times.
const RETRY_AGE_SECS: i32 = 3_600;
const RETRY_ATTEMPTS: i32 = 20;

/// The timers of one schedule group, all invoking one function through one role.
#[derive(Debug, Clone)]
pub struct SchedulerTimers {
    client: Client,
    group: String,
    target_arn: String,
    role_arn: String,
}

impl SchedulerTimers {
    pub fn new(client: Client, group: String, target_arn: String, role_arn: String) -> Self {
        SchedulerTimers {
            client,
            group,
            target_arn,
            role_arn,
        }
    }
}

/// `at(yyyy-mm-ddThh:mm:ss)` in UTC, never earlier than the next whole minute after `now`.
pub fn at_expression(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let earliest = now + Duration::seconds(60);
    let when = if at < earliest { earliest } else { at };
    format!("at({})", when.format("%Y-%m-%dT%H:%M:%S"))
}

fn invalid(operation: &str, message: String) -> PortError {
    PortError::new(operation, PortErrorKind::Invalid, message)
}

#[async_trait]
impl Timers for SchedulerTimers {
    async fn set(&self, timer: &Timer) -> Result<bool, PortError> {
        const OP: &str = "CreateSchedule";
        if !is_schedule_name(&timer.name) {
            return Err(invalid(
                OP,
                format!("`{}` is not a schedule name", timer.name),
            ));
        }
        let build = |e: aws_sdk_scheduler::error::BuildError| invalid(OP, e.to_string());
        let target = Target::builder()
            .arn(&self.target_arn)
            .role_arn(&self.role_arn)
            .input(&timer.input)
            .retry_policy(
                RetryPolicy::builder()
                    .maximum_event_age_in_seconds(RETRY_AGE_SECS)
                    .maximum_retry_attempts(RETRY_ATTEMPTS)
                    .build(),
            )
            .build()
            .map_err(build)?;
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(build)?;
        let sent = self
            .client
            .create_schedule()
            .name(&timer.name)
            .group_name(&self.group)
            .schedule_expression(at_expression(timer.at, Utc::now()))
            .schedule_expression_timezone("UTC")
            .flexible_time_window(window)
            .action_after_completion(ActionAfterCompletion::Delete)
            .target(target)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(true),
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(CreateScheduleError::ConflictException(_))
                ) =>
            {
                Ok(false)
            }
            Err(err) => Err(from_sdk_error(OP, &err)),
        }
    }

    async fn cancel(&self, name: &str) -> Result<(), PortError> {
        const OP: &str = "DeleteSchedule";
        if !is_schedule_name(name) {
            return Err(invalid(OP, format!("`{name}` is not a schedule name")));
        }
        let sent = self
            .client
            .delete_schedule()
            .name(name)
            .group_name(&self.group)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(DeleteScheduleError::ResourceNotFoundException(_))
                ) =>
            {
                Ok(())
            }
            Err(err) => Err(from_sdk_error(OP, &err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::testkit::*;
    use aws_sdk_scheduler::operation::create_schedule::CreateScheduleOutput;
    use aws_sdk_scheduler::operation::delete_schedule::DeleteScheduleOutput;
    use aws_sdk_scheduler::types::error::{
        ConflictException, ResourceNotFoundException, ValidationException,
    };
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
    use chrono::TimeZone;

    const FUNCTION: &str = "arn:aws:lambda:eu-west-1:111122223333:function:responder-escalate";
    const ROLE: &str = "arn:aws:iam::111122223333:role/responder-scheduler";

    fn timers(rules: &[&Rule]) -> SchedulerTimers {
        let client = mock_client!(aws_sdk_scheduler, RuleMode::Sequential, rules, |b| b
            .retry_config(fast_retries(1)));
        SchedulerTimers::new(client, "responder".into(), FUNCTION.into(), ROLE.into())
    }

    fn timer(at: DateTime<Utc>) -> Timer {
        Timer {
            name: "esc-0123abcd-s1-r2".into(),
            at,
            input: r#"{"escalation_step":{}}"#.into(),
        }
    }

    #[tokio::test]
    async fn a_timer_is_a_one_time_schedule_deleted_after_it_fires() -> Result<(), PortError> {
        let at = Utc::now() + Duration::minutes(5);
        let rule = mock!(Client::create_schedule)
            .match_requests(move |r| {
                let target = r.target();
                r.name() == Some("esc-0123abcd-s1-r2")
                    && r.group_name() == Some("responder")
                    && r.schedule_expression()
                        == Some(format!("at({})", at.format("%Y-%m-%dT%H:%M:%S")).as_str())
                    && r.schedule_expression_timezone() == Some("UTC")
                    && r.action_after_completion() == Some(&ActionAfterCompletion::Delete)
                    && r.flexible_time_window().map(|w| w.mode())
                        == Some(&FlexibleTimeWindowMode::Off)
                    && target.map(|t| t.arn()) == Some(FUNCTION)
                    && target.map(|t| t.role_arn()) == Some(ROLE)
                    && target.and_then(|t| t.input()) == Some(r#"{"escalation_step":{}}"#)
            })
            .then_output(|| {
                CreateScheduleOutput::builder()
                    .schedule_arn("arn")
                    .build()
                    .unwrap()
            });
        assert!(timers(&[&rule]).set(&timer(at)).await?);
        Ok(())
    }

    #[tokio::test]
    async fn a_timer_set_before_is_left_and_a_gone_one_cancels_quietly() -> Result<(), PortError> {
        let conflict = mock!(Client::create_schedule).then_error(|| {
            CreateScheduleError::ConflictException(
                ConflictException::builder()
                    .message("Schedule esc already exists.")
                    .build()
                    .unwrap(),
            )
        });
        assert!(!timers(&[&conflict]).set(&timer(Utc::now())).await?);
        let gone = mock!(Client::delete_schedule).then_error(|| {
            DeleteScheduleError::ResourceNotFoundException(
                ResourceNotFoundException::builder()
                    .message("Schedule esc does not exist.")
                    .build()
                    .unwrap(),
            )
        });
        timers(&[&gone]).cancel("esc-0123abcd-s1-r2").await?;
        let deleted = mock!(Client::delete_schedule)
            .match_requests(|r| r.name() == Some("esc-x") && r.group_name() == Some("responder"))
            .then_output(|| DeleteScheduleOutput::builder().build());
        timers(&[&deleted]).cancel("esc-x").await?;
        Ok(())
    }

    #[tokio::test]
    async fn refusals_are_errors_and_bad_names_are_not_sent() {
        let refused = mock!(Client::create_schedule).then_error(|| {
            CreateScheduleError::ValidationException(
                ValidationException::builder()
                    .message("bad")
                    .build()
                    .unwrap(),
            )
        });
        let err = timers(&[&refused]).set(&timer(Utc::now())).await.err();
        assert_eq!(err.map(|e| e.operation), Some("CreateSchedule".to_string()));
        let mut bad = timer(Utc::now());
        bad.name = "has space".into();
        let err = timers(&[]).set(&bad).await.err();
        assert_eq!(err.map(|e| e.kind), Some(PortErrorKind::Invalid));
    }

    #[test]
    fn a_past_time_moves_to_the_next_minute() {
        let now = Utc.with_ymd_and_hms(2026, 12, 5, 3, 0, 0).unwrap();
        assert_eq!(
            at_expression(now - Duration::minutes(10), now),
            "at(2026-12-05T03:01:00)"
        );
        assert_eq!(
            at_expression(now + Duration::minutes(5), now),
            "at(2026-12-05T03:05:00)"
        );
    }
}
