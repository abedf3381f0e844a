//! [`Stacks`] on CloudFormation (`DescribeStacks`).
//!
//! `DescribeStacks` with a `StackName` answers `Stacks[]` (`StackName`, `StackId`,
//! `StackStatus`, `StackStatusReason`, `CreationTime`, `LastUpdatedTime`). A stack that does not
//! exist is a `ValidationError` ("Stack with id … does not exist"), the one case here where a
//! code alone cannot tell: that message becomes `NotFound`.

use async_trait::async_trait;
use aws_sdk_cloudformation::Client;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::convert::to_chrono;
use crate::aws::error::from_sdk_error;
use crate::changes::StackFacts;
use crate::ports::{PortError, PortErrorKind, Stacks};

/// CloudFormation in one region.
#[derive(Debug, Clone)]
pub struct CloudFormation {
    client: Client,
}

impl CloudFormation {
    pub fn new(client: Client) -> Self {
        CloudFormation { client }
    }
}

#[async_trait]
impl Stacks for CloudFormation {
    async fn stack(&self, name: &str) -> Result<StackFacts, PortError> {
        const OP: &str = "DescribeStacks";
        let output = self
            .client
            .describe_stacks()
            .stack_name(name)
            .send()
            .await
            .map_err(|e| {
                let mut port = from_sdk_error(OP, &e);
                let gone = e.as_service_error().is_some_and(|s| {
                    s.code() == Some("ValidationError")
                        && s.message().is_some_and(|m| m.contains("does not exist"))
                });
                if gone {
                    port.kind = PortErrorKind::NotFound;
                }
                port
            })?;
        let not_found = || {
            PortError::new(
                OP,
                PortErrorKind::NotFound,
                format!("Stack with id {name} does not exist"),
            )
        };
        let stack = output.stacks().first().ok_or_else(not_found)?;
        let created = stack.creation_time().and_then(to_chrono).ok_or_else(|| {
            PortError::new(OP, PortErrorKind::Other, "the stack has no CreationTime")
        })?;
        Ok(StackFacts {
            name: stack.stack_name().unwrap_or(name).to_string(),
            id: stack.stack_id().unwrap_or_default().to_string(),
            status: stack
                .stack_status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            reason: stack.stack_status_reason().map(str::to_string),
            created,
            last_updated: stack.last_updated_time().and_then(to_chrono),
        })
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_cloudformation::operation::describe_stacks::{
        DescribeStacksError, DescribeStacksOutput,
    };
    use aws_sdk_cloudformation::types::{Stack, StackStatus};
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;

    #[tokio::test]
    async fn reads_the_stack_and_a_missing_one_is_not_found() {
        let found = mock!(Client::describe_stacks)
            .match_requests(|req| req.stack_name() == Some("partner-vpn"))
            .then_output(|| {
                DescribeStacksOutput::builder()
                    .stacks(
                        Stack::builder()
                            .stack_name("partner-vpn")
                            .stack_id(
                                "arn:aws:cloudformation:eu-west-1:111122223333:stack/partner-vpn/1",
                            )
                            .stack_status(StackStatus::UpdateComplete)
                            .creation_time(aws_smithy_types::DateTime::from_secs(1_700_000_000))
                            .last_updated_time(aws_smithy_types::DateTime::from_secs(1_700_000_600))
                            .build(),
                    )
                    .build()
            });
        let gone = mock!(Client::describe_stacks)
            .match_requests(|req| req.stack_name() == Some("gone"))
            .then_error(|| {
                DescribeStacksError::generic(
                    ErrorMetadata::builder()
                        .code("ValidationError")
                        .message("Stack with id gone does not exist")
                        .build(),
                )
            });
        let client = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, [&found, &gone]);
        let stacks = CloudFormation::new(client);
        let stack = stacks.stack("partner-vpn").await.unwrap();
        assert_eq!(stack.status, "UPDATE_COMPLETE");
        assert_eq!(stack.changed_at().timestamp(), 1_700_000_600);
        assert_eq!(
            stacks.stack("gone").await.err().map(|e| e.kind),
            Some(PortErrorKind::NotFound)
        );
    }
}
