//! [`Instances`] on the EC2 calls an instance diagnosis and its verification read:
//!
//! - `instance` → `DescribeInstances` for the one id (state, its reason, type, zone, subnet,
//!   launch time, platform, tags);
//! - `instance_health` → `DescribeInstanceStatus` for the one id with `IncludeAllInstances`
//!   (a stopped instance reports `not-applicable` checks rather than nothing): the system,
//!   instance and attached-EBS checks with when their reachability check started failing, and
//!   the scheduled events;
//! - `console_output` → `GetConsoleOutput` (the buffered output EC2 keeps, base64-decoded;
//!   `Latest` is left out: only Nitro instances serve it).
//!
//! One id per call: none of these pages. Errors as in `ec2`: `InvalidInstanceID.NotFound` →
//! `NotFound`, `InvalidInstanceID.Malformed` → `Invalid`, `UnauthorizedOperation` →
//! `AccessDenied`, `RequestLimitExceeded` → `Throttled`.

use async_trait::async_trait;
use aws_sdk_ec2::types::{InstanceStatusSummary, StatusName};

use super::{not_found, tags, Ec2Inventory};
use crate::aws::convert::to_chrono;
use crate::aws::error::from_sdk_error;
use crate::diagnosis::{Instance, InstanceHealth, ScheduledEvent, StatusCheck};
use crate::ports::{Instances, PortError, PortErrorKind};

/// The longest console output kept (EC2 keeps the last 64 KB).
const CONSOLE_MAX: usize = 64 * 1024;

fn check(summary: Option<&InstanceStatusSummary>) -> StatusCheck {
    let Some(summary) = summary else {
        return StatusCheck::default();
    };
    StatusCheck {
        status: summary
            .status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        impaired_since: summary
            .details()
            .iter()
            .filter(|d| d.name() == Some(&StatusName::Reachability))
            .find_map(|d| d.impaired_since().and_then(to_chrono)),
    }
}

fn refuse_blank(operation: &str, id: &str) -> Result<(), PortError> {
    if id.trim().is_empty() {
        return Err(PortError::new(
            operation,
            PortErrorKind::Invalid,
            "an empty instance id was given",
        ));
    }
    Ok(())
}

#[async_trait]
impl Instances for Ec2Inventory {
    async fn instance(&self, id: &str) -> Result<Instance, PortError> {
        const OP: &str = "DescribeInstances";
        refuse_blank(OP, id)?;
        let output = self
            .client
            .describe_instances()
            .instance_ids(id.trim())
            .send()
            .await
            .map_err(|e| from_sdk_error(OP, &e))?;
        let found = output
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .find(|i| i.instance_id() == Some(id.trim()))
            .ok_or_else(|| not_found(OP, "instance", id))?;
        Ok(Instance {
            id: id.trim().to_string(),
            state: found
                .state()
                .and_then(|s| s.name())
                .map(|n| n.as_str().to_string())
                .unwrap_or_default(),
            state_reason: found
                .state_reason()
                .and_then(|r| r.message())
                .filter(|m| !m.trim().is_empty())
                .map(str::to_string),
            instance_type: found.instance_type().map(|t| t.as_str().to_string()),
            availability_zone: found
                .placement()
                .and_then(|p| p.availability_zone())
                .map(str::to_string),
            subnet_id: found.subnet_id().map(str::to_string),
            launch_time: found.launch_time().and_then(to_chrono),
            platform: found
                .platform_details()
                .filter(|p| !p.is_empty())
                .map(str::to_string),
            tags: tags(found.tags()),
        })
    }

    async fn instance_health(&self, id: &str) -> Result<Option<InstanceHealth>, PortError> {
        const OP: &str = "DescribeInstanceStatus";
        refuse_blank(OP, id)?;
        let output = self
            .client
            .describe_instance_status()
            .instance_ids(id.trim())
            .include_all_instances(true)
            .send()
            .await
            .map_err(|e| from_sdk_error(OP, &e))?;
        let Some(status) = output
            .instance_statuses()
            .iter()
            .find(|s| s.instance_id() == Some(id.trim()))
        else {
            return Ok(None);
        };
        Ok(Some(InstanceHealth {
            system: check(status.system_status()),
            instance: check(status.instance_status()),
            ebs: status.attached_ebs_status().map(|ebs| StatusCheck {
                status: ebs
                    .status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                impaired_since: ebs
                    .details()
                    .iter()
                    .find_map(|d| d.impaired_since().and_then(to_chrono)),
            }),
            events: status
                .events()
                .iter()
                .map(|e| ScheduledEvent {
                    code: e.code().map(|c| c.as_str().to_string()).unwrap_or_default(),
                    description: e.description().unwrap_or_default().to_string(),
                    not_before: e.not_before().and_then(to_chrono),
                    not_after: e.not_after().and_then(to_chrono),
                })
                .collect(),
        }))
    }

    async fn console_output(&self, id: &str) -> Result<Option<String>, PortError> {
        const OP: &str = "GetConsoleOutput";
        refuse_blank(OP, id)?;
        let output = self
            .client
            .get_console_output()
            .instance_id(id.trim())
            .send()
            .await
            .map_err(|e| from_sdk_error(OP, &e))?;
        let Some(encoded) = output.output().filter(|o| !o.trim().is_empty()) else {
            return Ok(None);
        };
        let bytes = aws_smithy_types::base64::decode(encoded.trim()).map_err(|e| {
            PortError::new(
                OP,
                PortErrorKind::Other,
                format!("the console output is not base64: {e}"),
            )
        })?;
        let tail = &bytes[bytes.len().saturating_sub(CONSOLE_MAX)..];
        Ok(Some(String::from_utf8_lossy(tail).into_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::testkit::*;
    use aws_sdk_ec2::operation::describe_instance_status::{
        DescribeInstanceStatusError, DescribeInstanceStatusInput, DescribeInstanceStatusOutput,
    };
    use aws_sdk_ec2::operation::describe_instances::{
        DescribeInstancesError, DescribeInstancesInput, DescribeInstancesOutput,
    };
    use aws_sdk_ec2::operation::get_console_output::GetConsoleOutputOutput;
    use aws_sdk_ec2::types::{
        EventCode, Instance as SdkInstance, InstanceState, InstanceStateName, InstanceStatus,
        InstanceStatusDetails, InstanceStatusEvent, InstanceType, Placement, Reservation,
        StatusType, SummaryStatus, Tag,
    };
    use aws_sdk_ec2::Client;
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
    use chrono::{DateTime, Utc};

    const ID: &str = "i-0123456789abcdef0";

    fn ec2(rules: &[&Rule], attempts: u32) -> Ec2Inventory {
        let client = mock_client!(aws_sdk_ec2, RuleMode::Sequential, rules, |b| b
            .retry_config(fast_retries(attempts)));
        Ec2Inventory::new(client)
    }

    fn smithy(time: DateTime<Utc>) -> aws_smithy_types::DateTime {
        aws_smithy_types::DateTime::from_secs(time.timestamp())
    }

    #[tokio::test]
    async fn instance_is_described_by_its_id() {
        let seen = Captured::<DescribeInstancesInput>::new();
        let s = seen.clone();
        let rule = mock!(Client::describe_instances)
            .match_requests(move |r| s.push(r.clone()))
            .then_output(|| {
                DescribeInstancesOutput::builder()
                    .reservations(
                        Reservation::builder()
                            .instances(
                                SdkInstance::builder()
                                    .instance_id(ID)
                                    .state(
                                        InstanceState::builder()
                                            .name(InstanceStateName::Running)
                                            .build(),
                                    )
                                    .instance_type(InstanceType::M5Large)
                                    .placement(
                                        Placement::builder()
                                            .availability_zone("eu-west-1a")
                                            .build(),
                                    )
                                    .subnet_id("subnet-0abc")
                                    .launch_time(smithy(at(2026, 12, 1, 8, 0, 0)))
                                    .platform_details("Linux/UNIX")
                                    .tags(Tag::builder().key("Name").value("web-1").build())
                                    .build(),
                            )
                            .build(),
                    )
                    .build()
            });
        let instance = must(ec2(&[&rule], 1).instance(ID).await);
        assert_eq!(seen.only().instance_ids(), [ID.to_string()]);
        assert_eq!(instance.state, "running");
        assert_eq!(instance.instance_type.as_deref(), Some("m5.large"));
        assert_eq!(instance.availability_zone.as_deref(), Some("eu-west-1a"));
        assert_eq!(instance.subnet_id.as_deref(), Some("subnet-0abc"));
        assert_eq!(instance.launch_time, Some(at(2026, 12, 1, 8, 0, 0)));
        assert_eq!(instance.name(), Some("web-1"));
    }

    #[tokio::test]
    async fn a_missing_instance_is_not_found_and_codes_map_to_kinds() {
        let empty = mock!(Client::describe_instances)
            .then_output(|| DescribeInstancesOutput::builder().build());
        let err = must_fail(ec2(&[&empty], 1).instance(ID).await);
        assert_eq!(err.kind, PortErrorKind::NotFound);
        for (code, kind) in [
            ("InvalidInstanceID.NotFound", PortErrorKind::NotFound),
            ("InvalidInstanceID.Malformed", PortErrorKind::Invalid),
            ("UnauthorizedOperation", PortErrorKind::AccessDenied),
            ("RequestLimitExceeded", PortErrorKind::Throttled),
        ] {
            let rule = mock!(Client::describe_instances)
                .then_error(move || DescribeInstancesError::generic(meta(code, "no")));
            let err = must_fail(ec2(&[&rule], 1).instance(ID).await);
            assert_eq!(
                (err.kind, err.operation.as_str()),
                (kind, "DescribeInstances")
            );
        }
        let err = must_fail(ec2(&[], 1).instance(" ").await);
        assert_eq!(err.kind, PortErrorKind::Invalid, "no call for a blank id");
    }

    #[tokio::test]
    async fn health_includes_stopped_instances_and_reads_checks_and_events() {
        let seen = Captured::<DescribeInstanceStatusInput>::new();
        let s = seen.clone();
        let rule = mock!(Client::describe_instance_status)
            .match_requests(move |r| s.push(r.clone()))
            .then_output(|| {
                let summary = |status: SummaryStatus, since: Option<DateTime<Utc>>| {
                    InstanceStatusSummary::builder()
                        .status(status)
                        .details(
                            InstanceStatusDetails::builder()
                                .name(StatusName::Reachability)
                                .status(if since.is_some() {
                                    StatusType::Failed
                                } else {
                                    StatusType::Passed
                                })
                                .set_impaired_since(since.map(smithy))
                                .build(),
                        )
                        .build()
                };
                DescribeInstanceStatusOutput::builder()
                    .instance_statuses(
                        InstanceStatus::builder()
                            .instance_id(ID)
                            .system_status(summary(
                                SummaryStatus::Impaired,
                                Some(at(2026, 12, 6, 2, 10, 0)),
                            ))
                            .instance_status(summary(SummaryStatus::Ok, None))
                            .events(
                                InstanceStatusEvent::builder()
                                    .code(EventCode::InstanceRetirement)
                                    .description("The instance is running on degraded hardware")
                                    .not_before(smithy(at(2026, 12, 20, 0, 0, 0)))
                                    .build(),
                            )
                            .build(),
                    )
                    .build()
            });
        let health =
            must(ec2(&[&rule], 1).instance_health(ID).await).unwrap_or_else(|| panic!("no health"));
        let input = seen.only();
        assert_eq!(input.instance_ids(), [ID.to_string()]);
        assert_eq!(input.include_all_instances(), Some(true));
        assert!(health.system.is_impaired());
        assert_eq!(
            health.system.impaired_since,
            Some(at(2026, 12, 6, 2, 10, 0))
        );
        assert_eq!(health.instance.status, "ok");
        assert_eq!(health.instance.impaired_since, None);
        assert!(!health.is_ok());
        assert_eq!(health.events[0].code, "instance-retirement");
        assert_eq!(health.events[0].not_before, Some(at(2026, 12, 20, 0, 0, 0)));

        let none = mock!(Client::describe_instance_status)
            .then_output(|| DescribeInstanceStatusOutput::builder().build());
        assert_eq!(must(ec2(&[&none], 1).instance_health(ID).await), None);
        let denied = mock!(Client::describe_instance_status).then_error(|| {
            DescribeInstanceStatusError::generic(meta("UnauthorizedOperation", "no"))
        });
        let err = must_fail(ec2(&[&denied], 1).instance_health(ID).await);
        assert_eq!(err.kind, PortErrorKind::AccessDenied);
    }

    #[tokio::test]
    async fn console_output_is_decoded_and_empty_output_is_none() {
        let rule = mock!(Client::get_console_output).then_output(|| {
            GetConsoleOutputOutput::builder()
                .instance_id(ID)
                .output(aws_smithy_types::base64::encode(
                    "boot\nKernel panic - not syncing\n",
                ))
                .build()
        });
        assert_eq!(
            must(ec2(&[&rule], 1).console_output(ID).await).as_deref(),
            Some("boot\nKernel panic - not syncing\n")
        );
        let empty = mock!(Client::get_console_output)
            .then_output(|| GetConsoleOutputOutput::builder().instance_id(ID).build());
        assert_eq!(must(ec2(&[&empty], 1).console_output(ID).await), None);
    }
}
