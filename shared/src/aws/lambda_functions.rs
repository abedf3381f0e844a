//! [`Functions`] on AWS Lambda (`GetFunctionConfiguration`, `GetFunctionConcurrency`).
//!
//! `GetFunctionConfiguration` with `FunctionName` (and `Qualifier` for an alias or version)
//! answers `FunctionArn`, `Version`, `Runtime`, `MemorySize`, `Timeout`, `LastModified` (as
//! `2026-12-06T03:41:07.000+0000`), `State`, `StateReason`, `LastUpdateStatus` and
//! `LoggingConfig.LogGroup`; `GetFunctionConcurrency` answers `ReservedConcurrentExecutions`,
//! absent without reserved concurrency. Not `GetFunction`: its answer also carries a presigned
//! link to download the function's code, which a diagnosis has no business holding. A function
//! that does not exist is `ResourceNotFoundException`.

use async_trait::async_trait;
use aws_sdk_lambda::Client;
use chrono::{DateTime, Utc};

use crate::aws::error::from_sdk_error;
use crate::inspect::FunctionFacts;
use crate::ports::{Functions, PortError};

/// Lambda in one region.
#[derive(Debug, Clone)]
pub struct Lambda {
    client: Client,
}

impl Lambda {
    pub fn new(client: Client) -> Self {
        Lambda { client }
    }
}

/// Lambda's `LastModified` (`2026-12-06T03:41:07.000+0000`).
fn last_modified(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(text))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[async_trait]
impl Functions for Lambda {
    async fn function(
        &self,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<FunctionFacts, PortError> {
        let config = self
            .client
            .get_function_configuration()
            .function_name(name)
            .set_qualifier(qualifier.map(str::to_string))
            .send()
            .await
            .map_err(|e| from_sdk_error("GetFunctionConfiguration", &e))?;
        let name = config.function_name().unwrap_or(name).to_string();
        let log_group = config
            .logging_config()
            .and_then(|l| l.log_group())
            .filter(|g| !g.is_empty())
            .map_or_else(|| format!("/aws/lambda/{name}"), str::to_string);
        let last_update = config
            .last_update_status()
            .map(|s| s.as_str())
            .filter(|s| *s != "Successful")
            .map(|s| match config.last_update_status_reason() {
                Some(why) if !why.is_empty() => format!("{s} ({why})"),
                _ => s.to_string(),
            });
        Ok(FunctionFacts {
            arn: config.function_arn().unwrap_or_default().to_string(),
            version: config.version().unwrap_or("$LATEST").to_string(),
            runtime: config.runtime().map(|r| r.as_str().to_string()),
            memory_mb: config.memory_size(),
            timeout_s: config.timeout(),
            last_modified: config.last_modified().and_then(last_modified),
            state: config.state().map(|s| s.as_str().to_string()),
            state_reason: config.state_reason().map(str::to_string),
            last_update,
            reserved_concurrency: None,
            log_group,
            errors: Vec::new(),
            name,
        })
    }

    async fn reserved_concurrency(&self, name: &str) -> Result<Option<i32>, PortError> {
        let output = self
            .client
            .get_function_concurrency()
            .function_name(name)
            .send()
            .await
            .map_err(|e| from_sdk_error("GetFunctionConcurrency", &e))?;
        Ok(output.reserved_concurrent_executions())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::testkit::*;
    use crate::ports::PortErrorKind;
    use aws_sdk_lambda::operation::get_function_concurrency::GetFunctionConcurrencyOutput;
    use aws_sdk_lambda::operation::get_function_configuration::{
        GetFunctionConfigurationError, GetFunctionConfigurationOutput,
    };
    use aws_sdk_lambda::types::{LastUpdateStatus, LoggingConfig, Runtime, State};
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};

    fn lambda(rules: &[&Rule]) -> Lambda {
        let client = mock_client!(aws_sdk_lambda, RuleMode::Sequential, rules, |b| b
            .retry_config(fast_retries(1)));
        Lambda::new(client)
    }

    #[tokio::test]
    async fn the_configuration_concurrency_and_log_group_are_read() {
        let config = mock!(Client::get_function_configuration)
            .match_requests(|r| {
                r.function_name() == Some("orders-api") && r.qualifier() == Some("live")
            })
            .then_output(|| {
                GetFunctionConfigurationOutput::builder()
                    .function_name("orders-api")
                    .function_arn("arn:aws:lambda:eu-west-1:111122223333:function:orders-api:7")
                    .version("7")
                    .runtime(Runtime::Python312)
                    .memory_size(512)
                    .timeout(30)
                    .last_modified("2026-12-06T03:41:07.000+0000")
                    .state(State::Active)
                    .last_update_status(LastUpdateStatus::Failed)
                    .last_update_status_reason("EniLimitExceeded")
                    .logging_config(LoggingConfig::builder().log_group("/orders").build())
                    .build()
            });
        let concurrency = mock!(Client::get_function_concurrency)
            .match_requests(|r| r.function_name() == Some("orders-api"))
            .then_output(|| {
                GetFunctionConcurrencyOutput::builder()
                    .reserved_concurrent_executions(10)
                    .build()
            });
        let lambda = lambda(&[&config, &concurrency]);
        let facts = must(lambda.function("orders-api", Some("live")).await);
        assert_eq!(facts.version, "7");
        assert_eq!(facts.runtime.as_deref(), Some("python3.12"));
        assert_eq!(facts.last_modified, Some(at(2026, 12, 6, 3, 41, 7)));
        assert_eq!(
            facts.last_update.as_deref(),
            Some("Failed (EniLimitExceeded)")
        );
        assert_eq!(facts.log_group, "/orders");
        assert_eq!(
            must(lambda.reserved_concurrency("orders-api").await),
            Some(10)
        );
    }

    #[tokio::test]
    async fn a_missing_function_is_not_found_and_its_logs_default() {
        let rule = mock!(Client::get_function_configuration).then_error(|| {
            GetFunctionConfigurationError::generic(meta(
                "ResourceNotFoundException",
                "Function not found",
            ))
        });
        let err = must_fail(lambda(&[&rule]).function("gone", None).await);
        assert_eq!(err.kind, PortErrorKind::NotFound);
        let rule = mock!(Client::get_function_configuration).then_output(|| {
            GetFunctionConfigurationOutput::builder()
                .function_name("f")
                .build()
        });
        let facts = must(lambda(&[&rule]).function("f", None).await);
        assert_eq!(facts.log_group, "/aws/lambda/f");
        assert_eq!(facts.version, "$LATEST");
        let rule = mock!(Client::get_function_concurrency)
            .then_output(|| GetFunctionConcurrencyOutput::builder().build());
        assert_eq!(must(lambda(&[&rule]).reserved_concurrency("f").await), None);
    }
}
