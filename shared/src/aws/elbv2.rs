//! [`TargetGroups`] on Elastic Load Balancing v2 (`DescribeTargetGroups`,
//! `DescribeTargetHealth`).
//!
//! `DescribeTargetGroups` with `TargetGroupArns` answers `TargetGroups[]` (`TargetGroupName`,
//! `Protocol`, `Port`, `TargetType`, `HealthCheckProtocol`, `HealthCheckPort`,
//! `HealthCheckPath`, `LoadBalancerArns`); `DescribeTargetHealth` with `TargetGroupArn` answers
//! `TargetHealthDescriptions[]` (`Target.Id`, `.Port`, `.AvailabilityZone`,
//! `TargetHealth.State`, `.Reason`, `.Description`) for every registered target, in one answer
//! (no paging). A target group that does not exist is `TargetGroupNotFound`.

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::Client;

use crate::aws::error::from_sdk_error;
use crate::inspect::{target_group_name, TargetGroupFacts, TargetHealth};
use crate::ports::{PortError, PortErrorKind, TargetGroups};

/// Elastic Load Balancing in one region.
#[derive(Debug, Clone)]
pub struct LoadBalancing {
    client: Client,
}

impl LoadBalancing {
    pub fn new(client: Client) -> Self {
        LoadBalancing { client }
    }
}

#[async_trait]
impl TargetGroups for LoadBalancing {
    async fn target_group(&self, arn: &str) -> Result<TargetGroupFacts, PortError> {
        const OP: &str = "DescribeTargetGroups";
        let output = self
            .client
            .describe_target_groups()
            .target_group_arns(arn)
            .send()
            .await
            .map_err(|e| from_sdk_error(OP, &e))?;
        let group = output.target_groups().first().ok_or_else(|| {
            PortError::new(OP, PortErrorKind::NotFound, format!("{arn} is not listed"))
        })?;
        let health_check = group.health_check_protocol().map(|p| {
            let mut text = p.as_str().to_string();
            if let Some(path) = group.health_check_path() {
                text.push_str(&format!(" {path}"));
            }
            match group.health_check_port() {
                Some("traffic-port") | None => {}
                Some(port) => text.push_str(&format!(" on port {port}")),
            }
            text
        });
        Ok(TargetGroupFacts {
            arn: arn.to_string(),
            name: group
                .target_group_name()
                .or_else(|| target_group_name(arn))
                .unwrap_or(arn)
                .to_string(),
            protocol: group.protocol().map(|p| p.as_str().to_string()),
            port: group.port(),
            target_type: group.target_type().map(|t| t.as_str().to_string()),
            health_check,
            load_balancers: group.load_balancer_arns().to_vec(),
            targets: Vec::new(),
        })
    }

    async fn target_health(&self, arn: &str) -> Result<Vec<TargetHealth>, PortError> {
        let output = self
            .client
            .describe_target_health()
            .target_group_arn(arn)
            .send()
            .await
            .map_err(|e| from_sdk_error("DescribeTargetHealth", &e))?;
        Ok(output
            .target_health_descriptions()
            .iter()
            .filter_map(|d| {
                let target = d.target()?;
                let health = d.target_health();
                Some(TargetHealth {
                    id: target.id()?.to_string(),
                    port: target.port(),
                    zone: target.availability_zone().map(str::to_string),
                    state: health
                        .and_then(|h| h.state())
                        .map_or("unknown", |s| s.as_str())
                        .to_string(),
                    reason: health
                        .and_then(|h| h.reason())
                        .map(|r| r.as_str().to_string()),
                    description: health.and_then(|h| h.description()).map(str::to_string),
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::testkit::*;
    use aws_sdk_elasticloadbalancingv2::operation::describe_target_groups::{
        DescribeTargetGroupsError, DescribeTargetGroupsOutput,
    };
    use aws_sdk_elasticloadbalancingv2::operation::describe_target_health::DescribeTargetHealthOutput;
    use aws_sdk_elasticloadbalancingv2::types::{
        ProtocolEnum, TargetDescription, TargetGroup, TargetHealth as Health,
        TargetHealthDescription, TargetHealthReasonEnum, TargetHealthStateEnum, TargetTypeEnum,
    };
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};

    const ARN: &str =
        "arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/web-tg/6d0ecf831eec9f09";

    fn elb(rules: &[&Rule]) -> LoadBalancing {
        let client = mock_client!(
            aws_sdk_elasticloadbalancingv2,
            RuleMode::Sequential,
            rules,
            |b| b.retry_config(fast_retries(1))
        );
        LoadBalancing::new(client)
    }

    #[tokio::test]
    async fn the_group_and_each_targets_health_with_its_reason_are_read() {
        let groups = mock!(Client::describe_target_groups)
            .match_requests(|r| r.target_group_arns() == [ARN.to_string()])
            .then_output(|| {
                DescribeTargetGroupsOutput::builder()
                    .target_groups(
                        TargetGroup::builder()
                            .target_group_arn(ARN)
                            .target_group_name("web-tg")
                            .protocol(ProtocolEnum::Http)
                            .port(80)
                            .target_type(TargetTypeEnum::Instance)
                            .health_check_protocol(ProtocolEnum::Http)
                            .health_check_path("/health")
                            .health_check_port("traffic-port")
                            .build(),
                    )
                    .build()
            });
        let health = mock!(Client::describe_target_health)
            .match_requests(|r| r.target_group_arn() == Some(ARN))
            .then_output(|| {
                let target = |id: &str, state, reason: Option<TargetHealthReasonEnum>| {
                    TargetHealthDescription::builder()
                        .target(TargetDescription::builder().id(id).port(80).build())
                        .target_health(
                            Health::builder()
                                .state(state)
                                .set_reason(reason)
                                .description("Health checks failed with these codes: [502]")
                                .build(),
                        )
                        .build()
                };
                DescribeTargetHealthOutput::builder()
                    .target_health_descriptions(target(
                        "i-0aaa",
                        TargetHealthStateEnum::Healthy,
                        None,
                    ))
                    .target_health_descriptions(target(
                        "i-0bbb",
                        TargetHealthStateEnum::Unhealthy,
                        Some(TargetHealthReasonEnum::ResponseCodeMismatch),
                    ))
                    .build()
            });
        let elb = elb(&[&groups, &health]);
        let mut group = must(elb.target_group(ARN).await);
        assert!(group.targets.is_empty());
        group.targets = must(elb.target_health(ARN).await);
        assert_eq!(group.health_check.as_deref(), Some("HTTP /health"));
        assert_eq!(group.healthy(), 1);
        assert_eq!(
            group.targets[1].line(),
            "i-0bbb:80 unhealthy (Target.ResponseCodeMismatch: Health checks failed with these codes: [502])"
        );
        assert_eq!(
            group.line(),
            "Target group web-tg (HTTP:80, instance targets, health check HTTP /health): 1 of 2 targets healthy"
        );
    }

    #[tokio::test]
    async fn a_missing_group_is_not_found() {
        let rule = mock!(Client::describe_target_groups).then_error(|| {
            DescribeTargetGroupsError::generic(meta(
                "TargetGroupNotFound",
                "One or more target groups not found",
            ))
        });
        let err = must_fail(elb(&[&rule]).target_group(ARN).await);
        assert_eq!(err.kind, PortErrorKind::NotFound);
    }
}
